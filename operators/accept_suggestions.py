"""@winnow/curation/accept_suggestions: accept (or undo) suggested labels for chosen samples."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import (call_operator, engine_defaults, engine_options, flag, form_values,
                      operator_config)
from ._filter_form import add_objects_choice
from ._label_forms import field_chooser, label_fields, label_options


def _engine(action):
    from winnow.plugin import label_review

    return label_review.undo_suggestions if action == "undo" else \
        label_review.accept_suggestions


class AcceptSuggestions(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "accept_suggestions", "Winnow: accept suggested labels",
            "Write suggested labels into the label field for the chosen samples (undoable)",
            generator=False)

    def resolve_input(self, ctx):
        from winnow.plugin import inputs as checks

        inputs = types.Object()
        samples = ctx.target_view()
        action = types.RadioGroup(orientation="horizontal")
        action.add_choice("accept", label="Accept suggestions")
        action.add_choice("undo", label="Undo accepted suggestions")
        inputs.enum("action", action.values(), default="accept", required=True,
                    label="Action", view=action)
        accept = ctx.params.get("action", "accept") == "accept"
        d = engine_defaults(_engine(ctx.params.get("action")))
        objects_prop, objects = add_objects_choice(ctx, inputs)
        fields = label_fields(ctx.dataset)
        if accept and objects:
            suggestion = inputs.str(
                "suggestion_field", default=d["suggestion_field"], required=True,
                label="Suggestion attribute", description="The objects' attribute of "
                "suggested classes (find_label_issues's or predict_labels's)")
        elif accept:
            suggestion = field_chooser(
                inputs, "suggestion_field", fields, d["suggestion_field"],
                "Suggestion field", "find_label_issues's suggestions or predict_labels's "
                "predictions")
        if not objects:
            field_chooser(inputs, "label_field", fields, d["label_field"], "Label field",
                          "The field to write (its old values are kept for undo)")
        if ctx.dataset is not None and objects:
            from winnow.plugin import label_review

            o = label_options(engine_options(form_values(inputs, ctx.params), d))
            view = checks.samples_of_patches(samples, objects)
            if flag(objects_prop, checks.patches_field, view, objects) and accept:
                flag(suggestion, label_review.check_object_suggestions, view,
                     checks.patches_field(view, objects), o["suggestion_field"])
        elif accept and ctx.dataset is not None:
            o = engine_options(form_values(inputs, ctx.params), d)
            flag(suggestion, checks.label_field, samples, o["suggestion_field"],
                 param="suggestion_field", kinds=checks.LABEL_FIELD_KINDS)
        return types.Property(inputs, view=types.View(label="Winnow: accept suggested labels"))

    def execute(self, ctx):
        action = ctx.params.get("action", "accept")
        engine = _engine(action)
        options = label_options(engine_options(ctx.params, engine_defaults(engine)))
        count = engine(ctx.target_view(), **options)
        where = ("objects of %r" % options["patches_field"]) if options["patches_field"] \
            else repr(options["label_field"])
        if action == "undo":
            message = "Restored %d labels of %s" % (count, where)
        else:
            message = "Accepted %d suggested labels into %s" % (count, where)
        if not ctx.delegated:
            ctx.ops.reload_dataset()
            ctx.ops.notify(message, variant="success")
        return dict(count=count, message=message)

    def __call__(self, samples, action="accept", delegate=False, **options):
        """Runs the operator from Python with the options of
        ``winnow.accept_suggestions`` (or ``undo_suggestions`` for ``action="undo"``)::

            foo.get_operator(uri)(dataset.select(ids), label_field="ground_truth")
        """
        return call_operator(self, samples, options, engine_defaults(_engine(action)),
                             delegate, action=lambda p: action)
