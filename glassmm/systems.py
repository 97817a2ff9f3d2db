"""Kob-Andersen binary Lennard-Jones test systems for OpenMM.

In the style of openmmtools' ``TestSystem``: a factory object with ``.system``,
``.topology`` and ``.positions`` (OpenMM Quantities), plus the reduced-unit arrays
glassmm works with (``.types``, ``.box``, ``.positions_reduced``).

The potential (Kob & Andersen, PRE 51, 4626 (1995)) is the pair table
:data:`glassmm.potentials.KA` (3D, 80:20) or :data:`glassmm.potentials.KA2D` (2D, 65:35):

    U_ab(r) = 4 eps_ab [(sigma_ab/r)^12 - (sigma_ab/r)^6] - U_ab(rc_ab),  r < rc_ab = 2.5 sigma_ab,

with eps AA/AB/BB = 1/1.5/0.5 and sigma AA/AB/BB = 1/0.8/0.88, shifted to zero at each
pair's own cutoff. Nothing here writes the formula: the force is built from the table,
as the compiled ``glassmm-pairforce`` plugin when it loads or as the table's
``CustomNonbondedForce`` otherwise (``force=`` chooses).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import openmm
import openmm.app as app
import openmm.unit as u

from glassmm import geometry, potentials, units
from glassmm.platforms import choose_auto, get_platform

log = logging.getLogger("glassmm.systems")

#: The Kob-Andersen pair table (3D 80:20); the 2D system reads ``potentials.KA2D``, same pairs.
KA_TABLE = potentials.KA
#: (eps, sigma) for each unordered type pair; 0 = A, 1 = B (read from the table; kept for callers).
KA_PAIR_PARAMETERS: dict[tuple[int, int], tuple[float, float]] = {
    (a, b): (float(KA_TABLE.epsilon[a, b]), float(KA_TABLE.sigma[a, b])) for a, b in KA_TABLE.pairs()
}
#: Cutoff in units of sigma_ab (the same for every KA pair).
KA_CUTOFF_FACTOR = float(KA_TABLE.cutoff[0, 0] / KA_TABLE.sigma[0, 0])
#: Largest pair cutoff (AA), in sigma_AA.
KA_MAX_CUTOFF = KA_TABLE.max_cutoff
#: The KA table as a CustomNonbondedForce expression in the per-particle type ``t``.
KA_ENERGY_EXPRESSION = KA_TABLE.custom_nonbonded_expression()


def ka_pair_energy(r: np.ndarray | float, ti: int, tj: int) -> np.ndarray:
    """Shifted KA pair energy (reduced) from the table, for checks independent of OpenMM.

    Parameters
    ----------
    r : ndarray (reduced length, sigma_AA)
    ti, tj : int
        Particle types, 0 = A, 1 = B.

    Returns
    -------
    ndarray (reduced energy, epsilon_AA)
    """
    return KA_TABLE.energy(r, ti, tj)


def ka_pair_force(r: np.ndarray | float, ti: int, tj: int) -> np.ndarray:
    """KA pair force magnitude -dU/dr (reduced, positive = repulsive), from the table."""
    return KA_TABLE.force(r, ti, tj)


def make_ka_force(types: np.ndarray) -> openmm.CustomNonbondedForce:
    """The KA pair potential as a periodic-cutoff ``CustomNonbondedForce`` (neighbour list on)."""
    return KA_TABLE.custom_nonbonded_force(types)


#: ``force=`` choices of :class:`KobAndersen`.
FORCE_CHOICES = ("auto", "plugin", "custom")
PLUGIN_INSTALL_HINT = ("install it with `make install` (or `pip install --no-build-isolation plugins/glassmm-pairforce` "
                       "in glassmm's environment: it compiles against the installed openmm wheel)")
_force_announced = False


def pair_force_plugin() -> tuple[Any | None, str]:
    """The ``glassmm_pairforce`` module and a description, or None and why it did not load."""
    try:
        import glassmm_pairforce
    except ImportError as exc:
        return None, f"glassmm-pairforce is not installed ({exc})"
    except Exception as exc:  # a broken build: say what failed rather than crash every KA system
        return None, f"glassmm-pairforce did not load ({type(exc).__name__}: {exc})"
    return glassmm_pairforce, f"glassmm-pairforce {glassmm_pairforce.__version__}"


def make_pair_force(table: potentials.PairTable, types: np.ndarray, force: str = "auto",
                    name: str = "KobAndersen") -> tuple[openmm.Force, str, str]:
    """The table's OpenMM force: the compiled plugin or the ``CustomNonbondedForce`` fallback.

    Parameters
    ----------
    table : PairTable
    types : array of int (N,)
    force : ``"auto"`` (plugin when it loads), ``"plugin"`` or ``"custom"``
    name : str
        The force's name; glassmm finds its pair force by it.

    Returns
    -------
    (force, kind, why) : the OpenMM force, ``"plugin"`` or ``"custom"``, and the reason for the choice.

    Both kinds are ``CustomNonbondedForce`` objects to OpenMM's Python layer (the plugin's force
    subclasses it, with the table's expression as its energy function and the per-particle type
    ``t``), so code that reads types or rebuilds the expression works with either.
    """
    choice = str(force).strip().lower()
    if choice not in FORCE_CHOICES:
        raise ValueError(f"force must be one of {', '.join(FORCE_CHOICES)}; got {force!r}")
    if choice == "custom":
        return table.custom_nonbonded_force(types, name=name), "custom", "force='custom' asked for"
    if table.smoothed:
        if choice == "plugin":
            table.require_plain("force='plugin' (the compiled glassmm-pairforce plugin)")
        return (table.custom_nonbonded_force(types, name=name), "custom",
                f"table {table.name} is smoothed, which the compiled plugin does not implement")
    plugin, why = pair_force_plugin()
    if plugin is None:
        if choice == "plugin":
            raise RuntimeError(f"force='plugin' but {why}; {PLUGIN_INSTALL_HINT}")
        return table.custom_nonbonded_force(types, name=name), "custom", f"fallback: {why}"
    if choice == "auto":
        # The system will most likely run on the platform `auto` picks: the plugin must have a
        # kernel there (a GPU platform needs the plugin's library for it; CPU and Reference always do).
        try:
            target = choose_auto()[0]
        except RuntimeError:
            target = "CPU"
        if not plugin.platform_supported(target):
            return (table.custom_nonbonded_force(types, name=name), "custom",
                    f"fallback: {why} has no kernel for platform {target} (has: {', '.join(plugin.supported_platforms())})")
    return table.pair_table_force(types, name=name), "plugin", f"{why}, kernels for {', '.join(plugin.supported_platforms())}"


def _announce_force(kind: str, why: str) -> None:
    global _force_announced
    if _force_announced:
        return
    _force_announced = True
    msg = f"glassmm pair force: {kind} ({why})"
    log.info(msg)
    if os.environ.get("GLASSMM_QUIET", "") not in ("1", "true", "yes"):
        print(msg, file=sys.stderr)


def _validate_types(types: np.ndarray, n: int | None = None) -> np.ndarray:
    types = np.asarray(types)
    if types.ndim != 1:
        raise ValueError(f"types must be a 1-D array of 0 (A) / 1 (B); got shape {types.shape}")
    if n is not None and types.shape[0] != n:
        raise ValueError(f"types has {types.shape[0]} entries but there are {n} particles")
    if not np.all(np.isin(types, (0, 1))):
        bad = np.unique(types[~np.isin(types, (0, 1))])
        raise ValueError(f"types must be 0 (A) or 1 (B); found {bad[:5].tolist()}")
    return types.astype(np.int8)


def validate_positions(positions: np.ndarray, n: int | None = None, what: str = "positions") -> np.ndarray:
    """Check an (N, 3) finite float array; returns it as float64. Raises ValueError naming the problem."""
    arr = np.asarray(positions, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{what} must have shape (N, 3); got {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{what} has {arr.shape[0]} particles but the system has {n}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr).all(axis=1)))
        raise ValueError(f"{what} contain NaN or infinite values ({bad} particles affected)")
    return arr


@dataclass(frozen=True)
class _Composition:
    fraction_a: float
    dimensions: int


class KobAndersen:
    """Kob-Andersen binary LJ mixture as an OpenMM test system.

    Parameters
    ----------
    n_particles : int
        Number of particles N.
    density : float (reduced, particles / sigma_AA^d)
        Number density; ignored when ``box`` is given.
    dimensions : int
        3 (KA 80:20, default) or 2 (KA 65:35; particles move in the z = 0 plane).
    fraction_a : float, optional
        Fraction of A particles; default 0.8 in 3D and 0.65 in 2D.
    positions : ndarray (reduced), ``"lattice"`` or ``"random"``
        Starting configuration. ``"lattice"`` (default) places particles on a simple
        cubic/square lattice; ``"random"`` places them uniformly and removes overlaps
        with a soft-sphere minimisation.
    types : ndarray of int, optional
        0 = A, 1 = B per particle; default a seeded random assignment of the composition.
    box : array-like (reduced), optional
        Rectangular box edge lengths (3,). In 2D the z edge only needs to exceed twice the
        cutoff.
    seed : int
        Seed for type assignment and random positions (deterministic).
    table : PairTable or str, optional
        The pair table; default :data:`glassmm.potentials.KA` in 3D, ``KA2D`` in 2D. With more
        than two species the composition is the table's ``fractions`` and ``fraction_a`` must be None.
    force : ``"auto"``, ``"plugin"`` or ``"custom"``
        The OpenMM force: the compiled ``glassmm-pairforce`` plugin when it loads (``auto``,
        said once on stderr; ``GLASSMM_QUIET=1`` silences it) or the table's
        ``CustomNonbondedForce``. ``plugin`` without the plugin raises with the install hint.

    Attributes
    ----------
    system : openmm.System
    topology : openmm.app.Topology
    positions : Quantity (nm), ndarray (N, 3) inside
    types : ndarray of int8 (N,)
    box : ndarray (reduced) (3,)
    table : PairTable
    force_kind : str
        ``"plugin"`` or ``"custom"``: which force the system carries.
    force_reason : str
        Why that force was chosen.
    """

    def __init__(
        self,
        n_particles: int = 4096,
        density: float = 1.2,
        dimensions: int = 3,
        fraction_a: float | None = None,
        positions: np.ndarray | str = "lattice",
        types: np.ndarray | None = None,
        box: np.ndarray | None = None,
        seed: int = 0,
        table: potentials.PairTable | str | None = None,
        force: str = "auto",
    ) -> None:
        if dimensions not in (2, 3):
            raise ValueError(f"dimensions must be 2 or 3; got {dimensions}")
        n = int(n_particles)
        if n < 2:
            raise ValueError(f"n_particles must be at least 2; got {n_particles}")
        self.table = potentials.ka_table(dimensions) if table is None else potentials.get_table(table)
        if self.table.dimensions != dimensions:
            raise ValueError(f"table {self.table.name!r} is a {self.table.dimensions}D model; dimensions={dimensions}")
        if str(force).strip().lower() not in FORCE_CHOICES:
            raise ValueError(f"force must be one of {', '.join(FORCE_CHOICES)}; got {force!r}")
        self._force_choice = force
        binary = self.table.n_species == 2
        if fraction_a is None:
            fraction_a = self.table.fractions[0]
        elif not binary:
            raise ValueError(f"fraction_a is for two-species tables; table {self.table.name!r} has "
                             f"{self.table.n_species}: its composition is table.fractions")
        self.dimensions = dimensions
        self.n_particles = n
        rng = np.random.default_rng(seed)

        rc = self.table.max_cutoff
        if box is None:
            if not density > 0:
                raise ValueError(f"density must be positive; got {density}")
            edge = (n / density) ** (1.0 / dimensions)
            box = np.array([edge, edge, edge if dimensions == 3 else max(edge, 2.0 * rc + 1.0)])
        box = np.asarray(as_box(box), dtype=np.float64)
        if np.any(box[:dimensions] <= 2.0 * rc) or box[2] <= 2.0 * rc:
            raise ValueError(
                f"box {box.tolist()} too small: every edge must exceed twice the cutoff "
                f"({2 * rc} sigma) for a periodic cutoff; use more particles"
            )
        self.box = box

        if types is None:
            if binary:
                n_a = int(round(fraction_a * n))
                types = np.ones(n, dtype=np.int8)
                types[:n_a] = 0
            else:
                counts = np.floor(np.asarray(self.table.fractions) * n).astype(int)
                counts[0] += n - counts.sum()
                types = np.repeat(np.arange(self.table.n_species, dtype=np.int8), counts)
            rng.shuffle(types)
        self.types = _validate_types(types, n) if binary else self.table.validate_types(types, n)

        if isinstance(positions, str):
            if positions == "lattice":
                pos = _lattice(n, box, dimensions)
            elif positions == "random":
                pos = rng.uniform(0.0, 1.0, size=(n, 3)) * box
                if dimensions == 2:
                    pos[:, 2] = 0.0
                pos = remove_overlaps(pos, box, dimensions=dimensions)
            else:
                raise ValueError(f"positions must be an array, 'lattice' or 'random'; got {positions!r}")
        else:
            pos = validate_positions(positions, n)
            if dimensions == 2 and np.any(np.abs(pos[:, 2]) > 1e-9):
                raise ValueError("2D Kob-Andersen positions must have z = 0")
        self.positions_reduced = pos

        self.system = self._build_system()
        self.topology = self._build_topology()

    @classmethod
    def from_configuration(cls, config: "Configuration") -> "KobAndersen":  # noqa: F821
        """Build the system for a loaded :class:`glassmm.io.Configuration`."""
        dims = geometry.infer_dimensions(config.positions)
        return cls(
            n_particles=config.n_particles,
            positions=config.positions,
            types=config.types,
            box=config.box,
            dimensions=dims,
        )

    @property
    def positions(self) -> u.Quantity:
        """Positions as an OpenMM Quantity in nm."""
        return units.length_to_openmm(self.positions_reduced)

    @property
    def box_vectors(self) -> u.Quantity:
        """Rectangular periodic box vectors (a Quantity of three Vec3 in nm)."""
        return box_vectors(self.box)

    @property
    def density(self) -> float:
        """Number density (reduced), in the plane for 2D systems."""
        return self.n_particles / float(np.prod(self.box[: self.dimensions]))

    def _build_system(self) -> openmm.System:
        system = openmm.System()
        for _ in range(self.n_particles):
            system.addParticle(units.MASS)
        system.setDefaultPeriodicBoxVectors(*self.box_vectors)
        force, self.force_kind, self.force_reason = make_pair_force(self.table, self.types, self._force_choice)
        if str(self._force_choice).strip().lower() == "auto":
            _announce_force(self.force_kind, self.force_reason)
        system.addForce(force)
        return system

    def _build_topology(self) -> app.Topology:
        """One chain; each particle its own residue, named A or B (the species).

        Both species carry the element argon: LJ particles have no element, but with none
        OpenMM and mdtraj call them virtual sites of mass 0 (mdtraj's centre of mass and
        ``select("mass > 0")`` then break). One element for both keeps mdtraj's masses equal,
        as the simulation's are; the species is in the atom and residue names.
        """
        top = app.Topology()
        chain = top.addChain()
        names = self.table.species
        argon = app.element.argon
        for t in self.types:
            res = top.addResidue(names[t], chain)
            top.addAtom(names[t], argon, res)
        top.setPeriodicBoxVectors(self.box_vectors)
        return top

    def __repr__(self) -> str:
        counts = np.bincount(self.types, minlength=self.table.n_species)
        return (
            f"KobAndersen(N={self.n_particles}, {':'.join(self.table.species)}={':'.join(map(str, counts))}, "
            f"dimensions={self.dimensions}, box={np.round(self.box, 5).tolist()}, density={self.density:.4g})"
        )


def KobAndersen2D(n_particles: int = 1000, density: float = 1.2, **kwargs) -> KobAndersen:
    """2D Kob-Andersen 65:35 mixture (particles in the z = 0 plane)."""
    return KobAndersen(n_particles=n_particles, density=density, dimensions=2, **kwargs)


def as_box(box: np.ndarray | float) -> np.ndarray:
    """Box edge lengths (3,) from a scalar, (3,) or diagonal (3, 3) array (reduced)."""
    b = np.asarray(units.as_reduced_length(box), dtype=np.float64)
    if b.ndim == 0:
        b = np.full(3, float(b))
    elif b.shape == (3, 3):
        if np.any(np.abs(b - np.diag(np.diag(b))) > 1e-12):
            raise ValueError("glassmm supports rectangular boxes only (triclinic box given)")
        b = np.diag(b).copy()
    if b.shape != (3,):
        raise ValueError(f"box must be a scalar, (3,) or diagonal (3, 3); got shape {b.shape}")
    if not np.all(np.isfinite(b)) or np.any(b <= 0):
        raise ValueError(f"box edges must be positive and finite; got {b.tolist()}")
    return b


def box_vectors(box: np.ndarray) -> u.Quantity:
    """Rectangular periodic box vectors for box edges (reduced) (3,).

    One Quantity wrapping three ``Vec3`` (nm), the form ``Topology.getPeriodicBoxVectors``
    returns and ``app.PDBReporter`` / ``PDBxReporter`` / ``PDBFile.writeFile`` read (a tuple of
    three Quantities makes them fail); it unpacks into ``setPeriodicBoxVectors(*vectors)``.
    """
    a, b, c = (float(units.length_to_openmm(float(x)) / u.nanometer) for x in as_box(box))
    return u.Quantity((openmm.Vec3(a, 0, 0), openmm.Vec3(0, b, 0), openmm.Vec3(0, 0, c)), u.nanometer)


def remove_overlaps(
    positions: np.ndarray, box: np.ndarray, dimensions: int = 3, diameter: float = 0.85
) -> np.ndarray:
    """Push apart overlapping particles with a soft harmonic repulsion, minimised in OpenMM.

    The soft potential k (d - r)^2 for r < d is finite at r = 0, so random starts cannot
    blow up the way a bare r^-12 does.

    Parameters
    ----------
    positions : ndarray (reduced) (N, 3)
    box : ndarray (reduced) (3,)
    dimensions : int
        2 puts the result back in the z = 0 plane.
    diameter : float (reduced length)
        Pairs closer than this repel.

    Returns
    -------
    ndarray (reduced) (N, 3)
    """
    pos = validate_positions(positions)
    system = openmm.System()
    for _ in range(len(pos)):
        system.addParticle(units.MASS)
    # k = 100 epsilon / sigma^2; r in the expression is in nm = sigma
    force = openmm.CustomNonbondedForce(f"100*step({diameter}-r)*({diameter}-r)^2")
    force.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffPeriodic)
    force.setCutoffDistance(units.length_to_openmm(max(diameter, 1.0)))
    for _ in range(len(pos)):
        force.addParticle([])
    system.addForce(force)
    system.setDefaultPeriodicBoxVectors(*box_vectors(box))
    # Reference (double precision, serial) so the same seed gives the same start bit for bit;
    # the threaded CPU platform does not (measured: differences of 1e-7 between runs).
    plat, props = get_platform("Reference")
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), plat, props)
    ctx.setPositions(units.length_to_openmm(pos))
    openmm.LocalEnergyMinimizer.minimize(ctx, 1e-3, 2000)
    out = units.positions_from_openmm(ctx.getState(positions=True).getPositions(asNumpy=True))
    if dimensions == 2:
        out[:, 2] = 0.0
    return out


def _lattice(n: int, box: np.ndarray, dimensions: int) -> np.ndarray:
    """First n sites of a simple cubic (3D) or square (2D) lattice filling the box."""
    per_side = int(np.ceil(n ** (1.0 / dimensions) - 1e-9))
    grid = np.stack(
        np.meshgrid(*[np.arange(per_side)] * dimensions, indexing="ij"), axis=-1
    ).reshape(-1, dimensions)[:n]
    pos = np.zeros((n, 3))
    pos[:, :dimensions] = (grid + 0.5) * (box[:dimensions] / per_side)
    return pos
