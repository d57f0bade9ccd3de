"""Reviewing suggested labels: accept them for chosen samples, and undo.

Accepting is the only Winnow step that writes a user's label field, and only for
the samples it is given. The previous label is kept in a history field and the
sample is tagged, so :func:`undo_suggestions` restores exactly what was there
(including "no label").

On objects (``patches_field``): the same for each object's ``label``, its previous
value in the object attribute ``label_history`` and the label tag on the object.
"""

import fiftyone as fo
import fiftyone.core.fields as fof

from . import inputs, label_issues, runs

STEP = "accept_suggestions"
DEFAULT_TAG = "suggestion_accepted"
OBJECT_HISTORY = "label_history"  # the objects' attribute keeping their label before


def _history_field(label_field, history_field):
    return history_field or label_field + "_history"


def _as_label(suggestion, multi_label):
    """A clean ground-truth label from a suggestion (the class names, no confidence)."""
    if suggestion is None:
        return None
    if multi_label:
        return fo.Classifications(classifications=[
            fo.Classification(label=c.label) for c in suggestion.classifications])
    return fo.Classification(label=suggestion.label)


def _label_field(samples, name, param):
    return inputs.label_field(samples, name, param=param, kinds=inputs.LABEL_FIELD_KINDS)


def _check_fields(samples, suggestion_field, label_field, history):
    """Returns whether the suggestions are multi-label; raises ValueError on bad fields."""
    inputs.check_collection(samples)
    if not isinstance(suggestion_field, str) or samples.get_field(suggestion_field) is None:
        raise ValueError("No suggestion field %r: run winnow.find_label_issues or "
                         "winnow.predict_labels first" % (suggestion_field,))
    multi_label = _label_field(samples, suggestion_field, "suggestion_field").multi_label
    if samples.get_field(label_field) is not None \
            and _label_field(samples, label_field, "label_field").multi_label != multi_label:
        raise ValueError("Fields %r and %r hold different label types"
                         % (suggestion_field, label_field))
    if len({suggestion_field, label_field, history}) < 3:
        raise ValueError("suggestion_field, label_field and history_field must differ")
    return multi_label


def accept_suggestions(samples, *, suggestion_field="suggested_label",
                       label_field="ground_truth", history_field=None, tag=DEFAULT_TAG,
                       patches_field=None):
    """Writes the suggested labels into ``label_field`` for the given samples only.

    Samples without a suggestion are left alone. The label each sample had
    before its first acceptance is kept in ``history_field`` and the sample gets
    the tag ``tag``, so :func:`undo_suggestions` can restore it; accepting again
    keeps the original in the history.

    Args:
        samples: the samples whose suggestions to accept (e.g. a selection, or
            ``dataset.match_tags("label_issue")``)
        suggestion_field ("suggested_label"): where the suggestions are
            (``find_label_issues``'s suggestion field, ``predict_labels``'s
            prediction field)
        label_field ("ground_truth"): the label field to write
        history_field (None): defaults to ``<label_field>_history``
        tag ("suggestion_accepted"): sample tag marking accepted samples
        patches_field (None): a ``fo.Detections``/``fo.Polylines`` field: accept
            the suggestions of its objects shown in ``samples`` (e.g. a selection
            in the saved patches view of flagged objects, or
            ``dataset.select_labels(ids=...)``): each object's ``label`` becomes
            its ``suggestion_field`` attribute (a class name), its previous label
            is kept in its attribute ``history_field`` (default
            ``"label_history"``) and it gets the label tag ``tag``; nothing
            else of the object or its sample changes. ``label_field`` is not used

    Returns:
        the number of samples (objects) whose label was written

    Raises:
        ValueError: bad parameters, before anything is written
    """
    if patches_field is not None:
        return _accept_objects(samples, patches_field, suggestion_field, label_field,
                               history_field, tag)
    history = _history_field(label_field, history_field)
    multi_label = _check_fields(samples, suggestion_field, label_field, history)
    inputs.check_name(tag, "tag")
    step = runs.Step(samples, STEP, fields=dict(history=history), tags=[tag])
    if len(samples) == 0:
        raise ValueError("The view is empty: there are no suggestions to accept")

    doc_type = fo.Classifications if multi_label else fo.Classification
    if samples.get_field(label_field) is None:  # the user's field is never replaced
        inputs.declare_field(samples, label_field, fof.EmbeddedDocumentField,
                             embedded_doc_type=doc_type)
    inputs.declare_field(samples, history, fof.EmbeddedDocumentField, embedded_doc_type=doc_type)
    ids, suggestions, labels, tags = samples.values(["id", suggestion_field, label_field, "tags"])
    chosen = [r for r, s in enumerate(suggestions) if s is not None]
    # Only a sample's first acceptance goes to the history: undo returns to the user's label.
    first = [r for r in chosen if tag not in (tags[r] or [])]
    if first:
        samples.select([ids[r] for r in first]).set_values(
            history, {ids[r]: labels[r] for r in first}, key_field="id")
    if chosen:
        view = samples.select([ids[r] for r in chosen])
        view.set_values(label_field, {ids[r]: _as_label(suggestions[r], multi_label)
                                      for r in chosen}, key_field="id")
        view.tag_samples(tag)

    _record(samples, step, len(first), suggestion_field=suggestion_field,
            label_field=label_field, history_field=history)
    return len(chosen)


def _record(samples, step, accepted, **params):
    """Records the run; its count of accepted labels adds up over calls (each first
    acceptance counts once)."""
    previous = {}
    try:
        previous = runs.get_run(samples, step.key)["counts"]
    except KeyError:
        pass
    step.record(params, dict(accepted=previous.get("accepted", 0) + accepted))


def undo_suggestions(samples, *, label_field="ground_truth", history_field=None,
                     tag=DEFAULT_TAG, patches_field=None):
    """Restores the labels that :func:`accept_suggestions` replaced in ``samples``
    (with ``patches_field``: the labels of its accepted objects in ``samples``).

    Returns:
        the number of samples (objects) restored
    """
    if patches_field is not None:
        return _undo_objects(samples, patches_field, label_field, history_field, tag)
    history = _history_field(label_field, history_field)
    if samples.get_field(history) is None:
        raise ValueError("No history field %r: nothing was accepted into %r"
                         % (history, label_field))
    accepted = samples.match_tags(tag)
    ids, old = accepted.values(["id", history])
    if not ids:
        return 0
    accepted.set_values(label_field, dict(zip(ids, old)), key_field="id")
    accepted.set_values(history, {i: None for i in ids}, key_field="id")
    samples.select(ids).untag_samples(tag)
    return len(ids)


# --------------------------------------------------------------------- objects


def _objects_of(samples, patches_field, label_field, history_field):
    """The samples showing the objects to review, their field and history attribute."""
    inputs.check_collection(samples)
    samples = inputs.samples_of_patches(samples, patches_field)
    pf, _ = label_issues.object_classes(samples, patches_field, label_field)
    history = history_field or OBJECT_HISTORY
    inputs.check_name(history, "history_field")
    return samples, pf, history


def _read_objects(samples, pf, *attributes):
    """One row per object of the view: ``(sample id, object id, *attributes)``."""
    columns = samples.values(["id", pf.path("id")] + [pf.path(a) for a in attributes])
    rows = []
    for s, sid in enumerate(columns[0]):
        for o, oid in enumerate(columns[1][s] or []):
            rows.append((sid, oid) + tuple(c[s][o] if c[s] else None for c in columns[2:]))
    return rows


def _set_objects(samples, pf, attribute, rows):
    """Writes ``[(sample id, object id, value)]`` to the objects' ``attribute``."""
    inputs.set_object_values(samples, pf, attribute, {oid: value for _, oid, value in rows})


def check_object_suggestions(samples, pf, suggestion_field):
    """Raises ValueError unless the objects of ``pf`` (a ``PatchesField``) have the
    attribute ``suggestion_field`` of suggested class names."""
    flat = samples.get_field_schema(flat=True)
    if not isinstance(suggestion_field, str) or pf.path(suggestion_field) not in flat:
        raise ValueError("No suggestion attribute %r on the objects of %r: run "
                         "winnow.find_label_issues or winnow.predict_labels with "
                         "patches_field=%r first" % (suggestion_field, pf.name, pf.name))
    if not isinstance(flat[pf.path(suggestion_field)], fof.StringField):
        raise ValueError("Object attribute %r holds %s values, not suggested class names"
                         % (pf.path(suggestion_field),
                            type(flat[pf.path(suggestion_field)]).__name__))


def _accept_objects(samples, patches_field, suggestion_field, label_field, history_field,
                    tag):
    samples, pf, history = _objects_of(samples, patches_field, label_field, history_field)
    check_object_suggestions(samples, pf, suggestion_field)
    if len({suggestion_field, "label", history}) < 3:
        raise ValueError("suggestion_field, history_field and the objects' 'label' must "
                         "differ")
    inputs.check_name(tag, "tag")
    step = runs.Step(samples, STEP, fields=dict(history=history), label_tags={tag: [pf.name]},
                     patches_field=pf)
    if not samples.count(pf.list_path):
        raise ValueError("The view has no objects in %r: there are no suggestions to accept"
                         % pf.name)

    rows = _read_objects(samples, pf, suggestion_field, "label", "tags")
    chosen = [r for r in rows if r[2] is not None]
    # Only an object's first acceptance goes to the history: undo returns to the user's label.
    first = [r for r in chosen if tag not in (r[4] or [])]
    inputs.declare_field(samples, pf.path(history), fof.StringField)
    _set_objects(samples, pf, history, [(sid, oid, old) for sid, oid, _, old, _ in first])
    _set_objects(samples, pf, "label", [(sid, oid, new) for sid, oid, new, _, _ in chosen])
    inputs.tag_objects(samples, pf, [r[1] for r in chosen], tag)
    _record(samples, step, len(first), suggestion_field=suggestion_field,
            patches_field=pf.name, history_field=history)
    return len(chosen)


def _undo_objects(samples, patches_field, label_field, history_field, tag):
    samples, pf, history = _objects_of(samples, patches_field, label_field, history_field)
    if pf.path(history) not in samples.get_field_schema(flat=True):
        raise ValueError("No history attribute %r on the objects of %r: nothing was "
                         "accepted into them" % (history, pf.name))
    accepted = samples.select_labels(tags=tag, fields=pf.name)
    rows = _read_objects(accepted, pf, history)
    if not rows:
        return 0
    _set_objects(samples, pf, "label", rows)
    _set_objects(samples, pf, history, [(sid, oid, None) for sid, oid, _ in rows])
    samples._root_dataset.select_labels(ids=[r[1] for r in rows], fields=pf.name) \
        .untag_labels(tag, label_fields=pf.name)
    return len(rows)
