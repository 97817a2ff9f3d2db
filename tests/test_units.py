import numpy as np
import openmm.unit as u
import pytest

from glassmm import units


def test_temperature_unit_is_epsilon_over_kB():
    assert units.TEMPERATURE_UNIT_KELVIN == pytest.approx(120.2722, abs=5e-4)
    # independent: epsilon = 1 kJ/mol, k_B = R / N_A -> epsilon / k_B = 1000 / 8.314462618 K
    assert units.TEMPERATURE_UNIT_KELVIN == pytest.approx(1000 / 8.314462618, rel=1e-9)


def test_tau_is_one_picosecond():
    assert units.TAU.value_in_unit(u.picosecond) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("T", [0.0, 0.44, 1.0, 2.5])
def test_temperature_round_trip(T):
    assert units.as_reduced_temperature(units.temperature_to_kelvin(T)) == pytest.approx(T, rel=1e-14)


def test_quantities_and_plain_numbers():
    assert units.as_reduced_temperature(120.2722 * u.kelvin) == pytest.approx(1.0, rel=1e-5)
    assert units.as_reduced_temperature(0.5) == 0.5
    assert units.as_reduced_time(5 * u.femtosecond) == pytest.approx(0.005)
    assert units.as_reduced_length(2.0 * u.angstrom) == pytest.approx(0.2)
    assert units.as_reduced_energy(4.184 * u.kilojoule_per_mole) == pytest.approx(4.184)
    pos = np.arange(6.0).reshape(2, 3)
    assert np.allclose(units.positions_from_openmm(units.length_to_openmm(pos)), pos)


def test_bad_temperature_rejected():
    with pytest.raises(ValueError, match="non-negative"):
        units.as_reduced_temperature(-1.0)
    with pytest.raises(ValueError, match="finite"):
        units.as_reduced_temperature(float("nan"))
