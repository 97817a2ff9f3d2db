"""Worker for test_distributed: run under torchrun with 2 processes on gloo."""

import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import glassmm  # noqa: E402
from glassmm.training.trainer import TrainConfig, Trainer  # noqa: E402
from tests.test_models import _sample  # noqa: E402


def main(out: str) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    ka = glassmm.KobAndersen(256, seed=1)  # lattice start: deterministic on every rank
    samples = [_sample(ka, seed=k) for k in range(4)]
    cfg = TrainConfig(epochs=3, pretrain_epochs=1, hidden=8, n_steps=2, patience=50, seed=0)
    tr = Trainer(cfg, samples, samples[:1], Path(out) / f"work{rank}")
    hist = tr.fit(progress=False)
    flat = torch.cat([p.detach().flatten() for p in tr.model.parameters()]).numpy()
    np.save(Path(out) / f"params{rank}.npy", flat)
    np.save(Path(out) / f"loss{rank}.npy", np.array([h["loss"] for h in hist]))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
