"""Exact copies within a collection, and copies leaking between dataset splits.

:func:`find_duplicates` finds exact copies: the same file bytes, or the same
decoded pixels saved in another file (a PNG re-saved as BMP or TIFF, another
compression level, other metadata). Every file is hashed (SHA-256 of its
bytes, read in chunks by a thread pool); only files whose image size collides
with another file's of different bytes are decoded, at full resolution, and
their RGB pixels hashed, so most images are never decoded. Each group's first
sample in view order is kept; the others are tagged and linked to it. Near
copies (re-encoded, resized, cropped) are not exact: they are
:func:`~winnow.plugin.redundancy.find_redundant`'s (``max_distance=``) and,
across splits, :func:`find_leaks`'.

:func:`find_leaks` finds samples outside the training split that are copies of
a training sample, as FiftyOne Brain's ``compute_leaky_splits`` does: exact
copies by the content hash, near copies by the cosine distance of their
embeddings to the nearest training sample (block by block, never an N x N
matrix). Winnow tags and links; it never deletes.
"""

import collections
import concurrent.futures
import hashlib
import os

import numpy as np
import scipy.fft
from PIL import Image

import fiftyone.core.fields as fof
import fiftyone.core.utils as fou

from . import images, inputs, redundancy, runs, vectors

DUPLICATES_STEP = "duplicates"
LEAKS_STEP = "leaks"
HASH_BATCH = 256  # files handed to the thread pool at a time (bounds pending futures)
READ_CHUNK = 1 << 20  # bytes read per call while hashing a file
BLOCK_VALUES = 1 << 24  # float32 distances per block of the nearest-neighbour search
FILE_PREFIX = "file:"  # content hash of a file compared by its bytes
PIXELS_PREFIX = "pixels:"  # content hash of a file compared by its decoded pixels

# Measured with the default embeddings (efficientnet-lite0; see find_leaks).
DEFAULT_MAX_DISTANCE = 0.05
# Near copies by fingerprint (see fingerprint() and find_duplicates for the measurement).
FINGERPRINT_SIDE = 32  # grayscale thumbnail the DCT runs on (pHash's)
FINGERPRINT_FREQS = 8  # lowest frequencies kept per axis, DC dropped: 63 values (pHash's)
FINGERPRINT_DRAFT = (128, 128)  # JPEGs decoded at >= this size (the decoder downscales)
MIN_FINGERPRINT_ENERGY = 1.0  # thumbnail detail (grey levels, RMS) below which none is made
DEFAULT_FINGERPRINT_DISTANCE = 0.002


def default_num_threads():
    """Hashing threads: reads and SHA-256 release the GIL, so two per core (2 to 8)."""
    return max(2, min(8, 2 * (os.cpu_count() or 1)))


# ------------------------------------------------------------------- hashing


def file_hash(path, *, chunk_size=READ_CHUNK):
    """The SHA-256 of a file's bytes (hex), read ``chunk_size`` bytes at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def image_dims(path):
    """``(short side, long side)`` of an image from its header, without decoding.

    Orientation-free, so a copy stored rotated with an EXIF orientation tag
    still collides with its original.
    """
    with Image.open(path) as img:
        return tuple(sorted(img.size))


def pixel_hash(path):
    """The SHA-256 (hex) of an image's full-resolution decoded RGB pixels and shape.

    Decoded as the models see it (:func:`winnow.plugin.images.read_image`:
    EXIF orientation applied, converted to RGB), never downscaled.
    """
    img = images.read_image(path)
    digest = hashlib.sha256(("%dx%d:" % img.size).encode())
    digest.update(img.tobytes())  # RGB rows, one byte per channel
    return digest.hexdigest()


def fingerprint(img):
    """A near-copy fingerprint of an image: pHash's coefficients before quantising.

    The image in grayscale squashed to 32 x 32, its 2-D DCT, the 8 x 8 lowest
    frequencies without the DC term (63 values), L2-normalised. ImageHash's
    ``phash`` keeps only each coefficient's sign against their median (64
    bits); keeping the values separates re-encodes from distinct images where
    the bits do not (small, low-detail images: Fashion-MNIST's JPEG re-encodes
    differ by up to 4 of 64 bits while distinct items come within 2). Blind to
    brightness offsets and contrast scale (DC dropped, normalised), to
    resizing and to JPEG/WebP compression; not to crops or flips.

    Args:
        img: a ``PIL.Image``

    Returns:
        a ``(63,)`` float32 unit vector, or None for a near-constant image
        (RMS detail below :data:`MIN_FINGERPRINT_ENERGY` grey levels: its
        coefficients would be noise)
    """
    thumb = img.convert("L").resize((FINGERPRINT_SIDE, FINGERPRINT_SIDE),
                                    Image.Resampling.LANCZOS)
    coeffs = scipy.fft.dctn(np.asarray(thumb, dtype=np.float32), norm="ortho")
    low = coeffs[:FINGERPRINT_FREQS, :FINGERPRINT_FREQS].ravel()[1:]
    norm = float(np.linalg.norm(low))
    # Orthonormal DCT: the AC coefficients' energy is the thumbnail's variance x pixels.
    if norm < MIN_FINGERPRINT_ENERGY * FINGERPRINT_SIDE:
        return None
    return (low / norm).astype(np.float32)


def _fingerprint_file(path):
    try:
        return fingerprint(images.read_image(path, draft_size=FINGERPRINT_DRAFT)), None
    except Exception as e:
        return None, images.describe_error(e)


def file_fingerprints(filepaths, *, num_workers=None, progress=None):
    """The :func:`fingerprint` of each image file, decoded at reduced size.

    Args:
        filepaths: a list of N image paths
        num_workers (None): threads; None means :func:`default_num_threads`
        progress (None): see ``fiftyone.core.utils.ProgressBar``

    Returns:
        ``(F, errors)``: a list of N ``(63,)`` float32 arrays or None (near-
        constant or unreadable) and ``{i: reason}`` for unreadable files
    """
    filepaths = list(filepaths)
    threads = default_num_threads() if num_workers is None else max(1, int(num_workers))
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        with fou.ProgressBar(total=len(filepaths), progress=progress) as pb:
            out = _pool_map(_fingerprint_file, filepaths, pool, pb)
    return [f for f, _ in out], {i: e for i, (_, e) in enumerate(out) if e is not None}


def near_copy_groups(F, kept, *, max_distance=DEFAULT_FINGERPRINT_DISTANCE, progress=None):
    """Joins groups of exact copies whose fingerprints are near copies.

    The groups' kept rows are clustered by average linkage on the cosine
    distance of their fingerprints, cut at ``max_distance``
    (:func:`~winnow.plugin.redundancy.redundancy_clusters`); each cluster keeps
    its first row in order, and every row follows its group's kept row there.

    Args:
        F: N fingerprints (``(63,)`` arrays, or None: never a near copy)
        kept: ``(N,)`` int64, the exact copies' groups (:func:`duplicate_groups`)
        max_distance (0.002): the largest cosine distance of a near copy
        progress (None): see ``fiftyone.core.utils.ProgressBar``

    Returns:
        ``(N,)`` int64: the row each row is a copy of (exact or near), -1 where
        ``kept`` is -1
    """
    kept = np.asarray(kept, dtype=np.int64)
    out = kept.copy()
    rows = [r for r in range(len(kept)) if kept[r] == r and F[r] is not None]
    if len(rows) < 2:
        return out
    cut = redundancy.redundancy_clusters(np.stack([F[r] for r in rows]),
                                         max_distance=max_distance, progress=progress)
    first = {}
    head = {}
    for r, c in zip(rows, cut["cluster"].tolist()):
        head[r] = first.setdefault(c, r)  # rows are in order: the first one is kept
    for i in range(len(kept)):
        if kept[i] >= 0:
            out[i] = head.get(kept[i], kept[i])
    return out


def _hash_and_dims(path):
    """``(file hash, dims, None)``, or ``(None, None, reason)`` for a file that is
    missing, empty or not an image."""
    try:
        # The reasons images.read_image gives, so every step records one wording.
        if not os.path.exists(path):
            raise FileNotFoundError("file not found")
        if os.path.getsize(path) == 0:
            raise ValueError("empty file (0 bytes)")
        digest = file_hash(path)
        return digest, image_dims(path), None
    except Exception as e:
        return None, None, images.describe_error(e)


def _pixels(path):
    try:
        return pixel_hash(path), None
    except Exception as e:
        return None, images.describe_error(e)


def _pool_map(fn, items, pool, pb):
    """``fn`` over ``items`` in order, HASH_BATCH at a time, updating ``pb``."""
    out = []
    for a in range(0, len(items), HASH_BATCH):
        batch = items[a:a + HASH_BATCH]
        out.extend(pool.map(fn, batch))
        pb.update(count=len(batch))
    return out


ContentHashes = collections.namedtuple("ContentHashes", ["hashes", "errors", "num_decoded"])
ContentHashes.__doc__ = """What :func:`content_hashes` computed: N content hashes (None for a
file that could not be read as an image), ``{i: reason}`` for the files that could not be
read or decoded, and how many distinct files were decoded."""


def content_hashes(filepaths, *, num_workers=None, progress=None):
    """Content hashes of image files: equal exactly for the same bytes or the same pixels.

    Pass 1 hashes every file's bytes and reads its size from the header. Pass
    2 decodes only the files whose size (orientation-free) collides with a
    file of different bytes, one file per distinct byte hash, and hashes their
    pixels (:func:`pixel_hash`). A file's content hash is ``"pixels:<sha256>"``
    when its pixels were hashed, else ``"file:<sha256>"``; within one call two
    files get equal hashes if and only if they have the same bytes or decode to
    the same RGB pixels. Hashes of different calls are comparable only when
    made over the same files (a file may be decoded in one call and not in
    another).

    A file that is missing, empty or not an image gets no hash (None) and its
    reason; one whose header reads but whose pixels do not decode (truncated)
    keeps its byte hash (its byte-identical copies are still found) and its
    reason.

    Args:
        filepaths: a list of N image paths
        num_workers (None): threads; None means :func:`default_num_threads`
        progress (None): see ``fiftyone.core.utils.ProgressBar`` (one bar per pass)

    Returns:
        a :class:`ContentHashes` ``(hashes, errors, num_decoded)``: ``hashes`` a
        list of N strings or None, ``errors`` a dict ``{i: reason}``
    """
    filepaths = list(filepaths)
    threads = default_num_threads() if num_workers is None else max(1, int(num_workers))
    errors = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        with fou.ProgressBar(total=len(filepaths), progress=progress) as pb:
            read = _pool_map(_hash_and_dims, filepaths, pool, pb)
        # One file per distinct byte hash, grouped by size; a size shared by
        # different bytes is where equal pixels may hide.
        first_of = {}
        by_dims = collections.defaultdict(list)
        for i, (digest, dims, reason) in enumerate(read):
            if reason is not None:
                errors[i] = reason
            elif digest not in first_of:
                first_of[digest] = i
                by_dims[dims].append(digest)
        to_decode = [d for group in by_dims.values() if len(group) > 1 for d in group]
        decoded = []
        if to_decode:
            with fou.ProgressBar(total=len(to_decode), progress=progress) as pb:
                decoded = _pool_map(_pixels, [filepaths[first_of[d]] for d in to_decode],
                                    pool, pb)
    content = {d: FILE_PREFIX + d for d in first_of}
    failed = {}
    for digest, (px, reason) in zip(to_decode, decoded):
        if reason is None:
            content[digest] = PIXELS_PREFIX + px
        else:
            failed[digest] = reason
    hashes = [None if digest is None else content[digest] for digest, _, _ in read]
    for i, (digest, _, _) in enumerate(read):
        if digest in failed:
            errors[i] = failed[digest]
    return ContentHashes(hashes, errors, len(to_decode))


def duplicate_groups(hashes):
    """The row each row is a copy of: the first row (in order) with the same hash.

    Args:
        hashes: N hashes (any hashable; None never matches)

    Returns:
        an ``(N,)`` int64 array: the first row with the row's hash (the row
        itself when it is the first), -1 for None
    """
    first = {}
    out = np.full(len(hashes), -1, dtype=np.int64)
    for i, h in enumerate(hashes):
        if h is not None:
            out[i] = first.setdefault(h, i)
    return out


def _stored_hashes(samples, hash_field, error_field):
    """The view's content hashes and reasons as a complete duplicates run wrote them,
    or None when that run did not cover every sample of the view (hashes of one
    run only are comparable, see :func:`content_hashes`)."""
    written = any(r["roles"].get("hash") == hash_field and r["status"] == "complete"
                  for r in runs.list_runs(samples, DUPLICATES_STEP))
    schema = samples.get_field_schema()
    if not written or hash_field not in schema or error_field not in schema:
        return None
    hashes, reasons = samples.values([hash_field, error_field])
    if any(h is None and e is None for h, e in zip(hashes, reasons)):
        return None
    errors = {i: e for i, e in enumerate(reasons) if e is not None}
    return ContentHashes(list(hashes), errors, 0)


def _check_distance(value, default, name):
    """A cosine distance parameter as a float in [0, 2] (None: ``default``)."""
    if value is None:
        return float(default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0.0 <= value <= 2.0:
        raise ValueError("%s is a cosine distance in [0, 2]; got %r" % (name, value))
    return float(value)


# ---------------------------------------------------------------- duplicates


class DuplicatesResults(images.ImageResults):
    """What :func:`find_duplicates` did.

    Attributes:
        num_samples: samples in the view
        num_duplicates: samples tagged ``tag`` (exact copies of a kept sample)
        num_near: samples tagged ``near_tag`` (near copies; 0 without
            ``near_copies``)
        num_groups: groups of two or more copies
        duplicate_ids: ids of the exact copies
        near_ids: ids of the near copies
        kept_of: ``{copy id: id of the kept sample}`` (exact and near)
        num_decoded: files whose pixels were decoded and hashed (0 when the
            stored hashes were reused)
        reused_hashes: whether the hashes of the previous run were reused
        failures: ``{reason: count}`` of files that could not be read or decoded
        tag, near_tag, link_field, hash_field, error_field, run_key, params, seconds
    """

    ATTRIBUTES = ("num_samples", "num_duplicates", "num_near", "num_groups", "duplicate_ids",
                  "near_ids", "kept_of", "num_decoded", "reused_hashes", "failures", "tag",
                  "near_tag", "link_field", "hash_field", "error_field", "run_key", "params",
                  "seconds")

    @property
    def groups(self):
        """``{kept id: [ids of its copies]}`` (as FiftyOne Brain's
        ``compute_exact_duplicates`` returns)."""
        out = collections.defaultdict(list)
        for dup, kept in self.kept_of.items():
            out[kept].append(dup)
        return dict(out)

    def summary(self):
        near = (" and %d near copies tagged %r" % (self.num_near, self.near_tag)
                if self.params.get("near_copies") else "")
        return ("Exact duplicates: %d of %d samples tagged %r%s in %d groups, "
                "linked in %r (content hashes in %r%s; %d files decoded) in %.1f s"
                % (self.num_duplicates, self.num_samples, self.tag, near, self.num_groups,
                   self.link_field, self.hash_field, ", reused" if self.reused_hashes else "",
                   self.num_decoded, self.seconds))


def find_duplicates(samples, *, tag="duplicate", link_field="duplicate_of",
                    hash_field="content_hash", near_copies=False, near_tag="near_duplicate",
                    max_fingerprint_distance=None, recompute=False, overwrite=False,
                    progress=None, num_workers=None):
    """Tags the exact copies in a collection and links each to the sample kept.

    Two samples are exact copies when their files have the same bytes, or
    decode to the same RGB pixels (see :func:`content_hashes`: only images
    whose size collides with another's are decoded). In each group of copies
    the first sample in view order is kept; every other one gets ``tag`` and
    the kept sample's id in ``link_field``. Every sample gets its content hash
    in ``hash_field`` (``"file:<sha256>"`` or ``"pixels:<sha256>"``), which a
    re-run on these samples and :func:`find_leaks` reuse instead of reading
    the files again. A file that can't be read as an image gets no hash and
    its reason in ``<hash_field>_error``; it is never a copy (except of its
    byte-identical files when only its pixels failed to decode).

    With ``near_copies=True`` near copies are found too: every image is
    decoded at reduced size and fingerprinted (:func:`fingerprint`: pHash's
    DCT coefficients, unquantised), and groups whose fingerprints are within
    ``max_fingerprint_distance`` (cosine) are joined (:func:`near_copy_groups`):
    the first sample of the joined group is kept, the other samples that are
    not exact copies of it get ``near_tag`` and its id in ``link_field``.
    Default distance 0.002, measured on 300 demo Fashion-MNIST images and 85
    distinct scikit-image photographs and quarters: no two distinct images
    came within 0.0042 (two Fashion-MNIST items; 1st percentile 0.0049;
    photos > 0.01), while the share of variants within 0.002 of their
    original was, Fashion-MNIST / photos: JPEG quality 90 and 75, WebP 80
    and resizing to 90 %: 1.00 / 0.97-1.00; JPEG quality 50: 0.98 / 1.00;
    resizing to 50 %: 0.95 / 1.00; brightness x 1.2 (clipped): 0.98 / 0.86;
    crops of 2 % a side: 0.00 / 0.03 (crops and flips are not near copies
    here: :func:`~winnow.plugin.redundancy.find_redundant` with
    ``max_distance=`` on embeddings finds those that keep their meaning).
    Across splits, see :func:`find_leaks`.

    The run is recorded as ``winnow_duplicates_<link_field>``; a re-run
    replaces the whole previous result (tags and fields), even on a view.

    Args:
        samples: a dataset or view of images
        tag ("duplicate"): the sample tag for copies
        link_field ("duplicate_of"): string field, the kept sample's id
        hash_field ("content_hash"): string field, each sample's content hash
        near_copies (False): also find near copies by fingerprint (decodes
            every image at reduced size)
        near_tag ("near_duplicate"): the sample tag for near copies (cleared by
            every re-run)
        max_fingerprint_distance (None): the largest fingerprint cosine
            distance of a near copy; None means
            :data:`DEFAULT_FINGERPRINT_DISTANCE`
        recompute (False): hash the files again even when this run's stored
            hashes cover every sample of the view (e.g. files changed on disk)
        overwrite (False): whether existing fields or tags not written by this
            step may be overwritten
        progress (None): progress bar or callback
        num_workers (None): hashing threads (see :func:`default_num_threads`)

    Returns:
        a :class:`DuplicatesResults`
    """
    images.check_image_step(samples, batch_size=HASH_BATCH, num_workers=num_workers)
    max_fingerprint_distance = _check_distance(
        max_fingerprint_distance, DEFAULT_FINGERPRINT_DISTANCE, "max_fingerprint_distance")
    if near_tag == tag:
        raise ValueError("near_tag and tag must differ (exact and near copies are told "
                         "apart by their tags); both are %r" % tag)
    error_field = hash_field + "_error" if isinstance(hash_field, str) else None
    step = runs.Step(samples, DUPLICATES_STEP,
                     fields=dict(link=link_field, hash=hash_field, error=error_field),
                     tags=[tag, near_tag], overwrite=overwrite)
    ids, filepaths = samples.values(["id", "filepath"])
    stored = None if recompute else _stored_hashes(samples, hash_field, error_field)
    hashes, errors, num_decoded = stored or content_hashes(
        filepaths, num_workers=num_workers, progress=progress)
    exact = duplicate_groups(hashes)
    kept = exact
    if near_copies:
        F, _ = file_fingerprints(filepaths, num_workers=num_workers, progress=progress)
        kept = near_copy_groups(F, exact, max_distance=max_fingerprint_distance,
                                progress=progress)
    copies = np.flatnonzero((kept >= 0) & (kept != np.arange(len(ids))))
    kept_of = {ids[i]: ids[kept[i]] for i in copies}
    # A near copy is one that is not an exact copy of the sample it is linked to.
    near_ids = [ids[i] for i in copies if exact[i] != exact[kept[i]]]
    exact_ids = [ids[i] for i in copies if exact[i] == exact[kept[i]]]

    dataset = samples._root_dataset
    fields = (link_field, hash_field, error_field)
    with step.writing():
        dataset.untag_samples([tag, near_tag])
        schema = dataset.get_field_schema()
        for f in fields:  # a re-run replaces the whole previous result
            if f in schema:
                dataset.clear_sample_field(f)
        for f in fields:
            inputs.declare_field(samples, f, fof.StringField)
        samples.set_values(link_field, {i: kept_of.get(i) for i in ids}, key_field="id")
        samples.set_values(hash_field, dict(zip(ids, hashes)), key_field="id")
        samples.set_values(error_field, {i: errors.get(r) for r, i in enumerate(ids)},
                           key_field="id")
        if exact_ids:
            dataset.select(exact_ids).tag_samples(tag)
        if near_ids:
            dataset.select(near_ids).tag_samples(near_tag)

    num_groups = len(set(kept[copies].tolist()))
    params = dict(hash_field=hash_field, near_copies=bool(near_copies),
                  max_fingerprint_distance=max_fingerprint_distance if near_copies else None,
                  recompute=recompute, num_workers=num_workers)
    counts = dict(samples=len(ids), duplicates=len(exact_ids), near=len(near_ids),
                  groups=num_groups, decoded=num_decoded, failed=len(errors),
                  reused=stored is not None)
    key = step.record(params, counts)
    return DuplicatesResults(
        num_samples=len(ids), num_duplicates=len(exact_ids), num_near=len(near_ids),
        num_groups=num_groups, duplicate_ids=exact_ids, near_ids=near_ids, kept_of=kept_of,
        num_decoded=num_decoded, reused_hashes=stored is not None,
        failures=dict(collections.Counter(errors.values())), tag=tag, near_tag=near_tag,
        link_field=link_field, hash_field=hash_field, error_field=error_field,
        run_key=key, params=params, seconds=step.seconds,
    )


# --------------------------------------------------------------------- leaks


def nearest_cosine(Q, R, *, block_values=BLOCK_VALUES, progress=None):
    """Each query row's nearest reference row by cosine distance, block by block.

    Rows are L2-normalised (the references once, the queries one block at a
    time); the cosine distance of unit rows is half their squared Euclidean
    distance, computed for ``block_values // K`` query rows at a time
    (memory O(block_values), never M x K at once).

    Args:
        Q: an ``(M, D)`` array of queries
        R: a ``(K, D)`` array of references, K >= 1
        block_values (2 ** 24): distances held at once
        progress (None): see ``fiftyone.core.utils.ProgressBar`` (query rows)

    Returns:
        ``(nearest, distance)``: ``(M,)`` int64 rows of ``R`` and ``(M,)``
        float64 cosine distances in ``[0, 2]``
    """
    R = inputs.l2_normalize(R)
    r_sq = np.einsum("ij,ij->i", R, R)
    nearest = np.zeros(len(Q), dtype=np.int64)
    distance = np.zeros(len(Q), dtype=np.float64)
    block = max(1, block_values // max(1, len(R)))
    with fou.ProgressBar(total=len(Q), progress=progress) as pb:
        for a in range(0, len(Q), block):
            d2 = vectors.squared_distances(inputs.l2_normalize(Q[a:a + block]), R, b_sq=r_sq)
            j = np.argmin(d2, axis=1)
            nearest[a:a + block] = j
            distance[a:a + block] = d2[np.arange(len(j)), j] / 2.0
            pb.update(len(j))
    return nearest, np.clip(distance, 0.0, 2.0)


def read_splits(samples, *, split_field=None, split_tags=None, train_split="train"):
    """Each sample's split, in view order, refusing samples in no split or two.

    Args:
        samples: a dataset or view
        split_field (None): a ``fo.Classification`` or string (int, bool)
            field whose value is the split, or
        split_tags (None): a list of sample tags, one per split; each sample
            must carry exactly one
        train_split ("train"): the training split's name (the field's value or
            the tag)

    Returns:
        ``(ids, splits)``: N sample ids and an ``(N,)`` object array of split names

    Raises:
        ValueError: both or neither of ``split_field`` and ``split_tags``, an
            unknown field, a sample in no split or in two, no training sample,
            no sample outside the training split
    """
    if (split_field is None) == (split_tags is None):
        raise ValueError("Pass exactly one of split_field (a field holding each sample's "
                         "split) and split_tags (a list of sample tags, one per split)")
    inputs.check_name(train_split, "train_split")
    if split_field is not None:
        field = inputs.label_field(samples, split_field, param="split_field",
                                   kinds=("classification", "primitive"))
        ids, values = samples.values(["id", field.path])
        splits = field.clean(values)
        missing = [i for i, s in enumerate(splits) if s is None]
        if missing:
            raise ValueError("%d samples are in no split: they have no value in %r (e.g. "
                             "sample %s); set it, or run on samples.exists(%r)"
                             % (len(missing), split_field, ids[missing[0]], field.root))
    else:
        if isinstance(split_tags, str) or not isinstance(split_tags, (list, tuple)):
            raise ValueError("split_tags must be a list of sample tags, one per split; "
                             "got %r" % (split_tags,))
        for t in split_tags:
            inputs.check_name(t, "split_tags")
        if len(set(split_tags)) < 2:
            raise ValueError("split_tags must name at least two different tags; got %r"
                             % (split_tags,))
        ids, tags = samples.values(["id", "tags"])
        found = [[t for t in split_tags if t in (sample_tags or ())] for sample_tags in tags]
        none = [i for i, f in enumerate(found) if not f]
        if none:
            raise ValueError("%d samples carry none of the split tags %s (e.g. sample %s); "
                             "every sample must carry exactly one"
                             % (len(none), list(split_tags), ids[none[0]]))
        several = [i for i, f in enumerate(found) if len(f) > 1]
        if several:
            raise ValueError("%d samples carry more than one split tag (e.g. sample %s: %s); "
                             "every sample must carry exactly one"
                             % (len(several), ids[several[0]], found[several[0]]))
        splits = np.array([f[0] for f in found], dtype=object)
    present = collections.Counter(splits.tolist())
    if train_split not in present:
        raise ValueError("No sample is in the training split %r (the splits are %s); pass "
                         "train_split=" % (train_split, sorted(present)))
    if len(present) < 2:
        raise ValueError("Every sample is in the training split %r: leaks need samples of "
                         "another split" % train_split)
    return list(ids), splits


class LeaksResults(runs.Results):
    """What :func:`find_leaks` did.

    Attributes:
        num_samples: samples in the view
        num_train: samples in the training split
        num_leaks: samples outside it tagged as copies of a training sample
        num_exact, num_near: of those, exact copies (content hash) and near
            copies (fingerprints or embeddings)
        num_fingerprint: of the near copies, those matched by fingerprint
        leak_ids: ids of the tagged samples
        leak_of: ``{leak id: id of the training sample it copies}``
        leaks_per_split: ``{split: number of leaks}``
        splits: ``{split: number of samples}``
        max_distance: the cosine distance below which embeddings are near copies
            (None: exact copies only)
        num_skipped: samples without an embedding (exact copies only)
        num_unhashed: samples whose file could not be read (near copies only)
        reused_hashes: whether :func:`find_duplicates`' stored hashes were used
        tag, link_field, distance_field, run_key, params, seconds
    """

    ATTRIBUTES = ("num_samples", "num_train", "num_leaks", "num_exact", "num_near",
                  "num_fingerprint", "leak_ids", "leak_of", "leaks_per_split", "splits", "max_distance",
                  "num_unhashed", "reused_hashes", "tag", "link_field", "distance_field",
                  "run_key", "params", "seconds")

    @property
    def num_failed(self):
        return self.num_unhashed

    def summary(self):
        per_split = ", ".join("%s %d" % kv for kv in sorted(self.leaks_per_split.items()))
        tests = (["fingerprints"] if self.params.get("fingerprints") else []) + (
            ["embeddings within cosine %g" % self.max_distance]
            if self.max_distance is not None else [])
        near = ("%d near (%d by fingerprint; %s)" % (self.num_near, self.num_fingerprint,
                                                     " and ".join(tests))
                if tests else "exact copies only")
        return ("Leaks: %d of %d samples outside %r tagged %r (%d exact, %s; per split: %s), "
                "linked in %r, distances in %r, %.1f s"
                % (self.num_leaks, self.num_samples - self.num_train,
                   self.params["train_split"], self.tag, self.num_exact, near,
                   per_split or "none", self.link_field, self.distance_field, self.seconds))


def find_leaks(samples, *, split_field=None, split_tags=None, train_split="train",
               embeddings_field="embedding", max_distance=None, fingerprints=True,
               max_fingerprint_distance=None, tag="leak", link_field="leak_of",
               distance_field="leak_distance", hash_field="content_hash", overwrite=False,
               progress=None, num_workers=None):
    """Tags the samples outside the training split that are copies of a training sample.

    Mirrors FiftyOne Brain's ``compute_leaky_splits``. Each sample's split is
    ``split_field``'s value or the one of ``split_tags`` it carries (exactly
    one per sample). A sample outside ``train_split`` leaks when it is

    - an exact copy of a training sample: the same content hash (same bytes
      or same pixels, see :func:`content_hashes`): distance 0.0; or
    - a re-encode or resize of one (``fingerprints=True``): the cosine
      distance of its :func:`fingerprint` to the nearest training sample's is
      at most ``max_fingerprint_distance`` (as in :func:`find_duplicates`); or
    - a near copy: the cosine distance of its embedding to the nearest
      training sample's is at most ``max_distance`` (:func:`nearest_cosine`).

    It gets ``tag``, the training sample's id in ``link_field`` (the first in
    view order for exact copies, the nearest for near ones) and the distance
    of the first test it passed, in that order, in ``distance_field`` (0.0,
    a fingerprint distance <= 0.002 or an embedding distance: smaller is
    closer either way); training samples are never tagged. Fingerprints
    catch the re-encodes of photographs that embeddings place too far
    (JPEGs of small photo crops up to 0.16 apart), embeddings the edits that
    fingerprints do not (crops, flips). Copies between
    two non-training splits are not leaks here. The content hashes a complete
    :func:`find_duplicates` run stored in ``hash_field`` are reused when they
    cover the whole view; otherwise the files are hashed (not stored).

    Default ``max_distance`` (0.05), measured with the default embeddings
    (efficientnet-lite0) on 375 distinct images: 300 demo Fashion-MNIST
    images, 15 scikit-image photographs (4 grayscale, 3 textures) and the 60
    non-overlapping quarters of those photos. No distinct image was within
    0.05 of another: the closest pairs were two quarters of the Hubble deep
    field (0.0555) and two Fashion-MNIST images (0.0567; 1st percentile of
    their nearest-neighbour distances 0.067). Share of variants within 0.05 of
    their original, Fashion-MNIST / photos (textures apart):

    ====================== ================ =========
    variant                Fashion-MNIST    photos
    ====================== ================ =========
    JPEG quality 90        1.00             0.89
    JPEG quality 85        0.98             0.80
    JPEG quality 75        0.82             0.53
    crop 2 % a side        (1 px: 0.36)     0.89
    crop 5 % a side                         0.44
    resize to 90 %         (2x: 0.71)       1.00
    resize to 50 %                          0.33
    ====================== ================ =========

    (a grayscale clock's JPEGs are the far ones: up to 0.26 at quality 75).
    So the default finds re-encodes and slight edits, not heavy ones. At 0.1
    it finds 0.84-1.00 of the JPEG re-encodes but links 11 % of the distinct
    Fashion-MNIST images and 60 % of the texture quarters to another image;
    for heavier edits use embeddings more invariant to them (another
    ``compute_embeddings(model=...)``) and measure the threshold for those.

    Args:
        samples: a dataset or view of images
        split_field (None), split_tags (None), train_split ("train"): the
            splits, see :func:`read_splits`
        embeddings_field ("embedding"): the vector field for near copies; None
            finds exact copies (and fingerprint matches) only
        max_distance (None): the largest cosine distance of a near copy, in
            ``[0, 2]``; None means :data:`DEFAULT_MAX_DISTANCE`
        fingerprints (True): also match by fingerprint (decodes every image
            at reduced size)
        max_fingerprint_distance (None): see :func:`find_duplicates`; None
            means :data:`DEFAULT_FINGERPRINT_DISTANCE`
        tag ("leak"): the sample tag for leaks
        link_field ("leak_of"): string field, the training sample's id
        distance_field ("leak_distance"): float field, the distance of the test
            that matched (0.0 for exact copies, else a fingerprint or embedding
            cosine distance)
        hash_field ("content_hash"): where :func:`find_duplicates` stored the
            content hashes
        overwrite (False): whether existing fields or tags not written by this
            step may be overwritten
        progress (None): progress bar or callback
        num_workers (None): hashing threads (see :func:`default_num_threads`)

    Returns:
        a :class:`LeaksResults`
    """
    images.check_image_step(samples, batch_size=HASH_BATCH, num_workers=num_workers)
    max_distance = _check_distance(max_distance, DEFAULT_MAX_DISTANCE, "max_distance")
    max_fingerprint_distance = _check_distance(
        max_fingerprint_distance, DEFAULT_FINGERPRINT_DISTANCE, "max_fingerprint_distance")
    inputs.check_name(hash_field, "hash_field")
    # The splits are read, not written: refuse outputs that would overwrite them.
    if isinstance(split_tags, (list, tuple)) and tag in split_tags:
        raise ValueError("tag %r is one of the split_tags; choose another tag" % tag)
    if isinstance(split_field, str) and split_field.split(".")[0] in (link_field,
                                                                      distance_field):
        raise ValueError("split_field %r is an output of this step; choose another "
                         "link_field/distance_field" % split_field)
    step = runs.Step(samples, LEAKS_STEP, fields=dict(link=link_field, distance=distance_field),
                     tags=[tag], overwrite=overwrite,
                     score=dict(field=distance_field, descending=False))
    ids, splits = read_splits(samples, split_field=split_field, split_tags=split_tags,
                              train_split=train_split)
    is_train = splits == train_split
    embedded = None
    if embeddings_field is not None:
        try:
            embedded = inputs.load_vectors(samples, embeddings_field)
        except ValueError as e:
            raise ValueError("%s; or pass embeddings_field=None to find exact copies only"
                             % e)
    stored = _stored_hashes(samples, hash_field, hash_field + "_error")
    filepaths = samples.values("filepath")
    hashes = (stored or content_hashes(filepaths, num_workers=num_workers,
                                       progress=progress)).hashes
    num_unhashed = sum(h is None for h in hashes)
    F = (file_fingerprints(filepaths, num_workers=num_workers, progress=progress)[0]
         if fingerprints else None)

    # Stored hashes are not re-read: then the near-copy search is what reports progress.
    leak_of, distance, num_exact, num_fingerprint = _match_leaks(
        ids, is_train, hashes, embedded, max_distance, F, max_fingerprint_distance,
        progress=progress if stored and not fingerprints else None)

    dataset = samples._root_dataset
    with step.writing():
        dataset.untag_samples(tag)
        schema = dataset.get_field_schema()
        for f in (link_field, distance_field):  # a re-run replaces the whole result
            if f in schema:
                dataset.clear_sample_field(f)
        inputs.declare_field(samples, link_field, fof.StringField)
        inputs.declare_field(samples, distance_field, fof.FloatField)
        samples.set_values(link_field, {i: leak_of.get(i) for i in ids}, key_field="id")
        samples.set_values(distance_field, {i: distance.get(i) for i in ids}, key_field="id")
        if leak_of:
            dataset.select(list(leak_of)).tag_samples(tag)

    split_of = dict(zip(ids, splits))
    leaks_per_split = dict(collections.Counter(split_of[i] for i in leak_of))
    params = dict(split_field=split_field, split_tags=list(split_tags or []) or None,
                  train_split=train_split, embeddings_field=embeddings_field,
                  max_distance=max_distance if embeddings_field is not None else None,
                  fingerprints=bool(fingerprints),
                  max_fingerprint_distance=max_fingerprint_distance if fingerprints else None,
                  hash_field=hash_field)
    counts = dict(samples=len(ids), train=int(is_train.sum()), leaks=len(leak_of),
                  exact=num_exact, near=len(leak_of) - num_exact,
                  by_fingerprint=num_fingerprint,
                  skipped=embedded.num_skipped if embedded else 0, unhashed=num_unhashed,
                  reused_hashes=stored is not None)
    key = step.record(params, counts)
    return LeaksResults(
        num_samples=len(ids), num_train=int(is_train.sum()), num_leaks=len(leak_of),
        num_exact=num_exact, num_near=len(leak_of) - num_exact,
        num_fingerprint=num_fingerprint, leak_ids=list(leak_of),
        leak_of=leak_of, leaks_per_split=leaks_per_split,
        splits=dict(collections.Counter(splits.tolist())),
        max_distance=params["max_distance"],
        num_skipped=embedded.num_skipped if embedded else 0,
        num_unhashed=num_unhashed, reused_hashes=stored is not None,
        tag=tag, link_field=link_field, distance_field=distance_field, run_key=key,
        params=params, seconds=step.seconds,
    )


def _match_leaks(ids, is_train, hashes, embedded, max_distance, F=None,
                 max_fingerprint_distance=DEFAULT_FINGERPRINT_DISTANCE, progress=None):
    """``({leak id: training id}, {leak id: cosine distance}, number of exact
    copies, number matched by fingerprint)``: exact copies first (distance 0.0),
    then fingerprint matches (``F``: N fingerprints or None), then near copies by
    embeddings among the rest (see :func:`find_leaks`)."""
    first_train = {}
    for i in np.flatnonzero(is_train):
        if hashes[i] is not None:
            first_train.setdefault(hashes[i], ids[i])
    leak_of, distance = {}, {}
    for i in np.flatnonzero(~is_train):
        if hashes[i] in first_train:
            leak_of[ids[i]] = first_train[hashes[i]]
            distance[ids[i]] = 0.0
    num_exact = len(leak_of)
    train_ids = set(np.asarray(ids, dtype=object)[is_train].tolist())
    if F is not None:
        with_f = [r for r in range(len(ids)) if F[r] is not None]
        _match_nearest([F[r] for r in with_f], [ids[r] for r in with_f], train_ids,
                       max_fingerprint_distance, leak_of, distance)
    num_fingerprint = len(leak_of) - num_exact
    if embedded is not None:
        _match_nearest(embedded.X, embedded.ids, train_ids, max_distance, leak_of,
                       distance, progress=progress)
    return leak_of, distance, num_exact, num_fingerprint


def _match_nearest(X, row_ids, train_ids, max_distance, leak_of, distance,
                   progress=None):
    """Links each row outside training not yet a leak to its nearest training row
    (cosine) when within ``max_distance``; updates ``leak_of`` and ``distance``."""
    rows_train = [r for r, i in enumerate(row_ids) if i in train_ids]
    rows_query = [r for r, i in enumerate(row_ids) if i not in train_ids and i not in leak_of]
    if not rows_train or not rows_query:
        return
    X = X if isinstance(X, np.ndarray) else np.stack(X)
    nearest, dist = nearest_cosine(X[rows_query], X[rows_train], progress=progress)
    for r, j, d in zip(rows_query, nearest, dist):
        if d <= max_distance:
            leak_of[row_ids[r]] = row_ids[rows_train[j]]
            distance[row_ids[r]] = float(d)
