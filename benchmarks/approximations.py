"""How close Winnow's scalable methods come to the exact ones, on real embeddings.

    .venv/bin/python benchmarks/approximations.py [--outlier-n 50000] [--redundancy-n 11000]

Past a size, two steps switch to a method that scales (see their module
docstrings); this prints, in one run, what that costs in agreement and what it
saves in time, on the real Fashion-MNIST embeddings (EfficientNet-Lite0, 112 px,
1280-d; cached by ``fmnist_embeddings.py``), a seeded random subset:

- outliers: HDBSCAN on all N rows ("exact") vs HDBSCAN on a 20 000-row sample
  with the other rows scored against its tree ("sampled", the default past
  20 000 rows): Jaccard index of the two tagged sets at 1 / 5 / 10 %, and the
  Spearman correlation of the scores;
- redundancy: exact average linkage on all N rows vs the partitioned method
  (spherical k-means partitions of <= 4 096 rows on a 64-d PCA, each clustered
  exactly, one common cut; the default past 11 585 rows): Jaccard index of the
  redundant sets at 5 / 20 / 50 %. N = 11 000 is the largest size the exact
  method handles in its 1 GiB default budget.
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")


def jaccard(a, b):
    a, b = set(np.asarray(a).tolist()), set(np.asarray(b).tolist())
    return len(a & b) / float(len(a | b)) if a | b else 1.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--outlier-n", type=int, default=50000)
    parser.add_argument("--redundancy-n", type=int, default=11000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from scipy.stats import spearmanr

    from fmnist_embeddings import load_embeddings
    from winnow.plugin import outliers, redundancy

    data = load_embeddings(112)
    X_all = np.concatenate([data["train_X"], data["test_X"]])
    order = np.random.default_rng(args.seed).permutation(len(X_all))
    rows = []

    X = X_all[np.sort(order[:args.outlier_n])]
    t = time.perf_counter()
    exact = outliers.outlier_scores(X, method="exact", random_state=args.seed)
    t_exact = time.perf_counter() - t
    t = time.perf_counter()
    sampled = outliers.outlier_scores(X, method="sampled", random_state=args.seed)
    t_sampled = time.perf_counter() - t
    rho = spearmanr(exact, sampled).correlation
    for share in (0.01, 0.05, 0.10):
        k = int(np.ceil(share * len(X)))
        rows.append(("outliers", len(X), "top %d %%" % round(100 * share),
                     jaccard(outliers.top_k(exact, k), outliers.top_k(sampled, k)),
                     "Spearman %.3f" % rho, t_exact, t_sampled))
        print(rows[-1], flush=True)

    X = X_all[np.sort(order[:args.redundancy_n])]
    t = time.perf_counter()
    exact_tree = redundancy.RedundancyTree(X, method="exact", random_state=args.seed,
                                           progress=False)
    t_exact = time.perf_counter() - t
    t = time.perf_counter()
    part_tree = redundancy.RedundancyTree(X, method="partitioned", random_state=args.seed,
                                          progress=False)
    t_part = time.perf_counter() - t
    for share in (0.05, 0.20, 0.50):
        m = len(X) - int(np.floor(share * len(X)))
        a = exact_tree.cut(n_clusters=m)
        b = part_tree.cut(n_clusters=m)
        rows.append(("redundancy", len(X), "%d %% redundant" % round(100 * share),
                     jaccard(np.flatnonzero(a["redundant"]), np.flatnonzero(b["redundant"])),
                     "%d partitions" % len(part_tree.parts), t_exact, t_part))
        print(rows[-1], flush=True)

    print()
    print("| step | N | selection | Jaccard (scalable vs exact) | note | exact s | "
          "scalable s |")
    print("|---|---|---|---:|---|---:|---:|")
    for step, n, sel, jac, note, te, ts in rows:
        print("| %s | %d | %s | %.3f | %s | %.1f | %.1f |" % (step, n, sel, jac, note, te, ts))


if __name__ == "__main__":
    main()
