"""End-to-end jobs shared by the command line and Python users (simulate, ...)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np


def simulate(
    temperature: float,
    output: str | Path = "run",
    input: str | Path | None = None,
    n_particles: int = 1000,
    density: float = 1.2,
    dimensions: int = 3,
    equilibration_time: float = 10.0,
    melt: bool = True,
    production_time: float = 10.0,
    dt: float = 0.005,
    integrator: str = "langevin",
    platform: str = "auto",
    precision: str | None = None,
    seed: int = 0,
    report_every: float = 1.0,
    progress: bool = True,
    deterministic: bool = False,
    resume: bool | None = None,
) -> dict[str, Any]:
    """Equilibrate a KA system at ``temperature`` and run production MD, resumably.

    Writes ``OUTPUT.dcd`` (unwrapped trajectory; the DCD format's Angstrom, 10 A = 1 sigma)
    with its types in ``OUTPUT.dcd.types.npz``, ``OUTPUT.log`` (one line per frame, reduced
    units, stated in its header), ``OUTPUT.npz`` (final positions and velocities, BOTAN layout,
    reduced) and ``OUTPUT.chk`` (checkpoint: the OpenMM state and the protocol's progress,
    written after every ``report_every`` of MD, equilibration included). All times are
    reduced (tau). ``platform="auto"`` runs on the fastest platform here (GPU platforms in
    ``precision``, mixed by default); ``deterministic`` asks for bitwise-reproducible force sums.

    Resuming: rerunning the same call continues from ``OUTPUT.chk`` (``resume=None``); the
    trajectory and log are cut to the checkpoint first, so a killed run leaves no duplicate
    frame. On the Reference platform the resumed trajectory equals an uninterrupted one bit
    for bit. A longer ``production_time`` extends a finished run; other changed parameters
    are refused by name. ``resume=True`` requires a checkpoint, ``False`` starts over.

    Raises
    ------
    ValueError
        Bad input, named before any MD (a temperature in Kelvin, a non-positive step, ...).
    glassmm.simulation.SimulationBlewUp
        Non-finite positions or an absurd kinetic temperature; the checkpoint before it is kept.

    Returns
    -------
    dict
        Paths, energies per particle (reduced) and measured steps/s.
    """
    from glassmm.io import load_checkpoint, load_configuration
    from glassmm.simulation import check_temperature, melt_segments

    T = check_temperature(temperature)
    for name, value in (("dt", dt), ("report_every", report_every)):
        if not value > 0:
            raise ValueError(f"{name} must be positive (tau); got {value}")
    if production_time < 0 or equilibration_time < 0:
        raise ValueError("production and equilibration times must not be negative (tau)")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    paths = {ext: output.parent / f"{output.name}.{ext}" for ext in ("dcd", "log", "npz", "chk")}  # keep dots in names
    every = max(1, int(round(report_every / dt)))
    n_prod = int(round(production_time / dt))
    if input is not None:
        config = load_configuration(input, density=density)
        ka = _system_from(config)
        start_velocities = config.extra.get("velocities") if not melt else None
    else:
        config = None
        ka = _fresh_system(n_particles, density, dimensions, seed)
        start_velocities = None
    start_integrator = "langevin" if (melt and integrator == "nve") else integrator
    segments = (melt_segments(T, equilibration_time=equilibration_time, dt=dt) if melt
                else [("equilibrate", T, int(round(equilibration_time / dt)))])
    signature = {"temperature": T, "n_particles": ka.n_particles, "density": density, "dimensions": ka.dimensions,
                 "input": None if config is None else _checksum(config.positions), "melt": bool(melt),
                 "equilibration_time": equilibration_time, "dt": dt, "integrator": integrator, "platform": platform,
                 "precision": precision, "seed": seed, "report_every": report_every, "deterministic": bool(deterministic)}

    run = _ResumableRun(ka, T, dt, platform, precision, seed, deterministic, paths, every, progress)
    stored = None
    if paths["chk"].exists() and resume is not False:
        engine, stored = load_checkpoint(paths["chk"])
        if stored.get("signature") != signature:
            old = stored.get("signature", {})
            differ = ", ".join(f"{k}: {old.get(k)!r} -> {v!r}" for k, v in signature.items() if old.get(k) != v)
            raise ValueError(f"{paths['chk']} is the checkpoint of another run ({differ}); rerun with its "
                             "parameters to continue it, or resume=False (--restart) to start over")
    elif resume:
        raise ValueError(f"nothing to resume: {paths['chk']} does not exist")
    segments.append(("production", T, n_prod))
    if stored is None:
        run.start(start_integrator, start_velocities)
        seg, done = 0, 0
    else:
        seg, done = int(stored["segment"]), int(stored["done"])
        run.load(stored["phase_integrator"], engine)
        if stored.get("production_started"):
            run.open_reporters(append=True)
    prod = len(segments) - 1
    while seg < len(segments):
        label, temp, n = segments[seg]
        if seg == prod and run.kind != integrator:
            run.switch(integrator)  # NVE production after a Langevin melt: zero momentum, same positions
        if seg == prod and not run.production_started:
            run.begin_production()
        run.segment(label, temp, n, done, progress_of=lambda d, s=seg: {"signature": signature, "segment": s, "done": d})
        seg, done = seg + 1, 0
    final = run.final_state()
    save_configuration_with_velocities(paths["npz"], final, ka, T, dt, seed)
    return {
        "trajectory": str(paths["dcd"]),
        "topology": str(paths["dcd"]) + ".types.npz",
        "log": str(paths["log"]),
        "final_configuration": str(paths["npz"]),
        "checkpoint": str(paths["chk"]),
        "resumed_from_step": None if stored is None else stored.get("production_step"),
        "n_particles": ka.n_particles,
        "temperature": T,
        "production_steps": n_prod,
        "steps_per_s": run.steps_per_s,
        "platform": run.sim.context.getPlatform().getName(),
        "potential_energy_per_particle": final["potential_energy"] / ka.n_particles,
        "units": "reduced (sigma_AA, tau, epsilon_AA, epsilon_AA/k_B)",
    }


def _system_from(config: Any) -> Any:
    """The KA system of a configuration file."""
    from glassmm.systems import KobAndersen

    return KobAndersen.from_configuration(config)


def _fresh_system(n: int, density: float, dimensions: int, seed: int) -> Any:
    from glassmm.systems import KobAndersen

    return KobAndersen(n, density=density, dimensions=dimensions, positions="random", seed=seed)


def _checksum(arr: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(np.asarray(arr, dtype=np.float64)).tobytes()).hexdigest()[:16]


def save_configuration_with_velocities(path: Path, final: dict[str, Any], ka: Any, T: float, dt: float,
                                       seed: int) -> None:
    """The final state of a run: positions and velocities (reduced), BOTAN layout."""
    from glassmm.io import Configuration, save_configuration

    config = Configuration(positions=final["positions"], types=ka.types, box=ka.box, temperature=T)
    save_configuration(path, config, velocities=final["velocities"], dt=np.float64(dt), seeds=np.int64(seed),
                       step=np.int64(final["step"]), time=np.float64(final["time"]))


class _ResumableRun:
    """One simulation carried through the protocol's segments, checkpointed after every chunk."""

    def __init__(self, ka: Any, T: float, dt: float, platform: str, precision: str | None, seed: int,
                 deterministic: bool, paths: dict[str, Path], every: int, progress: bool) -> None:
        self.ka, self.T, self.dt, self.platform, self.precision = ka, T, dt, platform, precision
        self.seed, self.deterministic, self.paths, self.every, self.progress = seed, deterministic, paths, every, progress
        self.sim: Any = None
        self.kind = ""
        self.production_started = False
        self._reporters: list[Any] = []
        self._prod_steps, self._prod_wall = 0, 0.0
        self._masses = np.ones(ka.n_particles)
        from glassmm.geometry import degrees_of_freedom

        self._dof = degrees_of_freedom(ka.n_particles, ka.dimensions)

    def _build(self, kind: str, velocities: Any = "thermal") -> None:
        from glassmm.simulation import create_simulation

        self.sim = create_simulation(self.ka, kind, temperature=self.T, dt=self.dt, platform=self.platform,
                                     precision=self.precision, seed=self.seed, velocities=velocities,
                                     deterministic=self.deterministic)
        self.kind = kind
        system = self.sim.system
        from glassmm import units

        self._masses = np.array([units.mass_from_openmm(system.getParticleMass(i)) for i in range(system.getNumParticles())])

    def start(self, kind: str, velocities: np.ndarray | None) -> None:
        self._build(kind, "thermal" if velocities is None else velocities)

    def load(self, kind: str, engine: bytes) -> None:
        self._build(kind)
        try:
            self.sim.context.loadCheckpoint(engine)
        except Exception as exc:
            raise ValueError(f"{self.paths['chk']}: cannot be loaded here ({exc}); an OpenMM checkpoint continues "
                             "only on the platform and OpenMM version that wrote it") from None

    def switch(self, kind: str) -> None:
        from glassmm.geometry import zero_momentum
        from glassmm.simulation import get_positions, get_velocities, set_velocities

        # The Langevin chain leaves a random total momentum; carried into NVE it is a
        # conserved drift of the whole liquid that decays F_s spuriously (issue 16).
        velocities = zero_momentum(get_velocities(self.sim.context))
        self.ka.positions_reduced = get_positions(self.sim.context)
        self._build(kind, None)
        set_velocities(self.sim.context, velocities)

    def begin_production(self) -> None:
        """Production counts its steps and time from zero: frame k of the trajectory is at step (k + 1) every."""
        self.sim.context.setTime(0.0)
        self.sim.currentStep = 0
        self.production_started = True
        self.open_reporters(append=False)

    def open_reporters(self, append: bool) -> None:
        from glassmm.trajectory import RunLogReporter, cut_to_step, dcd_reporter

        self.production_started = True
        if append:  # the kill may have left frames after the checkpoint, or a torn one
            for f in (self.paths["dcd"], self.paths["log"]):
                cut_to_step(f, int(self.sim.currentStep))
        self._reporters = [dcd_reporter(self.paths["dcd"], self.every, self.ka, append=append),
                           RunLogReporter(self.paths["log"], self.every, self.ka.n_particles, self.ka.dimensions,
                                          append=append)]
        self.sim.reporters[:] = self._reporters

    def segment(self, label: str, temperature: float, n: int, done: int, progress_of: Any) -> None:
        from glassmm.simulation import set_temperature

        if self.kind != "nve":
            set_temperature(self.sim, temperature)
        bar = None
        if self.progress and n - done > 0 and label in ("melt", "equilibrate", "production"):
            from tqdm.auto import tqdm

            bar = tqdm(total=n, initial=done, desc=label, unit="step")
        while done < n:
            k = min(self.every - int(self.sim.currentStep) % self.every if label == "production" else self.every,
                    n - done)
            t0 = time.perf_counter()
            self._step(k)
            if label == "production":
                self._prod_steps += k
                self._prod_wall += time.perf_counter() - t0
            done += k
            self._check()
            self._checkpoint(progress_of(done))
            if bar is not None:
                bar.update(k)
        if bar is not None:
            bar.close()

    def _step(self, k: int) -> None:
        import openmm

        from glassmm.simulation import SimulationBlewUp

        try:
            self.sim.step(k)
        except openmm.OpenMMException as exc:
            if "nan" in str(exc).lower():
                raise SimulationBlewUp(f"the simulation blew up near step {self.sim.currentStep}: OpenMM says "
                                       f"{str(exc).strip().splitlines()[0]}. Reduce the timestep (dt = {self.dt} tau), "
                                       "or check the temperature and the starting configuration") from None
            raise

    def _check(self) -> None:
        from glassmm import units
        from glassmm.simulation import SimulationBlewUp, blow_up_reason

        state = self.sim.context.getState(getPositions=True, getVelocities=True)
        why = blow_up_reason(units.positions_from_openmm(state.getPositions(asNumpy=True)),
                             units.velocities_from_openmm(state.getVelocities(asNumpy=True)), self._masses, self._dof)
        if why is not None:
            raise SimulationBlewUp(f"the simulation blew up by step {self.sim.currentStep}: {why}. Reduce the "
                                   f"timestep (dt = {self.dt} tau), or check the temperature and the starting "
                                   f"configuration (the last checkpoint, if one was written, holds the last sane state)")

    def _checkpoint(self, progress: dict[str, Any]) -> None:
        from glassmm.io import save_checkpoint

        progress.update(phase_integrator=self.kind, production_started=self.production_started,
                        production_step=int(self.sim.currentStep) if self.production_started else None)
        save_checkpoint(self.paths["chk"], self.sim.context.createCheckpoint(), progress)

    @property
    def steps_per_s(self) -> float:
        return self._prod_steps / self._prod_wall if self._prod_wall > 0 else float("nan")

    def final_state(self) -> dict[str, Any]:
        from glassmm import units

        state = self.sim.context.getState(getPositions=True, getVelocities=True, getEnergy=True)
        for r in self._reporters:
            getattr(r, "close", lambda: None)()
        self.sim.reporters.clear()
        return {"positions": units.positions_from_openmm(state.getPositions(asNumpy=True)),
                "velocities": units.velocities_from_openmm(state.getVelocities(asNumpy=True)),
                "potential_energy": units.as_reduced_energy(state.getPotentialEnergy()),
                "step": int(self.sim.currentStep), "time": units.as_reduced_time(state.getTime())}


def inspect_configuration(path: str | Path, density: float = 1.2, platform: str = "Reference") -> dict[str, Any]:
    """Facts about a configuration file as a dict (the API behind ``glassmm inspect``)."""
    from glassmm.geometry import infer_dimensions
    from glassmm.io import is_hdf5, load_configuration
    from glassmm.simulation import potential_energy_per_particle

    if Path(path).exists() and is_hdf5(path):
        return inspect_report(path)
    c = load_configuration(path, density=density)
    n_b = int(np.sum(c.types == 1))
    dims = infer_dimensions(c.positions)
    out: dict[str, Any] = {
        "file": str(path),
        "n_particles": c.n_particles,
        "n_a": c.n_particles - n_b,
        "n_b": n_b,
        "fraction_a": (c.n_particles - n_b) / c.n_particles,
        "dimensions": dims,
        "box": c.box.tolist(),
        "box_inferred": c.box_inferred,
        "density": c.n_particles / float(np.prod(c.box[:dims])),
        "temperature": c.temperature,
        "potential_energy_per_particle": potential_energy_per_particle(c.positions, c.types, c.box, platform),
        "keys": sorted(["types", "initial_positions", *c.extra.keys()]),
    }
    if c.replica_positions is not None:
        out["n_replicas"] = int(np.asarray(c.replica_positions).reshape(-1, c.n_particles, 3).shape[0])
    if c.inherent_positions is not None:
        out["inherent_energy_per_particle"] = potential_energy_per_particle(
            c.inherent_positions, c.types, c.box, platform
        )
    return out


def inspect_report(path: str | Path) -> dict[str, Any]:
    """Facts about a GlassReporter HDF5 file as a dict (``glassmm inspect run.h5``)."""
    from glassmm.reporters import read_report

    with read_report(path) as r:
        steps, times = r["step"], r["time"]
        meta = r.model_metadata
        attrs = r.attrs
        out: dict[str, Any] = {
            "file": str(path), "kind": "glassmm report",
            "n_particles": int(r["types"].shape[0]),
            "frames": int(len(steps)),
            "steps": [int(steps[0]), int(steps[-1])] if len(steps) else [],
            "time": [float(times[0]), float(times[-1])] if len(times) else [],
            "box": np.asarray(attrs["box"]).tolist(),
            "types_sha256": str(attrs.get("types_sha256", "")),
            "schema_version": int(attrs.get("schema_version", -1)),
            "model": None if meta is None else meta.get("kind"),
            "backend": str(attrs.get("backend", "")),
            "skipped_inferences": int(attrs.get("skipped_inferences", 0)),
            "model_errors": int(attrs.get("model_errors", 0)),
            "keys": r.keys(),
        }
        if len(steps):
            out["mean_kinetic_temperature"] = float(np.nanmean(r["kinetic_temperature"]))
            est = r["temperature_estimate"]
            if np.isfinite(est).any():
                out["mean_temperature_estimate"] = float(np.nanmean(est))
    return out


def predict_file(path: str | Path, model: str, output: str | Path | None = None, device: str = "auto",
                 backend: str | None = None, temperature: float | None = None,
                 platform: str = "auto") -> dict[str, Any]:
    """Propensity (and temperature) of a configuration file (the API behind ``glassmm predict``).

    Writes ``output`` (npz: propensity (N,), types, temperature) when given; returns a summary
    with the mean and spread of the A particles' propensity (reduced length). ``device``
    (``auto``: cuda when torch sees a GPU) and ``backend`` choose where the model runs.
    Structures the model reads and the file lacks (IS, CS) are computed on ``platform`` and
    cached; a cage state needs the file's temperature, ``temperature`` (reduced), or a model
    trained at one temperature.
    """
    from glassmm.backends import load_predictor
    from glassmm.io import UNITS_NOTE, load_configuration, save_npz

    c = load_configuration(path)
    predictor, _ = load_predictor(model, backend=backend, device=device)
    predictor.check_system(c.n_particles, c.types)
    pred = predictor(c.positions, c.box, c.types, inherent_positions=c.inherent_positions,
                     cage_positions=c.cage_positions, platform=platform,
                     temperature=c.temperature if c.temperature is not None else temperature)
    record = predictor.record() if hasattr(predictor, "record") else {"model": str(model)}
    if output:
        # the file says which model made it: inputs, target time, training temperatures, units
        save_npz(output, propensity=pred.propensity, types=c.types, units=np.str_(UNITS_NOTE),
                 model_record=np.str_(json.dumps(record)),
                 **({"temperature": np.float64(pred.temperature)} if pred.temperature is not None else {}))
    A = c.types == 0
    return {"file": str(path), "model": str(model), "n_particles": c.n_particles,
            "device": str(predictor.device) if hasattr(predictor, "device") else None,
            "propensity_mean_A": float(pred.propensity[A].mean()), "propensity_std_A": float(pred.propensity[A].std()),
            "temperature": pred.temperature, "output": None if output is None else str(output), "model_record": record}


def _equilibrated(ka: Any, T: float, integrator: str, melt: bool, equilibration_time: float, dt: float,
                  platform: str, precision: str | None, seed: int, progress: bool,
                  deterministic: bool = False) -> Any:
    """A simulation of ``ka`` equilibrated at ``T`` (melted and quenched first when ``melt``), on ``integrator``.

    NVE production starts from a Langevin equilibration; positions and velocities carry over.
    """
    from glassmm.geometry import zero_momentum
    from glassmm.simulation import (create_simulation, get_positions, get_velocities, melt_and_quench, run,
                                    set_temperature, set_velocities)

    start_integrator = "langevin" if (melt and integrator == "nve") else integrator
    sim = create_simulation(ka, start_integrator, temperature=T, dt=dt, platform=platform,
                            precision=precision, seed=seed, deterministic=deterministic)
    if melt:
        melt_and_quench(sim, T, equilibration_time=equilibration_time, dt=dt, progress=progress)
    else:
        set_temperature(sim, T) if integrator != "nve" else None
        run(sim, int(round(equilibration_time / dt)), progress and "equilibrate")
    if start_integrator != integrator:
        # The Langevin chain leaves a random total momentum; carried into NVE it is a
        # conserved drift of the whole liquid that decays F_s spuriously (issue 16).
        velocities = zero_momentum(get_velocities(sim.context))
        ka.positions_reduced = get_positions(sim.context)
        sim = create_simulation(ka, integrator, temperature=T, dt=dt, platform=platform,
                                precision=precision, seed=seed, velocities=None, deterministic=deterministic)
        set_velocities(sim.context, velocities)
    return sim


def quench_file(
    path: str | Path,
    output: str | Path,
    method: str = "fire",
    force_tolerance: float = 1e-3,
    platform: str = "auto",
    density: float = 1.2,
    resume: bool | None = None,
) -> dict[str, Any]:
    """Quench a configuration file to its inherent structure; write it with ``initial_positions_inherent``.

    Every array of the input is kept; returns energies per particle (reduced) before/after.
    FIRE checkpoints to ``OUTPUT.chk`` as it goes (removed when the output is written): the
    same call after a kill continues from there (``resume=True`` insists on a checkpoint,
    False starts over).
    """
    from glassmm.io import INHERENT_KEY, load_configuration, save_configuration
    from glassmm.minimize import fire_minimize, lbfgs_minimize

    c = load_configuration(path, density=density)
    chk = Path(str(output) + ".chk")
    if resume and not chk.exists():
        raise ValueError(f"nothing to resume: {chk} does not exist")
    if resume is False:
        chk.unlink(missing_ok=True)
    t0 = time.perf_counter()
    if method == "fire":
        res = fire_minimize(c.positions, c.types, c.box, force_tolerance=force_tolerance, platform=platform,
                            checkpoint=chk)
    elif method == "lbfgs":
        res = lbfgs_minimize(c.positions, c.types, c.box, force_tolerance=force_tolerance, platform=platform)
    else:
        raise ValueError(f"unknown minimiser {method!r}; choose fire or lbfgs")
    c.extra[INHERENT_KEY] = res.positions
    save_configuration(output, c)
    chk.unlink(missing_ok=True)
    return {
        "input": str(path),
        "output": str(output),
        "method": method,
        "energy_per_particle": res.initial_energy_per_particle,
        "inherent_energy_per_particle": res.energy_per_particle,
        "max_force": res.max_force,
        "converged": res.converged,
        "steps": res.n_steps,
        "seconds": time.perf_counter() - t0,
    }


def cage_file(
    path: str | Path,
    output: str | Path,
    temperature: float | None = None,
    platform: str = "auto",
    density: float = 1.2,
    **parameters: Any,
) -> dict[str, Any]:
    """Compute a configuration file's cage state; write it with ``initial_positions_cage``.

    Every array of the input is kept. ``temperature`` (reduced) is needed when the file
    carries none; ``parameters`` are :class:`glassmm.cage.CageParameters` fields. Returns the
    mean distance of the cage state from the thermal and (when the file has one) the inherent
    positions, and the fraction of samples that met the tether.
    """
    from glassmm.cage import CageParameters, compute_cage_state
    from glassmm.io import CAGE_KEY, load_configuration, save_configuration

    c = load_configuration(path, density=density)
    temp = c.temperature if temperature is None else float(temperature)
    if temp is None:
        raise ValueError(f"{path} carries no temperature: pass the temperature (reduced) of the configuration")
    t0 = time.perf_counter()
    res = compute_cage_state(c.positions, c.types, c.box, CageParameters(temperature=temp, **parameters),
                             platform=platform)
    c.extra[CAGE_KEY] = res.positions
    save_configuration(output, c)
    out = {"input": str(path), "output": str(output), "temperature": temp,
           "mean_distance_from_thermal": float(np.linalg.norm(res.positions - c.positions, axis=1).mean()),
           "tethered_fraction": res.tethered_fraction, "md_steps": res.parameters.total_steps,
           "seconds": time.perf_counter() - t0}
    if c.inherent_positions is not None:
        out["mean_distance_from_inherent"] = float(np.linalg.norm(res.positions - c.inherent_positions, axis=1).mean())
    return out


def analyze_files(
    files: list[str | Path],
    topology: str | Path | None = None,
    q: float = 7.25,
    overlap_a: float = 0.3,
    species: int | None = 0,
    frame_interval: float | None = None,
    time: float | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Analyse isoconfigurational npz files, or trajectories: DCDs, glassmm HDF5 trajectories and reports.

    ``time`` (tau) is the lag of isoconfigurational files that do not store one (such as the
    BOTAN data in ``../shared``); a file's own ``time`` wins. A trajectory's types are those
    stored with it (inside an HDF5 file, beside a DCD in ``run.dcd.types.npz``); ``topology``
    (an npz configuration) is needed only for a DCD without them, and one whose types differ
    from the stored ones is refused by name. A DCD's frame interval comes from its header
    unless ``frame_interval`` (tau) is given; a wrapped trajectory is unwrapped with a warning.

    Returns
    -------
    results : dict
        JSON-ready figures (self dynamics, tau_alpha, S_4 and xi_4, g(r), S(q), reliability).
    objects : dict
        The compute objects, for plotting.
    """
    from glassmm.analysis import (
        FourPointStructureFactor,
        RadialDistribution,
        SelfDynamics,
        StaticStructureFactor,
        split_half_reliability,
    )
    from glassmm.io import load_configuration

    files = [Path(f) for f in files]
    if not files:
        raise ValueError("no input files given")
    objs: dict[str, Any] = {}
    results: dict[str, Any] = {"files": [str(f) for f in files], "units": "reduced (sigma_AA, tau, epsilon_AA)"}
    from glassmm.io import is_hdf5

    if all(f.suffix == ".dcd" or (f.exists() and is_hdf5(f)) for f in files):
        import warnings

        from glassmm.geometry import is_wrapped, unwrap
        from glassmm.trajectory import read_trajectory, types_checksum

        # the types stored with each trajectory (inside an HDF5 file, beside a DCD) are used,
        # and a --top whose types differ is refused by name (read_trajectory)
        trajs = [read_trajectory(f, top=topology, frame_interval=frame_interval) for f in files]
        if len({types_checksum(t.types) for t in trajs}) != 1:
            raise ValueError("the trajectories hold different particle types (different runs); analyse them apart")
        types, box = trajs[0].types, trajs[0].box
        frames = np.concatenate([t.positions for t in trajs])
        spacings = np.concatenate([np.diff(t.time) for t in trajs if t.n_frames > 1])
        if frame_interval is None:
            if len(spacings) == 0 or not np.allclose(spacings, spacings[0], rtol=1e-4):
                raise ValueError("the trajectories' frames are not equally spaced in time (a log schedule, or "
                                 "different runs); pass --frame-interval (tau) if they are")
            dt_frame = float(spacings[0])
        else:
            dt_frame = float(frame_interval)
            if len(spacings) and not np.allclose(spacings, dt_frame, rtol=1e-4):
                warnings.warn(f"--frame-interval {dt_frame} differs from the trajectory's {float(spacings[0]):.6g}; "
                              "using the given one", stacklevel=2)
        if is_wrapped(frames, box):
            warnings.warn("the trajectory is wrapped into the box (a particle jumps over half a box edge "
                          "between frames); unwrapping it by minimum-image steps between frames. Write "
                          "trajectories with enforcePeriodicBox=False", stacklevel=2)
            frames = unwrap(frames, box)
        times = np.arange(len(frames)) * dt_frame
        sd = SelfDynamics(q=q, overlap_a=overlap_a, species=species).compute(frames, box, types, times=times)
        first = frames[0]
        s4 = None
        results["types_sha256"] = types_checksum(types)
    else:
        configs = [load_configuration(f) for f in files]
        lags = []
        for f, c in zip(files, configs):
            if c.replica_positions is None:
                raise ValueError(f"{f}: not an isoconfigurational file (no replica 'positions'); "
                                 "for a trajectory pass .dcd files with --top")
            if "time" in c.extra:
                lags.append(float(c.extra["time"]))
            elif time is not None:
                lags.append(float(time))
            else:
                raise ValueError(f"{f}: stores no lag time ('time'); give it with --time T (tau), "
                                 "e.g. the replicas' time since the shared configuration")
        for c, t in zip(configs, lags):
            c.extra["time"] = t
        sd = SelfDynamics(q=q, overlap_a=overlap_a, species=species)
        for c in configs:
            sd.accumulate(c.replica_positions, c.box, c.types, reference=c.positions, time=float(c.extra["time"]))
        ta = sd.tau_alpha
        # S_4 at the lag closest to tau_alpha (or the last one), over replicas of every file there
        target = ta if np.isfinite(ta) else sd.times[-1]
        t_s4 = sd.times[np.argmin(np.abs(np.log(sd.times / target)))]
        s4 = FourPointStructureFactor(overlap_a=overlap_a, species=species)
        for c in configs:
            if np.isclose(float(c.extra["time"]), t_s4):
                s4.accumulate(c.replica_positions, c.box, c.types, reference=c.positions)
        results["s4_time"] = float(t_s4)
        results["reliability"] = [
            {"file": str(f), "time": float(c.extra["time"]), **split_half_reliability(c.positions, c.replica_positions, c.types, species)}
            for f, c in zip(files, configs) if c.replica_positions.shape[0] >= 4
        ]
        first, types, box = configs[0].positions, configs[0].types, configs[0].box
    objs["self_dynamics"] = sd
    results["self_dynamics"] = sd.as_dict()
    results["tau_alpha"] = results["self_dynamics"]["tau_alpha"]
    if s4 is not None and s4.n_samples >= 2:
        objs["s4"] = s4
        results["s4"] = s4.as_dict()
    gr = RadialDistribution(pair=(0, 0)).accumulate(first, box, types)
    sq = StaticStructureFactor(species=0).accumulate(first, box, types)
    objs["gr_AA"], objs["sq_AA"] = gr, sq
    results["gr_AA"], results["sq_AA"] = gr.as_dict(), sq.as_dict()
    results["sq_AA_peak_q"] = float(sq.q[np.argmax(sq.s)])
    return results, objs


def plot_analysis(objs: dict[str, Any], prefix: str | Path) -> list[str]:
    """Write one PNG per compute object: PREFIX_<name>.png."""
    prefix = Path(prefix)
    out = []
    for name, obj in objs.items():
        path = prefix.parent / f"{prefix.name}_{name}.png"
        obj.plot(path)
        out.append(str(path))
    return out
