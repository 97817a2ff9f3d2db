"""Energy changes of moves that displace a few particles, from the pair table alone.

A region move of k = 8 particles changes only the pairs that involve them, yet evaluating it
through the OpenMM context costs two ``setPositions`` of all N particles and one full energy
evaluation (O(N), more than an MD step on the CPU). Here the change is summed over the moved
particles' pairs only:

    dU = sum_{i in M, j not in M} [phi(r'_ij) - phi(r_ij)] + sum_{i < j in M} [phi(r'_ij) - phi(r_ij)],

with phi from :class:`glassmm.potentials.PairTable`. It is O(k N) numpy with a small constant
(a distance to every particle, no neighbour list to keep). Measured with
``benchmarks/sampler_speedup.py --attempt-cost`` (one harmonic k = 8 attempt, AMD EPYC, shared
cores): against the compiled pair force's context it is *slower* (17.4 vs 9.8 ms at N = 500,
63 vs 33 ms at N = 4096), so region moves use it by default only with the
``CustomNonbondedForce`` fallback.

It is exact only when the system's energy *is* the table's pair sum (no other force with an
energy), which :meth:`LocalEnergy.matches` checks against the context once, at set-up.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassmm.geometry import minimum_image
from glassmm.potentials import PairTable

#: relative agreement of the table's total energy with the context's that counts as "the same
#: potential" (the CPU platform's single-precision pair sums agree to ~1e-7 relative)
MATCH_RTOL = 1e-5


class LocalEnergy:
    """Energy changes (reduced) of a pair-table system when a subset of particles moves.

    Parameters
    ----------
    table : PairTable
    types : array of int (N,)
    box : array (reduced) (3,) or None
        Rectangular periodic box; None for an open system.
    """

    def __init__(self, table: PairTable, types: np.ndarray, box: np.ndarray | None) -> None:
        self.table = table
        self.types = table.validate_types(types).astype(np.int64)
        self.box = None if box is None else np.asarray(box, dtype=np.float64)
        self._rc2 = table.max_cutoff**2

    def _moved_energy(self, rows: np.ndarray, x: np.ndarray) -> float:
        """Sum of phi over every pair with at least one particle in ``rows`` (each pair once)."""
        d = x[rows][:, None, :] - x[None, :, :]
        if self.box is not None:
            d = minimum_image(d, self.box)
        r2 = np.einsum("knd,knd->kn", d, d)
        r2[np.arange(len(rows)), rows] = np.inf  # no self pair
        a, j = np.nonzero(r2 < self._rc2)  # the table only where some pair can interact
        e = self.table.energy(np.sqrt(r2[a, j]), self.types[rows[a]], self.types[j])
        inner = np.isin(j, rows)  # pairs inside the moved set appear twice in the k x N block
        return float(e.sum()) - 0.5 * float(e[inner].sum())

    def delta(self, x_old: np.ndarray, x_new: np.ndarray, moved: np.ndarray) -> float:
        """U(x_new) - U(x_old) (reduced) where x_new differs from x_old at ``moved`` only.

        Parameters
        ----------
        x_old, x_new : array (reduced) (N, 3)
        moved : array of int (k,)
            Distinct indices of the particles that moved (others must be equal in both).
        """
        moved = np.asarray(moved, dtype=np.int64)
        if len(moved) == 0:
            return 0.0
        x_new = np.asarray(x_new, dtype=np.float64)
        x_old = np.asarray(x_old, dtype=np.float64)
        return self._moved_energy(moved, x_new) - self._moved_energy(moved, x_old)

    def total(self, x: np.ndarray) -> float:
        """U(x) (reduced) by the table's direct pair sum."""
        return self.table.total_energy(x, self.types, self.box)

    def matches(self, context: Any, x: np.ndarray | None = None) -> tuple[bool, str]:
        """Whether ``context``'s potential energy is this table's pair sum (checked at its positions).

        Returns (True, '') or (False, why). O(N^2) once; call it at set-up, not per move.
        """
        from glassmm.simulation import get_positions, potential_energy

        if x is None:
            x = get_positions(context)
        if len(x) != len(self.types):
            return False, f"the context has {len(x)} particles; the move's types {len(self.types)}"
        e_ctx = potential_energy(context)
        e_tab = self.total(x)
        if abs(e_ctx - e_tab) <= MATCH_RTOL * max(1.0, abs(e_ctx)):
            return True, ""
        return False, (f"the context's potential energy {e_ctx:.6g} is not the {self.table.name} table's pair "
                       f"sum {e_tab:.6g} (reduced): the system has other forces or another table")

