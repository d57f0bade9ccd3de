"""Label issues in object detection from a detector's predictions: cleanlab's
object-detection scores (ObjectLab) on a FiftyOne ground-truth ``Detections`` field
and a predictions ``Detections`` field (with confidences).

What cleanlab offers for object detection, inside FiftyOne: per image its label
quality score (``cleanlab.object_detection.rank.get_label_quality_scores``) and,
per box, its three issue scores and flags, the very ones
``cleanlab.object_detection.filter.find_label_issues`` pools into its per-image flags:

- swap (per annotated box): the box's class looks wrong: a confident prediction
  (> 0.95) of another class sits on it;
- badloc (per annotated box): the box looks badly located: predictions of its
  class (> 0.5) overlap it but none matches it well;
- overlooked (per PREDICTED box): a confident prediction (> 0.95) that no
  annotated box overlaps: an object the annotators missed.

A box is flagged when its score is <= its class's threshold (cleanlab's: the
class's average precision over IoU 0.5-0.95 x 0.25 x 0.8, so a class the
detector finds poorly is flagged less).

Array level (no FiftyOne): :func:`box_issues` on cleanlab's own formats.
Dataset level: :func:`find_detection_issues`, reached as
``winnow.find_label_issues(samples, patches_field=..., pred_field=...)`` (the
one public entry for label issues; with ``pred_field`` the evidence is the
detector's predictions instead of the objects' embeddings).
"""

import logging

import numpy as np

import fiftyone.core.fields as fof

from . import inputs, runs

logger = logging.getLogger(__name__)

STEP = "detection_issues"
ISSUE_TYPES = ("swap", "badloc")
# Object attributes written besides the quality (fixed names, checked like any output).
SWAP_ATTR, BADLOC_ATTR, TYPE_ATTR = "swap_score", "badloc_score", "issue_type"
OVERLOOKED_ATTR = "overlooked_score"


# --------------------------------------------------------------------------- arrays


def box_issues(labels, predictions, *, overlapping_label_check=True):
    """cleanlab's object-detection label issues, per image and per box.

    Suppose ``N`` images and ``K`` classes; image ``i`` has ``L_i`` annotated and
    ``M_i`` predicted boxes. The per-box scores and flags are computed exactly as
    ``cleanlab.object_detection.filter.find_label_issues`` computes them before it
    pools them per image (its internals, called as they are), so ``image_issue``
    equals its output.

    Args:
        labels: a list of ``N`` dicts ``{"bboxes": (L_i, 4) [x1, y1, x2, y2] in
            pixels, "labels": (L_i,) int class ids in [0, K)}``
        predictions: a list of ``N`` lists of ``K`` arrays: ``predictions[i][k]`` is
            ``(M_ik, 5)`` ``[x1, y1, x2, y2, confidence]`` of image ``i``'s boxes
            predicted as class ``k``
        overlapping_label_check (True): cleanlab's: annotated boxes that nearly
            coincide (IoU >= 0.95) with a box of another class get the lowest swap score

    Returns:
        a dict:

        - ``image_quality``: ``(N,)`` cleanlab's label quality per image in [0, 1]
          (low: likely imperfect annotation)
        - ``image_issue``: ``(N,)`` bool, cleanlab's per-image flags
        - ``swap_score``, ``badloc_score``: lists of ``N`` ``(L_i,)`` float arrays
          (low: likely swapped / badly located)
        - ``swap``, ``badloc``: lists of ``N`` ``(L_i,)`` bool arrays (flags)
        - ``overlooked_score``: a list of ``N`` ``(M_i,)`` float arrays, the
          predicted boxes in cleanlab's order (class 0's, class 1's, ...); NaN for
          predictions that are not candidates (confidence <= 0.95 or overlapping an
          annotated box)
        - ``overlooked``: a list of ``N`` ``(M_i,)`` bool arrays
        - ``thresholds``: ``(K,)`` each class's flagging threshold before the 0.8 factor
    """
    from cleanlab.internal import constants as c
    from cleanlab.internal.object_detection_utils import assert_valid_inputs
    from cleanlab.object_detection import filter as odf
    from cleanlab.object_detection import rank as odr

    if len(labels) != len(predictions) or not len(labels):
        raise ValueError("labels and predictions must be lists of the same length >= 1; got "
                         "%d and %d" % (len(labels), len(predictions)))
    assert_valid_inputs(labels=labels, predictions=predictions, method="objectlab")
    # cleanlab.object_detection.filter._find_label_issues, per box.
    aux = odr._get_valid_inputs_for_compute_scores(c.ALPHA, labels, predictions)
    per_class_ap = odf._get_per_class_ap(labels, predictions)
    lab_thr = odf._process_class_list([odr._separate_label(x)[1] for x in labels],
                                      per_class_ap)
    pred_thr = odf._process_class_list([odr._separate_prediction(p)[1] for p in predictions],
                                       per_class_ap)
    over = odr.compute_overlooked_box_scores(
        alpha=c.ALPHA, high_probability_threshold=c.HIGH_PROBABILITY_THRESHOLD,
        auxiliary_inputs=aux)
    badloc = odr.compute_badloc_box_scores(
        alpha=c.ALPHA, low_probability_threshold=c.LOW_PROBABILITY_THRESHOLD,
        auxiliary_inputs=aux)
    swap = odr.compute_swap_box_scores(
        alpha=c.ALPHA, high_probability_threshold=c.HIGH_PROBABILITY_THRESHOLD,
        overlapping_label_check=overlapping_label_check, auxiliary_inputs=aux)

    def flags(scores, thresholds, factor):
        # cleanlab sets NaN scores to 1.0 in place: flag copies, keep the NaNs reported.
        out = odf._find_label_issues_per_box([np.array(s, dtype=float) for s in scores],
                                            thresholds, factor)
        # An image without boxes gets cleanlab's one-element [False]: cut to its boxes.
        return [np.asarray(f[:len(s)], dtype=bool) for f, s in zip(out, scores)]

    over_f = flags(over, pred_thr, c.OVERLOOKED_THRESHOLD_FACTOR)
    badloc_f = flags(badloc, lab_thr, c.BADLOC_THRESHOLD_FACTOR)
    swap_f = flags(swap, lab_thr, c.SWAP_THRESHOLD_FACTOR)
    image_issue = np.array([bool(a.any() or b.any() or s.any())
                            for a, b, s in zip(over_f, badloc_f, swap_f)], dtype=bool)
    # cleanlab's get_label_quality_scores (rank._get_subtype_label_quality_scores) from
    # the box scores above, instead of computing them all again: each kind's softmin over
    # the image's boxes, then their weighted geometric mean (tested equal).
    weights = odr._get_aggregation_weights(None)
    pooled = {kind: odr.pool_box_scores_per_image(scores, temperature=c.TEMPERATURE)
              for kind, scores in (("overlooked", over), ("badloc", badloc), ("swap", swap))}
    quality = np.exp(sum(weights[kind] * np.log(c.TINY_VALUE + pooled[kind])
                         for kind in ("overlooked", "badloc", "swap")))
    k = len(predictions[0])
    return dict(image_quality=np.asarray(quality, dtype=float), image_issue=image_issue,
                swap_score=[np.asarray(s, dtype=float) for s in swap], swap=swap_f,
                badloc_score=[np.asarray(s, dtype=float) for s in badloc], badloc=badloc_f,
                overlooked_score=[np.asarray(s, dtype=float) for s in over],
                overlooked=over_f,
                thresholds=np.array([float(per_class_ap.get(j, 0.0)) for j in range(k)]))


# ------------------------------------------------------------------------ datasets


class DetectionIssuesResults(runs.Results):
    """What :func:`find_detection_issues` did.

    Attributes:
        patches_field, pred_field: the annotated and the predicted Detections fields
        classes: the classes (cleanlab's class ids are their positions)
        num_samples: images of the view; ``num_scored`` of them scored,
            ``num_skipped`` not (their image size could not be read)
        num_objects, num_predictions: annotated / predicted boxes of the scored images
        num_swap, num_badloc, num_overlooked: boxes flagged per issue type
        num_issues: annotated boxes flagged (swap or badloc), tagged ``tag``;
            ``issue_ids`` their label ids, lowest quality first
        overlooked_ids: predicted boxes flagged overlooked (label ids in
            ``pred_field``), tagged ``overlooked_tag``, lowest score first
        num_images_with_issues: images with any flagged box (cleanlab's per-image flags)
        quality_field: the images' and the annotated boxes' quality field / attribute
        saved_view, overlooked_view: the saved patches views (None if not saved)
        run_key, seconds, messages: the run record's key, wall time, warnings
    """

    ATTRIBUTES = ("patches_field", "pred_field", "classes", "num_samples", "num_scored",
                  "num_objects", "num_predictions", "num_swap", "num_badloc",
                  "num_overlooked", "num_issues", "issue_ids", "overlooked_ids",
                  "num_images_with_issues", "tag", "overlooked_tag", "quality_field",
                  "saved_view", "overlooked_view", "run_key", "seconds", "messages")

    step = STEP
    multi_label = False

    def summary(self):
        return ("Detection label issues in %r vs predictions %r: %d/%d annotated boxes flagged "
                "(%d swapped class, %d badly located), %d overlooked objects among %d "
                "predictions; %d/%d images with issues in %.1f s"
                % (self.patches_field, self.pred_field, self.num_issues, self.num_objects,
                   self.num_swap, self.num_badloc, self.num_overlooked, self.num_predictions,
                   self.num_images_with_issues, self.num_scored, self.seconds))

    def __repr__(self):
        # The skipped images are said in the messages (no embeddings are involved).
        return "\n".join([self.summary()] + list(self.messages))


def _image_size(path):
    """``(w, h)`` of an image as displayed (EXIF rotation applied), from its header only;
    None when it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            w, h = img.size
            orientation = img.getexif().get(274, 1)  # EXIF Orientation
    except Exception:
        return None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def check_fields(samples, patches_field, pred_field):
    """The two Detections fields of the predictions mode, refused with one clear error.

    Returns:
        ``(pf, pred)``: their :class:`~winnow.plugin.inputs.PatchesField`
    """
    if patches_field is None:
        raise ValueError("pred_field=%r needs patches_field: the Detections field of the "
                         "annotated boxes the predictions are compared with" % (pred_field,))
    pf = inputs.patches_field(samples, patches_field)
    pred = inputs.patches_field(samples, pred_field, param="pred_field")
    if pf.kind != "detections":
        raise ValueError("With pred_field, patches_field must be a Detections field (boxes); "
                         "%r holds Polylines" % pf.name)
    if pred.kind != "detections":
        raise ValueError("pred_field must be a Detections field of predicted boxes with "
                         "confidences; %r holds Polylines" % pred.name)
    if pred.name == pf.name:
        raise ValueError("pred_field must differ from patches_field (%r): the predictions "
                         "are compared with the annotated boxes" % pf.name)
    return pf, pred


def check_outputs(samples, pf, pred, *, tag="label_issue", overlooked_tag="overlooked",
                  quality_field="label_quality", save_view=True, overwrite=False,
                  parts=("fields", "tags")):
    """Refuses, reading only, outputs of :func:`find_detection_issues` that are not its
    run's to write (the engine's check, and the operator form's as the user types).

    Args:
        pf, pred: the :class:`~winnow.plugin.inputs.PatchesField` of the annotated
            and the predicted boxes (:func:`check_fields`)
        parts: ``"fields"`` (the boxes' attributes and the images' field) and/or
            ``"tags"`` (the label tags and saved views) to check

    Returns:
        the names of the saved views the run writes
    """
    for name, value in (("tag", tag), ("overlooked_tag", overlooked_tag),
                        ("quality_field", quality_field)):
        inputs.check_name(value, name)
    if tag == overlooked_tag:
        raise ValueError("tag and overlooked_tag must differ; both are %r" % tag)
    if quality_field in (SWAP_ATTR, BADLOC_ATTR, TYPE_ATTR):
        raise ValueError("quality_field must differ from %s, %s and %s (written too)"
                         % (SWAP_ATTR, BADLOC_ATTR, TYPE_ATTR))
    saved = [runs.objects_view_name(pf, tag), runs.objects_view_name(pred, overlooked_tag)] \
        if save_view else []
    key = runs.run_key(STEP, pf.path(quality_field))  # runs.Step's key for this run
    owners = runs.owners(samples._root_dataset)
    if "fields" in parts:
        inputs.check_writable(samples, key, owners=owners, overwrite=overwrite,
                              fields=[quality_field, SWAP_ATTR, BADLOC_ATTR, TYPE_ATTR],
                              patches_field=pf)
        inputs.check_writable(samples, key, owners=owners, fields=[OVERLOOKED_ATTR],
                              overwrite=overwrite, patches_field=pred)
        inputs.check_writable(samples, key, owners=owners, fields=[quality_field],
                              overwrite=overwrite)
    if "tags" in parts:
        inputs.check_writable(samples, key, owners=owners, overwrite=overwrite,
                              label_tags={tag: [pf.name], overlooked_tag: [pred.name]},
                              saved_views=saved)
    return saved


def _check_box(box, what, oid):
    try:
        box = [float(v) for v in box]
    except (TypeError, ValueError):
        box = None
    if box is None or len(box) != 4 or not all(np.isfinite(box)):
        raise ValueError("%s %s has no valid bounding_box [x, y, w, h] (got %r)"
                         % (what, oid, box))
    return box


def read_boxes(samples, pf, pred, *, batch_size=inputs.LOAD_BATCH):
    """Reads every image's size, annotated boxes and predicted boxes, ``batch_size``
    samples per database query, refusing objects without a class, predictions
    without a confidence in [0, 1] and boxes that are not 4 finite numbers.

    Returns:
        a list of dicts per sample (view order): ``id``, ``size`` ``(w, h)`` or
        None, ``gt`` and ``pred``: lists of ``(label id, class, [x, y, w, h])``,
        the predictions' with their confidence as a 4th item
    """
    sample_ids = samples.values("id")
    if not sample_ids:
        raise ValueError("The view is empty: there is nothing to process")
    paths = ["id", "filepath", "metadata.width", "metadata.height",
             pf.path("id"), pf.path("label"), pf.path("bounding_box"),
             pred.path("id"), pred.path("label"), pred.path("bounding_box"),
             pred.path("confidence")]
    out = []
    for start in range(0, len(sample_ids), batch_size):
        cols = samples.select(sample_ids[start:start + batch_size]).values(paths)
        for (sid, path, w, h, gids, glabels, gboxes, pids, plabels, pboxes,
             pconfs) in zip(*cols):
            gt = []
            for oid, label, box in zip(gids or [], glabels or [], gboxes or []):
                if label is None:
                    raise ValueError("Object %s of %r (sample %s) has no label: every "
                                     "annotated box needs a class" % (oid, pf.name, sid))
                gt.append((oid, str(label), _check_box(box, "Object", oid)))
            preds = []
            for oid, label, box, conf in zip(pids or [], plabels or [], pboxes or [],
                                             pconfs or []):
                if label is None:
                    raise ValueError("Prediction %s of %r (sample %s) has no label"
                                     % (oid, pred.name, sid))
                if conf is None or not np.isfinite(float(conf)) or not 0 <= conf <= 1:
                    raise ValueError(
                        "Prediction %s of %r (sample %s) has confidence %r: every predicted "
                        "box needs a confidence in [0, 1] (the detector's score)"
                        % (oid, pred.name, sid, conf))
                preds.append((oid, str(label), _check_box(box, "Prediction", oid),
                              float(conf)))
            size = (w, h) if w and h else _image_size(path)
            out.append(dict(id=sid, size=size, gt=gt, pred=preds))
    return out


def to_cleanlab(images, classes):
    """cleanlab's ``labels`` and ``predictions`` (see :func:`box_issues`) of the images
    read by :func:`read_boxes` (boxes in pixels of each image's size).

    Returns:
        ``(labels, predictions, pred_order)``: ``pred_order[i]`` lists image ``i``'s
        prediction label ids in cleanlab's order (by class, then as stored)
    """
    index = {c: j for j, c in enumerate(classes)}

    def xyxy(box, size):
        x, y, w, h = box
        return [x * size[0], y * size[1], (x + w) * size[0], (y + h) * size[1]]

    labels, predictions, pred_order = [], [], []
    for im in images:
        labels.append(dict(
            bboxes=np.array([xyxy(b, im["size"]) for _, _, b in im["gt"]],
                            dtype=np.float64).reshape(-1, 4),
            labels=np.array([index[c] for _, c, _ in im["gt"]], dtype=np.int64)))
        per_class = [[] for _ in classes]
        ids = [[] for _ in classes]
        for oid, c, b, conf in im["pred"]:
            per_class[index[c]].append(xyxy(b, im["size"]) + [conf])
            ids[index[c]].append(oid)
        predictions.append([np.array(rows, dtype=np.float64).reshape(-1, 5)
                            for rows in per_class])
        pred_order.append([oid for group in ids for oid in group])
    return labels, predictions, pred_order


def find_detection_issues(samples, *, patches_field, pred_field, tag="label_issue",
                          overlooked_tag="overlooked", quality_field="label_quality",
                          overlapping_label_check=True, save_view=True, overwrite=False,
                          progress=None):
    """Finds wrong classes, badly located boxes and overlooked objects in a Detections
    field with a detector's predictions (cleanlab object detection, :func:`box_issues`).

    Reached as ``winnow.find_label_issues(samples, patches_field=..., pred_field=...)``.
    Predictions should be out of sample (a detector that never trained on these
    images, or cross-validated), as cleanlab asks. The user's boxes and labels are
    never changed.

    Writes (a recorded run; ``winnow.delete_run`` removes exactly these):
        - on each annotated box of ``patches_field``: ``quality_field`` (the lower of
          its swap and badloc scores, in [0, 1], low = likely wrong), ``swap_score``,
          ``badloc_score``, and on flagged boxes ``issue_type`` (``"swap"`` or
          ``"badloc"``; a box flagged as both gets the one further below its
          threshold) and the label tag ``tag``;
        - on each predicted box of ``pred_field`` that is an overlooked-object
          candidate: ``overlooked_score`` (low = likely overlooked), and on flagged
          ones the label tag ``overlooked_tag``: the missing object is the
          PREDICTED box (there is no annotated box to tag);
        - on each scored sample: ``quality_field``, cleanlab's label quality of the
          image (a sample field of that name);
        - saved patches views ``winnow-<patches_field>-<tag>`` (flagged annotated
          boxes, worst first) and ``winnow-<pred_field>-<overlooked_tag>``.

    Boxes are compared in pixels (cleanlab's distance term is per pixel): each
    image's size comes from ``metadata`` or, without it, from the image file's
    header (nothing is written to ``metadata``). Images whose size cannot be read
    are not scored (counted in ``num_skipped``).

    Args:
        samples: a dataset or view (also a patches view of ``patches_field``)
        patches_field: the ``fo.Detections`` field of annotated boxes (each
            ``label`` its class)
        pred_field: a ``fo.Detections`` field of predicted boxes, each with a
            ``label`` and a ``confidence`` in [0, 1]; keep the detector's
            low-confidence boxes (cleanlab uses them for bad locations)
        tag ("label_issue"), overlooked_tag ("overlooked"): the label tags
        quality_field ("label_quality"): the boxes' attribute and the images' field
        overlapping_label_check (True): cleanlab's option (see :func:`box_issues`)
        save_view (True): save the two patches views
        overwrite (False): allow writing over fields/tags this step does not own
        progress (None): accepted for the common step signature (cleanlab reports none)

    Returns:
        a :class:`DetectionIssuesResults`

    Raises:
        ValueError: bad fields or boxes, before anything is written
    """
    inputs.check_collection(samples)
    samples = inputs.samples_of_patches(samples, patches_field)
    pf, pred = check_fields(samples, patches_field, pred_field)
    saved = check_outputs(samples, pf, pred, tag=tag, overlooked_tag=overlooked_tag,
                          quality_field=quality_field, save_view=save_view,
                          overwrite=overwrite)
    step = runs.Step(samples, STEP,
                     fields=dict(quality=quality_field, swap=SWAP_ATTR, badloc=BADLOC_ATTR,
                                 issue_type=TYPE_ATTR),
                     label_tags={tag: [pf.name], overlooked_tag: [pred.name]},
                     saved_views=saved, score=dict(field=quality_field, descending=False),
                     overwrite=overwrite, patches_field=pf)
    # The run also writes an attribute of the predictions and a sample field (checked
    # by check_outputs): recorded with its outputs, so delete_run and a crashed
    # write's cleanup remove them too.
    step.outputs["fields"] += [pred.path(OVERLOOKED_ATTR), quality_field]
    step.outputs["roles"].update(overlooked=pred.path(OVERLOOKED_ATTR),
                                 image_quality=quality_field)

    images = read_boxes(samples, pf, pred)
    scored = [im for im in images if im["size"] is not None]
    messages = []
    if len(scored) < len(images):
        messages.append("%d images whose size could not be read (missing or unreadable "
                        "files) were not scored" % (len(images) - len(scored)))
        for m in messages:
            logger.warning(m)
    if not scored:
        raise ValueError("No image of the view could be read for its size; check the "
                         "filepaths (or compute metadata)")
    classes = sorted({c for im in scored for _, c, _ in im["gt"]}
                     | {c for im in scored for _, c, _, _ in im["pred"]})
    if not classes:
        raise ValueError("Neither %r nor %r has a box in the view: there is nothing to "
                         "compare" % (pf.name, pred.name))
    labels, predictions, pred_order = to_cleanlab(scored, classes)
    found = box_issues(labels, predictions, overlapping_label_check=overlapping_label_check)

    quality, swap_s, badloc_s, kinds, over_s = {}, {}, {}, {}, {}
    flagged, overlooked = [], []
    thresholds = found["thresholds"]
    index = {c: j for j, c in enumerate(classes)}
    for i, im in enumerate(scored):
        for j, (oid, c, _) in enumerate(im["gt"]):
            s, b = float(found["swap_score"][i][j]), float(found["badloc_score"][i][j])
            swap_s[oid], badloc_s[oid], quality[oid] = s, b, min(s, b)
            is_swap, is_badloc = found["swap"][i][j], found["badloc"][i][j]
            if is_swap or is_badloc:
                if is_swap and is_badloc:  # the one further below its threshold
                    t = max(thresholds[index[c]], 1e-12)
                    kinds[oid] = "swap" if s / t <= b / t else "badloc"
                else:
                    kinds[oid] = "swap" if is_swap else "badloc"
                flagged.append(oid)
        for j, oid in enumerate(pred_order[i]):
            v = found["overlooked_score"][i][j]
            if np.isfinite(v):
                over_s[oid] = float(v)
            if found["overlooked"][i][j]:
                overlooked.append(oid)
    issue_ids = sorted(flagged, key=quality.get)
    overlooked_ids = sorted(overlooked, key=over_s.get)
    image_quality = {im["id"]: float(q) for im, q in zip(scored, found["image_quality"])}
    image_quality.update({im["id"]: None for im in images if im["size"] is None})

    dataset = samples._root_dataset
    with step.writing():
        # A re-run replaces the whole previous result (never two populations mixed).
        for role in ("quality", "swap", "badloc", "issue_type"):
            step.clear(role)
        inputs.clear_object_values(samples, pred, OVERLOOKED_ATTR)
        if quality_field in dataset.get_field_schema():
            dataset.clear_sample_field(quality_field)
        step.untag(tag)
        dataset.untag_labels(overlooked_tag, label_fields=pred.name)
        step.set_values("quality", fof.FloatField, quality)
        step.set_values("swap", fof.FloatField, swap_s)
        step.set_values("badloc", fof.FloatField, badloc_s)
        step.set_values("issue_type", fof.StringField, kinds)
        inputs.declare_field(samples, pred.path(OVERLOOKED_ATTR), fof.FloatField)
        inputs.set_object_values(samples, pred, OVERLOOKED_ATTR, over_s)
        inputs.declare_field(samples, quality_field, fof.FloatField)
        samples.set_values(quality_field, image_quality, key_field="id")
        step.tag(flagged, tag)
        inputs.tag_objects(samples, pred, overlooked, overlooked_tag)
        if save_view:
            dataset.save_view(
                saved[0], inputs.objects_view(samples, pf, tag).sort_by(
                    "%s.%s" % (pf.name, quality_field)),  # a patches view's path
                description="Winnow: boxes of %r whose class or location looks wrong next "
                "to %r's predictions, worst first" % (pf.name, pred.name), overwrite=True)
            dataset.save_view(
                saved[1], inputs.objects_view(samples, pred, overlooked_tag).sort_by(
                    "%s.%s" % (pred.name, OVERLOOKED_ATTR)),
                description="Winnow: confident predictions in %r with no box in %r "
                "(overlooked objects)" % (pred.name, pf.name), overwrite=True)

    from cleanlab.internal import constants as c

    views = dict(zip(saved, (tag, overlooked_tag)))  # {saved view: the tag it shows}
    params = dict(patches_field=pf.name, pred_field=pred.name, tag=tag,
                  overlooked_tag=overlooked_tag, quality_field=quality_field,
                  overlapping_label_check=bool(overlapping_label_check), views=views,
                  classes=classes,
                  thresholds={cl: float(t) for cl, t in zip(classes, thresholds)},
                  cleanlab=dict(alpha=c.ALPHA, high_probability=c.HIGH_PROBABILITY_THRESHOLD,
                                low_probability=c.LOW_PROBABILITY_THRESHOLD,
                                threshold_factor=c.SWAP_THRESHOLD_FACTOR))
    n_swap = sum(k == "swap" for k in kinds.values())
    counts = dict(samples=len(images), scored=len(scored), skipped=len(images) - len(scored),
                  objects=len(quality), predictions=sum(len(o) for o in pred_order),
                  issues=len(flagged), swap=int(sum(int(f.sum()) for f in found["swap"])),
                  badloc=int(sum(int(f.sum()) for f in found["badloc"])),
                  issue_type_swap=n_swap, issue_type_badloc=len(kinds) - n_swap,
                  overlooked=len(overlooked),
                  images_with_issues=int(found["image_issue"].sum()))
    key = step.record(params, counts)
    return DetectionIssuesResults(
        patches_field=pf.name, pred_field=pred.name, classes=classes,
        num_samples=len(images), num_scored=len(scored), num_skipped=len(images) - len(scored),
        num_objects=len(quality), num_predictions=counts["predictions"],
        num_swap=counts["swap"], num_badloc=counts["badloc"], num_overlooked=len(overlooked),
        num_issues=len(flagged), issue_ids=issue_ids, overlooked_ids=overlooked_ids,
        num_images_with_issues=counts["images_with_issues"], tag=tag,
        overlooked_tag=overlooked_tag, quality_field=quality_field,
        saved_view=saved[0] if saved else None,
        overlooked_view=saved[1] if saved else None, run_key=key, seconds=step.seconds,
        messages=messages)
