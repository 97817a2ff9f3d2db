"""Figures of a GlassReporter file (matplotlib imported only when they are drawn)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def _context(report: Any) -> dict[str, Any]:
    """What a figure must say about the run: model, target time, state point, q, species."""
    meta = report.model_metadata or {}
    analysis = json.loads(report.attrs.get("analysis", "{}"))
    thermostat = report["thermostat_temperature"]
    temps = thermostat[np.isfinite(thermostat)]
    return {
        "model": meta.get("kind", "no model") + (f" ({meta.get('inputs')})" if meta else ""),
        "target": meta.get("target_time", ""),
        "state": f"T = {np.median(temps):.3g} eps/k_B" if temps.size else "NVE",
        "q": analysis.get("q", 7.25),
        "species": analysis.get("species", 0),
        "overlap_a": analysis.get("overlap_a", 0.3),
    }


def plot_report(report: Any, prefix: str | Path, frame: int = -1) -> list[str]:
    """PNG plots of a :class:`~glassmm.reporters.reader.ReportFile`: propensity field of a frame
    (slab projection), temperatures against time, multiple-origin dynamics; returns their paths."""
    from glassmm.analysis._plot import LAG_LABEL, MSD_LABEL, T_LABEL, TEMP_LABEL, finish, log_ticks, pyplot, species_label

    plt = pyplot()
    prefix = Path(prefix)
    out = []
    ctx = _context(report)
    who = species_label(ctx["species"])
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
        # the unit spelled out: a bare number next to a length scale reads as angstroms
        fig.colorbar(sc, label=r"predicted propensity / $\sigma_{AA}$ (A particles)")
        ax.set_aspect("equal"); ax.set_xlabel(r"$x$ / $\sigma_{AA}$"); ax.set_ylabel(r"$y$ / $\sigma_{AA}$")
        step, time = report["step"][frame], t[frame]
        ax.set_title(f"{ctx['model']}, {ctx['state']}\nstep {step} (t = {time:.4g} tau), slab |z - L/2| < 1.5 sigma"
                     + (f"\ntarget: {ctx['target']}" if ctx["target"] else ""), fontsize=9)
        p = prefix.parent / f"{prefix.name}_propensity.png"
        finish(fig, p); out.append(str(p))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(t, report["kinetic_temperature"], label="kinetic")
    if np.isfinite(report["thermostat_temperature"]).any():
        ax.plot(t, report["thermostat_temperature"], "k--", label="thermostat")
    if np.isfinite(report["temperature_estimate"]).any():
        ax.plot(t, report["temperature_estimate"], "o-", label=f"estimate ({ctx['model']})")
    ax.set_xlabel(T_LABEL); ax.set_ylabel(TEMP_LABEL); ax.legend()
    ax.set_title(f"temperatures, {ctx['state']}", fontsize=9)
    p = prefix.parent / f"{prefix.name}_temperature.png"
    finish(fig, p); out.append(str(p))
    if "dynamics/lag" in report:
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
        lag = report["dynamics/lag"]
        axes[0].loglog(lag, report["dynamics/msd"], "o-"); axes[0].set_ylabel(f"{MSD_LABEL} ({who})")
        log_ticks(axes[0], "y")
        axes[1].semilogx(lag, report["dynamics/fs"], "o-", label=rf"$F_s(q = {ctx['q']:g}\,\sigma^{{-1}})$")
        axes[1].semilogx(lag, report["dynamics/overlap"], "s--", label=rf"$Q$, $a = {ctx['overlap_a']:g}\,\sigma$")
        axes[1].axhline(np.exp(-1), color="gray", lw=0.8, ls=":", label="1/e")
        axes[1].legend(); axes[1].set_ylabel(f"correlation ({who})")
        axes[2].semilogx(lag, report["dynamics/chi4"], "o-"); axes[2].set_ylabel(r"$\chi_4$ (overlap)")
        for ax in axes:
            ax.set_xlabel(LAG_LABEL)
            log_ticks(ax, "x")
        fig.suptitle(f"multiple-origin dynamics of {who}, {ctx['state']}", fontsize=10)
        fig.tight_layout()
        p = prefix.parent / f"{prefix.name}_dynamics.png"
        finish(fig, p); out.append(str(p))
    return out
