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
    far = np.concatenate([x, x + 5.0])
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
