"""How fast a chain of configurations forgets where it started: Q(lag), observable autocorrelation.

Used to compare plain MD with a sampler at equal wall-clock: both record frames with their
wall-clock times and are measured by the same functions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from glassmm.analysis.dynamics import overlap


def overlap_vs_lag(frames: np.ndarray, a: float = 0.3, max_lag: int | None = None, types: np.ndarray | None = None,
                   species: int | None = None, remove_drift: bool = True, lags: np.ndarray | None = None) -> np.ndarray:
    """Q(k) = < Q(t, t + k) >_t for frame lags k = 0..max_lag (or the given ``lags``), every frame a time origin.

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
    lags : array of int, optional
        Only these frame lags (each < F), e.g. log-spaced ones for a long run; ``max_lag`` is then ignored.
    """
    pos = np.asarray(frames)
    n = len(pos)
    if lags is None:
        max_lag = n - 1 if max_lag is None else min(max_lag, n - 1)
        lags = np.arange(max_lag + 1)
    lags = np.asarray(lags, dtype=np.int64)
    if len(lags) and (lags.min() < 0 or lags.max() >= n):
        raise ValueError(f"lags must lie in 0..{n - 1} frames; got {lags.min()}..{lags.max()}")
    q = np.empty(len(lags))
    chunk = max(1, int(2e7 // max(1, pos[0].size)))  # origins per batch: ~160 MB of float64 displacements
    for i, k in enumerate(lags):
        total = 0.0
        for o in range(0, n - k, chunk):
            e = min(o + chunk, n - k)
            total += overlap(np.asarray(pos[o + k:e + k] - pos[o:e], dtype=np.float64), a, types, species, remove_drift).sum()
        q[i] = total / (n - k)
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


def ratio_of_means(numerator: Any, denominator: Any) -> tuple[float, float]:
    """mean(numerator) / mean(denominator) and its standard error by the delta method.

    For speedups from independent runs (e.g. MD and sampler wall times to decorrelate): a side
    with one run contributes no error; with one run on both sides the error is NaN.
    """
    a, b = np.asarray(numerator, dtype=np.float64), np.asarray(denominator, dtype=np.float64)
    r = float(a.mean() / b.mean())
    if len(a) < 2 and len(b) < 2:
        return r, math.nan
    va = a.var(ddof=1) / len(a) if len(a) > 1 else 0.0
    vb = b.var(ddof=1) / len(b) if len(b) > 1 else 0.0
    return r, float(r * math.sqrt(va / a.mean() ** 2 + vb / b.mean() ** 2))


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


class DecorrelationRun:
    """Frames of a chain (MD or a sampler) recorded until its drift-free overlap has decorrelated.

    ``advance()`` moves the chain on by one frame interval; ``positions()`` returns its unwrapped
    positions (reduced). After every ``check_every`` frames the origin-averaged, normalised
    overlap (Q - q0) / (1 - q0) is evaluated at lags up to half the frames recorded (so every
    lag has at least half the run as origins); the run stops once it falls below 1/e there, or
    at ``max_frames`` / ``max_wall_s``. Then ``crossing_frames`` is the measured decorrelation
    lag (frames), or None with ``bound_frames`` the largest lag examined: a strict lower bound.
    Wall times are the chain's own (``advance`` only; measuring Q is not charged).

    Parameters
    ----------
    advance, positions : callables
    types : array of int (N,)
    density : float (reduced)
        For the uncorrelated value q0 of the self-overlap.
    species : int or None
        Whose overlap (0 = A).
    a : float (reduced length)
    """

    def __init__(self, advance, positions, types: np.ndarray, density: float, species: int | None = 0, a: float = 0.3,
                 check_every: int = 20, max_frames: int = 4000, max_wall_s: float = math.inf, n_lags: int = 80) -> None:
        self.advance, self.positions = advance, positions
        self.types, self.species, self.a = np.asarray(types), species, float(a)
        self.q0 = random_overlap(len(self.types), density, a)  # per particle: the same for every species
        self.check_every, self.max_frames, self.max_wall_s, self.n_lags = int(check_every), int(max_frames), float(max_wall_s), int(n_lags)
        self.frames: list[np.ndarray] = []
        self.walls: list[float] = []
        self.crossing_frames: float | None = None
        self.lags = np.zeros(0, dtype=int)
        self.q = np.zeros(0)

    @property
    def wall_per_frame(self) -> float:
        """Mean wall-clock seconds per frame interval."""
        return self.walls[-1] / (len(self.walls) - 1) if len(self.walls) > 1 else math.nan

    @property
    def bound_frames(self) -> int:
        """Largest lag (frames) at which Q was evaluated."""
        return int(self.lags.max()) if len(self.lags) else 0

    @property
    def decorrelation_wall_s(self) -> float | None:
        """Wall seconds to decorrelate (None when it did not within the run)."""
        return None if self.crossing_frames is None else self.crossing_frames * self.wall_per_frame

    @property
    def bound_wall_s(self) -> float:
        """Wall seconds of the largest lag examined: the decorrelation time is longer when not crossed."""
        return self.bound_frames * self.wall_per_frame

    def evaluate(self) -> None:
        n = len(self.frames)
        half = (n - 1) // 2
        lags = np.unique(np.concatenate([[0], np.round(np.geomspace(1, max(1, half), self.n_lags)).astype(int)]))
        lags = lags[lags <= half] if half >= 1 else lags[:1]
        q = overlap_vs_lag(np.asarray(self.frames), self.a, types=self.types, species=self.species, lags=lags)
        self.lags, self.q = lags, (q - self.q0) / (1.0 - self.q0)
        t = crossing_time(lags.astype(float), self.q)
        self.crossing_frames = t if math.isfinite(t) else None

    def run(self) -> "DecorrelationRun":
        """Record frames until decorrelated or a limit is reached; returns self."""
        import time

        if not self.frames:
            self.frames.append(np.asarray(self.positions(), dtype=np.float32))
            self.walls.append(0.0)
        t_run = self.walls[-1]
        while True:
            t0 = time.perf_counter()
            self.advance()
            t_run += time.perf_counter() - t0
            self.frames.append(np.asarray(self.positions(), dtype=np.float32))
            self.walls.append(t_run)
            n = len(self.frames) - 1
            limit = n >= self.max_frames or t_run >= self.max_wall_s
            if n % self.check_every == 0 or limit:
                self.evaluate()
                if self.crossing_frames is not None or limit:
                    return self

    def as_dict(self) -> dict:
        """JSON-ready results (wall seconds, frames, the Q curve)."""
        return {"crossing_frames": self.crossing_frames, "decorrelation_wall_s": self.decorrelation_wall_s,
                "bound_frames": self.bound_frames, "bound_wall_s": self.bound_wall_s, "frames": len(self.frames) - 1,
                "wall_s": self.walls[-1] if self.walls else 0.0, "wall_per_frame_s": self.wall_per_frame,
                "lags": self.lags.tolist(), "q": self.q.tolist()}
