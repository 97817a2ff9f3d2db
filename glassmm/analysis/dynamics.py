"""Self dynamics: MSD, F_s(q, t), overlap Q(t), non-Gaussian parameter, chi_4(t), tau_alpha."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from glassmm import geometry
from glassmm.analysis.base import ComputeObject, select_species


def self_scattering(r: np.ndarray, q: float, dimensions: int) -> np.ndarray:
    """Isotropic average of cos(q . dr): sin(qr)/(qr) in 3D, J0(qr) in 2D."""
    if dimensions == 2:
        from scipy.special import j0

        return j0(q * r)
    return np.sinc(q * r / np.pi)  # numpy's sinc is sin(pi x)/(pi x)


def self_displacements(displacements: np.ndarray, types: np.ndarray | None = None, species: int | None = None,
                       remove_drift: bool = True) -> np.ndarray:
    """Displacements (R, N_sel, 3) of the particles of ``species``, centre-of-mass drift removed.

    The drift is the mean displacement of *all* particles (equal masses), taken out before the
    species is selected: under Langevin dynamics the centre of mass diffuses with
    D = kT / (N m gamma), which at N = 500, T = 0.6 halves the overlap's 1/e time
    (8.1 tau raw against 18.5 tau drift-free), so every observable here is drift-free by default.

    Parameters
    ----------
    displacements : array (reduced length) (R, N, 3) or (N, 3)
    types : array of int (N,), optional
    species : int or None
        0 = A, 1 = B, None = all particles.
    remove_drift : bool
    """
    dr = np.asarray(displacements, dtype=np.float64)
    if dr.ndim == 2:
        dr = dr[None]
    if remove_drift:
        dr = geometry.subtract_drift(dr)
    return dr[:, select_species(types, dr.shape[1], species)]


def overlap_field(displacements: np.ndarray, a: float = 0.3, types: np.ndarray | None = None,
                  species: int | None = None, remove_drift: bool = True) -> np.ndarray:
    """w_i = [|dr_i| < a] (R, N_sel) for the drift-free displacements of ``species``: the one overlap.

    Every overlap in glassmm (:class:`SelfDynamics`' Q and chi_4, the four-point structure
    factor, :func:`glassmm.analysis.decorrelation.overlap_vs_lag`) is built from this field.
    """
    dr = self_displacements(displacements, types, species, remove_drift)
    return np.einsum("rnk,rnk->rn", dr, dr) < a * a


def overlap(displacements: np.ndarray, a: float = 0.3, types: np.ndarray | None = None,
            species: int | None = None, remove_drift: bool = True) -> np.ndarray:
    """Self-overlap Q = mean_i w_i per sample (R,), drift-free, of ``species`` (see :func:`overlap_field`)."""
    return overlap_field(displacements, a, types, species, remove_drift).mean(axis=1)


class SelfDynamics(ComputeObject):
    """Self-part dynamics of one species, accumulated over samples at each lag time.

    A *sample* is one set of displacements at one lag time: a replica of an
    isoconfigurational ensemble, a time origin of a trajectory, or one report of a running
    simulation. Averages run over samples; chi_4 is the sample variance of the overlap.

    Parameters
    ----------
    q : float (reduced, 1/sigma_AA)
        Wavenumber of F_s; 7.25 is the first peak of S_AA(q) for KA at density 1.2.
    overlap_a : float (reduced length)
        Overlap cutoff a: w_i = 1 if |dr_i| < a.
    species : int or None
        0 = A, 1 = B, None = all particles.
    dimensions : int
    remove_drift : bool
        Subtract the centre-of-mass displacement of all particles (equal masses) from every
        sample first (default): a drifting liquid decays F_s without relaxing.

    Attributes (after accumulating)
    ----------
    times, msd, fs, overlap, alpha2, chi4, n_samples : ndarray
    """

    def __init__(self, q: float = 7.25, overlap_a: float = 0.3, species: int | None = 0, dimensions: int = 3,
                 remove_drift: bool = True) -> None:
        self.q, self.overlap_a, self.species, self.dimensions = q, overlap_a, species, dimensions
        self.remove_drift = bool(remove_drift)
        self.reset()

    def reset(self) -> "SelfDynamics":
        self._acc: dict[float, np.ndarray] = defaultdict(lambda: np.zeros(6))
        self._n_sel: int | None = None
        return self

    def accumulate(self, positions: np.ndarray, box: np.ndarray | None = None, types: np.ndarray | None = None, *,
                   reference: np.ndarray, time: float) -> "SelfDynamics":
        """Add samples at lag ``time`` (reduced, tau): positions (N, 3) or (R, N, 3) against ``reference`` (N, 3).

        ``box`` is not needed (positions are unwrapped) and accepted for the common convention.
        """
        pos = np.asarray(positions, dtype=np.float64)
        ref = np.asarray(reference, dtype=np.float64)
        if pos.ndim == 2:
            pos = pos[None]
        if pos.shape[1:] != ref.shape:
            raise ValueError(f"positions {pos.shape} do not match reference {ref.shape}")
        return self._add(pos - ref[None], types, time)

    def _add(self, displacements: np.ndarray, types: np.ndarray | None, time: float) -> "SelfDynamics":
        """Add samples given as displacements (R, N, 3) of all particles at lag ``time``."""
        dr = self_displacements(displacements, types, self.species, self.remove_drift)
        r2 = np.einsum("rnk,rnk->rn", dr, dr)
        r = np.sqrt(r2)
        Q = (r2 < self.overlap_a * self.overlap_a).mean(axis=1)  # = overlap(...), without a second pass
        acc = self._acc[round(float(time), 10)]
        acc += [
            len(dr),
            r2.mean(axis=1).sum(),
            (r2 * r2).mean(axis=1).sum(),
            self_scattering(r, self.q, self.dimensions).mean(axis=1).sum(),
            Q.sum(),
            (Q * Q).sum(),
        ]
        self._n_sel = int(dr.shape[1])
        return self

    def compute(self, frames: np.ndarray, box: np.ndarray | None = None, types: np.ndarray | None = None, *,
                times: np.ndarray, max_origins: int | None = None, n_lags: int = 40) -> "SelfDynamics":
        """Multiple-time-origin average over an unwrapped trajectory (F, N, 3) at equally spaced ``times`` (tau).

        Every frame is a time origin unless ``max_origins`` thins them (faster, noisier: 20
        origins moved tau_alpha by 1.6-4.5 % against all of them on the same frames, which is
        why all is the default). Lags are ``n_lags`` log-spaced frame counts.
        """
        self.reset()
        pos = np.asarray(frames, dtype=np.float64)
        if len(times) != len(pos):
            raise ValueError(f"times has {len(times)} entries for {len(pos)} frames")
        times = np.asarray(times, dtype=float)
        if len(times) < 2:
            raise ValueError("a trajectory needs at least 2 frames")
        spacing = np.diff(times)
        if not np.allclose(spacing, spacing[0], rtol=1e-6, atol=1e-12):
            raise ValueError("compute needs equally spaced times; accumulate() takes any lags")
        lags = np.unique(np.round(np.geomspace(1, len(times) - 1, min(n_lags, len(times) - 1))).astype(int))
        step = 1 if max_origins is None else max(1, (len(times) - 1) // int(max_origins))
        chunk = max(1, int(2e7 // max(1, pos[0].size)))  # origins per batch: ~160 MB of displacements
        for lag in lags:
            origins = np.arange(0, len(times) - lag, step)
            for k in range(0, len(origins), chunk):
                o = origins[k:k + chunk]
                self._add(pos[o + lag] - pos[o], types, float(times[lag] - times[0]))
        return self

    def compute_isoconf(self, files: Iterable[str | Path]) -> "SelfDynamics":
        """Average over the replicas of isoconfigurational files (one lag time per file)."""
        from glassmm.io import load_configuration

        self.reset()
        for f in files:
            c = load_configuration(f)
            if c.replica_positions is None or "time" not in c.extra:
                raise ValueError(f"{f}: not an isoconfigurational file (needs 'positions' and 'time')")
            self.accumulate(c.replica_positions, c.box, c.types, reference=c.positions, time=float(c.extra["time"]))
        return self

    # ------------------------------------------------------------------ state (resumable runs)
    def state(self) -> dict[str, np.ndarray]:
        """The raw accumulators: ``times`` (L,), ``sums`` (L, 6) and ``n_selected``; see :meth:`load_state`."""
        ts, a = self._table() if self._acc else (np.zeros(0), np.zeros((0, 6)))
        return {"times": ts, "sums": a, "n_selected": np.int64(-1 if self._n_sel is None else self._n_sel)}

    def load_state(self, times: np.ndarray, sums: np.ndarray, n_selected: int) -> "SelfDynamics":
        """Continue from :meth:`state` (e.g. as stored in a report file): later samples add to these."""
        self.reset()
        sums = np.asarray(sums, dtype=np.float64)
        if sums.shape != (len(times), 6):
            raise ValueError(f"accumulator sums must have shape ({len(times)}, 6); got {sums.shape}")
        for t, row in zip(np.asarray(times, dtype=float), sums):
            self._acc[round(float(t), 10)] = row.copy()
        self._n_sel = None if int(n_selected) < 0 else int(n_selected)
        return self

    # ------------------------------------------------------------------ results
    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._acc:
            raise RuntimeError("no samples accumulated yet")
        ts = np.array(sorted(self._acc))
        return ts, np.stack([self._acc[t] for t in ts])

    @property
    def times(self) -> np.ndarray:
        return self._table()[0]

    @property
    def n_samples(self) -> np.ndarray:
        return self._table()[1][:, 0].astype(int)

    def _mean(self, col: int) -> np.ndarray:
        _, a = self._table()
        return a[:, col] / a[:, 0]

    @property
    def msd(self) -> np.ndarray:
        return self._mean(1)

    @property
    def fs(self) -> np.ndarray:
        return self._mean(3)

    @property
    def overlap(self) -> np.ndarray:
        return self._mean(4)

    @property
    def alpha2(self) -> np.ndarray:
        d = self.dimensions
        r2, r4 = self._mean(1), self._mean(2)
        return d * r4 / ((d + 2) * r2**2) - 1.0

    @property
    def chi4(self) -> np.ndarray:
        """N_sel (<Q^2> - <Q>^2), with <.> over samples (nan where only one sample)."""
        _, a = self._table()
        q, q2 = a[:, 4] / a[:, 0], a[:, 5] / a[:, 0]
        var = (q2 - q * q) * a[:, 0] / np.maximum(a[:, 0] - 1, 1)  # unbiased
        return np.where(a[:, 0] > 1, self._n_sel * var, np.nan)

    @property
    def tau_alpha(self) -> float:
        return tau_alpha(self.times, self.fs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "q": self.q, "overlap_a": self.overlap_a, "species": self.species,
            "times": self.times.tolist(), "n_samples": self.n_samples.tolist(),
            "msd": self.msd.tolist(), "fs": self.fs.tolist(), "overlap": self.overlap.tolist(),
            "alpha2": self.alpha2.tolist(), "chi4": [None if np.isnan(x) else float(x) for x in self.chi4],
            "tau_alpha": None if np.isnan(self.tau_alpha) else self.tau_alpha,
        }

    def plot(self, path: str | Path | None = None):
        """Four panels: MSD, F_s, non-Gaussian parameter, chi_4 against time (log axes)."""
        from glassmm.analysis._plot import LAG_LABEL, MSD_LABEL, finish, log_ticks, pyplot, species_label

        plt = pyplot()
        fig, axes = plt.subplots(2, 2, figsize=(9, 7))
        t = self.times
        who = species_label(self.species)
        axes[0, 0].loglog(t, self.msd, "o-"); axes[0, 0].set_ylabel(f"{MSD_LABEL} ({who})")
        log_ticks(axes[0, 0], "y")
        axes[0, 1].semilogx(t, self.fs, "o-", label=rf"$F_s(q = {self.q:g}\,\sigma^{{-1}}, t)$")
        axes[0, 1].semilogx(t, self.overlap, "s--", label=rf"$Q(t)$, $a = {self.overlap_a:g}\,\sigma$")
        axes[0, 1].axhline(np.exp(-1), color="gray", lw=0.8, ls=":", label="1/e")
        axes[0, 1].legend(); axes[0, 1].set_ylabel(f"correlation ({who})")
        axes[1, 0].semilogx(t, self.alpha2, "o-"); axes[1, 0].set_ylabel(r"non-Gaussian $\alpha_2$")
        axes[1, 1].semilogx(t, self.chi4, "o-"); axes[1, 1].set_ylabel(r"$\chi_4(t)$ (overlap)")
        for ax in axes.ravel():
            ax.set_xlabel(LAG_LABEL)
            log_ticks(ax, "x")
        ta = self.tau_alpha
        fig.suptitle(f"self dynamics of {who}; " + (rf"$\tau_\alpha$ = {ta:.3g} $\tau$" if np.isfinite(ta)
                                                    else r"$\tau_\alpha$ not reached"))
        fig.tight_layout()
        return finish(fig, path)


def tau_alpha(times: np.ndarray, fs: np.ndarray, threshold: float = float(np.exp(-1))) -> float:
    """First time F_s drops below ``threshold`` (1/e), interpolated linearly in log t; nan if never."""
    times, fs = np.asarray(times, float), np.asarray(fs, float)
    below = np.nonzero(fs < threshold)[0]
    if len(below) == 0:
        return float("nan")
    k = below[0]
    if k == 0:
        return float(times[0])
    t0, t1, f0, f1 = times[k - 1], times[k], fs[k - 1], fs[k]
    w = (f0 - threshold) / (f0 - f1)
    return float(np.exp(np.log(t0) + w * (np.log(t1) - np.log(t0))))
