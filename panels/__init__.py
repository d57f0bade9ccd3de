"""Winnow's Python panels for the FiftyOne App."""

from .winnow_panel import WinnowPanel

PANELS = [WinnowPanel]
