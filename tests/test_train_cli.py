"""`glassmm train / evaluate / predict / models` on the shared data, at toy size."""

import json

import numpy as np
import pytest

from glassmm.cli import main


@pytest.fixture(scope="module")
def toy_model(shared_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "toy.pt"
    rc = main(["train", str(shared_files[0]), "--val", str(shared_files[1]), "-o", str(out), "--epochs", "2",
               "--pretrain-epochs", "1", "--hidden", "8", "--steps", "1", "--tbotan", "--temperature", "0.44",
               "--target-time", "1.0"])
    assert rc == 0 and out.exists()
    return out


def test_train_writes_artifact_and_history(toy_model):
    work = toy_model.parent / f"{toy_model.name}.work"
    hist = json.loads((work / "history.json").read_text())
    assert [h["stage"] for h in hist] == ["edge", "joint"]
    assert (work / "loss.png").exists() and (work / "checkpoint.pt").exists()
    from glassmm.models.artifact import read_metadata

    meta = read_metadata(toy_model)
    assert meta["training_temperatures"] == [0.44] and meta["target_time"] == 1.0
    assert meta["data_provenance"][0]["file"].startswith("isoconfig_N4096T0.44_1")


def test_evaluate_and_predict(toy_model, shared_files, tmp_path, capsys):
    assert main(["evaluate", str(shared_files[2]), "--model", str(toy_model), "--json", "--plot", str(tmp_path / "e.png"),
                 "--temperature", "0.44"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) >= {"pearson_mean", "pearson_pooled", "spearman_mean", "std_ratio_mean", "edge_pearson_AA_mean"}
    assert (tmp_path / "e.png").exists()
    assert main(["predict", str(shared_files[2]), "--model", str(toy_model), "-o", str(tmp_path / "p.npz"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    p = np.load(tmp_path / "p.npz")
    assert p["propensity"].shape == (4096,) and np.isfinite(p["propensity"]).all()
    rec = json.loads(str(p["model_record"]))  # the file says which model made it, and for which time
    assert rec["model"] == str(toy_model) and rec == out["model_record"] and "target_time" in rec
    # evaluate's figures recomputed independently from predict's output and the raw file:
    # true propensity = mean over replicas of |r_i(t) - r_i(0)| (unwrapped), Pearson over A
    raw = np.load(shared_files[2])
    true = np.linalg.norm(raw["positions"] - raw["initial_positions"][None], axis=2).mean(0)
    a = raw["types"] == 0
    assert res["pearson_mean"] == pytest.approx(np.corrcoef(p["propensity"][a], true[a])[0, 1], abs=1e-4)
    assert res["temperature_rmse"] == pytest.approx(abs(out["temperature"] - 0.44), abs=1e-4)


def test_models_lists_bundled(capsys):
    from glassmm.models.artifact import bundled_models

    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == set(bundled_models())


def test_cage_state_model_trains_and_predicts_with_its_own_cage_parameters(shared_files, tmp_path, monkeypatch, capsys):
    """--inputs TS+CS: cage states computed (cached) for training, their parameters in the artifact,
    and predict computes the same cage state (a cache hit) for a file without one."""
    monkeypatch.setenv("GLASSMM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "cs.pt"
    assert main(["train", str(shared_files[0]), "-o", str(out), "--epochs", "2", "--pretrain-epochs", "1",
                 "--hidden", "8", "--steps", "1", "--inputs", "TS+CS", "--temperature", "0.44",
                 "--cage-duration", "0.2", "--cage-runs", "1"]) == 0
    capsys.readouterr()
    from glassmm.models.artifact import read_metadata

    meta = read_metadata(out)
    assert meta["inputs"] == "TS+CS" and meta["cage"]["duration"] == 0.2 and meta["cage"]["n_runs"] == 1
    assert len(list((tmp_path / "cache" / "cage").glob("*.npz"))) == 1
    assert main(["predict", str(shared_files[0]), "--model", str(out), "-o", str(tmp_path / "p.npz"), "--json"]) == 0
    assert len(list((tmp_path / "cache" / "cage").glob("*.npz"))) == 1  # same parameters: the training entry
    assert np.isfinite(np.load(tmp_path / "p.npz")["propensity"]).all()
