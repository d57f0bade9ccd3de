"""@winnow/curation/find_label_issues: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import run_engine, summarize, operator_config
from ._label_forms import field_chooser, label_fields, model_inputs, vector_fields

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
            "Flag likely wrong labels (bagged MLPs on embeddings + cleanlab)")

    def resolve_input(self, ctx):
        inputs = types.Object()
        ctx.target_view()
        field_chooser(inputs, "label_field", label_fields(ctx.dataset), "ground_truth",
                      "Label field", "A Classification (single-label) or Classifications "
                      "(multi-label) field; it is never changed")
        field_chooser(inputs, "embeddings_field", vector_fields(ctx.dataset), "embedding",
                      "Embeddings field")
        model_inputs(inputs)
        dropdown = types.DropdownView()
        for value, label in FILTER_CHOICES:
            dropdown.add_choice(value, label=label)
        inputs.enum("filter_by", dropdown.values(), default="prune_by_noise_rate",
                    required=True, label="cleanlab filter_by", view=dropdown)
        inputs.str("tag", default="label_issue", required=True, label="Issue tag",
                   description="Sample tag and label tag on flagged samples/labels")
        inputs.str("quality_field", default="label_quality", required=True,
                   label="Label quality field")
        inputs.str("suggestion_field", default="suggested_label", required=True,
                   label="Suggested label field")
        inputs.bool("overwrite", default=False, label="Overwrite existing fields")
        return types.Property(inputs, view=types.View(label="Winnow: find label issues"))

    def execute(self, ctx):
        from winnow.plugin.label_issues import find_label_issues

        p = ctx.params
        results = yield from run_engine(
            ctx,
            find_label_issues,
            "Finding label issues",
            samples=ctx.target_view(),
            label_field=p.get("label_field", "ground_truth"),
            embeddings_field=p.get("embeddings_field", "embedding"),
            classifier=p.get("classifier", "bagging-mlp"),
            n_estimators=int(p.get("n_estimators", 10)),
            max_samples=float(p.get("max_samples", 0.75)),
            filter_by=p.get("filter_by", "prune_by_noise_rate"),
            tag=p.get("tag", "label_issue"),
            quality_field=p.get("quality_field", "label_quality"),
            suggestion_field=p.get("suggestion_field", "suggested_label"),
            overwrite=bool(p.get("overwrite", False)),
        )
        yield from summarize(ctx, str(results).splitlines()[0])
        if not ctx.delegated and results.saved_view and results.num_issues:
            yield ctx.ops.set_view(name=results.saved_view)

    def __call__(self, samples, label_field="ground_truth", embeddings_field="embedding",
                 classifier="bagging-mlp", n_estimators=10, max_samples=0.75,
                 filter_by="prune_by_noise_rate", tag="label_issue",
                 quality_field="label_quality", suggestion_field="suggested_label",
                 overwrite=False, delegate=False):
        """Runs the operator from Python, the FiftyOne way::

            op = foo.get_operator("@winnow/curation/find_label_issues")
            op(dataset, label_field="ground_truth", delegate=True)
        """
        params = dict(label_field=label_field, embeddings_field=embeddings_field,
                      classifier=classifier, n_estimators=n_estimators,
                      max_samples=max_samples, filter_by=filter_by, tag=tag,
                      quality_field=quality_field, suggestion_field=suggestion_field,
                      overwrite=overwrite)
        return foo.execute_operator(self.uri, ctx=dict(view=samples.view(), params=params),
                                    request_delegation=delegate)
