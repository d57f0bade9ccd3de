"""What every Winnow operator shares: progress relay and model choices."""

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
