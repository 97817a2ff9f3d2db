"""KA MD throughput: the compiled plugin, the CustomNonbondedForce fallback and OpenMM's built-in
NonbondedForce, measured side by side.

All three: N particles at number density 1.2, LangevinMiddle at dt = 0.005, same platform and
thread count, the same starting configuration. KA runs through glassmm's pair table twice: as the
``glassmm-pairforce`` plugin (``force="plugin"``) and as the ``CustomNonbondedForce`` fallback
(``force="custom"``). The reference is a single-type LJ fluid through ``NonbondedForce`` with one
cutoff of 2.5 sigma and no shift (it cannot represent KA's per-pair cutoffs and shifts, so it is
the cheapest comparable force OpenMM has). Rounds alternate between the three so machine noise
hits all alike.

Last output line: one JSON object with steps/s of each, ``plugin_vs_nonbonded``,
``plugin_vs_custom`` and ``custom_vs_nonbonded``, and the same ratios of CPU time per step
(``*_cpu_time``; with one thread, the robust figure where other jobs share the machine).

    python benchmarks/md_throughput.py                 # N = 4096, CPU, 2 threads
    python benchmarks/md_throughput.py -n 32768 --threads 1
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import openmm
import openmm.unit as u

import glassmm
from glassmm.simulation import create_simulation, get_positions, run


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


def _cpu_seconds() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def steps_per_s(sim, n_steps: int, cpu: list | None = None) -> float:
    c0, t0 = _cpu_seconds(), time.perf_counter()
    sim.step(n_steps)
    wall = time.perf_counter() - t0
    if cpu is not None:
        cpu.append((_cpu_seconds() - c0) / n_steps)
    return n_steps / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--n-particles", type=int, default=4096)
    ap.add_argument("--platform", default="CPU")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for every system")
    ap.add_argument("--steps", type=int, default=None, help="steps per timed round (default about 1.6e6 / N)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    steps = args.steps or max(20, int(1_600_000 / args.n_particles))
    threads = args.threads if args.platform.upper() == "CPU" else None

    start = glassmm.KobAndersen(args.n_particles, positions="random", seed=1)
    warm = create_simulation(start, "langevin", temperature=1.0, platform=args.platform, threads=threads)
    run(warm, 500)
    pos = get_positions(warm.context)
    del warm
    sims = {}
    for kind in ("plugin", "custom"):
        ka = glassmm.KobAndersen(args.n_particles, positions=pos, types=start.types, box=start.box, force=kind)
        sims[kind] = create_simulation(ka, "langevin", temperature=1.0, platform=args.platform, threads=threads)
    import openmm.app as app

    integ = openmm.LangevinMiddleIntegrator(glassmm.units.temperature_to_kelvin(1.0), 1 / u.picosecond, 0.005 * u.picosecond)
    plat, props = glassmm.get_platform(args.platform, "mixed")
    if threads is not None:
        props = {**props, "Threads": str(threads)}
    lj = app.Simulation(start.topology, nonbonded_lj(start), integ, plat, props)
    lj.context.setPositions(glassmm.units.length_to_openmm(pos))
    lj.context.setVelocitiesToTemperature(glassmm.units.temperature_to_kelvin(1.0), 1)
    sims["nonbonded"] = lj
    for sim in sims.values():  # warm up: neighbour lists, expression compilation, liquid state
        run(sim, 200)
    rates: dict[str, list[float]] = {k: [] for k in sims}
    cpu: dict[str, list[float]] = {k: [] for k in sims}
    for r in range(args.rounds):
        for k, sim in sims.items():
            rates[k].append(steps_per_s(sim, steps, cpu[k]))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in rates.items()) + " steps/s",
              flush=True)
    med = {k: float(np.median(v)) for k, v in rates.items()}
    cpu_med = {k: float(np.median(v)) for k, v in cpu.items()}
    result = {
        "n_particles": args.n_particles,
        "platform": args.platform,
        "threads": threads,
        "steps_per_round": steps,
        "plugin_steps_per_s": round(med["plugin"], 2),
        "custom_steps_per_s": round(med["custom"], 2),
        "nonbonded_steps_per_s": round(med["nonbonded"], 2),
        "plugin_vs_nonbonded": round(med["plugin"] / med["nonbonded"], 3),
        "plugin_vs_custom": round(med["plugin"] / med["custom"], 3),
        "custom_vs_nonbonded": round(med["custom"] / med["nonbonded"], 3),
        # CPU time per step (process, over the timed steps): robust where other jobs share the cores
        "cpu_ms_per_step": {k: round(v * 1e3, 4) for k, v in cpu_med.items()},
        "plugin_vs_nonbonded_cpu_time": round(cpu_med["nonbonded"] / cpu_med["plugin"], 3),
        "plugin_vs_custom_cpu_time": round(cpu_med["custom"] / cpu_med["plugin"], 3),
        "custom_vs_nonbonded_cpu_time": round(cpu_med["nonbonded"] / cpu_med["custom"], 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
