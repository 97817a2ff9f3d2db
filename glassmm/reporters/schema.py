"""The GlassReporter HDF5 file: its schema, defined once, and the writer that keeps to it.

HDF5 schema (version 1), one file per run; every dataset grows along axis 0 (frames):

==============================  ============  ==========================================
path                            shape         meaning (reduced LJ units)
==============================  ============  ==========================================
``step``                        (F,) int64    MD step of the frame
``time``                        (F,)          simulation time (tau)
``positions``                   (F, N, 3) f4  unwrapped positions of the frame
``propensity``                  (F, N) f4     predicted propensity (NaN when skipped)
``temperature_estimate``        (F,)          T-BOTAN estimate (NaN without T head)
``kinetic_temperature``         (F,)          from velocities, dof = d N - d
``thermostat_temperature``      (F,)          integrator setting (NaN for NVE)
``analysis/msd``, ``fs``,       (F,)          against the reference frame (``start``) or
``overlap``                                   the previous report (``moving``)
``dynamics/lag``, ``msd``,      (L,)          multiple-origin averages over all report
``fs``, ``overlap``, ``chi4``,                pairs so far (rewritten at every report)
``n_samples``
``origins/time``, ``positions`` (O,), (O, N, 3)  the time origins of those averages
``types``                       (N,) int8
``reference_positions``         (N, 3)        positions at the first report
==============================  ============  ==========================================

Attributes: ``schema_version``, ``model_metadata`` (JSON), ``box``, ``report_interval``,
``skipped_inferences``, ``model_errors``, ``backend``, ``analysis`` (JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

SCHEMA_VERSION = 1
#: per-frame scalar series and their dtypes
FRAME_SERIES = (("step", "i8"), ("time", "f8"), ("temperature_estimate", "f8"),
                ("kinetic_temperature", "f8"), ("thermostat_temperature", "f8"))


class ReportWriter:
    """Creates or continues a report file and appends frames to it, flushing each one.

    Parameters
    ----------
    path : path
    n_particles : int
    """

    def __init__(self, path: str | Path, n_particles: int) -> None:
        self.path, self.n = Path(path), int(n_particles)
        self.h5: Any = None

    def create(self, types: np.ndarray, reference: np.ndarray, attrs: dict[str, Any], analyses: Sequence[str]) -> None:
        """A new file with the schema's datasets, empty along the frame axis."""
        import h5py

        self.path.parent.mkdir(parents=True, exist_ok=True)
        h = self.h5 = h5py.File(self.path, "w")
        n = self.n
        h.attrs["schema_version"] = SCHEMA_VERSION
        for k, v in attrs.items():
            h.attrs[k] = v
        h.create_dataset("types", data=np.asarray(types).astype(np.int8))
        h.create_dataset("reference_positions", data=reference)
        for name, dt in FRAME_SERIES:
            h.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dt)
        h.create_dataset("propensity", shape=(0, n), maxshape=(None, n), dtype="f4", chunks=(1, n))
        h.create_dataset("positions", shape=(0, n, 3), maxshape=(None, n, 3), dtype="f4", chunks=(1, n, 3))
        for name in analyses:
            h.create_dataset(f"analysis/{name}", shape=(0,), maxshape=(None,), dtype="f8")
        h.create_dataset("origins/time", shape=(0,), maxshape=(None,), dtype="f8")
        h.create_dataset("origins/positions", shape=(0, n, 3), maxshape=(None, n, 3), dtype="f8", chunks=(1, n, 3))
        h.flush()

    def open_existing(self) -> dict[str, Any]:
        """Continue a file; returns what the reporter needs to resume (last step, origins, counters)."""
        import h5py

        h = self.h5 = h5py.File(self.path, "a")
        if int(h.attrs.get("schema_version", -1)) != SCHEMA_VERSION:
            raise ValueError(f"{self.path}: not a glassmm report file of schema {SCHEMA_VERSION}")
        if h["types"].shape[0] != self.n:
            raise ValueError(f"{self.path} has {h['types'].shape[0]} particles; this system has {self.n}")
        return {
            "last_step": int(h["step"][-1]) if h["step"].shape[0] else -1,
            "reference": h["reference_positions"][()],
            "frames": h["step"].shape[0],
            "skipped": int(h.attrs.get("skipped_inferences", 0)),
            "model_errors": int(h.attrs.get("model_errors", 0)),
            "origins": [(float(t), p) for t, p in zip(h["origins/time"][()], h["origins/positions"][()])],
        }

    def append(self, row: dict[str, float], positions: np.ndarray, propensity: np.ndarray,
               analysis: dict[str, float]) -> int:
        """Append one frame; returns the number of frames now in the file."""
        h = self.h5
        k = h["step"].shape[0]
        for name, _ in FRAME_SERIES:
            h[name].resize((k + 1,))
            h[name][k] = row[name]
        h["propensity"].resize((k + 1, propensity.shape[0]))
        h["propensity"][k] = propensity
        h["positions"].resize((k + 1, *positions.shape))
        h["positions"][k] = positions
        for name, value in analysis.items():
            h[f"analysis/{name}"].resize((k + 1,))
            h[f"analysis/{name}"][k] = value
        return k + 1

    def write_origins(self, origins: list[tuple[float, np.ndarray]], rewrite: bool) -> None:
        """Store the time origins; only the newest is written unless the window moved (``rewrite``)."""
        o = self.h5["origins"]
        m = len(origins)
        o["time"].resize((m,))
        o["time"][:] = [t for t, _ in origins]
        o["positions"].resize((m, self.n, 3))
        if rewrite:
            o["positions"][:] = np.stack([p for _, p in origins])
        else:
            o["positions"][m - 1] = origins[-1][1]

    def write_dynamics(self, dynamics: Any) -> None:
        """Replace the multiple-origin averages with those of ``dynamics`` (a SelfDynamics)."""
        h = self.h5
        if "dynamics" in h:
            del h["dynamics"]
        try:
            lag = dynamics.times
        except RuntimeError:  # no samples yet (first frame)
            return
        g = h.create_group("dynamics")
        g["lag"], g["msd"], g["fs"], g["overlap"] = lag, dynamics.msd, dynamics.fs, dynamics.overlap
        g["chi4"], g["n_samples"] = dynamics.chi4, dynamics.n_samples

    def flush(self, skipped: int, model_errors: int) -> None:
        self.h5.attrs["skipped_inferences"] = skipped
        self.h5.attrs["model_errors"] = model_errors
        self.h5.flush()

    def close(self, skipped: int, model_errors: int) -> None:
        if self.h5 is not None:
            self.flush(skipped, model_errors)
            self.h5.close()
            self.h5 = None


def analysis_attrs(q: float, overlap_a: float, species: int | None, reference: str) -> str:
    """The ``analysis`` attribute: the parameters of the per-frame series, as JSON."""
    return json.dumps({"q": q, "overlap_a": overlap_a, "species": species, "reference": reference})
