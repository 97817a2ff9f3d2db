"""Configuration files: the BOTAN npz layout, GlassBench keys and glassmm metadata.

One schema, read and written here only. An npz configuration file holds

=============================  ==============  ============================================
key                            shape / dtype   meaning (reduced LJ units)
=============================  ==============  ============================================
``types``                      (N,) int        0 = A, 1 = B
``initial_positions``          (N, 3) float    configuration at t = 0 (unwrapped)
``positions``                  (R, N, 3)       optional: each replica's positions at ``time``
``box``                        (3,) float      optional: rectangular box edges
``temperature``                ()  float       optional: temperature of the configuration
``initial_positions_inherent`` (N, 3) float    optional: inherent structure (GlassBench name)
``initial_positions_cage``     (N, 3) float    optional: cage state (GlassBench name; glassmm.cage)
``velocities``                 (N, 3) float    optional: velocities at t = 0 (sigma/tau)
``units``                      () str          the unit system (reduced LJ), stated
``time``, ``dt``, ``seeds``,   ...             optional glassmm metadata
``glassmm_version``
=============================  ==============  ============================================

The shared BOTAN files carry no ``box``; it is then inferred as a cube at the number density
given to the loader (1.2 by default, the KA density), and ``box_inferred`` says so.
Files are written atomically (temporary file + rename), so a crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from glassmm.systems import _validate_types, as_box, validate_positions

REQUIRED_KEYS = ("types", "initial_positions")
INHERENT_KEY = "initial_positions_inherent"
CAGE_KEY = "initial_positions_cage"


@dataclass
class Configuration:
    """A particle configuration in reduced LJ units.

    Attributes
    ----------
    positions : ndarray (reduced) (N, 3)
        Unwrapped positions at t = 0.
    types : ndarray of int8 (N,)
    box : ndarray (reduced) (3,)
    temperature : float (reduced) or None
    box_inferred : bool
        True when the file had no box and it was inferred from a density.
    extra : dict
        Every other array in the file (``positions``, ``initial_positions_inherent``, ...).
    """

    positions: np.ndarray
    types: np.ndarray
    box: np.ndarray
    temperature: float | None = None
    box_inferred: bool = False
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.positions = validate_positions(self.positions)
        self.types = _validate_types(self.types, self.positions.shape[0])
        self.box = as_box(self.box)

    @property
    def n_particles(self) -> int:
        return int(self.positions.shape[0])

    @property
    def inherent_positions(self) -> np.ndarray | None:
        """Inherent-structure positions if the file has them."""
        return self.extra.get(INHERENT_KEY)

    @property
    def cage_positions(self) -> np.ndarray | None:
        """Cage-state positions if the file has them."""
        return self.extra.get(CAGE_KEY)

    @property
    def replica_positions(self) -> np.ndarray | None:
        """Replica positions (R, N, 3) of an isoconfigurational file, if present."""
        return self.extra.get("positions")

    @classmethod
    def from_arrays(
        cls,
        positions: Any,
        types: Any,
        box: Any,
        temperature: float | None = None,
    ) -> "Configuration":
        """Build from plain arrays (reduced units) or OpenMM Quantities."""
        from glassmm import units

        pos = units.positions_from_openmm(positions) if hasattr(positions, "unit") else positions
        t = None if temperature is None else units.as_reduced_temperature(temperature)
        return cls(positions=np.asarray(pos, dtype=float), types=np.asarray(types), box=box, temperature=t)


def _open_npz(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"configuration file not found: {path}")
    if is_hdf5(path):
        raise ValueError(f"{path} is an HDF5 file (a GlassReporter report?), not an npz configuration: "
                         "read it with glassmm.read_report, or `glassmm plot` / `glassmm inspect` it")
    try:
        data = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: not an npz configuration archive (truncated, corrupt or another format)") from exc
    if not hasattr(data, "files"):  # a bare .npy array
        raise ValueError(f"{path}: a single .npy array, not an npz configuration archive (needs 'types' and positions)")
    return data


#: DCD headers store the step in AKMA time units: 1 AKMA = 0.04888821 ps (= tau here)
_AKMA_PS = 0.04888821


def dcd_frame_interval(path: str | os.PathLike) -> float | None:
    """Time between frames of a DCD file (reduced, tau) from its header, or None if it stores none.

    The header's NSAVC (steps between frames) times its DELTA (the step, in AKMA units), as
    OpenMM's DCDReporter writes them; reduced time is ps (see :mod:`glassmm.units`).
    """
    import struct

    with open(path, "rb") as fh:
        head = fh.read(48)
    if len(head) < 48 or struct.unpack("<i", head[:4])[0] != 84 or head[4:8] != b"CORD":
        raise ValueError(f"{path}: not a DCD file (no CORD header)")
    nsavc = struct.unpack("<i", head[16:20])[0]
    delta = struct.unpack("<f", head[44:48])[0]
    if nsavc <= 0 or not delta > 0:
        return None
    return float(nsavc * delta * _AKMA_PS)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to file descriptor 1 (C libraries included) to stderr meanwhile.

    For readers that print (some DCD readers do) while a command's stdout must stay one JSON
    object.
    """
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def is_hdf5(path: str | os.PathLike) -> bool:
    """True when the file starts with the HDF5 signature."""
    with open(path, "rb") as fh:
        return fh.read(8) == b"\x89HDF\r\n\x1a\n"


def load_configuration(
    path: str | os.PathLike, density: float = 1.2, key: str = "initial_positions"
) -> Configuration:
    """Load a configuration from a BOTAN/glassmm npz file.

    Parameters
    ----------
    path : path-like
    density : float (reduced)
        Used only to infer a cubic box when the file has no ``box`` key.
    key : str
        Which positions to take as the configuration (e.g. ``initial_positions_inherent``).

    Raises
    ------
    ValueError
        Missing keys, wrong shapes, NaN values, mismatched particle counts or a corrupt file;
        the message names the file and the problem.
    """
    path = Path(path)
    with _open_npz(path) as data:
        missing = [k for k in REQUIRED_KEYS if k not in data.files]
        if key not in data.files and key not in missing:
            missing.append(key)
        if missing:
            raise ValueError(f"{path}: missing key(s) {missing}; found {sorted(data.files)}")
        try:
            arrays = {k: data[k] for k in data.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise ValueError(f"{path}: corrupt array data ({exc})") from exc
    types = arrays.pop("types")
    positions = arrays.pop(key)  # other position sets stay available in ``extra``
    n = int(np.asarray(types).shape[0]) if np.ndim(types) else -1
    try:
        positions = validate_positions(positions, n, what=f"{key}")
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    box_inferred = "box" not in arrays
    if box_inferred:
        box = np.full(3, (n / density) ** (1.0 / 3.0))
    else:
        box = arrays.pop("box")
    temperature = arrays.pop("temperature", None)
    temperature = None if temperature is None else float(temperature)
    for name in ("positions", INHERENT_KEY, CAGE_KEY):
        if name in arrays:
            arr = np.asarray(arrays[name])
            if arr.shape[-2:] != (n, 3):
                raise ValueError(f"{path}: {name} has shape {arr.shape}, expected (..., {n}, 3)")
    try:
        return Configuration(
            positions=positions,
            types=types,
            box=box,
            temperature=temperature,
            box_inferred=box_inferred,
            extra=arrays,
        )
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temporary file next to ``path`` and rename it into place on success.

    A crash or exception leaves any earlier file at ``path`` untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class OutputNotWritableError(PermissionError):
    """An output file or folder that cannot be written (raised before any work starts)."""


def ensure_writable(path: str | os.PathLike, directory: bool = False) -> Path:
    """Check, before any work, that ``path`` (a file, or a folder with ``directory``) can be written.

    Creates missing parent folders, then writes and removes a probe file there, because
    ``os.access`` is wrong for root and for some network file systems.

    Raises
    ------
    OutputNotWritableError
        One line naming the path and the reason.
    """
    path = Path(path)
    folder = path if directory else path.parent
    if not directory and path.is_dir():
        raise OutputNotWritableError(f"cannot write {path}: it is a folder")
    if not directory and path.exists() and not os.access(path, os.W_OK):
        raise OutputNotWritableError(f"cannot write {path}: the file is read-only")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".glassmm-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputNotWritableError(f"cannot write to {folder}: {exc.strerror or exc}") from None
    return path


def cache_dir(kind: str) -> Path:
    """glassmm's on-disk cache for ``kind`` (``inherent``, ``export``, ``onnx``, ...), created.

    Under ``$GLASSMM_CACHE`` if set, else ``~/.cache/glassmm``.
    """
    d = Path(os.environ.get("GLASSMM_CACHE", Path.home() / ".cache" / "glassmm")) / kind
    d.mkdir(parents=True, exist_ok=True)
    return d


#: default bound of each cache kind (bytes); GLASSMM_CACHE_MAX_MB overrides it
CACHE_MAX_BYTES = 512 * 2**20


def prune_cache(kind: str, max_bytes: int | None = None) -> int:
    """Delete the least recently used entries of a cache kind until it fits ``max_bytes``.

    Returns the number of files removed. The bound is ``GLASSMM_CACHE_MAX_MB`` (MiB) when
    set, else :data:`CACHE_MAX_BYTES`.
    """
    if max_bytes is None:
        env = os.environ.get("GLASSMM_CACHE_MAX_MB")
        max_bytes = int(float(env) * 2**20) if env else CACHE_MAX_BYTES
    entries = []
    for p in cache_dir(kind).iterdir():
        if p.is_file() and not p.name.startswith("."):
            st = p.stat()
            entries.append((st.st_mtime, st.st_size, p))
    total, removed = sum(e[1] for e in entries), 0
    for _, size, p in sorted(entries, key=lambda e: e[0]):
        if total <= max_bytes:
            break
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed += 1
        total -= size
    return removed


def cached_positions(kind: str, positions: Any, types: Any, box: Any, compute: Any, salt: bytes = b"",
                     cache: bool = True) -> np.ndarray:
    """Positions (N, 3) derived from a configuration, from the ``kind`` cache or ``compute()``.

    Keyed by a hash of positions, types, box and ``salt`` (the parameters of the derivation);
    a hit is touched (kept longest by :func:`prune_cache`), a torn entry is recomputed, a new
    result is written atomically and the cache pruned. Inherent structures and cage states use it.
    ``cache=False`` only computes (frames of a running simulation never come back).
    """
    import hashlib

    if not cache:
        return np.asarray(compute())
    digest = hashlib.sha1()
    for arr in (np.asarray(positions, dtype=np.float64), np.asarray(types, dtype=np.int64),
                np.asarray(box, dtype=np.float64)):
        digest.update(np.ascontiguousarray(arr).tobytes())
    digest.update(salt)
    path = cache_dir(kind) / f"{digest.hexdigest()[:24]}.npz"
    if path.exists():
        try:
            out = np.load(path)["positions"]
            path.touch()
            return out
        except Exception:  # torn cache entry: recompute
            pass
    out = np.asarray(compute())
    save_npz(path, positions=out)
    prune_cache(kind)
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """Write arrays to an uncompressed npz file atomically."""
    path = Path(path)
    with atomic_write(path) as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items() if v is not None})
    return path


def save_checkpoint(path: str | os.PathLike, engine_state: bytes, progress: dict[str, Any], **arrays: Any) -> Path:
    """Write a run's checkpoint atomically: the engine's own bytes (an OpenMM checkpoint), its
    progress (JSON) and any further arrays (bytes become uint8 arrays).

    One file, so the engine state and the progress that goes with it never come apart.
    """
    import json

    extra = {k: (np.frombuffer(v, dtype=np.uint8) if isinstance(v, (bytes, bytearray)) else v) for k, v in arrays.items()}
    return save_npz(path, engine_state=np.frombuffer(engine_state, dtype=np.uint8),
                    progress=np.str_(json.dumps(progress)), glassmm_checkpoint=np.int64(1), **extra)


def load_checkpoint(path: str | os.PathLike, arrays: bool = False) -> Any:
    """Read a checkpoint of :func:`save_checkpoint`: (engine bytes, progress dict), and with
    ``arrays`` also a dict of the further arrays.

    Raises
    ------
    ValueError
        Naming the file when it is not a glassmm checkpoint (or is torn).
    """
    import json

    try:
        with np.load(path, allow_pickle=False) as d:
            if "glassmm_checkpoint" not in d.files:
                raise ValueError(f"{path}: not a glassmm checkpoint")
            engine, progress = d["engine_state"].tobytes(), json.loads(str(d["progress"]))
            if not arrays:
                return engine, progress
            rest = {k: d[k] for k in d.files if k not in ("engine_state", "progress", "glassmm_checkpoint")}
            return engine, progress, rest
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable glassmm checkpoint ({exc})") from None


#: the unit system every glassmm file is written in (each states it, as ``units``)
UNIT_SYSTEM = {"length": "sigma_AA (= 1 nm in OpenMM)", "time": "tau (= 1 ps)",
               "energy": "epsilon_AA (= 1 kJ/mol)", "temperature": "epsilon_AA/k_B (= 120.2722 K)",
               "mass": "m_A (= 1 amu)"}
UNITS_NOTE = "reduced Lennard-Jones units: " + ", ".join(f"{k} in {v}" for k, v in UNIT_SYSTEM.items())


def save_configuration(
    path: str | os.PathLike,
    config: Configuration,
    **extra: Any,
) -> Path:
    """Write a configuration in the BOTAN npz layout plus glassmm metadata, atomically."""
    from glassmm._version import __version__

    arrays: dict[str, Any] = dict(config.extra)
    arrays.update(extra)
    arrays.update(
        types=config.types.astype(np.int8),
        initial_positions=config.positions,
        box=config.box,
        glassmm_version=np.str_(__version__),
        units=np.str_(UNITS_NOTE),
    )
    if config.temperature is not None:
        arrays["temperature"] = np.float64(config.temperature)
    return save_npz(path, **arrays)
