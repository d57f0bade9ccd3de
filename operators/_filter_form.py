"""Form pieces shared by the dataset-filter operators (outliers, redundancy, filter)."""

import fiftyone.core.fields as fof
import fiftyone.operators.types as types

from ._common import (NONE, add_optional_field_choice, check_writable, flag, none_choice,
                      object_vector_fields, patches_fields, vector_fields)

REDUCTIONS = [(NONE, "None"), ("pca", "PCA"), ("umap", "UMAP (if installed)")]


def label_fields(ctx):
    """Fields that can serve as classes: classifications and strings."""
    import fiftyone.core.labels as fol

    schema = ctx.dataset.get_field_schema() if ctx.dataset is not None else {}
    out = []
    for name, field in schema.items():
        if name in ("filepath", "id") or name.startswith("_"):
            continue
        if isinstance(field, fof.StringField):
            out.append(name)
        elif (isinstance(field, fof.EmbeddedDocumentField)
              and issubclass(field.document_type, fol.Classification)):
            out.append(name)
    return out


def add_percent(inputs, name, label, fraction, description=None):
    """A percent field for an engine fraction (``fraction``: its default)."""
    return inputs.float(name, default=100.0 * fraction, min=0.0, max=99.0, required=True,
                        label=label, description=description)


def percent(params, name):
    """The engine fraction of percent field ``name``; None keeps the default."""
    value = params.get(name)
    return None if value in (None, "") else float(value) / 100.0


def check_fraction(fraction, label):
    """The engine's fraction check, worded for the percent field ``label``."""
    from winnow.plugin import inputs

    inputs.check_fraction(fraction, "%s / 100" % label)


def add_embeddings_choice(ctx, inputs, default, required=True):
    fields = vector_fields(ctx.dataset)
    choices = types.DropdownView()
    for f in fields or [default]:
        choices.add_choice(f, label=f)
    return inputs.enum("embeddings_field", choices.values(),
                       default=default if default in fields or not fields else fields[0],
                       required=required, label="Embeddings field", view=choices,
                       description="Compute embeddings first if this list is empty")


def add_reduction(inputs, defaults, empty_means):
    """The reduction radio and its dimension (``empty_means``: what None does)."""
    radio = types.RadioGroup(orientation="horizontal")
    for value, label in REDUCTIONS:
        radio.add_choice(value, label=label)
    prop = inputs.enum("reduce", radio.values(), default=defaults["reduce"] or NONE,
                       label="Dimensionality reduction", view=radio)
    inputs.int("n_components", default=defaults["n_components"], min=1, required=False,
               label="Reduced dimensions",
               description="Effective dimension: min(this, samples, embedding size); "
                           "empty: " + empty_means)
    return prop


def reduction(options):
    """The engine's reduction options from the form's: the radio's "none" is None and
    the dimension an int (the App's numbers may arrive as floats)."""
    n = options["n_components"]
    options.update(reduce=none_choice(options["reduce"]),
                   n_components=None if n is None else int(n))
    return options


def add_per_class(ctx, inputs, default):
    choices = types.DropdownView()
    choices.add_choice("", label="(not class-aware)")
    for f in label_fields(ctx):
        choices.add_choice(f, label=f)
    return inputs.enum("per_class", choices.values(), default=default or "", required=False,
                       label="Keep class proportions of", view=choices,
                       description="A label field: each class loses the same share")


def check_vectors_and_classes(samples, options, props):
    """Flags a missing or non-vector embeddings field, a bad reduction and a bad
    per-class field with the engine's own checks (``props``: the form's properties by
    option name; with ``patches_field``, the objects' attribute: :func:`check_objects`).

    Returns:
        the resolved objects field (``PatchesField``), or None (samples, or flagged)
    """
    from winnow.plugin import inputs, vectors

    flag(props["reduce"], vectors.check_reduction, options["n_components"],
         options["reduce"])
    if options.get("patches_field") is not None:  # objects: their attribute and label
        return check_objects(samples, options, props)
    flag(props["embeddings_field"], inputs.check_vector_field, samples.get_field_schema(),
         options["embeddings_field"])
    if options["per_class"]:
        flag(props["per_class"], inputs.label_field, samples, options["per_class"])
    return None


# -------------------------------------------------------------- objects (issue 14)


def add_objects_choice(ctx, inputs):
    """The optional "samples or objects of field ..." choice (``patches_field``),
    shown when the dataset has a Detections/Polylines field.

    Returns:
        ``(prop, name)``: the form property (None when not shown) and the chosen
        objects field (None: samples)
    """
    # Not required: a Python call without it (None) runs on the samples.
    return add_optional_field_choice(
        ctx, inputs, "patches_field", patches_fields(ctx.dataset), none_label="Samples",
        choice_label="Objects of %s", label="Run on",
        description="Whole images, or each object of a Detections/Polylines field "
                    "(results as object attributes and label tags)")


def add_object_embeddings_choice(ctx, inputs, default, patches, required=True):
    """The embeddings chooser: sample vector fields, or the vector attributes of the
    objects of ``patches``."""
    if patches is None:
        return add_embeddings_choice(ctx, inputs, default, required=required)
    try:
        fields = object_vector_fields(ctx.target_view(), patches)
    except ValueError:  # flagged on the objects choice
        fields = []
    choices = types.DropdownView()
    for f in fields or [default]:
        choices.add_choice(f, label=f)
    return inputs.enum("embeddings_field", choices.values(),
                       default=default if default in fields or not fields else fields[0],
                       required=required, label="Embeddings attribute", view=choices,
                       description="The vectors on each object (compute embeddings for its "
                                   "objects first)")


def add_object_per_class(inputs, default, label, description):
    """With objects, class-aware means by each object's ``label``."""
    choices = types.DropdownView()
    choices.add_choice("", label="(not class-aware)")
    choices.add_choice("label", label="each object's label")
    return inputs.enum("per_class", choices.values(), default=default or "", required=False,
                       label=label, view=choices, description=description)


def objects(options):
    """The engine's ``patches_field`` from the form's (the choice's "none" is None)."""
    options["patches_field"] = none_choice(options.get("patches_field"))
    return options


def check_objects(samples, options, props):
    """Flags a bad objects field and, with objects, a missing or non-vector embeddings
    attribute, with the engine's own checks.

    Returns:
        the resolved ``PatchesField``, or None (samples, or flagged)
    """
    from winnow.plugin import inputs

    if options.get("patches_field") is None:
        return None
    samples = inputs.samples_of_patches(samples, options["patches_field"])
    if not flag(props["patches_field"], inputs.patches_field, samples,
                options["patches_field"]):
        return None
    pf = inputs.patches_field(samples, options["patches_field"])
    flag(props["embeddings_field"], inputs.check_vector_field,
         samples.get_field_schema(flat=True), pf.path(options["embeddings_field"]))
    return pf


def check_outputs(samples, step, patches, key_field, *, fields=(), tags=(), saved_views=(),
                  overwrite=False, key=None):
    """The engine's read-only check of a run's outputs (see ``_common.check_writable``),
    on samples or on the objects of ``patches`` (a ``PatchesField``: ``fields`` and
    ``key_field`` are object attributes, ``tags`` label tags); ``key`` (None) the
    run key when it is not the step's and key field's."""
    from winnow.plugin import inputs, runs

    if patches is None:
        if key is None:
            return check_writable(samples, step, key_field, fields=list(fields),
                                  tags=list(tags), saved_views=list(saved_views),
                                  overwrite=overwrite)
        return inputs.check_writable(samples, key, owners=runs.owners(samples._root_dataset),
                                     fields=list(fields), tags=list(tags),
                                     saved_views=list(saved_views), overwrite=overwrite)
    inputs.check_name(key_field, "Names")
    inputs.check_writable(samples, key or runs.run_key(step, patches.path(key_field)),
                          owners=runs.owners(samples._root_dataset), fields=list(fields),
                          label_tags={t: [patches.name] for t in tags},
                          saved_views=list(saved_views), overwrite=overwrite,
                          patches_field=patches)
