"""glassmm (OpenMM CPU platform) against LAMMPS on the same KA system, timed side by side in one run.

For each N: one configuration (overlaps removed, a short Langevin run at T = 1), its energy in
both engines (glassmm on the Reference platform in double precision, LAMMPS in double), then
NVE steps per second in each engine with the same number of threads, interleaved (glassmm,
LAMMPS, glassmm, LAMMPS) so a machine's drift hits both alike.

``--quick``: N = 1000 only (under 2 minutes). The last line printed is one JSON object with
``energy_rel_diff`` and ``glassmm_vs_lammps_steps_ratio`` (glassmm steps/s over LAMMPS steps/s;
above 1: glassmm is faster) for the first N, and the per-N table under ``rows``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np


def _timed(fn, steps: int) -> float:
    t0 = time.perf_counter()
    fn(steps)
    return steps / (time.perf_counter() - t0)


def compare(n: int, threads: int, steps: int, repeats: int = 2) -> dict:
    import glassmm
    from glassmm.reference import LammpsKA
    from glassmm.simulation import create_simulation, get_positions, get_velocities, potential_energy, run

    ka = glassmm.KobAndersen(n, positions="random", seed=1)
    sim = create_simulation(ka, "langevin", temperature=1.0, seed=1, threads=threads)
    run(sim, 500)
    pos, vel = get_positions(sim.context), get_velocities(sim.context)
    start = glassmm.KobAndersen(n, positions=pos, types=ka.types, box=ka.box)
    exact = create_simulation(start, "nve", platform="Reference", precision=None, velocities=vel)
    e_mm = potential_energy(exact.context)
    del exact
    md = create_simulation(start, "nve", platform="CPU", threads=threads, velocities=vel)
    lmp = LammpsKA(pos, ka.types, ka.box, velocities=vel, threads=threads)
    e_l = lmp.potential_energy()
    md.step(50)
    lmp.run(50)  # warm-up: neighbour lists, caches
    mm_rates, l_rates = [], []
    for _ in range(repeats):
        mm_rates.append(_timed(md.step, steps))
        l_rates.append(_timed(lambda k: lmp.run(k), steps))
    lmp.close()
    mm, lm = float(np.median(mm_rates)), float(np.median(l_rates))
    return {"n_particles": n, "threads": threads, "steps": steps,
            "energy_per_particle_glassmm": e_mm / n, "energy_per_particle_lammps": e_l / n,
            "energy_rel_diff": abs(e_mm - e_l) / abs(e_l),
            "glassmm_steps_per_s": round(mm, 1), "lammps_steps_per_s": round(lm, 1),
            "glassmm_vs_lammps_steps_ratio": round(mm / lm, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N = 1000 only (under 2 minutes)")
    ap.add_argument("-n", "--n-particles", type=int, nargs="+", default=[1000, 4096, 32768])
    ap.add_argument("--threads", type=int, default=1, help="threads for both engines")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per repeat (default: by N)")
    args = ap.parse_args()
    sizes = [1000] if args.quick else args.n_particles
    rows = []
    for n in sizes:
        steps = args.steps or max(100, int(2_000_000 / n))
        row = compare(n, args.threads, steps)
        print(f"N = {n:6d}: glassmm {row['glassmm_steps_per_s']:8.1f} steps/s, LAMMPS {row['lammps_steps_per_s']:8.1f} "
              f"steps/s (ratio {row['glassmm_vs_lammps_steps_ratio']}), energy rel. diff {row['energy_rel_diff']:.2e}",
              flush=True)
        rows.append(row)
    print(json.dumps({**{k: rows[0][k] for k in ("energy_rel_diff", "glassmm_vs_lammps_steps_ratio")},
                      "machine": platform.processor() or platform.machine(), "rows": rows}))


if __name__ == "__main__":
    main()
