"""Object embeddings (issue 14): compute_embeddings(patches_field=...) on real scenes of
Fashion-MNIST items (tests/objects_data.py), real EfficientNet-Lite0 weights, real MongoDB."""

import numpy as np
import pytest
from PIL import Image

import fiftyone as fo

import winnow
from winnow.plugin import embeddings, images

from objects_data import FIELD, detections_dataset, truth, write_scenes

VECTOR = FIELD + ".detections.embedding"
ERROR = FIELD + ".detections.embedding_error"


def _cosine(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _objects(ds, field=FIELD, kind="detections"):
    """``{label id: object}`` of every object of ``field``."""
    out = {}
    for labels in ds.values(field):
        for obj in (getattr(labels, kind) if labels else []):
            out[obj.id] = obj
    return out


def _region(box, margin, w, h):
    """The pixel region compute_embeddings crops for ``box`` (left, top, right, bottom)."""
    x, y, bw, bh = box
    mx, my = margin * bw, margin * bh
    return (max(x - mx, 0) * w, max(y - my, 0) * h, min(x + bw + mx, 1) * w,
            min(y + bh + my, 1) * h)


def _crop(path, box, margin):
    """The pixels of that region (integral on these scenes)."""
    img = np.asarray(Image.open(path).convert("RGB"))
    left, top, right, bottom = (round(v) for v in _region(box, margin, img.shape[1],
                                                            img.shape[0]))
    return np.ascontiguousarray(img[top:bottom, left:right])


def _squashed(path, box, margin, size=224):
    """That region resampled from the image to ``size`` px (PIL bilinear, which reads the
    pixels just outside the region where a crop-then-resize repeats its edge)."""
    img = Image.open(path).convert("RGB")
    return np.asarray(img.resize((size, size), Image.BILINEAR,
                                 box=_region(box, margin, *img.size)))


def _torch_resized(crop, size=224):
    """A crop resized as embed_arrays resizes (torch bilinear, antialiased), to uint8."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(crop).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                      align_corners=False)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


@pytest.fixture
def scenes(tmp_path):
    # 5 scenes of 2-4 items (40 px boxes on 128 px canvases) and 1 with no objects.
    return write_scenes(tmp_path, 5, seed=3, near_copy=True, empty=1)


@pytest.fixture
def ds(make_dataset, scenes):
    return detections_dataset(make_dataset, scenes)


def test_each_object_gets_the_vector_of_its_own_crop(ds, scenes):
    res = winnow.compute_embeddings(ds, patches_field=FIELD, num_workers=1, batch_size=4,
                                    progress=False)

    objects = _objects(ds)
    n = sum(len(s["objects"]) for s in scenes)
    assert res.num_objects == n == len(objects) and res.num_embedded == n
    assert res.num_samples == 6 and res.dim == 1280 and not res.failures
    assert res.embeddings_field == VECTOR and res.error_field == ERROR
    assert "objects of 6 samples embedded" in repr(res)

    # Each object's region (the default 10 % margin is 4 px around each 40 px item,
    # clipped at the canvas' edges) squashed to 224 px here and embedded by the array
    # path: the same vector.
    paths = dict(zip(ds.values("id"), ds.values("filepath")))
    owner = {oid: t["sample_id"] for oid, t in truth(ds).items()}
    ids = list(objects)
    crops = [_crop(paths[owner[i]], objects[i].bounding_box, 0.1) for i in ids]
    assert all(44 <= min(c.shape[:2]) <= max(c.shape[:2]) <= 48 for c in crops)
    stored = np.stack([objects[i]["embedding"] for i in ids])
    expected = embeddings.embed_arrays(np.stack(
        [_squashed(paths[owner[i]], objects[i].bounding_box, 0.1) for i in ids]))
    cos = np.array([_cosine(a, b) for a, b in zip(stored, expected)])
    assert cos.min() > 0.9999, cos
    # The native crops resized as embed_arrays does (torch bilinear): close, and each
    # stored vector is nearest to its own object's crop, not another's.
    native = embeddings.embed_arrays(np.stack([_torch_resized(c) for c in crops]))
    assert min(_cosine(a, b) for a, b in zip(stored, native)) > 0.95
    sims = (stored / np.linalg.norm(stored, axis=1, keepdims=True)) @ (
        native / np.linalg.norm(native, axis=1, keepdims=True)).T
    assert (sims.argmax(axis=1) == np.arange(len(ids))).all()
    assert all(objects[i]["embedding_error"] is None for i in ids)

    # Objects only: no sample-level field, the run recorded on the objects field.
    assert "embedding" not in ds.get_field_schema()
    [run] = winnow.list_runs(ds)
    assert run["patches_field"] == FIELD
    assert run["fields"] == [VECTOR, ERROR]
    assert run["params"]["crop_margin"] == 0.1 and run["params"]["patches_field"] == FIELD
    assert run["counts"]["objects"] == n and run["counts"]["embedded"] == n


def test_margin_zero_crops_the_box_exactly(ds):
    winnow.compute_embeddings(ds, patches_field=FIELD, crop_margin=0, num_workers=0,
                              progress=False)
    margin0 = [d["embedding"] for d in ds.first()[FIELD].detections]
    winnow.compute_embeddings(ds, patches_field=FIELD, num_workers=0, progress=False)
    margin10 = [d["embedding"] for d in ds.first()[FIELD].detections]
    [run] = winnow.list_runs(ds)
    assert run["params"]["crop_margin"] == 0.1

    path, dets = ds.first().filepath, ds.first()[FIELD].detections
    crops = [_crop(path, d.bounding_box, 0) for d in dets]
    assert all(c.shape == (40, 40, 3) for c in crops)
    exact = embeddings.embed_arrays(np.stack([_squashed(path, d.bounding_box, 0)
                                              for d in dets]))
    assert min(_cosine(a, b) for a, b in zip(margin0, exact)) > 0.9999
    assert max(_cosine(a, b) for a, b in zip(margin0, margin10)) < 0.999


def test_bad_boxes_missing_images_and_empty_samples_get_reasons(ds, tmp_path):
    first = ds.first()
    good = [d.id for d in first[FIELD].detections]
    first[FIELD].detections.extend([
        fo.Detection(label="zero", bounding_box=[0.2, 0.2, 0.0, 0.3]),
        fo.Detection(label="outside", bounding_box=[1.1, 0.2, 0.2, 0.2]),
        fo.Detection(label="tiny", bounding_box=[0.5, 0.5, 2 / 128, 0.2]),
        fo.Detection(label="none"),
        fo.Detection(label="partly", bounding_box=[-0.1, -0.1, 0.5, 0.5]),
        fo.Detection(label="nan", bounding_box=[float("nan"), 0.1, 0.2, 0.2]),
    ])
    first.save()
    ds.add_samples([
        fo.Sample(filepath=str(tmp_path / "missing.png"), **{FIELD: fo.Detections(detections=[
            fo.Detection(label="a", bounding_box=[0.1, 0.1, 0.3, 0.3]),
            fo.Detection(label="b", bounding_box=[0.5, 0.5, 0.3, 0.3])])}),
        fo.Sample(filepath=first.filepath),  # no objects field value at all
    ])

    res = winnow.compute_embeddings(ds, patches_field=FIELD, num_workers=0, progress=False)

    by_label = {o.label: o for o in _objects(ds).values()}
    reasons = {k: by_label[k]["embedding_error"] for k in
               ("zero", "outside", "tiny", "none", "nan", "a", "b")}
    assert reasons["zero"].startswith("degenerate box: zero area")
    assert reasons["outside"].startswith("box outside the image")
    assert reasons["tiny"].startswith("tiny box: 2.0 x 25.6 px") and "min_box_size=4" in \
        reasons["tiny"]
    assert reasons["none"] == "no bounding box"
    assert reasons["nan"].startswith("invalid bounding box")
    assert reasons["a"] == reasons["b"] == "FileNotFoundError: file not found"
    for k in reasons:
        assert by_label[k]["embedding"] is None
    # A box partly outside the image is clipped to it and embedded.
    assert by_label["partly"]["embedding_error"] is None
    assert len(by_label["partly"]["embedding"]) == 1280
    assert all(len(_objects(ds)[i]["embedding"]) == 1280 for i in good)

    assert res.num_objects == res.num_embedded + 7 and res.num_images_failed == 1
    assert res.failures == {"degenerate box": 1, "box outside the image": 1, "tiny box": 1,
                            "no bounding box": 1, "invalid bounding box": 1,
                            "FileNotFoundError: file not found": 2}
    assert "7 failed" in repr(res)

    # A lower floor embeds the 2 px box; the others keep their reasons.
    winnow.compute_embeddings(ds, patches_field=FIELD, min_box_size=1, num_workers=0,
                              progress=False)
    tiny = {o.label: o for o in _objects(ds).values()}["tiny"]
    assert tiny["embedding_error"] is None and len(tiny["embedding"]) == 1280


def test_unreadable_image_raises_before_writing_without_skip_failures(ds, tmp_path):
    ds.add_sample(fo.Sample(filepath=str(tmp_path / "missing.png"), **{
        FIELD: fo.Detections(detections=[fo.Detection(label="a", bounding_box=[0, 0, .5, .5])])}))
    with pytest.raises(RuntimeError, match="missing.png: FileNotFoundError"):
        winnow.compute_embeddings(ds, patches_field=FIELD, skip_failures=False,
                                  num_workers=0, progress=False)
    assert VECTOR not in ds.get_field_schema(flat=True) and not winnow.list_runs(ds)


def test_polylines_are_embedded_through_their_bounding_boxes(ds):
    for sample in ds:
        polys = []
        for d in (sample[FIELD].detections if sample[FIELD] else []):
            x, y, w, h = d.bounding_box
            polys.append(fo.Polyline(label=d.label, closed=True, filled=True, points=[
                [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]]))
        sample["poly"] = fo.Polylines(polylines=polys)
        sample.save()

    winnow.compute_embeddings(ds, patches_field=FIELD, num_workers=0, progress=False)
    res = winnow.compute_embeddings(ds, patches_field="poly", num_workers=0, progress=False)

    assert res.embeddings_field == "poly.polylines.embedding"
    det = [d["embedding"] for s in ds for d in (s[FIELD].detections if s[FIELD] else [])]
    poly = [p["embedding"] for s in ds for p in s["poly"].polylines]
    assert len(poly) == len(det) == res.num_embedded
    assert min(_cosine(a, b) for a, b in zip(det, poly)) > 0.9999


def test_rerun_replaces_its_attributes_and_delete_run_removes_them(ds):
    res = winnow.compute_embeddings(ds, patches_field=FIELD, num_workers=0, progress=False)
    sample = ds.first()
    changed = sample[FIELD].detections[0]
    changed.bounding_box = [0.3, 0.3, 0.0, 0.1]
    sample.save()

    again = winnow.compute_embeddings(ds, patches_field=FIELD, num_workers=0, progress=False)

    assert again.run_key == res.run_key and len(winnow.list_runs(ds)) == 1
    obj = _objects(ds)[changed.id]
    assert obj["embedding"] is None and obj["embedding_error"].startswith("degenerate box")
    assert again.num_embedded == res.num_embedded - 1

    # A sample-level embedding run beside it is another run; deleting the object run
    # removes exactly its two attributes.
    winnow.compute_embeddings(ds, num_workers=0, progress=False)
    winnow.delete_run(ds, res.run_key)
    flat = ds.get_field_schema(flat=True)
    assert VECTOR not in flat and ERROR not in flat
    assert "embedding" in ds.get_field_schema() and len(ds.exists("embedding")) == len(ds)
    assert all(o.has_field("label") for o in _objects(ds).values())
    assert not any(o.has_field("embedding") and o["embedding"] is not None
                   for o in _objects(ds).values())


def test_bad_input_is_refused_before_anything_is_written(ds):
    ds.set_values("caption", ["x"] * len(ds))
    ds.set_values("cls", [fo.Classification(label="a")] * len(ds))
    cases = [
        (dict(patches_field="cls"), "Detections or Polylines field; 'cls' is a Classification"),
        (dict(patches_field="caption"), "Detections or Polylines"),
        (dict(patches_field="nope"), "No field 'nope'"),
        (dict(patches_field=FIELD, image_issues=True), "image_issues=True scores whole"),
        (dict(patches_field=FIELD, crop_margin=-0.1), "crop_margin must be"),
        (dict(patches_field=FIELD, crop_margin="wide"), "crop_margin must be"),
        (dict(patches_field=FIELD, min_box_size=0), "min_box_size must be"),
        (dict(patches_field=FIELD, embeddings_field="a.b"), "attribute of each object"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            winnow.compute_embeddings(ds, num_workers=0, progress=False, **kwargs)
    assert not winnow.list_runs(ds) and VECTOR not in ds.get_field_schema(flat=True)


def test_users_attribute_is_not_overwritten_unless_asked(ds):
    ds.set_values(VECTOR, [[[1.0, 2.0]] * len(d.detections) if d else None
                           for d in ds.values(FIELD)])
    with pytest.raises(ValueError, match="embedding"):
        winnow.compute_embeddings(ds, patches_field=FIELD, num_workers=0, progress=False)
    assert ds.first()[FIELD].detections[0]["embedding"] == [1.0, 2.0]

    winnow.compute_embeddings(ds, patches_field=FIELD, overwrite=True, num_workers=0,
                              progress=False)
    assert len(ds.first()[FIELD].detections[0]["embedding"]) == 1280


def test_cancelled_run_writes_nothing(ds, monkeypatch):
    import fiftyone.core.collections as foc

    # Cancelled while computing: the progress callback is where the App cancels.
    def cancel(pb):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        winnow.compute_embeddings(ds, patches_field=FIELD, num_workers=0, progress=cancel)
    assert VECTOR not in ds.get_field_schema(flat=True) and not winnow.list_runs(ds)

    # Interrupted between the two bulk writes: the first is removed with the record.
    real = foc.SampleCollection.set_label_values
    calls = []

    def interrupt_second(self, *args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(foc.SampleCollection, "set_label_values", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        winnow.compute_embeddings(ds, patches_field=FIELD, num_workers=0, progress=False)
    assert calls == [VECTOR, ERROR]
    flat = ds.get_field_schema(flat=True)
    assert VECTOR not in flat and ERROR not in flat and not winnow.list_runs(ds)
    assert not any(o.has_field("embedding") and o["embedding"] is not None
                   for o in _objects(ds).values())


def test_brain_runs_on_objects_link_a_pasted_copy_to_its_original(ds):
    first = ds.first()
    first[FIELD].detections.append(fo.Detection(label="zero", bounding_box=[0.5, 0.5, 0, 0]))
    first.save()
    res = winnow.compute_embeddings(ds, patches_field=FIELD, similarity_index=True,
                                    visualization="pca", num_workers=0, progress=False)
    key = res.brain_keys["similarity"]
    assert res.brain_keys == {"similarity": "gt_embedding_sim", "visualization": "gt_embedding_viz"}
    assert ds.get_brain_info(key).config.patches_field == FIELD
    # The map has a point per embedded object (the zero-area box has none).
    viz = ds.load_brain_results("gt_embedding_viz")
    assert viz.config.patches_field == FIELD
    assert len(viz.points) == res.num_embedded == res.num_objects - 1

    kinds = {oid: t["kind"] for oid, t in truth(ds).items()}
    [copy] = [oid for oid, k in kinds.items() if k == "copy"]
    patches = ds.to_patches(FIELD)
    nearest = patches.sort_by_similarity(copy, k=2, brain_key=key).values(FIELD + ".id")
    assert nearest[0] == copy and kinds[nearest[1]] == "original"


def test_crop_regions_clip_grow_and_explain():
    regions, reasons = images.crop_regions(
        [[0.25, 0.5, 0.5, 0.25], [0.9, 0.9, 0.2, 0.2], [0.1, 0.1, 0.015, 0.5], None,
         [0, 0, -0.1, 0.2], [2, 2, 0.1, 0.1], "box", [0.1, 0.1, 0.02, 0.5]],
        200, 100, context=0.1, min_box_size=4)
    # 100 x 25 px box grown by 10 px and 2.5 px on each side.
    np.testing.assert_allclose(regions[0], [40, 47.5, 160, 77.5])
    # Clipped to the image (180..200 x 90..100 px), grown by 10 % of that, clipped again.
    np.testing.assert_allclose(regions[1], [178, 89, 200, 100])
    assert sorted(reasons) == [2, 3, 4, 5, 6] and np.isnan(regions[2:7]).all()
    assert reasons[2] == "tiny box: 3.0 x 50.0 px in the image, below min_box_size=4 px"
    assert reasons[3] == "no bounding box"
    assert reasons[4] == "degenerate box: zero area (width -0.1, height 0.2)"
    assert reasons[5] == "box outside the image: [2, 2, 0.1, 0.1]"
    assert reasons[6] == "invalid bounding box: 'box'"
    np.testing.assert_allclose(regions[7], [19.6, 5, 24.4, 65])  # 4 px: at the floor, kept


def test_polyline_box_spans_all_shapes():
    assert images.polyline_box([[(0.1, 0.2), (0.3, 0.1)], [(0.5, 0.4)]]) == pytest.approx(
        [0.1, 0.1, 0.4, 0.3])
    assert images.polyline_box([]) is None and images.polyline_box([[]]) is None


def _form(ds, **params):
    import fiftyone.operators as foo
    from fiftyone.operators.executor import ExecutionContext, Executor

    uri = "@winnow/curation/compute_embeddings"
    ctx = ExecutionContext(request_params=dict(dataset_name=ds.name, params=params),
                           executor=Executor(), operator_uri=uri)
    return foo.get_operator(uri).resolve_input(ctx).type.properties


def test_form_offers_objects_of_detections_and_polylines_fields(ds):
    ds.set_values("poly", [fo.Polylines()] * len(ds))
    ds.set_values("cls", [fo.Classification(label="a")] * len(ds))
    form = _form(ds)
    choices = [c.value for c in form["patches_field"].view.choices]
    assert choices == ["none", FIELD, "poly"]
    assert "image_issues" in form and "crop_margin" not in form

    form = _form(ds, patches_field=FIELD)
    assert form["crop_margin"].default == 0.1 and form["min_box_size"].default == 4
    assert "image_issues" not in form and not any(p.invalid for p in form.values())

    # The engine's checks, as typed: a bad margin, a dotted attribute, a user's attribute.
    assert "crop_margin must be" in _form(ds, patches_field=FIELD, crop_margin=2)[
        "crop_margin"].error_message
    assert "attribute of each object" in _form(ds, patches_field=FIELD, embeddings_field="a.b")[
        "embeddings_field"].error_message
    ds.set_values(FIELD + ".detections.mine", [[1] * len(d.detections) if d else None
                                               for d in ds.values(FIELD)])
    assert _form(ds, patches_field=FIELD, embeddings_field="mine")["embeddings_field"].invalid


def test_operator_embeds_the_objects_from_python(ds):
    import fiftyone.operators as foo

    op = foo.get_operator("@winnow/curation/compute_embeddings")
    result = op(ds, patches_field=FIELD, visualization=None, similarity_index=False,
                num_workers=0)
    assert result.error is None, result.error
    objects = _objects(ds)
    assert all(len(o["embedding"]) == 1280 for o in objects.values())
    assert "embedding" not in ds.get_field_schema()


def test_large_jpeg_is_decoded_only_as_large_as_its_boxes_need(make_dataset, photos, tmp_path):
    from winnow.plugin import models

    # A 1804 x 1200 JPEG: chelsea upscaled 4x.
    path = str(tmp_path / "big.jpg")
    Image.open(photos["chelsea"]).resize((1804, 1200), Image.BICUBIC).save(path, quality=95)
    boxes = [[0.1, 0.1, 0.5, 0.6], [0.55, 0.2, 0.4, 0.7]]
    crop = images.CropObjects(models.imagenet_transforms(), context=0.1)
    # The smaller box is 0.4 x 1200 = 480 px on its short side: 224 px need 0.47 of it.
    assert crop.draft_for(boxes, (1804, 1200)) == (842, 560)
    assert crop.draft_for(boxes + [[0.5, 0.5, 0.01, 0.01]], (1804, 1200)) is None  # 12 px
    # Boxes that get no vector need no pixels: none, zero-area, 2 px.
    assert crop.draft_for([None, [0, 0, 0, 0], [0.1, 0.1, 0.5, 0.001]], (1804, 1200)) is None
    assert crop.draft_for(boxes + [[0.1, 0.1, 0.5, 0.001]], (1804, 1200)) == (842, 560)
    decoded = images.read_image(path, draft_size=lambda size: crop.draft_for(boxes, size))
    assert decoded.size == (902, 600) and images.original_size(decoded) == (1804, 1200)

    # The decoding workers' dataset asks the crop transform for that hint.
    class DecodedSize(images.CropObjects):
        def __call__(self, img, boxes):
            return img.size

    assert images.ImageFiles([path], DecodedSize(models.imagenet_transforms()),
                             per_image=[boxes])[0] == (0, (902, 600), None)

    ds = make_dataset([fo.Sample(filepath=path, **{FIELD: fo.Detections(detections=[
        fo.Detection(label="a", bounding_box=boxes[0]),
        fo.Detection(label="b", bounding_box=boxes[1]),
        # 3 px in the full image (1.5 px decoded): the floor counts full-size pixels
        fo.Detection(label="tiny", bounding_box=[0.3, 0.3, 0.2, 3 / 1200])])})])
    winnow.compute_embeddings(ds, patches_field=FIELD, num_workers=1, progress=False)
    dets = ds.first()[FIELD].detections
    assert dets[2]["embedding_error"] == ("tiny box: 360.8 x 3.0 px in the image, below "
                                          "min_box_size=4 px")
    # The vectors from the half-size decode are those of the full-size image's regions.
    full = Image.open(path).convert("RGB")
    expected = embeddings.embed_arrays(np.stack([np.asarray(full.resize(
        (224, 224), Image.BILINEAR, box=_region(b, 0.1, *full.size))) for b in boxes]))
    assert min(_cosine(d["embedding"], e) for d, e in zip(dets[:2], expected)) > 0.98


def test_a_view_of_some_objects_embeds_only_those(ds):
    from fiftyone import ViewField as F

    first = ds.first()[FIELD].detections[0]
    view = ds.filter_labels(FIELD, F("label") == first.label)
    chosen = set(view.values(FIELD + ".detections.id", unwind=True))
    res = winnow.compute_embeddings(view, patches_field=FIELD, num_workers=0, progress=False)

    assert res.num_objects == len(chosen) == res.num_embedded
    for oid, obj in _objects(ds).items():
        has = obj.has_field("embedding") and obj["embedding"] is not None
        assert has == (oid in chosen), oid


def test_cli_embeds_objects(ds):
    import os
    import subprocess
    import sys

    ds.persistent = True  # the CLI process loads it by name
    env = dict(os.environ, FIFTYONE_DO_NOT_TRACK="true")
    out = subprocess.run([sys.executable, "-m", "winnow.cli", "embed", ds.name,
                          "--patches-field", FIELD, "--batch-size", "8"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    ds.reload()
    assert ds.count(VECTOR) == len(truth(ds)) > 0
    assert "embedding" not in ds.get_field_schema()  # objects only, no sample vectors
