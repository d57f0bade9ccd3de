"""Regenerates data/demo/ (committed; run only to change the demo set).

300 Fashion-MNIST test images (30 per class, Debian's dataset-fashion-mnist, MIT)
and 6 scikit-image sample photographs (see data/demo/LICENSE.md).
"""

import csv
import os

import numpy as np
from PIL import Image

from winnow.plugin import fashion_mnist

OUT = os.path.join(os.path.dirname(__file__), "..", "data", "demo")
PHOTOS = ["chelsea", "coffee", "astronaut", "rocket", "hubble_deep_field", "immunohistochemistry"]
PER_CLASS = 30


def main():
    images, labels = fashion_mnist.load("test")
    rng = np.random.default_rng(0)
    keep = np.concatenate([rng.choice(np.flatnonzero(labels == c), PER_CLASS, replace=False)
                           for c in range(10)])
    keep.sort()
    rows = fashion_mnist.write_pngs(images[keep], labels[keep], os.path.join(OUT, "fashion"))

    import skimage.data

    os.makedirs(os.path.join(OUT, "photos"), exist_ok=True)
    for name in PHOTOS:
        img = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
        img.thumbnail((320, 320))
        path = os.path.join(OUT, "photos", name + ".jpg")
        img.save(path, quality=88)
        rows.append((path, ""))

    with open(os.path.join(OUT, "samples.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filepath", "ground_truth", "source"])
        for path, label in rows:
            rel = os.path.relpath(path, OUT)
            w.writerow([rel, label, "fashion-mnist" if label else "scikit-image"])


if __name__ == "__main__":
    main()
