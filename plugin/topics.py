"""Topics: groups of pretrained tags that occur together, by NMF over the image × tag matrix."""

import numpy as np

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.core.utils as fou

from . import inputs, runs

STEP = "topics"
TOP_WORDS = 10


class TopicsResults(runs.Results):
    """What :func:`extract_topics` did.

    Attributes:
        topic_field, weights_field: fields written
        n_topics: topics fitted (at most the number of tagged images and of
            distinct tags)
        topics: a list of dicts ``{"name", "words": [[tag, weight], ...]}``
        num_tags: distinct tags over the view
        num_samples, num_assigned: samples in the view / that got a topic
        reconstruction_error: NMF's Frobenius reconstruction error
        run_key, seconds
    """

    ATTRIBUTES = ("topic_field", "weights_field", "n_topics", "topics", "num_tags",
                  "num_samples", "num_assigned", "reconstruction_error", "run_key", "seconds")

    def summary(self):
        lines = ["Topics %r: %d topics over %d tags, %d/%d samples assigned in %.1f s"
                 % (self.topic_field, self.n_topics, self.num_tags, self.num_assigned,
                    self.num_samples, self.seconds)]
        for t in self.topics[:30]:
            lines.append("  " + t["name"])
        return "\n".join(lines)


def tag_matrix(tag_lists):
    """The confidence-weighted image × tag matrix.

    Args:
        tag_lists: a list of N lists of ``(tag, confidence)`` (or None)

    Returns:
        a tuple ``(X, vocabulary)``: ``X`` an ``(N, V)`` float32 array whose
        entry is the tag's confidence in that image (0 when absent), and the
        ``V`` tags, sorted
    """
    vocabulary = sorted({t for tags in tag_lists if tags for t, _ in tags})
    column = {t: j for j, t in enumerate(vocabulary)}
    X = np.zeros((len(tag_lists), len(vocabulary)), dtype=np.float32)
    for i, tags in enumerate(tag_lists):
        for t, c in tags or ():
            X[i, column[t]] = max(X[i, column[t]], float(1.0 if c is None else c))
    return X, vocabulary


def fit_topics(X, n_topics, *, random_state=51):
    """Non-negative matrix factorization ``X ≈ W H``.

    Args:
        X: an ``(N, V)`` non-negative array
        n_topics: the number of topics (at most ``min(N, V)``)

    Returns:
        a tuple ``(W, H, error)``: ``W`` the ``(N, n_topics)`` image-topic
        weights, ``H`` the ``(n_topics, V)`` topic-tag weights, and the
        reconstruction error
    """
    from sklearn.decomposition import NMF

    nmf = NMF(n_components=n_topics, init="nndsvda", max_iter=500, random_state=random_state)
    W = nmf.fit_transform(X)
    return W.astype(np.float32), nmf.components_.astype(np.float32), float(nmf.reconstruction_err_)


def topic_names(H, vocabulary, *, n_words=3):
    """Readable names ``"t03: tabby, tiger cat, Egyptian cat"`` from each topic's top tags."""
    width = len(str(max(len(H) - 1, 0)))
    names = []
    for k, row in enumerate(H):
        top = [vocabulary[j] for j in np.argsort(-row)[:n_words] if row[j] > 0]
        names.append("t%0*d: %s" % (width, k, ", ".join(top) or "(empty)"))
    return names


def extract_topics(samples, *, tags_field="pretrained_tags", n_topics=30, topic_field="topic",
                   random_state=51, overwrite=False, progress=None):
    """Groups images into topics of co-occurring pretrained tags (NMF).

    Builds the image × tag matrix of ``tags_field`` (confidence-weighted),
    factorizes it, and writes each sample's dominant topic as an
    ``fo.Classification`` in ``topic_field`` (label: the topic's top tags;
    confidence: its share of the sample's topic weights) and the normalized
    topic weights in ``<topic_field>_weights``. The run record keeps every
    topic's top words (:func:`get_topics`). Samples without tags get None.

    Args:
        samples: a dataset or view
        tags_field ("pretrained_tags"): an ``fo.Classifications`` field, e.g.
            from :func:`winnow.tag_with_pretrained`
        n_topics (30): topics to fit; capped at the number of tagged images and
            of distinct tags
        topic_field ("topic"): the ``fo.Classification`` field to write; the
            normalized weights (one per fitted topic) go to ``<topic_field>_weights``
        random_state (51): NMF's seed
        overwrite (False): whether existing fields not written by this step may
            be overwritten
        progress (None): True/False or a ``fiftyone.report_progress`` callback

    Returns:
        a :class:`TopicsResults`
    """
    inputs.check_collection(samples)
    if not isinstance(n_topics, int) or isinstance(n_topics, bool) or n_topics < 1:
        raise ValueError("n_topics must be a positive integer; got %r" % (n_topics,))
    try:
        tags = inputs.label_field(samples, tags_field, param="tags_field",
                                  kinds=inputs.LABEL_FIELD_KINDS)
    except ValueError:
        raise ValueError("tags_field %r must be a Classifications field (run "
                         "winnow.tag_with_pretrained first)" % tags_field) from None
    weights_field = topic_field + "_weights"
    step = runs.Step(samples, STEP, fields=dict(topic=topic_field, weights=weights_field),
                     overwrite=overwrite)

    ids = samples.values("id")
    if not ids:
        raise ValueError("The view is empty: there are no samples to group")
    tag_lists = _read_tags(samples, tags)
    X, vocabulary = tag_matrix(tag_lists)
    tagged = np.flatnonzero(X.sum(axis=1) > 0)
    if len(tagged) == 0:
        raise ValueError("No sample of the view has tags in %r" % tags_field)
    n_fit = min(n_topics, len(tagged), len(vocabulary))
    with fou.ProgressBar(total=1, progress=progress) as pb:
        W, H, error = fit_topics(X[tagged], n_fit, random_state=random_state)
        pb.update()
    names = topic_names(H, vocabulary)

    topics, weights = {}, {}
    for sid in ids:
        topics[sid] = weights[sid] = None
    for row, i in zip(W, tagged):
        total = float(row.sum())
        if total <= 0:
            continue
        share = row / total
        k = int(np.argmax(row))
        topics[ids[i]] = fol.Classification(label=names[k], confidence=float(share[k]))
        weights[ids[i]] = share.astype(np.float32)

    with step.writing():
        inputs.declare_field(samples, topic_field, fof.EmbeddedDocumentField,
                             embedded_doc_type=fol.Classification)
        inputs.declare_field(samples, weights_field, fof.VectorField)
        samples.set_values(topic_field, topics, key_field="id")
        samples.set_values(weights_field, weights, key_field="id")

    topic_words = [
        dict(name=names[k], words=[[vocabulary[j], round(float(H[k, j]), 4)]
                                   for j in np.argsort(-H[k])[:TOP_WORDS]
                                   if round(float(H[k, j]), 4) > 0])
        for k in range(n_fit)]
    num_assigned = sum(v is not None for v in topics.values())
    params = dict(tags_field=tags_field, n_topics=n_topics, n_topics_fitted=n_fit,
                  topic_field=topic_field, random_state=random_state)
    counts = dict(samples=len(ids), tagged=int(len(tagged)), assigned=num_assigned,
                  tags=len(vocabulary), reconstruction_error=round(error, 6))
    key = step.record(params, counts, topics=topic_words)  # keeps each topic's top words
    return TopicsResults(topic_field=topic_field, weights_field=weights_field, n_topics=n_fit,
                         topics=topic_words, num_tags=len(vocabulary), num_samples=len(ids),
                         num_assigned=num_assigned, reconstruction_error=error, run_key=key,
                         seconds=step.seconds)


def get_topics(samples, *, topic_field="topic"):
    """The topics (name and top words) recorded by :func:`extract_topics` for ``topic_field``."""
    key = runs.run_key(STEP, topic_field)
    runs.get_run(samples, key)  # a clear KeyError when there is no such run
    return list(samples._root_dataset.get_run_info(key).config.topics)


def _read_tags(samples, tags):
    # (tag, confidence) pairs per sample from a resolved Classification(s) field.
    confidence = tags.path.rsplit(".", 1)[0] + ".confidence"
    labels, confs = samples.values([tags.path, confidence])
    if tags.multi_label:
        return [None if ls is None else list(zip(ls, cs or [None] * len(ls)))
                for ls, cs in zip(labels, confs)]
    return [None if l is None else [(l, c)] for l, c in zip(labels, confs)]
