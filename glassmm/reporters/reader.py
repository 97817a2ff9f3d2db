"""Reading GlassReporter files: :class:`ReportFile` (arrays on access) and :func:`read_report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from glassmm.reporters.schema import SCHEMA_VERSION


class ReportFile:
    """Read a GlassReporter HDF5 file (all arrays loaded on access)."""

    def __init__(self, path: str | Path) -> None:
        import h5py

        self.path = Path(path)
        try:
            self._h = h5py.File(self.path, "r")
        except OSError as exc:
            raise ValueError(f"{path}: not a readable HDF5 report ({exc})") from exc
        if int(self._h.attrs.get("schema_version", -1)) != SCHEMA_VERSION:
            raise ValueError(f"{path}: not a glassmm report file (schema {SCHEMA_VERSION})")

    def __getitem__(self, key: str) -> np.ndarray:
        return self._h[key][()]

    def __contains__(self, key: str) -> bool:
        return key in self._h

    def row(self, key: str, index: int) -> np.ndarray:
        """One frame of a per-frame dataset (e.g. ``positions``) without reading the others."""
        return self._h[key][index]

    @property
    def model_metadata(self) -> dict | None:
        return json.loads(self._h.attrs["model_metadata"])

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self._h.attrs)

    def keys(self) -> list[str]:
        out: list[str] = []
        self._h.visit(lambda k: out.append(k) if hasattr(self._h[k], "shape") else None)
        return out

    def close(self) -> None:
        self._h.close()

    def __enter__(self) -> "ReportFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def plot(self, prefix: str | Path, frame: int = -1) -> list[str]:
        """PNG plots: propensity field of a frame (slab projection), temperatures vs time, analyses."""
        from glassmm.reporters.plots import plot_report

        return plot_report(self, prefix, frame)


def read_report(path: str | Path) -> ReportFile:
    """Open a GlassReporter HDF5 file for reading (use as a context manager, or call close())."""
    return ReportFile(path)
