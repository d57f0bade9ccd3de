"""Models users already use (issue 16): vision transformers (embeddings from any block,
class token or mean of patch tokens; Grad-CAM-family heatmaps on the patch grid),
FiftyOne models through FiftyOne's own embeddings path, timm and open_clip names with
random weights (no download), and the one error for a missing optional library.

Real FiftyOne + MongoDB and real images from ``data/demo``; the transformers are
randomly initialised (the offline rule: only EfficientNet-Lite0 has weights here).
"""

import os
import sys

import numpy as np
import pytest
import torch
from torch import nn

import fiftyone as fo

import winnow
from winnow.plugin import cam as wcam
from winnow.plugin import images, models

DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "demo")
PHOTOS = [os.path.join(DEMO, "photos", n + ".jpg") for n in ("chelsea", "coffee")]
FASHION = [os.path.join(DEMO, "fashion", "fmnist_%05d.png" % i) for i in range(6)]


def _cosine(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def tiny_vit():
    """A small randomly initialised torchvision ViT (2 blocks, 7 x 7 patches of 32 px).
    torchvision zero-initialises the head (all logits 0, no gradient): a random head
    makes the class scores depend on the image."""
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    vit = VisionTransformer(image_size=224, patch_size=32, num_layers=2, num_heads=2,
                            hidden_dim=48, mlp_dim=96, num_classes=10)
    nn.init.normal_(vit.heads.head.weight, std=0.5)
    return vit.eval()


@pytest.fixture
def demo_ds(make_dataset):
    return make_dataset([fo.Sample(filepath=p) for p in PHOTOS + FASHION])


@pytest.fixture(scope="module")
def fo_default():
    """The offline default as a FiftyOne TorchImageModel (the package's one set-up)."""
    return models.fiftyone_model(models.load_model(device="cpu"))


@pytest.fixture
def small_ds(make_dataset):
    # For the 12-block transformers: 2 photos and a Fashion-MNIST item
    return make_dataset([fo.Sample(filepath=p) for p in PHOTOS + FASHION[:1]])


def _tokens(module, layer, paths, transforms):
    # The layer's raw output on the very tensors the model's preprocessing gives.
    x = torch.stack([transforms(images.read_image(p)) for p in paths])
    out = {}
    handle = dict(module.named_modules())[layer].register_forward_hook(
        lambda m, i, o: out.setdefault("t", o))
    with torch.inference_mode():
        module(x)
    handle.remove()
    return out["t"].float().numpy()


# ------------------------------------------------------------------ ViT embeddings


def test_vit_embeddings_from_any_block_cls_or_mean(demo_ds, tiny_vit):
    layers = winnow.list_layers(tiny_vit)
    assert {"encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_1"} <= set(layers)
    layer = "encoder.layers.encoder_layer_0"
    tokens = _tokens(tiny_vit, layer, PHOTOS + FASHION, models.imagenet_transforms())
    assert tokens.shape == (8, 50, 48)  # class token + 7 x 7 patches
    expected = {"cls": tokens[:, 0], "mean": tokens[:, 1:].mean(axis=1)}
    for pooling, want in expected.items():
        res = winnow.compute_embeddings(demo_ds, model=tiny_vit, layer=layer,
                                        token_pooling=pooling, embeddings_field="e_" + pooling,
                                        num_workers=0, progress=False, device="cpu")
        assert res.num_embedded == 8 and res.dim == 48
        got = np.stack(demo_ds.values("e_" + pooling))
        np.testing.assert_allclose(got, want, atol=2e-4)
        params = winnow.get_run(demo_ds, res.run_key)["params"]
        assert params["token_pooling"] == pooling and params["layer"] == layer
    # The two poolings are different vectors, not one under two names
    assert _cosine(demo_ds.values("e_cls"), demo_ds.values("e_mean")).max() < 0.99

    # Default: the classifier's input (torchvision: the class token after the last norm);
    # no token layer was pooled, so the record says none
    res = winnow.compute_embeddings(demo_ds, model=tiny_vit, embeddings_field="e_default",
                                    num_workers=0, progress=False, device="cpu")
    want = _tokens(tiny_vit, "encoder.ln", PHOTOS + FASHION, models.imagenet_transforms())[:, 0]
    np.testing.assert_allclose(np.stack(demo_ds.values("e_default")), want, atol=2e-4)
    params = winnow.get_run(demo_ds, res.run_key)["params"]
    assert params["layer"] == "heads.head" and params["token_pooling"] is None

    for bad in ("max", "CLS"):
        with pytest.raises(ValueError, match="token_pooling"):
            winnow.compute_embeddings(demo_ds, model=tiny_vit, layer=layer, token_pooling=bad,
                                      embeddings_field="never")
    with pytest.raises(ValueError, match="no class token"):  # a CNN has none
        winnow.compute_embeddings(demo_ds, layer="_blocks.15", token_pooling="cls",
                                  embeddings_field="never", num_workers=0)
    assert "never" not in demo_ds.get_field_schema()


def test_tokens_to_maps_drops_prefix_tokens():
    tokens = torch.arange(2 * 11 * 3, dtype=torch.float32).reshape(2, 11, 3)  # 2 prefix + 3x3
    maps = models.tokens_to_maps(tokens, num_prefix=2)
    assert maps.shape == (2, 3, 3, 3)
    # patch (row 1, col 2) is token 2 + 1 * 3 + 2 = 7
    assert torch.equal(maps[:, :, 1, 2], tokens[:, 7])
    with pytest.raises(ValueError, match="square grid"):
        models.tokens_to_maps(tokens, num_prefix=1)  # 10 patches
    # Without the count, a square N - 1 means one class token
    assert models.tokens_to_maps(tokens[:, 1:]).shape == (2, 3, 3, 3)


# ------------------------------------------------------------------ ViT heatmaps


def test_vit_gradient_maps_match_pytorch_grad_cam(tiny_vit):
    # The reference library with the usual ViT reshape (class token dropped, 7 x 7 grid),
    # same layer, inputs and targets.
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    loaded = models.LoadedModel("vit", tiny_vit, models.imagenet_transforms())
    x = torch.stack([loaded.transforms(images.read_image(p)) for p in PHOTOS + FASHION[:2]])
    layer = "encoder.layers.encoder_layer_1.ln_1"

    def reshape(t):
        return t[:, 1:].reshape(t.shape[0], 7, 7, t.shape[2]).permute(0, 3, 1, 2)

    reference = {"gradcam": pgc.GradCAM, "gradcam++": pgc.GradCAMPlusPlus,
                 "layercam": pgc.LayerCAM, "hirescam": pgc.HiResCAM}
    compared = 0
    for method, cls in reference.items():
        cam_model = wcam.CamModel(loaded, method=method)
        assert (cam_model.layer, cam_model.gradients) == (layer, "backward")
        raw, logits, targets = cam_model(x, lambda lg: lg.argmax(dim=1).numpy())
        assert raw.shape == (4, 7, 7)
        ours = wcam.combine_scales([wcam.normalize_maps(raw)], (224, 224))
        with cls(model=tiny_vit, target_layers=[dict(tiny_vit.named_modules())[layer]],
                 reshape_transform=reshape) as ref_cam:
            ref = ref_cam(input_tensor=x,
                          targets=[ClassifierOutputTarget(int(k)) for k in targets])
        for a, b in zip(ours, ref):
            if a.std() > 0 and b.std() > 0:
                assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.999, method
                compared += 1
            else:  # no positive evidence: both maps empty
                assert a.max() == 0 and np.ptp(b) == 0, method
    assert compared >= 12  # most maps carry evidence even with random weights


def test_vit_heatmaps_end_to_end_and_refusals(demo_ds, tiny_vit):
    for method in ("gradcam++", "eigencam"):
        res = winnow.compute_cam(demo_ds, model=tiny_vit, method=method, map_size=16,
                                 heatmap_field="h", prediction_field="p", boxes_field="b",
                                 num_workers=0, progress=False, device="cpu", overwrite=True)
        assert res.num_mapped == 8 and res.layer == "encoder.layers.encoder_layer_1.ln_1"
        maps = np.stack([h.map for h in demo_ds.values("h")])
        assert maps.shape == (8, 16, 16) and maps.max() == 1.0
        assert len(set(demo_ds.values("p.label"))) >= 1
        params = winnow.get_run(demo_ds, res.run_key)["params"]
        assert params["gradients"] == ("none" if method == "eigencam" else "backward")
    # A token block chosen by name works the same way
    res = winnow.compute_cam(demo_ds, model=tiny_vit, layer="encoder.layers.encoder_layer_0",
                             heatmap_field="h0", prediction_field=None, boxes_field=None,
                             map_size=16, num_workers=0, progress=False, device="cpu")
    assert res.num_mapped == 8
    # Classic CAM has no meaning on tokens: one clear error, nothing written
    for layer in (None, "encoder.layers.encoder_layer_0"):
        with pytest.raises(ValueError, match="Classic CAM .* gradient method"):
            winnow.compute_cam(demo_ds, model=tiny_vit, method="cam", layer=layer,
                               heatmap_field="never", prediction_field=None,
                               boxes_field=None, num_workers=0, device="cpu")
    assert "never" not in demo_ds.get_field_schema()


# ------------------------------------------------------------------ FiftyOne models


def test_fiftyone_torch_image_model_embeddings_and_heatmaps(demo_ds, fo_default, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    demo_ds.add_samples([fo.Sample(filepath=str(broken))], progress=False)
    fo_model = fo_default

    ours = winnow.compute_embeddings(demo_ds, num_workers=0, progress=False)
    theirs = winnow.compute_embeddings(demo_ds, model=fo_model, embeddings_field="fo_emb",
                                       num_workers=0, progress=False)
    # The unreadable image does not cost the rest of FiftyOne's batch its vectors
    assert theirs.num_embedded == ours.num_embedded == 8
    assert set(theirs.failures) == set(ours.failures) and theirs.dim == 1280
    ok = demo_ds.exists("embedding")
    assert _cosine(ok.values("embedding"), ok.values("fo_emb")).min() >= 0.9999
    run = winnow.get_run(demo_ds, theirs.run_key)
    assert run["params"]["path"] == "fiftyone" and run["params"]["layer"] == "<_fc"
    assert demo_ds.count("fo_emb_error") == 1

    # Options that belong to Winnow's own path are refused, nothing written
    with pytest.raises(ValueError, match="layer do"):
        winnow.compute_embeddings(demo_ds, model=fo_model, layer="_fc", embeddings_field="x")
    assert "x" not in demo_ds.get_field_schema()

    # Heatmaps run its torch module: the same maps as the default model's
    view = demo_ds.limit(3)
    a = winnow.compute_cam(view, heatmap_field="h_ours", prediction_field=None,
                           boxes_field=None, map_size=16, num_workers=0, progress=False)
    b = winnow.compute_cam(view, model=fo_model, heatmap_field="h_fo",
                           prediction_field=None, boxes_field=None, map_size=16,
                           num_workers=0, progress=False)
    assert a.num_mapped == b.num_mapped == 3
    for x, y in zip(view.values("h_ours.map"), view.values("h_fo.map")):
        np.testing.assert_allclose(x, y, atol=1e-4)

    # The run's cleanup removes exactly its fields
    winnow.delete_run(demo_ds, theirs.run_key)
    schema = demo_ds.get_field_schema()
    assert "fo_emb" not in schema and "fo_emb_error" not in schema and "embedding" in schema


def test_fiftyone_model_on_objects_matches_fiftyone_patch_embeddings(make_dataset, fo_default,
                                                                     tmp_path):
    import objects_data

    scenes = objects_data.write_scenes(tmp_path, 2, seed=0)
    ds = objects_data.detections_dataset(make_dataset, scenes)
    fo_model = fo_default
    res = winnow.compute_embeddings(ds, model=fo_model, patches_field="gt",
                                    embeddings_field="emb", crop_margin=0.1, num_workers=0,
                                    progress=False)
    num_objects = ds.count("gt.detections")
    assert res.num_objects == res.num_embedded == num_objects > 0
    ds.compute_patch_embeddings(fo_model, "gt", embeddings_field="direct", alpha=0.2,
                                num_workers=0, progress=False)
    got = np.stack(ds.values("gt.detections.emb", unwind=True))
    want = np.stack(ds.values("gt.detections.direct", unwind=True))
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert winnow.get_run(ds, res.run_key)["params"]["path"] == "fiftyone"


# ------------------------------------------------------------------ names and extras


def test_missing_library_gives_one_error_naming_the_extra(demo_ds, monkeypatch):
    # None in sys.modules makes `import timm` fail as if it were not installed.
    monkeypatch.setitem(sys.modules, "timm", None)
    monkeypatch.setitem(sys.modules, "open_clip", None)
    with pytest.raises(models.MissingDependency,
                       match=r'pip install "fiftyone-winnow\[timm\]"') as e:
        winnow.compute_embeddings(demo_ds, model="timm:resnet18", embeddings_field="never")
    assert isinstance(e.value, ValueError) and isinstance(e.value, ImportError)
    with pytest.raises(ValueError, match=r'pip install "fiftyone-winnow\[clip\]"'):
        winnow.compute_cam(demo_ds, model="clip:ViT-B-32/openai", heatmap_field="never")
    assert "never" not in demo_ds.get_field_schema()


def test_unknown_names_and_the_forms_check_as_typed(demo_ds):
    from fiftyone.operators.executor import ExecutionContext, Executor
    import fiftyone.operators as foo

    for bad, message in (("foo:bar", "Unknown model prefix 'foo'"), ("resnet5000", "Unknown"),
                         ("zoo:no-such-model", "zoo has no model"), ("timm:", "names no")):
        with pytest.raises(ValueError, match=message):
            models.check_model(bad)
    for name in ("compute_embeddings", "compute_cam"):
        uri = "@winnow/curation/" + name
        op = foo.get_operator(uri)
        for value, valid in (("foo:bar", False), ("resnet18", True),
                             ("zoo:no-such-model", False)):
            ctx = ExecutionContext(request_params=dict(dataset_name=demo_ds.name,
                                                       params=dict(model=value)),
                                   executor=Executor(), operator_uri=uri)
            prop = op.resolve_type(ctx, "inputs").type.properties["model"]
            assert bool(getattr(prop, "invalid", False)) is not valid, (name, value)
            if not valid:
                assert value.split(":")[0] in prop.error_message


def test_timm_names_random_init_embeddings_and_heatmaps(small_ds, tmp_path):
    timm = pytest.importorskip("timm")
    loaded = models.load_model("timm:vit_tiny_patch16_224", pretrained=False, device="cpu")
    assert loaded.weights == "random init" and loaded.classes is None
    # Preprocessing from timm's data config: 224 crop of a 248 resize, mean/std 0.5
    t = loaded.transforms
    assert (t.size, t.resize, t.mean, t.interpolation.value) == (224, 248, (0.5,) * 3,
                                                                   "bicubic")
    res = winnow.compute_embeddings(small_ds, model=loaded, layer="blocks.5",
                                    token_pooling="mean", num_workers=0, progress=False)
    want = _tokens(loaded.module, "blocks.5", PHOTOS + FASHION[:1], t)[:, 1:].mean(axis=1)
    np.testing.assert_allclose(np.stack(small_ds.values("embedding")), want, atol=2e-4)
    assert res.dim == 192

    # Local weights: a state dict saved from one model gives that model's vectors
    path = str(tmp_path / "vit.pt")
    torch.save(loaded.module.state_dict(), path)
    again = models.load_model("timm:vit_tiny_patch16_224", weights_path=path, device="cpu")
    assert again.weights == "vit.pt"
    x = t(images.read_image(PHOTOS[0]))[None]
    with torch.inference_mode():
        np.testing.assert_allclose(again.module(x), loaded.module(x), atol=1e-5)

    cam = winnow.compute_cam(small_ds, model=loaded, map_size=16, num_workers=0,
                             progress=False)
    assert cam.num_mapped == 3 and cam.layer == "blocks.11.norm1"
    assert timm.data.resolve_model_data_config(loaded.module)["crop_pct"] == 0.9


def test_clip_names_random_init_give_the_image_embedding(small_ds):
    open_clip = pytest.importorskip("open_clip")
    with pytest.raises(ValueError, match="Name the pretrained weights"):
        models.load_model("clip:ViT-S-32")  # would silently be random otherwise
    loaded = models.load_model("clip:ViT-S-32", pretrained=False, device="cpu")
    res = winnow.compute_embeddings(small_ds, model=loaded, num_workers=0, progress=False)
    assert res.layer == "embedding" and res.dim == 384
    # What open_clip's own encode_image gives for these weights and the CLIP preprocessing
    clip = open_clip.create_model("ViT-S-32", pretrained=None)
    clip.visual = loaded.module.visual
    x = torch.stack([loaded.transforms(images.read_image(p)) for p in PHOTOS + FASHION[:1]])
    with torch.inference_mode():
        want = clip.encode_image(x).numpy()
    np.testing.assert_allclose(np.stack(small_ds.values("embedding")), want, atol=2e-4)
    assert loaded.transforms.mean == models.OPENAI_CLIP_MEAN
    # An image encoder has no classes to explain
    with pytest.raises(ValueError, match="without class scores"):
        winnow.compute_cam(small_ds, model=loaded, heatmap_field="never")
