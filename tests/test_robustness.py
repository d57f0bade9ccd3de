"""Every Winnow step on bad input (issue 8, reliability).

1. Bad images: the corpus of tests/badcorpus.py mixed into real Fashion-MNIST
   images and photos. Every image step records a readable reason for each
   unreadable file and gives every other sample its result; every step over
   embeddings skips (and reports) the samples without one.
2. Bad parameters: for each public step, one clear ValueError/TypeError that
   names the problem, raised before anything is written (no field, tag, saved
   view or run appears).
"""

import csv
import os

import numpy as np
import pytest

import fiftyone as fo

import winnow
from winnow.demo import DEMO_DIR

import badcorpus
from conftest import unique_name

BAD = sorted(n for n, ok in badcorpus.EXPECTED_READABLE.items() if not ok)
AWKWARD = sorted(n for n, ok in badcorpus.EXPECTED_READABLE.items() if ok)
# Unreadable files that carry a label: the label steps must skip them, not crash.
LABELED_BAD = {"missing.jpg": "Bag", "truncated.jpg": "Sneaker"}
PER_CLASS = 6  # Fashion-MNIST images per class (10 classes)
# The label steps' skipping does not depend on the classifier: a fast one keeps this quick.
LABEL_KW = dict(classifier="logistic", n_estimators=3, progress=False)


# ------------------------------------------------------------------ fixtures


def _fashion_rows(per_class=PER_CLASS):
    with open(os.path.join(DEMO_DIR, "samples.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["ground_truth"]]
    taken, out = {}, []
    for r in rows:
        if taken.get(r["ground_truth"], 0) < per_class:
            taken[r["ground_truth"]] = taken.get(r["ground_truth"], 0) + 1
            out.append(r)
    return out


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, photos):
    """Fashion-MNIST (labeled) + photos + the bad corpus, with the three image
    steps run once (every image is decoded once per step, here only).

    Yields ``(dataset, {step: results})``.
    """
    corpus = badcorpus.build(str(tmp_path_factory.mktemp("bad")), photos["chelsea"])
    samples = [fo.Sample(filepath=os.path.join(DEMO_DIR, r["filepath"]), name=r["filepath"],
                         ground_truth=fo.Classification(label=r["ground_truth"]))
               for r in _fashion_rows()]
    samples += [fo.Sample(filepath=p, name=n) for n, p in photos.items()]
    for name, path in corpus.items():
        s = fo.Sample(filepath=path, name=name)
        if name in LABELED_BAD:
            s["ground_truth"] = fo.Classification(label=LABELED_BAD[name])
        samples.append(s)
    ds = fo.Dataset(unique_name("winnow-test-robust"))
    ds.add_samples(samples, progress=False)

    kw = dict(progress=False, num_workers=1, batch_size=16)
    results = dict(
        embeddings=winnow.compute_embeddings(ds, **kw),
        cam=winnow.compute_cam(ds, **kw),
        tags=winnow.tag_with_pretrained(ds, k=3, **kw),
    )
    yield ds, results
    fo.delete_dataset(ds.name)


def _by_name(ds, field):
    names, values = ds.values(["name", field])
    return dict(zip(names, values))


def _good_names(ds):
    return sorted(n for n in ds.values("name") if n not in BAD)


def _counts(ds, key):
    return winnow.get_run(ds, key)["counts"]


# ------------------------------------------------------------------ 1. bad images


@pytest.mark.parametrize("step, result_fields, error_field, num_ok", [
    ("embeddings", ["embedding"], "embedding_error", "num_embedded"),
    ("cam", ["cam", "cam_prediction", "cam_boxes"], "cam_error", "num_mapped"),
    ("tags", ["pretrained_tags"], "pretrained_tags_error", "num_tagged"),
])
def test_image_steps_record_a_reason_per_unreadable_file(mixed, step, result_fields,
                                                         error_field, num_ok):
    ds, results = mixed
    res = results[step]
    errors = _by_name(ds, error_field)
    assert sorted(n for n, e in errors.items() if e) == BAD
    assert "file not found" in errors["missing.jpg"]
    assert "empty file" in errors["empty.jpg"]
    assert "truncated" in errors["truncated.jpg"]
    assert "cannot identify image" in errors["text.jpg"]
    for field in result_fields:
        values = _by_name(ds, field)
        assert all(values[n] is None for n in BAD), field
        assert all(values[n] is not None for n in _good_names(ds)), field
    assert getattr(res, num_ok) == len(ds) - len(BAD)
    assert res.num_failed == len(BAD) and sum(res.failures.values()) == len(BAD)
    counts = _counts(ds, res.run_key)
    assert counts["failed"] == len(BAD) and counts["samples"] == len(ds)


def test_a_view_of_only_unreadable_files(mixed):
    ds, _ = mixed
    bad = ds.match(fo.ViewField("name").is_in(BAD))
    kw = dict(progress=False, num_workers=0)
    res = winnow.compute_embeddings(bad, embeddings_field="only_bad", **kw)
    assert res.num_embedded == 0 and res.num_failed == len(BAD) and res.dim is None
    res = winnow.compute_cam(bad, heatmap_field="only_bad_cam", prediction_field=None,
                             boxes_field=None, **kw)
    assert res.num_mapped == 0 and res.num_failed == len(BAD)
    res = winnow.tag_with_pretrained(bad, tags_field="only_bad_tags", **kw)
    assert res.num_tagged == 0 and res.num_failed == len(BAD)
    for field in ("only_bad_error", "only_bad_cam_error", "only_bad_tags_error"):
        assert all(bad.values(field)), field
    # Nothing to work on is one clear error, not a crash.
    with pytest.raises(ValueError, match="tags in 'only_bad_tags'"):
        winnow.extract_topics(bad, tags_field="only_bad_tags", topic_field="only_bad_topic")
    for fn in (winnow.find_outliers, winnow.find_redundant, winnow.filter_dataset,
               winnow.find_representatives):
        with pytest.raises(ValueError, match="No sample of the view has a 'only_bad' vector"):
            fn(bad, embeddings_field="only_bad", progress=False)
    for fn in (winnow.find_label_issues, winnow.predict_labels):
        with pytest.raises(ValueError, match="Need at least 2 classes"):
            fn(bad, embeddings_field="only_bad", progress=False)


def test_image_steps_read_awkward_files_correctly(mixed):
    ds, _ = mixed
    emb = _by_name(ds, "embedding")
    assert all(np.isfinite(emb[n]).all() and len(emb[n]) == 1280 for n in AWKWARD)
    # The awkward variants of the cat photo still look like a cat to the classifier
    # (RGBA, palette, CMYK, 16-bit, rotated, huge): the decoder did not garble them.
    top = {n: [c.label for c in t.classifications]
           for n, t in _by_name(ds, "pretrained_tags").items() if t is not None}
    cats = ("tabby", "tiger cat", "Egyptian cat", "lynx", "tiger")
    for n in ("cmyk.jpg", "rgba.png", "palette.png", "large.jpg", "exif_rotated.jpg"):
        assert any(c in cats for c in top[n]), (n, top[n])
    maps = _by_name(ds, "cam")
    assert all(np.isfinite(maps[n].map).all() and maps[n].map.max() > 0 for n in AWKWARD)


def test_topics_skip_samples_without_tags(mixed):
    ds, _ = mixed
    res = winnow.extract_topics(ds, n_topics=5, progress=False)
    topics = _by_name(ds, "topic")
    assert all(topics[n] is None for n in BAD)
    # NMF may give a tagged sample no weight on any topic (then no topic): most get one.
    assigned = [n for n in _good_names(ds) if topics[n] is not None]
    assert len(assigned) >= 0.8 * len(_good_names(ds))
    assert res.num_samples == len(ds) and res.num_assigned == len(assigned)
    counts = _counts(ds, res.run_key)
    assert counts["tagged"] == len(ds) - len(BAD) and counts["assigned"] == len(assigned)


def _assert_skipped(ds, res, fields, tags=()):
    """Samples without an embedding: counted as skipped, no result, no tag."""
    assert res.num_skipped == len(BAD), res
    assert _counts(ds, res.run_key)["skipped"] == len(BAD)
    for field in fields:
        values = _by_name(ds, field)
        assert all(values[n] is None for n in BAD), field
    bad_tags = ds.match(fo.ViewField("name").is_in(BAD)).count_sample_tags()
    assert not set(tags) & set(bad_tags)


def test_outliers_skip_unembedded_samples(mixed):
    ds, _ = mixed
    res = winnow.find_outliers(ds, fraction=0.1, progress=False)
    _assert_skipped(ds, res, ["outlier_score"], ["outlier"])
    scores = _by_name(ds, "outlier_score")
    assert all(0 <= scores[n] <= 1 for n in _good_names(ds))
    n = len(ds) - len(BAD)
    assert res.num_samples == n and res.num_outliers == int(np.ceil(0.1 * n))


def test_redundant_skip_unembedded_samples(mixed):
    ds, _ = mixed
    res = winnow.find_redundant(ds, fraction=0.1, progress=False)
    _assert_skipped(ds, res, ["redundant_of", "redundancy_distance"], ["redundant"])
    n = len(ds) - len(BAD)
    assert res.num_samples == n and res.num_redundant == int(np.floor(0.1 * n))
    bad_ids = set(ds.match(fo.ViewField("name").is_in(BAD)).values("id"))
    assert not bad_ids & set(res.representatives.values())


def test_filter_skips_unembedded_samples_and_keeps_none_of_them(mixed):
    ds, _ = mixed
    res = winnow.filter_dataset(ds, outliers=0.05, redundant=0.1, progress=False)
    _assert_skipped(ds, res, ["outlier_score", "redundant_of"], ["outlier", "redundant"])
    n = len(ds) - len(BAD)
    assert res.num_samples == n and res.num_kept == n - res.num_outliers - res.num_redundant
    kept = ds.load_saved_view(res.views["kept"])
    assert len(kept) == res.num_kept
    assert not set(kept.values("name")) & set(BAD)  # unreadable files are never "kept"


def test_representatives_skip_unembedded_samples(mixed):
    ds, _ = mixed
    res = winnow.find_representatives(ds, k=5, progress=False)
    _assert_skipped(ds, res, ["cluster", "medoid_distance", "medoid_rank"],
                    ["representative"])
    clusters = _by_name(ds, "cluster")
    assert all(0 <= clusters[n] < 5 for n in _good_names(ds))
    res = winnow.find_representatives(ds, k=2, per_class="ground_truth", progress=False)
    _assert_skipped(ds, res, ["cluster"], ["representative"])
    clusters = _by_name(ds, "cluster")
    assert all(clusters[n] is not None for n in _good_names(ds))


def test_label_steps_skip_unembedded_samples(mixed):
    ds, _ = mixed
    res = winnow.find_label_issues(ds, **LABEL_KW)
    _assert_skipped(ds, res, ["label_quality", "suggested_label"], ["label_issue"])
    quality = _by_name(ds, "label_quality")
    labeled_good = sorted(set(ds.exists("ground_truth").values("name")) - set(BAD))
    assert len(labeled_good) == PER_CLASS * 10
    assert all(quality[n] is not None for n in labeled_good)
    assert res.num_labeled == PER_CLASS * 10  # labeled *and* embedded
    assert ds.match_labels(tags="label_issue").count() == res.num_issues

    res = winnow.predict_labels(ds, threshold=0.01, **LABEL_KW)
    _assert_skipped(ds, res, ["predicted_label"])
    preds = _by_name(ds, "predicted_label")
    unlabeled_good = [n for n in _good_names(ds) if n in AWKWARD or n in (
        "chelsea", "coffee", "astronaut", "rocket")]
    assert all(preds[n] is not None for n in unlabeled_good)
    assert res.num_predicted == len(unlabeled_good)


def test_curate_finishes_on_the_mixed_dataset(mixed):
    ds, _ = mixed
    # Without label_field: the label steps' skipping is tested above (with a fast classifier).
    res = winnow.curate(ds, k=4, progress=False)
    assert set(res.steps) == {"image_issues", "filter", "representatives"}
    for step in ("filter", "representatives"):
        assert res.steps[step].num_skipped == len(BAD), step
    # The unreadable files get their reasons from the image-issues pass too.
    assert res.steps["image_issues"].num_failed == len(BAD)
    assert "skipped" in res.table()  # the summary says so
    assert not set(ds.load_saved_view(res.steps["filter"].views["kept"]).values("name")) \
        & set(BAD)


# ------------------------------------------------------------------ 2. bad parameters


@pytest.fixture(scope="module")
def params_ds(mixed):
    """The embedded samples of the mixed set (labels, a string field ``name``,
    embeddings) plus awkward fields: a Detections field, a multi-label field,
    vectors of mixed dimension and NaN vectors.
    """
    ds = mixed[0].exists("embedding").select_fields(["name", "ground_truth", "embedding"]) \
        .clone(unique_name("winnow-test-robust-params"))
    ds.untag_samples(ds.distinct("tags"))  # tags the steps of part 1 wrote
    ds.untag_labels(list(ds.count_label_tags()))
    ids, embs = ds.values(["id", "embedding"])
    mixed_dims = {i: (e[:10] if j == 7 else e) for j, (i, e) in enumerate(zip(ids, embs))}
    nan = {i: (np.full(len(e), np.nan) if j == 11 else e)
           for j, (i, e) in enumerate(zip(ids, embs))}
    ds.set_values("emb_mixed", mixed_dims, key_field="id")
    ds.set_values("emb_nan", nan, key_field="id")
    ds.set_values("dets", {ids[0]: fo.Detections(detections=[
        fo.Detection(label="cat", bounding_box=[0.1, 0.1, 0.5, 0.5])])}, key_field="id")
    ds.set_values("multi", {i: fo.Classifications(classifications=[
        fo.Classification(label="a")]) for i in ids[:5]}, key_field="id")
    # Suggestions to accept, as find_label_issues would write them.
    ds.set_values("review", [fo.Classification(label="Bag")] * len(ds))
    yield ds
    fo.delete_dataset(ds.name)


def _snapshot(ds):
    return (sorted(ds.get_field_schema()), ds.count_sample_tags(), ds.count_label_tags(),
            ds.list_saved_views(), [r["key"] for r in winnow.list_runs(ds)])


W = dict(progress=False)  # the image steps also get num_workers=0 (no model runs anyway)
IMG = dict(progress=False, num_workers=0)
EMPTY = "__empty__"  # run on ds.limit(0)
NOT_A_COLLECTION = "__list__"  # run on a list of samples

CASES = [
    # step, samples, kwargs, error, message
    # -- embeddings (reserved fields, empty view, batch_size: tests/test_embeddings.py)
    ("compute_embeddings", None, dict(embeddings_field="ground_truth", **IMG),
     ValueError, "'ground_truth' already exists"),
    ("compute_embeddings", NOT_A_COLLECTION, dict(**IMG), TypeError, "dataset or view"),
    ("compute_embeddings", None, dict(visualization="mds", **IMG), ValueError,
     "visualization"),
    # -- cam
    ("compute_cam", None, dict(heatmap_field="filepath", **IMG), ValueError, "reserved"),
    ("compute_cam", None, dict(prediction_field="id", **IMG), ValueError, "reserved"),
    ("compute_cam", None, dict(boxes_field="ground_truth", **IMG), ValueError,
     "'ground_truth' already exists"),
    ("compute_cam", None, dict(prediction_field="cam", **IMG), ValueError, "must differ"),
    ("compute_cam", None, dict(target="name", **IMG), ValueError,
     "must be an fo.Classification field"),
    ("compute_cam", None, dict(target="dets", **IMG), ValueError,
     "must be an fo.Classification field"),
    ("compute_cam", None, dict(target=5000, **IMG), ValueError, "out of range"),
    ("compute_cam", None, dict(scales=[8], **IMG), ValueError, "scales"),
    ("compute_cam", None, dict(map_size=0, **IMG), ValueError, "map_size"),
    ("compute_cam", EMPTY, dict(**IMG), ValueError, "empty"),
    ("compute_cam", NOT_A_COLLECTION, dict(**IMG), TypeError, "dataset or view"),
    # -- pretrained tags
    ("tag_with_pretrained", None, dict(k=0, **IMG), ValueError, "k must be"),
    ("tag_with_pretrained", None, dict(k=1001, **IMG), ValueError, "exceeds the model's 1000"),
    ("tag_with_pretrained", None, dict(tags_field="filepath", **IMG), ValueError, "reserved"),
    ("tag_with_pretrained", None, dict(tags_field="id", **IMG), ValueError, "reserved"),
    ("tag_with_pretrained", None, dict(tags_field="ground_truth", **IMG), ValueError,
     "already exists"),
    ("tag_with_pretrained", EMPTY, dict(**IMG), ValueError, "empty"),
    # -- topics (no tags field and n_topics=0: tests/test_cam.py)
    ("extract_topics", None, dict(tags_field="name"), ValueError,
     "must be a Classifications field"),
    ("extract_topics", None, dict(tags_field="dets"), ValueError,
     "must be a Classifications field"),
    ("extract_topics", None, dict(tags_field="multi", topic_field="filepath"), ValueError,
     "reserved"),
    ("extract_topics", None, dict(tags_field="multi", topic_field="ground_truth"),
     ValueError, "already exists"),
    ("extract_topics", None, dict(tags_field="multi", topic_field="id"), ValueError,
     "reserved"),
    ("extract_topics", EMPTY, dict(tags_field="multi"), ValueError, "empty"),
    # -- outliers (fraction, unknown field, empty view, NaN: test_redundancy_outliers.py)
    ("find_outliers", None, dict(score_field="filepath", **W), ValueError, "reserved"),
    ("find_outliers", None, dict(score_field="id", **W), ValueError, "reserved"),
    ("find_outliers", None, dict(score_field="ground_truth", **W), ValueError,
     "already exists"),
    ("find_outliers", None, dict(embeddings_field="ground_truth", **W), ValueError,
     "'ground_truth' is not a vector field"),
    ("find_outliers", None, dict(embeddings_field="name", **W), ValueError,
     "'name' is not a vector field"),
    ("find_outliers", None, dict(embeddings_field="emb_mixed", **W), ValueError,
     "different lengths"),
    ("find_outliers", None, dict(per_class="dets", **W), ValueError,
     "per_class must be a Classification or string field"),
    ("find_outliers", None, dict(per_class="embedding", **W), ValueError,
     "per_class must be a Classification or string field"),
    ("find_outliers", None, dict(tag="", **W), ValueError, "non-empty"),
    ("find_outliers", None, dict(count=10**6, **W), ValueError, "count"),
    # -- redundancy
    ("find_redundant", None, dict(representative_field="filepath", **W), ValueError,
     "reserved"),
    ("find_redundant", None, dict(distance_field="id", **W), ValueError, "reserved"),
    ("find_redundant", None, dict(distance_field="ground_truth", **W), ValueError,
     "already exists"),
    ("find_redundant", None, dict(embeddings_field="ground_truth", **W), ValueError,
     "not a vector field"),
    ("find_redundant", None, dict(embeddings_field="emb_mixed", **W), ValueError,
     "different lengths"),
    ("find_redundant", None, dict(per_class="dets", **W), ValueError,
     "per_class must be a Classification or string field"),
    ("find_redundant", None, dict(max_distance=3.0, **W), ValueError, "max_distance"),
    ("find_redundant", None, dict(count=10**6, **W), ValueError, "count"),
    # -- filter
    ("filter_dataset", None, dict(score_field="filepath", **W), ValueError, "reserved"),
    ("filter_dataset", None, dict(representative_field="id", **W), ValueError, "reserved"),
    ("filter_dataset", None, dict(distance_field="ground_truth", **W), ValueError,
     "already exists"),
    ("filter_dataset", None, dict(embeddings_field="name", **W), ValueError,
     "not a vector field"),
    ("filter_dataset", None, dict(embeddings_field="emb_mixed", **W), ValueError,
     "different lengths"),
    ("filter_dataset", None, dict(per_class="dets", **W), ValueError,
     "per_class must be a Classification or string field"),
    ("filter_dataset", None, dict(outlier_tag="x", redundant_tag="x", **W), ValueError,
     "must differ"),
    # -- representatives (k > N, k=0, unknown fields, empty: test_representatives.py)
    ("find_representatives", None, dict(cluster_field="id", **W), ValueError, "reserved"),
    ("find_representatives", None, dict(rank_field="ground_truth", **W), ValueError,
     "already exists"),
    ("find_representatives", None, dict(embeddings_field="ground_truth", **W), ValueError,
     "not a vector field"),
    ("find_representatives", None, dict(embeddings_field="emb_mixed", **W), ValueError,
     "different lengths"),
    ("find_representatives", None, dict(embeddings_field="emb_nan", **W), ValueError, "NaN"),
    ("find_representatives", None, dict(per_class="dets", **W), ValueError,
     "per_class must be a Classification or string field"),
    ("find_representatives", None, dict(k=1.0, **W), ValueError, "k must be"),
    ("find_representatives", NOT_A_COLLECTION, dict(**W), TypeError, "dataset or view"),
    # -- label issues (unknown/string label field, unknown embeddings, reserved quality
    #    field, user's field: test_label_issues.py)
    ("find_label_issues", None, dict(label_field="dets", **W), ValueError,
     "must hold fo.Classification"),
    ("find_label_issues", None, dict(embeddings_field="ground_truth", **W), ValueError,
     "not a vector field"),
    ("find_label_issues", None, dict(embeddings_field="emb_mixed", **W), ValueError,
     "different lengths"),
    ("find_label_issues", None, dict(embeddings_field="emb_nan", **W), ValueError, "NaN"),
    ("find_label_issues", None, dict(quality_field="id", **W), ValueError, "reserved"),
    ("find_label_issues", None, dict(suggestion_field="filepath", **W), ValueError,
     "reserved"),
    ("find_label_issues", None, dict(suggest_threshold=1.5, **W), ValueError,
     "suggest_threshold"),
    ("find_label_issues", None, dict(n_estimators=1000, **W), ValueError,
     "Need at least"),
    ("find_label_issues", EMPTY, dict(**W), ValueError, "empty"),
    # -- predict labels
    ("predict_labels", None, dict(label_field="nope", **W), ValueError, "No field 'nope'"),
    ("predict_labels", None, dict(label_field="name", **W), ValueError,
     "must hold fo.Classification"),
    ("predict_labels", None, dict(label_field="dets", **W), ValueError,
     "must hold fo.Classification"),
    ("predict_labels", None, dict(embeddings_field="nope", **W), ValueError,
     "No embeddings field 'nope'"),
    ("predict_labels", None, dict(embeddings_field="name", **W), ValueError,
     "not a vector field"),
    ("predict_labels", None, dict(embeddings_field="emb_mixed", **W), ValueError,
     "different lengths"),
    ("predict_labels", None, dict(embeddings_field="emb_nan", **W), ValueError, "NaN"),
    ("predict_labels", None, dict(prediction_field="filepath", **W), ValueError, "reserved"),
    ("predict_labels", None, dict(prediction_field="id", **W), ValueError, "reserved"),
    ("predict_labels", None, dict(max_samples=1.5, **W), ValueError, "max_samples"),
    ("predict_labels", EMPTY, dict(**W), ValueError, "empty"),
    # -- curate (unknown label field, empty view: tests/test_curate.py). Each must fail
    #    before the first step writes anything.
    ("curate", None, dict(label_field="name", **W), ValueError,
     "must hold fo.Classification"),
    ("curate", None, dict(label_field="dets", **W), ValueError, "must hold fo.Classification"),
    ("curate", None, dict(label_field="multi", **W), ValueError,
     "Need at least 2 classes with >= \\d+ labeled"),
    ("curate", None, dict(outliers=1.5, **W), ValueError, "outliers must be"),
    ("curate", None, dict(redundant=-0.1, **W), ValueError, "redundant must be"),
    ("curate", None, dict(k=10**6, **W), ValueError, "larger than the number of samples"),
    ("curate", None, dict(k=0, **W), ValueError, "k must be"),
    ("curate", None, dict(per_class="dets", **W), ValueError,
     "per_class must be a Classification or string field"),
    ("curate", None, dict(embeddings_field="emb_nan", **W), ValueError, "NaN"),
    ("curate", None, dict(embeddings_field="emb_mixed", **W), ValueError, "different lengths"),
    ("curate", None, dict(embeddings_field="name", **W), ValueError, "not a vector field"),
    # -- accept suggestions (unknown suggestion field, fields that must differ, tag:
    #    test_label_issues.py)
    ("accept_suggestions", None, dict(suggestion_field="multi"), ValueError,
     "different label types"),
    ("accept_suggestions", None, dict(suggestion_field="name"), ValueError,
     "must hold fo.Classification"),
    ("accept_suggestions", None, dict(label_field="filepath"), ValueError,
     "must hold fo.Classification"),
    ("accept_suggestions", None, dict(label_field="id"), ValueError,
     "must hold fo.Classification"),
    ("accept_suggestions", None, dict(label_field="dets"), ValueError,
     "must hold fo.Classification"),
    ("accept_suggestions", None, dict(history_field="filepath"), ValueError, "reserved"),
    ("accept_suggestions", None, dict(history_field="name"), ValueError, "already exists"),
    ("accept_suggestions", EMPTY, dict(), ValueError, "empty"),
]


def _case_id(case):
    step, which, kwargs = case[:3]
    shown = ["%s=%s" % (k, v) for k, v in kwargs.items() if k not in IMG]
    return "-".join([step] + ([which.strip("_")] if which else []) + shown)


@pytest.mark.parametrize("step, which, kwargs, error, match", CASES,
                         ids=[_case_id(c) for c in CASES])
def test_bad_parameters_raise_one_clear_error_before_writing(params_ds, step, which, kwargs,
                                                             error, match):
    ds = params_ds
    if step == "accept_suggestions":
        kwargs = dict(dict(suggestion_field="review"), **kwargs)
    samples = ds
    if which == EMPTY:
        samples = ds.limit(0)
    elif which == NOT_A_COLLECTION:
        samples = list(ds.limit(3))
    before = _snapshot(ds)
    with pytest.raises(error, match=match):
        getattr(winnow, step)(samples, **kwargs)
    assert _snapshot(ds) == before
