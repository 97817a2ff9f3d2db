"""Per-particle structural descriptors and the propensity models built on them (CAGE-like, GlassMLP-like).

Boattini et al. (PRL 127, 088007 (2021)) and Alkemade, Smallenburg & Filion (J. Chem. Phys. 158,
134512 (2023), "CAGE") predict propensity with a linear model on coarse-grained local
descriptors, the latter computed on cage states. :class:`StructureDescriptors` computes such
descriptors in torch (TorchScript, so a model artifact stays self-contained): for each position
set it reads (thermal TS, inherent IS, cage state CS),

* radial shell densities per species, ``sum_j [type_j = s] exp(-(r_ij - r_k)^2 / (2 w^2))``
  on shells ``r_k`` (sigma_AA) of width ``w``;
* the particle's pair energy (half of each pair's shifted KA energy, from
  :mod:`glassmm.potentials`) and its number of first-shell neighbours (r < 1.45 sigma_ab);
* for IS and CS, the distance from the thermal position to that structure's position;

then the same quantities averaged over the neighbourhood, ``sum_j w_ij x_j / sum_j w_ij`` with
``w_ij = exp(-r_ij / L)`` over pairs closer than ``3 L`` (the particle itself included) for each
coarse-graining length ``L``, on the graph of the last position set. Everything is invariant
under rotations, reflections, translations and permutations of like particles.

:class:`LinearPropensity` is a ridge model per species on standardised descriptors, fitted in
closed form by :func:`fit_linear_propensity`; :class:`MLPPropensity` an ensemble of small MLPs
on the same inputs (as GlassMLP, Jung, Biroli & Berthier, PRL 130, 238202 (2023), uses
physics-inspired descriptors), trained by :func:`fit_mlp_propensity`. Both have the artifact
interface of BOTAN models (``glassmm.models.artifact``), so ``predict``, ``evaluate`` and the
reporter take them unchanged. Reduced LJ units throughout.

The descriptors are computed in float64 whatever the input dtype (a float32 thermal position
moves a Gaussian shell of width 0.1 by ~1e-6 relative: harmless; float64 keeps the
coarse-grained sums exact to the tests' 1e-9).
"""

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from glassmm.graph import periodic_graph
from glassmm.models.botan import pair_energy, pair_table_tensors
from glassmm.structures import input_kinds

#: defaults chosen by leave-one-configuration-out cross-validation on shared configurations 1-8
#: (benchmarks/descriptor_propensity.py); configurations 9-10 never chose them
DEFAULT_SHELLS = [0.8 + 0.1 * k for k in range(18)]  # 0.8 .. 2.5 sigma_AA
DEFAULT_WIDTH = 0.1
DEFAULT_CG_LENGTHS = [1.0, 2.0]
FIRST_SHELL = 1.45  # first-shell neighbours: r < FIRST_SHELL sigma_ab


class StructureDescriptors(nn.Module):
    """Coarse-grained structural descriptors (N, F) of the position sets named by ``inputs``.

    Parameters
    ----------
    inputs : str
        One of :data:`glassmm.structures.INPUTS`; the last kind's graph carries the coarse-graining.
    shells : list of float (sigma_AA)
    width : float (sigma_AA)
    cg_lengths : list of float (sigma_AA)
        Coarse-graining lengths L; the raw descriptors are always kept as well.
    """

    # TorchScript: attribute types (an empty list would otherwise be read as List[Tensor]) and
    # the Python-only properties it must not compile
    kinds: List[str]
    shells: List[float]
    cg_lengths: List[float]
    __jit_unused_properties__ = ["n_base", "n_features"]

    def __init__(self, inputs: str = "CS", shells: Optional[Sequence[float]] = None, width: float = DEFAULT_WIDTH,
                 cg_lengths: Optional[Sequence[float]] = None) -> None:
        super().__init__()
        self.inputs = inputs
        self.kinds: List[str] = list(input_kinds(inputs))
        self.shells: List[float] = [float(x) for x in (DEFAULT_SHELLS if shells is None else shells)]
        self.width = float(width)
        self.cg_lengths: List[float] = [float(x) for x in (DEFAULT_CG_LENGTHS if cg_lengths is None else cg_lengths)]
        eps, sig, cut, shift = pair_table_tensors()
        # the table travels inside a scripted artifact but stays out of state dicts
        self.register_buffer("epsilon", eps, persistent=False)
        self.register_buffer("sigma", sig, persistent=False)
        self.register_buffer("cutoff", cut, persistent=False)
        self.register_buffer("shift", shift, persistent=False)
        self.register_buffer("shell_r", torch.tensor(self.shells, dtype=torch.float64), persistent=False)
        self.graph_cutoff = max(float(cut.max()), max(self.shells) + 3 * self.width)
        self.first_shell = FIRST_SHELL

    @property
    def n_base(self) -> int:
        """Descriptors per particle before coarse-graining."""
        return sum(2 * len(self.shells) + 2 + (0 if k == "TS" else 1) for k in self.kinds)

    @property
    def n_features(self) -> int:
        return self.n_base * (1 + len(self.cg_lengths))

    def names(self) -> List[str]:
        """One name per column, e.g. ``CS:g_A(1.0)``, ``CS:energy@L2``."""
        base: List[str] = []
        for k in self.kinds:
            base += [f"{k}:g_{s}({r:.2f})" for s in "AB" for r in self.shells]
            base += [f"{k}:energy", f"{k}:first_shell"]
            if k != "TS":
                base.append(f"{k}:distance_to_TS")
        return base + [f"{n}@L{L:g}" for L in self.cg_lengths for n in base]

    def _positions(self, kind: str, positions: torch.Tensor, inherent: Optional[torch.Tensor],
                   cage: Optional[torch.Tensor]) -> torch.Tensor:
        if kind == "TS":
            return positions
        if kind == "IS":
            if inherent is None:
                raise ValueError("these descriptors need inherent_positions (inputs include IS)")
            return inherent
        if cage is None:
            raise ValueError("these descriptors need cage_positions (inputs include CS)")
        return cage

    def _local(self, pos: torch.Tensor, box: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """Radial shells per species, pair energy and first-shell count (N, 2 K + 2)."""
        n = pos.shape[0]
        ei, vec = periodic_graph(pos, box, self.graph_cutoff)
        r = torch.linalg.norm(vec, dim=1)
        j, i = ei[0], ei[1]
        g = torch.exp(-((r.unsqueeze(1) - self.shell_r.to(pos.dtype).unsqueeze(0)) ** 2) / (2 * self.width ** 2))
        k = len(self.shells)
        shells = torch.zeros(n * 2, k, dtype=pos.dtype, device=pos.device)
        shells.index_add_(0, i * 2 + types[j], g)  # row 2 i + s: neighbours of species s around i
        u = pair_energy(types, ei, r, self.epsilon, self.sigma, self.cutoff, self.shift)
        energy = torch.zeros(n, dtype=pos.dtype, device=pos.device).index_add(0, i, 0.5 * u)
        first = (r < self.first_shell * self.sigma[types[j], types[i]].to(pos.dtype)).to(pos.dtype)
        count = torch.zeros(n, dtype=pos.dtype, device=pos.device).index_add(0, i, first)
        return torch.cat([shells.reshape(n, 2 * k), energy.unsqueeze(1), count.unsqueeze(1)], dim=1)

    def forward(self, positions: torch.Tensor, box: torch.Tensor, types: torch.Tensor,
                inherent_positions: Optional[torch.Tensor] = None,
                cage_positions: Optional[torch.Tensor] = None) -> torch.Tensor:
        types = types.to(torch.int64)
        pos = positions.to(torch.float64)
        box = box.reshape(3).to(torch.float64)
        inh = None if inherent_positions is None else inherent_positions.to(torch.float64)
        cage = None if cage_positions is None else cage_positions.to(torch.float64)
        blocks: List[torch.Tensor] = []
        main = pos
        for kind in self.kinds:
            x = self._positions(kind, pos, inh, cage)
            blocks.append(self._local(x, box, types))
            if kind != "TS":
                d = x - pos
                d = d - box * torch.round(d / box)
                blocks.append(torch.linalg.norm(d, dim=1).unsqueeze(1))
            main = x
        base = torch.cat(blocks, dim=1)
        out: List[torch.Tensor] = [base]
        n = pos.shape[0]
        for L in self.cg_lengths:
            ei, vec = periodic_graph(main, box, 3.0 * L)
            w = torch.exp(-torch.linalg.norm(vec, dim=1) / L)
            self_idx = torch.arange(n, device=pos.device)
            idx = torch.cat([ei.flip(0), torch.stack([self_idx, self_idx])], dim=1)  # rows receivers i
            wt = torch.cat([w, torch.ones(n, dtype=w.dtype, device=w.device)])
            W = torch.sparse_coo_tensor(idx, wt, [n, n])
            total = torch.sparse.mm(W, torch.ones(n, 1, dtype=w.dtype, device=w.device))
            out.append(torch.sparse.mm(W, base) / total)
        return torch.cat(out, dim=1)

    def config(self) -> Dict[str, Any]:
        return {"inputs": self.inputs, "shells": self.shells, "width": self.width, "cg_lengths": self.cg_lengths}


class LinearPropensity(nn.Module):
    """Ridge model per species on standardised :class:`StructureDescriptors` (artifact interface).

    Output per particle of species s: ``node_mean[s] + node_std[s] * (w_s . z + b_s)`` with
    ``z`` the descriptors standardised by the training statistics; ``w_s`` is fitted on targets
    standardised per configuration and species, like BOTAN's.
    """

    def __init__(self, descriptors: StructureDescriptors) -> None:
        super().__init__()
        f = descriptors.n_features
        self.descriptors = descriptors
        self.register_buffer("feature_mean", torch.zeros(2, f, dtype=torch.float64))
        self.register_buffer("feature_std", torch.ones(2, f, dtype=torch.float64))
        self.register_buffer("weight", torch.zeros(2, f, dtype=torch.float64))
        self.register_buffer("bias", torch.zeros(2, dtype=torch.float64))

    def standardised(self, positions: torch.Tensor, box: torch.Tensor, types: torch.Tensor,
                     inherent_positions: Optional[torch.Tensor] = None,
                     cage_positions: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Standardised prediction (N,) before the per-species output scale."""
        x = self.descriptors(positions, box, types, inherent_positions, cage_positions)
        t = types.to(torch.int64)
        z = (x - self.feature_mean[t]) / self.feature_std[t]
        return (z * self.weight[t]).sum(dim=1) + self.bias[t]

    def config(self) -> Dict[str, Any]:
        return {"model": "linear", **self.descriptors.config()}


class MLPPropensity(nn.Module):
    """An ensemble of small MLPs on standardised :class:`StructureDescriptors` (GlassMLP-like; artifact interface).

    Each member reads the descriptors standardised per species and the species one-hot and
    predicts the per-configuration standardised propensity; the members are averaged and the
    average scaled per species (``output_scale``, the spread calibration).
    """

    def __init__(self, descriptors: StructureDescriptors, hidden: int = 64, members: int = 1,
                 dropout: float = 0.1) -> None:
        super().__init__()
        f = descriptors.n_features
        self.descriptors = descriptors
        self.hidden, self.n_members, self.dropout = int(hidden), int(members), float(dropout)
        self.register_buffer("feature_mean", torch.zeros(2, f, dtype=torch.float64))
        self.register_buffer("feature_std", torch.ones(2, f, dtype=torch.float64))
        self.register_buffer("output_scale", torch.ones(2, dtype=torch.float64))
        self.members = nn.ModuleList([
            nn.Sequential(nn.Linear(f + 2, hidden), nn.SiLU(), nn.Dropout(dropout), nn.Linear(hidden, hidden // 2),
                          nn.SiLU(), nn.Linear(hidden // 2, 1)).double()
            for _ in range(members)])

    def inputs(self, x: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """Member inputs (N, F + 2) from raw descriptors ``x`` (N, F)."""
        t = types.to(torch.int64)
        z = (x - self.feature_mean[t]) / self.feature_std[t]
        return torch.cat([z, nn.functional.one_hot(t, 2).to(z.dtype)], dim=1)

    def member_outputs(self, inp: torch.Tensor) -> List[torch.Tensor]:
        return [m(inp).squeeze(1) for m in self.members]

    def standardised(self, positions: torch.Tensor, box: torch.Tensor, types: torch.Tensor,
                     inherent_positions: Optional[torch.Tensor] = None,
                     cage_positions: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Standardised prediction (N,) before the per-species output scale."""
        x = self.descriptors(positions, box, types, inherent_positions, cage_positions)
        inp = self.inputs(x, types)
        out = torch.zeros(inp.shape[0], dtype=inp.dtype, device=inp.device)
        for m in self.members:
            out = out + m(inp).squeeze(1)
        return out / float(self.n_members) * self.output_scale[types.to(torch.int64)]

    def config(self) -> Dict[str, Any]:
        return {"model": "mlp", "hidden": self.hidden, "members": self.n_members, "dropout": self.dropout,
                **self.descriptors.config()}


def fit_mlp_propensity(model: MLPPropensity, features: Sequence[np.ndarray], types: Sequence[np.ndarray],
                       propensities: Sequence[np.ndarray], val_features: Sequence[np.ndarray],
                       val_types: Sequence[np.ndarray], val_propensities: Sequence[np.ndarray],
                       epochs: int = 40, lr: float = 1e-3, weight_decay: float = 1e-3, batch: int = 256,
                       seed: int = 0) -> List[Dict[str, float]]:
    """Train each member (seed ``seed + k``) on the training configurations, early-stopped on the validation ones.

    Targets are standardised per configuration and species; the selection score is the mean
    Pearson over A particles of the validation configurations, and each member keeps the weights
    of its best epoch. Feature standardisation comes from the training configurations (per
    species). Returns one record per member (best epoch and its validation Pearson).
    """
    with torch.no_grad():
        for s in (0, 1):
            X = np.concatenate([f[np.asarray(t) == s] for f, t in zip(features, types)])
            sd = X.std(0)
            model.feature_mean[s] = torch.from_numpy(X.mean(0))
            model.feature_std[s] = torch.from_numpy(np.where(sd > 1e-12, sd, 1.0))
    y = np.concatenate([_standardised_all(p, t) for p, t in zip(propensities, types)])
    x_all = torch.cat([model.inputs(torch.from_numpy(f), torch.from_numpy(np.asarray(t)))
                       for f, t in zip(features, types)]).detach()
    y_all = torch.from_numpy(y)
    val = [(model.inputs(torch.from_numpy(f), torch.from_numpy(np.asarray(t))).detach(), np.asarray(t) == 0,
            np.asarray(p)) for f, t, p in zip(val_features, val_types, val_propensities)]
    records = []
    for k, member in enumerate(model.members):
        g = torch.Generator().manual_seed(seed + k)
        for layer in member:
            if isinstance(layer, nn.Linear):  # seeded initialisation, so members differ reproducibly
                with torch.no_grad():
                    bound = 1.0 / np.sqrt(layer.in_features)
                    layer.weight.uniform_(-bound, bound, generator=g)
                    layer.bias.uniform_(-bound, bound, generator=g)
        opt = torch.optim.AdamW(member.parameters(), lr=lr, weight_decay=weight_decay)
        best, best_state, best_epoch = -np.inf, None, 0
        for epoch in range(1, epochs + 1):
            member.train()
            order = torch.randperm(len(x_all), generator=g)
            for b in range(0, len(order), batch):
                i = order[b:b + batch]
                loss = ((member(x_all[i]).squeeze(1) - y_all[i]) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            member.eval()
            with torch.no_grad():
                score = float(np.mean([np.corrcoef(member(x).squeeze(1).numpy()[a], p[a])[0, 1] for x, a, p in val]))
            if score > best:
                best, best_epoch = score, epoch
                best_state = {n: v.detach().clone() for n, v in member.state_dict().items()}
        member.load_state_dict(best_state)
        member.eval()
        records.append({"member": k, "seed": seed + k, "best_epoch": best_epoch, "val_pearson": best})
    return records


def _standardised_all(propensity: np.ndarray, types: np.ndarray) -> np.ndarray:
    """Propensity standardised within its configuration, per species, in particle order."""
    out = np.empty(len(types))
    for s in (0, 1):
        m = np.asarray(types) == s
        if m.any():
            out[m] = standardised_target(propensity, types, s)
    return out


def fit_ridge(X: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ridge regression on standardised columns: (mean, std, weights); penalty ``alpha`` x n_samples."""
    mu, sd = X.mean(0), X.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    Z = (X - mu) / sd
    w = np.linalg.solve(Z.T @ Z + alpha * len(Z) * np.eye(Z.shape[1]), Z.T @ (y - y.mean()))
    return mu, sd, w


def standardised_target(propensity: np.ndarray, types: np.ndarray, species: int) -> np.ndarray:
    """Propensity of one species standardised within its configuration (the models' target)."""
    y = np.asarray(propensity, float)[np.asarray(types) == species]
    return (y - y.mean()) / y.std()


def fit_linear_propensity(model: LinearPropensity, features: Sequence[np.ndarray], types: Sequence[np.ndarray],
                          propensities: Sequence[np.ndarray], alpha: float | Sequence[float]) -> LinearPropensity:
    """Fit ``model``'s weights per species on descriptor matrices of training configurations (in place).

    Parameters
    ----------
    features : list of ndarray (N_c, F)
        ``model.descriptors`` of each configuration.
    types, propensities : list of ndarray (N_c,)
    alpha : float or (alpha_A, alpha_B)
        Ridge penalty per sample (on standardised columns).
    """
    alphas = [float(alpha)] * 2 if np.isscalar(alpha) else [float(a) for a in alpha]
    with torch.no_grad():
        for s in (0, 1):
            X = np.concatenate([f[np.asarray(t) == s] for f, t in zip(features, types)])
            y = np.concatenate([standardised_target(p, t, s) for p, t in zip(propensities, types)])
            mu, sd, w = fit_ridge(X, y, alphas[s])
            model.feature_mean[s] = torch.from_numpy(mu)
            model.feature_std[s] = torch.from_numpy(sd)
            model.weight[s] = torch.from_numpy(w)
            model.bias[s] = 0.0
    return model
