"""The ``O(1/n)`` finite-width correction of the NNGP: measure it, and judge formulas for it.

``python -m harness.correction`` (or ``python -m harness.converge --correction``) draws
many residual MLPs at small widths, measures the coefficient ``A`` of
``E K̂_n = K_∞ + A/n + B/n² + …`` with its 95% intervals and the ``B`` check, and judges
our formula (:func:`analytic.rmlp_nngp_correction`) and ``--candidate`` formulas with the
calibrated rule of :func:`harness.stats.correction_test`.

Public API:

* :class:`CorrectionConfig`: one run's settings (defaults and why:
  :mod:`harness.correction._config`);
* :func:`run_correction`: the run, into a resumable folder or in memory;
* :func:`correction_inputs`: a config's checked inputs.
"""

from harness.correction._config import CorrectionConfig
from harness.correction._run import correction_inputs
from harness.correction._run import run_correction

__all__ = ["CorrectionConfig", "correction_inputs", "run_correction"]
