"""Platforms, integrators and the melt / quench / equilibrate protocol for KA systems.

Everything here takes and returns reduced LJ units (plain numbers) or OpenMM Quantities;
conversion happens through :mod:`glassmm.units`.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import openmm
import openmm.app as app
import openmm.unit as u

from glassmm import geometry, units
from glassmm.platforms import available_platforms, get_platform, is_gpu, resolve_name  # noqa: F401  (re-exported)
from glassmm.systems import KobAndersen, validate_positions

#: Default timestep (reduced, tau).
DEFAULT_DT = 0.005
INTEGRATORS = ("langevin", "nose-hoover", "nve")


#: kinetic temperature (reduced) above which a run counts as blown up
MAX_KINETIC_TEMPERATURE = 50.0
#: reduced temperatures above this are almost surely Kelvin given by mistake (KA melts far below;
#: glassmm's own melt runs at T = 2)
MAX_REDUCED_TEMPERATURE = 10.0


class SimulationBlewUp(RuntimeError):
    """Raised when positions or velocities become non-finite, or the kinetic temperature absurd.

    Whatever the run wrote before (report frames, trajectory frames, checkpoints) is kept.
    """


def blow_up_reason(positions: np.ndarray, velocities: np.ndarray, masses: np.ndarray, dof: int,
                   max_kinetic_temperature: float = MAX_KINETIC_TEMPERATURE) -> str | None:
    """Why a state (reduced positions, velocities) is a blown-up run, or None when it is sane."""
    finite = np.isfinite(positions).all(axis=1) & np.isfinite(velocities).all(axis=1)
    if not finite.all():
        return f"non-finite positions or velocities for {int((~finite).sum())} particles"
    t_kin = geometry.kinetic_temperature(velocities, masses, dof=dof)
    if not np.isfinite(t_kin) or t_kin > max_kinetic_temperature:
        return (f"kinetic temperature {t_kin:.3g} (above max_kinetic_temperature = {max_kinetic_temperature:g}, "
                "reduced)")
    return None


def check_temperature(temperature: float | u.Quantity, what: str = "temperature") -> float:
    """The reduced temperature, refused before any MD when it cannot be one (<= 0, or Kelvin by mistake).

    Raises
    ------
    ValueError
        Naming the likely unit mistake: ``-T 72`` is 72 epsilon/k_B (about 8700 K for argon),
        not 72 K (T* = 0.599).
    """
    T = units.as_reduced_temperature(temperature)
    if not np.isfinite(T) or T <= 0:
        raise ValueError(f"{what} must be a positive reduced temperature (epsilon_AA/k_B); got {T}")
    if T > MAX_REDUCED_TEMPERATURE:
        raise ValueError(
            f"{what} {T:g} is in reduced units (epsilon_AA/k_B), where Kob-Andersen is liquid around 0.4-2 "
            f"and glassmm melts at 2: {T:g} looks like Kelvin given by mistake. {T:g} K would be "
            f"T = {units.as_reduced_temperature(T * u.kelvin):.4g} (T* = T / {units.TEMPERATURE_UNIT_KELVIN:.4f} K)")
    return T


def openmm_seed(seed: int) -> int:
    """OpenMM integrator seed for a glassmm seed.

    OpenMM treats 0 as "choose a random seed", so glassmm's seed 0 (the default everywhere)
    would silently make runs irreproducible; every seed maps to a distinct non-zero one.
    """
    return int(seed) % (2**31 - 2) + 1


def make_integrator(
    kind: str = "langevin",
    temperature: float | u.Quantity = 1.0,
    dt: float | u.Quantity = DEFAULT_DT,
    friction: float = 1.0,
    collision_frequency: float = 1.0,
    seed: int | None = None,
    dimensions: int = 3,
) -> openmm.Integrator:
    """Create an integrator.

    Parameters
    ----------
    kind : {"langevin", "nose-hoover", "nve"}
        ``langevin``: OpenMM's LangevinMiddleIntegrator (NVT). ``nose-hoover``: OpenMM's
        NoseHooverIntegrator with a chain of 3 (NVT). ``nve``: velocity Verlet written as a
        CustomIntegrator, so positions and velocities are reported at the same time.
    temperature : float (reduced) or Quantity (K)
    dt : float (reduced, tau) or Quantity (time)
    friction : float (reduced, 1/tau)
        Langevin friction coefficient.
    collision_frequency : float (reduced, 1/tau)
        Nose-Hoover thermostat coupling frequency.
    seed : int, optional
        Random seed for stochastic integrators.
    dimensions : int
        2 restricts motion to the xy plane (custom integrators; Nose-Hoover is 3D only).
    """
    T = units.as_reduced_temperature(temperature)
    step = units.time_to_openmm(units.as_reduced_time(dt))
    kind = kind.lower()
    if kind not in INTEGRATORS:
        raise ValueError(f"unknown integrator {kind!r}; choose from {INTEGRATORS}")
    if dimensions == 2:
        if kind == "nose-hoover":
            raise ValueError("nose-hoover is available in 3D only; use langevin or nve for 2D")
        return _planar_integrator(kind, T, step, friction, seed)
    if kind == "langevin":
        integ = openmm.LangevinMiddleIntegrator(
            units.temperature_to_kelvin(T), friction / units.TAU, step
        )
        if seed is not None:
            integ.setRandomNumberSeed(openmm_seed(seed))
        return integ
    if kind == "nose-hoover":
        return openmm.NoseHooverIntegrator(
            units.temperature_to_kelvin(T), collision_frequency / units.TAU, step, 3, 3, 3
        )
    return velocity_verlet(step)


def velocity_verlet(dt: u.Quantity, mask: bool = False) -> openmm.CustomIntegrator:
    """Velocity Verlet (NVE); with ``mask`` a per-DOF variable ``mask`` zeroes chosen directions."""
    integ = openmm.CustomIntegrator(dt)
    m = "mask*" if mask else ""
    if mask:
        integ.addPerDofVariable("mask", 1.0)
    integ.addUpdateContextState()
    integ.addComputePerDof("v", f"{m}(v + 0.5*dt*f/m)")
    integ.addComputePerDof("x", "x + dt*v")
    integ.addComputePerDof("v", f"{m}(v + 0.5*dt*f/m)")
    return integ


def _planar_integrator(kind: str, T: float, dt: u.Quantity, friction: float, seed: int | None):
    """Integrators that keep z velocities at zero, for 2D systems."""
    if kind == "nve":
        integ = velocity_verlet(dt, mask=True)
    else:
        # BAOAB Langevin with the z direction masked out.
        integ = openmm.CustomIntegrator(dt)
        h = units.as_reduced_time(dt)
        integ.addGlobalVariable("a", np.exp(-friction * h))
        integ.addGlobalVariable("b", np.sqrt(1 - np.exp(-2 * friction * h)))
        integ.addGlobalVariable("kT", units.thermal_energy_to_openmm(T))
        integ.addPerDofVariable("mask", 1.0)
        integ.addUpdateContextState()
        integ.addComputePerDof("v", "mask*(v + 0.5*dt*f/m)")
        integ.addComputePerDof("x", "x + 0.5*dt*v")
        integ.addComputePerDof("v", "mask*(a*v + b*sqrt(kT/m)*gaussian)")
        integ.addComputePerDof("x", "x + 0.5*dt*v")
        integ.addComputePerDof("v", "mask*(v + 0.5*dt*f/m)")
        if seed is not None:
            integ.setRandomNumberSeed(openmm_seed(seed))
    return integ


def mask_z(integrator: openmm.Integrator, n: int) -> None:
    """Switch off z motion in a 2D integrator of :func:`make_integrator` (its ``mask`` per-DOF variable)."""
    if isinstance(integrator, openmm.CustomIntegrator):
        integrator.setPerDofVariableByName("mask", [openmm.Vec3(1.0, 1.0, 0.0)] * n)


def maxwell_boltzmann_velocities(
    n: int, temperature: float, seed: int | None = None, dimensions: int = 3
) -> np.ndarray:
    """Maxwell-Boltzmann velocities (reduced, m = 1) with zero total momentum.

    Not rescaled to the exact temperature: each replica's kinetic energy fluctuates as it
    should in the canonical ensemble.
    """
    rng = np.random.default_rng(seed)
    v = rng.normal(0.0, np.sqrt(units.as_reduced_temperature(temperature)), size=(n, 3))
    v[:, dimensions:] = 0.0
    return geometry.zero_momentum(v)


def create_simulation(
    ka: KobAndersen,
    integrator: str | openmm.Integrator = "langevin",
    temperature: float | u.Quantity = 1.0,
    dt: float | u.Quantity = DEFAULT_DT,
    platform: str | None = "auto",
    precision: str | None = None,
    seed: int | None = 0,
    friction: float = 1.0,
    velocities: np.ndarray | str | None = "thermal",
    threads: int | None = None,
    deterministic: bool = False,
) -> app.Simulation:
    """An ``openmm.app.Simulation`` of a KA system, positions set, velocities drawn at ``temperature``.

    ``platform="auto"`` takes CUDA, then HIP, then OpenCL, then CPU (see
    :mod:`glassmm.platforms`); GPU platforms run in ``precision`` (mixed by default).
    ``deterministic=True`` asks for bitwise-reproducible force sums, so the same start and
    seed give the same trajectory. ``velocities="thermal"`` draws seeded Maxwell-Boltzmann
    velocities with zero momentum; an (N, 3) array (reduced) sets them; ``None`` leaves them at zero.
    """
    if isinstance(integrator, str):
        integ = make_integrator(integrator, temperature, dt, friction=friction, seed=seed, dimensions=ka.dimensions)
    else:
        integ = integrator
    plat, props = get_platform(platform, precision, threads, deterministic)
    sim = app.Simulation(ka.topology, ka.system, integ, plat, props)
    if ka.dimensions == 2:
        mask_z(integ, ka.n_particles)
    sim.context.setPeriodicBoxVectors(*ka.box_vectors)
    sim.context.setPositions(ka.positions)
    if isinstance(velocities, str):
        if velocities != "thermal":
            raise ValueError(f"velocities must be 'thermal', an array or None; got {velocities!r}")
        velocities = maxwell_boltzmann_velocities(ka.n_particles, temperature, seed, ka.dimensions)
    if velocities is not None:
        set_velocities(sim.context, velocities)
    return sim


def set_velocities(context: openmm.Context, velocities: np.ndarray) -> None:
    """Set velocities from a reduced (N, 3) array (tau^-1 sigma)."""
    v = validate_positions(velocities, context.getSystem().getNumParticles(), what="velocities")
    context.setVelocities(units.velocities_to_openmm(v))


def set_positions(context: openmm.Context, positions: np.ndarray) -> None:
    """Set positions from a reduced (N, 3) array (sigma), checked for shape and NaN."""
    x = validate_positions(positions, context.getSystem().getNumParticles())
    context.setPositions(units.length_to_openmm(x))


def get_positions(context: openmm.Context) -> np.ndarray:
    """Unwrapped positions (reduced, (N, 3) float64); cheap ndarray path, no periodic wrapping."""
    state = context.getState(positions=True)
    return units.positions_from_openmm(state.getPositions(asNumpy=True))


def get_velocities(context: openmm.Context) -> np.ndarray:
    """Velocities (reduced, (N, 3) float64)."""
    state = context.getState(velocities=True)
    return units.velocities_from_openmm(state.getVelocities(asNumpy=True))


def potential_energy(context: openmm.Context) -> float:
    """Total potential energy (reduced). Costs more than an MD step on the CPU: call sparingly."""
    state = context.getState(energy=True)
    return float(units.as_reduced_energy(state.getPotentialEnergy()))


def kinetic_temperature(context: openmm.Context, dof: int | None = None) -> float:
    """Instantaneous kinetic temperature (reduced) of the context's velocities.

    Computed by :func:`glassmm.geometry.kinetic_temperature`, so ``dof`` defaults to d N - d
    with the dimension read off the velocities (2D systems have zero z velocities).
    """
    system = context.getSystem()
    masses = [units.mass_from_openmm(system.getParticleMass(i)) for i in range(system.getNumParticles())]
    return geometry.kinetic_temperature(get_velocities(context), masses, dof=dof)


def get_forces(context: openmm.Context) -> np.ndarray:
    """Forces (reduced, (N, 3))."""
    state = context.getState(forces=True)
    return units.forces_from_openmm(state.getForces(asNumpy=True))


_ENERGY_CONTEXT_CACHE: dict[tuple, openmm.Context] = {}


def evaluate(
    positions: np.ndarray,
    types: np.ndarray,
    box: np.ndarray,
    platform: str = "Reference",
    forces: bool = False,
) -> tuple[float, np.ndarray | None]:
    """Potential energy (reduced, total) and optionally forces of a configuration.

    GPU platforms (asked for by name or picked by ``auto``) compute it in double precision.
    Reuses one Context per (N, types, box, platform), since building one costs far more
    than an evaluation.
    """
    ka_types = np.asarray(types, dtype=np.int8)
    platform = resolve_name(platform)  # "auto" and any case: the double-precision choice needs the real name
    key = (len(ka_types), ka_types.tobytes(), tuple(np.round(np.asarray(box, float), 12)), platform)
    ctx = _ENERGY_CONTEXT_CACHE.get(key)
    pos = validate_positions(positions, len(ka_types))
    if ctx is None:
        dims = geometry.infer_dimensions(pos)
        ka = KobAndersen(len(ka_types), positions=pos, types=ka_types, box=box, dimensions=dims)
        plat, props = get_platform(platform, "double" if is_gpu(platform) else None)
        ctx = openmm.Context(ka.system, openmm.VerletIntegrator(0.001), plat, props)
        if len(_ENERGY_CONTEXT_CACHE) > 8:
            _ENERGY_CONTEXT_CACHE.clear()
        _ENERGY_CONTEXT_CACHE[key] = ctx
    ctx.setPositions(units.length_to_openmm(pos))
    state = ctx.getState(energy=True, forces=forces)
    energy = float(units.as_reduced_energy(state.getPotentialEnergy()))
    f = None
    if forces:
        f = units.forces_from_openmm(state.getForces(asNumpy=True))
    return energy, f


def potential_energy_per_particle(
    positions: np.ndarray, types: np.ndarray, box: np.ndarray, platform: str = "Reference"
) -> float:
    """KA potential energy per particle (reduced) of a configuration."""
    return evaluate(positions, types, box, platform)[0] / len(types)


def run(
    simulation: app.Simulation,
    n_steps: int,
    progress: bool | str = False,
    chunk: int = 500,
    callback: Callable[[int], Any] | None = None,
) -> None:
    """Advance ``n_steps`` in chunks, with an optional tqdm progress bar labelled ``progress``."""
    n_steps = int(n_steps)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_steps, desc=progress if isinstance(progress, str) else "MD", unit="step")
    done = 0
    while done < n_steps:
        k = min(chunk, n_steps - done)
        simulation.step(k)
        done += k
        if bar is not None:
            bar.update(k)
        if callback is not None:
            callback(done)
    if bar is not None:
        bar.close()


def set_temperature(simulation: app.Simulation, temperature: float) -> None:
    """Change the thermostat temperature of a Langevin / Nose-Hoover / planar Langevin integrator."""
    integ = simulation.integrator
    T = units.as_reduced_temperature(temperature)
    if isinstance(integ, openmm.LangevinMiddleIntegrator):
        integ.setTemperature(units.temperature_to_kelvin(T))
    elif isinstance(integ, openmm.NoseHooverIntegrator):
        integ.setTemperature(units.temperature_to_kelvin(T))
    elif isinstance(integ, openmm.CustomIntegrator) and _has_global(integ, "kT"):
        integ.setGlobalVariableByName("kT", units.thermal_energy_to_openmm(T))
    else:
        raise ValueError(f"{type(integ).__name__} has no thermostat temperature to set")


def _has_global(integ: openmm.CustomIntegrator, name: str) -> bool:
    return any(integ.getGlobalVariableName(i) == name for i in range(integ.getNumGlobalVariables()))


def melt_segments(
    temperature: float,
    melt_temperature: float = 2.0,
    melt_time: float = 10.0,
    quench_time: float = 10.0,
    equilibration_time: float = 50.0,
    dt: float = DEFAULT_DT,
) -> list[tuple[str, float, int]]:
    """The melt / quench / equilibrate protocol as segments: (label, thermostat temperature, steps).

    Melt at ``melt_temperature``, cool linearly to ``temperature`` in 20 stages over
    ``quench_time``, equilibrate (all reduced). :func:`melt_and_quench` runs these; a
    resumable run (``glassmm simulate``) runs them with checkpoints between chunks.
    """
    T = units.as_reduced_temperature(temperature)
    stages = 20
    n_ramp = max(1, int(round(quench_time / dt)))
    segments = [("melt", float(melt_temperature), int(round(melt_time / dt)))]
    segments += [(f"quench {k + 1}/{stages}", float(melt_temperature + (T - melt_temperature) * (k + 1) / stages),
                  n_ramp // stages) for k in range(stages)]
    segments.append(("equilibrate", float(T), int(round(equilibration_time / dt))))
    return segments


def melt_and_quench(
    simulation: app.Simulation,
    temperature: float,
    melt_temperature: float = 2.0,
    melt_time: float = 10.0,
    quench_time: float = 10.0,
    equilibration_time: float = 50.0,
    dt: float | None = None,
    progress: bool = False,
) -> None:
    """Melt at ``melt_temperature``, cool linearly to ``temperature``, then equilibrate (all reduced).

    Needs a thermostatted integrator (langevin or nose-hoover). Equilibrate for several
    alpha-relaxation times of the target temperature before measuring anything. Times are
    converted to steps with the integrator's own step size; ``dt`` (tau), if given, must
    agree with it (it is kept for callers that pass it). The segments are :func:`melt_segments`.
    """
    step = units.as_reduced_time(simulation.integrator.getStepSize())
    if dt is not None and not np.isclose(float(dt), step, rtol=1e-9):
        raise ValueError(f"melt_and_quench: dt = {dt} but the integrator's step size is {step} tau; "
                         "times are converted with the integrator's")
    for label, T, n in melt_segments(temperature, melt_temperature, melt_time, quench_time, equilibration_time, step):
        set_temperature(simulation, T)
        run(simulation, n, progress and label if label in ("melt", "equilibrate") else False)
