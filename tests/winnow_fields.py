"""Fills every section of the Winnow panel on a dataset with the real Winnow steps:
outliers, redundant, representatives, label issues (fixed counts, so tests know
what to expect)."""

import winnow

N_OUTLIERS = 12
N_REDUNDANT = 15
N_CLUSTERS = 8


def add_winnow_fields(ds, embeddings_field="embedding", label_field="ground_truth"):
    """Runs outliers, redundancy, representatives and label issues on ``ds``.

    Returns:
        a dict of what was written (ids per tag; ``redundant_of`` links)
    """
    out = {}
    winnow.find_outliers(ds, count=N_OUTLIERS, embeddings_field=embeddings_field,
                         progress=False)
    out["outlier"] = ds.match_tags("outlier").values("id")
    winnow.find_redundant(ds, count=N_REDUNDANT, embeddings_field=embeddings_field,
                          progress=False)
    red = ds.match_tags("redundant")
    out["redundant"] = red.values("id")
    out["redundant_of"] = dict(zip(*red.values(["id", "redundant_of"])))
    res = winnow.find_representatives(ds, k=N_CLUSTERS, embeddings_field=embeddings_field,
                                      progress=False)
    out["representative"] = list(res.medoid_ids)
    res = winnow.find_label_issues(ds, label_field=label_field,
                                   embeddings_field=embeddings_field, progress=False)
    out["label_issue"] = list(res.issue_ids)
    return out
