"""What every Winnow operator shares: progress relay, model choices, the engine's
defaults and validation in forms, and the Python call."""

import inspect
import queue
import threading

import fiftyone as fo
import fiftyone.operators as foo

# Models offered in forms; any torchvision classification model works from Python.
MODEL_CHOICES = [
    ("efficientnet-lite0", "EfficientNet-Lite0 (ImageNet, offline default)"),
    ("resnet18", "ResNet-18 (torchvision)"),
    ("resnet50", "ResNet-50 (torchvision)"),
    ("mobilenet_v3_large", "MobileNetV3-Large (torchvision)"),
    ("efficientnet_b0", "EfficientNet-B0 (torchvision)"),
    ("convnext_tiny", "ConvNeXt-Tiny (torchvision)"),
]


def run_engine(ctx, fn, label, **kwargs):
    """Runs ``fn(progress=..., **kwargs)`` and relays its progress to the App.

    A generator: use ``result = yield from run_engine(...)`` in an operator whose
    ``execute`` is a generator. Delegated runs report with ``ctx.set_progress``;
    immediate runs execute the engine in a thread and yield
    ``ctx.ops.set_progress`` as progress arrives.
    """
    if ctx.delegated:
        report = fo.report_progress(
            lambda pb: ctx.set_progress(progress=pb.progress, label=label), dt=5.0
        )
        return fn(progress=report, **kwargs)

    updates = queue.Queue()
    outcome = {}

    def target():
        try:
            report = fo.report_progress(lambda pb: updates.put(pb.progress), dt=0.5)
            outcome["result"] = fn(progress=report, **kwargs)
        except BaseException as e:  # re-raised in the operator's thread
            outcome["error"] = e
        finally:
            updates.put(None)

    worker = threading.Thread(target=target, name="winnow-" + label, daemon=True)
    worker.start()
    while True:
        fraction = updates.get()
        if fraction is None:
            break
        yield ctx.ops.set_progress(progress=fraction, label=label)
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def summarize(ctx, message):
    """Shows the run's summary in the App (nowhere to show it when delegated)."""
    if not ctx.delegated:
        yield ctx.ops.reload_dataset()
        yield ctx.ops.notify(message, variant="success")


def operator_config(name, label, description, generator=True):
    """The config every Winnow operator shares: dynamic form, immediate or delegated
    execution, and (for steps that report progress) run as a generator."""
    return foo.OperatorConfig(
        name=name,
        label=label,
        description=description,
        dynamic=True,
        execute_as_generator=generator,
        allow_immediate_execution=True,
        allow_delegated_execution=True,
    )


def vector_fields(dataset):
    """Names of the dataset's fields that can hold embeddings, sorted: vector and array
    fields, and lists of numbers (never ``tags`` or another list of strings)."""
    import fiftyone.core.fields as fof

    if dataset is None:
        return []
    out = []
    for name, field in dataset.get_field_schema().items():
        if name.startswith("_"):
            continue
        if isinstance(field, (fof.VectorField, fof.ArrayField)) or (
                isinstance(field, fof.ListField)
                and isinstance(field.field, (type(None), fof.FloatField, fof.IntField))):
            out.append(name)
    return sorted(out)


def patches_fields(dataset):
    """Names of the dataset's fields whose objects a step can run on (``patches_field=``),
    sorted: ``fo.Detections`` and ``fo.Polylines`` fields (polylines by their boxes)."""
    import fiftyone.core.labels as fol

    if dataset is None:
        return []
    return sorted(name for name, field in dataset.get_field_schema().items()
                  if not name.startswith("_")
                  and issubclass(getattr(field, "document_type", None) or object,
                                 (fol.Detections, fol.Polylines)))


# The radio choice that stands for None (the App's enums need a string).
NONE = "none"


def engine_defaults(fn, **overrides):
    """``{option: default}`` of the engine function ``fn``: the one place a default is
    defined. Forms show these and Python calls fill them in. ``overrides`` are an
    operator's deliberate differences, each with its reason at the call."""
    options = {name: p.default for name, p in inspect.signature(fn).parameters.items()
               if p.default is not inspect.Parameter.empty and name != "progress"}
    unknown = sorted(set(overrides) - set(options))
    if unknown:
        raise TypeError("%s has no options %s" % (fn.__name__, unknown))
    options.update(overrides)
    return options


def engine_options(params, defaults, **shown):
    """The engine's keyword arguments for an operator's ``params``.

    ``defaults`` (:func:`engine_defaults`), replaced by the params named like an
    option (an empty text box means None), and by ``shown``: for options the form
    shows differently (a percent for a fraction), functions of the params giving
    the engine's value, or None to keep the default. Those apply only when the
    params lack the option itself: a Python call passes the engine's own value.
    """
    options = dict(defaults)
    for name in defaults:
        if name in params:
            options[name] = None if params[name] == "" else params[name]
    for name, value_of in shown.items():
        value = None if name in params else value_of(params)
        if value is not None:
            options[name] = value
    return options


def form_values(inputs, params):
    """What a form shows: its properties' defaults, overlaid by the user's ``params``
    (validation checks these, even before the App sends its first values)."""
    values = {name: prop.default for name, prop in inputs.properties.items()
              if prop.default is not None}
    values.update(params)
    return values


def none_choice(value):
    """A radio group's value as the engine's: :data:`NONE` is None."""
    return None if value in (None, "", NONE) else value


def add_optional_field_choice(ctx, inputs, name, fields, *, none_label, choice_label, label,
                              description):
    """An optional dropdown ``name`` over ``fields`` with :data:`NONE` first
    (``none_label``; each field labelled ``choice_label % field``): not required, so a
    Python call without it means None.

    Returns:
        ``(prop, value)``: the form property (None when ``fields`` is empty) and the
        chosen field (None for :data:`NONE`)
    """
    import fiftyone.operators.types as types

    if not fields:
        return None, None
    dropdown = types.DropdownView()
    dropdown.add_choice(NONE, label=none_label)
    for field in fields:
        dropdown.add_choice(field, label=choice_label % field)
    prop = inputs.enum(name, dropdown.values(), default=NONE, required=False, label=label,
                       view=dropdown, description=description)
    return prop, none_choice(ctx.params.get(name))


def flag(prop, check, *args, **kwargs):
    """Runs the engine's validator ``check(*args, **kwargs)`` on a form's current
    value; a ValueError marks the form property ``prop`` invalid with its message, so
    the App shows it as the user types and refuses to execute.

    Returns:
        True when the value passed
    """
    try:
        check(*args, **kwargs)
    except ValueError as e:
        prop.invalid = True
        prop.error_message = str(e)
        return False
    return True


def check_writable(samples, step, key_field, **outputs):
    """The engine's read-only check that the run of ``step`` keyed by ``key_field``
    (its first field) may write ``outputs`` (``fields``, ``tags``, ``label_tags``,
    ``saved_views``, ``overwrite``: see ``winnow.plugin.inputs.check_writable``)."""
    from winnow.plugin import inputs, runs

    inputs.check_name(key_field, "Names")
    inputs.check_writable(samples, runs.run_key(step, key_field),
                          owners=runs.owners(samples._root_dataset), **outputs)


def call_operator(op, samples, options, defaults, delegate=False, **shown):
    """Runs operator ``op`` from Python on ``samples`` with the engine's own keyword
    arguments ``options``, the FiftyOne way (``foo.get_operator(uri)(dataset, ...)``).

    The params are the engine's ``defaults`` with ``options``, plus ``shown``: the
    values of form fields that show an option differently, as functions of those
    params (so the form's required fields and ranges check the same values).

    Raises:
        TypeError: an option the engine does not take
    """
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise TypeError("%s got unexpected options %s" % (op.name, unknown))
    params = dict(defaults, **options)
    params.update({name: value_of(params) for name, value_of in shown.items()})
    return foo.execute_operator(op.uri, ctx=dict(view=samples.view(), params=params),
                                request_delegation=delegate)


def object_vector_fields(samples, patches_field):
    """The vector attributes of the objects of ``patches_field`` (e.g. ``embedding``)."""
    from winnow.plugin import inputs

    if samples is None:
        return []
    samples = inputs.samples_of_patches(samples, patches_field)
    prefix = inputs.patches_field(samples, patches_field).list_path + "."
    return sorted(path[len(prefix):] for path, field
                  in samples.get_field_schema(flat=True).items()
                  if path.startswith(prefix) and "." not in path[len(prefix):]
                  and isinstance(field, inputs.VECTOR_FIELDS))
