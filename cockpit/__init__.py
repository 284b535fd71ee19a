"""gpu-cockpit: a keyboard-driven terminal cockpit for GPU clusters."""

__version__ = "0.1.0"
