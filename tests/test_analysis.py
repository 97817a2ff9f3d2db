"""Analysis against analytic results (free Brownian particles) and direct numpy formulas."""

import numpy as np
import pytest

import glassmm
from glassmm.analysis import (
    FieldStructureFactor,
    FourPointStructureFactor,
    RadialDistribution,
    SelfDynamics,
    StaticStructureFactor,
    bond_breaking,
    edge_targets,
    propensity,
    split_half_reliability,
    tau_alpha,
)

from .conftest import needs_shared


@pytest.fixture(scope="module")
def brownian():
    """Free Brownian particles: Gaussian displacements with variance 2 D t per dimension."""
    rng = np.random.default_rng(1)
    D, n, R = 0.05, 4000, 8
    times = np.array([0.1, 0.5, 1.0, 2.0, 5.0])
    ref = rng.uniform(0, 10, (n, 3))
    samples = {t: ref[None] + rng.normal(0, np.sqrt(2 * D * t), (R, n, 3)) for t in times}
    return D, times, ref, samples


def test_brownian_msd_fs_alpha2(brownian):
    D, times, ref, samples = brownian
    sd = SelfDynamics(q=7.25, species=None)
    for t in times:
        sd.accumulate(samples[t], reference=ref, time=t)
    assert np.allclose(sd.msd, 6 * D * times, rtol=0.02)
    assert np.allclose(sd.fs, np.exp(-7.25**2 * D * times), atol=0.01)
    assert np.all(np.abs(sd.alpha2) < 0.03)  # Gaussian
    expected_tau = 1 / (7.25**2 * D)
    assert tau_alpha(times, np.exp(-times / expected_tau)) == pytest.approx(expected_tau, rel=0.1)


def test_chi4_of_independent_particles_is_binomial():
    """N var(Q) = p (1 - p) for independent particles, p = P(|dr| < a) known exactly.

    400 samples: the sample variance's relative error is sqrt(2 / 399) = 7 %, so 25 % is a
    3.5 sigma band (the previous check, 8 samples at rtol = 0.8, could hardly fail).
    """
    from math import erf, sqrt

    rng = np.random.default_rng(7)
    n, samples, a = 500, 400, 0.3
    ref = rng.uniform(0, 10, (n, 3))
    sd = SelfDynamics(q=7.25, overlap_a=a, species=None)
    for s2 in (0.01, 0.02, 0.04):  # per-dimension variance of the displacement
        sd.accumulate(ref[None] + rng.normal(0, sqrt(s2), (samples, n, 3)), reference=ref, time=s2)
    sig = np.sqrt([0.01, 0.02, 0.04])
    x = a / sig  # P(|dr| < a) for a 3D Gaussian (Maxwell distribution CDF)
    p = np.array([erf(v / sqrt(2)) - sqrt(2 / np.pi) * v * np.exp(-v * v / 2) for v in x])
    assert np.allclose(sd.overlap, p, atol=0.005)
    assert np.allclose(sd.chi4, p * (1 - p), rtol=0.25), (sd.chi4, p * (1 - p))


def test_brownian_trajectory_multiple_origins():
    rng = np.random.default_rng(2)
    D, n, F, dt = 0.1, 2000, 200, 0.05
    steps = rng.normal(0, np.sqrt(2 * D * dt), (F, n, 3))
    traj = np.cumsum(steps, axis=0)
    times = np.arange(F) * dt
    sd = SelfDynamics(species=None).compute(traj, times=times)
    assert np.allclose(sd.msd, 6 * D * sd.times, rtol=0.05)
    assert sd.tau_alpha == pytest.approx(1 / (7.25**2 * D), rel=0.05)


def test_s4_of_independent_field_is_flat(brownian):
    D, times, ref, samples = brownian
    rng = np.random.default_rng(3)
    box = np.array([10.0, 10.0, 10.0])
    s4 = FourPointStructureFactor(species=None, q_max=3.0)
    many = ref[None] + rng.normal(0, np.sqrt(2 * D * 1.0), (64, len(ref), 3))
    s4.accumulate(many, box, reference=ref)
    Q = (np.linalg.norm(many - ref, axis=-1) < 0.3).mean()
    assert np.allclose(s4.s4, Q * (1 - Q), rtol=0.35)


def test_ideal_gas_structure():
    rng = np.random.default_rng(4)
    box = np.array([12.0, 12.0, 12.0])
    g = RadialDistribution(n_bins=40)
    s = StaticStructureFactor(q_max=8, n_bins=10)
    frames = rng.uniform(0, 12, (5, 3000, 3))
    g.compute(frames, box)
    s.compute(frames, box)
    assert np.allclose(g.g[5:], 1.0, atol=0.1)
    assert np.allclose(s.s, 1.0, atol=0.25)


@needs_shared
def test_shared_data_against_direct_formulas(shared_files):
    c = glassmm.load_configuration(shared_files[0])
    dr = c.replica_positions - c.positions[None]
    A = c.types == 0
    sd = SelfDynamics(q=7.25, species=0).accumulate(c.replica_positions, c.box, c.types, reference=c.positions, time=1.0)
    # direct: mean over replicas and A particles
    assert sd.msd[0] == pytest.approx(np.mean(np.sum(dr[:, A] ** 2, axis=-1)), rel=1e-12)
    # F_s with explicit cos(q.dr) over random directions (no sinc shortcut)
    rng = np.random.default_rng(0)
    u = rng.normal(size=(200, 3)); u /= np.linalg.norm(u, axis=1, keepdims=True)
    fs_direct = np.mean(np.cos(7.25 * np.einsum("rnk,dk->rnd", dr[:4, A], u)))
    sd4 = SelfDynamics(q=7.25, species=0).accumulate(c.replica_positions[:4], c.box, c.types, reference=c.positions, time=1.0)
    assert sd4.fs[0] == pytest.approx(fs_direct, abs=0.01)
    p = propensity(c.positions, c.replica_positions)
    assert np.allclose(p, np.mean(np.sqrt(np.sum(dr**2, -1)), 0))
    # S_AA(q) first peak near 7.25 (why that q is the default)
    s = StaticStructureFactor(species=0, q_max=10).accumulate(c.positions, c.box, c.types)
    assert 6.9 < s.q[np.argmax(s.s)] < 7.6


@needs_shared
def test_split_half_reliability_on_shared_data(shared_files):
    sb = []
    for f in shared_files:
        c = glassmm.load_configuration(f)
        sb.append(split_half_reliability(c.positions, c.replica_positions, c.types, n_splits=16)["spearman_brown"])
    # data README / literature: about 0.86 for 32 replicas (measured median 0.860, mean 0.838)
    assert np.median(sb) == pytest.approx(0.86, abs=0.03)


@needs_shared
def test_edge_targets_direct(shared_config):
    c = shared_config
    reps = c.replica_positions[:3]
    pairs, delta = edge_targets(c.positions, reps, c.box, cutoff=2.0)
    assert np.all(pairs[:, 0] < pairs[:, 1])
    rng = np.random.default_rng(0)
    for e in rng.choice(len(pairs), 20, replace=False):
        i, j = pairs[e]
        def mi(a, b):
            d = a - b
            return np.linalg.norm(d - c.box * np.round(d / c.box))
        d0 = mi(c.positions[i], c.positions[j])
        assert d0 < 2.0
        expected = np.mean([mi(r[i], r[j]) - d0 for r in reps])
        assert delta[e] == pytest.approx(expected, abs=1e-12)
    # every pair under 2.0 is there: count against brute force for particle 0
    d = c.positions - c.positions[0]
    d -= c.box * np.round(d / c.box)
    n0 = np.sum((np.linalg.norm(d, axis=1) < 2.0)) - 1
    assert np.sum((pairs[:, 0] == 0) | (pairs[:, 1] == 0)) == n0
    bb = bond_breaking(c.positions, reps, c.box, c.types)
    assert bb.shape == (c.n_particles,) and 0 <= bb.min() and bb.max() <= 1 and bb.mean() > 0


def test_plots_written(tmp_path, brownian):
    D, times, ref, samples = brownian
    sd = SelfDynamics(species=None)
    for t in times:
        sd.accumulate(samples[t], reference=ref, time=t)
    sd.plot(tmp_path / "sd.png")
    assert (tmp_path / "sd.png").read_bytes()[:4] == b"\x89PNG"


def test_every_analysis_takes_positions_box_types_first():
    """One calling convention: compute(frames, box, types, ...) equals accumulating frame by frame."""
    from glassmm.analysis import ComputeObject

    rng = np.random.default_rng(7)
    box = np.full(3, 8.0)
    types = (rng.random(400) < 0.2).astype(int)
    frames = rng.uniform(0, 8, (3, 400, 3))
    for make in (lambda: RadialDistribution(n_bins=20, pair=(0, 0)), lambda: StaticStructureFactor(q_max=6, n_bins=6, species=0)):
        whole = make().compute(frames, box, types)
        stepwise = make()
        for f in frames:
            stepwise.accumulate(f, box, types)
        assert isinstance(whole, ComputeObject)
        a, b = whole.as_dict(), stepwise.as_dict()
        assert a == b
    fields = rng.normal(size=(3, 400))
    whole = FieldStructureFactor(species=None).compute(frames, box, types, field=fields)
    stepwise = FieldStructureFactor(species=None)
    for f, x in zip(frames, fields):
        stepwise.accumulate(f, box, types, field=x)
    assert np.array_equal(whole.s, stepwise.s)
    with pytest.raises(ValueError, match="field has 2 entries for 3 frames"):
        FieldStructureFactor().compute(frames, box, types, field=fields[:2])
    # S_4 over time origins at a lag equals accumulating the same (later, earlier) pairs
    walk = np.cumsum(rng.normal(0, 0.1, (6, 400, 3)), axis=0)
    s4 = FourPointStructureFactor(species=None, q_max=2.0).compute(walk, box, types, lag=2)
    s4b = FourPointStructureFactor(species=None, q_max=2.0)
    # compute() puts every frame in the first frame's centre-of-mass frame (drift is not
    # relaxation, and the origins' phases must not drift either); accumulate() takes the
    # references as given
    from glassmm.geometry import remove_drift

    still = remove_drift(walk, walk[0])
    for o in range(4):
        s4b.accumulate(still[o + 2], box, types, reference=still[o])
    assert s4.n_samples == 4 and np.allclose(s4.s4, s4b.s4)
