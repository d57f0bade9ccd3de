"""@winnow/curation/tag_with_pretrained: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import (MODEL_CHOICES, call_operator, check_writable, engine_defaults,
                      engine_options, flag, form_values, operator_config, run_engine, summarize)


def _engine():
    from winnow.plugin import tags

    return tags


class TagWithPretrained(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "tag_with_pretrained", "Winnow: tag with a pretrained network",
            "The top-k ImageNet classes of every image, with confidences")

    def resolve_input(self, ctx):
        d = engine_defaults(_engine().tag_with_pretrained)
        inputs = types.Object()
        samples = ctx.target_view()
        models = types.DropdownView()
        for value, label in MODEL_CHOICES:
            models.add_choice(value, label=label)
        inputs.enum("model", models.values(), default=d["model"], required=True,
                    label="Model", view=models)
        inputs.int("k", default=d["k"], min=1, max=50, required=True, label="Tags per image")
        field = inputs.str("tags_field", default=d["tags_field"], required=True,
                           label="Tags field")
        inputs.int("batch_size", default=d["batch_size"], min=1, required=True,
                   label="Batch size")
        inputs.bool("overwrite", default=d["overwrite"], label="Overwrite an existing field")

        if ctx.dataset is not None:
            o = engine_options(form_values(inputs, ctx.params), d)
            flag(field, check_writable, samples, _engine().STEP, o["tags_field"],
                 fields=[o["tags_field"]], overwrite=o["overwrite"])
        return types.Property(inputs, view=types.View(label="Winnow: tag with a pretrained "
                                                            "network"))

    def execute(self, ctx):
        engine = _engine()
        options = engine_options(ctx.params, engine_defaults(engine.tag_with_pretrained))
        results = yield from run_engine(ctx, engine.tag_with_pretrained, "Tagging images",
                                        samples=ctx.target_view(), **options)
        yield from summarize(ctx, str(results).splitlines()[0])

    def __call__(self, samples, delegate=False, **options):
        """Runs the operator from Python with ``winnow.tag_with_pretrained``'s options::

            foo.get_operator("@winnow/curation/tag_with_pretrained")(dataset, k=5)
        """
        return call_operator(self, samples, options,
                             engine_defaults(_engine().tag_with_pretrained), delegate)
