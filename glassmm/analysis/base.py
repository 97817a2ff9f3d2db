"""The one calling convention of glassmm's analyses (after freud's and atooms' compute objects).

Every analysis is an object configured by its constructor, then fed:

* ``accumulate(positions, box=None, types=None, **per_sample)`` adds one frame or sample;
* ``compute(frames, box=None, types=None, **per_frame)`` resets and processes a whole
  trajectory (``per_frame`` sequences are zipped with the frames);

after which results are attributes (``.g``, ``.fs``, ``.s4``, ...), ``as_dict()`` gives them
JSON-ready and ``plot(path)`` draws them (matplotlib imported only then). Positions are
unwrapped, in reduced units; ``box`` is the rectangular box (3,) and ``types`` 0 = A, 1 = B.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


class ComputeObject:
    """Base of the analyses: the shared ``compute`` loop over ``accumulate``."""

    def reset(self) -> "ComputeObject":
        """Forget every accumulated sample."""
        raise NotImplementedError

    def accumulate(self, positions: np.ndarray, box: np.ndarray | None = None, types: np.ndarray | None = None,
                   **per_sample: Any) -> "ComputeObject":
        """Add one frame (N, 3) or sample; returns self."""
        raise NotImplementedError

    def compute(self, frames: Sequence[np.ndarray] | np.ndarray, box: np.ndarray | None = None,
                types: np.ndarray | None = None, **per_frame: Sequence[Any]) -> "ComputeObject":
        """Reset, then accumulate every frame of ``frames`` (F, N, 3); returns self."""
        self.reset()
        for name, values in per_frame.items():
            if len(values) != len(frames):
                raise ValueError(f"{name} has {len(values)} entries for {len(frames)} frames")
        for k, frame in enumerate(frames):
            self.accumulate(frame, box, types, **{name: values[k] for name, values in per_frame.items()})
        return self


def select_species(types: np.ndarray | None, n: int, species: int | None) -> np.ndarray:
    """Boolean mask of the particles of ``species`` (all when None)."""
    if species is None:
        return np.ones(n, dtype=bool)
    if types is None:
        raise ValueError("types are needed to select a species (or pass species=None)")
    types = np.asarray(types)
    if types.shape != (n,):
        raise ValueError(f"types has shape {types.shape} for {n} particles")
    return types == species
