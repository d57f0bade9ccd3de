"""@winnow/curation/compute_embeddings: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import (MODEL_CHOICES, NONE, call_operator, check_writable, engine_defaults,
                      engine_options, flag, form_values, none_choice, operator_config,
                      run_engine, summarize)
from ._filter_form import add_objects_choice

VISUALIZATIONS = [NONE, "pca", "umap", "tsne"]


def _engine():
    from winnow.plugin import embeddings

    return embeddings


def _defaults():
    # In the App, embeddings are computed to browse them: build the similarity index
    # and the 2-D map unless asked not to (the engine's defaults skip both).
    return engine_defaults(_engine().compute_embeddings, similarity_index=True,
                           visualization="pca")


def _options(params, defaults):
    options = engine_options(params, defaults)
    options["visualization"] = none_choice(options["visualization"])
    options["patches_field"] = none_choice(options["patches_field"])
    return options


# Typed forms the model box suggests beside the named models (any name of the
# library works; the form checks it as the user types).
MODEL_PATTERNS = [
    ("timm:convnext_tiny", "timm:<name> (pip install \"fiftyone-winnow[timm]\")"),
    ("clip:ViT-B-32/openai", "clip:<arch>/<pretrained> (open_clip image tower; extra [clip])"),
    ("zoo:clip-vit-base32-torch", "zoo:<name> (FiftyOne model zoo, FiftyOne's own path)"),
]


def model_field(inputs, default):
    """The model box of the image steps' forms: a name with suggestions, typed
    forms allowed (torchvision names, timm:, clip:, zoo:)."""
    view = types.AutocompleteView()
    for value, label in MODEL_CHOICES + MODEL_PATTERNS:
        view.add_choice(value, label=label)
    return inputs.str("model", default=default, required=True, label="Model",
                      description="A torchvision name, timm:<name>, clip:<arch>/<pretrained> "
                                  "or zoo:<name>", view=view)


def check_model_field(prop, value):
    """Marks the model box invalid (unknown prefix or name, missing extra) as typed."""
    from winnow.plugin import models

    return flag(prop, models.check_model, value)


def _flag_objects(field, margin, samples, o):
    """The engine's checks of an objects run, shown on the form as typed."""
    from winnow.plugin import embeddings, inputs

    def check_attribute():
        embeddings.check_crop_options(o["embeddings_field"], 0.1, 1)
        pf = inputs.patches_field(samples, o["patches_field"])
        attr = o["embeddings_field"]
        check_writable(samples, embeddings.STEP, pf.path(attr), fields=[attr, attr + "_error"],
                       patches_field=pf, overwrite=o["overwrite"])

    flag(field, check_attribute)
    flag(margin, embeddings.check_crop_options, "embedding", o["crop_margin"], 1)


class ComputeEmbeddings(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "compute_embeddings", "Winnow: compute embeddings",
            "Embed every image, or every object of a detections field, with a "
            "pretrained network (any layer)")

    def resolve_input(self, ctx):
        d = _defaults()
        inputs = types.Object()
        samples = ctx.target_view()

        model = model_field(inputs, d["model"])
        # The steps' one "Run on: Samples / Objects of <field>" choice (shown when the
        # dataset has a Detections/Polylines field).
        _, patches = add_objects_choice(ctx, inputs)
        on_objects = patches is not None
        inputs.str("layer", default=d["layer"], required=False, label="Layer",
                   description="A submodule name (winnow.list_layers(model)); empty means "
                               "the pooled features before the classifier")
        field = inputs.str("embeddings_field", default=d["embeddings_field"], required=True,
                           label="Embeddings attribute" if on_objects else "Embeddings field",
                           description="Written on each object" if on_objects else None)
        if on_objects:
            margin = inputs.float(
                "crop_margin", default=d["crop_margin"], min=0.0, max=1.0, required=True,
                label="Crop margin",
                description="Context added around each box on every side, as a fraction of "
                            "its width and height")
            inputs.float("min_box_size", default=float(d["min_box_size"]), min=1.0,
                         required=True, label="Smallest box (px)",
                         description="Smaller boxes get a reason instead of a vector")
        inputs.int("batch_size", default=d["batch_size"], min=1, required=True,
                   label="Batch size")
        inputs.bool("similarity_index", default=d["similarity_index"],
                    label="Similarity index",
                    description="Build a FiftyOne Brain index for 'sort by similarity'")
        viz = types.RadioGroup(orientation="horizontal")
        for v in VISUALIZATIONS:
            viz.add_choice(v, label=v.upper() if v != NONE else "None")
        inputs.enum("visualization", viz.values(), default=d["visualization"] or NONE,
                    label="2-D map",
                    description="A FiftyOne Brain visualization for the Embeddings panel",
                    view=viz)
        if not on_objects:  # image issues are scored on whole images only
            issues = inputs.bool(
                "image_issues", default=d["image_issues"], label="Also find image issues",
                description="Dark, light, blurry, low-information, odd size/shape, "
                            "grayscale: scored in the same decoding pass (as "
                            "find_image_issues, default thresholds)")
        inputs.bool("overwrite", default=d["overwrite"], label="Overwrite an existing field")

        check_model_field(model, form_values(inputs, ctx.params)["model"])
        if ctx.dataset is not None:
            o = _options(form_values(inputs, ctx.params), d)
            if on_objects:
                _flag_objects(field, margin, samples, o)
            else:
                flag(field, check_writable, samples, _engine().STEP, o["embeddings_field"],
                     fields=[o["embeddings_field"]], overwrite=o["overwrite"])
            if o["image_issues"] and not on_objects:
                from winnow.plugin import image_issues

                fields = list(image_issues.score_fields().values())
                flag(issues, check_writable, samples, image_issues.STEP, fields[0],
                     fields=fields, tags=list(image_issues.KINDS),
                     saved_views=[image_issues.view_name(k) for k in image_issues.KINDS],
                     overwrite=o["overwrite"])
        return types.Property(inputs, view=types.View(label="Winnow: compute embeddings"))

    def execute(self, ctx):
        engine = _engine()
        options = _options(ctx.params, _defaults())
        if options["patches_field"] is not None:
            options["image_issues"] = False  # hidden on objects; a stale True must not refuse
        results = yield from run_engine(ctx, engine.compute_embeddings, "Embedding images",
                                        samples=ctx.target_view(), **options)
        yield from summarize(ctx, str(results).splitlines()[0])

    def __call__(self, samples, delegate=False, **options):
        """Runs the operator from Python with ``winnow.compute_embeddings``'s options
        (the similarity index and 2-D map are built unless turned off)::

            op = foo.get_operator("@winnow/curation/compute_embeddings")
            op(dataset.take(100), model="resnet18", delegate=True)
        """
        return call_operator(self, samples, options, _defaults(), delegate)
