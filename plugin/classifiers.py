"""The label steps' default classifier: a cross-fitted mixture of candidates.

No single model wins at every size: on Fashion-MNIST embeddings a tuned logistic
regression gives cleanlab better probabilities below ~3 000 samples, bagged MLPs
above. ``"auto"`` therefore computes each candidate's out-of-sample probabilities
on the same folds (:func:`~.label_issues.fit_out_of_sample`) and mixes them,
``p = sum_m w_m p_m``, with weights that minimise the log loss of the labels.
Below ``SMALL_ROWS`` labeled samples it averages strongly regularised candidates
with equal weights instead: weights fitted on a few hundred noisy labels varied
more than the candidates did, and log loss favoured candidates too weakly
regularised to flag well (benchmark design seeds, see ``SMALL_CANDIDATES``).

Strictly out of sample: the weights applied to fold ``j`` are fitted only on the
other folds' out-of-sample probabilities (cross-fitting), so a sample's own label
reaches its score neither through a model that trained on it nor through the
weights. A candidate that memorises its training rows has poor out-of-sample
log loss and gets no weight; it cannot raise the score of the rows it saw.

Array functions only; :mod:`label_issues` records the result in the run.
"""

import numpy as np

AUTO = "auto"
# Logistic regression on prepare_features' output (unit overall variance, <= 256
# dims), one candidate per C, and bagged MLPs with a strong L2 penalty (alpha 1: the
# value the benchmark's nested CV picks for a single MLP below ~3 000 samples):
# choosing among them by out-of-sample log loss is the tuning.
LOGISTIC_C = (0.003, 0.01, 0.03, 0.3)
# lbfgs stops when the largest gradient component of the mean loss is below this.
# scikit-learn's 1e-4 cost 3-4x the iterations for a log loss 0.0003-0.0007 lower
# (10 000 Fashion-MNIST embeddings: the four C values' folds in 7.8 s instead of 31 s,
# the same flags within 0.001 F1).
LOGISTIC_TOL = 1e-3
STRONG_ALPHA = 1.0
# Past this many labeled samples only the bagged MLPs run: they won every
# benchmark setting from 10 000 samples, and 60 000 samples stay under 2 minutes.
MAX_AUTO_ROWS = 20000
# Below this many labeled samples: the equal-weight mean of these candidates, no
# fitted weights. Chosen on benchmark subsets drawn with design seeds 100-107,
# never the benchmark's own seeds (benchmarks/label_issues_design.py): at 300
# samples the mean of these four flagged better than the log-loss mixture in each
# of six noise settings (F1 +0.02 to +0.05, +0.040 +- 0.005 overall) and, on
# average, than MLP alpha 3 or logistic C 0.01 alone; +0.010 / +0.013 at 600 /
# 1 200 samples, a tie (+0.006 +- 0.007) at 3 000, where the mixture stays.
SMALL_ROWS = 2000
SMALL_CANDIDATES = ("bagging-mlp:alpha=3", "bagging-mlp:alpha=10", "logistic:C=0.003",
                    "logistic:C=0.01")


def small(n, multi_label=False):
    """Whether ``"auto"`` takes the equal mean of ``SMALL_CANDIDATES`` (single-label
    only: the design runs were single-label)."""
    return not multi_label and n < SMALL_ROWS


def candidates(n, *, multi_label=False):
    """The candidate names ``"auto"`` fits for ``n`` labeled samples."""
    if n > MAX_AUTO_ROWS:
        return ["bagging-mlp"]
    if small(n, multi_label):
        return list(SMALL_CANDIDATES)
    return (["bagging-mlp", "bagging-mlp:alpha=%g" % STRONG_ALPHA]
            + ["logistic:C=%g" % c for c in LOGISTIC_C])


def make_candidate(name, *, multi_label=False):
    """A scikit-learn estimator for a ``"logistic:C=..."`` or
    ``"bagging-mlp:alpha=..."`` candidate."""
    from sklearn.linear_model import LogisticRegression

    if name.startswith("bagging-mlp:alpha="):
        from .mlp import TorchMLPClassifier

        return TorchMLPClassifier(hidden=128, alpha=float(name.split("=", 1)[1]),
                                  learning_rate=1e-3, early_stopping="auto",
                                  validation_fraction=0.1, n_iter_no_change=4)
    if not name.startswith("logistic:C="):
        raise ValueError("unknown candidate %r" % (name,))
    model = LogisticRegression(C=float(name.split("=", 1)[1]), max_iter=500, tol=LOGISTIC_TOL)
    if multi_label:
        from sklearn.multiclass import OneVsRestClassifier

        model = OneVsRestClassifier(model)
    return model


def logistic_path(X, labels, folds, cs, *, multi_label=False, n_classes=None, X_extra=None):
    """Out-of-fold probabilities of logistic regressions, one per C, on given folds.

    Fold ``j``'s rows are predicted by models trained on the other folds only
    (K-fold). Within a fold the C values are fitted in increasing order, each
    warm-started from the previous solution (the same convex problem, slightly
    less regularised: lbfgs needs a fraction of the iterations). A warm start
    only moves the starting point of one fold's own training, so nothing of the
    held-out fold reaches its models.

    Args:
        X: ``(N, D)`` features
        labels: ``(N,)`` class indices, or an ``(N, K)`` 0/1 indicator array
        folds: ``(N,)`` fold ids (e.g. the bagged MLPs' folds, so the
            candidates can be cross-fitted together)
        cs: the C values
        n_classes (None): K for single-label (default ``labels.max() + 1``)
        X_extra (None): ``(M, D)`` other rows, scored by every fold's model

    Returns:
        a list (one per C, in the order of ``cs``) of dicts like
        :func:`~.label_issues.fit_out_of_sample`'s: ``probs`` ``(N, K)``,
        ``counts``, ``trained_on``, ``extra_probs``, ``folds``
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

    X = np.asarray(X)
    labels = np.asarray(labels)
    folds = np.asarray(folds)
    n = len(X)
    k = labels.shape[1] if multi_label else int(n_classes or labels.max() + 1)
    order = np.argsort(cs)
    probs = np.zeros((len(cs), n, k))
    extra = None if X_extra is None or len(X_extra) == 0 \
        else np.zeros((len(cs), len(X_extra), k))
    fold_ids = np.unique(folds)
    trained_on = []

    def fit_path(Xt, yt, Xs):
        """``(len(cs), len(Xs), classes)`` probabilities of one warm-started path."""
        model = LogisticRegression(max_iter=500, tol=LOGISTIC_TOL, warm_start=True)
        out = []
        for i in order:
            model.set_params(C=float(cs[i]))
            model.fit(Xt, yt)
            out.append((i, model.classes_, [model.predict_proba(x) for x in Xs]))
        return out

    # One BLAS thread: lbfgs on these small matrices ran ~10x slower with two
    # threads on the shared 2-core machine.
    with threadpool_limits(1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for j in fold_ids:
            train, held = np.flatnonzero(folds != j), folds == j
            trained_on.append(train)
            Xs = [X[held]] + ([] if extra is None else [X_extra])
            columns = range(k) if multi_label else [None]
            for c in columns:
                yt = labels[train] if c is None else labels[train, c]
                if c is not None and yt.min() == yt.max():
                    # A class always (never) present here: its probability is 1 (0), as
                    # scikit-learn's OneVsRestClassifier predicts.
                    for i in range(len(cs)):
                        probs[i, held, c] = yt[0]
                        if extra is not None:
                            extra[i, :, c] += yt[0]
                    continue
                for i, classes, ps in fit_path(X[train], yt, Xs):
                    if c is None:  # a fold may lack a class: map to the global columns
                        probs[i][np.ix_(np.flatnonzero(held), classes)] = ps[0]
                        if extra is not None:
                            extra[i][:, classes] += ps[1]
                    else:
                        probs[i, held, c] = ps[0][:, 1]
                        if extra is not None:
                            extra[i, :, c] += ps[1][:, 1]
    counts = np.ones(n, dtype=np.int64)
    return [dict(probs=probs[i], counts=counts, trained_on=list(trained_on),
                 extra_probs=None if extra is None else extra[i] / len(fold_ids), folds=folds)
            for i in range(len(cs))]


def label_likelihoods(probs, labels, multi_label=False):
    """The probability each candidate gave each observed label.

    Args:
        probs: ``(M, N, K)`` out-of-sample probabilities of ``M`` candidates
        labels: ``(N,)`` class indices, or an ``(N, K)`` 0/1 indicator array
        multi_label (False): per-class Bernoulli observations

    Returns:
        ``(M, N)`` single-label, ``(M, N * K)`` multi-label
    """
    probs = np.asarray(probs, dtype=np.float64)
    if multi_label:
        Y = np.asarray(labels, dtype=bool)[None]
        return np.where(Y, probs, 1.0 - probs).reshape(len(probs), -1)
    labels = np.asarray(labels, dtype=np.int64)
    return probs[:, np.arange(probs.shape[1]), labels]


def mixture_weights(likelihoods, *, n_iter=200, tol=1e-7, eps=1e-6):
    """Convex weights ``w`` (``(M,)``, sum 1) maximising ``sum_i log(w @ L[:, i])``.

    EM for the weights of a mixture (the problem is concave, so it reaches the
    optimum); ``eps`` floors each likelihood so a candidate's hard zero costs a
    large, finite loss.

    Args:
        likelihoods: ``(M, R)`` candidates' probabilities of ``R`` observations
    """
    L = np.maximum(np.asarray(likelihoods, dtype=np.float64), eps)
    m = len(L)
    w = np.full(m, 1.0 / m)
    previous = -np.inf
    for _ in range(n_iter):
        mix = w @ L
        w = w * (L / mix).mean(axis=1)
        w /= w.sum()
        loss = np.log(mix).mean()
        if loss - previous < tol:
            break
        previous = loss
    return w


def cross_fitted_mixture(probs, labels, folds, *, multi_label=False):
    """Mixes candidates' out-of-sample probabilities with cross-fitted weights.

    Args:
        probs: ``(M, N, K)`` out-of-sample probabilities of ``M`` candidates
        labels: ``(N,)`` class indices, or an ``(N, K)`` 0/1 indicator array
        folds: ``(N,)`` fold ids; fold ``j``'s rows are mixed with weights fitted
            on the other folds' rows only

    Returns:
        ``(mixed, weights)``: the ``(N, K)`` mixture and the ``(F, M)`` weights of
        the ``F`` folds
    """
    probs = np.asarray(probs, dtype=np.float64)
    likelihoods = label_likelihoods(probs, labels, multi_label)
    folds = np.asarray(folds)
    k = probs.shape[2]
    fold_ids = np.unique(folds)
    mixed = np.empty(probs.shape[1:])
    weights = np.empty((len(fold_ids), len(probs)))
    for f, j in enumerate(fold_ids):
        held = folds == j
        other = ~held
        if multi_label:  # observations are (row, class) pairs
            other = np.repeat(other, k)
        weights[f] = mixture_weights(likelihoods[:, other])
        mixed[held] = np.tensordot(weights[f], probs[:, held], axes=1)
    return mixed, weights


def summary(names, weights, counts, *, combine="mixture"):
    """What the run records: the candidates, their mean weights, how they were
    combined (``"mixture"``: fitted weights, ``"mean"``: equal ones) and why;
    ``main`` is the heaviest candidate (None for an equal mean)."""
    mean = np.asarray(weights).mean(axis=0)
    chosen = names[int(np.argmax(mean))] if combine == "mixture" else None
    rounded = {n: round(float(w), 3) for n, w in zip(names, mean)}
    if len(names) == 1:
        why = ("%d labeled samples > %d: bagged MLPs only (they won every benchmark "
               "setting from 10 000 samples)" % (counts, MAX_AUTO_ROWS))
    elif combine == "mean":
        why = ("%d labeled samples < %d: the equal-weight mean of strongly regularised "
               "candidates %s (weights fitted on so few labels flagged worse on the "
               "benchmark's design subsets)" % (counts, SMALL_ROWS, ", ".join(names)))
    else:
        why = ("mixture of %s with weights fitted on other folds' out-of-sample log loss "
               "(mean weights %s)" % (", ".join(names),
                                      ", ".join("%s %.2f" % kv for kv in rounded.items())))
    return dict(name=AUTO, candidates=list(names), weights=rounded, main=chosen,
                combine=combine, why=why)


def fit_auto(fit, X, labels, *, n_estimators=10, max_samples=0.75, seed=0, multi_label=False,
             n_classes=None, X_extra=None, progress=False, max_rows=None, names=None,
             combine=None):
    """``"auto"``: every candidate out of sample on the same folds, then the
    cross-fitted mixture (:func:`cross_fitted_mixture`) or, below
    ``SMALL_ROWS`` samples, their equal-weight mean.

    Args:
        fit: :func:`~.label_issues.fit_out_of_sample` (called once per candidate)
        names (None): the candidates (default :func:`candidates`): names, or
            scikit-learn classifiers (fitted K-fold, named by ``repr``)
        combine (None): ``"mixture"`` or ``"mean"`` (default: ``"mean"`` for the
            default candidates below ``SMALL_ROWS`` samples, else ``"mixture"``)
        X, labels, ...: see :func:`~.label_issues.fit_out_of_sample`

    Returns:
        :func:`~.label_issues.fit_out_of_sample`'s dict for the mixture, its
        ``classifier`` entry from :func:`summary`; ``trained_on`` lists every
        candidate's members, ``candidate_probs`` maps each name to its own
        out-of-sample probabilities
    """
    if combine is None:
        combine = "mean" if names is None and small(len(X), multi_label) else "mixture"
    if combine not in ("mixture", "mean"):
        raise ValueError("combine must be 'mixture' or 'mean'; got %r" % (combine,))
    names = list(candidates(len(X), multi_label=multi_label) if names is None else names)
    logistic = [i for i, m in enumerate(names) if isinstance(m, str)
                and m.startswith("logistic:C=")]
    results = [None] * len(names)
    for i, name in enumerate(names):
        if i in logistic:
            continue  # below, all C values on one warm-started path per fold
        if not isinstance(name, str):
            out = fit(X, labels, classifier=name, n_estimators=n_estimators, max_samples=None,
                      seed=seed, multi_label=multi_label, n_classes=n_classes,
                      X_extra=X_extra, progress=progress)
            names[i] = repr(name)
        elif name == "bagging-mlp":
            out = fit(X, labels, classifier=name, n_estimators=n_estimators,
                      max_samples=max_samples, seed=seed, multi_label=multi_label,
                      n_classes=n_classes, X_extra=X_extra, progress=progress,
                      max_rows=max_rows)
        elif name.startswith("bagging-mlp:"):
            out = fit(X, labels, classifier=make_candidate(name), n_estimators=n_estimators,
                      max_samples=max_samples, seed=seed, multi_label=multi_label,
                      n_classes=n_classes, X_extra=X_extra, progress=progress,
                      max_rows=max_rows)
        else:
            raise ValueError("unknown candidate %r" % (name,))
        results[i] = out
    if logistic:
        done = [r for r in results if r is not None]
        if done:
            folds = done[0]["folds"]
        else:  # the folds fit_out_of_sample would draw for this seed
            folds = assign_folds(np.asarray(labels), int(n_estimators),
                                  np.random.default_rng(seed), multi_label)
        cs = [float(names[i].split("=", 1)[1]) for i in logistic]
        for i, out in zip(logistic, logistic_path(X, labels, folds, cs, multi_label=multi_label,
                                                  n_classes=n_classes, X_extra=X_extra)):
            results[i] = out
    for out in results[1:]:  # same seed, same folds: the cross-fitting needs them aligned
        assert np.array_equal(out["folds"], results[0]["folds"])
    folds = results[0]["folds"]
    if len(results) == 1 or combine == "mean":
        # Equal weights: nothing is fitted on the labels, so nothing to cross-fit.
        weights = np.full((1, len(results)), 1.0 / len(results))
        probs = np.mean([r["probs"] for r in results], axis=0)
    else:
        probs, weights = cross_fitted_mixture([r["probs"] for r in results], labels, folds,
                                              multi_label=multi_label)
    extra = None
    if results[0]["extra_probs"] is not None:  # unlabeled rows: the folds' mean weights
        extra = np.tensordot(weights.mean(axis=0), [r["extra_probs"] for r in results], axes=1)
    return dict(probs=probs, counts=results[0]["counts"], extra_probs=extra, folds=folds,
                trained_on=[t for r in results for t in r["trained_on"]],
                classifier=summary(names, weights, len(X), combine=combine),
                candidate_probs={n: r["probs"] for n, r in zip(names, results)})


def assign_folds(labels, n_folds, rng, multi_label):
    """Assigns each sample to one of ``n_folds`` folds (stratified by class for
    single-label): the one split every out-of-sample fit here uses.

    Args:
        labels: ``(N,)`` class ids, or ``(N, K)`` indicators for ``multi_label``
        n_folds: the number of folds
        rng: a ``numpy.random.Generator``
        multi_label: whether ``labels`` are multi-label (random folds)

    Returns:
        ``(N,)`` fold ids in ``[0, n_folds)``
    """
    n = len(labels)
    folds = np.empty(n, dtype=np.int64)
    if multi_label:
        folds[rng.permutation(n)] = np.arange(n) % n_folds
        return folds
    offset = 0
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        folds[idx] = (np.arange(len(idx)) + offset) % n_folds
        offset += len(idx)
    return folds
