"""What the Winnow runs found on a dataset, read from their run records.

Every field, tag and view name comes from the runs' records
(:func:`winnow.list_runs`): the fields and tags a run wrote, its score
(``run["score"]``: the field that orders what it found) and its saved views. A
run made with ``score_field="glosh"`` or ``tag="odd"`` is therefore summarised
under those names, and two runs of one step with different names are two
findings. Counts come from aggregations (``count_values``, ``histogram_values``),
never from loading every document, so they stay fast on 50 000 samples. A step
that has not run yet is reported as missing, with the operator that computes it.

Everything here returns plain dicts and lists; the App panel only lays them out.
"""

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
from fiftyone import ViewField as F

from . import inputs
from . import runs as winnow_runs

OPERATOR_PREFIX = "@winnow/curation/"

# What no user chooses about a step, keyed by run ``method``, in pipeline order.
# ``fields``: the roles of a run's ``fields`` in the order the step lists them, read
# only for records made before runs recorded their ``roles``; ``status`` is how the
# map's status colouring calls the samples a run tags; ``per_tag``: the run's tags are
# kinds of one finding, each counted (and shown) on its own; ``histograms``: ``(role,
# label)`` of score fields to draw besides the run's ``score`` (a run with no single score);
# ``objects_only``: a step on objects only, with no card among the samples' findings.
STEPS = {
    "outliers": dict(label="Outliers", operator="find_outliers",
                     score_label="Outlier score", fields=("score",), status="outlier"),
    "redundancy": dict(label="Redundant", operator="find_redundant",
                       score_label="Distance to the kept sample",
                       fields=("link", "distance"), status="redundant"),
    "filter": dict(label="Filter", operator="filter_dataset", score_label="Outlier score",
                   fields=(), status=None),
    "representatives": dict(label="Representatives", operator="find_representatives",
                            score_label="Distance to medoid",
                            fields=("cluster", "distance", "rank"), status="representative"),
    "label_issues": dict(label="Label issues", operator="find_label_issues",
                         score_label="Label quality", fields=("quality", "suggestion"),
                         status=None),
    # find_label_issues(pred_field=): cleanlab object detection on a detector's boxes.
    "detection_issues": dict(label="Label issues (predictions)", operator="find_label_issues",
                             score_label="Box label quality", fields=(), status=None,
                             objects_only=True),
    "image_issues": dict(label="Image issues", operator="find_image_issues", score_label=None,
                         fields=(), status=None, per_tag=True,
                         histograms=(("brightness", "Brightness"), ("contrast", "Contrast"),
                                     ("sharpness", "Sharpness"),
                                     ("colorfulness", "Colourfulness"),
                                     ("aspect_ratio", "Aspect ratio"), ("size", "Size"))),
    "duplicates": dict(label="Duplicates", operator="find_duplicates",
                       score_label=None, fields=(), status=None),
    "leaks": dict(label="Leaks between splits", operator="find_leaks",
                  score_label="Distance to the training copy", fields=(), status=None),
}

# Operators the panel offers, in pipeline order: (name, button label).
ACTIONS = [
    ("compute_embeddings", "Compute embeddings"),
    ("find_outliers", "Find outliers"),
    ("find_redundant", "Find redundant"),
    ("filter_dataset", "Filter (outliers + redundant)"),
    ("find_representatives", "Find representatives"),
    ("find_label_issues", "Find label issues"),
    ("compute_cam", "Compute CAM heatmaps"),
    ("find_image_issues", "Find image issues"),
    ("find_duplicates", "Find duplicates"),
    ("find_leaks", "Find leaks between splits"),
]


# Steps that run on the objects of a Detections/Polylines field (``patches_field=``).
OBJECT_STEPS = ("outliers", "redundancy", "filter", "representatives", "label_issues",
                "detection_issues")


def _runs(samples, runs):
    return winnow_runs.list_runs(samples) if runs is None else runs


def scope_runs(runs, patches_field=None):
    """The runs on samples (``patches_field=None``) or on the objects of ``patches_field``."""
    return [r for r in runs if r.get("patches_field") == patches_field]


def object_fields(samples, runs=None):
    """The objects fields that runs of :data:`STEPS` were made on and that still exist,
    in the order first run (what the panel's samples / objects switch offers)."""
    out = []
    for run in step_runs(_runs(samples, runs)):
        name = run.get("patches_field")
        if name and name not in out and samples.get_field(name) is not None:
            out.append(name)
    return out


def _object_tags(run):
    """The label tags a run wrote on the objects of its ``patches_field``."""
    return [t for t, fields in (run.get("label_tags") or {}).items()
            if run["patches_field"] in fields]


def _attribute(pf, path):
    """``gt.detections.outlier_score`` -> ``outlier_score`` (an object's attribute)."""
    prefix = pf.list_path + "."
    return path[len(prefix):] if path and path.startswith(prefix) else None


def _objects_with_tags(samples, pf, tags):
    return samples.filter_labels(pf.name, F("tags").contains(list(tags)), only_matches=False)


def step_runs(runs):
    """The runs of the steps in :data:`STEPS`, in pipeline order, oldest first per step."""
    order = list(STEPS)
    chosen = [r for r in runs if r["method"] in STEPS]
    return sorted(chosen, key=lambda r: order.index(r["method"]))  # stable: keeps run order


def newest_run(runs, method):
    """The most recent run of ``method``, or None."""
    found = [r for r in runs if r["method"] == method]
    return found[-1] if found else None


def run_field(samples, run, role):
    """The field a run wrote for ``role`` (its record's ``roles``), if it still exists."""
    roles = run.get("roles") or dict(zip(STEPS.get(run["method"], {}).get("fields", ()),
                                          run.get("fields", [])))
    name = roles.get(role)
    return name if name and samples.get_field(name) is not None else None


def run_score(samples, run):
    """A run's score ``{"field", "descending"}`` if its field exists and is numeric."""
    score = run.get("score")
    if not score or not _is_numeric(samples, score.get("field")):
        return None
    return dict(field=score["field"], descending=bool(score.get("descending")))


def summarize(samples, runs=None, patches_field=None):
    """One finding per Winnow run of a step in :data:`STEPS`; one per step never run.

    Args:
        samples: a dataset or view
        runs (None): ``winnow.list_runs(samples)`` if already loaded
        patches_field (None): a Detections/Polylines field: the runs made on its
            objects (steps of :data:`OBJECT_STEPS`), counted in objects: ``total``
            is its number of objects, ``tags`` a run's label tags and ``count`` the
            objects with any of them (``count_label_tags``); else the runs on samples

    Returns:
        a dict ``{"total": N, "findings": [...]}``; each finding has ``id`` (the
        run key, or the method of a step never run), ``method``, ``label``,
        ``computed``, ``operator``, ``run_key``, ``tags`` (the run's sample tags),
        ``count`` and ``fraction`` (samples with any of them), ``score`` (see
        :func:`run_score`), ``saved_views`` (``[{"name", "count"}]``), ``per_tag``
        (the step's tags are kinds, e.g. image issues) and ``kinds``: for such a
        step, each tag found ``[{"tag", "count", "view"}]`` (``view``: the run's
        saved view of that tag, or None), else ``[]``; and ``objects``: the
        objects field (``patches_field``) or None. The dict has ``objects`` too
    """
    runs = scope_runs(step_runs(_runs(samples, runs)), patches_field)
    pf = None
    if patches_field is not None:
        pf = inputs.patches_field(samples, patches_field)
        total = samples.count(pf.list_path) if len(samples) else 0
        tag_counts = samples.count_label_tags(pf.name) if total else {}
    else:
        total = len(samples)
        tag_counts = samples.count_values("tags") if total else {}
    dataset = samples._root_dataset
    labels = _labels(runs)
    out = []
    for method, step in STEPS.items():
        if pf is not None and method not in OBJECT_STEPS:
            continue
        if pf is None and step.get("objects_only"):
            continue
        step_found = [r for r in runs if r["method"] == method]
        if not step_found:
            out.append(dict(id=method, method=method, label=step["label"], computed=False,
                            operator=OPERATOR_PREFIX + step["operator"], run_key=None,
                            tags=[], count=0, fraction=0.0, score=None, saved_views=[],
                            per_tag=bool(step.get("per_tag")), kinds=[],
                            objects=patches_field))
            continue
        for run in step_found:
            tags = _object_tags(run) if pf else list(run.get("tags") or [])
            if len(tags) == 1:
                count = int(tag_counts.get(tags[0], 0))
            elif pf:  # an object with several of the run's label tags counts once
                count = (_objects_with_tags(samples, pf, tags).count(pf.list_path)
                         if tags and total else 0)
            else:  # a sample with several of the run's tags counts once
                count = len(samples.match_tags(tags)) if tags and total else 0
            views = []
            for name in run.get("saved_views", []):
                if dataset.has_saved_view(name):
                    views.append(dict(name=name, count=len(dataset.load_saved_view(name))))
            # The record says which saved view shows which tag: {view name: tag}.
            view_tags = run["params"].get("views") or {}
            kinds = []
            if step.get("per_tag"):
                for tag in tags:
                    n = int(tag_counts.get(tag, 0))
                    if n:
                        view = next((v for v, t in view_tags.items() if t == tag), None)
                        kinds.append(dict(tag=tag, count=n, view=view))
            out.append(dict(id=run["key"], method=method, label=labels[run["key"]],
                            computed=True, operator=OPERATOR_PREFIX + step["operator"],
                            run_key=run["key"], tags=tags, count=count,
                            fraction=(count / total) if total else 0.0,
                            score=run_score(samples, run), saved_views=views,
                            per_tag=bool(step.get("per_tag")), kinds=kinds,
                            objects=patches_field))
    return dict(total=total, findings=out, objects=patches_field)


def _labels(runs):
    """The step's label for each run key, with the name that tells apart several runs
    of one step: their score field when those differ, else their run keys."""
    labels = {}
    for method, step in STEPS.items():
        step_found = [r for r in runs if r["method"] == method]
        if len(step_found) == 1:
            labels[step_found[0]["key"]] = step["label"]
            continue
        scores = [(r.get("score") or {}).get("field") for r in step_found]
        distinct = None not in scores and len(set(scores)) == len(scores)
        for run, score in zip(step_found, scores):
            prefix = "winnow_%s_" % method
            name = score if distinct else (run["key"][len(prefix):]
                                           if run["key"].startswith(prefix) else run["key"])
            labels[run["key"]] = "%s (%s)" % (step["label"], name)
    return labels


def run_view(samples, run):
    """What a Winnow run found: its tagged samples, most striking first by its score;
    else the samples it wrote a value to. For a run on objects, a patches view of
    the objects it tagged (else those it wrote a value to), ordered the same way."""
    score = run_score(samples, run)
    if run.get("patches_field"):
        return _objects_run_view(samples, run, score)
    if run.get("tags"):
        view = samples.match_tags(run["tags"])
    else:
        fields = [f for f in run.get("fields", []) if samples.get_field(f) is not None]
        if not fields:
            return samples.limit(0)
        view = samples.exists(fields[0])
    if score:
        view = view.sort_by(score["field"], reverse=score["descending"])
    return view


def _objects_run_view(samples, run, score):
    pf = inputs.patches_field(samples, run["patches_field"])
    tags = _object_tags(run)
    if tags:
        view = samples.filter_labels(pf.name, F("tags").contains(tags))
    else:
        attrs = [a for a in (_attribute(pf, f) for f in run.get("fields", [])) if a]
        if not attrs:
            return samples.limit(0)
        view = samples.filter_labels(pf.name, F(attrs[0]).exists())
    patches = view.to_patches(pf.name)
    attr = score and _attribute(pf, score["field"])
    if attr:  # in a patches view each object is the field itself: <field>.<attribute>
        patches = patches.sort_by("%s.%s" % (pf.name, attr), reverse=score["descending"])
    return patches


def object_field_of(samples, path):
    """The Detections/Polylines field whose objects' attribute ``path`` is (e.g.
    ``gt.detections.outlier_score`` -> ``("gt", "outlier_score")``), else None."""
    name = path.split(".", 1)[0] if path else None
    if not name or "." not in path:
        return None
    try:
        pf = inputs.patches_field(samples, name)
    except ValueError:
        return None
    attr = _attribute(pf, path)
    return (pf.name, attr) if attr else None


def histogram_view(samples, field, lo, hi, last):
    """The samples (or, for an objects' attribute, a patches view of the objects)
    whose ``field`` lies in the histogram bar ``[lo, hi)`` (``[lo, hi]`` for the last)."""
    found = object_field_of(samples, field)
    name = found[1] if found else field
    upper = F(name) <= float(hi) if last else F(name) < float(hi)
    match = (F(name) >= float(lo)) & upper
    if found:
        return samples.filter_labels(found[0], match).to_patches(found[0])
    return samples.match(match)


def histograms(samples, runs=None, bins=25):
    """Histograms of the runs' score fields (each field once), in one aggregation pass:
    each run's ``score`` and the score fields its step names (``histograms`` in
    :data:`STEPS`: image issues' brightness, contrast, sharpness, ...), read from the
    run's ``roles``.

    Returns:
        a list of dicts ``{field, label, counts, edges, objects}``, in pipeline
        order (``objects``: the objects field of an object attribute's scores, else None)
    """
    import fiftyone.core.aggregations as foa

    wanted, objects = {}, {}
    for run in step_runs(_runs(samples, runs)):
        step = STEPS[run["method"]]
        score = run_score(samples, run)
        if score and score["field"] not in wanted:
            wanted[score["field"]] = "%s (%s)" % (step["score_label"], score["field"])
            if run.get("patches_field"):
                objects[score["field"]] = run["patches_field"]
        for role, label in step.get("histograms", ()):
            field = run_field(samples, run, role)
            if _is_numeric(samples, field) and field not in wanted:
                wanted[field] = "%s (%s)" % (label, field)
    if not wanted or not len(samples):
        return []
    results = samples.aggregate([foa.HistogramValues(f, bins=bins) for f in wanted])
    out = []
    for (field, label), (counts, edges, _other) in zip(wanted.items(), results):
        out.append(dict(field=field, label=label, objects=objects.get(field),
                        counts=[int(c) for c in counts], edges=[float(e) for e in edges]))
    return out


def _is_numeric(samples, field):
    return bool(field) and isinstance(samples.get_field(field), (fof.FloatField, fof.IntField))


def label_field(samples, runs=None):
    """The classification field of the newest run that names one, else ``ground_truth``
    or the first classification field present."""
    for run in reversed(scope_runs(_runs(samples, runs))):
        name = run["params"].get("label_field")
        if name and samples.get_field(name) is not None:
            return name
    schema = samples.get_field_schema(embedded_doc_type=fol.Classification)
    if "ground_truth" in schema:
        return "ground_truth"
    return next(iter(schema), None)


def embeddings_field(samples, runs=None, patches_field=None):
    """The embeddings field of the latest Winnow embeddings run, else ``embedding`` if present.

    With ``patches_field``, the objects' vector attribute (e.g. ``embedding``) of
    the latest run on that field's objects that names one (an embeddings run
    first), else ``embedding`` if its objects have that attribute.
    """
    if patches_field is None:
        for run in reversed(scope_runs(_runs(samples, runs))):
            name = run["params"].get("embeddings_field")
            if run["method"] == "embeddings" and name and samples.get_field(name) is not None:
                return name
        return "embedding" if samples.get_field("embedding") is not None else None
    pf = inputs.patches_field(samples, patches_field)
    scoped = scope_runs(_runs(samples, runs), patches_field)
    for run in sorted(reversed(scoped), key=lambda r: r["method"] != "embeddings"):
        name = run["params"].get("embeddings_field")
        if name and samples.get_field(pf.path(name)) is not None:
            return name
    return "embedding" if samples.get_field(pf.path("embedding")) is not None else None


def label_review_fields(samples, runs=None, patches_field=None):
    """Names the newest label-issue run wrote: ``{run_key, tag, quality_field,
    suggestion_field, label_field, objects}``, or None if there is none or its fields
    are gone. With ``patches_field``, the newest run on that field's objects:
    ``quality_field``/``suggestion_field`` are then the objects' attributes
    (``label_quality``, ``suggested_label``), ``tag`` a label tag, ``label_field`` None."""
    run = newest_run(scope_runs(_runs(samples, runs), patches_field), "label_issues")
    if run is None:
        return None
    score = run_score(samples, run)
    quality = score["field"] if score else run_field(samples, run, "quality")
    suggestion = run_field(samples, run, "suggestion")
    if patches_field is not None:
        pf = inputs.patches_field(samples, patches_field)
        quality, suggestion = _attribute(pf, quality), _attribute(pf, suggestion)
        tag = run["params"].get("tag") or next(iter(_object_tags(run)), None)
        label = None
    else:
        tag = run["params"].get("tag") or next(iter(run.get("tags") or []), None)
        label = run["params"].get("label_field")
    if not (quality and suggestion and tag):
        return None
    return dict(run_key=run["key"], tag=tag, quality_field=quality,
                suggestion_field=suggestion, objects=patches_field,
                label_field=label if label and samples.get_field(label) is not None else None)


def review(samples, reviewed_tags, runs=None, limit=8, patches_field=None):
    """The newest label-issue run's flagged samples still to review, worst label first.

    Args:
        samples: a dataset or view
        reviewed_tags: sample tags that mark a sample as already reviewed (label
            tags that mark an object, with ``patches_field``)
        runs (None): ``winnow.list_runs(samples)`` if already loaded
        limit (8): rows to return
        patches_field (None): a Detections/Polylines field: review the flagged
            objects of the newest label-issue run on its objects instead

    Returns:
        a dict with ``rows`` (``[{id, filepath, given, suggested, quality}]``; for
        objects ``id`` is the object's label id, with ``sample_id`` and ``box``,
        its relative ``[x, y, w, h]`` in its sample's image), ``pending`` (flagged
        samples or objects not reviewed yet), ``reviewed`` (``{tag: count}`` for
        ``reviewed_tags``) and ``fields`` (:func:`label_review_fields`)
    """
    if patches_field is not None:
        return _object_review(samples, reviewed_tags, runs, limit, patches_field)
    reviewed_tags = list(reviewed_tags)
    tag_counts = samples.count_values("tags") if len(samples) else {}
    out = dict(rows=[], pending=0, reviewed={t: int(tag_counts.get(t, 0)) for t in reviewed_tags},
               fields=label_review_fields(samples, runs))
    names = out["fields"]
    if names is None:
        return out
    todo = samples.match_tags(names["tag"]).match_tags(reviewed_tags, bool=False)
    view = todo.sort_by(names["quality_field"]).limit(limit)
    paths = ["id", "filepath", names["quality_field"], _label_path(samples, names["suggestion_field"])]
    if names["label_field"]:
        paths.append(_label_path(samples, names["label_field"]))
    values = view.values(paths)
    for row in zip(*values):
        sid, filepath, quality, suggested = row[:4]
        given = row[4] if names["label_field"] else None
        out["rows"].append(dict(
            id=sid, filepath=filepath, given=_label_text(given), suggested=_label_text(suggested),
            quality=None if quality is None else round(float(quality), 3)))
    out["pending"] = len(todo) if out["rows"] else 0
    return out


def _object_review(samples, reviewed_tags, runs, limit, patches_field):
    from .images import polyline_box

    reviewed_tags = list(reviewed_tags)
    pf = inputs.patches_field(samples, patches_field)
    tag_counts = samples.count_label_tags(pf.name) if len(samples) else {}
    out = dict(rows=[], pending=0, reviewed={t: int(tag_counts.get(t, 0)) for t in reviewed_tags},
               fields=label_review_fields(samples, runs, patches_field))
    names = out["fields"]
    if names is None:
        return out
    tags = F("tags")
    todo = samples.filter_labels(pf.name, tags.contains(names["tag"])
                                 & ~tags.contains(reviewed_tags))
    geometry = "bounding_box" if pf.kind == "detections" else "points"
    # Only the flagged objects' few attributes are read; ordering them here avoids a
    # patches view (a collection FiftyOne would materialize on every refresh).
    columns = todo.values(["id", "filepath"] + [pf.path(a) for a in (
        "id", "label", names["suggestion_field"], names["quality_field"], geometry)])
    rows = []
    for s, (sid, filepath) in enumerate(zip(columns[0], columns[1])):
        for o, oid in enumerate(columns[2][s] or []):
            given, suggested, quality, shape = (c[s][o] for c in columns[3:])
            box = shape if geometry == "bounding_box" else polyline_box(shape)
            rows.append(dict(id=oid, sample_id=sid, filepath=filepath, box=box,
                             given=given, suggested=suggested,
                             quality=None if quality is None else round(float(quality), 3)))
    rows.sort(key=lambda r: (r["quality"] is None, r["quality"]))
    out["rows"] = rows[:limit]
    out["pending"] = len(rows)
    return out


def _label_path(samples, field):
    # Multi-label fields hold a list of classifications.
    if isinstance(samples.get_field(field), fof.EmbeddedDocumentField) and issubclass(
            samples.get_field(field).document_type, fol.Classifications):
        return field + ".classifications.label"
    return field + ".label"


def _label_text(value):
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value


def redundant_groups(samples, runs=None, limit=3, copies=5):
    """The newest redundancy run's largest groups: a kept sample and its redundant copies.

    Returns:
        a list of ``{kept_id, kept_filepath, copies: [{id, filepath}], count}``,
        largest group first (``copies`` nearest first, at most ``copies``)
    """
    run = newest_run(scope_runs(_runs(samples, runs)), "redundancy")
    if run is None or not run.get("tags"):
        return []
    link = run_field(samples, run, "link")
    if link is None:
        return []
    score = run_score(samples, run)
    distance = score["field"] if score else run_field(samples, run, "distance")
    counts = samples.match_tags(run["tags"]).count_values(link)
    top = sorted(((n, k) for k, n in counts.items() if k), reverse=True)[:limit]
    groups = []
    for n, kept_id in top:
        kept = samples.select([kept_id]).values("filepath")
        view = samples.match(F(link) == kept_id)
        if distance:
            view = view.sort_by(distance)
        ids, paths = view.limit(copies).values(["id", "filepath"])
        groups.append(dict(kept_id=kept_id, kept_filepath=kept[0] if kept else None,
                           copies=[dict(id=i, filepath=p) for i, p in zip(ids, paths)],
                           count=int(n)))
    return groups


def map_fields(samples, runs=None, patches_field=None):
    """The names the embedding map's colourings read, from the newest run of each step.

    Returns:
        a dict: ``status_tags`` (``[(status, [tags])]``, drawing order of precedence:
        the first status whose tags a sample has wins), ``link_field`` (redundant →
        kept), ``cluster_field``, ``quality_field`` and ``label_field`` (None where
        no run wrote one). With ``patches_field``: the names for a map of its
        objects, from the runs on them: ``status_tags`` are label tags and every
        other name is an attribute of the objects (``label_field`` is ``label``)
    """
    runs = scope_runs(_runs(samples, runs), patches_field)
    pf = inputs.patches_field(samples, patches_field) if patches_field else None
    status_tags = []
    for method, step in STEPS.items():
        tags = sorted({t for r in runs if r["method"] == method
                       for t in (_object_tags(r) if pf else r.get("tags") or [])})
        if step["status"] and tags:
            status_tags.append((step["status"], tags))
    redundancy = newest_run(runs, "redundancy")
    representatives = newest_run(runs, "representatives")
    review_fields = label_review_fields(samples, runs, patches_field)
    link = redundancy and run_field(samples, redundancy, "link")
    cluster = representatives and run_field(samples, representatives, "cluster")
    if pf:
        link, cluster = _attribute(pf, link), _attribute(pf, cluster)
        label = "label"
    else:
        label = label_field(samples, runs)
    return dict(
        status_tags=status_tags,
        link_field=link,
        cluster_field=cluster,
        quality_field=review_fields and review_fields["quality_field"],
        label_field=label,
        objects=patches_field,
    )
