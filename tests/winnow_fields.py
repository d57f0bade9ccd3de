"""Writes the Winnow steps' default outputs onto a dataset with plain FiftyOne calls.

The panel tests and the browser test need every section filled (outliers, redundant,
representatives, label issues) while those steps are built in parallel. These are real
values from the real embeddings (simple, transparent rules, not Winnow's algorithms),
written and recorded the way the steps do: the same fields, tags and run records.
"""

import time

import numpy as np

import fiftyone as fo

from winnow.plugin import runs

N_OUTLIERS = 12
N_REDUNDANT = 15
N_CLUSTERS = 8


def _unit(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def add_winnow_fields(ds, embeddings_field="embedding", label_field="ground_truth"):
    """Writes outliers, redundancy, representatives and label issues onto ``ds``.

    Returns:
        a dict of what was written (ids per tag)
    """
    from sklearn.cluster import KMeans

    ids, X, labels = ds.values(["id", embeddings_field, label_field + ".label"])
    X = _unit(np.stack(X).astype(float))
    n = len(ids)
    started = time.time()
    out = {}

    # Outliers: cosine distance to the centroid, rescaled to [0, 1]; the farthest tagged.
    d = 1.0 - X @ _unit(X.mean(axis=0, keepdims=True)).ravel()
    score = (d - d.min()) / (d.max() - d.min())
    top = np.argsort(-score)[:N_OUTLIERS]
    ds.set_values("outlier_score", dict(zip(ids, score.tolist())), key_field="id")
    out["outlier"] = [ids[i] for i in top]
    ds.select(out["outlier"]).tag_samples("outlier")
    runs.record_run(ds, runs.run_key("outliers", "outlier_score"), "outliers",
                    ["outlier_score"], dict(fraction=N_OUTLIERS / n), dict(outliers=N_OUTLIERS),
                    started, tags=["outlier"])

    # Redundant: the closest pairs; the second of each pair points at the first (kept).
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    nearest = S.argmax(axis=1)
    dist = 1.0 - S[np.arange(n), nearest]
    redundant, kept_of = [], {}
    for i in np.argsort(dist):
        j = int(nearest[i])
        if i in kept_of.values() or j in kept_of or i in kept_of:
            continue
        kept_of[int(i)] = j
        redundant.append(int(i))
        if len(redundant) == N_REDUNDANT:
            break
    ds.set_values("redundant_of", {ids[i]: (ids[kept_of[i]] if i in kept_of else None)
                                   for i in range(n)}, key_field="id")
    ds.set_values("redundancy_distance", {ids[i]: (float(dist[i]) if i in kept_of else None)
                                          for i in range(n)}, key_field="id")
    out["redundant"] = [ids[i] for i in redundant]
    out["redundant_of"] = {ids[i]: ids[kept_of[i]] for i in redundant}
    ds.select(out["redundant"]).tag_samples("redundant")
    runs.record_run(ds, runs.run_key("redundancy", "redundant_of"), "redundancy",
                    ["redundant_of", "redundancy_distance"], dict(fraction=N_REDUNDANT / n),
                    dict(redundant=N_REDUNDANT), started, tags=["redundant"])

    # Representatives: k-means clusters, the sample nearest each centre.
    km = KMeans(n_clusters=N_CLUSTERS, n_init=3, random_state=0).fit(X)
    centre_d = np.linalg.norm(X - km.cluster_centers_[km.labels_], axis=1)
    medoids = [int(np.flatnonzero(km.labels_ == c)[np.argmin(centre_d[km.labels_ == c])])
               for c in range(N_CLUSTERS)]
    ds.set_values("cluster", dict(zip(ids, km.labels_.tolist())), key_field="id")
    ds.set_values("medoid_distance", dict(zip(ids, centre_d.tolist())), key_field="id")
    out["representative"] = [ids[i] for i in medoids]
    ds.select(out["representative"]).tag_samples("representative")
    runs.record_run(ds, runs.run_key("representatives", "cluster"), "representatives",
                    ["cluster", "medoid_distance"], dict(n_clusters=N_CLUSTERS),
                    dict(clusters=N_CLUSTERS), started, tags=["representative"])

    # Label issues: a 10-NN vote; quality = share of neighbours agreeing with the label.
    labeled = [i for i in range(n) if labels[i] is not None]
    nn = np.argsort(-S, axis=1)[:, :10]
    quality, suggested, issues = {}, {}, []
    for i in labeled:
        votes = [labels[j] for j in nn[i] if labels[j] is not None]
        if not votes:
            continue
        best = max(set(votes), key=lambda v: (votes.count(v), v))
        quality[ids[i]] = votes.count(labels[i]) / len(votes)
        suggested[ids[i]] = fo.Classification(label=best, confidence=votes.count(best) / len(votes))
        if best != labels[i]:
            issues.append(ids[i])
    ds.set_values("label_quality", {i: quality.get(i) for i in ids}, key_field="id")
    ds.set_values("suggested_label", {i: suggested.get(i) for i in ids}, key_field="id")
    out["label_issue"] = issues
    ds.select(issues).tag_samples("label_issue")
    runs.record_run(ds, runs.run_key("label_issues", "label_quality"), "label_issues",
                    ["label_quality", "suggested_label"], dict(label_field=label_field),
                    dict(issues=len(issues)), started, tags=["label_issue"])
    return out
