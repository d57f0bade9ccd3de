"""Object label issues on real-image detection scenes with known truth: Winnow vs anchors.

    nice -n 10 .venv/bin/python benchmarks/object_label_issues.py [--scenes 2000]
        [--seeds 2] [--size 112] [--no-cleanlab-od] [--json out.json]

The scenes: ``--scenes`` black 168 px canvases, each with 2-6 distinct real
Fashion-MNIST items (Debian's training set, ``plugin/fashion_mnist.py``) upscaled
to 42 px and pasted in their own cell of a 3x3 grid (jittered), so every box and
class is known exactly. Annotation noise, fixed once (seed 0) because the crops'
embeddings depend on the boxes:

- ``SHIFT_RATE`` of the annotated boxes moved by 40-60 % of their size (in x,
  y or both; clipped to the canvas): the crop embedded is the shifted one, as a
  user's would be;
- ``MISSING_RATE`` of the objects left unannotated (no box in ``gt``).

Then, per seed, 10 % of the annotated objects' labels flipped between
confusable classes (T-shirt <-> shirt, pullover <-> coat, sneaker <-> ankle boot,
dress <-> trouser: ``benchmarks/label_issues.py``'s ``flip_labels``).

Object embeddings: ``winnow.compute_embeddings(dataset, patches_field="gt")``
(EfficientNet-Lite0, its 10 % crop margin) at ``--size`` px input (112 by
default, as the label-issues benchmark: 224 px is too slow on the shared 2-core
machine), cached with the scenes under ``benchmarks/cache/``.

Rows, side by side on the same objects and flips:

- Winnow ``find_label_issues(patches_field="gt")`` from the objects' embeddings
  alone, its default classifier (``"auto"``);
- cleanlab ``find_label_issues`` + logistic regression on the same crop
  embeddings, standardized, C by nested 3-in-5-fold out-of-fold log loss
  (``label_issues.tuned_logistic``, imported);
- FiftyOne Brain ``compute_mistakenness`` on the detections, fed a SIMULATED
  detector: one predicted box per real object at its true box (so unannotated
  objects have a prediction), labelled with the tuned logistic model's
  cross-validated class (confidence = its probability; for the unannotated
  objects, a model fit on all annotated objects with the most chosen C applied
  to the true-box crop). Flagged wrong label: ``mistakenness > 0.5``; Brain's
  claims for boxes: annotated objects with no matching prediction
  (``possible_spurious``: here the shifted ones) and confident unmatched
  predictions (``possible_missing``);
- cleanlab object detection (``cleanlab.object_detection``) on the same
  simulated detector (every class with probability >= 1e-3 as a box of that
  class at the true box): per-box swap / bad-location / overlooked issues with
  the thresholds ``cleanlab.object_detection.filter.find_label_issues`` uses
  (its per-box internals, called as they are, through
  ``detection_issues.box_issues``), swap = flagged wrong label;
- Winnow ``find_label_issues(patches_field="gt", pred_field=...)`` given the same
  simulated detector's boxes as a FiftyOne Detections field (the predictions mode:
  cleanlab object detection read from and written to the dataset, boxes in pixels
  of each image's header); swap (``issue_type``) = flagged wrong label, badloc =
  claimed shifted, the overlooked tag on a prediction = claimed missing object.

Precision / recall / F1 of flagged wrong labels per seed; F1 differences to
Winnow paired by seed (mean +- standard error). Boxes: recall and precision of
the shifted boxes and of the missing objects where a method claims them (a second
table: means over seeds).
One BLAS/torch thread for the label rows (a shared machine).

``--timing N``: instead, N objects (4 per sample, fake filepaths: no image is read)
carrying the real 112 px Fashion-MNIST embeddings as their ``embedding`` attribute
(``scale.make_data``: 70 000 real rows + jittered copies beyond) and their class as
``label``, through ``find_outliers``, ``find_redundant`` and ``find_label_issues``
with ``patches_field="gt"`` and their defaults: seconds per step, excluding the
embedding (and the dataset's creation, reported apart). All threads.
"""

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
warnings.filterwarnings("ignore")
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")

from label_issues import flip_labels, prf, tuned_logistic  # noqa: E402

CANVAS, CELL, ITEM = 168, 56, 42
SHIFT_RATE, MISSING_RATE = 0.03, 0.02
FIELD = "gt"
PRED = "pred_od"  # the simulated detector's boxes for Winnow's predictions mode


def build_scenes(n_scenes, out_dir, seed=0):
    """Writes the PNG scenes; returns ``{"filepath": [...], "objects": [...]}`` where
    each object is ``dict(scene, item, cls, true=[x, y, w, h], box=annotated or None)``
    (relative boxes; ``box`` None: left unannotated)."""
    from PIL import Image

    from winnow.plugin import fashion_mnist

    imgs, labels = fashion_mnist.load("train")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(imgs))
    os.makedirs(out_dir, exist_ok=True)
    paths, objects, used = [], [], 0
    for s in range(n_scenes):
        k = int(rng.integers(2, 7))
        canvas = Image.new("RGB", (CANVAS, CANVAS))
        for c in rng.choice(9, k, replace=False):
            item = int(order[used])
            used += 1
            x0 = (c % 3) * CELL + int(rng.integers(0, CELL - ITEM + 1))
            y0 = (c // 3) * CELL + int(rng.integers(0, CELL - ITEM + 1))
            canvas.paste(Image.fromarray(imgs[item]).convert("RGB").resize(
                (ITEM, ITEM), Image.BILINEAR), (x0, y0))
            true = [x0 / CANVAS, y0 / CANVAS, ITEM / CANVAS, ITEM / CANVAS]
            objects.append(dict(scene=s, item=item, cls=int(labels[item]), true=true,
                                box=list(true)))
        path = os.path.join(out_dir, "scene_%05d.png" % s)
        canvas.save(path)
        paths.append(path)
    n = len(objects)
    picks = rng.permutation(n)
    n_shift, n_miss = int(round(SHIFT_RATE * n)), int(round(MISSING_RATE * n))
    for i in picks[:n_shift]:
        x, y, w, h = objects[i]["true"]
        axis = rng.integers(3)  # 0: x, 1: y, 2: both
        dx = (rng.uniform(0.4, 0.6) * rng.choice([-1, 1]) * w) if axis != 1 else 0.0
        dy = (rng.uniform(0.4, 0.6) * rng.choice([-1, 1]) * h) if axis != 0 else 0.0
        nx, ny = min(max(x + dx, 0.0), 1 - w), min(max(y + dy, 0.0), 1 - h)
        if abs(nx - x) < 0.4 * w and abs(ny - y) < 0.4 * h:  # clipped: go the other way
            nx, ny = min(max(x - dx, 0.0), 1 - w), min(max(y - dy, 0.0), 1 - h)
        objects[i]["box"] = [nx, ny, w, h]
        objects[i]["shifted"] = True
    for i in picks[n_shift:n_shift + n_miss]:
        objects[i]["box"] = None
    return dict(filepath=paths, objects=objects)


def make_dataset(scenes, *, field=FIELD, boxes="box", vectors=None):
    """A non-persistent dataset of the scenes: ``field`` holds the objects whose
    ``boxes`` key is set, with ``obj`` = the object's index (and ``embedding``
    from ``vectors`` {index: vector} if given)."""
    import fiftyone as fo
    import fiftyone.core.fields as fof

    per_scene = [[] for _ in scenes["filepath"]]
    for i, o in enumerate(scenes["objects"]):
        if o.get(boxes) is not None:
            kw = dict(embedding=vectors[i]) if vectors is not None else {}
            per_scene[o["scene"]].append(fo.Detection(label=str(o["cls"]),
                                                      bounding_box=o[boxes], obj=i, **kw))
    ds = fo.Dataset()
    ds.add_samples([fo.Sample(filepath=p, **{field: fo.Detections(detections=d)})
                    for p, d in zip(scenes["filepath"], per_scene)], progress=False)
    if vectors is not None:
        ds.add_sample_field(field + ".detections.embedding", fof.VectorField)
    ds.add_dynamic_sample_fields()
    return ds


def embed(scenes, which, size):
    """``{object index: vector}`` of the objects whose ``which`` box is set, by
    ``compute_embeddings(patches_field=)`` on those boxes."""
    import winnow
    from winnow.plugin import models

    ds = make_dataset(scenes, boxes=which)
    t = time.time()
    winnow.compute_embeddings(ds, patches_field=FIELD, transforms=models.imagenet_transforms(
        size), progress=False)
    secs = time.time() - t
    idx, vecs = ds.values([FIELD + ".detections.obj", FIELD + ".detections.embedding"])
    out = {int(i): np.asarray(v, np.float32) for a, b in zip(idx, vecs) for i, v in
           zip(a or [], b or []) if v is not None}
    ds.delete()
    return out, secs


def load_cached(n_scenes, size):
    cache = os.path.join(HERE, "cache", "object-scenes-%d" % n_scenes)
    meta = os.path.join(cache, "scenes.json")
    if os.path.exists(meta):
        scenes = json.load(open(meta))
    else:
        t = time.time()
        scenes = build_scenes(n_scenes, cache)
        json.dump(scenes, open(meta, "w"))
        print("wrote %d scenes in %.0f s" % (n_scenes, time.time() - t), flush=True)
    vec_path = os.path.join(cache, "embeddings-%d.npz" % size)
    if os.path.exists(vec_path):
        z = np.load(vec_path)
        ann = dict(zip(z["ann_idx"].tolist(), z["ann_X"]))
        true = dict(zip(z["true_idx"].tolist(), z["true_X"]))
    else:
        ann, s1 = embed(scenes, "box", size)
        # the simulated detector also needs the unannotated objects' true-box crops
        missing = dict(scenes, objects=[dict(o, true_missing=o["true"] if o["box"] is None
                                             else None) for o in scenes["objects"]])
        true, s2 = embed(missing, "true_missing", size)
        print("embedded %d annotated objects in %.0f s (%.1f objects/s) and %d unannotated "
              "in %.0f s, %d px input" % (len(ann), s1, len(ann) / s1, len(true), s2, size),
              flush=True)
        np.savez(vec_path, ann_idx=np.array(list(ann)), ann_X=np.stack(list(ann.values())),
                 true_idx=np.array(list(true)), true_X=np.stack(list(true.values())))
    return scenes, ann, true


def detector_probs(X_ann, noisy, lr_probs, cs, X_true):
    """The simulated detector's class probabilities for the unannotated objects: a
    logistic model (the most chosen C) fit on all annotated objects."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    c = max(set(cs), key=cs.count)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=300))
    model.fit(X_ann, noisy)
    out = np.zeros((len(X_true), 10))
    out[:, model.classes_] = model.predict_proba(X_true)
    return out


def brain_row(ds, scenes, obj_probs):
    """Brain mistakenness with the simulated detector's predictions in ``pred``."""
    import fiftyone as fo
    import fiftyone.brain as fob

    per_scene = [[] for _ in scenes["filepath"]]
    for i, p in obj_probs.items():
        o = scenes["objects"][i]
        k = int(np.argmax(p))
        per_scene[o["scene"]].append(fo.Detection(label=str(k), bounding_box=o["true"],
                                                  confidence=float(p[k]), obj=i))
    ds.set_values("pred", [fo.Detections(detections=d) for d in per_scene])
    t = time.time()
    fob.compute_mistakenness(ds, "pred", label_field=FIELD, progress=False)
    secs = time.time() - t
    gi, gm, gs = ds.values([FIELD + ".detections.obj", FIELD + ".detections.mistakenness",
                            FIELD + ".detections.possible_spurious"])
    pi, pm = ds.values(["pred.detections.obj", "pred.detections.possible_missing"])
    wrong = {int(i) for a, b in zip(gi, gm) for i, m in zip(a, b) if m is not None and m > 0.5}
    spurious = {int(i) for a, b in zip(gi, gs) for i, m in zip(a, b) if m}
    missing = {int(i) for a, b in zip(pi, pm) for i, m in zip(a, b) if m}
    for key in ds.list_brain_runs():
        ds.delete_brain_run(key)
    for key in ds.list_evaluations():
        ds.delete_evaluation(key)
    if ds.has_sample_field("pred"):
        ds.delete_sample_field("pred")
    return wrong, spurious, missing, secs


def cleanlab_od_row(scenes, labels_now, obj_probs):
    """cleanlab object detection's per-box issues (its own thresholds) on the simulated
    detector, its arrays built here. Returns ``(swap, badloc, overlooked)`` sets of object
    indices."""
    from winnow.plugin.detection_issues import box_issues

    n = len(scenes["filepath"])
    lab_objs = [[] for _ in range(n)]
    pred_objs = [[] for _ in range(n)]
    for i, o in enumerate(scenes["objects"]):
        if o["box"] is not None:
            lab_objs[o["scene"]].append(i)
        if i in obj_probs:
            pred_objs[o["scene"]].append(i)

    def xyxy(b):
        x, y, w, h = (v * CANVAS for v in b)
        return [x, y, x + w, y + h]

    labels, predictions = [], []
    for s in range(n):
        labels.append(dict(
            bboxes=np.array([xyxy(scenes["objects"][i]["box"]) for i in lab_objs[s]],
                            dtype=np.float32).reshape(-1, 4),
            labels=np.array([labels_now[i] for i in lab_objs[s]], dtype=int)))
        per_class = []
        for k in range(10):
            rows = [xyxy(scenes["objects"][i]["true"]) + [obj_probs[i][k]]
                    for i in pred_objs[s] if obj_probs[i][k] >= 1e-3]
            per_class.append(np.array(rows, dtype=np.float32).reshape(-1, 5))
        predictions.append(per_class)
    t = time.time()
    # cleanlab.object_detection.filter.find_label_issues' per-box flags, before it pools
    # them per image (its own internals and thresholds; detection_issues.box_issues calls
    # them, tested equal to cleanlab's public per-image flags), and its per-image score.
    found = box_issues(labels, predictions)
    swap, badloc, over = found["swap"], found["badloc"], found["overlooked"]
    secs = time.time() - t

    def objs(flags, index, preds=False):
        out = set()
        for s in range(n):
            # the prediction arrays are per class, in class order: rebuild that order
            if preds:
                order = [i for k in range(10) for i in pred_objs[s]
                         if obj_probs[i][k] >= 1e-3]
            else:
                order = index[s]
            f = flags[s]
            if len(order) == 0:
                continue
            out |= {order[j] for j in np.flatnonzero(f[:len(order)])}
        return out

    return objs(swap, lab_objs), objs(badloc, lab_objs), objs(over, None, preds=True), secs


def winnow_pred_row(ds, scenes, obj_probs):
    """Winnow ``find_label_issues(patches_field, pred_field)`` on the simulated detector's
    boxes as a FiftyOne Detections field (every class with probability >= 1e-3 as a box of
    that class at the true box, with its probability as confidence: cleanlab-OD row's
    predictions), everything read from and written to the dataset. Returns ``(swap,
    badloc, overlooked)`` sets of object indices (by ``issue_type`` on the annotated
    boxes, the overlooked tag on the predictions) and the seconds of the call."""
    import fiftyone as fo

    import winnow

    per_scene = [[] for _ in scenes["filepath"]]
    for i, p in obj_probs.items():
        o = scenes["objects"][i]
        per_scene[o["scene"]] += [fo.Detection(label=str(k), bounding_box=o["true"],
                                               confidence=float(p[k]), obj=i)
                                  for k in range(10) if p[k] >= 1e-3]
    ds.set_values(PRED, [fo.Detections(detections=d) for d in per_scene])
    t = time.time()
    # Own names, so the embeddings row's label_quality / label_issue stay its own.
    res = winnow.find_label_issues(ds, patches_field=FIELD, pred_field=PRED,
                                   quality_field="od_quality", tag="od_issue",
                                   save_view=False)
    secs = time.time() - t
    gi, kinds = ds.values([FIELD + ".detections.obj", FIELD + ".detections.issue_type"])
    pi, tags = ds.values([PRED + ".detections.obj", PRED + ".detections.tags"])
    found = {kind: {int(i) for a, b in zip(gi, kinds) for i, k in zip(a, b) if k == kind}
             for kind in ("swap", "badloc")}
    over = {int(i) for a, b in zip(pi, tags) for i, t in zip(a, b) if res.overlooked_tag in t}
    winnow.delete_run(ds, res.run_key)
    ds.delete_sample_field(PRED)
    return found["swap"], found["badloc"], over, secs


def timing(n):
    import fiftyone as fo
    import fiftyone.core.fields as fof

    import winnow
    from scale import make_data

    X, y = make_data(n)
    t = time.time()
    ds = fo.Dataset()
    per, chunk = 4, 2000
    for start in range(0, n, per * chunk):
        samples = []
        for s0 in range(start, min(n, start + per * chunk), per):
            dets = [fo.Detection(label=str(int(y[i])), bounding_box=[0.1 * (i - s0), 0.1, 0.2,
                                                                      0.2], embedding=X[i])
                    for i in range(s0, min(n, s0 + per))]
            samples.append(fo.Sample(filepath="/synthetic/winnow-objects/%07d.png" % s0,
                                     **{FIELD: fo.Detections(detections=dets)}))
        ds.add_samples(samples, progress=False)
    ds.add_sample_field(FIELD + ".detections.embedding", fof.VectorField)
    print("created %d samples with %d objects (%d-d vectors) in %.0f s (not timed below)" % (
        len(ds), n, X.shape[1], time.time() - t), flush=True)
    del X
    print("\n| step, %d objects (patches_field) | s |\n|---|---|" % n)
    for name, fn in (("find_outliers", winnow.find_outliers),
                     ("find_redundant", winnow.find_redundant),
                     ("find_label_issues", winnow.find_label_issues)):
        t = time.time()
        fn(ds, patches_field=FIELD, progress=False)
        print("| %s | %.0f |" % (name, time.time() - t), flush=True)
    ds.delete()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenes", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--size", type=int, default=112, help="model input px")
    parser.add_argument("--no-brain", action="store_true")
    parser.add_argument("--no-cleanlab-od", action="store_true")
    parser.add_argument("--json", help="also write the per-seed numbers here")
    parser.add_argument("--timing", type=int, metavar="N",
                        help="only the timing of the object steps on N stored vectors")
    args = parser.parse_args()
    if args.timing:
        return timing(args.timing)

    import cleanlab
    from threadpoolctl import threadpool_limits

    import winnow

    started = time.time()
    scenes, ann, true = load_cached(args.scenes, args.size)
    objects = scenes["objects"]
    ann_idx = np.array(sorted(ann))
    X = np.stack([ann[i] for i in ann_idx])
    y = np.array([objects[i]["cls"] for i in ann_idx])
    shifted = {i for i, o in enumerate(objects) if o.get("shifted")}
    missing = {i for i, o in enumerate(objects) if o["box"] is None}
    print("%d scenes, %d objects: %d annotated (%d shifted), %d unannotated" % (
        len(scenes["filepath"]), len(objects), len(ann_idx), len(shifted & set(ann_idx)),
        len(missing)), flush=True)
    ds = make_dataset(scenes, vectors=ann)
    records = []
    for seed in range(args.seeds):
        rng = np.random.default_rng([len(objects), seed])
        noisy, flipped = flip_labels(y, 0.10, "confusable", rng)
        by_obj = dict(zip(ann_idx.tolist(), noisy.tolist()))
        objs = ds.values(FIELD + ".detections.obj")
        ds.set_values(FIELD + ".detections.label", [[str(by_obj[i]) for i in a] for a in objs])
        found, info = {}, {}
        with threadpool_limits(1):
            t = time.time()
            res = winnow.find_label_issues(ds, patches_field=FIELD, seed=seed, overwrite=True,
                                           save_view=False, progress=False)
            secs = time.time() - t
            ids, oi = ds.values([FIELD + ".detections.id", FIELD + ".detections.obj"])
            id2obj = {a: b for x, z in zip(ids, oi) for a, b in zip(x, z)}
            flagged = np.isin(ann_idx, [id2obj[i] for i in res.issue_ids])
            found["Winnow find_label_issues(patches_field) (auto)"] = (flagged, secs)

            t = time.time()
            lr, cs = tuned_logistic(X, noisy, seed=seed)
            t_lr = time.time() - t
            found["cleanlab + tuned logistic (C %s)" % "/".join("%g" % c for c in sorted(
                set(cs)))] = (cleanlab.filter.find_label_issues(noisy, lr), t_lr)
            info["C"] = cs
            if not args.no_brain or not args.no_cleanlab_od:
                miss_idx = sorted(true)
                extra = detector_probs(X, noisy, lr, cs, np.stack([true[i] for i in miss_idx]))
                obj_probs = {int(i): lr[r] for r, i in enumerate(ann_idx)}
                obj_probs.update({int(i): p for i, p in zip(miss_idx, extra)})
        if not args.no_brain:
            wrong, spur, miss, secs = brain_row(ds, scenes, obj_probs)
            found["Brain mistakenness (sim. detector: CV logistic)"] = (
                np.isin(ann_idx, list(wrong)), secs + t_lr)
            info["brain boxes"] = dict(shifted=_pr(spur, shifted), missing=_pr(miss, missing))
        if not args.no_cleanlab_od:
            swap, badloc, over, secs = cleanlab_od_row(scenes, by_obj, obj_probs)
            found["cleanlab object detection (sim. detector)"] = (
                np.isin(ann_idx, list(swap)), secs + t_lr)
            info["cleanlab-od boxes"] = dict(shifted=_pr(badloc, shifted),
                                             missing=_pr(over, missing))
            swap, badloc, over, secs = winnow_pred_row(ds, scenes, obj_probs)
            found["Winnow find_label_issues(pred_field) (sim. detector)"] = (
                np.isin(ann_idx, list(swap)), secs + t_lr)
            info["winnow-pred boxes"] = dict(shifted=_pr(badloc, shifted),
                                             missing=_pr(over, missing))
        for method, (flags, secs) in found.items():
            p, r, f1 = prf(np.asarray(flags, bool), flipped)
            records.append(dict(seed=seed, method=method, precision=p, recall=r, f1=f1,
                                seconds=secs, flagged=int(np.sum(flags))))
            print("seed %d  %-52s P %.3f R %.3f F1 %.3f  flagged %5d  %.0f s" % (
                seed, method, p, r, f1, int(np.sum(flags)), secs), flush=True)
        print("seed %d boxes (recall, precision): %s" % (seed, {
            k: v for k, v in info.items() if k != "C"}), flush=True)
        records.append(dict(seed=seed, info=info))
        if args.json:
            json.dump(records, open(args.json, "w"), indent=1, default=str)
    ds.delete()
    summarise(records)
    print("\n%d scenes, %d annotated objects, %d px crops, %d seeds, %d cores; total %.0f s" % (
        len(scenes["filepath"]), len(ann_idx), args.size, args.seeds, os.cpu_count(),
        time.time() - started))


def _pr(claimed, truth):
    """``(recall, precision, claimed)`` of a set of claimed objects against a true set."""
    tp = len(claimed & truth)
    return (round(tp / max(len(truth), 1), 3), round(tp / max(len(claimed), 1), 3),
            len(claimed))


def summarise(records):
    rows = [r for r in records if "method" in r]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    ref = methods[0]
    f1 = {(r["method"], r["seed"]): r["f1"] for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    print("\n| method | precision | recall | F1 | F1 - Winnow (paired, +- SE) | s |")
    print("|---|---|---|---|---|---|")
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        d = np.array([f1[(m, s)] - f1[(ref, s)] for s in seeds if (m, s) in f1])
        se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
        print("| %s | %.3f | %.3f | %.3f | %s | %.0f |" % (
            m, np.mean([r["precision"] for r in mine]), np.mean([r["recall"] for r in mine]),
            np.mean([r["f1"] for r in mine]),
            "-" if m == ref else "%+.3f +- %.3f" % (d.mean(), se),
            np.mean([r["seconds"] for r in mine])))
    infos = [r["info"] for r in records if "info" in r]
    claims = [k for k in (infos[0] if infos else {}) if k.endswith(" boxes")]
    if claims:  # (recall, precision, claimed) per seed: their means
        print("\n| method (box claims) | shifted: recall | precision | claimed | missing: "
              "recall | precision | claimed |\n|---|---|---|---|---|---|---|")
        for k in claims:
            cells = [np.mean([i[k][what][j] for i in infos]) for what in ("shifted", "missing")
                     for j in range(3)]
            print("| %s | %.3f | %.3f | %.0f | %.3f | %.3f | %.0f |" % ((k[:-6],) + tuple(cells)))


if __name__ == "__main__":
    main()
