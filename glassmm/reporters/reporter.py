"""GlassReporter: live propensity and temperature estimates, and on-the-fly dynamics, for OpenMM.

Usage::

    simulation.reporters.append(GlassReporter("run.h5", reportInterval=1000, model="botan-ka-T0.44-ts"))

A thin OpenMM reporter, as ``openmm.app`` reporters are: a report takes a snapshot (step, time,
positions, kinetic temperature; a blown-up state stops the run here, in the MD thread), and
the snapshot goes on to the model (:class:`~glassmm.reporters.predict.FramePredictor`, which
owns the structures its model reads), the analysis
(:class:`~glassmm.reporters.dynamics.FrameAnalysis`) and the writer
(:class:`~glassmm.reporters.schema.ReportWriter`) -- in a worker thread, in step order, so
MD continues while the model runs; at most ``queue_size`` frames wait for it
(``on_full="wait"`` blocks MD, ``"skip"`` writes the frame without inference).

Follows OpenMM 8.6's reporter protocol: ``describeNextReport`` returns a dict with
``'periodic': False`` (KA atoms are their own molecules: wrapping would break
displacements), positions arrive as numpy arrays, set-up is deferred to the first report,
every frame is committed to the file as it is written, and ``close()`` / ``with`` end it.

Nothing finished is lost: the file is checked for writing when the reporter is built (a
folder that does not exist is refused, not created), another process may read it while the
run goes on, a ``kill -9`` leaves every committed frame readable, a reporter that is never
closed is drained and closed when the interpreter exits, a run that blows up stops with
:class:`SimulationBlewUp` and the frames before it, and ``append=True`` continues a file after
a restart from a checkpoint (frames past the checkpoint dropped, accumulators carried on bit
for bit; :func:`glassmm.restart` does the restart in one call).
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import sys
import threading
import warnings
import weakref
from pathlib import Path
from typing import Any, Sequence, TextIO

import numpy as np

from glassmm import geometry, units
from glassmm.io import ensure_writable
from glassmm.reporters.dynamics import FrameAnalysis
from glassmm.reporters.predict import FramePredictor
from glassmm.reporters.schedule import Schedule
from glassmm.reporters.schema import COUNTERS, SCHEMA_VERSION, ReportWriter, analysis_attrs
from glassmm.simulation import MAX_KINETIC_TEMPERATURE, SimulationBlewUp, blow_up_reason
from glassmm.structures import describe_inputs, structure_cost_steps
from glassmm.trajectory import open_frames

log = logging.getLogger("glassmm.reporter")
_ANALYSES = ("msd", "fs", "overlap")

__all__ = ["GlassReporter", "SimulationBlewUp"]


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
        HDF5 output (created, or appended to when ``append``); its folder must exist. Checked
        for writing here.
    reportInterval : int (steps)
        Steps between reports; with ``schedule="log"`` the first in-block lag.
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
        Continue an existing file after a restart: frames after the step this run starts at
        are dropped (a run that went on past its checkpoint), and the multiple-origin
        accumulators continue. A missing file is created.
    strict : bool
        Re-raise model errors instead of logging them and carrying on.
    system : KobAndersen, optional
        Lets the model be checked against the system (and its positions) at construction.
    max_origins : int
        Time origins kept for the multiple-origin dynamics (linear: reports; log: blocks).
    torch_threads : int, optional
        Threads for the inference worker (fewer leaves more cores to OpenMM).
    backend_options : dict, optional
        Passed to the backend's ``load`` (e.g. ``{"dtype": "bfloat16"}`` for ``torch``).
    progress : bool or file, optional
        Print a line per frame (step, time, temperatures, F_s, mean propensity; reduced units)
        to stdout (True) or the given file, as ``StateDataReporter`` does.
    schedule : {"linear", "log"}
        Report every ``reportInterval`` steps, or log-spaced reports within blocks of
        ``reportInterval * 10**block_decades`` steps, each block a time origin (see
        :mod:`glassmm.reporters.schedule`), so early relaxation is resolved and every lag of
        the dynamics gains a sample per block.
    points_per_decade : int
    block_decades : int
    min_samples : int
        :meth:`close` warns when lags of the dynamics hold fewer samples than this.
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
        block_decades: int = 2,
        min_samples: int = 10,
        max_kinetic_temperature: float = MAX_KINETIC_TEMPERATURE,
        max_structure_cost: float = 1.0,
        temperature: float | None = None,
    ) -> None:
        bad = [a for a in analyses if a not in _ANALYSES]
        if bad:
            raise ValueError(f"unknown analyses {bad}; choose from {_ANALYSES}")
        if reference not in ("start", "moving"):
            raise ValueError(f"reference must be 'start' or 'moving'; got {reference!r}")
        if on_full not in ("wait", "skip"):
            raise ValueError(f"on_full must be 'wait' or 'skip'; got {on_full!r}")
        if int(max_origins) < 1:
            raise ValueError(f"max_origins must be at least 1; got {max_origins}")
        Schedule(schedule, reportInterval, 0, points_per_decade, block_decades)  # refuse bad parameters now
        self.file = Path(file)
        self._interval = int(reportInterval)
        self._schedule_args = (schedule, self._interval, points_per_decade, block_decades)
        self.analyses, self.reference, self.q, self.overlap_a, self.species = tuple(analyses), reference, q, overlap_a, species
        self.asynchronous, self.queue_size, self.on_full = asynchronous, max(1, int(queue_size)), on_full
        self.append, self.strict, self.max_origins = append, strict, int(max_origins)
        self.torch_threads, self.min_samples = torch_threads, int(min_samples)
        self.max_kinetic_temperature = float(max_kinetic_temperature)
        self.max_structure_cost = float(max_structure_cost)
        self.temperature = None if temperature is None else units.as_reduced_temperature(temperature)
        self._progress: TextIO | None = (sys.stdout if progress is True else progress) or None
        # fail before any MD: a missing folder (a typo must not create one), an unwritable
        # place, or a file that would be silently mixed
        if not self.file.parent.exists():
            raise FileNotFoundError(f"cannot write {self.file}: the folder {self.file.parent} does not exist "
                                    "(GlassReporter does not create folders; create it first)")
        ensure_writable(self.file)
        self._stored_schedule: Schedule | None = None
        if self.file.exists():
            if not append:
                raise FileExistsError(f"{self.file} exists; pass append=True to continue it or remove it")
            self._stored_schedule = _existing_schedule(self.file)
        self.predictor = None
        self.backend_messages: list[str] = []
        self._model: FramePredictor | None = None
        if model is not None:
            self._load_model(model, backend, device, backend_options, system)
        self.schedule: Schedule | None = None
        self._writer: ReportWriter | None = None
        self._analysis: FrameAnalysis | None = None
        self._queue: queue.Queue | None = None
        self._slots = threading.BoundedSemaphore(self.queue_size)
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self.skipped = 0
        self._counted = {"model_errors": 0, "nonfinite_predictions": 0}  # from the file, when appending
        self.frames_written = 0
        self.frames_dropped: dict[str, int] = {}
        self._resume_step: int | None = None
        self._last_step = -1
        self._last_table: np.ndarray | None = None
        self._closed = False
        self._printed_header = False
        import h5py  # noqa: F401 - imported before registering: atexit runs LIFO, and h5py's own
        # exit handler must run after this reporter has written its last frames
        self._atexit = lambda ref=weakref.ref(self): _close_at_exit(ref)
        atexit.register(self._atexit)

    def _load_model(self, model: str, backend: str | None, device: str, backend_options: dict | None,
                    system: Any) -> None:
        from glassmm.backends import load_predictor

        self.predictor, self.backend_messages = load_predictor(model, backend=backend, device=device,
                                                               **(backend_options or {}))
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
        self._model = FramePredictor(self.predictor, strict=self.strict)

    # ------------------------------------------------------------------ counters
    @property
    def model_errors(self) -> int:
        return self._counted["model_errors"] + (self._model.model_errors if self._model else 0)

    @property
    def nonfinite_predictions(self) -> int:
        return self._counted["nonfinite_predictions"] + (self._model.nonfinite_predictions if self._model else 0)

    def _counters(self) -> dict[str, int]:
        return {"skipped_inferences": self.skipped, "model_errors": self.model_errors,
                "nonfinite_predictions": self.nonfinite_predictions}

    # ------------------------------------------------------------------ OpenMM protocol
    def describeNextReport(self, simulation: Any) -> dict[str, Any]:
        current = int(simulation.currentStep)
        if self.schedule is None:
            kind, interval, ppd, decades = self._schedule_args
            self.schedule = self._stored_schedule or Schedule(kind, interval, current, ppd, decades)
            if self.append and self.file.exists():
                self._resume_step = current
                self._report_restart_frame(simulation, current)
        return {"steps": self.schedule.next_report(current) - current, "periodic": False,
                "include": ["positions", "velocities"]}

    def _report_restart_frame(self, simulation: Any, current: int) -> None:
        """Report the restart step itself when it is due and the file lacks it (a frame of the
        checkpoint's step that a killed run had queued but not written)."""
        if current <= self.schedule.start or self.schedule.next_report(current - 1) != current:
            return
        with open_frames(self.file) as h:
            steps = h["step"][()]
        if len(steps) and steps[-1] >= current:
            return
        self.report(simulation, simulation.context.getState(getPositions=True, getVelocities=True))

    def report(self, simulation: Any, state: Any) -> None:
        if self._closed:
            raise RuntimeError("GlassReporter is closed")
        self._raise_stored()
        step = int(simulation.currentStep)
        # the positions as the file stores them (float32): the analysis reads the same numbers,
        # so a resumed run continues its accumulators bit for bit
        pos = units.positions_from_openmm(state.getPositions(asNumpy=True)).astype(np.float32).astype(np.float64)
        vel = units.velocities_from_openmm(state.getVelocities(asNumpy=True))
        if self._writer is None:
            self._setup(simulation, state, pos, step)
        if step <= self._last_step:
            return  # restarted run: this frame is already in the file
        why = blow_up_reason(pos, vel, self._masses, self._dof, self.max_kinetic_temperature)
        if why is not None:
            self._blew_up(step, why)
        frame = {
            "step": step,
            "time": units.as_reduced_time(state.getTime()),
            "kinetic_temperature": geometry.kinetic_temperature(vel, self._masses, dof=self._dof),
            "thermostat_temperature": self._thermostat_T(simulation),
        }
        self._last_step = step
        self._submit(frame, pos)

    def _blew_up(self, step: int, why: str) -> None:
        last = self._last_step
        self.close()
        import h5py

        try:
            with h5py.File(self.file, "a", libver="latest") as h:
                h.attrs["blew_up"] = json.dumps({"step": step, "reason": why})
        except OSError as exc:  # a reader holding the file: the frames are there, the note is not
            log.warning("%s: could not note the blow-up in the file (%s)", self.file, exc)
        raise SimulationBlewUp(
            f"the simulation blew up at step {step}: {why}. {self.file} holds every frame up to step {last}. "
            "Reduce the timestep, minimise the starting configuration, or check the temperature."
        )

    # ------------------------------------------------------------------ set-up
    def _setup(self, simulation: Any, state: Any, pos: np.ndarray, step: int) -> None:
        system = simulation.system
        n = system.getNumParticles()
        self._types = types_from_simulation(simulation)
        self._box = units.box_from_openmm(state.getPeriodicBoxVectors())
        dims = geometry.infer_dimensions(pos)  # the one place the dimension is read
        self._masses = np.array([units.mass_from_openmm(system.getParticleMass(i)) for i in range(n)])
        self._dof = geometry.degrees_of_freedom(n, dims)
        if self._model is not None:
            self.predictor.check_system(n, self._types, dims, positions=pos, box=self._box)
            if self.temperature is None and hasattr(simulation.integrator, "getTemperature"):
                self.temperature = units.as_reduced_temperature(simulation.integrator.getTemperature())
            self._model.bind(simulation.context.getPlatform().getName(), self.temperature)
        dt = units.as_reduced_time(simulation.integrator.getStepSize())
        self._analysis = FrameAnalysis(self.schedule, dt, self._types, self.q, self.overlap_a, self.species, dims,
                                       self.analyses, self.reference, self.max_origins)
        writer = ReportWriter(self.file, n)
        if self.file.exists() and self.append:
            res = writer.open_existing(self._resume_step, self.schedule.is_origin, self.max_origins, self._types)
            self.frames_dropped = res.dropped
            if res.dropped:
                log.warning("%s: dropped frames after step %s written by the run before the restart "
                            "(or torn by a crash): %s", self.file, self._resume_step, res.dropped)
            self._last_step, self.frames_written = res.last_step, res.frames
            self.skipped = res.counters["skipped_inferences"]
            self._counted = {k: res.counters[k] for k in ("model_errors", "nonfinite_predictions")}
            if res.frames:
                self._analysis.restore(res.table, res.origins, res.reference)
                self._last_table = res.table
            else:
                writer.write_reference(pos)
        else:
            writer.create(self._types, self._box, pos, {
                "box": self._box, "report_interval": self._interval, "schedule": self.schedule.to_json(),
                "model_metadata": json.dumps(self.predictor.metadata if self.predictor else None),
                "backend": getattr(self.predictor, "backend_name", "") if self.predictor else "",
                "analysis": analysis_attrs(self.q, self.overlap_a, self.species, self.reference, dims),
                "dynamics_n_selected": self._analysis.n_selected,
            }, self.analyses, self._analysis.lag_steps, self._analysis.lag_times, self._analysis.shape)
        self._writer = writer
        if self._model is not None and self.asynchronous:
            self._queue = queue.Queue()  # unbounded: the slots bound the frames waiting for the model
            self._worker = threading.Thread(target=self._work, name="glassmm-reporter", daemon=True)
            self._worker.start()

    @staticmethod
    def _thermostat_T(simulation: Any) -> float:
        integ = simulation.integrator
        if hasattr(integ, "getTemperature"):
            return units.as_reduced_temperature(integ.getTemperature())
        return float("nan")

    # ------------------------------------------------------------------ inference, analysis, writing
    def _submit(self, frame: dict[str, Any], pos: np.ndarray) -> None:
        if self._queue is None:
            self._process(frame, pos, run_model=self._model is not None)
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
        """snapshot -> model, analysis -> writer (in step order: one worker, or the MD thread)."""
        if run_model:
            prop, t_est = self._model(frame["step"], pos, self._box, self._types)
        else:
            prop, t_est = np.full(len(pos), np.nan, dtype=np.float32), float("nan")
        series = self._analysis.series(pos)
        table = self._analysis.add(frame["step"], pos)
        counters = self._counters()
        row = {"step": frame["step"], "time": frame["time"], "temperature_estimate": t_est,
               "kinetic_temperature": frame["kinetic_temperature"],
               "thermostat_temperature": frame["thermostat_temperature"],
               "positions": pos, "propensity": prop, "counters": [counters[c] for c in COUNTERS],
               "dynamics/sums": table, **{f"analysis/{k}": v for k, v in series.items()}}
        with self._lock:
            self.frames_written = self._writer.append(row)
            self._last_table = table
        if self._progress is not None:
            self._print_line(frame, series, prop, t_est)

    def _print_line(self, frame: dict[str, Any], series: dict[str, float], prop: np.ndarray, t_est: float) -> None:
        out = self._progress
        if not self._printed_header:
            print('#"Step"\t"Time (tau)"\t"T_kin (eps/k_B)"\t"T_est (eps/k_B)"\t"F_s"\t"<propensity> (sigma)"'
                  '\t"Skipped"', file=out)
            self._printed_header = True
        fs = series.get("fs", float("nan"))
        sel = self._types == self.species if self.species is not None else slice(None)
        mean_prop = float(np.mean(prop[sel])) if np.isfinite(prop).any() else float("nan")
        print(f"{frame['step']}\t{frame['time']:.4f}\t{frame['kinetic_temperature']:.4f}\t{t_est:.4f}\t{fs:.4f}"
              f"\t{mean_prop:.4f}\t{self.skipped}", file=out)
        out.flush()

    # ------------------------------------------------------------------ lifecycle
    def _raise_stored(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def flush(self) -> None:
        """Wait until every queued frame is written and committed (the file stays open)."""
        if self._queue is not None and self._worker is not None and self._worker.is_alive():
            done = threading.Event()
            self._queue.put(_Flush(done))
            done.wait()
        self._raise_stored()

    def close(self) -> None:
        """Write every queued frame, close the file, and raise any error the worker stored.

        Warns (UserWarning) when lags of the multiple-origin dynamics hold fewer than
        ``min_samples`` samples: chi_4 and F_s there are noise.
        """
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
                        self._writer.close()
                    except Exception as exc:  # noqa: BLE001
                        if self._error is None:
                            self._error = exc
        self._warn_few_samples()
        self._raise_stored()

    def _warn_few_samples(self) -> None:
        if self._last_table is None or self._analysis is None:
            return
        n = self._last_table.sum(axis=1)[:, 0]
        thin = (n > 0) & (n < self.min_samples)
        if thin.any():
            lags = self._analysis.lag_times[thin]
            msg = (f"{self.file}: {int(thin.sum())} of {int((n > 0).sum())} lags of the multiple-origin dynamics "
                   f"have fewer than {self.min_samples} samples (lags {lags.min():.4g}-{lags.max():.4g} tau, "
                   f"{int(n[thin].min())}-{int(n[thin].max())} samples): F_s and chi_4 there are noise; run longer, "
                   "or keep more origins (max_origins)")
            warnings.warn(msg, stacklevel=3)

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


def _existing_schedule(path: Path) -> Schedule:
    """The schedule stored in an existing report (for ``append``), checking it is one glassmm can continue."""
    try:
        with open_frames(path) as h:
            version = int(h.attrs.get("schema_version", -1))
            if version != SCHEMA_VERSION:
                raise ValueError(f"{path}: not a glassmm report file of schema {SCHEMA_VERSION} (it has "
                                 f"{version}); cannot append to it")
            return Schedule.from_json(h.attrs["schedule"])
    except (OSError, ValueError) as exc:
        if "schema" in str(exc):
            raise
        raise ValueError(f"{path}: exists but is not a readable HDF5 report ({exc}); cannot append to it") from None


def types_from_simulation(simulation: Any) -> np.ndarray:
    """Particle types (0 = A, 1 = B): the KA force's per-particle ``t``, else the topology's atom names."""
    system = simulation.system
    for f in system.getForces():
        if hasattr(f, "getNumPerParticleParameters") and f.getNumPerParticleParameters() >= 1 \
                and f.getPerParticleParameterName(0) == "t":
            return np.array([int(round(f.getParticleParameters(i)[0])) for i in range(f.getNumParticles())], dtype=np.int8)
    names = [a.name for a in simulation.topology.atoms()]
    if len(names) == system.getNumParticles() and set(names) <= {"A", "B"}:
        return np.array([0 if a == "A" else 1 for a in names], dtype=np.int8)
    raise ValueError("cannot tell the particle types: the system has no Kob-Andersen force (a per-particle "
                     "parameter 't') and its topology's atoms are not named A / B; build it with glassmm.KobAndersen")
