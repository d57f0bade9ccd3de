"""@winnow/curation/compute_cam: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import MODEL_CHOICES, run_engine, summarize, operator_config

METHODS = [("cam", "CAM (one forward pass)"), ("gradcam", "Grad-CAM (any model, any layer)")]
BOX_MODES = [("largest", "Largest region"), ("all", "Every region")]


class ComputeCam(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "compute_cam", "Winnow: class activation maps",
            "Heatmap of the pixels behind a class, the prediction, and boxes from the heatmap")

    def resolve_input(self, ctx):
        inputs = types.Object()
        ctx.target_view()

        models = types.DropdownView()
        for value, label in MODEL_CHOICES:
            models.add_choice(value, label=label)
        inputs.enum("model", models.values(), default=MODEL_CHOICES[0][0], required=True,
                    label="Model", view=models)
        methods = types.RadioGroup(orientation="horizontal")
        for value, label in METHODS:
            methods.add_choice(value, label=label)
        inputs.enum("method", methods.values(), default="cam", label="Method", view=methods)
        inputs.str("layer", required=False, label="Layer",
                   description="A conv layer (winnow.list_layers(model)); empty means the "
                               "last conv maps (the input of the global pooling)")

        targets = types.AutocompleteView()
        targets.add_choice("predicted", label="predicted class")
        for name in _classification_fields(ctx):
            targets.add_choice(name, label="label field: %s" % name)
        inputs.str("target", default="predicted", required=True, label="Class to explain",
                   description="'predicted', a label field (explain the ground truth), an "
                               "ImageNet class name or index", view=targets)

        inputs.str("heatmap_field", default="cam", required=True, label="Heatmap field")
        inputs.str("prediction_field", default="cam_prediction", required=False,
                   label="Prediction field", description="Empty: don't store it")
        inputs.str("boxes_field", default="cam_boxes", required=False, label="Boxes field",
                   description="Empty: don't store boxes")
        inputs.float("threshold", default=0.15, min=0.0, max=0.99, label="Box threshold",
                     description="Fraction of the heatmap's max (Grad-CAM's authors: 0.15)")
        modes = types.RadioGroup(orientation="horizontal")
        for value, label in BOX_MODES:
            modes.add_choice(value, label=label)
        inputs.enum("box_mode", modes.values(), default="largest", label="Boxes", view=modes)
        inputs.str("scales", default="224", required=True, label="Input sizes",
                   description="Comma-separated; several are combined by geometric mean")
        inputs.int("map_size", default=64, min=4, max=1024, label="Stored map size (px)")
        inputs.str("map_dir", required=False, label="PNG map directory",
                   description="For big datasets: write maps as PNGs here instead of "
                               "storing arrays in the database")
        inputs.int("batch_size", default=32, min=1, required=True, label="Batch size")
        inputs.bool("overwrite", default=False, label="Overwrite existing fields")
        return types.Property(inputs, view=types.View(label="Winnow: class activation maps"))

    def execute(self, ctx):
        from winnow.plugin.cam import compute_cam

        p = ctx.params
        results = yield from run_engine(
            ctx,
            compute_cam,
            "Computing heatmaps",
            samples=ctx.target_view(),
            model=p.get("model", MODEL_CHOICES[0][0]),
            method=p.get("method", "cam"),
            layer=p.get("layer") or None,
            target=_target(p.get("target")),
            heatmap_field=p.get("heatmap_field", "cam"),
            prediction_field=p.get("prediction_field") or None,
            boxes_field=p.get("boxes_field") or None,
            threshold=float(p.get("threshold", 0.15)),
            box_mode=p.get("box_mode", "largest"),
            scales=_scales(p.get("scales")),
            map_size=int(p.get("map_size", 64)),
            map_dir=p.get("map_dir") or None,
            batch_size=int(p.get("batch_size", 32)),
            overwrite=bool(p.get("overwrite", False)),
        )
        yield from summarize(ctx, str(results).splitlines()[0])

    def __call__(self, samples, model="efficientnet-lite0", method="cam", layer=None,
                 target="predicted", heatmap_field="cam", prediction_field="cam_prediction",
                 boxes_field="cam_boxes", threshold=0.15, box_mode="largest", scales=None,
                 map_size=64, map_dir=None, batch_size=32, overwrite=False, delegate=False):
        """Runs the operator from Python::

            op = foo.get_operator("@winnow/curation/compute_cam")
            op(dataset, target="ground_truth", delegate=True)
        """
        params = dict(model=model, method=method, layer=layer, target=str(target),
                      heatmap_field=heatmap_field, prediction_field=prediction_field or "",
                      boxes_field=boxes_field or "", threshold=threshold, box_mode=box_mode,
                      scales=",".join(str(s) for s in (scales or [224])), map_size=map_size,
                      map_dir=map_dir, batch_size=batch_size, overwrite=overwrite)
        return foo.execute_operator(self.uri, ctx=dict(view=samples.view(), params=params),
                                    request_delegation=delegate)


def _classification_fields(ctx):
    import fiftyone as fo

    if ctx.dataset is None:
        return []
    schema = ctx.dataset.get_field_schema(embedded_doc_type=fo.Classification)
    return sorted(schema)


def _target(value):
    value = (value or "predicted").strip()
    return int(value) if value.isdigit() else value


def _scales(value):
    try:
        return [int(s) for s in str(value or "224").replace(" ", "").split(",") if s]
    except ValueError:
        raise ValueError("Input sizes must be comma-separated integers; got %r" % value)
