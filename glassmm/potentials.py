"""Species-pair tables: the one definition of glassmm's pair potentials.

Every glass-former glassmm simulates is a multi-species Lennard-Jones mixture,

    U_ab(r) = 4 eps_ab [(sigma_ab / r)^12 - (sigma_ab / r)^6] - shift_ab,   r < rc_ab,
    U_ab(r) = 0,                                                            r >= rc_ab,

with one row per unordered pair of species (a, b): epsilon, sigma, cutoff and shift, where
shift_ab = 4 eps_ab [(sigma_ab / rc_ab)^12 - (sigma_ab / rc_ab)^6] for a pair shifted to zero at
its cutoff and 0 for a truncated one. A table may instead be *smoothed*: the bracket gains
C0 + C2 (r / sigma_ab)^2 + C4 (r / sigma_ab)^4 with table-wide constants chosen so that U, U' and
U'' all vanish at the cutoff (the 2D ternary model of Jung, Biroli & Berthier); its shifts are 0. A :class:`PairTable` holds those rows; the OpenMM forces
(the compiled ``glassmm-pairforce`` plugin or the :func:`PairTable.custom_nonbonded_force`
fallback), the LAMMPS reference, the local energies of Monte Carlo moves and the models'
features all read it, so adding a model is a new table, not new formulas.

Reduced LJ units throughout (sigma_AA, epsilon_AA); :mod:`glassmm.units` maps them onto OpenMM.
Species are integer types 0 .. S-1 in the order of ``PairTable.species``.

Tables
------
``KA``     Kob & Andersen, PRE 51, 4626 (1995): A:B = 80:20 in 3D, eps AA/AB/BB = 1/1.5/0.5,
           sigma AA/AB/BB = 1/0.8/0.88, rc_ab = 2.5 sigma_ab, shifted.
``KA2D``   The same pairs at A:B = 65:35 in 2D (the usual 2D KA composition, which does not
           crystallise the way 80:20 does in 2D).
``KA2``    Parmar, Ozawa & Berthier, PRL 125, 085505 (2020): a slot. Its parameters could not be
           pinned from a stored source when this table was written, so it refuses to be used
           rather than carry numbers from memory.
``TERNARY2D``  The 2D ternary glass-former of Jung, Biroli & Berthier (MLST 5, 035053 (2024)): the
           KA pairs plus a species C of intermediate size, smoothed at 2.5 sigma_ab (see :data:`TERNARY2D`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from glassmm import geometry, units


@dataclass(frozen=True)
class PairTable:
    """A multi-species Lennard-Jones pair table (reduced units).

    Parameters
    ----------
    name : str
    species : tuple of str
        Species names; type ``k`` is ``species[k]``.
    epsilon, sigma, cutoff : ndarray (S, S), symmetric
        Well depth (epsilon_AA), size (sigma_AA) and absolute cutoff (sigma_AA) of each pair.
    shifted : ndarray of bool (S, S), symmetric
        Whether the pair is shifted to zero at its cutoff (else truncated).
    smoothing : tuple of float
        Empty (plain LJ, shifted or truncated per pair) or (C0, C2, C4): the polynomial
        C0 + C2 (r/sigma_ab)^2 + C4 (r/sigma_ab)^4 added inside the bracket of every pair; such a
        table shifts no pair (the polynomial takes the shift's place).
    fractions : tuple of float
        Default composition (number fractions, summing to 1).
    dimensions : int
        2 or 3: the dimensionality the model is defined in.
    reference : str
        Where the parameters come from.
    """

    name: str
    species: tuple[str, ...]
    epsilon: np.ndarray
    sigma: np.ndarray
    cutoff: np.ndarray
    shifted: np.ndarray
    fractions: tuple[float, ...]
    dimensions: int = 3
    reference: str = ""
    smoothing: tuple[float, ...] = ()
    _shift: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        s = len(self.species)
        arrays = {}
        for what in ("epsilon", "sigma", "cutoff"):
            a = np.array(getattr(self, what), dtype=np.float64)
            if a.shape != (s, s):
                raise ValueError(f"table {self.name!r}: {what} must have shape ({s}, {s}); got {a.shape}")
            if not np.all(np.isfinite(a)) or np.any(a <= 0):
                raise ValueError(f"table {self.name!r}: {what} must be positive and finite; got {a.tolist()}")
            if not np.array_equal(a, a.T):
                raise ValueError(f"table {self.name!r}: {what} must be symmetric; got {a.tolist()}")
            a.setflags(write=False)
            arrays[what] = a
        sh = np.array(self.shifted, dtype=bool)
        if sh.shape != (s, s) or not np.array_equal(sh, sh.T):
            raise ValueError(f"table {self.name!r}: shifted must be a symmetric ({s}, {s}) boolean array")
        sh.setflags(write=False)
        fr = tuple(float(f) for f in self.fractions)
        if len(fr) != s or any(f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-12:
            raise ValueError(f"table {self.name!r}: fractions must be {s} non-negative numbers summing to 1; got {fr}")
        if self.dimensions not in (2, 3):
            raise ValueError(f"table {self.name!r}: dimensions must be 2 or 3; got {self.dimensions}")
        smooth = tuple(float(c) for c in self.smoothing)
        if smooth and (len(smooth) != 3 or not all(np.isfinite(smooth))):
            raise ValueError(f"table {self.name!r}: smoothing must be () or three finite numbers (C0, C2, C4); got {smooth}")
        if smooth and sh.any():
            raise ValueError(f"table {self.name!r}: a smoothed table shifts no pair (the polynomial replaces the shift)")
        object.__setattr__(self, "smoothing", smooth)
        for what, a in arrays.items():
            object.__setattr__(self, what, a)
        object.__setattr__(self, "shifted", sh)
        object.__setattr__(self, "fractions", fr)
        x = (arrays["sigma"] / arrays["cutoff"]) ** 6
        shift = np.where(sh, 4.0 * arrays["epsilon"] * (x * x - x), 0.0)
        shift.setflags(write=False)
        object.__setattr__(self, "_shift", shift)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pairs(cls, name: str, species: Iterable[str], pairs: dict[tuple[str, str], tuple[float, float]],
                   fractions: Iterable[float], cutoff_factor: float = 2.5, shifted: bool = True,
                   dimensions: int = 3, reference: str = "", smoothing: tuple[float, ...] = ()) -> "PairTable":
        """Table from ``{(a, b): (epsilon, sigma)}`` for every unordered species pair, with
        cutoffs ``cutoff_factor * sigma_ab`` and one shift rule (or one smoothing) for all pairs."""
        species = tuple(species)
        s = len(species)
        index = {n: k for k, n in enumerate(species)}
        eps = np.full((s, s), np.nan)
        sig = np.full((s, s), np.nan)
        for (a, b), (e, g) in pairs.items():
            if a not in index or b not in index:
                raise ValueError(f"table {name!r}: pair ({a}, {b}) names a species not in {species}")
            i, j = index[a], index[b]
            eps[i, j] = eps[j, i] = e
            sig[i, j] = sig[j, i] = g
        if np.isnan(eps).any():
            missing = [(species[i], species[j]) for i in range(s) for j in range(i, s) if np.isnan(eps[i, j])]
            raise ValueError(f"table {name!r}: no parameters for pairs {missing}")
        return cls(name=name, species=species, epsilon=eps, sigma=sig, cutoff=float(cutoff_factor) * sig,
                   shifted=np.full((s, s), bool(shifted)), fractions=tuple(fractions), dimensions=dimensions,
                   reference=reference, smoothing=tuple(smoothing))

    # ------------------------------------------------------------------ the rows
    @property
    def n_species(self) -> int:
        return len(self.species)

    @property
    def shift(self) -> np.ndarray:
        """Energy subtracted inside the cutoff (reduced) (S, S): U_LJ(rc) for shifted pairs, else 0."""
        return self._shift

    @property
    def smoothed(self) -> bool:
        """Whether the pairs carry the smoothing polynomial (see the class docstring)."""
        return bool(self.smoothing)

    def require_plain(self, what: str) -> None:
        """Raise NotImplementedError naming ``what`` when the table is smoothed (``what`` knows only
        shifted or truncated Lennard-Jones pairs)."""
        if self.smoothed:
            raise NotImplementedError(
                f"{what} supports shifted or truncated Lennard-Jones pairs only; table {self.name!r} is smoothed "
                f"(C0, C2, C4 = {self.smoothing}): use the CustomNonbondedForce (force='custom') and the table's own "
                "energy functions")

    @property
    def max_cutoff(self) -> float:
        """Largest pair cutoff (reduced length)."""
        return float(self.cutoff.max())

    def pairs(self) -> list[tuple[int, int]]:
        """Unordered type pairs (a <= b)."""
        s = self.n_species
        return [(a, b) for a in range(s) for b in range(a, s)]

    def row(self, a: int, b: int) -> tuple[float, float, float, float]:
        """(epsilon, sigma, cutoff, shift) of the pair (a, b) (reduced)."""
        return (float(self.epsilon[a, b]), float(self.sigma[a, b]), float(self.cutoff[a, b]), float(self.shift[a, b]))

    def parameters(self, ti: Any, tj: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """epsilon, sigma, cutoff and shift of type pairs (ti, tj), broadcast (reduced)."""
        ti = np.asarray(ti, dtype=np.int64)
        tj = np.asarray(tj, dtype=np.int64)
        return self.epsilon[ti, tj], self.sigma[ti, tj], self.cutoff[ti, tj], self.shift[ti, tj]

    def validate_types(self, types: Any, n: int | None = None) -> np.ndarray:
        """Check a 1-D integer array of types in 0 .. S-1; returns it as int8. Raises ValueError naming the problem."""
        types = np.asarray(types)
        names = ", ".join(f"{k} ({n})" for k, n in enumerate(self.species))
        if types.ndim != 1:
            raise ValueError(f"types must be a 1-D array of {names}; got shape {types.shape}")
        if n is not None and types.shape[0] != n:
            raise ValueError(f"types has {types.shape[0]} entries but there are {n} particles")
        ok = np.isin(types, np.arange(self.n_species))
        if not np.all(ok):
            bad = np.unique(types[~ok])
            raise ValueError(f"types of table {self.name!r} must be {names}; found {bad[:5].tolist()}")
        return types.astype(np.int8)

    # ------------------------------------------------------------------ pair functions
    def energy(self, r: Any, ti: Any, tj: Any) -> np.ndarray:
        """Pair energy U_ab(r) (reduced), zero at and beyond the pair's cutoff."""
        return self.pair_terms(r, ti, tj)[0]

    def force(self, r: Any, ti: Any, tj: Any) -> np.ndarray:
        """Pair force magnitude -dU/dr (reduced, positive = repulsive), zero beyond the cutoff."""
        return -self.pair_terms(r, ti, tj)[1]

    def pair_terms(self, r: Any, ti: Any, tj: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """U, dU/dr and d2U/dr2 of type pairs at distances r (reduced; broadcast), zero beyond the cutoff.

        The derivatives of the truncated potential: the force of a shifted (unsmoothed) pair jumps
        at its cutoff, as it does in OpenMM and LAMMPS.
        """
        r = np.asarray(r, dtype=np.float64)
        eps, sig, rc, shift = self.parameters(ti, tj)
        inside = r < rc
        rr = np.where(inside, r, 1.0)
        sr6 = (sig / rr) ** 6
        sr12 = sr6 * sr6
        u = np.where(inside, 4.0 * eps * (sr12 - sr6) - shift, 0.0)
        du = np.where(inside, -24.0 * eps * (2.0 * sr12 - sr6) / rr, 0.0)
        d2u = np.where(inside, 4.0 * eps * (156.0 * sr12 - 42.0 * sr6) / (rr * rr), 0.0)
        if self.smoothed:
            c0, c2, c4 = self.smoothing
            q = (rr / sig) ** 2  # (r / sigma)^2
            u = u + np.where(inside, 4.0 * eps * (c0 + c2 * q + c4 * q * q), 0.0)
            du = du + np.where(inside, 4.0 * eps * (2.0 * c2 + 4.0 * c4 * q) * rr / (sig * sig), 0.0)
            d2u = d2u + np.where(inside, 4.0 * eps * (2.0 * c2 + 12.0 * c4 * q) / (sig * sig), 0.0)
        return u, du, d2u

    # ------------------------------------------------------------------ configurations
    def energy_and_forces(self, positions: Any, types: Any, box: Any | None = None,
                          block: int = 512) -> tuple[float, np.ndarray]:
        """Total energy (reduced) and forces (N, 3) by a direct minimum-image pair sum.

        O(N^2) in blocks of ``block`` rows: a reference for tests and small systems, independent
        of OpenMM and of any neighbour list. ``box`` None means no periodicity.
        """
        x = np.asarray(positions, dtype=np.float64)
        t = self.validate_types(types, len(x)).astype(np.int64)
        n = len(x)
        forces = np.zeros_like(x)
        energy = 0.0
        for start in range(0, n, block):
            stop = min(start + block, n)
            d = x[start:stop, None, :] - x[None, :, :]  # r_i - r_j
            if box is not None:
                d = geometry.minimum_image(d, np.asarray(box, dtype=np.float64))
            r = np.sqrt((d * d).sum(-1))
            rows = np.arange(start, stop)
            r[rows - start, rows] = np.inf  # no self pair
            u, du, _ = self.pair_terms(r, t[start:stop, None], t[None, :])
            energy += 0.5 * float(u.sum())
            with np.errstate(invalid="ignore", divide="ignore"):
                fr = np.where(np.isfinite(r), -du / r, 0.0)
            forces[start:stop] = (fr[..., None] * d).sum(1)
        return energy, forces

    def total_energy(self, positions: Any, types: Any, box: Any | None = None) -> float:
        """Total potential energy (reduced) by a direct pair sum (see :meth:`energy_and_forces`)."""
        return self.energy_and_forces(positions, types, box)[0]

    # ------------------------------------------------------------------ OpenMM fallback
    def _select(self, values: np.ndarray, key: str, keys: list[tuple[int, int]]) -> str:
        """A Lepton expression picking values[a, b] by the integer ``key``: select(key - k, rest, v_k) chains,
        exact (no interpolation), in the order of ``keys``."""
        expr = repr(float(values[keys[-1]]))
        for k in range(len(keys) - 2, -1, -1):
            expr = f"select({key}-{k}, {expr}, {float(values[keys[k]])!r})"
        return expr

    def custom_nonbonded_definitions(self) -> str:
        """The pair parameters of particles 1 and 2 as Lepton definitions keyed on their type ``t``.

        Defines ``eps``, ``sig``, ``rc`` (the pair's cutoff), ``sh`` (the energy subtracted inside
        it), ``shon`` (1 for a shifted pair, 0 for a truncated one) and the pair key ``p``: the tail
        of any ``CustomNonbondedForce`` expression built on this table (``expr;`` + this). Each
        value is picked by exact nested ``select`` on ``p``: ``t1 + t2`` for two species (the sum
        names the pair), ``S*t1 + t2`` otherwise. Lengths in nm = sigma_AA, energies in kJ/mol =
        epsilon_AA (:mod:`glassmm.units`). The NCMC moves' soft-core twin appends the same tail.
        """
        s = self.n_species
        if s == 2:
            key, keys = "t1+t2", [(0, 0), (0, 1), (1, 1)]
        else:
            key, keys = f"{s}*t1+t2", [(a, b) for a in range(s) for b in range(s)]
        return (
            f"eps = {self._select(self.epsilon, 'p', keys)};"
            f"sig = {self._select(self.sigma, 'p', keys)};"
            f"rc = {self._select(self.cutoff, 'p', keys)};"
            f"sh = {self._select(self.shift, 'p', keys)};"
            f"shon = {self._select(self.shifted.astype(float), 'p', keys)};"
            f"p = {key}"
        )

    def custom_nonbonded_expression(self) -> str:
        """The table as one ``CustomNonbondedForce`` energy expression in a per-particle type ``t``
        (see :meth:`custom_nonbonded_definitions`)."""
        if self.smoothed:
            c0, c2, c4 = (repr(c) for c in self.smoothing)
            return (f"step(rc - r) * 4*eps*(x*x - x + {c0} + ({c2})*q + ({c4})*q*q);x = (sig/r)^6;q = (r/sig)^2;"
                    + self.custom_nonbonded_definitions())
        return "step(rc - r) * (4*eps*(x*x - x) - sh);x = (sig/r)^6;" + self.custom_nonbonded_definitions()

    def custom_nonbonded_force(self, types: Any, periodic: bool = True, name: str = "KobAndersen") -> Any:
        """The table as an OpenMM ``CustomNonbondedForce`` (the fallback when the plugin is absent).

        Parameters
        ----------
        types : array of int (N,)
            Per-particle types, stored as the per-particle parameter ``t``.
        periodic : bool
            CutoffPeriodic (True) or CutoffNonPeriodic.
        name : str
            The force's name (glassmm finds its pair force by it).
        """
        import openmm

        types = self.validate_types(types)
        force = openmm.CustomNonbondedForce(self.custom_nonbonded_expression())
        force.addPerParticleParameter("t")
        force.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffPeriodic if periodic
                                 else openmm.CustomNonbondedForce.CutoffNonPeriodic)
        force.setCutoffDistance(units.length_to_openmm(self.max_cutoff))
        force.setUseSwitchingFunction(False)
        force.setUseLongRangeCorrection(False)
        for t in types:
            force.addParticle([float(t)])
        force.setName(name)
        return force

    def pair_table_force(self, types: Any, periodic: bool = True, name: str = "KobAndersen",
                         skin: float | None = None) -> Any:
        """The table as the compiled plugin's ``PairTableForce`` (``glassmm-pairforce``).

        Same arguments as :meth:`custom_nonbonded_force`; ``skin`` (reduced length) sets the CPU
        kernel's neighbour-list skin (default: the plugin's). Raises ImportError when the plugin
        is not installed. The force is a ``CustomNonbondedForce`` subclass whose energy function
        is this table's expression, evaluated by compiled kernels.
        """
        self.require_plain("the compiled glassmm-pairforce plugin")
        import glassmm_pairforce

        types = self.validate_types(types)
        nm = units.length_to_openmm(1.0).value_in_unit(units.SIGMA.unit)
        kj = units.energy_to_openmm(1.0).value_in_unit(units.EPSILON.unit)
        force = glassmm_pairforce.PairTableForce(self.n_species)
        for a, b in self.pairs():
            eps, sig, rc, shift = self.row(a, b)
            force.setPairParameters(a, b, eps * kj, sig * nm, rc * nm, shift * kj)
        force.setNonbondedMethod(glassmm_pairforce.PairTableForce.CutoffPeriodic if periodic
                                 else glassmm_pairforce.PairTableForce.CutoffNonPeriodic)
        if skin is not None:
            force.setNeighborSkin(float(skin) * nm)
        for t in types:
            force.addParticle([float(t)])
        force.setName(name)
        return force

    def describe(self) -> str:
        """One line per pair: the table as text."""
        lines = [f"{self.name}: {', '.join(self.species)} at {':'.join(f'{f:g}' for f in self.fractions)} "
                 f"({self.dimensions}D) {self.reference}"]
        for a, b in self.pairs():
            e, g, rc, sh = self.row(a, b)
            lines.append(f"  {self.species[a]}{self.species[b]}: eps {e:g} sigma {g:g} rc {rc:g} shift {sh:.6g}")
        if self.smoothed:
            lines.append("  smoothed: 4 eps [(s/r)^12 - (s/r)^6 + C0 + C2 (r/s)^2 + C4 (r/s)^4], (C0, C2, C4) = "
                         f"{self.smoothing}")
        return "\n".join(lines)


_KA_PAIRS = {("A", "A"): (1.0, 1.0), ("A", "B"): (1.5, 0.8), ("B", "B"): (0.5, 0.88)}

#: Kob-Andersen 80:20 (3D).
KA = PairTable.from_pairs("KA", ("A", "B"), _KA_PAIRS, fractions=(0.8, 0.2), cutoff_factor=2.5, shifted=True,
                          dimensions=3, reference="Kob & Andersen, PRE 51, 4626 (1995)")
#: Kob-Andersen pairs at 65:35 in 2D.
KA2D = PairTable.from_pairs("KA2D", ("A", "B"), _KA_PAIRS, fractions=(0.65, 0.35), cutoff_factor=2.5,
                            shifted=True, dimensions=2,
                            reference="Kob & Andersen pairs at the 2D composition 65:35")

#: Tables that are named but not yet defined, and why.
PENDING: dict[str, str] = {
    "KA2": "the ternary KA2 of Parmar, Ozawa & Berthier, PRL 125, 085505 (2020): parameters not yet taken "
           "from the paper (add them with PairTable.from_pairs and register them in TABLES)",
}

#: The 2D ternary glass-former of Jung, Biroli & Berthier, MLST 5, 035053 (2024), sec. 2.1 (N = 43 in a
#: periodic square of side 6.0 there), which defers the model to PRL 130, 238202 (2023) (N1:N2:N3 =
#: 600:330:360 at N = 1290, L = 32.896) and PRB 109, 064205 (2024) (m = 1; no crystallisation seen down to
#: T_g = 0.15). Neither prints the pair table; it is taken from the first author's analysis code
#: (github.com/GerhardJung/StructDynGlass, struct_base.cpp/.h, model "KA2-2D": sigma AA/AB/BB/AC/BC/CC =
#: 1/0.8/0.88/0.9/0.8/0.94, epsilon = 1/1.5/0.5/0.75/1.5/0.75, and the smoothing constants below), the
#: same numbers as the independent ParticlesMC model "JBB" (TheDisorderedOrganization/ParticlesMC,
#: src/models.jl), and checked against the authors' published N = 1290 inherent structures, on which these
#: pairs leave a mean force of ~0.02 per particle (the 6-digit rounding of the files) where an averaged
#: third species (the 3D KA2 rule of Parmar et al.) leaves ~3.5. C is the size of neither A nor B but binds
#: B as A does. Every pair: 4 eps [(s/r)^12 - (s/r)^6 + C0 + C2 (r/s)^2 + C4 (r/s)^4] for r < 2.5 s, with
#: U, U' and U'' zero at the cutoff. Types 0, 1, 2 = the PRL's types 1, 2, 3 (A, B, C).
_TERNARY2D_PAIRS = {**_KA_PAIRS, ("A", "C"): (0.75, 0.9), ("B", "C"): (1.5, 0.8), ("C", "C"): (0.75, 0.94)}
TERNARY2D_SMOOTHING = (0.04049023795, -0.00970155098, 0.00062012616)
TERNARY2D = PairTable.from_pairs(
    "TERNARY2D", ("A", "B", "C"), _TERNARY2D_PAIRS, fractions=(600 / 1290, 330 / 1290, 360 / 1290), cutoff_factor=2.5,
    shifted=False, smoothing=TERNARY2D_SMOOTHING, dimensions=2,
    reference="Jung, Biroli & Berthier, MLST 5, 035053 (2024) -> PRL 130, 238202 (2023) (composition 600:330:360) and "
              "PRB 109, 064205 (2024); pair table and smoothing from the authors' code (StructDynGlass, model KA2-2D)")

#: Every defined table by name.
TABLES: dict[str, PairTable] = {"KA": KA, "KA2D": KA2D, "TERNARY2D": TERNARY2D}


def get_table(name: str | PairTable) -> PairTable:
    """The table called ``name`` (any case), or ``name`` itself when it is a :class:`PairTable`."""
    if isinstance(name, PairTable):
        return name
    key = str(name).strip().upper()
    if key in TABLES:
        return TABLES[key]
    if key in PENDING:
        raise ValueError(f"pair table {name!r} is not defined yet: {PENDING[key]}")
    raise ValueError(f"unknown pair table {name!r}; defined: {', '.join(TABLES)}; pending: {', '.join(PENDING)}")


def ka_table(dimensions: int = 3) -> PairTable:
    """The Kob-Andersen table for 3D (80:20) or 2D (65:35)."""
    if dimensions not in (2, 3):
        raise ValueError(f"dimensions must be 2 or 3; got {dimensions}")
    return KA if dimensions == 3 else KA2D
