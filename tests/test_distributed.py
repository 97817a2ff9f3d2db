"""Data-parallel training with torch.distributed: two CPU processes on gloo, via torchrun."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np


def test_two_process_gloo_training(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
           str(Path(__file__).with_name("ddp_train.py")), str(tmp_path)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    p0, p1 = np.load(tmp_path / "params0.npy"), np.load(tmp_path / "params1.npy")
    assert np.array_equal(p0, p1)  # gradients were all-reduced: replicas stay identical
    l0, l1 = np.load(tmp_path / "loss0.npy"), np.load(tmp_path / "loss1.npy")
    assert not np.allclose(l0, l1)  # ...while each rank saw its own shard of the data
