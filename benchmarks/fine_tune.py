"""Fine-tuned vs pretrained features on real Fashion-MNIST: filtering accuracy and label-issue F1.

    .venv/bin/python benchmarks/fine_tune.py [--n 10000] [--size 112] [--epochs 2]
        [--folds 5] [--train-layers 3] [--test 10000] [--rate 10] [--seed 0]

One run, every row on the same images, through the real steps (PNG files in a
FiftyOne dataset, ``winnow.fine_tune``, ``winnow.compute_embeddings``):

- a stratified pool of ``--n`` training images (``filtering.stratified_pool``) and
  ``--test`` test images, written as PNG files under ``benchmarks/cache/``
- pretrained features: EfficientNet-Lite0 at ``--size`` px (the same resize as the
  fine-tuning's, so only the weights differ)
- Filtering accuracy (``benchmarks/filtering.py``'s measure, its functions): a
  network fine-tuned on the pool's labels embeds the pool and the test images;
  logistic regression on the pool's 64-d standardised PCA, scored on the test
  images, for the whole pool and for the pool filtered by Winnow's class-aware
  half+half (keep 90 % and 50 %) and random (keep 50 %)
- Label issues (``benchmarks/label_issues.py``'s measure, its functions):
  ``--rate`` % of the pool's labels flipped uniformly; Winnow's default
  classifier (``winnow_auto``) + cleanlab on: pretrained features; features of one
  network fine-tuned on the noisy labels of the whole pool (IN-sample: it
  trained on every label it then judges); cross-fitted features
  (``fine_tune(folds=k)``: each image embedded by the network that never saw its
  label). Beside them, cleanlab directly on the fine-tuned heads' probabilities,
  in-sample and cross-fitted.

Differences to the pretrained row come with a paired bootstrap standard error
over images (one seed: the images are the noise that varies); F1 against the
known flips.
"""

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
os.environ.setdefault("FIFTYONE_DATABASE_NAME", "winnow-bench")
warnings.filterwarnings("ignore")

CACHE = os.path.join(HERE, "cache", "fine_tune")


def make_dataset(name, images, labels, prefix):
    """A dataset of the images as PNG files in ``CACHE/<prefix>`` (the prefix names the
    draw: write_pngs keeps existing files by position)."""
    import fiftyone as fo

    from winnow.plugin import fashion_mnist

    rows = fashion_mnist.write_pngs(images, labels, os.path.join(CACHE, prefix), prefix="img")
    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    ds = fo.Dataset(name)
    ds.add_samples([fo.Sample(filepath=p, ground_truth=fo.Classification(label=c))
                    for p, c in rows], progress=False)
    return ds


def vectors(ds, field):
    return np.stack(ds.values(field)).astype(np.float32)


def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def bootstrap_se(stat, n, reps=200, seed=0):
    """Standard error of ``stat(idx)`` over resamples of the n rows."""
    rng = np.random.default_rng(seed)
    return float(np.std([stat(rng.integers(0, n, n)) for _ in range(reps)], ddof=1))


def filtering_accuracy(X, y, Xt, yt, seed):
    """filtering.py's classifier on the full pool and filtered pools: ``{row: (correct
    (Nt,) bool per test image)}``."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from filtering import kept_indices

    # As filtering.run_table: the feature map is fitted on the whole pool.
    pca = PCA(64, random_state=seed).fit(X)
    scaler = StandardScaler().fit(pca.transform(X))
    F, Ft = scaler.transform(pca.transform(X)), scaler.transform(pca.transform(Xt))
    out, cache = {}, {}
    for name, method, keep in (("full pool", None, 1.0),
                               ("W class-aware keep 90 %", "class_half", 0.9),
                               ("W class-aware keep 50 %", "class_half", 0.5),
                               ("random keep 50 %", "random", 0.5)):
        idx = np.arange(len(X)) if method is None else kept_indices(method, keep, X, y, seed,
                                                                   cache)
        # filtering.classifier_accuracy's model, kept per test image for paired errors.
        model = LogisticRegression(max_iter=300, tol=1e-4).fit(F[idx], y[idx])
        out[name] = model.predict(Ft) == yt
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--train-layers", default="3")
    p.add_argument("--test", type=int, default=10000)
    p.add_argument("--rate", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--report", metavar="NPZ", help="only print the tables of a saved run")
    a = p.parse_args()
    import fiftyone as fo

    fo.config.show_progress_bars = False
    if a.report:
        report(a.report)
        return

    import torch

    import winnow
    from filtering import stratified_pool
    from label_issues import flip_labels
    from winnow.plugin import fashion_mnist, fine_tune, models

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    train_layers = a.train_layers if a.train_layers == "all" else int(a.train_layers)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print("device %s, torch threads %d" % (device, torch.get_num_threads()), flush=True)
    t_all = time.time()
    images, labels = fashion_mnist.load("train")
    pool = stratified_pool(labels, a.n, np.random.RandomState(a.seed))
    timages, tlabels = fashion_mnist.load("test")
    test = np.sort(np.random.RandomState(a.seed).choice(len(timages), a.test, replace=False))
    ds = make_dataset("winnow-bench-fine-tune", images[pool], labels[pool],
                      "train-%d-seed%d" % (a.n, a.seed))
    tds = make_dataset("winnow-bench-fine-tune-test", timages[test], tlabels[test],
                       "test-%d-seed%d" % (a.test, a.seed))
    y, yt = labels[pool], tlabels[test]
    rng = np.random.default_rng([a.n, a.rate, a.seed])
    noisy, flipped = flip_labels(y, a.rate / 100.0, "uniform", rng)
    ds.set_values("noisy_label", [fashion_mnist.CLASSES[int(c)] for c in noisy])
    # The flipped classes by index in the (sorted) class names fine_tune uses.
    order = {c: k for k, c in enumerate(sorted(fashion_mnist.CLASSES))}
    noisy_sorted = np.array([order[fashion_mnist.CLASSES[int(c)]] for c in noisy])

    common = dict(epochs=a.epochs, image_size=a.size, train_layers=train_layers,
                  batch_size=a.batch_size, seed=a.seed, progress=False, resume=False,
                  overwrite=True, device=device)
    times = {}

    def timed(name, fn, *args, **kwargs):
        t = time.time()
        out = fn(*args, **kwargs)
        times[name] = time.time() - t
        print("%s: %.0f s" % (name, times[name]), flush=True)
        return out

    pre = models.load_model(device=device)
    pre.transforms = models.ImagePreprocess(size=a.size)
    for d in (ds, tds):
        timed("pretrained embeddings (%d)" % len(d), winnow.compute_embeddings, d, model=pre,
              embeddings_field="pretrained", progress=False, overwrite=True,
              batch_size=a.batch_size)

    # Filtering accuracy: a network fine-tuned on the pool's (clean) labels.
    clean = timed("fine-tune on clean labels", winnow.fine_tune, ds, "ground_truth",
                  output_path=os.path.join(CACHE, "clean.pt"), **common)
    tuned = fine_tune.load_fine_tuned(clean.weights_path, device=device)
    for d in (ds, tds):
        timed("fine-tuned embeddings (%d)" % len(d), winnow.compute_embeddings, d, model=tuned,
              embeddings_field="clean_tuned", progress=False, overwrite=True,
              batch_size=a.batch_size)

    # Label issues: networks fine-tuned on the noisy labels, in-sample and cross-fitted.
    insample = timed("fine-tune on noisy labels (in-sample)", winnow.fine_tune, ds,
                     "noisy_label", output_path=os.path.join(CACHE, "noisy.pt"),
                     embeddings_field="noisy_in", predictions_field="noisy_in_pred", **common)
    crossfit = timed("fine-tune on noisy labels, %d folds" % a.folds, winnow.fine_tune, ds,
                     "noisy_label", output_path=os.path.join(CACHE, "noisy_cv.pt"),
                     folds=a.folds, embeddings_field="noisy_cv",
                     predictions_field="noisy_cv_pred", **common)

    arrays = dict(
        y=y, yt=yt, noisy=noisy_sorted, flipped=flipped,
        pre=vectors(ds, "pretrained"), pre_test=vectors(tds, "pretrained"),
        tuned=vectors(ds, "clean_tuned"), tuned_test=vectors(tds, "clean_tuned"),
        noisy_in=vectors(ds, "noisy_in"), noisy_cv=vectors(ds, "noisy_cv"),
        noisy_in_logits=np.stack(ds.values("noisy_in_pred.logits")),
        noisy_cv_logits=np.stack(ds.values("noisy_cv_pred.logits")),
        seconds=np.array([times[k] for k in times]))
    meta = dict(a=vars(a), stages=list(times), clean=(clean.best_epochs, clean.val_accuracy),
                insample=(insample.best_epochs, insample.val_accuracy),
                crossfit=(crossfit.best_epochs, crossfit.val_accuracy),
                total=time.time() - t_all)
    path = os.path.join(CACHE, "arrays-n%d-%dpx-e%d-k%d-seed%d.npz"
                        % (a.n, a.size, a.epochs, a.folds, a.seed))
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    print("arrays saved to %s" % path, flush=True)
    for d in (ds, tds):
        d.delete()
    report(path)


def report(path):
    """Prints the tables from the arrays a run saved (``--report PATH`` reprints them)."""
    from label_issues import prf, winnow_auto
    from winnow.plugin import label_issues as li

    with np.load(path) as f:
        arr = {k: f[k] for k in f.files}
    meta = json.loads(str(arr.pop("meta")))
    a = argparse.Namespace(**meta["a"])
    print()
    print("Filtering accuracy: Fashion-MNIST pool of %d train images (seed %d), %d test "
          "images, %d px; fine-tuned: EfficientNet-Lite0, train_layers=%s, %d epoch(s) (best "
          "epoch %s, held-out acc %s); logistic regression on 64-d PCA (filtering.py)"
          % (a.n, a.seed, a.test, a.size, a.train_layers, a.epochs, meta["clean"][0],
             ["%.3f" % v for v in meta["clean"][1] if v is not None]))
    acc = {name: filtering_accuracy(arr[f], arr["y"], arr[f + "_test"], arr["yt"], a.seed)
           for name, f in (("pretrained", "pre"), ("fine-tuned", "tuned"))}
    print("| pool | pretrained | fine-tuned | fine-tuned - pretrained (points, ± bootstrap SE) |")
    print("|---|---:|---:|---:|")
    for row in acc["pretrained"]:
        a0, a1 = acc["pretrained"][row], acc["fine-tuned"][row]
        d = 100 * (a1.mean() - a0.mean())
        se = bootstrap_se(lambda i: 100 * (a1[i].mean() - a0[i].mean()), len(a0))
        print("| %s | %.4f | %.4f | %+.2f ± %.2f |" % (row, a0.mean(), a1.mean(), d, se))

    noisy, flipped = arr["noisy"], arr["flipped"]
    print()
    print("Label issues: %d %% uniform flips of the %d pool labels (%d flipped); F1 of the "
          "flags against the flips; Winnow default classifier (auto) + cleanlab unless said"
          % (a.rate, a.n, flipped.sum()), flush=True)
    rows = {}
    for name, key in (("pretrained features", "pre"),
                      ("fine-tuned features, IN-sample (leaks)", "noisy_in"),
                      ("fine-tuned features, cross-fitted %d folds" % a.folds, "noisy_cv")):
        probs, _ = winnow_auto(arr[key], noisy, seed=a.seed)
        rows[name] = li.find_issues(noisy, probs)[0]
    for name, key in (("cleanlab on the fine-tuned head, IN-sample (leaks)", "noisy_in_logits"),
                      ("cleanlab on the fine-tuned heads, cross-fitted %d folds" % a.folds,
                       "noisy_cv_logits")):
        rows[name] = li.find_issues(noisy, softmax(arr[key]))[0]
    base = rows["pretrained features"]
    print("| features | flagged | precision | recall | F1 | F1 - pretrained (± bootstrap SE) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, flags in rows.items():
        pr, rc, f1 = prf(flags, flipped)
        se = bootstrap_se(lambda i: prf(flags[i], flipped[i])[2] - prf(base[i], flipped[i])[2],
                          len(flags))
        delta = "—" if flags is base else "%+.3f ± %.3f" % (f1 - prf(base, flipped)[2], se)
        print("| %s | %d | %.3f | %.3f | %.3f | %s |" % (name, flags.sum(), pr, rc, f1, delta))
    # The leak itself: in-sample minus cross-fitted, paired on the same flips.
    for what in ("features", "head"):
        ins = [f for n, f in rows.items() if what in n and "IN-sample" in n][0]
        cvs = [f for n, f in rows.items() if what in n and "cross-fitted" in n][0]
        se = bootstrap_se(lambda i: prf(ins[i], flipped[i])[2] - prf(cvs[i], flipped[i])[2],
                          len(ins))
        print("in-sample - cross-fitted (%s): F1 %+.3f ± %.3f" % (
            what, prf(ins, flipped)[2] - prf(cvs, flipped)[2], se))
    print()
    print("fine-tuning on the noisy labels: in-sample best epoch %s, held-out acc %s; "
          "cross-fitted best epochs %s, held-out acc %s" % (
              meta["insample"][0], ["%.3f" % v for v in meta["insample"][1]],
              meta["crossfit"][0], ["%.3f" % v for v in meta["crossfit"][1]]))
    print("| stage | seconds |")
    print("|---|---:|")
    for name, secs in zip(meta["stages"], arr["seconds"]):
        print("| %s | %.0f |" % (name, secs))
    print("total %.0f s (before the tables)" % meta["total"])


if __name__ == "__main__":
    main()
