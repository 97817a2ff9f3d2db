"""BOTAN/T-BOTAN: graph symmetry, shapes, artifact round trip, training lowers the loss."""

import json

import numpy as np
import pytest
import torch

from glassmm.graph import periodic_graph
from glassmm.models.artifact import export_torchscript, load_model, read_metadata
from glassmm.models.botan import BOTAN, TBOTAN, pair_energy, pair_table_tensors
from glassmm.training.data import Sample, cube_symmetry
from glassmm.training.trainer import TrainConfig, Trainer


def _pairs(ei, vec):
    """Canonical set of (receiver, sender, rounded distance) for comparing graphs."""
    d = torch.linalg.norm(vec, dim=1)
    return sorted(zip(ei[1].tolist(), ei[0].tolist(), np.round(d.numpy(), 6).tolist()))


def test_graph_invariant_under_periodic_images(small_liquid):
    ka = small_liquid
    pos = torch.tensor(ka.positions_reduced)
    box = torch.tensor(ka.box)
    ei, vec = periodic_graph(pos, box, 2.0)
    rng = np.random.default_rng(0)
    shifted = pos + box * torch.tensor(rng.integers(-3, 4, size=(len(pos), 3)), dtype=pos.dtype)
    ei2, vec2 = periodic_graph(shifted, box, 2.0)
    assert _pairs(ei, vec) == _pairs(ei2, vec2)
    # symmetric (full list) and against a brute-force minimum-image count
    assert ei.shape[1] % 2 == 0
    d = ka.positions_reduced[:, None] - ka.positions_reduced[None]
    d -= ka.box * np.round(d / ka.box)
    r = np.linalg.norm(d, axis=-1)
    assert ei.shape[1] == int(((r < 2.0) & (r > 0)).sum())
    # vectors are r_j - r_i for sender j, receiver i
    j, i = ei[0].numpy(), ei[1].numpy()
    assert np.allclose(vec.numpy(), d[j, i], atol=1e-9)


def test_pair_energies_match_openmm(small_liquid):
    from glassmm.simulation import evaluate

    ka = small_liquid
    pos = torch.tensor(ka.positions_reduced)
    ei, vec = periodic_graph(pos, torch.tensor(ka.box), 2.5)
    u = pair_energy(torch.tensor(ka.types).long(), ei, torch.linalg.norm(vec, dim=1), *pair_table_tensors())
    e_ref, _ = evaluate(ka.positions_reduced, ka.types, ka.box, "Reference")
    assert float(u.sum()) / 2 == pytest.approx(e_ref, rel=1e-10)


@pytest.mark.parametrize("inputs", ["TS", "IS", "CS", "TS+IS", "TS+CS", "IS+CS"])
def test_shapes(small_liquid, inputs):
    ka = small_liquid
    m = TBOTAN(hidden=8, n_steps=2, inputs=inputs)
    pos = torch.tensor(ka.positions_reduced, dtype=torch.float32)
    out = m(pos, torch.tensor(ka.box, dtype=torch.float32), torch.tensor(ka.types), pos + 0.01, pos + 0.01)
    assert out["node"].shape == (256,)
    assert out["edge"].shape == (out["edge_index"].shape[1],)
    assert out["temperature"].shape == ()
    d = pos[out["edge_index"][0]] - pos[out["edge_index"][1]]
    d = d - torch.tensor(ka.box, dtype=torch.float32) * torch.round(d / torch.tensor(ka.box, dtype=torch.float32))
    assert float(torch.linalg.norm(d, dim=1).max()) < 2.0 + 0.02  # IS input here is TS + 0.01
    n_sets = len(inputs.split("+"))
    assert out["node"].shape == (256,) and m.featurize(pos, torch.tensor(ka.box, dtype=torch.float32),
                                                        torch.tensor(ka.types), pos, pos)[1].shape[1] == 5 * n_sets
    if "IS" in inputs:
        with pytest.raises(ValueError, match="inherent_positions"):
            m(pos, torch.tensor(ka.box, dtype=torch.float32), torch.tensor(ka.types), None, pos)
    if "CS" in inputs:
        with pytest.raises(ValueError, match="cage_positions"):
            m(pos, torch.tensor(ka.box, dtype=torch.float32), torch.tensor(ka.types), pos, None)


def test_extra_kind_enters_as_features_on_the_main_graph(small_liquid):
    """TS+CS: the graph is the cage state's; moving the thermal positions changes features, not edges."""
    ka = small_liquid
    m = BOTAN(hidden=8, n_steps=1, inputs="TS+CS")
    pos = torch.tensor(ka.positions_reduced, dtype=torch.float32)
    box, ty = torch.tensor(ka.box, dtype=torch.float32), torch.tensor(ka.types)
    cage = pos + 0.05 * torch.randn_like(pos)
    x1, e1, ei1 = m.featurize(pos, box, ty, None, cage)
    x2, e2, ei2 = m.featurize(pos + 0.05 * torch.randn_like(pos), box, ty, None, cage)
    assert torch.equal(ei1, ei2)  # graph from CS
    assert torch.equal(e1[:, :5], e2[:, :5]) and not torch.allclose(e1[:, 5:], e2[:, 5:])  # CS first, TS after
    with pytest.raises(ValueError, match="inputs must be one of"):
        BOTAN(inputs="CS+TS")


def test_thermometer_reads_the_trunk_without_training_it(small_liquid):
    """The temperature loss reaches the global path and the linear thermometer, never the
    node/edge encoders or message passing (they belong to the propensity task)."""
    ka = small_liquid
    m = TBOTAN(hidden=8, n_steps=2)
    pos = torch.tensor(ka.positions_reduced, dtype=torch.float32)
    m(pos, torch.tensor(ka.box, dtype=torch.float32), torch.tensor(ka.types))["temperature"].backward()
    for name in ("node_encoder", "edge_encoder", "edge_update", "node_update"):
        grads = [p.grad for p in getattr(m, name).parameters()]
        assert all(g is None or float(g.abs().max()) == 0.0 for g in grads), name
    for name in ("global_update", "global_encoder", "temperature_decoder", "temperature_linear"):
        assert any(p.grad is not None and float(p.grad.abs().max()) > 0 for p in getattr(m, name).parameters()), name


def test_global_normalisation_and_models_saved_before_it(small_liquid):
    ka = small_liquid
    m = TBOTAN(hidden=8, n_steps=2).eval()
    args = (torch.tensor(ka.positions_reduced, dtype=torch.float32), torch.tensor(ka.box, dtype=torch.float32),
            torch.tensor(ka.types))
    # standardisation from two configurations: their statistics become -1/+1 (up to the 1/sqrt(2) of std)
    x1 = m.featurize(*args)[0]
    x2 = x1.clone(); x2[:, 2] += 0.3
    stats = torch.stack([BOTAN.global_statistics(x1), BOTAN.global_statistics(x2)])
    m.set_global_normalisation(stats)
    z = (stats - m.global_input_mean) / m.global_input_std
    assert torch.allclose(z[:, 2], torch.tensor([-1.0, 1.0]) / 2**0.5, atol=1e-5)
    assert torch.all(m.global_input_std[:2] == 1.0)  # the constant composition keeps unit scale
    with pytest.raises(ValueError, match="shape"):
        m.set_global_normalisation(stats[:, :3])
    # a state dict from before the standardisation and the linear thermometer loads as the old model
    old = {k: v for k, v in m.state_dict().items() if not k.startswith(("global_input", "temperature_linear"))}
    fresh = TBOTAN(hidden=8, n_steps=2).eval()
    fresh.load_state_dict(old)
    assert torch.all(fresh.global_input_mean == 0) and torch.all(fresh.temperature_linear.weight == 0)
    with torch.no_grad():
        g = fresh.global_encoder(BOTAN.global_statistics(fresh.featurize(*args)[0]).unsqueeze(0))
        assert torch.allclose(fresh.global_feature(*args), fresh._propagate(*fresh.featurize(*args))[2])
        legacy_t = fresh.temperature_decoder(fresh._propagate(*fresh.featurize(*args))[2].unsqueeze(0)).reshape(())
        assert float(fresh(*args)["temperature"]) == pytest.approx(float(legacy_t), abs=1e-6)
    assert g.shape == (1, 8)


def _sample(ka, seed=0, T=1.0):
    rng = np.random.default_rng(seed)
    pos = torch.tensor(ka.positions_reduced)
    # a synthetic, learnable target: displacement grows with the local pair energy
    ei, vec = periodic_graph(pos, torch.tensor(ka.box), 2.5)
    u = pair_energy(torch.tensor(ka.types).long(), ei, torch.linalg.norm(vec, dim=1), *pair_table_tensors())
    e = torch.zeros(len(pos), dtype=u.dtype).index_add(0, ei[1], 0.5 * u)
    scale = (0.05 + 0.1 * (e - e.min()) / (e.max() - e.min())).numpy()
    reps = ka.positions_reduced[None] + rng.normal(size=(4, len(pos), 3)) * scale[None, :, None]
    from glassmm.analysis import propensity

    return Sample("synthetic", pos, None, torch.tensor(ka.box), torch.tensor(ka.types).long(),
                  torch.tensor(propensity(ka.positions_reduced, reps)), torch.tensor(reps), T)


def test_cube_symmetry_keeps_targets(small_liquid):
    s = _sample(small_liquid)
    t = cube_symmetry(s, np.random.default_rng(5))
    ei, vec = periodic_graph(s.positions, s.box, 2.0)
    ei_t, vec_t = periodic_graph(t.positions, t.box, 2.0)
    assert sorted(np.round(torch.linalg.norm(vec, dim=1).numpy(), 8)) == sorted(np.round(torch.linalg.norm(vec_t, dim=1).numpy(), 8))
    assert torch.allclose(s.edge_targets(ei).sort().values, t.edge_targets(ei_t).sort().values, atol=1e-9)


def test_short_training_lowers_loss_and_artifact_round_trip(small_liquid, tmp_path):
    s = _sample(small_liquid)
    cfg = TrainConfig(epochs=25, pretrain_epochs=1, hidden=16, n_steps=2, lr=3e-3, augment=True,
                      temperature_head=True, patience=50)
    tr = Trainer(cfg, [s], [s], tmp_path / "work")
    hist = tr.fit(progress=False)
    joint = [h for h in hist if h["stage"] == "joint"]
    assert joint[-1]["node"] < 0.7 * joint[0]["node"], str([round(h["node"], 3) for h in joint])
    assert hist[-1]["val_pearson"] > 0.5
    assert (tmp_path / "work" / "loss.png").exists()
    # artifact: scripted, self-describing, same numbers as the eager model
    path = export_torchscript(tr.model, tr.normalisation(), tmp_path / "m.pt", target_time=1.0,
                              training_temperatures=[1.0], data_provenance=["synthetic"])
    meta = read_metadata(path)
    assert meta["kind"] == "tbotan" and meta["inputs"] == "TS" and meta["cutoff"] == 2.0
    assert meta["glassmm_version"] and meta["training_temperatures"] == [1.0]
    pred = load_model(path)
    p = pred(small_liquid.positions_reduced, small_liquid.box, small_liquid.types)
    with torch.no_grad():
        eager = tr.model(s.positions.float(), s.box.float(), s.types)
    t = small_liquid.types
    expected = eager["node"].numpy() * np.take(tr.node_std, t) + np.take(tr.node_mean, t)
    assert np.allclose(p.propensity, expected, atol=1e-5)
    assert p.temperature is not None
    # the scripted module alone (torch.jit.load after importing vesin_torch) carries metadata
    import vesin_torch  # noqa: F401

    mod = torch.jit.load(str(path))
    assert json.loads(mod.metadata())["kind"] == "tbotan"
    with pytest.raises(Exception, match="NaN"):
        bad = small_liquid.positions_reduced.copy(); bad[0, 0] = np.nan
        pred(bad, small_liquid.box, small_liquid.types)


def test_resume_continues_exactly(small_liquid, tmp_path):
    s = _sample(small_liquid)
    cfg = TrainConfig(epochs=4, pretrain_epochs=1, hidden=8, n_steps=2, patience=50)
    a = Trainer(cfg, [s], [s], tmp_path / "a"); a.fit(progress=False)
    cfg2 = TrainConfig(epochs=2, pretrain_epochs=1, hidden=8, n_steps=2, patience=50)
    b = Trainer(cfg2, [s], [s], tmp_path / "b"); b.fit(progress=False)
    b2 = Trainer(cfg, [s], [s], tmp_path / "b"); assert b2.resume(); b2.fit(progress=False)
    for pa, pb in zip(a.model.parameters(), b2.model.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)


def test_model_refuses_mismatched_system(small_liquid, tmp_path):
    m = BOTAN(hidden=8, n_steps=1)
    path = export_torchscript(m, {"node_mean": 0, "node_std": 1, "edge_std": 1}, tmp_path / "m.pt")
    pred = load_model(path)
    with pytest.raises(ValueError, match="trained on 80% A"):
        pred.check_system(100, np.zeros(100, dtype=int))
    with pytest.raises(ValueError, match="2D"):
        pred.check_system(100, np.r_[np.zeros(80), np.ones(20)].astype(int), dimensions=2)
    with pytest.raises(ValueError, match="no model file or bundled model"):
        load_model("no-such-model")
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a TorchScript file"):
        load_model(tmp_path / "bad.pt")


def test_ensemble_artifact_averages_members(small_liquid, tmp_path):
    from glassmm.backends import load_predictor

    torch.manual_seed(0)
    members = [TBOTAN(hidden=8, n_steps=2) for _ in range(3)]
    norm = {"node_mean": [0.4, 0.7], "node_std": [0.2, 0.3], "edge_std": 0.1, "t_mean": 0.5, "t_std": 0.1}
    singles = [load_model(export_torchscript(m, norm, tmp_path / f"m{k}.pt")) for k, m in enumerate(members)]
    ens_path = export_torchscript(members[0], norm, tmp_path / "ens.pt", extra=members[1:])
    ka = small_liquid
    preds = [p(ka.positions_reduced, ka.box, ka.types) for p in singles]
    ens = load_model(ens_path)(ka.positions_reduced, ka.box, ka.types)
    assert np.allclose(ens.propensity, np.mean([p.propensity for p in preds], axis=0), atol=1e-5)
    assert ens.temperature == pytest.approx(np.mean([p.temperature for p in preds]), abs=1e-5)
    assert read_metadata(ens_path)["ensemble_size"] == 3
    for backend in ("torch", "torch-export"):  # every path rebuilds all members
        other, _ = load_predictor(str(ens_path), backend=backend)
        assert np.allclose(other(ka.positions_reduced, ka.box, ka.types).propensity, ens.propensity, atol=1e-5)


def test_ensemble_spread_calibrated_on_training_files(small_liquid, tmp_path):
    """calibrate_spread: on the training file the ensemble's A propensity spreads exactly as the target scale."""
    import glassmm
    from glassmm.training.api import export_ensemble, load_checkpoint
    from glassmm.training.data import load_samples

    ka = small_liquid
    rng = np.random.default_rng(0)
    reps = ka.positions_reduced[None] + rng.normal(0, 0.3, (4, 256, 3))
    f = tmp_path / "iso.npz"
    glassmm.save_configuration(f, glassmm.Configuration(ka.positions_reduced, ka.types, ka.box, temperature=1.0),
                               positions=reps)
    samples = load_samples([f], progress=False)
    ckpts = []
    for seed in (0, 1):
        cfg = TrainConfig(epochs=2, pretrain_epochs=1, hidden=8, n_steps=1, seed=seed, patience=100)
        torch.manual_seed(seed)
        Trainer(cfg, samples, [], tmp_path / f"w{seed}").fit(progress=False)
        ckpts.append(tmp_path / f"w{seed}" / "checkpoint.pt")
    plain = load_model(export_ensemble(ckpts, tmp_path / "plain.pt", train_files=[f]))
    cal_path = export_ensemble(ckpts, tmp_path / "cal.pt", train_files=[f], calibrate_spread=True)
    cal = load_model(cal_path)
    a = ka.types == 0
    p0 = plain(ka.positions_reduced, ka.box, ka.types).propensity
    p1 = cal(ka.positions_reduced, ka.box, ka.types).propensity
    target_std = load_checkpoint(ckpts[0])[1]["norm"]["node_std"]
    target_std = target_std[0] if isinstance(target_std, (list, tuple)) else target_std
    assert p1[a].std(ddof=1) == pytest.approx(target_std, rel=1e-4)  # torch.std is the ddof=1 one
    assert np.corrcoef(p0[a], p1[a])[0, 1] == pytest.approx(1.0, abs=1e-6)  # a scale: Pearson unchanged
    assert read_metadata(cal_path)["spread_calibration"]["on"] == ["iso.npz"]


def test_cosine_schedule_and_its_resume(small_liquid, tmp_path):
    """lr: constant through the edge-only stage, then a half cosine to lr * min_lr_factor at the last
    epoch; taken from the epoch number, so a resumed run continues on the same curve."""
    import math

    s = _sample(small_liquid)
    cfg = TrainConfig(epochs=6, pretrain_epochs=1, hidden=8, n_steps=1, lr=2e-3, lr_schedule="cosine",
                      min_lr_factor=0.1)
    tr = Trainer(cfg, [s], [], tmp_path / "w")
    lrs = [tr.learning_rate(e) for e in range(6)]
    assert lrs[0] == lrs[1] == 2e-3 and lrs[-1] == pytest.approx(2e-4)
    assert lrs[3] == pytest.approx(2e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5))))
    cfg3 = TrainConfig(**{**cfg.__dict__, "epochs": 3})
    part = Trainer(cfg3, [s], [], tmp_path / "r")
    part.fit(progress=False)
    cont = Trainer(cfg, [s], [], tmp_path / "r")
    assert cont.resume()
    hist = cont.fit(progress=False)
    assert [h["lr"] for h in hist][3:] == pytest.approx(lrs[3:])
    with pytest.raises(ValueError, match="lr_schedule"):
        Trainer(TrainConfig(epochs=2, hidden=8, n_steps=1, lr_schedule="step"), [s], [], tmp_path / "x")


def test_an_early_stopped_run_stays_stopped_on_resume(small_liquid, tmp_path):
    s, v = _sample(small_liquid, seed=0), _sample(small_liquid, seed=1)
    cfg = TrainConfig(epochs=30, pretrain_epochs=1, hidden=8, n_steps=1, lr=3e-2, patience=1)
    tr = Trainer(cfg, [s], [v], tmp_path / "w")
    n = len(tr.fit(progress=False))
    assert tr.stopped and n < 30  # patience 1 at a large learning rate: stops early on this seed
    again = Trainer(cfg, [s], [v], tmp_path / "w")
    assert again.resume() and again.stopped
    assert len(again.fit(progress=False)) == n
