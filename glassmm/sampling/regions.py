"""Regions for collective moves: where they are, which particles they hold, and with what probability.

A region move needs the probability of its own choice in both directions (the reverse move
starts from the configuration the forward one produced), so every choice here is a smooth,
exactly computable random draw rather than a cut-off rule that a moved particle could break:

* a **centre point** p: a site of a randomly shifted cubic lattice (state independent, so the
  regions of one cycle are chosen independently of each other: :class:`LatticeCentres`), a
  Gaussian around a particle drawn from the predicted propensity (:class:`PropensityCentres`,
  one region per cycle: its density is a mixture over all particles, read in both directions),
  or a fixed point (:class:`FixedCentre`, for open test systems);
* the **region**: an ordered tuple of k distinct particles drawn one after the other without
  replacement with weights exp(-r^2 / 2 w^2), r the minimum-image distance to p. The tuple's
  order is the order the proposal model reads the particles in (it is part of the proposal,
  and its probability enters the Hastings ratio), so any labelling of the same physical
  particles is possible and is counted;
* the **shell**: other particles near p, which move with MD during a protocol while everything
  beyond is frozen (that is what makes separated regions independent). Each non-member joins
  with probability s(r): 1 inside ``shell_radius - ramp``, a cosine ramp to 0 at
  ``shell_radius + ramp``; frozen particles do not move, so only the shell's own particles
  change the reverse probability, smoothly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from glassmm.geometry import minimum_image


def _delta(x: np.ndarray, p: np.ndarray, box: np.ndarray | None) -> np.ndarray:
    d = x - p
    return d if box is None else minimum_image(d, box)


@dataclass
class Region:
    """One chosen region (reduced units)."""

    centre: np.ndarray  # (3,)
    members: np.ndarray  # int (k,), in the order the proposal reads them
    shell: np.ndarray  # int, sorted: particles that move with MD but are not jumped
    log_prob: float  # log P(tuple | x, centre) + log density of the centre, forward

    @property
    def active(self) -> np.ndarray:
        return np.concatenate([self.members, self.shell])


class RegionSelector:
    """Ordered k-tuples of particles near a centre point, with their exact probabilities.

    Parameters
    ----------
    k : int
        Particles per region (>= 1; collective moves use >= 8).
    width : float (reduced length)
        Width w of the Gaussian weights exp(-r^2 / 2 w^2).
    shell_radius : float (reduced length)
        Middle of the shell's ramp: non-members about this close to the centre move with MD
        during a protocol.
    ramp : float (reduced length)
        Half-width of the shell's cosine ramp.
    box : array (reduced) (3,) or None
    """

    def __init__(self, k: int, width: float = 0.9, shell_radius: float = 2.0, ramp: float = 0.4,
                 box: np.ndarray | None = None) -> None:
        if int(k) < 1:
            raise ValueError(f"k must be >= 1; got {k}")
        if not width > 0 or not 0 < ramp < shell_radius:
            raise ValueError(f"width and ramp must be positive and ramp < shell_radius; got {width}, {ramp}, {shell_radius}")
        self.k, self.width, self.shell_radius, self.ramp = int(k), float(width), float(shell_radius), float(ramp)
        self.box = None if box is None else np.asarray(box, dtype=np.float64)

    def _log_weights(self, x: np.ndarray, centre: np.ndarray) -> np.ndarray:
        # compact support (zone radius): the choice reads only particles near its own centre,
        # so regions far apart are chosen independently of each other's moves
        d = _delta(x, centre, self.box)
        r2 = (d * d).sum(1)
        return np.where(r2 < self.zone_radius**2, -r2 / (2.0 * self.width**2), -np.inf)

    def tuple_log_prob(self, x: np.ndarray, centre: np.ndarray, members: np.ndarray) -> float:
        """log P(ordered tuple | x, centre) of sequential draws without replacement."""
        lw = self._log_weights(x, centre)
        if not np.isfinite(lw.max()):
            return -math.inf
        w = np.exp(lw - lw.max())
        remaining = w.sum()
        total = 0.0
        for i in members:
            total += math.log(w[i]) - math.log(remaining) if w[i] > 0 else -math.inf
            remaining -= w[i]
        return total

    def draw_tuple(self, x: np.ndarray, centre: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.k > len(x):
            raise ValueError(f"regions of k = {self.k} particles need at least that many; the system has {len(x)}")
        lw = self._log_weights(x, centre)
        if np.isfinite(lw).sum() < self.k:
            raise ValueError(f"fewer than k = {self.k} particles within the zone radius {self.zone_radius} of the centre")
        w = np.exp(lw - lw.max())
        # Gumbel top-k draws an ordered sample without replacement with exactly these
        # sequential probabilities
        with np.errstate(divide="ignore"):
            g = np.log(w) - np.log(-np.log(rng.uniform(size=len(w))))
        return np.argsort(-g)[: self.k].astype(np.int64)

    @property
    def zone_radius(self) -> float:
        """No shell particle starts farther than this from the centre."""
        return self.shell_radius + self.ramp

    def _shell_probabilities(self, x: np.ndarray, centre: np.ndarray, members: np.ndarray) -> np.ndarray:
        d = _delta(x, centre, self.box)
        r = np.sqrt((d * d).sum(1))
        t = np.clip((r - self.shell_radius + self.ramp) / (2 * self.ramp), 0.0, 1.0)
        s = 0.5 * (1.0 + np.cos(math.pi * t))
        s[members] = 0.0
        return s

    def draw_shell(self, x: np.ndarray, centre: np.ndarray, members: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        s = self._shell_probabilities(x, centre, members)
        return np.flatnonzero(rng.uniform(size=len(s)) < s)

    def shell_log_prob(self, x: np.ndarray, centre: np.ndarray, members: np.ndarray, shell: np.ndarray) -> float:
        """log P(shell | x, centre, members); terms of particles far from the centre are log 1."""
        s = self._shell_probabilities(x, centre, members)
        inside = np.zeros(len(s), dtype=bool)
        inside[shell] = True
        with np.errstate(divide="ignore"):
            return float(np.log(s[inside]).sum() + np.log1p(-s[~inside]).sum())

    def draw(self, x: np.ndarray, centre: np.ndarray, log_centre: float, rng: np.random.Generator) -> Region:
        members = self.draw_tuple(x, centre, rng)
        shell = self.draw_shell(x, centre, members, rng)
        lp = log_centre + self.tuple_log_prob(x, centre, members) + self.shell_log_prob(x, centre, members, shell)
        return Region(centre, members, shell, lp)

    def log_prob(self, x: np.ndarray, region: Region, centres: "LatticeCentres | FixedCentre | PropensityCentres") -> float:
        """log probability of choosing ``region`` (its centre, tuple and shell) at configuration ``x``."""
        return (centres.log_density(x, region.centre) + self.tuple_log_prob(x, region.centre, region.members)
                + self.shell_log_prob(x, region.centre, region.members, region.shell))


class LatticeCentres:
    """Sites of a cubic lattice with a uniformly random offset: many independent regions per cycle.

    Parameters
    ----------
    box : array (reduced) (3,)
    spacing : float (reduced length)
        Smallest allowed distance between sites; each box edge holds floor(L / spacing) sites.
        Choose it above 2 x the zone radius plus the interaction cutoff, so that active
        particles of different regions never interact (:class:`~glassmm.sampling.ncmc.RegionNCMCMove`
        checks it).
    max_sites : int, optional
        Use a uniformly random subset of this many sites (state independent as well).
    """

    state_independent = True

    def __init__(self, box: np.ndarray, spacing: float, max_sites: int | None = None) -> None:
        self.box = np.asarray(box, dtype=np.float64)
        # one site along an edge shorter than the spacing: a single region per cycle there
        self.counts = np.maximum(1, np.floor(self.box / float(spacing))).astype(int)
        self.spacing, self.max_sites = float(spacing), max_sites

    def draw(self, x: np.ndarray, rng: np.random.Generator) -> list[tuple[np.ndarray, float]]:
        grid = np.stack(np.meshgrid(*[np.arange(c) for c in self.counts], indexing="ij"), -1).reshape(-1, 3)
        sites = (grid + rng.uniform(size=3)) * (self.box / self.counts)
        if self.max_sites is not None and self.max_sites < len(sites):
            sites = sites[rng.choice(len(sites), self.max_sites, replace=False)]
        return [(s, 0.0) for s in sites]  # the offset's density is the same both ways

    def log_density(self, x: np.ndarray, centre: np.ndarray) -> float:
        return 0.0


class FixedCentre:
    """Always the same centre point (open systems, tests)."""

    state_independent = True

    def __init__(self, point: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 0.0)) -> None:
        self.point = np.asarray(point, dtype=np.float64)

    def draw(self, x: np.ndarray, rng: np.random.Generator) -> list[tuple[np.ndarray, float]]:
        return [(self.point.copy(), 0.0)]

    def log_density(self, x: np.ndarray, centre: np.ndarray) -> float:
        return 0.0


class PropensityCentres:
    """One centre per cycle, near a particle the propensity model expects to move.

    p = x_c + N(0, spread^2) with c drawn from a mixture of uniform and softmax(score / T):
    the density of p is sum_c pi_c(x) N(p - x_c; spread), smooth in x, so the reverse move
    evaluates the same mixture at its own configuration.

    Parameters
    ----------
    score : callable (positions, box, types) -> (N,)
        e.g. :class:`~glassmm.sampling.proposals.PropensityScore`.
    types : array of int (N,)
    box : array (reduced) (3,) or None
    spread : float (reduced length)
    score_weight, score_temperature : float
        As in :class:`~glassmm.sampling.proposals.LocalMove`.
    """

    state_independent = False

    def __init__(
        self,
        score: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None,
        types: np.ndarray,
        box: np.ndarray | None,
        spread: float = 0.3,
        score_weight: float = 0.8,
        score_temperature: float = 1.0,
    ) -> None:
        from glassmm.sampling.proposals import ScoreMixture

        self.box = None if box is None else np.asarray(box, dtype=np.float64)
        self.spread = float(spread)
        self.particle_probabilities = ScoreMixture(score, types, self.box, score_weight, score_temperature)

    def draw(self, x: np.ndarray, rng: np.random.Generator) -> list[tuple[np.ndarray, float]]:
        pi = self.particle_probabilities(x)
        c = int(rng.choice(len(pi), p=pi))
        p = x[c] + rng.normal(scale=self.spread, size=3)
        return [(p, self.log_density(x, p))]

    def log_density(self, x: np.ndarray, centre: np.ndarray) -> float:
        pi = self.particle_probabilities(x)
        d = _delta(x, centre, self.box)
        lg = np.log(np.maximum(pi, 1e-300)) - (d * d).sum(1) / (2 * self.spread**2)
        top = lg.max()
        return float(top + np.log(np.exp(lg - top).sum()) - 1.5 * math.log(2 * math.pi * self.spread**2))
