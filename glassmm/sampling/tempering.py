"""Parallel tempering (temperature replica exchange) for any glassmm system.

R replicas of one system sit on a temperature ladder T_0 < ... < T_{R-1}. A *round* runs
``md_steps`` of Langevin MD on every replica at its current temperature, then attempts
exchanges between neighbouring temperatures, the even pairs (0-1, 2-3, ...) in even rounds
and the odd pairs in odd rounds. Replicas i at T_k and j at T_{k+1} swap temperatures with

    min(1, exp[(1/T_k - 1/T_{k+1}) (U_i - U_j)])

(reduced units, k_B = 1), and the velocities of a replica moving from T to T' are scaled by
sqrt(T'/T), so each stays Maxwell-Boltzmann at its new temperature and the rule needs
potential energies only.

An exchange may also propose new configurations (a learned temperature map). Such an exchange
declares ``proposes_positions = True``; its ``apply`` then also receives ``states`` (each
replica's positions, velocities and energy) and ``energy_of(replica, positions)`` (U of any
configuration, evaluated on that replica's context without changing it), and every accepted
record carries ``new_states``: ``[(replica, positions, energy), ...]``, which the replicas take
(their velocities are rescaled as in a plain swap: momenta are independent of positions).

Runs are checkpointed (every replica's context, the controller's random stream, the counters;
resuming on Reference is bit-identical) and write, in reduced units with types and box:

* ``tempering.h5``: per round, the energy at each temperature, which replica is at each, and the
  exchanges attempted and accepted (HDF5, readable while written);
* ``by_temperature/T<k>.h5`` and ``by_replica/replica<r>.h5``: frames every ``frame_every``
  rounds (:class:`glassmm.trajectory.TrajectoryWriter`), with energies, replica or temperature
  index, and the fraction of A particles in fcc/hcp-like order (:mod:`glassmm.analysis.crystal`;
  a warning above ``crystal_warning``);
* ``summary.json`` and ``tempering.png``: acceptance per pair, round trips, energy histograms per
  temperature, each replica's walk through the ladder.
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

from glassmm import units
from glassmm.io import atomic_write
from glassmm.sampling.replicas import ReplicaSpec, make_pool

SCHEMA = "glassmm.tempering/1"


# ---------------------------------------------------------------------------- ladders
def geometric_ladder(t_min: float, t_max: float, n: int) -> np.ndarray:
    """n temperatures (reduced) from t_min to t_max in a geometric progression (constant ratio)."""
    if n < 2 or not 0 < t_min < t_max:
        raise ValueError(f"a ladder needs n >= 2 and 0 < t_min < t_max; got n={n}, {t_min}, {t_max}")
    return np.geomspace(t_min, t_max, n)


def tune_ladder(temperatures: Sequence[float], acceptance: Sequence[float], n: int | None = None,
                floor: float = 0.01) -> np.ndarray:
    """A ladder with the same ends spaced so that neighbours would accept equally often.

    Each measured neighbour acceptance a_k gives the pair a thermodynamic distance
    sqrt(-ln a_k) (for Gaussian energy distributions -ln a grows as (delta beta)^2 times the
    energy variance, so the square roots add along the ladder); new rungs sit at equal steps of
    the accumulated distance, interpolated linearly in ln T. ``n`` rungs (default: as many as
    before); ``floor`` keeps a pair that never exchanged at a finite distance.
    """
    t = np.asarray(temperatures, dtype=np.float64)
    a = np.clip(np.asarray(acceptance, dtype=np.float64), floor, 1.0 - 1e-12)
    if len(a) != len(t) - 1:
        raise ValueError(f"{len(t)} temperatures need {len(t) - 1} acceptances; got {len(a)}")
    dist = np.concatenate([[0.0], np.cumsum(np.sqrt(-np.log(a)))])
    n = len(t) if n is None else int(n)
    targets = np.linspace(0.0, dist[-1], n)
    out = np.exp(np.interp(targets, dist, np.log(t)))
    out[0], out[-1] = t[0], t[-1]
    return out


# ---------------------------------------------------------------------------- exchanges
class NeighbourExchange:
    """Temperature swaps between neighbouring rungs, the exact rule with velocity rescaling.

    The multi-state analog of a move's ``apply``: ``apply(temperatures, energies, assignment,
    parity, rng)`` returns the new assignment (replica at each rung) and one record per pair
    attempted. Only potential energies enter the rule.
    """

    kind = "exchange"

    @staticmethod
    def log_alpha(beta_low: float, beta_high: float, u_low: float, u_high: float) -> float:
        """ln of the swap's acceptance ratio for replicas with energies u_low at the colder rung and
        u_high at the hotter one (reduced): (beta_low - beta_high) (u_low - u_high)."""
        return (beta_low - beta_high) * (u_low - u_high)

    def apply(self, temperatures: np.ndarray, energies: np.ndarray, assignment: np.ndarray, parity: int,
              rng: np.random.Generator) -> tuple[np.ndarray, list[dict[str, Any]]]:
        beta = 1.0 / np.asarray(temperatures, dtype=np.float64)
        new = assignment.copy()
        records = []
        for k in range(parity, len(beta) - 1, 2):
            i, j = new[k], new[k + 1]
            log_alpha = self.log_alpha(beta[k], beta[k + 1], energies[i], energies[j])
            ok = bool(math.log(rng.uniform()) < log_alpha)
            if ok:
                new[k], new[k + 1] = j, i
            records.append({"pair": k, "replicas": (int(i), int(j)), "log_alpha": float(log_alpha), "accepted": ok})
        return new, records


@dataclass
class PTResult:
    """What :meth:`ParallelTempering.run` returns (also ``summary.json``)."""

    summary: dict[str, Any]


class ParallelTempering:
    """Parallel tempering of one system over a temperature ladder (see the module).

    Parameters
    ----------
    system : openmm.System
        The system every replica simulates (positions in reduced units below).
    positions : array (N, 3) or sequence of R arrays
        Starting configuration(s) (unwrapped, reduced).
    temperatures : sequence of float (reduced), increasing
    types : array of int (N,)
        Particle types (written with every frame).
    box : array (3,) or None
    md_steps : int
        Langevin steps per replica between exchange attempts.
    output : path, optional
    exchange : NeighbourExchange or MappedExchange
    dt, friction : float (tau, 1/tau)
    dimensions : int
    platform : str
    threads : int
        CPU threads per replica.
    executor : "serial", "processes" or a Dask client / cluster / address
        Where the replicas run (:func:`glassmm.sampling.replicas.make_pool`).
    seed : int
    frame_every : int
        Rounds between frames (0: no frames).
    checkpoint_every : int
        Rounds between checkpoints (a final one is always written).
    crystal_warning : float
        Warn when more than this fraction of A particles is crystalline at any temperature.
    progress : bool
    """

    def __init__(self, system: Any, positions: Any, temperatures: Sequence[float], types: np.ndarray,
                 box: np.ndarray | None, md_steps: int = 200, output: str | Path | None = None, exchange: Any = None,
                 dt: float = 0.005, friction: float = 1.0, dimensions: int = 3, platform: str = "CPU", threads: int | None = 1,
                 executor: Any = "serial", seed: int = 0, frame_every: int = 10, checkpoint_every: int = 50,
                 crystal_warning: float = 0.1, progress: bool = True) -> None:
        t = np.asarray([units.as_reduced_temperature(x) for x in temperatures], dtype=np.float64)
        if len(t) < 2 or np.any(np.diff(t) <= 0) or t[0] <= 0:
            raise ValueError(f"temperatures must be >= 2 increasing positive values (reduced); got {t.tolist()}")
        if md_steps < 1:
            raise ValueError(f"md_steps must be >= 1; got {md_steps}")
        self.temperatures = t
        self.n_replicas = len(t)
        self.types = np.asarray(types)
        self.box = None if box is None else np.asarray(box, dtype=np.float64)
        pos = np.asarray(positions, dtype=np.float64)
        starts = [pos] * self.n_replicas if pos.ndim == 2 else list(pos)
        if len(starts) != self.n_replicas or any(s.shape != (len(self.types), 3) for s in starts):
            raise ValueError(f"positions must be one (N, 3) array or {self.n_replicas} of them, N = {len(self.types)}")
        self.md_steps, self.seed = int(md_steps), int(seed)
        self.exchange = exchange if exchange is not None else NeighbourExchange()
        self.output = None if output is None else Path(output)
        self.frame_every, self.checkpoint_every = int(frame_every), max(1, int(checkpoint_every))
        self.crystal_warning, self.progress = float(crystal_warning), progress
        rng = np.random.default_rng(seed)
        self.specs = [ReplicaSpec.from_system(system, starts[r], self.box, t[r], dt=dt, friction=friction,
                                              dimensions=dimensions, platform=platform, threads=threads,
                                              seed=int(rng.integers(1, 2**30)),
                                              velocities=rng.normal(size=starts[r].shape) * math.sqrt(t[r]))
                      for r in range(self.n_replicas)]
        m = np.array([units.mass_from_openmm(system.getParticleMass(i)) for i in range(system.getNumParticles())])
        for s in self.specs:  # Maxwell-Boltzmann at each rung's temperature
            s.velocities = s.velocities / np.sqrt(m)[:, None]
            if dimensions == 2:
                s.velocities[:, 2] = 0.0
        self.pool = make_pool(self.specs, executor)
        self.executor = self.pool.kind
        self.rng = np.random.default_rng(seed + 1)
        self.round = 0
        self.assignment = np.arange(self.n_replicas)  # replica at each rung
        self.energies = np.array(self.pool.call("energy"), dtype=np.float64)  # by replica
        self.attempts = np.zeros(self.n_replicas - 1, dtype=np.int64)
        self.accepted = np.zeros(self.n_replicas - 1, dtype=np.int64)
        # round trips: each replica's last end of the ladder visited (-1 none, 0 bottom, 1 top)
        self.last_end = np.full(self.n_replicas, -1, dtype=np.int64)
        self.round_trips = np.zeros(self.n_replicas, dtype=np.int64)
        self.half_trips = np.zeros(self.n_replicas, dtype=np.int64)
        self.went_up = np.zeros(self.n_replicas, dtype=np.int64)  # reached the top from the bottom since its last round trip
        self._hist_edges: np.ndarray | None = None
        self._hist: np.ndarray | None = None
        self._crystal_max = 0.0
        self.timers = {"md_s": 0.0, "exchange_s": 0.0, "frames_s": 0.0}
        self._update_ends()

    # ------------------------------------------------------------------ one round
    def _update_ends(self) -> None:
        """Count each replica's traversals: a half trip is end to end, a round trip bottom -> top -> bottom."""
        for end, rung in ((0, 0), (1, self.n_replicas - 1)):
            r = self.assignment[rung]
            if self.last_end[r] == end:
                continue
            if self.last_end[r] == 1 - end:
                self.half_trips[r] += 1
                if end == 1:
                    self.went_up[r] = 1
                elif self.went_up[r]:  # back at the bottom after reaching the top from it
                    self.round_trips[r] += 1
                    self.went_up[r] = 0
            self.last_end[r] = end

    def temperature_of_replica(self) -> np.ndarray:
        """T (reduced) of each replica now."""
        t = np.empty(self.n_replicas)
        t[self.assignment] = self.temperatures
        return t

    def step(self) -> list[dict[str, Any]]:
        """One round: MD on every replica at its temperature, then one sweep of exchanges."""
        t0 = time.perf_counter()
        t_rep = self.temperature_of_replica()
        self.energies = np.array(self.pool.call("md", [(float(t_rep[r]), self.md_steps) for r in range(self.n_replicas)]))
        t1 = time.perf_counter()
        parity = self.round % 2
        if getattr(self.exchange, "proposes_positions", False):
            states = self.pool.call("get_state")

            def energy_of(replica: int, positions: np.ndarray) -> float:
                args: list[tuple | None] = [None] * self.n_replicas
                args[replica] = (positions,)
                return float(self.pool.call("energy_of", args)[replica])

            new, records = self.exchange.apply(self.temperatures, self.energies, self.assignment, parity, self.rng,
                                               states=states, energy_of=energy_of)
            self._apply_new_positions(records)
        else:
            new, records = self.exchange.apply(self.temperatures, self.energies, self.assignment, parity, self.rng)
        t_new = np.empty(self.n_replicas)
        t_new[new] = self.temperatures
        scale = [(math.sqrt(t_new[r] / t_rep[r]),) if t_new[r] != t_rep[r] else None for r in range(self.n_replicas)]
        if any(a is not None for a in scale):
            self.pool.call("scale_velocities", scale)
        self.assignment = new
        for rec in records:
            self.attempts[rec["pair"]] += 1
            self.accepted[rec["pair"]] += rec["accepted"]
        self._update_ends()
        self._accumulate_histograms()
        self.round += 1
        self.timers["md_s"] += t1 - t0
        self.timers["exchange_s"] += time.perf_counter() - t1
        return records

    def _apply_new_positions(self, records: list[dict[str, Any]]) -> None:
        """Accepted mapped exchanges hand their replicas new configurations (and energies)."""
        args: list[tuple | None] = [None] * self.n_replicas
        for rec in records:
            states = rec.pop("new_states", None)
            if rec["accepted"] and states:
                for r, x, e in states:
                    args[r] = (x, e)
                    self.energies[r] = e
        if any(a is not None for a in args):
            self.pool.call("set_positions", args)

    def _accumulate_histograms(self) -> None:
        e = self.energies[self.assignment] / len(self.types)  # per particle, by rung
        if self._hist_edges is None:
            lo, hi = float(e.min()), float(e.max())
            pad = max(0.5, hi - lo)
            self._hist_edges = np.linspace(lo - pad, hi + pad, 201)
            self._hist = np.zeros((self.n_replicas, 200), dtype=np.int64)
        idx = np.clip(np.searchsorted(self._hist_edges, e) - 1, 0, 199)
        self._hist[np.arange(self.n_replicas), idx] += 1

    # ------------------------------------------------------------------ the run
    def run(self, n_rounds: int, resume: bool = False, callback: Callable[["ParallelTempering"], Any] | None = None) -> dict[str, Any]:
        """Run until ``n_rounds`` rounds are done in total (resuming from the checkpoint if asked)."""
        from tqdm.auto import tqdm

        if resume:
            self.load_checkpoint()
        files = self._open_outputs(resume) if self.output is not None else None
        bar = tqdm(total=n_rounds, initial=self.round, desc="tempering rounds", disable=not self.progress, unit="round")
        try:
            while self.round < n_rounds:
                records = self.step()
                if files is not None:
                    self._write_round(files, records)
                    if self.frame_every and self.round % self.frame_every == 0:
                        tf = time.perf_counter()
                        self._write_frames(files)
                        self.timers["frames_s"] += time.perf_counter() - tf
                bar.update(1)
                bar.set_postfix(acc=f"{self.acceptance().mean():.2f}", trips=int(self.round_trips.sum()))
                stop = bool(callback(self)) if callback is not None else False
                if self.output is not None and (self.round % self.checkpoint_every == 0 or self.round == n_rounds or stop):
                    self.save_checkpoint()
                if stop:
                    break
        finally:
            bar.close()
            for f in (files or {}).values():
                for g in (f if isinstance(f, list) else [f]):
                    g.close()
        summary = self.summary()
        if self.output is not None:
            with atomic_write(self.output / "summary.json", "w") as fh:
                json.dump(summary, fh, indent=2)
            try:
                self.plot(self.output / "tempering.png")
            except ImportError:
                pass
        return summary

    def close(self) -> None:
        """Stop the replicas' workers."""
        self.pool.close()

    # ------------------------------------------------------------------ results
    def acceptance(self) -> np.ndarray:
        """Measured acceptance of each neighbour pair (NaN where never attempted)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.attempts > 0, self.accepted / np.maximum(self.attempts, 1), np.nan)

    def summary(self) -> dict[str, Any]:
        acc = self.acceptance()
        return {
            "schema": SCHEMA, "rounds": self.round, "replicas": self.n_replicas, "temperatures": self.temperatures.tolist(),
            "md_steps_per_round": self.md_steps, "executor": self.executor,
            "acceptance": [None if not math.isfinite(a) else float(a) for a in acc],
            "attempts": self.attempts.tolist(), "round_trips": self.round_trips.tolist(),
            "round_trips_total": int(self.round_trips.sum()), "half_trips": self.half_trips.tolist(),
            "crystalline_A_max": self._crystal_max, "timers_s": dict(self.timers),
            "energy_histogram": None if self._hist is None else {"edges_per_particle": self._hist_edges.tolist(),
                                                                  "counts": self._hist.tolist()},
            "units": "reduced LJ (epsilon_AA per particle for energies, epsilon_AA / k_B for temperatures)",
        }

    def plot(self, path: str | Path | None = None):
        """Acceptance per pair, per-temperature energy histograms, and the replicas' walks."""
        from glassmm.analysis._plot import finish, pyplot

        fig, axes = pyplot().subplots(1, 3, figsize=(14, 3.8))
        acc = self.acceptance()
        mid = 0.5 * (self.temperatures[1:] + self.temperatures[:-1])
        axes[0].plot(mid, acc, "o-")
        axes[0].set(xlabel=r"pair mid-temperature ($\epsilon/k_B$)", ylabel="exchange acceptance", ylim=(0, 1))
        if self._hist is not None:
            c = 0.5 * (self._hist_edges[1:] + self._hist_edges[:-1])
            for k in range(self.n_replicas):
                if self._hist[k].sum():
                    axes[1].plot(c, self._hist[k] / self._hist[k].sum(), label=f"T = {self.temperatures[k]:.3g}")
            axes[1].set(xlabel=r"potential energy per particle ($\epsilon_{AA}$)", ylabel="fraction of rounds")
            axes[1].legend(fontsize=6)
        walk = self._walks()
        if walk is not None:
            for r in range(min(self.n_replicas, 6)):
                axes[2].plot(walk[:, r], lw=0.8, label=f"replica {r}")
            axes[2].set(xlabel="round", ylabel="temperature rung")
            axes[2].legend(fontsize=6)
        fig.suptitle(f"parallel tempering: {self.n_replicas} replicas, {self.round} rounds, "
                     f"{int(self.round_trips.sum())} round trips")
        fig.tight_layout()
        return finish(fig, path)

    def _walks(self) -> np.ndarray | None:
        """Rung of each replica per round, from ``tempering.h5`` (None without output)."""
        if self.output is None or not (self.output / "tempering.h5").exists():
            return None
        from glassmm.trajectory import open_for_reading

        with open_for_reading(self.output / "tempering.h5") as h:
            at = h["replica_at"][: h["step"].shape[0]]
        walk = np.empty_like(at)
        for k in range(at.shape[1]):
            walk[np.arange(len(at)), at[:, k]] = k
        return walk

    # ------------------------------------------------------------------ files
    def _open_outputs(self, resume: bool) -> dict[str, Any]:
        from glassmm.trajectory import FrameFile, TrajectoryWriter, frame_series, write_topology_datasets

        out = self.output
        for d in (out, out / "by_temperature", out / "by_replica"):
            d.mkdir(parents=True, exist_ok=True)
        R = self.n_replicas
        box = self.box if self.box is not None else np.zeros(3)
        main = out / "tempering.h5"
        if resume and main.exists():
            log, _ = FrameFile.open(main, before_step=self.round + 1)
        else:
            if main.exists():
                main.unlink()

            def build(h: Any) -> list[str]:
                h.attrs["glassmm_file"] = "tempering"
                h.attrs["schema"] = SCHEMA
                h.attrs["temperatures"] = json.dumps(self.temperatures.tolist())
                write_topology_datasets(h, self.types, box)
                return [frame_series(h, "energy", "f8", "epsilon_AA", (R,)), frame_series(h, "replica_at", "i4", "1", (R,)),
                        frame_series(h, "exchange", "i1", "1 accepted, 0 rejected, -1 not attempted", (R - 1,)),
                        frame_series(h, "step", "i8", "round")]

            log = FrameFile.create(main, build)
        writers: dict[str, Any] = {"log": log}
        if self.frame_every:
            meta = {"schema": SCHEMA, "temperatures": self.temperatures.tolist(), "md_steps_per_round": self.md_steps,
                    "step": "round", "time": "MD time per replica (tau)"}
            for kind, names, series in (("T", [f"T{k}" for k in range(R)], {"energy": "epsilon_AA", "replica": "1",
                                                                           "crystalline_A": "fraction"}),
                                        ("replica", [f"replica{r}" for r in range(R)], {"energy": "epsilon_AA", "temperature": "epsilon/k_B",
                                                                                     "rung": "1", "crystalline_A": "fraction"})):
                folder = out / ("by_temperature" if kind == "T" else "by_replica")
                ws = []
                for name in names:
                    p = folder / f"{name}.h5"
                    if not resume and p.exists():
                        p.unlink()
                    ws.append(TrajectoryWriter(p, self.types, box, append=resume, restart_step=self.round + 1,
                                               series=series, metadata=meta))
                writers[kind] = ws
        return writers

    def _write_round(self, files: dict[str, Any], records: list[dict[str, Any]]) -> None:
        ex = np.full(self.n_replicas - 1, -1, dtype=np.int8)
        for rec in records:
            ex[rec["pair"]] = int(rec["accepted"])
        files["log"].append({"energy": self.energies[self.assignment], "replica_at": self.assignment.astype(np.int32),
                             "exchange": ex, "step": self.round})

    def _write_frames(self, files: dict[str, Any]) -> None:
        from glassmm.analysis.crystal import crystalline_fraction

        states = self.pool.call("get_state")
        dt = self.specs[0].dt
        t_md = self.round * self.md_steps * dt
        rung = np.empty(self.n_replicas, dtype=int)
        rung[self.assignment] = np.arange(self.n_replicas)
        cryst = [crystalline_fraction(s[0], self.box, self.types) if self.box is not None else 0.0 for s in states]
        worst = max(cryst)
        if worst > self.crystal_warning and worst > self._crystal_max:
            warnings.warn(f"round {self.round}: {worst:.0%} of the A particles of replica {int(np.argmax(cryst))} "
                          f"(T = {self.temperatures[rung[int(np.argmax(cryst))]]:.3g}) are in fcc/hcp-like order: the "
                          "liquid is crystallising", stacklevel=3)
        self._crystal_max = max(self._crystal_max, worst)
        for k in range(self.n_replicas):
            r = self.assignment[k]
            files["T"][k].append(states[r][0], time=t_md, step=self.round, energy=states[r][2], replica=float(r),
                                 crystalline_A=cryst[r])
        for r in range(self.n_replicas):
            files["replica"][r].append(states[r][0], time=t_md, step=self.round, energy=states[r][2],
                                       temperature=float(self.temperatures[rung[r]]), rung=float(rung[r]), crystalline_A=cryst[r])

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> Path:
        """``checkpoint.npz``: every replica's checkpoint, the controller's random stream and counters (one atomic file)."""
        from glassmm.io import save_checkpoint

        assert self.output is not None
        blobs = self.pool.call("checkpoint")  # consecutively, no MD between: on Reference they share one random state
        state = {"schema": SCHEMA, "round": self.round, "assignment": self.assignment.tolist(), "rng": self.rng.bit_generator.state,
                 "attempts": self.attempts.tolist(), "accepted": self.accepted.tolist(), "last_end": self.last_end.tolist(),
                 "round_trips": self.round_trips.tolist(), "half_trips": self.half_trips.tolist(),
                 "went_up": self.went_up.tolist(), "temperatures": self.temperatures.tolist(), "timers": self.timers,
                 "crystal_max": self._crystal_max}
        arrays: dict[str, Any] = {f"replica{r}": b for r, b in enumerate(blobs)}
        if self._hist is not None:
            arrays.update(hist=self._hist, hist_edges=self._hist_edges)
        return save_checkpoint(self.output / "checkpoint.npz", b"", state, **arrays)

    def load_checkpoint(self) -> bool:
        """Restore from ``output/checkpoint.npz`` if present; returns whether it was."""
        from glassmm.io import load_checkpoint

        if self.output is None or not (self.output / "checkpoint.npz").exists():
            return False
        path = self.output / "checkpoint.npz"
        try:
            _, state, arrays = load_checkpoint(path, arrays=True)
            blobs = [arrays[f"replica{r}"].tobytes() for r in range(self.n_replicas)]
        except (ValueError, KeyError) as exc:
            raise ValueError(f"corrupt tempering checkpoint {path}: {exc}") from exc
        if state.get("schema") != SCHEMA:
            raise ValueError(f"{path} has schema {state.get('schema')!r}; expected {SCHEMA!r}")
        if not np.allclose(state["temperatures"], self.temperatures):
            raise ValueError(f"{path} holds a run on the ladder {state['temperatures']}; this one is {self.temperatures.tolist()}")
        self.pool.call("restore", [(b,) for b in blobs])
        self.round = int(state["round"])
        self.assignment = np.asarray(state["assignment"], dtype=np.int64)
        self.rng.bit_generator.state = state["rng"]
        for name in ("attempts", "accepted", "last_end", "round_trips", "half_trips", "went_up"):
            setattr(self, name, np.asarray(state[name], dtype=np.int64))
        self.timers = dict(state["timers"])
        self._crystal_max = float(state["crystal_max"])
        if "hist" in arrays:
            self._hist, self._hist_edges = arrays["hist"], arrays["hist_edges"]
        self.energies = np.array(self.pool.call("energy"), dtype=np.float64)
        return True


def ka_tempering(ka: Any, temperatures: Sequence[float], **kw: Any) -> ParallelTempering:
    """Parallel tempering of a :class:`~glassmm.systems.KobAndersen` system (3D or 2D) from its positions."""
    return ParallelTempering(ka.system, ka.positions_reduced, temperatures, ka.types, ka.box,
                             dimensions=ka.dimensions, **kw)
