"""OpenMM platforms: which ones loaded, and how a name (or ``auto``) becomes a platform.

Below :mod:`glassmm.systems` and :mod:`glassmm.simulation` in the import order, so every room
that builds a Context (systems' overlap removal, minimisation, simulation) asks here.
"""

from __future__ import annotations

import openmm

KNOWN_PLATFORMS = ("Reference", "CPU", "CUDA", "OpenCL", "HIP")
GPU_PLATFORMS = ("CUDA", "OpenCL", "HIP")
PRECISIONS = ("single", "mixed", "double")


def available_platforms() -> list[str]:
    """Names of the OpenMM platforms that loaded on this machine."""
    return [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]


def get_platform(
    name: str | None = "CPU", precision: str | None = None, threads: int | None = None
) -> tuple[openmm.Platform, dict[str, str]]:
    """Resolve a platform name and its properties.

    Parameters
    ----------
    name : str or None
        ``Reference``, ``CPU``, ``CUDA``, ``OpenCL``, ``HIP`` (case-insensitive), or
        ``None``/``"auto"`` for the fastest one available.
    precision : {"single", "mixed", "double"}, optional
        For GPU platforms (CUDA/OpenCL/HIP); ignored on CPU/Reference.
    threads : int, optional
        CPU threads.

    Returns
    -------
    platform : openmm.Platform
    properties : dict of str
        Platform properties to pass to a Context.
    """
    have = available_platforms()
    if name is None or str(name).lower() == "auto":
        platform = max(
            (openmm.Platform.getPlatformByName(p) for p in have), key=lambda p: p.getSpeed()
        )
    else:
        match = [p for p in KNOWN_PLATFORMS if p.lower() == str(name).lower()]
        if not match:
            raise ValueError(f"unknown platform {name!r}; known: {', '.join(KNOWN_PLATFORMS)}")
        if match[0] not in have:
            failures = [f for f in openmm.Platform.getPluginLoadFailures() if match[0] in f]
            hint = f" (load failure: {failures[0]})" if failures else ""
            raise ValueError(
                f"platform {match[0]!r} is not available here; available: {', '.join(have)}{hint}"
            )
        platform = openmm.Platform.getPlatformByName(match[0])
    props: dict[str, str] = {}
    pname = platform.getName()
    if precision is not None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be single, mixed or double; got {precision!r}")
        if pname in GPU_PLATFORMS:
            props["Precision"] = precision
    if threads is not None and pname == "CPU":
        props["Threads"] = str(int(threads))
    return platform, props


def is_gpu(name: str) -> bool:
    """True for the GPU platforms (any case), whose precision can be chosen."""
    return str(name).lower() in {p.lower() for p in GPU_PLATFORMS}
