"""Generative-proposal sampler: exact densities, exact acceptance, invariance, checkpoints, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import glassmm
from glassmm.cli import main
from glassmm.sampling import (
    DiffusionProposalModel,
    FlowProposalModel,
    GenerativeSampler,
    GlobalMove,
    JumpCheck,
    LocalMove,
    load_proposal_model,
    save_proposal_model,
)
from glassmm.sampling.features import local_features, n_features
from glassmm.sampling.proposals import JumpMove

KINDS = [FlowProposalModel, DiffusionProposalModel]


def _model(cls, seed=0, **kw):
    torch.manual_seed(seed)
    return cls(n_features(), **kw)


# ----------------------------------------------------------------------------- densities
@pytest.mark.parametrize("cls", KINDS)
def test_log_density_round_trip_and_normalisation(cls):
    m = _model(cls)
    gen = torch.Generator().manual_seed(1)
    h = torch.randn(64, n_features(), dtype=torch.float64)
    t = torch.arange(64) % 2
    d, lq = m.sample(h, t, gen)
    assert d.shape == (64, 3) and (d.abs() < m.bound).all()
    # the density of the drawn sample, recomputed by integrating the ODE backwards
    assert torch.allclose(m.log_prob(d, h, t), lq, atol=1e-4)
    # normalisation: E_q[p / q] = 1 for any normalised p (here a Gaussian), so a wrong
    # Jacobian or a missing term shows up as a mean weight away from 1
    hh = h[:1].expand(6000, -1)
    d, lq = m.sample(hh, torch.zeros(6000, dtype=torch.long), gen)
    lp = (-0.5 * (d / 0.6) ** 2 - 0.5 * math.log(2 * math.pi) - math.log(0.6)).sum(-1)
    w = torch.exp(lp - lq)
    assert abs(float(w.mean()) - 1.0) < 4 * float(w.std()) / math.sqrt(len(w)) + 1e-3


def test_zero_field_flow_is_the_analytic_squashed_gaussian():
    m = _model(FlowProposalModel)
    with torch.no_grad():
        m.field.net[-1].weight.zero_()
        m.field.net[-1].bias.zero_()
        m.scale.copy_(torch.tensor([0.4, 0.7], dtype=torch.float64))
    m.base_scale = 1.3
    h = torch.randn(50, n_features(), dtype=torch.float64)
    t = torch.arange(50) % 2
    d, lq = m.sample(h, t, torch.Generator().manual_seed(0))
    a, sc = m.bound, m.scale[t].unsqueeze(-1) * 1.3
    uu = a * torch.atanh(d / a)
    expected = (-0.5 * (uu / sc) ** 2 - 0.5 * math.log(2 * math.pi) - torch.log(sc) - torch.log1p(-(d / a) ** 2)).sum(-1)
    assert torch.allclose(lq, expected, atol=1e-8)


def test_log_prob_outside_support_is_minus_inf():
    m = _model(FlowProposalModel, bound=1.0)
    d = torch.tensor([[0.1, 0.2, 1.0], [0.1, 0.1, 0.1]], dtype=torch.float64)
    lq = m.log_prob(d, torch.zeros(2, n_features(), dtype=torch.float64), torch.zeros(2, dtype=torch.long))
    assert lq[0] == -math.inf and math.isfinite(float(lq[1]))


def test_features_are_image_and_translation_invariant():
    ka = glassmm.KobAndersen(160, positions="random", seed=2)
    x = ka.positions_reduced
    shift = np.random.default_rng(0).integers(-2, 3, size=x.shape) * ka.box + 0.37
    f0 = local_features(x, ka.types, ka.box)
    f1 = local_features(x + shift, ka.types, ka.box)
    assert f0.shape == (160, n_features())
    assert torch.allclose(f0, f1, atol=1e-9)


# ----------------------------------------------------------------------------- invariance
def _double_well_chains(symmetric_shortcut: bool, chains: int, attempts: int, height: float, seed: int = 0):
    """x of both particles after every attempt of ``chains`` independent MH chains (no MD), each
    started from an exact equilibrium draw; and the acceptance rate."""
    from tests.double_well import double_well, set_exact_state

    sim = double_well(height=height)
    torch.manual_seed(seed)
    model = FlowProposalModel(n_features(), bound=2.0, hidden=16, layers=2)
    with torch.no_grad():  # a strongly skewed proposal: the Hastings ratio is far from 1
        model.field.net[-1].bias.copy_(torch.tensor([0.3, 0.0, 0.0], dtype=torch.float64))
    model.base_scale = 0.5
    model.rtol, model.atol = 1e-4, 1e-6
    move = GlobalMove(model, np.zeros(2, dtype=int), None)
    if symmetric_shortcut:  # the wrong shortcut: pretend q(x | x') = q(x' | x)
        move.reverse_log_density = lambda jump: jump.log_q_forward
    rng = np.random.default_rng(seed)
    xs, accepted = np.empty((chains, attempts, 2)), []
    for c in range(chains):
        set_exact_state(sim, 2, height, rng)
        s = GenerativeSampler(sim, move, 1.0, md_steps=0, proposals_per_cycle=1, check=JumpCheck(steps=0),
                              seed=1000 * seed + c, progress=False)
        for t in range(attempts):
            before = s.state.positions
            (rec,) = s.step_moves()
            accepted.append(rec["accepted"])
            xs[c, t] = s.state.positions[:, 0]
            # no MD: the state changes exactly when a jump is accepted
            assert rec["accepted"] == (s.state.positions is not before)
    return xs, float(np.mean(accepted))


@pytest.mark.parametrize(
    "height,chains,attempts",
    [(0.5, 30, 30), pytest.param(1.0, 60, 100, marks=pytest.mark.slow)],
)
def test_double_well_distribution_is_invariant_and_the_symmetric_shortcut_is_not(height, chains, attempts):
    """Histogram of x against the exact marginal over independent chains started in equilibrium.

    Errors come from the scatter between chains (t with chains - 1 degrees of freedom), so the
    limit of 5 is a false alarm of about 1e-4 over the 8 bins for any seed; the same chains
    with the Hastings ratio dropped must fail by more than 6.
    """
    from tests.double_well import chain_bin_z

    xs, rate = _double_well_chains(False, chains, attempts, height)
    assert 0.05 < rate < 0.95, rate  # a chain that mixes at all (else the z-test means nothing)
    z = chain_bin_z(xs, height=height)
    assert np.abs(z).max() < 5.0, z
    xs_bad, _ = _double_well_chains(True, chains, attempts, height)
    z_bad = chain_bin_z(xs_bad, height=height)
    assert np.abs(z_bad).max() > 6.0, z_bad  # the same test detects the missing Hastings ratio


# ----------------------------------------------------------------------------- KA sampler
@pytest.fixture(scope="module")
def ka_state():
    from glassmm.testing import equilibrated_liquid

    return equilibrated_liquid(160, 1.0, seed=5, steps=400, platform="Reference")


def _ka_sampler(ka, tmp=None, seed=0, base_scale=0.3, check=None, mode="exact", **kw):
    from glassmm.simulation import create_simulation

    sim = create_simulation(ka, "langevin", temperature=1.0, seed=seed, platform="Reference")
    model = _model(FlowProposalModel, hidden=16, layers=2)
    with torch.no_grad():  # a weak random field: x-dependent and asymmetric, but accepting sometimes
        model.field.net[-1].weight.mul_(0.1)
        model.field.net[-1].bias.zero_()
    model.scale.fill_(0.5)
    model.base_scale = base_scale
    move = LocalMove(model, ka.types, ka.box, radius=kw.pop("radius", 0.7))
    return GenerativeSampler(
        sim, move, 1.0, md_steps=kw.pop("md_steps", 20), proposals_per_cycle=kw.pop("proposals_per_cycle", 4),
        check=check or JumpCheck(steps=10), output=tmp, seed=seed, mode=mode, progress=False, checkpoint_every=2, **kw,
    )


def test_acceptance_uses_openmm_energies_and_both_proposal_densities(ka_state):
    from glassmm.simulation import evaluate

    ka = ka_state
    s = _ka_sampler(ka, base_scale=0.1, radius=1.3)
    move = s.moves[0]
    from glassmm.sampling.moves import SamplerState

    x = ka.positions_reduced.copy()
    e0 = evaluate(x, ka.types, ka.box)[0]
    for _ in range(20):  # a multi-particle jump whose region is reproducible from x'
        s.state = SamplerState(x.copy(), None, e0)
        (rec,) = s.step_moves()
        if rec["n_moved"] > 1 and math.isfinite(rec["log_q_reverse"]):
            break
    jump = s.last_jump
    assert rec["n_moved"] == len(jump.moved) > 1 and math.isfinite(rec["log_q_reverse"])
    # recompute every term independently: a fresh Reference context for the energies, the
    # proposal densities by integrating the ODE again from each side
    e1 = evaluate(jump.new_positions, ka.types, ka.box)[0]
    fwd = move.forward_log_density(x, jump)
    rev = move.reverse_log_density(jump)
    assert fwd == pytest.approx(rec["log_q_forward"], abs=1e-3)
    assert rec["energy_new"] == pytest.approx(e1, rel=1e-9)
    assert rec["log_q_reverse"] == pytest.approx(rev, abs=1e-3)
    assert rec["log_alpha"] == pytest.approx(-(e1 - e0) / 1.0 + rev - fwd, abs=2e-3)


def test_region_probabilities_sum_to_one(ka_state):
    ka = ka_state
    model = _model(FlowProposalModel, hidden=8, layers=1)
    score = lambda x, box, types: x[:, 0]  # any deterministic function of the configuration  # noqa: E731
    move = LocalMove(model, ka.types, ka.box, radius=1.25, score=score, score_weight=0.7)
    x = ka.positions_reduced
    regions = {tuple(move.region(x, c)) for c in range(len(ka.types))}
    total = sum(math.exp(move.region_log_prob(x, np.array(r))) for r in regions)
    assert total == pytest.approx(1.0, abs=1e-12)
    p = move.centre_probabilities(x)
    # the documented mixture, computed independently: (1 - w) / N + w softmax(standardised score)
    s_ = x[:, 0]
    zs = (s_ - s_.mean()) / s_.std()
    soft = np.exp(zs - zs.max())
    assert np.allclose(p, 0.3 / len(p) + 0.7 * soft / soft.sum(), rtol=1e-9, atol=0)


def test_checkpoint_resume_is_exact(ka_state, tmp_path):
    full = _ka_sampler(ka_state, tmp_path / "full", base_scale=0.1)
    full.run(4)
    part = _ka_sampler(ka_state, tmp_path / "part", base_scale=0.1)
    part.run(2)
    resumed = _ka_sampler(ka_state, tmp_path / "part", seed=99, base_scale=0.1)  # state comes from the checkpoint
    resumed.run(4, resume=True)

    def strip(recs):
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in recs]

    assert sum(r["accepted"] for r in full.records) > 0
    assert strip(resumed.records) == strip(full.records)
    lines = (tmp_path / "part" / "attempts.jsonl").read_text().splitlines()
    assert strip([json.loads(line) for line in lines]) == strip(full.records)
    pos = lambda s: s.context.getState(positions=True).getPositions(asNumpy=True)._value  # noqa: E731
    np.testing.assert_array_equal(pos(resumed), pos(full))
    summary = json.loads((tmp_path / "part" / "summary.json").read_text())
    assert summary["attempts"] == 16 and not summary["biased"]
    assert (tmp_path / "part" / "summary.png").stat().st_size > 0


def test_corrupt_checkpoint_is_reported(ka_state, tmp_path):
    (tmp_path / "checkpoint.npz").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt sampler checkpoint"):
        _ka_sampler(ka_state, tmp_path).run(2, resume=True)


def test_md_check_runs_after_every_attempt_and_never_reverts(ka_state):
    s = _ka_sampler(ka_state, check=JumpCheck(steps=5, temperature_sigmas=0.0), base_scale=0.1)
    s.run(4)
    recs = s.records
    assert any(r["accepted"] for r in recs) and not all(r["accepted"] for r in recs)
    # the check's MD ran after every attempt (accepted or not) and every verdict is a recorded miss
    assert all(r["check_md"].startswith("kinetic temperature") for r in recs)
    assert all(r["check"] == "ok" for r in recs if r["accepted"])
    assert s.summary()["check_failures"] == {k: v for k, v in s.summary()["check_failures"].items() if k.startswith("kinetic")}
    assert sum(s.summary()["check_failures"].values()) == len(recs)
    assert s.summary()["accepted"] == sum(r["accepted"] for r in recs) > 0


class _MirrorMove(JumpMove):
    """x -> -x for the one particle of an asymmetric double well: an involution, so q ratio 1."""

    kind = "mirror"
    types = np.zeros(1, dtype=int)

    def propose(self, positions, rng, generator):
        from glassmm.sampling.proposals import Jump

        new = positions.copy()
        new[0, 0] = -positions[0, 0]
        return Jump(self.kind, np.array([0]), new[:1] - positions[:1], new, 0.0)

    def reverse_log_density(self, jump):
        return 0.0


def _tilted_well(height, tilt, seed):
    """One particle, U = h (x^2 - 1)^2 + b x + (y^2 + z^2) / 2 (kT = 1), Langevin on Reference."""
    import openmm
    import openmm.app as app
    import openmm.unit as u

    system = openmm.System()
    system.addParticle(1.0)
    force = openmm.CustomExternalForce(f"{height}*(x^2-1)^2 + {tilt}*x + 0.5*(y^2+z^2)")
    force.addParticle(0, [])
    system.addForce(force)
    top = app.Topology()
    top.addAtom("X", app.Element.getBySymbol("Ar"), top.addResidue("X", top.addChain()))
    integ = openmm.LangevinMiddleIntegrator(glassmm.units.temperature_to_kelvin(1.0), 1.0, 0.005)
    integ.setRandomNumberSeed(seed + 1)
    sim = app.Simulation(top, system, integ, openmm.Platform.getPlatformByName("Reference"))
    sim.context.setPositions(np.array([[1.0, 0.0, 0.0]]) * u.nanometer)
    sim.context.setVelocitiesToTemperature(glassmm.units.temperature_to_kelvin(1.0), seed + 2)
    return sim


def test_md_check_keeps_the_chain_exact(seed=0):
    """Asymmetric double well (h = 1, b = 1), 1 MD step and one mirror jump per cycle, 50 check steps.

    The upper well's exact weight is 0.161. The rule before (the check's MD and a velocity
    refresh only after accepted jumps) held it at 0.118-0.124 (two seeds, 6000 cycles each);
    with the MD after every attempt the chain is exact. 12000 cycles in 60 batches of 200,
    far longer than the chain's memory of a few cycles, so the batch means are independent
    and Student's t with 59 degrees of freedom is close to normal: the old rule sits about
    9 standard errors off, the limit is 4.5.
    """
    from scipy.integrate import quad

    height, tilt, cycles, batches = 1.0, 1.0, 12000, 60
    sim = _tilted_well(height, tilt, seed)
    s = GenerativeSampler(sim, _MirrorMove(), 1.0, md_steps=1, proposals_per_cycle=1, check=JumpCheck(steps=50, min_distance=0.0),
                          seed=seed, progress=False)
    upper = np.empty(cycles)
    s.run(cycles, callback=lambda smp: upper.__setitem__(smp.cycle - 1, smp.context.getState(positions=True).getPositions(asNumpy=True)._value[0, 0] > 0))
    s.records.clear()  # keep memory flat; the check above is all this test needs
    u = lambda x: math.exp(-(height * (x * x - 1) ** 2 + tilt * x))  # noqa: E731
    exact = quad(u, 0, 6)[0] / quad(u, -6, 6)[0]
    bm = upper.reshape(batches, -1).mean(1)
    se = bm.std(ddof=1) / math.sqrt(batches)
    print(f"upper well {upper.mean():.4f} +- {se:.4f}, exact {exact:.4f}")
    assert se < 0.01  # the test has the power quoted above
    assert abs(upper.mean() - exact) < 4.5 * se, (upper.mean(), exact, se)
def test_explore_mode_is_labelled_biased(ka_state, tmp_path):
    with pytest.warns(UserWarning, match="biased"):
        s = _ka_sampler(ka_state, tmp_path, mode="explore", energy_window=5.0)
    summary = s.run(1)
    assert summary["biased"] and summary["mode"] == "explore"
    assert all(json.loads(line)["biased"] for line in (tmp_path / "attempts.jsonl").read_text().splitlines())


def test_bad_inputs_are_named(ka_state, tmp_path):
    ka = ka_state
    m = _model(FlowProposalModel, bound=3.0)
    with pytest.raises(ValueError, match="half the smallest box edge"):
        LocalMove(m, ka.types, ka.box)
    move = LocalMove(_model(FlowProposalModel), ka.types, ka.box)
    with pytest.raises(ValueError, match="shape"):
        move.propose(ka.positions_reduced[:10], np.random.default_rng(0), torch.Generator())
    bad = ka.positions_reduced.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        move.propose(bad, np.random.default_rng(0), torch.Generator())
    other = glassmm.KobAndersen(200, seed=1)
    from glassmm.simulation import create_simulation

    sim = create_simulation(other, "langevin", temperature=1.0, platform="Reference")
    with pytest.raises(ValueError, match="built for 160 particles"):
        GenerativeSampler(sim, move, 1.0)
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable glassmm proposal model"):
        load_proposal_model(tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="unknown proposal model kind"):
        glassmm.sampling.train_proposal_model({"positions": [], "box": None}, kind="gan")


@pytest.mark.parametrize("cls", KINDS)
def test_save_load_round_trip(cls, tmp_path):
    m = _model(cls, hidden=8, layers=1)
    m.scale.fill_(0.3)
    path = save_proposal_model(m, tmp_path / "m.pt", {"temperature": 0.8})
    m2 = load_proposal_model(path)
    assert type(m2) is cls and m2.metadata["temperature"] == 0.8
    h = torch.randn(5, n_features(), dtype=torch.float64)
    t = torch.zeros(5, dtype=torch.long)
    d = torch.full((5, 3), 0.1, dtype=torch.float64)
    assert torch.allclose(m.log_prob(d, h, t), m2.log_prob(d, h, t))


def test_cli_train_proposal_then_sample_and_resume(tmp_path, capsys):
    model = tmp_path / "cnf.pt"
    assert main(["train-proposal", "-T", "1.0", "-n", "160", "--pairs", "12", "--epochs", "3", "--lag", "0.5",
                 "--stride", "0.25", "-o", str(model)]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["n_train_particles"] == 160 * 10 and math.isfinite(trained["val_log_q_per_particle"])
    args = ["sample", "--proposal", str(model), "-T", "1.0", "-n", "160", "--md-steps", "20", "--proposals", "2",
            "-o", str(tmp_path / "run")]
    assert main(args + ["--cycles", "2"]) == 0
    capsys.readouterr()
    assert main(args + ["--cycles", "3", "--resume"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cycles"] == 3 and out["attempts"] == 6
    assert len((tmp_path / "run" / "attempts.jsonl").read_text().splitlines()) == 6
    final = glassmm.load_configuration(tmp_path / "run" / "final.npz")
    assert final.n_particles == 160
    assert out["move"] == "local"  # what the proposal file holds
    assert main(["sample", "--proposal", str(tmp_path / "missing.pt"), "-T", "1", "-o", str(tmp_path / "x")]) == 2
    assert main(["sample", "--move", "harmonic", "--proposal", str(model), "-T", "1", "-o", str(tmp_path / "y")]) == 2
    assert main(["sample", "--move", "region", "-T", "1", "-o", str(tmp_path / "z")]) == 2
    err = capsys.readouterr().err
    assert "need no proposal model" in err and "needs a proposal model" in err


@pytest.mark.parametrize("move", ["harmonic", "region"])
def test_cli_sample_region_moves_write_a_trajectory_with_types_and_resume_it(tmp_path, capsys, move):
    """`glassmm sample` offers the region moves; the chain's frames carry types and box, and a
    resumed run continues the trajectory from its checkpoint (no duplicate or missing cycle)."""
    from glassmm.trajectory import read_trajectory

    extra = []
    if move == "region":
        flow = tmp_path / "region.pt"
        assert main(["train-proposal", "--kind", "region", "-k", "4", "-T", "1.0", "-n", "160", "--pairs", "8",
                     "--epochs", "2", "--lag", "0.1", "-o", str(flow)]) == 0
        trained = json.loads(capsys.readouterr().out)
        assert trained["kind"] == "region" and trained["k"] == 4 and math.isfinite(trained["validation_nll_per_region"])
        extra = ["--proposal", str(flow), "--ncmc-steps", "3"]
    run = tmp_path / "run"
    args = ["sample", "--move", move, "-T", "1.0", "-n", "160", "--md-steps", "10", "--proposals", "2", "-o", str(run), *extra]
    assert main(args + ["--cycles", "3"]) == 0
    capsys.readouterr()
    assert main(args + ["--cycles", "5", "--resume"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cycles"] == 5 and out["move"] == move
    traj = read_trajectory(run / "trajectory.h5")
    final = glassmm.load_configuration(run / "final.npz")
    assert traj.positions.shape == (5, 160, 3)
    assert list(traj.step) == [1, 2, 3, 4, 5]
    assert np.array_equal(traj.types, final.types) and np.allclose(traj.box, final.box)
    assert list(traj.extra["attempts"]) == sorted(traj.extra["attempts"]) and traj.extra["attempts"][-1] == len(json.loads("[" + ",".join((run / "attempts.jsonl").read_text().splitlines()) + "]"))
    np.testing.assert_allclose(traj.positions[-1], final.positions, atol=1e-5)  # float32 frames
    records = [json.loads(line) for line in (run / "attempts.jsonl").read_text().splitlines()]
    from glassmm.systems import pair_force_plugin

    # auto: the context's energy with the compiled force (the faster path), local pair sums otherwise
    expected = "context" if pair_force_plugin()[0] is not None else "local"
    assert len(records) >= 10 and all(r["energy_source"] == expected for r in records)


@pytest.mark.parametrize("method", ["tempering", "harmonic", "region"])
def test_accelerated_sampling_example_prints_its_json_line(tmp_path, method):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "accelerated_sampling.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--budget", "3", "--epochs", "2", "--pairs", "12", "--score", "none",
         "--method", method, "-T", "0.8", "-o", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("acceptance_rate", "md_only_decorrelation_time_s", "sampler_decorrelation_time_s", "speedup"):
        assert key in last
    assert last["method"] == method
    # the printed figures agree with what the run wrote and with each other
    if method == "tempering":
        summary = json.loads((tmp_path / "out" / "tempering" / "summary.json").read_text())
        acc = [a for a in summary["acceptance"] if a is not None]
        assert last["acceptance_rate"] == pytest.approx(np.mean(acc)) and last["tempering"]["temperatures"] == summary["temperatures"]
    else:
        records = [json.loads(line) for line in (tmp_path / "out" / "sampler" / "attempts.jsonl").read_text().splitlines()]
        assert last["acceptance_rate"] == pytest.approx(np.mean([r["accepted"] for r in records]))
    if last["speedup"] is not None:
        assert last["speedup"] == pytest.approx(last["md_only_decorrelation_time_s"] / last["sampler_decorrelation_time_s"])
    assert (tmp_path / "out" / "overlap.png").stat().st_size > 0


@pytest.mark.slow
def test_small_ka_energy_and_gr_match_plain_md():
    """The sampler's chain (MD + checked jumps) keeps <U> and g(r) of plain MD at T = 1."""
    from glassmm.testing import chain_statistics, plain_md_reference

    every = 50
    ka, (u_md, se_md, g_md) = plain_md_reference(every=every)

    sampler = _ka_sampler(ka, base_scale=0.7, md_steps=every, proposals_per_cycle=2)
    sim = sampler.simulation
    sampler.check = JumpCheck(steps=10)
    u_s, se_s, g_s = chain_statistics(sim, lambda: sampler.run(sampler.cycle + 1), ka)
    assert sampler.summary()["accepted"] > 0
    assert abs(u_md - u_s) < 4 * math.hypot(se_md, se_s), (u_md, u_s, se_md, se_s)
    assert abs(g_md.max() - g_s.max()) < 0.1 * g_md.max() and abs(int(g_md.argmax()) - int(g_s.argmax())) <= 1
