"""Built-in backends: ``torchscript`` (the artifact as saved) and ``torch`` (eager PyTorch on
any torch device, rebuilt from the artifact's weights and architecture, optionally in
reduced precision)."""

from __future__ import annotations

from typing import Any

import numpy as np


class TorchScriptBackend:
    """Runs the TorchScript artifact itself (CPU or a CUDA device)."""

    name = "torchscript"

    def is_available(self) -> bool:
        import importlib.util

        return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("vesin_torch") is not None

    def load(self, model: str, device: str = "cpu", **options: Any):
        from glassmm.models.artifact import load_model

        return load_model(model, device=device)


class EagerPredictor:
    """Eager BOTAN rebuilt from an artifact; ``dtype`` may be bfloat16 (autocast on CPU/GPU)."""

    def __init__(self, module: Any, metadata: dict, device: str, dtype: str | None, name: str) -> None:
        self.module, self.metadata, self.device, self.dtype, self.name = module, metadata, device, dtype, name

    needs_inherent = property(lambda self: self.metadata.get("inputs", "TS") != "TS")
    has_temperature = property(lambda self: "temperature" in self.metadata.get("outputs", []))

    def check_system(self, n_particles: int, types: Any, dimensions: int = 3) -> None:
        from glassmm.models.artifact import Predictor

        Predictor.check_system(self, n_particles, types, dimensions)  # same rules

    def __call__(self, positions: Any, box: Any, types: Any, inherent_positions: Any = None, edges: bool = False):
        import torch

        from glassmm.models.artifact import Prediction

        if self.needs_inherent and inherent_positions is None:
            from glassmm.training.data import inherent_structure

            inherent_positions = inherent_structure(np.asarray(positions, float), np.asarray(types), np.asarray(box, float))
        dev = torch.device(self.device)
        t = lambda x, dt=torch.float32: torch.as_tensor(np.asarray(x), dtype=dt, device=dev)  # noqa: E731
        args = (t(positions), t(box), t(types, torch.int64), None if inherent_positions is None else t(inherent_positions))
        with torch.no_grad():
            if self.dtype in ("bfloat16", "bf16"):
                with torch.autocast(device_type=dev.type, dtype=torch.bfloat16):
                    out = self.module(*args)
            else:
                out = self.module(*args)
        return Prediction(
            propensity=out["propensity"].double().cpu().numpy(),
            temperature=float(out["temperature"]) if "temperature" in out else None,
            edge_index=out["edge_index"].cpu().numpy() if edges else None,
            edge_delta=out["edge_delta"].double().cpu().numpy() if edges else None,
        )


def eager_module(model: str, device: str = "cpu"):
    """Rebuild the eager ``ArtifactModule`` from an artifact's architecture and weights."""
    import json

    import torch

    from glassmm.models.artifact import ArtifactModule, load_model
    from glassmm.models.botan import BOTAN

    scripted = load_model(model)
    meta = scripted.metadata
    net = BOTAN(**meta["architecture"])
    extra = [BOTAN(**meta["architecture"]) for _ in range(int(meta.get("ensemble_size", 1)) - 1)]
    mod = ArtifactModule(net, meta["normalisation"], json.dumps(meta), extra)
    state = {k: v for k, v in scripted.module.state_dict().items()}
    mod.load_state_dict(state)
    return mod.eval().to(torch.device(device)), meta


class TorchBackend:
    """Eager PyTorch on any torch device string (``cpu``, ``cuda:0``, ...)."""

    name = "torch"

    def is_available(self) -> bool:
        import importlib.util

        return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("vesin_torch") is not None

    def load(self, model: str, device: str = "cpu", dtype: str | None = None, compile: bool = False, **options: Any):
        mod, meta = eager_module(model, device)
        if compile:
            import torch

            mod.model = torch.compile(mod.model, dynamic=True)
        return EagerPredictor(mod, meta, device, dtype, str(model))
