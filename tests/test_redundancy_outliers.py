"""The dataset filter on real images and embeddings: outliers, redundancy, filter, operators."""

import math
import os

import numpy as np
import pytest
from PIL import Image

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone.operators.executor import ExecutionContext, Executor

import winnow
from winnow.plugin import redundancy as red
from winnow.plugin.vectors import class_quotas


@pytest.fixture
def demo(demo_embedded):
    ds = demo_embedded.clone()
    yield ds
    fo.delete_dataset(ds.name)


def _keeper(ds, field="redundant_of"):
    """{id: id of the sample kept for it (itself when kept)}."""
    ids, links = ds.values(["id", field])
    return {i: (link or i) for i, link in zip(ids, links)}


# ---------------------------------------------------------------- outliers


def test_outliers_exact_count_and_photos_rank_top(demo):
    n = len(demo)
    res = winnow.find_outliers(demo, fraction=0.05, progress=False)
    expected = math.ceil(0.05 * n)
    assert res.num_outliers == expected == len(demo.match_tags("outlier"))
    scores = np.array(demo.values("outlier_score"))
    assert np.isfinite(scores).all() and scores.min() >= 0 and scores.max() <= 1
    # The 6 scikit-image photos inside Fashion-MNIST are the 6 highest scores.
    photo = np.array(["photo" in t for t in demo.values("tags")])
    ranks = np.argsort(np.argsort(-scores, kind="stable"), kind="stable")
    assert sorted(ranks[photo].tolist()) == list(range(photo.sum()))
    assert len(demo.match_tags("photo").match_tags("outlier")) == photo.sum()
    run = winnow.get_run(demo, res.run_key)
    assert run["fields"] == ["outlier_score"] and run["tags"] == ["outlier"]
    # delete_run takes back exactly the field and the tag.
    winnow.delete_run(demo, res.run_key)
    assert "outlier_score" not in demo.get_field_schema()
    assert "outlier" not in demo.count_sample_tags()


def _photo_ranks(ds, scores):
    photo = np.array(["photo" in t for t in ds.values("tags")])
    ranks = np.argsort(np.argsort(-np.asarray(scores), kind="stable"), kind="stable")
    return sorted(ranks[photo].tolist()), int(photo.sum())


def test_sampled_scores_are_hdbscans_approximate_predict_scores(demo_embedded):
    import hdbscan
    import hdbscan.prediction
    from winnow.plugin import outliers, vectors

    Z = vectors.reduce_dimensions(np.array(demo_embedded.values("embedding")), 32)
    Z = Z.astype(np.float64)
    fitted, new = Z[:200], Z[200:]
    clusterer = hdbscan.HDBSCAN(min_cluster_size=10, min_samples=5, prediction_data=True,
                                allow_single_cluster=True).fit(fitted)
    expected = hdbscan.prediction.approximate_predict_scores(clusterer, new)
    got = outliers.approximate_scores(clusterer, fitted, new)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert expected.std() > 0.05  # a real spread of scores, not all ties


def test_sampled_method_still_ranks_the_photos_top(demo_embedded):
    # HDBSCAN fitted on half the rows; the other half scored against its tree.
    X = np.array(demo_embedded.values("embedding"))
    exact = winnow.outlier_scores(X, method="exact")
    sampled = winnow.outlier_scores(X, method="sampled", sample_size=len(X) // 2)
    assert not np.allclose(exact, sampled)  # it did take the other path
    ranks, num_photos = _photo_ranks(demo_embedded, sampled)
    # Fitted on 153 rows, every photo is still among the 5 % tagged by default.
    assert num_photos == 6 and max(ranks) < math.ceil(0.05 * len(X))
    # auto: exact up to sample_size rows, sampled beyond.
    np.testing.assert_array_equal(winnow.outlier_scores(X), exact)
    np.testing.assert_array_equal(
        winnow.outlier_scores(X, sample_size=len(X) // 2), sampled)
    with pytest.raises(ValueError, match="method must be one of"):
        winnow.outlier_scores(X, method="fast")
    with pytest.raises(ValueError, match="sample_size"):
        winnow.outlier_scores(X, method="sampled", sample_size=1)


def test_identical_embeddings_do_not_zero_a_clusters_scores(demo_embedded):
    # 15 copies of one image: without care its density is infinite and GLOSH scores
    # its whole cluster 0 (it did, for 54 % of 3 000 Fashion-MNIST rows).
    X = np.array(demo_embedded.values("embedding"))
    copies = np.vstack([X, np.repeat(X[:1], 15, axis=0)])
    for method, kwargs in [("exact", {}), ("sampled", dict(sample_size=200))]:
        plain = winnow.outlier_scores(X, reduce=None, method=method, **kwargs)
        scores = winnow.outlier_scores(copies, reduce=None, method=method, **kwargs)
        np.testing.assert_array_equal(scores[:len(X)], plain)
        assert (scores[len(X):] == plain[0]).all()
    ranks, _ = _photo_ranks(demo_embedded, winnow.outlier_scores(copies)[:len(X)])
    assert ranks == list(range(6))


def test_near_copies_do_not_squash_a_clusters_scores(demo_embedded, monkeypatch):
    # 15 jittered copies of one image (burst shots, re-encodes): not identical, but
    # their core distance is near 0, and GLOSH, relative to the cluster's densest
    # point, pushed the other members' scores towards 1 (45 % above 0.99 among
    # 3 000 Fashion-MNIST rows). Fitted as one row, they change nothing.
    from scipy.stats import spearmanr
    from winnow.plugin import outliers

    X = np.array(demo_embedded.values("embedding"))
    rng = np.random.RandomState(0)
    jitter = 1e-3 * X.std() * rng.normal(size=(15, X.shape[1])).astype(np.float32)
    copies = np.vstack([X, X[:1] + jitter])
    # reduce=None: a PCA fitted with the copies would move every row a little.
    plain = winnow.outlier_scores(X, reduce=None)
    assert outliers.near_copies(outliers.vectors.l2_normalize(X))[0] is None
    for method, kwargs in [("exact", {}), ("sampled", dict(sample_size=200))]:
        scores = winnow.outlier_scores(copies, reduce=None, method=method, **kwargs)
        # Copies outside the sample are scored one by one against the fitted tree.
        np.testing.assert_allclose(scores[len(X):], scores[0], atol=1e-3)
        if method == "exact":
            np.testing.assert_array_equal(scores[:len(X)], plain)
    ranks, _ = _photo_ranks(demo_embedded, winnow.outlier_scores(copies)[:len(X)])
    assert ranks == list(range(6))
    # Without the grouping, the same input squashes the scores (the failure fixed).
    monkeypatch.setattr(outliers, "near_copies", lambda Z: (None, None))
    squashed = winnow.outlier_scores(copies, reduce=None)[:len(X)]
    assert (squashed > 0.99).mean() > (plain > 0.99).mean() + 0.2
    assert spearmanr(squashed, plain)[0] < 0.99


def test_vectors_are_read_in_batches_in_view_order(demo):
    # Batched reads (20 000 rows each by default) keep the peak near one copy of the
    # embeddings; a sorted view with unembedded samples must come back in its order.
    from winnow.plugin import inputs

    ids = demo.values("id")
    demo.select(ids[:5]).set_field("embedding", None).save()
    view = demo.sort_by("filepath", reverse=True)
    got_ids, X, _, skipped = inputs.load_vectors(view, "embedding")
    expected = [(i, v) for i, v in zip(*view.values(["id", "embedding"])) if v is not None]
    assert skipped == 5 and got_ids == [i for i, _ in expected]
    batched = inputs.read_vectors(view, got_ids, "embedding", batch_size=7)
    np.testing.assert_array_equal(batched, np.stack([v for _, v in expected]))
    np.testing.assert_array_equal(batched, X)


def test_outliers_rerun_replaces_and_refuses_foreign_tag(demo):
    winnow.find_outliers(demo, fraction=0.1, progress=False)
    winnow.find_outliers(demo, fraction=0.02, progress=False)  # own tag: replaced
    assert len(demo.match_tags("outlier")) == math.ceil(0.02 * len(demo))
    demo.limit(3).tag_samples("mine")
    with pytest.raises(ValueError, match="tag 'mine'"):
        winnow.find_outliers(demo, fraction=0.05, tag="mine", score_field="s2", progress=False)
    assert "s2" not in demo.get_field_schema()


# ---------------------------------------------------------------- redundancy


def test_redundant_exact_count_and_links_to_kept(demo):
    n = len(demo)
    res = winnow.find_redundant(demo, fraction=0.1, progress=False)
    assert res.num_redundant == math.floor(0.1 * n) == len(demo.match_tags("redundant"))
    assert res.method == "exact"
    tagged = demo.match_tags("redundant")
    kept_ids = set(demo.match_tags("redundant", bool=False).values("id"))
    for rid, link, dist in zip(*tagged.values(["id", "redundant_of", "redundancy_distance"])):
        assert link in kept_ids and link != rid
        assert 0.0 <= dist < 1.0
    # Kept samples carry no link.
    assert set(demo.exists("redundant_of").values("id")) == set(tagged.values("id"))


def test_exact_method_is_sklearn_agglomerative(demo_embedded):
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import adjusted_rand_score

    X = np.stack(demo_embedded.values("embedding"))
    res = red.redundancy_clusters(X, n_clusters=250, method="exact")
    sk = AgglomerativeClustering(n_clusters=250, metric="cosine",
                                 linkage="average").fit_predict(X)
    assert adjusted_rand_score(res["cluster"], sk) == pytest.approx(1.0)


def test_partitioned_method_agrees_with_exact(demo_embedded):
    X = np.stack(demo_embedded.values("embedding"))
    agreement = {}
    for fraction in (0.05, 0.2):
        k = len(X) - int(fraction * len(X))
        exact = red.redundancy_clusters(X, n_clusters=k, method="exact")
        part = red.redundancy_clusters(X, n_clusters=k, method="partitioned",
                                       partition_size=80)
        assert part["method"] == "partitioned" and part["num_partitions"] >= 4
        assert part["redundant"].sum() == exact["redundant"].sum()
        a, b = exact["redundant"], part["redundant"]
        agreement[fraction] = (a & b).sum() / float((a | b).sum())
        # Every redundant row still links to a kept row.
        reps = part["representative"][b]
        assert not part["redundant"][reps].any()
    print("partitioned vs exact, Jaccard of redundant sets:", agreement)
    assert agreement[0.05] >= 0.8 and agreement[0.2] >= 0.7


def test_exact_method_refuses_past_memory_budget():
    X = np.random.RandomState(0).rand(400, 8)
    with pytest.raises(ValueError, match="exact method needs"):
        red.redundancy_clusters(X, n_clusters=300, method="exact", memory_budget=10 ** 6)
    res = red.redundancy_clusters(X, n_clusters=300, memory_budget=10 ** 6)  # auto
    assert res["method"] == "partitioned" and res["redundant"].sum() == 100


def _plant_copies(ds, tmp_path):
    """Exact, resized and re-encoded copies of real demo images, embedded for real."""
    originals = ds.match_tags("photo", bool=False).skip(10).limit(4)
    originals = list(originals) + [ds.match_tags("photo").first()]
    planted = []
    for k, s in enumerate(originals):
        img = Image.open(s.filepath).convert("RGB")
        exact = tmp_path / ("exact_%d.png" % k)
        img.save(exact)
        resized = tmp_path / ("resized_%d.png" % k)
        w, h = img.size
        scale = 2.0 if w < 100 else 0.5
        img.resize((int(w * scale), int(h * scale)), Image.BILINEAR).save(resized)
        jpeg = tmp_path / ("reencoded_%d.jpg" % k)
        img.save(jpeg, quality=85)
        for path in (exact, resized, jpeg):
            planted.append(fo.Sample(filepath=str(path), tags=["planted"], copy_of=s.id))
    ds.add_samples(planted, progress=False)
    winnow.compute_embeddings(ds.match_tags("planted"), progress=False)
    return ds.match_tags("planted")


def test_planted_duplicates_are_found_and_linked_to_originals(demo, tmp_path):
    planted = _plant_copies(demo, tmp_path)
    assert len(planted.exists("embedding")) == 15
    n = len(demo)
    winnow.find_redundant(demo, fraction=0.1, progress=False)
    keeper = _keeper(demo)
    for pid, original in zip(*planted.values(["id", "copy_of"])):
        assert keeper[pid] == keeper[original], "copy not linked to its original"
    # Each group (original + 3 copies) keeps exactly one sample.
    groups = {}
    for pid, original in zip(*planted.values(["id", "copy_of"])):
        groups.setdefault(original, {original}).add(pid)
    tagged = set(demo.match_tags("redundant").values("id"))
    for members in groups.values():
        assert len(members - tagged) == 1
    assert len(tagged) == math.floor(0.1 * n)

    # Near-duplicate mode: a cosine cut finds the same links (the copies sit at 0.00-0.09
    # from their originals; half the distinct demo images are 0.16+ from their nearest).
    res = winnow.find_redundant(demo, max_distance=0.1, progress=False, tag="dup",
                                representative_field="dup_of", distance_field="dup_dist")
    keeper = _keeper(demo, "dup_of")
    for pid, original in zip(*planted.values(["id", "copy_of"])):
        assert keeper[pid] == keeper[original]
    assert res.num_redundant >= 15
    # Exact copies embed exactly like their originals.
    emb = dict(zip(*demo.values(["id", "embedding"])))
    exact_copies = planted.match(fo.ViewField("filepath").contains_str("exact_"))
    for pid, original in zip(*exact_copies.values(["id", "copy_of"])):
        assert np.allclose(emb[pid], emb[original], atol=1e-4)


# ---------------------------------------------------------------- filter


def test_filter_dataset_thesis_way_views_and_cleanup(demo, tmp_path):
    n = len(demo)
    res = winnow.filter_dataset(demo, outliers=0.05, redundant=0.1, progress=False)
    n_out, n_red = math.ceil(0.05 * n), math.floor(0.1 * n)
    assert (res.num_outliers, res.num_redundant, res.num_kept) == (n_out, n_red,
                                                                  n - n_out - n_red)
    names = res.views
    assert set(demo.list_saved_views()) >= set(names.values())
    kept = demo.load_saved_view(names["kept"])
    assert len(kept) == n - n_out - n_red
    assert len(demo.load_saved_view(names["outliers"])) == n_out
    assert len(demo.load_saved_view(names["redundant"])) == n_red
    assert not set(demo.match_tags("outlier").values("id")) & set(
        demo.match_tags("redundant").values("id"))
    kept_ids = set(kept.values("id"))
    for link in demo.match_tags("redundant").values("redundant_of"):
        assert link in kept_ids  # neither redundant nor an outlier

    out = tmp_path / "kept.txt"
    assert winnow.export_kept(demo, str(out)) == len(kept)
    assert out.read_text().splitlines() == kept.values("filepath")
    with pytest.raises(ValueError, match="exists"):
        winnow.export_kept(demo, str(out))

    winnow.delete_run(demo, res.run_key)
    assert not set(demo.list_saved_views()) & set(names.values())


def test_class_aware_filter_keeps_proportions(demo):
    labeled = demo.exists("ground_truth")
    labels = labeled.values("ground_truth.label")
    sizes = {c: labels.count(c) for c in set(labels)}
    res = winnow.filter_dataset(labeled, outliers=0.1, redundant=0.4,
                                per_class="ground_truth", progress=False)
    n = len(labeled)
    assert res.num_kept == n - math.ceil(0.1 * n) - math.floor(0.4 * n)
    kept = demo.load_saved_view(res.views["kept"]).values("ground_truth.label")
    for c, size in sizes.items():
        assert abs(kept.count(c) - 0.5 * size) <= 1.0, (c, kept.count(c), size)
    # Redundant samples link within their own class.
    gt = dict(zip(*demo.values(["id", "ground_truth.label"])))
    for rid, link in zip(*demo.match_tags("redundant").values(["id", "redundant_of"])):
        assert gt[rid] == gt[link]
    assert res.class_counts and all(v["kept"] > 0 for v in res.class_counts.values())


def test_filter_arrays_counts_links_and_class_proportions(demo_embedded):
    from winnow.plugin.filtering import filter_arrays

    labeled = demo_embedded.exists("ground_truth")
    X = np.stack(labeled.values("embedding"))
    y = np.array(labeled.values("ground_truth.label"))
    n = len(X)
    for labels in (None, y):
        res = filter_arrays(X, outliers=0.1, redundant=0.3, labels=labels)
        assert res["outlier"].sum() == math.ceil(0.1 * n)
        assert res["redundant"].sum() == math.floor(0.3 * n)
        assert not (res["outlier"] & res["redundant"]).any()
        reps = res["representative"][res["redundant"]]
        assert res["kept"][reps].all()
    for c in np.unique(y):
        assert abs(res["kept"][y == c].sum() - 0.6 * (y == c).sum()) <= 1.0


def test_redundancy_tree_cuts_like_fresh_clustering(demo_embedded):
    X = np.stack(demo_embedded.values("embedding"))
    tree = red.RedundancyTree(X, progress=False)
    for k in (290, 200, 100):
        a = tree.cut(n_clusters=k)
        b = red.redundancy_clusters(X, n_clusters=k, progress=False)
        assert (a["cluster"] == b["cluster"]).all() and a["redundant"].sum() == len(X) - k
    with pytest.raises(ValueError, match="exactly one"):
        tree.cut()


def test_class_quotas_sum_exactly():
    labels = ["a"] * 7 + ["b"] * 3 + ["c"] * 11
    q = class_quotas(labels, 5)
    assert sum(q.values()) == 5
    assert all(abs(q[c] - 5 * labels.count(c) / 21.0) < 1 for c in q)


# ---------------------------------------------------------------- bad input


def _snapshot(ds):
    return sorted(ds.get_field_schema()), ds.count_sample_tags(), ds.list_saved_views()


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, float("nan"), "x"])
def test_bad_fraction_raises_before_writing(demo, fraction):
    before = _snapshot(demo)
    with pytest.raises(ValueError, match="must be"):
        winnow.find_outliers(demo, fraction=fraction, progress=False)
    with pytest.raises(ValueError, match="must be"):
        winnow.find_redundant(demo, fraction=fraction, progress=False)
    if fraction != 0:  # the filter takes 0 as "skip this step"
        with pytest.raises(ValueError, match="must be"):
            winnow.filter_dataset(demo, outliers=fraction, progress=False)
        with pytest.raises(ValueError, match="must be"):
            winnow.filter_dataset(demo, redundant=fraction, progress=False)
    assert _snapshot(demo) == before


def test_bad_inputs_raise_clear_errors_before_writing(demo):
    before = _snapshot(demo)
    calls = [winnow.find_outliers, winnow.find_redundant, winnow.filter_dataset]
    for fn in calls:
        with pytest.raises(ValueError, match="no field 'nope'"):
            fn(demo, embeddings_field="nope", progress=False)
        with pytest.raises(ValueError, match="empty"):
            fn(demo.limit(0), progress=False)
        with pytest.raises(ValueError, match="no field 'klass'"):
            fn(demo, per_class="klass", progress=False)
        with pytest.raises(ValueError, match="no label"):  # photos are unlabeled
            fn(demo, per_class="ground_truth", progress=False)
        with pytest.raises(ValueError, match="reduce must be"):
            fn(demo, reduce="tsne", progress=False)
    with pytest.raises(ValueError, match="< 1"):
        winnow.filter_dataset(demo, outliers=0.5, redundant=0.5, progress=False)
    # Samples without an embedding are skipped (tests/test_robustness.py); none at all is an error.
    with pytest.raises(ValueError, match="No sample of the view has a 'embedding'"):
        winnow.find_redundant(demo.limit(2).set_field("embedding", None), progress=False)
    assert _snapshot(demo) == before


def test_nan_embeddings_raise_before_writing(demo):
    dim = len(demo.first()["embedding"])
    demo.set_values("embedding", {demo.skip(5).first().id: np.full(dim, np.nan)},
                    key_field="id")
    before = _snapshot(demo)
    for fn in (winnow.find_outliers, winnow.find_redundant, winnow.filter_dataset):
        with pytest.raises(ValueError, match="NaN"):
            fn(demo, progress=False)
    with pytest.raises(ValueError, match="NaN"):
        winnow.outlier_scores(np.array([[0.0, np.nan], [1.0, 2.0], [3, 4]]))
    assert _snapshot(demo) == before


def test_foreign_field_and_view_are_not_overwritten(demo):
    demo.set_values("redundant_of", ["user"] * len(demo))
    with pytest.raises(ValueError, match="already exists"):
        winnow.find_redundant(demo, progress=False)
    demo.save_view("winnow-kept", demo.limit(3))
    with pytest.raises(ValueError, match="saved view 'winnow-kept'"):
        winnow.filter_dataset(demo, representative_field="link", progress=False)
    assert demo.values("redundant_of") == ["user"] * len(demo)
    assert len(demo.load_saved_view("winnow-kept")) == 3


# ---------------------------------------------------------------- operators


def _context(dataset, uri, params):
    return ExecutionContext(request_params=dict(dataset_name=dataset.name, params=params),
                            executor=Executor(), operator_uri=uri)


@pytest.mark.parametrize("name, fields", [
    ("find_outliers", {"outliers_percent", "reduce", "n_components", "per_class"}),
    ("find_redundant", {"redundant_percent", "max_distance", "reduce", "per_class"}),
    ("filter_dataset", {"outliers_percent", "redundant_percent", "reduce", "per_class",
                        "view_prefix"}),
])
def test_operator_forms(demo, name, fields):
    uri = "@winnow/curation/" + name
    form = foo.get_operator(uri).resolve_type(_context(demo, uri, {}), "inputs")
    names = set(form.type.properties)
    assert fields | {"embeddings_field", "view_target"} <= names


def test_filter_operator_immediate_with_progress(demo):
    uri = "@winnow/curation/filter_dataset"
    ctx = _context(demo, uri, dict(outliers_percent=5, redundant_percent=10,
                                   per_class="", reduce="pca"))
    messages = list(foo.get_operator(uri).execute(ctx))
    progress = [m.body.params for m in messages
                if m.body.operator_uri.endswith("set_progress")]
    assert progress and progress[-1]["progress"] == 1
    n = len(demo)
    assert len(demo.match_tags("outlier")) == math.ceil(0.05 * n)
    assert len(demo.match_tags("redundant")) == math.floor(0.1 * n)
    assert demo.has_saved_view("winnow-kept")


def test_outliers_operator_delegated_run_by_worker(demo):
    from fiftyone.operators.delegated import DelegatedOperationService

    op = foo.get_operator("@winnow/curation/find_outliers")
    op(demo, fraction=0.03, delegate=True).raise_exceptions()
    assert "outlier_score" not in demo.get_field_schema()
    service = DelegatedOperationService()
    service.execute_queued_operations(dataset_name=demo.name)
    [doc] = service.list_operations(dataset_name=demo.name)
    assert doc.run_state == "completed", doc.run_state
    demo.reload()
    assert len(demo.match_tags("outlier")) == math.ceil(0.03 * len(demo))
    service.delete_operation(doc.id)
