"""The arithmetic the sampler benchmarks report: resolved crossings, extrapolated block counts, crossing temperatures."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def rml():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("region_move_limit")
    finally:
        sys.path.remove(str(BENCH))


def test_crossing_temperature_recovers_an_arrhenius_crossing_and_refuses_a_falling_ratio(rml):
    Ts = [0.8, 0.6, 0.5]
    # ln r = a + b / T with r = 1 at T = 0.4
    b = 2.0
    a = -b / 0.4
    assert rml.crossing_temperature(Ts, [math.exp(a + b / t) for t in Ts]) == pytest.approx(0.4)
    assert rml.crossing_temperature(Ts, [0.1, 0.05, 0.02]) is None  # worse on cooling: no crossing
    assert rml.crossing_temperature(Ts, [0.1, None, None]) is None  # one point: no fit


def test_extrapolated_blocks_are_the_straight_line_to_one_over_e(rml):
    r = {"curves": {"chain_q": [1.0, 0.95, 0.9], "chain_frame_blocks": 10}, "blocks_to_decorrelate": None,
         "md_q_wall_s": 2.0, "proposal_frozen": {"wall_s_per_attempt": 0.01}, "energy_eval_s": 0.001,
         "proposal_harmonic": {"0.8": {"wall_s_per_attempt": 0.004}}, "k": 8, "n": 500}
    e = rml.extrapolated(r)
    n_b = 20 * (1 - 1 / math.e) / 0.1
    assert e["blocks"] == pytest.approx(n_b)
    assert e["speedup_at_flow_cost"] == pytest.approx(2.0 / (n_b * 0.01))
    assert e["speedup_at_harmonic_cost"] == pytest.approx(2.0 / (n_b * 0.004))
    assert e["break_even_attempt_s"] == pytest.approx(2.0 / n_b)
    r["blocks_to_decorrelate"] = 55.0  # measured beats extrapolated
    assert rml.extrapolated(r)["blocks"] == 55.0
    r.update(blocks_to_decorrelate=None, curves={"chain_q": [1.0, 1.0], "chain_frame_blocks": 10})
    assert rml.extrapolated(r)["blocks"] is None  # nothing moved: no estimate


def test_resolved_crossing_refuses_a_crossing_inside_the_first_frames(rml):
    sp = rml.sp
    lags = np.arange(6.0)
    assert math.isnan(sp.resolved_crossing(lags, np.array([1.0, 0.2, 0.1, 0.0, 0.0, 0.0])))
    assert sp.resolved_crossing(lags, np.array([1.0, 0.9, 0.8, 0.5, 0.3, 0.1])) == pytest.approx(3 + (0.5 - math.exp(-1)) / 0.2)
