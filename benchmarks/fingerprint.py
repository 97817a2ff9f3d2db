"""A fingerprint of glassmm's numbers, to check that a refactor changed none of them.

    python benchmarks/fingerprint.py                           # this checkout
    git worktree add /tmp/before HEAD~1 && PYTHONPATH=/tmp/before python benchmarks/fingerprint.py

Seeded, single-threaded: a random KA start, 400 Langevin steps, the pair energy, the bundled
BOTAN propensity and T-BOTAN temperature of the result, tau_alpha of a fixed random walk and
g_AA(r). Hashes of arrays and the floats themselves; two checkouts that compute the same
physics print the same line. (Runs against older checkouts too: it falls back to the
pre-0.1 ``SelfDynamics.compute_trajectory`` name.)
"""

from __future__ import annotations

import hashlib
import json

import numpy as np


def _sha(a: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest()[:12]


def main() -> None:
    import glassmm
    from glassmm.analysis import RadialDistribution, SelfDynamics
    from glassmm.simulation import create_simulation, get_positions, potential_energy_per_particle, run

    ka = glassmm.KobAndersen(500, positions="random", seed=1)
    out = {"start": _sha(ka.positions_reduced)}
    sim = create_simulation(ka, "langevin", temperature=0.8, seed=2, threads=1)
    run(sim, 400)
    pos = get_positions(sim.context)
    out["md"] = _sha(pos)
    out["U_per_N"] = potential_energy_per_particle(pos, ka.types, ka.box)
    out["propensity"] = _sha(glassmm.load_model("botan-ka-T0.44-ts")(pos, ka.box, ka.types).propensity)
    out["tbotan_temperature"] = glassmm.load_model("tbotan-ka")(pos, ka.box, ka.types).temperature
    walk = np.cumsum(np.random.default_rng(0).normal(0, 0.05, (60, 400, 3)), axis=0)
    times = np.arange(60) * 0.1
    sd = SelfDynamics(species=None)
    sd = sd.compute(walk, times=times) if hasattr(sd, "compute") else sd.compute_trajectory(times, walk)
    out["tau_alpha_walk"] = sd.tau_alpha
    out["g_AA"] = _sha(np.asarray(RadialDistribution(pair=(0, 0)).accumulate(pos, ka.box, ka.types).g))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
