"""A joint density over the displacements of a region's k particles: a conditional spline flow.

The k particles of a :class:`~glassmm.sampling.regions.Region` are read in the region's own
order; the model draws their 3k displacement components jointly (a collective move), so it can
learn that neighbours move together. Its condition is translation invariant: each member's
position relative to the region's centre and its local features (species, neighbour counts of
the frozen surroundings and of the region itself, cage vector; :mod:`features`).

The density is exact and costs one network pass each way: a neural spline flow with coupling
layers (zuko's ``NSF`` with ``passes=2``: a coupling layer inverts in one pass, unlike an
autoregressive one, which needs 3k), then a fixed scale and a tanh squash

    z ~ N(0, lambda^2 I)  --NSF^-1(. | c)-->  y  --(x scale)-->  u  --(a tanh(u / a))-->  d,

so every component lies in (-a, a) with a below half the box and the reverse of a jump is
exactly -d. ``lambda`` (``base_scale``) is 1 at training; larger proposes bolder jumps.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from glassmm._lazy import require
from glassmm.geometry import minimum_image
from glassmm.sampling.features import feature_cutoff, local_features
from glassmm.sampling.flows import LOG_2PI, _log_dtanh


# of the local features: species one-hot and the cage vector (the neighbour counts made the
# condition 144-dimensional for k = 8 and the flow overfit a few thousand regions)
CONTEXT_FEATURES = [0, 1, -3, -2, -1]


def region_context(x: np.ndarray, types: np.ndarray, box: np.ndarray | None, centre: np.ndarray,
                   members: np.ndarray, features: torch.Tensor | None = None) -> torch.Tensor:
    """Raw condition of a region: members' positions relative to the centre, then their local features.

    ``features`` may pass precomputed :func:`local_features` of the whole configuration;
    without it they are computed on the members' neighbourhood only (every particle within
    the features' range of a member: the same numbers, at a fraction of the cost in a large
    system). Returns float64 (k * (3 + F),).
    """
    x = np.asarray(x, dtype=np.float64)
    members = np.asarray(members, dtype=np.int64)
    rel = x[members] - centre
    if box is not None:
        rel = minimum_image(rel, box)
    if features is None:
        d = x[None, :, :] - x[members][:, None, :]
        if box is not None:
            d = minimum_image(d, box)
        near = ((d * d).sum(-1) < feature_cutoff() ** 2 * (1 + 1e-9)).any(0)
        near[members] = True
        sub = np.flatnonzero(near)
        f = local_features(x[sub], np.asarray(types)[sub], box)[torch.as_tensor(np.searchsorted(sub, members))]
    else:
        f = features[torch.as_tensor(members)]
    f = f[:, CONTEXT_FEATURES]
    return torch.cat([torch.as_tensor(rel, dtype=torch.float64).reshape(-1), f.reshape(-1)])


class RegionFlowModel(nn.Module):
    """Conditional coupling spline flow over a region's 3k displacements.

    Parameters
    ----------
    k : int
        Particles per region.
    bound : float (reduced length)
        Every displacement component lies in (-bound, bound).
    transforms, hidden, bins : int
        Coupling layers, hidden width (two layers) and spline bins of the NSF.
    """

    def __init__(self, k: int, bound: float = 1.5, transforms: int = 4, hidden: int = 128, bins: int = 8) -> None:
        super().__init__()
        zuko = require("zuko")
        self.k, self.bound = int(k), float(bound)
        self.n_context = self.k * (3 + len(CONTEXT_FEATURES))
        self.flow = zuko.flows.NSF(3 * self.k, context=self.n_context, transforms=transforms,
                                   hidden_features=(hidden, hidden), bins=bins, passes=2).to(torch.float64)
        self.register_buffer("scale", torch.ones((), dtype=torch.float64))
        self.register_buffer("context_mean", torch.zeros(self.n_context, dtype=torch.float64))
        self.register_buffer("context_std", torch.ones(self.n_context, dtype=torch.float64))
        self.base_scale = 1.0
        self.config = {"k": self.k, "bound": self.bound, "transforms": transforms, "hidden": hidden, "bins": bins}

    # ------------------------------------------------------------------ condition
    def context(self, x: np.ndarray, types: np.ndarray, box: np.ndarray | None, centre: np.ndarray,
                members: np.ndarray, features: torch.Tensor | None = None) -> torch.Tensor:
        """Standardised condition (n_context,) of a region at configuration ``x`` (see :func:`region_context`)."""
        if len(members) != self.k:
            raise ValueError(f"this model moves k = {self.k} particles; the region has {len(members)}")
        return (region_context(x, types, box, centre, members, features) - self.context_mean) / self.context_std

    # ------------------------------------------------------------------ density
    def _base_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        lam = self.base_scale
        return (-0.5 * (z / lam) ** 2 - 0.5 * LOG_2PI - math.log(lam)).sum(-1)

    def log_prob(self, d: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """log q(d | c) for displacements (..., k, 3) or (..., 3k); -inf outside (-bound, bound)."""
        if d.dim() >= 2 and tuple(d.shape[-2:]) == (self.k, 3):
            d = d.flatten(-2)
        a = self.bound
        inside = (d.abs() < a).all(-1)
        ratio = (d / a).clamp(-1 + 1e-15, 1 - 1e-15)
        u = a * torch.atanh(ratio)
        y = u / self.scale
        z, ladj = self.flow(context).transform.call_and_ladj(y)
        lq = self._base_log_prob(z) + ladj - 3 * self.k * torch.log(self.scale) - _log_dtanh(u / a).sum(-1)
        return torch.where(inside, lq, torch.full_like(lq, -math.inf))

    @torch.no_grad()
    def sample(self, context: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw displacements (k, 3) and their log density for one condition (n_context,)."""
        z = torch.randn(3 * self.k, generator=generator, dtype=torch.float64) * self.base_scale
        y, inv_ladj = self.flow(context).transform.inv.call_and_ladj(z)
        ladj = -inv_ladj  # log |det dz/dy| of the forward map, from the same pass
        u = y * self.scale
        a = self.bound
        d = a * torch.tanh(u / a)
        lq = self._base_log_prob(z) + ladj - 3 * self.k * torch.log(self.scale) - _log_dtanh(u / a).sum(-1)
        return d.reshape(self.k, 3), lq

    # ------------------------------------------------------------------ training
    def fit(self, contexts: torch.Tensor, displacements: torch.Tensor, epochs: int = 200, lr: float = 2e-3,
            batch: int = 256, seed: int = 0, validation: float = 0.15, weight_decay: float = 1e-4,
            patience: int = 15, progress: bool = False) -> dict[str, list[float]]:
        """Maximum likelihood on (condition, displacement) pairs, early-stopped on a held-out part.

        Sets the condition's standardisation and the displacement scale from the training part
        first, keeps the weights of the best held-out epoch. Returns ``{"train": [...],
        "validation": [...]}``, the mean negative log-likelihood per epoch (nats per region).
        """
        contexts = contexts.to(torch.float64)
        d = displacements.reshape(len(displacements), -1).to(torch.float64)
        keep = (d.abs() < 0.98 * self.bound).all(-1)  # pairs outside the support cannot be learnt
        contexts, d = contexts[keep], d[keep]
        gen = torch.Generator().manual_seed(seed)
        perm = torch.randperm(len(d), generator=gen)
        n_val = int(round(validation * len(d))) if validation > 0 else 0
        val, tr = perm[:n_val], perm[n_val:]
        if len(tr) < 2:
            raise ValueError("fewer than 2 training pairs inside the proposal's bound")
        with torch.no_grad():
            self.context_mean.copy_(contexts[tr].mean(0))
            self.context_std.copy_(contexts[tr].std(0).clamp_min(1e-6))
            self.scale.copy_((self.bound * torch.atanh(d[tr] / self.bound)).std())
        c = (contexts - self.context_mean) / self.context_std
        opt = torch.optim.AdamW(self.flow.parameters(), lr=lr, weight_decay=weight_decay)
        history: dict[str, list[float]] = {"train": [], "validation": []}
        best, best_state, waited = math.inf, None, 0
        from tqdm.auto import tqdm

        for _ in tqdm(range(epochs), desc="region flow", disable=not progress):
            order = tr[torch.randperm(len(tr), generator=gen)]
            total = 0.0
            for s in range(0, len(order), batch):
                idx = order[s : s + batch]
                loss = -self.log_prob(d[idx], c[idx]).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            history["train"].append(total / len(tr))
            if n_val:
                with torch.no_grad():
                    v = float(-self.log_prob(d[val], c[val]).mean())
                history["validation"].append(v)
                if v < best:
                    best, waited = v, 0
                    best_state = {k: t.detach().clone() for k, t in self.state_dict().items()}
                else:
                    waited += 1
                    if waited >= patience:
                        break
        if best_state is not None:
            self.load_state_dict(best_state)
        return history

    # ------------------------------------------------------------------ files
    def save(self, path: Any) -> None:
        from glassmm.io import atomic_write

        with atomic_write(path) as fh:
            torch.save({"kind": "glassmm.region_flow/1", "config": self.config, "state": self.state_dict()}, fh)

    @classmethod
    def load(cls, path: Any) -> "RegionFlowModel":
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(f"cannot read region flow {path}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(blob, dict) or blob.get("kind") != "glassmm.region_flow/1":
            raise ValueError(f"{path} is not a glassmm region flow (kind {blob.get('kind') if isinstance(blob, dict) else type(blob)})")
        m = cls(**blob["config"])
        m.load_state_dict(blob["state"])
        return m
