"""Structural descriptors and the linear propensity model (glassmm.models.descriptors).

Checked against independent computations: pair energies summed by OpenMM, radial shells and
neighbour counts from scipy's k-d tree, coarse-graining from dense minimum-image distances in
numpy; the symmetries of the cube, translations and relabelling of like particles leave the
descriptors unchanged; the artifact round-trips through every built-in backend that can run it.
"""

import itertools

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from glassmm.models.descriptors import (
    FIRST_SHELL,
    LinearPropensity,
    StructureDescriptors,
    fit_linear_propensity,
    fit_ridge,
)

SIGMA = np.array([[1.0, 0.8], [0.8, 0.88]])


def _t(x, dtype=torch.float64):
    return torch.as_tensor(np.asarray(x), dtype=dtype)


def _desc(d, pos, box, types, cage=None):
    with torch.no_grad():
        return d(_t(pos), _t(box), _t(types, torch.int64), None, None if cage is None else _t(cage)).numpy()


def test_local_descriptors_against_openmm_and_scipy(small_liquid):
    from glassmm.simulation import evaluate

    ka = small_liquid
    pos, box, types = ka.positions_reduced, ka.box, ka.types.astype(int)
    d = StructureDescriptors("TS", cg_lengths=[])
    F = _desc(d, pos, box, types)
    k = len(d.shells)
    assert F.shape == (len(pos), d.n_features) and d.n_features == 2 * k + 2 == len(d.names())
    # particle energies (half of each pair) add up to OpenMM's potential energy
    e_openmm, _ = evaluate(pos, types, box, "Reference")
    assert F[:, 2 * k].sum() == pytest.approx(e_openmm, rel=1e-10)
    # radial shells and first-shell counts from an independent pair search
    wrapped = np.mod(pos, box)
    pairs = cKDTree(wrapped, boxsize=box).query_pairs(3.0, output_type="ndarray")
    dr = pos[pairs[:, 0]] - pos[pairs[:, 1]]
    r = np.linalg.norm(dr - box * np.round(dr / box), axis=1)
    shells = np.zeros((len(pos), 2, k))
    count = np.zeros(len(pos))
    for (i, j), rij in zip(pairs, r):
        g = np.exp(-((rij - np.array(d.shells)) ** 2) / (2 * d.width**2)) * (rij < d.graph_cutoff)
        shells[i, types[j]] += g
        shells[j, types[i]] += g
        first = rij < FIRST_SHELL * SIGMA[types[i], types[j]]
        count[i] += first
        count[j] += first
    np.testing.assert_allclose(F[:, : 2 * k], shells.reshape(len(pos), 2 * k), atol=1e-10)
    np.testing.assert_array_equal(F[:, 2 * k + 1], count)


def test_coarse_graining_against_dense_numpy():
    rng = np.random.default_rng(0)
    n, L = 1500, 1.5
    box = np.full(3, (n / 1.2) ** (1 / 3))
    pos = rng.uniform(0, box[0], (n, 3))
    types = (rng.random(n) < 0.2).astype(int)
    cage = pos + rng.normal(0, 0.05, pos.shape)
    d = StructureDescriptors("CS", cg_lengths=[L])
    F = _desc(d, pos, box, types, cage)
    base = F[:, : d.n_base]
    # distance to the thermal position is the extra CS column
    np.testing.assert_allclose(base[:, -1], np.linalg.norm(cage - pos, axis=1), atol=1e-12)
    dr = cage[:, None] - cage[None]
    r = np.linalg.norm(dr - box * np.round(dr / box), axis=2)
    w = np.where(r < 3 * L, np.exp(-r / L), 0.0)  # the diagonal (r = 0) weighs 1: the particle itself
    np.testing.assert_allclose(F[:, d.n_base:], w @ base / w.sum(1, keepdims=True), rtol=1e-9, atol=1e-9)


def test_descriptors_are_invariant_under_cube_symmetries_translations_and_relabelling():
    rng = np.random.default_rng(1)
    n = 1200
    box = np.full(3, (n / 1.2) ** (1 / 3))
    pos = rng.uniform(0, box[0], (n, 3))
    cage = pos + rng.normal(0, 0.05, pos.shape)
    types = (rng.random(n) < 0.2).astype(int)
    d = StructureDescriptors("TS+CS", cg_lengths=[1.0])
    ref = _desc(d, pos, box, types, cage)
    shift = rng.uniform(-20, 20, 3)
    for perm, signs in itertools.islice(itertools.product(itertools.permutations(range(3)),
                                                          itertools.product((-1, 1), repeat=3)), 0, 48, 7):
        tr = lambda x: x[:, perm] * np.array(signs) + shift  # noqa: E731
        np.testing.assert_allclose(_desc(d, tr(pos), box, types, tr(cage)), ref, rtol=1e-9, atol=1e-9)
    order = rng.permutation(n)
    np.testing.assert_allclose(_desc(d, pos[order], box, types[order], cage[order]), ref[order], rtol=1e-9, atol=1e-9)


def test_ridge_recovers_a_planted_linear_relation():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3000, 6)) * [1, 2, 3, 4, 5, 6] + 7
    w = np.array([0.5, -1.0, 0.0, 0.2, 0.0, 0.1])
    y = X @ w
    mu, sd, wz = fit_ridge(X, y, 1e-9)
    np.testing.assert_allclose(wz / sd, w, rtol=1e-5, atol=1e-8)


@pytest.fixture(scope="module")
def linear_artifact(tmp_path_factory):
    """A linear model fitted on two random 'configurations' whose target is a known descriptor."""
    from glassmm.models.artifact import export_linear

    rng = np.random.default_rng(4)
    m = 11  # a jittered cubic lattice at density 1.2: no overlaps, which the domain check refuses
    n = m**3
    box = np.full(3, (n / 1.2) ** (1 / 3))
    lattice = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), -1).reshape(-1, 3) * box[0] / m
    d = StructureDescriptors("TS", cg_lengths=[1.0])
    feats, types, props, configs = [], [], [], []
    for _ in range(2):
        pos = lattice + rng.uniform(-0.1, 0.1, (n, 3))
        t = (rng.random(n) < 0.2).astype(int)
        F = _desc(d, pos, box, t)
        feats.append(F); types.append(t)
        props.append(1.0 + 0.1 * F[:, d.n_base + 2 * len(d.shells)])  # propensity = coarse-grained energy
        configs.append((pos, t))
    model = fit_linear_propensity(LinearPropensity(d), feats, types, props, 1e-6)
    path = export_linear(model, {"node_mean": [1.0, 1.2], "node_std": [0.3, 0.4]},
                         tmp_path_factory.mktemp("lin") / "lin.pt", training_temperatures=[0.44])
    return path, model, configs, box, props


def test_linear_artifact_round_trip_and_backends(linear_artifact):
    from glassmm.backends import load_predictor
    from glassmm.models.artifact import load_model, read_metadata

    path, model, configs, box, props = linear_artifact
    meta = read_metadata(path)
    assert meta["kind"] == "linear" and meta["cutoff"] == pytest.approx(2.8) and meta["outputs"] == ["propensity"]
    assert meta["coarse_graining_cutoff"] == 3.0
    pos, t = configs[0]
    pred = load_model(path)(pos, box, t, edges=True)
    A = t == 0
    # (not 1: targets are standardised per configuration, so the two configurations' slopes differ)
    assert np.corrcoef(pred.propensity[A], props[0][A])[0, 1] > 0.98
    assert pred.edge_index.shape == (2, 0) and pred.edge_delta.shape == (0,)
    with torch.no_grad():
        z = model.standardised(_t(pos), _t(box), _t(t, torch.int64)).numpy()
    np.testing.assert_allclose(pred.propensity, np.where(A, 1.0 + 0.3 * z, 1.2 + 0.4 * z), rtol=1e-5, atol=1e-6)
    eager, _ = load_predictor(str(path), backend="torch", device="cpu")
    np.testing.assert_allclose(eager(pos, box, t).propensity, pred.propensity, rtol=1e-6, atol=1e-6)
    with pytest.raises(RuntimeError, match="no tensor-only network"):
        load_predictor(str(path), backend="torch-export", device="cpu")
    with pytest.raises(RuntimeError, match="descriptor model has none"):
        load_predictor(str(path), backend="torch", device="cpu", compile=True)


def test_linear_artifact_in_small_boxes(linear_artifact, small_liquid):
    """The coarse-graining's neighbour list holds every periodic image, so a box smaller than its
    reach (N = 256: edge 5.97 < 2 x 3 L) is predicted with the same descriptors as a 2 x 2 x 2
    tiling of it; below twice the local graph's cutoff the model refuses."""
    from glassmm.models.artifact import load_model

    pred = load_model(linear_artifact[0])
    ka = small_liquid
    small = pred(ka.positions_reduced, ka.box, ka.types).propensity
    shifts = np.array(list(itertools.product((0, 1), repeat=3))) * ka.box
    big = np.concatenate([ka.positions_reduced + s for s in shifts])
    tiled = pred(big, 2 * ka.box, np.tile(ka.types, 8)).propensity
    np.testing.assert_allclose(tiled[: len(small)], small, rtol=1e-4, atol=1e-5)
    m = 5
    box = np.full(3, m / 1.2 ** (1 / 3))
    grid = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), -1).reshape(-1, 3) * box[0] / m
    with pytest.raises(ValueError, match="twice the model's cutoff"):
        pred(grid, box, np.zeros(m**3, dtype=int))


def test_botan_energy_features_read_the_potentials_table(small_liquid):
    """BOTAN's pair energies (and glassmm.torchforce's) come from glassmm.potentials.KA and equal
    the table's numpy energies."""
    from glassmm.graph import periodic_graph
    from glassmm.models.botan import BOTAN, pair_energy, pair_table_tensors
    from glassmm.potentials import KA

    ka = small_liquid
    pos = _t(ka.positions_reduced)
    types = _t(ka.types, torch.int64)
    ei, vec = periodic_graph(pos, _t(ka.box), 2.5)
    r = torch.linalg.norm(vec, dim=1)
    u_table = pair_energy(types, ei, r, *pair_table_tensors())
    t = ka.types.astype(int)
    np.testing.assert_allclose(u_table.numpy(), KA.energy(r.numpy(), t[ei[0].numpy()], t[ei[1].numpy()]),
                               rtol=1e-12, atol=1e-14)
    net = BOTAN(hidden=8, n_steps=1)
    np.testing.assert_array_equal(net.pair_sigma.numpy(), KA.sigma)
    assert "pair_sigma" not in net.state_dict()  # artifacts saved before the table load unchanged


def test_mlp_artifact_learns_and_round_trips(linear_artifact, tmp_path):
    """MLP members trained on one configuration, early-stopped on the other; the artifact (kind mlp)
    matches the eager model and the torch backend's rebuild."""
    from glassmm.backends import load_predictor
    from glassmm.models.artifact import export_linear, load_model, read_metadata
    from glassmm.models.descriptors import MLPPropensity, fit_mlp_propensity

    _, _, configs, box, props = linear_artifact
    d = StructureDescriptors("TS", cg_lengths=[1.0])
    feats = [_desc(d, p, box, t) for p, t in configs]
    types = [t for _, t in configs]
    torch.manual_seed(0)
    model = MLPPropensity(d, hidden=16, members=2)
    rec = fit_mlp_propensity(model, feats[:1], types[:1], props[:1], feats[1:], types[1:], props[1:], epochs=40)
    assert [r["seed"] for r in rec] == [0, 1] and all(r["val_pearson"] > 0.9 for r in rec)
    model.eval()
    path = export_linear(model, {"node_mean": [1.0, 1.2], "node_std": [0.3, 0.4]}, tmp_path / "mlp.pt")
    meta = read_metadata(path)
    assert meta["kind"] == "mlp" and meta["ensemble_size"] == 2
    pos, t = configs[1]
    pred = load_model(path)(pos, box, t).propensity
    with torch.no_grad():
        z = model.standardised(_t(pos), _t(box), _t(t, torch.int64)).numpy()
    np.testing.assert_allclose(pred, np.where(t == 0, 1.0 + 0.3 * z, 1.2 + 0.4 * z), rtol=1e-5, atol=1e-6)
    eager, _ = load_predictor(str(path), backend="torch", device="cpu")
    np.testing.assert_allclose(eager(pos, box, t).propensity, pred, rtol=1e-6, atol=1e-6)
