"""Learned temperature maps and the replica exchange that proposes through them.

A temperature map M is a bijection of configurations with a tractable Jacobian, meant to carry
a configuration typical of a *source* temperature onto one typical of a *target* temperature.
Two uses:

* **mapped exchange** (:class:`MappedExchange`): in parallel tempering the replicas i at rung k
  (colder, beta_k) and j at rung k + 1 (hotter) propose to swap *through* the map of the pair,
  i: x_i -> M(x_i) at T_{k+1} and j: x_j -> M^{-1}(x_j) at T_k. The proposal is a deterministic
  involution of the pair of configurations, so the exact acceptance is

      ln alpha = (beta_k - beta_{k+1}) (U_i - U_j)                   (the plain swap)
                 - beta_{k+1} [U(M x_i) - U_i] - beta_k [U(M^{-1} x_j) - U_j]
                 + ln|det J_M(x_i)| - ln|det J_M(M^{-1} x_j)|

  (reduced units, k_B = 1): both energies at both temperatures and the Jacobian of both
  directions. The identity map gives the plain swap exactly. With w_f(x) = beta_{k+1} U(Mx) -
  beta_k U(x) - ln|det J_M(x)| and w_b(y) = beta_k U(M^{-1}y) - beta_{k+1} U(y) + ln|det J_M(M^{-1}y)|,
  ln alpha = -w_f(x_i) - w_b(x_j): training that lowers E[w_f] + E[w_b] (the symmetrised
  Kullback-Leibler divergence, the alpha = 1/2 loss of Jung, Biroli & Berthier) raises acceptance.
* **reweighting** (:func:`importance_log_weights`): samples of a source temperature mapped to a
  target one, each with the exact weight ln W = -w_f (Jung, Biroli & Berthier, MLST 5, 035053
  (2024), eq. 14, with the Jacobian of the discrete map instead of the integrated divergence),
  and Kish's effective sample size (:func:`kish_ess`, their eq. 15).

The maps (:class:`PairFieldMap`) are a few explicit steps y = x + v_s(x) of a *pair vector field*

    v_{s,i}(x) = sum_j f^s_{a_i a_j}(r_ij) r_ij / r_ij,      r_ij = minimum image of x_i - x_j,

with one radial function per species pair and step (a cubic B-spline that vanishes, with its
first two derivatives, at r_min and at the cutoff), so each step is exactly equivariant under translations, rotations and (within a
step's particle groups) permutations, and conserves the centre of mass. Two structures:

* ``"coupling"`` (default): each step moves one half of the particles (a fixed partition per pair
  of steps, balanced by species) in the field of the other half, which stays put. The Jacobian is
  block triangular, ln|det J| = sum_i ln|det(I_d + sum_j B_ij)| with d x d blocks, exact at O(N^2)
  cost; the inverse is a per-particle Newton solve.
* ``"full"``: every particle moves in the field of all others (the lead's first candidate, the
  Euler step of the paper's equivariant CNF); the Jacobian is the dense (dN x dN) matrix I + L,
  whose slogdet costs O((dN)^3); the inverse is a Newton solve with dense steps.

Exactness does not rest on a global Lipschitz bound: :class:`MappedExchange` checks every
proposal for reversibility (the inverse of the forward image returns the start, and the forward
image of the inverse returns the target, to ``tolerance``) and rejects otherwise, which keeps the
move an involution on the set where it is accepted (Zappa, Holmes-Cerfon & Goodman, CPAM 71, 2609
(2018)).

Everything is in reduced LJ units, float64; positions are (N, 3) arrays (z = 0 in 2D), unwrapped.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from glassmm.io import atomic_write
from glassmm.potentials import PairTable, get_table
from glassmm.sampling.tempering import NeighbourExchange

SCHEMA = "glassmm.temperature_map/1"


def _torch():
    import torch

    return torch


# ---------------------------------------------------------------------------- geometry and energy
def pair_displacements(x: Any, box: Any) -> Any:
    """Minimum-image displacements x_i - x_j (B, N, M, D) of x (B, N, D) against x (or a pair (xa, xb))."""
    torch = _torch()
    xa, xb = x if isinstance(x, tuple) else (x, x)
    d = xa[:, :, None, :] - xb[:, None, :, :]
    return d - box * torch.round(d * (1.0 / box))


def neighbours(xa: Any, xb: Any, box: Any, cutoff: float, same: Any | None = None) -> tuple[Any, Any]:
    """For each particle of xa (B, na, D), the indices (B, na, K) of the xb particles closer than ``cutoff``
    and a mask of the real entries (K = the largest count; the rest is padding).

    Built from the positions it is used at, so the pairs it leaves out contribute exactly nothing;
    ``same`` (na, nb) marks pairs that are one particle (excluded).
    """
    torch = _torch()
    with torch.no_grad():
        d = pair_displacements((xa.detach(), xb.detach()), box)
        r2 = (d * d).sum(-1)
        within = r2 < cutoff * cutoff
        if same is not None:
            within &= ~same
        k = max(1, int(within.sum(-1).max()))
        key = torch.where(within, r2, torch.full_like(r2, math.inf))
        vals, idx = torch.topk(key, k, dim=-1, largest=False)
    return idx, torch.isfinite(vals)


def _gather(xb: Any, idx: Any) -> Any:
    """xb (B, nb, D) at indices idx (B, na, K) -> (B, na, K, D)."""
    torch = _torch()
    return xb[torch.arange(xb.shape[0])[:, None, None], idx]


class PairEnergy:
    """Total potential energy (reduced) of a batch of configurations by a dense pair sum in torch.

    The table's truncated (and, per pair, shifted or, for a smoothed table, smoothed) Lennard-Jones sum
    over all N(N-1)/2 minimum-image pairs: for the small systems (N <= a few hundred) the maps train on; differentiable.

    Parameters
    ----------
    table : PairTable or name
    types : array of int (N,)
    box : array (3,) (reduced)
    dimensions : int
        2 or 3: the coordinates used (x, y in 2D).
    """

    def __init__(self, table: PairTable | str, types: Any, box: Any, dimensions: int = 3) -> None:
        torch = _torch()
        self.table = get_table(table)
        t = self.table.validate_types(types).astype(np.int64)
        self.dimensions = int(dimensions)
        self.n = len(t)
        self.box = torch.as_tensor(np.asarray(box, dtype=np.float64)[: self.dimensions])
        eps, sig, rc, shift = self.table.parameters(t[:, None], t[None, :])
        self.eps, self.sig2 = torch.as_tensor(eps), torch.as_tensor(sig * sig)
        self.rc2, self.shift = torch.as_tensor(rc * rc), torch.as_tensor(shift)
        self.smoothing = self.table.smoothing  # () or (C0, C2, C4): see PairTable
        self.same = torch.eye(self.n, dtype=torch.bool)
        self.rows = torch.arange(self.n)[None, :, None]

    def __call__(self, x: Any) -> Any:
        """U (B,) of positions x (B, N, D) or (B, N, 3)."""
        torch = _torch()
        x = torch.as_tensor(x, dtype=torch.float64)[..., : self.dimensions]
        idx, valid = neighbours(x, x, self.box, self.table.max_cutoff, self.same)
        d = x[:, :, None, :] - _gather(x, idx)
        d = d - self.box * torch.round(d * (1.0 / self.box))
        r2 = (d * d).sum(-1)
        inside = valid & (r2 < self.rc2[self.rows, idx])
        r2s = torch.where(inside, r2, torch.ones_like(r2))
        s6 = (self.sig2[self.rows, idx] / r2s) ** 3
        bracket = s6 * s6 - s6
        if self.smoothing:
            c0, c2, c4 = self.smoothing
            q = r2s / self.sig2[self.rows, idx]
            bracket = bracket + c0 + c2 * q + c4 * q * q
        u = torch.where(inside, 4.0 * self.eps[self.rows, idx] * bracket - self.shift[self.rows, idx],
                        torch.zeros_like(r2))
        return 0.5 * u.sum((-1, -2))


# ---------------------------------------------------------------------------- maps
class TemperatureMap:
    """A bijection of configurations with its log-Jacobian (the protocol :class:`MappedExchange` uses).

    Subclasses implement :meth:`forward` and :meth:`inverse` on torch batches (B, N, D); the numpy
    wrappers take (N, 3) positions (z = 0 in 2D) and return the same shape.
    """

    dimensions = 3
    is_identity = False

    def forward(self, x: Any) -> tuple[Any, Any]:
        """(M(x), ln|det J_M(x)|) for x (B, N, D)."""
        raise NotImplementedError

    def inverse(self, y: Any, differentiable: bool = False) -> tuple[Any, Any, Any]:
        """(x = M^{-1}(y), ln|det J_M(x)|, residual max|M(x) - y| per configuration)."""
        raise NotImplementedError

    def forward_numpy(self, positions: np.ndarray) -> tuple[np.ndarray, float]:
        torch = _torch()
        x = np.asarray(positions, dtype=np.float64)
        with torch.no_grad():
            y, ld = self.forward(torch.as_tensor(x[None, :, : self.dimensions]))
        out = x.copy()
        out[:, : self.dimensions] = y[0].numpy()
        return out, float(ld[0])

    def inverse_numpy(self, positions: np.ndarray) -> tuple[np.ndarray, float, float]:
        torch = _torch()
        y = np.asarray(positions, dtype=np.float64)
        with torch.no_grad():
            x, ld, res = self.inverse(torch.as_tensor(y[None, :, : self.dimensions]))
        out = y.copy()
        out[:, : self.dimensions] = x[0].numpy()
        return out, float(ld[0]), float(res[0])


class IdentityMap(TemperatureMap):
    """M(x) = x: the plain exchange."""

    is_identity = True

    def __init__(self, dimensions: int = 3) -> None:
        self.dimensions = dimensions

    def forward(self, x):
        torch = _torch()
        return x, torch.zeros(x.shape[0], dtype=x.dtype)

    def inverse(self, y, differentiable=False):
        torch = _torch()
        z = torch.zeros(y.shape[0], dtype=y.dtype)
        return y, z, z


class PairFieldMap(TemperatureMap):
    """Explicit steps y = x + v_s(x) of learned pair vector fields (see the module).

    Parameters
    ----------
    types : array of int (N,)
        Species of each particle (0 .. n_species-1).
    box : array (3,) (reduced)
    dimensions : int
    n_species : int, optional
        Default: max(types) + 1.
    n_steps : int
        Steps of the map (with ``"coupling"`` an even number moves every particle equally often).
    structure : ``"coupling"`` or ``"full"``
    n_rbf : int
        Cubic B-spline coefficients per species pair and step.
    r_min, r_cut : float (reduced length)
        The field's radial functions are non-zero only between r_min and r_cut (below half the
        shortest box edge).
    seed : int
        Seed of the particle partitions of the coupling steps.
    """

    def __init__(self, types: Any, box: Any, dimensions: int = 3, n_species: int | None = None, n_steps: int = 4,
                 structure: str = "coupling", n_rbf: int = 24, r_min: float = 0.65, r_cut: float = 2.5,
                 seed: int = 0) -> None:
        torch = _torch()
        if structure not in ("coupling", "full"):
            raise ValueError(f"structure must be 'coupling' or 'full'; got {structure!r}")
        t = np.asarray(types, dtype=np.int64)
        box = np.asarray(box, dtype=np.float64)
        if t.ndim != 1 or len(t) < 2:
            raise ValueError(f"types must be a 1-D array of at least 2 particles; got shape {t.shape}")
        if dimensions not in (2, 3) or box.shape != (3,):
            raise ValueError(f"dimensions must be 2 or 3 and box (3,); got {dimensions}, {box.shape}")
        if not 0 < r_min < r_cut or r_cut >= 0.5 * box[:dimensions].min():
            raise ValueError(f"need 0 < r_min < r_cut < half the box ({0.5 * box[:dimensions].min():.4g}); got {r_min}, {r_cut}")
        if n_steps < 1 or n_rbf < 2:
            raise ValueError(f"n_steps >= 1 and n_rbf >= 2 required; got {n_steps}, {n_rbf}")
        self.config = {"types": t.tolist(), "box": box.tolist(), "dimensions": int(dimensions),
                       "n_species": int(n_species if n_species is not None else t.max() + 1), "n_steps": int(n_steps),
                       "structure": structure, "n_rbf": int(n_rbf), "r_min": float(r_min), "r_cut": float(r_cut),
                       "seed": int(seed)}
        self.dimensions = int(dimensions)
        self.structure = structure
        self.n, self.n_steps, self.n_species = len(t), int(n_steps), self.config["n_species"]
        self.types = torch.as_tensor(t)
        self.box = torch.as_tensor(box[:dimensions])
        self.r_cut = float(r_cut)
        self.r_min = float(r_min)
        self.skin = 0.3  # neighbour-list skin of the inverse's Newton solve (reduced length)
        self.knot = (float(r_cut) - float(r_min)) / (n_rbf + 3)  # spline knot spacing
        s = self.n_species
        iu = torch.triu_indices(s, s)
        self._pair_index = torch.zeros(s, s, dtype=torch.long)  # species pair -> row of the weights
        self._pair_index[iu[0], iu[1]] = torch.arange(iu.shape[1])
        self._pair_index[iu[1], iu[0]] = torch.arange(iu.shape[1])
        #: weights (n_steps, species pairs, n_rbf): zero is the identity map
        self.weights = torch.zeros(n_steps, iu.shape[1], n_rbf, dtype=torch.float64, requires_grad=True)
        self.pair_of = self._pair_index[self.types[:, None], self.types[None, :]]  # (N, N)
        rng = np.random.default_rng(seed)
        self.moving: list[np.ndarray] = []  # per step: indices that move (coupling)
        self.fixed: list[np.ndarray] = []
        for step in range(n_steps):
            if step % 2 == 0:
                half = np.zeros(self.n, dtype=bool)
                for a in range(s):  # half of every species in each group
                    idx = rng.permutation(np.flatnonzero(t == a))
                    half[idx[: (len(idx) + rng.integers(0, 2)) // 2]] = True
            group = half if step % 2 == 0 else ~half
            self.moving.append(np.flatnonzero(group))
            self.fixed.append(np.flatnonzero(~group))

    # ------------------------------------------------------------------ parameters
    def parameters(self) -> list[Any]:
        return [self.weights]

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.weights.detach().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch = _torch()
        with torch.no_grad():
            self.weights.copy_(state["weights"])

    # ------------------------------------------------------------------ the radial functions
    def radial(self, r: Any, step: int, pair: Any) -> tuple[Any, Any]:
        """f(r) and f'(r) of a step for distances r (...) whose species-pair rows are ``pair`` (...).

        f is a uniform cubic B-spline: coefficients w_p on knots from r_min to r_cut, padded with
        three zeros at each end, so f and its first two derivatives vanish at both ends (C2, no
        envelope needed) and each r reads four coefficients.
        """
        torch = _torch()
        n = self.weights.shape[-1]
        s = torch.nan_to_num((r - self.r_min) / self.knot, nan=-1.0)  # NaN positions: no field
        inside = (s >= 0) & (s < n + 3)
        k = torch.clamp(torch.floor(s), 0, n + 2).to(torch.long)
        t = torch.where(inside, s - k, torch.zeros_like(s))
        c = torch.nn.functional.pad(self.weights[step], (3, 3)).reshape(-1)  # (pairs * (n + 6),)
        base = pair * (n + 6) + k
        t2, t3, u = t * t, t * t * t, 1.0 - t
        basis = (u * u * u / 6.0, (3.0 * t3 - 6.0 * t2 + 4.0) / 6.0, (-3.0 * t3 + 3.0 * t2 + 3.0 * t + 1.0) / 6.0, t3 / 6.0)
        dbasis = (-0.5 * u * u, 0.5 * (3.0 * t2 - 4.0 * t), 0.5 * (-3.0 * t2 + 2.0 * t + 1.0), 0.5 * t2)
        f = torch.zeros_like(r)
        df = torch.zeros_like(r)
        for m in range(4):
            cm = c[base + m]
            f = f + cm * basis[m]
            df = df + cm * dbasis[m]
        zero = torch.zeros_like(r)
        return torch.where(inside, f, zero), torch.where(inside, df / self.knot, zero)

    def _field(self, xa: Any, xb: Any, step: int, ia: np.ndarray, ib: np.ndarray, jacobian: bool = True,
               nbrs: tuple[Any, Any] | None = None):
        """Field on particles ia (positions xa (B, na, D)) from particles ib (xb), with the neighbour list
        (B, na, K) it used and the pair blocks B_ij = d(f(r) r_hat)/dx_i (B, na, K, D, D).

        ``nbrs``: a neighbour list known to hold every pair closer than r_cut (extra pairs add nothing).
        """
        torch = _torch()
        if nbrs is None:
            same = torch.as_tensor(ia[:, None] == ib[None, :])
            nbrs = neighbours(xa, xb, self.box, self.r_cut, same if same.any() else None)
        idx, valid = nbrs
        d = xa[:, :, None, :] - _gather(xb, idx)
        d = d - self.box * torch.round(d * (1.0 / self.box))
        r = torch.sqrt(torch.where(valid, (d * d).sum(-1), torch.ones_like(d[..., 0])))
        pair = self.pair_of[torch.as_tensor(ia)[None, :, None], torch.as_tensor(ib)[idx]]
        f, df = self.radial(r, step, pair)
        f = torch.where(valid, f, torch.zeros_like(f))
        df = torch.where(valid, df, torch.zeros_like(df))
        u = d / r[..., None]
        v = (f[..., None] * u).sum(2)
        if not jacobian:
            return v, idx, None
        eye = torch.eye(self.dimensions, dtype=d.dtype)
        uu = u[..., :, None] * u[..., None, :]
        blocks = df[..., None, None] * uu + (f / r)[..., None, None] * (eye - uu)
        return v, idx, blocks

    # ------------------------------------------------------------------ one step
    def _step_forward(self, x: Any, step: int) -> tuple[Any, Any]:
        torch = _torch()
        if self.structure == "coupling":
            ia, ib = self.moving[step], self.fixed[step]
            v, _, blocks = self._field(x[:, ia], x[:, ib], step, ia, ib)
            jac = torch.eye(self.dimensions, dtype=x.dtype) + blocks.sum(2)  # (B, na, D, D)
            logdet = torch.linalg.slogdet(jac)[1].sum(-1)
            y = x.clone()
            y[:, ia] = x[:, ia] + v
            return y, logdet
        v, jac = self._full_jacobian(x, step)
        return x + v, torch.linalg.slogdet(jac)[1]

    def _full_jacobian(self, x: Any, step: int) -> tuple[Any, Any]:
        """The field v (B, N, D) of a ``"full"`` step and I + dv/dx (B, N D, N D)."""
        torch = _torch()
        B, n, D = x.shape[0], self.n, self.dimensions
        v, idx, blocks = self._field(x, x, step, np.arange(n), np.arange(n))  # blocks (B, N, K, D, D)
        b = torch.arange(B)[:, None, None].expand_as(idx)
        i = torch.arange(n)[None, :, None].expand_as(idx)
        lap = torch.zeros(B, n, n, D, D, dtype=x.dtype).index_put((b, i, idx), -blocks, accumulate=True)
        lap = lap + torch.eye(n, dtype=x.dtype)[None, :, :, None, None] * blocks.sum(2)[:, :, None]
        jac = lap.permute(0, 1, 3, 2, 4).reshape(B, n * D, n * D)  # L_ii = sum_j B_ij, L_ij = -B_ij
        return v, jac + torch.eye(n * D, dtype=x.dtype)

    def _step_inverse(self, y: Any, step: int, differentiable: bool, tol: float = 1e-13,
                      max_iter: int = 50) -> tuple[Any, Any]:
        """x with x + v_s(x) = y (Newton from x = y), and the residual max|step(x) - y| per configuration."""
        torch = _torch()
        B, D = y.shape[0], self.dimensions
        if self.structure == "coupling":
            ia, ib = self.moving[step], self.fixed[step]
            with torch.no_grad():
                ya, yb = y[:, ia].detach(), y[:, ib].detach()
                xa = ya.clone()
                # one list for the whole solve: built at y with a skin, valid while no moving particle
                # has gone further than the skin from y (only the moving half moves)
                nbrs = neighbours(ya, yb, self.box, self.r_cut + self.skin)
                for _ in range(max_iter):
                    near = float((xa - ya).abs().max()) * math.sqrt(D) < self.skin
                    v, _, blocks = self._field(xa, yb, step, ia, ib, nbrs=nbrs if near else None)
                    res = xa + v - ya
                    if float(res.abs().max()) < tol:
                        break
                    jac = torch.eye(D, dtype=y.dtype) + blocks.sum(2)
                    xa = xa - torch.linalg.solve(jac, res[..., None])[..., 0]
                near = float((xa - ya).abs().max()) * math.sqrt(D) < self.skin
                v, _, blocks = self._field(xa, yb, step, ia, ib, nbrs=nbrs if near else None)
                residual = (xa + v - ya).abs().amax((1, 2))
                jac = torch.eye(D, dtype=y.dtype) + blocks.sum(2)
            x = y.clone()
            if differentiable:  # implicit function theorem: dx_a = J^-1 (dy_a - dv)
                v_live, _, _ = self._field(xa, y[:, ib], step, ia, ib, jacobian=False)
                rhs = (y[:, ia] - ya) - (v_live - v_live.detach())
                x[:, ia] = xa + torch.linalg.solve(jac, rhs[..., None])[..., 0]
            else:
                x[:, ia] = xa
            return x, residual
        idx = np.arange(self.n)
        with torch.no_grad():
            y0 = y.detach()
            x0 = y0.clone()
            for _ in range(max_iter):
                v, jac = self._full_jacobian(x0, step)
                res = x0 + v - y0
                if float(res.abs().max()) < tol:
                    break
                x0 = x0 - torch.linalg.solve(jac, res.reshape(B, -1, 1)).reshape(x0.shape)
            v, jac = self._full_jacobian(x0, step)
            residual = (x0 + v - y0).abs().amax((1, 2))
        if not differentiable:
            return x0, residual
        v_live, _, _ = self._field(x0, x0, step, idx, idx, jacobian=False)
        rhs = (y - y0) - (v_live - v_live.detach())
        return x0 + torch.linalg.solve(jac, rhs.reshape(B, -1, 1)).reshape(x0.shape), residual

    # ------------------------------------------------------------------ the map
    def forward(self, x):
        torch = _torch()
        logdet = torch.zeros(x.shape[0], dtype=torch.float64)
        for s in range(self.n_steps):
            x, ld = self._step_forward(x, s)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, y, differentiable=False):
        torch = _torch()
        residual = torch.zeros(y.shape[0], dtype=torch.float64)
        x = y
        for s in reversed(range(self.n_steps)):
            x, res = self._step_inverse(x, s, differentiable)
            residual = torch.maximum(residual, res)
        if differentiable:
            _, logdet = self.forward(x)
        else:
            with torch.no_grad():
                _, logdet = self.forward(x)
        return x, logdet, residual

    def jacobian_dense(self, x: Any) -> Any:
        """The full Jacobian dM/dx (N D, N D) of one configuration x (N, D) by autograd (for tests)."""
        torch = _torch()
        x = torch.as_tensor(x, dtype=torch.float64)
        return torch.autograd.functional.jacobian(lambda z: self.forward(z[None])[0][0].reshape(-1),
                                                  x).reshape(x.numel(), x.numel())


def save_map(path: str | Path, m: PairFieldMap, metadata: dict[str, Any] | None = None) -> Path:
    """Write a :class:`PairFieldMap` (configuration, weights, metadata) atomically."""
    torch = _torch()
    path = Path(path)
    with atomic_write(path) as fh:
        torch.save({"schema": SCHEMA, "config": m.config, "state": m.state_dict(), "metadata": metadata or {}}, fh)
    return path


def load_map(path: str | Path) -> tuple[PairFieldMap, dict[str, Any]]:
    """Read a map written by :func:`save_map`; returns the map and its metadata."""
    torch = _torch()
    d = torch.load(Path(path), weights_only=False)
    if d.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not a glassmm temperature map (schema {d.get('schema')!r}, expected {SCHEMA!r})")
    m = PairFieldMap(**d["config"])
    m.load_state_dict(d["state"])
    return m, d.get("metadata", {})


# ---------------------------------------------------------------------------- works, weights, acceptance
def forward_work(m: TemperatureMap, x: Any, beta_source: float, beta_target: float, energy: Callable,
                 u_source: Any | None = None) -> Any:
    """w_f(x) = beta_target U(M x) - beta_source U(x) - ln|det J_M(x)| (B,) for x ~ source (differentiable)."""
    y, logdet = m.forward(x)
    u0 = energy(x) if u_source is None else u_source
    return beta_target * energy(y) - beta_source * u0 - logdet


def backward_work(m: TemperatureMap, y: Any, beta_source: float, beta_target: float, energy: Callable,
                  u_target: Any | None = None, differentiable: bool = False) -> tuple[Any, Any]:
    """w_b(y) = beta_source U(M^-1 y) - beta_target U(y) + ln|det J_M(M^-1 y)| (B,) for y ~ target, and the
    inverse's residual."""
    x, logdet, residual = m.inverse(y, differentiable=differentiable)
    u1 = energy(y) if u_target is None else u_target
    return beta_source * energy(x) - beta_target * u1 + logdet, residual


def works(m: TemperatureMap, source: Any, target: Any, beta_source: float, beta_target: float, energy: Callable,
          batch: int = 64) -> dict[str, np.ndarray]:
    """Forward works of ``source`` samples and backward works of ``target`` samples (no gradients)."""
    torch = _torch()
    out: dict[str, list] = {"w_forward": [], "w_backward": [], "residual": []}
    with torch.no_grad():
        for k in range(0, len(source), batch):
            xb = torch.as_tensor(np.asarray(source[k:k + batch])[..., : m.dimensions], dtype=torch.float64)
            out["w_forward"].append(forward_work(m, xb, beta_source, beta_target, energy).numpy())
        for k in range(0, len(target), batch):
            yb = torch.as_tensor(np.asarray(target[k:k + batch])[..., : m.dimensions], dtype=torch.float64)
            w, res = backward_work(m, yb, beta_source, beta_target, energy)
            out["w_backward"].append(w.numpy())
            out["residual"].append(res.numpy())
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}


def pair_acceptance(w_forward: np.ndarray, w_backward: np.ndarray, chunk: int = 2048) -> float:
    """Mean exchange acceptance E[min(1, exp(-w_f(x_i) - w_b(x_j)))] over all pairs of independent samples."""
    wf = np.asarray(w_forward, dtype=np.float64)
    wb = np.asarray(w_backward, dtype=np.float64)
    total = 0.0
    for k in range(0, len(wf), chunk):
        la = -(wf[k:k + chunk, None] + wb[None, :])
        total += float(np.exp(np.minimum(la, 0.0)).sum())
    return total / (len(wf) * len(wb))


def importance_log_weights(m: TemperatureMap, source: Any, beta_source: float, beta_target: float, energy: Callable,
                           batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """ln W_i = beta_source U(x_i) - beta_target U(M x_i) + ln|det J_M(x_i)| and the mapped energies U(M x_i)."""
    torch = _torch()
    lw, um = [], []
    with torch.no_grad():
        for k in range(0, len(source), batch):
            x = torch.as_tensor(np.asarray(source[k:k + batch])[..., : m.dimensions], dtype=torch.float64)
            y, logdet = m.forward(x)
            uy = energy(y)
            lw.append((beta_source * energy(x) - beta_target * uy + logdet).numpy())
            um.append(uy.numpy())
    return np.concatenate(lw), np.concatenate(um)


def kish_ess(log_weights: np.ndarray) -> float:
    """Kish's effective sample size (sum W)^2 / sum W^2 of weights given by their logarithms."""
    lw = np.asarray(log_weights, dtype=np.float64)
    lw = lw[np.isfinite(lw)]
    if lw.size == 0:
        return 0.0
    w = np.exp(lw - lw.max())
    return float(w.sum() ** 2 / (w * w).sum())


# ---------------------------------------------------------------------------- training
def train_map(m: PairFieldMap, source: np.ndarray, target: np.ndarray | None, beta_source: float, beta_target: float,
              energy: Callable, iterations: int = 500, batch: int = 16, lr: float = 2e-4, alpha: float = 0.5,
              seed: int = 0, checkpoint: str | Path | None = None, checkpoint_every: int = 50,
              time_limit_s: float | None = None, log: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Fit the map's weights by the loss alpha E_source[w_f] + (1 - alpha) E_target[w_b] (Adam).

    alpha = 1 is the reverse Kullback-Leibler ("energy-based") loss on source samples alone;
    alpha = 1/2 is the symmetrised one, whose minimum maximises the exchange acceptance, with the
    backward work differentiated through the inverse by the implicit function theorem. With a
    ``checkpoint`` path training resumes where a killed run stopped (weights, optimiser, random
    stream, history).

    Returns
    -------
    dict with ``history`` (iteration, loss, mean w_f, mean w_b, seconds) and ``iterations``.
    """
    torch = _torch()
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}")
    if alpha < 1.0 and target is None:
        raise ValueError("alpha < 1 needs target samples")
    src = torch.as_tensor(np.asarray(source)[..., : m.dimensions], dtype=torch.float64)
    tgt = None if target is None else torch.as_tensor(np.asarray(target)[..., : m.dimensions], dtype=torch.float64)
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    state = {"iteration": 0, "history": [], "seconds": 0.0}
    path = None if checkpoint is None else Path(checkpoint)
    if path is not None and path.exists():
        ck = torch.load(path, weights_only=False)
        m.load_state_dict(ck["map"])
        opt.load_state_dict(ck["optimizer"])
        rng.bit_generator.state = ck["rng"]
        state = ck["state"]

    def save() -> None:
        if path is not None:
            with atomic_write(path) as fh:
                torch.save({"map": m.state_dict(), "optimizer": opt.state_dict(), "rng": rng.bit_generator.state,
                            "state": state}, fh)

    t0 = time.perf_counter()
    start_seconds = state["seconds"]
    while state["iteration"] < iterations:
        if time_limit_s is not None and time.perf_counter() - t0 > time_limit_s:
            break
        opt.zero_grad()
        loss = torch.zeros((), dtype=torch.float64)
        wf_mean = wb_mean = float("nan")
        if alpha > 0:
            xb = src[rng.choice(len(src), size=min(batch, len(src)), replace=False)]
            wf = forward_work(m, xb, beta_source, beta_target, energy)
            loss = loss + alpha * wf.mean()
            wf_mean = float(wf.detach().mean())
        if alpha < 1:
            yb = tgt[rng.choice(len(tgt), size=min(batch, len(tgt)), replace=False)]
            wb, _ = backward_work(m, yb, beta_source, beta_target, energy, differentiable=True)
            loss = loss + (1 - alpha) * wb.mean()
            wb_mean = float(wb.detach().mean())
        loss.backward()
        opt.step()
        state["iteration"] += 1
        state["seconds"] = start_seconds + time.perf_counter() - t0
        state["history"].append([state["iteration"], float(loss.detach()), wf_mean, wb_mean, state["seconds"]])
        if log is not None and (state["iteration"] % max(1, checkpoint_every) == 0 or state["iteration"] == 1):
            log(f"iteration {state['iteration']}: loss {float(loss.detach()):.4f} <w_f> {wf_mean:.4f} <w_b> {wb_mean:.4f} "
                f"({state['seconds']:.0f} s)")
        if state["iteration"] % max(1, checkpoint_every) == 0:
            save()
    save()
    return {"iterations": state["iteration"], "history": state["history"], "seconds": state["seconds"],
            "columns": ["iteration", "loss", "mean_w_forward", "mean_w_backward", "seconds"]}


# ---------------------------------------------------------------------------- the exchange
class MappedExchange:
    """Replica exchange whose proposal carries each configuration through a temperature map.

    ``maps[k]`` maps rung k (colder) to rung k + 1 (hotter); None or an :class:`IdentityMap` is the
    plain swap. The contract with :class:`~glassmm.sampling.tempering.ParallelTempering`: it calls
    ``apply(temperatures, energies, assignment, parity, rng, states, energy_of)`` and sets the
    accepted records' ``new_states`` (module docstring for the rule).

    Parameters
    ----------
    maps : sequence of TemperatureMap or None, one per neighbour pair
    tolerance : float (reduced length)
        Reversibility check: a proposal whose round trip misses its start by more is rejected.
    """

    kind = "exchange"
    proposes_positions = True

    def __init__(self, maps: Sequence[TemperatureMap | None], tolerance: float = 1e-9) -> None:
        self.maps = list(maps)
        self.tolerance = float(tolerance)
        self.timers = {"map_s": 0.0, "energy_s": 0.0}
        self.rejected_irreversible = 0

    def _map(self, k: int) -> TemperatureMap | None:
        m = self.maps[k] if k < len(self.maps) else None
        return None if m is None or getattr(m, "is_identity", False) else m

    def propose(self, k: int, x_cold: np.ndarray, x_hot: np.ndarray) -> dict[str, Any]:
        """The proposal of pair k: M(x_cold), M^-1(x_hot), both log-Jacobians and the reversibility errors."""
        m = self._map(k)
        t0 = time.perf_counter()
        y, ld_f = m.forward_numpy(x_cold)
        back, _, res_back = m.inverse_numpy(y)
        x, ld_b, res_inv = m.inverse_numpy(x_hot)
        err = max(float(np.abs(back - x_cold).max()), res_back, res_inv)
        self.timers["map_s"] += time.perf_counter() - t0
        return {"to_hot": y, "to_cold": x, "logdet_forward": ld_f, "logdet_backward": ld_b, "reversibility": err}

    def apply(self, temperatures: np.ndarray, energies: np.ndarray, assignment: np.ndarray, parity: int,
              rng: np.random.Generator, states: Sequence[tuple] | None = None,
              energy_of: Callable[[int, np.ndarray], float] | None = None) -> tuple[np.ndarray, list[dict[str, Any]]]:
        beta = 1.0 / np.asarray(temperatures, dtype=np.float64)
        new = np.asarray(assignment).copy()
        records = []
        for k in range(parity, len(beta) - 1, 2):
            i, j = int(new[k]), int(new[k + 1])
            log_alpha = NeighbourExchange.log_alpha(beta[k], beta[k + 1], energies[i], energies[j])
            rec: dict[str, Any] = {"pair": k, "replicas": (i, j), "mapped": False}
            m = self._map(k)
            if m is not None:
                if states is None or energy_of is None:
                    raise ValueError("a mapped exchange needs the replicas' states and energy_of")
                p = self.propose(k, states[i][0], states[j][0])
                rec.update(mapped=True, reversibility=p["reversibility"])
                if not p["reversibility"] <= self.tolerance:  # NaN fails too
                    log_alpha = -math.inf
                    self.rejected_irreversible += 1
                else:
                    t0 = time.perf_counter()
                    u_hot = energy_of(i, p["to_hot"])  # i's new configuration, at T_{k+1}
                    u_cold = energy_of(j, p["to_cold"])  # j's new configuration, at T_k
                    self.timers["energy_s"] += time.perf_counter() - t0
                    log_alpha = (log_alpha - beta[k + 1] * (u_hot - energies[i]) - beta[k] * (u_cold - energies[j])
                                 + p["logdet_forward"] - p["logdet_backward"])
                    if not math.isfinite(log_alpha):
                        log_alpha = -math.inf
                    rec["new_states"] = [(i, p["to_hot"], float(u_hot)), (j, p["to_cold"], float(u_cold))]
            ok = bool(math.log(rng.uniform()) < log_alpha)
            if ok:
                new[k], new[k + 1] = j, i
            else:
                rec.pop("new_states", None)
            rec.update(log_alpha=float(log_alpha), accepted=ok)
            records.append(rec)
        return new, records


def write_json(path: str | Path, obj: Any) -> None:
    """JSON written atomically (benchmark results)."""
    with atomic_write(Path(path), "w") as fh:
        json.dump(obj, fh, indent=2)
