"""What every loaded model is to its callers: ``predictor(positions, box, types)`` -> :class:`Prediction`.

:class:`Predictor` holds what all backends share -- the metadata, the domain checks, the
inherent-structure and cage-state fallbacks for models reading them, tensor conversion on the way in and numpy
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


def resolve_device(device: Any) -> Any:
    """A ``torch.device``, refusing a CUDA (or MPS) device this machine does not have, with the reason.

    ``"auto"`` (or None) is ``cuda`` when torch sees a GPU, else ``cpu``.
    """
    import torch

    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown torch device {device!r} (try 'cpu' or 'cuda:0')") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = ("this torch build has no CUDA" if torch.version.cuda is None
                   else f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU")
            raise ValueError(f"device {device!r} requested but CUDA is not available: {why}; use device='cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} requested but MPS is not available; use device='cpu'")
    return dev


def refuse_options(backend: str, dtype: str | None, compile: bool | str, compile_hint: str) -> None:
    """Refuse, by name, options a float32-only backend without torch.compile cannot honour."""
    if dtype not in (None, "float32", "fp32"):
        raise ValueError(f"the {backend} backend runs the model in float32 only; dtype={dtype!r} "
                         "needs backend='torch' (eager, autocast)")
    if compile:
        raise ValueError(f"the {backend} backend cannot torch.compile; {compile_hint}")


class NonFiniteOutputError(RuntimeError):
    """The model returned NaN or infinity for an input that passed the domain checks."""


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
    Subclasses implement :meth:`_forward`. For models reading IS or CS those structures are
    computed (and cached) by :func:`glassmm.structures.structures_for` unless the caller passes them.
    """

    backend_name = ""

    def __init__(self, metadata: dict[str, Any], name: str = "", device: str = "cpu") -> None:
        self.metadata, self.name, self.device = metadata, name, resolve_device(device)

    @property
    def needs_inherent(self) -> bool:
        """True when the model reads inherent structures (inputs IS, TS+IS, IS+CS)."""
        from glassmm.structures import needs_inherent

        return needs_inherent(self.metadata.get("inputs", "TS"))

    @property
    def needs_cage(self) -> bool:
        """True when the model reads cage states (inputs CS, TS+CS, IS+CS)."""
        from glassmm.structures import needs_cage

        return needs_cage(self.metadata.get("inputs", "TS"))

    def record(self) -> dict[str, Any]:
        """What a prediction file should say about the model that made it (JSON-ready).

        The model (as asked for), its kind, the inputs it read (TS / IS / CS and the cage-state
        parameters), its target time, training temperatures, output units and glassmm version.
        """
        m = self.metadata
        out = {"model": self.name, "kind": m.get("kind"), "inputs": m.get("inputs"),
               "target_time": m.get("target_time"), "training_temperatures": m.get("training_temperatures"),
               "units": m.get("units"), "glassmm_version": m.get("glassmm_version"),
               "ensemble_size": m.get("ensemble_size", 1)}
        if m.get("cage"):
            out["cage"] = m["cage"]
        return out

    @property
    def has_temperature(self) -> bool:
        return "temperature" in self.metadata.get("outputs", [])

    #: refuse out-of-domain input (True) or only warn (False): see :mod:`glassmm.models.domain`
    strict_domain: bool = True

    def check_system(self, n_particles: int, types: np.ndarray, dimensions: int = 3,
                     positions: np.ndarray | None = None, box: np.ndarray | None = None) -> None:
        """Refuse systems the model was not made for (raises OutOfDomainError, a ValueError, naming the mismatch).

        With ``positions`` and ``box`` (reduced) the whole domain is checked (density, box size,
        overlaps); without them, what a system's size, composition and dimension tell.
        """
        from glassmm.models.domain import OutOfDomainError, check_domain, check_input, refuse, system_problems

        types = np.asarray(types)
        if len(types) != n_particles:
            raise OutOfDomainError(f"types has {len(types)} entries for {n_particles} particles")
        if positions is not None and box is not None:
            pos, b, t = check_input(positions, box, types)
            check_domain(self.metadata, self.name, pos, b, t, strict=self.strict_domain)
        else:
            refuse(system_problems(self.metadata, self.name, types, dimensions), self.strict_domain)

    def _tensors(self, positions: Any, box: Any, types: Any, inherent_positions: Any,
                 cage_positions: Any = None) -> tuple:
        """(positions, box, types, inherent or None, cage or None) as float32 / int64 tensors on the device."""
        import torch

        def t(x: Any, dtype: Any = torch.float32) -> Any:
            return torch.as_tensor(np.asarray(x), dtype=dtype, device=self.device)

        # types and box stay the same from frame to frame (a reporter's run): copy them to the
        # device once, so a report moves only the positions
        key = (np.asarray(types).tobytes(), np.asarray(box, dtype=np.float64).tobytes())
        cached = getattr(self, "_static", None)
        if cached is None or cached[0] != key:
            cached = self._static = (key, t(box), t(types, torch.int64))
        return (t(positions), cached[1], cached[2],
                None if inherent_positions is None else t(inherent_positions),
                None if cage_positions is None else t(cage_positions))

    def _forward(self, positions: Any, box: Any, types: Any, inherent: Any, cage: Any = None) -> tuple:
        """Run the model on tensors; returns (propensity, edge_index, edge_delta, temperature or None)."""
        raise NotImplementedError

    def _global_z(self, positions: Any, box: Any, types: Any, inherent: Any, cage: Any = None) -> np.ndarray | None:
        """T-BOTAN's standardised global statistics for the domain warning (None: not available)."""
        return None

    @staticmethod
    def _outputs(out: dict[str, Any]) -> tuple:
        """The ``_forward`` tuple from an artifact module's output dict."""
        return out["propensity"], out["edge_index"], out["edge_delta"], out.get("temperature")

    def __call__(self, positions: Any, box: Any, types: Any, inherent_positions: Any = None,
                 edges: bool = False, cage_positions: Any = None, temperature: float | None = None,
                 platform: str = "auto") -> Prediction:
        """Predict for one configuration.

        Parameters
        ----------
        positions : array (reduced) (N, 3)
        box : array (reduced) (3,)
        types : array of int (N,)
        inherent_positions : array (reduced) (N, 3), optional
            For models reading IS; quenched here (FIRE, cached) when not given.
        edges : bool
            Also return the graph's edges and their predicted change of pair distance.
        cage_positions : array (reduced) (N, 3), optional
            For models reading CS; computed here (:mod:`glassmm.cage`, with the model's cage
            parameters, cached) when not given.
        temperature : float (reduced), optional
            The configuration's temperature, for computing a cage state; the model's single
            training temperature when not given.
        platform : str
            OpenMM platform for computing missing structures.
        """
        import torch

        from glassmm.models.domain import check_domain, check_input, check_outputs

        pos, box, types = check_input(positions, box, types)
        check_domain(self.metadata, self.name, pos, box, types, strict=self.strict_domain)
        from glassmm.models.domain import check_temperature
        from glassmm.structures import structures_for

        check_temperature(self.metadata, self.name, temperature)

        given = [None if x is None else check_input(x, box, types)[0] for x in (inherent_positions, cage_positions)]
        st = structures_for(self.metadata.get("inputs", "TS"), pos, types, box, temperature=temperature,
                            inherent=given[0], cage=given[1], metadata=self.metadata, platform=platform)
        tensors = self._tensors(pos, box, types, st.inherent, st.cage)
        if st.cage is None:  # backends written before cage states take four arguments
            tensors = tensors[:4]
        with torch.no_grad():
            prop, edge_index, edge_delta, temp = self._forward(*tensors)
            global_z = self._global_z(*tensors) if self.has_temperature else None
        propensity = _numpy(prop)
        temperature = float(temp) if temp is not None else None
        if not np.all(np.isfinite(propensity)) or (temperature is not None and not np.isfinite(temperature)):
            raise NonFiniteOutputError(
                f"model {self.name!r} returned non-finite output for a finite, in-domain configuration "
                f"({int((~np.isfinite(propensity)).sum())} NaN/inf propensities, temperature {temperature})")
        check_outputs(self.metadata, self.name, temperature, global_z)
        return Prediction(
            propensity=propensity,
            temperature=temperature,
            edge_index=_numpy(edge_index, np.int64) if edges else None,
            edge_delta=_numpy(edge_delta) if edges else None,
        )
