"""Object-level curation (issue 14): the input layer and the steps on the objects of a
Detections field, on real images (Fashion-MNIST items pasted on canvases, a planted
near-copy object and a scikit-image photo crop among them; tests/objects_data.py)
with real EfficientNet-Lite0 vectors of the crops."""

import numpy as np
import pytest

import fiftyone as fo
import fiftyone.core.fields as fof
from fiftyone import ViewField as F

import objects_data
import winnow
from winnow.plugin import inputs, runs
from winnow.plugin.filtering import filter_dataset
from winnow.plugin.label_issues import MIN_CLASS_SAMPLES
from winnow.plugin.outliers import find_outliers
from winnow.plugin.redundancy import find_redundant
from winnow.plugin.representatives import find_representatives
from winnow.plugin.vectors import class_quotas

from conftest import unique_name
from test_forms import PLUGIN, _errors, _form  # the forms tests' own helpers

EMBED = "gt.detections.embedding"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """22 scenes (~65 objects: one near-copy pair, one photo crop), 1 scene without
    objects and 1 sample with no Detections at all, embedded once per module."""
    for ds in objects_data.embedded_dataset(tmp_path_factory.mktemp("scenes"), 22, seed=3,
                                            near_copy=True, off_domain=True, empty=1):
        ds.add_sample(fo.Sample(filepath=ds.first().filepath))  # gt is None
        yield ds


@pytest.fixture
def objects(base):
    ds = base.clone(unique_name("winnow-test-objects"))
    yield ds, objects_data.truth(ds)
    if fo.dataset_exists(ds.name):
        fo.delete_dataset(ds.name)


def _kind(truth, kind):
    return [i for i, t in truth.items() if t["kind"] == kind]


def _sample_fields(ds):
    return sorted(ds.get_field_schema())


# ------------------------------------------------------------------ input layer


def test_load_vectors_reads_objects_with_their_sample_and_class(objects):
    ds, truth = objects
    vec = inputs.load_vectors(ds, "embedding", True, patches_field="gt")
    ids, X, labels, skipped = vec  # still unpacks as the 4-tuple
    assert sorted(ids) == sorted(truth) and skipped == 0
    assert X.shape == (len(truth), 1280) and X.dtype == np.float32
    assert [truth[i]["sample_id"] for i in ids] == vec.sample_ids
    assert [truth[i]["class"] for i in ids] == labels.tolist()
    assert vec.patches == inputs.PatchesField("gt", "detections", "gt.detections")
    # The row of an object is that object's stored vector.
    one = ds.select_labels(ids=[ids[5]], fields="gt").first().gt.detections[0]
    assert np.allclose(X[5], one.embedding)
    # Sample rows are unchanged: no sample_ids, no patches.
    assert inputs.Vectors(["a"], X[:1], None, 0).sample_ids is None


def test_objects_without_a_vector_are_skipped_and_counted(objects):
    ds, truth = objects
    gone = list(truth)[:2]
    ds.set_label_values(EMBED, {i: None for i in gone})
    ids, X, labels, skipped = inputs.load_vectors(ds, "embedding", patches_field="gt")
    assert skipped == 2 and len(ids) == len(truth) - 2 and not set(gone) & set(ids)
    assert labels is None


def test_bad_objects_input_is_one_clear_error(objects):
    ds, truth = objects
    ds.add_sample_field("kind", fof.StringField)
    with pytest.raises(ValueError, match="Detections or Polylines field; 'kind' is a"):
        inputs.load_vectors(ds, "embedding", patches_field="kind")
    with pytest.raises(ValueError, match="No field 'nope'"):
        find_outliers(ds, patches_field="nope")
    with pytest.raises(ValueError, match="attribute of the objects"):
        inputs.load_vectors(ds, "gt.detections.embedding", patches_field="gt")
    with pytest.raises(ValueError, match="No object of 'gt' has a 'missing' vector"):
        find_outliers(ds, embeddings_field="missing", patches_field="gt")
    empty = ds.filter_labels("gt", F("label") == "no such class", only_matches=False)
    with pytest.raises(ValueError, match="no objects in 'gt'"):
        find_outliers(empty, patches_field="gt")
    ds.set_label_values("gt.detections.label", {list(truth)[0]: None})
    with pytest.raises(ValueError, match="1 objects have no 'gt.detections.label'"):
        inputs.load_vectors(ds, "embedding", True, patches_field="gt")
    # The objects' own attributes are never results.
    with pytest.raises(ValueError, match="Refusing to write the objects' attribute 'label'"):
        find_outliers(ds, score_field="label", patches_field="gt")
    assert not runs.list_runs(ds) and not ds.count_label_tags()


# ---------------------------------------------------------------------- steps


def test_find_outliers_on_objects(objects):
    ds, truth = objects
    before = _sample_fields(ds)
    res = find_outliers(ds, count=3, patches_field="gt", progress=False)
    photo, = _kind(truth, "photo")
    assert res.num_samples == len(truth) and res.num_outliers == 3
    assert photo in res.outlier_ids and set(res.outlier_ids) <= set(truth)
    # Scores on every object; the photo crop is the most outlying of all.
    ids, scores = ds.values(["gt.detections.id", "gt.detections.outlier_score"],
                            unwind=True)
    assert len(ids) == len(truth) and None not in scores
    assert ids[int(np.argmax(scores))] == photo
    # Sample level untouched: no new sample field, no sample tag.
    assert _sample_fields(ds) == before and not ds.count_sample_tags()
    assert ds.count_label_tags() == {"outlier": 3}
    tagged = ds.select_labels(tags="outlier").values("gt.detections.id", unwind=True)
    assert sorted(tagged) == sorted(res.outlier_ids)
    # The saved view opens as a patches view of exactly those objects.
    view = ds.load_saved_view(res.saved_view)
    assert view._is_patches and len(view) == 3
    assert sorted(view.values("gt.id")) == sorted(res.outlier_ids)
    run = runs.get_run(ds, res.run_key)
    assert run["patches_field"] == "gt"
    assert run["roles"] == {"score": "gt.detections.outlier_score"}
    assert run["label_tags"] == {"outlier": ["gt"]} and run["tags"] == []


def test_rerun_replaces_only_its_own_and_delete_run_removes_exactly_it(objects):
    ds, truth = objects
    ds.select_labels(ids=list(truth)[:1], fields="gt").tag_labels("mine", label_fields="gt")
    first = find_outliers(ds, count=4, patches_field="gt", progress=False)
    red = find_redundant(ds, count=1, patches_field="gt", progress=False)
    second = find_outliers(ds, count=2, patches_field="gt", progress=False)
    assert second.run_key == first.run_key
    assert ds.count_label_tags() == {"outlier": 2, "redundant": 1, "mine": 1}
    # A user's attribute of the same name is not Winnow's to overwrite.
    ds.set_label_values("gt.detections.user_score", {list(truth)[0]: 1.0})
    with pytest.raises(ValueError, match="not written by Winnow"):
        find_outliers(ds, score_field="user_score", tag="o2", patches_field="gt")
    runs.delete_run(ds, second.run_key)
    flat = ds.get_field_schema(flat=True)
    assert "gt.detections.outlier_score" not in flat and not ds.count("gt.detections.outlier_score")
    assert not ds.has_saved_view(second.saved_view)
    assert ds.count_label_tags() == {"redundant": 1, "mine": 1}
    # The rest is intact: vectors, labels, the other run's attributes, the user's values.
    assert ds.count(EMBED) == len(truth) and ds.count("gt.detections.label") == len(truth)
    assert ds.count("gt.detections.redundant_of") == 1
    assert ds.count("gt.detections.user_score") == 1
    runs.delete_run(ds, red.run_key)
    assert ds.count_label_tags() == {"mine": 1}
    assert "gt.detections.redundant_of" not in ds.get_field_schema(flat=True)


def test_find_outliers_per_class_by_object_label(objects):
    ds, truth = objects
    res = find_outliers(ds, fraction=0.1, per_class=True, patches_field="gt", progress=False)
    classes = [truth[i]["class"] for i in truth]
    quotas = class_quotas(np.array(classes), res.num_outliers)
    got = {}
    for i in res.outlier_ids:
        got[truth[i]["class"]] = got.get(truth[i]["class"], 0) + 1
    assert got == {c: q for c, q in quotas.items() if q}


def test_find_redundant_links_the_near_copy_to_its_original(objects):
    ds, truth = objects
    before = _sample_fields(ds)
    res = find_redundant(ds, count=1, patches_field="gt", progress=False)
    original, = _kind(truth, "original")
    copy, = _kind(truth, "copy")
    assert res.num_redundant == 1 and set(res.kept_of.items()) <= {(copy, original),
                                                                   (original, copy)}
    (redundant, kept), = res.kept_of.items()
    links = dict(zip(*ds.values(["gt.detections.id", "gt.detections.redundant_of"],
                                unwind=True)))
    assert links[redundant] == kept and sum(v is not None for v in links.values()) == 1
    assert ds.count_label_tags() == {"redundant": 1}
    assert ds.load_saved_view(res.saved_view).values("gt.id") == [redundant]
    assert _sample_fields(ds) == before and not ds.count_sample_tags()


def test_filter_dataset_on_objects(objects):
    ds, truth = objects
    res = filter_dataset(ds, outliers=0.05, redundant=0.05, patches_field="gt",
                         progress=False)
    n = len(truth)
    assert res.num_samples == n and res.num_kept == n - res.num_outliers - res.num_redundant
    assert res.views["kept"] == "winnow-gt-kept"
    kept = ds.load_saved_view("winnow-gt-kept")
    assert kept._is_patches and len(kept) == res.num_kept
    out = set(ds.load_saved_view("winnow-gt-outliers").values("gt.id"))
    red = set(ds.load_saved_view("winnow-gt-redundant").values("gt.id"))
    assert len(out) == res.num_outliers and len(red) == res.num_redundant
    assert not (out & red) and not (set(kept.values("gt.id")) & (out | red))
    assert _kind(truth, "photo")[0] in out
    assert not ds.count_sample_tags() and not ds.has_saved_view("winnow-kept")
    assert runs.get_run(ds, res.run_key)["patches_field"] == "gt"


def test_find_representatives_on_objects(objects):
    ds, truth = objects
    res = find_representatives(ds, k=5, patches_field="gt", progress=False)
    assert res.num_samples == len(truth) and res.num_clusters == 5
    clusters = dict(zip(*ds.values(["gt.detections.id", "gt.detections.cluster"],
                                   unwind=True)))
    assert set(clusters) == set(truth) and set(clusters.values()) == set(range(5))
    # Each medoid is an object of its own cluster, tagged and in the patches view.
    view = ds.load_saved_view(res.saved_view)
    assert view._is_patches and sorted(view.values("gt.id")) == sorted(res.medoid_ids)
    assert sorted(clusters[i] for i in res.medoid_ids) == list(range(5))
    assert ds.count_label_tags() == {"representative": 5} and not ds.count_sample_tags()
    # Per class: every object label has its representative.
    per = find_representatives(ds, k=1, per_class=True, cluster_field="cluster_c",
                               distance_field="d_c", rank_field="r_c", tag="rep_c",
                               patches_field="gt", progress=False)
    assert sorted(truth[i]["class"] for i in per.medoid_ids) == \
        sorted({t["class"] for t in truth.values()})


def test_steps_on_compute_embeddings_objects_skip_zero_area_boxes(objects):
    """The real pipeline: compute_embeddings(patches_field=) gives a zero-area box no
    vector (a reason instead); the steps skip and count it, and score the rest (a
    scene without objects and a sample without the field contribute nothing)."""
    ds, truth = objects
    sample = ds.match(F("gt.detections").length() > 0).first()
    sample.gt.detections.append(fo.Detection(label="Bag", bounding_box=[0.5, 0.5, 0, 0]))
    sample.save()
    winnow.compute_embeddings(ds, patches_field="gt", embeddings_field="emb",
                              num_workers=0, progress=False)
    assert ds.count("gt.detections.emb_error") == 1
    res = find_outliers(ds, count=3, embeddings_field="emb", patches_field="gt",
                        progress=False)
    assert res.num_skipped == 1 and res.num_samples == len(truth)
    assert _kind(truth, "photo")[0] in res.outlier_ids
    red = find_redundant(ds, count=1, embeddings_field="emb", patches_field="gt",
                         progress=False)
    assert set(red.kept_of.items()) <= {(_kind(truth, "copy")[0], _kind(truth, "original")[0]),
                                        (_kind(truth, "original")[0], _kind(truth, "copy")[0])}


# ---------------------------------------------------------------------- forms

@pytest.mark.parametrize("name, params, prop, message", [
    ("find_outliers", dict(score_field="label"), "score_field",
     "Refusing to write the objects' attribute 'label'"),
    ("find_outliers", dict(score_field="user_score"), "score_field", "not written by Winnow"),
    ("find_outliers", dict(tag="mine"), "tag", "Tag 'mine' is in use"),
    ("find_outliers", dict(embeddings_field="nope"), "embeddings_field",
     "compute embeddings first"),
    ("find_redundant", dict(tag="mine"), "tag", "Tag 'mine' is in use"),
    ("filter_dataset", dict(score_field="user_score"), "outliers_percent",
     "not written by Winnow"),
    ("find_representatives", dict(cluster_field="bounding_box"), "cluster_field",
     "Refusing to write the objects' attribute 'bounding_box'"),
])
def test_object_forms_flag_bad_values_with_the_engines_checks(objects, name, params, prop,
                                                              message):
    ds, truth = objects
    ds.select_labels(ids=list(truth)[:1], fields="gt").tag_labels("mine", label_fields="gt")
    ds.set_label_values("gt.detections.user_score", {list(truth)[0]: 1.0})
    form = _form(ds, name, patches_field="gt")
    assert "patches_field" in form and form["embeddings_field"].default == "embedding"
    errors = _errors(ds, name, patches_field="gt", **params)
    assert list(errors) == [prop], errors
    assert message in errors[prop]
    # The defaults are fine on the objects.
    assert _errors(ds, name, patches_field="gt") == {}


def test_object_operators_run_from_python(objects):
    import fiftyone.operators as foo

    ds, truth = objects
    foo.get_operator(PLUGIN + "find_outliers")(ds, patches_field="gt",
                                               count=3).raise_exceptions()
    assert ds.count_label_tags() == {"outlier": 3} and not ds.count_sample_tags()
    assert _kind(truth, "photo")[0] in ds.select_labels(tags="outlier").values(
        "gt.detections.id", unwind=True)
    foo.get_operator(PLUGIN + "find_representatives")(ds, patches_field="gt", k=4) \
        .raise_exceptions()
    assert ds.count("gt.detections.cluster") == len(truth)
    assert len(ds.load_saved_view("winnow-gt-representatives")) == 4


# ---------------------------------------------------------------------- curate


def test_curate_on_objects(objects):
    ds, truth = objects
    with pytest.raises(ValueError, match="label_field may only be 'gt'"):
        winnow.curate(ds, patches_field="gt", label_field="kind", image_issues=False)
    with pytest.raises(ValueError, match="attribute of the objects"):
        winnow.curate(ds, patches_field="gt", per_class="gt.label", image_issues=False)
    assert not runs.list_runs(ds)
    res = winnow.curate(ds, patches_field="gt", k=4, image_issues=False, progress=False)
    n = len(truth)
    assert res.num_samples == n and res.patches_field == "gt"
    steps = [row[0] for row in res.rows]
    assert steps == ["object embeddings", "outliers", "redundant", "kept", "representatives"]
    assert res.rows[0][1] == "%d reused" % n
    assert res.steps["filter"].views["kept"] == "winnow-gt-kept"
    assert res.steps["representatives"].num_clusters == 4
    assert "objects of 'gt'" in repr(res)
    assert not ds.count_sample_tags()
    assert {r["patches_field"] for r in runs.list_runs(ds)} == {"gt"}


def test_curate_on_objects_with_their_labels(objects):
    ds, truth = objects
    res = winnow.curate(ds, patches_field="gt", label_field="gt", k=1, image_issues=False,
                        progress=False)
    assert [row[0] for row in res.rows][-2:] == ["representatives", "label issues"]
    # One representative per object label.
    reps = res.steps["representatives"]
    assert sorted(truth[i]["class"] for i in reps.medoid_ids) == \
        sorted({t["class"] for t in truth.values()})
    assert res.steps["label_issues"].patches_field == "gt"
    assert not ds.count_sample_tags()
    # Objects of classes too rare to learn out of sample are not scored.
    counts = {}
    for t in truth.values():
        counts[t["class"]] = counts.get(t["class"], 0) + 1
    floor = MIN_CLASS_SAMPLES
    assert ds.count("gt.detections.label_quality") == \
        sum(c for c in counts.values() if c >= floor)


def test_polylines_run_through_their_boxes(objects):
    """A Polylines field's objects are rows too (here: each box as a polygon carrying
    the box's vector); results land on the polylines."""
    ds, truth = objects
    ds.add_sample_field("poly", fo.EmbeddedDocumentField, embedded_doc_type=fo.Polylines)
    ds.add_sample_field("poly.polylines.embedding", fof.VectorField)
    for sample in ds.iter_samples(autosave=True):
        if sample.gt is not None:
            sample["poly"] = fo.Polylines(polylines=[
                fo.Polyline.from_rotated_box(*_box_center(d.bounding_box), 0.0,
                                             label=d.label, embedding=d.embedding,
                                             kind=d.kind)
                for d in sample.gt.detections])
    res = find_outliers(ds, count=3, patches_field="poly", progress=False)
    ids, kinds, scores = ds.values(["poly.polylines.id", "poly.polylines.kind",
                                    "poly.polylines.outlier_score"], unwind=True)
    assert res.num_samples == len(truth) and set(res.outlier_ids) <= set(ids)
    assert kinds[int(np.argmax(scores))] == "photo"
    assert ds.count_label_tags() == {"outlier": 3}
    assert len(ds.load_saved_view(res.saved_view)) == 3
    assert not ds.count("gt.detections.outlier_score")


def _box_center(box):
    x, y, w, h = box
    return x + w / 2, y + h / 2, w, h


@pytest.mark.parametrize("step", ["outliers", "redundant", "representatives"])
def test_cancel_mid_write_leaves_nothing_on_the_objects(objects, monkeypatch, step):
    """A cancel after the scores are written, while the objects are tagged, takes the
    run back: no attribute (values or schema), no label tag, no view, no record."""
    ds, truth = objects
    before = sorted(ds.get_field_schema(flat=True))

    def cancel(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(inputs, "tag_objects", cancel)
    call = dict(outliers=lambda: find_outliers(ds, count=3, patches_field="gt"),
                redundant=lambda: find_redundant(ds, count=1, patches_field="gt"),
                representatives=lambda: find_representatives(ds, k=3, patches_field="gt"))
    with pytest.raises(KeyboardInterrupt):
        call[step]()
    assert sorted(ds.get_field_schema(flat=True)) == before
    for attr in ("outlier_score", "redundant_of", "redundancy_distance", "cluster"):
        assert not ds.count("gt.detections." + attr)
    assert not ds.count_label_tags() and not ds.list_saved_views()
    assert not runs.list_runs(ds)


def test_a_patches_view_runs_on_its_objects(objects):
    """From a patches view (the App's grid of objects, a saved view of flagged ones) a
    step runs on exactly the objects it shows."""
    ds, truth = objects
    patches = ds.filter_labels("gt", F("label").is_in(["Bag", "Sneaker", "Sandal"])) \
        .to_patches("gt")
    shown = set(patches.values("gt.id"))
    res = find_outliers(patches, count=2, patches_field="gt", progress=False)
    assert res.num_samples == len(shown) and set(res.outlier_ids) <= shown
    scored = dict(zip(*ds.values(["gt.detections.id", "gt.detections.outlier_score"],
                                 unwind=True)))
    assert {i for i, v in scored.items() if v is not None} == shown
    # The operator's form takes the patches view too (its target view).
    import fiftyone.operators as foo
    from fiftyone.operators.executor import ExecutionContext, Executor

    uri = PLUGIN + "find_redundant"
    ctx = ExecutionContext(request_params=dict(
        dataset_name=ds.name, view=patches._serialize(),
        params=dict(patches_field="gt", tag="near")), executor=Executor(), operator_uri=uri)
    assert ctx.target_view()._is_patches
    form = foo.get_operator(uri).resolve_input(ctx).type.properties
    assert not [p.error_message for p in form.values() if p.invalid]
    assert form["embeddings_field"].default == "embedding"


def test_sample_and_object_runs_share_default_tags_without_clashing(objects):
    """Sample tags and a label field's tags are separate namespaces: a sample-level
    and an object-level run keep their default tag, and each run's cleanup removes only
    its own."""
    ds, truth = objects
    ds.set_values("embedding", [np.asarray(v, dtype=np.float32).mean(0) if v else None
                                for v in ds.values(EMBED)])
    on_samples = find_outliers(ds, count=2, progress=False)
    on_objects = find_outliers(ds, count=3, patches_field="gt", progress=False)
    assert on_samples.run_key != on_objects.run_key
    assert ds.count_sample_tags() == {"outlier": 2}
    assert ds.count_label_tags() == {"outlier": 3}
    # A user's label tag on the objects field is still refused.
    ds.select_labels(ids=list(truth)[:1], fields="gt").tag_labels("mine", label_fields="gt")
    with pytest.raises(ValueError, match="Tag 'mine' is in use: 1 labels of 'gt'"):
        find_outliers(ds, count=3, tag="mine", score_field="s2", patches_field="gt")
    runs.delete_run(ds, on_objects.run_key)
    assert ds.count_sample_tags() == {"outlier": 2}
    assert ds.count_label_tags() == {"mine": 1}
    runs.delete_run(ds, on_samples.run_key)
    assert ds.count_sample_tags() == {}
