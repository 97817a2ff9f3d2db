"""Parallel tempering: ladders, the exchange rule, exactness on double wells, files, checkpoints, workers."""

from __future__ import annotations

import math

import numpy as np
import pytest

import glassmm
from glassmm.sampling.tempering import NeighbourExchange, geometric_ladder, ka_tempering, tune_ladder


def test_ladders():
    t = geometric_ladder(0.45, 0.8, 6)
    assert t[0] == pytest.approx(0.45) and t[-1] == pytest.approx(0.8)
    assert np.allclose(t[1:] / t[:-1], (0.8 / 0.45) ** 0.2)
    # acceptances that fall along the ladder: the tuned ladder crowds rungs where they were low,
    # and with a ~ exp(-c (delta ln T)^2 / T) (a Gaussian-energy model) it equalises them
    c = 40.0

    def acc(lad):
        return np.exp(-c * np.diff(np.log(lad)) ** 2 / lad[:-1])

    tuned = t
    for _ in range(4):
        tuned = tune_ladder(tuned, acc(tuned))
    a0, a1 = acc(t), acc(tuned)
    assert a1.std() < 0.25 * a0.std()
    assert tuned[0] == pytest.approx(0.45) and tuned[-1] == pytest.approx(0.8) and np.all(np.diff(tuned) > 0)
    with pytest.raises(ValueError, match="acceptances"):
        tune_ladder(t, [0.5, 0.5])
    with pytest.raises(ValueError, match="ladder"):
        geometric_ladder(0.8, 0.45, 4)


def test_exchange_rule_is_the_exact_one_and_alternates_pairs():
    ex = NeighbourExchange()
    temps = np.array([0.5, 0.6, 0.75, 0.9])
    energies = np.array([-10.0, -9.0, -8.5, -7.0])
    rng = np.random.default_rng(0)
    new, recs = ex.apply(temps, energies, np.arange(4), 0, rng)
    assert [r["pair"] for r in recs] == [0, 2]
    assert recs[0]["log_alpha"] == pytest.approx((1 / 0.5 - 1 / 0.6) * (-10.0 + 9.0))
    _, recs = ex.apply(temps, energies, np.arange(4), 1, rng)
    assert [r["pair"] for r in recs] == [1]
    # the frequency of acceptance matches min(1, exp(log alpha))
    n = 20000
    hits = sum(ex.apply(temps, energies, np.arange(4), 1, rng)[1][0]["accepted"] for _ in range(n))
    p = math.exp((1 / 0.6 - 1 / 0.75) * (-9.0 + 8.5))
    assert abs(hits / n - p) < 5 * math.sqrt(p * (1 - p) / n)


class _WrongSign(NeighbourExchange):
    """The wrong rule the test must catch: the energy difference with the wrong sign."""

    @staticmethod
    def log_alpha(beta_low, beta_high, u_low, u_high):
        return -(beta_low - beta_high) * (u_low - u_high)


@pytest.mark.parametrize("chains,rounds,against_wrong_rule", [(40, 80, True), pytest.param(100, 200, True, marks=pytest.mark.slow)])
def test_tempering_keeps_every_rung_exact_and_a_wrong_rule_does_not(chains, rounds, against_wrong_rule):
    """Double wells (h = 1.5, three particles) at T = 0.4, 0.6, 0.9: each rung's x histogram
    against its exact marginal, errors from the scatter between independent runs started in
    equilibrium (limit 5); exchanging with the wrong sign must fail the same test (> 6). Measured
    at 40 runs x 80 rounds over four seeds: correct 1.4-2.0, wrong sign 8.3-10.4."""
    from tests.double_well import chain_bin_z, tempering_chains

    temps = (0.4, 0.6, 0.9)
    xs, acc = tempering_chains(NeighbourExchange(), chains, rounds, temps)
    assert np.all((acc > 0.1) & (acc < 0.95)), acc  # exchanges happen, so the test means something
    for k, T in enumerate(temps):
        z = chain_bin_z(xs[k], height=1.5 / T)
        assert np.abs(z).max() < 5.0, (T, z)
    if against_wrong_rule:
        bad, _ = tempering_chains(_WrongSign(), chains, rounds, temps)
        worst = max(np.abs(chain_bin_z(bad[k], height=1.5 / T)).max() for k, T in enumerate(temps))
        assert worst > 6.0, worst


@pytest.fixture(scope="module")
def small_ka():
    from glassmm.testing import equilibrated_liquid

    return equilibrated_liquid(160, 1.0, seed=2, steps=500, platform="Reference")


def test_files_checkpoint_and_bit_identical_resume(small_ka, tmp_path):
    """A killed run resumes from its checkpoint and ends where an uninterrupted one does (Reference);
    the frames by temperature and by replica agree with the round log."""
    import h5py

    from glassmm.trajectory import read_trajectory

    temps = geometric_ladder(0.7, 1.1, 3)

    def make(out):
        return ka_tempering(small_ka, temps, md_steps=20, output=out, frame_every=4, checkpoint_every=6, platform="Reference",
                            seed=3, progress=False)

    full = make(tmp_path / "full")
    s_full = full.run(12)
    part = make(tmp_path / "part")
    part.run(6)
    part.close()
    resumed = make(tmp_path / "part")
    s_res = resumed.run(12, resume=True)
    assert s_res["rounds"] == 12 and s_res["attempts"] == s_full["attempts"] and s_res["acceptance"] == s_full["acceptance"]
    a, b = full.pool.call("get_state"), resumed.pool.call("get_state")
    for (xa, va, ea), (xb, vb, eb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(va, vb)
    with h5py.File(tmp_path / "full" / "tempering.h5") as h1, h5py.File(tmp_path / "part" / "tempering.h5") as h2:
        assert list(h2["step"][:]) == list(range(1, 13))
        np.testing.assert_array_equal(h1["energy"][:], h2["energy"][:])
        np.testing.assert_array_equal(h1["replica_at"][:], h2["replica_at"][:])
        at = h1["replica_at"][:]
        energy = h1["energy"][:]
    for k in range(3):
        tk = read_trajectory(tmp_path / "full" / "by_temperature" / f"T{k}.h5")
        assert list(tk.step) == [4, 8, 12]
        assert np.array_equal(tk.types, small_ka.types)
        for f, step in enumerate(tk.step):
            r = int(tk.extra["replica"][f])
            assert r == at[step - 1, k]
            assert tk.extra["energy"][f] == pytest.approx(energy[step - 1, k])
            tr = read_trajectory(tmp_path / "full" / "by_replica" / f"replica{r}.h5")
            np.testing.assert_allclose(tr.positions[f], tk.positions[f])
            assert tr.extra["rung"][f] == k and tr.extra["temperature"][f] == pytest.approx(temps[k])
    assert (tmp_path / "full" / "tempering.png").stat().st_size > 0
    full.close()
    resumed.close()
    other = ka_tempering(small_ka, geometric_ladder(0.7, 1.2, 3), md_steps=20, output=tmp_path / "full", platform="Reference",
                         progress=False)
    with pytest.raises(ValueError, match="ladder"):
        other.run(13, resume=True)
    other.close()


def test_replicas_in_worker_processes(small_ka, tmp_path):
    pt = ka_tempering(small_ka, geometric_ladder(0.8, 1.0, 2), md_steps=10, executor="processes", platform="CPU",
                      output=tmp_path, frame_every=2, seed=1, progress=False)
    try:
        s = pt.run(4)
        assert s["executor"] == "processes" and s["rounds"] == 4 and np.isfinite(pt.energies).all()
        assert sum(s["attempts"]) == 2  # pair 0 in the even rounds
    finally:
        pt.close()
    with pytest.raises(ValueError, match="executor"):
        ka_tempering(small_ka, [0.8, 1.0], executor="threads")


def test_cli_temper_tunes_runs_and_resumes_in_2d(tmp_path, capsys):
    """`glassmm temper` on a 2D KA liquid: tuned ladder kept in ladder.json, resumed to the same ladder."""
    import json

    from glassmm.cli import main

    out = tmp_path / "pt"
    args = ["temper", "-n", "200", "--dimensions", "2", "--tmin", "0.6", "--tmax", "1.0", "-R", "3", "--md-steps", "10",
            "--platform", "Reference", "--frame-every", "2", "--checkpoint-every", "2", "-o", str(out)]
    assert main(args + ["--rounds", "4", "--tune", "4"]) == 0
    first = json.loads(capsys.readouterr().out)
    ladder = json.loads((out / "ladder.json").read_text())["temperatures"]
    assert first["temperatures"] == pytest.approx(ladder) and ladder[0] == pytest.approx(0.6) and ladder[-1] == pytest.approx(1.0)
    assert main(args + ["--rounds", "6", "--resume"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["rounds"] == 6 and second["temperatures"] == pytest.approx(ladder) and second["dimensions"] == 2
    from glassmm.trajectory import read_trajectory

    tr = read_trajectory(out / "by_temperature" / "T0.h5")
    assert list(tr.step) == [2, 4, 6] and np.all(tr.positions[..., 2] == 0.0)  # the plane is kept
    assert main(["temper", "--tmin", "0.6", "-o", str(tmp_path / "x"), "--rounds", "1"]) == 2
    assert "t_min and t_max" in capsys.readouterr().err


def test_crystalline_fraction_tells_fcc_from_the_liquid(small_ka):
    from glassmm.analysis.crystal import crystalline_fraction

    n_cell, a = 4, (4 / 1.2) ** (1 / 3)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    cells = np.array([[i, j, k] for i in range(n_cell) for j in range(n_cell) for k in range(n_cell)])
    x = ((cells[:, None, :] + basis[None]) * a).reshape(-1, 3)
    box = np.full(3, n_cell * a)
    rng = np.random.default_rng(0)
    assert crystalline_fraction(x + rng.normal(scale=0.05, size=x.shape), box, np.zeros(len(x), dtype=int)) == 1.0
    assert crystalline_fraction(small_ka.positions_reduced, small_ka.box, small_ka.types) < 0.05


def _pt_rung_statistics(ka, temps, exchange, rounds: int, every: int = 5, batches: int = 30):
    """Per rung: <U>/N with its batch-means error and g(r), over ``rounds`` PT rounds of 50 steps."""
    from glassmm.analysis.structure import RadialDistribution

    pt = ka_tempering(ka, temps, md_steps=50, exchange=exchange, platform="CPU", threads=1, seed=5, frame_every=0,
                      progress=False)
    try:
        pt.run(40)  # burn-in: the replicas leave their common start
        u = [[] for _ in temps]
        g = [RadialDistribution(r_max=2.5, n_bins=50) for _ in temps]
        for t in range(rounds):
            pt.step()
            for k in range(len(temps)):
                u[k].append(pt.energies[pt.assignment[k]] / ka.n_particles)
            if t % every == 0:
                states = pt.pool.call("get_state")
                for k in range(len(temps)):
                    g[k].accumulate(states[pt.assignment[k]][0], ka.box, ka.types)
    finally:
        pt.close()
    out = []
    for k in range(len(temps)):
        a = np.asarray(u[k])
        bm = a[: len(a) // batches * batches].reshape(batches, -1).mean(1)
        out.append((float(a.mean()), float(bm.std(ddof=1) / math.sqrt(batches)), g[k].g))
    return out


@pytest.mark.slow
def test_small_ka_tempering_matches_md_at_every_rung_and_a_wrong_rule_does_not():
    """PT on a small KA liquid (N = 160) at T = 0.8, 0.9, 1.0 keeps each rung's <U> and g(r) of
    plain MD at that temperature; with the exchange's sign flipped the rungs' energies move."""
    from glassmm.testing import plain_md_reference

    temps = (0.8, 0.9, 1.0)
    refs = [plain_md_reference(160, T, seed=21, every=50) for T in temps]
    ka = refs[-1][0]
    good = _pt_rung_statistics(ka, temps, NeighbourExchange(), 600)
    for (u_pt, se_pt, g_pt), (_, (u_md, se_md, g_md)), T in zip(good, refs, temps):
        assert abs(u_pt - u_md) < 4 * math.hypot(se_pt, se_md), (T, u_pt, u_md, se_pt, se_md)
        assert abs(g_pt.max() - g_md.max()) < 0.05 * g_md.max() and abs(int(g_pt.argmax()) - int(g_md.argmax())) <= 1
    bad = _pt_rung_statistics(ka, temps, _WrongSign(), 600)
    z = [abs(u_pt - u_md) / math.hypot(se_pt, se_md) for (u_pt, se_pt, _), (_, (u_md, se_md, _)) in zip(bad, refs)]
    assert max(z) > 6.0, z


def test_replicas_as_dask_actors(small_ka):
    """One Dask actor per replica (a cluster runs one replica per worker core): same run shape as serial."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pt = ka_tempering(small_ka, geometric_ladder(0.8, 1.0, 2), md_steps=10, executor=client, platform="CPU",
                          seed=1, frame_every=0, progress=False)
        try:
            s = pt.run(4)
        finally:
            pt.close()
    assert s["executor"] == "dask" and s["rounds"] == 4 and sum(s["attempts"]) == 2 and np.isfinite(pt.energies).all()
