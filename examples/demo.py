"""`make demo`: the main job on an embedded default, a few minutes on a 2-core CPU.

1. Melt and quench a 4096-particle Kob-Andersen liquid to T = 0.6 (Langevin), equilibrate.
2. Production MD with a GlassReporter: the bundled TS model predicts per-particle
   propensity live (in a worker thread), and MSD / F_s / overlap / chi_4 are accumulated
   on the fly. Live estimates are printed at every report.
3. Write demo-output/run.h5 and its plots (propensity field, temperatures, dynamics).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def main() -> int:
    import glassmm
    from glassmm.models.artifact import bundled_models
    from glassmm.simulation import create_simulation, melt_and_quench

    out = Path("demo-output")
    out.mkdir(exist_ok=True)
    h5 = out / "run.h5"
    h5.unlink(missing_ok=True)
    models = bundled_models()
    model = next((m for m in ("tbotan-ka", "botan-ka-T0.44-ts") if m in models), None)
    print(f"glassmm {glassmm.__version__}: bundled models {sorted(models)}; reporter uses {model}", flush=True)

    T = 0.6
    ka = glassmm.KobAndersen(4096, positions="random", seed=1)
    sim = create_simulation(ka, "langevin", temperature=T, platform="CPU", seed=1)
    t0 = time.perf_counter()
    melt_and_quench(sim, T, melt_time=5.0, quench_time=5.0, equilibration_time=20.0, progress=True)
    print(f"equilibrated in {time.perf_counter() - t0:.0f} s", flush=True)

    interval = 500
    rep = glassmm.GlassReporter(h5, interval, model=model, system=ka, reference="start", torch_threads=1)
    sim.reporters.append(rep)
    from tqdm.auto import tqdm

    n_reports = 16
    for k in tqdm(range(n_reports), desc="production", unit="report"):
        sim.step(interval)
        rep.flush()
        with glassmm.read_report(h5) as r:
            p = r["propensity"][-1]
            line = (f"t = {r['time'][-1]:6.2f}  T_kin = {r['kinetic_temperature'][-1]:.3f}  "
                    f"MSD_A = {r['analysis/msd'][-1]:.4f}  F_s = {r['analysis/fs'][-1]:.3f}")
            if np.isfinite(p).any():
                a = r["types"] == 0
                line += f"  propensity(A) mean {np.nanmean(p[a]):.3f} std {np.nanstd(p[a]):.3f}"
            if np.isfinite(r["temperature_estimate"][-1]):
                line += f"  T_est = {r['temperature_estimate'][-1]:.3f}"
        tqdm.write(line)
    rep.close()
    with glassmm.read_report(h5) as r:
        plots = r.plot(out / "run")
        summary = {"report_file": str(h5), "frames": int(len(r["step"])), "plots": plots, "model": model,
                   "skipped_inferences": int(r.attrs["skipped_inferences"]), "model_errors": int(r.attrs["model_errors"]),
                   "mean_kinetic_temperature": float(np.mean(r["kinetic_temperature"])),
                   "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
