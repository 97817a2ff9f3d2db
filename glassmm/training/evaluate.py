"""Evaluation of a propensity model against isoconfigurational data (the literature's metrics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy.stats import spearmanr

from glassmm.geometry import minimum_image
from glassmm.io import load_configuration


def evaluate_model(predictor: Any, files: Sequence[str | Path], plot: str | Path | None = None,
                   progress: bool = True, temperature: float | None = None) -> dict[str, Any]:
    """Pearson of predicted vs true propensity over A particles, per file, mean and pooled.

    Also: Spearman, ratio of predicted to true standard deviation (collapse toward the mean
    shows as << 1), edge Pearson for A-A pairs closer than 1.35 at t = 0, and for T-BOTAN
    models the temperature estimate and its RMSE against the files' temperatures
    (``temperature`` (reduced) stands in for files that carry none).
    """
    from glassmm.analysis.propensity import propensity

    rows, pooled_p, pooled_t = [], [], []
    it = files
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(files, desc="evaluating", unit="file")
    for f in it:
        c = load_configuration(f)
        if c.replica_positions is None:
            raise ValueError(f"{f}: no replica 'positions': cannot compute the true propensity")
        true = propensity(c.positions, c.replica_positions)
        # missing IS / CS are computed (and cached) by the predictor, CS at the file's temperature
        pred = predictor(c.positions, c.box, c.types, inherent_positions=c.inherent_positions,
                         cage_positions=c.cage_positions, edges=True,
                         temperature=c.temperature if c.temperature is not None else temperature)
        A = c.types == 0
        row: dict[str, Any] = {
            "file": str(f),
            "pearson": float(np.corrcoef(pred.propensity[A], true[A])[0, 1]),
            "spearman": float(spearmanr(pred.propensity[A], true[A]).statistic),
            "std_ratio": float(pred.propensity[A].std() / true[A].std()),
        }
        ei = pred.edge_index
        j, i = ei[0], ei[1]
        d0 = c.positions[j] - c.positions[i]
        d0 = np.linalg.norm(minimum_image(d0, c.box), axis=1)
        sel = (c.types[i] == 0) & (c.types[j] == 0) & (d0 < 1.35)
        if sel.sum() > 2:
            reps = c.replica_positions
            dt = reps[:, j[sel]] - reps[:, i[sel]]
            dt = np.linalg.norm(minimum_image(dt, c.box), axis=2).mean(0)
            row["edge_pearson_AA"] = float(np.corrcoef(pred.edge_delta[sel], dt - d0[sel])[0, 1])
        if pred.temperature is not None:
            row["temperature_pred"] = pred.temperature
            row["temperature_true"] = c.temperature if c.temperature is not None else temperature
        rows.append(row)
        pooled_p.append(pred.propensity[A])
        pooled_t.append(true[A])
    P, T = np.concatenate(pooled_p), np.concatenate(pooled_t)
    res: dict[str, Any] = {
        "per_file": rows,
        "pearson_mean": float(np.mean([r["pearson"] for r in rows])),
        "pearson_pooled": float(np.corrcoef(P, T)[0, 1]),
        "spearman_mean": float(np.mean([r["spearman"] for r in rows])),
        "std_ratio_mean": float(np.mean([r["std_ratio"] for r in rows])),
        "n_files": len(rows),
        "model": predictor.name,
    }
    edges = [r["edge_pearson_AA"] for r in rows if "edge_pearson_AA" in r]
    if edges:
        res["edge_pearson_AA_mean"] = float(np.mean(edges))
    temps = [(r["temperature_pred"], r["temperature_true"]) for r in rows if r.get("temperature_true") is not None]
    if temps:
        res["temperature_rmse"] = float(np.sqrt(np.mean([(a - b) ** 2 for a, b in temps])))
    if plot is not None:
        from glassmm.analysis._plot import finish, pyplot

        fig, ax = pyplot().subplots(figsize=(5, 5))
        ax.hexbin(T, P, gridsize=60, bins="log", cmap="viridis")
        lim = [min(T.min(), P.min()), max(T.max(), P.max())]
        ax.plot(lim, lim, "w--", lw=0.8)
        ax.set_xlabel(r"true propensity / $\sigma_{AA}$ (A)"); ax.set_ylabel(r"predicted propensity / $\sigma_{AA}$ (A)")
        ax.set_title(f"{predictor.name}: Pearson mean {res['pearson_mean']:.3f}, pooled {res['pearson_pooled']:.3f}")
        finish(fig, plot)
        res["plot"] = str(plot)
    return res
