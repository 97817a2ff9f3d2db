"""Equilibrated starts, checked: MD until the run spans a number of its own drift-free tau_alpha.

Dynamics measured from a start that has not forgotten its quench age as they are measured, so
every benchmark of the samplers starts from a state that has run for ``n_tau_alpha`` (>= 10)
relaxation times, with tau_alpha measured on that very run: the time at which the drift-free
self-overlap Q of the A particles (a = 0.3) falls to 1/e, from the second half of the run
(the first half is the transient). The two quarters of that half give two more estimates;
when they differ by more than ``aging_tolerance`` the liquid is still ageing, and the run goes
on (up to ``max_tau``). Everything is reduced LJ (tau, sigma).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from glassmm import units
from glassmm.analysis.decorrelation import crossing_time, overlap_vs_lag


@dataclass
class Equilibration:
    """What an equilibration run measured (reduced: tau)."""

    tau_alpha: float  # from the run's second half; nan when Q never reached 1/e there
    tau_alpha_third_quarter: float
    tau_alpha_fourth_quarter: float
    run_tau: float
    n_tau_alpha: float  # run_tau / tau_alpha
    target_n_tau_alpha: float
    reached: bool
    frame_tau: float
    wall_s: float

    def as_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}

    def line(self) -> str:
        """One line for a log: what was run and whether it counts as equilibrated."""
        return (f"equilibrated {self.run_tau:.4g} tau = {self.n_tau_alpha:.3g} tau_alpha (target {self.target_n_tau_alpha:g}; "
                f"tau_alpha {self.tau_alpha:.3g} tau from the second half, {self.tau_alpha_third_quarter:.3g} / "
                f"{self.tau_alpha_fourth_quarter:.3g} from its quarters) in {self.wall_s:.0f} s"
                + ("" if self.reached else " -- NOT REACHED within max_tau"))


def tau_alpha_of(frames: np.ndarray, frame_tau: float, types: np.ndarray, species: int | None = 0, a: float = 0.3,
                 n_lags: int = 60) -> float:
    """1/e time (tau) of the drift-free overlap over frames spaced ``frame_tau``, lags up to half the window; nan if none."""
    n = len(frames)
    if n < 4:
        return math.nan
    lags = np.unique(np.round(np.geomspace(1, max(1, (n - 1) // 2), n_lags)).astype(int))
    lags = np.concatenate([[0], lags])
    q = overlap_vs_lag(frames, a, types=types, species=species, lags=lags)
    t = crossing_time(lags * frame_tau, q)
    return t if math.isfinite(t) else math.nan


def equilibrate(simulation: Any, types: np.ndarray, n_tau_alpha: float = 10.0, min_tau: float = 10.0,
                max_tau: float = 1e5, frame_tau: float = 0.1, max_frames: int = 4000, species: int | None = 0,
                aging_tolerance: float = 0.5, progress: bool = True) -> Equilibration:
    """Run ``simulation`` until it has spanned ``n_tau_alpha`` of its own tau_alpha (see the module).

    Parameters
    ----------
    simulation : openmm.app.Simulation
        At the target temperature (its integrator canonical); advanced in place.
    types : array of int (N,)
    n_tau_alpha : float
    min_tau, max_tau : float (tau)
        Shortest run; longest run (stops there with ``reached`` False).
    frame_tau : float (tau)
        First frame spacing; doubled (every other frame dropped) whenever ``max_frames`` is reached.
    species : int or None
        Whose overlap measures tau_alpha (0 = A).
    aging_tolerance : float
        Largest relative difference of the two quarters' tau_alpha that counts as stationary.
    """
    from tqdm.auto import tqdm

    from glassmm.simulation import get_positions

    dt = units.as_reduced_time(simulation.integrator.getStepSize())
    max_frames = max(8, 2 * (int(max_frames) // 2))
    steps = max(1, int(round(frame_tau / dt)))
    frames = [get_positions(simulation.context).astype(np.float32)]
    run_steps, next_check = 0, min_tau
    t0 = time.perf_counter()
    result = None
    bar = tqdm(total=None, desc="equilibrating (tau)", disable=not progress, unit="tau")
    try:
        while True:
            simulation.step(steps)
            run_steps += steps
            frames.append(get_positions(simulation.context).astype(np.float32))
            if len(frames) > max_frames:  # keep the run's span, halve its resolution (max_frames even: the newest frame stays)
                frames, steps = frames[::2], 2 * steps
            run_tau = run_steps * dt
            bar.update(steps * dt)
            if run_tau < next_check and run_tau < max_tau:
                continue
            next_check = run_tau * 1.1
            spacing = steps * dt
            half = np.asarray(frames[len(frames) // 2:])
            tau = tau_alpha_of(half, spacing, types, species)
            q3 = tau_alpha_of(half[: len(half) // 2 + 1], spacing, types, species)
            q4 = tau_alpha_of(half[len(half) // 2:], spacing, types, species)
            stationary = all(math.isfinite(v) for v in (q3, q4)) and abs(q3 - q4) <= aging_tolerance * max(q3, q4)
            done = math.isfinite(tau) and run_tau >= n_tau_alpha * tau and run_tau >= min_tau and stationary
            bar.set_postfix(tau_alpha=f"{tau:.3g}", n=f"{run_tau / tau if math.isfinite(tau) else 0:.2g}")
            if done or run_tau >= max_tau:
                result = Equilibration(tau, q3, q4, run_tau, run_tau / tau if math.isfinite(tau) else 0.0, n_tau_alpha,
                                       bool(done), spacing, time.perf_counter() - t0)
                break
    finally:
        bar.close()
    return result
