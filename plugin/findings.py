"""What the Winnow steps found on a dataset, summarised with aggregations only.

Readers for the App panel and reports: counts come from ``count_values`` and
``histogram_values`` (one aggregation pipeline each), never from loading every
document, so they stay fast on 50 000 samples. A step that has not run yet is
reported as missing, with the operator that computes it.
"""

import fiftyone.core.labels as fol

from . import runs as winnow_runs

OPERATOR_PREFIX = "@winnow/curation/"

# The steps' default outputs (issues 3-6). ``fields`` are what makes a step
# "computed"; ``score`` orders what it found (``descending`` most striking first).
FINDINGS = [
    dict(name="outliers", label="Outliers", tag="outlier", method="outliers",
         fields=["outlier_score"], score="outlier_score", descending=True,
         operator="find_outliers"),
    dict(name="redundant", label="Redundant", tag="redundant", method="redundancy",
         fields=["redundant_of", "redundancy_distance"], score="redundancy_distance",
         descending=False, operator="find_redundant"),
    dict(name="representatives", label="Representatives", tag="representative",
         method="representatives", fields=["cluster", "medoid_distance"],
         score="medoid_distance", descending=False, operator="find_representatives"),
    dict(name="label_issues", label="Label issues", tag="label_issue", method="label_issues",
         fields=["label_quality", "suggested_label"], score="label_quality",
         descending=False, operator="find_label_issues"),
]

# The score distributions the panel draws.
HISTOGRAMS = [
    dict(field="outlier_score", label="Outlier score", finding="outliers"),
    dict(field="label_quality", label="Label quality", finding="label_issues"),
    dict(field="medoid_distance", label="Distance to medoid", finding="representatives"),
]

# Operators the panel offers, in pipeline order: (name, button label).
ACTIONS = [
    ("compute_embeddings", "Compute embeddings"),
    ("find_outliers", "Find outliers"),
    ("find_redundant", "Find redundant"),
    ("filter_dataset", "Filter (outliers + redundant)"),
    ("find_representatives", "Find representatives"),
    ("find_label_issues", "Find label issues"),
    ("compute_cam", "Compute CAM heatmaps"),
]


def get_finding(name):
    for finding in FINDINGS:
        if finding["name"] == name:
            return finding
    raise KeyError("Unknown finding %r; one of %s" % (name, [f["name"] for f in FINDINGS]))


def summarize(samples, runs=None):
    """Counts of what each step found.

    Args:
        samples: a dataset or view
        runs (None): ``winnow.list_runs(samples)`` if already loaded

    Returns:
        a dict ``{"total": N, "findings": [{name, label, tag, computed, count,
        fraction, operator, run_keys}, ...]}``
    """
    runs = winnow_runs.list_runs(samples) if runs is None else runs
    schema = samples.get_field_schema()
    total = len(samples)
    tag_counts = samples.count_values("tags") if total else {}
    out = []
    for finding in FINDINGS:
        keys = [r["key"] for r in runs if r["method"] == finding["method"]]
        computed = bool(keys) or finding["fields"][0] in schema
        count = int(tag_counts.get(finding["tag"], 0))
        out.append(dict(
            name=finding["name"], label=finding["label"], tag=finding["tag"],
            computed=computed, count=count,
            fraction=(count / total) if total else 0.0,
            operator=OPERATOR_PREFIX + finding["operator"], run_keys=keys,
        ))
    return dict(total=total, findings=out)


def finding_view(samples, name):
    """The samples a step flagged, most striking first (e.g. highest outlier score)."""
    finding = get_finding(name)
    view = samples.match_tags(finding["tag"])
    if samples.get_field(finding["score"]) is not None:
        view = view.sort_by(finding["score"], reverse=finding["descending"])
    return view


def run_view(samples, run):
    """What a Winnow run found: its tagged samples, or the samples it wrote a value to."""
    if run.get("tags"):
        view = samples.match_tags(run["tags"])
        for finding in FINDINGS:
            if finding["tag"] in run["tags"] and samples.get_field(finding["score"]) is not None:
                view = view.sort_by(finding["score"], reverse=finding["descending"])
                break
        return view
    fields = [f for f in run.get("fields", []) if samples.get_field(f) is not None]
    if fields:
        return samples.exists(fields[0])
    return samples.limit(0)


def histograms(samples, bins=25):
    """Histograms of the score fields that exist, in one aggregation pass.

    Returns:
        a list of dicts ``{field, label, counts, edges}`` (only computed fields)
    """
    import fiftyone.core.aggregations as foa

    present = [h for h in HISTOGRAMS if _is_numeric(samples, h["field"])]
    if not present or not len(samples):
        return []
    aggs = [foa.HistogramValues(h["field"], bins=bins) for h in present]
    results = samples.aggregate(aggs)
    out = []
    for h, (counts, edges, _other) in zip(present, results):
        out.append(dict(field=h["field"], label=h["label"],
                        counts=[int(c) for c in counts], edges=[float(e) for e in edges]))
    return out


def _is_numeric(samples, field):
    import fiftyone.core.fields as fof

    f = samples.get_field(field)
    return isinstance(f, (fof.FloatField, fof.IntField))


def label_field(samples, runs=None):
    """The classification field the label-issue step used, else the first one present."""
    runs = winnow_runs.list_runs(samples) if runs is None else runs
    for run in reversed(runs):
        name = run["params"].get("label_field")
        if name and samples.get_field(name) is not None:
            return name
    schema = samples.get_field_schema(embedded_doc_type=fol.Classification)
    if "ground_truth" in schema:
        return "ground_truth"
    return next(iter(schema), None)


def embeddings_field(samples, runs=None):
    """The embeddings field of the latest Winnow embeddings run, else ``embedding`` if present."""
    runs = winnow_runs.list_runs(samples) if runs is None else runs
    for run in reversed(runs):
        name = run["params"].get("embeddings_field")
        if run["method"] == "embeddings" and name and samples.get_field(name) is not None:
            return name
    return "embedding" if samples.get_field("embedding") is not None else None
