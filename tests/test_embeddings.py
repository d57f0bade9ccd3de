"""Embeddings end to end: real weights, real photographs, real MongoDB."""

import numpy as np
import pytest
import torch
import torchvision

import fiftyone as fo

import winnow
from winnow.plugin import models


def _cosine(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture
def photo_dataset(make_dataset, photos):
    return make_dataset([fo.Sample(filepath=p, name=n) for n, p in photos.items()])


def test_default_model_predicts_egyptian_cat_for_chelsea(photos):
    from PIL import Image

    loaded = models.load_model("efficientnet-lite0", device="cpu")
    x = loaded.transforms(Image.open(photos["chelsea"]).convert("RGB"))[None]
    with torch.inference_mode():
        logits = loaded.module(x)
    assert int(logits.argmax()) == 285
    assert loaded.classes[285] == "Egyptian cat"


def test_default_embeddings_dimension_and_failures_recorded(photo_dataset, tmp_path):
    bad = tmp_path / "not_an_image.jpg"
    bad.write_text("this is text, not a JPEG")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    photo_dataset.add_samples([
        fo.Sample(filepath=str(bad)),
        fo.Sample(filepath=str(empty)),
        fo.Sample(filepath=str(tmp_path / "missing.jpg")),
    ])

    results = winnow.compute_embeddings(photo_dataset, progress=False, num_workers=1)

    assert results.dim == 1280
    assert results.num_embedded == 4 and results.num_failed == 3
    ok = photo_dataset.exists("embedding")
    assert len(ok) == 4
    assert all(len(v) == 1280 and np.isfinite(v).all() for v in ok.values("embedding"))
    failed = photo_dataset.exists("embedding_error")
    assert sorted(failed.values("filepath")) == sorted(
        [str(bad), str(empty), str(tmp_path / "missing.jpg")])
    reasons = " | ".join(failed.values("embedding_error"))
    assert "cannot identify image" in reasons
    assert "empty file" in reasons and "file not found" in reasons
    assert "3 failed" in repr(results)


def test_two_crops_of_one_photo_are_closer_than_cat_and_cup(make_dataset, photos, tmp_path):
    from PIL import Image

    cat = Image.open(photos["chelsea"])
    w, h = cat.size
    crops = []
    for i, box in enumerate([(0, 0, int(w * 0.85), int(h * 0.9)),
                             (int(w * 0.15), int(h * 0.1), w, h)]):
        path = str(tmp_path / ("crop%d.jpg" % i))
        cat.crop(box).save(path)
        crops.append(path)
    ds = make_dataset([fo.Sample(filepath=p) for p in crops + [photos["coffee"]]])

    winnow.compute_embeddings(ds, progress=False, num_workers=0)
    a, b, cup = ds.values("embedding")

    assert _cosine(a, b) > _cosine(a, cup) + 0.2
    assert _cosine(a, b) > _cosine(b, cup) + 0.2


def test_layer_hook_gives_pooled_maps_of_that_layer(photo_dataset):
    layers = winnow.list_layers("efficientnet-lite0")
    assert "_blocks.5" in layers and "_conv_head" in layers

    view = photo_dataset.limit(2)
    res = winnow.compute_embeddings(view, layer="_blocks.5", embeddings_field="b5",
                                    progress=False, num_workers=0)
    assert res.dim == 80  # output channels of block 5 of EfficientNet-Lite0
    res = winnow.compute_embeddings(view, layer="_conv_head", embeddings_field="head",
                                    progress=False, num_workers=0)
    assert res.dim == 1280

    with pytest.raises(ValueError, match="not found"):
        winnow.compute_embeddings(view, layer="no_such_layer", embeddings_field="x",
                                  progress=False)
    assert "x" not in photo_dataset.get_field_schema()


def test_torchvision_model_from_local_weights_file(photo_dataset, tmp_path):
    # No internet here: a real state dict in a local file stands for downloaded weights.
    path = str(tmp_path / "resnet18.pth")
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)

    res = winnow.compute_embeddings(photo_dataset, model="resnet18", weights_path=path,
                                    embeddings_field="r18", progress=False, num_workers=0)
    assert res.dim == 512 and res.model == "resnet18" and res.layer == "fc"

    res = winnow.compute_embeddings(photo_dataset, model="resnet18", weights_path=path,
                                    layer="layer3", embeddings_field="r18_l3",
                                    progress=False, num_workers=0)
    assert res.dim == 256


class _Payload:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_pickled_weights_are_refused(tmp_path):
    path = str(tmp_path / "evil.pth")
    torch.save({"weight": _Payload()}, path)
    with pytest.raises(ValueError, match="weights_only"):
        models.load_model("resnet18", weights_path=path)


def test_user_module_with_its_transforms(photo_dataset):
    from torchvision.transforms import v2 as T

    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 4),
    )
    tf = T.Compose([T.Resize(64), T.CenterCrop(64), T.ToImage(),
                    T.ToDtype(torch.float32, scale=True)])
    res = winnow.compute_embeddings(photo_dataset, model=net, transforms=tf,
                                    embeddings_field="tiny", progress=False, num_workers=0)
    assert res.dim == 8  # the input of the final Linear
    assert res.model == "Sequential"


def test_views_are_honoured(photo_dataset):
    view = photo_dataset.match(fo.ViewField("name").is_in(["chelsea", "coffee"]))
    winnow.compute_embeddings(view, progress=False, num_workers=0)
    embedded = sorted(photo_dataset.exists("embedding").values("name"))
    assert embedded == ["chelsea", "coffee"]


def test_existing_user_field_is_never_overwritten(photo_dataset):
    photo_dataset.set_values("embedding", ["mine"] * len(photo_dataset))
    with pytest.raises(ValueError, match="not written by Winnow"):
        winnow.compute_embeddings(photo_dataset, progress=False)
    assert photo_dataset.values("embedding") == ["mine"] * len(photo_dataset)

    for reserved in ("filepath", "id", "tags"):
        with pytest.raises(ValueError, match="reserved"):
            winnow.compute_embeddings(photo_dataset, embeddings_field=reserved, progress=False)


def test_empty_view_and_bad_parameters(photo_dataset):
    with pytest.raises(ValueError, match="empty"):
        winnow.compute_embeddings(photo_dataset.limit(0), progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        winnow.compute_embeddings(photo_dataset, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="Unknown model"):
        winnow.compute_embeddings(photo_dataset, model="no-such-net", progress=False)
    assert "embedding" not in photo_dataset.get_field_schema()


def test_run_is_recorded_replaced_on_rerun_and_deletable(photo_dataset):
    winnow.compute_embeddings(photo_dataset.limit(1), progress=False, num_workers=0)
    winnow.compute_embeddings(photo_dataset, progress=False, num_workers=0)

    runs = winnow.list_runs(photo_dataset)
    assert len(runs) == 1
    run = runs[0]
    assert run["method"] == "embeddings"
    assert run["params"]["model"] == "efficientnet-lite0" and run["params"]["layer"] == "_fc"
    assert run["counts"] == {"samples": 4, "embedded": 4, "failed": 0, "dim": 1280}
    assert run["versions"]["torch"] == torch.__version__.split("+")[0]

    photo_dataset.add_sample_field("mine", fo.StringField)
    winnow.delete_run(photo_dataset, run["key"])
    schema = photo_dataset.get_field_schema()
    assert "embedding" not in schema and "embedding_error" not in schema
    assert "mine" in schema
    assert winnow.list_runs(photo_dataset) == []


def test_brain_similarity_and_visualization(photo_dataset):
    res = winnow.compute_embeddings(photo_dataset, similarity_index=True,
                                    visualization="pca", progress=False, num_workers=0)
    assert res.brain_keys == {"similarity": "embedding_sim", "visualization": "embedding_viz"}
    chelsea = photo_dataset.match(fo.ViewField("name") == "chelsea").first()
    nearest = photo_dataset.sort_by_similarity(chelsea.id, k=2, brain_key="embedding_sim")
    assert nearest.first().id == chelsea.id
    viz = photo_dataset.load_brain_results("embedding_viz")
    assert viz.points.shape == (4, 2)


def test_skip_failures_false_raises_before_writing(photo_dataset, tmp_path):
    photo_dataset.add_sample(fo.Sample(filepath=str(tmp_path / "missing.jpg")))
    with pytest.raises(RuntimeError, match="file not found"):
        winnow.compute_embeddings(photo_dataset, skip_failures=False, progress=False,
                                  num_workers=0)
    assert "embedding" not in photo_dataset.get_field_schema()
    assert winnow.list_runs(photo_dataset) == []
