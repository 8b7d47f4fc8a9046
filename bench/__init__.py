"""The scale benchmark of issue #7: ``python -m bench`` (see bench/README.md)."""
