"""`glassmm` subcommands -- Configurations and MD: inspect, simulate, quench, isoconf, dataset."""

from __future__ import annotations

import argparse
from pathlib import Path


from glassmm.cli.options import add_platform
from glassmm.cli.output import print_json


# ---------------------------------------------------------------------------- inspect
def _add_inspect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="summarise a configuration file (N, composition, box, energy)")
    p.add_argument("file", help="npz configuration (BOTAN layout) or a GlassReporter .h5 report")
    p.add_argument("--density", type=float, default=1.2, help="density used when the file has no box")
    add_platform(p, default="Reference")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_inspect)

def _cmd_inspect(args: argparse.Namespace) -> int:
    from glassmm.workflows import inspect_configuration

    info = inspect_configuration(args.file, args.density, args.platform)
    if args.json:
        print_json(info)
        return 0
    if info.get("kind") == "glassmm report":
        print(f"{info['file']}  (glassmm report)")
        for k in ("n_particles", "frames", "steps", "time", "model", "backend", "skipped_inferences", "model_errors",
                  "mean_kinetic_temperature", "mean_temperature_estimate"):
            if k in info:
                print(f"  {k:<26} {info[k]}")
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
    add_platform(p, precision=True, deterministic=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report-every", type=float, default=1.0, help="trajectory frame interval (tau)")
    p.add_argument("-o", "--output", default="run",
                   help="output prefix: PREFIX.dcd (+ PREFIX.dcd.types.npz), PREFIX.log, PREFIX.npz, PREFIX.chk")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue from PREFIX.chk (the same command continues it anyway; this insists on one)")
    again.add_argument("--restart", action="store_true", help="ignore PREFIX.chk and start over")
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
        deterministic=args.deterministic,
        seed=args.seed,
        report_every=args.report_every,
        progress=True,
        resume=True if args.resume else False if args.restart else None,
    )
    print_json(summary)
    return 0


# ---------------------------------------------------------------------------- quench
def _add_quench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quench", help="minimise to the inherent structure (FIRE), write initial_positions_inherent")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--method", default="fire", choices=("fire", "lbfgs"))
    p.add_argument("--tolerance", type=float, default=1e-3, help="max |F_i| (FIRE) or OpenMM tolerance (lbfgs)")
    add_platform(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUTPUT.chk (the same command does anyway; this insists on one)")
    p.set_defaults(func=_cmd_quench)


def _cmd_quench(args: argparse.Namespace) -> int:
    from glassmm.workflows import quench_file

    res = quench_file(args.input, args.output, args.method, args.tolerance, args.platform,
                      resume=True if args.resume else None)
    if args.json:
        print_json(res)
    else:
        print(f"U/N {res['energy_per_particle']:.6f} -> {res['inherent_energy_per_particle']:.6f} "
              f"({res['method']}, max|F| {res['max_force']:.2e}, {res['seconds']:.1f} s) -> {res['output']}")
    return 0 if res["converged"] else 1


# ---------------------------------------------------------------------------- cage
def _add_cage(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cage", help="cage state (tethered MD average, glassmm.cage), write initial_positions_cage")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("-T", "--temperature", type=float, help="temperature (reduced) of a file that carries none")
    p.add_argument("--duration", type=float, default=2.0, help="averaging window per run (tau)")
    p.add_argument("--runs", type=int, default=4, help="independent runs averaged")
    p.add_argument("--radius", type=float, default=0.3, help="free radius of each particle's tether (sigma_AA)")
    p.add_argument("--seed", type=int, default=0)
    add_platform(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_cage)


def _cmd_cage(args: argparse.Namespace) -> int:
    from glassmm.workflows import cage_file

    res = cage_file(args.input, args.output, args.temperature, args.platform, duration=args.duration,
                    n_runs=args.runs, restraint_radius=args.radius, seed=args.seed)
    if args.json:
        print_json(res)
    else:
        print(f"cage state at T = {res['temperature']:g}: mean |CS - TS| {res['mean_distance_from_thermal']:.4f}, "
              f"tethered {100 * res['tethered_fraction']:.2f}% of samples, {res['md_steps']} MD steps, "
              f"{res['seconds']:.1f} s -> {res['output']}")
    return 0


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
    add_platform(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="local processes (one CPU thread each)")
    p.add_argument("--scheduler", help="Dask scheduler address (tcp://host:port) to run replicas on")
    p.add_argument("--resume", action="store_true",
                   help="keep the replicas PREFIX.parts/ holds (the same command does anyway; this insists on some)")
    p.set_defaults(func=_cmd_isoconf)


def _cmd_isoconf(args: argparse.Namespace) -> int:
    from glassmm.io import load_configuration
    from glassmm.isoconf import log_spaced_times, run_isoconfigurational

    config = load_configuration(args.input)
    times = args.times or log_spaced_times(args.t_max, args.n_times, dt=args.dt)
    res = run_isoconfigurational(
        config, args.temperature, args.output, n_replicas=args.replicas, times=times, dt=args.dt,
        integrator=args.integrator, platform=args.platform, seed=args.seed,
        executor=args.scheduler or "local", workers=args.workers, resume=True if args.resume else None,
    )
    print_json({"files": res.files, "metadata": res.metadata_file, "times": res.times,
                 "replicas_run": res.replicas_run, "seconds": res.wall_seconds})
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


ADDERS = [_add_inspect, _add_simulate, _add_quench, _add_cage, _add_isoconf, _add_dataset]
