"""Awkward and broken files mixed into a real dataset: every readable one is embedded,
every unreadable one is recorded with a reason, and the run finishes."""

import numpy as np
import pytest

import fiftyone as fo

import winnow
from winnow.plugin import images

import badcorpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, photos):
    return badcorpus.build(str(tmp_path_factory.mktemp("bad")), photos["chelsea"])


def test_reader_decodes_awkward_files_and_explains_broken_ones(corpus):
    for name, path in corpus.items():
        if badcorpus.EXPECTED_READABLE[name]:
            img = images.read_image(path, draft_size=(512, 512))
            assert img.mode == "RGB" and min(img.size) >= 1, name
        else:
            with pytest.raises(Exception) as e:
                images.read_image(path)
            assert images.describe_error(e.value), name

    # EXIF orientation is applied: stored 300x200, displayed 200x300
    assert images.read_image(corpus["exif_rotated.jpg"]).size == (200, 300)
    # 16-bit grayscale is scaled, not clipped to white
    assert 0 < np.asarray(images.read_image(corpus["gray16.png"])).mean() < 250


def test_embeddings_finish_on_a_dataset_with_the_corpus(make_dataset, corpus, photos):
    ds = make_dataset([fo.Sample(filepath=p, name=n) for n, p in corpus.items()]
                      + [fo.Sample(filepath=p, name=n) for n, p in photos.items()])

    res = winnow.compute_embeddings(ds, progress=False, num_workers=1)

    readable = [n for n, ok in badcorpus.EXPECTED_READABLE.items() if ok] + list(photos)
    assert sorted(ds.exists("embedding").values("name")) == sorted(readable)
    assert all(np.isfinite(v).all() for v in ds.exists("embedding").values("embedding"))
    failed = dict(zip(*ds.exists("embedding_error").values(["name", "embedding_error"])))
    assert sorted(failed) == sorted(n for n, ok in badcorpus.EXPECTED_READABLE.items() if not ok)
    assert "truncated" in failed["truncated.jpg"]
    assert "file not found" in failed["missing.jpg"]
    assert "empty file" in failed["empty.jpg"]
    assert "cannot identify image" in failed["text.jpg"]
    assert res.num_failed == 4 and sum(res.failures.values()) == 4
