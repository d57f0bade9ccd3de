"""winnow.curate: every step in one call, one table, re-runnable; and its CLI."""

import os
import subprocess
import sys

import pytest

import winnow


@pytest.fixture
def demo(demo_embedded):
    ds = demo_embedded.clone()
    yield ds
    ds.delete()


def test_curate_runs_every_step_and_rerun_replaces_its_own_results(demo):
    before = demo.values("ground_truth.label")
    results = winnow.curate(demo, label_field="ground_truth", progress=False)

    steps = [row[0] for row in results.rows]
    assert steps == ["image issues", "embeddings", "outliers", "redundant", "kept",
                     "representatives", "label issues"]
    assert results.rows[1][1] == "306 reused"  # the filled embedding field is reused
    # Image issues first: the demo's dim Fashion-MNIST items and the Hubble photo are dark.
    issues = results.steps["image_issues"]
    assert results.rows[0][1] == len(set().union(*issues.issue_ids.values())) > 0
    assert demo.count_sample_tags().get("dark", 0) == issues.counts["dark"] > 0
    counts = demo.count_sample_tags()
    assert counts["outlier"] == results.steps["filter"].num_outliers > 0
    assert counts["redundant"] == results.steps["filter"].num_redundant > 0
    assert counts["representative"] == results.steps["representatives"].num_clusters
    assert counts["label_issue"] == results.steps["label_issues"].num_issues
    assert demo.values("ground_truth.label") == before  # labels are only suggested
    table = results.table()
    for step in steps:
        assert "| %s |" % step in table
    keys = {run["key"] for run in winnow.list_runs(demo)}
    assert {"winnow_filter_winnow", "winnow_representatives_cluster",
            "winnow_label_issues_label_quality"} <= keys

    # A second run replaces each step's results: same tags, no duplicates, same runs.
    again = winnow.curate(demo, label_field="ground_truth", progress=False)
    assert demo.count_sample_tags() == counts
    assert [r[:2] for r in again.rows] == [r[:2] for r in results.rows]
    assert {run["key"] for run in winnow.list_runs(demo)} == keys


def test_curate_refuses_bad_input_before_writing(demo, make_dataset):
    with pytest.raises(ValueError, match="does not exist"):
        winnow.curate(demo, label_field="no_such_field", progress=False)
    with pytest.raises(ValueError, match="empty"):
        winnow.curate(demo.limit(0), progress=False)
    assert not [r for r in winnow.list_runs(demo) if r["method"] != "embeddings"]
    assert "outlier" not in demo.count_sample_tags()


def test_cli_curate_prints_the_table(demo):
    demo.persistent = True  # the CLI process loads it by name
    env = dict(os.environ, FIFTYONE_DO_NOT_TRACK="true")
    out = subprocess.run([sys.executable, "-m", "winnow.cli", "curate", demo.name,
                          "--label-field", "ground_truth", "--k", "5"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| representatives |" in out.stdout and "| label issues |" in out.stdout
    assert "representative" in demo.count_sample_tags()


def test_cli_issues_prints_each_step(demo):
    demo.persistent = True  # the CLI process loads it by name
    env = dict(os.environ, FIFTYONE_DO_NOT_TRACK="true")
    out = subprocess.run([sys.executable, "-m", "winnow.cli", "issues", demo.name,
                          "--threshold", "dark", "0.25", "--split-field", "source",
                          "--train-split", "fashion-mnist"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Image issues:" in out.stdout and "Exact duplicates:" in out.stdout
    assert "near copies tagged 'near_duplicate'" in out.stdout
    assert "Leaks:" in out.stdout and "by fingerprint" in out.stdout
    demo.reload()  # the runs were recorded by the CLI's process
    runs = {r["method"]: r for r in winnow.list_runs(demo)}
    assert {"image_issues", "duplicates", "leaks"} <= set(runs)
    assert runs["image_issues"]["params"]["thresholds"]["dark"] == 0.25
