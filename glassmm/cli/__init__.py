"""The ``glassmm`` command line: thin shells that parse, call the API, and print.

Each subcommand is a pair ``_add_<name>(subparsers)`` / ``_cmd_<name>(args)`` in the module
of its group (:mod:`md`, :mod:`analysis`, :mod:`models`, :mod:`sampling`, :mod:`study`); the
logic lives in the library (mostly :mod:`glassmm.workflows`) so Python users get the same
behaviour.
"""

from __future__ import annotations

import argparse
import sys

from glassmm.cli import analysis, md, models, sampling, study

_ADDERS = [*md.ADDERS, *analysis.ADDERS, *models.ADDERS, *sampling.ADDERS, *study.ADDERS]



def build_parser() -> argparse.ArgumentParser:
    from glassmm._version import __version__

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
