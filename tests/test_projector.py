"""winnow.export_projector: TensorBoard projector files, read back and served by TensorBoard."""

import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest
from PIL import Image

import fiftyone as fo

import winnow
from winnow.plugin import projector
from winnow_fields import add_winnow_fields


@pytest.fixture(scope="module")
def tagged(demo_embedded):
    ds = demo_embedded.clone()
    found = add_winnow_fields(ds)
    yield ds, found
    ds.delete()


def _read_metadata(path):
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    return rows[0], rows[1:]


def test_export_writes_the_four_files_and_nothing_else(tagged, tmp_path):
    ds, found = tagged
    out = tmp_path / "projector"
    result = winnow.export_projector(ds, "embedding", out)

    assert sorted(os.listdir(tmp_path)) == ["projector"]
    assert sorted(os.listdir(out)) == sorted(projector.FILES)
    assert result["num_samples"] == len(ds) and result["skipped"] == 0
    assert result["dim"] == 1280 and result["sprite_failures"] == 0

    ids, vectors, labels = ds.values(["id", "embedding", "ground_truth.label"])
    X = np.loadtxt(out / "tensors.tsv", delimiter="\t")
    np.testing.assert_allclose(X, np.stack(vectors), rtol=1e-5, atol=1e-6)

    header, rows = _read_metadata(out / "metadata.tsv")
    assert header == ["id", "file", "label", "winnow", "winnow_tags", "tags"]
    assert [r[0] for r in rows] == ids
    assert all(len(r) == len(header) for r in rows)
    assert [r[2] for r in rows] == [lab or "" for lab in labels]
    status = {r[0]: r[3] for r in rows}
    assert all(status[i] == "outlier" for i in found["outlier"])
    assert {status[i] for i in found["redundant"]} <= {"redundant", "outlier"}
    assert sum(s == "kept" for s in status.values()) == len(ds.match_tags(
        ["outlier", "redundant", "representative"], bool=False))
    issues = {r[0] for r in rows if "label_issue" in r[4].split(",")}
    assert issues == set(found["label_issue"])

    # Sprite: a square grid of 64-px tiles in tensor order.
    per_side = math.ceil(math.sqrt(len(ds)))
    sprite = Image.open(out / "sprite.png")
    assert sprite.size == (per_side * 64, per_side * 64)
    # A photo's tile sits at its tensor row's grid position.
    k = ids.index(ds.match_tags("photo").first().id)
    cell = np.asarray(sprite.crop(((k % per_side) * 64, (k // per_side) * 64,
                                   (k % per_side + 1) * 64, (k // per_side + 1) * 64)))
    thumb = Image.open(ds[ids[k]].filepath).convert("RGB")
    thumb.thumbnail((64, 64))
    expected = Image.new("RGB", (64, 64))
    expected.paste(thumb, ((64 - thumb.width) // 2, (64 - thumb.height) // 2))
    expected = np.asarray(expected, dtype=float)
    assert np.corrcoef(cell.ravel().astype(float), expected.ravel())[0, 1] > 0.95
    neighbour = np.asarray(sprite.crop((((k + 1) % per_side) * 64, ((k + 1) // per_side) * 64,
                                        ((k + 1) % per_side + 1) * 64,
                                        ((k + 1) // per_side + 1) * 64)), dtype=float)
    assert np.abs(neighbour - expected).mean() > np.abs(cell - expected).mean() + 10

    config = (out / "projector_config.pbtxt").read_text()
    assert 'tensor_path: "tensors.tsv"' in config and 'metadata_path: "metadata.tsv"' in config
    assert config.count("single_image_dim: 64") == 2


def test_refuses_bad_input_and_existing_files_before_writing(tagged, tmp_path):
    ds, _ = tagged
    with pytest.raises(ValueError, match="No embeddings field"):
        winnow.export_projector(ds, "nope", tmp_path / "a")
    with pytest.raises(ValueError, match="No label field"):
        winnow.export_projector(ds, "embedding", tmp_path / "a", label_field="nope")
    with pytest.raises(ValueError, match="out_dir"):
        winnow.export_projector(ds, "embedding", None)
    assert not (tmp_path / "a").exists()

    out = tmp_path / "b"
    winnow.export_projector(ds.limit(5), "embedding", out, sprite=False)
    assert sorted(os.listdir(out)) == ["metadata.tsv", "projector_config.pbtxt", "tensors.tsv"]
    before = (out / "tensors.tsv").read_bytes()
    with pytest.raises(ValueError, match="overwrite=True"):
        winnow.export_projector(ds.limit(10), "embedding", out)
    assert (out / "tensors.tsv").read_bytes() == before
    winnow.export_projector(ds.limit(10), "embedding", out, overwrite=True)
    assert len(np.loadtxt(out / "tensors.tsv", delimiter="\t")) == 10


def test_samples_without_embeddings_are_left_out(make_dataset, tagged, photos, tmp_path):
    ds = make_dataset([fo.Sample(filepath=p) for p in photos.values()])
    ids = ds.values("id")
    ds.set_values("embedding", {ids[0]: np.ones(3), ids[1]: np.arange(3.0)}, key_field="id")
    result = winnow.export_projector(ds, "embedding", tmp_path)
    assert result["num_samples"] == 2 and result["skipped"] == 2
    _, rows = _read_metadata(tmp_path / "metadata.tsv")
    assert [r[0] for r in rows] == ids[:2] and rows[0][2] == ""  # no label field


def test_sprite_fits_tensorboards_limit_at_50000_samples():
    size = projector.thumb_size(50_000)
    assert math.ceil(math.sqrt(50_000)) * size <= projector.MAX_SPRITE_PX
    assert size == 36 and projector.thumb_size(306) == 64


def test_tensorboard_serves_the_export(tagged, tmp_path):
    pytest.importorskip("tensorboard", reason="TensorBoard is not installed")
    ds, _ = tagged
    winnow.export_projector(ds, "embedding", tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tb = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp_path),
         "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = "http://127.0.0.1:%d/data/plugin/projector/" % port

    def get(path):
        return urllib.request.urlopen(base + path, timeout=10).read()

    try:
        deadline = time.time() + 90
        while True:
            try:
                runs = json.loads(get("runs"))
                break
            except OSError:
                if tb.poll() is not None or time.time() > deadline:
                    raise
                time.sleep(0.5)
        run = urllib.parse.quote(runs[0])
        info = json.loads(get("info?run=" + run))
        (emb,) = info["embeddings"]
        assert emb["tensorShape"] == [len(ds), 1280]
        name = urllib.parse.quote(emb["tensorName"])
        tensor = np.frombuffer(get("tensor?run=%s&name=%s" % (run, name)), dtype=np.float32)
        np.testing.assert_allclose(tensor.reshape(len(ds), 1280)[0], ds.first().embedding,
                                   rtol=1e-5, atol=1e-6)
        metadata = get("metadata?run=%s&name=%s" % (run, name)).decode()
        rows = [line.split("\t") for line in metadata.splitlines()[1:]]
        assert len(rows) == len(ds)
        assert sum(r[3] == "outlier" for r in rows) == len(ds.match_tags("outlier"))
        assert get("sprite_image?run=%s&name=%s" % (run, name))[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        tb.terminate()
        try:
            tb.wait(15)
        except subprocess.TimeoutExpired:
            tb.kill()
            tb.wait(5)
