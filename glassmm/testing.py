"""Shared parity suite for backend plugins.

A vendor plugin proves itself by running, in its own tests::

    from glassmm.testing import run_parity_suite
    def test_parity(tmp_path):
        report = run_parity_suite("my-backend", workdir=tmp_path)

It checks, against the reference ``torchscript`` backend on the same artifacts:

1. the backend is registered and ``is_available()``;
2. predictions match (propensity and T-BOTAN temperature within ``atol``) for a BOTAN
   and a T-BOTAN model, at two particle counts (dynamic shapes);
3. permuting the particles permutes the prediction (no hidden order dependence);
4. shifting particles by whole box vectors changes nothing (periodic graph);
5. the system check refuses a 2D system.

Raises AssertionError naming the failed check; returns the measured errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _models(workdir: Path) -> list[Path]:
    import torch

    from glassmm.models.artifact import export_torchscript
    from glassmm.models.botan import BOTAN

    out = []
    for name, kw in (("botan", {}), ("tbotan", {"temperature_head": True})):
        torch.manual_seed(0)
        m = BOTAN(hidden=16, n_steps=3, **kw)
        norm = {"node_mean": [0.4, 0.7], "node_std": [0.2, 0.3], "edge_std": 0.1, "t_mean": 0.5, "t_std": 0.1}
        out.append(export_torchscript(m, norm, workdir / f"parity-{name}.pt"))
    return out


def run_parity_suite(backend: str, workdir: str | Path, atol: float = 1e-4, **options: Any) -> dict[str, float]:
    """Run the parity checks for ``backend`` (see module docstring); returns max errors."""
    from glassmm.backends import get_backend, load_predictor
    from glassmm.systems import KobAndersen, KobAndersen2D

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    b = get_backend(backend)
    assert b.is_available(), f"backend {backend!r} reports is_available() == False"
    report: dict[str, float] = {}
    rng = np.random.default_rng(0)
    for path in _models(workdir):
        ref, _ = load_predictor(str(path), backend="torchscript")
        pred, _ = load_predictor(str(path), backend=backend, **options)
        for n in (300, 700):
            ka = KobAndersen(n, seed=n)
            pos = ka.positions_reduced + rng.normal(0, 0.06, (n, 3))
            a, r = pred(pos, ka.box, ka.types), ref(pos, ka.box, ka.types)
            err = float(np.max(np.abs(a.propensity - r.propensity)))
            report[f"{path.stem}_n{n}_propensity"] = err
            assert a.propensity.shape == (n,), f"propensity shape {a.propensity.shape} != ({n},)"
            assert err < atol, f"{path.stem}, N={n}: propensity differs by {err:.2e} (> {atol})"
            if r.temperature is not None:
                assert a.temperature is not None, f"{path.stem}: backend dropped the temperature output"
                terr = abs(a.temperature - r.temperature)
                report[f"{path.stem}_n{n}_temperature"] = terr
                assert terr < atol, f"{path.stem}: temperature differs by {terr:.2e}"
            perm = rng.permutation(n)
            p = pred(pos[perm], ka.box, ka.types[perm]).propensity
            perr = float(np.max(np.abs(p - a.propensity[perm])))
            report[f"{path.stem}_n{n}_permutation"] = perr
            assert perr < atol, f"{path.stem}: permuting particles changed predictions by {perr:.2e}"
            shifted = pos + ka.box * rng.integers(-2, 3, (n, 3))
            serr = float(np.max(np.abs(pred(shifted, ka.box, ka.types).propensity - a.propensity)))
            report[f"{path.stem}_n{n}_periodic_images"] = serr
            assert serr < atol, f"{path.stem}: periodic images changed predictions by {serr:.2e}"
        try:
            pred.check_system(400, KobAndersen2D(400).types, dimensions=2)
        except ValueError:
            pass
        else:
            raise AssertionError("check_system accepted a 2D system for a 3D model")
    return report


def equilibrated_liquid(n: int, temperature: float = 1.0, seed: int = 0, steps: int = 2000,
                        platform: str = "auto", threads: int | None = None) -> Any:
    """A KA liquid of ``n`` particles: random start, ``steps`` Langevin steps at ``temperature`` (reduced).

    The test suites' shared starting point (positions in ``ka.positions_reduced``).
    """
    from glassmm.simulation import create_simulation, get_positions, run
    from glassmm.systems import KobAndersen

    ka = KobAndersen(n, positions="random", seed=seed)
    sim = create_simulation(ka, "langevin", temperature=temperature, seed=seed, platform=platform, threads=threads)
    run(sim, steps)
    ka.positions_reduced = get_positions(sim.context)
    return ka


def chain_statistics(simulation: Any, advance: Any, ka: Any, n_samples: int = 300, batches: int = 10) -> tuple[float, float, Any]:
    """<U>/N, its batch-means standard error, and g(r) (r < 2.5, 50 bins) of a chain.

    ``advance()`` moves the chain on (MD steps, or sampler cycles) before each sample is read
    from ``simulation``'s context; two chains of the same liquid should agree within error.
    """
    import numpy as np

    from glassmm.analysis.structure import RadialDistribution
    from glassmm.simulation import get_positions, potential_energy

    u, g = [], RadialDistribution(r_max=2.5, n_bins=50)
    for _ in range(n_samples):
        advance()
        u.append(potential_energy(simulation.context) / ka.n_particles)
        g.accumulate(get_positions(simulation.context), ka.box, ka.types)
    arr = np.array(u)
    se = arr[: len(arr) // batches * batches].reshape(batches, -1).mean(1).std(ddof=1) / np.sqrt(batches)
    return float(arr.mean()), float(se), g.g


def plain_md_reference(n: int = 160, temperature: float = 1.0, seed: int = 11, every: int = 50) -> tuple[Any, tuple[float, float, Any]]:
    """A warmed KA liquid and the :func:`chain_statistics` of plain MD from it (samples every ``every`` steps).

    The reference the samplers' small-KA checks compare their chains with.
    """
    from glassmm.simulation import create_simulation

    ka = equilibrated_liquid(n, temperature, seed=seed, steps=4000, threads=1)
    md = create_simulation(ka, "langevin", temperature=temperature, seed=seed + 1, threads=1)
    return ka, chain_statistics(md, lambda: md.step(every), ka)


def independent_starts(ka: Any, temperature: float, n: int, spacing: int = 2000, seed: int = 0,
                       threads: int = 1) -> list[tuple[Any, Any, float]]:
    """``n`` equilibrium states (positions, velocities, potential energy; reduced) of ``ka`` at
    ``temperature``, ``spacing`` Langevin steps apart on one MD run: starts for independent chains
    whose scatter, not batch means, gives the error of an exactness test."""
    from glassmm.simulation import create_simulation, get_positions, get_velocities, potential_energy

    md = create_simulation(ka, "langevin", temperature=temperature, seed=seed, threads=threads)
    md.step(spacing)
    out = []
    for _ in range(n):
        md.step(spacing)
        out.append((get_positions(md.context), get_velocities(md.context), potential_energy(md.context)))
    return out
