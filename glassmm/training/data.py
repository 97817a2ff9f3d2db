"""Training samples from BOTAN npz files, glassmm isoconfigurational files and GlassBench keys.

A sample is one configuration with its isoconfigurational replicas: thermal positions (TS),
inherent positions (IS, from the file's ``initial_positions_inherent`` or quenched here with
FIRE and cached), cage-state positions (CS, from ``initial_positions_cage`` or computed by
:mod:`glassmm.cage` and cached), the node target (propensity) and the replica positions from which edge
targets (mean change of pair distance) are gathered for whatever graph the model builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from glassmm.analysis.propensity import propensity
from glassmm.geometry import minimum_image
from glassmm.io import load_configuration
from glassmm.structures import input_kinds, structures_for


@dataclass
class Sample:
    name: str
    positions: torch.Tensor  # (N, 3) TS
    inherent: torch.Tensor | None  # (N, 3) IS
    box: torch.Tensor  # (3,)
    types: torch.Tensor  # (N,)
    propensity: torch.Tensor  # (N,)
    replicas: torch.Tensor  # (R, N, 3) positions at the target time
    temperature: float | None
    cage: torch.Tensor | None = None  # (N, 3) CS

    def model_inputs(self, inputs: str) -> tuple:
        """(positions, box, types, inherent or None, cage or None), float32, for a model reading ``inputs``.

        Raises ValueError naming the sample when a structure the inputs need is missing.
        """
        kinds = input_kinds(inputs)
        for kind, arr, what in (("IS", self.inherent, "inherent structures"), ("CS", self.cage, "cage states")):
            if kind in kinds and arr is None:
                raise ValueError(f"{self.name}: inputs {inputs} need {what}")
        return (self.positions.float(), self.box.float(), self.types,
                self.inherent.float() if "IS" in kinds else None, self.cage.float() if "CS" in kinds else None)

    @property
    def n_particles(self) -> int:
        return int(self.positions.shape[0])

    def edge_targets(self, edge_index: torch.Tensor) -> torch.Tensor:
        """Mean over replicas of |r_ij(t)| - |r_ij(0)| (minimum image) for the given edges."""
        j, i = edge_index[0], edge_index[1]
        d0 = minimum_image(self.positions[j] - self.positions[i], self.box).norm(dim=1)
        dt = minimum_image(self.replicas[:, j] - self.replicas[:, i], self.box).norm(dim=2)
        return (dt - d0).mean(dim=0)


def load_samples(
    files: Sequence[str | Path],
    need_inherent: bool = False,
    progress: bool = True,
    temperature: float | None = None,
    need_cage: bool = False,
    cage: dict | None = None,
) -> list[Sample]:
    """Read training samples; compute (and cache) inherent structures and cage states when needed.

    ``temperature`` (reduced) is used for files that carry none (the shared BOTAN files);
    ``cage`` holds :class:`glassmm.cage.CageParameters` fields other than the temperature
    (the cage state is computed at each file's temperature).
    """
    out = []
    it = files
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(files, desc="loading", unit="file")
    for f in it:
        c = load_configuration(f)
        reps = c.replica_positions
        if reps is None:
            raise ValueError(f"{f}: no replica 'positions' in the file: not a training file")
        reps = np.asarray(reps)
        temp = c.temperature if c.temperature is not None else temperature
        # the smallest inputs string naming what is needed: structures_for computes exactly that
        inputs = "+".join(k for k, need in (("IS", need_inherent), ("CS", need_cage)) if need) or "TS"
        try:
            st = structures_for(inputs, c.positions, c.types, c.box, temperature=temp,
                                inherent=c.inherent_positions, cage=c.cage_positions, metadata={"cage": cage or {}})
        except ValueError as exc:  # name the file (e.g. one without a temperature for its cage state)
            raise ValueError(f"{f}: {exc}") from None
        inh = st.inherent if st.inherent is not None else c.inherent_positions
        out.append(
            Sample(
                name=Path(f).name,
                positions=torch.tensor(c.positions),
                inherent=None if inh is None else torch.tensor(np.asarray(inh)),
                box=torch.tensor(c.box),
                types=torch.tensor(c.types.astype(np.int64)),
                propensity=torch.tensor(propensity(c.positions, reps)),
                replicas=torch.tensor(reps),
                temperature=temp,
                cage=None if st.cage is None else torch.tensor(st.cage),
            )
        )
    return out


def cube_symmetry(sample: Sample, rng: np.random.Generator) -> Sample:
    """Apply one of the 48 symmetries of the cube (axis permutation and reflections).

    Only valid for cubic boxes; targets (displacement magnitudes, pair distances) are invariant.
    """
    if not torch.allclose(sample.box, sample.box[0].expand(3)):
        return sample
    perm = torch.tensor(rng.permutation(3))
    sign = torch.tensor(rng.choice([-1.0, 1.0], 3), dtype=sample.positions.dtype)

    def tr(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else x[..., perm] * sign

    return Sample(sample.name, tr(sample.positions), tr(sample.inherent), sample.box, sample.types,
                  sample.propensity, tr(sample.replicas), sample.temperature, tr(sample.cage))
