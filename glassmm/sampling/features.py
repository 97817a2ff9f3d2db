"""Per-particle context of a configuration, the condition of the proposal models.

Translation- and image-invariant (built from minimum-image distances), permutation-equivariant
and cheap: species one-hot, smooth per-species neighbour counts within a few radii, and the cage
vector (the smooth-weighted mean of the first-shell neighbour vectors, pointing to where the
cage's centre is; the one directional feature, which lets a jump head somewhere). The
proposal density is a function of these, so forward and reverse moves are evaluated with the
same function of their own starting configuration.
"""

from __future__ import annotations

import numpy as np
import torch
import vesin_torch

RADII: tuple[float, ...] = (1.0, 1.2, 1.4, 1.7, 2.0)
SMOOTHING = 0.05  # width (sigma) of the sigmoid step that makes the counts smooth in r
N_SPECIES = 2


CAGE_RADIUS = 1.5  # first-shell edge, the first minimum of g_AA(r) at KA densities


def feature_cutoff(radii: tuple[float, ...] = RADII) -> float:
    """Range (reduced length) of the pairs a particle's features read."""
    return max(radii) + 4 * SMOOTHING


def n_features(n_species: int = N_SPECIES, radii: tuple[float, ...] = RADII) -> int:
    return n_species + n_species * len(radii) + 3


def neighbour_pairs(
    positions: np.ndarray | torch.Tensor, box: np.ndarray | torch.Tensor | None, cutoff: float, quantities: str, full_list: bool
) -> list[torch.Tensor]:
    """vesin-torch pairs closer than ``cutoff`` (float64), periodic in ``box`` or open when None."""
    pos = torch.as_tensor(np.asarray(positions, dtype=np.float64))
    periodic = box is not None
    cell = torch.diag(torch.as_tensor(np.asarray(box, dtype=np.float64))) if periodic else torch.zeros(3, 3, dtype=torch.float64)
    return vesin_torch.NeighborList(cutoff=cutoff, full_list=full_list).compute(pos, cell, periodic, quantities)


def local_features(
    positions: np.ndarray | torch.Tensor,
    types: np.ndarray | torch.Tensor,
    box: np.ndarray | torch.Tensor | None,
    radii: tuple[float, ...] = RADII,
    n_species: int = N_SPECIES,
) -> torch.Tensor:
    """Context features (F,) per particle.

    Parameters
    ----------
    positions : array (reduced) (N, 3)
        Any periodic image (unwrapped positions are fine).
    types : array of int (N,)
    box : array (reduced) (3,) or None
        Rectangular periodic box; None for an open (non-periodic) system.

    Returns
    -------
    Tensor float64 (N, n_species * (1 + len(radii)) + 3)
    """
    t = torch.as_tensor(np.asarray(types, dtype=np.int64))
    n = t.shape[0]
    i, j, d, vec = neighbour_pairs(positions, box, feature_cutoff(radii), "ijdD", full_list=True)
    i, j = i.to(torch.int64), j.to(torch.int64)
    r = torch.as_tensor(radii, dtype=torch.float64)
    steps = torch.sigmoid((r[None, :] - d[:, None]) / SMOOTHING)  # (E, R)
    counts = torch.zeros(n, n_species, len(radii), dtype=torch.float64)
    counts.index_put_((i, t[j]), steps, accumulate=True)
    w = torch.sigmoid((CAGE_RADIUS - d) / SMOOTHING)
    cage = torch.zeros(n, 3, dtype=torch.float64).index_add_(0, i, w[:, None] * vec)
    weight = torch.zeros(n, dtype=torch.float64).index_add_(0, i, w)
    cage = cage / weight.clamp_min(1e-12)[:, None]
    onehot = torch.nn.functional.one_hot(t, n_species).to(torch.float64)
    return torch.cat([onehot, counts.reshape(n, -1), cage], dim=1)
