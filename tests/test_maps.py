"""Learned temperature maps: energies, exact log-Jacobians, inverses, symmetries, and the mapped exchange
(the identity is the plain swap; the rule is the exact one and a dropped Jacobian is caught on double wells)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import glassmm
from glassmm.sampling.maps import (IdentityMap, MappedExchange, PairEnergy, PairFieldMap, TemperatureMap, kish_ess,
                                   load_map, pair_acceptance, save_map, train_map, works)
from glassmm.sampling.tempering import NeighbourExchange


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def ternary():
    """The 2D ternary glass-former of Jung, Biroli & Berthier at N = 43, L = 6, after 400 steps at T = 0.6."""
    from glassmm.simulation import create_simulation, get_positions, run

    ka = glassmm.KobAndersen(43, table="TERNARY2D", dimensions=2, box=(6.0, 6.0, 6.0), positions="random", seed=3,
                             force="custom")
    sim = create_simulation(ka, "langevin", temperature=0.6, seed=3, platform="Reference")
    run(sim, 400)
    ka.positions_reduced = get_positions(sim.context)
    return ka


@pytest.fixture(scope="module")
def ka3d():
    from glassmm.testing import equilibrated_liquid

    return equilibrated_liquid(160, 0.8, seed=4, steps=300, platform="Reference")


def _random_map(ka, structure, scale, steps=2, seed=0, r_cut=2.0):
    m = PairFieldMap(ka.types, ka.box, ka.dimensions, n_species=ka.table.n_species, n_steps=steps, structure=structure,
                     n_rbf=8, r_cut=r_cut, seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        m.weights.copy_(scale * torch.randn(m.weights.shape, generator=g, dtype=torch.float64))
    return m


# ---------------------------------------------------------------------------- the system and its energy
def test_ternary_2d_system_and_torch_energy(ternary, ka3d):
    """TERNARY2D builds as a glassmm system (20:11:12 at N = 43); OpenMM (Reference), the table's direct
    pair sum and the maps' torch pair energy agree."""
    from glassmm.simulation import potential_energy

    assert np.bincount(ternary.types).tolist() == [20, 11, 12] and ternary.density == pytest.approx(43 / 36)
    for ka in (ternary, ka3d):
        x = ka.positions_reduced
        ref = ka.table.total_energy(x, ka.types, ka.box)
        u = float(PairEnergy(ka.table, ka.types, ka.box, ka.dimensions)(torch.as_tensor(x[None]))[0])
        assert u == pytest.approx(ref, rel=1e-12, abs=1e-9)
        from glassmm.simulation import create_simulation

        sim = create_simulation(ka, "langevin", temperature=0.5, platform="Reference")
        assert potential_energy(sim.context) == pytest.approx(ref, rel=1e-9)


# ---------------------------------------------------------------------------- the map
@pytest.mark.parametrize("structure", ["coupling", "full"])
def test_log_jacobian_and_inverse_2d(ternary, structure):
    """The analytic log|det J| equals autograd's dense Jacobian; inverse(forward(x)) = x to 1e-10."""
    m = _random_map(ternary, structure, 0.01, steps=3)
    x = torch.as_tensor(ternary.positions_reduced[:, :2])
    y, logdet = m.forward(x[None])
    jac = m.jacobian_dense(x)
    assert float(logdet[0].detach()) == pytest.approx(float(torch.linalg.slogdet(jac)[1]), abs=1e-9)
    assert float((y[0] - x).detach().abs().max()) > 1e-3  # the map moves particles
    back, ld_back, residual = m.inverse(y.detach())
    assert float((back[0] - x).abs().max()) < 1e-10 and float(residual[0]) < 1e-10
    assert float(ld_back[0]) == pytest.approx(float(logdet[0]), abs=1e-10)


def test_log_jacobian_and_inverse_3d(ka3d):
    m = _random_map(ka3d, "coupling", 0.01, steps=2)
    x = torch.as_tensor(ka3d.positions_reduced)
    y, logdet = m.forward(x[None])
    jac = m.jacobian_dense(x)
    assert float(logdet[0]) == pytest.approx(float(torch.linalg.slogdet(jac)[1]), abs=1e-9)
    back, _, residual = m.inverse(y.detach())
    assert float((back[0] - x).abs().max()) < 1e-10 and float(residual[0]) < 1e-10


def test_map_symmetries(ternary):
    """Translations and the square box's quarter turn commute with the map; the centre of mass stays."""
    m = _random_map(ternary, "full", 0.01)
    x = torch.as_tensor(ternary.positions_reduced[:, :2])[None]
    y, ld = m.forward(x)
    shift = torch.tensor([0.37, -1.21], dtype=torch.float64)
    ys, lds = m.forward(x + shift)
    assert float((ys - y - shift).abs().max()) < 1e-12 and float(lds[0]) == pytest.approx(float(ld[0]), abs=1e-10)
    rot = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)
    yr, ldr = m.forward(x @ rot.T)
    assert float((yr - y @ rot.T).abs().max()) < 1e-12 and float(ldr[0]) == pytest.approx(float(ld[0]), abs=1e-10)
    assert float((y.mean(1) - x.mean(1)).abs().max()) < 1e-12


def test_gradients_of_backward_work_by_implicit_differentiation(ternary):
    """d w_b / d weights through the inverse (implicit function theorem) equals central finite differences."""
    from glassmm.sampling.maps import backward_work

    m = _random_map(ternary, "coupling", 0.005, steps=2)
    energy = PairEnergy(ternary.table, ternary.types, ternary.box, 2)
    y = torch.as_tensor(ternary.positions_reduced[None, :, :2])
    w, _ = backward_work(m, y, 1 / 0.5, 1 / 0.6, energy, differentiable=True)
    (grad,) = torch.autograd.grad(w.sum(), m.weights)
    idx = [(0, 0, 3), (1, 2, 4), (0, 5, 2)]
    for i in idx:
        h = 1e-6
        vals = []
        for sgn in (1, -1):
            with torch.no_grad():
                m.weights[i] += sgn * h
                vals.append(float(backward_work(m, y, 1 / 0.5, 1 / 0.6, energy)[0]))
                m.weights[i] -= sgn * h
        assert float(grad[i]) == pytest.approx((vals[0] - vals[1]) / (2 * h), rel=1e-4, abs=1e-6)


def test_training_raises_acceptance_and_the_map_saves(ternary, tmp_path):
    """A few dozen iterations on configurations near T = 0.6 and 0.66 lower the symmetrised loss on them (the
    acceptance it buys is the benchmarks' business); save/load round-trips; a killed run resumes from its
    checkpoint to the same length of history."""
    from glassmm.simulation import create_simulation, get_positions

    def samples(T, n, seed):
        sim = create_simulation(ternary, "langevin", temperature=T, seed=seed, platform="Reference")
        out = []
        for _ in range(n):
            sim.step(40)
            out.append(get_positions(sim.context))
        return np.array(out)

    src, tgt = samples(0.6, 40, 1), samples(0.66, 40, 2)
    energy = PairEnergy(ternary.table, ternary.types, ternary.box, 2)
    m = PairFieldMap(ternary.types, ternary.box, 2, n_species=3, n_steps=2, n_rbf=8, r_cut=2.0)
    before = works(m, src, tgt, 1 / 0.6, 1 / 0.66, energy)
    ck = tmp_path / "train.ckpt"
    h1 = train_map(m, src, tgt, 1 / 0.6, 1 / 0.66, energy, iterations=15, batch=8, lr=3e-3, checkpoint=ck, checkpoint_every=5)
    assert h1["iterations"] == 15
    m2 = PairFieldMap(ternary.types, ternary.box, 2, n_species=3, n_steps=2, n_rbf=8, r_cut=2.0)
    h2 = train_map(m2, src, tgt, 1 / 0.6, 1 / 0.66, energy, iterations=30, batch=8, lr=3e-3, checkpoint=ck, checkpoint_every=5)
    assert h2["iterations"] == 30 and len(h2["history"]) == 30
    after = works(m2, src, tgt, 1 / 0.6, 1 / 0.66, energy)
    loss = lambda w: w["w_forward"].mean() + w["w_backward"].mean()  # noqa: E731
    assert loss(after) < loss(before) - 0.05
    assert 0.0 < pair_acceptance(after["w_forward"], after["w_backward"]) <= 1.0
    save_map(tmp_path / "m.pt", m2, {"note": "test"})
    m3, meta = load_map(tmp_path / "m.pt")
    assert meta["note"] == "test" and torch.equal(m3.weights, m2.weights)
    with pytest.raises(ValueError, match="alpha"):
        train_map(m3, src, None, 1.0, 1.0, energy, alpha=0.5)


def test_kish_ess():
    assert kish_ess(np.zeros(50)) == pytest.approx(50)
    assert kish_ess(np.array([0.0, -np.inf, -1e3])) == pytest.approx(1.0)
    assert kish_ess(np.log([1.0, 1.0, 2.0])) == pytest.approx(16 / 6)


# ---------------------------------------------------------------------------- the exchange
def _exchange_inputs(ka, temps, seed=0):
    rng = np.random.default_rng(seed)
    energy = PairEnergy(ka.table, ka.types, ka.box, ka.dimensions)
    states = []
    for _ in temps:
        x = ka.positions_reduced.copy()
        x[:, : ka.dimensions] += rng.normal(scale=0.02, size=(len(x), ka.dimensions))
        states.append((x, np.zeros_like(x), float(energy(torch.as_tensor(x[None]))[0])))
    energies = np.array([s[2] for s in states])

    def energy_of(r, x):
        return float(energy(torch.as_tensor(x[None]))[0])

    return states, energies, energy_of, energy


def test_identity_map_is_the_plain_exchange(ternary):
    """MappedExchange with identity maps reproduces NeighbourExchange exactly (log alpha, decisions, assignment);
    a PairFieldMap with zero weights (the identity, computed) agrees to rounding."""
    temps = np.array([0.5, 0.55, 0.62, 0.7])
    states, energies, energy_of, _ = _exchange_inputs(ternary, temps)
    zero = PairFieldMap(ternary.types, ternary.box, 2, n_species=3, n_steps=2, n_rbf=8, r_cut=2.0)
    for parity in (0, 1):
        for seed in range(5):
            a, ra = NeighbourExchange().apply(temps, energies, np.arange(4)[::-1].copy(), parity, np.random.default_rng(seed))
            b, rb = MappedExchange([IdentityMap(2)] * 3).apply(temps, energies, np.arange(4)[::-1].copy(), parity,
                                                              np.random.default_rng(seed), states, energy_of)
            c, rc = MappedExchange([zero] * 3).apply(temps, energies, np.arange(4)[::-1].copy(), parity,
                                                    np.random.default_rng(seed), states, energy_of)
            assert a.tolist() == b.tolist() == c.tolist()
            for x, y, z in zip(ra, rb, rc):
                assert x["log_alpha"] == y["log_alpha"] and x["accepted"] == y["accepted"] == z["accepted"]
                assert z["log_alpha"] == pytest.approx(x["log_alpha"], abs=1e-9)


def test_mapped_rule_is_the_exact_formula(ternary):
    """ln alpha = -b1 U(M x_i) - b0 U(M^-1 x_j) + b0 U_i + b1 U_j + ln|J(x_i)| - ln|J(M^-1 x_j)|, evaluated
    independently; accepted records hand over both new configurations with their energies."""
    temps = np.array([0.5, 0.56])
    states, energies, energy_of, energy = _exchange_inputs(ternary, temps, seed=1)
    m = _random_map(ternary, "coupling", 0.01, steps=2, seed=2)
    ex = MappedExchange([m])
    new, recs = ex.apply(temps, energies, np.array([0, 1]), 0, np.random.default_rng(0), states, energy_of)
    (rec,) = recs
    xi, xj = (torch.as_tensor(states[r][0][None, :, :2]) for r in (0, 1))
    with torch.no_grad():
        yi, ldi = m.forward(xi)
        xj2, ldj, _ = m.inverse(xj)
        b0, b1 = 1 / temps
        expect = float(-b1 * energy(yi) - b0 * energy(xj2) + b0 * energies[0] + b1 * energies[1] + ldi - ldj)
    assert rec["log_alpha"] == pytest.approx(expect, abs=1e-8) and rec["reversibility"] < 1e-10
    assert abs(float(ldi[0])) > 0.1  # the Jacobian matters here
    # force acceptance: the records then carry the new states
    new, recs = ex.apply(temps, energies, np.array([0, 1]), 0, _AlwaysAccept(), states, energy_of)
    (rec,) = recs
    assert rec["accepted"] and new.tolist() == [1, 0]
    (r0, x0, u0), (r1, x1, u1) = rec["new_states"]
    assert (r0, r1) == (0, 1) and np.allclose(x0[:, :2], yi[0].numpy()) and np.allclose(x1[:, :2], xj2[0].numpy())
    assert u0 == pytest.approx(float(energy(yi)[0])) and np.all(x0[:, 2] == 0)


class _AlwaysAccept:
    def uniform(self):
        return 1e-300


def test_irreversible_proposals_are_rejected(ternary):
    """A map too strong to invert (Newton lands elsewhere or diverges) is rejected, never applied."""
    temps = np.array([0.5, 0.56])
    states, energies, energy_of, _ = _exchange_inputs(ternary, temps, seed=3)
    m = _random_map(ternary, "full", 3.0, steps=2, seed=5)
    ex = MappedExchange([m])
    _, (rec,) = ex.apply(temps, energies, np.array([0, 1]), 0, _AlwaysAccept(), states, energy_of)
    assert not rec["accepted"] and rec["log_alpha"] == -math.inf and ex.rejected_irreversible == 1
    assert "new_states" not in rec
    with pytest.raises(ValueError, match="states"):
        ex.apply(temps, energies, np.array([0, 1]), 0, np.random.default_rng(0))


# ---------------------------------------------------------------------------- exactness on double wells
class _TransportMap(TemperatureMap):
    """Monotone piecewise-linear transport of the double well's x marginal from T to T2 (y, z scaled by
    sqrt(T2/T)): a bijection with an exact, strongly varying Jacobian. Used from T to an overshot T2, so
    exchanges are accepted about 60% of the time and the Jacobian is what keeps them exact."""

    dimensions = 3

    def __init__(self, T: float, T2: float, height: float = 1.5) -> None:
        fine = np.linspace(-4.0, 4.0, 40001)

        def cdf(t):
            c = np.cumsum(np.exp(-height * (fine ** 2 - 1) ** 2 / t))
            return c / c[-1]

        self.X = np.linspace(-1.9, 1.9, 191)  # where the cold CDF is resolved in float64; slope 1 beyond
        self.Y = np.interp(np.interp(self.X, fine, cdf(T)), cdf(T2), fine)
        self.slope = np.diff(self.Y) / np.diff(self.X)
        assert np.all(self.slope > 0)
        self.s = math.sqrt(T2 / T)

    @staticmethod
    def _pl(x, X, Y, slope):
        k = np.clip(np.searchsorted(X, x) - 1, 0, len(X) - 2)
        out = (x < X[0]) | (x > X[-1])
        y = np.where(x < X[0], Y[0] + x - X[0], np.where(x > X[-1], Y[-1] + x - X[-1], Y[k] + slope[k] * (x - X[k])))
        return y, np.where(out, 0.0, np.log(slope[k]))

    def forward(self, x):
        xn = x.numpy()
        y = xn.copy()
        y[..., 0], ld = self._pl(xn[..., 0], self.X, self.Y, self.slope)
        y[..., 1:] *= self.s
        return torch.as_tensor(y), torch.as_tensor(ld.sum(-1) + 2 * xn.shape[1] * math.log(self.s))

    def inverse(self, y, differentiable=False):
        yn = y.numpy()
        x = yn.copy()
        x[..., 0], _ = self._pl(yn[..., 0], self.Y, self.X, 1.0 / self.slope)
        x[..., 1:] /= self.s
        xt = torch.as_tensor(x)
        yb, ld = self.forward(xt)
        return xt, ld, (yb - y).abs().amax((1, 2))


class _NoJacobian(MappedExchange):
    """The wrong rule the test must catch: the log-Jacobians dropped."""

    def propose(self, k, x_cold, x_hot):
        p = super().propose(k, x_cold, x_hot)
        p["logdet_forward"] = p["logdet_backward"] = 0.0
        return p


@pytest.mark.parametrize("chains,rounds,seed,check_wrong",
                         [(40, 80, 0, False), pytest.param(100, 200, 1, True, marks=pytest.mark.slow)])
def test_mapped_tempering_is_exact_and_a_dropped_jacobian_is_not(chains, rounds, seed, check_wrong):
    """Double wells (h = 1.5, three particles) at T = 0.4, 0.6, 0.9 exchanged through transport maps to
    overshot temperatures: each rung's x histogram against its exact marginal, errors from the scatter
    between independent runs started in equilibrium (limit 5); the same run without the log-Jacobians must
    fail (> 6 at the coldest rung). Measured at 40 runs x 80 rounds, seeds 0-3: correct 1.4-2.3, no
    Jacobian 4.7-6.7: not separable for every seed at that size, so the fast case checks only the correct
    rule and the wrong-rule check runs at 100 x 200 (slow), where the gap widens."""
    from tests.double_well import chain_bin_z, tempering_chains

    temps = (0.4, 0.6, 0.9)
    maps = [_TransportMap(a, a * (b / a) ** 2) for a, b in zip(temps[:-1], temps[1:])]
    xs, acc = tempering_chains(MappedExchange(maps), chains, rounds, temps, seed=seed)
    assert np.all((acc > 0.3) & (acc < 0.9)), acc
    for k, T in enumerate(temps):
        z = chain_bin_z(xs[k], height=1.5 / T)
        assert np.abs(z).max() < 5.0, (T, z)
    if not check_wrong:
        return
    bad, _ = tempering_chains(_NoJacobian(maps), chains, rounds, temps, seed=seed)
    worst = np.abs(chain_bin_z(bad[0], height=1.5 / temps[0])).max()
    assert worst > 6.0, worst


# ---------------------------------------------------------------------------- exactness on a small KA liquid
class _MapIgnored(_NoJacobian):
    """The wrong rule the KA test must catch: mapped configurations installed, but accepted by the plain
    swap's rule alone (the log-Jacobians left out as in :class:`_NoJacobian`, and the energy the map adds)."""

    def apply(self, temperatures, energies, assignment, parity, rng, states=None, energy_of=None):
        def same_energy(replica, positions):  # the mapped state's energy reported as the replica's old one
            return float(energies[replica])

        new, records = super().apply(temperatures, energies, assignment, parity, rng, states, same_energy)
        for rec in records:  # the replicas still get their true new energies
            for k, (r, x, _) in enumerate(rec.get("new_states", [])):
                rec["new_states"][k] = (r, x, float(energy_of(r, x)))
        return new, records


@pytest.mark.slow
def test_small_ka_mapped_tempering_matches_md_and_ignoring_the_map_does_not():
    """Mapped-exchange PT on a small KA liquid (N = 160) at T = 0.8, 0.9, 1.0 through random pair-field
    maps (1.6 energy units per mapping of a T = 0.8 configuration; mapped-exchange acceptance measured
    0.03 and 0.17) keeps each rung's <U> and g(r) of plain MD (measured z 0.22-0.27). Accepting mapped
    configurations by the plain swap's rule (the map's energy and Jacobian left out) must move the
    rungs' energies; it runs with maps 10x stronger (87 energy units per mapping; measured z 3.7 / 12.3
    / 12.0), because with the weak maps the added energy relaxes within one 50-step segment (z 0.05-0.19
    with the energy alone left out) and at 5x it was marginal (max z 6.5)."""
    from glassmm.testing import plain_md_reference
    from tests.test_tempering import _pt_rung_statistics

    temps = (0.8, 0.9, 1.0)
    refs = [plain_md_reference(160, T, seed=21, every=50) for T in temps]
    ka = refs[-1][0]
    maps = [_random_map(ka, "coupling", 0.002, steps=2, seed=s) for s in (1, 2)]
    good = _pt_rung_statistics(ka, temps, MappedExchange(maps), 600)
    for (u_pt, se_pt, g_pt), (_, (u_md, se_md, g_md)), T in zip(good, refs, temps):
        assert abs(u_pt - u_md) < 4 * math.hypot(se_pt, se_md), (T, u_pt, u_md, se_pt, se_md)
        assert abs(g_pt.max() - g_md.max()) < 0.05 * g_md.max() and abs(int(g_pt.argmax()) - int(g_md.argmax())) <= 1
    strong = [_random_map(ka, "coupling", 0.02, steps=2, seed=s) for s in (1, 2)]
    bad = _pt_rung_statistics(ka, temps, _MapIgnored(strong), 600)
    z = [abs(u_pt - u_md) / math.hypot(se_pt, se_md) for (u_pt, se_pt, _), (_, (u_md, se_md, _)) in zip(bad, refs)]
    assert max(z) > 6.0, z
