"""@winnow/curation/extract_topics: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import (call_operator, check_writable, engine_defaults, engine_options, flag,
                      form_values, operator_config, run_engine, summarize)


def _engine():
    from winnow.plugin import topics

    return topics


class ExtractTopics(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "extract_topics", "Winnow: topics of pretrained tags",
            "Group images by co-occurring tags (NMF over the image × tag matrix)")

    def resolve_input(self, ctx):
        import fiftyone as fo

        d = engine_defaults(_engine().extract_topics)
        inputs = types.Object()
        samples = ctx.target_view()
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
        inputs.enum("tags_field", choices.values(),
                    default=d["tags_field"] if d["tags_field"] in fields else fields[0],
                    required=True, label="Tags field", view=choices)
        inputs.int("n_topics", default=d["n_topics"], min=1, max=500, required=True,
                   label="Topics")
        field = inputs.str("topic_field", default=d["topic_field"], required=True,
                           label="Topic field")
        inputs.bool("overwrite", default=d["overwrite"], label="Overwrite existing fields")

        o = engine_options(form_values(inputs, ctx.params), d)
        flag(field, check_writable, samples, _engine().STEP, o["topic_field"],
             fields=[o["topic_field"]], overwrite=o["overwrite"])
        return types.Property(inputs, view=types.View(label="Winnow: topics of pretrained tags"))

    def execute(self, ctx):
        engine = _engine()
        options = engine_options(ctx.params, engine_defaults(engine.extract_topics))
        results = yield from run_engine(ctx, engine.extract_topics, "Fitting topics",
                                        samples=ctx.target_view(), **options)
        yield from summarize(ctx, str(results).splitlines()[0])

    def __call__(self, samples, delegate=False, **options):
        """Runs the operator from Python with ``winnow.extract_topics``'s options::

            foo.get_operator("@winnow/curation/extract_topics")(dataset, n_topics=20)
        """
        return call_operator(self, samples, options,
                             engine_defaults(_engine().extract_topics), delegate)
