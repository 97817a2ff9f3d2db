"""OpenMM / mdtraj interoperability, 2D paths, and the command line's day-one behaviour."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import openmm.app as app
import pytest

import glassmm
from glassmm.cli import main
from glassmm.simulation import create_simulation, get_positions
from tests.conftest import needs_shared


def test_openmm_reporters_and_pdbfile_accept_the_topology(tmp_path, small_liquid):
    ka = small_liquid
    sim = create_simulation(ka, "langevin", temperature=1.0, seed=1, threads=1)
    sim.reporters.append(app.PDBReporter(str(tmp_path / "t.pdb"), 10))
    sim.reporters.append(app.PDBxReporter(str(tmp_path / "t.cif"), 10))
    sim.step(20)
    with open(tmp_path / "x.pdb", "w") as fh:
        app.PDBFile.writeFile(ka.topology, ka.positions, fh)
    pdb = app.PDBFile(str(tmp_path / "x.pdb"))
    assert pdb.topology.getNumAtoms() == 256
    a = pdb.topology.getUnitCellDimensions().value_in_unit(glassmm.units.u.nanometer)
    assert np.allclose(a, ka.box, atol=1e-3)  # reduced sigma = nm


def test_mdtraj_sees_real_particles_of_equal_mass(small_liquid):
    import mdtraj

    top = mdtraj.Topology.from_openmm(small_liquid.topology)
    masses = np.array([atom.element.mass for atom in top.atoms])
    assert np.all(masses > 0) and np.ptp(masses) == 0  # no virtual sites; equal, as in the System
    names = np.array([atom.name for atom in top.atoms])
    assert np.array_equal(names == "B", small_liquid.types == 1)  # the species survives in the names
    traj = mdtraj.Trajectory(small_liquid.positions_reduced[None], top)
    com = mdtraj.compute_center_of_mass(traj)[0]
    assert np.allclose(com, small_liquid.positions_reduced.mean(axis=0))


def test_fire_quenches_2d_in_the_plane_and_the_cli_does_too(tmp_path):
    from glassmm.minimize import fire_minimize

    ka = glassmm.KobAndersen2D(400, seed=1)
    sim = create_simulation(ka, "langevin", temperature=0.8, seed=1, threads=1)
    sim.minimizeEnergy()
    sim.step(500)
    pos = get_positions(sim.context)
    res = fire_minimize(pos, ka.types, ka.box, platform="Reference", force_tolerance=1e-4)
    assert res.converged and np.all(res.positions[:, 2] == 0.0)
    assert res.energy_per_particle < res.initial_energy_per_particle
    glassmm.save_configuration(tmp_path / "c.npz", glassmm.Configuration(pos, ka.types, ka.box))
    assert main(["quench", str(tmp_path / "c.npz"), "-o", str(tmp_path / "q.npz"), "--platform", "Reference",
                 "--json"]) == 0


def test_generative_sampler_refuses_2d():
    from glassmm.sampling import GenerativeSampler, GlobalMove
    from glassmm.sampling.flows import FlowProposalModel
    from glassmm.sampling.features import n_features

    ka = glassmm.KobAndersen2D(400, seed=1)
    sim = create_simulation(ka, "langevin", temperature=0.8, seed=1, threads=1)
    move = GlobalMove(FlowProposalModel(n_features(), hidden=8, layers=1), ka.types, ka.box)
    with pytest.raises(ValueError, match="3D systems only"):
        GenerativeSampler(sim, move, 0.8, progress=False)


# ---------------------------------------------------------------------------- command line
def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    out = capsys.readouterr().out
    for text in ("default: 1000", "default: 1.2", "default: 0.005", "default: langevin", "(default: run)"):
        assert text in " ".join(out.split()), text


def test_unwritable_output_fails_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    t0 = time.perf_counter()
    rc = main(["simulate", "-T", "1.0", "-n", "500", "--time", "50", "-o", str(blocker / "sub" / "run")])
    assert rc == 2 and time.perf_counter() - t0 < 5  # 50 tau of MD would take minutes
    err = capsys.readouterr().err.strip()
    assert err.startswith("glassmm simulate: error: cannot write") and len(err.splitlines()) == 1
    assert main(["dataset", "-o", str(blocker / "data"), "-T", "1.0"]) == 2


@needs_shared
def test_analyze_the_shared_botan_files_with_a_given_time(shared_files, tmp_path, capsys):
    assert main(["analyze", str(shared_files[0])]) == 2
    assert "give it with --time" in capsys.readouterr().err
    assert main(["analyze", str(shared_files[0]), "--time", "1.0", "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    raw = np.load(shared_files[0])
    a = raw["types"] == 0
    r2 = np.sum((raw["positions"] - raw["initial_positions"][None]) ** 2, axis=2)[:, a]
    assert res["self_dynamics"]["times"] == [1.0]
    assert res["self_dynamics"]["msd"][0] == pytest.approx(r2.mean(), rel=1e-9)


def test_plot_default_prefix_is_the_input_and_labels_carry_units(tmp_path, small_liquid, monkeypatch):
    import glassmm.analysis._plot as plot

    sim = create_simulation(small_liquid, "langevin", temperature=1.0, seed=1, threads=1)
    with glassmm.GlassReporter(tmp_path / "run.h5", 20) as rep:
        sim.reporters.append(rep)
        sim.step(200)
    figures = []
    real_finish = plot.finish
    monkeypatch.setattr(plot, "finish", lambda fig, path: (figures.append(fig), real_finish(fig, path))[1])
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["plot", str(tmp_path / "run.h5")]) == 0
    finally:
        os.chdir(cwd)
    assert (tmp_path / "run_dynamics.png").exists() and (tmp_path / "run_temperature.png").exists()
    assert not (tmp_path / "glassmm_dynamics.png").exists()
    dyn = figures[-1]
    labels = " ".join(ax.get_xlabel() + " " + ax.get_ylabel() for ax in dyn.axes)
    assert r"\tau" in labels and r"\sigma_{AA}^2" in labels
    fs_ax = dyn.axes[1]
    assert any(np.allclose(line.get_ydata(), np.exp(-1)) for line in fs_ax.get_lines())  # the 1/e line
    assert "q = 7.25" in " ".join(t.get_text() for t in fs_ax.get_legend().get_texts())
    from matplotlib.ticker import NullFormatter

    assert isinstance(fs_ax.xaxis.get_minor_formatter(), NullFormatter)
    temp = figures[-2]
    assert r"\epsilon_{AA}/k_B" in temp.axes[0].get_ylabel()


def test_quickstart_style_script_without_close_keeps_frames(tmp_path):
    """The README's set-up without the `with`: frames survive an ordinary exit (no model)."""
    code = ("import glassmm\nfrom glassmm.simulation import create_simulation\n"
            "ka = glassmm.KobAndersen(256, seed=0)\n"
            "sim = create_simulation(ka, 'langevin', temperature=1.0, seed=1, threads=1)\n"
            "sim.reporters.append(glassmm.GlassReporter('r.h5', 10))\nsim.step(30)\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    with glassmm.read_report(tmp_path / "r.h5") as r:
        assert list(r["step"]) == [10, 20, 30]
