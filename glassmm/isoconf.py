"""Isoconfigurational ensembles: R trajectories from the same positions, fresh velocities.

Each replica r draws Maxwell-Boltzmann velocities from ``seed_sequence(seed, r)`` (zero total
momentum) and runs NVE (or a thermostat) on one CPU thread, recording unwrapped positions at
the requested times. One thread per replica is deliberate: OpenMM's threaded CPU platform
sums CustomNonbondedForce forces in a varying order (measured: 1e-5 force differences,
2e-4 position differences after 500 steps between identical runs), so only single-threaded
replicas are reproducible bit for bit -- whichever executor runs them. Parallelism comes
from running replicas side by side instead.

Replicas are independent, so they go through an executor:

* ``"local"`` (default): a process pool of ``workers`` processes (1 = in this process).
  The pool *spawns* its workers (forking a process that already runs OpenMM/torch threads
  can crash the child), so a script that calls this with ``workers > 1`` needs the usual
  ``if __name__ == "__main__":`` guard: each worker re-imports the script;
* a ``dask.distributed.Client``, a cluster object (e.g. from ``dask-jobqueue``) or a
  scheduler address ``"tcp://host:port"``: Dask distributed.

Each finished replica is saved atomically under ``<output>.parts/``; an interrupted run
resumes from there. When all replicas are done, one BOTAN-layout npz per time point is
written (``<output>_t<k>.npz``) plus ``<output>.json`` with the metadata.
"""

from __future__ import annotations

import json
import time as _time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from glassmm._version import __version__
from glassmm.geometry import infer_dimensions
from glassmm.io import UNITS_NOTE, Configuration, atomic_write, save_npz


def log_spaced_times(t_max: float, n: int = 8, t_min: float | None = None, dt: float = 0.005) -> np.ndarray:
    """``n`` log-spaced times (reduced) from ``t_min`` (default 10 dt) to ``t_max``, on the step grid."""
    t_min = 10 * dt if t_min is None else t_min
    if not 0 < t_min < t_max:
        raise ValueError(f"need 0 < t_min < t_max; got t_min={t_min}, t_max={t_max}")
    steps = np.unique(np.round(np.geomspace(t_min, t_max, n) / dt).astype(np.int64))
    return steps * dt


def replica_seed(seed: int, replica: int) -> int:
    """Independent, reproducible per-replica seed (numpy SeedSequence spawn)."""
    return int(np.random.SeedSequence([int(seed), int(replica)]).generate_state(1)[0])


def run_replica(
    positions: np.ndarray,
    types: np.ndarray,
    box: np.ndarray,
    temperature: float,
    steps: Sequence[int],
    seed: int,
    dt: float = 0.005,
    integrator: str = "nve",
    platform: str = "auto",
    dimensions: int = 3,
) -> np.ndarray:
    """Run one replica; returns positions (len(steps), N, 3) at the given step counts.

    Top-level and free of closures so process pools and Dask can ship it.
    """
    from glassmm.platforms import resolve_name
    from glassmm.simulation import create_simulation, get_positions, maxwell_boltzmann_velocities
    from glassmm.systems import KobAndersen

    ka = KobAndersen(len(types), positions=positions, types=types, box=box, dimensions=dimensions)
    v = maxwell_boltzmann_velocities(len(types), temperature, seed, dimensions)
    sim = create_simulation(ka, integrator, temperature=temperature, dt=dt, platform=platform,
                            seed=seed % (2**31 - 1), velocities=v, threads=1 if resolve_name(platform) == "CPU" else None)
    out = np.empty((len(steps), len(types), 3))
    done = 0
    for k, s in enumerate(steps):
        if s > done:
            sim.step(int(s - done))
            done = int(s)
        out[k] = get_positions(sim.context)
    if not np.all(np.isfinite(out)):
        raise FloatingPointError(f"replica with seed {seed} produced non-finite positions (blow-up)")
    return out


@dataclass
class IsoconfResult:
    """Where an isoconfigurational run put its files."""

    files: list[Path]
    metadata_file: Path
    times: np.ndarray
    n_replicas: int
    wall_seconds: float
    replicas_run: int


def _resolve_executor(executor: Any, workers: int) -> tuple[str, Any]:
    if executor is None or executor == "local":
        return "local", None
    if isinstance(executor, str):
        from distributed import Client

        return "dask", Client(executor)
    if hasattr(executor, "submit") and hasattr(executor, "gather"):
        return "dask", executor  # a distributed.Client
    if hasattr(executor, "scheduler_address"):
        from distributed import Client

        return "dask", Client(executor)  # a LocalCluster / dask-jobqueue cluster
    raise ValueError(f"executor must be 'local', a dask Client, a cluster or an address; got {executor!r}")


def run_isoconfigurational(
    config: Configuration,
    temperature: float,
    output: str | Path,
    n_replicas: int = 32,
    times: Sequence[float] | None = None,
    dt: float = 0.005,
    integrator: str = "nve",
    platform: str = "auto",
    seed: int = 0,
    executor: Any = "local",
    workers: int = 1,
    progress: bool = True,
    on_replica_done: Callable[[int], None] | None = None,
    resume: bool | None = None,
) -> IsoconfResult:
    """Run (or resume) an isoconfigurational ensemble and write BOTAN-layout files.

    Parameters
    ----------
    config : Configuration
        Starting positions, types and box (reduced).
    temperature : float (reduced)
        Temperature of the Maxwell-Boltzmann velocities (and thermostat, if any).
    output : path
        Prefix: writes ``OUTPUT_t<k>.npz`` per time point and ``OUTPUT.json``.
    n_replicas : int
    times : sequence of float (reduced, tau), optional
        Recording times; default 8 log-spaced times up to 10 tau.
    dt : float (reduced, tau)
    integrator : {"nve", "langevin", "nose-hoover"}
    seed : int
        Master seed; replica r uses ``replica_seed(seed, r)``.
    executor : "local", dask Client, cluster or scheduler address
    workers : int
        Processes for the local executor.
    resume : bool, optional
        Replicas finished by an earlier call with the same parameters are kept (the default,
        None: rerunning the same call continues it); True insists that there are some, False
        runs every replica again.
    """
    from glassmm.simulation import check_temperature

    T = check_temperature(temperature)
    if int(n_replicas) < 1:
        raise ValueError(f"an isoconfigurational ensemble needs at least one replica; got n_replicas = {n_replicas}")
    if not dt > 0:
        raise ValueError(f"dt must be positive (tau); got {dt}")
    times, steps = _recording_steps(times, dt)
    output = Path(output)
    parts = output.parent / f"{output.name}.parts"
    seeds = [replica_seed(seed, r) for r in range(n_replicas)]
    signature = {
        "n_particles": config.n_particles,
        "temperature": T,
        "steps": steps.tolist(),
        "dt": dt,
        "integrator": integrator,
        "seed": seed,
        "positions_checksum": float(np.round(np.sum(config.positions * np.arange(1, 4)), 8)),
    }
    if resume and not (parts / "signature.json").exists():
        raise ValueError(f"nothing to resume: {parts} does not exist")
    if resume is False and parts.exists():
        import shutil

        shutil.rmtree(parts)
    _claim_parts(parts, signature)

    def part_path(r: int) -> Path:
        return parts / f"replica_{r:04d}.npz"

    todo = [r for r in range(n_replicas) if not _part_ok(part_path(r), len(steps), config.n_particles)]
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_replicas, initial=n_replicas - len(todo), desc="replicas", unit="replica")

    def finished(r: int, pos: np.ndarray) -> None:
        save_npz(part_path(r), positions=pos, seed=np.int64(seeds[r]))
        if bar is not None:
            bar.update(1)
        if on_replica_done is not None:
            on_replica_done(r)

    t0 = _time.perf_counter()
    job = ReplicaJob(config.positions, config.types, config.box, T, steps.tolist(),
                     dict(dt=dt, integrator=integrator, platform=platform, dimensions=infer_dimensions(config.positions)))
    _run_replicas(job, {r: seeds[r] for r in todo}, executor, workers, finished)
    wall = _time.perf_counter() - t0
    if bar is not None:
        bar.close()

    replicas = np.stack([np.load(part_path(r))["positions"] for r in range(n_replicas)])  # (R, K, N, 3)
    files = _write_time_files(output, config, T, times, dt, replicas, seeds, seed, integrator)
    meta = output.parent / f"{output.name}.json"
    with atomic_write(meta, "w") as fh:
        json.dump({**signature, "times": times.tolist(), "n_replicas": n_replicas,
                   "files": [str(f) for f in files], "glassmm_version": __version__, "units": UNITS_NOTE}, fh, indent=2)
    return IsoconfResult(files, meta, times, n_replicas, wall, len(todo))


def _recording_steps(times: Sequence[float] | None, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Recording times (reduced) and their step counts; refuses times off the step grid."""
    times = log_spaced_times(10.0, dt=dt) if times is None else np.asarray(times, dtype=float)
    if times.ndim != 1 or len(times) == 0 or np.any(times <= 0) or np.any(np.diff(times) <= 0):
        raise ValueError(f"times must be positive and increasing; got {times}")
    steps = np.round(times / dt).astype(np.int64)
    if np.any(np.abs(steps * dt - times) > 1e-9 * np.maximum(times, 1)):
        raise ValueError(f"times {times.tolist()} are not multiples of dt = {dt}")
    return times, steps


def _claim_parts(parts: Path, signature: dict[str, Any]) -> None:
    """Create the replica folder, or check that the replicas already in it are of this run."""
    parts.mkdir(parents=True, exist_ok=True)
    sig_file = parts / "signature.json"
    if sig_file.exists():
        old = json.loads(sig_file.read_text())
        if old != signature:
            raise ValueError(
                f"{parts} holds replicas of a different run ({_diff(old, signature)}); "
                "remove it or choose another output"
            )
    else:
        with atomic_write(sig_file, "w") as fh:
            json.dump(signature, fh)


@dataclass
class ReplicaJob:
    """What every replica of one ensemble shares (reduced units); ``options`` go to :func:`run_replica`."""

    positions: np.ndarray
    types: np.ndarray
    box: np.ndarray
    temperature: float
    steps: list[int]
    options: dict[str, Any]


def _run_replicas(job: ReplicaJob, seeds: dict[int, int], executor: Any, workers: int,
                  finished: Callable[[int, np.ndarray], None]) -> None:
    """Run the replicas ``seeds`` (replica -> seed) on the executor, calling ``finished`` as each ends."""
    args = (job.positions, job.types, job.box, job.temperature, job.steps)
    kind, client = _resolve_executor(executor, workers)
    if kind == "local" and workers <= 1:
        for r, sd in seeds.items():
            finished(r, run_replica(*args, seed=sd, **job.options))
    elif kind == "local":
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # spawn, not fork: the parent may already hold OpenMM/torch thread pools, and a forked
        # child inherits their locks mid-flight (CI saw a segfault in the child's first GC).
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            futs = {pool.submit(run_replica, *args, seed=sd, **job.options): r for r, sd in seeds.items()}
            for fut in as_completed(futs):
                finished(futs[fut], fut.result())
    else:
        from distributed import as_completed as dask_completed

        scattered = client.scatter(list(args[:3]), broadcast=True)
        futs = {client.submit(run_replica, *scattered, *args[3:], seed=sd, pure=False, **job.options): r
                for r, sd in seeds.items()}
        for fut in dask_completed(list(futs)):
            finished(futs[fut], fut.result())


def _write_time_files(output: Path, config: Configuration, T: float, times: np.ndarray, dt: float,
                      replicas: np.ndarray, seeds: list[int], seed: int, integrator: str) -> list[Path]:
    """One BOTAN-layout npz per recording time: ``OUTPUT_t<k>.npz``."""
    files = []
    for k, t in enumerate(times):
        path = output.parent / f"{output.name}_t{k}.npz"
        save_npz(
            path,
            types=config.types.astype(np.int8),
            initial_positions=config.positions,
            positions=replicas[:, k],
            box=config.box,
            temperature=np.float64(T),
            time=np.float64(t),
            dt=np.float64(dt),
            seeds=np.asarray(seeds, dtype=np.uint64),
            seed=np.int64(seed),
            integrator=np.str_(integrator),
            glassmm_version=np.str_(__version__),
            units=np.str_(UNITS_NOTE),
            **({"initial_positions_inherent": config.inherent_positions} if config.inherent_positions is not None else {}),
        )
        files.append(path)
    return files


def _part_ok(path: Path, n_times: int, n: int) -> bool:
    if not path.exists():
        return False
    try:
        with np.load(path) as d:
            return d["positions"].shape == (n_times, n, 3)
    except Exception:  # a torn or foreign file: recompute that replica
        return False


def _diff(old: dict, new: dict) -> str:
    keys = [k for k in new if old.get(k) != new[k]]
    return ", ".join(f"{k}: {old.get(k)} != {new[k]}" for k in keys)
