"""glassmm-pairforce on its own (openmm and numpy only): the force's kernels against the
CustomNonbondedForce its own energy function defines, on every platform that has a kernel here."""

from __future__ import annotations

import numpy as np
import openmm
import pytest

gp = pytest.importorskip("glassmm_pairforce", reason="glassmm-pairforce is not installed")


def _lj_mixture(n=400, box=7.0, seed=0):
    """Two species on a jittered lattice (no overlaps), kJ/mol and nm."""
    rng = np.random.default_rng(seed)
    m = int(np.ceil(n ** (1 / 3)))
    grid = (np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n] + 0.5) * box / m
    pos = grid + rng.uniform(-0.1, 0.1, grid.shape)
    types = rng.integers(0, 2, n)
    force = gp.PairTableForce(2)
    for (a, b), (eps, sig) in {(0, 0): (1.0, 0.6), (0, 1): (1.3, 0.55), (1, 1): (0.8, 0.5)}.items():
        rc = 2.4 * sig
        force.setPairParameters(a, b, eps, sig, rc, gp.PairTableForce.ljShift(eps, sig, rc))
    for t in types:
        force.addParticle([float(t)])
    system = openmm.System()
    for _ in range(n):
        system.addParticle(40.0)
    system.setDefaultPeriodicBoxVectors(openmm.Vec3(box, 0, 0), openmm.Vec3(0, box, 0), openmm.Vec3(0, 0, box))
    system.addForce(force)
    return system, pos


def _energy_forces(system, pos, platform, props=None):
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(platform), props or {})
    ctx.setPositions(pos)
    st = ctx.getState(energy=True, forces=True)
    return st.getPotentialEnergy()._value, st.getForces(asNumpy=True)._value


def _as_custom(system):
    """The same system with a plain CustomNonbondedForce built from the plugin force's expression."""
    plugin = system.getForce(0)
    plain = openmm.CustomNonbondedForce(plugin.getEnergyFunction())
    plain.addPerParticleParameter("t")
    plain.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffPeriodic)
    plain.setCutoffDistance(plugin.getCutoffDistance())
    for i in range(plugin.getNumParticles()):
        plain.addParticle(plugin.getParticleParameters(i))
    copy = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(system))
    copy.removeForce(0)
    copy.addForce(plain)
    return copy


def test_the_package_reports_its_kernels():
    libs = gp.kernel_libraries()
    assert libs.get("Reference") is None and "Reference" in gp.supported_platforms()
    assert "CPU" in gp.supported_platforms()
    assert gp.cpu_engine()


@pytest.mark.parametrize("platform", ["Reference", "CPU", "OpenCL"])
def test_kernels_equal_the_expression_they_report(platform):
    if not gp.platform_supported(platform):
        pytest.skip(f"no {platform} kernel here: {gp.kernel_libraries().get(platform, 'not built')}")
    system, pos = _lj_mixture()
    props = {"Precision": "double"} if platform == "OpenCL" else {}
    e, f = _energy_forces(system, pos, platform, props)
    e_c, f_c = _energy_forces(_as_custom(system), pos, "Reference")
    tol = 1e-12 if platform in ("Reference", "OpenCL") else 1e-6
    assert e == pytest.approx(e_c, rel=tol)
    assert np.abs(f - f_c).max() <= max(tol, 3e-5) * np.abs(f_c).max()


def test_system_get_force_returns_a_custom_nonbonded_force_that_casts_back():
    system, _ = _lj_mixture(n=10, box=5.0)
    f = system.getForce(0)
    assert isinstance(f, openmm.CustomNonbondedForce) and gp.PairTableForce.isinstance(f)
    assert gp.PairTableForce.cast(f).getNumTypes() == 2
    assert not gp.PairTableForce.isinstance(openmm.CustomNonbondedForce("0"))
