"""Embeddings: one vector per image from any layer of any model, written in bulk."""

import collections

import numpy as np
import torch

import fiftyone.core.fields as fof
import fiftyone.core.utils as fou

from . import embedding_map, image_issues as _image_issues, images, inputs, models, runs

STEP = "embeddings"


class EmbeddingsResults(images.ImageResults):
    """What :func:`compute_embeddings` did.

    Attributes:
        embeddings_field: the field holding the vectors
        error_field: the field holding the reason per failed sample
        dim: the embedding dimension
        num_samples: samples in the view
        num_embedded: samples that got a vector
        num_failed: samples whose image could not be read
        failures: a dict ``{reason: count}``
        run_key: the key of the run recorded on the dataset
        model, layer: what produced the vectors
        brain_keys: FiftyOne Brain runs built on the field (similarity, visualization)
        image_issues: the :class:`winnow.plugin.image_issues.ImageIssuesResults` of
            the fused pass (``image_issues=True``), else None
        seconds: wall time
    """

    ATTRIBUTES = ("embeddings_field", "error_field", "dim", "num_samples", "num_embedded",
                  "failures", "run_key", "model", "layer", "brain_keys", "image_issues",
                  "seconds")

    def summary(self):
        return ("Embeddings %r: %d/%d samples embedded (%d-d, model %s, layer %s) in %.1f s"
                % (self.embeddings_field, self.num_embedded, self.num_samples, self.dim or 0,
                   self.model, self.layer, self.seconds))

    def __repr__(self):
        return "\n".join([super().__repr__()] + [
            "Brain %s run: %r" % (kind, key) for kind, key in self.brain_keys.items()]
            + ([self.image_issues.summary()] if self.image_issues else []))


def compute_embeddings(
    samples,
    *,
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
    image_issues=False,
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
        embeddings_field ("embedding"): the sample field to write: one ``(D,)``
            vector per sample
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
        image_issues (False): also score every image for pixel-level issues in
            the same decoding pass (one decode per image) and write the scores,
            tags and views exactly as :func:`winnow.find_image_issues` with its
            defaults does, recorded as that step's run; re-tag with other
            thresholds by ``find_image_issues`` (no decoding)

    Returns:
        an :class:`EmbeddingsResults`
    """
    images.check_image_step(samples, batch_size=batch_size, num_workers=num_workers)
    inputs.check_choice(visualization, (None,) + embedding_map.METHODS, "visualization")
    error_field = embeddings_field + "_error"
    step = runs.Step(samples, STEP, fields=dict(embeddings=embeddings_field, error=error_field),
                     overwrite=overwrite)
    # Checked before anything is decoded, like the embeddings' own outputs.
    issues = (_image_issues.ImageIssuesStep(samples, overwrite=overwrite) if image_issues
              else None)
    ids, filepaths = samples.values(["id", "filepath"])

    loaded = models.load_model(model, weights_path=weights_path, transforms=transforms,
                               device=device)
    extractor = models.FeatureExtractor(loaded.module, layer=layer)
    outputs = images.run_model(filepaths, loaded, forward=extractor, batch_size=batch_size,
                               num_workers=num_workers, skip_failures=skip_failures,
                               progress=progress,
                               extras=_image_issues.image_scores if issues else None)
    vectors, errors = outputs[:2]

    dim = vectors.shape[1] if vectors is not None else None
    values = [None] * len(ids)
    if vectors is not None:
        for i, row in enumerate(vectors):
            if i not in errors:
                values[i] = row
    error_values = [errors.get(i) for i in range(len(ids))]

    # One bulk write per field, after every image was processed. Both fields are
    # declared: an all-None column (no failures) has no inferable type.
    with step.writing():
        inputs.declare_field(samples, embeddings_field, fof.VectorField)
        inputs.declare_field(samples, error_field, fof.StringField)
        samples.set_values(embeddings_field, dict(zip(ids, values)), key_field="id")
        samples.set_values(error_field, dict(zip(ids, error_values)), key_field="id")

    num_embedded = len(ids) - len(errors)
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
    # Recorded before the Brain runs: one that fails (e.g. umap-learn missing) must
    # not leave the written vectors marked "writing", to be removed as half-written.
    key = step.record(params, counts)
    issues_results = issues.write(ids, outputs[2], errors, num_decoded=len(ids),
                                  params=dict(fused_with=key)) if issues else None
    brain_keys = _build_brain_runs(samples, embeddings_field, similarity_index,
                                   visualization, num_embedded)

    return EmbeddingsResults(
        embeddings_field=embeddings_field,
        error_field=error_field,
        dim=dim,
        num_samples=len(ids),
        num_embedded=num_embedded,
        failures=dict(collections.Counter(errors.values())),
        run_key=key,
        model=loaded.name,
        layer=extractor.layer,
        brain_keys=brain_keys,
        image_issues=issues_results,
        seconds=step.seconds,
    )


def embed_images(filepaths, *, model=models.DEFAULT_MODEL, layer=None, batch_size=32,
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
    vectors, errors = images.run_model(list(filepaths), loaded, forward=extractor,
                                       batch_size=batch_size, num_workers=num_workers,
                                       progress=progress)
    if vectors is not None:
        vectors[list(errors)] = np.nan
    return vectors, errors


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
        key = embedding_map.map_key(field)
        fob.compute_visualization(embedded, embeddings=field, method=visualization,
                                  brain_key=key, num_dims=2, seed=51)
        keys["visualization"] = key
    return keys


def embed_arrays(images, *, model=models.DEFAULT_MODEL, layer=None, size=224, batch_size=64,
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
