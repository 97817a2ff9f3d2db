"""Geometry of a periodic rectangular box: the one place for minimum images, dimensions,
degrees of freedom and centre-of-mass drift.

Every function takes reduced LJ units (see :mod:`glassmm.units`) and works on numpy arrays;
:func:`minimum_image` also works on torch tensors, inside TorchScript too (its arguments
carry no annotation, which TorchScript reads as ``Tensor``), so models and analyses share it.

2D Kob-Andersen systems live in the z = 0 plane of a 3D box (OpenMM has no 2D), so the
dimension of a configuration is read off its z coordinates by :func:`infer_dimensions`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: |z| below this for every particle makes a planar (2D) configuration (reduced length).
PLANAR_TOLERANCE = 1e-8


def minimum_image(delta, box):
    """Minimum-image separation vectors in a rectangular periodic box.

    Parameters
    ----------
    delta : ndarray or Tensor (reduced) (..., 3)
        Separation vectors r_j - r_i, any periodic image.
    box : ndarray or Tensor (reduced) (3,)
        Box edge lengths; broadcasts against ``delta``.

    Returns
    -------
    ndarray or Tensor (reduced) (..., 3)
        ``delta`` shifted by whole box edges so that each component lies in [-L/2, L/2].
    """
    return delta - box * (delta / box).round()


def infer_dimensions(positions: Any) -> int:
    """2 when every particle sits in the z = 0 plane (glassmm's 2D systems), else 3.

    The plane is z = 0, not "any common z": a few particles of a 3D system can share a z
    (two atoms on a line, a lattice layer), and :class:`glassmm.KobAndersen` puts 2D systems
    at z = 0 and refuses others.

    Parameters
    ----------
    positions : array (reduced) (N, 3)

    Returns
    -------
    int
    """
    z = np.asarray(positions, dtype=np.float64)[:, 2]
    return 2 if len(z) and float(np.max(np.abs(z))) <= PLANAR_TOLERANCE else 3


def degrees_of_freedom(n_particles: int, dimensions: int = 3, momentum_conserved: bool = True,
                       n_constraints: int = 0) -> int:
    """Kinetic degrees of freedom of ``n_particles`` point particles.

    Parameters
    ----------
    n_particles : int
    dimensions : int
        2 or 3: the directions particles move in.
    momentum_conserved : bool
        The total momentum is fixed (zeroed at the start and conserved by NVE, Nose-Hoover or
        a momentum remover), which removes ``dimensions`` degrees of freedom. Langevin
        dynamics does not conserve it, but glassmm starts every run at zero momentum and
        reports T_kin with the same count everywhere, so this defaults to True.
    n_constraints : int
        Holonomic constraints (none in KA).

    Returns
    -------
    int
    """
    if dimensions not in (2, 3):
        raise ValueError(f"dimensions must be 2 or 3; got {dimensions}")
    dof = dimensions * int(n_particles) - int(n_constraints) - (dimensions if momentum_conserved else 0)
    if dof <= 0:
        raise ValueError(f"{n_particles} particles in {dimensions}D have no kinetic degrees of freedom left")
    return dof


def kinetic_temperature(velocities: Any, masses: Any = 1.0, dimensions: int | None = None,
                        dof: int | None = None) -> float:
    """Instantaneous kinetic temperature (reduced), 2 K / dof.

    Parameters
    ----------
    velocities : array (reduced, sigma/tau) (N, 3)
    masses : float or array (reduced) (N,)
    dimensions : int, optional
        Default: inferred from the velocities (zero z velocities mean 2D).
    dof : int, optional
        Default: :func:`degrees_of_freedom` with the total momentum conserved.
    """
    v = np.asarray(velocities, dtype=np.float64)
    m = np.broadcast_to(np.asarray(masses, dtype=np.float64), (len(v),))
    if dof is None:
        dims = dimensions if dimensions is not None else (2 if not np.any(v[:, 2]) else 3)
        dof = degrees_of_freedom(len(v), dims)
    return float(np.einsum("i,ij,ij->", m, v, v) / dof)


def remove_drift(positions: Any, reference: Any) -> np.ndarray:
    """Positions with the centre-of-mass displacement since ``reference`` subtracted.

    A drifting centre of mass (momentum left by a thermostat, or Langevin's own random walk)
    shifts every particle alike and decays F_s(q, t) spuriously; it shortened tau_alpha 3.7x
    at T = 0.65 before it was removed. Equal masses (KA).

    Parameters
    ----------
    positions : array (reduced) (..., N, 3)
        One frame or a stack of frames (unwrapped).
    reference : array (reduced) (N, 3)
        The frame whose centre of mass is kept.

    Returns
    -------
    ndarray (reduced), the shape of ``positions``
    """
    pos = np.asarray(positions, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if pos.shape[-2:] != ref.shape:
        raise ValueError(f"positions {pos.shape} do not match the reference {ref.shape}")
    return ref + subtract_drift(pos - ref)


def subtract_drift(displacements: Any) -> np.ndarray:
    """Displacements (reduced) (..., N, 3) minus their mean over the particles (equal masses).

    The one place the centre-of-mass drift is taken out; :func:`remove_drift` and the
    analysis objects use it.
    """
    d = np.asarray(displacements, dtype=np.float64)
    return d - d.mean(axis=-2, keepdims=True)


def zero_momentum(velocities: Any, masses: Any = 1.0) -> np.ndarray:
    """Velocities (reduced) with the total momentum removed (the centre of mass at rest)."""
    v = np.asarray(velocities, dtype=np.float64)
    m = np.broadcast_to(np.asarray(masses, dtype=np.float64), (len(v),))[:, None]
    return v - (m * v).sum(axis=0) / m.sum()


def is_wrapped(frames: Any, box: Any) -> bool:
    """True when consecutive frames (F, N, 3) jump by more than half a box edge somewhere.

    No particle crosses half the box between two frames of a sensible trajectory, so such a
    jump is a wrap into the box, which breaks displacements (MSD 9.96 instead of 1.12).
    """
    f = np.asarray(frames, dtype=np.float64)
    if len(f) < 2:
        return False
    b = np.asarray(box, dtype=np.float64)[: f.shape[-1]]
    return bool(np.any(np.abs(np.diff(f, axis=0)) > b / 2))


def unwrap(frames: Any, box: Any) -> np.ndarray:
    """Undo wrapping: accumulate the minimum-image displacement between consecutive frames."""
    f = np.asarray(frames, dtype=np.float64)
    steps = minimum_image(np.diff(f, axis=0), np.asarray(box, dtype=np.float64))
    return np.concatenate([f[:1], f[:1] + np.cumsum(steps, axis=0)])
