"""GPU paths, run where there is a CUDA GPU (``make test-gpu``, and by ``make gpu-check``).

Everything here is skipped with the reason ``glassmm.platforms.cuda_status`` gives when
OpenMM's CUDA platform or torch's GPU is missing. The references are the Reference platform
(double precision, serial) and the CPU models.
"""

from __future__ import annotations

import numpy as np
import pytest

import glassmm
from glassmm import platforms

STATUS = platforms.cuda_status()
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not STATUS["cuda_available"], reason=f"no CUDA here: {STATUS['reason']}")]


@pytest.fixture(scope="module")
def liquid():
    """A 1000-particle KA liquid, equilibrated briefly at T = 1 on CUDA."""
    from glassmm.testing import equilibrated_liquid

    return equilibrated_liquid(1000, 1.0, seed=5, steps=4000, platform="CUDA")


def test_auto_picks_cuda():
    assert platforms.choose_auto()[0] == "CUDA"
    from glassmm.models.predictor import resolve_device

    assert resolve_device("auto").type == "cuda"


@pytest.mark.parametrize("precision,tol", [("mixed", 1e-5), ("double", 1e-10)])
def test_cuda_energy_and_forces_match_reference(liquid, precision, tol):
    import openmm

    from glassmm import units

    def ef(name, prec):
        plat, props = platforms.get_platform(name, prec)
        ctx = openmm.Context(liquid.system, openmm.VerletIntegrator(0.001), plat, props)
        ctx.setPositions(liquid.positions)
        st = ctx.getState(energy=True, forces=True)
        return (float(units.as_reduced_energy(st.getPotentialEnergy())),
                units.forces_from_openmm(st.getForces(asNumpy=True)))

    e_ref, f_ref = ef("Reference", None)
    e, f = ef("CUDA", precision)
    assert abs(e - e_ref) <= tol * abs(e_ref)
    assert np.linalg.norm(f - f_ref) <= tol * np.linalg.norm(f_ref) * 10


def test_cuda_nve_conserves_energy(liquid):
    from glassmm.simulation import create_simulation, potential_energy, run

    sim = create_simulation(liquid, "nve", temperature=1.0, seed=1, platform="CUDA", precision="mixed")
    energies = []
    for _ in range(20):
        run(sim, 500)
        ke = glassmm.units.as_reduced_energy(sim.context.getState(energy=True).getKineticEnergy())
        energies.append((potential_energy(sim.context) + ke) / liquid.n_particles)
    drift = np.polyfit(np.arange(20) * 500 * 0.005, energies, 1)[0]
    assert abs(drift) < 1e-4  # per particle per tau
    assert np.ptp(energies) < 5e-3


def test_deterministic_cuda_repeats_bit_for_bit(liquid):
    from glassmm.simulation import create_simulation, get_positions, run

    def go():
        sim = create_simulation(liquid, "langevin", temperature=1.0, seed=2, platform="CUDA", deterministic=True)
        run(sim, 500)
        return get_positions(sim.context)

    assert np.array_equal(go(), go())


@pytest.mark.parametrize("backend,options", [("torchscript", {}), ("torch", {}), ("torch-export", {})])
def test_models_on_cuda_match_cpu(liquid, backend, options):
    from glassmm.backends import get_backend

    cpu = glassmm.load_model("botan-ka-T0.44-ts")(liquid.positions_reduced, liquid.box, liquid.types)
    pred = get_backend(backend).load("botan-ka-T0.44-ts", device="cuda", **options)
    assert pred.device.type == "cuda"
    got = pred(liquid.positions_reduced, liquid.box, liquid.types)
    assert np.abs(got.propensity - cpu.propensity).max() < 1e-3


def test_bf16_on_cuda_tracks_fp32(liquid):
    from glassmm.backends import get_backend

    fp32 = get_backend("torch").load("botan-ka-T0.44-ts", device="cuda")(liquid.positions_reduced, liquid.box, liquid.types)
    bf16 = get_backend("torch").load("botan-ka-T0.44-ts", device="cuda", dtype="bfloat16")(
        liquid.positions_reduced, liquid.box, liquid.types)
    assert np.corrcoef(fp32.propensity, bf16.propensity)[0, 1] > 0.99


def test_aot_inductor_package_on_cuda(liquid, tmp_path):
    from glassmm.backends import get_backend

    ref = glassmm.load_model("botan-ka-T0.44-ts")(liquid.positions_reduced, liquid.box, liquid.types)
    pred = get_backend("torch-export").load("botan-ka-T0.44-ts", device="cuda", aot=True, cache_dir=str(tmp_path))
    got = pred(liquid.positions_reduced, liquid.box, liquid.types)
    assert np.abs(got.propensity - ref.propensity).max() < 1e-3


@pytest.mark.parametrize("route", ["torch", "python"])
def test_ka_force_through_torch_on_cuda_matches_custom_force(liquid, route):
    import openmm

    from glassmm import units
    from glassmm.torchforce import ka_system_with

    def ef(system):
        plat, props = platforms.get_platform("CUDA", "double")
        ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), plat, props)
        ctx.setPositions(liquid.positions)
        st = ctx.getState(energy=True, forces=True)
        return (float(units.as_reduced_energy(st.getPotentialEnergy())),
                units.forces_from_openmm(st.getForces(asNumpy=True)))

    e_ref, f_ref = ef(liquid.system)
    e, f = ef(ka_system_with(liquid, route, device="cuda"))
    assert abs(e - e_ref) <= 1e-6 * abs(e_ref)
    assert np.abs(f - f_ref).max() <= 1e-5 * np.abs(f_ref).max()


def test_reporter_runs_the_model_on_cuda(liquid, tmp_path):
    from glassmm.simulation import create_simulation

    sim = create_simulation(liquid, "langevin", temperature=1.0, seed=3)
    assert sim.context.getPlatform().getName() == "CUDA"
    with glassmm.GlassReporter(tmp_path / "r.h5", 100, model="botan-ka-T0.44-ts") as rep:
        assert rep.predictor.device.type == "cuda"
        sim.reporters.append(rep)
        sim.step(500)
    with glassmm.read_report(tmp_path / "r.h5") as res:
        assert len(res["step"]) == 5 and np.isfinite(res["propensity"]).all()


def test_onnxruntime_cuda_provider_when_installed(liquid):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip(f"onnxruntime {ort.__version__} has no CUDAExecutionProvider (install onnxruntime-gpu)")
    from glassmm.backends import get_backend

    pred = get_backend("onnxruntime").load("botan-ka-T0.44-ts", device="cuda")
    assert pred.providers[0] == "CUDAExecutionProvider"
    ref = glassmm.load_model("botan-ka-T0.44-ts")(liquid.positions_reduced, liquid.box, liquid.types)
    got = pred(liquid.positions_reduced, liquid.box, liquid.types)
    assert np.abs(got.propensity - ref.propensity).max() < 1e-3
