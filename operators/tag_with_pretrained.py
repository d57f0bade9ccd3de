"""@winnow/curation/tag_with_pretrained: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import MODEL_CHOICES, run_engine, summarize, operator_config


class TagWithPretrained(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "tag_with_pretrained", "Winnow: tag with a pretrained network",
            "The top-k ImageNet classes of every image, with confidences")

    def resolve_input(self, ctx):
        inputs = types.Object()
        ctx.target_view()
        models = types.DropdownView()
        for value, label in MODEL_CHOICES:
            models.add_choice(value, label=label)
        inputs.enum("model", models.values(), default=MODEL_CHOICES[0][0], required=True,
                    label="Model", view=models)
        inputs.int("k", default=5, min=1, max=50, required=True, label="Tags per image")
        inputs.str("tags_field", default="pretrained_tags", required=True, label="Tags field")
        inputs.int("batch_size", default=32, min=1, required=True, label="Batch size")
        inputs.bool("overwrite", default=False, label="Overwrite an existing field")
        return types.Property(inputs, view=types.View(label="Winnow: tag with a pretrained "
                                                            "network"))

    def execute(self, ctx):
        from winnow.plugin.tags import tag_with_pretrained

        p = ctx.params
        results = yield from run_engine(
            ctx,
            tag_with_pretrained,
            "Tagging images",
            samples=ctx.target_view(),
            model=p.get("model", MODEL_CHOICES[0][0]),
            k=int(p.get("k", 5)),
            tags_field=p.get("tags_field", "pretrained_tags"),
            batch_size=int(p.get("batch_size", 32)),
            overwrite=bool(p.get("overwrite", False)),
        )
        yield from summarize(ctx, str(results).splitlines()[0])

    def __call__(self, samples, model="efficientnet-lite0", k=5, tags_field="pretrained_tags",
                 batch_size=32, overwrite=False, delegate=False):
        """Runs the operator from Python::

            foo.get_operator("@winnow/curation/tag_with_pretrained")(dataset, k=5)
        """
        params = dict(model=model, k=k, tags_field=tags_field, batch_size=batch_size,
                      overwrite=overwrite)
        return foo.execute_operator(self.uri, ctx=dict(view=samples.view(), params=params),
                                    request_delegation=delegate)
