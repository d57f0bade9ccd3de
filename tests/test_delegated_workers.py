"""Delegated execution with FiftyOne's own worker: `fiftyone delegated launch`."""

import os
import signal
import subprocess
import sys
import time

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone.operators.delegated import DelegatedOperationService


URI = "@winnow/curation/compute_embeddings"


def _launch_worker(log_path):
    fiftyone_cli = os.path.join(os.path.dirname(sys.executable), "fiftyone")
    log = open(log_path, "w")
    return subprocess.Popen([fiftyone_cli, "delegated", "launch"], env=dict(os.environ),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def test_two_workers_run_two_queued_operations_in_parallel(make_dataset, tmp_path):
    from winnow.demo import DEMO_DIR

    fashion = sorted(os.listdir(os.path.join(DEMO_DIR, "fashion")))[:120]
    datasets = []
    for _ in range(2):
        ds = make_dataset([fo.Sample(filepath=os.path.join(DEMO_DIR, "fashion", f))
                           for f in fashion])
        ds.persistent = True  # workers are other processes
        datasets.append(ds)

    op = foo.get_operator(URI)
    for ds in datasets:
        op(ds, similarity_index=False, visualization=None, delegate=True).raise_exceptions()

    service = DelegatedOperationService()
    workers = [_launch_worker(str(tmp_path / ("worker%d.log" % i))) for i in range(2)]
    try:
        deadline = time.time() + 400
        while time.time() < deadline:
            docs = [service.list_operations(dataset_name=ds.name)[0] for ds in datasets]
            if all(d.run_state in ("completed", "failed") for d in docs):
                break
            time.sleep(1)
    finally:
        for w in workers:
            os.killpg(w.pid, signal.SIGINT)
        for w in workers:
            try:
                w.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(w.pid, signal.SIGKILL)
                w.wait()

    logs = "\n".join((tmp_path / ("worker%d.log" % i)).read_text() for i in range(2))
    assert [d.run_state for d in docs] == ["completed", "completed"], logs[-3000:]
    a, b = docs
    assert a.started_at < b.completed_at and b.started_at < a.completed_at, (
        "the two operations did not overlap: %s-%s vs %s-%s"
        % (a.started_at, a.completed_at, b.started_at, b.completed_at))
    for ds, doc in zip(datasets, docs):
        ds.reload()
        assert len(ds.exists("embedding")) == len(fashion)
        service.delete_operation(doc.id)
