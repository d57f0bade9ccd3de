"""Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (MIT licence).

Used to build the shipped demo set and by benchmarks; nothing here downloads.
"""

import gzip
import os

import numpy as np

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"

CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


def find_root(root=None):
    """The folder holding the idx files: ``root``, ``$FASHION_MNIST_DIR`` or Debian's."""
    root = root or os.environ.get("FASHION_MNIST_DIR") or DEBIAN_DIR
    if not os.path.isfile(os.path.join(root, "train-images-idx3-ubyte.gz")):
        raise FileNotFoundError(
            "Fashion-MNIST not found in %r: install Debian's dataset-fashion-mnist "
            "(scripts/fashion_mnist.sh) or set FASHION_MNIST_DIR" % root
        )
    return root


def load(split="train", root=None):
    """Loads a split.

    Args:
        split ("train"): ``"train"`` (60 000 images) or ``"test"`` (10 000)

    Returns:
        a tuple ``(images, labels)``: ``(N, 28, 28)`` uint8 and ``(N,)`` int64
    """
    if split not in ("train", "test"):
        raise ValueError("split must be 'train' or 'test'; got %r" % (split,))
    root = find_root(root)
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(os.path.join(root, prefix + "-labels-idx1-ubyte.gz"), "rb") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8).astype(np.int64)
    with gzip.open(os.path.join(root, prefix + "-images-idx3-ubyte.gz"), "rb") as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    return images, labels


def write_pngs(images, labels, out_dir, prefix="fmnist"):
    """Writes images as PNG files named ``<prefix>_<i>.png``.

    Returns:
        a list of ``(filepath, class_name)``
    """
    from PIL import Image

    os.makedirs(out_dir, exist_ok=True)
    rows = []
    for i, (img, label) in enumerate(zip(images, labels)):
        path = os.path.join(out_dir, "%s_%05d.png" % (prefix, i))
        if not os.path.exists(path):
            Image.fromarray(img).save(path)
        rows.append((path, CLASSES[int(label)]))
    return rows
