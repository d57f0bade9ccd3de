"""Exact duplicates and leaks between splits on real images (photos and Fashion-MNIST)."""

import os
import shutil

import numpy as np
import pytest
import skimage.data
from PIL import Image

import fiftyone as fo

import winnow
from winnow.plugin import duplicates as dup

import badcorpus

FASHION = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "data", "demo", "fashion")
SIZE = (160, 120)  # one size for most photos, so their pixels must be compared


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Real photos and their copies: ``{name: path}``.

    Most photos share one size (so they collide and are decoded); the rocket
    has a size of its own (never decoded).
    """
    out = tmp_path_factory.mktemp("copies")
    p = {}
    for name in ["chelsea", "coffee", "astronaut", "immunohistochemistry"]:
        p[name] = str(out / (name + ".png"))
        Image.fromarray(getattr(skimage.data, name)()).resize(SIZE).save(p[name])
    p["rocket"] = str(out / "rocket.png")
    Image.fromarray(skimage.data.rocket()).resize((200, 133)).save(p["rocket"])
    # Byte-exact copies.
    for name in ["chelsea", "rocket"]:
        p[name + "_copy"] = str(out / (name + "_copy.png"))
        shutil.copyfile(p[name], p[name + "_copy"])
    # Pixel-exact copies in other lossless formats.
    p["chelsea_bmp"] = str(out / "chelsea.bmp")
    Image.open(p["chelsea"]).save(p["chelsea_bmp"])
    p["coffee_tiff"] = str(out / "coffee.tiff")
    Image.open(p["coffee"]).save(p["coffee_tiff"])
    # A JPEG re-encode: a near copy, not an exact one.
    p["astronaut_q90"] = str(out / "astronaut_q90.jpg")
    Image.open(p["astronaut"]).save(p["astronaut_q90"], quality=90)
    return p


ORDER = ["chelsea", "coffee", "astronaut", "immunohistochemistry", "rocket", "chelsea_copy",
         "chelsea_bmp", "coffee_tiff", "astronaut_q90", "rocket_copy"]
EXPECTED = {"chelsea_copy": "chelsea", "chelsea_bmp": "chelsea", "coffee_tiff": "coffee",
            "rocket_copy": "rocket"}


def _dataset(make_dataset, files, names=ORDER):
    return make_dataset([fo.Sample(filepath=files[n], name=n) for n in names])


def _links(ds, field):
    """``{name: name of the linked sample}`` for the samples with a link."""
    name_of = dict(zip(*ds._root_dataset.values(["id", "name"])))
    return {n: name_of[link] for n, link in zip(*ds.values(["name", field])) if link}


def test_exact_copies_are_grouped_and_linked_to_the_first(make_dataset, files):
    ds = _dataset(make_dataset, files)
    res = dup.find_duplicates(ds, progress=False)

    assert _links(ds, "duplicate_of") == EXPECTED
    assert res.num_duplicates == 4 and res.num_groups == 3 and res.num_failed == 0
    assert sorted(ds.match_tags("duplicate").values("name")) == sorted(EXPECTED)
    hashes = dict(zip(*ds.values(["name", "content_hash"])))
    # Equal hashes exactly within the groups; the JPEG re-encode is no exact copy.
    for name, kept in EXPECTED.items():
        assert hashes[name] == hashes[kept]
    assert len(set(hashes.values())) == len(ORDER) - len(EXPECTED)
    # Only the colliding size was decoded, one file per distinct byte hash: the
    # 7 files of SIZE; the rocket and its byte copy were never decoded.
    assert res.num_decoded == 7
    assert hashes["rocket"].startswith("file:") and hashes["chelsea"].startswith("pixels:")
    run = winnow.get_run(ds, res.run_key)
    assert run["method"] == "duplicates" and run["tags"] == ["duplicate", "near_duplicate"]
    assert run["roles"] == {"link": "duplicate_of", "hash": "content_hash",
                            "error": "content_hash_error"}

    # FiftyOne Brain (file hashes) finds the byte-exact groups; Winnow also the pixel ones.
    import fiftyone.brain as fob

    name_of = dict(zip(*ds.values(["id", "name"])))
    brain = fob.compute_exact_duplicates(ds, progress=False)
    brain = {name_of[k]: sorted(name_of[i] for i in v) for k, v in brain.items()}
    assert brain == {"chelsea": ["chelsea_copy"], "rocket": ["rocket_copy"]}
    ours = {name_of[k]: sorted(name_of[i] for i in v) for k, v in res.groups.items()}
    assert ours == {"chelsea": ["chelsea_bmp", "chelsea_copy"], "coffee": ["coffee_tiff"],
                    "rocket": ["rocket_copy"]}

    # The kept sample is the first in the view's order.
    view = ds.sort_by("name", reverse=True)
    dup.find_duplicates(view, progress=False)
    assert _links(view, "duplicate_of") == {
        "rocket": "rocket_copy", "coffee": "coffee_tiff", "chelsea_bmp": "chelsea_copy",
        "chelsea": "chelsea_copy"}


def test_near_copies_by_fingerprint_on_real_images(make_dataset, files, tmp_path):
    """All 300 demo Fashion-MNIST images with planted re-encodes and resizes, and the
    photos: exactly the planted copies are linked, exact ones tagged apart."""
    fashion = sorted(os.listdir(FASHION))
    samples = [fo.Sample(filepath=os.path.join(FASHION, f), name=f) for f in fashion]
    planted = {}
    for k, f in enumerate(fashion[:8]):
        img = Image.open(os.path.join(FASHION, f))
        name = "near_%d" % k
        path = str(tmp_path / (name + (".jpg" if k < 5 else ".png")))
        if k < 5:
            img.save(path, quality=75)  # a re-encode
        else:
            img.resize((56, 56), Image.Resampling.BICUBIC).save(path)  # a resize
        samples.append(fo.Sample(filepath=path, name=name))
        planted[name] = f
    samples += [fo.Sample(filepath=files[n], name=n) for n in ORDER]
    ds = make_dataset(samples)

    res = dup.find_duplicates(ds, near_copies=True, progress=False)

    expected = dict(planted, astronaut_q90="astronaut", **EXPECTED)
    assert _links(ds, "duplicate_of") == expected
    near = sorted(list(planted) + ["astronaut_q90"])
    assert sorted(ds.match_tags("near_duplicate").values("name")) == near
    assert sorted(ds.match_tags("duplicate").values("name")) == sorted(EXPECTED)
    assert res.num_near == len(near) and res.num_duplicates == len(EXPECTED)
    assert "near copies tagged 'near_duplicate'" in str(res)
    run = winnow.get_run(ds, res.run_key)
    assert run["params"]["near_copies"] and run["counts"]["near"] == len(near)

    # Exact only again: the near tags go, the exact result stays.
    dup.find_duplicates(ds, progress=False)
    assert "near_duplicate" not in ds.count_sample_tags()
    assert _links(ds, "duplicate_of") == EXPECTED
    with pytest.raises(ValueError, match="max_fingerprint_distance"):
        dup.find_duplicates(ds, near_copies=True, max_fingerprint_distance=3)
    with pytest.raises(ValueError, match="must differ"):
        dup.find_duplicates(ds, near_copies=True, near_tag="duplicate")
    assert _links(ds, "duplicate_of") == EXPECTED


def test_fingerprints_ignore_compression_not_content():
    photo = Image.fromarray(skimage.data.astronaut())
    f = dup.fingerprint(photo)
    assert f.shape == (63,) and f.dtype == np.float32 and abs(np.linalg.norm(f) - 1) < 1e-5
    darker = Image.fromarray((np.asarray(photo) * 0.8).astype(np.uint8))
    assert 1 - f @ dup.fingerprint(darker) < dup.DEFAULT_FINGERPRINT_DISTANCE
    assert 1 - f @ dup.fingerprint(photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) > 0.1
    # A near-constant image has no fingerprint (its coefficients would be noise).
    rng = np.random.default_rng(0)
    flat = rng.integers(100, 102, size=(64, 64, 3), dtype=np.uint8)
    assert dup.fingerprint(Image.fromarray(flat)) is None
    F = [f, None, f, dup.fingerprint(darker)]
    assert dup.near_copy_groups(F, np.array([0, 1, 2, -1])).tolist() == [0, 1, 0, -1]


def test_hashing_is_parallel_and_the_same_for_any_thread_count(files):
    paths = [files[n] for n in ORDER]
    one = dup.content_hashes(paths, num_workers=1)
    four = dup.content_hashes(paths, num_workers=4)
    assert one == four
    assert dup.file_hash(files["chelsea"]) == dup.file_hash(files["chelsea"], chunk_size=7)
    kept = dup.duplicate_groups(one.hashes)
    assert [ORDER[k] for k in kept] == [EXPECTED.get(n, n) for n in ORDER]
    assert dup.duplicate_groups([None, "a", None, "a"]).tolist() == [-1, 1, -1, 1]


def test_unreadable_files_get_a_reason_never_a_crash(make_dataset, tmp_path, photos):
    corpus = badcorpus.build(str(tmp_path / "bad"), photos["chelsea"])
    ds = make_dataset([fo.Sample(filepath=p, name=n) for n, p in corpus.items()]
                      + [fo.Sample(filepath=photos["chelsea"], name="source")])
    res = dup.find_duplicates(ds, progress=False)

    rows = {n: (h, e) for n, h, e in zip(*ds.values(["name", "content_hash",
                                                     "content_hash_error"]))}
    for name, readable in badcorpus.EXPECTED_READABLE.items():
        h, e = rows[name]
        if name == "truncated.jpg":
            # Its header reads but its pixels do not: a reason, and its byte hash.
            assert e and h.startswith("file:"), name
        elif readable:
            assert h and e is None, name
        else:
            assert h is None and e, name
    assert "empty file" in rows["empty.jpg"][1]
    assert res.num_failed == 4 and "content_hash_error" in repr(res)
    # The RGBA file holds the source's RGB pixels (models read RGB): an exact copy.
    # Nothing else is linked; the 9000x6000 file's size is its own: never decoded.
    assert _links(ds, "duplicate_of") == {"source": "rgba.png"}
    assert res.num_decoded == 6


def test_rerun_replaces_only_its_fields_and_tags(make_dataset, files):
    ds = _dataset(make_dataset, files)
    ds.add_sample_field("note", fo.StringField)
    ds.set_values("note", ["mine"] * len(ds))
    ds.select(ds.first().id).tag_samples("keep-me")
    first = dup.find_duplicates(ds, progress=False)
    assert not first.reused_hashes

    # A re-run on a view reuses the stored hashes (nothing read again) and replaces
    # the whole previous result: the kept chelsea is outside, its copies link anew.
    chelsea = ds.match({"name": "chelsea"}).first().id
    view = ds.exclude([chelsea])
    res = dup.find_duplicates(view, progress=False)
    assert res.reused_hashes and res.num_decoded == 0
    assert _links(ds, "duplicate_of") == {"chelsea_bmp": "chelsea_copy",
                                          "coffee_tiff": "coffee", "rocket_copy": "rocket"}
    assert ds[chelsea]["content_hash"] is None and "duplicate" not in ds[chelsea].tags
    assert ds.count_sample_tags() == {"keep-me": 1, "duplicate": 3}
    assert ds.values("note") == ["mine"] * len(ds)
    assert len(winnow.list_runs(ds, "duplicates")) == 1

    again = dup.find_duplicates(ds, recompute=True, progress=False)
    assert not again.reused_hashes and again.num_decoded == 7
    assert _links(ds, "duplicate_of") == EXPECTED

    winnow.delete_run(ds, again.run_key)
    schema = ds.get_field_schema()
    assert not {"duplicate_of", "content_hash", "content_hash_error"} & set(schema)
    assert ds.count_sample_tags() == {"keep-me": 1}


def test_a_field_not_ours_is_refused_before_anything_is_written(make_dataset, files):
    ds = _dataset(make_dataset, files, ORDER[:3])
    ds.add_sample_field("content_hash", fo.StringField)
    with pytest.raises(ValueError, match="'content_hash' already exists"):
        dup.find_duplicates(ds, progress=False)
    assert "duplicate_of" not in ds.get_field_schema() and not winnow.list_runs(ds)
    with pytest.raises(ValueError, match="The view is empty"):
        dup.find_duplicates(ds.limit(0), hash_field="h", progress=False)
    with pytest.raises(ValueError, match="num_workers"):
        dup.find_duplicates(ds, hash_field="h", num_workers=-1, progress=False)
    assert not winnow.list_runs(ds)


# ---------------------------------------------------------------------- leaks


@pytest.fixture(scope="module")
def split_files(files, tmp_path_factory):
    """Fashion-MNIST images and JPEG re-encodes of some: ``{name: path}``."""
    out = tmp_path_factory.mktemp("fashion")
    p = {}
    for k in range(20):
        p["fm%d" % k] = os.path.join(FASHION, "fmnist_%05d.png" % k)
    for k in (3, 4):
        p["fm%d_q90" % k] = str(out / ("fm%d_q90.jpg" % k))
        Image.open(p["fm%d" % k]).save(p["fm%d_q90" % k], quality=90)
    p.update(files)
    return p


SPLITS = {
    "train": ["chelsea", "coffee", "astronaut", "rocket"] + ["fm%d" % k for k in range(10)]
             + ["chelsea_copy"],  # a copy inside the training split is no leak
    "test": ["chelsea_bmp", "coffee_tiff", "astronaut_q90", "fm3_q90", "fm4_q90",
             "immunohistochemistry"] + ["fm%d" % k for k in range(10, 16)],
    "val": ["rocket_copy"] + ["fm%d" % k for k in range(16, 20)],
}
LEAKS = {"chelsea_bmp": "chelsea", "coffee_tiff": "coffee", "rocket_copy": "rocket",
         "astronaut_q90": "astronaut", "fm3_q90": "fm3", "fm4_q90": "fm4"}
EXACT = {"chelsea_bmp", "coffee_tiff", "rocket_copy"}


@pytest.fixture(scope="module")
def split_dataset(split_files):
    """The splits in a field and as tags, with default embeddings (computed once)."""
    samples = []
    for split, names in SPLITS.items():
        for n in names:
            samples.append(fo.Sample(filepath=split_files[n], name=n, split=split,
                                     tags=[split]))
    ds = fo.Dataset()
    ds.add_samples(samples, progress=False)
    winnow.compute_embeddings(ds, progress=False, num_workers=1)
    yield ds
    ds.delete()


@pytest.fixture
def splits(split_dataset):
    ds = split_dataset.clone()
    yield ds
    ds.delete()


def test_leaks_exact_and_near_copies_across_splits(splits):
    res = dup.find_leaks(splits, split_field="split", progress=False)

    assert _links(splits, "leak_of") == LEAKS
    assert sorted(splits.match_tags("leak").values("name")) == sorted(LEAKS)
    assert not splits.match_tags("train").match_tags("leak")
    distance = dict(zip(*splits.values(["name", "leak_distance"])))
    for name in LEAKS:
        if name in EXACT:
            assert distance[name] == 0.0, name
        else:  # JPEG re-encodes: near, not exact
            assert 0.0 < distance[name] <= dup.DEFAULT_MAX_DISTANCE, name
    assert res.num_exact == 3 and res.num_near == 3 and not res.reused_hashes
    assert res.leaks_per_split == {"test": 5, "val": 1}
    assert res.splits == {"train": 15, "test": 12, "val": 5}
    run = winnow.get_run(splits, res.run_key)
    assert run["score"] == {"field": "leak_distance", "descending": False}
    assert run["roles"] == {"link": "leak_of", "distance": "leak_distance"}

    # Distinct images are never linked: each is farther from every training image.
    X = np.array(splits.values("embedding"))
    train = np.array([s == "train" for s in splits.values("split")])
    names = splits.values("name")
    _, d = dup.nearest_cosine(X[~train], X[train])
    for name, dist in zip(np.array(names)[~train], d):
        if name not in LEAKS:
            assert dist > dup.DEFAULT_MAX_DISTANCE, name

    # The same splits as tags give the same leaks; a re-run replaces the previous one.
    res_tags = dup.find_leaks(splits, split_tags=["train", "test", "val"], progress=False)
    assert _links(splits, "leak_of") == LEAKS and res_tags.num_leaks == 6
    assert len(winnow.list_runs(splits, "leaks")) == 1

    # The JPEG re-encodes were matched by fingerprint before embeddings were looked at.
    assert res.num_fingerprint == 3 and run["params"]["fingerprints"]
    assert "3 by fingerprint" in str(res)

    # Without embeddings the fingerprints still find the re-encodes; without both, exact
    # copies only. The hashes find_duplicates stored are reused.
    dup.find_duplicates(splits, progress=False)
    no_emb = dup.find_leaks(splits, split_field="split", embeddings_field=None,
                            progress=False)
    assert no_emb.reused_hashes and no_emb.num_fingerprint == 3
    assert _links(splits, "leak_of") == LEAKS
    exact = dup.find_leaks(splits, split_field="split", embeddings_field=None,
                           fingerprints=False, progress=False)
    assert exact.reused_hashes and exact.num_near == 0
    assert _links(splits, "leak_of") == {n: LEAKS[n] for n in EXACT}
    assert splits.count_sample_tags()["duplicate"] == 4  # the other run's tag is untouched


def test_nearest_cosine_blocks_match_brute_force():
    rng = np.random.default_rng(0)
    Q, R = rng.normal(size=(37, 8)), rng.normal(size=(11, 8))
    nearest, d = dup.nearest_cosine(Q, R, block_values=30)  # blocks of 2 queries
    Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    Rn = R / np.linalg.norm(R, axis=1, keepdims=True)
    cos = 1 - Qn @ Rn.T
    assert nearest.tolist() == cos.argmin(1).tolist()
    assert np.allclose(d, cos.min(1), atol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(split_field="nope"), "No field 'nope' for split_field"),
    (dict(split_field="split", split_tags=["train", "test"]), "exactly one of split_field"),
    (dict(), "exactly one of split_field"),
    (dict(split_field="partial"), "3 samples are in no split"),
    (dict(split_field="number"), "split_field must be a Classification or string field"),
    (dict(split_tags=["train", "test"]), "5 samples carry none of the split tags"),
    (dict(split_tags=["train", "test", "val", "extra"]),
     "1 samples carry more than one split tag"),
    (dict(split_tags="train"), "split_tags must be a list"),
    (dict(split_field="split", train_split="training"), "No sample is in the training split"),
    (dict(split_field="split", max_distance=3), r"cosine distance in \[0, 2\]"),
    (dict(split_field="split", embeddings_field="missing"),
     "compute embeddings first.*embeddings_field=None"),
    (dict(split_field="split", split_tags=None, tag="train"), None),
    (dict(split_tags=["train", "test", "val"], tag="val", overwrite=True),
     "is one of the split_tags"),
    (dict(split_field="split", link_field="split", overwrite=True),
     "is an output of this step"),
])
def test_bad_input_raises_one_clear_error_before_writing(splits, kwargs, message):
    splits.add_sample_field("partial", fo.StringField)
    splits.set_values("partial", [None] * 3 + ["train"] * 14 + ["test"] * (len(splits) - 17))
    splits.add_sample_field("number", fo.FloatField)
    first = splits.first()
    first.tags.append("extra")
    first.save()
    if message is None:  # a tag already in use by the user is refused by the run's check
        message = "Tag 'train' is in use"
    with pytest.raises(ValueError, match=message):
        dup.find_leaks(splits, progress=False, **kwargs)
    assert not {"leak_of", "leak_distance"} & set(splits.get_field_schema())
    assert not winnow.list_runs(splits, "leaks") and "leak" not in splits.count_sample_tags()


def test_empty_view_and_one_split_are_refused(splits):
    with pytest.raises(ValueError, match="The view is empty"):
        dup.find_leaks(splits.limit(0), split_field="split", progress=False)
    with pytest.raises(ValueError, match="Every sample is in the training split"):
        dup.find_leaks(splits.match({"split": "train"}), split_field="split", progress=False)
    assert not winnow.list_runs(splits, "leaks")


@pytest.mark.parametrize("step", ["duplicates", "leaks"])
def test_cancel_mid_write_leaves_nothing(step, splits, monkeypatch):
    import fiftyone.core.collections as foc

    real = foc.SampleCollection.set_values

    def write_then_cancel(self, *args, **kwargs):
        real(self, *args, **kwargs)  # something is half-written ...
        raise KeyboardInterrupt  # ... when the user cancels

    monkeypatch.setattr(foc.SampleCollection, "set_values", write_then_cancel)
    with pytest.raises(KeyboardInterrupt):
        if step == "duplicates":
            dup.find_duplicates(splits, progress=False)
        else:
            dup.find_leaks(splits, split_field="split", progress=False)
    monkeypatch.undo()
    schema = set(splits.get_field_schema())
    assert not {"duplicate_of", "content_hash", "content_hash_error", "leak_of",
                "leak_distance"} & schema
    assert not {"duplicate", "leak"} & set(splits.count_sample_tags())
    assert [r["method"] for r in winnow.list_runs(splits)] == ["embeddings"]


# ---------------------------------------------------------------------------
# Operators: the forms flag bad values as the user types; the Python call runs the step


def _form_errors(ds, name, **params):
    import fiftyone.operators as foo
    from fiftyone.operators.executor import ExecutionContext, Executor

    uri = "@winnow/curation/" + name
    ctx = ExecutionContext(request_params=dict(dataset_name=ds.name, params=params),
                           executor=Executor(), operator_uri=uri)
    props = foo.get_operator(uri).resolve_input(ctx).type.properties
    return {k: p.error_message for k, p in props.items() if p.invalid}


def test_operator_forms_flag_bad_values_before_running(splits):
    assert _form_errors(splits, "find_duplicates") == {}
    errors = _form_errors(splits, "find_duplicates", tag="train")  # the user's tag
    assert list(errors) == ["tag"] and "Tag 'train' is in use" in errors["tag"]
    errors = _form_errors(splits, "find_duplicates", link_field="filepath")
    assert list(errors) == ["link_field"] and "reserved" in errors["link_field"]
    errors = _form_errors(splits, "find_duplicates", near_copies=True, near_tag="test")
    assert list(errors) == ["near_tag"] and "Tag 'test' is in use" in errors["near_tag"]
    errors = _form_errors(splits, "find_duplicates", near_copies=True, near_tag="duplicate")
    assert list(errors) == ["near_tag"] and "must differ" in errors["near_tag"]

    assert _form_errors(splits, "find_leaks", split_field="split") == {}
    errors = _form_errors(splits, "find_leaks", split_field="split", train_split="nope")
    assert list(errors) == ["split_field"] and "training split 'nope'" in errors["split_field"]
    errors = _form_errors(splits, "find_leaks", split_by="tags", split_tags=["train", "test"])
    assert list(errors) == ["split_tags"] and "none of the split tags" in errors["split_tags"]
    errors = _form_errors(splits, "find_leaks", split_field="split", embeddings_field="name")
    assert list(errors) == ["embeddings_field"] and "not a vector field" in \
        errors["embeddings_field"]
    assert not winnow.list_runs(splits, method="leaks")  # forms never write


def test_operators_run_from_python(splits):
    import fiftyone.operators as foo

    foo.get_operator("@winnow/curation/find_leaks")(splits, split_tags=["train", "test", "val"])
    assert sorted(splits.match_tags("leak").values("name")) == sorted(LEAKS)
    foo.get_operator("@winnow/curation/find_duplicates")(splits)
    # Byte-exact and pixel-exact copies of earlier samples in view order.
    assert {"chelsea_copy", "chelsea_bmp", "coffee_tiff", "rocket_copy"} <= set(
        splits.match_tags("duplicate").values("name"))
