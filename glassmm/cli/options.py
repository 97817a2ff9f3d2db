"""Options several subcommands share: the OpenMM platform and the torch device."""

from __future__ import annotations

import argparse

PLATFORM_HELP = ("OpenMM platform: auto (CUDA, then HIP, then OpenCL, then CPU: the first that works here), "
                 "Reference, CPU, CUDA, OpenCL or HIP, any case")


def add_platform(p: argparse.ArgumentParser, default: str = "auto", precision: bool = False,
                 deterministic: bool = False) -> None:
    """``--platform`` (and, where the command builds a long-lived Context, ``--precision`` / ``--deterministic``)."""
    p.add_argument("--platform", default=default, help=PLATFORM_HELP)
    if precision:
        p.add_argument("--precision", default=None, choices=("single", "mixed", "double"),
                       help="GPU platforms only (default mixed)")
    if deterministic:
        p.add_argument("--deterministic", action="store_true",
                       help="bitwise-reproducible force sums (DeterministicForces): same start and seed, same run")


def add_device(p: argparse.ArgumentParser) -> None:
    """``--device`` and ``--backend`` for commands that run a model."""
    p.add_argument("--device", default="auto", help="torch device for the model: auto (cuda when torch sees a GPU), cpu, cuda, cuda:1")
    p.add_argument("--backend", default=None, help="inference backend (see `glassmm backends`); default torchscript")
