"""The model side of a report: a frame's propensity and temperature, with the structures its model reads.

:class:`FramePredictor` owns what the loaded predictor needs beyond a frame's positions: the
inherent structure / cage state its inputs name (computed per frame on the simulation's
platform, never cached: frames of a running simulation do not come back), the temperature a
cage state is computed at, and the accounting of failures (a model error or non-finite output
becomes NaN for that frame, counted, and raised only when ``strict``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from glassmm.structures import cage_temperature, needs_cage, structures_for

log = logging.getLogger("glassmm.reporter")


class FramePredictor:
    """Turns a frame into (propensity (N,) float32, temperature estimate), NaN where the model failed.

    Parameters
    ----------
    predictor : glassmm.models.predictor.Predictor
        A loaded model (any backend).
    strict : bool
        Re-raise model errors instead of counting them.
    """

    def __init__(self, predictor: Any, strict: bool = False) -> None:
        self.predictor, self.strict = predictor, strict
        self.inputs = predictor.metadata.get("inputs", "TS")
        self.platform = "auto"
        self.temperature: float | None = None
        self.model_errors = 0
        self.nonfinite_predictions = 0

    def bind(self, platform: str, temperature: float | None) -> None:
        """Where structures are computed, and the temperature of cage states (refused now, not per frame)."""
        self.platform = platform
        self.temperature = temperature
        if needs_cage(self.inputs):
            cage_temperature(self.temperature, self.predictor.metadata)

    def __call__(self, step: int, positions: np.ndarray, box: np.ndarray, types: np.ndarray) -> tuple[np.ndarray, float]:
        from glassmm.models.predictor import NonFiniteOutputError

        n = len(positions)
        try:
            if self.inputs == "TS":  # plugin predictors may take only the thermal positions
                pred = self.predictor(positions, box, types)
            else:
                st = structures_for(self.inputs, positions, types, box, temperature=self.temperature,
                                    metadata=self.predictor.metadata, platform=self.platform, cache=False)
                pred = self.predictor(positions, box, types, inherent_positions=st.inherent, cage_positions=st.cage)
            prop = np.asarray(pred.propensity, dtype=np.float32)
            t_est = float(pred.temperature) if pred.temperature is not None else float("nan")
            if not np.isfinite(prop).all() or (pred.temperature is not None and not np.isfinite(t_est)):
                # glassmm predictors raise this themselves; plugin predictors may not
                raise NonFiniteOutputError(f"model {getattr(self.predictor, 'name', '')!r} returned "
                                           f"non-finite output ({int((~np.isfinite(prop)).sum())} propensities)")
            return prop, t_est
        except NonFiniteOutputError as exc:
            self.nonfinite_predictions += 1
            log.error("step %d: %s", step, exc)
            if self.strict:
                raise
        except Exception as exc:
            self.model_errors += 1
            log.error("model failed at step %d: %s", step, exc)
            if self.strict:
                raise
        return np.full(n, np.nan, dtype=np.float32), float("nan")
