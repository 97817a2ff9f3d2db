"""Choosing where things run, tested on any machine: OpenMM platforms (``auto``, names,
precision, DeterministicForces) and torch devices (``auto``, CUDA asked for without CUDA)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import glassmm
from glassmm import platforms
from glassmm.simulation import create_simulation, evaluate, get_forces, get_positions, run

NO_CUDA = "CUDA" not in platforms.available_platforms()
torch = pytest.importorskip("torch")
NO_TORCH_GPU = not torch.cuda.is_available()


@pytest.fixture
def fresh_auto(monkeypatch):
    """Forget the per-process auto choice and announcement, so a test sees its own."""
    monkeypatch.setattr(platforms, "_auto_choice", None)
    monkeypatch.setattr(platforms, "_announced", False)
    monkeypatch.delenv("GLASSMM_QUIET", raising=False)
    yield
    platforms._auto_choice = None


@pytest.mark.skipif(not NO_CUDA, reason="this machine has OpenMM's CUDA platform; auto picks it (see test_gpu.py)")
def test_auto_picks_cpu_here_and_says_which(fresh_auto, capsys, caplog):
    with caplog.at_level(logging.INFO, logger="glassmm.platforms"):
        plat, props = platforms.get_platform("auto")
    assert plat.getName() == "CPU" and props == {}
    err = capsys.readouterr().err
    assert "platform auto -> CPU" in err and "CUDA" in err  # says what it passed over, and why
    assert any("platform auto -> CPU" in r.message for r in caplog.records)
    platforms.get_platform(None)
    assert capsys.readouterr().err == ""  # said once per process


def test_auto_order_and_fallback(fresh_auto, monkeypatch):
    """CUDA first when it builds a Context; a GPU plugin that loads but fails is passed over with its reason."""
    monkeypatch.setattr(platforms, "available_platforms", lambda: ["Reference", "CPU", "OpenCL", "CUDA"])
    monkeypatch.setattr(platforms, "_probe", lambda name: None)
    assert platforms.choose_auto()[0] == "CUDA"
    platforms._auto_choice = None
    why = {"CUDA": "OpenMMException: no compatible CUDA device", "OpenCL": "its device is the host processor"}
    monkeypatch.setattr(platforms, "_probe", lambda name: why.get(name))
    name, skipped = platforms.choose_auto()
    assert name == "CPU"
    assert any("CUDA: OpenMMException: no compatible CUDA device" in s for s in skipped)
    assert any(s.startswith("OpenCL: its device") for s in skipped)


def test_platform_names_any_case_and_unknown():
    assert platforms.get_platform("cpu")[0].getName() == "CPU"
    assert platforms.get_platform(" REFERENCE ")[0].getName() == "Reference"
    with pytest.raises(ValueError, match="unknown platform 'Metal'; known: auto"):
        platforms.get_platform("Metal")


@pytest.mark.skipif(not NO_CUDA, reason="this machine has OpenMM's CUDA platform")
def test_cuda_asked_for_without_cuda_is_named():
    with pytest.raises(ValueError, match=r"platform 'CUDA' is not available here; available: .*CPU.*(glassmm\[cuda\]|no NVIDIA driver)"):
        platforms.get_platform("cuda")
    ka = glassmm.KobAndersen(256, positions="lattice", seed=0)
    with pytest.raises(ValueError, match="'CUDA' is not available"):
        create_simulation(ka, platform="CUDA")


def test_gpu_properties_default_to_mixed_and_deterministic():
    assert platforms.platform_properties("CUDA") == {"Precision": "mixed"}
    assert platforms.platform_properties("OpenCL", "double", device_index=1) == {"Precision": "double", "DeviceIndex": "1"}
    assert platforms.platform_properties("CUDA", deterministic=True)["DeterministicForces"] == "true"
    assert platforms.platform_properties("CPU", None) == {}
    assert platforms.platform_properties("CPU", deterministic=True) == {"Threads": "1", "DeterministicForces": "true"}
    assert platforms.platform_properties("Reference", deterministic=True) == {}
    with pytest.raises(ValueError, match="precision must be single, mixed or double"):
        platforms.platform_properties("CUDA", "half")
    with pytest.raises(ValueError, match="needs one thread"):
        platforms.platform_properties("CPU", threads=2, deterministic=True)


def test_deterministic_run_repeats_bit_for_bit():
    """Same start, seed and deterministic=True: the same trajectory (threaded runs without it differ)."""
    ka = glassmm.KobAndersen(500, positions="random", seed=3)

    def go(**kw):
        sim = create_simulation(ka, "langevin", temperature=1.0, seed=3, platform="auto", **kw)
        run(sim, 200)
        return get_positions(sim.context), sim

    a, sim = go(deterministic=True)
    b, _ = go(deterministic=True)
    assert np.array_equal(a, b)
    assert sim.context.getPlatform().getPropertyValue(sim.context, "DeterministicForces") == "true"


def test_evaluate_resolves_auto_and_case():
    ka = glassmm.KobAndersen(300, positions="random", seed=1)
    e_ref, f_ref = evaluate(ka.positions_reduced, ka.types, ka.box, "Reference", forces=True)
    e_auto, f_auto = evaluate(ka.positions_reduced, ka.types, ka.box, "auto", forces=True)
    e_lc, _ = evaluate(ka.positions_reduced, ka.types, ka.box, "reference")
    assert e_lc == e_ref
    assert abs(e_auto - e_ref) < 1e-5 * abs(e_ref)
    assert np.abs(f_auto - f_ref).max() < 1e-4 * np.abs(f_ref).max()


def test_simulation_default_platform_is_auto():
    ka = glassmm.KobAndersen(256, positions="lattice", seed=0)
    sim = create_simulation(ka)
    assert sim.context.getPlatform().getName() == platforms.choose_auto()[0]
    assert np.isfinite(get_forces(sim.context)).all()


def test_cuda_status_gives_a_reason():
    st = platforms.cuda_status()
    assert set(st) >= {"cuda_available", "reason", "openmm_cuda", "torch_cuda"}
    assert (st["reason"] is None) == bool(st["cuda_available"])


# ---------------------------------------------------------------------------- torch devices
def test_auto_device_is_cpu_without_a_gpu():
    from glassmm.models.predictor import resolve_device

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(None) == resolve_device("auto")
    with pytest.raises(ValueError, match="unknown torch device 'gpu0'"):
        resolve_device("gpu0")


@pytest.mark.skipif(not NO_TORCH_GPU, reason="torch sees a GPU here")
@pytest.mark.parametrize("backend", ["torchscript", "torch", "torch-export"])
def test_cuda_model_without_a_gpu_is_named(backend):
    """Every built-in backend says there is no CUDA device, not that the artifact is unreadable."""
    from glassmm.backends import get_backend

    with pytest.raises(ValueError, match="device 'cuda' requested but CUDA is not available"):
        get_backend(backend).load("botan-ka-T0.44-ts", device="cuda")


@pytest.mark.skipif(not NO_TORCH_GPU, reason="torch sees a GPU here")
def test_load_model_cuda_without_gpu_is_named():
    with pytest.raises(ValueError, match="CUDA is not available") as err:
        glassmm.load_model("botan-ka-T0.44-ts", device="cuda:0")
    assert "TorchScript" not in str(err.value)


@pytest.mark.parametrize("backend,dtype", [("torchscript", "bfloat16"), ("torch-export", "bfloat16")])
def test_float32_only_backends_refuse_bf16_by_name(backend, dtype):
    from glassmm.backends import get_backend

    with pytest.raises(ValueError, match=f"the {backend} backend runs .* float32 only"):
        get_backend(backend).load("botan-ka-T0.44-ts", dtype=dtype)


def test_torch_export_backend_honours_cpu_device(tmp_path):
    from glassmm.backends import get_backend

    pred = get_backend("torch-export").load("botan-ka-T0.44-ts", device="cpu", cache_dir=str(tmp_path))
    assert pred.device.type == "cpu"
    ka = glassmm.KobAndersen(256, positions="random", seed=2)
    ref = glassmm.load_model("botan-ka-T0.44-ts")(ka.positions_reduced, ka.box, ka.types).propensity
    got = pred(ka.positions_reduced, ka.box, ka.types).propensity
    assert np.abs(got - ref).max() < 1e-4


def test_reporter_model_device_defaults_to_auto(tmp_path):
    from glassmm.models.predictor import resolve_device

    rep = glassmm.GlassReporter(tmp_path / "r.h5", 10, model="botan-ka-T0.44-ts")
    try:
        assert rep.predictor.device == resolve_device("auto")
    finally:
        rep.close()


def test_predictor_copies_static_inputs_once():
    pred = glassmm.load_model("botan-ka-T0.44-ts")
    ka = glassmm.KobAndersen(256, positions="random", seed=2)
    t1 = pred._tensors(ka.positions_reduced, ka.box, ka.types, None)
    t2 = pred._tensors(ka.positions_reduced + 0.01, ka.box, ka.types, None)
    assert t1[1] is t2[1] and t1[2] is t2[2]  # box and types reused
    assert t1[0] is not t2[0]
    t3 = pred._tensors(ka.positions_reduced, ka.box * 1.01, ka.types, None)
    assert t3[1] is not t1[1]  # a new box is copied again


@pytest.mark.skipif(not NO_TORCH_GPU, reason="torch sees a GPU here")
def test_cli_predict_cuda_without_gpu_is_named(tmp_path, capsys):
    from glassmm.cli import main

    ka = glassmm.KobAndersen(256, positions="random", seed=2)
    glassmm.save_configuration(tmp_path / "c.npz", glassmm.Configuration(ka.positions_reduced, ka.types, ka.box))
    with pytest.raises((SystemExit, RuntimeError)) as err:
        rc = main(["predict", str(tmp_path / "c.npz"), "--model", "botan-ka-T0.44-ts", "--device", "cuda"])
        raise SystemExit(rc)
    text = str(err.value) + capsys.readouterr().err
    assert "CUDA is not available" in text


def test_torch_backend_loads_every_bundled_model():
    """The eager rebuild of each shipped artifact gives the artifact's propensity (bf16 close to it)."""
    from glassmm.backends import get_backend
    from glassmm.models.artifact import bundled_models

    ka = glassmm.KobAndersen(256, positions="random", seed=2)
    for name in bundled_models():
        ref = glassmm.load_model(name)
        if ref.needs_inherent:
            continue
        want = ref(ka.positions_reduced, ka.box, ka.types).propensity
        got = get_backend("torch").load(name, device="auto")(ka.positions_reduced, ka.box, ka.types).propensity
        assert np.abs(got - want).max() < 1e-4, name
        bf = get_backend("torch").load(name, dtype="bfloat16")(ka.positions_reduced, ka.box, ka.types).propensity
        assert np.corrcoef(bf, want)[0, 1] > 0.99, name
