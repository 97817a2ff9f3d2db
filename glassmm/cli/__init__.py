"""The ``glassmm`` command line: thin shells that parse, call the API, and print.

Each subcommand is a pair ``_add_<name>(subparsers)`` / ``_cmd_<name>(args)`` in the module
of its group (:mod:`md`, :mod:`analysis`, :mod:`models`, :mod:`sampling`, :mod:`study`); the
logic lives in the library (mostly :mod:`glassmm.workflows`) so Python users get the same
behaviour.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from glassmm.cli import analysis, md, models, sampling, study

_ADDERS = [*md.ADDERS, *analysis.ADDERS, *models.ADDERS, *sampling.ADDERS, *study.ADDERS]
#: subcommands whose ``output`` is a folder (the others write a file or a PREFIX*)
_FOLDER_OUTPUTS = {"dataset", "sample", "study"}


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows every option's default (not the uninformative None / False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False, argparse.SUPPRESS) or not action.option_strings \
                or "%(default)" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = _DefaultsFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for p in action.choices.values():
                _show_defaults(p)
        elif action.help is None and action.option_strings and action.default not in (None, False):
            action.help = "default: %(default)s"  # argparse prints no default for an option without help


def _check_outputs(args: argparse.Namespace) -> None:
    """Fail before any work when an output cannot be written (one line, exit status 2)."""
    from glassmm.io import ensure_writable

    out = getattr(args, "output", None)
    if out and args.command in _FOLDER_OUTPUTS:
        ensure_writable(Path(out), directory=True)
    elif out:
        # a file or a PREFIX of files: what must be writable is the folder they go in
        ensure_writable(Path(out).parent, directory=True)
    plot = getattr(args, "plot", None)
    if isinstance(plot, str):
        ensure_writable(Path(plot).parent, directory=True)



def build_parser() -> argparse.ArgumentParser:
    from glassmm._version import __version__

    parser = argparse.ArgumentParser(prog="glassmm", description="Hybrid ML/MD for glass-forming liquids (OpenMM).")
    parser.add_argument("--version", action="version", version=f"glassmm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in _ADDERS:
        add(sub)
    _show_defaults(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a ``glassmm`` command; exit status 0, 2 (bad input, named on one line) or 3 (the run blew up)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _check_outputs(args)
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try: a reader that went away shows here, not at interpreter exit
        return status
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError) as exc:
        print(f"glassmm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (`glassmm inspect ... | head`): not an error of this command
        _silence_stdout()
        return 0
    except Exception as exc:
        from glassmm.simulation import SimulationBlewUp

        if isinstance(exc, SimulationBlewUp):
            print(f"glassmm {args.command}: error: {exc}", file=sys.stderr)
            return 3
        raise


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush into a closed pipe stays quiet."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
