"""The benchmark itself: our empirical and analytic kernels against neural-tangents, side by side.

For each width, on the same parameters and inputs in one process:

* **NTK of one network** (warm medians): ours ``factored`` and ``jacobian``,
  neural-tangents ``empirical_ntk_fn`` implementations 1 and 2; the maximum
  relative difference of each from ``factored`` is recorded too.
  ``ntk_speedup_vs_nt`` = neural-tangents' fastest ÷ ours factored.
* **Monte Carlo NNGP + NTK over S seeds**: :func:`harness.kernels.monte_carlo_kernels`
  (the kernels alone, ``control_variates=False``: the same work as neural-tangents')
  against ``nt.monte_carlo_kernel_fn(..., implementation=2, vmap_axes=0)``, cold
  (caches cleared, persistent cache off, fresh functions, compilation included, and
  the seconds of it spent compiling) and warm.
  ``mc_speedup_vs_nt`` = neural-tangents cold ÷ ours cold. Both draw their networks'
  random bits with ``prng``: ``"threefry"`` (JAX's default, the harness's networks) or
  ``"rbg"`` (XLA's RngBitGenerator: ``jax.random.key(0, impl="rbg")`` for
  neural-tangents, ``prng_impl="rbg"`` for ours), which on a GPU compiles in a fraction
  of threefry's time.

* **Conditional sampler** (:func:`harness.kernels.conditional_kernels`, float32, S
  networks): the benchmark's activation and ReLU side by side, warm (after one call
  that compiles), and their ratio ``conditional_cost_vs_relu``.

Every measurement uses the config's ``activation`` and ``branch_scale``; neural-tangents
gets the matching ``stax`` layer (``models.stax_activation``).

Once per run, **analytic kernels** (NNGP + NTK) at ``analytic_n`` inputs:
:func:`analytic.rmlp_kernels` (float64, on the CPU always) against neural-tangents'
``kernel_fn`` in float32 and float64, first call and warm median.

Every timing is in seconds and carries the matmul precision it ran at.
"""

from __future__ import annotations

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from analytic import rmlp_kernels
from harness.bench._timing import time_cold
from harness.bench._timing import time_warm
from harness.kernels import conditional_kernels
from harness.kernels import empirical_ntk
from harness.kernels import init_network
from harness.kernels import monte_carlo_kernels
from harness.kernels import precision_label
from harness.runs import device_description
from harness.runs import environment_stamp
from harness.stats import max_relative_difference
from models import ResidualMLP
from models import load_neural_tangents
from models import stax_residual_mlp

__all__ = ["PRNGS", "BenchConfig", "run_bench"]

#: The random-bit generators the Monte Carlo comparison can use (both sides alike).
PRNGS = ("threefry", "rbg")

# neural-tangents 0.6.5 calls jnp.size on ShapeDtypeStruct (deprecated in JAX 0.10).
_NT_WARNING = "size requires ndarray"


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """What to benchmark (see :mod:`harness.bench._cli` for the command line)."""

    widths: tuple[int, ...] = (1024,)
    n_inputs: int = 32
    seeds: int = 8
    num_res_blocks: int = 3
    input_dim: int = 10
    W_std: float = 1.0
    b_std: float = 1.0
    repeats: int = 5
    analytic_n: int = 4096
    jacobian: bool = True
    precision: str | None = None
    note: str = ""
    activation: str = "relu"
    branch_scale: float = 1.0
    prng: str = "threefry"

    @property
    def shape(self) -> dict:
        """The architecture's activation and branch scale, as keyword arguments."""
        return {"activation": self.activation, "branch_scale": self.branch_scale}


def _ntk_one_network(config, model, xs, log):
    variables = init_network(model, xs, 0)
    timings, ntks = {}, {}
    methods = [("factored", {"method": "factored"})]
    if config.jacobian:
        methods.append(("jacobian", {"method": "jacobian"}))
    methods += [(f"nt{i}", {"method": "nt", "nt_implementation": i}) for i in (1, 2)]
    for name, kwargs in methods:
        seconds, ntks[name] = time_warm(
            lambda kwargs=kwargs: empirical_ntk(
                model, variables, xs, precision=config.precision, **kwargs
            ),
            repeats=config.repeats,
        )
        timings[f"ntk_{name}_s"] = seconds
        log(f"  ntk {name:9s} {seconds * 1e3:10.2f} ms")
    agreement = {
        f"ntk_{k}_rel_diff": max_relative_difference(v, ntks["factored"]) for k, v in ntks.items()
    }
    agreement.pop("ntk_factored_rel_diff")
    nt_fastest = min(timings["ntk_nt1_s"], timings["ntk_nt2_s"])
    return {
        **timings,
        **agreement,
        "ntk_nt_fastest_implementation": 1 if timings["ntk_nt1_s"] <= timings["ntk_nt2_s"] else 2,
        "ntk_speedup_vs_nt": nt_fastest / timings["ntk_factored_s"],
    }


def _monte_carlo(config, model, xs, log):
    nt = load_neural_tangents()
    seeds = range(config.seeds)
    impl = None if config.prng == "threefry" else config.prng
    init_fn, apply_fn, _ = stax_residual_mlp(
        config.num_res_blocks, config.W_std, config.b_std, width=model.width, **config.shape
    )

    def ours():
        return lambda: monte_carlo_kernels(
            model, xs, seeds, precision=config.precision, control_variates=False, prng_impl=impl
        )

    def theirs():
        kernel_fn = nt.monte_carlo_kernel_fn(
            init_fn,
            apply_fn,
            jax.random.PRNGKey(0) if impl is None else jax.random.key(0, impl=impl),
            config.seeds,
            trace_axes=(-1,),
            vmap_axes=0,
            implementation=2,
        )
        return lambda: kernel_fn(xs, None, ("nngp", "ntk"))

    with jax.default_matmul_precision(config.precision):
        ours_cold, ours_compile, _ = time_cold(ours)
        log(f"  mc ours cold {ours_cold:8.2f} s (compiling {ours_compile:.2f} s)")
        ours_warm, _ = time_warm(ours(), repeats=1)
        log(f"  mc ours warm {ours_warm:8.2f} s")
        nt_cold, nt_compile, _ = time_cold(theirs)
        log(f"  mc nt   cold {nt_cold:8.2f} s (compiling {nt_compile:.2f} s)")
        nt_warm, _ = time_warm(theirs(), repeats=1)
        log(f"  mc nt   warm {nt_warm:8.2f} s")
    return {
        "mc_seeds": config.seeds,
        "mc_prng": config.prng,
        "mc_ours_cold_s": ours_cold,
        "mc_ours_compile_s": ours_compile,
        "mc_ours_warm_s": ours_warm,
        "mc_nt_cold_s": nt_cold,
        "mc_nt_compile_s": nt_compile,
        "mc_nt_warm_s": nt_warm,
        "mc_speedup_vs_nt": nt_cold / ours_cold,
        "mc_warm_speedup_vs_nt": nt_warm / ours_warm,
    }


def _conditional(config, width, xs, log):
    """The conditional sampler's warm seconds for S networks: this activation and ReLU."""
    xs = np.asarray(xs, np.float64)
    result = {}
    for label, activation in (("", config.activation), ("_relu", "relu")):

        def sample(activation=activation):
            return conditional_kernels(
                xs,
                config.seeds,
                width=width,
                num_res_blocks=config.num_res_blocks,
                W_std=config.W_std,
                b_std=config.b_std,
                dtype="float32",
                activation=activation,
                branch_scale=config.branch_scale,
            )

        with jax.default_matmul_precision(config.precision):
            sample()  # compiles
            seconds, _ = time_warm(sample, repeats=config.repeats)
        result[f"conditional{label}_s"] = seconds
        log(f"  conditional {activation:10s} {seconds * 1e3:9.2f} ms ({config.seeds} networks)")
    result["conditional_cost_vs_relu"] = result["conditional_s"] / result["conditional_relu_s"]
    return result


def _analytic(config, log):

    xs = np.asarray(
        jax.random.normal(jax.random.PRNGKey(1), (config.analytic_n, config.input_dim)), np.float64
    )
    arch = {
        "num_res_blocks": config.num_res_blocks,
        "W_std": config.W_std,
        "b_std": config.b_std,
        **config.shape,
    }
    result = {"analytic_n": config.analytic_n}

    first = time_cold(lambda: lambda: rmlp_kernels(xs, **arch))[0]
    warm, ours = time_warm(lambda: rmlp_kernels(xs, **arch), repeats=config.repeats)
    result |= {"analytic_ours_float64_first_s": first, "analytic_ours_float64_s": warm}
    log(f"  analytic ours float64 {warm * 1e3:9.1f} ms (first call {first:.2f} s)")
    for dtype, x64 in (("float32", False), ("float64", True)):
        with jax.enable_x64(x64):
            _, _, kernel_fn = stax_residual_mlp(
                config.num_res_blocks, config.W_std, config.b_std, **config.shape
            )
            x = jnp.asarray(xs, dtype)

            def make(kernel_fn=kernel_fn, x=x):
                fn = jax.jit(kernel_fn, static_argnames="get")
                return lambda: fn(x, None, get=("nngp", "ntk"))

            first = time_cold(make)[0]
            warm, theirs = time_warm(make(), repeats=config.repeats)
        result[f"analytic_nt_{dtype}_first_s"] = first
        result[f"analytic_nt_{dtype}_s"] = warm
        result[f"analytic_nt_{dtype}_rel_diff"] = max_relative_difference(theirs.ntk, ours.ntk)
        log(f"  analytic nt   {dtype} {warm * 1e3:9.1f} ms (first call {first:.2f} s)")
    result["analytic_speedup_vs_nt_float64"] = (
        result["analytic_nt_float64_s"] / result["analytic_ours_float64_s"]
    )
    result["analytic_speedup_vs_nt_float32"] = (
        result["analytic_nt_float32_s"] / result["analytic_ours_float64_s"]
    )
    return result


def run_bench(config: BenchConfig, *, log=print) -> dict:
    """Run every comparison in ``config``; return the JSON-ready result.

    The result holds ``device``, ``precision``, ``environment``, ``config``,
    ``rows`` (one per width) and ``analytic`` (``None`` when
    ``config.analytic_n == 0``).
    """

    label = precision_label(config.precision)
    rows = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_NT_WARNING, category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="`FanIn` layers assume independent inputs")
        for width in config.widths:
            log(f"width {width}:")
            model = ResidualMLP(
                width, config.num_res_blocks, W_std=config.W_std, b_std=config.b_std,
                **config.shape,
            )  # fmt: skip
            xs = jax.random.normal(jax.random.PRNGKey(2), (config.n_inputs, config.input_dim))
            n_params = sum(x.size for x in jax.tree_util.tree_leaves(init_network(model, xs, 0)))
            row = {"width": width, "n_params": int(n_params), "precision": label}
            row |= _ntk_one_network(config, model, xs, log)
            row |= _monte_carlo(config, model, xs, log)
            row |= _conditional(config, width, xs, log)
            rows.append(row)
        analytic = None
        if config.analytic_n:
            log(f"analytic kernels, N = {config.analytic_n}:")
            analytic = {"precision": label, **_analytic(config, log)}
    return {
        "device": device_description(),
        "precision": label,
        "note": config.note,
        "config": dataclasses.asdict(config),
        "environment": environment_stamp(precision=config.precision, dtype="float32"),
        "rows": rows,
        "analytic": analytic,
    }
