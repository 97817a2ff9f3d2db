"""Generative-proposal sampling: MD segments plus long-time jumps checked by Metropolis-Hastings.

Rooms: :mod:`features` (per-particle context of a configuration), :mod:`flows` (the shared ODE
machinery and the flow-matching CNF), :mod:`diffusion` (a VP diffusion model sampled through
its probability-flow ODE), :mod:`proposals` (global and propensity-chosen local moves with
their exact proposal densities), :mod:`sampler` (the checked Markov chain around an OpenMM
simulation), :mod:`training` (jump pairs from MD, frozen-surroundings region chains, training,
save/load), and the collective region moves: :mod:`regions` (which particles), :mod:`region_flow`
(a learnt joint jump), :mod:`harmonic` (a jump from the members' local harmonic model) and
:mod:`ncmc` (the move, checked by NCMC or plain Metropolis-Hastings), with :mod:`local_energy`
(a region move's energy change from its own pairs). :mod:`equilibration` gives starts checked
to span >= 10 of their own drift-free tau_alpha.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DiffusionProposalModel": "diffusion",
    "FlowProposalModel": "flows",
    "ODEProposalModel": "flows",
    "GlobalMove": "proposals",
    "LocalMove": "proposals",
    "PropensityScore": "proposals",
    "GenerativeSampler": "sampler",
    "NCMCProtocol": "ncmc",
    "RegionNCMCMove": "ncmc",
    "RegionFlowModel": "region_flow",
    "HarmonicRegionProposal": "harmonic",
    "RegionSelector": "regions",
    "LatticeCentres": "regions",
    "PropensityCentres": "regions",
    "FixedCentre": "regions",
    "region_training_table": "training",
    "frozen_surroundings_chain": "training",
    "JumpCheck": "sampler",
    "LocalEnergy": "local_energy",
    "equilibrate": "equilibration",
    "Equilibration": "equilibration",
    "collect_jump_pairs": "training",
    "load_proposal_model": "training",
    "save_proposal_model": "training",
    "train_proposal_model": "training",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:  # lazy: importing glassmm.sampling costs nothing
    if name not in _EXPORTS:
        raise AttributeError(f"module 'glassmm.sampling' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"glassmm.sampling.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
