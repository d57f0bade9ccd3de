"""@winnow/curation/find_label_issues: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import (call_operator, check_writable, engine_defaults, engine_options, flag,
                      form_values, none_choice, operator_config, run_engine, summarize)
from ._label_forms import check_label_and_vectors, label_inputs, label_options, model_inputs


def _engine():
    from winnow.plugin import label_issues

    return label_issues

FILTER_CHOICES = [
    ("prune_by_noise_rate", "Prune by noise rate (cleanlab default)"),
    ("prune_by_class", "Prune by class"),
    ("both", "Both"),
    ("confident_learning", "Confident learning (off-diagonals of the confident joint)"),
    ("predicted_neq_given", "Predicted class differs from the label"),
    ("low_self_confidence", "Low self-confidence"),
    ("low_normalized_margin", "Low normalized margin"),
]


class FindLabelIssues(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "find_label_issues", "Winnow: find label issues",
            "Flag likely wrong labels (bagged MLPs on embeddings + cleanlab; on objects "
            "also from a detector's predictions: cleanlab object detection)")

    def resolve_input(self, ctx):
        engine = _engine()
        d = engine_defaults(engine.find_label_issues)
        inputs = types.Object()
        samples = ctx.target_view()
        props, objects = label_inputs(
            inputs, ctx, d, "A Classification (single-label) or Classifications "
            "(multi-label) field; it is never changed", predictions=True)
        predictions = objects is not None and none_choice(ctx.params.get("pred_field"))
        if not predictions:  # a detector's predictions need no model of Winnow's
            model_inputs(inputs, d)
            dropdown = types.DropdownView()
            for value, label in FILTER_CHOICES:
                dropdown.add_choice(value, label=label)
            inputs.enum("filter_by", dropdown.values(), default=d["filter_by"],
                        required=True, label="cleanlab filter_by", view=dropdown)
        what = "attribute" if objects else "field"
        tag = inputs.str("tag", default=d["tag"], required=True, label="Issue tag",
                         description="Label tag on the flagged objects" if objects else
                         "Sample tag and label tag on flagged samples/labels")
        quality = inputs.str("quality_field", default=d["quality_field"], required=True,
                             label="Label quality " + what,
                             description="With predictions: the boxes' attribute and the "
                                         "images' field" if objects else None)
        if not predictions:
            suggestion = inputs.str("suggestion_field", default=d["suggestion_field"],
                                    required=True, label="Suggested label " + what)
        inputs.bool("overwrite", default=d["overwrite"], label="Overwrite existing fields")

        if ctx.dataset is not None:
            o = label_options(engine_options(form_values(inputs, ctx.params), d))
            pf = check_label_and_vectors(samples, o, props)
            if objects and pf is None:  # a bad objects field: flagged, nothing to check
                return types.Property(inputs, view=types.View(label=self.config.label))
            from winnow.plugin import inputs as checks

            samples = checks.samples_of_patches(samples, pf.name) if pf else samples
            if predictions:
                from winnow.plugin import detection_issues

                pred = checks.patches_field(samples, o["pred_field"], param="pred_field")
                for prop, part in ((quality, "fields"), (tag, "tags")):
                    flag(prop, detection_issues.check_outputs, samples, pf, pred,
                         tag=o["tag"], quality_field=o["quality_field"],
                         save_view=o["save_view"], overwrite=o["overwrite"], parts=[part])
                return types.Property(inputs, view=types.View(label=self.config.label))
            step, overwrite = engine.STEP, o["overwrite"]
            key_field = pf.path(o["quality_field"]) if pf else o["quality_field"]
            on = dict(patches_field=pf) if pf else {}
            flag(quality, check_writable, samples, step, key_field,
                 fields=[o["quality_field"]], overwrite=overwrite, **on)
            flag(suggestion, check_writable, samples, step, key_field,
                 fields=[o["suggestion_field"]], overwrite=overwrite, **on)
            flag(tag, check_writable, samples, step, key_field,
                 tags=[] if pf else [o["tag"]],
                 label_tags={o["tag"]: [pf.name if pf else o["label_field"]]},
                 overwrite=overwrite)
        return types.Property(inputs, view=types.View(label="Winnow: find label issues"))

    def execute(self, ctx):
        engine = _engine()
        options = label_options(engine_options(ctx.params,
                                               engine_defaults(engine.find_label_issues)))
        results = yield from run_engine(ctx, engine.find_label_issues, "Finding label issues",
                                        samples=ctx.target_view(), **options)
        yield from summarize(ctx, str(results).splitlines()[0])
        if not ctx.delegated and results.saved_view and results.num_issues:
            yield ctx.ops.set_view(name=results.saved_view)

    def __call__(self, samples, delegate=False, **options):
        """Runs the operator from Python with ``winnow.find_label_issues``'s options::

            op = foo.get_operator("@winnow/curation/find_label_issues")
            op(dataset, label_field="ground_truth", delegate=True)
        """
        return call_operator(self, samples, options,
                             engine_defaults(_engine().find_label_issues), delegate)
