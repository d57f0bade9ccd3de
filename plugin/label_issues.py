"""Label issues: out-of-sample class probabilities (by default a cross-fitted mixture of
bagged MLPs and logistic regressions, below 2 000 samples the mean of strongly
regularised ones, :mod:`classifiers`), then cleanlab.

Array level (no FiftyOne):

- :func:`prepare_features`: L2-normalise, centre and PCA-reduce embeddings (label-free).
- :func:`fit_out_of_sample`: bagged/cross-validated models; every labeled sample is
  scored only by models that never trained on it; extra (unlabeled) rows by all.
- :func:`out_of_sample_probs`: the ``(N, K)`` out-of-sample probabilities.
- :func:`find_issues`: cleanlab's confident learning on those probabilities;
  multi-label: :func:`calibrate_per_class` + :func:`multilabel_changes` (one extra,
  missing or swapped class per set, rates by EM).

Dataset level: :func:`find_label_issues` (flags, scores, suggests; never changes the
user's labels) and :func:`predict_labels` (fills unlabeled samples). Accepting
suggestions lives in :mod:`label_review`.
"""

import logging

import numpy as np

import fiftyone as fo
import fiftyone.core.fields as fof
import fiftyone.core.utils as fou

from . import classifiers, inputs, runs

logger = logging.getLogger(__name__)

STEP = "label_issues"
PREDICT_STEP = "predict_labels"
DEFAULT_LABEL_FIELD = "ground_truth"

CLASSIFIERS = ("auto", "bagging-mlp", "mlp", "logistic")
FILTER_BY = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
             "predicted_neq_given", "low_normalized_margin", "low_self_confidence")
MULTILABEL_SCORES = ("changes", "cleanlab", "mse")
# Rows one bagged member trains on, at most. Past ~40 000 samples more rows per
# member buy little accuracy but cost linear time; smaller bags also leave each
# sample more members that never saw it. Measured on 60 000 Fashion-MNIST
# embeddings with 10 % flipped labels: cap 30 000 F1 0.762 in 21.7 s, no cap
# (45 000 rows) 0.758 in 30.5 s; 100 k rows: 38 s instead of 124 s.
DEFAULT_MAX_ROWS = 30000
MIN_CLASS_SAMPLES = 5  # classes with fewer labeled samples are not checked nor predicted


# --------------------------------------------------------------------------- arrays


def prepare_features(X, *, max_dim=256, seed=0):
    """Label-free preprocessing of embeddings for the classifiers.

    Rows are L2-normalised and centred; above ``max_dim`` dimensions they are
    projected on the top ``max_dim`` principal components (fitted on at most
    10 000 rows), which keeps the MLPs fast. Uses no labels, so fitting it on
    every sample leaks nothing into out-of-sample probabilities.

    Args:
        X: an ``(N, D)`` array
        max_dim (256): the output dimension cap
        seed (0): the PCA's row sample and randomized solver

    Returns:
        an ``(N, min(D, max_dim))`` float32 array with unit overall variance
    """
    X = np.asarray(X)
    n, d = X.shape
    chunk = inputs.CHUNK
    # Block by block: the normalised, centred (N, D) copy is never built whole.
    mean = np.zeros(d)
    for a in range(0, n, chunk):
        mean += inputs.l2_normalize(X[a:a + chunk]).sum(axis=0, dtype=np.float64)
    mean = (mean / max(n, 1)).astype(np.float32)
    projection = None
    if max_dim and d > max_dim and n > max_dim:
        from sklearn.decomposition import PCA

        from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

        rng = np.random.default_rng(seed)
        fit_rows = rng.choice(n, min(n, 10000), replace=False)
        # One BLAS thread: on the shared 2-core machine two threads waiting on each
        # other made this 2x slower (60 000 rows: 4.5-5 s vs 2-3 s at load 4.5).
        with threadpool_limits(1, user_api="blas"):
            pca = PCA(max_dim, svd_solver="randomized", random_state=seed).fit(
                inputs.l2_normalize(X[fit_rows]) - mean)
        projection = pca.components_.T.astype(np.float32)
    out = np.empty((n, d if projection is None else projection.shape[1]), dtype=np.float32)
    for a in range(0, n, chunk):
        block = inputs.l2_normalize(X[a:a + chunk])
        block -= mean
        out[a:a + chunk] = block if projection is None else block @ projection
    # One scale for all dimensions: per-dimension scaling would amplify the noisy
    # low-variance components.
    total = squares = 0.0
    for a in range(0, n, chunk):  # the std in blocks: ndarray.std copies the whole array
        block = out[a:a + chunk].astype(np.float64)
        total += block.sum()
        squares += np.square(block).sum()
    count = max(out.size, 1)
    std = np.sqrt(max(squares / count - (total / count) ** 2, 0.0))
    out /= max(float(std), 1e-12)
    return out


def make_classifier(classifier="bagging-mlp", *, multi_label=False, seed=0, hidden=128):
    """A fresh classifier for one member: ``"bagging-mlp"``/``"mlp"`` give a
    :class:`~.mlp.TorchMLPClassifier` (one hidden ReLU layer of ``hidden`` units,
    torch, scikit-learn interface; it picks its batch and early stopping from the
    rows it is fitted on), ``"logistic"`` scikit-learn's ``LogisticRegression``;
    a scikit-learn estimator is cloned."""
    from sklearn.base import clone

    if not isinstance(classifier, str):
        model = clone(classifier)
        if "random_state" in model.get_params(deep=False):  # members differ, as built-ins do
            model.set_params(random_state=seed)
        return model
    if classifier in ("bagging-mlp", "mlp"):
        from .mlp import TorchMLPClassifier

        # Early stopping (on 10 % of the member's own training rows) keeps a network
        # from memorising wrong labels, but needs a validation split worth the name;
        # sets under 2 000 rows train a fixed budget of epochs in small batches instead.
        # alpha 1e-2 (sklearn's scaling: alpha / batch per step) edged out 1e-3 by
        # 0-0.4 F1 points on 10k Fashion-MNIST at 10/30 % noise over 3 seeds.
        return TorchMLPClassifier(hidden=hidden, alpha=1e-2, learning_rate=1e-3,
                                  early_stopping="auto", validation_fraction=0.1,
                                  n_iter_no_change=4, random_state=seed)
    if classifier == "logistic":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=1.0, max_iter=300)
        if multi_label:
            from sklearn.multiclass import OneVsRestClassifier

            model = OneVsRestClassifier(model)
        return model
    raise ValueError("classifier must be one of %s or a scikit-learn classifier; got %r"
                     % (", ".join(CLASSIFIERS), classifier))


def _bag(candidates, labels, fraction, rng, multi_label):
    """A random subset of ``candidates`` (stratified, every class kept)."""
    if fraction >= 1.0:
        return candidates
    if multi_label:
        k = max(1, int(round(fraction * len(candidates))))
        return np.sort(rng.choice(candidates, k, replace=False))
    picked = []
    for c in np.unique(labels[candidates]):
        idx = candidates[labels[candidates] == c]
        k = max(1, int(round(fraction * len(idx))))
        picked.append(rng.choice(idx, k, replace=False))
    return np.sort(np.concatenate(picked))


def _predict(model, X, n_classes, multi_label):
    probs = model.predict_proba(X)
    if multi_label:
        if isinstance(probs, list):  # multi-output estimators: one (n, 2) array per class
            cols = []
            for p, cls in zip(probs, model.classes_):
                cls = list(cls)
                cols.append(p[:, cls.index(1)] if 1 in cls else np.zeros(len(X)))
            probs = np.stack(cols, axis=1)
        return np.asarray(probs, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    # A member may not have seen every class: map its columns to the global ones.
    out = np.zeros((len(X), n_classes))
    out[:, np.asarray(model.classes_, dtype=np.int64)] = probs
    return out


def fit_out_of_sample(X, labels, *, classifier="auto", n_estimators=10,
                      max_samples=0.75, seed=0, multi_label=False, n_classes=None,
                      X_extra=None, progress=False, max_rows=DEFAULT_MAX_ROWS):
    """Trains the ensemble and predicts every sample out of sample.

    The samples are split into ``n_estimators`` stratified folds. Member ``k``
    never sees fold ``k``: it trains on a random ``max_samples`` fraction of all
    samples drawn from the other folds (all of them when ``max_samples`` is None,
    i.e. plain K-fold cross-validation). A sample's probabilities are the mean
    over every member that did not train on it — at least its own fold's member
    — so no sample is scored by a model that saw it, and none is left unscored.

    Args:
        X: an ``(N, D)`` feature array of the labeled samples
        labels: ``(N,)`` int class indices, or for ``multi_label`` an ``(N, K)``
            0/1 indicator array
        classifier ("auto"): ``"auto"`` (a cross-fitted mixture of bagged MLPs and
            logistic regressions, below ``classifiers.SMALL_ROWS`` samples the equal
            mean of strongly regularised ones, :func:`~.classifiers.fit_auto`; a dict under
            ``classifier`` says what ran), ``"bagging-mlp"``, ``"mlp"`` / ``"logistic"``
            (K-fold, ``max_samples`` ignored) or a scikit-learn classifier with
            ``predict_proba`` (cloned per member)
        n_estimators (10): members (= folds), at least 2
        max_samples (0.75): fraction of all N samples each member trains on,
            capped at ``1 - 1/n_estimators`` (the out-of-fold samples)
        n_classes (None): K for single-label (default ``labels.max() + 1``)
        X_extra (None): an ``(M, D)`` array of other samples (unlabeled) scored by
            every member
        max_rows (30 000): at most this many training rows per member (bagging
            only, so time stays flat past ~40 000 samples; None: no cap)

    Returns:
        a dict with ``probs`` ``(N, K)``, ``counts`` ``(N,)`` (members that scored
        each sample), ``trained_on`` (a list of index arrays, one per member) and
        ``extra_probs`` ``(M, K)`` or None
    """
    X = np.asarray(X)
    labels = np.asarray(labels)
    n = len(X)
    if len(labels) != n:
        raise ValueError("X has %d rows but labels has %d" % (n, len(labels)))
    n_estimators = int(n_estimators)
    if n_estimators < 2:
        raise ValueError("n_estimators must be >= 2 (out-of-sample scoring needs at least "
                         "two members); got %r" % n_estimators)
    if n < 2 * n_estimators:
        raise ValueError("Need at least %d labeled samples for %d members; got %d"
                         % (2 * n_estimators, n_estimators, n))
    if isinstance(classifier, str) and classifier == classifiers.AUTO:
        return classifiers.fit_auto(
            fit_out_of_sample, X, labels, n_estimators=n_estimators, max_samples=max_samples,
            seed=seed, multi_label=multi_label, n_classes=n_classes, X_extra=X_extra,
            progress=progress, max_rows=max_rows)
    if isinstance(classifier, str) and classifier != "bagging-mlp":
        max_samples = None
    out_of_fold = 1.0 - 1.0 / n_estimators
    if max_samples is None:
        fraction = 1.0
    else:
        if not 0 < float(max_samples) <= 1:
            raise ValueError("max_samples must be in (0, 1]; got %r" % (max_samples,))
        fraction = min(1.0, float(max_samples) / out_of_fold)
        if max_rows:
            fraction = min(fraction, float(max_rows) / (out_of_fold * n))
    k = labels.shape[1] if multi_label else int(n_classes or labels.max() + 1)

    rng = np.random.default_rng(seed)
    folds = classifiers.assign_folds(labels, n_estimators, rng, multi_label)
    sums = np.zeros((n, k))
    counts = np.zeros(n, dtype=np.int64)
    extra = None if X_extra is None or len(X_extra) == 0 else np.zeros((len(X_extra), k))
    trained_on = []
    with fou.ProgressBar(total=n_estimators, progress=progress) as pb:
        for member in range(n_estimators):
            train = _bag(np.flatnonzero(folds != member), labels, fraction, rng, multi_label)
            model = make_classifier(classifier, multi_label=multi_label, seed=seed + member)
            model.fit(X[train], labels[train])
            trained_on.append(train)
            unseen = np.ones(n, dtype=bool)
            unseen[train] = False
            unseen = np.flatnonzero(unseen)
            for a in range(0, len(unseen), 65536):  # blocks: no copy of all unseen rows
                rows = unseen[a:a + 65536]
                sums[rows] += _predict(model, X[rows], k, multi_label)
            counts[unseen] += 1
            if extra is not None:
                extra += _predict(model, X_extra, k, multi_label)
            pb.update()
    assert counts.min() >= 1  # fold `member` is never in bag `member`
    return dict(probs=sums / counts[:, None], counts=counts, trained_on=trained_on,
                extra_probs=None if extra is None else extra / n_estimators, folds=folds,
                classifier=dict(name=classifier if isinstance(classifier, str)
                                else repr(classifier)))


def out_of_sample_probs(X, labels, *, classifier="auto", n_estimators=10,
                        max_samples=0.75, seed=0, multi_label=False, n_classes=None,
                        preprocess=True, progress=False):
    """Out-of-sample class probabilities: no row comes from a model that trained on it.

    Args:
        X: an ``(N, D)`` embeddings array
        labels: ``(N,)`` class indices in ``[0, K)``, or for ``multi_label`` an
            ``(N, K)`` 0/1 indicator array
        classifier, n_estimators, max_samples, seed: see :func:`fit_out_of_sample`
        preprocess (True): apply :func:`prepare_features` first (built-in classifiers)

    Returns:
        an ``(N, K)`` float array (rows sum to 1 for single-label; per-class
        probabilities for multi-label)
    """
    if preprocess:
        X = prepare_features(X, seed=seed)
    return fit_out_of_sample(X, labels, classifier=classifier, n_estimators=n_estimators,
                             max_samples=max_samples, seed=seed, multi_label=multi_label,
                             n_classes=n_classes, progress=progress)["probs"]


def calibrate_per_class(pred_probs, labels, *, n_folds=10, seed=0, ridge=1e-3):
    """Per-class Platt scaling of multi-label probabilities, cross-fitted.

    Each class's probabilities are mapped through ``sigmoid(a * logit(p) + b)``;
    the ``(a, b)`` applied to fold ``j``'s rows are fitted (Newton, a small ridge)
    on the other folds' rows only, so no row's own label moves its calibrated
    probability. A mixture fitted to the log loss of all classes at once can be
    over- or under-confident per class; the change model below multiplies
    per-class odds, so per-class calibration matters.

    Args:
        pred_probs: ``(N, K)`` out-of-sample per-class probabilities
        labels: ``(N, K)`` 0/1 indicator array
        n_folds (10), seed (0): the random folds

    Returns:
        ``(N, K)`` calibrated probabilities
    """
    P = np.clip(np.asarray(pred_probs, dtype=np.float64), 1e-6, 1 - 1e-6)
    Y = np.asarray(labels, dtype=np.float64)
    z = np.log(P / (1 - P))
    n = len(P)
    folds = np.random.default_rng(seed).permutation(n) % max(2, min(int(n_folds), n))
    out = np.empty_like(P)
    for j in np.unique(folds):
        tr, te = folds != j, folds == j
        zt, yt = z[tr], Y[tr]
        a, b = np.ones(P.shape[1]), np.zeros(P.shape[1])
        for _ in range(25):  # Newton on (a, b) of every class at once
            q = 1 / (1 + np.exp(-(a * zt + b)))
            r, h = q - yt, q * (1 - q)
            g = np.stack([(r * zt).mean(0) + ridge * (a - 1), r.mean(0) + ridge * b])
            haa = (h * zt * zt).mean(0) + ridge
            hab = (h * zt).mean(0)
            hbb = h.mean(0) + ridge
            det = haa * hbb - hab ** 2
            da = (hbb * g[0] - hab * g[1]) / det
            db = (haa * g[1] - hab * g[0]) / det
            a, b = a - da, b - db
            if max(np.abs(da).max(), np.abs(db).max()) < 1e-8:
                break
        out[te] = 1 / (1 + np.exp(-(a * z[te] + b)))
    return np.clip(out, 1e-6, 1 - 1e-6)


CHANGES = ("none", "extra", "missing", "swapped")


def multilabel_changes(labels, pred_probs, *, n_iter=200, tol=1e-8):
    """How likely each label set is wrong by one change, with the change rates learned.

    A label set can be right, have one class too many (``extra``), miss one
    (``missing``) or have one class replaced by another (``swapped``). Reading
    ``pred_probs`` as independent per-class probabilities of the true classes,
    the likelihood of the true set ``T`` relative to the given set ``S`` is a
    product of per-class odds: dropping ``b`` multiplies by ``(1 - p_b) / p_b``,
    adding ``r`` by ``p_r / (1 - p_r)``; a wrong set arises from ``T`` by one
    change chosen uniformly. The rate of each kind of change is fitted by EM over
    all samples (a kind the data do not show gets ~0), and each sample's
    posterior probability of being wrong follows. The most probable change names
    the class(es) to add or remove.

    Args:
        labels: ``(N, K)`` 0/1 indicator array
        pred_probs: ``(N, K)`` out-of-sample (ideally calibrated) probabilities

    Returns:
        ``(wrong, rates, change)``: ``(N,)`` posterior probability that the set is
        wrong, the 4 fitted rates of :data:`CHANGES`, and an ``(N, K)`` int array:
        -1 for a class to remove, +1 to add, 0 otherwise (each sample's most
        probable change, were its set wrong; none where no change can explain it)
    """
    P = np.clip(np.asarray(pred_probs, dtype=np.float64), 1e-6, 1 - 1e-6)
    present = np.asarray(labels) == 1
    n, k = P.shape
    m = present.sum(axis=1)
    odds = P / (1 - P)
    drop = np.where(present, 1 / odds, 0.0)  # true set without b / given set
    add = np.where(present, 0.0, odds)  # true set with r / given set
    with np.errstate(divide="ignore", invalid="ignore"):
        # P(given | change) / P(given | none), summed over the true sets it could come from
        L = np.stack([np.ones(n),
                      np.where(m > 0, drop.sum(1) / np.maximum(k - m + 1, 1), 0.0),
                      np.where(m < k, add.sum(1) / np.maximum(m + 1, 1), 0.0),
                      np.where((m > 0) & (m < k),
                               drop.sum(1) * add.sum(1) / np.maximum(m * (k - m), 1), 0.0)])
    rates = np.array([0.9, 1 / 30, 1 / 30, 1 / 30])
    for _ in range(n_iter):
        w = rates[:, None] * L
        w /= w.sum(axis=0)
        new = w.mean(axis=1)
        done = np.abs(new - rates).max() < tol
        rates = new
        if done:
            break
    w = rates[:, None] * L
    w /= w.sum(axis=0)
    change = np.zeros((n, k), dtype=np.int64)
    kind = 1 + w[1:].argmax(axis=0)  # the most probable change, were the set wrong
    kind[w[1:].max(axis=0) <= 0] = 0
    rows = np.arange(n)
    best_drop, best_add = drop.argmax(axis=1), add.argmax(axis=1)
    removes = (kind == 1) | (kind == 3)
    adds = (kind == 2) | (kind == 3)
    change[rows[removes], best_drop[removes]] = -1
    change[rows[adds], best_add[adds]] = 1
    return 1 - w[0], rates, change


def find_issues(labels, pred_probs, *, multi_label=False, filter_by="prune_by_noise_rate",
                multilabel_score="changes", seed=0):
    """Confident learning (cleanlab) on out-of-sample probabilities.

    Multi-label, ``multilabel_score="changes"`` (default): the probabilities are
    calibrated per class (:func:`calibrate_per_class`), each label set's
    probability of being wrong by one change comes from
    :func:`multilabel_changes`, and the expected number of wrong sets (the sum of
    those probabilities) is flagged, most probable first. cleanlab's multi-label
    filter flags a sample when any of its classes' one-vs-rest filters does; with a
    per-class accuracy of ~0.8 (2x2 mosaics of Fashion-MNIST) that flagged ~7 samples
    per wrong one. ``"cleanlab"`` / ``"mse"``: cleanlab's filter (``filter_by``),
    ranked by cleanlab's quality score or by 1 - mean squared error.

    Args:
        labels: ``(N,)`` class indices, or for ``multi_label`` an ``(N, K)`` 0/1
            indicator array
        pred_probs: ``(N, K)`` out-of-sample probabilities
        filter_by ("prune_by_noise_rate"): cleanlab's ``filter_by`` (single-label,
            and multi-label with ``"cleanlab"``/``"mse"``)
        multilabel_score ("changes"): ``"changes"``, ``"cleanlab"`` or ``"mse"``
        seed (0): the calibration's folds (``"changes"``)

    Returns:
        a tuple ``(issues, quality, per_class)``: ``(N,)`` bool, ``(N,)`` float in
        [0, 1] (low = likely wrong), and for multi-label an ``(N, K)`` int array of
        per-class issues of the flagged samples: -1 a given class looks wrong
        (remove), +1 a missing class looks present (add), 0 otherwise (None for
        single-label)
    """
    import cleanlab

    pred_probs = np.asarray(pred_probs, dtype=np.float64)
    if not multi_label:
        labels = np.asarray(labels, dtype=np.int64)
        issues = cleanlab.filter.find_label_issues(labels, pred_probs, filter_by=filter_by)
        quality = cleanlab.rank.get_label_quality_scores(labels, pred_probs)
        return np.asarray(issues, dtype=bool), np.asarray(quality, dtype=float), None

    Y = np.asarray(labels, dtype=np.int64)
    if multilabel_score == "changes":
        calibrated = calibrate_per_class(pred_probs, Y, seed=seed)
        wrong, _rates, change = multilabel_changes(Y, calibrated)
        count = int(round(float(wrong.sum())))
        issues = np.zeros(len(Y), dtype=bool)
        issues[np.argsort(-wrong, kind="stable")[:count]] = True
        issues &= (change != 0).any(axis=1)  # a flag always names a class
        return issues, 1.0 - wrong, np.where(issues[:, None], change, 0)

    from cleanlab.multilabel_classification import filter as mlfilter, rank as mlrank

    lists = [list(np.flatnonzero(row)) for row in Y]
    issues = mlfilter.find_label_issues(lists, pred_probs, filter_by=filter_by)
    per_class = mlfilter.find_multilabel_issues_per_class(lists, pred_probs, filter_by=filter_by)
    per_class = np.asarray(per_class, dtype=bool).reshape(len(lists), -1)  # (N, K)
    if multilabel_score == "mse":
        quality = 1.0 - ((Y - pred_probs) ** 2).mean(axis=1)
    else:
        quality = mlrank.get_label_quality_scores(lists, pred_probs)
    # A flagged given class is to remove, a flagged absent one to add.
    per_class = np.where(per_class, np.where(Y == 1, -1, 1), 0)
    return np.asarray(issues, dtype=bool), np.asarray(quality, dtype=float), per_class


# ------------------------------------------------------------------------- datasets

# Only lets FiftyOne load run records made before label steps used WinnowRunConfig:
# they store the class path "winnow.plugin.label_issues.LabelRunConfig", which
# FiftyOne resolves by name; through this alias they load as WinnowRunConfig and
# get its run class WinnowRun (whose cleanup removes label tags and saved views).
LabelRunConfig = runs.WinnowRunConfig


class LabelIssuesResults(runs.Results):
    """What :func:`find_label_issues` or :func:`predict_labels` did.

    Attributes:
        step: ``"label_issues"`` or ``"predict_labels"``
        label_field, multi_label, classes: the label field, its kind, the
            classes learned
        num_samples: samples of the view (with or without an embedding)
        num_labeled: :func:`find_label_issues`: labeled samples with an
            embedding; :func:`predict_labels`: labeled samples of the view
        skipped_classes: ``{class: count}`` of classes too rare to learn (their
            samples are not scored)
        num_skipped: samples without an embedding (e.g. unreadable images):
            neither scored nor predicted
        run_key, seconds, messages: the run record's key, wall time, warnings
        num_scored, num_issues, issue_ids (sample ids, worst first), tag,
            quality_field, suggestion_field, saved_view: :func:`find_label_issues` only
        num_predicted, num_unlabeled, fill_rate_before, fill_rate_after:
            :func:`predict_labels` only
        patches_field: None, or the objects field the step ran on: then the
            counts are of objects, ``label_field`` is that field and
            ``issue_ids`` are object (label) ids
    """

    ATTRIBUTES = ("step", "label_field", "multi_label", "classes", "num_samples",
                  "num_labeled", "skipped_classes", "run_key", "seconds", "messages")

    patches_field = None

    def summary(self):
        unit = "objects" if self.patches_field else "samples"
        where = ("the objects of %r" % self.patches_field) if self.patches_field \
            else repr(self.label_field)
        if self.step == STEP:
            return ("Label issues in %s (%s): %d/%d scored %s flagged (%d %s, "
                    "%d unlabeled) in %.1f s"
                    % (where, "multi-label" if self.multi_label else "single-label",
                       self.num_issues, self.num_scored, unit, self.num_samples, unit,
                       self.num_samples - self.num_labeled, self.seconds))
        return ("Predicted %s for %d %s: fill rate %.1f%% -> %.1f%% in %.1f s"
                % (where, self.num_predicted, unit, 100 * self.fill_rate_before,
                   100 * self.fill_rate_after, self.seconds))

    def __repr__(self):
        # Warnings (rare classes) on their own lines, after the summary.
        first = super().__repr__()
        if self.patches_field:
            first = first.replace("samples without an embedding", "objects without an embedding")
        return "\n".join([first] + list(self.messages))


def _validate_common(samples, label_field, embeddings_field, classifier, n_estimators,
                     max_samples, patches_field=None):
    """Checks the parameters both label steps share.

    Returns:
        ``(label, pf)``: the :class:`~winnow.plugin.inputs.LabelField` whose
        classes are learned, and the :class:`~winnow.plugin.inputs.PatchesField`
        of the objects (None for samples)
    """
    inputs.check_collection(samples)
    if patches_field is None:
        pf = None
        label = inputs.label_field(samples, label_field, param="label_field",
                                   kinds=inputs.LABEL_FIELD_KINDS)
        inputs.check_vector_field(samples.get_field_schema(), embeddings_field)
    else:
        pf, label = object_classes(samples, patches_field, label_field)
        # The attribute itself is checked as it is read (load_vectors): it may hold
        # vectors without being declared.
        inputs.check_name(embeddings_field, "embeddings_field")
    if isinstance(classifier, str):
        if classifier not in CLASSIFIERS:
            raise ValueError("classifier must be one of %s or a scikit-learn classifier; got %r"
                             % (", ".join(CLASSIFIERS), classifier))
    elif not (hasattr(classifier, "fit") and hasattr(classifier, "predict_proba")):
        raise ValueError("classifier must have fit() and predict_proba(); got %r" % (classifier,))
    if isinstance(n_estimators, bool) or not isinstance(n_estimators, (int, np.integer)) \
            or n_estimators < 2:
        raise ValueError("n_estimators must be an integer >= 2; got %r" % (n_estimators,))
    if max_samples is not None and not (isinstance(max_samples, (int, float))
                                        and 0 < max_samples <= 1):
        raise ValueError("max_samples must be in (0, 1]; got %r" % (max_samples,))
    return label, pf


def check_classes(samples, label, *, min_class_samples=MIN_CLASS_SAMPLES):
    """Raises ValueError unless ``samples`` hold 2 classes the label steps can check.

    A class needs ``min_class_samples`` labeled samples (the rare-class floor):
    said before anything is written, e.g. by :func:`winnow.curate` before its
    first step.

    Args:
        samples: the samples the step will learn from (e.g. the embedded ones)
        label: a label field name or :class:`~winnow.plugin.inputs.LabelField`
        min_class_samples (5): the rare-class floor
    """
    if isinstance(label, str):
        label = inputs.label_field(samples, label, param="label_field",
                                   kinds=inputs.LABEL_FIELD_KINDS)
    floor = _floor(min_class_samples)
    usable = sum(count >= floor for name, count in samples.count_values(label.path).items()
                 if name is not None)
    if usable < 2:
        raise ValueError("Need at least 2 classes with >= %d labeled, embedded samples in %r; "
                         "found %d" % (floor, label.name, usable))


def _training_set(samples, label, embeddings_field, min_class_samples, seed, pf=None):
    """Reads the embedded samples (with ``pf``: objects) and encodes what the members
    learn.

    Returns:
        a dict: ``vectors`` (:func:`inputs.load_vectors`' ``Vectors``: N sample or
        object ids in view order, labels, ``num_skipped``), ``classes``,
        ``skipped`` (rare classes ``{name: count}``), ``labeled`` (rows with a
        label), ``kept`` (rows trained on), ``y`` (their encoded labels) and
        ``X`` (the ``(N, d)`` :func:`prepare_features` of every embedded row)
    """
    unit = _unit(pf)
    embedded = samples.count(pf.path(embeddings_field)) if pf else \
        len(samples.exists(embeddings_field))
    if len(samples) and not embedded:
        # Said as the label steps' own requirement (load_vectors would name only the field).
        raise ValueError("Need at least 2 classes with >= %d labeled, embedded %s in %r; "
                         "found 0: no %s of the view has a %r vector (compute embeddings "
                         "first)" % (_floor(min_class_samples), unit, label.name, unit[:-1],
                                     embeddings_field))
    if pf is None:
        vectors = inputs.load_vectors(samples, embeddings_field, labels=label,
                                      unlabeled="keep")
    else:
        vectors = inputs.load_vectors(samples, embeddings_field, labels=True,
                                      unlabeled="keep", patches_field=pf)
    names = vectors.labels
    labeled = [r for r in range(len(names)) if names[r] is not None]
    classes, skipped, kept, y = _encode(names, labeled, label.multi_label, min_class_samples)
    if len(classes) < 2:
        raise ValueError("Need at least 2 classes with >= %d labeled, embedded %s in %r; "
                         "found %d" % (_floor(min_class_samples), unit, label.name,
                                       len(classes)))
    X = prepare_features(vectors.X, seed=seed)
    # The raw (N, D) vectors are not needed past here: free them for the members.
    return dict(vectors=vectors._replace(X=None), classes=classes, skipped=skipped,
                labeled=labeled, kept=kept, y=y, X=X)


def _unembedded(samples, embeddings_field, label, pf=None):
    """Ids and labels of the view's samples (with ``pf``: objects) without an
    embedding: they get no result (None is written, as for every other unscored
    sample or object)."""
    if pf is None:
        ids, values = samples.exists(embeddings_field, False).values(["id", label.path])
    else:
        from fiftyone import ViewField as F

        missing = samples.filter_labels(pf.name, ~F(embeddings_field).exists())
        ids, values = missing.values([label.id_path, label.path], unwind=True)
    return ids, label.clean(values)


def _unit(pf):
    return "samples" if pf is None else "objects"


def _objects_kwarg(pf):
    """``runs.Step``'s keyword for a step on objects (none for samples)."""
    return dict(patches_field=pf) if pf is not None else {}


def object_classes(samples, patches_field, label_field):
    """The objects field and its classes: each object's ``label`` (single-label).

    Returns:
        ``(pf, label)``: the :class:`~winnow.plugin.inputs.PatchesField` and a
        :class:`~winnow.plugin.inputs.LabelField` of the objects' ``label``
    """
    pf = inputs.patches_field(samples, patches_field)
    # label_field names a sample-level field: with objects it has no meaning, so
    # another field given with patches_field is a mistake, said at once.
    if label_field not in (DEFAULT_LABEL_FIELD, pf.name):
        raise ValueError("With patches_field=%r the classes are the objects' labels (%r): "
                         "label_field=%r is not used; leave it out"
                         % (pf.name, pf.path("label"), label_field))
    return pf, inputs.LabelField(pf.name, "patches_field", "classification", pf.path("label"),
                                 pf.path("id"))


def _declare(samples, pf, field, ftype, **kwargs):
    """Declares the sample field ``field``, or with ``pf`` the objects' attribute."""
    inputs.declare_field(samples, pf.path(field) if pf else field, ftype, **kwargs)


def _declare_suggestions(samples, pf, field, multi_label):
    """Declares a field of suggested labels: ``fo.Classification(s)`` on samples, a
    class name (string attribute) on objects."""
    if pf is not None:
        _declare(samples, pf, field, fof.StringField)
    else:
        _declare(samples, pf, field, fof.EmbeddedDocumentField,
                 embedded_doc_type=fo.Classifications if multi_label else fo.Classification)


def _set_values(samples, pf, field, values):
    """Writes ``{id: value}`` to the sample field ``field``, or with ``pf`` to the
    attribute ``field`` of the objects (keyed by object id)."""
    if pf is None:
        samples.set_values(field, values, key_field="id")
    else:
        inputs.set_object_values(samples, pf, field, values)


def _issues_view(samples, pf, tag, quality_field):
    """The flagged samples, or with ``pf`` a patches view of the flagged objects,
    worst first."""
    if pf is None:
        return samples.match_tags(tag).sort_by(quality_field)
    return inputs.objects_view(samples, pf, tag).sort_by("%s.%s" % (pf.name, quality_field))


def _encode(names, rows, multi_label, min_class_samples):
    """Class list and encoded labels for ``rows``; drops classes that are too rare."""
    from collections import Counter

    counts = Counter()
    for i in rows:
        counts.update(names[i] if multi_label else [names[i]])
    floor = _floor(min_class_samples)
    classes = sorted(c for c, m in counts.items() if m >= floor)
    skipped = {c: m for c, m in counts.items() if m < floor}
    index = {c: j for j, c in enumerate(classes)}
    if multi_label:
        Y = np.zeros((len(rows), len(classes)), dtype=np.int64)
        for r, i in enumerate(rows):
            for c in names[i]:
                if c in index:
                    Y[r, index[c]] = 1
        return classes, skipped, list(rows), Y
    kept = [i for i in rows if names[i] in index]
    return classes, skipped, kept, np.array([index[names[i]] for i in kept], dtype=np.int64)


def _rare_message(skipped, floor, unit="samples"):
    return ("Classes with fewer than %d labeled %s are not checked (too few to "
            "learn out of sample; label more examples of them): %s"
            % (floor, unit, ", ".join("%s (%d)" % kv for kv in sorted(skipped.items()))))


def _suggestion(probs_row, classes, multi_label, threshold, pf=None):
    """The suggested label: ``fo.Classification(s)`` with confidences; for objects
    (``pf``) the class name. None below ``threshold`` (single-label)."""
    if pf is not None:
        j = int(np.argmax(probs_row))
        return classes[j] if probs_row[j] >= threshold else None
    if multi_label:
        picked = [fo.Classification(label=classes[j], confidence=float(probs_row[j]))
                  for j in np.flatnonzero(probs_row >= threshold)]
        return fo.Classifications(classifications=picked)
    j = int(np.argmax(probs_row))
    if probs_row[j] < threshold:
        return None
    return fo.Classification(label=classes[j], confidence=float(probs_row[j]))


def _multilabel_suggestion(probs_row, classes, given, change, threshold):
    """``fo.Classifications`` of the suggested set, with attributes ``add`` and
    ``remove`` (class names): ``given`` changed by ``change`` (-1 remove, +1 add),
    or, with ``change`` None, the classes with probability >= ``threshold``."""
    present = np.asarray(given) == 1
    if change is None:
        suggested = probs_row >= threshold
    else:
        suggested = (present & (change >= 0)) | (change > 0)
    return fo.Classifications(
        classifications=[fo.Classification(label=classes[j], confidence=float(probs_row[j]))
                         for j in np.flatnonzero(suggested)],
        add=[classes[j] for j in np.flatnonzero(suggested & ~present)],
        remove=[classes[j] for j in np.flatnonzero(present & ~suggested)])


def _floor(min_class_samples):
    # Folds are stratified but need not all hold every class: a member that never saw a
    # class gives it probability 0, so the floor is the user's, not the fold count.
    return max(int(min_class_samples), 2)


def _flagged_label_ids(samples, label, flagged):
    """The ids of the flagged labels, from one read of the flagged samples.

    ``flagged`` maps a sample id to the classes cleanlab flagged in it
    (multi-label) or to None (single-label: its label).
    """
    if not flagged:
        return []
    ids, names, label_ids = samples.select(list(flagged)).values(
        ["id", label.path, label.id_path])
    out = []
    for i, name, label_id in zip(ids, names, label_ids):
        if label_id is None:
            continue
        if label.multi_label:
            out += [lid for lid, c in zip(label_id, name) if c in flagged[i]]
        else:
            out.append(label_id)
    return out


def _saved_view_name(label_field, tag):
    return ("winnow-%s-%s" % (tag, label_field)).replace("_", "-")


def find_label_issues(samples, *, label_field=DEFAULT_LABEL_FIELD, embeddings_field="embedding",
                      patches_field=None, classifier="auto", n_estimators=10, max_samples=0.75,
                      filter_by="prune_by_noise_rate", tag="label_issue",
                      quality_field="label_quality", suggestion_field="suggested_label",
                      multilabel_score="changes", min_class_samples=MIN_CLASS_SAMPLES,
                      suggest_threshold=0.5,
                      save_view=True, seed=0, overwrite=False, progress=None, pred_field=None):
    """Finds likely wrong labels with out-of-sample probabilities and cleanlab.

    By default a cross-fitted mixture of bagged MLPs and logistic regressions on
    the embeddings (below 2 000 labeled samples the equal mean of strongly
    regularised ones, :mod:`classifiers`) predicts every labeled sample out of sample
    (see :func:`fit_out_of_sample`); cleanlab's confident learning flags the
    samples whose label disagrees with a confident prediction. Unlabeled samples
    are never scored nor flagged (see :func:`predict_labels`), nor are samples
    without an embedding (counted in ``num_skipped``). The user's labels are
    never changed: accept suggestions with :func:`winnow.accept_suggestions`.

    Writes:
        - ``quality_field``: label quality in [0, 1] per scored sample (low = likely
          wrong; None for unlabeled samples and skipped classes)
        - ``suggestion_field``: the model's label with its confidence
          (``fo.Classification``); multi-label: ``fo.Classifications`` whose
          attributes ``add`` and ``remove`` list the classes to add to and remove
          from the given set. With ``multilabel_score="changes"`` a flagged
          sample's suggestion is its set with the most probable change applied
          (e.g. a swapped class: one removed, one added), an unflagged sample's its
          own set; with ``"cleanlab"``/``"mse"`` the classes with probability >=
          ``suggest_threshold``
        - sample tag ``tag`` on flagged samples, and label tag ``tag`` on the flagged
          labels (single-label: the label; multi-label: each given class flagged as
          wrong)
        - a saved view of the flagged samples sorted by quality (worst first)

    Objects (``patches_field``): the same on the objects of a ``fo.Detections``
    (or ``fo.Polylines``) field, each object's ``label`` its class
    (single-label), learned from each object's ``embeddings_field`` attribute
    (``winnow.compute_embeddings(patches_field=...)``). The results are
    attributes of the objects: ``quality_field`` (float) and
    ``suggestion_field`` (the suggested class name; None below no threshold is
    applied, so every scored object has one), the label tag ``tag`` on the
    flagged objects (no sample tag, no sample field), and a saved patches view
    of the flagged objects, worst first. Objects without a label or a vector
    are not scored (None); ``num_samples`` etc. then count objects and
    ``issue_ids`` are object (label) ids.

    Args:
        samples: a dataset or view (with ``patches_field``, also a patches view of
            that field)
        label_field ("ground_truth"): a ``fo.Classification`` (single-label) or
            ``fo.Classifications`` (multi-label) field, detected from its type;
            not used with ``patches_field``
        embeddings_field ("embedding"): the vectors to learn from (with
            ``patches_field``: the objects' attribute)
        patches_field (None): a ``fo.Detections``/``fo.Polylines`` field: find
            wrong object labels instead of sample labels
        classifier ("auto"): ``"auto"`` mixes bagged MLPs and logistic regressions
            with weights fitted out of sample, below 2 000 labeled samples strongly
            regularised ones with equal weights (the run records the candidates, their
            weights, ``combine`` and why, under ``classifier_used``), ``"bagging-mlp"``, ``"mlp"``
            (one MLP per fold),
            ``"logistic"`` or a scikit-learn classifier
        n_estimators (10): bagged members (= folds)
        max_samples (0.75): fraction of samples each member trains on. With 10
            members a sample is scored by ~2.5 members that never saw it; with
            5 members only ~1.25 times, barely more than K-fold (on 10 000
            Fashion-MNIST embeddings, 10 members raised F1 by 1-3 points over 5
            at 10-30 % noise). A member trains on at most 30 000 rows
            (``DEFAULT_MAX_ROWS``), so past ~40 000 samples time stays flat
        filter_by ("prune_by_noise_rate"): cleanlab's ``filter_by``
        tag ("label_issue"): the sample and label tag of flagged samples
        quality_field ("label_quality"), suggestion_field ("suggested_label"):
            the fields to write
        multilabel_score ("changes"): multi-label: ``"changes"`` (per-class
            calibrated probabilities, each set's probability of one extra, missing
            or swapped class, the expected number of wrong sets flagged; see
            :func:`find_issues`), ``"cleanlab"`` (cleanlab's multi-label filter and
            score) or ``"mse"`` (cleanlab's filter, Miribel's ranking)
        min_class_samples (5): classes with fewer labeled samples are not checked
        suggest_threshold (0.5): multi-label suggestion threshold (``"cleanlab"``
            and ``"mse"``)
        save_view (True): save the view of the flagged samples
        seed (0): folds, bags, members and the PCA of :func:`prepare_features`
        overwrite (False): allow writing over fields/tags this step does not own
        progress (None): True/False or a callback (``fiftyone.report_progress``)
        pred_field (None): a ``fo.Detections`` field of a detector's predictions
            (with confidences), with ``patches_field``: cleanlab object detection
            instead of embeddings (swapped classes, badly located boxes, overlooked
            objects; see :func:`~.detection_issues.find_detection_issues`, which
            uses ``tag``, ``quality_field``, ``save_view`` and ``overwrite``)

    Returns:
        a :class:`LabelIssuesResults` (with ``pred_field``: a
        :class:`~.detection_issues.DetectionIssuesResults`)

    Raises:
        ValueError: bad parameters, before anything is written
    """
    if pred_field is not None:  # a detector's predictions: cleanlab object detection
        from . import detection_issues

        return detection_issues.find_detection_issues(
            samples, patches_field=patches_field, pred_field=pred_field, tag=tag,
            quality_field=quality_field, save_view=save_view, overwrite=overwrite,
            progress=progress)
    if patches_field is not None:
        samples = inputs.samples_of_patches(samples, patches_field)
    label, pf = _validate_common(samples, label_field, embeddings_field, classifier,
                                 n_estimators, max_samples, patches_field)
    multi_label = label.multi_label
    unit = _unit(pf)
    inputs.check_choice(filter_by, FILTER_BY, "filter_by")
    inputs.check_choice(multilabel_score, MULTILABEL_SCORES, "multilabel_score")
    if not 0 < float(suggest_threshold) <= 1:
        raise ValueError("suggest_threshold must be in (0, 1]; got %r" % (suggest_threshold,))
    if label.root in (quality_field, suggestion_field) or quality_field == suggestion_field:
        raise ValueError("label_field, quality_field and suggestion_field must differ")
    if pf is not None and embeddings_field in (quality_field, suggestion_field):
        raise ValueError("embeddings_field, quality_field and suggestion_field must differ")
    inputs.check_name(tag, "tag")
    # Object views are named like every object step's (winnow-<field>-<tag>).
    view_name = runs.objects_view_name(pf, tag) if pf else _saved_view_name(label.root, tag)
    saved = [view_name] if save_view else []
    step = runs.Step(samples, STEP, fields=dict(quality=quality_field,
                                                suggestion=suggestion_field),
                     tags=[] if pf else [tag], label_tags={tag: [label.root]},
                     saved_views=saved, score=dict(field=quality_field, descending=False),
                     overwrite=overwrite, **_objects_kwarg(pf))

    data = _training_set(samples, label, embeddings_field, min_class_samples, seed, pf)
    ids, num_skipped = data["vectors"].ids, data["vectors"].num_skipped
    classes, kept, y = data["classes"], data["kept"], data["y"]
    messages = [_rare_message(data["skipped"], _floor(min_class_samples), unit)] \
        if data["skipped"] else []
    for m in messages:
        logger.warning(m)
    fitted = fit_out_of_sample(data["X"][kept], y, classifier=classifier,
                               n_estimators=n_estimators, max_samples=max_samples, seed=seed,
                               multi_label=multi_label, n_classes=len(classes),
                               progress=progress)
    probs = fitted["probs"]
    issues, quality, per_class = find_issues(y, probs, multi_label=multi_label,
                                             filter_by=filter_by, multilabel_score=multilabel_score,
                                             seed=seed)

    unscored = ids + (_unembedded(samples, embeddings_field, label, pf)[0]
                      if num_skipped else [])
    quality_values = dict.fromkeys(unscored)
    suggestions = dict.fromkeys(unscored)
    threshold = suggest_threshold if multi_label else 0.0
    flagged = {}  # sample or object id -> its flagged classes (multi-label) or None
    for r, i in enumerate(kept):
        quality_values[ids[i]] = float(quality[r])
        if multi_label:
            suggestions[ids[i]] = _multilabel_suggestion(
                probs[r], classes, y[r], per_class[r] if multilabel_score == "changes"
                else None, threshold)
        else:
            suggestions[ids[i]] = _suggestion(probs[r], classes, multi_label, threshold, pf)
        if issues[r]:
            # Label tags go on the given classes flagged as wrong.
            flagged[ids[i]] = {classes[j] for j in np.flatnonzero(per_class[r] < 0)} \
                if multi_label else None
    issue_ids = sorted(flagged, key=quality_values.get)
    # An object is its own label: its id is the flagged label's id.
    flagged_label_ids = list(flagged) if pf else _flagged_label_ids(samples, label, flagged)

    # Everything is computed: write in bulk, marked "writing" until recorded, so a
    # crash or cancel leaves nothing half-written.
    with step.writing():
        _declare(samples, pf, quality_field, fof.FloatField)
        _declare_suggestions(samples, pf, suggestion_field, multi_label)
        _set_values(samples, pf, quality_field, quality_values)
        _set_values(samples, pf, suggestion_field, suggestions)
        # A re-run replaces its own tags within the processed samples (objects).
        if pf is None:
            samples.untag_samples(tag)
        samples.untag_labels(tag, label_fields=[label.root])
        if issue_ids and pf is None:
            samples.select(issue_ids).tag_samples(tag)
        if flagged_label_ids and pf:
            inputs.tag_objects(samples, pf, flagged_label_ids, tag)
        elif flagged_label_ids:
            samples.select_labels(ids=flagged_label_ids, fields=[label.root]).tag_labels(
                tag, label_fields=[label.root])
        if save_view:
            samples._root_dataset.save_view(
                saved[0], _issues_view(samples, pf, tag, quality_field),
                description="Winnow: %s whose %r label looks wrong, worst first"
                % (unit, label.root), overwrite=True)

    params = dict(label_field=None if pf else label_field,
                  patches_field=pf.name if pf else None, embeddings_field=embeddings_field,
                  classifier=classifier if isinstance(classifier, str) else repr(classifier),
                  n_estimators=int(n_estimators), max_samples=max_samples, filter_by=filter_by,
                  multilabel_score=multilabel_score, min_class_samples=min_class_samples,
                  multi_label=multi_label, seed=seed, tag=tag,
                  classifier_used=fitted["classifier"])
    counts = dict(samples=len(ids) + num_skipped, labeled=len(data["labeled"]),
                  scored=len(kept), issues=len(issue_ids),
                  skipped_classes=dict(data["skipped"]), classes=len(classes),
                  skipped=num_skipped)
    key = step.record(params, counts)
    return LabelIssuesResults(
        step=STEP, label_field=label.root, patches_field=pf.name if pf else None,
        multi_label=multi_label, classes=classes,
        num_samples=len(ids) + num_skipped, num_labeled=len(data["labeled"]),
        num_scored=len(kept), num_issues=len(issue_ids), issue_ids=issue_ids,
        skipped_classes=dict(data["skipped"]), num_skipped=num_skipped, tag=tag,
        quality_field=quality_field, suggestion_field=suggestion_field,
        saved_view=saved[0] if saved else None, run_key=key, seconds=step.seconds,
        messages=messages)


def predict_labels(samples, *, label_field=DEFAULT_LABEL_FIELD, embeddings_field="embedding",
                   patches_field=None, prediction_field="predicted_label", threshold=0.4,
                   only_missing=True, classifier="auto", n_estimators=10, max_samples=0.75,
                   min_class_samples=MIN_CLASS_SAMPLES, seed=0, overwrite=False,
                   progress=None):
    """Labels the unlabeled samples with the bagged model trained on the labeled ones.

    Single-label: the most probable class, when its probability is >= ``threshold``.
    Multi-label: every class whose probability is >= ``threshold``. Labeled
    samples (``only_missing=False``) get out-of-sample predictions. Samples
    without an embedding get none (counted in ``num_skipped``). The label
    field is never changed: predictions go to ``prediction_field`` (accept them
    with :func:`winnow.accept_suggestions`).

    Objects (``patches_field``): the objects without a ``label`` are predicted
    from the labeled ones; the prediction (a class name, or None below
    ``threshold``) is the objects' attribute ``prediction_field``, and the
    counts and fill rates are of objects.

    Args:
        samples: a dataset or view
        label_field, embeddings_field, patches_field, classifier, n_estimators,
            max_samples, min_class_samples, seed, progress: see
            :func:`find_label_issues`
        prediction_field ("predicted_label"): the field (objects: attribute) to write
        threshold (0.4): the probability a class needs, in (0, 1]
        only_missing (True): predict only the unlabeled samples
        overwrite (False): allow writing over a field this step does not own

    Returns:
        a :class:`LabelIssuesResults` with ``num_predicted``, ``fill_rate_before``
        (labeled / samples) and ``fill_rate_after`` (labeled or predicted / samples)

    Raises:
        ValueError: bad parameters, before anything is written
    """
    if patches_field is not None:
        samples = inputs.samples_of_patches(samples, patches_field)
    label, pf = _validate_common(samples, label_field, embeddings_field, classifier,
                                 n_estimators, max_samples, patches_field)
    multi_label = label.multi_label
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not 0 < threshold <= 1:
        raise ValueError("threshold must be in (0, 1]; got %r" % (threshold,))
    if prediction_field == label.root:
        raise ValueError("prediction_field must differ from label_field")
    if pf is not None and prediction_field == embeddings_field:
        raise ValueError("prediction_field must differ from embeddings_field")
    step = runs.Step(samples, PREDICT_STEP, fields=dict(prediction=prediction_field),
                     overwrite=overwrite, **_objects_kwarg(pf))

    data = _training_set(samples, label, embeddings_field, min_class_samples, seed, pf)
    ids, names, num_skipped = data["vectors"].ids, data["vectors"].labels, \
        data["vectors"].num_skipped
    classes, kept = data["classes"], data["kept"]
    messages = [_rare_message(data["skipped"], _floor(min_class_samples), _unit(pf)).replace(
        "are not checked", "are not predicted")] if data["skipped"] else []
    targets = [r for r in range(len(ids)) if names[r] is None]
    fitted = fit_out_of_sample(
        data["X"][kept], data["y"], classifier=classifier, n_estimators=n_estimators,
        max_samples=max_samples, seed=seed, multi_label=multi_label, n_classes=len(classes),
        X_extra=data["X"][targets] if targets else None, progress=progress)

    predictions = dict.fromkeys(ids)
    num_labeled = len(data["labeled"])
    if num_skipped:
        # Labeled samples without an embedding are labeled all the same (fill rate).
        skipped_ids, skipped_names = _unembedded(samples, embeddings_field, label, pf)
        predictions.update(dict.fromkeys(skipped_ids))
        num_labeled += sum(n is not None for n in skipped_names)
    for r, i in enumerate(targets):
        predictions[ids[i]] = _suggestion(fitted["extra_probs"][r], classes, multi_label,
                                          threshold, pf)
    if not only_missing:
        for r, i in enumerate(kept):
            predictions[ids[i]] = _suggestion(fitted["probs"][r], classes, multi_label,
                                              threshold, pf)

    def filled(p):
        return p is not None and (not multi_label or len(p.classifications) > 0)

    num_samples = len(ids) + num_skipped
    num_new = sum(filled(predictions[ids[i]]) for i in targets)
    with step.writing():
        _declare_suggestions(samples, pf, prediction_field, multi_label)
        _set_values(samples, pf, prediction_field, predictions)

    before = num_labeled / num_samples
    after = (num_labeled + num_new) / num_samples
    params = dict(label_field=None if pf else label_field,
                  patches_field=pf.name if pf else None, embeddings_field=embeddings_field,
                  threshold=threshold, only_missing=bool(only_missing),
                  classifier=classifier if isinstance(classifier, str) else repr(classifier),
                  n_estimators=int(n_estimators), max_samples=max_samples, seed=seed,
                  classifier_used=fitted["classifier"])
    counts = dict(samples=num_samples, labeled=num_labeled, unlabeled=num_samples - num_labeled,
                  predicted=num_new, fill_rate_before=before, fill_rate_after=after,
                  skipped=num_skipped)
    key = step.record(params, counts)
    return LabelIssuesResults(
        step=PREDICT_STEP, label_field=label.root, patches_field=pf.name if pf else None,
        multi_label=multi_label, classes=classes,
        num_samples=num_samples, num_labeled=num_labeled, num_predicted=num_new,
        num_unlabeled=num_samples - num_labeled, fill_rate_before=before,
        fill_rate_after=after, num_skipped=num_skipped, skipped_classes=dict(data["skipped"]),
        run_key=key, seconds=step.seconds, messages=messages)
