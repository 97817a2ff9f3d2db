"""Cage states: where each particle sits once its vibration inside the cage is averaged out.

Alkemade, Smallenburg & Filion, J. Chem. Phys. 158, 134512 (2023) ("Improving the
prediction of glassy dynamics by pinpointing the local cage") define the cage state (CS) of
a configuration as the average particle positions when particle rearrangements are
forbidden; GlassBench stores it as ``initial_positions_cage``. glassmm computes it with
OpenMM, on any platform:

* ``n_runs`` short Langevin runs at the configuration's temperature, each started from the
  configuration with fresh Maxwell-Boltzmann velocities (an isoconfigurational average, so
  the result does not depend on one thermal history);
* rearrangements are forbidden by a flat-bottom tether: every particle moves freely within
  ``restraint_radius`` of its starting position (larger than its vibration amplitude, the
  plateau of the mean squared displacement, but smaller than a jump to a neighbour's site)
  and feels a stiff harmonic wall beyond it;
* after ``equilibration`` the unwrapped positions are averaged every ``sample_every`` steps
  over ``duration``, and the runs' averages are averaged.

The published work states the definition (averages with rearrangements forbidden); the way
of forbidding them and the numbers here are glassmm's, chosen on shared configurations 1-8
(see :func:`cage_state` and the issue note). Results are cached on disk like inherent
structures, keyed by the positions, types, box and every parameter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import openmm

from glassmm import geometry, units
from glassmm.platforms import get_platform
from glassmm.simulation import get_positions, make_integrator, mask_z, maxwell_boltzmann_velocities, set_velocities
from glassmm.systems import KobAndersen, validate_positions


@dataclass(frozen=True)
class CageParameters:
    """How a cage state is computed (reduced LJ units throughout).

    Attributes
    ----------
    temperature : float (reduced)
        Temperature of the tethered runs: the configuration's own.
    duration : float (reduced, tau)
        Averaging window of each run.
    equilibration : float (reduced, tau)
        Discarded start of each run (the velocities settle into the tethered cage).
    n_runs : int
        Independent runs (fresh velocities) averaged together.
    restraint_radius : float (reduced, sigma_AA)
        Free radius of each particle's tether around its starting position.
    restraint_stiffness : float (reduced, epsilon/sigma^2)
        Spring constant of the wall beyond ``restraint_radius``.
    dt : float (reduced, tau)
    friction : float (reduced, 1/tau)
        Langevin friction.
    sample_every : int
        Steps between position samples.
    seed : int
    """

    temperature: float
    duration: float = 2.0
    equilibration: float = 0.2
    n_runs: int = 4
    restraint_radius: float = 0.3
    restraint_stiffness: float = 1000.0
    dt: float = 0.005
    friction: float = 1.0
    sample_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "temperature": self.temperature > 0, "duration": self.duration > 0,
            "equilibration": self.equilibration >= 0, "n_runs": self.n_runs >= 1,
            "restraint_radius": self.restraint_radius > 0, "restraint_stiffness": self.restraint_stiffness > 0,
            "dt": self.dt > 0, "friction": self.friction > 0, "sample_every": self.sample_every >= 1,
        }
        bad = [k for k, ok in checks.items() if not (ok and np.isfinite(float(getattr(self, k))))]
        if bad:
            raise ValueError(f"cage parameters out of range: {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")

    @property
    def equilibration_steps(self) -> int:
        return int(round(self.equilibration / self.dt))

    @property
    def averaging_steps(self) -> int:
        """Steps of the averaging window: ``duration`` in whole ``sample_every`` blocks (at least one)."""
        return max(1, int(round(self.duration / self.dt)) // self.sample_every) * self.sample_every

    @property
    def steps_per_run(self) -> int:
        """MD steps of one run (equilibration plus averaging window)."""
        return self.equilibration_steps + self.averaging_steps

    @property
    def total_steps(self) -> int:
        """MD steps of a whole cage-state computation: its cost in MD steps."""
        return self.n_runs * self.steps_per_run


def tether_force(anchors: np.ndarray, radius: float, stiffness: float) -> openmm.CustomExternalForce:
    """Flat-bottom tether of every particle to its anchor: 0.5 k (d - r0)^2 for d > r0.

    ``d`` is the periodic distance to the anchor, so it holds for unwrapped positions too.
    """
    f = openmm.CustomExternalForce(
        "0.5*k_cage*step(d - r_cage)*(d - r_cage)^2; d = periodicdistance(x, y, z, x0, y0, z0)")
    f.addGlobalParameter("k_cage", float(stiffness))
    f.addGlobalParameter("r_cage", float(radius))
    for name in ("x0", "y0", "z0"):
        f.addPerParticleParameter(name)
    for i, a in enumerate(np.asarray(anchors, dtype=float)):
        f.addParticle(i, [float(a[0]), float(a[1]), float(a[2])])
    return f


@dataclass
class CageResult:
    """A cage state and what it measured (reduced units).

    Attributes
    ----------
    positions : ndarray (reduced) (N, 3)
        Cage-state positions, unwrapped like the input.
    spread : ndarray (reduced) (N,)
        Standard deviation over runs of each particle's time-averaged position (norm over
        the coordinates); the statistical error of ``positions`` is ``spread / sqrt(n_runs)``.
    tethered_fraction : float
        Fraction of position samples with the particle beyond ``restraint_radius`` (on the
        wall); large values mean the tether, not the cage, set the average.
    parameters : CageParameters
    """

    positions: np.ndarray
    spread: np.ndarray
    tethered_fraction: float
    parameters: CageParameters


def compute_cage_state(
    positions: np.ndarray,
    types: np.ndarray,
    box: np.ndarray,
    parameters: CageParameters,
    platform: str = "auto",
    precision: str | None = "mixed",
) -> CageResult:
    """Compute a cage state (no cache); see :func:`cage_state` for the cached entry point.

    Parameters
    ----------
    positions : ndarray (reduced) (N, 3)
    types : ndarray of int (N,)
    box : ndarray (reduced) (3,)
    parameters : CageParameters
    platform : str
        Any OpenMM platform name or ``"auto"``.
    precision : str, optional
        GPU platforms' precision.
    """
    p = parameters
    pos = validate_positions(positions)
    dims = geometry.infer_dimensions(pos)
    ka = KobAndersen(len(types), positions=pos, types=types, box=box, dimensions=dims)
    system = ka.system
    system.addForce(tether_force(pos, p.restraint_radius, p.restraint_stiffness))
    plat, props = get_platform(platform, precision)
    n_eq, n_samples_run = p.equilibration_steps, p.averaging_steps // p.sample_every
    means = np.zeros((p.n_runs, len(pos), 3))
    on_wall = 0
    n_samples = 0
    for run in range(p.n_runs):
        integ = make_integrator("langevin", p.temperature, p.dt, friction=p.friction,
                                seed=p.seed * 1009 + run, dimensions=dims)
        if dims == 2:
            mask_z(integ, len(pos))
        ctx = openmm.Context(system, integ, plat, props)
        ctx.setPositions(ka.positions)
        set_velocities(ctx, maxwell_boltzmann_velocities(len(pos), p.temperature, seed=p.seed * 1009 + run,
                                                         dimensions=dims))
        if n_eq:
            integ.step(n_eq)
        acc = np.zeros_like(pos)
        for _ in range(n_samples_run):
            integ.step(p.sample_every)
            x = get_positions(ctx)
            if not np.all(np.isfinite(x)):
                raise FloatingPointError("cage-state run diverged: non-finite positions (overlapping particles?)")
            acc += x
            d = geometry.minimum_image(x - pos, ka.box)
            on_wall += int(np.count_nonzero(np.einsum("ij,ij->i", d, d) > p.restraint_radius**2))
            n_samples += len(pos)
        means[run] = acc / n_samples_run
        del ctx, integ
    spread = np.linalg.norm(means.std(axis=0), axis=1) if p.n_runs > 1 else np.zeros(len(pos))
    return CageResult(means.mean(axis=0), spread, on_wall / max(n_samples, 1), p)


def cage_state(
    positions: np.ndarray,
    types: np.ndarray,
    box: np.ndarray,
    temperature: float,
    platform: str = "auto",
    cache: bool = True,
    **parameters: float,
) -> np.ndarray:
    """Cage-state positions (reduced (N, 3)), cached on disk.

    Parameters
    ----------
    positions : ndarray (reduced) (N, 3)
    types : ndarray of int (N,)
    box : ndarray (reduced) (3,)
    temperature : float (reduced)
        The configuration's temperature (the tethered runs are thermostatted at it).
    platform : str
    cache : bool
        False computes without reading or writing the cache.
    **parameters
        Any field of :class:`CageParameters` other than the temperature.

    Notes
    -----
    The cache lives in :func:`glassmm.io.cache_dir` ``("cage")``, keyed by a hash of the
    positions, types, box and every parameter; it is bounded like the inherent-structure
    cache and a torn entry is recomputed. The platform is not in the key: platforms agree
    to within the statistical error of the average (tests/test_cage.py).
    """
    from glassmm.io import cached_positions

    params = CageParameters(temperature=float(units.as_reduced_temperature(temperature)), **parameters)
    return cached_positions("cage", positions, types, box,
                            lambda: compute_cage_state(positions, types, box, params, platform=platform).positions,
                            salt=repr(sorted(asdict(params).items())).encode(), cache=cache)
