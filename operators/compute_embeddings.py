"""@winnow/curation/compute_embeddings: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import MODEL_CHOICES, run_engine, summarize, operator_config

VISUALIZATIONS = ["none", "pca", "umap", "tsne"]


class ComputeEmbeddings(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "compute_embeddings", "Winnow: compute embeddings",
            "Embed every image with a pretrained network (any layer)")

    def resolve_input(self, ctx):
        inputs = types.Object()
        ctx.target_view()

        models = types.DropdownView()
        for value, label in MODEL_CHOICES:
            models.add_choice(value, label=label)
        inputs.enum("model", models.values(), default=MODEL_CHOICES[0][0], required=True,
                    label="Model", view=models)
        inputs.str("layer", required=False, label="Layer",
                   description="A submodule name (winnow.list_layers(model)); empty means "
                               "the pooled features before the classifier")
        inputs.str("embeddings_field", default="embedding", required=True,
                   label="Embeddings field")
        inputs.int("batch_size", default=32, min=1, required=True, label="Batch size")
        inputs.bool("similarity_index", default=True, label="Similarity index",
                    description="Build a FiftyOne Brain index for 'sort by similarity'")
        viz = types.RadioGroup(orientation="horizontal")
        for v in VISUALIZATIONS:
            viz.add_choice(v, label=v.upper() if v != "none" else "None")
        inputs.enum("visualization", viz.values(), default="pca", label="2-D map",
                    description="A FiftyOne Brain visualization for the Embeddings panel",
                    view=viz)
        inputs.bool("overwrite", default=False, label="Overwrite an existing field")
        return types.Property(inputs, view=types.View(label="Winnow: compute embeddings"))

    def execute(self, ctx):
        from winnow.plugin.embeddings import compute_embeddings

        p = ctx.params
        visualization = p.get("visualization", "pca")
        results = yield from run_engine(
            ctx,
            compute_embeddings,
            "Embedding images",
            samples=ctx.target_view(),
            model=p.get("model", MODEL_CHOICES[0][0]),
            layer=p.get("layer") or None,
            embeddings_field=p.get("embeddings_field", "embedding"),
            batch_size=int(p.get("batch_size", 32)),
            similarity_index=bool(p.get("similarity_index", True)),
            visualization=None if visualization in (None, "none") else visualization,
            overwrite=bool(p.get("overwrite", False)),
        )
        yield from summarize(ctx, str(results).splitlines()[0])

    def __call__(self, samples, model="efficientnet-lite0", layer=None,
                 embeddings_field="embedding", batch_size=32, similarity_index=True,
                 visualization="pca", overwrite=False, delegate=False):
        """Runs the operator from Python, the FiftyOne way::

            op = foo.get_operator("@winnow/curation/compute_embeddings")
            op(dataset.take(100), model="resnet18", delegate=True)
        """
        params = dict(model=model, layer=layer, embeddings_field=embeddings_field,
                      batch_size=batch_size, similarity_index=similarity_index,
                      visualization=visualization or "none", overwrite=overwrite)
        return foo.execute_operator(self.uri, ctx=dict(view=samples.view(), params=params),
                                    request_delegation=delegate)
