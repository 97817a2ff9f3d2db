"""Moves in one shape: ``move.apply(thermodynamic_state, sampler_state, engine)``.

After openmmtools' ``MCMCMove.apply(thermodynamic_state, sampler_state, context_cache)``: a move
changes a :class:`SamplerState` (positions, velocities, the potential energy when known) so
that the canonical distribution of its :class:`ThermodynamicState` stays invariant, and returns
what it did as records (dicts, one per attempt; none for MD). What a move may use of the chain
beyond the two states is the :class:`Engine`'s public interface -- the OpenMM context it works
on, the random streams, the masses, a timer -- never a sampler's internals. So the generative
sampler (MD segments plus jumps), parallel tempering (MD segments per replica plus exchanges)
and later moves are compositions of the same pieces.

Why not openmmtools itself: its ``ReplicaExchangeSampler`` cannot take a proposal that changes
the configurations it exchanges (the learned temperature maps of :mod:`tempering`), stores
NetCDF rather than glassmm's HDF5 frame files with types, distributes replicas over MPI rather
than the process pools and Dask clusters glassmm's runs use, and adds numba, netCDF4, pymbar
and pdbfixer to the install. The shape of its moves is kept.

Everything is reduced LJ (sigma, tau, epsilon); the engine converts at the OpenMM boundary.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from glassmm import geometry, units


@dataclass
class ThermodynamicState:
    """The ensemble a move keeps invariant: canonical at ``temperature`` (reduced) for the engine's system."""

    temperature: float

    def __post_init__(self) -> None:
        self.temperature = float(units.as_reduced_temperature(self.temperature))
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive (reduced); got {self.temperature}")


@dataclass
class SamplerState:
    """One configuration of the chain (reduced units).

    Attributes
    ----------
    positions : array (N, 3)
        Unwrapped.
    velocities : array (N, 3) or None
    potential_energy : float
        NaN when unknown (moves that need it ask the engine).
    """

    positions: np.ndarray
    velocities: np.ndarray | None = None
    potential_energy: float = math.nan

    def copy(self) -> "SamplerState":
        return SamplerState(self.positions.copy(), None if self.velocities is None else self.velocities.copy(),
                            self.potential_energy)


class Move(Protocol):
    """What every move offers."""

    def apply(self, thermodynamic_state: ThermodynamicState, sampler_state: SamplerState, engine: "Engine") -> list[dict[str, Any]]:
        ...


@dataclass
class Engine:
    """The OpenMM side of a chain: one context, kept in step with a :class:`SamplerState` lazily.

    Parameters
    ----------
    simulation : openmm.app.Simulation
        Its context and integrator (canonical: Langevin, Nose-Hoover or glassmm's planar ones).
    seed : int
        Seeds the numpy and torch random streams moves draw from.
    """

    simulation: Any
    seed: int = 0
    rng: np.random.Generator = field(init=False)
    generator: Any = field(init=False)
    timers: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import openmm
        import torch

        self.rng = np.random.default_rng(self.seed)
        self.generator = torch.Generator().manual_seed(self.seed)
        system = self.context.getSystem()
        n = system.getNumParticles()
        self.masses = np.array([units.mass_from_openmm(system.getParticleMass(i)) for i in range(n)])
        self.n_particles = n
        self.dof = geometry.degrees_of_freedom(
            n, 3, n_constraints=system.getNumConstraints(),
            momentum_conserved=any(isinstance(system.getForce(i), openmm.CMMotionRemover) for i in range(system.getNumForces())))
        self.box = (units.box_from_openmm(self.context.getState().getPeriodicBoxVectors())
                    if system.usesPeriodicBoundaryConditions() else None)
        self._held: np.ndarray | None = None  # the positions array the context holds (identity), None: unknown
        self._held_v: np.ndarray | None = None
        self._temperature: float | None = None

    # ------------------------------------------------------------------ the context
    @property
    def context(self) -> Any:
        return self.simulation.context

    @property
    def integrator(self) -> Any:
        return self.simulation.integrator

    def set_temperature(self, temperature: float) -> None:
        """The thermostat's temperature (reduced), set only when it changes."""
        if self._temperature != temperature:
            from glassmm.simulation import set_temperature

            set_temperature(self.simulation, temperature)
            self._temperature = float(temperature)

    def push(self, state: SamplerState) -> None:
        """Put ``state``'s positions and velocities into the context unless it holds them already."""
        from glassmm.simulation import set_velocities

        if self._held is not state.positions:
            self.context.setPositions(units.length_to_openmm(state.positions))
            self._held = state.positions
        if state.velocities is not None and self._held_v is not state.velocities:
            set_velocities(self.context, state.velocities)
            self._held_v = state.velocities

    def pull(self, state: SamplerState, energy: bool = False) -> None:
        """Read positions and velocities (and the potential energy) from the context into ``state``."""
        s = self.context.getState(positions=True, velocities=True, energy=energy)
        state.positions = units.positions_from_openmm(s.getPositions(asNumpy=True))
        state.velocities = units.velocities_from_openmm(s.getVelocities(asNumpy=True))
        state.potential_energy = float(units.as_reduced_energy(s.getPotentialEnergy())) if energy else math.nan
        self._held, self._held_v = state.positions, state.velocities

    def potential_energy(self, positions: np.ndarray) -> float:
        """U(positions) (reduced) from the context; the context then holds ``positions``."""
        from glassmm.simulation import potential_energy

        if self._held is not positions:
            self.context.setPositions(units.length_to_openmm(positions))
            self._held = positions
        return potential_energy(self.context)

    def ensure_energy(self, state: SamplerState) -> float:
        """``state``'s potential energy, evaluated (and stored) when unknown."""
        if not math.isfinite(state.potential_energy):
            state.potential_energy = self.potential_energy(state.positions)
        return state.potential_energy

    def fresh_velocities(self, temperature: float) -> np.ndarray:
        """Maxwell-Boltzmann velocities (reduced) at ``temperature`` from the engine's stream."""
        return self.rng.normal(size=(self.n_particles, 3)) * np.sqrt(temperature / self.masses)[:, None]

    def clock(self, key: str, seconds: float) -> None:
        """Charge ``seconds`` of wall time to ``key``."""
        self.timers[key] = self.timers.get(key, 0.0) + float(seconds)


class MDMove:
    """``steps`` of the engine's integrator at the thermodynamic state's temperature.

    The context runs on from wherever it is when it holds the state already (no transfer);
    afterwards the state reads positions and velocities back (one ``getState``).
    """

    kind = "md"

    def __init__(self, steps: int) -> None:
        if steps < 0:
            raise ValueError(f"MD steps must be >= 0; got {steps}")
        self.steps = int(steps)

    def apply(self, thermodynamic_state: ThermodynamicState, sampler_state: SamplerState, engine: Engine) -> list[dict[str, Any]]:
        if not self.steps:
            return []
        t0 = time.perf_counter()
        engine.set_temperature(thermodynamic_state.temperature)
        engine.push(sampler_state)
        engine.simulation.step(self.steps)
        engine.pull(sampler_state)
        engine.clock("md_s", time.perf_counter() - t0)
        return []


class VelocityRefresh:
    """Fresh Maxwell-Boltzmann velocities: a Gibbs step on the velocities (exact for any positions)."""

    kind = "velocities"

    def apply(self, thermodynamic_state: ThermodynamicState, sampler_state: SamplerState, engine: Engine) -> list[dict[str, Any]]:
        sampler_state.velocities = engine.fresh_velocities(thermodynamic_state.temperature)
        return []
