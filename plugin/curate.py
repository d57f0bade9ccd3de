"""One call, one report: every Winnow step with good defaults."""

import time

from . import inputs, models, runs


class CurateResults:
    """What :func:`curate` did: each step's results and a summary table.

    Attributes:
        dataset_name: the dataset curated
        num_samples: samples in the view (objects with ``patches_field``)
        steps: a dict ``{step: results object}``
        rows: the summary rows ``(step, found, share, where to look)``
        seconds: wall time
        patches_field: None, or the objects field curated
    """

    def __init__(self, dataset_name, num_samples, steps, rows, seconds, patches_field=None):
        self.dataset_name = dataset_name
        self.num_samples = num_samples
        self.steps = steps
        self.rows = rows
        self.seconds = seconds
        self.patches_field = patches_field

    def table(self):
        """The summary as a Markdown table."""
        lines = ["| step | found | share | where to look |", "|---|---:|---:|---|"]
        for step, found, share, where in self.rows:
            lines.append("| %s | %s | %s | %s |" % (step, found, share, where))
        return "\n".join(lines)

    def __repr__(self):
        what = "objects of %r" % self.patches_field if self.patches_field else "samples"
        return "Winnow curation of %r: %d %s in %.1f s\n\n%s" % (
            self.dataset_name, self.num_samples, what, self.seconds, self.table())


def curate(samples, *, label_field=None, embeddings_field="embedding",
           model=models.DEFAULT_MODEL, outliers=0.05, redundant=0.05, k="auto", per_class=None,
           image_issues=True, recompute_embeddings=False, progress=None, patches_field=None):
    """Runs every curation step on a dataset or view and summarizes what was found.

    Image issues (:func:`winnow.find_image_issues`: dark, light, blurry, ...),
    embeddings (computed unless ``embeddings_field`` is already filled; the
    image issues are then scored in the same decoding pass) → outliers →
    redundancy (both the thesis way, :func:`winnow.filter_dataset`) → k-medoid
    representatives → label issues (when ``label_field`` is given). With reused
    embeddings the image issues run right after the filter has read and checked
    them, so a bad embeddings field fails before anything is written; the table
    lists image issues first either way.
    Each step records its own run; re-running replaces them. Every step's
    parameters are checked before the first step writes anything.

    Args:
        samples: a dataset or view
        label_field (None): a ``Classification``/``Classifications`` field; enables
            class-aware representatives and the label-issue step
        embeddings_field ("embedding"): the vector field to use (and fill)
        model ("efficientnet-lite0"): the model for embeddings
        outliers (0.05), redundant (0.05): shares to tag
        k ("auto"): representatives (an int, or "auto" to choose by silhouette)
        per_class (None): a label field for class-aware filtering (keeps class
            proportions); defaults to none
        image_issues (True): find pixel-level issues first (default thresholds)
        recompute_embeddings (False): recompute even when the field is filled
        progress (None): see :func:`winnow.compute_embeddings`
        patches_field (None): a ``fo.Detections``/``fo.Polylines`` field: curate
            its OBJECTS. Object embeddings (the attribute ``embeddings_field``,
            computed unless some object has one), the filter and the
            representatives run on the objects (results as object attributes,
            label tags and patches views); image issues still score the whole
            images. ``label_field`` may then only be the objects field's own
            name: the objects' labels, which enables representatives per object
            label and the object label-issue step; ``per_class=True`` filters
            per object label. Shares in the table are of the objects

    Returns:
        a :class:`CurateResults`
    """
    from .embeddings import compute_embeddings
    from .filtering import filter_dataset
    from .image_issues import find_image_issues
    from .label_issues import find_label_issues
    from .representatives import find_representatives

    started = time.time()
    inputs.check_collection(samples)
    samples = inputs.samples_of_patches(samples, patches_field)
    n = len(samples)
    if n == 0:
        raise ValueError("The view is empty: there is nothing to curate")
    pf = inputs.resolve_patches(samples, patches_field)
    if pf is not None:
        return _curate_objects(
            samples, pf, started, label_field=label_field, embeddings_field=embeddings_field,
            model=model, outliers=outliers, redundant=redundant, k=k, per_class=per_class,
            image_issues=image_issues, recompute_embeddings=recompute_embeddings,
            progress=progress)
    filled = (embeddings_field in samples.get_field_schema()
              and len(samples.exists(embeddings_field)) > 0)
    # Reused embeddings: the steps will see only the embedded samples.
    embedded = samples.exists(embeddings_field) if filled and not recompute_embeddings \
        else samples
    label = _validate(embedded, label_field, outliers, redundant, k, per_class, image_issues)
    multi_label = label.multi_label if label else None

    steps = {}
    rows = []
    if recompute_embeddings or not filled:
        # One decoding pass for the embeddings and the image issues.
        res = compute_embeddings(samples, model=model, embeddings_field=embeddings_field,
                                 image_issues=image_issues, progress=progress)
        issues = res.image_issues
        rows.append(("embeddings", "%d embedded, %d failed" % (res.num_embedded, res.num_failed),
                     _share(res.num_embedded, n),
                     "field `%s` (failures: `%s`)" % (embeddings_field, res.error_field)))
        steps["embeddings"] = res
    else:
        issues = None
        have = len(samples.exists(embeddings_field))
        rows.append(("embeddings", "%d reused" % have, _share(have, n),
                     "field `%s`" % embeddings_field))

    res = filter_dataset(samples, outliers=outliers, redundant=redundant, per_class=per_class,
                         embeddings_field=embeddings_field, progress=progress)
    steps["filter"] = res
    _filter_rows(rows, res, n)
    if res.num_skipped:
        rows.insert(1, ("skipped", "%d without an embedding" % res.num_skipped,
                        _share(res.num_skipped, n),
                        "unreadable images: reasons in `%s_error`" % embeddings_field))
    if image_issues and issues is None:
        issues = find_image_issues(samples, progress=progress)
    if issues is not None:
        steps["image_issues"] = issues
        rows.insert(0, _image_issues_row(issues, n))

    # Representatives per class of a single-label field (a multi-label one has no one class).
    res = find_representatives(samples, k=k, embeddings_field=embeddings_field,
                               per_class=None if multi_label else label_field,
                               progress=progress)
    steps["representatives"] = res
    _representatives_row(rows, res, n)

    if label_field is not None:
        res = find_label_issues(samples, label_field=label_field,
                                embeddings_field=embeddings_field, progress=progress)
        steps["label_issues"] = res
        _label_issues_row(rows, res, n)

    return CurateResults(samples._root_dataset.name, n, steps, rows, time.time() - started)


def _curate_objects(samples, pf, started, *, label_field, embeddings_field, model, outliers,
                    redundant, k, per_class, image_issues, recompute_embeddings, progress):
    """:func:`curate` on the objects of ``pf`` (a ``PatchesField``)."""
    from .embeddings import compute_embeddings
    from .filtering import filter_dataset
    from .image_issues import find_image_issues
    from .label_issues import find_label_issues
    from .representatives import find_representatives

    n = samples.count(pf.list_path)
    if n == 0:
        raise ValueError("The view has no objects in %r: there is nothing to curate" % pf.name)
    if label_field not in (None, pf.name):
        raise ValueError("With patches_field=%r, label_field may only be %r (the objects' "
                         "labels) or None; got %r" % (pf.name, pf.name, label_field))
    _check_objects(samples, pf, label_field, outliers, redundant, k, per_class,
                   image_issues)
    steps, rows = {}, []
    have = samples.count(pf.path(embeddings_field))
    if recompute_embeddings or not have:
        res = compute_embeddings(samples, model=model, embeddings_field=embeddings_field,
                                 patches_field=pf.name, progress=progress)
        rows.append(("object embeddings", "%d embedded, %d failed"
                     % (res.num_embedded, n - res.num_embedded), _share(res.num_embedded, n),
                     "attribute `%s` (reasons: `%s`)" % (pf.path(embeddings_field),
                                                         res.error_field)))
        steps["embeddings"] = res
    else:
        rows.append(("object embeddings", "%d reused" % have, _share(have, n),
                     "attribute `%s`" % pf.path(embeddings_field)))
    res = filter_dataset(samples, outliers=outliers, redundant=redundant, per_class=per_class,
                         embeddings_field=embeddings_field, progress=progress,
                         patches_field=pf)
    steps["filter"] = res
    _filter_rows(rows, res, n)
    if res.num_skipped:
        rows.insert(1, ("skipped", "%d objects without an embedding" % res.num_skipped,
                        _share(res.num_skipped, n),
                        "reasons in `%s_error`" % pf.path(embeddings_field)))
    if image_issues:
        issues = find_image_issues(samples, progress=progress)
        steps["image_issues"] = issues
        rows.insert(0, _image_issues_row(issues, len(samples)))
    res = find_representatives(samples, k=k, embeddings_field=embeddings_field,
                               per_class=True if label_field else None, progress=progress,
                               patches_field=pf)
    steps["representatives"] = res
    _representatives_row(rows, res, n)
    if label_field is not None:
        res = find_label_issues(samples, embeddings_field=embeddings_field,
                                patches_field=pf.name, progress=progress)
        steps["label_issues"] = res
        _label_issues_row(rows, res, n)
    return CurateResults(samples._root_dataset.name, n, steps, rows, time.time() - started,
                         patches_field=pf.name)


def _check_objects(samples, pf, label_field, outliers, redundant, k, per_class,
                   image_issues):
    """The object curation's parameter checks, before its first step writes."""
    from . import filtering, label_issues, representatives

    if image_issues:
        _check_image_issues_outputs(samples)
    filtering.check_shares(outliers, redundant)
    inputs.object_label_path(pf, per_class)
    if label_field is not None:
        label_issues.check_classes(samples, inputs.LabelField(
            pf.name, "label_field", "classification", pf.path("label"), pf.path("id")))
    if k != "auto":
        representatives.group_k(k, samples.count(pf.list_path),
                                per_class=True if label_field else None)


def _filter_rows(rows, res, n):
    # Where to look: the names the steps wrote (from their results, never assumed).
    if res.outliers is not None:
        rows.append(("outliers", res.num_outliers, _share(res.num_outliers, n),
                     "tag `%s`, score `%s`, view `%s`" % (
                         res.outliers.tag, res.outliers.score_field, res.views["outliers"])))
    if res.redundancy is not None:
        rows.append(("redundant", res.num_redundant, _share(res.num_redundant, n),
                     "tag `%s`, link `%s`, view `%s`" % (
                         res.redundancy.tag, res.redundancy.link_field,
                         res.views["redundant"])))
    rows.append(("kept", res.num_kept, _share(res.num_kept, n),
                 "view `%s`" % res.views["kept"]))


def _representatives_row(rows, res, n):
    rows.append(("representatives", res.num_clusters, _share(res.num_clusters, n),
                 "tag `%s`, field `%s`, view `%s`" % (res.tag, res.cluster_field,
                                                       res.saved_view)))


def _label_issues_row(rows, res, n):
    rows.append(("label issues", res.num_issues, _share(res.num_issues, n),
                 "tag `%s`, fields `%s`, `%s`, view `%s`"
                 % (res.tag, res.quality_field, res.suggestion_field, res.saved_view)))


def _validate(samples, label_field, outliers, redundant, k, per_class, image_issues):
    """Checks every step's parameters before the first step writes anything, with
    the steps' own public checks.

    Args:
        samples: the samples the steps will use (the embedded ones when the
            embeddings are reused)

    Returns:
        the resolved label field (:class:`~winnow.plugin.inputs.LabelField`), or None
    """
    from . import filtering, label_issues, representatives

    label = None
    if image_issues:
        _check_image_issues_outputs(samples)
    if label_field is not None:
        label = inputs.label_field(samples, label_field, param="label_field",
                                   kinds=inputs.LABEL_FIELD_KINDS)
        # The label step needs 2 classes with enough samples: say so now, not after the
        # filter and representatives have written their results.
        label_issues.check_classes(samples, label)
    filtering.check_shares(outliers, redundant)
    if per_class is not None:
        inputs.label_field(samples, per_class)
    if k != "auto":
        # k per class is capped at the class size; without classes k must fit the view.
        representatives.group_k(k, len(samples),
                                per_class=label_field if label and not label.multi_label
                                else None)
    return label


def _check_image_issues_outputs(samples):
    # Its outputs with their default names, checked as its own step would.
    from . import image_issues as issues_step

    fields = list(issues_step.score_fields().values())
    inputs.check_writable(samples, runs.run_key(issues_step.STEP, fields[0]),
                          owners=runs.owners(samples._root_dataset), fields=fields,
                          tags=issues_step.KINDS,
                          saved_views=[issues_step.view_name(k) for k in issues_step.KINDS])


def _image_issues_row(res, n):
    flagged = len(set().union(*res.issue_ids.values())) if res.issue_ids else 0
    found = ", ".join("`%s` %d" % (kind, count) for kind, count in res.counts.items() if count)
    views = ", ".join("`%s`" % v for v in res.saved_views)
    return ("image issues", flagged, _share(flagged, n),
            "tags %s; scores `%s`, ...; views %s"
            % (found or "none", res.fields["brightness"], views or "none"))


def _share(count, n):
    return "%.1f %%" % (100.0 * count / n) if n else "-"
