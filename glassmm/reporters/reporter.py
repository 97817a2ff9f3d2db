"""GlassReporter: live propensity and temperature estimates, and on-the-fly dynamics, for OpenMM.

Usage::

    simulation.reporters.append(GlassReporter("run.h5", reportInterval=1000, model="botan-ka-T0.44"))

Follows OpenMM 8.6's reporter protocol: ``describeNextReport`` returns a dict with
``'periodic': False`` (KA atoms are their own molecules: wrapping would break
displacements), positions arrive as numpy arrays, set-up is deferred to the first report,
output is flushed at every report, and ``close()`` / ``with`` end it.

Model inference runs in a worker thread behind a bounded queue so MD continues; when the
worker falls behind, ``on_full="wait"`` blocks MD and ``"skip"`` drops that frame's
inference and counts it. Frames are written in step order by the worker, each labelled
with its step and time.

HDF5 schema (version 1), one file per run; every dataset grows along axis 0 (frames):

==============================  ============  ==========================================
path                            shape         meaning (reduced LJ units)
==============================  ============  ==========================================
``step``                        (F,) int64    MD step of the frame
``time``                        (F,)          simulation time (tau)
``positions``                   (F, N, 3) f4  unwrapped positions of the frame
``propensity``                  (F, N) f4     predicted propensity (NaN when skipped)
``temperature_estimate``        (F,)          T-BOTAN estimate (NaN without T head)
``kinetic_temperature``         (F,)          from velocities, dof = 3N - 3
``thermostat_temperature``      (F,)          integrator setting (NaN for NVE)
``analysis/msd``, ``fs``,       (F,)          against the reference frame (``start``) or
``overlap``                                   the previous report (``moving``)
``dynamics/lag``, ``msd``,      (L,)          multiple-origin averages over all report
``fs``, ``overlap``, ``chi4``,                pairs so far (rewritten at every report)
``n_samples``
``types``                       (N,) int8
``reference_positions``         (N, 3)        positions at the first report
==============================  ============  ==========================================

Attributes: ``schema_version``, ``model_metadata`` (JSON), ``box``, ``report_interval``,
``skipped_inferences``, ``model_errors``, ``backend``.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

log = logging.getLogger("glassmm.reporter")
SCHEMA_VERSION = 1
_ANALYSES = ("msd", "fs", "overlap")


class SimulationBlewUp(RuntimeError):
    """Raised when positions become non-finite; the report file is left readable."""


class GlassReporter:
    """OpenMM reporter that streams snapshots to a BOTAN/T-BOTAN model and analyses dynamics.

    Parameters
    ----------
    file : path
        HDF5 output (created, or appended to when ``append``).
    reportInterval : int
        Steps between reports.
    model : str, optional
        Bundled model name or artifact path; None records only the analyses.
    backend : str, optional
        Backend name (default: ``GLASSMM_BACKEND`` or the default order).
    device : str
        Torch device for the built-in backends.
    analyses : sequence of {"msd", "fs", "overlap"}
        Per-frame series; chi_4 comes with the multiple-origin dynamics.
    reference : {"start", "moving"}
        Per-frame series against the first report or the previous report.
    q : float (reduced), overlap_a : float (reduced), species : int or None
        Parameters of F_s, the overlap and the particles analysed (0 = A).
    asynchronous : bool
        Run the model in a worker thread (default) or inline.
    queue_size : int
        Frames waiting for the worker before ``on_full`` applies.
    on_full : {"wait", "skip"}
    append : bool
        Continue an existing file: frames at or before its last step are not written again.
    strict : bool
        Re-raise model errors instead of logging them and carrying on.
    system : object with ``types`` (e.g. KobAndersen), optional
        Lets the model be checked against the system at construction.
    max_origins : int
        Report frames kept as time origins for the multiple-origin dynamics.
    torch_threads : int, optional
        Threads for the inference worker (fewer leaves more cores to OpenMM).
    backend_options : dict, optional
        Passed to the backend's ``load`` (e.g. ``{"dtype": "bfloat16"}`` for ``torch``).
    """

    def __init__(
        self,
        file: str | Path,
        reportInterval: int,
        model: str | None = None,
        backend: str | None = None,
        device: str = "cpu",
        analyses: Sequence[str] = _ANALYSES,
        reference: str = "start",
        q: float = 7.25,
        overlap_a: float = 0.3,
        species: int | None = 0,
        asynchronous: bool = True,
        queue_size: int = 2,
        on_full: str = "wait",
        append: bool = False,
        strict: bool = False,
        system: Any = None,
        max_origins: int = 50,
        torch_threads: int | None = None,
        backend_options: dict | None = None,
    ) -> None:
        if int(reportInterval) <= 0:
            raise ValueError(f"reportInterval must be a positive number of steps; got {reportInterval}")
        bad = [a for a in analyses if a not in _ANALYSES]
        if bad:
            raise ValueError(f"unknown analyses {bad}; choose from {_ANALYSES}")
        if reference not in ("start", "moving"):
            raise ValueError(f"reference must be 'start' or 'moving'; got {reference!r}")
        if on_full not in ("wait", "skip"):
            raise ValueError(f"on_full must be 'wait' or 'skip'; got {on_full!r}")
        self.file = Path(file)
        self._interval = int(reportInterval)
        self.analyses, self.reference, self.q, self.overlap_a, self.species = tuple(analyses), reference, q, overlap_a, species
        self.asynchronous, self.queue_size, self.on_full = asynchronous, int(queue_size), on_full
        self.append, self.strict, self.max_origins = append, strict, int(max_origins)
        self.torch_threads = torch_threads
        self.predictor = None
        self.backend_messages: list[str] = []
        if model is not None:
            from glassmm.backends import load_predictor

            opts = {"device": device, **(backend_options or {})}
            self.predictor, self.backend_messages = load_predictor(model, backend=backend, **opts)
            if self.predictor.needs_inherent:
                raise ValueError(f"model {model!r} needs inherent structures (inputs "
                                 f"{self.predictor.metadata.get('inputs')}); the reporter needs a TS model")
            if system is not None:
                types = np.asarray(system.types)
                self.predictor.check_system(len(types), types, getattr(system, "dimensions", 3))
        self._h5 = None
        self._queue: queue.Queue | None = None
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self.skipped = 0
        self.model_errors = 0
        self.frames_written = 0
        self._last_step = -1
        self._closed = False

    # ------------------------------------------------------------------ OpenMM protocol
    def describeNextReport(self, simulation: Any) -> dict[str, Any]:
        steps = self._interval - simulation.currentStep % self._interval
        return {"steps": steps, "periodic": False, "include": ["positions", "velocities"]}

    def report(self, simulation: Any, state: Any) -> None:
        if self._closed:
            raise RuntimeError("GlassReporter is closed")
        if self._error is not None:  # a strict-mode failure in the worker
            err, self._error = self._error, None
            raise err
        import openmm.unit as u

        step = int(simulation.currentStep)
        pos = np.asarray(state.getPositions(asNumpy=True).value_in_unit(u.nanometer), dtype=np.float64)
        if self._h5 is None:
            self._setup(simulation, state, pos)
        if step <= self._last_step:
            return  # restarted run: this frame is already in the file
        if not np.all(np.isfinite(pos)):
            n_bad = int(np.sum(~np.isfinite(pos).all(axis=1)))
            self.close()
            raise SimulationBlewUp(
                f"non-finite positions for {n_bad} particles at step {step}: the simulation blew up. "
                f"{self.file} holds every frame up to step {self._last_step}. Reduce the timestep, "
                "minimise the starting configuration, or check the temperature."
            )
        vel = np.asarray(state.getVelocities(asNumpy=True).value_in_unit(u.nanometer / u.picosecond))
        n = len(pos)
        t_kin = float(np.sum(vel * vel) / (3 * n - 3))  # m = 1
        frame = {
            "step": step,
            "time": float(state.getTime().value_in_unit(u.picosecond)),
            "kinetic_temperature": t_kin,
            "thermostat_temperature": self._thermostat_T(simulation),
            **self._analyse(pos),
        }
        self._last_step = step
        self._submit(frame, pos)

    # ------------------------------------------------------------------ set-up
    def _setup(self, simulation: Any, state: Any, pos: np.ndarray) -> None:
        import h5py

        from glassmm import units

        system = simulation.system
        n = system.getNumParticles()
        types = _types_from_system(system)
        box = units.box_from_openmm(state.getPeriodicBoxVectors())
        self._box = box
        self._types = types
        self._sel = np.ones(n, bool) if self.species is None else (types == self.species)
        if self.predictor is not None:
            dims = 2 if np.allclose(pos[:, 2], pos[0, 2]) else 3
            self.predictor.check_system(n, types, dims)
            density = n / float(np.prod(box))
            if abs(density - 1.2) > 0.12:
                raise ValueError(f"model was trained at number density 1.2; this system has {density:.3f} "
                                 "(are positions in sigma = nm? see glassmm.units)")
        exists = self.file.exists()
        if exists and self.append:
            self._h5 = h5py.File(self.file, "a")
            h = self._h5
            if int(h.attrs.get("schema_version", -1)) != SCHEMA_VERSION:
                raise ValueError(f"{self.file}: not a glassmm report file of schema {SCHEMA_VERSION}")
            if h["types"].shape[0] != n:
                raise ValueError(f"{self.file} has {h['types'].shape[0]} particles; this system has {n}")
            self._last_step = int(h["step"][-1]) if h["step"].shape[0] else -1
            self._reference = h["reference_positions"][()]
            self.frames_written = h["step"].shape[0]
            self.skipped = int(h.attrs.get("skipped_inferences", 0))
            self.model_errors = int(h.attrs.get("model_errors", 0))
            self._origins = [(float(t), p) for t, p in zip(h["origins/time"][()], h["origins/positions"][()])]
        else:
            if exists:
                raise FileExistsError(f"{self.file} exists; pass append=True to continue it or remove it")
            self.file.parent.mkdir(parents=True, exist_ok=True)
            self._h5 = h5py.File(self.file, "w")
            h = self._h5
            h.attrs["schema_version"] = SCHEMA_VERSION
            h.attrs["box"] = box
            h.attrs["report_interval"] = self._interval
            h.attrs["model_metadata"] = json.dumps(self.predictor.metadata if self.predictor else None)
            h.attrs["backend"] = getattr(self.predictor, "backend_name", "") if self.predictor else ""
            h.attrs["analysis"] = json.dumps({"q": self.q, "overlap_a": self.overlap_a, "species": self.species,
                                              "reference": self.reference})
            h.create_dataset("types", data=types.astype(np.int8))
            h.create_dataset("reference_positions", data=pos)
            for name, dt in [("step", "i8"), ("time", "f8"), ("temperature_estimate", "f8"),
                             ("kinetic_temperature", "f8"), ("thermostat_temperature", "f8")]:
                h.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dt)
            h.create_dataset("propensity", shape=(0, n), maxshape=(None, n), dtype="f4", chunks=(1, n))
            h.create_dataset("positions", shape=(0, n, 3), maxshape=(None, n, 3), dtype="f4", chunks=(1, n, 3))
            for name in self.analyses:
                h.create_dataset(f"analysis/{name}", shape=(0,), maxshape=(None,), dtype="f8")
            h.create_dataset("origins/time", shape=(0,), maxshape=(None,), dtype="f8")
            h.create_dataset("origins/positions", shape=(0, n, 3), maxshape=(None, n, 3), dtype="f8", chunks=(1, n, 3))
            h.flush()
            self._reference = pos.copy()
            self._origins = []
        self._prev = self._reference if not self._origins else self._origins[-1][1]
        if self.predictor is not None and self.asynchronous:
            self._queue = queue.Queue(maxsize=max(1, self.queue_size))
            self._worker = threading.Thread(target=self._work, name="glassmm-reporter", daemon=True)
            self._worker.start()

    @staticmethod
    def _thermostat_T(simulation: Any) -> float:
        integ = simulation.integrator
        if hasattr(integ, "getTemperature"):
            from glassmm import units

            return units.as_reduced_temperature(integ.getTemperature())
        return float("nan")

    # ------------------------------------------------------------------ analysis (MD thread, cheap)
    def _analyse(self, pos: np.ndarray) -> dict[str, Any]:
        ref = self._reference if self.reference == "start" else self._prev
        dr = pos[self._sel] - ref[self._sel]
        r = np.sqrt(np.einsum("ij,ij->i", dr, dr))
        out = {}
        if "msd" in self.analyses:
            out["msd"] = float(np.mean(r * r))
        if "fs" in self.analyses:
            out["fs"] = float(np.mean(np.sinc(self.q * r / np.pi)))
        if "overlap" in self.analyses:
            out["overlap"] = float(np.mean(r < self.overlap_a))
        self._prev = pos.copy()
        return out

    def _dynamics(self, time: float, pos: np.ndarray):
        """Multiple-origin self dynamics over all stored origins (incremental: new pairs only)."""
        from glassmm.analysis import SelfDynamics

        if not hasattr(self, "_sd"):
            self._sd = SelfDynamics(q=self.q, overlap_a=self.overlap_a, species=self.species)
            # rebuild from stored origins on append (pairs among them)
            for k, (t1, p1) in enumerate(self._origins):
                for t0, p0 in self._origins[:k]:
                    self._sd.accumulate(t1 - t0, p1, p0, self._types)
        for t0, p0 in self._origins:
            self._sd.accumulate(time - t0, pos, p0, self._types)
        return self._sd

    # ------------------------------------------------------------------ inference + writing
    def _submit(self, frame: dict[str, Any], pos: np.ndarray) -> None:
        if self._queue is None:
            self._process(frame, pos, run_model=self.predictor is not None)
            return
        item = (frame, pos)
        if self.on_full == "wait":
            self._queue.put(item)
        else:
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                self.skipped += 1
                # keep order: write this frame after the queued ones, without inference
                self._queue.put((frame, pos, "skip"))

    def _work(self) -> None:
        import torch

        if self.torch_threads:
            torch.set_num_threads(self.torch_threads)
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                frame, pos = item[0], item[1]
                self._process(frame, pos, run_model=len(item) == 2)
            except BaseException as exc:  # noqa: BLE001 - surfaced to the MD thread in strict mode
                self._error = exc
            finally:
                self._queue.task_done()

    def _process(self, frame: dict[str, Any], pos: np.ndarray, run_model: bool) -> None:
        n = len(pos)
        prop = np.full(n, np.nan, dtype=np.float32)
        t_est = float("nan")
        if run_model:
            try:
                pred = self.predictor(pos, self._box, self._types)
                prop = pred.propensity.astype(np.float32)
                if pred.temperature is not None:
                    t_est = pred.temperature
            except Exception as exc:
                self.model_errors += 1
                log.error("model failed at step %d: %s", frame["step"], exc)
                if self.strict:
                    raise
        with self._lock:
            self._write(frame, pos, prop, t_est)

    def _write(self, frame: dict[str, Any], pos: np.ndarray, prop: np.ndarray, t_est: float) -> None:
        h = self._h5
        k = h["step"].shape[0]
        row = {"step": frame["step"], "time": frame["time"], "temperature_estimate": t_est,
               "kinetic_temperature": frame["kinetic_temperature"],
               "thermostat_temperature": frame["thermostat_temperature"]}
        for name, v in row.items():
            h[name].resize((k + 1,))
            h[name][k] = v
        h["propensity"].resize((k + 1, prop.shape[0]))
        h["propensity"][k] = prop
        h["positions"].resize((k + 1, *pos.shape))
        h["positions"][k] = pos
        for name in self.analyses:
            h[f"analysis/{name}"].resize((k + 1,))
            h[f"analysis/{name}"][k] = frame[name]
        sd = self._dynamics(frame["time"], pos)
        self._origins.append((frame["time"], pos))
        shifted = len(self._origins) > self.max_origins
        if shifted:
            self._origins.pop(0)
        m = len(self._origins)
        o = h["origins"]
        o["time"].resize((m,))
        o["time"][:] = [t for t, _ in self._origins]
        o["positions"].resize((m, *pos.shape))
        if shifted:  # the window moved: rewrite it
            o["positions"][:] = np.stack([p for _, p in self._origins])
        else:
            o["positions"][m - 1] = pos
        if "dynamics" in h:
            del h["dynamics"]
        try:
            g = h.create_group("dynamics")
            g["lag"], g["msd"], g["fs"], g["overlap"] = sd.times, sd.msd, sd.fs, sd.overlap
            g["chi4"], g["n_samples"] = sd.chi4, sd.n_samples
        except RuntimeError:  # no samples yet (first frame)
            pass
        h.attrs["skipped_inferences"] = self.skipped
        h.attrs["model_errors"] = self.model_errors
        h.flush()
        self.frames_written = k + 1

    # ------------------------------------------------------------------ lifecycle
    def flush(self) -> None:
        """Wait until every queued frame is written."""
        if self._queue is not None:
            self._queue.join()

    def close(self) -> None:
        if self._closed:
            return
        if self._queue is not None and self._worker is not None:
            self._queue.join()
            self._queue.put(None)
            self._worker.join()
        if self._h5 is not None:
            with self._lock:
                self._h5.attrs["skipped_inferences"] = self.skipped
                self._h5.attrs["model_errors"] = self.model_errors
                self._h5.flush()
                self._h5.close()
        self._closed = True
        if self._error is not None and self.strict:
            err, self._error = self._error, None
            raise err

    def __enter__(self) -> "GlassReporter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # best effort; close() is the contract
        try:
            self.close()
        except Exception:
            pass


def _types_from_system(system: Any) -> np.ndarray:
    """Particle types from the KA CustomNonbondedForce's ``t`` parameter."""
    import openmm

    for f in system.getForces():
        if isinstance(f, openmm.CustomNonbondedForce) and f.getNumPerParticleParameters() >= 1 \
                and f.getPerParticleParameterName(0) == "t":
            return np.array([int(round(f.getParticleParameters(i)[0])) for i in range(f.getNumParticles())], dtype=np.int8)
    raise ValueError("the system has no Kob-Andersen force (CustomNonbondedForce with parameter 't'); "
                     "build it with glassmm.KobAndersen")


# ---------------------------------------------------------------------- reading
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
        from glassmm.analysis._plot import finish, pyplot

        plt = pyplot()
        prefix = Path(prefix)
        out = []
        t = self["time"]
        prop = self["propensity"]
        if prop.shape[0] and np.isfinite(prop[frame]).any():
            box = self._h.attrs["box"]
            types = self["types"]
            wrapped = np.mod(self._h["positions"][frame], box)
            # A particles in a slab |z - L/2| < 1.5, on their own colour scale (B particles are
            # predicted ~2x more mobile and would otherwise set the colours)
            sel = (np.abs(wrapped[:, 2] - box[2] / 2) < 1.5) & (types == 0)
            fig, ax = plt.subplots(figsize=(6, 5.4))
            sc = ax.scatter(wrapped[sel, 0], wrapped[sel, 1], c=prop[frame][sel], s=40, cmap="inferno")
            fig.colorbar(sc, label="predicted propensity (A)")
            ax.set_aspect("equal"); ax.set_xlabel("x"); ax.set_ylabel("y")
            ax.set_title(f"A particles, step {self['step'][frame]} (slab |z - L/2| < 1.5)")
            p = prefix.parent / f"{prefix.name}_propensity.png"
            finish(fig, p); out.append(str(p))
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(t, self["kinetic_temperature"], label="kinetic")
        if np.isfinite(self["thermostat_temperature"]).any():
            ax.plot(t, self["thermostat_temperature"], "k--", label="thermostat")
        if np.isfinite(self["temperature_estimate"]).any():
            ax.plot(t, self["temperature_estimate"], "o-", label="T-BOTAN estimate")
        ax.set_xlabel("t / tau"); ax.set_ylabel("T"); ax.legend()
        p = prefix.parent / f"{prefix.name}_temperature.png"
        finish(fig, p); out.append(str(p))
        if "dynamics/lag" in self._h:
            fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
            lag = self["dynamics/lag"]
            axes[0].loglog(lag, self["dynamics/msd"], "o-"); axes[0].set_ylabel("MSD")
            axes[1].semilogx(lag, self["dynamics/fs"], "o-", label="F_s"); axes[1].semilogx(lag, self["dynamics/overlap"], "s--", label="Q")
            axes[1].legend()
            axes[2].semilogx(lag, self["dynamics/chi4"], "o-"); axes[2].set_ylabel(r"$\chi_4$")
            for ax in axes:
                ax.set_xlabel("lag / tau")
            fig.tight_layout()
            p = prefix.parent / f"{prefix.name}_dynamics.png"
            finish(fig, p); out.append(str(p))
        return out


def read_report(path: str | Path) -> ReportFile:
    return ReportFile(path)
