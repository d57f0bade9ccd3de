"""Provenance: every Winnow step records a FiftyOne run on the dataset.

The run's config class path is stored in the database, so these classes live in
the real ``winnow`` package (never only under FiftyOne's synthetic plugin module).
A run knows exactly which fields, tags, label tags and saved views it wrote, so
:func:`delete_run` removes those and nothing else. :class:`Step` is how every step
checks, writes and records; :class:`Results` is the base of every step's results.
"""

import contextlib
import datetime
import importlib.metadata
import os
import socket
import time

import fiftyone.core.runs as fors

from . import inputs

# A "writing" record from another host older than this is taken as abandoned.
STALE_WRITE_S = 6 * 3600


class WinnowRunConfig(fors.RunConfig):
    """The record of one Winnow step (config-as-run-record, like fiftyone-brain).

    Args:
        method: the step (``"embeddings"``, ...)
        fields: the sample fields the step wrote
        roles: ``{role: field}``, what each field holds (e.g. ``{"score":
            "glosh"}``), so readers never assume default names
        tags: the sample tags the step wrote
        label_tags: ``{tag: [label fields]}``, the label tags the step wrote
        saved_views: the saved views the step wrote
        score: None, or ``{"field": name, "descending": bool}``: the field that
            orders what the step found, most striking first when sorted so
        params: the step's JSON-serializable parameters
        counts: JSON-serializable counts (samples, failures, ...)
        versions: package versions used
        seconds: wall time of the step
        status: ``"writing"`` while results are being written, ``"complete"`` after
        patches_field: None for a step on samples; the Detections/Polylines
            field whose objects the step ran on (its ``fields`` and ``roles``
            are then object attribute paths, e.g. ``gt.detections.outlier_score``,
            and its label tags are on those objects)
        **kwargs: anything else to record
    """

    def __init__(self, method=None, fields=None, roles=None, tags=None, label_tags=None,
                 saved_views=None, score=None, params=None, counts=None, versions=None,
                 seconds=None, status="complete", patches_field=None, **kwargs):
        super().__init__(method=method, **kwargs)
        self.status = status
        self.patches_field = patches_field
        self.fields = list(fields or [])
        self.roles = dict(roles or {})
        self.tags = list(tags or [])
        self.label_tags = {t: list(f) for t, f in dict(label_tags or {}).items()}
        self.saved_views = list(saved_views or [])
        self.score = dict(score) if score else None
        self.params = dict(params or {})
        self.counts = dict(counts or {})
        self.versions = dict(versions or {})
        self.seconds = seconds


class WinnowRun(fors.Run):
    """Run class for :class:`WinnowRunConfig` (found by FiftyOne by name): deleting
    the run removes exactly the fields, tags, label tags and saved views it wrote."""

    def get_fields(self, samples, key):
        return list(self.config.fields)

    def cleanup(self, samples, key):
        dataset = samples._root_dataset
        schema = dataset.get_field_schema()
        flat = dataset.get_field_schema(flat=True)
        # Object attributes (``gt.detections.score``) are deleted by their path.
        fields = [f for f in self.config.fields if f in (flat if "." in f else schema)]
        if fields:
            dataset.delete_sample_fields(fields)
        if self.config.tags:
            dataset.untag_samples(self.config.tags)
        for tag, label_fields in self.config.label_tags.items():
            label_fields = [f for f in label_fields if f in schema]
            if label_fields:
                dataset.untag_labels(tag, label_fields=label_fields)
        for name in self.config.saved_views:
            if dataset.has_saved_view(name):
                dataset.delete_saved_view(name)


def run_key(step, field):
    """The run key of ``step`` writing ``field``: one run per step and field, so a
    re-run replaces its own record.
    """
    return "winnow_%s_%s" % (step, field.replace(".", "_"))


def versions():
    """Versions of the packages that shape results."""
    out = {}
    for dist in ("fiftyone-winnow", "fiftyone", "torch", "torchvision", "numpy",
                 "scikit-learn", "scikit-learn-extra", "cleanlab", "hdbscan"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def _writer_id():
    return "%s:%d" % (socket.gethostname(), os.getpid())


def _writer_is_gone(config):
    # Only a dead writer's results are half-written: a live one (another worker on this
    # dataset) is still writing. Writers on other hosts are trusted for STALE_WRITE_S.
    host, _, pid = str(getattr(config, "writer", "")).rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
            return False
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return time.time() - float(getattr(config, "write_started", 0) or 0) > STALE_WRITE_S


def cleanup_incomplete(samples):
    """Deletes the runs left ``"writing"`` by a crashed or killed process, with
    their fields and tags.

    Returns:
        the list of run keys cleaned up
    """
    dataset = samples._root_dataset
    cleaned = []
    for key, config in list(_winnow_configs(dataset)):
        if config.status == "writing" and _writer_is_gone(config):
            dataset.delete_run(key)  # runs WinnowRun.cleanup: all it wrote
            cleaned.append(key)
    return cleaned


def owners(dataset):
    """Who wrote what: ``{"fields"|"tags"|"saved_views": {name: {run keys}}}`` over
    the dataset's Winnow runs (label tags count as tags)."""
    out = {"fields": {}, "tags": {}, "saved_views": {}}
    for key, config in _winnow_configs(dataset):
        for kind, names in (("fields", config.fields),
                            ("tags", list(config.tags) + list(config.label_tags)),
                            ("saved_views", config.saved_views)):
            for name in names:
                out[kind].setdefault(name, set()).add(key)
    return out


def _winnow_configs(dataset):
    for key in dataset.list_runs():
        try:
            config = dataset.get_run_info(key).config
        except Exception:  # a run of a class that no longer imports
            continue
        if isinstance(config, WinnowRunConfig):
            yield key, config


class Step:
    """One run of a Winnow step on a collection: its outputs, its write, its record.

    Made before anything is computed, it cleans up runs a dead process left
    half-written and refuses outputs that are not this run's to write
    (:func:`~winnow.plugin.inputs.check_writable`). ``with step.writing():``
    wraps the step's one bulk write (marked ``"writing"`` in the database, so a
    crash or cancel leaves nothing half-written), and :meth:`record` stores the
    run record with its parameters, counts, versions and wall time::

        step = runs.Step(samples, "outliers", fields=dict(score=score_field), tags=[tag],
                         score=dict(field=score_field, descending=True))
        ...  # validate, load, compute
        with step.writing():
            ...  # write fields and tags
        step.record(params, counts)

    Args:
        samples: a dataset or view
        method: the step (``"outliers"``, ...)
        fields: the sample fields the run writes, ``{role: field}`` (e.g.
            ``{"score": "glosh"}``; recorded as the run's ``fields`` and ``roles``)
        tags, saved_views: what the run writes
        label_tags (None): ``{tag: [label fields]}`` it writes
        score (None): ``{"field": name, "descending": bool}`` (see
            :class:`WinnowRunConfig`)
        key (None): the run key; None means :func:`run_key` of ``method`` and
            the first field (its full path for objects)
        overwrite (False): allow writing over what others wrote
        patches_field (None): a Detections/Polylines field name or
            :class:`~winnow.plugin.inputs.PatchesField`: the run is on its
            objects. ``fields`` (and ``score``'s field) are then ATTRIBUTES of
            the objects (``fields=dict(score="outlier_score")`` writes
            ``gt.detections.outlier_score``, recorded by that path), label tags
            are given as ``tags`` (recorded as ``label_tags={tag: [field]}``),
            and the record holds ``patches_field``; :attr:`patches` is the
            resolved field and :meth:`path` maps a role to the path written.
            The write helpers (:meth:`clear`, :meth:`set_values`,
            :meth:`untag`, :meth:`tag`, :meth:`save_tagged_view`) do the
            sample or the object version of each write

    Attributes:
        key: the run key
        patches: None, or the resolved :class:`~winnow.plugin.inputs.PatchesField`
    """

    def __init__(self, samples, method, *, fields=None, tags=(), label_tags=None,
                 saved_views=(), score=None, key=None, overwrite=False, patches_field=None):
        self.started = time.time()
        self.samples = samples
        self.method = method
        self.patches = inputs.resolve_patches(samples, patches_field)
        attributes = dict(fields or {})
        if self.patches is not None and tags:  # tags of objects are label tags
            label_tags = dict(label_tags or {})
            for tag in tags:
                label_tags.setdefault(tag, [self.patches.name])
            tags = ()
        if self.patches is not None:
            for attr in attributes.values():  # before they are made into paths
                inputs.check_name(attr, "Field names")
            roles = {r: self.patches.path(a) for r, a in attributes.items()}
            if score and score.get("field") in attributes.values():
                score = dict(score, field=self.patches.path(score["field"]))
        else:
            roles = attributes
        fields = list(roles.values())
        self.outputs = dict(fields=fields, roles=roles, tags=list(tags),
                            label_tags=dict(label_tags or {}),
                            saved_views=list(saved_views), score=score)
        if self.patches is not None:
            self.outputs["patches_field"] = self.patches.name
        self.key = key or run_key(method, self.outputs["fields"][0])
        cleanup_incomplete(samples)
        inputs.check_writable(samples, self.key, owners=owners(samples._root_dataset),
                              fields=list(attributes.values()), tags=tags,
                              label_tags=label_tags, saved_views=saved_views,
                              overwrite=overwrite, patches_field=self.patches)

    def path(self, role):
        """The field (sample field, or object attribute path) written for ``role``."""
        return self.outputs["roles"][role]

    # The writes below are the sample or the object version of each step's write;
    # call them inside ``with step.writing():``. Ids are sample ids, or the
    # objects' label ids with ``patches_field``.

    def clear(self, role):
        """Empties ``role``'s field on the whole dataset (a re-run replaces the whole
        previous result, never mixing two populations)."""
        dataset = self.samples._root_dataset
        path = self.path(role)
        if self.patches is not None:
            # One update (FiftyOne's clear_sample_field takes ~17 s per 20 000 objects).
            inputs.clear_object_values(self.samples, self.patches,
                                       path[len(self.patches.list_path) + 1:])
        elif path in dataset.get_field_schema():
            dataset.clear_sample_field(path)

    def set_values(self, role, ftype, values):
        """Declares ``role``'s field as ``ftype`` and writes ``{id: value}`` in one
        bulk write (samples: every sample of ``values``; objects: by label id)."""
        path = self.path(role)
        inputs.declare_field(self.samples, path, ftype)
        if self.patches is None:
            self.samples.set_values(path, values, key_field="id")
        else:
            inputs.set_object_values(self.samples, self.patches,
                                     path[len(self.patches.list_path) + 1:], values)

    def untag(self, tag):
        """Takes ``tag`` back from every sample (or every object of the field)."""
        dataset = self.samples._root_dataset
        if self.patches is None:
            dataset.untag_samples(tag)
        else:
            dataset.untag_labels(tag, label_fields=self.patches.name)

    def tag(self, ids, tag):
        """Tags the samples (or objects) ``ids``."""
        ids = list(ids)
        if not ids:
            return
        if self.patches is None:
            self.samples._root_dataset.select(ids).tag_samples(tag)
        else:
            inputs.tag_objects(self.samples, self.patches, ids, tag)

    def save_tagged_view(self, name, tag):
        """Saves the view of the samples (or, as a patches view, of the objects)
        tagged ``tag`` as ``name``."""

        if self.patches is None:
            view = self.samples.match_tags(tag)
        else:
            view = inputs.objects_view(self.samples, self.patches, tag)
        self.samples._root_dataset.save_view(name, view, overwrite=True)

    @contextlib.contextmanager
    def writing(self):
        """Wraps the step's bulk write; if it fails or is interrupted in this process,
        removes what it wrote (the run's cleanup), then re-raises."""
        config = WinnowRunConfig(method=self.method, status="writing", writer=_writer_id(),
                                 write_started=time.time(), **self.outputs)
        self.samples.register_run(self.key, config, overwrite=True, cleanup=False)
        try:
            yield
        except BaseException:
            self.samples._root_dataset.delete_run(self.key)
            raise

    @property
    def seconds(self):
        return time.time() - self.started

    def record(self, params, counts, **extra):
        """Registers (or replaces) the complete run record; returns the run key.

        Called after the results are written, so an existing record of the
        same key is replaced without its cleanup (which would delete them).
        """
        config = WinnowRunConfig(method=self.method, params=params, counts=counts,
                                 versions=versions(), seconds=round(self.seconds, 3),
                                 **self.outputs, **extra)
        self.samples.register_run(self.key, config, overwrite=True, cleanup=False)
        return self.key


class Results:
    """What a step did: the base of every step's results.

    A subclass lists its attributes in ``ATTRIBUTES`` (each must be given)
    and says what it found in :meth:`summary`; ``num_skipped`` (samples
    without an input, e.g. no embedding) and ``num_failed`` (images that could
    not be read) default to 0 and are printed when non-zero.
    """

    ATTRIBUTES = ()
    num_skipped = 0
    num_failed = 0

    def __init__(self, **kwargs):
        missing = [a for a in self.ATTRIBUTES if a not in kwargs]
        if missing:
            raise TypeError("%s needs %s" % (type(self).__name__, ", ".join(missing)))
        self.__dict__.update(kwargs)

    def summary(self):
        return type(self).__name__

    def __repr__(self):
        notes = []
        if self.num_failed:
            notes.append("%d images could not be read" % self.num_failed)
        if self.num_skipped:
            notes.append("%d %s without an embedding skipped" % (
                self.num_skipped, "objects" if getattr(self, "patches_field", None)
                else "samples"))
        return self.summary() + "".join("; " + n for n in notes)


def objects_view_name(patches, tag):
    """The saved view of the objects of ``patches`` (a PatchesField) tagged ``tag``."""
    return "winnow-%s-%s" % (patches.name, tag)


def list_runs(samples, method=None):
    """Lists the Winnow runs recorded on a dataset.

    Args:
        samples: a dataset or view
        method (None): only runs of this step (``"embeddings"``, ...)

    Returns:
        a list of dicts with ``key``, ``method``, ``timestamp``, ``fields``,
        ``roles``, ``tags``, ``label_tags``, ``saved_views``, ``score``, ``params``,
        ``counts``, ``versions``, ``seconds``, ``status`` and ``patches_field``
        (None, or the objects field the run was on)
    """
    dataset = samples._root_dataset
    runs = []
    for key in dataset.list_runs():
        info = dataset.get_run_info(key)
        config = info.config
        if not isinstance(config, WinnowRunConfig):
            continue
        if method is not None and config.method != method:
            continue
        runs.append(
            dict(
                key=key,
                method=config.method,
                timestamp=info.timestamp,
                fields=list(config.fields),
                roles=dict(config.roles),
                tags=list(config.tags),
                label_tags={t: list(f) for t, f in config.label_tags.items()},
                saved_views=list(config.saved_views),
                score=dict(config.score) if config.score else None,
                params=dict(config.params),
                counts=dict(config.counts),
                versions=dict(config.versions),
                seconds=config.seconds,
                status=getattr(config, "status", "complete"),
                patches_field=getattr(config, "patches_field", None),
            )
        )
    runs.sort(key=lambda r: r["timestamp"] or datetime.datetime.min)
    return runs


def get_run(samples, key):
    """The record of the Winnow run ``key`` (a dict, as in :func:`list_runs`)."""
    for run in list_runs(samples):
        if run["key"] == key:
            return run
    raise KeyError("No Winnow run %r on dataset %r" % (key, samples._root_dataset.name))


def delete_run(samples, key):
    """Deletes the Winnow run ``key``: exactly the fields and tags it wrote, and its record."""
    get_run(samples, key)  # raises a clear KeyError for unknown keys
    samples._root_dataset.delete_run(key)
