"""`glassmm simulate`: checkpoints and resume (bit for bit on Reference), types beside the DCD,
a reduced-unit log, and bad input named before any MD."""

import json

import numpy as np
import pytest

import glassmm
from glassmm.cli import main
from glassmm.io import Configuration, load_configuration, save_configuration
from glassmm.trajectory import read_run_log, read_trajectory
from glassmm.workflows import _ResumableRun, simulate


@pytest.fixture(scope="module")
def start(small_liquid, tmp_path_factory):
    path = tmp_path_factory.mktemp("start") / "start.npz"
    ka = small_liquid
    save_configuration(path, Configuration(ka.positions_reduced, ka.types, ka.box, temperature=1.0))
    return path


ARGS = dict(temperature=1.0, equilibration_time=0.1, production_time=0.5, report_every=0.025, platform="Reference",
            deterministic=True, seed=4, melt=False, progress=False)


class _Interrupt(Exception):
    pass


def _interrupted(monkeypatch, after):
    """Make the run die after its ``after``-th checkpoint (as a kill right after writing it would)."""
    real, calls = _ResumableRun._checkpoint, []

    def checkpoint(self, progress):
        real(self, progress)
        calls.append(1)
        if len(calls) == after:
            raise _Interrupt

    monkeypatch.setattr(_ResumableRun, "_checkpoint", checkpoint)


def test_resumed_run_equals_an_uninterrupted_one_bit_for_bit(start, tmp_path, monkeypatch):
    ref = simulate(input=start, output=tmp_path / "ref" / "run", **ARGS)
    out = tmp_path / "cut" / "run"
    for after in (2, 9, 5):  # once in equilibration, then twice in production
        with monkeypatch.context() as m:
            _interrupted(m, after)
            with pytest.raises(_Interrupt):
                simulate(input=start, output=out, **ARGS)
    res = simulate(input=start, output=out, **ARGS)
    assert res["resumed_from_step"] is not None
    a, b = read_trajectory(ref["trajectory"]), read_trajectory(res["trajectory"])
    assert list(b.step) == list(range(5, 101, 5))  # every frame once
    assert np.array_equal(a.positions, b.positions)
    fa, fb = load_configuration(ref["final_configuration"]), load_configuration(res["final_configuration"])
    assert np.array_equal(fa.positions, fb.positions) and np.array_equal(fa.extra["velocities"], fb.extra["velocities"])
    la, lb = read_run_log(ref["log"]), read_run_log(res["log"])
    assert np.array_equal(la["step"], lb["step"]) and np.array_equal(la["potential_energy"], lb["potential_energy"])


def test_a_finished_run_is_extended_and_another_run_refused_by_name(start, tmp_path):
    out = tmp_path / "run"
    simulate(input=start, output=out, **ARGS)
    longer = simulate(input=start, output=out, **{**ARGS, "production_time": 0.75})
    assert list(read_trajectory(longer["trajectory"]).step) == list(range(5, 151, 5))
    with pytest.raises(ValueError, match=r"another run \(temperature: 1.0 -> 0.9"):
        simulate(input=start, output=out, **{**ARGS, "temperature": 0.9})
    with pytest.raises(ValueError, match="nothing to resume"):
        simulate(input=start, output=tmp_path / "none", resume=True, **ARGS)


def test_outputs_are_reduced_say_so_and_carry_types_and_velocities(start, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["simulate", "--input", str(start), "-T", "1.0", "--equilibrate", "0.1", "--time", "0.25",
                 "--report-every", "0.05", "--platform", "Reference", "-o", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    header = open(summary["log"]).readline()
    assert "reduced" in header and "tau" in header and "epsilon_AA/k_B" in header
    log = read_run_log(summary["log"])
    assert np.all(log["kinetic_temperature"] < 3) and np.all(log["potential_energy"] < 0)  # T* ~ 1, U/N ~ -6: reduced
    assert np.allclose(log["time"], log["step"] * 0.005)
    final = load_configuration(summary["final_configuration"])
    assert final.extra["velocities"].shape == (256, 3) and "reduced" in str(final.extra["units"])
    traj = read_trajectory(summary["trajectory"])
    assert np.array_equal(traj.types, final.types) and np.allclose(traj.positions[-1], final.positions, atol=1e-4)


def test_kelvin_is_named_before_any_md(start, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["simulate", "-T", "72", "-n", "256", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "72 looks like Kelvin" in err and "T = 0.59" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing was run or written
    assert main(["isoconf", str(start), "-T", "72", "-R", "2", "--times", "0.05", "-o", str(tmp_path / "iso")]) == 2
    assert "looks like Kelvin" in capsys.readouterr().err


def test_a_blow_up_exits_nonzero_with_its_message(start, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["simulate", "-T", "1.0", "-n", "256", "--dt", "5", "--time", "1", "--platform", "Reference",
               "-o", str(out)])  # the command (it exited 0 with U/N = 1.5e14)
    err = capsys.readouterr().err
    assert rc == 3 and "blew up" in err and "Reduce the timestep" in err
    assert not (tmp_path / "run.npz").exists()  # no final configuration from a blown-up run


def test_fire_quench_resumes_from_its_checkpoint_bit_for_bit(small_liquid, tmp_path, monkeypatch):
    import glassmm.io as gio
    from glassmm.minimize import fire_minimize

    ka = small_liquid
    args = (ka.positions_reduced, ka.types, ka.box)
    kw = dict(force_tolerance=1e-2, platform="Reference", checkpoint_every=1)
    ref = fire_minimize(*args, **kw)
    real, calls = gio.save_checkpoint, []

    def dying(*a, **k):
        real(*a, **k)
        calls.append(1)
        if len(calls) == 2:
            raise _Interrupt

    chk = tmp_path / "is.chk"
    with monkeypatch.context() as m:
        m.setattr(gio, "save_checkpoint", dying)
        with pytest.raises(_Interrupt):
            fire_minimize(*args, checkpoint=chk, **kw)
    res = fire_minimize(*args, checkpoint=chk, **kw)
    assert res.n_steps == ref.n_steps and np.array_equal(res.positions, ref.positions)
    with pytest.raises(ValueError, match="another quench .*force_tolerance"):
        fire_minimize(*args, checkpoint=chk, force_tolerance=1e-3, platform="Reference")
