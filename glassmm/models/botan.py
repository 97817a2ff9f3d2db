"""BOTAN and T-BOTAN in PyTorch (TorchScript-compatible).

BOTAN (Shiba, Hanai, Suzumura, Shimokawabe, J. Chem. Phys. 158, 084503 (2023)): a node
encoder on particle type, an edge encoder on the pair vector for pairs closer than 2.0,
``n_steps`` message-passing steps with shared weights -- edge update from [sender,
receiver, edge, encoded edge], node update from [node, encoded node, sum of incoming
edges] -- and two heads: per-particle propensity and per-edge change of pair distance.

T-BOTAN adds a global feature, started from the (standardised) mean and spread of the node
inputs, that gathers the mean node feature at every step without feeding back into the
nodes, and a thermometer: a linear read-out of those statistics plus a decoder on the global
feature. The thermometer reads the node features but its gradient does not train them
(see :meth:`BOTAN._propagate`): sharing the trunk cost the propensity task most of its
accuracy in the temperature study.

glassmm's physics-informed option (``energy_features=True``, the default) adds to the
encoders the KA pair energy of each edge and each particle's pair energy (computed here from
the positions with the pair table of :mod:`glassmm.potentials`, carried inside the artifact,
so the model stays self-contained): local energy is the best single
structural predictor of propensity known for KA, and the network refines it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch
from torch import nn

from glassmm.geometry import minimum_image
from glassmm.graph import periodic_graph
from glassmm.structures import INPUTS, input_kinds  # noqa: F401  (INPUTS re-exported)



class MLP(nn.Module):
    """Linear -> SiLU -> Linear -> LayerNorm (the block used throughout)."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, norm: bool = True) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, n_hidden), nn.SiLU(), nn.Linear(n_hidden, n_out))
        self.norm = nn.LayerNorm(n_out) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.net(x))


def pair_table_tensors(table: Any = None) -> List[torch.Tensor]:
    """epsilon, sigma, cutoff, shift (S, S) of a pair table (default :data:`glassmm.potentials.KA`), float64."""
    import numpy as np

    from glassmm.potentials import KA

    t = KA if table is None else table
    t.require_plain("the torch pair energy (pair_energy)")
    return [torch.tensor(np.asarray(x, dtype=np.float64)) for x in (t.epsilon, t.sigma, t.cutoff, t.shift)]


def pair_energy(types: torch.Tensor, edge_index: torch.Tensor, r: torch.Tensor, epsilon: torch.Tensor,
                sigma: torch.Tensor, cutoff: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Shifted LJ pair energy (reduced) of each edge from a species-pair table, zero beyond its cutoff."""
    a, b = types[edge_index[0]], types[edge_index[1]]
    eps, sig = epsilon[a, b].to(r.dtype), sigma[a, b].to(r.dtype)
    x = (sig / r) ** 6
    u = 4.0 * eps * (x * x - x) - shift[a, b].to(r.dtype)
    return torch.where(r < cutoff[a, b].to(r.dtype), u, torch.zeros_like(u))


def _global_statistics(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x.mean(dim=0), x.std(dim=0)])


class BOTAN(nn.Module):
    """BOTAN / T-BOTAN.

    Parameters
    ----------
    hidden : int
        Width of node and edge features.
    n_steps : int
        Message-passing steps (shared weights).
    cutoff : float (reduced)
        Graph cutoff (2.0 sigma_AA in BOTAN).
    energy_features : bool
        Add KA pair energies to the encoders (needs an energy cutoff of 2.5).
    temperature_head : bool
        T-BOTAN: global feature and temperature decoder.
    inputs : {"TS", "IS", "CS", "TS+IS", "TS+CS", "IS+CS"}
        Which positions the features come from: thermal (TS), inherent (IS, FIRE-quenched)
        or cage state (CS, :mod:`glassmm.cage`). With two kinds the graph is built on the
        second and the first enters as extra edge/node features on the same pairs.
    """

    def __init__(
        self,
        hidden: int = 64,
        n_steps: int = 7,
        cutoff: float = 2.0,
        energy_features: bool = True,
        temperature_head: bool = False,
        inputs: str = "TS",
    ) -> None:
        super().__init__()
        kinds = input_kinds(inputs)
        self.hidden, self.n_steps, self.cutoff = hidden, n_steps, cutoff
        self.energy_features, self.temperature_head, self.inputs = energy_features, temperature_head, inputs
        # main kind (the graph's) first, then the extra one: for TS+IS that is [IS, TS], the
        # order the TS+IS models were trained with before CS existed
        self.kinds: List[str] = list(reversed(kinds))
        n_sets = len(kinds)
        n_node_in = 2 + (n_sets if energy_features else 0)
        n_edge_in = 4 * n_sets + (n_sets if energy_features else 0)
        self.node_encoder = MLP(n_node_in, hidden, hidden)
        self.edge_encoder = MLP(n_edge_in, hidden, hidden)
        self.edge_update = MLP(4 * hidden, hidden, hidden)
        self.node_update = MLP(3 * hidden, hidden, hidden)
        self.node_head = MLP(hidden, hidden, 1, norm=False)
        self.edge_head = MLP(hidden, hidden, 1, norm=False)
        # no LayerNorm on the global path: normalising a vector that one scalar (the energy)
        # dominates turns it into a step function of that scalar, and the thermometer
        # saturated at the end training temperatures (T = 0.6 read 0.657, 0.9 read 0.97)
        self.global_update = MLP(2 * hidden, hidden, hidden, norm=False)
        self.temperature_decoder = MLP(hidden, hidden, 1, norm=False)
        # The global feature starts from the mean and spread of the raw node inputs (the
        # potential energy per particle is the classical thermometer): without this direct
        # path the decoder had to find the energy through every message-passing step and
        # stayed at the mean training temperature for hundreds of optimiser steps.
        self.global_encoder = MLP(2 * n_node_in, hidden, hidden, norm=False)
        # The thermometer = a linear read-out of those standardised statistics (the classical
        # energy thermometer, which interpolates between training temperatures by construction)
        # plus the decoder's correction from the global feature. With the decoder alone,
        # trained on four temperatures, the estimate was a staircase: a held-out T = 0.9
        # between trained 0.8 and 1.0 read 1.0.
        self.temperature_linear = nn.Linear(2 * n_node_in, 1)
        # Fixed standardisation of those statistics, set from the training data by the
        # Trainer (identity until then). The temperature signal in them is small against
        # their offsets -- the mean IS energy per particle moves by a few hundredths between
        # T = 0.6 and 1.0 -- and a randomly initialised encoder could not resolve it: the IS
        # thermometer stayed at the mean training temperature for a whole study run.
        self.register_buffer("global_input_mean", torch.zeros(2 * n_node_in))
        self.register_buffer("global_input_std", torch.ones(2 * n_node_in))
        # the KA pair table (glassmm.potentials) for the energy features: scripted with the
        # artifact, kept out of state dicts (so artifacts saved before it load unchanged)
        eps, sig, cut, shift = pair_table_tensors()
        self.register_buffer("pair_epsilon", eps, persistent=False)
        self.register_buffer("pair_sigma", sig, persistent=False)
        self.register_buffer("pair_cutoff", cut, persistent=False)
        self.register_buffer("pair_shift", shift, persistent=False)

    def _features(self, pos: torch.Tensor, box: torch.Tensor, types: torch.Tensor, edge_index: torch.Tensor,
                  n: int) -> List[torch.Tensor]:
        """Edge inputs [vector, r, (u_ij)] and node energies for one set of positions on a fixed graph."""
        d = pos[edge_index[0]] - pos[edge_index[1]]
        d = minimum_image(d, box)
        r = torch.linalg.norm(d, dim=1)
        feats = [d, r.unsqueeze(1)]
        node_e = torch.zeros(n, dtype=pos.dtype, device=pos.device)
        if self.energy_features:
            u = pair_energy(types, edge_index, r, self.pair_epsilon, self.pair_sigma, self.pair_cutoff,
                            self.pair_shift)
            # each directed edge carries half of the pair energy to its receiver
            node_e = node_e.index_add(0, edge_index[1], 0.5 * u)
            feats.append(u.clamp(max=5.0).unsqueeze(1))
        return [torch.cat(feats, dim=1), node_e]

    def _kind_positions(self, kind: str, positions: torch.Tensor, inherent_positions: Optional[torch.Tensor],
                        cage_positions: Optional[torch.Tensor]) -> torch.Tensor:
        if kind == "TS":
            return positions
        if kind == "IS":
            inh = inherent_positions
            if inh is None:
                raise ValueError("this model needs inherent_positions (its inputs include IS)")
            return inh
        cage = cage_positions
        if cage is None:
            raise ValueError("this model needs cage_positions (its inputs include CS)")
        return cage

    def featurize(
        self,
        positions: torch.Tensor,
        box: torch.Tensor,
        types: torch.Tensor,
        inherent_positions: Optional[torch.Tensor] = None,
        cage_positions: Optional[torch.Tensor] = None,
    ) -> List[torch.Tensor]:
        """Graph and raw inputs: [node inputs (N, F), edge inputs (E, G), edge_index (2, E)].

        Separate from :meth:`network` so the tensor-only part can be exported
        (torch.export, ONNX) while the graph is built by vesin-torch outside it.
        """
        types = types.to(torch.int64)
        n = positions.shape[0]
        main = self._kind_positions(self.kinds[0], positions, inherent_positions, cage_positions)
        # energy features need pairs out to 2.5; message passing uses pairs under `cutoff`
        graph_cut = 2.5 if self.energy_features else self.cutoff
        full_index, vec = periodic_graph(main, box, graph_cut)
        edge_feat, node_e = self._features(main, box, types, full_index, n)
        keep = torch.linalg.norm(vec, dim=1) < self.cutoff
        edge_index = full_index[:, keep]
        edge_in = [edge_feat[keep]]
        node_in = [nn.functional.one_hot(types, 2).to(positions.dtype)]
        if self.energy_features:
            node_in.append(((node_e + 6.5) / 1.0).unsqueeze(1))
        for kind in self.kinds[1:]:
            extra = self._kind_positions(kind, positions, inherent_positions, cage_positions)
            ex_feat, ex_e = self._features(extra, box, types, full_index, n)
            edge_in.append(ex_feat[keep])
            if self.energy_features:
                # centring offsets: thermal pair energies sit about 0.5 above quenched ones
                node_in.append(((ex_e + (6.0 if kind == "TS" else 6.5)) / 1.0).unsqueeze(1))
        return [torch.cat(node_in, dim=1), torch.cat(edge_in, dim=1), edge_index]

    def network(self, x: torch.Tensor, e_raw: torch.Tensor, edge_index: torch.Tensor) -> List[torch.Tensor]:
        """Encoders, message passing and heads: [node (N,), edge (E,), temperature ()]."""
        h, e, g = self._propagate(x, e_raw, edge_index)
        temperature = self.temperature_decoder(g.unsqueeze(0)).reshape(())
        if self.temperature_head:
            temperature = temperature + self.temperature_linear(self._global_inputs(x).unsqueeze(0)).reshape(())
        return [self.node_head(h).squeeze(1), self.edge_head(e).squeeze(1), temperature]

    def global_feature(
        self,
        positions: torch.Tensor,
        box: torch.Tensor,
        types: torch.Tensor,
        inherent_positions: Optional[torch.Tensor] = None,
        cage_positions: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """T-BOTAN's global latent vector (hidden,) for one configuration: what the thermometer reads."""
        if not self.temperature_head:
            raise ValueError("this model has no global feature (temperature_head=False)")
        x, e_raw, edge_index = self.featurize(positions, box, types, inherent_positions, cage_positions)
        return self._propagate(x, e_raw, edge_index)[2]

    @staticmethod
    def global_statistics(x: torch.Tensor) -> torch.Tensor:
        """Mean and spread over particles of the node inputs: what the global feature starts from."""
        return _global_statistics(x)

    def _global_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """The standardised global statistics: input of the global encoder and the linear thermometer."""
        return (_global_statistics(x) - self.global_input_mean) / self.global_input_std

    def thermometer_parameters(self) -> List[nn.Parameter]:
        """Parameters trained only by the temperature loss (the trunk never sees its gradient)."""
        return [p for m in (self.global_encoder, self.global_update, self.temperature_decoder, self.temperature_linear)
                for p in m.parameters()]

    def set_global_normalisation(self, stats: torch.Tensor) -> None:
        """Standardise the global statistics with those of the training configurations.

        Parameters
        ----------
        stats : torch.Tensor, shape (n_configurations, 2 * n_node_inputs)
            :meth:`global_statistics` of each training configuration. Components that do not
            vary (the composition) keep unit scale.
        """
        if stats.ndim != 2 or stats.shape[1] != self.global_input_mean.shape[0]:
            raise ValueError(f"stats must have shape (n, {self.global_input_mean.shape[0]}); got {tuple(stats.shape)}")
        mean = stats.mean(dim=0)
        std = stats.std(dim=0) if stats.shape[0] > 1 else torch.ones_like(mean)
        std = torch.where(torch.isfinite(std) & (std > 1e-6), std, torch.ones_like(std))
        self.global_input_mean.copy_(mean)
        self.global_input_std.copy_(std)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        # models saved with LayerNorm on the global path (before 2026-11-24) get it back
        for name in ("global_encoder", "global_update"):
            if f"{prefix}{name}.norm.weight" in state_dict and isinstance(getattr(self, name).norm, nn.Identity):
                getattr(self, name).norm = nn.LayerNorm(self.hidden)
        # models saved before the global standardisation existed load with the identity
        # (and without the linear thermometer, which then reads zero)
        for name, fill in (("global_input_mean", 0.0), ("global_input_std", 1.0),
                           ("temperature_linear.weight", 0.0), ("temperature_linear.bias", 0.0)):
            if prefix + name not in state_dict:
                state_dict[prefix + name] = torch.full_like(self.get_parameter(name) if "." in name else getattr(self, name), fill)
        # plain BOTAN models saved before the global encoder existed (botan-ka-T0.44-ts): the
        # encoder is unused without a temperature head, so it keeps its initial weights
        # (a T-BOTAN model missing it is refused by the strict load, as it should be)
        if not self.temperature_head:
            for name, value in self.global_encoder.state_dict().items():
                state_dict.setdefault(f"{prefix}global_encoder.{name}", value.clone())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _propagate(self, x: torch.Tensor, e_raw: torch.Tensor, edge_index: torch.Tensor) -> List[torch.Tensor]:
        """Encoders and message passing: [node features, edge features, global feature]."""
        h0 = self.node_encoder(x)
        e0 = self.edge_encoder(e_raw)
        h, e = h0, e0
        g = torch.zeros(self.hidden, dtype=h.dtype, device=h.device)
        if self.temperature_head:
            g = self.global_encoder(self._global_inputs(x).unsqueeze(0)).squeeze(0)
        src, dst = edge_index[0], edge_index[1]
        for _ in range(self.n_steps):
            e = self.edge_update(torch.cat([h[src], h[dst], e, e0], dim=1))
            agg = torch.zeros_like(h).index_add(0, dst, e)
            h = self.node_update(torch.cat([h, h0, agg], dim=1))
            if self.temperature_head:
                # The thermometer reads the node features but does not train them: measured
                # on the study data (TS, 4 temperatures, 800 steps), letting its gradient into
                # the trunk held validation Pearson at 0.23 against 0.40 without a temperature
                # head -- the two tasks competed for the same small network.
                g = self.global_update(torch.cat([g, h.mean(dim=0).detach()]).unsqueeze(0)).squeeze(0)
        return [h, e, g]

    def forward(
        self,
        positions: torch.Tensor,
        box: torch.Tensor,
        types: torch.Tensor,
        inherent_positions: Optional[torch.Tensor] = None,
        cage_positions: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """Predict (standardised) per-particle and per-edge targets.

        Returns a dict with ``node`` (N,), ``edge`` (E,), ``edge_index`` (2, E) and, for
        T-BOTAN, ``temperature`` () -- all before de-standardisation.
        """
        x, e_raw, edge_index = self.featurize(positions, box, types, inherent_positions, cage_positions)
        node, edge, temperature = self.network(x, e_raw, edge_index)
        out: Dict[str, torch.Tensor] = {"node": node, "edge": edge, "edge_index": edge_index}
        if self.temperature_head:
            out["temperature"] = temperature
        return out

    def config(self) -> Dict[str, object]:
        return {"hidden": self.hidden, "n_steps": self.n_steps, "cutoff": self.cutoff,
                "energy_features": self.energy_features, "temperature_head": self.temperature_head,
                "inputs": self.inputs}


def TBOTAN(**kwargs) -> BOTAN:
    """T-BOTAN: BOTAN with the global feature and temperature decoder."""
    return BOTAN(temperature_head=True, **kwargs)
