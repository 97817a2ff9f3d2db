"""torch.export backend parity, and the KA force through the ML stack (TorchForce / PythonForce)."""

import numpy as np
import openmm
import pytest

import glassmm
from glassmm.simulation import get_platform
from glassmm.testing import run_parity_suite


def test_torch_export_backend_parity(tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSMM_CACHE", str(tmp_path / "cache"))
    report = run_parity_suite("torch-export", tmp_path / "work", atol=1e-5)
    assert max(report.values()) < 1e-5


def test_export_program_round_trip_keeps_metadata(tmp_path):
    from glassmm.models.export import export_program, load_program
    from glassmm.testing import _models

    src = _models(tmp_path)[1]
    prog = load_program(export_program(src, tmp_path / "m.pt2"))
    assert prog.metadata["format"] == "glassmm-torch-export-1" and prog.metadata["kind"] == "tbotan"
    with pytest.raises(ValueError, match="not a readable torch.export program"):
        (tmp_path / "bad.pt2").write_bytes(b"junk")
        load_program(tmp_path / "bad.pt2")


def _energy_forces(system, ka, platform="Reference"):
    p, props = get_platform(platform)
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), p, props)
    ctx.setPositions(ka.positions)
    st = ctx.getState(energy=True, forces=True)
    return st.getPotentialEnergy()._value, st.getForces(asNumpy=True)._value


@pytest.mark.parametrize("route", ["torch", "python"])
def test_torch_ka_force_matches_custom_nonbonded(small_liquid, route):
    from glassmm.torchforce import ka_system_with

    ka = small_liquid
    e0, f0 = _energy_forces(ka.system, ka)
    e1, f1 = _energy_forces(ka_system_with(ka, route), ka)
    assert e1 == pytest.approx(e0, rel=1e-10)
    rel = np.linalg.norm(f1 - f0, axis=1) / np.linalg.norm(f0, axis=1)
    assert np.median(rel) < 1e-5 and rel.max() < 1e-8


def test_torchforce_md_runs_and_conserves_energy(small_liquid):
    from glassmm.simulation import create_simulation, potential_energy, run
    from glassmm.torchforce import ka_system_with

    ka = small_liquid
    ka_t = glassmm.KobAndersen(ka.n_particles, positions=ka.positions_reduced, types=ka.types, box=ka.box)
    ka_t.system = ka_system_with(ka, "torch")
    sim = create_simulation(ka_t, "nve", temperature=1.0, platform="CPU", seed=3)
    e = []
    for _ in range(5):
        run(sim, 100)
        e.append(potential_energy(sim.context) + sim.context.getState(energy=True).getKineticEnergy()._value)
    assert np.ptp(np.array(e) / ka.n_particles) < 5e-3


@pytest.mark.slow
def test_aot_inductor_package_matches_program(tmp_path):
    """AOTInductor compile (needs a C++ compiler; about 20 s for a small model on 2 cores)."""
    import torch

    from glassmm.models.botan import BOTAN
    from glassmm.models.export import _example, export_program
    from glassmm.testing import _models

    src = _models(tmp_path)[1]
    export_program(src, tmp_path / "m.pt2", aot=True)
    runner = torch._inductor.aoti_load_package(str(tmp_path / "m.pt2") + ".aoti.pt2")
    program = torch.export.load(str(tmp_path / "m.pt2")).module()
    ex = _example(BOTAN(hidden=16, n_steps=3, temperature_head=True))
    with torch.no_grad():
        a, b = runner(*ex), program(*ex)
    assert float((a[0] - b[0]).abs().max()) < 1e-5
