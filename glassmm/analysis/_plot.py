"""Lazy matplotlib: imported only when a plot is asked for, headless backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from exc
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def finish(fig: Any, path: str | Path | None) -> Any:
    if path is not None:
        from glassmm.io import atomic_write

        with atomic_write(path) as fh:
            fig.savefig(fh, format="png", dpi=120, bbox_inches="tight")
        pyplot().close(fig)
    return fig
