"""The embedding map: a stored 2-D projection of the embeddings, and bounded samples of it.

The projection is a FiftyOne Brain visualization (``fob.compute_visualization``),
computed once and stored under ``<embeddings_field>_viz`` (the key
``compute_embeddings(visualization=...)`` uses), so the App's own Embeddings
panel shows the same map. Readers never send every point: :func:`map_points`
returns a seeded uniform sample of at most ``max_points`` points with the
fields needed to colour them.

A map of the OBJECTS of a Detections/Polylines field (``patches_field=``) is a
Brain visualization with ``patches_field`` (key ``<field>_<embeddings_field>_viz``,
as ``compute_embeddings(patches_field=..., visualization=...)`` stores it): its
points are objects (label ids, each with its sample id) and their values are
the objects' attributes.
"""

import collections

import numpy as np

import fiftyone.core.dataset as fod

from . import inputs

METHODS = ("pca", "tsne", "umap")
DEFAULT_MAX_POINTS = 2000

# Loaded points per (dataset, brain key, run time): the App calls the panel on every
# event, and a 50 000-point map costs a GridFS read.
_CACHE = collections.OrderedDict()
_CACHE_SIZE = 4


def map_key(embeddings_field, patches_field=None):
    """The brain key of the map of ``embeddings_field`` (of the objects of
    ``patches_field``: ``<patches_field>_<embeddings_field>_viz``)."""
    if patches_field is not None:
        return "%s_%s_viz" % (patches_field, embeddings_field)
    return embeddings_field + "_viz"


def find_map(samples, embeddings_field, patches_field=None):
    """The brain key of a stored 2-D map of ``embeddings_field``, or None.

    Prefers ``<embeddings_field>_viz``; otherwise any 2-D visualization of that
    field. With ``patches_field``, a map of that attribute of its objects (a
    visualization made with that ``patches_field``); without, a map of samples only.
    """
    dataset = samples._root_dataset
    keys = dataset.list_brain_runs(type="visualization")
    preferred = map_key(embeddings_field, patches_field)
    for key in sorted(keys, key=lambda k: k != preferred):
        config = dataset.get_brain_info(key).config
        if (getattr(config, "embeddings_field", None) == embeddings_field
                and getattr(config, "patches_field", None) == patches_field
                and getattr(config, "num_dims", 2) == 2):
            return key
    return None


def compute_map(samples, embeddings_field="embedding", *, patches_field=None, method="pca",
                brain_key=None, overwrite=False, seed=51):
    """Computes and stores a 2-D map of the embeddings of ``samples`` (or of their objects).

    Args:
        samples: a dataset or view
        embeddings_field ("embedding"): a vector field; with ``patches_field``, the
            objects' vector attribute
        patches_field (None): a Detections/Polylines field: map its objects that
            have a vector (a Brain visualization with ``patches_field``)
        method ("pca"): ``"pca"``, ``"tsne"`` or ``"umap"`` (needs ``umap-learn``)
        brain_key (None): defaults to :func:`map_key`
        overwrite (False): whether an existing brain run of that key may be replaced
        seed (51): random seed of the projection

    Returns:
        the brain key

    Raises:
        ValueError: bad input, before anything is written
    """
    import fiftyone.brain as fob
    from fiftyone import ViewField as F

    inputs.check_choice(method, METHODS, "method")
    pf = inputs.resolve_patches(samples, patches_field)
    if pf is None:
        inputs.check_vector_field(samples.get_field_schema(), embeddings_field)
        embedded = samples.exists(embeddings_field)
        count, on, what = len(embedded), {}, "samples"
    else:
        inputs.check_name(embeddings_field, "embeddings_field")
        inputs.check_vector_field(samples.get_field_schema(flat=True),
                                  pf.path(embeddings_field))
        # Brain reads the attribute of the objects that have one.
        embedded = samples.filter_labels(pf.name, F(embeddings_field) != None)  # noqa: E711
        count = embedded.count(pf.list_path)
        on, what = dict(patches_field=pf.name), "objects of %r" % pf.name
    if count < 2:
        raise ValueError("Need at least 2 embedded %s for a map; got %d" % (what, count))
    key = brain_key or map_key(embeddings_field, pf and pf.name)
    if key in samples._root_dataset.list_brain_runs() and not overwrite:
        raise ValueError("Brain run %r exists; pass overwrite=True to replace it" % key)
    fob.compute_visualization(embedded, embeddings=embeddings_field, method=method,
                              brain_key=key, num_dims=2, seed=seed, progress=False, **on)
    return key


def load_points(samples, brain_key):
    """All stored points of a map.

    Returns:
        a tuple ``(ids, points, sample_ids)``: a list of N ids (sample ids, or the
        objects' label ids for a map of objects), an ``(N, 2)`` array and, for a
        map of objects, each object's sample id (else None)
    """
    dataset = samples._root_dataset
    info = dataset.get_brain_info(brain_key)
    cache_key = (dataset.name, brain_key, str(info.timestamp))
    if cache_key in _CACHE:
        _CACHE.move_to_end(cache_key)
        return _CACHE[cache_key]
    results = dataset.load_brain_results(brain_key, cache=False)
    sample_ids = [str(i) for i in results.sample_ids]
    points = np.asarray(results.points, dtype=float)[:, :2]
    if results.config.patches_field is not None:
        loaded = ([str(i) for i in results.label_ids], points, sample_ids)
    else:
        loaded = (sample_ids, points, None)
    _CACHE[cache_key] = loaded
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return loaded


def patches_field_of(samples, brain_key):
    """The objects field a map was made on, or None for a map of samples."""
    return getattr(samples._root_dataset.get_brain_info(brain_key).config, "patches_field",
                   None)


def sample_indices(n, max_points, *, seed=0):
    """A seeded uniform sample of ``min(n, max_points)`` indices of ``range(n)``, sorted."""
    if max_points is None or n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=int(max_points), replace=False))


def map_points(samples, brain_key, *, fields=(), max_points=DEFAULT_MAX_POINTS, seed=0):
    """A bounded sample of the map's points of ``samples`` with some of their fields.

    Args:
        samples: a dataset or view (points of samples, or objects, outside it
            are left out)
        brain_key: the map's brain key
        fields (()): sample fields (or paths such as ``ground_truth.label``) to
            return; for a map of objects, attributes of the objects (``label``,
            ``tags``, ``outlier_score``, ...)
        max_points (2000): at most this many points (None: all)
        seed (0): sampling seed

    Returns:
        a dict with ``ids`` (sample ids, or the objects' label ids), ``x``, ``y``
        (lists), ``values`` (``{field: list}``), ``total`` (points of ``samples``
        on the map), ``sampled`` (bool), ``positions`` (``{id: (x, y)}`` of every
        point, for drawing links), ``objects`` (the objects field of a map of
        objects, else None) and ``sample_ids`` (each object's sample id; None for
        a map of samples)
    """
    ids, points, sample_ids = load_points(samples, brain_key)
    objects = patches_field_of(samples, brain_key)
    pf = inputs.patches_field(samples, objects) if objects else None
    if not isinstance(samples, fod.Dataset):
        keep = set(samples.values(pf.path("id"), unwind=True) if pf else samples.values("id"))
        rows = [i for i, pid in enumerate(ids) if pid in keep]
        ids = [ids[i] for i in rows]
        points = points[rows]
        sample_ids = [sample_ids[i] for i in rows] if pf else None
    chosen = sample_indices(len(ids), max_points, seed=seed)
    chosen_ids = [ids[i] for i in chosen]
    chosen_samples = [sample_ids[i] for i in chosen] if pf else None
    if pf:
        values = _object_values(samples, pf, fields, chosen_ids, chosen_samples)
    else:
        values = _sample_values(samples, fields, chosen_ids)
    return dict(
        ids=chosen_ids,
        x=points[chosen, 0].tolist(),
        y=points[chosen, 1].tolist(),
        values=values,
        total=len(ids),
        sampled=len(chosen_ids) < len(ids),
        positions=_Positions(ids, points),
        objects=objects,
        sample_ids=chosen_samples,
    )


def _sample_values(samples, fields, chosen_ids):
    values = {}
    fields = [f for f in fields if samples.get_field(f) is not None]
    if fields and chosen_ids:
        # One query for the sampled documents, in map order.
        got = samples._root_dataset.select(chosen_ids).values(["id"] + fields)
        by_id = dict(zip(got[0], zip(*got[1:])))
        for j, f in enumerate(fields):
            values[f] = [by_id.get(sid, (None,) * len(fields))[j] for sid in chosen_ids]
    return values


def _object_values(samples, pf, fields, chosen_ids, chosen_samples):
    values = {}
    fields = [f for f in fields if samples.get_field(pf.path(f)) is not None]
    if fields and chosen_ids:
        # One query: the sampled objects' samples, each object's attributes by label id.
        got = samples._root_dataset.select(sorted(set(chosen_samples))).values(
            [pf.path("id")] + [pf.path(f) for f in fields])
        by_id = {}
        for s, obj_ids in enumerate(got[0]):
            for o, oid in enumerate(obj_ids or []):
                by_id[oid] = tuple(column[s][o] for column in got[1:])
        for j, f in enumerate(fields):
            values[f] = [by_id.get(oid, (None,) * len(fields))[j] for oid in chosen_ids]
    return values


class _Positions(object):
    """``{id: (x, y)}`` over every map point, built only if asked."""

    def __init__(self, ids, points):
        self._ids = ids
        self._points = points
        self._index = None

    def get(self, sample_id):
        if self._index is None:
            self._index = {sid: i for i, sid in enumerate(self._ids)}
        i = self._index.get(sample_id)
        return None if i is None else tuple(self._points[i])


def link_segments(ids, x, y, targets, positions):
    """Line segments from each point to its target (e.g. a redundant image to the one kept).

    Args:
        ids, x, y: the points (lists of equal length)
        targets: a list of target sample ids (or None) per point
        positions: ``{id: (x, y)}``-like with ``get``

    Returns:
        a tuple ``(xs, ys)`` for one Plotly line trace (segments separated by None)
    """
    xs, ys = [], []
    for px, py, target in zip(x, y, targets):
        if not target:
            continue
        end = positions.get(str(target))
        if end is None:
            continue
        xs += [px, float(end[0]), None]
        ys += [py, float(end[1]), None]
    return xs, ys
