"""Independent references for physics tests: nothing here imports glassmm's force code."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

# Kob & Andersen 1995 parameters typed out again on purpose (not imported from glassmm).
EPS = {(0, 0): 1.0, (0, 1): 1.5, (1, 0): 1.5, (1, 1): 0.5}
SIG = {(0, 0): 1.0, (0, 1): 0.8, (1, 0): 0.8, (1, 1): 0.88}


def lj_shifted(r, eps, sig, rc_factor=2.5):
    rc = rc_factor * sig
    u = 4 * eps * ((sig / r) ** 12 - (sig / r) ** 6)
    uc = 4 * eps * ((sig / rc) ** 12 - (sig / rc) ** 6)
    return np.where(r < rc, u - uc, 0.0)


def pair_sum_energy(positions, types, box):
    """Total KA energy by an explicit minimum-image pair sum over a scipy k-d tree."""
    pos = np.mod(positions, box)
    tree = cKDTree(pos, boxsize=box)
    pairs = tree.query_pairs(2.5 * 1.0 + 1e-9, output_type="ndarray")
    d = pos[pairs[:, 0]] - pos[pairs[:, 1]]
    d -= box * np.round(d / box)
    r = np.linalg.norm(d, axis=1)
    ti, tj = types[pairs[:, 0]], types[pairs[:, 1]]
    total = 0.0
    for (a, b), eps in EPS.items():
        if a > b:
            continue
        m = ((ti == a) & (tj == b)) | ((ti == b) & (tj == a))
        total += lj_shifted(r[m], eps, SIG[(a, b)]).sum()
    return total
