"""ODE-defined proposal densities for particle displacements, and the flow-matching CNF.

A proposal model gives, for each moved particle i with context h_i (see :mod:`features`), a
density over its displacement d_i in (-a, a)^3 over a long lag. Particles are independent given
the context of the configuration they start from, so the Jacobian of the flow is block-diagonal
with 3 x 3 blocks and its divergence is exact and cheap (no Hutchinson estimator): this is what
lets the sampler use the proposal density in an exact Metropolis-Hastings ratio.

The map from a base sample to a displacement is

    z ~ N(0, lambda^2 I)  --ODE s: 0->1-->  y  --(x scale_species)-->  u  --(a tanh(u / a))-->  d

where lambda is the proposal's ``base_scale`` (1 at training; larger proposes bolder jumps).
The tanh keeps every displacement inside (-a, a) with a below half the box, so the minimum
image of x' - x is d itself and the reverse of a jump is exactly -d. log q(d) follows by the
change of variables; the ODE is integrated by torchdiffeq's adaptive dopri5 in float64 with
tight tolerances (the density is that of the continuous flow; the solver error, measured by
round trips in the tests, is far below the Monte Carlo noise).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

LOG_2PI = math.log(2.0 * math.pi)


def _log_dtanh(x: torch.Tensor) -> torch.Tensor:
    """log(1 - tanh(x)^2), stable for large |x|."""
    return 2.0 * (math.log(2.0) - x - nn.functional.softplus(-2.0 * x))


class PerParticleField(nn.Module):
    """MLP f(y_i, s, h_i) -> R^3 applied to every particle independently.

    Parameters
    ----------
    n_features : int
        Context features per particle.
    hidden, layers : int
        Width and number of hidden layers.
    """

    def __init__(self, n_features: int, hidden: int = 64, layers: int = 3, time_frequencies: int = 4) -> None:
        super().__init__()
        self.register_buffer("frequencies", torch.arange(1, time_frequencies + 1, dtype=torch.float64) * math.pi)
        dims = [3 + 1 + 2 * time_frequencies + n_features] + [hidden] * layers
        mods: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            mods += [nn.Linear(a, b), nn.SiLU()]
        mods.append(nn.Linear(dims[-1], 3))
        self.net = nn.Sequential(*mods).to(torch.float64)

    def forward(self, y: torch.Tensor, s: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        s = s.to(y.dtype).reshape(-1, 1).expand(y.shape[0], 1)
        ang = s * self.frequencies
        return self.net(torch.cat([y, s, torch.sin(ang), torch.cos(ang), h], dim=-1))


class ODEProposalModel(nn.Module):
    """Base class: conditional displacement density defined by an ODE velocity field.

    Subclasses implement :meth:`velocity` (the field in flow time s, base at s = 0, data at
    s = 1) and :meth:`loss` (the training objective on pre-squash targets y).

    Parameters
    ----------
    n_features : int
        Context features per particle.
    bound : float (reduced length)
        Every displacement component lies in (-bound, bound); keep it below half the box.
    hidden, layers : int
        Size of the per-particle network.
    rtol, atol : float
        dopri5 tolerances.
    """

    kind = "ode"

    def __init__(
        self,
        n_features: int,
        bound: float = 1.5,
        hidden: int = 64,
        layers: int = 3,
        n_species: int = 2,
        rtol: float = 1e-6,
        atol: float = 1e-8,
    ) -> None:
        super().__init__()
        self.config: dict[str, Any] = dict(n_features=n_features, bound=bound, hidden=hidden, layers=layers, n_species=n_species)
        self.field = PerParticleField(n_features, hidden, layers)
        self.register_buffer("feature_mean", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("feature_std", torch.ones(n_features, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(n_species, dtype=torch.float64))
        self.bound = float(bound)
        self.rtol, self.atol = rtol, atol
        self.base_scale = 1.0
        self.nfe = 0  # velocity evaluations so far (cost diagnostics)

    # --- to implement -------------------------------------------------------------------
    def velocity(self, y: torch.Tensor, s: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, y: torch.Tensor, h: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    # --- shared machinery ---------------------------------------------------------------
    def normalise(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.feature_mean) / self.feature_std

    def to_latent(self, d: torch.Tensor, types: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Displacements -> (y, log|du/dd| + log|dy/du| summed per particle)."""
        a = self.bound
        ratio = d / a
        if bool((ratio.abs() >= 1.0).any()):
            raise ValueError(f"displacement component outside the proposal's support (-{a}, {a})")
        x = torch.atanh(ratio)
        u = a * x
        sc = self.scale[types].unsqueeze(-1)
        y = u / sc
        # log p_d = log p_u - sum log(1 - tanh^2); log p_u = log p_y - 3 log scale
        return y, -_log_dtanh(x).sum(-1) - 3.0 * torch.log(sc.squeeze(-1))

    def _divergence(self, y: torch.Tensor, s: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Velocity (M, 3) and the exact trace of its 3 x 3 per-particle Jacobian (M,).

        Particles are independent, so three stacked copies of the batch and one backward pass
        give the diagonal: copy k contributes d v_k / d y_k of every particle.
        """
        m = y.shape[0]
        with torch.enable_grad():
            yy = y.detach().repeat(3, 1).requires_grad_(True)
            v = self.velocity(yy, s, h.repeat(3, 1))
            pick = torch.zeros_like(v)
            for k in range(3):
                pick[k * m : (k + 1) * m, k] = 1.0
            (grad,) = torch.autograd.grad((v * pick).sum(), yy)
        div = (grad * pick).sum(-1).reshape(3, m).sum(0)
        return v[:m].detach(), div.detach()

    def _integrate(self, y0: torch.Tensor, h: torch.Tensor, s0: float, s1: float) -> tuple[torch.Tensor, torch.Tensor]:
        from glassmm._lazy import require

        odeint = require("torchdiffeq", "torchdiffeq").odeint

        def rhs(s: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
            self.nfe += 1
            return self._divergence(state[0], s, h)

        ts = torch.tensor([s0, s1], dtype=torch.float64)
        acc0 = torch.zeros(y0.shape[0], dtype=torch.float64)
        with torch.no_grad():
            ys, accs = odeint(rhs, (y0, acc0), ts, method="dopri5", rtol=self.rtol, atol=self.atol)
        return ys[-1], accs[-1]

    def _log_base(self, z: torch.Tensor) -> torch.Tensor:
        lam = self.base_scale
        return -0.5 * (z / lam).pow(2).sum(-1) - 3.0 * (0.5 * LOG_2PI + math.log(lam))

    @torch.no_grad()
    def sample(
        self, features: torch.Tensor, types: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw one displacement per particle.

        Parameters
        ----------
        features : Tensor (M, F)
            Raw context features of the moved particles (normalised here).
        types : Tensor of int (M,)

        Returns
        -------
        d : Tensor float64 (reduced length) (M, 3)
        log_q : Tensor float64 (M,)
            log density of each particle's displacement (per sigma^3).
        """
        h = self.normalise(features.to(torch.float64))
        z = torch.randn(h.shape[0], 3, dtype=torch.float64, generator=generator) * self.base_scale
        y, int_div = self._integrate(z, h, 0.0, 1.0)
        sc = self.scale[types].unsqueeze(-1)
        x = y * sc / self.bound
        d = self.bound * torch.tanh(x)
        log_q = self._log_base(z) - int_div - 3.0 * torch.log(sc.squeeze(-1)) - _log_dtanh(x).sum(-1)
        return d, log_q

    @torch.no_grad()
    def log_prob(self, d: torch.Tensor, features: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """log q(d_i | h_i) per particle (M,); -inf where d leaves the support."""
        d = d.to(torch.float64)
        out = torch.full((d.shape[0],), -math.inf, dtype=torch.float64)
        inside = (d.abs() < self.bound).all(-1)
        if not bool(inside.any()):
            return out
        h = self.normalise(features.to(torch.float64))[inside]
        y, log_jac = self.to_latent(d[inside], types[inside])
        z, neg_int_div = self._integrate(y, h, 1.0, 0.0)  # integrating back gives -int div
        out[inside] = self._log_base(z) + neg_int_div + log_jac
        return out

    def latent_targets(self, d: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """Training targets y for displacements (clipped just inside the support)."""
        a = self.bound
        d = d.clamp(-a * (1 - 1e-6), a * (1 - 1e-6))
        return a * torch.atanh(d / a) / self.scale[types].unsqueeze(-1)


class FlowProposalModel(ODEProposalModel):
    """Continuous normalizing flow trained by conditional flow matching (linear paths).

    The field v(y, s, h) regresses y_1 - z along y_s = (1 - s) z + s y_1 with z ~ N(0, I):
    simulation-free training whose ODE then carries N(0, I) onto the displacement law.
    """

    kind = "cnf"

    def velocity(self, y: torch.Tensor, s: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.field(y, s, h)

    def loss(self, y: torch.Tensor, h: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn(y.shape, dtype=y.dtype, generator=generator)
        s = torch.rand(y.shape[0], 1, dtype=y.dtype, generator=generator)
        ys = (1.0 - s) * z + s * y
        return (self.field(ys, s, h) - (y - z)).pow(2).sum(-1).mean()
