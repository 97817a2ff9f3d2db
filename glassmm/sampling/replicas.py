"""Replicas of one system, each with its own OpenMM context, in this process or one per worker.

Parallel tempering moves temperatures between replicas, not configurations, so each replica's
configuration stays in its own context (in its own process when there are workers) and only
energies, commands and -- when a frame is written or a learned map proposes new positions --
positions cross between the controller and the replicas.

* :class:`ReplicaSpec` says how to build one replica (the system as OpenMM XML, start,
  integrator, platform); it pickles, so process pools and Dask can ship it.
* :class:`ReplicaWorker` is one replica: an :class:`~glassmm.sampling.moves.Engine` and its
  :class:`~glassmm.sampling.moves.SamplerState`, driven by a few commands (``md``, ``energy``,
  ``scale_velocities``, ``checkpoint``...).
* a pool runs the commands for every replica at once: :class:`SerialPool` (this process, one
  after the other), :class:`ProcessPool` (one process per replica; the commands of a round run
  concurrently) or :class:`DaskPool` (one Dask actor per replica, so a cluster runs one replica
  per core). :func:`make_pool` picks one from an executor argument, as
  :func:`glassmm.isoconf.run_isoconfigurational` does.

Reduced LJ units throughout; a checkpoint is OpenMM's (integrator random state included) plus
the worker's own random streams.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from glassmm import units
from glassmm.sampling.moves import Engine, SamplerState, ThermodynamicState


@dataclass
class ReplicaSpec:
    """How to build one replica (reduced units; picklable).

    Attributes
    ----------
    system_xml : str
        ``openmm.XmlSerializer.serialize(system)``.
    positions : array (N, 3)
    velocities : array (N, 3) or None
    box : array (3,) or None
    temperature : float
        The thermostat's first temperature (each ``md`` command sets its own).
    dt, friction : float (tau, 1/tau)
    dimensions : int
        2: glassmm's planar Langevin integrator (z frozen).
    platform : str
    threads : int or None
        CPU platform threads per replica.
    seed : int
    """

    system_xml: str
    positions: np.ndarray
    velocities: np.ndarray | None
    box: np.ndarray | None
    temperature: float
    dt: float = 0.005
    friction: float = 1.0
    dimensions: int = 3
    platform: str = "CPU"
    threads: int | None = 1
    seed: int = 0

    @classmethod
    def from_system(cls, system: Any, positions: np.ndarray, box: np.ndarray | None, temperature: float, **kw: Any) -> "ReplicaSpec":
        import openmm

        return cls(openmm.XmlSerializer.serialize(system), np.asarray(positions, dtype=np.float64),
                   kw.pop("velocities", None), None if box is None else np.asarray(box, dtype=np.float64),
                   float(temperature), **kw)


class _Simulation:
    """What :class:`~glassmm.sampling.moves.Engine` needs of an ``openmm.app.Simulation``."""

    def __init__(self, context: Any, integrator: Any) -> None:
        self.context, self.integrator = context, integrator

    def step(self, steps: int) -> None:
        self.integrator.step(int(steps))


class ReplicaWorker:
    """One replica: its context, engine and state, driven by commands (this process or a worker)."""

    def __init__(self, spec: ReplicaSpec, replica: int = 0) -> None:
        import openmm

        from glassmm.platforms import get_platform
        from glassmm.simulation import make_integrator, mask_z, openmm_seed, set_velocities
        from glassmm.systems import box_vectors, pair_force_plugin

        self.replica = int(replica)
        if "GlassmmPairTableForce" in spec.system_xml:
            plugin, why = pair_force_plugin()  # importing it registers the force's XML proxy
            if plugin is None:
                raise RuntimeError(f"this system uses the compiled pair force, but {why}")
        system = openmm.XmlSerializer.deserialize(spec.system_xml)
        integ = make_integrator("langevin", spec.temperature, spec.dt, friction=spec.friction,
                                seed=openmm_seed(spec.seed), dimensions=spec.dimensions)
        plat, props = get_platform(spec.platform, None, spec.threads, False)
        self.context = openmm.Context(system, integ, plat, props)
        if spec.dimensions == 2:
            mask_z(integ, system.getNumParticles())
        if spec.box is not None:
            self.context.setPeriodicBoxVectors(*box_vectors(spec.box))
        self.context.setPositions(units.length_to_openmm(spec.positions))
        if spec.velocities is not None:
            set_velocities(self.context, spec.velocities)
        self.engine = Engine(_Simulation(self.context, integ), spec.seed)
        self.engine.set_temperature(spec.temperature)
        self.state = SamplerState(np.zeros((system.getNumParticles(), 3)))
        self.engine.pull(self.state, energy=True)

    # ------------------------------------------------------------------ commands
    def md(self, temperature: float, steps: int) -> float:
        """``steps`` of Langevin MD at ``temperature``; returns the potential energy after (reduced).

        The :class:`~glassmm.sampling.moves.MDMove` recipe with the energy read in the same
        ``getState`` as the positions (one call into OpenMM per segment).
        """
        import time

        t0 = time.perf_counter()
        self.engine.set_temperature(ThermodynamicState(temperature).temperature)
        self.engine.push(self.state)
        self.engine.simulation.step(int(steps))
        self.engine.pull(self.state, energy=True)
        self.engine.clock("md_s", time.perf_counter() - t0)
        return self.state.potential_energy

    def energy(self) -> float:
        """The replica's potential energy (reduced)."""
        return self.engine.ensure_energy(self.state)

    def energy_of(self, positions: np.ndarray) -> float:
        """U(positions) (reduced) without changing the replica."""
        held = self.state.positions
        e = self.engine.potential_energy(np.asarray(positions, dtype=np.float64))
        self.engine.push(self.state)  # back to the replica's own configuration
        assert self.state.positions is held
        return e

    def get_state(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(positions, velocities, potential energy) (reduced)."""
        return self.state.positions.copy(), self.state.velocities.copy(), self.energy()

    def set_positions(self, positions: np.ndarray, energy: float = math.nan) -> None:
        """A new configuration (the velocities stay: they are independent of it)."""
        self.state.positions = np.asarray(positions, dtype=np.float64).copy()
        self.state.potential_energy = float(energy)
        self.engine.push(self.state)

    def scale_velocities(self, factor: float) -> None:
        """v -> factor v: a replica moving from T to T' takes factor = sqrt(T' / T)."""
        self.state.velocities = self.state.velocities * float(factor)
        self.engine.push(self.state)

    def checkpoint(self) -> bytes:
        """The context's checkpoint and the worker's random streams."""
        self.engine.push(self.state)
        return pickle.dumps({"context": self.context.createCheckpoint(), "rng": self.engine.rng.bit_generator.state,
                             "torch": self.engine.generator.get_state().numpy(), "temperature": self.engine._temperature})

    def restore(self, blob: bytes) -> None:
        import torch

        d = pickle.loads(blob)
        self.context.loadCheckpoint(d["context"])
        self.engine.rng.bit_generator.state = d["rng"]
        self.engine.generator.set_state(torch.from_numpy(d["torch"]))
        self.engine._temperature = None
        if d["temperature"] is not None:
            self.engine.set_temperature(d["temperature"])
        self.engine.pull(self.state, energy=True)

    def timers(self) -> dict[str, float]:
        return dict(self.engine.timers)


# ---------------------------------------------------------------------------- pools
class SerialPool:
    """Every replica in this process, commands run one replica after the other."""

    kind = "serial"

    def __init__(self, specs: Sequence[ReplicaSpec]) -> None:
        self.workers = [ReplicaWorker(s, r) for r, s in enumerate(specs)]

    def call(self, method: str, args: Sequence[tuple | None] | None = None) -> list[Any]:
        """``method(*args[r])`` on every replica r (none where ``args[r]`` is None); results in replica order."""
        args = args if args is not None else [()] * len(self.workers)
        return [getattr(w, method)(*a) if a is not None else None for w, a in zip(self.workers, args)]

    def close(self) -> None:
        self.workers = []


def _worker_loop(conn: Any, spec: ReplicaSpec, replica: int) -> None:
    """A replica in its own process: build it, then answer commands until told to stop."""
    import os

    os.environ.setdefault("GLASSMM_QUIET", "1")
    try:
        worker = ReplicaWorker(spec, replica)
        conn.send(("ok", None))
    except Exception as exc:  # the controller re-raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        method, args = conn.recv()
        if method is None:
            break
        try:
            conn.send(("ok", getattr(worker, method)(*args)))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class ProcessPool:
    """One process per replica; the commands of one call run concurrently."""

    kind = "processes"

    def __init__(self, specs: Sequence[ReplicaSpec]) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # OpenMM contexts and torch do not survive fork
        self.conns, self.procs = [], []
        for r, s in enumerate(specs):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker_loop, args=(child, s, r), daemon=True)
            p.start()
            self.conns.append(parent)
            self.procs.append(p)
        for r, c in enumerate(self.conns):
            status, msg = c.recv()
            if status != "ok":
                self.close()
                raise RuntimeError(f"replica {r} could not be built: {msg}")

    def call(self, method: str, args: Sequence[tuple | None] | None = None) -> list[Any]:
        args = args if args is not None else [()] * len(self.conns)
        for c, a in zip(self.conns, args):
            if a is not None:
                c.send((method, tuple(a)))
        out = []
        for r, (c, a) in enumerate(zip(self.conns, args)):
            if a is None:
                out.append(None)
                continue
            status, value = c.recv()
            if status != "ok":
                raise RuntimeError(f"replica {r}: {method} failed: {value}")
            out.append(value)
        return out

    def close(self) -> None:
        for c in self.conns:
            try:
                c.send((None, ()))
            except (BrokenPipeError, OSError):
                pass
        for p in self.procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
        self.conns, self.procs = [], []


class DaskPool:
    """One Dask actor per replica: a cluster runs one replica per worker core."""

    kind = "dask"

    def __init__(self, specs: Sequence[ReplicaSpec], client: Any) -> None:
        self.client = client
        futures = [client.submit(ReplicaWorker, s, r, actor=True, pure=False) for r, s in enumerate(specs)]
        self.actors = [f.result() for f in futures]

    def call(self, method: str, args: Sequence[tuple | None] | None = None) -> list[Any]:
        args = args if args is not None else [()] * len(self.actors)
        futs = [getattr(a, method)(*x) if x is not None else None for a, x in zip(self.actors, args)]
        return [f.result() if f is not None else None for f in futs]

    def close(self) -> None:
        self.actors = []


def make_pool(specs: Sequence[ReplicaSpec], executor: Any = "serial") -> Any:
    """A pool for ``specs``: "serial" (this process), "processes" (one per replica), or a Dask
    client, cluster or scheduler address (one actor per replica)."""
    if executor in (None, "serial", "local"):
        return SerialPool(specs)
    if executor == "processes":
        return ProcessPool(specs)
    if isinstance(executor, str) and "://" in executor or hasattr(executor, "scheduler_address") or hasattr(executor, "submit"):
        from distributed import Client

        client = executor if hasattr(executor, "submit") else Client(executor)
        return DaskPool(specs, client)
    raise ValueError(f"executor must be 'serial', 'processes', a dask Client, a cluster or an address; got {executor!r}")
