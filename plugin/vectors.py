"""Shared by the dataset filter (outliers, redundancy): validation, reduction, quotas.

Array-level helpers take ``(N, D)`` arrays; dataset-level helpers read a
vector field and refuse bad input before anything is written.
"""

import math

import numpy as np

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol

REDUCTIONS = ("pca", "umap", None)


def check_fraction(fraction, name="fraction"):
    """Raises ValueError unless ``0 < fraction < 1``."""
    try:
        value = float(fraction)
    except (TypeError, ValueError):
        raise ValueError("%s must be a number in (0, 1); got %r" % (name, fraction))
    if not 0.0 < value < 1.0 or math.isnan(value):
        raise ValueError("%s must be in (0, 1) (exclusive); got %r" % (name, fraction))
    return value


def check_array(X, min_samples=2):
    """Validates an embedding matrix: ``(N, D)``, finite, at least ``min_samples`` rows.

    Returns:
        an ``(N, D)`` float array
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError("Embeddings must be a 2-D (N, D) array; got shape %s" % (X.shape,))
    if X.shape[0] < min_samples:
        raise ValueError("Need at least %d embeddings; got %d" % (min_samples, X.shape[0]))
    if X.shape[1] < 1:
        raise ValueError("Embeddings have no dimensions")
    if not np.issubdtype(X.dtype, np.number):
        raise ValueError("Embeddings must be numeric; got dtype %s" % X.dtype)
    bad = nonfinite_rows(X)
    if bad.any():
        raise ValueError(
            "%d embedding(s) contain NaN or infinite values (first at row %d)"
            % (int(bad.sum()), int(np.flatnonzero(bad)[0]))
        )
    return X


CHUNK = 16384  # rows per block: chunked passes never copy a whole (N, D) array


def nonfinite_rows(X, chunk=CHUNK):
    """An ``(N,)`` bool array: rows of ``X`` with a NaN or infinite value (chunked)."""
    bad = np.zeros(len(X), dtype=bool)
    if np.issubdtype(X.dtype, np.integer):
        return bad
    for a in range(0, len(X), chunk):
        bad[a:a + chunk] = ~np.isfinite(X[a:a + chunk]).all(axis=1)
    return bad


def l2_normalize(X, dtype=np.float32, chunk=CHUNK):
    """Rows scaled to unit length (zero rows stay zero): cosine geometry.

    Block by block into one new ``dtype`` array, so a float64 or large input is
    never copied twice.
    """
    X = np.asarray(X)
    out = np.empty(X.shape, dtype=dtype)
    for a in range(0, len(X), chunk):
        block = np.asarray(X[a:a + chunk], dtype=dtype)
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        np.divide(block, norms, out=out[a:a + chunk])
    return out


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


VECTOR_FIELDS = (fof.VectorField, fof.ArrayField, fof.ListField)


def check_vector_field(schema, field):
    """Raises ValueError unless ``field`` is a field of vectors in ``schema``."""
    if not isinstance(field, str) or not field:
        raise ValueError("embeddings_field must be a field name; got %r" % (field,))
    if field not in schema:
        raise ValueError("The collection has no field %r; compute embeddings first "
                         "(winnow.compute_embeddings)" % field)
    if not isinstance(schema[field], VECTOR_FIELDS):
        raise ValueError("Field %r is not a vector field (it is a %s); pass the field of "
                         "embeddings written by winnow.compute_embeddings"
                         % (field, type(schema[field]).__name__))


LOAD_BATCH = 20000


def load_vectors(samples, embeddings_field, per_class=None):
    """Reads embeddings (and labels) from a collection, refusing bad input.

    Samples without a vector (e.g. unreadable images, see
    ``<embeddings_field>_error``) are skipped: they are not among the N rows.

    Returns:
        ``(ids, X, labels, num_skipped)``: N sample ids, an ``(N, D)`` float32
        array, an ``(N,)`` array of label strings (None without ``per_class``),
        and the number of samples skipped for having no vector

    Raises:
        ValueError: empty view, missing or non-vector field, no vector at all,
            vectors of different lengths or non-finite, missing labels
    """
    schema = samples.get_field_schema()
    check_vector_field(schema, embeddings_field)
    label_path = None
    if per_class is not None:
        label_path = _label_path(samples, schema, per_class)
    n = len(samples)
    if n == 0:
        raise ValueError("The view is empty: there is nothing to filter")
    # Unembedded samples (their image could not be read) are skipped, not fatal.
    columns = samples.exists(embeddings_field).values(
        ["id"] + ([label_path] if label_path else []))
    ids = columns[0]
    if not ids:
        raise ValueError("No sample of the view has a %r vector; compute embeddings first "
                         "(winnow.compute_embeddings)" % embeddings_field)
    num_skipped = n - len(ids)
    X = _read_vectors(samples, ids, embeddings_field)
    try:
        X = check_array(X, min_samples=1)
    except ValueError as e:
        raise ValueError("Field %r: %s" % (embeddings_field, e))
    labels = None
    if label_path:
        labels = np.asarray(columns[1], dtype=object)
        none = [i for i, v in enumerate(labels) if v is None]
        if none:
            raise ValueError("%d samples have no label in %r (e.g. sample %s): per-class "
                             "quotas need a class for every sample; run on the labeled ones "
                             "(samples.exists(%r)) or without per_class"
                             % (len(none), per_class, ids[none[0]], per_class.split(".")[0]))
        labels = labels.astype(str)
    return list(ids), X, labels, num_skipped


def _read_vectors(samples, ids, embeddings_field, batch_size=LOAD_BATCH):
    """The vectors of samples ``ids`` as one ``(len(ids), D)`` float32 array.

    Read ``batch_size`` samples at a time into a preallocated array: reading
    them all at once holds the database's bytes, the per-sample arrays and the
    stacked copy together (~3x the embeddings: 15 GB for 1 M x 1280).
    """
    row = {i: r for r, i in enumerate(ids)}
    X = None
    for start in range(0, len(ids), batch_size):
        wanted = ids[start:start + batch_size]
        batch_ids, batch = samples.select(wanted).values(["id", embeddings_field])
        if len(batch_ids) != len(wanted) or any(v is None for v in batch):
            raise ValueError("The view changed while its vectors were read (samples or %r "
                             "vectors deleted); run again" % embeddings_field)
        for i, v in zip(batch_ids, batch):
            v = np.asarray(v).ravel()
            if X is None:
                X = np.empty((len(ids), v.size), dtype=np.float32)
            if v.size != X.shape[1]:
                raise ValueError("Field %r holds vectors of different lengths (%d and %d)"
                                 % (embeddings_field, X.shape[1], v.size))
            X[row[i]] = v
    return X


def _label_path(samples, schema, per_class):
    if not isinstance(per_class, str) or not per_class:
        raise ValueError("per_class must be a label field name; got %r" % (per_class,))
    root = per_class.split(".")[0]
    if root not in schema:
        raise ValueError("The collection has no field %r (per_class)" % per_class)
    if "." in per_class:
        return per_class  # an explicit path, e.g. "ground_truth.label"
    field = schema[root]
    if (isinstance(field, fof.EmbeddedDocumentField)
            and issubclass(field.document_type, fol.Classification)):
        # The class is the label's `label`.
        return per_class + ".label"
    if not isinstance(field, (fof.StringField, fof.IntField, fof.BooleanField)):
        raise ValueError("per_class must be a Classification or string field; %r is a %s"
                         % (per_class, getattr(field, "document_type", None).__name__
                            if isinstance(field, fof.EmbeddedDocumentField)
                            else type(field).__name__))
    return per_class


def check_tags_writable(samples, tags, owner_key, overwrite=False):
    """Refuses to hand out a sample tag that someone else already uses.

    A tag may be written when no sample of the dataset has it, when the run
    ``owner_key`` wrote it before, or with ``overwrite=True``.
    """
    from . import runs

    dataset = samples._root_dataset
    counts = dataset.count_sample_tags()
    owned = {}
    for run in runs.list_runs(dataset):
        for t in run["tags"]:
            owned.setdefault(t, set()).add(run["key"])
    for tag in tags:
        if not isinstance(tag, str) or not tag:
            raise ValueError("Tags must be non-empty strings; got %r" % (tag,))
        if counts.get(tag) and not overwrite and owner_key not in owned.get(tag, ()):
            raise ValueError(
                "%d samples already carry the tag %r, not written by this Winnow step; "
                "choose another tag or pass overwrite=True" % (counts[tag], tag)
            )


def declare_field(samples, field, ftype):
    dataset = samples._root_dataset
    if field not in dataset.get_field_schema():
        dataset.add_sample_field(field, ftype)
