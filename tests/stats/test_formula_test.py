"""The formula test's size, interval coverage and power, measured on simulated finite-width kernels.

Truth here is the simulation: per-seed kernels are drawn from the model the rule
assumes (Yang 2019/2020; Hanin & Nica 2019),

    K̂_{w,s} = K_∞ + (a/n_w + a₂/n_w²) B + (c/√n_w) F_{w,s},

with F a Wishart-like symmetric fluctuation (L H Lᵀ, K_∞ = L Lᵀ, H a symmetric
Gaussian matrix) plus a random scale common to the whole matrix (g K_∞), g
Gaussian, gamma with skewness 1.6 (the right skew of deep networks' per-seed
kernels at small widths), or Student-t with 3 degrees of freedom (heavy tails).
"Rank-one" noise puts almost all variance in g: the worst case for the test.

The rule's free choices (size 1e-4 split equally between the global and the
entry-wise test, the 97% construction of the 95% interval, the noise scale's
25% quantile in the detectable error) were made on simulations with numpy
seeds 1 to 11, 123 and 321. The assertions below use other seeds (2000 and up),
so they are held-out checks, not fits. Tolerances are binomial: a count is
asserted against the 99.9% quantile of the binomial count at the rate the rule
promises.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time

import numpy as np
import pytest
import scipy.stats

from harness.stats import DEFAULT_SIZE
from harness.stats import allocate_seeds
from harness.stats import extrapolate_to_infinite_width
from harness.stats import formula_test
from harness.stats import sample_agreement
from harness.stats import scale_free_errors
from harness.stats._formula_test import EXACT_MIN_UNIT_DRAWS

#: The documented bound on the size under skewed or heavy-tailed rank-one noise.
NON_GAUSSIAN_SIZE_BOUND = 1e-3
GAMMA_SHAPE = (2.0 / 1.6) ** 2  # gamma skewness is 2/√shape


@dataclasses.dataclass(frozen=True)
class Problem:
    """An infinite-width kernel, a bias direction and a noise factor."""

    kernel: np.ndarray
    bias_direction: np.ndarray
    cholesky: np.ndarray
    wishart_scale: float

    @classmethod
    def of(cls, kernel: np.ndarray, seed: int = 0) -> Problem:
        rng = np.random.default_rng(seed)
        size = kernel.shape[0]
        r = rng.normal(size=(size, size))
        direction = 0.5 * kernel / np.linalg.norm(kernel) + 0.5 * (r + r.T) / np.linalg.norm(
            r + r.T
        )
        # E‖L H Lᵀ‖² = ‖K‖² + (tr K)² for the symmetric Gaussian H below.
        scale = math.sqrt(np.sum(kernel**2) + np.trace(kernel) ** 2) / np.linalg.norm(kernel)
        return cls(
            kernel,
            direction / np.linalg.norm(direction) * np.linalg.norm(kernel),
            np.linalg.cholesky(kernel),
            scale,
        )

    @classmethod
    def make(cls, seed: int = 0, size: int = 6) -> Problem:
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(size, 3 * size))
        kernel = x @ x.T / (3 * size) + 0.3
        return cls.of(kernel / np.linalg.norm(kernel), seed)


def simulate(
    rng: np.random.Generator,
    problem: Problem,
    widths: tuple[int, ...],
    seeds: int,
    *,
    noise: float = 1.0,
    tails: str = "gamma",
    rank_one_share: float = 0.97,
    bias: float = 2.0,
    bias2: float = 0.0,
    bias3: float = 0.0,
) -> dict[int, np.ndarray]:
    """Per-width stacks of per-seed kernels; one network's relative fluctuation is noise/√n."""
    k = problem.kernel
    size = k.shape[0]
    out = {}
    for n in widths:
        if tails == "gamma":
            scale = (rng.gamma(GAMMA_SHAPE, size=seeds) - GAMMA_SHAPE) / math.sqrt(GAMMA_SHAPE)
        elif tails == "t3":
            scale = rng.standard_t(3, size=seeds) / math.sqrt(3.0)
        else:
            scale = rng.normal(size=seeds)
        h = rng.normal(size=(seeds, size, size))
        h = (h + h.transpose(0, 2, 1)) / math.sqrt(2.0)
        wishart = problem.cholesky @ h @ problem.cholesky.T / problem.wishart_scale
        fluctuation = (
            math.sqrt(rank_one_share) * scale[:, None, None] * k
            + math.sqrt(1.0 - rank_one_share) * wishart
        )
        mean = k + (bias / n + bias2 / n**2 + bias3 / n**3) * problem.bias_direction
        out[n] = mean + noise / math.sqrt(n) * fluctuation
    return out


def binomial_limit(trials: int, rate: float) -> int:
    """The count a rule with this true rate exceeds with probability at most 0.1%."""
    return int(scipy.stats.binom.ppf(0.999, trials, rate))


def binomial_floor(trials: int, rate: float) -> int:
    """The count a rule with this true rate falls below with probability at most 0.1%."""
    return int(scipy.stats.binom.ppf(0.001, trials, rate))


PROBLEM = Problem.make()

# --- size and coverage ------------------------------------------------------------------------

SIZE_WIDTHS = [(16, 32, 64, 128), (256, 512, 1024, 2048, 4096), (64, 256)]
SIZE_SEEDS = [2, 4, 16, 64, 1024]
SIZE_NOISE = [("normal", 0.2), ("gamma", 0.97), ("t3", 0.97)]


@pytest.mark.slow
def test_size_and_coverage_over_a_grid_of_correct_formulas():
    """A correct formula with a non-negligible bias: false rejections and interval misses.

    2250 runs over widths 16..128, 256..4096 and {64, 256}; seeds 2 to 1024;
    spread Gaussian noise, rank-one skewed (gamma) noise and rank-one heavy-tailed
    (Student t₃) noise; bias 2/n (12% at n = 16) with and without a 4/n² term.
    False rejections must be compatible with the nominal size for Gaussian
    noise and with the documented 0.1% otherwise; the interval must cover 0
    at least 95% of the time; the lack-of-fit test (W ≥ 3) must hold its 1% level.
    """
    rng = np.random.default_rng(2000)
    counts = {"runs": 0, "rejected": 0, "missed": 0, "gaussian": 0, "gaussian rejected": 0}
    lof_runs = lof_rejected = 0
    for widths in SIZE_WIDTHS:
        for seeds in SIZE_SEEDS:
            for tails, share in SIZE_NOISE:
                for bias2 in (0.0, 4.0):
                    for _ in range(30 if seeds < 1024 else 5):
                        per_width = simulate(
                            rng,
                            PROBLEM,
                            widths,
                            seeds,
                            tails=tails,
                            rank_one_share=share,
                            bias2=bias2,
                        )
                        result = formula_test(per_width, PROBLEM.kernel)
                        rejected = result.outcome == "inconsistent"
                        counts["runs"] += 1
                        counts["rejected"] += rejected
                        counts["missed"] += result.formula_error_ci95[0] > 0.0
                        counts["gaussian"] += tails == "normal"
                        counts["gaussian rejected"] += tails == "normal" and rejected
                        if result.lack_of_fit is not None:
                            lof_runs += 1
                            lof_rejected += result.lack_of_fit[1] < 0.01
    n = counts["runs"]
    assert n >= 2000
    assert counts["gaussian rejected"] <= binomial_limit(counts["gaussian"], DEFAULT_SIZE)
    assert counts["rejected"] <= binomial_limit(n, NON_GAUSSIAN_SIZE_BOUND), counts
    assert counts["missed"] <= binomial_limit(n, 0.05), counts
    assert lof_rejected <= binomial_limit(lof_runs, 0.01), (lof_rejected, lof_runs)


@pytest.mark.parametrize("tails", ["gamma", "t3"])
def test_size_in_the_rank_one_worst_case(tails):
    """Exactly rank-one skewed or heavy-tailed noise, 8 seeds at five widths, 16 entries."""
    rng = np.random.default_rng(2001)
    problem = Problem.make(seed=2001, size=16)
    runs, rejected, missed = 400, 0, 0
    for _ in range(runs):
        per_width = simulate(
            rng, problem, (256, 512, 1024, 2048, 4096), 8, tails=tails, rank_one_share=1.0
        )
        result = formula_test(per_width, problem.kernel)
        rejected += result.outcome == "inconsistent"
        missed += result.formula_error_ci95[0] > 0.0
    assert rejected <= binomial_limit(runs, NON_GAUSSIAN_SIZE_BOUND)
    assert missed <= binomial_limit(runs, 0.05)


# --- power and the detectable errors ----------------------------------------------------------


@pytest.mark.parametrize(
    ("widths", "seeds", "tails", "share", "floor"),
    [
        ((64, 256), 16, "normal", 0.5, 0.95),
        ((64, 128, 256, 512), 16, "normal", 0.2, 0.95),
        # Skewed, nearly rank-one noise costs power near the quoted error (documented).
        ((256, 512, 1024, 2048, 4096), 64, "gamma", 0.97, 0.85),
    ],
)
def test_detectable_errors_are_honest(widths, seeds, tails, share, floor):
    """Errors at the reported detectable errors are flagged with the quoted 95% power.

    The global error points along K_∞, the direction of the common scale, the
    worst direction; the entry error sits in one off-diagonal pair. Each is
    set at the median of the detectable errors reported by pilot runs.
    """
    rng = np.random.default_rng(2002)

    def run(reference):
        per_width = simulate(rng, PROBLEM, widths, seeds, tails=tails, rank_one_share=share)
        return formula_test(per_width, reference)

    pilots = [run(PROBLEM.kernel) for _ in range(60)]
    detectable = float(np.median([p.detectable_error for p in pilots]))
    entry_detectable = float(np.median([p.entry_detectable_error for p in pilots]))
    s = np.sqrt(np.diag(PROBLEM.kernel))
    pair = PROBLEM.kernel.copy()
    pair[0, 1] += entry_detectable * s[0] * s[1]
    pair[1, 0] = pair[0, 1]
    trials = 150
    scaled = [run(PROBLEM.kernel * (1.0 + detectable)) for _ in range(trials)]
    local = [run(pair) for _ in range(trials)]
    assert sum(r.outcome == "inconsistent" for r in scaled) >= binomial_floor(trials, floor)
    assert sum(r.outcome == "inconsistent" for r in local) >= binomial_floor(trials, floor)
    true_error = scale_free_errors(PROBLEM.kernel * (1.0 + detectable), PROBLEM.kernel)[0]
    covered = sum(lo <= true_error <= hi for lo, hi in (r.formula_error_ci95 for r in scaled))
    assert trials - covered <= binomial_limit(trials, 0.05)


def test_one_pair_of_entries_10_percent_off_is_inconsistent_and_named():
    """The audit's case: one symmetric pair 10% too large, invisible to a Frobenius test."""
    rng = np.random.default_rng(2003)
    problem = Problem.make(seed=2003, size=16)
    per_width = simulate(rng, problem, (256, 512, 1024, 2048, 4096), 48, rank_one_share=0.5)
    wrong = problem.kernel.copy()
    wrong[3, 7] *= 1.10
    wrong[7, 3] = wrong[3, 7]
    result = formula_test(per_width, wrong)
    assert result.outcome == "inconsistent"
    worst = result.worst_entries[0]
    assert {worst.row, worst.col} == {3, 7}
    expected = -0.10 * problem.kernel[3, 7] / math.sqrt(problem.kernel[3, 3] * problem.kernel[7, 7])
    assert worst.error == pytest.approx(expected, rel=0.15)
    assert result.formula_error < 0.01  # diluted over the 136 entries
    assert "worst entry (3, 7)" in result.headline("NTK")
    diagonal = problem.kernel.copy()
    diagonal[5, 5] *= 1.05
    assert formula_test(per_width, diagonal).outcome == "inconsistent"
    assert formula_test(per_width, problem.kernel).outcome != "inconsistent"


def test_a_bias_slip_at_small_input_norms_is_inconsistent():
    """``b_std`` for ``b_std²`` on inputs with norms from 0.03 to 316.

    K_ij = a_i a_j C_ij + b² with a_i spanning 10⁴; the slip writes b for b².
    In raw Frobenius terms the error is tiny (the large-norm entries dominate);
    on the scale-free entries it is up to 100% at the small-norm inputs.
    """
    rng = np.random.default_rng(2004)
    size = 12
    x = rng.normal(size=(size, 30))
    correlation = x @ x.T / 30
    a = np.geomspace(0.03, 316.0, size)
    b_std = 0.5
    truth = np.outer(a, a) * correlation + b_std**2
    slip = np.outer(a, a) * correlation + b_std
    raw_error = np.linalg.norm(truth - slip) / np.linalg.norm(slip)
    assert raw_error < 0.005
    problem = Problem.of(truth, seed=2004)
    per_width = simulate(rng, problem, (256, 512, 1024, 2048, 4096), 48, rank_one_share=0.5)
    result = formula_test(per_width, slip)
    assert result.outcome == "inconsistent"
    assert result.formula_error > 0.1  # the scale-free measure sees it
    assert formula_test(per_width, slip, scale_free=False).formula_error < 0.005
    assert formula_test(per_width, truth).outcome != "inconsistent"


def test_outcomes_do_not_depend_on_input_norms():
    """Rescaling input i by a_i (K_ij → a_i a_j K_ij) leaves every statistic unchanged."""
    rng = np.random.default_rng(2005)
    per_width = simulate(rng, PROBLEM, (64, 128, 256), 16)
    a = np.geomspace(1e-2, 1e2, PROBLEM.kernel.shape[0])
    scale = np.outer(a, a)
    wrong = PROBLEM.kernel * 1.03
    plain = formula_test(per_width, wrong)
    scaled = formula_test({n: s * scale for n, s in per_width.items()}, wrong * scale)
    for field in ("z", "cut", "entry_z", "formula_error", "detectable_error"):
        assert getattr(scaled, field) == pytest.approx(getattr(plain, field), rel=1e-9)
    assert scaled.outcome == plain.outcome


def test_consistent_means_the_bound_is_within_tolerance():
    """Consistent only when the 95% upper bound is at most the tolerance, stated in the headline."""
    rng = np.random.default_rng(2006)
    per_width = simulate(rng, PROBLEM, (1024, 4096), 4096, tails="normal", rank_one_share=0.5)
    for tolerance in (0.002, 0.005, 0.01, 0.05):
        result = formula_test(per_width, PROBLEM.kernel, tolerance=tolerance)
        upper = result.formula_error_ci95[1]
        assert (result.outcome == "consistent") == (upper <= tolerance)
        if result.outcome == "consistent":
            assert result.headline("NTK").startswith("NTK: consistent — formula error < ")
        else:
            assert result.seeds_needed is None or result.seeds_needed > 4096


def test_gross_error_is_inconsistent_and_measured():
    """A formula off by 57% is flagged, and the interval covers 57%."""
    rng = np.random.default_rng(2007)
    reference = PROBLEM.kernel / 1.57
    per_width = simulate(rng, PROBLEM, (64, 128, 256, 512), 16)
    result = formula_test(per_width, reference)
    assert result.outcome == "inconsistent"
    lo, hi = result.formula_error_ci95
    assert lo <= 0.57 <= hi
    assert result.headline("NTK").startswith("NTK: inconsistent — formula off by 5")


def test_finite_width_bias_is_not_read_as_a_formula_error():
    """A bias 5 standard errors wide at the largest width: a naive test rejects, this one not."""
    rng = np.random.default_rng(2008)
    widths, seeds = (64, 128, 256, 512), 64
    a = 5.0 * 512 / math.sqrt(512 * seeds)
    runs, naive_rejections, rejections = 200, 0, 0
    for _ in range(runs):
        per_width = simulate(rng, PROBLEM, widths, seeds, bias=a)
        stack = per_width[512]
        mean = stack.mean(axis=0)
        se = math.sqrt(np.sum((stack - mean) ** 2) / (seeds - 1) / seeds)
        naive_rejections += np.linalg.norm(mean - PROBLEM.kernel) / se > 3.0
        rejections += formula_test(per_width, PROBLEM.kernel).outcome == "inconsistent"
    assert naive_rejections >= 0.95 * runs
    assert rejections <= binomial_limit(runs, NON_GAUSSIAN_SIZE_BOUND)


# --- inconclusive runs ------------------------------------------------------------------------


def test_one_seed_per_width_is_inconclusive_never_infinite():
    rng = np.random.default_rng(2009)
    per_width = simulate(rng, PROBLEM, (64, 128, 256), 1)
    result = formula_test(per_width, PROBLEM.kernel / 2.0)
    assert result.outcome == "inconclusive"
    assert math.isnan(result.z)
    assert "one network per width" in result.reason
    assert "--" not in result.reason  # statistics give no command-line advice
    record = result.to_json()
    assert record["z"] is None
    assert record["detectable_error"] is None
    json.dumps(record)


def test_kernels_that_do_not_vary_beyond_rounding_are_inconclusive():
    """Identical kernels, also with rounding-sized differences (a relative, not an exact, guard)."""
    rng = np.random.default_rng(2010)
    one = simulate(rng, PROBLEM, (64, 256), 1)
    identical = {n: np.repeat(stack, 8, axis=0) for n, stack in one.items()}
    rounded = {n: s * (1 + 1e-15 * rng.standard_normal(s.shape)) for n, s in identical.items()}
    for per_width in (identical, rounded):
        result = formula_test(per_width, PROBLEM.kernel)
        assert result.outcome == "inconclusive"
        assert "do not vary" in result.reason


def test_kernels_of_any_magnitude_are_judged_alike():
    """Kernels scaled by 1e300 (squares overflow float64) give the numbers of unscaled ones."""
    rng = np.random.default_rng(2011)
    per_width = simulate(rng, PROBLEM, (64, 256), 8)
    plain = formula_test(per_width, PROBLEM.kernel * 1.2)
    huge = formula_test({n: s * 1e300 for n, s in per_width.items()}, PROBLEM.kernel * 1.2e300)
    assert huge.outcome == plain.outcome
    assert huge.z == pytest.approx(plain.z, rel=1e-9)


def test_an_entry_that_never_varies_is_compared_exactly():
    """A zero input without biases: its row is zero in every network; a formula must agree."""
    rng = np.random.default_rng(2012)
    per_width = simulate(rng, PROBLEM, (64, 128, 256), 16)
    for stack in per_width.values():
        stack[:, 0, :] = stack[:, :, 0] = 0.0
    truth = PROBLEM.kernel.copy()
    truth[0, :] = truth[:, 0] = 0.0
    assert formula_test(per_width, truth).outcome != "inconsistent"
    wrong = truth.copy()
    wrong[0, 0] = 0.01 * PROBLEM.kernel[0, 0]
    result = formula_test(per_width, wrong)
    assert result.outcome == "inconsistent"
    assert "same in every network" in result.reason


def test_an_entry_constant_over_few_unit_draws_is_not_taken_as_fixed():
    """Widths 1 and 2, two networks each: an entry zero in all four may be dead units.

    ``--widths 1,2 --seeds 2`` in the sweep had our correct formula called inconsistent
    because ReLU units inactive by chance zeroed an entry in every network. Below
    ``EXACT_MIN_UNIT_DRAWS`` unit draws such a mismatch leaves the outcome open; with
    the same pattern over enough draws it is still a rejection.
    """
    rng = np.random.default_rng(2013)
    few = simulate(rng, PROBLEM, (1, 2), 2)
    for stack in few.values():
        stack[:, 0, 3] = stack[:, 3, 0] = 0.0
    result = formula_test(few, PROBLEM.kernel)
    assert result.outcome == "inconclusive"
    assert "inactive by chance" in result.reason
    assert sum(n * s for n, s in zip(result.widths, result.seeds, strict=True)) < (
        EXACT_MIN_UNIT_DRAWS
    )
    many = simulate(rng, PROBLEM, (64, 128), 4)
    for stack in many.values():
        stack[:, 0, 3] = stack[:, 3, 0] = 0.0
    assert formula_test(many, PROBLEM.kernel).outcome == "inconsistent"


def test_tiny_run_is_inconclusive_and_its_seed_count_decides():
    """16 seeds cannot resolve 1%; with the seeds it asks for, about half the runs can.

    ``seeds_needed`` is a median plan: the bound is expected to reach the
    tolerance, not to lie below it with high probability.
    """
    rng = np.random.default_rng(2013)
    widths, noise = (256, 1024), 1.0
    tiny = formula_test(simulate(rng, PROBLEM, widths, 16, noise=noise), PROBLEM.kernel)
    assert tiny.outcome == "inconclusive"
    assert tiny.formula_error_ci95[1] > 0.01
    assert tiny.seeds_needed is not None
    assert tiny.seeds_needed > 16
    runs = 30
    planned = [
        formula_test(simulate(rng, PROBLEM, widths, tiny.seeds_needed, noise=noise), PROBLEM.kernel)
        for _ in range(runs)
    ]
    assert sum(r.outcome == "consistent" for r in planned) >= binomial_floor(runs, 0.5)


# --- lack of fit and the bias-bounded fallback ------------------------------------------------


def test_curved_widths_are_inconclusive_unless_the_error_is_gross():
    """A strong 1/n³ term at widths 16..128 breaks the fitted law; a gross error is flagged."""
    rng = np.random.default_rng(2014)
    widths = (16, 32, 64, 128)

    def per_width():
        return simulate(rng, PROBLEM, widths, 1024, noise=0.3, bias=0.5, bias3=1500.0, tails="x")

    correct = formula_test(per_width(), PROBLEM.kernel)
    assert correct.lack_of_fit is not None
    assert correct.lack_of_fit[1] < 0.01
    assert correct.outcome == "inconclusive"
    assert "fitted law" in correct.reason
    assert not correct.extrapolated
    gross = formula_test(per_width(), PROBLEM.kernel / 1.57)
    assert gross.outcome == "inconsistent"
    assert gross.formula_error_ci95[0] <= 0.57 <= gross.formula_error_ci95[1]


def test_single_width_needs_a_bias_bound():
    rng = np.random.default_rng(2015)
    per_width = simulate(rng, PROBLEM, (4096,), 4096, bias=0.0)
    unbounded = formula_test(per_width, PROBLEM.kernel)
    assert unbounded.outcome == "inconclusive"
    assert "one width" in unbounded.reason
    bounded = formula_test(per_width, PROBLEM.kernel, bias_allowance=0.0)
    assert bounded.outcome == "consistent"
    off = formula_test(per_width, PROBLEM.kernel / 1.57, bias_allowance=0.05)
    assert off.outcome == "inconsistent"
    assert off.formula_error_ci95[0] <= 0.57 <= off.formula_error_ci95[1]


def test_without_extrapolation_the_drift_bounds_the_bias():
    """``extrapolate=False`` with widths spanning 4x: the drift m_1 − m_W bounds the bias."""
    rng = np.random.default_rng(2016)
    widths, runs = (256, 512, 1024), 150
    rejected = 0
    for _ in range(runs):
        per_width = simulate(rng, PROBLEM, widths, 16, bias=20.0)
        result = formula_test(per_width, PROBLEM.kernel, extrapolate=False)
        assert not result.extrapolated
        rejected += result.outcome == "inconsistent"
    assert rejected <= binomial_limit(runs, NON_GAUSSIAN_SIZE_BOUND)
    gross = formula_test(simulate(rng, PROBLEM, widths, 16, bias=20.0), PROBLEM.kernel / 1.57)
    assert gross.outcome == "inconsistent"


# --- pieces -----------------------------------------------------------------------------------


def test_three_widths_remove_an_exact_1_over_n_squared_bias_at_a_known_cost():
    """From three widths on the fit carries B/n²: an exact curvature leaves no bias.

    The price is the intercept's variance; for the design weights S·n, the
    standard error over the plain 1/n fit's, computed here from the normal equations
    independently of the module: 2.69 for widths 16, 32, 64 and 1.08 for 256..65536.
    """
    widths = (16, 32, 64)
    noiseless = simulate(
        np.random.default_rng(2016), PROBLEM, widths, 3, noise=0.0, bias=7.0, bias2=300.0, tails="x"
    )
    est = extrapolate_to_infinite_width(noiseless)
    np.testing.assert_allclose(est.kernel, PROBLEM.kernel, rtol=0, atol=1e-11)
    np.testing.assert_allclose(est.correction, 7.0 * PROBLEM.bias_direction, rtol=0, atol=1e-9)
    assert est.lack_of_fit is None  # three parameters, three widths
    for widths, ratio in (((16, 32, 64), 2.69), (tuple(2**k for k in range(8, 17)), 1.08)):
        n = np.asarray(widths, dtype=float)
        weights = np.diag(n)  # one seed each: S·n
        x = 1.0 / n
        lines = np.stack([np.ones_like(x), x], axis=1)
        linear = np.linalg.inv(lines.T @ weights @ lines)[0, 0]
        stacks = {w: np.zeros((1, 1, 1)) for w in widths}
        c = extrapolate_to_infinite_width(stacks).coefficients
        assert math.sqrt(np.sum(c**2 / n) / linear) == pytest.approx(ratio, abs=0.01)


def test_extrapolation_coefficients_remove_an_exact_1_over_n_bias():
    widths = (16, 32, 64, 128)
    noiseless = simulate(
        np.random.default_rng(2017), PROBLEM, widths, 3, noise=0.0, bias=7.0, tails="x"
    )
    est = extrapolate_to_infinite_width(noiseless)
    n = np.asarray(widths, dtype=float)
    np.testing.assert_allclose(est.coefficients.sum(), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.sum(est.coefficients / n), 0.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(est.kernel, PROBLEM.kernel, rtol=0, atol=1e-12)
    # The fitted 1/n coefficient is the bias's: 7·B.
    np.testing.assert_allclose(est.correction, 7.0 * PROBLEM.bias_direction, rtol=0, atol=1e-10)
    two = extrapolate_to_infinite_width({n: noiseless[n] for n in (32, 64)})
    np.testing.assert_allclose(two.coefficients, [-1.0, 2.0], rtol=0, atol=1e-12)
    assert two.lack_of_fit is None


def test_noise_statistics_match_their_definitions():
    """se, Satterthwaite df, per-entry se and the top eigenvalue, computed another way."""
    rng = np.random.default_rng(2018)
    per_width = simulate(rng, PROBLEM, (16, 64), 5)
    est = extrapolate_to_infinite_width(per_width)
    stacks = list(per_width.values())
    variances = [np.sum((s - s.mean(axis=0)) ** 2) / 4 for s in stacks]
    parts = est.coefficients**2 * np.asarray(variances) / 5
    np.testing.assert_allclose(est.se, math.sqrt(parts.sum()), rtol=1e-12)
    np.testing.assert_allclose(est.df, parts.sum() ** 2 / np.sum(parts**2 / 4), rtol=1e-12)
    covariance = sum(
        c**2 / 5 * np.cov(s.reshape(5, -1), rowvar=False)
        for c, s in zip(est.coefficients, stacks, strict=True)
    )
    np.testing.assert_allclose(est.entry_se, np.sqrt(np.diag(covariance)), rtol=1e-10)
    np.testing.assert_allclose(est.top_eigenvalue, np.linalg.eigvalsh(covariance)[-1], rtol=1e-10)
    assert est.rank == pytest.approx(np.trace(covariance) / np.linalg.eigvalsh(covariance)[-1])


def test_widths_with_one_seed_are_left_out():
    rng = np.random.default_rng(2019)
    per_width = simulate(rng, PROBLEM, (16, 64, 256), 4)
    per_width[1024] = per_width[256][:1]
    est = extrapolate_to_infinite_width(per_width)
    assert est.widths == (16, 64, 256)
    assert est.seeds == (4, 4, 4)


def test_extreme_sizes_return_promptly():
    """Tiny sizes (the old ``cut=20``) must not loop: every search is bounded."""
    rng = np.random.default_rng(2020)
    per_width = simulate(rng, PROBLEM, (64, 256), 4)
    for size in (1e-12, 1e-9, 0.5):
        start = time.perf_counter()
        result = formula_test(per_width, PROBLEM.kernel * 1.5, size=size)
        assert time.perf_counter() - start < 10.0
        assert result.outcome in ("consistent", "inconsistent", "inconclusive")


def test_allocated_seeds_meet_the_variance_target_at_least_cost():
    """Neyman allocation: the variance target is met, and no uniform allocation is cheaper."""
    widths = (256, 1024, 4096, 16384)
    seeds = (16, 16, 16, 16)
    variances = [1.0 / n for n in widths]
    costs = [1.0, 1.0, 4.0, 16.0]
    new = allocate_seeds(widths, seeds, variances, costs, variance_factor=4.0, max_seeds=100000)
    assert all(a >= b for a, b in zip(new, seeds, strict=True))

    def variance(s):
        stacks = {w: np.zeros((k, 1, 1)) for w, k in zip(widths, s, strict=True)}
        est = extrapolate_to_infinite_width(stacks)
        return float(np.sum(est.coefficients**2 * np.asarray(variances) / np.asarray(s)))

    target = variance(seeds) / 4.0
    assert variance(new) <= 1.05 * target
    cost = float(np.dot(new, costs))
    uniform = next(s for s in range(16, 100000) if variance((s,) * 4) <= variance(new))
    assert cost <= uniform * sum(costs)


def test_sample_agreement():
    rng = np.random.default_rng(2021)
    a = simulate(rng, PROBLEM, (256,), 64, bias=0.0)[256]
    b = simulate(rng, PROBLEM, (256,), 64, bias=0.0)[256]
    assert sample_agreement(a, b)["agree"]
    assert not sample_agreement(a, b * 1.2)["agree"]


def test_headline_json_and_repr():
    rng = np.random.default_rng(2022)
    result = formula_test(simulate(rng, PROBLEM, (64, 256), 16), PROBLEM.kernel / 1.57)
    record = result.to_json()
    assert json.loads(json.dumps(record)) == record
    assert record["widths"] == [64, 256]
    assert record["seeds"] == [16, 16]
    assert record["lack_of_fit"] is None
    assert "scale-free" in record["measure"]
    assert len(record["z_matrix"]) == PROBLEM.kernel.shape[0]
    assert result.headline("NTK").count("%") >= 3
    assert repr(result).startswith("FormulaTest('formula: inconsistent")


# --- invalid input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_width", "reference", "message"),
    [
        ({}, np.eye(3), "empty"),
        ({64: np.ones((2, 3, 3))}, np.eye(4), "do not match"),
        ({64: np.ones((2, 3, 3)), 128: np.ones((2, 4, 4))}, np.eye(3), "differs"),
        ({64: np.ones((2, 3, 3))}, np.zeros((3, 3)), "zero"),
        ({64: np.ones((2, 3, 3))}, np.full((3, 3), np.nan), "non-finite"),
        ({64: np.full((2, 3, 3), np.inf)}, np.eye(3), "non-finite"),
        ({0: np.ones((2, 3, 3))}, np.eye(3), "positive integers"),
        ({64.5: np.ones((2, 3, 3))}, np.eye(3), "positive integers"),
        ({64: np.ma.masked_array(np.ones((2, 3, 3)))}, np.eye(3), "masked"),
        ({64: np.ones((2, 3, 3))}, np.ma.masked_array(np.eye(3), mask=np.eye(3)), "masked"),
    ],
)
def test_invalid_input_raises(per_width, reference, message):
    with pytest.raises(ValueError, match=message):
        formula_test(per_width, reference)


def test_invalid_options_raise():
    per_width = {64: np.ones((2, 3, 3)), 128: np.ones((2, 3, 3))}
    with pytest.raises(ValueError, match="size"):
        formula_test(per_width, np.eye(3), size=0.0)
    with pytest.raises(ValueError, match="tolerance"):
        formula_test(per_width, np.eye(3), tolerance=0.0)
    with pytest.raises(ValueError, match="power"):
        formula_test(per_width, np.eye(3), power=1e-6)
    with pytest.raises(ValueError, match="bias_allowance"):
        formula_test(per_width, np.eye(3), bias_allowance=-0.1)
