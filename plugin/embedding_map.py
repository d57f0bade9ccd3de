"""The embedding map: a stored 2-D projection of the embeddings, and bounded samples of it.

The projection is a FiftyOne Brain visualization (``fob.compute_visualization``),
computed once and stored under ``<embeddings_field>_viz`` (the key
``compute_embeddings(visualization=...)`` uses), so the App's own Embeddings
panel shows the same map. Readers never send every point: :func:`map_points`
returns a seeded uniform sample of at most ``max_points`` points with the
fields needed to colour them.
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


def map_key(embeddings_field):
    """The brain key of the map of ``embeddings_field``."""
    return embeddings_field + "_viz"


def find_map(samples, embeddings_field):
    """The brain key of a stored 2-D map of ``embeddings_field``, or None.

    Prefers ``<embeddings_field>_viz``; otherwise any 2-D visualization of that field.
    """
    dataset = samples._root_dataset
    keys = dataset.list_brain_runs(type="visualization")
    preferred = map_key(embeddings_field)
    for key in sorted(keys, key=lambda k: k != preferred):
        config = dataset.get_brain_info(key).config
        if (getattr(config, "embeddings_field", None) == embeddings_field
                and getattr(config, "num_dims", 2) == 2):
            return key
    return None


def compute_map(samples, embeddings_field="embedding", *, method="pca", brain_key=None,
                overwrite=False, seed=51):
    """Computes and stores a 2-D map of the embeddings of ``samples``.

    Args:
        samples: a dataset or view
        embeddings_field ("embedding"): a vector field
        method ("pca"): ``"pca"``, ``"tsne"`` or ``"umap"`` (needs ``umap-learn``)
        brain_key (None): defaults to ``<embeddings_field>_viz``
        overwrite (False): whether an existing brain run of that key may be replaced
        seed (51): random seed of the projection

    Returns:
        the brain key

    Raises:
        ValueError: bad input, before anything is written
    """
    import fiftyone.brain as fob

    inputs.check_choice(method, METHODS, "method")
    inputs.check_vector_field(samples.get_field_schema(), embeddings_field)
    embedded = samples.exists(embeddings_field)
    if len(embedded) < 2:
        raise ValueError("Need at least 2 embedded samples for a map; got %d" % len(embedded))
    key = brain_key or map_key(embeddings_field)
    if key in samples._root_dataset.list_brain_runs() and not overwrite:
        raise ValueError("Brain run %r exists; pass overwrite=True to replace it" % key)
    fob.compute_visualization(embedded, embeddings=embeddings_field, method=method,
                              brain_key=key, num_dims=2, seed=seed, progress=False)
    return key


def load_points(samples, brain_key):
    """All stored points of a map.

    Returns:
        a tuple ``(ids, points)``: a list of N sample ids and an ``(N, 2)`` array
    """
    dataset = samples._root_dataset
    info = dataset.get_brain_info(brain_key)
    cache_key = (dataset.name, brain_key, str(info.timestamp))
    if cache_key in _CACHE:
        _CACHE.move_to_end(cache_key)
        return _CACHE[cache_key]
    results = dataset.load_brain_results(brain_key, cache=False)
    ids = [str(i) for i in results.sample_ids]
    points = np.asarray(results.points, dtype=float)[:, :2]
    _CACHE[cache_key] = (ids, points)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return ids, points


def sample_indices(n, max_points, *, seed=0):
    """A seeded uniform sample of ``min(n, max_points)`` indices of ``range(n)``, sorted."""
    if max_points is None or n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=int(max_points), replace=False))


def map_points(samples, brain_key, *, fields=(), max_points=DEFAULT_MAX_POINTS, seed=0):
    """A bounded sample of the map's points of ``samples`` with some of their fields.

    Args:
        samples: a dataset or view (points of samples outside it are left out)
        brain_key: the map's brain key
        fields (()): sample fields (or paths such as ``ground_truth.label``) to return
        max_points (2000): at most this many points (None: all)
        seed (0): sampling seed

    Returns:
        a dict with ``ids``, ``x``, ``y`` (lists), ``values`` (``{field: list}``),
        ``total`` (points of ``samples`` on the map), ``sampled`` (bool) and
        ``positions`` (``{id: (x, y)}`` of every point, for drawing links)
    """
    ids, points = load_points(samples, brain_key)
    if not isinstance(samples, fod.Dataset):
        keep = set(samples.values("id"))
        rows = [i for i, sid in enumerate(ids) if sid in keep]
        ids = [ids[i] for i in rows]
        points = points[rows]
    chosen = sample_indices(len(ids), max_points, seed=seed)
    chosen_ids = [ids[i] for i in chosen]
    values = {}
    fields = [f for f in fields if samples.get_field(f) is not None]
    if fields and chosen_ids:
        # One query for the sampled documents, in map order.
        got = samples._root_dataset.select(chosen_ids).values(["id"] + fields)
        by_id = dict(zip(got[0], zip(*got[1:])))
        for j, f in enumerate(fields):
            values[f] = [by_id.get(sid, (None,) * len(fields))[j] for sid in chosen_ids]
    return dict(
        ids=chosen_ids,
        x=points[chosen, 0].tolist(),
        y=points[chosen, 1].tolist(),
        values=values,
        total=len(ids),
        sampled=len(chosen_ids) < len(ids),
        positions=_Positions(ids, points),
    )


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
