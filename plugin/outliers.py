"""Outliers: images unlike the rest, scored by HDBSCAN's GLOSH on the embeddings.

As in Raud's thesis, HDBSCAN runs over the (optionally PCA-reduced)
embeddings; every sample gets the GLOSH outlier score of ``hdbscan`` and the
top ``ceil(fraction · N)`` are tagged. Winnow never deletes anything.

Score scale: GLOSH is in ``[0, 1]``: 0 for a point as dense as the densest
point of its cluster, near 1 for a point far from any cluster. It is relative
to the density of the point's own cluster, so scores are comparable across
runs and datasets of different sizes (for the same embedding model and
parameters); 0.5 means "half as dense as its cluster's core".
"""

import math
import time

import numpy as np

import fiftyone.core.fields as fof
import fiftyone.core.utils as fou

from . import runs, vectors

STEP = "outliers"
DEFAULT_COMPONENTS = 32


def outlier_scores(X, n_components=None, reduce="pca", min_cluster_size=None,
                   min_samples=None, random_state=0):
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
            ``max(10, N // 200)``. A group of similar off-domain images smaller
            than this is scored as outlying; a larger one is a cluster of its
            own and scores low (GLOSH is relative to the point's cluster)
        min_samples (None): HDBSCAN's density neighbourhood; None means
            ``min(10, min_cluster_size)``
        random_state (0): seed of the randomized PCA

    Returns:
        an ``(N,)`` float array of GLOSH scores in ``[0, 1]``; higher is more outlying
    """
    import hdbscan

    X = vectors.check_array(X)
    if n_components is None:
        n_components = DEFAULT_COMPONENTS
    Z = vectors.reduce_dimensions(X, n_components=n_components, reduce=reduce,
                                  random_state=random_state).astype(np.float64)
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
    clusterer.fit(Z)
    scores = np.asarray(clusterer.outlier_scores_, dtype=np.float64)
    # GLOSH is 0/0 for exact duplicates (zero core distance): they are not outliers.
    return np.clip(np.nan_to_num(scores, nan=0.0, posinf=1.0), 0.0, 1.0)


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
        count = int(math.ceil(vectors.check_fraction(fraction) * n - 1e-9))
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
                scores[idx] = outlier_scores(X[idx], **kwargs)
            chosen.append(idx[top_k(scores[idx], quotas[c])])
            pb.update()
    return scores, np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, int)


def _check_count(count, n):
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) \
            or not 0 <= count <= n:
        raise ValueError("count must be an integer in [0, %d] (the samples with embeddings); "
                         "got %r" % (n, count))
    return int(count)


class OutliersResults:
    """What :func:`find_outliers` did.

    Attributes:
        num_samples, num_outliers: counts (``num_samples``: samples with an embedding)
        num_skipped: samples of the view skipped for having no embedding
        outlier_ids: ids of the tagged samples
        threshold: the lowest tagged score
        score_field, tag, run_key, params, seconds
    """

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def __repr__(self):
        return ("Outliers: %d of %d samples tagged %r (GLOSH >= %.3f, field %r) in %.1f s%s"
                % (self.num_outliers, self.num_samples, self.tag, self.threshold,
                   self.score_field, self.seconds, _skipped_note(self.num_skipped)))


def _skipped_note(num_skipped):
    return ("; %d samples without an embedding skipped" % num_skipped) if num_skipped else ""


def find_outliers(samples, fraction=0.05, embeddings_field="embedding",
                  score_field="outlier_score", tag="outlier", n_components=None,
                  reduce="pca", per_class=None, min_cluster_size=None, min_samples=None,
                  overwrite=False, progress=None, count=None):
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

    Returns:
        an :class:`OutliersResults`
    """
    started = time.time()
    if count is None:
        fraction = vectors.check_fraction(fraction)
    vectors.check_reduction(n_components, reduce)
    key = runs.run_key(STEP, score_field)
    runs.check_writable(samples, [score_field], STEP, overwrite=overwrite)
    vectors.check_tags_writable(samples, [tag], key, overwrite=overwrite)
    ids, X, labels, num_skipped = vectors.load_vectors(samples, embeddings_field, per_class)
    if len(ids) < 2:
        raise ValueError("Need at least 2 samples to find outliers; the view has %d" % len(ids))
    if count is not None:
        count = _check_count(count, len(ids))

    scores, chosen = select_outliers(
        X, fraction=fraction, count=count, labels=labels, progress=progress,
        n_components=n_components, reduce=reduce, min_cluster_size=min_cluster_size,
        min_samples=min_samples,
    )
    outlier_ids = [ids[i] for i in chosen]

    # One final write: a re-run first takes back its own tag.
    dataset = samples._root_dataset
    # Scores are relative to the scored population, so a re-run (even on a view)
    # replaces the whole previous result rather than mixing two populations.
    with runs.writing(samples, key, STEP, [score_field], tags=[tag]):
        dataset.untag_samples(tag)
        if score_field in dataset.get_field_schema():
            dataset.clear_sample_field(score_field)
        vectors.declare_field(samples, score_field, fof.FloatField)
        samples.set_values(score_field, dict(zip(ids, scores.tolist())), key_field="id")
        if outlier_ids:
            dataset.select(outlier_ids).tag_samples(tag)

    params = dict(fraction=fraction, count=count, embeddings_field=embeddings_field,
                  n_components=n_components, reduce=reduce, per_class=per_class,
                  min_cluster_size=min_cluster_size, min_samples=min_samples)
    counts = dict(samples=len(ids), outliers=len(outlier_ids), skipped=num_skipped)
    runs.record_run(samples, key, STEP, [score_field], params, counts, started, tags=[tag])
    return OutliersResults(
        num_samples=len(ids), num_outliers=len(outlier_ids), outlier_ids=outlier_ids,
        num_skipped=num_skipped,
        threshold=float(scores[chosen].min()) if len(chosen) else float("nan"),
        score_field=score_field, tag=tag, run_key=key, params=params,
        seconds=time.time() - started,
    )
