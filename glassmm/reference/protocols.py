"""One tau_alpha protocol, run in either engine, so glassmm and LAMMPS are compared like for like.

From a seeded random configuration (overlaps removed): melt at T = 2 for 5 tau, cool to T in
5 tau, equilibrate at T, all with a Nose-Hoover chain of 3 coupled at 1/tau in both engines
(glassmm's ``nose-hoover`` integrator; LAMMPS ``fix nvt ... tdamp 1.0``, whose default chain
is 3), then measure in NVE from zero total momentum, frames
every ``frame_interval``, F_s(q = 7.25) of A over every time origin
(:class:`glassmm.analysis.SelfDynamics`, centre-of-mass drift removed), tau_alpha where it
crosses 1/e. The two engines share only the starting configuration and the analysis.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassmm.analysis import SelfDynamics
from glassmm.geometry import zero_momentum

MELT_T, MELT_TIME, COOL_TIME = 2.0, 5.0, 5.0
#: Nose-Hoover damping time (tau) = 1 / glassmm's collision frequency
TDAMP = 1.0


def _start(n: int, seed: int) -> Any:
    from glassmm.systems import KobAndersen

    return KobAndersen(n, positions="random", seed=seed)


def _glassmm_frames(ka: Any, T: float, equilibration: float, measure: float, frame_interval: float,
                    seed: int, threads: int | None, dt: float) -> tuple[np.ndarray, float]:
    from glassmm.simulation import create_simulation, get_positions, get_velocities, kinetic_temperature, melt_and_quench

    sim = create_simulation(ka, "nose-hoover", temperature=T, dt=dt, seed=seed, threads=threads)
    melt_and_quench(sim, T, melt_temperature=MELT_T, melt_time=MELT_TIME, quench_time=COOL_TIME,
                    equilibration_time=equilibration)
    ka.positions_reduced = get_positions(sim.context)
    v = zero_momentum(get_velocities(sim.context))
    nve = create_simulation(ka, "nve", temperature=T, dt=dt, seed=seed, threads=threads, velocities=v)
    every = int(round(frame_interval / dt))
    frames, temps = [get_positions(nve.context)], [kinetic_temperature(nve.context)]
    for _ in range(int(round(measure / frame_interval))):
        nve.step(every)
        frames.append(get_positions(nve.context))
        temps.append(kinetic_temperature(nve.context))
    return np.asarray(frames), float(np.mean(temps))


def _lammps_frames(ka: Any, T: float, equilibration: float, measure: float, frame_interval: float,
                   seed: int, threads: int, dt: float) -> tuple[np.ndarray, float]:
    from glassmm.reference.lammps import LammpsKA
    from glassmm.simulation import maxwell_boltzmann_velocities

    v0 = maxwell_boltzmann_velocities(ka.n_particles, MELT_T, seed=seed)
    with LammpsKA(ka.positions_reduced, ka.types, ka.box, velocities=v0, dt=dt, threads=threads) as lmp:
        lmp.run(int(round(MELT_TIME / dt)), "nvt", MELT_T, tdamp=TDAMP)
        stages = 20
        for k in range(stages):
            lmp.run(int(round(COOL_TIME / dt / stages)), "nvt", MELT_T + (T - MELT_T) * (k + 1) / stages, tdamp=TDAMP)
        lmp.run(int(round(equilibration / dt)), "nvt", T, tdamp=TDAMP)
        lmp.set_velocities(zero_momentum(lmp.velocities()))
        frames, temps = lmp.trajectory(int(round(measure / frame_interval)), int(round(frame_interval / dt)), "nve")
        return frames, float(np.mean(temps))


def measure_tau_alpha(engine: str, temperature: float, seed: int, n_particles: int = 1000,
                      equilibration: float = 50.0, measure: float = 20.0, frame_interval: float = 0.1,
                      threads: int = 1, dt: float = 0.005) -> dict[str, Any]:
    """tau_alpha (reduced, tau) of one independent start in ``engine`` ("glassmm" or "lammps").

    Returns
    -------
    dict
        ``tau_alpha``, the F_s curve (``times``, ``fs``), the mean kinetic temperature over
        the NVE measurement (its state point: NVE inherits the thermostat's last kinetic
        energy, which fluctuates by sqrt(2 / 3N) T), and the settings.
    """
    ka = _start(n_particles, seed)
    if engine == "glassmm":
        frames, t_end = _glassmm_frames(ka, temperature, equilibration, measure, frame_interval, seed, threads, dt)
    elif engine == "lammps":
        frames, t_end = _lammps_frames(ka, temperature, equilibration, measure, frame_interval, seed, threads, dt)
    else:
        raise ValueError(f"engine must be 'glassmm' or 'lammps'; got {engine!r}")
    times = np.arange(len(frames)) * frame_interval
    sd = SelfDynamics(q=7.25, species=0).compute(frames, None, ka.types, times=times)
    return {"engine": engine, "temperature": temperature, "seed": seed, "n_particles": n_particles,
            "tau_alpha": sd.tau_alpha, "times": sd.times.tolist(), "fs": sd.fs.tolist(),
            "equilibration": equilibration, "measure": measure, "frame_interval": frame_interval,
            "nve_mean_kinetic_temperature": float(t_end)}
