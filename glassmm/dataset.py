"""Measuring tau_alpha from MD, and the multi-temperature isoconfigurational dataset recipe."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from glassmm.geometry import remove_drift, zero_momentum
from glassmm.io import Configuration, atomic_write


def measure_tau_alpha(
    simulation: Any,
    types: np.ndarray,
    frame_interval: float = 0.1,
    max_time: float = 1000.0,
    dt: float = 0.005,
    q: float = 7.25,
    progress: bool | str = False,
) -> tuple[float, Any]:
    """Run ``simulation`` until F_s(q, t) of A particles has decayed below 1/e, and return tau_alpha.

    Frames are taken every ``frame_interval`` (reduced time) and F_s is averaged over time
    origins. The run stops once tau_alpha is below a third of the trajectory length, so
    that several origins enter the estimate, or at ``max_time`` (tau_alpha is then nan).

    Returns
    -------
    tau_alpha : float (reduced, tau)
    dynamics : glassmm.analysis.SelfDynamics
    """
    from glassmm.analysis import SelfDynamics
    from glassmm.simulation import get_positions

    every = max(1, int(round(frame_interval / dt)))
    first = get_positions(simulation.context)

    def frame() -> np.ndarray:
        # displacements relative to the centre of mass: a drifting one decays F_s spuriously
        # (it shortened tau_alpha 3.7x at T = 0.65: 2.6 vs 9.6)
        return remove_drift(get_positions(simulation.context), first)

    frames = [first]
    next_check = 10
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc=progress if isinstance(progress, str) else "tau_alpha", unit="tau", total=max_time)
    sd = SelfDynamics(q=q)
    tau = float("nan")
    while (len(frames) - 1) * every * dt < max_time:
        simulation.step(every)
        frames.append(frame())
        if bar is not None:
            bar.update(every * dt)
        if len(frames) - 1 >= next_check:
            next_check = int(next_check * 1.5) + 1
            times = np.arange(len(frames)) * every * dt
            sd.compute(np.asarray(frames), None, types, times=times)
            tau = sd.tau_alpha
            if np.isfinite(tau) and tau < times[-1] / 3:
                break
    if bar is not None:
        bar.close()
    times = np.arange(len(frames)) * every * dt
    sd.compute(np.asarray(frames), None, types, times=times)
    tau = sd.tau_alpha
    if not (np.isfinite(tau) and tau < times[-1] / 3):
        tau = float("nan") if not np.isfinite(tau) else tau
    return tau, sd


def make_dataset(
    temperatures: Sequence[float],
    output: str | Path,
    n_particles: int = 1000,
    n_configs: int = 2,
    n_replicas: int = 16,
    tau_multiples: Sequence[float] = (0.5, 1.0, 2.0),
    equilibration_taus: float = 20.0,
    min_equilibration: float = 50.0,
    max_equilibration: float = 2000.0,
    tau_tolerance: float = 0.25,
    platform: str = "auto",
    workers: int = 1,
    executor: Any = "local",
    seed: int = 0,
    dt: float = 0.005,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate a small multi-temperature isoconfigurational dataset from glassmm's own MD.

    For each temperature: melt and quench a KA liquid (Langevin), equilibrate, measure
    tau_alpha(T) under Nose-Hoover dynamics, equilibrate for a further
    ``equilibration_taus`` tau_alpha (at least ``min_equilibration``) and measure again,
    repeating until tau_alpha grows by less than ``tau_tolerance`` (or the equilibration
    reaches ``max_equilibration``, with a warning), then take
    ``n_configs`` configurations 2 tau_alpha apart and run an isoconfigurational ensemble
    from each with targets at ``tau_multiples`` x tau_alpha. Writes

    * ``OUTPUT/T<T>/c<k>_t<j>.npz`` (BOTAN layout, one per configuration and time),
    * ``OUTPUT/tau_alpha.json`` (the measured table, with costs).

    Returns the table as a dict.
    """
    from glassmm.isoconf import run_isoconfigurational
    from glassmm.simulation import create_simulation, get_positions, melt_and_quench, run
    from glassmm.systems import KobAndersen

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    table: dict[str, Any] = {"n_particles": n_particles, "n_replicas": n_replicas, "n_configs": n_configs,
                             "tau_multiples": list(tau_multiples), "dt": dt, "seed": seed, "temperatures": []}
    done = _finished_temperatures(output / "tau_alpha.json", table)
    t_start = time.perf_counter()
    for i, T in enumerate(temperatures):
        if float(T) in done:  # resume: this temperature is complete on disk
            table["temperatures"].append(done[float(T)])
            continue
        t0 = time.perf_counter()
        ka = KobAndersen(n_particles, positions="random", seed=seed + i)
        sim = create_simulation(ka, "langevin", temperature=T, dt=dt, platform=platform, seed=seed + i)
        melt_and_quench(sim, T, equilibration_time=min_equilibration, dt=dt, progress=progress and f"T={T} equilibrate")
        estimates, equilibrated, converged = _equilibrate_until_tau_converges(
            sim, ka, T, dt, platform, seed + i, equilibration_taus, min_equilibration, max_equilibration,
            tau_tolerance, progress)
        tau = estimates[-1]
        times = np.unique(np.maximum(1, np.round(np.asarray(tau_multiples) * tau / dt)).astype(int)) * dt
        files = []
        for k in range(n_configs):
            if k:
                run(sim, int(round(2 * tau / dt)))
            config = Configuration(get_positions(sim.context), ka.types, ka.box, temperature=T)
            res = run_isoconfigurational(
                config, T, output / f"T{T:.3f}" / f"c{k}", n_replicas=n_replicas, times=times, dt=dt,
                platform=platform, seed=seed * 1000 + 100 * i + k, executor=executor, workers=workers,
                progress=progress,
            )
            files += [str(f) for f in res.files]
        entry = {"temperature": float(T), "tau_alpha": tau, "tau_alpha_estimates": estimates,
                 "tau_alpha_converged": converged, "equilibration_time": equilibrated,
                 "times": times.tolist(), "files": files, "seconds": time.perf_counter() - t0}
        table["temperatures"].append(entry)
        with atomic_write(output / "tau_alpha.json", "w") as fh:  # progress survives a crash
            json.dump(table, fh, indent=2)
    table["temperatures"].sort(key=lambda e: e["temperature"])
    table["seconds"] = time.perf_counter() - t_start
    with atomic_write(output / "tau_alpha.json", "w") as fh:
        json.dump(table, fh, indent=2)
    return table


def _equilibrate_until_tau_converges(
    sim: Any, ka: Any, T: float, dt: float, platform: str, seed: int, equilibration_taus: float,
    min_equilibration: float, max_equilibration: float, tau_tolerance: float, progress: bool,
) -> tuple[list[float], float, bool]:
    """Measure tau_alpha, equilibrate ``equilibration_taus`` x tau more, re-measure, until it stops growing.

    A fresh quench ages: measured right after it, F_s decays faster than in the equilibrium
    liquid (at T = 0.65 the estimates went 5.4, 8.8, 9.6 tau). Returns the estimates (reduced,
    tau), the equilibration time spent and whether they converged within ``tau_tolerance``.
    """
    from glassmm.simulation import create_simulation, get_positions, get_velocities, run

    def measure() -> float:
        # on a Nose-Hoover copy, so the Langevin chain the configurations come from goes on untouched
        ka.positions_reduced = get_positions(sim.context)
        v = get_velocities(sim.context)
        # zero total momentum: Nose-Hoover conserves it, so a Langevin chain's leftover
        # momentum would drift the whole liquid for the entire measurement
        nh = create_simulation(ka, "nose-hoover", temperature=T, dt=dt, platform=platform, seed=seed,
                               velocities=zero_momentum(v))
        t, _ = measure_tau_alpha(nh, ka.types, frame_interval=max(dt, 0.02), max_time=2000.0, dt=dt,
                                 progress=progress and f"T={T} tau_alpha")
        if not np.isfinite(t):
            raise RuntimeError(f"tau_alpha at T={T} did not decay within 2000 tau; choose a higher temperature")
        return t

    estimates = [measure()]
    equilibrated = min_equilibration
    while True:
        extra = max(equilibration_taus * estimates[-1], min_equilibration)
        run(sim, int(round(extra / dt)), progress and f"T={T} more equilibration")
        equilibrated += extra
        estimates.append(measure())
        if estimates[-1] <= (1 + tau_tolerance) * estimates[-2]:
            return estimates, equilibrated, True
        if equilibrated >= max_equilibration:
            warnings.warn(f"T={T}: tau_alpha still growing after {equilibrated:.0f} tau of equilibration "
                          f"({estimates}); the liquid is not equilibrated: raise max_equilibration or T")
            return estimates, equilibrated, False


def _finished_temperatures(path: Path, table: dict[str, Any]) -> dict[float, dict[str, Any]]:
    """Entries of an earlier run's table that can be reused: same recipe, every file present.

    A table written with different parameters is an error rather than a silent overwrite,
    since its files would be mixed with new ones.
    """
    if not path.exists():
        return {}
    try:
        old = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: corrupt tau_alpha table ({exc}); move it away to start afresh") from exc
    keys = ("n_particles", "n_replicas", "n_configs", "tau_multiples", "dt", "seed")
    diff = [k for k in keys if old.get(k) != table.get(k)]
    if diff:
        raise ValueError(f"{path} was written with different {', '.join(diff)} "
                         f"({[old.get(k) for k in diff]} vs {[table.get(k) for k in diff]}); use another output directory")
    return {float(e["temperature"]): e for e in old.get("temperatures", [])
            if all(Path(f).exists() for f in e.get("files", []))}
