"""The generative-proposal sampler: OpenMM MD segments plus jumps checked by Metropolis-Hastings.

Each cycle runs ``md_steps`` of the simulation's own (canonical, e.g. Langevin) integrator,
then ``proposals_per_cycle`` jumps. A jump x -> x' is accepted with probability

    min(1, exp(-(U(x') - U(x)) / kT) * q(x | x') / q(x' | x))

with U from the OpenMM context and the full proposal densities (region choice included); no
symmetric-proposal shortcut. A jump moves positions only and pi(x, v) = pi(x) phi(v), so the
chain keeps its velocities either way.

The :class:`JumpCheck` never changes the chain. It inspects an accepted state (finite, no
pair closer than ``min_distance``) and, when ``steps`` > 0, runs that much MD after *every*
attempt, accepted or not, and checks the kinetic temperature; failures are recorded and
counted, a non-finite state stops the run with :class:`~glassmm.simulation.SimulationBlewUp`.
A check that ran MD or reverted only after acceptance would apply a pi-invariant kernel on the
acceptance event alone, which leaves pi*A invariant instead of pi: on an asymmetric double
well (barrier 1 kT, tilt 0.5 kT, mirror jumps, 50 check steps) the upper well held 0.23 of
the chain instead of 0.30.

``mode="explore"`` accepts any jump with (U' - U) / kT below ``energy_window``, ignoring the
proposal densities: it is biased, and every record and summary it writes says so.

Every attempt is appended to ``attempts.jsonl`` (flushed per line); the chain's configuration
goes to ``trajectory.h5`` every ``frame_every`` cycles (a :class:`glassmm.trajectory.TrajectoryWriter`
file: unwrapped positions with their types and box, readable while it grows, every finished
frame kept by a kill); ``checkpoint.npz`` holds the OpenMM context checkpoint (integrator
random state included), the random generators and the counters, written atomically, so
``run(resume=True)`` continues exactly, the trajectory cut back to the checkpoint's cycle.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import openmm
import openmm.unit as u
import torch

from glassmm import geometry, units
from glassmm.io import atomic_write
from glassmm.sampling.moves import Engine, MDMove, SamplerState, ThermodynamicState
from glassmm.sampling.ncmc import RegionNCMCMove
from glassmm.sampling.proposals import Jump

SCHEMA = "glassmm.sampler/1"


@dataclass
class JumpCheck:
    """Diagnostics of the chain's soundness; they never accept, reject or revert anything.

    Parameters
    ----------
    steps : int
        MD steps run after every attempt, accepted or not (0: none). Running them after
        accepted jumps only would bias the chain.
    min_distance : float (reduced length)
        An accepted state with a pair closer than this is recorded as an overlap (0: no check).
    temperature_sigmas : float
        After the check's MD the kinetic temperature should be within this many canonical
        standard deviations (T sqrt(2 / dof)) of the target; a miss is recorded.
    """

    steps: int = 0
    min_distance: float = 0.6
    temperature_sigmas: float = 6.0

    def __post_init__(self) -> None:
        if self.steps < 0 or self.min_distance < 0 or self.temperature_sigmas < 0:
            raise ValueError(f"JumpCheck fields must be non-negative; got {self}")


def _plane_constrained(integrator: Any) -> bool:
    """True for glassmm's 2D integrators: a per-DOF ``mask`` that zeroes every z component."""
    if not isinstance(integrator, openmm.CustomIntegrator):
        return False
    for k in range(integrator.getNumPerDofVariables()):
        if integrator.getPerDofVariableName(k) == "mask":
            mask = np.asarray([tuple(v) for v in integrator.getPerDofVariable(k)])
            return bool(mask.size) and bool(np.all(mask[:, 2] == 0))
    return False


class GenerativeSampler:
    """MD plus checked jumps around an ``openmm.app.Simulation``: a chain of moves in one shape.

    Each cycle applies an :class:`~glassmm.sampling.moves.MDMove` of ``md_steps`` and then
    ``proposals_per_cycle`` jump moves, each chosen by weight independently of the state; every
    move acts as ``move.apply(thermodynamic_state, sampler_state, engine)``
    (:mod:`glassmm.sampling.moves`), so the sampler never reaches into a move and a move sees
    only the engine's public interface.

    Parameters
    ----------
    simulation : openmm.app.Simulation
        Its integrator must sample the canonical ensemble at ``temperature`` (Langevin or
        Nose-Hoover); its context holds the start, and the chain's state after each cycle.
    moves : move or sequence of (move, weight)
        :class:`~glassmm.sampling.proposals.LocalMove` / :class:`GlobalMove` or
        :class:`~glassmm.sampling.ncmc.RegionNCMCMove` objects (anything with ``apply``).
    temperature : float (reduced) or Quantity
    md_steps : int
        MD steps per cycle (0 gives a pure Monte Carlo chain).
    proposals_per_cycle : int
    check : JumpCheck
    output : path, optional
        Directory for ``attempts.jsonl``, ``trajectory.h5``, ``checkpoint.npz``, ``summary.json`` and plots.
    seed : int
        Seeds the moves' random streams (numpy and torch).
    mode : {"exact", "explore"}
        "explore" filters single jumps by energy only and is biased (labelled so everywhere).
    energy_window : float (kT)
        Acceptance threshold on (U' - U) / kT in "explore" mode.
    checkpoint_every : int
        Cycles between checkpoints (a final one is always written).
    frame_every : int
        Cycles between frames of ``trajectory.h5`` (0: none); written only with ``output``.
    """

    def __init__(
        self,
        simulation: Any,
        moves: Any,
        temperature: float | u.Quantity,
        md_steps: int = 200,
        proposals_per_cycle: int = 4,
        check: JumpCheck | None = None,
        output: str | Path | None = None,
        seed: int = 0,
        mode: str = "exact",
        energy_window: float = 0.0,
        checkpoint_every: int = 10,
        progress: bool = True,
        frame_every: int = 1,
    ) -> None:
        if mode not in ("exact", "explore"):
            raise ValueError(f"mode must be 'exact' or 'explore'; got {mode!r}")
        if md_steps < 0 or proposals_per_cycle < 0:
            raise ValueError("md_steps and proposals_per_cycle must be non-negative")
        self.simulation = simulation
        if isinstance(moves, Sequence) and not hasattr(moves, "apply"):
            pairs = [(m, float(w)) for m, w in moves]
        else:
            pairs = [(moves, 1.0)]
        if not pairs or any(w <= 0 for _, w in pairs):
            raise ValueError("moves must be a move or a non-empty sequence of (move, positive weight)")
        n = simulation.context.getSystem().getNumParticles()
        if _plane_constrained(simulation.integrator):
            # the proposal models draw 3D displacements and the velocity refresh is 3D: in a
            # 2D system the jumps would leave the plane, so refuse rather than mislead
            raise ValueError("GenerativeSampler supports 3D systems only: its proposal models draw 3D "
                             "displacements (this simulation's integrator keeps particles in the z = 0 plane)")
        for m, _ in pairs:
            if len(m.types) != n:
                raise ValueError(f"a {m.kind} move was built for {len(m.types)} particles; the simulation has {n}")
        self.moves = [m for m, _ in pairs]
        if mode == "explore" and any(isinstance(m, RegionNCMCMove) for m in self.moves):
            raise ValueError("region NCMC moves are always exact; mode='explore' applies to single-jump moves only")
        w = np.array([w for _, w in pairs])
        self.move_weights = w / w.sum()
        self.temperature = units.as_reduced_temperature(temperature)
        self.thermodynamic_state = ThermodynamicState(self.temperature)
        self.md_steps, self.proposals_per_cycle = int(md_steps), int(proposals_per_cycle)
        self.md = MDMove(self.md_steps)
        self.check = check if check is not None else JumpCheck()
        self.mode, self.energy_window = mode, float(energy_window)
        self.biased = mode == "explore"
        if self.biased:
            warnings.warn("GenerativeSampler mode='explore' filters jumps by energy only: its samples are biased", stacklevel=2)
        self.output = Path(output) if output is not None else None
        self.checkpoint_every = max(1, int(checkpoint_every))
        if frame_every < 0:
            raise ValueError(f"frame_every must be >= 0; got {frame_every}")
        self.frame_every = int(frame_every)
        self.progress = progress
        self.seed = int(seed)
        self.engine = Engine(simulation, self.seed)
        for key in ("md_s", "proposal_s", "energy_s", "check_s", "ncmc_md_s"):
            self.engine.timers.setdefault(key, 0.0)
        self.box = self.engine.box  # NVT: the box is fixed
        self.state = self._read_state()
        self.cycle = 0
        self.records: list[dict[str, Any]] = []
        self.n_accepted = 0

    # ------------------------------------------------------------------ what the chain holds
    @property
    def context(self) -> openmm.Context:
        return self.simulation.context

    @property
    def rng(self) -> np.random.Generator:
        return self.engine.rng

    @property
    def generator(self) -> torch.Generator:
        return self.engine.generator

    @property
    def timers(self) -> dict[str, float]:
        return self.engine.timers

    @property
    def masses(self) -> np.ndarray:
        return self.engine.masses

    @property
    def dof(self) -> int:
        return self.engine.dof

    @property
    def last_jump(self) -> Jump | None:
        """The last single jump proposed (diagnostics)."""
        jumps = [getattr(m, "last_jump", None) for m in self.moves]
        return next((j for j in jumps if j is not None), None)

    def _read_state(self) -> SamplerState:
        state = SamplerState(np.zeros((self.engine.n_particles, 3)))
        self.engine.pull(state)
        return state

    # ------------------------------------------------------------------ one attempt
    def _check_accepted(self, positions: np.ndarray) -> str:
        """Why an accepted state looks unsound ('' when it looks fine); raises when it is non-finite."""
        from glassmm.simulation import SimulationBlewUp

        if not np.isfinite(positions).all():
            raise SimulationBlewUp("an accepted jump produced non-finite positions")
        c = self.check
        if c.min_distance > 0 and _min_distance(positions, self.box) < c.min_distance:
            return "overlap"
        return ""

    def _check_md(self) -> str:
        """The check's MD (after every attempt): what it found of the kinetic temperature ('' when fine)."""
        from glassmm.simulation import SimulationBlewUp

        c = self.check
        MDMove(c.steps).apply(self.thermodynamic_state, self.state, self.engine)
        x, v = self.state.positions, self.state.velocities
        if not np.isfinite(x).all() or not np.isfinite(v).all():
            raise SimulationBlewUp(f"the chain's state became non-finite during the {c.steps} check MD steps")
        t_kin = geometry.kinetic_temperature(v, self.masses, dof=self.dof)
        if abs(t_kin - self.temperature) > c.temperature_sigmas * self.temperature * math.sqrt(2.0 / self.dof):
            return f"kinetic temperature {t_kin:.4g} far from {self.temperature:.4g}"
        return ""

    def apply_move(self, move: Any) -> list[dict[str, Any]]:
        """Apply one jump move to the chain's state; returns its records (stored in ``records``)."""
        kw = {"energy_window": self.energy_window} if self.biased else {}
        recs = move.apply(self.thermodynamic_state, self.state, self.engine, **kw)
        if any(r["accepted"] for r in recs):
            verdict = self._check_accepted(self.state.positions) or "ok"
            for r in recs:
                if r["accepted"] and r.get("check") is None:
                    r["check"] = verdict
        if self.check.steps > 0:  # after every attempt: an MD kernel applied whatever the outcome
            tc = time.perf_counter()
            reason = self._check_md()
            for r in recs:
                r["check_md"] = reason or "ok"
            self.engine.clock("check_s", time.perf_counter() - tc)
        for r in recs:
            r.setdefault("check", None)
            r["attempt"] = len(self.records)
            r["cycle"] = self.cycle
            r.setdefault("biased", self.biased)
            self.records.append(r)
            self.n_accepted += bool(r["accepted"])
        return recs

    def step_moves(self) -> list[dict[str, Any]]:
        """One attempt of a move chosen by weight (a single jump, or a region move: one record per region)."""
        return self.apply_move(self.moves[int(self.rng.choice(len(self.moves), p=self.move_weights))])

    # ------------------------------------------------------------------ the run
    def run(self, n_cycles: int, resume: bool = False, callback: Callable[["GenerativeSampler"], Any] | None = None) -> dict[str, Any]:
        """Run until ``n_cycles`` cycles are done in total (resuming from the checkpoint if asked).

        ``callback(sampler)`` is called after every cycle, with the simulation's context
        holding the chain's state; a true return value stops the run early (after a
        checkpoint), e.g. at the end of a wall-clock budget.

        Returns the summary (also written to ``summary.json`` with a plot when ``output`` is set).
        """
        if resume:
            self.load_checkpoint()
        log = traj = None
        if self.output is not None:
            self.output.mkdir(parents=True, exist_ok=True)
            self._truncate_log()
            log = open(self.output / "attempts.jsonl", "a")
            if self.frame_every:
                traj = self._open_trajectory(resume)
        from tqdm.auto import tqdm

        bar = tqdm(total=n_cycles, initial=self.cycle, desc="sampler cycles", disable=not self.progress, unit="cycle")
        try:
            while self.cycle < n_cycles:
                self.md.apply(self.thermodynamic_state, self.state, self.engine)
                for _ in range(self.proposals_per_cycle):
                    recs = self.step_moves()
                    if log is not None:
                        for rec in recs:
                            log.write(json.dumps(rec) + "\n")
                        log.flush()
                self.engine.push(self.state)  # the context holds the chain (callbacks, checkpoints read it)
                self.cycle += 1
                if traj is not None and self.cycle % self.frame_every == 0:
                    self._write_frame(traj, self.state.positions)
                bar.update(1)
                bar.set_postfix(acc=f"{self.acceptance_rate():.3f}")
                stop = bool(callback(self)) if callback is not None else False
                if self.output is not None and (self.cycle % self.checkpoint_every == 0 or self.cycle == n_cycles or stop):
                    self.save_checkpoint()
                if stop:
                    break
        finally:
            bar.close()
            if log is not None:
                log.close()
            if traj is not None:
                traj.close()
        summary = self.summary()
        if self.output is not None:
            with atomic_write(self.output / "summary.json", "w") as fh:
                json.dump(summary, fh, indent=2)
            try:
                self.plot(self.output / "summary.png")
            except ImportError:  # plotting is a convenience
                pass
        return summary

    def _open_trajectory(self, resume: bool) -> Any:
        """``trajectory.h5`` cut back to the checkpoint's cycle when resuming, else started afresh."""
        from glassmm.trajectory import TrajectoryWriter

        path = self.output / "trajectory.h5"
        if not resume and path.exists():
            path.unlink()  # a fresh run replaces the old chain, as attempts.jsonl is replaced
        box = self.box if self.box is not None else np.zeros(3)
        meta = {"sampler": SCHEMA, "temperature": self.temperature, "md_steps_per_cycle": self.md_steps,
                "proposals_per_cycle": self.proposals_per_cycle, "mode": self.mode, "frame_every_cycles": self.frame_every,
                "step": "sampler cycle", "time": "MD time of the cycles' segments (tau); jumps take none"}
        return TrajectoryWriter(path, self.moves[0].types, box, append=resume, restart_step=self.cycle + 1,
                                series={"attempts": "1", "accepted": "1"}, metadata=meta)

    def _write_frame(self, traj: Any, positions: np.ndarray) -> None:
        dt = units.as_reduced_time(self.simulation.integrator.getStepSize())
        traj.append(positions, time=self.cycle * self.md_steps * dt, step=self.cycle,
                    attempts=float(len(self.records)), accepted=float(self.n_accepted))

    # ------------------------------------------------------------------ results
    def acceptance_rate(self, kind: str | None = None) -> float:
        recs = [r for r in self.records if kind is None or r["kind"] == kind]
        return float(np.mean([r["accepted"] for r in recs])) if recs else 0.0

    def summary(self) -> dict[str, Any]:
        kinds = sorted({r["kind"] for r in self.records})
        failures: dict[str, int] = {}
        for r in self.records:
            for key in ("check", "check_md"):
                if r.get(key) not in (None, "ok"):
                    failures[r[key]] = failures.get(r[key], 0) + 1
        return {
            "schema": SCHEMA,
            "mode": self.mode,
            "biased": self.biased,
            "temperature": self.temperature,
            "cycles": self.cycle,
            "md_steps_per_cycle": self.md_steps,
            "attempts": len(self.records),
            "accepted": int(sum(r["accepted"] for r in self.records)),
            "acceptance_rate": self.acceptance_rate(),
            "acceptance_rate_by_kind": {k: self.acceptance_rate(k) for k in kinds},
            "check_failures": failures,
            "mean_moved": float(np.mean([r["n_moved"] for r in self.records])) if self.records else 0.0,
            "timers_s": dict(self.timers),
        }

    def plot(self, path: str | Path | None = None):
        """Energy trace, running acceptance and the log-acceptance histogram."""
        from glassmm.analysis._plot import finish, pyplot

        fig, axes = pyplot().subplots(1, 3, figsize=(12, 3.5))
        recs = self.records
        if recs:
            a = np.array([r["attempt"] for r in recs])
            du = np.clip(np.array([r["delta_energy_kT"] for r in recs], float), -50, 50)
            acc = np.array([r["accepted"] for r in recs], dtype=float)
            axes[0].plot(a, du, ".", ms=2, alpha=0.3, label="proposed")
            axes[0].plot(a[acc > 0], du[acc > 0], "o", ms=3, label="accepted")
            axes[0].set(xlabel="attempt", ylabel=r"$\Delta U / kT$ of the jump (clipped to $\pm$50)")
            axes[0].legend()
            axes[1].plot(a, np.cumsum(acc) / (np.arange(len(acc)) + 1))
            axes[1].set(xlabel="attempt", ylabel="acceptance rate")
            la = np.array([r["log_alpha"] for r in recs], float)
            la = la[np.isfinite(la)]
            if len(la):
                axes[2].hist(np.clip(la, -50, 5), bins=40)
            axes[2].set(xlabel="log alpha (clipped to [-50, 5])", ylabel="attempts")
        fig.suptitle(f"glassmm sampler ({self.mode}{', BIASED' if self.biased else ''})")
        fig.tight_layout()
        return finish(fig, path)

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> Path:
        """``checkpoint.npz``: the context (integrator random state included), the random streams,
        the counters and the moves' own contexts, in one atomic file (:func:`glassmm.io.save_checkpoint`)."""
        from glassmm.io import save_checkpoint

        assert self.output is not None
        state = {"schema": SCHEMA, "cycle": self.cycle, "n_records": len(self.records), "rng": self.rng.bit_generator.state,
                 "timers": self.timers, "seed": self.seed}
        extra = {}
        for i, m in enumerate(self.moves):  # NCMC moves own a second context with its own random state
            blob = m.checkpoint_state() if hasattr(m, "checkpoint_state") else None
            if blob is not None:
                extra[f"move{i}_context"] = blob
        self.engine.push(self.state)
        return save_checkpoint(self.output / "checkpoint.npz", self.context.createCheckpoint(), state,
                               torch_generator=self.generator.get_state().numpy(), **extra)

    def load_checkpoint(self) -> bool:
        """Restore from ``output/checkpoint.npz`` if present; returns whether it was."""
        from glassmm.io import load_checkpoint

        if self.output is None or not (self.output / "checkpoint.npz").exists():
            return False
        path = self.output / "checkpoint.npz"
        try:
            ctx, state, arrays = load_checkpoint(path, arrays=True)
            gen = torch.from_numpy(arrays["torch_generator"].copy())
        except (ValueError, KeyError) as exc:
            raise ValueError(f"corrupt sampler checkpoint {path}: {exc}") from exc
        move_blobs = {i: arrays[f"move{i}_context"].tobytes() for i in range(len(self.moves)) if f"move{i}_context" in arrays}
        if state.get("schema") != SCHEMA:
            raise ValueError(f"{path} has schema {state.get('schema')!r}; expected {SCHEMA!r}")
        self.context.loadCheckpoint(ctx)
        self.state = self._read_state()
        for i, blob in move_blobs.items():
            self.moves[i].restore_checkpoint(blob)
        self.rng.bit_generator.state = state["rng"]
        self.generator.set_state(gen)
        self.cycle = int(state["cycle"])
        self.engine.timers.clear()
        self.engine.timers.update(state["timers"])
        self.records = _read_records(self.output / "attempts.jsonl")[: int(state["n_records"])]
        if len(self.records) != int(state["n_records"]):
            raise ValueError(f"{self.output / 'attempts.jsonl'} holds fewer attempts than the checkpoint says")
        self.n_accepted = sum(bool(r["accepted"]) for r in self.records)
        return True

    def _truncate_log(self) -> None:
        """Make attempts.jsonl hold exactly the records in memory (drop attempts after a crash)."""
        assert self.output is not None
        with atomic_write(self.output / "attempts.jsonl", "w") as fh:
            for r in self.records:
                fh.write(json.dumps(r) + "\n")


def _read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by a crash ends the log
    return out


def _min_distance(x: np.ndarray, box: np.ndarray | None) -> float:
    from glassmm.sampling.features import neighbour_pairs

    (d,) = neighbour_pairs(x, box, 1.0, "d", full_list=False)
    return float(d.min()) if len(d) else math.inf
