"""T-BOTAN across temperatures: a structural thermometer and propensity at unseen temperatures.

The protocol (``glassmm study temperature``), every stage resumable from its output folder:

1. **data** -- :func:`glassmm.dataset.make_dataset`: KA at each temperature from glassmm's own
   MD, tau_alpha(T) measured, ``n_configs`` isoconfigurational ensembles per temperature with
   targets at ``tau_multiples`` x tau_alpha(T); the table goes to ``data/tau_alpha.json``.
2. **split** -- at every temperature the last ``n_test_configs`` configurations are test
   configurations, never trained on. Temperatures are *training* temperatures (their other
   configurations train the T-BOTAN models) or *held out* (no configuration of theirs is
   trained on): interpolated when inside the training range, extrapolated outside it.
3. **train** -- for each input kind (TS, IS, TS+IS) an ensemble of ``n_members`` T-BOTAN
   models (different seeds) on the training temperatures, target = propensity at
   tau_alpha(T); and, as the reference the claim is measured against, an ensemble of the same
   architecture trained only at ``baseline_temperature`` (an interpolated held-out
   temperature) on its non-test configurations, for the same number of optimiser steps.
4. **evaluate** -- per temperature: Pearson of propensity over A particles per snapshot (each
   member on each configuration, averaged) and ensemble-averaged (members' predictions
   averaged first); the temperature estimate's bias and RMSE, per snapshot and
   ensemble-averaged, next to the classical reference (T linear in the mean pair energy,
   fitted on the training configurations), whose error is the canonical-fluctuation floor
   at this N; the predicted and measured propensity distributions (standardised,
   Wasserstein-1 distance); the static structure factor S_X(q) of the predicted and measured
   propensity fields with its q -> 0 limit and Ornstein-Zernike length (the chi_4 / xi_4
   analogue for a static field); the split-half reliability of the measured propensity (the
   ceiling any model can reach with ``n_replicas`` replicas).
5. **latent map** -- each member's global T-BOTAN feature averaged per temperature, the
   distance matrix between temperatures (normalised by its mean off-diagonal entry, then
   averaged over members), and, for each interpolated held-out temperature, where it lands on
   the segment between the bracketing training temperatures (``lambda_latent``) against
   where its temperature is (``lambda_T``): the pull toward the nearest trained temperature.

Everything is written under the output folder: ``summary.json`` (all figures, the split, the
tau_alpha table and the cost of each stage in seconds) and the plots.
"""

from __future__ import annotations

import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from glassmm.io import atomic_write

PRESETS: dict[str, dict[str, Any]] = {
    # what the closing note's figures come from: ~60 min on 2 cores (data 19, train 34, N = 4000 thermometer 5)
    "small": dict(temperatures=(1.0, 0.9, 0.8, 0.75, 0.7, 0.65, 0.6),
                  train_temperatures=(1.0, 0.8, 0.7, 0.65), baseline_temperature=0.75,
                  n_particles=1000, n_configs=6, n_test_configs=2, n_replicas=16,
                  tau_multiples=(0.25, 0.5, 1.0), n_members=3, epochs=50, pretrain_epochs=3,
                  hidden=32, n_steps=3, lr=2e-3, thermometer_n_particles=4000),
    # a smoke-sized run of every stage (tests, a first look): about two minutes
    "tiny": dict(temperatures=(2.0, 1.6, 1.3, 1.0), train_temperatures=(2.0, 1.3),
                 baseline_temperature=1.6, n_particles=256, n_configs=3, n_test_configs=1,
                 n_replicas=4, tau_multiples=(0.5, 1.0), min_equilibration=10.0, n_members=2,
                 epochs=3, pretrain_epochs=1, hidden=16, n_steps=2, thermometer_n_particles=500,
                 thermometer_snapshots=2),
}


@dataclass
class TemperatureStudyConfig:
    """Parameters of the study (temperatures reduced, times in units of tau_alpha(T))."""

    temperatures: Sequence[float] = PRESETS["small"]["temperatures"]
    train_temperatures: Sequence[float] = PRESETS["small"]["train_temperatures"]
    baseline_temperature: float | None = 0.7
    n_particles: int = 1000
    n_configs: int = 6
    n_test_configs: int = 2
    n_replicas: int = 16
    tau_multiples: Sequence[float] = (0.25, 0.5, 1.0)
    min_equilibration: float = 50.0
    inputs: Sequence[str] = ("TS", "IS", "TS+IS")
    n_members: int = 3
    epochs: int = 25
    pretrain_epochs: int = 3
    hidden: int = 48
    n_steps: int = 5
    lr: float = 1e-3
    workers: int = 2
    seed: int = 0
    platform: str = "CPU"
    # the thermometer read on larger fresh liquids at the interpolated held-out temperatures
    # (the canonical fluctuations it cannot beat shrink as 1/sqrt(N)); None skips the stage
    thermometer_n_particles: int | None = None
    thermometer_snapshots: int = 8
    # TS only by default: a FIRE quench of N = 4000 takes 1-2 min per snapshot on 2 cores
    thermometer_inputs: Sequence[str] = ("TS",)
    extra: dict = field(default_factory=dict)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "TemperatureStudyConfig":
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}})

    def validate(self) -> None:
        temps = [float(t) for t in self.temperatures]
        if len(set(temps)) != len(temps):
            raise ValueError(f"temperatures repeat: {temps}")
        missing = [t for t in self.train_temperatures if float(t) not in temps]
        if missing:
            raise ValueError(f"training temperatures {missing} are not among the temperatures {temps}")
        if len(self.train_temperatures) < 2:
            raise ValueError("need at least two training temperatures for a thermometer")
        if self.baseline_temperature is not None and float(self.baseline_temperature) not in self.held_out:
            raise ValueError(f"baseline_temperature {self.baseline_temperature} must be a held-out temperature "
                             f"({self.held_out})")
        if not 1 <= self.n_test_configs < self.n_configs:
            raise ValueError(f"need 1 <= n_test_configs < n_configs; got {self.n_test_configs}, {self.n_configs}")
        bad = [k for k in self.inputs if k not in ("TS", "IS", "TS+IS")]
        if bad:
            raise ValueError(f"unknown inputs {bad}; choose from TS, IS, TS+IS")
        if 1.0 not in [float(m) for m in self.tau_multiples]:
            raise ValueError("tau_multiples must include 1.0 (the training target is propensity at tau_alpha)")

    @property
    def held_out(self) -> list[float]:
        train = {float(t) for t in self.train_temperatures}
        return sorted(float(t) for t in self.temperatures if float(t) not in train)

    def role(self, T: float) -> str:
        """``train``, ``interpolated`` or ``extrapolated``."""
        train = [float(t) for t in self.train_temperatures]
        if float(T) in train:
            return "train"
        return "interpolated" if min(train) < T < max(train) else "extrapolated"


def _temperature_key(T: float) -> str:
    return f"{float(T):.3f}"


def _train_member(spec: dict[str, Any]) -> dict[str, Any]:
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


def _quench(args: tuple[str, str]) -> str:
    """FIRE inherent structure of one file, into glassmm's cache (top level for process pools)."""
    import torch

    from glassmm.io import load_configuration
    from glassmm.training.data import inherent_structure

    torch.set_num_threads(1)
    c = load_configuration(args[0])
    inherent_structure(c.positions, c.types, c.box, platform=args[1])
    return args[0]


class TemperatureStudy:
    """Run the temperature study in ``output``; :meth:`run` does every stage, each resumable.

    Parameters
    ----------
    output : path
    config : TemperatureStudyConfig
    progress : bool
    """

    def __init__(self, output: str | Path, config: TemperatureStudyConfig | None = None, progress: bool = True) -> None:
        self.output = Path(output)
        self.cfg = config or TemperatureStudyConfig()
        self.cfg.validate()
        self.progress = progress
        self.cost: dict[str, float] = {}
        self.table: dict[str, Any] | None = None
        self.summary: dict[str, Any] | None = None

    # ------------------------------------------------------------------ stages
    def run(self, ship: str | Path | None = None) -> dict[str, Any]:
        """All stages; ``ship`` also exports the TS ensemble there as one artifact."""
        t0 = time.perf_counter()
        self.generate()
        self.quench()
        self.train()
        self.evaluate()
        if self.cfg.thermometer_n_particles:
            self.thermometer_check()
        if ship:
            self.ship(ship)
        self.cost["total"] = time.perf_counter() - t0
        self.summary["cost_seconds"] = dict(self.cost)
        self._write_summary()
        self.plot()
        return self.summary

    def _timed(self, stage: str, t0: float) -> None:
        self.cost[stage] = self.cost.get(stage, 0.0) + time.perf_counter() - t0
        self._log(f"[study] {stage}: {self.cost[stage]:.0f} s")

    def _log(self, msg: str) -> None:
        if self.progress:
            print(msg, flush=True)

    def generate(self) -> dict[str, Any]:
        """Stage 1: the multi-temperature dataset (skips temperatures already on disk)."""
        from glassmm.dataset import make_dataset

        t0 = time.perf_counter()
        c = self.cfg
        self.table = make_dataset(
            [float(t) for t in c.temperatures], self.output / "data", n_particles=c.n_particles,
            n_configs=c.n_configs, n_replicas=c.n_replicas, tau_multiples=tuple(c.tau_multiples),
            min_equilibration=c.min_equilibration, platform=c.platform, workers=c.workers, seed=c.seed,
            progress=self.progress,
        )
        self._timed("data", t0)
        return self.table

    def _entry(self, T: float) -> dict[str, Any]:
        if self.table is None:
            path = self.output / "data" / "tau_alpha.json"
            if not path.exists():
                raise FileNotFoundError(f"{path}: run the data stage first")
            self.table = json.loads(path.read_text())
        for e in self.table["temperatures"]:
            if abs(e["temperature"] - T) < 1e-9:
                return e
        raise KeyError(f"temperature {T} not in the dataset table")

    def files(self, T: float, configs: Sequence[int] | None = None) -> list[str]:
        """Files holding propensity at tau_alpha(T) for the given configuration indices."""
        e = self._entry(T)
        j = int(np.argmin(np.abs(np.asarray(e["times"]) - e["tau_alpha"])))
        n_times = len(e["times"])
        configs = range(len(e["files"]) // n_times) if configs is None else configs
        return [e["files"][k * n_times + j] for k in configs]

    def split(self, T: float) -> tuple[list[int], list[int]]:
        """(training configuration indices, test configuration indices) at temperature T."""
        n, m = self.cfg.n_configs, self.cfg.n_test_configs
        return list(range(n - m)), list(range(n - m, n))

    def eval_configs(self, T: float) -> list[int]:
        """Configurations a study model is evaluated on: all at held-out T, the test ones at training T."""
        train, test = self.split(T)
        return test if self.cfg.role(T) == "train" else train + test

    def quench(self) -> None:
        """Stage 2 (IS inputs only): FIRE inherent structures of every file used, in a process pool."""
        if not any(k != "TS" for k in self.cfg.inputs):
            return
        t0 = time.perf_counter()
        todo = [f for T in self.cfg.temperatures for f in self.files(float(T))]
        self._map(_quench, [(f, self.cfg.platform) for f in todo], "inherent structures")
        self._timed("quench", t0)

    def _map(self, fn: Any, items: list, desc: str) -> list:
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(items), desc=desc)
        out = []
        if self.cfg.workers <= 1:
            for it in items:
                out.append(fn(it))
                bar is not None and bar.update(1)
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(self.cfg.workers, mp_context=mp.get_context("spawn")) as ex:
                for res in ex.map(fn, items):
                    out.append(res)
                    bar is not None and bar.update(1)
        if bar is not None:
            bar.close()
        return out

    def _member_specs(self) -> list[dict[str, Any]]:
        c = self.cfg
        specs = []
        train_files = [f for T in c.train_temperatures for f in self.files(float(T), self.split(float(T))[0])]
        for kind in c.inputs:
            for m in range(c.n_members):
                specs.append(dict(name=f"tbotan-{kind}-m{m}", files=train_files, inputs=kind, seed=c.seed + m,
                                  epochs=c.epochs, pretrain_epochs=c.pretrain_epochs, lr=c.lr, hidden=c.hidden,
                                  n_steps=c.n_steps, workdir=str(self.output / "models" / f"tbotan-{kind}-m{m}")))
            if c.baseline_temperature is not None:
                Tb = float(c.baseline_temperature)
                files_b = self.files(Tb, self.split(Tb)[0])
                # the same number of optimiser steps as the multi-temperature members
                epochs_b = int(math.ceil(c.epochs * len(train_files) / len(files_b)))
                pre_b = int(math.ceil(c.pretrain_epochs * len(train_files) / len(files_b)))
                for m in range(c.n_members):
                    name = f"single-T{_temperature_key(Tb)}-{kind}-m{m}"
                    specs.append(dict(name=name, files=files_b, inputs=kind, seed=c.seed + m, epochs=epochs_b,
                                      pretrain_epochs=pre_b, lr=c.lr, hidden=c.hidden, n_steps=c.n_steps,
                                      workdir=str(self.output / "models" / name)))
        return specs

    def train(self) -> list[dict[str, Any]]:
        """Stage 3: every ensemble member, ``workers`` at a time (one torch thread each)."""
        t0 = time.perf_counter()
        res = self._map(_train_member, self._member_specs(), "training members")
        self._timed("train", t0)
        self._train_log = res
        return res

    # ------------------------------------------------------------------ evaluation
    def _members(self, prefix: str) -> list[tuple[Any, dict]]:
        from glassmm.training.api import _load_checkpoint

        out = []
        for m in range(self.cfg.n_members):
            wd = self.output / "models" / f"{prefix}-m{m}"
            ck = wd / "best.pt" if (wd / "best.pt").exists() else wd / "checkpoint.pt"
            if not ck.exists():
                raise FileNotFoundError(f"{ck}: member not trained; run the train stage")
            model, st = _load_checkpoint(ck)
            out.append((model.eval(), st["norm"]))
        return out

    def _predict(self, members: list[tuple[Any, dict]], sample: Any) -> dict[str, np.ndarray]:
        import torch

        node, temp, glob = [], [], []
        with torch.no_grad():
            for model, norm in members:
                args = (sample.positions.float(), sample.box.float(), sample.types,
                        None if sample.inherent is None or model.inputs == "TS" else sample.inherent.float())
                out = model(*args)
                node.append(out["node"].numpy())
                temp.append(float(out["temperature"]) * norm["t_std"] + norm["t_mean"])
                glob.append(model.global_feature(*args).numpy())
        return {"node": np.asarray(node), "temperature": np.asarray(temp), "global": np.asarray(glob)}

    def evaluate(self) -> dict[str, Any]:
        """Stages 4-5: metrics per input kind and temperature, the latent map, the baseline comparison."""
        from glassmm.analysis.fourpoint import FieldStructureFactor
        from glassmm.analysis.propensity import split_half_reliability
        from glassmm.training.data import load_samples

        t0 = time.perf_counter()
        c = self.cfg
        temps = sorted(float(t) for t in c.temperatures)
        need_is = any(k != "TS" for k in c.inputs)
        cache: dict[str, Any] = {}

        def sample(f: str) -> Any:
            if f not in cache:
                cache[f] = load_samples([f], need_inherent=need_is, progress=False)[0]
            return cache[f]

        reliability, fs_target = {}, {}
        for T in temps:
            rel, fs = [], []
            for f in self.files(T, self.eval_configs(T)):
                s = sample(f)
                rel.append(split_half_reliability(s.positions.numpy(), s.replicas.numpy(), s.types.numpy())["spearman_brown"])
                fs.append(_self_scattering(s))
            reliability[_temperature_key(T)] = float(np.mean(rel))
            fs_target[_temperature_key(T)] = float(np.mean(fs))

        results: dict[str, Any] = {}
        self._fields: dict[str, Any] = {}
        for kind in c.inputs:
            reference = self._energy_thermometer(kind, sample)
            members = self._members(f"tbotan-{kind}")
            per_T: dict[str, Any] = {}
            latent: dict[str, np.ndarray] = {}  # T -> (members, hidden) mean global feature
            for T in temps:
                preds, trues, sfx_p, sfx_t = [], [], FieldStructureFactor(), FieldStructureFactor()
                for f in self.files(T, self.eval_configs(T)):
                    s = sample(f)
                    p = self._predict(members, s)
                    preds.append(p)
                    a = (s.types == 0).numpy()
                    trues.append(s.propensity.numpy()[a])
                    sfx_p.compute(s.positions.numpy(), p["node"].mean(axis=0), s.box.numpy(), s.types.numpy())
                    sfx_t.compute(s.positions.numpy(), s.propensity.numpy(), s.box.numpy(), s.types.numpy())
                    p["a"] = a
                per_T[_temperature_key(T)] = self._metrics(T, preds, trues, sfx_p, sfx_t, reliability)
                per_T[_temperature_key(T)]["energy_thermometer_rmse"] = reference[_temperature_key(T)]
                latent[_temperature_key(T)] = np.mean([p["global"] for p in preds], axis=0)
                if kind == c.inputs[0]:
                    self._fields[_temperature_key(T)] = {
                        "pred": np.concatenate([_z(p["node"].mean(axis=0)[p["a"]]) for p in preds]),
                        "true": np.concatenate([_z(t) for t in trues]),
                        "s_pred": sfx_p.as_dict(), "s_true": sfx_t.as_dict()}
            results[kind] = {"per_temperature": per_T, "latent": self._latent_map(latent)}
            if c.baseline_temperature is not None:
                results[kind]["baseline"] = self._baseline(kind, members, sample)
            self._log(f"[study] evaluated {kind}")
        self._timed("evaluate", t0)
        self.summary = {
            "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(c).items()},
            "roles": {_temperature_key(T): c.role(T) for T in temps},
            "split": {_temperature_key(T): {"train": self.split(T)[0] if c.role(T) == "train" else [],
                                            "evaluated": self.eval_configs(T)} for T in temps},
            "tau_alpha": {_temperature_key(e["temperature"]): e["tau_alpha"] for e in self.table["temperatures"]},
            "propensity_reliability": reliability,
            # self-check of the targets: F_s(7.25) of A over the replicas at the target time is
            # 1/e = 0.368 if tau_alpha was measured on the liquid the configurations come from
            "fs_at_target_time": fs_target,
            "tau_alpha_converged": {_temperature_key(e["temperature"]): e.get("tau_alpha_converged")
                                    for e in self.table["temperatures"]},
            "results": results,
            "training": getattr(self, "_train_log", None),
        }
        self._write_summary()
        return self.summary

    def _energy_thermometer(self, kind: str, sample: Any) -> dict[str, float]:
        """The classical reference: T linear in the mean pair energy per particle.

        Fitted by least squares on the training temperatures' training configurations, read on
        every temperature's evaluated ones; for ``kind`` IS the inherent-structure energy, for
        TS+IS both energies. Its per-snapshot RMSE is set by the canonical fluctuations of the
        energy at this N, the floor a structural thermometer has to beat.
        """
        X, y = [], []
        for T in self.cfg.train_temperatures:
            for f in self.files(float(T), self.split(float(T))[0]):
                X.append(_mean_pair_energies(sample(f), kind)); y.append(float(T))
        A = np.c_[np.asarray(X), np.ones(len(X))]
        w = np.linalg.lstsq(A, np.asarray(y), rcond=None)[0]
        self._energy_fit = getattr(self, "_energy_fit", {})
        self._energy_fit[kind] = w
        out = {}
        for T in sorted(float(t) for t in self.cfg.temperatures):
            est = [float(np.r_[_mean_pair_energies(sample(f), kind), 1.0] @ w)
                   for f in self.files(T, self.eval_configs(T))]
            out[_temperature_key(T)] = float(np.sqrt(np.mean(np.square(np.asarray(est) - T))))
        return out

    def thermometer_check(self) -> dict[str, Any]:
        """Stage 6: the thermometer on larger fresh liquids at the interpolated held-out temperatures.

        At each such T: a new KA liquid of ``thermometer_n_particles`` (melted, cooled and
        equilibrated for max(``min_equilibration``, 30 tau_alpha(T))), ``thermometer_snapshots``
        snapshots 2 tau_alpha apart, read by every input kind's ensemble and by the energy
        thermometer fitted on the study's training data. The estimators are intensive, so the
        same models apply; their spread shrinks with N where it is canonical fluctuation.
        """
        import torch

        from glassmm.simulation import create_simulation, get_positions, melt_and_quench, run
        from glassmm.systems import KobAndersen
        from glassmm.training.data import Sample, inherent_structure

        if self.summary is None or not hasattr(self, "_energy_fit"):
            raise RuntimeError("thermometer_check needs the evaluate stage of this run first")
        t0 = time.perf_counter()
        c = self.cfg
        n = int(c.thermometer_n_particles)
        dt = float(self.table.get("dt", 0.005)) if self.table else 0.005
        kinds = [k for k in c.thermometer_inputs if k in c.inputs]
        need_is = any(k != "TS" for k in kinds)
        temps = [T for T in sorted(float(t) for t in c.temperatures) if c.role(T) == "interpolated"]
        members = {kind: self._members(f"tbotan-{kind}") for kind in kinds}
        out: dict[str, Any] = {"n_particles": n, "snapshots": c.thermometer_snapshots, "per_temperature": {}}
        for i, T in enumerate(temps):
            tau = float(self._entry(T)["tau_alpha"])
            ka = KobAndersen(n, positions="random", seed=c.seed + 7919 + i)
            sim = create_simulation(ka, "langevin", temperature=T, dt=dt, platform=c.platform, seed=c.seed + 7919 + i)
            melt_and_quench(sim, T, equilibration_time=max(c.min_equilibration, 30 * tau), dt=dt,
                            progress=self.progress and f"T={T} N={n} thermometer liquid")
            snaps = []
            for k in range(c.thermometer_snapshots):
                if k:
                    run(sim, int(round(2 * tau / dt)))
                pos = get_positions(sim.context)
                inh = inherent_structure(pos, ka.types, ka.box, platform=c.platform) if need_is else None
                snaps.append(Sample(f"T{T}-N{n}-{k}", torch.tensor(pos), None if inh is None else torch.tensor(inh),
                                    torch.tensor(ka.box), torch.tensor(ka.types.astype(np.int64)),
                                    torch.zeros(n), torch.zeros((0, n, 3)), T))
            row: dict[str, Any] = {}
            for kind in kinds:
                est = np.array([self._predict(members[kind], s)["temperature"] for s in snaps])  # (snap, member)
                w = self._energy_fit[kind]
                ref = [float(np.r_[_mean_pair_energies(s, kind), 1.0] @ w) for s in snaps]
                ens = est.mean(axis=1)
                row[kind] = {"temperature_rmse_per_snapshot": float(np.sqrt(np.mean((est - T) ** 2))),
                             "temperature_rmse_ensemble": float(np.sqrt(np.mean((ens - T) ** 2))),
                             "temperature_bias": float(np.mean(ens - T)),
                             "estimates_ensemble": ens.tolist(),
                             "energy_thermometer_rmse": float(np.sqrt(np.mean((np.asarray(ref) - T) ** 2)))}
            out["per_temperature"][_temperature_key(T)] = row
        self._timed("thermometer", t0)
        self.summary["thermometer_large_system"] = out
        self._write_summary()
        return out

    def _metrics(self, T: float, preds: list, trues: list, sfx_p: Any, sfx_t: Any, reliability: dict) -> dict[str, Any]:
        from scipy.stats import wasserstein_distance

        r_member, r_ens, t_member, t_ens = [], [], [], []
        for p, y in zip(preds, trues):
            node = p["node"][:, p["a"]]
            r_member += [float(np.corrcoef(n, y)[0, 1]) for n in node]
            r_ens.append(float(np.corrcoef(node.mean(axis=0), y)[0, 1]))
            t_member += list(p["temperature"] - T)
            t_ens.append(float(p["temperature"].mean() - T))
        z_pred = np.concatenate([_z(p["node"].mean(axis=0)[p["a"]]) for p in preds])
        z_true = np.concatenate([_z(y) for y in trues])
        xi_p, s0_p = sfx_p.correlation_length()
        xi_t, s0_t = sfx_t.correlation_length()
        return {
            "role": self.cfg.role(T), "n_configurations": len(preds),
            "pearson_per_snapshot": float(np.mean(r_member)), "pearson_ensemble": float(np.mean(r_ens)),
            "pearson_ensemble_per_configuration": r_ens,
            "temperature_estimate_ensemble": float(T + np.mean(t_ens)),
            "temperature_bias": float(np.mean(t_ens)),
            "temperature_rmse_per_snapshot": float(np.sqrt(np.mean(np.square(t_member)))),
            "temperature_rmse_ensemble": float(np.sqrt(np.mean(np.square(t_ens)))),
            "distribution_wasserstein": float(wasserstein_distance(z_pred, z_true)),
            "skewness_pred": float(np.mean(z_pred**3)), "skewness_true": float(np.mean(z_true**3)),
            "field_s0_pred": s0_p, "field_s0_true": s0_t, "field_xi_pred": xi_p, "field_xi_true": xi_t,
            "field_s_lowest_q_pred": float(sfx_p.s[0]), "field_s_lowest_q_true": float(sfx_t.s[0]),
            "propensity_reliability": reliability[_temperature_key(T)],
        }

    def _latent_map(self, latent: dict[str, np.ndarray]) -> dict[str, Any]:
        keys = list(latent)
        g = np.stack([latent[k] for k in keys], axis=1)  # (members, T, hidden)
        d = np.linalg.norm(g[:, :, None] - g[:, None, :], axis=-1)
        off = ~np.eye(len(keys), dtype=bool)
        d_norm = (d / d[:, off].mean(axis=1)[:, None, None]).mean(axis=0)
        train = sorted(float(t) for t in self.cfg.train_temperatures)
        pull = {}
        for i, k in enumerate(keys):
            T = float(k)
            if self.cfg.role(T) != "interpolated":
                continue
            lo, hi = max(t for t in train if t < T), min(t for t in train if t > T)
            ilo, ihi = keys.index(_temperature_key(lo)), keys.index(_temperature_key(hi))
            seg = g[:, ihi] - g[:, ilo]
            lam = np.sum((g[:, i] - g[:, ilo]) * seg, axis=1) / np.sum(seg * seg, axis=1)
            lam_T = (T - lo) / (hi - lo)
            nearest_is_lo = (T - lo) <= (hi - T)
            lam_mean = float(np.mean(lam))
            # > 0: the unseen temperature sits closer to its nearest trained one than its T says
            towards = (lam_T - lam_mean) if nearest_is_lo else (lam_mean - lam_T)
            pull[k] = {"bracket": [lo, hi], "lambda_T": lam_T, "lambda_latent": lam_mean,
                       "lambda_latent_members": lam.tolist(), "pull_toward_nearest": float(towards),
                       "distance_to_nearest_over_segment": float(np.mean(
                           np.linalg.norm(g[:, i] - g[:, ilo if nearest_is_lo else ihi], axis=1)
                           / np.linalg.norm(seg, axis=1)))}
        return {"temperatures": [float(k) for k in keys], "distance": d_norm.tolist(), "pull": pull}

    def _baseline(self, kind: str, members: list, sample: Any) -> dict[str, Any]:
        Tb = float(self.cfg.baseline_temperature)
        base = self._members(f"single-T{_temperature_key(Tb)}-{kind}")
        out = {}
        for name, mem in (("tbotan", members), ("single_temperature", base)):
            r_member, r_ens = [], []
            for f in self.files(Tb, self.split(Tb)[1]):
                s = sample(f)
                p = self._predict(mem, s)
                a = (s.types == 0).numpy()
                y = s.propensity.numpy()[a]
                r_member += [float(np.corrcoef(n[a], y)[0, 1]) for n in p["node"]]
                r_ens.append(float(np.corrcoef(p["node"].mean(axis=0)[a], y)[0, 1]))
            out[name] = {"pearson_per_snapshot": float(np.mean(r_member)), "pearson_ensemble": float(np.mean(r_ens))}
        out["temperature"] = Tb
        out["test_configurations"] = self.split(Tb)[1]
        out["ensemble_gap"] = out["single_temperature"]["pearson_ensemble"] - out["tbotan"]["pearson_ensemble"]
        return out

    # ------------------------------------------------------------------ shipping
    def ship(self, path: str | Path, inputs: str = "TS") -> dict[str, Any]:
        """Export the study's ``inputs`` T-BOTAN ensemble as one artifact and score it on the test configurations.

        The shipped model is exactly the one the study's held-out figures describe (trained on
        the training temperatures only), so its numbers need no separate run.
        """
        from glassmm.training.api import export_ensemble

        t0 = time.perf_counter()
        c = self.cfg
        if inputs not in c.inputs:
            raise ValueError(f"no {inputs} ensemble in this study (inputs {list(c.inputs)})")
        files = [f for T in c.train_temperatures for f in self.files(float(T), self.split(float(T))[0])]
        cks = []
        for m in range(c.n_members):
            wd = self.output / "models" / f"tbotan-{inputs}-m{m}"
            cks.append(wd / "best.pt" if (wd / "best.pt").exists() else wd / "checkpoint.pt")
        export_ensemble(cks, path, train_files=files, target="propensity at tau_alpha(T)",
                        training_temperatures=sorted(float(t) for t in c.train_temperatures),
                        tau_alpha_table={_temperature_key(e["temperature"]): e["tau_alpha"] for e in self.table["temperatures"]},
                        recipe="glassmm study temperature --ship (TemperatureStudy.ship)",
                        fs_at_target_time=(self.summary or {}).get("fs_at_target_time"))
        self._timed("ship", t0)
        res = self._evaluate_artifact(path)
        if self.summary is not None:
            self.summary["shipped"] = res
            self._write_summary()
        return res

    def _evaluate_artifact(self, path: str | Path) -> dict[str, Any]:
        """The exported artifact on every temperature's test configurations (never trained on)."""
        from glassmm.io import load_configuration
        from glassmm.models.artifact import load_model

        from glassmm.analysis.propensity import propensity

        pred = load_model(str(path))
        out = {"artifact": str(path)}
        for T in sorted(float(t) for t in self.cfg.temperatures):
            rs, ts = [], []
            for f in self.files(T, self.split(T)[1]):
                conf = load_configuration(f)
                p = pred(conf.positions, conf.box, conf.types)
                a = conf.types == 0
                y = propensity(conf.positions, conf.replica_positions)
                rs.append(float(np.corrcoef(p.propensity[a], y[a])[0, 1]))
                ts.append(p.temperature - T)
            out[_temperature_key(T)] = {"pearson": float(np.mean(rs)), "temperature_error": [float(x) for x in ts]}
        return out

    # ------------------------------------------------------------------ output
    def _write_summary(self) -> None:
        self.output.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.output / "summary.json", "w") as fh:
            json.dump(self.summary, fh, indent=1, default=float)

    def plot(self) -> list[Path]:
        """Write the study's figures next to summary.json; returns their paths."""
        from glassmm.analysis._plot import finish, pyplot

        if self.summary is None:
            self.summary = json.loads((self.output / "summary.json").read_text())
        plt = pyplot()
        res = self.summary["results"]
        kinds = list(res)
        paths: list[Path] = []

        def save(fig: Any, name: str) -> None:
            finish(fig, self.output / name)
            paths.append(self.output / name)

        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for kind in kinds:
            pt = res[kind]["per_temperature"]
            T = np.array([float(k) for k in pt])
            for ax, key, ls in ((axes[0], "pearson_ensemble", "-o"), (axes[0], "pearson_per_snapshot", ":x")):
                ax.plot(T, [pt[k][key] for k in pt], ls, label=f"{kind} {key.split('_', 1)[1].replace('_', ' ')}")
            axes[1].errorbar(T, [pt[k]["temperature_estimate_ensemble"] for k in pt],
                             yerr=[pt[k]["temperature_rmse_ensemble"] for k in pt], fmt="o", capsize=3, label=kind)
            b = res[kind].get("baseline")
            if b:
                axes[0].plot([b["temperature"]], [b["single_temperature"]["pearson_ensemble"]], "k*", ms=12)
        Tall = np.array([float(k) for k in self.summary["roles"]])
        axes[0].plot(Tall, [self.summary["propensity_reliability"][k] ** 0.5 for k in self.summary["roles"]], "k--",
                     lw=0.8, label="sqrt(reliability): ceiling")
        for ax in axes:
            for t in self.cfg.train_temperatures:
                ax.axvline(float(t), color="0.85", zorder=0)
        axes[0].set_xlabel("T"); axes[0].set_ylabel("Pearson (A), propensity at tau_alpha(T)")
        axes[0].set_title("grey: training T; star: model trained at that T"); axes[0].legend(fontsize=7)
        lim = [Tall.min() - 0.05, Tall.max() + 0.05]
        axes[1].plot(lim, lim, "k-", lw=0.8); axes[1].set_xlabel("true T"); axes[1].set_ylabel("T-BOTAN estimate")
        big = self.summary.get("thermometer_large_system")
        if big:
            for kind in kinds:
                ks = [k for k in big["per_temperature"] if kind in big["per_temperature"][k]]
                if not ks:
                    continue
                axes[1].errorbar([float(k) + 0.01 for k in ks],
                                 [float(k) + big["per_temperature"][k][kind]["temperature_bias"] for k in ks],
                                 yerr=[big["per_temperature"][k][kind]["temperature_rmse_ensemble"] for k in ks],
                                 fmt="s", mfc="none", capsize=3, label=f"{kind}, N = {big['n_particles']}")
        axes[1].set_title("structural thermometer (ensemble, bars: RMSE)"); axes[1].legend(fontsize=7)
        save(fig, "pearson_and_thermometer.png")

        fig, axes = plt.subplots(1, len(kinds), figsize=(4.5 * len(kinds), 4), squeeze=False)
        for ax, kind in zip(axes[0], kinds):
            lat = res[kind]["latent"]
            im = ax.imshow(np.asarray(lat["distance"]), cmap="viridis")
            labels = [f"{t:g}" + ("*" if self.cfg.role(t) == "train" else "") for t in lat["temperatures"]]
            ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
            ax.set_yticks(range(len(labels)), labels, fontsize=7)
            ax.set_title(f"{kind}: latent distance (* trained)")
            fig.colorbar(im, ax=ax, fraction=0.046)
        save(fig, "latent_distance.png")

        fields = getattr(self, "_fields", None)
        if fields:
            keys = [k for k in fields if self.cfg.role(float(k)) != "train"] or list(fields)
            fig, axes = plt.subplots(2, len(keys), figsize=(3.6 * len(keys), 6.5), squeeze=False)
            for j, k in enumerate(keys):
                f = fields[k]
                bins = np.linspace(-3, 5, 50)
                axes[0, j].hist(f["true"], bins, density=True, alpha=0.5, label="MD")
                axes[0, j].hist(f["pred"], bins, density=True, histtype="step", lw=1.5, label="T-BOTAN")
                axes[0, j].set_title(f"T = {k} ({self.cfg.role(float(k))})"); axes[0, j].set_xlabel("standardised propensity")
                axes[1, j].plot(f["s_true"]["q"], f["s_true"]["s"], "o-", label="MD")
                axes[1, j].plot(f["s_pred"]["q"], f["s_pred"]["s"], "s--", label="T-BOTAN")
                axes[1, j].set_xlabel("q"); axes[1, j].set_ylabel("$S_X(q)$ of propensity field")
            axes[0, 0].legend(); axes[1, 0].legend()
            fig.suptitle(f"{kinds[0]} inputs: distributions and field structure factors at held-out T")
            save(fig, "fields.png")

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        ta = self.summary["tau_alpha"]
        T = np.array([float(k) for k in ta])
        axes[0].semilogy(1 / T, [ta[k] for k in ta], "o-")
        axes[0].set_xlabel("1/T"); axes[0].set_ylabel("tau_alpha (glassmm MD, F_s(7.25) = 1/e)")
        fs = self.summary.get("fs_at_target_time")
        if fs:
            axes[1].plot([float(k) for k in fs], list(fs.values()), "o-", label="replicas at the target time")
            axes[1].axhline(np.exp(-1), color="k", lw=0.8, label="1/e")
            axes[1].set_xlabel("T"); axes[1].set_ylabel("F_s(7.25) of A"); axes[1].legend()
            axes[1].set_title("self-check: targets at tau_alpha?")
        save(fig, "tau_alpha.png")
        return paths


def _mean_pair_energies(sample: Any, kind: str) -> np.ndarray:
    """Mean pair energy per particle of the positions a ``kind`` model reads (TS+IS: both).

    The same per-particle energies BOTAN's encoders get (columns after the species one-hot),
    so the reference thermometer sees exactly the energy the network sees.
    """
    from glassmm.models.botan import BOTAN

    probe = BOTAN(hidden=4, n_steps=1, inputs=kind)  # featurize() has no weights
    x = probe.featurize(sample.positions.float(), sample.box.float(), sample.types,
                        None if kind == "TS" else sample.inherent.float())[0]
    n_e = 2 if kind == "TS+IS" else 1
    return x[:, 2:2 + n_e].double().mean(dim=0).numpy()


def _self_scattering(sample: Any, q: float = 7.25) -> float:
    """F_s(q) of A particles averaged over the replicas of one training sample."""
    from glassmm.analysis.dynamics import _self_scattering as isotropic_fs

    a = (sample.types == 0).numpy()
    d = np.linalg.norm(sample.replicas.numpy()[:, a] - sample.positions.numpy()[None, a], axis=-1)
    return float(isotropic_fs(d, q, 3).mean())


def _z(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, float)
    return (x - x.mean()) / (x.std() + 1e-30)
