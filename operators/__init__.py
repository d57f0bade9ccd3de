"""Winnow's FiftyOne operators: one thin module per operator (form, engine call, report)."""

from .compute_embeddings import ComputeEmbeddings
from .filter_dataset import FilterDataset
from .find_outliers import FindOutliers
from .find_redundant import FindRedundant

OPERATORS = [ComputeEmbeddings, FindOutliers, FindRedundant, FilterDataset]

from .compute_cam import ComputeCam  # noqa: E402
from .extract_topics import ExtractTopics  # noqa: E402
from .tag_with_pretrained import TagWithPretrained  # noqa: E402

OPERATORS += [ComputeCam, TagWithPretrained, ExtractTopics]

from .find_representatives import FindRepresentatives  # noqa: E402

OPERATORS += [FindRepresentatives]
