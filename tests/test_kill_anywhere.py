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


def _stamp(path):
    try:
        st = path.stat()
        return st.st_mtime_ns, st.st_size
    except FileNotFoundError:
        return None


def _wait_for_change(path, before, p, limit=120.0):
    """Wait until ``path`` changes (the run has got past its start-up) or ``p`` exits."""
    t0 = time.perf_counter()
    while _stamp(path) == before and p.poll() is None and time.perf_counter() - t0 < limit:
        time.sleep(0.005)


# Kill windows are fractions of the uninterrupted run's own stepping time, measured in the test:
# fixed seconds made the kills land after the run had finished on a faster machine (CI), and all
# at its start on a slower one.
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
    t_ready = time.perf_counter()
    assert p.wait() == 0, p.stderr.read()
    span = time.perf_counter() - t_ready  # stepping and reporting, after the start-up
    ref = _report_frames(ref_dir / "run.h5")
    assert list(ref["step"]) == list(range(5, TOTAL + 1, 5))

    rng = np.random.default_rng(30)
    frames, live_reads = [], 0
    for kill in range(20):
        p = _start(run_dir, REPORTER_SCRIPT, TOTAL)
        time.sleep(float(rng.uniform(0.0, span / 10)))  # 20 kills cover about the whole run
        if kill % 4 == 0 and (run_dir / "run.h5").exists():  # a second process reads the live file
            _assert_prefix(_report_frames(run_dir / "run.h5"), ref)
            live_reads += 1
        p.send_signal(signal.SIGKILL)
        p.wait()
        if (run_dir / "run.h5").exists():
            frames.append(_assert_prefix(_report_frames(run_dir / "run.h5"), ref))
    p = _start(run_dir, REPORTER_SCRIPT, TOTAL)
    assert p.wait() == 0, p.stderr.read()
    assert _assert_prefix(_report_frames(run_dir / "run.h5"), ref) == len(ref["step"])
    # the kills landed at many different points, and a live reader read the file at least 4 times
    assert live_reads >= 4 and len(set(frames)) > 5, (live_reads, frames, f"{span:.2f} s of stepping")


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
    p = subprocess.Popen(cmd, cwd=ref_dir, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for_change(ref_dir / "run.log", None, p)  # the log appears once the start-up is over
    t_first = time.perf_counter()
    assert p.wait() == 0, p.stderr.read()
    span = time.perf_counter() - t_first
    ref = _run_files(ref_dir)
    assert list(ref["step"]) == list(range(5, 801, 5))

    rng = np.random.default_rng(31)
    frames = []
    for _ in range(10):
        before = _stamp(run_dir / "run.log")
        p = subprocess.Popen(cmd, cwd=run_dir, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_change(run_dir / "run.log", before, p)  # resumed (the log cut or grown)
        time.sleep(float(rng.uniform(0.0, span / 6)))  # 10 kills cover most of the run, 4 at most 2/3
        if p.poll() is not None:
            break  # it finished before this kill
        p.send_signal(signal.SIGKILL)
        p.wait()
        frames.append(_assert_prefix(_run_files(run_dir), ref))  # every frame and log line so far is whole
    subprocess.run(cmd, cwd=run_dir, env=ENV, check=True, capture_output=True)
    got = _run_files(run_dir)
    assert _assert_prefix(got, ref) == len(ref["step"]) and len(got["log_step"]) == len(ref["log_step"])
    assert len(frames) >= 5 and len(set(frames)) >= 4, (frames, f"{span:.2f} s of stepping")
