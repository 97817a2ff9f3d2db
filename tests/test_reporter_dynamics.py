"""The reporter's multiple-origin dynamics against SelfDynamics on the same frames, its warning on
thin lags, and the bytes one report writes."""

import os
import warnings

import numpy as np
import pytest

from glassmm.analysis import SelfDynamics
from glassmm.reporters import GlassReporter, read_report
from glassmm.reporters.schedule import Schedule


class _Every:
    """Records the positions (as the reporter stores them: float32) at every ``interval`` steps."""

    def __init__(self, interval=1):
        self.interval, self.frames = interval, {}

    def describeNextReport(self, simulation):
        return {"steps": self.interval - simulation.currentStep % self.interval, "periodic": False,
                "include": ["positions"]}

    def report(self, simulation, state):
        pos = state.getPositions(asNumpy=True)._value
        self.frames[simulation.currentStep] = pos.astype(np.float32).astype(np.float64)


def test_linear_table_equals_selfdynamics_compute_on_the_same_frames(sim, tmp_path):
    path = tmp_path / "r.h5"
    with GlassReporter(path, 10, max_origins=6, min_samples=0) as rep:
        sim.reporters.append(rep)
        sim.step(300)
    with read_report(path) as r:
        frames, times, types = r["positions"].astype(np.float64), r["time"], r["types"]
        got = r.dynamics()
        assert list(r["dynamics/n_samples"]) == [30 - j for j in range(1, 7)]
    ref = SelfDynamics().compute(frames, None, types, times=times - times[0], n_lags=1000)
    lags = ref.times <= got.times[-1] + 1e-9
    assert np.allclose(ref.times[lags], got.times)
    for name in ("msd", "fs", "overlap", "chi4", "alpha2"):
        assert np.allclose(getattr(ref, name)[lags], getattr(got, name), rtol=1e-10, atol=1e-13), name
    assert np.array_equal(ref.n_samples[lags], got.n_samples)


def test_log_schedule_lags_are_exact_sampled_every_block_and_match_all_origins(sim, tmp_path):
    """Log frames, linear origins: every lag gains a sample per block (the old log schedule had
    hundreds of lags with one sample each), the table is exactly SelfDynamics over the schedule's
    pairs, and F_s agrees with SelfDynamics over every origin of a per-step recording."""
    path = tmp_path / "r.h5"
    start = sim.currentStep
    every = _Every(1)
    with GlassReporter(path, 10, schedule="log", points_per_decade=10, block_decades=1, max_origins=10) as rep:
        sim.reporters += [rep, every]
        sim.step(4000)  # 40 blocks of 100 steps
    sched = Schedule("log", 10, start, 10, 1)
    with read_report(path) as r:
        steps = list(r["step"])
        sd = r.dynamics()
        types = r["types"]
    assert steps == [s for s in range(start + 1, start + 4001) if sched.next_report(s - 1) == s]
    lag_steps = sched.lag_steps(10)
    assert list(lag_steps[:10]) == [10, 13, 16, 20, 25, 32, 40, 50, 63, 79] and lag_steps[10] == 100
    assert np.allclose(sd.times, lag_steps * 0.005)
    assert sd.n_samples.min() >= 30 and np.isfinite(sd.chi4).all()

    # exact: the schedule's pairs, accumulated by SelfDynamics in the same order
    pos = every.frames
    lagset, window, exact = set(lag_steps.tolist()), [], SelfDynamics()
    for s in steps:
        for o in window:
            if s - o in lagset:
                exact.accumulate(pos[s], types=types, reference=pos[o], time=(s - o) * 0.005)
        if sched.is_origin(s):
            window = (window + [s])[-10:]
    assert np.allclose(exact.times, sd.times) and np.array_equal(exact.n_samples, sd.n_samples)
    assert np.allclose(exact.fs, sd.fs, rtol=1e-12) and np.allclose(exact.chi4, sd.chi4, rtol=1e-9)

    # statistical: every origin of the per-step recording (from the first report on)
    first = steps[0]
    everything = SelfDynamics()
    for lag in lag_steps[:15]:
        for o in range(first, start + 4001 - lag, 7):
            everything.accumulate(pos[o + lag], types=types, reference=pos[o], time=lag * 0.005)
    diff = np.abs(everything.fs - sd.fs[:15])
    assert diff.max() < 0.03, diff


def test_thin_lags_warn_with_their_count(sim, tmp_path):
    rep = GlassReporter(tmp_path / "r.h5", 10, max_origins=20)
    sim.reporters.append(rep)
    sim.step(100)
    with pytest.warns(UserWarning, match=r"9 of 9 lags .* fewer than 10 samples"):
        rep.close()
    rep = GlassReporter(tmp_path / "r2.h5", 10, max_origins=3)
    sim.reporters[:] = [rep]
    sim.step(200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rep.close()  # 19, 18, 17 samples: no warning


def _wchar():
    with open("/proc/self/io") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("wchar"))


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs Linux /proc/self/io to count bytes written")
def test_a_report_writes_its_frame_plus_a_constant(sim, tmp_path):
    """Once the origin window is full the old reporter rewrote every origin at every report
    (measured here: 105-126 kB per report at N = 256 with 5 origins); now a report writes one row."""
    n, w = 256, 5
    rep = GlassReporter(tmp_path / "r.h5", 5, max_origins=w)
    sim.reporters.append(rep)
    per = []
    for _ in range(w + 15):
        before = _wchar()
        sim.step(5)
        per.append(_wchar() - before)
    rep.close()
    data = n * 3 * 4 + n * 4 + w * 8 * 6 * 8  # positions, propensity, the dynamics table
    steady = per[2:]
    assert max(steady) < data + 12_000, per  # the rest is HDF5 metadata of two flushes
    assert max(steady) < 1.2 * min(steady), per  # no growth once the window is full


def test_report_in_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist .*does not create folders"):
        GlassReporter(tmp_path / "no_such_folder" / "run.h5", 10)
    assert not (tmp_path / "no_such_folder").exists()
