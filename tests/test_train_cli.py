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
    assert -1 <= res["pearson_mean"] <= 1 and (tmp_path / "e.png").exists()
    assert res["temperature_rmse"] >= 0
    assert main(["predict", str(shared_files[2]), "--model", str(toy_model), "-o", str(tmp_path / "p.npz"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    p = np.load(tmp_path / "p.npz")
    assert p["propensity"].shape == (4096,) and np.isfinite(p["propensity"]).all()
    assert out["temperature"] is not None


def test_models_lists_bundled(capsys):
    from glassmm.models.artifact import bundled_models

    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == set(bundled_models())
