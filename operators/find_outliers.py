"""@winnow/curation/find_outliers: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from . import _filter_form as form
from ._common import run_engine, summarize, operator_config


class FindOutliers(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "find_outliers", "Winnow: find outliers",
            "Tag the images least like the rest (HDBSCAN / GLOSH on embeddings)")

    def resolve_input(self, ctx):
        inputs = types.Object()
        ctx.target_view()
        form.add_embeddings_choice(ctx, inputs)
        form.add_percent(inputs, "outliers_percent", "% outliers", 5.0,
                         "ceil(% · N) samples get the tag")
        form.add_reduction(inputs, 32)
        form.add_per_class(ctx, inputs)
        inputs.str("score_field", default="outlier_score", required=True, label="Score field")
        inputs.str("tag", default="outlier", required=True, label="Tag")
        inputs.bool("overwrite", default=False, label="Overwrite an existing field or tag")
        return types.Property(inputs, view=types.View(label="Winnow: find outliers"))

    def execute(self, ctx):
        from winnow.plugin.outliers import find_outliers

        p = ctx.params
        results = yield from run_engine(
            ctx, find_outliers, "Scoring outliers",
            samples=ctx.target_view(),
            fraction=form.fraction(p, "outliers_percent", 5.0),
            embeddings_field=p.get("embeddings_field", "embedding"),
            score_field=p.get("score_field", "outlier_score"),
            tag=p.get("tag", "outlier"),
            per_class=p.get("per_class") or None,
            overwrite=bool(p.get("overwrite", False)),
            **form.reduction_kwargs(p),
        )
        yield from summarize(ctx, str(results))

    def __call__(self, samples, fraction=0.05, embeddings_field="embedding",
                 score_field="outlier_score", tag="outlier", n_components=None,
                 reduce="pca", per_class=None, overwrite=False, delegate=False):
        """Runs the operator from Python::

            foo.get_operator("@winnow/curation/find_outliers")(dataset, fraction=0.05)
        """
        params = dict(outliers_percent=100.0 * fraction, embeddings_field=embeddings_field,
                      score_field=score_field, tag=tag, n_components=n_components,
                      reduce=reduce or "none", per_class=per_class or "",
                      overwrite=overwrite)
        return foo.execute_operator(self.uri, ctx=dict(view=samples.view(), params=params),
                                    request_delegation=delegate)
