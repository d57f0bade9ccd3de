"""Label issues on real Fashion-MNIST embeddings with known flips: Winnow vs anchors.

    .venv/bin/python benchmarks/label_issues.py [--n 60000] [--rates 5 10 20 30]
        [--kinds uniform confusable] [--multilabel 3000] [--no-brain]

Flips 5/10/20/30 % of the training labels, uniformly (to any other class) or between
confusable classes (T-shirt <-> shirt, pullover <-> coat, sneaker <-> ankle boot,
dress <-> trouser), then scores the flagged set of each method against the flips
(precision, recall, F1) with its wall time, in one table:

- Winnow: ``out_of_sample_probs`` (bagged MLPs, out-of-bag) + cleanlab
- cleanlab + cross-validated logistic regression on the same embeddings
  (StandardScaler + LogisticRegression, 5-fold ``cross_val_predict``)
- a single MLP (Miribel's baseline), 5-fold cross-validated, + cleanlab
- FiftyOne Brain ``compute_mistakenness`` fed with the cross-validated logistic
  predictions (flagged: mistakenness > 0.5, i.e. a prediction that disagrees)

Then a multi-label case from real images: 2x2 mosaics of Fashion-MNIST items embedded
with ``embed_arrays`` at 112 px, labels = the set of their classes, 10 % of mosaics
with one class swapped for an absent one.
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


def cv_logistic(X, y, multi_label=False):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict, KFold, StratifiedKFold
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = LogisticRegression(max_iter=200)
    if multi_label:
        model = OneVsRestClassifier(model)
        cv = KFold(5, shuffle=True, random_state=0)
    else:
        cv = StratifiedKFold(5, shuffle=True, random_state=0)
    pipe = make_pipeline(StandardScaler(), model)
    return cross_val_predict(pipe, X, y, cv=cv, method="predict_proba")


def winnow(X, y, multi_label=False, k=10, **kw):
    return li.out_of_sample_probs(X, y, multi_label=multi_label, n_classes=k, **kw)


def single_mlp(X, y, multi_label=False, k=10):
    return li.out_of_sample_probs(X, y, classifier="mlp", multi_label=multi_label, n_classes=k)


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
        self.ds.set_values("gt", dict(zip(self.ids, gt)), key_field="id")
        self.ds.set_values("pred", dict(zip(self.ids, pred)), key_field="id")
        t = time.time()
        fob.compute_mistakenness(self.ds, "pred", label_field="gt", progress=False)
        m = np.array(self.ds.values("mistakenness"), dtype=float)
        return m > threshold, time.time() - t

    def close(self):
        self.ds.delete()


def run_single_label(args, rows):
    import cleanlab

    d = load_embeddings(112)
    X, y = d["train_X"][:args.n], d["train_y"][:args.n]
    classes = [str(c) for c in range(10)]
    brain = None if args.no_brain else BrainAnchor(len(y))
    for kind in args.kinds:
        for rate in args.rates:
            rng = np.random.default_rng(int(rate * 100) + (kind == "confusable"))
            noisy, flipped = flip_labels(y, rate / 100.0, kind, rng)
            setting = "%s %d%%" % (kind, rate)

            t = time.time()
            probs = winnow(X, noisy)
            flagged, _, _ = li.find_issues(noisy, probs)
            rows.append((setting, "Winnow (bagged MLP + cleanlab)", *prf(flagged, flipped),
                         time.time() - t))

            t = time.time()
            lr = cv_logistic(X, noisy)
            t_lr = time.time() - t
            flagged = cleanlab.filter.find_label_issues(noisy, lr)
            rows.append((setting, "cleanlab + CV logistic regression", *prf(flagged, flipped),
                         time.time() - t))

            t = time.time()
            probs = single_mlp(X, noisy)
            flagged, _, _ = li.find_issues(noisy, probs)
            rows.append((setting, "single MLP (CV) + cleanlab", *prf(flagged, flipped),
                         time.time() - t))

            if brain is not None:
                flagged, secs = brain.flag(noisy, lr, classes)
                rows.append((setting, "Brain mistakenness (CV logistic preds)",
                             *prf(flagged, flipped), secs + t_lr))
            print_table(rows[-4:], header=False)
    if brain is not None:
        brain.close()


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


def run_multi_label(args, rows):
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
    noisy = Y.copy()
    flipped = np.zeros(len(Y), dtype=bool)
    for r in rng.choice(len(Y), int(0.1 * len(Y)), replace=False):
        present, absent = np.flatnonzero(Y[r]), np.flatnonzero(Y[r] == 0)
        noisy[r, rng.choice(present)] = 0
        noisy[r, rng.choice(absent)] = 1
        flipped[r] = True
    setting = "multi-label 10%"
    classes = [str(c) for c in range(10)]

    t = time.time()
    probs = winnow(X, noisy, multi_label=True)
    flagged, quality, _ = li.find_issues(noisy, probs, multi_label=True)
    rows.append((setting, "Winnow (bagged MLP + cleanlab)", *prf(flagged, flipped),
                 time.time() - t))
    # Miribel's MSE ranking: flag as many as cleanlab did, worst MSE first.
    mse = ((noisy - probs) ** 2).mean(1)
    top = np.zeros(len(Y), dtype=bool)
    top[np.argsort(-mse)[:int(flagged.sum())]] = True
    rows.append((setting, "Winnow, MSE ranking (same count)", *prf(top, flipped),
                 time.time() - t))

    t = time.time()
    lr = cv_logistic(X, noisy, multi_label=True)
    t_lr = time.time() - t
    from cleanlab.multilabel_classification import filter as mlfilter

    flagged = mlfilter.find_label_issues([list(np.flatnonzero(r)) for r in noisy], lr)
    rows.append((setting, "cleanlab + CV logistic regression", *prf(flagged, flipped),
                 time.time() - t))

    t = time.time()
    probs = single_mlp(X, noisy, multi_label=True)
    flagged, _, _ = li.find_issues(noisy, probs, multi_label=True)
    rows.append((setting, "single MLP (CV) + cleanlab", *prf(flagged, flipped),
                 time.time() - t))
    if not args.no_brain:
        brain = BrainAnchor(len(Y))
        try:
            flagged, secs = brain.flag(noisy, lr, classes, multi_label=True)
            rows.append((setting, "Brain mistakenness (CV logistic preds)",
                         *prf(flagged, flipped), secs + t_lr))
        except Exception as e:  # fiftyone-brain 0.25: Classifications are not supported
            print("Brain mistakenness, multi-label: n/a (%s: %s)" % (type(e).__name__, e))
        finally:
            brain.close()
    print_table(rows[-4:], header=False)


def print_table(rows, header=True):
    if header:
        print("| setting | method | precision | recall | F1 | seconds |")
        print("|---|---|---:|---:|---:|---:|")
    for setting, method, p, r, f1, secs in rows:
        print("| %s | %s | %.3f | %.3f | %.3f | %.1f |" % (setting, method, p, r, f1, secs),
              flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=60000)
    parser.add_argument("--rates", type=int, nargs="+", default=[5, 10, 20, 30])
    parser.add_argument("--kinds", nargs="+", default=["uniform", "confusable"])
    parser.add_argument("--multilabel", type=int, default=3000,
                        help="number of 2x2 mosaics (0: skip the multi-label case)")
    parser.add_argument("--no-brain", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")

    rows = []
    started = time.time()
    if args.kinds and args.rates:
        run_single_label(args, rows)
    if args.multilabel:
        run_multi_label(args, rows)
    print("\nFashion-MNIST train, %d samples, EfficientNet-Lite0 112 px embeddings; %d cores; "
          "total %.0f s\n" % (args.n, os.cpu_count(), time.time() - started))
    print_table(rows)


if __name__ == "__main__":
    main()
