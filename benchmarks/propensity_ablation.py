"""Input and loss ablation of BOTAN on the shared T = 0.44 data: TS / IS / CS and their pairs.

Trains on shared configurations 1-8 (no validation set: fixed epochs, the final weights are
the model, so configurations 9-10 never steer training) and evaluates on 9-10: mean
per-configuration Pearson over A particles and the spread ratio (predicted std / true std),
for every input kind, with and without the GlassMLP-style distribution loss, several seeds.
Inherent structures and cage states are computed first (OpenMM, cached), then runs go to a
process pool, one torch thread each. Every finished run is a JSON file in the output folder,
so an interrupted ablation resumes where it stopped. Prints a table (mean +- seed std) and,
last, one JSON object; writes ``ablation.png``.

    python benchmarks/propensity_ablation.py --epochs 18 --seeds 0 1 --workers 2

``--ship OUTPUT`` trains the members ``--seeds`` of one configuration (the first
``--inputs`` and ``--dist``) for ``--epochs`` (continuing checkpoints copied into ``--out``),
exports them as one averaged-ensemble artifact, and evaluates members and ensemble on 9-10:

    python benchmarks/propensity_ablation.py --ship m.pt --inputs TS+CS --dist 0.1 --seeds 0 1 2 3 --epochs 54

``--recipe converge`` (issue 32) trains on 1-7 with a cosine learning rate and keeps each
member's best epoch on configuration 8; ``--ship`` then exports those best weights.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "botan-ka-T0.44" / "train"
TRAIN_IDS, TEST_IDS = range(1, 9), (9, 10)
T_DATA = 0.44


def data_file(k: int) -> Path:
    return DATA / f"isoconfig_N4096T0.44_{k}_tc07.npz"


#: training recipes. "fixed" is issue 18's: constant learning rate, fixed epochs, final weights,
#: trained on 1-8. "converge" (issue 32): a cosine learning-rate schedule, trained on 1-7 with
#: early stopping on configuration 8 (never on 9-10), the best validation epoch's weights.
RECIPES = {
    "fixed": {"lr": 3e-3, "lr_schedule": "constant", "train": tuple(range(1, 9)), "val": (), "patience": 10**6},
    "converge": {"lr": 3e-3, "lr_schedule": "cosine", "train": tuple(range(1, 8)), "val": (8,), "patience": 20},
}


def run_key(inputs: str, dist: float, seed: int, recipe: str = "fixed") -> str:
    base = f"{inputs.replace('+', '_')}-d{dist:g}"
    return f"{base}-s{seed}" if recipe == "fixed" else f"{base}-{recipe}-s{seed}"


def one_run(job: dict) -> dict:
    """Train one configuration on 1-8 and evaluate it on 9-10 (runs in a worker process)."""
    import torch

    torch.set_num_threads(job["threads"])
    from glassmm.models.artifact import load_model
    from glassmm.structures import needs_cage, needs_inherent
    from glassmm.training.api import export_checkpoint
    from glassmm.training.data import load_samples
    from glassmm.training.evaluate import evaluate_model
    from glassmm.training.trainer import TrainConfig, Trainer

    out = Path(job["out"])
    recipe = RECIPES[job.get("recipe", "fixed")]
    key = run_key(job["inputs"], job["dist"], job["seed"], job.get("recipe", "fixed"))
    cfg = TrainConfig(epochs=job["epochs"], pretrain_epochs=2, lr=recipe["lr"], lr_schedule=recipe["lr_schedule"],
                      hidden=job["hidden"], n_steps=job["steps"], distribution_weight=job["dist"],
                      inputs=job["inputs"], seed=job["seed"], patience=recipe["patience"], cage=job["cage"])
    torch.manual_seed(job["seed"])
    t0 = time.perf_counter()
    kw = dict(need_inherent=needs_inherent(cfg.inputs), need_cage=needs_cage(cfg.inputs), cage=cfg.cage,
              progress=False, temperature=T_DATA)
    train = load_samples([data_file(k) for k in recipe["train"]], **kw)
    val = load_samples([data_file(k) for k in recipe["val"]], **kw) if recipe["val"] else []
    trainer = Trainer(cfg, train, val, out / f"{key}.work")
    trainer.resume()
    trainer.fit(progress=False)
    train_s = time.perf_counter() - t0
    # with a validation configuration the best epoch's weights, else the final ones
    weights = out / f"{key}.work" / ("best.pt" if val else "checkpoint.pt")
    artifact = export_checkpoint(weights, out / f"{key}.pt", training_temperatures=[T_DATA], target_time=None)
    res = evaluate_model(load_model(artifact), [data_file(k) for k in TEST_IDS], progress=False, temperature=T_DATA)
    best = max((h for h in trainer.history if h["stage"] == "joint"), key=Trainer.score, default=trainer.history[-1])
    row = {"key": key, "inputs": job["inputs"], "distribution_weight": job["dist"], "seed": job["seed"],
           "recipe": job.get("recipe", "fixed"), "epochs": job["epochs"], "epochs_run": len(trainer.history),
           "selected_epoch": best["epoch"] if val else len(trainer.history),
           "val_pearson": best.get("val_pearson") if val else None, "pearson_mean": res["pearson_mean"],
           "std_ratio_mean": float(np.mean([r["std_ratio"] for r in res["per_file"]])),
           "per_file": [{"file": Path(r["file"]).name, "pearson": r["pearson"], "std_ratio": r["std_ratio"]}
                        for r in res["per_file"]],
           "final_train_loss": trainer.history[-1]["loss"], "train_seconds": train_s,
           # this call's seconds cover only the epochs after a resume; the epochs' own sum covers all
           "epoch_seconds_total": float(sum(h["seconds"] for h in trainer.history))}
    tmp = out / f"{key}.json.tmp"
    tmp.write_text(json.dumps(row, indent=1))
    os.replace(tmp, out / f"{key}.json")
    return row


def prepare_structures(inputs: list[str], cage: dict) -> dict:
    """Inherent structures and cage states of all ten files, into glassmm's cache; their costs."""
    from glassmm.io import load_configuration
    from glassmm.structures import structures_for

    need = "IS+CS" if any("IS" in i for i in inputs) and any("CS" in i for i in inputs) else \
        "CS" if any("CS" in i for i in inputs) else "IS" if any("IS" in i for i in inputs) else "TS"
    cost = {}
    for k in (*TRAIN_IDS, *TEST_IDS):
        c = load_configuration(data_file(k))
        t0 = time.perf_counter()
        structures_for(need, c.positions, c.types, c.box, temperature=T_DATA, metadata={"cage": cage})
        cost[k] = time.perf_counter() - t0
        print(f"structures ({need}) of configuration {k}: {cost[k]:.1f} s", file=sys.stderr, flush=True)
    return cost


def table(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["inputs"], r["distribution_weight"]), []).append(r)
    out = []
    for (inputs, dist), rs in sorted(groups.items()):
        p = np.array([r["pearson_mean"] for r in rs])
        s = np.array([r["std_ratio_mean"] for r in rs])
        out.append({"inputs": inputs, "distribution_weight": dist, "n_seeds": len(rs),
                    "pearson": float(p.mean()), "pearson_seed_std": float(p.std(ddof=1)) if len(rs) > 1 else None,
                    "std_ratio": float(s.mean()), "std_ratio_seed_std": float(s.std(ddof=1)) if len(rs) > 1 else None})
    return out


def plot(summary: list[dict], path: Path) -> None:
    from glassmm.analysis._plot import finish, pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = [f"{r['inputs']}\nd={r['distribution_weight']:g}" for r in summary]
    ax.bar(range(len(summary)), [r["pearson"] for r in summary],
           yerr=[r["pearson_seed_std"] or 0 for r in summary], capsize=3)
    ax.set_xticks(range(len(summary)), labels, fontsize=7)
    ax.set_ylabel("mean Pearson (A), configurations 9-10")
    ax.axhline(0.66, color="r", lw=0.8, ls="--")
    finish(fig, path)


def ship(args: argparse.Namespace, out: Path, cage: dict) -> int:
    """Members of one configuration, trained (or continued) to ``args.epochs``, exported as one ensemble."""
    from glassmm.models.artifact import load_model
    from glassmm.training.api import export_ensemble
    from glassmm.training.evaluate import evaluate_model

    inputs, dist, recipe = args.inputs[0], args.dist[0], RECIPES[args.recipe]
    jobs = [{"inputs": inputs, "dist": dist, "seed": s, "epochs": args.epochs, "hidden": args.hidden,
             "steps": args.steps, "threads": args.threads, "cage": cage, "out": str(out), "recipe": args.recipe}
            for s in args.seeds]
    key = lambda seed: run_key(inputs, dist, seed, args.recipe)  # noqa: E731
    # members started from scratch first: continued ones are shorter and fill in behind them
    jobs.sort(key=lambda j: (out / f"{key(j['seed'])}.work" / "checkpoint.pt").exists())
    rows = []
    with ProcessPoolExecutor(args.workers) as pool:
        for fut in as_completed([pool.submit(one_run, j) for j in jobs]):
            r = fut.result()
            rows.append(r)
            print(f"member {r['key']}: Pearson {r['pearson_mean']:.3f}, std ratio {r['std_ratio_mean']:.2f}",
                  file=sys.stderr, flush=True)
    # with a validation configuration each member's best epoch on it, else its final weights
    ckpts = [out / f"{key(s)}.work" / ("best.pt" if recipe["val"] else "checkpoint.pt") for s in args.seeds]
    selection = (f"fixed {args.epochs} epochs, final weights" if not recipe["val"] else
                 f"up to {args.epochs} epochs, {recipe['lr_schedule']} learning rate, trained on "
                 f"{min(recipe['train'])}-{max(recipe['train'])}, each member at its best epoch on configuration(s) "
                 f"{', '.join(map(str, recipe['val']))}")
    t0 = time.perf_counter()
    export_ensemble(ckpts, args.ship, train_files=[data_file(k) for k in recipe["train"]],
                    validation_files=[data_file(k).name for k in recipe["val"]],
                    calibrate_spread=True, temperature=T_DATA, training_temperatures=[T_DATA],
                    target_time="t index 7 of the shared BOTAN data (about tau_alpha at T = 0.44)",
                    selection=f"{selection}, {len(ckpts)} seeds averaged, output spread calibrated on "
                              f"{min(recipe['train'])}-{max(recipe['train'])}; inputs and loss chosen by "
                              "benchmarks/propensity_ablation.py (evaluated on 9-10)",
                    validation={"held_out_files": [data_file(k).name for k in TEST_IDS]})
    res = evaluate_model(load_model(args.ship), [data_file(k) for k in TEST_IDS], progress=False)
    ens = {"pearson_mean": res["pearson_mean"],
           "std_ratio_mean": float(np.mean([r["std_ratio"] for r in res["per_file"]])),
           "per_file": [{"file": Path(r["file"]).name, "pearson": r["pearson"], "std_ratio": r["std_ratio"]}
                        for r in res["per_file"]], "evaluate_seconds": time.perf_counter() - t0}
    members = [r["pearson_mean"] for r in rows]
    print(f"ensemble of {len(rows)}: Pearson {ens['pearson_mean']:.3f}, std ratio {ens['std_ratio_mean']:.2f}; "
          f"members {np.mean(members):.3f} +- {np.std(members, ddof=1) if len(members) > 1 else 0:.3f}")
    print(json.dumps({"artifact": str(args.ship), "inputs": inputs, "distribution_weight": dist,
                      "recipe": args.recipe, "epochs": args.epochs, "members": rows, "ensemble": ens}))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", nargs="+", default=["TS", "IS", "CS", "TS+IS", "TS+CS", "IS+CS"])
    ap.add_argument("--dist", nargs="+", type=float, default=[0.0, 0.1], help="distribution-loss weights")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    ap.add_argument("--cage", default="{}", help="JSON of glassmm.cage.CageParameters fields (not temperature)")
    ap.add_argument("--out", default="benchmarks/results/ablation")
    ap.add_argument("--ship", help="train one configuration's members and export them as this ensemble artifact")
    ap.add_argument("--recipe", default="fixed", choices=sorted(RECIPES), help="training recipe (see RECIPES)")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(json.dumps({"skipped": f"shared data not found at {DATA}"}))
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cage = json.loads(args.cage)
    cost = prepare_structures(args.inputs, cage)
    if args.ship:
        return ship(args, out, cage)
    jobs = [{"inputs": i, "dist": d, "seed": s, "epochs": args.epochs, "hidden": args.hidden, "steps": args.steps,
             "threads": args.threads, "cage": cage, "out": str(out), "recipe": args.recipe}
            for s in args.seeds for i in args.inputs for d in args.dist]  # seed-major: a cut-short run has every kind
    rows, todo = [], []
    for j in jobs:
        f = out / f"{run_key(j['inputs'], j['dist'], j['seed'], args.recipe)}.json"
        if f.exists() and json.loads(f.read_text()).get("epochs") == args.epochs:
            rows.append(json.loads(f.read_text()))
        else:
            todo.append(j)
    print(f"{len(rows)} runs done before, {len(todo)} to run on {args.workers} workers", file=sys.stderr, flush=True)
    with ProcessPoolExecutor(args.workers) as pool:
        futs = {pool.submit(one_run, j): j for j in todo}
        for fut in as_completed(futs):
            r = fut.result()
            rows.append(r)
            print(f"[{len(rows)}/{len(jobs)}] {r['key']}: Pearson {r['pearson_mean']:.3f}, "
                  f"std ratio {r['std_ratio_mean']:.2f} ({r['train_seconds']:.0f} s)", file=sys.stderr, flush=True)
    # the table takes every finished run in the folder at these epochs (runs of earlier calls with
    # other --seeds / --dist included), so an ablation may be run in parts
    rows = [r for r in (json.loads(f.read_text()) for f in sorted(out.glob("*.json")))
            if "key" in r and r.get("epochs") == args.epochs  # run files only, not summary.json
            and r.get("recipe", "fixed") == args.recipe]
    summary = table(rows)
    print(f"{'inputs':<7} {'dist':>5} {'seeds':>5} {'Pearson':>16} {'spread ratio':>16}")
    for r in summary:
        ps = f"{r['pearson']:.3f} +- {r['pearson_seed_std']:.3f}" if r["pearson_seed_std"] is not None else f"{r['pearson']:.3f}"
        ss = f"{r['std_ratio']:.2f} +- {r['std_ratio_seed_std']:.2f}" if r["std_ratio_seed_std"] is not None else f"{r['std_ratio']:.2f}"
        print(f"{r['inputs']:<7} {r['distribution_weight']:>5g} {r['n_seeds']:>5} {ps:>16} {ss:>16}")
    plot(summary, out / ("ablation.png" if args.recipe == "fixed" else f"ablation-{args.recipe}-e{args.epochs}.png"))
    print(json.dumps({"summary": summary, "structure_seconds": cost, "epochs": args.epochs, "hidden": args.hidden,
                      "steps": args.steps, "cage": cage}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
