"""When a GlassReporter reports, which reports are time origins, and which lags its dynamics table holds.

``linear``: a report every ``interval`` steps (at multiples of it); every report is a time
origin; lags are 1, 2, ..., ``max_origins`` intervals, so lag j averages over every pair of
reports j intervals apart.

``log``: linear origins under a log frame schedule. Time is cut into blocks of
``interval * 10**block_decades`` steps, starting at the first report; each block starts with a
time origin and reports at ``round(interval * 10**(k / points_per_decade))`` steps after it,
so short lags are resolved. Lags are those in-block offsets (one sample per block each) and
whole blocks, 1 ... ``max_origins`` (pairs of origins). Every lag is exact and gains a sample
per block; pairs of reports at other lags are not used, since those lags are each met once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

KINDS = ("linear", "log")


@dataclass
class Schedule:
    """A report schedule (steps).

    Parameters
    ----------
    kind : {"linear", "log"}
    interval : int
        Steps between reports (linear), or the first in-block lag (log).
    start : int
        Step the schedule is anchored at (the run's step at its first report request); the log
        schedule's first block starts at ``start + interval``.
    points_per_decade : int
    block_decades : int
        Log schedule: a block spans ``interval * 10**block_decades`` steps.
    """

    kind: str
    interval: int
    start: int = 0
    points_per_decade: int = 10
    block_decades: int = 2

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"schedule must be 'linear' or 'log'; got {self.kind!r}")
        if int(self.interval) <= 0:
            raise ValueError(f"reportInterval must be a positive number of steps; got {self.interval}")
        if int(self.points_per_decade) < 1:
            raise ValueError(f"points_per_decade must be at least 1; got {self.points_per_decade}")
        if int(self.block_decades) < 1:
            raise ValueError(f"block_decades must be at least 1; got {self.block_decades}")
        self.interval, self.start = int(self.interval), int(self.start)
        self.points_per_decade, self.block_decades = int(self.points_per_decade), int(self.block_decades)

    # ------------------------------------------------------------------ log blocks
    @property
    def block(self) -> int:
        """Steps per block of the log schedule."""
        return self.interval * 10**self.block_decades

    @property
    def anchor(self) -> int:
        """Step of the first origin (the first report) of the log schedule."""
        return self.start + self.interval

    @property
    def offsets(self) -> np.ndarray:
        """Report steps after each block's origin, 0 first (log schedule)."""
        k = np.arange(self.points_per_decade * self.block_decades + 1)
        lags = np.unique(np.round(self.interval * 10.0 ** (k / self.points_per_decade)).astype(np.int64))
        return np.concatenate([[0], lags[lags < self.block]])

    # ------------------------------------------------------------------ protocol
    def next_report(self, current: int) -> int:
        """The first report step after ``current``."""
        current = int(current)
        if self.kind == "linear":
            return current + self.interval - current % self.interval
        if current < self.anchor:
            return self.anchor
        origin = self.anchor + (current - self.anchor) // self.block * self.block
        later = origin + self.offsets
        later = later[later > current]
        return int(later[0]) if len(later) else origin + self.block

    def is_origin(self, step: int) -> bool:
        """Whether a report at ``step`` is a time origin of the multiple-origin dynamics."""
        if self.kind == "linear":
            return True
        return step >= self.anchor and (step - self.anchor) % self.block == 0

    def lag_steps(self, max_origins: int) -> np.ndarray:
        """The lags (steps) of the dynamics table, increasing."""
        m = np.arange(1, int(max_origins) + 1, dtype=np.int64)
        if self.kind == "linear":
            return m * self.interval
        return np.concatenate([self.offsets[1:], m * self.block])

    # ------------------------------------------------------------------ storage
    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "interval": self.interval, "start_step": self.start,
                           "points_per_decade": self.points_per_decade, "block_decades": self.block_decades})

    @classmethod
    def from_json(cls, text: str) -> "Schedule":
        d = json.loads(text)
        return cls(d["kind"], d["interval"], d.get("start_step") or 0, d.get("points_per_decade", 10),
                   d.get("block_decades", 2))
