"""The thesis's own table on real data: which subset of Fashion-MNIST trains best?

    .venv/bin/python benchmarks/filtering.py [--pool 10000] [--seeds 3] [--first-seed 0]

Real embeddings (default model, cached by ``fmnist_embeddings.py``). For each
seed, a stratified pool of ``--pool`` training images is drawn from the 60 000
(the pool keeps the run to minutes on a 2-core machine); every method keeps
95 / 90 / 80 / 50 % of the pool:

  (a) random             uniform random subset
  (b) brain uniqueness   FiftyOne Brain ``compute_uniqueness`` (the real call, on a
                         dataset of the pool's embeddings without images); the
                         least unique are dropped
  (c) W redundancy       winnow redundancy only (agglomerative, cosine)
  (c2) W redundancy PCA-32  (c) on a 32-d PCA of the embeddings (the thesis's
                         N_reduce; 32 was chosen on seeds 0-9 among 16/32/64/128)
  (d) W outliers         winnow outliers only (HDBSCAN / GLOSH)
  (e) W half+half        outliers then redundancy, half of the removal each (the thesis way)
  (f) W class-aware      (e) with per-class quotas (class proportions kept)
  (g) W class-aware red  (c) with per-class quotas
  (h) W class-aware out  (d) with per-class quotas (each class scored on its own)

The same classifier (multinomial logistic regression on the pool's 64-d PCA
of the embeddings, standardised; the feature map is fit on the whole pool, so
it is the same for every method) is trained on each subset and scored on the
10 000 test images; mean ± std over seeds. Then the time and peak memory of
outliers + redundancy at N = 10 k and 100 k (60 k train embeddings plus
jittered copies), each in a fresh process.
"""

import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
os.environ.setdefault("FIFTYONE_DATABASE_NAME", "winnow-bench")

KEEPS = (0.95, 0.90, 0.80, 0.50)
METHODS = [
    ("random", "(a) random"),
    ("uniqueness", "(b) brain uniqueness"),
    ("redundancy", "(c) W redundancy"),
    ("redundancy32", "(c2) W redundancy PCA-32"),
    ("outliers", "(d) W outliers"),
    ("half", "(e) W half+half"),
    ("class_half", "(f) W class-aware"),
    ("class_red", "(g) W class-aware red"),
    ("class_out", "(h) W class-aware out"),
]


def stratified_pool(y, size, rng):
    idx = []
    classes = np.unique(y)
    for c in classes:
        members = np.flatnonzero(y == c)
        idx.append(rng.choice(members, size // len(classes), replace=False))
    return np.sort(np.concatenate(idx))


def brain_uniqueness(X):
    """FiftyOne Brain's uniqueness of the rows, through the real Brain call."""
    import fiftyone as fo
    import fiftyone.brain as fob

    ds = fo.Dataset()
    try:
        # No images: the Brain only needs the embeddings we pass.
        ds.add_samples([fo.Sample(filepath="/nonexistent/%d.png" % i) for i in range(len(X))],
                       progress=False)
        fob.compute_uniqueness(ds, embeddings=X, progress=False)
        return np.asarray(ds.values("uniqueness"), dtype=float)
    finally:
        ds.delete()


def top(scores, k):
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores)))
    return np.sort(order[:k])


def kept_indices(method, keep, X, y, seed, cache):
    from winnow.plugin import filtering, outliers, redundancy, vectors

    n = len(X)
    k = int(round(keep * n))
    drop = n - k
    if method == "random":
        return np.sort(np.random.RandomState(1000 + seed).choice(n, k, replace=False))
    if method == "uniqueness":
        if "uniq" not in cache:
            cache["uniq"] = brain_uniqueness(X)
        return top(cache["uniq"], k)
    if method == "outliers":
        if "glosh" not in cache:
            cache["glosh"] = outliers.outlier_scores(X, random_state=seed)
        return top(-cache["glosh"], k)
    if method == "class_out":
        if "glosh_c" not in cache:
            cache["glosh_c"] = outliers.select_outliers(X, count=0, labels=y, progress=False,
                                                        random_state=seed)[0]
        quotas = vectors.class_quotas(y, drop)
        keep_idx = []
        for c, q in quotas.items():
            members = np.flatnonzero(y.astype(str) == c)
            keep_idx.append(members[top(-cache["glosh_c"][members], len(members) - q)])
        return np.sort(np.concatenate(keep_idx))
    if method == "redundancy":
        if "tree" not in cache:
            cache["tree"] = redundancy.RedundancyTree(X, random_state=seed, progress=False)
        return np.flatnonzero(~cache["tree"].cut(n_clusters=n - drop)["redundant"])
    if method == "redundancy32":
        if "tree32" not in cache:
            cache["tree32"] = redundancy.RedundancyTree(X, n_components=32, random_state=seed,
                                                        progress=False)
        return np.flatnonzero(~cache["tree32"].cut(n_clusters=n - drop)["redundant"])
    if method == "class_red":
        res = redundancy.select_redundant(X, count=drop, labels=y, progress=False,
                                          random_state=seed)
        return np.flatnonzero(~res["redundant"])
    share = drop / 2.0 / n
    # (e)/(f): ceil(share·N) outliers + floor(share·N) redundant = drop (± 1).
    res = filtering.filter_arrays(X, outliers=share, redundant=share,
                                  labels=y if method == "class_half" else None,
                                  random_state=seed)
    return np.flatnonzero(res["kept"])


def classifier_accuracy(F, y, Ft, yt, idx):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=300, tol=1e-4)
    model.fit(F[idx], y[idx])
    return float(model.score(Ft, yt))


def run_table(pool_size, seeds, keeps, methods):
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    from fmnist_embeddings import load_embeddings

    d = load_embeddings(112)
    acc = {(m, k): [] for m, _ in methods for k in keeps}
    full = []
    sizes = {}
    for seed in seeds:
        t0 = time.time()
        rng = np.random.RandomState(seed)
        pool = stratified_pool(d["train_y"], pool_size, rng)
        X, y = d["train_X"][pool], d["train_y"][pool]
        pca = PCA(64, random_state=seed).fit(X)
        scaler = StandardScaler().fit(pca.transform(X))
        F = scaler.transform(pca.transform(X))
        Ft = scaler.transform(pca.transform(d["test_X"]))
        full.append(classifier_accuracy(F, y, Ft, d["test_y"], np.arange(len(X))))
        cache = {}
        for m, label in methods:
            for keep in keeps:
                t = time.time()
                idx = kept_indices(m, keep, X, y, seed, cache)
                sizes[(m, keep)] = len(idx)
                a = classifier_accuracy(F, y, Ft, d["test_y"], idx)
                acc[(m, keep)].append(a)
                print("  seed %d %-22s keep %2d%%: n=%5d acc %.4f (%.0f s)"
                      % (seed, label, keep * 100, len(idx), a, time.time() - t), flush=True)
        print("seed %d done in %.0f s" % (seed, time.time() - t0), flush=True)
    return acc, full, sizes


def _paired_stats(acc, method, anchor, keep):
    """Mean and standard error of the per-seed accuracy difference, in points x 100."""
    diff = 100.0 * (np.array(acc[(method, keep)]) - np.array(acc[(anchor, keep)]))
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
    return diff.mean(), se


def _paired(acc, method, anchor, keep):
    return "%+.2f ± %.2f" % _paired_stats(acc, method, anchor, keep)


def _within_noise(acc, method, anchor, keep):
    mean, se = _paired_stats(acc, method, anchor, keep)
    return abs(mean) <= se  # False for one seed: se is NaN


def print_table(acc, full, keeps, methods, pool_size, seeds):
    print()
    print("Fashion-MNIST, EfficientNet-Lite0 embeddings (112 px), logistic regression on 64-d "
          "PCA; pool %d train images per seed, test 10 000; %d seeds %d-%d (mean ± std)"
          % (pool_size, len(seeds), seeds[0], seeds[-1]))
    print("full pool: %.4f ± %.4f" % (np.mean(full), np.std(full)))
    head = "| method                  | " + " | ".join("keep %d %%       " % (k * 100)
                                                        for k in keeps) + " |"
    print(head)
    print("|" + "-" * (len(head) - 2) + "|")
    for m, label in methods:
        cells = ["%.4f ± %.4f" % (np.mean(acc[(m, k)]), np.std(acc[(m, k)])) for k in keeps]
        print("| %-23s | %s |" % (label, " | ".join(cells)))
    winnow = [m for m, _ in methods if m not in ("random", "uniqueness")]
    print()
    for k in keeps:
        best = max(winnow, key=lambda m: np.mean(acc[(m, k)]))
        b = np.mean(acc[(best, k)])
        r = np.mean(acc[("random", k)])
        u = np.mean(acc[("uniqueness", k)])
        paired = ", paired %s vs random, %s vs uniqueness" % (
            _paired(acc, best, "random", k), _paired(acc, best, "uniqueness", k))
        if b >= r and b >= u:
            verdict = "target met"
        elif all(_within_noise(acc, best, a, k) for a in ("random", "uniqueness")
                 if np.mean(acc[(a, k)]) > b):
            # Behind in the means by less than the paired standard error: a tie
            # that another set of seeds may turn either way.
            verdict = "TARGET MISSED in the means, tied within one standard error"
        else:
            verdict = "TARGET MISSED"
        print("keep %d %%: best Winnow %s %.4f vs random %.4f (%+.4f), uniqueness %.4f (%+.4f)"
              " -> %s%s" % (k * 100, best, b, r, b - r, u, b - u, verdict,
                            paired if len(seeds) > 1 else ""))
    # Every method of a seed trains on the same pool and features, so per-seed
    # differences are paired: their spread is far smaller than the seeds' spread.
    print()
    print("Paired per-seed differences, mean ± standard error over %d seeds (accuracy points "
          "x 100):" % len(seeds))
    print("| method | " + " | ".join("keep %d %% vs random | vs uniqueness" % (k * 100)
                                     for k in keeps) + " |")
    print("|---|" + "---:|---:|" * len(keeps))
    for m, label in methods:
        if m in ("random", "uniqueness"):
            continue
        cells = [_paired(acc, m, anchor, k) for k in keeps for anchor in ("random", "uniqueness")]
        print("| %s | %s |" % (label, " | ".join(cells)))


# ----------------------------------------------------------------- timing


def timing_child(n, dim, fraction=0.05):
    """Times outliers + redundancy on N embeddings in this (fresh) process."""
    from winnow.plugin import outliers, redundancy

    from fmnist_embeddings import load_embeddings

    rng = np.random.RandomState(0)
    if dim == "fmnist":
        base = load_embeddings(112)["train_X"]
        if n <= len(base):
            X = base[:n]
        else:
            # Jittered copies of real embeddings: noise at 5 % of each dimension's spread.
            extra = base[rng.randint(0, len(base), n - len(base))]
            noise = rng.normal(0, 1, extra.shape).astype(np.float32) * (0.05 * base.std(0))
            X = np.concatenate([base, extra + noise])
        del base
    else:
        # Generated: a mixture of 1000 Gaussian clusters in `dim` dimensions.
        centres = rng.normal(0, 1, (1000, int(dim))).astype(np.float32)
        X = centres[rng.randint(0, 1000, n)] + 0.3 * rng.normal(0, 1, (n, int(dim))).astype(
            np.float32)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.time()
    scores = outliers.outlier_scores(X)
    t_out = time.time() - t
    t = time.time()
    res = redundancy.redundancy_clusters(X, n_clusters=n - int(fraction * n), progress=False)
    t_red = time.time() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert np.isfinite(scores).all() and res["redundant"].sum() == int(fraction * n)
    print("TIMING %d %s %d %.1f %.1f %.3f %.3f %s %d" % (
        n, dim, X.shape[1], t_out, t_red, peak / 1e6, base_rss / 1e6, res["method"],
        res["num_partitions"]))


def run_timing(cases):
    rows = []
    for n, dim in cases:
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--timing-child",
                              str(n), str(dim)], capture_output=True, text=True)
        line = [l for l in out.stdout.splitlines() if l.startswith("TIMING")]
        if out.returncode or not line:
            print("timing N=%d failed:\n%s" % (n, out.stderr[-2000:]))
            continue
        rows.append(line[0].split()[1:])
        print(line[0], flush=True)
    print()
    print("Outliers (PCA-32 + HDBSCAN/GLOSH) + redundancy (5 %), fresh process each; "
          "peak = max RSS of the process (data included)")
    print("| N | embeddings | dim | outliers s | redundancy s | total s | peak GB | data-loaded "
          "GB | redundancy method (partitions) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, kind, d, to, tr, peak, base, method, parts in rows:
        print("| %s | %s | %s | %s | %s | %.1f | %s | %s | %s (%s) |" % (
            n, "real FMNIST" + (" + jittered" if int(n) > 60000 else "")
            if kind == "fmnist" else "generated", d, to, tr, float(to) + float(tr),
            peak, base, method, parts))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pool", type=int, default=10000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0,
                   help="seeds first-seed .. first-seed + seeds - 1 (fresh seeds confirm a "
                        "choice made on others)")
    p.add_argument("--keeps", default="95,90,80,50")
    p.add_argument("--no-table", action="store_true")
    p.add_argument("--no-timing", action="store_true")
    p.add_argument("--timing", default="10000:fmnist,100000:fmnist",
                   help="N:fmnist or N:<dim> (generated), comma-separated; e.g. add "
                        "1000000:512")
    p.add_argument("--timing-child", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.timing_child:
        timing_child(int(a.timing_child[0]), a.timing_child[1])
        return
    keeps = [int(k) / 100.0 for k in a.keeps.split(",")]
    seeds = list(range(a.first_seed, a.first_seed + a.seeds))
    if not a.no_table:
        acc, full, _ = run_table(a.pool, seeds, keeps, METHODS)
        print_table(acc, full, keeps, METHODS, a.pool, seeds)
    if not a.no_timing:
        cases = [(int(c.split(":")[0]), c.split(":")[1]) for c in a.timing.split(",")]
        run_timing(cases)


if __name__ == "__main__":
    main()
