"""The ``glassmm`` command line: thin shells that parse, call the API, and print.

Each subcommand is a pair ``_add_<name>(subparsers)`` / ``_cmd_<name>(args)``; the logic
lives in the library so Python users get the same behaviour.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

def _print_json(obj: Any) -> None:
    print(json.dumps(obj, default=_json_default))


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x)}")


# ---------------------------------------------------------------------------- inspect
def _add_inspect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="summarise a configuration file (N, composition, box, energy)")
    p.add_argument("file", help="npz configuration (BOTAN layout)")
    p.add_argument("--density", type=float, default=1.2, help="density used when the file has no box")
    p.add_argument("--platform", default="Reference", help="OpenMM platform for the energy")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_inspect)


def inspect_configuration(path: str | Path, density: float = 1.2, platform: str = "Reference") -> dict[str, Any]:
    """Facts about a configuration file as a dict (the API behind ``glassmm inspect``)."""
    from glassmm.geometry import infer_dimensions
    from glassmm.io import load_configuration
    from glassmm.simulation import potential_energy_per_particle

    c = load_configuration(path, density=density)
    n_b = int(np.sum(c.types == 1))
    dims = infer_dimensions(c.positions)
    out: dict[str, Any] = {
        "file": str(path),
        "n_particles": c.n_particles,
        "n_a": c.n_particles - n_b,
        "n_b": n_b,
        "fraction_a": (c.n_particles - n_b) / c.n_particles,
        "dimensions": dims,
        "box": c.box.tolist(),
        "box_inferred": c.box_inferred,
        "density": c.n_particles / float(np.prod(c.box[:dims])),
        "temperature": c.temperature,
        "potential_energy_per_particle": potential_energy_per_particle(c.positions, c.types, c.box, platform),
        "keys": sorted(["types", "initial_positions", *c.extra.keys()]),
    }
    if c.replica_positions is not None:
        out["n_replicas"] = int(np.asarray(c.replica_positions).reshape(-1, c.n_particles, 3).shape[0])
    if c.inherent_positions is not None:
        out["inherent_energy_per_particle"] = potential_energy_per_particle(
            c.inherent_positions, c.types, c.box, platform
        )
    return out


def _cmd_inspect(args: argparse.Namespace) -> int:
    info = inspect_configuration(args.file, args.density, args.platform)
    if args.json:
        _print_json(info)
        return 0
    print(f"{info['file']}")
    print(f"  particles   {info['n_particles']} (A {info['n_a']}, B {info['n_b']}), {info['dimensions']}D")
    box = " x ".join(f"{b:.5f}" for b in info["box"])
    print(f"  box         {box}{'  (inferred from density)' if info['box_inferred'] else ''}")
    print(f"  density     {info['density']:.5f}")
    if info["temperature"] is not None:
        print(f"  temperature {info['temperature']:.4f}")
    print(f"  U/N         {info['potential_energy_per_particle']:.6f} (reduced)")
    if "inherent_energy_per_particle" in info:
        print(f"  U_IS/N      {info['inherent_energy_per_particle']:.6f} (reduced)")
    if "n_replicas" in info:
        print(f"  replicas    {info['n_replicas']}")
    return 0


# ---------------------------------------------------------------------------- simulate
def _add_simulate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="equilibrate and run KA at a temperature, writing a trajectory")
    p.add_argument("--input", help="start from this npz configuration (else a fresh melt)")
    p.add_argument("-n", "--n-particles", type=int, default=1000)
    p.add_argument("--density", type=float, default=1.2)
    p.add_argument("--dimensions", type=int, default=3, choices=(2, 3))
    p.add_argument("-T", "--temperature", type=float, required=True, help="reduced temperature")
    p.add_argument("--equilibrate", type=float, default=10.0, help="equilibration time (tau)")
    p.add_argument("--melt", action="store_true", help="melt at T=2 and quench first (default for fresh starts)")
    p.add_argument("--time", type=float, default=10.0, help="production time (tau)")
    p.add_argument("--dt", type=float, default=0.005)
    p.add_argument("--integrator", default="langevin", choices=("langevin", "nose-hoover", "nve"))
    p.add_argument("--platform", default="CPU")
    p.add_argument("--precision", default="mixed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report-every", type=float, default=1.0, help="trajectory frame interval (tau)")
    p.add_argument("-o", "--output", default="run", help="output prefix: PREFIX.dcd, PREFIX.npz, PREFIX.log")
    p.set_defaults(func=_cmd_simulate)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from glassmm.workflows import simulate

    summary = simulate(
        temperature=args.temperature,
        output=args.output,
        input=args.input,
        n_particles=args.n_particles,
        density=args.density,
        dimensions=args.dimensions,
        equilibration_time=args.equilibrate,
        melt=args.melt or args.input is None,
        production_time=args.time,
        dt=args.dt,
        integrator=args.integrator,
        platform=args.platform,
        precision=args.precision,
        seed=args.seed,
        report_every=args.report_every,
        progress=True,
    )
    _print_json(summary)
    return 0



# ---------------------------------------------------------------------------- quench
def _add_quench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quench", help="minimise to the inherent structure (FIRE), write initial_positions_inherent")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--method", default="fire", choices=("fire", "lbfgs"))
    p.add_argument("--tolerance", type=float, default=1e-3, help="max |F_i| (FIRE) or OpenMM tolerance (lbfgs)")
    p.add_argument("--platform", default="CPU")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_quench)


def _cmd_quench(args: argparse.Namespace) -> int:
    from glassmm.workflows import quench_file

    res = quench_file(args.input, args.output, args.method, args.tolerance, args.platform)
    if args.json:
        _print_json(res)
    else:
        print(f"U/N {res['energy_per_particle']:.6f} -> {res['inherent_energy_per_particle']:.6f} "
              f"({res['method']}, max|F| {res['max_force']:.2e}, {res['seconds']:.1f} s) -> {res['output']}")
    return 0 if res["converged"] else 1


# ---------------------------------------------------------------------------- isoconf
def _add_isoconf(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("isoconf", help="run an isoconfigurational ensemble (resumable)")
    p.add_argument("input", help="starting configuration (npz)")
    p.add_argument("-T", "--temperature", type=float, required=True)
    p.add_argument("-o", "--output", required=True, help="prefix: PREFIX_t<k>.npz and PREFIX.json")
    p.add_argument("-R", "--replicas", type=int, default=32)
    p.add_argument("--times", type=float, nargs="+", help="recording times (tau)")
    p.add_argument("--t-max", type=float, default=10.0, help="last time when --times is not given (log-spaced)")
    p.add_argument("--n-times", type=int, default=8)
    p.add_argument("--dt", type=float, default=0.005)
    p.add_argument("--integrator", default="nve", choices=("nve", "langevin", "nose-hoover"))
    p.add_argument("--platform", default="CPU")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="local processes (one CPU thread each)")
    p.add_argument("--scheduler", help="Dask scheduler address (tcp://host:port) to run replicas on")
    p.set_defaults(func=_cmd_isoconf)


def _cmd_isoconf(args: argparse.Namespace) -> int:
    from glassmm.io import load_configuration
    from glassmm.isoconf import log_spaced_times, run_isoconfigurational

    config = load_configuration(args.input)
    times = args.times or log_spaced_times(args.t_max, args.n_times, dt=args.dt)
    res = run_isoconfigurational(
        config, args.temperature, args.output, n_replicas=args.replicas, times=times, dt=args.dt,
        integrator=args.integrator, platform=args.platform, seed=args.seed,
        executor=args.scheduler or "local", workers=args.workers,
    )
    _print_json({"files": res.files, "metadata": res.metadata_file, "times": res.times,
                 "replicas_run": res.replicas_run, "seconds": res.wall_seconds})
    return 0


# ---------------------------------------------------------------------------- analyze / plot
def _add_analysis_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", help="isoconfigurational npz files, or DCD trajectories (with --top)")
    p.add_argument("--top", help="npz configuration giving types/box for DCD input")
    p.add_argument("--frame-interval", type=float, help="time between DCD frames (tau)")
    p.add_argument("-q", type=float, default=7.25, help="wavenumber for F_s")
    p.add_argument("--overlap-a", type=float, default=0.3)
    p.add_argument("--species", type=int, default=0, help="0 = A, 1 = B, -1 = all")


def _add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="MSD, F_s, Q, alpha_2, chi_4, S_4, g(r), S(q), tau_alpha, reliability")
    _add_analysis_args(p)
    p.add_argument("-o", "--output", help="write the results JSON here")
    p.add_argument("--plot", metavar="PREFIX", help="also write PNG plots PREFIX_<name>.png")
    p.add_argument("--json", action="store_true", help="print the full results as JSON")
    p.set_defaults(func=_cmd_analyze)


def _add_plot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="PNG plots of the analyses, or of GlassReporter .h5 files")
    _add_analysis_args(p)
    p.add_argument("-o", "--output", default="glassmm", help="PNG prefix")
    p.set_defaults(func=_cmd_plot)


def _run_analysis(args: argparse.Namespace):
    from glassmm.workflows import analyze_files

    return analyze_files(args.files, topology=args.top, q=args.q, overlap_a=args.overlap_a,
                         species=None if args.species < 0 else args.species, frame_interval=args.frame_interval)


def _cmd_analyze(args: argparse.Namespace) -> int:
    results, objs = _run_analysis(args)
    if args.output:
        from glassmm.io import atomic_write

        with atomic_write(args.output, "w") as fh:
            json.dump(results, fh, default=_json_default, indent=1)
    if args.plot:
        from glassmm.workflows import plot_analysis

        results["plots"] = plot_analysis(objs, args.plot)
    if args.json:
        _print_json(results)
    else:
        sd = results["self_dynamics"]
        print(f"{'t':>10} {'MSD':>10} {'F_s':>8} {'Q':>8} {'alpha2':>8} {'chi4':>8} {'samples':>8}")
        for row in zip(sd["times"], sd["msd"], sd["fs"], sd["overlap"], sd["alpha2"], sd["chi4"], sd["n_samples"]):
            t, m, f, q, a, c, n = row
            print(f"{t:10.4g} {m:10.4g} {f:8.4f} {q:8.4f} {a:8.4f} {c if c is not None else float('nan'):8.3f} {n:8d}")
        print(f"tau_alpha = {results['tau_alpha']}, S_AA(q) peak at q = {results['sq_AA_peak_q']:.3f}")
        if "s4" in results:
            print(f"xi_4 = {results['s4']['xi4']:.3f} at t = {results['s4_time']:.4g}")
        for r in results.get("reliability", []):
            print(f"reliability {r['file']}: split-half {r['r_half']:.3f}, Spearman-Brown {r['spearman_brown']:.3f}")
        for p in results.get("plots", []):
            print(f"wrote {p}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from glassmm.workflows import plot_analysis

    if all(str(f).endswith((".h5", ".hdf5")) for f in args.files):
        from glassmm.reporters import read_report

        for f in args.files:
            with read_report(f) as rep:
                prefix = args.output if len(args.files) == 1 else f"{args.output}_{Path(f).stem}"
                for p in rep.plot(prefix):
                    print(f"wrote {p}")
        return 0
    _, objs = _run_analysis(args)
    for p in plot_analysis(objs, args.output):
        print(f"wrote {p}")
    return 0


# ---------------------------------------------------------------------------- dataset
def _add_dataset(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dataset", help="multi-temperature isoconfigurational dataset from glassmm's own MD")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument("-T", "--temperatures", type=float, nargs="+", default=[0.56, 0.6, 0.64, 0.7, 0.8, 1.0])
    p.add_argument("-n", "--n-particles", type=int, default=1000)
    p.add_argument("--configs", type=int, default=2)
    p.add_argument("-R", "--replicas", type=int, default=16)
    p.add_argument("--tau-multiples", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    p.add_argument("--equilibration-taus", type=float, default=20.0)
    p.add_argument("--min-equilibration", type=float, default=50.0)
    p.add_argument("--max-equilibration", type=float, default=2000.0,
                   help="stop re-measuring tau_alpha after this much equilibration (tau), with a warning")
    p.add_argument("--tau-tolerance", type=float, default=0.25,
                   help="tau_alpha has converged when a re-measurement grows by less than this fraction")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--scheduler", help="Dask scheduler address")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_dataset)


def _cmd_dataset(args: argparse.Namespace) -> int:
    from glassmm.dataset import make_dataset

    table = make_dataset(
        args.temperatures, args.output, n_particles=args.n_particles, n_configs=args.configs,
        n_replicas=args.replicas, tau_multiples=args.tau_multiples, equilibration_taus=args.equilibration_taus,
        min_equilibration=args.min_equilibration, max_equilibration=args.max_equilibration,
        tau_tolerance=args.tau_tolerance, workers=args.workers, executor=args.scheduler or "local",
        seed=args.seed,
    )
    for e in table["temperatures"]:
        conv = "" if e.get("tau_alpha_converged", True) else " (NOT converged: liquid not equilibrated)"
        print(f"T = {e['temperature']:.3f}: tau_alpha = {e['tau_alpha']:.3f}{conv}, {len(e['files'])} files, {e['seconds']:.0f} s")
    print(f"cost: {table['seconds']:.0f} s wall on this machine; table in {Path(args.output) / 'tau_alpha.json'}")
    return 0



# ---------------------------------------------------------------------------- models
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
        _print_json(rows)
    else:
        for r in rows:
            print(f"{r['name']:<18} {r['kind']:<7} inputs={r['inputs']:<6} T={r['training_temperatures']} t={r['target_time']}  {r['path']}")
    return 0


# ---------------------------------------------------------------------------- train
def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train BOTAN / T-BOTAN on isoconfigurational files")
    p.add_argument("files", nargs="+", help="training npz files (BOTAN layout)")
    p.add_argument("--val", nargs="*", default=[], help="validation files (early stopping)")
    p.add_argument("-o", "--output", required=True, help="artifact path (.pt); the work dir is OUTPUT.work/")
    p.add_argument("--inputs", default="TS", choices=("TS", "IS", "TS+IS"))
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
                      per_config_standardise=not args.global_standardise)
    res = train_model(args.files, args.val, args.output, cfg, resume=args.resume, target_time=args.target_time,
                      temperature=args.temperature)
    _print_json(res)
    return 0


# ---------------------------------------------------------------------------- evaluate / predict
def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="Pearson/Spearman/std ratio/edge Pearson of a model on isoconf files")
    p.add_argument("files", nargs="+")
    p.add_argument("--model", required=True, help="bundled model name or artifact path")
    p.add_argument("--plot", help="PNG of predicted vs true")
    p.add_argument("--temperature", type=float, help="temperature (reduced) of files that carry none")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from glassmm.models.artifact import load_model
    from glassmm.training.evaluate import evaluate_model

    res = evaluate_model(load_model(args.model), args.files, plot=args.plot, progress=not args.json,
                         temperature=args.temperature)
    if args.json:
        _print_json(res)
    else:
        for r in res["per_file"]:
            print(f"{r['file']}: Pearson {r['pearson']:.3f}, Spearman {r['spearman']:.3f}, std ratio {r['std_ratio']:.2f}"
                  + (f", edge AA {r['edge_pearson_AA']:.3f}" if "edge_pearson_AA" in r else ""))
        print(f"mean Pearson {res['pearson_mean']:.3f}, pooled {res['pearson_pooled']:.3f}")
    return 0


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="per-particle propensity (and temperature) for a configuration")
    p.add_argument("file")
    p.add_argument("--model", required=True)
    p.add_argument("-o", "--output", help="npz with propensity (N,) [and temperature]")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args: argparse.Namespace) -> int:
    from glassmm.io import load_configuration, save_npz
    from glassmm.models.artifact import load_model

    c = load_configuration(args.file)
    model = load_model(args.model)
    model.check_system(c.n_particles, c.types)
    pred = model(c.positions, c.box, c.types, inherent_positions=c.inherent_positions)
    if args.output:
        save_npz(args.output, propensity=pred.propensity, types=c.types,
                 **({"temperature": np.float64(pred.temperature)} if pred.temperature is not None else {}))
    A = c.types == 0
    summary = {"file": args.file, "model": args.model, "n_particles": c.n_particles,
               "propensity_mean_A": float(pred.propensity[A].mean()), "propensity_std_A": float(pred.propensity[A].std()),
               "temperature": pred.temperature, "output": args.output}
    if args.json:
        _print_json(summary)
    else:
        print(f"propensity of A: mean {summary['propensity_mean_A']:.4f}, std {summary['propensity_std_A']:.4f}"
              + (f"; temperature estimate {pred.temperature:.4f}" if pred.temperature is not None else ""))
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
        _print_json(rows)
    else:
        for r in rows:
            state = "available" if r["available"] else f"unavailable ({r['error'] or 'not usable here'})"
            print(f"{r['name']:<14} {state}")
    return 0


# ---------------------------------------------------------------------------- sampler
def _add_small_ka_args(p: argparse.ArgumentParser) -> None:
    """Where the sampler's KA system comes from (shared by train-proposal and sample)."""
    p.add_argument("--input", help="start from this npz configuration (else a fresh melt of -n particles)")
    p.add_argument("-n", "--n-particles", type=int, default=200)
    p.add_argument("-T", "--temperature", type=float, required=True, help="reduced temperature")
    p.add_argument("--platform", default="CPU")
    p.add_argument("--seed", type=int, default=0)


def _add_train_proposal(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-proposal", help="train a CNF or diffusion jump-proposal model on glassmm's own MD")
    _add_small_ka_args(p)
    p.add_argument("--kind", default="cnf", choices=("cnf", "diffusion"))
    p.add_argument("--lag", type=float, default=2.0, help="jump lag (tau)")
    p.add_argument("--pairs", type=int, default=150, help="number of (x_t, x_t+lag) pairs")
    p.add_argument("--stride", type=float, default=0.5, help="time between pair origins (tau)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("-o", "--output", required=True, help="model file (.pt)")
    p.set_defaults(func=_cmd_train_proposal)


def _cmd_train_proposal(args: argparse.Namespace) -> int:
    from glassmm.sampling.workflow import train_proposal

    _print_json(train_proposal(
        args.output, args.temperature, args.input, args.n_particles, args.kind, args.lag, args.pairs,
        args.stride, args.epochs, args.seed, args.platform,
    ))
    return 0


def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="MD plus generative jumps checked by Metropolis-Hastings")
    p.add_argument("--proposal", required=True, help="proposal model from `glassmm train-proposal`")
    _add_small_ka_args(p)
    p.add_argument("--cycles", type=int, default=20, help="total cycles (a resumed run continues to this)")
    p.add_argument("--md-steps", type=int, default=200, help="MD steps per cycle")
    p.add_argument("--proposals", type=int, default=4, help="jump proposals per cycle")
    p.add_argument("--radius", type=float, default=0.7, help="local-move region radius (sigma)")
    p.add_argument("--global-fraction", type=float, default=0.0, help="fraction of global (all-particle) moves")
    p.add_argument("--score", default=None, help="propensity model that picks local-move centres (e.g. botan-ka-T0.44)")
    p.add_argument("--base-scale", type=float, default=1.0, help="scale of the flow's base noise (<1: timid jumps)")
    p.add_argument("--mode", default="exact", choices=("exact", "explore"), help="explore = energy filter only, BIASED")
    p.add_argument("--energy-window", type=float, default=0.0, help="explore mode: accept if dU/kT below this")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoint.npz")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.set_defaults(func=_cmd_sample)


def _cmd_sample(args: argparse.Namespace) -> int:
    from glassmm.sampling.workflow import sample

    _print_json(sample(
        args.output, args.proposal, args.temperature, args.input, args.n_particles, args.cycles, args.md_steps,
        args.proposals, args.radius, args.global_fraction, args.score, args.base_scale, args.mode,
        args.energy_window, args.resume, args.seed, args.platform,
    ))
    return 0


# ---------------------------------------------------------------------------- study
def _add_study(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="reproducible studies (temperature: T-BOTAN thermometer and unseen temperatures)")
    ssub = p.add_subparsers(dest="study", required=True)
    t = ssub.add_parser("temperature", help="multi-T data, T-BOTAN on a subset, held-out T metrics, latent map, plots")
    t.add_argument("output", help="study folder (resumable: rerun to continue)")
    t.add_argument("--preset", default="small", help="small (~60 min on 2 cores, the reported run) or tiny (~2 min)")
    t.add_argument("-T", "--temperatures", type=float, nargs="+")
    t.add_argument("--train-temperatures", type=float, nargs="+")
    t.add_argument("--baseline-temperature", type=float,
                   help="held-out temperature at which a single-temperature model is trained for comparison")
    t.add_argument("-n", "--n-particles", type=int)
    t.add_argument("--configs", dest="n_configs", type=int)
    t.add_argument("--test-configs", dest="n_test_configs", type=int)
    t.add_argument("-R", "--replicas", dest="n_replicas", type=int)
    t.add_argument("--inputs", nargs="+", choices=["TS", "IS", "TS+IS"])
    t.add_argument("--members", dest="n_members", type=int, help="ensemble size per input kind")
    t.add_argument("--epochs", type=int)
    t.add_argument("--workers", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--ship", help="also export the TS T-BOTAN ensemble as one artifact here (e.g. tbotan-ka.pt)")
    t.set_defaults(func=_cmd_study_temperature)


def _cmd_study_temperature(args: argparse.Namespace) -> int:
    from glassmm.studies import TemperatureStudy, TemperatureStudyConfig

    keys = ("temperatures", "train_temperatures", "baseline_temperature", "n_particles", "n_configs", "n_test_configs",
            "n_replicas", "inputs", "n_members", "epochs", "workers", "seed")
    cfg = TemperatureStudyConfig.preset(args.preset, **{k: getattr(args, k) for k in keys})
    summary = TemperatureStudy(args.output, cfg).run(ship=args.ship)
    for kind, res in summary["results"].items():
        for T, m in res["per_temperature"].items():
            print(f"{kind:6s} T = {T} ({m['role']:12s}) Pearson snapshot {m['pearson_per_snapshot']:.3f} "
                  f"ensemble {m['pearson_ensemble']:.3f} | T-RMSE snapshot {m['temperature_rmse_per_snapshot']:.3f} "
                  f"ensemble {m['temperature_rmse_ensemble']:.3f} bias {m['temperature_bias']:+.3f} "
                  f"(energy thermometer {m.get('energy_thermometer_rmse', float('nan')):.3f})")
        if "baseline" in res:
            b = res["baseline"]
            print(f"{kind:6s} at T = {b['temperature']}: ensemble Pearson T-BOTAN {b['tbotan']['pearson_ensemble']:.3f} "
                  f"vs trained at that T {b['single_temperature']['pearson_ensemble']:.3f}")
    big = summary.get("thermometer_large_system")
    if big:
        for T, row in big["per_temperature"].items():
            for kind, m in row.items():
                print(f"{kind:6s} T = {T} N = {big['n_particles']} ({big['snapshots']} fresh snapshots) "
                      f"T-RMSE snapshot {m['temperature_rmse_per_snapshot']:.3f} ensemble "
                      f"{m['temperature_rmse_ensemble']:.3f} bias {m['temperature_bias']:+.3f} "
                      f"(energy thermometer {m['energy_thermometer_rmse']:.3f})")
    cost = summary["cost_seconds"]
    print(f"cost: {cost['total'] / 60:.1f} min wall on this machine "
          f"({', '.join(f'{k} {v:.0f} s' for k, v in cost.items() if k != 'total')}); "
          f"summary and plots in {args.output}")
    return 0


# ---------------------------------------------------------------------------- main
_ADDERS = [_add_inspect, _add_simulate, _add_quench, _add_isoconf, _add_analyze, _add_plot, _add_dataset, _add_models, _add_train, _add_evaluate, _add_predict, _add_backends, _add_train_proposal, _add_sample, _add_study]


def build_parser() -> argparse.ArgumentParser:
    from glassmm._version import __version__

    parser = argparse.ArgumentParser(prog="glassmm", description="Hybrid ML/MD for glass-forming liquids (OpenMM).")
    parser.add_argument("--version", action="version", version=f"glassmm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in _ADDERS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"glassmm {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
