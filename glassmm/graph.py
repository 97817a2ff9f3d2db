"""Periodic neighbour graphs from vesin-torch (TorchScript-compatible, no dense N x N).

Edges are directed pairs (sender j -> receiver i) for every i != j closer than the cutoff
under periodic boundaries; ``vectors`` are r_j - r_i with the periodic shift applied, so
unwrapped positions (any image) give the same graph.

Artifacts that call this need the vesin-torch TorchScript class registered: ``import
vesin_torch`` before ``torch.jit.load`` (glassmm's loader does it).
"""

from __future__ import annotations

from typing import Tuple

import torch
import vesin_torch


def periodic_graph(positions: torch.Tensor, box: torch.Tensor, cutoff: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Directed neighbour graph.

    Parameters
    ----------
    positions : Tensor (reduced) (N, 3)
    box : Tensor (reduced) (3,)
        Rectangular box edges.
    cutoff : float (reduced)

    Returns
    -------
    edge_index : Tensor of int64 (2, E)
        Row 0 senders j, row 1 receivers i (PyG's source-to-target convention).
    vectors : Tensor (E, 3)
        r_j - r_i under minimum image, in the dtype of ``positions``.
    """
    nl = vesin_torch.NeighborList(cutoff=cutoff, full_list=True)
    cell = torch.diag(box.to(positions.dtype))
    i, j, D = nl.compute(positions, cell, True, "ijD")
    edge_index = torch.stack([j.to(torch.int64), i.to(torch.int64)], dim=0)
    return edge_index, D


def minimum_pair_distance(positions: torch.Tensor, box: torch.Tensor, cutoff: float) -> float:
    """Smallest minimum-image pair distance below ``cutoff`` (reduced), or ``inf`` if none is.

    A half neighbour list at a short cutoff: cheap enough to run before every prediction.
    """
    nl = vesin_torch.NeighborList(cutoff=cutoff, full_list=False)
    cell = torch.diag(box.to(positions.dtype))
    (d,) = nl.compute(positions, cell, True, "d")
    return float(d.min()) if d.numel() else float("inf")
