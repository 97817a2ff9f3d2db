"""``train_model``: files in, artifact out (the API behind ``glassmm train``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from glassmm.training.trainer import TrainConfig, Trainer


def _provenance(files: Sequence[str | Path]) -> list[dict[str, str]]:
    out = []
    for f in files:
        h = hashlib.sha1(Path(f).read_bytes()).hexdigest()[:16]
        out.append({"file": Path(f).name, "sha1_16": h})
    return out


def _cage_metadata(cfg: TrainConfig | dict) -> dict[str, Any]:
    """``{"cage": every cage-state parameter, defaults filled in}`` for a CS model (predict reads it), else {}."""
    from dataclasses import asdict

    from glassmm.cage import CageParameters
    from glassmm.structures import needs_cage

    cfg = vars(cfg) if isinstance(cfg, TrainConfig) else cfg
    if not needs_cage(cfg.get("inputs", "TS")):
        return {}
    full = asdict(CageParameters(temperature=1.0, **(cfg.get("cage") or {})))
    full.pop("temperature")
    return {"cage": full}


def train_model(
    train_files: Sequence[str | Path],
    val_files: Sequence[str | Path],
    output: str | Path,
    config: TrainConfig | None = None,
    resume: bool = False,
    target_time: float | None = None,
    progress: bool = True,
    temperature: float | None = None,
    **metadata: Any,
) -> dict[str, Any]:
    """Train on ``train_files``, early-stop on ``val_files``, export the best model to ``output``."""
    from glassmm.models.artifact import export_torchscript
    from glassmm.training.data import load_samples

    cfg = config or TrainConfig()
    from glassmm.structures import needs_cage, needs_inherent

    kw = dict(need_inherent=needs_inherent(cfg.inputs), need_cage=needs_cage(cfg.inputs), cage=cfg.cage,
              progress=progress, temperature=temperature)
    train = load_samples(train_files, **kw)
    val = load_samples(val_files, **kw) if val_files else []
    output = Path(output)
    trainer = Trainer(cfg, train, val, output.parent / f"{output.name}.work")
    if resume:
        trainer.resume()
    history = trainer.fit(progress=progress)
    trainer.load_best()
    temps = sorted({s.temperature for s in train if s.temperature is not None})
    best = max((h for h in history if h["stage"] == "joint"), key=Trainer.score, default=history[-1])
    export_torchscript(
        trainer.model, trainer.normalisation(), output,
        target_time=target_time, training_temperatures=temps or None,
        data_provenance=_provenance(train_files), validation_files=[Path(f).name for f in val_files],
        validation={"val_pearson": best.get("val_pearson"), "epoch": best.get("epoch")},
        train_config={k: v for k, v in vars(cfg).items() if k != "extra"},
        **_cage_metadata(cfg), **metadata,
    )
    return {"artifact": str(output), "epochs_run": len(history), "best": best,
            "workdir": str(trainer.workdir), "loss_plot": str(trainer.workdir / "loss.png")}


def load_checkpoint(checkpoint: str | Path) -> tuple[Any, dict]:
    """The BOTAN network of a Trainer checkpoint, weights loaded, and the checkpoint dict."""
    import torch

    from glassmm.models.botan import BOTAN

    st = torch.load(str(checkpoint), weights_only=False)
    cfg = st["config"]
    model = BOTAN(hidden=cfg["hidden"], n_steps=cfg["n_steps"], energy_features=cfg["energy_features"],
                  temperature_head=cfg["temperature_head"], inputs=cfg["inputs"])
    model.load_state_dict(st["model"])
    return model, st


def export_checkpoint(checkpoint: str | Path, output: str | Path, train_files: Sequence[str | Path] = (),
                      val_files: Sequence[str | Path] = (), **metadata: Any) -> Path:
    """Export a Trainer checkpoint (``best.pt`` / ``checkpoint.pt``) as a TorchScript artifact."""
    from glassmm.models.artifact import export_torchscript

    model, st = load_checkpoint(checkpoint)
    cfg = st["config"]
    hist = st["history"]
    best = max((h for h in hist if h["stage"] == "joint"), key=Trainer.score, default=hist[-1])
    metadata.setdefault("validation", {"val_pearson": best.get("val_pearson"), "epoch": best.get("epoch")})
    return export_torchscript(
        model, st["norm"], output, data_provenance=_provenance(train_files) if train_files else None,
        validation_files=[Path(f).name for f in val_files], train_config=cfg, **{**_cage_metadata(cfg), **metadata},
    )


def spread_scale(models: Sequence[Any], samples: Sequence[Any], inputs: str) -> list[float]:
    """Per-species (A, B) factor that makes the averaged members' standardised output spread 1 on ``samples``.

    Averaging members shrinks the spread of the prediction (their errors partly cancel), and
    a spread below the real one hides the most and least mobile particles; the factor is
    measured on training configurations only, so held-out data never set it. Pearson is
    unchanged (a positive scale per species).
    """
    import torch

    stds: dict[int, list[float]] = {0: [], 1: []}
    with torch.no_grad():
        for s in samples:
            x, e_raw, ei = models[0].featurize(*s.model_inputs(inputs))
            node = sum(m.network(x, e_raw, ei)[0] for m in models) / len(models)
            for t in (0, 1):
                sel = s.types == t
                if int(sel.sum()) > 1:
                    stds[t].append(float(node[sel].std()))
    return [1.0 / float(np.mean(stds[t])) if stds[t] else 1.0 for t in (0, 1)]


def export_ensemble(checkpoints: Sequence[str | Path], output: str | Path, train_files: Sequence[str | Path] = (),
                    calibrate_spread: bool = False, temperature: float | None = None, **metadata: Any) -> Path:
    """Export several checkpoints of the same architecture as one averaged-ensemble artifact.

    With ``calibrate_spread`` the output scale per species is multiplied by
    :func:`spread_scale` measured on ``train_files`` (``temperature`` (reduced) for files
    that carry none), and the factors are recorded in the metadata (``spread_calibration``).
    """
    from glassmm.models.artifact import export_torchscript, species_scale

    models, norms, configs = [], [], []
    for ck in checkpoints:
        m, st = load_checkpoint(ck)
        cfg = st["config"]
        models.append(m)
        norms.append(st["norm"])
        configs.append({"inputs": cfg.get("inputs"), "cage": cfg.get("cage") or {}})
    if any(n != norms[0] for n in norms[1:]):
        raise ValueError("ensemble members were trained with different normalisations (different data?)")
    if any(c != configs[0] for c in configs[1:]):
        raise ValueError("ensemble members differ in inputs or cage-state parameters: "
                         f"{sorted({(c.get('inputs'), repr(c.get('cage'))) for c in configs})}")
    norm = dict(norms[0])
    if calibrate_spread:
        from glassmm.structures import needs_cage, needs_inherent
        from glassmm.training.data import load_samples

        if not train_files:
            raise ValueError("calibrate_spread needs the training files")
        inputs = cfg.get("inputs", "TS")
        samples = load_samples(train_files, need_inherent=needs_inherent(inputs), need_cage=needs_cage(inputs),
                               cage=cfg.get("cage") or {}, progress=False, temperature=temperature)
        scale = spread_scale(models, samples, inputs)
        mean, std = species_scale(norm)
        norm["node_mean"], norm["node_std"] = mean, [sd * c for sd, c in zip(std, scale)]
        metadata["spread_calibration"] = {"factors_AB": scale, "on": [Path(f).name for f in train_files]}
    return export_torchscript(models[0], norm, output, extra=models[1:], train_config=cfg,
                              data_provenance=_provenance(train_files) if train_files else None,
                              **{**_cage_metadata(cfg), **metadata})
