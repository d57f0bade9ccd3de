"""Geometry shared by the embedding steps: reduction, squared distances, class quotas.

Array functions over ``(N, D)`` arrays; what is read from a dataset and how it
is validated lives in :mod:`~winnow.plugin.inputs`.
"""

import numpy as np

from .inputs import CHUNK, l2_normalize

REDUCTIONS = ("pca", "umap", None)


def check_reduction(n_components, reduce):
    """Raises ValueError for a bad reduction (before anything is computed or written)."""
    if reduce not in REDUCTIONS:
        raise ValueError("reduce must be one of %s; got %r" % (list(REDUCTIONS), reduce))
    if n_components is not None and (isinstance(n_components, bool) or not isinstance(
            n_components, (int, np.integer)) or n_components < 1):
        raise ValueError("n_components must be a positive integer or None; got %r"
                         % (n_components,))
    if reduce == "umap":
        try:
            import umap  # noqa: F401
        except ImportError:
            raise ValueError("reduce='umap' needs the umap-learn package; use reduce='pca'")


def squared_distances(A, B, b_sq=None):
    """Squared Euclidean distances ``(len(A), len(B))`` by one BLAS product, clipped at 0.

    Args:
        A: an ``(M, D)`` array; B: an ``(N, D)`` array
        b_sq (None): the ``(N,)`` squared norms of B, when computed once for many A
    """
    d2 = A @ B.T
    d2 *= -2.0
    d2 += np.einsum("ij,ij->i", A, A)[:, None]
    d2 += (np.einsum("ij,ij->i", B, B) if b_sq is None else b_sq)[None, :]
    np.maximum(d2, 0.0, out=d2)
    return d2


PCA_FIT_ROWS = 50000  # PCA is fitted on at most this many rows (a seeded sample)


def reduce_dimensions(X, n_components=None, reduce="pca", random_state=0,
                      fit_rows=PCA_FIT_ROWS):
    """L2-normalises, then reduces to ``min(n_components, N, D)`` dimensions.

    PCA is fitted on the normalised rows (all of them up to ``fit_rows``, else a
    seeded random sample of ``fit_rows``: 50 000 rows pin the top components of
    a 1 280-d embedding well) and applied block by block, so memory stays
    O(fit_rows · D + N · d): the normalised (N, D) copy is never built.

    Args:
        X: an ``(N, D)`` array
        n_components (None): the target dimension (the thesis's N_reduce);
            None keeps all ``D``
        reduce ("pca"): ``"pca"``, ``"umap"`` (needs ``umap-learn``) or None
        random_state (0): seed of the randomized PCA and of the fit sample
        fit_rows (50 000): rows PCA is fitted on

    Returns:
        an ``(N, d)`` float32 array of unit rows, ``d = min(n_components, N, D)``
    """
    check_reduction(n_components, reduce)
    X = np.asarray(X)
    n, d = X.shape
    if n_components is None or reduce is None or int(min(n_components, n, d)) >= d:
        return l2_normalize(X)
    k = int(min(n_components, n, d))
    if reduce == "umap":
        import umap

        Z = umap.UMAP(n_components=k, metric="cosine",
                      random_state=random_state).fit_transform(l2_normalize(X))
        return l2_normalize(Z)
    from sklearn.decomposition import PCA

    rows = np.arange(n)
    if n > fit_rows:
        rows = np.sort(np.random.default_rng(random_state).choice(n, fit_rows, replace=False))
    m = len(rows)
    solver = "randomized" if k < 0.8 * min(m, d) else "full"
    pca = PCA(n_components=k, svd_solver=solver, random_state=random_state)
    pca.fit(l2_normalize(X[rows] if m < n else X))
    mean = pca.mean_.astype(np.float32)
    components = pca.components_.T.astype(np.float32)
    Z = np.empty((n, k), dtype=np.float32)
    for a in range(0, n, CHUNK):
        block = l2_normalize(X[a:a + CHUNK])
        block -= mean
        np.matmul(block, components, out=Z[a:a + CHUNK])
    return l2_normalize(Z)


def class_quotas(labels, total):
    """Splits ``total`` removals over classes in proportion to their sizes.

    Largest-remainder rounding, so the quotas add up to ``total`` exactly and
    each class loses ``fraction · n_c`` samples ± 1.

    Args:
        labels: an ``(N,)`` array of class labels
        total: how many samples to select in all

    Returns:
        a dict ``{label: count}``
    """
    classes, sizes = np.unique(np.asarray(labels, dtype=object).astype(str),
                               return_counts=True)
    n = sizes.sum()
    exact = sizes * (total / float(n))
    quotas = np.floor(exact).astype(int)
    left = int(total - quotas.sum())
    if left > 0:
        # Stable: ties go to the larger class, then the first label.
        order = np.lexsort((np.arange(len(classes)), -sizes, -(exact - quotas)))
        quotas[order[:left]] += 1
    return dict(zip(classes.tolist(), quotas.tolist()))


