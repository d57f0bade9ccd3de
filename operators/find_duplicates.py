"""@winnow/curation/find_duplicates: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import (call_operator, check_writable, engine_defaults, engine_options, flag,
                      form_values, operator_config, run_engine, summarize)


def _engine():
    from winnow.plugin import duplicates

    return duplicates


class FindDuplicates(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "find_duplicates", "Winnow: find duplicates",
            "Tag the images whose file bytes or decoded pixels equal an earlier image's "
            "(and, if asked, their re-encodes and resizes), linked to the one kept")

    def resolve_input(self, ctx):
        engine = _engine()
        d = engine_defaults(engine.find_duplicates)
        inputs = types.Object()
        samples = ctx.target_view()
        tag = inputs.str("tag", default=d["tag"], required=True, label="Tag")
        link = inputs.str("link_field", default=d["link_field"], required=True,
                          label="Link field", description="The kept sample's id")
        hashes = inputs.str("hash_field", default=d["hash_field"], required=True,
                            label="Content hash field",
                            description="Reused by re-runs and by find_leaks")
        inputs.bool("near_copies", default=d["near_copies"], label="Also find near copies",
                    description="Re-encodes and resizes, by each image's fingerprint "
                                "(decodes every image at reduced size)")
        near_tag = None
        if ctx.params.get("near_copies", d["near_copies"]):
            near_tag = inputs.str("near_tag", default=d["near_tag"], required=True,
                                  label="Near-copy tag")
            inputs.float("max_fingerprint_distance",
                         default=engine.DEFAULT_FINGERPRINT_DISTANCE,
                         label="Max fingerprint distance",
                         description="Cosine distance of fingerprints; the default was "
                                     "measured on photos and Fashion-MNIST")
        inputs.bool("recompute", default=d["recompute"], label="Hash the files again",
                    description="When files changed on disk since the last run")
        inputs.bool("overwrite", default=d["overwrite"],
                    label="Overwrite existing fields or tag")
        inputs.view("crops", types.Notice(
            label="Crops and edits that keep the meaning are not copies here: find them "
                  "with find_redundant (a max distance), or across splits with find_leaks"))

        if ctx.dataset is not None:
            o = engine_options(form_values(inputs, ctx.params), d)
            fields = [o["link_field"], o["hash_field"], o["hash_field"] + "_error"]
            if flag(link, check_writable, samples, engine.DUPLICATES_STEP, o["link_field"],
                    fields=fields[:1], overwrite=o["overwrite"]):
                flag(hashes, check_writable, samples, engine.DUPLICATES_STEP,
                     o["link_field"], fields=fields[1:], overwrite=o["overwrite"])
            tags = [o["tag"], o["near_tag"]]
            if o["near_tag"] == o["tag"] and near_tag is not None:
                near_tag.invalid = True
                near_tag.error_message = "The near-copy tag must differ from the tag"
            flag(near_tag if near_tag is not None else tag, check_writable, samples,
                 engine.DUPLICATES_STEP, o["link_field"], tags=tags, overwrite=o["overwrite"])
        return types.Property(inputs, view=types.View(label="Winnow: find duplicates"))

    def execute(self, ctx):
        engine = _engine()
        options = engine_options(ctx.params, engine_defaults(engine.find_duplicates))
        results = yield from run_engine(ctx, engine.find_duplicates, "Hashing images",
                                        samples=ctx.target_view(), **options)
        yield from summarize(ctx, str(results).splitlines()[0])

    def __call__(self, samples, delegate=False, **options):
        """Runs the operator from Python with ``winnow.find_duplicates``' options::

            foo.get_operator("@winnow/curation/find_duplicates")(dataset)
        """
        return call_operator(self, samples, options,
                             engine_defaults(_engine().find_duplicates), delegate)
