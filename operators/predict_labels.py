"""@winnow/curation/predict_labels: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import run_engine, summarize, operator_config
from ._label_forms import field_chooser, label_fields, model_inputs, vector_fields


class PredictLabels(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "predict_labels", "Winnow: predict missing labels",
            "Label the unlabeled samples from the labeled ones (bagged MLPs)")

    def resolve_input(self, ctx):
        inputs = types.Object()
        ctx.target_view()
        field_chooser(inputs, "label_field", label_fields(ctx.dataset), "ground_truth",
                      "Label field", "The labels to learn from; unlabeled samples are "
                      "predicted. The field itself is never changed")
        field_chooser(inputs, "embeddings_field", vector_fields(ctx.dataset), "embedding",
                      "Embeddings field")
        inputs.str("prediction_field", default="predicted_label", required=True,
                   label="Prediction field")
        inputs.float("threshold", default=0.4, min=0.01, max=1.0, required=True,
                     label="Confidence threshold",
                     description="Single-label: predict only when the top class reaches it; "
                                 "multi-label: every class that reaches it")
        inputs.bool("only_missing", default=True, label="Only unlabeled samples")
        model_inputs(inputs)
        inputs.bool("overwrite", default=False, label="Overwrite an existing field")
        return types.Property(inputs, view=types.View(label="Winnow: predict missing labels"))

    def execute(self, ctx):
        from winnow.plugin.label_issues import predict_labels

        p = ctx.params
        results = yield from run_engine(
            ctx,
            predict_labels,
            "Predicting labels",
            samples=ctx.target_view(),
            label_field=p.get("label_field", "ground_truth"),
            embeddings_field=p.get("embeddings_field", "embedding"),
            prediction_field=p.get("prediction_field", "predicted_label"),
            threshold=float(p.get("threshold", 0.4)),
            only_missing=bool(p.get("only_missing", True)),
            classifier=p.get("classifier", "bagging-mlp"),
            n_estimators=int(p.get("n_estimators", 10)),
            max_samples=float(p.get("max_samples", 0.75)),
            overwrite=bool(p.get("overwrite", False)),
        )
        yield from summarize(ctx, str(results).splitlines()[0])

    def __call__(self, samples, label_field="ground_truth", embeddings_field="embedding",
                 prediction_field="predicted_label", threshold=0.4, only_missing=True,
                 classifier="bagging-mlp", n_estimators=10, max_samples=0.75,
                 overwrite=False, delegate=False):
        """Runs the operator from Python: ``foo.get_operator(uri)(dataset, ...)``."""
        params = dict(label_field=label_field, embeddings_field=embeddings_field,
                      prediction_field=prediction_field, threshold=threshold,
                      only_missing=only_missing, classifier=classifier,
                      n_estimators=n_estimators, max_samples=max_samples, overwrite=overwrite)
        return foo.execute_operator(self.uri, ctx=dict(view=samples.view(), params=params),
                                    request_delegation=delegate)
