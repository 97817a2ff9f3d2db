"""The temperature study's orchestration: stages, each resumable from the output folder."""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from glassmm.io import atomic_write
from glassmm.studies.temperature.config import TemperatureStudyConfig, temperature_key
from glassmm.studies.temperature.jobs import quench_one, train_member
from glassmm.studies.temperature.metrics import (
    latent_map,
    mean_pair_energies,
    propensity_metrics,
    replica_self_scattering,
    standardise,
)
from glassmm.studies.temperature.plots import plot_study


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
        self._map(quench_one, [(f, self.cfg.platform) for f in todo], "inherent structures")
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
                    name = f"single-T{temperature_key(Tb)}-{kind}-m{m}"
                    specs.append(dict(name=name, files=files_b, inputs=kind, seed=c.seed + m, epochs=epochs_b,
                                      pretrain_epochs=pre_b, lr=c.lr, hidden=c.hidden, n_steps=c.n_steps,
                                      workdir=str(self.output / "models" / name)))
        return specs

    def train(self) -> list[dict[str, Any]]:
        """Stage 3: every ensemble member, ``workers`` at a time (one torch thread each)."""
        t0 = time.perf_counter()
        res = self._map(train_member, self._member_specs(), "training members")
        self._timed("train", t0)
        self._train_log = res
        return res

    # ------------------------------------------------------------------ evaluation
    def _members(self, prefix: str) -> list[tuple[Any, dict]]:
        from glassmm.training.api import load_checkpoint

        out = []
        for m in range(self.cfg.n_members):
            wd = self.output / "models" / f"{prefix}-m{m}"
            ck = wd / "best.pt" if (wd / "best.pt").exists() else wd / "checkpoint.pt"
            if not ck.exists():
                raise FileNotFoundError(f"{ck}: member not trained; run the train stage")
            model, st = load_checkpoint(ck)
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
                fs.append(replica_self_scattering(s))
            reliability[temperature_key(T)] = float(np.mean(rel))
            fs_target[temperature_key(T)] = float(np.mean(fs))

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
                    sfx_p.accumulate(s.positions.numpy(), s.box.numpy(), s.types.numpy(), field=p["node"].mean(axis=0))
                    sfx_t.accumulate(s.positions.numpy(), s.box.numpy(), s.types.numpy(), field=s.propensity.numpy())
                    p["a"] = a
                per_T[temperature_key(T)] = propensity_metrics(T, c.role(T), preds, trues, sfx_p, sfx_t, reliability)
                per_T[temperature_key(T)]["energy_thermometer_rmse"] = reference[temperature_key(T)]
                latent[temperature_key(T)] = np.mean([p["global"] for p in preds], axis=0)
                if kind == c.inputs[0]:
                    self._fields[temperature_key(T)] = {
                        "pred": np.concatenate([standardise(p["node"].mean(axis=0)[p["a"]]) for p in preds]),
                        "true": np.concatenate([standardise(t) for t in trues]),
                        "s_pred": sfx_p.as_dict(), "s_true": sfx_t.as_dict()}
            results[kind] = {"per_temperature": per_T, "latent": latent_map(latent, c)}
            if c.baseline_temperature is not None:
                results[kind]["baseline"] = self._baseline(kind, members, sample)
            self._log(f"[study] evaluated {kind}")
        self._timed("evaluate", t0)
        self.summary = {
            "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(c).items()},
            "roles": {temperature_key(T): c.role(T) for T in temps},
            "split": {temperature_key(T): {"train": self.split(T)[0] if c.role(T) == "train" else [],
                                            "evaluated": self.eval_configs(T)} for T in temps},
            "tau_alpha": {temperature_key(e["temperature"]): e["tau_alpha"] for e in self.table["temperatures"]},
            "propensity_reliability": reliability,
            # self-check of the targets: F_s(7.25) of A over the replicas at the target time is
            # 1/e = 0.368 if tau_alpha was measured on the liquid the configurations come from
            "fs_at_target_time": fs_target,
            "tau_alpha_converged": {temperature_key(e["temperature"]): e.get("tau_alpha_converged")
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
                X.append(mean_pair_energies(sample(f), kind)); y.append(float(T))
        A = np.c_[np.asarray(X), np.ones(len(X))]
        w = np.linalg.lstsq(A, np.asarray(y), rcond=None)[0]
        self._energy_fit = getattr(self, "_energy_fit", {})
        self._energy_fit[kind] = w
        out = {}
        for T in sorted(float(t) for t in self.cfg.temperatures):
            est = [float(np.r_[mean_pair_energies(sample(f), kind), 1.0] @ w)
                   for f in self.files(T, self.eval_configs(T))]
            out[temperature_key(T)] = float(np.sqrt(np.mean(np.square(np.asarray(est) - T))))
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
        from glassmm.minimize import inherent_structure
        from glassmm.training.data import Sample

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
                ref = [float(np.r_[mean_pair_energies(s, kind), 1.0] @ w) for s in snaps]
                ens = est.mean(axis=1)
                row[kind] = {"temperature_rmse_per_snapshot": float(np.sqrt(np.mean((est - T) ** 2))),
                             "temperature_rmse_ensemble": float(np.sqrt(np.mean((ens - T) ** 2))),
                             "temperature_bias": float(np.mean(ens - T)),
                             "estimates_ensemble": ens.tolist(),
                             "energy_thermometer_rmse": float(np.sqrt(np.mean((np.asarray(ref) - T) ** 2)))}
            out["per_temperature"][temperature_key(T)] = row
        self._timed("thermometer", t0)
        self.summary["thermometer_large_system"] = out
        self._write_summary()
        return out

    def _baseline(self, kind: str, members: list, sample: Any) -> dict[str, Any]:
        Tb = float(self.cfg.baseline_temperature)
        base = self._members(f"single-T{temperature_key(Tb)}-{kind}")
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
                        tau_alpha_table={temperature_key(e["temperature"]): e["tau_alpha"] for e in self.table["temperatures"]},
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
            out[temperature_key(T)] = {"pearson": float(np.mean(rs)), "temperature_error": [float(x) for x in ts]}
        return out

    # ------------------------------------------------------------------ output
    def _write_summary(self) -> None:
        self.output.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.output / "summary.json", "w") as fh:
            json.dump(self.summary, fh, indent=1, default=float)


    def plot(self) -> list[Path]:
        """Write the study's figures next to summary.json; returns their paths."""
        if self.summary is None:
            self.summary = json.loads((self.output / "summary.json").read_text())
        return plot_study(self.summary, self.cfg, self.output, getattr(self, "_fields", None))

