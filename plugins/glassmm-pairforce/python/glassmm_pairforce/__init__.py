"""glassmm-pairforce: a compiled OpenMM force for multi-species Lennard-Jones pair tables.

``PairTableForce`` is an ``openmm.CustomNonbondedForce`` subclass (per-particle type ``t``,
an energy function generated from the table) evaluated by compiled kernels: Reference (the
oracle), CPU (own half neighbour list with a skin and per-pair cutoffs, SIMD, OpenMM's thread
pool) and the common GPU layer (OpenCL here; CUDA / HIP where built). Importing this package
loads the kernel libraries into OpenMM's platforms; ``kernel_libraries()`` says which loaded.

``System.getForce`` returns the force as a ``CustomNonbondedForce``; ``PairTableForce.cast(f)``
gives back the plugin's methods (``updateParametersInContext``, ``setPairParameters``, ...).
"""

from __future__ import annotations

from pathlib import Path

import openmm

__version__ = "0.1.0"

_HERE = Path(__file__).resolve().parent
#: kernel library -> None when it loaded, else OpenMM's message
_LOADED: dict[str, str | None] = {}


def _load_kernels() -> None:
    # Order matters: the Reference library also registers itself on CPU as a fallback, and the
    # CPU library, loaded next, replaces it there.
    for name in ("Reference", "CPU", "OpenCL", "CUDA", "HIP"):
        lib = _HERE / f"libGlassmmPairForce{name}.so"
        if not lib.exists():
            continue
        try:
            openmm.Platform.loadPluginLibrary(str(lib))
            _LOADED[name] = None
        except Exception as exc:  # e.g. no libOpenCL.so.1 / libcuda.so.1 on this machine
            _LOADED[name] = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def kernel_libraries() -> dict[str, str | None]:
    """Kernel libraries found next to this package: name -> None (loaded) or why it did not load."""
    return dict(_LOADED)


#: the name under which the kernels register with OpenMM's platforms
KERNEL_NAME = "CalcGlassmmPairTableForce"


def platform_supported(name: str) -> bool:
    """Whether OpenMM platform ``name`` is loaded and has a PairTableForce kernel here."""
    try:
        return bool(openmm.Platform.getPlatformByName(name).supportsKernels([KERNEL_NAME]))
    except Exception:
        return False


def supported_platforms() -> list[str]:
    """Loaded OpenMM platforms that can evaluate a PairTableForce here."""
    names = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
    return [n for n in names if platform_supported(n)]


def cpu_engine() -> str:
    """The CPU kernel's SIMD engine here (e.g. "AVX2+FMA, 8-wide single precision"), or why there is none."""
    if _LOADED.get("CPU", "not built") is not None:
        return f"none: the CPU library did not load ({_LOADED.get('CPU', 'not built')}); the Reference kernel serves CPU"
    import ctypes

    lib = ctypes.CDLL(str(_HERE / "libGlassmmPairForceCPU.so"))
    lib.glassmmPairForceCpuEngine.restype = ctypes.c_char_p
    isa = lib.glassmmPairForceCpuEngine().decode()
    return isa or "none: this processor lacks AVX2/FMA; the Reference kernel serves CPU"


from glassmm_pairforce.pairforce import PairTableForce  # noqa: E402  (loads libGlassmmPairForce.so)

_load_kernels()

__all__ = ["KERNEL_NAME", "PairTableForce", "cpu_engine", "kernel_libraries", "platform_supported",
           "supported_platforms", "__version__"]
