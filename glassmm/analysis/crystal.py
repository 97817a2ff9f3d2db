"""Local crystalline order: which particles sit in solid-like (fcc, hcp, any crystal) surroundings (Steinhardt q6 bonds).

Kob-Andersen A particles crystallise into fcc below T ~ 0.40 when a sampler reaches equilibrium
there (Coslovich, Ozawa & Kob, EPJE 41, 62 (2018)), so a sampler of low temperatures needs a
monitor. The criterion is ten Wolde, Ruiz-Montero & Frenkel's (J. Chem. Phys. 104, 9932
(1996)): for each selected particle i, q6m(i) = mean over its neighbours j of Y6m(r_ij), normalised
to unit length; a neighbour bond is *connected* when Re[q6(i) . q6(j)*] > ``bond_threshold``,
and i is crystalline with at least ``min_bonds`` connected bonds. In a perfect fcc or hcp
crystal every bond is connected (the dot product is 1); in a liquid, almost none.

Neighbours are particles of the selected species within ``cutoff`` (reduced length; 1.4 sigma_AA
is the first minimum of g_AA(r) of KA at density 1.2).
"""

from __future__ import annotations

import numpy as np

from glassmm.analysis.base import select_species
from glassmm.analysis.propensity import neighbour_pairs
from glassmm.geometry import minimum_image


def q6_vectors(positions: np.ndarray, box: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Unit-normalised q6m (n, 13) of every particle from its neighbour ``pairs`` (E, 2)."""
    from scipy.special import sph_harm_y

    n = len(positions)
    d = minimum_image(positions[pairs[:, 1]] - positions[pairs[:, 0]], box)
    r = np.linalg.norm(d, axis=1)
    polar = np.arccos(np.clip(d[:, 2] / r, -1.0, 1.0))
    azimuth = np.arctan2(d[:, 1], d[:, 0])
    q = np.zeros((n, 13), dtype=np.complex128)
    count = np.zeros(n)
    for k, m in enumerate(range(-6, 7)):
        y = sph_harm_y(6, m, polar, azimuth)
        # the bond seen from j points the other way: Y(-r) = (-1)^l Y(r), and l = 6 is even
        np.add.at(q[:, k], pairs[:, 0], y)
        np.add.at(q[:, k], pairs[:, 1], y)
    np.add.at(count, pairs[:, 0], 1.0)
    np.add.at(count, pairs[:, 1], 1.0)
    q /= np.maximum(count, 1.0)[:, None]
    norm = np.linalg.norm(q, axis=1)
    return q / np.where(norm > 0, norm, 1.0)[:, None]


def crystalline(positions: np.ndarray, box: np.ndarray, types: np.ndarray | None = None, species: int | None = 0,
                cutoff: float = 1.4, bond_threshold: float = 0.7, min_bonds: int = 8) -> np.ndarray:
    """Boolean (n_selected,): which particles of ``species`` are crystalline (see the module)."""
    x = np.asarray(positions, dtype=np.float64)
    sel = np.flatnonzero(select_species(types, len(x), species))
    xs = x[sel]
    box = np.asarray(box, dtype=np.float64)
    pairs = neighbour_pairs(xs, box, cutoff)
    if len(pairs) == 0:
        return np.zeros(len(xs), dtype=bool)
    q = q6_vectors(xs, box, pairs)
    dot = np.real(np.einsum("em,em->e", q[pairs[:, 0]], np.conj(q[pairs[:, 1]])))
    connected = dot > bond_threshold
    bonds = np.zeros(len(xs), dtype=int)
    np.add.at(bonds, pairs[connected, 0], 1)
    np.add.at(bonds, pairs[connected, 1], 1)
    return bonds >= min_bonds


def crystalline_fraction(positions: np.ndarray, box: np.ndarray, types: np.ndarray | None = None, species: int | None = 0,
                         **kw) -> float:
    """Fraction of the particles of ``species`` (0 = A) in fcc/hcp-like local order (see :func:`crystalline`)."""
    c = crystalline(positions, box, types, species, **kw)
    return float(c.mean()) if len(c) else 0.0
