"""The lowest temperature plain MD and parallel tempering equilibrate in the same computer time: the 2D
ternary glass-former of Jung, Biroli & Berthier at N = 43 (issue 29, item 4).

Their comparison (MLST 5, 035053 (2024)): in equal computer time MD reaches T_MD = 0.30, PT
T_PT = 0.23, the normalizing flow T_NF = 0.20 (their C++ MD, >= 1e7 tau per state). Here, with
OpenMM through glassmm (``TERNARY2D``, N = 43 in a periodic square of side 6, one CPU thread, one
process), each method gets the same CPU-time budget ``--budget`` and the same criterion, "10
independent configurations at T":

* **MD**: from a melt at T = 1, cool through ``--md-temperatures``; at each T run until the run
  spans 10 of its own drift-free tau_alpha (``glassmm.sampling.equilibration``), then go on
  cooling from there. T_MD = the last T completed within the budget.
* **PT**: every replica starts from MD's configuration equilibrated at the top rung (that cost is
  not charged, as MD's melt is not); a geometric ladder of ``--replicas`` rungs from
  ``--pt-bottom`` to ``--pt-top`` (respaced once for equal acceptance after ``--tune`` rounds,
  charged), ``--md-steps`` Langevin steps per replica between exchange sweeps. A replica that has
  spent tau_alpha(top) of MD time at the top rung (measured by MD's run there) carries a
  decorrelated configuration and delivers one *fresh* arrival to each lower rung it then reaches,
  until it is recharged at the top. T_PT = the lowest rung with >= 10 fresh arrivals within the
  budget (every replica charged).

Budgets are counted in the process's CPU seconds (one process, one thread of work at a time), so
other jobs on the machine do not shorten either method's share; on an idle core they equal wall
seconds.

The flow's side (MD samples mapped to lower T and reweighted) is ``benchmarks/ternary_reweighting.py``.
Last line: one JSON object with ``T_MD``, ``T_PT``, per-T MD tau_alpha, per-rung fresh arrivals,
acceptance and round trips.

    python benchmarks/ternary_lowest_t.py --budget 600 --out benchmarks/results/ternary_lowest_t
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("GLASSMM_QUIET", "1")

FRESH_NEEDED = 10
DT = 0.005  # tau: the Langevin step of MD and of every PT replica


def md_cooling(args, ka) -> tuple[dict, dict]:
    """MD's cooling run; returns its summary and the configuration reached at each T."""
    from glassmm.sampling.equilibration import equilibrate
    from glassmm.simulation import create_simulation, get_positions, run, set_temperature

    sim = create_simulation(ka, "langevin", temperature=1.0, dt=DT, seed=args.seed, platform="CPU", threads=1)
    t0 = time.process_time()
    run(sim, 20000)  # 100 tau at T = 1 (a melt; not charged, as PT's start is not)
    rate = 100.0 / (time.process_time() - t0)  # tau per CPU second at this N
    print(f"MD: {rate:.0f} tau per CPU second at N = {ka.n_particles}", flush=True)
    configs, rows = {}, []
    start = time.process_time()
    t_md = None
    for T in args.md_temperatures:
        left = args.budget - (time.process_time() - start)
        if left <= 0:
            break
        set_temperature(sim, T)
        t1 = time.process_time()
        eq = equilibrate(sim, ka.types, n_tau_alpha=FRESH_NEEDED, max_tau=max(10.0, 0.98 * left * rate), progress=False)
        row = {"T": T, "cpu_s": round(time.process_time() - t1, 1), **eq.as_dict()}
        rows.append(row)
        print(f"MD T = {T}: {eq.line()} ({row['cpu_s']:.0f} CPU s)", flush=True)
        configs[T] = get_positions(sim.context)
        if not eq.reached:
            break
        t_md = T
    return {"T_MD": t_md, "rows": rows, "tau_per_cpu_s": rate, "cpu_s": time.process_time() - start}, configs


def pt_run(args, ka, start_positions, tau_top: float) -> dict:
    from glassmm.sampling.tempering import ParallelTempering, geometric_ladder, tune_ladder

    R = args.replicas
    ladder = geometric_ladder(args.pt_bottom, args.pt_top, R)
    t0 = time.process_time()

    def tempering(temperatures, seed):  # every replica from MD's configuration at the top rung
        return ParallelTempering(ka.system, start_positions, temperatures, ka.types, ka.box, md_steps=args.md_steps,
                                 dt=DT, dimensions=ka.dimensions, seed=seed, progress=False, frame_every=0)

    if args.tune:
        pt = tempering(ladder, args.seed)
        pt.run(args.tune)
        ladder = tune_ladder(ladder, pt.acceptance())
        pt.close()
        print(f"PT: ladder respaced after {args.tune} rounds: {np.round(ladder, 4).tolist()}", flush=True)
    pt = tempering(ladder, args.seed + 1)
    fresh = np.zeros(R, dtype=np.int64)
    # A replica is "charged" once it has spent tau_alpha(top) of MD time at the top rung (its
    # configuration decorrelated there); it then delivers one fresh configuration to each lower rung it
    # reaches before it is charged again. Every replica starts uncharged (all start from one configuration).
    charged = np.zeros(R, dtype=bool)
    counted = np.zeros((R, R), dtype=bool)
    top_time = np.zeros(R)
    round_tau = args.md_steps * DT

    def tally(p) -> bool:
        rung_of = np.empty(R, dtype=np.int64)
        rung_of[p.assignment] = np.arange(R)
        for r in range(R):
            k = rung_of[r]
            if k == R - 1:
                top_time[r] += round_tau
                if top_time[r] >= tau_top:
                    charged[r], top_time[r] = True, 0.0
                    counted[r] = False
            elif charged[r] and not counted[r, k]:
                fresh[k] += 1
                counted[r, k] = True
        return time.process_time() - t0 > args.budget

    pt.run(10**9, callback=tally)
    summary = pt.summary()
    pt.close()
    wall = time.process_time() - t0
    ok = [float(ladder[k]) for k in range(R - 1) if fresh[k] >= FRESH_NEEDED]
    out = {"T_PT": min(ok) if ok else None, "ladder": [float(x) for x in ladder], "fresh_arrivals": fresh.tolist(),
           "acceptance": summary["acceptance"], "round_trips": int(sum(summary["round_trips"])), "rounds": summary["rounds"],
           "cpu_s": wall, "md_steps": args.md_steps, "tau_alpha_top": tau_top}
    print(f"PT: {summary['rounds']} rounds in {wall:.0f} CPU s; fresh arrivals by rung {fresh.tolist()}; acceptance "
          f"{np.round(np.asarray(summary['acceptance'], dtype=float), 2).tolist()}; round trips {out['round_trips']}", flush=True)
    return out


def plot(result: dict, path: Path) -> None:
    """MD's tau_alpha against T (with the T it could not finish) and PT's fresh arrivals per rung."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    rows = [r for r in result["md"]["rows"] if r["reached"]]
    a.semilogy([r["T"] for r in rows], [r["tau_alpha"] for r in rows], "o-", label="MD tau_alpha (drift-free Q of A)")
    for r in result["md"]["rows"]:
        if not r["reached"]:
            a.axvline(r["T"], color="gray", ls="--", lw=0.8, label=f"T = {r['T']}: not equilibrated in {r['run_tau']:.0f} tau")
    a.set_xlabel("T (reduced)")
    a.set_ylabel("tau_alpha (tau)")
    a.legend(fontsize=7)
    pt = result["pt"]
    b.plot(pt["ladder"][:-1], pt["fresh_arrivals"][:-1], "s-")
    b.axhline(FRESH_NEEDED, color="gray", ls="--", lw=0.8)
    b.set_xlabel("rung T (reduced)")
    b.set_ylabel("fresh arrivals")
    b.set_title(f"PT, {len(pt['ladder'])} rungs, {pt['round_trips']} round trips", fontsize=9)
    fig.suptitle(f"2D ternary, N = 43: T_MD = {result['T_MD']}, T_PT = {result['T_PT']} in {result['budget_s']:.0f} CPU s each",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=600.0, help="CPU seconds of this process for each method")
    p.add_argument("--md-temperatures", type=float, nargs="+",
                   default=[0.6, 0.5, 0.45, 0.42, 0.4, 0.38, 0.36, 0.34, 0.32, 0.30, 0.28])
    p.add_argument("--pt-top", type=float, default=0.6)
    p.add_argument("--pt-bottom", type=float, default=0.2)
    p.add_argument("--replicas", type=int, default=10)
    p.add_argument("--md-steps", type=int, default=200, help="Langevin steps per replica between exchange sweeps")
    p.add_argument("--tune", type=int, default=100, help="rounds before respacing the ladder (0: geometric)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/ternary_lowest_t")
    args = p.parse_args(argv)

    import glassmm
    from glassmm.platforms import processor_name

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ka = glassmm.KobAndersen(43, table="TERNARY2D", dimensions=2, box=(6.0, 6.0, 6.0), positions="random", seed=args.seed)
    print(f"processor: {processor_name()}; budget {args.budget:.0f} s per method", flush=True)
    md, configs = md_cooling(args, ka)
    top = min(configs, key=lambda T: abs(T - args.pt_top))
    tau_top = next(r["tau_alpha"] for r in md["rows"] if r["T"] == top)
    pt = pt_run(args, ka, configs[top], tau_top)
    result = {"processor": processor_name(), "n": 43, "box": 6.0, "budget_s": args.budget, "criterion":
              f"{FRESH_NEEDED} tau_alpha of MD / {FRESH_NEEDED} fresh arrivals per PT rung", "md": md, "pt": pt,
              "T_MD": md["T_MD"], "T_PT": pt["T_PT"], "paper": {"T_MD": 0.30, "T_PT": 0.23, "T_NF": 0.20}}
    (out / "result.json").write_text(json.dumps(result, indent=1))
    try:
        plot(result, out / "lowest_t.png")
    except Exception as exc:  # the figures stand without the plot
        print(f"no plot: {exc}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
