"""Shared fixtures: a real MongoDB (FiftyOne's own, in a test database), real images, real weights."""

import os
import uuid

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
os.environ.setdefault("FIFTYONE_DATABASE_NAME", "winnow-test")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _plugins_dir():
    """A plugins dir outside the repo whose only plugin is this checkout.

    It must live outside ``tests/``: pytest follows symlinks, and a link back
    to the repo inside ``tests/`` makes it collect the suite recursively.
    """
    import hashlib
    import tempfile

    # One dir per checkout, so two clones tested at once never share a link.
    tag = hashlib.sha1(REPO.encode()).hexdigest()[:10]
    path = os.path.join(tempfile.gettempdir(), "winnow-test-plugins-%d-%s" % (os.getuid(), tag))
    os.makedirs(path, exist_ok=True)
    link = os.path.join(path, "winnow")
    if os.path.realpath(link) != REPO:
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(REPO, link)
    return path


# Tests load the plugin the way the App does: from a plugins dir.
os.environ.setdefault("FIFTYONE_PLUGINS_DIR", _plugins_dir())

import pytest  # noqa: E402

import fiftyone as fo  # noqa: E402


def unique_name(prefix="winnow-test"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


@pytest.fixture
def make_dataset():
    """Creates empty datasets with unique names and deletes them afterwards."""
    created = []

    def make(samples=None, name=None):
        ds = fo.Dataset(name or unique_name())
        if samples:
            ds.add_samples(samples, progress=False)
        created.append(ds.name)
        return ds

    yield make
    for name in created:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


@pytest.fixture(scope="session")
def photos(tmp_path_factory):
    """Full-size scikit-image sample photographs as JPEG files: ``{name: path}``."""
    import skimage.data
    from PIL import Image

    out = tmp_path_factory.mktemp("photos")
    paths = {}
    for name in ["chelsea", "coffee", "astronaut", "rocket"]:
        path = str(out / (name + ".jpg"))
        Image.fromarray(getattr(skimage.data, name)()).convert("RGB").save(path, quality=95)
        paths[name] = path
    return paths


@pytest.fixture(scope="session")
def demo_embedded():
    """The shipped demo set (300 Fashion-MNIST + 6 photos) with default embeddings.

    Computed once per session; tests that write to it must work on
    ``demo_embedded.clone()`` instead.
    """
    import winnow
    from winnow.demo import load_demo_dataset

    ds = load_demo_dataset(unique_name("winnow-test-demo"), persistent=False)
    winnow.compute_embeddings(ds, progress=False)
    yield ds
    if fo.dataset_exists(ds.name):
        fo.delete_dataset(ds.name)
