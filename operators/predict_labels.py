"""@winnow/curation/predict_labels: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import (call_operator, check_writable, engine_defaults, engine_options, flag,
                      form_values, operator_config, run_engine, summarize, vector_fields)
from ._label_forms import check_label_and_vectors, field_chooser, label_fields, model_inputs


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
        props = dict(
            label_field=field_chooser(
                inputs, "label_field", label_fields(ctx.dataset), d["label_field"],
                "Label field", "The labels to learn from; unlabeled samples are "
                "predicted. The field itself is never changed"),
            embeddings_field=field_chooser(
                inputs, "embeddings_field", vector_fields(ctx.dataset),
                d["embeddings_field"], "Embeddings field"))
        prediction = inputs.str("prediction_field", default=d["prediction_field"],
                                required=True, label="Prediction field")
        inputs.float("threshold", default=d["threshold"], min=0.01, max=1.0, required=True,
                     label="Confidence threshold",
                     description="Single-label: predict only when the top class reaches it; "
                                 "multi-label: every class that reaches it")
        inputs.bool("only_missing", default=d["only_missing"], label="Only unlabeled samples")
        model_inputs(inputs, d)
        inputs.bool("overwrite", default=d["overwrite"], label="Overwrite an existing field")

        if ctx.dataset is not None:
            o = engine_options(form_values(inputs, ctx.params), d)
            check_label_and_vectors(samples, o, props)
            flag(prediction, check_writable, samples, engine.PREDICT_STEP,
                 o["prediction_field"], fields=[o["prediction_field"]],
                 overwrite=o["overwrite"])
        return types.Property(inputs, view=types.View(label="Winnow: predict missing labels"))

    def execute(self, ctx):
        engine = _engine()
        options = engine_options(ctx.params, engine_defaults(engine.predict_labels))
        results = yield from run_engine(ctx, engine.predict_labels, "Predicting labels",
                                        samples=ctx.target_view(), **options)
        yield from summarize(ctx, str(results).splitlines()[0])

    def __call__(self, samples, delegate=False, **options):
        """Runs the operator from Python with ``winnow.predict_labels``'s options:
        ``foo.get_operator(uri)(dataset, ...)``."""
        return call_operator(self, samples, options,
                             engine_defaults(_engine().predict_labels), delegate)
