"""The command line: light import, inspect, simulate."""

import json
import subprocess
import sys

import numpy as np
import pytest

from glassmm.cli import main

from .conftest import needs_shared
from .reference import pair_sum_energy


def test_import_is_light():
    code = "import sys, glassmm; glassmm.__version__; print('torch' in sys.modules, 'openmm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@needs_shared
def test_inspect_json_on_shared(shared_files, capsys):
    assert main(["inspect", str(shared_files[1]), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    import glassmm

    c = glassmm.load_configuration(shared_files[1])
    assert info["potential_energy_per_particle"] == pytest.approx(pair_sum_energy(c.positions, c.types, c.box) / 4096, rel=1e-10)
    assert info["n_particles"] == 4096 and info["n_b"] == 819 and info["n_replicas"] == 32
    assert info["density"] == pytest.approx(1.2)


def test_simulate_writes_outputs(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["simulate", "-T", "1.2", "-n", "300", "--equilibrate", "1", "--time", "1", "--report-every", "0.25", "-o", str(out)])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    import mdtraj

    import glassmm

    final = glassmm.load_configuration(summary["final_configuration"])
    assert final.n_particles == 300 and final.temperature == 1.2
    assert np.isfinite(summary["potential_energy_per_particle"])
    from openmm.app import PDBFile  # noqa: F401  (topology-free DCD read below)

    traj = mdtraj.load_dcd(summary["trajectory"], top=_topology(final))
    assert traj.n_frames == 4
    # unwrapped: the last frame equals the saved final configuration (nm == sigma)
    assert np.allclose(traj.xyz[-1], final.positions, atol=1e-3)


def _topology(config):
    import mdtraj

    top = mdtraj.Topology()
    chain = top.add_chain()
    for t in config.types:
        res = top.add_residue("AB"[t], chain)
        top.add_atom("AB"[t], mdtraj.element.virtual, res)
    return top


def test_cli_reports_errors_cleanly(tmp_path, capsys):
    (tmp_path / "x.npz").write_bytes(b"garbage")
    assert main(["inspect", str(tmp_path / "x.npz")]) == 2
    assert "not an npz configuration archive" in capsys.readouterr().err


def test_analyze_uses_the_types_stored_with_a_trajectory_and_refuses_another_runs(tmp_path, capsys):
    """KA types are shuffled per seed: another run's --top gave tau_alpha 12.3 for 13.5 without complaint."""
    import glassmm
    from glassmm.io import Configuration, save_configuration

    out = tmp_path / "run"
    assert main(["simulate", "-T", "1.2", "-n", "256", "--equilibrate", "0.5", "--time", "2", "--report-every", "0.1",
                 "--seed", "1", "-o", str(out)]) == 0
    capsys.readouterr()
    other = glassmm.KobAndersen(256, seed=7)
    save_configuration(tmp_path / "other.npz", Configuration(other.positions_reduced, other.types, other.box))
    assert main(["analyze", f"{out}.dcd", "--top", str(tmp_path / "other.npz"), "--json"]) == 2
    err = capsys.readouterr().err
    assert "other.npz" in err and "particles differ" in err and "run.dcd.types.npz" in err
    assert main(["analyze", f"{out}.dcd", "--json"]) == 0  # the stored types, no --top needed
    res = json.loads(capsys.readouterr().out)
    assert res["types_sha256"] == glassmm.types_checksum(glassmm.load_configuration(f"{out}.npz").types)
    assert main(["analyze", f"{out}.dcd", "--top", f"{out}.npz", "--json"]) == 0  # the run's own topology
