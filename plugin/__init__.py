"""The Winnow engine: pure Python over arrays and FiftyOne collections (no App code)."""
