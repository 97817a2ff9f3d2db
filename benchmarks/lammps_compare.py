"""glassmm (OpenMM CPU platform, compiled pair-table plugin) against LAMMPS on the same KA system,
timed side by side in one run.

For each N: one configuration (overlaps removed, a short Langevin run at T = 1), its energy in
LAMMPS (double), in glassmm's plugin on the Reference platform (double) and on the CPU platform
(single-precision pair arithmetic), then NVE steps per second, interleaved round by round
(glassmm, LAMMPS, glassmm, LAMMPS, ...) so a machine's drift hits both alike, with one thread
each and with two threads each. Both engines start from the same positions and velocities and
rebuild their neighbour lists by the same rule (skin 0.3 sigma; LAMMPS rebuilds once a particle has
moved half of it, glassmm once the two largest displacements add up to it), and LAMMPS' timed chunks
continue one run (``run N pre no``: no per-chunk set-up). glassmm integrates with OpenMM's ``VerletIntegrator``, LAMMPS with ``fix nve``:
each engine's native velocity Verlet (glassmm's own ``nve`` is a ``CustomIntegrator``, whose
per-step overhead on the CPU platform, 1.7 ms at N = 4096 measured here, would dominate).
``--custom`` also times the ``CustomNonbondedForce`` fallback in the same rounds.

Ratios above 1: glassmm is faster: of the median rates, of the best rounds, and of the CPU time
per step (process CPU time over the timed steps; with one thread this is what each engine does on
a core of its own, the robust figure where other jobs share the machine). ``scaling_2_threads`` is glassmm's two-thread rate over its
one-thread rate (target >= 1.8 at N >= 4096); ``cpu_per_step_2_over_1`` is its process CPU time
per step with two threads over one (1.0: the split adds no work), which still means something on a
machine whose cores other jobs share, where wall-clock scaling does not. Each thread count runs in
its own process (LAMMPS' OpenMP runtime, once started, slowed later one-thread runs 2-3x here), and
LAMMPS' OpenMP threads wait passively (OMP_WAIT_POLICY=PASSIVE unless set): spinning threads on
shared cores collapsed its two-thread rate ~10x. The last line printed is one JSON object.

    python benchmarks/lammps_compare.py                      # N = 1000, 4096, 32768; 1 and 2 threads
    python benchmarks/lammps_compare.py -n 262144 --rounds 1 # the big one, once
    python benchmarks/lammps_compare.py --quick              # N = 1000, 1 thread (under a minute)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def processor() -> str:
    from glassmm.platforms import processor_name

    return processor_name()


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _rate(fn, steps: int, cpu: list | None = None) -> float:
    c0, t0 = _cpu_seconds(), time.perf_counter()
    fn(steps)
    wall = time.perf_counter() - t0
    if cpu is not None:
        cpu.append((_cpu_seconds() - c0) / steps)
    return steps / wall


def _context(system, positions, velocities, platform_name: str, threads: int | None):
    import openmm

    from glassmm import units

    props = {"Threads": str(threads)} if platform_name == "CPU" else {}
    integ = openmm.VerletIntegrator(units.time_to_openmm(0.005))
    ctx = openmm.Context(system, integ, openmm.Platform.getPlatformByName(platform_name), props)
    ctx.setPositions(units.length_to_openmm(positions))
    if velocities is not None:
        ctx.setVelocities(units.velocities_to_openmm(velocities))
    return ctx, integ


def _energy(ctx) -> float:
    from glassmm import units

    return float(units.as_reduced_energy(ctx.getState(energy=True).getPotentialEnergy()))


def prepare(n: int, seed: int = 1) -> tuple:
    """A KA liquid at T = 1: random start, overlaps removed, 500 Langevin steps."""
    import glassmm
    from glassmm.simulation import create_simulation, get_positions, get_velocities, run

    ka = glassmm.KobAndersen(n, positions="random", seed=seed)
    sim = create_simulation(ka, "langevin", temperature=1.0, seed=seed, threads=2)
    run(sim, 500)
    return ka, get_positions(sim.context), get_velocities(sim.context)


def compare(n: int, threads_list: list[int], steps: int, rounds: int, custom: bool) -> list[dict]:
    import glassmm
    from glassmm.reference import LammpsKA

    ka, pos, vel = prepare(n)
    plugin = glassmm.KobAndersen(n, positions=pos, types=ka.types, box=ka.box, force="plugin")
    ref, _ = _context(plugin.system, pos, None, "Reference", None)
    e_ref = _energy(ref)
    del ref
    rows = []
    for threads in threads_list:
        engines = {"glassmm": _context(plugin.system, pos, vel, "CPU", threads)}
        if custom:
            fallback = glassmm.KobAndersen(n, positions=pos, types=ka.types, box=ka.box, force="custom")
            engines["custom"] = _context(fallback.system, pos, vel, "CPU", threads)
        e_cpu = _energy(engines["glassmm"][0])
        lmp = LammpsKA(pos, ka.types, ka.box, velocities=vel, threads=threads)
        e_lmp = lmp.potential_energy()
        for _, integ in engines.values():
            integ.step(50)  # warm-up: neighbour lists, caches, expression compilation
        lmp.run(50)
        rates: dict[str, list[float]] = {k: [] for k in [*engines, "lammps"]}
        cpu: dict[str, list[float]] = {k: [] for k in rates}
        for _ in range(rounds):
            for name, (_, integ) in engines.items():
                rates[name].append(_rate(integ.step, steps, cpu[name]))
            rates["lammps"].append(_rate(lambda k: lmp.run(k, setup=False), steps, cpu["lammps"]))
        lmp.close()
        med = {k: float(np.median(v)) for k, v in rates.items()}
        best = {k: float(np.max(v)) for k, v in rates.items()}
        cpu_med = {k: float(np.median(v)) for k, v in cpu.items()}
        row = {"n_particles": n, "threads": threads, "steps": steps, "rounds": rounds,
               "energy_per_particle_lammps": e_lmp / n, "energy_per_particle_reference": e_ref / n,
               "energy_rel_diff_reference_vs_lammps": abs(e_ref - e_lmp) / abs(e_lmp),
               "energy_rel_diff_cpu_vs_reference": abs(e_cpu - e_ref) / abs(e_ref),
               "glassmm_steps_per_s": round(med["glassmm"], 2), "lammps_steps_per_s": round(med["lammps"], 2),
               "glassmm_vs_lammps": round(med["glassmm"] / med["lammps"], 3),
               "glassmm_vs_lammps_best_rounds": round(best["glassmm"] / best["lammps"], 3),
               "glassmm_vs_lammps_cpu_time": round(cpu_med["lammps"] / cpu_med["glassmm"], 3),
               "glassmm_cpu_seconds_per_step": cpu_med["glassmm"], "lammps_cpu_seconds_per_step": cpu_med["lammps"],
               "glassmm_rounds": [round(r, 2) for r in rates["glassmm"]],
               "lammps_rounds": [round(r, 2) for r in rates["lammps"]]}
        if custom:
            row["custom_steps_per_s"] = round(med["custom"], 2)
            row["custom_vs_lammps"] = round(med["custom"] / med["lammps"], 3)
            row["custom_vs_lammps_cpu_time"] = round(cpu_med["lammps"] / cpu_med["custom"], 3)
        print(f"N = {n:6d}, {threads} thread(s): glassmm {row['glassmm_steps_per_s']:8.1f} steps/s, LAMMPS "
              f"{row['lammps_steps_per_s']:8.1f} steps/s, ratio {row['glassmm_vs_lammps']} (best rounds "
              f"{row['glassmm_vs_lammps_best_rounds']}, CPU time {row['glassmm_vs_lammps_cpu_time']})"
              + (f", custom {row['custom_steps_per_s']:.1f}" if custom else "")
              + f"; energy Reference vs LAMMPS {row['energy_rel_diff_reference_vs_lammps']:.1e}, "
              f"CPU vs Reference {row['energy_rel_diff_cpu_vs_reference']:.1e}", flush=True)
        rows.append(row)
    return rows


def _run_threads_apart(args: argparse.Namespace, threads: list[int]) -> list[dict]:
    """Each thread count in a child process of its own; their rows."""
    rows = []
    for t in threads:
        cmd = [sys.executable, __file__, "--threads", str(t), "--rounds", str(args.rounds),
               "-n", *map(str, args.n_particles)] + (["--steps", str(args.steps)] if args.steps else []) \
            + (["--custom"] if args.custom else [])
        out = subprocess.run(cmd, capture_output=True, text=True)
        for line in out.stdout.splitlines()[:-1]:
            print(line, flush=True)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
        rows += json.loads(out.stdout.splitlines()[-1])["rows"]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--n-particles", type=int, nargs="+", default=[1000, 4096, 32768])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts, each for both engines")
    ap.add_argument("--steps", type=int, default=None, help="steps per timed round (default: about 2e6 / N)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (median reported)")
    ap.add_argument("--custom", action="store_true", help="time the CustomNonbondedForce fallback too")
    ap.add_argument("--quick", action="store_true", help="N = 1000, one thread, two rounds")
    args = ap.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.quick:
        args.n_particles, args.threads, args.rounds = [1000], [1], 2
    sizes = args.n_particles
    if len(args.threads) > 1:
        rows = _run_threads_apart(args, args.threads)
    else:
        rows = []
        for n in sizes:
            rows += compare(n, args.threads, args.steps or max(20, int(2_000_000 / n)), args.rounds, args.custom)
    scaling, cpu_ratio = {}, {}
    for n in sizes:
        by_t = {r["threads"]: r for r in rows if r["n_particles"] == n}
        if 1 in by_t and 2 in by_t:
            scaling[str(n)] = round(by_t[2]["glassmm_steps_per_s"] / by_t[1]["glassmm_steps_per_s"], 3)
            cpu_ratio[str(n)] = round(by_t[2]["glassmm_cpu_seconds_per_step"] / by_t[1]["glassmm_cpu_seconds_per_step"], 3)
    ratios = {f"{r['n_particles']}x{r['threads']}": r["glassmm_vs_lammps"] for r in rows}
    ratios_cpu = {f"{r['n_particles']}x{r['threads']}": r["glassmm_vs_lammps_cpu_time"] for r in rows}
    ratios_best = {f"{r['n_particles']}x{r['threads']}": r["glassmm_vs_lammps_best_rounds"] for r in rows}
    print(json.dumps({"processor": processor(), "load_average": os.getloadavg(), "glassmm_vs_lammps": ratios,
                      "glassmm_vs_lammps_best_rounds": ratios_best, "glassmm_vs_lammps_cpu_time": ratios_cpu,
                      "scaling_2_threads": scaling, "cpu_per_step_2_over_1": cpu_ratio,
                      "max_energy_rel_diff_reference_vs_lammps": max(r["energy_rel_diff_reference_vs_lammps"] for r in rows),
                      "targets": {"one_thread_vs_lammps_bar": 1.0, "one_thread_vs_lammps_goal": 1.5,
                                  "scaling_2_threads": 1.8},
                      "rows": rows}))


if __name__ == "__main__":
    main()
