"""T-BOTAN across temperatures: a structural thermometer and propensity at unseen temperatures.

The protocol (``glassmm study temperature``), every stage resumable from its output folder:

1. **data** -- :func:`glassmm.dataset.make_dataset`: KA at each temperature from glassmm's own
   MD, tau_alpha(T) measured, ``n_configs`` isoconfigurational ensembles per temperature with
   targets at ``tau_multiples`` x tau_alpha(T); the table goes to ``data/tau_alpha.json``.
2. **split** -- at every temperature the last ``n_test_configs`` configurations are test
   configurations, never trained on. Temperatures are *training* temperatures (their other
   configurations train the T-BOTAN models) or *held out* (no configuration of theirs is
   trained on): interpolated when inside the training range, extrapolated outside it.
3. **train** -- for each input kind (TS, IS, TS+IS) an ensemble of ``n_members`` T-BOTAN
   models (different seeds) on the training temperatures, target = propensity at
   tau_alpha(T); and, as the reference the claim is measured against, an ensemble of the same
   architecture trained only at ``baseline_temperature`` (an interpolated held-out
   temperature) on its non-test configurations, for the same number of optimiser steps.
4. **evaluate** -- per temperature: Pearson of propensity over A particles per snapshot (each
   member on each configuration, averaged) and ensemble-averaged (members' predictions
   averaged first); the temperature estimate's bias and RMSE, per snapshot and
   ensemble-averaged, next to the classical reference (T linear in the mean pair energy,
   fitted on the training configurations), whose error is the canonical-fluctuation floor
   at this N; the predicted and measured propensity distributions (standardised,
   Wasserstein-1 distance); the static structure factor S_X(q) of the predicted and measured
   propensity fields with its q -> 0 limit and Ornstein-Zernike length (the chi_4 / xi_4
   analogue for a static field); the split-half reliability of the measured propensity (the
   ceiling any model can reach with ``n_replicas`` replicas).
5. **latent map** -- each member's global T-BOTAN feature averaged per temperature, the
   distance matrix between temperatures (normalised by its mean off-diagonal entry, then
   averaged over members), and, for each interpolated held-out temperature, where it lands on
   the segment between the bracketing training temperatures (``lambda_latent``) against
   where its temperature is (``lambda_T``): the pull toward the nearest trained temperature.

Everything is written under the output folder: ``summary.json`` (all figures, the split, the
tau_alpha table and the cost of each stage in seconds) and the plots.
"""

from glassmm.studies.temperature.config import PRESETS, TemperatureStudyConfig
from glassmm.studies.temperature.study import TemperatureStudy

__all__ = ["PRESETS", "TemperatureStudy", "TemperatureStudyConfig"]
