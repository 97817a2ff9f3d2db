"""How fast could region moves with frozen surroundings relax a KA liquid, with a perfect proposal?

The sampler's region jumps move k members while everything else stays put. The best
Metropolis-Hastings proposal of that kind draws the members from their conditional Boltzmann
distribution given the surroundings; masked MD of the members alone samples that distribution
(``glassmm.sampling.training.frozen_surroundings_chain``), and a proposal fitted exactly to
that kernel would be accepted every time. So a chain of such blocks *is* the sampler with a
perfect proposal, and the number of blocks it needs to relax the liquid bounds what any
proposal of this family can do. For each temperature (N = 500, density 1.2, CPU, in one run):

1. start as ``sampler_speedup.py`` does (>= 10 of its own drift-free tau_alpha, checked); plain
   MD replicas until their drift-free Q of A (a = 0.3, normalised, 1/e) decorrelates, in tau and
   wall seconds;
2. frozen-surroundings plateau: members' rms displacement after 25, 100 and 400 masked steps;
   cavities: balls of 8, 32, 64, 128 particles free for up to 10 tau, everything else frozen -- the fraction
   that gets farther than a = 0.3 from its start is what even a perfect proposal of the family
   (one that also crosses barriers inside the region) can relax per move, because that fraction
   is a property of the members' conditional Boltzmann distribution (point-to-set physics);
3. the block chain (``--block-steps`` per block) until its drift-free Q decorrelates (the 1/e
   crossing of the origin-averaged Q at a lag of at most half the chain) or ``--chain-wall`` runs
   out: blocks to decorrelate n_b, or only n_b > half the blocks run (a strict bound);
4. the region flow fitted to the chain's own pairs, and one fitted to MD displacements over the
   same time (the previous training), both probed as plain MH region moves from the
   equilibrated state: acceptance, median work, wall time per attempt c;
5. ideal speedup = MD wall time to decorrelate / (n_b x c) -- every attempt accepted and as good
   as a block -- at the flow's, the harmonic proposal's and the floor cost (one local energy
   change per attempt); a value where the chain decorrelated, else a strict upper bound. Nothing
   is extrapolated.

The lattice of region centres keeps zones a cutoff apart (minimum spacing 7.8 sigma at k = 8),
so below N ~ 4600 at density 1.2 one region is attempted per cycle: "many regions per cycle"
is a large-N feature. The last line printed is one JSON object keyed by temperature.
``--quick``: T = 0.6 only.
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
from glassmm.analysis.decorrelation import DecorrelationRun, crossing_time, overlap_vs_lag, random_overlap  # noqa: E402
from glassmm.sampling.harmonic import HarmonicRegionProposal  # noqa: E402
from glassmm.sampling.local_energy import LocalEnergy  # noqa: E402
from glassmm.sampling.ncmc import NCMCProtocol  # noqa: E402
from glassmm.sampling.region_flow import RegionFlowModel  # noqa: E402
from glassmm.sampling.training import collect_jump_pairs, frozen_surroundings_chain, region_training_table  # noqa: E402
from glassmm.simulation import get_positions, potential_energy, set_velocities  # noqa: E402

DT = sp.DT


def chain_q(frames: np.ndarray, types: np.ndarray, density: float) -> tuple[np.ndarray, np.ndarray]:
    """Origin-averaged, normalised drift-free Q of A at lags (frames) up to half the chain: (lags, Q)."""
    n = len(frames)
    half = max(1, (n - 1) // 2)
    lags = np.unique(np.concatenate([[0], np.round(np.geomspace(1, half, 60)).astype(int)]))
    q0 = random_overlap(frames.shape[1], density)
    return lags, (overlap_vs_lag(frames, types=types, species=0, lags=lags) - q0) / (1 - q0)


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
    ka, sim, start, eq = sp.start_state(T, args)
    tau_alpha_eq = eq.tau_alpha

    # ---- plain MD replicas, each until its drift-free Q decorrelated
    frame_steps = max(1, int(round(args.frame_tau / DT)))
    masses = np.array([glassmm.units.mass_from_openmm(sim.system.getParticleMass(i)) for i in range(args.n)])
    md_runs = []
    for r in range(args.md_replicas):
        sim.context.setState(start)
        set_velocities(sim.context, np.random.default_rng(args.seed + 1000 + r).normal(size=(args.n, 3)) * np.sqrt(T / masses)[:, None])
        md_runs.append(DecorrelationRun(lambda: sim.step(frame_steps), lambda: get_positions(sim.context), ka.types, ka.density,
                                        max_wall_s=args.chain_wall).run())
    md_walls = [m.decorrelation_wall_s for m in md_runs]
    md_q_wall = float(np.mean(md_walls)) if all(w is not None for w in md_walls) else math.nan
    taus = [m.crossing_frames * frame_steps * DT if m.crossing_frames is not None else math.nan for m in md_runs]
    tau_alpha = float(np.mean(taus))
    md_step_s = float(np.mean([m.wall_per_frame for m in md_runs])) / frame_steps
    sim.context.setState(start)
    x0 = get_positions(sim.context)
    t0 = time.perf_counter()
    for _ in range(10):
        potential_energy(sim.context)
    energy_s = (time.perf_counter() - t0) / 10
    local = LocalEnergy(ka.table, ka.types, ka.box)
    members = np.arange(args.k)
    y = x0.copy()
    y[members] += 0.05
    t0 = time.perf_counter()
    for _ in range(50):
        local.delta(x0, y, members)
    local_s = (time.perf_counter() - t0) / 50
    print(f"T={T}: MD tau_alpha(Q, A, drift-free) {tau_alpha:.3g} tau (replicas {', '.join(f'{t:.3g}' for t in taus)}; "
          f"equilibration run: {tau_alpha_eq:.3g}), decorrelates in {md_q_wall:.3g} s ({md_step_s * 1e3:.2f} ms/step, "
          f"energy evaluation {energy_s * 1e3:.2f} ms, local energy change of k = {args.k} {local_s * 1e3:.3f} ms)", flush=True)

    sel, centres = sp.region_geometry(ka, args.k)

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

    # ---- the block chain: the sampler with a perfect frozen-surroundings proposal, until decorrelated
    def stop(fr: list) -> bool:
        if len(fr) < 9 or len(fr) % 10:  # Q over every origin costs: look every ten frames
            return False
        lags, q = chain_q(np.asarray(fr), ka.types, ka.density)
        return math.isfinite(crossing_time(lags.astype(float), q))

    sim.context.setState(start)
    chain = frozen_surroundings_chain(sim, ka.types, ka.box, sel, centres, T, args.max_blocks, args.block_steps,
                                      seed=args.seed, frame_every=args.frame_every, stop=stop, max_wall_s=args.chain_wall,
                                      progress=False)
    lags, cq = chain_q(np.asarray(chain["frames"]), ka.types, ka.density)
    t = crossing_time(lags.astype(float) * args.frame_every, cq)
    n_b = t if math.isfinite(t) else math.nan
    blocks_run = chain["blocks"]
    n_bound = float(lags.max() * args.frame_every)  # when not decorrelated: n_b is larger than the largest lag examined
    d = chain["displacements"]
    print(f"T={T}: block chain ran {blocks_run} blocks ({chain['block_wall_s'] * 1e3:.0f} ms each), "
          f"member rms {float(d.pow(2).sum(-1).mean().sqrt()):.3f}; its Q decorrelates after "
          + (f"{n_b:.4g} blocks" if math.isfinite(n_b) else f"more than {n_bound:.4g} blocks (Q = {cq[-1]:.3f} there)"), flush=True)

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

    # ---- what a perfect proposal of this family could give: measured, or a strict upper bound
    c = frozen["wall_s_per_attempt"]
    c_h = min(h["wall_s_per_attempt"] for h in harmonic.values()) if harmonic else math.nan
    costs = {"flow": c, "harmonic": c_h, "local_energy_floor": local_s, "context_energy_floor": energy_s}
    ideal = ideal_speedups(md_q_wall, n_b, n_bound, costs)

    def fmt(v):
        return "n/a" if v is None else f"{v:.3g}"

    rel = "=" if ideal["is"] == "value" else "<"
    print(f"T={T}: a perfect proposal of this family: speedup {rel} {fmt(ideal['flow'])} at the flow's {c * 1e3:.1f} ms/attempt, "
          f"{rel} {fmt(ideal['harmonic'])} at the harmonic proposal's {c_h * 1e3:.2f} ms, {rel} {fmt(ideal['local_energy_floor'])} "
          f"at one local energy change ({local_s * 1e3:.3f} ms); it ties MD at {rel.replace('<', '<=')} "
          f"{fmt(None if ideal['break_even_attempt_s'] is None else ideal['break_even_attempt_s'] * 1e3)} ms/attempt", flush=True)
    return {"T": T, "n": args.n, "k": args.k, "tau_alpha": tau_alpha, "tau_alpha_replicas": taus, "equilibration": eq.as_dict(),
            "md_q_wall_s": md_q_wall, "md_q_wall_s_replicas": md_walls, "md_step_s": md_step_s,
            "energy_eval_s": energy_s, "local_energy_s": local_s, "plateau": plateau, "cavity": cavity,
            "block_steps": args.block_steps, "blocks_run": blocks_run, "blocks_to_decorrelate": n_b,
            "blocks_lower_bound": None if math.isfinite(n_b) else n_bound, "block_wall_s": chain["block_wall_s"],
            "particle_visits_to_decorrelate": (n_b * args.k / args.n) if math.isfinite(n_b) else None,
            "proposal_frozen": frozen, "proposal_md": md_trained, "proposal_harmonic": harmonic, "ideal": ideal,
            "curves": {"md": [m.as_dict() for m in md_runs], "md_frame_tau": frame_steps * DT,
                       "chain_lags": lags.tolist(), "chain_q": cq.tolist(), "chain_frame_blocks": args.frame_every}}


def ideal_speedups(md_wall: float, n_b: float, n_bound: float, costs: dict[str, float]) -> dict:
    """MD wall time to decorrelate / (blocks x attempt cost) per cost: values when the chain
    decorrelated (``n_b`` finite), else strict upper bounds from ``n_bound`` (n_b > n_bound);
    and the attempt cost at which a perfect proposal would tie MD (a value, or an upper bound)."""
    measured = math.isfinite(n_b)
    blocks = n_b if measured else n_bound
    ok = math.isfinite(md_wall) and blocks > 0
    out: dict = {k: (md_wall / (blocks * c) if ok and c > 0 and math.isfinite(c) else None) for k, c in costs.items()}
    out["break_even_attempt_s"] = md_wall / blocks if ok else None
    out["is"] = "value" if measured else "upper_bound"
    return out


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for r in results:
        cv = r["curves"]
        c = r["proposal_frozen"]["wall_s_per_attempt"]
        for i, m in enumerate(cv["md"]):
            axes[0].plot(np.asarray(m["lags"]) * m["wall_per_frame_s"], m["q"], "-", color=f"C{results.index(r)}",
                         label=f"MD T={r['T']}" if i == 0 else None)
        axes[0].plot(np.asarray(cv["chain_lags"]) * cv["chain_frame_blocks"] * c, cv["chain_q"], "--", color=f"C{results.index(r)}",
                     label=f"perfect region MH T={r['T']} ({c * 1e3:.0f} ms/attempt)")
    axes[0].axhline(1 / math.e, color="k", lw=0.5)
    axes[0].set(xscale="log", xlabel="wall-clock lag (s)", ylabel="drift-free Q of A, normalised",
                title="MD vs ideal frozen-surroundings region moves")
    Ts = [r["T"] for r in results]
    for key, lab in (("flow", "the flow's attempt cost"), ("harmonic", "the harmonic proposal's cost"),
                     ("local_energy_floor", "one local energy change per attempt")):
        vals = [r["ideal"].get(key) or np.nan for r in results]
        marks = ["o" if r["ideal"]["is"] == "value" else "v" for r in results]
        line, = axes[1].plot(Ts, vals, "-", label=f"perfect proposal at {lab}")
        for t, v, mk in zip(Ts, vals, marks):
            axes[1].plot([t], [v], mk, color=line.get_color())
    axes[1].axhline(1.0, color="k", lw=0.5)
    axes[1].set(yscale="log", xlabel="T", ylabel="speedup over MD (Q decorrelation, wall clock)",
                title="perfect frozen-surroundings region moves (k = 8) vs MD\n(circles: measured; triangles: strict upper bounds)")
    for a in axes:
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def summarise(results: list[dict], quick: bool) -> dict:
    """The last printed line: per-temperature figures, each a value or a labelled strict bound."""
    keys = ("tau_alpha", "blocks_to_decorrelate", "blocks_lower_bound", "particle_visits_to_decorrelate", "md_q_wall_s",
            "local_energy_s", "energy_eval_s")
    summary = {k: {str(r["T"]): r[k] for r in results} for k in keys}
    summary["ideal_speedup"] = {str(r["T"]): r["ideal"] for r in results}
    summary["equilibration_n_tau_alpha"] = {str(r["T"]): r["equilibration"]["n_tau_alpha"] for r in results}
    summary["mh_acceptance"] = {str(r["T"]): {"frozen_surroundings_flow": r["proposal_frozen"]["acceptance"],
                                              "md_lag_flow": r["proposal_md"]["acceptance"],
                                              **{f"harmonic_rho={k}": v["acceptance"] for k, v in r["proposal_harmonic"].items()}}
                             for r in results}
    summary["cavity_fraction_beyond_0.3"] = {str(r["T"]): {k: v["fraction_beyond_0.3"][-1] for k, v in r["cavity"].items()} for r in results}
    summary["plateau_rms"] = {str(r["T"]): {s: v["rms"] for s, v in r["plateau"].items()} for r in results}
    summary.update(n=results[0]["n"], k=results[0]["k"], block_steps=results[0]["block_steps"], quick=quick)
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--temperatures", type=float, nargs="+", default=[0.6, 0.5, 0.45])
    p.add_argument("--quick", action="store_true", help="T = 0.6 only, shorter runs")
    p.add_argument("-n", type=int, default=500)
    p.add_argument("-k", type=int, default=8)
    p.add_argument("--threads", type=int, default=1, help="CPU platform threads")
    p.add_argument("--n-tau-alpha", type=float, default=10.0, help="equilibration length in its own tau_alpha")
    p.add_argument("--max-equilibration-tau", type=float, default=20000.0)
    p.add_argument("--md-replicas", type=int, default=2, help="plain MD runs (fresh velocities) for the MD decorrelation time")
    p.add_argument("--frame-tau", type=float, default=1.0, help="MD time between MD frames (tau)")
    p.add_argument("--block-steps", type=int, default=100, help="masked MD steps per block (the plateau is reached by ~50)")
    p.add_argument("--max-blocks", type=int, default=20000)
    p.add_argument("--frame-every", type=int, default=20)
    p.add_argument("--chain-wall", type=float, default=1800.0, help="wall-time limit of the block chain (and of each MD run) per temperature (s)")
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
        args.temperatures, args.chain_wall, args.probe_attempts, args.md_replicas = [0.6], 300.0, 30, 1
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
