"""A run killed mid-write leaves nothing half-written behind it."""

import os
import subprocess
import sys

import pytest

import fiftyone as fo

import winnow

# Runs compute_embeddings in a real child process that dies (os._exit, no cleanup
# handlers) right after the first of its bulk writes.
CHILD = r"""
import os, sys
import pytest

import fiftyone as fo
import fiftyone.core.collections as foc
import winnow

real_set_values = foc.SampleCollection.set_values
def set_values_then_die(self, *args, **kwargs):
    real_set_values(self, *args, **kwargs)
    os._exit(17)
foc.SampleCollection.set_values = set_values_then_die

winnow.compute_embeddings(fo.load_dataset(sys.argv[1]), num_workers=0, progress=False)
"""


def test_killed_write_is_cleaned_up_by_the_next_run(make_dataset, photos):
    ds = make_dataset([fo.Sample(filepath=p) for p in photos.values()])
    ds.persistent = True  # visible to the child process

    out = subprocess.run([sys.executable, "-c", CHILD, ds.name], env=dict(os.environ),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 17, out.stderr[-2000:]

    ds.reload()
    [run] = winnow.list_runs(ds)
    assert run["status"] == "writing"  # the crash left a marked, incomplete run
    assert "embedding" in ds.get_field_schema()  # ... and a half-written result

    # The next Winnow step on the dataset removes the dead writer's fields first.
    winnow.compute_embeddings(ds, embeddings_field="other", num_workers=0, progress=False)
    schema = ds.get_field_schema()
    assert "embedding" not in schema and "embedding_error" not in schema
    assert [r["key"] for r in winnow.list_runs(ds)] == ["winnow_embeddings_other"]


def test_failed_write_in_process_removes_its_fields(make_dataset, photos, monkeypatch):
    import fiftyone.core.collections as foc

    ds = make_dataset([fo.Sample(filepath=p) for p in photos.values()])
    real = foc.SampleCollection.set_values
    calls = []

    def fail_on_second(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user cancels mid-write
        return real(self, *args, **kwargs)

    monkeypatch.setattr(foc.SampleCollection, "set_values", fail_on_second)
    try:
        winnow.compute_embeddings(ds, num_workers=0, progress=False)
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    schema = ds.get_field_schema()
    assert "embedding" not in schema and "embedding_error" not in schema
    assert winnow.list_runs(ds) == []


STEPS_OVER_EMBEDDINGS = {
    # step: (call, fields it writes, tag it writes)
    "outliers": (lambda ds: winnow.find_outliers(ds, progress=False), ["outlier_score"],
                 "outlier"),
    "redundancy": (lambda ds: winnow.find_redundant(ds, progress=False),
                   ["redundant_of", "redundancy_distance"], "redundant"),
    "representatives": (lambda ds: winnow.find_representatives(ds, k=4, progress=False),
                        ["cluster", "medoid_distance", "medoid_rank"], "representative"),
    "label_issues": (lambda ds: winnow.find_label_issues(ds, progress=False),
                     ["label_quality", "suggested_label"], "label_issue"),
    "predict_labels": (lambda ds: winnow.predict_labels(ds, progress=False),
                       ["predicted_label"], None),
    # The demo's dim Fashion-MNIST items and the Hubble photo are dark.
    "image_issues": (lambda ds: winnow.find_image_issues(ds, progress=False, num_workers=0),
                     ["image_brightness", "image_sharpness"], "dark"),
    "duplicates": (lambda ds: winnow.find_duplicates(ds, progress=False),
                   ["duplicate_of", "content_hash"], None),
    "leaks": (lambda ds: winnow.find_leaks(ds, split_field="source",
                                           train_split="fashion-mnist", progress=False),
              ["leak_of", "leak_distance"], None),
}


@pytest.mark.parametrize("step", sorted(STEPS_OVER_EMBEDDINGS))
def test_cancel_mid_write_leaves_no_result_of_any_step(step, demo_embedded, monkeypatch):
    import fiftyone.core.collections as foc

    call, fields, tag = STEPS_OVER_EMBEDDINGS[step]
    ds = demo_embedded.clone()
    try:
        before_views = ds.list_saved_views()
        real = foc.SampleCollection.set_values
        calls = []

        def cancel_after_first(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 2 or len(fields) == 1:
                real(self, *args, **kwargs)  # something is half-written ...
                raise KeyboardInterrupt  # ... when the user cancels
            return real(self, *args, **kwargs)

        monkeypatch.setattr(foc.SampleCollection, "set_values", cancel_after_first)
        with pytest.raises(KeyboardInterrupt):
            call(ds)
        monkeypatch.undo()

        schema = ds.get_field_schema()
        assert not [f for f in fields if f in schema]
        assert tag is None or tag not in ds.count_sample_tags()
        assert tag is None or tag not in ds.count_label_tags()
        assert ds.list_saved_views() == before_views
        assert [r["method"] for r in winnow.list_runs(ds)] in ([], ["embeddings"])
    finally:
        ds.delete()
