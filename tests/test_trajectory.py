"""Trajectories carry their types: HDF5 frame files (live readers, kill -9), DCD sidecars, restarts."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import glassmm
from glassmm import trajectory as tr
from glassmm.io import Configuration, save_configuration

REPO = Path(__file__).resolve().parents[1]


def _ka(seed=0):
    return glassmm.KobAndersen(256, seed=seed)


def test_types_travel_and_a_foreign_topology_is_refused_by_name(tmp_path):
    a, b = _ka(0), _ka(5)
    assert tr.types_checksum(a.types) != tr.types_checksum(b.types)  # shuffled per seed
    path = tmp_path / "t.h5"
    with tr.TrajectoryWriter(path, a.types, a.box) as w:
        for k in range(3):
            w.append(a.positions_reduced + 0.1 * k, time=0.5 * k, step=100 * k)
    t = tr.read_trajectory(path)
    assert np.array_equal(t.types, a.types) and np.allclose(t.box, a.box)
    assert list(t.step) == [0, 100, 200] and np.allclose(t.time, [0, 0.5, 1.0])
    assert np.allclose(t.positions[2], a.positions_reduced + 0.2, atol=1e-5)
    save_configuration(tmp_path / "own.npz", Configuration(a.positions_reduced, a.types, a.box))
    save_configuration(tmp_path / "other.npz", Configuration(b.positions_reduced, b.types, b.box))
    tr.read_trajectory(path, top=tmp_path / "own.npz")
    with pytest.raises(tr.TypesMismatchError, match=r"other\.npz.*particles differ"):
        tr.read_trajectory(path, top=tmp_path / "other.npz")
    with pytest.raises(tr.TypesMismatchError):
        tr.TrajectoryWriter(path, b.types, b.box, append=True)


def test_append_after_restart_drops_frames_past_it(tmp_path):
    a = _ka()
    path = tmp_path / "t.h5"
    with tr.TrajectoryWriter(path, a.types, a.box, series={"temperature": "epsilon/k_B"}, precision="double") as w:
        for k in range(6):
            w.append(a.positions_reduced + k, time=k, step=10 * k, temperature=0.5 + k)
    with tr.TrajectoryWriter(path, a.types, a.box, append=True, restart_step=30,
                             series={"temperature": "epsilon/k_B"}) as w:
        assert w.frames == 3 and w.dropped["step"] == 3
        w.append(a.positions_reduced - 1, time=3, step=30, temperature=9.0)
    t = tr.read_trajectory(path)
    assert list(t.step) == [0, 10, 20, 30] and list(t.extra["temperature"]) == [0.5, 1.5, 2.5, 9.0]
    assert np.array_equal(t.positions[1], a.positions_reduced + 1)  # double precision: bit for bit


_WRITER = textwrap.dedent("""
    import sys, numpy as np
    from glassmm.trajectory import TrajectoryWriter
    n = 500
    types = (np.arange(n) % 5 == 0).astype(np.int8)
    append = sys.argv[2] == "append"
    w = TrajectoryWriter(sys.argv[1], types, [9.0, 9.0, 9.0], append=append)
    k = w.frames
    print("ready", flush=True)
    while k < int(sys.argv[3]):
        w.append(np.full((n, 3), float(k)), time=0.01 * k, step=k)
        k += 1
    w.close()
""")


def _writer(path, mode, frames):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), mode, str(frames)], env=env,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def _check_frames(path):
    t = tr.read_trajectory(path)
    k = np.arange(t.n_frames)
    assert np.array_equal(t.step, k)
    assert np.array_equal(t.positions[:, 0, 0], k.astype(float)) and np.all(t.positions == k[:, None, None])
    return t.n_frames


def test_live_reader_while_writing_and_kill_9_anywhere(tmp_path):
    """A second process reads while frames are written; a kill -9 at random moments leaves every
    committed frame readable, and appending continues from there."""
    path = tmp_path / "live.h5"
    rng = np.random.default_rng(0)
    p = _writer(path, "new", 10**9)
    seen = []
    for _ in range(5):  # the live reader: frames grow and every one it sees is whole
        time.sleep(0.05)
        seen.append(_check_frames(path))
    assert seen[-1] > seen[0] > 0
    p.send_signal(signal.SIGKILL)
    p.wait()
    last = _check_frames(path)
    for _ in range(8):  # resume, kill again at a random moment, check
        p = _writer(path, "append", 10**9)
        time.sleep(float(rng.uniform(0.0, 0.15)))
        p.send_signal(signal.SIGKILL)
        p.wait()
        now = _check_frames(path)
        assert now >= last
        last = now
    p = _writer(path, "append", last + 20)
    assert p.wait() == 0
    assert _check_frames(path) == last + 20


def test_clear_open_flags_is_what_hdf5_accepts(tmp_path):
    import h5py

    path = tmp_path / "f.h5"
    code = ("import h5py, os, signal; h = h5py.File(r'%s', 'w', libver='latest'); h.create_dataset('x', data=[1, 2]);"
            " h.swmr_mode = True; h.flush(); os.kill(os.getpid(), signal.SIGKILL)" % path)
    subprocess.run([sys.executable, "-c", code])
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(path, "a", libver="latest")
    assert tr.clear_open_flags(path)
    with h5py.File(path, "a", libver="latest") as h:
        assert list(h["x"][()]) == [1, 2]
    assert not tr.clear_open_flags(path)  # closed cleanly: nothing to clear


def test_dcd_sidecar_torn_frame_and_cut(tmp_path):
    from glassmm.simulation import create_simulation

    a, b = _ka(0), _ka(5)
    sim = create_simulation(a, "langevin", temperature=1.0, platform="Reference", seed=1)
    path = tmp_path / "run.dcd"
    sim.reporters.append(tr.dcd_reporter(path, 10, a))
    sim.step(50)
    del sim.reporters[:]
    assert tr.topology_path(path).exists()
    t = tr.read_trajectory(path)
    assert list(t.step) == [10, 20, 30, 40, 50] and t.positions.shape == (5, 256, 3)
    assert np.allclose(t.positions[-1], glassmm.simulation.get_positions(sim.context), atol=1e-4)  # unwrapped
    assert np.allclose(t.time, t.step * 0.005, rtol=1e-5)
    save_configuration(tmp_path / "other.npz", Configuration(b.positions_reduced, b.types, b.box))
    with pytest.raises(tr.TypesMismatchError, match="other.npz"):
        tr.read_trajectory(path, top=tmp_path / "other.npz")
    # a kill mid-frame: OpenMM counts the frame in the header before writing its bytes
    info = tr.dcd_header(path)
    with open(path, "r+b") as fh:
        fh.truncate(info["header_bytes"] + 4 * info["frame_bytes"] + 100)
    assert tr.read_trajectory(path).n_frames == 4
    assert tr.cut_dcd(path, 30) == 3
    assert tr.dcd_header(path)["n_header"] == 3
    assert os.path.getsize(path) == info["header_bytes"] + 3 * info["frame_bytes"]


def test_restart_one_call_cuts_every_file_to_the_checkpoint(tmp_path):
    """The README's restart, by hand: a run killed after its checkpoint restarts with no duplicate frame."""
    import openmm.app as app

    from glassmm.simulation import create_simulation

    a = _ka()

    def fresh():
        return create_simulation(a, "langevin", temperature=1.0, platform="Reference", seed=1)

    files = [tmp_path / "run.dcd", tmp_path / "run.h5", tmp_path / "run.log"]

    def reporters(sim, append):
        return [tr.dcd_reporter(files[0], 10, a, append=append),
                tr.TrajectoryReporter(files[1], 10, a, append=append),
                tr.RunLogReporter(files[2], 10, a.n_particles, append=append),
                app.CheckpointReporter(str(tmp_path / "run.chk"), 30)]

    sim = fresh()
    assert not tr.restart(sim, tmp_path / "run.chk", *files)
    sim.reporters += reporters(sim, False)
    sim.step(50)  # checkpoint at 30; frames 40, 50 were written past it, then the run "dies"
    for r in sim.reporters:
        getattr(r, "close", lambda: None)()
    del sim
    sim = fresh()
    assert tr.restart(sim, tmp_path / "run.chk", *files) and sim.currentStep == 30
    sim.reporters += reporters(sim, True)
    sim.step(70)
    for r in sim.reporters:
        getattr(r, "close", lambda: None)()
    ref = fresh()
    ref.reporters.append(tr.TrajectoryReporter(tmp_path / "ref.h5", 10, a))
    ref.step(100)
    ref.reporters[0].close()
    want = list(range(10, 101, 10))
    dcd, h5, log = tr.read_trajectory(files[0]), tr.read_trajectory(files[1]), tr.read_run_log(files[2])
    assert list(dcd.step) == want and list(h5.step) == want and list(log["step"]) == want
    # Reference platform, checkpoint restart: the same trajectory as an uninterrupted run
    assert np.array_equal(h5.positions, tr.read_trajectory(tmp_path / "ref.h5").positions)


def test_a_second_live_writer_is_refused(tmp_path):
    """HDF5 drops its own file lock in SWMR mode; a second writer must not clear the first's flags."""
    a = _ka()
    path = tmp_path / "t.h5"
    w = tr.TrajectoryWriter(path, a.types, a.box)
    w.append(a.positions_reduced, time=0.0, step=0)
    with pytest.raises(ValueError, match="another process is writing it"):
        tr.TrajectoryWriter(path, a.types, a.box, append=True)
    with pytest.raises(ValueError, match="another process is writing it"):
        tr.cut_to_step(path, 0)
    w.close()
    assert tr.cut_to_step(path, 0) == 1 and not list(tmp_path.glob(".*lock"))
