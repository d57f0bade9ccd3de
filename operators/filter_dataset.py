"""@winnow/curation/filter_dataset: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from . import _filter_form as form
from ._common import (call_operator, check_writable, engine_defaults, engine_options, flag,
                      form_values, operator_config, run_engine, summarize)


def _engine():
    from winnow.plugin import filtering

    return filtering


def _options(params, defaults):
    return form.reduction(engine_options(
        params, defaults, outliers=lambda p: form.percent(p, "outliers_percent"),
        redundant=lambda p: form.percent(p, "redundant_percent")))


class FilterDataset(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "filter_dataset", "Winnow: filter the dataset",
            "Tag outliers, then redundant images, and save the views kept / outliers / "
            "redundant (nothing is deleted)")

    def resolve_input(self, ctx):
        from winnow.plugin import outliers, redundancy

        engine = _engine()
        d = engine_defaults(engine.filter_dataset)
        inputs = types.Object()
        samples = ctx.target_view()
        props = dict(embeddings_field=form.add_embeddings_choice(ctx, inputs,
                                                                 d["embeddings_field"]))
        # 0 % skips that step.
        out_pct = form.add_percent(inputs, "outliers_percent", "% outliers", d["outliers"])
        red_pct = form.add_percent(inputs, "redundant_percent", "% similar", d["redundant"])
        props["reduce"] = form.add_reduction(inputs, d, "%d" % outliers.DEFAULT_COMPONENTS)
        props["per_class"] = form.add_per_class(ctx, inputs, d["per_class"])
        prefix = inputs.str("view_prefix", default=d["view_prefix"], required=True,
                            label="Saved views prefix",
                            description="Saves <prefix>-kept, <prefix>-outliers, "
                                        "<prefix>-redundant")
        inputs.bool("overwrite", default=d["overwrite"],
                    label="Overwrite existing fields, tags, views")

        if ctx.dataset is not None:
            o = _options(form_values(inputs, ctx.params), d)
            form.check_vectors_and_classes(samples, o, props)
            # Each share in range, and together they must leave something kept.
            if flag(out_pct, engine.check_share, o["outliers"], "outliers"):
                flag(red_pct, engine.check_shares, o["outliers"], o["redundant"])
            flag(prefix, check_writable, samples, engine.STEP, o["view_prefix"],
                 saved_views=list(engine.saved_view_names(o["view_prefix"]).values()),
                 overwrite=o["overwrite"])
            # Each step's fields and tags are not in the form: a clash is reported on
            # the step's share.
            if o["outliers"]:
                flag(out_pct, check_writable, samples, outliers.STEP, o["score_field"],
                     fields=[o["score_field"]], tags=[o["outlier_tag"]],
                     overwrite=o["overwrite"])
            if o["redundant"]:
                fields = [o["link_field"], o["distance_field"]]
                flag(red_pct, check_writable, samples, redundancy.STEP, fields[0],
                     fields=fields, tags=[o["redundant_tag"]], overwrite=o["overwrite"])
        return types.Property(inputs, view=types.View(label="Winnow: filter the dataset"))

    def execute(self, ctx):
        engine = _engine()
        options = _options(ctx.params, engine_defaults(engine.filter_dataset))
        results = yield from run_engine(ctx, engine.filter_dataset, "Filtering",
                                        samples=ctx.target_view(), **options)
        yield from summarize(ctx, str(results).splitlines()[0])

    def __call__(self, samples, delegate=False, **options):
        """Runs the operator from Python with ``winnow.filter_dataset``'s options::

            foo.get_operator("@winnow/curation/filter_dataset")(dataset, outliers=0.05)
        """
        return call_operator(self, samples, options,
                             engine_defaults(_engine().filter_dataset), delegate,
                             outliers_percent=lambda p: 100.0 * (p["outliers"] or 0),
                             redundant_percent=lambda p: 100.0 * (p["redundant"] or 0))
