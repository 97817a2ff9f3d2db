"""Analysis correctness found while checking glassmm against LAMMPS (issue 16): every time
origin by default, centre-of-mass drift taken out in the analysis objects, DCD frame
intervals from the header, wrapped trajectories, momentum at the NVE switch, melt_and_quench's
step size, and --json output that a printing reader cannot break."""

import json
import os

import numpy as np
import pytest

import glassmm
from glassmm.analysis import FourPointStructureFactor, SelfDynamics
from glassmm.cli import main
from glassmm.simulation import create_simulation, get_velocities, melt_and_quench


@pytest.fixture(scope="module")
def walk():
    """A heterogeneous random walk: half the particles ten times more mobile (F, N, 3)."""
    rng = np.random.default_rng(4)
    n, f = 300, 120
    scale = np.where(np.arange(n) < n // 2, 0.02, 0.2)[None, :, None]
    steps = rng.normal(size=(f - 1, n, 3)) * scale
    frames = np.concatenate([np.zeros((1, n, 3)), np.cumsum(steps, axis=0)]) + rng.uniform(0, 8, (1, n, 3))
    types = (np.arange(n) % 5 == 0).astype(int)
    return frames, types, np.arange(f) * 0.2


def _fs_every_origin(frames, types, lag, q=7.25):
    """Independent F_s of A: isotropic sin(qr)/(qr) averaged over every origin."""
    a = types == 0
    r = np.linalg.norm(frames[lag:, a] - frames[:-lag, a], axis=2)
    return float(np.mean(np.sinc(q * r / np.pi)))


def test_self_dynamics_uses_every_origin_by_default(walk):
    frames, types, times = walk
    sd = SelfDynamics(remove_drift=False).compute(frames, None, types, times=times)
    lags = np.round(sd.times / 0.2).astype(int)
    expected = [_fs_every_origin(frames, types, lag) for lag in lags]
    assert np.allclose(sd.fs, expected, rtol=0, atol=1e-12)
    assert list(sd.n_samples) == [len(frames) - lag for lag in lags]


def test_drift_of_the_whole_liquid_is_not_relaxation(walk):
    frames, types, times = walk
    drift = frames + (np.arange(len(frames)) * 0.05)[:, None, None] * np.array([1.0, -0.5, 0.3])
    a = SelfDynamics().compute(frames, None, types, times=times)
    b = SelfDynamics().compute(drift, None, types, times=times)
    assert np.allclose(a.fs, b.fs, atol=1e-12) and np.allclose(a.msd, b.msd, atol=1e-12)
    box = np.full(3, 8.0)
    s4a = FourPointStructureFactor().compute(frames, box, types, lag=10)
    s4b = FourPointStructureFactor().compute(drift, box, types, lag=10)
    assert np.allclose(s4a.s4, s4b.s4, atol=1e-9)


def _dcd_run(tmp_path, report_every, wrap):
    """A short KA run written as DCD by OpenMM's reporter, and its npz topology."""
    import openmm.app as app

    ka = glassmm.KobAndersen(256, positions="random", seed=2)
    sim = create_simulation(ka, "langevin", temperature=1.0, seed=2, threads=1)
    sim.step(500)
    every = int(round(report_every / 0.005))
    sim.reporters.append(app.DCDReporter(str(tmp_path / "t.dcd"), every, enforcePeriodicBox=wrap))
    sim.step(every * 40)
    sim.reporters.clear()
    glassmm.save_configuration(tmp_path / "top.npz", glassmm.Configuration(ka.positions_reduced, ka.types, ka.box))
    return tmp_path / "t.dcd", tmp_path / "top.npz"


def test_dcd_frame_interval_comes_from_the_header(tmp_path, capsys):
    from glassmm.io import dcd_frame_interval

    dcd, top = _dcd_run(tmp_path, 0.5, wrap=False)
    assert dcd_frame_interval(dcd) == pytest.approx(0.5, rel=1e-6)
    assert main(["analyze", str(dcd), "--top", str(top), "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["self_dynamics"]["times"][0] == pytest.approx(0.5, rel=1e-6)  # not 1 tau per frame


def test_wrapped_trajectory_is_unwrapped_with_a_warning(tmp_path, capsys):
    from glassmm.workflows import analyze_files

    dcd, top = _dcd_run(tmp_path, 0.25, wrap=True)
    with pytest.warns(UserWarning, match="wrapped into the box"):
        res, _ = analyze_files([dcd], topology=top)
    # the same run written unwrapped: the analysis must not care which
    plain = tmp_path / "unwrapped"
    plain.mkdir()
    dcd2, _ = _dcd_run(plain, 0.25, wrap=False)
    res2, _ = analyze_files([dcd2], topology=top)
    assert np.allclose(res["self_dynamics"]["msd"], res2["self_dynamics"]["msd"], rtol=1e-4)


def test_json_stays_valid_when_the_dcd_reader_prints(tmp_path, capsys, monkeypatch):
    import mdtraj

    dcd, top = _dcd_run(tmp_path, 0.5, wrap=False)
    real = mdtraj.load_dcd

    def chatty(*a, **k):
        os.write(1, b"dcd reader: chatter on file descriptor 1\n")  # as a C library would
        print("dcd reader: chatter on sys.stdout")
        return real(*a, **k)

    monkeypatch.setattr(mdtraj, "load_dcd", chatty)
    assert main(["analyze", str(dcd), "--top", str(top), "--json"]) == 0
    out = capsys.readouterr().out.strip()
    assert "chatter" not in out
    json.loads(out.splitlines()[-1])


def test_nve_production_starts_without_momentum(tmp_path):
    from glassmm.workflows import _equilibrated

    ka = glassmm.KobAndersen(256, positions="random", seed=1)
    sim = _equilibrated(ka, 1.0, "nve", True, 1.0, 0.005, "CPU", "mixed", 1, False)
    p = get_velocities(sim.context).sum(axis=0)
    assert np.abs(p).max() < 1e-6, p  # a Langevin chain leaves ~sqrt(N T) ~ 16 per component


def test_melt_and_quench_counts_steps_with_the_integrators_step_size():
    ka = glassmm.KobAndersen(256, positions="random", seed=1)
    sim = create_simulation(ka, "langevin", temperature=1.0, dt=0.002, seed=1, threads=1)
    melt_and_quench(sim, 1.0, melt_time=0.2, quench_time=0.2, equilibration_time=0.2)
    assert sim.currentStep == 300  # 0.6 tau at 0.002, not 120 steps at the default 0.005
    with pytest.raises(ValueError, match="integrator's step size"):
        melt_and_quench(sim, 1.0, melt_time=0.2, quench_time=0.2, equilibration_time=0.2, dt=0.005)
