"""Winnow: curate image datasets in FiftyOne.

This file is both the ``winnow`` package and the entry of the FiftyOne plugin
``@winnow/curation`` (the repository root is the plugin directory).

Public API (one function per method, like ``fiftyone.brain``)::

    import winnow

    results = winnow.compute_embeddings(dataset, model="efficientnet-lite0")
    winnow.list_runs(dataset)
"""

if __name__ == "winnow":
    from .plugin.models import list_layers, load_model, DEFAULT_MODEL
    from .plugin.embeddings import compute_embeddings, EmbeddingsResults
    from .plugin.runs import list_runs, delete_run, get_run
    from .plugin.projector import export_projector
    from .plugin.cam import compute_cam, boxes_from_heatmap, CamResults
    from .plugin.tags import tag_with_pretrained, TagsResults
    from .plugin.topics import extract_topics, get_topics, TopicsResults
    from .plugin.outliers import find_outliers, outlier_scores, OutliersResults
    from .plugin.redundancy import find_redundant, redundancy_clusters, RedundancyResults
    from .plugin.filtering import filter_dataset, export_kept, FilterResults
    from .plugin.label_issues import find_label_issues, predict_labels, LabelIssuesResults
    from .plugin.label_review import accept_suggestions, undo_suggestions
    from .plugin.representatives import (find_representatives, kmedoids, choose_k,
                                         RepresentativesResults)
    from .plugin.image_issues import (find_image_issues, image_statistics, flag_issues,
                                      ImageIssuesResults)
    from .plugin.duplicates import (find_duplicates, find_leaks, DuplicatesResults,
                                    LeaksResults)
    from .plugin.curate import curate, CurateResults
    from .plugin.fine_tune import fine_tune, load_fine_tuned, FineTuneResults

    __version__ = "0.1.0"

    def register(p):
        """Registers Winnow's operators and panels with FiftyOne."""
        from .operators import OPERATORS
        from .panels import PANELS

        for cls in OPERATORS + PANELS:
            p.register(cls)

else:
    # FiftyOne imports a plugin's entry under a synthetic module name. Run classes are
    # stored in the database by import path, so everything must come from the real
    # `winnow` package: import it (installed), or load this directory as `winnow`.
    import importlib.util as _ilu
    import os as _os
    import sys as _sys

    def _import_winnow():
        here = _os.path.dirname(_os.path.abspath(__file__))
        try:
            import winnow as _w

            return _w
        except ImportError:
            pass
        spec = _ilu.spec_from_file_location(
            "winnow",
            _os.path.join(here, "__init__.py"),
            submodule_search_locations=[here],
        )
        module = _ilu.module_from_spec(spec)
        _sys.modules["winnow"] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del _sys.modules["winnow"]
            raise
        return module

    _winnow = _import_winnow()
    register = _winnow.register
    __version__ = _winnow.__version__
