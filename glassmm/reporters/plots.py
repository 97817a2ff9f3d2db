"""Figures of a GlassReporter file (matplotlib imported only when they are drawn)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot_report(report: Any, prefix: str | Path, frame: int = -1) -> list[str]:
    """PNG plots of a :class:`~glassmm.reporters.reader.ReportFile`: propensity field of a frame
    (slab projection), temperatures against time, multiple-origin dynamics; returns their paths."""
    from glassmm.analysis._plot import finish, pyplot

    plt = pyplot()
    prefix = Path(prefix)
    out = []
    t = report["time"]
    prop = report["propensity"]
    if prop.shape[0] and np.isfinite(prop[frame]).any():
        box = report.attrs["box"]
        types = report["types"]
        wrapped = np.mod(report.row("positions", frame), box)
        # A particles in a slab |z - L/2| < 1.5, on their own colour scale (B particles are
        # predicted ~2x more mobile and would otherwise set the colours)
        sel = (np.abs(wrapped[:, 2] - box[2] / 2) < 1.5) & (types == 0)
        fig, ax = plt.subplots(figsize=(6, 5.4))
        sc = ax.scatter(wrapped[sel, 0], wrapped[sel, 1], c=prop[frame][sel], s=40, cmap="inferno")
        fig.colorbar(sc, label="predicted propensity (A)")
        ax.set_aspect("equal"); ax.set_xlabel("x"); ax.set_ylabel("y")
        ax.set_title(f"A particles, step {report['step'][frame]} (slab |z - L/2| < 1.5)")
        p = prefix.parent / f"{prefix.name}_propensity.png"
        finish(fig, p); out.append(str(p))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(t, report["kinetic_temperature"], label="kinetic")
    if np.isfinite(report["thermostat_temperature"]).any():
        ax.plot(t, report["thermostat_temperature"], "k--", label="thermostat")
    if np.isfinite(report["temperature_estimate"]).any():
        ax.plot(t, report["temperature_estimate"], "o-", label="T-BOTAN estimate")
    ax.set_xlabel("t / tau"); ax.set_ylabel("T"); ax.legend()
    p = prefix.parent / f"{prefix.name}_temperature.png"
    finish(fig, p); out.append(str(p))
    if "dynamics/lag" in report:
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
        lag = report["dynamics/lag"]
        axes[0].loglog(lag, report["dynamics/msd"], "o-"); axes[0].set_ylabel("MSD")
        axes[1].semilogx(lag, report["dynamics/fs"], "o-", label="F_s"); axes[1].semilogx(lag, report["dynamics/overlap"], "s--", label="Q")
        axes[1].legend()
        axes[2].semilogx(lag, report["dynamics/chi4"], "o-"); axes[2].set_ylabel(r"$\chi_4$")
        for ax in axes:
            ax.set_xlabel("lag / tau")
        fig.tight_layout()
        p = prefix.parent / f"{prefix.name}_dynamics.png"
        finish(fig, p); out.append(str(p))
    return out


