"""KA MD throughput through the ML stack against the CustomNonbondedForce path, side by side.

Three routes on the same configuration, CPU platform, velocity Verlet: the native
CustomNonbondedForce, openmm-torch's TorchForce (TorchScript KA module, vesin neighbour
list, autograd forces), and openmm.PythonForce (eager module called from Python each step).
Last line: JSON with steps/s per route and throughput ratios against the custom force.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    import glassmm
    from glassmm.simulation import create_simulation
    from glassmm.torchforce import ka_system_with

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--n-particles", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    ka = glassmm.KobAndersen(args.n_particles, positions="random", seed=0)
    sims = {}
    for route in ("custom", "torch", "python"):
        k = glassmm.KobAndersen(ka.n_particles, positions=ka.positions_reduced, types=ka.types, box=ka.box)
        if route != "custom":
            k.system = ka_system_with(ka, route)
        sims[route] = create_simulation(k, "nve", temperature=1.0, platform="CPU", seed=0)
        sims[route].step(5)  # warm-up (JIT, neighbour lists)
    rates = {r: [] for r in sims}
    for i in range(args.rounds):
        for route, sim in sims.items():
            t0 = time.perf_counter()
            sim.step(args.steps)
            rates[route].append(args.steps / (time.perf_counter() - t0))
        print(f"round {i + 1}: " + ", ".join(f"{r} {v[-1]:.1f} steps/s" for r, v in rates.items()), flush=True)
    med = {r: float(np.median(v)) for r, v in rates.items()}
    print(json.dumps({"n_particles": args.n_particles, "platform": "CPU",
                      "steps_per_s": {r: round(v, 2) for r, v in med.items()},
                      "ratio_vs_custom": {r: round(v / med["custom"], 4) for r, v in med.items()}}))


if __name__ == "__main__":
    main()
