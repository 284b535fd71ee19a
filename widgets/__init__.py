"""Widgets: one pane each, drawing a slice of ClusterState. No I/O here.

This package's ``__init__`` imports nothing, so the pure renderers (``rows``, ``format``,
``table_model``) load without Textual.
"""
