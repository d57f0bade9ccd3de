"""Form pieces shared by the dataset-filter operators (outliers, redundancy, filter)."""

import fiftyone.core.fields as fof
import fiftyone.operators.types as types

from ._common import NONE, flag, none_choice, vector_fields

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
    option name)."""
    from winnow.plugin import inputs, vectors

    flag(props["embeddings_field"], inputs.check_vector_field, samples.get_field_schema(),
         options["embeddings_field"])
    flag(props["reduce"], vectors.check_reduction, options["n_components"],
         options["reduce"])
    if options["per_class"]:
        flag(props["per_class"], inputs.label_field, samples, options["per_class"])
