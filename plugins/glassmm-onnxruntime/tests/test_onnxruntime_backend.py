"""The ONNX Runtime plugin against glassmm's shared parity suite."""

import numpy as np
import pytest

from glassmm.backends import list_backends, load_predictor
from glassmm.testing import run_parity_suite


def test_registered_through_entry_point():
    rows = {r["name"]: r for r in list_backends()}
    assert rows["onnxruntime"]["available"], rows["onnxruntime"]
    assert rows["onnxruntime"]["origin"] == "glassmm_onnxruntime"


def test_shared_parity_suite(tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSMM_CACHE", str(tmp_path / "cache"))
    report = run_parity_suite("onnxruntime", tmp_path, atol=1e-4)
    assert max(report.values()) < 1e-4


def test_cpu_provider_is_the_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSMM_CACHE", str(tmp_path / "cache"))
    from glassmm_onnxruntime import OnnxRuntimeBackend

    b = OnnxRuntimeBackend()
    assert b.providers(["NoSuchExecutionProvider"]) == ["CPUExecutionProvider"]
    monkeypatch.setenv("GLASSMM_ORT_PROVIDERS", "NoSuchExecutionProvider")
    assert b.providers()[-1] == "CPUExecutionProvider"


def test_serves_the_reporter(tmp_path, monkeypatch, small_ka_sim):
    monkeypatch.setenv("GLASSMM_CACHE", str(tmp_path / "cache"))
    import glassmm
    from glassmm.testing import _models

    model = _models(tmp_path)[1]
    sim, ka = small_ka_sim
    with glassmm.GlassReporter(tmp_path / "r.h5", 20, model=str(model), backend="onnxruntime", system=ka) as rep:
        sim.reporters.append(rep)
        sim.step(60)
    with glassmm.read_report(tmp_path / "r.h5") as r:
        assert r.attrs["backend"] == "onnxruntime"
        assert np.isfinite(r["propensity"]).all() and np.isfinite(r["temperature_estimate"]).all()


@pytest.fixture
def small_ka_sim():
    import glassmm
    from glassmm.simulation import create_simulation

    ka = glassmm.KobAndersen(300, seed=1)
    return create_simulation(ka, "langevin", temperature=1.0, seed=1), ka


def test_repeated_calls_are_exact(tmp_path, monkeypatch):
    """Guards the single-thread default: the threaded scatter-add raced (module docstring)."""
    monkeypatch.setenv("GLASSMM_CACHE", str(tmp_path / "cache"))
    import glassmm
    from glassmm.testing import _models

    model = _models(tmp_path)[0]
    ka = glassmm.KobAndersen(700, seed=700)
    pos = ka.positions_reduced + np.random.default_rng(0).normal(0, 0.06, (700, 3))
    ref = load_predictor(str(model), backend="torchscript")[0](pos, ka.box, ka.types).propensity
    pred, _ = load_predictor(str(model), backend="onnxruntime")
    errs = [np.abs(pred(pos, ka.box, ka.types).propensity - ref).max() for _ in range(20)]
    assert max(errs) < 1e-5, errs


def test_device_pins_providers_or_is_refused_by_name():
    import onnxruntime as ort

    from glassmm_onnxruntime import OnnxRuntimeBackend

    b = OnnxRuntimeBackend()
    assert b.providers(device="cpu") == ["CPUExecutionProvider"]
    with pytest.raises(ValueError, match="runs on 'cpu' or 'cuda"):
        b.providers(device="mps")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert b.providers(device="cuda:1")[0] == ("CUDAExecutionProvider", {"device_id": 1})
    else:
        with pytest.raises(ValueError, match="no CUDAExecutionProvider.*onnxruntime-gpu"):
            b.load("botan-ka-T0.44-ts", device="cuda")
    with pytest.raises(ValueError, match="float32 only"):
        b.load("botan-ka-T0.44-ts", dtype="bfloat16")
