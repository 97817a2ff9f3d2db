"""glassmm's KA tau_alpha against LAMMPS, both run here by the same protocol, side by side.

For each temperature, ``--starts`` independent starts (seeds) in each engine through
:func:`glassmm.reference.protocols.measure_tau_alpha` (melt, cool, thermostatted
equilibration, NVE measurement from zero momentum; F_s(q = 7.25) of A over every origin).
Printed per temperature: mean tau_alpha and its standard error in each engine, their
difference in combined standard errors, and each start's mean NVE kinetic temperature (its
state point: NVE keeps the kinetic energy the thermostat left, which fluctuates by
sqrt(2 / 3N) T, 2.6 % at N = 1000). The last line is one JSON object with the table; ``-o``
also writes it to a file. No cited numbers: the reference is LAMMPS, run by this script.

Defaults (N = 1000, T = 1.0, 0.8, 0.64, 3 starts) take about 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

#: equilibration and measurement times (tau) per temperature: about 30 and 10 tau_alpha
TIMES = {1.0: (30.0, 12.0), 0.8: (60.0, 25.0), 0.64: (120.0, 60.0)}


def summarise(values: list[float]) -> tuple[float, float]:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")


def main() -> None:
    from glassmm.reference.protocols import measure_tau_alpha

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-T", "--temperatures", type=float, nargs="+", default=[1.0, 0.8, 0.64])
    ap.add_argument("-n", "--n-particles", type=int, default=1000)
    ap.add_argument("--starts", type=int, default=3, help="independent starts per engine and temperature")
    ap.add_argument("--threads", type=int, default=2, help="glassmm CPU threads (LAMMPS runs on one)")
    ap.add_argument("-o", "--output", help="also write the JSON table here")
    args = ap.parse_args()
    table = []
    for T in args.temperatures:
        eq, meas = TIMES.get(T, (30.0 / T**6, 10.0 / T**6))
        runs: dict[str, list[dict]] = {"glassmm": [], "lammps": []}
        t0 = time.perf_counter()
        for seed in range(args.starts):
            for engine in ("glassmm", "lammps"):
                r = measure_tau_alpha(engine, T, seed=100 + seed, n_particles=args.n_particles, equilibration=eq,
                                      measure=meas, threads=args.threads if engine == "glassmm" else 1)
                runs[engine].append(r)
                print(f"T = {T}: {engine:8s} start {seed}: tau_alpha = {r['tau_alpha']:.3f}, "
                      f"mean NVE T {r['nve_mean_kinetic_temperature']:.3f}", flush=True)
        row = {"temperature": T, "n_particles": args.n_particles, "starts": args.starts,
               "equilibration_tau": eq, "measure_tau": meas, "seconds": round(time.perf_counter() - t0, 1)}
        for engine, rs in runs.items():
            mean, sem = summarise([r["tau_alpha"] for r in rs])
            row[engine] = {"tau_alpha": round(mean, 3), "sem": round(sem, 3),
                           "per_start": [round(r["tau_alpha"], 3) for r in rs],
                           "nve_mean_T": [round(r["nve_mean_kinetic_temperature"], 3) for r in rs]}
        g, l = row["glassmm"], row["lammps"]
        row["difference_in_sigma"] = round((g["tau_alpha"] - l["tau_alpha"]) / np.hypot(g["sem"], l["sem"]), 2)
        print(f"T = {T}: glassmm {g['tau_alpha']:.3f} +- {g['sem']:.3f}, LAMMPS {l['tau_alpha']:.3f} +- {l['sem']:.3f} "
              f"({row['difference_in_sigma']} sigma)", flush=True)
        table.append(row)
    out = {"tau_alpha": table}
    if args.output:
        from glassmm.io import atomic_write

        with atomic_write(args.output, "w") as fh:
            json.dump(out, fh, indent=1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
