"""Does parallel tempering equilibrate the KA liquid at low T faster than plain MD, per wall-clock second?

For each lowest temperature T_min (KA 3D, density 1.2, N = ``-n``, CPU platform, one thread, in
one process):

1. **start**: melt at T = 2, then Langevin at T_min until the run spans ``--n-tau-alpha`` (>= 10)
   of its own drift-free tau_alpha (``glassmm.sampling.equilibration``; printed and checked);
2. **plain MD** replicas at T_min from that start (fresh velocities each), each until its
   drift-free overlap Q of A decorrelates (1/e at a lag of at most half the run; else a strict
   bound), frames every ``--frame-tau``; the inherent-structure energy of each frame (FIRE) and
   its autocorrelation time;
3. **parallel tempering** runs (``--pt-runs``, different seeds) on a ladder from T_min to
   ``--tmax`` with ``--replicas`` rungs, respaced once for equal neighbour acceptance after
   ``--tune`` rounds, every replica starting from the same equilibrated configuration; after a
   burn-in of ``--burn-in`` rounds (not charged, as MD's equilibration is not), the configuration
   at the lowest rung is recorded every round-interval of the same MD time per replica as MD's
   frames, and measured exactly as MD's: its drift-free Q of A and its IS energy. PT counts as
   decorrelated at the later of Q's 1/e crossing and its first complete round trip (Q of the
   lowest rung also drops when a barely-moved replica swaps in). All replicas run in this one
   process on one core, so the wall clock charges every replica;
4. **checks**: the energy at T_min of PT against MD (means with errors, histograms), and the
   fraction of A particles in crystalline order (warned above 10 %).

speedup = mean MD wall time to decorrelate (Q) / mean PT wall time to decorrelate, with a
delta-method error over the runs; strict bounds where a run did not decorrelate. The last line
printed is one JSON object: ``speedup`` and ``is_speedup`` per T_min, exchange ``acceptance``
per pair, ``round_trips_per_hour``, ``replicas``. ``--quick``: N = 256, T_min = 0.6, a short
ladder, about 10 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

import glassmm
from glassmm.analysis.decorrelation import DecorrelationRun, autocorrelation, crossing_time, ratio_of_means
from glassmm.sampling.equilibration import equilibrate
from glassmm.sampling.tempering import geometric_ladder, ka_tempering, tune_ladder
from glassmm.simulation import create_simulation, get_positions, potential_energy, set_temperature, set_velocities

DT = 0.005


def is_series(frames: list[np.ndarray], ka) -> np.ndarray:
    """Inherent-structure energy per particle of every frame (FIRE on the CPU platform)."""
    from glassmm.minimize import fire_minimize
    from glassmm.simulation import evaluate

    out = []
    for x in frames:
        y = fire_minimize(np.asarray(x, dtype=np.float64), ka.types, ka.box, force_tolerance=1e-2, platform="CPU").positions
        out.append(evaluate(y, ka.types, ka.box)[0] / ka.n_particles)
    return np.array(out)


def is_decorrelation_wall(frames, wall_per_frame: float, ka) -> tuple[float | None, np.ndarray]:
    """Wall seconds for the IS-energy autocorrelation to reach 1/e (None when it did not within half the frames)."""
    e = is_series(frames, ka)
    c = autocorrelation(e, max_lag=len(e) // 2)
    t = crossing_time(np.arange(len(c), dtype=float), c)
    return (t * wall_per_frame if math.isfinite(t) else None), e


def run_tmin(t_min: float, args) -> dict:
    ka = glassmm.KobAndersen(args.n, positions="random", seed=args.seed)
    sim = create_simulation(ka, "langevin", temperature=2.0, seed=args.seed, platform="CPU", threads=1)
    sim.step(4000)
    set_temperature(sim, t_min)
    eq = equilibrate(sim, ka.types, n_tau_alpha=args.n_tau_alpha, max_tau=args.max_equilibration_tau, progress=False)
    print(f"T_min={t_min}: {eq.line()}", flush=True)
    start = sim.context.getState(positions=True, velocities=True)
    x_start = get_positions(sim.context)
    frame_steps = max(1, int(round(args.frame_tau / DT)))
    masses = np.array([glassmm.units.mass_from_openmm(sim.system.getParticleMass(i)) for i in range(args.n)])

    # ---- plain MD replicas
    md_runs, md_is, md_energy = [], [], []
    for r in range(args.md_replicas):
        sim.context.setState(start)
        set_velocities(sim.context, np.random.default_rng(args.seed + 100 + r).normal(size=(args.n, 3)) * np.sqrt(t_min / masses)[:, None])
        energies = []

        def advance():
            sim.step(frame_steps)
            energies.append(potential_energy(sim.context) / args.n)

        # one energy read per frame (for the energy check) is charged to MD: under 1 % of a frame's steps
        run = DecorrelationRun(advance, lambda: get_positions(sim.context), ka.types, ka.density, max_wall_s=args.max_wall).run()
        md_runs.append(run)
        md_energy.extend(energies)
        t_is, _ = is_decorrelation_wall(run.frames[:: args.is_every], run.wall_per_frame * args.is_every, ka)
        md_is.append(t_is)
        tau = None if run.crossing_frames is None else run.crossing_frames * frame_steps * DT
        print(f"T_min={t_min}: MD replica {r}: Q decorrelates in "
              + (f"{run.decorrelation_wall_s:.3g} s ({tau:.3g} tau)" if tau else f"> {run.bound_wall_s:.3g} s (bound)")
              + (f", IS energy (with a round trip) in {t_is:.3g} s" if t_is else ", IS energy: not within the run"), flush=True)

    # ---- parallel tempering runs, every replica in this process
    ladder = geometric_ladder(t_min, args.tmax, args.replicas)
    if args.tune:
        probe = ka_tempering(_with(ka, x_start), ladder, md_steps=args.md_steps, platform="CPU", threads=1,
                             seed=args.seed + 7, frame_every=0, progress=False)
        probe.run(args.tune)
        ladder = tune_ladder(ladder, np.nan_to_num(probe.acceptance(), nan=0.0))
        probe.close()
        print(f"T_min={t_min}: tuned ladder {np.round(ladder, 4).tolist()}", flush=True)
    rounds_per_frame = max(1, frame_steps // args.md_steps)
    pt_runs, pt_is, pt_energy, summaries = [], [], [], []
    for p in range(args.pt_runs):
        pt = ka_tempering(_with(ka, x_start), ladder, md_steps=args.md_steps, platform="CPU", threads=1,
                          seed=args.seed + 1000 * (p + 1), frame_every=0, progress=False)
        pt.run(args.burn_in)
        energies = []

        def advance():
            pt.run(pt.round + rounds_per_frame)
            energies.append(pt.energies[pt.assignment[0]] / args.n)

        def lowest():
            return pt.pool.call("get_state", [(() if r == pt.assignment[0] else None) for r in range(pt.n_replicas)])[pt.assignment[0]][0]

        rounds0, trips0, t0 = pt.round, int(pt.round_trips.sum()), time.perf_counter()
        run = DecorrelationRun(advance, lowest, ka.types, ka.density, max_wall_s=args.max_wall).run()
        # Q of the lowest rung drops as soon as another replica's configuration swaps in, even one
        # that has barely moved since it left: without a round trip (a replica from T_min to T_max,
        # where it relaxes, and back) that drop is shuffling, not decorrelation (at T_min = 0.45 Q
        # crossed within 13 s with no round trip). So PT counts as decorrelated at the later of Q's
        # crossing and its first complete round trip.
        while int(pt.round_trips.sum()) == trips0 and time.perf_counter() - t0 < args.max_wall:
            advance()
        t_trip = time.perf_counter() - t0 if int(pt.round_trips.sum()) > trips0 else None
        run.first_round_trip_wall_s = t_trip
        if run.decorrelation_wall_s is not None and t_trip is None:
            run.crossing_frames = None  # reported as a bound: no round trip within the wall limit
        elif run.decorrelation_wall_s is not None:
            run.crossing_frames = max(run.crossing_frames, t_trip / run.wall_per_frame)
        wall = time.perf_counter() - t0
        pt_runs.append(run)
        pt_energy.extend(energies)
        t_is, _ = is_decorrelation_wall(run.frames[:: args.is_every], run.wall_per_frame * args.is_every, ka)
        # the IS energy of the lowest rung changes by swaps just as Q does: the same round-trip rule
        t_is = None if t_is is None or t_trip is None else max(t_is, t_trip)
        pt_is.append(t_is)
        s = pt.summary()
        s["measured_rounds"], s["measured_wall_s"] = pt.round - rounds0, wall
        s["round_trips_measured"] = int(pt.round_trips.sum()) - trips0
        s["first_round_trip_wall_s"] = t_trip
        summaries.append(s)
        pt.close()
        print(f"T_min={t_min}: PT run {p} ({args.replicas} replicas, acceptance {np.round(s['acceptance'], 3).tolist()}): "
              + (f"first round trip after {t_trip:.3g} s; " if t_trip else "no round trip within the run; ")
              + "decorrelated (Q crossed and a round trip done) in "
              + (f"{run.decorrelation_wall_s:.3g} s" if run.decorrelation_wall_s else f"> {run.bound_wall_s:.3g} s (bound)")
              + (f", IS energy (with a round trip) in {t_is:.3g} s" if t_is else ", IS energy: not within the run")
              + f"; {s['round_trips_measured']} round trips in {wall:.0f} s; crystalline A at most {s['crystalline_A_max']:.2f}", flush=True)

    md_w = [r.decorrelation_wall_s for r in md_runs]
    pt_w = [r.decorrelation_wall_s for r in pt_runs]
    res = {"T_min": t_min, "n": args.n, "equilibration": eq.as_dict(), "ladder": ladder.tolist(),
           "md": [r.as_dict() for r in md_runs], "pt": [r.as_dict() for r in pt_runs], "pt_summaries": summaries,
           "md_is_wall_s": md_is, "pt_is_wall_s": pt_is}
    if all(w is not None for w in md_w + pt_w):
        res["speedup"], res["speedup_se"] = ratio_of_means(md_w, pt_w)
        res["speedup_bound"] = None
    else:
        res["speedup"] = res["speedup_se"] = None
        if all(w is not None for w in md_w):
            res["speedup_bound"] = {"kind": "upper", "value": float(np.mean(md_w) / np.mean([w if w is not None else r.bound_wall_s
                                                                                           for w, r in zip(pt_w, pt_runs)]))}
        elif all(w is not None for w in pt_w):
            res["speedup_bound"] = {"kind": "lower", "value": float(np.mean([w if w is not None else r.bound_wall_s
                                                                             for w, r in zip(md_w, md_runs)]) / np.mean(pt_w))}
        else:
            res["speedup_bound"] = None
    res["is_speedup"] = (float(np.mean(md_is) / np.mean(pt_is)) if all(v is not None for v in md_is + pt_is) else None)
    e_md, e_pt = np.array(md_energy), np.array(pt_energy)
    edges = np.linspace(min(e_md.min(), e_pt.min()), max(e_md.max(), e_pt.max()), 31)
    res["energy_check"] = {"md_mean": float(e_md.mean()), "md_sd": float(e_md.std()), "pt_mean": float(e_pt.mean()),
                           "pt_sd": float(e_pt.std()), "n_md": len(e_md), "n_pt": len(e_pt), "edges": edges.tolist(),
                           "md_hist": np.histogram(e_md, edges, density=True)[0].tolist(),
                           "pt_hist": np.histogram(e_pt, edges, density=True)[0].tolist()}
    res["acceptance"] = np.nanmean([s["acceptance"] for s in summaries], axis=0).tolist() if summaries else None
    hours = sum(s["measured_wall_s"] for s in summaries) / 3600.0
    res["round_trips_per_hour"] = sum(s["round_trips_measured"] for s in summaries) / hours if hours > 0 else None
    res["crystalline_A_max"] = max(s["crystalline_A_max"] for s in summaries) if summaries else None
    sp = res["speedup"]
    print(f"T_min={t_min}: speedup " + (f"{sp:.3g} +- {res['speedup_se']:.2g}" if sp is not None else f"bound {res['speedup_bound']}")
          + f"; <U>/N at T_min: MD {e_md.mean():.4f} (sd {e_md.std():.3f}), PT {e_pt.mean():.4f} (sd {e_pt.std():.3f})", flush=True)
    return res


def _with(ka, positions):
    ka.positions_reduced = np.asarray(positions, dtype=np.float64)
    return ka


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 2, figsize=(11, 3.8 * len(results)), squeeze=False)
    for (ax_q, ax_e), r in zip(axes, results):
        for kind, color in (("md", "C0"), ("pt", "C1")):
            for i, x in enumerate(r[kind]):
                ax_q.plot(np.asarray(x["lags"]) * x["wall_per_frame_s"], x["q"], color=color, lw=1,
                          label=("plain MD" if kind == "md" else f"PT, lowest rung ({len(r['ladder'])} replicas)") if i == 0 else None)
        ax_q.axhline(1 / math.e, color="k", lw=0.5)
        sp = r["speedup"]
        ax_q.set(xscale="log", xlabel="wall-clock lag (s), every replica charged", ylabel="drift-free Q of A, normalised",
                 title=f"T = {r['T_min']}, N = {r['n']}: " + (f"speedup {sp:.2f}" if sp is not None else "speedup: bound"))
        ax_q.legend(fontsize=7)
        ec = r["energy_check"]
        centres = 0.5 * (np.asarray(ec["edges"][1:]) + np.asarray(ec["edges"][:-1]))
        ax_e.plot(centres, ec["md_hist"], "o-", label=f"plain MD ({ec['n_md']} frames)")
        ax_e.plot(centres, ec["pt_hist"], "s--", label=f"PT lowest rung ({ec['n_pt']} frames)")
        ax_e.legend(fontsize=7)
        ax_e.set(xlabel=r"$U/N$ at $T_{min}$ ($\epsilon_{AA}$)", ylabel="density",
                 title=f"MD {ec['md_mean']:.4f} vs PT {ec['pt_mean']:.4f}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _clean(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tmins", type=float, nargs="+", default=[0.45], help="lowest temperatures (reduced)")
    p.add_argument("--tmax", type=float, default=0.8)
    p.add_argument("-n", type=int, default=256)
    p.add_argument("--replicas", type=int, default=8)
    p.add_argument("--tune", type=int, default=200, help="rounds of a first PT run that respaces the ladder (0: geometric)")
    p.add_argument("--md-steps", type=int, default=100, help="MD steps per replica between exchanges")
    p.add_argument("--burn-in", type=int, default=500, help="PT rounds before measuring (not charged)")
    p.add_argument("--frame-tau", type=float, default=2.0, help="MD time (per replica) between frames (tau)")
    p.add_argument("--md-replicas", type=int, default=3)
    p.add_argument("--pt-runs", type=int, default=2)
    p.add_argument("--is-every", type=int, default=4, help="quench every this many frames for the IS energy")
    p.add_argument("--n-tau-alpha", type=float, default=10.0)
    p.add_argument("--max-equilibration-tau", type=float, default=60000.0)
    p.add_argument("--max-wall", type=float, default=5400.0, help="wall limit of one run (s); beyond it only a bound")
    p.add_argument("--quick", action="store_true", help="N = 256, T_min = 0.6, 4 replicas to 0.8: about 10 minutes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/tempering_speedup")
    args = p.parse_args(argv)
    if args.quick:
        args.tmins, args.replicas, args.tune, args.burn_in, args.md_replicas, args.pt_runs = [0.6], 4, 60, 100, 2, 1
        args.frame_tau, args.max_wall, args.is_every = 1.0, 240.0, 2
    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for t in args.tmins:
        results.append(run_tmin(t, args))
        (out / "results.json").write_text(json.dumps(_clean(results), indent=1))
    plot(_clean(results), out / "tempering_speedup.png")
    summary = {
        "speedup": {str(r["T_min"]): r["speedup"] for r in results},
        "speedup_se": {str(r["T_min"]): r["speedup_se"] for r in results},
        "speedup_bound": {str(r["T_min"]): r["speedup_bound"] for r in results},
        "is_speedup": {str(r["T_min"]): r["is_speedup"] for r in results},
        "acceptance": {str(r["T_min"]): r["acceptance"] for r in results},
        "round_trips_per_hour": {str(r["T_min"]): r["round_trips_per_hour"] for r in results},
        "ladder": {str(r["T_min"]): r["ladder"] for r in results},
        "energy_check": {str(r["T_min"]): {k: r["energy_check"][k] for k in ("md_mean", "pt_mean", "md_sd", "pt_sd")} for r in results},
        "equilibration_n_tau_alpha": {str(r["T_min"]): r["equilibration"]["n_tau_alpha"] for r in results},
        "crystalline_A_max": {str(r["T_min"]): r["crystalline_A_max"] for r in results},
        "replicas": args.replicas, "n": args.n, "md_steps": args.md_steps, "quick": args.quick,
    }
    print(json.dumps(_clean(summary)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
