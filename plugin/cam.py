"""Class activation maps: which pixels made the network say a class, and boxes from them.

Array level (no dataset): :func:`class_activation_maps` (CAM, Zhou et al. 2016),
the gradient-weighted family :func:`grad_cam` (Selvaraju et al. 2017),
:func:`grad_cam_plus_plus` (Chattopadhay et al. 2018), :func:`hires_cam`
(Draelos & Carin 2020), :func:`layer_cam` (Jiang et al. 2021), :func:`xgrad_cam`
(Fu et al. 2020), the class-agnostic :func:`eigen_cam` (Muhammad & Yeasin 2020),
:func:`normalize_maps`, :func:`combine_scales` and :func:`boxes_from_heatmap`.
Their formulas follow pytorch-grad-cam (MIT), the reference library the tests
and ``benchmarks/cam.py`` compare against. Dataset level:
:func:`compute_cam` writes an ``fo.Heatmap``, the predicted class
(``fo.Classification``) and boxes (``fo.Detections``) per sample.

The whole image is fed to the network, resized to ``size × size`` without a
crop, so a map covers exactly the image the App shows and relative boxes need
no remapping.
"""

import collections
import numbers
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.core.utils as fou

from . import images, inputs, models, runs

STEP = "cam"
METHODS = ("cam", "gradcam", "gradcam++", "hirescam", "layercam", "xgradcam", "eigencam")
METHOD_NAMES = {"cam": "CAM", "gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++",
                "hirescam": "HiResCAM", "layercam": "LayerCAM", "xgradcam": "XGrad-CAM",
                "eigencam": "Eigen-CAM"}
BOX_MODES = ("largest", "all")

# Grad-CAM's authors box "the single largest segment" of the map above 15 % of its
# max intensity (Selvaraju et al. 2017, §4.1); CAM's used 20 %. We default to 15 %.
DEFAULT_THRESHOLD = 0.15
DEFAULT_MAP_SIZE = (64, 64)


# --------------------------------------------------------------------------- arrays


def class_activation_maps(feature_maps, fc_weight, targets):
    """Classic CAM: the classifier weights of the target class over the last conv maps.

    For a network ending in global average pooling + one linear layer, the
    target's logit is the spatial mean of this map plus the bias, so the map
    says where the logit comes from.

    Args:
        feature_maps: a ``(B, C, h, w)`` array or tensor (the input of the pooling)
        fc_weight: a ``(K, C)`` array or tensor (the linear layer's weight)
        targets: ``(B,)`` class indices

    Returns:
        a ``(B, h, w)`` float32 array (raw, unnormalized: see :func:`normalize_maps`)
    """
    maps = torch.as_tensor(feature_maps).float()
    weight = torch.as_tensor(fc_weight).float()
    idx = torch.as_tensor(np.asarray(targets), dtype=torch.long)
    if maps.dim() != 4 or weight.dim() != 2 or maps.shape[1] != weight.shape[1]:
        raise ValueError("Expected feature_maps (B, C, h, w) and fc_weight (K, C); got %s and %s"
                         % (tuple(maps.shape), tuple(weight.shape)))
    if idx.shape != (maps.shape[0],):
        raise ValueError("targets must have shape (%d,); got %s" % (maps.shape[0], tuple(idx.shape)))
    return torch.einsum("bchw,bc->bhw", maps, weight[idx]).numpy().astype(np.float32)


def grad_cam(activations, gradients):
    """Grad-CAM: activations weighted by their spatially averaged gradients, ReLU'd.

    Args:
        activations: a ``(B, C, h, w)`` array or tensor (a conv layer's output)
        gradients: a ``(B, C, h, w)`` array or tensor: the target score's
            gradient with respect to ``activations``

    Returns:
        a ``(B, h, w)`` float32 array (raw, unnormalized)
    """
    acts, grads = _acts_grads(activations, gradients)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    return F.relu((weights * acts).sum(dim=1)).numpy().astype(np.float32)


def grad_cam_plus_plus(activations, gradients):
    """Grad-CAM++: each channel weighted by its positive gradients, each scaled by
    ``alpha = g² / (2 g² + ΣA g³)`` (Chattopadhay et al. 2018, Eq. 19, written in
    first-order gradients as pytorch-grad-cam does), ReLU'd.

    A channel whose activation is spread over a large area gets a smaller
    weight than under Grad-CAM, so small and repeated objects keep their share.

    Args:
        activations: a ``(B, C, h, w)`` array or tensor
        gradients: a ``(B, C, h, w)`` array or tensor (the target score's gradient)

    Returns:
        a ``(B, h, w)`` float32 array (raw, unnormalized)
    """
    acts, grads = _acts_grads(activations, gradients)
    g2 = grads * grads
    total = acts.sum(dim=(2, 3), keepdim=True)
    alpha = g2 / (2 * g2 + total * g2 * grads + 1e-6)
    alpha = torch.where(grads != 0, alpha, torch.zeros_like(alpha))
    weights = (F.relu(grads) * alpha).sum(dim=(2, 3), keepdim=True)
    return F.relu((weights * acts).sum(dim=1)).numpy().astype(np.float32)


def hires_cam(activations, gradients):
    """HiResCAM: activations times their own gradients, summed over channels, ReLU'd
    (no spatial averaging of the gradients, so the map is the exact share of each
    position in a gradient-linear score).

    Args, Returns: as :func:`grad_cam_plus_plus`
    """
    acts, grads = _acts_grads(activations, gradients)
    return F.relu((grads * acts).sum(dim=1)).numpy().astype(np.float32)


def layer_cam(activations, gradients):
    """LayerCAM: activations times their positive gradients, summed over channels.

    Args, Returns: as :func:`grad_cam_plus_plus`
    """
    acts, grads = _acts_grads(activations, gradients)
    return F.relu((F.relu(grads) * acts).sum(dim=1)).numpy().astype(np.float32)


def xgrad_cam(activations, gradients):
    """XGrad-CAM: channel weights ``Σ g A / Σ A`` (gradients averaged with the
    activations as weights), ReLU'd.

    Args, Returns: as :func:`grad_cam_plus_plus`
    """
    acts, grads = _acts_grads(activations, gradients)
    weights = (grads * acts).sum(dim=(2, 3), keepdim=True) / (
        acts.sum(dim=(2, 3), keepdim=True) + 1e-7)
    return F.relu((weights * acts).sum(dim=1)).numpy().astype(np.float32)


def eigen_cam(activations):
    """Eigen-CAM: the activations projected on their first principal component
    (positions as rows, channels as columns, centred), ReLU'd. Class-agnostic:
    no gradients, the same map for every target.

    The component's sign is arbitrary; it is turned so that its channel
    loadings sum to a positive number (the map grows with the activations),
    which pytorch-grad-cam leaves to the SVD.

    Args:
        activations: a ``(B, C, h, w)`` array or tensor

    Returns:
        a ``(B, h, w)`` float32 array (raw, unnormalized)
    """
    acts = torch.as_tensor(activations).float()
    if acts.dim() != 4:
        raise ValueError("activations must be (B, C, h, w); got %s" % (tuple(acts.shape),))
    b, c, h, w = acts.shape
    rows = acts.reshape(b, c, h * w).transpose(1, 2)
    rows = rows - rows.mean(dim=1, keepdim=True)
    _, _, vt = torch.linalg.svd(rows.double(), full_matrices=False)
    top = vt[:, 0, :]
    top = top * torch.where(top.sum(dim=1, keepdim=True) < 0, -1.0, 1.0).to(top)
    proj = torch.einsum("bpc,bc->bp", rows.double(), top).reshape(b, h, w)
    return F.relu(proj).numpy().astype(np.float32)


# method name -> array function of (activations, gradients)
GRADIENT_MAPS = {"gradcam": grad_cam, "gradcam++": grad_cam_plus_plus, "hirescam": hires_cam,
                 "layercam": layer_cam, "xgradcam": xgrad_cam}


def _acts_grads(activations, gradients):
    acts = torch.as_tensor(activations).float()
    grads = torch.as_tensor(gradients).float()
    if acts.dim() != 4 or acts.shape != grads.shape:
        raise ValueError("activations and gradients must both be (B, C, h, w); got %s and %s"
                         % (tuple(acts.shape), tuple(grads.shape)))
    return acts, grads


def normalize_maps(maps):
    """Keeps the positive evidence and scales each map by its max into [0, 1].

    Both methods are scaled the same way, so a threshold is a fraction of the
    map's max. A map with no positive value becomes all zeros (no evidence).

    Args:
        maps: a ``(B, h, w)`` array

    Returns:
        a ``(B, h, w)`` float32 array in [0, 1]
    """
    maps = np.maximum(np.asarray(maps, dtype=np.float32), 0)
    peak = maps.reshape(len(maps), -1).max(axis=1) if maps.size else np.zeros(len(maps))
    out = np.zeros_like(maps)
    ok = peak > 0
    out[ok] = maps[ok] / peak[ok, None, None]
    return out


def resize_maps(maps, size):
    """Bilinear resize of ``(B, h, w)`` maps to ``size = (H, W)``; returns float32."""
    t = torch.as_tensor(np.asarray(maps, dtype=np.float32))[:, None]
    return F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False)[:, 0].numpy()


def combine_scales(maps_per_scale, size, eps=1e-3):
    """Geometric mean of normalized maps computed at several input sizes.

    A pixel stays hot only where every scale agrees (a product, not a sum), which
    sharpens maps that are coarse at one scale and noisy at another.

    Args:
        maps_per_scale: a list of ``(B, h_s, w_s)`` arrays in [0, 1]
        size: ``(H, W)`` of the result
        eps (1e-3): added before the log so one cold scale does not zero a pixel

    Returns:
        a ``(B, H, W)`` float32 array in [0, 1]
    """
    resized = [np.clip(resize_maps(m, size), 0, 1) for m in maps_per_scale]
    if len(resized) == 1:
        return normalize_maps(resized[0])
    logs = np.mean([np.log(m + eps) for m in resized], axis=0)
    return normalize_maps(np.exp(logs) - eps)


def boxes_from_heatmap(heatmap, *, threshold=DEFAULT_THRESHOLD, mode="largest"):
    """Boxes around the connected regions of a heatmap above a fraction of its max.

    Args:
        heatmap: an ``(h, w)`` array (any non-negative scale)
        threshold (0.15): the fraction of the map's max a pixel must reach
            (Grad-CAM's authors use 15 %)
        mode ("largest"): ``"largest"`` keeps the component with the most
            pixels (the published protocol), ``"all"`` keeps every component

    Returns:
        a list of ``(box, score)``: ``box`` is ``[x, y, w, h]`` relative to the
        map (top-left origin, in [0, 1]), ``score`` the component's peak value
        divided by the map's max. Empty when the map has no positive value.
    """
    from scipy import ndimage

    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.ndim != 2:
        raise ValueError("heatmap must be 2-D; got shape %s" % (heatmap.shape,))
    _check_boxes(threshold, mode, "mode")
    peak = float(heatmap.max()) if heatmap.size else 0.0
    if not peak > 0:
        return []
    labels, n = ndimage.label(heatmap >= threshold * peak)  # 4-connectivity
    if n == 0:
        return []
    comps = range(1, n + 1)
    if mode == "largest":
        sizes = ndimage.sum_labels(np.ones_like(heatmap), labels, index=list(comps))
        comps = [int(np.argmax(sizes)) + 1]
    h, w = heatmap.shape
    slices = ndimage.find_objects(labels)
    out = []
    for c in comps:
        ys, xs = slices[c - 1]
        score = float(heatmap[labels == c].max()) / peak
        box = [xs.start / w, ys.start / h, (xs.stop - xs.start) / w, (ys.stop - ys.start) / h]
        out.append((box, score))
    out.sort(key=lambda bs: -bs[1])
    return out


# --------------------------------------------------------------------------- models


def global_pooling_layer(module):
    """The name of the model's last adaptive average pooling (the global pooling
    before the classifier), or None.
    """
    name = None
    for n, m in module.named_modules():
        if isinstance(m, nn.AdaptiveAvgPool2d):
            name = n
    return name


def transformer_cam_layer(module):
    """The default heatmap layer of a vision transformer: the first LayerNorm of
    its last block (torchvision ``encoder.layers.encoder_layer_11.ln_1``, timm
    ``blocks.11.norm1``, open_clip ``transformer.resblocks.11.ln_1``), or None
    when the model has no transformer blocks.

    Not the last block's output: a class-token head reads only the class token
    there, so the patch tokens get no gradient; the input of the last attention
    is where they still reach it (pytorch-grad-cam's choice for ViTs too).
    """
    norms = collections.defaultdict(list)
    for name, m in module.named_modules():
        if isinstance(m, nn.LayerNorm) and "." in name:
            norms[name.rsplit(".", 1)[0]].append(name)
    # A transformer block holds two norms (before attention and before the MLP).
    blocks = [names for names in norms.values() if len(names) >= 2]
    return blocks[-1][0] if blocks else None


class _Capture:
    """Forward hook keeping one module's input or output (the last call wins)."""

    def __init__(self, module, name, capture):
        modules = dict(module.named_modules())
        if name not in modules:
            raise ValueError("Layer %r not found in %s; winnow.list_layers(model) lists the "
                             "names" % (name, type(module).__name__))
        self.name = name
        self.capture = capture
        self.value = None
        self._handle = modules[name].register_forward_hook(self._hook)

    def _hook(self, _module, inputs, output):
        value = inputs[0] if self.capture == "input" else output
        if isinstance(value, (tuple, list)):
            value = value[0]
        self.value = value

    def remove(self):
        self._handle.remove()


class CamModel:
    """A loaded model ready to produce raw maps and logits for a batch.

    The maps are the output of ``layer``, or by default the input of the global
    pooling (the last conv maps), read in the same forward pass as the logits.

    - ``method="cam"``: the classifier weights of the target over the maps;
      the head is checked to be pooling + one linear layer on the first batch.
    - the gradient-weighted methods (:data:`GRADIENT_MAPS`): the maps weighted
      by the target logit's gradients. At the pooling input of a pooling +
      linear head the gradient is known without a backward pass
      (``d logit_k / d A[c, i, j] = W[k, c] / (h w)``), so these cost one
      forward pass like CAM (``gradients="linear head"``, checked on the first
      batch); any other head or layer runs one backward pass per batch
      (``gradients="backward"``).
    - ``method="eigencam"``: one forward pass, no target.

    Vision transformers: a layer whose output is tokens ``(B, N, D)`` is read
    as maps ``(B, D, h, w)``: the class/register tokens dropped, the patch
    tokens laid out on their grid (:func:`winnow.plugin.models.tokens_to_maps`).
    The default layer of a transformer without global pooling is
    :func:`transformer_cam_layer`; its gradients come from a backward pass.
    Classic CAM needs conv maps with pooling + linear head and refuses tokens.
    """

    def __init__(self, loaded, method="cam", layer=None):
        self.loaded = loaded
        self.module = loaded.module
        self.method = method
        self.fc_name = None
        self.num_prefix = models.num_prefix_tokens(self.module)
        if getattr(self.module, models.EMBEDDING_LAYER_ATTR, None) is not None:
            raise ValueError("%s is an image encoder without class scores (e.g. CLIP's image "
                             "tower): heatmaps explain a classifier's class; use a classifier"
                             % loaded.name)
        vit_layer = (transformer_cam_layer(self.module)
                     if layer is None and global_pooling_layer(self.module) is None else None)
        if method == "cam" and vit_layer is not None:
            raise ValueError("Classic CAM needs conv maps with global average pooling and one "
                             "linear layer; %s is a transformer: use a gradient method "
                             "(method='gradcam', 'gradcam++', ...) or 'eigencam'"
                             % type(self.module).__name__)
        if method == "cam":
            self.fc_name = models.default_layer(self.module)
        elif method in GRADIENT_MAPS and layer is None:
            try:
                self.fc_name = models.default_layer(self.module)
            except ValueError:  # no linear classifier: gradients by backward pass
                pass
        # "none" (no gradients used), "linear head" (exact, no backward pass) or
        # "backward"; None until the first batch shows whether the head is linear.
        self.gradients = ("none" if method in ("cam", "eigencam")
                          else None if self.fc_name else "backward")
        if layer is None and vit_layer is not None:
            self.layer, self.capture = vit_layer, "output"
            if method in GRADIENT_MAPS:
                self.gradients = "backward"
        elif layer is None:
            pool = global_pooling_layer(self.module)
            if pool is None:
                raise ValueError("%s has no nn.AdaptiveAvgPool2d global pooling nor transformer "
                                 "blocks; pass layer= (a conv layer, see winnow.list_layers)"
                                 % type(self.module).__name__)
            self.layer, self.capture = pool, "input"
        else:
            self.layer, self.capture = layer, "output"
        if layer is not None and layer not in dict(self.module.named_modules()):
            raise ValueError("Layer %r not found in %s; winnow.list_layers(model) lists the "
                             "names" % (layer, type(self.module).__name__))
        self._checked = False

    def __call__(self, x, targets_fn):
        """Runs the model on ``x`` and returns ``(raw_maps (B, h, w), logits (B, K), targets)``.

        ``targets_fn(logits)`` maps the ``(B, K)`` logits to ``(B,)`` class indices.
        """
        hook = _Capture(self.module, self.layer, self.capture)
        try:
            if self.gradients != "backward":
                out = self._forward_maps(x, targets_fn, hook)
                if out is not None:
                    return out
            return self._backward_maps(x, targets_fn, hook)
        finally:
            hook.remove()

    def _forward_maps(self, x, targets_fn, hook):
        # One forward pass; None when the first batch shows the head is not linear.
        with torch.inference_mode():
            logits = self.module(x)
        maps = self._maps(hook)
        logits = logits.float()
        if self.method == "eigencam":
            return eigen_cam(maps.cpu()), logits.cpu(), targets_fn(logits)
        if self.method == "cam":
            if not self._checked and not self._linear_head_ok(maps, logits):
                raise ValueError(
                    "Classic CAM needs global average pooling followed by one linear layer; "
                    "%s's head is different at layer %r. Use method='gradcam'"
                    % (type(self.module).__name__, self.layer))
            self._checked = True
        elif self.gradients is None:
            self.gradients = "linear head" if self._linear_head_ok(maps, logits) else "backward"
            if self.gradients == "backward":
                return None
        targets = targets_fn(logits)
        weight = dict(self.module.named_modules())[self.fc_name].weight.detach().float()
        if self.method == "cam":
            raw = class_activation_maps(maps.cpu(), weight.cpu(), targets)
        else:
            idx = torch.as_tensor(targets, device=weight.device, dtype=torch.long)
            h, w = maps.shape[2:]
            grads = (weight[idx] / (h * w))[:, :, None, None].expand(maps.shape)
            raw = GRADIENT_MAPS[self.method](maps.cpu(), grads.cpu())
        return raw, logits.cpu(), targets

    def _backward_maps(self, x, targets_fn, hook):
        with torch.enable_grad():
            logits = self.module(x)
            acts = self._raw(hook)
            targets = targets_fn(logits.detach().float())
            idx = torch.as_tensor(targets, device=logits.device, dtype=torch.long)
            score = logits.gather(1, idx[:, None]).sum()
            grads, = torch.autograd.grad(score, acts)
        maps, grads = self._as_maps(acts.detach()), self._as_maps(grads)
        raw = GRADIENT_MAPS[self.method](maps.float().cpu(), grads.float().cpu())
        return raw, logits.detach().float().cpu(), targets

    def _raw(self, hook):
        value = hook.value
        if value is None:
            raise RuntimeError("Layer %r did not run in the forward pass" % self.layer)
        if not torch.is_tensor(value) or value.dim() not in (3, 4):
            raise ValueError("Layer %r gives %s, not (B, C, h, w) maps nor (B, N, D) tokens; "
                             "choose a conv layer or a transformer block"
                             % (self.layer, tuple(getattr(value, "shape", ()))))
        if value.dim() == 3 and self.method == "cam":
            raise ValueError("Classic CAM needs conv maps with global average pooling and one "
                             "linear layer; layer %r gives transformer tokens: use a gradient "
                             "method (method='gradcam', ...) or 'eigencam'" % self.layer)
        return value

    def _as_maps(self, value):
        # Tokens (B, N, D) -> (B, D, h, w) on the patch grid; conv maps unchanged.
        return models.tokens_to_maps(value, self.num_prefix) if value.dim() == 3 else value

    def _maps(self, hook):
        return self._as_maps(self._raw(hook))

    def _linear_head_ok(self, maps, logits):
        # CAM, and gradients without a backward pass, are exact only when
        # logits = mean(maps) @ W.T + b.
        fc = dict(self.module.named_modules())[self.fc_name]
        pooled = maps.float().mean(dim=(2, 3))
        if pooled.shape[1] != fc.in_features or logits.shape[1] != fc.out_features:
            return False
        expected = F.linear(pooled, fc.weight.float(), None if fc.bias is None
                            else fc.bias.float())
        return torch.allclose(expected, logits, atol=1e-3 * (1 + float(logits.abs().max())))


class SquashResize:
    """PIL image -> ``(size, size, 3)`` uint8 tensor: the whole image, no crop
    (so maps cover exactly what the App shows). Picklable for decoding workers.
    """

    def __init__(self, size):
        self.size = int(size)

    def __call__(self, img):
        from PIL import Image

        img = img.resize((self.size, self.size), Image.BILINEAR, reducing_gap=None)
        return torch.from_numpy(np.array(img.convert("RGB"), dtype=np.uint8))


def _normalize(batch, size, mean, std):
    # (B, S, S, 3) uint8 -> (B, 3, size, size) float, normalized, channels-last
    x = batch.permute(0, 3, 1, 2).float()
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False)
    m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1) * 255
    s = torch.tensor(std, device=x.device).view(1, 3, 1, 1) * 255
    return ((x - m) / s).contiguous(memory_format=torch.channels_last)


# --------------------------------------------------------------------------- dataset


class CamResults(images.ImageResults):
    """What :func:`compute_cam` did.

    Attributes:
        heatmap_field, prediction_field, boxes_field, error_field: fields written
        method, model, layer, scales, threshold, box_mode: how
        num_samples, num_mapped: samples in the view / that got a heatmap
        num_failed: samples whose image could not be read (or had no usable label)
        failures: a dict ``{reason: count}``
        run_key: the key of the run recorded on the dataset
        seconds: wall time
    """

    ATTRIBUTES = ("heatmap_field", "prediction_field", "boxes_field", "error_field",
                  "method", "model", "layer", "scales", "threshold", "box_mode",
                  "num_samples", "num_mapped", "failures", "run_key", "seconds")

    def summary(self):
        return ("%s heatmaps %r: %d/%d samples (model %s, layer %s, scales %s) in %.1f s"
                % (METHOD_NAMES.get(self.method, self.method), self.heatmap_field,
                   self.num_mapped, self.num_samples, self.model, self.layer,
                   list(self.scales), self.seconds))


def compute_cam(
    samples,
    *,
    model=models.DEFAULT_MODEL,
    method="gradcam",
    layer=None,
    target="predicted",
    heatmap_field="cam",
    prediction_field="cam_prediction",
    boxes_field="cam_boxes",
    threshold=DEFAULT_THRESHOLD,
    box_mode="largest",
    scales=None,
    map_size=DEFAULT_MAP_SIZE,
    map_dir=None,
    batch_size=32,
    num_workers=None,
    device=None,
    skip_failures=True,
    progress=None,
    weights_path=None,
    overwrite=False,
):
    """Computes a class activation heatmap, the prediction and boxes for every image.

    Each image is resized whole (no crop) to each input size in ``scales`` and
    run in batches; decoding is parallel and tolerant (an unreadable image gets
    no heatmap and its reason in ``<heatmap_field>_error``). Results are
    written in one bulk write at the end.

    Args:
        samples: a :class:`fiftyone.core.collections.SampleCollection`
        model ("efficientnet-lite0"): a classifier: a torchvision name,
            ``"timm:<name>"``, ``"zoo:<name>"`` or a FiftyOne
            ``TorchImageModel`` (its torch module is run here), a
            ``torch.nn.Module`` or a :class:`winnow.plugin.models.LoadedModel`.
            Vision transformers (torchvision, timm) work with the gradient
            methods and Eigen-CAM: their patch tokens are laid out on the
            patch grid (class and register tokens dropped), by default at the
            first LayerNorm of the last block. CLIP image towers have no
            classes and are refused
        method ("gradcam"): ``"cam"`` (classic CAM: one forward pass, no
            gradients; needs global average pooling + one linear layer); the
            gradient-weighted ``"gradcam"``, ``"gradcam++"``, ``"hirescam"``,
            ``"layercam"``, ``"xgradcam"`` (any model and conv layer; at the
            default layer of a pooling + linear head their gradients are exact
            without a backward pass, so they cost one forward pass like CAM,
            else one backward pass per batch); or ``"eigencam"`` (the first
            principal component of the maps: one forward pass, the same map
            whatever the target). The default was chosen by
            ``benchmarks/cam.py`` (ROAD): at the default layer Grad-CAM's map
            is CAM's (and HiResCAM's and XGrad-CAM's), the most faithful on
            photos there, and it also runs on heads CAM refuses
        layer (None): the conv layer whose output gives the maps; None means
            the input of the global pooling (the last conv maps)
        target ("predicted"): which class to explain: ``"predicted"``, a class
            index, a class name of the model, or the name of a
            ``fo.Classification`` field of the samples (explain the ground
            truth; a sample whose label is not a class of the model fails)
        heatmap_field ("cam"): the ``fo.Heatmap`` field (an App overlay)
        prediction_field ("cam_prediction"): the ``fo.Classification`` field
            (label, softmax confidence, logits), or None
        boxes_field ("cam_boxes"): the ``fo.Detections`` field (relative
            ``[x, y, w, h]``, labelled with the target class), or None
        threshold (0.15): boxes enclose the heatmap above this fraction of its
            max (Grad-CAM's published 15 %)
        box_mode ("largest"): ``"largest"`` connected component or ``"all"``
        scales (None): input sizes; several are combined by geometric mean,
            the target is decided at the first. None means the model's own
            input size (224 for the default and most ImageNet models)
        map_size ((64, 64)): ``(h, w)`` (or one int) of the stored maps
        map_dir (None): write the maps as 8-bit PNGs in this directory and
            store their paths (``map_path``) instead of the arrays
        batch_size (32), num_workers (None), device (None), weights_path (None):
            as in :func:`winnow.compute_embeddings`
        skip_failures (True): record and skip unreadable images; if False the
            first failure raises before anything is written
        progress (None): True/False or a ``fiftyone.report_progress`` callback
        overwrite (False): whether existing fields not written by this step
            may be overwritten

    Returns:
        a :class:`CamResults`
    """
    model_size = scales is None  # the model's own input size, once it is loaded
    scales = _validate_scales(scales)
    map_size = _validate_map_size(map_size)
    images.check_image_step(samples, batch_size=batch_size, num_workers=num_workers)
    inputs.check_choice(method, METHODS, "method")
    models.check_model(model)
    _check_boxes(threshold, box_mode, "box_mode")
    error_field = heatmap_field + "_error"
    fields = [f for f in (heatmap_field, prediction_field, boxes_field, error_field) if f]
    if len(set(fields)) != len(fields):
        raise ValueError("heatmap_field, prediction_field and boxes_field must differ; got %s"
                         % fields)
    roles = dict(heatmap=heatmap_field, prediction=prediction_field, boxes=boxes_field,
                 error=error_field)
    step = runs.Step(samples, STEP, fields={r: f for r, f in roles.items() if f},
                     overwrite=overwrite)
    ids, filepaths = samples.values(["id", "filepath"])

    loaded = models.load_model(model, weights_path=weights_path, device=device)
    if model_size and isinstance(loaded.transforms, models.ImagePreprocess):
        scales = [loaded.transforms.size]
    classes = loaded.classes
    label_targets = _resolve_target(samples, target, classes)
    target_index = target if target == "predicted" or label_targets is not None else \
        _class_index(target, classes)
    cam_model = CamModel(loaded, method=method, layer=layer)
    if map_dir is not None:
        os.makedirs(map_dir, exist_ok=True)

    maps, logits, targets, errors = _map_files(
        filepaths, loaded, cam_model, target_index, label_targets, scales, map_size, batch_size,
        num_workers, skip_failures, progress)

    heat, preds, boxes = {}, {}, {}
    for i, sid in enumerate(ids):
        if i in errors:
            heat[sid] = preds[sid] = boxes[sid] = None
            continue
        heat[sid] = _heatmap(maps[i], map_dir, sid)
        probs = _softmax(logits[i])
        k = int(np.argmax(logits[i]))
        preds[sid] = fol.Classification(label=_class_name(classes, k),
                                        confidence=float(probs[k]),
                                        logits=logits[i].astype(np.float32))
        name = _class_name(classes, int(targets[i]))
        boxes[sid] = fol.Detections(detections=[
            fol.Detection(label=name, bounding_box=box, confidence=score)
            for box, score in boxes_from_heatmap(maps[i], threshold=threshold,
                                                 mode=box_mode)])
    error_values = {sid: errors.get(i) for i, sid in enumerate(ids)}

    # One bulk write per field, after every image was processed. Fields are declared:
    # an all-None column has no inferable type.
    with step.writing():
        for field, values, doc_type in ((heatmap_field, heat, fol.Heatmap),
                                        (prediction_field, preds, fol.Classification),
                                        (boxes_field, boxes, fol.Detections)):
            if field:
                inputs.declare_field(samples, field, fof.EmbeddedDocumentField,
                                     embedded_doc_type=doc_type)
                samples.set_values(field, values, key_field="id")
        inputs.declare_field(samples, error_field, fof.StringField)
        samples.set_values(error_field, error_values, key_field="id")

    failures = collections.Counter(errors.values())
    num_mapped = len(ids) - len(errors)
    params = dict(model=loaded.name, weights=loaded.weights, method=method,
                  layer=cam_model.layer, layer_capture=cam_model.capture,
                  gradients=cam_model.gradients,
                  target=target if isinstance(target, (str, int)) else str(target),
                  heatmap_field=heatmap_field, prediction_field=prediction_field,
                  boxes_field=boxes_field, threshold=threshold, box_mode=box_mode,
                  scales=list(scales), map_size=list(map_size), map_dir=map_dir,
                  batch_size=batch_size)
    counts = dict(samples=len(ids), mapped=num_mapped, failed=len(errors))
    key = step.record(params, counts)

    return CamResults(
        heatmap_field=heatmap_field, prediction_field=prediction_field,
        boxes_field=boxes_field, error_field=error_field, method=method, model=loaded.name,
        layer=cam_model.layer, scales=scales, threshold=threshold, box_mode=box_mode,
        num_samples=len(ids), num_mapped=num_mapped, failures=dict(failures), run_key=key,
        seconds=step.seconds)


def cam_images(filepaths, *, model=models.DEFAULT_MODEL, method="gradcam", layer=None,
               target="predicted", scales=None, map_size=DEFAULT_MAP_SIZE, batch_size=32,
               num_workers=None, device=None, progress=False):
    """Array-level heatmaps of image files (no dataset involved).

    Args:
        filepaths: a list of N image paths
        target: ``"predicted"``, a class index or name, or a list of N indices

    Returns:
        a tuple ``(maps, logits, targets, errors)``: ``(N, h, w)`` maps in
        [0, 1], ``(N, K)`` logits, ``(N,)`` target indices (rows of failed
        images are zeros) and a dict ``{i: reason}``
    """
    filepaths = list(filepaths)
    loaded = models.load_model(model, device=device)
    label_targets = None
    if isinstance(target, (list, tuple, np.ndarray)):
        label_targets = [int(t) for t in target]
        target = "__labels__"
    elif target != "predicted":
        target = _class_index(target, loaded.classes)
    cam_model = CamModel(loaded, method=method, layer=layer)
    return _map_files(filepaths, loaded, cam_model, target, label_targets,
                      _validate_scales(scales), _validate_map_size(map_size), batch_size,
                      num_workers, True, progress)


def _map_files(filepaths, loaded, cam_model, target, label_targets, scales, map_size,
               batch_size, num_workers, skip_failures, progress):
    device = next(loaded.module.parameters()).device
    loaded.module.to(memory_format=torch.channels_last)
    mean, std = _mean_std(loaded.transforms)
    n = len(filepaths)
    maps = np.zeros((n,) + tuple(map_size), dtype=np.float32)
    logits_all = None
    targets_all = np.zeros(n, dtype=np.int64)
    errors = {}
    with fou.ProgressBar(total=n, progress=progress) as pb:
        for indices, batch, failures in images.iter_batches(
            filepaths, SquashResize(max(scales)), batch_size=batch_size,
            num_workers=num_workers, draft_size=(2 * max(scales),) * 2,
        ):
            images.record_failures(failures, filepaths, errors, skip_failures=skip_failures)
            done = len(indices) + len(failures)
            if batch is not None:
                indices, batch = _drop_unlabeled(indices, batch, label_targets, errors)
            if batch is not None and len(indices):
                batch = batch.to(device, non_blocking=True)
                per_scale, targets, logits = [], None, None
                for s, size in enumerate(scales):
                    x = _normalize(batch, size, mean, std)
                    fn = _targets_fn(target, label_targets, indices, fixed=targets)
                    raw, lg, tg = cam_model(x, fn)
                    if s == 0:
                        logits, targets = lg.numpy(), np.asarray(tg)
                    per_scale.append(normalize_maps(raw))
                if logits_all is None:
                    logits_all = np.zeros((n, logits.shape[1]), dtype=np.float32)
                maps[indices] = combine_scales(per_scale, map_size)
                logits_all[indices] = logits
                targets_all[indices] = targets
            pb.update(count=done)
    if logits_all is None:
        logits_all = np.zeros((n, 0), dtype=np.float32)
    return maps, logits_all, targets_all, errors


def _drop_unlabeled(indices, batch, label_targets, errors):
    # With a label field as target, a sample without a usable label fails alone.
    if label_targets is None:
        return indices, batch
    keep = []
    for j, i in enumerate(indices):
        if isinstance(label_targets[i], str):
            errors[i] = label_targets[i]
        else:
            keep.append(j)
    if not keep:
        return [], None
    return [indices[j] for j in keep], batch[keep]


def _targets_fn(target, label_targets, indices, fixed=None):
    def fn(logits):
        if fixed is not None:
            return fixed
        if label_targets is not None:
            return np.array([label_targets[i] for i in indices], dtype=np.int64)
        if target == "predicted":
            return logits.argmax(dim=1).cpu().numpy()
        return np.full(len(logits), int(target), dtype=np.int64)
    return fn


def _resolve_target(samples, target, classes):
    """Returns per-sample class indices (or error strings) when ``target`` is a
    label field, else None (and validates class names/indices).
    """
    if isinstance(target, str) and target != "predicted":
        schema = samples.get_field_schema()
        if target in schema:
            try:
                labels = inputs.label_field(samples, target, param="target",
                                            kinds=("classification",))
            except ValueError:
                raise ValueError("target field %r must be an fo.Classification field; it is %s"
                                 % (target, type(schema[target]).__name__)) from None
            if classes is None:
                raise ValueError("The model has no class names, so labels of %r can't be "
                                 "matched; pass a class index" % target)
            lookup = {c: k for k, c in enumerate(classes)}
            out = []
            for label in labels.clean(samples.values(labels.path)):
                if label is None:
                    out.append("no label in field %r" % target)
                elif label not in lookup:
                    out.append("label %r of field %r is not a class of the model"
                               % (label, target))
                else:
                    out.append(lookup[label])
            return out
    if target != "predicted":
        _class_index(target, classes)
    return None


def _class_index(target, classes):
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if classes is not None and not 0 <= int(target) < len(classes):
            raise ValueError("target index %d is out of range (the model has %d classes)"
                             % (target, len(classes)))
        return int(target)
    if isinstance(target, str):
        if classes is None or target not in classes:
            raise ValueError("target %r is not 'predicted', a class name of the model nor a "
                             "Classification field of the samples" % target)
        return classes.index(target)
    raise ValueError("target must be 'predicted', a class index, a class name or a label "
                     "field; got %r" % (target,))


def _class_name(classes, k):
    return classes[k] if classes is not None and k < len(classes) else str(k)


def _softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def _heatmap(m, map_dir, sid):
    if map_dir is None:
        return fol.Heatmap(map=m.astype(np.float32), range=[0, 1])
    from PIL import Image

    path = os.path.join(os.path.abspath(map_dir), "%s.png" % sid)
    Image.fromarray(np.round(m * 255).astype(np.uint8)).save(path)
    return fol.Heatmap(map_path=path, range=[0, 255])


def _mean_std(transforms):
    if isinstance(transforms, models.ImagePreprocess):
        return transforms.mean, transforms.std
    # A torchvision Compose (FiftyOne zoo models' transforms): its Normalize step
    for t in getattr(transforms, "transforms", None) or []:
        if type(t).__name__ == "Normalize" and hasattr(t, "mean") and hasattr(t, "std"):
            return tuple(float(m) for m in t.mean), tuple(float(v) for v in t.std)
    return models.IMAGENET_MEAN, models.IMAGENET_STD


def _validate_scales(scales):
    if scales is None:
        return [224]
    if isinstance(scales, int):
        scales = [scales]
    scales = list(scales)
    if not scales or not all(isinstance(s, int) and 32 <= s <= 2048 for s in scales):
        raise ValueError("scales must be input sizes (integers in [32, 2048]); got %r" % (scales,))
    return scales


def _validate_map_size(map_size):
    if isinstance(map_size, int):
        map_size = (map_size, map_size)
    try:
        h, w = (int(v) for v in map_size)
    except (TypeError, ValueError):
        raise ValueError("map_size must be an int or (h, w); got %r" % (map_size,))
    if not (4 <= h <= 1024 and 4 <= w <= 1024):
        raise ValueError("map_size must be between 4 and 1024 px; got %r" % (map_size,))
    return (h, w)


def _check_boxes(threshold, box_mode, mode_name):
    if (isinstance(threshold, bool) or not isinstance(threshold, numbers.Real)
            or not 0 <= threshold < 1):
        raise ValueError("threshold must be a fraction in [0, 1); got %r" % (threshold,))
    inputs.check_choice(box_mode, BOX_MODES, mode_name)
