"""Image decoding for batched inference: parallel, and tolerant of bad files.

One unreadable image never stops a run: the loader yields it as a failure with
a readable reason, and the batch goes on without it.
"""

import os

import torch
from PIL import Image, ImageOps

# Decoding threads per worker: the workers are the parallelism.
_WORKER_TORCH_THREADS = 1


def read_image(path, draft_size=None):
    """Reads an image file as an RGB ``PIL.Image``, applying its EXIF orientation.

    Args:
        path: the image's path
        draft_size (None): a ``(w, h)`` hint that lets JPEG decoding downscale
            in the decoder (much faster for large photos)

    Raises:
        an exception with a readable message when the file can't be decoded
    """
    if not os.path.exists(path):
        raise FileNotFoundError("file not found")
    if os.path.getsize(path) == 0:
        raise ValueError("empty file (0 bytes)")
    with Image.open(path) as img:
        if draft_size is not None:
            img.draft("RGB", draft_size)
        img.load()
        img = ImageOps.exif_transpose(img)
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16-bit grayscale: scale to 8 bits rather than clip
            img = img.point(lambda v: v / 256).convert("L")
        return img.convert("RGB")


def describe_error(e):
    """A one-line reason for a failed image, for the per-sample error field."""
    msg = str(e).strip() or type(e).__name__
    return "%s: %s" % (type(e).__name__, msg.splitlines()[0][:300])


class ImageFiles(torch.utils.data.Dataset):
    """Decodes ``filepaths[i]`` and applies ``transforms``.

    Items are ``(i, tensor, None)`` on success and ``(i, None, reason)`` on
    failure.
    """

    def __init__(self, filepaths, transforms, draft_size=None):
        self.filepaths = filepaths
        self.transforms = transforms
        self.draft_size = draft_size

    def __len__(self):
        return len(self.filepaths)

    def __getitem__(self, i):
        try:
            img = read_image(self.filepaths[i], draft_size=self.draft_size)
            return i, self.transforms(img), None
        except Exception as e:
            return i, None, describe_error(e)


def collate(items):
    """Stacks the decoded images of a batch and lists the failures.

    Returns:
        a tuple ``(indices, batch, failures)``: ``indices`` is a list of the
        positions of the decoded images, ``batch`` their ``(B, 3, H, W)``
        tensor (None if all failed), ``failures`` a list of ``(i, reason)``
    """
    ok = [(i, x) for i, x, err in items if err is None]
    failures = [(i, err) for i, x, err in items if err is not None]
    indices = [i for i, _ in ok]
    batch = torch.stack([x for _, x in ok]) if ok else None
    return indices, batch, failures


def default_num_workers():
    """One decoding worker per spare core (at least 1, at most 4)."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _init_worker(_):
    torch.set_num_threads(_WORKER_TORCH_THREADS)


def iter_batches(filepaths, transforms, batch_size=32, num_workers=None, draft_size=None):
    """Yields ``(indices, batch, failures)`` for ``filepaths`` in order.

    Args:
        filepaths: a list of image paths
        transforms: a callable from a PIL image to a ``(3, H, W)`` tensor
        batch_size (32): images per batch
        num_workers (None): decoding processes; None picks
            :func:`default_num_workers`, 0 decodes in this process
        draft_size (None): see :func:`read_image`
    """
    if num_workers is None:
        num_workers = default_num_workers()
    loader = torch.utils.data.DataLoader(
        ImageFiles(filepaths, transforms, draft_size=draft_size),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate,
        worker_init_fn=_init_worker if num_workers > 0 else None,
        prefetch_factor=4 if num_workers > 0 else None,
        persistent_workers=False,
    )
    yield from loader
