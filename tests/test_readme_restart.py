"""The README's restart recipe, run verbatim: killed with -9 mid-run (while a second process reads
its report), run again, and its files hold one run's frames, none twice."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from glassmm.reporters import read_report
from glassmm.trajectory import read_trajectory, topology_path

REPO = Path(__file__).resolve().parents[1]
MARKER = "<!-- restart recipe: tests/test_readme_restart.py runs the next code block verbatim -->"


def recipe() -> str:
    text = (REPO / "README.md").read_text()
    assert MARKER in text, "the README's restart recipe lost its marker"
    block = re.search(r"```python\n(.*?)```", text[text.index(MARKER):], re.S)
    return block.group(1)


def _frames(path):
    with read_report(path) as r:
        return len(r)


def test_readme_restart_recipe_runs_verbatim_after_a_kill(tmp_path):
    code = recipe()
    env = {**os.environ, "PYTHONPATH": str(REPO), "GLASSMM_QUIET": "1"}
    p = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    # kill it once a checkpoint exists and its report (read live by this process) has 15 frames
    while time.time() < deadline and p.poll() is None:
        if (tmp_path / "run.chk").exists() and (tmp_path / "run.h5").exists() and _frames(tmp_path / "run.h5") >= 15:
            break
        time.sleep(0.05)
    assert p.poll() is None, f"the recipe ended before it could be killed: {p.stderr.read().decode()}"
    p.send_signal(signal.SIGKILL)
    p.wait()
    before = read_trajectory(tmp_path / "run.dcd").n_frames
    assert 15 <= before < 60
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    want = list(range(100, 6001, 100))
    dcd = read_trajectory(tmp_path / "run.dcd")
    assert list(dcd.step) == want  # 60 frames, none twice (the old recipe left 62)
    assert topology_path(tmp_path / "run.dcd").exists()
    with read_report(tmp_path / "run.h5") as r:
        assert list(r["step"]) == want
        assert np.allclose(r["positions"], dcd.positions, atol=1e-4)  # the same run in both files
        assert np.array_equal(r["types"], dcd.types)
