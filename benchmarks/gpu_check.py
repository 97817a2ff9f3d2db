"""``make gpu-check``: every GPU figure glassmm promises, measured in one run on one GPU.

Progress goes to stderr; the last line of stdout is one JSON object. On a machine without
CUDA (OpenMM's CUDA platform or torch's GPU missing) it prints ``"cuda_available": false``
with the reason and exits 0.

Sections (each timed against ``--budget``, default 450 s, so the whole check stays under
8 minutes; a section that would not fit is reported as skipped, one that fails carries its
error instead of stopping the rest):

* ``parity``: KA energy and forces on the platform (mixed) against Reference (double);
* ``nve``: energy drift per particle per tau of NVE on the platform (mixed, dt = 0.005);
* ``md``: steps/s of KA through the glassmm-pairforce plugin and through the CustomNonbondedForce,
  and of a single-type NonbondedForce LJ (same N, density and cutoff;
  ``md_throughput.nonbonded_lj``) at N = 4096, 32768, 262144, interleaved; ``ratio`` is the
  plugin's over NonbondedForce's (target >= 0.8 at N = 32768; the custom force's, with the reason,
  where the plugin has no kernel for the platform);
* ``torchforce``: KA through openmm-torch (TorchForce) steps/s at N = 4096, and its ratio to
  the custom force;
* ``inference``: ms per frame of ``botan-ka-T0.44-ts`` at N = 4096 and 32768 (torch fp32,
  bf16, torchscript), the predictor call the reporter makes (target <= 20 ms at 4096);
* ``reporter``: MD steps/s with a GlassReporter (1 report / 1000 steps, the model on the
  device) over steps/s without, interleaved (target >= 0.95);
* ``tests``: ``pytest -m gpu`` (tests/test_gpu.py) summary.

``--platform CPU --device cpu --quick`` runs the same code on a CPU machine (a dry run of the
script, not GPU figures).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TARGETS = {"md_ratio_at_32768": 0.8, "reporter_ratio": 0.95, "inference_ms_at_4096": 20.0}


def say(msg: str) -> None:
    print(f"[gpu-check {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Budget:
    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter() + seconds

    @property
    def left(self) -> float:
        return self.end - time.perf_counter()


def section(out: dict, name: str, budget: Budget, need: float, fn: Callable[[], Any]) -> None:
    """Run one section if ``need`` seconds are left; record its result, its error or why it was skipped."""
    if budget.left < need:
        out[name] = {"skipped": f"time budget: {budget.left:.0f} s left, section needs about {need:.0f} s"}
        say(f"{name}: skipped (budget)")
        return
    t0 = time.perf_counter()
    say(f"{name}: start ({budget.left:.0f} s left)")
    try:
        out[name] = fn()
    except Exception as exc:  # one failing section must not hide the others' figures
        out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    out[name]["seconds"] = round(time.perf_counter() - t0, 1) if isinstance(out[name], dict) else None
    say(f"{name}: done in {time.perf_counter() - t0:.1f} s")


def liquid(n: int, platform: str, seed: int = 1, steps: int = 2000):
    """A KA liquid of n particles: lattice start, melted at T = 2 on the platform (cheap at any N)."""
    import glassmm
    from glassmm.simulation import create_simulation, get_positions, run

    ka = glassmm.KobAndersen(n, positions="lattice", seed=seed)
    sim = create_simulation(ka, "langevin", temperature=2.0, seed=seed, platform=platform, dt=0.002)
    run(sim, steps)
    ka.positions_reduced = get_positions(sim.context)
    return ka


def energy_forces(system, positions, platform: str, precision: str | None):
    import openmm

    from glassmm import units
    from glassmm.platforms import get_platform

    plat, props = get_platform(platform, precision)
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), plat, props)
    ctx.setPositions(positions)
    st = ctx.getState(energy=True, forces=True)
    return float(units.as_reduced_energy(st.getPotentialEnergy())), units.forces_from_openmm(st.getForces(asNumpy=True))


def parity(platform: str, n: int) -> dict:
    ka = liquid(n, platform)
    e_ref, f_ref = energy_forces(ka.system, ka.positions, "Reference", None)
    e, f = energy_forces(ka.system, ka.positions, platform, "mixed")
    return {"n_particles": n, "energy_rel_error": abs(e - e_ref) / abs(e_ref),
            "force_rel_error": float(np.linalg.norm(f - f_ref) / np.linalg.norm(f_ref)),
            "force_max_abs_error_over_max_force": float(np.abs(f - f_ref).max() / np.abs(f_ref).max()),
            "target": 1e-5}


def nve_drift(platform: str, n: int, steps: int) -> dict:
    import glassmm
    from glassmm.simulation import create_simulation, potential_energy, run

    ka = liquid(n, platform)
    sim = create_simulation(ka, "langevin", temperature=0.8, seed=2, platform=platform)
    run(sim, 2000)
    ka.positions_reduced = glassmm.simulation.get_positions(sim.context)
    v = glassmm.simulation.get_velocities(sim.context)
    sim = create_simulation(ka, "nve", temperature=0.8, platform=platform, precision="mixed", velocities=None)
    glassmm.simulation.set_velocities(sim.context, glassmm.geometry.zero_momentum(v))
    chunk, t, e = max(1, steps // 20), [], []
    for k in range(20):
        run(sim, chunk)
        ke = glassmm.units.as_reduced_energy(sim.context.getState(energy=True).getKineticEnergy())
        t.append((k + 1) * chunk * 0.005)
        e.append((potential_energy(sim.context) + ke) / n)
    slope = float(np.polyfit(t, e, 1)[0])
    return {"n_particles": n, "steps": 20 * chunk, "dt": 0.005, "precision": "mixed",
            "drift_per_particle_per_tau": slope, "energy_std_per_particle": float(np.std(e))}


def timed_steps(sim, seconds: float) -> float:
    """Steps/s over about ``seconds`` (getState is the synchronisation point: it waits for the GPU)."""
    sim.step(100)
    sim.context.getState(positions=True)
    n, t0 = 0, time.perf_counter()
    chunk = 200
    while time.perf_counter() - t0 < seconds:
        sim.step(chunk)
        n += chunk
        if n >= 4 * chunk:
            chunk *= 2
    sim.context.getState(positions=True)
    return n / (time.perf_counter() - t0)


def md_speed(platform: str, sizes: list[int], seconds: float, rounds: int = 2) -> dict:
    """KA steps/s through the glassmm-pairforce plugin and through the CustomNonbondedForce, and a
    single-type NonbondedForce LJ of the same N, density and cutoff, interleaved; ``ratio`` is the
    plugin's over NonbondedForce's (the custom force's when the plugin has no kernel here)."""
    import openmm
    import openmm.app as app
    import openmm.unit as u

    import glassmm
    from glassmm.platforms import get_platform
    from glassmm.simulation import create_simulation
    from md_throughput import nonbonded_lj

    try:
        import glassmm_pairforce

        plugin_here = glassmm_pairforce.platform_supported(platform)
        plugin_why = None if plugin_here else f"glassmm-pairforce has no {platform} kernel here " \
            f"(has: {', '.join(glassmm_pairforce.supported_platforms())})"
    except ImportError as exc:
        plugin_here, plugin_why = False, f"glassmm-pairforce not installed ({exc})"
    rows = {}
    for n in sizes:
        ka = liquid(n, platform, steps=500)
        sims = {}
        kinds = ("plugin", "custom") if plugin_here else ("custom",)
        for kind in kinds:
            k = glassmm.KobAndersen(n, positions=ka.positions_reduced, types=ka.types, box=ka.box, force=kind)
            sims[kind] = create_simulation(k, "langevin", temperature=1.0, platform=platform)
        integ = openmm.LangevinMiddleIntegrator(glassmm.units.temperature_to_kelvin(1.0), 1 / u.picosecond,
                                                0.005 * u.picosecond)
        plat, props = get_platform(platform)
        lj = app.Simulation(ka.topology, nonbonded_lj(ka), integ, plat, props)
        lj.context.setPositions(ka.positions)
        sims["nonbonded"] = lj
        rates = {k: [] for k in sims}
        for _ in range(rounds):  # interleaved, so drift in the machine hits all alike
            for k, sim in sims.items():
                rates[k].append(timed_steps(sim, seconds))
        med = {k: float(np.median(v)) for k, v in rates.items()}
        row = {"ka_custom_steps_per_s": med["custom"], "nonbonded_lj_steps_per_s": med["nonbonded"],
               "custom_ratio": med["custom"] / med["nonbonded"]}
        if plugin_here:
            row.update(ka_plugin_steps_per_s=med["plugin"], ratio=med["plugin"] / med["nonbonded"],
                       plugin_vs_custom=med["plugin"] / med["custom"])
        else:
            row.update(ratio=row["custom_ratio"], plugin=plugin_why)
        rows[str(n)] = row
        say(f"md N={n}: KA plugin {med.get('plugin', float('nan')):.0f}, custom {med['custom']:.0f}, NonbondedForce "
            f"{med['nonbonded']:.0f} steps/s; ratio {row['ratio']:.2f}")
        del sims, lj
    return rows


def torchforce_speed(platform: str, n: int, seconds: float) -> dict:
    import openmm
    import openmm.app as app
    import openmm.unit as u

    import glassmm
    from glassmm.platforms import get_platform
    from glassmm.simulation import create_simulation
    from glassmm.torchforce import ka_system_with

    ka = liquid(n, platform, steps=500)
    plat, props = get_platform(platform)
    integ = openmm.LangevinMiddleIntegrator(glassmm.units.temperature_to_kelvin(1.0), 1 / u.picosecond, 0.005 * u.picosecond)
    tf = app.Simulation(ka.topology, ka_system_with(ka, "torch"), integ, plat, props)
    tf.context.setPositions(ka.positions)
    custom = create_simulation(ka, "langevin", temperature=1.0, platform=platform)
    a, b = timed_steps(tf, seconds), timed_steps(custom, seconds)
    e_tf, f_tf = energy_forces(ka_system_with(ka, "torch"), ka.positions, platform, "double")
    e_c, f_c = energy_forces(ka.system, ka.positions, platform, "double")
    return {"n_particles": n, "torchforce_steps_per_s": a, "ka_custom_steps_per_s": b, "ratio": a / b,
            "energy_rel_diff_vs_custom": abs(e_tf - e_c) / abs(e_c),
            "force_max_abs_diff_over_max_force": float(np.abs(f_tf - f_c).max() / np.abs(f_c).max())}


def inference(platform: str, device: str, sizes: list[int], calls: int) -> dict:
    from glassmm.backends import get_backend

    out = {}
    for n in sizes:
        ka = liquid(n, platform, steps=300)
        row = {}
        for label, backend, opts in (("torch_fp32", "torch", {}), ("torch_bf16", "torch", {"dtype": "bfloat16"}),
                                     ("torchscript_fp32", "torchscript", {})):
            pred = get_backend(backend).load("botan-ka-T0.44-ts", device=device, **opts)
            for _ in range(3):
                pred(ka.positions_reduced, ka.box, ka.types)
            ts = []
            for _ in range(calls):
                t0 = time.perf_counter()
                pred(ka.positions_reduced, ka.box, ka.types)  # returns numpy: includes the device sync
                ts.append(time.perf_counter() - t0)
            row[f"{label}_ms"] = 1e3 * float(np.median(ts))
        out[str(n)] = row
        say(f"inference N={n}: {row}")
    return out


def reporter_ratio(platform: str, device: str, n: int, steps: int) -> dict:
    import tempfile

    import glassmm
    from glassmm.simulation import create_simulation

    ka = liquid(n, platform, steps=500)
    sim = create_simulation(ka, "langevin", temperature=1.0, platform=platform)
    with tempfile.TemporaryDirectory() as tmp:
        rep = glassmm.GlassReporter(Path(tmp) / "r.h5", 1000, model="botan-ka-T0.44-ts", device=device)
        rep.predictor(ka.positions_reduced, ka.box, ka.types)  # warm-up: first-call set-up is not throughput
        bare, with_rep = [], []
        for _ in range(2):  # interleaved
            sim.reporters.clear()
            bare.append(_steps(sim, steps))
            sim.reporters.append(rep)
            with_rep.append(_steps(sim, steps))
        sim.reporters.clear()
        rep.close()
        frames = rep.frames_written
    return {"n_particles": n, "report_interval": 1000, "steps_per_round": steps, "bare_steps_per_s": float(np.median(bare)),
            "reporter_steps_per_s": float(np.median(with_rep)), "ratio": float(np.median(with_rep) / np.median(bare)),
            "frames_written": frames, "model_device": device}


def _steps(sim, steps: int) -> float:
    sim.context.getState(positions=True)
    t0 = time.perf_counter()
    sim.step(steps)
    sim.context.getState(positions=True)
    return steps / (time.perf_counter() - t0)


def gpu_tests(timeout: float) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", str(HERE.parent / "tests")]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return {"error": f"pytest -m gpu ran past {timeout:.0f} s"}
    lines = [ln for ln in p.stdout.strip().splitlines() if ln.strip()]
    failed = [ln for ln in lines if ln.startswith("FAILED")]
    return {"returncode": p.returncode, "summary": lines[-1] if lines else p.stderr[-300:], "failed": failed[:10]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--platform", default="CUDA", help="OpenMM platform to check (CPU: a dry run of the script)")
    ap.add_argument("--device", default="cuda", help="torch device for the models")
    ap.add_argument("--budget", type=float, default=450.0, help="seconds for all sections together")
    ap.add_argument("--quick", action="store_true", help="small sizes and short timings (a dry run)")
    ap.add_argument("--no-tests", action="store_true", help="skip pytest -m gpu")
    args = ap.parse_args()
    os.environ.setdefault("GLASSMM_QUIET", "1")

    from glassmm.platforms import cuda_status

    status = cuda_status()
    out: dict[str, Any] = {"cuda_available": status["cuda_available"], "reason": status["reason"],
                           "device_name": status["device_name"], "platform": args.platform, "device": args.device}
    dry_run = args.platform.upper() != "CUDA"
    if not status["cuda_available"] and not dry_run:
        say(f"no CUDA here: {status['reason']}")
        print(json.dumps(out))
        return 0
    import openmm
    import torch

    out.update(openmm=openmm.__version__, torch=torch.__version__, torch_cuda=torch.version.cuda, dry_run=dry_run,
               quick=args.quick)
    budget = Budget(args.budget)
    q = args.quick
    sizes = [1000, 4096] if q else [4096, 32768, 262144]
    section(out, "parity", budget, 10, lambda: parity(args.platform, 1000 if q else 4096))
    section(out, "nve", budget, 10, lambda: nve_drift(args.platform, 1000 if q else 4096, 1000 if q else 20000))
    section(out, "md", budget, 30, lambda: md_speed(args.platform, sizes, 1.0 if q else 3.0))
    section(out, "torchforce", budget, 20, lambda: torchforce_speed(args.platform, 1000 if q else 4096, 1.0 if q else 3.0))
    section(out, "inference", budget, 20, lambda: inference(args.platform, args.device, [1000] if q else [4096, 32768],
                                                             3 if q else 20))
    section(out, "reporter", budget, 30, lambda: reporter_ratio(args.platform, args.device, 1000 if q else 4096,
                                                               2000 if q else 20000))
    if not args.no_tests:
        section(out, "tests", budget, 30, lambda: gpu_tests(max(30.0, budget.left - 5)))
    out["targets"] = TARGETS
    md = out.get("md", {})
    inf = out.get("inference", {})
    out["meets"] = {
        "md_ratio_at_32768": md.get("32768", {}).get("ratio", float("nan")) >= TARGETS["md_ratio_at_32768"] if "32768" in md else None,
        "reporter_ratio": out.get("reporter", {}).get("ratio", 0) >= TARGETS["reporter_ratio"] if "ratio" in out.get("reporter", {}) else None,
        "inference_ms_at_4096": inf.get("4096", {}).get("torchscript_fp32_ms", 1e9) <= TARGETS["inference_ms_at_4096"] if "4096" in inf else None,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
