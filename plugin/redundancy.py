"""Semantic redundancy: near-copies in meaning, found by agglomerative clustering.

As in Birodkar et al. (2019) and Raud's thesis: agglomerative clustering of
the embeddings on cosine distance (average linkage: cosine rules out Ward);
in each cluster the member nearest the centre is kept, the others are
redundant and link to it. Winnow tags and links; it never deletes.

Scale: exact clustering needs the N(N-1)/2 distances (twice, inside scipy's
nearest-neighbour-chain linkage). Where that fits ``memory_budget`` it runs
as is; beyond, the embeddings are first partitioned by spherical k-means (as
SemDeDup does), each partition is clustered exactly, and the partitions' merge
trees are cut at one common height, chosen so that the total number of merges
is the one asked for. Because average linkage never merges below a merge it
already made, this equals the exact result whenever no cluster straddles two
partitions below that height; memory is O(partition_size²), never N×N.
The partitions are found on a 64-d PCA of the embeddings (k-means only needs
the coarse geometry); each partition is clustered, and keepers are chosen, on
its full-dimensional unit rows, normalised one partition at a time, so the
(N, D) input is never copied whole.
"""

import math

import numpy as np

import fiftyone.core.fields as fof
import fiftyone.core.utils as fou

from . import inputs, runs, vectors

STEP = "redundancy"
LINK_FIELD = "redundant_of"  # find_redundant's default link field
DEFAULT_BUDGET = 1 << 30  # bytes for the exact method's distance matrices
METHODS = ("auto", "exact", "partitioned")
PARTITION_COMPONENTS = 64  # PCA dimension the partitioning k-means runs in


def max_exact_size(memory_budget=DEFAULT_BUDGET):
    """The largest N the exact method handles within ``memory_budget`` bytes."""
    # Two float64 condensed matrices (ours and scipy's working copy): 8·N² bytes.
    return int(math.sqrt(memory_budget / 8.0))


def redundancy_clusters(X, *, n_clusters=None, max_distance=None, method="auto",
                        memory_budget=DEFAULT_BUDGET, partition_size=4096,
                        n_components=None, reduce="pca", random_state=0, progress=None):
    """Agglomerative clustering (cosine, average linkage) and a keeper per cluster.

    Args:
        X: an ``(N, D)`` array of embeddings
        n_clusters (None): clusters to form (``N - n_clusters`` samples become
            redundant), or
        max_distance (None): merge only while the average cosine distance
            between clusters is at most this (near-duplicates: ~0.05-0.1)
        method ("auto"): ``"exact"`` (N×N distances), ``"partitioned"``
            (memory-bounded) or ``"auto"`` (exact where it fits ``memory_budget``)
        memory_budget (1 GiB): bytes the exact method may use
        partition_size (4096): target partition size of the partitioned method
            (capped by the budget)
        n_components (None), reduce ("pca"): optional reduction before
            clustering (None keeps all dimensions)
        random_state (0): seed of k-means and randomized PCA
        progress (None): progress bar or callback (one step per partition)

    Returns:
        a dict of ``(N,)`` arrays: ``cluster`` (cluster index), ``kept_of``
        (row of the kept member of the row's cluster; itself if kept),
        ``distance`` (cosine distance to the kept member, 0 if kept),
        ``redundant`` (bool), plus ``method`` and ``num_partitions``;
        ``representative`` is a deprecated alias of ``kept_of`` (the same
        array: a "representative" is a k-medoid, see ``find_representatives``)
    """
    X = inputs.check_array(X, min_samples=1)
    _check_cut(len(X), n_clusters, max_distance)
    tree = RedundancyTree(X, method=method, memory_budget=memory_budget,
                          partition_size=partition_size, n_components=n_components,
                          reduce=reduce, random_state=random_state, progress=progress)
    return tree.cut(n_clusters=n_clusters, max_distance=max_distance)


def _check_cut(n, n_clusters, max_distance):
    if (n_clusters is None) == (max_distance is None):
        raise ValueError("Pass exactly one of n_clusters and max_distance")
    if n_clusters is not None and not (1 <= int(n_clusters) <= n):
        raise ValueError("n_clusters must be in [1, N=%d]; got %r" % (n, n_clusters))
    if max_distance is not None and not (0.0 <= float(max_distance) <= 2.0):
        raise ValueError("max_distance is a cosine distance in [0, 2]; got %r" % (max_distance,))


class RedundancyTree:
    """The merge trees of :func:`redundancy_clusters`, built once and cut many times.

    Building is the expensive part (O(N · partition_size)); :meth:`cut` at
    any number of clusters or distance is cheap, so several fractions can be
    tried on one tree. Arguments as in :func:`redundancy_clusters`.
    """

    def __init__(self, X, *, method="auto", memory_budget=DEFAULT_BUDGET,
                 partition_size=4096, n_components=None, reduce="pca", random_state=0,
                 progress=None):
        X = inputs.check_array(X, min_samples=1)
        inputs.check_choice(method, METHODS, "method")
        n = len(X)
        self.n = n
        limit = max_exact_size(memory_budget)
        if method == "exact" and n > limit:
            raise ValueError("The exact method needs ~%.1f GB for N=%d (budget %.1f GB); use "
                             "method='partitioned' or raise memory_budget"
                             % (8.0 * n * n / 1e9, n, memory_budget / 1e9))
        exact = method == "exact" or (method == "auto" and n <= limit)
        reduced = n_components is not None and reduce is not None
        # Unit rows to cluster: a reduced copy (small), all rows when exact (N fits
        # the budget), else none: partitions normalise their own rows of X.
        self.X = X
        self.Z = (vectors.reduce_dimensions(X, n_components=n_components, reduce=reduce,
                                            random_state=random_state)
                  if reduced or exact else None)
        if exact:
            self.parts = [np.arange(n)]
        else:
            size = int(max(2, min(partition_size, limit)))
            P = self.Z if reduced else vectors.reduce_dimensions(
                X, n_components=PARTITION_COMPONENTS, reduce="pca", random_state=random_state)
            self.parts = _partition(P, np.arange(n), size, random_state)
            del P
        self.method = "exact" if exact else "partitioned"
        self.trees = []
        with fou.ProgressBar(total=len(self.parts), progress=progress) as pb:
            for idx in self.parts:
                self.trees.append(_average_linkage(self.rows(idx)) if len(idx) > 1
                                  else np.zeros((0, 4)))
                pb.update()

    def rows(self, idx):
        """The unit rows (float32) that were clustered, for row indices ``idx``."""
        if self.Z is not None:
            return self.Z[idx]
        return inputs.l2_normalize(self.X[idx])

    def __len__(self):
        return self.n

    def cut(self, *, n_clusters=None, max_distance=None):
        """Cuts the trees into ``n_clusters`` clusters or at ``max_distance``.

        Returns:
            the dict of :func:`redundancy_clusters`
        """
        n = self.n
        _check_cut(n, n_clusters, max_distance)
        merges = _merges_per_tree(self.trees, n, n_clusters, max_distance)
        cluster = np.empty(n, dtype=np.int64)
        offset = 0
        for idx, tree, m in zip(self.parts, self.trees, merges):
            local = _cut(tree, len(idx), m)
            cluster[idx] = local + offset
            offset += local.max() + 1
        kept_of, dist = _keepers(self.rows, cluster)
        return _with_alias(dict(cluster=cluster, kept_of=kept_of, distance=dist,
                                redundant=kept_of != np.arange(n), method=self.method,
                                num_partitions=len(self.parts)))


def _with_alias(out):
    # The deprecated name of "kept_of" (a "representative" is a k-medoid); same array.
    out["representative"] = out["kept_of"]
    return out


def _partition(Z, idx, size, random_state):
    """Spherical k-means splits until every part has at most ``size`` rows."""
    if len(idx) <= size:
        return [idx]
    from sklearn.cluster import MiniBatchKMeans

    k = int(math.ceil(len(idx) / float(size)))
    km = MiniBatchKMeans(n_clusters=k, random_state=random_state, n_init=3,
                         batch_size=4096)
    labels = km.fit_predict(Z[idx])
    groups = [idx[labels == c] for c in range(k) if (labels == c).any()]
    if len(groups) == 1:
        # Degenerate (identical points): split by position, clustering stays within parts.
        return [idx[i:i + size] for i in range(0, len(idx), size)]
    out = []
    for g in groups:
        out.extend(_partition(Z, g, size, random_state + 1))
    return out


def _average_linkage(Zp, block=1024):
    """scipy's average-linkage tree on cosine distances of unit rows.

    The condensed distance vector is filled block by block with BLAS products
    (never the n×n matrix), then handed to ``scipy.cluster.hierarchy.linkage``
    (the same call scikit-learn's ``AgglomerativeClustering(metric="cosine",
    linkage="average")`` makes).
    """
    from scipy.cluster.hierarchy import linkage

    n = len(Zp)
    Zp = np.asarray(Zp, dtype=np.float64)
    condensed = np.empty(n * (n - 1) // 2, dtype=np.float64)
    pos = 0
    for start in range(0, n - 1, block):
        stop = min(start + block, n - 1)
        sims = Zp[start:stop] @ Zp[start:].T
        for r in range(stop - start):
            row = sims[r, r + 1:]
            condensed[pos:pos + len(row)] = row
            pos += len(row)
    np.subtract(1.0, condensed, out=condensed)
    np.clip(condensed, 0.0, 2.0, out=condensed)
    return linkage(condensed, method="average")


def _merges_per_tree(trees, n, n_clusters, max_distance):
    """How many of each tree's first merges to apply (one common cut height)."""
    if max_distance is not None:
        return [int(np.searchsorted(t[:, 2], max_distance, side="right")) for t in trees]
    wanted = n - int(n_clusters)
    heights = np.concatenate([t[:, 2] for t in trees]) if trees else np.zeros(0)
    owner = np.concatenate([np.full(len(t), i) for i, t in enumerate(trees)])
    rank = np.concatenate([np.arange(len(t)) for t in trees])
    if wanted > len(heights):
        raise ValueError("Cannot form %d clusters from %d partitions; lower the fraction or "
                         "raise partition_size" % (n_clusters, len(trees)))
    # Lowest heights first; ties: lower partition, then earlier merge (keeps prefixes).
    order = np.lexsort((rank, owner, heights))[:wanted]
    return np.bincount(owner[order], minlength=len(trees)).tolist()


def _cut(tree, n, m):
    """Cluster labels ``0..n-m-1`` after the first ``m`` merges of a linkage tree."""
    parent = np.arange(2 * n - 1)

    def find(a):
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:
            parent[a], a = root, parent[a]
        return root

    for i in range(m):
        a, b = int(tree[i, 0]), int(tree[i, 1])
        parent[find(a)] = n + i
        parent[find(b)] = n + i
    roots = np.array([find(i) for i in range(n)])
    return np.unique(roots, return_inverse=True)[1].astype(np.int64)


def _keepers(rows, cluster, block=32768):
    """Per cluster, the member nearest the centre; everyone's cosine distance to it.

    Args:
        rows: a function giving the unit rows ``(len(idx), d)`` of row indices ``idx``
        cluster: an ``(N,)`` int array of cluster ids ``0..k-1``

    Returns:
        ``(kept_of (N,) int, distance (N,) float64)``: the row kept for each
        row, and the distance to it; a cluster of one keeps its member at
        distance 0. Ties go to the lowest row.
    """
    n = len(cluster)
    kept_of = np.arange(n)
    dist = np.zeros(n)
    sizes = np.bincount(cluster)
    # Only clusters with more than one member need work; walk them in blocks of
    # whole clusters (sorted by cluster, then row) so memory stays O(block · d).
    members = np.flatnonzero(sizes[cluster] > 1)
    members = members[np.argsort(cluster[members], kind="stable")]
    ids = cluster[members]
    start = 0
    while start < len(members):
        stop = min(len(members), start + block)
        if stop < len(members):  # end the block at a cluster boundary
            stop = start + int(np.searchsorted(ids[start:], ids[stop - 1], side="left"))
            if stop == start:  # one cluster larger than the block
                stop = start + int(np.searchsorted(ids[start:], ids[start], side="right"))
        idx, cid = members[start:stop], ids[start:stop]
        Z = np.asarray(rows(idx), dtype=np.float64)
        first = np.flatnonzero(np.r_[True, cid[1:] != cid[:-1]])
        centres = np.add.reduceat(Z, first, axis=0)
        local = np.repeat(np.arange(len(first)), np.diff(np.r_[first, len(cid)]))
        closeness = np.einsum("ij,ij->i", Z, centres[local])
        # Best member first within each cluster; ties to the lowest row.
        order = np.lexsort((idx, -closeness, local))
        best = order[np.flatnonzero(np.r_[True, local[order][1:] != local[order][:-1]])]
        keeper = best[local]  # position (in this block) of each row's keeper
        kept_of[idx] = idx[keeper]
        d = 1.0 - np.einsum("ij,ij->i", Z, Z[keeper])
        d[keeper == np.arange(len(idx))] = 0.0
        dist[idx] = np.clip(d, 0.0, 2.0)
        start = stop
    return kept_of, dist


def select_redundant(X, *, count=None, fraction=None, labels=None, max_distance=None,
                     progress=None, **kwargs):
    """Array-level selection of redundant rows.

    Args:
        X: an ``(N, D)`` array
        count: how many rows become redundant, or a dict ``{label: count}``
            with ``labels``; or
        fraction: ``floor(fraction · N)`` rows become redundant; or
        max_distance: cut at this cosine distance instead of a count
        labels (None): an ``(N,)`` array of classes; clustering then runs per
            class and each class loses its proportional share (largest
            remainder), so class proportions are kept
        **kwargs: passed to :func:`redundancy_clusters`

    Returns:
        the dict of :func:`redundancy_clusters` over all N rows
    """
    n = len(X)
    if max_distance is None and count is None:
        count = int(math.floor(inputs.check_fraction(fraction) * n + 1e-9))
    if labels is None:
        if max_distance is not None:
            return redundancy_clusters(X, max_distance=max_distance, progress=progress, **kwargs)
        return redundancy_clusters(X, n_clusters=n - int(count), progress=progress, **kwargs)

    labels = np.asarray(labels).astype(str)
    classes = np.unique(labels)
    if max_distance is None and not isinstance(count, dict):
        count = vectors.class_quotas(labels, int(count))
    out = _with_alias(dict(cluster=np.zeros(n, np.int64), kept_of=np.arange(n),
                           distance=np.zeros(n), redundant=np.zeros(n, bool),
                           num_partitions=0))
    offset = 0
    with fou.ProgressBar(total=len(classes), progress=progress) as pb:
        for c in classes:
            idx = np.flatnonzero(labels == c)
            if max_distance is not None:
                res = redundancy_clusters(X[idx], max_distance=max_distance, **kwargs)
            else:
                m = int(count.get(c, 0))
                if m >= len(idx):
                    raise ValueError("Class %r has %d samples; cannot make %d redundant"
                                     % (c, len(idx), m))
                res = redundancy_clusters(X[idx], n_clusters=len(idx) - m, **kwargs)
            out["cluster"][idx] = res["cluster"] + offset
            offset += res["cluster"].max() + 1
            out["kept_of"][idx] = idx[res["kept_of"]]
            out["distance"][idx] = res["distance"]
            out["redundant"][idx] = res["redundant"]
            out["num_partitions"] += res["num_partitions"]
            out["method"] = res["method"]
            pb.update()
    return out


class RedundancyResults(runs.Results):
    """What :func:`find_redundant` did.

    Attributes:
        num_samples, num_redundant, num_clusters: counts (``num_samples``: samples
            with an embedding)
        num_skipped: samples of the view skipped for having no embedding
        redundant_ids: ids of the tagged samples
        kept_of: ``{redundant id: id of the kept sample}``
        method: ``"exact"`` or ``"partitioned"``
        tag, link_field, distance_field, run_key, params, seconds
        representatives, representative_field: deprecated names of ``kept_of``
            and ``link_field``
        patches_field: None, or the objects field the step ran on (ids are
            then the objects' label ids)
        saved_view: None, or (objects) the saved patches view of the redundant
    """

    patches_field = None
    saved_view = None

    ATTRIBUTES = ("num_samples", "num_redundant", "num_clusters", "redundant_ids", "kept_of",
                  "method", "tag", "link_field", "distance_field", "run_key", "params",
                  "seconds")

    @property
    def representatives(self):
        return self.kept_of

    @property
    def representative_field(self):
        return self.link_field

    def summary(self):
        what = "objects of %r" % self.patches_field if self.patches_field else "samples"
        return ("Redundancy: %d of %d %s tagged %r in %d clusters (%s), linked in %r, "
                "distances in %r, %.1f s"
                % (self.num_redundant, self.num_samples, what, self.tag, self.num_clusters,
                   self.method, self.link_field, self.distance_field, self.seconds))


def find_redundant(samples, *, fraction=0.05, embeddings_field="embedding", tag="redundant",
                   link_field=LINK_FIELD, distance_field="redundancy_distance",
                   per_class=None, max_distance=None, n_components=None, reduce="pca",
                   method="auto", memory_budget=DEFAULT_BUDGET, partition_size=4096,
                   overwrite=False, progress=None, count=None, representative_field=None,
                   patches_field=None):
    """Tags the semantically redundant samples of a collection and links them to a keeper.

    Agglomerative clustering (cosine, average linkage) of the N embeddings into
    ``N - floor(fraction · N)`` clusters (so exactly ``floor(fraction · N)``
    samples are tagged; the thesis's ``floor((1 - fraction) · N)`` clusters
    differ by at most one), or cut at ``max_distance``. In each cluster the
    member nearest the centre is kept; every other member gets ``tag``, the id
    of the kept member in ``link_field`` and the cosine distance to it in
    ``distance_field``. See :func:`redundancy_clusters` for the method.
    Samples without an embedding (unreadable images) are skipped and counted
    in ``num_skipped``; N counts the others. The run is recorded as
    ``winnow_redundancy_<link_field>``, scored by ``distance_field``
    (nearest copies first).

    Args:
        samples: a dataset or view
        fraction (0.05): share to tag, in (0, 1)
        embeddings_field ("embedding"): the vector field
        tag ("redundant"): the sample tag for redundant samples
        link_field ("redundant_of"): string field, the kept sample's id
        distance_field ("redundancy_distance"): float field, cosine distance
        per_class (None): a label field; clustering runs within each class and
            each class loses its proportional share
        max_distance (None): cut at this cosine distance instead of a fraction
        n_components (None), reduce ("pca"), method ("auto"), memory_budget,
            partition_size: see :func:`redundancy_clusters`
        overwrite (False): whether existing fields/tags not written by this step
            may be overwritten
        progress (None): progress bar or callback
        count (None): tag exactly this many (an int, or ``{label: count}``
            with ``per_class``) instead of ``floor(fraction · N)``
        representative_field (None): deprecated name of ``link_field``
        patches_field (None): a ``fo.Detections``/``fo.Polylines`` field: cluster
            its OBJECTS instead (their ``embeddings_field`` attribute);
            ``link_field`` (the kept object's label id) and ``distance_field``
            are then attributes of each object, ``tag`` a label tag, the
            redundant objects are saved as the patches view
            ``winnow-<field>-<tag>``; ``per_class=True`` clusters within each
            object ``label``

    Returns:
        a :class:`RedundancyResults`
    """
    link_field = inputs.renamed(link_field, representative_field, name="link_field",
                                old_name="representative_field", default=LINK_FIELD)
    if max_distance is None and count is None:
        fraction = inputs.check_fraction(fraction)
    inputs.check_choice(method, METHODS, "method")
    vectors.check_reduction(n_components, reduce)
    inputs.check_collection(samples)
    # A patches view (e.g. a saved view of flagged objects) runs on its objects.
    samples = inputs.samples_of_patches(samples, patches_field)
    pf = inputs.resolve_patches(samples, patches_field)
    view_name = runs.objects_view_name(pf, tag) if pf else None
    step = runs.Step(samples, STEP, fields=dict(link=link_field, distance=distance_field),
                     tags=[tag], overwrite=overwrite, saved_views=[view_name] if pf else [],
                     score=dict(field=distance_field, descending=False), patches_field=pf)
    ids, X, labels, num_skipped = inputs.load_vectors(samples, embeddings_field, per_class,
                                                      patches_field=pf)
    if count is not None and not isinstance(count, dict):  # a dict is checked per class
        count = inputs.check_count(count, len(ids))
        if count == len(ids):
            raise ValueError("count must be below the %d samples with embeddings (one must "
                             "be kept); got %r" % (len(ids), count))

    res = select_redundant(
        X, count=count, fraction=fraction, labels=labels, max_distance=max_distance,
        progress=progress, method=method, memory_budget=memory_budget,
        partition_size=partition_size, n_components=n_components, reduce=reduce,
    )
    redundant = np.flatnonzero(res["redundant"])
    kept_of = {ids[i]: ids[res["kept_of"][i]] for i in redundant}
    distances = {ids[i]: float(res["distance"][i]) for i in redundant}

    # One final write; a re-run first takes back its own tag.
    with step.writing():
        step.untag(tag)
        for role in ("link", "distance"):  # a re-run replaces the whole previous result
            step.clear(role)
        step.set_values("link", fof.StringField, {i: kept_of.get(i) for i in ids})
        step.set_values("distance", fof.FloatField, {i: distances.get(i) for i in ids})
        step.tag(kept_of, tag)
        if pf:
            step.save_tagged_view(view_name, tag)

    params = dict(fraction=fraction, count=count, max_distance=max_distance,
                  embeddings_field=embeddings_field, per_class=per_class,
                  n_components=n_components, reduce=reduce, method=res["method"],
                  memory_budget=memory_budget, partition_size=partition_size)
    num_clusters = int(len(np.unique(res["cluster"])))
    counts = dict(samples=len(ids), redundant=len(redundant), clusters=num_clusters,
                  partitions=res["num_partitions"], skipped=num_skipped)
    key = step.record(params, counts)
    return RedundancyResults(
        num_samples=len(ids), num_redundant=len(redundant), num_clusters=num_clusters,
        num_skipped=num_skipped, redundant_ids=list(kept_of), kept_of=kept_of,
        method=res["method"], tag=tag, link_field=link_field, distance_field=distance_field,
        run_key=key, params=params, seconds=step.seconds,
        patches_field=pf.name if pf else None, saved_view=view_name,
    )
