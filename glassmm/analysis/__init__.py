"""Glassy-dynamics analysis as compute objects (freud style, one convention: see
:mod:`glassmm.analysis.base`): ``accumulate(positions, box, types, ...)`` per frame or
``compute(frames, box, types, ...)`` per trajectory, then results as attributes, ``plot()``
with lazy matplotlib. Inputs are unwrapped positions in reduced units."""

from glassmm.analysis.base import ComputeObject
from glassmm.analysis.dynamics import SelfDynamics, self_scattering, tau_alpha
from glassmm.analysis.fourpoint import FieldStructureFactor, FourPointStructureFactor
from glassmm.analysis.propensity import (
    bond_breaking,
    edge_targets,
    neighbour_pairs,
    propensity,
    split_half_reliability,
)
from glassmm.analysis.structure import RadialDistribution, StaticStructureFactor

__all__ = [
    "ComputeObject",
    "SelfDynamics",
    "self_scattering",
    "tau_alpha",
    "FieldStructureFactor",
    "FourPointStructureFactor",
    "RadialDistribution",
    "StaticStructureFactor",
    "propensity",
    "edge_targets",
    "bond_breaking",
    "neighbour_pairs",
    "split_half_reliability",
]
