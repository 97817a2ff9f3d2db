"""glassmm backend plugin: run BOTAN / T-BOTAN models with ONNX Runtime.

Registered through the entry point group ``glassmm.backends`` (see this package's
pyproject.toml), so ``glassmm backends`` lists it once installed and
``GlassReporter(..., backend="onnxruntime")`` uses it. The tensor-only network is exported
to ONNX with dynamic particle and edge counts (cached by artifact hash); the periodic graph
is built by glassmm's featuriser (vesin-torch) in front of it.

Execution providers are tried in order (``providers=`` or ``GLASSMM_ORT_PROVIDERS``,
comma-separated), keeping those this onnxruntime build offers; the CPU provider is always
the last fallback. ``device="cpu"`` or ``"cuda[:N]"`` pins them, and a CUDA device this build
cannot serve is refused by name. The graph is built on the host (vesin-torch, CPU) and ONNX
Runtime copies the features to the GPU itself.

The session runs with one intra-op thread by default (``intra_op_threads=``): measured with
onnxruntime 1.32 on the CPU provider, the multi-threaded scatter-add that aggregates messages
returned wrong sums in 6 of 20 identical calls (errors up to 2.6e-3 in propensity), while
one thread matched the TorchScript reference to 6e-8 in all 20.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from glassmm.models.export import ExportedPredictor, cached_export

__all__ = ["OnnxRuntimeBackend", "export_onnx"]

DEFAULT_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")


def export_onnx(model: str, path: str | Path) -> Path:
    """Export a glassmm model (bundled name or TorchScript artifact) to ONNX, dynamic N and E."""
    import torch

    from glassmm.models.artifact import load_eager
    from glassmm.models.export import ScaledNetwork, _example

    mod, meta = load_eager(str(model))
    net = ScaledNetwork(mod.model, meta["normalisation"], list(mod.extra)).eval()
    ex = _example(mod.model)
    N, E = torch.export.Dim("n_particles", min=2), torch.export.Dim("n_edges", min=2)
    dyn = {"x": {0: N}, "e_raw": {0: E}, "edge_index": {1: E}, "types": {0: N}}
    path = Path(path)
    tmp = path.with_suffix(".tmp.onnx")
    with torch.no_grad():
        prog = torch.onnx.export(net, ex, dynamic_shapes=dyn, dynamo=True,
                                 input_names=["x", "e_raw", "edge_index", "types"],
                                 output_names=["propensity", "edge_delta", "temperature"])
    prog.save(str(tmp))
    os.replace(tmp, path)
    return path


class OnnxPredictor(ExportedPredictor):
    """Same call and outputs as glassmm's predictors; the network runs in ONNX Runtime."""

    def __init__(self, session: Any, metadata: dict, name: str) -> None:
        super().__init__(None, metadata, name)
        self.session = session
        self.providers = session.get_providers()

    def run(self, x, e_raw, ei, ty):
        prop, edge, temp = self.session.run(None, {"x": x.numpy(), "e_raw": e_raw.numpy(),
                                                   "edge_index": ei.numpy(), "types": ty.numpy()})
        return prop, edge, float(temp)


class OnnxRuntimeBackend:
    """The ``onnxruntime`` backend."""

    name = "onnxruntime"

    def is_available(self) -> bool:
        import importlib.util

        return importlib.util.find_spec("onnxruntime") is not None

    def providers(self, requested: Sequence[str] | None = None, device: str | None = None) -> list:
        """Execution providers to ask for, best first; ``device`` pins them.

        ``device="cpu"``: the CPU provider only. ``device="cuda"`` / ``"cuda:N"``: the CUDA
        provider on GPU N, refused by name when this onnxruntime build has none (the CPU
        wheel; install ``onnxruntime-gpu`` instead). ``None`` / ``"auto"``: ``requested``, or
        ``GLASSMM_ORT_PROVIDERS``, or the default order, keeping those this build offers.
        """
        import onnxruntime as ort

        have = set(ort.get_available_providers())
        dev = None if device is None else str(device).strip().lower()
        if dev == "cpu":
            return ["CPUExecutionProvider"]
        if dev is not None and dev != "auto":
            kind, _, index = dev.partition(":")
            if kind != "cuda":
                raise ValueError(f"the onnxruntime backend runs on 'cpu' or 'cuda[:N]'; got device {device!r}")
            if "CUDAExecutionProvider" not in have:
                raise ValueError(f"device {device!r} asked of the onnxruntime backend, but this onnxruntime "
                                 f"build ({ort.__version__}) has no CUDAExecutionProvider (providers: "
                                 f"{', '.join(sorted(have))}); install onnxruntime-gpu, or use device='cpu'")
            return [("CUDAExecutionProvider", {"device_id": int(index or 0)}), "CPUExecutionProvider"]
        if requested is None and os.environ.get("GLASSMM_ORT_PROVIDERS"):
            requested = [p.strip() for p in os.environ["GLASSMM_ORT_PROVIDERS"].split(",") if p.strip()]
        wanted = list(requested or DEFAULT_PROVIDERS)
        chosen = [p for p in wanted if p in have and p != "CPUExecutionProvider"]
        return chosen + ["CPUExecutionProvider"]

    def load(self, model: str, providers: Sequence[str] | None = None, cache_dir: str | None = None,
             device: str | None = None, dtype: str | None = None, compile: bool | str = False,
             intra_op_threads: int = 1, **options: Any) -> OnnxPredictor:
        import onnxruntime as ort

        from glassmm.models.artifact import read_metadata, resolve_model
        from glassmm.models.predictor import refuse_options

        refuse_options(self.name, dtype, compile, "use backend='torch' with compile=True")
        p = Path(str(model))
        if p.suffix == ".onnx":
            raise ValueError("pass the glassmm artifact (name or .pt); the plugin exports and caches the ONNX file itself")
        chosen = self.providers(providers, device)  # refuses an impossible device before any export work
        meta = read_metadata(resolve_model(model))
        onnx_path = cached_export(model, "onnx", ".onnx", lambda src, target: export_onnx(str(src), target), cache_dir)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = int(intra_op_threads)  # >1 races in scatter-add (see module doc)
        session = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=chosen)
        return OnnxPredictor(session, meta, str(model))
