"""Model export beyond TorchScript: ``torch.export`` programs (and AOTInductor packages).

The graph builder (vesin-torch) is a TorchScript custom class that ``torch.export`` and
ONNX cannot trace, so exported artifacts hold the tensor-only part -- encoders, message
passing, heads and de-standardisation -- and the predictor runs :meth:`BOTAN.featurize`
before it. Inputs, outputs and metadata match the TorchScript artifact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from glassmm.models.botan import BOTAN

METADATA_FILE = "glassmm.json"


class ScaledNetwork(nn.Module):
    """BOTAN.network + per-species de-standardisation: (x, e_raw, edge_index, types) -> outputs."""

    def __init__(self, model: BOTAN, norm: dict, extra: list | None = None) -> None:
        super().__init__()
        self.model = model
        self.extra = nn.ModuleList(extra or [])  # ensemble members, averaged
        mean, std = norm["node_mean"], norm["node_std"]
        mean = [float(mean)] * 2 if isinstance(mean, (int, float)) else [float(v) for v in mean]
        std = [float(std)] * 2 if isinstance(std, (int, float)) else [float(v) for v in std]
        self.register_buffer("node_mean", torch.tensor(mean))
        self.register_buffer("node_std", torch.tensor(std))
        self.edge_std = float(norm["edge_std"])
        self.t_mean, self.t_std = float(norm.get("t_mean", 0.0)), float(norm.get("t_std", 1.0))

    def forward(self, x: torch.Tensor, e_raw: torch.Tensor, edge_index: torch.Tensor, types: torch.Tensor):
        node, edge, temperature = self.model.network(x, e_raw, edge_index)
        for member in self.extra:
            n2, e2, t2 = member.network(x, e_raw, edge_index)
            node, edge, temperature = node + n2, edge + e2, temperature + t2
        k = 1.0 + len(self.extra)
        prop = node / k * self.node_std[types] + self.node_mean[types]
        return prop, edge / k * self.edge_std, temperature / k * self.t_std + self.t_mean


def _example(model: BOTAN, n: int = 600) -> tuple:
    """Example inputs for tracing, from a small KA lattice."""
    import glassmm

    ka = glassmm.KobAndersen(n, seed=0)
    pos = torch.tensor(ka.positions_reduced + np.random.default_rng(0).normal(0, 0.05, (n, 3)), dtype=torch.float32)
    x, e_raw, ei = model.featurize(pos, torch.tensor(ka.box, dtype=torch.float32), torch.tensor(ka.types), pos)
    return x, e_raw, ei, torch.tensor(ka.types, dtype=torch.int64)


def export_program(model: str | Path, path: str | Path, aot: bool = False) -> Path:
    """Export a TorchScript artifact (name or path) as a ``torch.export`` program (.pt2).

    With ``aot=True`` also AOT-compiles it with Inductor to ``<path>.aoti.pt2`` (needs a C++
    compiler; minutes on a small CPU).
    """
    from glassmm.backends.builtin import eager_module

    mod, meta = eager_module(str(model))
    net = ScaledNetwork(mod.model, meta["normalisation"], list(mod.extra)).eval()
    ex = _example(mod.model)
    N, E = torch.export.Dim("n_particles", min=2), torch.export.Dim("n_edges", min=2)
    dyn = {"x": {0: N}, "e_raw": {0: E}, "edge_index": {1: E}, "types": {0: N}}
    with torch.no_grad():
        ep = torch.export.export(net, ex, dynamic_shapes=dyn)
    meta = {**meta, "format": "glassmm-torch-export-1"}
    path = Path(path)
    torch.export.save(ep, str(path), extra_files={METADATA_FILE: json.dumps(meta)})
    if aot:
        torch._inductor.aoti_compile_and_package(ep, package_path=str(path) + ".aoti.pt2")
    return path


class ExportedPredictor:
    """Predictor over an exported program; same call and outputs as the TorchScript one."""

    def __init__(self, program: Any, metadata: dict, name: str) -> None:
        self.program, self.metadata, self.name = program, metadata, name
        self.featurizer = BOTAN(**metadata["architecture"])  # featurize() has no weights

    needs_inherent = property(lambda self: self.metadata.get("inputs", "TS") != "TS")
    has_temperature = property(lambda self: "temperature" in self.metadata.get("outputs", []))

    def check_system(self, n_particles: int, types: Any, dimensions: int = 3) -> None:
        from glassmm.models.artifact import Predictor

        Predictor.check_system(self, n_particles, types, dimensions)

    def __call__(self, positions: Any, box: Any, types: Any, inherent_positions: Any = None, edges: bool = False):
        from glassmm.models.artifact import Prediction

        if self.needs_inherent and inherent_positions is None:
            from glassmm.training.data import inherent_structure

            inherent_positions = inherent_structure(np.asarray(positions, float), np.asarray(types), np.asarray(box, float))
        t = lambda a, dt=torch.float32: torch.as_tensor(np.asarray(a), dtype=dt)  # noqa: E731
        ty = t(types, torch.int64)
        with torch.no_grad():
            x, e_raw, ei = self.featurizer.featurize(t(positions), t(box), ty,
                                                     None if inherent_positions is None else t(inherent_positions))
            prop, edge, temp = self.run(x, e_raw, ei, ty)
        return Prediction(
            propensity=np.asarray(prop, dtype=np.float64),
            temperature=float(temp) if self.has_temperature else None,
            edge_index=ei.numpy() if edges else None,
            edge_delta=np.asarray(edge, dtype=np.float64) if edges else None,
        )

    def run(self, x, e_raw, ei, ty):
        out = self.program(x, e_raw, ei, ty)
        return out[0].numpy(), out[1].numpy(), out[2].item()


def load_program(path: str | Path) -> ExportedPredictor:
    """Load a ``torch.export`` program written by :func:`export_program`."""
    extra = {METADATA_FILE: ""}
    try:
        ep = torch.export.load(str(path), extra_files=extra)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable torch.export program ({exc})") from exc
    return ExportedPredictor(ep.module(), json.loads(extra[METADATA_FILE]), str(path))


class TorchExportBackend:
    """``torch-export``: loads ``.pt2`` programs, or exports a TorchScript artifact on the fly."""

    name = "torch-export"

    def is_available(self) -> bool:
        return hasattr(torch, "export")

    def load(self, model: str, cache_dir: str | None = None, **options: Any) -> ExportedPredictor:
        p = Path(str(model))
        if p.suffix == ".pt2" and p.exists():
            return load_program(p)
        from glassmm.models.artifact import resolve_model
        from glassmm.training.data import cache_dir as default_cache

        src = resolve_model(model)
        import hashlib

        key = hashlib.sha1(src.read_bytes()).hexdigest()[:16]
        out = Path(cache_dir) if cache_dir else default_cache().parent / "export"
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"{src.stem}-{key}.pt2"
        if not target.exists():
            export_program(src, target)
        return load_program(target)
