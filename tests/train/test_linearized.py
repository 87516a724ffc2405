"""optax training of the linearised network against kernel GD with the literal ``J Jᵀ``.

Truth: for ``f_lin(θ) = f_0 + J (θ - θ_0)`` and the summed ½-squared loss, one GD step is
``θ ← θ - η Jᵀ (f(X) - y)``, so the outputs follow ``f ← f - η (J Jᵀ)(f(X) - y)`` exactly.
``J`` is formed here with ``jax.jacrev`` of the flattened parameters (a computation the
training code never does), in float64, and fed to the independent closed form
:func:`harness.train._kernel_dynamics.kernel_gd_prediction`.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from harness.kernels import empirical_ntk
from harness.train._gradient_descent import half_squared_loss
from harness.train._gradient_descent import train_full_batch
from harness.train._kernel_dynamics import kernel_gd_prediction
from harness.train._kernel_dynamics import stable_learning_rate
from harness.train._linearized import linearize_apply
from models import ResidualMLP


def _setup():
    model = ResidualMLP(width=16, num_res_blocks=1, W_std=1.5, b_std=0.5, dtype=jnp.float64)
    rng = np.random.default_rng(0)
    x_train, x_test = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
    y = rng.standard_normal(5)
    params = model.init(jax.random.PRNGKey(0), x_train)
    return model, params, x_train, x_test, y


def _jacobian(model, params, x):
    flat, unravel = ravel_pytree(params)
    return np.asarray(jax.jacrev(lambda v: model.apply(unravel(v), x)[:, 0])(flat))


@pytest.mark.slow  # ~15 s on 2 shared cores: float64 Jacobians and two compilations
def test_linearised_training_follows_kernel_gd_with_its_empirical_ntk():
    with jax.enable_x64(True):
        model, params, x_train, x_test, y = _setup()
        J_train, J_test = _jacobian(model, params, x_train), _jacobian(model, params, x_test)
        theta, cross = J_train @ J_train.T, J_test @ J_train.T
        eta = stable_learning_rate(theta, fraction=0.5)
        steps = [0, 1, 5, 40, 200]
        trace = train_full_batch(
            linearize_apply(model.apply, params),
            params,
            x_train,
            y,
            x_test,
            learning_rate=eta,
            record_steps=steps,
        )
        f0_train = np.asarray(model.apply(params, x_train)[:, 0])
        f0_test = np.asarray(model.apply(params, x_test)[:, 0])
        expected = kernel_gd_prediction(
            theta, cross, f0_train, f0_test, y, learning_rate=eta, steps=steps
        )
    # float64 throughout: agreement to rounding accumulated over 200 steps (~1e-13); 1e-9
    # relative leaves a wide margin while a wrong convention (e.g. a mean loss, off by N=5)
    # would be off at order 1.
    scale = np.abs(expected.train).max()
    np.testing.assert_allclose(trace.train, expected.train, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(trace.test, expected.test, rtol=0, atol=1e-9 * scale)


def test_one_optax_step_is_minus_eta_jacobian_transpose_residual():
    with jax.enable_x64(True):
        model, params, x_train, x_test, y = _setup()
        eta = 0.01
        trace = train_full_batch(
            model.apply, params, x_train, y, x_test, learning_rate=eta, record_steps=[1]
        )
        flat0, _ = ravel_pytree(params)
        flat1, _ = ravel_pytree(trace.params)
        residual = np.asarray(model.apply(params, x_train)[:, 0]) - y
        expected = np.asarray(flat0) - eta * _jacobian(model, params, x_train).T @ residual
        np.testing.assert_allclose(np.asarray(flat1), expected, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(
            float(half_squared_loss(jnp.asarray(residual + y), jnp.asarray(y))),
            0.5 * np.sum(residual**2),
            rtol=1e-14,
        )


def test_divergent_training_raises_naming_the_step():
    with jax.enable_x64(True):
        model, params, x_train, x_test, y = _setup()
        with pytest.raises(FloatingPointError, match="non-finite by step"):
            train_full_batch(
                model.apply, params, x_train, y, x_test, learning_rate=1e30, record_steps=[0, 50]
            )


@pytest.mark.slow  # ~10 s: float64 Jacobians and a short training run
def test_drift_kernel_of_trained_params_is_literal_j_jt():
    """The drift uses ``empirical_ntk`` on *trained* parameters; it must still be ``J Jᵀ``."""

    with jax.enable_x64(True):
        model, params, x_train, x_test, y = _setup()
        trace = train_full_batch(
            model.apply, params, x_train, y, x_test, learning_rate=0.05, record_steps=[30]
        )
        J = _jacobian(model, trace.params, x_train)
        factored = np.asarray(empirical_ntk(model, trace.params, x_train, method="factored"))
        J0 = _jacobian(model, params, x_train)
    # The parameters moved: the kernel changed by far more than the tolerance below.
    assert np.linalg.norm(J @ J.T - J0 @ J0.T) > 1e-3 * np.linalg.norm(J0 @ J0.T)
    # float64 sums of ~300 products per entry: agreement to ~1e-14 relative; 1e-10 is generous.
    np.testing.assert_allclose(factored, J @ J.T, rtol=1e-10, atol=1e-10 * np.abs(J @ J.T).max())
