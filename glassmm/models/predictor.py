"""What every loaded model is to its callers: ``predictor(positions, box, types)`` -> :class:`Prediction`.

:class:`Predictor` holds what all backends share -- the metadata, the domain checks, the
inherent-structure fallback for IS / TS+IS models, tensor conversion on the way in and numpy
on the way out. A backend's predictor subclasses it and implements only :meth:`Predictor._forward`
(the TorchScript artifact, eager torch, a ``torch.export`` program, ONNX Runtime, ...), so the
storage format can change behind one interface (TorchScript is deprecated upstream).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Prediction:
    """Per-particle propensity (reduced length) and, for T-BOTAN, the temperature (reduced)."""

    propensity: np.ndarray
    temperature: float | None
    edge_index: np.ndarray | None = None
    edge_delta: np.ndarray | None = None


def _numpy(x: Any, dtype: Any = np.float64) -> np.ndarray:
    """A tensor or array as a numpy array on the host."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        x = x.double() if dtype == np.float64 else x
        return x.numpy()
    return np.asarray(x, dtype=dtype)


class Predictor:
    """A loaded model: ``predictor(positions, box, types)`` -> :class:`Prediction`.

    Parameters
    ----------
    metadata : dict
        The model's metadata (inputs, outputs, architecture, normalisation, ...).
    name : str
        What the caller asked for (bundled name or path), used in messages.
    device : str
        Torch device the inputs are moved to.

    Notes
    -----
    Subclasses implement :meth:`_forward`. For IS / TS+IS models the inherent structure is
    computed with FIRE (and cached) unless the caller passes it.
    """

    backend_name = ""

    def __init__(self, metadata: dict[str, Any], name: str = "", device: str = "cpu") -> None:
        import torch

        self.metadata, self.name, self.device = metadata, name, torch.device(device)

    @property
    def needs_inherent(self) -> bool:
        return self.metadata.get("inputs", "TS") != "TS"

    @property
    def has_temperature(self) -> bool:
        return "temperature" in self.metadata.get("outputs", [])

    def check_system(self, n_particles: int, types: np.ndarray, dimensions: int = 3) -> None:
        """Refuse systems the model was not made for (raises ValueError naming the mismatch)."""
        types = np.asarray(types)
        if len(types) != n_particles:
            raise ValueError(f"types has {len(types)} entries for {n_particles} particles")
        if dimensions != 3:
            raise ValueError(f"model {self.name!r} was trained on 3D Kob-Andersen; system is {dimensions}D")
        if not np.all(np.isin(types, (0, 1))):
            raise ValueError(f"model {self.name!r} knows types 0 (A) and 1 (B) only")
        frac = float(np.mean(types == 0))
        if abs(frac - 0.8) > 0.05:
            raise ValueError(f"model {self.name!r} was trained on KA 80:20; this system has {frac:.0%} A")

    def _tensors(self, positions: Any, box: Any, types: Any, inherent_positions: Any) -> tuple:
        """(positions, box, types, inherent or None) as float32 / int64 tensors on the device."""
        import torch

        def t(x: Any, dtype: Any = torch.float32) -> Any:
            return torch.as_tensor(np.asarray(x), dtype=dtype, device=self.device)

        return (t(positions), t(box), t(types, torch.int64),
                None if inherent_positions is None else t(inherent_positions))

    def _forward(self, positions: Any, box: Any, types: Any, inherent: Any) -> tuple:
        """Run the model on tensors; returns (propensity, edge_index, edge_delta, temperature or None)."""
        raise NotImplementedError

    @staticmethod
    def _outputs(out: dict[str, Any]) -> tuple:
        """The ``_forward`` tuple from an artifact module's output dict."""
        return out["propensity"], out["edge_index"], out["edge_delta"], out.get("temperature")

    def __call__(self, positions: Any, box: Any, types: Any, inherent_positions: Any = None,
                 edges: bool = False) -> Prediction:
        """Predict for one configuration.

        Parameters
        ----------
        positions : array (reduced) (N, 3)
        box : array (reduced) (3,)
        types : array of int (N,)
        inherent_positions : array (reduced) (N, 3), optional
            For IS / TS+IS models; quenched here when not given.
        edges : bool
            Also return the graph's edges and their predicted change of pair distance.
        """
        import torch

        pos = np.asarray(positions, dtype=np.float64)
        if self.needs_inherent and inherent_positions is None:
            from glassmm.minimize import inherent_structure

            inherent_positions = inherent_structure(pos, np.asarray(types), np.asarray(box, float))
        with torch.no_grad():
            prop, edge_index, edge_delta, temp = self._forward(*self._tensors(pos, box, types, inherent_positions))
        return Prediction(
            propensity=_numpy(prop),
            temperature=float(temp) if temp is not None else None,
            edge_index=_numpy(edge_index, np.int64) if edges else None,
            edge_delta=_numpy(edge_delta) if edges else None,
        )
