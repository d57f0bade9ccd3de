"""@winnow/curation/accept_suggestions: accept (or undo) suggested labels for chosen samples."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import operator_config
from ._label_forms import field_chooser, label_fields


class AcceptSuggestions(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "accept_suggestions", "Winnow: accept suggested labels",
            "Write suggested labels into the label field for the chosen samples (undoable)",
            generator=False)

    def resolve_input(self, ctx):
        inputs = types.Object()
        ctx.target_view()
        action = types.RadioGroup(orientation="horizontal")
        action.add_choice("accept", label="Accept suggestions")
        action.add_choice("undo", label="Undo accepted suggestions")
        inputs.enum("action", action.values(), default="accept", required=True,
                    label="Action", view=action)
        fields = label_fields(ctx.dataset)
        if ctx.params.get("action", "accept") == "accept":
            field_chooser(inputs, "suggestion_field", fields, "suggested_label",
                          "Suggestion field", "find_label_issues's suggestions or "
                          "predict_labels's predictions")
        field_chooser(inputs, "label_field", fields, "ground_truth", "Label field",
                      "The field to write (its old values are kept for undo)")
        return types.Property(inputs, view=types.View(label="Winnow: accept suggested labels"))

    def execute(self, ctx):
        from winnow.plugin.label_review import accept_suggestions, undo_suggestions

        p = ctx.params
        samples = ctx.target_view()
        label_field = p.get("label_field", "ground_truth")
        if p.get("action", "accept") == "undo":
            count = undo_suggestions(samples, label_field=label_field)
            message = "Restored %d labels of %r" % (count, label_field)
        else:
            count = accept_suggestions(
                samples, suggestion_field=p.get("suggestion_field", "suggested_label"),
                label_field=label_field)
            message = "Accepted %d suggested labels into %r" % (count, label_field)
        if not ctx.delegated:
            ctx.ops.reload_dataset()
            ctx.ops.notify(message, variant="success")
        return dict(count=count, message=message)

    def __call__(self, samples, suggestion_field="suggested_label", label_field="ground_truth",
                 action="accept", delegate=False):
        """Runs the operator from Python: ``foo.get_operator(uri)(dataset.select(ids))``."""
        params = dict(action=action, suggestion_field=suggestion_field, label_field=label_field)
        return foo.execute_operator(self.uri, ctx=dict(view=samples.view(), params=params),
                                    request_delegation=delegate)
