"""The study's figures: per-temperature metrics, the latent map, the energy thermometer's input."""

from __future__ import annotations

from typing import Any

import numpy as np

from glassmm.studies.temperature.config import temperature_key


def propensity_metrics(T: float, role: str, preds: list, trues: list, sfx_p: Any, sfx_t: Any,
                       reliability: dict) -> dict[str, Any]:
    """Pearson, thermometer, distribution and field figures of one temperature (see the package docstring)."""
    from scipy.stats import wasserstein_distance

    r_member, r_ens, t_member, t_ens = [], [], [], []
    for p, y in zip(preds, trues):
        node = p["node"][:, p["a"]]
        r_member += [float(np.corrcoef(n, y)[0, 1]) for n in node]
        r_ens.append(float(np.corrcoef(node.mean(axis=0), y)[0, 1]))
        t_member += list(p["temperature"] - T)
        t_ens.append(float(p["temperature"].mean() - T))
    z_pred = np.concatenate([standardise(p["node"].mean(axis=0)[p["a"]]) for p in preds])
    z_true = np.concatenate([standardise(y) for y in trues])
    xi_p, s0_p = sfx_p.correlation_length()
    xi_t, s0_t = sfx_t.correlation_length()
    return {
        "role": role, "n_configurations": len(preds),
        "pearson_per_snapshot": float(np.mean(r_member)), "pearson_ensemble": float(np.mean(r_ens)),
        "pearson_ensemble_per_configuration": r_ens,
        "temperature_estimate_ensemble": float(T + np.mean(t_ens)),
        "temperature_bias": float(np.mean(t_ens)),
        "temperature_rmse_per_snapshot": float(np.sqrt(np.mean(np.square(t_member)))),
        "temperature_rmse_ensemble": float(np.sqrt(np.mean(np.square(t_ens)))),
        "distribution_wasserstein": float(wasserstein_distance(z_pred, z_true)),
        "skewness_pred": float(np.mean(z_pred**3)), "skewness_true": float(np.mean(z_true**3)),
        "field_s0_pred": s0_p, "field_s0_true": s0_t, "field_xi_pred": xi_p, "field_xi_true": xi_t,
        "field_s_lowest_q_pred": float(sfx_p.s[0]), "field_s_lowest_q_true": float(sfx_t.s[0]),
        "propensity_reliability": reliability[temperature_key(T)],
    }



def latent_map(latent: dict[str, np.ndarray], cfg: Any) -> dict[str, Any]:
    """Distances between temperatures in T-BOTAN's global feature, and the pull of unseen ones toward trained ones."""
    keys = list(latent)
    g = np.stack([latent[k] for k in keys], axis=1)  # (members, T, hidden)
    d = np.linalg.norm(g[:, :, None] - g[:, None, :], axis=-1)
    off = ~np.eye(len(keys), dtype=bool)
    d_norm = (d / d[:, off].mean(axis=1)[:, None, None]).mean(axis=0)
    train = sorted(float(t) for t in cfg.train_temperatures)
    pull = {}
    for i, k in enumerate(keys):
        T = float(k)
        if cfg.role(T) != "interpolated":
            continue
        lo, hi = max(t for t in train if t < T), min(t for t in train if t > T)
        ilo, ihi = keys.index(temperature_key(lo)), keys.index(temperature_key(hi))
        seg = g[:, ihi] - g[:, ilo]
        lam = np.sum((g[:, i] - g[:, ilo]) * seg, axis=1) / np.sum(seg * seg, axis=1)
        lam_T = (T - lo) / (hi - lo)
        nearest_is_lo = (T - lo) <= (hi - T)
        lam_mean = float(np.mean(lam))
        # > 0: the unseen temperature sits closer to its nearest trained one than its T says
        towards = (lam_T - lam_mean) if nearest_is_lo else (lam_mean - lam_T)
        pull[k] = {"bracket": [lo, hi], "lambda_T": lam_T, "lambda_latent": lam_mean,
                   "lambda_latent_members": lam.tolist(), "pull_toward_nearest": float(towards),
                   "distance_to_nearest_over_segment": float(np.mean(
                       np.linalg.norm(g[:, i] - g[:, ilo if nearest_is_lo else ihi], axis=1)
                       / np.linalg.norm(seg, axis=1)))}
    return {"temperatures": [float(k) for k in keys], "distance": d_norm.tolist(), "pull": pull}



def mean_pair_energies(sample: Any, kind: str) -> np.ndarray:
    """Mean pair energy per particle of the positions a ``kind`` model reads (TS+IS: both).

    The same per-particle energies BOTAN's encoders get (columns after the species one-hot),
    so the reference thermometer sees exactly the energy the network sees.
    """
    from glassmm.models.botan import BOTAN

    probe = BOTAN(hidden=4, n_steps=1, inputs=kind)  # featurize() has no weights
    x = probe.featurize(sample.positions.float(), sample.box.float(), sample.types,
                        None if kind == "TS" else sample.inherent.float())[0]
    n_e = 2 if kind == "TS+IS" else 1
    return x[:, 2:2 + n_e].double().mean(dim=0).numpy()


def replica_self_scattering(sample: Any, q: float = 7.25) -> float:
    """F_s(q) of A particles averaged over the replicas of one training sample."""
    from glassmm.analysis.dynamics import self_scattering as isotropic_fs

    a = (sample.types == 0).numpy()
    d = np.linalg.norm(sample.replicas.numpy()[:, a] - sample.positions.numpy()[None, a], axis=-1)
    return float(isotropic_fs(d, q, 3).mean())


def standardise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, float)
    return (x - x.mean()) / (x.std() + 1e-30)

