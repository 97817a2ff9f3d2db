"""Inherent structures: FIRE minimisation inside OpenMM, on every platform.

FIRE (Bitzek, Koskinen, Gaehler, Moseler, Gumbsch, PRL 97, 170201 (2006)), in the
FIRE 2.0 arrangement of Guenole et al., Comput. Mater. Sci. 175, 109584 (2020): semi-implicit
Euler steps, velocity mixing v <- (1 - alpha) v + alpha |v| F/|F|, step growth after
``n_delay`` downhill steps, and on an uphill step (P = F.v <= 0) a half-step back, v = 0,
dt shrunk, alpha reset. It is written as an ``openmm.CustomIntegrator`` so the same code
runs on Reference, CPU, CUDA and OpenCL. Convergence is checked from Python every ``chunk``
steps on the largest per-particle force |F_i| (a max is not expressible inside the
integrator).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openmm

from glassmm import geometry
from glassmm.platforms import get_platform
from glassmm.simulation import get_forces, get_positions, potential_energy
from glassmm.systems import KobAndersen


def fire_integrator(
    dt_start: float = 0.005,
    dt_max: float = 0.05,
    dt_min: float = 1e-4,
    n_delay: int = 5,
    f_inc: float = 1.1,
    f_dec: float = 0.5,
    alpha_start: float = 0.1,
    f_alpha: float = 0.99,
) -> openmm.CustomIntegrator:
    """A FIRE 2.0 minimiser as a CustomIntegrator (all times reduced, tau).

    Parameters follow Guenole et al. (2020), Table 1, with dt_max = 10 dt_start.
    """
    ci = openmm.CustomIntegrator(dt_start)
    for name, value in [
        ("alpha", alpha_start), ("n_pos", 0.0), ("P", 0.0), ("vnorm", 0.0), ("fnorm", 0.0),
        ("dt_max", dt_max), ("dt_min", dt_min), ("uphill", 0.0), ("n_uphill", 0.0),
    ]:
        ci.addGlobalVariable(name, value)
    ci.addUpdateContextState()
    ci.addComputeSum("P", "f*v")
    ci.addComputeGlobal("uphill", "step(-P)")  # 1 when P <= 0
    # downhill: count and, after n_delay steps, accelerate
    ci.beginIfBlock("uphill < 0.5")
    ci.addComputeGlobal("n_pos", "n_pos + 1")
    ci.beginIfBlock(f"n_pos > {n_delay}")
    ci.addComputeGlobal("dt", "min(dt*" + repr(f_inc) + ", dt_max)")
    ci.addComputeGlobal("alpha", "alpha*" + repr(f_alpha))
    ci.endBlock()
    ci.endBlock()
    # uphill: step back half a step, stop, slow down
    ci.beginIfBlock("uphill > 0.5")
    ci.addComputeGlobal("n_pos", "0")
    ci.addComputeGlobal("n_uphill", "n_uphill + 1")
    ci.addComputeGlobal("dt", "max(dt*" + repr(f_dec) + ", dt_min)")
    ci.addComputeGlobal("alpha", repr(alpha_start))
    ci.addComputePerDof("x", "x - 0.5*dt*v")
    ci.addComputePerDof("v", "0")
    ci.endBlock()
    # semi-implicit Euler with FIRE mixing
    ci.addComputePerDof("v", "v + dt*f/m")
    ci.addComputeSum("vnorm", "v*v")
    ci.addComputeSum("fnorm", "f*f")
    ci.addComputePerDof("v", "(1 - alpha)*v + alpha*f*sqrt(vnorm/max(fnorm, 1e-300))")
    ci.addComputePerDof("x", "x + dt*v")
    return ci


@dataclass
class MinimizationResult:
    """Outcome of a minimisation (reduced units)."""

    positions: np.ndarray
    energy_per_particle: float
    initial_energy_per_particle: float
    max_force: float
    n_steps: int
    converged: bool


def fire_minimize(
    positions: np.ndarray,
    types: np.ndarray,
    box: np.ndarray,
    force_tolerance: float = 1e-3,
    max_steps: int = 100_000,
    platform: str = "auto",
    precision: str | None = "double",
    chunk: int = 200,
    dimensions: int | None = None,
    stall_chunks: int = 25,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 10,
) -> MinimizationResult:
    """Quench a configuration to its inherent structure with FIRE.

    Parameters
    ----------
    positions : ndarray (reduced) (N, 3)
    types : ndarray of int
    box : ndarray (reduced) (3,)
    force_tolerance : float (reduced force, epsilon/sigma)
        Converged when max_i |F_i| < force_tolerance. The CPU platform's single-precision
        forces cannot go much below 1e-3; use Reference (or a GPU in double) for tighter.
    max_steps : int
    platform : str
        Any OpenMM platform; ``precision`` applies to GPU platforms.
    stall_chunks : int
        Give up (``converged=False``) after this many chunks without a 1% drop of max|F|.
    dimensions : int, optional
        Kept for callers that pass it; 2D (all z = 0) and 3D run the same integrator.
    checkpoint : path, optional
        Save the minimiser's state here every ``checkpoint_every`` chunks; when the file
        exists (a killed quench of the same configuration and settings) continue from it, bit
        for bit on Reference. Another quench's checkpoint is refused by name.
    """
    pos = np.asarray(positions, dtype=float)
    # 2D needs nothing special: with every z = 0 the pair forces have no z component and
    # FIRE starts from rest, so particles stay in the plane (checked in tests/test_minimize.py).
    integ = fire_integrator()
    ctx, n = _ka_context(pos, types, box, integ, platform, precision)
    ctx.setVelocitiesToTemperature(0.0)
    e0 = potential_energy(ctx) / n
    steps, fmax, best, since_best = 0, np.inf, np.inf, 0
    signature = None
    if checkpoint is not None:
        from glassmm.io import load_checkpoint

        checkpoint = Path(checkpoint)
        signature = {"configuration": _checksum(pos, types, box), "force_tolerance": force_tolerance,
                     "max_steps": max_steps, "platform": platform, "precision": precision, "chunk": chunk,
                     "stall_chunks": stall_chunks}
        if checkpoint.exists():
            engine, progress = load_checkpoint(checkpoint)
            if progress.get("signature") != signature:
                old = progress.get("signature", {})
                differ = ", ".join(f"{k}: {old.get(k)!r} -> {v!r}" for k, v in signature.items() if old.get(k) != v)
                raise ValueError(f"{checkpoint} is the checkpoint of another quench ({differ}); remove it")
            ctx.loadCheckpoint(engine)
            # the integrator's step size and globals (FIRE's adaptive dt, alpha, counters) are not
            # all in OpenMM's checkpoint: restore them from ours, or the resumed quench takes another path
            integ.setStepSize(progress["step_size"])
            for i, value in enumerate(progress["globals"]):
                integ.setGlobalVariable(i, value)
            steps, best, since_best, e0 = progress["steps"], progress["best"], progress["since_best"], progress["e0"]
    while steps < max_steps:
        fmax = _max_force(ctx)
        if not np.isfinite(fmax):
            raise FloatingPointError("FIRE diverged: non-finite forces (overlapping particles?)")
        if fmax < force_tolerance:
            break
        # Stop when the force no longer falls: the platform's force noise floor is reached
        # (the CPU platform computes forces in single precision: max|F| stalls near 5e-4).
        if fmax < 0.99 * best:
            best, since_best = fmax, 0
        else:
            since_best += 1
            if since_best >= stall_chunks:
                break
        integ.step(chunk)
        steps += chunk
        if checkpoint is not None and (steps // chunk) % checkpoint_every == 0:
            from glassmm.io import save_checkpoint

            save_checkpoint(checkpoint, ctx.createCheckpoint(), {
                "signature": signature, "steps": steps, "best": best, "since_best": since_best, "e0": e0,
                "step_size": integ.getStepSize()._value if hasattr(integ.getStepSize(), "_value") else integ.getStepSize(),
                "globals": [integ.getGlobalVariable(i) for i in range(integ.getNumGlobalVariables())]})
    out = get_positions(ctx)
    return MinimizationResult(out, potential_energy(ctx) / n, e0, fmax, steps, fmax < force_tolerance)


def lbfgs_minimize(
    positions: np.ndarray,
    types: np.ndarray,
    box: np.ndarray,
    force_tolerance: float = 1e-3,
    max_iterations: int = 0,
    platform: str = "auto",
) -> MinimizationResult:
    """OpenMM's LocalEnergyMinimizer (L-BFGS), for comparison with FIRE.

    OpenMM's tolerance is on the RMS force (kJ/mol/nm = reduced force).
    """
    ctx, n = _ka_context(np.asarray(positions, dtype=float), types, box, openmm.VerletIntegrator(0.001), platform, "double")
    e0 = potential_energy(ctx) / n
    openmm.LocalEnergyMinimizer.minimize(ctx, force_tolerance, max_iterations)
    fmax = _max_force(ctx)
    return MinimizationResult(get_positions(ctx), potential_energy(ctx) / n, e0, fmax, -1, fmax < force_tolerance)


def _checksum(positions: np.ndarray, types: np.ndarray, box: np.ndarray) -> str:
    import hashlib

    h = hashlib.sha256()
    for a in (np.asarray(positions, dtype=np.float64), np.asarray(types, dtype=np.int64), np.asarray(box, dtype=np.float64)):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _ka_context(pos: np.ndarray, types: np.ndarray, box: np.ndarray, integrator: openmm.Integrator,
                platform: str, precision: str | None) -> tuple[openmm.Context, int]:
    """A Context of the KA system at ``pos`` with ``integrator`` (reduced units in)."""
    dims = geometry.infer_dimensions(pos)
    ka = KobAndersen(len(types), positions=pos, types=types, box=box, dimensions=dims)
    plat, props = get_platform(platform, precision)
    ctx = openmm.Context(ka.system, integrator, plat, props)
    ctx.setPositions(ka.positions)
    return ctx, ka.n_particles


def _max_force(ctx: openmm.Context) -> float:
    """Largest per-particle force magnitude (reduced)."""
    f = get_forces(ctx)
    return float(np.sqrt(np.max(np.einsum("ij,ij->i", f, f))))


def inherent_structure(positions: np.ndarray, types: np.ndarray, box: np.ndarray, platform: str = "auto",
                       cache: bool = True) -> np.ndarray:
    """FIRE inherent structure (reduced (N, 3)), cached on disk by a hash of positions, types and box.

    The cache lives in :func:`glassmm.io.cache_dir` ``("inherent")``, is bounded in size
    (:func:`glassmm.io.prune_cache`, least recently used entries go first) and a torn entry
    is recomputed; ``cache=False`` skips it.
    """
    from glassmm.io import cached_positions

    return cached_positions("inherent", positions, types, box,
                            lambda: fire_minimize(positions, types, box, force_tolerance=1e-3, platform=platform).positions,
                            cache=cache)
