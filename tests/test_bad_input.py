"""Bad input named on one line before any work (issue 30), and quiet where asked."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glassmm import platforms
from glassmm.cli import main
from glassmm.io import Configuration, save_configuration

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def config_file(small_liquid, tmp_path):
    ka = small_liquid
    return save_configuration(tmp_path / "c.npz", Configuration(ka.positions_reduced, ka.types, ka.box, temperature=1.0))


def test_isoconf_without_replicas_is_named(config_file, tmp_path, capsys):
    assert main(["isoconf", str(config_file), "-T", "1.0", "-R", "0", "--times", "0.05", "-o", str(tmp_path / "iso")]) == 2
    err = capsys.readouterr().err
    assert "at least one replica" in err and "n_replicas = 0" in err and len(err.strip().splitlines()) == 1


def test_a_mistyped_model_lists_the_bundled_ones_on_one_line(config_file, capsys):
    assert main(["predict", str(config_file), "--model", "tbotan"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "unknown model 'tbotan'" in err and "did you mean 'tbotan-ka'" in err and "botan-ka-T0.44" in err


def test_inspect_into_a_closed_pipe_is_quiet(config_file):
    """`glassmm inspect ... | head` when head has gone: no BrokenPipeError, exit 0."""
    code = "import sys; from glassmm.cli import main; sys.exit(main())"
    p = subprocess.Popen([sys.executable, "-c", code, "inspect", str(config_file)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    p.stdout.close()  # the reader is gone before the first line
    err = p.stderr.read().decode()
    assert p.wait() == 0, err
    assert "BrokenPipe" not in err and "Traceback" not in err


def test_native_warnings_while_probing_are_silenced_under_glassmm_quiet(monkeypatch, capfd):
    """OpenCL prints 'WARNING: Using an unsupported OpenCL implementation' itself, from C++."""

    def noisy(*args, **kwargs):
        os.write(1, b"WARNING: Using an unsupported OpenCL implementation.\n")
        os.write(2, b"native noise on stderr\n")
        raise RuntimeError("no device")

    monkeypatch.setattr(platforms.openmm, "Context", noisy)
    monkeypatch.setenv("GLASSMM_QUIET", "1")
    assert platforms._probe("CPU").startswith("RuntimeError: no device")
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    monkeypatch.delenv("GLASSMM_QUIET")
    platforms._probe("CPU")
    assert "unsupported OpenCL" in capfd.readouterr().out  # not hidden unless asked


def test_written_files_state_reduced_units(config_file, tmp_path):
    from glassmm.io import load_configuration
    from glassmm.isoconf import run_isoconfigurational

    c = load_configuration(config_file)
    assert "reduced" in str(c.extra["units"])
    res = run_isoconfigurational(c, 1.0, tmp_path / "iso", n_replicas=1, times=[0.05], progress=False)
    assert "reduced" in str(np.load(res.files[0])["units"])
    import json

    assert "reduced" in json.loads(res.metadata_file.read_text())["units"]
