"""How fast a chain of configurations forgets where it started: Q(lag), observable autocorrelation.

Used to compare plain MD with a sampler at equal wall-clock: both record frames with their
wall-clock times and are measured by the same functions.
"""

from __future__ import annotations

import math

import numpy as np

from glassmm.analysis.dynamics import overlap


def overlap_vs_lag(frames: np.ndarray, a: float = 0.3, max_lag: int | None = None, types: np.ndarray | None = None,
                   species: int | None = None, remove_drift: bool = True) -> np.ndarray:
    """Q(k) = < Q(t, t + k) >_t for frame lags k = 0..max_lag, every frame a time origin.

    Q is the one overlap, :func:`glassmm.analysis.dynamics.overlap`: drift-free (the centre of
    mass's displacement over each lag taken out first) and of ``species``. A raw overlap lets
    the Langevin centre-of-mass diffusion (D = kT / (N m gamma)) decorrelate a liquid that has
    not relaxed: 8.1 tau instead of 18.5 tau at N = 500, T = 0.6.

    Parameters
    ----------
    frames : array (reduced length) (F, N, 3)
        Unwrapped positions at equally spaced frames.
    a : float (reduced length)
    max_lag : int, optional
        Largest lag in frames (default F - 1). Lags near F have few origins.
    types : array of int (N,), optional
        Needed when ``species`` is not None.
    species : int or None
        0 = A, 1 = B, None = all particles.
    remove_drift : bool
        Keep True except to show what the drift does.
    """
    pos = np.asarray(frames, dtype=np.float64)
    n = len(pos)
    max_lag = n - 1 if max_lag is None else min(max_lag, n - 1)
    q = np.empty(max_lag + 1)
    for k in range(max_lag + 1):
        q[k] = overlap(pos[k:] - pos[: n - k], a, types, species, remove_drift).mean()
    return q


def random_overlap(n_particles: int, density: float, a: float = 0.3) -> float:
    """Self-overlap Q of two uncorrelated configurations: the chance that a particle lies within a of its old place.

    That is the volume of the a-ball over the box's, 4/3 pi a^3 density / N (about 3e-4 for
    N = 500 at density 1.2). Not the collective overlap's density x 4/3 pi a^3: Q here follows
    each particle, so it decays to (nearly) zero, not to 0.136.
    """
    if n_particles < 1 or not density > 0:
        raise ValueError(f"n_particles ({n_particles}) must be >= 1 and density ({density}) positive")
    return float(min(1.0, density * 4.0 / 3.0 * math.pi * a**3 / n_particles))


def autocorrelation(series: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """Normalised autocorrelation C(k) of a scalar series over time origins (C(0) = 1)."""
    x = np.asarray(series, dtype=np.float64) - np.mean(series)
    n = len(x)
    max_lag = n - 1 if max_lag is None else min(max_lag, n - 1)
    var = float((x * x).mean())
    if var == 0.0:
        return np.ones(max_lag + 1)
    return np.array([float((x[k:] * x[: n - k]).mean()) / var for k in range(max_lag + 1)])


def crossing_time(lags: np.ndarray, values: np.ndarray, target: float = float(np.exp(-1))) -> float:
    """First lag where ``values`` drops below ``target`` (linear interpolation); inf if never."""
    below = np.flatnonzero(np.asarray(values) < target)
    if len(below) == 0:
        return math.inf
    k = int(below[0])
    if k == 0:
        return 0.0
    f = (values[k - 1] - target) / (values[k - 1] - values[k])
    return float(lags[k - 1] + f * (lags[k] - lags[k - 1]))
