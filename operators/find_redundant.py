"""@winnow/curation/find_redundant: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from . import _filter_form as form
from ._common import run_engine, summarize, operator_config


class FindRedundant(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "find_redundant", "Winnow: find redundant images",
            "Tag near-copies in meaning and link each to the image kept (agglomerative "
            "clustering, cosine)")

    def resolve_input(self, ctx):
        inputs = types.Object()
        ctx.target_view()
        form.add_embeddings_choice(ctx, inputs)
        form.add_percent(inputs, "redundant_percent", "% similar", 5.0,
                         "floor(% · N) samples get the tag")
        inputs.float("max_distance", required=False, min=0.0, max=2.0,
                     label="Or: max cosine distance",
                     description="Only near-duplicates closer than this (e.g. 0.05); "
                                 "overrides the percentage")
        form.add_reduction(inputs, None)
        form.add_per_class(ctx, inputs)
        inputs.str("tag", default="redundant", required=True, label="Tag")
        inputs.bool("overwrite", default=False, label="Overwrite existing fields or tag")
        return types.Property(inputs, view=types.View(label="Winnow: find redundant images"))

    def execute(self, ctx):
        from winnow.plugin.redundancy import find_redundant

        p = ctx.params
        max_distance = p.get("max_distance")
        results = yield from run_engine(
            ctx, find_redundant, "Clustering",
            samples=ctx.target_view(),
            fraction=form.fraction(p, "redundant_percent", 5.0),
            max_distance=float(max_distance) if max_distance not in (None, "") else None,
            embeddings_field=p.get("embeddings_field", "embedding"),
            tag=p.get("tag", "redundant"),
            per_class=p.get("per_class") or None,
            overwrite=bool(p.get("overwrite", False)),
            **form.reduction_kwargs(p),
        )
        yield from summarize(ctx, str(results))

    def __call__(self, samples, fraction=0.05, max_distance=None,
                 embeddings_field="embedding", tag="redundant", n_components=None,
                 reduce="pca", per_class=None, overwrite=False, delegate=False):
        """Runs the operator from Python::

            foo.get_operator("@winnow/curation/find_redundant")(dataset, fraction=0.1)
        """
        params = dict(redundant_percent=100.0 * fraction, max_distance=max_distance,
                      embeddings_field=embeddings_field, tag=tag, n_components=n_components,
                      reduce=reduce or "none", per_class=per_class or "",
                      overwrite=overwrite)
        return foo.execute_operator(self.uri, ctx=dict(view=samples.view(), params=params),
                                    request_delegation=delegate)
