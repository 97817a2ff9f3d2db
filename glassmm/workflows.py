"""End-to-end jobs shared by the command line and Python users (simulate, ...)."""

from __future__ import annotations

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
    platform: str = "CPU",
    precision: str | None = "mixed",
    seed: int = 0,
    report_every: float = 1.0,
    progress: bool = True,
) -> dict[str, Any]:
    """Equilibrate a KA system at ``temperature`` and run production MD.

    Writes ``OUTPUT.dcd`` (unwrapped trajectory, nm = sigma), ``OUTPUT.log`` (OpenMM
    StateDataReporter, OpenMM units) and ``OUTPUT.npz`` (final configuration, BOTAN layout,
    reduced units). All times are reduced (tau).

    Returns
    -------
    dict
        Paths, energies per particle (reduced) and measured steps/s.
    """
    import openmm.app as app

    from glassmm import units
    from glassmm.io import Configuration, load_configuration, save_configuration
    from glassmm.simulation import (
        create_simulation,
        get_positions,
        melt_and_quench,
        potential_energy,
        run,
        set_temperature,
    )
    from glassmm.systems import KobAndersen

    T = units.as_reduced_temperature(temperature)
    if input is not None:
        ka = KobAndersen.from_configuration(load_configuration(input, density=density))
    else:
        ka = KobAndersen(n_particles, density=density, dimensions=dimensions, positions="random", seed=seed)
    start_integrator = "langevin" if (melt and integrator == "nve") else integrator
    sim = create_simulation(ka, start_integrator, temperature=T, dt=dt, platform=platform,
                            precision=precision, seed=seed)
    if melt:
        melt_and_quench(sim, T, equilibration_time=equilibration_time, dt=dt, progress=progress)
    else:
        set_temperature(sim, T) if integrator != "nve" else None
        run(sim, int(round(equilibration_time / dt)), progress and "equilibrate")
    if start_integrator != integrator:
        # Switch to NVE for production: carry positions and velocities over.
        state = sim.context.getState(positions=True, velocities=True)
        ka.positions_reduced = get_positions(sim.context)
        sim = create_simulation(ka, integrator, temperature=T, dt=dt, platform=platform,
                                precision=precision, seed=seed, velocities=None)
        sim.context.setVelocities(state.getVelocities())

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    paths = {ext: output.parent / f"{output.name}.{ext}" for ext in ("dcd", "log", "npz")}  # keep dots in names
    every = max(1, int(round(report_every / dt)))
    n_prod = int(round(production_time / dt))
    sim.reporters.append(app.DCDReporter(str(paths["dcd"]), every, enforcePeriodicBox=False))
    sim.reporters.append(
        app.StateDataReporter(str(paths["log"]), every, step=True, time=True,
                              potentialEnergy=True, kineticEnergy=True, temperature=True, speed=True)
    )
    t0 = time.perf_counter()
    run(sim, n_prod, progress and "production", chunk=every)
    wall = time.perf_counter() - t0
    # OpenMM 8.6's DCD/StateData reporters have no close(); their files close on __del__.
    sim.reporters.clear()
    final = Configuration(positions=get_positions(sim.context), types=ka.types, box=ka.box, temperature=T)
    save_configuration(paths["npz"], final, dt=np.float64(dt), seeds=np.int64(seed))
    return {
        "trajectory": str(paths["dcd"]),
        "log": str(paths["log"]),
        "final_configuration": str(paths["npz"]),
        "n_particles": ka.n_particles,
        "temperature": T,
        "production_steps": n_prod,
        "steps_per_s": n_prod / wall if wall > 0 else float("nan"),
        "potential_energy_per_particle": potential_energy(sim.context) / ka.n_particles,
    }
