"""Object label issues (issue 14): bagged MLPs + cleanlab on the objects' own embeddings.

Real scenes (``tests/objects_data.py``: Fashion-MNIST items pasted at known boxes),
real EfficientNet-Lite0 vectors of the crops; the classes are each object's
``label``. Results are object attributes and label tags, never sample fields.
"""

import numpy as np
import pytest

import fiftyone as fo
import fiftyone.core.patches as fop

import winnow

import objects_data
from conftest import unique_name

FIELD = objects_data.FIELD
# The default classifier ("auto") is what the ranking tests use; tests of the plumbing
# use bagged MLPs alone, a few times faster.
FAST = dict(classifier="bagging-mlp")
# A class far from each one (as in test_label_issues): planted wrong labels.
FLIPS = {"Trouser": "Bag", "Sneaker": "Dress", "Bag": "Trouser",
         "Ankle boot": "T-shirt/top", "Dress": "Sandal", "Pullover": "Sneaker"}


@pytest.fixture(scope="session")
def embedded_scenes(tmp_path_factory):
    """80 scenes (~240 objects) with object embeddings, built once; tests use clones."""
    scenes = objects_data.write_scenes(tmp_path_factory.mktemp("object_labels"), 80, seed=1)
    made = []

    def make(samples):
        ds = fo.Dataset(unique_name("winnow-test-objlabels"))
        ds.add_samples(samples, progress=False)
        made.append(ds)
        return ds

    ds = objects_data.detections_dataset(make, scenes)
    objects_data.embed_objects(ds)
    yield ds
    for d in made:
        if fo.dataset_exists(d.name):
            fo.delete_dataset(d.name)


@pytest.fixture
def ds(embedded_scenes):
    clone = embedded_scenes.clone(unique_name("winnow-test-objlabels"))
    yield clone
    if fo.dataset_exists(clone.name):
        fo.delete_dataset(clone.name)


def _path(attr):
    return "%s.detections.%s" % (FIELD, attr)


def _objects(ds, *attrs):
    """``{object id: value}`` (one attribute) or ``{object id: (values...)}``."""
    columns = ds.values([_path("id")] + [_path(a) for a in attrs], unwind=True)
    if len(attrs) == 1:
        return dict(zip(*columns))
    return {i: tuple(c[r] for c in columns[1:]) for r, i in enumerate(columns[0])}


def _flip(ds):
    """Gives one object of each FLIPS class a distant class; ``{id: true class}``."""
    labels = _objects(ds, "label")
    flipped, done = {}, set()
    for oid, cls in labels.items():
        if cls in FLIPS and cls not in done:
            flipped[oid] = cls
            done.add(cls)
    ds.set_label_values(_path("label"), {i: FLIPS[c] for i, c in flipped.items()})
    return flipped


def _snapshot(ds):
    return (sorted(ds.get_field_schema(flat=True)), ds.list_runs(), ds.count_sample_tags(),
            ds.count_label_tags(), ds.list_saved_views(), ds.values(_path("label")))


def test_planted_wrong_object_labels_rank_worst_and_results_land_on_the_objects(ds):
    flipped = _flip(ds)
    labels = _objects(ds, "label")
    # One object without a vector and one without a label: neither is scored.
    no_vector, no_label = [i for i in labels if i not in flipped][:2]
    ds.set_label_values(_path("embedding"), {no_vector: None})
    ds.set_label_values(_path("label"), {no_label: None})
    top_fields = sorted(ds.get_field_schema())
    filepaths = ds.values("filepath")

    results = winnow.find_label_issues(ds, patches_field=FIELD, progress=False)
    assert results.patches_field == FIELD and results.num_samples == len(labels)
    assert results.num_skipped == 1 and results.num_labeled == len(labels) - 2
    assert results.num_scored == len(labels) - 2
    assert "objects" in repr(results) and "1 objects without an embedding" in repr(results)

    # Planted wrong labels: ranked worst and flagged, with the true class suggested.
    quality = _objects(ds, "label_quality")
    assert quality[no_vector] is None and quality[no_label] is None
    scored = sorted((q, i) for i, q in quality.items() if q is not None)
    worst = [i for _, i in scored]
    assert len(set(flipped) & set(worst[:len(flipped)])) >= len(flipped) - 2
    assert set(flipped) <= set(worst[:20])
    assert len(set(flipped) & set(results.issue_ids)) >= len(flipped) - 1
    assert max(quality[i] for i in flipped) < np.median([q for q, _ in scored]) / 10
    assert results.issue_ids == sorted(results.issue_ids, key=quality.get)
    suggested = _objects(ds, "suggested_label")
    assert sum(suggested[i] == c for i, c in flipped.items()) >= len(flipped) - 1
    assert suggested[no_vector] is None and suggested[no_label] is None

    # Label tags on exactly the flagged objects; nothing on samples.
    tagged = set(ds.select_labels(tags="label_issue").values(_path("id"), unwind=True))
    assert tagged == set(results.issue_ids)
    assert ds.count_label_tags() == {"label_issue": results.num_issues}
    assert ds.count_sample_tags() == {}
    assert sorted(ds.get_field_schema()) == top_fields and ds.values("filepath") == filepaths
    assert _objects(ds, "label") == dict(labels, **{no_label: None})  # labels unchanged

    # Visible in a patches view; the saved view opens as one, worst first.
    patches = ds.to_patches(FIELD)
    assert patches.count_label_tags() == {"label_issue": results.num_issues}
    view = ds.load_saved_view(results.saved_view)
    assert isinstance(view, fop.PatchesView)
    assert set(view.values(FIELD + ".id")) == tagged
    q = view.values(FIELD + ".label_quality")
    assert len(q) == results.num_issues and q == sorted(q)

    run = winnow.get_run(ds, results.run_key)
    assert run["patches_field"] == FIELD and run["params"]["patches_field"] == FIELD
    assert sorted(run["fields"]) == [_path("label_quality"), _path("suggested_label")]
    assert run["label_tags"] == {"label_issue": [FIELD]} and run["tags"] == []
    assert run["counts"]["issues"] == results.num_issues


def test_rerun_replaces_only_its_attributes_and_tags_and_delete_run_removes_them(ds):
    _flip(ds)
    ids = list(_objects(ds, "label"))
    # The user's own object tag and attribute, and a sample field: never touched.
    ds.select_labels(ids=ids[:5], fields=FIELD).tag_labels("reviewed", label_fields=FIELD)
    ds.set_label_values(_path("note"), {i: "mine" for i in ids[:5]}, dynamic=True)
    ds.set_values("weather", ["sunny"] * len(ds))
    before = _objects(ds, "label", "bounding_box", "note")

    first = winnow.find_label_issues(ds, patches_field=FIELD, progress=False, **FAST)
    second = winnow.find_label_issues(ds, patches_field=FIELD, classifier="mlp",
                                      progress=False)
    assert first.run_key == second.run_key
    tagged = set(ds.select_labels(tags="label_issue").values(_path("id"), unwind=True))
    assert tagged == set(second.issue_ids)
    assert ds.count_label_tags() == {"label_issue": second.num_issues, "reviewed": 5}
    assert len(winnow.list_runs(ds, "label_issues")) == 1

    winnow.delete_run(ds, second.run_key)
    flat = ds.get_field_schema(flat=True)
    assert _path("label_quality") not in flat and _path("suggested_label") not in flat
    assert set(ds.values(_path("label_quality"), unwind=True)) <= {None}
    assert ds.count_label_tags() == {"reviewed": 5}
    assert not ds.has_saved_view(second.saved_view)
    assert _objects(ds, "label", "bounding_box", "note") == before
    assert ds.count(_path("embedding")) == len(ids)
    assert ds.values("weather") == ["sunny"] * len(ds)


def test_unlabeled_objects_are_predicted_from_the_labeled_ones(ds):
    labels = _objects(ds, "label")
    blank = list(labels)[::30]  # ~8 objects lose their label
    ds.set_label_values(_path("label"), {i: None for i in blank})
    results = winnow.predict_labels(ds, patches_field=FIELD, threshold=0.4, progress=False)
    n = len(labels)
    assert results.patches_field == FIELD
    assert results.fill_rate_before == pytest.approx((n - len(blank)) / n)
    assert results.fill_rate_after == pytest.approx((n - len(blank) + results.num_predicted) / n)
    predicted = _objects(ds, "predicted_label")
    assert {i for i, p in predicted.items() if p is not None} <= set(blank)
    assert sum(predicted[i] is not None for i in blank) == results.num_predicted
    assert results.num_predicted >= len(blank) - 2
    assert sum(predicted[i] == labels[i] for i in blank) >= len(blank) - 2
    assert [_objects(ds, "label")[i] for i in blank] == [None] * len(blank)
    run = winnow.get_run(ds, results.run_key)
    assert run["fields"] == [_path("predicted_label")] and run["patches_field"] == FIELD


def test_accept_and_undo_change_and_restore_only_the_objects_labels(ds):
    flipped = _flip(ds)
    results = winnow.find_label_issues(ds, patches_field=FIELD, progress=False, **FAST)
    before = _objects(ds, "label", "bounding_box", "embedding", "label_quality")
    suggested = _objects(ds, "suggested_label")

    # The App's way: accept from the saved patches view of the flagged objects.
    view = ds.load_saved_view(results.saved_view)
    n = winnow.accept_suggestions(view, patches_field=FIELD)
    assert n == results.num_issues
    after = _objects(ds, "label")
    for oid, (label, *_rest) in before.items():
        assert after[oid] == (suggested[oid] if oid in results.issue_ids else label)
    assert sum(after[i] == c for i, c in flipped.items()) >= len(flipped) - 1
    tags = ds.count_label_tags()
    assert tags["suggestion_accepted"] == n and ds.count_sample_tags() == {}
    # Nothing else of the objects changed.
    now = _objects(ds, "label", "bounding_box", "embedding", "label_quality")
    for oid in before:
        assert now[oid][1] == before[oid][1] and now[oid][3] == before[oid][3]
        assert np.array_equal(now[oid][2], before[oid][2])
    # Accepting again keeps the user's original label as the one to restore.
    assert winnow.accept_suggestions(ds.select_labels(ids=results.issue_ids[:2]),
                                     patches_field=FIELD) == 2
    history = {i: h for i, h in _objects(ds, "label_history").items() if h is not None}
    assert history == {i: before[i][0] for i in results.issue_ids}

    # A prediction for an unlabeled object is accepted too, and undone to "no label".
    blank = next(i for i in before if i not in results.issue_ids)
    ds.set_label_values(_path("label"), {blank: None})
    winnow.predict_labels(ds, patches_field=FIELD, threshold=0.01, progress=False,
                          **FAST)
    assert winnow.accept_suggestions(ds.select_labels(ids=[blank]), patches_field=FIELD,
                                     suggestion_field="predicted_label") == 1
    assert _objects(ds, "label")[blank] is not None

    assert winnow.undo_suggestions(ds, patches_field=FIELD) == n + 1
    restored = _objects(ds, "label")
    assert restored == dict({i: v[0] for i, v in before.items()}, **{blank: None})
    assert "suggestion_accepted" not in ds.count_label_tags()
    assert set(ds.values(_path("label_history"), unwind=True)) <= {None}
    assert sorted(ds.get_field_schema()) == sorted(["id", "filepath", "tags", "metadata",
                                                    "created_at", "last_modified_at", FIELD])


def test_rare_object_classes_are_not_checked(ds):
    labels = _objects(ds, "label")
    rare = [i for i, c in labels.items() if c == "Bag"][:3]
    ds.set_label_values(_path("label"), {i: "Umbrella" for i in rare})
    results = winnow.find_label_issues(ds, patches_field=FIELD, progress=False, **FAST)
    assert results.skipped_classes == {"Umbrella": 3}
    assert "fewer than 5 labeled objects" in repr(results) and "Umbrella (3)" in repr(results)
    assert results.num_scored == len(labels) - 3
    quality = _objects(ds, "label_quality")
    assert [quality[i] for i in rare] == [None] * 3
    tagged = set(ds.select_labels(tags="label_issue").values(_path("id"), unwind=True))
    assert not tagged & set(rare)


@pytest.mark.parametrize("kwargs, match", [
    (dict(patches_field="filepath"), "Detections or Polylines"),
    (dict(patches_field="nope"), "No field 'nope'"),
    (dict(patches_field="cls"), "Detections or Polylines field; 'cls' is a Classification"),
    (dict(patches_field=FIELD, label_field="cls"), "label_field='cls' is not used"),
    (dict(patches_field=FIELD, quality_field="label"), "objects' attribute 'label'"),
    (dict(patches_field=FIELD, suggestion_field="bounding_box"), "attribute 'bounding_box'"),
    (dict(patches_field=FIELD, quality_field="embedding"), "must differ"),
    (dict(patches_field=FIELD, embeddings_field="nope"), "has a 'nope' vector"),
])
def test_bad_input_is_one_clear_error_and_nothing_is_written(ds, kwargs, match):
    ds.set_values("cls", [fo.Classification(label="a")] * len(ds))
    before = _snapshot(ds)
    with pytest.raises(ValueError, match=match):
        winnow.find_label_issues(ds, progress=False, **kwargs)
    assert _snapshot(ds) == before


def test_objects_without_labels_and_accept_without_suggestions_are_clear_errors(ds):
    ds.set_label_values(_path("label"), {i: None for i in _objects(ds, "label")})
    before = _snapshot(ds)
    with pytest.raises(ValueError, match="at least 2 classes with >= 5 labeled, embedded "
                                         "objects in 'gt'"):
        winnow.find_label_issues(ds, patches_field=FIELD, progress=False)
    with pytest.raises(ValueError, match="at least 2 classes"):
        winnow.predict_labels(ds, patches_field=FIELD, progress=False)
    with pytest.raises(ValueError, match="No suggestion attribute 'suggested_label'"):
        winnow.accept_suggestions(ds, patches_field=FIELD)
    with pytest.raises(ValueError, match="No history attribute 'label_history'"):
        winnow.undo_suggestions(ds, patches_field=FIELD)
    assert _snapshot(ds) == before


# -------------------------------------------------------------------------- forms

PLUGIN = "@winnow/curation/"


def _form(ds, name, view=None, **params):
    import fiftyone.operators as foo
    from fiftyone.operators.executor import ExecutionContext, Executor

    uri = PLUGIN + name
    request = dict(dataset_name=ds.name, params=params)
    if view is not None:
        request["view"] = view._serialize()
    ctx = ExecutionContext(request_params=request, executor=Executor(), operator_uri=uri)
    return foo.get_operator(uri).resolve_input(ctx).type.properties


def _errors(ds, name, **params):
    return {k: p.error_message for k, p in _form(ds, name, **params).items() if p.invalid}


@pytest.mark.parametrize("name, params, prop, message", [
    ("find_label_issues", dict(patches_field="cls"), "patches_field",
     "Detections or Polylines field; 'cls' is a Classification"),
    ("find_label_issues", dict(quality_field="label"), "quality_field",
     "objects' attribute 'label'"),
    ("find_label_issues", dict(embeddings_field="nope"), "embeddings_field",
     "'gt.detections.nope'"),
    ("find_label_issues", dict(tag="user_tag"), "tag", "Tag 'user_tag' is in use"),
    ("predict_labels", dict(prediction_field="bounding_box"), "prediction_field",
     "objects' attribute 'bounding_box'"),
    ("accept_suggestions", dict(suggestion_field="nope"), "suggestion_field",
     "No suggestion attribute 'nope' on the objects of 'gt'"),
])
def test_forms_offer_objects_and_flag_bad_values_with_the_engines_checks(ds, name, params,
                                                                          prop, message):
    ds.set_values("cls", [fo.Classification(label="a")] * len(ds))
    ds.select_labels(ids=list(_objects(ds, "label"))[:1]).tag_labels("user_tag")
    form = _form(ds, name, patches_field=FIELD)
    assert "label_field" not in form  # the objects' own labels are the classes
    assert "patches_field" in form
    errors = _errors(ds, name, **dict(dict(patches_field=FIELD), **params))
    assert list(errors) == [prop], errors
    assert message in errors[prop]


def test_forms_on_objects_run_the_engine_and_accept_from_the_patches_view(ds):
    import fiftyone.operators as foo

    flipped = _flip(ds)
    form = _form(ds, "find_label_issues", patches_field=FIELD)
    assert form["embeddings_field"].default == "embedding"
    assert _errors(ds, "find_label_issues", patches_field=FIELD) == {}
    assert _errors(ds, "predict_labels", patches_field=FIELD) == {}
    assert "label_field" in _form(ds, "find_label_issues")  # samples: as before

    foo.get_operator(PLUGIN + "find_label_issues")(ds, patches_field=FIELD,
                                                   **FAST).raise_exceptions()
    run = winnow.get_run(ds, "winnow_label_issues_gt_detections_label_quality")
    issues = run["counts"]["issues"]
    assert issues >= len(flipped) - 1 and ds.count_label_tags() == {"label_issue": issues}

    view = ds.load_saved_view("winnow-gt-label_issue")
    assert _errors(ds, "accept_suggestions", view=view, patches_field=FIELD) == {}
    accept = foo.get_operator(PLUGIN + "accept_suggestions")
    result = accept(view, patches_field=FIELD)
    result.raise_exceptions()
    assert result.result["count"] == issues
    assert ds.count_label_tags()["suggestion_accepted"] == issues
    accept(ds, action="undo", patches_field=FIELD).raise_exceptions()
    assert "suggestion_accepted" not in ds.count_label_tags()


def test_sample_level_python_calls_still_pass_the_forms_validation(ds):
    """The objects choice is optional: a call without it (patches_field=None) runs on
    samples as before."""
    import fiftyone.operators as foo

    vectors = ds.values(_path("embedding"))
    ds.set_values("emb", [np.mean(v, axis=0).tolist() for v in vectors])
    first = ds.values(_path("label"))
    ds.set_values("cls", [fo.Classification(label=labels[0]) for labels in first])
    for name in ("find_label_issues", "predict_labels"):
        foo.get_operator(PLUGIN + name)(ds, label_field="cls", embeddings_field="emb",
                                        classifier="bagging-mlp",
                                        n_estimators=2).raise_exceptions()
    assert ds.count("label_quality") > 0 and _path("label_quality") not in \
        ds.get_field_schema(flat=True)
    accept = foo.get_operator(PLUGIN + "accept_suggestions")
    result = accept(ds.limit(3), label_field="cls")
    result.raise_exceptions()
    assert result.result["count"] == 3
    accept(ds, action="undo", label_field="cls").raise_exceptions()
    assert ds.values("cls.label") == [labels[0] for labels in first]


def test_polylines_objects_work_the_same(ds):
    """A Polylines field: the same attributes, tags and saved patches view."""
    import fiftyone.core.fields as fof

    flipped = _flip(ds)
    dets = ds.values(FIELD)
    polys = []
    for d in dets:
        lines = []
        for det in d.detections:
            line = det.to_polyline()
            line["embedding"] = det["embedding"]
            lines.append(line)
        polys.append(fo.Polylines(polylines=lines))
    ds.set_values("poly", polys)
    ds.add_sample_field("poly.polylines.embedding", fof.VectorField)

    results = winnow.find_label_issues(ds, patches_field="poly", tag="poly_issue",
                                       classifier="bagging-mlp", progress=False)
    assert results.patches_field == "poly" and results.num_scored == ds.count("poly.polylines")
    quality = dict(zip(*ds.values(["poly.polylines.id", "poly.polylines.label_quality"],
                                  unwind=True)))
    worst = sorted(quality, key=quality.get)[:20]
    # The polylines made from the flipped detections rank worst.
    flipped_lines = {p.id for d, pl in zip(dets, polys) for det, p in
                     zip(d.detections, pl.polylines) if det.id in flipped}
    assert len(flipped_lines & set(worst)) >= len(flipped) - 1
    view = ds.load_saved_view(results.saved_view)
    assert isinstance(view, fop.PatchesView) and len(view) == results.num_issues
    assert ds.count_label_tags() == {"poly_issue": results.num_issues}
