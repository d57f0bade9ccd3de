"""winnow.fine_tune on the shipped demo images (real Fashion-MNIST PNGs, real weights,
real MongoDB): tiny runs at 32 px, one epoch, a few dozen images."""

import os

import numpy as np
import pytest
import torch

import fiftyone as fo

import winnow
from winnow.plugin import fine_tune as ft
from winnow.plugin import models

from conftest import unique_name

SIZE = 32
FAST = dict(epochs=1, image_size=SIZE, num_workers=0, progress=False, batch_size=16)


@pytest.fixture(scope="module")
def demo():
    """40 demo Fashion-MNIST images of 4 classes (10 each) with ``ground_truth``."""
    from winnow.demo import load_demo_dataset

    ds = load_demo_dataset(unique_name("winnow-test-ft"), persistent=False)
    keep = []
    for c in ("Trouser", "Bag", "Sneaker", "Dress"):
        keep += ds.match(fo.ViewField("ground_truth.label") == c).limit(10).values("id")
    ds.delete_samples(ds.exclude(keep))  # only these 40 (the unlabeled photos go too)
    yield ds
    if fo.dataset_exists(ds.name):
        fo.delete_dataset(ds.name)


def _embed(samples, field, **kwargs):
    winnow.compute_embeddings(samples, embeddings_field=field, num_workers=0, progress=False,
                              transforms=models.ImagePreprocess(SIZE), overwrite=True,
                              **kwargs)
    return np.stack(samples.values(field))


def test_tiny_run_weights_reload_change_embeddings_and_run_is_recorded(demo, tmp_path):
    path = str(tmp_path / "ft.pt")
    results = winnow.fine_tune(demo, "ground_truth", output_path=path, **FAST)

    assert results.weights_path == path and os.path.isfile(path)
    assert results.classes == ["Bag", "Dress", "Sneaker", "Trouser"]
    assert results.num_trained == 40 and results.best_epochs == [1]
    saved = torch.load(path, map_location="cpu", weights_only=True)
    assert saved["head"]["weight"].shape == (4, 1280) and saved["classes"] == results.classes

    # weights_path= loads it (weights_only=True inside); only the trained units changed:
    # a frozen early block gives the pretrained vectors, the pooled features do not.
    before, after = _embed(demo, "pre"), _embed(demo, "post", weights_path=path)
    assert np.abs(after - before).max() > 1e-2
    cos = (after * before).sum(1) / np.linalg.norm(after, axis=1) / np.linalg.norm(before, axis=1)
    assert cos.mean() < 0.999
    early_pre = _embed(demo, "early_pre", layer="_blocks.5")
    early_post = _embed(demo, "early_post", layer="_blocks.5", weights_path=path)
    np.testing.assert_allclose(early_post, early_pre, rtol=1e-5, atol=1e-5)

    # The new head, with the dataset's classes, through load_fine_tuned.
    loaded = ft.load_fine_tuned(path, device="cpu")
    assert loaded.classes == results.classes and loaded.transforms.size == SIZE

    run = winnow.get_run(demo, results.run_key)
    assert run["method"] == "fine_tune" and run["status"] == "complete"
    assert run["params"]["weights_paths"] == [path] and run["params"]["image_size"] == SIZE
    assert run["params"]["train_layers"] == ft.DEFAULT_TRAIN_LAYERS
    assert run["counts"]["trained"] == 40 and run["fields"] == []


def test_cancel_leaves_previous_weights_intact_and_resume_continues(demo, tmp_path):
    path = str(tmp_path / "ft.pt")
    winnow.fine_tune(demo, "ground_truth", output_path=path, **FAST)
    with open(path, "rb") as f:
        previous = f.read()
    runs_before = winnow.list_runs(demo)

    class Cancel(Exception):
        pass

    def cancel_in_second_epoch(pb):
        if pb.progress > 0.4:  # in epoch 2 of 2: epoch 1 is done and checkpointed
            raise Cancel()

    options = dict(FAST, epochs=2, embeddings_field="ft_cancel", val_fraction=0.0)
    with pytest.raises(Cancel):
        winnow.fine_tune(demo, "ground_truth", output_path=path, progress=cancel_in_second_epoch,
                         **{k: v for k, v in options.items() if k != "progress"})
    with open(path, "rb") as f:
        assert f.read() == previous
    assert "ft_cancel" not in demo.get_field_schema()
    assert winnow.list_runs(demo) == runs_before

    def cancel_at_the_end(pb):
        seen.append(pb.progress)
        if pb.progress >= 1.0:  # training done, every image embedded, nothing written yet
            raise Cancel()

    # Resumed: epoch 1 is not trained again (the first progress is past it); cancelled
    # again after the embedding pass, the previous file is still intact.
    seen = []
    with pytest.raises(Cancel):
        winnow.fine_tune(demo, "ground_truth", output_path=path, progress=cancel_at_the_end,
                         **{k: v for k, v in options.items() if k != "progress"})
    assert seen[0] >= 40 / 120  # 2 epochs x 40 images + 40 to embed
    with open(path, "rb") as f:
        assert f.read() == previous
    assert "ft_cancel" not in demo.get_field_schema()

    seen = []
    resumed = winnow.fine_tune(demo, "ground_truth", output_path=path,
                               progress=lambda pb: seen.append(pb.progress),
                               **{k: v for k, v in options.items() if k != "progress"})
    assert seen[0] >= 80 / 120 and seen[-1] == pytest.approx(1.0)  # only the embedding ran
    assert resumed.best_epochs == [2]  # no held-out share: the last epoch
    assert [h["epoch"] for h in resumed.history[0]] == [1, 2]
    with open(path, "rb") as f:
        assert f.read() != previous
    assert not os.path.exists(path + ".partial")
    assert len(demo.exists("ft_cancel")) == 40


def test_bad_input_is_one_clear_value_error_and_writes_nothing(demo, tmp_path):
    path = str(tmp_path / "ft.pt")
    schema = set(demo.get_field_schema())
    with pytest.raises(ValueError, match="No field 'nope'"):
        winnow.fine_tune(demo, "nope", output_path=path, **FAST)
    one_class = demo.match(fo.ViewField("ground_truth.label") == "Bag")
    with pytest.raises(ValueError, match="at least 2 classes"):
        winnow.fine_tune(one_class, "ground_truth", output_path=path, **FAST)
    unlabeled = demo.clone()
    try:
        unlabeled.set_values("ground_truth", [None] * len(unlabeled))
        with pytest.raises(ValueError, match="at least 2 classes.*0 labeled"):
            winnow.fine_tune(unlabeled, "ground_truth", output_path=path, **FAST)
    finally:
        unlabeled.delete()
    with pytest.raises(ValueError, match="train_layers"):
        winnow.fine_tune(demo, "ground_truth", output_path=path, train_layers=0,
                         **FAST)
    with pytest.raises(ValueError, match="epochs"):
        winnow.fine_tune(demo, "ground_truth", output_path=path, **dict(FAST, epochs=0))
    # A file fine_tune did not write is never replaced unless asked.
    mine = tmp_path / "mine.pt"
    mine.write_bytes(b"user data")
    with pytest.raises(ValueError, match="not written by winnow.fine_tune"):
        winnow.fine_tune(demo, "ground_truth", output_path=str(mine), **FAST)
    assert mine.read_bytes() == b"user data"
    # A field the user wrote is refused as every step refuses it.
    demo.set_values("user_vec", [np.zeros(3)] * len(demo))
    try:
        with pytest.raises(ValueError, match="user_vec"):
            winnow.fine_tune(demo, "ground_truth", output_path=path, embeddings_field="user_vec",
                             **FAST)
        assert np.allclose(np.stack(demo.values("user_vec")), 0)
    finally:
        demo.delete_sample_field("user_vec")
    assert not os.path.exists(path) and set(demo.get_field_schema()) == schema


def test_folds_embed_each_sample_with_the_model_that_never_saw_it(demo, tmp_path):
    path = str(tmp_path / "cv.pt")
    results = winnow.fine_tune(demo, "ground_truth", output_path=path, folds=2,
                               embeddings_field="cv", predictions_field="cv_pred", **FAST)
    assert results.weights_paths == [ft.fold_path(path, 0), ft.fold_path(path, 1)]
    assert results.fold_field == "cv_fold"
    ids, folds = demo.values(["id", "cv_fold"])
    assert sorted(set(folds)) == [0, 1]
    vectors = np.stack(demo.values("cv"))
    for f, weights in enumerate(results.weights_paths):
        meta = torch.load(weights, map_location="cpu", weights_only=True)["winnow"]
        seen = set(meta["trained_on"]) | set(meta["validated_on"])
        mine = [i for i, k in zip(ids, folds) if k == f]
        assert mine and not seen & set(mine)  # the model never saw what it embedded
        assert seen == set(ids) - set(mine)  # and saw every other labeled sample
        # Each written vector is that model's: recomputed through weights_path=.
        rows = [k == f for k in folds]
        view = demo.select(mine, ordered=True)
        again = _embed(view, "cv_check_%d" % f, weights_path=weights)
        np.testing.assert_allclose(vectors[rows], again, rtol=1e-4, atol=1e-4)
    preds = demo.values("cv_pred")
    assert all(p.label in results.classes and len(p.logits) == 4 for p in preds)
    run = winnow.get_run(demo, results.run_key)
    assert set(run["fields"]) == {"cv", "cv_fold", "cv_pred"}
    assert run["params"]["out_of_sample"] is True
    winnow.delete_run(demo, results.run_key)
    assert not {"cv", "cv_fold", "cv_pred"} & set(demo.get_field_schema())


def test_operator_form_is_delegated_by_default_and_runs(demo, tmp_path):
    import fiftyone.operators as foo
    from fiftyone.operators.executor import ExecutionContext, Executor

    uri = "@winnow/curation/fine_tune"
    op = foo.get_operator(uri)
    assert op.config.default_choice_to_delegated and op.config.allow_delegated_execution

    def context(params):
        return ExecutionContext(request_params=dict(dataset_name=demo.name, params=params),
                                executor=Executor(), operator_uri=uri)

    form = op.resolve_type(context(dict(train_layers="zero")), "inputs").type.properties
    assert {"label_field", "model", "epochs", "train_layers", "folds", "embeddings_field",
            "output_path"} <= set(form)
    assert form["train_layers"].invalid  # the engine's own check, shown as typed
    assert not op.resolve_type(context({}), "inputs").type.properties["train_layers"].invalid

    path = str(tmp_path / "op.pt")
    result = op(demo, delegate=False, epochs=1, image_size=32, num_workers=0, train_layers=1,
                batch_size=16, output_path=path, embeddings_field="op_emb")
    result.raise_exceptions()
    assert os.path.isfile(path) and len(demo.exists("op_emb")) == 40


def test_layer_units_of_two_architectures():
    import torchvision

    lite = models.load_model(device="cpu").module
    units = ft.layer_units(lite, "_fc")
    names = [name for name, _ in units]
    assert names == ["_conv_stem"] + ["_blocks.%d" % i for i in range(16)] + ["_conv_head"]
    assert [type(m).__name__ for m in units[-1][1]] == ["Conv2dStaticSamePadding",
                                                         "BatchNorm2d"]  # BN joins its conv
    resnet = torchvision.models.resnet18(weights=None)
    names = [name for name, _ in ft.layer_units(resnet, "fc")]
    assert names == ["conv1"] + ["layer%d.%d" % (i, j) for i in range(1, 5) for j in (0, 1)]
    # train_layers=3: the head and the last 2 units train, nothing else.
    frozen = ft._freeze(resnet, "fc", 3)
    trained = {n.split(".")[0] + "." + n.split(".")[1] if n.startswith("layer") else
               n.split(".")[0] for n, p in resnet.named_parameters() if p.requires_grad}
    assert trained == {"layer4.0", "layer4.1", "fc"} and len(frozen) == 8
