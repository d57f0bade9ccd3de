"""@winnow/curation/find_redundant: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from . import _filter_form as form
from ._common import (call_operator, engine_defaults, engine_options, flag, form_values,
                      operator_config, run_engine, summarize)


def _engine():
    from winnow.plugin import redundancy

    return redundancy


def _options(params, defaults):
    return form.objects(form.reduction(engine_options(
        params, defaults, fraction=lambda p: form.percent(p, "redundant_percent"))))


class FindRedundant(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "find_redundant", "Winnow: find redundant images",
            "Tag near-copies in meaning and link each to the image kept (agglomerative "
            "clustering, cosine)")

    def resolve_input(self, ctx):
        engine = _engine()
        d = engine_defaults(engine.find_redundant)
        inputs = types.Object()
        samples = ctx.target_view()
        objects, patches = form.add_objects_choice(ctx, inputs)
        props = dict(patches_field=objects, embeddings_field=form.add_object_embeddings_choice(
            ctx, inputs, d["embeddings_field"], patches))
        fraction = form.add_percent(inputs, "redundant_percent", "% similar", d["fraction"],
                                    "floor(%% · N) %s get the tag"
                                    % ("objects" if patches else "samples"))
        inputs.float("max_distance", default=d["max_distance"], required=False, min=0.0,
                     max=2.0, label="Or: max cosine distance",
                     description="Only near-duplicates closer than this (e.g. 0.05); "
                                 "overrides the percentage")
        props["reduce"] = form.add_reduction(inputs, d, "every dimension (max distance stays "
                                                        "an embedding distance)")
        props["per_class"] = (form.add_object_per_class(
            inputs, d["per_class"], "Keep class proportions of",
            "Objects are clustered within their own label") if patches
            else form.add_per_class(ctx, inputs, d["per_class"]))
        tag = inputs.str("tag", default=d["tag"], required=True, label="Tag")
        inputs.bool("overwrite", default=d["overwrite"],
                    label="Overwrite existing fields or tag")

        if ctx.dataset is not None:
            o = _options(form_values(inputs, ctx.params), d)
            if o["max_distance"] is None and o["count"] is None:
                flag(fraction, form.check_fraction, o["fraction"], "% similar")
            pf = form.check_vectors_and_classes(samples, o, props)
            fields = [o["link_field"], o["distance_field"]]
            # The fields are not in the form: a clash is reported on the tag.
            if patches is None or pf is not None:
                flag(tag, form.check_outputs, samples, engine.STEP, pf, fields[0],
                     fields=fields, tags=[o["tag"]], overwrite=o["overwrite"])
        return types.Property(inputs, view=types.View(label="Winnow: find redundant images"))

    def execute(self, ctx):
        engine = _engine()
        options = _options(ctx.params, engine_defaults(engine.find_redundant))
        results = yield from run_engine(ctx, engine.find_redundant, "Clustering",
                                        samples=ctx.target_view(), **options)
        yield from summarize(ctx, str(results))

    def __call__(self, samples, delegate=False, **options):
        """Runs the operator from Python with ``winnow.find_redundant``'s options::

            foo.get_operator("@winnow/curation/find_redundant")(dataset, fraction=0.1)
        """
        return call_operator(self, samples, options,
                             engine_defaults(_engine().find_redundant), delegate,
                             redundant_percent=lambda p: 100.0 * p["fraction"])
