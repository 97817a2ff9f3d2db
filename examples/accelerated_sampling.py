"""Accelerated sampling of a small KA liquid on the CPU, against plain MD at equal wall-clock.

1. Melt and quench N = 200 KA particles to T (default 0.6) in OpenMM (Langevin).
2. The method (``--method``):
   * ``harmonic`` (default): k = 8 particle region jumps from the members' local harmonic model
     (no training), plain Metropolis-Hastings between MD segments;
   * ``tempering``: parallel tempering, ``--replicas`` rungs from T to ``--tmax``, all
     replicas in this one process, so the wall clock charges every one of them. Its Q is that of
     the configuration at the lowest rung, which also drops when a barely-moved replica swaps in:
     read its "speedup" as an upper estimate (the benchmark requires a round trip as well);
   * ``region``: the same regions with a region flow trained on that MD, checked by NCMC;
   * ``local``: CNF or diffusion single-region jumps (trained here, or ``--proposal``).
3. From the same equilibrated state, run (a) plain MD and (b) the method for the same wall-clock
   budget, saving frames (for tempering: the configuration at the lowest rung) with their
   wall-clock times.
4. Measure the drift-free self-overlap Q(lag) of every particle (a = 0.3 sigma, origins
   averaged) against wall-clock lag, and the wall-clock time for Q to fall below 1/e: the
   decorrelation time of each method.

Why harmonic is the default: measured at N = 500 (``benchmarks/sampler_speedup.py``), harmonic
region jumps ran at 0.75 and 0.79 of MD's speed at T = 0.6 and 0.5 and 1.46 +- 0.22 times MD at
0.45 (two replicas); parallel tempering, with a round trip required, ran at 0.50 of MD at
T_min = 0.6 (``benchmarks/tempering_speedup.py --quick``) and 0.18 at T_min = 0.45 (N = 256,
8 replicas). Tempering pays for the small 2D ternary system instead (N = 43,
``benchmarks/ternary_lowest_t.py``: PT reached its ladder's bottom, 0.15, where MD reached 0.38 in
the same CPU time). See
the README's sampler sections.

Writes sampling-output/{summary.json, overlap.png, sampler/ or tempering/...}. The last line
printed is one JSON object with acceptance_rate, md_only_decorrelation_time_s,
sampler_decorrelation_time_s and speedup (= md_only / sampler; below 1 means plain MD
decorrelates faster per second).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from glassmm.analysis.decorrelation import crossing_time as decorrelation_time
from glassmm.analysis.decorrelation import overlap_vs_lag


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-T", "--temperature", type=float, default=0.6)
    p.add_argument("--method", default="harmonic", choices=("tempering", "harmonic", "region", "local"),
                   help="tempering: parallel tempering from T to --tmax; harmonic / region / local: MD plus jumps (see --move)")
    p.add_argument("--tmax", type=float, default=0.9, help="tempering: highest rung (reduced)")
    p.add_argument("--replicas", type=int, default=4, help="tempering: rungs (geometric from T to --tmax)")
    p.add_argument("-n", "--n-particles", type=int, default=200)
    p.add_argument("--kind", default="cnf", choices=("cnf", "diffusion"))
    p.add_argument("--proposal", help="load this proposal model instead of training one")
    p.add_argument("--budget", type=float, default=45.0, help="wall-clock seconds for each method")
    p.add_argument("--md-steps", type=int, default=100, help="MD steps per sampler cycle (and per MD frame)")
    p.add_argument("--move", default=None, choices=("harmonic", "region", "local"), help="same as --method (kept for old scripts)")
    p.add_argument("--rho", type=float, default=0.8, help="harmonic move: memory of the Ornstein-Uhlenbeck step")
    p.add_argument("-k", type=int, default=8, help="region move: particles per region")
    p.add_argument("--ncmc-steps", type=int, default=100, help="region move: NCMC steps per protocol half (0 = plain MH)")
    p.add_argument("--region-lag-steps", type=int, default=20, help="region move: MD lag of the training displacements")
    p.add_argument("--proposals", type=int, default=2, help="jumps per sampler cycle")
    p.add_argument("--radius", type=float, default=0.7)
    p.add_argument("--base-scale", type=float, default=0.7)
    p.add_argument("--score", default="botan-ka-T0.44-ts", help="propensity model choosing jump centres ('none': uniform)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--pairs", type=int, default=150, help="training pairs (lag 2 tau, origins every 0.5 tau)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default="sampling-output")
    args = p.parse_args(argv)
    if args.move is not None:
        args.method = args.move
    args.move = args.method

    import glassmm
    from glassmm.analysis._plot import finish, pyplot
    from glassmm.sampling import GenerativeSampler, JumpCheck, LocalMove, PropensityScore
    from glassmm.sampling.training import collect_jump_pairs, load_proposal_model, save_proposal_model, train_proposal_model
    from glassmm.sampling.workflow import DT, ka_simulation
    from glassmm.simulation import get_positions, get_velocities, set_velocities

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    T = args.temperature
    t_start = time.perf_counter()
    ka, sim = ka_simulation(T, n_particles=args.n_particles, seed=args.seed)
    print(f"glassmm {glassmm.__version__}: KA N={ka.n_particles} equilibrated at T={T}", flush=True)

    model, history = None, {}
    if args.move == "tempering":
        history = {"replicas": args.replicas, "tmax": args.tmax}
    elif args.move in ("region", "harmonic"):
        from glassmm.sampling.harmonic import HarmonicRegionProposal
        from glassmm.sampling.ncmc import NCMCProtocol, RegionNCMCMove
        from glassmm.sampling.region_flow import RegionFlowModel
        from glassmm.sampling.workflow import region_geometry, train_region_flow

        sel, centres = region_geometry(ka, args.k)
        if args.move == "harmonic":
            model = HarmonicRegionProposal(args.k, T, rho=args.rho, table=ka.table)
            history = {"harmonic_rho": args.rho}
        elif args.proposal:
            model = RegionFlowModel.load(args.proposal)
            history = {"loaded": args.proposal}
        else:
            model, history = train_region_flow(sim, ka, args.k, args.region_lag_steps, args.pairs, args.epochs // 2, args.seed,
                                               progress=False)
            model.save(out / "proposal-region.pt")
            print(f"trained region flow (k={args.k}): held-out -log q per region {history['validation_nll_per_region']:.2f}", flush=True)

    elif args.proposal:
        model = load_proposal_model(args.proposal)
        history = {"loaded": args.proposal}
    elif args.move == "local":
        pairs = collect_jump_pairs(sim, ka.types, ka.box, lag_steps=400, n_pairs=args.pairs, stride_steps=100, dt=DT)
        model, history = train_proposal_model(pairs, args.kind, epochs=args.epochs, seed=args.seed)
        save_proposal_model(model, out / f"proposal-{args.kind}.pt", {"temperature": T, "lag": pairs["lag"]})
        history.pop("loss")
        print(f"trained {args.kind}: held-out log q per particle {history['val_log_q_per_particle']:.3f} "
              f"(per-species Gaussian {history['val_log_gaussian_per_particle']:.3f})", flush=True)
    if args.move == "local":
        model.base_scale = args.base_scale

    x0, v0 = get_positions(sim.context), get_velocities(sim.context)
    start_state = sim.context.getState(positions=True, velocities=True)

    # (a) plain MD for the budget
    frames, walls = [x0], [0.0]
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < args.budget:
        sim.step(args.md_steps)
        frames.append(get_positions(sim.context))
        walls.append(time.perf_counter() - t0)
    md_frames, md_walls = np.array(frames), np.array(walls)
    print(f"plain MD: {len(md_frames) - 1} frames, {(len(md_frames) - 1) * args.md_steps * DT:.1f} tau in {md_walls[-1]:.1f} s", flush=True)

    # (b) the method from the same state
    sim.context.setPositions(start_state.getPositions())
    set_velocities(sim.context, v0)
    frames, walls = [x0], [0.0]
    if args.move == "tempering":
        from glassmm.sampling.tempering import geometric_ladder, ka_tempering

        ka.positions_reduced = x0
        ladder = geometric_ladder(T, args.tmax, args.replicas)
        pt = ka_tempering(ka, ladder, md_steps=args.md_steps, output=out / "tempering", platform="CPU", threads=1,
                          seed=args.seed, frame_every=0, progress=False)

        def lowest() -> np.ndarray:
            return pt.pool.call("get_state", [(() if r == pt.assignment[0] else None) for r in range(pt.n_replicas)])[pt.assignment[0]][0]

        def record_pt(p) -> bool:
            frames.append(lowest())
            walls.append(time.perf_counter() - t0)
            return walls[-1] >= args.budget

        t0 = time.perf_counter()
        summary = pt.run(10**9, callback=record_pt)
        pt.close()
        cycles = summary["rounds"]
        acc = summary["acceptance"]
        summary["acceptance_rate"] = float(np.mean([a for a in acc if a is not None])) if any(a is not None for a in acc) else 0.0
        print(f"tempering: {len(ladder)} replicas ({', '.join(f'{t:.3g}' for t in ladder)}), {cycles} rounds, neighbour acceptance "
              f"{', '.join('n/a' if a is None else f'{a:.2f}' for a in acc)}, {summary['round_trips_total']} round trips "
              f"in {walls[-1]:.1f} s (all replicas on one core)", flush=True)
    else:
        if args.move in ("region", "harmonic"):
            steps = 0 if args.move == "harmonic" else args.ncmc_steps  # the harmonic model is of the full potential
            move = RegionNCMCMove(model, ka.types, ka.box, selector=sel, centres=centres, protocol=NCMCProtocol(steps=steps),
                                  table=ka.table)
        else:
            score = None if args.score == "none" else PropensityScore(args.score)
            move = LocalMove(model, ka.types, ka.box, radius=args.radius, score=score)
        sampler = GenerativeSampler(sim, move, T, md_steps=args.md_steps, proposals_per_cycle=args.proposals,
                                    check=JumpCheck(), output=out / "sampler", seed=args.seed, progress=False)

        def record(s: GenerativeSampler) -> bool:
            frames.append(get_positions(sim.context))
            walls.append(time.perf_counter() - t0)
            return walls[-1] >= args.budget

        t0 = time.perf_counter()
        sampler.run(10**9, callback=record)
        cycles = sampler.cycle
        summary = sampler.summary()
        print(f"sampler: {cycles} cycles, {summary['attempts']} jumps proposed, {summary['accepted']} accepted "
              f"(rate {summary['acceptance_rate']:.3f}) in {walls[-1]:.1f} s", flush=True)
    s_frames, s_walls = np.array(frames), np.array(walls)

    # decorrelation: the drift-free Q(lag) of every particle against wall-clock lag, origins averaged
    np.savez_compressed(out / "frames.npz", md_frames=md_frames, md_walls=md_walls, sampler_frames=s_frames, sampler_walls=s_walls)
    res = {}
    fig, ax = pyplot().subplots(figsize=(5, 3.5))
    for name, fr, wl in (("md_only", md_frames, md_walls), ("sampler", s_frames, s_walls)):
        q = overlap_vs_lag(fr, max_lag=len(fr) // 2)
        lag_s = np.arange(len(q)) * (wl[-1] / (len(wl) - 1))
        res[name] = decorrelation_time(lag_s, q)
        ax.plot(lag_s, q, label=name.replace("_", " "))
    ax.axhline(1.0 / math.e, color="k", lw=0.5, ls="--")
    ax.set(xlabel="wall-clock lag (s)", ylabel="drift-free overlap Q (a = 0.3)", xscale="log",
           title=f"KA N={ka.n_particles}, T={T}: MD vs {args.move}")
    ax.legend()
    finish(fig, out / "overlap.png")

    # null (not Infinity, which is not JSON) where Q never fell below 1/e within half the budget
    finite = {k: (v if math.isfinite(v) else None) for k, v in res.items()}
    speedup = res["md_only"] / res["sampler"] if (finite["md_only"] and finite["sampler"]) else None
    result = {
        "acceptance_rate": summary["acceptance_rate"],
        "md_only_decorrelation_time_s": finite["md_only"],
        "sampler_decorrelation_time_s": finite["sampler"],
        "speedup": speedup,
        "method": args.move,
        "proposal_kind": {"region": "region-nsf", "harmonic": "region-harmonic", "tempering": None}.get(args.move, getattr(model, "kind", None)),
        "temperature": T,
        "n_particles": ka.n_particles,
        "budget_s": args.budget,
        "md_only_tau_simulated": (len(md_frames) - 1) * args.md_steps * DT,
        "sampler_tau_simulated": cycles * args.md_steps * DT,  # per replica for tempering
        "sampler_time_split_s": summary["timers_s"],
        "check_failures": summary.get("check_failures"),
        "tempering": {k: summary[k] for k in ("temperatures", "acceptance", "round_trips_total")} if args.move == "tempering" else None,
        "training": history,
        "total_wall_s": time.perf_counter() - t_start,
    }
    from glassmm.io import atomic_write

    with atomic_write(out / "summary.json", "w") as fh:
        json.dump(result, fh, indent=2)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
