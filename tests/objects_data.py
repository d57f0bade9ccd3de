"""Real-image detections for the object-level tests (issue 14): one shared builder.

Scenes are canvases with 2-4 real Fashion-MNIST items from ``data/demo/fashion``
pasted at known, non-overlapping boxes; each item's class comes from
``data/demo/samples.csv``. Optional plants: the same item pasted twice (a
near-copy object) and a crop of a scikit-image photograph (the cat, chelsea)
among the items (an off-domain object). Nothing is synthetic noise, nothing
comes from outside the repository and scikit-image (fresh-machine safe).

Typical use::

    scenes = objects_data.write_scenes(tmp_path, 24, seed=0, near_copy=True,
                                       off_domain=True)
    ds = objects_data.detections_dataset(make_dataset, scenes)   # field "gt"
    objects_data.embed_objects(ds)          # gt.detections.embedding (EfficientNet-Lite0)
    truth = objects_data.truth(ds)          # {label id: {"item", "class", "kind"}}
"""

import csv
import os

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_DIR = os.path.join(REPO, "data", "demo")
FIELD = "gt"


def fashion_items():
    """The demo's Fashion-MNIST items: a list of ``(path, class)``, in file order."""
    out = []
    with open(os.path.join(DEMO_DIR, "samples.csv"), newline="") as f:
        for row in csv.DictReader(f):
            if row["source"] == "fashion-mnist":
                out.append((os.path.join(DEMO_DIR, row["filepath"]), row["ground_truth"]))
    return out


def _photo_crop(item_size, name="chelsea"):
    """A square crop of a scikit-image photograph (RGB uint8, ``item_size`` px)."""
    import skimage.data

    img = getattr(skimage.data, name)()
    h, w = img.shape[:2]
    s = min(h, w) // 2
    crop = Image.fromarray(img[h // 4:h // 4 + s, w // 4:w // 4 + s]).convert("RGB")
    return crop.resize((item_size, item_size), Image.BILINEAR)


def write_scenes(out_dir, n_scenes, *, seed=0, per_scene=(2, 4), size=128, item_size=40,
                 near_copy=False, off_domain=False, empty=0, photo="chelsea"):
    """Writes ``n_scenes`` PNG canvases of pasted Fashion-MNIST items.

    Each scene has ``per_scene[0]..per_scene[1]`` distinct items on a black
    ``size`` px canvas, each upscaled to ``item_size`` px and placed in its
    own cell of a 3x3 grid (jittered inside the cell), so boxes never overlap.

    Args:
        out_dir: where to write the images
        n_scenes: number of scenes
        seed (0): the items, cells and jitter
        near_copy (False): scene 1 gets, besides its own items, an exact copy of
            scene 0's first item (kind ``"copy"``; its original is ``"original"``)
        off_domain (False): scene 2 gets a crop of the scikit-image photo
            ``photo`` labelled as a Fashion-MNIST class (kind ``"photo"``)
        empty (0): extra scenes with no objects at all (an empty Detections)

    Returns:
        a list of dicts ``{"filepath", "objects": [{"item", "class", "box",
        "kind"}]}``; ``box`` is ``[x, y, w, h]`` relative; ``kind`` is
        ``"item"``, ``"original"``, ``"copy"`` or ``"photo"``; ``item`` is
        the index into :func:`fashion_items` (None for the photo)
    """
    rng = np.random.default_rng(seed)
    items = fashion_items()
    os.makedirs(str(out_dir), exist_ok=True)
    cell = size // 3
    assert item_size <= cell
    order = rng.permutation(len(items))
    used = 0
    scenes = []
    for s in range(n_scenes + empty):
        canvas = Image.new("RGB", (size, size))
        objects = []
        if s < n_scenes:
            k = int(rng.integers(per_scene[0], per_scene[1] + 1))
            extra = []
            if near_copy and s == 1:
                first = scenes[0]["objects"][0]
                extra.append(dict(first, kind="copy"))
                scenes[0]["objects"][0]["kind"] = "original"
            if off_domain and s == 2:
                extra.append(dict(item=None, **{"class": items[0][1]}, kind="photo"))
            wanted = [dict(item=int(order[(used + j) % len(order)]), kind="item")
                      for j in range(k)]
            used += k
            for o in wanted:
                o["class"] = items[o["item"]][1]
            cells = rng.choice(9, len(wanted) + len(extra), replace=False)
            for o, c in zip(wanted + extra, cells):
                x0 = (c % 3) * cell + int(rng.integers(0, cell - item_size + 1))
                y0 = (c // 3) * cell + int(rng.integers(0, cell - item_size + 1))
                if o["item"] is None:
                    patch = _photo_crop(item_size, photo)
                else:
                    patch = Image.open(items[o["item"]][0]).convert("RGB") \
                        .resize((item_size, item_size), Image.BILINEAR)
                canvas.paste(patch, (x0, y0))
                objects.append(dict(item=o["item"], kind=o["kind"], box=[
                    x0 / size, y0 / size, item_size / size, item_size / size],
                    **{"class": o["class"]}))
        path = os.path.join(str(out_dir), "scene_%03d.png" % s)
        canvas.save(path)
        scenes.append(dict(filepath=path, objects=objects))
    return scenes


def detections_dataset(make_dataset, scenes, *, field=FIELD):
    """A dataset of the scenes with a ``fo.Detections`` field ``field``: each object's
    ``label`` its class, its ``item`` index and ``kind`` as attributes (the truth)."""
    import fiftyone as fo

    samples = []
    for scene in scenes:
        dets = [fo.Detection(label=o["class"], bounding_box=o["box"], item=o["item"],
                             kind=o["kind"]) for o in scene["objects"]]
        samples.append(fo.Sample(filepath=scene["filepath"],
                                 **{field: fo.Detections(detections=dets)}))
    return make_dataset(samples)


def truth(samples, *, field=FIELD):
    """``{label id: {"sample_id", "item", "class", "kind"}}`` of every object."""
    sids, ids, items, classes, kinds = samples.values(
        ["id", field + ".detections.id", field + ".detections.item",
         field + ".detections.label", field + ".detections.kind"])
    out = {}
    for s, sid in enumerate(sids):
        for j, oid in enumerate(ids[s] or []):
            out[oid] = dict(sample_id=sid, item=items[s][j], kind=kinds[s][j],
                            **{"class": classes[s][j]})
    return out


def crops(samples, *, field=FIELD, size=64):
    """The objects' boxes cut from their images: ``(label ids, (M, size, size, 3) uint8)``,
    in sample order; objects whose box is empty after clipping are left out."""
    ids, arrays = [], []
    for path, dets in zip(*samples.values(["filepath", field + ".detections"])):
        if not dets:
            continue
        img = Image.open(path).convert("RGB")
        w, h = img.size
        for d in dets:
            x, y, bw, bh = d.bounding_box
            x0, y0 = max(0, round(x * w)), max(0, round(y * h))
            x1, y1 = min(w, round((x + bw) * w)), min(h, round((y + bh) * h))
            if x1 <= x0 or y1 <= y0:
                continue
            arrays.append(np.asarray(img.crop((x0, y0, x1, y1))
                                     .resize((size, size), Image.BILINEAR)))
            ids.append(d.id)
    return ids, np.stack(arrays) if arrays else np.zeros((0, size, size, 3), np.uint8)


def embed_objects(samples, *, field=FIELD, embeddings_field="embedding"):
    """Writes real EfficientNet-Lite0 vectors of the objects' crops on the objects
    (``<field>.detections.<embeddings_field>``, a declared vector attribute)."""
    import fiftyone.core.fields as fof

    from winnow.plugin.embeddings import embed_arrays

    ids, X = crops(samples, field=field)
    vectors = embed_arrays(X, size=224)
    path = "%s.detections.%s" % (field, embeddings_field)
    dataset = samples._root_dataset
    if path not in dataset.get_field_schema(flat=True):
        dataset.add_sample_field(path, fof.VectorField)
    samples.set_label_values(path, dict(zip(ids, list(vectors))))
    return dict(zip(ids, vectors))


def embedded_dataset(out_dir, n_scenes, *, prefix="winnow-test-objects", **scene_kwargs):
    """For a pytest fixture (``yield from``): writes the scenes (:func:`write_scenes`
    with ``scene_kwargs``), yields their dataset with object vectors
    (:func:`embed_objects`), then deletes it."""
    import uuid

    import fiftyone as fo

    made = []

    def make(samples):
        ds = fo.Dataset("%s-%s" % (prefix, uuid.uuid4().hex[:8]))
        ds.add_samples(samples, progress=False)
        made.append(ds)
        return ds

    try:
        ds = detections_dataset(make, write_scenes(out_dir, n_scenes, **scene_kwargs))
        embed_objects(ds)
        yield ds
    finally:
        for d in made:
            if fo.dataset_exists(d.name):
                fo.delete_dataset(d.name)
