"""@winnow/curation/find_leaks: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from . import _filter_form as form
from ._common import (NONE, call_operator, vector_fields, check_writable, engine_defaults, engine_options,
                      flag, form_values, none_choice, operator_config, run_engine, summarize)

SPLIT_BY = [("field", "A field"), ("tags", "Sample tags")]


def _engine():
    from winnow.plugin import duplicates

    return duplicates


def _options(params, defaults):
    options = engine_options(params, defaults)
    options["embeddings_field"] = none_choice(options["embeddings_field"])
    # The form asks for one way of splitting; the other is None for the engine.
    if params.get("split_by", "field") == "tags":
        options["split_field"] = None
        options["split_tags"] = list(options["split_tags"] or [])
    else:
        options["split_tags"] = None
    return options


class FindLeaks(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "find_leaks", "Winnow: find leaks between splits",
            "Tag the samples outside the training split that are exact or near copies of a "
            "training sample, linked to it")

    def resolve_input(self, ctx):
        engine = _engine()
        d = engine_defaults(engine.find_leaks)
        inputs = types.Object()
        samples = ctx.target_view()

        by = types.RadioGroup(orientation="horizontal")
        for value, label in SPLIT_BY:
            by.add_choice(value, label=label)
        inputs.enum("split_by", by.values(), default="field", label="Splits are", view=by)
        props = {}
        if ctx.params.get("split_by", "field") == "tags":
            props["split"] = inputs.list("split_tags", types.String(), required=True,
                                         label="Split tags", description="One per sample")
        else:
            splits = types.DropdownView()
            for f in form.label_fields(ctx):
                splits.add_choice(f, label=f)
            props["split"] = inputs.enum("split_field", splits.values(), required=True,
                                         label="Split field", view=splits)
        inputs.str("train_split", default=d["train_split"], required=True,
                           label="Training split")
        vectors = types.DropdownView()
        vectors.add_choice(NONE, label="(none)")
        fields = vector_fields(ctx.dataset)
        for f in fields:
            vectors.add_choice(f, label=f)
        default_vectors = d["embeddings_field"] if d["embeddings_field"] in fields else NONE
        embeddings = inputs.enum("embeddings_field", vectors.values(), default=default_vectors,
                                 label="Near copies by the embeddings in", view=vectors)
        inputs.float("max_distance", default=d["max_distance"], required=False, min=0.0,
                     max=2.0, label="Largest cosine distance of a near copy",
                     description="Empty: %.2f (measured on JPEG re-encodes, see the docs)"
                                 % engine.DEFAULT_MAX_DISTANCE)
        inputs.bool("fingerprints", default=d["fingerprints"],
                    label="Near copies by fingerprint too",
                    description="Re-encodes and resizes (decodes every image at reduced size)")
        tag = inputs.str("tag", default=d["tag"], required=True, label="Tag")
        link = inputs.str("link_field", default=d["link_field"], required=True,
                          label="Link field", description="The training sample's id")
        inputs.str("distance_field", default=d["distance_field"], required=True,
                   label="Distance field")
        inputs.bool("overwrite", default=d["overwrite"],
                    label="Overwrite existing fields or tag")

        if ctx.dataset is not None:
            o = _options(form_values(inputs, ctx.params), d)
            if o["split_field"] is not None or o["split_tags"]:
                # One check of the splits (fields, tags, the training split among them).
                flag(props["split"], engine.read_splits, samples, split_field=o["split_field"],
                     split_tags=o["split_tags"], train_split=o["train_split"])
            if o["embeddings_field"] is not None:
                from winnow.plugin import inputs as checks

                flag(embeddings, checks.check_vector_field, samples.get_field_schema(),
                     o["embeddings_field"])
            flag(link, check_writable, samples, engine.LEAKS_STEP, o["link_field"],
                 fields=[o["link_field"], o["distance_field"]], overwrite=o["overwrite"])
            flag(tag, check_writable, samples, engine.LEAKS_STEP, o["link_field"],
                 tags=[o["tag"]], overwrite=o["overwrite"])
        return types.Property(inputs, view=types.View(label="Winnow: find leaks between splits"))

    def execute(self, ctx):
        engine = _engine()
        options = _options(ctx.params, engine_defaults(engine.find_leaks))
        results = yield from run_engine(ctx, engine.find_leaks, "Finding leaks",
                                        samples=ctx.target_view(), **options)
        yield from summarize(ctx, str(results).splitlines()[0])

    def __call__(self, samples, delegate=False, **options):
        """Runs the operator from Python with ``winnow.find_leaks``' options::

            foo.get_operator("@winnow/curation/find_leaks")(dataset, split_field="split")
        """
        return call_operator(self, samples, options, engine_defaults(_engine().find_leaks),
                             delegate,
                             split_by=lambda p: "tags" if p["split_tags"] else "field",
                             embeddings_field=lambda p: p["embeddings_field"] or NONE)

