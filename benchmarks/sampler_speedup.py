"""Does the collective-jump NCMC sampler relax a KA liquid faster than plain MD, per wall-clock second?

For each temperature (N >= 500, density 1.2, CPU platform, this machine's cores):

1. melt at T = 2, then equilibrate at T for ``--equilibrate`` tau_alpha-scale times;
2. **plain MD**: Langevin from the equilibrated state, frames every ``frame_steps`` with their
   wall-clock times, until the self-overlap Q (a = 0.3, normalised by its random value) has
   fallen below 1/e, plus margin: tau_alpha (in tau) and its wall-clock time; the inherent-
   structure energy's autocorrelation time from FIRE quenches of the same frames;
3. **move sizes**: region flows (k members, zuko coupling NSF) trained on that MD's own region
   displacements at several lags (fractions of tau_alpha); each is probed with NCMC protocols of
   several lengths (0 = plain Metropolis-Hastings): acceptance, total work, wall time per attempt;
4. **sampler**: the configuration that moved most member distance^2 per wall-second in the probes
   runs from the same state (MD segments plus region NCMC moves) for ``--budget`` x MD's
   decorrelation wall time; its Q and IS energy are measured the same way.

MD and the sampler each run ``--replicas`` times from the equilibrated configuration with fresh
velocities (the same set for both), because one N = 500 trajectory's crossing scatters widely.
speedup = mean MD wall time to decorrelate / mean sampler wall time to decorrelate (Q-based; "< x" when
the sampler did not decorrelate within its budget, as an upper bound). The last line printed
is one JSON object: ``speedup`` (dict keyed by T), ``acceptance`` (per T, move size and
protocol), ``cost_split`` (per T, the sampler's wall-time fractions) and the tau_alpha measured.
``--quick`` runs T = 0.6 only, in under 10 minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

import glassmm
from glassmm.analysis.decorrelation import autocorrelation, crossing_time, overlap_vs_lag, random_overlap
from glassmm.sampling import GenerativeSampler, JumpCheck
from glassmm.sampling.harmonic import HarmonicRegionProposal
from glassmm.sampling.ncmc import NCMCProtocol, RegionNCMCMove
from glassmm.sampling.region_flow import RegionFlowModel
from glassmm.sampling.regions import LatticeCentres, RegionSelector
from glassmm.sampling.training import collect_jump_pairs, region_training_table
from glassmm.simulation import create_simulation, get_positions, set_temperature, set_velocities

DT = 0.005
# equilibration (tau) and the longest MD measurement (tau) per temperature: several tau_alpha
# from the literature's order of magnitude for KA at density 1.2 (tau_alpha ~ 1e1 at 0.8... 1e3 at 0.5)
# (0.5: an 800 tau window put the crossing inside the first 20 tau frame, so 150 tau)
PLAN = {0.8: (30.0, 40.0), 0.6: (150.0, 100.0), 0.5: (600.0, 150.0)}


def trace(advance, n_frames: int, x_of) -> tuple[np.ndarray, np.ndarray]:
    """Frames and their cumulative wall-clock times (s) after each ``advance()``."""
    frames, walls = [x_of()], [0.0]
    t0 = time.perf_counter()
    for _ in range(n_frames):
        advance()
        walls.append(time.perf_counter() - t0)
        frames.append(x_of())
    return np.stack(frames), np.array(walls)


def q_normalised(frames: np.ndarray, density: float) -> np.ndarray:
    q0 = random_overlap(frames.shape[1], density)
    return (overlap_vs_lag(frames, max_lag=len(frames) // 2) - q0) / (1 - q0)


def is_energies(frames: np.ndarray, types: np.ndarray, box: np.ndarray) -> np.ndarray:
    from glassmm.minimize import fire_minimize
    from glassmm.simulation import evaluate

    out = []
    for x in frames:
        y = fire_minimize(x, types, box, force_tolerance=1e-2, platform="CPU").positions
        out.append(evaluate(y, types, box)[0] / len(types))
    return np.array(out)


MIN_FRAMES_BEFORE_CROSSING = 2  # a 1/e crossing inside the first frames is an interpolation, not a measurement


def resolved_crossing(lags: np.ndarray, values: np.ndarray) -> float:
    """The 1/e crossing lag, or NaN when it falls within the first MIN_FRAMES_BEFORE_CROSSING frames (unresolved)."""
    t = crossing_time(lags, values)
    if math.isfinite(t) and t < lags[min(MIN_FRAMES_BEFORE_CROSSING, len(lags) - 1)]:
        return math.nan
    return t


def decorrelation(frames, walls, ka, with_is: bool) -> dict:
    q = q_normalised(frames, ka.density)
    mean_dt = walls[-1] / (len(walls) - 1)
    lags_s = np.arange(len(q)) * mean_dt
    res = {"q_wall_s": resolved_crossing(lags_s, q), "q": q.tolist(), "frame_wall_s": mean_dt}
    if with_is:
        e = is_energies(frames, ka.types, ka.box)
        c = autocorrelation(e, max_lag=len(e) // 2)
        res.update(is_wall_s=resolved_crossing(np.arange(len(c)) * mean_dt, c), is_energy=e.tolist())
    return res


def probe_mh(sim, start, model, ka, sel, centres, T: float, attempts: int, seed: int) -> dict:
    """Plain-MH region moves of ``model`` from ``start`` (no MD): acceptance, work, densities, wall time per attempt.

    10 attempts per cycle, so the cycle's one energy evaluation is shared as after an MD segment;
    the first cycle (set-up) is not timed.
    """
    sim.context.setState(start)
    move = RegionNCMCMove(model, ka.types, ka.box, selector=sel, centres=centres, protocol=NCMCProtocol(steps=0))
    s = GenerativeSampler(sim, move, T, md_steps=0, proposals_per_cycle=10, check=JumpCheck(steps=0), seed=seed, progress=False)
    s.run(1)
    t0 = time.perf_counter()
    s.run(1 + max(1, attempts // 10))
    recs = s.records[10:]
    wall = (time.perf_counter() - t0) / len(recs)
    w = np.array([r["work_kT"] for r in recs])
    return {"attempts": len(recs), "acceptance": float(np.mean([r["accepted"] for r in recs])),
            "median_work_kT": float(np.median(w)), "min_work_kT": float(w.min()),
            "median_log_q_ratio": float(np.median([r["log_q_reverse"] - r["log_q_forward"] for r in recs])),
            "median_log_region_ratio": float(np.median([r["log_region_reverse"] - r["log_region_forward"] for r in recs])),
            "median_log_alpha": float(np.median([r["log_alpha"] for r in recs])),
            "median_max_displacement": float(np.median([r["max_displacement"] for r in recs])),
            "rms_displacement": float(np.sqrt(np.mean([r["rms_displacement"] ** 2 for r in recs]))),
            "wall_s_per_attempt": wall}


def run_temperature(T: float, args) -> dict:
    equil_tau, max_tau = PLAN.get(T, (300.0, 600.0))
    if args.quick:
        equil_tau, max_tau = equil_tau * 0.6, max_tau * 0.5
    ka = glassmm.KobAndersen(args.n, positions="random", seed=args.seed)
    sim = create_simulation(ka, "langevin", temperature=2.0, seed=args.seed, platform="CPU")
    sim.step(2000)
    set_temperature(sim, T)
    t0 = time.perf_counter()
    sim.step(int(equil_tau / DT))
    print(f"T={T}: equilibrated {equil_tau:g} tau in {time.perf_counter() - t0:.0f} s", flush=True)
    start = sim.context.getState(positions=True, velocities=True)

    # ---- plain MD: replicas from the same configuration with fresh velocities (one N = 500
    # trajectory's Q crossing scatters by tens of per cent; one pair of runs once gave 1.6 from noise)
    frame_steps = max(20, int(max_tau / DT / args.frames))
    masses = np.array([glassmm.units.mass_from_openmm(sim.system.getParticleMass(i)) for i in range(args.n)])
    kicks = [np.random.default_rng(args.seed + 1000 + r).normal(size=(args.n, 3)) * np.sqrt(T / masses)[:, None]
             for r in range(args.replicas)]
    md_reps = []
    for r in range(args.replicas):
        sim.context.setState(start)
        set_velocities(sim.context, kicks[r])
        frames, walls = trace(lambda: sim.step(frame_steps), args.frames, lambda: get_positions(sim.context))
        rep = decorrelation(frames, walls, ka, with_is=(r == 0))
        rep["tau_alpha"] = resolved_crossing(np.arange(len(rep["q"])) * frame_steps * DT, np.array(rep["q"]))
        md_reps.append(rep)
    md = dict(md_reps[0])
    q_walls = [m["q_wall_s"] for m in md_reps]
    md["q_wall_s"] = float(np.mean(q_walls))
    md["frame_wall_s"] = float(np.mean([m["frame_wall_s"] for m in md_reps]))
    md["q_wall_s_replicas"] = q_walls
    md["tau_alpha_replicas"] = [m["tau_alpha"] for m in md_reps]
    tau_alpha = float(np.mean(md["tau_alpha_replicas"]))
    md["tau_alpha"] = tau_alpha
    print(f"T={T}: MD tau_alpha(Q) = {tau_alpha:.3g} tau (replicas {', '.join(f'{t:.3g}' for t in md['tau_alpha_replicas'])}), "
          f"Q decorrelates in {md['q_wall_s']:.3g} s, IS energy in {md.get('is_wall_s', math.nan):.3g} s", flush=True)

    # ---- move sizes: flows trained on this MD's region displacements
    sel = RegionSelector(args.k, width=0.9, shell_radius=2.0, ramp=0.4, box=ka.box)
    centres = LatticeCentres(ka.box, 2 * sel.zone_radius + glassmm.systems.KA_MAX_CUTOFF + 0.5)
    ta = tau_alpha if np.isfinite(tau_alpha) else max_tau
    probes, best = [], None
    for frac in args.lags:
        lag_steps = max(4, int(round(frac * ta / DT / 4)) * 4)
        pairs = collect_jump_pairs(sim, ka.types, ka.box, lag_steps, args.pairs, stride_steps=lag_steps // 4, progress=False)
        rng = np.random.default_rng(args.seed)
        tabs = [region_training_table(pairs, sel, centres, rng) for _ in range(args.regions_per_frame)]
        C, D = torch.cat([a for a, _ in tabs]), torch.cat([b for _, b in tabs])
        torch.manual_seed(args.seed)
        rms = float(D.pow(2).sum(-1).mean().sqrt())
        model = RegionFlowModel(args.k, bound=min(2.0, 0.45 * float(ka.box.min())), hidden=64, transforms=3)
        t0 = time.perf_counter()
        hist = model.fit(C, D, epochs=args.epochs, lr=2e-3)
        fit_s = time.perf_counter() - t0
        for steps, lmin in [(n, lm) for n in args.protocols for lm in (args.lambda_min if n else [1.0])]:
            sim.context.setState(start)
            move = RegionNCMCMove(model, ka.types, ka.box, selector=sel, centres=centres,
                                  protocol=NCMCProtocol(steps=steps, lambda_min=lmin))
            s = GenerativeSampler(sim, move, T, md_steps=0, proposals_per_cycle=1, check=JumpCheck(steps=0),
                                  seed=args.seed, progress=False)
            t0 = time.perf_counter()
            s.run(args.probe_attempts)
            wall = (time.perf_counter() - t0) / args.probe_attempts
            recs = s.records
            acc = float(np.mean([r["accepted"] for r in recs]))
            w = np.array([r["work_kT"] for r in recs])
            gain = acc * args.k * rms**2 * len(recs) / args.probe_attempts / wall  # member distance^2 per second
            p = {"proposal": "flow", "lag_tau": lag_steps * DT, "lag_over_tau_alpha": frac, "rms_displacement": rms, "protocol_steps": steps,
                 "lambda_min": lmin, "median_log_region_ratio": float(np.median([r["log_region_reverse"] - r["log_region_forward"] for r in recs])),
                 "attempts": len(recs), "acceptance": acc, "median_work_kT": float(np.median(w)),
                 "min_work_kT": float(w.min()), "median_log_q_ratio": float(np.median([r["log_q_reverse"] - r["log_q_forward"] for r in recs])),
                 "wall_s_per_attempt": wall, "fit_s": fit_s, "validation_nll": min(hist["validation"]),
                 "distance2_per_s": gain}
            probes.append(p)
            print(f"T={T}: lag {p['lag_tau']:.3g} tau (rms {rms:.2f}) protocol {steps} to lambda {lmin:g}: acceptance {acc:.3f} "
                  f"({len(recs)} regions), median work {p['median_work_kT']:.1f} kT, min {p['min_work_kT']:.1f}, "
                  f"median log q ratio {p['median_log_q_ratio']:.1f}, {wall * 1e3:.0f} ms/attempt", flush=True)
            if best is None or gain > best[0] or (gain == best[0] and p["min_work_kT"] < best[1]["min_work_kT"]):
                best = (gain, p, model)
    for rho in args.harmonic_rho:  # no training: jumps from the members' local harmonic model, plain MH
        model = HarmonicRegionProposal(args.k, T, rho=rho)
        p = probe_mh(sim, start, model, ka, sel, centres, T, args.probe_attempts, args.seed)
        rms, acc, wall = p["rms_displacement"], p["acceptance"], p["wall_s_per_attempt"]
        gain = acc * args.k * rms**2 / wall
        p.update(proposal="harmonic", rho=rho, lag_tau=None, lag_over_tau_alpha=None, protocol_steps=0, lambda_min=1.0,
                 distance2_per_s=gain)
        probes.append(p)
        print(f"T={T}: harmonic proposal rho={rho} (rms {rms:.3f}): acceptance {acc:.3f} ({p['attempts']} regions), median work "
              f"{p['median_work_kT']:.1f} kT, {wall * 1e3:.1f} ms/attempt", flush=True)
        if best is None or gain > best[0]:
            best = (gain, p, model)
    _, bp, bmodel = best

    # ---- the sampler with the best move: replicas from the same state and the MD replicas' velocities
    budget = args.budget * (md["q_wall_s"] if np.isfinite(md["q_wall_s"]) else walls[-1])
    # frames twice as dense in simulated time as MD's, so the sampler's own crossing is resolved
    per_frame = max(1, int(round(frame_steps / args.md_steps / 2)))
    est = max(1, int(budget / max(1e-9, bp["wall_s_per_attempt"] * args.proposals_per_cycle * per_frame
                                  + md["frame_wall_s"] * args.md_steps * per_frame / frame_steps)))
    n_frames = max(4 * MIN_FRAMES_BEFORE_CROSSING, min(4 * args.frames, est))
    s_reps, summs = [], []
    for r in range(args.replicas):
        sim.context.setState(start)
        set_velocities(sim.context, kicks[r])
        move = RegionNCMCMove(bmodel, ka.types, ka.box, selector=sel, centres=centres,
                              protocol=NCMCProtocol(steps=bp["protocol_steps"], lambda_min=bp["lambda_min"]))
        sampler = GenerativeSampler(sim, move, T, md_steps=args.md_steps, proposals_per_cycle=args.proposals_per_cycle,
                                    check=JumpCheck(steps=0), seed=args.seed + r, progress=False)
        sframes, swalls = trace(lambda: sampler.run(sampler.cycle + per_frame), n_frames, lambda: get_positions(sim.context))
        # quench the sampler's frames only when its Q decorrelated (first replica): otherwise no IS time to compare
        rep = decorrelation(sframes, swalls, ka, with_is=False)
        if r == 0 and math.isfinite(rep["q_wall_s"]):
            rep = decorrelation(sframes, swalls, ka, with_is=True)
        rep["wall_s"] = float(swalls[-1])
        s_reps.append(rep)
        summs.append(sampler.summary())
    samp = dict(s_reps[0])
    s_walls = [x["q_wall_s"] for x in s_reps]
    samp["q_wall_s"] = float(np.mean(s_walls)) if all(math.isfinite(v) for v in s_walls) else (
        math.nan if any(math.isnan(v) for v in s_walls) else math.inf)
    summ = summs[0]
    summ["acceptance_rate"] = float(np.mean([x["acceptance_rate"] for x in summs]))
    summ["attempts"] = int(sum(x["attempts"] for x in summs))
    timers = summ["timers_s"]
    total = sum(timers.values())
    split = {k: v / total for k, v in timers.items()} if total else {}
    md_q, s_q = md["q_wall_s"], samp["q_wall_s"]
    if math.isnan(md_q) or math.isnan(s_q):  # a crossing inside the first frames: no number to claim
        speedup, bound = None, None
    elif math.isfinite(s_q) and s_q > 0:
        speedup = md_q / s_q
        bound = None
    else:
        speedup = None
        # a replica that did not decorrelate would have needed more than its whole run
        bound = md_q / float(np.mean([x["q_wall_s"] if math.isfinite(x["q_wall_s"]) else x["wall_s"] for x in s_reps]))
    # the IS-energy autocorrelation of a chain that has not decorrelated its Q is noise around a
    # barely moving value: compare IS times only where both chains decorrelated Q
    is_speedup = (md["is_wall_s"] / samp["is_wall_s"]) if (speedup is not None and np.isfinite(md["is_wall_s"])
                                                             and 0 < samp.get("is_wall_s", math.inf) < math.inf) else None
    what = f"harmonic rho={bp['rho']}" if bp["proposal"] == "harmonic" else f"{bp['lag_tau']:.3g} tau flow jumps"
    print(f"T={T}: sampler ({what}, protocol {bp['protocol_steps']}) acceptance "
          f"{summ['acceptance_rate']:.3f} over {summ['attempts']} regions; Q decorrelates in {s_q:.3g} s vs MD {md_q:.3g} s", flush=True)
    return {"T": T, "n": args.n, "tau_alpha": tau_alpha, "md": {k: v for k, v in md.items() if k not in ("q", "is_energy")},
            "probes": probes, "best": bp, "sampler": {"q_wall_s": s_q, "is_wall_s": samp.get("is_wall_s"), "wall_s": s_reps[0]["wall_s"],
                                                     "q_wall_s_replicas": s_walls, "run_wall_s_replicas": [x["wall_s"] for x in s_reps],
                                                     "acceptance": summ["acceptance_rate"],
                                                     "attempts": summ["attempts"]},
            "speedup_replicas": [a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else None for a, b in zip(q_walls, s_walls)],
            "speedup": speedup, "speedup_upper_bound": bound, "is_speedup": is_speedup, "cost_split": split,
            "curves": {"md_q": md["q"], "md_frame_wall_s": md["frame_wall_s"], "sampler_q": samp["q"], "sampler_frame_wall_s": samp["frame_wall_s"]}}


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for r in results:
        c = r["curves"]
        axes[0].plot(np.arange(len(c["md_q"])) * c["md_frame_wall_s"], c["md_q"], "-", label=f"MD T={r['T']}")
        axes[0].plot(np.arange(len(c["sampler_q"])) * c["sampler_frame_wall_s"], c["sampler_q"], "--", label=f"sampler T={r['T']}")
        def key_of(p):
            return (p.get("proposal", "flow"), p["protocol_steps"], p["lambda_min"])

        for key in sorted({key_of(p) for p in r["probes"]}):
            ps = [p for p in r["probes"] if key_of(p) == key]
            axes[1].plot([p["rms_displacement"] for p in ps], [p["median_work_kT"] for p in ps], "o-" if key[0] == "flow" else "s--",
                         label=f"T={r['T']}, {key[0]}, {key[1]} steps" + (f" to lambda {key[2]:g}" if key[1] else " (MH)"))
            for p in ps:
                if p["acceptance"] > 0:
                    axes[1].annotate(f"{p['acceptance']:.2f}", (p["rms_displacement"], p["median_work_kT"]), fontsize=7)
    axes[0].axhline(1 / math.e, color="k", lw=0.5)
    axes[0].set(xscale="log", xlabel="wall-clock lag (s)", ylabel="normalised Q", title="decorrelation per wall second")
    axes[1].axhline(1.0, color="k", lw=0.5)
    axes[1].set(yscale="log", xlabel="rms member displacement of the move (sigma)", ylabel="median total work (kT)",
                title="region moves (k members): work per move size\n(numbers: acceptance where > 0)")
    for a in axes:
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _clean(obj):
    """NaN and infinity (unresolved, never crossed) as null: the output stays valid JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _label(p: dict) -> str:
    if p.get("proposal") == "harmonic":
        return f"rms={p['rms_displacement']:.2f},harmonic_rho={p['rho']:g},mh"
    return f"rms={p['rms_displacement']:.2f},lag={p['lag_tau']:.3g}tau,ncmc={p['protocol_steps']},lambda_min={p['lambda_min']:g}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--temperatures", type=float, nargs="+", default=[0.8, 0.6, 0.5])
    p.add_argument("--quick", action="store_true", help="T = 0.6 only, shorter runs (under 10 minutes)")
    p.add_argument("-n", type=int, default=500)
    p.add_argument("-k", type=int, default=8, help="particles per region")
    p.add_argument("--lags", type=float, nargs="*", default=[0.005, 0.03, 0.2, 1.0],
                   help="jump lags (fractions of tau_alpha) of the region flows probed; none: no flows")
    p.add_argument("--harmonic-rho", type=float, nargs="*", default=[0.8, 0.95], help="harmonic region proposals probed (plain MH)")
    p.add_argument("--proposals-per-cycle", type=int, default=1, help="region attempts after each MD segment of the sampler")
    p.add_argument("--protocols", type=int, nargs="+", default=[0, 40, 200], help="NCMC steps per half")
    p.add_argument("--lambda-min", type=float, nargs="+", default=[0.0, 0.7], help="NCMC midpoint interaction strengths")
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--pairs", type=int, default=60)
    p.add_argument("--regions-per-frame", type=int, default=40)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--probe-attempts", type=int, default=30)
    p.add_argument("--md-steps", type=int, default=100, help="MD steps per sampler cycle")
    p.add_argument("--budget", type=float, default=2.0, help="sampler wall budget, in MD decorrelation times")
    p.add_argument("--replicas", type=int, default=3, help="MD and sampler runs per temperature (fresh velocities each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/sampler_speedup")
    p.add_argument("--replot", help="only redraw the figure from this results.json")
    args = p.parse_args(argv)
    if args.replot:
        plot(json.loads(Path(args.replot).read_text()), Path(args.replot).with_name("sampler_speedup.png"))
        return 0
    if args.quick:
        args.temperatures = [0.6]
        args.frames, args.pairs, args.regions_per_frame, args.epochs, args.probe_attempts = 30, 40, 25, 25, 10
        args.protocols = [0, 100]
        args.lags = [0.01, 0.1, 0.5]
    if args.n < 500:
        p.error("the benchmark is defined for N >= 500")
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for T in args.temperatures:
        results.append(run_temperature(T, args))
        (out / "results.json").write_text(json.dumps(_clean(results), indent=1))
    plot(_clean(results), out / "sampler_speedup.png")
    summary = {
        "speedup": {str(r["T"]): r["speedup"] for r in results},
        "speedup_replicas": {str(r["T"]): r.get("speedup_replicas") for r in results},
        "md_q_wall_s_replicas": {str(r["T"]): r["md"].get("q_wall_s_replicas") for r in results},
        "sampler_q_wall_s_replicas": {str(r["T"]): r["sampler"].get("q_wall_s_replicas") for r in results},
        "sampler_run_wall_s_replicas": {str(r["T"]): r["sampler"].get("run_wall_s_replicas") for r in results},
        "speedup_upper_bound": {str(r["T"]): r["speedup_upper_bound"] for r in results},
        "is_speedup": {str(r["T"]): r["is_speedup"] for r in results},
        "tau_alpha": {str(r["T"]): r["tau_alpha"] for r in results},
        "acceptance": {str(r["T"]): {_label(p): p["acceptance"] for p in r["probes"]} for r in results},
        "median_work_kT": {str(r["T"]): {_label(p): p["median_work_kT"] for p in r["probes"]} for r in results},
        "best": {str(r["T"]): {k: r["best"].get(k) for k in ("proposal", "rho", "lag_tau", "protocol_steps", "lambda_min", "acceptance")}
                 for r in results},
        "cost_split": {str(r["T"]): r["cost_split"] for r in results},
        "n": args.n, "k": args.k, "quick": args.quick,
    }
    print(json.dumps(_clean(summary)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
