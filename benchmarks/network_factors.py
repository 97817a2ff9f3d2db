"""What a trained BOTAN ensemble gains without retraining, on held-out shared configurations 9-10.

For one BOTAN artifact (default: the bundled ``botan-ka-T0.44``, four members trained on 1-8):

* **symmetry**: is the network invariant under the 48 rotations and reflections of the cube
  and under translations? (Its edge inputs are pair vectors, so it need not be: it was trained
  with random cube symmetries instead.) Prediction under every operation, the correlation with
  the untransformed one, and the Pearson of the prediction averaged over all 48 (test-time
  symmetrisation, 48 network passes);
* **members**: Pearson of each member and of the average of its first k members;
* **cage runs at predict time**: the cage state recomputed with more runs (``--cage-runs``) or
  another seed and fed to the same network;
* **blend**: the average of the network's and a linear model's standardised predictions, equal
  weights fixed in advance (no weight is fitted, so 9-10 choose nothing).

Prints a table and, last, one JSON object; writes ``--out``/network_factors.json.

    python benchmarks/network_factors.py --linear benchmarks/results/linear/CS-L1_2-cage_default.pt
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from propensity_ablation import DATA, T_DATA, TEST_IDS, data_file  # noqa: E402

OPS = [(p, s) for p in itertools.permutations(range(3)) for s in itertools.product((1.0, -1.0), repeat=3)]


def pearson_a(x: np.ndarray, y: np.ndarray, types: np.ndarray) -> float:
    a = types == 0
    return float(np.corrcoef(x[a], y[a])[0, 1])


def standardised(x: np.ndarray, types: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for t in (0, 1):
        m = types == t
        out[m] = (x[m] - x[m].mean()) / x[m].std()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="botan-ka-T0.44")
    ap.add_argument("--linear", help="a linear artifact to blend with (equal weights)")
    ap.add_argument("--cage-runs", nargs="*", type=int, default=[16], help="cage-state runs to try at predict time")
    ap.add_argument("--cage-seeds", nargs="*", type=int, default=[1], help="cage-state seeds to try at predict time")
    ap.add_argument("--ops", type=int, default=48,
                    help="how many of the 48 cube operations, evenly spaced in their list (identity first)")
    ap.add_argument("--out", default="benchmarks/results/network_factors")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(json.dumps({"skipped": f"shared data not found at {DATA}"}))
        return 0
    import torch

    torch.set_num_threads(1)
    from glassmm.analysis.propensity import propensity
    from glassmm.io import load_configuration
    from glassmm.models.artifact import load_eager, load_model
    from glassmm.structures import cage_settings, structures_for

    mod, meta = load_eager(args.model)
    members = [mod.model, *mod.extra]
    inputs = meta["inputs"]
    res: dict = {"model": args.model, "inputs": inputs, "members": len(members), "files": {}}
    rng = np.random.default_rng(0)
    for k in TEST_IDS:
        c = load_configuration(data_file(k))
        true = propensity(c.positions, c.replica_positions)
        types = c.types.astype(int)
        st = structures_for(inputs, c.positions, c.types, c.box, temperature=T_DATA, metadata=meta)

        def run(pos, inh, cage, box=c.box):
            """Raw (standardised) node output of each member, (M, N)."""
            T = lambda x: None if x is None else torch.tensor(np.asarray(x), dtype=torch.float32)  # noqa: E731
            with torch.no_grad():
                x, e, ei = mod.model.featurize(T(pos), T(box), torch.tensor(types), T(inh), T(cage))
                return np.stack([m.network(x, e, ei)[0].double().numpy() for m in members])

        t0 = time.perf_counter()
        base = run(c.positions, st.inherent, st.cage)
        t_pass = time.perf_counter() - t0
        row: dict = {"network_seconds_per_pass": t_pass,
                     "member_pearson": [pearson_a(m, true, types) for m in base],
                     "first_k_pearson": [pearson_a(base[:j].mean(0), true, types) for j in range(1, len(base) + 1)]}
        # translation: a random shift of every structure
        shift = rng.uniform(-7, 7, 3)
        moved = run(c.positions + shift, None if st.inherent is None else st.inherent + shift,
                    None if st.cage is None else st.cage + shift)
        row["translation_max_abs_change"] = float(np.abs(moved.mean(0) - base.mean(0)).max())
        # cube operations (the box is cubic); positions and structures transformed alike
        per_op, corr_id, acc = [], [], np.zeros_like(base)
        chosen = [OPS[int(i)] for i in np.round(np.linspace(0, len(OPS) - 1, min(args.ops, len(OPS)))).astype(int)]
        for perm, sign in chosen:
            tr = lambda x: None if x is None else np.asarray(x)[:, list(perm)] * np.array(sign)  # noqa: E731
            out = base if (perm == (0, 1, 2) and sign == (1.0, 1.0, 1.0)) else run(tr(c.positions), tr(st.inherent),
                                                                                  tr(st.cage))
            acc += out
            per_op.append(pearson_a(out.mean(0), true, types))
            corr_id.append(pearson_a(out.mean(0), base.mean(0), types))
            print(f"configuration {k}: op {len(per_op)}/{len(chosen)}: Pearson {per_op[-1]:.4f}, corr with identity "
                  f"{corr_id[-1]:.4f}", file=sys.stderr, flush=True)
        sym = acc / len(per_op)
        row.update(ops=len(per_op), op_pearson_mean=float(np.mean(per_op)), op_pearson_std=float(np.std(per_op)),
                   op_pearson_min=float(np.min(per_op)), op_pearson_max=float(np.max(per_op)),
                   op_corr_with_identity_min=float(np.min(corr_id)),
                   op_corr_with_identity_mean=float(np.mean(corr_id)),
                   symmetrised_pearson=pearson_a(sym.mean(0), true, types),
                   symmetrised_member_pearson=[pearson_a(m, true, types) for m in sym])
        # cage states recomputed at predict time
        if "CS" in inputs:
            base_cage = cage_settings(meta)
            variants = [{"n_runs": n} for n in args.cage_runs] + [{"seed": s} for s in args.cage_seeds]
            row["cage_variants"] = []
            for v in variants:
                t0 = time.perf_counter()
                st2 = structures_for(inputs, c.positions, c.types, c.box, temperature=T_DATA,
                                     metadata={**meta, "cage": {**base_cage, **v}})
                cost = time.perf_counter() - t0
                out = run(c.positions, st2.inherent, st2.cage)
                row["cage_variants"].append({"cage": {**base_cage, **v}, "pearson": pearson_a(out.mean(0), true, types),
                                             "structure_seconds_if_uncached": cost})
        if args.linear:
            lin = load_model(args.linear)
            lp = lin(c.positions, c.box, c.types, inherent_positions=st.inherent if "IS" in lin.metadata["inputs"] else None,
                     cage_positions=None, temperature=T_DATA).propensity
            row["linear_pearson"] = pearson_a(lp, true, types)
            for name, net in (("network", base.mean(0)), ("network_symmetrised", sym.mean(0))):
                row[f"blend_{name}_linear_pearson"] = pearson_a(standardised(net, types) + standardised(lp, types),
                                                                true, types)
        res["files"][data_file(k).name] = row
    files = list(res["files"].values())
    summary = {"member_pearson_mean": float(np.mean([np.mean(r["member_pearson"]) for r in files])),
               "member_pearson_seed_std": float(np.mean([np.std(r["member_pearson"], ddof=1) for r in files])),
               "first_k_pearson": [float(np.mean([r["first_k_pearson"][j] for r in files])) for j in range(len(members))],
               "op_pearson_mean": float(np.mean([r["op_pearson_mean"] for r in files])),
               "op_pearson_std": float(np.mean([r["op_pearson_std"] for r in files])),
               "op_corr_with_identity_min": float(np.min([r["op_corr_with_identity_min"] for r in files])),
               "translation_max_abs_change": float(np.max([r["translation_max_abs_change"] for r in files])),
               "symmetrised_pearson": float(np.mean([r["symmetrised_pearson"] for r in files])),
               "network_seconds_per_pass": float(np.mean([r["network_seconds_per_pass"] for r in files]))}
    if all("cage_variants" in r for r in files):
        summary["cage_variants"] = [{"cage": files[0]["cage_variants"][j]["cage"],
                                     "pearson": float(np.mean([r["cage_variants"][j]["pearson"] for r in files]))}
                                    for j in range(len(files[0]["cage_variants"]))]
    if args.linear:
        for key in ("linear_pearson", "blend_network_linear_pearson", "blend_network_symmetrised_linear_pearson"):
            summary[key] = float(np.mean([r[key] for r in files]))
    res["summary"] = summary
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "network_factors.json.tmp"
    tmp.write_text(json.dumps(res, indent=1))
    os.replace(tmp, out / "network_factors.json")
    for key, v in summary.items():
        print(f"{key:<42} {v}", file=sys.stderr)
    print(json.dumps({"summary": summary}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
