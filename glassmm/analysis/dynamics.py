"""Self dynamics: MSD, F_s(q, t), overlap Q(t), non-Gaussian parameter, chi_4(t), tau_alpha.

Error bars (``*_error``) are jackknife standard errors over blocks of samples: the samples of
each lag are dealt into ``n_blocks`` blocks (contiguous stretches of time origins in
:meth:`SelfDynamics.compute`, round-robin replicas or calls in :meth:`SelfDynamics.accumulate`),
and every figure is recomputed with one block left out. The stretched-exponential (KWW) fit of
F_s, ``A exp(-(t / tau_K)^beta)``, is :func:`kww_fit`.
"""

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
    n_blocks : int
        Blocks of samples for the jackknife error bars (at least 2).

    Attributes (after accumulating)
    ----------
    times, msd, fs, overlap, alpha2, chi4, n_samples : ndarray
    fs_error, chi4_error, tau_alpha_error, chi4_peak, kww : error bars, peak and KWW fit
    """

    def __init__(self, q: float = 7.25, overlap_a: float = 0.3, species: int | None = 0, dimensions: int = 3,
                 remove_drift: bool = True, n_blocks: int = 8) -> None:
        self.q, self.overlap_a, self.species, self.dimensions = q, overlap_a, species, dimensions
        self.remove_drift = bool(remove_drift)
        if int(n_blocks) < 2:
            raise ValueError(f"n_blocks must be at least 2 (jackknife); got {n_blocks}")
        self.n_blocks = int(n_blocks)
        self.reset()

    def reset(self) -> "SelfDynamics":
        # per lag: (n_blocks, 6) sums of [samples, r2, r4, F_s, Q, Q^2]; the lag's totals are their sum
        self._acc: dict[float, np.ndarray] = defaultdict(lambda: np.zeros((self.n_blocks, 6)))
        self._dealt: dict[float, int] = defaultdict(int)  # samples dealt round-robin so far, per lag
        self._blocks_known = True  # False after load_state of totals only: no error bars then
        self._n_sel: int | None = None
        return self

    def accumulate(self, positions: np.ndarray, box: np.ndarray | None = None, types: np.ndarray | None = None, *,
                   reference: np.ndarray, time: float) -> "SelfDynamics":
        """Add samples at lag ``time`` (reduced, tau): positions (N, 3) or (R, N, 3) against ``reference`` (N, 3).

        ``box`` is not needed (positions are unwrapped) and accepted for the common convention.
        Samples are dealt round-robin into the error-bar blocks, which treats them as
        exchangeable (replicas of isoconfigurational ensembles are); time origins of one
        trajectory are correlated, and :meth:`compute` blocks them by origin time instead.
        """
        pos = np.asarray(positions, dtype=np.float64)
        ref = np.asarray(reference, dtype=np.float64)
        if pos.ndim == 2:
            pos = pos[None]
        if pos.shape[1:] != ref.shape:
            raise ValueError(f"positions {pos.shape} do not match reference {ref.shape}")
        return self._add(pos - ref[None], types, time)

    def _add(self, displacements: np.ndarray, types: np.ndarray | None, time: float,
             blocks: np.ndarray | None = None) -> "SelfDynamics":
        """Add samples given as displacements (R, N, 3) of all particles at lag ``time``.

        ``blocks`` (R,) names each sample's error-bar block; default: dealt round-robin.
        """
        dr = self_displacements(displacements, types, self.species, self.remove_drift)
        r2 = np.einsum("rnk,rnk->rn", dr, dr)
        r = np.sqrt(r2)
        Q = (r2 < self.overlap_a * self.overlap_a).mean(axis=1)  # = overlap(...), without a second pass
        key = round(float(time), 10)
        if blocks is None:
            blocks = (self._dealt[key] + np.arange(len(dr))) % self.n_blocks
            self._dealt[key] += len(dr)
        per_sample = np.stack([np.ones(len(dr)), r2.mean(axis=1), (r2 * r2).mean(axis=1),
                               self_scattering(r, self.q, self.dimensions).mean(axis=1), Q, Q * Q], axis=1)
        np.add.at(self._acc[key], np.asarray(blocks, dtype=int), per_sample)
        self._n_sel = int(dr.shape[1])
        return self

    def compute(self, frames: np.ndarray, box: np.ndarray | None = None, types: np.ndarray | None = None, *,
                times: np.ndarray, max_origins: int | None = None, n_lags: int = 40) -> "SelfDynamics":
        """Multiple-time-origin average over an unwrapped trajectory (F, N, 3) at equally spaced ``times`` (tau).

        Every frame is a time origin unless ``max_origins`` thins them (faster, noisier: 20
        origins moved tau_alpha by 1.6-4.5 % against all of them on the same frames, which is
        why all is the default). Lags are ``n_lags`` log-spaced frame counts. The error-bar
        blocks are contiguous stretches of origin time (block b holds origins in the b-th
        ``n_blocks``-th of the run), so correlated neighbouring origins share a block.
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
                # block = which n_blocks-th of this lag's origins (contiguous in origin time)
                self._add(pos[o + lag] - pos[o], types, float(times[lag] - times[0]),
                          blocks=(k + np.arange(len(o))) * self.n_blocks // len(origins))
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
        """The raw accumulators: ``times`` (L,), ``sums`` (L, 6), ``n_selected`` and, while the
        blocks are known, ``block_sums`` (L, n_blocks, 6); see :meth:`load_state`."""
        ts, a = self._table() if self._acc else (np.zeros(0), np.zeros((0, 6)))
        out = {"times": ts, "sums": a, "n_selected": np.int64(-1 if self._n_sel is None else self._n_sel)}
        if self._blocks_known:
            out["block_sums"] = (np.stack([self._acc[t] for t in ts]) if len(ts)
                                 else np.zeros((0, self.n_blocks, 6)))
        return out

    def load_state(self, times: np.ndarray, sums: np.ndarray, n_selected: int,
                   block_sums: np.ndarray | None = None) -> "SelfDynamics":
        """Continue from :meth:`state` (e.g. as stored in a report file): later samples add to these.

        Without ``block_sums`` the totals are kept in one block and the error bars are nan.
        """
        self.reset()
        times = np.asarray(times, dtype=float)
        sums = np.asarray(sums, dtype=np.float64)
        if sums.shape != (len(times), 6):
            raise ValueError(f"accumulator sums must have shape ({len(times)}, 6); got {sums.shape}")
        if block_sums is not None:
            block_sums = np.asarray(block_sums, dtype=np.float64)
            if block_sums.shape != (len(times), self.n_blocks, 6):
                raise ValueError(f"block sums must have shape ({len(times)}, {self.n_blocks}, 6); "
                                 f"got {block_sums.shape}")
            if not np.allclose(block_sums.sum(axis=1), sums, rtol=1e-9, atol=1e-9):
                raise ValueError("block sums do not add up to the sums")
        for k, (t, row) in enumerate(zip(times, sums)):
            key = round(float(t), 10)
            if block_sums is not None:
                self._acc[key] = block_sums[k].copy()
                self._dealt[key] = int(round(row[0]))
            else:
                self._acc[key][0] = row
        self._blocks_known = block_sums is not None
        self._n_sel = None if int(n_selected) < 0 else int(n_selected)
        return self

    # ------------------------------------------------------------------ results
    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._acc:
            raise RuntimeError("no samples accumulated yet")
        ts = np.array(sorted(self._acc))
        return ts, np.stack([self._acc[t].sum(axis=0) for t in ts])

    def _blocks(self) -> np.ndarray:
        """Per-block sums (L, n_blocks, 6) in the order of :attr:`times`."""
        ts = self._table()[0]
        return np.stack([self._acc[t] for t in ts])

    @property
    def times(self) -> np.ndarray:
        return self._table()[0]

    @property
    def n_samples(self) -> np.ndarray:
        return self._table()[1][:, 0].astype(int)

    # each figure is a function of a (L, 6) table of sums, so the jackknife can recompute it
    @staticmethod
    def _mean_of(a: np.ndarray, col: int) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return a[:, col] / a[:, 0]

    def _chi4_of(self, a: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            q, q2 = a[:, 4] / a[:, 0], a[:, 5] / a[:, 0]
            var = (q2 - q * q) * a[:, 0] / np.maximum(a[:, 0] - 1, 1)  # unbiased
        return np.where(a[:, 0] > 1, (self._n_sel or 0) * var, np.nan)

    def _mean(self, col: int) -> np.ndarray:
        return self._mean_of(self._table()[1], col)

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
        return self._chi4_of(self._table()[1])

    @property
    def tau_alpha(self) -> float:
        return tau_alpha(self.times, self.fs)

    # ------------------------------------------------------------------ error bars (jackknife over blocks)
    def _jackknife(self, figure: Any) -> np.ndarray:
        """Jackknife standard error of ``figure(table (L, 6))`` (scalar or (L,)) over the sample blocks.

        Block b is left out at every lag at once; a block empty at every lag is not a block.
        nan where fewer than two blocks hold samples, where a leave-one-out figure is undefined,
        or when the blocks were not kept (:meth:`load_state` of totals only).
        """
        full = np.asarray(figure(self._table()[1]), dtype=float)
        if not self._blocks_known:
            return np.full_like(full, np.nan)
        blocks = self._blocks()  # (L, B, 6)
        total = blocks.sum(axis=1)
        used = [b for b in range(self.n_blocks) if blocks[:, b, 0].sum() > 0]
        if len(used) < 2:
            return np.full_like(full, np.nan)
        reps = np.stack([np.asarray(figure(total - blocks[:, b]), dtype=float) for b in used])
        n = len(used)
        if reps.ndim == 1:  # a scalar figure
            return np.asarray(np.sqrt((n - 1) / n * np.sum((reps - reps.mean()) ** 2)))
        # per-lag figures: only the blocks holding samples at that lag count there
        held = blocks[:, used, 0].T > 0  # (n, L)
        out = np.full(reps.shape[1], np.nan)
        for k in range(reps.shape[1]):
            r = reps[held[:, k], k]
            m = len(r)
            if m >= 2 and np.all(np.isfinite(r)):
                out[k] = np.sqrt((m - 1) / m * np.sum((r - r.mean()) ** 2))
        return out

    @property
    def fs_error(self) -> np.ndarray:
        """Jackknife standard error of :attr:`fs` per lag (nan where it cannot be estimated)."""
        return self._jackknife(lambda a: self._mean_of(a, 3))

    @property
    def chi4_error(self) -> np.ndarray:
        """Jackknife standard error of :attr:`chi4` per lag."""
        return self._jackknife(self._chi4_of)

    @property
    def tau_alpha_error(self) -> float:
        """Jackknife standard error of :attr:`tau_alpha` (tau): leave one block of samples out at every lag."""
        ts = self.times
        return float(self._jackknife(lambda a: tau_alpha(ts, self._mean_of(a, 3))))

    @property
    def chi4_peak(self) -> dict[str, float] | None:
        """The maximum of chi_4 over the lags: ``time`` (tau), ``value`` and its jackknife ``error``.

        The peak is the largest measured lag value (no interpolation between lags); its error is
        the jackknife of that maximum (each block left out, the maximum over lags taken again).
        A maximum is not smooth in the data: on free Brownian particles, whose chi_4 maximum
        is broad, this error overstated the scatter of independent repeats by 1.2-1.5x (the error
        of chi_4 at the peak's lag alone overstated it 1.7-2.1x), so read it as conservative.
        None when no lag has two samples.
        """
        chi = self.chi4
        if not np.any(np.isfinite(chi)):
            return None
        k = int(np.nanargmax(chi))

        def peak(a: np.ndarray) -> float:
            c = self._chi4_of(a)
            return float(np.nanmax(c)) if np.any(np.isfinite(c)) else float("nan")

        return {"time": float(self.times[k]), "value": float(chi[k]), "error": float(self._jackknife(peak))}

    @property
    def kww(self) -> dict[str, Any] | None:
        """Stretched-exponential fit of F_s (see :func:`kww_fit`), with jackknife errors over the blocks."""
        ts = self.times
        fit = kww_fit(ts, self.fs)
        if fit is None:
            return None

        def params(a: np.ndarray) -> np.ndarray:
            f = kww_fit(ts, self._mean_of(a, 3), fit_range=fit["fit_range"])
            return np.array([np.nan] * 4 if f is None else [f["amplitude"], f["tau"], f["beta"], f["tau_1e"]])

        err = self._jackknife(params) if self._blocks_known else np.full(4, np.nan)
        if np.all(np.isfinite(err)):
            fit.update(amplitude_error=float(err[0]), tau_error=float(err[1]), beta_error=float(err[2]),
                       tau_1e_error=float(err[3]), error_method=self.error_method)
        return fit

    @property
    def error_method(self) -> str:
        return (f"jackknife over {self.n_blocks} blocks of samples (replicas or calls dealt round-robin; "
                "time origins in contiguous stretches)")

    def as_dict(self) -> dict[str, Any]:
        def clean(x: Any) -> Any:
            return [None if not np.isfinite(v) else float(v) for v in np.asarray(x, float)]

        def one(x: float) -> float | None:
            return None if not np.isfinite(x) else float(x)

        return {
            "q": self.q, "overlap_a": self.overlap_a, "species": self.species,
            "times": self.times.tolist(), "n_samples": self.n_samples.tolist(),
            "msd": self.msd.tolist(), "fs": self.fs.tolist(), "fs_error": clean(self.fs_error),
            "overlap": self.overlap.tolist(),
            "alpha2": self.alpha2.tolist(), "chi4": clean(self.chi4), "chi4_error": clean(self.chi4_error),
            "tau_alpha": one(self.tau_alpha), "tau_alpha_error": one(self.tau_alpha_error),
            "chi4_peak": self.chi4_peak, "kww": self.kww, "error_method": self.error_method,
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
        fs_err = self.fs_error
        axes[0, 1].errorbar(t, self.fs, yerr=np.where(np.isfinite(fs_err), fs_err, 0), fmt="o-", capsize=2,
                            label=rf"$F_s(q = {self.q:g}\,\sigma^{{-1}}, t)$")
        axes[0, 1].set_xscale("log")
        fit = self.kww
        if fit is not None:
            tt = np.geomspace(t[0], t[-1], 200)
            axes[0, 1].plot(tt, kww(tt, fit["amplitude"], fit["tau"], fit["beta"]), "k-", lw=0.8,
                            label=rf"KWW $\beta$ = {fit['beta']:.2f}" + (rf" $\pm$ {fit['beta_error']:.2f}"
                                                                       if "beta_error" in fit else ""))
        axes[0, 1].semilogx(t, self.overlap, "s--", label=rf"$Q(t)$, $a = {self.overlap_a:g}\,\sigma$")
        axes[0, 1].axhline(np.exp(-1), color="gray", lw=0.8, ls=":", label="1/e")
        axes[0, 1].legend(); axes[0, 1].set_ylabel(f"correlation ({who})")
        axes[1, 0].semilogx(t, self.alpha2, "o-"); axes[1, 0].set_ylabel(r"non-Gaussian $\alpha_2$")
        chi_err = self.chi4_error
        axes[1, 1].errorbar(t, self.chi4, yerr=np.where(np.isfinite(chi_err), chi_err, 0), fmt="o-", capsize=2)
        axes[1, 1].set_xscale("log"); axes[1, 1].set_ylabel(r"$\chi_4(t)$ (overlap)")
        peak = self.chi4_peak
        if peak is not None:
            axes[1, 1].plot([peak["time"]], [peak["value"]], "r*", ms=10,
                            label=rf"peak {peak['value']:.3g}" + (rf" $\pm$ {peak['error']:.2g}"
                                                                 if np.isfinite(peak["error"]) else ""))
            axes[1, 1].legend()
        for ax in axes.ravel():
            ax.set_xlabel(LAG_LABEL)
            log_ticks(ax, "x")
        ta, ta_err = self.tau_alpha, self.tau_alpha_error
        fig.suptitle(f"self dynamics of {who}; " + (
            (rf"$\tau_\alpha$ = {ta:.3g}" + (rf" $\pm$ {ta_err:.2g}" if np.isfinite(ta_err) else "") + r" $\tau$")
            if np.isfinite(ta) else r"$\tau_\alpha$ not reached")
            + ("" if not np.isfinite(ta_err) else f" (error bars: jackknife over {self.n_blocks} blocks)"))
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


def kww(t: np.ndarray, amplitude: float, tau: float, beta: float) -> np.ndarray:
    """Stretched exponential A exp(-(t / tau)^beta) (t and tau reduced, tau)."""
    return amplitude * np.exp(-np.power(np.asarray(t, float) / tau, beta))


def kww_fit(times: np.ndarray, fs: np.ndarray, fit_range: tuple[float, float] = (0.02, 0.7),
            errors: np.ndarray | None = None) -> dict[str, Any] | None:
    """Fit F_s(t) = A exp(-(t / tau_K)^beta) over the alpha relaxation.

    Only lags after the last one above ``fit_range[1]`` and with F_s above ``fit_range[0]``
    enter: 0.7 sits below the cage plateau of KA liquids (about 0.8 at q = 7.25 for T <= 0.6),
    so the fast vibrational decay stays out; 0.02 keeps the noise floor out.

    Parameters
    ----------
    times : array (reduced, tau)
    fs : array
    fit_range : (low, high)
    errors : array, optional
        Standard errors of ``fs`` (weights); unweighted without them.

    Returns
    -------
    dict or None
        ``amplitude``, ``tau`` (tau_K, reduced), ``beta``, ``tau_1e`` (where the fit crosses 1/e),
        their ``*_fit_error`` from the least-squares covariance, ``fit_range``, ``n_points``,
        ``rms_residual``; None with fewer than 3 lags in the window or when the fit fails.
    """
    from scipy.optimize import curve_fit

    t, f = np.asarray(times, float), np.asarray(fs, float)
    ok = np.isfinite(f) & (t > 0)
    t, f = t[ok], f[ok]
    sig = None if errors is None else np.asarray(errors, float)[ok]
    lo, hi = fit_range
    above = np.nonzero(f > hi)[0]
    start = above[-1] + 1 if len(above) else 0
    sel = np.arange(len(t)) >= start
    sel &= f > lo
    if sel.sum() < 3:
        return None
    tt, ff = t[sel], f[sel]
    s = None
    if sig is not None:
        s = sig[sel]
        s = None if not np.all(np.isfinite(s) & (s > 0)) else s
    # start: tau where F_s crosses 1/e by log interpolation, beta 0.8, amplitude the first value's plateau
    t0 = tau_alpha(tt, ff)
    p0 = [min(1.0, max(ff[0] * 1.1, 0.3)), t0 if np.isfinite(t0) else float(np.median(tt)), 0.8]
    try:
        p, cov = curve_fit(kww, tt, ff, p0=p0, sigma=s, absolute_sigma=s is not None,
                           bounds=([0.05, 1e-12, 0.05], [1.5, np.inf, 2.0]), maxfev=20000)
    except (RuntimeError, ValueError):
        return None
    perr = np.sqrt(np.clip(np.diag(cov), 0, None)) if np.all(np.isfinite(cov)) else np.full(3, np.nan)
    amp, tau_k, beta = (float(x) for x in p)
    tau_1e = tau_k * np.log(amp / np.exp(-1.0)) ** (1.0 / beta) if amp > np.exp(-1.0) else float("nan")
    return {"amplitude": amp, "tau": tau_k, "beta": beta, "tau_1e": float(tau_1e),
            "amplitude_fit_error": float(perr[0]), "tau_fit_error": float(perr[1]), "beta_fit_error": float(perr[2]),
            "fit_range": [float(lo), float(hi)], "n_points": int(sel.sum()),
            "rms_residual": float(np.sqrt(np.mean((kww(tt, *p) - ff) ** 2)))}
