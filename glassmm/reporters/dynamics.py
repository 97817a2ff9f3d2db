"""The reporter's analysis of each frame: series against a reference, and the multiple-origin table.

Both go through :class:`glassmm.analysis.SelfDynamics` (one definition of MSD, F_s, Q, chi_4).
The multiple-origin averages live in a fixed table, one row per lag of the schedule
(:meth:`Schedule.lag_steps`), holding ``SelfDynamics.state()["block_sums"]`` (the accumulators
of each error-bar block), so a report stores one table per frame (bounded I/O) and a resumed
run loads the table of its last frame and continues bit for bit, error bars included.
"""

from __future__ import annotations

from collections import deque
from typing import Sequence

import numpy as np

from glassmm.analysis import SelfDynamics
from glassmm.analysis.base import select_species
from glassmm.reporters.schedule import Schedule


def accumulator_shape() -> tuple[int, int]:
    """(blocks, accumulators) of one lag in ``SelfDynamics.state()["block_sums"]`` (asked, not assumed)."""
    probe = SelfDynamics(species=None).accumulate(np.zeros((2, 3)), reference=np.zeros((2, 3)), time=1.0)
    return tuple(int(x) for x in probe.state()["block_sums"].shape[1:])


class FrameAnalysis:
    """Per-frame series and multiple-origin dynamics of a run's frames, fed in step order.

    Parameters
    ----------
    schedule : Schedule
    dt : float (reduced, tau)
        MD step, turning lag steps into lag times.
    types : array (N,)
    q, overlap_a, species, dimensions
        As :class:`~glassmm.analysis.SelfDynamics`.
    analyses : sequence of {"msd", "fs", "overlap"}
        Per-frame series kept.
    reference : {"start", "moving"}
        Per-frame series against the first frame or the previous one.
    max_origins : int
        Time origins kept (linear: frames; log: block starts).
    """

    def __init__(self, schedule: Schedule, dt: float, types: np.ndarray, q: float, overlap_a: float,
                 species: int | None, dimensions: int, analyses: Sequence[str], reference: str,
                 max_origins: int) -> None:
        self.schedule, self.types = schedule, np.asarray(types)
        self.params = dict(q=q, overlap_a=overlap_a, species=species, dimensions=dimensions)
        self.analyses, self.reference_kind = tuple(analyses), reference
        self.lag_steps = schedule.lag_steps(max_origins)
        self.lag_times = self.lag_steps * float(dt)
        self._row_of_step = {int(s): i for i, s in enumerate(self.lag_steps)}
        self._row_of_time = {round(float(t), 10): i for i, t in enumerate(self.lag_times)}
        self.shape = accumulator_shape()
        self.n_selected = int(select_species(self.types, len(self.types), species).sum())
        self.sd = SelfDynamics(**self.params)
        self.origins: deque[tuple[int, np.ndarray]] = deque(maxlen=int(max_origins))
        self.reference: np.ndarray | None = None
        self.previous: np.ndarray | None = None

    # ------------------------------------------------------------------ per frame
    def series(self, positions: np.ndarray) -> dict[str, float]:
        """MSD, F_s, Q of ``positions`` against the reference (the first frame, or the previous)."""
        if self.reference is None:
            self.reference = positions
        ref = self.reference if self.reference_kind == "start" or self.previous is None else self.previous
        one = SelfDynamics(**self.params).accumulate(positions, types=self.types, reference=ref, time=0.0)
        values = {"msd": float(one.msd[0]), "fs": float(one.fs[0]), "overlap": float(one.overlap[0])}
        return {k: values[k] for k in self.analyses}

    def add(self, step: int, positions: np.ndarray) -> np.ndarray:
        """Pair a frame with the origins at the table's lags, keep it if an origin; returns the table."""
        for o_step, o_pos in self.origins:
            if int(step) - o_step in self._row_of_step:
                self.sd.accumulate(positions, reference=o_pos, types=self.types,
                                   time=float(self.lag_times[self._row_of_step[int(step) - o_step]]))
        if self.schedule.is_origin(int(step)):
            self.origins.append((int(step), positions))
        self.previous = positions
        return self.table()

    def table(self) -> np.ndarray:
        """The accumulators (L, blocks, C), one row per lag of :attr:`lag_steps` (zeros where no sample yet)."""
        out = np.zeros((len(self.lag_steps), *self.shape))
        state = self.sd.state()
        for t, rows in zip(state["times"], state["block_sums"]):
            out[self._row_of_time[round(float(t), 10)]] = rows
        return out

    # ------------------------------------------------------------------ resume
    def restore(self, table: np.ndarray, frames: Sequence[tuple[int, np.ndarray]], reference: np.ndarray) -> None:
        """Continue from a stored table and the frames before it (step, positions), oldest first."""
        table = np.asarray(table, dtype=np.float64)
        sums = table.sum(axis=1)
        filled = sums[:, 0] > 0
        self.sd.load_state(times=self.lag_times[filled], sums=sums[filled], n_selected=self.n_selected,
                           block_sums=table[filled])
        self.origins.clear()
        for step, pos in frames:
            if self.schedule.is_origin(int(step)):
                self.origins.append((int(step), pos))
        self.reference = reference
        self.previous = frames[-1][1] if len(frames) else None


def dynamics_from_table(lag_times: np.ndarray, table: np.ndarray, n_selected: int, **params) -> SelfDynamics | None:
    """A SelfDynamics holding a stored table's lags with samples (None when there are none yet)."""
    table = np.asarray(table, dtype=np.float64)
    sums = table.sum(axis=1)
    filled = sums[:, 0] > 0
    if not filled.any():
        return None
    return SelfDynamics(n_blocks=table.shape[1], **params).load_state(
        times=np.asarray(lag_times)[filled], sums=sums[filled], n_selected=n_selected, block_sums=table[filled])
