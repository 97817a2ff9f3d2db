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

``dynamics/sums`` (L, 6) holds the raw accumulators behind those averages (samples and the
sums of r^2, r^4, F_s, Q, Q^2) so that an appended run continues them exactly.

Attributes: ``schema_version``, ``model_metadata`` (JSON), ``box``, ``report_interval``,
``schedule`` (JSON: ``linear`` or ``log`` and its parameters), ``skipped_inferences``,
``model_errors``, ``nonfinite_predictions``, ``backend``, ``analysis`` (JSON), ``units`` (JSON).
Every dataset carries a ``units`` attribute (``sigma``, ``tau``, ``epsilon/k_B``, ``1``, ...).

A frame is complete when every per-frame dataset has it: a reader (and an appending run)
uses the common length, so a frame torn by a crash mid-write is never read as zeros.
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
#: reduced LJ unit of each dataset (the ``units`` attribute)
UNITS = {
    "step": "1", "time": "tau", "temperature_estimate": "epsilon/k_B", "kinetic_temperature": "epsilon/k_B",
    "thermostat_temperature": "epsilon/k_B", "positions": "sigma", "propensity": "sigma",
    "reference_positions": "sigma", "types": "1 (0 = A, 1 = B)", "analysis/msd": "sigma^2", "analysis/fs": "1",
    "analysis/overlap": "1", "dynamics/lag": "tau", "dynamics/msd": "sigma^2", "dynamics/fs": "1",
    "dynamics/overlap": "1", "dynamics/chi4": "1", "dynamics/n_samples": "1", "dynamics/sums": "mixed (see schema)",
    "origins/time": "tau", "origins/positions": "sigma",
}
UNIT_SYSTEM = {"length": "sigma_AA (= 1 nm in OpenMM)", "time": "tau (= 1 ps)",
               "energy": "epsilon_AA (= 1 kJ/mol)", "temperature": "epsilon_AA/k_B (= 120.2722 K)"}
#: datasets with one row per frame
FRAME_DATASETS = tuple(n for n, _ in FRAME_SERIES) + ("propensity", "positions")


def _set_units(h: Any, group: str = "") -> None:
    """The ``units`` attribute of every dataset present (under ``group`` only, when given)."""
    for name, unit in UNITS.items():
        if name.startswith(group) and name in h:
            h[name].attrs["units"] = unit


def per_frame_datasets(h: Any) -> list[str]:
    """Names of the datasets with one row per frame present in an open report."""
    return [k for k in FRAME_DATASETS if k in h] + [f"analysis/{k}" for k in h.get("analysis", {})]


def complete_frames(h: Any) -> int:
    """Frames that every per-frame dataset holds (a frame torn by a crash is not one)."""
    names = per_frame_datasets(h)
    return min(h[k].shape[0] for k in names) if names else 0


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
        h.attrs["units"] = json.dumps(UNIT_SYSTEM)
        _set_units(h)
        h.flush()

    def open_existing(self, restart_step: int | None = None) -> dict[str, Any]:
        """Continue a file; returns what the reporter needs to resume (last step, counters, accumulators).

        Every per-frame dataset is cut to the frames that all of them hold (a torn last frame
        is dropped) and, with ``restart_step``, to the frames before it.
        """
        import h5py

        h = self.h5 = h5py.File(self.path, "a")
        if int(h.attrs.get("schema_version", -1)) != SCHEMA_VERSION:
            raise ValueError(f"{self.path}: not a glassmm report file of schema {SCHEMA_VERSION}")
        if h["types"].shape[0] != self.n:
            raise ValueError(f"{self.path} has {h['types'].shape[0]} particles; this system has {self.n}")
        per_frame = per_frame_datasets(h)
        complete = complete_frames(h)
        steps = h["step"][:complete]
        # Frames at or after the restart step were written by a run that went on past the
        # checkpoint this run restarts from: they are replaced, not kept beside the new ones.
        keep = int(np.searchsorted(steps, restart_step, side="left")) if restart_step is not None else complete
        cut = {k: h[k].shape[0] - keep for k in per_frame if h[k].shape[0] != keep}
        for k in cut:
            h[k].resize((keep, *h[k].shape[1:]))
        dyn = None
        if "dynamics/sums" in h and not cut and int(h["dynamics"].attrs.get("frames", -1)) == keep:
            g = h["dynamics"]
            dyn = {"times": g["lag"][()], "sums": g["sums"][()], "n_selected": int(g.attrs["n_selected"])}
        return {
            "last_step": int(h["step"][keep - 1]) if keep else -1,
            "reference": h["reference_positions"][()],
            "frames": keep,
            "dropped": cut,
            "skipped": int(h.attrs.get("skipped_inferences", 0)),
            "model_errors": int(h.attrs.get("model_errors", 0)),
            "nonfinite_predictions": int(h.attrs.get("nonfinite_predictions", 0)),
            "dynamics": dyn,
            "origins": None if cut else [(float(t), p) for t, p in zip(h["origins/time"][()], h["origins/positions"][()])],
            "schedule": json.loads(h.attrs["schedule"]) if "schedule" in h.attrs else None,
        }

    def frames(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows ``start:stop`` of a per-frame dataset (e.g. to rebuild accumulators on append)."""
        return self.h5[name][start:stop]

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

    def write_dynamics(self, dynamics: Any, frames: int) -> None:
        """Replace the multiple-origin averages with those of ``dynamics`` (a SelfDynamics over ``frames`` frames)."""
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
        state = dynamics.state()
        g["sums"] = state["sums"]
        g.attrs["n_selected"] = int(state["n_selected"])
        g.attrs["frames"] = int(frames)
        _set_units(h, "dynamics/")  # the group is new at every report; the rest keep theirs

    def flush(self, counters: dict[str, int]) -> None:
        """Write the counters (skipped inferences, model errors, ...) and flush to disk."""
        for k, v in counters.items():
            self.h5.attrs[k] = int(v)
        self.h5.flush()

    def close(self, counters: dict[str, int]) -> None:
        if self.h5 is not None:
            try:
                self.flush(counters)
            finally:
                self.h5.close()
                self.h5 = None


def analysis_attrs(q: float, overlap_a: float, species: int | None, reference: str) -> str:
    """The ``analysis`` attribute: the parameters of the per-frame series, as JSON."""
    return json.dumps({"q": q, "overlap_a": overlap_a, "species": species, "reference": reference})
