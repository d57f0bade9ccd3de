"""Export embeddings to TensorBoard's Embedding Projector (the 3-D PCA/t-SNE/UMAP view).

Writes, only under ``out_dir``:

- ``tensors.tsv``: one row of tab-separated floats per sample;
- ``metadata.tsv``: a header, then per sample its id, file name, label and Winnow status
  and tags (so the projector can colour and search by them);
- ``sprite.png``: the thumbnails in one square grid image, row-major in tensor order;
- ``projector_config.pbtxt``: ties them together, so ``tensorboard --logdir out_dir``
  (Projector tab) opens the same view; projector.tensorflow.org can also load the
  two TSV files.
"""

import math
import os

import numpy as np

import fiftyone.core.labels as fol

FILES = ("tensors.tsv", "metadata.tsv", "sprite.png", "projector_config.pbtxt")
WINNOW_TAGS = ("outlier", "redundant", "representative", "label_issue",
               "suggestion_accepted", "label_kept", "needs_review")
MAX_SPRITE_PX = 8192  # TensorBoard's limit on the sprite's side
MAX_THUMB_PX = 64


def _clean(value):
    # Metadata cells may not hold tabs or newlines.
    text = "" if value is None else str(value)
    return " ".join(text.replace("\t", " ").split())


def winnow_status(tags):
    """``outlier``, ``redundant``, ``representative`` or ``kept`` from a sample's tags."""
    tags = tags or []
    for status in ("outlier", "redundant", "representative"):
        if status in tags:
            return status
    return "kept"


def _label_value(label):
    if isinstance(label, fol.Classification):
        return label.label
    if isinstance(label, fol.Classifications):
        return ",".join(c.label for c in label.classifications if c.label)
    return label


def thumb_size(n, max_thumb=MAX_THUMB_PX):
    """The side of each sprite tile so that ``n`` tiles fit in TensorBoard's sprite limit."""
    per_side = max(1, math.ceil(math.sqrt(n)))
    return max(1, min(max_thumb, MAX_SPRITE_PX // per_side))


def make_sprite(filepaths, size):
    """A square grid of ``size``-px thumbnails (RGB), row-major; unreadable images grey.

    Returns:
        a tuple ``(image, failures)``: a PIL image and the indices that could not be read
    """
    from PIL import Image

    per_side = max(1, math.ceil(math.sqrt(len(filepaths))))
    sprite = Image.new("RGB", (per_side * size, per_side * size), (0, 0, 0))
    failures = []
    for i, path in enumerate(filepaths):
        try:
            with Image.open(path) as im:
                im.draft("RGB", (size, size))  # fast JPEG downscale while decoding
                tile = im.convert("RGB")
                tile.thumbnail((size, size))
        except Exception:
            tile = Image.new("RGB", (size, size), (128, 128, 128))
            failures.append(i)
        # Centre the tile in its cell (keeps aspect ratio).
        x = (i % per_side) * size + (size - tile.width) // 2
        y = (i // per_side) * size + (size - tile.height) // 2
        sprite.paste(tile, (x, y))
    return sprite, failures


def export_projector(samples, embeddings_field="embedding", out_dir=None, label_field=None,
                     sprite=True, max_thumb=MAX_THUMB_PX, tensor_name=None, overwrite=False):
    """Writes TensorBoard projector files for the embeddings of ``samples``.

    Samples without an embedding are left out (and counted).

    Args:
        samples: a dataset or view
        embeddings_field ("embedding"): a vector field
        out_dir: the directory to write (created; nothing is written elsewhere)
        label_field (None): a ``Classification(s)`` field for the ``label`` column;
            None uses ``ground_truth`` if present
        sprite (True): whether to write the thumbnail sprite
        max_thumb (64): the largest tile side in pixels
        tensor_name (None): the name shown in TensorBoard (default
            ``<dataset>:<embeddings_field>``)
        overwrite (False): whether existing projector files in ``out_dir`` may be replaced

    Returns:
        a dict with ``out_dir``, ``files``, ``num_samples``, ``skipped`` (no embedding),
        ``dim`` and ``sprite_failures``

    Raises:
        ValueError: bad input, before anything is written
    """
    if not out_dir or not isinstance(out_dir, (str, os.PathLike)):
        raise ValueError("out_dir must be a directory path; got %r" % (out_dir,))
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError("out_dir %r exists and is not a directory" % out_dir)
    existing = [f for f in FILES if os.path.exists(os.path.join(out_dir, f))]
    if existing and not overwrite:
        raise ValueError("%s already holds %s; pass overwrite=True to replace them"
                         % (out_dir, ", ".join(existing)))
    if samples.get_field(embeddings_field) is None:
        raise ValueError("No embeddings field %r: run winnow.compute_embeddings first"
                         % (embeddings_field,))
    if label_field is None and samples.get_field("ground_truth") is not None:
        label_field = "ground_truth"
    if label_field is not None and samples.get_field(label_field) is None:
        raise ValueError("No label field %r" % (label_field,))
    if not isinstance(max_thumb, int) or max_thumb < 1:
        raise ValueError("max_thumb must be a positive integer; got %r" % (max_thumb,))

    embedded = samples.exists(embeddings_field)
    paths = ["id", "filepath", "tags", embeddings_field]
    if label_field:
        paths.append(label_field)
    values = embedded.values(paths)
    ids, filepaths, tags, vectors = values[:4]
    labels = values[4] if label_field else [None] * len(ids)
    if not ids:
        raise ValueError("No sample of this collection has an embedding in %r"
                         % embeddings_field)
    X = np.stack([np.asarray(v, dtype=np.float32).ravel() for v in vectors])
    if not np.isfinite(X).all():
        raise ValueError("Some embeddings contain NaN or infinite values")

    os.makedirs(out_dir, exist_ok=True)
    written = []

    def path(name):
        written.append(name)
        return os.path.join(out_dir, name)

    np.savetxt(path("tensors.tsv"), X, delimiter="\t", fmt="%.6g")

    with open(path("metadata.tsv"), "w", encoding="utf-8") as f:
        f.write("id\tfile\tlabel\twinnow\twinnow_tags\ttags\n")
        for sid, fp, tg, lab in zip(ids, filepaths, tags, labels):
            tg = tg or []
            winnow_tags = [t for t in tg if t in WINNOW_TAGS]
            f.write("\t".join(_clean(v) for v in (
                sid, os.path.basename(fp), _label_value(lab), winnow_status(tg),
                ",".join(winnow_tags), ",".join(tg))) + "\n")

    size = thumb_size(len(ids), max_thumb)
    failures = []
    if sprite:
        image, failures = make_sprite(filepaths, size)
        image.save(path("sprite.png"))

    name = tensor_name or "%s:%s" % (samples._root_dataset.name, embeddings_field)
    config = ['embeddings {',
              '  tensor_name: "%s"' % name.replace('"', "'"),
              '  tensor_path: "tensors.tsv"',
              '  metadata_path: "metadata.tsv"']
    if sprite:
        config += ['  sprite {',
                   '    image_path: "sprite.png"',
                   '    single_image_dim: %d' % size,
                   '    single_image_dim: %d' % size,
                   '  }']
    config.append('}')
    with open(path("projector_config.pbtxt"), "w", encoding="utf-8") as f:
        f.write("\n".join(config) + "\n")

    return dict(out_dir=out_dir, files=[os.path.join(out_dir, w) for w in written],
                num_samples=len(ids), skipped=len(samples) - len(ids), dim=int(X.shape[1]),
                sprite_failures=len(failures))
