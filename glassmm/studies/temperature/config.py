"""The temperature study's parameters and presets (temperatures reduced, times in tau_alpha(T))."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence


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
    platform: str = "auto"
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


def temperature_key(T: float) -> str:
    return f"{float(T):.3f}"

