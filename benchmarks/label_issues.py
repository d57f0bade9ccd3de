"""Label issues on real Fashion-MNIST embeddings with known flips: Winnow vs tuned anchors.

    .venv/bin/python benchmarks/label_issues.py [--sizes 300 600 1200 3000 10000]
        [--rates 5 10 20] [--kinds uniform confusable] [--seeds 5] [--multilabel 3000] [--ml-seeds 0 1 2]
        [--no-brain] [--no-tune-mlp] [--lr-grid ...] [--mlp-grid ...] [--json results.json]
    .venv/bin/python benchmarks/label_issues.py --summarise results.json [more.json]
    .venv/bin/python benchmarks/label_issues.py --timing 10000 60000

For each size, noise kind, rate and seed: a fresh random subset of the 60 000 training
embeddings (EfficientNet-Lite0, 112 px), ``rate`` of its labels flipped uniformly (to any
other class) or between confusable classes (T-shirt <-> shirt, pullover <-> coat, sneaker
<-> ankle boot, dress <-> trouser). Each method's flagged set is scored against the flips
(precision, recall, F1); F1 differences to Winnow are paired by seed (mean +- standard
error). Methods, side by side on the same subset:

- Winnow's default (``classifier="auto"``): a cross-fitted mixture of bagged MLPs and
  logistic regressions, below ``SMALL_ROWS`` samples the equal mean of strongly
  regularised ones (see ``plugin/classifiers.py``), + cleanlab
- Winnow's bagged MLPs alone (the default before issue 17), + cleanlab: free where it is
  one of the mixture's candidates, fitted alone (untimed) below ``SMALL_ROWS``
- cleanlab + logistic regression as a careful user tunes it: standardized embeddings, C
  chosen by 3-fold out-of-fold log loss over ``LR_GRID`` inside each of 5 outer folds
  (nested, so no sample's probability comes from a model or a C choice that saw it)
- a single MLP per outer fold (Miribel's baseline) + cleanlab, its L2 penalty chosen
  the same nested way over ``MLP_GRID`` (``--no-tune-mlp``: Winnow's alpha)
- FiftyOne Brain ``compute_mistakenness`` fed with the tuned logistic predictions
  (flagged: mistakenness > 0.5, i.e. a prediction that disagrees)

Per-class precision of the flags (summed over seeds) is printed per setting for Winnow
and the logistic anchor. Everything runs on one BLAS/torch thread (a shared machine).

Then, with ``--multilabel N``, a multi-label case from real images: 2x2 mosaics of
Fashion-MNIST items embedded with ``embed_arrays`` at 112 px, labels = the set of their
classes, 10 % of mosaics with one class swapped for an absent one (``--ml-seeds`` draws of
the swaps; ``--sizes 0`` runs only this case). Winnow's default (the change model of
``find_issues``) beside the previous default (cleanlab's multi-label filter on the same
probabilities), the MSE ranking, the anchors with cleanlab's filter, and two ceilings: the
default's ranking told the true number of swaps, and probabilities learned (out of sample)
from the clean labels. A one-value ``--lr-grid``/``--mlp-grid`` fixes the value (no inner CV).
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

from fmnist_embeddings import load_embeddings  # noqa: E402

from winnow.plugin import label_issues as li  # noqa: E402

CONFUSABLE = [(0, 6), (2, 4), (7, 9), (3, 1)]


def flip_labels(y, rate, kind, rng, k=10):
    """Returns ``(noisy, flipped)``: ``rate`` of all labels changed."""
    noisy = y.copy()
    n_flip = int(round(rate * len(y)))
    if kind == "uniform":
        idx = rng.choice(len(y), n_flip, replace=False)
        noisy[idx] = (y[idx] + rng.integers(1, k, len(idx))) % k
    else:
        partner = {a: b for a, b in CONFUSABLE} | {b: a for a, b in CONFUSABLE}
        pool = np.flatnonzero(np.isin(y, list(partner)))
        idx = rng.choice(pool, n_flip, replace=False)
        noisy[idx] = [partner[c] for c in y[idx]]
    flipped = np.zeros(len(y), dtype=bool)
    flipped[idx] = True
    return noisy, flipped


def prf(flagged, truth):
    tp = int((flagged & truth).sum())
    p = tp / max(int(flagged.sum()), 1)
    r = tp / max(int(truth.sum()), 1)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


# 0.1 was never picked in 200 outer folds of the earlier runs (0.001-0.03 were).
LR_GRID = (0.001, 0.003, 0.01, 0.03)
MLP_GRID = (1e-2, 1e-1, 1.0, 10.0)


def _log_loss(probs, y, multi_label):
    p = np.clip(probs, 1e-7, 1 - 1e-7)
    if multi_label:
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    return float(-np.log(p[np.arange(len(y)), y]).mean())


def _fit_predict(make, X, y, train, test, k, multi_label):
    model = make().fit(X[train], y[train])
    return li._predict(model, X[test], k, multi_label)


def nested_cv_probs(make, grid, X, y, *, k=10, multi_label=False, outer=5, inner=3, seed=0):
    """Out-of-sample probabilities with the hyper-parameter chosen inside each outer fold.

    ``make(value)`` builds a fresh model; within the outer fold's training rows,
    ``value`` is chosen by ``inner``-fold out-of-fold log loss; the model refitted on
    all training rows with it scores the outer fold. Returns ``(probs, chosen)``.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    split = KFold if multi_label else StratifiedKFold
    probs = np.zeros((len(X), y.shape[1] if multi_label else k))
    chosen = []
    for train, test in split(outer, shuffle=True, random_state=seed).split(X, y if not
                                                                           multi_label else None):
        losses = []
        for value in (grid if len(grid) > 1 else ()):  # one value: nothing to choose
            oof = np.zeros((len(train), probs.shape[1]))
            for a, b in split(inner, shuffle=True, random_state=seed + 1).split(
                    train, y[train] if not multi_label else None):
                oof[b] = _fit_predict(lambda: make(value), X, y, train[a], train[b],
                                      probs.shape[1], multi_label)
            losses.append(_log_loss(oof, y[train], multi_label))
        best = grid[int(np.argmin(losses))] if losses else grid[0]
        chosen.append(best)
        probs[test] = _fit_predict(lambda: make(best), X, y, train, test, probs.shape[1],
                                   multi_label)
    return probs, chosen


def tuned_logistic(X, y, multi_label=False, k=10, seed=0, grid=LR_GRID):
    """cleanlab's advice done carefully: standardized embeddings, C by nested CV."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def make(c):
        model = LogisticRegression(C=c, max_iter=300)
        return make_pipeline(StandardScaler(),
                             OneVsRestClassifier(model) if multi_label else model)

    return nested_cv_probs(make, tuple(grid), X, y, k=k, multi_label=multi_label, seed=seed)


def tuned_mlp(P, y, multi_label=False, k=10, seed=0, tune=True, grid=MLP_GRID):
    """One MLP per outer fold (Winnow's member) on prepared features; alpha by nested CV."""
    from winnow.plugin.mlp import TorchMLPClassifier

    def make(alpha):
        return TorchMLPClassifier(hidden=128, alpha=alpha, learning_rate=1e-3,
                                  early_stopping="auto", validation_fraction=0.1,
                                  n_iter_no_change=4, random_state=seed)

    return nested_cv_probs(make, tuple(grid) if tune else (1e-2,), P, y, k=k,
                           multi_label=multi_label, seed=seed)


def winnow_auto(X, y, multi_label=False, k=10, seed=0):
    """Winnow's default; returns ``(probs, fitted)`` (fitted: the mixture's record and
    every candidate's own probabilities)."""
    P = li.prepare_features(X, seed=seed)
    fitted = li.fit_out_of_sample(P, y, classifier="auto", seed=seed, multi_label=multi_label,
                                  n_classes=k)
    return fitted["probs"], fitted


class BrainAnchor:
    """FiftyOne Brain mistakenness on a dataset of fake-filepath samples."""

    def __init__(self, n):
        import fiftyone as fo

        self.fo = fo
        self.ds = fo.Dataset()
        self.ds.add_samples([fo.Sample(filepath="/nonexistent/fmnist_%05d.png" % i)
                             for i in range(n)], progress=False)
        self.ids = self.ds.values("id")

    def flag(self, labels, probs, classes, multi_label=False, threshold=0.5):
        import fiftyone.brain as fob

        fo = self.fo
        ids = self.ids[:len(labels)]
        if multi_label:
            gt = [fo.Classifications(classifications=[fo.Classification(label=classes[j])
                                                      for j in np.flatnonzero(row)])
                  for row in labels]
            pred = [fo.Classifications(classifications=[
                fo.Classification(label=classes[j], confidence=float(p[j]))
                for j in np.flatnonzero(p >= 0.5)]) for p in probs]
        else:
            gt = [fo.Classification(label=classes[c]) for c in labels]
            pred = [fo.Classification(label=classes[j], confidence=float(p[j]))
                    for j, p in zip(probs.argmax(1), probs)]
        view = self.ds.select(ids)
        view.set_values("gt", dict(zip(ids, gt)), key_field="id")
        view.set_values("pred", dict(zip(ids, pred)), key_field="id")
        t = time.time()
        fob.compute_mistakenness(view, "pred", label_field="gt", progress=False)
        m = np.array(view.values("mistakenness"), dtype=float)
        return m > threshold, time.time() - t

    def close(self):
        self.ds.delete()


WINNOW = "Winnow default (auto) + cleanlab"
# The name in JSON files written before the small-set default (read as WINNOW).
OLD_NAMES = {"Winnow default (auto mixture) + cleanlab": WINNOW}
METHODS = (WINNOW, "Winnow bagged MLPs alone + cleanlab", "cleanlab + tuned logistic regression",
           "single MLP (tuned alpha) + cleanlab", "Brain mistakenness (tuned logistic preds)")


def run_single_label(args, records):
    import cleanlab

    d = load_embeddings(112)
    X_all, y_all = d["train_X"], d["train_y"]
    classes = [str(c) for c in range(10)]
    brain = None if args.no_brain else BrainAnchor(max(args.sizes))
    # Seeds outermost within a size: an interrupted run has whole seeds of every setting.
    for n in args.sizes:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for kind in args.kinds:
                for rate in args.rates:
                    setting = "n=%d %s %d%%" % (n, kind, rate)
                    rng = np.random.default_rng([n, rate, kind == "confusable", seed])
                    rows = np.sort(rng.choice(len(X_all), n, replace=False))
                    X, y = X_all[rows], y_all[rows]
                    noisy, flipped = flip_labels(y, rate / 100.0, kind, rng)
                    found = {}
                    # Winnow's features, shared by the MLP rows (the default's timed run
                    # computes its own: a user pays for them).
                    P = li.prepare_features(X, seed=seed)

                    t = time.time()
                    probs, fitted = winnow_auto(X, noisy, seed=seed)
                    found[WINNOW] = (li.find_issues(noisy, probs)[0], time.time() - t)
                    mlps = fitted["candidate_probs"].get("bagging-mlp")
                    if mlps is None:  # not a candidate below SMALL_ROWS: fit it alone
                        mlps = li.fit_out_of_sample(P, noisy, classifier="bagging-mlp",
                                                    seed=seed, n_classes=10)["probs"]
                    found[METHODS[1]] = (li.find_issues(noisy, mlps)[0], float("nan"))

                    t = time.time()
                    lr, cs = tuned_logistic(X, noisy, seed=seed, grid=args.lr_grid)
                    t_lr = time.time() - t
                    found[METHODS[2]] = (cleanlab.filter.find_label_issues(noisy, lr), t_lr)

                    t = time.time()
                    mlp, alphas = tuned_mlp(P, noisy, seed=seed, tune=not args.no_tune_mlp,
                                            grid=args.mlp_grid)
                    found[METHODS[3]] = (li.find_issues(noisy, mlp)[0], time.time() - t)

                    if brain is not None:
                        flagged, secs = brain.flag(noisy, lr, classes)
                        found[METHODS[4]] = (flagged, secs + t_lr)
                    for method, (flagged, secs) in found.items():
                        p, r, f1 = prf(np.asarray(flagged, dtype=bool), flipped)
                        per_class = [(int((flagged & (noisy == c)).sum()),
                                      int((flagged & flipped & (noisy == c)).sum()))
                                     for c in range(10)]
                        records.append(dict(setting=setting, n=n, kind=kind, rate=rate,
                                            seed=seed, method=method, precision=p, recall=r,
                                            f1=f1, seconds=secs, per_class=per_class))
                    records[-len(found)]["auto"] = fitted["classifier"]
                    records[-len(found) + 2]["C"] = cs
                    records[-len(found) + 3]["alpha"] = alphas
                    print("%s seed %d: %s | weights %s | C %s | alpha %s" % (
                        setting, seed, " ".join("%.3f" % r["f1"] for r in
                                                records[-len(found):]),
                        fitted["classifier"]["weights"], cs, alphas), flush=True)
                    if args.json:  # after every seed: a killed run keeps what finished
                        _dump(records, args.json)
        summarise([r for r in records if r.get("n") == n], header=False)
    if brain is not None:
        brain.close()


def _dump(records, path):
    import json

    with open(path + ".tmp", "w") as f:
        json.dump(records, f, indent=1, default=float)
    os.replace(path + ".tmp", path)


def summarise(records, header=True, winnow=None):
    """Mean precision/recall/F1 per setting and method, the F1 difference to Winnow
    paired by seed (mean +- standard error) and mean seconds."""
    if header:
        print("| setting | method | seeds | precision | recall | F1 | Winnow - method (F1) "
              "| seconds |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
    settings = list(dict.fromkeys(r["setting"] for r in records))
    for setting in settings:
        rs = [r for r in records if r["setting"] == setting]
        ours_name = winnow or (ML_WINNOW if setting.startswith("multi-label") else WINNOW)
        ours = {r["seed"]: r["f1"] for r in rs if r["method"] == ours_name}
        for method in dict.fromkeys(r["method"] for r in rs):
            mine = [r for r in rs if r["method"] == method]
            diff = np.array([ours[r["seed"]] - r["f1"] for r in mine if r["seed"] in ours])
            if method == ours_name or len(diff) == 0:
                delta = "—"
            else:
                se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
                delta = "%+.3f ± %.3f" % (diff.mean(), se)
            secs = [r["seconds"] for r in mine if r["seconds"] == r["seconds"]]
            print("| %s | %s | %d | %.3f | %.3f | %.3f | %s | %s |" % (
                setting, method, len(mine), np.mean([r["precision"] for r in mine]),
                np.mean([r["recall"] for r in mine]), np.mean([r["f1"] for r in mine]), delta,
                "%.1f" % np.mean(secs) if secs else "(in the default)"), flush=True)


def margin_table(records):
    """One row per single-label setting: each method's mean F1 and the default's
    paired margin over the best anchor (tuned LR, single MLP, Brain: the best by
    mean F1 in that setting), ± one standard error; verdict ``ahead`` / ``tie``
    (within one SE) / ``behind``. Ends with the mean margin over the settings."""
    def order(s):
        n, kind, rate = s.split()
        return int(n[2:]), kind, int(rate[:-1])

    anchors = METHODS[2:]
    short = dict(zip(anchors, ("LR", "MLP", "Brain")))
    settings = sorted(dict.fromkeys(r["setting"] for r in records if "per_class" in r),
                      key=order)
    print("| setting | seeds | Winnow default | bagged MLPs alone | cleanlab + tuned LR "
          "| single MLP | Brain (LR preds) | default − best anchor (paired) | verdict |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    margins = []
    for setting in settings:
        rs = [r for r in records if r["setting"] == setting]
        f1 = {m: {r["seed"]: r["f1"] for r in rs if r["method"] == m} for m in METHODS}
        seeds = sorted(set(f1[WINNOW]).intersection(*(f1[m] for m in anchors)))
        mean = {m: np.mean([f1[m][k] for k in seeds]) if f1[m] else float("nan")
                for m in METHODS}
        best = max(anchors, key=lambda m: mean[m])
        d = np.array([f1[WINNOW][k] - f1[best][k] for k in seeds])
        se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
        verdict = ("tie" if abs(d.mean()) <= se else "ahead" if d.mean() > 0 else "behind") \
            if se == se else "(one seed)"
        margins.append(d.mean())
        print("| %s | %d | %s | %+.3f%s (vs %s) | %s |" % (
            setting, len(seeds), " | ".join("%.3f" % mean[m] for m in METHODS), d.mean(),
            "" if se != se else " ± %.3f" % se, short[best], verdict))
    if margins:
        print("\nmean margin over the best anchor: %+.3f over %d settings"
              % (np.mean(margins), len(margins)))


def per_class_table(records, methods=(WINNOW, METHODS[2])):
    """Per-class precision of the flags, summed over seeds: ``flags (precision)``."""
    settings = list(dict.fromkeys(r["setting"] for r in records if "per_class" in r))
    print("| setting | method | " + " | ".join("class %d" % c for c in range(10)) + " |")
    print("|---|---|" + "---:|" * 10)
    for setting in settings:
        for method in methods:
            rs = [r for r in records if r["setting"] == setting and r["method"] == method]
            if not rs:
                continue
            tot = np.sum([r["per_class"] for r in rs], axis=0)
            print("| %s | %s | %s |" % (setting, method, " | ".join(
                "%d (%.2f)" % (f, t / f if f else float("nan")) for f, t in tot)))


def mosaics(n, rng):
    """``n`` 2x2 mosaics (56x56) of random test items and their class sets."""
    from winnow.plugin import fashion_mnist

    images, labels = fashion_mnist.load("test")
    picks = rng.integers(0, len(images), (n, 4))
    tiles = images[picks]  # (n, 4, 28, 28)
    top = np.concatenate([tiles[:, 0], tiles[:, 1]], axis=2)
    bottom = np.concatenate([tiles[:, 2], tiles[:, 3]], axis=2)
    out = np.concatenate([top, bottom], axis=1)
    Y = np.zeros((n, 10), dtype=np.int64)
    for r, p in enumerate(picks):
        Y[r, labels[p]] = 1
    return np.ascontiguousarray(out), Y


ML_WINNOW = "Winnow default (auto mixture, changes model)"


def run_multi_label(args, records):
    """The mosaic case: one draw of the flips per seed of ``args.ml_seeds`` on the same
    mosaics."""
    from cleanlab.multilabel_classification import filter as mlfilter

    from winnow.plugin.embeddings import embed_arrays

    rng = np.random.default_rng(7)
    images, Y = mosaics(args.multilabel, rng)
    cache = os.path.join(HERE, "cache", "fmnist-mosaics-%d.npz" % args.multilabel)
    if os.path.exists(cache):
        X = np.load(cache)["X"]
    else:
        t = time.time()
        X = embed_arrays(images, size=112)
        print("embedded %d mosaics in %.0f s" % (len(X), time.time() - t))
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        np.savez(cache, X=X)
    setting = "multi-label 10%"
    for seed in args.ml_seeds:
        # Seed 0 draws the flips as before (the images' generator, continued).
        frng = rng if seed == 0 else np.random.default_rng([7, seed])
        noisy = Y.copy()
        flipped = np.zeros(len(Y), dtype=bool)
        for r in frng.choice(len(Y), int(0.1 * len(Y)), replace=False):
            present, absent = np.flatnonzero(Y[r]), np.flatnonzero(Y[r] == 0)
            noisy[r, frng.choice(present)] = 0
            noisy[r, frng.choice(absent)] = 1
            flipped[r] = True
        lists = [list(np.flatnonzero(r)) for r in noisy]
        found = {}

        t = time.time()
        probs, fitted = winnow_auto(X, noisy, multi_label=True, seed=seed)
        flagged, quality, change = li.find_issues(noisy, probs, multi_label=True, seed=seed)
        found[ML_WINNOW] = (flagged, time.time() - t)
        # The previous default: the same probabilities, cleanlab's multi-label filter.
        old = li.find_issues(noisy, probs, multi_label=True, multilabel_score="cleanlab")[0]
        found["Winnow probabilities + cleanlab multi-label filter (before)"] = (old, float("nan"))
        # Miribel's MSE ranking: flag as many as the default did, worst MSE first.
        mse = ((noisy - probs) ** 2).mean(1)
        top = np.zeros(len(Y), dtype=bool)
        top[np.argsort(-mse)[:int(flagged.sum())]] = True
        found["Winnow probabilities, MSE ranking (same count)"] = (top, float("nan"))
        # Ceilings: the default's ranking with the true number of flips; probabilities
        # learned from the clean labels (out of sample) with the default's count.
        top = np.zeros(len(Y), dtype=bool)
        top[np.argsort(quality, kind="stable")[:int(flipped.sum())]] = True
        found["ceiling: the default's ranking, told the true count"] = (top, float("nan"))
        if not args.no_ml_oracle:
            clean, _ = winnow_auto(X, Y, multi_label=True, seed=seed)
            found["ceiling: probabilities learned from the clean labels"] = (
                li.find_issues(noisy, clean, multi_label=True, seed=seed)[0], float("nan"))

        t = time.time()
        lr, cs = tuned_logistic(X, noisy, multi_label=True, grid=args.lr_grid, seed=seed)
        found[METHODS[2]] = (mlfilter.find_label_issues(lists, lr), time.time() - t)
        t = time.time()
        mlp, alphas = tuned_mlp(li.prepare_features(X, seed=seed), noisy, multi_label=True,
                                tune=not args.no_tune_mlp, grid=args.mlp_grid, seed=seed)
        found[METHODS[3]] = (li.find_issues(noisy, mlp, multi_label=True,
                                            multilabel_score="cleanlab")[0], time.time() - t)
        # The suggestion names the swapped classes: of the flagged flips, how often the
        # class to remove is the wrongly added one and the class to add the removed one.
        hits = np.flatnonzero(flagged & flipped)
        named = [bool(np.all((change[r] == -1) == ((noisy[r] == 1) & (Y[r] == 0)))
                      and np.all((change[r] == 1) == ((noisy[r] == 0) & (Y[r] == 1))))
                 for r in hits]
        for method, (flags, secs) in found.items():
            records.append(dict(setting=setting, seed=seed, method=method, seconds=secs,
                                **dict(zip(("precision", "recall", "f1"),
                                           prf(np.asarray(flags, dtype=bool), flipped)))))
        records[-len(found)]["named"] = float(np.mean(named)) if named else float("nan")
        print("multi-label seed %d: %s | both classes named right in %.2f of flagged flips | "
              "weights %s, C %s, alpha %s" % (
                  seed, " ".join("%.3f" % r["f1"] for r in records[-len(found):]),
                  records[-len(found)]["named"], fitted["classifier"]["weights"], cs, alphas),
              flush=True)
        if args.json:
            _dump(records, args.json)
    summarise([r for r in records if r["setting"] == setting], header=False, winnow=ML_WINNOW)


def run_timing(args):
    """Wall and CPU seconds of the default (prepare_features + fit_out_of_sample("auto")
    + cleanlab) on n samples with 10 % confusable flips, one thread."""
    d = load_embeddings(112)
    for n in args.timing:
        rng = np.random.default_rng([n, 10, 1, 0])
        rows = np.sort(rng.choice(len(d["train_X"]), n, replace=False))
        noisy, flipped = flip_labels(d["train_y"][rows], 0.1, "confusable", rng)
        wall, cpu = time.time(), time.process_time()
        probs, fitted = winnow_auto(d["train_X"][rows], noisy)
        flagged = li.find_issues(noisy, probs)[0]
        print("timing n=%d: %.1f s wall, %.1f s CPU, F1 %.3f, %s" % (
            n, time.time() - wall, time.process_time() - cpu, prf(flagged, flipped)[2],
            fitted["classifier"]["weights"]), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 600, 1200, 3000, 10000])
    parser.add_argument("--rates", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--kinds", nargs="+", default=["uniform", "confusable"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="run seeds first-seed .. first-seed + seeds - 1 (to split a grid "
                             "over processes)")
    parser.add_argument("--multilabel", type=int, default=3000,
                        help="number of 2x2 mosaics (0: skip the multi-label case)")
    parser.add_argument("--ml-seeds", type=int, nargs="+", default=[0],
                        help="draws of the mosaic flips (seed 0: the original draw)")
    parser.add_argument("--no-ml-oracle", action="store_true",
                        help="skip the clean-label probabilities ceiling (a second auto fit)")
    parser.add_argument("--no-brain", action="store_true")
    parser.add_argument("--no-tune-mlp", action="store_true",
                        help="single-MLP anchor with Winnow's alpha (1e-2) instead of nested CV")
    parser.add_argument("--lr-grid", type=float, nargs="+", default=list(LR_GRID),
                        help="C values the logistic anchor's nested CV chooses from")
    parser.add_argument("--summarise", nargs="+", metavar="JSON",
                        help="print the tables of earlier --json runs and exit")
    parser.add_argument("--mlp-grid", type=float, nargs="+", default=list(MLP_GRID),
                        help="alphas the single-MLP anchor's nested CV chooses from")
    parser.add_argument("--json", help="also write every run's numbers to this file")
    parser.add_argument("--timing", type=int, nargs="+", metavar="N",
                        help="only time the default on N samples (e.g. 10000 60000) and exit")
    args = parser.parse_args()
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    if args.summarise:
        import json

        records = [dict(r, method=OLD_NAMES.get(r["method"], r["method"]))
                   for path in args.summarise for r in json.load(open(path))]
        summarise(records)
        print()
        margin_table(records)
        print()
        per_class_table(records)
        return
    from threadpoolctl import threadpool_limits

    if args.timing:
        with threadpool_limits(1):
            run_timing(args)
        return
    records = []
    started = time.time()
    with threadpool_limits(1):
        if args.kinds and args.rates and args.sizes and args.sizes != [0]:
            run_single_label(args, records)
        if args.multilabel:
            run_multi_label(args, records)
    print("\nFashion-MNIST train subsets, EfficientNet-Lite0 112 px embeddings; %s; "
          "%d cores (1 thread used); total %.0f s\n"
          % (" ".join(sys.argv[1:]) or "defaults", os.cpu_count(), time.time() - started))
    summarise(records)
    print()
    margin_table(records)
    print()
    per_class_table(records)
    if args.json:
        _dump(records, args.json)


if __name__ == "__main__":
    main()
