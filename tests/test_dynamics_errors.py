"""Error bars (jackknife over blocks of samples), chi_4 peak and the KWW fit of SelfDynamics.

References are independent: exact stretched exponentials for the fit, free Brownian particles
(F_s = exp(-q^2 D t), beta = 1) for the pipeline, and the scatter of tau_alpha and of the chi_4
peak over independent repeats of the same experiment for the error bars.
"""

import numpy as np
import pytest

from glassmm.analysis import SelfDynamics
from glassmm.analysis.dynamics import kww, kww_fit


def test_kww_fit_recovers_an_exact_stretched_exponential():
    t = np.geomspace(0.01, 100, 60)
    fit = kww_fit(t, kww(t, 0.82, 7.5, 0.63))
    assert fit["amplitude"] == pytest.approx(0.82, rel=1e-6)
    assert fit["tau"] == pytest.approx(7.5, rel=1e-6) and fit["beta"] == pytest.approx(0.63, rel=1e-6)
    # the 1/e time of the fit, from its parameters
    assert kww(fit["tau_1e"], 0.82, 7.5, 0.63) == pytest.approx(np.exp(-1), rel=1e-9)
    # the window starts after the last lag above 0.7 (the plateau stays out)
    assert fit["n_points"] == int(np.sum((t > t[np.nonzero(kww(t, 0.82, 7.5, 0.63) > 0.7)[0][-1]])
                                         & (kww(t, 0.82, 7.5, 0.63) > 0.02)))


def test_kww_fit_refuses_too_few_points():
    t = np.array([0.1, 1.0, 10.0])
    assert kww_fit(t, np.array([0.99, 0.95, 0.9])) is None


def _brownian(rng, D, times, n, R):
    ref = rng.uniform(0, 10, (n, 3))
    sd = SelfDynamics(q=7.25, species=None, remove_drift=False)
    for t in times:
        sd.accumulate(ref[None] + rng.normal(0, np.sqrt(2 * D * t), (R, n, 3)), reference=ref, time=t)
    return sd


def test_brownian_kww_is_a_simple_exponential():
    rng = np.random.default_rng(3)
    D = 0.05
    times = np.geomspace(0.05, 3.0, 24)
    sd = _brownian(rng, D, times, 2000, 16)
    fit = sd.kww
    assert fit["beta"] == pytest.approx(1.0, abs=0.02)
    assert fit["tau"] == pytest.approx(1 / (7.25**2 * D), rel=0.03)
    assert fit["beta_error"] > 0 and fit["tau_error"] > 0
    d = sd.as_dict()
    assert d["kww"]["beta"] == fit["beta"] and len(d["fs_error"]) == len(times)


def test_jackknife_errors_match_the_scatter_of_independent_repeats():
    """tau_alpha and the chi_4 peak of 40 independent experiments scatter as their jackknife error says."""
    rng = np.random.default_rng(7)
    D, n, R = 0.05, 300, 16
    times = np.geomspace(0.1, 1.0, 12)
    taus, tau_errs, peaks, peak_errs = [], [], [], []
    for _ in range(40):
        sd = _brownian(rng, D, times, n, R)
        taus.append(sd.tau_alpha); tau_errs.append(sd.tau_alpha_error)
        p = sd.chi4_peak
        peaks.append(p["value"]); peak_errs.append(p["error"])
    ratio = np.mean(tau_errs) / np.std(taus, ddof=1)
    assert 0.6 < ratio < 1.6, ratio
    # the jackknife of a maximum over lags is conservative (1.2-1.5x over three seeds; see chi4_peak)
    ratio = np.mean(peak_errs) / np.std(peaks, ddof=1)
    assert 0.8 < ratio < 2.0, ratio


def test_compute_blocks_time_origins_and_its_error_matches_independent_trajectories():
    """Time origins of one trajectory are correlated: blocked by origin time, the jackknife error of
    tau_alpha matches the scatter over independent trajectories (12 of them)."""
    rng = np.random.default_rng(0)
    taus, errs = [], []
    for _ in range(12):
        frames = np.cumsum(rng.normal(0, 0.05, (400, 150, 3)), axis=0)
        sd = SelfDynamics(species=None, remove_drift=False).compute(frames, times=np.arange(len(frames)) * 0.1)
        assert (sd.state()["block_sums"][0, :, 0] > 0).all()  # every block holds origins at short lags
        taus.append(sd.tau_alpha); errs.append(sd.tau_alpha_error)
    ratio = np.mean(errs) / np.std(taus, ddof=1)
    assert 0.6 < ratio < 1.6, ratio


def test_state_round_trip_keeps_the_blocks_and_totals_alone_give_no_error_bars():
    rng = np.random.default_rng(5)
    sd = _brownian(rng, 0.05, np.geomspace(0.05, 3.0, 10), 500, 8)
    st = sd.state()
    again = SelfDynamics(q=7.25, species=None, remove_drift=False).load_state(**st)
    assert again.tau_alpha_error == sd.tau_alpha_error and np.array_equal(again.fs, sd.fs)
    totals = SelfDynamics(q=7.25, species=None, remove_drift=False).load_state(st["times"], st["sums"],
                                                                                 st["n_selected"])
    assert np.array_equal(totals.fs, sd.fs) and np.isnan(totals.tau_alpha_error)
    assert "block_sums" not in totals.state()
    with pytest.raises(ValueError, match="add up"):
        SelfDynamics().load_state(st["times"], st["sums"] * 2, st["n_selected"], st["block_sums"])


def test_plot_with_fit_and_error_bars(tmp_path):
    sd = _brownian(np.random.default_rng(2), 0.05, np.geomspace(0.05, 3.0, 16), 500, 8)
    sd.plot(tmp_path / "d.png")
    assert (tmp_path / "d.png").stat().st_size > 10_000
