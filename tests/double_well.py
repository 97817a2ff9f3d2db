"""The samplers' exactly solvable test case: independent particles in a double well.

U = h (x^2 - 1)^2 + (y^2 + z^2) / 2 per particle, kT = 1. Exactness tests run R independent
chains, each started from an exact draw of the equilibrium distribution (so no burn-in can
hide a bias, and stationarity is what is tested), and compare the chains' x histogram with the
exact marginal. The error of each bin comes from the scatter *between* chains, which are
independent: no batch means, no autocorrelation estimate, and with R chains the z-score is
Student's t with R - 1 degrees of freedom (near normal for R >= 30).
"""

from __future__ import annotations

import math

import numpy as np

#: bins of x used by every double-well test
EDGES = np.array([-2.5, -1.4, -1.0, -0.6, 0.0, 0.6, 1.0, 1.4, 2.5])


def double_well(n: int = 2, height: float = 1.0, soft: bool = False, platform: str = "Reference", seed: int | None = None):
    """An ``openmm.app.Simulation`` of n independent particles in the double well (Langevin, T* = 1).

    ``soft``: a per-particle ``soft`` flag scales a particle's double well by the global
    ``lambda_soft`` (1 by default), which region NCMC moves use to soften their members.
    """
    import openmm
    import openmm.app as app
    import openmm.unit as u

    import glassmm

    system = openmm.System()
    well = f"{height}*(x^2-1)^2"
    force = openmm.CustomExternalForce((f"(1 - (1 - lambda_soft)*soft)*{well}" if soft else well) + " + 0.5*(y^2+z^2)")
    if soft:
        force.addPerParticleParameter("soft")
        force.addGlobalParameter("lambda_soft", 1.0)
    for i in range(n):
        system.addParticle(1.0)
        force.addParticle(i, [0.0] if soft else [])
    system.addForce(force)
    top = app.Topology()
    chain = top.addChain()
    for _ in range(n):
        top.addAtom("X", app.Element.getBySymbol("Ar"), top.addResidue("X", chain))
    integ = openmm.LangevinMiddleIntegrator(glassmm.units.temperature_to_kelvin(1.0), 1.0, 0.005)
    if seed is not None:
        integ.setRandomNumberSeed(seed)
    sim = app.Simulation(top, system, integ, openmm.Platform.getPlatformByName(platform))
    x0 = np.zeros((n, 3))
    x0[:, 0] = 1.0
    sim.context.setPositions(x0 * u.nanometer)
    return sim


def _x_grid(height: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(-3.0, 3.0, 60001)
    cdf = np.cumsum(np.exp(-height * (x * x - 1) ** 2))
    return x, cdf / cdf[-1]


def exact_draws(n: int, height: float, rng: np.random.Generator) -> np.ndarray:
    """n positions (n, 3) drawn from the exact equilibrium distribution (x by inverse transform)."""
    x, cdf = _x_grid(height)
    out = rng.normal(size=(n, 3))
    out[:, 0] = np.interp(rng.uniform(size=n), cdf, x)
    return out


def exact_bin_probabilities(edges: np.ndarray = EDGES, height: float = 1.0) -> np.ndarray:
    """Exact probability of each x bin."""
    from scipy.integrate import quad

    def w(x):
        return math.exp(-height * (x * x - 1) ** 2)

    z = quad(w, -math.inf, math.inf)[0]
    return np.array([quad(w, a, b)[0] / z for a, b in zip(edges[:-1], edges[1:])])


def chain_bin_z(xs: np.ndarray, edges: np.ndarray = EDGES, height: float = 1.0) -> np.ndarray:
    """z-score per bin of the x samples ``xs`` (R chains, T samples, n particles).

    Each chain's bin frequency is one independent estimate; z = (mean - exact) / (sd / sqrt(R)).
    """
    xs = np.asarray(xs, dtype=np.float64)
    p = exact_bin_probabilities(edges, height)
    freq = np.stack([((xs >= a) & (xs < b)).mean(axis=(1, 2)) for a, b in zip(edges[:-1], edges[1:])], axis=1)  # (R, bins)
    se = freq.std(axis=0, ddof=1) / math.sqrt(len(freq))
    # a bin no chain visits has no scatter: its error is at least that of independent samples
    floor = np.sqrt(p * (1 - p) / xs[..., 0].size)
    return (freq.mean(axis=0) - p) / np.maximum(se, floor)


def set_exact_state(sim, n: int, height: float, rng: np.random.Generator) -> None:
    """Put an exact equilibrium draw (positions and Maxwell-Boltzmann velocities, kT = m = 1) into ``sim``."""
    import openmm.unit as u

    sim.context.setPositions(exact_draws(n, height, rng) * u.nanometer)
    sim.context.setVelocities(rng.normal(size=(n, 3)) * u.nanometer / u.picosecond)


def tempering_chains(exchange, chains: int, rounds: int, temps=(0.4, 0.6, 0.9), height: float = 1.5, n: int = 3, seed: int = 0):
    """x at each rung after every round of ``chains`` independent PT runs, each started from exact
    equilibrium draws at its rungs; and the acceptance per pair."""
    from glassmm.sampling.tempering import ParallelTempering

    sim = double_well(n, height)  # kept alive: its context owns the system
    system = sim.system
    rng = np.random.default_rng(seed)
    xs = np.empty((len(temps), chains, rounds, n))
    acc = []
    for c in range(chains):
        # exact draws at each rung: the double well at T is the kT = 1 well of height h / T (x), y, z ~ N(0, T)
        starts = []
        for T in temps:
            x = exact_draws(n, height / T, rng)
            x[:, 1:] *= math.sqrt(T)
            starts.append(x)
        pt = ParallelTempering(system, np.array(starts), temps, np.zeros(n, dtype=int), None, md_steps=10, exchange=exchange,
                               platform="Reference", seed=1000 * seed + c, frame_every=0, progress=False)
        for t in range(rounds):
            pt.step()
            states = pt.pool.call("get_state")
            for k in range(len(temps)):
                xs[k, c, t] = states[pt.assignment[k]][0][:, 0]
        acc.append(pt.acceptance())
        pt.close()
    return xs, np.nanmean(acc, axis=0)
