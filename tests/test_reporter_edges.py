"""GlassReporter at its edges: exits without close(), interrupts, unwritable outputs, the skip
policy's wall clock, append after a crash, torn frames, blow-ups, non-finite predictions, the
live line, log-spaced reports, unit attributes and 2D."""

import io
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import glassmm
from glassmm.analysis import SelfDynamics
from glassmm.io import OutputNotWritableError
from glassmm.reporters import GlassReporter, SimulationBlewUp, read_report
from glassmm.simulation import create_simulation

PLUGIN = Path(__file__).with_name("plugin_fixture")
pytestmark = pytest.mark.usefixtures("test_plugin")
REPO = Path(__file__).resolve().parents[1]


def _script(tmp_path, body: str) -> subprocess.CompletedProcess:
    """Run a user script in a fresh interpreter (the test plugin importable), from tmp_path."""
    code = textwrap.dedent("""
        import glassmm
        from glassmm.simulation import create_simulation
        ka = glassmm.KobAndersen(256, seed=0)
        sim = create_simulation(ka, "langevin", temperature=1.0, seed=1, threads=1)
        rep = glassmm.GlassReporter("run.h5", 10, model="test-model", backend="testslow",
                                    backend_options={"delay": 0.3}, queue_size=8)
        sim.reporters.append(rep)
    """) + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN), str(REPO)])}
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


# ---------------------------------------------------------------------------- exits
def test_script_that_never_closes_exits_cleanly_with_every_frame(tmp_path):
    res = _script(tmp_path, "sim.step(40)\n")
    assert res.returncode == 0, res.stderr
    assert "terminate called" not in res.stderr
    with read_report(tmp_path / "run.h5") as r:
        assert list(r["step"]) == [10, 20, 30, 40]  # queued behind a 0.3 s model, drained at exit
        assert np.isfinite(r["propensity"]).all()


def test_interrupt_outside_with_keeps_the_frames_before_it(tmp_path):
    res = _script(tmp_path, """
        class Interrupt:  # stands in for Ctrl-C arriving during the run
            def describeNextReport(self, simulation):
                return {"steps": 45 - simulation.currentStep % 45, "periodic": False, "include": []}
            def report(self, simulation, state):
                raise KeyboardInterrupt
        sim.reporters.append(Interrupt())
        sim.step(100)
    """)
    assert "KeyboardInterrupt" in res.stderr and "terminate called" not in res.stderr
    with read_report(tmp_path / "run.h5") as r:
        assert list(r["step"]) == [10, 20, 30, 40]


def test_unwritable_outputs_fail_when_the_reporter_is_built(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(OutputNotWritableError, match="cannot write"):
        GlassReporter(blocker / "run.h5", 10)
    (tmp_path / "old.h5").write_text("x")
    with pytest.raises(FileExistsError, match="append=True"):
        GlassReporter(tmp_path / "old.h5", 10)
    with pytest.raises(ValueError, match="not a readable HDF5 report"):
        GlassReporter(tmp_path / "old.h5", 10, append=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_fails_at_construction(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputNotWritableError):
            GlassReporter(ro / "run.h5", 10)
    finally:
        ro.chmod(0o755)


# ---------------------------------------------------------------------------- skip policy
def test_skip_policy_never_blocks_md(sim, tmp_path):
    rep = GlassReporter(tmp_path / "r.h5", 1, model="test-model", backend="testslow", queue_size=1,
                        on_full="skip", backend_options={"delay": 0.5})
    sim.reporters.append(rep)
    sim.step(1)  # set-up and the first inference start
    t0 = time.perf_counter()
    sim.step(20)
    elapsed = time.perf_counter() - t0
    rep.close()
    # Blocking on any skipped frame would wait for a 0.5 s inference; 20 MD steps of 256
    # particles take milliseconds.
    assert elapsed < 0.4, f"20 steps took {elapsed:.2f} s with on_full='skip'"
    with read_report(tmp_path / "r.h5") as r:
        assert list(r["step"]) == list(range(1, 22))
        assert int(r.attrs["skipped_inferences"]) >= 18


# ---------------------------------------------------------------------------- append
class _Positions:
    """Records positions at every report (what the restarted run really produced)."""

    def __init__(self, interval):
        self.interval, self.frames = interval, {}

    def describeNextReport(self, simulation):
        return {"steps": self.interval - simulation.currentStep % self.interval, "periodic": False,
                "include": ["positions"]}

    def report(self, simulation, state):
        self.frames[simulation.currentStep] = state.getPositions(asNumpy=True)._value.copy()


def _replayed(path, max_origins):
    """Multiple-origin dynamics recomputed from a file's frames, as an uninterrupted run builds them."""
    with read_report(path) as r:
        pos, times = r["positions"].astype(np.float64), r["time"]
        types, box = r["types"], r.attrs["box"]
    sd, origins = SelfDynamics(), []
    for k in range(len(pos)):
        for t0, p0 in origins:
            sd.accumulate(pos[k], box, types, reference=p0, time=times[k] - t0)
        origins = (origins + [(times[k], pos[k])])[-max_origins:]
    return sd


def test_append_after_crash_replaces_frames_past_the_checkpoint(sim, tmp_path):
    path, chk = tmp_path / "r.h5", tmp_path / "state.chk"
    rep = GlassReporter(path, 20, max_origins=4)
    sim.reporters.append(rep)
    sim.step(100)
    sim.saveCheckpoint(str(chk))
    sim.step(60)  # frames 120..160 written, then the run "crashes"
    rep.close()
    crashed = {s: p for s, p in zip(read_report(path)["step"], read_report(path)["positions"])}

    sim.reporters.clear()
    sim.loadCheckpoint(str(chk))
    sim.integrator.setRandomNumberSeed(99)  # the restarted run takes another path
    sim.context.setVelocitiesToTemperature(glassmm.units.temperature_to_kelvin(1.0), 7)
    truth = _Positions(20)
    rep2 = GlassReporter(path, 20, append=True, max_origins=4)
    sim.reporters.extend([rep2, truth])
    sim.step(100)
    rep2.close()
    assert rep2.frames_dropped["step"] == 3
    with read_report(path) as r:
        assert list(r["step"]) == list(range(20, 201, 20))  # one trajectory, no duplicates
        for k, step in enumerate(r["step"]):
            if step > 100:
                assert np.allclose(r["positions"][k], truth.frames[step], atol=1e-5)
        assert not np.allclose(r["positions"][5], crashed[120], atol=1e-3)
        lens = {k: r[k].shape[0] for k in ("step", "time", "positions", "propensity", "analysis/msd")}
        assert set(lens.values()) == {10}
        replay = _replayed(path, 4)
        assert np.array_equal(r["dynamics/n_samples"], replay.n_samples)
        assert np.allclose(r["dynamics/fs"], replay.fs, rtol=1e-5)


def test_resume_keeps_accumulators_beyond_the_origin_window(sim, tmp_path):
    path = tmp_path / "r.h5"
    with GlassReporter(path, 10, max_origins=3) as rep:
        sim.reporters.append(rep)
        sim.step(60)
    sim.reporters.clear()
    with GlassReporter(path, 10, max_origins=3, append=True) as rep:
        sim.reporters.append(rep)
        sim.step(40)
    with read_report(path) as r:
        assert len(r["step"]) == 10
        # an uninterrupted run pairs each frame with the 3 before it: 9, 8 and 7 samples
        assert list(r["dynamics/n_samples"]) == [9, 8, 7]
        assert np.allclose(r["dynamics/fs"], _replayed(path, 3).fs, rtol=1e-5)


def test_torn_frame_is_dropped_not_read_as_zeros(sim, tmp_path):
    path = tmp_path / "r.h5"
    with GlassReporter(path, 10) as rep:
        sim.reporters.append(rep)
        sim.step(30)
    with h5py.File(path, "a") as h:  # a crash between writing ``step`` and the rest of frame 4
        h["step"].resize((4,))
        h["step"][3] = 40
    sim.reporters.clear()
    with GlassReporter(path, 10, append=True) as rep:
        sim.reporters.append(rep)
        sim.step(20)
    with read_report(path) as r:
        assert list(r["step"]) == [10, 20, 30, 40, 50]
        assert r["positions"].shape[0] == 5 and np.all(np.abs(r["positions"]).sum(axis=(1, 2)) > 0)


def test_close_raises_a_stored_write_error(sim, tmp_path):
    rep = GlassReporter(tmp_path / "r.h5", 10, model="test-model", backend="testslow")
    sim.reporters.append(rep)
    sim.step(10)
    rep.flush()

    def broken(*a, **k):
        raise OSError("disk full (injected)")

    rep._writer.append = broken
    sim.step(10)
    with pytest.raises(OSError, match="disk full"):
        rep.close()


# ---------------------------------------------------------------------------- blow-ups, NaN
def test_exploding_run_stops_with_a_named_error_and_clean_frames(small_liquid, tmp_path):
    s = create_simulation(small_liquid, "langevin", temperature=1.0, dt=0.05, seed=2, threads=1)
    path = tmp_path / "r.h5"
    rep = GlassReporter(path, 5)
    s.reporters.append(rep)
    with pytest.raises(SimulationBlewUp, match="blew up at step"):
        s.step(2000)
    with read_report(path) as r:
        assert np.all(r["kinetic_temperature"] <= 50.0)
        assert np.isfinite(r["positions"]).all()
        assert "blew_up" in r.attrs


def test_nonfinite_predictions_are_counted_apart(sim, tmp_path):
    from glassmm_testbackend import SlowPredictor

    SlowPredictor.calls.clear()
    with GlassReporter(tmp_path / "r.h5", 10, model="test-model", backend="testslow",
                       backend_options={"nan_on_call": 2}) as rep:
        sim.reporters.append(rep)
        sim.step(40)
    with read_report(tmp_path / "r.h5") as r:
        assert int(r.attrs["nonfinite_predictions"]) == 1 and int(r.attrs["model_errors"]) == 0
        assert np.isnan(r["propensity"][1]).all() and np.isnan(r["temperature_estimate"][1])
        assert np.isfinite(r["propensity"][[0, 2, 3]]).all()


# ---------------------------------------------------------------------------- day one
def test_live_line_and_log_spaced_reports(sim, tmp_path):
    out = io.StringIO()
    start = sim.currentStep
    with GlassReporter(tmp_path / "r.h5", 10, schedule="log", points_per_decade=5, progress=out) as rep:
        sim.reporters.append(rep)
        sim.step(1000)
    lines = out.getvalue().splitlines()
    with read_report(tmp_path / "r.h5") as r:
        steps = r["step"] - start
    expected = sorted({10 + int(round(10 * 10 ** (k / 5))) for k in range(20)} | {10})
    assert list(steps) == [s for s in expected if s <= 1000]
    assert lines[0].startswith('#"Step"') and "T_kin (eps/k_B)" in lines[0]
    assert [int(line.split("\t")[0]) for line in lines[1:]] == list(steps + start)


def test_every_dataset_has_units(sim, tmp_path):
    with GlassReporter(tmp_path / "r.h5", 10) as rep:
        sim.reporters.append(rep)
        sim.step(30)
    with h5py.File(tmp_path / "r.h5", "r") as h:
        missing = []
        h.visititems(lambda name, obj: missing.append(name)
                     if isinstance(obj, h5py.Dataset) and "units" not in obj.attrs else None)
        assert not missing
        assert h["time"].attrs["units"] == "tau" and h["kinetic_temperature"].attrs["units"] == "epsilon/k_B"


def test_2d_kinetic_temperature_and_fs(tmp_path):
    ka = glassmm.KobAndersen2D(400, seed=1)
    s = create_simulation(ka, "langevin", temperature=0.8, seed=1, threads=1)
    s.minimizeEnergy()
    s.step(1000)
    with GlassReporter(tmp_path / "r.h5", 50) as rep:
        s.reporters.append(rep)
        s.step(1000)
    with read_report(tmp_path / "r.h5") as r:
        # 2N - 2 degrees of freedom: the thermostat's temperature, not 2/3 of it
        assert abs(np.mean(r["kinetic_temperature"]) - 0.8) < 0.06
        pos, ref = r["positions"][-1].astype(float), r["reference_positions"]
        sel = r["types"] == 0
        d = pos - ref
        d -= d.mean(axis=0)  # the reporter takes out the centre-of-mass drift (issue 16)
        dr = np.linalg.norm(d[sel], axis=1)
        theta = np.linspace(0, np.pi, 2001)  # J_0(x) = (1/pi) int_0^pi cos(x sin theta) d theta
        j0 = np.trapezoid(np.cos(7.25 * dr[:, None] * np.sin(theta)), theta, axis=1) / np.pi
        assert np.isclose(r["analysis/fs"][-1], np.mean(j0), atol=1e-5)
        assert np.allclose(r["positions"][:, :, 2], 0.0)


def test_restart_writes_the_checkpoint_frame_a_crash_left_in_the_queue(sim, tmp_path):
    """The model's queue held the frame of the checkpoint's step when the run died: the restarted
    reporter writes it from the restored state, so the file has no gap."""
    from glassmm.trajectory import cut_to_step, restart

    path, chk = tmp_path / "r.h5", tmp_path / "state.chk"
    with GlassReporter(path, 20, model="test-model", backend="testslow") as rep:
        sim.reporters.append(rep)
        sim.step(100)
        sim.saveCheckpoint(str(chk))
    cut_to_step(path, 80)  # frame 100 never reached the file
    sim.reporters.clear()
    sim2 = create_simulation(sim.ka, "langevin", temperature=1.0, seed=2, threads=1)
    assert restart(sim2, chk, path) and sim2.currentStep == 100
    with GlassReporter(path, 20, model="test-model", backend="testslow", append=True) as rep:
        sim2.reporters.append(rep)
        sim2.step(60)
    with read_report(path) as r:
        assert list(r["step"]) == list(range(20, 161, 20))
        assert np.isfinite(r["propensity"]).all()
