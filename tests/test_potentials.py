"""The pair-potential table (glassmm.potentials) against independent references."""

import numpy as np
import openmm
import pytest

from glassmm import potentials, units
from glassmm.potentials import KA, KA2D, PairTable, get_table

from .reference import EPS, SIG, lj_shifted, pair_sum_energy


def _liquid(n=300, box=7.5, seed=3, n_types=2, min_dist=0.8):
    """Random positions without close contacts (rejection), types drawn at random."""
    rng = np.random.default_rng(seed)
    pos = []
    while len(pos) < n:
        x = rng.uniform(0, box, 3)
        if pos:
            d = np.asarray(pos) - x
            d -= box * np.round(d / box)
            if np.min((d * d).sum(1)) < min_dist**2:
                continue
        pos.append(x)
    return np.asarray(pos), rng.integers(0, n_types, n), np.full(3, box)


def _reference_energy_forces(force, pos, box):
    system = openmm.System()
    for _ in range(len(pos)):
        system.addParticle(1.0)
    system.setDefaultPeriodicBoxVectors(*[openmm.Vec3(*row) for row in np.diag(box)])
    system.addForce(force)
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(units.length_to_openmm(pos))
    st = ctx.getState(energy=True, forces=True)
    return (units.as_reduced_energy(st.getPotentialEnergy()),
            units.forces_from_openmm(st.getForces(asNumpy=True)))


def test_ka_table_matches_kob_andersen_1995():
    for (a, b), eps in EPS.items():
        e, s, rc, sh = KA.row(a, b)
        assert (e, s) == (eps, SIG[(a, b)])
        assert rc == pytest.approx(2.5 * SIG[(a, b)], rel=1e-15)
        x = (1 / 2.5) ** 6
        assert sh == pytest.approx(4 * eps * (x * x - x), rel=1e-14)
    assert KA.fractions == (0.8, 0.2) and KA.dimensions == 3 and KA.max_cutoff == 2.5
    assert KA2D.fractions == (0.65, 0.35) and KA2D.dimensions == 2
    assert np.array_equal(KA2D.epsilon, KA.epsilon) and np.array_equal(KA2D.sigma, KA.sigma)


@pytest.mark.parametrize("pair", [(0, 0), (0, 1), (1, 1)])
def test_pair_functions_match_analytic_and_finite_differences(pair):
    r = np.linspace(0.85, 2.6, 57) * SIG[pair]
    u, du, d2u = KA.pair_terms(r, *pair)
    assert np.allclose(u, lj_shifted(r, EPS[pair], SIG[pair]), rtol=1e-13, atol=1e-15)
    inside = r < 2.5 * SIG[pair] - 1e-4
    h = 1e-6
    fd1 = (KA.energy(r + h, *pair) - KA.energy(r - h, *pair)) / (2 * h)
    fd2 = (KA.pair_terms(r + h, *pair)[1] - KA.pair_terms(r - h, *pair)[1]) / (2 * h)
    assert np.allclose(du[inside], fd1[inside], rtol=1e-6, atol=1e-8)
    assert np.allclose(d2u[inside], fd2[inside], rtol=1e-6, atol=1e-6)
    assert np.array_equal(KA.force(r, *pair), -du)
    assert np.all(u[~(r < 2.5 * SIG[pair])] == 0.0)


def test_direct_pair_sum_matches_independent_kdtree_sum_and_finite_differences():
    pos, types, box = _liquid()
    e, f = KA.energy_and_forces(pos, types, box)
    assert e == pytest.approx(pair_sum_energy(pos, types, box), rel=1e-12)
    assert np.abs(f.sum(0)).max() < 1e-9  # Newton's third law
    rng = np.random.default_rng(1)
    h = 1e-6
    for i in rng.choice(len(pos), 5, replace=False):
        for k in range(3):
            p, m = pos.copy(), pos.copy()
            p[i, k] += h
            m[i, k] -= h
            fd = -(KA.total_energy(p, types, box) - KA.total_energy(m, types, box)) / (2 * h)
            assert f[i, k] == pytest.approx(fd, rel=1e-5, abs=1e-6)


def test_custom_nonbonded_fallback_equals_the_table_in_double_precision():
    pos, types, box = _liquid()
    e_ref, f_ref = KA.energy_and_forces(pos, types, box)
    e, f = _reference_energy_forces(KA.custom_nonbonded_force(types), pos, box)
    assert e == pytest.approx(e_ref, rel=1e-12)
    assert np.abs(f - f_ref).max() <= 1e-12 * np.abs(f_ref).max()


def _made_up_ternary() -> PairTable:
    """A ternary table with every pair different (one truncated pair, per-pair cutoffs)."""
    return PairTable(name="T3", species=("A", "B", "C"),
                     epsilon=[[1.0, 1.5, 0.7], [1.5, 0.5, 0.9], [0.7, 0.9, 1.2]],
                     sigma=[[1.0, 0.8, 0.9], [0.8, 0.88, 0.85], [0.9, 0.85, 0.95]],
                     cutoff=[[2.5, 2.0, 2.3], [2.0, 2.2, 1.9], [2.3, 1.9, 2.4]],
                     shifted=[[True, True, False], [True, True, True], [False, True, True]],
                     fractions=(0.6, 0.2, 0.2))


def test_a_three_species_table_is_a_new_table_not_new_formulas():
    """A made-up ternary: the generic S*t1+t2 key of the fallback force equals the numpy pair sum."""
    t3 = _made_up_ternary()
    assert t3.shift[0, 2] == 0.0 and t3.shift[1, 2] != 0.0
    pos, types, box = _liquid(n_types=3)
    e_ref, f_ref = t3.energy_and_forces(pos, types, box)
    e, f = _reference_energy_forces(t3.custom_nonbonded_force(types), pos, box)
    assert e == pytest.approx(e_ref, rel=1e-12)
    assert np.abs(f - f_ref).max() <= 1e-12 * np.abs(f_ref).max()


def test_bad_tables_and_types_are_named():
    with pytest.raises(ValueError, match="symmetric"):
        PairTable(name="x", species=("A", "B"), epsilon=[[1, 2], [1, 1]], sigma=np.ones((2, 2)),
                  cutoff=np.ones((2, 2)), shifted=np.ones((2, 2), bool), fractions=(0.5, 0.5))
    with pytest.raises(ValueError, match=r"no parameters for pairs \[\('B', 'B'\)\]"):
        PairTable.from_pairs("x", ("A", "B"), {("A", "A"): (1, 1), ("A", "B"): (1, 1)}, fractions=(0.5, 0.5))
    with pytest.raises(ValueError, match="fractions"):
        PairTable.from_pairs("x", ("A",), {("A", "A"): (1, 1)}, fractions=(0.5,))
    with pytest.raises(ValueError, match="not defined yet.*Parmar"):
        get_table("KA2")
    with pytest.raises(ValueError, match="unknown pair table"):
        get_table("nope")
    with pytest.raises(ValueError, match=r"found \[2\]"):
        KA.validate_types([0, 1, 2])
    assert get_table("ka") is KA and potentials.ka_table(2) is KA2D


def test_systems_aliases_read_the_table():
    from glassmm import systems

    assert systems.KA_PAIR_PARAMETERS == {(0, 0): (1.0, 1.0), (0, 1): (1.5, 0.8), (1, 1): (0.5, 0.88)}
    assert systems.KA_CUTOFF_FACTOR == 2.5 and systems.KA_MAX_CUTOFF == 2.5
    r = np.array([0.9, 1.3, 2.1])
    assert np.array_equal(systems.ka_pair_energy(r, 0, 1), KA.energy(r, 0, 1))
    assert np.array_equal(systems.ka_pair_force(r, 1, 1), KA.force(r, 1, 1))


@pytest.mark.parametrize("pair", [(0, 0), (0, 1), (1, 1), (0, 2), (2, 1)])
def test_custom_nonbonded_definitions_pick_each_pairs_row(pair):
    """What other expressions (the NCMC soft-core twin) build on: eps, sig, rc, sh, shon of the pair."""
    t3 = _made_up_ternary()
    table = KA if max(pair) < 2 else t3
    probes = {"eps": 0, "sig": 1, "rc": 2, "sh": 3, "shon": 4}
    pos = np.array([[1.0, 1.0, 1.0], [2.0, 1.0, 1.0]])
    for name, col in probes.items():
        force = openmm.CustomNonbondedForce(f"{name};" + table.custom_nonbonded_definitions())
        force.addPerParticleParameter("t")
        force.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffPeriodic)
        force.setCutoffDistance(3.0)
        for t in pair:
            force.addParticle([float(t)])
        got, _ = _reference_energy_forces(force, pos, np.full(3, 8.0))
        want = [*table.row(*pair), float(table.shifted[pair])][col]
        assert got == want, name


# ---------------------------------------------------------------------------- smoothed tables
# The 2D ternary model of Jung, Biroli & Berthier as its authors' code writes it (StructDynGlass,
# model "KA2-2D"), transcribed here independently of glassmm.potentials.
_JBB_EPS = {(0, 0): 1.0, (0, 1): 1.5, (1, 1): 0.5, (0, 2): 0.75, (1, 2): 1.5, (2, 2): 0.75}
_JBB_SIG = {(0, 0): 1.0, (0, 1): 0.8, (1, 1): 0.88, (0, 2): 0.9, (1, 2): 0.8, (2, 2): 0.94}
_JBB_C = (0.04049023795, -0.00970155098, 0.00062012616)


def _jbb(r, pair):
    eps, sig = _JBB_EPS[pair], _JBB_SIG[pair]
    x = (sig / r) ** 6
    q = (r / sig) ** 2
    return np.where(r < 2.5 * sig, 4 * eps * (x * x - x + _JBB_C[0] + _JBB_C[1] * q + _JBB_C[2] * q * q), 0.0)


@pytest.mark.parametrize("pair", sorted(_JBB_EPS))
def test_smoothed_ternary_pairs_match_the_authors_formula_and_vanish_smoothly(pair):
    from glassmm.potentials import TERNARY2D

    sig = _JBB_SIG[pair]
    r = np.linspace(0.85, 2.6, 61) * sig
    u, du, d2u = TERNARY2D.pair_terms(r, *pair)
    assert np.allclose(u, _jbb(r, pair), rtol=1e-13, atol=1e-15)
    h = 1e-6
    fd1 = (TERNARY2D.energy(r + h, *pair) - TERNARY2D.energy(r - h, *pair)) / (2 * h)
    fd2 = (TERNARY2D.pair_terms(r + h, *pair)[1] - TERNARY2D.pair_terms(r - h, *pair)[1]) / (2 * h)
    inside = r < 2.5 * sig - 1e-4
    assert np.allclose(du[inside], fd1[inside], rtol=1e-6, atol=1e-8)
    assert np.allclose(d2u[inside], fd2[inside], rtol=1e-6, atol=1e-6)
    # U, U' and U'' reach zero at the cutoff (to the 11 digits of the published constants), where a
    # shifted pair's force would jump by ~0.04 eps / sigma
    at = TERNARY2D.pair_terms(np.array([2.5 * sig * (1 - 1e-12)]), *pair)
    assert max(abs(float(v[0])) for v in at) < 1e-8
    assert TERNARY2D.shift[pair] == 0.0 and TERNARY2D.smoothed


def test_smoothed_custom_force_matches_the_direct_pair_sum():
    from glassmm.potentials import TERNARY2D

    pos, types, box = _liquid(n=250, box=7.0, n_types=3)
    e_ref, f_ref = TERNARY2D.energy_and_forces(pos, types, box)
    e, f = _reference_energy_forces(TERNARY2D.custom_nonbonded_force(types), pos, box)
    assert e == pytest.approx(e_ref, rel=1e-10)
    assert np.allclose(f, f_ref, rtol=1e-8, atol=1e-8)


def test_smoothed_tables_are_refused_where_only_plain_pairs_are_implemented():
    import glassmm
    from glassmm.potentials import TERNARY2D
    from glassmm.sampling.ncmc import softcore_expression

    with pytest.raises(NotImplementedError, match="smoothed"):
        TERNARY2D.pair_table_force(np.zeros(4, int))
    with pytest.raises(NotImplementedError, match="smoothed"):
        softcore_expression(TERNARY2D)
    with pytest.raises(NotImplementedError, match="smoothed"):
        glassmm.KobAndersen(43, table="TERNARY2D", dimensions=2, force="plugin")
    auto = glassmm.KobAndersen(43, table="TERNARY2D", dimensions=2, force="auto")
    assert auto.force_kind == "custom"
    with pytest.raises(ValueError, match="shifts no pair"):
        PairTable.from_pairs("bad", ("A",), {("A", "A"): (1.0, 1.0)}, fractions=(1.0,), shifted=True,
                             smoothing=(0.1, 0.0, 0.0))
