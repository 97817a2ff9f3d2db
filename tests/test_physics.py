"""The KA force field against independent references (analytic, pair sum, finite differences)."""

import numpy as np
import pytest

import glassmm
from glassmm.simulation import create_simulation, evaluate, get_forces, potential_energy, run

from .conftest import needs_shared
from .reference import EPS, SIG, lj_shifted, pair_sum_energy

BOX = np.array([12.0, 12.0, 12.0])


def _dimer_energy(r, ti, tj, platform="Reference"):
    pos = np.array([[1.0, 1.0, 1.0], [1.0 + r, 1.0, 1.0]])
    e, f = evaluate(pos, np.array([ti, tj]), BOX, platform, forces=True)
    return e, f


@pytest.mark.parametrize("pair", [(0, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("r_over_sigma", [0.95, 1.1224620483, 1.5, 2.2])
def test_pair_energy_and_force_match_analytic(pair, r_over_sigma):
    ti, tj = pair
    r = r_over_sigma * SIG[pair]
    e, f = _dimer_energy(r, ti, tj)
    assert e == pytest.approx(float(lj_shifted(r, EPS[pair], SIG[pair])), rel=1e-10, abs=1e-12)
    # analytic force along x on particle 1: -dU/dr
    sig, eps = SIG[pair], EPS[pair]
    fr = 24 * eps * (2 * (sig / r) ** 12 - (sig / r) ** 6) / r
    assert f[1, 0] == pytest.approx(fr, rel=1e-9, abs=1e-12)
    assert f[0, 0] == pytest.approx(-fr, rel=1e-9, abs=1e-12)
    # glassmm's own analytic helpers agree too
    assert float(glassmm.ka_pair_energy(r, ti, tj)) == pytest.approx(e, rel=1e-10, abs=1e-12)
    assert float(glassmm.ka_pair_force(r, ti, tj)) == pytest.approx(fr, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("pair", [(0, 0), (0, 1), (1, 1)])
def test_zero_beyond_cutoff_and_continuous(pair):
    rc = 2.5 * SIG[pair]
    e_out, f_out = _dimer_energy(rc + 1e-6, *pair)
    assert e_out == 0.0 and np.all(f_out == 0.0)
    e_in, _ = _dimer_energy(rc - 1e-6, *pair)
    assert abs(e_in) < 1e-6  # shifted: continuous at the cutoff
    e_far, _ = _dimer_energy(rc + 0.3, *pair)
    assert e_far == 0.0


def test_minimum_image_across_boundary():
    # particles near opposite faces interact through the periodic image
    pos = np.array([[0.2, 5.0, 5.0], [11.5, 5.0, 5.0]])  # image distance 12 - 11.5 + 0.2 = 0.7
    e, _ = evaluate(pos, np.array([0, 0]), BOX, "Reference")
    assert e == pytest.approx(float(lj_shifted(0.7, 1.0, 1.0)), rel=1e-10)


def test_finite_difference_forces(small_liquid):
    ka = small_liquid
    pos0 = ka.positions_reduced.copy()
    e0, f = evaluate(pos0, ka.types, ka.box, "Reference", forces=True)
    rng = np.random.default_rng(0)
    h = 1e-5
    for i in rng.choice(ka.n_particles, 6, replace=False):
        for k in range(3):
            p = pos0.copy(); p[i, k] += h
            m = pos0.copy(); m[i, k] -= h
            fd = -(evaluate(p, ka.types, ka.box)[0] - evaluate(m, ka.types, ka.box)[0]) / (2 * h)
            assert fd == pytest.approx(f[i, k], rel=1e-5, abs=1e-5)


def test_total_force_vanishes(small_liquid):
    _, f = evaluate(small_liquid.positions_reduced, small_liquid.types, small_liquid.box, forces=True)
    assert np.abs(f.sum(axis=0)).max() < 1e-8


def test_small_liquid_energy_against_pair_sum(small_liquid):
    ka = small_liquid
    e, _ = evaluate(ka.positions_reduced, ka.types, ka.box, "CPU")
    assert e == pytest.approx(pair_sum_energy(ka.positions_reduced, ka.types, ka.box), rel=1e-6)


@needs_shared
def test_shared_configurations_energy_against_pair_sum(shared_files):
    for path in shared_files:
        c = glassmm.load_configuration(path)
        e = glassmm.potential_energy_per_particle(c.positions, c.types, c.box, "Reference")
        ref = pair_sum_energy(c.positions, c.types, c.box) / c.n_particles
        assert e == pytest.approx(ref, rel=1e-10), path.name
        assert -7.15 < e < -6.85, f"{path.name}: U/N = {e}, the data README says about -7.0"


@needs_shared
def test_reference_and_cpu_forces_agree(shared_config):
    c = shared_config
    _, f_ref = evaluate(c.positions, c.types, c.box, "Reference", forces=True)
    _, f_cpu = evaluate(c.positions, c.types, c.box, "CPU", forces=True)
    rel = np.linalg.norm(f_ref - f_cpu, axis=1) / np.linalg.norm(f_ref, axis=1)
    assert np.median(rel) < 1e-4
    assert np.max(rel) < 1e-2


def test_nve_energy_drift_bounded(small_liquid):
    ka = small_liquid
    sim = create_simulation(ka, "nve", temperature=1.0, platform="CPU", seed=1)
    n = ka.n_particles
    energies = []
    for _ in range(20):
        run(sim, 200)
        st = sim.context.getState(energy=True)
        ke = st.getKineticEnergy()._value
        energies.append(potential_energy(sim.context) + ke)
    energies = np.array(energies) / n
    t = np.arange(len(energies)) * 200 * 0.005
    slope = np.polyfit(t, energies, 1)[0]
    # Measured: slope -8.9e-6 per particle per tau, spread 1.5e-3 per particle over 20 tau
    # (N = 256, T = 1, dt = 0.005, CPU platform). A wrong force or integrator drifts by >1e-2.
    assert abs(slope) < 1e-4, f"drift {slope:.2e} per particle per tau"
    assert np.ptp(energies) < 5e-3, f"total energy fluctuation {np.ptp(energies):.2e} per particle"


@pytest.mark.parametrize("integrator", ["langevin", "nose-hoover"])
def test_nvt_kinetic_temperature(small_liquid, integrator):
    ka = small_liquid
    T = 0.8
    sim = create_simulation(ka, integrator, temperature=T, seed=7)
    run(sim, 1000)
    samples = []
    dof = 3 * ka.n_particles  # no constraints; thermostats do not conserve momentum exactly
    for _ in range(400):
        run(sim, 25)
        ke = sim.context.getState(energy=True).getKineticEnergy()._value
        samples.append(2 * ke / dof)
    samples = np.array(samples)
    blocks = samples.reshape(20, -1).mean(axis=1)  # block averages absorb correlation
    sem = blocks.std(ddof=1) / np.sqrt(len(blocks))
    assert abs(samples.mean() - T) < 4 * sem + 0.005, (samples.mean(), sem)


def test_2d_system_stays_in_plane():
    ka = glassmm.KobAndersen2D(400, positions="random", seed=1)
    assert ka.dimensions == 2 and abs(ka.density - 1.2) < 1e-12
    assert np.sum(ka.types == 0) == 260  # 65:35
    sim = create_simulation(ka, "langevin", temperature=0.8, seed=2)
    run(sim, 300)
    from glassmm.simulation import get_positions, get_velocities

    assert np.all(get_positions(sim.context)[:, 2] == 0.0)
    assert np.all(get_velocities(sim.context)[:, 2] == 0.0)
    assert np.isfinite(potential_energy(sim.context))
