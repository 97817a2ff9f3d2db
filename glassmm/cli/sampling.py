"""`glassmm` subcommands -- The generative-proposal sampler: train-proposal, sample."""

from __future__ import annotations

import argparse


from glassmm.cli.options import add_platform
from glassmm.cli.output import print_json
from glassmm.sampling.workflow import SAMPLE_MOVES  # a light module: --help stays torch-free


# ---------------------------------------------------------------------------- sampler
def _add_small_ka_args(p: argparse.ArgumentParser) -> None:
    """Where the sampler's KA system comes from (shared by train-proposal and sample)."""
    p.add_argument("--input", help="start from this npz configuration (else a fresh melt of -n particles)")
    p.add_argument("-n", "--n-particles", type=int, default=200)
    p.add_argument("-T", "--temperature", type=float, required=True, help="reduced temperature")
    add_platform(p)
    p.add_argument("--seed", type=int, default=0)


def _add_train_proposal(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-proposal", help="train a jump-proposal model (CNF, diffusion or region flow) on glassmm's own MD")
    _add_small_ka_args(p)
    p.add_argument("--kind", default="cnf", choices=("cnf", "diffusion", "region"),
                   help="cnf / diffusion: per-particle jumps for `sample --move local`; region: a k-member region flow "
                        "for `sample --move region`")
    p.add_argument("-k", type=int, default=8, help="region flow: particles per region")
    p.add_argument("--lag", type=float, default=2.0, help="jump lag (tau)")
    p.add_argument("--pairs", type=int, default=150, help="number of (x_t, x_t+lag) pairs")
    p.add_argument("--stride", type=float, default=0.5, help="time between pair origins (tau)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("-o", "--output", required=True, help="model file (.pt)")
    p.set_defaults(func=_cmd_train_proposal)


def _cmd_train_proposal(args: argparse.Namespace) -> int:
    from glassmm.sampling.workflow import train_proposal

    print_json(train_proposal(
        args.output, args.temperature, args.input, args.n_particles, args.kind, args.lag, args.pairs,
        args.stride, args.epochs, args.seed, args.platform, k=args.k,
    ))
    return 0


def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="MD plus jumps checked by Metropolis-Hastings or NCMC")
    p.add_argument("--move", default=None, choices=SAMPLE_MOVES,
                   help="default: harmonic without --proposal, else what the proposal file holds. harmonic: k-member region jumps from the members' local harmonic model, plain MH (no training); "
                        "region: k-member jumps from a region flow (--proposal from `train-proposal --kind region`), "
                        "checked by NCMC (--ncmc-steps, 0 = plain MH); local: CNF/diffusion jumps of one region "
                        "(--proposal from `train-proposal --kind cnf|diffusion`)")
    p.add_argument("--proposal", help="proposal model (region and local moves)")
    _add_small_ka_args(p)
    p.add_argument("-k", type=int, default=8, help="harmonic move: particles per region")
    p.add_argument("--rho", type=float, default=0.8, help="harmonic move: memory of the Ornstein-Uhlenbeck step, 0 <= rho < 1")
    p.add_argument("--ncmc-steps", type=int, default=0, help="region move: NCMC steps per protocol half (0 = plain MH)")
    p.add_argument("--frame-every", type=int, default=1, help="cycles between frames of OUTPUT/trajectory.h5 (0: none)")
    p.add_argument("--cycles", type=int, default=20, help="total cycles (a resumed run continues to this)")
    p.add_argument("--md-steps", type=int, default=200, help="MD steps per cycle")
    p.add_argument("--proposals", type=int, default=4, help="jump proposals per cycle")
    p.add_argument("--radius", type=float, default=0.7, help="local move: region radius (sigma)")
    p.add_argument("--global-fraction", type=float, default=0.0, help="fraction of global (all-particle) moves")
    p.add_argument("--score", default=None, help="propensity model that picks local-move centres (e.g. botan-ka-T0.44-ts, a TS model: no quench per attempt)")
    p.add_argument("--base-scale", type=float, default=1.0, help="scale of the flow's base noise (<1: timid jumps)")
    p.add_argument("--mode", default="exact", choices=("exact", "explore"), help="explore = energy filter only, BIASED")
    p.add_argument("--energy-window", type=float, default=0.0, help="explore mode: accept if dU/kT below this")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoint.npz")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.set_defaults(func=_cmd_sample)


def _cmd_sample(args: argparse.Namespace) -> int:
    from glassmm.sampling.workflow import sample

    print_json(sample(
        args.output, args.proposal, args.temperature, args.input, args.n_particles, args.cycles, args.md_steps,
        args.proposals, args.radius, args.global_fraction, args.score, args.base_scale, args.mode,
        args.energy_window, args.resume, args.seed, args.platform, move=args.move, k=args.k, rho=args.rho,
        ncmc_steps=args.ncmc_steps, frame_every=args.frame_every,
    ))
    return 0


def _add_temper(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("temper", help="parallel tempering (temperature replica exchange) of a KA liquid")
    p.add_argument("--input", help="start every replica from this npz configuration (else a fresh melt of -n particles)")
    p.add_argument("-n", "--n-particles", type=int, default=256)
    p.add_argument("--dimensions", type=int, default=3, choices=(2, 3))
    p.add_argument("--tmin", type=float, help="lowest temperature (reduced)")
    p.add_argument("--tmax", type=float, help="highest temperature (reduced)")
    p.add_argument("-R", "--replicas", type=int, default=8, help="rungs of the geometric ladder from --tmin to --tmax")
    p.add_argument("--temperatures", type=float, nargs="+", help="the ladder itself (reduced, increasing)")
    p.add_argument("--tune", type=int, default=0, metavar="ROUNDS",
                   help="first run ROUNDS rounds and respace the rungs for equal neighbour acceptance")
    p.add_argument("--rounds", type=int, default=1000, help="total rounds (a resumed run continues to this)")
    p.add_argument("--md-steps", type=int, default=200, help="MD steps per replica between exchange attempts")
    p.add_argument("--executor", default="serial",
                   help="serial (one process), processes (one per replica) or a Dask scheduler address")
    add_platform(p)
    p.add_argument("--threads", type=int, default=1, help="CPU threads per replica")
    p.add_argument("--frame-every", type=int, default=10, help="rounds between frames (by temperature and by replica)")
    p.add_argument("--checkpoint-every", type=int, default=50, help="rounds between checkpoints")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoint.npz on OUTPUT/ladder.json")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.set_defaults(func=_cmd_temper)


def _cmd_temper(args: argparse.Namespace) -> int:
    from glassmm.sampling.workflow import temper

    print_json(temper(
        args.output, args.tmin, args.tmax, args.replicas, args.temperatures, args.rounds, args.md_steps, args.input,
        args.n_particles, args.dimensions, args.tune, args.executor, args.platform, args.threads,
        args.seed, args.frame_every, args.checkpoint_every, args.resume,
    ))
    return 0


ADDERS = [_add_train_proposal, _add_sample, _add_temper]
