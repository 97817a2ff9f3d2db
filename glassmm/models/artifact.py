"""Self-contained model artifacts: export, load, and the bundled-model registry.

An artifact is one TorchScript file that takes positions (N, 3), box (3,), types (N,) and,
for models reading them, the inherent and cage-state positions; it builds its own periodic graph and returns
per-particle propensity (reduced length) and, for T-BOTAN, the temperature estimate
(reduced). Its metadata (units, cutoff, target time, training temperatures, inputs, data
provenance, glassmm version, normalisation) travels inside the file, readable through the
scripted ``metadata()`` method or ``torch.jit.load(..., _extra_files={"glassmm.json": ""})``.

Loading needs ``import vesin_torch`` first (the graph builder is a vesin TorchScript class);
:func:`load_model` does that. TorchScript is deprecated upstream in favour of
``torch.export``: callers use :class:`Predictor`, never the TorchScript object directly,
so the storage format can change behind it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from torch import nn

from glassmm.models.botan import BOTAN
from glassmm.models.predictor import Prediction, Predictor

__all__ = ["ArtifactModule", "EagerPredictor", "LinearArtifactModule", "export_linear", "Prediction", "TorchScriptPredictor", "build_metadata", "bundled_models",
           "export_torchscript", "load_eager", "load_model", "read_metadata", "resolve_model"]

BUNDLED_DIR = Path(__file__).parent / "bundled"
METADATA_FILE = "glassmm.json"


def species_scale(norm: Dict[str, Any]) -> tuple[List[float], List[float]]:
    """Per-species (A, B) target mean and std from a normalisation block; a scalar applies to both."""
    mean, std = norm["node_mean"], norm["node_std"]
    mean = [float(mean)] * 2 if isinstance(mean, (int, float)) else [float(x) for x in mean]
    std = [float(std)] * 2 if isinstance(std, (int, float)) else [float(x) for x in std]
    return mean, std


def check_artifact_inputs(positions: torch.Tensor, box: torch.Tensor, types: torch.Tensor,
                          inherent_positions: Optional[torch.Tensor], cage_positions: Optional[torch.Tensor],
                          needs_inherent: bool, needs_cage: bool) -> None:
    """The input checks every artifact runs (scripted with it), with messages naming the problem."""
    if positions.dim() != 2 or positions.shape[1] != 3:
        raise ValueError("positions must have shape (N, 3)")
    if types.dim() != 1 or types.shape[0] != positions.shape[0]:
        raise ValueError("types must have shape (N,) matching positions")
    if box.numel() != 3:
        raise ValueError("box must have 3 edge lengths")
    if not bool(torch.isfinite(positions).all()):
        raise ValueError("positions contain NaN or infinite values")
    if bool((types < 0).any()) or bool((types > 1).any()):
        raise ValueError("types must be 0 (A) or 1 (B)")
    if needs_inherent and inherent_positions is None:
        raise ValueError("this model needs inherent_positions (its inputs include IS)")
    if needs_cage and cage_positions is None:
        raise ValueError("this model needs cage_positions (its inputs include CS)")
    if inherent_positions is not None and inherent_positions.shape != positions.shape:
        raise ValueError("inherent_positions must have the shape of positions")
    if cage_positions is not None and cage_positions.shape != positions.shape:
        raise ValueError("cage_positions must have the shape of positions")


class ArtifactModule(nn.Module):
    """BOTAN + de-standardisation + input checks: the thing that is scripted and saved."""

    def __init__(self, model: BOTAN, norm: Dict[str, float], metadata_json: str,
                 extra: Optional[List[BOTAN]] = None) -> None:
        super().__init__()
        self.model = model
        # ensemble members beyond the first: same architecture, their networks averaged on
        # the graph built once by ``model.featurize``
        self.extra = nn.ModuleList(extra or [])
        # per-species output scale (A, B); a scalar applies to both
        mean, std = species_scale(norm)
        self.register_buffer("node_mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("node_std", torch.tensor(std, dtype=torch.float32))
        self.edge_std = float(norm["edge_std"])
        self.t_mean = float(norm.get("t_mean", 0.0))
        self.t_std = float(norm.get("t_std", 1.0))
        self.metadata_json = metadata_json
        self.needs_inherent = "IS" in model.kinds
        self.needs_cage = "CS" in model.kinds

    def forward(
        self,
        positions: torch.Tensor,
        box: torch.Tensor,
        types: torch.Tensor,
        inherent_positions: Optional[torch.Tensor] = None,
        cage_positions: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        check_artifact_inputs(positions, box, types, inherent_positions, cage_positions, self.needs_inherent,
                              self.needs_cage)
        dtype = self.model.node_encoder.net[0].weight.dtype
        inh: Optional[torch.Tensor] = None
        if inherent_positions is not None:
            inh = inherent_positions.to(dtype)
        cage: Optional[torch.Tensor] = None
        if cage_positions is not None:
            cage = cage_positions.to(dtype)
        t64 = types.to(torch.int64)
        x, e_raw, edge_index = self.model.featurize(positions.to(dtype), box.reshape(3).to(dtype), t64, inh, cage)
        node, edge, temperature = self.model.network(x, e_raw, edge_index)
        for member in self.extra:
            n2, e2, t2 = member.network(x, e_raw, edge_index)
            node, edge, temperature = node + n2, edge + e2, temperature + t2
        k = float(1 + len(self.extra))
        res: Dict[str, torch.Tensor] = {
            "propensity": node / k * self.node_std[t64] + self.node_mean[t64],
            "edge_index": edge_index,
            "edge_delta": edge / k * self.edge_std,
        }
        if self.model.temperature_head:
            res["temperature"] = temperature / k * self.t_std + self.t_mean
        return res

    @torch.jit.export
    def metadata(self) -> str:
        return self.metadata_json


#: artifact kinds that are descriptor models (glassmm.models.descriptors), not BOTAN networks
DESCRIPTOR_KINDS = ("linear", "mlp")


class LinearArtifactModule(nn.Module):
    """A descriptor model (:class:`~glassmm.models.descriptors.LinearPropensity` or
    :class:`~glassmm.models.descriptors.MLPPropensity`) + output scale + input checks (scripted and saved).

    Same call and outputs as :class:`ArtifactModule`; it predicts no edges (empty
    ``edge_index`` and ``edge_delta``).
    """

    def __init__(self, model: Any, norm: Dict[str, Any], metadata_json: str) -> None:
        super().__init__()
        self.model = model
        mean, std = species_scale(norm)
        self.register_buffer("node_mean", torch.tensor(mean, dtype=torch.float64))
        self.register_buffer("node_std", torch.tensor(std, dtype=torch.float64))
        self.metadata_json = metadata_json
        kinds = model.descriptors.kinds
        self.needs_inherent = "IS" in kinds
        self.needs_cage = "CS" in kinds

    def forward(
        self,
        positions: torch.Tensor,
        box: torch.Tensor,
        types: torch.Tensor,
        inherent_positions: Optional[torch.Tensor] = None,
        cage_positions: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        check_artifact_inputs(positions, box, types, inherent_positions, cage_positions, self.needs_inherent,
                              self.needs_cage)
        t64 = types.to(torch.int64)
        z = self.model.standardised(positions, box, t64, inherent_positions, cage_positions)
        prop = z * self.node_std[t64] + self.node_mean[t64]
        return {"propensity": prop.to(positions.dtype),
                "edge_index": torch.zeros(2, 0, dtype=torch.int64, device=positions.device),
                "edge_delta": torch.zeros(0, dtype=positions.dtype, device=positions.device)}

    @torch.jit.export
    def metadata(self) -> str:
        return self.metadata_json


def export_linear(model: Any, norm: Dict[str, Any], path: str | Path, **info: Any) -> Path:
    """Script and save a descriptor-model artifact (linear or MLP) with its metadata, atomically."""
    from glassmm._version import __version__
    from glassmm.io import atomic_write

    desc = model.descriptors
    meta: Dict[str, Any] = {
        "format": "glassmm-torchscript-1",
        "kind": model.config()["model"],
        "units": "reduced LJ (sigma_AA, epsilon_AA, tau); positions and propensity in sigma_AA",
        "system": "Kob-Andersen 3D 80:20, density 1.2",
        # the local descriptors' graph: the domain check asks for a box at least twice that. The
        # coarse-graining reaches further (3 L), but its neighbour list carries every periodic
        # image (vesin), so it needs no minimum image and holds in smaller boxes too
        "cutoff": desc.graph_cutoff,
        "coarse_graining_cutoff": 3.0 * max(desc.cg_lengths) if desc.cg_lengths else 0.0,
        "inputs": desc.inputs,
        "architecture": model.config(),
        "outputs": ["propensity"],
        "glassmm_version": __version__,
        "load_requires": ["import vesin_torch"],
        "ensemble_size": int(model.config().get("members", 1)),
    }
    meta.update(info)
    meta["normalisation"] = dict(norm)
    mod = LinearArtifactModule(model.eval(), norm, json.dumps(meta))
    scripted = torch.jit.script(mod)
    path = Path(path)
    with atomic_write(path) as fh:
        torch.jit.save(scripted, fh, _extra_files={METADATA_FILE: json.dumps(meta)})
    return path


def build_metadata(model: BOTAN, **info: Any) -> Dict[str, Any]:
    """Standard metadata block; ``info`` adds/overrides fields (target_time, provenance, ...)."""
    from glassmm._version import __version__

    meta: Dict[str, Any] = {
        "format": "glassmm-torchscript-1",
        "kind": "tbotan" if model.temperature_head else "botan",
        "units": "reduced LJ (sigma_AA, epsilon_AA, tau); positions and propensity in sigma_AA",
        "system": "Kob-Andersen 3D 80:20, density 1.2",
        "cutoff": model.cutoff,
        "inputs": model.inputs,
        "architecture": model.config(),
        "outputs": ["propensity", "edge_delta"] + (["temperature"] if model.temperature_head else []),
        "glassmm_version": __version__,
        "load_requires": ["import vesin_torch"],
    }
    meta.update(info)
    return meta


def export_torchscript(model: BOTAN, norm: Dict[str, float], path: str | Path,
                       extra: Optional[List[BOTAN]] = None, **info: Any) -> Path:
    """Script and save a model (or an ensemble: ``model`` plus ``extra`` members) with its metadata, atomically."""
    from glassmm.io import atomic_write

    meta = build_metadata(model, **info)
    meta["normalisation"] = dict(norm)
    meta["ensemble_size"] = 1 + len(extra or [])
    mod = ArtifactModule(model.eval(), norm, json.dumps(meta), [m.eval() for m in (extra or [])])
    scripted = torch.jit.script(mod)
    path = Path(path)
    with atomic_write(path) as fh:
        torch.jit.save(scripted, fh, _extra_files={METADATA_FILE: json.dumps(meta)})
    return path


def call_artifact(module: Any, positions: Any, box: Any, types: Any, inherent: Any, cage: Any = None) -> Any:
    """Call an artifact module; the cage positions only when given (older artifacts take four arguments)."""
    if cage is None:
        return module(positions, box, types, inherent)
    return module(positions, box, types, inherent, cage)


def _artifact_global_z(module: Any, positions: Any, box: Any, types: Any, inherent: Any, cage: Any = None) -> Any:
    """Standardised global statistics of an artifact module (scripted or eager) for one configuration."""
    from glassmm.models.botan import _global_statistics

    net = module.model
    dtype = net.global_input_mean.dtype
    extra = [None if inherent is None else inherent.to(dtype)]
    if cage is not None:  # artifacts from before cage states take four arguments
        extra.append(cage.to(dtype))
    x, _, _ = net.featurize(positions.to(dtype), box.reshape(3).to(dtype), types, *extra)
    z = (_global_statistics(x) - net.global_input_mean) / net.global_input_std
    return z.detach().cpu().double().numpy()


class TorchScriptPredictor(Predictor):
    """The TorchScript artifact itself (any torch device it was loaded on)."""

    def __init__(self, module: Any, metadata: Dict[str, Any], device: str = "cpu", name: str = "") -> None:
        super().__init__(metadata, name, device)
        self.module = module

    def _global_z(self, positions: Any, box: Any, types: Any, inherent: Any, cage: Any = None) -> Any:
        return _artifact_global_z(self.module, positions, box, types, inherent, cage)

    def _forward(self, positions: Any, box: Any, types: Any, inherent: Any, cage: Any = None) -> tuple:
        return self._outputs(call_artifact(self.module, positions, box, types, inherent, cage))


class EagerPredictor(Predictor):
    """The artifact's network rebuilt as eager PyTorch; ``dtype`` may be bfloat16 (autocast)."""

    def __init__(self, module: Any, metadata: Dict[str, Any], device: str = "cpu", dtype: str | None = None,
                 name: str = "", compile: bool | str = False) -> None:
        super().__init__(metadata, name, device)
        if dtype not in (None, "float32", "fp32", "bfloat16", "bf16"):
            raise ValueError(f"dtype must be 'float32' or 'bfloat16'; got {dtype!r}")
        self.module, self.dtype = module, dtype
        self.compiled_frames: int | None = None
        self._compile = compile
        if compile and metadata.get("kind") in DESCRIPTOR_KINDS:
            raise ValueError(f"{name}: compile=True compiles BOTAN networks; a {metadata.get('kind')} descriptor "
                             "model has none")
        if compile:
            # The artifact calls ``featurize`` (vesin neighbour list: stays eager) and then
            # ``network`` on every ensemble member; those ``network`` calls are the tensor work,
            # so they are what gets compiled (compiling ``model`` itself compiled nothing: its
            # ``forward`` is never called).
            backend = "inductor" if compile is True else str(compile)
            for net in [module.model, *module.extra]:
                net.network = torch.compile(net.network, backend=backend, dynamic=True)

    def _forward_checked(self, *args: Any) -> tuple:
        """The first compiled call: check that TorchDynamo really captured frames, else refuse."""
        from torch._dynamo.utils import counters

        before = counters["stats"]["unique_graphs"]
        out = self._run(*args)
        self.compiled_frames = counters["stats"]["unique_graphs"] - before
        if self.compiled_frames <= 0:
            raise RuntimeError("compile=True but torch.compile captured no graph: the timings would be eager ones")
        return out

    def _global_z(self, positions: Any, box: Any, types: Any, inherent: Any, cage: Any = None) -> Any:
        return _artifact_global_z(self.module, positions, box, types, inherent, cage)

    def _forward(self, positions: Any, box: Any, types: Any, inherent: Any, cage: Any = None) -> tuple:
        if self._compile and self.compiled_frames is None:
            return self._forward_checked(positions, box, types, inherent, cage)
        return self._run(positions, box, types, inherent, cage)

    def _run(self, positions: Any, box: Any, types: Any, inherent: Any, cage: Any = None) -> tuple:
        if self.dtype in ("bfloat16", "bf16"):
            with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16):
                return self._outputs(call_artifact(self.module, positions, box, types, inherent, cage))
        return self._outputs(call_artifact(self.module, positions, box, types, inherent, cage))


def bundled_models() -> Dict[str, Path]:
    """Name -> path of the models shipped inside glassmm."""
    return {p.stem: p for p in sorted(BUNDLED_DIR.glob("*.pt"))}


def resolve_model(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.exists():
        return p
    models = bundled_models()
    if str(name_or_path) in models:
        return models[str(name_or_path)]
    raise ValueError(f"no model file or bundled model named {str(name_or_path)!r}; bundled: {sorted(models) or 'none'}")


def read_metadata(path: str | Path) -> Dict[str, Any]:
    """The metadata block of an artifact file (raises ValueError when it is not one)."""
    return _load_artifact(Path(path), "cpu")[1]


def _load_artifact(path: Path, device: Any) -> tuple[Any, Dict[str, Any]]:
    """(scripted module, metadata) of an artifact file, with errors that say what the file is."""
    import vesin_torch  # noqa: F401  (registers the graph builder's TorchScript class)

    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    extra = {METADATA_FILE: ""}
    try:
        module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: not a TorchScript file ({first}); glassmm models are TorchScript "
                         "artifacts written by `glassmm train` or glassmm.export_torchscript") from exc
    if not extra[METADATA_FILE]:
        raise ValueError(f"{path}: a TorchScript file but not a glassmm artifact (it carries no "
                         f"{METADATA_FILE} metadata); export models with glassmm.export_torchscript")
    try:
        meta = json.loads(extra[METADATA_FILE])
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: corrupt glassmm metadata ({exc})") from exc
    if not isinstance(meta, dict) or not str(meta.get("format", "")).startswith("glassmm-torchscript"):
        raise ValueError(f"{path}: metadata is not of a glassmm artifact (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    return module, meta


def load_model(name_or_path: str | Path, device: str = "cpu") -> TorchScriptPredictor:
    """Load a bundled model by name, or an artifact file, as a :class:`~glassmm.models.predictor.Predictor`."""
    from glassmm.models.predictor import resolve_device

    path = resolve_model(name_or_path)
    module, meta = _load_artifact(path, resolve_device(device))
    return TorchScriptPredictor(module, meta, device=device, name=str(name_or_path))


def _persistent(scripted_state: Any, module: nn.Module) -> Dict[str, Any]:
    """A scripted module's state without the buffers ``module`` keeps out of its state dict.

    TorchScript lists non-persistent buffers (the pair table) in its state dict too; models saved
    before those buffers existed have none, which the eager module does not miss either.
    """
    transient = {name for name, _ in module.named_buffers()} - set(module.state_dict())
    return {k: v for k, v in dict(scripted_state).items() if k not in transient}


def load_eager(model: str | Path, device: str = "cpu") -> tuple[ArtifactModule, Dict[str, Any]]:
    """Rebuild the eager :class:`ArtifactModule` (and its metadata) from an artifact's architecture and weights."""
    from glassmm.models.predictor import resolve_device

    dev = resolve_device(device)
    scripted = load_model(model)
    meta = scripted.metadata
    if meta.get("kind") in DESCRIPTOR_KINDS:
        from glassmm.models.descriptors import LinearPropensity, MLPPropensity, StructureDescriptors

        arch = dict(meta["architecture"])
        head = {k: arch.pop(k) for k in ("model", "hidden", "members", "dropout") if k in arch}
        desc = StructureDescriptors(**arch)
        net = (LinearPropensity(desc) if head["model"] == "linear" else
               MLPPropensity(desc, hidden=head["hidden"], members=head["members"], dropout=head["dropout"]))
        lin = LinearArtifactModule(net, meta["normalisation"], json.dumps(meta))
        lin.load_state_dict(_persistent(scripted.module.state_dict(), lin))
        return lin.eval().to(dev), meta
    net = BOTAN(**meta["architecture"])
    extra = [BOTAN(**meta["architecture"]) for _ in range(int(meta.get("ensemble_size", 1)) - 1)]
    mod = ArtifactModule(net, meta["normalisation"], json.dumps(meta), extra)
    mod.load_state_dict(_persistent(scripted.module.state_dict(), mod))
    return mod.eval().to(dev), meta
