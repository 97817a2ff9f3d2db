"""FIRE inherent structures against OpenMM's L-BFGS and the published inherent energy."""

import json

import numpy as np
import pytest

import glassmm
from glassmm.cli import main
from glassmm.minimize import fire_minimize, lbfgs_minimize
from glassmm.simulation import evaluate

from .conftest import needs_shared


# CPU forces are single precision (max|F| floor ~5e-4); Reference is double.
@pytest.mark.parametrize("platform,tol", [("CPU", 1e-3), ("Reference", 1e-4)])
def test_fire_converges_and_matches_lbfgs(small_liquid, platform, tol):
    ka = small_liquid
    fire = fire_minimize(ka.positions_reduced, ka.types, ka.box, force_tolerance=tol, platform=platform)
    assert fire.converged and fire.max_force < tol
    assert fire.energy_per_particle < fire.initial_energy_per_particle - 0.5
    # independent check of the reported max force
    _, f = evaluate(fire.positions, ka.types, ka.box, "Reference", forces=True)
    assert np.sqrt((f**2).sum(1)).max() < 2 * tol
    # OpenMM's L-BFGS stops early (max|F| ~0.025 at tolerance 1e-4). From a liquid the two
    # minimisers may land in different basins (measured on two machines: FIRE -7.566 vs
    # L-BFGS -7.556, and -7.533 vs -7.499), so compare them within one basin: FIRE started at
    # L-BFGS's end point must finish the descent without leaving it.
    lb = lbfgs_minimize(ka.positions_reduced, ka.types, ka.box, force_tolerance=1e-4)
    polish = fire_minimize(lb.positions, ka.types, ka.box, force_tolerance=tol, platform=platform)
    assert polish.converged and polish.max_force < tol < lb.max_force
    assert polish.energy_per_particle <= lb.energy_per_particle + 1e-6
    assert polish.energy_per_particle == pytest.approx(lb.energy_per_particle, abs=1e-3)
    # soft modes left by L-BFGS (max|F| ~0.07) relax by ~0.1; a hop to another basin is ~0.3-1
    assert np.abs(polish.positions - lb.positions).max() < 0.25


@needs_shared
def test_inherent_energy_of_shared_configuration(shared_files, tmp_path, capsys):
    out = tmp_path / "is.npz"
    assert main(["quench", str(shared_files[0]), "-o", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    # literature/README: about -7.68 per particle at T = 0.44 (measured here -7.662 to -7.679)
    assert res["inherent_energy_per_particle"] == pytest.approx(-7.68, abs=0.03)
    c = glassmm.load_configuration(out)
    assert c.inherent_positions.shape == (4096, 3) and c.replica_positions.shape == (32, 4096, 3)
    e = glassmm.potential_energy_per_particle(c.inherent_positions, c.types, c.box)
    assert e == pytest.approx(res["inherent_energy_per_particle"], abs=1e-6)
