"""Do region moves relax a KA liquid faster than plain MD, per wall-clock second? Measured drift-free.

For each temperature (N >= 500, density 1.2, CPU platform with ``--threads``, in one process):

1. **start**: melt at T = 2, then Langevin at T until the run spans ``--n-tau-alpha`` (>= 10)
   of its own drift-free tau_alpha (``glassmm.sampling.equilibration``; printed and checked);
2. **probes** from that start: plain-MH region moves of k members per move type -- the harmonic
   proposal at each ``--harmonic-rho`` and, with ``--lags``, region flows trained on this MD's
   region displacements (plain MH and NCMC ``--protocols``) -- acceptance, work, wall per attempt;
3. **replicas**, interleaved (MD 1, sampler 1, MD 2, ...), each from the start with its own fresh
   velocities (the same set for both): plain MD, and the sampler (``--md-steps`` of MD, then
   ``--proposals-per-cycle`` attempts of the best probed move per cycle), each run *until its
   drift-free A overlap has decorrelated* (``glassmm.analysis.decorrelation.DecorrelationRun``:
   the 1/e crossing of the origin-averaged normalised Q at a lag of at most half the run), or
   until ``--max-wall`` per run, when only a strict bound (longer than the largest lag examined)
   is known. Frames every ``--frame-tau`` of MD time for both.

speedup = mean MD wall time to decorrelate / mean sampler wall time to decorrelate, with a
standard error from the replicas (delta method) when every replica decorrelated; when some
sampler replica did not, ``speedup_upper_bound`` (its bound charged instead: a strict upper
bound) and no ``speedup``. ``--attempt-cost`` measures instead what one region attempt costs
with the energy from the OpenMM context against local pair sums, at N = 500 and 4096.

The last line printed is one JSON object. ``--quick``: T = 0.6, 2 replicas, about 10 minutes.
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
from glassmm.analysis.decorrelation import DecorrelationRun, ratio_of_means
from glassmm.sampling import GenerativeSampler, JumpCheck
from glassmm.sampling.equilibration import equilibrate
from glassmm.sampling.harmonic import HarmonicRegionProposal
from glassmm.sampling.ncmc import NCMCProtocol, RegionNCMCMove
from glassmm.sampling.region_flow import RegionFlowModel
from glassmm.sampling.regions import LatticeCentres, RegionSelector
from glassmm.sampling.training import collect_jump_pairs, region_training_table
from glassmm.simulation import create_simulation, get_positions, set_temperature, set_velocities

DT = 0.005


def start_state(T: float, args) -> tuple:
    """A KA liquid equilibrated at T for >= args.n_tau_alpha of its own tau_alpha: (ka, sim, state, equilibration)."""
    ka = glassmm.KobAndersen(args.n, positions="random", seed=args.seed)
    sim = create_simulation(ka, "langevin", temperature=2.0, seed=args.seed, platform="CPU", threads=args.threads)
    sim.step(2000)
    set_temperature(sim, T)
    eq = equilibrate(sim, ka.types, n_tau_alpha=args.n_tau_alpha, max_tau=args.max_equilibration_tau, progress=False)
    print(f"T={T}: {eq.line()}", flush=True)
    return ka, sim, sim.context.getState(positions=True, velocities=True), eq


def region_geometry(ka, k: int) -> tuple[RegionSelector, LatticeCentres]:
    """The benchmarks' region choice: compact k-tuples, lattice centres a cutoff apart (one region per
    cycle below N ~ 4600 at density 1.2: the lattice's minimum spacing is 7.8 sigma)."""
    sel = RegionSelector(k, width=0.9, shell_radius=2.0, ramp=0.4, box=ka.box)
    return sel, LatticeCentres(ka.box, 2 * sel.zone_radius + ka.table.max_cutoff + 0.5)


def probe_mh(sim, start, model, ka, sel, centres, T: float, attempts: int, seed: int, protocol: NCMCProtocol | None = None,
             energy: str = "auto") -> dict:
    """Region moves of ``model`` from ``start`` (no MD): acceptance, work, densities, wall time per attempt.

    10 attempts per cycle; the first cycle (set-up) is not timed.
    """
    sim.context.setState(start)
    move = RegionNCMCMove(model, ka.types, ka.box, selector=sel, centres=centres, protocol=protocol or NCMCProtocol(steps=0),
                          table=ka.table, energy=energy)
    s = GenerativeSampler(sim, move, T, md_steps=0, proposals_per_cycle=10, check=JumpCheck(), seed=seed, progress=False)
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
            "wall_s_per_attempt": wall, "energy_source": recs[0].get("energy_source"),
            "protocol_steps": move.protocol.steps, "lambda_min": move.protocol.lambda_min}


def probes(T: float, ka, sim, start, tau_alpha: float, args) -> list[dict]:
    """Every move type probed from the start; each with its model for the sampler runs."""
    sel, centres = region_geometry(ka, args.k)
    out = []
    for rho in args.harmonic_rho:
        model = HarmonicRegionProposal(args.k, T, rho=rho, table=ka.table)
        p = probe_mh(sim, start, model, ka, sel, centres, T, args.probe_attempts, args.seed)
        p.update(move="harmonic", rho=rho, model=model)
        out.append(p)
        print(f"T={T}: harmonic rho={rho}: acceptance {p['acceptance']:.3f} of {p['attempts']}, median largest member jump "
              f"{p['median_max_displacement']:.3f}, {p['wall_s_per_attempt'] * 1e3:.2f} ms/attempt", flush=True)
    for frac in args.lags:
        lag_steps = max(4, int(round(frac * tau_alpha / DT / 4)) * 4)
        sim.context.setState(start)
        pairs = collect_jump_pairs(sim, ka.types, ka.box, lag_steps, args.pairs, stride_steps=lag_steps // 4, progress=False)
        rng = np.random.default_rng(args.seed)
        tabs = [region_training_table(pairs, sel, centres, rng) for _ in range(args.regions_per_frame)]
        C, D = torch.cat([a for a, _ in tabs]), torch.cat([b for _, b in tabs])
        torch.manual_seed(args.seed)
        model = RegionFlowModel(args.k, bound=min(2.0, 0.45 * float(ka.box.min())), hidden=64, transforms=3)
        hist = model.fit(C, D, epochs=args.epochs, lr=2e-3)
        for steps in args.protocols:
            p = probe_mh(sim, start, model, ka, sel, centres, T, args.probe_attempts, args.seed,
                         NCMCProtocol(steps=steps, lambda_min=0.7 if steps else 1.0))
            p.update(move="flow", lag_tau=lag_steps * DT, lag_over_tau_alpha=frac, validation_nll=min(hist["validation"]), model=model)
            out.append(p)
            print(f"T={T}: flow lag {lag_steps * DT:.3g} tau, NCMC {steps}: acceptance {p['acceptance']:.3f} of {p['attempts']}, "
                  f"median work {p['median_work_kT']:.1f} kT, {p['wall_s_per_attempt'] * 1e3:.1f} ms/attempt", flush=True)
    return out


def run_replicas(T: float, ka, sim, start, best: dict, args) -> dict:
    """MD and sampler replicas, interleaved, each until its drift-free Q decorrelated (or the wall limit)."""
    sel, centres = region_geometry(ka, args.k)
    frame_steps = max(1, int(round(args.frame_tau / DT)))
    cycles_per_frame = max(1, frame_steps // args.md_steps)
    masses = np.array([glassmm.units.mass_from_openmm(sim.system.getParticleMass(i)) for i in range(args.n)])
    md, smp = [], []
    for r in range(args.replicas):
        kick = np.random.default_rng(args.seed + 1000 + r).normal(size=(args.n, 3)) * np.sqrt(T / masses)[:, None]
        sim.context.setState(start)
        set_velocities(sim.context, kick)
        run = DecorrelationRun(lambda: sim.step(frame_steps), lambda: get_positions(sim.context), ka.types, ka.density,
                               max_wall_s=args.max_wall).run()
        md.append(run)
        sim.context.setState(start)
        set_velocities(sim.context, kick)
        move = RegionNCMCMove(best["model"], ka.types, ka.box, selector=sel, centres=centres, table=ka.table,
                              protocol=NCMCProtocol(steps=best["protocol_steps"], lambda_min=best["lambda_min"]))
        sampler = GenerativeSampler(sim, move, T, md_steps=args.md_steps, proposals_per_cycle=args.proposals_per_cycle,
                                    check=JumpCheck(), seed=args.seed + r, progress=False)
        srun = DecorrelationRun(lambda: sampler.run(sampler.cycle + cycles_per_frame), lambda: get_positions(sim.context),
                                ka.types, ka.density, max_wall_s=args.max_wall).run()
        srun.summary = sampler.summary()
        smp.append(srun)

        def fmt(x):
            return f"{x.decorrelation_wall_s:.3g} s" if x.decorrelation_wall_s is not None else f"> {x.bound_wall_s:.3g} s (bound)"

        tau = "" if run.crossing_frames is None else f" ({run.crossing_frames * frame_steps * DT:.3g} tau)"
        print(f"T={T}: replica {r}: MD decorrelates in {fmt(run)}{tau}, sampler in {fmt(srun)} "
              f"(acceptance {srun.summary['acceptance_rate']:.3f})", flush=True)
    md_w = [x.decorrelation_wall_s for x in md]
    s_w = [x.decorrelation_wall_s for x in smp]
    res = {"frame_tau": frame_steps * DT, "cycles_per_frame": cycles_per_frame,
           "md": [x.as_dict() for x in md], "sampler": [{**x.as_dict(), "summary": x.summary} for x in smp],
           "md_tau_alpha_replicas": [None if x.crossing_frames is None else x.crossing_frames * frame_steps * DT for x in md]}
    if all(w is not None for w in md_w) and all(w is not None for w in s_w):
        res["speedup"], res["speedup_se"] = ratio_of_means(md_w, s_w)
        res["speedup_upper_bound"] = None
    elif all(w is not None for w in md_w):
        res["speedup"] = res["speedup_se"] = None
        # a sampler replica that did not decorrelate needed longer than its largest lag examined
        res["speedup_upper_bound"] = float(np.mean(md_w) / np.mean([w if w is not None else x.bound_wall_s for w, x in zip(s_w, smp)]))
    else:
        res["speedup"] = res["speedup_se"] = res["speedup_upper_bound"] = None
    res["speedup_replicas"] = [a / b if a is not None and b is not None else None for a, b in zip(md_w, s_w)]
    timers = smp[0].summary["timers_s"]
    total = sum(timers.values())
    res["cost_split"] = {k: v / total for k, v in timers.items()} if total else {}
    return res


def attempt_cost(args) -> dict:
    """Wall time of one harmonic region attempt (k = 8, plain MH) with context energies and with local pair sums."""
    out = {}
    for n in (500, 4096):
        ka = glassmm.KobAndersen(n, positions="random", seed=args.seed)
        sim = create_simulation(ka, "langevin", temperature=0.8, seed=args.seed, platform="CPU", threads=args.threads)
        sim.step(500)
        start = sim.context.getState(positions=True, velocities=True)
        sel, centres = region_geometry(ka, 8)
        row = {}
        for rep in range(2):  # interleaved, twice
            for energy in ("context", "local"):
                p = probe_mh(sim, start, HarmonicRegionProposal(8, 0.8, rho=0.8, table=ka.table), ka, sel, centres, 0.8,
                             args.probe_attempts, args.seed, energy=energy)
                row.setdefault(energy, []).append(p["wall_s_per_attempt"])
        out[str(n)] = {k: float(np.median(v)) for k, v in row.items()}
        out[str(n)]["context_over_local"] = out[str(n)]["context"] / out[str(n)]["local"]
        print(f"N={n}: harmonic region attempt {out[str(n)]['context'] * 1e3:.2f} ms with the context's energy, "
              f"{out[str(n)]['local'] * 1e3:.2f} ms with local pair sums", flush=True)
    return out


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.8), squeeze=False)
    for ax, r in zip(axes[0], results):
        rep = r["replicas"]
        for kind, style in (("md", "-"), ("sampler", "--")):
            for i, x in enumerate(rep[kind]):
                ax.plot(np.asarray(x["lags"]) * x["wall_per_frame_s"], x["q"], style, color="C0" if kind == "md" else "C1",
                        label=("plain MD" if kind == "md" else f"sampler ({r['best']['label']})") if i == 0 else None)
        ax.axhline(1 / math.e, color="k", lw=0.5)
        sp = r["replicas"]["speedup"]
        title = (f"T = {r['T']}: speedup {sp:.2f} +- {r['replicas']['speedup_se']:.2f}" if sp is not None else
                 f"T = {r['T']}: speedup < {r['replicas']['speedup_upper_bound']:.2g} (bound)"
                 if r["replicas"]["speedup_upper_bound"] is not None else f"T = {r['T']}")
        ax.set(xscale="log", xlabel="wall-clock lag (s)", ylabel="drift-free Q of A, normalised", title=title)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _clean(obj):
    """NaN and infinity as null, models dropped: the output stays valid JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items() if k != "model"}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _label(p: dict) -> str:
    if p["move"] == "harmonic":
        return f"harmonic rho={p['rho']:g}"
    return f"flow lag={p['lag_tau']:.3g}tau ncmc={p['protocol_steps']}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--temperatures", type=float, nargs="+", default=[0.6, 0.5, 0.45])
    p.add_argument("--quick", action="store_true", help="T = 0.6 only, 2 replicas, shorter limits")
    p.add_argument("--attempt-cost", action="store_true", help="only time one region attempt, context vs local energies")
    p.add_argument("-n", type=int, default=500)
    p.add_argument("-k", type=int, default=8, help="particles per region")
    p.add_argument("--threads", type=int, default=1, help="CPU platform threads (MD and the sampler's MD alike)")
    p.add_argument("--n-tau-alpha", type=float, default=10.0, help="equilibration length in its own tau_alpha")
    p.add_argument("--max-equilibration-tau", type=float, default=20000.0)
    p.add_argument("--harmonic-rho", type=float, nargs="*", default=[0.8, 0.95], help="harmonic proposals probed (plain MH)")
    p.add_argument("--lags", type=float, nargs="*", default=[0.02], help="region-flow jump lags (fractions of tau_alpha); none: no flows")
    p.add_argument("--protocols", type=int, nargs="+", default=[0, 40], help="NCMC steps per half for the flows (0 = plain MH)")
    p.add_argument("--pairs", type=int, default=60)
    p.add_argument("--regions-per-frame", type=int, default=40)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--probe-attempts", type=int, default=100)
    p.add_argument("--md-steps", type=int, default=100, help="MD steps per sampler cycle")
    p.add_argument("--proposals-per-cycle", type=int, default=1, help="region attempts after each MD segment")
    p.add_argument("--frame-tau", type=float, default=1.0, help="MD time between frames (tau), both chains")
    p.add_argument("--replicas", type=int, default=4, help="MD and sampler runs per temperature (fresh velocities each)")
    p.add_argument("--max-wall", type=float, default=3600.0, help="wall limit of one run (s); beyond it only a bound")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/sampler_speedup")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.attempt_cost:
        res = attempt_cost(args)
        print(json.dumps({"attempt_s": res, "threads": args.threads}))
        return 0
    if args.quick:
        args.temperatures, args.replicas, args.max_wall, args.lags, args.probe_attempts = [0.6], 2, 300.0, [], 60
        args.frame_tau = 0.5
    if args.n < 500:
        p.error("the benchmark is defined for N >= 500")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for T in args.temperatures:
        ka, sim, start, eq = start_state(T, args)
        probed = probes(T, ka, sim, start, eq.tau_alpha, args)
        # the move that moved most member distance^2 per wall second in the probes
        best = max(probed, key=lambda q: q["acceptance"] * args.k * q["rms_displacement"] ** 2 / q["wall_s_per_attempt"])
        best["label"] = _label(best)
        print(f"T={T}: best probed move: {best['label']} (acceptance {best['acceptance']:.3f})", flush=True)
        reps = run_replicas(T, ka, sim, start, best, args)
        sp = reps["speedup"]
        print(f"T={T}: speedup " + (f"{sp:.3g} +- {reps['speedup_se']:.2g}" if sp is not None else
                                     f"< {reps['speedup_upper_bound']:.3g} (strict bound)" if reps["speedup_upper_bound"] else "unknown"),
              flush=True)
        results.append({"T": T, "n": args.n, "k": args.k, "equilibration": eq.as_dict(), "probes": probed, "best": best,
                        "replicas": reps})
        (out / "results.json").write_text(json.dumps(_clean(results), indent=1))
    plot(_clean(results), out / "sampler_speedup.png")
    summary = {
        "speedup": {str(r["T"]): r["replicas"]["speedup"] for r in results},
        "speedup_se": {str(r["T"]): r["replicas"]["speedup_se"] for r in results},
        "speedup_upper_bound": {str(r["T"]): r["replicas"]["speedup_upper_bound"] for r in results},
        "speedup_replicas": {str(r["T"]): r["replicas"]["speedup_replicas"] for r in results},
        "md_tau_alpha_replicas": {str(r["T"]): r["replicas"]["md_tau_alpha_replicas"] for r in results},
        "equilibration_tau_alpha": {str(r["T"]): r["equilibration"]["tau_alpha"] for r in results},
        "equilibration_n_tau_alpha": {str(r["T"]): r["equilibration"]["n_tau_alpha"] for r in results},
        "acceptance": {str(r["T"]): {_label(q): q["acceptance"] for q in r["probes"]} for r in results},
        "wall_s_per_attempt": {str(r["T"]): {_label(q): q["wall_s_per_attempt"] for q in r["probes"]} for r in results},
        "best": {str(r["T"]): r["best"]["label"] for r in results},
        "cost_split": {str(r["T"]): r["replicas"]["cost_split"] for r in results},
        "n": args.n, "k": args.k, "threads": args.threads, "replicas": args.replicas, "quick": args.quick,
    }
    print(json.dumps(_clean(summary)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
