"""Real Fashion-MNIST embeddings from the default model, cached for the benchmarks.

    .venv/bin/python benchmarks/fmnist_embeddings.py [--size 112]

Writes ``benchmarks/cache/fmnist-efficientnet-lite0-<size>.npz`` with
``train_X (60000, 1280)``, ``train_y``, ``test_X (10000, 1280)``, ``test_y``.
28 px images are upscaled to ``size`` px; 112 px costs a quarter of 224 px on
this 2-core machine and is what the benchmarks use by default.
"""

import argparse
import os
import time

import numpy as np

CACHE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cache")


def cache_path(size=112):
    return os.path.join(CACHE_DIR, "fmnist-efficientnet-lite0-%d.npz" % size)


def load_embeddings(size=112):
    """Loads (computing once if needed) the cached embeddings: a dict of arrays."""
    path = cache_path(size)
    if not os.path.exists(path):
        compute(size)
    with np.load(path) as d:
        return {k: d[k] for k in d.files}


def compute(size=112):
    from winnow.plugin import fashion_mnist
    from winnow.plugin.embeddings import embed_arrays

    os.makedirs(CACHE_DIR, exist_ok=True)
    out = {}
    for split in ("train", "test"):
        images, labels = fashion_mnist.load(split)
        t = time.time()
        out[split + "_X"] = embed_arrays(images, size=size, progress=True)
        out[split + "_y"] = labels
        print("%s: %d images in %.0f s" % (split, len(images), time.time() - t))
    tmp = cache_path(size) + ".tmp.npz"
    np.savez(tmp, **out)
    os.replace(tmp, cache_path(size))
    return cache_path(size)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=112)
    print(compute(parser.parse_args().size))
