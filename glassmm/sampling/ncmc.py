"""Collective region jumps checked with MD: nonequilibrium candidate Monte Carlo (NCMC).

Nilmeier, Crooks, Minh & Chodera, PNAS 108, E1009 (2011). One attempt, for each of several
regions chosen independently (:mod:`regions`):

1. fresh Maxwell-Boltzmann velocities for the regions' active particles (members and shells;
   everything else is frozen: mask 0, so it neither moves nor exchanges heat);
2. **soften**: n steps, each a perturbation of ``lambda_soft`` (1 -> lambda_min, soft-core
   interactions of the members with everyone) followed by one masked BAOAB Langevin step;
3. **jump**: the members are displaced by d drawn from the region flow at the midpoint;
4. **restore**: the mirror image of 2 (propagate, then perturb lambda back to 1).

The protocol is a palindrome, so its reverse is the same protocol with the reverse jump -d
drawn at the midpoint x_m + d. Each region is accepted on its own with

    log alpha_j = -W_j / kT + log q(-d | x_m + d) - log q(d | x_m) + log P_j(region | x_end) - log P_j(region | x_0),

where W_j is the total work on region j's active particles: their energy change (potential,
including every interaction with the frozen rest, plus kinetic) minus the heat the O steps
gave them. That includes the protocol work of the lambda changes, the jump's energy change
and the integrator's shadow work, which makes the acceptance exact for a discretised
Langevin propagator (no dt bias). With zero steps the protocol is empty and the rule is plain
Metropolis-Hastings on the jump. Regions whose active particles stay farther apart than the
interaction cutoff do not interact through the whole protocol (the frozen particles between
them do not move), so their works and densities are separate and accepting each on its own is
a product of independent exact kernels; the attempt checks the separation at the start, the
midpoint (both sides of the jump) and the end, and rejects regions that came closer.

The protocol runs on a second context (same platform) whose checkpoint goes into the sampler's,
so a resumed run repeats exactly -- except on the Reference platform, which draws every
context's random numbers from one global generator that no single checkpoint restores.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import openmm
import torch

from glassmm import units
from glassmm.geometry import minimum_image
from glassmm.sampling.regions import FixedCentre, LatticeCentres, PropensityCentres, Region, RegionSelector
from glassmm.potentials import KA, PairTable
from glassmm.sampling.local_energy import LocalEnergy

LAMBDA = "lambda_soft"
SEPARATION_MARGIN = 0.5  # reduced length, beyond the cutoff between lattice zones at the start
SOFT = "soft"

def softcore_expression(table: PairTable) -> str:
    """The table's pairs with Beutler soft-core where a softened particle is involved.

    y = alpha (1 - lam) + (r / sig)^6 and U = 4 eps lam (1/y^2 - 1/y), shifted at the pair's
    own cutoff when the table shifts that pair; lam = 1 - (1 - lambda_soft) max(soft1, soft2),
    so lambda_soft = 1 is the table's potential exactly.
    """
    table.require_plain("the NCMC soft-core force")
    return (
        "step(rc - r) * 4*eps*lam*(1/(y*y) - 1/y - shon*(1/(yc*yc) - 1/yc));"
        "y = ssc + (r/sig)^6;"
        "yc = ssc + (rc/sig)^6;"
        "ssc = alpha_sc*(1 - lam);"
        f"lam = 1 - (1 - {LAMBDA})*max({SOFT}1, {SOFT}2);"
        + table.custom_nonbonded_definitions()
    )


@dataclass
class NCMCProtocol:
    """Soften-jump-restore protocol.

    Parameters
    ----------
    steps : int
        MD steps in each half (0: plain Metropolis-Hastings on the jump).
    lambda_min : float
        Interaction strength of the members at the midpoint (0 = switched off).
    dt : float (reduced time, tau)
    friction : float (reduced, 1/tau)
    alpha : float
        Soft-core parameter.
    """

    steps: int = 50
    lambda_min: float = 0.0
    dt: float = 0.005
    friction: float = 1.0
    alpha: float = 0.5

    def __post_init__(self) -> None:
        if self.steps < 0 or not 0.0 <= self.lambda_min <= 1.0 or not self.dt > 0 or self.friction < 0:
            raise ValueError(f"bad NCMC protocol {self}: steps >= 0, 0 <= lambda_min <= 1, dt > 0, friction >= 0")

    def schedule(self) -> np.ndarray:
        """lambda after each of the ``steps`` perturbations of the softening half."""
        k = np.arange(1, self.steps + 1)
        return 1.0 - (1.0 - self.lambda_min) * k / max(self.steps, 1)


def softened_system(system: openmm.System, alpha: float = 0.5, table: PairTable = KA) -> openmm.System:
    """A copy of ``system`` whose members can be softened (``soft`` = 1) by ``lambda_soft`` < 1.

    The pair force glassmm builds (named ``KobAndersen``, the compiled plugin's or the custom
    fallback) becomes the soft-core twin of ``table`` (:func:`softcore_expression`) with the
    same particles and cutoff; a force that already has a per-particle ``soft`` parameter and a
    ``lambda_soft`` global (a test potential) is kept. Anything else is refused: NCMC needs a
    way to soften.
    """
    copy = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(system))
    softenable = False
    for i in range(copy.getNumForces() - 1, -1, -1):
        f = copy.getForce(i)
        if isinstance(f, openmm.CustomNonbondedForce) and f.getName() == "KobAndersen":
            g = openmm.CustomNonbondedForce(softcore_expression(table))
            g.addPerParticleParameter("t")
            g.addPerParticleParameter(SOFT)
            g.addGlobalParameter(LAMBDA, 1.0)
            g.addGlobalParameter("alpha_sc", float(alpha))
            g.setNonbondedMethod(f.getNonbondedMethod())
            g.setCutoffDistance(f.getCutoffDistance())
            g.setUseSwitchingFunction(False)
            g.setUseLongRangeCorrection(False)
            for p in range(f.getNumParticles()):
                g.addParticle([f.getParticleParameters(p)[0], 0.0])
            for e in range(f.getNumExclusions()):
                g.addExclusion(*f.getExclusionParticles(e))
            g.setName("KobAndersenSoft")
            g.setForceGroup(f.getForceGroup())
            copy.removeForce(i)
            copy.addForce(g)
            softenable = True
        elif _soft_index(f) is not None:
            softenable = True
    if not softenable:
        raise ValueError("NCMC needs a softenable force: the KobAndersen force, or one with a per-particle "
                         f"'{SOFT}' parameter and a '{LAMBDA}' global parameter")
    return copy


def _soft_index(force: openmm.Force) -> int | None:
    if not hasattr(force, "getNumPerParticleParameters") or not hasattr(force, "getNumGlobalParameters"):
        return None
    names = [force.getPerParticleParameterName(k) for k in range(force.getNumPerParticleParameters())]
    globals_ = [force.getGlobalParameterName(k) for k in range(force.getNumGlobalParameters())]
    return names.index(SOFT) if SOFT in names and LAMBDA in globals_ else None


def ncmc_integrator(temperature: float, protocol: NCMCProtocol, seed: int) -> openmm.CustomIntegrator:
    """Masked BAOAB Langevin step that accumulates each degree of freedom's heat (kJ/mol).

    ``mask`` (per DOF) freezes everything outside the active zones; ``heat`` is the kinetic
    energy the O step put in, the only exchange with the bath, so total work = energy
    change - heat.
    """
    from glassmm.simulation import openmm_seed

    integ = openmm.CustomIntegrator(units.time_to_openmm(protocol.dt))
    h, g = protocol.dt, protocol.friction
    integ.addGlobalVariable("a", math.exp(-g * h))
    integ.addGlobalVariable("b", math.sqrt(1.0 - math.exp(-2.0 * g * h)))
    integ.addGlobalVariable("kT", units.thermal_energy_to_openmm(temperature))
    integ.addPerDofVariable("mask", 1.0)
    integ.addPerDofVariable("heat", 0.0)
    integ.addPerDofVariable("vold", 0.0)
    integ.addUpdateContextState()
    integ.addComputePerDof("v", "mask*(v + 0.5*dt*f/m)")
    integ.addComputePerDof("x", "x + 0.5*dt*v")
    integ.addComputePerDof("vold", "v")
    integ.addComputePerDof("v", "mask*(a*v + b*sqrt(kT/m)*gaussian)")
    integ.addComputePerDof("heat", "heat + 0.5*m*(v*v - vold*vold)")
    integ.addComputePerDof("x", "x + 0.5*dt*v")
    integ.addComputePerDof("v", "mask*(v + 0.5*dt*f/m)")
    integ.setRandomNumberSeed(openmm_seed(seed))
    return integ


def _has_compiled_pair_force(system: Any) -> bool:
    """Whether ``system`` holds the compiled glassmm-pairforce force (its XML tag names it)."""
    import openmm

    for force in system.getForces():
        if isinstance(force, openmm.CustomNonbondedForce) and "GlassmmPairTableForce" in openmm.XmlSerializer.serialize(force)[:400]:
            return True
    return False


class RegionNCMCMove:
    """Collective jumps of regions, each checked with an NCMC protocol and accepted on its own.

    Parameters
    ----------
    model : RegionFlowModel or HarmonicRegionProposal
        Joint density of the k members' displacements (``bound`` None: unbounded support).
    types : array of int (N,)
    box : array (reduced) (3,) or None
    selector : RegionSelector, optional
        Defaults to k = ``model.k`` with default widths.
    centres : LatticeCentres, PropensityCentres or FixedCentre, optional
        Defaults to a lattice whose spacing keeps zones a cutoff apart (periodic systems).
    protocol : NCMCProtocol, optional
    table : PairTable
        The system's pair potential (default Kob-Andersen 3D): the soft-core twin and the local
        energies are built from it.
    cutoff : float (reduced length), optional
        Interaction range, default the table's largest cutoff: active particles of different
        regions must stay farther apart.
    energy : {"auto", "local", "context"}
        How a region's energy change is computed. "local": from the table over the moved
        particles' pairs (:class:`~glassmm.sampling.local_energy.LocalEnergy`, O(k N) numpy, no
        call into OpenMM); "context": the simulation's context (O(N), any potential); "auto":
        context when the system's pair force is the compiled ``glassmm-pairforce`` plugin (an
        attempt measured 1.8-1.9x faster than with local sums at N = 500 and 4096:
        ``benchmarks/sampler_speedup.py --attempt-cost``), else local when the context's energy
        is the table's pair sum (checked at set-up), else context.
    """

    kind = "region"

    def __init__(self, model: Any, types: np.ndarray, box: np.ndarray | None, selector: RegionSelector | None = None,
                 centres: LatticeCentres | PropensityCentres | FixedCentre | None = None,
                 protocol: NCMCProtocol | None = None, table: PairTable = KA, cutoff: float | None = None,
                 energy: str = "auto") -> None:
        if energy not in ("auto", "local", "context"):
            raise ValueError(f"energy must be 'auto', 'local' or 'context'; got {energy!r}")
        self.model = model
        self.table, self.energy_mode = table, energy
        self.types = np.asarray(types, dtype=np.int64)
        self.box = None if box is None else np.asarray(box, dtype=np.float64)
        self.selector = selector if selector is not None else RegionSelector(model.k, box=self.box)
        if self.selector.k != model.k:
            raise ValueError(f"the selector draws k = {self.selector.k} particles; the model moves {model.k}")
        if self.box is not None and model.bound is not None and model.bound >= 0.5 * float(self.box.min()):
            raise ValueError(f"proposal bound {model.bound} must be below half the smallest box edge ({0.5 * self.box.min():.3f})")
        self.cutoff = float(table.max_cutoff if cutoff is None else cutoff)
        if centres is None:
            if self.box is None:
                centres = FixedCentre()
            else:
                centres = LatticeCentres(self.box, self.min_spacing)
        if isinstance(centres, LatticeCentres) and centres.spacing < self.min_spacing:
            raise ValueError(f"lattice spacing {centres.spacing} is below {self.min_spacing:.3f} = 2 x zone radius "
                             f"{self.selector.zone_radius} + cutoff {self.cutoff} + {SEPARATION_MARGIN}: regions would interact")
        self.centres = centres
        self.protocol = protocol if protocol is not None else NCMCProtocol()
        self.kind = f"region{model.k}-ncmc{self.protocol.steps}"
        self._local: LocalEnergy | None = None
        self._ready = False
        self.energy_source = energy
        self._context: openmm.Context | None = None
        self._pending_checkpoint: bytes | None = None

    @property
    def min_spacing(self) -> float:
        """Smallest lattice spacing: zones start a cutoff plus ``SEPARATION_MARGIN`` apart.

        A member can still jump or diffuse towards another zone; the attempt checks the
        separation and rejects regions that came closer than the cutoff.
        """
        return 2.0 * self.selector.zone_radius + self.cutoff + SEPARATION_MARGIN

    # ------------------------------------------------------------------ the NCMC context
    def _setup(self, thermodynamic_state: Any, engine: Any, x0: np.ndarray) -> None:
        sim_context = engine.context
        mode = self.energy_mode
        if mode == "auto" and _has_compiled_pair_force(sim_context.getSystem()):
            mode = "context"
        if mode != "context":
            local = LocalEnergy(self.table, self.types, self.box)
            ok, why = local.matches(sim_context, x0)
            if ok:
                self._local = local
            elif mode == "local":
                raise ValueError(f"energy='local' needs the system's energy to be the table's pair sum: {why}")
        self.energy_source = "local" if self._local is not None else "context"
        if self.protocol.steps == 0:  # plain MH never runs the protocol: no second context
            return
        system = softened_system(sim_context.getSystem(), self.protocol.alpha, self.table)
        self._integrator = ncmc_integrator(thermodynamic_state.temperature, self.protocol, engine.seed + 7919)
        platform = sim_context.getPlatform()
        props = {}
        if platform.getName() == "CPU":
            props = {"Threads": platform.getPropertyValue(sim_context, "Threads")}
        self._context = openmm.Context(system, self._integrator, platform, props)
        self._context.setPeriodicBoxVectors(*sim_context.getState().getPeriodicBoxVectors())
        self._soft_forces = [(system.getForce(i), _soft_index(system.getForce(i)))
                             for i in range(system.getNumForces()) if _soft_index(system.getForce(i)) is not None]
        self._n = system.getNumParticles()
        if self._pending_checkpoint is not None:  # resuming: the protocol's random state continues
            self._context.loadCheckpoint(self._pending_checkpoint)
            self._pending_checkpoint = None

    def _set_soft(self, members: np.ndarray) -> None:
        flag = np.zeros(self._n)
        flag[members] = 1.0
        for f, k in self._soft_forces:
            external = isinstance(f, openmm.CustomExternalForce)  # terms are (particle, parameters)
            for p in range(f.getNumParticles()):
                got = f.getParticleParameters(p)
                particle, params = (got[0], list(got[1])) if external else (p, list(got))
                if params[k] != flag[particle]:
                    params[k] = flag[particle]
                    f.setParticleParameters(*((p, particle, params) if external else (p, params)))
            f.updateParametersInContext(self._context)

    def checkpoint_state(self) -> bytes | None:
        """The protocol context's checkpoint (integrator random state included), or None before the first attempt."""
        return None if self._context is None else self._context.createCheckpoint()

    def restore_checkpoint(self, blob: bytes) -> None:
        if self._context is None:
            self._pending_checkpoint = blob
        else:
            self._context.loadCheckpoint(blob)

    # ------------------------------------------------------------------ one attempt
    def region_work(self, delta_potential: float, delta_kinetic: float, heat: float) -> float:
        """Total work (reduced energy) on a region's active particles over the protocol.

        Their potential energy change (every interaction with the frozen rest included) plus
        their kinetic energy change, minus the heat the Langevin O steps gave them: the protocol
        work of the lambda changes, the jump's energy change and the integrator's shadow work
        together, which makes the acceptance exact for the discretised propagator.
        """
        return delta_potential + delta_kinetic - heat

    def _energy_change(self, engine: Any, x0: np.ndarray, energy0: float, y: np.ndarray, moved: np.ndarray) -> tuple[float, float]:
        """(U(y) - U(x0), U(y)) for y = x0 with ``moved`` changed; U(y) is NaN when energy0 is unknown."""
        if self._local is not None:
            du = self._local.delta(x0, y, moved)
            return du, energy0 + du
        if not math.isfinite(energy0):
            raise ValueError("energy='context' region moves need the chain's potential energy")
        e = engine.potential_energy(y)
        return e - energy0, e

    def apply(self, thermodynamic_state: Any, sampler_state: Any, engine: Any) -> list[dict[str, Any]]:
        """One attempt: choose regions, run one protocol for all of them, accept each on its own.

        ``sampler_state`` (a :class:`~glassmm.sampling.moves.SamplerState`) moves on to the
        accepted regions; its potential energy is needed only with context energies. Returns one
        record per region. With local energies the engine's context is never touched.
        """
        from glassmm.simulation import get_positions, set_velocities

        t_start = time.perf_counter()
        x0 = np.asarray(sampler_state.positions, dtype=np.float64)
        if not self._ready:
            self._setup(thermodynamic_state, engine, x0)
            self._ready = True
        if self._local is None:  # context energies need the chain's own
            engine.ensure_energy(sampler_state)
        energy0 = sampler_state.potential_energy
        ctx, prot, kT = self._context, self.protocol, thermodynamic_state.temperature
        rng, gen = engine.rng, engine.generator
        regions: list[Region] = [self.selector.draw(x0, c, lc, rng) for c, lc in self.centres.draw(x0, rng)]
        active = np.zeros(len(x0), dtype=bool)
        for r in regions:
            active[r.active] = True
        members = np.concatenate([r.members for r in regions])
        t_sel = time.perf_counter()

        # state of the protocol context: x0, fresh velocities on the active particles only
        m = engine.masses
        v0 = rng.normal(size=x0.shape) * np.sqrt(kT / m)[:, None] * active[:, None]
        lambdas = prot.schedule()
        if len(lambdas):  # plain MH (no steps) never touches the protocol context
            self._set_soft(members)
            ctx.setParameter(LAMBDA, 1.0)
            ctx.setPositions(units.length_to_openmm(x0))
            set_velocities(ctx, v0)
            mask = [openmm.Vec3(1.0, 1.0, 1.0) if a else openmm.Vec3(0.0, 0.0, 0.0) for a in active]
            self._integrator.setPerDofVariableByName("mask", mask)
            self._integrator.setPerDofVariableByName("heat", [openmm.Vec3(0.0, 0.0, 0.0)] * len(x0))
        for lam in lambdas:  # soften: perturb, then propagate
            ctx.setParameter(LAMBDA, float(lam))
            self._integrator.step(1)
        t_md1 = time.perf_counter()

        # the jump, drawn at the midpoint
        xm = get_positions(ctx) if len(lambdas) else x0
        jumps, log_qf = [], []
        xm2 = xm.copy()
        for r in regions:
            c = self.model.context(xm, self.types, self.box, r.centre, r.members)
            d, lq = self.model.sample(c, gen)
            d = d.numpy()
            jumps.append(d)
            log_qf.append(float(lq))
            xm2[r.members] += d
        t_prop1 = time.perf_counter()
        if len(lambdas):
            ctx.setPositions(units.length_to_openmm(xm2))
        for lam in np.concatenate([lambdas[::-1][1:], [1.0]]) if len(lambdas) else []:  # restore: propagate, then perturb
            self._integrator.step(1)
            ctx.setParameter(LAMBDA, float(lam))
        if len(lambdas):
            state = ctx.getState(positions=True, velocities=True)
            x_end = units.positions_from_openmm(state.getPositions(asNumpy=True))
            v_end = units.velocities_from_openmm(state.getVelocities(asNumpy=True))
            heat = units.as_reduced_energy(np.asarray(self._integrator.getPerDofVariableByName("heat"), dtype=np.float64)
                                           * openmm.unit.kilojoule_per_mole)
        else:  # plain Metropolis-Hastings: no dynamics, no heat
            x_end, v_end, heat = xm2, v0, np.zeros_like(v0)
        t_md3 = time.perf_counter()

        # reverse densities: the proposal at x_m + d for -d, the region choice at x_end
        log_qr, log_sel_r = [], []
        for r, d in zip(regions, jumps):
            c = self.model.context(xm2, self.types, self.box, r.centre, r.members)
            with torch.no_grad():
                log_qr.append(float(self.model.log_prob(torch.as_tensor(-d), c)))
            log_sel_r.append(self.selector.log_prob(x_end, r, self.centres))
        t_prop2 = time.perf_counter()

        # per-region total work; energies of the true potential (local pairs, or the simulation's context)
        separated = _zones_separated(regions, [x0, xm, xm2, x_end], self.box, self.cutoff)
        works, d_u, e_region = [], [], []
        for j, r in enumerate(regions):
            y = x0.copy()
            y[r.active] = x_end[r.active]
            du, e_new = self._energy_change(engine, x0, energy0, y, r.active)
            dk = 0.5 * float((m[r.active, None] * (v_end[r.active] ** 2 - v0[r.active] ** 2)).sum())
            works.append(self.region_work(du, dk, float(heat[r.active].sum())))
            d_u.append(du)
            e_region.append(e_new)
        x_new = x0
        records = []
        for j, r in enumerate(regions):
            log_alpha = -works[j] / kT + log_qr[j] - log_qf[j] + log_sel_r[j] - r.log_prob
            if not separated[j]:
                log_alpha = -math.inf
            ok = log_alpha > -math.inf and math.log(rng.uniform()) < log_alpha  # no draw for -inf or NaN
            if ok:
                if x_new is x0:
                    x_new = x0.copy()
                x_new[r.active] = x_end[r.active]
            records.append({
                "kind": self.kind, "n_moved": int(len(r.members)), "n_active": int(len(r.active)),
                "protocol_steps": prot.steps, "work_kT": works[j] / kT, "delta_energy_kT": d_u[j] / kT,
                "log_q_forward": log_qf[j], "log_q_reverse": log_qr[j],
                "log_region_forward": r.log_prob, "log_region_reverse": log_sel_r[j],
                "log_alpha": log_alpha, "check": None if separated[j] else "zones interacted",
                "accepted": ok, "max_displacement": float(np.sqrt((jumps[j] ** 2).sum(1)).max()),
                "rms_displacement": float(np.sqrt((jumps[j] ** 2).sum(1).mean())),
                "energy_old": energy0, "energy_new": e_region[j], "energy_source": self.energy_source,
            })
        # separated regions do not interact, so the energy changes of the accepted ones add up
        if x_new is not x0:
            sampler_state.positions = x_new
            sampler_state.potential_energy = energy0 + sum(d_u[j] for j, rec in enumerate(records) if rec["accepted"])
        if prot.steps:
            # the protocol drew the active zone's velocities afresh and its work counted them: a
            # Gibbs step, so the chain's velocities are redrawn either way
            sampler_state.velocities = engine.fresh_velocities(kT)
        # plain MH moves positions only and pi(x, v) = pi(x) phi(v): the chain keeps its velocities,
        # so the MD between attempts stays MD (redrawing them every cycle acts as extra friction)
        t_end = time.perf_counter()
        engine.clock("proposal_s", (t_sel - t_start) + (t_prop1 - t_md1) + (t_prop2 - t_md3))
        engine.clock("ncmc_md_s", (t_md1 - t_sel) + (t_md3 - t_prop1))
        engine.clock("energy_s", t_end - t_prop2)
        share = (t_end - t_start) / max(len(records), 1)
        for rec in records:
            rec["wall_s"] = share
        return records


def _zones_separated(regions: list[Region], snapshots: list[np.ndarray], box: np.ndarray | None, cutoff: float) -> list[bool]:
    """For each region: were its active particles farther than ``cutoff`` from every other region's, at every snapshot?"""
    ok = [True] * len(regions)
    for a in range(len(regions)):
        for b in range(a + 1, len(regions)):
            ia, ib = regions[a].active, regions[b].active
            for x in snapshots:
                d = x[ia][:, None, :] - x[ib][None, :, :]
                if box is not None:
                    d = minimum_image(d, box)
                if (d * d).sum(-1).min() < cutoff**2:
                    ok[a] = ok[b] = False
                    break
    return ok
