"""Time one prediction (graph + model) at N = 4096 for each inference path, side by side.

Paths: eager fp32 (torch backend), TorchScript (the artifact), eager bf16 (autocast), and
torch.compile (with --compile; its compile time is reported separately). The bf16 output is
checked against fp32 (Pearson and max abs difference). For models reading inherent
structures or cage states, ``structure_seconds`` times computing them from scratch (no
cache) on a real T = 0.44 configuration from ``../shared`` (skipped without it) on
``--platform``: with the network time, the cost of one prediction from a bare configuration.
Last line: JSON with ``seconds_per_prediction`` per path and ``ratio_vs_eager`` (eager time /
path time).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def structure_seconds(metadata: dict, platform: str) -> dict[str, float]:
    """Seconds to compute the model's IS / CS of shared configuration 9 without the cache."""
    from pathlib import Path

    from glassmm.io import load_configuration
    from glassmm.structures import structures_for

    path = Path(__file__).resolve().parents[2] / "shared/data/botan-ka-T0.44/train/isoconfig_N4096T0.44_9_tc07.npz"
    inputs = metadata.get("inputs", "TS")
    if inputs == "TS" or not path.exists():
        return {}
    c = load_configuration(path)
    out = {}
    for kind in ("IS", "CS"):
        if kind in inputs.split("+"):
            t0 = time.perf_counter()
            structures_for(kind, c.positions, c.types, c.box, temperature=0.44, metadata=metadata,
                           platform=platform, cache=False)
            out[kind] = time.perf_counter() - t0
    return out


def main() -> None:
    import torch

    import glassmm
    from glassmm.backends import load_predictor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="botan-ka-T0.44")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--platform", default="auto", help="OpenMM platform for inherent structures / cage states")
    args = ap.parse_args()

    ka = glassmm.KobAndersen(4096, seed=0)  # lattice; the timing does not depend on structure
    pos = ka.positions_reduced + np.random.default_rng(0).normal(0, 0.05, (4096, 3))
    inh = pos.copy()
    paths = {
        "eager": load_predictor(args.model, backend="torch", device=args.device)[0],
        "torchscript": load_predictor(args.model, backend="torchscript", device=args.device)[0],
        "bf16": load_predictor(args.model, backend="torch", device=args.device, dtype="bfloat16")[0],
    }
    compile_s = None
    if args.compile:
        t0 = time.perf_counter()
        paths["compile"] = load_predictor(args.model, backend="torch", device=args.device, compile=True)[0]
        paths["compile"](pos, ka.box, ka.types, inherent_positions=inh, cage_positions=inh)
        compile_s = time.perf_counter() - t0
    results, outputs = {}, {}
    for name, pred in paths.items():
        outputs[name] = pred(pos, ka.box, ka.types, inherent_positions=inh, cage_positions=inh).propensity  # warm-up
    times = {k: [] for k in paths}
    for _ in range(args.repeats):
        for name, pred in paths.items():  # interleaved so noise hits every path alike
            t0 = time.perf_counter()
            pred(pos, ka.box, ka.types, inherent_positions=inh, cage_positions=inh)
            times[name].append(time.perf_counter() - t0)
    for name in paths:
        results[name] = float(np.median(times[name]))
        print(f"{name:>12}: {results[name]:.3f} s per prediction (median of {args.repeats})", flush=True)
    ref = outputs["eager"]
    checks = {}
    for name in paths:
        if name == "eager":
            continue
        checks[name] = {"pearson_vs_fp32": float(np.corrcoef(outputs[name], ref)[0, 1]),
                        "max_abs_diff": float(np.max(np.abs(outputs[name] - ref)))}
        print(f"{name:>12}: vs eager fp32 Pearson {checks[name]['pearson_vs_fp32']:.5f}, "
              f"max |diff| {checks[name]['max_abs_diff']:.2e}")
    structure_s = structure_seconds(paths["torchscript"].metadata, args.platform)
    for k, v in structure_s.items():
        print(f"{k:>12}: {v:.2f} s from scratch on {args.platform}", flush=True)
    print(json.dumps({
        "structure_seconds": structure_s,
        "n_particles": 4096, "model": args.model, "device": args.device, "threads": torch.get_num_threads(),
        "seconds_per_prediction": {k: round(v, 4) for k, v in results.items()},
        "ratio_vs_eager": {k: round(results["eager"] / v, 3) for k, v in results.items()},
        "checks_vs_fp32": checks, "compile_seconds": compile_s,
        # graphs TorchDynamo captured for the compiled path (0 would mean eager timings)
        "compiled_graphs": getattr(paths.get("compile"), "compiled_frames", None),
    }))


if __name__ == "__main__":
    main()
