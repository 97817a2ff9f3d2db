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

from glassmm.models.artifact import load_eager, species_scale
from glassmm.models.botan import BOTAN
from glassmm.models.predictor import Predictor, refuse_options

METADATA_FILE = "glassmm.json"


class ScaledNetwork(nn.Module):
    """BOTAN.network + per-species de-standardisation: (x, e_raw, edge_index, types) -> outputs."""

    def __init__(self, model: BOTAN, norm: dict, extra: list | None = None) -> None:
        super().__init__()
        self.model = model
        self.extra = nn.ModuleList(extra or [])  # ensemble members, averaged
        mean, std = species_scale(norm)
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
    from glassmm.systems import KobAndersen

    ka = KobAndersen(n, seed=0)
    pos = torch.tensor(ka.positions_reduced + np.random.default_rng(0).normal(0, 0.05, (n, 3)), dtype=torch.float32)
    x, e_raw, ei = model.featurize(pos, torch.tensor(ka.box, dtype=torch.float32), torch.tensor(ka.types), pos)
    return x, e_raw, ei, torch.tensor(ka.types, dtype=torch.int64)


def export_program(model: str | Path, path: str | Path, aot: bool = False, device: str = "cpu") -> Path:
    """Export a TorchScript artifact (name or path) as a ``torch.export`` program (.pt2).

    With ``aot=True`` also AOT-compiles it with Inductor for ``device`` to
    ``<path>.aoti.pt2`` (needs a C++ compiler, and for CUDA the CUDA toolchain torch ships;
    minutes on a small CPU).
    """
    mod, meta = load_eager(str(model))
    if meta.get("kind") in ("linear", "mlp"):
        raise ValueError(f"{model}: a {meta['kind']} descriptor model has no tensor-only network to export; "
                         "use the torchscript or torch backend")
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
        aot_package(ep, Path(str(path) + ".aoti.pt2"), device)
    return path


def aot_package(program: Any, path: Path, device: str = "cpu") -> Path:
    """AOTInductor-compile an exported program for ``device`` into the package ``path`` (written atomically)."""
    import os

    from glassmm.models.predictor import resolve_device

    dev = resolve_device(device)
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"AOTInductor packages are built for cpu or cuda; got device {device!r}")
    ep = program if dev.type == "cpu" else torch.export.passes.move_to_device_pass(program, dev)
    tmp = path.with_name(path.name + ".tmp.pt2")
    torch._inductor.aoti_compile_and_package(ep, package_path=str(tmp))
    os.replace(tmp, path)
    return path


class ExportedPredictor(Predictor):
    """Predictor over an exported program; same call and outputs as the TorchScript one.

    The graph is built by :meth:`BOTAN.featurize` in front of the program, on the same device;
    subclasses that run the tensor-only network elsewhere (ONNX Runtime, an accelerator)
    override :meth:`run`.
    """

    def __init__(self, program: Any, metadata: dict, name: str, device: str = "cpu") -> None:
        super().__init__(metadata, name, device)
        self.program = program
        self.featurizer = BOTAN(**metadata["architecture"]).to(self.device)  # featurize() has no weights

    def _forward(self, positions: Any, box: Any, types: Any, inherent: Any, cage: Any = None) -> tuple:
        x, e_raw, ei = self.featurizer.featurize(positions, box, types, inherent, cage)
        prop, edge, temp = self.run(x, e_raw, ei, types)
        return prop, ei, edge, temp if self.has_temperature else None

    def run(self, x, e_raw, ei, ty):
        """The tensor-only network: (propensity, edge_delta, temperature)."""
        out = self.program(x, e_raw, ei, ty)
        return out[0], out[1], out[2].item()


def _read_program(path: str | Path) -> tuple[Any, dict]:
    extra = {METADATA_FILE: ""}
    try:
        ep = torch.export.load(str(path), extra_files=extra)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable torch.export program ({exc})") from exc
    return ep, json.loads(extra[METADATA_FILE])


def load_program(path: str | Path, device: str = "cpu") -> ExportedPredictor:
    """Load a ``torch.export`` program written by :func:`export_program`, its weights on ``device``."""
    from glassmm.models.predictor import resolve_device

    dev = resolve_device(device)
    ep, meta = _read_program(path)
    if dev.type != "cpu":
        ep = torch.export.passes.move_to_device_pass(ep, dev)
    return ExportedPredictor(ep.module(), meta, str(path), str(dev))


def load_aot(model: str | Path, device: str = "cpu", cache_dir: str | None = None) -> ExportedPredictor:
    """An AOTInductor package of ``model`` compiled for ``device`` (built once, cached by artifact hash and device)."""
    from glassmm.models.predictor import resolve_device

    dev = resolve_device(device)
    p = Path(str(model))
    program_path = p if (p.suffix == ".pt2" and p.exists()) else cached_export(model, "export", ".pt2", export_program, cache_dir)
    meta = _read_program(program_path)[1]
    package = cached_export(program_path, "export", f".{dev.type}.aoti.pt2",
                            lambda src, target: aot_package(_read_program(src)[0], target, str(dev)), cache_dir)
    try:
        runner = torch._inductor.aoti_load_package(str(package))
    except Exception as exc:
        raise ValueError(f"{package}: AOTInductor package does not load on {dev} ({type(exc).__name__}: {exc})") from exc
    pred = ExportedPredictor(runner, meta, f"{model} (AOTInductor, {dev.type})", str(dev))
    pred.name = str(model)
    return pred


class TorchExportBackend:
    """``torch-export``: ``.pt2`` programs, or a TorchScript artifact exported on the fly (cached).

    ``device`` places the program's weights and the graph builder; ``aot=True`` runs an
    AOTInductor package compiled for that device instead (built on first use). The program
    runs in float32: other ``dtype`` values and ``compile`` are refused by name.
    """

    name = "torch-export"

    def is_available(self) -> bool:
        return hasattr(torch, "export")

    def load(self, model: str, device: str = "cpu", dtype: str | None = None, compile: bool | str = False,
             aot: bool = False, cache_dir: str | None = None, **options: Any) -> ExportedPredictor:
        refuse_options(self.name, dtype, compile, "ask for aot=True (AOTInductor) or use backend='torch' with compile=True")
        p = Path(str(model))
        if aot:
            return load_aot(model, device, cache_dir)
        if p.suffix == ".pt2" and p.exists():
            return load_program(p, device)
        return load_program(cached_export(model, "export", ".pt2", export_program, cache_dir), device)


def cached_export(model: str | Path, kind: str, suffix: str, export: Any, cache_dir: str | Path | None = None) -> Path:
    """The artifact ``model`` exported by ``export(source, target)``, cached by a hash of its bytes.

    The cache is ``cache_dir`` or glassmm's ``kind`` cache (:func:`glassmm.io.cache_dir`); a
    changed artifact gets a new entry, so a stale export is never loaded.
    """
    import hashlib

    from glassmm.io import cache_dir as glassmm_cache
    from glassmm.models.artifact import resolve_model

    src = resolve_model(model)
    key = hashlib.sha1(src.read_bytes()).hexdigest()[:16]
    out = Path(cache_dir) if cache_dir else glassmm_cache(kind)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{src.stem}-{key}{suffix}"
    if not target.exists():
        export(src, target)
    return target
