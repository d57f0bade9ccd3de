"""Winnow's FiftyOne operators: one thin module per operator (form, engine call, report)."""

from .compute_embeddings import ComputeEmbeddings

OPERATORS = [ComputeEmbeddings]

from .compute_cam import ComputeCam  # noqa: E402
from .extract_topics import ExtractTopics  # noqa: E402
from .tag_with_pretrained import TagWithPretrained  # noqa: E402

OPERATORS += [ComputeCam, TagWithPretrained, ExtractTopics]
