"""Form pieces shared by the dataset-filter operators (outliers, redundancy, filter)."""

import fiftyone.core.fields as fof
import fiftyone.operators.types as types

REDUCTIONS = [("none", "None"), ("pca", "PCA"), ("umap", "UMAP (if installed)")]


def vector_fields(ctx):
    """Names of the dataset's vector fields (embeddings)."""
    schema = ctx.dataset.get_field_schema() if ctx.dataset is not None else {}
    return [name for name, field in schema.items()
            if isinstance(field, (fof.VectorField, fof.ArrayField))]


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


def add_percent(inputs, name, label, default, description=None):
    inputs.float(name, default=default, min=0.0, max=99.0, required=True, label=label,
                 description=description)


def add_embeddings_choice(ctx, inputs):
    fields = vector_fields(ctx)
    choices = types.DropdownView()
    for f in fields or ["embedding"]:
        choices.add_choice(f, label=f)
    inputs.enum("embeddings_field", choices.values(),
                default="embedding" if "embedding" in fields or not fields else fields[0],
                required=True, label="Embeddings field", view=choices,
                description="Compute embeddings first if this list is empty")


def add_reduction(inputs, default_components):
    radio = types.RadioGroup(orientation="horizontal")
    for value, label in REDUCTIONS:
        radio.add_choice(value, label=label)
    inputs.enum("reduce", radio.values(), default="pca", label="Dimensionality reduction",
                view=radio)
    inputs.int("n_components", default=default_components, min=1, required=False,
               label="Reduced dimensions",
               description="Effective dimension: min(this, samples, embedding size); "
                           "empty keeps the default")


def add_per_class(ctx, inputs):
    choices = types.DropdownView()
    choices.add_choice("", label="(not class-aware)")
    for f in label_fields(ctx):
        choices.add_choice(f, label=f)
    inputs.enum("per_class", choices.values(), default="", required=False,
                label="Keep class proportions of", view=choices,
                description="A label field: each class loses the same share")


def reduction_kwargs(params):
    reduce = params.get("reduce", "pca")
    n = params.get("n_components")
    return dict(reduce=None if reduce in (None, "none") else reduce,
                n_components=int(n) if n not in (None, "") else None)


def fraction(params, name, default):
    value = params.get(name)
    return (default if value is None else float(value)) / 100.0
