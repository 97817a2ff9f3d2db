"""What a model was trained on, and the checks that refuse or flag input outside it.

Every entry point that runs a model (the Python API, the CLI, the reporter, the sampler)
goes through :meth:`glassmm.models.predictor.Predictor.__call__`, which calls
:func:`check_input` and :func:`check_domain` before any tensor is built, and
:func:`check_outputs` after. Refusals are :class:`OutOfDomainError` (a ``ValueError``)
naming the quantity, its value and the trained range; soft excursions (a temperature
estimate or global statistics beyond the training set) are :class:`OutOfDomainWarning`.

The thresholds are physical, not fitted to the models:

* number density within 2 % of the trained one (a unit slip of x10 is a factor 1000);
* composition within 5 points of the trained fraction of A;
* box edges at least twice the graph cutoff, so the minimum image is unique;
* no pair closer than 0.5 sigma_AA (the KA pair energy there is above 10^3 epsilon: no
  thermal state reaches it; overlaps mean a random or corrupt configuration).
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np

from glassmm import geometry

#: closest pair (reduced length) a physical KA configuration can have
MIN_PAIR_DISTANCE = 0.5
DENSITY_RTOL = 0.02
COMPOSITION_TOL = 0.05
#: |standardised global statistic| beyond which T-BOTAN's thermometer extrapolates
GLOBAL_Z_LIMIT = 6.0


class OutOfDomainError(ValueError):
    """Input the model was not trained for (density, composition, size, overlaps, shape)."""


class OutOfDomainWarning(UserWarning):
    """An estimate or statistic outside what the model saw in training."""


def trained_density(metadata: dict[str, Any]) -> float:
    """Number density (reduced) the model was trained at (metadata ``density``, else its ``system`` line)."""
    if "density" in metadata:
        return float(metadata["density"])
    m = re.search(r"density\s*([0-9.]+)", str(metadata.get("system", "")))
    return float(m.group(1)) if m else 1.2


def trained_fraction_a(metadata: dict[str, Any]) -> float:
    m = re.search(r"(\d+):(\d+)", str(metadata.get("system", "")))
    return int(m.group(1)) / (int(m.group(1)) + int(m.group(2))) if m else 0.8


def check_input(positions: Any, box: Any, types: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shapes, dtypes and finiteness of one configuration; returns (positions, box, types) as numpy.

    Raises
    ------
    OutOfDomainError
        Naming the argument and what is wrong with it.
    """
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise OutOfDomainError(f"positions must have shape (N, 3); got {pos.shape}")
    if not np.all(np.isfinite(pos)):
        bad = int((~np.isfinite(pos).all(axis=1)).sum())
        raise OutOfDomainError(f"positions contain NaN or infinite values ({bad} of {len(pos)} particles)")
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape != (3,):
        raise OutOfDomainError(f"box must have 3 edge lengths; got shape {np.shape(box)}")
    if not np.all(np.isfinite(b)) or np.any(b <= 0):
        raise OutOfDomainError(f"box edges must be positive and finite; got {b.tolist()}")
    t = np.asarray(types)
    if t.shape != (len(pos),):
        raise OutOfDomainError(f"types must have shape ({len(pos)},) to match positions; got {t.shape}")
    if t.size and not np.issubdtype(t.dtype, np.integer):
        if not np.all(t == np.round(t)):
            raise OutOfDomainError("types must be integers (0 = A, 1 = B)")
        t = t.astype(np.int64)
    return pos, b, t


def check_domain(metadata: dict[str, Any], name: str, positions: np.ndarray, box: np.ndarray,
                 types: np.ndarray, strict: bool = True) -> list[str]:
    """Refuse (``strict``) or warn about a configuration outside the model's training domain.

    Parameters
    ----------
    metadata : dict
        The model's metadata (``system``, ``cutoff``, ``density``).
    name : str
        The model's name, for messages.
    positions : ndarray (reduced) (N, 3)
    box : ndarray (reduced) (3,)
    types : ndarray of int (N,)
    strict : bool
        Raise :class:`OutOfDomainError` (default); False turns refusals into warnings.

    Returns
    -------
    list of str
        The problems found (empty when the input is in domain).
    """
    import torch

    from glassmm.graph import minimum_pair_distance

    n = len(positions)
    problems = system_problems(metadata, name, types, geometry.infer_dimensions(positions))
    rho, rho0 = n / float(np.prod(box)), trained_density(metadata)
    if abs(rho / rho0 - 1) > DENSITY_RTOL:
        problems.append(f"number density {rho:.4g}; model {name!r} was trained at {rho0:g} "
                        "(are positions and box in sigma_AA = nm? see glassmm.units)")
    cutoff = float(metadata.get("cutoff", 2.0))
    if float(np.min(box)) < 2 * cutoff:
        problems.append(f"box edge {float(np.min(box)):.3f} is below twice the model's cutoff ({2 * cutoff:g}): "
                        f"the minimum image is not unique (N = {n} is too small)")
    else:
        d_min = minimum_pair_distance(torch.as_tensor(positions), torch.as_tensor(box), MIN_PAIR_DISTANCE)
        if d_min < MIN_PAIR_DISTANCE:
            problems.append(f"particles overlap: closest pair at {d_min:.3f} sigma_AA (< {MIN_PAIR_DISTANCE}); "
                            "not a physical configuration (minimise it, or check its units)")
    return refuse(problems, strict)


def system_problems(metadata: dict[str, Any], name: str, types: np.ndarray, dimensions: int) -> list[str]:
    """What a system's dimension, species and composition tell against the model (no positions needed)."""
    problems = []
    if dimensions != 3:
        problems.append(f"the system is {dimensions}D; model {name!r} was trained on 3D Kob-Andersen")
    if not np.all(np.isin(types, (0, 1))):
        problems.append(f"model {name!r} knows types 0 (A) and 1 (B) only; got {sorted(set(np.unique(types).tolist()))}")
    frac, want = float(np.mean(types == 0)), trained_fraction_a(metadata)
    if abs(frac - want) > COMPOSITION_TOL:
        problems.append(f"composition {frac:.1%} A; model {name!r} was trained on {want:.0%} A")
    return problems


def refuse(problems: list[str], strict: bool) -> list[str]:
    """Raise :class:`OutOfDomainError` for ``problems`` (``strict``) or warn with them; returns them."""
    if problems:
        msg = "; ".join(problems)
        if strict:
            raise OutOfDomainError(msg)
        warnings.warn(msg, OutOfDomainWarning, stacklevel=3)
    return problems


def temperature_range(metadata: dict[str, Any]) -> tuple[float, float] | None:
    """(low, high) temperature (reduced) the model may report without extrapolating, or None."""
    temps = metadata.get("training_temperatures")
    if not temps:
        return None
    lo, hi = float(min(temps)), float(max(temps))
    margin = max(0.05, 0.1 * (hi - lo))
    return lo - margin, hi + margin


def check_temperature(metadata: dict[str, Any], name: str, temperature: float | None) -> list[str]:
    """Warn when a configuration's stated temperature (reduced) lies beyond the training temperatures."""
    rng = temperature_range(metadata)
    if temperature is None or rng is None or rng[0] <= float(temperature) <= rng[1]:
        return []
    note = (f"the configuration's temperature {float(temperature):g} lies outside the range model {name!r} was "
            f"trained on ({min(metadata['training_temperatures'])}-{max(metadata['training_temperatures'])}, "
            f"accepted to {rng[0]:.3g}-{rng[1]:.3g}: max(0.05, 10 %) beyond): its propensity is extrapolated")
    warnings.warn(note, OutOfDomainWarning, stacklevel=3)
    return [note]


def check_outputs(metadata: dict[str, Any], name: str, temperature: float | None,
                  global_z: np.ndarray | None = None) -> list[str]:
    """Warn when the temperature estimate or the global statistics lie beyond the training set."""
    notes = []
    rng = temperature_range(metadata)
    if temperature is not None and rng is not None and np.isfinite(temperature) \
            and not rng[0] <= temperature <= rng[1]:
        notes.append(f"temperature estimate {temperature:.3f} lies outside the range model {name!r} was trained on "
                     f"({min(metadata['training_temperatures'])}-{max(metadata['training_temperatures'])}, "
                     f"accepted to {rng[0]:.3g}-{rng[1]:.3g}: max(0.05, 10 %) beyond): it extrapolates")
    if global_z is not None and global_z.size and float(np.max(np.abs(global_z))) > GLOBAL_Z_LIMIT:
        k = int(np.argmax(np.abs(global_z)))
        notes.append(f"global statistic {k} is {float(global_z[k]):+.1f} standard deviations from the training "
                     f"configurations (limit {GLOBAL_Z_LIMIT:g}): the structure is unlike any the model saw")
    for note in notes:
        warnings.warn(note, OutOfDomainWarning, stacklevel=3)
    return notes
