"""MD throughput with and without GlassReporter, measured side by side in one run.

Production cadence: N = 4096 KA on the CPU platform, one report per 1000 steps, the bundled
model running in the reporter's worker thread. Segments with and without the reporter
alternate on the same Simulation, so both see the same machine state. Last line: JSON with
``throughput_ratio`` (with / without). Target on CPU: >= 0.90.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    import glassmm
    from glassmm.simulation import create_simulation

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tbotan-ka")
    ap.add_argument("-n", "--n-particles", type=int, default=4096)
    ap.add_argument("--interval", type=int, default=1000)
    ap.add_argument("--reports", type=int, default=3, help="reports per timed segment")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--torch-threads", type=int, default=1)
    args = ap.parse_args()

    ka = glassmm.KobAndersen(args.n_particles, positions="random", seed=0)
    sim = create_simulation(ka, "langevin", temperature=0.8, seed=0)
    sim.step(1000)  # leave the random start
    steps = args.interval * args.reports
    rates = {"without": [], "with": []}
    with tempfile.TemporaryDirectory() as d:
        rep = glassmm.GlassReporter(Path(d) / "bench.h5", args.interval, model=args.model, system=ka,
                                    torch_threads=args.torch_threads)
        for r in range(args.rounds):
            sim.reporters.clear()
            t0 = time.perf_counter(); sim.step(steps); rates["without"].append(steps / (time.perf_counter() - t0))
            sim.reporters.append(rep)
            t0 = time.perf_counter(); sim.step(steps); rep.flush()
            rates["with"].append(steps / (time.perf_counter() - t0))
            print(f"round {r + 1}: without {rates['without'][-1]:.1f} steps/s, with {rates['with'][-1]:.1f} steps/s", flush=True)
        rep.close()
        frames = rep.frames_written
        skipped = rep.skipped
    w, wo = float(np.median(rates["with"])), float(np.median(rates["without"]))
    print(json.dumps({"n_particles": args.n_particles, "report_interval": args.interval, "model": args.model,
                      "steps_per_s_without": round(wo, 2), "steps_per_s_with": round(w, 2),
                      "throughput_ratio": round(w / wo, 4), "frames_written": frames, "skipped_inferences": skipped,
                      "target": 0.90}))


if __name__ == "__main__":
    main()
