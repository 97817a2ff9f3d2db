"""kill -9 at random moments: every completed frame stays readable (also by a live reader), and
the rerun continues to the same files an uninterrupted run writes (Reference platform: bit for bit)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from glassmm.reporters import read_report
from glassmm.trajectory import read_run_log, read_trajectory

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "GLASSMM_QUIET": "1"}

# A plain OpenMM script restarted the README's way: restart() + appending reporters + checkpoint last.
REPORTER_SCRIPT = textwrap.dedent("""
    import sys
    import openmm.app as app
    import glassmm
    from glassmm.simulation import create_simulation

    ka = glassmm.KobAndersen(256, seed=0)
    sim = create_simulation(ka, "langevin", temperature=1.0, seed=1, platform="Reference")
    restarted = glassmm.restart(sim, "run.chk", "run.h5")
    rep = glassmm.GlassReporter("run.h5", 5, append=restarted, max_origins=8, min_samples=0)
    sim.reporters += [rep, app.CheckpointReporter("run.chk", 20)]
    print("ready", flush=True)
    sim.step(int(sys.argv[1]) - sim.currentStep)
    rep.close()
""")
TOTAL = 400


def _start(cwd, script, *args):
    p = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], cwd=cwd, env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if line.strip() != "ready":
        raise AssertionError(f"the run did not start: {line}{p.stderr.read()}")
    return p


def _kill_at_random(p, rng, longest):
    time.sleep(float(rng.uniform(0.0, longest)))
    p.send_signal(signal.SIGKILL)
    p.wait()


def _report_frames(path):
    with read_report(path) as r:
        return {k: r[k] for k in ("step", "positions", "dynamics/sums", "analysis/msd", "time", "kinetic_temperature")}


def _assert_prefix(got, ref):
    """Every frame in ``got`` is the uninterrupted run's frame of that index, bit for bit; returns the frames."""
    for k, v in got.items():
        assert len(v) <= len(ref[k]) and np.array_equal(v, ref[k][:len(v)]), f"{k} differs from the uninterrupted run"
    return len(got.get("step", ()))


def test_reporter_survives_kill_9_anywhere_and_resumes_bit_for_bit(tmp_path):
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    ref_dir.mkdir()
    run_dir.mkdir()
    p = _start(ref_dir, REPORTER_SCRIPT, TOTAL)
    assert p.wait() == 0, p.stderr.read()
    ref = _report_frames(ref_dir / "run.h5")
    assert list(ref["step"]) == list(range(5, TOTAL + 1, 5))

    rng = np.random.default_rng(30)
    frames, live_reads = [], 0
    for kill in range(20):
        p = _start(run_dir, REPORTER_SCRIPT, TOTAL)
        if kill % 4 == 0 and (run_dir / "run.h5").exists():  # a second process reads the live file
            time.sleep(0.1)
            _assert_prefix(_report_frames(run_dir / "run.h5"), ref)
            live_reads += 1
        _kill_at_random(p, rng, 0.8)
        if (run_dir / "run.h5").exists():
            frames.append(_assert_prefix(_report_frames(run_dir / "run.h5"), ref))
    p = _start(run_dir, REPORTER_SCRIPT, TOTAL)
    assert p.wait() == 0, p.stderr.read()
    assert _assert_prefix(_report_frames(run_dir / "run.h5"), ref) == len(ref["step"])
    assert live_reads >= 4 and len(set(frames)) > 5  # the kills landed at many different points


def _run_files(d):
    out = {}
    if (d / "run.dcd").exists():
        t = read_trajectory(d / "run.dcd")
        out.update(step=t.step, positions=t.positions)
    if (d / "run.log").exists():
        log = read_run_log(d / "run.log")
        out.update(log_step=log["step"], energy=log["potential_energy"])
    return out


def test_simulate_survives_kill_9_anywhere_and_resumes_bit_for_bit(small_liquid, tmp_path):
    from glassmm.io import Configuration, save_configuration

    ka = small_liquid
    start = tmp_path / "start.npz"
    save_configuration(start, Configuration(ka.positions_reduced, ka.types, ka.box, temperature=1.0))
    cmd = [sys.executable, "-c", "import sys; from glassmm.cli import main; sys.exit(main())", "simulate", "--input", str(start), "-T", "1.0", "--equilibrate", "0.25",
           "--time", "4", "--report-every", "0.025", "--platform", "Reference", "--deterministic", "-o", "run"]
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    ref_dir.mkdir()
    run_dir.mkdir()
    subprocess.run(cmd, cwd=ref_dir, env=ENV, check=True, capture_output=True)
    ref = _run_files(ref_dir)
    assert list(ref["step"]) == list(range(5, 801, 5))

    rng = np.random.default_rng(31)
    kills = 0
    for _ in range(10):
        p = subprocess.Popen(cmd, cwd=run_dir, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(float(rng.uniform(0.5, 2.5)))
        if p.poll() is not None:
            break  # it finished before this kill
        p.send_signal(signal.SIGKILL)
        p.wait()
        kills += 1
        _assert_prefix(_run_files(run_dir), ref)  # every frame and log line written so far is whole
    subprocess.run(cmd, cwd=run_dir, env=ENV, check=True, capture_output=True)
    got = _run_files(run_dir)
    assert _assert_prefix(got, ref) == len(ref["step"]) and len(got["log_step"]) == len(ref["log_step"])
    assert kills >= 5
