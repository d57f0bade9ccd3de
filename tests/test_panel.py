"""The Winnow panel's handlers, called the way the App calls them (no browser)."""

import inspect
import json

import pytest

import fiftyone as fo
import fiftyone.core.view as fov
import fiftyone.operators as foo
from fiftyone import ViewField as F
from fiftyone.operators.executor import ExecutionContext, Executor

import winnow
from winnow.plugin import embedding_map, findings
from winnow.plugin import runs as winnow_runs
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
    return json.dumps(ops["show_panel_output"][-1]["output"], ensure_ascii=False)


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
                     "find_label_issues", "find_image_issues", "compute_embeddings"):
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
    # One row per run, counted under the tag its record names.
    counts = {t: f["count"] for f in state["findings"] for t in f["tags"]}
    assert counts == {t: tags.get(t, 0) for t in counts}
    assert counts["outlier"] == len(found["outlier"]) > 0
    assert counts["label_issue"] == len(found["label_issue"]) > 0
    computed = {f["method"]: f["computed"] for f in state["findings"]}
    assert computed == dict(outliers=True, redundancy=True, filter=False,
                            representatives=True, label_issues=True, image_issues=False,
                            duplicates=False, leaks=False)
    assert [r["key"] for r in state["runs"]] == [r["key"] for r in winnow.list_runs(ds)]

    data = {}
    for params in ops["patch_panel_data"]:
        data.update(params["data"])
    assert {"hist_outlier_score", "hist_redundancy_distance", "hist_label_quality",
            "hist_medoid_distance", "map"} <= set(data)
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
    key = winnow.list_runs(ds, method="outliers")[0]["key"]
    _, ops = call(ds, "show_run", key=key)
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
    (outliers,) = [f for f in ctx.panel_state["findings"] if f["method"] == "outliers"]
    assert not outliers["computed"] and outliers["run_key"] is None
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
    # Scores and tags written and recorded the way find_outliers does (its GLOSH fit
    # on 50 000 samples would dominate the test's time).
    step = winnow_runs.Step(ds, "outliers", fields=dict(score="outlier_score"), tags=["outlier"],
                            score=dict(field="outlier_score", descending=True))
    with step.writing():
        ds.select([ids[i] for i in rng.choice(n, 500, replace=False)]).tag_samples("outlier")
        ds.set_values("outlier_score", rng.random(n).tolist())
    step.record(params={}, counts=dict(samples=n, outliers=500))
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
    assert {t: f["count"] for f in state["findings"] for t in f["tags"]}["outlier"] == 500
    (bars,) = data["hist_outlier_score"]
    assert sum(bars["y"]) == n and len(bars["y"]) <= 100
    payload = len(json.dumps(data)) + len(json.dumps(state)) + len(output_text(ops))
    assert payload < 2_000_000


@pytest.fixture(scope="module")
def named(demo_embedded):
    """Runs made with names of their own, next to a run with the defaults: two
    outlier runs, a filter (with its own outlier and redundancy runs) and label issues."""
    ds = demo_embedded.clone()
    winnow.find_outliers(ds, score_field="glosh", tag="odd", count=10, progress=False)
    winnow.find_outliers(ds, count=12, progress=False)
    winnow.filter_dataset(ds, outliers=0.04, redundant=0.05, view_prefix="mine",
                          score_field="fscore", outlier_tag="f_out", redundant_tag="f_red",
                          link_field="f_of", distance_field="f_dist", progress=False)
    winnow.find_label_issues(ds, tag="suspect", quality_field="lq", suggestion_field="sugg",
                             progress=False)
    embedding_map.compute_map(ds, "embedding")
    yield ds
    ds.delete()


def _panel_data(ops):
    data = {}
    for params in ops["patch_panel_data"]:
        data.update(params["data"])
    return data


def test_runs_with_their_own_names_are_summarised_with_those_names(named):
    ds = named
    ctx, ops = call(ds, "on_load")
    state = ctx.panel_state
    data = _panel_data(ops)
    text = output_text(ops)
    rows = state["findings"]
    by_label = {f["label"]: f for f in rows}

    # Three outlier runs (score fields glosh, outlier_score, fscore), side by side.
    outliers = [f for f in rows if f["method"] == "outliers"]
    assert [f["label"] for f in outliers] == [
        "Outliers (glosh)", "Outliers (outlier_score)", "Outliers (fscore)"]
    first = rows.index(outliers[0])
    assert rows[first:first + 3] == outliers
    assert by_label["Outliers (glosh)"]["tags"] == ["odd"]
    assert by_label["Outliers (glosh)"]["count"] == len(ds.match_tags("odd")) == 10
    assert by_label["Outliers (outlier_score)"]["count"] == len(ds.match_tags("outlier")) == 12
    assert by_label["Outliers (glosh)"]["score"] == dict(field="glosh", descending=True)
    assert by_label["Redundant"]["tags"] == ["f_red"]
    assert by_label["Redundant"]["count"] == len(ds.match_tags("f_red")) > 0
    issues = by_label["Label issues"]
    assert issues["tags"] == ["suspect"]
    assert issues["count"] == len(ds.match_tags("suspect")) > 0
    # Steps never run are still offered.
    assert by_label["Representatives"]["computed"] is False
    assert "**Representatives**: not computed yet" in text
    assert "run `find_representatives`" in text
    assert "Outliers (glosh)**: 10 (" in text and "tagged `odd`" in text

    # The filter's saved views, one button each, with their sizes.
    views = {v["name"]: v["count"] for v in by_label["Filter"]["saved_views"]}
    assert set(views) == {"mine-kept", "mine-outliers", "mine-redundant"}
    assert views["mine-outliers"] == len(ds.match_tags("f_out"))
    assert views["mine-kept"] == len(ds.match_tags(["f_out", "f_red"], bool=False))
    assert "mine-kept (%d)" % views["mine-kept"] in text
    _, ops = call(ds, "load_saved_view", name="mine-kept")
    assert ops["set_view"] == [{"name": "mine-kept"}]
    # The label-issue run's saved view too.
    (issue_view,) = issues["saved_views"]
    assert issue_view["count"] == issues["count"]
    assert set(ds.load_saved_view(issue_view["name"]).values("id")) == set(
        ds.match_tags("suspect").values("id"))

    # One histogram per score field, under the run's own names.
    hists = {h["field"] for h in state["histograms"]}
    assert hists >= {"glosh", "outlier_score", "fscore", "f_dist", "lq"}
    assert {"hist_" + f for f in hists} <= set(data)
    (bars,) = data["hist_glosh"]
    assert sum(bars["y"]) == len(ds.exists("glosh"))
    assert "Outlier score (glosh)" in text

    # "Show" sorts by the run's own score, most striking first.
    _, ops = call(ds, "show_run", key=by_label["Outliers (glosh)"]["run_key"])
    view = shown_view(ds, ops)
    assert set(view.values("id")) == set(ds.match_tags("odd").values("id"))
    scores = view.values("glosh")
    assert scores == sorted(scores, reverse=True)


def test_review_groups_and_map_read_the_names_from_the_records(named):
    ds = named
    ctx, ops = call(ds, "on_load")
    state = ctx.panel_state

    # Review: the "suspect" samples, worst "lq" first, with their "sugg" suggestion.
    assert state["review_fields"]["tag"] == "suspect"
    assert state["review_fields"]["quality_field"] == "lq"
    review = state["review"]
    assert 0 < len(review) <= 8
    qualities = [r["quality"] for r in review]
    assert qualities == sorted(qualities)
    assert qualities[0] == round(min(ds.match_tags("suspect").values("lq")), 3)
    worst = ds[review[0]["id"]]
    assert "suspect" in worst.tags and review[0]["suggested"] == worst.sugg.label
    assert review[0]["given"] == worst.ground_truth.label
    assert state["review_pending"] == len(ds.match_tags("suspect"))

    # Redundant groups: the filter's redundancy run links with "f_of".
    group = state["groups"][0]
    copies = ds.select(group["copies"])
    assert set(copies.values("f_of")) == {group["kept_id"]}

    # Map colourings: status from the runs' tags, label quality from "lq".
    data = _panel_data(ops)
    traces = {t["name"]: t for t in data["map"]}
    tagged = ds.match_tags(["odd", "outlier", "f_out"])
    assert set(traces["outlier"]["ids"]) == set(tagged.values("id"))
    assert "label_quality" in state["map"]["modes"] and "cluster" not in state["map"]["modes"]
    ctx, ops = call(ds, "set_color_by", state=state, value="label_quality")
    (trace,) = ops["patch_panel_data"][-1]["data"]["map"]
    assert len(trace["ids"]) == len(ds.exists("lq"))

    # Accept writes the run's suggestion into the run's label field.
    ctx, _ = call(ds, "accept_suggestion", state=ctx.panel_state, id=worst.id)
    assert ds[worst.id].ground_truth.label == worst.sugg.label
    assert worst.id not in [r["id"] for r in ctx.panel_state["review"]]
    call(ds, "undo_accepted", state=ctx.panel_state)
    assert ds[worst.id].ground_truth.label == review[0]["given"]


def _button(ops, label):
    """The panel button labelled ``label`` in the last render: (method, params)."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            view = node.get("view")
            if isinstance(view, dict) and view.get("name") == "Button" \
                    and view.get("label") == label:
                found.append((view["operator"].rsplit("#", 1)[-1], view.get("params") or {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(ops["show_panel_output"][-1]["output"])
    (button,) = found
    return button


@pytest.fixture(scope="module")
def image_issue_files(tmp_path_factory):
    return plant_image_issues(tmp_path_factory.mktemp("image_issues"))


def plant_image_issues(out):
    """Real photographs in the folder ``out``: 3 clean, 2 darkened (x0.15), 3 blurred
    (Gaussian, radius 6). ``{kind: [paths]}`` with kind ``clean``, ``dark`` or ``blurry``."""
    import numpy as np
    import skimage.data
    from PIL import Image, ImageFilter

    files = dict(clean=[], dark=[], blurry=[])
    for name in ("chelsea", "coffee", "astronaut"):
        img = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
        path = str(out / ("%s.jpg" % name))
        img.save(path, quality=95)
        files["clean"].append(path)
        path = str(out / ("%s-blurry.png" % name))
        img.filter(ImageFilter.GaussianBlur(6)).save(path)
        files["blurry"].append(path)
        if name != "astronaut":
            path = str(out / ("%s-dark.png" % name))
            dark = (np.asarray(img, dtype=np.float64) * 0.15).round().astype(np.uint8)
            Image.fromarray(dark).save(path)
            files["dark"].append(path)
    return files


def test_image_issues_row_counts_each_kind_its_buttons_load_the_views(make_dataset,
                                                                     image_issue_files):
    from winnow.plugin.image_issues import find_image_issues

    files = image_issue_files
    ds = make_dataset([fo.Sample(filepath=p) for kind in ("clean", "dark", "blurry")
                       for p in files[kind]])
    find_image_issues(ds, progress=False)
    by_path = dict(zip(*ds.values(["filepath", "id"])))

    ctx, ops = call(ds, "on_load")
    state = ctx.panel_state
    text = output_text(ops)
    (row,) = [f for f in state["findings"] if f["method"] == "image_issues"]
    assert row["label"] == "Image issues" and row["computed"] is True
    assert row["operator"] == "@winnow/curation/find_image_issues"
    # A count per kind found (the run's tags), each with its saved view.
    assert row["kinds"] == [dict(tag="dark", count=2, view="winnow-image-dark"),
                            dict(tag="blurry", count=3, view="winnow-image-blurry")]
    assert row["count"] == 5 and row["score"] is None
    assert "**Image issues**: 5 (62.5 %) · dark 2 · blurry 3" in text
    assert ds.count_values("tags") == dict(dark=2, blurry=3)

    # Each kind's button loads its saved view by name; the view holds those images.
    method, params = _button(ops, "dark (2)")
    _, clicked = call(ds, method, **params)
    assert clicked["set_view"] == [{"name": "winnow-image-dark"}]
    assert set(ds.load_saved_view("winnow-image-dark").values("id")) == {
        by_path[p] for p in files["dark"]}
    method, params = _button(ops, "blurry (3)")
    _, clicked = call(ds, method, **params)
    assert clicked["set_view"] == [{"name": "winnow-image-blurry"}]
    # No second button for the same views.
    assert "winnow-image-dark (2)" not in text
    # "Show image issues": every flagged image.
    method, params = _button(ops, "Show image issues")
    _, clicked = call(ds, method, **params)
    assert set(shown_view(ds, clicked).values("filepath")) == set(files["dark"] + files["blurry"])

    # No single score: a histogram per image-issue score field, from the run's roles.
    fields = [h["field"] for h in state["histograms"]]
    assert fields == ["image_brightness", "image_contrast", "image_sharpness",
                      "image_colorfulness", "image_aspect_ratio", "image_size"]
    assert "Brightness (image_brightness)" in text and "Sharpness (image_sharpness)" in text
    data = _panel_data(ops)
    for field in fields:
        (bars,) = data["hist_" + field]
        assert sum(bars["y"]) == len(ds.exists(field)) == len(ds)
    # The darkest bar holds the darkened images.
    (bars,) = data["hist_image_brightness"]
    _, clicked = call(ds, "on_histogram_click", id=bars["ids"][0], idx=0)
    assert set(shown_view(ds, clicked).values("filepath")) == set(files["dark"])


def test_image_issues_row_with_nothing_found_and_a_kind_without_its_view(make_dataset,
                                                                        image_issue_files):
    from winnow.plugin.image_issues import find_image_issues

    files = image_issue_files
    ds = make_dataset([fo.Sample(filepath=p) for p in files["clean"]])
    find_image_issues(ds, progress=False)
    ctx, ops = call(ds, "on_load")
    (row,) = [f for f in ctx.panel_state["findings"] if f["method"] == "image_issues"]
    assert row["kinds"] == [] and row["count"] == 0
    assert "**Image issues**: 0 (0.0 %) · none found" in output_text(ops)

    # Saved views off: the kind's button shows its tag instead.
    ds2 = make_dataset([fo.Sample(filepath=p) for p in files["clean"] + files["dark"]])
    find_image_issues(ds2, save_views=False, progress=False)
    ctx, ops = call(ds2, "on_load")
    (row,) = [f for f in ctx.panel_state["findings"] if f["method"] == "image_issues"]
    assert row["kinds"] == [dict(tag="dark", count=2, view=None)]
    method, params = _button(ops, "dark (2)")
    _, clicked = call(ds2, method, **params)
    assert set(shown_view(ds2, clicked).values("filepath")) == set(files["dark"])


# ---------------------------------------------------------------------- objects (issue 14)


def object_runs_dataset(out_dir, prefix):
    """For a fixture (``yield from``): 30 real-image scenes (objects_data) with object
    vectors, object outliers (3) and object label issues on ``gt``; no run on samples."""
    import objects_data

    gen = objects_data.embedded_dataset(out_dir, 30, near_copy=True, off_domain=True,
                                        prefix=prefix)
    ds = next(gen)
    try:
        winnow.find_outliers(ds, patches_field="gt", count=3, progress=False)
        winnow.find_label_issues(ds, patches_field="gt", progress=False)
        yield ds
    finally:
        gen.close()


@pytest.fixture(scope="module")
def objects_curated(tmp_path_factory):
    yield from object_runs_dataset(tmp_path_factory.mktemp("panel_objects"),
                                   "winnow-test-panel-objects")


@pytest.fixture
def objects_scratch(objects_curated):
    ds = objects_curated.clone()
    yield ds
    ds.delete()


def test_object_findings_count_label_tags_over_objects(objects_curated):
    ds = objects_curated
    n_objects = ds.count("gt.detections")
    tags = ds.count_label_tags("gt")
    assert findings.object_fields(ds) == ["gt"]

    summary = findings.summarize(ds, patches_field="gt")
    assert summary["total"] == n_objects and summary["objects"] == "gt"
    by_label = {f["label"]: f for f in summary["findings"]}
    # Only the steps that run on objects; image-level steps are not offered.
    assert set(by_label) == {"Outliers", "Redundant", "Filter", "Representatives",
                             "Label issues", "Label issues (predictions)"}
    outliers, issues = by_label["Outliers"], by_label["Label issues"]
    assert outliers["computed"] and outliers["tags"] == ["outlier"]
    assert outliers["count"] == tags["outlier"] == 3
    assert outliers["fraction"] == pytest.approx(3 / n_objects)
    assert issues["count"] == tags["label_issue"] > 0
    assert outliers["saved_views"] == [dict(name="winnow-gt-outlier", count=3)]
    assert not by_label["Redundant"]["computed"]
    # Samples: no run on them; no sample tag counted.
    assert not any(f["computed"] for f in findings.summarize(ds)["findings"])

    # "Show": the tagged objects as patches, highest outlier score first.
    run = winnow.get_run(ds, outliers["run_key"])
    view = findings.run_view(ds, run)
    scores = view.values("gt.outlier_score")
    assert len(view) == 3 and scores == sorted(scores, reverse=True)
    assert set(view.values("gt.id")) == set(
        ds.filter_labels("gt", F("tags").contains("outlier")).values("gt.detections.id",
                                                                      unwind=True))
    # Their score histograms count objects, and a bar filters objects.
    hists = {h["field"]: h for h in findings.histograms(ds)}
    hist = hists["gt.detections.outlier_score"]
    assert hist["objects"] == "gt" and sum(hist["counts"]) == n_objects
    top = findings.histogram_view(ds, hist["field"], hist["edges"][-2], hist["edges"][-1], True)
    assert len(top) == hist["counts"][-1] and top.values("gt.outlier_score")


def test_object_review_lists_flagged_objects_worst_first_with_boxes(objects_curated):
    ds = objects_curated
    review = findings.review(ds, ["label_kept"], patches_field="gt", limit=4)
    flagged = ds.filter_labels("gt", F("tags").contains("label_issue"))
    dets = flagged.values("gt.detections", unwind=True)
    ids, quality = [d.id for d in dets], [d.label_quality for d in dets]
    boxes = [d.bounding_box for d in dets]
    assert review["pending"] == len(ids)
    assert review["fields"]["quality_field"] == "label_quality"
    assert review["fields"]["suggestion_field"] == "suggested_label"
    worst = sorted(zip(quality, ids))[:4]
    assert [r["id"] for r in review["rows"]] == [i for _, i in worst]
    row = review["rows"][0]
    assert row["box"] == boxes[ids.index(row["id"])]
    assert ds[row["sample_id"]].filepath == row["filepath"]
    assert row["given"] != row["suggested"]
    # The sample-level review knows nothing of the object run.
    assert findings.review(ds, ["label_kept"])["fields"] is None


def test_panel_objects_switch_findings_and_saved_view(objects_curated):
    ds = objects_curated
    ctx, ops = call(ds, "on_load")
    state = ctx.panel_state
    assert state["scopes"] == ["gt"] and state["scope"] is None
    assert "Objects of gt" in output_text(ops)

    # The object scores' histograms: their data under keys without dots.
    data = {}
    for params in ops["patch_panel_data"]:
        data.update(params["data"])
    n_objects = ds.count("gt.detections")
    (bars,) = data["hist_gt__detections__outlier_score"]
    assert sum(bars["y"]) == n_objects

    ctx, ops = call(ds, "set_scope", state=state, value="gt")
    state = ctx.panel_state
    assert state["scope"] == "gt" and state["total"] == n_objects
    text = output_text(ops)
    assert "3 of %d objects of `gt`" % n_objects in text
    assert "winnow-gt-outlier (3)" in text
    _, ops = call(ds, "load_saved_view", name="winnow-gt-outlier")
    assert ops["set_view"] == [{"name": "winnow-gt-outlier"}]
    assert len(ds.load_saved_view("winnow-gt-outlier")) == 3

    outliers = next(f for f in state["findings"] if f["label"] == "Outliers")
    _, ops = call(ds, "show_run", state=state, key=outliers["run_key"])
    shown = shown_view(ds, ops)
    assert shown._is_patches and len(shown) == 3

    # The review list holds objects: their crops, and a click shows that object.
    first = state["review"][0]
    img = state["review_0"]["img"]
    assert img.startswith("data:image/png;base64,")
    _, ops = call(ds, "show_object", state=state, id=first["id"], objects="gt")
    shown = shown_view(ds, ops)
    assert shown.values("gt.id") == [first["id"]]

    ctx, _ = call(ds, "set_scope", state=state, value="__samples__")
    assert ctx.panel_state["scope"] is None and ctx.panel_state["total"] == len(ds)


def test_object_crop_is_the_box_of_its_image(objects_curated):
    import base64
    import io

    import numpy as np
    from PIL import Image

    ds = objects_curated
    ctx, _ = call(ds, "set_scope", value="gt")
    row = findings.review(ds, [], patches_field="gt", limit=1)["rows"][0]
    data = ctx.panel_state["review_0"]["img"].split(",", 1)[1]
    crop = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
    img = Image.open(row["filepath"]).convert("RGB")
    w, h = img.size
    x, y, bw, bh = row["box"]
    region = img.crop((round(x * w), round(y * h), round((x + bw) * w), round((y + bh) * h)))
    region.thumbnail((64, 64))
    assert crop.shape == np.asarray(region).shape
    assert np.abs(crop.astype(int) - np.asarray(region).astype(int)).mean() < 1


def test_object_review_accept_keep_tag_and_undo(objects_scratch):
    ds = objects_scratch
    ctx, _ = call(ds, "set_scope", value="gt")
    state = ctx.panel_state
    first, second, third = state["review"][:3]
    pending = state["review_pending"]

    def obj(label_id):
        (o,) = [d for d in ds.values("gt.detections", unwind=True) if d.id == label_id]
        return o

    before = obj(first["id"]).label
    ctx, _ = call(ds, "accept_suggestion", state=state, id=first["id"], objects="gt")
    accepted = obj(first["id"])
    assert accepted.label == first["suggested"] != before
    assert "suggestion_accepted" in accepted.tags
    # Only that object changed.
    assert obj(second["id"]).label == second["given"]
    assert ctx.panel_state["accepted"] == 1

    ctx, _ = call(ds, "keep_label", state=ctx.panel_state, id=second["id"], objects="gt")
    ctx, _ = call(ds, "tag_for_review", state=ctx.panel_state, id=third["id"], objects="gt")
    assert "label_kept" in obj(second["id"]).tags and "needs_review" in obj(third["id"]).tags
    assert ds.count_sample_tags() == {}  # object review writes label tags only
    state = ctx.panel_state
    assert not {first["id"], second["id"], third["id"]} & {r["id"] for r in state["review"]}
    assert state["review_pending"] == pending - 3

    ctx, _ = call(ds, "undo_accepted", state=state, objects="gt")
    assert obj(first["id"]).label == before
    assert "suggestion_accepted" not in (obj(first["id"]).tags or [])
    assert ctx.panel_state["accepted"] == 0


def _panel_data(ops):
    data = {}
    for params in ops.get("patch_panel_data", []):
        data.update(params["data"])
    return data


def test_object_map_maps_the_objects_colours_them_and_selects_them(objects_scratch):
    ds = objects_scratch
    truth = {d.id: d for d in ds.values("gt.detections", unwind=True)}
    ctx, ops = call(ds, "set_scope", value="gt")
    info = ctx.panel_state["map"]
    # No map of the objects yet (the samples have none either): the button computes it.
    assert info["objects"] == "gt" and info["embeddings_field"] == "embedding"
    assert info["key"] is None
    assert "No 2-D map of `embedding` of the objects of `gt` yet" in output_text(ops)
    ctx, ops = call(ds, "compute_map", state=ctx.panel_state)
    key = ctx.panel_state["map"]["key"]
    assert key == "gt_embedding_viz" and ds.get_brain_info(key).config.patches_field == "gt"
    # A map of objects is never taken for a map of the samples' "embedding".
    assert embedding_map.find_map(ds, "embedding") is None
    assert embedding_map.find_map(ds, "embedding", patches_field="gt") == key

    # One point per object, at the Brain's coordinates; outliers by their label tag.
    traces = {t["name"]: t for t in _panel_data(ops)["map"]}
    assert set(traces) == {"kept", "outlier"}
    shown = [i for t in traces.values() for i in t["ids"]]
    assert sorted(shown) == sorted(truth) and ctx.panel_state["map"]["total"] == len(truth)
    assert set(traces["outlier"]["ids"]) == {i for i, d in truth.items()
                                            if "outlier" in (d.tags or [])}
    results = ds.load_brain_results(key)
    where = dict(zip(results.label_ids, results.points.tolist()))
    first = traces["kept"]
    assert [first["x"][0], first["y"][0]] == pytest.approx(where[first["ids"][0]])

    # Coloured by the objects' labels and by their label quality.
    ctx, ops = call(ds, "set_color_by", state=ctx.panel_state, value="label")
    for trace in _panel_data(ops)["map"]:
        assert {truth[i].label for i in trace["ids"]} == {trace["name"]}
    ctx, ops = call(ds, "set_color_by", state=ctx.panel_state, value="label_quality")
    (trace,) = _panel_data(ops)["map"]
    i = trace["ids"][0]
    assert trace["marker"]["color"][0] == truth[i].label_quality

    # A lasso selection shows exactly those objects, as patches.
    picked = shown[:4]
    _, ops = call(ds, "on_map_selected", state=ctx.panel_state,
                  data=[dict(id=i, idx=k) for k, i in enumerate(picked)])
    view = shown_view(ds, ops)
    assert view._is_patches and sorted(view.values("gt.id")) == sorted(picked)
    # The empty selection the App sends right after a lasso keeps that view.
    _, ops = call(ds, "on_map_selected", state=ctx.panel_state, data=[])
    assert not {"set_view", "clear_view"} & set(ops)

    # Back to samples: the map is the samples' again (none here).
    ctx, _ = call(ds, "set_scope", state=ctx.panel_state, value="__samples__")
    assert ctx.panel_state["map"]["objects"] is None and ctx.panel_state["map"]["key"] is None


def test_object_map_refuses_bad_input(objects_curated):
    ds = objects_curated
    with pytest.raises(ValueError, match="Detections or Polylines"):
        embedding_map.compute_map(ds, "embedding", patches_field="filepath")
    with pytest.raises(ValueError, match="gt.detections.nothing"):
        embedding_map.compute_map(ds, "nothing", patches_field="gt")
    assert embedding_map.find_map(ds, "embedding", patches_field="gt") is None  # nothing written


def test_object_runs_rows_count_objects(objects_curated):
    ds = objects_curated
    n_objects = ds.count("gt.detections")
    ctx, ops = call(ds, "on_load")
    rows = {r["method"]: r for r in ctx.panel_state["runs"]}
    assert rows["outliers"]["objects"] == "gt"
    assert rows["outliers"]["counts"] == "%d objects of gt, 3 outliers, 0 skipped" % n_objects
    assert rows["label_issues"]["counts"].startswith("%d objects of gt, " % n_objects)
    assert "samples" not in rows["outliers"]["counts"] + rows["label_issues"]["counts"]
    assert "%d objects of gt, 3 outliers" % n_objects in output_text(ops)
    # An object embeddings run counts images as samples and objects as objects.
    panel_module = inspect.getmodule(type(foo.get_operator(URI)))
    run = dict(winnow.list_runs(ds)[0], method="embeddings",
               counts=dict(samples=30, objects=n_objects, embedded=n_objects, failed=0))
    assert panel_module._run_row(run)["counts"] == (
        "30 samples, %d objects of gt, %d embedded, 0 failed" % (n_objects, n_objects))
