"""Fills every section of the Winnow panel on a dataset: outliers, redundant,
representatives, label issues.

Outliers and redundancy come from the real engine. Representatives and label issues
were built in parallel with the panel: until they land, they are written here with
plain FiftyOne calls: real values from the real embeddings (simple, transparent rules,
not Winnow's algorithms), the same fields, tags and run records the steps write.
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

    # Outliers and redundancy: the real engine (issue 5).
    import winnow

    winnow.find_outliers(ds, count=N_OUTLIERS, embeddings_field=embeddings_field,
                         progress=False)
    out["outlier"] = ds.match_tags("outlier").values("id")
    winnow.find_redundant(ds, count=N_REDUNDANT, embeddings_field=embeddings_field,
                          progress=False)
    red = ds.match_tags("redundant")
    out["redundant"] = red.values("id")
    out["redundant_of"] = dict(zip(*red.values(["id", "redundant_of"])))
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)

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
