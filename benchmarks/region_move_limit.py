"""How fast could region moves with frozen surroundings relax a KA liquid, with a perfect proposal?

The sampler's region jumps move k members while everything else stays put. The best
Metropolis-Hastings proposal of that kind draws the members from their conditional Boltzmann
distribution given the surroundings; masked MD of the members alone samples that distribution
(``glassmm.sampling.training.frozen_surroundings_chain``), and a proposal fitted exactly to
that kernel would be accepted every time. So a chain of such blocks *is* the sampler with a
perfect proposal, and the number of blocks it needs to relax the liquid bounds what any
proposal of this family can do. For each temperature (N = 500, density 1.2, CPU, in one run):

1. equilibrate as ``sampler_speedup.py`` does; plain MD: Q(t) decorrelation (a = 0.3,
   normalised, 1/e) in tau and in wall seconds;
2. frozen-surroundings plateau: members' rms displacement after 25, 100 and 400 masked steps;
   cavities: balls of 8, 32, 64, 128 particles free for up to 10 tau, everything else frozen -- the fraction
   that gets farther than a = 0.3 from its start is what even a perfect proposal of the family
   (one that also crosses barriers inside the region) can relax per move, because that fraction
   is a property of the members' conditional Boltzmann distribution (point-to-set physics);
3. the block chain (``--block-steps`` per block) until its Q decorrelates or ``--chain-wall``
   runs out: blocks to decorrelate, n_b;
4. the region flow fitted to the chain's own pairs, and one fitted to MD displacements over the
   same time (the previous training), both probed as plain MH region moves from the
   equilibrated state: acceptance, median work, wall time per attempt c;
5. ideal speedup = MD wall time to decorrelate / (n_b x c) -- every attempt accepted and as good
   as a block -- and the same at the cost floor of one energy evaluation per attempt; the
   acceptance-weighted estimate divides the cost by the measured acceptance.

The last line printed is one JSON object keyed by temperature. ``--quick``: T = 0.6 only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import glassmm  # noqa: E402
import sampler_speedup as sp  # noqa: E402  (same equilibration, Q and crossing rules)
from glassmm.sampling.harmonic import HarmonicRegionProposal  # noqa: E402
from glassmm.sampling.ncmc import NCMCProtocol  # noqa: E402
from glassmm.sampling.region_flow import RegionFlowModel  # noqa: E402
from glassmm.sampling.regions import LatticeCentres, RegionSelector  # noqa: E402
from glassmm.sampling.training import collect_jump_pairs, frozen_surroundings_chain, region_training_table  # noqa: E402
from glassmm.simulation import create_simulation, get_positions, potential_energy, set_temperature  # noqa: E402

DT = sp.DT


def single_origin_q(frames: np.ndarray, density: float) -> np.ndarray:
    """Normalised Q between the first frame and each later one."""
    from glassmm.analysis.decorrelation import random_overlap

    q0 = random_overlap(frames.shape[1], density)
    d = np.sqrt(((frames - frames[0]) ** 2).sum(-1))
    return ((d < 0.3).mean(-1) - q0) / (1 - q0)


def cavity_probe(sim, start, ka, T: float, k: int, n_regions: int, checkpoints: list[int], seed: int) -> dict:
    """k members free, everything else frozen, from the equilibrated start: at each checkpoint (steps),
    the fraction of members farther than a = 0.3 from where they began (1 - the cavity's self-overlap)
    and their rms displacement. Long masked MD samples the members' conditional distribution, the
    target of a perfect frozen-surroundings proposal."""
    import openmm

    from glassmm import units
    from glassmm.sampling.ncmc import ncmc_integrator
    from glassmm.simulation import set_velocities

    integ = ncmc_integrator(T, NCMCProtocol(steps=0, dt=DT), seed)
    ctx = openmm.Context(sim.system, integ, openmm.Platform.getPlatformByName("CPU"))
    ctx.setPeriodicBoxVectors(*start.getPeriodicBoxVectors())
    x0 = units.positions_from_openmm(start.getPositions(asNumpy=True))
    # a compact ball of k particles on average (point-to-set geometry), not the sampler's fuzzy
    # k-tuples: no frozen particle inside, so this is the most a region of this size can do
    radius = (3 * k / (4 * math.pi * ka.density)) ** (1 / 3)
    rng = np.random.default_rng(seed)
    beyond, msd = np.zeros(len(checkpoints)), np.zeros(len(checkpoints))
    sizes = []
    for _ in range(n_regions):
        c = rng.uniform(size=3) * ka.box
        dc = glassmm.geometry.minimum_image(x0 - c, ka.box)
        members = np.flatnonzero((dc * dc).sum(1) < radius**2)
        sizes.append(len(members))
        free = np.zeros(len(x0), dtype=bool)
        free[members] = True
        ctx.setPositions(units.length_to_openmm(x0))
        integ.setPerDofVariableByName("mask", [openmm.Vec3(1.0, 1.0, 1.0) if f else openmm.Vec3(0.0, 0.0, 0.0) for f in free])
        set_velocities(ctx, rng.normal(size=x0.shape) * np.sqrt(T) * free[:, None])
        done = 0
        for j, s in enumerate(checkpoints):
            integ.step(s - done)
            done = s
            r2 = ((get_positions(ctx)[members] - x0[members]) ** 2).sum(-1)
            beyond[j] += (r2 > 0.09).mean() / n_regions
            msd[j] += r2.mean() / n_regions
    return {"steps": checkpoints, "fraction_beyond_0.3": beyond.tolist(), "rms": np.sqrt(msd).tolist(), "regions": n_regions,
            "radius": radius, "mean_members": float(np.mean(sizes))}


def fit_flow(C, D, k, box, epochs, seed) -> tuple[RegionFlowModel, float]:
    torch.manual_seed(seed)
    model = RegionFlowModel(k, bound=min(2.0, 0.45 * float(box.min())), hidden=64, transforms=3)
    hist = model.fit(C, D, epochs=epochs, lr=2e-3)
    return model, min(hist["validation"])


def run_temperature(T: float, args) -> dict:
    equil_tau, max_tau = sp.PLAN.get(T, (300.0, 600.0))
    if args.quick:
        equil_tau, max_tau = equil_tau * 0.6, max_tau * 0.5
    ka = glassmm.KobAndersen(args.n, positions="random", seed=args.seed)
    sim = create_simulation(ka, "langevin", temperature=2.0, seed=args.seed, platform="CPU")
    sim.step(2000)
    set_temperature(sim, T)
    sim.step(int(equil_tau / DT))
    start = sim.context.getState(positions=True, velocities=True)

    # ---- plain MD
    frame_steps = max(20, int(max_tau / DT / args.frames))
    frames, walls = sp.trace(lambda: sim.step(frame_steps), args.frames, lambda: get_positions(sim.context))
    q = sp.q_normalised(frames, ka.density)
    md_q_wall = sp.resolved_crossing(np.arange(len(q)) * walls[-1] / args.frames, q)
    tau_alpha = sp.resolved_crossing(np.arange(len(q)) * frame_steps * DT, q)
    md_step_s = walls[-1] / (args.frames * frame_steps)
    t0 = time.perf_counter()
    for _ in range(10):
        potential_energy(sim.context)
    energy_s = (time.perf_counter() - t0) / 10
    print(f"T={T}: MD tau_alpha(Q) {tau_alpha:.3g} tau, decorrelates in {md_q_wall:.3g} s "
          f"({md_step_s * 1e3:.2f} ms/step, energy evaluation {energy_s * 1e3:.2f} ms)", flush=True)

    sel = RegionSelector(args.k, width=0.9, shell_radius=2.0, ramp=0.4, box=ka.box)
    centres = LatticeCentres(ka.box, 2 * sel.zone_radius + glassmm.systems.KA_MAX_CUTOFF + 0.5)

    # ---- the frozen-surroundings plateau
    sim.context.setState(start)
    plateau = {}
    for steps in (25, 100, 400):
        out = frozen_surroundings_chain(sim, ka.types, ka.box, sel, centres, T, args.plateau_blocks, steps,
                                        seed=args.seed + steps, progress=False)
        d = out["displacements"]
        r = d.pow(2).sum(-1).sqrt()
        plateau[str(steps)] = {"rms": float(d.pow(2).sum(-1).mean().sqrt()), "fraction_beyond_0.3": float((r > 0.3).double().mean())}
    print(f"T={T}: frozen-surroundings member rms after 25/100/400 steps: "
          + ", ".join(f"{v['rms']:.3f}" for v in plateau.values()), flush=True)

    # ---- cavities: how far can k members get, everything else frozen (the best any such proposal can reach)
    cavity = {}
    for k in args.cavity_k:
        cavity[str(k)] = cavity_probe(sim, start, ka, T, k, args.cavity_regions, args.cavity_steps, args.seed + k)
        cv = cavity[str(k)]
        print(f"T={T}: cavity k={k}: fraction of members beyond 0.3 after " + ", ".join(
            f"{s * DT:g} tau {f:.3f}" for s, f in zip(cv["steps"], cv["fraction_beyond_0.3"])), flush=True)

    # ---- the block chain: the sampler with a perfect frozen-surroundings proposal
    state = {"first": None}

    def stop(fr: np.ndarray) -> bool:
        qs = single_origin_q(fr, ka.density)
        if state["first"] is None and qs[-1] < 1 / math.e:
            state["first"] = len(fr) - 1
        return state["first"] is not None and len(fr) - 1 >= 2 * state["first"] + 4

    chain = frozen_surroundings_chain(sim, ka.types, ka.box, sel, centres, T, args.max_blocks, args.block_steps,
                                      seed=args.seed, frame_every=args.frame_every, stop=stop, max_wall_s=args.chain_wall,
                                      progress=False)
    cq = sp.q_normalised(chain["frames"], ka.density)
    n_b = sp.resolved_crossing(np.arange(len(cq)) * args.frame_every, cq)
    blocks_run = chain["blocks"]
    d = chain["displacements"]
    print(f"T={T}: block chain ran {blocks_run} blocks ({chain['block_wall_s'] * 1e3:.0f} ms each), "
          f"member rms {float(d.pow(2).sum(-1).mean().sqrt()):.3f}; its Q decorrelates after "
          f"{n_b:.4g} blocks" + ("" if math.isfinite(n_b) else f" (not within {blocks_run})"), flush=True)

    # ---- proposals: fitted to the chain's kernel vs to MD displacements over the same time
    model_f, nll_f = fit_flow(chain["contexts"], chain["displacements"], args.k, ka.box, args.epochs, args.seed)
    frozen = sp.probe_mh(sim, start, model_f, ka, sel, centres, T, args.probe_attempts, args.seed)
    frozen.update(validation_nll=nll_f, rms_displacement=float(d.pow(2).sum(-1).mean().sqrt()), pairs=len(d))
    sim.context.setState(start)
    pairs = collect_jump_pairs(sim, ka.types, ka.box, args.block_steps, args.md_pairs, stride_steps=args.block_steps // 4, progress=False)
    rng = np.random.default_rng(args.seed)
    tabs = [region_training_table(pairs, sel, centres, rng) for _ in range(args.md_regions_per_frame)]
    C, D = torch.cat([a for a, _ in tabs]), torch.cat([b for _, b in tabs])
    model_m, nll_m = fit_flow(C, D, args.k, ka.box, args.epochs, args.seed)
    md_trained = sp.probe_mh(sim, start, model_m, ka, sel, centres, T, args.probe_attempts, args.seed)
    md_trained.update(validation_nll=nll_m, rms_displacement=float(D.pow(2).sum(-1).mean().sqrt()), pairs=len(D))
    harmonic = {}
    for rho in args.harmonic_rho:
        h = sp.probe_mh(sim, start, HarmonicRegionProposal(args.k, T, rho=rho), ka, sel, centres, T, args.probe_attempts, args.seed)
        harmonic[str(rho)] = h
        print(f"T={T}: harmonic proposal rho={rho}: MH acceptance {h['acceptance']:.3f} of {h['attempts']}, median largest "
              f"member jump {h['median_max_displacement']:.3f}, median log alpha {h['median_log_alpha']:.1f}, "
              f"{h['wall_s_per_attempt'] * 1e3:.1f} ms/attempt", flush=True)
    for name, p in (("frozen-surroundings", frozen), ("MD-lag", md_trained)):
        print(f"T={T}: {name} flow (rms {p['rms_displacement']:.3f}): MH acceptance {p['acceptance']:.3f} of {p['attempts']}, "
              f"median work {p['median_work_kT']:.1f} kT, median log q ratio {p['median_log_q_ratio']:.2f}, "
              f"{p['wall_s_per_attempt'] * 1e3:.0f} ms/attempt", flush=True)

    # ---- what a perfect proposal of this family could give
    c = frozen["wall_s_per_attempt"]
    n_eff = n_b if math.isfinite(n_b) else math.nan
    n_low = n_b if math.isfinite(n_b) else float(blocks_run)  # not decorrelated: n_b > blocks run

    def ratio(cost: float) -> float | None:
        if not math.isfinite(md_q_wall) or cost <= 0:
            return None
        return md_q_wall / (n_low * cost)

    ideal = ratio(c)
    c_h = min(h["wall_s_per_attempt"] for h in harmonic.values()) if harmonic else math.nan
    ideal_h = ratio(c_h) if harmonic else None
    floor = ratio(energy_s)
    weighted = ratio(c / frozen["acceptance"]) if frozen["acceptance"] > 0 else 0.0
    kind = "value" if math.isfinite(n_b) else "upper_bound"
    break_even = md_q_wall / n_low if math.isfinite(md_q_wall) else None  # attempt cost at which a perfect proposal ties MD

    def fmt(v):
        return "n/a" if v is None else f"{v:.3g}"

    print(f"T={T}: ideal speedup ({kind}) {fmt(ideal)} at the flow's {c * 1e3:.0f} ms/attempt, {fmt(ideal_h)} at the harmonic "
          f"proposal's {c_h * 1e3:.1f} ms, {fmt(floor)} at one energy evaluation ({energy_s * 1e3:.2f} ms); a perfect "
          f"proposal ties MD at {fmt(None if break_even is None else break_even * 1e3)} ms/attempt; the fitted flow "
          f"with its measured acceptance: {fmt(weighted)}", flush=True)
    return {"T": T, "n": args.n, "k": args.k, "tau_alpha": tau_alpha, "md_q_wall_s": md_q_wall, "md_step_s": md_step_s,
            "energy_eval_s": energy_s, "plateau": plateau, "cavity": cavity, "block_steps": args.block_steps, "blocks_run": blocks_run,
            "blocks_to_decorrelate": n_eff, "block_wall_s": chain["block_wall_s"],
            "particle_visits_to_decorrelate": (n_eff * args.k / args.n) if math.isfinite(n_b) else None,
            "proposal_frozen": frozen, "proposal_md": md_trained, "proposal_harmonic": harmonic,
            "ideal_speedup": ideal, "ideal_speedup_harmonic_cost": ideal_h, "ideal_speedup_energy_floor": floor,
            "acceptance_weighted_speedup": weighted, "break_even_attempt_s": break_even,
            "ideal_is": kind, "curves": {"md_q": q.tolist(), "md_frame_tau": frame_steps * DT, "md_frame_wall_s": walls[-1] / args.frames,
                                          "chain_q": cq.tolist(), "chain_frame_blocks": args.frame_every}}


def crossing_temperature(temperatures: list[float], ratios: list[float | None]) -> float | None:
    """T at which an Arrhenius fit ln(ratio) = a + b / T reaches 1, where the ratio grows as T falls (b > 0).

    None with fewer than two finite ratios or when the ratio does not grow on cooling. Fitted to
    upper bounds, the crossing is an upper bound on the temperature below which the move would win.
    """
    pts = [(1.0 / t, math.log(v)) for t, v in zip(temperatures, ratios) if v is not None and v > 0 and math.isfinite(v)]
    if len(pts) < 2:
        return None
    x, y = np.array(pts).T
    b, a = np.polyfit(x, y, 1)
    if b <= 0:
        return None
    return float(b / -a) if a < 0 else float("inf")  # a >= 0: already above 1 at every fitted T (an infinite crossing)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for r in results:
        cv = r["curves"]
        c = r["proposal_frozen"]["wall_s_per_attempt"]
        axes[0].plot(np.arange(len(cv["md_q"])) * cv["md_frame_wall_s"], cv["md_q"], "-", label=f"MD T={r['T']}")
        axes[0].plot(np.arange(len(cv["chain_q"])) * cv["chain_frame_blocks"] * c, cv["chain_q"], "--",
                     label=f"perfect region MH T={r['T']} ({c * 1e3:.0f} ms/attempt)")
    axes[0].axhline(1 / math.e, color="k", lw=0.5)
    axes[0].set(xscale="log", xlabel="wall-clock lag (s)", ylabel="normalised Q", title="MD vs ideal frozen-surroundings region moves")
    Ts = [r["T"] for r in results]
    est = [extrapolated(r) for r in results]
    for key, lab in (("flow", "the flow's attempt cost"), ("harmonic", "the harmonic proposal's cost"),
                     ("energy_floor", "one energy evaluation per attempt")):
        line, = axes[1].plot(Ts, [e.get(f"speedup_at_{key}_cost") or np.nan for e in est], "o-", label=f"perfect proposal at {lab}")
        bound = {"flow": "ideal_speedup", "harmonic": "ideal_speedup_harmonic_cost", "energy_floor": "ideal_speedup_energy_floor"}[key]
        axes[1].plot(Ts, [r.get(bound) or np.nan for r in results], "v:", color=line.get_color(), lw=0.8,
                     label="  (bound from the blocks run)" if key == "flow" else None)
    axes[1].axhline(1.0, color="k", lw=0.5)
    axes[1].set(yscale="log", xlabel="T", ylabel="speedup over MD (Q decorrelation, wall clock)",
                title="perfect frozen-surroundings region moves (k = 8) vs MD\n(circles: blocks extrapolated; triangles: bound)")
    for a in axes:
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def extrapolated(r: dict) -> dict:
    """Blocks to decorrelate from the chain's Q at its longest averaged lag, extrapolated linearly to 1/e.

    The chains' Q curves decelerate (convex), so the straight line from Q(0) = 1 through the
    last point reaches 1/e *sooner* than the curve will: a low estimate of the blocks needed and
    so a high estimate of the speedup a perfect proposal could give. Returns the estimate and the
    speedups it implies at the flow's, the harmonic proposal's and one energy evaluation's cost.
    """
    cq = np.asarray(r["curves"]["chain_q"], dtype=float)
    lag = (len(cq) - 1) * r["curves"]["chain_frame_blocks"]
    if r["blocks_to_decorrelate"] is not None and math.isfinite(r["blocks_to_decorrelate"]):
        n_b = float(r["blocks_to_decorrelate"])
    elif cq[-1] < 1.0 and lag > 0:
        n_b = lag * (1.0 - 1.0 / math.e) / (1.0 - cq[-1])
    else:
        return {"blocks": None}
    md = r["md_q_wall_s"]
    costs = {"flow": r["proposal_frozen"]["wall_s_per_attempt"], "energy_floor": r["energy_eval_s"]}
    if r.get("proposal_harmonic"):
        costs["harmonic"] = min(h["wall_s_per_attempt"] for h in r["proposal_harmonic"].values())
    out = {"blocks": n_b, "particle_visits": n_b * r["k"] / r["n"], "break_even_attempt_s": md / n_b if md else None}
    out.update({f"speedup_at_{k}_cost": (md / (n_b * c) if md else None) for k, c in costs.items()})
    return out


def summarise(results: list[dict], quick: bool) -> dict:
    """The last printed line: per-temperature figures and the extrapolated crossing temperatures."""
    keys = ("ideal_speedup", "ideal_is", "ideal_speedup_harmonic_cost", "ideal_speedup_energy_floor", "break_even_attempt_s",
            "acceptance_weighted_speedup", "tau_alpha", "blocks_to_decorrelate", "particle_visits_to_decorrelate")
    summary = {k: {str(r["T"]): r[k] for r in results} for k in keys}
    summary["mh_acceptance"] = {str(r["T"]): {"frozen_surroundings_flow": r["proposal_frozen"]["acceptance"],
                                              "md_lag_flow": r["proposal_md"]["acceptance"],
                                              **{f"harmonic_rho={k}": v["acceptance"] for k, v in r["proposal_harmonic"].items()}}
                             for r in results}
    Ts = [r["T"] for r in results]
    est = [extrapolated(r) for r in results]
    summary["estimate"] = {str(r["T"]): e for r, e in zip(results, est)}
    # the temperature below which a perfect proposal of this family would beat MD, at each cost
    summary["would_win_below_T"] = {key: crossing_temperature(Ts, [e.get(f"speedup_at_{key}_cost") for e in est])
                                    for key in ("flow", "harmonic", "energy_floor")}

    summary["cavity_fraction_beyond_0.3"] = {str(r["T"]): {k: v["fraction_beyond_0.3"][-1] for k, v in r["cavity"].items()} for r in results}
    summary["plateau_rms"] = {str(r["T"]): {s: v["rms"] for s, v in r["plateau"].items()} for r in results}
    summary.update(n=results[0]["n"], k=results[0]["k"], block_steps=results[0]["block_steps"], quick=quick)
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--temperatures", type=float, nargs="+", default=[0.8, 0.6, 0.5])
    p.add_argument("--quick", action="store_true", help="T = 0.6 only, shorter runs")
    p.add_argument("-n", type=int, default=500)
    p.add_argument("-k", type=int, default=8)
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--block-steps", type=int, default=100, help="masked MD steps per block (the plateau is reached by ~50)")
    p.add_argument("--max-blocks", type=int, default=20000)
    p.add_argument("--frame-every", type=int, default=20)
    p.add_argument("--chain-wall", type=float, default=600.0, help="wall-time limit of the block chain per temperature (s)")
    p.add_argument("--plateau-blocks", type=int, default=30)
    p.add_argument("--cavity-k", type=int, nargs="+", default=[8, 32, 64, 128], help="mean particle counts of the cavity probe's balls")
    p.add_argument("--cavity-steps", type=int, nargs="+", default=[200, 1000, 2000], help="cavity probe checkpoints (MD steps)")
    p.add_argument("--cavity-regions", type=int, default=12)
    p.add_argument("--harmonic-rho", type=float, nargs="+", default=[0.5, 0.8, 0.95], help="harmonic proposals probed")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--probe-attempts", type=int, default=60)
    p.add_argument("--md-pairs", type=int, default=60)
    p.add_argument("--md-regions-per-frame", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/region_move_limit")
    p.add_argument("--replot", help="only redraw the figure from this results.json")
    args = p.parse_args(argv)
    if args.replot:  # redraw the figure and reprint the summary line from a results.json
        results = json.loads(Path(args.replot).read_text())
        plot(results, Path(args.replot).with_name("region_move_limit.png"))
        print(json.dumps(sp._clean(summarise(results, args.quick))))
        return 0
    if args.quick:
        args.temperatures, args.chain_wall, args.probe_attempts = [0.6], 180.0, 30
    if args.block_steps % 4:
        p.error("--block-steps must be a multiple of 4")
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for T in args.temperatures:
        results.append(run_temperature(T, args))
        (out / "results.json").write_text(json.dumps(sp._clean(results), indent=1))
    plot(sp._clean(results), out / "region_move_limit.png")
    print(json.dumps(sp._clean(summarise(results, args.quick))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
