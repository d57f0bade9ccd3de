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

from .accept_suggestions import AcceptSuggestions  # noqa: E402
from .find_label_issues import FindLabelIssues  # noqa: E402
from .predict_labels import PredictLabels  # noqa: E402

OPERATORS += [FindLabelIssues, PredictLabels, AcceptSuggestions]

from .find_representatives import FindRepresentatives  # noqa: E402

OPERATORS += [FindRepresentatives]

from .find_duplicates import FindDuplicates  # noqa: E402
from .find_image_issues import FindImageIssues  # noqa: E402
from .find_leaks import FindLeaks  # noqa: E402

OPERATORS += [FindImageIssues, FindDuplicates, FindLeaks]

from .fine_tune import FineTune  # noqa: E402

OPERATORS += [FineTune]
