"""The GlassReporter HDF5 file: its schema, defined once, and the writer that keeps to it.

HDF5 schema (version 2), one file per run, a glassmm frame file (:mod:`glassmm.trajectory`:
types travel with the frames, another process may read it while it grows, a ``kill -9``
leaves every committed frame readable). Per-frame datasets grow along axis 0 (F frames):

==============================  ==============  ==========================================
path                            shape           meaning (reduced LJ units)
==============================  ==============  ==========================================
``step``                        (F,) int64      MD step of the frame (extended last: commits it)
``time``                        (F,)            simulation time (tau)
``positions``                   (F, N, 3) f4    unwrapped positions of the frame
``propensity``                  (F, N) f4       predicted propensity (NaN when skipped)
``temperature_estimate``        (F,)            T-BOTAN estimate (NaN without T head)
``kinetic_temperature``         (F,)            from velocities, dof = d N - d
``thermostat_temperature``      (F,)            integrator setting (NaN for NVE)
``analysis/msd``, ``fs``,       (F,)            against the first frame (``start``) or the
``overlap``                                     previous one (``moving``)
``counters``                    (F, 3) int64    skipped inferences, model errors, non-finite
                                                predictions, so far
``dynamics/sums``               (F, L, B, C)    multiple-origin accumulators after the frame
                                                (``SelfDynamics.state()["block_sums"]``: per lag,
                                                per error-bar block)
==============================  ==============  ==========================================

Fixed datasets: ``types`` (N,) int8, ``box`` (3,), ``reference_positions`` (N, 3) (the first
frame), ``dynamics/lag`` (L,) tau and ``dynamics/lag_steps`` (L,) int64: the lags of the
schedule (:mod:`glassmm.reporters.schedule`). A report writes one row of each per-frame
dataset and nothing else: the I/O per report is the frame plus O(L) numbers.

The averages ``dynamics/msd``, ``fs``, ``overlap``, ``chi4``, ``alpha2``, ``n_samples`` and
``lag`` (lags with samples) are derived on reading from the last frame's table
(:class:`~glassmm.reporters.reader.ReportFile`), through ``SelfDynamics``.

Attributes: ``schema_version``, ``glassmm_file`` ("report"), ``model_metadata`` (JSON),
``backend``, ``box``, ``report_interval``, ``schedule`` (JSON), ``analysis`` (JSON: q,
overlap_a, species, reference, dimensions), ``dynamics_n_selected``, ``types_sha256``,
``frame_datasets``, ``units`` (JSON), and after a blow-up ``blew_up`` (JSON). Every dataset
carries a ``units`` attribute (``sigma``, ``tau``, ``epsilon/k_B``, ``1``, ...).

A frame is complete when every per-frame dataset has it: a reader (and an appending run)
uses the common length, so a frame torn by a crash mid-write is never read as zeros.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from glassmm.trajectory import FrameFile, Topology, check_types, frame_series, write_topology_datasets

SCHEMA_VERSION = 2
#: schema versions read_report understands (version 1 files cannot be appended to)
READABLE_VERSIONS = (1, 2)
#: per-frame scalar series and their dtypes
FRAME_SERIES = (("time", "f8"), ("temperature_estimate", "f8"),
                ("kinetic_temperature", "f8"), ("thermostat_temperature", "f8"))
COUNTERS = ("skipped_inferences", "model_errors", "nonfinite_predictions")
#: reduced LJ unit of each dataset (the ``units`` attribute)
UNITS = {
    "step": "1", "time": "tau", "temperature_estimate": "epsilon/k_B", "kinetic_temperature": "epsilon/k_B",
    "thermostat_temperature": "epsilon/k_B", "positions": "sigma", "propensity": "sigma",
    "reference_positions": "sigma", "analysis/msd": "sigma^2", "analysis/fs": "1", "analysis/overlap": "1",
    "counters": "1 (" + ", ".join(COUNTERS) + ")", "dynamics/lag": "tau", "dynamics/lag_steps": "1",
    "dynamics/sums": "SelfDynamics block accumulators (samples, sums of r^2 [sigma^2], r^4 [sigma^4], F_s, Q, Q^2)",
}
#: derived on reading from ``dynamics/sums`` (SelfDynamics attributes of the same names)
DERIVED = ("dynamics/lag", "dynamics/msd", "dynamics/fs", "dynamics/overlap", "dynamics/chi4",
           "dynamics/alpha2", "dynamics/n_samples")


@dataclass
class Resumed:
    """What an appending reporter needs from the file it continues."""

    frames: int
    last_step: int
    counters: dict[str, int]
    table: np.ndarray | None
    origins: list[tuple[int, np.ndarray]]
    reference: np.ndarray | None
    dropped: dict[str, int]


class ReportWriter:
    """Creates or continues a report file and appends frames to it, committing each one.

    Parameters
    ----------
    path : path
    n_particles : int
    """

    def __init__(self, path: str | Path, n_particles: int) -> None:
        self.path, self.n = Path(path), int(n_particles)
        self.file: FrameFile | None = None

    @property
    def h5(self) -> Any:
        return None if self.file is None else self.file.h5

    def create(self, types: np.ndarray, box: np.ndarray, reference: np.ndarray, attrs: dict[str, Any],
               analyses: Sequence[str], lag_steps: np.ndarray, lag_times: np.ndarray, shape: tuple[int, int]) -> None:
        """A new file with the schema's datasets, empty along the frame axis."""
        n, n_lags = self.n, len(lag_steps)

        def build(h: Any) -> list[str]:
            h.attrs["schema_version"] = SCHEMA_VERSION
            h.attrs["glassmm_file"] = "report"
            for k, v in attrs.items():
                h.attrs[k] = v
            write_topology_datasets(h, types, box)
            h.create_dataset("reference_positions", data=np.asarray(reference, dtype=np.float64))
            h.create_dataset("dynamics/lag", data=np.asarray(lag_times, dtype=np.float64))
            h.create_dataset("dynamics/lag_steps", data=np.asarray(lag_steps, dtype=np.int64))
            names = [frame_series(h, name, dt, UNITS[name]) for name, dt in FRAME_SERIES]
            names.append(frame_series(h, "propensity", "f4", UNITS["propensity"], (n,)))
            names.append(frame_series(h, "positions", "f4", UNITS["positions"], (n, 3)))
            names += [frame_series(h, f"analysis/{a}", "f8", UNITS[f"analysis/{a}"]) for a in analyses]
            names.append(frame_series(h, "counters", "i8", UNITS["counters"], (len(COUNTERS),)))
            names.append(frame_series(h, "dynamics/sums", "f8", UNITS["dynamics/sums"], (n_lags, *shape)))
            for name in ("reference_positions", "dynamics/lag", "dynamics/lag_steps"):
                h[name].attrs["units"] = UNITS[name]
            return names + [frame_series(h, "step", "i8", UNITS["step"])]

        self.file = FrameFile.create(self.path, build)

    def open_existing(self, through_step: int | None, origins: Any, max_origins: int,
                      types: np.ndarray | None = None) -> Resumed:
        """Continue a file: cut to its complete frames at or before ``through_step``; what to resume from.

        ``origins(step) -> bool`` says which frames are time origins; the last ``max_origins``
        of them come back with their positions (as stored: float32, which the analysis uses too).
        """
        fr, dropped = FrameFile.open(self.path, through_step=through_step)
        self.file = fr
        h, k = fr.h5, fr.frames
        try:
            if int(h.attrs.get("schema_version", -1)) != SCHEMA_VERSION:
                raise ValueError(f"{self.path}: a report of schema {h.attrs.get('schema_version')}, "
                                 f"not {SCHEMA_VERSION}; cannot append to it (start a new file)")
            if h["types"].shape[0] != self.n:
                raise ValueError(f"{self.path} has {h['types'].shape[0]} particles; this system has {self.n}")
            if types is not None:
                check_types(Topology(h["types"][()], h["box"][()], str(h.attrs["types_sha256"]), str(self.path)),
                            types, "the system being appended")
        except BaseException:
            self.close()
            raise
        steps = h["step"][:k]
        picks = [i for i in range(k) if origins(int(steps[i]))][-max_origins:]
        if k and (not picks or picks[-1] != k - 1):
            picks.append(k - 1)  # the previous frame, for the 'moving' reference
        frames = [(int(steps[i]), h["positions"][i].astype(np.float64)) for i in picks]
        counters = h["counters"][k - 1] if k else np.zeros(len(COUNTERS), dtype=np.int64)
        return Resumed(frames=k, last_step=int(steps[-1]) if k else -1,
                       counters={c: int(v) for c, v in zip(COUNTERS, counters)},
                       table=h["dynamics/sums"][k - 1] if k else None, origins=frames,
                       reference=h["positions"][0].astype(np.float64) if k else None, dropped=dropped)

    def write_reference(self, reference: np.ndarray) -> None:
        """The first frame of a file that had none (in place: allowed while others read)."""
        self.file.write("reference_positions", np.asarray(reference, dtype=np.float64))

    def append(self, row: dict[str, Any]) -> int:
        """Append one frame (every per-frame dataset by name, ``analysis/...`` included); returns the frame count."""
        return self.file.append(row)

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            try:
                self.file.close()
            finally:
                self.file = None


def analysis_attrs(q: float, overlap_a: float, species: int | None, reference: str, dimensions: int = 3) -> str:
    """The ``analysis`` attribute: the parameters of the per-frame series and the dynamics, as JSON."""
    return json.dumps({"q": q, "overlap_a": overlap_a, "species": species, "reference": reference,
                       "dimensions": dimensions})
