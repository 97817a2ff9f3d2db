"""GlassReporter: OpenMM protocol, append/restart, async ordering, failure paths, backends."""

import json
from pathlib import Path

import numpy as np
import pytest

import glassmm
from glassmm.backends import registry
from glassmm.cli import main
from glassmm.reporters import GlassReporter, SimulationBlewUp, read_report
from glassmm.simulation import create_simulation

PLUGIN = Path(__file__).with_name("plugin_fixture")
pytestmark = pytest.mark.usefixtures("test_plugin")


def test_describe_next_report_protocol(sim, tmp_path):
    rep = GlassReporter(tmp_path / "r.h5", 50)
    d = rep.describeNextReport(sim)
    assert isinstance(d, dict) and d["steps"] == 50 and d["periodic"] is False
    assert set(d["include"]) == {"positions", "velocities"}
    sim.step(20)
    assert rep.describeNextReport(sim)["steps"] == 30
    assert not (tmp_path / "r.h5").exists()  # set-up deferred to the first report


def test_records_frames_in_order_async(sim, tmp_path):
    with GlassReporter(tmp_path / "r.h5", 25, model="test-model", backend="testslow", asynchronous=True, queue_size=8) as rep:
        sim.reporters.append(rep)
        sim.step(250)
    with read_report(tmp_path / "r.h5") as r:
        assert list(r["step"]) == list(range(25, 251, 25))
        assert np.allclose(r["time"], r["step"] * 0.005)
        assert r["propensity"].shape == (10, 256) and np.isfinite(r["propensity"]).all()
        assert np.isfinite(r["temperature_estimate"]).all()
        assert abs(np.mean(r["kinetic_temperature"]) - 1.0) < 0.15
        assert np.allclose(r["thermostat_temperature"], 1.0)
        assert r["analysis/msd"][0] == 0 and np.all(np.diff(r["analysis/msd"][:4]) > 0)
        assert r.attrs["backend"] == "testslow"
        lag = r["dynamics/lag"]
        assert np.all(np.diff(lag) > 0) and r["dynamics/n_samples"][0] == 9


def test_skip_policy_counts_and_keeps_order(sim, tmp_path):
    path = tmp_path / "r.h5"
    with GlassReporter(path, 10, model="test-model", backend="testslow", queue_size=1, on_full="skip") as rep:
        rep.predictor.delay = 0.3
        sim.reporters.append(rep)
        sim.step(200)
    with read_report(path) as r:
        assert list(r["step"]) == list(range(10, 201, 10))  # every frame, in order
        skipped = int(r.attrs["skipped_inferences"])
        assert skipped > 0 and skipped == int(np.isnan(r["propensity"][:, 0]).sum())


def test_append_after_restart_no_loss_no_duplicates(sim, tmp_path):
    path, chk = tmp_path / "r.h5", tmp_path / "state.chk"
    rep = GlassReporter(path, 20, model="test-model", backend="testslow")
    sim.reporters.append(rep)
    sim.step(100)
    sim.saveCheckpoint(str(chk))
    sim.step(40)  # these frames (120, 140) are written, then the run "crashes"
    rep.close()
    # restart from the checkpoint at step 100: steps 120, 140 must not be duplicated
    sim2 = create_simulation(sim.ka, "langevin", temperature=1.0, seed=2)
    sim2.loadCheckpoint(str(chk))
    rep2 = GlassReporter(path, 20, model="test-model", backend="testslow", append=True)
    sim2.reporters.append(rep2)
    sim2.step(100)
    rep2.close()
    with read_report(path) as r:
        assert list(r["step"]) == list(range(20, 201, 20))
    with pytest.raises(FileExistsError, match="append=True"):
        bad = GlassReporter(path, 20)
        sim2.reporters[:] = [bad]
        sim2.step(20)


class _NaNState:
    """A real State whose positions have one NaN (OpenMM's own check stops step() earlier;
    this exercises the reporter's guard for states that reach it)."""

    def __init__(self, state):
        self._s = state

    def getPositions(self, asNumpy=False):
        p = self._s.getPositions(asNumpy=True)
        p[5, 0] = float("nan") * p.unit
        return p

    def __getattr__(self, name):
        return getattr(self._s, name)


def test_nan_positions_stop_with_message_and_file_readable(sim, tmp_path):
    path = tmp_path / "r.h5"
    rep = GlassReporter(path, 10)
    sim.reporters.append(rep)
    sim.step(30)
    sim.reporters.clear()
    sim.step(10)
    state = sim.context.getState(positions=True, velocities=True)
    with pytest.raises(SimulationBlewUp, match="blew up at step 40"):
        rep.report(sim, _NaNState(state))
    with read_report(path) as r:
        assert list(r["step"]) == [10, 20, 30]


def test_model_error_logged_md_continues(sim, tmp_path, caplog):
    path = tmp_path / "r.h5"
    with GlassReporter(path, 10, model="test-model", backend="testslow",
                       backend_options={"fail_on_call": 2}) as rep:
        sim.reporters.append(rep)
        from glassmm_testbackend import SlowPredictor

        SlowPredictor.calls.clear()
        sim.step(50)
    with read_report(path) as r:
        assert len(r["step"]) == 5 and int(r.attrs["model_errors"]) == 1
        assert np.isnan(r["propensity"][1]).all() and np.isfinite(r["propensity"][2]).all()
    assert "injected model failure" in caplog.text


def test_mismatched_model_refused_at_construction(tmp_path):
    from glassmm.models.artifact import export_torchscript
    from glassmm.models.botan import BOTAN

    path = export_torchscript(BOTAN(hidden=8, n_steps=1), {"node_mean": 0, "node_std": 1, "edge_std": 1}, tmp_path / "m.pt")
    ka2d = glassmm.KobAndersen2D(400)
    with pytest.raises(ValueError, match="2D"):
        GlassReporter(tmp_path / "r.h5", 10, model=str(path), system=ka2d)
    ka_wrong = glassmm.KobAndersen(300, fraction_a=0.5)
    with pytest.raises(ValueError, match="trained on 80% A"):
        GlassReporter(tmp_path / "r.h5", 10, model=str(path), system=ka_wrong)
    ism = export_torchscript(BOTAN(hidden=8, n_steps=1, inputs="IS"), {"node_mean": 0, "node_std": 1, "edge_std": 1}, tmp_path / "is.pt")
    with pytest.raises(ValueError, match="inherent"):
        GlassReporter(tmp_path / "r.h5", 10, model=str(ism))


def test_registry_plugins_fallback_and_env(monkeypatch, capsys):
    rows = {r["name"]: r for r in registry.list_backends()}
    assert rows["testslow"]["available"] and rows["torchscript"]["available"]
    assert not rows["testnone"]["available"]
    assert "testbroken" in rows and "ModuleNotFoundError" in rows["testbroken"]["error"]
    pred, skipped = registry.load_predictor("test-model", backend="testslow")
    assert pred.backend_name == "testslow" and skipped == []
    monkeypatch.setenv("GLASSMM_BACKEND", "testnone,testbroken,testslow")
    pred, skipped = registry.load_predictor("test-model")
    assert pred.backend_name == "testslow"
    assert [s.split(":")[0] for s in skipped] == ["testnone", "testbroken"]
    assert "not available" in skipped[0] and "failed to load" in skipped[1]
    monkeypatch.setenv("GLASSMM_BACKEND", "testnone")
    with pytest.raises(RuntimeError, match="no backend could load"):
        registry.load_predictor("test-model")
    assert main(["backends", "--json"]) == 0
    listed = {r["name"] for r in json.loads(capsys.readouterr().out)}
    assert {"torch", "torchscript", "testslow", "testbroken"} <= listed


def test_torch_and_torchscript_backends_agree(small_liquid, tmp_path):
    from glassmm.models.artifact import export_torchscript
    from glassmm.models.botan import TBOTAN

    path = export_torchscript(TBOTAN(hidden=16, n_steps=2), {"node_mean": 0.3, "node_std": 0.1, "edge_std": 0.1}, tmp_path / "m.pt")
    ka = small_liquid
    a, _ = registry.load_predictor(str(path), backend="torchscript")
    b, _ = registry.load_predictor(str(path), backend="torch")
    pa, pb = a(ka.positions_reduced, ka.box, ka.types), b(ka.positions_reduced, ka.box, ka.types)
    assert np.allclose(pa.propensity, pb.propensity, atol=1e-5)
    assert pa.temperature == pytest.approx(pb.temperature, abs=1e-5)


def test_plot_cli_on_report(sim, tmp_path):
    with GlassReporter(tmp_path / "r.h5", 20, model="test-model", backend="testslow") as rep:
        sim.reporters.append(rep)
        sim.step(100)
    assert main(["plot", str(tmp_path / "r.h5"), "-o", str(tmp_path / "p")]) == 0
    for name in ("propensity", "temperature", "dynamics"):
        assert (tmp_path / f"p_{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_frame_positions_are_stored_unwrapped(sim, tmp_path):
    with GlassReporter(tmp_path / "r.h5", 50) as rep:
        sim.reporters.append(rep)
        sim.step(100)
    final = sim.context.getState(positions=True).getPositions(asNumpy=True)._value
    with read_report(tmp_path / "r.h5") as r:
        assert r["positions"].shape == (2, 256, 3)
        assert np.allclose(r["positions"][-1], final, atol=1e-5)  # same frame, not wrapped
