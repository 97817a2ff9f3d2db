"""End-to-end sampler workflows shared by the ``glassmm`` command line and the example."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from glassmm import units

DT = 0.005


def ka_simulation(
    temperature: float,
    input: str | Path | None = None,
    n_particles: int = 200,
    equilibration_time: float = 20.0,
    seed: int = 0,
    platform: str = "auto",
    threads: int | None = 1,
    equilibrate: bool = True,
) -> tuple[Any, Any]:
    """A Langevin KA simulation at ``temperature`` (reduced), melted and quenched unless loaded.

    One CPU thread by default: the threaded CPU platform is not bit-reproducible for custom
    forces, and exact resumption needs it to be.
    """
    from glassmm.io import load_configuration
    from glassmm.simulation import create_simulation, melt_and_quench, run, set_temperature
    from glassmm.systems import KobAndersen

    T = units.as_reduced_temperature(temperature)
    if input is not None:
        ka = KobAndersen.from_configuration(load_configuration(input))
    else:
        ka = KobAndersen(n_particles, positions="random", seed=seed)
    sim = create_simulation(ka, "langevin", temperature=T, seed=seed, platform=platform, threads=threads)
    if equilibrate:
        if input is None:
            melt_and_quench(sim, T, melt_time=5.0, quench_time=5.0, equilibration_time=equilibration_time)
        else:
            set_temperature(sim, T)
            run(sim, int(round(equilibration_time / DT)))
    return ka, sim


def train_proposal(
    output: str | Path,
    temperature: float,
    input: str | Path | None = None,
    n_particles: int = 200,
    kind: str = "cnf",
    lag: float = 2.0,
    n_pairs: int = 150,
    stride: float = 0.5,
    epochs: int = 100,
    seed: int = 0,
    platform: str = "auto",
    progress: bool = True,
) -> dict[str, Any]:
    """Collect jump pairs from MD at ``temperature`` and train a proposal model into ``output``."""
    from glassmm.sampling.training import collect_jump_pairs, save_proposal_model, train_proposal_model

    T = units.as_reduced_temperature(temperature)
    ka, sim = ka_simulation(T, input, n_particles, seed=seed, platform=platform)
    pairs = collect_jump_pairs(
        sim, ka.types, ka.box, int(round(lag / DT)), n_pairs, int(round(stride / DT)), dt=DT, progress=progress
    )
    model, history = train_proposal_model(pairs, kind, epochs=epochs, seed=seed, progress=progress)
    meta = {
        "temperature": T,
        "lag": pairs["lag"],
        "n_particles": ka.n_particles,
        "n_pairs": n_pairs,
        "md_wall_s": pairs["wall_s"],
        **{k: v for k, v in history.items() if k != "loss"},
        "final_loss": history["loss"][-1],
    }
    save_proposal_model(model, output, meta)
    return {"output": str(output), **meta}


def sample(
    output: str | Path,
    proposal: str | Path,
    temperature: float,
    input: str | Path | None = None,
    n_particles: int = 200,
    cycles: int = 20,
    md_steps: int = 200,
    proposals_per_cycle: int = 4,
    radius: float = 0.7,
    global_fraction: float = 0.0,
    score: str | None = None,
    base_scale: float = 1.0,
    mode: str = "exact",
    energy_window: float = 0.0,
    resume: bool = False,
    seed: int = 0,
    platform: str = "auto",
    progress: bool = True,
) -> dict[str, Any]:
    """Run the generative-proposal sampler; writes records, checkpoint, summary, plot, final.npz."""
    from glassmm.io import Configuration, save_configuration
    from glassmm.sampling.proposals import GlobalMove, LocalMove, PropensityScore
    from glassmm.sampling.sampler import GenerativeSampler
    from glassmm.sampling.training import load_proposal_model
    from glassmm.simulation import get_positions

    T = units.as_reduced_temperature(temperature)
    output = Path(output)
    model = load_proposal_model(proposal)
    model.base_scale = float(base_scale)
    resuming = resume and (output / "checkpoint.npz").exists()
    ka, sim = ka_simulation(T, input, n_particles, seed=seed, platform=platform, equilibrate=not resuming)
    scorer = PropensityScore(score) if score else None
    moves: list[tuple[Any, float]] = []
    if global_fraction < 1.0:
        moves.append((LocalMove(model, ka.types, ka.box, radius=radius, score=scorer), 1.0 - global_fraction))
    if global_fraction > 0.0:
        moves.append((GlobalMove(model, ka.types, ka.box), global_fraction))
    sampler = GenerativeSampler(
        sim, moves, T, md_steps=md_steps, proposals_per_cycle=proposals_per_cycle, output=output,
        seed=seed, mode=mode, energy_window=energy_window, progress=progress,
    )
    t0 = time.perf_counter()
    summary = sampler.run(cycles, resume=resume)
    summary["wall_s"] = time.perf_counter() - t0
    summary["proposal_model"] = {"path": str(proposal), "kind": model.kind, "base_scale": model.base_scale}
    final = Configuration.from_arrays(get_positions(sim.context), ka.types, ka.box, temperature=T)
    save_configuration(output / "final.npz", final)
    from glassmm.io import atomic_write

    with atomic_write(output / "summary.json", "w") as fh:
        json.dump(summary, fh, indent=2, default=_json_default)
    return summary


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(type(x).__name__)
