"""@winnow/curation/filter_dataset: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from . import _filter_form as form
from ._common import run_engine, summarize, operator_config


class FilterDataset(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "filter_dataset", "Winnow: filter the dataset",
            "Tag outliers, then redundant images, and save the views kept / outliers / "
            "redundant (nothing is deleted)")

    def resolve_input(self, ctx):
        inputs = types.Object()
        ctx.target_view()
        form.add_embeddings_choice(ctx, inputs)
        form.add_percent(inputs, "outliers_percent", "% outliers", 5.0)
        form.add_percent(inputs, "redundant_percent", "% similar", 5.0)
        form.add_reduction(inputs, 32)
        form.add_per_class(ctx, inputs)
        inputs.str("view_prefix", default="winnow", required=True, label="Saved views prefix",
                   description="Saves <prefix>-kept, <prefix>-outliers, <prefix>-redundant")
        inputs.bool("overwrite", default=False, label="Overwrite existing fields, tags, views")
        return types.Property(inputs, view=types.View(label="Winnow: filter the dataset"))

    def execute(self, ctx):
        from winnow.plugin.filtering import filter_dataset

        p = ctx.params
        results = yield from run_engine(
            ctx, filter_dataset, "Filtering",
            samples=ctx.target_view(),
            outliers=form.fraction(p, "outliers_percent", 5.0),
            redundant=form.fraction(p, "redundant_percent", 5.0),
            embeddings_field=p.get("embeddings_field", "embedding"),
            per_class=p.get("per_class") or None,
            view_prefix=p.get("view_prefix", "winnow"),
            overwrite=bool(p.get("overwrite", False)),
            **form.reduction_kwargs(p),
        )
        yield from summarize(ctx, str(results).splitlines()[0])

    def __call__(self, samples, outliers=0.05, redundant=0.05, embeddings_field="embedding",
                 n_components=None, reduce="pca", per_class=None, view_prefix="winnow",
                 overwrite=False, delegate=False):
        """Runs the operator from Python::

            foo.get_operator("@winnow/curation/filter_dataset")(dataset, outliers=0.05)
        """
        params = dict(outliers_percent=100.0 * outliers, redundant_percent=100.0 * redundant,
                      embeddings_field=embeddings_field, n_components=n_components,
                      reduce=reduce or "none", per_class=per_class or "",
                      view_prefix=view_prefix, overwrite=overwrite)
        return foo.execute_operator(self.uri, ctx=dict(view=samples.view(), params=params),
                                    request_delegation=delegate)
