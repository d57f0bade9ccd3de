"""What the image steps share: tolerant parallel decoding, the model pass, checks, results.

One unreadable image never stops a run: the loader yields it as a failure with
a readable reason, and the batch goes on without it. The image steps
(:func:`winnow.compute_embeddings`, :func:`winnow.compute_cam`,
:func:`winnow.tag_with_pretrained`, :func:`winnow.find_image_issues`) validate
their shared parameters with :func:`check_image_step`, record failed images
with :func:`record_failures`, and report them through :class:`ImageResults`;
embeddings and tags run the same model pass (:func:`run_model`), which can
compute more per image on the same decode (``extras``, :class:`WithExtras`).
"""

import os

import numpy as np
import torch
from PIL import Image, ImageOps

import fiftyone.core.utils as fou

from . import inputs, models, runs

# Decoding threads per worker: the workers are the parallelism.
_WORKER_TORCH_THREADS = 1

# The decoding size hint of the model pass (see read_image). Image statistics use it
# too, so a fused pass (compute_embeddings(image_issues=True)) scores the very pixels
# a standalone find_image_issues does.
DRAFT_SIZE = (512, 512)

# read_image keeps the image's full size (before draft decoding, after the EXIF
# rotation) under this key of the returned image's ``info``.
ORIGINAL_SIZE = "winnow_original_size"


def read_image(path, *, draft_size=None):
    """Reads an image file as an RGB ``PIL.Image``, applying its EXIF orientation.

    Args:
        path: the image's path
        draft_size (None): a ``(w, h)`` hint that lets JPEG decoding downscale
            in the decoder (much faster for large photos), or a function of the
            file's full ``(w, h)`` returning one (or None: no hint)

    Returns:
        the image; ``info[ORIGINAL_SIZE]`` holds its full ``(w, h)`` (see
        :func:`original_size`)

    Raises:
        an exception with a readable message when the file can't be decoded
    """
    if not os.path.exists(path):
        raise FileNotFoundError("file not found")
    if os.path.getsize(path) == 0:
        raise ValueError("empty file (0 bytes)")
    with Image.open(path) as img:
        size = img.size
        if callable(draft_size):
            draft_size = draft_size(size)
        if draft_size is not None:
            img.draft("RGB", draft_size)
        img.load()
        loaded = img.size
        img = ImageOps.exif_transpose(img)
        if img.size != loaded:  # rotated by 90 degrees: the full size turns too
            size = size[::-1]
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16-bit grayscale: scale to 8 bits rather than clip
            img = img.point(lambda v: v / 256).convert("L")
        img = img.convert("RGB")
        img.info[ORIGINAL_SIZE] = size
        return img


def original_size(img):
    """The full ``(w, h)`` of an image from :func:`read_image`, as displayed (EXIF
    rotation applied), whatever size draft decoding gave it."""
    return tuple(img.info.get(ORIGINAL_SIZE, img.size))


def describe_error(e):
    """A one-line reason for a failed image, for the per-sample error field."""
    msg = str(e).strip() or type(e).__name__
    return "%s: %s" % (type(e).__name__, msg.splitlines()[0][:300])


class ImageFiles(torch.utils.data.Dataset):
    """Decodes ``filepaths[i]`` and applies ``transforms``.

    Items are ``(i, tensor, None)`` on success and ``(i, None, reason)`` on
    failure. With ``per_image`` (a list as long as ``filepaths``), the
    transform is called as ``transforms(img, per_image[i])`` (e.g. the boxes to
    crop from that image), and one with a ``draft_for(item, size)`` method
    chooses each image's decoding size hint from its item (see :class:`CropObjects`).
    """

    def __init__(self, filepaths, transforms, draft_size=None, per_image=None):
        self.filepaths = filepaths
        self.transforms = transforms
        self.draft_size = draft_size
        self.per_image = per_image

    def __len__(self):
        return len(self.filepaths)

    def __getitem__(self, i):
        try:
            draft_size = self.draft_size
            if self.per_image is not None and hasattr(self.transforms, "draft_for"):
                item = self.per_image[i]
                draft_size = lambda size: self.transforms.draft_for(item, size)  # noqa: E731
            img = read_image(self.filepaths[i], draft_size=draft_size)
            if self.per_image is not None:
                return i, self.transforms(img, self.per_image[i]), None
            return i, self.transforms(img), None
        except Exception as e:
            return i, None, describe_error(e)


def collate(items):
    """Stacks the decoded images of a batch and lists the failures.

    Returns:
        a tuple ``(indices, batch, failures)``: ``indices`` is a list of the
        positions of the decoded images, ``batch`` their ``(B, 3, H, W)``
        tensor (None if all failed), ``failures`` a list of ``(i, reason)``.
        A transform that returns ``(tensor, extra)`` (:class:`WithExtras`)
        gives ``batch = (tensor, [extra, ...])``; one that returns anything
        else than a tensor gives the list of its values
    """
    ok = [(i, x) for i, x, err in items if err is None]
    failures = [(i, err) for i, x, err in items if err is not None]
    indices = [i for i, _ in ok]
    values = [x for _, x in ok]
    if not values:
        batch = None
    elif isinstance(values[0], torch.Tensor):
        batch = torch.stack(values)
    elif isinstance(values[0], tuple):
        batch = (torch.stack([x for x, _ in values]), [extra for _, extra in values])
    else:
        batch = values
    return indices, batch, failures


class WithExtras:
    """A worker transform that also computes ``extras`` on the same decoded image:
    ``img -> (transform(img), extras(img))``, so one decode serves both (e.g. the
    model input and the image-issue statistics). Both must be picklable."""

    def __init__(self, transform, extras):
        self.transform = transform
        self.extras = extras

    def __call__(self, img):
        return self.transform(img), self.extras(img)


def default_num_workers():
    """One decoding worker per spare core (at least 1, at most 4)."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _init_worker(_):
    torch.set_num_threads(_WORKER_TORCH_THREADS)


def iter_batches(filepaths, transforms, *, batch_size=32, num_workers=None,
                 draft_size=None, per_image=None):
    """Yields ``(indices, batch, failures)`` for ``filepaths`` in order.

    Args:
        filepaths: a list of image paths
        transforms: a callable from a PIL image to a ``(3, H, W)`` tensor (or
            to anything picklable: see :func:`collate`)
        batch_size (32): images per batch
        num_workers (None): decoding processes; None picks
            :func:`default_num_workers`, 0 decodes in this process
        draft_size (None): see :func:`read_image`
        per_image (None): see :class:`ImageFiles`
    """
    if num_workers is None:
        num_workers = default_num_workers()
    loader = torch.utils.data.DataLoader(
        ImageFiles(filepaths, transforms, draft_size=draft_size, per_image=per_image),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate,
        worker_init_fn=_init_worker if num_workers > 0 else None,
        prefetch_factor=4 if num_workers > 0 else None,
        persistent_workers=False,
    )
    yield from loader


def record_failures(failures, filepaths, errors, *, skip_failures=True):
    """Adds a batch's failures (``[(i, reason)]``) to ``errors`` (``{i: reason}``).

    Raises:
        RuntimeError: on the first failure when ``skip_failures`` is False
            (before the step has written anything)
    """
    for i, reason in failures:
        if not skip_failures:
            raise RuntimeError("Could not read %s: %s" % (filepaths[i], reason))
        errors[i] = reason


def _model_pass(loaded, forward):
    """Sets a loaded model up for batched inference; returns ``(worker_transform,
    run)``: what the decoding workers apply to each image, and ``run(batch) ->
    (B, D)`` float32 outputs of ``forward`` on a stacked batch of them.

    A known :class:`ImagePreprocess <winnow.plugin.models.ImagePreprocess>`
    runs split (uint8 in the workers, one vectorized normalization per batch
    here); anything else runs whole in the workers.
    """
    forward = loaded.module if forward is None else forward
    device = next(loaded.module.parameters()).device
    loaded.module.to(memory_format=torch.channels_last)
    split = isinstance(loaded.transforms, models.ImagePreprocess)

    def run(batch):
        x = batch.to(device, non_blocking=True)
        if split:
            x = loaded.transforms.normalize_batch(x)
        else:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return forward(x).float().cpu().numpy()

    return (loaded.transforms.to_uint8 if split else loaded.transforms), run


def run_model(filepaths, loaded, *, forward=None, batch_size=32, num_workers=None,
              skip_failures=True, progress=None, extras=None):
    """Decodes image files and runs a loaded model on them, batch by batch.

    The model's own preprocessing is used; a known :class:`ImagePreprocess
    <winnow.plugin.models.ImagePreprocess>` runs split (uint8 crops in the
    decoding workers, one vectorized normalization per batch here), anything
    else runs whole in the workers. Batches run under ``torch.inference_mode``
    in channels-last layout.

    Args:
        filepaths: a list of N image paths
        loaded: a :class:`winnow.plugin.models.LoadedModel`
        forward (None): what runs on each ``(B, 3, H, W)`` batch and returns
            ``(B, D)`` outputs (e.g. a :class:`winnow.plugin.models.FeatureExtractor`);
            None runs the whole network (its logits)
        batch_size (32), num_workers (None): see :func:`iter_batches`
        skip_failures (True): see :func:`record_failures`
        progress (None): see ``fiftyone.core.utils.ProgressBar``
        extras (None): a picklable callable run in the decoding workers on each
            decoded image (see :class:`WithExtras`); its values come back as a
            third item

    Returns:
        a tuple ``(outputs, errors)``: ``outputs`` an ``(N, D)`` float32 array
        (rows of failed images are zeros), None when no image could be read;
        ``errors`` a dict ``{i: reason}``. With ``extras``, ``(outputs, errors,
        extra_values)``: the list of N values of ``extras`` (None for failed images)
    """
    worker_transform, run = _model_pass(loaded, forward)
    if extras is not None:
        worker_transform = WithExtras(worker_transform, extras)
    extra_values = [None] * len(filepaths)
    outputs = None
    errors = {}
    with fou.ProgressBar(total=len(filepaths), progress=progress) as pb:
        for indices, batch, failures in iter_batches(
            filepaths, worker_transform, batch_size=batch_size, num_workers=num_workers,
            draft_size=DRAFT_SIZE,
        ):
            record_failures(failures, filepaths, errors, skip_failures=skip_failures)
            if batch is not None and extras is not None:
                batch, values = batch
                for i, value in zip(indices, values):
                    extra_values[i] = value
            if batch is not None:
                out = run(batch)
                if outputs is None:
                    outputs = np.zeros((len(filepaths), out.shape[1]), dtype=np.float32)
                outputs[indices] = out
            pb.update(count=len(indices) + len(failures))
    if extras is not None:
        return outputs, errors, extra_values
    return outputs, errors


# ------------------------------------------------------------------ object crops

# The default smallest box (in pixels of the decoded image, on its shorter
# visible side) that gets an object embedding: below it a crop squashed to
# 224 px is a few blown-up pixels, not an object.
MIN_BOX_SIZE = 4


def crop_regions(boxes, width, height, *, context=0.1, min_box_size=MIN_BOX_SIZE,
                 full_size=None):
    """The pixel regions to crop for an image's objects, and why some can't be.

    A box is clipped to the image, then grown by ``context`` times its
    (clipped) width and height on each side, clipped again.

    Args:
        boxes: K relative boxes ``[x, y, w, h]`` (top-left corner, width and
            height as fractions of the image, FiftyOne's ``bounding_box``);
            None (or ``[]``) for an object without one
        width, height: the decoded image's size in pixels
        context (0.1): the margin added on each side, a fraction of the box size
        min_box_size (4): the smallest visible box side, in pixels of the full
            image, to crop
        full_size (None): the full ``(w, h)`` of an image decoded smaller (draft
            decoding), for ``min_box_size``; None: ``(width, height)``

    Returns:
        a tuple ``(regions, reasons)``: ``regions`` a ``(K, 4)`` float64 array
        of ``(left, top, right, bottom)`` pixel regions (NaN rows for boxes
        that can't be cropped), ``reasons`` a dict ``{k: reason}`` for those
    """
    regions = np.full((len(boxes), 4), np.nan)
    reasons = {}
    for k, box in enumerate(boxes):
        if box is None or (isinstance(box, (list, tuple)) and not box):
            reasons[k] = "no bounding box"
            continue
        try:
            x, y, w, h = (float(v) for v in box)
        except (TypeError, ValueError):
            reasons[k] = "invalid bounding box: %r" % (box,)
            continue
        if not np.isfinite([x, y, w, h]).all():
            reasons[k] = "invalid bounding box: %r" % (box,)
            continue
        if w <= 0 or h <= 0:
            reasons[k] = "degenerate box: zero area (width %g, height %g)" % (w, h)
            continue
        x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, 1.0), min(y + h, 1.0)
        if x1 <= x0 or y1 <= y0:
            reasons[k] = "box outside the image: [%g, %g, %g, %g]" % (x, y, w, h)
            continue
        full_w, full_h = full_size or (width, height)
        pw, ph = (x1 - x0) * full_w, (y1 - y0) * full_h
        if min(pw, ph) < min_box_size:
            reasons[k] = ("tiny box: %.1f x %.1f px in the image, below min_box_size=%g px"
                          % (pw, ph, min_box_size))
            continue
        mx, my = context * (x1 - x0), context * (y1 - y0)
        regions[k] = (max(x0 - mx, 0.0) * width, max(y0 - my, 0.0) * height,
                      min(x1 + mx, 1.0) * width, min(y1 + my, 1.0) * height)
    return regions, reasons


def polyline_box(points):
    """The relative bounding box ``[x, y, w, h]`` of a polyline's points (all its
    shapes), None when it has none."""
    xy = [p for shape in (points or []) for p in (shape or [])]
    if not xy:
        return None
    try:
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    except (TypeError, ValueError):
        return None
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


class ObjectCrops:
    """The crops of one image's objects, from the decoding worker.

    Attributes:
        pixels: the stacked model inputs of the cropped objects (``(K', S, S,
            3)`` uint8 for a split preprocessing), None when none was cropped
        positions: the positions (in the image's list of boxes) of those objects
        reasons: ``{position: reason}`` for the objects that could not be cropped
    """

    def __init__(self, pixels, positions, reasons):
        self.pixels = pixels
        self.positions = positions
        self.reasons = reasons


class CropObjects:
    """The worker transform of object embeddings: ``(img, boxes) -> ObjectCrops``.

    Every box is cropped from the one decode of its image (see
    :func:`crop_regions`; a JPEG is decoded only as large as its smallest box
    needs, :meth:`draft_for`) and squashed to the model's input: with a
    :class:`ImagePreprocess <winnow.plugin.models.ImagePreprocess>` the region
    is resized straight to ``size x size`` uint8 with its interpolation
    (antialiased, sub-pixel region, no intermediate copy); other transforms get
    the cropped PIL image.
    """

    def __init__(self, transforms, *, context=0.1, min_box_size=MIN_BOX_SIZE):
        self.transforms = transforms
        self.context = context
        self.min_box_size = min_box_size

    def draft_for(self, boxes, size):
        """The decoding size hint for an image of full ``size`` with these boxes: as
        small as JPEG draft decoding may go while every box keeps at least the
        model's input size on its shorter side (None: full size, or a transform
        of unknown input size)."""
        if not isinstance(self.transforms, models.ImagePreprocess):
            return None
        # The short and long sides bound a box's pixels whichever way EXIF turns it.
        short, long = min(size), max(size)
        need = 0.0
        for box in boxes:
            try:
                x, y, w, h = (float(v) for v in box)
            except (TypeError, ValueError):
                continue
            side = min(min(x + w, 1.0) - max(x, 0.0), min(y + h, 1.0) - max(y, 0.0))
            # NaN, empty and tiny boxes (refused, see crop_regions) need no pixels.
            if side > 0 and side * long >= self.min_box_size:
                need = max(need, min(1.0, self.transforms.size / (side * short)))
        if need == 0.0 or need >= 1.0:
            return None
        return (int(np.ceil(size[0] * need)), int(np.ceil(size[1] * need)))

    def __call__(self, img, boxes):
        regions, reasons = crop_regions(boxes, img.width, img.height, context=self.context,
                                        min_box_size=self.min_box_size,
                                        full_size=original_size(img))
        positions = [k for k in range(len(boxes)) if k not in reasons]
        crops = [self._squash(img, regions[k]) for k in positions]
        return ObjectCrops(torch.stack(crops) if crops else None, positions, reasons)

    def _squash(self, img, region):
        t = self.transforms
        if isinstance(t, models.ImagePreprocess):
            from torchvision.transforms import functional as TF

            crop = img.resize((t.size, t.size), TF.pil_modes_mapping[t.interpolation],
                              box=tuple(float(v) for v in region))
            return torch.from_numpy(np.array(crop, dtype=np.uint8))
        return t(img.crop(tuple(int(round(float(v))) for v in region)))


def run_model_on_objects(filepaths, boxes, loaded, *, forward=None, context=0.1,
                         min_box_size=MIN_BOX_SIZE, batch_size=32, num_workers=None,
                         skip_failures=True, progress=None):
    """Runs a loaded model on the objects of image files: one decode per image, all
    its crops from it (in the decoding workers), the crops in full batches.

    Args:
        filepaths: a list of N image paths
        boxes: N lists of relative boxes, the objects of each image (see
            :func:`crop_regions`); M objects in all
        loaded, forward: see :func:`run_model`
        context (0.1), min_box_size (4): see :func:`crop_regions`
        batch_size (32): crops per forward pass
        num_workers (None): see :func:`iter_batches`
        skip_failures (True): see :func:`record_failures` (unreadable images;
            boxes that can't be cropped are always recorded)
        progress (None): a progress bar over the images

    Returns:
        a tuple ``(outputs, errors, image_errors)``: ``outputs`` an ``(M, D)``
        float32 array, objects in order (rows of objects without a vector are
        zeros), None when no object was embedded; ``errors`` a dict ``{m:
        reason}`` for every object without a vector; ``image_errors`` ``{i:
        reason}`` for the unreadable images
    """
    _, run = _model_pass(loaded, forward)
    # Squashes to uint8 when the preprocessing runs split, as the whole-image pass.
    crop = CropObjects(loaded.transforms, context=context, min_box_size=min_box_size)
    offsets = [0]
    for b in boxes:
        offsets.append(offsets[-1] + len(b))
    outputs = None
    errors, image_errors = {}, {}
    queued, queued_rows = [], []  # crops waiting for a full batch, and their objects

    def run_queued(final):
        nonlocal outputs, queued, queued_rows
        if not queued:
            return
        pixels = torch.cat(queued) if len(queued) > 1 else queued[0]
        rows = np.concatenate(queued_rows)
        end = len(rows) if final else len(rows) - len(rows) % batch_size
        for start in range(0, end, batch_size):
            out = run(pixels[start:start + batch_size])
            if outputs is None:
                outputs = np.zeros((offsets[-1], out.shape[1]), dtype=np.float32)
            outputs[rows[start:start + len(out)]] = out
        queued = [pixels[end:]] if end < len(rows) else []
        queued_rows = [rows[end:]] if end < len(rows) else []

    # A few images per load (about one forward batch of crops at a few objects per
    # image): small loads bound the memory of images with many objects.
    images_per_load = max(1, batch_size // 4)
    with fou.ProgressBar(total=len(filepaths), progress=progress) as pb:
        for indices, batch, failures in iter_batches(
            filepaths, crop, batch_size=images_per_load, num_workers=num_workers,
            per_image=boxes,
        ):
            record_failures(failures, filepaths, image_errors, skip_failures=skip_failures)
            for i, reason in failures:
                errors.update((m, reason) for m in range(offsets[i], offsets[i + 1]))
            for i, crops in zip(indices, batch or []):
                errors.update((offsets[i] + k, r) for k, r in crops.reasons.items())
                if crops.pixels is not None:
                    queued.append(crops.pixels)
                    queued_rows.append(offsets[i] + np.asarray(crops.positions, dtype=int))
            if sum(len(r) for r in queued_rows) >= batch_size:
                run_queued(final=False)
            pb.update(count=len(indices) + len(failures))
        run_queued(final=True)
    return outputs, errors, image_errors


def check_image_step(samples, *, batch_size, num_workers):
    """Refuses bad input shared by the image steps, before anything is loaded or written.

    Raises:
        TypeError: ``samples`` is not a dataset or view
        ValueError: not an image collection, an empty view, ``batch_size`` not
            a positive integer, ``num_workers`` neither None nor an integer >= 0
    """
    inputs.check_collection(samples)
    if samples.media_type != "image":
        raise ValueError("Winnow reads images; this collection's media type is %r"
                         % samples.media_type)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError("batch_size must be a positive integer; got %r" % (batch_size,))
    if num_workers is not None and (not isinstance(num_workers, int)
                                    or num_workers < 0):
        raise ValueError("num_workers must be None or an integer >= 0; got %r"
                         % (num_workers,))
    if len(samples) == 0:
        raise ValueError("The view is empty: there are no images to process")


class ImageResults(runs.Results):
    """The results of an image step: what :class:`winnow.plugin.runs.Results`
    has, plus ``num_samples``, ``failures`` (``{reason: count}``) and
    ``error_field`` (the field holding each failed sample's reason).

    ``num_failed`` counts the images that could not be read; the repr lists
    their commonest reasons below the summary.
    """

    @property
    def num_failed(self):
        return sum(self.failures.values())

    def __repr__(self):
        # The failed count comes with its reasons, in place of the base's one-line note.
        lines = [self.summary()]
        if self.failures:
            lines.append("%d failed (reasons in field %r):" % (self.num_failed,
                                                               self.error_field))
            for reason, count in sorted(self.failures.items(), key=lambda kv: -kv[1])[:10]:
                lines.append("  %5d  %s" % (count, reason))
        return "\n".join(lines)
