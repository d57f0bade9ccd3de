"""The Winnow panel's handlers, called the way the App calls them (no browser)."""

import json

import pytest

import fiftyone as fo
import fiftyone.core.view as fov
import fiftyone.operators as foo
from fiftyone.operators.executor import ExecutionContext, Executor

import winnow
from winnow.plugin import embedding_map, findings
from winnow_fields import add_winnow_fields

URI = "@winnow/curation/winnow"


def call(ds, method, state=None, **params):
    """Runs one panel event; returns (ctx, {operator name: [params, ...]})."""
    panel = foo.get_operator(URI)
    ctx = ExecutionContext(
        request_params=dict(dataset_name=ds.name, params=dict(
            panel_id="p1", __method__=method, panel_state=dict(state or {}), event_args={},
            **params)),
        executor=Executor(),
        operator_uri=URI,
    )
    panel.execute(ctx)
    ops = {}
    for req in ctx.executor._requests:
        ops.setdefault(req.operator_uri, []).append(req.params)
    return ctx, ops


def shown_view(ds, ops):
    """The view the panel asked the App to show."""
    (params,) = ops["set_view"]
    return fov.DatasetView._build(ds, params["view"])


def output_text(ops):
    return json.dumps(ops["show_panel_output"][-1]["output"])


@pytest.fixture(scope="module")
def curated(demo_embedded):
    """The demo set with every Winnow step's outputs and a stored 2-D map."""
    ds = demo_embedded.clone()
    found = add_winnow_fields(ds)
    embedding_map.compute_map(ds, "embedding")
    yield ds, found
    ds.delete()


@pytest.fixture
def scratch(curated):
    """A clone of ``curated`` the test may change."""
    ds = curated[0].clone()
    yield ds, curated[1]
    ds.delete()


def test_panel_is_registered_with_its_uri():
    panel = foo.get_operator(URI)
    assert isinstance(panel, foo.Panel)
    assert panel.config.label == "Winnow" and panel.config.surfaces == "grid"


def test_without_winnow_results_every_section_says_what_to_run(make_dataset, photos):
    ds = make_dataset([fo.Sample(filepath=p) for p in photos.values()])
    ctx, ops = call(ds, "on_load")
    state = ctx.panel_state
    assert state["total"] == 4
    assert all(not f["computed"] and f["count"] == 0 for f in state["findings"])
    assert state["runs"] == [] and state["histograms"] == [] and state["review"] == []
    assert state["map"]["key"] is None and state["map"]["embeddings_field"] is None
    text = output_text(ops)
    for operator in ("find_outliers", "find_redundant", "find_representatives",
                     "find_label_issues", "compute_embeddings"):
        assert "not computed yet" in text and operator in text
    # Operators that are not installed are offered, but disabled.
    actions = {a["name"]: a for a in state["actions"]}
    assert actions["compute_embeddings"]["available"] is True
    assert all(a["available"] == _exists(a["uri"]) for a in state["actions"])


def _exists(uri):
    from fiftyone.operators.registry import operator_exists

    return operator_exists(uri)


def test_on_load_sends_counts_runs_plots_and_review(curated):
    ds, found = curated
    ctx, ops = call(ds, "on_load")
    state = ctx.panel_state
    tags = ds.count_values("tags")
    counts = {f["tag"]: f["count"] for f in state["findings"]}
    assert counts == {t: tags.get(t, 0) for t in counts}
    assert counts["outlier"] == len(found["outlier"]) > 0
    assert counts["label_issue"] == len(found["label_issue"]) > 0
    assert all(f["computed"] for f in state["findings"])
    assert [r["key"] for r in state["runs"]] == [r["key"] for r in winnow.list_runs(ds)]

    data = {}
    for params in ops["patch_panel_data"]:
        data.update(params["data"])
    assert {"hist_outlier_score", "hist_label_quality", "hist_medoid_distance", "map"} <= set(data)
    (bars,) = data["hist_outlier_score"]
    assert sum(bars["y"]) == len(ds.exists("outlier_score"))

    # Map: every point (306 < the sampling limit), coloured by status, redundant → kept links.
    traces = {t["name"]: t for t in data["map"]}
    assert set(traces["outlier"]["ids"]) == set(found["outlier"])
    shown = sum(len(t["ids"]) for t in data["map"] if "ids" in t)
    assert shown == len(ds) and state["map"]["sampled"] is False
    links = traces["redundant → kept"]
    shown_redundant = set(found["redundant"]) - set(found["outlier"])  # outlier colour wins
    assert links["x"].count(None) == len(shown_redundant) > 0
    assert set(traces["redundant"]["ids"]) == shown_redundant

    # Review: label issues worst first, with their suggestion.
    review = state["review"]
    assert 0 < len(review) <= 8
    qualities = [r["quality"] for r in review]
    assert qualities == sorted(qualities)
    assert review[0]["quality"] == round(min(ds.match_tags("label_issue").values(
        "label_quality")), 3)
    worst = ds[review[0]["id"]]
    assert "label_issue" in worst.tags
    assert review[0]["suggested"] == worst.suggested_label.label
    assert review[0]["given"] == worst.ground_truth.label != review[0]["suggested"]
    assert state["review_0"]["img"].startswith("/media?filepath=")

    # Redundant groups: the kept image with its copies.
    group = state["groups"][0]
    assert all(found["redundant_of"][c] == group["kept_id"] for c in group["copies"])
    assert "Show outliers" in output_text(ops)


def test_show_outliers_sets_the_grid_view(curated):
    ds, found = curated
    _, ops = call(ds, "show_finding", finding="outliers")
    view = shown_view(ds, ops)
    assert set(view.values("id")) == set(found["outlier"])
    scores = view.values("outlier_score")
    assert scores == sorted(scores, reverse=True)


def test_show_run_shows_what_it_found(curated):
    ds, found = curated
    key = winnow.list_runs(ds, method="redundancy")[0]["key"]
    _, ops = call(ds, "show_run", key=key)
    assert set(shown_view(ds, ops).values("id")) == set(found["redundant"])


def test_delete_run_asks_first_then_removes_its_fields_and_tags(scratch):
    ds, found = scratch
    key = winnow.list_runs(ds, method="outliers")[0]["key"]
    ctx, _ = call(ds, "on_load")
    ctx, ops = call(ds, "ask_delete_run", state=ctx.panel_state, key=key)
    assert ctx.panel_state["confirm_delete"] == key
    assert "Really delete" in output_text(ops)
    assert ds.get_field("outlier_score") is not None  # nothing deleted yet

    ctx, ops = call(ds, "delete_run", state=ctx.panel_state, key=key)
    assert ds.get_field("outlier_score") is None
    assert "outlier" not in ds.count_values("tags")
    assert ds.get_field("redundant_of") is not None  # other runs untouched
    assert key not in [r["key"] for r in ctx.panel_state["runs"]]
    outliers = next(f for f in ctx.panel_state["findings"] if f["name"] == "outliers")
    assert not outliers["computed"]
    assert {"clear_view", "reload_dataset"} <= set(ops)


def test_map_selection_shows_the_selected_samples(curated):
    ds, _ = curated
    ids = ds.take(5, seed=1).values("id")
    data = [dict(id=i, x=0, y=0, trace="kept", idx=k) for k, i in enumerate(ids)]
    _, ops = call(ds, "on_map_selected", data=data)
    assert set(shown_view(ds, ops).values("id")) == set(ids)


def test_map_is_sampled_above_the_limit_and_says_so(curated, monkeypatch):
    ds, _ = curated
    points = embedding_map.map_points(ds, embedding_map.find_map(ds, "embedding"),
                                      fields=["tags"], max_points=50)
    assert len(points["ids"]) == 50 == len(points["values"]["tags"]) and points["sampled"]
    assert points["total"] == len(ds)
    expected = dict(zip(*ds.select(points["ids"]).values(["id", "tags"])))
    assert [expected[i] for i in points["ids"]] == points["values"]["tags"]

    monkeypatch.setattr(embedding_map, "DEFAULT_MAX_POINTS", 100)
    ctx, ops = call(ds, "on_load")
    data = {}
    for params in ops["patch_panel_data"]:
        data.update(params["data"])
    assert sum(len(t["ids"]) for t in data["map"] if "ids" in t) == 100
    assert ctx.panel_state["map"]["sampled"] is True
    assert "random sample of 100 of 306 points" in output_text(ops)


def test_colour_by_label_quality_and_cluster(curated):
    ds, _ = curated
    ctx, _ = call(ds, "on_load")
    ctx, ops = call(ds, "set_color_by", state=ctx.panel_state, value="label_quality")
    (trace,) = ops["patch_panel_data"][-1]["data"]["map"]
    assert trace["marker"]["colorscale"] == "RdYlGn"
    assert len(trace["ids"]) == len(ds.exists("label_quality"))
    ctx, ops = call(ds, "set_color_by", state=ctx.panel_state, value="cluster")
    names = {t["name"] for t in ops["patch_panel_data"][-1]["data"]["map"]}
    assert names == {str(c) for c in ds.distinct("cluster")}


def test_histogram_bar_click_shows_that_range(curated):
    ds, _ = curated
    _, ops = call(ds, "on_load")
    data = {}
    for params in ops["patch_panel_data"]:
        data.update(params["data"])
    (bars,) = data["hist_label_quality"]
    i = max(range(len(bars["y"])), key=lambda k: bars["y"][k])
    _, ops = call(ds, "on_histogram_click", id=bars["ids"][i], idx=i)
    assert len(shown_view(ds, ops)) == bars["y"][i]


def test_accept_is_undoable_keep_and_review_tag(scratch):
    ds, found = scratch
    ctx, _ = call(ds, "on_load")
    first, second, third = ctx.panel_state["review"][:3]
    before = ds[first["id"]].ground_truth.label

    ctx, _ = call(ds, "accept_suggestion", state=ctx.panel_state, id=first["id"])
    assert ds[first["id"]].ground_truth.label == first["suggested"] != before
    assert first["id"] not in [r["id"] for r in ctx.panel_state["review"]]
    assert ctx.panel_state["accepted"] == 1

    ctx, _ = call(ds, "keep_label", state=ctx.panel_state, id=second["id"])
    ctx, _ = call(ds, "tag_for_review", state=ctx.panel_state, id=third["id"])
    assert "label_kept" in ds[second["id"]].tags and "needs_review" in ds[third["id"]].tags
    remaining = [r["id"] for r in ctx.panel_state["review"]]
    assert not {first["id"], second["id"], third["id"]} & set(remaining)
    assert ctx.panel_state["review_pending"] == len(found["label_issue"]) - 3

    ctx, ops = call(ds, "undo_accepted", state=ctx.panel_state)
    assert ds[first["id"]].ground_truth.label == before
    assert ctx.panel_state["accepted"] == 0
    assert first["id"] in [r["id"] for r in ctx.panel_state["review"]]


def test_actions_prompt_the_operator_form(curated):
    ds, _ = curated
    _, ops = call(ds, "open_operator", operator="@winnow/curation/find_outliers")
    (params,) = ops["prompt_user_for_operation"]
    assert params["operator_uri"] == "@winnow/curation/find_outliers"


def test_compute_map_button_stores_a_map(make_dataset, demo_embedded):
    ds = demo_embedded.clone()
    try:
        ctx, ops = call(ds, "on_load")
        assert ctx.panel_state["map"]["key"] is None
        assert "Compute the map (PCA)" in output_text(ops)
        ctx, ops = call(ds, "compute_map", state=ctx.panel_state)
        assert ctx.panel_state["map"]["key"] == "embedding_viz"
        assert ds.get_brain_info("embedding_viz").config.method == "pca"
        (kept,) = ops["patch_panel_data"][-1]["data"]["map"]  # no Winnow tags: all kept
        assert kept["name"] == "kept" and len(kept["ids"]) == len(ds)
    finally:
        ds.delete()


def test_panel_payload_stays_bounded_at_50000_samples(demo_embedded, make_dataset):
    # 50 000 samples: the demo's real embeddings, jittered (no image is read by the panel).
    import numpy as np

    # The first 128 dimensions keep the set-up fast; the panel reads only the stored map.
    base = np.stack(demo_embedded.exists("embedding").values("embedding"))[:, :128]
    rng = np.random.default_rng(0)
    n = 50_000
    X = base[rng.integers(0, len(base), n)] + rng.normal(0, 0.01, (n, base.shape[1]))
    ds = make_dataset()
    ds.add_samples([fo.Sample(filepath="/nonexistent/%05d.png" % i) for i in range(n)],
                   progress=False)
    ds.set_values("embedding", list(X.astype(np.float32)))
    ids = ds.values("id")
    ds.select([ids[i] for i in rng.choice(n, 500, replace=False)]).tag_samples("outlier")
    ds.set_values("outlier_score", rng.random(n).tolist())
    embedding_map.compute_map(ds, "embedding")

    ctx, ops = call(ds, "on_load")
    state = ctx.panel_state
    data = {}
    for params in ops["patch_panel_data"]:
        data.update(params["data"])
    shown = sum(len(t["ids"]) for t in data["map"] if "ids" in t)
    assert shown == embedding_map.DEFAULT_MAX_POINTS < n
    assert state["map"]["sampled"] is True and state["map"]["total"] == n
    assert "random sample of 2,000 of 50,000 points" in output_text(ops)
    # Aggregates cover every sample; the whole payload stays small.
    assert {f["tag"]: f["count"] for f in state["findings"]}["outlier"] == 500
    (bars,) = data["hist_outlier_score"]
    assert sum(bars["y"]) == n and len(bars["y"]) <= 100
    payload = len(json.dumps(data)) + len(json.dumps(state)) + len(output_text(ops))
    assert payload < 2_000_000
