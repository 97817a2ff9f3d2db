"""Two-thread scaling of a KA MD step with the compiled pair force, split into the force and the rest.

For each N: the same equilibrated-from-random KA start (density 1.2, T = 1) runs on OpenMM's CPU
platform with the ``glassmm-pairforce`` plugin at 1 and at 2 threads, and the same particles with
*no force at all* at 1 and 2 threads (what OpenMM's step costs without any pair force: the
integrator, clearing and summing the per-thread force buffers, the thread pool's dispatches).
Rounds alternate between the four so machine noise hits all alike; medians are reported.

``force_ms = full_ms - no_force_ms`` is the plugin's share of a step (its neighbour-list
updates and pair loops, with their own thread dispatches). The issue's target is on the whole
step (2 threads >= 1.8x one thread at N >= 4096); the split says which part falls short.

Last output line: one JSON object, per N: ``full_ms``, ``no_force_ms``, ``force_ms`` (each
{"1": ..., "2": ...}), and the 2/1 speedups ``full_speedup``, ``force_speedup``,
``no_force_speedup``.

    python benchmarks/thread_scaling.py                     # N = 4096 and 32768
    python benchmarks/thread_scaling.py -n 4096 --rounds 3 --integrator verlet
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import glassmm
from glassmm.platforms import processor_name
from glassmm.simulation import create_simulation, get_positions


def _without_forces(ka: glassmm.KobAndersen) -> glassmm.KobAndersen:
    """The same particles, box and start with every force removed."""
    bare = glassmm.KobAndersen(ka.n_particles, positions=ka.positions, types=ka.types, box=ka.box)
    for i in reversed(range(bare.system.getNumForces())):
        bare.system.removeForce(i)
    return bare


def _ms_per_step(sim, n_steps: int) -> float:
    t0 = time.perf_counter()
    sim.step(n_steps)
    return (time.perf_counter() - t0) / n_steps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--n-particles", type=int, nargs="+", default=[4096, 32768])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=None, help="steps per timed round (default about 1.6e6 / N)")
    ap.add_argument("--integrator", default="langevin", choices=["langevin", "verlet"])
    args = ap.parse_args()
    print(f"processor: {processor_name()}", flush=True)
    out: dict = {"processor": processor_name(), "integrator": args.integrator, "rounds": args.rounds, "sizes": {}}
    for n in args.n_particles:
        steps = args.steps or max(20, int(1_600_000 / n))
        start = glassmm.KobAndersen(n, positions="random", seed=1, force="plugin")
        warm = create_simulation(start, "langevin", temperature=1.0, platform="CPU", threads=2)
        warm.step(500)  # out of the random start's overlaps, into the T = 1 liquid
        pos = get_positions(warm.context)
        del warm
        ka = glassmm.KobAndersen(n, positions=pos, types=start.types, box=start.box, force="plugin")
        sims = {}
        for threads in (1, 2):
            sims[("full", threads)] = create_simulation(ka, args.integrator, temperature=1.0, platform="CPU",
                                                        threads=threads)
            sims[("no_force", threads)] = create_simulation(_without_forces(ka), args.integrator, temperature=1.0,
                                                            platform="CPU", threads=threads)
        for sim in sims.values():
            sim.step(max(10, steps // 5))
        times: dict = {key: [] for key in sims}
        for r in range(args.rounds):
            for key, sim in sims.items():
                times[key].append(_ms_per_step(sim, steps))
            print(f"N = {n} round {r + 1}/{args.rounds}: "
                  + ", ".join(f"{k[0]}@{k[1]} {v[-1]:.3f}" for k, v in times.items()) + " ms/step", flush=True)
        med = {key: float(np.median(v)) for key, v in times.items()}
        full = {t: med[("full", t)] for t in (1, 2)}
        bare = {t: med[("no_force", t)] for t in (1, 2)}
        force = {t: full[t] - bare[t] for t in (1, 2)}
        out["sizes"][str(n)] = {
            "steps_per_round": steps,
            "full_ms": {str(t): round(v, 4) for t, v in full.items()},
            "no_force_ms": {str(t): round(v, 4) for t, v in bare.items()},
            "force_ms": {str(t): round(v, 4) for t, v in force.items()},
            "full_speedup": round(full[1] / full[2], 3),
            "force_speedup": round(force[1] / force[2], 3),
            "no_force_speedup": round(bare[1] / bare[2], 3),
            "no_force_share_at_2_threads": round(bare[2] / full[2], 3),
        }
        print(f"N = {n}: whole step 2/1 threads {full[1] / full[2]:.2f}x, pair force {force[1] / force[2]:.2f}x, "
              f"step without force {bare[1] / bare[2]:.2f}x", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
