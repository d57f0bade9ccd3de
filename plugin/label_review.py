"""Reviewing suggested labels: accept them for chosen samples, and undo.

Accepting is the only Winnow step that writes a user's label field, and only for
the samples it is given. The previous label is kept in a history field and the
sample is tagged, so :func:`undo_suggestions` restores exactly what was there
(including "no label").
"""

import fiftyone as fo
import fiftyone.core.fields as fof

from . import inputs, runs

STEP = "accept_suggestions"
DEFAULT_TAG = "suggestion_accepted"


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
                       label_field="ground_truth", history_field=None, tag=DEFAULT_TAG):
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

    Returns:
        the number of samples whose label was written

    Raises:
        ValueError: bad parameters, before anything is written
    """
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

    previous = {}
    try:
        previous = runs.get_run(samples, step.key)["counts"]
    except KeyError:
        pass
    counts = dict(accepted=previous.get("accepted", 0) + len(first))
    step.record(dict(suggestion_field=suggestion_field, label_field=label_field,
                     history_field=history), counts)
    return len(chosen)


def undo_suggestions(samples, *, label_field="ground_truth", history_field=None,
                     tag=DEFAULT_TAG):
    """Restores the labels that :func:`accept_suggestions` replaced in ``samples``.

    Returns:
        the number of samples restored
    """
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
