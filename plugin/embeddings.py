"""Embeddings: one vector per image from any layer of any model, written in bulk."""

import collections
import time

import numpy as np
import torch

import fiftyone.core.collections as foc
import fiftyone.core.fields as fof
import fiftyone.core.utils as fou

from . import images, models, runs

STEP = "embeddings"


class EmbeddingsResults:
    """What :func:`compute_embeddings` did.

    Attributes:
        embeddings_field: the field holding the vectors
        error_field: the field holding the reason per failed sample
        dim: the embedding dimension
        num_samples: samples in the view
        num_embedded: samples that got a vector
        failures: a dict ``{reason: count}``
        run_key: the key of the run recorded on the dataset
        model, layer: what produced the vectors
        brain_keys: FiftyOne Brain runs built on the field (similarity, visualization)
        seconds: wall time
    """

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    @property
    def num_failed(self):
        return self.num_samples - self.num_embedded

    def __repr__(self):
        lines = [
            "Embeddings %r: %d/%d samples embedded (%d-d, model %s, layer %s) in %.1f s"
            % (self.embeddings_field, self.num_embedded, self.num_samples, self.dim or 0,
               self.model, self.layer, self.seconds)
        ]
        if self.failures:
            lines.append("%d failed (reasons in field %r):" % (self.num_failed, self.error_field))
            for reason, count in sorted(self.failures.items(), key=lambda kv: -kv[1])[:10]:
                lines.append("  %5d  %s" % (count, reason))
        for kind, key in self.brain_keys.items():
            lines.append("Brain %s run: %r" % (kind, key))
        return "\n".join(lines)


def compute_embeddings(
    samples,
    model=models.DEFAULT_MODEL,
    layer=None,
    embeddings_field="embedding",
    batch_size=32,
    num_workers=None,
    device=None,
    skip_failures=True,
    progress=None,
    weights_path=None,
    transforms=None,
    similarity_index=False,
    visualization=None,
    overwrite=False,
):
    """Computes an embedding for every image of a dataset or view.

    Images are decoded in parallel (DataLoader workers), run in batches under
    ``torch.inference_mode`` in channels-last layout, and the vectors are
    written in one bulk write at the end, so a cancelled run writes nothing.
    A sample whose image can't be read gets no embedding and its reason in
    ``<embeddings_field>_error``.

    Args:
        samples: a :class:`fiftyone.core.collections.SampleCollection`
        model ("efficientnet-lite0"): a model name, a ``torch.nn.Module`` or a
            :class:`winnow.plugin.models.LoadedModel`
        layer (None): the submodule whose (pooled) output is the embedding;
            None means the pooled features before the classifier. See
            :func:`winnow.list_layers`
        embeddings_field ("embedding"): the sample field to write
        batch_size (32): images per forward pass
        num_workers (None): decoding processes (None: one per spare core; 0:
            decode in this process)
        device (None): torch device; CUDA when available
        skip_failures (True): whether unreadable images are recorded and
            skipped; if False the first failure raises before anything is written
        progress (None): True/False to show/hide a progress bar, or a callback
            taking a ``fiftyone.core.utils.ProgressBar`` (see
            ``fiftyone.report_progress``); None uses FiftyOne's default
        weights_path (None): a local weights file for a named model
        transforms (None): a callable from a PIL image to the input tensor
        similarity_index (False): also build a FiftyOne Brain similarity index
            on the field (App "sort by similarity", kNN neighbourhoods), under
            the brain key ``<embeddings_field>_sim``
        visualization (None): also compute a 2-D FiftyOne Brain visualization
            (``"pca"``, ``"tsne"`` or ``"umap"``) for the App's Embeddings panel,
            under the brain key ``<embeddings_field>_viz``
        overwrite (False): whether an existing field not written by this step
            may be overwritten

    Returns:
        an :class:`EmbeddingsResults`
    """
    started = time.time()
    _validate(samples, batch_size, num_workers, visualization)
    error_field = embeddings_field + "_error"
    key = runs.run_key(STEP, embeddings_field)
    runs.check_writable(samples, [embeddings_field, error_field], STEP, overwrite=overwrite)

    ids, filepaths = samples.values(["id", "filepath"])
    if not ids:
        raise ValueError("The view is empty: there are no samples to embed")

    loaded = models.load_model(model, weights_path=weights_path, transforms=transforms,
                               device=device)
    extractor = models.FeatureExtractor(loaded.module, layer=layer)
    vectors, errors = _embed_files(filepaths, loaded, extractor, batch_size, num_workers,
                                   skip_failures, progress)

    dim = vectors.shape[1] if vectors is not None else None
    values = [None] * len(ids)
    if vectors is not None:
        for i, row in enumerate(vectors):
            if i not in errors:
                values[i] = row
    error_values = [errors.get(i) for i in range(len(ids))]

    # One bulk write per field, after every image was processed; marked so that a
    # process killed mid-write leaves a record the next run cleans up.
    with runs.writing(samples, key, STEP, [embeddings_field, error_field]):
        _declare_field(samples, embeddings_field, fof.VectorField)
        _declare_field(samples, error_field, fof.StringField)
        samples.set_values(embeddings_field, dict(zip(ids, values)), key_field="id")
        samples.set_values(error_field, dict(zip(ids, error_values)), key_field="id")

    failures = collections.Counter(errors.values())
    num_embedded = len(ids) - len(errors)
    brain_keys = _build_brain_runs(samples, embeddings_field, similarity_index,
                                   visualization, num_embedded)

    params = dict(
        model=loaded.name,
        weights=loaded.weights,
        layer=extractor.layer,
        layer_capture=extractor.capture,
        embeddings_field=embeddings_field,
        batch_size=batch_size,
        similarity_index=bool(similarity_index),
        visualization=visualization,
    )
    counts = dict(samples=len(ids), embedded=num_embedded, failed=len(errors), dim=dim)
    runs.record_run(samples, key, STEP, [embeddings_field, error_field], params, counts,
                    started)

    return EmbeddingsResults(
        embeddings_field=embeddings_field,
        error_field=error_field,
        dim=dim,
        num_samples=len(ids),
        num_embedded=num_embedded,
        failures=dict(failures),
        run_key=key,
        model=loaded.name,
        layer=extractor.layer,
        brain_keys=brain_keys,
        seconds=time.time() - started,
    )


def embed_images(filepaths, model=models.DEFAULT_MODEL, layer=None, batch_size=32,
                 num_workers=None, device=None, progress=False):
    """Array-level embeddings of image files (no dataset involved).

    Args:
        filepaths: a list of N image paths

    Returns:
        a tuple ``(vectors, errors)``: ``vectors`` is an ``(N, D)`` float32 array
        (rows of failed images are NaN) and ``errors`` a dict ``{i: reason}``
    """
    loaded = models.load_model(model, device=device)
    extractor = models.FeatureExtractor(loaded.module, layer=layer)
    vectors, errors = _embed_files(list(filepaths), loaded, extractor, batch_size,
                                   num_workers, True, progress)
    if vectors is not None:
        vectors[list(errors)] = np.nan
    return vectors, errors


def _embed_files(filepaths, loaded, extractor, batch_size, num_workers, skip_failures,
                 progress):
    device = next(loaded.module.parameters()).device
    loaded.module.to(memory_format=torch.channels_last)
    # Known preprocessing runs split: uint8 crops in the workers, one vectorized
    # normalization per batch here. User transforms run whole in the workers.
    split = isinstance(loaded.transforms, models.ImagePreprocess)
    worker_transform = loaded.transforms.to_uint8 if split else loaded.transforms
    vectors = None
    errors = {}
    with fou.ProgressBar(total=len(filepaths), progress=progress) as pb:
        for indices, batch, failures in images.iter_batches(
            filepaths, worker_transform, batch_size=batch_size, num_workers=num_workers,
            draft_size=(512, 512),
        ):
            for i, reason in failures:
                if not skip_failures:
                    raise RuntimeError("Could not read %s: %s" % (filepaths[i], reason))
                errors[i] = reason
            if batch is not None:
                x = batch.to(device, non_blocking=True)
                if split:
                    x = loaded.transforms.normalize_batch(x)
                else:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.inference_mode():
                    feats = extractor(x).float().cpu().numpy()
                if vectors is None:
                    vectors = np.zeros((len(filepaths), feats.shape[1]), dtype=np.float32)
                vectors[indices] = feats
            pb.update(count=len(indices) + len(failures))
    return vectors, errors


def _declare_field(samples, field, ftype):
    # Declared explicitly: an all-None column (no failures) has no inferable type.
    dataset = samples._root_dataset
    if field not in dataset.get_field_schema():
        dataset.add_sample_field(field, ftype)


def _build_brain_runs(samples, field, similarity_index, visualization, num_embedded):
    keys = {}
    if not (similarity_index or visualization) or num_embedded == 0:
        return keys
    import fiftyone.brain as fob

    embedded = samples.exists(field)
    if similarity_index:
        key = field + "_sim"
        fob.compute_similarity(embedded, embeddings=field, brain_key=key, metric="cosine",
                               backend="sklearn")
        keys["similarity"] = key
    if visualization:
        key = field + "_viz"
        fob.compute_visualization(embedded, embeddings=field, method=visualization,
                                  brain_key=key, num_dims=2, seed=51)
        keys["visualization"] = key
    return keys


def _validate(samples, batch_size, num_workers, visualization):
    if not isinstance(samples, foc.SampleCollection):
        raise TypeError("samples must be a FiftyOne dataset or view; got %s"
                        % type(samples).__name__)
    if samples.media_type != "image":
        raise ValueError("Winnow embeds images; this collection's media type is %r"
                         % samples.media_type)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError("batch_size must be a positive integer; got %r" % (batch_size,))
    if num_workers is not None and (not isinstance(num_workers, int) or num_workers < 0):
        raise ValueError("num_workers must be None or an integer >= 0; got %r" % (num_workers,))
    if visualization not in (None, "pca", "tsne", "umap"):
        raise ValueError("visualization must be None, 'pca', 'tsne' or 'umap'; got %r"
                         % (visualization,))


def embed_arrays(images, model=models.DEFAULT_MODEL, layer=None, size=224, batch_size=64,
                 device=None, progress=False):
    """Array-level embeddings of decoded images (no files, no dataset).

    The images are resized to ``size`` px (bilinear, antialiased), replicated to
    3 channels when grayscale, and normalized with ImageNet statistics.

    Args:
        images: an ``(N, H, W)`` or ``(N, H, W, 3)`` uint8 array
        size (224): the network's input size

    Returns:
        an ``(N, D)`` float32 array
    """
    import torch.nn.functional as F

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError("images must be an (N, H, W) or (N, H, W, 3) uint8 array; got %s %s"
                         % (images.dtype, images.shape))
    loaded = models.load_model(model, device=device)
    extractor = models.FeatureExtractor(loaded.module, layer=layer)
    dev = next(loaded.module.parameters()).device
    loaded.module.to(memory_format=torch.channels_last)
    mean = torch.tensor(models.IMAGENET_MEAN, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(models.IMAGENET_STD, device=dev).view(1, 3, 1, 1)
    out = None
    with fou.ProgressBar(total=len(images), progress=progress) as pb:
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(np.array(images[start:start + batch_size])).to(dev)
            x = x.unsqueeze(1).expand(-1, 3, -1, -1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
            x = x.float().div_(255)
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False)
            x = ((x - mean) / std).contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                feats = extractor(x).float().cpu().numpy()
            if out is None:
                out = np.empty((len(images), feats.shape[1]), dtype=np.float32)
            out[start:start + len(feats)] = feats
            pb.update(count=len(feats))
    return out
