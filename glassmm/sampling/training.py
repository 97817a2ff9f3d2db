"""Jump pairs (x_t, x_{t+lag}) from glassmm's own MD, proposal-model training, save and load."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from glassmm import units
from glassmm.io import atomic_write
from glassmm.sampling.diffusion import DiffusionProposalModel
from glassmm.sampling.features import local_features, n_features
from glassmm.sampling.flows import FlowProposalModel, ODEProposalModel

SCHEMA = "glassmm.proposal/1"
KINDS = {"cnf": FlowProposalModel, "diffusion": DiffusionProposalModel}


def collect_jump_pairs(
    simulation: Any,
    types: np.ndarray,
    box: np.ndarray | None,
    lag_steps: int,
    n_pairs: int,
    stride_steps: int | None = None,
    dt: float = 0.005,
    progress: bool = True,
) -> dict[str, Any]:
    """Run MD and cut it into overlapping pairs (x_t, x_{t + lag}).

    Parameters
    ----------
    simulation : openmm.app.Simulation
        Equilibrated at the temperature of interest; positions must not be wrapped.
    lag_steps : int
        The jump lag in MD steps.
    n_pairs : int
    stride_steps : int, optional
        Steps between pair origins (default lag / 4, so pairs overlap).
    dt : float (reduced time)
        Only recorded in the result (``lag`` in tau).

    Returns
    -------
    dict with ``positions`` (P, N, 3) origins, ``displacements`` (P, N, 3), ``types``,
    ``box``, ``lag`` (reduced time) and ``wall_s``.
    """
    from tqdm.auto import tqdm

    from glassmm.simulation import get_positions

    stride = int(stride_steps or max(1, lag_steps // 4))
    if lag_steps % stride:
        raise ValueError(f"lag_steps ({lag_steps}) must be a multiple of stride_steps ({stride})")
    k = lag_steps // stride
    n_frames = n_pairs + k
    frames = []
    t0 = time.perf_counter()
    for _ in tqdm(range(n_frames), desc="jump pairs (MD)", disable=not progress, unit="frame"):
        frames.append(get_positions(simulation.context))
        simulation.step(stride)
    x = np.stack(frames)
    return {
        "positions": x[:n_pairs],
        "displacements": x[k : k + n_pairs] - x[:n_pairs],
        "types": np.asarray(types),
        "box": None if box is None else np.asarray(box, dtype=np.float64),
        "lag": lag_steps * dt,
        "wall_s": time.perf_counter() - t0,
    }


def _particle_table(pairs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    feats = torch.cat([local_features(x, pairs["types"], pairs["box"]) for x in pairs["positions"]])
    d = torch.as_tensor(np.asarray(pairs["displacements"], dtype=np.float64).reshape(-1, 3))
    t = torch.as_tensor(np.tile(np.asarray(pairs["types"], dtype=np.int64), len(pairs["positions"])))
    return feats, d, t


def train_proposal_model(
    pairs: dict[str, Any],
    kind: str = "cnf",
    epochs: int = 30,
    batch_size: int = 512,
    lr: float = 2e-3,
    hidden: int = 64,
    layers: int = 3,
    bound: float | None = None,
    validation_fraction: float = 0.2,
    seed: int = 0,
    progress: bool = True,
) -> tuple[ODEProposalModel, dict[str, Any]]:
    """Train a CNF (flow matching) or diffusion (denoising) proposal model on jump pairs.

    The last ``validation_fraction`` of the pairs (later in time) is held out; the history
    reports the training loss per epoch and, at the end, the held-out mean log-density per
    particle next to that of an isotropic Gaussian with the data's per-species variance.

    Returns
    -------
    model, history
    """
    from tqdm.auto import tqdm

    if kind not in KINDS:
        raise ValueError(f"unknown proposal model kind {kind!r}; choose from {sorted(KINDS)}")
    box = pairs["box"]
    if bound is None:
        bound = 1.5 if box is None else min(1.5, 0.45 * float(np.min(box)))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    n_pairs = len(pairs["positions"])
    n_val = int(round(validation_fraction * n_pairs)) if n_pairs > 1 else 0
    train = {**pairs, "positions": pairs["positions"][: n_pairs - n_val], "displacements": pairs["displacements"][: n_pairs - n_val]}
    feats, d, types = _particle_table(train)
    model = KINDS[kind](n_features(), bound=bound, hidden=hidden, layers=layers)
    model.feature_mean.copy_(feats.mean(0))
    model.feature_std.copy_(feats.std(0).clamp_min(1e-3))
    a = bound
    u_all = a * torch.atanh(d.clamp(-a * (1 - 1e-6), a * (1 - 1e-6)) / a)
    for s in range(model.scale.numel()):
        sel = types == s
        if bool(sel.any()):
            model.scale[s] = u_all[sel].pow(2).mean().sqrt().clamp_min(1e-3)
    y = model.latent_targets(d, types)
    h = model.normalise(feats)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = max(1, math.ceil(len(y) / batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    history: dict[str, Any] = {"kind": kind, "loss": [], "n_train_particles": len(y)}
    t0 = time.perf_counter()
    bar = tqdm(range(epochs), desc=f"train {kind}", disable=not progress, unit="epoch")
    for _ in bar:
        perm = torch.randperm(len(y), generator=gen)
        total = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * batch_size : (b + 1) * batch_size]
            loss = model.loss(y[idx], h[idx], gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        history["loss"].append(total / len(y))
        bar.set_postfix(loss=f"{history['loss'][-1]:.4f}")
    history["train_s"] = time.perf_counter() - t0
    model.eval()
    if n_val:
        val = {**pairs, "positions": pairs["positions"][n_pairs - n_val :], "displacements": pairs["displacements"][n_pairs - n_val :]}
        history.update(evaluate_log_density(model, val, max_particles=2000, seed=seed))
    return model, history


def evaluate_log_density(model: ODEProposalModel, pairs: dict[str, Any], max_particles: int = 2000, seed: int = 0) -> dict[str, float]:
    """Mean log q per particle on held-out pairs, next to a per-species isotropic Gaussian."""
    feats, d, t = _particle_table(pairs)
    keep = (d.abs() < model.bound).all(-1)
    idx = torch.nonzero(keep).squeeze(-1)
    if len(idx) > max_particles:
        idx = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))[:max_particles]]
    lq = model.log_prob(d[idx], feats[idx], t[idx])
    var = torch.stack([d[t == s].pow(2).mean() if bool((t == s).any()) else torch.tensor(1.0, dtype=d.dtype) for s in range(model.scale.numel())])
    vg = var[t[idx]]
    lg = -0.5 * d[idx].pow(2).sum(-1) / vg - 1.5 * torch.log(2 * math.pi * vg)
    return {
        "val_log_q_per_particle": float(lq.mean()),
        "val_log_gaussian_per_particle": float(lg.mean()),
        "val_particles": int(len(idx)),
        "val_outside_support_fraction": float(1.0 - keep.double().mean()),
    }


def save_proposal_model(model: ODEProposalModel, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write a proposal model (kind, config, weights, metadata) atomically."""
    payload = {
        "schema": SCHEMA,
        "kind": model.kind,
        "config": dict(model.config),
        "state_dict": model.state_dict(),
        "metadata": dict(metadata or {}),
    }
    path = Path(path)
    with atomic_write(path) as fh:
        torch.save(payload, fh)
    return path


def load_proposal_model(path: str | Path) -> ODEProposalModel:
    """Load a model written by :func:`save_proposal_model` (``metadata`` attribute attached)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"proposal model {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable glassmm proposal model: {type(exc).__name__}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not a glassmm proposal model (schema {SCHEMA!r} expected)")
    kind = payload["kind"]
    if kind not in KINDS:
        raise ValueError(f"{path}: unknown proposal model kind {kind!r}")
    model = KINDS[kind](**payload["config"])
    model.load_state_dict(payload["state_dict"])
    model.eval()
    model.metadata = payload["metadata"]
    return model


def region_training_table(
    pairs: dict[str, Any],
    selector: Any,
    centres: Any,
    rng: np.random.Generator,
    regions_per_frame: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(condition, displacement) pairs of regions for :class:`~glassmm.sampling.region_flow.RegionFlowModel`.

    Regions are drawn at each origin x_t as the sampler draws them (``selector`` and
    ``centres``, e.g. propensity-chosen centres); a member's target is its MD displacement
    over the lag minus the mean displacement of the region's shell: the sampler jumps members
    inside surroundings that stay where they are, so the surroundings' own drift is not
    something it should learn.

    Returns
    -------
    contexts : Tensor float64 (R, n_context)
        Raw (unstandardised) conditions.
    displacements : Tensor float64 (R, k, 3)
    """
    from glassmm.sampling.region_flow import region_context

    types, box = pairs["types"], pairs["box"]
    contexts, targets = [], []
    for x, d in zip(pairs["positions"], pairs["displacements"]):
        feats = local_features(x, types, box)
        sites = centres.draw(x, rng)
        if regions_per_frame is not None:
            sites = sites[:regions_per_frame]
        for c, lc in sites:
            r = selector.draw(x, c, lc, rng)
            shell = r.shell if len(r.shell) else np.setdiff1d(np.arange(len(x)), r.members)
            rel = d[r.members] - d[shell].mean(0)
            contexts.append(region_context(x, types, box, c, r.members, feats))
            targets.append(torch.as_tensor(rel, dtype=torch.float64))
    if not contexts:
        raise ValueError("no regions drawn: empty pairs")
    return torch.stack(contexts), torch.stack(targets)


def frozen_surroundings_chain(
    simulation: Any,
    types: np.ndarray,
    box: np.ndarray | None,
    selector: Any,
    centres: Any,
    temperature: float,
    n_blocks: int,
    block_steps: int,
    seed: int = 0,
    dt: float = 0.005,
    friction: float = 1.0,
    frame_every: int | None = None,
    stop: Any = None,
    max_wall_s: float | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Region moves with the surroundings frozen: training pairs for an MH region proposal, and the best such moves can do.

    A chain of blocks from the simulation's current state. Each block draws regions as the
    sampler does (``centres``, then ``selector``), gives only their members fresh Maxwell-
    Boltzmann velocities and runs ``block_steps`` of masked Langevin MD (everything else
    frozen), then records, per region, its condition at the block's start and the members'
    displacement. The kernel is (up to its dt error) reversible with respect to the members'
    conditional Boltzmann distribution given everything else, so a proposal fitted to its
    pairs has Metropolis-Hastings acceptance near 1 -- unlike MD displacements at a lag, which
    the surroundings' own motion made possible. The chain itself is the ideal version of the
    sampler's MH region moves (every move accepted, drawn from the frozen-surroundings kernel):
    how many blocks it needs to relax the liquid bounds what such moves can achieve.

    Parameters
    ----------
    simulation : openmm.app.Simulation
        Its context gives the start, the system and the platform; it is not advanced.
    temperature : float (reduced)
    n_blocks, block_steps : int
        Blocks in the chain; masked MD steps per block.
    dt : float (reduced time, tau)
    friction : float (reduced, 1/tau)
    frame_every : int, optional
        Keep the whole configuration every this many blocks (and at the start).
    stop : callable, optional
        ``stop(frames)`` after each kept frame; True ends the chain early.
    max_wall_s : float (s), optional
        End the chain after this much wall time.

    Returns
    -------
    dict with ``contexts`` (R, n_context) raw conditions and ``displacements`` (R, k, 3),
    ``frames`` (F, N, 3), ``frame_blocks`` (F,) block counts of the frames, ``blocks``
    (blocks run), ``block_wall_s`` (mean wall time per block) and ``wall_s``.
    """
    import openmm
    from tqdm.auto import tqdm

    from glassmm.sampling.ncmc import NCMCProtocol, ncmc_integrator
    from glassmm.sampling.region_flow import region_context
    from glassmm.simulation import get_positions, set_velocities

    if n_blocks < 1 or block_steps < 1:
        raise ValueError(f"n_blocks ({n_blocks}) and block_steps ({block_steps}) must be >= 1")
    sim_context = simulation.context
    system = sim_context.getSystem()
    integ = ncmc_integrator(temperature, NCMCProtocol(steps=0, dt=dt, friction=friction), seed)
    platform = sim_context.getPlatform()
    props = {"Threads": platform.getPropertyValue(sim_context, "Threads")} if platform.getName() == "CPU" else {}
    ctx = openmm.Context(system, integ, platform, props)
    ctx.setPeriodicBoxVectors(*sim_context.getState().getPeriodicBoxVectors())
    x = get_positions(sim_context)
    ctx.setPositions(units.length_to_openmm(x))
    n = len(x)
    masses = np.array([units.mass_from_openmm(system.getParticleMass(i)) for i in range(n)])
    rng = np.random.default_rng(seed)
    types = np.asarray(types)
    contexts, targets, frames, frame_blocks = [], [], [x.copy()], [0]
    t0 = time.perf_counter()
    blocks = 0
    for b in tqdm(range(n_blocks), desc="frozen-surroundings blocks", disable=not progress, unit="block"):
        regions = [selector.draw(x, c, lc, rng) for c, lc in centres.draw(x, rng)]
        free = np.zeros(n, dtype=bool)
        for r in regions:
            free[r.members] = True
        integ.setPerDofVariableByName("mask", [openmm.Vec3(1.0, 1.0, 1.0) if f else openmm.Vec3(0.0, 0.0, 0.0) for f in free])
        set_velocities(ctx, rng.normal(size=x.shape) * np.sqrt(temperature / masses)[:, None] * free[:, None])
        integ.step(block_steps)
        y = get_positions(ctx)
        for r in regions:
            contexts.append(region_context(x, types, box, r.centre, r.members))
            targets.append(torch.as_tensor(y[r.members] - x[r.members], dtype=torch.float64))
        x = y
        blocks = b + 1
        if frame_every and blocks % frame_every == 0:
            frames.append(x.copy())
            frame_blocks.append(blocks)
            if stop is not None and stop(np.stack(frames)):
                break
        if max_wall_s is not None and time.perf_counter() - t0 > max_wall_s:
            break
    wall = time.perf_counter() - t0
    return {
        "contexts": torch.stack(contexts),
        "displacements": torch.stack(targets),
        "frames": np.stack(frames),
        "frame_blocks": np.array(frame_blocks),
        "blocks": blocks,
        "block_wall_s": wall / max(blocks, 1),
        "wall_s": wall,
    }
