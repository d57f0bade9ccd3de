"""The repo as a FiftyOne plugin: loading, operator execution, progress, delegation."""

import os
import subprocess
import sys

import pytest

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone.operators.executor import ExecutionContext, Executor

from conftest import REPO

URI = "@winnow/curation/compute_embeddings"


@pytest.fixture
def photo_dataset(make_dataset, photos):
    return make_dataset([fo.Sample(filepath=p, name=n) for n, p in photos.items()])


def test_plugin_is_loaded_from_plugins_dir_and_lists_operator():
    from fiftyone.operators.registry import OperatorRegistry

    registry = OperatorRegistry()
    uris = [op.uri for op in registry.list_operators(builtin=False)]
    assert URI in uris
    assert registry.list_errors() == []
    plugin = fo.plugins.get_plugin("@winnow/curation")
    assert os.path.realpath(plugin.directory) == os.path.realpath(REPO)


def test_plugin_loads_without_pip_install(tmp_path):
    # A fresh interpreter in which `import winnow` fails: FiftyOne must still load the
    # clone from its plugins dir, and the engine must live under its real name `winnow`.
    code = r"""
import sys
sys.meta_path[:] = [f for f in sys.meta_path
                    if "editable" not in getattr(f, "__module__", "") + type(f).__module__]
try:
    import winnow
    raise SystemExit("winnow should not be importable here")
except ImportError:
    pass
from fiftyone.operators.registry import OperatorRegistry
reg = OperatorRegistry()
assert reg.list_errors() == [], reg.list_errors()
assert "@winnow/curation/compute_embeddings" in [o.uri for o in reg.list_operators(builtin=False)]
import winnow.plugin.runs as r
print(r.WinnowRunConfig.__module__, sys.modules["winnow"].__file__)
"""
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(tmp_path), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    module, path = out.stdout.split()[-2:]
    assert module == "winnow.plugin.runs"
    assert os.path.realpath(path) == os.path.realpath(os.path.join(REPO, "__init__.py"))


def _context(dataset, params, view=None, selected=None, view_target=None):
    request = dict(dataset_name=dataset.name, params=params)
    if view is not None:
        request["view"] = view._serialize()
    if selected is not None:
        request["selected"] = selected
    if view_target is not None:
        request["view_target"] = view_target
    return ExecutionContext(request_params=request, executor=Executor(), operator_uri=URI)


def test_operator_form_and_immediate_execution_with_progress(photo_dataset):
    op = foo.get_operator(URI)
    ctx = _context(photo_dataset, dict(embeddings_field="emb", batch_size=2,
                                       similarity_index=False, visualization="none"))
    form = op.resolve_type(ctx, "inputs")
    names = set(form.type.properties)
    assert {"model", "layer", "embeddings_field", "batch_size"} <= names
    assert "view_target" in names  # the App's dataset / view / selected samples choice

    messages = list(op.execute(ctx))
    progress = [m.body.params for m in messages
                if m.body.operator_uri.endswith("set_progress")]
    assert progress and all(0 <= p["progress"] <= 1 for p in progress)
    assert progress[-1]["progress"] == 1
    assert len(photo_dataset.exists("emb")) == 4


def test_operator_honours_selected_samples(photo_dataset):
    ids = photo_dataset.limit(2).values("id")
    op = foo.get_operator(URI)
    ctx = _context(photo_dataset, dict(embeddings_field="emb", similarity_index=False,
                                       visualization="none"),
                   selected=ids, view_target="SELECTED_SAMPLES")
    list(op.execute(ctx))
    assert sorted(photo_dataset.exists("emb").values("id")) == sorted(ids)


def test_operator_python_call_the_fiftyone_way(photo_dataset):
    op = foo.get_operator(URI)
    result = op(photo_dataset.limit(3), embeddings_field="emb", similarity_index=False,
                visualization=None)
    result.raise_exceptions()
    assert len(photo_dataset.exists("emb")) == 3


def test_operator_delegated_and_run_by_a_worker(photo_dataset):
    from fiftyone.operators.delegated import DelegatedOperationService

    op = foo.get_operator(URI)
    queued = op(photo_dataset, embeddings_field="emb_delegated", similarity_index=True,
                visualization="pca", delegate=True)
    queued.raise_exceptions()
    assert "emb_delegated" not in photo_dataset.get_field_schema()

    service = DelegatedOperationService()
    service.execute_queued_operations(dataset_name=photo_dataset.name)
    [doc] = service.list_operations(dataset_name=photo_dataset.name)
    assert doc.run_state == "completed", doc.run_state
    photo_dataset.reload()
    assert len(photo_dataset.exists("emb_delegated")) == 4
    assert "emb_delegated_sim" in photo_dataset.list_brain_runs()
    service.delete_operation(doc.id)
