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


def train_region_flow(
    sim: Any,
    ka: Any,
    k: int = 8,
    lag_steps: int = 20,
    n_pairs: int = 150,
    epochs: int = 50,
    seed: int = 0,
    progress: bool = True,
) -> tuple[Any, dict[str, Any]]:
    """A region flow (k members) trained on this MD's region displacements at a lag of ``lag_steps``.

    Regions are drawn as :class:`~glassmm.sampling.ncmc.RegionNCMCMove` draws them (the default
    selector and lattice), ten tables per pair set. Returns the model and its fit history.
    """
    import torch

    from glassmm.sampling.region_flow import RegionFlowModel
    from glassmm.sampling.training import collect_jump_pairs, region_training_table

    sel, centres = region_geometry(ka, k)
    pairs = collect_jump_pairs(sim, ka.types, ka.box, lag_steps=lag_steps, n_pairs=n_pairs,
                               stride_steps=max(1, lag_steps // 4), dt=DT, progress=progress)
    rng = np.random.default_rng(seed)
    tabs = [region_training_table(pairs, sel, centres, rng) for _ in range(10)]
    torch.manual_seed(seed)
    model = RegionFlowModel(k, bound=min(2.0, 0.45 * float(ka.box.min())), hidden=64, transforms=3)
    fit = model.fit(torch.cat([a for a, _ in tabs]), torch.cat([b for _, b in tabs]), epochs=epochs)
    return model, {"validation_nll_per_region": float(min(fit["validation"])), "lag_steps": lag_steps,
                   "n_pairs": n_pairs, "md_wall_s": pairs["wall_s"]}


def region_geometry(ka: Any, k: int) -> tuple[Any, Any]:
    """The default region selector (k members) and centre lattice for a KA system."""
    from glassmm.sampling.regions import LatticeCentres, RegionSelector

    sel = RegionSelector(k, box=ka.box)
    return sel, LatticeCentres(ka.box, 2 * sel.zone_radius + ka.table.max_cutoff + 0.5)


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
    k: int = 8,
) -> dict[str, Any]:
    """Collect jump pairs from MD at ``temperature`` and train a proposal model into ``output``.

    ``kind``: "cnf" or "diffusion" (per-particle jumps for local and global moves), or "region"
    (a k-member region flow for region moves; ``lag`` is then its MD lag).
    """
    from glassmm.sampling.training import collect_jump_pairs, save_proposal_model, train_proposal_model

    T = units.as_reduced_temperature(temperature)
    ka, sim = ka_simulation(T, input, n_particles, seed=seed, platform=platform)
    if kind == "region":
        model, history = train_region_flow(sim, ka, k, int(round(lag / DT)), n_pairs, epochs, seed, progress)
        model.save(output)
        return {"output": str(output), "kind": "region", "k": k, "temperature": T, "n_particles": ka.n_particles, **history}
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


#: the moves ``glassmm sample`` offers
SAMPLE_MOVES = ("harmonic", "region", "local")


def sample(
    output: str | Path,
    proposal: str | Path | None,
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
    move: str | None = None,
    k: int = 8,
    rho: float = 0.8,
    ncmc_steps: int = 0,
    frame_every: int = 1,
) -> dict[str, Any]:
    """Run the sampler; writes records, trajectory, checkpoint, summary, plot, final.npz.

    ``move``: None (harmonic without a ``proposal``, else the kind the file holds), "harmonic"
    (k-member region jumps from the members' harmonic model, plain MH, no proposal file), "region" (k-member jumps from a region flow, ``proposal`` from
    ``train-proposal --kind region``, checked by NCMC with ``ncmc_steps`` per half, 0 = plain
    MH) or "local" (CNF/diffusion single-region jumps, ``proposal`` from ``train-proposal``;
    ``global_fraction`` of them move every particle).
    """
    from glassmm.io import Configuration, save_configuration
    from glassmm.sampling.sampler import GenerativeSampler
    from glassmm.simulation import get_positions

    if move is None:
        move = "harmonic" if proposal is None else ("region" if _is_region_flow(proposal) else "local")
    if move not in SAMPLE_MOVES:
        raise ValueError(f"unknown move {move!r}; choose one of {', '.join(SAMPLE_MOVES)}")
    if move == "harmonic" and proposal is not None:
        raise ValueError("harmonic moves need no proposal model (drop --proposal, or choose --move region / local)")
    if move != "harmonic" and proposal is None:
        raise ValueError(f"move {move!r} needs a proposal model (--proposal; train one with `glassmm train-proposal"
                         f"{' --kind region' if move == 'region' else ''}`)")
    T = units.as_reduced_temperature(temperature)
    output = Path(output)
    resuming = resume and (output / "checkpoint.npz").exists()
    model, moves = _sample_moves(move, proposal, T, None, k, rho, ncmc_steps, radius, global_fraction, score, base_scale)
    ka, sim = ka_simulation(T, input, n_particles, seed=seed, platform=platform, equilibrate=not resuming)
    moves = _sample_moves(move, proposal, T, ka, k, rho, ncmc_steps, radius, global_fraction, score, base_scale, model)[1]
    sampler = GenerativeSampler(
        sim, moves, T, md_steps=md_steps, proposals_per_cycle=proposals_per_cycle, output=output,
        seed=seed, mode=mode, energy_window=energy_window, progress=progress, frame_every=frame_every,
    )
    t0 = time.perf_counter()
    summary = sampler.run(cycles, resume=resume)
    summary["wall_s"] = time.perf_counter() - t0
    summary["move"] = move
    summary["proposal_model"] = ({"kind": "harmonic", "k": k, "rho": rho} if move == "harmonic" else
                                 {"path": str(proposal), "kind": getattr(model, "kind", "region-flow"),
                                  "base_scale": getattr(model, "base_scale", None)})
    final = Configuration.from_arrays(get_positions(sim.context), ka.types, ka.box, temperature=T)
    save_configuration(output / "final.npz", final)
    from glassmm.io import atomic_write

    with atomic_write(output / "summary.json", "w") as fh:
        json.dump(summary, fh, indent=2, default=_json_default)
    return summary


def _is_region_flow(path: str | Path) -> bool:
    """Whether ``path`` holds a region flow (else it is left to the CNF/diffusion loader to judge)."""
    import torch

    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return False
    return isinstance(blob, dict) and blob.get("kind") == "glassmm.region_flow/1"


def _sample_moves(move: str, proposal: Any, T: float, ka: Any, k: int, rho: float, ncmc_steps: int, radius: float,
                  global_fraction: float, score: str | None, base_scale: float, model: Any = None) -> tuple[Any, list]:
    """The proposal model (loaded first, so a bad file fails before any MD) and, given the system, the moves."""
    if model is None:
        if move == "harmonic":
            from glassmm.sampling.harmonic import HarmonicRegionProposal

            model = HarmonicRegionProposal(k, T, rho=rho)
        elif move == "region":
            from glassmm.sampling.region_flow import RegionFlowModel

            model = RegionFlowModel.load(proposal)
        else:
            from glassmm.sampling.training import load_proposal_model

            model = load_proposal_model(proposal)
            model.base_scale = float(base_scale)
    if ka is None:
        return model, []
    if move in ("harmonic", "region"):
        from glassmm.sampling.ncmc import NCMCProtocol, RegionNCMCMove

        sel, centres = region_geometry(ka, model.k)
        steps = 0 if move == "harmonic" else ncmc_steps  # the harmonic model is of the full potential
        return model, [(RegionNCMCMove(model, ka.types, ka.box, selector=sel, centres=centres,
                                       protocol=NCMCProtocol(steps=steps), table=ka.table), 1.0)]
    from glassmm.sampling.proposals import GlobalMove, LocalMove, PropensityScore

    scorer = PropensityScore(score) if score else None
    moves: list[tuple[Any, float]] = []
    if global_fraction < 1.0:
        moves.append((LocalMove(model, ka.types, ka.box, radius=radius, score=scorer), 1.0 - global_fraction))
    if global_fraction > 0.0:
        moves.append((GlobalMove(model, ka.types, ka.box), global_fraction))
    return model, moves


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(type(x).__name__)


def temper(
    output: str | Path,
    t_min: float | None = None,
    t_max: float | None = None,
    replicas: int = 8,
    temperatures: list[float] | None = None,
    rounds: int = 1000,
    md_steps: int = 200,
    input: str | Path | None = None,
    n_particles: int = 256,
    dimensions: int = 3,
    tune_rounds: int = 0,
    executor: Any = "serial",
    platform: str = "CPU",
    threads: int | None = 1,
    seed: int = 0,
    frame_every: int = 10,
    checkpoint_every: int = 50,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Parallel tempering of a KA liquid (3D or 2D) over a temperature ladder; see :mod:`glassmm.sampling.tempering`.

    The ladder is ``temperatures`` or ``replicas`` rungs geometric from ``t_min`` to ``t_max``;
    ``tune_rounds`` > 0 first runs that many rounds without output and respaces the rungs for
    equal neighbour acceptance (:func:`~glassmm.sampling.tempering.tune_ladder`). Every replica
    starts from the same configuration: the input, or a fresh melt at T = 2. The ladder is kept
    in ``ladder.json``, so ``resume`` continues the same run. Returns the summary.
    """
    from glassmm.io import atomic_write, load_configuration
    from glassmm.sampling.tempering import geometric_ladder, ka_tempering, tune_ladder
    from glassmm.simulation import create_simulation, get_positions
    from glassmm.systems import KobAndersen

    output = Path(output)
    ladder_file = output / "ladder.json"
    resuming = resume and ladder_file.exists() and (output / "checkpoint.npz").exists()
    if input is not None:
        ka = KobAndersen.from_configuration(load_configuration(input))
    else:
        ka = KobAndersen(n_particles, positions="random", seed=seed, dimensions=dimensions)
    if resuming:
        ladder = np.asarray(json.loads(ladder_file.read_text())["temperatures"])
    else:
        ladder = np.asarray(temperatures, dtype=np.float64) if temperatures else None
        if ladder is None:
            if t_min is None or t_max is None:
                raise ValueError("give the ladder: temperatures, or t_min and t_max (and replicas)")
            ladder = geometric_ladder(t_min, t_max, replicas)
        if input is None:  # a liquid to start from: melt the random start at T = 2
            sim = create_simulation(ka, "langevin", temperature=2.0, seed=seed, platform=platform, threads=threads)
            sim.step(4000)
            ka.positions_reduced = get_positions(sim.context)
        if tune_rounds > 0:
            probe = ka_tempering(ka, ladder, md_steps=md_steps, executor=executor, platform=platform, threads=threads,
                                 seed=seed + 17, frame_every=0, progress=progress)
            try:
                probe.run(tune_rounds)
                tuned = tune_ladder(ladder, np.nan_to_num(probe.acceptance(), nan=0.0))
            finally:
                probe.close()
            ladder = tuned
        output.mkdir(parents=True, exist_ok=True)
        with atomic_write(ladder_file, "w") as fh:
            json.dump({"temperatures": ladder.tolist(), "tuned_for_rounds": tune_rounds, "units": "epsilon_AA/k_B"}, fh)
    pt = ka_tempering(ka, ladder, md_steps=md_steps, output=output, executor=executor, platform=platform, threads=threads,
                      seed=seed, frame_every=frame_every, checkpoint_every=checkpoint_every, progress=progress)
    try:
        t0 = time.perf_counter()
        summary = pt.run(rounds, resume=resuming)
        summary["wall_s"] = time.perf_counter() - t0
    finally:
        pt.close()
    summary["n_particles"], summary["dimensions"] = ka.n_particles, ka.dimensions
    return summary
