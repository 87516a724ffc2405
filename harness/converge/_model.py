"""A custom ``--model pkg.module:factory``: loading it, and checking it before any network.

Contract. ``factory(width)`` returns a ``flax.linen.Module`` that maps ``(N, d)``
float32 inputs to ``(N,)`` or ``(N, K)`` outputs, each row from its own input. Its
parameters are ``module.init(key, xs)``; the model owns its parameterization (the NTK
parameterization is what makes kernels converge, but nothing here imposes it).
Network ``s`` of width ``n`` is ``factory(n).init(fold_in(PRNGKey(s), n), xs)``, as
for the residual MLP. Its kernels are :func:`harness.kernels.model_kernels`: the
Jacobian NTK averaged over the ``K`` outputs, and the NNGP readout-marginalised when
``--readout NAME`` names the readout submodule (``variables["params"][NAME]``; a
path ``a/b`` for a nested one), else the outputs' second moment.

:func:`probe_model` checks the factory before any network is measured, and each
misbehaviour is a :class:`~harness.runs.UsageError` (one line, exit status 2):

* ``factory(width)`` or the module's ``init``/``apply`` raises, or it returns no
  Flax module, or a module without parameters;
* its outputs are not ``(N,)`` or ``(N, K)`` (at any width), or hold NaN or Inf, or a
  row depends on the other inputs (batch statistics);
* its ``init`` is not deterministic in the key (two draws from one key differ), or
  ignores it (two keys give one network);
* it ignores the width: two widths with the same parameter count;
* ``--readout NAME`` names no submodule, the outputs are not linear in its
  parameters, or those are not i.i.d. N(0, 1) (:mod:`harness.kernels._custom_model`
  derives why the readout-marginalised NNGP needs both);
* the run does not fit in memory: one network's cost cannot be known from the config,
  so the program that measures one network at the widest width is compiled (not run)
  and its memory analysis (arguments, outputs and temporaries) is taken as that cost.

Shapes and parameter counts come from ``jax.eval_shape`` at every width (nothing is
drawn); the checks that need numbers draw networks at the smallest width only, since
on a CPU each new shape costs a compilation of the draw (seconds). A network whose
kernels hold NaN or Inf at another width stops the run when it is measured
(:class:`~harness.converge.NonFiniteKernelError`, exit status 1, naming width and seed).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from harness.converge._candidates import callable_spec
from harness.converge._candidates import import_spec
from harness.converge._candidates import raised
from harness.kernels import model_kernels
from harness.kernels import readout_leaves
from harness.kernels import readout_linearity_problem
from harness.kernels import readout_normality_problem
from harness.runs import UsageError
from harness.runs import check_run_memory

__all__ = [
    "NNGP_ESTIMATORS",
    "CustomModel",
    "ModelProbe",
    "load_model",
    "network_key",
    "probe_model",
]

#: What a custom model's NNGP estimate is, by whether it names a readout.
NNGP_ESTIMATORS = {True: "readout-marginalised", False: "second moment"}
#: Networks drawn at the smallest width to check that the readout is N(0, 1).
READOUT_NETWORKS = 4
#: Relative difference allowed between a row of the batched outputs and the same input
#: alone (float32 matmuls of another shape round differently).
ROW_RTOL = 1e-4


@dataclasses.dataclass(frozen=True)
class CustomModel:
    """A loaded ``factory``, its ``spec`` (``pkg.module:factory``) and its ``readout``."""

    spec: str
    factory: Callable
    readout: str | None = None

    @property
    def what(self) -> str:
        """How messages name it."""
        return f"--model {self.spec}"


def load_model(model, readout: str | None = None) -> CustomModel:
    """``"pkg.module:factory"`` or a callable ``factory(width)`` as a :class:`CustomModel`.

    Raises:
      UsageError: the spec does not import, or names nothing callable.
    """
    if isinstance(model, CustomModel):
        return dataclasses.replace(model, readout=readout)
    if isinstance(model, str):
        spec = model.strip()
        factory = import_spec(spec, "--model", "'pkg.module:factory'")
        return CustomModel(spec, factory, readout)
    if not callable(model):
        raise UsageError(
            f"judge: model= must be a factory(width) or 'pkg.module:factory', not {model!r}"
        )
    return CustomModel(callable_spec(model), model, readout)


def network_key(seed: int, width: int):
    """Network ``seed`` of width ``width``: ``fold_in(PRNGKey(seed), width)``."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), width)


@dataclasses.dataclass(frozen=True)
class ModelProbe:
    """What :func:`probe_model` learnt about a custom model.

    Attributes:
      model: the :class:`CustomModel`.
      parameters: width → parameter count (``variables["params"]``).
      outputs: ``K``, outputs per input.
      network_bytes: one network's peak bytes at the widest width (its compiled
        program's memory analysis).
      seconds: how long the checks took (compiling the widest network included).
      modules: width → the module ``factory(width)`` returned.
    """

    model: CustomModel
    parameters: dict
    outputs: int
    network_bytes: int
    seconds: float
    modules: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def nngp_estimator(self) -> str:
        """``"readout-marginalised"`` or ``"second moment"``."""
        return NNGP_ESTIMATORS[self.model.readout is not None]

    def module(self, width: int) -> nn.Module:
        """The network module of ``width``, as the probe checked it."""
        return self.modules[width]

    def to_json(self) -> dict:
        """``results.json``'s ``model``."""
        return {
            "spec": self.model.spec,
            "readout": self.model.readout,
            "nngp_estimator": self.nngp_estimator,
            "parameters": {str(w): p for w, p in self.parameters.items()},
            "outputs": self.outputs,
            "network_bytes": self.network_bytes,
            "probe_s": self.seconds,
        }


def _call(model: CustomModel, what: str, function, *args):
    """``function(*args)``; an error in the user's code is one line naming ``what``."""
    try:
        return function(*args)
    except (Exception, SystemExit) as error:  # the user's code: report, never crash or exit
        raise UsageError(f"{model.what}: {what} {raised(error)}") from None


def _module(model: CustomModel, width: int) -> nn.Module:
    module = _call(model, f"factory({width})", model.factory, width)
    if not isinstance(module, nn.Module):
        raise UsageError(
            f"{model.what}: factory({width}) returned a {type(module).__name__}, "
            "not a flax.linen.Module"
        )
    return module


def _count(params) -> int:
    return int(sum(np.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(params)))


def _shapes(model: CustomModel, module, width: int, xs) -> tuple[int, tuple]:
    """Parameter count and output shape of ``module``, nothing drawn or computed."""
    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    variables = _call(model, f"init at width {width}", jax.eval_shape, module.init, key, xs)
    params = variables.get("params") if isinstance(variables, dict) else None
    count = _count(params) if params is not None else 0
    if count == 0:
        raise UsageError(f"{model.what}: the module at width {width} has no parameters")
    out = _call(model, f"apply at width {width}", jax.eval_shape, module.apply, variables, xs)
    return count, tuple(getattr(out, "shape", ()))


def _check_output(model: CustomModel, width: int, shape: tuple, n: int) -> int:
    """``K`` from an output shape; anything but ``(N,)`` or ``(N, K)`` is refused."""
    if len(shape) == 1 and shape[0] == n:
        return 1
    if len(shape) == 2 and shape[0] == n and shape[1] >= 1:
        return int(shape[1])
    raise UsageError(
        f"{model.what}: outputs of shape {shape} at width {width} for ({n}, d) inputs; "
        f"expected ({n},) or ({n}, K)"
    )


def _leaves_equal(a, b) -> bool:
    return all(
        np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True)
    )


def _network_bytes(model, module, xs, precision) -> int:
    """Peak bytes of one network's kernels at this module's width: its compiled program's
    arguments, outputs and temporaries (a parameter-count bound if XLA reports none)."""

    def one(key, inputs):
        variables = module.init(key, inputs)
        return model_kernels(module, variables, inputs, readout=model.readout, precision=precision)

    key = jax.random.PRNGKey(0)
    compiled = _call(
        model, "the widest network's kernels", lambda: jax.jit(one).lower(key, xs).compile()
    )
    stats = compiled.memory_analysis()
    if stats is not None:
        total = (
            stats.argument_size_in_bytes
            + stats.output_size_in_bytes
            + stats.temp_size_in_bytes
            - stats.alias_size_in_bytes
        )
        if total > 0:
            return int(total)
    params = _count(jax.eval_shape(module.init, key, xs)["params"])
    return int(4 * params * (xs.shape[0] + 3))  # the per-input Jacobian and the draw


def _draw(model, module, width, seed, xs):
    return _call(model, f"init at width {width}", module.init, network_key(seed, width), xs)


def probe_model(model: CustomModel, xs: np.ndarray, config) -> ModelProbe:
    """Check ``model`` on the run's inputs and widths (module docstring); what it learnt.

    Args:
      model: the loaded model.
      xs: the run's ``(N, d)`` inputs (float64; networks see them in float32).
      config: the run's :class:`~harness.converge.ConvergeConfig` (widths, precision,
        and what the memory check counts).

    Raises:
      UsageError: the first misbehaviour found, in one line.
    """
    start = time.perf_counter()
    inputs = jnp.asarray(xs, jnp.float32)
    n, widths = inputs.shape[0], list(config.widths)
    modules = {w: _module(model, w) for w in widths}
    parameters, outputs = {}, {}
    for width, module in modules.items():
        parameters[width], shape = _shapes(model, module, width, inputs)
        outputs[width] = _check_output(model, width, shape, n)
    for narrow, wide in itertools.pairwise(widths):
        if parameters[narrow] == parameters[wide]:
            raise UsageError(
                f"{model.what}: factory({narrow}) and factory({wide}) have the same "
                f"{parameters[narrow]} parameters; the factory ignores its width"
            )
    if model.readout is not None:
        shapes = jax.eval_shape(modules[widths[0]].init, jax.random.PRNGKey(0), inputs)
        try:
            readout_leaves(shapes["params"], model.readout)
        except KeyError as error:
            raise UsageError(f"--readout {model.readout}: {error.args[0]}") from None
    network_bytes = _network_bytes(model, modules[widths[-1]], inputs, config.jax_precision)
    check_run_memory(config, n_inputs=n, input_dim=inputs.shape[1], network_bytes=network_bytes)
    first = _check_networks(model, widths[0], modules[widths[0]], inputs)
    if model.readout is not None:
        _check_readout(model, modules[widths[0]], widths[0], inputs, first)
    seconds = time.perf_counter() - start
    return ModelProbe(model, parameters, outputs[widths[-1]], network_bytes, seconds, modules)


def _check_networks(model: CustomModel, width: int, module, inputs) -> dict:
    """At ``width``: outputs finite, init deterministic in the key, rows independent.
    Returns network 0."""
    variables = _draw(model, module, width, 0, inputs)
    out = np.asarray(_call(model, f"apply at width {width}", module.apply, variables, inputs))
    if not np.all(np.isfinite(out)):
        raise UsageError(f"{model.what}: its outputs at width {width} hold NaN or Inf")
    again = _draw(model, _module(model, width), width, 0, inputs)
    if not _leaves_equal(variables, again):
        raise UsageError(
            f"{model.what}: its init is not deterministic in the key (two draws from one key "
            f"differ at width {width}); draw parameters from the key Flax passes"
        )
    other = _draw(model, module, width, 1, inputs)
    if _leaves_equal(variables, other):
        raise UsageError(
            f"{model.what}: its init ignores the key (two keys give the same network at "
            f"width {width}); draw parameters from the key Flax passes"
        )
    # At full float32 matmul precision: TF32 (the GPU's default) rounds a batch of one
    # and a batch of N apart by about 1e-3, which would hide nothing but refuse every model.
    with jax.default_matmul_precision("highest"):
        out = _call(model, f"apply at width {width}", module.apply, variables, inputs)
        out = np.asarray(out).reshape(out.shape[0], -1)
        scale = float(np.max(np.abs(out))) or 1.0
        alones = [
            _call(model, f"apply at width {width}", module.apply, variables, inputs[row : row + 1])
            for row in range(out.shape[0])
        ]
    for row, alone in enumerate(alones):
        alone = np.asarray(alone).reshape(-1)
        if np.max(np.abs(alone - out[row])) > ROW_RTOL * scale:
            raise UsageError(
                f"{model.what}: the output for input {row} changes with the other inputs "
                "(batch statistics?); each row must come from its own input"
            )
    return variables


def _check_readout(model: CustomModel, module, width: int, inputs, variables) -> None:
    """The readout-marginalised NNGP applies: linear in the readout, and N(0, 1) draws."""
    refuse = (
        f"--readout {model.readout}: {{}}, so the readout-marginalised NNGP does not apply; "
        "omit --readout to use the second-moment estimate"
    )
    problem = readout_linearity_problem(module, variables, inputs, model.readout)
    if problem is None:
        draws = [variables] + [
            _draw(model, module, width, seed, inputs) for seed in range(1, READOUT_NETWORKS)
        ]
        problem = readout_normality_problem(_readout_values(draws, model.readout))
    if problem is not None:
        raise UsageError(refuse.format(problem))


def _readout_values(draws: list, readout: str) -> dict[str, np.ndarray]:
    """``{name: (S, *shape)}`` of every readout parameter over the drawn networks."""
    flat = [jax.tree_util.tree_flatten_with_path(v["params"])[0] for v in draws]
    mask = readout_leaves(draws[0]["params"], readout)
    values = {}
    for index, ((path, _), is_readout) in enumerate(zip(flat[0], mask, strict=True)):
        if is_readout:
            name = "/".join(str(getattr(k, "key", k)) for k in path)
            values[name] = np.stack([np.asarray(network[index][1]) for network in flat])
    return values
