"""How the small-set default of ``classifier="auto"`` was chosen (issue 17), on design seeds.

    .venv/bin/python benchmarks/label_issues_design.py --sizes 300 --seeds 100 101 ... 107
    .venv/bin/python benchmarks/label_issues_design.py --sizes 600 1200 3000 --seeds 100 101 --no-anchors

The same subsets and flips as ``benchmarks/label_issues.py`` (its ``flip_labels`` and
seeding), but with design seeds (100 and up), never the benchmark's seeds 0-4. For each
size, noise kind, rate and seed, every candidate's out-of-sample probabilities on the same
10 folds (bagged MLPs with L2 penalty 0.01-10, logistic regressions C 0.001-0.3, kNN)
are cached under ``benchmarks/cache/design``; then each way of combining them (the
log-loss mixture over a candidate set, a shrunk mixture, equal means, single candidates)
is scored by cleanlab's flags against the flips. Printed: mean F1 per setting and
strategy, each strategy minus the mixture default of the time (``current``) paired over
all (setting, seed) pairs, and, with anchors, minus the best anchor (nested-CV logistic
regression; single MLP, alpha by nested CV over 0.1/1/10).

Outcome (2026-12-02): the equal mean of bagged MLPs alpha 3 and 10 and logistic C 0.003
and 0.01 (``eq_mlp310_lr0031``, now ``classifiers.SMALL_CANDIDATES``) gained +0.040 ±
0.005 F1 over ``current`` at 300 samples (8 seeds), +0.010 ± 0.009 at 600, +0.013 ±
0.005 at 1 200 and +0.006 ± 0.007 at 3 000 (2 seeds): a tie at 3 000, so the mixture
stays from ``SMALL_ROWS`` = 2 000. It was the best of ~20 strategies at 300 samples: the
benchmark's own seeds, not these, measure it.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
warnings.filterwarnings("ignore")

import label_issues as bench  # noqa: E402
from fmnist_embeddings import load_embeddings  # noqa: E402

from winnow.plugin import classifiers, label_issues as li  # noqa: E402

CACHE = os.path.join(HERE, "cache", "design")
MLP_ALPHAS = (0.01, 0.3, 1.0, 3.0, 10.0)
LOGISTIC_C = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
# Fitted log-loss mixtures over these candidate sets (cross-fitted as in "auto") ...
MIXTURES = {
    "current": ["mlp0.01", "mlp1", "lr0.003", "lr0.01", "lr0.03", "lr0.3"],
    "strong": ["mlp1", "mlp3", "mlp10", "lr0.001", "lr0.003", "lr0.01", "lr0.03"],
    "strong2": ["mlp1", "mlp3", "lr0.003", "lr0.01", "lr0.03"],
    "cur+strong": ["mlp0.01", "mlp1", "mlp3", "mlp10", "lr0.001", "lr0.003", "lr0.01",
                   "lr0.03", "lr0.3"],
    "cur+knn": ["mlp0.01", "mlp1", "lr0.003", "lr0.01", "lr0.03", "lr0.3", "knn10", "knn30"],
    "mlponly": ["mlp0.3", "mlp1", "mlp3", "mlp10"],
}
# ... and equal means (a single name: that candidate alone).
MEANS = {
    "eq_mlp1_lr": ["mlp1", "lr0.01", "lr0.03"],
    "eq_mlp1_mlp3_lr": ["mlp1", "mlp3", "lr0.003", "lr0.01", "lr0.03"],
    "eq_strong": ["mlp1", "mlp3", "mlp10", "lr0.003", "lr0.01", "lr0.03"],
    "eq_mlp3_lr01": ["mlp3", "lr0.01"],
    "eq_mlp13_lr013": ["mlp1", "mlp3", "lr0.01", "lr0.03"],
    "eq_mlp310_lr0031": ["mlp3", "mlp10", "lr0.003", "lr0.01"],
    "eq_mlp13_lr0031": ["mlp1", "mlp3", "lr0.003", "lr0.01"],
    "mlp1": ["mlp1"], "mlp3": ["mlp3"], "lr0.01": ["lr0.01"],
}


def candidate_probs(n, kind, rate, seed, anchors=True):
    """Cached ``dict`` of the setting's noisy labels, flips, folds, every candidate's
    out-of-sample probabilities (``names``, ``cands`` ``(M, n, 10)``) and, with
    ``anchors``, the two anchors' probabilities."""
    path = os.path.join(CACHE, "%d-%s-%d-%d.npz" % (n, kind, rate, seed))
    if os.path.exists(path):
        d = dict(np.load(path))
        if not anchors or "anchor_lr" in d:
            return d
    from sklearn.neighbors import KNeighborsClassifier

    data = load_embeddings(112)
    rng = np.random.default_rng([n, rate, kind == "confusable", seed])
    rows = np.sort(rng.choice(len(data["train_X"]), n, replace=False))
    X, y = data["train_X"][rows], data["train_y"][rows]
    noisy, flipped = bench.flip_labels(y, rate / 100.0, kind, rng)
    P = li.prepare_features(X, seed=seed)
    probs = {}
    for alpha in MLP_ALPHAS:
        model = "bagging-mlp" if alpha == 0.01 else classifiers.make_candidate(
            "bagging-mlp:alpha=%g" % alpha)
        out = li.fit_out_of_sample(P, noisy, classifier=model, seed=seed, n_classes=10)
        probs["mlp%g" % alpha] = out["probs"]
    folds = out["folds"]  # the same seed: the same folds for every candidate
    for c, out in zip(LOGISTIC_C, classifiers.logistic_path(P, noisy, folds, LOGISTIC_C,
                                                            n_classes=10)):
        probs["lr%g" % c] = out["probs"]
    for k in (10, 30):
        probs["knn%d" % k] = li.fit_out_of_sample(
            P, noisy, classifier=KNeighborsClassifier(k, weights="distance"),
            max_samples=None, seed=seed, n_classes=10)["probs"]
    d = dict(noisy=noisy, flipped=flipped, folds=folds, names=np.array(list(probs)),
             cands=np.stack(list(probs.values())))
    if anchors:
        d["anchor_lr"] = bench.tuned_logistic(X, noisy, seed=seed)[0]
        d["anchor_mlp"] = bench.tuned_mlp(P, noisy, seed=seed, grid=(0.1, 1.0, 10.0))[0]
    os.makedirs(CACHE, exist_ok=True)
    np.savez(path + ".tmp.npz", **d)
    os.replace(path + ".tmp.npz", path)
    return d


def scores(d):
    """F1 of every strategy (and anchor) on one setting's cached probabilities."""
    import cleanlab

    names = list(d["names"])
    cands, noisy, flipped = d["cands"], d["noisy"], d["flipped"]

    def f1(probs):
        return bench.prf(li.find_issues(noisy, probs)[0], flipped)[2]

    out = {}
    if "anchor_lr" in d and d["anchor_lr"].any():  # an all-zero cache entry: none ran
        out["A:lr"] = bench.prf(cleanlab.filter.find_label_issues(noisy, d["anchor_lr"]),
                                flipped)[2]
        out["A:mlp"] = f1(d["anchor_mlp"])
    have = set(names)  # a cache from an earlier version may lack some candidates
    for name, members in MIXTURES.items():
        if not have.issuperset(members):
            continue
        P = cands[[names.index(m) for m in members]]
        out[name] = f1(classifiers.cross_fitted_mixture(P, noisy, d["folds"])[0])
    P = cands[[names.index(m) for m in MIXTURES["strong2"]]]
    mixed = classifiers.cross_fitted_mixture(P, noisy, d["folds"])[0]
    out["shrunk"] = f1(0.5 * mixed + 0.5 * P.mean(0))  # halfway to equal weights
    for name, members in MEANS.items():
        if not have.issuperset(members):
            continue
        out[name] = f1(cands[[names.index(m) for m in members]].mean(0))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[300])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(100, 108)))
    parser.add_argument("--kinds", nargs="+", default=["uniform", "confusable"])
    parser.add_argument("--rates", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--no-anchors", action="store_true",
                        help="skip the nested-CV anchors (only strategy vs strategy)")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    if min(args.seeds) < 100:
        parser.error("design seeds start at 100: seeds 0-4 are the benchmark's")
    for n in args.sizes:
        rows = {}
        with threadpool_limits(1):
            for seed in args.seeds:
                for kind in args.kinds:
                    for rate in args.rates:
                        t = time.time()
                        d = candidate_probs(n, kind, rate, seed, anchors=not args.no_anchors)
                        rows.setdefault("n=%d %s %d%%" % (n, kind, rate), []).append(scores(d))
                        print("n=%d %s %d%% seed %d: %.0f s" % (n, kind, rate, seed,
                                                                time.time() - t), flush=True)
        report(rows)


def report(rows):
    keys = [k for k in next(iter(rows.values()))[0]]
    print("\n| setting | seeds | " + " | ".join(keys) + " |")
    print("|---|---:|" + "---:|" * len(keys))
    for setting, rs in rows.items():
        print("| %s | %d | %s |" % (setting, len(rs), " | ".join(
            "%.3f" % np.mean([r[k] for r in rs]) for k in keys)))
    print("\nstrategy minus the mixture default of the time (current), paired over all "
          "(setting, seed) pairs; minus the best anchor per setting where anchors ran")
    for k in keys:
        if k.startswith("A:"):
            continue
        d = np.array([r[k] - r["current"] for rs in rows.values() for r in rs])
        line = "%-18s %+.4f ± %.4f" % (k, d.mean(), d.std(ddof=1) / np.sqrt(len(d))
                                       if len(d) > 1 else float("nan"))
        if "A:lr" in keys:
            margins = []
            for rs in rows.values():
                best = max(("A:lr", "A:mlp"), key=lambda a: np.mean([r[a] for r in rs]))
                margins.append(np.mean([r[k] - r[best] for r in rs]))
            line += "   vs best anchor: mean %+.4f, worst setting %+.4f" % (
                np.mean(margins), min(margins))
        print(line)


if __name__ == "__main__":
    main()
