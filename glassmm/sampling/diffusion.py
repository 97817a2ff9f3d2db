"""A diffusion proposal model with an exact density through its probability-flow ODE.

Trained by denoising score matching on a variance-preserving SDE (beta linear from beta_min to
beta_max over t in [0, 1]); the network predicts the noise eps(y_t, t, h). Ancestral sampling
gives no tractable density, so proposals are drawn by integrating the probability-flow ODE
from t = 1 down to t_min = 0.01, a deterministic map whose density the shared ODE machinery
of :class:`glassmm.sampling.flows.ODEProposalModel` evaluates exactly. Flow time s = 0 is
diffusion time t = 1.

The noise prediction is parameterised as eps = sigma_t (y_t + F(y_t, t, h)): F = 0 is the exact
answer for unit-Gaussian data, so an untrained or weakly trained network gives a tame ODE
(velocity -beta/2 F) instead of one dominated by eps / sigma_t as sigma_t -> 0.
"""

from __future__ import annotations

import torch

from glassmm.sampling.flows import ODEProposalModel


class DiffusionProposalModel(ODEProposalModel):
    """VP-SDE denoising model sampled through its probability-flow ODE."""

    kind = "diffusion"
    beta_min, beta_max, t_min = 0.1, 20.0, 0.01

    def _beta(self, t: torch.Tensor) -> torch.Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def _alpha_sigma(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_alpha = -0.5 * (self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t)
        alpha = torch.exp(log_alpha)
        return alpha, torch.sqrt(-torch.expm1(2.0 * log_alpha))

    def velocity(self, y: torch.Tensor, s: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        t = 1.0 - s * (1.0 - self.t_min)
        # PF-ODE dy/dt = -beta/2 (y + score), score = -eps / sigma = -(y + F); ds = -dt / (1 - t_min)
        return -(1.0 - self.t_min) * 0.5 * self._beta(t) * self.field(y, t, h)

    def loss(self, y: torch.Tensor, h: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        t = self.t_min + (1.0 - self.t_min) * torch.rand(y.shape[0], 1, dtype=y.dtype, generator=generator)
        alpha, sigma = self._alpha_sigma(t)
        eps = torch.randn(y.shape, dtype=y.dtype, generator=generator)
        yt = alpha * y + sigma * eps
        return (sigma * (yt + self.field(yt, t, h)) - eps).pow(2).sum(-1).mean()
