"""Reading GlassReporter files: :class:`ReportFile` (arrays on access) and :func:`read_report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from glassmm.reporters.schema import COUNTERS, DERIVED, READABLE_VERSIONS
from glassmm.trajectory import complete_frames, frame_names, open_for_reading, refresh


class ReportFile:
    """A GlassReporter HDF5 file opened for reading; datasets are read when indexed.

    Parameters
    ----------
    path : path
        A file written by :class:`~glassmm.reporters.GlassReporter`, possibly while another
        process is writing it: it shows the frames committed when it was opened, and
        :meth:`refresh` moves on to those committed since, so every array read between
        refreshes holds the same frames.

    Notes
    -----
    ``report["time"]`` returns a whole dataset as numpy (see the schema in
    :mod:`glassmm.reporters.schema` for names, shapes and units), ``report.row("positions", k)``
    one frame without reading the others, ``report.attrs`` the attributes (``box``, and the
    counters ``skipped_inferences``, ``model_errors``, ``nonfinite_predictions`` as of the last
    frame), ``report.model_metadata`` the model's metadata, ``report.dynamics()`` the
    multiple-origin dynamics as a :class:`~glassmm.analysis.SelfDynamics`. ``dynamics/fs`` and
    the other averages are computed from the last frame's accumulators. Per-frame datasets
    are cut to the frames every one of them holds, so a frame torn by a crash is not read.
    Use as a context manager, or call :meth:`close`.

    Examples
    --------
    >>> with glassmm.read_report("run.h5") as r:               # doctest: +SKIP
    ...     t, fs = r["dynamics/lag"], r["dynamics/fs"]
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._h = open_for_reading(self.path)
        except ValueError as exc:
            raise ValueError(f"{path}: not a readable HDF5 report ({exc})") from None
        self._n: int | None = None
        self.version = int(self._h.attrs.get("schema_version", -1))
        if self.version not in READABLE_VERSIONS or "glassmm_file" in self._h.attrs and \
                self._h.attrs["glassmm_file"] != "report":
            self._h.close()
            raise ValueError(f"{path}: not a glassmm report file (schema {READABLE_VERSIONS[-1]})")

    # ------------------------------------------------------------------ frames
    def refresh(self) -> int:
        """See the frames a live writer committed since the file was opened (or last refreshed); returns their count."""
        refresh(self._h)
        self._n = complete_frames(self._h)
        return self._n

    def _frames(self) -> int:
        return self.refresh() if self._n is None else self._n

    def __len__(self) -> int:
        """Complete frames shown (those committed when opened or last refreshed)."""
        return self._frames()

    def __getitem__(self, key: str) -> np.ndarray:
        if self.version >= 2 and key in DERIVED:
            return self._derived(key)
        if key not in self._h:
            raise KeyError(f"{self.path} has no dataset {key!r}; it has {self.keys()}")
        if key in frame_names(self._h):
            n = self._frames()  # (refresh before taking the dataset: a handle taken before a refresh reads torn)
            return self._h[key][:n]
        return self._h[key][()]

    def __contains__(self, key: str) -> bool:
        if self.version >= 2 and key in DERIVED:
            return self.dynamics() is not None
        return key in self._h

    def row(self, key: str, index: int) -> np.ndarray:
        """One frame of a per-frame dataset (e.g. ``positions``) without reading the others."""
        n = self._frames()
        if not -n <= index < n:
            raise IndexError(f"frame {index} out of range: {self.path} holds {n} complete frames")
        return self._h[key][index % n]

    # ------------------------------------------------------------------ dynamics
    def dynamics(self, frame: int = -1) -> Any:
        """The multiple-origin dynamics after a frame (last by default), as a SelfDynamics; None before any lag."""
        from glassmm.reporters.dynamics import dynamics_from_table

        if self.version < 2:
            raise ValueError(f"{self.path}: a schema-1 report stores only its last averages ({DERIVED[1:]})")
        n = self._frames()
        if n == 0:
            return None
        table = self._h["dynamics/sums"][frame % n]
        a = json.loads(self._h.attrs["analysis"])
        return dynamics_from_table(self._h["dynamics/lag"][()], table, int(self._h.attrs["dynamics_n_selected"]),
                                   q=a["q"], overlap_a=a["overlap_a"], species=a["species"],
                                   dimensions=a.get("dimensions", 3))

    def _derived(self, key: str) -> np.ndarray:
        sd = self.dynamics()
        if sd is None:
            raise KeyError(f"{self.path}: no multiple-origin dynamics yet ({key} needs two frames at a lag)")
        name = key.split("/", 1)[1]
        return np.asarray(sd.times if name == "lag" else getattr(sd, name))

    # ------------------------------------------------------------------ metadata
    @property
    def model_metadata(self) -> dict | None:
        return json.loads(self._h.attrs["model_metadata"])

    @property
    def attrs(self) -> dict[str, Any]:
        """The file's attributes, with the counters as of the last frame."""
        out = dict(self._h.attrs)
        if "counters" in self._h:
            n = self._frames()
            last = self._h["counters"][n - 1] if n else np.zeros(len(COUNTERS), dtype=np.int64)
            out.update({c: int(v) for c, v in zip(COUNTERS, last)})
        return out

    def keys(self) -> list[str]:
        out: list[str] = []
        self._h.visit(lambda k: out.append(k) if hasattr(self._h[k], "shape") else None)
        if self.version >= 2:
            out += [k for k in DERIVED if k not in out]
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

    Works while the reporter is still writing it (HDF5 SWMR): each access sees the frames
    committed so far.

    Raises
    ------
    ValueError
        When the file is not readable HDF5 or not a glassmm report.
    """
    return ReportFile(path)
