"""@winnow/curation/find_outliers: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from . import _filter_form as form
from ._common import (call_operator, engine_defaults, engine_options, flag, form_values,
                      operator_config, run_engine, summarize)


def _engine():
    from winnow.plugin import outliers

    return outliers


def _options(params, defaults):
    return form.objects(form.reduction(engine_options(
        params, defaults, fraction=lambda p: form.percent(p, "outliers_percent"))))


class FindOutliers(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "find_outliers", "Winnow: find outliers",
            "Tag the images least like the rest (HDBSCAN / GLOSH on embeddings)")

    def resolve_input(self, ctx):
        engine = _engine()
        d = engine_defaults(engine.find_outliers)
        inputs = types.Object()
        samples = ctx.target_view()
        objects, patches = form.add_objects_choice(ctx, inputs)
        props = dict(patches_field=objects, embeddings_field=form.add_object_embeddings_choice(
            ctx, inputs, d["embeddings_field"], patches))
        fraction = form.add_percent(inputs, "outliers_percent", "% outliers", d["fraction"],
                                    "ceil(%% · N) %s get the tag"
                                    % ("objects" if patches else "samples"))
        props["reduce"] = form.add_reduction(inputs, d, "%d" % engine.DEFAULT_COMPONENTS)
        props["per_class"] = (form.add_object_per_class(
            inputs, d["per_class"], "Score each class of",
            "Each object label scored on its own, keeping its proportion")
            if patches else form.add_per_class(ctx, inputs, d["per_class"]))
        score = inputs.str("score_field", default=d["score_field"], required=True,
                           label="Score field")
        tag = inputs.str("tag", default=d["tag"], required=True, label="Tag")
        inputs.bool("overwrite", default=d["overwrite"],
                    label="Overwrite an existing field or tag")

        if ctx.dataset is not None:
            o = _options(form_values(inputs, ctx.params), d)
            if o["count"] is None:
                flag(fraction, form.check_fraction, o["fraction"], "% outliers")
            pf = form.check_vectors_and_classes(samples, o, props)
            if patches is None or pf is not None:
                flag(score, form.check_outputs, samples, engine.STEP, pf, o["score_field"],
                     fields=[o["score_field"]], overwrite=o["overwrite"])
                flag(tag, form.check_outputs, samples, engine.STEP, pf, o["score_field"],
                     tags=[o["tag"]], overwrite=o["overwrite"])
        return types.Property(inputs, view=types.View(label="Winnow: find outliers"))

    def execute(self, ctx):
        engine = _engine()
        options = _options(ctx.params, engine_defaults(engine.find_outliers))
        results = yield from run_engine(ctx, engine.find_outliers, "Scoring outliers",
                                        samples=ctx.target_view(), **options)
        yield from summarize(ctx, str(results))

    def __call__(self, samples, delegate=False, **options):
        """Runs the operator from Python with ``winnow.find_outliers``'s options::

            foo.get_operator("@winnow/curation/find_outliers")(dataset, fraction=0.05)
        """
        return call_operator(self, samples, options, engine_defaults(_engine().find_outliers),
                             delegate, outliers_percent=lambda p: 100.0 * p["fraction"])
