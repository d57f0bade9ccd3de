"""Pretrained tags: the top-k ImageNet classes of every image, with confidences."""

import collections

import numpy as np

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol

from . import images, inputs, models, runs

STEP = "pretrained_tags"


class TagsResults(images.ImageResults):
    """What :func:`tag_with_pretrained` did.

    Attributes:
        tags_field, error_field: fields written
        k, model: how
        num_samples, num_tagged: samples in the view / that got tags
        num_failed: samples whose image could not be read
        failures: a dict ``{reason: count}``
        top_tags: the most frequent top-1 tags, ``[(name, count), ...]``
        run_key, seconds
    """

    ATTRIBUTES = ("tags_field", "error_field", "k", "model", "num_samples", "num_tagged",
                  "failures", "top_tags", "run_key", "seconds")

    def summary(self):
        lines = ["Pretrained tags %r: %d/%d samples, top-%d classes of %s in %.1f s"
                 % (self.tags_field, self.num_tagged, self.num_samples, self.k, self.model,
                    self.seconds)]
        if self.top_tags:
            lines.append("Most frequent top-1 tags: " + ", ".join(
                "%s (%d)" % (name, count) for name, count in self.top_tags[:10]))
        return "\n".join(lines)


def top_k(logits, *, k=5):
    """The ``k`` most probable classes of each row of logits.

    Args:
        logits: an ``(N, K)`` array
        k (5): classes per row

    Returns:
        a tuple ``(indices, probs)`` of ``(N, k)`` arrays, most probable first
        (softmax probabilities over all ``K`` classes)
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or not 1 <= k <= z.shape[1]:
        raise ValueError("logits must be (N, K) with 1 <= k <= K; got %s and k=%r"
                         % (z.shape, k))
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    idx = np.argsort(-p, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(p, idx, axis=1)


def tag_with_pretrained(
    samples,
    *,
    model=models.DEFAULT_MODEL,
    k=5,
    tags_field="pretrained_tags",
    batch_size=32,
    num_workers=None,
    device=None,
    skip_failures=True,
    progress=None,
    weights_path=None,
    overwrite=False,
):
    """Tags every image with the top-``k`` classes of a pretrained classifier.

    Uses the model's usual preprocessing (resize, center crop) and one forward
    pass per batch, with the tolerant parallel decoding of
    :func:`winnow.compute_embeddings`. Writes ``fo.Classifications`` with
    human-readable class names and softmax confidences; unreadable images get
    none and their reason in ``<tags_field>_error``. A re-run replaces the field.

    Args:
        samples: a dataset or view
        model ("efficientnet-lite0"): a model with class names (ImageNet for
            the named models)
        k (5): classes per image
        tags_field ("pretrained_tags"): the ``fo.Classifications`` field
        batch_size, num_workers, device, skip_failures, progress, weights_path,
        overwrite: as in :func:`winnow.compute_embeddings`

    Returns:
        a :class:`TagsResults`
    """
    images.check_image_step(samples, batch_size=batch_size, num_workers=num_workers)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError("k must be a positive integer; got %r" % (k,))
    error_field = tags_field + "_error"
    step = runs.Step(samples, STEP, fields=dict(tags=tags_field, error=error_field),
                     overwrite=overwrite)
    ids, filepaths = samples.values(["id", "filepath"])

    loaded = models.load_model(model, weights_path=weights_path, device=device)
    if not loaded.classes:
        raise ValueError("Model %s has no class names to tag with" % loaded.name)
    if k > len(loaded.classes):
        raise ValueError("k=%d exceeds the model's %d classes" % (k, len(loaded.classes)))

    # The whole network runs: its (B, K) output is the logits.
    logits, errors = images.run_model(filepaths, loaded, batch_size=batch_size,
                                      num_workers=num_workers, skip_failures=skip_failures,
                                      progress=progress)
    values = {}
    top1 = collections.Counter()
    if logits is not None:
        idx, probs = top_k(logits, k=k)
    for i, sid in enumerate(ids):
        if i in errors or logits is None:
            values[sid] = None
            continue
        values[sid] = fol.Classifications(classifications=[
            fol.Classification(label=loaded.classes[c], confidence=float(p))
            for c, p in zip(idx[i], probs[i])])
        top1[loaded.classes[idx[i, 0]]] += 1

    with step.writing():
        inputs.declare_field(samples, tags_field, fof.EmbeddedDocumentField,
                             embedded_doc_type=fol.Classifications)
        inputs.declare_field(samples, error_field, fof.StringField)
        samples.set_values(tags_field, values, key_field="id")
        samples.set_values(error_field, {sid: errors.get(i) for i, sid in enumerate(ids)},
                           key_field="id")

    num_tagged = len(ids) - len(errors)
    params = dict(model=loaded.name, weights=loaded.weights, k=k, tags_field=tags_field,
                  batch_size=batch_size)
    counts = dict(samples=len(ids), tagged=num_tagged, failed=len(errors))
    key = step.record(params, counts)
    return TagsResults(tags_field=tags_field, error_field=error_field, k=k, model=loaded.name,
                       num_samples=len(ids), num_tagged=num_tagged,
                       failures=dict(collections.Counter(errors.values())),
                       top_tags=top1.most_common(), run_key=key,
                       seconds=step.seconds)
