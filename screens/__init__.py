"""Screens: the dashboard and its modals. They assign widget data; they never do I/O."""
