"""A module imported on first use: the SSH stack (asyncssh and the cryptography it loads, ~15 MB)
costs nothing to a cockpit whose nodes are all read from Prometheus and that runs no action."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_import(name: str) -> ModuleType:
    """``name``, loaded when one of its attributes is first read (``importlib.util.LazyLoader``).
    Reading one at a module's top level (a base class, a tuple of its exceptions) loads it there:
    such uses belong in a function."""
    found = sys.modules.get(name)
    if found is not None:
        return found
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
