"""Cost of one prediction at N = 4096 from a bare configuration, for the shipped T = 0.44 models, side by side.

A prediction is the structures the model reads (the cage state: tethered MD, the same
parameters for every model here) plus the model itself (graph, descriptors, network). The cage
state is computed once from scratch (no cache); then the models run interleaved, ``--repeats``
times each, on that cage state, with ``--threads`` torch threads. Shared configuration 9.
Last line: one JSON object with seconds per part and the ratios to ``botan-ka-T0.44``.

    python benchmarks/prediction_cost.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from propensity_ablation import DATA, T_DATA, data_file  # noqa: E402

MODELS = ("botan-ka-T0.44", "cage-linear-ka-T0.44", "cage-mlp-ka-T0.44")


def processor() -> str:
    from glassmm.platforms import processor_name

    return processor_name()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--platform", default="auto")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(json.dumps({"skipped": f"shared data not found at {DATA}"}))
        return 0
    import torch

    torch.set_num_threads(args.threads)
    from glassmm.io import load_configuration
    from glassmm.models.artifact import load_model
    from glassmm.structures import cage_settings, structures_for

    c = load_configuration(data_file(9))
    preds = {m: load_model(m) for m in args.models}
    cages = {m: cage_settings(p.metadata) for m, p in preds.items()}
    if any(v != next(iter(cages.values())) for v in cages.values()):
        raise SystemExit(f"the models read different cage states: {cages}")
    meta = next(iter(preds.values())).metadata
    t0 = time.perf_counter()
    st = structures_for("CS", c.positions, c.types, c.box, temperature=T_DATA, metadata=meta, platform=args.platform,
                        cache=False)
    cage_s = time.perf_counter() - t0
    times: dict[str, list[float]] = {m: [] for m in args.models}
    for _ in range(args.repeats):
        for m, p in preds.items():  # interleaved: load drifts alike for every model
            t0 = time.perf_counter()
            p(c.positions, c.box, c.types, cage_positions=st.cage, temperature=T_DATA)
            times[m].append(time.perf_counter() - t0)
    model_s = {m: float(np.median(v)) for m, v in times.items()}
    ref = model_s.get("botan-ka-T0.44")
    res = {"cage_state_seconds": cage_s, "model_seconds_median": model_s, "model_seconds_all": times,
           "prediction_seconds": {m: cage_s + s for m, s in model_s.items()},
           "model_ratio_to_botan": {m: s / ref for m, s in model_s.items()} if ref else None,
           "threads": args.threads, "processor": processor(),
           "cage": next(iter(cages.values()))}
    for m in args.models:
        print(f"{m:<24} model {model_s[m]:.2f} s + cage state {cage_s:.1f} s", file=sys.stderr)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
