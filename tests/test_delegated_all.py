"""Every Winnow operator, queued as a delegated operation, run by ONE `fiftyone delegated launch`.

FiftyOne 1.22's worker takes the NEWEST queued operation first
(``execute_queued_operations(limit=1)`` lists QUEUED operations sorted by
``queued_at`` descending), and queuing validates each operator's form against
the dataset as it is then (e.g. extract_topics offers only existing tag
fields). So dependent steps are queued in stages: a stage is queued only after
the previous one completed; the operations inside a stage are independent.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone.operators.delegated import DelegatedOperationService

import winnow

PLUGIN = "@winnow/curation/"
CLASSES = ["Ankle boot", "Bag", "Trouser", "Sneaker", "Dress"]
PER_CLASS = 10
STAGE_TIMEOUT_S = 240


def _operators_in_yml():
    import yaml

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(repo, "fiftyone.yml")) as f:
        return list(yaml.safe_load(f)["operators"])


def _dataset(make_dataset):
    """Fashion-MNIST images of 5 classes with ``ground_truth`` + 6 unlabeled photos."""
    import csv

    from winnow.demo import DEMO_DIR

    samples, per_class = [], {}
    with open(os.path.join(DEMO_DIR, "samples.csv"), newline="") as f:
        for row in csv.DictReader(f):
            sample = fo.Sample(filepath=os.path.join(DEMO_DIR, row["filepath"]))
            label = row["ground_truth"]
            if not label:
                sample.tags.append("photo")
                sample["split"] = "test"
            elif label in CLASSES and per_class.get(label, 0) < PER_CLASS:
                per_class[label] = per_class.get(label, 0) + 1
                sample["ground_truth"] = fo.Classification(label=label)
                sample["split"] = "train"
            else:
                continue
            samples.append(sample)
    ds = make_dataset(samples)
    ds.persistent = True  # the worker is another process
    return ds


def _launch_worker(log_path):
    fiftyone_cli = os.path.join(os.path.dirname(sys.executable), "fiftyone")
    log = open(log_path, "w")
    # Same database (FIFTYONE_DATABASE_NAME) and plugins dir (FIFTYONE_PLUGINS_DIR).
    return subprocess.Popen([fiftyone_cli, "delegated", "launch"], env=dict(os.environ),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop_worker(worker):
    if worker.poll() is not None:
        return
    os.killpg(worker.pid, signal.SIGINT)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def _describe(name, doc):
    """The operation's state and, when it failed, its error message and traceback's end."""
    text = "%s: run_state=%s" % (name, doc.run_state)
    if doc.status is not None:
        text += " progress=%s (%s)" % (doc.status.progress, doc.status.label)
    result = doc.result
    message = getattr(result, "error_message", None)
    trace = getattr(result, "error", None)
    if not message and trace:
        message = trace.strip().splitlines()[-1]  # the exception itself
    if message:
        text += "\n  error: %s" % message
    if trace:
        text += "\n  " + trace[-1500:].replace("\n", "\n  ")
    return text


class Stages:
    """Queues a stage of delegated operations and waits for the worker to finish them."""

    def __init__(self, worker, log_path):
        self.service = DelegatedOperationService()
        self.worker = worker
        self.log_path = log_path
        self.queued = {}  # operator name -> operation id
        self.docs = {}

    def queue(self, name, samples, **params):
        result = foo.get_operator(PLUGIN + name)(samples, delegate=True, **params)
        result.raise_exceptions()
        assert result.delegated
        self.queued[name] = result.result["id"]

    def run(self, names):
        deadline = time.time() + STAGE_TIMEOUT_S
        while True:
            docs = {n: self.service.get(self.queued[n]) for n in names}
            states = {n: d.run_state for n, d in docs.items()}
            if all(s in ("completed", "failed") for s in states.values()):
                break
            if self.worker.poll() is not None or time.time() > deadline:
                break
            time.sleep(0.5)
        self.docs.update(docs)
        bad = [n for n in names if docs[n].run_state != "completed"]
        if bad:
            with open(self.log_path) as f:
                log = f.read()
            if all(docs[n].run_state in ("completed", "failed") for n in names):
                why = "failed"
            elif self.worker.poll() is not None:
                why = "the worker exited with %s" % self.worker.returncode
            else:
                why = "still %s after %d s" % (
                    ", ".join(sorted({docs[n].run_state for n in bad})), STAGE_TIMEOUT_S)
            pytest.fail("Delegated operations did not complete (%s):\n%s\n--- worker log ---\n%s"
                        % (why, "\n".join(_describe(n, docs[n]) for n in names), log[-4000:]))

    def delete(self):
        for op_id in self.queued.values():
            self.service.delete_operation(op_id)


def _runs(ds):
    return {r["method"]: r for r in winnow.list_runs(ds)}


def _assert_run_results(ds, method):
    """The run is recorded and each field it lists is declared on the dataset."""
    runs = [r for r in winnow.list_runs(ds) if r["method"] == method]
    assert runs, "no %r run on the dataset: %s" % (method, sorted(_runs(ds)))
    schema = ds.get_field_schema()
    for run in runs:
        for field in run["fields"]:
            assert field in schema, (method, field)
    return runs[-1]


def test_every_operator_runs_delegated_with_one_worker(make_dataset, tmp_path):
    # Every operator the plugin declares is exercised below.
    stage_ops = [
        ["compute_embeddings", "compute_cam", "tag_with_pretrained", "find_image_issues",
         "find_duplicates", "fine_tune"],
        ["extract_topics", "find_outliers", "find_redundant", "find_label_issues",
         "predict_labels", "find_representatives", "find_leaks"],
        ["filter_dataset", "accept_suggestions"],
    ]
    assert sorted(sum(stage_ops, [])) == sorted(_operators_in_yml())

    ds = _dataset(make_dataset)
    n = len(ds)
    photos = ds.match_tags("photo")
    assert len(photos) == 6 and n == 6 + len(CLASSES) * PER_CLASS

    log_path = str(tmp_path / "worker.log")
    worker = _launch_worker(log_path)
    stages = Stages(worker, log_path)
    try:
        # Stage 1: what reads only the images.
        stages.queue("compute_embeddings", ds, batch_size=16, similarity_index=True,
                     visualization="pca")
        stages.queue("compute_cam", ds, target="predicted", map_size=16, batch_size=16)
        stages.queue("tag_with_pretrained", ds, k=3, batch_size=16)
        stages.queue("find_image_issues", ds, batch_size=16)
        stages.queue("find_duplicates", ds)
        stages.queue("fine_tune", ds, epochs=1, image_size=32, train_layers=2, num_workers=0,
                     output_path=str(tmp_path / "ft.pt"))
        stages.run(stage_ops[0])
        ds.reload()
        assert len(ds.exists("embedding")) == n
        assert len(ds.list_brain_runs()) == 2  # similarity index + PCA map
        assert len(ds.exists("cam")) == n and len(ds.exists("cam_prediction")) == n
        assert ds.first()["cam"].map.shape == (16, 16)
        assert all(len(t.classifications) == 3 for t in ds.values("pretrained_tags"))
        # The 6 photographs are odd sizes beside the 28 px Fashion-MNIST images.
        assert len(ds.match_tags("odd_size")) == 6
        assert len(ds.exists("content_hash")) == n
        assert os.path.isfile(str(tmp_path / "ft.pt"))
        for method in ("embeddings", "cam", "pretrained_tags", "image_issues", "duplicates",
                       "fine_tune"):
            _assert_run_results(ds, method)

        # Stage 2: what reads embeddings, tags or labels (each writes its own fields/tags).
        stages.queue("extract_topics", ds, n_topics=3)
        stages.queue("find_outliers", ds, fraction=0.1, score_field="solo_outlier_score",
                     tag="solo_outlier")
        stages.queue("find_redundant", ds, fraction=0.1)
        stages.queue("find_label_issues", ds, n_estimators=3)
        stages.queue("predict_labels", ds, threshold=0.01, n_estimators=3)
        stages.queue("find_representatives", ds, k=4)
        stages.queue("find_leaks", ds, split_field="split")
        stages.run(stage_ops[1])
        ds.reload()
        assert len(ds.exists("topic")) > 0
        assert len(ds.distinct("topic.label")) <= 3
        assert len(ds.exists("solo_outlier_score")) == n
        assert len(ds.match_tags("solo_outlier")) == 6  # ceil(0.1 * 56)
        assert len(ds.match_tags("redundant")) == 5  # floor(0.1 * 56)
        assert len(ds.exists("redundant_of")) > 0
        labeled = ds.exists("ground_truth")
        assert len(labeled.exists("label_quality")) == len(labeled)
        assert len(photos.exists("predicted_label")) == 6  # threshold 0.01: every photo
        assert len(ds.exists("predicted_label")) == 6  # only the unlabeled ones
        assert len(ds.match_tags("representative")) == 4
        assert sorted(ds.distinct("cluster")) == [0, 1, 2, 3]
        assert _assert_run_results(ds, "leaks")["counts"]["samples"] == n
        for method in ("topics", "outliers", "redundancy", "label_issues", "predict_labels",
                       "representatives"):
            _assert_run_results(ds, method)

        # Stage 3: filter (replaces find_redundant's own run: same fields) and accepting
        # predictions, which rewrites ground_truth that stage 2 read.
        stages.queue("filter_dataset", ds, outliers=0.05, redundant=0.1, view_prefix="deleg")
        stages.queue("accept_suggestions", ds.match_tags("photo"),
                     suggestion_field="predicted_label", label_field="ground_truth")
        stages.run(stage_ops[2])
        ds.reload()
        assert {"deleg-kept", "deleg-outliers", "deleg-redundant"} <= set(ds.list_saved_views())
        assert len(ds.match_tags("outlier")) == 3  # ceil(0.05 * 56)
        assert len(ds.load_saved_view("deleg-kept")) == n - 3 - 5
        assert len(ds.match_tags("suggestion_accepted")) == 6
        photos = ds.match_tags("photo")
        assert photos.values("ground_truth.label") == photos.values("predicted_label.label")
        assert stages.docs["accept_suggestions"].result.result["count"] == 6
        _assert_run_results(ds, "filter")
        assert _assert_run_results(ds, "accept_suggestions")["counts"]["accepted"] == 6
    finally:
        _stop_worker(worker)
        stages.delete()

    # Progress reached the operation documents (ctx.set_progress in delegated runs): the
    # last report of each generator operator is its completion. accept_suggestions is quick
    # and reports none.
    for name, doc in stages.docs.items():
        if name != "accept_suggestions":
            assert doc.status is not None and doc.status.progress == 1.0, name
            assert doc.status.label, name
    # One worker: one operation at a time.
    docs = sorted(stages.docs.values(), key=lambda d: d.started_at)
    for a, b in zip(docs, docs[1:]):
        assert a.completed_at <= b.started_at, "one worker overlapped two operations"
