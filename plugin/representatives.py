"""k-medoid representatives: a real image per cluster, not an average.

Array level (``(N, D)`` arrays in, indices out):

- :func:`kmedoids` clusters N points into k clusters around k medoids;
- :func:`choose_k` picks k by the silhouette (or the medoid silhouette);
- :func:`eager_swap` is the swap refinement behind the default method.

Dataset level: :func:`find_representatives` writes each sample's cluster and its
distance to the medoid, tags the medoids, ranks them and saves a view with one
sample per cluster.

How the default (``method="auto"``) works, and why:

- when the N×N float32 distance matrix fits in ``memory_budget`` (1 GiB by
  default, N ≤ 16 384): scikit-learn-extra ``KMedoids(method="alternate",
  init="k-medoids++")`` on the precomputed matrix (cheap, but typically 3-7 %
  worse than PAM), then Winnow's eager swap refinement, which stops only when no
  medoid/non-medoid swap improves the loss, the same stopping rule as PAM. The
  swap gains are computed as in FasterPAM (Schubert & Rousseeuw, 2021: the
  nearest and second-nearest medoid distances give every medoid's gain for one
  candidate in O(N)), here vectorized over blocks of candidates, and a swap is
  taken as soon as a block shows one (eager), instead of PAM's one best swap per
  O(k·N²) scan. Result: PAM's loss (within ~0.5 %) in a fraction of its time;
- when it does not fit: CLARA-style sampling (Kaufman & Rousseeuw): the above on
  random samples (each including the best medoids so far), each result refined
  on all N points by exact "alternate" steps (for cosine, a cluster's medoid is
  the member with the largest dot product with the cluster's sum of unit
  vectors, so a step is O(N·D)), keeping the lowest full loss. Memory stays
  O(sample² + N·k).

``method="pam"``, ``"alternate"`` (scikit-learn-extra) and ``"fasterpam"`` (the
``kmedoids`` package, GPL-3, only with the ``gpl`` extra) need the full matrix
and refuse, with a clear error, when it would not fit.
"""

import collections
import math
import warnings

import numpy as np

import fiftyone.core.fields as fof
import fiftyone.core.utils as fou

from . import inputs, runs, vectors

STEP = "representatives"
METRICS = ("cosine", "euclidean")
METHODS = ("auto", "swap", "clara", "alternate", "pam", "fasterpam")
CRITERIA = ("silhouette", "medoid_silhouette")
DEFAULT_MEMORY_BUDGET = 1 << 30  # bytes allowed for an N×N float32 distance matrix
DEFAULT_K_RANGE = (2, 20)

KMedoidsFit = collections.namedtuple("KMedoidsFit",
                                     ["medoids", "labels", "distances", "loss", "method"])
KMedoidsFit.__doc__ = """The result of :func:`kmedoids`.

Attributes:
    medoids: a ``(k,)`` int array; ``medoids[j]`` is the row of X that is the
        medoid of cluster ``j``
    labels: an ``(N,)`` int array of cluster ids in ``[0, k)``, numbered by
        decreasing cluster size (cluster 0 is the largest)
    distances: an ``(N,)`` float32 array, each point's distance to its medoid
    loss: the sum of ``distances`` (a float)
    method: what ran (``"swap"``, ``"clara"``, ``"alternate"``, ``"pam"``,
        ``"fasterpam"``, ``"trivial"``)
"""


# ---------------------------------------------------------------------------
# Array level


def max_matrix_size(memory_budget=DEFAULT_MEMORY_BUDGET):
    """The largest N whose N×N float32 distance matrix fits in ``memory_budget`` bytes."""
    return int(math.isqrt(max(int(memory_budget), 0) // 4))


def kmedoids(X, k, *, metric="cosine", method="auto", seed=0,
             memory_budget=DEFAULT_MEMORY_BUDGET, sample_size=None, num_draws=3,
             max_iter=100):
    """Clusters N points around k medoids (actual points), minimizing the sum of
    distances of every point to its medoid.

    Args:
        X: an ``(N, D)`` array
        k: the number of clusters, ``1 <= k <= N``
        metric ("cosine"): ``"cosine"`` (1 - cosine similarity) or ``"euclidean"``
        method ("auto"): ``"auto"`` (``"swap"`` when the N×N matrix fits in
            ``memory_budget``, else ``"clara"``), ``"swap"``, ``"clara"``,
            ``"alternate"`` or ``"pam"`` (scikit-learn-extra), ``"fasterpam"``
            (the GPL-3 ``kmedoids`` package, opt-in). See the module docstring
        seed (0): random seed
        memory_budget (1 GiB): bytes allowed for a distance matrix; never exceeded
        sample_size (None): CLARA sample size; None: ``max(5000, 100·k)`` capped
            by the budget
        num_draws (3): CLARA samples
        max_iter (100): iterations of the swap / alternate loops

    Returns:
        a :class:`KMedoidsFit` ``(medoids (k,), labels (N,), distances (N,), loss,
        method)``
    """
    X = inputs.check_array(X, min_samples=1)
    n = len(X)
    k = _check_k(k, n)
    inputs.check_choice(metric, METRICS, "metric")
    inputs.check_choice(method, METHODS, "method")
    fits = n <= max_matrix_size(memory_budget)
    if method == "auto":
        method = "swap" if fits else "clara"
    if method in ("alternate", "pam", "fasterpam", "swap") and not fits:
        raise ValueError(
            "method=%r needs an N×N distance matrix: N=%d takes %.1f GiB, over "
            "memory_budget=%.1f GiB; use method='auto' or 'clara' (sampling) or raise "
            "memory_budget" % (method, n, 4.0 * n * n / 2**30, memory_budget / 2**30))
    if method == "fasterpam":
        _import_fasterpam()
    rng = np.random.default_rng(seed)
    # Past the matrix budget N is large: rows are prepared block by block on use
    # instead of copying the whole (N, D) input.
    Xp = _prepare(X, metric) if fits else _PreparedRows(X, metric)

    if k == n:
        medoids, ran = np.arange(n), "trivial"
    elif k == 1 and method in ("swap", "clara"):
        medoids, ran = np.array([_one_medoid(Xp, metric)]), "trivial"
    elif method == "clara":
        medoids, ran = _clara(Xp, k, metric, rng, memory_budget, sample_size, num_draws,
                              max_iter), "clara"
    else:
        D = pairwise_distances(Xp, metric=metric, prepared=True)
        medoids, ran = _fit_matrix(D, k, method, seed, max_iter), method
        del D
    return _finish(Xp, medoids, metric, ran)


def choose_k(X, *, k_range=DEFAULT_K_RANGE, metric="cosine", criterion="silhouette", seed=0,
             sample_size=4000, memory_budget=DEFAULT_MEMORY_BUDGET, callback=None):
    """Chooses k by clustering with every k in ``k_range`` and scoring each.

    The clusterings are the default k-medoids (alternate + eager swap) on one
    distance matrix of (a random sample of) the points.

    Args:
        X: an ``(N, D)`` array
        k_range ((2, 20)): the smallest and largest k tried (inclusive); capped
            at ``N - 1``
        metric ("cosine"): see :func:`kmedoids`
        criterion ("silhouette"): ``"silhouette"`` (mean silhouette, Rousseeuw
            1987) or ``"medoid_silhouette"`` (mean of ``1 - a/b`` with ``a``, ``b``
            the distances to the nearest and second-nearest medoid; Van der Laan
            et al. 2003, Lenssen & Schubert 2022)
        seed (0): random seed (sampling and initialisation)
        sample_size (4000): points used to choose k (a random sample when N is larger)
        memory_budget: see :func:`kmedoids`
        callback (None): called with no argument after each k

    Returns:
        a tuple ``(k, scores)``: the k with the best score (the smaller k on a tie)
        and a dict ``{k: score}``. With N < 3 there is nothing to compare:
        ``(1, {})``
    """
    X = inputs.check_array(X, min_samples=1)
    inputs.check_choice(metric, METRICS, "metric")
    inputs.check_choice(criterion, CRITERIA, "criterion")
    ks = k_candidates(len(X), k_range=k_range)
    if not ks:
        return 1, {}
    rng = np.random.default_rng(seed)
    size = min(len(X), int(sample_size), max_matrix_size(memory_budget))
    if size < len(X):
        X = X[np.sort(rng.choice(len(X), size, replace=False))]
    D = pairwise_distances(_prepare(X, metric), metric=metric, prepared=True)
    scores = {}
    for k in ks:
        if k >= len(D):
            break
        medoids = _fit_matrix(D, k, "swap", seed, 100)
        scores[k] = _score(D, medoids, criterion)
        if callback is not None:
            callback()
    best = max(scores, key=lambda kk: (scores[kk], -kk))
    return best, scores


def k_candidates(n, *, k_range=DEFAULT_K_RANGE):
    """The ks :func:`choose_k` tries for N points: ``k_range`` capped at ``N - 1``."""
    lo, hi = _check_k_range(k_range)
    return list(range(lo, min(hi, n - 1) + 1))


def pairwise_distances(X, Y=None, *, metric="cosine", prepared=False):
    """Distances between the rows of X and Y (X and X when Y is None).

    Args:
        X: an ``(N, D)`` array; Y: an ``(M, D)`` array or None
        metric ("cosine"): ``"cosine"`` or ``"euclidean"``
        prepared (False): whether the rows are already unit-length (cosine)

    Returns:
        an ``(N, M)`` float32 array (zero diagonal when Y is None)
    """
    if not prepared:
        X = _prepare(X, metric)
        Y = None if Y is None else _prepare(Y, metric)
    same = Y is None
    Y = X if same else Y
    if metric == "cosine":
        D = X @ Y.T
        np.subtract(1.0, D, out=D)
        np.clip(D, 0.0, 2.0, out=D)
    else:
        D = vectors.squared_distances(X, Y)
        np.sqrt(D, out=D)
    if same:
        np.fill_diagonal(D, 0.0)
    return D


def eager_swap(D, medoids, *, max_passes=100):
    """Swap refinement on a distance matrix: until no swap of a medoid with a
    non-medoid lowers the loss (PAM's stopping rule).

    The loss change of every (candidate, medoid) swap of a block of candidates
    comes from each point's nearest and second-nearest medoid distances (the
    FasterPAM decomposition, written from Schubert & Rousseeuw 2021); the best
    improving swap of a block is taken at once, verified against the exact loss.

    Args:
        D: an ``(N, N)`` float32 distance matrix
        medoids: a ``(k,)`` int array of distinct rows, ``k >= 2``

    Returns:
        a ``(k,)`` int array of medoids
    """
    n = len(D)
    medoids = np.array(medoids, dtype=np.int64)
    k = len(medoids)
    if k < 2 or k >= n:
        return medoids
    # Small blocks, one thread: many small products, which threaded BLAS slows
    # down badly on a busy machine; small blocks also make the search more eager.
    block = int(min(n, max(16, min(128, (1 << 17) // n))))
    state = _swap_state(D, medoids)
    with _single_threaded_blas():
        for _ in range(max_passes):
            improved = False
            for a in range(0, n, block):
                b = min(n, a + block)
                near, dn, ds, removal, loss, onehot = state
                tol = 1e-7 * max(loss, 1e-12)
                gain = _swap_gains(D[a:b], near, dn, ds, removal, onehot)
                own = medoids[(medoids >= a) & (medoids < b)] - a
                gain[own] = np.inf
                r, j = np.unravel_index(np.argmin(gain), gain.shape)
                if not gain[r, j] < -tol:
                    continue
                trial = medoids.copy()
                trial[j] = a + r
                new = _swap_state(D, trial)
                if new[4] < loss - 0.5 * tol:  # float32 gains: confirmed on the exact loss
                    medoids, state, improved = trial, new, True
            if not improved:
                break
    return medoids


# ---------------------------------------------------------------------------
# Array-level internals


def _check_k(k, n):
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise ValueError("k must be a positive integer; got %r" % (k,))
    if k < 1:
        raise ValueError("k must be >= 1; got %d" % k)
    if k > n:
        raise ValueError("k=%d is larger than the number of samples (%d)" % (k, n))
    return int(k)


def _check_k_range(k_range):
    try:
        lo, hi = (int(v) for v in k_range)
    except (TypeError, ValueError):
        raise ValueError("k_range must be a pair (min_k, max_k); got %r" % (k_range,))
    if lo < 2 or hi < lo:
        raise ValueError("k_range must satisfy 2 <= min_k <= max_k; got %r" % (k_range,))
    return lo, hi


def _import_fasterpam():
    try:
        import kmedoids as _kmedoids
    except ImportError:
        raise ValueError("method/backend 'fasterpam' needs the GPL-3 'kmedoids' package: "
                         "pip install 'fiftyone-winnow[gpl]'; the default needs nothing extra")
    return _kmedoids


def _prepare(X, metric):
    """Rows ready for :func:`pairwise_distances`: contiguous float32, unit length for
    cosine (zero vectors stay zero: distance 1 to everything)."""
    if metric == "cosine":
        return inputs.l2_normalize(X)  # block by block into one float32 array
    return np.ascontiguousarray(X, dtype=np.float32)


def _fit_matrix(D, k, method, seed, max_iter):
    """Medoids from a full distance matrix."""
    if method == "fasterpam":
        res = _import_fasterpam().fasterpam(D, k, max_iter=max_iter, init="random",
                                            random_state=seed, n_cpu=1)
        return np.asarray(res.medoids, dtype=np.int64)
    if k == 1:
        return np.array([int(np.argmin(D.sum(axis=1, dtype=np.float64)))])
    from sklearn_extra.cluster import KMedoids

    if method == "pam":
        est = KMedoids(k, metric="precomputed", method="pam", init="build",
                       max_iter=max(max_iter, 300), random_state=seed)
    else:  # alternate, and the start of the swap
        est = KMedoids(k, metric="precomputed", method="alternate", init="k-medoids++",
                       max_iter=max(max_iter, 300), random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty-cluster and deprecation chatter
        medoids = np.asarray(est.fit(D).medoid_indices_, dtype=np.int64)
    medoids = _distinct(medoids, len(D), seed)
    if method == "swap":
        medoids = eager_swap(D, medoids, max_passes=max_iter)
    return medoids


def _distinct(medoids, n, seed):
    # Duplicate points can make an initialisation pick the same row twice.
    if len(np.unique(medoids)) == len(medoids):
        return medoids
    rng = np.random.default_rng(seed)
    seen, out = set(), []
    free = iter(rng.permutation(np.setdiff1d(np.arange(n), medoids)))
    for m in medoids.tolist():
        out.append(m if m not in seen else int(next(free)))
        seen.add(out[-1])
    return np.array(out, dtype=np.int64)


def _single_threaded_blas():
    try:
        from threadpoolctl import threadpool_limits  # scikit-learn's own dependency
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _swap_state(D, medoids):
    Dm = D[medoids]  # (k, N)
    near = np.argmin(Dm, axis=0)
    two = np.partition(Dm, 1, axis=0)
    dn, ds = two[0], two[1]
    removal = np.bincount(near, weights=ds - dn, minlength=len(medoids)).astype(np.float32)
    onehot = np.zeros((len(near), len(medoids)), dtype=np.float32)
    onehot[np.arange(len(near)), near] = 1.0
    return near, dn, ds, removal, float(dn.sum(dtype=np.float64)), onehot


def _swap_gains(Dc, near, dn, ds, removal, onehot):
    """Loss change of swapping each candidate row of ``Dc`` (B, N) with each medoid: (B, k).

    For a candidate c and a point o with nearest medoid distance dn(o) and
    second-nearest ds(o): if d(o, c) < dn(o), o moves to c whichever medoid
    goes (gain d(o,c) - dn(o) for every medoid, and o no longer needs its
    removal loss ds(o) - dn(o)); else if d(o, c) < ds(o) and o's medoid goes,
    o moves to c instead of its second medoid (d(o,c) - ds(o)).
    """
    diff = Dc - dn
    closer = diff < 0
    shared = np.minimum(diff, 0.0).sum(axis=1, dtype=np.float64)  # (B,)
    per_point = Dc - ds
    np.minimum(per_point, 0.0, out=per_point)
    np.copyto(per_point, np.broadcast_to(dn - ds, per_point.shape), where=closer)
    gain = per_point @ onehot  # (B, k): summed by each point's nearest medoid
    gain += removal
    gain += shared[:, None].astype(np.float32)
    return gain


def _assign(Xp, medoids, metric, chunk=32768):
    """Nearest medoid (index into ``medoids``) and distance of every row: two (N,) arrays."""
    M = Xp[medoids]
    labels = np.empty(len(Xp), dtype=np.int64)
    dist = np.empty(len(Xp), dtype=np.float32)
    for a in range(0, len(Xp), chunk):
        Dm = pairwise_distances(Xp[a:a + chunk], M, metric=metric, prepared=True)
        labels[a:a + chunk] = np.argmin(Dm, axis=1)
        dist[a:a + chunk] = Dm[np.arange(len(Dm)), labels[a:a + chunk]]
    # A medoid belongs to its own cluster, even when another medoid is a duplicate.
    labels[medoids] = np.arange(len(medoids))
    dist[medoids] = 0.0
    return labels, dist


class _PreparedRows:
    """``_prepare(X[rows])`` computed on access, block by block (never whole)."""

    def __init__(self, X, metric, rows=None):
        self.X, self.metric, self.rows = X, metric, rows
        self.shape = (len(X) if rows is None else len(rows), X.shape[1])

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, idx):
        return _prepare(self.X[idx if self.rows is None else self.rows[idx]], self.metric)

    def subset(self, rows):
        """The rows ``rows`` of this one, still lazy."""
        return _PreparedRows(self.X, self.metric,
                             rows if self.rows is None else self.rows[rows])


def _one_medoid(Xc, metric, max_candidates=2000, chunk=4096):
    """Index (into Xc) of the point with the least sum of distances to all of Xc.

    ``Xc``: prepared rows, an array or :class:`_PreparedRows` (read in blocks).
    """
    n = len(Xc)
    block = 16384
    if metric == "cosine":
        # sum_o (1 - x·o) = n - x·S: the medoid maximizes x·S (exact, O(n·D)).
        S = np.zeros(Xc.shape[1])
        for a in range(0, n, block):
            S += Xc[a:a + block].sum(axis=0, dtype=np.float64)
        score = np.concatenate([Xc[a:a + block].astype(np.float64, copy=False) @ S
                                for a in range(0, n, block)])
        return int(np.argmax(score))
    if n <= 1:
        return 0
    cand = np.arange(n)
    if n > 2 * max_candidates:
        # The medoid lies near the mean: score the members nearest to it.
        mean = sum(Xc[a:a + block].sum(axis=0, dtype=np.float64)
                   for a in range(0, n, block)) / n
        d = np.concatenate([np.linalg.norm(Xc[a:a + block] - mean, axis=1)
                            for a in range(0, n, block)])
        cand = np.argpartition(d, max_candidates)[:max_candidates]
    C = Xc[cand]
    cost = np.zeros(len(cand))
    for a in range(0, n, chunk):
        cost += pairwise_distances(C, Xc[a:a + chunk], metric=metric,
                                   prepared=True).sum(axis=1, dtype=np.float64)
    return int(cand[np.argmin(cost)])


def _alternate(Xp, medoids, metric, max_iter):
    """Exact alternate (Voronoi iteration) steps on all points; never raises the loss."""
    labels, dist = _assign(Xp, medoids, metric)
    loss = float(dist.sum(dtype=np.float64))
    for _ in range(max_iter):
        new = medoids.copy()
        for j in range(len(medoids)):
            members = np.flatnonzero(labels == j)
            if len(members):
                rows = Xp.subset(members) if isinstance(Xp, _PreparedRows) else Xp[members]
                new[j] = members[_one_medoid(rows, metric)]
        if np.array_equal(new, medoids):
            break
        new_labels, new_dist = _assign(Xp, new, metric)
        new_loss = float(new_dist.sum(dtype=np.float64))
        if not new_loss < loss:
            break
        medoids, labels, loss = new, new_labels, new_loss
    return medoids, loss


def _clara(Xp, k, metric, rng, memory_budget, sample_size, num_draws, max_iter):
    n = len(Xp)
    size = int(sample_size) if sample_size else max(5000, 100 * k)
    size = min(n, size, max_matrix_size(memory_budget))
    if size <= k:
        raise ValueError("memory_budget allows samples of %d points, too few for k=%d"
                         % (size, k))
    best, best_loss = None, np.inf
    for draw in range(max(1, int(num_draws))):
        sample = rng.choice(n, size, replace=False)
        if best is not None:  # CLARA: every later sample contains the best medoids so far
            rest = sample[~np.isin(sample, best)][: size - k]
            sample = np.concatenate([best, rest])
        D = pairwise_distances(Xp[sample], metric=metric, prepared=True)
        medoids = sample[_fit_matrix(D, k, "swap", int(rng.integers(2**31)), max_iter)]
        del D
        medoids, loss = _alternate(Xp, medoids, metric, max_iter)
        if loss < best_loss:
            best, best_loss = medoids, loss
    return best


def _finish(Xp, medoids, metric, method):
    medoids = np.asarray(medoids, dtype=np.int64)
    labels, dist = _assign(Xp, medoids, metric)
    k = len(medoids)
    sizes = np.bincount(labels, minlength=k)
    order = np.lexsort((medoids, -sizes))  # largest cluster first, ties by row
    new_id = np.empty(k, dtype=np.int64)
    new_id[order] = np.arange(k)
    return KMedoidsFit(medoids[order], new_id[labels], dist,
                       float(dist.sum(dtype=np.float64)), method)


def _score(D, medoids, criterion):
    Dm = D[medoids]
    labels = np.argmin(Dm, axis=0)
    labels[medoids] = np.arange(len(medoids))
    if len(np.unique(labels)) < 2:
        return -1.0
    if criterion == "medoid_silhouette":
        two = np.partition(Dm, 1, axis=0)
        a, b = two[0].astype(np.float64), two[1].astype(np.float64)
        s = np.where(b > 0, 1.0 - a / np.where(b > 0, b, 1.0), 0.0)
        return float(s.mean())
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(D, labels, metric="precomputed"))


# ---------------------------------------------------------------------------
# Dataset level



class RepresentativesResults(runs.Results):
    """What :func:`find_representatives` did.

    Attributes:
        num_samples: samples clustered (those with an embedding)
        num_skipped: samples of the view skipped for having no embedding
        num_clusters: clusters in all (= representatives)
        ks: ``{class: k}`` with ``per_class``, else ``{None: k}``
        k_scores: with ``k="auto"``, ``{class: {k: score}}`` (class None without
            ``per_class``)
        loss: sum of distances of every sample to its medoid
        methods: ``{class: method that ran}``
        medoid_ids: sample ids of the medoids, in cluster order
        cluster_sizes: samples per cluster, in cluster order
        per_class, metric: as passed
        cluster_field, distance_field, rank_field, tag: what was written
        saved_view: the name of the saved view (one sample per cluster)
        run_key: the run recorded on the dataset
        seconds: wall time
    """

    ATTRIBUTES = ("num_samples", "num_clusters", "ks", "k_scores", "loss", "methods",
                  "medoid_ids", "cluster_sizes", "per_class", "metric", "cluster_field",
                  "distance_field", "rank_field", "tag", "saved_view", "run_key", "seconds")

    @property
    def k(self):
        """The k used (a dict ``{class: k}`` with ``per_class``)."""
        return self.ks if self.per_class else self.ks[None]

    def summary(self):
        if self.per_class:
            how = "per class of %r (%d classes, k from %d to %d)" % (
                self.per_class, len(self.ks), min(self.ks.values()), max(self.ks.values()))
        else:
            how = "k=%d%s" % (self.ks[None], " (auto)" if self.k_scores else "")
        return ("Representatives: %d clusters of %d samples, %s, %s metric, loss %.4g; "
                "medoids tagged %r, clusters in %r, saved view %r, %.1f s"
                % (self.num_clusters, self.num_samples, how, self.metric, self.loss,
                   self.tag, self.cluster_field, self.saved_view, self.seconds))


def saved_view_name(cluster_field="cluster", patches_field=None):
    """The saved view of the run writing ``cluster_field`` (on the objects of the
    field named ``patches_field``: ``winnow-<field>-representatives...``)."""
    return ("winnow-" + ("%s-" % patches_field if patches_field else "") + "representatives"
            + ("" if cluster_field == "cluster" else "-" + cluster_field))


def find_representatives(samples, *, k=10, embeddings_field="embedding",
                         cluster_field="cluster", tag="representative",
                         distance_field="medoid_distance", rank_field="medoid_rank",
                         metric="cosine", per_class=None, method="auto",
                         k_range=DEFAULT_K_RANGE, criterion="silhouette", seed=0,
                         memory_budget=DEFAULT_MEMORY_BUDGET, progress=None,
                         overwrite=False, backend=None, patches_field=None):
    """Clusters a dataset or view with k-medoids and marks the medoids as representatives.

    Every sample gets its cluster id (``cluster_field``) and its distance to its
    cluster's medoid (``distance_field``). Each medoid, a real sample, gets
    ``tag`` and its rank in ``rank_field``: clusters are numbered by decreasing
    size, and a medoid's rank is its cluster's number within its class (0: the
    largest cluster). The saved view :func:`saved_view_name` holds the medoids
    sorted by cluster: one image per cluster in the App. A re-run with the same
    ``cluster_field`` replaces the previous result (fields, tag, view). Samples
    without an embedding (unreadable images) are skipped and counted in
    ``num_skipped``.

    Args:
        samples: a dataset or view
        k (10): clusters: an int; a float in (0, 1) for that fraction of the
            samples (of each class with ``per_class``), at least 1; or
            ``"auto"`` to choose k by ``criterion`` over ``k_range``
            (:func:`choose_k`). With ``per_class`` an int is the k of each class,
            capped at the class size (see :func:`group_k`)
        embeddings_field ("embedding"): the vector field
        cluster_field ("cluster"): int field, the cluster id (unique across classes)
        tag ("representative"): the sample tag of medoids
        distance_field ("medoid_distance"): float field, distance to the medoid
        rank_field ("medoid_rank"): int field, set on medoids only
        metric ("cosine"): ``"cosine"`` or ``"euclidean"``
        per_class (None): a label field (``fo.Classification``, string, int or
            bool field, or a dotted path to one; see
            :func:`~winnow.plugin.inputs.label_field`): each class is clustered
            on its own, so every class has representatives. Samples without a
            label form their own group
        method ("auto"): the k-medoids method, see :func:`kmedoids`;
            ``"fasterpam"`` needs the opt-in GPL ``kmedoids`` package
        k_range ((2, 20)), criterion ("silhouette"): for ``k="auto"``
        seed (0): random seed
        memory_budget (1 GiB): bytes allowed for a distance matrix
        progress (None): True/False, or a callback taking a FiftyOne progress bar
        overwrite (False): whether fields, the tag or the saved view not written
            by this step may be replaced
        backend (None): deprecated name of ``method`` (the App form's name);
            give one of the two
        patches_field (None): a ``fo.Detections``/``fo.Polylines`` field:
            cluster its OBJECTS instead (their ``embeddings_field`` attribute);
            the three fields are then attributes of each object, ``tag`` a
            label tag on the medoid objects, and the saved view (named
            ``saved_view_name(cluster_field, patches_field)``) a patches view
            of the medoids sorted by cluster; ``per_class=True`` clusters each
            object ``label`` on its own

    Returns:
        a :class:`RepresentativesResults`
    """
    inputs.check_collection(samples)
    # Messages name the option the user passed.
    method_param = "method" if backend is None else "backend"
    method = inputs.renamed(method, backend, name="method", old_name="backend",
                            default="auto")
    inputs.check_choice(metric, METRICS, "metric")
    inputs.check_choice(method, METHODS, method_param)
    inputs.check_choice(criterion, CRITERIA, "criterion")
    if method == "fasterpam":
        _import_fasterpam()
    if k == "auto":
        _check_k_range(k_range)
    fields = [cluster_field, distance_field, rank_field]
    if len(set(fields)) != 3:
        raise ValueError("cluster_field, distance_field and rank_field must differ; got %r"
                         % (fields,))
    # A patches view (e.g. a saved view of flagged objects) runs on its objects.
    samples = inputs.samples_of_patches(samples, patches_field)
    pf = inputs.resolve_patches(samples, patches_field)
    view_name = saved_view_name(cluster_field, pf.name if pf else None)
    step = runs.Step(samples, STEP, fields=dict(cluster=cluster_field, distance=distance_field,
                                                rank=rank_field),
                     tags=[tag], saved_views=[view_name],
                     score=dict(field=distance_field, descending=False), overwrite=overwrite,
                     patches_field=pf)

    labels = None if per_class is None or pf else inputs.label_field(samples, per_class)
    # Unlabeled samples are clustered too, as a group of their own.
    ids, X, labels, num_skipped = inputs.load_vectors(
        samples, embeddings_field, per_class if pf else labels, unlabeled="keep",
        patches_field=pf)
    groups = _groups(labels, len(ids))
    ks = {label: group_k(k, len(idx), per_class=per_class) for label, idx in groups}

    # Compute everything, then write once.
    n = len(ids)
    cluster = np.empty(n, dtype=np.int64)
    distances = np.empty(n, dtype=np.float32)
    ranks = {}
    medoid_rows, sizes, methods, k_scores = [], [], {}, {}
    steps = sum(len(k_candidates(len(idx), k_range=k_range)) if ks[lab] == "auto" else 0
                for lab, idx in groups) + len(groups)
    offset = 0
    with fou.ProgressBar(total=steps, progress=progress) as pb:
        for label, idx in groups:
            kg = ks[label]
            if kg == "auto":
                kg, k_scores[label] = choose_k(
                    X[idx], k_range=k_range, metric=metric, criterion=criterion, seed=seed,
                    memory_budget=memory_budget, callback=lambda: pb.update(1))
                ks[label] = kg
            Xg = X if len(idx) == len(X) else X[idx]  # one group: no copy
            fit = kmedoids(Xg, kg, metric=metric, method=method, seed=seed,
                           memory_budget=memory_budget)
            pb.update(1)
            cluster[idx] = fit.labels + offset
            distances[idx] = fit.distances
            for j, row in enumerate(fit.medoids.tolist()):
                ranks[ids[idx[row]]] = j
            medoid_rows.extend(idx[fit.medoids].tolist())
            sizes.extend(np.bincount(fit.labels, minlength=kg).tolist())
            methods[label] = fit.method
            offset += kg
    medoid_ids = [ids[i] for i in medoid_rows]

    # One final write; a re-run first takes back its own tag and fields.
    dataset = samples._root_dataset
    if pf:
        with step.writing():
            step.untag(tag)
            for role in ("cluster", "distance", "rank"):
                step.clear(role)
            step.set_values("cluster", fof.IntField, dict(zip(ids, cluster.tolist())))
            step.set_values("distance", fof.FloatField,
                            dict(zip(ids, distances.astype(float).tolist())))
            step.set_values("rank", fof.IntField, ranks)
            step.tag(medoid_ids, tag)
            view = inputs.objects_view(samples, pf, tag).sort_by(
                "%s.%s" % (pf.name, cluster_field))
            dataset.save_view(view_name, view, overwrite=True,
                              description="Winnow: one k-medoid representative object per "
                                          "cluster (run %s)" % step.key)
    else:
        with step.writing():
            dataset.untag_samples(tag)
            schema = dataset.get_field_schema()
            for f, ftype in zip(fields, (fof.IntField, fof.FloatField, fof.IntField)):
                if f in schema:
                    dataset.clear_sample_field(f)
                inputs.declare_field(samples, f, ftype)
            samples.set_values(cluster_field, dict(zip(ids, cluster.tolist())), key_field="id")
            samples.set_values(distance_field,
                               dict(zip(ids, distances.astype(float).tolist())),
                               key_field="id")
            dataset.select(medoid_ids).set_values(rank_field, ranks, key_field="id")
            dataset.select(medoid_ids).tag_samples(tag)
            dataset.save_view(view_name, dataset.exists(rank_field).sort_by(cluster_field),
                              description="Winnow: one k-medoid representative per cluster "
                                          "(run %s)" % step.key, overwrite=True)

    loss = float(distances.sum(dtype=np.float64))
    params = dict(k=k if isinstance(k, str) else float(k) if isinstance(k, float) else int(k),
                  embeddings_field=embeddings_field, metric=metric, per_class=per_class,
                  method=method, k_range=list(k_range), criterion=criterion, seed=seed,
                  memory_budget=int(memory_budget),
                  ks={str(lab): int(v) for lab, v in ks.items()},
                  methods={str(lab): m for lab, m in methods.items()})
    counts = dict(samples=n, clusters=len(medoid_ids), loss=loss, skipped=num_skipped)
    key = step.record(params, counts)
    return RepresentativesResults(
        num_samples=n, num_clusters=len(medoid_ids), num_skipped=num_skipped, ks=ks,
        k_scores=k_scores, loss=loss, methods=methods, medoid_ids=medoid_ids,
        cluster_sizes=sizes, per_class=per_class, metric=metric, cluster_field=cluster_field,
        distance_field=distance_field, rank_field=rank_field, tag=tag, saved_view=view_name,
        run_key=key, seconds=step.seconds,
    )


def group_k(k, n, *, per_class=None):
    """The k of a group of ``n`` samples, as :func:`find_representatives` reads ``k``.

    Args:
        k: an int, a fraction in (0, 1) of the group (at least 1), or ``"auto"``
        n: the group's size
        per_class (None): the run's label field; with one, an int k is capped at
            the class size (every sample of a small class represents itself),
            without one a k larger than ``n`` is an error

    Returns:
        an int, or ``"auto"`` (a group of fewer than 3 samples gets 1)

    Raises:
        ValueError: a k that is none of these
    """
    if k == "auto":
        return "auto" if n >= 3 else 1
    if isinstance(k, float) and not isinstance(k, bool):
        if not 0.0 < k < 1.0:
            raise ValueError("A fractional k must be in (0, 1); got %r" % k)
        return max(1, int(round(k * n)))
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError("k must be a positive integer, a fraction in (0, 1) or 'auto'; "
                         "got %r" % (k,))
    if per_class is not None:
        return int(min(k, n))
    if k > n:
        raise ValueError("k=%d is larger than the number of samples in the view (%d)"
                         % (k, n))
    return int(k)




def _groups(labels, n):
    """``[(label, rows)]``: one group of all N rows (``labels`` None), or one per
    class, sorted, the unlabeled samples (None) last."""
    if labels is None:
        return [(None, np.arange(n))]
    by_label = collections.defaultdict(list)
    for i, v in enumerate(labels):
        by_label[v].append(i)
    order = sorted(by_label, key=lambda v: (v is None, str(v)))
    return [(v, np.array(by_label[v], dtype=np.int64)) for v in order]
