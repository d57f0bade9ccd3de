"""Fine-tuning: a pretrained backbone and a new head trained on the dataset's own classes.

:func:`fine_tune` trains the last ``train_layers`` units of a network (the new
head counts as one) on a ``fo.Classification`` (or string) field, keeps the
epoch with the best held-out accuracy (early stopping), and saves a weights file
that every image step loads with ``weights_path=`` (``torch.load(weights_only=True)``).

The weights file is a plain dict of tensors, lists and strings:

- ``state_dict``: the network in its original architecture: the fine-tuned
  backbone with its ORIGINAL classifier, so ``winnow.load_model(model,
  weights_path=path)`` (and therefore ``compute_embeddings``/``compute_cam``
  with ``weights_path=``) loads it strictly; the embeddings (the input of the
  classifier) are the fine-tuned features
- ``head``: the new classifier's ``weight`` ``(K, D)`` and ``bias`` ``(K,)``
- ``classes``: the K class names, in the head's order
- ``winnow``: what made it (model, input size, normalisation, best epoch,
  held-out accuracy, fold, and the ids of the samples it trained on and
  chose its epoch by)

:func:`load_fine_tuned` rebuilds the network WITH the new head and the
dataset's class names and input size (a :class:`~winnow.plugin.models.LoadedModel`
to pass as ``model=``, e.g. to explain the dataset's own classes with
``compute_cam(target="ground_truth")``).

Out of sample (``folds=k``): features of a network fine-tuned on a sample's
label pull that sample towards its (possibly wrong) label, so label issues
found on them are judged by a model that learned the answer. With ``folds``,
k networks are each trained on k-1 folds and every sample is embedded (and
predicted) only by the network that did not train on it; the fold of each
sample is written beside its vector. ``benchmarks/fine_tune.py`` measures the
difference to in-sample features.

Files are written atomically: the weights (and a checkpoint per epoch, for
``resume``) go to ``<output>.partial/`` and replace the previous output only
when the whole run has finished (``os.replace``); a cancelled or crashed run
leaves the previous weights untouched and can be resumed.
"""

import collections
import copy
import logging
import math
import os
import re
import shutil

import numpy as np
import torch
from torch import nn

import fiftyone as fo
import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.core.utils as fou

from . import classifiers, images, inputs, models, runs

logger = logging.getLogger(__name__)

STEP = "fine_tune"
# The head plus the last 2 units before it (EfficientNet-Lite0: _blocks.15 and
# _conv_head+_bn1). On 2 CPU cores at 112 px a training step costs ~10 ms per
# image this way and ~90 ms per image when every layer trains (measured,
# batch 32); the frozen prefix also keeps small labelled sets from overfitting.
# Pass train_layers="all" on a GPU.
DEFAULT_TRAIN_LAYERS = 3
FORMAT = "winnow-fine-tune-1"
# Normalisation layers belong to the unit before them (a conv and its BN train together).
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)


class FineTuneResults(runs.Results):
    """What :func:`fine_tune` did.

    Attributes:
        weights_path: the weights file (None with ``folds``: see ``weights_paths``)
        weights_paths: every weights file written (one per fold with ``folds``)
        classes: the class names, in the head's order
        folds: None, or the number of folds
        best_epochs: per model, the epoch (1-based) whose weights were kept
        val_accuracy: per model, its held-out accuracy at that epoch (None
            without a held-out set)
        history: per model, a list of ``{"epoch", "train_loss", "val_loss",
            "val_accuracy"}``
        num_samples: samples in the view
        num_trained: labeled samples the models learned from
        failures: ``{reason: count}`` of images that could not be read
        embeddings_field, fold_field, predictions_field: what was written (or None)
        resumed: None, or ``(model, epoch)`` where a checkpoint was resumed
        run_key, params, seconds
    """

    ATTRIBUTES = ("weights_path", "weights_paths", "classes", "folds", "best_epochs",
                  "val_accuracy", "history", "num_samples", "num_trained", "failures",
                  "embeddings_field", "fold_field", "predictions_field", "resumed",
                  "run_key", "params", "seconds")

    @property
    def num_failed(self):
        return sum(self.failures.values())

    def summary(self):
        accs = [a for a in self.val_accuracy if a is not None]
        acc = (" held-out accuracy %s," % "/".join("%.3f" % a for a in accs)) if accs else ""
        where = (self.weights_path if self.folds is None
                 else "%d fold files %s" % (self.folds, self.weights_paths[0]
                                            .replace(".fold0", ".fold<i>")))
        out = ("Fine-tuned on %d samples (%d classes), best epoch %s,%s weights %s in %.1f s"
               % (self.num_trained, len(self.classes),
                  "/".join(str(e) for e in self.best_epochs), acc, where, self.seconds))
        if self.embeddings_field:
            out += "; embeddings %r (%s)" % (
                self.embeddings_field, "cross-fitted, fold in %r" % self.fold_field
                if self.folds else "in-sample")
        return out


# ----------------------------------------------------------------------------- network


def layer_units(module, head):
    """The network's trainable units in forward order, the head excluded.

    A unit is a top-level child, or each block of a ``ModuleList``/``Sequential``
    of blocks; a normalisation layer joins the unit before it; modules without
    parameters are skipped; a unit holding the head is split further.

    Args:
        module: a ``torch.nn.Module``
        head: the dotted name of its classifier (``nn.Linear``)

    Returns:
        a list of ``(name, [modules])``
    """
    def walk(parent, prefix):
        out = []
        for name, child in parent.named_children():
            full = prefix + name
            if full == head or not any(True for _ in child.parameters()):
                continue
            if head.startswith(full + ".") or (
                    isinstance(child, (nn.ModuleList, nn.Sequential)) and len(child) > 1):
                out += walk(child, full + ".")
            elif isinstance(child, _NORMS) and out:
                out[-1][1].append(child)
            else:
                out.append((full, [child]))
        return out

    return walk(module, "")


def _set_submodule(module, name, new):
    parent, _, attr = name.rpartition(".")
    setattr(module.get_submodule(parent) if parent else module, attr, new)


def _check_train_layers(train_layers):
    if train_layers == "all":
        return train_layers
    if isinstance(train_layers, bool) or not isinstance(train_layers, (int, np.integer)) \
            or train_layers < 1:
        raise ValueError("train_layers must be 'all' or an integer >= 1 (the head counts as "
                         "one); got %r" % (train_layers,))
    return int(train_layers)


def _freeze(module, head, train_layers):
    """Freezes all but the head and the last ``train_layers - 1`` units; returns the
    frozen units' modules (kept in eval mode: their BatchNorm statistics stay)."""
    if train_layers == "all":
        return []
    units = layer_units(module, head)
    frozen = [m for _, ms in units[:max(0, len(units) - (train_layers - 1))] for m in ms]
    for m in frozen:
        m.requires_grad_(False)
    return frozen


# ------------------------------------------------------------------------------ files


def _torch_load(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError("Could not load %r with torch.load(weights_only=True): %s"
                         % (path, e)) from e


def _save_atomic(obj, path):
    tmp = "%s.tmp-%d" % (path, os.getpid())
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _is_fine_tune_file(path):
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return False
    return isinstance(state, dict) and (state.get("winnow") or {}).get("format") == FORMAT


def fold_path(output_path, fold):
    """The weights file of fold ``fold`` next to ``output_path`` (``x.pt`` -> ``x.fold0.pt``)."""
    root, ext = os.path.splitext(output_path)
    return "%s.fold%d%s" % (root, fold, ext or ".pt")


def default_output_path(samples, label_field, model_name):
    """``<fo.config.model_zoo_dir>/winnow/<dataset>-<label_field>-<model>.pt``."""
    name = "%s-%s-%s" % (samples._root_dataset.name, label_field, model_name)
    return os.path.join(fo.config.model_zoo_dir, "winnow",
                        re.sub(r"[^A-Za-z0-9._-]+", "_", name) + ".pt")


def load_fine_tuned(path, *, model=None, device=None):
    """The network of a :func:`fine_tune` weights file WITH its new head.

    Args:
        path: a weights file written by :func:`fine_tune`
        model (None): the base model; None means the recorded model name (pass
            the same ``torch.nn.Module`` class instance for a user module)
        device (None): a torch device; defaults to CUDA when available

    Returns:
        a :class:`~winnow.plugin.models.LoadedModel` whose outputs are the
        dataset's classes (``classes``), with the fine-tuning input size and
        normalisation as its ``transforms``
    """
    state = _torch_load(path)
    meta = state.get("winnow") if isinstance(state, dict) else None
    if not meta or meta.get("format") != FORMAT:
        raise ValueError("%r is not a weights file written by winnow.fine_tune" % path)
    if model is None:
        model = meta["model"]
    if isinstance(model, nn.Module):
        module = copy.deepcopy(model)
        module.load_state_dict(state["state_dict"])
        loaded = models.load_model(module, device="cpu")
    else:
        loaded = models.load_model(model, weights_path=path, device="cpu")
    head = meta["head"]
    weight, bias = state["head"]["weight"], state["head"]["bias"]
    linear = nn.Linear(weight.shape[1], weight.shape[0])
    linear.load_state_dict(dict(weight=weight, bias=bias))
    _set_submodule(loaded.module, head, linear)
    loaded.classes = list(state["classes"])
    loaded.transforms = models.ImagePreprocess(size=meta["image_size"], mean=meta["mean"],
                                               std=meta["std"])
    loaded.weights = os.path.basename(path)
    return models.load_model(loaded, device=device)


# ---------------------------------------------------------------------------- training


def augment_batch(batch, generator):
    """Random horizontal flips and shifts (reflect-padded by 1/8 of the side).

    Args:
        batch: a ``(B, H, W, 3)`` uint8 (or float) tensor
        generator: a ``torch.Generator``

    Returns:
        a ``(B, H, W, 3)`` float tensor (values 0-255)
    """
    b, h, w, _ = batch.shape
    x = batch.permute(0, 3, 1, 2).float()
    flip = torch.rand(b, generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    pad = max(1, min(h, w) // 8)
    x = nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).tolist()
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator).tolist()
    x = torch.stack([x[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])
    return x.permute(0, 2, 3, 1)


def _loader(filepaths, preprocess, batch_size, num_workers, shuffle=False, generator=None,
            drop_last=False):
    # Decoding is the tolerant one of every image step (images.ImageFiles/collate):
    # an unreadable image comes back as a failure, and training goes on without it.
    return torch.utils.data.DataLoader(
        images.ImageFiles(filepaths, preprocess.to_uint8), batch_size=batch_size,
        shuffle=shuffle, generator=generator, num_workers=num_workers,
        collate_fn=images.collate, drop_last=drop_last,
        prefetch_factor=4 if num_workers > 0 else None, persistent_workers=False)


def _split_val(labels, rows, val_fraction, seed):
    """``(train rows, val rows)``: a stratified held-out share of ``rows``
    (1 / round(1 / val_fraction) of each class, by ``label_issues``' fold split)."""
    if not val_fraction:
        return rows, rows[:0]
    n_parts = max(2, int(round(1.0 / val_fraction)))
    parts = classifiers.assign_folds(labels[rows], n_parts, np.random.default_rng(seed), False)
    return rows[parts != 0], rows[parts == 0]


def _train_model(module, head, frozen, train_rows, val_rows, filepaths, y, cfg, device,
                 partial, index, pb, failures, resume_state):
    """Trains one model; returns ``(best state dict, best epoch, val accuracy, history,
    resumed epoch or None)``. Checkpoints to ``partial/checkpoint.pt`` after each epoch."""
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    preprocess = models.ImagePreprocess(size=cfg["image_size"], mean=cfg["mean"],
                                        std=cfg["std"])
    batch_size = cfg["batch_size"]
    drop_last = len(train_rows) > batch_size  # a batch of 1 breaks BatchNorm
    steps_per_epoch = (len(train_rows) // batch_size if drop_last
                       else math.ceil(len(train_rows) / batch_size))
    total_steps = max(1, steps_per_epoch * cfg["epochs"])
    history, best = [], dict(state=None, epoch=0, accuracy=None, loss=None)
    start_epoch, step, bad_epochs, resumed = 0, 0, 0, None
    if resume_state is not None:
        module.load_state_dict(resume_state["model"])
        optimizer.load_state_dict(resume_state["optimizer"])
        history = list(resume_state["history"])
        best = dict(resume_state["best"])
        start_epoch, step = int(resume_state["epoch"]), int(resume_state["step"])
        bad_epochs = int(resume_state["bad_epochs"])
        resumed = start_epoch
        pb.update(count=start_epoch * (len(train_rows) + len(val_rows)))
    train_paths = [filepaths[i] for i in train_rows]
    val_paths = [filepaths[i] for i in val_rows]

    for epoch in range(start_epoch, cfg["epochs"]):
        if bad_epochs >= cfg["patience"]:  # early stop: the rest of the epochs count as done
            pb.update(count=(cfg["epochs"] - epoch) * (len(train_rows) + len(val_rows)))
            break
        gen = torch.Generator().manual_seed(cfg["seed"] * 1000003 + index * 1009 + epoch)
        module.train()
        for m in frozen:
            m.eval()
        losses, seen = [], 0
        for indices, batch, bad in _loader(train_paths, preprocess, batch_size,
                                           cfg["num_workers"], shuffle=True, generator=gen,
                                           drop_last=drop_last):
            for i, reason in bad:
                failures[int(train_rows[i])] = reason
            if batch is not None and len(indices) > (1 if drop_last else 0):
                lr = cfg["lr"] * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps)
                                                       / total_steps))
                for group in optimizer.param_groups:
                    group["lr"] = lr
                x = augment_batch(batch, gen) if cfg["augment"] else batch
                x = preprocess.normalize_batch(x.to(device))
                target = torch.as_tensor(y[train_rows[indices]], device=device)
                loss = nn.functional.cross_entropy(module(x), target)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
                step += 1
            pb.update(count=len(indices) + len(bad))
            seen += len(indices) + len(bad)
        pb.update(count=len(train_rows) - seen)  # the incomplete last batch (drop_last)
        val_loss, val_acc = _evaluate(module, val_rows, val_paths, y, preprocess, cfg, device,
                                      pb, failures)
        history.append(dict(epoch=epoch + 1, train_loss=float(np.mean(losses)) if losses
                            else None, val_loss=val_loss, val_accuracy=val_acc))
        better = (val_acc is None or best["accuracy"] is None
                  or (val_acc, -val_loss) > (best["accuracy"], -best["loss"]))
        if better:
            best = dict(state={k: v.detach().cpu().clone() for k, v in
                               module.state_dict().items()},
                        epoch=epoch + 1, accuracy=val_acc, loss=val_loss)
            bad_epochs = 0
        else:
            bad_epochs += 1
        _save_atomic(dict(config=_comparable(cfg), index=index, epoch=epoch + 1, step=step,
                          bad_epochs=bad_epochs, history=history, best=best,
                          optimizer=optimizer.state_dict(), model=module.state_dict()),
                     os.path.join(partial, "checkpoint.pt"))
    return best["state"], best["epoch"], best["accuracy"], history, resumed


def _evaluate(module, rows, paths, y, preprocess, cfg, device, pb, failures):
    if not len(rows):
        return None, None
    module.eval()
    total_loss, correct, seen = 0.0, 0, 0
    with torch.inference_mode():
        for indices, batch, bad in _loader(paths, preprocess, cfg["batch_size"],
                                           cfg["num_workers"]):
            for i, reason in bad:
                failures[int(rows[i])] = reason
            if batch is not None:
                logits = module(preprocess.normalize_batch(batch.to(device)))
                target = torch.as_tensor(y[rows[indices]], device=device)
                total_loss += float(nn.functional.cross_entropy(logits, target,
                                                                reduction="sum"))
                correct += int((logits.argmax(1) == target).sum())
                seen += len(indices)
            pb.update(count=len(indices) + len(bad))
    if not seen:
        return None, None
    return total_loss / seen, correct / seen


def _trained_state(saved):
    """The state dict of the network with its NEW head, from a saved weights dict."""
    head = saved["winnow"]["head"]
    state = {k: v for k, v in saved["state_dict"].items() if not k.startswith(head + ".")}
    state.update({"%s.%s" % (head, k): v for k, v in saved["head"].items()})
    return state


def _weights_file(state, head, original_head, classes, cfg, extra):
    """The saved dict: the backbone with its ORIGINAL head (loads strictly with
    ``weights_path=``), the new head, the classes and the record."""
    sd = {k: v for k, v in state.items() if not k.startswith(head + ".")}
    sd.update({"%s.%s" % (head, k): v.detach().cpu().clone()
               for k, v in original_head.state_dict().items()})
    new_head = {k[len(head) + 1:]: v for k, v in state.items() if k.startswith(head + ".")}
    meta = dict(format=FORMAT, model=cfg["model"], head=head, image_size=cfg["image_size"],
                mean=list(cfg["mean"]), std=list(cfg["std"]), **extra)
    return dict(state_dict=sd, head=new_head, classes=list(classes), winnow=meta)


# ------------------------------------------------------------------------------- step


def _check_number(value, name, low, high=None, integer=False, low_open=False):
    ok = not isinstance(value, bool) and isinstance(
        value, (int, np.integer) if integer else (int, float, np.integer, np.floating))
    if ok:
        ok = (value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        raise ValueError("%s must be %s %s %s%s; got %r" % (
            name, "an integer" if integer else "a number", ">" if low_open else ">=", low,
            "" if high is None else " and <= %s" % high, value))
    return value


def fine_tune(samples, label_field="ground_truth", *, model=models.DEFAULT_MODEL,
              weights_path=None, output_path=None, epochs=3, batch_size=32, lr=1e-3,
              weight_decay=1e-4, val_fraction=0.1, patience=2, augment=True,
              train_layers=DEFAULT_TRAIN_LAYERS, image_size=None, folds=None,
              embeddings_field=None, predictions_field=None, device=None, num_workers=None,
              resume=True, seed=0, overwrite=False, progress=None):
    """Fine-tunes a pretrained network on the dataset's classes and saves its weights.

    The classifier (the last ``nn.Linear``) is replaced by a new one over the
    classes of ``label_field``; the head and the last ``train_layers - 1``
    units train (AdamW, cosine learning rate, cross-entropy), the rest stays
    frozen (its BatchNorm statistics too). A stratified held-out share
    (``val_fraction``) of the labeled samples picks the best epoch (accuracy,
    then loss) and stops training after ``patience`` epochs without
    improvement. Training images get random flips and shifts (``augment``).
    Unlabeled samples are not trained on; unreadable images are skipped and
    counted. The weights (see the module docstring) load with ``weights_path=``
    in :func:`winnow.compute_embeddings` and :func:`winnow.compute_cam`, and
    with their new head through :func:`load_fine_tuned`. The run is recorded
    (``winnow_fine_tune_<embeddings_field or label_field>``) with its
    parameters, classes, best epochs, held-out accuracies and weights paths.

    Args:
        samples: a dataset or view of images
        label_field ("ground_truth"): a ``fo.Classification`` or string field
        model ("efficientnet-lite0"): what :func:`winnow.load_model` accepts
        weights_path (None): starting weights for a named model
        output_path (None): the weights file to write; None means
            :func:`default_output_path`. An existing file is replaced only when
            it was written by :func:`fine_tune` or with ``overwrite=True``;
            with ``folds`` the files are :func:`fold_path` of it
        epochs (3): maximum epochs per model
        batch_size (32): images per step
        lr (1e-3), weight_decay (1e-4): AdamW's; the learning rate follows a
            cosine from ``lr`` to 0 over ``epochs``
        val_fraction (0.1): held-out share of each class for early stopping
            (1 / round(1 / val_fraction)); 0 trains on everything and keeps
            the last epoch
        patience (2): epochs without a better held-out accuracy before stopping
        augment (True): random horizontal flips and shifts of up to 1/8 side
        train_layers (3): ``"all"``, or how many units train counting the
            head (see :func:`layer_units`; 1 = the head alone). 3 by default:
            on a 2-core CPU training every layer costs ~9x per image
        image_size (None): the square input side; None means the model's own
            (224 px for EfficientNet-Lite0). Smaller is faster; use the same
            size when embedding (:func:`load_fine_tuned` carries it)
        folds (None): ``k >= 2`` trains k models, each on the labeled samples
            of k-1 folds (stratified), and embeds every sample only with the
            model that did not train on it (cross-fitting): out-of-sample
            features for :func:`winnow.find_label_issues`. Weights go to
            :func:`fold_path` files
        embeddings_field (None): write the fine-tuned embeddings (the input of
            the classifier) of every sample of the view here; with ``folds``
            it defaults to ``"fine_tuned_embedding"`` and the fold that embedded
            each sample goes to ``<embeddings_field>_fold``. Without ``folds``
            the vectors of the samples trained on are IN-sample
        predictions_field (None): also write the new head's prediction
            (``fo.Classification`` with confidence and logits), cross-fitted
            with ``folds``
        device (None): a torch device; CUDA when available
        num_workers (None): decoding processes (see ``images.iter_batches``)
        resume (True): continue from the checkpoint a cancelled or crashed run
            with the same settings left in ``<output>.partial/``; False starts over
        seed (0): folds, held-out split, head initialisation, shuffling, augmentation
        overwrite (False): allow replacing fields, or an output file, that are
            not this step's
        progress (None): True/False or a ``fiftyone.report_progress`` callback;
            an exception raised by the callback cancels the run (nothing written)

    Returns:
        a :class:`FineTuneResults`
    """
    images.check_image_step(samples, batch_size=batch_size, num_workers=num_workers)
    label = inputs.label_field(samples, label_field, param="label_field",
                               kinds=("classification", "primitive"))
    epochs = int(_check_number(epochs, "epochs", 1, integer=True))
    lr = float(_check_number(lr, "lr", 0, low_open=True))
    weight_decay = float(_check_number(weight_decay, "weight_decay", 0))
    val_fraction = float(_check_number(val_fraction, "val_fraction", 0, 0.5))
    patience = int(_check_number(patience, "patience", 1, integer=True))
    train_layers = _check_train_layers(train_layers)
    if image_size is not None:
        image_size = int(_check_number(image_size, "image_size", 16, integer=True))
    if folds is not None:
        folds = int(_check_number(folds, "folds", 2, integer=True))
        embeddings_field = embeddings_field or "fine_tuned_embedding"
    fold_field = embeddings_field + "_fold" if folds and embeddings_field else None
    roles = dict(embeddings=embeddings_field, fold=fold_field, predictions=predictions_field)
    roles = {r: f for r, f in roles.items() if f}
    if len(set(roles.values())) != len(roles):
        raise ValueError("embeddings_field, its fold field and predictions_field must differ; "
                         "got %s" % sorted(roles.values()))
    key = runs.run_key(STEP, embeddings_field or label.root)
    step = runs.Step(samples, STEP, fields=roles, key=key, overwrite=overwrite)

    ids, filepaths, values = samples.values(["id", "filepath", label.path])
    names = label.clean(values)
    labeled = np.array([i for i, v in enumerate(names) if v is not None], dtype=np.int64)
    classes = sorted({names[i] for i in labeled})
    if len(classes) < 2:
        raise ValueError("Fine-tuning needs at least 2 classes in %r; the view has %d labeled "
                         "sample(s) of %d class(es)" % (label_field, len(labeled), len(classes)))
    if folds is not None and folds > len(labeled):
        raise ValueError("folds=%d is more than the %d labeled samples" % (folds, len(labeled)))
    index = {c: k for k, c in enumerate(classes)}
    y = np.array([index[v] if v is not None else -1 for v in names], dtype=np.int64)

    loaded = models.load_model(model, weights_path=weights_path, device="cpu")
    if isinstance(model, nn.Module):  # never train the caller's own module in place
        loaded.module = copy.deepcopy(loaded.module)
    module = loaded.module
    head = models.default_layer(module)
    original_head = copy.deepcopy(module.get_submodule(head)).cpu()
    base = loaded.transforms if isinstance(loaded.transforms, models.ImagePreprocess) \
        else models.imagenet_transforms()
    cfg = dict(model=loaded.name, weights=loaded.weights, label_field=label_field,
               classes=classes, epochs=epochs, batch_size=batch_size, lr=lr,
               weight_decay=weight_decay, val_fraction=val_fraction, patience=patience,
               augment=bool(augment), train_layers=train_layers,
               image_size=image_size or base.size, mean=list(base.mean), std=list(base.std),
               folds=folds, seed=int(seed), samples=len(ids),
               num_workers=images.default_num_workers() if num_workers is None
               else num_workers)

    if output_path is None:
        output_path = default_output_path(samples, label.root, loaded.name)
    output_path = os.path.abspath(os.path.expanduser(output_path))
    finals = [fold_path(output_path, f) for f in range(folds)] if folds else [output_path]
    for path in finals:
        if os.path.exists(path) and not overwrite and not _is_fine_tune_file(path):
            raise ValueError("%r exists and was not written by winnow.fine_tune; choose another "
                             "output_path or pass overwrite=True" % path)
    os.makedirs(os.path.dirname(output_path), exist_ok=True)
    partial = output_path + ".partial"

    # Which samples each model trains on: fold f's model never sees fold f.
    rng_seed = int(seed)
    if folds:
        assignment = np.empty(len(ids), dtype=np.int64)
        assignment[labeled] = classifiers.assign_folds(y[labeled], folds,
                                                     np.random.default_rng(rng_seed), False)
        rest = np.setdiff1d(np.arange(len(ids)), labeled)
        assignment[rest] = np.random.default_rng(rng_seed + 1).permutation(len(rest)) % folds
        pools = [labeled[assignment[labeled] != f] for f in range(folds)]
    else:
        assignment = None
        pools = [labeled]
    splits = [_split_val(y, pool, val_fraction, rng_seed + 7 + f) for f, pool in
              enumerate(pools)]
    cfg["rows_digest"] = _digest(ids, y, assignment)

    state = _resume_state(partial, cfg, resume)
    device = torch.device(device) if device is not None else models._default_device()
    embed_rows = np.arange(len(ids)) if embeddings_field or predictions_field else None
    total = sum(epochs * (len(t) + len(v)) for t, v in splits) + (
        len(embed_rows) if embed_rows is not None else 0)
    failures, best_epochs, accuracies, histories = {}, [], [], []
    resumed = None
    base_state = {k: v.detach().clone() for k, v in module.state_dict().items()
                  if not k.startswith(head + ".")}
    vectors = predictions = None
    with fou.ProgressBar(total=total, progress=progress) as pb:
        for f, (train_rows, val_rows) in enumerate(splits):
            done = os.path.join(partial, "model%d.pt" % f)
            if state is not None and f < state["model"] and os.path.exists(done):
                meta = _torch_load(done)["winnow"]
                best_epochs.append(meta["best_epoch"])
                accuracies.append(meta["val_accuracy"])
                histories.append(meta["history"])
                pb.update(count=epochs * (len(train_rows) + len(val_rows)))
                continue
            _set_submodule(module, head, _new_head(original_head, len(classes),
                                                   rng_seed * 31 + f))
            module.load_state_dict(base_state, strict=False)  # all but the new head
            module.requires_grad_(True)
            frozen = _freeze(module, head, train_layers)
            # Channels-last weights for the channels-last batches: ~2x faster on CPU.
            module.to(device).to(memory_format=torch.channels_last)
            checkpoint = (state["checkpoint"] if state is not None and state["model"] == f
                          else None)
            best, epoch, acc, history, at = _train_model(
                module, head, frozen, train_rows, val_rows, filepaths, y, cfg, device,
                _ensure_dir(partial), f, pb, failures, checkpoint)
            if at is not None:
                resumed = (f, at)
            saved = _weights_file(best, head, original_head, classes, cfg, dict(
                best_epoch=epoch, val_accuracy=acc, history=history,
                fold=f if folds else None, folds=folds, label_field=label_field,
                train_layers=train_layers,
                # What this model saw (trained on, or chose its epoch by): the record
                # that shows a cross-fitted sample was never seen by its model.
                trained_on=[ids[i] for i in train_rows],
                validated_on=[ids[i] for i in val_rows]))
            _save_atomic(saved, done)
            best_epochs.append(epoch)
            accuracies.append(acc)
            histories.append(history)
            state = None

        if embed_rows is not None:
            vectors, predictions = _embed(module, head, partial, splits, assignment,
                                          filepaths, cfg, device, pb, failures, folds)

    ids_written = []
    if roles:
        ok = [i for i in range(len(ids)) if vectors is not None and i not in failures
              and np.isfinite(vectors[i]).all()]
        with step.writing():
            if embeddings_field:
                step.clear("embeddings")
                step.set_values("embeddings", fof.VectorField,
                                {ids[i]: vectors[i] for i in ok})
            if fold_field:
                step.clear("fold")
                step.set_values("fold", fof.IntField,
                                {ids[i]: int(assignment[i]) for i in range(len(ids))})
            if predictions_field:
                step.clear("predictions")
                inputs.declare_field(samples, predictions_field, fof.EmbeddedDocumentField,
                                     embedded_doc_type=fol.Classification)
                samples.set_values(predictions_field, {
                    ids[i]: _prediction(predictions[i], classes) for i in ok}, key_field="id")
            ids_written = ok
    # The weights replace the previous ones only now that everything has run.
    for f, path in enumerate(finals):
        os.replace(os.path.join(partial, "model%d.pt" % f), path)
    shutil.rmtree(partial, ignore_errors=True)

    num_trained = int(len(set(labeled.tolist()) - set(failures)))
    params = {k: v for k, v in cfg.items() if k not in ("classes", "rows_digest")}
    params.update(output_path=output_path, weights_paths=finals,
                  embeddings_field=embeddings_field, fold_field=fold_field,
                  predictions_field=predictions_field, device=str(device),
                  out_of_sample=bool(folds))
    counts = dict(samples=len(ids), labeled=int(len(labeled)), trained=num_trained,
                  failed=len(failures), embedded=len(ids_written), classes=len(classes))
    key = step.record(params, counts, classes=classes, best_epochs=best_epochs,
                      val_accuracy=accuracies, history=histories)
    return FineTuneResults(
        weights_path=None if folds else output_path, weights_paths=finals, classes=classes,
        folds=folds, best_epochs=best_epochs, val_accuracy=accuracies, history=histories,
        num_samples=len(ids), num_trained=num_trained,
        failures=dict(collections.Counter(failures.values())), embeddings_field=embeddings_field,
        fold_field=fold_field, predictions_field=predictions_field, resumed=resumed,
        run_key=key, params=params, seconds=step.seconds)


def _ensure_dir(path):
    os.makedirs(path, exist_ok=True)
    return path


def _new_head(original, n_classes, seed):
    gen = torch.Generator().manual_seed(int(seed))
    linear = nn.Linear(original.in_features, n_classes)
    with torch.no_grad():
        bound = 1.0 / math.sqrt(original.in_features)
        linear.weight.uniform_(-bound, bound, generator=gen)
        linear.bias.zero_()
    return linear


def _digest(ids, y, assignment):
    import hashlib

    h = hashlib.sha1()
    h.update("\n".join(ids).encode())
    h.update(np.asarray(y, dtype=np.int64).tobytes())
    if assignment is not None:
        h.update(np.asarray(assignment, dtype=np.int64).tobytes())
    return h.hexdigest()


def _comparable(cfg):
    # The decoding workers change nothing in the results: a resume may use others.
    return {k: v for k, v in cfg.items() if k != "num_workers"}


def _resume_state(partial, cfg, resume):
    """What a previous run of the same settings left: ``{"model": index of the model in
    progress, "checkpoint": its last epoch's checkpoint or None}``, or None."""
    path = os.path.join(partial, "checkpoint.pt")
    if not resume or not os.path.exists(path):
        shutil.rmtree(partial, ignore_errors=True)
        return None
    try:
        ckpt = _torch_load(path)
    except ValueError:
        ckpt = None
    if not ckpt or ckpt.get("config") != _comparable(cfg):
        logger.warning("Starting over: the checkpoint in %r is of other settings", partial)
        shutil.rmtree(partial, ignore_errors=True)
        return None
    index = int(ckpt["index"])
    if os.path.exists(os.path.join(partial, "model%d.pt" % index)):
        return dict(model=index + 1, checkpoint=None)  # that model had finished
    return dict(model=index, checkpoint=ckpt)


def _embed(module, head, partial, splits, assignment, filepaths, cfg, device, pb, failures,
           folds):
    """Embeds (features and head logits) every sample with its model: with folds, the
    model of the fold it was held out of. Returns ``((N, D), (N, K))`` arrays (NaN rows
    for unreadable images)."""
    n = len(filepaths)
    vectors = predictions = None
    groups = range(folds) if folds else [0]
    for f in groups:
        rows = np.flatnonzero(assignment == f) if folds else np.arange(n)
        if not len(rows):
            continue
        saved = _torch_load(os.path.join(partial, "model%d.pt" % f))
        # A resumed run may reach here without training: the head is set from the file.
        k, d = saved["head"]["weight"].shape
        _set_submodule(module, head, nn.Linear(d, k))
        module.load_state_dict(_trained_state(saved))
        module.to(device).eval()
        loaded = models.LoadedModel(cfg["model"], module, models.ImagePreprocess(
            size=cfg["image_size"], mean=cfg["mean"], std=cfg["std"]))
        extractor = models.FeatureExtractor(module, layer=None, stop=True)
        linear = module.get_submodule(head)

        def forward(x):
            features = extractor(x)
            return torch.cat([features, linear(features)], dim=1)

        out, errors = images.run_model([filepaths[i] for i in rows], loaded, forward=forward,
                                       batch_size=cfg["batch_size"],
                                       num_workers=cfg["num_workers"], progress=False)
        for i, reason in errors.items():
            failures[int(rows[i])] = reason
        if out is not None:
            k = linear.out_features
            if vectors is None:
                vectors = np.full((n, out.shape[1] - k), np.nan, dtype=np.float32)
                predictions = np.full((n, k), np.nan, dtype=np.float32)
            ok = np.array([i for i in range(len(rows)) if i not in errors], dtype=np.int64)
            vectors[rows[ok]] = out[ok, :-k]
            predictions[rows[ok]] = out[ok, -k:]
        pb.update(count=len(rows))
    return vectors, predictions


def _prediction(logits, classes):
    z = np.asarray(logits, dtype=np.float64)
    p = np.exp(z - z.max())
    p /= p.sum()
    k = int(p.argmax())
    return fol.Classification(label=classes[k], confidence=float(p[k]), logits=z.tolist())
