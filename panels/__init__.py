"""Winnow's Python panels for the FiftyOne App."""

PANELS = []
