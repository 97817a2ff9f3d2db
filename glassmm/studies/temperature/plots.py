"""The temperature study's figures (matplotlib imported only when they are drawn)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot_study(summary: dict[str, Any], cfg: Any, output: Path, fields: dict | None = None) -> list[Path]:
    """Write the study's figures into ``output`` (next to summary.json); returns their paths."""
    from glassmm.analysis._plot import finish, pyplot

    plt = pyplot()
    res = summary["results"]
    kinds = list(res)
    paths: list[Path] = []

    def save(fig: Any, name: str) -> None:
        finish(fig, output / name)
        paths.append(output / name)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for kind in kinds:
        pt = res[kind]["per_temperature"]
        T = np.array([float(k) for k in pt])
        for ax, key, ls in ((axes[0], "pearson_ensemble", "-o"), (axes[0], "pearson_per_snapshot", ":x")):
            ax.plot(T, [pt[k][key] for k in pt], ls, label=f"{kind} {key.split('_', 1)[1].replace('_', ' ')}")
        axes[1].errorbar(T, [pt[k]["temperature_estimate_ensemble"] for k in pt],
                         yerr=[pt[k]["temperature_rmse_ensemble"] for k in pt], fmt="o", capsize=3, label=kind)
        b = res[kind].get("baseline")
        if b:
            axes[0].plot([b["temperature"]], [b["single_temperature"]["pearson_ensemble"]], "k*", ms=12)
    Tall = np.array([float(k) for k in summary["roles"]])
    axes[0].plot(Tall, [summary["propensity_reliability"][k] ** 0.5 for k in summary["roles"]], "k--",
                 lw=0.8, label="sqrt(reliability): ceiling")
    for ax in axes:
        for t in cfg.train_temperatures:
            ax.axvline(float(t), color="0.85", zorder=0)
    axes[0].set_xlabel(r"$T$ / ($\epsilon_{AA}/k_B$)"); axes[0].set_ylabel(r"Pearson (A), propensity at $\tau_\alpha(T)$")
    axes[0].set_title("grey: training T; star: model trained at that T"); axes[0].legend(fontsize=7)
    lim = [Tall.min() - 0.05, Tall.max() + 0.05]
    axes[1].plot(lim, lim, "k-", lw=0.8); axes[1].set_xlabel(r"true $T$ / ($\epsilon_{AA}/k_B$)"); axes[1].set_ylabel(r"T-BOTAN estimate / ($\epsilon_{AA}/k_B$)")
    big = summary.get("thermometer_large_system")
    if big:
        for kind in kinds:
            ks = [k for k in big["per_temperature"] if kind in big["per_temperature"][k]]
            if not ks:
                continue
            axes[1].errorbar([float(k) + 0.01 for k in ks],
                             [float(k) + big["per_temperature"][k][kind]["temperature_bias"] for k in ks],
                             yerr=[big["per_temperature"][k][kind]["temperature_rmse_ensemble"] for k in ks],
                             fmt="s", mfc="none", capsize=3, label=f"{kind}, N = {big['n_particles']}")
    axes[1].set_title("structural thermometer (ensemble, bars: RMSE)"); axes[1].legend(fontsize=7)
    save(fig, "pearson_and_thermometer.png")

    fig, axes = plt.subplots(1, len(kinds), figsize=(4.5 * len(kinds), 4), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        lat = res[kind]["latent"]
        im = ax.imshow(np.asarray(lat["distance"]), cmap="viridis")
        labels = [f"{t:g}" + ("*" if cfg.role(t) == "train" else "") for t in lat["temperatures"]]
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_title(f"{kind}: latent distance (* trained)")
        fig.colorbar(im, ax=ax, fraction=0.046)
    save(fig, "latent_distance.png")

    if fields:
        keys = [k for k in fields if cfg.role(float(k)) != "train"] or list(fields)
        fig, axes = plt.subplots(2, len(keys), figsize=(3.6 * len(keys), 6.5), squeeze=False)
        for j, k in enumerate(keys):
            f = fields[k]
            bins = np.linspace(-3, 5, 50)
            axes[0, j].hist(f["true"], bins, density=True, alpha=0.5, label="MD")
            axes[0, j].hist(f["pred"], bins, density=True, histtype="step", lw=1.5, label="T-BOTAN")
            axes[0, j].set_title(f"T = {k} ({cfg.role(float(k))})"); axes[0, j].set_xlabel("standardised propensity")
            axes[1, j].plot(f["s_true"]["q"], f["s_true"]["s"], "o-", label="MD")
            axes[1, j].plot(f["s_pred"]["q"], f["s_pred"]["s"], "s--", label="T-BOTAN")
            axes[1, j].set_xlabel(r"$q$ / $\sigma_{AA}^{-1}$"); axes[1, j].set_ylabel("$S_X(q)$ of propensity field")
        axes[0, 0].legend(); axes[1, 0].legend()
        fig.suptitle(f"{kinds[0]} inputs: distributions and field structure factors at held-out T")
        save(fig, "fields.png")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    ta = summary["tau_alpha"]
    T = np.array([float(k) for k in ta])
    axes[0].semilogy(1 / T, [ta[k] for k in ta], "o-")
    axes[0].set_xlabel(r"$1/T$ / ($k_B/\epsilon_{AA}$)"); axes[0].set_ylabel(r"$\tau_\alpha$ / $\tau$ (glassmm MD, $F_s(7.25) = 1/e$)")
    fs = summary.get("fs_at_target_time")
    if fs:
        axes[1].plot([float(k) for k in fs], list(fs.values()), "o-", label="replicas at the target time")
        axes[1].axhline(np.exp(-1), color="k", lw=0.8, label="1/e")
        axes[1].set_xlabel(r"$T$ / ($\epsilon_{AA}/k_B$)"); axes[1].set_ylabel(r"$F_s(q = 7.25\,\sigma^{-1})$ of A"); axes[1].legend()
        axes[1].set_title("self-check: targets at tau_alpha?")
    save(fig, "tau_alpha.png")
    return paths

