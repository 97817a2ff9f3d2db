"""GlassReporter: live propensity and temperature estimates, and on-the-fly dynamics, for OpenMM.

Usage::

    simulation.reporters.append(GlassReporter("run.h5", reportInterval=1000, model="botan-ka-T0.44"))

Follows OpenMM 8.6's reporter protocol: ``describeNextReport`` returns a dict with
``'periodic': False`` (KA atoms are their own molecules: wrapping would break
displacements), positions arrive as numpy arrays, set-up is deferred to the first report,
output is flushed at every report, and ``close()`` / ``with`` end it.

The file's schema and writer are in :mod:`glassmm.reporters.schema`, its reader in
:mod:`glassmm.reporters.reader`. Model inference runs in a worker thread behind a bounded queue so MD continues; when the
worker falls behind, ``on_full="wait"`` blocks MD and ``"skip"`` drops that frame's
inference and counts it. Frames are written in step order by the worker, each labelled
with its step and time.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from glassmm import geometry, units
from glassmm.analysis import SelfDynamics, self_scattering
from glassmm.analysis.base import select_species
from glassmm.reporters.schema import ReportWriter, analysis_attrs

log = logging.getLogger("glassmm.reporter")
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
        self._writer = None
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
        step = int(simulation.currentStep)
        pos = units.positions_from_openmm(state.getPositions(asNumpy=True))
        if self._writer is None:
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
        vel = units.velocities_from_openmm(state.getVelocities(asNumpy=True))
        t_kin = geometry.kinetic_temperature(vel, self._masses, dof=self._dof)
        frame = {
            "step": step,
            "time": units.as_reduced_time(state.getTime()),
            "kinetic_temperature": t_kin,
            "thermostat_temperature": self._thermostat_T(simulation),
            **self._analyse(pos),
        }
        self._last_step = step
        self._submit(frame, pos)

    # ------------------------------------------------------------------ set-up
    def _setup(self, simulation: Any, state: Any, pos: np.ndarray) -> None:
        system = simulation.system
        n = system.getNumParticles()
        types = _types_from_system(system)
        box = units.box_from_openmm(state.getPeriodicBoxVectors())
        self._box = box
        self._types = types
        self._sel = select_species(types, n, self.species)
        self._dims = geometry.infer_dimensions(pos)
        self._masses = np.array([units.mass_from_openmm(system.getParticleMass(i)) for i in range(n)])
        self._dof = geometry.degrees_of_freedom(n, self._dims)
        if self.predictor is not None:
            self.predictor.check_system(n, types, self._dims)
            density = n / float(np.prod(box))
            if abs(density - 1.2) > 0.12:
                raise ValueError(f"model was trained at number density 1.2; this system has {density:.3f} "
                                 "(are positions in sigma = nm? see glassmm.units)")
        exists = self.file.exists()
        self._writer = ReportWriter(self.file, n)
        if exists and self.append:
            state_on_disk = self._writer.open_existing()
            self._last_step = state_on_disk["last_step"]
            self._reference = state_on_disk["reference"]
            self.frames_written = state_on_disk["frames"]
            self.skipped = state_on_disk["skipped"]
            self.model_errors = state_on_disk["model_errors"]
            self._origins = state_on_disk["origins"]
        else:
            if exists:
                raise FileExistsError(f"{self.file} exists; pass append=True to continue it or remove it")
            self._writer.create(types, pos, {
                "box": box, "report_interval": self._interval,
                "model_metadata": json.dumps(self.predictor.metadata if self.predictor else None),
                "backend": getattr(self.predictor, "backend_name", "") if self.predictor else "",
                "analysis": analysis_attrs(self.q, self.overlap_a, self.species, self.reference),
            }, self.analyses)
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
            out["fs"] = float(np.mean(self_scattering(r, self.q, self._dims)))
        if "overlap" in self.analyses:
            out["overlap"] = float(np.mean(r < self.overlap_a))
        self._prev = pos.copy()
        return out

    def _dynamics(self, time: float, pos: np.ndarray):
        """Multiple-origin self dynamics over all stored origins (incremental: new pairs only)."""
        if not hasattr(self, "_sd"):
            self._sd = SelfDynamics(q=self.q, overlap_a=self.overlap_a, species=self.species, dimensions=self._dims)
            # rebuild from stored origins on append (pairs among them)
            for k, (t1, p1) in enumerate(self._origins):
                for t0, p0 in self._origins[:k]:
                    self._sd.accumulate(p1, self._box, self._types, reference=p0, time=t1 - t0)
        for t0, p0 in self._origins:
            self._sd.accumulate(pos, self._box, self._types, reference=p0, time=time - t0)
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
        row = {"step": frame["step"], "time": frame["time"], "temperature_estimate": t_est,
               "kinetic_temperature": frame["kinetic_temperature"],
               "thermostat_temperature": frame["thermostat_temperature"]}
        k = self._writer.append(row, pos, prop, {name: frame[name] for name in self.analyses})
        sd = self._dynamics(frame["time"], pos)
        self._origins.append((frame["time"], pos))
        shifted = len(self._origins) > self.max_origins
        if shifted:
            self._origins.pop(0)
        self._writer.write_origins(self._origins, rewrite=shifted)  # the window moved: rewrite it
        self._writer.write_dynamics(sd)
        self._writer.flush(self.skipped, self.model_errors)
        self.frames_written = k

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
        if self._writer is not None:
            with self._lock:
                self._writer.close(self.skipped, self.model_errors)
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


