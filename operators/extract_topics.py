"""@winnow/curation/extract_topics: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import run_engine, summarize, operator_config


class ExtractTopics(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "extract_topics", "Winnow: topics of pretrained tags",
            "Group images by co-occurring tags (NMF over the image × tag matrix)")

    def resolve_input(self, ctx):
        import fiftyone as fo

        inputs = types.Object()
        ctx.target_view()
        fields = []
        if ctx.dataset is not None:
            fields = sorted(ctx.dataset.get_field_schema(embedded_doc_type=fo.Classifications))
        if not fields:
            inputs.view("no_tags", types.Warning(
                label="No tags yet",
                description="Run 'Winnow: tag with a pretrained network' first"))
            return types.Property(inputs)
        choices = types.DropdownView()
        for f in fields:
            choices.add_choice(f, label=f)
        default = "pretrained_tags" if "pretrained_tags" in fields else fields[0]
        inputs.enum("tags_field", choices.values(), default=default, required=True,
                    label="Tags field", view=choices)
        inputs.int("n_topics", default=30, min=1, max=500, required=True, label="Topics")
        inputs.str("topic_field", default="topic", required=True, label="Topic field")
        inputs.bool("overwrite", default=False, label="Overwrite existing fields")
        return types.Property(inputs, view=types.View(label="Winnow: topics of pretrained tags"))

    def execute(self, ctx):
        from winnow.plugin.topics import extract_topics

        p = ctx.params
        results = yield from run_engine(
            ctx,
            extract_topics,
            "Fitting topics",
            samples=ctx.target_view(),
            tags_field=p.get("tags_field", "pretrained_tags"),
            n_topics=int(p.get("n_topics", 30)),
            topic_field=p.get("topic_field", "topic"),
            overwrite=bool(p.get("overwrite", False)),
        )
        yield from summarize(ctx, str(results).splitlines()[0])

    def __call__(self, samples, tags_field="pretrained_tags", n_topics=30, topic_field="topic",
                 overwrite=False, delegate=False):
        """Runs the operator from Python::

            foo.get_operator("@winnow/curation/extract_topics")(dataset, n_topics=20)
        """
        params = dict(tags_field=tags_field, n_topics=n_topics, topic_field=topic_field,
                      overwrite=overwrite)
        return foo.execute_operator(self.uri, ctx=dict(view=samples.view(), params=params),
                                    request_delegation=delegate)
