"""The torch MLP behind the bagged ensemble: scikit-learn interface, seeded, multi-label."""

import numpy as np
import pytest
from sklearn.base import clone

from winnow.plugin.mlp import TorchMLPClassifier


def _blobs(n=600, k=3, d=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 3
    y = rng.integers(0, k, n)
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y


def test_learns_and_is_deterministic_for_a_seed():
    X, y = _blobs()
    labels = np.array(["a", "b", "c"])[y]  # any label values, like scikit-learn
    a = TorchMLPClassifier(random_state=3).fit(X[:400], labels[:400])
    b = clone(a).fit(X[:400], labels[:400])
    pa, pb = a.predict_proba(X[400:]), b.predict_proba(X[400:])
    assert pa.shape == (200, 3) and np.allclose(pa.sum(1), 1)
    assert np.array_equal(pa, pb)
    assert (a.predict(X[400:]) == labels[400:]).mean() > 0.95
    c = TorchMLPClassifier(random_state=4).fit(X[:400], labels[:400])
    assert not np.array_equal(pa, c.predict_proba(X[400:]))


def test_early_stopping_from_2000_rows_keeps_thread_count():
    import torch

    X, y = _blobs(n=3000)
    before = torch.get_num_threads()
    m = TorchMLPClassifier(max_iter=200).fit(X, y)
    assert torch.get_num_threads() == before
    assert m.n_iter_ < 200  # separable blobs: validation accuracy stalls early
    assert (m.predict(X) == y).mean() > 0.95


def test_multi_label_indicator_gives_per_class_probabilities():
    X, y = _blobs(n=800, k=4)
    Y = np.zeros((len(y), 4), dtype=np.int64)
    Y[np.arange(len(y)), y] = 1
    Y[np.arange(len(y)), (y + 1) % 4] = 1  # two labels per sample
    m = TorchMLPClassifier().fit(X[:600], Y[:600])
    p = m.predict_proba(X[600:])
    assert p.shape == (200, 4) and list(m.classes_) == [0, 1, 2, 3]
    assert ((p > 0.5) == Y[600:].astype(bool)).mean() > 0.95


def test_unfitted_and_bad_shapes_raise():
    with pytest.raises(ValueError, match="not fitted"):
        TorchMLPClassifier().predict_proba(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="N rows"):
        TorchMLPClassifier().fit(np.zeros((4, 3)), np.zeros(5))
