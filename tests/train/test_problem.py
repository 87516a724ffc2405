"""The shared problem of a training run (harness.train._problem): T and the loss it reaches."""

import dataclasses

import pytest

from harness.train import TrainConfig
from harness.train._kernel_dynamics import expected_loss_ratio
from harness.train._problem import build_problem
from harness.train._report import step_cap_warning


def _ratio_at(problem, steps):
    """The expected loss ratio at ``steps``, from :func:`expected_loss_ratio` directly."""
    return expected_loss_ratio(
        problem.theta_train,
        problem.nngp_train,
        problem.task.y_train,
        learning_rate=problem.learning_rate,
        steps=[steps],
    )[0]


def test_the_automatic_steps_reach_the_loss_target_by_default():
    config = TrainConfig()
    problem = build_problem(config)
    assert not problem.steps_capped
    assert problem.expected_loss_ratio == pytest.approx(_ratio_at(problem, problem.steps))
    assert problem.expected_loss_ratio <= config.loss_ratio < _ratio_at(problem, problem.steps - 1)


def test_the_step_cap_is_recorded_with_the_loss_it_reaches():
    # 64 training inputs in 2 dimensions: the NTK is ill-conditioned, and the expected loss
    # at the 5000-step cap is still about 20 times the 1e-3 asked.
    config = TrainConfig(n_train=64, input_dim=2)
    problem = build_problem(config)
    assert problem.steps == config.max_steps
    assert problem.steps_capped
    assert problem.expected_loss_ratio == pytest.approx(_ratio_at(problem, config.max_steps))
    assert problem.expected_loss_ratio > 10 * config.loss_ratio
    # Steps the user chose are not a cap: the ratio is recorded, nothing is flagged.
    given = build_problem(dataclasses.replace(config, steps=100))
    assert (given.steps, given.steps_capped) == (100, False)
    assert given.expected_loss_ratio == pytest.approx(_ratio_at(problem, 100))


@pytest.mark.parametrize(
    ("reached", "capped", "expected"),
    [
        (
            0.0194,
            True,
            "cap of 5000 steps, where the expected NTK training loss is 0.0194 × ½‖y‖²,",
        ),
        (5.46, True, "is 5.46 × ½‖y‖² (no better than the zero function), above the --loss-ratio"),
        (0.0009, False, None),
    ],
)
def test_the_step_cap_warning(reached, capped, expected):
    results = {
        "config": {"loss_ratio": 1e-3, "steps": None},
        "problem": {"steps": 5000, "expected_loss_ratio": reached, "steps_capped": capped},
    }
    warning = step_cap_warning(results)
    if expected is None:
        assert warning is None
    else:
        assert warning.startswith("loss target not reached: ")
        assert expected in warning
        assert warning.endswith("above the --loss-ratio 0.001 asked; pass --steps to train longer")
