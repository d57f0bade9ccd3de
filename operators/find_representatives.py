"""@winnow/curation/find_representatives: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from . import _filter_form as form
from ._common import (call_operator, engine_defaults, engine_options, flag, form_values,
                      operator_config, run_engine, summarize)

K_MODES = [("number", "Number of clusters"), ("auto", "Auto (silhouette)"),
           ("percent", "% of samples")]
DEFAULT_K_PERCENT = 1.0  # the "% of samples" mode's default (the engine's k is a count)
BACKENDS = [("auto", "Auto: alternate + eager swap; sampling when the matrix won't fit"),
            ("alternate", "scikit-learn-extra alternate (fast, rougher)"),
            ("pam", "scikit-learn-extra PAM (exact swap, slow: small sets only)"),
            ("clara", "CLARA-style sampling (any size)"),
            ("fasterpam", "FasterPAM (needs the GPL 'kmedoids' package)")]


class FindRepresentatives(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "find_representatives", "Winnow: find representatives (k-medoids)",
            "Cluster with k-medoids and tag one real image per cluster")

    def resolve_input(self, ctx):
        from winnow.plugin import inputs as checks

        engine = _engine()
        d = engine_defaults(engine.find_representatives)
        inputs = types.Object()
        samples = ctx.target_view()

        objects, patches = form.add_objects_choice(ctx, inputs)
        # Optional here (as this form always had it): a missing value takes the default.
        embeddings = form.add_object_embeddings_choice(ctx, inputs, d["embeddings_field"],
                                                       patches, required=False)

        per_class = ctx.params.get("per_class") or ""
        modes = types.RadioGroup(orientation="horizontal")
        for value, label in K_MODES:
            modes.add_choice(value, label=label)
        inputs.enum("k_mode", modes.values(), default=_k_mode(d["k"]), label="k", view=modes)
        mode = ctx.params.get("k_mode", _k_mode(d["k"]))
        each = " per class" if per_class else ""
        k_percent = None
        if mode == "auto":
            inputs.int("k_min", default=d["k_range"][0], min=2, label="Smallest k" + each)
            inputs.int("k_max", default=d["k_range"][1], min=2, label="Largest k" + each)
        elif mode == "percent":
            # The engine's default k is a number of clusters; this mode's own default share.
            k_percent = inputs.float(
                "k_percent",
                default=100.0 * d["k"] if isinstance(d["k"], float) else DEFAULT_K_PERCENT,
                required=True, min=0.0, max=99.0,
                label="Representatives, % of the samples" + each,
                description="At least one per cluster group")
        else:
            inputs.int("k", default=d["k"] if isinstance(d["k"], int) else None, min=1,
                       label="Clusters" + each)

        if patches:
            classes = form.add_object_per_class(
                inputs, d["per_class"], "Cluster each class of",
                "Every object label gets its own representatives")
        else:
            labels = types.DropdownView()
            labels.add_choice("", label="(whole view at once)")
            for f in form.label_fields(ctx):
                labels.add_choice(f, label=f)
            classes = inputs.enum("per_class", labels.values(), default=d["per_class"] or "",
                                  required=False, label="Cluster each class of", view=labels,
                                  description="A label field: every class gets its own "
                                              "representatives")

        metric = types.RadioGroup(orientation="horizontal")
        for m in engine.METRICS:
            metric.add_choice(m, label=m)
        inputs.enum("metric", metric.values(), default=d["metric"], label="Distance",
                    view=metric)
        backends = types.DropdownView()
        for value, label in BACKENDS:
            backends.add_choice(value, label=label)
        # The form's "backend" is the engine's method.
        inputs.enum("backend", backends.values(), default=d["method"], label="Algorithm",
                    view=backends)
        cluster = inputs.str("cluster_field", default=d["cluster_field"], label="Cluster field",
                             description="Distances and ranks go to %s and %s, or "
                                         "<field>_medoid_distance and <field>_medoid_rank "
                                         "for another field"
                                         % (d["distance_field"], d["rank_field"]))
        tag = inputs.str("tag", default=d["tag"], label="Medoid tag")
        inputs.bool("overwrite", default=d["overwrite"],
                    label="Overwrite existing fields or tag")

        if ctx.dataset is not None:
            o = _options(form_values(inputs, ctx.params), d)
            pf = None
            if patches:
                pf = form.check_objects(samples, o, dict(patches_field=objects,
                                                         embeddings_field=embeddings))
            else:
                flag(embeddings, checks.check_vector_field, samples.get_field_schema(),
                     o["embeddings_field"])
            if o["per_class"] and not patches:
                flag(classes, checks.label_field, samples, o["per_class"])
            if k_percent is not None and form.percent(ctx.params, "k_percent") is not None:
                flag(k_percent, form.check_fraction, o["k"], "Representatives %")
            key_field, overwrite = o["cluster_field"], o["overwrite"]
            if patches and pf is None:  # flagged on the objects choice
                return types.Property(inputs,
                                      view=types.View(label="Winnow: find representatives"))
            view_name = engine.saved_view_name(key_field, pf.name if pf else None)
            if flag(cluster, form.check_outputs, samples, engine.STEP, pf, key_field,
                    fields=[o["cluster_field"], o["distance_field"], o["rank_field"]],
                    overwrite=overwrite):
                flag(cluster, form.check_outputs, samples, engine.STEP, pf, key_field,
                     saved_views=[view_name], overwrite=overwrite)
            flag(tag, form.check_outputs, samples, engine.STEP, pf, key_field, tags=[o["tag"]],
                 overwrite=overwrite)
        return types.Property(inputs, view=types.View(label="Winnow: find representatives"))

    def execute(self, ctx):
        engine = _engine()
        options = _options(ctx.params, engine_defaults(engine.find_representatives))
        field = options["embeddings_field"]
        samples = ctx.target_view()
        # Samples without a vector (unreadable images) can't be clustered: skip them (the
        # engine skips objects without one itself).
        usable = samples.exists(field) if field in samples.get_field_schema() \
            and options["patches_field"] is None else samples
        options["samples"] = usable
        results = yield from run_engine(ctx, engine.find_representatives, "Clustering",
                                        **options)
        skipped = len(samples) - results.num_samples
        message = str(results)
        if options["patches_field"] is not None:
            skipped = 0  # the results' own note counts the objects without a vector
        if skipped:
            message += "; %d samples without %r skipped" % (skipped, field)
        yield from summarize(ctx, message)

    def __call__(self, samples, delegate=False, **options):
        """Runs the operator from Python with ``winnow.find_representatives``'s
        options::

            foo.get_operator("@winnow/curation/find_representatives")(dataset, k=20)

        ``k`` is an int, a fraction in (0, 1) or ``"auto"``.
        """
        d = engine_defaults(_engine().find_representatives)
        # Another cluster field gets its own distance and rank fields, as in the form.
        options = dict(_field_names(options.get("cluster_field"), d), **options)
        return call_operator(
            self, samples, options, d, delegate,
            k_mode=lambda p: _k_mode(p["k"]),
            k_percent=lambda p: 100.0 * p["k"] if isinstance(p["k"], float) else None,
            k_min=lambda p: p["k_range"][0], k_max=lambda p: p["k_range"][1])


def _engine():
    from winnow.plugin import representatives

    return representatives


def _options(params, defaults):
    options = form.objects(engine_options(params, defaults, method=lambda p: p.get("backend")))
    if "method" not in params:  # the App's "backend" field, not the engine's old name
        options.pop("backend", None)
    options.update(k=_k(params, defaults["k"]), k_range=(
        int(params.get("k_min") or defaults["k_range"][0]),
        int(params.get("k_max") or defaults["k_range"][1])))
    if "distance_field" not in params:  # the form derives them from the cluster field
        options.update(_field_names(options["cluster_field"], defaults))
    return options


def _field_names(cluster_field, defaults):
    # Another cluster field gets its own distance and rank fields, so runs coexist.
    if cluster_field in (None, defaults["cluster_field"]):
        return {}
    return dict(distance_field=cluster_field + "_medoid_distance",
                rank_field=cluster_field + "_medoid_rank")


def _k_mode(k):
    if k == "auto":
        return "auto"
    return "percent" if isinstance(k, float) else "number"


def _k(params, default):
    mode = params.get("k_mode")
    if mode == "auto":
        return "auto"
    if mode == "percent":
        fraction = form.percent(params, "k_percent")
        return default if fraction is None else fraction
    return int(params["k"]) if params.get("k") not in (None, "") else default

