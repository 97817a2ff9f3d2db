"""Static structure: partial radial distribution functions g_ab(r) and S(q)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from glassmm.analysis.base import ComputeObject, select_species
from glassmm.analysis.fourpoint import wavevectors


class RadialDistribution(ComputeObject):
    """Partial g_ab(r) (types a, b in {0, 1}; ``None`` = all particles), averaged over frames.

    Parameters
    ----------
    r_max : float (reduced length), optional
        Default: just under half the shortest box edge.
    n_bins : int
    pair : tuple (a, b) of int or None
    """

    def __init__(self, r_max: float | None = None, n_bins: int = 200, pair: tuple[int | None, int | None] = (None, None)) -> None:
        self.r_max, self.n_bins, self.pair = r_max, n_bins, pair
        self._r_max_given = r_max
        self.reset()

    def reset(self) -> "RadialDistribution":
        self.r_max = self._r_max_given
        self._hist: np.ndarray | None = None
        self._norm = 0.0
        return self

    def accumulate(self, positions: np.ndarray, box: np.ndarray, types: np.ndarray | None = None, *,
                   dimensions: int = 3) -> "RadialDistribution":
        """Add one frame (N, 3)."""
        box = np.asarray(box, float)
        r_max = self.r_max or 0.499 * box[:dimensions].min()
        self.r_max = r_max
        self._dims = dimensions
        edges = np.linspace(0, r_max, self.n_bins + 1)
        pos = np.mod(np.asarray(positions, float), box)
        pos[pos >= box] = 0.0
        a, b = self.pair
        sel_a, sel_b = select_species(types, len(pos), a), select_species(types, len(pos), b)
        tree_b = cKDTree(pos[sel_b], boxsize=box)
        tree_a = cKDTree(pos[sel_a], boxsize=box)
        # cumulative ordered-pair counts at each edge (includes i == j when a == b)
        counts = tree_a.count_neighbors(tree_b, edges[1:], cumulative=True).astype(float)
        same = (a == b)
        if same:
            counts -= sel_a.sum()  # remove self pairs (distance 0)
        hist = np.diff(np.concatenate([[0.0], counts]))
        vol = np.prod(box[:dimensions])
        shell = (4 / 3 * np.pi * np.diff(edges**3)) if dimensions == 3 else np.pi * np.diff(edges**2)
        ideal = sel_a.sum() * sel_b.sum() / vol * shell
        if same:
            ideal = sel_a.sum() * (sel_a.sum() - 1) / vol * shell
        self._hist = hist if self._hist is None else self._hist + hist
        self._ideal = ideal
        self._norm += 1
        self._edges = edges
        return self

    @property
    def r(self) -> np.ndarray:
        return 0.5 * (self._edges[1:] + self._edges[:-1])

    @property
    def g(self) -> np.ndarray:
        return self._hist / (self._norm * self._ideal)

    def as_dict(self) -> dict[str, Any]:
        return {"r": self.r.tolist(), "g": self.g.tolist(), "pair": list(self.pair)}

    def plot(self, path: str | Path | None = None):
        from glassmm.analysis._plot import R_LABEL, finish, pyplot, species_label

        fig, ax = pyplot().subplots(figsize=(5, 4))
        pair = "-".join(species_label(int(p)) for p in self.pair) if self.pair is not None else "all"
        ax.plot(self.r, self.g); ax.set_xlabel(R_LABEL); ax.set_ylabel(f"$g_{{{pair}}}(r)$")
        ax.axhline(1.0, color="gray", lw=0.8, ls=":")
        return finish(fig, path)


class StaticStructureFactor(ComputeObject):
    """S(q) = (1/N) <|sum_j exp(i q . r_j)|^2> by direct summation over lattice wavevectors.

    At most ``max_vectors`` wavevectors per bin are used (chosen at random, seeded) so the cost
    stays O(N x bins x max_vectors).
    """

    def __init__(self, q_max: float = 12.0, n_bins: int = 60, max_vectors: int = 60, species: int | None = None, seed: int = 0) -> None:
        self.q_max, self.n_bins, self.max_vectors, self.species, self.seed = q_max, n_bins, max_vectors, species, seed
        self.reset()

    def reset(self) -> "StaticStructureFactor":
        self._sum: np.ndarray | None = None
        self._n = 0
        return self

    def accumulate(self, positions: np.ndarray, box: np.ndarray, types: np.ndarray | None = None, *,
                   dimensions: int = 3) -> "StaticStructureFactor":
        """Add one frame (N, 3)."""
        pos = np.asarray(positions, float)
        pos = pos[select_species(types, len(pos), self.species)]
        if self._sum is None:
            q = wavevectors(box, self.q_max, dimensions)
            qn = np.linalg.norm(q, axis=1)
            edges = np.linspace(0, self.q_max, self.n_bins + 1)
            idx = np.digitize(qn, edges) - 1
            rng = np.random.default_rng(self.seed)
            chosen = []
            for b in range(self.n_bins):
                members = np.nonzero(idx == b)[0]
                if len(members) > self.max_vectors:
                    members = rng.choice(members, self.max_vectors, replace=False)
                chosen.append(members)
            chosen = np.concatenate(chosen)
            self._qvec, self._bin = q[chosen], idx[chosen]
            self._sum = np.zeros(len(chosen))
        rho = np.exp(1j * pos @ self._qvec.T).sum(axis=0)
        self._sum += np.abs(rho) ** 2 / len(pos)
        self._n += 1
        return self

    @property
    def q(self) -> np.ndarray:
        qn = np.linalg.norm(self._qvec, axis=1)
        return np.array([qn[self._bin == b].mean() for b in np.unique(self._bin)])

    @property
    def s(self) -> np.ndarray:
        v = self._sum / self._n
        return np.array([v[self._bin == b].mean() for b in np.unique(self._bin)])

    def as_dict(self) -> dict[str, Any]:
        return {"q": self.q.tolist(), "s": self.s.tolist(), "species": self.species}

    def plot(self, path: str | Path | None = None):
        from glassmm.analysis._plot import Q_LABEL, finish, pyplot, species_label

        fig, ax = pyplot().subplots(figsize=(5, 4))
        who = species_label(self.species)
        ax.plot(self.q, self.s, "o-", ms=3); ax.set_xlabel(Q_LABEL); ax.set_ylabel(f"$S(q)$ ({who})")
        return finish(fig, path)
