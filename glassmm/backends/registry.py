"""Backend registry: built-ins plus entry points in the group ``glassmm.backends``.

Discovery is lazy (the entry points are read, and plugin modules imported, only when a backend
is asked for). ``GLASSMM_BACKEND`` names the backend to use (or a comma-separated order);
otherwise the default order is tried and each skipped backend is reported with its reason.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from glassmm.backends.builtin import TorchBackend, TorchScriptBackend


def _torch_export_backend():
    from glassmm.models.export import TorchExportBackend

    return TorchExportBackend()

log = logging.getLogger("glassmm.backends")
ENTRY_POINT_GROUP = "glassmm.backends"
DEFAULT_ORDER = ("torchscript", "torch")

_BUILTINS = {"torchscript": TorchScriptBackend, "torch": TorchBackend, "torch-export": _torch_export_backend}
_cache: dict[str, Any] | None = None
_failures: dict[str, str] = {}


def _discover() -> dict[str, Any]:
    """Name -> backend factory (built-ins, then plugins; a broken plugin is recorded, not fatal)."""
    global _cache
    if _cache is not None:
        return _cache
    found: dict[str, Any] = dict(_BUILTINS)
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found[ep.name] = ep.load()
        except Exception as exc:  # a plugin that fails to import must not break glassmm
            _failures[ep.name] = f"{type(exc).__name__}: {exc}"
            log.warning("glassmm backend plugin %r failed to load: %s", ep.name, exc)
    _cache = found
    return found


def refresh() -> None:
    """Forget discovered backends (after installing a plugin in a running process)."""
    global _cache
    _cache = None
    _failures.clear()


def get_backend(name: str) -> Any:
    """Instantiate the backend registered as ``name``."""
    found = _discover()
    if name not in found:
        reason = f" (its plugin failed to load: {_failures[name]})" if name in _failures else ""
        raise ValueError(f"unknown backend {name!r}{reason}; known: {', '.join(sorted(found))}")
    factory = found[name]
    return factory() if callable(factory) else factory


def list_backends() -> list[dict[str, Any]]:
    """Every known backend with availability, plus plugins that failed to load."""
    rows = []
    for name in sorted(_discover()):
        try:
            b = get_backend(name)
            ok = bool(b.is_available())
            rows.append({"name": name, "available": ok, "error": None, "origin": type(b).__module__})
        except Exception as exc:
            rows.append({"name": name, "available": False, "error": f"{type(exc).__name__}: {exc}", "origin": None})
    for name, err in _failures.items():
        rows.append({"name": name, "available": False, "error": err, "origin": "entry point"})
    return rows


def available_backends() -> list[str]:
    return [r["name"] for r in list_backends() if r["available"]]


def load_predictor(model: str, backend: str | None = None, **options: Any) -> tuple[Any, list[str]]:
    """Load ``model`` with the first backend that works.

    Order: ``backend`` if given, else ``GLASSMM_BACKEND`` (comma-separated), else the default
    order. Returns the predictor and the list of messages saying what was skipped and why.
    """
    if backend:
        order = [backend]
    elif os.environ.get("GLASSMM_BACKEND"):
        order = [b.strip() for b in os.environ["GLASSMM_BACKEND"].split(",") if b.strip()]
    else:
        order = list(DEFAULT_ORDER)
    skipped: list[str] = []
    for name in order:
        try:
            b = get_backend(name)
        except ValueError as exc:
            skipped.append(f"{name}: {exc}")
            continue
        if not b.is_available():
            skipped.append(f"{name}: not available on this machine")
            continue
        try:
            pred = b.load(model, **options)
        except Exception as exc:
            skipped.append(f"{name}: failed to load {model!r}: {type(exc).__name__}: {exc}")
            continue
        pred.backend_name = name
        for msg in skipped:
            log.info("backend skipped: %s", msg)
        return pred, skipped
    raise RuntimeError("no backend could load the model; tried:\n  " + "\n  ".join(skipped))
