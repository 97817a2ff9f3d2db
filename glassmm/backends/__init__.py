"""Inference backends: a small protocol, built-ins, and plugins found by entry point.

A backend turns a model (bundled name or artifact path) into a predictor
``predictor(positions, box, types) -> glassmm.models.artifact.Prediction``. Vendors ship
a separate package that registers a class or factory under the entry-point group
``glassmm.backends``; nothing in glassmm changes.
"""

from glassmm.backends.protocol import Backend, BackendPredictor
from glassmm.backends.registry import available_backends, get_backend, list_backends, load_predictor

__all__ = ["Backend", "BackendPredictor", "available_backends", "get_backend", "list_backends", "load_predictor"]
