"""Outliers: images unlike the rest, scored by HDBSCAN's GLOSH on the embeddings.

As in Raud's thesis, HDBSCAN runs over the (optionally PCA-reduced)
embeddings; every sample gets the GLOSH outlier score of ``hdbscan`` and the
top ``ceil(fraction · N)`` are tagged. Winnow never deletes anything.

Score scale: GLOSH is in ``[0, 1]``: 0 for a point as dense as the densest
point of its cluster, near 1 for a point far from any cluster. It is relative
to the density of the point's own cluster, so scores are comparable across
runs and datasets of different sizes (for the same embedding model and
parameters); 0.5 means "half as dense as its cluster's core". Identical
embeddings are scored once and share that score: ``min_samples`` copies of one
image would otherwise have infinite density and zero the scores of their whole
cluster. Near-copies (rows closer than 1 % of the median distance to the 10th
neighbour: burst shots, video frames, re-encoded files) are fitted once too:
a clump of them has a near-zero core distance, and GLOSH, relative to the
cluster's densest point, pushed every other member's score towards 1 (15
jittered copies of one image among 3 000 Fashion-MNIST rows put 45 % of the
scores above 0.99, a fixed threshold meaningless). Real Fashion-MNIST rows
have no such pairs (none among 20 000), so the grouping changes nothing there.

Scale: HDBSCAN's exact fit grows faster than N (boruvka on a 32-d kd-tree:
~15 s at 20 000 rows, ~130 s at 100 000 on one core). Past ``sample_size``
rows (20 000 by default) Winnow fits HDBSCAN on a seeded random sample and
scores every other row as ``hdbscan.prediction.approximate_predict_scores``
does (its nearest mutual-reachability neighbour in the sample and that
neighbour's cluster in the condensed tree), vectorised over blocks of rows with
brute-force BLAS neighbours instead of one kd-tree query and Python step per
row. Time is then O(sample² + N · sample · d), memory O(N · d).
"""

import math

import numpy as np

import fiftyone.core.fields as fof
import fiftyone.core.utils as fou

from . import inputs, runs, vectors

STEP = "outliers"
DEFAULT_COMPONENTS = 32
DEFAULT_SAMPLE_SIZE = 20000
METHODS = ("auto", "exact", "sampled")


def outlier_scores(X, n_components=None, reduce="pca", min_cluster_size=None,
                   min_samples=None, random_state=0, method="auto",
                   sample_size=DEFAULT_SAMPLE_SIZE):
    """GLOSH outlier scores of embeddings.

    The rows are L2-normalised (cosine geometry), reduced to
    ``min(n_components, N, D)`` dimensions, and clustered by HDBSCAN
    (Euclidean distance of unit vectors, a monotone function of cosine).

    Args:
        X: an ``(N, D)`` array of embeddings, N >= 2
        n_components (None): the reduced dimension (the thesis's N_reduce);
            None means 32 when D > 32 (HDBSCAN's space trees are fast only in
            low dimension); pass ``D`` to keep every dimension
        reduce ("pca"): ``"pca"``, ``"umap"`` (if installed) or None (no reduction)
        min_cluster_size (None): HDBSCAN's smallest cluster; None means
            ``max(10, M // 200)`` (M: the rows HDBSCAN is fitted on). A group
            of similar off-domain images smaller than this is scored as
            outlying; a larger one is a cluster of its own and scores low
            (GLOSH is relative to the point's cluster)
        min_samples (None): HDBSCAN's density neighbourhood; None means
            ``min(10, min_cluster_size)``
        random_state (0): seed of the randomized PCA and of the sample
        method ("auto"): ``"exact"`` (HDBSCAN on all rows), ``"sampled"``
            (HDBSCAN on ``sample_size`` random rows, the others scored against
            its tree, see the module docstring) or ``"auto"`` (exact up to
            ``sample_size`` rows)
        sample_size (20 000): rows HDBSCAN is fitted on by the sampled method

    Returns:
        an ``(N,)`` float array of GLOSH scores in ``[0, 1]``; higher is more outlying
    """
    X = inputs.check_array(X)
    if method not in METHODS:
        raise ValueError("method must be one of %s; got %r" % (list(METHODS), method))
    if isinstance(sample_size, bool) or not isinstance(sample_size, (int, np.integer)) \
            or sample_size < 3:
        raise ValueError("sample_size must be an integer >= 3; got %r" % (sample_size,))
    if n_components is None:
        n_components = DEFAULT_COMPONENTS
    Z = vectors.reduce_dimensions(X, n_components=n_components, reduce=reduce,
                                  random_state=random_state)
    # Identical rows (the same image twice, or placeholder images) are scored once:
    # min_samples copies of a point make its core distance 0 and its density
    # infinite, and GLOSH then scores its whole cluster 0/inf = 0.
    unique, copy_of = _unique_rows(Z)
    if unique is None:
        return _glosh(Z, min_cluster_size, min_samples, random_state, method, sample_size)
    return _glosh(Z[unique], min_cluster_size, min_samples, random_state, method,
                  sample_size)[copy_of]


def _glosh(Z, min_cluster_size, min_samples, random_state, method, sample_size):
    """GLOSH scores of distinct unit rows ``Z``, exact or sampled (see outlier_scores)."""
    n = len(Z)
    sampled = method == "sampled" or (method == "auto" and n > sample_size)
    if not sampled or sample_size >= n:
        return _fit_scores(Z, min_cluster_size, min_samples)[0]
    rows = np.sort(np.random.default_rng(random_state).choice(n, sample_size, replace=False))
    scores = np.empty(n, dtype=np.float64)
    scores[rows], clusterer, fitted = _fit_scores(Z[rows], min_cluster_size, min_samples)
    rest = np.ones(n, dtype=bool)
    rest[rows] = False
    scores[rest] = approximate_scores(clusterer, fitted, Z[rest])
    return _clean(scores)


def _fit_scores(Z, min_cluster_size, min_samples):
    """GLOSH of the rows HDBSCAN is fitted on, near-copies fitted once.

    Returns:
        ``(scores, clusterer, fitted)``: ``(M,)`` scores, the fitted HDBSCAN
        and the float64 rows it saw
    """
    keep, copy_of = near_copies(Z)
    fitted = (Z if keep is None else Z[keep]).astype(np.float64)
    clusterer = _fit_hdbscan(fitted, min_cluster_size, min_samples)
    scores = _clean(clusterer.outlier_scores_)
    return (scores if keep is None else scores[copy_of]), clusterer, fitted


NEAR_COPY = 0.01  # rows closer than this share of the typical core distance count as one


def near_copies(Z, share=NEAR_COPY, k=10, block_values=2 ** 26):
    """Groups rows closer than ``share`` x the median distance to the k-th neighbour.

    A clump of ``min_samples`` near-copies (burst shots, video frames,
    re-encoded files) has a core distance near 0: HDBSCAN gives it a density
    far above the rest of its cluster, and GLOSH, relative to the cluster's
    densest point, then pushes every other member's score towards 1. Fitted
    once, the clump weighs as one image. Pairs are found block by block:
    O(M^2 d) time (~2 s for the 20 000 rows of the sampled method, ~45 s for
    100 000 rows with ``method="exact"``), memory ``block_values`` float32
    distances (256 MB).

    Args:
        Z: an ``(M, d)`` array of distinct unit rows

    Returns:
        ``(first row of each group, in order; (M,) group of each row)``, or
        ``(None, None)`` when no two rows are that close
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    m = len(Z)
    if m <= k + 1:
        return None, None
    Z = np.asarray(Z, dtype=np.float32)
    sq = np.einsum("ij,ij->i", Z, Z)
    probe = Z[np.random.default_rng(0).choice(m, min(m, 500), replace=False)]
    d2 = vectors.squared_distances(probe, Z, b_sq=sq)
    # Column k: the k-th neighbour, the row itself being column 0.
    scale = float(np.median(np.sqrt(np.partition(d2, k, axis=1)[:, k])))
    limit = (share * scale) ** 2
    if limit <= 0:
        return None, None
    pairs = []
    block = max(1, block_values // m)
    for a in range(0, m, block):
        d2 = vectors.squared_distances(Z[a:a + block], Z, b_sq=sq)
        i, j = np.nonzero(d2 < limit)
        upper = j > i + a
        pairs.append((i[upper] + a, j[upper]))
    i = np.concatenate([p[0] for p in pairs])
    if not len(i):
        return None, None
    j = np.concatenate([p[1] for p in pairs])
    _, group = connected_components(coo_matrix((np.ones(len(i)), (i, j)), shape=(m, m)),
                                    directed=False)
    return _first_of_groups(group)


def _unique_rows(Z):
    """``(first rows of each distinct row, in order; (N,) index of each row's distinct
    row)``, or ``(None, None)`` when all rows differ."""
    _, inverse = np.unique(Z, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    if inverse.max() + 1 == len(Z):
        return None, None
    return _first_of_groups(inverse)


def _first_of_groups(group):
    """``(first row of each group, in row order; (N,) position of each row's group
    in that order)`` for ``(N,)`` group labels."""
    _, first, inverse = np.unique(group, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty(len(first), dtype=np.int64)
    rank[order] = np.arange(len(first))
    return first[order], rank[np.asarray(inverse).ravel()]


def _fit_hdbscan(Z, min_cluster_size, min_samples):
    import hdbscan

    n = len(Z)
    if min_cluster_size is None:
        min_cluster_size = max(10, n // 200)
    mcs = int(max(2, min(min_cluster_size, n - 1)))
    ms = int(max(1, min(min_samples or min(10, mcs), n - 1)))
    # A space tree (boruvka) only pays off in low dimension.
    algorithm = "boruvka_kdtree" if Z.shape[1] <= 64 else "prims_balltree"
    clusterer = hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=ms,
                                algorithm=algorithm, core_dist_n_jobs=1,
                                allow_single_cluster=True)
    return clusterer.fit(Z)


def _clean(scores):
    scores = np.asarray(scores, dtype=np.float64)
    # GLOSH is 0/0 for exact duplicates (zero core distance): they are not outliers.
    return np.clip(np.nan_to_num(scores, nan=0.0, posinf=1.0), 0.0, 1.0)


def approximate_scores(clusterer, fitted, Q, chunk=2048):
    """GLOSH scores of new rows against a fitted HDBSCAN, as
    ``hdbscan.prediction.approximate_predict_scores`` computes them.

    Each row of ``Q`` joins the tree at its nearest mutual-reachability
    neighbour among its ``2 · min_samples`` nearest fitted rows; its score is
    ``(λ_max - λ) / λ_max`` with λ = 1 / that mutual-reachability distance and
    λ_max the densest λ inside the neighbour's cluster. Neighbours come from
    BLAS products block by block (exact Euclidean distances; no kd-tree, no
    per-row Python), so scoring a million rows against 20 000 takes about a
    minute.

    Args:
        clusterer: a fitted ``hdbscan.HDBSCAN`` (Euclidean metric)
        fitted: the ``(M, d)`` array it was fitted on
        Q: an ``(N, d)`` array of rows to score

    Returns:
        an ``(N,)`` float64 array (unclipped, like hdbscan's)
    """
    fitted = np.asarray(fitted)
    m = len(fitted)
    ms = int(clusterer.min_samples or clusterer.min_cluster_size)
    kq = min(2 * ms, m)
    tree = clusterer.condensed_tree_._raw_tree
    parent, child, lam = tree["parent"], tree["child"], tree["lambda_val"]
    if len(tree) == 0:  # nothing was clustered: everything is outlying
        return np.ones(len(Q))
    # λ_max of every cluster: the largest λ of its rows and of its sub-clusters.
    max_lambda = np.zeros(int(max(parent.max(), child.max())) + 1)
    np.maximum.at(max_lambda, parent, lam)
    for row in range(len(tree) - 1, -1, -1):
        if child[row] >= m and max_lambda[child[row]] > max_lambda[parent[row]]:
            max_lambda[parent[row]] = max_lambda[child[row]]
    is_point = child < m
    point_parent = np.empty(m, dtype=np.int64)
    point_parent[child[is_point]] = parent[is_point]
    point_lambda = np.empty(m, dtype=np.float64)
    point_lambda[child[is_point]] = lam[is_point]

    F = np.asarray(fitted, dtype=np.float32)
    f_sq = np.einsum("ij,ij->i", F, F)
    # Core distances of the fitted rows, as hdbscan's PredictionData: distance to
    # the ms-th nearest fitted row, the row itself included.
    core = np.empty(m, dtype=np.float64)
    for a in range(0, m, chunk):
        d2 = vectors.squared_distances(F[a:a + chunk], F, f_sq)
        core[a:a + chunk] = np.sqrt(np.partition(d2, ms - 1, axis=1)[:, ms - 1])
    scores = np.empty(len(Q), dtype=np.float64)
    for a in range(0, len(Q), chunk):
        block = np.asarray(Q[a:a + chunk], dtype=np.float32)
        d2 = vectors.squared_distances(block, F, f_sq)
        idx = np.argpartition(d2, kq - 1, axis=1)[:, :kq]
        dist = np.sqrt(np.take_along_axis(d2, idx, axis=1).astype(np.float64))
        order = np.argsort(dist, axis=1, kind="stable")
        idx = np.take_along_axis(idx, order, axis=1)
        dist = np.take_along_axis(dist, order, axis=1)
        own_core = dist[:, min(ms, kq - 1)][:, None]
        mr = np.maximum(np.maximum(core[idx], own_core), dist)
        best = np.argmin(mr, axis=1)
        rows = np.arange(len(idx))
        neighbour = idx[rows, best]
        mrd = mr[rows, best]
        with np.errstate(divide="ignore"):
            lam_q = np.where(mrd > 0, 1.0 / np.where(mrd > 0, mrd, 1.0),
                             np.finfo(np.float64).max)
        # A copy of a fitted row takes that row's own λ (hdbscan: rounding fix).
        same = dist[:, 0] == 0
        lam_q[same] = point_lambda[neighbour[same]]
        top = max_lambda[point_parent[neighbour]]
        with np.errstate(invalid="ignore", divide="ignore"):
            scores[a:a + chunk] = np.where(top > 0, (top - lam_q) / np.where(top > 0, top, 1.0),
                                           0.0)
    return scores


def top_k(scores, k):
    """Indices of the ``k`` highest scores; ties go to the lower index (deterministic)."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.lexsort((np.arange(len(scores)), -scores))
    return np.sort(order[:k])


def select_outliers(X, fraction=None, count=None, labels=None, progress=None, **kwargs):
    """Array-level selection: scores and the indices of the outliers.

    Args:
        X: an ``(N, D)`` array
        fraction: the share to select (``ceil(fraction · N)`` samples), or
        count: the exact number to select
        labels (None): an ``(N,)`` array of classes; if given, each class is
            scored on its own and loses its proportional share (largest
            remainder, so the total is still exact)
        progress (None): see ``fiftyone.core.utils.ProgressBar``
        **kwargs: passed to :func:`outlier_scores`

    Returns:
        ``(scores, indices)``: ``(N,)`` GLOSH scores and the sorted selected indices
    """
    n = len(X)
    if count is None:
        count = int(math.ceil(inputs.check_fraction(fraction) * n - 1e-9))
    count = int(min(max(count, 0), n))
    scores = np.zeros(n, dtype=np.float64)
    if labels is None:
        groups = {None: np.arange(n)}
        quotas = {None: count}
    else:
        labels = np.asarray(labels).astype(str)
        groups = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
        quotas = vectors.class_quotas(labels, count)
    chosen = []
    with fou.ProgressBar(total=len(groups), progress=progress) as pb:
        for c, idx in groups.items():
            if len(idx) >= 3:
                # One group: X itself (X[idx] would copy every row).
                scores[idx] = outlier_scores(X if len(idx) == n else X[idx], **kwargs)
            chosen.append(idx[top_k(scores[idx], quotas[c])])
            pb.update()
    return scores, np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, int)


class OutliersResults(runs.Results):
    """What :func:`find_outliers` did.

    Attributes:
        num_samples, num_outliers: counts (``num_samples``: samples with an
            embedding; objects with ``patches_field``)
        num_skipped: samples (objects) of the view skipped for having no embedding
        outlier_ids: ids of the tagged samples (label ids of the tagged objects)
        threshold: the lowest tagged score
        score_field, tag, run_key, params, seconds
        patches_field: None, or the objects field the step ran on
        saved_view: None, or (objects) the saved patches view of the outliers
    """

    patches_field = None
    saved_view = None

    ATTRIBUTES = ("num_samples", "num_outliers", "outlier_ids", "threshold",
                  "score_field", "tag", "run_key", "params", "seconds")

    def summary(self):
        what = "objects of %r" % self.patches_field if self.patches_field else "samples"
        return ("Outliers: %d of %d %s tagged %r (GLOSH >= %.3f, field %r) in %.1f s"
                % (self.num_outliers, self.num_samples, what, self.tag, self.threshold,
                   self.score_field, self.seconds))


def find_outliers(samples, *, fraction=0.05, embeddings_field="embedding",
                  score_field="outlier_score", tag="outlier", n_components=None,
                  reduce="pca", per_class=None, min_cluster_size=None, min_samples=None,
                  overwrite=False, progress=None, count=None, method="auto",
                  patches_field=None):
    """Tags the ``ceil(fraction · N)`` most outlying samples of a collection.

    Every sample of ``samples`` gets its GLOSH score (see
    :func:`outlier_scores`; 0 = dense, 1 = isolated) in ``score_field``; the
    top ``ceil(fraction · N)`` get ``tag``. Results are written in one final
    step and recorded as the run ``winnow_outliers_<score_field>``. Samples
    without an embedding (unreadable images) are skipped: no score, no tag,
    counted in ``num_skipped``; N counts the others.

    Args:
        samples: a dataset or view
        fraction (0.05): share to tag, in (0, 1)
        embeddings_field ("embedding"): the vector field
        score_field ("outlier_score"): the float field to write
        tag ("outlier"): the sample tag for outliers
        n_components (None), reduce ("pca"), min_cluster_size (None),
            min_samples (None): see :func:`outlier_scores`
        per_class (None): a label field (``fo.Classification`` or string);
            each class is scored on its own and keeps its proportion
        overwrite (False): whether an existing field or tag not written by
            this step may be overwritten
        progress (None): progress bar or callback
        count (None): tag exactly this many instead of ``ceil(fraction · N)``
        method ("auto"): ``"exact"``, ``"sampled"`` or ``"auto"`` (exact up to
            20 000 samples per scored group); see :func:`outlier_scores`
        patches_field (None): a ``fo.Detections``/``fo.Polylines`` field: score
            its OBJECTS instead (their ``embeddings_field`` attribute, e.g.
            from ``compute_embeddings(patches_field=...)``); ``score_field``
            is then an attribute of each object, ``tag`` a label tag, and the
            outliers are saved as the patches view ``winnow-<field>-<tag>``;
            ``per_class=True`` scores each object ``label`` on its own

    Returns:
        an :class:`OutliersResults`
    """
    if count is None:
        fraction = inputs.check_fraction(fraction)
    vectors.check_reduction(n_components, reduce)
    inputs.check_choice(method, METHODS, "method")
    inputs.check_collection(samples)
    # A patches view (e.g. a saved view of flagged objects) runs on its objects.
    samples = inputs.samples_of_patches(samples, patches_field)
    pf = inputs.resolve_patches(samples, patches_field)
    view_name = runs.objects_view_name(pf, tag) if pf else None
    step = runs.Step(samples, STEP, fields=dict(score=score_field), tags=[tag],
                     overwrite=overwrite, saved_views=[view_name] if pf else [],
                     score=dict(field=score_field, descending=True), patches_field=pf)
    ids, X, labels, num_skipped = inputs.load_vectors(samples, embeddings_field, per_class,
                                                      patches_field=pf)
    if len(ids) < 2:
        raise ValueError("Need at least 2 %s to find outliers; the view has %d"
                         % ("objects with embeddings" if pf else "samples", len(ids)))
    if count is not None:
        count = inputs.check_count(count, len(ids))

    scores, chosen = select_outliers(
        X, fraction=fraction, count=count, labels=labels, progress=progress,
        n_components=n_components, reduce=reduce, min_cluster_size=min_cluster_size,
        min_samples=min_samples, method=method,
    )
    outlier_ids = [ids[i] for i in chosen]

    # One final write: a re-run first takes back its own tag.
    # Scores are relative to the scored population, so a re-run (even on a view)
    # replaces the whole previous result rather than mixing two populations.
    with step.writing():
        step.untag(tag)
        step.clear("score")
        step.set_values("score", fof.FloatField, dict(zip(ids, scores.tolist())))
        step.tag(outlier_ids, tag)
        if pf:
            step.save_tagged_view(view_name, tag)

    params = dict(fraction=fraction, count=count, embeddings_field=embeddings_field,
                  n_components=n_components, reduce=reduce, per_class=per_class,
                  min_cluster_size=min_cluster_size, min_samples=min_samples, method=method)
    counts = dict(samples=len(ids), outliers=len(outlier_ids), skipped=num_skipped)
    key = step.record(params, counts)
    return OutliersResults(
        num_samples=len(ids), num_outliers=len(outlier_ids), outlier_ids=outlier_ids,
        num_skipped=num_skipped,
        threshold=float(scores[chosen].min()) if len(chosen) else float("nan"),
        score_field=score_field, tag=tag, run_key=key, params=params, seconds=step.seconds,
        patches_field=pf.name if pf else None, saved_view=view_name,
    )
