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


def log_ticks(ax: Any, axis: str = "x") -> None:
    """Legible log-axis ticks: 1-2-5 labels in plain numbers, unlabelled minor ticks.

    Matplotlib's default labels minor ticks as "2x10^1 3x10^1 ..." on ranges under a decade,
    and those collide.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0), numticks=12))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())


def species_label(species: int | None) -> str:
    """'A', 'B' or 'all particles' for a species index (0, 1, None)."""
    return {0: "A", 1: "B"}.get(species, "all particles") if species is not None else "all particles"


#: axis labels in reduced LJ units
T_LABEL = r"$t$ / $\tau$"
LAG_LABEL = r"lag $t$ / $\tau$"
TEMP_LABEL = r"$T$ / ($\epsilon_{AA}/k_B$)"
MSD_LABEL = r"MSD / $\sigma_{AA}^2$"
Q_LABEL = r"$q$ / $\sigma_{AA}^{-1}$"
R_LABEL = r"$r$ / $\sigma_{AA}$"
