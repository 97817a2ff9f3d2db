"""Reading GlassReporter files: :class:`ReportFile` (arrays on access) and :func:`read_report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from glassmm.reporters.schema import SCHEMA_VERSION, complete_frames, per_frame_datasets


class ReportFile:
    """A GlassReporter HDF5 file opened for reading; datasets are read when indexed.

    Parameters
    ----------
    path : path
        A file written by :class:`~glassmm.reporters.GlassReporter` (possibly still being
        written: every finished frame is flushed).

    Notes
    -----
    ``report["time"]`` returns a whole dataset as numpy (see the schema in
    :mod:`glassmm.reporters.schema` for names, shapes and units), ``report.row("positions", k)``
    one frame without reading the others, ``report.attrs`` the attributes (``box``,
    ``skipped_inferences``, ...), ``report.model_metadata`` the model's metadata. Per-frame
    datasets are cut to the frames every one of them holds, so a frame torn by a crash is
    not read. Use as a context manager, or call :meth:`close`.

    Examples
    --------
    >>> with glassmm.read_report("run.h5") as r:               # doctest: +SKIP
    ...     t, fs = r["dynamics/lag"], r["dynamics/fs"]
    """

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
        if key not in self._h:
            raise KeyError(f"{self.path} has no dataset {key!r}; it has {self.keys()}")
        if key in per_frame_datasets(self._h):
            return self._h[key][: complete_frames(self._h)]
        return self._h[key][()]

    def __contains__(self, key: str) -> bool:
        return key in self._h

    def row(self, key: str, index: int) -> np.ndarray:
        """One frame of a per-frame dataset (e.g. ``positions``) without reading the others."""
        n = complete_frames(self._h)
        if not -n <= index < n:
            raise IndexError(f"frame {index} out of range: {self.path} holds {n} complete frames")
        return self._h[key][index % n]

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
    """Open a GlassReporter HDF5 file for reading: a :class:`ReportFile` (a context manager).

    Raises
    ------
    ValueError
        When the file is not readable HDF5 or not a glassmm report.
    """
    return ReportFile(path)
