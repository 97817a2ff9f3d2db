"""The structures a model reads: thermal (TS), inherent (IS) and cage state (CS) positions.

One place decides, for a model's ``inputs`` string, which of them are needed and where they
come from: passed by the caller, read from a configuration file (``initial_positions_inherent``,
``initial_positions_cage``), or computed here with OpenMM and cached on disk (FIRE for IS,
:mod:`glassmm.cage` for CS). Training, ``predict``, ``evaluate`` and the reporter all go
through it, so a model sees its structures computed the same way it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

#: the input kinds a model can read; kept equal to :data:`glassmm.models.botan.INPUTS` (tests)
INPUTS = ("TS", "IS", "CS", "TS+IS", "TS+CS", "IS+CS")


def input_kinds(inputs: str) -> tuple[str, ...]:
    """The position kinds of an ``inputs`` string, e.g. ``"TS+CS"`` -> ``("TS", "CS")``."""
    if inputs not in INPUTS:
        raise ValueError(f"inputs must be one of {', '.join(INPUTS)}; got {inputs!r}")
    return tuple(inputs.split("+"))


_NAMES = {"TS": "thermal positions", "IS": "inherent structures", "CS": "cage states"}


def describe_inputs(inputs: str) -> str:
    """Words for an ``inputs`` string, e.g. ``"TS+CS"`` -> ``"thermal positions and cage states"``."""
    return " and ".join(_NAMES[k] for k in input_kinds(inputs))


def needs_inherent(inputs: str) -> bool:
    return "IS" in input_kinds(inputs)


def needs_cage(inputs: str) -> bool:
    return "CS" in input_kinds(inputs)


@dataclass
class Structures:
    """The positions (reduced (N, 3) each) a model needs beside the thermal ones; None when not needed."""

    inherent: np.ndarray | None = None
    cage: np.ndarray | None = None


def cage_settings(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """The cage-state parameters a model was trained with (its metadata ``cage``), defaults otherwise."""
    return dict((metadata or {}).get("cage") or {})


def cage_temperature(temperature: float | None, metadata: Mapping[str, Any] | None = None) -> float:
    """The temperature (reduced) to compute a cage state at: the configuration's, else the model's only one.

    Raises ValueError naming the way out when neither says.
    """
    if temperature is not None:
        return float(temperature)
    temps = list((metadata or {}).get("training_temperatures") or [])
    if len(temps) == 1:
        return float(temps[0])
    raise ValueError("a cage state (CS input) needs the configuration's temperature: pass temperature= "
                     "(reduced) or use a file that stores it"
                     + (f"; this model was trained at several ({temps})" if temps else ""))


def structures_for(
    inputs: str,
    positions: np.ndarray,
    types: np.ndarray,
    box: np.ndarray,
    temperature: float | None = None,
    inherent: np.ndarray | None = None,
    cage: np.ndarray | None = None,
    metadata: Mapping[str, Any] | None = None,
    platform: str = "auto",
    cache: bool = True,
) -> Structures:
    """Gather (or compute and cache) the structures that ``inputs`` needs.

    Parameters
    ----------
    inputs : str
        One of :data:`INPUTS`.
    positions : ndarray (reduced) (N, 3)
        The thermal configuration.
    types : ndarray of int (N,)
    box : ndarray (reduced) (3,)
    temperature : float (reduced), optional
        Needed to compute a cage state (else the model's single training temperature).
    inherent, cage : ndarray (reduced) (N, 3), optional
        Given structures (e.g. from the file); computed when needed and not given.
    metadata : mapping, optional
        The model's metadata: its ``cage`` parameters and training temperatures.
    platform : str
        OpenMM platform for the computations.
    cache : bool
        Keep computed structures in glassmm's disk cache (off for the frames of a running
        simulation, which never come back).
    """
    out = Structures()
    if needs_inherent(inputs):
        if inherent is None:
            from glassmm.minimize import inherent_structure

            inherent = inherent_structure(positions, types, box, platform=platform, cache=cache)
        out.inherent = np.asarray(inherent, dtype=float)
    if needs_cage(inputs):
        if cage is None:
            from glassmm.cage import cage_state

            cage = cage_state(positions, types, box, cage_temperature(temperature, metadata), platform=platform,
                              cache=cache, **cage_settings(metadata))
        out.cage = np.asarray(cage, dtype=float)
    return out


#: FIRE steps to an inherent structure, for cost estimates before one is run. Measured on a
#: 2-core CPU machine: FIRE to max|F| < 1e-3 took 31.3 s and 19.7 s on shared T = 0.44
#: configurations 1 and 2 (N = 4096), where the 1760 tethered MD steps of a default cage
#: state took 16-18 s: about 2000-3200 MD-step costs
FIRE_STEPS_ESTIMATE = 3000


def structure_cost_steps(inputs: str, metadata: Mapping[str, Any] | None = None) -> int:
    """Force evaluations (MD-step equivalents) the structures of ``inputs`` cost per configuration.

    Exact for a cage state (:attr:`glassmm.cage.CageParameters.total_steps`), an estimate
    (:data:`FIRE_STEPS_ESTIMATE`) for an inherent structure.
    """
    steps = 0
    if needs_inherent(inputs):
        steps += FIRE_STEPS_ESTIMATE
    if needs_cage(inputs):
        from glassmm.cage import CageParameters

        steps += CageParameters(temperature=1.0, **cage_settings(metadata)).total_steps
    return steps
