"""The one input layer: what every Winnow step reads, and what it may write.

Every dataset step reads its embeddings (:func:`load_vectors`, batched into one
preallocated array), resolves its label field (:func:`label_field`: one contract
for ``per_class`` and ``label_field``), validates arrays and parameters
(:func:`check_array`, :func:`check_fraction`, :func:`check_choice`), normalises
rows (:func:`l2_normalize`), declares its output fields (:func:`declare_field`)
and checks, before anything is written, that its fields, tags and saved views
are its own to write (:func:`check_writable`). Array helpers take ``(N, D)``
arrays; dataset helpers refuse bad input with one clear ``ValueError``.
"""

import collections
import math
import warnings

import numpy as np

import fiftyone.core.collections as foc
import fiftyone.core.fields as fof
import fiftyone.core.labels as fol

CHUNK = 16384  # rows per block: chunked passes never copy a whole (N, D) array
LOAD_BATCH = 20000  # samples read per database query by load_vectors
VECTOR_FIELDS = (fof.VectorField, fof.ArrayField, fof.ListField)

# Attributes of objects (fo.Detection, fo.Polyline) no Winnow step may write to.
OBJECT_PROTECTED = frozenset(
    ["id", "_id", "_cls", "tags", "attributes", "label", "bounding_box", "mask", "mask_path",
     "confidence", "index", "points", "closed", "filled"]
)

# Sample fields no Winnow step may ever write to.
PROTECTED_FIELDS = frozenset(
    ["id", "_id", "filepath", "tags", "metadata", "created_at", "last_modified_at",
     "_dataset_id", "_media_type", "_rand"]
)


# ----------------------------------------------------------------- parameters


def check_collection(samples):
    """Raises TypeError unless ``samples`` is a FiftyOne dataset or view."""
    if not isinstance(samples, foc.SampleCollection):
        raise TypeError("samples must be a FiftyOne dataset or view; got %s"
                        % type(samples).__name__)
    return samples


def check_fraction(fraction, name="fraction"):
    """Raises ValueError unless ``0 < fraction < 1``; returns it as a float."""
    try:
        value = float(fraction)
    except (TypeError, ValueError):
        raise ValueError("%s must be a number in (0, 1); got %r" % (name, fraction))
    if not 0.0 < value < 1.0 or math.isnan(value):
        raise ValueError("%s must be in (0, 1) (exclusive); got %r" % (name, fraction))
    return value


def check_choice(value, choices, name):
    """Raises ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError("%s must be one of %s; got %r" % (name, list(choices), value))
    return value


def check_count(count, n, name="count"):
    """Raises ValueError unless ``count`` is an integer in ``[0, n]``."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) \
            or not 0 <= count <= n:
        raise ValueError("%s must be an integer in [0, %d] (the samples with embeddings); "
                         "got %r" % (name, n, count))
    return int(count)


def check_name(value, name):
    """Raises ValueError unless ``value`` is a non-empty string (a field or tag name)."""
    if not isinstance(value, str) or not value:
        raise ValueError("%s must be a non-empty string; got %r" % (name, value))
    return value


def renamed(value, old_value, *, name, old_name, default):
    """The value of option ``name``, or of its deprecated name ``old_name`` when given
    (with a DeprecationWarning).

    Raises:
        ValueError: both names given, with different values
    """
    if old_value is None:
        return value
    warnings.warn("%s is deprecated: pass %s" % (old_name, name), DeprecationWarning,
                  stacklevel=3)
    if value not in (default, old_value):
        raise ValueError("Pass %s or its deprecated name %s, not both (%r and %r)"
                         % (name, old_name, value, old_value))
    return old_value


# --------------------------------------------------------------------- arrays


def check_array(X, *, min_samples=2):
    """Validates an embedding matrix: ``(N, D)``, numeric, finite, ``N >= min_samples``.

    Args:
        X: an ``(N, D)`` array-like
        min_samples (2): the fewest rows accepted

    Returns:
        the ``(N, D)`` array (not copied when ``X`` is already an array)
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


def nonfinite_rows(X, *, chunk=CHUNK):
    """An ``(N,)`` bool array: rows of ``X`` with a NaN or infinite value (chunked)."""
    bad = np.zeros(len(X), dtype=bool)
    if np.issubdtype(X.dtype, np.integer):
        return bad
    for a in range(0, len(X), chunk):
        bad[a:a + chunk] = ~np.isfinite(X[a:a + chunk]).all(axis=1)
    return bad


def l2_normalize(X, *, dtype=np.float32, chunk=CHUNK):
    """Rows of an ``(N, D)`` array scaled to unit length (zero rows stay zero).

    Block by block into one new ``dtype`` array, so a float64 or large input is
    never copied twice.

    Returns:
        an ``(N, D)`` array of ``dtype``
    """
    X = np.asarray(X)
    out = np.empty(X.shape, dtype=dtype)
    for a in range(0, len(X), chunk):
        block = np.asarray(X[a:a + chunk], dtype=dtype)
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        np.divide(block, norms, out=out[a:a + chunk])
    return out


# ----------------------------------------------------------------- embeddings


def check_vector_field(schema, field):
    """Raises ValueError unless ``field`` is a field of vectors in ``schema``."""
    if not isinstance(field, str) or not field:
        raise ValueError("embeddings_field must be a field name; got %r" % (field,))
    if field not in schema:
        raise ValueError("No embeddings field %r: the collection has no field %r; compute "
                         "embeddings first (winnow.compute_embeddings)" % (field, field))
    if not isinstance(schema[field], VECTOR_FIELDS):
        raise ValueError("Field %r is not a vector field (it is a %s); pass the field of "
                         "embeddings written by winnow.compute_embeddings"
                         % (field, type(schema[field]).__name__))


class Vectors(collections.namedtuple("Vectors", ["ids", "X", "labels", "num_skipped"])):
    """What :func:`load_vectors` read: N row ids, an ``(N, D)`` float32 array, the
    N labels (None without labels) and the rows skipped for having no vector.

    Rows are samples, or objects when read with ``patches_field=``; then
    ``ids`` are the objects' label ids, ``sample_ids`` the ``(N,)`` list of
    each row's sample id, ``patches`` the :class:`PatchesField` and
    ``num_skipped`` counts the objects without a vector. Unpacks as the
    4-tuple ``(ids, X, labels, num_skipped)`` either way.

    Attributes:
        sample_ids: None for sample rows; each object's sample id
        patches: None for sample rows; the :class:`PatchesField` of the objects
    """

    sample_ids = None
    patches = None


def load_vectors(samples, embeddings_field, labels=None, *, unlabeled="raise",
                 patches_field=None):
    """Reads the embeddings (and labels) of a collection's samples or objects,
    refusing bad input.

    Samples without a vector (e.g. unreadable images, see
    ``<embeddings_field>_error``) are skipped: they are not among the N rows.
    Vectors are read :data:`LOAD_BATCH` samples at a time into one
    preallocated array (peak ~1x the embeddings).

    Args:
        samples: a dataset or view
        embeddings_field: the vector field
        labels (None): a label field name or :class:`LabelField` (see
            :func:`label_field`, whose rules apply: ``per_class``'s when a name
            is given) to read beside the vectors
        unlabeled ("raise"): what a sample without a label is: ``"raise"`` (a
            class is needed for every sample, e.g. per-class quotas) or
            ``"keep"`` (its label is None)
        patches_field (None): a ``fo.Detections``/``fo.Polylines`` field name or
            :class:`PatchesField`: the rows are then its OBJECTS, whose vectors
            are the attribute ``embeddings_field`` of each object; see
            :func:`load_object_vectors` (``labels`` is then an object attribute)

    Returns:
        a :class:`Vectors` ``(ids, X, labels, num_skipped)``: ``labels`` is an
        ``(N,)`` object array of class names (single-label), of lists of names
        (multi-label) or None

    Raises:
        ValueError: empty view, missing or non-vector field, no vector at all,
            vectors of different lengths or non-finite, missing labels
    """
    check_collection(samples)
    check_choice(unlabeled, ("raise", "keep"), "unlabeled")
    if patches_field is not None:
        return load_object_vectors(samples, patches_field, embeddings_field, labels,
                                   unlabeled=unlabeled)
    schema = samples.get_field_schema()
    check_vector_field(schema, embeddings_field)
    if isinstance(labels, str):
        labels = label_field(samples, labels)
    n = len(samples)
    if n == 0:
        raise ValueError("The view is empty: there is nothing to process")
    # Unembedded samples (their image could not be read) are skipped, not fatal.
    columns = samples.exists(embeddings_field).values(
        ["id"] + ([labels.path] if labels else []))
    ids = columns[0]
    if not ids:
        raise ValueError("No sample of the view has a %r vector; compute embeddings first "
                         "(winnow.compute_embeddings)" % embeddings_field)
    X = read_vectors(samples, ids, embeddings_field)
    try:
        X = check_array(X, min_samples=1)
    except ValueError as e:
        raise ValueError("Field %r: %s" % (embeddings_field, e))
    values = None
    if labels:
        values = labels.clean(columns[1])
        none = [i for i, v in enumerate(values) if v is None]
        if none and unlabeled == "raise":
            raise ValueError("%d samples have no label in %r (e.g. sample %s): a class is "
                             "needed for every sample; run on the labeled ones "
                             "(samples.exists(%r)) or without %s"
                             % (len(none), labels.name, ids[none[0]], labels.root,
                                labels.param))
    return Vectors(list(ids), X, values, n - len(ids))


def read_vectors(samples, ids, embeddings_field, *, batch_size=LOAD_BATCH):
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


# --------------------------------------------------------------------- labels

# What a label field may hold: "classification" (fo.Classification),
# "classifications" (fo.Classifications, multi-label), "primitive" (a string,
# int or bool field: the value is the class).
LABEL_KINDS = ("classification", "classifications", "primitive")
CLASS_KINDS = ("classification", "primitive")  # per_class: one class per sample
LABEL_FIELD_KINDS = ("classification", "classifications")  # label issues, predictions


class LabelField(collections.namedtuple(
        "LabelField", ["name", "param", "kind", "path", "id_path"])):
    """A resolved label field (see :func:`label_field`).

    Attributes:
        name: the field or dotted path the user gave
        param: the parameter it came from (for messages)
        kind: one of :data:`LABEL_KINDS`
        path: the path whose values are the classes (e.g. ``ground_truth.label``)
        id_path: the path of the labels' ids (None for primitive fields)
    """

    @property
    def multi_label(self):
        return self.kind == "classifications"

    @property
    def root(self):
        return self.name.split(".")[0]

    def clean(self, values):
        """The N read values as an object array: a class name, a list of class
        names (multi-label; an empty list is "no class") or None (unlabeled)."""
        out = np.empty(len(values), dtype=object)
        for i, v in enumerate(values):
            if v is None:
                out[i] = None
            elif self.multi_label:
                out[i] = [str(x) for x in v if x is not None]
            else:
                out[i] = str(v)
        return out


def label_field(samples, name, *, param="per_class", kinds=CLASS_KINDS):
    """Resolves a label field: the one contract for ``per_class`` and ``label_field``.

    ``name`` is a top-level field (a ``fo.Classification``: its ``label``; a
    ``fo.Classifications``: its labels, multi-label; a string, int or bool field:
    its value) or, for ``"primitive"`` kinds, an explicit dotted path (e.g.
    ``"ground_truth.label"``).

    Args:
        samples: a dataset or view
        name: the field name or dotted path
        param ("per_class"): the parameter's name, for messages
        kinds: the accepted :data:`LABEL_KINDS`

    Returns:
        a :class:`LabelField`

    Raises:
        ValueError: no such field, or a field of another kind
    """
    if not isinstance(name, str) or not name:
        raise ValueError("%s must be a label field name; got %r" % (param, name))
    schema = samples.get_field_schema()
    root = name.split(".")[0]
    if root not in schema:
        raise ValueError("No field %r for %s: the collection has no field %r (it does not "
                         "exist, or this view excludes it)" % (name, param, root))
    if "." in name and "primitive" in kinds:
        return LabelField(name, param, "primitive", name, None)  # an explicit path
    field = schema[root]
    doc = getattr(field, "document_type", None) if "." not in name else None
    if doc is not None and issubclass(doc, fol.Classifications) \
            and "classifications" in kinds:
        return LabelField(name, param, "classifications", name + ".classifications.label",
                          name + ".classifications.id")
    if doc is not None and issubclass(doc, fol.Classification) \
            and "classification" in kinds:
        return LabelField(name, param, "classification", name + ".label", name + ".id")
    if ("." not in name and "primitive" in kinds
            and isinstance(field, (fof.StringField, fof.IntField, fof.BooleanField))):
        return LabelField(name, param, "primitive", name, None)
    what = (doc.__name__ if doc is not None else type(field).__name__)
    if "primitive" in kinds:
        raise ValueError("%s must be a Classification or string field; %r is a %s"
                         % (param, name, what))
    raise ValueError("Field %r must hold fo.Classification or fo.Classifications labels; "
                     "it is %s" % (name, what))


# -------------------------------------------------------------------- objects

# What a patches field may hold: boxes (fo.Detections) or polygons (fo.Polylines,
# used through their bounding boxes).
PATCHES_KINDS = ("detections", "polylines")


class PatchesField(collections.namedtuple("PatchesField", ["name", "kind", "list_path"])):
    """A resolved objects field (see :func:`patches_field`).

    Attributes:
        name: the top-level field (e.g. ``"ground_truth"``)
        kind: one of :data:`PATCHES_KINDS`
        list_path: the path of its objects (e.g. ``"ground_truth.detections"``)
    """

    def path(self, attribute):
        """The path of an attribute of every object, e.g. ``ground_truth.detections.label``."""
        return "%s.%s" % (self.list_path, attribute)


def patches_field(samples, name, *, param="patches_field"):
    """Resolves the objects field a step runs on (``patches_field=``).

    Args:
        samples: a dataset or view
        name: a top-level ``fo.Detections`` or ``fo.Polylines`` field
        param ("patches_field"): the parameter's name, for messages

    Returns:
        a :class:`PatchesField`

    Raises:
        ValueError: no such field, or a field of another type
    """
    if not isinstance(name, str) or not name or "." in name:
        raise ValueError("%s must be the name of a top-level Detections or Polylines field; "
                         "got %r" % (param, name))
    schema = samples.get_field_schema()
    if name not in schema:
        raise ValueError("No field %r for %s: the collection has no field %r (it does not "
                         "exist, or this view excludes it)" % (name, param, name))
    doc = getattr(schema[name], "document_type", None)
    if doc is not None and issubclass(doc, fol.Detections):
        return PatchesField(name, "detections", name + ".detections")
    if doc is not None and issubclass(doc, fol.Polylines):
        return PatchesField(name, "polylines", name + ".polylines")
    what = doc.__name__ if doc is not None else type(schema[name]).__name__
    raise ValueError("%s must be a Detections or Polylines field; %r is a %s"
                     % (param, name, what))


def samples_of_patches(samples, patches_field):
    """``samples`` as a view of samples that shows exactly its objects: a patches
    view of ``patches_field`` (a name or :class:`PatchesField`; ``to_patches``, e.g.
    a saved view of flagged objects or the App's grid of objects) becomes its
    dataset's samples with only those objects; any other collection is returned
    as it is."""
    import fiftyone.core.patches as fop

    name = getattr(patches_field, "name", patches_field)
    if isinstance(samples, fop.PatchesView) and samples.patches_field == name:
        ids = samples.values(name + ".id")
        return samples._root_dataset.select_labels(ids=ids, fields=name)
    return samples


def resolve_patches(samples, value, *, param="patches_field"):
    """``value`` as a :class:`PatchesField`: a field name (resolved by
    :func:`patches_field`) or an already resolved one; None stays None."""
    if value is None or isinstance(value, PatchesField):
        return value
    return patches_field(samples, value, param=param)


def object_label_path(patches, labels):
    """The path of the objects' class for ``labels=`` of an object step: None/False
    (no classes), True or the objects field's own name (each object's ``label``)
    or the name of another object attribute."""
    if labels is None or labels is False:
        return None
    if labels is True or labels == patches.name or labels == patches.path("label"):
        return patches.path("label")
    check_name(labels, "labels")
    if "." in labels:
        raise ValueError("With patches_field=%r, the class is an attribute of the objects "
                         "(e.g. 'label' or True); got %r" % (patches.name, labels))
    return patches.path(labels)


def _as_vector(v):
    # An attribute written undeclared (set_label_values of an array) reads back as
    # FiftyOne's serialized bytes.
    if isinstance(v, (bytes, bytearray)):
        import fiftyone.core.utils as fou
        return np.asarray(fou.deserialize_numpy_array(v)).ravel()
    return np.asarray(v).ravel()


def load_object_vectors(samples, patches_field, embeddings_field="embedding", labels=None,
                        *, unlabeled="raise", batch_size=LOAD_BATCH):
    """Reads the vectors (and classes) of the OBJECTS of a Detections/Polylines field.

    Each object's vector is its attribute ``embeddings_field`` (e.g.
    ``ground_truth.detections.embedding``, as written by
    ``compute_embeddings(patches_field=...)`` or FiftyOne's
    ``compute_patch_embeddings``). Objects without a vector (degenerate boxes,
    unreadable images: see ``<embeddings_field>_error`` on the object) are
    skipped and counted; samples without objects contribute no row. Vectors are
    read about ``batch_size`` objects at a time into one preallocated array.

    Args:
        samples: a dataset or view
        patches_field: a Detections/Polylines field name or :class:`PatchesField`
        embeddings_field ("embedding"): the objects' vector attribute
        labels (None): see :func:`object_label_path`: True (or the field's
            name) reads each object's ``label`` as its class
        unlabeled ("raise"): an object without a class: ``"raise"`` or
            ``"keep"`` (None)

    Returns:
        a :class:`Vectors`: ``ids`` the N object (label) ids, ``X`` ``(N, D)``
        float32, ``labels`` an ``(N,)`` object array of class names or None,
        ``num_skipped`` the objects without a vector, ``sample_ids`` each
        row's sample id, ``patches`` the :class:`PatchesField`

    Raises:
        ValueError: not a Detections/Polylines field, empty view, no objects,
            no object with a vector, a non-vector attribute, vectors of
            different lengths or non-finite, objects without a class
    """
    from fiftyone import ViewField as F

    check_collection(samples)
    check_choice(unlabeled, ("raise", "keep"), "unlabeled")
    pf = resolve_patches(samples, patches_field)
    check_name(embeddings_field, "embeddings_field")
    if "." in embeddings_field:
        raise ValueError("With patches_field=%r, embeddings_field is an attribute of the "
                         "objects (e.g. 'embedding'); got %r" % (pf.name, embeddings_field))
    path = pf.path(embeddings_field)
    flat = samples.get_field_schema(flat=True)
    if path in flat and not isinstance(flat[path], VECTOR_FIELDS):
        raise ValueError("Object attribute %r is not a vector field (it is a %s); pass the "
                         "attribute of embeddings written by winnow.compute_embeddings("
                         "patches_field=%r)" % (path, type(flat[path]).__name__, pf.name))
    label_path = object_label_path(pf, labels)
    if len(samples) == 0:
        raise ValueError("The view is empty: there is nothing to process")
    paths = ["id", pf.path("id"), F(pf.list_path).map(F(embeddings_field).exists())]
    columns = samples.values(paths + ([label_path] if label_path else []))
    ids, sample_ids, classes, counts = [], [], [], {}
    total = 0
    for s, sid in enumerate(columns[0]):
        obj_ids = columns[1][s] or []
        has = columns[2][s] or []
        total += len(obj_ids)
        for o, oid in enumerate(obj_ids):
            if has[o]:
                ids.append(oid)
                sample_ids.append(sid)
                counts[sid] = counts.get(sid, 0) + 1
                if label_path:
                    classes.append(columns[3][s][o])
    if total == 0:
        raise ValueError("The view has no objects in %r: there is nothing to process"
                         % pf.name)
    if not ids:
        raise ValueError("No object of %r has a %r vector; compute object embeddings first "
                         "(winnow.compute_embeddings(patches_field=%r))"
                         % (pf.name, embeddings_field, pf.name))
    row = {oid: r for r, oid in enumerate(ids)}
    X = None
    batch = []
    batches = []
    size = 0
    for sid, c in counts.items():
        batch.append(sid)
        size += c
        if size >= batch_size:
            batches.append(batch)
            batch, size = [], 0
    if batch:
        batches.append(batch)
    seen = 0
    for wanted in batches:
        _, obj_ids, vecs = samples.select(wanted).values(["id", pf.path("id"), path])
        for o_ids, o_vecs in zip(obj_ids, vecs):
            for oid, v in zip(o_ids or [], o_vecs or []):
                if oid not in row or v is None:
                    continue
                v = _as_vector(v)
                if X is None:
                    X = np.empty((len(ids), v.size), dtype=np.float32)
                if v.size != X.shape[1]:
                    raise ValueError("Attribute %r holds vectors of different lengths (%d "
                                     "and %d)" % (path, X.shape[1], v.size))
                X[row[oid]] = v
                seen += 1
    if seen != len(ids):
        raise ValueError("The view changed while its object vectors were read (objects or "
                         "%r vectors deleted); run again" % path)
    try:
        X = check_array(X, min_samples=1)
    except ValueError as e:
        raise ValueError("Attribute %r: %s" % (path, e))
    values = None
    if label_path:
        values = np.empty(len(ids), dtype=object)
        for i, v in enumerate(classes):
            values[i] = None if v is None else str(v)
        none = [i for i, v in enumerate(values) if v is None]
        if none and unlabeled == "raise":
            raise ValueError("%d objects have no %r (e.g. object %s of sample %s): a class is "
                             "needed for every object" % (len(none), label_path, ids[none[0]],
                                                          sample_ids[none[0]]))
    out = Vectors(ids, X, values, total - len(ids))
    out.sample_ids = sample_ids
    out.patches = pf
    return out


# --------------------------------------------------------------------- writes


def declare_field(samples, field, ftype, *, embedded_doc_type=None):
    """Adds the sample field ``field`` to the dataset, replacing one of another type.

    ``field`` may be an object attribute's path (``PatchesField.path(attr)``,
    e.g. ``gt.detections.outlier_score``): it is declared on the objects.

    Called inside a step's write, after :func:`check_writable` allowed the
    field: an existing field of another type (``overwrite=True`` on a user's
    field) is deleted first, so the new values are never cast into it.
    """
    dataset = samples._root_dataset
    # An object attribute (``gt.detections.outlier_score``) is in the flat schema.
    schema = dataset.get_field_schema(flat="." in field)
    if field in schema:
        current = schema[field]
        same_doc = getattr(current, "document_type", None) is embedded_doc_type
        if type(current) is ftype and (embedded_doc_type is None or same_doc):
            return
        dataset.delete_sample_field(field)
    if embedded_doc_type is not None:
        dataset.add_sample_field(field, ftype, embedded_doc_type=embedded_doc_type)
    else:
        dataset.add_sample_field(field, ftype)


def set_object_values(samples, patches, attribute, values, *, batch_size=LOAD_BATCH):
    """Writes ``{label id: value}`` to the attribute ``attribute`` of those objects of
    ``patches`` (a :class:`PatchesField`) in ``samples``; other objects keep theirs.

    One database update per sample, sent in bulk, sets each object's value by its
    position in the stored list (and matches only while that position still holds
    that object). FiftyOne's ``set_label_values`` updates one object at a time and
    ``set_values`` rewrites whole lists: on 20 000 objects (2-core machine, under
    load) ~13 s and ~11-14 s, this 0.3-1.4 s. Values are numbers, strings, None or
    lists of them (numpy scalars and arrays are converted); declare the attribute
    first (:func:`declare_field`).

    Raises:
        ValueError: the objects changed while being written (run again)
    """
    _update_objects(samples, patches, values,
                    lambda at, key: {"$set": {at + attribute: _plain(values[key])}},
                    batch_size=batch_size)


def _update_objects(samples, patches, label_ids, update, *, batch_size=LOAD_BATCH):
    """One bulk update per sample of ``samples`` holding objects ``label_ids``:
    ``update(at, label_id)`` gives the object's ``{operator: {path: value}}``, its
    paths under ``at`` (``"gt.detections.3."``: the object's position in the stored
    list, matched in the same update)."""
    import datetime

    from pymongo import UpdateOne

    if not label_ids:
        return
    dataset = samples._root_dataset
    if getattr(samples, "_is_patches", False) or getattr(samples, "_is_frames", False):
        samples = dataset  # its rows are not samples: look the objects up in the dataset
    # Positions in the stored lists (a view's filtered lists would shift them).
    sample_ids = samples.values("_id")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    ops = []
    for start in range(0, len(sample_ids), batch_size):
        ids, objects = dataset.select(sample_ids[start:start + batch_size]).values(
            ["_id", patches.path("_id")])
        for sid, oids in zip(ids, objects):
            match, changes = {"_id": sid}, {}
            for j, oid in enumerate(oids or []):
                key = str(oid)
                if key in label_ids:
                    at = "%s.%d." % (patches.list_path, j)
                    match[at + "_id"] = oid
                    for operator, paths in update(at, key).items():
                        changes.setdefault(operator, {}).update(paths)
            if changes:
                changes.setdefault("$set", {})["last_modified_at"] = now
                ops.append(UpdateOne(match, changes))
    found = 0
    for start in range(0, len(ops), batch_size):
        found += dataset._sample_collection.bulk_write(
            ops[start:start + batch_size], ordered=False).matched_count
    if found != len(ops):
        raise ValueError("The objects of %r changed while results were written; run again"
                         % patches.name)


def _plain(value):
    # What the database stores: numpy scalars and arrays as Python numbers and lists.
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def clear_object_values(samples, patches, attribute):
    """Removes the attribute ``attribute`` from every object of ``patches`` in the
    dataset, in one database update (the attribute stays declared; FiftyOne's
    ``clear_sample_field`` took ~17 s per 20 000 objects, this 0.1 s)."""
    import datetime

    dataset = samples._root_dataset
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    dataset._sample_collection.update_many(
        {"%s.%s" % (patches.list_path, attribute): {"$exists": True}},
        {"$unset": {"%s.$[].%s" % (patches.list_path, attribute): ""},
         "$set": {"last_modified_at": now}})


def tag_objects(samples, patches, label_ids, tag):
    """Adds the label tag ``tag`` to the objects ``label_ids`` of ``patches`` (a
    :class:`PatchesField`), in one bulk update (FiftyOne's ``tag_labels`` on
    ``select_labels`` updated each object on its own)."""
    _update_objects(samples, patches, set(label_ids),
                    lambda at, key: {"$addToSet": {at + "tags": tag}})


def objects_view(samples, patches, tag):
    """The patches view of the objects of ``samples`` tagged ``tag``: saved, it
    opens in the App as a grid of those objects."""
    from fiftyone import ViewField as F

    return samples.filter_labels(patches.name, F("tags").contains(tag)) \
        .to_patches(patches.name)


def check_writable(samples, key, *, owners, fields=(), tags=(), label_tags=None,
                   saved_views=(), overwrite=False, patches_field=None):
    """Refuses, before anything is written, outputs that are not the run ``key``'s.

    A field, sample tag, label tag or saved view may be written when it does
    not exist yet, when the Winnow run ``key`` wrote it before (a re-run
    replaces its own results), or with ``overwrite=True``. Reserved fields
    (``filepath``, ``id``, ...) and nested paths are never written. Only reads
    the dataset (runs left half-written by a dead process are cleaned up by
    :class:`~winnow.plugin.runs.Step`, which calls this when made).

    Args:
        samples: a dataset or view
        key: the run key (:func:`~winnow.plugin.runs.run_key`)
        owners: who wrote what, :func:`winnow.plugin.runs.owners` of the dataset
        fields, tags, saved_views: names the run will write
        label_tags (None): ``{tag: [label fields]}`` label tags it will write
        overwrite (False): allow writing over what others wrote
        patches_field (None): a :class:`PatchesField` (or its name): ``fields``
            are then attributes of its objects (``fields=["outlier_score"]``
            checks ``gt.detections.outlier_score``; the objects' own
            attributes, ``label``, ``bounding_box``, ..., are never written)

    Raises:
        ValueError
    """
    dataset = samples._root_dataset
    fields, tags, saved_views = list(fields), list(tags), list(saved_views)
    label_tags = dict(label_tags or {})
    pf = resolve_patches(samples, patches_field)
    for field in fields:
        check_name(field, "Field names")
        if pf is not None:
            if field in OBJECT_PROTECTED or field.startswith("_") or "." in field:
                raise ValueError("Refusing to write the objects' attribute %r of %r: choose "
                                 "another name" % (field, pf.name))
            continue
        if field in PROTECTED_FIELDS or field.startswith("_"):
            raise ValueError("Refusing to write the reserved field %r" % field)
        if "." in field:
            raise ValueError("Winnow writes top-level sample fields; got %r" % field)
    if pf is not None:
        fields = [pf.path(f) for f in fields]
    for tag in tags + list(label_tags):
        check_name(tag, "tag")
    if overwrite:
        return
    schema = dataset.get_field_schema(flat=pf is not None)
    for field in fields:
        # An object attribute may hold values without being declared.
        if field not in schema and (pf is None or not dataset.count(field)):
            continue
        owner = owners["fields"].get(field)
        if owner is None:
            raise ValueError("Field %r already exists and was not written by Winnow; choose "
                             "another field name or pass overwrite=True" % field)
        if key not in owner:
            raise ValueError("Field %r belongs to the Winnow run %r; choose another field "
                             "name, delete that run, or pass overwrite=True"
                             % (field, sorted(owner)[0]))
    # Sample tags and each label field's tags are separate namespaces in FiftyOne: a
    # sample run's "outlier" and an object run's "outlier" on gt never meet.
    in_use = dataset.count_sample_tags() if tags else {}
    for tag in dict.fromkeys(tags):
        if in_use.get(tag) and key not in owners["tags"].get(tag, ()):
            raise ValueError("Tag %r is in use: %d samples already carry the tag %r, not "
                             "written by this Winnow step; choose another tag or pass "
                             "overwrite=True" % (tag, in_use[tag], tag))
    label_schema = dataset.get_field_schema() if label_tags else {}
    for tag, label_fields in label_tags.items():
        # Fields that hold no labels are their own parameter's error, not the tag's.
        label_fields = [f for f in label_fields
                        if issubclass(getattr(label_schema.get(f), "document_type", None)
                                      or object, fol.Label)]
        n = (dataset.count_label_tags(label_fields=label_fields).get(tag, 0)
             if label_fields else 0)
        if n and key not in owners["tags"].get(tag, ()):
            raise ValueError("Tag %r is in use: %d labels of %s already carry the tag %r, not "
                             "written by this Winnow step; choose another tag or pass "
                             "overwrite=True" % (tag, n, ", ".join(map(repr, label_fields)),
                                                 tag))
    for name in saved_views:
        if dataset.has_saved_view(name) and key not in owners["saved_views"].get(name, ()):
            raise ValueError("The dataset already has a saved view %r not made by this Winnow "
                             "step; choose another name or pass overwrite=True" % name)
