"""Operator forms validate as the user types: ``resolve_input`` runs the engine's own
checks on the current values and marks the offending property invalid with the
engine's message, so the App shows it before anything runs (and FiftyOne refuses to
execute). Defaults come from the engine's signature; Python calls forward the
engine's keyword arguments."""

import inspect

import numpy as np
import pytest

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone.operators.executor import ExecutionContext, ExecutionError, Executor

import winnow

PLUGIN = "@winnow/curation/"


@pytest.fixture
def ds(make_dataset):
    """20 samples with vectors, labels, a user's own field and tag, and one real
    Winnow outliers run (which owns ``outlier_score`` and the tag ``outlier``)."""
    rng = np.random.default_rng(0)
    ds = make_dataset([
        fo.Sample(filepath="/tmp/winnow-forms-%d.jpg" % i, emb=rng.normal(size=8),
                  ground_truth=fo.Classification(label="ab"[i % 2]), note="user's",
                  user_score=float(i), tags=["user_tag"] if i < 3 else [])
        for i in range(20)])
    winnow.find_outliers(ds, embeddings_field="emb", count=2, progress=False)
    return ds


def _form(ds, name, **params):
    uri = PLUGIN + name
    ctx = ExecutionContext(request_params=dict(dataset_name=ds.name, params=params),
                           executor=Executor(), operator_uri=uri)
    return foo.get_operator(uri).resolve_input(ctx).type.properties


def _errors(ds, name, **params):
    return {k: p.error_message for k, p in _form(ds, name, **params).items() if p.invalid}


# Valid values apart from the one under test (a new score field is a new run, which
# may not take the outliers run's tag).
BASE = dict(embeddings_field="emb", score_field="new_score", tag="new_tag")


@pytest.mark.parametrize("name, params, prop, message", [
    ("find_outliers", dict(score_field="filepath"), "score_field", "reserved field 'filepath'"),
    ("find_outliers", dict(score_field="user_score"), "score_field", "not written by Winnow"),
    ("find_outliers", dict(tag="user_tag"), "tag", "Tag 'user_tag' is in use"),
    ("find_outliers", dict(tag="outlier"), "tag", "Tag 'outlier' is in use"),
    ("find_outliers", dict(outliers_percent=0), "outliers_percent", "must be in (0, 1)"),
    ("find_outliers", dict(embeddings_field="note"), "embeddings_field", "not a vector field"),
    ("find_outliers", dict(embeddings_field="nope"), "embeddings_field",
     "compute embeddings first"),
    ("find_outliers", dict(per_class="emb"), "per_class", "Classification or string field"),
    ("find_redundant", dict(tag="outlier"), "tag", "Tag 'outlier' is in use"),
    ("find_redundant", dict(redundant_percent=0), "redundant_percent", "must be in (0, 1)"),
    ("find_label_issues", dict(quality_field="user_score"), "quality_field",
     "not written by Winnow"),
    ("find_label_issues", dict(label_field="note"), "label_field",
     "must hold fo.Classification or fo.Classifications"),
    ("find_representatives", dict(cluster_field="filepath"), "cluster_field",
     "reserved field 'filepath'"),
    ("find_representatives", dict(k_mode="percent", k_percent=0), "k_percent",
     "must be in (0, 1)"),
    ("filter_dataset", dict(outliers_percent=60, redundant_percent=50,
                            score_field="outlier_score"), "redundant_percent",
     "outliers + redundant must be < 1"),
    ("compute_embeddings", dict(embeddings_field="outlier_score"), "embeddings_field",
     "belongs to the Winnow run 'winnow_outliers_outlier_score'"),
])
def test_bad_value_is_flagged_on_its_property(ds, name, params, prop, message):
    errors = _errors(ds, name, **dict(BASE, **params))
    assert list(errors) == [prop], errors
    assert message in errors[prop]


@pytest.mark.parametrize("name, params", [
    # A re-run may replace what the same step wrote before.
    ("find_outliers", dict(score_field="outlier_score", tag="outlier", per_class="ground_truth",
                           outliers_percent=10)),
    ("find_redundant", dict(tag="near_copy", per_class="ground_truth")),
    ("find_label_issues", dict(label_field="ground_truth")),
    ("find_representatives", dict(cluster_field="cluster", k_mode="percent", k_percent=20)),
    ("compute_embeddings", dict(embeddings_field="emb2")),
])
def test_good_values_are_not_flagged(ds, name, params):
    assert _errors(ds, name, **dict(BASE, **params)) == {}


def test_overwrite_allows_a_users_field_but_never_a_reserved_one(ds):
    assert _errors(ds, "find_outliers", **dict(BASE, score_field="user_score",
                                               overwrite=True)) == {}
    assert list(_errors(ds, "find_outliers", **dict(BASE, score_field="filepath",
                                                    overwrite=True))) == ["score_field"]


def test_invalid_form_is_refused_before_anything_is_written(ds):
    uri = PLUGIN + "find_outliers"
    before = sorted(ds.get_field_schema())
    with pytest.raises(ExecutionError, match="score_field.*not written by Winnow"):
        foo.execute_operator(uri, ctx=dict(view=ds.view(), params=dict(
            embeddings_field="emb", outliers_percent=5, score_field="user_score",
            tag="new_tag")))
    with pytest.raises(ExecutionError, match="reserved field 'filepath'"):
        foo.get_operator(uri)(ds, embeddings_field="emb", score_field="filepath")
    assert sorted(ds.get_field_schema()) == before
    assert ds.values("user_score") == [float(i) for i in range(20)]
    assert "new_tag" not in ds.count_sample_tags()


def test_form_defaults_are_the_engines(ds):
    engine = {n: p.default for n, p in
              inspect.signature(winnow.find_outliers).parameters.items()}
    form = _form(ds, "find_outliers")
    assert form["score_field"].default == engine["score_field"]
    assert form["tag"].default == engine["tag"]
    assert form["outliers_percent"].default == pytest.approx(100 * engine["fraction"])
    engine = {n: p.default for n, p in
              inspect.signature(winnow.find_label_issues).parameters.items()}
    form = _form(ds, "find_label_issues")
    for name in ("n_estimators", "max_samples", "filter_by", "quality_field", "tag"):
        assert form[name].default == engine[name], name


def test_python_call_forwards_the_engines_keyword_arguments(ds):
    op = foo.get_operator(PLUGIN + "find_outliers")
    # count is no form field: it reaches the engine by its own name.
    op(ds, embeddings_field="emb", count=3, score_field="forms_score",
       tag="forms_outlier").raise_exceptions()
    assert len(ds.match_tags("forms_outlier")) == 3
    assert winnow.get_run(ds, "winnow_outliers_forms_score")["params"]["count"] == 3
    with pytest.raises(TypeError, match="unknown_option"):
        op(ds, embeddings_field="emb", unknown_option=1)
