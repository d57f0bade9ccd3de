"""@winnow/curation/winnow: the Winnow panel (overview, embedding map, distributions,
review, actions) in the FiftyOne App's grid. When runs were made on the objects of a
Detections/Polylines field, a samples / objects switch chooses what the findings, the
runs' counts, the embedding map and the review list show (objects: counts of label
tags, patches views, a map of the objects' vectors, object crops).

Thin by design: what to count, sample and draw comes from ``winnow.plugin``
(:mod:`~winnow.plugin.findings`, which reads every field, tag and view name from
the runs' records, and :mod:`~winnow.plugin.embedding_map`); this module turns it
into panel state (:class:`PanelState`: small, round-trips on every event), panel
data (plots, write-only) and App operations (``set_view``, operator prompts).
"""

import base64
import datetime
import io
import urllib.parse

import fiftyone.operators as foo
import fiftyone.operators.types as types

# Status colours as in Raud's tool: green kept, red outliers, blue redundant. Statuses
# are findings.STEPS' ``status`` names; which tags make them comes from the run records.
STATUS_COLORS = {
    "outlier": "#e5534b",
    "redundant": "#4c8ef7",
    "representative": "#f0b429",
    "kept": "#3fb950",
}
COLOR_MODES = [
    ("status", "Kept / outlier / redundant"),
    ("cluster", "Cluster"),
    ("label", "Label"),
    ("label_quality", "Label quality"),
]
REVIEW_ROWS = 8
REDUNDANT_GROUPS = 3
GROUP_COPIES = 5
# The panel's own review tags (not a step's output, so not in any run record).
KEEP_TAG = "label_kept"
REVIEW_TAG = "needs_review"
ACCEPTED_TAG = "suggestion_accepted"
SAMPLES = "__samples__"  # the switch's value for samples (others are objects fields)
CROP_PX = 64  # object crops in the review list are at most this many pixels a side
PARAMS_CHARS = 90  # a run's parameters beyond this are elided (full record: winnow.list_runs)
# "responsive": Plotly refits the plots to the panel when the window is resized.
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
# Layout (FiftyOne 1.22 draws vertical and horizontal stacks as CSS grids whose implicit
# track is "auto": a track grows to its widest item's min-content width, and a
# horizontal stack never wraps). So the panel's column is pinned to the panel's width
# (minmax(0, 1fr)); without it ten action buttons in one row widened it past the
# panel's edge, and Plotly sized every plot and the "Colour by" control to that
# width. Rows of buttons wrap instead (a flex row whose items keep their own width).
COLUMN_PROPS = {"grid": {"sx": {"gridTemplateColumns": "minmax(0, 1fr)",
                                "overflowWrap": "anywhere"}}}
ROW_PROPS = {"grid": {"sx": {"display": "flex", "flexWrap": "wrap",
                             "& > .MuiBox-root": {"width": "auto", "maxWidth": "100%"}}}}
CONTROL_PROPS = {"item": {"sx": {"maxWidth": 360}}}  # a dropdown need not span the panel
CATEGORY_LIMIT = 20  # categorical colourings beyond this lump the rest into "other"


class PanelState:
    """The panel's state (``ctx.panel.state``: small, sent back with every event),
    built from :mod:`~winnow.plugin.findings`' dicts. Each builder returns the keys
    it owns, for ``ctx.panel.state.set``; image rows get keys of their own
    (``review_<i>``, ``group_<g>``) because a row's ``img`` reads ``<row>.img``.
    """

    @staticmethod
    def overview(dataset_name, summary, runs, histograms, actions, names, scopes=()):
        return dict(
            dataset=dataset_name,
            total=summary["total"],
            findings=summary["findings"],
            # The objects fields runs were made on ([] hides the switch); the scope
            # shown: an objects field, or None for samples.
            scopes=list(scopes),
            scope=summary["objects"],
            runs=[_run_row(r) for r in runs],
            actions=actions,
            histograms=[dict(field=h["field"], label=h["label"], objects=h["objects"])
                        for h in histograms],
            label_field=names["label_field"],
            embeddings_field=names["embeddings_field"],
        )

    @staticmethod
    def review(review):
        state = dict(
            review=[dict(id=r["id"], sample_id=r.get("sample_id"), given=r["given"],
                         suggested=r["suggested"], quality=r["quality"])
                    for r in review["rows"]],
            review_pending=review["pending"],
            accepted=review["reviewed"].get(ACCEPTED_TAG, 0),
            # Which run's names the rows come from (shown; Accept writes its label field).
            review_fields=review["fields"],
        )
        for i, r in enumerate(review["rows"]):
            # An object is shown as its crop (its sample's image cut to its box).
            url = (_crop_url(r["filepath"], r["box"]) if "box" in r
                   else _media_url(r["filepath"]))
            state["review_%d" % i] = dict(img=url)
        return state

    @staticmethod
    def groups(groups):
        state = dict(groups=[dict(kept_id=g["kept_id"], copies=[c["id"] for c in g["copies"]],
                                  count=g["count"]) for g in groups])
        for i, g in enumerate(groups):
            images = {"kept": _media_url(g["kept_filepath"]) if g["kept_filepath"] else None}
            for j, copy in enumerate(g["copies"]):
                images["copy_%d" % j] = _media_url(copy["filepath"])
            state["group_%d" % i] = images
        return state


class WinnowPanel(foo.Panel):
    @property
    def config(self):
        return foo.PanelConfig(
            name="winnow",
            label="Winnow",
            surfaces="grid",
            icon="filter_alt",
            help_markdown="Winnow: what each curation step found, the embedding map, "
                          "score distributions and label review.",
        )

    # ------------------------------------------------------------------ events

    def on_load(self, ctx):
        self._refresh(ctx)

    def on_change_dataset(self, ctx):
        self._refresh(ctx)

    def refresh(self, ctx):
        self._refresh(ctx)

    def show_run(self, ctx):
        import winnow
        from winnow.plugin import findings

        run = winnow.get_run(ctx.dataset, ctx.params["key"])
        ctx.ops.set_view(findings.run_view(ctx.dataset, run))

    def load_saved_view(self, ctx):
        # By name, so the App shows the saved view as selected in its view bar.
        ctx.ops.set_view(name=ctx.params["name"])

    def show_tag(self, ctx):
        ctx.ops.set_view(ctx.dataset.match_tags(ctx.params["tag"]))

    def show_all(self, ctx):
        ctx.ops.clear_view()

    def set_scope(self, ctx):
        value = ctx.params.get("value")
        ctx.panel.state.scope = None if value in (None, SAMPLES) else value
        self._refresh(ctx)

    def ask_delete_run(self, ctx):
        ctx.panel.state.confirm_delete = ctx.params["key"]

    def cancel_delete(self, ctx):
        ctx.panel.state.confirm_delete = None

    def delete_run(self, ctx):
        import winnow

        key = ctx.params["key"]
        winnow.delete_run(ctx.dataset, key)
        ctx.panel.state.confirm_delete = None
        # The App's view may refer to the deleted fields or tags.
        ctx.ops.clear_view()
        ctx.ops.reload_dataset()
        ctx.ops.notify("Deleted Winnow run %s (its fields and tags)" % key, variant="success")
        self._refresh(ctx)

    def open_operator(self, ctx):
        # The App opens the operator's form for its current view.
        ctx.prompt(ctx.params["operator"])

    def set_color_by(self, ctx):
        value = ctx.params.get("value") or ctx.panel.state.color_by or "status"
        ctx.panel.state.color_by = value
        self._load_map(ctx)

    def compute_map(self, ctx):
        from winnow.plugin import embedding_map, findings

        scope = ctx.panel.state.scope
        field = findings.embeddings_field(ctx.dataset, patches_field=scope)
        embedding_map.compute_map(ctx.dataset, embeddings_field=field, patches_field=scope,
                                  method="pca", overwrite=True)
        self._load_map(ctx)

    def on_map_selected(self, ctx):
        ids = [p.get("id") for p in (ctx.params.get("data") or []) if p.get("id")]
        objects = (ctx.panel.state.map or {}).get("objects")
        if not ids:
            # The App reports an empty selection right after every lasso (Plotly
            # redraws the plot when the grid's view changes; seen in Chromium), and on
            # a double click alike: clearing the view here undid every selection. The
            # panel's "Show all samples" clears it.
            return
        if objects:
            # A map of objects: its ids are label ids. The grid shows exactly the
            # selected objects as patches (FiftyOne's own Embeddings panel selects
            # patch ids in a patches view the same way).
            ctx.ops.set_view(ctx.dataset.select_labels(ids=ids, fields=objects)
                             .to_patches(objects))
        else:
            ctx.ops.set_view(ctx.dataset.select(ids))

    def on_histogram_click(self, ctx):
        from winnow.plugin import findings

        # Bar ids are "field|lo|hi|last" (see _histogram_traces).
        bar = ctx.params.get("id")
        if not bar:
            return
        field, lo, hi, last = bar.split("|")
        ctx.ops.set_view(findings.histogram_view(ctx.dataset, field, lo, hi, last == "1"))

    def show_sample(self, ctx):
        ctx.ops.set_view(ctx.dataset.select([ctx.params["id"]]))

    def show_object(self, ctx):
        field = ctx.params["objects"]
        ctx.ops.set_view(ctx.dataset.select_labels(ids=[ctx.params["id"]], fields=field)
                         .to_patches(field))

    def accept_suggestion(self, ctx):
        from winnow.plugin import findings
        from winnow.plugin.label_review import accept_suggestions

        field = ctx.params.get("objects")
        if field:  # an object: the engine's accept on that one object
            names = findings.label_review_fields(ctx.dataset, patches_field=field)
            if names is None:
                ctx.ops.notify("No label-issue run on the objects of %s" % field,
                               variant="error")
                return
            accept_suggestions(ctx.dataset.select_labels(ids=[ctx.params["id"]], fields=field),
                               suggestion_field=names["suggestion_field"],
                               patches_field=field, tag=ACCEPTED_TAG)
            ctx.ops.reload_dataset()
            self._load_review(ctx)
            return
        names = findings.label_review_fields(ctx.dataset)
        if names is None or names["label_field"] is None:
            ctx.ops.notify("No label-issue run with a label field to write", variant="error")
            return
        accept_suggestions(ctx.dataset.select([ctx.params["id"]]),
                           suggestion_field=names["suggestion_field"],
                           label_field=names["label_field"], tag=ACCEPTED_TAG)
        ctx.ops.reload_dataset()
        self._load_review(ctx)

    def undo_accepted(self, ctx):
        from winnow.plugin import findings
        from winnow.plugin.label_review import undo_suggestions

        field = ctx.params.get("objects")
        if field:
            restored = undo_suggestions(ctx.dataset, patches_field=field, tag=ACCEPTED_TAG)
            ctx.ops.reload_dataset()
            ctx.ops.notify("Restored %d object label(s)" % restored, variant="success")
            self._load_review(ctx)
            return
        names = findings.label_review_fields(ctx.dataset) or {}
        label_field = names.get("label_field") or findings.label_field(ctx.dataset)
        restored = undo_suggestions(ctx.dataset, label_field=label_field, tag=ACCEPTED_TAG)
        ctx.ops.reload_dataset()
        ctx.ops.notify("Restored %d label(s)" % restored, variant="success")
        self._load_review(ctx)

    def keep_label(self, ctx):
        self._tag_reviewed(ctx, KEEP_TAG)

    def tag_for_review(self, ctx):
        self._tag_reviewed(ctx, REVIEW_TAG)

    def _tag_reviewed(self, ctx, tag):
        field = ctx.params.get("objects")
        if field:  # a label tag on that object alone
            ctx.dataset.select_labels(ids=[ctx.params["id"]], fields=field).tag_labels(
                tag, label_fields=field)
        else:
            ctx.dataset.select([ctx.params["id"]]).tag_samples(tag)
        self._load_review(ctx)

    # ------------------------------------------------------------------ loading

    def _refresh(self, ctx):
        import winnow
        from winnow.plugin import findings

        dataset = ctx.dataset
        runs = winnow.list_runs(dataset)
        hists = findings.histograms(dataset, runs=runs)
        scopes = findings.object_fields(dataset, runs=runs)
        scope = ctx.panel.state.scope if ctx.panel.state.scope in scopes else None
        # The map's vectors: the samples', or the objects' attribute in objects scope.
        names = dict(label_field=findings.label_field(dataset, runs=runs),
                     embeddings_field=findings.embeddings_field(dataset, runs=runs,
                                                                patches_field=scope))
        ctx.panel.state.set(PanelState.overview(
            dataset.name, findings.summarize(dataset, runs=runs, patches_field=scope), runs,
            hists, _available_actions(), names, scopes))
        for h in hists:
            ctx.panel.data.set(_hist_key(h["field"]), _histogram_traces(h))
        self._load_map(ctx, runs=runs)
        self._load_review(ctx, runs=runs)

    def _load_map(self, ctx, runs=None):
        from winnow.plugin import embedding_map, findings

        dataset = ctx.dataset
        scope = ctx.panel.state.scope  # None: a map of samples; else of that field's objects
        field = ctx.panel.state.embeddings_field or findings.embeddings_field(
            dataset, runs=runs, patches_field=scope)
        key = embedding_map.find_map(dataset, field, patches_field=scope) if field else None
        names = findings.map_fields(dataset, runs=runs, patches_field=scope)
        modes = _color_modes(names)
        color_by = ctx.panel.state.color_by
        if color_by not in modes:
            color_by = modes[0]
        info = dict(key=key, embeddings_field=field, modes=modes, color_by=color_by,
                    objects=scope)
        if key is None:
            ctx.panel.state.map = info
            return
        wanted = _map_paths(names)[color_by]
        points = embedding_map.map_points(dataset, key, fields=wanted,
                                          max_points=embedding_map.DEFAULT_MAX_POINTS)
        info.update(total=points["total"], shown=len(points["ids"]), sampled=points["sampled"])
        ctx.panel.state.map = info
        ctx.panel.state.color_by = color_by
        ctx.panel.data.map = _map_traces(points, color_by, names)

    def _load_review(self, ctx, runs=None):
        from winnow.plugin import findings

        dataset = ctx.dataset
        scope = ctx.panel.state.scope
        review = findings.review(dataset, [KEEP_TAG, REVIEW_TAG, ACCEPTED_TAG], runs=runs,
                                 limit=REVIEW_ROWS, patches_field=scope)
        ctx.panel.state.set(PanelState.review(review))
        groups = [] if scope else findings.redundant_groups(
            dataset, runs=runs, limit=REDUNDANT_GROUPS, copies=GROUP_COPIES)
        ctx.panel.state.set(PanelState.groups(groups))

    # ------------------------------------------------------------------ layout

    def render(self, ctx):
        s = ctx.panel.state
        panel = types.Object()
        unit = "objects of %s" % s.scope if s.scope else "samples"
        panel.md("**Winnow** · %s · %s %s" % (s.dataset or ctx.dataset.name,
                                              _fmt(s.total or 0), unit), name="title")
        top = _row(panel, "top_buttons", align_x="left", gap=1)
        top.btn("refresh", label="Refresh", icon="refresh", on_click=self.refresh)
        top.btn("show_all", label="Show all samples", on_click=self.show_all)
        if s.scopes:
            scopes = types.RadioGroup(orientation="horizontal")
            scopes.add_choice(SAMPLES, label="Samples")
            for field in s.scopes:
                scopes.add_choice(field, label="Objects of %s" % field)
            panel.enum("scope", scopes.values(), default=s.scope or SAMPLES,
                       label="Findings and review of", view=scopes, on_change=self.set_scope)

        self._render_findings(panel, s)
        self._render_runs(panel, s)
        self._render_map(panel, s)
        self._render_histograms(panel, s)
        self._render_review(panel, s)
        self._render_actions(panel, s)
        return types.Property(panel, view=types.GridView(
            orientation="vertical", gap=2, align_x="left", pad=2,
            componentsProps=COLUMN_PROPS))

    def _render_findings(self, panel, s):
        panel.md(_heading("What Winnow found"), name="findings_title")
        for f in s.findings or []:
            # The text on its own line, the buttons below it: a text beside its buttons
            # cannot wrap, and a row wider than the panel widens every plot with it.
            row = _column(panel, "finding_" + f["id"], gap=0)
            if not f["computed"]:
                row.md("**%s**: not computed yet — run `%s`" % (
                    f["label"], f["operator"].rsplit("/", 1)[-1]), name="text")
                continue
            kinds = f.get("kinds") or []
            if f.get("objects") and f["tags"]:  # label tags, counted in objects
                row.md("**%s**: %s of %s objects of `%s` (%.1f %%) · label tags %s" % (
                    f["label"], _fmt(f["count"]), _fmt(s.total or 0), f["objects"],
                    100.0 * f["fraction"], ", ".join("`%s`" % t for t in f["tags"])),
                    name="text")
            elif f["tags"] and f.get("per_tag"):  # e.g. image issues: a count per kind found
                found = " · ".join("%s %s" % (k["tag"], _fmt(k["count"])) for k in kinds)
                row.md("**%s**: %s (%.1f %%) · %s" % (
                    f["label"], _fmt(f["count"]), 100.0 * f["fraction"],
                    found or "none found"), name="text")
            elif f["tags"]:
                row.md("**%s**: %s (%.1f %%) · tagged %s" % (
                    f["label"], _fmt(f["count"]), 100.0 * f["fraction"],
                    ", ".join("`%s`" % t for t in f["tags"])), name="text")
            else:  # e.g. the filter: what it found is in its saved views
                row.md("**%s**: saved views" % f["label"], name="text")
            buttons = _row(row, "buttons", align_y="center", gap=1)
            if f["tags"]:
                buttons.btn("show", label="Show " + f["label"].lower(), variant="outlined",
                        on_click=self.show_run, params={"key": f["run_key"]},
                        disabled=f["count"] == 0)
            # One button per kind found: its saved view by name, else its tag.
            for j, k in enumerate(kinds):
                label = "%s (%s)" % (k["tag"], _fmt(k["count"]))
                if k["view"]:
                    buttons.btn("kind_%d" % j, label=label, on_click=self.load_saved_view,
                                params={"name": k["view"]})
                else:
                    buttons.btn("kind_%d" % j, label=label, on_click=self.show_tag,
                            params={"tag": k["tag"]})
            # One button per other saved view the run made, loading it by name.
            shown = {k["view"] for k in kinds}
            for j, v in enumerate(f["saved_views"]):
                if v["name"] not in shown:
                    buttons.btn("view_%d" % j, label="%s (%s)" % (v["name"], _fmt(v["count"])),
                                on_click=self.load_saved_view, params={"name": v["name"]})

    def _render_runs(self, panel, s):
        panel.md(_heading("Runs"), name="runs_title")
        runs = s.runs or []
        if not runs:
            panel.md("No Winnow runs on this dataset yet.", name="runs_empty")
        for i, r in enumerate(runs):
            # Buttons, then the run's text below them (free to wrap to the panel's width).
            run = _column(panel, "run_%d" % i, gap=0)
            row = _row(run, "buttons", align_y="center", gap=1)
            row.btn("show", label="Show", on_click=self.show_run, params={"key": r["key"]})
            if s.confirm_delete == r["key"]:
                row.btn("confirm", label="Really delete", variant="contained",
                        on_click=self.delete_run, params={"key": r["key"]})
                row.btn("cancel", label="Cancel", on_click=self.cancel_delete)
            else:
                row.btn("delete", label="Delete", on_click=self.ask_delete_run,
                        params={"key": r["key"]})
            run.md("**%s** · %s · %s  \n%s" % (r["method"], r["when"], r["counts"],
                                                 r["params"]), name="text")

    def _render_map(self, panel, s):
        panel.md(_heading("Embedding map"), name="map_title")
        info = s.map or {}
        of = " of the objects of `%s`" % info["objects"] if info.get("objects") else ""
        if not info.get("embeddings_field"):
            panel.md("Not computed yet — run `compute_embeddings`%s." % of, name="map_missing")
            return
        if not info.get("key"):
            panel.md("No 2-D map of `%s`%s yet." % (info["embeddings_field"], of),
                     name="map_missing")
            panel.btn("compute_map", label="Compute the map (PCA)", variant="contained",
                      on_click=self.compute_map)
            return
        modes = types.DropdownView(componentsProps=CONTROL_PROPS)
        for value, label in COLOR_MODES:
            if value in info["modes"]:
                modes.add_choice(value, label=label)
        panel.enum("color_by", modes.values(), default=info["color_by"], label="Colour by",
                   view=modes, on_change=self.set_color_by)
        what = "objects of `%s`" % info["objects"] if info.get("objects") else "samples"
        if info.get("sampled"):
            note = ("Showing a random sample of %s of %s points (%s); counts above cover "
                    "every one." % (_fmt(info["shown"]), _fmt(info["total"]), what))
        else:
            note = ("All %s points (%s). Select points (box or lasso) to show them in the "
                    "grid." % (_fmt(info.get("total", 0)), what))
        panel.md(note, name="map_note")
        panel.plot("map", layout=_map_layout(), on_selected=self.on_map_selected,
                   config=PLOT_CONFIG)

    def _render_histograms(self, panel, s):
        panel.md(_heading("Distributions"), name="hist_title")
        hists = s.histograms or []
        if not hists:
            panel.md("Not computed yet — run `find_outliers`, `find_label_issues`, "
                     "`find_representatives` or `find_image_issues`.", name="hist_missing")
        for h in hists:
            panel.plot(_hist_key(h["field"]),
                       layout=_hist_layout(h["label"], "objects" if h.get("objects")
                                           else "samples"),
                       on_click=self.on_histogram_click, config=PLOT_CONFIG)

    def _render_review(self, panel, s):
        panel.md(_heading("Review"), name="review_title")
        rows = s.review or []
        objects = s.scope  # an objects field: rows are objects, their tags label tags
        names = s.review_fields or {}
        if not rows:
            panel.md("No label issues to review (run `find_label_issues`%s)." % (
                " on the objects of `%s`" % objects if objects else ""), name="review_empty")
        elif objects:
            panel.md("Label issues of the objects of `%s` (label tag `%s`), worst first, "
                     "as crops (%s still to review):" % (
                         objects, names.get("tag"), _fmt(s.review_pending or 0)),
                     name="review_intro")
        else:
            panel.md("Label issues in `%s` (tag `%s`), worst first (%s still to review):" % (
                names.get("label_field"), names.get("tag"), _fmt(s.review_pending or 0)),
                name="review_intro")
        for i, r in enumerate(rows):
            params = {"id": r["id"], "objects": objects} if objects else {"id": r["id"]}
            row = _row(panel, "review_%d" % i, align_y="center", gap=1)
            row.img("img", width="56px", height="56px",
                    on_click=self.show_object if objects else self.show_sample,
                    params=params, alt_text=r["id"])
            row.md("`%s` → **%s** (quality %s)" % (r["given"], r["suggested"], r["quality"]),
                   name="text")
            row.btn("accept", label="Accept", variant="contained",
                    on_click=self.accept_suggestion, params=params)
            row.btn("keep", label="Keep", on_click=self.keep_label, params=params)
            row.btn("review", label="Tag for review", on_click=self.tag_for_review,
                    params=params)
        if s.accepted:
            panel.btn("undo_accepted", label="Undo %d accepted label(s)" % s.accepted,
                      on_click=self.undo_accepted,
                      params={"objects": objects} if objects else None)
        groups = s.groups or []
        if groups:
            panel.md("Redundant groups: the kept image first, then its redundant copies.",
                     name="groups_intro")
        for g, group in enumerate(groups):
            row = _row(panel, "group_%d" % g, align_y="center", gap=1)
            row.img("kept", width="64px", height="64px", on_click=self.show_sample,
                    params={"id": group["kept_id"]}, alt_text="kept")
            for j, cid in enumerate(group["copies"]):
                row.img("copy_%d" % j, width="48px", height="48px", on_click=self.show_sample,
                        params={"id": cid}, alt_text="redundant")
            row.md("%d redundant" % group["count"], name="text")

    def _render_actions(self, panel, s):
        panel.md(_heading("Run a step on the current view"), name="actions_title")
        row = _row(panel, "actions", gap=1)
        for a in s.actions or []:
            row.btn(a["name"], label=a["label"], disabled=not a["available"],
                    on_click=self.open_operator, params={"operator": a["uri"]})


# ---------------------------------------------------------------------- helpers


def _row(parent, name, **kwargs):
    """A row of buttons (or images and text) that wraps at the panel's edge."""
    return parent.h_stack(name, componentsProps=ROW_PROPS, **kwargs)


def _column(parent, name, **kwargs):
    """A vertical stack as wide as the panel, never wider."""
    return parent.v_stack(name, componentsProps=COLUMN_PROPS, **kwargs)


def _heading(text):
    # Markdown headings render very large in panels; a bold rule-topped line reads better.
    return "---\n**%s**" % text.upper()


def _fmt(n):
    return "{:,}".format(int(n))


def _media_url(filepath):
    # The App serves media from its own origin.
    return "/media?filepath=" + urllib.parse.quote(filepath, safe="")


def _crop_url(filepath, box, size=CROP_PX):
    """An object's crop (relative box ``[x, y, w, h]`` of its image) as a small PNG
    data URL; the whole image's URL when the box is missing or the image unreadable."""
    from PIL import Image

    try:
        with Image.open(filepath) as img:
            w, h = img.size
            x, y, bw, bh = box
            region = (max(0, round(x * w)), max(0, round(y * h)),
                      min(w, round((x + bw) * w)), min(h, round((y + bh) * h)))
            if region[2] <= region[0] or region[3] <= region[1]:
                return _media_url(filepath)
            crop = img.convert("RGB").crop(region)
    except (OSError, TypeError, ValueError):
        return _media_url(filepath)
    crop.thumbnail((size, size))
    buf = io.BytesIO()
    crop.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _short(value):
    return "%.4g" % value if isinstance(value, float) else str(value)


def _run_row(run):
    ts = run.get("timestamp")
    when = ts.strftime("%Y-%m-%d %H:%M") if isinstance(ts, datetime.datetime) else str(ts)
    params = ", ".join("%s=%s" % (k, _short(v)) for k, v in sorted(run["params"].items())
                       if v is not None and not isinstance(v, (list, dict)))
    used = run["params"].get("classifier_used")
    if isinstance(used, dict) and used.get("name"):
        # Which classifier ran (label steps), first so that eliding never hides it.
        main = used.get("main")
        if used.get("combine") == "mean":
            how = " (mean of %d)" % len(used.get("candidates") or ())
        else:
            how = " (mostly %s)" % main if main and main != used["name"] else ""
        params = "classifier %s%s; %s" % (used["name"], how, params)
    if len(params) > PARAMS_CHARS:
        params = params[:PARAMS_CHARS - 1] + "…"
    counts = run["counts"]
    objects = run.get("patches_field")
    if objects:
        # A run on objects counts objects: its "samples" are the objects it read
        # (an embeddings run counts the images as samples, its objects as objects).
        unit = "objects of %s" % objects
        key = "objects" if "objects" in counts else "samples"
        counts = {(unit if k == key else k): v for k, v in counts.items()}
    counts = ", ".join("%s %s" % (_short(v), k) for k, v in counts.items()
                       if isinstance(v, (int, float)))
    return dict(key=run["key"], method=run["method"], when=when, params=params or "—",
                counts=counts or "—", tags=run["tags"], fields=run["fields"],
                objects=objects)


def _available_actions():
    from fiftyone.operators.registry import operator_exists
    from winnow.plugin import findings

    out = []
    for name, label in findings.ACTIONS:
        uri = findings.OPERATOR_PREFIX + name
        out.append(dict(name=name, label=label, uri=uri, available=operator_exists(uri)))
    return out


def _color_modes(names):
    """The colourings the map offers, given findings.map_fields' names."""
    modes = ["status"]
    for mode, field in (("cluster", "cluster_field"), ("label", "label_field"),
                        ("label_quality", "quality_field")):
        if names[field]:
            modes.append(mode)
    return modes


def _map_paths(names):
    """The sample paths each colouring reads (a map of objects: their attributes)."""
    label = names["label_field"]
    if label and not names.get("objects"):
        label += ".label"
    return dict(
        status=["tags"] + ([names["link_field"]] if names["link_field"] else []),
        cluster=[names["cluster_field"]] if names["cluster_field"] else [],
        label=[label] if label else [],
        label_quality=[names["quality_field"]] if names["quality_field"] else [],
    )


def _status(tags, status_tags):
    tags = set(tags or [])
    for status, run_tags in status_tags:
        if tags.intersection(run_tags):
            return status
    return "kept"


def _map_traces(points, color_by, names):
    ids, x, y, values = points["ids"], points["x"], points["y"], points["values"]
    traces = []
    if color_by == "status":
        statuses = [_status(t, names["status_tags"])
                    for t in values.get("tags", [[]] * len(ids))]
        redundant_of = values.get(names["link_field"], [None] * len(ids))
        from winnow.plugin.embedding_map import link_segments

        targets = [t if s == "redundant" else None for s, t in zip(statuses, redundant_of)]
        lx, ly = link_segments(ids, x, y, targets, points["positions"])
        if lx:
            traces.append(dict(type="scatter", mode="lines", x=lx, y=ly,
                               name="redundant → kept", hoverinfo="skip",
                               line=dict(color="rgba(76,142,247,0.45)", width=1)))
        groups = {s: [i for i, v in enumerate(statuses) if v == s] for s in STATUS_COLORS}
        for status in ("kept", "representative", "redundant", "outlier"):
            rows = groups[status]
            if rows:
                traces.append(_points_trace(status, rows, ids, x, y, STATUS_COLORS[status],
                                            size=9 if status == "representative" else 6))
        return traces
    if color_by == "label_quality":
        q = values.get(names["quality_field"], [None] * len(ids))
        rows = [i for i, v in enumerate(q) if v is not None]
        trace = _points_trace("label quality", rows, ids, x, y, None)
        trace["marker"] = dict(color=[q[i] for i in rows], colorscale="RdYlGn", cmin=0,
                               cmax=1, size=6, showscale=True,
                               colorbar=dict(title=dict(text=names["quality_field"])))
        trace["text"] = ["%.3f" % q[i] for i in rows]
        return traces + [trace]
    (field,) = _map_paths(names)[color_by]
    cats = [str(v) if v is not None else "none" for v in values.get(field, [None] * len(ids))]
    order = sorted(set(cats), key=lambda c: (-cats.count(c), c))
    top = set(order[:CATEGORY_LIMIT])
    cats = [c if c in top else "other" for c in cats]
    for c in order[:CATEGORY_LIMIT] + (["other"] if len(order) > CATEGORY_LIMIT else []):
        rows = [i for i, v in enumerate(cats) if v == c]
        traces.append(_points_trace(c, rows, ids, x, y, None))
    return traces


def _points_trace(name, rows, ids, x, y, color, size=6):
    # "ids" make selections carry sample ids back to on_map_selected.
    marker = dict(size=size, opacity=0.85)
    if color:
        marker["color"] = color
    return dict(type="scatter", mode="markers", name=name,
                x=[x[i] for i in rows], y=[y[i] for i in rows], ids=[ids[i] for i in rows],
                marker=marker, hovertemplate="%{id}<extra>" + name + "</extra>")


def _hist_key(field):
    # Panel data paths are dotted: an object attribute's path (gt.detections.outlier_score)
    # would nest, so its dots are spelled out.
    return "hist_" + field.replace(".", "__")


def _histogram_traces(h):
    edges, counts = h["edges"], h["counts"]
    centers = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    last = len(counts) - 1
    ids = ["%s|%r|%r|%d" % (h["field"], edges[i], edges[i + 1], i == last)
           for i in range(len(counts))]
    return [dict(type="bar", x=centers, y=counts, ids=ids, name=h["label"],
                 width=[b - a for a, b in zip(edges[:-1], edges[1:])],
                 marker=dict(color="#ff6d04"))]


def _map_layout():
    return dict(dragmode="lasso", showlegend=True, height=420,
                margin=dict(l=10, r=10, t=40, b=10), autosize=True,
                legend=dict(orientation="h", x=0, y=1.02, yanchor="bottom"),
                paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                xaxis=dict(showticklabels=False, zeroline=False),
                yaxis=dict(showticklabels=False, zeroline=False))


def _hist_layout(label, unit="samples"):
    return dict(height=220, bargap=0.05, margin=dict(l=40, r=10, t=30, b=30),
                title=dict(text=label, font=dict(size=13)),
                paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                xaxis=dict(title=dict(text=label)), yaxis=dict(title=dict(text=unit)))
