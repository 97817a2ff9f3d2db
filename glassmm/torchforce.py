"""The Kob-Andersen potential as a torch module, run inside OpenMM.

Two routes, so the KA simulation itself runs wherever torch runs:

* :func:`make_torch_force` -- an ``openmmtorch.TorchForce`` holding the TorchScript module
  (energy from the module, forces by autograd inside OpenMM's C++ plugin);
* :func:`make_python_force` -- an ``openmm.PythonForce`` (OpenMM >= 8.6) calling the eager
  module from Python each step (simplest to adapt to any torch device or backend).

Both replace the ``CustomNonbondedForce`` of :class:`glassmm.KobAndersen`; positions arrive
in nm = sigma_AA and the energy is in kJ/mol = epsilon_AA (see :mod:`glassmm.units`).
``openmmtorch`` links libtorch's CUDA libraries; it loads only after ``import torch``, which
this module does first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import vesin_torch

from glassmm.models.botan import pair_energy, pair_table_tensors


class KAPotential(torch.nn.Module):
    """Total pair energy (reduced = kJ/mol) from positions (N, 3) and box vectors (3, 3), nm.

    The pairs' epsilon, sigma, cutoff and shift come from a :class:`glassmm.potentials.PairTable`
    (default the Kob-Andersen table), held as buffers so the scripted module carries them.
    Computed in float64 whatever the input precision; pairs from vesin-torch (half list, the
    table's largest cutoff), pair vectors rebuilt from the periodic shifts so autograd gives forces.
    """

    def __init__(self, types: Any, table: Any = None) -> None:
        super().__init__()
        self.register_buffer("types", torch.as_tensor(np.asarray(types), dtype=torch.int64))
        eps, sig, rc, shift = pair_table_tensors(table)
        self.register_buffer("epsilon", eps)
        self.register_buffer("sigma", sig)
        self.register_buffer("cutoff", rc)
        self.register_buffer("shift", shift)
        self.max_cutoff = float(rc.max())

    def forward(self, positions: torch.Tensor, boxvectors: torch.Tensor) -> torch.Tensor:
        pos = positions.to(torch.float64)
        cell = boxvectors.to(torch.float64)
        nl = vesin_torch.NeighborList(cutoff=self.max_cutoff, full_list=False)
        i, j, S = nl.compute(pos.detach(), cell.detach(), True, "ijS")
        d = pos[j] - pos[i] + S.to(torch.float64) @ cell
        r = torch.linalg.norm(d, dim=1)
        pairs = torch.stack([i.to(torch.int64), j.to(torch.int64)])
        return pair_energy(self.types, pairs, r, self.epsilon, self.sigma, self.cutoff, self.shift).sum()


_PLUGINS_LOADED = False


def load_torch_plugins() -> list[str]:
    """Load openmm-torch's platform plugins now that libtorch is in the process.

    OpenMM loads plugins at ``import openmm``; when torch was not imported before that, the
    openmm-torch kernels failed to load silently and any Context with a TorchForce fails
    with "does not support all required kernels". Returns the libraries loaded.
    """
    global _PLUGINS_LOADED
    import os

    import openmm

    import openmmtorch  # noqa: F401  (after torch: needs libtorch's CUDA libraries)

    loaded: list[str] = []
    if _PLUGINS_LOADED:
        return loaded
    plugin_dir = os.path.join(openmm.version.openmm_library_path, "plugins")  # where import openmm looked
    if not os.path.isdir(plugin_dir):
        plugin_dir = openmm.Platform.getDefaultPluginsDirectory()
    failures = " ".join(openmm.Platform.getPluginLoadFailures())
    for name in sorted(os.listdir(plugin_dir)):
        if "Torch" in name and name.endswith(".so") and name in failures:
            try:
                openmm.Platform.loadPluginLibrary(os.path.join(plugin_dir, name))
                loaded.append(name)
            except Exception:  # e.g. the OpenCL plugin without libOpenCL: that platform stays off
                pass
    _PLUGINS_LOADED = True
    return loaded


def make_torch_force(types: Any) -> Any:
    """An ``openmmtorch.TorchForce`` computing the KA potential (periodic)."""
    load_torch_plugins()
    import openmmtorch

    module = torch.jit.script(KAPotential(types))
    force = openmmtorch.TorchForce(module)
    force.setUsesPeriodicBoundaryConditions(True)
    force.setName("KobAndersenTorch")
    return force


def make_python_force(types: Any, device: str = "cpu") -> Any:
    """An ``openmm.PythonForce`` calling the eager module (any torch device)."""
    import openmm

    from glassmm import units

    from glassmm.models.predictor import resolve_device

    dev = resolve_device(device)
    module = KAPotential(types).to(dev)

    def compute(state: Any) -> tuple[Any, Any]:
        # reduced units inside (sigma = nm, epsilon = kJ/mol): glassmm.units converts at the edge
        pos = torch.tensor(units.positions_from_openmm(state.getPositions(asNumpy=True)), device=dev, requires_grad=True)
        box = torch.tensor(units.positions_from_openmm(state.getPeriodicBoxVectors(asNumpy=True)), device=dev)
        energy = module(pos, box)
        (grad,) = torch.autograd.grad(energy, pos)
        return units.energy_to_openmm(float(energy.detach())), units.forces_to_openmm((-grad).cpu().numpy())

    force = openmm.PythonForce(compute)
    force.setUsesPeriodicBoundaryConditions(True)
    force.setName("KobAndersenPython")
    return force


def ka_system_with(ka: Any, route: str = "torch", device: str = "cpu") -> Any:
    """A copy of ``ka.system`` whose KA force is replaced by the torch route (``torch`` or ``python``).

    ``torch`` (openmm-torch) runs the module on the Context's own device (CUDA when the
    Context is on the CUDA platform, with ``openmm-torch-cuda-12``); ``python`` runs the eager
    module on ``device`` and hands OpenMM host arrays each step.
    """
    import openmm

    system = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(ka.system))
    for k in reversed(range(system.getNumForces())):
        if isinstance(system.getForce(k), openmm.CustomNonbondedForce):
            system.removeForce(k)
    if route == "torch":
        system.addForce(make_torch_force(ka.types))
    elif route == "python":
        system.addForce(make_python_force(ka.types, device))
    else:
        raise ValueError(f"route must be 'torch' or 'python'; got {route!r}")
    return system
