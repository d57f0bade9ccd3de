"""Label issues with a detector's predictions (issue 14): cleanlab object detection on a
ground-truth Detections field and a predictions field, inside FiftyOne.

Real scenes (``tests/objects_data.py``: Fashion-MNIST items pasted at known boxes).
Predictions are the true boxes with their true classes and confidences (a detector that
is right); planted in the annotations: one box with a swapped class, one box shifted by
80 % of its width, one object left unannotated. No embeddings are needed.
"""

import numpy as np
import pytest

import fiftyone as fo

import winnow
from winnow.plugin import detection_issues, runs

import objects_data
from conftest import unique_name

FIELD, PRED = objects_data.FIELD, "pred"
SWAP_TO = {"Shirt": "T-shirt/top"}  # the planted swap: a Shirt annotated as T-shirt/top


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return objects_data.write_scenes(tmp_path_factory.mktemp("detection_issues"), 12, seed=0)


def _plant(scenes):
    """The annotations with the three plants and the predictions (true boxes, true
    classes). Returns ``(gt per scene, pred per scene, plants)``: ``plants`` maps
    "swap" / "shift" / "missing" to ``(scene, object index)``."""
    objs = [(s, j, o) for s, sc in enumerate(scenes) for j, o in enumerate(sc["objects"])]
    swap = next((s, j) for s, j, o in objs if o["class"] == "Shirt")
    # A box that can move by 80 % of its width inside the canvas, of a class with others.
    shift = next((s, j) for s, j, o in objs if o["class"] == "Ankle boot" and s != swap[0])
    missing = next((s, j) for s, j, o in objs if o["class"] == "Sneaker"
                   and s not in (swap[0], shift[0]))
    gt, pred = [], []
    for s, sc in enumerate(scenes):
        dets, preds = [], []
        for j, o in enumerate(sc["objects"]):
            x, y, w, h = o["box"]
            # The shifted box's prediction is a little less confident: ranked last in AP.
            conf = 0.9 if (s, j) == shift else 0.97
            preds.append(fo.Detection(label=o["class"], bounding_box=[x, y, w, h],
                                      confidence=conf, truth="%d/%d" % (s, j)))
            # and one unsure box of another class, as detectors give
            preds.append(fo.Detection(label="Bag" if o["class"] != "Bag" else "Coat",
                                      bounding_box=[x, y, w, h], confidence=0.02,
                                      truth="alt"))
            if (s, j) == missing:
                continue
            label = SWAP_TO["Shirt"] if (s, j) == swap else o["class"]
            if (s, j) == shift:
                dx = 0.8 * w if x + 1.8 * w <= 1 else -0.8 * w
                x += dx
            dets.append(fo.Detection(label=label, bounding_box=[x, y, w, h],
                                     truth="%d/%d" % (s, j)))
        gt.append(fo.Detections(detections=dets))
        pred.append(fo.Detections(detections=preds))
    return gt, pred, dict(swap=swap, shift=shift, missing=missing)


@pytest.fixture
def planted(scenes):
    gt, pred, plants = _plant(scenes)
    ds = fo.Dataset(unique_name("winnow-test-detissues"))
    ds.add_samples([fo.Sample(filepath=sc["filepath"], note="user's", **{FIELD: g, PRED: p})
                    for sc, g, p in zip(scenes, gt, pred)], progress=False)
    yield ds, {k: "%d/%d" % v for k, v in plants.items()}
    if fo.dataset_exists(ds.name):
        fo.delete_dataset(ds.name)


def _by_truth(ds, field, *attrs):
    """``{truth: {attr: value}}`` of every object of ``field`` (the "alt" predictions
    left out)."""
    cols = ds.values(["%s.detections.%s" % (field, a) for a in ("truth", "id", "tags") + attrs])
    out = {}
    for per_sample in zip(*cols):
        for values in zip(*[v or [] for v in per_sample]):
            if values[0] != "alt":
                out[values[0]] = dict(zip(("truth", "id", "tags") + attrs, values))
    return out


def _snapshot(ds):
    """What the user had: sample fields and the objects' own attributes, tags, views."""
    user = ["filepath", "note", "tags"] + [
        "%s.detections.%s" % (f, a) for f in (FIELD, PRED)
        for a in ("id", "label", "bounding_box", "confidence")]
    return dict(values=ds.values(user),
                schema=sorted(ds.get_field_schema(flat=True)),
                label_tags=ds.count_label_tags(), views=ds.list_saved_views(),
                runs=ds.list_runs())


def test_planted_issues_land_on_the_right_boxes(planted):
    ds, plants = planted
    before = _snapshot(ds)
    res = winnow.find_label_issues(ds, patches_field=FIELD, pred_field=PRED)
    assert isinstance(res, detection_issues.DetectionIssuesResults)

    gt = _by_truth(ds, FIELD, "label_quality", "swap_score", "badloc_score", "issue_type")
    swapped, shifted = gt[plants["swap"]], gt[plants["shift"]]
    assert swapped["issue_type"] == "swap" and swapped["tags"] == ["label_issue"]
    assert shifted["issue_type"] == "badloc" and shifted["tags"] == ["label_issue"]
    assert swapped["swap_score"] < 0.01 and shifted["badloc_score"] < 0.2
    clean = [o for t, o in gt.items() if t not in (plants["swap"], plants["shift"])]
    assert clean and all(o["tags"] == [] and o["issue_type"] is None for o in clean)
    # every annotated box is scored; the planted ones are the two worst
    assert all(o["label_quality"] is not None for o in gt.values())
    worst = sorted(gt.values(), key=lambda o: o["label_quality"])[:2]
    assert {o["truth"] for o in worst} == {plants["swap"], plants["shift"]}
    assert set(res.issue_ids) == {swapped["id"], shifted["id"]}
    assert plants["missing"] not in gt  # it has no annotated box ...

    pred = _by_truth(ds, PRED, "overlooked_score")
    missed = pred[plants["missing"]]  # ... its prediction carries the finding
    assert missed["tags"] == ["overlooked"] and missed["overlooked_score"] < 0.01
    assert res.overlooked_ids == [missed["id"]]
    assert all(o["tags"] == [] for t, o in pred.items() if t != plants["missing"])
    assert (res.num_issues, res.num_swap, res.num_badloc, res.num_overlooked) == (2, 1, 1, 1)

    # images: cleanlab's label quality per sample, the planted images lowest
    quality = dict(zip(*ds.values(["filepath", "label_quality"])))
    planted_images = {ds.skip(int(p.split("/")[0])).first().filepath for p in plants.values()}
    assert max(quality[f] for f in planted_images) < min(
        q for f, q in quality.items() if f not in planted_images)
    assert res.num_images_with_issues == 3

    # the user's fields, boxes, labels and confidences are untouched
    after = _snapshot(ds)
    assert after["values"] == before["values"]
    # saved patches views of the findings
    view = ds.load_saved_view("winnow-gt-label_issue")
    assert view._is_patches and view.values(FIELD + ".id") == res.issue_ids
    over = ds.load_saved_view("winnow-pred-overlooked")
    assert over._is_patches and over.values(PRED + ".id") == [missed["id"]]
    run = runs.get_run(ds, res.run_key)
    assert run["method"] == "detection_issues" and run["patches_field"] == FIELD
    assert run["params"]["pred_field"] == PRED and run["counts"]["overlooked"] == 1


def test_same_flags_and_scores_as_cleanlab(planted):
    """The per-box flags pooled per image are cleanlab's find_label_issues, the image
    scores its get_label_quality_scores, on the very inputs built from the fields."""
    from cleanlab.object_detection import filter as odf
    from cleanlab.object_detection import rank as odr

    ds, _ = planted
    pf, pred = detection_issues.check_fields(ds, FIELD, PRED)
    images = detection_issues.read_boxes(ds, pf, pred)
    assert all(im["size"] == (128, 128) for im in images)  # from the PNG headers
    classes = sorted({c for im in images for _, c, _ in im["gt"] + [p[:3] for p in im["pred"]]})
    labels, predictions, order = detection_issues.to_cleanlab(images, classes)
    assert [len(o) for o in order] == [len(im["pred"]) for im in images]
    found = detection_issues.box_issues(labels, predictions)
    assert found["image_issue"].tolist() == odf.find_label_issues(labels, predictions).tolist()
    np.testing.assert_allclose(found["image_quality"],
                               odr.get_label_quality_scores(labels, predictions, verbose=False))
    assert found["image_issue"].sum() == 3


def test_delete_run_removes_exactly_what_it_wrote_and_reruns_replace(planted):
    ds, plants = planted
    before = _snapshot(ds)
    res = winnow.find_label_issues(ds, patches_field=FIELD, pred_field=PRED)
    # a re-run (on a view without the swapped image) replaces its own results
    swap_scene = int(plants["swap"].split("/")[0])
    view = ds.exclude(ds.skip(swap_scene).first().id)
    res2 = winnow.find_label_issues(view, patches_field=FIELD, pred_field=PRED)
    assert res2.run_key == res.run_key and res2.num_swap == 0
    assert ds.count_label_tags(FIELD) == {"label_issue": 1}
    assert ds.count("label_quality") == len(view)
    winnow.delete_run(ds, res.run_key)
    assert _snapshot(ds) == before


def test_cancelled_write_leaves_nothing(planted, monkeypatch):
    from winnow.plugin import inputs

    ds, _ = planted
    before = _snapshot(ds)
    real = inputs.set_object_values
    calls = []

    def cancel_after_two(*args, **kwargs):
        real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(inputs, "set_object_values", cancel_after_two)
    with pytest.raises(KeyboardInterrupt):
        winnow.find_label_issues(ds, patches_field=FIELD, pred_field=PRED)
    monkeypatch.undo()
    assert _snapshot(ds) == before


def test_unreadable_image_is_skipped_and_counted(planted):
    ds, _ = planted
    ds.add_sample(fo.Sample(filepath="/nonexistent/winnow/missing.png",
                            **{FIELD: fo.Detections(detections=[fo.Detection(
                                label="Bag", bounding_box=[0.1, 0.1, 0.2, 0.2])]),
                               PRED: fo.Detections()}))
    res = winnow.find_label_issues(ds, patches_field=FIELD, pred_field=PRED)
    assert (res.num_samples, res.num_scored, res.num_skipped) == (13, 12, 1)
    assert ds.count("label_quality") == 12 and res.num_swap == 1
    assert "could not be read" in repr(res)


def test_bad_input_one_clear_error_nothing_written(planted):
    ds, _ = planted
    ds.set_values("cls", [fo.Classification(label="Bag")] * len(ds))
    ds.set_values("poly", [fo.Polylines(polylines=[fo.Polyline(
        label="Bag", points=[[(0.1, 0.1), (0.3, 0.1), (0.3, 0.3)]], closed=True)])] * len(ds))
    before = _snapshot(ds)
    cases = [
        (dict(patches_field=FIELD, pred_field="cls"), "pred_field must be a Detections"),
        (dict(patches_field="poly", pred_field=PRED), "patches_field must be a Detections"),
        (dict(patches_field=FIELD, pred_field="poly"), "pred_field must be a Detections"),
        (dict(patches_field=FIELD, pred_field=FIELD), "must differ from patches_field"),
        (dict(patches_field=None, pred_field=PRED), "needs patches_field"),
        (dict(patches_field=FIELD, pred_field="nope"), "No field 'nope' for pred_field"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            winnow.find_label_issues(ds, **kwargs)
    # a prediction without a confidence
    sample = ds.first()
    sample[PRED].detections[0].confidence = None
    sample.save()
    before = _snapshot(ds)
    with pytest.raises(ValueError, match="needs a confidence in"):
        winnow.find_label_issues(ds, patches_field=FIELD, pred_field=PRED)
    assert _snapshot(ds) == before
    # an attribute of the user's on the boxes is never overwritten unless asked
    sample[PRED].detections[0].confidence = 0.97
    sample[FIELD].detections[0]["swap_score"] = 0.5
    sample.save()
    with pytest.raises(ValueError, match="already exists"):
        winnow.find_label_issues(ds, patches_field=FIELD, pred_field=PRED)
    res = winnow.find_label_issues(ds, patches_field=FIELD, pred_field=PRED, overwrite=True)
    assert res.num_issues == 2


def _form(ds, **params):
    import fiftyone.operators as foo
    from fiftyone.operators.executor import ExecutionContext, Executor

    uri = "@winnow/curation/find_label_issues"
    ctx = ExecutionContext(request_params=dict(dataset_name=ds.name, params=params),
                           executor=Executor(), operator_uri=uri)
    props = foo.get_operator(uri).resolve_input(ctx).type.properties
    return props, {k: p.error_message for k, p in props.items() if p.invalid}


def test_operator_form_offers_predictions_on_objects_and_runs_them(planted):
    import fiftyone.operators as foo

    ds, plants = planted
    assert "pred_field" not in _form(ds)[0]  # samples: no predictions choice
    props, _ = _form(ds, patches_field=FIELD)
    choices = props["pred_field"].type.values
    assert PRED in choices and FIELD not in choices and "embeddings_field" in props
    props, errors = _form(ds, patches_field=FIELD, pred_field=PRED)
    assert errors == {}
    assert not {"embeddings_field", "classifier", "suggestion_field"} & set(props)
    # validation as the user types: a user's sample field is not the images' quality
    _, errors = _form(ds, patches_field=FIELD, pred_field=PRED, quality_field="note")
    assert list(errors) == ["quality_field"] and "already exists" in errors["quality_field"]
    # run from Python as FiftyOne users do: the same results as the engine's
    op = foo.get_operator("@winnow/curation/find_label_issues")
    op(ds, patches_field=FIELD, pred_field=PRED).raise_exceptions()
    assert ds.count_label_tags(FIELD) == {"label_issue": 2}
    assert ds.count_label_tags(PRED) == {"overlooked": 1}
    # a re-run of the same step is no conflict
    assert _form(ds, patches_field=FIELD, pred_field=PRED)[1] == {}


def test_panel_shows_the_predictions_run_among_the_objects_findings(planted):
    from test_panel import call, output_text  # the panel's one event runner

    ds, _ = planted
    winnow.find_label_issues(ds, patches_field=FIELD, pred_field=PRED)
    ctx, _ = call(ds, "on_load")
    state = ctx.panel_state
    assert state["scopes"] == [FIELD]
    assert all(f["method"] != "detection_issues" for f in state["findings"])  # samples: none
    ctx, ops = call(ds, "set_scope", state=state, value=FIELD)
    found = next(f for f in ctx.panel_state["findings"] if f["method"] == "detection_issues")
    assert found["computed"] and found["count"] == 2  # the swapped and the shifted box
    assert found["score"]["field"] == FIELD + ".detections.label_quality"
    text = output_text(ops)
    assert "Label issues (predictions)" in text and "winnow-pred-overlooked (1)" in text
