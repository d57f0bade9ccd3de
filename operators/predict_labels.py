"""@winnow/curation/predict_labels: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import (call_operator, check_writable, engine_defaults, engine_options, flag,
                      form_values, operator_config, run_engine, summarize)
from ._label_forms import check_label_and_vectors, label_inputs, label_options, model_inputs


def _engine():
    from winnow.plugin import label_issues

    return label_issues


class PredictLabels(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "predict_labels", "Winnow: predict missing labels",
            "Label the unlabeled samples from the labeled ones (bagged MLPs)")

    def resolve_input(self, ctx):
        engine = _engine()
        d = engine_defaults(engine.predict_labels)
        inputs = types.Object()
        samples = ctx.target_view()
        props, objects = label_inputs(
            inputs, ctx, d, "The labels to learn from; unlabeled samples are "
            "predicted. The field itself is never changed")
        prediction = inputs.str("prediction_field", default=d["prediction_field"],
                                required=True,
                                label="Prediction attribute" if objects else "Prediction field")
        inputs.float("threshold", default=d["threshold"], min=0.01, max=1.0, required=True,
                     label="Confidence threshold",
                     description="Single-label: predict only when the top class reaches it; "
                                 "multi-label: every class that reaches it")
        inputs.bool("only_missing", default=d["only_missing"],
                    label="Only unlabeled objects" if objects else "Only unlabeled samples")
        model_inputs(inputs, d)
        inputs.bool("overwrite", default=d["overwrite"], label="Overwrite an existing field")

        if ctx.dataset is not None:
            o = label_options(engine_options(form_values(inputs, ctx.params), d))
            pf = check_label_and_vectors(samples, o, props)
            if pf is not None:
                from winnow.plugin import inputs as checks

                flag(prediction, check_writable, checks.samples_of_patches(samples, pf.name),
                     engine.PREDICT_STEP, pf.path(o["prediction_field"]),
                     fields=[o["prediction_field"]], overwrite=o["overwrite"],
                     patches_field=pf)
            elif not objects:
                flag(prediction, check_writable, samples, engine.PREDICT_STEP,
                     o["prediction_field"], fields=[o["prediction_field"]],
                     overwrite=o["overwrite"])
        return types.Property(inputs, view=types.View(label="Winnow: predict missing labels"))

    def execute(self, ctx):
        engine = _engine()
        options = label_options(engine_options(ctx.params,
                                               engine_defaults(engine.predict_labels)))
        results = yield from run_engine(ctx, engine.predict_labels, "Predicting labels",
                                        samples=ctx.target_view(), **options)
        yield from summarize(ctx, str(results).splitlines()[0])

    def __call__(self, samples, delegate=False, **options):
        """Runs the operator from Python with ``winnow.predict_labels``'s options:
        ``foo.get_operator(uri)(dataset, ...)``."""
        return call_operator(self, samples, options,
                             engine_defaults(_engine().predict_labels), delegate)
