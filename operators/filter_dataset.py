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
    return form.objects(form.reduction(engine_options(
        params, defaults, outliers=lambda p: form.percent(p, "outliers_percent"),
        redundant=lambda p: form.percent(p, "redundant_percent"))))


def _check_outputs(samples, engine, pf, o, prefix, out_pct, red_pct):
    """The engine's checks of the saved views and of each step's fields and tags (on the
    objects of ``pf`` when given)."""
    from winnow.plugin import outliers, redundancy, runs

    if pf is None:
        flag(prefix, check_writable, samples, engine.STEP, o["view_prefix"],
             saved_views=list(engine.saved_view_names(o["view_prefix"]).values()),
             overwrite=o["overwrite"])
    else:
        flag(prefix, form.check_outputs, samples, engine.STEP, None, None,
             saved_views=list(engine.saved_view_names(
                 "%s-%s" % (o["view_prefix"], pf.name)).values()),
             overwrite=o["overwrite"],
             key=runs.run_key(engine.STEP, "%s_%s" % (o["view_prefix"], pf.name)))
    # Each step's fields and tags are not in the form: a clash is reported on the
    # step's share.
    if o["outliers"]:
        flag(out_pct, form.check_outputs, samples, outliers.STEP, pf, o["score_field"],
             fields=[o["score_field"]], tags=[o["outlier_tag"]], overwrite=o["overwrite"])
    if o["redundant"]:
        fields = [o["link_field"], o["distance_field"]]
        flag(red_pct, form.check_outputs, samples, redundancy.STEP, pf, fields[0],
             fields=fields, tags=[o["redundant_tag"]], overwrite=o["overwrite"])


class FilterDataset(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "filter_dataset", "Winnow: filter the dataset",
            "Tag outliers, then redundant images, and save the views kept / outliers / "
            "redundant (nothing is deleted)")

    def resolve_input(self, ctx):
        from winnow.plugin import outliers

        engine = _engine()
        d = engine_defaults(engine.filter_dataset)
        inputs = types.Object()
        samples = ctx.target_view()
        objects, patches = form.add_objects_choice(ctx, inputs)
        props = dict(patches_field=objects, embeddings_field=form.add_object_embeddings_choice(
            ctx, inputs, d["embeddings_field"], patches))
        # 0 % skips that step.
        out_pct = form.add_percent(inputs, "outliers_percent", "% outliers", d["outliers"])
        red_pct = form.add_percent(inputs, "redundant_percent", "% similar", d["redundant"])
        props["reduce"] = form.add_reduction(inputs, d, "%d" % outliers.DEFAULT_COMPONENTS)
        props["per_class"] = (form.add_object_per_class(
            inputs, d["per_class"], "Keep class proportions of",
            "Each object label loses the same share") if patches
            else form.add_per_class(ctx, inputs, d["per_class"]))
        where = "<prefix>-%s-" % patches if patches else "<prefix>-"
        prefix = inputs.str("view_prefix", default=d["view_prefix"], required=True,
                            label="Saved views prefix",
                            description="Saves %skept, %soutliers, %sredundant"
                                        % (where, where, where))
        inputs.bool("overwrite", default=d["overwrite"],
                    label="Overwrite existing fields, tags, views")

        if ctx.dataset is not None:
            o = _options(form_values(inputs, ctx.params), d)
            pf = form.check_vectors_and_classes(samples, o, props)
            # Each share in range, and together they must leave something kept.
            if flag(out_pct, engine.check_share, o["outliers"], "outliers"):
                flag(red_pct, engine.check_shares, o["outliers"], o["redundant"])
            if patches is None or pf is not None:
                _check_outputs(samples, engine, pf, o, prefix, out_pct, red_pct)
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
