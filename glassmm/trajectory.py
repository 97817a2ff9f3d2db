"""Trajectories and the types that travel with them: the one convention every run file follows.

KA types are shuffled per seed, and a DCD carries none, so a trajectory read with another run's
types gives wrong dynamics without complaint. Every trajectory glassmm writes therefore carries
its types and box, and a checksum of the types (:func:`types_checksum`):

* **glassmm HDF5 frame files** (:class:`TrajectoryWriter`, and GlassReporter reports, which
  follow the same layout): ``types`` (N,) int8, ``box`` (3,), attribute ``types_sha256``,
  per-frame ``step`` (F,) int64, ``time`` (F,) tau, ``positions`` (F, N, 3) sigma, unwrapped;
* **DCD** (OpenMM's format, lengths in Angstrom = 0.1 sigma as the format demands): a sidecar
  ``<file>.dcd.types.npz`` beside it (:func:`write_topology`) holds ``types``, ``box``,
  ``types_sha256`` and ``units``; :func:`dcd_reporter` writes both.

:func:`read_trajectory` reads either; given a topology file (``--top``) whose types do not match
the checksum stored with the trajectory it raises :class:`TypesMismatchError`, naming both.

HDF5 frame files (:class:`FrameFile`) can be read while they grow and survive ``kill -9``:
created complete under a temporary name and renamed into place, then written in HDF5
single-writer/multiple-reader (SWMR) mode, where nothing is created and no attribute changes;
a frame writes every per-frame dataset, flushes, and is committed by extending ``step`` last
and flushing again. A frame is complete when every per-frame dataset holds it; readers
(``swmr=True``) and a resumed writer use only complete frames. A writer killed in SWMR mode
leaves the superblock marked "open for writing"; :meth:`FrameFile.open` clears that mark
(what ``h5clear -s`` does) before continuing the file.

:func:`cut_to_step` cuts any run file -- HDF5 frames, DCD (a torn last frame included), the
reduced-unit run log of :class:`RunLogReporter` -- to the frames at or before a step, and
:func:`restart` does it for a plain OpenMM script in one call (load the checkpoint, cut every
file to its step), so appending reporters continue without duplicate frames.

Everything is reduced LJ (sigma_AA, tau, epsilon_AA); each file says so in a ``units`` entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import tempfile
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from glassmm import units
from glassmm.io import _AKMA_PS, UNIT_SYSTEM, atomic_write, is_hdf5, save_npz

#: version of the trajectory layout (HDF5 frame files written by :class:`TrajectoryWriter`)
TRAJECTORY_SCHEMA = 1
#: the sidecar beside a DCD: ``run.dcd`` -> ``run.dcd.types.npz``
TOPOLOGY_SUFFIX = ".types.npz"
UNITS_JSON = json.dumps(UNIT_SYSTEM)
#: the per-frame dataset whose length commits a frame (extended last)
COMMIT = "step"


class TypesMismatchError(ValueError):
    """A topology whose particle types are not the trajectory's (by count or checksum)."""


# ---------------------------------------------------------------------------- types
def types_checksum(types: Any) -> str:
    """Checksum of particle types: ``sha256:`` and the first 16 hex digits of SHA-256 over int8 types."""
    t = np.ascontiguousarray(np.asarray(types).astype(np.int8))
    return "sha256:" + hashlib.sha256(t.tobytes()).hexdigest()[:16]


def topology_path(trajectory: str | os.PathLike) -> Path:
    """Where the types of a DCD live: ``run.dcd`` -> ``run.dcd.types.npz``."""
    return Path(str(trajectory) + TOPOLOGY_SUFFIX)


@dataclass
class Topology:
    """Types and box stored with a trajectory (reduced), and where they came from."""

    types: np.ndarray
    box: np.ndarray
    checksum: str
    source: str


def write_topology(trajectory: str | os.PathLike, types: Any, box: Any) -> Path:
    """Write the sidecar of a DCD (types, box, checksum, units), atomically; returns its path."""
    types = np.asarray(types).astype(np.int8)
    return save_npz(topology_path(trajectory), types=types, box=np.asarray(box, dtype=np.float64),
                    types_sha256=np.str_(types_checksum(types)), n_particles=np.int64(len(types)),
                    units=np.str_(UNITS_JSON), trajectory=np.str_(Path(trajectory).name),
                    dcd_lengths=np.str_("Angstrom, as the DCD format demands: 10 A = 1 sigma_AA"))


def stored_topology(trajectory: str | os.PathLike) -> Topology | None:
    """The types and box stored with a trajectory (inside an HDF5 file, beside a DCD), or None."""
    path = Path(trajectory)
    if path.exists() and is_hdf5(path):
        with open_frames(path) as h:
            if "types" not in h:
                return None
            types = h["types"][()]
            box = h["box"][()] if "box" in h else np.asarray(h.attrs["box"])
            return Topology(types, np.asarray(box, dtype=float), str(h.attrs.get("types_sha256", types_checksum(types))),
                            str(path))
    side = topology_path(path)
    if not side.exists():
        return None
    with np.load(side) as d:
        return Topology(d["types"], d["box"], str(d["types_sha256"]), str(side))


def check_types(topology: Topology, types: Any, source: str) -> None:
    """Refuse ``types`` (read from ``source``) that are not the trajectory's, naming both files."""
    types = np.asarray(types)
    if len(types) != len(topology.types):
        raise TypesMismatchError(f"{source} has {len(types)} particles but the trajectory's types "
                                 f"({topology.source}) have {len(topology.types)}")
    got = types_checksum(types)
    if got != topology.checksum:
        differ = int(np.sum(types.astype(np.int8) != topology.types.astype(np.int8)))
        raise TypesMismatchError(
            f"the types of {source} ({got}) are not those stored with the trajectory in {topology.source} "
            f"({topology.checksum}): {differ} of {len(types)} particles differ. KA types are shuffled per "
            "seed, so another run's topology gives wrong dynamics; use the run's own topology (or none: "
            "the stored types are used)")


# ---------------------------------------------------------------------------- HDF5 frame files
def _lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle``: the checksum HDF5 puts on its superblock (version >= 2)."""
    M = 0xFFFFFFFF

    def rot(x: int, k: int) -> int:
        return ((x << k) | (x >> (32 - k))) & M

    n = len(data)
    a = b = c = (0xDEADBEEF + n + initval) & M
    i = 0
    while n > 12:
        a = (a + int.from_bytes(data[i:i + 4], "little")) & M
        b = (b + int.from_bytes(data[i + 4:i + 8], "little")) & M
        c = (c + int.from_bytes(data[i + 8:i + 12], "little")) & M
        a = (a - c) & M; a ^= rot(c, 4); c = (c + b) & M      # noqa: E702
        b = (b - a) & M; b ^= rot(a, 6); a = (a + c) & M      # noqa: E702
        c = (c - b) & M; c ^= rot(b, 8); b = (b + a) & M      # noqa: E702
        a = (a - c) & M; a ^= rot(c, 16); c = (c + b) & M     # noqa: E702
        b = (b - a) & M; b ^= rot(a, 19); a = (a + c) & M     # noqa: E702
        c = (c - b) & M; c ^= rot(b, 4); b = (b + a) & M      # noqa: E702
        i += 12
        n -= 12
    if n == 0:
        return c
    tail = data[i:] + bytes(12 - n)
    a = (a + int.from_bytes(tail[0:4], "little")) & M
    b = (b + int.from_bytes(tail[4:8], "little")) & M
    c = (c + int.from_bytes(tail[8:12], "little")) & M
    c ^= b; c = (c - rot(b, 14)) & M     # noqa: E702
    a ^= c; a = (a - rot(c, 11)) & M     # noqa: E702
    b ^= a; b = (b - rot(a, 25)) & M     # noqa: E702
    c ^= b; c = (c - rot(b, 16)) & M     # noqa: E702
    a ^= c; a = (a - rot(c, 4)) & M      # noqa: E702
    b ^= a; b = (b - rot(a, 14)) & M     # noqa: E702
    c ^= b; c = (c - rot(b, 24)) & M     # noqa: E702
    return c


def clear_open_flags(path: str | os.PathLike) -> bool:
    """Clear the "open for writing" flags a killed writer left in an HDF5 superblock (``h5clear -s``).

    Only superblocks of version 2 and 3 (``libver="latest"`` files, which SWMR needs) carry
    them; the superblock's checksum is verified before and rewritten after. Returns True when
    flags were cleared. Call it only when no process has the file open for writing.
    """
    with open(path, "r+b") as fh:
        head = bytearray(fh.read(128))
        if head[:8] != b"\x89HDF\r\n\x1a\n" or head[8] not in (2, 3) or head[11] == 0:
            return False
        end = 12 + 4 * head[9]  # signature, version, sizes, flags, then four addresses
        if len(head) < end + 4 or _lookup3(bytes(head[:end])) != int.from_bytes(head[end:end + 4], "little"):
            return False  # not a superblock this code understands: leave it to HDF5's own message
        head[11] = 0
        head[end:end + 4] = _lookup3(bytes(head[:end])).to_bytes(4, "little")
        fh.seek(0)
        fh.write(head[:end + 4])
        fh.flush()
        os.fsync(fh.fileno())
    return True


def frame_names(h: Any) -> list[str]:
    """The per-frame datasets of an open glassmm HDF5 file (its ``frame_datasets`` attribute)."""
    if "frame_datasets" in h.attrs:
        return [n for n in json.loads(h.attrs["frame_datasets"]) if n in h]
    return [n for n in ("step", "time", "positions") if n in h]


def complete_frames(h: Any) -> int:
    """Frames that every per-frame dataset holds: a frame torn by a crash is not one."""
    names = frame_names(h)
    return min(h[k].shape[0] for k in names) if names else 0


@contextlib.contextmanager
def open_frames(path: str | os.PathLike) -> Iterator[Any]:
    """Open a glassmm HDF5 file for reading, also while a writer appends to it (SWMR); closes after."""
    h = open_for_reading(path)
    try:
        yield h
    finally:
        h.close()


def open_for_reading(path: str | os.PathLike) -> Any:
    """An ``h5py.File`` opened for reading: in SWMR mode (a live writer may be appending), else plainly.

    Raises ValueError naming the file when it is not readable HDF5.
    """
    import h5py

    try:
        return h5py.File(path, "r", swmr=True)
    except (OSError, ValueError):
        pass
    try:
        return h5py.File(path, "r")  # files written before SWMR (older libver) or never in SWMR mode
    except OSError as exc:
        raise ValueError(f"{path}: not a readable HDF5 file ({exc})") from None


def refresh(h: Any) -> None:
    """See what a live writer appended since ``h`` was opened (SWMR readers only)."""
    for name in frame_names(h):
        with contextlib.suppress(Exception):  # not in SWMR mode: nothing to refresh
            h[name].refresh()


class FrameFile:
    """An HDF5 file of per-frame datasets, appended to in SWMR mode under the commit protocol above.

    Build one with :meth:`create` (a new file) or :meth:`open` (continue one). ``h5`` is the
    open ``h5py.File``; fixed-size datasets may be overwritten in place (:meth:`write`), but
    nothing may be created while it is open.
    """

    def __init__(self, h5: Any, path: Path) -> None:
        self.h5, self.path = h5, path
        self._lock: int | None = None
        self.names = frame_names(h5)
        if COMMIT not in self.names:
            raise ValueError(f"{path}: no per-frame {COMMIT!r} dataset")
        self.frames = complete_frames(h5)

    @classmethod
    def create(cls, path: str | os.PathLike, build: Callable[[Any], Sequence[str]]) -> "FrameFile":
        """A new file: ``build(h5)`` creates every dataset and attribute and returns the per-frame names.

        Built under a temporary name and renamed into place, so ``path`` never holds half a
        schema; per-frame datasets must be chunked with an unlimited first axis.
        """
        import h5py

        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            with h5py.File(tmp, "w", libver="latest") as h:
                names = list(build(h))
                if COMMIT not in names:
                    raise ValueError(f"a frame file needs a per-frame {COMMIT!r} dataset")
                h.attrs["frame_datasets"] = json.dumps(names)
                h.attrs.setdefault("units", UNITS_JSON)
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return cls._writer(path)

    @classmethod
    def _writer(cls, path: Path) -> "FrameFile":
        import h5py

        lock = _writer_lock(path)  # one writer: HDF5 drops its own lock in SWMR mode
        try:
            try:
                h = h5py.File(path, "a", libver="latest")
            except OSError as exc:
                if "already open for write" not in str(exc):
                    raise ValueError(f"{path}: cannot be opened for writing ({exc})") from None
                # the mark of a writer killed mid-run (no live writer holds the lock taken above)
                clear_open_flags(path)
                try:
                    h = h5py.File(path, "a", libver="latest")
                except OSError as exc2:
                    raise ValueError(f"{path}: cannot be opened for writing ({exc2})") from None
            try:
                h.swmr_mode = True
            except Exception:
                h.close()
                raise
        except BaseException:
            _release(lock, path)
            raise
        fr = cls(h, path)
        fr._lock = lock
        return fr

    @classmethod
    def open(cls, path: str | os.PathLike, before_step: int | None = None,
             through_step: int | None = None) -> tuple["FrameFile", dict[str, int]]:
        """Continue a file: cut it to its complete frames, and to those before ``before_step`` or at or
        before ``through_step``; returns the writer and ``{dataset: rows dropped}``."""
        fr = cls._writer(Path(path))
        try:
            dropped = fr.cut(before_step=before_step, through_step=through_step)
        except BaseException:
            fr.close()
            raise
        return fr, dropped

    def cut(self, before_step: int | None = None, through_step: int | None = None) -> dict[str, int]:
        """Drop torn rows and frames past a step; the commit dataset is cut first, so a crash mid-cut is safe."""
        h = self.h5
        keep = complete_frames(h)
        steps = h[COMMIT][:keep]
        if before_step is not None:
            keep = min(keep, int(np.searchsorted(steps, before_step, side="left")))
        if through_step is not None:
            keep = min(keep, int(np.searchsorted(steps, through_step, side="right")))
        dropped = {k: h[k].shape[0] - keep for k in self.names if h[k].shape[0] != keep}
        for k in sorted(dropped, key=lambda k: k != COMMIT):
            h[k].resize(keep, axis=0)
            if k == COMMIT:
                h.flush()
        h.flush()
        self.frames = keep
        return dropped

    def append(self, row: dict[str, Any]) -> int:
        """Append one frame (a value for every per-frame dataset); returns the frames now in the file."""
        h, k = self.h5, self.frames
        missing = [n for n in self.names if n not in row]
        if missing:
            raise ValueError(f"frame for {self.path} lacks {missing}")
        for name in self.names:
            if name != COMMIT:
                ds = h[name]
                ds.resize(k + 1, axis=0)
                ds[k] = row[name]
        h.flush()  # the frame's data is on disk before the commit that makes it a frame
        ds = h[COMMIT]
        ds.resize(k + 1, axis=0)
        ds[k] = row[COMMIT]
        h.flush()
        self.frames = k + 1
        return self.frames

    def write(self, name: str, value: Any) -> None:
        """Overwrite a fixed-size dataset in place (allowed in SWMR mode)."""
        self.h5[name][...] = value

    def flush(self) -> None:
        self.h5.flush()

    def close(self) -> None:
        if self.h5 is not None:
            try:
                self.h5.close()
            finally:
                self.h5 = None
                _release(getattr(self, "_lock", None), self.path)
                self._lock = None


def _lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.writer-lock"


def _writer_lock(path: Path) -> int:
    """An exclusive lock (flock on a hidden file beside ``path``) held while a process writes ``path``.

    The kernel drops it when the process dies, even by ``kill -9``, so a killed writer's file
    can be continued while two live writers are refused.
    """
    import fcntl

    fd = os.open(_lock_path(path), os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ValueError(f"{path}: another process is writing it (or another writer in this one); "
                         "one run per file") from None
    return fd


def _release(fd: int | None, path: Path) -> None:
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.unlink(_lock_path(path))  # while still holding it, so no one else locks a file about to vanish
    os.close(fd)


def frame_series(h: Any, name: str, dtype: Any, unit: str, width: tuple[int, ...] = ()) -> str:
    """Create an empty per-frame dataset for :meth:`FrameFile.create` builders; returns its name.

    Chunked for appending a row at a time: big rows one per chunk, scalars in chunks of 64
    (a chunk is rewritten with every row, so it stays small).
    """
    rows = 1 if width else 64
    ds = h.create_dataset(name, shape=(0, *width), maxshape=(None, *width), dtype=dtype, chunks=(rows, *width))
    ds.attrs["units"] = unit
    return name


def write_topology_datasets(h: Any, types: np.ndarray, box: np.ndarray) -> None:
    """``types``, ``box`` and the ``types_sha256`` attribute, in any glassmm HDF5 frame file."""
    t = h.create_dataset("types", data=np.asarray(types).astype(np.int8))
    t.attrs["units"] = "1 (0 = A, 1 = B)"
    b = h.create_dataset("box", data=np.asarray(box, dtype=np.float64))
    b.attrs["units"] = "sigma"
    h.attrs["types_sha256"] = types_checksum(types)
    h.attrs["n_particles"] = int(len(types))


class TrajectoryWriter:
    """Write frames (unwrapped positions, reduced units) with their types and box: an HDF5 frame file.

    Parameters
    ----------
    path : path
        HDF5 output. Readable by another process while it grows (:func:`read_trajectory`), and
        every frame committed before a ``kill -9`` stays readable.
    types : array of int (N,)
    box : array (reduced) (3,)
    append : bool
        Continue an existing file (it must hold the same types); frames at or after
        ``restart_step`` are dropped first (a run that went on past the checkpoint it restarts
        from). A missing file is created.
    restart_step : int, optional
    precision : {"single", "double"}
        Positions stored as float32 (half the bytes) or float64 (bitwise what the run had).
    series : dict of name -> unit, optional
        Further per-frame scalars (float64) to pass to :meth:`append` by name, e.g.
        ``{"temperature": "epsilon/k_B", "replica": "1"}``.
    metadata : dict, optional
        Stored as the JSON attribute ``metadata`` (parameters of the run).

    Examples
    --------
    >>> with TrajectoryWriter("traj.h5", ka.types, ka.box) as w:     # doctest: +SKIP
    ...     w.append(positions, time=t, step=s)
    """

    def __init__(self, path: str | os.PathLike, types: Any, box: Any, *, append: bool = False,
                 restart_step: int | None = None, precision: str = "single", series: dict[str, str] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        if precision not in ("single", "double"):
            raise ValueError(f"precision must be 'single' or 'double'; got {precision!r}")
        self.path = Path(path)
        self.types = np.asarray(types).astype(np.int8)
        self.box = np.asarray(box, dtype=np.float64)
        self.series = dict(series or {})
        self.n = len(self.types)
        if append and self.path.exists():
            top = stored_topology(self.path)
            if top is None:
                raise ValueError(f"{self.path}: not a glassmm trajectory (no types); cannot append to it")
            check_types(top, self.types, "the system being appended")
            self._file, self.dropped = FrameFile.open(self.path, before_step=restart_step)
            missing = [s for s in self.series if s not in self._file.names]
            if missing:
                self._file.close()
                raise ValueError(f"{self.path} has no per-frame {missing}; cannot append these series to it")
        else:
            if self.path.exists():
                raise FileExistsError(f"{self.path} exists; pass append=True to continue it or remove it")
            dtype = "f4" if precision == "single" else "f8"

            def build(h: Any) -> list[str]:
                h.attrs["glassmm_file"] = "trajectory"
                h.attrs["schema_version"] = TRAJECTORY_SCHEMA
                h.attrs["metadata"] = json.dumps(metadata or {})
                write_topology_datasets(h, self.types, self.box)
                names = [frame_series(h, "time", "f8", "tau"), frame_series(h, "positions", dtype, "sigma", (self.n, 3))]
                names += [frame_series(h, s, "f8", u) for s, u in self.series.items()]
                return names + [frame_series(h, "step", "i8", "1")]

            self._file = FrameFile.create(self.path, build)
            self.dropped = {}

    @property
    def frames(self) -> int:
        """Frames in the file."""
        return self._file.frames

    @property
    def last_step(self) -> int | None:
        """Step of the last frame in the file (None when it has none)."""
        return int(self._file.h5[COMMIT][self.frames - 1]) if self.frames else None

    def append(self, positions: Any, time: float, step: int, **values: float) -> int:
        """Append a frame: unwrapped positions (reduced (N, 3)), its time (tau) and MD step; returns the frame count."""
        pos = np.asarray(positions, dtype=np.float64)
        if pos.shape != (self.n, 3):
            raise ValueError(f"positions have shape {pos.shape}; this trajectory holds ({self.n}, 3)")
        unknown = set(values) - set(self.series)
        if unknown or set(self.series) - set(values):
            raise ValueError(f"this trajectory's series are {sorted(self.series)}; got {sorted(values)}")
        return self._file.append({"step": int(step), "time": float(time), "positions": pos, **values})

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "TrajectoryWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class TrajectoryReporter:
    """OpenMM reporter writing a :class:`TrajectoryWriter` file (unwrapped positions, types, box).

    Parameters
    ----------
    file : path
    reportInterval : int (steps)
    system : KobAndersen or Configuration
        Where the types and box come from.
    append : bool
        Continue the file (after :func:`restart` cut it to the checkpoint); a missing file is created.
    precision : {"single", "double"}
    """

    def __init__(self, file: str | os.PathLike, reportInterval: int, system: Any, append: bool = False,
                 precision: str = "single") -> None:
        self.interval = int(reportInterval)
        self._writer = TrajectoryWriter(file, system.types, system.box, append=append, precision=precision)

    def describeNextReport(self, simulation: Any) -> dict[str, Any]:
        return {"steps": self.interval - simulation.currentStep % self.interval, "periodic": False,
                "include": ["positions"]}

    def report(self, simulation: Any, state: Any) -> None:
        step = int(simulation.currentStep)
        last = self._writer.last_step
        if last is not None and step <= last:
            return  # a restarted run reaching a step the file holds
        self._writer.append(units.positions_from_openmm(state.getPositions(asNumpy=True)),
                            units.as_reduced_time(state.getTime()), step)

    def close(self) -> None:
        self._writer.close()


@dataclass
class Trajectory:
    """Frames of a trajectory with their types and box (reduced: sigma, tau)."""

    positions: np.ndarray
    time: np.ndarray
    step: np.ndarray
    types: np.ndarray
    box: np.ndarray
    path: str
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(len(self.positions))


def read_trajectory(path: str | os.PathLike, top: str | os.PathLike | None = None,
                    frame_interval: float | None = None) -> Trajectory:
    """Read every complete frame of a trajectory with its types: a glassmm HDF5 file (a
    :class:`TrajectoryWriter` file or a GlassReporter report) or a DCD with its sidecar.

    Parameters
    ----------
    path : path
    top : path, optional
        A configuration (npz) for the types and box. Checked against the types stored with the
        trajectory (:class:`TypesMismatchError` when they differ); needed only for a DCD that
        has no sidecar (then the types cannot be verified).
    frame_interval : float (tau), optional
        Time between DCD frames when the header stores none.
    """
    from glassmm.io import load_configuration

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"trajectory not found: {path}")
    stored = stored_topology(path)
    config = None
    if top is not None:
        config = load_configuration(top)
        if stored is not None:
            check_types(stored, config.types, str(top))
        else:
            import warnings

            warnings.warn(f"{path} has no types stored with it: the types of {top} are taken on trust "
                          "(a topology from another run gives wrong dynamics without complaint)", stacklevel=2)
    elif stored is None:
        raise ValueError(f"{path} has no types stored with it ({topology_path(path).name} is missing): "
                         "pass a topology (--top CONFIG.npz) of the run that wrote it")
    types = stored.types if stored is not None else config.types
    box = stored.box if stored is not None else config.box
    if is_hdf5(path):
        with open_frames(path) as h:
            refresh(h)
            n = complete_frames(h)
            names = [k for k in frame_names(h) if h[k].ndim == 1 and k not in ("step", "time")]
            return Trajectory(h["positions"][:n].astype(np.float64), h["time"][:n], h["step"][:n], types, box,
                              str(path), {k: h[k][:n] for k in names})
    frames, info = read_dcd(path)
    if len(types) != frames.shape[1]:
        raise TypesMismatchError(f"{path} holds {frames.shape[1]} particles; the topology has {len(types)}")
    steps = info["first_step"] + info["interval"] * np.arange(len(frames))
    dt_frame = frame_interval if frame_interval is not None else info["frame_interval"]
    if dt_frame is None:
        raise ValueError(f"{path}: the DCD header gives no frame interval; pass it (--frame-interval, tau)")
    step_time = float(dt_frame) / info["interval"] if info["interval"] > 0 else None
    times = steps * step_time if step_time is not None else np.arange(len(frames)) * float(dt_frame)
    return Trajectory(frames, times, steps, types, box, str(path))


# ---------------------------------------------------------------------------- DCD
def dcd_header(path: str | os.PathLike) -> dict[str, Any]:
    """What the header of a DCD (OpenMM's CHARMM layout) says, and how many frames are complete.

    Returns ``n_particles``, ``first_step``, ``interval`` (steps between frames), ``frame_interval``
    (tau, or None), ``header_bytes``, ``frame_bytes``, ``box`` (whether frames carry a cell),
    ``n_header`` (frames the header counts) and ``n_complete`` (frames whole on disk).
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(100)
        if len(head) < 100 or struct.unpack("<i", head[:4])[0] != 84 or head[4:8] != b"CORD":
            raise ValueError(f"{path}: not a DCD file (no CORD header)")
        nset, istart, nsavc = struct.unpack("<3i", head[8:20])
        delta = struct.unpack("<f", head[44:48])[0]
        box = struct.unpack("<i", head[48:52])[0] != 0
        comments = struct.unpack("<i", head[92:96])[0]
        fh.seek(104 + comments)
        n = struct.unpack("<i", fh.read(4))[0]
    header = 104 + comments + 8
    frame = (56 if box else 0) + 3 * (8 + 4 * n)
    complete = max(0, (size - header) // frame)
    return {"n_particles": n, "first_step": istart, "interval": nsavc, "header_bytes": header, "frame_bytes": frame,
            "box": box, "n_header": nset, "n_complete": int(min(nset, complete)),
            "frame_interval": float(nsavc * delta * _AKMA_PS) if nsavc > 0 and delta > 0 else None}


def read_dcd(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """Every complete frame of a DCD as unwrapped reduced positions (F, N, 3) float64, and its header.

    A frame torn by a crash (header counted, bytes missing) is not read.
    """
    info = dcd_header(path)
    n, f = info["n_particles"], info["n_complete"]
    raw = np.fromfile(path, dtype=np.uint8, count=f * info["frame_bytes"], offset=info["header_bytes"])
    raw = raw.reshape(f, info["frame_bytes"])
    off = 56 if info["box"] else 0
    xyz = np.empty((f, n, 3))
    for d in range(3):
        start = off + d * (8 + 4 * n) + 4
        xyz[:, :, d] = raw[:, start:start + 4 * n].copy().view("<f4")
    return xyz / 10.0, info  # Angstrom -> nm = sigma


def cut_dcd(path: str | os.PathLike, through_step: int) -> int:
    """Cut a DCD to its complete frames at or before ``through_step``; returns the frames kept.

    Frame k is at step ``first_step + k interval`` (OpenMM's DCDReporter); the header's frame
    count is rewritten, so OpenMM's ``DCDReporter(append=True)`` continues after the last kept frame.
    """
    info = dcd_header(path)
    keep = info["n_complete"]
    if info["interval"] > 0:
        keep = min(keep, max(0, (int(through_step) - info["first_step"]) // info["interval"] + 1))
    with open(path, "r+b") as fh:
        fh.truncate(info["header_bytes"] + keep * info["frame_bytes"])
        fh.seek(8)
        fh.write(struct.pack("<i", keep))
        fh.seek(20)
        fh.write(struct.pack("<i", info["first_step"] + max(keep - 1, 0) * info["interval"]))
        fh.flush()
        os.fsync(fh.fileno())
    return keep


def dcd_reporter(file: str | os.PathLike, reportInterval: int, system: Any = None, append: bool = False, *,
                 types: Any = None, box: Any = None) -> Any:
    """OpenMM's ``DCDReporter`` writing unwrapped positions, with the run's types beside the file.

    Parameters
    ----------
    file : path
        The DCD; ``<file>.types.npz`` gets the types, box and their checksum.
    reportInterval : int (steps)
    system : KobAndersen or Configuration, optional
        Where the types and box come from (or give ``types`` and ``box``).
    append : bool
        Continue the file (after :func:`restart` cut it to the checkpoint); its stored types
        must be these. A missing file is created.
    """
    import openmm.app as app

    if system is not None:
        types, box = system.types, system.box
    if types is None or box is None:
        raise ValueError("dcd_reporter needs the run's types and box: pass the system (glassmm.KobAndersen)")
    file = Path(file)
    append = bool(append) and file.exists() and file.stat().st_size > 0
    if append:
        stored = stored_topology(file)
        if stored is not None:
            check_types(stored, types, "the system being appended")
    if not append or not topology_path(file).exists():
        write_topology(file, types, box)
    # KA atoms are their own molecules: wrapping would break displacements
    return app.DCDReporter(str(file), int(reportInterval), append=append, enforcePeriodicBox=False)


# ---------------------------------------------------------------------------- the run log
class RunLogReporter:
    """OpenMM reporter of a run's state in reduced units, one tab-separated line per report.

    Replaces ``StateDataReporter`` (ps, kJ/mol, K) in glassmm's own runs: step, time (tau),
    potential and kinetic energy per particle (epsilon_AA), kinetic temperature (epsilon_AA/k_B,
    d N - d degrees of freedom) and speed (steps/s). The header says so. ``append`` continues a
    log (after :func:`cut_to_step`).
    """

    COLUMNS = ('"Step"', '"Time (tau)"', '"U/N (epsilon_AA)"', '"K/N (epsilon_AA)"', '"T_kin (epsilon_AA/k_B)"',
               '"Speed (steps/s)"')

    def __init__(self, file: str | os.PathLike, reportInterval: int, n_particles: int, dimensions: int = 3,
                 append: bool = False) -> None:
        self.file, self.interval = Path(file), int(reportInterval)
        self.n, self.dims = int(n_particles), int(dimensions)
        fresh = not (append and self.file.exists())
        self._out = open(self.file, "w" if fresh else "a")
        if fresh:
            self._out.write(f"# glassmm run log: reduced Lennard-Jones units ({', '.join(f'{k} in {v}' for k, v in UNIT_SYSTEM.items())}); "
                            f"N = {self.n}, {self.dims}D\n#" + "\t".join(self.COLUMNS) + "\n")
            self._out.flush()
        self._last: tuple[float, int] | None = None

    def describeNextReport(self, simulation: Any) -> dict[str, Any]:
        steps = self.interval - simulation.currentStep % self.interval
        return {"steps": steps, "periodic": False, "include": ["velocities", "energy"]}

    def report(self, simulation: Any, state: Any) -> None:
        from glassmm.geometry import degrees_of_freedom

        step = int(simulation.currentStep)
        now = _time.perf_counter()
        speed = float("nan") if self._last is None else (step - self._last[1]) / max(now - self._last[0], 1e-12)
        self._last = (now, step)
        ke = units.as_reduced_energy(state.getKineticEnergy())
        pe = units.as_reduced_energy(state.getPotentialEnergy())
        t_kin = 2 * ke / degrees_of_freedom(self.n, self.dims)
        t = units.as_reduced_time(state.getTime())
        self._out.write(f"{step}\t{t:.6g}\t{pe / self.n:.8g}\t{ke / self.n:.8g}\t{t_kin:.6g}\t{speed:.4g}\n")
        self._out.flush()

    def close(self) -> None:
        if not self._out.closed:
            self._out.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def read_run_log(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The columns of a :class:`RunLogReporter` log (complete lines only), by name."""
    rows = []
    with open(path) as fh:
        for line in fh:
            if line.startswith("#") or not line.endswith("\n"):
                continue
            rows.append([float(x) for x in line.split("\t")])
    data = np.array(rows).reshape(-1, len(RunLogReporter.COLUMNS))
    names = ("step", "time", "potential_energy", "kinetic_energy", "kinetic_temperature", "speed")
    return {k: data[:, i] for i, k in enumerate(names)}


def _cut_log(path: Path, through_step: int) -> int:
    """Keep the header and the complete lines at or before a step (atomic rewrite); returns lines kept."""
    kept, out = 0, []
    with open(path) as fh:
        for line in fh:
            if line.startswith("#"):
                out.append(line)
            elif line.endswith("\n") and int(float(line.split("\t", 1)[0])) <= through_step:
                out.append(line)
                kept += 1
    with atomic_write(path, "w") as fh:
        fh.writelines(out)
    return kept


# ---------------------------------------------------------------------------- restarts
def cut_to_step(path: str | os.PathLike, through_step: int) -> int:
    """Cut a run file to the frames at or before ``through_step`` (a checkpoint's); returns the frames kept.

    Knows glassmm HDF5 frame files (trajectories, reports), DCDs and run logs; a missing file is 0.
    """
    path = Path(path)
    if not path.exists():
        return 0
    if is_hdf5(path):
        fr, _ = FrameFile.open(path, through_step=through_step)
        try:
            return fr.frames
        finally:
            fr.close()
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic[4:8] == b"CORD":
        return cut_dcd(path, through_step)
    if magic.startswith(b"# glass"):
        return _cut_log(path, through_step)
    raise ValueError(f"{path}: not a file glassmm can cut to a checkpoint (glassmm HDF5, DCD, run log)")


def restart(simulation: Any, checkpoint: str | os.PathLike, *files: str | os.PathLike) -> bool:
    """Restart a plain OpenMM script from its checkpoint, in one call; True when the files are to be continued.

    When ``checkpoint`` exists it is loaded into ``simulation``, and every file in ``files``
    (DCDs, GlassReporter reports, glassmm trajectories, run logs) is cut to the frames at or
    before its step: frames a killed run wrote after the checkpoint, and a frame torn by the
    kill, go. Without a checkpoint, files a run killed before its first checkpoint left are cut
    to the simulation's current step (emptied for a run from step 0). Either way the files
    are this run's, so reporters built next take ``append=`` the returned value and continue
    them with no duplicate frame; False means a fresh start with no files.

    Put OpenMM's ``CheckpointReporter`` last in ``simulation.reporters``: reporters run in list
    order, so a checkpoint is written after every frame of its step.
    """
    checkpoint = Path(checkpoint)
    if checkpoint.exists():
        simulation.loadCheckpoint(str(checkpoint))
    elif not any(Path(f).exists() for f in files):
        return False
    step = int(simulation.currentStep)
    for f in files:
        cut_to_step(f, step)
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
