"""OpenMM platforms: which ones loaded, which one ``auto`` picks, and the properties a Context gets.

Below :mod:`glassmm.systems` and :mod:`glassmm.simulation` in the import order, so every room
that builds a Context (systems' overlap removal, minimisation, simulation) asks here.

``platform="auto"`` (the default everywhere a platform is chosen) tries CUDA, then HIP, then
OpenCL, then CPU, and takes the first that builds a Context here: a GPU plugin can load on a
machine whose driver or device then refuses it, so loading alone does not count. OpenCL on a
CPU device (pocl, Intel's CPU runtime) is passed over, since OpenMM's own CPU platform is
faster there. The choice is said once per process on stderr (``GLASSMM_QUIET=1`` silences it)
and logged on ``glassmm.platforms``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Iterator

import openmm

KNOWN_PLATFORMS = ("Reference", "CPU", "CUDA", "OpenCL", "HIP")
GPU_PLATFORMS = ("CUDA", "OpenCL", "HIP")
PRECISIONS = ("single", "mixed", "double")
#: the order ``auto`` tries
AUTO_ORDER = ("CUDA", "HIP", "OpenCL", "CPU", "Reference")
#: GPU platforms compute forces in single precision and integrate in double unless told otherwise
DEFAULT_GPU_PRECISION = "mixed"
# OpenCL implementations that run on the host processor: OpenMM's CPU platform beats them
_CPU_OPENCL = ("portable computing language", "cpu runtime", "pocl")

log = logging.getLogger("glassmm.platforms")
_auto_choice: tuple[str, tuple[str, ...]] | None = None
_announced = False


def available_platforms() -> list[str]:
    """Names of the OpenMM platforms that loaded on this machine."""
    return [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]


def load_failures(name: str) -> list[str]:
    """OpenMM's messages for plugins of platform ``name`` that failed to load (e.g. a missing libcuda)."""
    return [f for f in openmm.Platform.getPluginLoadFailures() if f"OpenMM{name}" in f or f"/{name}" in f]


def canonical_name(name: str) -> str:
    """The OpenMM spelling of a platform name given in any case (``cuda`` -> ``CUDA``)."""
    match = [p for p in KNOWN_PLATFORMS if p.lower() == str(name).strip().lower()]
    if not match:
        raise ValueError(f"unknown platform {name!r}; known: auto, {', '.join(KNOWN_PLATFORMS)}")
    return match[0]


@contextlib.contextmanager
def _quiet_native_output() -> Iterator[None]:
    """Under ``GLASSMM_QUIET``, send what native code prints (OpenCL's "unsupported OpenCL
    implementation" warning, on stdout) to /dev/null meanwhile; otherwise do nothing."""
    if not os.environ.get("GLASSMM_QUIET"):
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _probe(name: str) -> str | None:
    """None when platform ``name`` builds a Context here, else why not."""
    system = openmm.System()
    system.addParticle(1.0)
    try:
        with _quiet_native_output():
            ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(name))
    except Exception as exc:  # driver too old, no device, out of memory...
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    try:
        if name == "OpenCL":
            plat = ctx.getPlatform()
            desc = " ".join(plat.getPropertyValue(ctx, p) for p in ("OpenCLPlatformName", "DeviceName")
                            if p in plat.getPropertyNames()).lower()
            if any(k in desc for k in _CPU_OPENCL):
                return f"its device is the host processor ({desc}); the CPU platform is faster there"
    finally:
        del ctx
    return None


def choose_auto() -> tuple[str, tuple[str, ...]]:
    """The platform ``auto`` stands for here, and why each faster one was passed over (cached per process)."""
    global _auto_choice
    if _auto_choice is not None:
        return _auto_choice
    have = available_platforms()
    skipped: list[str] = []
    for name in AUTO_ORDER:
        if name not in have:
            if name in GPU_PLATFORMS:
                fails = load_failures(name)
                skipped.append(f"{name}: not installed" if not fails else f"{name}: plugin did not load "
                               f"({fails[0].split(': ', 1)[-1]})")
            continue
        why = _probe(name) if name in GPU_PLATFORMS else None
        if why is None:
            _auto_choice = (name, tuple(skipped))
            return _auto_choice
        skipped.append(f"{name}: {why}")
    raise RuntimeError("no OpenMM platform can build a Context here: " + "; ".join(skipped))


def resolve_name(name: str | None) -> str:
    """The platform a name stands for: ``auto``/None resolved, any case accepted, availability checked."""
    if name is None or str(name).strip().lower() == "auto":
        return choose_auto()[0]
    pname = canonical_name(name)
    if pname not in available_platforms():
        fails = load_failures(pname)
        hint = f" (its plugin did not load: {fails[0]})" if fails else ""
        if any("libcuda.so" in f for f in fails):
            hint += "; libcuda.so.1 is the NVIDIA driver's library: this machine has no NVIDIA driver"
        extra = " Install the CUDA platform with `pip install 'glassmm[cuda]'`." if pname == "CUDA" and not fails else ""
        raise ValueError(f"platform {pname!r} is not available here; available: "
                         f"{', '.join(available_platforms())}{hint}.{extra}")
    return pname


def _announce(requested: str | None, pname: str, props: dict[str, str]) -> None:
    global _announced
    if requested is not None and str(requested).strip().lower() != "auto":
        return
    skipped = choose_auto()[1]
    msg = f"platform auto -> {pname}" + (f" ({props['Precision']} precision)" if "Precision" in props else "")
    if skipped:
        msg += "; passed over: " + "; ".join(skipped)
    log.info(msg)
    if not _announced and not os.environ.get("GLASSMM_QUIET"):
        _announced = True
        print(f"glassmm: {msg}", file=sys.stderr, flush=True)


def platform_properties(pname: str, precision: str | None = None, threads: int | None = None,
                        deterministic: bool = False, device_index: int | str | None = None) -> dict[str, str]:
    """Context properties for platform ``pname`` (canonical name); pure, so testable without the platform.

    GPU platforms get ``precision`` or mixed by default; ``deterministic`` sets
    ``DeterministicForces`` where the platform has it (CPU, CUDA, OpenCL, HIP; Reference is
    deterministic already) and, on CPU, one thread; ``threads`` applies to CPU,
    ``device_index`` to GPUs.
    """
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"precision must be single, mixed or double; got {precision!r}")
    props: dict[str, str] = {}
    if pname in GPU_PLATFORMS:
        props["Precision"] = precision or DEFAULT_GPU_PRECISION
        if device_index is not None:
            props["DeviceIndex"] = str(device_index)
    if deterministic and pname == "CPU":
        # Measured (OpenMM 8.6.1): with 2 threads the CPU platform's CustomNonbondedForce sums
        # differ from run to run (max |dF| 1e-4, trajectories apart after 300 steps) even
        # with DeterministicForces set, which covers its NonbondedForce only; one thread repeats.
        if threads is not None and int(threads) != 1:
            raise ValueError(f"deterministic=True on the CPU platform needs one thread (got threads={threads}): "
                             "the threaded custom-force sums are not reproducible")
        threads = 1
    if threads is not None and pname == "CPU":
        props["Threads"] = str(int(threads))
    if deterministic and pname != "Reference":
        props["DeterministicForces"] = "true"
    return props


def get_platform(
    name: str | None = "auto",
    precision: str | None = None,
    threads: int | None = None,
    deterministic: bool = False,
    device_index: int | str | None = None,
) -> tuple[openmm.Platform, dict[str, str]]:
    """Resolve a platform name and its Context properties.

    Parameters
    ----------
    name : str or None
        ``auto`` (or None: CUDA, then HIP, then OpenCL, then CPU, the first that works here),
        ``Reference``, ``CPU``, ``CUDA``, ``OpenCL`` or ``HIP``, in any case.
    precision : {"single", "mixed", "double"}, optional
        For GPU platforms; mixed when not given. Ignored on CPU/Reference.
    threads : int, optional
        CPU threads.
    deterministic : bool
        Bitwise-reproducible force sums (``DeterministicForces``): the same start and seed give
        the same trajectory, at some cost in speed on GPUs.
    device_index : int or str, optional
        Which GPU (``DeviceIndex``).

    Returns
    -------
    platform : openmm.Platform
    properties : dict of str
        Platform properties to pass to a Context.
    """
    pname = resolve_name(name)
    props = platform_properties(pname, precision, threads, deterministic, device_index)
    _announce(name, pname, props)
    if deterministic and pname != "Reference":
        plat = openmm.Platform.getPlatformByName(pname)
        if "DeterministicForces" not in plat.getPropertyNames():
            raise ValueError(f"platform {pname} has no DeterministicForces property in this OpenMM build")
    return openmm.Platform.getPlatformByName(pname), props


def is_gpu(name: str | None) -> bool:
    """True for the GPU platforms (any case; ``auto`` is resolved first), whose precision can be chosen."""
    if name is None or str(name).strip().lower() == "auto":
        return choose_auto()[0] in GPU_PLATFORMS
    return str(name).strip().lower() in {p.lower() for p in GPU_PLATFORMS}


def cuda_status() -> dict[str, object]:
    """Whether this machine can run glassmm's CUDA paths: OpenMM's CUDA platform and a torch GPU.

    Returns ``{"cuda_available": bool, "reason": str or None, "openmm_cuda": bool,
    "torch_cuda": bool, "device_name": str or None}``; ``reason`` says what is missing.
    """
    reasons = []
    openmm_cuda = "CUDA" in available_platforms()
    if not openmm_cuda:
        fails = load_failures("CUDA")
        reasons.append("OpenMM has no CUDA platform: " + (fails[0] if fails else "openmm-cuda-12 is not installed "
                                                          "(make installs it when nvidia-smi -L finds a GPU)"))
    else:
        why = _probe("CUDA")
        if why is not None:
            openmm_cuda = False
            reasons.append(f"OpenMM's CUDA platform loaded but cannot build a Context ({why})")
    try:
        import torch

        torch_cuda = bool(torch.cuda.is_available())
        name = torch.cuda.get_device_name(0) if torch_cuda else None
        if not torch_cuda:
            reasons.append("torch sees no GPU" if torch.version.cuda else "this torch build has no CUDA")
    except ImportError:
        torch_cuda, name = False, None
        reasons.append("torch is not installed")
    ok = openmm_cuda and torch_cuda
    return {"cuda_available": ok, "reason": None if ok else "; ".join(reasons), "openmm_cuda": openmm_cuda,
            "torch_cuda": torch_cuda, "device_name": name}


def processor_name() -> str:
    """The CPU's model name (as ``lscpu`` prints it), for benchmark records: speeds are compared
    only as ratios measured side by side, and a figure names the processor that gave it."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()
