"""Evaluation of a propensity model against isoconfigurational data (the literature's metrics).

A model predicts the propensity at one time, its target time (``target_time`` in its
metadata); isoconfigurational data may hold several lags of the same configurations. So the
headline figures are those at the model's target time (the stored lag closest to it in log
time, or the one ``lag=`` names), every lag is also reported on its own (``per_lag``: how the
prediction tracks propensity at other times), and nothing pools different lags. Beside each
Pearson stands the data's own ceiling: the split-half reliability of the replicas, corrected to
the full ensemble by Spearman-Brown (:func:`glassmm.analysis.propensity.split_half_reliability`),
whose square root bounds the Pearson any predictor can reach against that noisy target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy.stats import spearmanr

from glassmm.geometry import minimum_image
from glassmm.io import load_configuration

#: lags closer than this relative difference are the same lag
_LAG_RTOL = 1e-6


def numeric_target_time(metadata: dict[str, Any]) -> float | None:
    """The model's target time (tau) when its metadata states it as a number, else None."""
    t = metadata.get("target_time")
    if isinstance(t, (int, float)) and not isinstance(t, bool) and np.isfinite(t) and t > 0:
        return float(t)
    return None


def _file_lag(c: Any, time: float | None) -> float | None:
    if "time" in c.extra:
        return float(np.asarray(c.extra["time"]))
    return None if time is None else float(time)


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= _LAG_RTOL * max(abs(a), abs(b))


def choose_lag(lags: Sequence[float | None], target: float | None, lag: float | None = None) -> tuple[Any, str]:
    """The lag the headline figures are taken at, and why.

    ``lag`` wins (it must be one of ``lags``); else the stored lag closest to the model's
    numeric ``target`` in log time; else, with one lag only (or files that store none), that one.
    Raises ValueError when neither says which of several lags to take.
    """
    distinct: list[float | None] = []
    for x in lags:
        if not any(_same(x, d) for d in distinct):
            distinct.append(x)
    if lag is not None:
        for d in distinct:
            if d is not None and _same(d, float(lag)):
                return d, "asked for"
        raise ValueError(f"lag {lag} is not among the files' lags {sorted(d for d in distinct if d is not None)}")
    numeric = [d for d in distinct if d is not None]
    if target is not None and numeric:
        best = min(numeric, key=lambda d: abs(np.log(d / target)))
        return best, ("the model's target time" if _same(best, target)
                      else f"the stored lag closest to the model's target time {target:g}")
    if len(distinct) == 1:
        return distinct[0], ("the only lag" if distinct[0] is not None
                             else "the files store no lag; taken as the model's target time")
    raise ValueError(f"the files hold several lags ({sorted(numeric)}) and the model states no numeric target "
                     "time: choose one with lag= (--lag)")


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "n_files": len(rows),
        "pearson_mean": float(np.mean([r["pearson"] for r in rows])),
        "spearman_mean": float(np.mean([r["spearman"] for r in rows])),
        "std_ratio_mean": float(np.mean([r["std_ratio"] for r in rows])),
    }
    ceil = [r["pearson_ceiling"] for r in rows if r.get("pearson_ceiling") is not None]
    if ceil:
        out["pearson_ceiling_mean"] = float(np.mean(ceil))
        out["reliability_mean"] = float(np.mean([r["reliability"] for r in rows if r.get("reliability") is not None]))
    return out


def evaluate_model(predictor: Any, files: Sequence[str | Path], plot: str | Path | None = None,
                   progress: bool = True, temperature: float | None = None, time: float | None = None,
                   lag: float | None = None) -> dict[str, Any]:
    """Pearson of predicted vs true propensity over A particles at the model's target time, and per lag.

    Parameters
    ----------
    predictor : Predictor
    files : isoconfigurational npz files (replica ``positions``; a ``time`` each, or ``time``)
    plot : path, optional
        PNG of predicted vs true propensity at the headline lag.
    temperature : float (reduced), optional
        Temperature of files that carry none (for cage states and T-BOTAN's error).
    time : float (reduced, tau), optional
        Lag of files that store none (such as the shared BOTAN files).
    lag : float (reduced, tau), optional
        Take the headline figures at this stored lag instead of the model's target time.

    Returns
    -------
    dict
        Headline figures at ``lag`` (``pearson_mean``, ``pearson_pooled`` over that lag's files,
        ``spearman_mean``, ``std_ratio_mean``, ``pearson_ceiling_mean``, ...), ``per_file`` rows
        (each with its ``time``, ``reliability`` and ``pearson_ceiling``), ``per_lag`` (the same
        summaries at every stored lag), ``target_time`` (the model's, as stated), ``lag`` and
        ``lag_choice`` (why that lag). Also, as before: edge Pearson for A-A pairs closer than
        1.35 at t = 0, and for T-BOTAN models the temperature RMSE.
    """
    from glassmm.analysis.propensity import propensity, split_half_reliability

    files = [Path(f) for f in files]
    if not files:
        raise ValueError("no files to evaluate")
    configs = []
    for f in files:
        c = load_configuration(f)
        if c.replica_positions is None:
            raise ValueError(f"{f}: no replica 'positions': cannot compute the true propensity")
        configs.append(c)
    lags = [_file_lag(c, time) for c in configs]
    target = numeric_target_time(predictor.metadata)
    chosen, why = choose_lag(lags, target, lag)

    predictions: dict[bytes, Any] = {}  # one prediction per initial configuration (all its lags)
    rows = []
    it = list(zip(files, configs, lags))
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="evaluating", unit="file")
    for f, c, t in it:
        key = np.ascontiguousarray(c.positions).tobytes() + np.ascontiguousarray(c.types).tobytes()
        if key not in predictions:
            # missing IS / CS are computed (and cached) by the predictor, CS at the file's temperature
            predictions[key] = predictor(c.positions, c.box, c.types, inherent_positions=c.inherent_positions,
                                         cage_positions=c.cage_positions, edges=True,
                                         temperature=c.temperature if c.temperature is not None else temperature)
        pred = predictions[key]
        true = propensity(c.positions, c.replica_positions)
        A = c.types == 0
        row: dict[str, Any] = {
            "file": str(f),
            "time": t,
            "pearson": float(np.corrcoef(pred.propensity[A], true[A])[0, 1]),
            "spearman": float(spearmanr(pred.propensity[A], true[A]).statistic),
            "std_ratio": float(pred.propensity[A].std() / true[A].std()),
            "n_replicas": int(c.replica_positions.shape[0]),
        }
        if c.replica_positions.shape[0] >= 2:
            rel = split_half_reliability(c.positions, c.replica_positions, c.types, species=0)
            row["reliability"], row["pearson_ceiling"] = rel["spearman_brown"], rel["pearson_ceiling"]
        else:
            row["reliability"] = row["pearson_ceiling"] = None
        ei = pred.edge_index
        if ei is not None and ei.shape[1] > 0:
            j, i = ei[0], ei[1]
            d0 = np.linalg.norm(minimum_image(c.positions[j] - c.positions[i], c.box), axis=1)
            sel = (c.types[i] == 0) & (c.types[j] == 0) & (d0 < 1.35)
            if sel.sum() > 2:
                dt = minimum_image(c.replica_positions[:, j[sel]] - c.replica_positions[:, i[sel]], c.box)
                dt = np.linalg.norm(dt, axis=2).mean(0)
                row["edge_pearson_AA"] = float(np.corrcoef(pred.edge_delta[sel], dt - d0[sel])[0, 1])
        if pred.temperature is not None:
            row["temperature_pred"] = pred.temperature
            row["temperature_true"] = c.temperature if c.temperature is not None else temperature
        row["_pred"], row["_true"] = pred.propensity[A], true[A]
        rows.append(row)

    at = [r for r in rows if _same(r["time"], chosen)]
    P = np.concatenate([r["_pred"] for r in at])
    T = np.concatenate([r["_true"] for r in at])
    per_lag = []
    for d in sorted({r["time"] for r in rows if r["time"] is not None}) + ([None] if any(r["time"] is None for r in rows) else []):
        group = [r for r in rows if _same(r["time"], d)]
        if group and not any(_same(d, p["time"]) for p in per_lag):
            per_lag.append({"time": d, **_summary(group)})
    res: dict[str, Any] = {
        "model": predictor.name,
        "target_time": predictor.metadata.get("target_time"),
        "lag": chosen,
        "lag_choice": why,
        **_summary(at),
        "pearson_pooled": float(np.corrcoef(P, T)[0, 1]),
        "per_lag": per_lag,
        "per_file": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
    }
    edges = [r["edge_pearson_AA"] for r in at if "edge_pearson_AA" in r]
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
        when = "lag not stored" if chosen is None else rf"$t$ = {chosen:g} $\tau$"
        ceiling = res.get("pearson_ceiling_mean")
        ax.set_title(f"{predictor.name} ({when}): Pearson mean {res['pearson_mean']:.3f}"
                     + (f", ceiling {ceiling:.3f}" if ceiling is not None else ""), fontsize=9)
        finish(fig, plot)
        res["plot"] = str(plot)
    return res
