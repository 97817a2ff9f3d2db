"""Built-in backends: ``torchscript`` (the artifact as saved) and ``torch`` (eager PyTorch on
any torch device, rebuilt from the artifact's weights and architecture, optionally in
reduced precision). The predictors themselves live in :mod:`glassmm.models.artifact`."""

from __future__ import annotations

import importlib.util
from typing import Any


def _torch_stack_installed() -> bool:
    return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("vesin_torch") is not None


class TorchScriptBackend:
    """Runs the TorchScript artifact itself (CPU or a CUDA device)."""

    name = "torchscript"

    def is_available(self) -> bool:
        return _torch_stack_installed()

    def load(self, model: str, device: str = "cpu", dtype: str | None = None, compile: bool | str = False,
             **options: Any):
        from glassmm.models.artifact import load_model
        from glassmm.models.predictor import refuse_options

        # the scripted artifact runs in the precision it was saved in: refuse rather than ignore
        refuse_options(self.name, dtype, compile, "use backend='torch' with compile=True")
        return load_model(model, device=device)


class TorchBackend:
    """Eager PyTorch on any torch device string (``cpu``, ``cuda:0``, ...)."""

    name = "torch"

    def is_available(self) -> bool:
        return _torch_stack_installed()

    def load(self, model: str, device: str = "cpu", dtype: str | None = None, compile: bool | str = False,
             **options: Any):
        """``compile``: False, True (Inductor) or a torch.compile backend name (e.g. ``"eager"``)."""
        from glassmm.models.artifact import EagerPredictor, load_eager

        mod, meta = load_eager(model, device)
        return EagerPredictor(mod, meta, device, dtype, str(model), compile=compile)
