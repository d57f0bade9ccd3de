"""Winnow's FiftyOne operators: one thin module per operator (form, engine call, report)."""

from .compute_embeddings import ComputeEmbeddings

OPERATORS = [ComputeEmbeddings]
