"""Jump proposals with exact forward and reverse densities.

A move displaces a set S of particles by d_S drawn from a proposal model conditioned on the
current configuration x. Its density is

    q(x' | x) = P(S | x) * prod_{i in S} q(d_i | h_i(x))

and the reverse move from x' needs S again and displacements -d_S (exact, since every
|d| < bound < L/2). :class:`GlobalMove` moves everyone (P(S) = 1). :class:`LocalMove` picks a
centre c with probability p_c(x), a mixture of uniform and a softmax of the predicted
propensity, and moves the particles within ``radius`` of c; several centres can give the same
region, so P(S | x) sums p_c(x) over every centre c whose region at x is exactly S, and is 0
at x' when no centre there reproduces S (the move is then rejected). Both directions use the
same functions of their own starting configuration, as the Hastings ratio requires.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from glassmm.geometry import minimum_image
from glassmm.sampling.features import local_features


@dataclass
class Jump:
    """One proposed jump (reduced units)."""

    kind: str
    moved: np.ndarray  # int indices (M,)
    displacement: np.ndarray  # (M, 3)
    new_positions: np.ndarray  # (N, 3)
    log_q_forward: float  # log q(x' | x), region choice included
    log_region_forward: float = 0.0
    log_q_reverse: float = float("nan")  # filled by reverse_log_density
    log_region_reverse: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class JumpMove:
    """A move that proposes one jump (``propose``, ``reverse_log_density``) checked by Metropolis-Hastings.

    Subclasses give ``kind``, ``types``, ``propose(positions, rng, generator) -> Jump`` and
    ``reverse_log_density(jump) -> float`` (log q(x | x'), region choice included); ``apply`` is
    the move in glassmm's one shape (:mod:`glassmm.sampling.moves`).
    """

    def apply(self, thermodynamic_state: Any, sampler_state: Any, engine: Any, energy_window: float | None = None) -> list[dict[str, Any]]:
        """One Metropolis-Hastings jump of ``sampler_state`` (see :mod:`glassmm.sampling.moves`).

        Accepted with min(1, exp(-(U(x') - U(x)) / kT) q(x | x') / q(x' | x)), U from the engine's
        context and the full proposal densities (region choice included). A jump moves positions
        only and pi(x, v) = pi(x) phi(v), so the velocities stay. ``energy_window`` (kT) turns
        the move into the *biased* energy filter (U' - U) / kT < window, labelled so in its record.
        """
        t0 = time.perf_counter()
        kT = thermodynamic_state.temperature
        energy = engine.ensure_energy(sampler_state)
        positions = sampler_state.positions
        jump = self.propose(positions, engine.rng, engine.generator)
        self.last_jump = jump
        t1 = time.perf_counter()
        new_energy = engine.potential_energy(jump.new_positions)
        t2 = time.perf_counter()
        d_u = (new_energy - energy) / kT if math.isfinite(new_energy) else math.inf
        if energy_window is None:
            log_rev = self.reverse_log_density(jump) if math.isfinite(d_u) else -math.inf
            log_alpha = -d_u + log_rev - jump.log_q_forward
        else:
            log_rev = float("nan")
            log_alpha = 0.0 if d_u < energy_window else -math.inf
        t3 = time.perf_counter()
        accepted = bool(math.log(engine.rng.uniform()) < log_alpha) if not math.isnan(log_alpha) else False
        if accepted:
            sampler_state.positions, sampler_state.potential_energy = jump.new_positions, new_energy
        engine.clock("proposal_s", (t1 - t0) + (t3 - t2))
        engine.clock("energy_s", t2 - t1)
        return [{
            "kind": jump.kind,
            "n_moved": int(len(jump.moved)),
            "energy_old": energy,
            "energy_new": new_energy,
            "delta_energy_kT": d_u,
            "log_q_forward": jump.log_q_forward,
            "log_q_reverse": log_rev,
            "log_region_forward": jump.log_region_forward,
            "log_region_reverse": jump.log_region_reverse,
            "log_alpha": log_alpha,
            "accepted": accepted,
            "max_displacement": float(np.sqrt((jump.displacement**2).sum(1)).max()) if len(jump.moved) else 0.0,
            "wall_s": time.perf_counter() - t0,
            "biased": energy_window is not None,
        }]


class _Move(JumpMove):
    kind = "move"

    def __init__(self, model: Any, types: np.ndarray, box: np.ndarray | None) -> None:
        self.model = model
        self.types = np.asarray(types, dtype=np.int64)
        self.box = None if box is None else np.asarray(box, dtype=np.float64)
        if self.box is not None and model.bound >= 0.5 * float(self.box.min()):
            raise ValueError(
                f"proposal bound {model.bound} must be below half the smallest box edge ({0.5 * self.box.min():.3f}) "
                "so that a jump and its reverse are minimum images of each other"
            )
        self._types_t = torch.as_tensor(self.types)

    def _check(self, positions: np.ndarray) -> np.ndarray:
        x = np.asarray(positions, dtype=np.float64)
        if x.shape != (len(self.types), 3):
            raise ValueError(f"positions have shape {x.shape}; this move was built for {(len(self.types), 3)}")
        if not np.isfinite(x).all():
            raise ValueError("positions contain NaN or infinity")
        return x

    def region_log_prob(self, positions: np.ndarray, moved: np.ndarray) -> float:
        return 0.0

    def choose_region(self, positions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.arange(len(self.types))

    def propose(self, positions: np.ndarray, rng: np.random.Generator, generator: torch.Generator) -> Jump:
        """Draw a jump from ``positions`` (any periodic image)."""
        x = self._check(positions)
        moved = self.choose_region(x, rng)
        log_region = self.region_log_prob(x, moved)
        feats = local_features(x, self.types, self.box)[torch.as_tensor(moved)]
        d, log_q = self.model.sample(feats, self._types_t[moved], generator)
        d = d.numpy()
        new = x.copy()
        new[moved] += d
        return Jump(self.kind, moved, d, new, float(log_q.sum()) + log_region, log_region)

    def reverse_log_density(self, jump: Jump) -> float:
        """log q(x | x') of the reverse jump; stores it (and its region part) on ``jump``."""
        xn = jump.new_positions
        log_region = self.region_log_prob(xn, jump.moved)
        if not math.isfinite(log_region):
            jump.log_region_reverse = jump.log_q_reverse = -math.inf
            return -math.inf
        feats = local_features(xn, self.types, self.box)[torch.as_tensor(jump.moved)]
        log_q = self.model.log_prob(torch.as_tensor(-jump.displacement), feats, self._types_t[jump.moved])
        jump.log_region_reverse = log_region
        jump.log_q_reverse = float(log_q.sum()) + log_region
        return jump.log_q_reverse

    def forward_log_density(self, positions: np.ndarray, jump: Jump) -> float:
        """Re-evaluate log q(x' | x) for a given jump (used by tests and diagnostics)."""
        x = self._check(positions)
        feats = local_features(x, self.types, self.box)[torch.as_tensor(jump.moved)]
        log_q = self.model.log_prob(torch.as_tensor(jump.displacement), feats, self._types_t[jump.moved])
        return float(log_q.sum()) + self.region_log_prob(x, jump.moved)


class GlobalMove(_Move):
    """Every particle jumps at once, each by its own conditional displacement.

    Parameters
    ----------
    model : ODEProposalModel
    types : array of int (N,)
    box : array (reduced) (3,) or None
    """

    kind = "global"


class PropensityScore:
    """Per-particle propensity from a glassmm model, used to choose where local jumps happen.

    Parameters
    ----------
    model : str
        A bundled model name or artifact path (see ``glassmm models``). The default reads
        thermal structures directly: an inherent-structure model would run a FIRE quench of
        every trial configuration (two per attempt, forward and reverse).
    backend : str, optional
        Inference backend (default order as in :func:`glassmm.load_predictor`).
    """

    def __init__(self, model: str = "botan-ka-T0.44-ts", backend: str | None = None) -> None:
        from glassmm.backends import load_predictor

        self.predictor, _ = load_predictor(model, backend)
        self.name = model
        if self.predictor.needs_inherent:
            import warnings

            warnings.warn(f"PropensityScore with {model!r} (inputs {self.predictor.metadata.get('inputs')}) quenches "
                          "every scored configuration with FIRE; a TS model is much cheaper", stacklevel=2)

    def __call__(self, positions: np.ndarray, box: np.ndarray, types: np.ndarray) -> np.ndarray:
        return np.asarray(self.predictor(positions, box, types).propensity, dtype=np.float64)


class ScoreMixture:
    """Per-particle probabilities (1 - w) / N + w softmax(z / T), z the standardised score.

    The uniform part keeps every particle possible, so a reverse move never has probability
    zero by choice alone; the last configuration's answer is cached (forward and reverse
    moves ask twice about the same configuration).

    Parameters
    ----------
    score : callable (positions, box, types) -> (N,), or None (uniform)
    types : array of int (N,)
    box : array (reduced) (3,) or None
    weight : float in [0, 1)
    temperature : float
        Softmax temperature, in units of the score's standard deviation over the particles.
    """

    def __init__(self, score: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None, types: np.ndarray,
                 box: np.ndarray | None, weight: float = 0.8, temperature: float = 1.0) -> None:
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"score_weight must be in [0, 1); got {weight}")
        self.score, self.types, self.box = score, np.asarray(types), box
        self.weight, self.temperature = float(weight), float(temperature)
        self._cache: tuple[bytes, np.ndarray] | None = None

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        n = len(self.types)
        if self.score is None or self.weight == 0.0:
            return np.full(n, 1.0 / n)
        key = positions.tobytes()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        s = np.asarray(self.score(positions, self.box, self.types), dtype=np.float64)
        if s.shape != (n,) or not np.isfinite(s).all():
            raise ValueError(f"score returned shape {s.shape} or non-finite values; expected ({n},) finite")
        z = (s - s.mean()) / (s.std() + 1e-12) / self.temperature
        soft = np.exp(z - z.max())
        p = (1.0 - self.weight) / n + self.weight * soft / soft.sum()
        self._cache = (key, p)
        return p


class LocalMove(_Move):
    """A region around a centre chosen from the predicted propensity jumps; the rest stays.

    Parameters
    ----------
    model : ODEProposalModel
    types : array of int (N,)
    box : array (reduced) (3,) or None
    radius : float (reduced length)
        Particles closer than this (minimum image) to the centre move with it.
    score : callable (positions, box, types) -> (N,), optional
        Propensity-like score; None picks centres uniformly.
    score_weight : float in [0, 1)
        Weight of softmax(score / score_temperature) against uniform; the uniform part keeps
        every centre possible, so reverse moves never have probability zero by choice alone.
    score_temperature : float
        Softmax temperature, in units of the score's standard deviation over the particles.
    """

    kind = "local"

    def __init__(
        self,
        model: Any,
        types: np.ndarray,
        box: np.ndarray | None,
        radius: float = 1.2,
        score: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
        score_weight: float = 0.8,
        score_temperature: float = 1.0,
    ) -> None:
        super().__init__(model, types, box)
        if not radius > 0:
            raise ValueError(f"radius must be positive; got {radius}")
        self.radius, self.score, self.score_weight, self.score_temperature = float(radius), score, float(score_weight), float(score_temperature)
        self._mixture = ScoreMixture(score, self.types, self.box, score_weight, score_temperature)

    def centre_probabilities(self, positions: np.ndarray) -> np.ndarray:
        """p_c(x) (N,), summing to 1."""
        return self._mixture(positions)

    def region(self, positions: np.ndarray, centre: int) -> np.ndarray:
        delta = positions - positions[centre]
        if self.box is not None:
            delta = minimum_image(delta, self.box)
        return np.flatnonzero((delta * delta).sum(1) < self.radius**2)

    def choose_region(self, positions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.centre_probabilities(positions)
        return self.region(positions, int(rng.choice(len(p), p=p)))

    def region_log_prob(self, positions: np.ndarray, moved: np.ndarray) -> float:
        """log P(S | x): the total probability of centres whose region is exactly S."""
        p = self.centre_probabilities(positions)
        target = np.sort(moved)
        total = 0.0
        for c in target:  # a centre is always inside its own region
            if np.array_equal(self.region(positions, int(c)), target):
                total += p[c]
        return math.log(total) if total > 0 else -math.inf
