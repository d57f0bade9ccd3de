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

from . import inputs

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
    # A class name, a list of them (multi-label) or None (see inputs.LabelField.clean).
    if isinstance(label, list):
        return ",".join(name for name in label if name)
    return label


def thumb_size(n, *, max_thumb=MAX_THUMB_PX):
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


def export_projector(samples, embeddings_field="embedding", out_dir=None, *, label_field=None,
                     sprite=True, max_thumb=MAX_THUMB_PX, tensor_name=None, overwrite=False):
    """Writes TensorBoard projector files for the embeddings of ``samples``.

    Samples without an embedding are left out (and counted).

    Args:
        samples: a dataset or view
        embeddings_field ("embedding"): a vector field (``(D,)`` per sample)
        out_dir: the directory to write (created; nothing is written elsewhere)
        label_field (None): a ``Classification(s)``, string, int or bool field
            (or a dotted path to such values) for the ``label`` column; None
            uses ``ground_truth`` if it is such a field
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
    inputs.check_collection(samples)
    schema = samples.get_field_schema()
    inputs.check_vector_field(schema, embeddings_field)
    labels = _resolve_labels(samples, schema, label_field)
    if not isinstance(max_thumb, int) or max_thumb < 1:
        raise ValueError("max_thumb must be a positive integer; got %r" % (max_thumb,))

    ids, X, labels, num_skipped = inputs.load_vectors(samples, embeddings_field, labels,
                                                      unlabeled="keep")
    if labels is None:
        labels = [None] * len(ids)
    # File names and tags in the vectors' order (the view could change between reads).
    rows = samples.exists(embeddings_field).values(["id", "filepath", "tags"])
    meta = {sid: (fp, tg) for sid, fp, tg in zip(*rows)}
    filepaths, tags = zip(*[meta.get(sid, ("", [])) for sid in ids])

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

    size = thumb_size(len(ids), max_thumb=max_thumb)
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
                num_samples=len(ids), skipped=num_skipped, dim=int(X.shape[1]),
                sprite_failures=len(failures))


def _resolve_labels(samples, schema, label_field):
    # The label column's field: the one given (it must exist and hold labels), else
    # ground_truth when it holds labels of a kind the column can show.
    if label_field is None:
        if "ground_truth" not in schema:
            return None
        try:
            return inputs.label_field(samples, "ground_truth", param="label_field",
                                      kinds=inputs.LABEL_KINDS)
        except ValueError:
            return None
    if not isinstance(label_field, str) or label_field.split(".")[0] not in schema:
        raise ValueError("No label field %r" % (label_field,))
    return inputs.label_field(samples, label_field, param="label_field",
                              kinds=inputs.LABEL_KINDS)
