"""Wrong corrections for the validation runs: ours scaled by 1.1 (a 10% error in A)."""

import analytic


def ten_percent_off(xs, arch):
    return 1.1 * analytic.rmlp_nngp_correction(xs, **arch.kwargs())
