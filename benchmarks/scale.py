"""Scale: every array step at N = 100 k and 1 M embeddings, and bulk writes at 100 k.

    .venv/bin/python benchmarks/scale.py [--sizes 100000 1000000] [--dims 1280 512]
        [--steps outliers redundancy representatives label_issues]
        [--timeout 1200] [--max-rss-gb GB] [--writes 100000 | --no-writes]

Data: the real Fashion-MNIST embeddings (EfficientNet-Lite0 at 112 px, 1280-d,
70 000 train + test images, cached by ``fmnist_embeddings.py``). Up to 70 000
rows are a seeded random subset; beyond, all 70 000 plus jittered copies
(a random real row + Gaussian noise at 5 % of each dimension's standard
deviation; its label copied). The data are generated chunk by chunk with one
seeded generator per chunk, so every run and every step sees the same rows.
``--dims 512`` also runs each step on 512-d versions of the same rows (a seeded
Gaussian random projection, which keeps cosine geometry up to a few percent):
issue 5's target is outliers + redundancy on 100 k × 512-d in < 60 s.

Steps: the array-level engine calls with the defaults the dataset-level
``find_*`` function uses at that N (what a user gets):

- outliers: ``outliers.select_outliers(X, fraction=0.05)`` (PCA-32, HDBSCAN,
  GLOSH; ``find_outliers``'s defaults);
- redundancy: ``redundancy.select_redundant(X, fraction=0.05)`` (cosine average
  linkage on all 1280 dimensions, ``method="auto"``: exact up to 11 585 rows in
  the 1 GiB budget, spherical-k-means partitions of <= 4096 rows beyond;
  ``find_redundant``'s defaults);
- representatives: ``representatives.kmedoids(X, 10)`` (``method="auto"``:
  alternate + eager swap on the N×N matrix up to 16 384 rows, CLARA beyond;
  ``find_representatives``'s default k=10);
- label_issues: ``prepare_features`` → ``fit_out_of_sample`` (its default bagged MLPs) →
  ``find_issues`` (cleanlab), as ``find_label_issues`` runs them.

Each (step, N) runs in a fresh process; its peak memory is that process's
``ru_maxrss`` (every numpy/BLAS/C allocation counts, the embeddings
themselves included: N × 1280 float32 is 0.5 GB at 100 k and 5.1 GB at 1 M;
the "data GB" column is the RSS once they are built, before the step; the
step's imports, ``winnow`` with FiftyOne and torch, add ~0.8 GB to every peak).
A step past ``--timeout`` seconds is killed and reported as "timeout"; one
whose RSS passes ``--max-rss-gb`` (default 60 % of the machine's memory) is
killed and reported as "killed > X GB" (a guard for shared machines; a FAIL of
the 8 GB target either way).

Writes (``--writes 100000``): a FiftyOne dataset of that many samples
(synthetic filepaths, no images) with the embeddings; ``find_outliers`` runs on
it, and its time is split at Winnow's first write command into "read + array"
and "write" (score field, tags, run record), with MongoDB commands counted by
pymongo's command monitoring; reading the vectors back is also timed alone. Then
a plain bulk ``set_values`` of N floats and, for contrast, a per-sample
``save()`` loop on 2 000 samples extrapolated to 100 k.

Targets: 100 k < 60 s per step; 1 M < 10 min and < 8 GB per step.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
os.environ.setdefault("FIFTYONE_DATABASE_NAME", "winnow-bench")

STEPS = ("outliers", "redundancy", "representatives", "label_issues")
SEED = 0
JITTER = 0.05  # noise std as a share of each dimension's std
CHUNK = 65536
GB = 1e9
# (seconds, bytes) per step; None: no memory target at that size
TARGETS = {100000: (60.0, None), 1000000: (600.0, 8 * GB)}


# ------------------------------------------------------------------- data


def make_data(n, seed=SEED):
    """``(X (n, 1280) float32, y (n,) int64)``: real FMNIST rows, then jittered copies."""
    from fmnist_embeddings import load_embeddings

    d = load_embeddings(112)
    base = np.concatenate([d["train_X"], d["test_X"]])
    labels = np.concatenate([d["train_y"], d["test_y"]]).astype(np.int64)
    del d
    m = len(base)
    if n <= m:
        pick = np.sort(np.random.default_rng(seed).permutation(m)[:n])
        return np.ascontiguousarray(base[pick]), labels[pick]
    scale = (JITTER * base.std(axis=0)).astype(np.float32)
    X = np.empty((n, base.shape[1]), dtype=np.float32)
    y = np.empty(n, dtype=np.int64)
    X[:m], y[:m] = base, labels
    # One generator per chunk: the rows do not depend on the chunk size of a run.
    for c, start in enumerate(range(m, n, CHUNK)):
        stop = min(n, start + CHUNK)
        rng = np.random.default_rng([seed, c])
        src = rng.integers(0, m, stop - start)
        noise = rng.standard_normal((stop - start, base.shape[1]), dtype=np.float32)
        noise *= scale
        noise += base[src]
        X[start:stop], y[start:stop] = noise, labels[src]
    return X, y


def project(X, dim, seed=SEED):
    """``X`` through a seeded Gaussian random projection to ``dim`` columns (chunked)."""
    if dim >= X.shape[1]:
        return X
    R = np.random.default_rng([seed, dim]).standard_normal((X.shape[1], dim)).astype(
        np.float32) / np.float32(np.sqrt(dim))
    out = np.empty((len(X), dim), dtype=np.float32)
    for a in range(0, len(X), CHUNK):
        np.matmul(X[a:a + CHUNK], R, out=out[a:a + CHUNK])
    return out


def peak_rss():
    """The peak RSS of this process (and of any waited-for children), in bytes."""
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return 1024.0 * max(self_kb, kids_kb)


def cpu_seconds():
    """User + system CPU seconds of this process so far (all its threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def total_memory():
    """This machine's memory in bytes (16 GB if /proc/meminfo cannot be read)."""
    try:
        with open("/proc/meminfo") as f:
            return 1024.0 * int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        return 16 * GB


def current_rss(pid="self"):
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return 1024.0 * int(line.split()[1])
    except OSError:
        pass
    return 0.0


# ------------------------------------------------------------------- steps


def run_step(step, X, y):
    """Runs one step as ``find_*`` would at this N; returns a short description."""
    if step == "outliers":
        from winnow.plugin import outliers

        scores, chosen = outliers.select_outliers(X, fraction=0.05, progress=False)
        assert np.isfinite(scores).all() and len(chosen) == int(np.ceil(0.05 * len(X) - 1e-9))
        how = "HDBSCAN on all" if len(X) <= outliers.DEFAULT_SAMPLE_SIZE else \
            "HDBSCAN on 20 k, rest scored on its tree"
        return "PCA-32 + %s, %d tagged" % (how, len(chosen))
    if step == "redundancy":
        from winnow.plugin import redundancy

        res = redundancy.select_redundant(X, fraction=0.05, progress=False)
        assert res["redundant"].sum() == int(np.floor(0.05 * len(X) + 1e-9))
        return "%s, %d partition(s)" % (res["method"], res["num_partitions"])
    if step == "representatives":
        from winnow.plugin import representatives

        fit = representatives.kmedoids(X, 10)
        assert len(fit.medoids) == 10
        return "k=10, %s" % fit.method
    if step == "label_issues":
        from winnow.plugin import label_issues

        Xf = label_issues.prepare_features(X, seed=0)
        # find_label_issues' defaults (10 members on 75 % each).
        fitted = label_issues.fit_out_of_sample(Xf, y, seed=0, n_classes=int(y.max()) + 1)
        issues, quality, _ = label_issues.find_issues(y, fitted["probs"])
        assert len(quality) == len(X)
        return "%d bagged MLPs + cleanlab, %d flagged" % (len(fitted["trained_on"]),
                                                          int(issues.sum()))
    raise ValueError("unknown step %r" % step)


def step_child(step, n, dim):
    X, y = make_data(n)
    if dim < X.shape[1]:
        X = project(X, dim)
    data = current_rss()
    cpu = cpu_seconds()
    t = time.time()
    detail = run_step(step, X, y)
    seconds = time.time() - t
    print("RESULT " + json.dumps(dict(step=step, n=n, dim=X.shape[1], seconds=seconds,
                                      peak=peak_rss(),
                                      data=data, cpu=cpu_seconds() - cpu, detail=detail)),
          flush=True)


def run_child(args, timeout, max_rss):
    """Runs ``scale.py <args>`` in a fresh process; returns (RESULT dict or None, status)."""
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__)] + args,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watch = {"rss": 0.0, "killed": None}

    def watchdog():
        while proc.poll() is None:
            rss = current_rss(proc.pid)
            watch["rss"] = max(watch["rss"], rss)
            if max_rss and rss > max_rss:
                watch["killed"] = "killed > %g GB" % (max_rss / GB)
                proc.kill()
                return
            time.sleep(0.2)

    thread = threading.Thread(target=watchdog, daemon=True)
    thread.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None, "timeout"
    thread.join()
    if watch["killed"]:
        return None, watch["killed"]
    lines = [l for l in out.splitlines() if l.startswith("RESULT ")]
    if proc.returncode or not lines:
        sys.stderr.write("%s failed (rc %s):\n%s\n" % (" ".join(args), proc.returncode,
                                                      err[-3000:]))
        return None, "error"
    return json.loads(lines[-1][len("RESULT "):]), "ok"


def verdict(n, seconds, peak):
    target = TARGETS.get(n)
    if target is None:
        return "-", "-"
    t_max, m_max = target
    text = "< %.0f s" % t_max if t_max < 120 else "< %.0f min" % (t_max / 60)
    if m_max:
        text += ", < %.0f GB" % (m_max / GB)
    if seconds is None:
        return text, "FAIL"
    ok = seconds < t_max and (m_max is None or peak < m_max)
    return text, "pass" if ok else "FAIL"


# ------------------------------------------------------------------- writes


class CommandCounter:
    """pymongo command listener: every command's name, start time and statement count."""

    WRITES = ("insert", "update", "delete", "findAndModify")

    def __init__(self):
        self.events = []

    def started(self, event):
        name = event.command_name
        cmd = event.command
        statements = 1
        for key in ("documents", "updates", "deletes"):
            if key in cmd:
                statements = len(cmd[key])
        self.events.append((time.time(), name, statements))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    def since(self, t):
        return [e for e in self.events if e[0] >= t]

    def writes(self, events):
        w = [e for e in events if e[1] in self.WRITES]
        return len(w), sum(e[2] for e in w)


def writes_child(n):
    import pymongo.monitoring

    counter = CommandCounter()

    class Listener(pymongo.monitoring.CommandListener):
        started = counter.started
        succeeded = counter.succeeded
        failed = counter.failed

    pymongo.monitoring.register(Listener())  # before FiftyOne opens its client

    import fiftyone as fo
    import winnow
    from winnow.plugin import inputs

    X, _ = make_data(n)
    ds = fo.Dataset("winnow-scale-writes-%d-%d" % (n, os.getpid()))
    out = dict(n=n)
    try:
        t = time.time()
        batch = 10000
        for a in range(0, n, batch):
            ds.add_samples([fo.Sample(filepath="/synthetic/winnow-scale/%07d.png" % i,
                                      embedding=X[i]) for i in range(a, min(n, a + batch))],
                           progress=False)
        out["create"] = time.time() - t

        # Reading the vectors back, as every find_* does first (also warms the imports).
        t = time.time()
        X_read = inputs.load_vectors(ds, "embedding").X
        out["read"] = time.time() - t
        assert X_read.shape == X.shape
        del X_read

        t0 = time.time()
        res = winnow.find_outliers(ds)
        t_end = time.time()
        events = counter.since(t0)
        first_write = min([e[0] for e in events if e[1] in CommandCounter.WRITES] or [t_end])
        out["find_total"] = t_end - t0
        out["find_write"] = t_end - first_write
        out["find_before_write"] = first_write - t0
        out["find_commands"] = len(events)
        out["find_write_commands"], out["find_write_statements"] = counter.writes(events)
        assert res.num_samples == n

        # A plain bulk write of N floats, and a per-sample save() loop for contrast.
        values = np.random.default_rng(SEED).random(n).tolist()
        ids = ds.values("id")
        ds.add_sample_field("scale_bulk", fo.FloatField)
        t = time.time()
        ds.set_values("scale_bulk", dict(zip(ids, values)), key_field="id")
        out["bulk"] = time.time() - t
        out["bulk_write_commands"], out["bulk_write_statements"] = counter.writes(
            counter.since(t))

        m = min(2000, n)
        ds.add_sample_field("scale_saved", fo.FloatField)
        view = ds.limit(m)
        t = time.time()
        for sample, v in zip(view.iter_samples(), values):
            sample["scale_saved"] = v
            sample.save()
        out["save_loop"] = time.time() - t
        out["save_loop_n"] = m
        out["save_write_commands"], _ = counter.writes(counter.since(t))
    finally:
        ds.delete()
    out["peak"] = peak_rss()
    print("RESULT " + json.dumps(out), flush=True)


# ------------------------------------------------------------------- main


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="*", default=[100000, 1000000],
                   help="embedding counts (none: only the write measurement)")
    p.add_argument("--dims", type=int, nargs="+", default=[1280],
                   help="embedding dimensions (< 1280: random projections of the rows)")
    p.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    p.add_argument("--timeout", type=float, default=1200.0,
                   help="seconds per (step, N) before it is killed and reported as timeout")
    p.add_argument("--max-rss-gb", type=float, default=round(0.6 * total_memory() / GB),
                   help="kill a step whose RSS passes this (0: no limit); default 60 %% of "
                        "this machine's memory")
    p.add_argument("--writes", type=int, default=100000,
                   help="samples of the FiftyOne write measurement")
    p.add_argument("--no-writes", action="store_true")
    p.add_argument("--step-child", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--writes-child", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.step_child:
        step_child(a.step_child[0], int(a.step_child[1]), int(a.step_child[2]))
        return
    if a.writes_child:
        writes_child(a.writes_child)
        return

    max_rss = a.max_rss_gb * GB
    rows = []
    for n, dim, step in [(n, d, s) for n in a.sizes for d in a.dims for s in a.steps]:
        res, status = run_child(["--step-child", step, str(n), str(dim)], a.timeout,
                                max_rss)
        if res is None:
            seconds = peak = data = cpu = None
            detail = ""
            shown = status if status != "timeout" else "timeout (> %.0f s)" % a.timeout
        else:
            seconds, peak, data, cpu, detail = (res["seconds"], res["peak"], res["data"],
                                                res["cpu"], res["detail"])
            shown = "%.1f" % seconds
        target, ok = verdict(n, seconds, peak)
        rows.append((step, n, dim, shown, cpu, peak, data, target, ok, detail))
        print("# %s N=%d D=%d: %s s, peak %s GB (%s)" % (
            step, n, dim, shown, "-" if peak is None else "%.2f" % (peak / GB), detail),
            file=sys.stderr, flush=True)

    if rows:
        print_steps(rows)
    if a.no_writes:
        return
    print_writes(*run_child(["--writes-child", str(a.writes)], a.timeout * 2, max_rss),
                 n=a.writes)


def print_steps(rows):
    print("Scale: real Fashion-MNIST embeddings (1280-d) + jittered copies; each (step, N, D) "
          "in a fresh process; peak = its max RSS, embeddings included; CPU s = user + "
          "system seconds of the step (all threads: wall time on a busy machine is longer)")
    print()
    print("| step | N | D | wall s | CPU s | peak GB | data GB | target | pass/fail | what ran |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---|---|")
    for step, n, dim, shown, cpu, peak, data, target, ok, detail in rows:
        print("| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s |" % (
            step, n, dim, shown, "-" if cpu is None else "%.0f" % cpu,
            "-" if peak is None else "%.2f" % (peak / GB),
            "-" if data is None else "%.2f" % (data / GB), target, ok, detail))
    print()


def print_writes(res, status, n):
    if res is None:
        print("FiftyOne writes at N=%d: %s" % (n, status))
        return
    n = res["n"]
    per = 100000.0 / n
    print("FiftyOne writes, N=%d samples (synthetic filepaths + 1280-d embeddings; dataset "
          "created in %.1f s); MongoDB commands counted by pymongo monitoring" % (n, res["create"]))
    print()
    print("| what | s | s per 100 k | write commands | statements per command |")
    print("|---|---:|---:|---:|---:|")
    print("| read the %d embeddings back (`inputs.load_vectors`) | %.1f | %.1f | 0 | - |"
          % (n, res["read"], res["read"] * per))
    print("| `find_outliers`, all | %.1f | - | %d | - |"
          % (res["find_total"], res["find_write_commands"]))
    print("| `find_outliers` before its first write (checks, read, array step) | %.1f | - | 0 "
          "| - |" % res["find_before_write"])
    print("| `find_outliers` array step (~ the above minus the read) | ~%.0f | - | - | - |"
          % max(0.0, res["find_before_write"] - res["read"]))
    print("| `find_outliers` write (score field, tags, run record) | %.1f | %.1f | %d | %.0f |"
          % (res["find_write"], res["find_write"] * per, res["find_write_commands"],
             res["find_write_statements"] / max(1, res["find_write_commands"])))
    print("| bulk `set_values` of %d floats | %.1f | %.1f | %d | %.0f |"
          % (n, res["bulk"], res["bulk"] * per, res["bulk_write_commands"],
             res["bulk_write_statements"] / max(1, res["bulk_write_commands"])))
    m = res["save_loop_n"]
    print("| per-sample `save()` loop, %d samples (extrapolated to 100 k) | %.1f | %.0f | %d | "
          "%.0f |" % (m, res["save_loop"], res["save_loop"] * 100000.0 / m,
                      res["save_write_commands"], m / max(1, res["save_write_commands"])))
    # Bulk: a few commands of many samples each, not one per sample.
    bulk = res["find_write_commands"] < max(50, n / 100.0)
    print()
    print("Writes stay bulk: %s (find_outliers wrote %d samples' results in %d write commands; "
          "a save() loop needs one command per sample)"
          % ("yes" if bulk else "NO", n, res["find_write_commands"]))


if __name__ == "__main__":
    main()
