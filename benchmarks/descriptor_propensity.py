"""Propensity from coarse-grained structural descriptors (linear CAGE-like, or a GlassMLP-like MLP ensemble), shared T = 0.44 data.

Descriptors (:mod:`glassmm.models.descriptors`) of configurations 1-10 for each ``--inputs``
kind, ridge penalty per species chosen by leave-one-configuration-out cross-validation on
configurations 1-8 (configurations 9-10 choose nothing), fitted on 1-8, its output spread
calibrated on 1-8, exported as a TorchScript artifact and evaluated on the held-out 9-10 through
``glassmm.training.evaluate.evaluate_model`` (the path ``glassmm evaluate`` takes). One JSON
per variant in ``--out``; the last line printed is one JSON object.

    python benchmarks/descriptor_propensity.py --inputs CS TS+CS TS
    python benchmarks/descriptor_propensity.py --inputs CS --cage '{"seed": 1}'       # cage-state seed
    python benchmarks/descriptor_propensity.py --inputs CS --cage '{"n_runs": 16}'    # 4x the cage runs
    python benchmarks/descriptor_propensity.py --inputs CS --ship cage-linear-ka-T0.44.pt
    python benchmarks/descriptor_propensity.py --inputs CS --head mlp --members 5 --ship cage-mlp-ka-T0.44.pt

``--head mlp`` trains ``--members`` MLPs (seeds 0 .. members-1) on configurations 1-7, each kept
at its best epoch by Pearson on configuration 8; the ridge head chooses its penalty by
leave-one-configuration-out CV on 1-8. Both calibrate their output spread on 1-8.

The model has no seed: its randomness is the cage state's (``--cage '{"seed": k}'``), which is
recomputed (and cached) for every file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from propensity_ablation import DATA, T_DATA, TEST_IDS, TRAIN_IDS, data_file  # noqa: E402

ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1)


def variant_key(inputs: str, cg: list[float], cage: dict) -> str:
    c = "-".join(f"{k}{v}" for k, v in sorted(cage.items())) or "default"
    return f"{inputs.replace('+', '_')}-L{'_'.join(f'{x:g}' for x in cg)}-cage_{c}"


def descriptors_of(desc, k: int, cage: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """(features, types, propensity, structure seconds, descriptor seconds) of configuration ``k``.

    The descriptor matrix is kept in glassmm's cache (kind ``descriptors``), keyed by the file,
    the descriptor settings and the cage parameters; the seconds are those of its first computation.
    """
    import torch

    from glassmm.io import cache_dir

    tag = hashlib.sha1(json.dumps([data_file(k).name, desc.config(), cage], sort_keys=True).encode()).hexdigest()[:20]
    cached = cache_dir("descriptors") / f"{tag}.npz"
    if cached.exists():
        with np.load(cached) as z:
            return z["F"], z["types"], z["y"], float(z["s_struct"]), float(z["s_desc"])

    from glassmm.analysis.propensity import propensity
    from glassmm.io import load_configuration
    from glassmm.structures import structures_for

    c = load_configuration(data_file(k))
    t0 = time.perf_counter()
    st = structures_for(desc.inputs, c.positions, c.types, c.box, temperature=T_DATA, metadata={"cage": cage})
    t1 = time.perf_counter()
    with torch.no_grad():
        F = desc(torch.tensor(c.positions), torch.tensor(c.box), torch.tensor(c.types.astype(np.int64)),
                 None if st.inherent is None else torch.tensor(st.inherent),
                 None if st.cage is None else torch.tensor(st.cage)).numpy()
    t2 = time.perf_counter()
    y = propensity(c.positions, c.replica_positions)
    tmp = cached.with_name(cached.name + ".tmp.npz")
    np.savez(tmp, F=F, types=c.types.astype(int), y=y, s_struct=t1 - t0, s_desc=t2 - t1)
    os.replace(tmp, cached)
    return F, c.types.astype(int), y, t1 - t0, t2 - t1


def loco_cv(F: dict, T: dict, Y: dict, species: int, alphas=ALPHAS) -> dict[float, float]:
    """Mean Pearson of leave-one-configuration-out fits on TRAIN_IDS, per ridge penalty."""
    from glassmm.models.descriptors import fit_ridge, standardised_target

    out = {}
    for a in alphas:
        rs = []
        for h in TRAIN_IDS:
            ks = [k for k in TRAIN_IDS if k != h]
            X = np.concatenate([F[k][T[k] == species] for k in ks])
            y = np.concatenate([standardised_target(Y[k], T[k], species) for k in ks])
            mu, sd, w = fit_ridge(X, y, a)
            pred = ((F[h][T[h] == species] - mu) / sd) @ w
            rs.append(np.corrcoef(pred, Y[h][T[h] == species])[0, 1])
        out[a] = float(np.mean(rs))
    return out


def run_variant(inputs: str, cg: list[float], cage: dict, out: Path, ship: str | None = None,
                head: str = "linear", members: int = 5, hidden: int = 64, epochs: int = 30) -> dict:
    import torch

    from glassmm.models.artifact import export_linear, load_model
    from glassmm.models.descriptors import LinearPropensity, StructureDescriptors, fit_linear_propensity
    from glassmm.training.api import _cage_metadata, _provenance
    from glassmm.training.evaluate import evaluate_model

    desc = StructureDescriptors(inputs, cg_lengths=cg)
    F, T, Y, cost = {}, {}, {}, {}
    for k in (*TRAIN_IDS, *TEST_IDS):
        F[k], T[k], Y[k], s_struct, s_desc = descriptors_of(desc, k, cage)
        cost[k] = {"structures_seconds": s_struct, "descriptor_seconds": s_desc}
        print(f"{inputs} L={cg} cage={cage}: configuration {k}: structures {s_struct:.1f} s, descriptors "
              f"{s_desc:.1f} s", file=sys.stderr, flush=True)
    if head == "mlp":
        return run_mlp(desc, F, T, Y, cost, inputs, cg, cage, out, ship, members, hidden, epochs)
    t0 = time.perf_counter()
    cv = {s: loco_cv(F, T, Y, s) for s in (0, 1)}
    alpha = [max(cv[s], key=cv[s].get) for s in (0, 1)]
    model = fit_linear_propensity(LinearPropensity(desc), [F[k] for k in TRAIN_IDS], [T[k] for k in TRAIN_IDS],
                                  [Y[k] for k in TRAIN_IDS], alpha)
    # spread: the ridge output of a standardised target has std < 1 (its R^2); scale it to 1 on
    # the training configurations, per species (Pearson unchanged)
    with torch.no_grad():
        for s in (0, 1):
            z = np.concatenate([((F[k][T[k] == s] - model.feature_mean[s].numpy()) / model.feature_std[s].numpy())
                                @ model.weight[s].numpy() for k in TRAIN_IDS])
            model.weight[s] /= float(z.std())
    fit_s = time.perf_counter() - t0
    norm = {"node_mean": [float(np.mean([Y[k][T[k] == s].mean() for k in TRAIN_IDS])) for s in (0, 1)],
            "node_std": [float(np.mean([Y[k][T[k] == s].std() for k in TRAIN_IDS])) for s in (0, 1)]}
    key = variant_key(inputs, cg, cage)
    path = Path(ship) if ship else out / f"{key}.pt"
    export_linear(model, norm, path, training_temperatures=[T_DATA],
                  target_time="t index 7 of the shared BOTAN data (about tau_alpha at T = 0.44)",
                  data_provenance=_provenance([data_file(k) for k in TRAIN_IDS]),
                  selection=(f"ridge penalty per species by leave-one-configuration-out CV on configurations 1-8 "
                             f"(alpha A {alpha[0]:g}, B {alpha[1]:g}); output spread calibrated on 1-8; "
                             "benchmarks/descriptor_propensity.py"),
                  validation={"loco_cv_pearson_A": cv[0][alpha[0]], "held_out_files": [data_file(k).name for k in TEST_IDS]},
                  **_cage_metadata({"inputs": inputs, "cage": cage}))
    t0 = time.perf_counter()
    res = evaluate_model(load_model(path), [data_file(k) for k in TEST_IDS], progress=False, temperature=T_DATA)
    eval_s = (time.perf_counter() - t0) / len(TEST_IDS)
    row = {"key": key, "model": "linear", "inputs": inputs, "cg_lengths": cg, "cage": cage,
           "alpha_AB": alpha, "loco_cv_pearson": {str(a): v for a, v in cv[0].items()},
           "loco_cv_best": cv[0][alpha[0]], "pearson_mean": res["pearson_mean"],
           "std_ratio_mean": res["std_ratio_mean"],
           "per_file": [{"file": Path(r["file"]).name, "pearson": r["pearson"], "std_ratio": r["std_ratio"]}
                        for r in res["per_file"]],
           "n_features": desc.n_features, "fit_seconds": fit_s, "cost_per_configuration": cost,
           "predict_seconds_cached_structures": eval_s, "artifact": str(path),
           "artifact_sha1_16": hashlib.sha1(path.read_bytes()).hexdigest()[:16]}
    tmp = out / f"{key}.json.tmp"
    tmp.write_text(json.dumps(row, indent=1))
    os.replace(tmp, out / f"{key}.json")
    return row


#: the MLP's split of 1-8: train on 1-7, early stopping on 8 (never on 9-10)
MLP_TRAIN, MLP_VAL = tuple(range(1, 8)), (8,)


def run_mlp(desc, F, T, Y, cost, inputs, cg, cage, out, ship, members, hidden, epochs) -> dict:
    """GlassMLP-like: ``members`` MLPs on the descriptors, trained on 1-7, early-stopped on 8."""
    import torch

    from glassmm.models.artifact import export_linear, load_model
    from glassmm.models.descriptors import MLPPropensity, fit_mlp_propensity
    from glassmm.training.api import _cage_metadata, _provenance
    from glassmm.training.evaluate import evaluate_model

    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = MLPPropensity(desc, hidden=hidden, members=members)
    records = fit_mlp_propensity(model, [F[k] for k in MLP_TRAIN], [T[k] for k in MLP_TRAIN],
                                 [Y[k] for k in MLP_TRAIN], [F[k] for k in MLP_VAL], [T[k] for k in MLP_VAL],
                                 [Y[k] for k in MLP_VAL], epochs=epochs)
    model.eval()
    with torch.no_grad():
        def outputs(k):
            inp = model.inputs(torch.from_numpy(F[k]), torch.from_numpy(T[k]))
            return np.stack([o.detach().numpy() for o in model.member_outputs(inp)])
        # spread of the averaged members scaled to 1 on 1-8, per species (Pearson unchanged)
        for s in (0, 1):
            z = np.concatenate([outputs(k).mean(0)[T[k] == s] for k in TRAIN_IDS])
            model.output_scale[s] = 1.0 / float(z.std())
        member_r = np.array([[np.corrcoef(o[T[k] == 0], Y[k][T[k] == 0])[0, 1] for o in outputs(k)] for k in TEST_IDS])
    fit_s = time.perf_counter() - t0
    norm = {"node_mean": [float(np.mean([Y[k][T[k] == s].mean() for k in TRAIN_IDS])) for s in (0, 1)],
            "node_std": [float(np.mean([Y[k][T[k] == s].std() for k in TRAIN_IDS])) for s in (0, 1)]}
    key = f"mlp-h{hidden}-m{members}-" + variant_key(inputs, cg, cage)
    path = Path(ship) if ship else out / f"{key}.pt"
    export_linear(model, norm, path, training_temperatures=[T_DATA],
                  target_time="t index 7 of the shared BOTAN data (about tau_alpha at T = 0.44)",
                  data_provenance=_provenance([data_file(k) for k in MLP_TRAIN]),
                  validation_files=[data_file(k).name for k in MLP_VAL],
                  selection=(f"{members} MLPs (hidden {hidden}, seeds 0-{members - 1}) trained on configurations 1-7, "
                             f"each at its best epoch of {epochs} by Pearson on configuration 8; output spread "
                             "calibrated on 1-8; benchmarks/descriptor_propensity.py --head mlp"),
                  validation={"members": records, "held_out_files": [data_file(k).name for k in TEST_IDS]},
                  **_cage_metadata({"inputs": inputs, "cage": cage}))
    t0 = time.perf_counter()
    res = evaluate_model(load_model(path), [data_file(k) for k in TEST_IDS], progress=False, temperature=T_DATA)
    eval_s = (time.perf_counter() - t0) / len(TEST_IDS)
    per_member = member_r.mean(0)
    row = {"key": key, "model": "mlp", "inputs": inputs, "cg_lengths": cg, "cage": cage, "hidden": hidden,
           "members": records, "member_pearson": per_member.tolist(),
           "member_pearson_mean": float(per_member.mean()), "member_pearson_seed_std": float(per_member.std(ddof=1))
           if len(per_member) > 1 else None,
           "first_k_pearson": [float(np.mean([np.corrcoef(outputs(k)[:j].mean(0)[T[k] == 0], Y[k][T[k] == 0])[0, 1]
                                              for k in TEST_IDS])) for j in range(1, members + 1)],
           "pearson_mean": res["pearson_mean"], "std_ratio_mean": res["std_ratio_mean"],
           "per_file": [{"file": Path(r["file"]).name, "pearson": r["pearson"], "std_ratio": r["std_ratio"]}
                        for r in res["per_file"]],
           "loco_cv_best": float(np.mean([r["val_pearson"] for r in records])),
           "n_features": desc.n_features, "fit_seconds": fit_s, "cost_per_configuration": cost,
           "predict_seconds_cached_structures": eval_s, "artifact": str(path),
           "artifact_sha1_16": hashlib.sha1(path.read_bytes()).hexdigest()[:16]}
    tmp = out / f"{key}.json.tmp"
    tmp.write_text(json.dumps(row, indent=1))
    os.replace(tmp, out / f"{key}.json")
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", nargs="+", default=["CS"])
    ap.add_argument("--cg", nargs="*", type=float, default=None, help="coarse-graining lengths (sigma_AA)")
    ap.add_argument("--cage", default="{}", help="JSON of glassmm.cage.CageParameters fields (not temperature)")
    ap.add_argument("--out", default="benchmarks/results/linear")
    ap.add_argument("--ship", help="write the (single --inputs) model to this artifact path")
    ap.add_argument("--head", default="linear", choices=["linear", "mlp"],
                    help="ridge (CV on 1-8) or an MLP ensemble (train 1-7, early stopping on 8)")
    ap.add_argument("--members", type=int, default=5, help="MLP members (seeds 0 .. members-1)")
    ap.add_argument("--hidden", type=int, default=64, help="MLP width")
    ap.add_argument("--epochs", type=int, default=30, help="MLP epochs (each member keeps its best on 8)")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(json.dumps({"skipped": f"shared data not found at {DATA}"}))
        return 0
    import torch

    torch.set_num_threads(1)
    from glassmm.models.descriptors import DEFAULT_CG_LENGTHS

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cg = args.cg if args.cg is not None else list(DEFAULT_CG_LENGTHS)
    rows = []
    for inputs in args.inputs:
        r = run_variant(inputs, cg, json.loads(args.cage), out, args.ship if len(args.inputs) == 1 else None,
                        head=args.head, members=args.members, hidden=args.hidden, epochs=args.epochs)
        rows.append(r)
        per = ", ".join(f"{p['pearson']:.3f}" for p in r["per_file"])
        print(f"{r['key']}: Pearson (9-10) {r['pearson_mean']:.3f} [{per}], "
              f"spread ratio {r['std_ratio_mean']:.2f}; LOCO CV (1-8) {r['loco_cv_best']:.3f}", file=sys.stderr, flush=True)
    print(json.dumps({"variants": [{k: r[k] for k in ("key", "pearson_mean", "std_ratio_mean", "loco_cv_best")}
                                   for r in rows]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
