"""Glassy-dynamics analysis as compute objects (freud style): ``compute()``/``accumulate()``,
then read results as attributes, ``plot()`` with lazy matplotlib. Inputs are unwrapped
positions in reduced units."""

from glassmm.analysis.dynamics import SelfDynamics, tau_alpha
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
    "SelfDynamics",
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
