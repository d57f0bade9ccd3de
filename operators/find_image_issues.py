"""@winnow/curation/find_image_issues: the form, then one engine call."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ._common import (call_operator, check_writable, engine_defaults, engine_options, flag,
                      form_values, operator_config, run_engine, summarize)


def _engine():
    from winnow.plugin import image_issues

    return image_issues


def _options(params, defaults):
    """The engine's options: a checkbox per kind (``issue_<kind>``) and a number per
    threshold (``threshold_<name>``) become ``issues`` and ``thresholds``."""
    engine = _engine()
    options = engine_options(params, defaults)
    if "issues" not in params:
        options["issues"] = [k for k in engine.KINDS if params.get("issue_" + k, True)]
    if "thresholds" not in params:
        options["thresholds"] = {
            name: params["threshold_" + name] for name in engine.DEFAULT_THRESHOLDS
            if params.get("threshold_" + name) not in (None, "")} or None
    return options


class FindImageIssues(foo.Operator):
    @property
    def config(self):
        return operator_config(
            "find_image_issues", "Winnow: find image issues",
            "Score every image's pixels and tag the dark, light, blurry, low-information, "
            "odd-sized, odd-shaped and grayscale ones")

    def resolve_input(self, ctx):
        engine = _engine()
        d = engine_defaults(engine.find_image_issues)
        inputs = types.Object()
        samples = ctx.target_view()
        kinds = {k: inputs.bool("issue_" + k, default=True, label=k.replace("_", " "))
                 for k in engine.KINDS}
        thresholds = {
            name: inputs.float("threshold_" + name, default=value, required=False,
                               label="Threshold: " + name.replace("_", " "))
            for name, value in engine.DEFAULT_THRESHOLDS.items()}
        prefix = inputs.str("field_prefix", default=d["field_prefix"], required=True,
                            label="Score fields prefix",
                            description="Scores go to <prefix>brightness, <prefix>sharpness, ...")
        inputs.bool("save_views", default=d["save_views"], label="Save a view per kind")
        inputs.bool("recompute", default=d["recompute"], label="Decode every image again",
                    description="Otherwise stored scores are re-tagged without decoding")
        inputs.bool("overwrite", default=d["overwrite"],
                    label="Overwrite existing fields, tags or views")

        if ctx.dataset is not None:
            o = _options(form_values(inputs, ctx.params), d)
            flag(kinds[engine.KINDS[0]], engine.check_issues, o["issues"])
            for name, value in (o["thresholds"] or {}).items():
                flag(thresholds[name], engine.check_thresholds, {name: value})
            if flag(prefix, _check_prefix, o["field_prefix"]):
                issues = [k for k in engine.KINDS if k in (o["issues"] or ())]
                fields = list(engine.score_fields(o["field_prefix"]).values())
                if flag(prefix, check_writable, samples, engine.STEP, fields[0],
                        fields=fields, overwrite=o["overwrite"]) and issues:
                    flag(kinds[issues[0]], check_writable, samples, engine.STEP, fields[0],
                         tags=issues, overwrite=o["overwrite"],
                         saved_views=[engine.view_name(k) for k in issues]
                         if o["save_views"] else [])
        return types.Property(inputs, view=types.View(label="Winnow: find image issues"))

    def execute(self, ctx):
        engine = _engine()
        options = _options(ctx.params, engine_defaults(engine.find_image_issues))
        results = yield from run_engine(ctx, engine.find_image_issues, "Scoring images",
                                        samples=ctx.target_view(), **options)
        yield from summarize(ctx, str(results).splitlines()[0])

    def __call__(self, samples, delegate=False, **options):
        """Runs the operator from Python with ``winnow.find_image_issues``' options::

            foo.get_operator("@winnow/curation/find_image_issues")(dataset, issues=["dark"])
        """
        return call_operator(self, samples, options,
                             engine_defaults(_engine().find_image_issues), delegate)


def _check_prefix(prefix):
    from winnow.plugin import inputs

    inputs.check_name(prefix, "field_prefix")
