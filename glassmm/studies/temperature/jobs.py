"""Top-level jobs the study hands to process pools (a spawned worker must import them by name)."""

from __future__ import annotations

import time
from typing import Any


def train_member(spec: dict[str, Any]) -> dict[str, Any]:
    """Train one ensemble member (top level, so a process pool can run it); resumes its checkpoint."""
    import torch

    from glassmm.training.data import load_samples
    from glassmm.training.trainer import TrainConfig, Trainer

    torch.set_num_threads(spec.get("threads", 1))
    t0 = time.perf_counter()
    samples = load_samples(spec["files"], need_inherent=spec["inputs"] != "TS", progress=False)
    cfg = TrainConfig(epochs=spec["epochs"], pretrain_epochs=spec["pretrain_epochs"], lr=spec["lr"], seed=spec["seed"],
                      hidden=spec["hidden"], n_steps=spec["n_steps"], inputs=spec["inputs"], temperature_head=True,
                      patience=spec["epochs"])  # no validation set: fixed length, best = lowest training loss
    trainer = Trainer(cfg, samples, [], spec["workdir"])
    trainer.resume()
    if trainer.epoch < cfg.epochs:
        trainer.fit(progress=False)
    return {"name": spec["name"], "seconds": time.perf_counter() - t0, "epochs": trainer.epoch,
            "final_loss": trainer.history[-1]["loss"] if trainer.history else float("nan")}


def quench_one(args: tuple[str, str]) -> str:
    """FIRE inherent structure of one file, into glassmm's cache (top level for process pools)."""
    import torch

    from glassmm.io import load_configuration
    from glassmm.minimize import inherent_structure

    torch.set_num_threads(1)
    c = load_configuration(args[0])
    inherent_structure(c.positions, c.types, c.box, platform=args[1])
    return args[0]

