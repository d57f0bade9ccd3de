"""Form pieces shared by the label-issue operators (field choosers, classifier options)."""

import fiftyone as fo
import fiftyone.operators.types as types

from ._common import flag

CLASSIFIER_CHOICES = [
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
    """Flags a label field that is not a Classification(s) field and a missing or
    non-vector embeddings field, with the engine's own checks."""
    from winnow.plugin import inputs

    flag(props["label_field"], inputs.label_field, samples, options["label_field"],
         param="label_field", kinds=inputs.LABEL_FIELD_KINDS)
    flag(props["embeddings_field"], inputs.check_vector_field, samples.get_field_schema(),
         options["embeddings_field"])
