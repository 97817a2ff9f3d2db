"""Lazy optional imports that fail with an install hint (openmm-ml style)."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise ImportError saying which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pkg = package or module
        raise ImportError(f"{module} is needed here but is not installed: pip install {pkg}") from exc
