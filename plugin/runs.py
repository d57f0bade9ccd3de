"""Provenance: every Winnow step records a FiftyOne run on the dataset.

The run's config class path is stored in the database, so these classes live in
the real ``winnow`` package (never only under FiftyOne's synthetic plugin module).
A run knows exactly which fields and tags it wrote, so :func:`delete_run` removes
those and nothing else.
"""

import contextlib
import datetime
import importlib.metadata
import os
import socket
import time

import fiftyone.core.runs as fors

# Sample fields no Winnow step may ever write to.
PROTECTED_FIELDS = frozenset(
    ["id", "_id", "filepath", "tags", "metadata", "created_at", "last_modified_at",
     "_dataset_id", "_media_type", "_rand"]
)


# A "writing" record from another host older than this is taken as abandoned.
STALE_WRITE_S = 6 * 3600


class WinnowRunConfig(fors.RunConfig):
    """The record of one Winnow step.

    Args:
        method: the step (``"embeddings"``, ...)
        fields: the sample fields the step wrote
        tags: the sample tags the step wrote
        params: the step's JSON-serializable parameters
        counts: JSON-serializable counts (samples, failures, ...)
        versions: package versions used
        seconds: wall time of the step
        status: ``"writing"`` while results are being written, ``"complete"`` after
        **kwargs: anything else to record
    """

    def __init__(self, method=None, fields=None, tags=None, params=None,
                 counts=None, versions=None, seconds=None, status="complete", **kwargs):
        super().__init__(method=method, **kwargs)
        self.status = status
        self.fields = list(fields or [])
        self.tags = list(tags or [])
        self.params = dict(params or {})
        self.counts = dict(counts or {})
        self.versions = dict(versions or {})
        self.seconds = seconds


class WinnowRun(fors.Run):
    """Run class for :class:`WinnowRunConfig` (found by FiftyOne by name)."""

    def get_fields(self, samples, key):
        return list(self.config.fields)

    def cleanup(self, samples, key):
        dataset = samples._root_dataset
        schema = dataset.get_field_schema()
        fields = [f for f in self.config.fields if f in schema]
        if fields:
            dataset.delete_sample_fields(fields)
        if self.config.tags:
            dataset.untag_samples(self.config.tags)
        # Saved views a step made (config.saved_views, e.g. the filter's "kept").
        for name in getattr(self.config, "saved_views", None) or []:
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


def begin_write(samples, key, method, fields, tags=None, config_cls=None, **extra):
    """Marks the run ``key`` as writing, just before a step's bulk write.

    If the process dies mid-write, the record stays ``"writing"`` and the next run
    of any step on this dataset removes that run's fields and tags
    (:func:`cleanup_incomplete`), so no half-written result survives. A step whose
    run class cleans up more (label tags, saved views) passes its ``config_cls``
    and those ``extra`` attributes.
    """
    config_cls = config_cls or WinnowRunConfig
    config = config_cls(method=method, fields=fields, tags=tags, status="writing",
                        writer=_writer_id(), write_started=time.time(), **extra)
    samples.register_run(key, config, overwrite=True, cleanup=False)


@contextlib.contextmanager
def writing(samples, key, method, fields, tags=None, config_cls=None, **extra):
    """Wraps a step's final bulk write: marks the run as writing (:func:`begin_write`)
    and, if the write fails or is interrupted in this process, removes what it wrote.
    Follow it with :func:`record_run`.
    """
    begin_write(samples, key, method, fields, tags=tags, config_cls=config_cls, **extra)
    try:
        yield
    except BaseException:
        samples._root_dataset.delete_run(key)
        raise


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
    for key in dataset.list_runs():
        try:
            config = dataset.get_run_info(key).config
        except Exception:
            continue
        if (isinstance(config, WinnowRunConfig) and config.status == "writing"
                and _writer_is_gone(config)):
            dataset.delete_run(key)  # runs WinnowRun.cleanup: its fields and tags
            cleaned.append(key)
    return cleaned


def check_writable(samples, fields, step, overwrite=False):
    """Refuses, before anything is written, to write a field Winnow must not touch.

    A field may be written when it does not exist yet, when the previous run of
    the same step and field wrote it, or when ``overwrite=True``.

    Raises:
        ValueError
    """
    dataset = samples._root_dataset
    cleanup_incomplete(dataset)
    schema = dataset.get_field_schema()
    owned = _fields_owned_by_winnow(dataset)
    for field in fields:
        if not isinstance(field, str) or not field:
            raise ValueError("Field names must be non-empty strings; got %r" % (field,))
        if field in PROTECTED_FIELDS or field.startswith("_"):
            raise ValueError("Refusing to write the reserved field %r" % field)
        if "." in field:
            raise ValueError("Winnow writes top-level sample fields; got %r" % field)
        if field in schema and not overwrite:
            owner = owned.get(field)
            if owner is None:
                raise ValueError(
                    "Field %r already exists and was not written by Winnow; choose "
                    "another field name or pass overwrite=True" % field
                )
            if owner != run_key(step, fields[0]):
                raise ValueError(
                    "Field %r belongs to the Winnow run %r; choose another field "
                    "name, delete that run, or pass overwrite=True" % (field, owner)
                )


def _fields_owned_by_winnow(dataset):
    owned = {}
    for key in dataset.list_runs():
        try:
            config = dataset.get_run_info(key).config
        except Exception:
            continue
        if isinstance(config, WinnowRunConfig):
            for f in config.fields:
                owned[f] = key
    return owned


def record_run(samples, key, method, fields, params, counts, started, tags=None, **extra):
    """Registers (or replaces) the run ``key`` on the dataset of ``samples``.

    Called after the step's results are written, so an existing record of the
    same key is replaced without its cleanup (which would delete what was just
    written).
    """
    config = WinnowRunConfig(
        method=method,
        fields=fields,
        tags=tags,
        params=params,
        counts=counts,
        versions=versions(),
        seconds=round(time.time() - started, 3),
        **extra,  # e.g. saved_views=[...], removed by delete_run
    )
    samples.register_run(key, config, overwrite=True, cleanup=False)
    return key


def list_runs(samples, method=None):
    """Lists the Winnow runs recorded on a dataset.

    Args:
        samples: a dataset or view
        method (None): only runs of this step (``"embeddings"``, ...)

    Returns:
        a list of dicts with ``key``, ``method``, ``timestamp``, ``fields``,
        ``tags``, ``params``, ``counts``, ``versions`` and ``seconds``
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
                tags=list(config.tags),
                params=dict(config.params),
                counts=dict(config.counts),
                versions=dict(config.versions),
                seconds=config.seconds,
                status=getattr(config, "status", "complete"),
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
