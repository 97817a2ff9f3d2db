"""MD throughput with and without GlassReporter, measured side by side in one run; or (``--io``)
the bytes one report writes.

Production cadence: N = 4096 KA on the CPU platform, one report per 1000 steps, the bundled
model running in the reporter's worker thread. Segments with and without the reporter
alternate on the same Simulation, so both see the same machine state. Last line: JSON with
``throughput_ratio`` (with / without). Target on CPU: >= 0.90.

``--io``: bytes written per report (the process's ``wchar`` from /proc/self/io around each
report's MD segment: everything HDF5 hands the kernel) at N = 4096 with the default 50 time
origins, before the origin window is full and after, next to the size of the frame itself.
``--baseline REV`` measures the same with glassmm as of git revision REV (``git archive``
into a temporary folder, run in a subprocess) and prints the ratio. Bytes do not depend on
the machine's load, so the two need not be interleaved.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def _wchar() -> int:
    with open("/proc/self/io") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("wchar"))


def measure_io(n: int, interval: int, origins: int, reports: int) -> dict:
    """Bytes written per report by a GlassReporter without a model (its analyses and file only)."""
    import glassmm
    from glassmm.simulation import create_simulation

    ka = glassmm.KobAndersen(n, positions="random", seed=0)
    sim = create_simulation(ka, "langevin", temperature=0.8, seed=0, platform="CPU")
    sim.step(50)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "io.h5"
        rep = glassmm.GlassReporter(path, interval, max_origins=origins)
        sim.reporters.append(rep)
        per, size = [], []
        for _ in range(reports):
            before = _wchar()
            sim.step(interval)
            per.append(_wchar() - before)
            size.append(path.stat().st_size)
        rep.close()
    filling, full = per[2:origins], per[origins + 1:]
    return {"glassmm": glassmm.__file__, "n_particles": n, "max_origins": origins, "reports": reports,
            "bytes_per_report_filling": int(np.median(filling)), "bytes_per_report_full": int(np.median(full)),
            "bytes_per_report_max": int(max(per[2:])),
            "file_growth_per_report_full": int(np.median(np.diff(size[origins:]))),
            "frame_bytes": n * 3 * 4 + n * 4}


def io_main(args: argparse.Namespace) -> None:
    import os
    import subprocess
    import sys

    now = measure_io(args.n_particles, args.interval, args.origins, args.reports)
    print(f"this tree: {now}", flush=True)
    out = {"io": now}
    if args.baseline:
        repo = Path(__file__).resolve().parents[1]
        with tempfile.TemporaryDirectory() as d:
            tar = subprocess.run(["git", "archive", args.baseline, "glassmm"], cwd=repo, check=True,
                                 capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", d], input=tar, check=True)
            code = (f"import json, sys; sys.path.insert(0, {str(repo / 'benchmarks')!r}); import reporter_overhead as r; "
                    f"print(json.dumps(r.measure_io({args.n_particles}, {args.interval}, {args.origins}, {args.reports})))")
            res = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": d}, cwd=d, check=True,
                                 capture_output=True, text=True)
        base = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"baseline {args.baseline}: {base}", flush=True)
        out.update(baseline=base, baseline_rev=args.baseline,
                   ratio_full=round(now["bytes_per_report_full"] / base["bytes_per_report_full"], 4))
    print(json.dumps(out))


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
    ap.add_argument("--io", action="store_true", help="measure bytes written per report instead of throughput")
    ap.add_argument("--origins", type=int, default=50, help="--io: the reporter's max_origins")
    ap.add_argument("--baseline", help="--io: also measure glassmm as of this git revision")
    args = ap.parse_args()
    if args.io:
        if args.interval == 1000:
            args.interval = 5  # bytes per report do not depend on the steps between reports
        args.reports = max(args.reports, args.origins + 20)
        return io_main(args)

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
