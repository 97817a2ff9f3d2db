"""The one place that knows how reduced Lennard-Jones units map onto OpenMM's.

glassmm works in reduced LJ units everywhere inside the package. The mapping onto
OpenMM's unit system is exact when

* sigma_AA = 1 nm (length),
* epsilon_AA = 1 kJ/mol (energy),
* m = 1 amu (mass),

because 1 kJ/mol = 1 amu nm^2 / ps^2, so the LJ time unit tau = sqrt(m sigma^2 / epsilon)
is exactly 1 ps and forces in reduced units equal forces in kJ/mol/nm. Only temperature
needs a factor: T* = k_B T / epsilon, so T* = 1 is epsilon / k_B = 120.2722 K.

Public functions of glassmm accept either plain numbers, taken to be in reduced units,
or :class:`openmm.unit.Quantity` objects with any compatible unit; the ``as_reduced_*``
helpers below do that conversion once, at the boundary.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import openmm.unit as u

#: Length unit: sigma_AA in OpenMM units.
SIGMA = 1.0 * u.nanometer
#: Energy unit: epsilon_AA in OpenMM units.
EPSILON = 1.0 * u.kilojoule_per_mole
#: Mass unit: the particle mass in OpenMM units.
MASS = 1.0 * u.amu
#: Time unit tau = sqrt(m sigma^2 / epsilon); exactly 1 ps with the choices above.
TAU = (MASS * SIGMA**2 / EPSILON).sqrt().in_units_of(u.picosecond)
#: Temperature unit epsilon / k_B (about 120.2722 K).
TEMPERATURE_UNIT_KELVIN: float = float(
    (EPSILON / u.MOLAR_GAS_CONSTANT_R).value_in_unit(u.kelvin)
)
#: Force unit epsilon / sigma.
FORCE = EPSILON / SIGMA


def _is_quantity(value: Any) -> bool:
    return isinstance(value, u.Quantity)


def _check_finite(value: Any, what: str) -> None:
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite; got {value!r}")


def as_reduced_temperature(value: float | u.Quantity) -> float:
    """Temperature in reduced units.

    Parameters
    ----------
    value : float (reduced, epsilon/k_B) or Quantity (temperature, e.g. kelvin)

    Returns
    -------
    float (reduced)
    """
    if _is_quantity(value):
        kelvin = value.value_in_unit(u.kelvin)
        _check_finite(kelvin, "temperature")
        out = float(kelvin) / TEMPERATURE_UNIT_KELVIN
    else:
        _check_finite(value, "temperature")
        out = float(value)
    if out < 0:
        raise ValueError(f"temperature must be non-negative; got {value!r}")
    return out


def temperature_to_kelvin(reduced: float) -> u.Quantity:
    """Reduced temperature -> OpenMM temperature Quantity (kelvin)."""
    return float(reduced) * TEMPERATURE_UNIT_KELVIN * u.kelvin


def as_reduced_length(value: Any) -> Any:
    """Length(s) in reduced units (sigma_AA); accepts arrays or Quantities of lengths."""
    if _is_quantity(value):
        return _strip(value, u.nanometer) / SIGMA.value_in_unit(u.nanometer)
    return value


def as_reduced_time(value: float | u.Quantity) -> float:
    """Time in reduced units (tau); a Quantity of time or a plain number in tau."""
    if _is_quantity(value):
        return float(value.value_in_unit(u.picosecond)) / TAU.value_in_unit(u.picosecond)
    return float(value)


def as_reduced_energy(value: Any) -> Any:
    """Energy in reduced units (epsilon_AA); molar-energy Quantity or plain number."""
    if _is_quantity(value):
        return _strip(value, u.kilojoule_per_mole) / EPSILON.value_in_unit(
            u.kilojoule_per_mole
        )
    return value


def length_to_openmm(reduced: Any) -> u.Quantity:
    """Reduced length(s) -> Quantity in nm (numpy arrays stay arrays inside)."""
    return np.asarray(reduced, dtype=float) * SIGMA.value_in_unit(u.nanometer) * u.nanometer


def time_to_openmm(reduced: float) -> u.Quantity:
    """Reduced time -> Quantity in ps."""
    return float(reduced) * TAU.value_in_unit(u.picosecond) * u.picosecond


def energy_to_openmm(reduced: float) -> u.Quantity:
    """Reduced energy -> Quantity in kJ/mol."""
    return float(reduced) * EPSILON.value_in_unit(u.kilojoule_per_mole) * u.kilojoule_per_mole


def _strip(value: u.Quantity, unit: u.Unit) -> Any:
    """Value of a Quantity in ``unit`` as float or float ndarray (handles lists of Vec3)."""
    raw = value.value_in_unit(unit)
    if isinstance(raw, (int, float)):
        return float(raw)
    return np.asarray([tuple(v) if hasattr(v, "__len__") else v for v in raw], dtype=float) \
        if isinstance(raw, list) else np.asarray(raw, dtype=float)


def positions_from_openmm(positions: Any) -> np.ndarray:
    """OpenMM positions (Quantity of Vec3 list or ndarray, nm) -> reduced (N, 3) float64."""
    if _is_quantity(positions):
        arr = _strip(positions, u.nanometer)
    else:
        arr = np.asarray(positions, dtype=float)
    return np.asarray(arr, dtype=np.float64).reshape(-1, 3) / SIGMA.value_in_unit(u.nanometer)


def velocities_from_openmm(velocities: Any) -> np.ndarray:
    """OpenMM velocities (Quantity, nm/ps) -> reduced (N, 3) float64 (sigma/tau)."""
    scale = (SIGMA / TAU).value_in_unit(u.nanometer / u.picosecond)
    if _is_quantity(velocities):
        arr = _strip(velocities, u.nanometer / u.picosecond)
    else:
        arr = np.asarray(velocities, dtype=float)
    return np.asarray(arr, dtype=np.float64).reshape(-1, 3) / scale


def velocities_to_openmm(reduced: Any) -> u.Quantity:
    """Reduced velocities (sigma/tau) -> Quantity in nm/ps (arrays stay arrays inside)."""
    scale = (SIGMA / TAU).value_in_unit(u.nanometer / u.picosecond)
    return np.asarray(reduced, dtype=float) * scale * (u.nanometer / u.picosecond)


def forces_from_openmm(forces: Any) -> np.ndarray:
    """OpenMM forces (Quantity, kJ/mol/nm) -> reduced (N, 3) float64 (epsilon/sigma)."""
    scale = FORCE.value_in_unit(u.kilojoule_per_mole / u.nanometer)
    return np.asarray(_strip(forces, u.kilojoule_per_mole / u.nanometer), dtype=np.float64).reshape(-1, 3) / scale


def forces_to_openmm(reduced: Any) -> u.Quantity:
    """Reduced forces (epsilon/sigma) -> Quantity in kJ/mol/nm (arrays stay arrays inside)."""
    return np.asarray(reduced, dtype=float) * FORCE.value_in_unit(u.kilojoule_per_mole / u.nanometer) \
        * (u.kilojoule_per_mole / u.nanometer)


def mass_from_openmm(mass: u.Quantity) -> float:
    """A particle mass (Quantity, amu) in reduced units."""
    return float(mass.value_in_unit(u.amu)) / MASS.value_in_unit(u.amu)


def thermal_energy_to_openmm(reduced_temperature: float) -> float:
    """k_B T of a reduced temperature as a plain number in kJ/mol (for CustomIntegrator globals)."""
    return float((u.MOLAR_GAS_CONSTANT_R * temperature_to_kelvin(reduced_temperature)).value_in_unit(u.kilojoule_per_mole))


def box_from_openmm(box_vectors: Any) -> np.ndarray:
    """Rectangular OpenMM box vectors (3 Vec3, nm) -> reduced edge lengths (3,)."""
    vecs = positions_from_openmm(box_vectors)
    off = vecs - np.diag(np.diag(vecs))
    if np.any(np.abs(off) > 1e-12):
        raise ValueError("glassmm supports rectangular boxes only (triclinic box vectors given)")
    return np.diag(vecs).copy()
