"""Collective region moves checked with NCMC: exact region probabilities, exact work, invariance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import glassmm
from glassmm.sampling import GenerativeSampler, JumpCheck
from glassmm.sampling.ncmc import NCMCProtocol, RegionNCMCMove, softened_system
from glassmm.sampling.region_flow import RegionFlowModel
from glassmm.sampling.regions import FixedCentre, LatticeCentres, PropensityCentres, RegionSelector

pytest.importorskip("zuko")


# ----------------------------------------------------------------------------- regions
def test_tuple_probabilities_are_normalised_and_match_the_draws():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3, size=(6, 3))
    sel = RegionSelector(2, width=0.8, shell_radius=3.0, ramp=0.5, box=None)
    c = np.array([1.5, 1.5, 1.5])
    total = sum(math.exp(sel.tuple_log_prob(x, c, np.array([i, j]))) for i in range(6) for j in range(6) if i != j)
    assert total == pytest.approx(1.0, abs=1e-12)
    draws = [tuple(sel.draw_tuple(x, c, rng)) for _ in range(20000)]
    for pair in [draws[0], draws[1]]:
        p = math.exp(sel.tuple_log_prob(x, c, np.array(pair)))
        assert draws.count(pair) / len(draws) == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / len(draws)) + 1e-3)


def test_shell_and_centre_densities():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 4, size=(80, 3))
    box = np.full(3, 4.0)
    sel = RegionSelector(3, shell_radius=1.2, ramp=0.3, box=box)
    c = np.array([2.0, 2.0, 2.0])
    m = sel.draw_tuple(x, c, rng)
    shells = [tuple(sel.draw_shell(x, c, m, rng)) for _ in range(4000)]
    s = shells[0]
    assert shells.count(s) / len(shells) == pytest.approx(math.exp(sel.shell_log_prob(x, c, m, np.array(s, dtype=int))), abs=0.03)
    assert not set(s) & set(m)
    # the propensity-centred density integrates to one over the box (Monte Carlo over uniform points)
    pc = PropensityCentres(lambda p, b, t: p[:, 0], np.zeros(80, int), box, spread=0.4)
    pts = rng.uniform(0, 4, size=(20000, 3))
    vol = 64.0 * np.mean([math.exp(pc.log_density(x, p)) for p in pts])
    assert vol == pytest.approx(1.0, abs=0.05)


def test_lattice_sites_respect_the_spacing_and_the_move_refuses_a_closer_one():
    box = np.full(3, 20.0)
    sites = LatticeCentres(box, 9.0).draw(None, np.random.default_rng(0))
    assert len(sites) == 8
    torch.manual_seed(0)
    model = RegionFlowModel(8, bound=1.0, hidden=8, transforms=1)
    with pytest.raises(ValueError, match="regions would interact"):
        RegionNCMCMove(model, np.zeros(10, int), box, centres=LatticeCentres(box, 5.0))


# ----------------------------------------------------------------------------- flow
def test_region_flow_density_is_exact_and_normalised():
    torch.manual_seed(0)
    m = RegionFlowModel(2, bound=1.5, hidden=16, transforms=2)
    m.scale.fill_(0.4)
    c = torch.randn(m.n_context, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    d, lq = m.sample(c, gen)
    assert d.shape == (2, 3) and (d.abs() < 1.5).all()
    assert float(m.log_prob(d, c).detach()) == pytest.approx(float(lq), abs=1e-8)
    draws = [m.sample(c, gen) for _ in range(1500)]
    dd = torch.stack([a for a, _ in draws]).reshape(-1, 6)
    lqs = torch.stack([b for _, b in draws])
    lp = (-0.5 * (dd / 0.2) ** 2 - 0.5 * math.log(2 * math.pi) - math.log(0.2)).sum(-1)
    w = torch.exp(lp - lqs)  # E_q[p/q] = 1 for a normalised q (p narrower than q: finite variance)
    assert abs(float(w.mean()) - 1.0) < 4 * float(w.std()) / math.sqrt(len(w)) + 1e-3
    assert float(m.log_prob(torch.full((2, 3), 1.6, dtype=torch.float64), c).detach()) == -math.inf


def test_softened_ka_is_the_ka_potential_at_lambda_one_and_softer_below():
    import openmm

    from glassmm.simulation import create_simulation

    ka = glassmm.KobAndersen(160, positions="random", seed=1)
    sim = create_simulation(ka, "langevin", temperature=1.0, seed=1, platform="Reference")
    system = softened_system(sim.context.getSystem())
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    ctx.setPeriodicBoxVectors(*sim.context.getState().getPeriodicBoxVectors())
    x = ka.positions_reduced.copy()
    ctx.setPositions(glassmm.units.length_to_openmm(x))
    e_ref = glassmm.simulation.evaluate(x, ka.types, ka.box)[0]
    e1 = ctx.getState(energy=True).getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
    assert e1 == pytest.approx(e_ref, rel=1e-9)
    f = [system.getForce(i) for i in range(system.getNumForces()) if system.getForce(i).getName() == "KobAndersenSoft"][0]
    f.setParticleParameters(0, [f.getParticleParameters(0)[0], 1.0])
    f.updateParametersInContext(ctx)
    x[0] = x[1] + 0.05  # an overlap: finite once softened
    ctx.setPositions(glassmm.units.length_to_openmm(x))
    ctx.setParameter("lambda_soft", 0.0)
    e0 = ctx.getState(energy=True).getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
    ctx.setParameter("lambda_soft", 0.5)
    e_half = ctx.getState(energy=True).getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
    assert math.isfinite(e_half) and e_half < 1e4 and e0 < e_half


# ----------------------------------------------------------------------------- invariance
def _soft_double_well(n=2, height=1.0, platform="Reference"):
    """The sampler tests' double well with a softenable well; seeded, so MD segments repeat exactly."""
    from tests.double_well import double_well

    return double_well(n, height, soft=True, platform=platform, seed=1)


def _skewed_flow(seed=0):
    """A k = 1 region flow trained briefly towards +x jumps: far from symmetric."""
    torch.manual_seed(seed)
    m = RegionFlowModel(1, bound=2.5, hidden=16, transforms=2)
    c = torch.randn(512, m.n_context, dtype=torch.float64)
    d = torch.randn(512, 1, 3, dtype=torch.float64) * 0.5
    d[:, 0, 0] += 0.6
    m.fit(c, d, epochs=15, lr=5e-3)
    return m


class _HeatSignFlipped(RegionNCMCMove):
    """The wrong rule a test must catch: the heat the thermostat exchanged counted with the wrong
    sign (the classic slip in NCMC work accounting). Rules whose error does not depend on x
    (forgetting the heat or the kinetic energy change: random terms of order kT) move the x
    histogram by less than 4 standard errors here and are not what this test can see."""

    def region_work(self, delta_potential, delta_kinetic, heat):
        return delta_potential + delta_kinetic + heat


class _SymmetricShortcut:
    """A region proposal wrapper whose reverse density is the forward one: the Hastings ratio dropped."""

    def __init__(self, model):
        self.model, self.k, self.bound = model, model.k, model.bound
        self._lq = None

    def context(self, *args, **kw):
        return self.model.context(*args, **kw)

    def sample(self, context, generator):
        d, self._lq = self.model.sample(context, generator)
        return d, self._lq

    def log_prob(self, d, context):
        return self._lq


def _ncmc_double_well_chains(wrong: bool, steps: int, chains: int, attempts: int, seed: int = 0, n: int = 2):
    """x after every attempt of ``chains`` independent chains moved only by region moves (no MD),
    each started from an exact equilibrium draw; and the acceptance rate. ``wrong``: the
    protocol work forgotten (NCMC) or the Hastings ratio dropped (plain MH)."""
    from tests.double_well import set_exact_state

    sim = _soft_double_well(n=n)
    sel = RegionSelector(1, width=1.5, shell_radius=6.0, ramp=1.0, box=None)
    flow = _skewed_flow()
    if wrong and not steps:
        flow = _SymmetricShortcut(flow)
    cls = _HeatSignFlipped if wrong and steps else RegionNCMCMove
    # friction 10 / tau: over the 2 x 10 steps the thermostat exchanges heat of order kT, so a
    # rule that gets it wrong is wrong by that much
    move = cls(flow, np.zeros(n, dtype=int), None, selector=sel, centres=FixedCentre(),
               protocol=NCMCProtocol(steps=steps, lambda_min=0.0, friction=10.0))
    rng = np.random.default_rng(seed)
    xs, accepted = np.empty((chains, attempts, n)), []
    for c in range(chains):
        set_exact_state(sim, n, 1.0, rng)
        s = GenerativeSampler(sim, move, 1.0, md_steps=0, proposals_per_cycle=1, check=JumpCheck(steps=0),
                              seed=1000 * seed + c, progress=False)
        for t in range(attempts):
            recs = s.step_moves()
            accepted += [r["accepted"] for r in recs]
            xs[c, t] = s.state.positions[:, 0]
    return xs, float(np.mean(accepted))


@pytest.mark.parametrize("steps,chains,attempts,against_wrong_rule", [
    (0, 30, 30, True), (10, 30, 20, False), pytest.param(10, 100, 40, True, marks=pytest.mark.slow)])
def test_ncmc_region_moves_keep_the_double_well_distribution_and_wrong_rules_do_not(steps, chains, attempts, against_wrong_rule):
    """Chains moved only by region moves (md_steps = 0), started in equilibrium, keep the exact x
    marginal (errors from the scatter between independent chains: limit 5, a false alarm of
    about 1e-4 over 8 bins). The same test must fail (> 6) on a wrong rule: plain MH without
    the Hastings ratio (11-13 measured at 30 x 30), NCMC with the heat's sign flipped (5.2-10.2
    at 50 chains x 30 attempts over four seeds, so the NCMC control runs at 100 x 40, slow)."""
    from tests.double_well import chain_bin_z

    xs, rate = _ncmc_double_well_chains(False, steps, chains, attempts)
    assert 0.05 < rate < 0.95, rate
    z = chain_bin_z(xs)
    assert np.abs(z).max() < 5.0, z
    if against_wrong_rule:
        # one particle for the wrong rules: with two, the frozen-then-moved shell particle dilutes the bias
        xs_bad, _ = _ncmc_double_well_chains(True, steps, chains, attempts, n=1)
        z_bad = chain_bin_z(xs_bad)
        assert np.abs(z_bad).max() > 6.0, z_bad


def test_region_attempt_records_exact_terms_and_resumes(tmp_path):
    """A checkpointed run continues exactly (the NCMC context's random state included)."""
    sel = RegionSelector(1, width=1.5, shell_radius=6.0, ramp=1.0, box=None)

    def make(out):
        # CPU: the Reference platform draws every context's random numbers from one global
        # generator, which a context checkpoint cannot restore once two contexts share it
        sim = _soft_double_well(platform="CPU")
        move = RegionNCMCMove(_skewed_flow(), np.zeros(2, dtype=int), None, selector=sel, centres=FixedCentre(),
                              protocol=NCMCProtocol(steps=5))
        return GenerativeSampler(sim, move, 1.0, md_steps=3, proposals_per_cycle=2, check=JumpCheck(steps=0), seed=4,
                                 output=out, checkpoint_every=2, progress=False)

    a = make(tmp_path / "a")
    a.run(6)
    b = make(tmp_path / "b")
    b.run(3)
    b2 = make(tmp_path / "b")
    b2.run(6, resume=True)
    la = [r["log_alpha"] for r in a.records]
    lb = [r["log_alpha"] for r in b2.records]
    assert len(la) == len(lb) == 12
    # b stops after 3 cycles on its final checkpoint; b2 resumes there (NCMC random state included)
    assert np.allclose(la, lb)
    for r in a.records:
        assert r["kind"] == "region1-ncmc5" and r["n_moved"] == 1
        assert math.isfinite(r["work_kT"])


@pytest.mark.slow
def test_small_ka_energy_and_gr_match_plain_md_with_region_ncmc_moves():
    """MD plus region NCMC moves (k = 8, 10 + 10 protocol steps) keeps <U> and g(r) of plain MD at T = 1."""
    from glassmm.simulation import create_simulation
    from glassmm.testing import chain_statistics, plain_md_reference

    every = 50
    ka, (u_md, se_md, g_md) = plain_md_reference(every=every)

    # small, nearly symmetric collective jumps (rms 0.02 per component) and a gentle protocol
    # (lambda 1 -> 0.9 -> 1 over 10 + 10 steps): accepted often enough for the test to mean something
    torch.manual_seed(0)
    model = RegionFlowModel(8, bound=1.0, hidden=16, transforms=2)
    model.fit(torch.randn(1024, model.n_context, dtype=torch.float64), 0.02 * torch.randn(1024, 8, 3, dtype=torch.float64), epochs=10)
    sim = create_simulation(ka, "langevin", temperature=1.0, seed=13, threads=1)
    move = RegionNCMCMove(model, ka.types, ka.box, protocol=NCMCProtocol(steps=10, lambda_min=0.9))
    sampler = GenerativeSampler(sim, move, 1.0, md_steps=every, proposals_per_cycle=1, check=JumpCheck(steps=0), seed=3, progress=False)
    u_s, se_s, g_s = chain_statistics(sim, lambda: sampler.run(sampler.cycle + 1), ka)
    assert sampler.summary()["accepted"] > 10
    assert abs(u_md - u_s) < 4 * math.hypot(se_md, se_s), (u_md, u_s, se_md, se_s)
    assert abs(g_md.max() - g_s.max()) < 0.1 * g_md.max() and abs(int(g_md.argmax()) - int(g_s.argmax())) <= 1


def test_frozen_surroundings_chain_moves_only_members_and_samples_the_conditional_distribution():
    """Each block moves only its member (the other particle is frozen, to the bit) and the chain
    samples the exact double-well marginal: what a proposal fitted to its pairs is fitted to."""
    from glassmm.sampling.training import frozen_surroundings_chain
    from tests.double_well import chain_bin_z, double_well, set_exact_state

    n, chains, blocks = 2, 30, 100
    sim = double_well(n, 1.0, seed=3)
    sel = RegionSelector(1, width=1.5, shell_radius=6.0, ramp=1.0, box=None)
    rng = np.random.default_rng(0)
    xs, r2 = np.empty((chains, blocks, n)), np.empty((chains, blocks))
    for c in range(chains):  # independent chains from exact equilibrium draws
        set_exact_state(sim, n, 1.0, rng)
        out = frozen_surroundings_chain(sim, np.zeros(n, dtype=int), None, sel, FixedCentre(), 1.0, blocks, 25,
                                        seed=c, frame_every=1, progress=False)
        fr, d = out["frames"], out["displacements"].numpy()
        assert out["blocks"] == blocks and fr.shape == (blocks + 1, n, 3) and d.shape == (blocks, 1, 3)
        moved = np.abs(np.diff(fr, axis=0)).max(-1) > 0  # (blocks, particles)
        assert (moved.sum(1) == 1).all()  # exactly the member, every block
        assert np.allclose(np.diff(fr, axis=0)[moved], d[:, 0])
        xs[c] = fr[1:, :, 0]
        r2[c] = (fr[1:, :, 1:] ** 2).sum(-1).mean(1)
    z = chain_bin_z(xs)
    assert np.abs(z).max() < 5.0, z
    # the harmonic directions: <y^2 + z^2> = 2 kT, error from the scatter between chains
    per_chain = r2.mean(1)
    assert abs(per_chain.mean() - 2.0) < 5 * per_chain.std(ddof=1) / math.sqrt(chains), per_chain.mean()
    with pytest.raises(ValueError, match="block_steps"):
        frozen_surroundings_chain(sim, np.zeros(n, dtype=int), None, sel, FixedCentre(), 1.0, 10, 0)


# ----------------------------------------------------------------------------- harmonic region jumps
def _ka_with_compact_region(seed, platform, steps, centre, k):
    """A 200-particle KA liquid at T = 0.8 after ``steps`` MD steps, and particle ``centre`` with its k - 1 nearest neighbours."""
    from glassmm.simulation import create_simulation, get_positions

    ka = glassmm.KobAndersen(200, positions="random", seed=seed)
    sim = create_simulation(ka, "langevin", temperature=0.8, seed=seed, platform=platform)
    sim.step(steps)
    x = get_positions(sim.context)
    d = glassmm.geometry.minimum_image(x - x[centre], ka.box)
    return ka, sim, x, np.argsort((d * d).sum(1))[:k]


def test_harmonic_region_model_force_and_hessian_match_openmm_and_finite_differences():
    """The members' force equals OpenMM's; the Hessian equals central differences of OpenMM's forces."""
    from glassmm.sampling.harmonic import region_hessian
    from glassmm.simulation import get_forces

    # particle 3 and its nearest neighbours as members, so member-member blocks are exercised
    ka, sim, x, members = _ka_with_compact_region(1, "Reference", 300, centre=3, k=4)
    force, hess = region_hessian(x, ka.types, ka.box, members)
    assert np.allclose(force, get_forces(sim.context)[members], rtol=1e-6, atol=1e-6)
    h = 1e-5
    fd = np.zeros_like(hess)
    for col in range(3 * len(members)):
        a, c = divmod(col, 3)
        xs = []
        for sgn in (1, -1):
            y = x.copy()
            y[members[a], c] += sgn * h
            sim.context.setPositions(glassmm.units.length_to_openmm(y))
            xs.append(get_forces(sim.context)[members].reshape(-1))
        fd[:, col] = -(xs[0] - xs[1]) / (2 * h)
    assert np.allclose(hess, fd, rtol=1e-4, atol=1e-3 * np.abs(hess).max())
    assert np.allclose(hess, hess.T)


def test_harmonic_region_proposal_density_is_exact_and_its_moves_are_accepted():
    """The draw's log density is the density's and equals an independent Gaussian built from the
    Hessian; the draws follow it; and as plain MH region moves on a KA liquid it moves eight
    particles at once and is accepted."""
    from glassmm.sampling.harmonic import HarmonicRegionProposal

    ka, sim, x, members = _ka_with_compact_region(2, "CPU", 2000, centre=0, k=8)
    prop = HarmonicRegionProposal(8, 0.8, rho=0.8)
    ctx = prop.context(x, ka.types, ka.box, x[0], members)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        d, lq = prop.sample(ctx, gen)
        assert float(prop.log_prob(d, ctx)) == pytest.approx(float(lq), abs=1e-9)
    # the density against an independent one: scipy's normal with the covariance and mean built from
    # the Hessian here, (1 - rho^2) kT H_reg^-1 and (1 - rho) H_reg^-1 F, curvatures floored at 10
    from scipy.stats import multivariate_normal

    from glassmm.sampling.harmonic import region_hessian

    force, hess = region_hessian(x, ka.types, ka.box, members)
    lam, vec = np.linalg.eigh(hess)
    h_inv = vec @ np.diag(1.0 / np.maximum(np.abs(lam), 10.0)) @ vec.T
    ref = multivariate_normal(mean=0.2 * h_inv @ force.reshape(-1), cov=(1 - 0.64) * 0.8 * h_inv)
    draws = []
    for _ in range(2000):
        d, lq = prop.sample(ctx, gen)
        draws.append(d.numpy().reshape(-1))
    draws = np.array(draws)
    for v in draws[:20]:
        assert float(prop.log_prob(torch.as_tensor(v.reshape(8, 3)), ctx)) == pytest.approx(ref.logpdf(v), abs=1e-8)
    # and the draws follow it: whitened by the reference, they are standard normal
    white = (draws - ref.mean) @ np.linalg.inv(np.linalg.cholesky(ref.cov)).T
    assert np.abs(white.mean(0)).max() < 5 / math.sqrt(len(draws))
    assert np.abs(white.var(0) - 1).max() < 0.2
    with pytest.raises(ValueError, match="k = 8"):
        prop.context(x, ka.types, ka.box, x[0], members[:4])
    with pytest.raises(ValueError, match="rho"):
        HarmonicRegionProposal(8, 0.8, rho=1.0)

    sel = RegionSelector(8, width=0.9, shell_radius=2.0, ramp=0.4, box=ka.box)
    move = RegionNCMCMove(prop, ka.types, ka.box, selector=sel, protocol=NCMCProtocol(steps=0))
    s = GenerativeSampler(sim, move, 0.8, md_steps=20, proposals_per_cycle=1, check=JumpCheck(steps=0), seed=0, progress=False)
    # 300 attempts: at 60 the binomial noise alone (sd 0.055) put CI's CPU at 0.10 once. Measured here,
    # 12 liquid/sampler seeds at T = 0.8, N = 200, rho = 0.8, 300 attempts: acceptance 0.20-0.27,
    # median largest member jump 0.099-0.104
    s.run(300)
    assert s.acceptance_rate() > 0.12, (s.acceptance_rate(), [round(r["log_alpha"], 1) for r in s.records[:10]])
    assert np.median([r["max_displacement"] for r in s.records]) > 0.05


def _harmonic_chain_drifts(ka, starts, wrong: bool, cycles: int, rho: float = 0.5):
    """U(end) - U(start) of independent pure harmonic-move chains (eight attempts per cycle, no MD)
    from equilibrium starts: zero on average for an exact chain."""
    from glassmm.sampling.harmonic import HarmonicRegionProposal
    from glassmm.simulation import create_simulation, potential_energy, set_velocities

    sim = create_simulation(ka, "langevin", temperature=1.0, seed=13, threads=1)
    drifts, acc = [], []
    for c, (x, v, u0) in enumerate(starts):
        sim.context.setPositions(glassmm.units.length_to_openmm(x))
        set_velocities(sim.context, v)
        model = HarmonicRegionProposal(8, 1.0, rho=rho, table=ka.table)
        move = RegionNCMCMove(_SymmetricShortcut(model) if wrong else model, ka.types, ka.box, protocol=NCMCProtocol(steps=0),
                              table=ka.table)
        s = GenerativeSampler(sim, move, 1.0, md_steps=0, proposals_per_cycle=8, check=JumpCheck(), seed=100 + c, progress=False)
        s.run(cycles)
        drifts.append(potential_energy(sim.context) - u0)
        acc.append(s.acceptance_rate())
    return np.array(drifts) / ka.n_particles, float(np.mean(acc))


@pytest.mark.slow
def test_small_ka_harmonic_region_moves_keep_the_energy_and_dropping_hastings_does_not():
    """Harmonic region MH moves alone (k = 8, rho 0.5) on a small KA liquid at T = 1, from 30
    equilibrium starts of one MD run (2000 steps apart): the energy change over 60 cycles of 8
    attempts averages to zero for the exact rule (paired with its own start, so configurations'
    scatter cancels); with the Hastings ratio dropped the proposal's pull towards the local
    minimum shows as a falling energy. The chain that mixed MD in (the test before) moved <U>
    by 1.4 sigma without the Hastings ratio: too weak a control."""
    from glassmm.testing import equilibrated_liquid, independent_starts

    ka = equilibrated_liquid(160, 1.0, seed=11, steps=4000, threads=1)
    starts = independent_starts(ka, 1.0, 30, spacing=2000, seed=12)
    d, acc = _harmonic_chain_drifts(ka, starts, False, 60)
    assert acc > 0.03, acc
    z = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    assert abs(z) < 4.0, (d.mean(), z)
    d_bad, _ = _harmonic_chain_drifts(ka, starts, True, 60)
    z_bad = d_bad.mean() / (d_bad.std(ddof=1) / math.sqrt(len(d_bad)))
    assert z_bad < -6.0, (d_bad.mean(), z_bad)
