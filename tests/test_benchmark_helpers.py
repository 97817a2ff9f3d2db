"""The arithmetic the sampler benchmarks report: decorrelation runs, ratios with errors, values vs strict bounds."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from glassmm.analysis.decorrelation import DecorrelationRun, ratio_of_means

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("region_move_limit"), importlib.import_module("sampler_speedup")
    finally:
        sys.path.remove(str(BENCH))


def _hopping_chain(n: int, rate: float, seed: int):
    """Particles that hop 1 sigma (far beyond a = 0.3) at ``rate`` per frame: Q(lag) = exp(-rate lag) exactly in expectation."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, size=(n, 3))
    state = {"x": x}

    def advance():
        hop = rng.uniform(size=n) < rate
        v = rng.normal(size=(n, 3))
        state["x"] = state["x"] + hop[:, None] * v / np.linalg.norm(v, axis=1, keepdims=True)

    return advance, lambda: state["x"]


def test_decorrelation_run_measures_a_known_crossing_and_bounds_a_frozen_chain():
    n = 2000
    types = np.zeros(n, dtype=int)
    advance, pos = _hopping_chain(n, 0.05, 0)
    run = DecorrelationRun(advance, pos, types, density=2.0, check_every=10).run()
    # exp(-0.05 k) = 1/e at k = 20 frames; Q is measured with at least half the run as origins
    assert run.crossing_frames == pytest.approx(20.0, rel=0.1)
    assert run.crossing_frames <= (len(run.frames) - 1) / 2
    assert run.decorrelation_wall_s == pytest.approx(run.crossing_frames * run.wall_per_frame)
    frozen = DecorrelationRun(lambda: None, lambda: np.zeros((n, 3)), types, density=2.0, check_every=10, max_frames=40).run()
    assert frozen.crossing_frames is None and frozen.decorrelation_wall_s is None
    assert frozen.bound_frames == 20 and len(frozen.frames) == 41  # lags up to half of 40 frame intervals


def test_speedup_ratio_error_and_ideal_values_or_bounds(bench):
    rml, _ = bench
    r, se = ratio_of_means([2.0, 4.0], [1.0, 1.0])
    assert r == pytest.approx(3.0)
    assert se == pytest.approx(3.0 * math.sqrt((2.0 / 2) / 9.0))  # var(ddof=1) / n of the numerator over its mean^2; none in the denominator
    v = rml.ideal_speedups(2.0, 100.0, 50.0, {"flow": 0.01, "local_energy_floor": 0.0005})
    assert v["is"] == "value" and v["flow"] == pytest.approx(2.0) and v["local_energy_floor"] == pytest.approx(40.0)
    assert v["break_even_attempt_s"] == pytest.approx(0.02)
    b = rml.ideal_speedups(2.0, math.nan, 50.0, {"flow": 0.01})
    assert b["is"] == "upper_bound" and b["flow"] == pytest.approx(4.0)  # n_b > 50: speedup < 4
    assert rml.ideal_speedups(math.nan, 100.0, 50.0, {"flow": 0.01})["flow"] is None
