"""Label issues (bagged MLPs + cleanlab), predictions for unlabeled samples, accept/undo."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.neighbors import KNeighborsClassifier

import fiftyone as fo

import winnow
from winnow.plugin import classifiers, label_issues as li

FLIPS = {  # demo sample index -> a class far from its own
    "Trouser": "Bag", "Sneaker": "Dress", "Bag": "Trouser",
    "Ankle boot": "T-shirt/top", "Dress": "Sandal", "Pullover": "Sneaker",
}


# ------------------------------------------------------------ out of sample, arrays


class RecordingClassifier(ClassifierMixin, BaseEstimator):
    """Column 0 of X is the sample index; records what each fitted copy saw and scored."""

    log = []

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.seen_ = set(X[:, 0].astype(int).tolist())
        self.prior_ = np.bincount(np.searchsorted(self.classes_, y), minlength=len(self.classes_))
        RecordingClassifier.log.append(("fit", id(self), self.seen_))
        return self

    def predict_proba(self, X):
        RecordingClassifier.log.append(("predict", id(self), set(X[:, 0].astype(int).tolist())))
        return np.tile(self.prior_ / self.prior_.sum(), (len(X), 1))


def _recorded_fit(n, **kwargs):
    """5 recording members on n random rows: (result, {model: rows fitted}, [(model, rows
    scored)])."""
    rng = np.random.default_rng(0)
    X = np.c_[np.arange(n), rng.normal(size=(n, 3))]
    y = rng.integers(0, 4, n)
    RecordingClassifier.log = []
    out = li.fit_out_of_sample(X, y, classifier=RecordingClassifier(), n_estimators=5,
                               n_classes=4, **kwargs)
    fits = {m: seen for kind, m, seen in RecordingClassifier.log if kind == "fit"}
    predictions = [(m, s) for kind, m, s in RecordingClassifier.log if kind == "predict"]
    return out, fits, predictions


@pytest.mark.parametrize("max_samples", [0.75, 0.4, None])
def test_no_sample_is_scored_by_a_model_that_trained_on_it(max_samples):
    n = 400
    out, fits, predictions = _recorded_fit(n, max_samples=max_samples)
    assert len(fits) == 5 and len(predictions) == 5
    scored = np.zeros(n, dtype=int)
    for model, indices in predictions:
        assert not (indices & fits[model])  # never scores what it trained on
        scored[list(indices)] += 1
    assert scored.min() >= 1  # and every sample is scored
    assert (scored == out["counts"]).all()
    for member, train in enumerate(out["trained_on"]):
        assert set(train.tolist()) in fits.values()
    if max_samples == 0.4:  # smaller bags: samples are averaged over several members
        assert out["counts"].mean() > 2


def test_max_rows_caps_every_member_and_keeps_scoring_out_of_sample():
    out, fits, predictions = _recorded_fit(2000, max_samples=0.75, max_rows=300)
    for model, indices in predictions:
        assert not (indices & fits[model])
    # ~300 rows each (stratified rounding: +-1 per class), so each sample is scored
    # by most members instead of by ~1.7 of them without the cap.
    assert all(abs(len(t) - 300) <= 4 for t in out["trained_on"])
    assert out["counts"].min() >= 1 and out["counts"].mean() > 4
    uncapped, _, _ = _recorded_fit(2000, max_samples=0.75, max_rows=None)
    assert all(len(t) > 1400 for t in uncapped["trained_on"])


@pytest.mark.parametrize("multi_label", [False, True])
def test_a_memorising_classifier_learns_nothing_out_of_sample(multi_label):
    # 1-NN reproduces every training label exactly; on random labels it can only
    # beat chance if a sample's own label leaks into its probabilities.
    rng = np.random.default_rng(1)
    n, k = 600, 5
    X = rng.normal(size=(n, 16))
    if multi_label:
        y = (rng.random((n, k)) < 0.5).astype(int)
    else:
        y = rng.integers(0, k, n)
    knn = KNeighborsClassifier(n_neighbors=1)
    probs = li.out_of_sample_probs(X, y, classifier=knn, multi_label=multi_label, n_classes=k)
    if multi_label:
        agreement = ((probs > 0.5) == y).mean()
        assert agreement < 0.6
    else:
        agreement = (probs.argmax(1) == y).mean()
        assert agreement < 0.3
    # The same classifier scored in sample memorises everything.
    assert (knn.fit(X, y).predict(X) == y).all()


def test_cross_fitted_mixture_never_weighs_a_fold_with_its_own_labels():
    # Fold j's probabilities must not move when only fold j's labels change: its
    # weights come from the other folds alone. The other folds' weights do move.
    rng = np.random.default_rng(3)
    m, n, k = 3, 300, 4
    probs = rng.dirichlet(np.ones(k), size=(m, n))
    y = rng.integers(0, k, n)
    folds = np.arange(n) % 5
    mixed, weights = classifiers.cross_fitted_mixture(probs, y, folds)
    changed = y.copy()
    changed[folds == 0] = probs[0, folds == 0].argmax(1)  # favours candidate 0 there
    mixed2, weights2 = classifiers.cross_fitted_mixture(probs, changed, folds)
    assert np.allclose(weights2[0], weights[0]) and np.allclose(mixed2[folds == 0],
                                                                 mixed[folds == 0])
    assert not np.allclose(weights2[1:], weights[1:])
    assert np.allclose(mixed.sum(1), 1) and np.allclose(weights.sum(1), 1)


@pytest.mark.parametrize("multi_label", [False, True])
def test_auto_gives_a_memorising_candidate_no_weight(multi_label):
    # 1-NN reproduces every training label: weighed by how well it fits the rows it
    # trained on it would win; weighed out of sample (hard, wrong guesses) it loses.
    rng = np.random.default_rng(1)
    n, k = 400, 4
    centers = rng.normal(size=(k, 16))
    true = rng.integers(0, k, n)
    X = centers[true] + rng.normal(size=(n, 16))
    # A third of the labels random: hard 1-NN guesses are often wrong out of sample.
    noisy = np.where(rng.random(n) < 0.33, rng.integers(0, k, n), true)
    y = np.eye(k, dtype=int)[noisy] if multi_label else noisy
    knn = KNeighborsClassifier(n_neighbors=1)
    out = classifiers.fit_auto(li.fit_out_of_sample, X, y, n_estimators=5,
                               multi_label=multi_label, n_classes=k,
                               names=[knn, "logistic:C=0.1"])
    used = out["classifier"]
    assert used["name"] == "auto" and used["main"] == "logistic:C=0.1"
    assert used["weights"][repr(knn)] < 0.2
    # The same weights fitted on in-sample probabilities would pick the memoriser.
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    lr = LogisticRegression(C=0.1, max_iter=500)
    lr = OneVsRestClassifier(lr) if multi_label else lr
    in_sample = [li._predict(m.fit(X, y), X, k, multi_label) for m in (knn, lr)]
    leaky = classifiers.mixture_weights(classifiers.label_likelihoods(in_sample, y,
                                                                      multi_label))
    assert leaky[0] > 0.9
    # No sample is scored with its own label near-certain, as a model that saw it would.
    own = out["probs"] if multi_label else out["probs"][np.arange(n), y]
    assert own.max() < 0.99


def test_auto_below_small_rows_is_the_equal_mean_of_out_of_sample_candidates():
    # A few hundred single labels: the strongly regularised candidates, each out of
    # sample on the same folds, averaged with equal weights (nothing fitted on labels).
    rng = np.random.default_rng(5)
    n, k = 300, 4
    centers = rng.normal(size=(k, 16))
    y = rng.integers(0, k, n)
    X = centers[y] + rng.normal(size=(n, 16))
    out = classifiers.fit_auto(li.fit_out_of_sample, X, y, n_classes=k)
    used = out["classifier"]
    assert used["candidates"] == list(classifiers.SMALL_CANDIDATES)
    assert used["combine"] == "mean" and used["main"] is None
    assert set(used["weights"].values()) == {round(1 / len(used["candidates"]), 3)}
    assert np.allclose(out["probs"], np.mean(list(out["candidate_probs"].values()), axis=0))
    # Every member of every candidate left out one whole fold of the shared folds.
    folds = out["folds"]
    assert len(out["trained_on"]) == 10 * len(used["candidates"])
    for train in out["trained_on"]:
        assert any(not np.isin(np.flatnonzero(folds == j), train).any()
                   for j in np.unique(folds))
    # Multi-label (not designed for the mean) and named candidates keep the mixture.
    Y = np.eye(k, dtype=int)[y]
    assert classifiers.fit_auto(li.fit_out_of_sample, X, Y, multi_label=True,
                                n_classes=k)["classifier"]["combine"] == "mixture"
    assert classifiers.fit_auto(li.fit_out_of_sample, X, y, n_classes=k,
                                names=["logistic:C=0.01", "logistic:C=0.1"]
                                )["classifier"]["combine"] == "mixture"
    with pytest.raises(ValueError, match="combine"):
        classifiers.fit_auto(li.fit_out_of_sample, X, y, n_classes=k, combine="stack")


def test_per_class_calibration_of_a_row_never_uses_its_own_label():
    rng = np.random.default_rng(4)
    probs = rng.uniform(0.05, 0.95, (300, 5))
    Y = (rng.random((300, 5)) < probs ** 2).astype(int)  # over-confident probabilities
    cal = li.calibrate_per_class(probs, Y, seed=1)
    folds = np.random.default_rng(1).permutation(300) % 10  # the function's folds for seed 1
    flipped = Y.copy()
    flipped[folds == 3] = 1 - flipped[folds == 3]
    again = li.calibrate_per_class(probs, flipped, seed=1)
    assert np.allclose(again[folds == 3], cal[folds == 3])  # its own labels changed nothing
    assert not np.allclose(again[folds != 3], cal[folds != 3])  # the others' did
    # Calibrated: a lower log loss than the raw probabilities (held out, fold by fold).
    def loss(p):
        return -np.mean(np.where(Y == 1, np.log(p), np.log(1 - p)))
    assert loss(cal) < loss(probs) - 0.01


def test_multilabel_changes_learns_the_swap_rate_and_names_the_classes():
    # 2 000 sets of 10 classes; the probabilities see the true sets (with noise);
    # 10 % of the given sets have one class swapped for an absent one.
    rng = np.random.default_rng(5)
    n, k = 2000, 10
    true = (rng.random((n, k)) < 0.3).astype(int)
    true[true.sum(1) == 0, 0] = 1
    logits = np.where(true == 1, 2.5, -2.5) + rng.normal(0, 1.2, (n, k))
    probs = 1 / (1 + np.exp(-logits))
    given = true.copy()
    swapped = rng.choice(n, 200, replace=False)
    removed, added = {}, {}
    for r in swapped:
        removed[r] = rng.choice(np.flatnonzero(given[r] == 1))
        added[r] = rng.choice(np.flatnonzero(given[r] == 0))
        given[r, removed[r]], given[r, added[r]] = 0, 1
    # These probabilities are under-confident (the logits' classes are further apart
    # than sigmoid says): calibrated per class first, as find_issues does.
    wrong, rates, change = li.multilabel_changes(given, li.calibrate_per_class(probs, given))
    assert rates[3] == pytest.approx(0.1, abs=0.035)  # swapped
    assert rates[1] < 0.02 and rates[2] < 0.02  # no extra / missing classes planted
    top = np.argsort(-wrong)[:200]
    assert len(set(top) & set(swapped)) > 150
    named = [change[r, added[r]] == -1 and change[r, removed[r]] == 1 for r in swapped]
    assert np.mean(named) > 0.8  # remove the wrongly added class, add the removed one back
    issues, quality, per_class = li.find_issues(given, probs, multi_label=True)
    assert abs(int(issues.sum()) - 200) < 60 and np.allclose(quality, 1 - wrong)
    assert issues[swapped].sum() >= 0.9 * issues.sum()
    assert (per_class[~issues] == 0).all() and (np.abs(per_class[issues]).sum(1) > 0).all()


def test_bagged_mlp_probabilities_are_sane_on_separable_data():
    rng = np.random.default_rng(2)
    centers = rng.normal(size=(3, 32)) * 4
    y = np.repeat(np.arange(3), 60)
    X = centers[y] + rng.normal(size=(180, 32))
    probs = li.out_of_sample_probs(X, y)
    assert probs.shape == (180, 3)
    assert np.allclose(probs.sum(1), 1)
    assert (probs.argmax(1) == y).mean() > 0.95


def test_a_class_of_12_among_1000_real_images_is_not_flooded_with_flags():
    # Real images: the demo's 270 Fashion-MNIST items of 9 classes, each also
    # mirrored and shifted (1 080 rows), and 12 distinct bags, embedded by the default
    # model (32 px: fast, still real features). 5 % of the other labels flipped, none
    # into bags: the small class should get about its share of the flags, not many.
    import csv
    import os

    from PIL import Image

    from winnow.plugin.embeddings import embed_arrays

    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "data", "demo")
    rows = [r for r in csv.DictReader(open(os.path.join(root, "samples.csv")))
            if r["source"] == "fashion-mnist"]
    images = np.stack([np.asarray(Image.open(os.path.join(root, r["filepath"])).convert("L"))
                       for r in rows])
    names = np.array([r["ground_truth"] for r in rows])
    big, small = names != "Bag", np.flatnonzero(names == "Bag")[:12]
    variants = [images[big], images[big][:, :, ::-1], np.roll(images[big], 2, axis=2),
                np.roll(images[big], -2, axis=1)]
    X = embed_arrays(np.ascontiguousarray(np.concatenate(variants + [images[small]])),
                     size=32)
    classes, y = np.unique(np.concatenate([names[big]] * 4 + [names[small]]),
                           return_inverse=True)
    bag = list(classes).index("Bag")
    assert len(y) == 1092 and (y == bag).sum() == 12

    rng = np.random.default_rng(0)
    noisy = y.copy()
    flips = rng.choice(np.flatnonzero(y != bag), int(0.05 * len(y)), replace=False)
    for i in flips:
        noisy[i] = rng.choice([c for c in range(len(classes)) if c not in (bag, y[i])])
    issues, _, _ = li.find_issues(noisy, li.out_of_sample_probs(X, noisy))
    assert issues[flips].mean() > 0.7  # the flips are found
    # Its share of all flags (12/1 092 of them, ~1) plus binomial slack (2), not more.
    share = issues.sum() * 12 / len(y)
    assert issues[noisy == bag].sum() <= share + 2


# ---------------------------------------------------------------- demo dataset


@pytest.fixture
def demo(demo_embedded):
    ds = demo_embedded.clone()
    yield ds
    if fo.dataset_exists(ds.name):
        fo.delete_dataset(ds.name)


def _flip(ds):
    """Flips one label of each class in FLIPS; returns {sample id: original class}."""
    flipped = {}
    for original, wrong in FLIPS.items():
        sample = ds.match(fo.ViewField("ground_truth.label") == original).first()
        flipped[sample.id] = original
        sample.ground_truth.label = wrong
        sample.save()
    return flipped


def test_flipped_demo_labels_rank_at_the_top_and_labels_are_untouched(demo):
    flipped = _flip(demo)
    before = demo.values("ground_truth.label")
    results = winnow.find_label_issues(demo, progress=False)

    assert demo.values("ground_truth.label") == before  # the user's labels never change
    assert results.num_labeled == 300 and results.num_scored == 300
    # The demo set has real look-alikes (shirt/T-shirt/pullover...) that compete with
    # the flips: most flips are the very worst labels, and every flip is in the worst
    # 10 % of the 300 (10 members trained on 225 images each: some seed noise).
    labeled = demo.exists("ground_truth").sort_by("label_quality")
    worst = labeled.values("id")
    assert len(set(flipped) & set(worst[:len(flipped)])) >= len(flipped) - 2
    assert set(flipped) <= set(worst[:30])
    assert len(set(flipped) & set(results.issue_ids)) >= len(flipped) - 1
    q = dict(zip(*labeled.values(["id", "label_quality"])))
    # Well apart in score too (the strongly regularised small-set default gives
    # smoother probabilities, so less extreme scores: a factor ~8 here, not ~50).
    assert max(q[i] for i in flipped) < np.median(list(q.values())) / 5

    # Sample tags, label tags, suggestions pointing back to the true class.
    tagged = set(demo.match_tags("label_issue").values("id"))
    assert tagged == set(results.issue_ids)
    label_tagged = demo.select_labels(tags="label_issue", fields="ground_truth")
    assert set(label_tagged.values("id")) == set(results.issue_ids)
    assert label_tagged.count("ground_truth") == results.num_issues
    suggested = dict(zip(*demo.select(list(flipped)).values(["id", "suggested_label.label"])))
    assert sum(suggested[i] == c for i, c in flipped.items()) >= len(flipped) - 1
    assert all(0 < c <= 1 for c in demo.exists("suggested_label").values(
        "suggested_label.confidence"))

    # The unlabeled photos are never scored nor flagged.
    photos = demo.match_tags("photo")
    assert len(photos) == 6
    assert photos.values("label_quality") == [None] * 6
    assert photos.values("suggested_label") == [None] * 6
    assert len(photos.match_tags("label_issue")) == 0

    # The saved view: the issues, worst first.
    view = demo.load_saved_view(results.saved_view)
    q = view.values("label_quality")
    assert len(view) == results.num_issues and q == sorted(q)

    run = winnow.get_run(demo, results.run_key)
    assert run["counts"]["issues"] == results.num_issues
    # The record says which classifier ran and why; the panel's run row shows it first.
    used = run["params"]["classifier_used"]
    assert run["params"]["classifier"] == used["name"] == "auto"
    assert set(used["weights"]) == set(used["candidates"]) and len(used["candidates"]) > 1
    assert abs(sum(used["weights"].values()) - 1) < 0.01
    # A few hundred labels: the equal mean of the strongly regularised candidates.
    n_labeled = run["counts"]["scored"]
    assert n_labeled < classifiers.SMALL_ROWS
    assert used["combine"] == "mean" and used["main"] is None
    assert used["candidates"] == list(classifiers.SMALL_CANDIDATES)
    assert len(set(used["weights"].values())) == 1 and "equal-weight mean" in used["why"]
    from winnow.panels.winnow_panel import _run_row

    assert _run_row(run)["params"].startswith("classifier auto (mean of %d); "
                                              % len(used["candidates"]))
    assert "label_issues" in repr(results).lower() or "flagged" in repr(results)


def test_rerun_replaces_its_results_and_delete_run_removes_everything(demo):
    _flip(demo)
    first = winnow.find_label_issues(demo, progress=False)
    second = winnow.find_label_issues(demo, classifier="logistic", progress=False)
    assert set(demo.match_tags("label_issue").values("id")) == set(second.issue_ids)
    assert first.run_key == second.run_key

    winnow.delete_run(demo, second.run_key)
    schema = demo.get_field_schema()
    assert "label_quality" not in schema and "suggested_label" not in schema
    assert len(demo.match_tags("label_issue")) == 0
    assert "label_issue" not in demo.count_label_tags()
    assert not demo.has_saved_view(second.saved_view)
    assert len(demo.exists("ground_truth")) == 300  # the user's labels stay


def test_unlabeled_samples_are_only_predicted_and_fill_rate_is_reported(demo):
    results = winnow.predict_labels(demo, threshold=0.4, progress=False)
    assert results.fill_rate_before == pytest.approx(300 / 306)
    assert results.fill_rate_after == pytest.approx((300 + results.num_predicted) / 306)
    assert demo.exists("ground_truth").values("predicted_label") == [None] * 300
    photos = demo.match_tags("photo")
    predicted = [p for p in photos.values("predicted_label") if p is not None]
    assert len(predicted) == results.num_predicted
    assert all(p.confidence >= 0.4 for p in predicted)
    assert photos.values("ground_truth") == [None] * 6
    assert "fill rate" in repr(results)

    # only_missing=False: labeled samples get out-of-sample predictions, which agree
    # with the (clean) labels almost always.
    winnow.predict_labels(demo, prediction_field="oos_label", only_missing=False,
                          threshold=0.01, progress=False)
    labels, preds = demo.exists("ground_truth").values(["ground_truth.label", "oos_label.label"])
    assert np.mean([a == b for a, b in zip(labels, preds)]) > 0.75


def _multilabel(ds, flips=0):
    """fo.Classifications: each item's class + its garment group; some classes flipped."""
    groups = {"T-shirt/top": "top", "Shirt": "top", "Pullover": "top", "Coat": "top",
              "Dress": "top", "Trouser": "bottom", "Sandal": "shoe", "Sneaker": "shoe",
              "Ankle boot": "shoe", "Bag": "accessory"}
    ids, names = ds.values(["id", "ground_truth.label"])
    rng = np.random.default_rng(3)
    wrong_at = set(rng.choice([i for i, n in enumerate(names) if n], flips, replace=False))
    values, flipped = {}, {}
    for r, (i, n) in enumerate(zip(ids, names)):
        if n is None:
            values[i] = None
            continue
        cls = n
        if r in wrong_at:
            cls = "Bag" if groups[n] != "accessory" else "Trouser"
            flipped[i] = n
        values[i] = fo.Classifications(classifications=[
            fo.Classification(label=cls), fo.Classification(label=groups[n])])
    ds.add_sample_field("tags_ml", fo.EmbeddedDocumentField, embedded_doc_type=fo.Classifications)
    ds.set_values("tags_ml", values, key_field="id")
    return flipped


def test_multilabel_field_end_to_end(demo):
    flipped = _multilabel(demo, flips=6)
    results = winnow.find_label_issues(demo, label_field="tags_ml", quality_field="ml_quality",
                                       suggestion_field="ml_suggested", tag="ml_issue",
                                       progress=False)
    assert results.multi_label and results.num_scored == 300
    assert len(set(flipped) & set(results.issue_ids)) >= len(flipped) - 1
    worst = demo.exists("tags_ml").sort_by("ml_quality").limit(15).values("id")
    assert len(set(flipped) & set(worst)) >= len(flipped) - 1
    # Per-class label tags: the wrongly added class, not the correct group label.
    found = set(flipped) & set(results.issue_ids)
    for sid in found:
        tagged = [c.label for c in demo[sid].tags_ml.classifications if "ml_issue" in c.tags]
        assert tagged and all(t in ("Bag", "Trouser") for t in tagged), tagged
    # Not flooded: cleanlab's per-class filters flagged a sample whenever any class did.
    assert results.num_issues <= 3 * len(flipped)
    # The suggestion says which class to add back and which to remove.
    for sid in found:
        s = demo[sid].ml_suggested
        assert isinstance(s, fo.Classifications)
        assert flipped[sid] in [c.label for c in s.classifications] and s.add == [flipped[sid]], \
            (flipped[sid], s.add, s.remove)
        assert len(s.remove) == 1 and s.remove[0] in ("Bag", "Trouser"), s.remove
    kept = demo.exists("tags_ml").match_tags("ml_issue", bool=False).first()
    assert kept.ml_suggested.add == [] and kept.ml_suggested.remove == []
    assert sorted(c.label for c in kept.ml_suggested.classifications) == \
        sorted(c.label for c in kept.tags_ml.classifications)
    photos = demo.match_tags("photo")
    assert len(photos.match_tags("ml_issue")) == 0 and photos.values("ml_quality") == [None] * 6

    # Miribel's MSE ranking as the alternative score.
    mse = winnow.find_label_issues(demo, label_field="tags_ml", quality_field="ml_mse",
                                   suggestion_field="ml_mse_suggested", tag="ml_mse_issue",
                                   multilabel_score="mse", progress=False)
    worst = demo.exists("tags_ml").sort_by("ml_mse").limit(15).values("id")
    assert len(set(flipped) & set(worst)) >= len(flipped) - 1
    assert mse.num_issues > 0

    # Predicting the unlabeled photos fills them with Classifications.
    pred = winnow.predict_labels(demo, label_field="tags_ml", prediction_field="ml_pred",
                                 threshold=0.4, progress=False)
    assert pred.fill_rate_before == pytest.approx(300 / 306)
    values = photos.values("ml_pred")
    assert all(isinstance(v, fo.Classifications) for v in values)
    assert sum(len(v.classifications) > 0 for v in values) == pred.num_predicted


def test_accept_and_undo_round_trip(demo):
    flipped = _flip(demo)
    results = winnow.find_label_issues(demo, progress=False)
    original = dict(zip(*demo.values(["id", "ground_truth"])))
    issues = demo.match_tags("label_issue")
    n = winnow.accept_suggestions(issues)
    assert n == results.num_issues
    after = dict(zip(*demo.values(["id", "ground_truth.label"])))
    suggested = dict(zip(*demo.values(["id", "suggested_label.label"])))
    for sid in original:
        if sid in results.issue_ids:
            assert after[sid] == suggested[sid]
        else:
            assert after[sid] == (original[sid].label if original[sid] else None)
    assert sum(after[i] == c for i, c in flipped.items()) >= len(flipped) - 2
    assert len(demo.match_tags("suggestion_accepted")) == n
    # Accepting twice keeps the user's original label in the history.
    winnow.accept_suggestions(issues.limit(2))
    history = dict(zip(*demo.exists("ground_truth_history").values(
        ["id", "ground_truth_history.label"])))
    assert history == {i: original[i].label for i in results.issue_ids}

    # Predictions for unlabeled photos can be accepted too, and undone to "no label".
    winnow.predict_labels(demo, threshold=0.01, progress=False)
    photos = demo.match_tags("photo")
    assert winnow.accept_suggestions(photos, suggestion_field="predicted_label") == 6
    assert None not in photos.values("ground_truth")

    assert winnow.undo_suggestions(demo) == n + 6
    restored = dict(zip(*demo.values(["id", "ground_truth"])))
    for sid, label in original.items():
        assert (restored[sid] is None) == (label is None)
        if label is not None:
            assert restored[sid].label == label.label and restored[sid].id == label.id
    assert len(demo.match_tags("suggestion_accepted")) == 0
    assert demo.exists("ground_truth_history").values("id") == []


def _snapshot(ds):
    return (sorted(ds.get_field_schema()), ds.list_runs(), ds.count_sample_tags(),
            ds.count_label_tags(), ds.list_saved_views(), ds.values("ground_truth.label"))


@pytest.mark.parametrize("kwargs, match", [
    (dict(label_field="nope"), "No field"),
    (dict(label_field="source"), "fo.Classification"),
    (dict(embeddings_field="nope"), "compute_embeddings"),
    (dict(classifier="svm"), "classifier"),
    (dict(classifier=object()), "predict_proba"),
    (dict(n_estimators=1), "n_estimators"),
    (dict(max_samples=0), "max_samples"),
    (dict(max_samples=1.5), "max_samples"),
    (dict(filter_by="bogus"), "filter_by"),
    (dict(multilabel_score="mae"), "multilabel_score"),
    (dict(quality_field="filepath"), "reserved"),
    (dict(suggestion_field="source"), "already exists"),
    (dict(suggestion_field="ground_truth"), "differ"),
    (dict(tag="photo"), "Tag 'photo'"),
])
def test_bad_parameters_raise_before_anything_is_written(demo, kwargs, match):
    before = _snapshot(demo)
    with pytest.raises(ValueError, match=match):
        winnow.find_label_issues(demo, progress=False, **kwargs)
    assert _snapshot(demo) == before


@pytest.mark.parametrize("kwargs, match", [
    (dict(threshold=0), "threshold"),
    (dict(threshold=1.5), "threshold"),
    (dict(prediction_field="ground_truth"), "differ"),
    (dict(prediction_field="source"), "already exists"),
    (dict(n_estimators=0), "n_estimators"),
])
def test_predict_labels_bad_parameters(demo, kwargs, match):
    before = _snapshot(demo)
    with pytest.raises(ValueError, match=match):
        winnow.predict_labels(demo, progress=False, **kwargs)
    assert _snapshot(demo) == before


def test_accept_bad_parameters(demo):
    before = _snapshot(demo)
    with pytest.raises(ValueError, match="No suggestion field"):
        winnow.accept_suggestions(demo, suggestion_field="nope")
    with pytest.raises(ValueError, match="differ"):
        winnow.accept_suggestions(demo, suggestion_field="ground_truth")
    with pytest.raises(ValueError, match="No history field"):
        winnow.undo_suggestions(demo)
    assert _snapshot(demo) == before


def test_rare_classes_get_a_message_and_are_not_checked(demo):
    rare = demo.match(fo.ViewField("ground_truth.label") == "Bag").limit(3)
    rare_ids = rare.values("id")
    rare.set_field("ground_truth.label", "Umbrella").save()
    results = winnow.find_label_issues(demo, progress=False)
    assert results.skipped_classes == {"Umbrella": 3}
    assert "Umbrella (3)" in repr(results) and "fewer than 5" in repr(results)
    assert results.num_scored == 297
    assert demo.select(rare_ids).values("label_quality") == [None] * 3
    assert len(demo.select(rare_ids).match_tags("label_issue")) == 0

    # Fewer than two usable classes: a clear error, nothing written.
    small = demo.match(fo.ViewField("ground_truth.label").is_in(["Bag", "Umbrella"]))
    before = _snapshot(demo)
    with pytest.raises(ValueError, match="at least 2 classes"):
        winnow.find_label_issues(small, quality_field="q2", suggestion_field="s2", tag="t2",
                                 progress=False)
    assert _snapshot(demo) == before
