"""Propensity and the other per-particle / per-pair targets of an isoconfigurational ensemble."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from glassmm.geometry import minimum_image
from glassmm.potentials import KA



def _replicas(replicas: np.ndarray, n: int) -> np.ndarray:
    arr = np.asarray(replicas, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (n, 3):
        raise ValueError(f"replica positions must have shape (R, {n}, 3); got {arr.shape}")
    return arr


def propensity(initial: np.ndarray, replicas: np.ndarray) -> np.ndarray:
    """Node propensity: mean over replicas of |r_i(t) - r_i(0)| (reduced length), shape (N,).

    Positions must be unwrapped (as BOTAN files and glassmm's runner store them).
    """
    initial = np.asarray(initial, dtype=np.float64)
    reps = _replicas(replicas, len(initial))
    return np.linalg.norm(reps - initial[None], axis=-1).mean(axis=0)


def neighbour_pairs(positions: np.ndarray, box: np.ndarray, cutoff: float = 2.0) -> np.ndarray:
    """Unordered pairs (E, 2), i < j, closer than ``cutoff`` under minimum image (scipy k-d tree)."""
    box = np.asarray(box, dtype=np.float64)
    wrapped = np.mod(positions, box)
    wrapped[wrapped >= box] = 0.0  # mod can return box itself for tiny negatives
    pairs = cKDTree(wrapped, boxsize=box).query_pairs(cutoff, output_type="ndarray")
    pairs.sort(axis=1)
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    return pairs[order]


def pair_distances(positions: np.ndarray, pairs: np.ndarray, box: np.ndarray) -> np.ndarray:
    d = minimum_image(positions[..., pairs[:, 0], :] - positions[..., pairs[:, 1], :], box)
    return np.linalg.norm(d, axis=-1)


def edge_targets(
    initial: np.ndarray, replicas: np.ndarray, box: np.ndarray, cutoff: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """BOTAN edge target: mean change of the minimum-image distance of pairs closer than ``cutoff`` at t=0.

    Returns
    -------
    pairs : ndarray (E, 2) of int
    delta : ndarray (reduced length) (E,)
    """
    initial = np.asarray(initial, dtype=np.float64)
    reps = _replicas(replicas, len(initial))
    pairs = neighbour_pairs(initial, box, cutoff)
    d0 = pair_distances(initial, pairs, box)
    dt = pair_distances(reps, pairs, box)
    return pairs, (dt - d0[None]).mean(axis=0)


def bond_breaking(
    initial: np.ndarray,
    replicas: np.ndarray,
    box: np.ndarray,
    types: np.ndarray,
    bond: float = 1.1,
    broken: float = 1.5,
) -> np.ndarray:
    """Per-particle fraction of initial bonds broken, averaged over replicas (Yamamoto-Onuki).

    A bond is a pair with r < ``bond`` * sigma_ab at t = 0; it is broken at t when
    r > ``broken`` * sigma_ab. Particles without bonds get 0.
    """
    initial = np.asarray(initial, dtype=np.float64)
    reps = _replicas(replicas, len(initial))
    types = np.asarray(types)
    pairs = neighbour_pairs(initial, box, bond * 1.0)
    sig = KA.sigma[types[pairs[:, 0]], types[pairs[:, 1]]]  # bond criteria scaled per pair
    d0 = pair_distances(initial, pairs, box)
    keep = d0 < bond * sig
    pairs, sig = pairs[keep], sig[keep]
    frac_broken = (pair_distances(reps, pairs, box) > broken * sig[None]).mean(axis=0)  # (E,)
    n = len(initial)
    count = np.bincount(pairs.ravel(), minlength=n).astype(float)
    lost = np.bincount(pairs[:, 0], frac_broken, n) + np.bincount(pairs[:, 1], frac_broken, n)
    return np.divide(lost, count, out=np.zeros(n), where=count > 0)


def split_half_reliability(
    initial: np.ndarray,
    replicas: np.ndarray,
    types: np.ndarray | None = None,
    species: int | None = 0,
    n_splits: int = 64,
    seed: int = 0,
) -> dict[str, float]:
    """Split-half reliability of a propensity estimate.

    The replicas are split at random into two halves; the Pearson correlation r_half of the
    two half-ensemble propensities (over ``species`` particles) is averaged over
    ``n_splits`` splits. Spearman-Brown gives the reliability of the full ensemble,
    2 r_half / (1 + r_half), and its square root is the ceiling on the Pearson correlation
    any predictor can reach against this noisy target.
    """
    initial = np.asarray(initial, dtype=np.float64)
    reps = _replicas(replicas, len(initial))
    if reps.shape[0] < 2:
        raise ValueError("split-half reliability needs at least 2 replicas")
    disp = np.linalg.norm(reps - initial[None], axis=-1)  # (R, N)
    if species is not None:
        if types is None:
            raise ValueError("types are needed to select a species")
        disp = disp[:, np.asarray(types) == species]
    rng = np.random.default_rng(seed)
    R = disp.shape[0]
    rs = []
    for _ in range(n_splits):
        perm = rng.permutation(R)
        a, b = disp[perm[: R // 2]].mean(0), disp[perm[R // 2 : 2 * (R // 2)]].mean(0)
        rs.append(np.corrcoef(a, b)[0, 1])
    r_half = float(np.mean(rs))
    sb = 2 * r_half / (1 + r_half)
    return {"r_half": r_half, "r_half_std": float(np.std(rs)), "spearman_brown": sb,
            "pearson_ceiling": float(np.sqrt(max(sb, 0.0))), "n_replicas": R}
