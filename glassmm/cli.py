"""The ``glassmm`` command line: thin shells that parse, call the API, and print.

Each subcommand is a pair ``_add_<name>(subparsers)`` / ``_cmd_<name>(args)``; the logic
lives in the library so Python users get the same behaviour.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

def _print_json(obj: Any) -> None:
    print(json.dumps(obj, default=_json_default))


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x)}")


# ---------------------------------------------------------------------------- inspect
def _add_inspect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="summarise a configuration file (N, composition, box, energy)")
    p.add_argument("file", help="npz configuration (BOTAN layout)")
    p.add_argument("--density", type=float, default=1.2, help="density used when the file has no box")
    p.add_argument("--platform", default="Reference", help="OpenMM platform for the energy")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_inspect)


def inspect_configuration(path: str | Path, density: float = 1.2, platform: str = "Reference") -> dict[str, Any]:
    """Facts about a configuration file as a dict (the API behind ``glassmm inspect``)."""
    from glassmm.io import load_configuration
    from glassmm.simulation import potential_energy_per_particle

    c = load_configuration(path, density=density)
    n_b = int(np.sum(c.types == 1))
    dims = 2 if np.allclose(c.positions[:, 2], 0.0) else 3
    out: dict[str, Any] = {
        "file": str(path),
        "n_particles": c.n_particles,
        "n_a": c.n_particles - n_b,
        "n_b": n_b,
        "fraction_a": (c.n_particles - n_b) / c.n_particles,
        "dimensions": dims,
        "box": c.box.tolist(),
        "box_inferred": c.box_inferred,
        "density": c.n_particles / float(np.prod(c.box[:dims])),
        "temperature": c.temperature,
        "potential_energy_per_particle": potential_energy_per_particle(c.positions, c.types, c.box, platform),
        "keys": sorted(["types", "initial_positions", *c.extra.keys()]),
    }
    if c.replica_positions is not None:
        out["n_replicas"] = int(np.asarray(c.replica_positions).reshape(-1, c.n_particles, 3).shape[0])
    if c.inherent_positions is not None:
        out["inherent_energy_per_particle"] = potential_energy_per_particle(
            c.inherent_positions, c.types, c.box, platform
        )
    return out


def _cmd_inspect(args: argparse.Namespace) -> int:
    info = inspect_configuration(args.file, args.density, args.platform)
    if args.json:
        _print_json(info)
        return 0
    print(f"{info['file']}")
    print(f"  particles   {info['n_particles']} (A {info['n_a']}, B {info['n_b']}), {info['dimensions']}D")
    box = " x ".join(f"{b:.5f}" for b in info["box"])
    print(f"  box         {box}{'  (inferred from density)' if info['box_inferred'] else ''}")
    print(f"  density     {info['density']:.5f}")
    if info["temperature"] is not None:
        print(f"  temperature {info['temperature']:.4f}")
    print(f"  U/N         {info['potential_energy_per_particle']:.6f} (reduced)")
    if "inherent_energy_per_particle" in info:
        print(f"  U_IS/N      {info['inherent_energy_per_particle']:.6f} (reduced)")
    if "n_replicas" in info:
        print(f"  replicas    {info['n_replicas']}")
    return 0


# ---------------------------------------------------------------------------- simulate
def _add_simulate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="equilibrate and run KA at a temperature, writing a trajectory")
    p.add_argument("--input", help="start from this npz configuration (else a fresh melt)")
    p.add_argument("-n", "--n-particles", type=int, default=1000)
    p.add_argument("--density", type=float, default=1.2)
    p.add_argument("--dimensions", type=int, default=3, choices=(2, 3))
    p.add_argument("-T", "--temperature", type=float, required=True, help="reduced temperature")
    p.add_argument("--equilibrate", type=float, default=10.0, help="equilibration time (tau)")
    p.add_argument("--melt", action="store_true", help="melt at T=2 and quench first (default for fresh starts)")
    p.add_argument("--time", type=float, default=10.0, help="production time (tau)")
    p.add_argument("--dt", type=float, default=0.005)
    p.add_argument("--integrator", default="langevin", choices=("langevin", "nose-hoover", "nve"))
    p.add_argument("--platform", default="CPU")
    p.add_argument("--precision", default="mixed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report-every", type=float, default=1.0, help="trajectory frame interval (tau)")
    p.add_argument("-o", "--output", default="run", help="output prefix: PREFIX.dcd, PREFIX.npz, PREFIX.log")
    p.set_defaults(func=_cmd_simulate)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from glassmm.workflows import simulate

    summary = simulate(
        temperature=args.temperature,
        output=args.output,
        input=args.input,
        n_particles=args.n_particles,
        density=args.density,
        dimensions=args.dimensions,
        equilibration_time=args.equilibrate,
        melt=args.melt or args.input is None,
        production_time=args.time,
        dt=args.dt,
        integrator=args.integrator,
        platform=args.platform,
        precision=args.precision,
        seed=args.seed,
        report_every=args.report_every,
        progress=True,
    )
    _print_json(summary)
    return 0


# ---------------------------------------------------------------------------- main
_ADDERS = [_add_inspect, _add_simulate]


def build_parser() -> argparse.ArgumentParser:
    from glassmm import __version__

    parser = argparse.ArgumentParser(prog="glassmm", description="Hybrid ML/MD for glass-forming liquids (OpenMM).")
    parser.add_argument("--version", action="version", version=f"glassmm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in _ADDERS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"glassmm {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
