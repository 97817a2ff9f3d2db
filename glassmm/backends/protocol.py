"""The backend protocol (structural typing: no base class to inherit)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class BackendPredictor(Protocol):
    """Callable returned by :meth:`Backend.load`.

    ``__call__(positions (N, 3) reduced, box (3,) reduced, types (N,) int)`` returns a
    :class:`glassmm.models.artifact.Prediction`. ``metadata`` is the model's metadata dict.
    """

    metadata: dict

    def __call__(self, positions: Any, box: Any, types: Any) -> Any: ...


@runtime_checkable
class Backend(Protocol):
    """An inference backend.

    Attributes
    ----------
    name : str
        Registry name (``torch``, ``torchscript``, ``onnxruntime``, ...).
    """

    name: str

    def is_available(self) -> bool:
        """Cheap check (no model loading, no device initialisation beyond a query)."""
        ...

    def load(self, model: str, **options: Any) -> BackendPredictor:
        """Load a bundled model name or artifact path; raise with a clear message on failure."""
        ...
