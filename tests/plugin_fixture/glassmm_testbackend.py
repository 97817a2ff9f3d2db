"""A test plugin backend, registered through a real entry point (see test_reporter.py)."""

import time

import numpy as np


class SlowPredictor:
    metadata = {"inputs": "TS", "outputs": ["propensity", "temperature"], "kind": "test"}
    needs_inherent = False
    calls: list = []

    def __init__(self, delay: float, fail_on_call: int | None = None, nan_on_call: int | None = None) -> None:
        self.delay, self.fail_on_call, self.nan_on_call = delay, fail_on_call, nan_on_call

    def check_system(self, n, types, dimensions=3, positions=None, box=None):
        if dimensions != 3:
            raise ValueError("test backend: 3D only")

    def __call__(self, positions, box, types, inherent_positions=None, edges=False):
        from glassmm.models.artifact import Prediction

        SlowPredictor.calls.append(len(positions))
        if self.fail_on_call is not None and len(SlowPredictor.calls) == self.fail_on_call:
            raise RuntimeError("injected model failure")
        time.sleep(self.delay)
        # propensity = distance from the box centre: a deterministic function of the frame
        p = np.linalg.norm(np.asarray(positions) - np.asarray(box) / 2, axis=1)
        if self.nan_on_call is not None and len(SlowPredictor.calls) == self.nan_on_call:
            p = np.full_like(p, np.nan)
        return Prediction(propensity=p, temperature=float(np.mean(p)))


class TestBackend:
    name = "testslow"

    def is_available(self):
        return True

    def load(self, model, delay=0.0, fail_on_call=None, nan_on_call=None, **options):
        if model != "test-model":
            raise ValueError(f"test backend knows only 'test-model', not {model!r}")
        return SlowPredictor(float(delay), fail_on_call, nan_on_call)


class UnavailableBackend:
    name = "testnone"

    def is_available(self):
        return False

    def load(self, model, **options):
        raise AssertionError("never loaded")
