"""Image issues, exact copies and split leaks on planted real photographs: Winnow vs anchors.

    make bench            # or: .venv/bin/python benchmarks/image_issues.py [--reps 3]
    .venv/bin/python benchmarks/image_issues.py --anchors-only   # CleanVision and Brain rows

Needs the ``bench`` extra (``pip install -e ".[bench]"``: CleanVision) and Debian's
``dataset-fashion-mnist``. Everything below runs in one process, one table per question,
anchors beside Winnow.

The planted sets (built once into ``benchmarks/cache/image_issues/``, seed 0):

- photos: 200 clean crops of scikit-image's colour photographs (astronaut, chelsea,
  coffee, immunohistochemistry, rocket, the left stereo_motorcycle view; all shipped in
  the package), 96-144 px a side, PNG. A crop counts as clean only when it is
  unambiguously none of the kinds: mean luma in [64, 192], luma std >= 25,
  colourfulness (Hasler-Suesstrunk) >= 20, mean |Laplacian| of the luma >= 10 (sharp:
  windows are only ever downscaled), and it overlaps no other crop of its photograph
  by an IoU >= 0.5. Then 12 of each kind, each from its own fresh clean crop (whose
  original is not in the set): dark (exposure lowered in linear light until the mean
  luma is 15-40), light (raised until it is 200-235), blurry (Gaussian, sigma 2-4 px),
  low_information (the crop's mean colour, 3 % of its detail, a faint gradient and
  sensor-like noise, sigma 1.5), odd_aspect_ratio (3.5:1 to 6:1, the clean ones' area),
  odd_size (12-32 px a side, from windows >= 128 px) and grayscale (crops of
  scikit-image's grayscale photographs camera, coins, moon, grass, gravel, brick,
  clock, saved as RGB with equal channels). Copies of 36 distinct clean crops: 12
  byte-exact copies, 12 pixel-exact copies in another lossless format (TIFF, BMP,
  lossless WebP) and 12 JPEG re-encodes (quality 70-92, the near copies). Every
  planted image has exactly one kind; the builder checks that the only byte/pixel
  collisions are the planted ones.
- splits: 1 000 Fashion-MNIST training images (Debian's ``dataset-fashion-mnist``),
  none within a mean absolute pixel difference of 12 of another, 800 in split
  ``train`` and 200 in ``test``, plus 36 planted ``test`` copies of distinct ``train``
  images (12 byte-exact, 12 pixel-exact in another format, 12 JPEG re-encodes).
- large: 200 JPEGs of 1024x768 (quality 90) resized from 4:3 windows of the colour
  photographs (retina and hubble_deep_field included), for speed only.

Rows:

- Winnow ``find_image_issues`` (defaults), standalone;
- Winnow fused: ``compute_embeddings(image_issues=True)``; its cost is its time over a
  plain ``compute_embeddings`` on the same files, run back to back (``--reps`` pairs,
  alternating which goes first; the median over the pairs);
- CleanVision ``Imagelab(filepaths=...).find_issues(n_jobs=2)`` with its default
  thresholds (dark 0.32 on the 99th brightness percentile, light 0.05, odd aspect
  0.35, low information 0.3 on entropy x 0.1, blurry 0.29, odd size 3 IQRs, grayscale
  = PIL mode "L" only, exact copies = md5 of the decoded pixels, near copies = 8-bit
  pHash); it has no per-kind tuning beyond these thresholds. Its version is printed;
- FiftyOne Brain ``compute_exact_duplicates`` (file hash), ``compute_near_duplicates``
  and ``compute_leaky_splits`` (default threshold 0.2 on the same Winnow embeddings);
- Winnow ``find_duplicates``, ``find_redundant`` for near copies (cut at
  ``find_leaks``' default ``max_distance``) and ``find_leaks``.

Winnow's default image-issue thresholds were chosen on crops made with these planting
functions (see ``plugin/image_issues.py``): the kind table shows that their margins hold
on this draw, not how the rules carry to other kinds of damage.

Scoring: image-issue kinds per sample (a tag or an ``is_<kind>_issue`` is a flag);
copies per pair (every pair inside a reported group); leaks per non-training sample
(Brain lists both sides of a leak: only its non-training side is counted).
Images/s is best of ``--reps``, from a fresh dataset each time, with the bulk write
included for Winnow (CleanVision keeps its results in memory).
"""

import argparse
import contextlib
import hashlib
import inspect
import io
import itertools
import json
import logging
import os
import shutil
import sys
import time
import warnings

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
from PIL import Image, ImageFilter  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, "cache", "image_issues")
BUILD = 1  # bump whenever the planted sets change

KINDS = ("dark", "light", "blurry", "low_information", "odd_aspect_ratio", "odd_size",
         "grayscale")
COPIES = ("byte", "pixel", "jpeg")
# The other set's copies: pixel-exact PNG re-saves, and near copies (JPEG 40-60, lossy
# WebP 60-80, resized to 50-75 %).
OTHER_COPIES = ("pixel", "near", "near")
PER_KIND = 12
NUM_CLEAN = 200
NUM_TRAIN, NUM_TEST = 800, 200
NUM_LARGE = 200
# retina is left out of the crops: its fundus is too smooth to pass the sharpness bar
CROP_SOURCES = ("astronaut", "chelsea", "coffee", "immunohistochemistry", "rocket",
                "stereo_motorcycle")
LARGE_SOURCES = CROP_SOURCES + ("retina", "hubble_deep_field")
GRAY_SOURCES = ("camera", "coins", "moon", "grass", "gravel", "brick", "clock")
# (extension, PIL save options): lossless formats other than PNG, all exact for RGB / L
OTHER_FORMATS = (("tiff", dict(compression="tiff_lzw")), ("bmp", {}),
                 ("webp", dict(lossless=True, quality=100, method=0)))
TARGET_RECALL = 0.95
TARGET_SPEEDUP = 3.0
TARGET_FUSED = 0.10


# ---------------------------------------------------------------- planted sets


def load_photo(name):
    import skimage.data

    img = getattr(skimage.data, name)()
    img = img[0] if name == "stereo_motorcycle" else img  # (left, right, disparity)
    # grayscale photographs as RGB with equal channels, the way they are saved
    return np.ascontiguousarray(np.stack([img] * 3, -1)) if img.ndim == 2 else img


def luma(img):
    """``(H, W)`` float32 Rec. 601 luma of an ``(H, W, 3)`` uint8 image."""
    f = img.astype(np.float32)
    return 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]


def clean_stats(img):
    """The builder's own yardsticks (not Winnow's): mean and std of the luma,
    colourfulness, mean |Laplacian| of the luma."""
    y = luma(img)
    f = img.astype(np.float32)
    rg, yb = f[..., 0] - f[..., 1], 0.5 * (f[..., 0] + f[..., 1]) - f[..., 2]
    colour = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    lap = 4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:]
    return float(y.mean()), float(y.std()), float(colour), float(np.abs(lap).mean())


def is_clean(img, *, colour=True):
    mean, std, colourfulness, sharpness = clean_stats(img)
    return (64 <= mean <= 192 and std >= 25 and sharpness >= 10
            and (colourfulness >= 20 or not colour))


def to_linear(img):
    x = img.astype(np.float32) / 255
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def to_srgb(lin):
    x = np.clip(lin, 0, 1)
    x = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)
    return np.round(x * 255).astype(np.uint8)


def expose(img, target_mean):
    """Changes the exposure (a factor in linear light, clipped like a sensor) until the
    mean luma reaches ``target_mean``."""
    lin = to_linear(img)
    lo, hi = -8.0, 8.0
    for _ in range(30):
        ev = (lo + hi) / 2
        if luma(to_srgb(lin * 2 ** ev)).mean() < target_mean:
            lo = ev
        else:
            hi = ev
    return to_srgb(lin * 2 ** ((lo + hi) / 2))


class Cropper:
    """Random crops of photographs, downscaled (never upscaled) to a requested size,
    no two crops of one photograph overlapping by an IoU >= 0.5."""

    def __init__(self, names, rng):
        self.photos = {name: load_photo(name) for name in names}
        self.windows = {name: [] for name in names}
        self.rng = rng
        self._cycle = itertools.cycle(names)

    def _overlaps(self, name, box):
        x0, y0, x1, y1 = box
        for a0, b0, a1, b1 in self.windows[name]:
            inter = max(0, min(x1, a1) - max(x0, a0)) * max(0, min(y1, b1) - max(y0, b0))
            union = (x1 - x0) * (y1 - y0) + (a1 - a0) * (b1 - b0) - inter
            if inter / union >= 0.5:
                return True
        return False

    def crop(self, size, accept, *, min_window=0, tries=150):
        """A crop of the next photograph (round robin) resized to ``size`` ``(w, h)``
        that ``accept`` takes; photographs that can't provide one are skipped.
        Windows are 1-2.5x the size (at least ``min_window`` px a side, then up to
        2x that): small windows leave room for many crops that barely overlap."""
        w, h = size
        for _ in range(len(self.photos)):
            name = next(self._cycle)
            photo = self.photos[name]
            H, W = photo.shape[:2]
            smin = max(1.0, min_window / min(w, h))
            smax = min(W / w, H / h, 2.5 * smin if min_window else 2.5)
            if smax < smin:
                continue
            for _ in range(tries):
                s = float(np.exp(self.rng.uniform(np.log(smin), np.log(smax))))
                ww, hh = min(W, round(w * s)), min(H, round(h * s))
                x = int(self.rng.integers(0, W - ww + 1))
                y = int(self.rng.integers(0, H - hh + 1))
                box = (x, y, x + ww, y + hh)
                if self._overlaps(name, box):
                    continue
                img = np.asarray(Image.fromarray(photo[y:y + hh, x:x + ww]).resize(
                    (w, h), Image.LANCZOS))
                if accept(img):
                    self.windows[name].append(box)
                    return img
        raise RuntimeError("no photograph gives a %dx%d crop that passes" % (w, h))


def clean_size(rng):
    return tuple(int(v) for v in rng.integers(96, 145, 2))


def plant_photos(out, rng):
    """The photo set: returns manifest rows ``{file, kind, copy, copy_of}``."""
    colour = Cropper(CROP_SOURCES, rng)
    gray = Cropper(GRAY_SOURCES, rng)
    rows = []

    def save(img, name, kind):
        Image.fromarray(img).save(os.path.join(out, name))
        rows.append(dict(file=name, kind=kind, copy=None, copy_of=None))

    def base():
        return colour.crop(clean_size(rng), is_clean)

    # The odd shapes first: their windows are the hardest to place without overlap.
    for i in range(PER_KIND):
        ratio = rng.uniform(3.5, 6)
        long_side, short_side = round(120 * ratio ** 0.5), round(120 / ratio ** 0.5)
        size = (long_side, short_side) if i % 2 == 0 else (short_side, long_side)
        save(colour.crop(size, is_clean), "odd_aspect_ratio_%02d.png" % i, "odd_aspect_ratio")
    for i in range(PER_KIND):
        w = int(rng.integers(12, 33))
        size = (w, int(np.clip(round(w * rng.uniform(0.75, 1.33)), 12, 32)))
        save(colour.crop(size, is_clean, min_window=128), "odd_size_%02d.png" % i, "odd_size")
    for i in range(PER_KIND):
        save(expose(base(), rng.uniform(15, 40)), "dark_%02d.png" % i, "dark")
        save(expose(base(), rng.uniform(200, 235)), "light_%02d.png" % i, "light")
        blurred = Image.fromarray(base()).filter(ImageFilter.GaussianBlur(rng.uniform(2, 4)))
        save(np.asarray(blurred), "blurry_%02d.png" % i, "blurry")
        crop = base().astype(np.float32)
        mean = crop.reshape(-1, 3).mean(0)
        hh, ww = crop.shape[:2]
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(angle) * np.linspace(-1, 1, ww)[None, :]
                + np.sin(angle) * np.linspace(-1, 1, hh)[:, None]) * rng.uniform(2, 6)
        flat = mean + 0.03 * (crop - mean) + ramp[..., None] + rng.normal(0, 1.5, crop.shape)
        save(np.clip(np.round(flat), 0, 255).astype(np.uint8),
             "low_information_%02d.png" % i, "low_information")
        save(gray.crop(clean_size(rng), lambda a: is_clean(a, colour=False)),
             "grayscale_%02d.png" % i, "grayscale")
    for i in range(NUM_CLEAN):
        save(base(), "clean_%03d.png" % i, "clean")

    originals = rng.choice(NUM_CLEAN, 3 * PER_KIND, replace=False)
    for j, k in enumerate(originals):
        copy, i = COPIES[j // PER_KIND], j % PER_KIND
        src = "clean_%03d.png" % k
        name = write_copy(out, src, copy, i, rng)
        rows.append(dict(file=name, kind="clean", copy=copy, copy_of=src))
    return rows


def write_copy(out, src, copy, i, rng, prefix=""):
    """Writes a planted copy of ``out/src``; returns its file name."""
    if copy == "byte":
        name = "%scopy_byte_%02d.png" % (prefix, i)
        shutil.copyfile(os.path.join(out, src), os.path.join(out, name))
    elif copy == "pixel":
        ext, options = OTHER_FORMATS[i % len(OTHER_FORMATS)]
        name = "%scopy_pixel_%02d.%s" % (prefix, i, ext)
        with Image.open(os.path.join(out, src)) as img:
            img.save(os.path.join(out, name), **options)
    else:
        name = "%scopy_jpeg_%02d.jpg" % (prefix, i)
        with Image.open(os.path.join(out, src)) as img:
            img.save(os.path.join(out, name), quality=int(rng.integers(70, 93)))
    return name


def plant_other(out, rng):
    """A second photo set made with other damage than ``plant_photos`` (none of its
    recipes is one Winnow's thresholds were chosen on): rows ``{file, kind, copy,
    copy_of}``. Its own crops (seed 1) of the same colour photographs."""
    from PIL import ImageEnhance, ImageOps

    colour = Cropper(CROP_SOURCES, rng)
    rows = []

    def save(img, name, kind, **options):
        img = img if isinstance(img, Image.Image) else Image.fromarray(img)
        img.save(os.path.join(out, name), **options)
        rows.append(dict(file=name, kind=kind, copy=None, copy_of=None))

    def base(size=None):
        return colour.crop(size or clean_size(rng), is_clean)

    def scaled_to(img, target):
        """sRGB values scaled (brightness control, not exposure) to a mean luma."""
        return np.asarray(ImageEnhance.Brightness(Image.fromarray(img)).enhance(
            target / luma(img).mean()))

    for i in range(PER_KIND):
        # Odd shapes: whole crops squashed (not windows of that shape), both ways.
        ratio = rng.uniform(4, 8)
        size = (round(110 * ratio ** 0.5), round(110 / ratio ** 0.5))
        save(Image.fromarray(base()).resize(size if i % 2 else size[::-1], Image.BICUBIC),
             "odd_aspect_ratio_%02d.png" % i, "odd_aspect_ratio")
        # Odd sizes: thumbnails of whole crops, and (every third) very large upscales.
        img = Image.fromarray(base())
        if i % 3 == 2:
            side = int(rng.integers(700, 1000))
            img = img.resize((side, side * img.height // img.width), Image.BICUBIC)
        else:
            img.thumbnail((int(rng.integers(16, 31)),) * 2, Image.LANCZOS)
        save(img, "odd_size_%02d.png" % i, "odd_size")
        save(scaled_to(base(), rng.uniform(10, 40)), "dark_%02d.png" % i, "dark")
        # Light: an additive lift (washes out shadows too), clipped.
        img = base().astype(np.float32)
        target, lo, hi = rng.uniform(205, 240), 0.0, 255.0
        for _ in range(20):  # the offset whose clipped result has the target mean luma
            mid = (lo + hi) / 2
            lo, hi = ((mid, hi) if luma(np.clip(img + mid, 0, 255).astype(np.uint8)).mean()
                      < target else (lo, mid))
        save(np.clip(img + hi, 0, 255).astype(np.uint8), "light_%02d.png" % i, "light")
        img = Image.fromarray(base())
        if i % 3 == 0:
            img = img.filter(ImageFilter.BoxBlur(int(rng.integers(2, 5))))
        elif i % 3 == 1:  # downscaled 4-6x and back: soft and blocky
            f = rng.uniform(4, 6)
            img = img.resize((max(1, round(img.width / f)), max(1, round(img.height / f))),
                             Image.BILINEAR).resize(img.size, Image.BILINEAR)
        else:  # horizontal motion blur, 9-15 px
            k = int(rng.integers(9, 16))
            arr = np.asarray(img, dtype=np.float32)
            pad = np.pad(arr, ((0, 0), (k // 2, k - 1 - k // 2), (0, 0)), mode="edge")
            arr = sum(pad[:, j:j + arr.shape[1]] for j in range(k)) / k
            img = Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8))
        save(img, "blurry_%02d.png" % i, "blurry")
        crop = base().astype(np.float32)
        mean = crop.reshape(-1, 3).mean(0)
        if i % 3 == 0:  # fog: 95 % of the mean colour, saved as JPEG
            fog = mean + rng.uniform(0.03, 0.06) * (crop - mean)
            save(np.round(fog).astype(np.uint8), "low_information_%02d.jpg" % i,
                 "low_information", quality=85)
        elif i % 3 == 1:  # a flat colour with JPEG artefacts only
            flat = np.broadcast_to(mean, crop.shape)
            save(np.round(flat).astype(np.uint8), "low_information_%02d.jpg" % i,
                 "low_information", quality=60)
        else:  # a smooth two-colour gradient
            other = crop.reshape(-1, 3)[int(rng.integers(0, crop.shape[0] * crop.shape[1]))]
            t = np.linspace(0, 1, crop.shape[0])[:, None, None]
            grad = (1 - t) * mean + t * (0.7 * mean + 0.3 * other)
            save(np.round(np.broadcast_to(grad, crop.shape)).astype(np.uint8),
                 "low_information_%02d.png" % i, "low_information")
        if i % 2 == 0:  # colour crops desaturated, saved as RGB
            save(ImageOps.grayscale(Image.fromarray(base())).convert("RGB"),
                 "grayscale_%02d.png" % i, "grayscale")
        else:  # saved as 8-bit grayscale files
            save(ImageOps.grayscale(Image.fromarray(base())), "grayscale_%02d.png" % i,
                 "grayscale")
    for i in range(NUM_CLEAN):
        save(base(), "clean_%03d.png" % i, "clean")

    originals = rng.choice(NUM_CLEAN, 3 * PER_KIND, replace=False)
    for j, k in enumerate(originals):
        copy, i = OTHER_COPIES[j // PER_KIND], j  # i: a file number unique in the set
        src = "clean_%03d.png" % k
        with Image.open(os.path.join(out, src)) as img:
            img = img.convert("RGB")
            if copy == "pixel":  # PNG again, other compression and metadata
                from PIL import PngImagePlugin

                meta = PngImagePlugin.PngInfo()
                meta.add_text("Comment", "copy %d" % i)
                name = "copy_pixel_%02d.png" % i
                img.save(os.path.join(out, name), compress_level=1, pnginfo=meta)
            elif i % 3 == 0:
                name = "copy_near_%02d.jpg" % i
                img.save(os.path.join(out, name), quality=int(rng.integers(40, 61)))
            elif i % 3 == 1:
                name = "copy_near_%02d.webp" % i
                img.save(os.path.join(out, name), quality=int(rng.integers(60, 81)))
            else:
                f = rng.uniform(0.5, 0.75)
                name = "copy_near_%02d.png" % i
                img.resize((round(img.width * f), round(img.height * f)),
                           Image.LANCZOS).save(os.path.join(out, name))
        rows.append(dict(file=name, kind="clean", copy=copy, copy_of=src))
    return rows


def plant_splits(out, rng):
    """The split set from Fashion-MNIST: rows ``{file, split, copy, copy_of}``."""
    from scipy.spatial.distance import cdist

    from winnow.plugin import fashion_mnist

    images, _ = fashion_mnist.load("train")
    candidates = rng.choice(len(images), 1400, replace=False)
    flat = images[candidates].reshape(len(candidates), -1).astype(np.float32)
    close = cdist(flat, flat, "cityblock") / flat.shape[1] < 12
    chosen = []
    for i in range(len(candidates)):
        # drop items that are already near-identical to a chosen one: no unplanted leaks
        if not any(close[i, j] for j in chosen):
            chosen.append(i)
        if len(chosen) == NUM_TRAIN + NUM_TEST:
            break
    rows = []
    for n, i in enumerate(chosen):
        split = "train" if n < NUM_TRAIN else "test"
        name = "%s_%04d.png" % (split, n)
        Image.fromarray(images[candidates[i]]).save(os.path.join(out, name))
        rows.append(dict(file=name, split=split, copy=None, copy_of=None))
    originals = rng.choice(NUM_TRAIN, 3 * PER_KIND, replace=False)
    for j, k in enumerate(originals):
        copy, i = COPIES[j // PER_KIND], j % PER_KIND
        src = rows[k]["file"]
        name = write_copy(out, src, copy, i, rng, prefix="test_")
        rows.append(dict(file=name, split="test", copy=copy, copy_of=src))
    return rows


def plant_large(out, rng):
    photos = [load_photo(n) for n in LARGE_SOURCES]
    files = []
    for i in range(NUM_LARGE):
        photo = photos[i % len(photos)]
        H, W = photo.shape[:2]
        w = int(rng.integers(min(256, W), min(W, H * 4 // 3) + 1))
        h = w * 3 // 4
        x, y = int(rng.integers(0, W - w + 1)), int(rng.integers(0, H - h + 1))
        img = Image.fromarray(photo[y:y + h, x:x + w]).resize((1024, 768), Image.LANCZOS)
        name = "large_%03d.jpg" % i
        img.save(os.path.join(out, name), quality=90)
        files.append(name)
    return files


def file_groups(folder, files, *, pixels):
    """Groups (tuples of 2+ names) of files with equal bytes or equal decoded pixels."""
    by_hash = {}
    for name in files:
        path = os.path.join(folder, name)
        if pixels:
            with Image.open(path) as img:
                arr = np.asarray(img.convert("RGB"))
            digest = hashlib.sha1(arr.tobytes() + str(arr.shape).encode()).hexdigest()
        else:
            with open(path, "rb") as f:
                digest = hashlib.sha1(f.read()).hexdigest()
        by_hash.setdefault(digest, []).append(name)
    return {tuple(sorted(g)) for g in by_hash.values() if len(g) > 1}


def check_planted(folder, rows):
    """The only exact collisions are the planted copies."""
    files = [r["file"] for r in rows]
    for pixels, copies in ((False, ("byte",)), (True, ("byte", "pixel"))):
        planted = {tuple(sorted((r["file"], r["copy_of"]))) for r in rows
                   if r["copy"] in copies}
        found = file_groups(folder, files, pixels=pixels)
        if found != planted:
            raise RuntimeError("unplanted or missing %s copies in %s: %s" % (
                "pixel" if pixels else "byte", folder, sorted(found ^ planted)[:5]))


def build(force=False):
    """Builds (once) and returns the manifest of the planted sets."""
    manifest_path = os.path.join(CACHE, "manifest.json")
    if not force and os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        if manifest.get("build") == BUILD:
            if "other" not in manifest:  # added later: built beside the others
                manifest["other"] = build_other()
                write_manifest(manifest)
            return manifest
    start = time.perf_counter()
    shutil.rmtree(CACHE, ignore_errors=True)
    folders = {k: os.path.join(CACHE, k) for k in ("photos", "splits", "large")}
    for folder in folders.values():
        os.makedirs(folder)
    rng = np.random.default_rng(0)
    manifest = dict(build=BUILD,
                    photos=plant_photos(folders["photos"], rng),
                    splits=plant_splits(folders["splits"], rng),
                    large=plant_large(folders["large"], rng))
    check_planted(folders["photos"], manifest["photos"])
    check_planted(folders["splits"], manifest["splits"])
    manifest["other"] = build_other()
    write_manifest(manifest)
    print("built the planted sets in %s (%.0f s)" % (CACHE, time.perf_counter() - start))
    return manifest


def build_other():
    """Builds the second photo set (:func:`plant_other`, seed 1); returns its rows."""
    folder = os.path.join(CACHE, "other")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    rows = plant_other(folder, np.random.default_rng(1))
    check_planted(folder, rows)
    return rows


def write_manifest(manifest):
    path = os.path.join(CACHE, "manifest.json")
    with open(path + ".tmp", "w") as f:
        json.dump(manifest, f, indent=0)
    os.replace(path + ".tmp", path)


# ---------------------------------------------------------------- scoring


def prf(predicted, truth):
    """``predicted``: a set of items; ``truth``: ``{item: type}``. Returns
    ``(tp, num_predicted, num_true)``."""
    return len(predicted & set(truth)), len(predicted), len(truth)


def ratio(a, b):
    return a / b if b else float("nan")


def cell(a, b):
    return "–" if b == 0 else "%.2f (%d/%d)" % (a / b, a, b)


def group_pairs(groups):
    """Every unordered pair inside each group (an iterable of iterables of names)."""
    pairs = set()
    for group in groups:
        for a, b in itertools.combinations(sorted(set(group)), 2):
            pairs.add((a, b))
    return pairs


def linked_groups(names, links):
    """Groups from ``name -> kept name`` links (None: not linked)."""
    groups = {}
    for name, kept in zip(names, links):
        if kept is not None:
            groups.setdefault(kept, {kept}).add(name)
    return list(groups.values())


# ---------------------------------------------------------------- FiftyOne helpers


def make_dataset(paths, **fields):
    import fiftyone as fo

    dataset = fo.Dataset()
    samples = []
    for i, path in enumerate(paths):
        sample = fo.Sample(filepath=path)
        for field, values in fields.items():
            sample[field] = values[i]
        samples.append(sample)
    dataset.add_samples(samples, progress=False)
    return dataset


def names_by_id(dataset):
    ids, paths = dataset.values(["id", "filepath"])
    return {i: os.path.basename(p) for i, p in zip(ids, paths)}


def tag_flags(dataset):
    """``{kind: set of file names}`` from the sample tags a Winnow step wrote."""
    flags = {kind: set() for kind in KINDS}
    for path, tags in zip(*dataset.values(["filepath", "tags"])):
        for tag in tags or ():
            if tag in flags:
                flags[tag].add(os.path.basename(path))
    return flags


def time_fresh(paths, run, *, keep=False):
    """Times ``run(dataset)`` on a fresh dataset of ``paths``; returns ``(seconds,
    the dataset if keep else None)``."""
    dataset = make_dataset(paths)
    start = time.perf_counter()
    run(dataset)
    seconds = time.perf_counter() - start
    if keep:
        return seconds, dataset
    dataset.delete()
    return seconds, None


def warm_file_cache(paths):
    for path in paths:
        with open(path, "rb") as f:
            f.read()


# ---------------------------------------------------------------- anchors


def cleanvision_version():
    from importlib.metadata import version

    return version("cleanvision")


def run_cleanvision(paths, *, issue_types=None):
    """CleanVision with its defaults (n_jobs=2). Returns ``(seconds, imagelab)``."""
    from cleanvision import Imagelab

    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        start = time.perf_counter()
        lab = Imagelab(filepaths=list(paths), verbose=False)
        lab.find_issues(issue_types=issue_types, n_jobs=2, verbose=False)
        seconds = time.perf_counter() - start
    return seconds, lab


def cleanvision_flags(lab):
    flags = {}
    for kind in KINDS:
        column = lab.issues["is_%s_issue" % kind]
        flags[kind] = {os.path.basename(p) for p in column.index[column.values]}
    return flags


def cleanvision_pairs(lab, kind):
    sets = lab.info.get(kind, {}).get("sets", [])
    return group_pairs([[os.path.basename(p) for p in group] for group in sets])


def brain_exact(dataset):
    import fiftyone.brain as fob

    names = names_by_id(dataset)
    start = time.perf_counter()
    neighbors = fob.compute_exact_duplicates(dataset, progress=False)
    seconds = time.perf_counter() - start
    groups = [[names[k]] + [names[v] for v in vs] for k, vs in neighbors.items()]
    return seconds, group_pairs(groups)


def brain_near(dataset, field):
    import fiftyone.brain as fob

    names = names_by_id(dataset)
    start = time.perf_counter()
    index = fob.compute_near_duplicates(dataset, embeddings=field, progress=False)
    seconds = time.perf_counter() - start
    groups = [[names[k]] + [names[n[0]] for n in vs] for k, vs in index.neighbors_map.items()]
    return seconds, group_pairs(groups), index.thresh


def brain_leaks(dataset, field):
    import fiftyone.brain as fob

    names = names_by_id(dataset)
    split_of = dict(zip(*dataset.values(["id", "split"])))
    start = time.perf_counter()
    index = fob.compute_leaky_splits(dataset, splits="split", embeddings=field,
                                     progress=False)
    seconds = time.perf_counter() - start
    leaks = {names[i] for i in index.leak_ids if split_of[i] != "train"}
    return seconds, leaks, index.thresh


# ---------------------------------------------------------------- Winnow


def winnow_steps():
    """The Winnow steps under test: ``{name: function}``, ``fused`` for
    ``compute_embeddings(image_issues=True)``."""
    import winnow

    return dict(find_image_issues=winnow.find_image_issues,
                find_duplicates=winnow.find_duplicates, find_leaks=winnow.find_leaks,
                fused=True)


def winnow_pairs(dataset, link_field):
    names = names_by_id(dataset)
    ids, links = dataset.values(["id", link_field])
    return group_pairs(linked_groups([names[i] for i in ids],
                                     [names.get(k) if k else None for k in links]))


def default_of(fn, name):
    return inspect.signature(fn).parameters[name].default


# ---------------------------------------------------------------- diagnostics


def cosine_distances(dataset, field):
    names, vectors = dataset.values(["filepath", field])
    X = np.stack(vectors).astype(np.float64)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return [os.path.basename(n) for n in names], np.clip(1 - X @ X.T, 0, 2)


def copy_margin(dataset, field, truth_pairs):
    """Cosine distances of the planted copy pairs vs each sample's nearest non-copy."""
    names, D = cosine_distances(dataset, field)
    pos = {n: i for i, n in enumerate(names)}
    by_type = {}
    for (a, b), copy in truth_pairs.items():
        by_type.setdefault(copy, []).append(D[pos[a], pos[b]])
    mask = np.eye(len(names), dtype=bool)
    for a, b in truth_pairs:
        mask[pos[a], pos[b]] = mask[pos[b], pos[a]] = True
    nearest = np.where(mask, np.inf, D).min(1)
    return {k: np.array(v) for k, v in by_type.items()}, nearest


# ---------------------------------------------------------------- the runs


class Planted:
    """The planted sets' paths and truths, from the manifest."""

    def __init__(self, manifest):
        folder = {k: os.path.join(CACHE, k) for k in ("photos", "splits", "large")}
        self.photos = manifest["photos"]
        self.photo_paths = [os.path.join(folder["photos"], r["file"]) for r in self.photos]
        self.large_paths = [os.path.join(folder["large"], f) for f in manifest["large"]]
        self.split_rows = manifest["splits"]
        self.split_paths = [os.path.join(folder["splits"], r["file"]) for r in self.split_rows]
        self.splits = [r["split"] for r in self.split_rows]
        # file -> what was planted: a kind, "clean", or the copy type
        self.category = {r["file"]: (r["copy"] or r["kind"]) for r in self.photos}
        self.kinds = {k: {r["file"]: k for r in self.photos if r["kind"] == k} for k in KINDS}
        self.copies = {pair(r): r["copy"] for r in self.photos if r["copy"]}
        self.exact = {p: c for p, c in self.copies.items() if c in ("byte", "pixel")}
        self.split_copies = {pair(r): r["copy"] for r in self.split_rows if r["copy"]}
        self.leaks = {r["file"]: r["copy"] for r in self.split_rows if r["copy"]}
        # The second photo set (other damage, see plant_other).
        self.other = manifest["other"]
        self.other_paths = [os.path.join(CACHE, "other", r["file"]) for r in self.other]
        self.other_category = {r["file"]: (r["copy"] or r["kind"]) for r in self.other}
        self.other_kinds = {k: {r["file"]: k for r in self.other if r["kind"] == k}
                            for k in KINDS}
        self.other_copies = {pair(r): r["copy"] for r in self.other if r["copy"]}


def pair(row):
    return tuple(sorted((row["file"], row["copy_of"])))


def measure(planted, *, reps, winnow):
    """Runs every row; ``winnow`` is :func:`winnow_steps`' dict (empty for the
    anchors alone). Returns a dict of results."""
    from winnow.plugin import embeddings, models, redundancy

    find_image_issues = winnow.get("find_image_issues")
    find_duplicates = winnow.get("find_duplicates")
    find_leaks = winnow.get("find_leaks")
    fused = winnow.get("fused")
    loaded = models.load_model(models.DEFAULT_MODEL, device="cpu")
    seven = {kind: {} for kind in KINDS}
    out = dict(speed={}, fused={}, flags={}, pairs=[], leaks=[])
    sets = (("large", planted.large_paths), ("photos", planted.photo_paths))
    kept = []

    def embed(dataset, **kw):
        embeddings.compute_embeddings(dataset, model=loaded, progress=False, **kw)

    def timed(fn, *a, **kw):
        start = time.perf_counter()
        result = fn(*a, **kw)
        return time.perf_counter() - start, result

    try:
        # Standalone speed, rows interleaved so drift in the machine's load hits each.
        for name, paths in sets:
            best = {}
            for _ in range(reps):
                if find_image_issues:
                    s, _ = time_fresh(paths, lambda d: find_image_issues(d, progress=False))
                    best["winnow"] = min(best.get("winnow", np.inf), s)
                s, _ = run_cleanvision(paths, issue_types=seven)
                best["cv7"] = min(best.get("cv7", np.inf), s)
                s, lab = run_cleanvision(paths)
                best["cv"] = min(best.get("cv", np.inf), s)
            for row, s in best.items():
                out["speed"][name, row] = len(paths) / s
        # `lab` is the photo set's last default run: CleanVision's accuracy rows
        out["flags"]["CleanVision"] = cleanvision_flags(lab)
        cv_exact = cleanvision_pairs(lab, "exact_duplicates")
        cv_near = cleanvision_pairs(lab, "near_duplicates")

        # Fused cost: plain and fused embedding passes run in pairs, back to back, first
        # one then the other first, so a change in the machine's load hits both sides of
        # a pair alike. The photo set's last passes are kept for the accuracy rows.
        for name, paths in sets:
            plain, with_issues = [], []
            for rep in range(reps):
                keep = name == "photos" and rep == reps - 1
                for run_fused in ((False, True) if rep % 2 == 0 else (True, False)):
                    if run_fused and fused:
                        s, fused_ds = time_fresh(
                            paths, lambda d: embed(d, image_issues=True), keep=keep)
                        with_issues.append(s)
                    elif not run_fused:
                        s, photo_ds = time_fresh(paths, embed, keep=keep)
                        plain.append(s)
            out["fused"][name] = (plain, with_issues)
        kept.append(photo_ds)

        if fused:
            kept.append(fused_ds)
            out["flags"]["Winnow fused"] = tag_flags(fused_ds)
        standalone_ds = make_dataset(planted.photo_paths)
        kept.append(standalone_ds)
        if find_image_issues:
            find_image_issues(standalone_ds, progress=False)
            out["flags"]["Winnow"] = tag_flags(standalone_ds)
        if find_duplicates:
            s, _ = timed(find_duplicates, standalone_ds, progress=False)
            dup_pairs = winnow_pairs(standalone_ds, "duplicate_of")
            out["pairs"].append(("exact", "Winnow `find_duplicates`", dup_pairs, s))
            near_distance = near_copy_distance(find_leaks)
            s, _ = timed(redundancy.find_redundant, photo_ds, max_distance=near_distance,
                         progress=False)
            out["pairs"].append((
                "copies", "Winnow `find_duplicates` + `find_redundant(max_distance=%g)`"
                % near_distance, dup_pairs | winnow_pairs(photo_ds, redundancy.LINK_FIELD), s))

        if find_duplicates and "near_copies" in inspect.signature(find_duplicates).parameters:
            near_ds = make_dataset(planted.photo_paths)
            kept.append(near_ds)
            s, _ = timed(find_duplicates, near_ds, near_copies=True, progress=False)
            out["pairs"].append(("copies", "Winnow `find_duplicates(near_copies=True)` "
                                 "(fingerprints)", winnow_pairs(near_ds, "duplicate_of"), s))

        # The second photo set: other damage and other near copies, same rows.
        s, other_lab = run_cleanvision(planted.other_paths)
        out["other_flags"] = {"CleanVision": cleanvision_flags(other_lab)}
        out["other_pairs"] = [("CleanVision `exact_duplicates` + `near_duplicates` (pHash)",
                               cleanvision_pairs(other_lab, "exact_duplicates")
                               | cleanvision_pairs(other_lab, "near_duplicates"), s)]
        other_ds = make_dataset(planted.other_paths)
        kept.append(other_ds)
        if find_image_issues:
            find_image_issues(other_ds, progress=False)
            out["other_flags"]["Winnow"] = tag_flags(other_ds)
        if find_duplicates:
            near = ("near_copies" in inspect.signature(find_duplicates).parameters)
            s, _ = timed(find_duplicates, other_ds, progress=False,
                         **(dict(near_copies=True) if near else {}))
            out["other_pairs"].insert(0, ("Winnow `find_duplicates(%s)`"
                                          % ("near_copies=True" if near else ""),
                                          winnow_pairs(other_ds, "duplicate_of"), s))

        out["pairs"].append(("exact", "CleanVision `exact_duplicates` (md5 of pixels)",
                             cv_exact, None))
        out["pairs"].append(("copies", "CleanVision `exact_duplicates` + `near_duplicates` "
                             "(pHash)", cv_exact | cv_near, None))
        s, brain_exact_pairs = brain_exact(photo_ds)
        out["pairs"].append(("exact", "Brain `compute_exact_duplicates` (file hash)",
                             brain_exact_pairs, s))
        s, near_pairs, thresh = brain_near(photo_ds, "embedding")
        out["pairs"].append(("copies", "Brain exact + `compute_near_duplicates(threshold=%g)`"
                             % thresh, brain_exact_pairs | near_pairs, s))

        # Leaks on the split set: one embedding pass, shared by both rows.
        split_ds = make_dataset(planted.split_paths, split=planted.splits)
        kept.append(split_ds)
        embed(split_ds)
        if find_leaks:
            s, _ = timed(find_leaks, split_ds, split_field="split", progress=False)
            names = names_by_id(split_ds)
            leaked = {names[i] for i in split_ds.match_tags("leak").values("id")}
            out["leaks"].append(("Winnow `find_leaks` (max_distance %g)"
                                 % near_copy_distance(find_leaks), leaked, s))
        s, leaked, thresh = brain_leaks(split_ds, "embedding")
        out["leaks"].append(("Brain `compute_leaky_splits(threshold=%g)`" % thresh, leaked, s))

        out["margins"] = [("photos", copy_margin(photo_ds, "embedding", planted.copies)),
                          ("splits", copy_margin(split_ds, "embedding", planted.split_copies))]
    finally:
        for dataset in kept:
            dataset.delete()
    return out


def near_copy_distance(find_leaks):
    """The cosine distance Winnow calls a near copy: find_leaks' default."""
    distance = default_of(find_leaks, "max_distance")
    if distance is None:
        import winnow.plugin.duplicates as duplicates

        distance = duplicates.DEFAULT_MAX_DISTANCE
    return distance


# ---------------------------------------------------------------- tables


def print_kinds(planted, flags, *, other=False):
    """The kind table of the photo set (or, ``other``, of the second set)."""
    category = planted.other_category if other else planted.category
    kinds = planted.other_kinds if other else planted.kinds
    copies = OTHER_COPIES if other else COPIES
    num_clean = sum(1 for c in category.values() if c not in KINDS)
    num_copies = sum(1 for c in category.values() if c in copies)
    if other:
        print("\n## Image issues: a second planted set, other damage\n")
        print("Made by `plant_other` (none of its recipes is one the thresholds were chosen "
              "on): brightness scaling in sRGB (dark), an additive lift (light), box / "
              "down-up-scale / motion blur, fog, flat colours and gradients saved as JPEG or "
              "PNG (low information), whole crops squashed to 4:1-8:1, thumbnails of 16-30 px "
              "and 700-1000 px upscales (odd size), desaturated colour crops as RGB and as "
              "8-bit grayscale files.\n")
    else:
        print("\n## Image issues: planted real photographs\n")
    print("%d images (%d clean, %d of them copies; %d per kind), %d CPU cores; "
          "CleanVision %s (`find_issues(n_jobs=2)`, default thresholds). Cells: precision "
          "(hits/flagged) and recall (hits/planted).\n"
          % (len(category), num_clean, num_copies, PER_KIND, os.cpu_count(),
             cleanvision_version()))
    rows = [r for r in ("Winnow", "Winnow fused", "CleanVision") if r in flags]
    print("| kind | " + " | ".join("%s P | %s R" % (r, r) for r in rows)
          + " | target: R ≥ %.2f, P ≥ CleanVision's |" % TARGET_RECALL)
    print("|---|" + "---:|---:|" * len(rows) + "---|")
    for kind in KINDS:
        truth = kinds[kind]
        cells = []
        for r in rows:
            tp, n_pred, n_true = prf(flags[r][kind], truth)
            cells += [cell(tp, n_pred), cell(tp, n_true)]
        verdict = "–"
        if "Winnow" in flags:
            tp, n_pred, n_true = prf(flags["Winnow"][kind], truth)
            ctp, cn_pred, _ = prf(flags["CleanVision"][kind], truth)
            met = (ratio(tp, n_true) >= TARGET_RECALL and n_pred > 0
                   and (cn_pred == 0 or ratio(tp, n_pred) >= ratio(ctp, cn_pred)))
            verdict = "met" if met else "NOT met"
        print("| %s | %s | %s |" % (kind, " | ".join(cells), verdict))
    if "Winnow fused" in flags:
        same = all(flags["Winnow"][k] == flags["Winnow fused"][k] for k in KINDS)
        print("\nFused tags identical to standalone: %s" % ("yes" if same else "NO"))

    for r in ("Winnow", "CleanVision"):
        if r not in flags:
            continue
        print("\n%s flags by planted category (rows: what was planted; columns: flag):\n" % r)
        print("| planted | n | " + " | ".join(KINDS) + " |")
        print("|---|---:|" + "---:|" * len(KINDS))
        for cat in ("clean",) + KINDS + tuple(dict.fromkeys(copies)):
            members = {f for f, c in category.items() if c == cat}
            counts = [len(flags[r][k] & members) for k in KINDS]
            label = "copy (%s)" % cat if cat in copies else cat
            print("| %s | %d | %s |" % (label, len(members), " | ".join(map(str, counts))))


def print_copies(planted, pairs, leaks, margins):
    print("\n## Copies and leaks\n")
    print("Copies scored per pair (every pair inside a reported group), on the photo set; "
          "leaks per non-training sample, on the split set. Seconds exclude the shared "
          "embedding pass (EfficientNet-Lite0).\n")
    print("| truth | method | P | R | R byte | R pixel | R JPEG | s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    truths = dict(exact=("exact copies (%d pairs)" % len(planted.exact), planted.exact),
                  copies=("all copies, JPEG re-encodes too (%d pairs)" % len(planted.copies),
                          planted.copies))
    rows = [(truths[task][0], method, predicted, truths[task][1], s)
            for task in ("exact", "copies") for t, method, predicted, s in pairs if t == task]
    rows += [("leaks (%d planted test copies of train)" % len(planted.leaks), method, leaked,
              planted.leaks, s) for method, leaked, s in leaks]
    for label, method, predicted, truth, s in rows:
        tp, n_pred, n_true = prf(predicted, truth)
        by_type = []
        for copy in COPIES:
            sub = {k for k, v in truth.items() if v == copy}
            by_type.append(cell(len(predicted & sub), len(sub)) if sub else "–")
        print("| %s | %s | %s | %s | %s | %s |" % (
            label, method, cell(tp, n_pred), cell(tp, n_true), " | ".join(by_type),
            "–" if s is None else "%.2f" % s))

    print("\nCosine distances (EfficientNet-Lite0 embeddings) of the planted copies vs each "
          "sample's nearest non-copy:\n")
    print("| set | byte max | pixel max | JPEG min / median / max | nearest non-copy: min / "
          "1st pct / median |")
    print("|---|---:|---:|---|---|")
    for name, (by_type, nearest) in margins:
        jpeg = by_type["jpeg"]
        print("| %s | %.4f | %.4f | %.4f / %.4f / %.4f | %.4f / %.4f / %.4f |" % (
            name, by_type["byte"].max(), by_type["pixel"].max(), jpeg.min(), np.median(jpeg),
            jpeg.max(), nearest.min(), np.percentile(nearest, 1), np.median(nearest)))


def print_other_copies(planted, pairs):
    truth = planted.other_copies
    print("\nCopies in the second set (%d pairs: %d pixel-exact PNG re-saves, %d near: JPEG "
          "quality 40-60, lossy WebP 60-80, resized to 50-75 %%), scored per pair:\n"
          % (len(truth), sum(c == "pixel" for c in truth.values()),
             sum(c == "near" for c in truth.values())))
    print("| method | P | R | R pixel | R near | s |")
    print("|---|---:|---:|---:|---:|---:|")
    for method, predicted, s in pairs:
        tp, n_pred, n_true = prf(predicted, truth)
        by_type = []
        for copy in ("pixel", "near"):
            sub = {k for k, v in truth.items() if v == copy}
            by_type.append(cell(len(predicted & sub), len(sub)))
        print("| %s | %s | %s | %s | %s |" % (method, cell(tp, n_pred), cell(tp, n_true),
                                             " | ".join(by_type), "%.2f" % s))


def print_speed(planted, speed, fused, reps):
    from winnow.plugin import images

    sides = [side for path in planted.photo_paths for side in Image.open(path).size]
    sets = (("large", "%d JPEGs 1024×768" % len(planted.large_paths)),
            ("photos", "%d photo-set files, %d–%d px a side"
             % (len(planted.photo_paths), min(sides), max(sides))))
    print("\n## Speed\n")
    print("Images/s, best of %d, a fresh dataset each run (Winnow's includes its bulk write); "
          "%d decoding worker(s) for Winnow, n_jobs=2 for CleanVision. The target compares "
          "with CleanVision's faster configuration (the 7 image kinds, no copies).\n"
          % (reps, images.default_num_workers()))
    print("| files | Winnow `find_image_issues` | CleanVision, 7 image kinds | CleanVision, "
          "default (+ exact/near copies) | Winnow ÷ CleanVision (7 kinds) | target |")
    print("|---|---:|---:|---:|---:|---|")
    for name, label in sets:
        w, cv7, cv = (speed.get((name, row)) for row in ("winnow", "cv7", "cv"))
        target = "–"
        if w and name == "large":
            target = "≥ %.0f×: %s" % (TARGET_SPEEDUP,
                                      "met" if w / cv7 >= TARGET_SPEEDUP else "NOT met")
        print("| %s | %s | %.1f | %.1f | %s | %s |" % (
            label, "%.1f" % w if w else "–", cv7, cv, "%.2f" % (w / cv7) if w else "–",
            target))

    print("\nFused image issues: `compute_embeddings` with and without `image_issues=True` "
          "on the same files, %d pairs of passes run back to back (seconds, best / median); "
          "the added cost is the median over the pairs (their range beside it), which a "
          "change in the machine's load moves least:\n" % reps)
    print("| files | plain | image_issues=True | added: median (range) | target ≤ %d %% |"
          % round(100 * TARGET_FUSED))
    print("|---|---:|---:|---:|---|")
    for name, label in sets:
        plain, with_issues = fused[name]
        if not with_issues:
            print("| %s | %.2f / %.2f | – | – | – |"
                  % (label, min(plain), np.median(plain)))
            continue
        added = np.array(with_issues) / np.array(plain) - 1
        print("| %s | %.2f / %.2f | %.2f / %.2f | %+.1f %% (%+.1f to %+.1f %%) | %s |" % (
            label, min(plain), np.median(plain), min(with_issues), np.median(with_issues),
            100 * np.median(added), 100 * added.min(), 100 * added.max(),
            "met" if np.median(added) <= TARGET_FUSED else "NOT met"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="timing repetitions (best of)")
    parser.add_argument("--anchors-only", action="store_true",
                        help="CleanVision and FiftyOne Brain rows only")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the planted sets")
    args = parser.parse_args()

    winnow = {} if args.anchors_only else winnow_steps()
    planted = Planted(build(force=args.rebuild))

    import torch

    logging.getLogger("fiftyone").setLevel(logging.WARNING)  # Brain's progress lines
    torch.manual_seed(0)
    start = time.perf_counter()
    warm_file_cache(planted.photo_paths + planted.large_paths + planted.split_paths
                    + planted.other_paths)
    out = measure(planted, reps=args.reps, winnow=winnow)

    print_kinds(planted, out["flags"])
    print_copies(planted, out["pairs"], out["leaks"], out["margins"])
    print_kinds(planted, out["other_flags"], other=True)
    print_other_copies(planted, out["other_pairs"])
    print_speed(planted, out["speed"], out["fused"], args.reps)
    print("\nWhole run: %.0f s on %d CPU cores (planted sets cached in %s)"
          % (time.perf_counter() - start, os.cpu_count(), os.path.relpath(CACHE)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
