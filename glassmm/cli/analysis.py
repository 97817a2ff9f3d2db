"""`glassmm` subcommands -- Analysis of trajectories and isoconfigurational files: analyze, plot."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


from glassmm.cli.output import json_default, print_json


# ---------------------------------------------------------------------------- analyze / plot
def _add_analysis_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", help="isoconfigurational npz files, or DCD trajectories (with --top)")
    p.add_argument("--top", help="npz configuration giving types/box for DCD input")
    p.add_argument("--frame-interval", type=float, help="time between DCD frames (tau; default: from the DCD header)")
    p.add_argument("-q", type=float, default=7.25, help="wavenumber for F_s")
    p.add_argument("--time", type=float, help="lag (tau) of isoconfigurational files that store none "
                   "(e.g. the BOTAN data; a file's own 'time' wins)")
    p.add_argument("--overlap-a", type=float, default=0.3, help="overlap cutoff a (sigma)")
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
    p.add_argument("-o", "--output", help="PNG prefix (default: the first input's path without its suffix)")
    p.set_defaults(func=_cmd_plot)


def _run_analysis(args: argparse.Namespace):
    from glassmm.workflows import analyze_files

    return analyze_files(args.files, topology=args.top, q=args.q, overlap_a=args.overlap_a,
                         species=None if args.species < 0 else args.species, frame_interval=args.frame_interval,
                         time=args.time)


def _cmd_analyze(args: argparse.Namespace) -> int:
    results, objs = _run_analysis(args)
    if args.output:
        from glassmm.io import atomic_write

        with atomic_write(args.output, "w") as fh:
            json.dump(results, fh, default=json_default, indent=1)
    if args.plot:
        from glassmm.workflows import plot_analysis

        results["plots"] = plot_analysis(objs, args.plot)
    if args.json:
        print_json(results)
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

    if not args.output:  # next to the input, so plots of different runs never overwrite each other
        args.output = str(Path(args.files[0]).with_suffix(""))
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


ADDERS = [_add_analyze, _add_plot]
