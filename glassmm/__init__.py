"""glassmm: a hybrid ML/MD driver for glass-forming liquids, built around OpenMM.

The public namespace is flat (``glassmm.KobAndersen``, ``glassmm.load_configuration``, ...)
and lazy: ``import glassmm`` imports neither torch nor OpenMM until a name that needs them
is first used.
"""

from __future__ import annotations

import importlib
from typing import Any

from glassmm._version import __version__

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "units": "glassmm.units",
    "geometry": "glassmm.geometry",
    "KobAndersen": "glassmm.systems",
    "KobAndersen2D": "glassmm.systems",
    "ka_pair_energy": "glassmm.systems",
    "ka_pair_force": "glassmm.systems",
    "Configuration": "glassmm.io",
    "load_configuration": "glassmm.io",
    "save_configuration": "glassmm.io",
    "TrajectoryWriter": "glassmm.trajectory",
    "TrajectoryReporter": "glassmm.trajectory",
    "read_trajectory": "glassmm.trajectory",
    "dcd_reporter": "glassmm.trajectory",
    "restart": "glassmm.trajectory",
    "types_checksum": "glassmm.trajectory",
    "create_simulation": "glassmm.simulation",
    "make_integrator": "glassmm.simulation",
    "get_platform": "glassmm.platforms",
    "melt_and_quench": "glassmm.simulation",
    "potential_energy_per_particle": "glassmm.simulation",
    "maxwell_boltzmann_velocities": "glassmm.simulation",
    "run_isoconfigurational": "glassmm.isoconf",
    "fire_minimize": "glassmm.minimize",
    "inherent_structure": "glassmm.minimize",
    "cage_state": "glassmm.cage",
    "CageParameters": "glassmm.cage",
    "compute_cage_state": "glassmm.cage",
    "analysis": "glassmm.analysis",
    "BOTAN": "glassmm.models.botan",
    "TBOTAN": "glassmm.models.botan",
    "load_model": "glassmm.models.artifact",
    "export_torchscript": "glassmm.models.artifact",
    "bundled_models": "glassmm.models.artifact",
    "train_model": "glassmm.training.api",
    "evaluate_model": "glassmm.training.evaluate",
    "GlassReporter": "glassmm.reporters",
    "read_report": "glassmm.reporters",
    "load_predictor": "glassmm.backends",
    "list_backends": "glassmm.backends",
    "TemperatureStudy": "glassmm.studies.temperature",
    "TemperatureStudyConfig": "glassmm.studies.temperature",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'glassmm' has no attribute {name!r}")
    mod = importlib.import_module(module)
    value = mod if module.endswith("." + name) else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
