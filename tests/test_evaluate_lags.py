"""`glassmm evaluate` at the model's target time, per lag, with the data's reliability ceiling.

Every figure is recomputed here in numpy from the raw files and the model's own predictions:
true propensity = mean over replicas of |r_i(t) - r_i(0)|, Pearson over A particles, averaged
over the files at one lag; the ceiling = sqrt of the Spearman-Brown-corrected split-half
correlation of the replicas (64 random halvings, seed 0).
"""

import json

import numpy as np
import pytest

from glassmm.cli import main

LAGS = (0.1, 0.5, 2.0)


def _lattice(rng, m=11):
    n = m**3
    box = np.full(3, (n / 1.2) ** (1 / 3))
    grid = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), -1).reshape(-1, 3) * box[0] / m
    return grid + rng.uniform(-0.1, 0.1, (n, 3)), box, (rng.random(n) < 0.2).astype(np.int8)


@pytest.fixture(scope="module")
def iso_files(tmp_path_factory):
    """Two configurations, each with 8 replicas at three lags; mobility varies from particle to particle."""
    rng = np.random.default_rng(0)
    out = tmp_path_factory.mktemp("iso")
    files = []
    for c in range(2):
        pos, box, types = _lattice(rng)
        mobility = rng.lognormal(0, 0.5, len(pos))
        for k, t in enumerate(LAGS):
            reps = pos[None] + rng.normal(0, 1, (8, len(pos), 3)) * (0.1 * np.sqrt(t) * mobility)[None, :, None]
            f = out / f"c{c}_t{k}.npz"
            np.savez(f, types=types, initial_positions=pos, positions=reps, box=box, time=np.float64(t),
                     temperature=np.float64(0.44))
            files.append(f)
    return files


def _model(path, target_time):
    import torch

    from glassmm.models.artifact import export_torchscript
    from glassmm.models.botan import BOTAN

    torch.manual_seed(0)
    return export_torchscript(BOTAN(hidden=8, n_steps=1), {"node_mean": [0.3, 0.4], "node_std": [0.1, 0.1],
                                                          "edge_std": 0.1}, path, target_time=target_time,
                              training_temperatures=[0.44])


def _ceiling(raw):
    disp = np.linalg.norm(raw["positions"] - raw["initial_positions"][None], axis=2)[:, raw["types"] == 0]
    rng = np.random.default_rng(0)
    rs = []
    for _ in range(64):
        p = rng.permutation(len(disp))
        rs.append(np.corrcoef(disp[p[:4]].mean(0), disp[p[4:8]].mean(0))[0, 1])
    r = np.mean(rs)
    return np.sqrt(2 * r / (1 + r))


def test_evaluate_takes_the_target_time_reports_every_lag_and_the_ceiling(iso_files, tmp_path, capsys):
    from glassmm.models.artifact import load_model

    model = _model(tmp_path / "m.pt", target_time=0.5)
    assert main(["evaluate", *map(str, iso_files), "--model", str(model), "--json", "--device", "cpu"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["lag"] == 0.5 and res["lag_choice"] == "the model's target time" and res["target_time"] == 0.5
    pred = load_model(model)
    expected = {}
    for f in iso_files:
        raw = np.load(f)
        p = pred(raw["initial_positions"], raw["box"], raw["types"]).propensity
        true = np.linalg.norm(raw["positions"] - raw["initial_positions"][None], axis=2).mean(0)
        a = raw["types"] == 0
        expected.setdefault(float(raw["time"]), []).append((np.corrcoef(p[a], true[a])[0, 1], _ceiling(raw)))
    assert [g["time"] for g in res["per_lag"]] == list(LAGS)
    for g in res["per_lag"]:
        r, c = np.array(expected[g["time"]]).T
        assert g["n_files"] == 2
        assert g["pearson_mean"] == pytest.approx(r.mean(), abs=1e-5)
        assert g["pearson_ceiling_mean"] == pytest.approx(c.mean(), abs=1e-9)
    # the headline is the target time's group, nothing pooled across lags
    r, c = np.array(expected[0.5]).T
    assert res["pearson_mean"] == pytest.approx(r.mean(), abs=1e-5) and res["n_files"] == 2
    assert res["pearson_ceiling_mean"] == pytest.approx(c.mean(), abs=1e-9)
    assert len(res["per_file"]) == 6 and {r["time"] for r in res["per_file"]} == set(LAGS)
    # longer lags are more reliable (more motion per particle against the same noise)
    ceilings = [g["pearson_ceiling_mean"] for g in res["per_lag"]]
    assert 0 < ceilings[0] < 1 and all(0 < x < 1 for x in ceilings)


def test_evaluate_lag_choices(iso_files, tmp_path, capsys):
    model = _model(tmp_path / "m.pt", target_time=0.7)  # no stored lag equals it: the closest in log time
    assert main(["evaluate", *map(str, iso_files), "--model", str(model), "--json", "--device", "cpu"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["lag"] == 0.5 and "closest" in res["lag_choice"]
    assert main(["evaluate", *map(str, iso_files), "--model", str(model), "--json", "--lag", "2",
                 "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["lag"] == 2.0
    # text output names the lag, the model's target time and the ceiling
    assert main(["evaluate", *map(str, iso_files), "--model", str(model), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "at t = 0.5" in out and "reliability ceiling" in out and "t = 2: mean Pearson" in out
    unknown = _model(tmp_path / "u.pt", target_time="about tau_alpha")
    with pytest.raises(ValueError, match="several lags"):
        from glassmm.models.artifact import load_model
        from glassmm.training.evaluate import evaluate_model

        evaluate_model(load_model(unknown), iso_files, progress=False)
    with pytest.raises(ValueError, match="not among"):
        evaluate_model(load_model(unknown), iso_files, progress=False, lag=0.3)


def test_predictor_record_names_model_inputs_target_time_and_units(tmp_path):
    from glassmm.models.artifact import load_model

    rec = load_model(_model(tmp_path / "m.pt", target_time=0.5)).record()
    assert rec["target_time"] == 0.5 and rec["inputs"] == "TS" and rec["kind"] == "botan"
    assert rec["units"].startswith("reduced LJ") and rec["model"].endswith("m.pt")
    json.dumps(rec)
