"""k-medoids on real embeddings: loss and time, Winnow's default beside its anchors.

    .venv/bin/python benchmarks/representatives.py [--sizes 2000 10000 50000] [--ks 10 50]

Fashion-MNIST training images embedded by the default model (EfficientNet-Lite0,
112 px, 1280-d, cosine distance; cached by ``fmnist_embeddings.py``), the first n
of one fixed random permutation. Every time includes computing the distances
from the embeddings. Rows:

- Winnow default: ``winnow.kmedoids(X, k)`` (method "auto": sklearn-extra
  alternate + Winnow's eager swap when the N×N matrix fits in 1 GiB, CLARA-style
  sampling beyond);
- scikit-learn-extra ``KMedoids(method="pam", init="build")``: the reference loss;
  skipped where it would take too long (k·n² above ``--pam-max-work``);
- scikit-learn-extra ``KMedoids(method="alternate", init="k-medoids++")``;
- FasterPAM (``kmedoids`` package, GPL-3), when installed.

The anchors need the N×N matrix and are skipped past the same 1 GiB budget.

Timing: every method first runs once on 200 points (imports, BLAS start-up and
thread pools are not billed to whichever method happens to run first); a run
that takes under ``--repeat-under`` seconds is repeated ``--repeat`` times and
its median reported (sub-second runs vary by tens of percent on a shared
machine).
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000, 50000])
    parser.add_argument("--ks", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--pam-max-work", type=float, default=1.0e9,
                        help="skip PAM where k·n² exceeds this (PAM is O(k·n²) per swap)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs of a fast method; the median time is reported")
    parser.add_argument("--repeat-under", type=float, default=5.0,
                        help="repeat only runs faster than this many seconds")
    args = parser.parse_args()

    from fmnist_embeddings import load_embeddings
    from winnow.plugin import representatives as rep

    data = load_embeddings(112)
    X_all = data["train_X"]
    order = np.random.default_rng(args.seed).permutation(len(X_all))
    budget = rep.DEFAULT_MEMORY_BUDGET
    try:
        import kmedoids  # noqa: F401
        have_fasterpam = True
    except ImportError:
        have_fasterpam = False

    methods = ["auto", "pam", "alternate"] + (["fasterpam"] if have_fasterpam else [])
    for method in methods:  # warm-up: imports and thread pools, billed to nobody
        rep.kmedoids(X_all[order[:200]], 5, method=method, seed=args.seed)

    def timed(X, k, method):
        t = time.perf_counter()
        fit = rep.kmedoids(X, k, method=method, seed=args.seed)
        times = [time.perf_counter() - t]
        while times[0] < args.repeat_under and len(times) < args.repeat:
            t = time.perf_counter()
            rep.kmedoids(X, k, method=method, seed=args.seed)
            times.append(time.perf_counter() - t)
        return fit, float(np.median(times))

    rows = []
    for n in args.sizes:
        X = X_all[order[:n]]
        fits = n <= rep.max_matrix_size(budget)
        for k in args.ks:
            results = {}
            fit, secs = timed(X, k, "auto")
            results["Winnow default (%s)" % fit.method] = (fit.loss, secs, "")
            anchors = [("sklearn-extra PAM", "pam"), ("sklearn-extra alternate", "alternate")]
            if have_fasterpam:
                anchors.append(("FasterPAM (GPL, opt-in)", "fasterpam"))
            else:
                results["FasterPAM (GPL, opt-in)"] = (None, None, "not installed")
            for name, method in anchors:
                if not fits:
                    results[name] = (None, None, "skipped: N×N matrix %.1f GiB > 1 GiB budget"
                                     % (4.0 * n * n / 2**30))
                    continue
                if method == "pam" and k * n * n > args.pam_max_work:
                    results[name] = (None, None, "skipped: k·n² = %.1e > %.0e (est. > 10 min)"
                                     % (k * n * n, args.pam_max_work))
                    continue
                fit, secs = timed(X, k, method)
                results[name] = (fit.loss, secs, "")
            pam = results["sklearn-extra PAM"]
            for name, (loss, secs, note) in results.items():
                rows.append((n, k, name, loss, secs, note, pam))
                _print_row(rows[-1])
    print()
    print(table(rows))


def _cells(row):
    n, k, name, loss, secs, note, (pam_loss, pam_secs, _) = row
    if loss is None:
        return [str(n), str(k), name, "—", "—", "—", "—", note]
    vs = "%+.2f %%" % (100.0 * (loss / pam_loss - 1)) if pam_loss else "—"
    speed = "%.1f×" % (pam_secs / secs) if pam_secs else "—"
    return [str(n), str(k), name, "%.1f" % loss, vs, "%.2f" % secs, speed, note]


def _print_row(row):
    print("  ".join(_cells(row)), flush=True)


def table(rows):
    head = ["n", "k", "method", "loss (Σ cosine dist.)", "vs PAM loss", "time (s)",
            "speed-up vs PAM", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append("| " + " | ".join(_cells(row)) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
