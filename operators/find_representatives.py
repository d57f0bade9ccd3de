"""@winnow/curation/find_representatives: the form, then one engine call."""

import fiftyone.core.fields as fof
import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import run_engine, summarize, operator_config

K_MODES = [("number", "Number of clusters"), ("auto", "Auto (silhouette)"),
           ("percent", "% of samples")]
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
        inputs = types.Object()
        ctx.target_view()
        schema = ctx.dataset.get_field_schema() if ctx.dataset is not None else {}

        vectors = [f for f, t in schema.items() if isinstance(t, (fof.VectorField,
                                                                   fof.ArrayField))]
        emb = types.DropdownView()
        for f in vectors or ["embedding"]:
            emb.add_choice(f, label=f)
        inputs.enum("embeddings_field", emb.values(),
                    default="embedding" if "embedding" in vectors or not vectors
                    else vectors[0],
                    label="Embeddings field", view=emb,
                    description="Compute embeddings first if this list is empty")

        per_class = ctx.params.get("per_class") or ""
        modes = types.RadioGroup(orientation="horizontal")
        for value, label in K_MODES:
            modes.add_choice(value, label=label)
        inputs.enum("k_mode", modes.values(), default="number", label="k", view=modes)
        mode = ctx.params.get("k_mode", "number")
        each = " per class" if per_class else ""
        if mode == "auto":
            inputs.int("k_min", default=2, min=2, label="Smallest k" + each)
            inputs.int("k_max", default=20, min=2, label="Largest k" + each)
        elif mode == "percent":
            inputs.float("k_percent", default=1.0, min=0.0, max=99.0,
                         label="Representatives, % of the samples" + each,
                         description="At least one per cluster group")
        else:
            inputs.int("k", default=10, min=1, label="Clusters" + each)

        labels = types.DropdownView()
        labels.add_choice("", label="(whole view at once)")
        for f in _label_fields(schema):
            labels.add_choice(f, label=f)
        inputs.enum("per_class", labels.values(), default="", required=False,
                    label="Cluster each class of", view=labels,
                    description="A label field: every class gets its own representatives")

        metric = types.RadioGroup(orientation="horizontal")
        for m in ("cosine", "euclidean"):
            metric.add_choice(m, label=m)
        inputs.enum("metric", metric.values(), default="cosine", label="Distance",
                    view=metric)
        backends = types.DropdownView()
        for value, label in BACKENDS:
            backends.add_choice(value, label=label)
        inputs.enum("backend", backends.values(), default="auto", label="Algorithm",
                    view=backends)
        inputs.str("cluster_field", default="cluster", label="Cluster field",
                   description="Distances and ranks go to medoid_distance and medoid_rank, "
                               "or <field>_medoid_distance and <field>_medoid_rank for "
                               "another field")
        inputs.str("tag", default="representative", label="Medoid tag")
        inputs.bool("overwrite", default=False, label="Overwrite existing fields or tag")
        return types.Property(inputs, view=types.View(label="Winnow: find representatives"))

    def execute(self, ctx):
        from winnow.plugin.representatives import find_representatives

        p = ctx.params
        field = p.get("embeddings_field", "embedding")
        samples = ctx.target_view()
        # Samples without a vector (unreadable images) can't be clustered: skip them.
        usable = samples.exists(field) if field in samples.get_field_schema() else samples
        results = yield from run_engine(
            ctx, find_representatives, "Clustering",
            samples=usable,
            k=_k(p),
            k_range=(int(p.get("k_min") or 2), int(p.get("k_max") or 20)),
            embeddings_field=field,
            per_class=p.get("per_class") or None,
            metric=p.get("metric", "cosine"),
            backend=p.get("backend", "auto"),
            **_field_names(p.get("cluster_field") or "cluster"),
            tag=p.get("tag", "representative"),
            overwrite=bool(p.get("overwrite", False)),
        )
        skipped = len(samples) - results.num_samples
        message = str(results)
        if skipped:
            message += "; %d samples without %r skipped" % (skipped, field)
        yield from summarize(ctx, message)

    def __call__(self, samples, k=10, embeddings_field="embedding", per_class=None,
                 k_range=(2, 20), metric="cosine", backend="auto", cluster_field="cluster",
                 tag="representative", overwrite=False, delegate=False):
        """Runs the operator from Python::

            foo.get_operator("@winnow/curation/find_representatives")(dataset, k=20)

        ``k`` is an int, a fraction in (0, 1) or ``"auto"``.
        """
        params = dict(embeddings_field=embeddings_field, per_class=per_class or "",
                      k_min=k_range[0], k_max=k_range[1], metric=metric, backend=backend,
                      cluster_field=cluster_field, tag=tag, overwrite=overwrite)
        if k == "auto":
            params["k_mode"] = "auto"
        elif isinstance(k, float):
            params.update(k_mode="percent", k_percent=100.0 * k)
        else:
            params.update(k_mode="number", k=k)
        return foo.execute_operator(self.uri, ctx=dict(view=samples.view(), params=params),
                                    request_delegation=delegate)


def _field_names(cluster_field):
    # Another cluster field gets its own distance and rank fields, so runs coexist.
    if cluster_field == "cluster":
        return dict(cluster_field=cluster_field)
    return dict(cluster_field=cluster_field,
                distance_field=cluster_field + "_medoid_distance",
                rank_field=cluster_field + "_medoid_rank")


def _k(params):
    mode = params.get("k_mode", "number")
    if mode == "auto":
        return "auto"
    if mode == "percent":
        return float(params.get("k_percent", 1.0)) / 100.0
    return int(params.get("k", 10))


def _label_fields(schema):
    import fiftyone.core.labels as fol

    out = []
    for name, field in schema.items():
        if name in ("filepath", "id") or name.startswith("_"):
            continue
        if isinstance(field, fof.StringField) or (
                isinstance(field, fof.EmbeddedDocumentField)
                and issubclass(field.document_type, fol.Classification)):
            out.append(name)
    return out
