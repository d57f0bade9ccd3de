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
        patches_field: the objects field of object embeddings, else None; then
            ``embeddings_field``/``error_field`` are the objects' attribute paths,
            ``num_embedded``/``num_failed``/``failures`` count objects (box
            reasons by kind), ``num_objects`` the objects in the view and
            ``num_images_failed`` the unreadable images
    """

    ATTRIBUTES = ("embeddings_field", "error_field", "dim", "num_samples", "num_embedded",
                  "failures", "run_key", "model", "layer", "brain_keys", "image_issues",
                  "seconds")
    # Object embeddings (patches_field=...): the objects field, the objects in the
    # view (num_embedded and failures then count objects) and the unreadable images.
    patches_field = None
    num_objects = None
    num_images_failed = 0

    def summary(self):
        if self.patches_field is not None:
            return ("Object embeddings %r: %d/%d objects of %d samples embedded (%d-d, model "
                    "%s, layer %s) in %.1f s"
                    % (self.embeddings_field, self.num_embedded, self.num_objects,
                       self.num_samples, self.dim or 0, self.model, self.layer, self.seconds))
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
    patches_field=None,
    crop_margin=0.1,
    min_box_size=images.MIN_BOX_SIZE,
    token_pooling=None,
):
    """Computes an embedding for every image of a dataset or view, or for every
    object of its ``patches_field``.

    Images are decoded in parallel (DataLoader workers), run in batches under
    ``torch.inference_mode`` in channels-last layout, and the vectors are
    written in one bulk write at the end, so a cancelled run writes nothing.
    A sample whose image can't be read gets no embedding and its reason in
    ``<embeddings_field>_error``.

    Args:
        samples: a :class:`fiftyone.core.collections.SampleCollection`
        model ("efficientnet-lite0"): a model name (a torchvision name,
            ``"timm:<name>"``, ``"clip:<arch>/<pretrained>"``: Winnow's fast path
            runs them), a ``"zoo:<name>"`` or a FiftyOne ``Model`` with
            embeddings (run by FiftyOne's own ``compute_embeddings`` /
            ``compute_patch_embeddings``, then written and recorded like any
            run here; ``layer``, ``transforms``, ``weights_path``,
            ``token_pooling``, ``min_box_size`` and ``image_issues`` do not
            apply), a ``torch.nn.Module`` or a
            :class:`winnow.plugin.models.LoadedModel` (see
            :func:`winnow.load_model`, e.g. ``pretrained=False``)
        layer (None): the submodule whose (pooled) output is the embedding;
            None means the pooled features before the classifier (an image
            encoder's output for ``"clip:"``). See :func:`winnow.list_layers`
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
            thresholds by ``find_image_issues`` (no decoding); whole images only
        patches_field (None): a ``Detections`` (or ``Polylines``: their bounding
            boxes) field: embed each of its objects instead of the images. Every
            box is cropped from the one decode of its image, grown by
            ``crop_margin``, squashed to the model's input and run in batches of
            crops; the vectors are written as the attribute ``embeddings_field``
            of each object (e.g. ``ground_truth.detections.embedding``, as
            FiftyOne's ``compute_patch_embeddings`` stores them) and an object
            that can't be embedded (no/zero-area box, box outside the image, box
            smaller than ``min_box_size``, unreadable image) gets its reason in
            the attribute ``<embeddings_field>_error``. The Brain runs are built
            on the objects (``patches_field=``)
        crop_margin (0.1): with ``patches_field``, the context added around each
            box on every side, as a fraction of the box's width and height
            (clipped to the image); 0 crops the box exactly
        min_box_size (4): with ``patches_field``, the smallest box side, in
            pixels of the image (the box clipped to it, before the margin), that
            is embedded
        token_pooling (None): when ``layer`` gives transformer tokens ``(B, N,
            D)`` (a ViT block): ``"cls"`` (the class token) or ``"mean"`` (the
            mean of the patch tokens, class/register tokens left out); None
            means ``"cls"`` for models with a class token, else ``"mean"``.
            The run records what was used

    Returns:
        an :class:`EmbeddingsResults`
    """
    images.check_image_step(samples, batch_size=batch_size, num_workers=num_workers)
    inputs.check_choice(visualization, (None,) + embedding_map.METHODS, "visualization")
    inputs.check_choice(token_pooling, (None,) + models.TOKEN_POOLING, "token_pooling")
    models.check_model(model)
    if _is_fiftyone(model):
        _check_fiftyone_options(layer=layer, weights_path=weights_path, transforms=transforms,
                                token_pooling=token_pooling, image_issues=image_issues)
    if patches_field is not None:
        if image_issues:
            raise ValueError("image_issues=True scores whole images and cannot run with "
                             "patches_field; run find_image_issues (or compute_embeddings "
                             "without patches_field) for image issues")
        return _compute_object_embeddings(
            samples, inputs.patches_field(samples, patches_field), model=model, layer=layer,
            embeddings_field=embeddings_field, batch_size=batch_size,
            num_workers=num_workers, device=device, skip_failures=skip_failures,
            progress=progress, weights_path=weights_path, transforms=transforms,
            similarity_index=similarity_index, visualization=visualization,
            overwrite=overwrite, crop_margin=crop_margin, min_box_size=min_box_size,
            token_pooling=token_pooling)
    error_field = embeddings_field + "_error"
    step = runs.Step(samples, STEP, fields=dict(embeddings=embeddings_field, error=error_field),
                     overwrite=overwrite)
    # Checked before anything is decoded, like the embeddings' own outputs.
    issues = (_image_issues.ImageIssuesStep(samples, overwrite=overwrite) if image_issues
              else None)
    ids, filepaths = samples.values(["id", "filepath"])

    fo_model = models.fiftyone_embedding_model(model)
    if fo_model is not None:
        outputs = _fiftyone_embeddings(samples, fo_model, filepaths, batch_size=batch_size,
                                       num_workers=num_workers, skip_failures=skip_failures,
                                       progress=progress)
        source = _fiftyone_source(fo_model)
    else:
        loaded = models.load_model(model, weights_path=weights_path, transforms=transforms,
                                   device=device)
        extractor = models.FeatureExtractor(loaded.module, layer=layer,
                                            token_pooling=token_pooling)
        outputs = images.run_model(filepaths, loaded, forward=extractor,
                                   batch_size=batch_size, num_workers=num_workers,
                                   skip_failures=skip_failures, progress=progress,
                                   extras=_image_issues.image_scores if issues else None)
        source = _source(loaded, extractor)
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
    params = dict(source, embeddings_field=embeddings_field, batch_size=batch_size,
                  similarity_index=bool(similarity_index), visualization=visualization)
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
        model=source["model"],
        layer=source["layer"],
        brain_keys=brain_keys,
        image_issues=issues_results,
        seconds=step.seconds,
    )


def _source(loaded, extractor):
    """The run record's parameters saying what produced the vectors (Winnow's path)."""
    return dict(model=loaded.name, weights=loaded.weights, layer=extractor.layer,
                layer_capture=extractor.capture, path="winnow",
                token_pooling=extractor.token_pooling if extractor.saw_tokens else None)


def _is_fiftyone(model):
    return models.is_fiftyone_model(model) or (
        isinstance(model, str) and model.startswith("zoo:"))


def _check_fiftyone_options(*, layer, weights_path, transforms, token_pooling,
                            image_issues=False):
    # A FiftyOne Model brings its own layer, weights and preprocessing.
    given = [name for name, value in (("layer", layer), ("weights_path", weights_path),
                                      ("transforms", transforms),
                                      ("token_pooling", token_pooling),
                                      ("image_issues", image_issues)) if value]
    if given:
        raise ValueError("%s do(es) not apply to a FiftyOne model: it brings its own "
                         "embeddings layer, weights and preprocessing and runs through "
                         "FiftyOne's compute_embeddings (image issues: run "
                         "find_image_issues)" % ", ".join(given))


def _fiftyone_source(fo_model):
    config = getattr(fo_model, "config", None)
    name = getattr(config, "model_name", None) or type(fo_model).__name__
    layer = getattr(config, "embeddings_layer", None)
    return dict(model=name, weights="FiftyOne model", layer=layer, layer_capture=None,
                path="fiftyone", token_pooling=None)


def _fiftyone_reason(filepath):
    """Why FiftyOne returned no vector: the image's own error when it can't be read,
    else FiftyOne's batch-level skipping."""
    try:
        images.read_image(filepath)
    except Exception as e:
        return images.describe_error(e)
    return ("no embedding from the FiftyOne model (FiftyOne skips a whole batch when one "
            "of its images fails; see its log)")


def _fiftyone_embeddings(samples, fo_model, filepaths, *, batch_size, num_workers,
                         skip_failures, progress):
    """FiftyOne's own ``compute_embeddings`` in memory (Winnow writes the vectors
    in its one bulk write): ``(vectors (N, D) or None, {i: reason})``."""
    def run(view, progress):
        out = view.compute_embeddings(fo_model, batch_size=batch_size, num_workers=num_workers,
                                      skip_failures=skip_failures, progress=progress)
        return list(out) if out is not None else []

    rows = run(samples, progress)
    errors = {i: _fiftyone_reason(filepaths[i]) for i, row in enumerate(rows) if row is None}
    # FiftyOne drops a whole batch for one unreadable image: the readable rest runs again.
    again = sorted(i for i, reason in errors.items() if reason.startswith("no embedding"))
    if again:
        ids = samples.values("id")
        for i, row in zip(again, run(samples.select([ids[i] for i in again], ordered=True),
                                     False)):
            if row is not None:
                rows[i] = row
                del errors[i]
    done = [np.asarray(r, dtype=np.float32).ravel() for r in rows if r is not None]
    if not done:
        return None, errors
    vectors = np.zeros((len(rows), len(done[0])), dtype=np.float32)
    for i, row in enumerate(rows):
        if row is not None:
            vectors[i] = np.asarray(row, dtype=np.float32).ravel()
    return vectors, errors


def check_crop_options(embeddings_field, crop_margin, min_box_size):
    """Refuses bad object-embedding options (``patches_field=``); returns the margin
    and the pixel floor as floats."""
    if not isinstance(embeddings_field, str) or not embeddings_field.isidentifier():
        raise ValueError("With patches_field, embeddings_field is the name of an attribute of "
                         "each object (letters, digits and _; no '.'); got %r"
                         % (embeddings_field,))
    try:
        margin = float(crop_margin)
    except (TypeError, ValueError):
        margin = float("nan")
    if isinstance(crop_margin, bool) or not 0.0 <= margin <= 1.0:
        raise ValueError("crop_margin must be a number in [0, 1] (a fraction of the box size "
                         "added on each side); got %r" % (crop_margin,))
    try:
        floor = float(min_box_size)
    except (TypeError, ValueError):
        floor = float("nan")
    if isinstance(min_box_size, bool) or not floor >= 1.0:
        raise ValueError("min_box_size must be a number of pixels >= 1; got %r"
                         % (min_box_size,))
    return margin, floor


def _read_objects(samples, pf):
    """The sample ids, file paths, and per sample the object ids and relative boxes."""
    if pf.kind == "polylines":
        ids, filepaths, object_ids, points = samples.values(
            ["id", "filepath", pf.path("id"), pf.path("points")])
        boxes = [[images.polyline_box(p) for p in (ps or [])] for ps in points]
    else:
        ids, filepaths, object_ids, boxes = samples.values(
            ["id", "filepath", pf.path("id"), pf.path("bounding_box")])
        boxes = [list(b or []) for b in boxes]
    return ids, filepaths, [list(o or []) for o in object_ids], boxes


def _reason_kind(reason):
    # Box reasons read "kind: details" (see images.crop_regions): counted by kind.
    return reason.split(":")[0]


def _compute_object_embeddings(samples, pf, *, model, layer, embeddings_field, batch_size,
                               num_workers, device, skip_failures, progress, weights_path,
                               transforms, similarity_index, visualization, overwrite,
                               crop_margin, min_box_size, token_pooling=None):
    margin, floor = check_crop_options(embeddings_field, crop_margin, min_box_size)
    step = runs.Step(samples, STEP,
                     fields=dict(embeddings=embeddings_field, error=embeddings_field + "_error"),
                     patches_field=pf, overwrite=overwrite)
    vector_path, error_path = step.path("embeddings"), step.path("error")
    ids, filepaths, object_ids, boxes = _read_objects(samples, pf)
    num_objects = sum(len(o) for o in object_ids)

    fo_model = models.fiftyone_embedding_model(model)
    if fo_model is not None:
        vectors, errors, image_errors = _fiftyone_patch_embeddings(
            samples, pf, fo_model, ids, filepaths, object_ids, margin=margin,
            batch_size=batch_size, num_workers=num_workers, skip_failures=skip_failures,
            progress=progress)
        source, floor = _fiftyone_source(fo_model), None  # FiftyOne embeds every box
    else:
        loaded = models.load_model(model, weights_path=weights_path, transforms=transforms,
                                   device=device)
        extractor = models.FeatureExtractor(loaded.module, layer=layer,
                                            token_pooling=token_pooling)
        vectors, errors, image_errors = images.run_model_on_objects(
            filepaths, boxes, loaded, forward=extractor, context=margin, min_box_size=floor,
            batch_size=batch_size, num_workers=num_workers, skip_failures=skip_failures,
            progress=progress)
        source = _source(loaded, extractor)
    dim = vectors.shape[1] if vectors is not None else None

    # Every object of the view gets both attributes, so a re-run replaces the vector
    # or reason of the last run.
    vector_values, error_values = [], []
    m = 0
    for sample_id, labels in zip(ids, object_ids):
        for label_id in labels:
            reason = errors.get(m)
            vector = vectors[m] if reason is None else None
            vector_values.append(dict(sample_id=sample_id, label_id=label_id, value=vector))
            error_values.append(dict(sample_id=sample_id, label_id=label_id, value=reason))
            m += 1

    with step.writing():
        inputs.declare_field(samples, vector_path, fof.VectorField)
        inputs.declare_field(samples, error_path, fof.StringField)
        if vector_values:
            samples.set_label_values(vector_path, vector_values)
            samples.set_label_values(error_path, error_values)

    num_embedded = num_objects - len(errors)
    unreadable = set(image_errors.values())
    failures = collections.Counter(
        reason if reason in unreadable else _reason_kind(reason) for reason in errors.values())
    params = dict(source, embeddings_field=embeddings_field, patches_field=pf.name,
                  crop_margin=margin, min_box_size=floor, batch_size=batch_size,
                  similarity_index=bool(similarity_index), visualization=visualization)
    counts = dict(samples=len(ids), objects=num_objects, embedded=num_embedded,
                  failed=len(errors), images_failed=len(image_errors), dim=dim)
    key = step.record(params, counts)
    brain_keys = _build_brain_runs(samples, embeddings_field, similarity_index, visualization,
                                   num_embedded, patches_field=pf.name)

    return EmbeddingsResults(
        embeddings_field=vector_path,
        error_field=error_path,
        dim=dim,
        num_samples=len(ids),
        num_embedded=num_embedded,
        failures=dict(failures),
        run_key=key,
        model=source["model"],
        layer=source["layer"],
        brain_keys=brain_keys,
        image_issues=None,
        seconds=step.seconds,
        patches_field=pf.name,
        num_objects=num_objects,
        num_images_failed=len(image_errors),
    )


def _fiftyone_patch_embeddings(samples, pf, fo_model, ids, filepaths, object_ids, *, margin,
                               batch_size, num_workers, skip_failures, progress):
    """FiftyOne's own ``compute_patch_embeddings`` in memory, boxes grown by the same
    margin (FiftyOne's ``alpha`` grows width and height by ``2 * margin``):
    ``(vectors (M, D) or None, {m: reason}, {i: reason})`` over the objects in order."""
    out = samples.compute_patch_embeddings(
        fo_model, pf.name, alpha=2 * margin if margin else None, handle_missing="skip",
        batch_size=batch_size, num_workers=num_workers, skip_failures=skip_failures,
        progress=progress)
    num_objects = sum(len(o) for o in object_ids)
    vectors, errors, image_errors = None, {}, {}
    m = 0
    for i, (sid, labels) in enumerate(zip(ids, object_ids)):
        rows = out.get(sid) if labels else None
        if labels and (rows is None or len(rows) != len(labels)):
            reason = _fiftyone_reason(filepaths[i])
            if not reason.startswith("no embedding"):
                image_errors[i] = reason
            errors.update((m + k, reason) for k in range(len(labels)))
        elif labels:
            rows = np.asarray(rows, dtype=np.float32).reshape(len(labels), -1)
            if vectors is None:
                vectors = np.zeros((num_objects, rows.shape[1]), dtype=np.float32)
            vectors[m:m + len(labels)] = rows
        m += len(labels)
    return vectors, errors, image_errors


def embed_images(filepaths, *, model=models.DEFAULT_MODEL, layer=None, batch_size=32,
                 num_workers=None, device=None, progress=False, token_pooling=None):
    """Array-level embeddings of image files (no dataset involved).

    Args:
        filepaths: a list of N image paths

    Returns:
        a tuple ``(vectors, errors)``: ``vectors`` is an ``(N, D)`` float32 array
        (rows of failed images are NaN) and ``errors`` a dict ``{i: reason}``
    """
    loaded = models.load_model(model, device=device)
    extractor = models.FeatureExtractor(loaded.module, layer=layer, token_pooling=token_pooling)
    vectors, errors = images.run_model(list(filepaths), loaded, forward=extractor,
                                       batch_size=batch_size, num_workers=num_workers,
                                       progress=progress)
    if vectors is not None:
        vectors[list(errors)] = np.nan
    return vectors, errors


def _build_brain_runs(samples, field, similarity_index, visualization, num_embedded, *,
                      patches_field=None):
    keys = {}
    if not (similarity_index or visualization) or num_embedded == 0:
        return keys
    import fiftyone.brain as fob
    from fiftyone import ViewField as F

    if patches_field is None:
        embedded, name, on = samples.exists(field), field, {}
    else:
        # Brain reads the attribute of the objects that have one.
        embedded = samples.filter_labels(patches_field, F(field) != None)  # noqa: E711
        name, on = "%s_%s" % (patches_field, field), dict(patches_field=patches_field)
    if similarity_index:
        key = name + "_sim"
        fob.compute_similarity(embedded, embeddings=field, brain_key=key, metric="cosine",
                               backend="sklearn", **on)
        keys["similarity"] = key
    if visualization:
        key = embedding_map.map_key(name)
        fob.compute_visualization(embedded, embeddings=field, method=visualization,
                                  brain_key=key, num_dims=2, seed=51, **on)
        keys["visualization"] = key
    return keys


def embed_arrays(images, *, model=models.DEFAULT_MODEL, layer=None, size=224, batch_size=64,
                 device=None, progress=False, token_pooling=None):
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
    extractor = models.FeatureExtractor(loaded.module, layer=layer, token_pooling=token_pooling)
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
