"""Image issues: dark, light, blurry, low-information, odd aspect ratio, odd size, grayscale.

Every image is decoded once in the DataLoader workers (PIL's reduced JPEG
decoding, :data:`winnow.plugin.images.DRAFT_SIZE`, as the model pass does),
shrunk to fit :data:`WORKING_SIZE` px (never enlarged) and scored on that small
uint8 array by :func:`image_statistics` (integer luma and Laplacian, no float
copy of an image); width, height, aspect ratio and size come from the file's
full dimensions. :func:`flag_issues` turns the scores into one flag per kind;
:func:`find_image_issues` writes them to a dataset, and
``compute_embeddings(image_issues=True)`` computes the same scores in its own
decoding pass. Near and exact copies are other steps (``find_duplicates``,
``find_redundant(max_distance=...)``).

Scores (sample fields ``<field_prefix><score>``; luma is Rec. 601, 0-255):

- ``brightness``: mean luma / 255, in [0, 1]
- ``highlights``: 99th percentile of the luma / 255, in [0, 1]: how bright the
  brightest 1 % of the image is
- ``clipped``: share of pixels with luma >= 250, in [0, 1]
- ``contrast``: standard deviation of the luma over its distance to the
  nearer end of the grey scale, ``std / max(8, min(mean, 255 - mean))``, >= 0;
  darkening or brightening an image leaves it unchanged, so it tells a blank
  image from a dark or a light one
- ``entropy``: entropy of the 256-level luma histogram in bits, in [0, 8]
  (reported; no kind reads it: Fashion-MNIST's black backgrounds give clean
  images 2.3 bits, as little as a blank image with noise)
- ``sharpness``: standard deviation of the 4-neighbour Laplacian of the luma
  over the standard deviation of the luma, at the working resolution, >= 0
  (None for images under 3 px or of one flat grey). A ratio, so it does not
  move with exposure or contrast; measured at one working size, so blur is
  judged as the image looks at ~256 px (the scale a model sees), whatever
  its file size
- ``colorfulness``: Hasler & Suesstrunk's M on 0-255 channels, >= 0 (0 for
  RGB with equal channels)
- ``width``, ``height`` (px, as displayed: EXIF rotation applied),
  ``aspect_ratio`` (width / height) and ``size`` (``sqrt(width * height)``, px)

Kinds (sample tags) and their rules, thresholds in :data:`DEFAULT_THRESHOLDS`:

- ``dark``: ``brightness < dark`` and ``highlights < dark_highlights`` (an
  image with bright parts, a lit object on black, is not dark)
- ``light``: ``brightness >= light`` or ``clipped >= light_clipped`` (blown
  highlights, e.g. an over-exposed object on black)
- ``blurry``: ``sharpness < blurry`` (not low-information images: a blank
  image has nothing to be sharp)
- ``low_information``: ``contrast < low_information``
- ``odd_aspect_ratio``: the aspect ratio differs from the median of the scored
  images by more than a factor ``odd_aspect_ratio`` (either way)
- ``odd_size``: the size differs from the median by more than a factor
  ``odd_size`` (either way)
- ``grayscale``: ``colorfulness < grayscale``, not low-information, and only
  when at least half of the scored images have colour: a grayscale image is
  an issue among colour ones, not in a grayscale dataset (MNIST, X-rays)

Dark and light are absolute, odd size and aspect ratio relative to the scored
images, grayscale absolute per image but relative in whether it is an issue.

Measured separation (this module's scores, 2026-12-01). Planted set: fresh
96-144 px crops of scikit-image's colour photographs made with the planting
functions of ``benchmarks/image_issues.py`` (exposure lowered in linear light
to a mean luma of 15-40, raised to 200-235, Gaussian blur 2-4 px, the mean
colour with 3 % of the detail, a faint ramp and noise sigma 1.5, 3.5:1-6:1
crops, 12-32 px crops, grayscale photographs as RGB with equal channels), two
seeds: 60 images per kind, 240 clean crops (mean luma 64-192, luma std >= 25,
colourfulness >= 20, sharp):

==================  ==============================  ===========================  ============
kind                planted (min-max)               clean (min-max)              threshold
==================  ==============================  ===========================  ============
dark                brightness 0.061-0.156,         brightness 0.253-0.748       0.2 and
                    highlights 0.102-0.580                                       0.65
light               brightness 0.692-0.920 (the 2   brightness <= 0.748,         0.77 or
                    under 0.77: clipped >= 0.59)    clipped <= 0.067             0.15
blurry              sharpness 0.023-0.112           sharpness >= 0.259           0.17
low_information     contrast 0.014-0.054            contrast >= 0.203            0.1
grayscale           colorfulness 0                  colorfulness >= 25.9         1.5
                                                    (dark plants >= 4.6)
odd_aspect_ratio    0.17-0.29 and 3.5-6.0           0.68-1.45                    2.5
odd_size            12-31 px                        97-144 px                    3
==================  ==============================  ===========================  ============

Recall 1.00 on every kind (60/60), no clean crop flagged (0/240) and no
planted image flagged with another kind (CleanVision 0.3.7 on the issue's
planted set: light 0.10, blurry 0.30, low-information 0.00, grayscale 0.00).
The demo set (300
Fashion-MNIST, 6 photographs): 3 Fashion-MNIST images are dark (dim items:
brightness 0.07-0.10, highlights 0.52-0.61) and so is the Hubble deep field
(brightness 0.076); as one dataset the photographs are also odd sizes next to
the 28 px images; nothing else, grayscale included (a grayscale dataset).

Harder plants (45 crops and photographs of 160-640 px and 40 Fashion-MNIST
images, each altered in sRGB): x0.1-0.3 darkening is dark (44/45 and 40/40:
a bright crop x0.3 keeps a brightness of 0.207); Gaussian blur of 1.5 px or
more at the working size is blurry on photographs (45/45), of 2 px on 28 px
Fashion-MNIST (38/40; 1.5 px: 26/40), where blur also dims small items below
the dark rule (11-15/40); a flat colour with noise sigma 2-4 or 5 % of the
contrast is low-information (photographs 45/45, Fashion-MNIST 37-40/40).
Brightening that leaves a normal exposure is not light: x2.5 finds 34/45
photographs, +100 finds 27/45 (a dark crop +100 looks merely foggy).

Cost: ~1.5 ms of one core per image on top of decoding (1 ms of it to shrink a
1024x768 JPEG, decoded by PIL in ~3 ms); 160-770 images/s standalone with two
workers on a loaded 2-core machine. Fused with ``compute_embeddings`` the
extra cost was within the run-to-run noise (100 such JPEGs, efficientnet-lite0
on CPU).
"""

import collections
import math
import os

import numpy as np
from PIL import Image

import fiftyone.core.fields as fof
import fiftyone.core.utils as fou

from . import images, inputs, runs

STEP = "image_issues"

KINDS = ("dark", "light", "blurry", "low_information", "odd_aspect_ratio", "odd_size",
         "grayscale")

# Images are scored shrunk to fit this many px a side (never enlarged).
WORKING_SIZE = 256

# What the stored scores depend on: a re-run reuses scores only when it matches.
STATISTICS = dict(version=1, working_size=WORKING_SIZE, draft_size=list(images.DRAFT_SIZE))

PIXEL_SCORES = ("brightness", "highlights", "clipped", "contrast", "entropy", "sharpness",
                "colorfulness")
SHAPE_SCORES = ("width", "height", "aspect_ratio", "size")
SCORES = PIXEL_SCORES + SHAPE_SCORES
_INT_SCORES = ("width", "height")

DEFAULT_THRESHOLDS = dict(
    dark=0.2,               # brightness below ...
    dark_highlights=0.65,   # ... and highlights below
    light=0.77,             # brightness at or above ...
    light_clipped=0.15,     # ... or this share of pixels clipped white
    blurry=0.17,            # sharpness below
    low_information=0.1,    # contrast below
    odd_aspect_ratio=2.5,   # aspect ratio off the median by more than this factor
    odd_size=3.0,           # size off the median by more than this factor
    grayscale=1.5,          # colorfulness below
)

# A grayscale image is an issue only when at least this share of the scored images
# have colour.
COLOUR_MAJORITY = 0.5

# The score each kind's saved view is sorted by, most striking first (descending?).
_VIEW_ORDER = dict(dark=("brightness", False), light=("brightness", True),
                   blurry=("sharpness", False), low_information=("contrast", False),
                   odd_aspect_ratio=None, odd_size=("size", False),
                   grayscale=("colorfulness", False))

# Luma weights of Rec. 601 in thousandths (PIL's "L" conversion).
_LUMA = (299, 587, 114)


# ------------------------------------------------------------------- arrays


def image_statistics(img):
    """The pixel scores of one decoded image (see the module docstring).

    Integer arithmetic on the array (luma, Laplacian and colour differences);
    only 256-bin histograms and sums become floats.

    Args:
        img: an ``(H, W, 3)`` (RGB) or ``(H, W)`` (grey) uint8 array, at the
            working resolution (:data:`WORKING_SIZE`)

    Returns:
        a dict ``{score: float}`` of :data:`PIXEL_SCORES` (``sharpness`` is NaN
        for images under 3 px or of one flat grey)
    """
    a = np.asarray(img)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3) \
            or a.size == 0:
        raise ValueError("img must be a non-empty (H, W, 3) or (H, W) uint8 array; got %s %s"
                         % (a.dtype, a.shape))
    if a.ndim == 2:
        y = a.astype(np.int32)
        channels = None
    else:
        r, g, b = (a[..., c].astype(np.int32) for c in range(3))
        y = (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b + 500) // 1000
        channels = (r, g, b)
    n = y.size
    hist = np.bincount(y.ravel(), minlength=256)
    p = hist / n
    levels = np.arange(256)
    mean = float(p @ levels)
    var = float(p @ (levels - mean) ** 2)
    highlights = int(np.searchsorted(np.cumsum(hist), 0.99 * n))
    nonzero = p[p > 0]
    entropy = float(-(nonzero * np.log2(nonzero)).sum()) + 0.0
    std = math.sqrt(var)
    out = dict(
        brightness=mean / 255,
        highlights=highlights / 255,
        clipped=float(hist[250:].sum() / n),
        contrast=std / max(8.0, min(mean, 255.0 - mean)),
        entropy=entropy,
        sharpness=_sharpness(y, var),
        colorfulness=_colorfulness(*channels) if channels else 0.0,
    )
    return out


def _moments(x):
    """Mean and variance of an integer array from exact int64 sums."""
    x = x.astype(np.int64, copy=False).ravel()
    n = x.size
    s = int(x.sum())
    ss = int(x @ x)
    mean = s / n
    return mean, max(0.0, ss / n - mean * mean)


def _sharpness(y, var):
    if min(y.shape) < 3 or var <= 0:
        return float("nan")
    lap = (4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:])
    return math.sqrt(_moments(lap)[1] / var)


def _colorfulness(r, g, b):
    # Hasler & Suesstrunk (2003): rg = R - G, yb = (R + G) / 2 - B; 2 yb kept integer.
    mean_rg, var_rg = _moments(r - g)
    mean_yb2, var_yb2 = _moments(r + g - 2 * b)
    return (math.sqrt(var_rg + var_yb2 / 4)
            + 0.3 * math.sqrt(mean_rg ** 2 + (mean_yb2 / 2) ** 2))


def working_image(img):
    """A PIL image shrunk (box, then bilinear: antialiased) to fit :data:`WORKING_SIZE` px a
    side; smaller images are returned as they are."""
    w, h = img.size
    scale = WORKING_SIZE / max(w, h)
    if scale >= 1:
        return img
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # A box reduction by the integer factor first: 5x faster, still antialiased.
    return img.resize(size, Image.BILINEAR, reducing_gap=1.0)


def image_scores(img):
    """All :data:`SCORES` of one image as read by :func:`winnow.plugin.images.read_image`
    with ``draft_size=images.DRAFT_SIZE``: the worker transform of both the
    standalone and the fused pass.

    Returns:
        a dict ``{score: float}`` (``width``, ``height`` ints)
    """
    width, height = images.original_size(img)
    out = image_statistics(np.asarray(working_image(img)))
    out.update(width=int(width), height=int(height), aspect_ratio=width / height,
               size=math.sqrt(width * height))
    return out


def score_images(filepaths, *, batch_size=64, num_workers=None, skip_failures=True,
                 progress=None):
    """Decodes image files in DataLoader workers and scores them (no dataset involved).

    Args:
        filepaths: a list of N image paths
        batch_size (64): images per batch handed back by the workers
        num_workers (None): decoding processes; None means one per core (at
            most 8): the main process only collects small dicts
        skip_failures (True): see :func:`winnow.plugin.images.record_failures`
        progress (None): see ``fiftyone.core.utils.ProgressBar``

    Returns:
        a tuple ``(rows, errors)``: ``rows`` a list of N dicts of :data:`SCORES`
        (None for unreadable images), ``errors`` a dict ``{i: reason}``
    """
    if num_workers is None:
        num_workers = max(1, min(8, os.cpu_count() or 1))
    rows = [None] * len(filepaths)
    errors = {}
    if not filepaths:
        return rows, errors
    with fou.ProgressBar(total=len(filepaths), progress=progress) as pb:
        for indices, batch, failures in images.iter_batches(
                filepaths, image_scores, batch_size=batch_size, num_workers=num_workers,
                draft_size=images.DRAFT_SIZE):
            images.record_failures(failures, filepaths, errors, skip_failures=skip_failures)
            for i, row in zip(indices, batch or []):
                rows[i] = row
            pb.update(count=len(indices) + len(failures))
    return rows, errors


def check_thresholds(thresholds):
    """:data:`DEFAULT_THRESHOLDS` updated with ``thresholds`` (``{name: number}``).

    Raises:
        ValueError: an unknown name, or a value that is not a positive number
            (the two factors must be > 1, the shares and levels <= 1)
    """
    merged = dict(DEFAULT_THRESHOLDS)
    if thresholds is None:
        return merged
    if not isinstance(thresholds, dict):
        raise ValueError("thresholds must be a dict {name: value}; got %r" % (thresholds,))
    for name, value in thresholds.items():
        if name not in DEFAULT_THRESHOLDS:
            raise ValueError("Unknown threshold %r; thresholds are %s"
                             % (name, list(DEFAULT_THRESHOLDS)))
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not math.isfinite(value) or value <= 0:
            raise ValueError("Threshold %r must be a positive number; got %r" % (name, value))
        if name in ("odd_aspect_ratio", "odd_size") and value <= 1:
            raise ValueError("Threshold %r is a factor off the median and must be > 1; got %r"
                             % (name, value))
        if name in ("dark", "dark_highlights", "light", "light_clipped") and value > 1:
            raise ValueError("Threshold %r is a level or share in (0, 1]; got %r"
                             % (name, value))
        merged[name] = float(value)
    return merged


def check_issues(issues):
    """The list of kinds to tag: all :data:`KINDS` for None, else ``issues``
    (a kind or a list of kinds) in :data:`KINDS` order.

    Raises:
        ValueError: an unknown or no kind
    """
    if issues is None:
        return list(KINDS)
    if isinstance(issues, str):
        issues = [issues]
    issues = list(issues)
    unknown = [k for k in issues if k not in KINDS]
    if unknown or not issues:
        raise ValueError("issues must be None or a list of kinds among %s; got %r"
                         % (list(KINDS), issues))
    return [k for k in KINDS if k in issues]


def flag_issues(scores, *, thresholds=None):
    """Flags the issue kinds from scores (rules in the module docstring).

    Odd size, odd aspect ratio and whether grayscale is an issue are relative
    to the N images given; NaN scores (unreadable images) are never flagged.

    Args:
        scores: ``{score: (N,) array}`` with at least ``brightness``,
            ``highlights``, ``clipped``, ``contrast``, ``sharpness``,
            ``colorfulness``, ``aspect_ratio`` and ``size``
        thresholds (None): ``{name: value}`` overriding :data:`DEFAULT_THRESHOLDS`

    Returns:
        ``{kind: (N,) bool array}`` for every kind of :data:`KINDS`
    """
    t = check_thresholds(thresholds)
    needed = ("brightness", "highlights", "clipped", "contrast", "sharpness", "colorfulness",
              "aspect_ratio", "size")
    missing = [s for s in needed if s not in scores]
    if missing:
        raise ValueError("flag_issues needs the scores %s; missing %s" % (list(needed), missing))
    s = {name: np.asarray(scores[name], dtype=np.float64).ravel() for name in needed}
    lengths = {len(v) for v in s.values()}
    if len(lengths) != 1:
        raise ValueError("Scores must all have N values; got lengths %s" % sorted(lengths))
    with np.errstate(invalid="ignore"):
        low_information = s["contrast"] < t["low_information"]
        flags = dict(
            dark=(s["brightness"] < t["dark"]) & (s["highlights"] < t["dark_highlights"]),
            light=(s["brightness"] >= t["light"]) | (s["clipped"] >= t["light_clipped"]),
            blurry=(s["sharpness"] < t["blurry"]) & ~low_information,
            low_information=low_information,
            odd_aspect_ratio=_off_median(s["aspect_ratio"], t["odd_aspect_ratio"]),
            odd_size=_off_median(s["size"], t["odd_size"]),
        )
        colour = s["colorfulness"] >= t["grayscale"]
        scored = np.isfinite(s["colorfulness"])
        grayscale = scored & ~colour & ~low_information
        if colour.sum() < COLOUR_MAJORITY * scored.sum():
            grayscale[:] = False
    flags["grayscale"] = grayscale
    return {kind: flags[kind] for kind in KINDS}


def _off_median(values, factor):
    """``(N,)`` bool: positive values off their median by more than ``factor`` (log scale)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        logs = np.where(values > 0, np.log(values), np.nan)
    if not np.isfinite(logs).any():
        return np.zeros(len(values), dtype=bool)
    with np.errstate(invalid="ignore"):
        return np.abs(logs - np.nanmedian(logs)) > math.log(factor)


def columns(rows):
    """``{score: (N,) float64 array}`` from N score dicts (None rows become NaN)."""
    return {name: np.array([np.nan if row is None or row.get(name) is None else row[name]
                            for row in rows], dtype=np.float64) for name in SCORES}


# ------------------------------------------------------------------ dataset


def view_name(kind):
    """The saved view of the images of ``kind``: ``winnow-image-<kind>``."""
    return "winnow-image-" + kind.replace("_", "-")


def score_fields(field_prefix="image_"):
    """``{score: field}`` for :data:`SCORES` and ``"error"``, in that order."""
    fields = {name: field_prefix + name for name in SCORES}
    fields["error"] = field_prefix + "error"
    return fields


class ImageIssuesResults(images.ImageResults):
    """What :func:`find_image_issues` (or ``compute_embeddings(image_issues=True)``) did.

    Attributes:
        num_samples: samples in the view
        num_scored: samples with scores (the others could not be read)
        num_decoded: images decoded by this run (0 when stored scores were re-tagged)
        counts: ``{kind: number of samples tagged}`` for the kinds checked
        issue_ids: ``{kind: [sample ids]}``
        fields: ``{score: field}``
        error_field: the field holding each unreadable sample's reason
        tags, saved_views: the tags checked and the saved views written
        thresholds: the thresholds used
        failures: ``{reason: count}``
        run_key, seconds
    """

    ATTRIBUTES = ("num_samples", "num_scored", "num_decoded", "counts", "issue_ids", "fields",
                  "error_field", "tags", "saved_views", "thresholds", "failures", "run_key",
                  "seconds")

    def summary(self):
        found = ", ".join("%s %d" % (kind, n) for kind, n in self.counts.items())
        flagged = len(set().union(*self.issue_ids.values())) if self.issue_ids else 0
        return ("Image issues: %d of %d samples flagged (%s); %d images decoded, %d re-tagged "
                "from stored scores, in %.1f s"
                % (flagged, self.num_samples, found, self.num_decoded,
                   self.num_samples - self.num_decoded, self.seconds))


class ImageIssuesStep:
    """One image-issues run on a collection: checks, reuses stored scores, writes, records.

    Shared by :func:`find_image_issues` and ``compute_embeddings(image_issues=True)``.
    Made before anything is decoded: it validates the options and refuses outputs
    that are not this run's (:class:`winnow.plugin.runs.Step`).

    Args:
        samples: a dataset or view
        issues, thresholds, field_prefix, save_views, overwrite: see
            :func:`find_image_issues`
    """

    def __init__(self, samples, *, issues=None, thresholds=None, field_prefix="image_",
                 save_views=True, overwrite=False):
        inputs.check_collection(samples)
        inputs.check_name(field_prefix, "field_prefix")
        self.samples = samples
        self.issues = check_issues(issues)
        self.thresholds = check_thresholds(thresholds)
        self.save_views = bool(save_views)
        self.fields = score_fields(field_prefix)
        self.field_prefix = field_prefix
        key = runs.run_key(STEP, self.fields["brightness"])
        self.previous = _record(samples, key)  # before this run's "writing" mark replaces it
        self.view_names = [view_name(k) for k in self.issues] if self.save_views else []
        self.step = runs.Step(samples, STEP, fields=self.fields, tags=self.issues,
                              saved_views=self.view_names, key=key, overwrite=overwrite)
        self.key = key

    def stored_rows(self, ids):
        """The scores this run's previous record left for ``ids``: a list of N dicts
        (None where a sample has none), or None when they can't be reused (no
        complete previous run with the same statistics, or fields missing)."""
        prev = self.previous
        if prev is None or prev.status != "complete" \
                or prev.params.get("statistics") != STATISTICS:
            return None
        schema = self.samples.get_field_schema()
        if any(self.fields[n] not in schema for n in SCORES):
            return None
        values = self.samples.values(["id"] + [self.fields[n] for n in SCORES])
        stored = {}
        for sample_id, *row in zip(*values):
            if row[0] is not None:  # brightness: scored
                stored[sample_id] = dict(zip(SCORES, row))
        return [stored.get(i) for i in ids]

    def write(self, ids, rows, errors, *, num_decoded, params=None):
        """Flags and writes the scores of ``ids`` (one bulk write per field, tags,
        saved views), replacing this run's previous fields, tags and views
        dataset-wide, and records the run.

        Args:
            ids: the N sample ids of the view
            rows: N score dicts (None for unreadable images)
            errors: ``{i: reason}`` of the unreadable images
            num_decoded: how many images this run decoded
            params (None): more parameters to record

        Returns:
            an :class:`ImageIssuesResults`
        """
        scores = columns(rows)
        flags = flag_issues(scores, thresholds=self.thresholds)
        issue_ids = {kind: [ids[i] for i in np.flatnonzero(flags[kind])] for kind in self.issues}
        samples = self.samples
        dataset = samples._root_dataset
        old_tags = list(self.previous.tags) if self.previous else []
        old_views = list(self.previous.saved_views) if self.previous else []
        saved = []
        with self.step.writing():
            # A re-run replaces the previous result whole (relative kinds depend on the
            # scored population), never another step's fields or tags.
            dataset.untag_samples(list(dict.fromkeys(old_tags + self.issues)))
            schema = dataset.get_field_schema()
            for name, field in self.fields.items():
                if field in schema:
                    dataset.clear_sample_field(field)
                ftype = fof.StringField if name == "error" else \
                    fof.IntField if name in _INT_SCORES else fof.FloatField
                inputs.declare_field(samples, field, ftype)
            for name in SCORES:
                cast = int if name in _INT_SCORES else float
                values = [None if not np.isfinite(v) else cast(v) for v in scores[name]]
                samples.set_values(self.fields[name], dict(zip(ids, values)), key_field="id")
            error_values = [errors.get(i) for i in range(len(ids))]
            samples.set_values(self.fields["error"], dict(zip(ids, error_values)),
                               key_field="id")
            for kind, kind_ids in issue_ids.items():
                if kind_ids:
                    dataset.select(kind_ids).tag_samples(kind)
            for kind in self.issues:
                name = view_name(kind)
                if name in self.view_names and issue_ids[kind]:
                    view = samples.match_tags(kind)
                    if _VIEW_ORDER[kind]:
                        score, reverse = _VIEW_ORDER[kind]
                        view = view.sort_by(self.fields[score], reverse=reverse)
                    dataset.save_view(name, view, overwrite=True,
                                      description="Winnow: %s images" % kind.replace("_", " "))
                    saved.append(name)
            # This run's views, and the previous run's, that have no images now.
            for name in dict.fromkeys(old_views + self.view_names):
                if name not in saved and dataset.has_saved_view(name):
                    dataset.delete_saved_view(name)

        counts = {kind: len(issue_ids[kind]) for kind in self.issues}
        num_scored = int(np.isfinite(scores["brightness"]).sum())
        record_params = dict(issues=self.issues, thresholds=self.thresholds,
                             field_prefix=self.field_prefix, save_views=self.save_views,
                             # which saved view shows which tag (the panel's kind buttons)
                             views={view_name(k): k for k in self.issues
                                    if view_name(k) in saved},
                             statistics=STATISTICS, **(params or {}))
        record_counts = dict(samples=len(ids), scored=num_scored, failed=len(errors),
                             decoded=num_decoded, issues=counts)
        key = self.step.record(record_params, record_counts)
        return ImageIssuesResults(
            num_samples=len(ids), num_scored=num_scored, num_decoded=num_decoded,
            counts=counts, issue_ids=issue_ids,
            fields={n: f for n, f in self.fields.items() if n != "error"},
            error_field=self.fields["error"], tags=list(self.issues), saved_views=saved,
            thresholds=dict(self.thresholds),
            failures=dict(collections.Counter(errors.values())), run_key=key,
            seconds=self.step.seconds)


def _record(samples, key):
    """The stored config of the Winnow run ``key``, or None."""
    dataset = samples._root_dataset
    if key not in dataset.list_runs():
        return None
    try:
        config = dataset.get_run_info(key).config
    except Exception:  # a record of a class that no longer imports
        return None
    return config if isinstance(config, runs.WinnowRunConfig) else None


def find_image_issues(samples, *, issues=None, thresholds=None, field_prefix="image_",
                      batch_size=64, num_workers=None, recompute=False, save_views=True,
                      skip_failures=True, overwrite=False, progress=None):
    """Scores every image of a collection and tags its pixel-level issues.

    Every sample gets the scores of the module docstring in
    ``<field_prefix><score>`` (or, if its image can't be read, the reason in
    ``<field_prefix>error``) and a tag per kind found (``dark``, ``light``,
    ``blurry``, ``low_information``, ``odd_aspect_ratio``, ``odd_size``,
    ``grayscale``); each kind found gets the saved view ``winnow-image-<kind>``
    (:func:`view_name`). Images are decoded in DataLoader workers (one per
    core), each once, at a small working size. The results are written in one
    final step and recorded as the run ``winnow_image_issues_<field_prefix>brightness``;
    a re-run replaces that run's fields, tags and views (dataset-wide) and
    nothing else.

    Changing only ``issues`` or ``thresholds`` is cheap: with
    ``recompute=False``, samples that already have this run's scores (from
    :func:`find_image_issues` or ``compute_embeddings(image_issues=True)``, same
    ``field_prefix``) are re-tagged from them without decoding; only samples
    without scores are decoded. Pass ``recompute=True`` after the files changed.

    Args:
        samples: a dataset or view of images
        issues (None): the kinds to tag (a list from :data:`KINDS`); None means all
        thresholds (None): ``{name: value}`` overriding :data:`DEFAULT_THRESHOLDS`
        field_prefix ("image_"): prefix of the score fields
        batch_size (64): images per batch handed back by the decoding workers
        num_workers (None): decoding processes (None: one per core, at most 8;
            0: decode in this process)
        recompute (False): decode every image even when its scores are stored
        save_views (True): save one view per kind found
        skip_failures (True): record unreadable images and go on; if False the
            first failure raises before anything is written
        overwrite (False): whether fields, tags or views not written by this
            step may be overwritten
        progress (None): True/False or a callback (``fiftyone.report_progress``)

    Returns:
        an :class:`ImageIssuesResults`

    Raises:
        ValueError: bad options, before anything is decoded or written
    """
    images.check_image_step(samples, batch_size=batch_size, num_workers=num_workers)
    step = ImageIssuesStep(samples, issues=issues, thresholds=thresholds,
                           field_prefix=field_prefix, save_views=save_views,
                           overwrite=overwrite)
    ids, filepaths = samples.values(["id", "filepath"])
    rows = None if recompute else step.stored_rows(ids)
    if rows is None:
        rows = [None] * len(ids)
    todo = [i for i, row in enumerate(rows) if row is None]
    decoded, decode_errors = score_images([filepaths[i] for i in todo], batch_size=batch_size,
                                          num_workers=num_workers,
                                          skip_failures=skip_failures, progress=progress)
    for i, row in zip(todo, decoded):
        rows[i] = row
    errors = {todo[j]: reason for j, reason in decode_errors.items()}
    return step.write(ids, rows, errors, num_decoded=len(todo),
                      params=dict(recompute=bool(recompute)))
