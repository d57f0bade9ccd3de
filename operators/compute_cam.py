"""@winnow/curation/compute_cam: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import (call_operator, check_writable, engine_defaults,
                      engine_options, flag, form_values, operator_config, run_engine, summarize)
from .compute_embeddings import check_model_field, model_field

# The engine's methods in its order; the gradient ones run without a backward pass at the
# default layer of a pooling + linear head (benchmarks/cam.py: faithfulness and cost).
METHODS = [("cam", "CAM"), ("gradcam", "Grad-CAM"), ("gradcam++", "Grad-CAM++"),
           ("hirescam", "HiResCAM"), ("layercam", "LayerCAM"), ("xgradcam", "XGrad-CAM"),
           ("eigencam", "Eigen-CAM (class-agnostic)")]
BOX_MODES = [("largest", "Largest region"), ("all", "Every region")]


def _engine():
    from winnow.plugin import cam

    return cam


def _options(params, defaults):
    options = engine_options(params, defaults)
    options.update(target=_target(options["target"]), scales=_scales(options["scales"]))
    return options


class ComputeCam(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "compute_cam", "Winnow: class activation maps",
            "Heatmap of the pixels behind a class, the prediction, and boxes from the heatmap")

    def resolve_input(self, ctx):
        d = engine_defaults(_engine().compute_cam)
        inputs = types.Object()
        samples = ctx.target_view()

        model = model_field(inputs, d["model"])
        methods = types.DropdownView()
        for value, label in METHODS:
            methods.add_choice(value, label=label)
        inputs.enum("method", methods.values(), default=d["method"], label="Method",
                    description="Grad-CAM family: any model and conv layer; CAM needs global "
                                "pooling + one linear layer", view=methods)
        inputs.str("layer", default=d["layer"], required=False, label="Layer",
                   description="A conv layer or transformer block (winnow.list_layers(model)); "
                               "empty means the last conv maps (the input of the global "
                               "pooling), or a ViT's last block")

        targets = types.AutocompleteView()
        targets.add_choice("predicted", label="predicted class")
        for name in _classification_fields(ctx):
            targets.add_choice(name, label="label field: %s" % name)
        inputs.str("target", default=str(d["target"]), required=True,
                   label="Class to explain",
                   description="'predicted', a label field (explain the ground truth), an "
                               "ImageNet class name or index", view=targets)

        heatmap = inputs.str("heatmap_field", default=d["heatmap_field"], required=True,
                             label="Heatmap field")
        prediction = inputs.str("prediction_field", default=d["prediction_field"],
                                required=False, label="Prediction field",
                                description="Empty: don't store it")
        boxes = inputs.str("boxes_field", default=d["boxes_field"], required=False,
                           label="Boxes field", description="Empty: don't store boxes")
        inputs.float("threshold", default=d["threshold"], min=0.0, max=0.99,
                     label="Box threshold",
                     description="Fraction of the heatmap's max (Grad-CAM's authors: 0.15)")
        modes = types.RadioGroup(orientation="horizontal")
        for value, label in BOX_MODES:
            modes.add_choice(value, label=label)
        inputs.enum("box_mode", modes.values(), default=d["box_mode"], label="Boxes",
                    view=modes)
        scales = inputs.str("scales", default=_scales_text(d["scales"]), required=False,
                   label="Input sizes",
                   description="Comma-separated; several are combined by geometric mean; "
                               "empty: the model's usual size")
        inputs.int("map_size", default=_side(d["map_size"]), min=4, max=1024,
                   label="Stored map size (px)")
        inputs.str("map_dir", default=d["map_dir"], required=False,
                   label="PNG map directory",
                   description="For big datasets: write maps as PNGs here instead of "
                               "storing arrays in the database")
        inputs.int("batch_size", default=d["batch_size"], min=1, required=True,
                   label="Batch size")
        inputs.bool("overwrite", default=d["overwrite"], label="Overwrite existing fields")

        check_model_field(model, form_values(inputs, ctx.params)["model"])
        if ctx.dataset is not None and flag(scales, _scales, ctx.params.get("scales")):
            o = _options(form_values(inputs, ctx.params), d)
            step, key_field = _engine().STEP, o["heatmap_field"]
            for prop, name in ((heatmap, "heatmap_field"), (prediction, "prediction_field"),
                               (boxes, "boxes_field")):
                if o[name] is not None:
                    flag(prop, check_writable, samples, step, key_field, fields=[o[name]],
                         overwrite=o["overwrite"])
        return types.Property(inputs, view=types.View(label="Winnow: class activation maps"))

    def execute(self, ctx):
        engine = _engine()
        options = _options(ctx.params, engine_defaults(engine.compute_cam))
        results = yield from run_engine(ctx, engine.compute_cam, "Computing heatmaps",
                                        samples=ctx.target_view(), **options)
        yield from summarize(ctx, str(results).splitlines()[0])

    def __call__(self, samples, delegate=False, **options):
        """Runs the operator from Python with ``winnow.compute_cam``'s options::

            op = foo.get_operator("@winnow/curation/compute_cam")
            op(dataset, target="ground_truth", delegate=True)
        """
        return call_operator(self, samples, options,
                             engine_defaults(_engine().compute_cam), delegate,
                             target=lambda p: str(p["target"]),
                             scales=lambda p: _scales_text(p["scales"]),
                             map_size=lambda p: _side(p["map_size"]))


def _classification_fields(ctx):
    import fiftyone as fo

    if ctx.dataset is None:
        return []
    schema = ctx.dataset.get_field_schema(embedded_doc_type=fo.Classification)
    return sorted(schema)


def _target(value):
    # The form's text box holds class indices as digits.
    value = str(value or "predicted").strip()
    return int(value) if value.isdigit() else value


def _scales(value):
    if value is None or isinstance(value, (list, tuple, int)):
        return value
    try:
        return [int(s) for s in str(value).replace(" ", "").split(",") if s] or None
    except ValueError:
        raise ValueError("Input sizes must be comma-separated integers; got %r" % value)


def _scales_text(scales):
    if scales is None:
        return ""
    return ",".join(str(s) for s in ([scales] if isinstance(scales, int) else scales))


def _side(map_size):
    # The form stores square maps; a (h, w) pair from Python stays as given.
    if isinstance(map_size, (list, tuple)) and len(set(map_size)) == 1:
        return int(map_size[0])
    return map_size
