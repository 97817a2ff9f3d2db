"""Decorrelation measures used by the sampler benchmark and example."""

import math

import numpy as np
import pytest

from glassmm.analysis.decorrelation import autocorrelation, crossing_time, overlap_vs_lag, random_overlap


def test_crossing_time_interpolates_and_says_never():
    lags = np.array([0.0, 1.0, 2.0, 3.0])
    assert crossing_time(lags, np.array([1.0, 0.8, 0.2, 0.1]), 0.5) == pytest.approx(1.5)
    assert crossing_time(lags, np.array([1.0, 0.9, 0.8, 0.7]), 0.5) == math.inf


def test_autocorrelation_of_an_ar1_series_is_geometric():
    rng = np.random.default_rng(0)
    x = np.zeros(200000)
    for i in range(1, len(x)):
        x[i] = 0.8 * x[i - 1] + rng.normal()
    c = autocorrelation(x, max_lag=5)
    assert np.allclose(c, 0.8 ** np.arange(6), atol=0.02)


def test_overlap_of_frozen_and_scrambled_frames():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 10, size=(1, 1000, 3))
    assert overlap_vs_lag(np.repeat(x, 3, axis=0))[2] == 1.0
    kick = rng.normal(size=x.shape)
    far = np.concatenate([x, x + 5.0 * kick / np.linalg.norm(kick, axis=-1, keepdims=True)])  # every particle 5 sigma away
    assert overlap_vs_lag(far)[1] == 0.0
    # two independent uniform configurations of the same box: the self-overlap's uncorrelated value
    # (measured over many pairs; the collective overlap's density * 4/3 pi a^3 = 0.136 would be 500x off)
    n, density = 50, 1.2
    side = (n / density) ** (1 / 3)
    pairs = rng.uniform(0, side, size=(4000, 2, n, 3))
    d = pairs[:, 1] - pairs[:, 0]
    d -= side * np.round(d / side)  # the nearest image: positions in one periodic box
    measured = ((d * d).sum(-1) < 0.09).mean()
    expected = random_overlap(n, density)
    assert expected == pytest.approx(1.2 * 4 / 3 * math.pi * 0.027 / n)
    assert abs(measured - expected) < 5 * math.sqrt(expected / (4000 * n))
    with pytest.raises(ValueError, match="n_particles"):
        random_overlap(0, 1.2)


def test_overlap_is_drift_free_and_one_definition_with_self_dynamics():
    """A rigid drift of the whole liquid is not relaxation: Q stays 1 (the raw overlap falls to 0)."""
    from glassmm.analysis import SelfDynamics

    rng = np.random.default_rng(2)
    n, f = 200, 12
    x0 = rng.uniform(0, 6, size=(n, 3))
    types = (rng.uniform(size=n) < 0.2).astype(int)
    drift = np.cumsum(rng.normal(scale=0.4, size=(f, 1, 3)), axis=0)  # centre of mass wanders ~0.4 sigma per frame
    rattle = rng.normal(scale=0.05, size=(f, n, 3))
    frames = x0[None] + drift + rattle
    q = overlap_vs_lag(frames)
    assert q.min() > 0.99
    assert overlap_vs_lag(frames, remove_drift=False)[-1] < 0.2
    # the same Q as SelfDynamics on the same frames, per species and for all particles
    cage = np.cumsum(rng.normal(scale=0.12, size=(f, n, 3)), axis=0)  # particles leave their cages
    frames = x0[None] + drift + cage
    for species in (0, 1, None):
        sd = SelfDynamics(species=species).compute(frames, types=types, times=np.arange(f) * 0.5)
        lags = np.round(sd.times / 0.5).astype(int)
        q = overlap_vs_lag(frames, types=types, species=species)
        assert np.allclose(q[lags], sd.overlap, rtol=0, atol=1e-12)
        assert 0.05 < q[-1] < 0.95  # a real decay, so the comparison means something
    assert not np.allclose(overlap_vs_lag(frames, types=types, species=0), overlap_vs_lag(frames, types=types, species=1))
    with pytest.raises(ValueError, match="types"):
        overlap_vs_lag(frames, species=0)
