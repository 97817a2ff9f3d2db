"""glassmm's KA dynamics against published alpha-relaxation times.

tau_alpha from F_s(q = 7.25, t) of A particles = 1/e at N = 4096, density 1.2; published
values for the same model: about 16.5 at T = 0.64 and 52 at T = 0.56. Protocol: melt, quench
and equilibrate with Langevin (friction 1/tau), then measure under Nose-Hoover (Newtonian
dynamics with a weak thermostat).

Measured 2026-11-24 (drift-free measurement, N = 4096, 198 tau equilibrated): tau_alpha(0.64)
= 7.65, ratio 0.46. The configurational temperature of glassmm's configurations matches the
nominal T, so check where the cited values come from (time unit, definition) before the engine.

Last output line: JSON with the measured and published tau_alpha per temperature.
"""

from __future__ import annotations

import argparse
import json
import time

PUBLISHED = {0.64: 16.5, 0.56: 52.0}


def main() -> None:
    import glassmm
    from glassmm.dataset import measure_tau_alpha
    from glassmm.geometry import zero_momentum
    from glassmm.simulation import create_simulation, get_positions, get_velocities, melt_and_quench

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-T", "--temperatures", type=float, nargs="+", default=[0.64])
    ap.add_argument("-n", "--n-particles", type=int, default=4096)
    ap.add_argument("--equilibration", type=float, nargs="+", default=None,
                    help="equilibration time per temperature (tau); default 12 x published tau_alpha")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = []
    for i, T in enumerate(args.temperatures):
        t0 = time.perf_counter()
        eq = args.equilibration[i] if args.equilibration else 12 * PUBLISHED.get(T, 20.0)
        ka = glassmm.KobAndersen(args.n_particles, positions="random", seed=args.seed)
        sim = create_simulation(ka, "langevin", temperature=T, seed=args.seed)
        melt_and_quench(sim, T, equilibration_time=eq, progress=True)
        ka.positions_reduced = get_positions(sim.context)
        v = get_velocities(sim.context)
        nh = create_simulation(ka, "nose-hoover", temperature=T, seed=args.seed, velocities=zero_momentum(v))
        tau, sd = measure_tau_alpha(nh, ka.types, frame_interval=0.2, max_time=20 * PUBLISHED.get(T, 50.0), progress=f"T={T}")
        row = {"temperature": T, "tau_alpha": round(tau, 3), "published": PUBLISHED.get(T),
               "ratio": round(tau / PUBLISHED[T], 3) if T in PUBLISHED else None,
               "equilibration_tau": eq, "n_particles": args.n_particles, "seconds": round(time.perf_counter() - t0, 1)}
        print(row, flush=True)
        out.append(row)
    print(json.dumps({"tau_alpha": out}))


if __name__ == "__main__":
    main()
