"""Region jumps from the members' local harmonic model: a proposal that knows the frozen surroundings.

The region flow (:mod:`region_flow`) sees the members and their cage vectors, not the walls
around them, so its jumps land on neighbours (median work tens of kT even when trained on the
right kernel). Here the condition is the potential itself: at configuration x, with everything
but the k members frozen, the members' 3k x 3k pair-table (Kob-Andersen) Hessian H and force F define a
quadratic model whose Boltzmann distribution is Gaussian around the Newton point x + H^-1 F.
The jump is the exact Ornstein-Uhlenbeck step of that model,

    d ~ N((1 - rho) H^-1 F, (1 - rho^2) kT H^-1),

rho = 0 an independent draw from the harmonic cage, rho -> 1 a small preconditioned step.
Negative or tiny curvatures (a thermal configuration is not a minimum) are replaced by
max(|lambda|, ``stiffness_floor``) so the Gaussian is proper and its width bounded. The
density is evaluated exactly both ways (the reverse at x + d, with its own Hessian), so
Metropolis-Hastings on it is exact; it is accepted every time where the cage is harmonic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from glassmm.geometry import minimum_image
from glassmm.potentials import KA, PairTable

LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class HarmonicContext:
    """The Gaussian of one region at one configuration (reduced units, flattened 3k)."""

    mean: np.ndarray  # (3k,)
    basis: np.ndarray  # (3k, 3k) eigenvectors of the regularised Hessian
    std: np.ndarray  # (3k,) standard deviations along them
    log_det: float  # log |det| of the square root basis * diag(std)


def region_hessian(x: np.ndarray, types: np.ndarray, box: np.ndarray | None, members: np.ndarray,
                   table: PairTable = KA) -> tuple[np.ndarray, np.ndarray]:
    """Force (k, 3) on and Hessian (3k, 3k) of the pair-table energy in the members' coordinates.

    Every other particle is held fixed. Reduced units (epsilon_AA / sigma_AA and its square).
    """
    x = np.asarray(x, dtype=np.float64)
    types = np.asarray(types, dtype=np.int64)
    members = np.asarray(members, dtype=np.int64)
    k = len(members)
    d = x[members][:, None, :] - x[None, :, :]  # (k, N, 3): r_i - r_j
    if box is not None:
        d = minimum_image(d, box)
    r2 = (d * d).sum(-1)
    r2[np.arange(k), members] = np.inf  # no self pair: beyond every cutoff
    # the pair terms and 3 x 3 blocks only for pairs within the table's largest cutoff: on the
    # whole (k, N) block they made the attempt O(N) with a large constant (29 ms at N = 4096)
    a_idx, j_idx = np.nonzero(r2 < table.max_cutoff**2)
    dd = d[a_idx, j_idx]
    r = np.sqrt(r2[a_idx, j_idx])
    _, dphi, d2phi = table.pair_terms(r, types[members][a_idx], types[j_idx])  # phi'(r), phi''(r); 0 outside
    u = dd / r[:, None]
    force = np.zeros((k, 3))
    np.add.at(force, a_idx, -dphi[:, None] * u)  # -dU/dr_i
    # pair block: phi'' u u^T + phi'/r (I - u u^T)
    uu = u[:, :, None] * u[:, None, :]
    blocks = d2phi[:, None, None] * uu + (dphi / r)[:, None, None] * (np.eye(3) - uu)  # (pairs, 3, 3)
    hess = np.zeros((k, 3, k, 3))
    diag = np.zeros((k, 3, 3))
    np.add.at(diag, a_idx, blocks)
    slot = np.full(len(x), -1, dtype=np.int64)
    slot[members] = np.arange(k)
    for a in range(k):
        hess[a, :, a, :] = diag[a]
    inner = slot[j_idx] >= 0  # pairs of two members: the off-diagonal blocks
    for a, b, blk in zip(a_idx[inner], slot[j_idx[inner]], blocks[inner]):
        hess[a, :, b, :] = -blk
    return force, hess.reshape(3 * k, 3 * k)


class HarmonicRegionProposal:
    """Exact-density Gaussian region jumps from the local harmonic model (Kob-Andersen).

    Has the region flow's interface (``k``, ``context``, ``sample``, ``log_prob``), so
    :class:`~glassmm.sampling.ncmc.RegionNCMCMove` takes it in its place.

    Parameters
    ----------
    k : int
        Members per region.
    temperature : float (reduced)
    rho : float
        Memory of the Ornstein-Uhlenbeck step, 0 <= rho < 1 (0: independent harmonic draw).
    stiffness_floor : float (reduced, epsilon / sigma^2)
        Smallest curvature kept: bounds the width (kT / floor)^(1/2) along soft or unstable modes.
    table : PairTable
        The pair potential whose Hessian is used (default Kob-Andersen 3D).
    """

    bound = None  # a Gaussian: no box-sized support to check

    def __init__(self, k: int, temperature: float, rho: float = 0.0, stiffness_floor: float = 10.0,
                 table: PairTable = KA) -> None:
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"rho must be in [0, 1); got {rho}")
        if not temperature > 0 or not stiffness_floor > 0:
            raise ValueError(f"temperature ({temperature}) and stiffness_floor ({stiffness_floor}) must be positive")
        self.k, self.temperature, self.rho, self.stiffness_floor = int(k), float(temperature), float(rho), float(stiffness_floor)
        self.table = table

    def context(self, x: np.ndarray, types: np.ndarray, box: np.ndarray | None, centre: np.ndarray,
                members: np.ndarray, features: object = None) -> HarmonicContext:
        """The Gaussian of the region at ``x`` (``centre`` and ``features`` are not needed)."""
        if len(members) != self.k:
            raise ValueError(f"this proposal moves k = {self.k} particles; the region has {len(members)}")
        force, hess = region_hessian(x, types, box, members, self.table)
        lam, vec = np.linalg.eigh(hess)
        lam = np.maximum(np.abs(lam), self.stiffness_floor)
        newton = vec @ ((vec.T @ force.reshape(-1)) / lam)
        std = np.sqrt((1.0 - self.rho**2) * self.temperature / lam)
        return HarmonicContext(mean=(1.0 - self.rho) * newton, basis=vec, std=std, log_det=float(np.log(std).sum()))

    def log_prob(self, d: torch.Tensor, context: HarmonicContext) -> torch.Tensor:
        """log q(d | x) for displacements (k, 3)."""
        v = np.asarray(d, dtype=np.float64).reshape(-1) - context.mean
        z = (context.basis.T @ v) / context.std
        return torch.tensor(-0.5 * float(z @ z) - 0.5 * len(z) * LOG_2PI - context.log_det, dtype=torch.float64)

    def sample(self, context: HarmonicContext, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Displacements (k, 3) and their log density."""
        z = torch.randn(3 * self.k, generator=generator, dtype=torch.float64).numpy()
        d = context.mean + context.basis @ (context.std * z)
        lq = -0.5 * float(z @ z) - 0.5 * len(z) * LOG_2PI - context.log_det
        return torch.as_tensor(d.reshape(self.k, 3)), torch.tensor(lq, dtype=torch.float64)
