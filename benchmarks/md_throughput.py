"""KA MD throughput against OpenMM's built-in NonbondedForce, measured side by side.

Both systems: N particles at number density 1.2, cutoff 2.5 sigma, LangevinMiddle at
dt = 0.005, same platform. The reference is a single-type LJ fluid through
``NonbondedForce`` (no shift: NonbondedForce has none, so it is the cheapest possible
comparison). Rounds alternate between the two so machine noise hits both equally.

Last output line: one JSON object with ka_steps_per_s, nonbonded_steps_per_s and
ratio_vs_nonbonded. Target on a 2-core CPU: ratio >= 0.25.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import openmm
import openmm.unit as u

import glassmm
from glassmm.simulation import create_simulation, run


def nonbonded_lj(ka: glassmm.KobAndersen) -> openmm.System:
    system = openmm.System()
    nb = openmm.NonbondedForce()
    nb.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
    nb.setCutoffDistance(2.5 * u.nanometer)
    nb.setUseDispersionCorrection(False)
    nb.setUseSwitchingFunction(False)
    for _ in range(ka.n_particles):
        system.addParticle(1.0)
        nb.addParticle(0.0, 1.0, 1.0)
    system.addForce(nb)
    system.setDefaultPeriodicBoxVectors(*ka.box_vectors)
    return system


def steps_per_s(sim, n_steps: int) -> float:
    t0 = time.perf_counter()
    sim.step(n_steps)
    return n_steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--n-particles", type=int, default=4096)
    ap.add_argument("--platform", default="CPU")
    ap.add_argument("--steps", type=int, default=400, help="steps per timed round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    ka = glassmm.KobAndersen(args.n_particles, positions="random", seed=1)
    ka_sim = create_simulation(ka, "langevin", temperature=1.0, platform=args.platform)
    import openmm.app as app

    lj_system = nonbonded_lj(ka)
    integ = openmm.LangevinMiddleIntegrator(glassmm.units.temperature_to_kelvin(1.0), 1 / u.picosecond, 0.005 * u.picosecond)
    plat, props = glassmm.get_platform(args.platform, "mixed")
    lj_sim = app.Simulation(ka.topology, lj_system, integ, plat, props)
    lj_sim.context.setPositions(ka.positions)
    lj_sim.context.setVelocitiesToTemperature(glassmm.units.temperature_to_kelvin(1.0), 1)
    # warm up both (neighbour lists, JIT of the custom expression, liquid state)
    run(ka_sim, 1000)
    run(lj_sim, 1000)
    ka_rates, lj_rates = [], []
    for r in range(args.rounds):
        ka_rates.append(steps_per_s(ka_sim, args.steps))
        lj_rates.append(steps_per_s(lj_sim, args.steps))
        print(f"round {r + 1}/{args.rounds}: KA {ka_rates[-1]:.1f} steps/s, NonbondedForce {lj_rates[-1]:.1f} steps/s", flush=True)
    ka_med, lj_med = float(np.median(ka_rates)), float(np.median(lj_rates))
    result = {
        "n_particles": args.n_particles,
        "platform": args.platform,
        "ka_steps_per_s": round(ka_med, 2),
        "nonbonded_steps_per_s": round(lj_med, 2),
        "ratio_vs_nonbonded": round(ka_med / lj_med, 4),
        "target_ratio": 0.25,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
