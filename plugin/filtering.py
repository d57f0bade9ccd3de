"""The dataset filter, the thesis way: outliers first, then redundancy among the rest.

``filter_dataset`` tags ``ceil(outliers · N)`` outliers, then clusters the
remaining samples so that ``floor(redundant · N)`` more become redundant
(the thesis's ``floor((1 - out - sim) · N)`` clusters, ± 1), and saves the
views "kept", "outliers" and "redundant". ``export_kept`` writes the kept
samples out. Nothing is ever deleted.
"""

import json
import math
import os

import numpy as np
from fiftyone import ViewField as F

from . import inputs, runs, vectors
from . import outliers as _outliers
from . import redundancy as _redundancy

STEP = "filter"
VIEW_KINDS = ("kept", "outliers", "redundant")


class FilterResults(runs.Results):
    """What :func:`filter_dataset` did.

    Attributes:
        num_samples, num_outliers, num_redundant, num_kept: counts (``num_samples``:
            samples with an embedding)
        num_skipped: samples of the view skipped for having no embedding (they
            are in no saved view)
        outliers: an :class:`~winnow.plugin.outliers.OutliersResults` (None
            when ``outliers=0``)
        redundancy: a :class:`~winnow.plugin.redundancy.RedundancyResults`
            (None when ``redundant=0``)
        views: ``{"kept": name, "outliers": name, "redundant": name}`` saved views
        class_counts: ``{label: {"total", "kept"}}`` with ``per_class``
        run_key, seconds
        patches_field: None, or the objects field filtered (counts are objects)
    """

    patches_field = None

    ATTRIBUTES = ("num_samples", "num_outliers", "num_redundant", "num_kept", "outliers",
                  "redundancy", "views", "class_counts", "run_key", "seconds")

    def summary(self):
        what = "objects of %r" % self.patches_field if self.patches_field else "samples"
        return ("Filter: kept %d of %d %s (%d outliers, %d redundant) in %.1f s"
                % (self.num_kept, self.num_samples, what, self.num_outliers,
                   self.num_redundant, self.seconds))

    def __repr__(self):
        return "\n".join([super().__repr__()] + ["  saved view %r: %s" % (name, kind)
                                                  for kind, name in self.views.items()])


def saved_view_names(prefix="winnow"):
    """The saved views' names: ``{"kept": "<prefix>-kept", ...}``."""
    return {kind: "%s-%s" % (prefix, kind) for kind in VIEW_KINDS}


def check_share(value, name):
    """A filter share: 0 (or None) skips the step, else a fraction in (0, 1).

    Returns:
        the share as a float
    """
    if value in (None, 0, 0.0):
        return 0.0
    return inputs.check_fraction(value, name)


def check_shares(outliers, redundant):
    """Validates the filter's two shares (see :func:`check_share`): their sum must
    leave something kept.

    Returns:
        ``(outliers, redundant)`` as floats
    """
    out_frac = check_share(outliers, "outliers")
    red_frac = check_share(redundant, "redundant")
    if out_frac + red_frac >= 1.0:
        raise ValueError("outliers + redundant must be < 1 (something must be kept); got %r"
                         % (out_frac + red_frac))
    return out_frac, red_frac


def filter_dataset(samples, *, outliers=0.05, redundant=0.05, per_class=None,
                   embeddings_field="embedding", n_components=None, reduce="pca",
                   outlier_tag="outlier", redundant_tag="redundant",
                   score_field="outlier_score", link_field=_redundancy.LINK_FIELD,
                   distance_field="redundancy_distance", view_prefix="winnow",
                   method="auto", overwrite=False, progress=None, representative_field=None,
                   patches_field=None):
    """Tags outliers and redundant samples, the thesis way, and saves the views.

    1. :func:`~winnow.plugin.outliers.find_outliers` tags ``ceil(outliers · N)``
       samples.
    2. :func:`~winnow.plugin.redundancy.find_redundant` clusters the others and
       tags ``floor(redundant · N)`` of them, each linked to a kept sample.
    3. Saves the views ``<view_prefix>-kept``, ``-outliers`` and ``-redundant``.

    Everything is validated, and every output checked writable, before the
    first step writes. The run is recorded as ``winnow_filter_<view_prefix>``
    (its saved views; scored by ``score_field``, most outlying first).
    Samples without an embedding (unreadable images) are skipped: in no saved
    view (not "kept"), counted in ``num_skipped``; N counts the others.

    With ``per_class``, both shares are split over classes in proportion to
    their sizes in the whole view (largest remainder), so the kept set keeps
    the class proportions (± 1 sample per class).

    Args:
        samples: a dataset or view
        outliers (0.05): share of outliers, in [0, 1); 0 skips the step
        redundant (0.05): share of redundant samples, in [0, 1); 0 skips it
        per_class (None): a label field for class-aware filtering
        embeddings_field ("embedding"), reduce ("pca"): the vectors and their
            reduction (both steps)
        n_components (None): the reduced dimension (both steps); None means
            32, the outliers' default, with which redundancy also kept the
            better training subsets (README, filtering table, variant (c2))
        outlier_tag, redundant_tag, score_field, link_field,
            distance_field: what the two steps write
        view_prefix ("winnow"): prefix of the saved views' names
        method ("auto"): the redundancy method (see ``redundancy_clusters``)
        overwrite (False): whether others' fields, tags or views may be overwritten
        progress (None): progress bar or callback
        representative_field (None): deprecated name of ``link_field``
        patches_field (None): a ``fo.Detections``/``fo.Polylines`` field: filter
            its OBJECTS instead (their ``embeddings_field`` attribute): both
            steps run with ``patches_field`` (attributes and label tags on the
            objects) and the saved views, ``<view_prefix>-<field>-kept``, ...,
            are patches views; ``per_class=True`` uses each object's ``label``

    Returns:
        a :class:`FilterResults`
    """
    link_field = inputs.renamed(link_field, representative_field, name="link_field",
                                old_name="representative_field",
                                default=_redundancy.LINK_FIELD)
    out_frac, red_frac = check_shares(outliers, redundant)
    if out_frac == 0 and red_frac == 0:
        raise ValueError("Nothing to do: outliers and redundant are both 0")
    if outlier_tag == redundant_tag:
        raise ValueError("outlier_tag and redundant_tag must differ")
    vectors.check_reduction(n_components, reduce)
    n_components = _components(n_components)
    inputs.check_choice(method, _redundancy.METHODS, "method")
    inputs.check_collection(samples)
    # A patches view (e.g. a saved view of flagged objects) runs on its objects.
    samples = inputs.samples_of_patches(samples, patches_field)
    pf = inputs.resolve_patches(samples, patches_field)
    prefix = "%s-%s" % (view_prefix, pf.name) if pf else view_prefix
    names = saved_view_names(prefix)
    step = runs.Step(samples, STEP, saved_views=list(names.values()),
                     score=dict(field=pf.path(score_field) if pf else score_field,
                                descending=True) if out_frac else None,
                     key=runs.run_key(STEP, "%s_%s" % (view_prefix, pf.name) if pf
                                      else view_prefix),
                     overwrite=overwrite, patches_field=pf)
    # The two steps' outputs, checked now: neither step may write before both can.
    owners = runs.owners(samples._root_dataset)

    def key_of(step_name, field):  # the run key the sub-step will use
        return runs.run_key(step_name, pf.path(field) if pf else field)

    # Objects' tags are label tags of the objects field.
    def tags_of(tag):
        return dict(tags=[], label_tags={tag: [pf.name]}) if pf else dict(tags=[tag])

    if out_frac:
        inputs.check_writable(samples, key_of(_outliers.STEP, score_field),
                              owners=owners, fields=[score_field], overwrite=overwrite,
                              patches_field=pf, **tags_of(outlier_tag))
    if red_frac:
        inputs.check_writable(samples, key_of(_redundancy.STEP, link_field),
                              owners=owners, fields=[link_field, distance_field],
                              overwrite=overwrite, patches_field=pf, **tags_of(redundant_tag))
    ids, X, labels, num_skipped = inputs.load_vectors(samples, embeddings_field, per_class,
                                                      patches_field=pf)
    n = len(ids)
    # Each step reads the vectors itself; holding this copy too would double the peak.
    del X
    n_out = int(math.ceil(out_frac * n - 1e-9))
    n_red = int(math.floor(red_frac * n + 1e-9))
    if n_out + n_red >= n:
        raise ValueError("The view has %d samples: %d outliers + %d redundant leave none"
                         % (n, n_out, n_red))

    out_res = red_res = None
    if out_frac:
        out_res = _outliers.find_outliers(
            samples, count=n_out, embeddings_field=embeddings_field, score_field=score_field,
            tag=outlier_tag, n_components=n_components, reduce=reduce, per_class=per_class,
            overwrite=overwrite, progress=progress, patches_field=pf,
        )
    rest = samples
    if out_frac and pf:
        rest = samples.filter_labels(pf.name, ~F("tags").contains(outlier_tag),
                                     only_matches=False)
    elif out_frac:
        rest = samples.match_tags(outlier_tag, bool=False)
    if red_frac:
        count = n_red
        if labels is not None:
            # Quotas from the whole view's class sizes, so kept proportions hold.
            count = vectors.class_quotas(labels, n_red)
        red_res = _redundancy.find_redundant(
            rest, count=count, embeddings_field=embeddings_field, tag=redundant_tag,
            link_field=link_field, distance_field=distance_field, per_class=per_class,
            n_components=n_components, reduce=reduce, method=method, overwrite=overwrite,
            progress=progress, patches_field=pf,
        )

    tags = [t for t, f in ((outlier_tag, out_frac), (redundant_tag, red_frac)) if f]
    if pf:
        kept = samples.filter_labels(
            pf.name, F(embeddings_field).exists() & ~F("tags").contains(tags))
        views = {"kept": kept.to_patches(pf.name),
                 "outliers": inputs.objects_view(samples, pf, outlier_tag),
                 "redundant": inputs.objects_view(samples, pf, redundant_tag)}
    else:
        views = {
            # Samples without an embedding (unreadable images) were not judged: never "kept".
            "kept": samples.exists(embeddings_field).match_tags(tags, bool=False),
            "outliers": samples.match_tags(outlier_tag),
            "redundant": samples.match_tags(redundant_tag),
        }
    dataset = samples._root_dataset
    with step.writing():
        for kind, view in views.items():
            dataset.save_view(names[kind], view, overwrite=True)

    num_out = out_res.num_outliers if out_res else 0
    num_red = red_res.num_redundant if red_res else 0
    class_counts = None
    if labels is not None:
        kept_ids = set(views["kept"].values(pf.name + ".id" if pf else "id"))
        class_counts = {}
        for i, c in zip(ids, labels.tolist()):
            entry = class_counts.setdefault(c, {"total": 0, "kept": 0})
            entry["total"] += 1
            entry["kept"] += i in kept_ids
    params = dict(outliers=out_frac, redundant=red_frac, per_class=per_class,
                  embeddings_field=embeddings_field, n_components=n_components,
                  reduce=reduce, method=method, outlier_run=out_res and out_res.run_key,
                  redundancy_run=red_res and red_res.run_key)
    counts = dict(samples=n, outliers=num_out, redundant=num_red, kept=n - num_out - num_red,
                  skipped=num_skipped)
    key = step.record(params, counts)
    return FilterResults(
        num_samples=n, num_outliers=num_out, num_redundant=num_red,
        num_kept=n - num_out - num_red, num_skipped=num_skipped, outliers=out_res,
        redundancy=red_res, views=names, class_counts=class_counts, run_key=key,
        seconds=step.seconds, patches_field=pf.name if pf else None,
    )


def filter_arrays(X, *, outliers=0.05, redundant=0.05, labels=None, n_components=None,
                  reduce="pca", method="auto", random_state=0):
    """Array-level :func:`filter_dataset`: outliers first, then redundancy among the rest.

    Args:
        X: an ``(N, D)`` array of embeddings
        outliers (0.05), redundant (0.05): shares in [0, 1); ``ceil(outliers · N)``
            outliers and ``floor(redundant · N)`` redundant rows
        labels (None): an ``(N,)`` array of classes for class-aware filtering
            (quotas from the class sizes of all N rows)
        n_components (None): as in :func:`filter_dataset` (None means 32)
        reduce, method, random_state: as in the two steps

    Returns:
        a dict of ``(N,)`` arrays: ``outlier`` (bool), ``outlier_score``,
        ``redundant`` (bool), ``kept_of`` (row kept for each row; -1 for
        outliers) and ``kept`` (bool); ``representative`` is a deprecated
        alias of ``kept_of`` (the same array)
    """
    X = inputs.check_array(X)
    vectors.check_reduction(n_components, reduce)
    n_components = _components(n_components)
    out_frac, red_frac = check_shares(outliers, redundant)
    n = len(X)
    n_out = int(math.ceil(out_frac * n - 1e-9))
    n_red = int(math.floor(red_frac * n + 1e-9))
    labels = None if labels is None else np.asarray(labels).astype(str)
    outlier = np.zeros(n, bool)
    scores = np.zeros(n)
    if n_out:
        scores, chosen = _outliers.select_outliers(
            X, count=n_out, labels=labels, progress=False, n_components=n_components,
            reduce=reduce, random_state=random_state)
        outlier[chosen] = True
    rest = np.flatnonzero(~outlier)
    redundant_mask = np.zeros(n, bool)
    kept_of = np.where(outlier, -1, np.arange(n))
    if n_red:
        count = vectors.class_quotas(labels, n_red) if labels is not None else n_red
        res = _redundancy.select_redundant(
            X[rest], count=count, labels=None if labels is None else labels[rest],
            progress=False, method=method, n_components=n_components, reduce=reduce,
            random_state=random_state)
        redundant_mask[rest] = res["redundant"]
        kept_of[rest] = rest[res["kept_of"]]
    # "representative": the deprecated name of kept_of (a representative is a k-medoid).
    return dict(outlier=outlier, outlier_score=scores, redundant=redundant_mask,
                kept_of=kept_of, representative=kept_of, kept=~outlier & ~redundant_mask)


def _components(n_components):
    # The steps' own defaults differ (redundancy: full dimension, so max_distance
    # stays a distance of the embedding); the filter cuts by share, where 32 kept
    # the better training subsets.
    return _outliers.DEFAULT_COMPONENTS if n_components is None else n_components


EXPORT_FORMATS = ("filepaths", "ids")


def export_kept(samples, path, *, view_prefix="winnow", format="filepaths",
                overwrite=False, **export_kwargs):
    """Writes the kept samples of the last :func:`filter_dataset` run.

    Args:
        samples: the dataset (or any view of it) that was filtered
        path: a file (``format="filepaths"`` or ``"ids"``: one entry a line;
            ``.json``: a JSON list) or, for a FiftyOne dataset type (e.g.
            ``fiftyone.types.ImageClassificationDirectoryTree``), an export directory
        view_prefix ("winnow"): the filter run's view prefix
        format ("filepaths"): ``"filepaths"``, ``"ids"`` or a FiftyOne dataset type
        overwrite (False): whether an existing ``path`` may be replaced
        **export_kwargs: passed to ``SampleCollection.export`` (e.g. ``label_field``)

    Returns:
        the number of samples written
    """
    dataset = samples._root_dataset
    name = saved_view_names(view_prefix)["kept"]
    if not dataset.has_saved_view(name):
        raise ValueError("No saved view %r: run winnow.filter_dataset first" % name)
    if os.path.exists(path) and not overwrite:
        raise ValueError("%r exists; pass overwrite=True to replace it" % path)
    kept = dataset.load_saved_view(name)
    if isinstance(format, str):
        if format not in EXPORT_FORMATS:
            raise ValueError("format must be one of %s or a FiftyOne dataset type; got %r"
                             % (list(EXPORT_FORMATS), format))
        values = kept.values("filepath" if format == "filepaths" else "id")
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            if path.endswith(".json"):
                json.dump(values, f, indent=1)
            else:
                f.write("".join(v + "\n" for v in values))
        os.replace(tmp, path)
        return len(values)
    kept.export(export_dir=path, dataset_type=format, overwrite=overwrite, **export_kwargs)
    return len(kept)
