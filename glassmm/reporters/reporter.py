"""GlassReporter: live propensity and temperature estimates, and on-the-fly dynamics, for OpenMM.

Usage::

    simulation.reporters.append(GlassReporter("run.h5", reportInterval=1000, model="botan-ka-T0.44-ts"))

Models that read inherent structures or cage states (``botan-ka-T0.44`` reads TS+CS) get
them computed for every report on the simulation's platform; the reporter refuses them when
that costs more than ``max_structure_cost`` MD steps per step of ``reportInterval``.

Follows OpenMM 8.6's reporter protocol: ``describeNextReport`` returns a dict with
``'periodic': False`` (KA atoms are their own molecules: wrapping would break
displacements), positions arrive as numpy arrays, set-up is deferred to the first report,
output is flushed at every report, and ``close()`` / ``with`` end it.

The file's schema and writer are in :mod:`glassmm.reporters.schema`, its reader in
:mod:`glassmm.reporters.reader`. Model inference runs in a worker thread so MD continues;
at most ``queue_size`` frames wait for the model. When the worker falls behind,
``on_full="wait"`` blocks MD and ``"skip"`` writes the frame without inference (never
blocking) and counts it. Frames are written in step order, each labelled with its step and
time, and flushed as they are written.

Nothing finished is lost: the file is checked for writing when the reporter is built, a
reporter that is never closed is drained and closed when the interpreter exits, a run that
blows up stops with :class:`SimulationBlewUp` and the frames before it, and ``append=True``
continues a file after a restart from a checkpoint (frames the crashed run wrote past the
checkpoint are replaced, the multiple-origin accumulators carried on).
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import sys
import threading
import weakref
from pathlib import Path
from typing import Any, Sequence, TextIO

import numpy as np

from glassmm import geometry, units
from glassmm.analysis import SelfDynamics, self_scattering
from glassmm.analysis.base import select_species
from glassmm.io import ensure_writable
from glassmm.reporters.schema import SCHEMA_VERSION, ReportWriter, analysis_attrs
from glassmm.structures import (cage_temperature, describe_inputs, needs_cage, structure_cost_steps,
                                structures_for)

log = logging.getLogger("glassmm.reporter")
_ANALYSES = ("msd", "fs", "overlap")


class SimulationBlewUp(RuntimeError):
    """Raised when positions or velocities become non-finite, or the kinetic temperature absurd.

    The report file is closed and keeps every frame before the one that failed; its
    ``blew_up`` attribute records the step and the reason.
    """


def _close_at_exit(ref: "weakref.ref[GlassReporter]") -> None:
    rep = ref()
    if rep is not None and not rep._closed:
        try:
            rep.close()
        except Exception as exc:  # noqa: BLE001 - at exit there is no caller left to raise to
            print(f"glassmm: closing {rep.file} at exit: {exc}", file=sys.stderr)


class GlassReporter:
    """OpenMM reporter that streams snapshots to a BOTAN/T-BOTAN model and analyses dynamics.

    Use it as a context manager (or call :meth:`close`); a reporter left open is closed when
    the interpreter exits, with every queued frame written.

    Parameters
    ----------
    file : path
        HDF5 output (created, or appended to when ``append``); checked for writing here.
    reportInterval : int (steps)
        Steps between reports; with ``schedule="log"`` the first interval.
    model : str, optional
        Bundled model name or artifact path; None records only the analyses.
    backend : str, optional
        Backend name (default: ``GLASSMM_BACKEND`` or the default order).
    device : str
        Torch device of the model: ``auto`` (``cuda`` when torch sees a GPU, else ``cpu``),
        ``cpu``, ``cuda``, ``cuda:N``. Every backend honours it or refuses it by name. Each
        report costs one ``getState`` (positions and velocities, asked for through
        ``describeNextReport``) and one host-to-device copy of the positions.
    analyses : sequence of {"msd", "fs", "overlap"}
        Per-frame series; chi_4 comes with the multiple-origin dynamics.
    reference : {"start", "moving"}
        Per-frame series against the first report or the previous report.
    q : float (reduced, 1/sigma)
    overlap_a : float (reduced, sigma)
    species : int or None
        Parameters of F_s, the overlap and the particles analysed (0 = A, None = all).
    asynchronous : bool
        Run the model in a worker thread (default) or inline.
    queue_size : int
        Frames waiting for the model before ``on_full`` applies.
    on_full : {"wait", "skip"}
        Block MD until the model catches up, or write the frame without inference.
    append : bool
        Continue an existing file after a restart: frames at or after the first step this run
        reports are replaced, and the multiple-origin accumulators continue.
    strict : bool
        Re-raise model errors instead of logging them and carrying on.
    system : KobAndersen, optional
        Lets the model be checked against the system (and its positions) at construction.
    max_origins : int
        Report frames kept as time origins for the multiple-origin dynamics.
    torch_threads : int, optional
        Threads for the inference worker (fewer leaves more cores to OpenMM).
    backend_options : dict, optional
        Passed to the backend's ``load`` (e.g. ``{"dtype": "bfloat16"}`` for ``torch``).
    progress : bool or file, optional
        Print a line per frame (step, time, temperatures, F_s, mean propensity; reduced units)
        to stdout (True) or the given file, as ``StateDataReporter`` does.
    schedule : {"linear", "log"}
        Report every ``reportInterval`` steps, or at log-spaced times after the first report
        (``points_per_decade`` per decade), so early relaxation is resolved in long runs.
    points_per_decade : int
    max_kinetic_temperature : float (reduced, epsilon/k_B)
        A kinetic temperature above this stops the run with :class:`SimulationBlewUp`.
    max_structure_cost : float
        For models that read inherent structures or cage states: those are computed for
        every report, on the simulation's platform, and may cost at most this many MD steps
        per step of ``reportInterval``; a model needing more is refused at construction.
    temperature : float (reduced) or Quantity (K), optional
        Temperature for cage states; else the integrator's, else the model's single
        training temperature.
    """

    def __init__(
        self,
        file: str | Path,
        reportInterval: int,
        model: str | None = None,
        backend: str | None = None,
        device: str = "auto",
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
        progress: bool | TextIO = False,
        schedule: str = "linear",
        points_per_decade: int = 10,
        max_kinetic_temperature: float = 50.0,
        max_structure_cost: float = 1.0,
        temperature: float | None = None,
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
        if schedule not in ("linear", "log"):
            raise ValueError(f"schedule must be 'linear' or 'log'; got {schedule!r}")
        if int(points_per_decade) < 1:
            raise ValueError(f"points_per_decade must be at least 1; got {points_per_decade}")
        self.file = Path(file)
        self._interval = int(reportInterval)
        self.analyses, self.reference, self.q, self.overlap_a, self.species = tuple(analyses), reference, q, overlap_a, species
        self.asynchronous, self.queue_size, self.on_full = asynchronous, max(1, int(queue_size)), on_full
        self.append, self.strict, self.max_origins = append, strict, int(max_origins)
        self.torch_threads = torch_threads
        self.schedule, self.points_per_decade = schedule, int(points_per_decade)
        self.max_kinetic_temperature = float(max_kinetic_temperature)
        self.max_structure_cost = float(max_structure_cost)
        self.temperature = None if temperature is None else units.as_reduced_temperature(temperature)
        self._platform = "auto"
        self._progress: TextIO | None = (sys.stdout if progress is True else progress) or None
        self._start_step: int | None = None
        # fail before any MD: an unwritable place, or a file that would be silently mixed
        ensure_writable(self.file)
        if self.file.exists():
            if not append:
                raise FileExistsError(f"{self.file} exists; pass append=True to continue it or remove it")
            self._start_step = _existing_schedule_start(self.file)
        self.predictor = None
        self.backend_messages: list[str] = []
        if model is not None:
            from glassmm.backends import load_predictor

            opts = {"device": device, **(backend_options or {})}
            self.predictor, self.backend_messages = load_predictor(model, backend=backend, **opts)
            inputs = self.predictor.metadata.get("inputs", "TS")
            cost = structure_cost_steps(inputs, self.predictor.metadata)
            if cost > self.max_structure_cost * self._interval:
                # the structures a model reads beside the thermal one are computed per report
                # (FIRE for IS, tethered MD for CS); refuse rather than slow the MD many-fold
                raise ValueError(
                    f"model {model!r} reads {inputs} ({describe_inputs(inputs)}): computing them costs about {cost} MD steps per report, "
                    f"{cost / self._interval:.1f}x the reportInterval of {self._interval} steps (allowed: "
                    f"max_structure_cost={self.max_structure_cost:g}); report less often (reportInterval >= "
                    f"{int(np.ceil(cost / self.max_structure_cost))}), raise max_structure_cost, or use a TS model")
            if system is not None:
                types = np.asarray(system.types)
                self.predictor.check_system(len(types), types, getattr(system, "dimensions", 3),
                                            positions=getattr(system, "positions_reduced", None),
                                            box=getattr(system, "box", None))
        self._writer: ReportWriter | None = None
        self._queue: queue.Queue | None = None
        self._slots = threading.BoundedSemaphore(self.queue_size)
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self.skipped = 0
        self.model_errors = 0
        self.nonfinite_predictions = 0
        self.frames_written = 0
        self.frames_dropped: dict[str, int] = {}
        self._last_step = -1
        self._closed = False
        self._printed_header = False
        import h5py  # noqa: F401 - imported before registering: atexit runs LIFO, and h5py's own
        # exit handler must run after this reporter has written its last frames
        self._atexit = lambda ref=weakref.ref(self): _close_at_exit(ref)
        atexit.register(self._atexit)

    # ------------------------------------------------------------------ OpenMM protocol
    def describeNextReport(self, simulation: Any) -> dict[str, Any]:
        current = int(simulation.currentStep)
        if self._start_step is None:
            self._start_step = current
        return {"steps": self._next_report(current) - current, "periodic": False,
                "include": ["positions", "velocities"]}

    def _next_report(self, current: int) -> int:
        """The first report step after ``current``."""
        if self.schedule == "linear":
            return current + self._interval - current % self._interval
        first = self._start_step + self._interval
        if current < first:
            return first
        ratio, k = 10.0 ** (1.0 / self.points_per_decade), 0
        while True:  # first + interval * ratio^k, rounded: the lags from the first report are log-spaced
            step = first + int(round(self._interval * ratio**k))
            if step > current:
                return step
            k += 1

    def report(self, simulation: Any, state: Any) -> None:
        if self._closed:
            raise RuntimeError("GlassReporter is closed")
        self._raise_stored()
        step = int(simulation.currentStep)
        pos = units.positions_from_openmm(state.getPositions(asNumpy=True))
        vel = units.velocities_from_openmm(state.getVelocities(asNumpy=True))
        if self._writer is None:
            self._setup(simulation, state, pos, step)
        if step <= self._last_step:
            return  # restarted run: this frame is already in the file
        finite = np.isfinite(pos).all(axis=1) & np.isfinite(vel).all(axis=1)
        t_kin = geometry.kinetic_temperature(vel, self._masses, dof=self._dof) if finite.all() else float("nan")
        if not finite.all() or not np.isfinite(t_kin) or t_kin > self.max_kinetic_temperature:
            why = (f"non-finite positions or velocities for {int((~finite).sum())} particles" if not finite.all()
                   else f"kinetic temperature {t_kin:.3g} (above max_kinetic_temperature = {self.max_kinetic_temperature:g})")
            self._blew_up(step, why)
        frame = {
            "step": step,
            "time": units.as_reduced_time(state.getTime()),
            "kinetic_temperature": t_kin,
            "thermostat_temperature": self._thermostat_T(simulation),
            **self._analyse(pos),
        }
        self._last_step = step
        self._submit(frame, pos)

    def _blew_up(self, step: int, why: str) -> None:
        last = self._last_step
        self.close()
        import h5py

        with h5py.File(self.file, "a") as h:
            h.attrs["blew_up"] = json.dumps({"step": step, "reason": why})
        raise SimulationBlewUp(
            f"the simulation blew up at step {step}: {why}. {self.file} holds every frame up to step {last}. "
            "Reduce the timestep, minimise the starting configuration, or check the temperature."
        )

    # ------------------------------------------------------------------ set-up
    def _setup(self, simulation: Any, state: Any, pos: np.ndarray, step: int) -> None:
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
            self.predictor.check_system(n, types, self._dims, positions=pos, box=box)
            self._platform = simulation.context.getPlatform().getName()
            if self.temperature is None and hasattr(simulation.integrator, "getTemperature"):
                self.temperature = units.as_reduced_temperature(simulation.integrator.getTemperature())
            if needs_cage(self.predictor.metadata.get("inputs", "TS")):
                cage_temperature(self.temperature, self.predictor.metadata)  # refuse now, not at every frame
        self._sd = SelfDynamics(q=self.q, overlap_a=self.overlap_a, species=self.species, dimensions=self._dims)
        writer = ReportWriter(self.file, n)
        if self.file.exists() and self.append:
            on_disk = writer.open_existing(restart_step=step)
            self.frames_dropped = on_disk["dropped"]
            if self.frames_dropped:
                log.warning("%s: dropped frames at or after step %d written by the run before the restart "
                            "(or torn by a crash): %s", self.file, step, self.frames_dropped)
            self._last_step = on_disk["last_step"]
            self.frames_written = on_disk["frames"]
            self.skipped = on_disk["skipped"]
            self.model_errors = on_disk["model_errors"]
            self.nonfinite_predictions = on_disk["nonfinite_predictions"]
            self._reference = on_disk["reference"] if self.frames_written else pos.copy()
            if not self.frames_written:
                writer.h5["reference_positions"][...] = pos
            if on_disk["dynamics"] is not None and on_disk["origins"] is not None:
                self._sd.load_state(**on_disk["dynamics"])
                self._origins = on_disk["origins"]
            else:
                self._origins = self._replay(writer, self.frames_written)
                writer.write_origins(self._origins, rewrite=True)
                if self._origins:
                    writer.write_dynamics(self._sd, self.frames_written)
        else:
            writer.create(types, pos, {
                "box": box, "report_interval": self._interval,
                "schedule": json.dumps({"kind": self.schedule, "start_step": self._start_step,
                                        "points_per_decade": self.points_per_decade}),
                "model_metadata": json.dumps(self.predictor.metadata if self.predictor else None),
                "backend": getattr(self.predictor, "backend_name", "") if self.predictor else "",
                "analysis": analysis_attrs(self.q, self.overlap_a, self.species, self.reference),
            }, self.analyses)
            self._reference = pos.copy()
            self._origins = []
        self._writer = writer
        self._prev = self._reference if not self._origins else self._origins[-1][1]
        if self.predictor is not None and self.asynchronous:
            self._queue = queue.Queue()  # unbounded: the slots bound the frames waiting for the model
            self._worker = threading.Thread(target=self._work, name="glassmm-reporter", daemon=True)
            self._worker.start()

    def _replay(self, writer: ReportWriter, frames: int) -> list[tuple[float, np.ndarray]]:
        """Rebuild the multiple-origin accumulators and origins from the frames kept in the file."""
        self._sd.reset()
        self._origins = []
        times = writer.frames("time", 0, frames)
        for k in range(frames):
            self._add_origin(float(times[k]), writer.frames("positions", k, k + 1)[0].astype(np.float64))
        return self._origins

    def _add_origin(self, time: float, pos: np.ndarray) -> bool:
        """Pair a new frame with the stored origins, then keep it as one; True when the window moved."""
        for t0, p0 in self._origins:
            self._sd.accumulate(pos, self._box, self._types, reference=p0, time=time - t0)
        self._origins.append((time, pos))
        if len(self._origins) > self.max_origins:
            self._origins.pop(0)
            return True
        return False

    @staticmethod
    def _thermostat_T(simulation: Any) -> float:
        integ = simulation.integrator
        if hasattr(integ, "getTemperature"):
            return units.as_reduced_temperature(integ.getTemperature())
        return float("nan")

    # ------------------------------------------------------------------ analysis (MD thread, cheap)
    def _analyse(self, pos: np.ndarray) -> dict[str, Any]:
        ref = self._reference if self.reference == "start" else self._prev
        # as in SelfDynamics: the centre-of-mass drift is not relaxation
        dr = geometry.subtract_drift(pos - ref)[self._sel]
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

    # ------------------------------------------------------------------ inference + writing
    def _submit(self, frame: dict[str, Any], pos: np.ndarray) -> None:
        if self._queue is None:
            self._process(frame, pos, run_model=self.predictor is not None)
            return
        if self.on_full == "wait":
            self._slots.acquire()
            self._queue.put((frame, pos, True))
        elif self._slots.acquire(blocking=False):
            self._queue.put((frame, pos, True))
        else:
            # the model is busy: write this frame without inference, after the queued ones
            # (the queue is unbounded, so this never blocks MD)
            self.skipped += 1
            self._queue.put((frame, pos, False))

    def _work(self) -> None:
        import torch

        if self.torch_threads:
            torch.set_num_threads(self.torch_threads)
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, _Flush):  # every frame queued before it is written
                item.done.set()
                continue
            frame, pos, run_model = item
            try:
                self._process(frame, pos, run_model=run_model)
            except BaseException as exc:  # noqa: BLE001 - surfaced to the MD thread and by close()
                if self._error is None:
                    self._error = exc
            finally:
                if run_model:
                    self._slots.release()

    def _process(self, frame: dict[str, Any], pos: np.ndarray, run_model: bool) -> None:
        from glassmm.models.predictor import NonFiniteOutputError

        n = len(pos)
        prop = np.full(n, np.nan, dtype=np.float32)
        t_est = float("nan")
        if run_model:
            try:
                inputs = self.predictor.metadata.get("inputs", "TS")
                if inputs == "TS":  # plugin predictors may take only the thermal positions
                    pred = self.predictor(pos, self._box, self._types)
                else:
                    st = structures_for(inputs, pos, self._types, self._box, temperature=self.temperature,
                                        metadata=self.predictor.metadata, platform=self._platform, cache=False)
                    pred = self.predictor(pos, self._box, self._types, inherent_positions=st.inherent,
                                          cage_positions=st.cage)
                prop = np.asarray(pred.propensity, dtype=np.float32)
                if pred.temperature is not None:
                    t_est = float(pred.temperature)
                if not np.isfinite(prop).all() or (pred.temperature is not None and not np.isfinite(t_est)):
                    # glassmm predictors raise this themselves; plugin predictors may not
                    raise NonFiniteOutputError(f"model {getattr(self.predictor, 'name', '')!r} returned "
                                               f"non-finite output ({int((~np.isfinite(prop)).sum())} propensities)")
            except NonFiniteOutputError as exc:
                prop, t_est = np.full(n, np.nan, dtype=np.float32), float("nan")
                self.nonfinite_predictions += 1
                log.error("step %d: %s", frame["step"], exc)
                if self.strict:
                    raise
            except Exception as exc:
                self.model_errors += 1
                log.error("model failed at step %d: %s", frame["step"], exc)
                if self.strict:
                    raise
        with self._lock:
            self._write(frame, pos, prop, t_est)

    def _counters(self) -> dict[str, int]:
        return {"skipped_inferences": self.skipped, "model_errors": self.model_errors,
                "nonfinite_predictions": self.nonfinite_predictions}

    def _write(self, frame: dict[str, Any], pos: np.ndarray, prop: np.ndarray, t_est: float) -> None:
        row = {"step": frame["step"], "time": frame["time"], "temperature_estimate": t_est,
               "kinetic_temperature": frame["kinetic_temperature"],
               "thermostat_temperature": frame["thermostat_temperature"]}
        k = self._writer.append(row, pos, prop, {name: frame[name] for name in self.analyses})
        shifted = self._add_origin(frame["time"], pos)
        self._writer.write_origins(self._origins, rewrite=shifted)  # the window moved: rewrite it
        self._writer.write_dynamics(self._sd, k)
        self._writer.flush(self._counters())
        self.frames_written = k
        if self._progress is not None:
            self._print_line(frame, prop, t_est)

    def _print_line(self, frame: dict[str, Any], prop: np.ndarray, t_est: float) -> None:
        out = self._progress
        if not self._printed_header:
            print('#"Step"\t"Time (tau)"\t"T_kin (eps/k_B)"\t"T_est (eps/k_B)"\t"F_s"\t"<propensity> (sigma)"'
                  '\t"Skipped"', file=out)
            self._printed_header = True
        fs = frame.get("fs", float("nan"))
        mean_prop = float(np.mean(prop[self._sel])) if np.isfinite(prop).any() else float("nan")
        print(f"{frame['step']}\t{frame['time']:.4f}\t{frame['kinetic_temperature']:.4f}\t{t_est:.4f}\t{fs:.4f}"
              f"\t{mean_prop:.4f}\t{self.skipped}", file=out)
        out.flush()

    # ------------------------------------------------------------------ lifecycle
    def _raise_stored(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def flush(self) -> None:
        """Wait until every queued frame is written and on disk (the file stays open)."""
        if self._queue is not None and self._worker is not None and self._worker.is_alive():
            done = threading.Event()
            self._queue.put(_Flush(done))
            done.wait()
        self._raise_stored()

    def close(self) -> None:
        """Write every queued frame, close the file, and raise any error the worker stored."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._atexit)
        try:
            if self._queue is not None and self._worker is not None and self._worker.is_alive():
                self._queue.put(None)
                self._worker.join()
        finally:
            if self._writer is not None:
                with self._lock:
                    try:
                        self._writer.close(self._counters())
                    except Exception as exc:  # noqa: BLE001
                        if self._error is None:
                            self._error = exc
        self._raise_stored()

    def __enter__(self) -> "GlassReporter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # best effort; close() is the contract and atexit the safety net
        try:
            if not self._closed:
                self.close()
        except Exception:
            pass


class _Flush:
    """Queue marker: set ``done`` once the frames queued before it are written."""

    def __init__(self, done: threading.Event) -> None:
        self.done = done


def _existing_schedule_start(path: Path) -> int | None:
    """The schedule's start step stored in an existing report (for ``append``), checking it is one."""
    import h5py

    try:
        with h5py.File(path, "r") as h:
            if int(h.attrs.get("schema_version", -1)) != SCHEMA_VERSION:
                raise ValueError(f"{path}: not a glassmm report file of schema {SCHEMA_VERSION}; cannot append to it")
            sched = json.loads(h.attrs["schedule"]) if "schedule" in h.attrs else {}
    except OSError as exc:
        raise ValueError(f"{path}: exists but is not a readable HDF5 report ({exc}); cannot append to it") from None
    return sched.get("start_step")


def _types_from_system(system: Any) -> np.ndarray:
    """Particle types from the KA CustomNonbondedForce's ``t`` parameter."""
    import openmm

    for f in system.getForces():
        if isinstance(f, openmm.CustomNonbondedForce) and f.getNumPerParticleParameters() >= 1 \
                and f.getPerParticleParameterName(0) == "t":
            return np.array([int(round(f.getParticleParameters(i)[0])) for i in range(f.getNumParticles())], dtype=np.int8)
    raise ValueError("the system has no Kob-Andersen force (CustomNonbondedForce with parameter 't'); "
                     "build it with glassmm.KobAndersen")


