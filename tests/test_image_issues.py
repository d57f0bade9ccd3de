"""Image issues on real planted images: scikit-image photographs and the demo Fashion-MNIST
set, darkened, over-exposed, blurred, flattened, cut to odd shapes and sizes, grayed."""

import glob
import os
import shutil

import numpy as np
import pytest
import skimage.data
from PIL import Image, ImageFilter

import fiftyone as fo

import winnow
from winnow.plugin import image_issues, runs

import badcorpus

DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "demo")

# Crops (x0, y0) of 160 x 140 px that are none of the kinds (the rocket photograph is
# left out: its night sky crops are dark).
CLEAN_CROPS = [("chelsea", x, y) for x, y in [(29, 16), (145, 64), (87, 96), (174, 16)]] + \
    [("coffee", x, y) for x, y in [(44, 26), (220, 104), (132, 156), (264, 26)]] + \
    [("astronaut", x, y) for x, y in [(35, 37), (176, 149), (105, 223), (211, 37)]] + \
    [("immunohistochemistry", x, y) for x, y in [(35, 37), (176, 149), (211, 37)]]
SOURCES = ("chelsea", "coffee", "astronaut")


def _crop(name, x, y, w=160, h=140):
    return getattr(skimage.data, name)()[y:y + h, x:x + w]


def _linear_exposure(img, factor):
    """Exposure times ``factor`` in linear light, clipped like a sensor."""
    x = img.astype(np.float64) / 255
    lin = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4) * factor
    lin = np.clip(lin, 0, 1)
    out = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)
    return np.round(out * 255).astype(np.uint8)


def _u8(a):
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


def _flat(img, rng, detail=0.03, noise=1.5):
    """The image's mean colour, a trace of its detail and sensor-like noise."""
    f = img.astype(np.float64)
    mean = f.reshape(-1, f.shape[-1]).mean(0) if f.ndim == 3 else f.mean()
    return _u8(mean + detail * (f - mean) + rng.normal(0, noise, f.shape))


def _plant_photos(out):
    """``{file: kind}``: 15 clean crops and 4 planted images of each kind."""
    rng = np.random.default_rng(0)
    files = {}

    def save(arr, name, kind, ext="png"):
        path = os.path.join(out, "%s.%s" % (name, ext))
        Image.fromarray(arr).save(path, **({"quality": 92} if ext == "jpg" else {}))
        files[path] = kind

    for i, (name, x, y) in enumerate(CLEAN_CROPS):
        save(_crop(name, x, y), "clean_%02d" % i, "clean", "jpg" if i % 3 == 0 else "png")
    bases = [_crop(name, 40 + 60 * k, 30 + 40 * k) for k in range(2) for name in SOURCES]
    for i in range(4):
        base = bases[i]
        save(_u8(base * 0.2) if i < 2 else _linear_exposure(base, 0.04), "dark_%d" % i, "dark")
        save(_u8(base * 3.0) if i < 2 else _linear_exposure(base, 6.0), "light_%d" % i, "light")
        blurred = Image.fromarray(base).filter(ImageFilter.GaussianBlur(2.5 + i / 2))
        save(np.asarray(blurred), "blurry_%d" % i, "blurry", "jpg" if i % 2 else "png")
        save(_flat(base, rng, detail=0.03 if i < 2 else 0.0, noise=1.5 + i), "flat_%d" % i,
             "low_information")
        name = SOURCES[i % 3]
        long_crop = _crop(name, 10, 100 + 20 * i, w=300, h=60)
        save(long_crop if i % 2 == 0 else np.ascontiguousarray(long_crop.transpose(1, 0, 2)),
             "long_%d" % i, "odd_aspect_ratio")
        save(np.asarray(Image.fromarray(bases[i + 1]).resize((20 + 4 * i, 18 + 3 * i))),
             "tiny_%d" % i, "odd_size")
        gray = np.asarray(Image.fromarray(bases[(i + 2) % 6]).convert("L").convert("RGB"))
        save(gray, "gray_%d" % i, "grayscale", "jpg" if i % 2 else "png")
    return files


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory):
    return _plant_photos(str(tmp_path_factory.mktemp("planted")))


@pytest.fixture(scope="module")
def fashion_files(tmp_path_factory):
    """``{file: kind}``: 12 demo Fashion-MNIST images and 8 planted from 8 others."""
    out = str(tmp_path_factory.mktemp("fashion"))
    demo = sorted(glob.glob(os.path.join(DEMO, "fashion", "*.png")))
    rng = np.random.default_rng(1)
    files = {path: "clean" for path in demo[:12]}
    plants = [("dark", lambda a: _u8(a * 0.2)), ("light", lambda a: _u8(a + 150.0)),
              ("blurry", lambda a: np.asarray(Image.fromarray(a).filter(
                  ImageFilter.GaussianBlur(3)))),
              ("low_information", lambda a: _flat(a, rng, detail=0.0, noise=2))]
    for i, path in enumerate(demo[20:28]):
        kind, plant = plants[i % 4]
        arr = np.asarray(Image.open(path))  # 28 x 28, mode L
        out_path = os.path.join(out, "%s_%d.png" % (kind, i))
        Image.fromarray(plant(arr)).save(out_path)
        files[out_path] = kind
    return files


def _dataset(make_dataset, files):
    return make_dataset([fo.Sample(filepath=path, kind=kind) for path, kind in files.items()])


def _tagged(ds, kind):
    return sorted(ds.match_tags(kind).values("kind"))


def test_each_kind_found_on_planted_photos_and_none_on_clean(make_dataset, photo_files):
    ds = _dataset(make_dataset, photo_files)

    res = image_issues.find_image_issues(ds, num_workers=1, progress=False)

    for kind in image_issues.KINDS:
        # every planted image of the kind, and nothing else
        assert _tagged(ds, kind) == [kind] * 4, kind
        assert res.counts[kind] == 4
        view = ds.load_saved_view(image_issues.view_name(kind))
        assert sorted(view.values("kind")) == [kind] * 4
    assert len(ds.match_tags(list(image_issues.KINDS))) == 28
    assert not ds.match(fo.ViewField("kind") == "clean").match_tags(
        list(image_issues.KINDS)).count()
    assert res.num_decoded == res.num_scored == len(ds) and res.num_failed == 0

    # documented scales
    gray = ds.match(fo.ViewField("kind") == "grayscale")
    assert max(gray.values("image_colorfulness")) < 1.0
    clean = ds.match(fo.ViewField("kind") == "clean")
    assert min(clean.values("image_colorfulness")) > 20
    assert min(clean.values("image_sharpness")) > 0.25
    assert max(ds.match(fo.ViewField("kind") == "blurry").values("image_sharpness")) < 0.12
    assert sorted(set(clean.values("image_width"))) == [160]
    assert all(0 <= v <= 8 for v in ds.values("image_entropy"))
    assert set(ds.values("image_error")) == {None}

    run = runs.get_run(ds, res.run_key)
    assert res.run_key == runs.run_key("image_issues", "image_brightness")
    assert run["method"] == "image_issues" and run["tags"] == list(image_issues.KINDS)
    assert run["roles"] == image_issues.score_fields("image_")
    assert run["saved_views"] == [image_issues.view_name(k) for k in image_issues.KINDS]
    assert run["counts"]["issues"] == dict.fromkeys(image_issues.KINDS, 4)
    assert "dark 4" in repr(res)


def test_fashion_mnist_kinds_and_no_grayscale_in_a_grayscale_dataset(make_dataset,
                                                                       fashion_files):
    ds = _dataset(make_dataset, fashion_files)

    res = image_issues.find_image_issues(ds, num_workers=1, progress=False)

    for kind in ("dark", "light", "blurry", "low_information"):
        assert set(_tagged(ds, kind)) >= {kind}
        assert ds.match_tags(kind).match(fo.ViewField("kind") == kind).count() == 2, kind
    clean = ds.match(fo.ViewField("kind") == "clean")
    assert not clean.match_tags(list(image_issues.KINDS)).count()
    # every image is grayscale: being grayscale is no issue here
    assert res.counts["grayscale"] == 0 and max(ds.values("image_colorfulness")) < 1.0
    assert set(ds.values("image_size")) == {28.0}


def test_array_level_statistics_and_flags():
    chelsea = skimage.data.chelsea()
    s = image_issues.image_statistics(chelsea[:140, :160])
    assert set(s) == set(image_issues.PIXEL_SCORES)
    assert 0.3 < s["brightness"] < 0.6 and s["colorfulness"] > 20 and s["sharpness"] > 0.3
    gray = np.stack([skimage.data.camera()[:200, :200]] * 3, -1)
    assert image_issues.image_statistics(gray)["colorfulness"] == 0.0
    assert image_issues.image_statistics(gray[..., 0]) == image_issues.image_statistics(gray)
    flat = np.full((50, 60, 3), 90, np.uint8)
    s = image_issues.image_statistics(flat)
    assert s["contrast"] == 0.0 and s["entropy"] == 0.0 and np.isnan(s["sharpness"])
    # darkening leaves contrast and sharpness as they were (ratios)
    crop = chelsea[:140, :160]
    darker = image_issues.image_statistics(_u8(crop * 0.5))
    base = image_issues.image_statistics(crop)
    assert abs(darker["contrast"] - base["contrast"]) < 0.02
    assert abs(darker["sharpness"] - base["sharpness"]) / base["sharpness"] < 0.1
    with pytest.raises(ValueError, match="uint8"):
        image_issues.image_statistics(crop.astype(np.float32))

    scores = dict(brightness=[0.1, 0.5, 0.9, np.nan], highlights=[0.3, 0.9, 1.0, np.nan],
                  clipped=[0.0, 0.0, 0.4, np.nan], contrast=[0.5, 0.05, 0.5, np.nan],
                  sharpness=[0.5, 0.1, 0.05, np.nan], colorfulness=[30, 30, 0.0, np.nan],
                  aspect_ratio=[1.0, 1.1, 6.0, np.nan], size=[100, 120, 10, np.nan])
    flags = image_issues.flag_issues(scores)
    assert list(flags) == list(image_issues.KINDS)
    assert all(v.shape == (4,) and v.dtype == bool for v in flags.values())
    assert flags["dark"].tolist() == [True, False, False, False]
    assert flags["light"].tolist() == [False, False, True, False]
    # a near-constant image is low-information, not also blurry
    assert flags["low_information"].tolist() == [False, True, False, False]
    assert flags["blurry"].tolist() == [False, False, True, False]
    assert flags["odd_aspect_ratio"].tolist() == [False, False, True, False]
    assert flags["odd_size"].tolist() == [False, False, True, False]
    assert flags["grayscale"].tolist() == [False, False, True, False]
    looser = image_issues.flag_issues(scores, thresholds=dict(dark=0.6, dark_highlights=0.95))
    assert looser["dark"].tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match="Unknown threshold"):
        image_issues.flag_issues(scores, thresholds=dict(darkness=0.1))
    with pytest.raises(ValueError, match="positive"):
        image_issues.check_thresholds(dict(blurry=-1))
    with pytest.raises(ValueError, match="> 1"):
        image_issues.check_thresholds(dict(odd_size=0.5))
    with pytest.raises(ValueError, match="missing"):
        image_issues.flag_issues(dict(brightness=[0.5]))


def test_unreadable_and_awkward_files_never_crash(make_dataset, tmp_path, photos):
    corpus = badcorpus.build(str(tmp_path / "bad"), photos["chelsea"])
    ds = make_dataset([fo.Sample(filepath=p, name=n) for n, p in corpus.items()]
                      + [fo.Sample(filepath=p, name=n) for n, p in photos.items()])

    res = image_issues.find_image_issues(ds, num_workers=1, progress=False)

    readable = [n for n, ok in badcorpus.EXPECTED_READABLE.items() if ok] + list(photos)
    assert sorted(ds.exists("image_brightness").values("name")) == sorted(readable)
    failed = dict(zip(*ds.exists("image_error").values(["name", "image_error"])))
    assert sorted(failed) == sorted(n for n, ok in badcorpus.EXPECTED_READABLE.items()
                                    if not ok)
    assert "truncated" in failed["truncated.jpg"]
    assert "file not found" in failed["missing.jpg"]
    assert "empty file" in failed["empty.jpg"]
    assert "cannot identify image" in failed["text.jpg"]
    assert res.num_failed == 4 and res.num_scored == len(readable)
    assert not ds.exists("image_error").match_tags(list(image_issues.KINDS)).count()

    size = {n: (w, h) for n, w, h in zip(*ds.exists("image_width").values(
        ["name", "image_width", "image_height"]))}
    assert size["large.jpg"] == (9000, 6000)  # full size, though decoded at 1/8
    assert size["exif_rotated.jpg"] == (200, 300)  # as displayed
    assert size["animated.gif"] == (64, 48) and size["one_pixel.png"] == (1, 1)
    one = ds.match(fo.ViewField("name") == "one_pixel.png").first()
    assert one.image_sharpness is None and "low_information" in one.tags
    gray16 = ds.match(fo.ViewField("name") == "gray16.png").first()
    assert 0.1 < gray16.image_brightness < 0.9 and gray16.image_colorfulness == 0.0
    for name in ("cmyk.jpg", "palette.png", "rgba.png"):
        sample = ds.match(fo.ViewField("name") == name).first()
        assert sample.image_colorfulness > 10, name


def test_rerun_replaces_only_its_fields_tags_and_views(make_dataset, photo_files):
    ds = _dataset(make_dataset, photo_files)
    ds.add_sample_field("note", fo.StringField)
    ds.set_values("note", ["mine"] * len(ds))
    ds.take(5, seed=0).tag_samples("keep")

    image_issues.find_image_issues(ds, num_workers=1, progress=False)
    res = image_issues.find_image_issues(ds, issues=["dark"], num_workers=1, progress=False)

    assert res.num_decoded == 0  # re-tagged from the stored scores
    counts = ds.count_sample_tags()
    assert counts == {"keep": 5, "dark": 4}
    assert set(ds.values("note")) == {"mine"}
    assert ds.list_saved_views() == [image_issues.view_name("dark")]
    run = runs.get_run(ds, res.run_key)
    assert run["tags"] == ["dark"] and run["saved_views"] == [image_issues.view_name("dark")]
    assert len(ds.exists("image_sharpness")) == len(ds)

    # without views: the run's old views go, a user's view of that name is not its
    ds.save_view("winnow-image-light", ds.limit(2))
    res = image_issues.find_image_issues(ds, issues=["dark"], save_views=False,
                                         progress=False)
    assert res.saved_views == [] and ds.list_saved_views() == ["winnow-image-light"]
    assert runs.get_run(ds, res.run_key)["saved_views"] == []
    ds.delete_saved_view("winnow-image-light")

    # deleting the run removes exactly what it wrote
    runs.delete_run(ds, res.run_key)
    assert ds.count_sample_tags() == {"keep": 5}
    assert not [f for f in ds.get_field_schema() if f.startswith("image_")]
    assert "note" in ds.get_field_schema() and not ds.list_saved_views()


def test_a_tag_in_use_or_bad_options_refused_before_anything_is_written(make_dataset,
                                                                        photo_files):
    ds = _dataset(make_dataset, photo_files)
    ds.take(2, seed=0).tag_samples("blurry")
    with pytest.raises(ValueError, match="Tag 'blurry' is in use"):
        image_issues.find_image_issues(ds, num_workers=1, progress=False)
    for kwargs, message in [(dict(thresholds=dict(dark=-1)), "positive"),
                            (dict(issues=["noisy"]), "issues must be"),
                            (dict(field_prefix=""), "field_prefix"),
                            (dict(batch_size=0), "batch_size")]:
        with pytest.raises(ValueError, match=message):
            image_issues.find_image_issues(ds, progress=False, **kwargs)
    assert not [f for f in ds.get_field_schema() if f.startswith("image_")]
    assert not winnow.list_runs(ds) and ds.count_sample_tags() == {"blurry": 2}

    bad = ds.clone()
    bad.add_sample(fo.Sample(filepath="/no/such/file.png"))
    with pytest.raises(RuntimeError, match="file not found"):
        image_issues.find_image_issues(bad, skip_failures=False, num_workers=0, issues=["dark"],
                                 progress=False)
    assert "image_brightness" not in bad.get_field_schema()
    fo.delete_dataset(bad.name)


def test_new_thresholds_retag_from_stored_scores_without_decoding(make_dataset, photo_files,
                                                                  tmp_path):
    folder = str(tmp_path / "copy")
    os.makedirs(folder)
    files = {}
    for path, kind in photo_files.items():
        files[shutil.copy(path, folder)] = kind
    ds = _dataset(make_dataset, files)
    first = image_issues.find_image_issues(ds, num_workers=1, progress=False)
    scores = ds.values("image_sharpness")
    shutil.rmtree(folder)  # the images are gone: only stored scores can serve

    res = image_issues.find_image_issues(ds, thresholds=dict(blurry=0.5), num_workers=1,
                                   progress=False)

    assert res.num_decoded == 0 and res.num_failed == 0
    assert ds.values("image_sharpness") == scores
    assert set(ds.values("image_error")) == {None}
    assert res.counts["blurry"] > first.counts["blurry"]
    expected = [k for k, s, c in zip(ds.values("kind"), scores, ds.values("image_contrast"))
                if s is not None and s < 0.5 and c >= 0.1]
    assert sorted(_tagged(ds, "blurry")) == sorted(expected)
    assert runs.get_run(ds, res.run_key)["params"]["thresholds"]["blurry"] == 0.5

    # recompute decodes again: every file is now missing, and says so
    res = image_issues.find_image_issues(ds, recompute=True, num_workers=1, progress=False)
    assert res.num_decoded == len(ds) and res.num_failed == len(ds)
    assert set(ds.values("image_error")) == {"FileNotFoundError: file not found"}
    assert not ds.count_sample_tags()


def test_fused_embedding_pass_writes_the_same_scores(make_dataset, photo_files):
    chosen = {p: k for i, (p, k) in enumerate(photo_files.items()) if i % 3 == 0}
    ds = _dataset(make_dataset, chosen)

    res = winnow.compute_embeddings(ds, image_issues=True, num_workers=1, progress=False)

    assert res.num_embedded == len(ds) and res.image_issues.num_decoded == len(ds)
    methods = {r["method"]: r for r in winnow.list_runs(ds)}
    assert set(methods) == {"embeddings", "image_issues"}
    assert methods["image_issues"]["params"]["fused_with"] == res.run_key
    assert methods["image_issues"]["key"] == res.image_issues.run_key
    fields = [image_issues.score_fields()[s] for s in image_issues.SCORES]
    fused = ds.values(fields)
    fused_tags = ds.values("tags")
    assert "Image issues" in repr(res)

    alone = image_issues.find_image_issues(ds, recompute=True, num_workers=1, progress=False)

    assert alone.num_decoded == len(ds)
    for field, a, b in zip(fields, fused, ds.values(fields)):
        a = np.array(a, dtype=float)
        b = np.array(b, dtype=float)
        assert np.allclose(a, b, rtol=1e-9, atol=0, equal_nan=True), field
    assert ds.values("tags") == fused_tags


def test_a_cancelled_write_leaves_nothing_behind(make_dataset, photo_files, monkeypatch):
    import fiftyone.core.collections as foc

    ds = _dataset(make_dataset, dict(list(photo_files.items())[:12]))
    real = foc.SampleCollection.set_values
    calls = []

    def cancel_on_third(self, *args, **kwargs):
        calls.append(1)
        real(self, *args, **kwargs)  # something is half-written ...
        if len(calls) == 3:
            raise KeyboardInterrupt  # ... when the user cancels

    monkeypatch.setattr(foc.SampleCollection, "set_values", cancel_on_third)
    with pytest.raises(KeyboardInterrupt):
        image_issues.find_image_issues(ds, num_workers=0, progress=False)
    monkeypatch.undo()

    assert not [f for f in ds.get_field_schema() if f.startswith("image_")]
    assert not ds.count_sample_tags() and not ds.list_saved_views()
    assert winnow.list_runs(ds) == []
