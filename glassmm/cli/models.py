"""`glassmm` subcommands -- Models: models, train, evaluate, predict, backends."""

from __future__ import annotations

import argparse


from glassmm.cli.options import add_device
from glassmm.cli.output import print_json
from glassmm.structures import INPUTS


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list bundled models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_models)


def _cmd_models(args: argparse.Namespace) -> int:
    from glassmm.models.artifact import bundled_models, read_metadata

    rows = []
    for name, path in bundled_models().items():
        m = read_metadata(path)
        rows.append({"name": name, "path": str(path), "kind": m.get("kind"), "inputs": m.get("inputs"),
                     "training_temperatures": m.get("training_temperatures"), "target_time": m.get("target_time"),
                     "validation": m.get("validation")})
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            print(f"{r['name']:<18} {r['kind']:<7} inputs={r['inputs']:<6} T={r['training_temperatures']} t={r['target_time']}  {r['path']}")
    return 0


def check_model(name: str) -> str:
    """A model argument that is a file or a bundled name; else one line naming the bundled ones."""
    from pathlib import Path

    if Path(name).exists():
        return name
    from glassmm.models.artifact import bundled_models

    names = sorted(bundled_models())
    if name in names:
        return name
    import difflib

    close = difflib.get_close_matches(name, names, n=1, cutoff=0.5) or [n for n in names if n.startswith(name)][:1]
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"unknown model {name!r}: no such file and no bundled model of that name{hint}; "
                     f"bundled: {', '.join(names) or 'none'}")


# ---------------------------------------------------------------------------- train
def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train BOTAN / T-BOTAN on isoconfigurational files")
    p.add_argument("files", nargs="+", help="training npz files (BOTAN layout)")
    p.add_argument("--val", nargs="*", default=[], help="validation files (early stopping)")
    p.add_argument("-o", "--output", required=True, help="artifact path (.pt); the work dir is OUTPUT.work/")
    p.add_argument("--inputs", default="TS", choices=INPUTS,
                   help="thermal (TS), inherent (IS), cage state (CS) positions, or a pair of them")
    p.add_argument("--cage-duration", type=float, help="cage state: averaging window per run (tau)")
    p.add_argument("--cage-runs", type=int, help="cage state: independent runs averaged")
    p.add_argument("--cage-radius", type=float, help="cage state: free radius of the tether (sigma_AA)")
    p.add_argument("--tbotan", action="store_true", help="add the temperature head")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--pretrain-epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--steps", type=int, default=7)
    p.add_argument("-p", "--p-node", type=float, default=0.4)
    p.add_argument("--distribution-weight", type=float, default=0.0)
    p.add_argument("--no-energy-features", action="store_true")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--global-standardise", action="store_true", help="one target scale for all configurations")
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT.work/checkpoint.pt")
    p.add_argument("--target-time", type=float, help="target time (tau) recorded in the metadata")
    p.add_argument("--temperature", type=float, help="temperature (reduced) of files that carry none")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from glassmm.training.api import train_model
    from glassmm.training.trainer import TrainConfig

    cfg = TrainConfig(epochs=args.epochs, pretrain_epochs=args.pretrain_epochs, lr=args.lr, hidden=args.hidden,
                      n_steps=args.steps, p_node=args.p_node, distribution_weight=args.distribution_weight,
                      energy_features=not args.no_energy_features, augment=not args.no_augment,
                      patience=args.patience, seed=args.seed, inputs=args.inputs, temperature_head=args.tbotan,
                      per_config_standardise=not args.global_standardise,
                      cage={k: v for k, v in (("duration", args.cage_duration), ("n_runs", args.cage_runs),
                                              ("restraint_radius", args.cage_radius)) if v is not None})
    res = train_model(args.files, args.val, args.output, cfg, resume=args.resume, target_time=args.target_time,
                      temperature=args.temperature)
    print_json(res)
    return 0


# ---------------------------------------------------------------------------- evaluate / predict
def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="Pearson/Spearman/std ratio/edge Pearson of a model on isoconf files")
    p.add_argument("files", nargs="+")
    p.add_argument("--model", required=True, help="bundled model name or artifact path")
    p.add_argument("--plot", help="PNG of predicted vs true (at the headline lag)")
    p.add_argument("--temperature", type=float, help="temperature (reduced) of files that carry none")
    p.add_argument("--time", type=float, help="lag (tau) of files that store none (e.g. the shared BOTAN data)")
    p.add_argument("--lag", type=float,
                   help="headline figures at this stored lag (tau); default: the model's target time")
    add_device(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from glassmm.backends import load_predictor
    from glassmm.training.evaluate import evaluate_model

    predictor, _ = load_predictor(check_model(args.model), backend=args.backend, device=args.device)
    res = evaluate_model(predictor, args.files, plot=args.plot, progress=not args.json,
                         temperature=args.temperature, time=args.time, lag=args.lag)
    if args.json:
        print_json(res)
    else:
        def when(t):
            return "lag not stored" if t is None else f"t = {t:g}"

        def ceiling(r):
            return f" (ceiling {r['pearson_ceiling']:.3f})" if r.get("pearson_ceiling") is not None else ""

        for r in res["per_file"]:
            print(f"{r['file']} [{when(r['time'])}]: Pearson {r['pearson']:.3f}{ceiling(r)}, Spearman "
                  f"{r['spearman']:.3f}, std ratio {r['std_ratio']:.2f}"
                  + (f", edge AA {r['edge_pearson_AA']:.3f}" if "edge_pearson_AA" in r else ""))
        if len(res["per_lag"]) > 1:
            for g in res["per_lag"]:
                c = g.get("pearson_ceiling_mean")
                print(f"  {when(g['time'])}: mean Pearson {g['pearson_mean']:.3f}"
                      + (f" (ceiling {c:.3f})" if c is not None else "") + f" over {g['n_files']} files")
        c = res.get("pearson_ceiling_mean")
        print(f"at {when(res['lag'])} ({res['lag_choice']}; model target time {res['target_time']}): "
              f"mean Pearson {res['pearson_mean']:.3f}" + (f", reliability ceiling {c:.3f}" if c is not None else "")
              + f", pooled {res['pearson_pooled']:.3f}, std ratio {res['std_ratio_mean']:.2f}")
    return 0


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="per-particle propensity (and temperature) for a configuration")
    p.add_argument("file")
    p.add_argument("--model", required=True)
    p.add_argument("-o", "--output", help="npz with propensity (N,) [and temperature]")
    p.add_argument("--temperature", type=float,
                   help="temperature (reduced) of a file that carries none (cage-state models need it)")
    add_device(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args: argparse.Namespace) -> int:
    from glassmm.workflows import predict_file

    summary = predict_file(args.file, check_model(args.model), args.output, device=args.device, backend=args.backend,
                           temperature=args.temperature)
    if args.json:
        print_json(summary)
    else:
        print(f"propensity of A: mean {summary['propensity_mean_A']:.4f}, std {summary['propensity_std_A']:.4f}"
              + (f"; temperature estimate {summary['temperature']:.4f}" if summary["temperature"] is not None else ""))
    return 0


# ---------------------------------------------------------------------------- backends
def _add_backends(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backends", help="list inference backends (built-in and plugins) and load failures")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_backends)


def _cmd_backends(args: argparse.Namespace) -> int:
    from glassmm.backends import list_backends

    rows = list_backends()
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            state = "available" if r["available"] else f"unavailable ({r['error'] or 'not usable here'})"
            print(f"{r['name']:<14} {state}")
    return 0


ADDERS = [_add_models, _add_train, _add_evaluate, _add_predict, _add_backends]
