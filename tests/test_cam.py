"""CAM heatmaps, boxes, pretrained tags and NMF topics on real photographs and real weights.

Reference regions were measured by hand on the full-size scikit-image photos
(pixel boxes ``(x0, y0, x1, y1)``, looked at on a 50 px grid):

- ``chelsea`` (451 × 300): the cat's head fills the left ~5/6 of the frame
  (x 30-380, ears to chin); its face (eyes, nose, cheeks) is x 90-360,
  y 60-290; to the right of the head, x 395-451, y 60-300, is blurred
  background.
- ``coffee`` (600 × 400): the cup with its handle is x 172-410, y 18-305; with
  the saucer x 75-480, y 18-392; the rest is wooden table.
"""

import os

import numpy as np
import pytest

import fiftyone as fo

import winnow
from winnow.plugin import cam as wcam

from conftest import unique_name

CHELSEA_SIZE, COFFEE_SIZE = (451, 300), (600, 400)
CAT_HEAD = (30, 0, 380, 300)
CAT_FACE = (90, 60, 360, 290)
CAT_BACKGROUND = (395, 60, 451, 300)
CUP = (172, 18, 410, 305)
CUP_AND_SAUCER = (75, 18, 480, 392)
CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat", "lynx"}
CUP_CLASSES = {"espresso", "cup", "coffee mug"}


# ------------------------------------------------------------------ helpers


def to_pixels(rel_box, size):
    x, y, w, h = rel_box
    W, H = size
    return (x * W, y * H, (x + w) * W, (y + h) * H)


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def covered(inner, outer):
    """The fraction of ``inner`` inside ``outer``."""
    ix = max(0, min(inner[2], outer[2]) - max(inner[0], outer[0]))
    iy = max(0, min(inner[3], outer[3]) - max(inner[1], outer[1]))
    return ix * iy / ((inner[2] - inner[0]) * (inner[3] - inner[1]))


def peak_pixel(heatmap, size):
    """The image pixel at the center of the heatmap's hottest cell."""
    h, w = heatmap.shape
    y, x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    return ((x + 0.5) / w * size[0], (y + 0.5) / h * size[1])


def inside(point, region):
    return region[0] <= point[0] <= region[2] and region[1] <= point[1] <= region[3]


def region_mean(heatmap, region, size):
    h, w = heatmap.shape
    x0, y0, x1, y1 = region
    cols = slice(int(x0 / size[0] * w), int(np.ceil(x1 / size[0] * w)))
    rows = slice(int(y0 / size[1] * h), int(np.ceil(y1 / size[1] * h)))
    return float(heatmap[rows, cols].mean())


def mean_outside(heatmap, region, size):
    h, w = heatmap.shape
    mask = np.ones_like(heatmap, dtype=bool)
    x0, y0, x1, y1 = region
    mask[int(y0 / size[1] * h):int(np.ceil(y1 / size[1] * h)),
         int(x0 / size[0] * w):int(np.ceil(x1 / size[0] * w))] = False
    return float(heatmap[mask].mean())


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def cam_dataset(photos, tmp_path_factory):
    """Four photos + a truncated JPEG + a missing file, with CAM computed once."""
    broken_dir = tmp_path_factory.mktemp("broken")
    truncated = str(broken_dir / "truncated.jpg")
    with open(photos["chelsea"], "rb") as f:
        data = f.read()
    with open(truncated, "wb") as f:
        f.write(data[:200])
    missing = str(broken_dir / "missing.jpg")

    ds = fo.Dataset(unique_name("winnow-test-cam"))
    ds.add_samples([fo.Sample(filepath=p, name=n) for n, p in photos.items()]
                   + [fo.Sample(filepath=truncated, name="truncated"),
                      fo.Sample(filepath=missing, name="missing")], progress=False)
    results = winnow.compute_cam(ds, progress=False, num_workers=0)
    yield ds, results
    if fo.dataset_exists(ds.name):
        fo.delete_dataset(ds.name)


def sample(ds, name):
    return ds.match(fo.ViewField("name") == name).first()


# ------------------------------------------------------------------ array level


def test_boxes_from_heatmap_components():
    m = np.zeros((10, 20), dtype=np.float32)
    m[1:4, 2:6] = 1.0    # 12 px, peak 1.0
    m[5:10, 10:20] = 0.5  # 50 px, peak 0.5: the largest
    m[0, 19] = 0.1        # under 15 % of the max
    largest = winnow.boxes_from_heatmap(m)
    assert len(largest) == 1
    box, score = largest[0]
    np.testing.assert_allclose(box, [10 / 20, 5 / 10, 10 / 20, 5 / 10])
    assert score == pytest.approx(0.5)
    both = winnow.boxes_from_heatmap(m, mode="all")
    assert [s for _, s in both] == [pytest.approx(1.0), pytest.approx(0.5)]
    np.testing.assert_allclose(both[0][0], [2 / 20, 1 / 10, 4 / 20, 3 / 10])
    assert len(winnow.boxes_from_heatmap(m, threshold=0.05, mode="all")) == 3
    assert winnow.boxes_from_heatmap(np.zeros((4, 4))) == []
    with pytest.raises(ValueError, match="mode"):
        winnow.boxes_from_heatmap(m, mode="biggest")
    with pytest.raises(ValueError, match="threshold"):
        winnow.boxes_from_heatmap(m, threshold=1.5)


def test_cam_is_the_class_weights_over_the_maps():
    rng = np.random.default_rng(0)
    maps = rng.random((2, 3, 4, 5)).astype(np.float32)
    weight = rng.normal(size=(7, 3)).astype(np.float32)
    out = wcam.class_activation_maps(maps, weight, [6, 1])
    assert out.shape == (2, 4, 5)
    np.testing.assert_allclose(out[0], np.tensordot(weight[6], maps[0], axes=1), rtol=1e-5)
    np.testing.assert_allclose(out[1], np.tensordot(weight[1], maps[1], axes=1), rtol=1e-5)
    # Grad-CAM of a pooled linear score has gradient w / (h w): the same map, ReLU'd.
    grads = np.ascontiguousarray(np.broadcast_to(weight[[6, 1], :, None, None] / 20, maps.shape))
    np.testing.assert_allclose(wcam.grad_cam(maps, grads) * 20, np.maximum(out, 0), rtol=1e-4,
                               atol=1e-6)
    norm = wcam.normalize_maps(out)
    assert norm.min() >= 0 and norm.max() == pytest.approx(1.0)


# ------------------------------------------------------------------ must show


def test_chelsea_cam_peaks_on_the_cat(cam_dataset):
    ds, _ = cam_dataset
    s = sample(ds, "chelsea")
    assert s.cam_prediction.label in CAT_CLASSES
    assert len(s.cam_prediction.logits) == 1000
    heat = s.cam.map
    assert heat.shape == (64, 64) and s.cam.range == [0, 1]
    assert heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    assert inside(peak_pixel(heat, CHELSEA_SIZE), CAT_FACE)
    assert region_mean(heat, CAT_FACE, CHELSEA_SIZE) > 3 * region_mean(
        heat, CAT_BACKGROUND, CHELSEA_SIZE)
    [det] = s.cam_boxes.detections
    assert det.label == s.cam_prediction.label
    box = to_pixels(det.bounding_box, CHELSEA_SIZE)
    assert covered(CAT_FACE, box) > 0.95
    assert iou(box, CAT_HEAD) > 0.7


def test_coffee_cam_peaks_on_the_cup(cam_dataset):
    ds, _ = cam_dataset
    s = sample(ds, "coffee")
    assert s.cam_prediction.label in CUP_CLASSES
    heat = s.cam.map
    assert inside(peak_pixel(heat, COFFEE_SIZE), CUP)
    assert region_mean(heat, CUP, COFFEE_SIZE) > 3 * mean_outside(
        heat, CUP_AND_SAUCER, COFFEE_SIZE)
    [det] = s.cam_boxes.detections
    box = to_pixels(det.bounding_box, COFFEE_SIZE)
    assert covered(CUP, box) > 0.95
    assert iou(box, CUP_AND_SAUCER) > 0.6


def test_boxes_lie_inside_the_image(cam_dataset):
    ds, _ = cam_dataset
    n = 0
    for dets in ds.exists("cam_boxes").values("cam_boxes"):
        for d in dets.detections:
            x, y, w, h = d.bounding_box
            assert 0 <= x and 0 <= y and w > 0 and h > 0
            assert x + w <= 1 + 1e-9 and y + h <= 1 + 1e-9
            assert 0 < d.confidence <= 1
            n += 1
    assert n >= 4


def test_broken_images_are_skipped_with_the_reason(cam_dataset):
    ds, results = cam_dataset
    assert results.num_samples == 6 and results.num_mapped == 4
    assert sample(ds, "missing").cam is None
    assert "file not found" in sample(ds, "missing").cam_error
    truncated = sample(ds, "truncated")
    assert truncated.cam is None and truncated.cam_prediction is None
    assert truncated.cam_error
    assert sample(ds, "chelsea").cam_error is None
    assert sum(results.failures.values()) == 2
    run = winnow.get_run(ds, results.run_key)
    assert run["counts"] == dict(samples=6, mapped=4, failed=2)
    # The default, Grad-CAM, took its gradients from the linear head: no backward pass.
    assert run["params"]["method"] == "gradcam"
    assert run["params"]["gradients"] == "linear head"
    assert set(run["fields"]) == {"cam", "cam_prediction", "cam_boxes", "cam_error"}


def test_heatmap_field_is_an_app_overlay(cam_dataset):
    # The App draws fo.Heatmap label fields as overlays in the grid and the modal.
    ds, _ = cam_dataset
    field = ds.get_field_schema()["cam"]
    assert isinstance(field, fo.EmbeddedDocumentField)
    assert field.document_type is fo.Heatmap
    assert ds.get_field_schema()["cam_boxes"].document_type is fo.Detections
    assert "cam" in ds._get_label_fields()


def test_cam_and_gradcam_agree_where_they_peak(photos):
    paths = [photos["chelsea"], photos["coffee"]]
    cam, logits, targets, errors = wcam.cam_images(paths, method="cam", num_workers=0)
    assert not errors
    # At the pooling input Grad-CAM's weights are w / (h w): exactly CAM.
    same, _, same_targets, _ = wcam.cam_images(paths, method="gradcam", num_workers=0)
    np.testing.assert_array_equal(same_targets, targets)
    np.testing.assert_allclose(same, cam, atol=1e-4)
    # At another layer (the last MBConv block, before the 1x1 head conv) the maps
    # differ but the hottest places agree.
    grad, _, grad_targets, _ = wcam.cam_images(paths, method="gradcam", layer="_blocks.15",
                                               num_workers=0)
    np.testing.assert_array_equal(grad_targets, targets)
    for a, b, size, region in zip(cam, grad, [CHELSEA_SIZE, COFFEE_SIZE], [CAT_FACE, CUP]):
        assert not np.allclose(a, b, atol=1e-2)
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.8
        pa, pb = np.unravel_index(a.argmax(), a.shape), np.unravel_index(b.argmax(), b.shape)
        assert a[pb] > 0.8 and b[pa] > 0.8  # each peak is hot in the other map
        assert inside(peak_pixel(b, size), region)


GRADIENT_METHODS = ("gradcam++", "hirescam", "layercam", "xgradcam")
NEW_METHODS = GRADIENT_METHODS + ("eigencam",)


@pytest.fixture(scope="module")
def pool_model():
    """The default model with an nn.Identity in front of its global pooling, so
    pytorch-grad-cam can hook the very maps Winnow reads by default."""
    import copy

    from torch import nn

    from winnow.plugin import models

    loaded = models.load_model(models.DEFAULT_MODEL)
    module = copy.deepcopy(loaded.module).eval()
    module._avg_pooling = nn.Sequential(nn.Identity(), module._avg_pooling)
    return models.LoadedModel(loaded.name, module, loaded.transforms, loaded.classes,
                              loaded.weights)


def _winnow_inputs(paths, loaded):
    # The tensors compute_cam feeds the model: whole image squashed to 224, normalized.
    import torch
    from PIL import Image

    batch = torch.stack([wcam.SquashResize(224)(Image.open(p)) for p in paths])
    mean, std = wcam._mean_std(loaded.transforms)
    return wcam._normalize(batch, 224, mean, std)


@pytest.mark.parametrize("layer", [None, "_blocks.15"])
def test_methods_match_pytorch_grad_cam(pool_model, photos, layer):
    # Each method against the reference library on the same layer, inputs and targets:
    # at the pooling input Winnow's gradients come without a backward pass
    # ("linear head"), at an inner block by one ("backward"); both must match.
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    paths = [photos["chelsea"], photos["coffee"], photos["astronaut"],
             os.path.join(os.path.dirname(__file__), "..", "data", "demo", "fashion",
                          "fmnist_00000.png")]
    x = _winnow_inputs(paths, pool_model)
    module = pool_model.module
    target_layer = module._avg_pooling[0] if layer is None else dict(
        module.named_modules())[layer]
    reference = {"gradcam++": pgc.GradCAMPlusPlus, "hirescam": pgc.HiResCAM,
                 "layercam": pgc.LayerCAM, "xgradcam": pgc.XGradCAM, "eigencam": pgc.EigenCAM}
    for method, cls in reference.items():
        cam_model = wcam.CamModel(pool_model, method=method, layer=layer)
        raw, logits, targets = cam_model(x, lambda lg: lg.argmax(dim=1).numpy())
        ours = wcam.combine_scales([wcam.normalize_maps(raw)], (224, 224))
        with cls(model=module, target_layers=[target_layer]) as ref_cam:
            ref = ref_cam(input_tensor=x,
                          targets=[ClassifierOutputTarget(int(k)) for k in targets])
        expected = ("none" if method == "eigencam" else
                    "linear head" if layer is None else "backward")
        assert cam_model.gradients == expected, method
        if method == "eigencam" and layer is not None:
            # Signed maps: the component's sign is the SVD's in pytorch-grad-cam and
            # Winnow's rule (loadings sum > 0) here; compare with either sign.
            ref = np.stack([_eigen_reference(module, target_layer, x, sign) for sign in (1, -1)],
                           axis=1)
            for a, both in zip(ours, ref):
                r = max(np.corrcoef(a.ravel(), b.ravel())[0, 1] for b in both)
                assert r > 0.999, method
            continue
        for a, b in zip(ours, ref):
            assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.999, method


def _eigen_reference(module, layer, x, sign):
    # pytorch-grad-cam's projection of the layer's activations, with the given sign.
    import torch
    from pytorch_grad_cam.utils.image import scale_cam_image
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

    seen = []
    handle = layer.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    try:
        with torch.no_grad():
            module(x)
    finally:
        handle.remove()
    proj = get_2d_projection(seen[-1].float().numpy())
    return scale_cam_image(np.maximum(sign * proj, 0), (224, 224))


def test_gradient_methods_differ_where_their_formulas_do():
    rng = np.random.default_rng(1)
    acts = rng.random((2, 6, 5, 4)).astype(np.float32)
    grads = rng.normal(size=(2, 6, 5, 4)).astype(np.float32)
    # Spatially constant gradients (a pooled linear score): HiResCAM = XGrad-CAM = Grad-CAM.
    flat = np.ascontiguousarray(np.broadcast_to(grads[:, :, :1, :1], acts.shape))
    np.testing.assert_allclose(wcam.hires_cam(acts, flat), wcam.grad_cam(acts, flat),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(wcam.xgrad_cam(acts, flat), wcam.grad_cam(acts, flat),
                               rtol=1e-4, atol=1e-6)
    # LayerCAM and Grad-CAM++ ignore channels whose gradients are all negative.
    neg = grads.copy()
    neg[:, 0] = -np.abs(neg[:, 0])
    for fn in (wcam.layer_cam, wcam.grad_cam_plus_plus):
        loud = acts.copy()
        loud[:, 0] *= 100
        np.testing.assert_allclose(fn(loud, neg), fn(acts, neg), rtol=1e-4, atol=1e-6)
        assert not np.allclose(wcam.grad_cam(loud, neg), wcam.grad_cam(acts, neg))
    # Eigen-CAM's sign follows the activations: a blob of activation is the hot spot.
    blob = np.zeros((1, 8, 6, 6), dtype=np.float32)
    blob[0, :, 1:3, 3:5] = rng.random((8, 1, 1)) + 1
    blob += 0.01 * rng.random(blob.shape).astype(np.float32)
    eig = wcam.eigen_cam(blob)[0]
    assert np.unravel_index(eig.argmax(), eig.shape)[0] in (1, 2) and eig[5, 0] == 0
    with pytest.raises(ValueError, match="B, C, h, w"):
        wcam.layer_cam(acts, grads[:, :3])


@pytest.mark.parametrize("method", NEW_METHODS)
def test_new_methods_peak_inside_the_object(pool_model, photos, method):
    maps, logits, targets, errors = wcam.cam_images(
        [photos["chelsea"], photos["coffee"]], model=pool_model, method=method, num_workers=0)
    assert not errors
    cat, cup = maps
    assert cat.max() == pytest.approx(1.0) and cup.max() == pytest.approx(1.0)
    assert inside(peak_pixel(cat, CHELSEA_SIZE), CAT_FACE), method
    assert inside(peak_pixel(cup, COFFEE_SIZE), CUP), method
    assert region_mean(cup, CUP, COFFEE_SIZE) > 2 * mean_outside(cup, CUP_AND_SAUCER,
                                                                 COFFEE_SIZE), method


def test_gradient_methods_without_a_linear_head_use_a_backward_pass(make_dataset, photos):
    # MobileNetV3's head is not pooling + one linear layer: classic CAM refuses it
    # (above), the gradient methods fall back to a backward pass, recorded.
    import torch
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=4).eval()
    ds = make_dataset([fo.Sample(filepath=photos["coffee"]), fo.Sample(filepath=photos["rocket"])])
    res = winnow.compute_cam(ds, model=net, method="gradcam++", heatmap_field="pp",
                             prediction_field=None, boxes_field=None, progress=False,
                             num_workers=0)
    assert res.num_mapped == 2 and "Grad-CAM++" in res.summary()
    run = winnow.get_run(ds, res.run_key)
    assert run["params"]["method"] == "gradcam++"
    assert run["params"]["gradients"] == "backward"
    assert all(h.map.shape == (64, 64) and h.map.max() <= 1 for h in ds.values("pp"))
    res = winnow.compute_cam(ds, method="layercam", heatmap_field="lc", prediction_field=None,
                             boxes_field=None, progress=False, num_workers=0)
    assert winnow.get_run(ds, res.run_key)["params"]["gradients"] == "linear head"


def test_target_class_name_and_label_field(make_dataset, photos):
    ds = make_dataset([
        fo.Sample(filepath=photos["coffee"], gt=fo.Classification(label="espresso")),
        fo.Sample(filepath=photos["chelsea"], gt=fo.Classification(label="not an imagenet class")),
    ])
    res = winnow.compute_cam(ds, target="gt", heatmap_field="gt_cam", prediction_field=None,
                             boxes_field="gt_boxes", progress=False, num_workers=0)
    assert res.num_mapped == 1
    coffee, cat = ds.first(), ds.last()
    assert coffee.gt_boxes.detections[0].label == "espresso"
    assert "not a class of the model" in cat.gt_cam_error and cat.gt_cam is None
    assert "cam_prediction" not in ds.get_field_schema()

    # A class name explains that class, whatever the prediction.
    winnow.compute_cam(ds.skip(1), target="tabby", heatmap_field="tabby_cam",
                       prediction_field="tabby_pred", boxes_field="tabby_boxes",
                       progress=False, num_workers=0)
    cat = ds.last()
    assert cat.tabby_pred.label != "tabby"  # the model's first choice is another cat class
    assert [d.label for d in cat.tabby_boxes.detections] == ["tabby"]
    assert inside(peak_pixel(cat.tabby_cam.map, CHELSEA_SIZE), CAT_FACE)
    with pytest.raises(ValueError, match="not 'predicted'"):
        winnow.compute_cam(ds, target="unicorn", heatmap_field="x", progress=False)


def test_multiscale_and_png_maps(make_dataset, photos, tmp_path):
    ds = make_dataset([fo.Sample(filepath=photos["coffee"])])
    winnow.compute_cam(ds, scales=[224, 320], map_dir=str(tmp_path), map_size=(40, 60),
                       box_mode="all", progress=False, num_workers=0)
    s = ds.first()
    assert s.cam.map is None and os.path.isfile(s.cam.map_path)
    from PIL import Image

    heat = np.asarray(Image.open(s.cam.map_path), dtype=np.float32) / 255
    assert heat.shape == (40, 60) and s.cam.range == [0, 255]
    assert inside(peak_pixel(heat, COFFEE_SIZE), CUP)
    assert len(s.cam_boxes.detections) >= 1


def test_validation_writes_nothing(make_dataset, photos):
    ds = make_dataset([fo.Sample(filepath=photos["coffee"], cam=fo.Classification(label="x"))])
    with pytest.raises(ValueError, match="already exists"):
        winnow.compute_cam(ds, progress=False)
    with pytest.raises(ValueError, match="method"):
        winnow.compute_cam(ds, heatmap_field="h", method="saliency")
    with pytest.raises(ValueError, match="threshold"):
        winnow.compute_cam(ds, heatmap_field="h", threshold=15)
    # ResNet-like heads are fine; a non-linear head (MobileNetV3) is refused for classic CAM
    import torchvision

    net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=4)
    with pytest.raises(ValueError, match="gradcam"):
        winnow.compute_cam(ds, model=net, method="cam", heatmap_field="h", progress=False,
                           num_workers=0)
    ds.add_sample(fo.Sample(filepath=photos["coffee"] + ".missing.jpg"))
    with pytest.raises(RuntimeError, match="file not found"):
        winnow.compute_cam(ds, heatmap_field="h", skip_failures=False, progress=False,
                           num_workers=0)
    assert not {"h", "h_error", "cam_prediction"} & set(ds.get_field_schema())
    assert winnow.list_runs(ds) == []


def test_delete_run_removes_exactly_the_cam_fields(make_dataset, photos):
    ds = make_dataset([fo.Sample(filepath=photos["rocket"], note="mine")])
    res = winnow.compute_cam(ds, progress=False, num_workers=0)
    assert {"cam", "cam_prediction", "cam_boxes", "cam_error"} <= set(ds.get_field_schema())
    winnow.compute_cam(ds, progress=False, num_workers=0)  # a re-run replaces its own fields
    assert len(winnow.list_runs(ds)) == 1
    winnow.delete_run(ds, res.run_key)
    schema = set(ds.get_field_schema())
    assert not {"cam", "cam_prediction", "cam_boxes", "cam_error"} & schema
    assert "note" in schema


# ------------------------------------------------------------------ tags and topics


def test_tags_and_topics_are_written_readable_and_replaced(make_dataset, photos, tmp_path):
    missing = str(tmp_path / "missing.jpg")
    ds = make_dataset([fo.Sample(filepath=p, name=n) for n, p in photos.items()]
                      + [fo.Sample(filepath=missing, name="missing")])
    res = winnow.tag_with_pretrained(ds, k=5, progress=False, num_workers=0)
    assert res.num_tagged == 4 and res.num_failed == 1
    chelsea = sample(ds, "chelsea").pretrained_tags.classifications
    assert len(chelsea) == 5
    assert chelsea[0].label in CAT_CLASSES
    confs = [c.confidence for c in chelsea]
    assert confs == sorted(confs, reverse=True) and 0 < sum(confs) <= 1 + 1e-6
    assert sample(ds, "coffee").pretrained_tags.classifications[0].label in CUP_CLASSES
    assert "file not found" in sample(ds, "missing").pretrained_tags_error

    topics = winnow.extract_topics(ds, n_topics=3)
    assert topics.n_topics == 3
    s = sample(ds, "chelsea")
    assert s.topic.label.startswith("t") and ":" in s.topic.label
    assert any(w in s.topic.label for w in CAT_CLASSES)  # named by readable tags
    assert len(s.topic_weights) == 3 and s.topic_weights.sum() == pytest.approx(1, abs=1e-5)
    assert sample(ds, "missing").topic is None
    recorded = winnow.get_topics(ds)
    assert [t["name"] for t in recorded] == [t["name"] for t in topics.topics]
    assert all(isinstance(w, str) and 0 < x for t in recorded for w, x in t["words"])

    # Re-running replaces: same field, same counts, one run record per step.
    winnow.tag_with_pretrained(ds, k=3, progress=False, num_workers=0)
    assert len(sample(ds, "chelsea").pretrained_tags.classifications) == 3
    winnow.extract_topics(ds, n_topics=2)
    assert len(sample(ds, "chelsea").topic_weights) == 2
    assert len(winnow.get_topics(ds)) == 2
    methods = [r["method"] for r in winnow.list_runs(ds)]
    assert sorted(methods) == ["pretrained_tags", "topics"]
    assert ds.count("pretrained_tags.classifications") == 4 * 3
    schema = ds.get_field_schema()
    assert schema["pretrained_tags"].document_type is fo.Classifications
    assert schema["topic"].document_type is fo.Classification


def test_topics_need_tags(make_dataset, photos):
    ds = make_dataset([fo.Sample(filepath=photos["coffee"])])
    with pytest.raises(ValueError, match="tag_with_pretrained"):
        winnow.extract_topics(ds)
    with pytest.raises(ValueError, match="n_topics"):
        winnow.extract_topics(ds, n_topics=0)


# ------------------------------------------------------------------ operators


def _op_context(dataset, uri, params):
    from fiftyone.operators.executor import ExecutionContext, Executor

    return ExecutionContext(request_params=dict(dataset_name=dataset.name, params=params),
                            executor=Executor(), operator_uri=uri)


def test_operators_forms_progress_and_delegation(make_dataset, photos):
    import fiftyone.operators as foo
    from fiftyone.operators.delegated import DelegatedOperationService
    from fiftyone.operators.registry import OperatorRegistry

    registry = OperatorRegistry()
    uris = {op.uri for op in registry.list_operators(builtin=False)}
    cam_uri, tag_uri, topic_uri = ("@winnow/curation/" + n for n in
                                   ("compute_cam", "tag_with_pretrained", "extract_topics"))
    assert {cam_uri, tag_uri, topic_uri} <= uris

    ds = make_dataset([fo.Sample(filepath=photos[n], name=n,
                                 gt=fo.Classification(label="espresso"))
                       for n in ("coffee", "chelsea")])
    # CAM form and immediate run with progress
    ctx = _op_context(ds, cam_uri, dict(heatmap_field="op_cam", boxes_field="op_boxes",
                                        prediction_field="", target="gt", scales="224",
                                        map_size=32, batch_size=2))
    op = foo.get_operator(cam_uri)
    form = op.resolve_type(ctx, "inputs").type.properties
    assert {"model", "method", "layer", "target", "heatmap_field", "threshold", "box_mode",
            "scales", "map_dir", "view_target"} <= set(form)
    assert "gt" in [c.value for c in form["target"].view.choices]
    assert [c.value for c in form["method"].view.choices] == list(wcam.METHODS)
    messages = list(op.execute(ctx))
    progress = [m.body.params["progress"] for m in messages
                if m.body.operator_uri.endswith("set_progress")]
    assert progress and progress[-1] == 1
    assert ds.count("op_cam") == 2 and ds.first().op_cam.map.shape == (32, 32)
    assert set(ds.values("op_boxes.detections.label", unwind=True)) == {"espresso"}
    assert "op_cam_prediction" not in ds.get_field_schema() and "cam_prediction" not in \
        ds.get_field_schema()

    # Tags then topics, immediate
    tag_op = foo.get_operator(tag_uri)
    list(tag_op.execute(_op_context(ds, tag_uri, dict(k=3, batch_size=2))))
    assert ds.count("pretrained_tags.classifications") == 6
    topic_op = foo.get_operator(topic_uri)
    tctx = _op_context(ds, topic_uri, dict(n_topics=2))
    assert "tags_field" in topic_op.resolve_type(tctx, "inputs").type.properties
    list(topic_op.execute(tctx))
    assert ds.count("topic") == 2

    # Delegated: queued, nothing written, then run by a worker
    queued = op(ds, method="gradcam", heatmap_field="gc", prediction_field=None,
                boxes_field=None, delegate=True)
    queued.raise_exceptions()
    assert "gc" not in ds.get_field_schema()
    service = DelegatedOperationService()
    service.execute_queued_operations(dataset_name=ds.name)
    [doc] = service.list_operations(dataset_name=ds.name)
    assert doc.run_state == "completed", doc.run_state
    ds.reload()
    assert ds.count("gc") == 2
    assert winnow.get_run(ds, "winnow_cam_gc")["params"]["method"] == "gradcam"
    service.delete_operation(doc.id)
