"""The model's domain and boundary: refusals with named reasons at every entry point, warnings
beyond the training set, clear load errors, honest compile / bfloat16 options, bounded caches."""

import json
import warnings

import numpy as np
import pytest
import torch

import glassmm
from glassmm.backends import load_predictor
from glassmm.cli import main
from glassmm.models.artifact import load_model
from glassmm.models.domain import OutOfDomainError, OutOfDomainWarning


@pytest.fixture(scope="module")
def tbotan():
    return load_model("tbotan-ka")


def _lattice_box(n, density=1.2):
    L = (n / density) ** (1 / 3)
    k = int(np.ceil(n ** (1 / 3)))
    g = np.stack(np.meshgrid(*[np.arange(k)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n] * L / k
    types = np.zeros(n, dtype=int)
    types[: n // 5] = 1
    return g + 0.01, np.full(3, L), types


def test_in_domain_liquid_runs_without_warnings(tbotan, small_liquid):
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfDomainWarning)
        pred = tbotan(small_liquid.positions_reduced, small_liquid.box, small_liquid.types)
    assert 0.6 < pred.temperature < 1.4  # the liquid was equilibrated at T = 1.0


@pytest.mark.parametrize("case,match", [
    ("overlap", "particles overlap: closest pair at"),
    ("units_x10", r"number density 0.0012.*sigma_AA = nm"),
    ("density_1.1", "number density 1.1; model 'tbotan-ka' was trained at 1.2"),
    ("n60", "box edge 3.684 is below twice the model's cutoff"),
    ("composition", "composition 50.0% A"),
    ("two_d", "2D"),
    ("nan", r"NaN or infinite values \(1 of 256 particles\)"),
    ("shape", r"positions must have shape \(N, 3\); got \(256, 2\)"),
    ("types", r"types must have shape \(256,\)"),
])
def test_out_of_domain_input_is_refused_with_its_reason(tbotan, small_liquid, case, match):
    pos, box, types = small_liquid.positions_reduced.copy(), small_liquid.box.copy(), small_liquid.types.copy()
    if case == "overlap":
        pos = np.random.default_rng(0).uniform(0, box[0], pos.shape)
    elif case == "units_x10":
        pos, box = pos * 10, box * 10
    elif case == "density_1.1":
        ka = glassmm.KobAndersen(256, density=1.1, seed=0)
        pos, box, types = ka.positions_reduced, ka.box, ka.types
    elif case == "n60":
        pos, box, types = _lattice_box(60)
    elif case == "composition":
        types = np.arange(256) % 2
    elif case == "two_d":
        pos[:, 2] = 0.0
    elif case == "nan":
        pos[3, 1] = np.nan
    elif case == "shape":
        pos = pos[:, :2]
    elif case == "types":
        types = types[:-1]
    with pytest.raises(OutOfDomainError, match=match):
        tbotan(pos, box, types)


def test_strict_domain_off_turns_refusals_into_warnings(small_liquid):
    pred = load_model("tbotan-ka")
    pred.strict_domain = False
    ka = glassmm.KobAndersen(256, density=1.1, seed=0)
    with pytest.warns(OutOfDomainWarning, match="number density 1.1"):
        pred(ka.positions_reduced + 0.01, ka.box, ka.types)


def test_estimates_beyond_training_warn(tbotan):
    pos, box, types = _lattice_box(256)  # a crystal: no liquid the thermometer was trained on
    with pytest.warns(OutOfDomainWarning) as rec:
        tbotan(pos, box, types)
    text = " | ".join(str(w.message) for w in rec)
    assert "outside the range model 'tbotan-ka' was trained on (0.65-1.0, accepted to 0.6-1.05" in text
    assert "standard deviations from the training configurations" in text


def test_temperature_margin_is_max_of_005_and_10_percent():
    from glassmm.models.domain import temperature_range

    assert temperature_range({"training_temperatures": [0.65, 1.0]}) == pytest.approx((0.6, 1.05))
    assert temperature_range({"training_temperatures": [0.4, 1.4]}) == pytest.approx((0.3, 1.5))
    assert temperature_range({"training_temperatures": [0.44]}) == pytest.approx((0.39, 0.49))


def test_every_entry_point_refuses_overlaps(tmp_path, small_liquid):
    rng = np.random.default_rng(1)
    bad = rng.uniform(0, small_liquid.box[0], (256, 3))
    glassmm.save_configuration(tmp_path / "bad.npz", glassmm.Configuration(bad, small_liquid.types, small_liquid.box))
    # CLI
    assert main(["predict", str(tmp_path / "bad.npz"), "--model", "tbotan-ka", "--json"]) == 2
    # reporter, given the system: refused at construction
    ka = glassmm.KobAndersen(256, positions=bad, types=small_liquid.types, box=small_liquid.box)
    with pytest.raises(OutOfDomainError, match="overlap"):
        glassmm.GlassReporter(tmp_path / "r.h5", 10, model="tbotan-ka", system=ka)
    # sampler's propensity score
    from glassmm.sampling import PropensityScore

    score = PropensityScore()
    assert not score.predictor.needs_inherent  # the default reads thermal structures (no FIRE per attempt)
    with pytest.raises(OutOfDomainError, match="overlap"):
        score(bad, small_liquid.box, small_liquid.types)


def test_cli_predict_names_the_problem(tmp_path, small_liquid, capsys):
    pos = small_liquid.positions_reduced * 10
    glassmm.save_configuration(tmp_path / "x10.npz", glassmm.Configuration(pos, small_liquid.types, small_liquid.box * 10))
    assert main(["predict", str(tmp_path / "x10.npz"), "--model", "tbotan-ka"]) == 2
    err = capsys.readouterr().err
    assert "number density" in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------- load errors
def test_load_errors_say_what_the_file_is(tmp_path):
    class Plain(torch.nn.Module):
        def forward(self, x):
            return x

    torch.jit.save(torch.jit.script(Plain()), str(tmp_path / "plain.pt"))
    (tmp_path / "junk.pt").write_text("hello")
    with pytest.raises(ValueError, match="a TorchScript file but not a glassmm artifact"):
        load_model(tmp_path / "plain.pt")
    with pytest.raises(ValueError, match="not a TorchScript file"):
        load_model(tmp_path / "junk.pt")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_blames_the_device_not_the_file():
    with pytest.raises(ValueError, match="device 'cuda' requested but CUDA is not available"):
        load_model("tbotan-ka", device="cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        load_predictor("tbotan-ka", backend="torch", device="cuda")


def test_inspect_reads_a_report_and_configurations_refuse_hdf5(tmp_path, small_liquid, capsys):
    from glassmm.simulation import create_simulation

    sim = create_simulation(small_liquid, "langevin", temperature=1.0, seed=1, threads=1)
    with glassmm.GlassReporter(tmp_path / "run.h5", 10) as rep:
        sim.reporters.append(rep)
        sim.step(30)
    assert main(["inspect", str(tmp_path / "run.h5"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "glassmm report" and info["frames"] == 3 and info["n_particles"] == 256
    with pytest.raises(ValueError, match="is an HDF5 file .*not an npz configuration"):
        glassmm.load_configuration(tmp_path / "run.h5")


# ---------------------------------------------------------------------------- compile, bf16
def test_compile_really_compiles_and_matches_eager(small_liquid):
    eager = load_predictor("tbotan-ka", backend="torch")[0]
    comp = load_predictor("tbotan-ka", backend="torch", compile="eager")[0]  # dynamo capture, no codegen
    args = (small_liquid.positions_reduced, small_liquid.box, small_liquid.types)
    a, b = comp(*args), eager(*args)
    assert comp.compiled_frames >= 1
    assert np.allclose(a.propensity, b.propensity, atol=1e-5) and a.temperature == pytest.approx(b.temperature, abs=1e-5)


def test_torchscript_backend_refuses_options_it_cannot_honour():
    from glassmm.backends.builtin import TorchScriptBackend

    with pytest.raises(ValueError, match="float32 only"):
        TorchScriptBackend().load("tbotan-ka", dtype="bfloat16")
    with pytest.raises(ValueError, match="cannot torch.compile"):
        TorchScriptBackend().load("tbotan-ka", compile=True)


# ---------------------------------------------------------------------------- inherent cache
def test_inherent_cache_keys_on_the_box_and_stays_bounded(tmp_path, monkeypatch, small_liquid):
    from glassmm import io
    from glassmm.minimize import inherent_structure

    monkeypatch.setenv("GLASSMM_CACHE", str(tmp_path / "cache"))
    pos, types = small_liquid.positions_reduced, small_liquid.types
    a = inherent_structure(pos, types, small_liquid.box)
    b = inherent_structure(pos, types, small_liquid.box * 1.01)  # same positions, another box
    files = sorted((tmp_path / "cache" / "inherent").glob("*.npz"))
    assert len(files) == 2 and not np.allclose(a, b)
    size = files[0].stat().st_size
    removed = io.prune_cache("inherent", max_bytes=int(1.5 * size))
    assert removed == 1 and len(list((tmp_path / "cache" / "inherent").glob("*.npz"))) == 1
