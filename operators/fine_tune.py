"""@winnow/curation/fine_tune: the form, then one engine call (delegated by default:
training takes minutes to hours)."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import (MODEL_CHOICES, call_operator, check_writable, engine_defaults,
                      engine_options, flag, form_values, operator_config, run_engine,
                      summarize)
from ._label_forms import field_chooser, label_fields


def _engine():
    from winnow.plugin import fine_tune

    return fine_tune


def _train_layers(value):
    """The form's text ("all" or a number) as the engine's value."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value.strip() if isinstance(value, str) else value


def _options(params, defaults):
    options = engine_options(params, defaults)
    options["train_layers"] = _train_layers(options["train_layers"])
    # 0 in the form's number boxes stands for None (the model's size; no folds).
    if options["image_size"] == 0:
        options["image_size"] = None
    if options["folds"] in (0, 1):
        options["folds"] = None
    return options


class FineTune(foo.Operator):
    @property
    def config(self):
        config = operator_config(
            "fine_tune", "Winnow: fine-tune a model",
            "Train a network's last layers and a new head on a label field's classes; "
            "optionally cross-fitted embeddings for out-of-sample label issues")
        config.default_choice_to_delegated = True
        return config

    def resolve_input(self, ctx):
        engine = _engine()
        d = engine_defaults(engine.fine_tune)
        inputs = types.Object()
        samples = ctx.target_view()
        label = field_chooser(inputs, "label_field", label_fields(ctx.dataset),
                              d["label_field"], "Label field",
                              "The classes to learn (a Classification field)")
        models = types.DropdownView()
        for value, name in MODEL_CHOICES:
            models.add_choice(value, label=name)
        inputs.enum("model", models.values(), default=d["model"], required=True,
                    label="Model", view=models)
        inputs.int("epochs", default=d["epochs"], min=1, required=True, label="Epochs",
                   description="At most; the best epoch on a held-out share is kept")
        layers = inputs.str("train_layers", default=str(d["train_layers"]), required=True,
                            label="Layers to train",
                            description="'all', or how many units train counting the new "
                                        "head (3: the head and the last 2 blocks, fast on "
                                        "a CPU)")
        inputs.int("image_size", default=0, min=0, label="Input size (px)",
                   description="0: the model's own (224 px)")
        inputs.int("batch_size", default=d["batch_size"], min=1, required=True,
                   label="Batch size")
        inputs.float("lr", default=d["lr"], min=0.0, required=True, label="Learning rate")
        inputs.float("val_fraction", default=d["val_fraction"], min=0.0, max=0.5,
                     required=True, label="Held-out share",
                     description="Of each class, for early stopping")
        inputs.bool("augment", default=d["augment"], label="Augment (flips, shifts)")
        inputs.int("folds", default=0, min=0, label="Cross-fitting folds",
                   description="k >= 2: k models, each sample embedded by the one that never "
                               "trained on it (out-of-sample features for label issues); 0: "
                               "one model")
        field = inputs.str("embeddings_field", default=d["embeddings_field"], required=False,
                           label="Embeddings field",
                           description="Write the fine-tuned embeddings here (empty: none; "
                                       "with folds: fine_tuned_embedding)")
        predictions = inputs.str("predictions_field", default=d["predictions_field"],
                                 required=False, label="Predictions field",
                                 description="Write the new head's predictions here (empty: "
                                             "none)")
        inputs.str("output_path", default=d["output_path"], required=False,
                   label="Weights file",
                   description="Empty: <FiftyOne model zoo dir>/winnow/<dataset>-<label "
                               "field>-<model>.pt")
        inputs.bool("resume", default=d["resume"], label="Resume an interrupted run")
        inputs.bool("overwrite", default=d["overwrite"],
                    label="Overwrite existing fields or file")

        if ctx.dataset is not None:
            from winnow.plugin import inputs as checks

            o = _options(form_values(inputs, ctx.params), d)
            flag(label, checks.label_field, samples, o["label_field"], param="label_field",
                 kinds=("classification", "primitive"))
            flag(layers, engine._check_train_layers, o["train_layers"])
            emb = o["embeddings_field"] or ("fine_tuned_embedding" if o["folds"] else None)
            fields = [f for f in (emb, emb + "_fold" if emb and o["folds"] else None)
                      if f]
            if fields:
                flag(field, check_writable, samples, engine.STEP, fields[0], fields=fields,
                     overwrite=o["overwrite"])
            if o["predictions_field"]:
                flag(predictions, check_writable, samples, engine.STEP,
                     emb or o["label_field"], fields=[o["predictions_field"]],
                     overwrite=o["overwrite"])
        return types.Property(inputs, view=types.View(label="Winnow: fine-tune a model"))

    def execute(self, ctx):
        engine = _engine()
        options = _options(ctx.params, engine_defaults(engine.fine_tune))
        results = yield from run_engine(ctx, engine.fine_tune, "Fine-tuning",
                                        samples=ctx.target_view(), **options)
        yield from summarize(ctx, str(results).splitlines()[0])

    def __call__(self, samples, delegate=True, **options):
        """Runs the operator from Python with ``winnow.fine_tune``'s options; queued for
        a delegated worker unless ``delegate=False``::

            op = foo.get_operator("@winnow/curation/fine_tune")
            op(dataset, label_field="ground_truth", epochs=2, folds=5)
        """
        return call_operator(self, samples, options, engine_defaults(_engine().fine_tune),
                             delegate, train_layers=lambda p: str(p["train_layers"]),
                             image_size=lambda p: p["image_size"] or 0,
                             folds=lambda p: p["folds"] or 0)
