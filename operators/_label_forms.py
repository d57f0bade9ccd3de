"""Form pieces shared by the label-issue operators (field choosers, classifier options,
samples or objects)."""

import fiftyone as fo
import fiftyone.operators.types as types

from ._common import add_optional_field_choice, flag, none_choice, patches_fields, vector_fields

CLASSIFIER_CHOICES = [
    ("auto", "Auto: bagged MLPs and logistic regressions, mixed out of sample "
              "(below 2 000 samples: their strongly regularised mean)"),
    ("bagging-mlp", "Bagged MLPs (out-of-bag)"),
    ("mlp", "One MLP per fold (K-fold)"),
    ("logistic", "Logistic regression (K-fold)"),
]


def label_fields(dataset, embedded=False):
    """Names of the ``fo.Classification`` / ``fo.Classifications`` fields."""
    if dataset is None:
        return []
    schema = dataset.get_field_schema(embedded_doc_type=(fo.Classification, fo.Classifications))
    return sorted(schema)


def field_chooser(inputs, name, choices, default, label, description=None, required=True):
    """A dropdown of existing fields, or a text box when there are none to choose from."""
    if choices:
        dropdown = types.DropdownView()
        for c in choices:
            dropdown.add_choice(c, label=c)
        return inputs.enum(name, dropdown.values(),
                           default=default if default in choices else choices[0],
                           required=required, label=label, description=description,
                           view=dropdown)
    return inputs.str(name, default=default, required=required, label=label,
                      description=description)


def model_inputs(inputs, defaults):
    """Classifier, estimators and bag size (``defaults``: the engine's)."""
    dropdown = types.DropdownView()
    for value, label in CLASSIFIER_CHOICES:
        dropdown.add_choice(value, label=label)
    inputs.enum("classifier", dropdown.values(), default=defaults["classifier"],
                required=True, label="Classifier", view=dropdown)
    inputs.int("n_estimators", default=defaults["n_estimators"], min=2, required=True,
               label="Estimators",
               description="Bagged members (= folds); every sample is scored only by "
                           "members that never trained on it")
    inputs.float("max_samples", default=defaults["max_samples"], min=0.05, max=1.0,
                 required=True, label="Samples per estimator",
                 description="Fraction of the labeled samples each member trains on")


def check_label_and_vectors(samples, options, props):
    """Flags a label field that is not a Classification(s) field, an objects field
    that is not Detections/Polylines, and a missing or non-vector embeddings field
    (attribute), with the engine's own checks.

    Returns:
        the resolved objects field (``PatchesField``), or None (samples, or flagged)
    """
    from winnow.plugin import inputs

    if options.get("patches_field") is None:
        flag(props["label_field"], inputs.label_field, samples, options["label_field"],
             param="label_field", kinds=inputs.LABEL_FIELD_KINDS)
        flag(props["embeddings_field"], inputs.check_vector_field,
             samples.get_field_schema(), options["embeddings_field"])
        return None
    if props["patches_field"] is None:  # no objects field to offer: the engine says why
        return None
    if options.get("pred_field") is not None:  # predictions instead of embeddings
        from winnow.plugin import detection_issues

        samples = inputs.samples_of_patches(samples, options["patches_field"])
        if not flag(props["patches_field"], inputs.patches_field, samples,
                    options["patches_field"]):
            return None
        if not flag(props["pred_field"], detection_issues.check_fields, samples,
                    options["patches_field"], options["pred_field"]):
            return None
        return inputs.patches_field(samples, options["patches_field"])
    from ._filter_form import check_objects

    # Run from a patches view of the field (e.g. the saved view of flagged objects).
    return check_objects(inputs.samples_of_patches(samples, options["patches_field"]),
                         options, props)


def add_predictions_choice(ctx, inputs, patches):
    """With objects, the optional "Predictions field" (``pred_field``): the other
    Detections fields, or none (learn from the objects' embeddings).

    Returns:
        ``(prop, name)``: the form property (None when there is no other Detections
        field) and the chosen predictions field (None: embeddings)
    """
    import fiftyone.core.labels as fol

    schema = ctx.dataset.get_field_schema() if ctx.dataset is not None else {}
    fields = [f for f in patches_fields(ctx.dataset) if f != patches
              and issubclass(getattr(schema.get(f), "document_type", None) or object,
                             fol.Detections)]
    return add_optional_field_choice(
        ctx, inputs, "pred_field", fields,
        none_label="None: learn each object's label from its embedding",
        choice_label="Predictions in %s", label="Predictions field",
        description="A detector's boxes with confidences: cleanlab object detection finds "
                    "swapped classes, badly located boxes and overlooked objects (tagged on "
                    "the predictions)")


def label_inputs(inputs, ctx, defaults, label_description, predictions=False):
    """The objects choice (the steps' one, shown when the dataset has objects), the
    label field (samples only: objects are learned by their own labels) and the
    embeddings chooser; with ``predictions`` and objects, the predictions field
    (:func:`add_predictions_choice`), which replaces the embeddings when chosen.

    Returns:
        ``(props, patches_field)``: ``{option: property}`` for the engine's checks
        (:func:`check_label_and_vectors`) and the chosen objects field or None
    """
    from ._filter_form import add_object_embeddings_choice, add_objects_choice

    objects, patches = add_objects_choice(ctx, inputs)
    props = dict(patches_field=objects)
    if patches is None:
        props["label_field"] = field_chooser(
            inputs, "label_field", label_fields(ctx.dataset), defaults["label_field"],
            "Label field", label_description)
        props["embeddings_field"] = field_chooser(
            inputs, "embeddings_field", vector_fields(ctx.dataset),
            defaults["embeddings_field"], "Embeddings field")
        return props, patches
    if predictions:
        props["pred_field"], pred = add_predictions_choice(ctx, inputs, patches)
        if pred is not None:
            return props, patches
    props["embeddings_field"] = add_object_embeddings_choice(
        ctx, inputs, defaults["embeddings_field"], patches)
    return props, patches


def label_options(options):
    """The engine's options from a label form's: the objects choice's "none" is None,
    and with objects the sample label field (not shown) is left at its default."""
    from winnow.plugin import label_issues

    from ._filter_form import objects

    objects(options)
    if options["patches_field"] is not None:
        options["label_field"] = label_issues.DEFAULT_LABEL_FIELD
    if "pred_field" in options:  # the choice's "none": learn from embeddings
        options["pred_field"] = none_choice(options["pred_field"]) \
            if options["patches_field"] is not None else None
    return options
