"""The demo: a small real dataset shipped in data/demo, and every Winnow step on it."""

import csv
import os

import fiftyone as fo

DEMO_DATASET = "winnow-demo"
DEMO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "demo")


def load_demo_dataset(name=DEMO_DATASET, overwrite=True, persistent=True):
    """Builds the FiftyOne dataset of the shipped demo images.

    300 Fashion-MNIST images with ``ground_truth`` classifications and 6
    scikit-image photographs (unlabeled, tagged ``photo``).

    Returns:
        a :class:`fiftyone.core.dataset.Dataset`
    """
    if fo.dataset_exists(name):
        if not overwrite:
            return fo.load_dataset(name)
        fo.delete_dataset(name)

    samples = []
    with open(os.path.join(DEMO_DIR, "samples.csv"), newline="") as f:
        for row in csv.DictReader(f):
            sample = fo.Sample(filepath=os.path.join(DEMO_DIR, row["filepath"]))
            if row["ground_truth"]:
                sample["ground_truth"] = fo.Classification(label=row["ground_truth"])
            else:
                sample.tags.append("photo")
            sample["source"] = row["source"]
            samples.append(sample)

    dataset = fo.Dataset(name, persistent=persistent)
    dataset.add_samples(samples, progress=False)
    return dataset


def run_demo(name=DEMO_DATASET, progress=True):
    """Builds the demo dataset and runs every Winnow step on it.

    Embeddings (with a similarity index and a PCA map for the App), then
    :func:`winnow.curate` (outliers, redundancy, representatives, label issues
    of ``ground_truth``), then CAM heatmaps and boxes, pretrained tags and NMF
    topics.

    Returns:
        a tuple ``(dataset, summary)``: summary is a list of ``(step, text)``
    """
    import winnow

    dataset = load_demo_dataset(name)
    summary = []
    results = winnow.compute_embeddings(dataset, similarity_index=True, visualization="pca",
                                        progress=progress)
    summary.append(("embeddings", str(results)))
    results = winnow.curate(dataset, label_field="ground_truth", progress=progress)
    summary.append(("curation", str(results)))
    summary.append(("cam", str(winnow.compute_cam(dataset, progress=progress))))
    summary.append(("pretrained tags", str(winnow.tag_with_pretrained(dataset, progress=progress))))
    summary.append(("topics", str(winnow.extract_topics(dataset, n_topics=8, progress=progress))))
    return dataset, summary
