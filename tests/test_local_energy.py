"""Local energy changes of region moves: equal to the full energy difference, refused when not the system's potential."""

from __future__ import annotations

import numpy as np
import pytest

import glassmm
from glassmm.potentials import KA, KA2D
from glassmm.sampling.local_energy import LocalEnergy
from glassmm.simulation import create_simulation, get_positions, potential_energy


@pytest.mark.parametrize("dims", [3, 2])
def test_local_energy_change_equals_the_full_energy_difference(dims):
    ka = glassmm.KobAndersen(300, positions="random", seed=4, dimensions=dims)
    sim = create_simulation(ka, "langevin", temperature=1.0, seed=4, platform="Reference")
    sim.step(200)
    x = get_positions(sim.context)
    table = KA if dims == 3 else KA2D
    local = LocalEnergy(table, ka.types, ka.box)
    assert local.matches(sim.context) == (True, "")
    rng = np.random.default_rng(0)
    e0 = potential_energy(sim.context)
    for trial in range(6):
        # compact regions (members interact with each other) and scattered ones, near the box edge too
        centre = rng.integers(len(x))
        d = glassmm.geometry.minimum_image(x - x[centre], ka.box)
        k = 8 if trial % 2 else 3
        moved = np.argsort((d * d).sum(1))[:k] if trial < 4 else rng.choice(len(x), k, replace=False)
        y = x.copy()
        y[moved] += rng.normal(scale=0.15, size=(k, 3)) * (np.array([1, 1, 0]) if dims == 2 else 1)
        sim.context.setPositions(glassmm.units.length_to_openmm(y))
        expected = potential_energy(sim.context) - e0
        got = local.delta(x, y, moved)
        assert got == pytest.approx(expected, rel=1e-10, abs=1e-9), (trial, got, expected)
        assert abs(expected) > 1e-3  # the moves change the energy, so the comparison means something
    assert local.delta(x, x, np.array([], dtype=int)) == 0.0


def test_local_energy_refuses_a_system_that_is_not_the_table():
    ka = glassmm.KobAndersen(200, positions="random", seed=5)
    sim = create_simulation(ka, "langevin", temperature=1.0, seed=5, platform="Reference")
    ok, why = LocalEnergy(KA, np.zeros(200, dtype=int), ka.box).matches(sim.context)  # all A: another potential
    assert not ok and "not the KA table's pair sum" in why
    ok, why = LocalEnergy(KA, ka.types[:100], ka.box).matches(sim.context)
    assert not ok and "200 particles" in why
