"""Shared fixtures: the real KA data in ../shared (skipped with a reason when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

# The tests' networks are tiny: torch's intra-op threads only wait on each other (and on OpenMM's
# CPU threads). Measured on the proposal flows' ODE solves with the two cores busy: 0.7 s per
# sampler attempt with one thread, 7 s with two.
os.environ.setdefault("OMP_NUM_THREADS", "1")
try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a dependency
    pass


def shared_data_dir() -> Path | None:
    env = os.environ.get("GLASSMM_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for c in candidates:
        d = c / "botan-ka-T0.44" / "train"
        if d.is_dir() and any(d.glob("*.npz")):
            return d
    return None


SHARED = shared_data_dir()
needs_shared = pytest.mark.skipif(
    SHARED is None,
    reason="real KA data not found at ../shared/data/botan-ka-T0.44 (set GLASSMM_SHARED_DATA)",
)


@pytest.fixture(scope="session")
def shared_files() -> list[Path]:
    if SHARED is None:
        pytest.skip("real KA data not found at ../shared/data/botan-ka-T0.44 (set GLASSMM_SHARED_DATA)")
    return sorted(SHARED.glob("*.npz"), key=lambda p: int(p.stem.split("_")[2]))


@pytest.fixture(scope="session")
def shared_config(shared_files):
    import glassmm

    return glassmm.load_configuration(shared_files[0])


@pytest.fixture(scope="session")
def small_liquid():
    """A 256-particle KA liquid equilibrated briefly at T = 1.0 (positions reduced)."""
    from glassmm.testing import equilibrated_liquid

    # one thread: the threaded CPU platform is not reproducible for custom forces
    return equilibrated_liquid(256, 1.0, seed=3, steps=2000, threads=1)


PLUGIN = Path(__file__).with_name("plugin_fixture")


@pytest.fixture
def test_plugin(monkeypatch):
    """The test backend plugin (tests/plugin_fixture) importable and registered; use with usefixtures."""
    import sys

    from glassmm.backends import registry

    monkeypatch.syspath_prepend(str(PLUGIN))
    registry.refresh()
    sys.modules.pop("glassmm_testbackend", None)
    yield
    registry.refresh()


@pytest.fixture
def sim(small_liquid):
    """A Langevin simulation at T = 1 of the equilibrated small liquid (``sim.ka`` is the system)."""
    from glassmm.simulation import create_simulation

    s = create_simulation(small_liquid, "langevin", temperature=1.0, seed=2, threads=1)
    s.ka = small_liquid
    return s
