"""Four-point structure factor S_4(q, t) of the mobility field and its correlation length."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from glassmm import geometry
from glassmm.analysis.base import ComputeObject, select_species
from glassmm.analysis.dynamics import overlap_field


def wavevectors(box: np.ndarray, q_max: float, dimensions: int = 3) -> np.ndarray:
    """All reciprocal-lattice vectors 2 pi n / L with 0 < |q| <= q_max, one of each +-q pair."""
    box = np.asarray(box, float)
    n_max = np.floor(q_max * box[:dimensions] / (2 * np.pi)).astype(int)
    grids = np.meshgrid(*[np.arange(-m, m + 1) for m in n_max], indexing="ij")
    n = np.stack([g.ravel() for g in grids], axis=1)
    q = 2 * np.pi * n / box[:dimensions]
    norm = np.linalg.norm(q, axis=1)
    keep = (norm > 0) & (norm <= q_max + 1e-12)
    # keep one of q / -q (|W(q)|^2 is even): first nonzero component positive
    first = np.array([row[np.nonzero(row)[0][0]] if np.any(row) else 0 for row in n])
    keep &= first > 0
    out = np.zeros((keep.sum(), 3))
    out[:, :dimensions] = q[keep]
    return out


def ornstein_zernike_fit(q: np.ndarray, s: np.ndarray, q_fit: float) -> tuple[float, float]:
    """(xi, S(0)) from a linear fit of 1/S against q^2 over q <= ``q_fit``; nan if unphysical."""
    m = (q <= q_fit) & (s > 0)
    if m.sum() < 2:
        return float("nan"), float("nan")
    slope, intercept = np.polyfit(q[m] ** 2, 1.0 / s[m], 1)
    if intercept <= 0 or slope <= 0:
        return float("nan"), float("nan")
    return float(np.sqrt(slope / intercept)), float(1.0 / intercept)


def _bin_by_norm(qvec: np.ndarray, values: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    qn = np.linalg.norm(qvec, axis=1)
    edges = np.linspace(qn.min() - 1e-9, qn.max() + 1e-9, n_bins + 1)
    idx = np.digitize(qn, edges) - 1
    qs, ss = [], []
    for b in range(n_bins):
        m = idx == b
        if m.any():
            qs.append(qn[m].mean()); ss.append(values[m].mean())
    return np.array(qs), np.array(ss)


class FieldStructureFactor(ComputeObject):
    """Static structure factor of a per-particle field, S_X(q) = (1/N) <|sum_i dx_i exp(i q . r_i)|^2>.

    dx_i is the field standardised within each configuration (zero mean, unit variance over
    the selected particles), so predicted and measured propensity fields compare on one
    scale: S_X = 1 at every q for an uncorrelated field, and spatially correlated mobility
    shows up as S_X(q -> 0) > 1 (the static analogue of chi_4 used for ML propensity
    fields) with an Ornstein-Zernike length ``xi``. Accumulate configurations with
    :meth:`accumulate` (or all at once with :meth:`compute` and ``field=`` one array per
    frame), then read ``q``, ``s``, :meth:`correlation_length`.

    Parameters
    ----------
    q_max : float (reduced, 1/sigma)
    n_bins : int
    species : int or None
    """

    def __init__(self, q_max: float = 2.5, n_bins: int = 8, species: int | None = 0) -> None:
        self.q_max, self.n_bins, self.species = q_max, n_bins, species
        self.reset()

    def reset(self) -> "FieldStructureFactor":
        self._acc: list[np.ndarray] = []
        self._q: np.ndarray | None = None
        return self

    def accumulate(self, positions: np.ndarray, box: np.ndarray, types: np.ndarray | None = None, *,
                   field: np.ndarray) -> "FieldStructureFactor":
        """Add one configuration (N, 3) with its per-particle ``field`` (N,)."""
        pos = np.asarray(positions, float)
        field = np.asarray(field, float)
        if field.shape != (len(pos),):
            raise ValueError(f"field must have one value per particle, shape ({len(pos)},); got {field.shape}")
        if not np.all(np.isfinite(field)):
            raise ValueError("field contains NaN or inf")
        sel = select_species(types, len(pos), self.species)
        x = field[sel]
        x = (x - x.mean()) / (x.std() + 1e-30)
        q = wavevectors(box, self.q_max)
        if self._q is not None and (len(q) != len(self._q) or not np.allclose(q, self._q)):
            raise ValueError("FieldStructureFactor accumulates configurations of one box size only")
        self._q = q
        w = x @ np.exp(1j * pos[sel] @ q.T)
        self._acc.append(np.abs(w) ** 2 / sel.sum())
        return self

    @property
    def q(self) -> np.ndarray:
        return _bin_by_norm(self._q, np.mean(self._acc, axis=0), self.n_bins)[0]

    @property
    def s(self) -> np.ndarray:
        if not self._acc:
            raise RuntimeError("call accumulate() or compute() first")
        return _bin_by_norm(self._q, np.mean(self._acc, axis=0), self.n_bins)[1]

    def correlation_length(self, q_fit: float | None = None) -> tuple[float, float]:
        """(xi, S_X(0)) from the Ornstein-Zernike fit."""
        return ornstein_zernike_fit(self.q, self.s, q_fit or self.q_max)

    def as_dict(self) -> dict[str, Any]:
        xi, s0 = self.correlation_length()
        return {"q": self.q.tolist(), "s": self.s.tolist(), "xi": xi, "s_0": s0, "n_configurations": len(self._acc)}


class FourPointStructureFactor(ComputeObject):
    """S_4(q, t) = (1/N) [<|W(q)|^2> - |<W(q)>|^2], W(q) = sum_i w_i exp(i q . r_i(0)).

    w_i = 1 when particle i has moved less than ``overlap_a`` (the overlap field). The
    averages run over samples (replicas or time origins) at one lag time. ``xi4`` comes from
    an Ornstein-Zernike fit S_4(q) = S_4(0) / (1 + (q xi)^2) over the bins below ``q_fit``.

    Parameters
    ----------
    overlap_a : float (reduced length)
    q_max : float (reduced, 1/sigma)
    n_bins : int
    species : int or None
    dimensions : int
    remove_drift : bool
        Subtract the centre-of-mass displacement first (default), as :class:`SelfDynamics` does.
    """

    def __init__(self, overlap_a: float = 0.3, q_max: float = 2.5, n_bins: int = 12, species: int | None = 0, dimensions: int = 3,
                 remove_drift: bool = True) -> None:
        self.overlap_a, self.q_max, self.n_bins, self.species, self.dimensions = overlap_a, q_max, n_bins, species, dimensions
        self.remove_drift = bool(remove_drift)
        self.reset()

    def reset(self) -> "FourPointStructureFactor":
        self._W: list[np.ndarray] = []
        self._q: np.ndarray | None = None
        self._n_sel = 0
        return self

    def accumulate(self, positions: np.ndarray, box: np.ndarray, types: np.ndarray | None = None, *,
                   reference: np.ndarray) -> "FourPointStructureFactor":
        """Add samples: positions (N, 3) or (R, N, 3) at one lag, against ``reference`` (N, 3)."""
        pos = np.asarray(positions, float)
        pos = pos[None] if pos.ndim == 2 else pos
        ref = np.asarray(reference, float)
        sel = select_species(types, len(ref), self.species)
        if self._q is None:
            self._q = wavevectors(box, self.q_max, self.dimensions)
        phase = np.exp(1j * ref[sel] @ self._q.T)  # (N_sel, Q)
        w = overlap_field(pos - ref[None], self.overlap_a, types, self.species, self.remove_drift).astype(float)  # (R, N_sel)
        self._W.extend(w @ phase)
        self._n_sel = int(sel.sum())
        return self

    def compute(self, frames: np.ndarray, box: np.ndarray, types: np.ndarray | None = None, *,
                lag: int) -> "FourPointStructureFactor":
        """S_4 at a lag of ``lag`` frames over every time origin of a trajectory (F, N, 3).

        With ``remove_drift`` the frames are first put in the first frame's centre-of-mass frame,
        so neither the displacements nor the origins' phases carry the drift.
        """
        pos = np.asarray(frames, float)
        if self.remove_drift:  # the origins' phases too: every frame in the first frame's centre-of-mass frame
            pos = geometry.remove_drift(pos, pos[0])
        if not 0 < lag < len(pos):
            raise ValueError(f"lag must be between 1 and {len(pos) - 1} frames; got {lag}")
        self.reset()
        for o in range(len(pos) - lag):
            self.accumulate(pos[o + lag], box, types, reference=pos[o])
        return self

    @property
    def n_samples(self) -> int:
        return len(self._W)

    def _per_vector(self) -> np.ndarray:
        W = np.asarray(self._W)
        if len(W) < 2:
            raise RuntimeError("S_4 needs at least two samples")
        return (np.mean(np.abs(W) ** 2, axis=0) - np.abs(W.mean(axis=0)) ** 2) / self._n_sel

    @property
    def q(self) -> np.ndarray:
        return self._binned()[0]

    @property
    def s4(self) -> np.ndarray:
        return self._binned()[1]

    def _binned(self) -> tuple[np.ndarray, np.ndarray]:
        return _bin_by_norm(self._q, self._per_vector(), self.n_bins)

    def correlation_length(self, q_fit: float | None = None) -> tuple[float, float]:
        """(xi4, S4(0)) from a linear fit of 1/S_4 against q^2 (Ornstein-Zernike)."""
        return ornstein_zernike_fit(self.q, self.s4, q_fit or self.q_max)

    def as_dict(self) -> dict[str, Any]:
        xi, s0 = self.correlation_length()
        return {"q": self.q.tolist(), "s4": self.s4.tolist(), "xi4": xi, "s4_0": s0, "n_samples": len(self._W)}

    def plot(self, path: str | Path | None = None):
        from glassmm.analysis._plot import Q_LABEL, finish, pyplot, species_label

        plt = pyplot()
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(self.q, self.s4, "o", label="$S_4(q)$")
        xi, s0 = self.correlation_length()
        if np.isfinite(xi):
            qq = np.linspace(0, self.q.max(), 100)
            ax.plot(qq, s0 / (1 + (qq * xi) ** 2), "-", label=rf"OZ fit, $\xi_4$ = {xi:.2f} $\sigma$")
        ax.set_xlabel(Q_LABEL); ax.set_ylabel("$S_4(q)$"); ax.legend()
        ax.set_title(f"four-point structure factor ({species_label(self.species)}, overlap a = {self.overlap_a:g} sigma)")
        return finish(fig, path)
