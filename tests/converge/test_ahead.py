"""Compiling a run's programs ahead (``harness.converge._ahead``).

Truths: JAX's own compile events (:class:`harness.runs.CompileLog`): a program compiled
ahead is not compiled again by the run's call with the same arguments; and the numbers
of the call are those of a process that never compiled ahead (a fresh cache: the same
program on the same inputs is deterministic on the CPU).
"""

import threading
import time

import jax
import numpy as np
import pytest

from harness.converge import ConvergeConfig
from harness.converge._ahead import CompileAhead
from harness.converge._measure import WidthMeasurement
from harness.converge._measure import compile_conditional
from harness.converge._measure import measure_conditional
from harness.converge._run import Measured
from harness.runs import CompileLog
from harness.runs import InMemoryStore
from harness.runs import seed_mesh
from models import ResidualMLP

XS = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (5, 4)), np.float64)


def _compilations(log, program):
    return sum(
        p["compilations"] for p in log.to_json(top=100)["slowest"] if p["program"] == program
    )


def test_a_width_compiled_ahead_is_not_compiled_again_and_gives_the_same_numbers():
    model = ResidualMLP(24, 2, W_std=1.3, b_std=0.4)
    mesh = seed_mesh()
    measure = WidthMeasurement.residual(model, XS, mesh, ntk_method="factored", precision=None)
    seeds = [0, 1, 2]
    with CompileLog() as ahead:
        measure.compile(seeds)
    assert _compilations(ahead, "compute") == 1
    with CompileLog() as run:
        compiled_ahead = measure(seeds)
    assert _compilations(run, "compute") == 0
    jax.clear_caches()
    with CompileLog() as fresh:
        plain = measure(seeds)
    assert _compilations(fresh, "compute") == 1
    for name, array in plain.items():
        np.testing.assert_array_equal(compiled_ahead[name], array)


def test_a_conditional_width_compiled_ahead_is_not_compiled_again():
    config = ConvergeConfig(widths=(48,), seeds=3, n_inputs=5, input_dim=4, sampler="conditional")
    store = InMemoryStore()
    with CompileLog() as ahead:
        compile_conditional(config, XS, 48, [0, 1, 2])
    assert _compilations(ahead, "_batched") == 1
    with CompileLog() as run:
        measure_conditional(config, XS, store, 48, [0, 1, 2])
    assert _compilations(run, "_batched") == 0


def test_the_run_asks_for_the_first_batch_of_every_width_with_networks_to_compute():
    config = ConvergeConfig(widths=(16, 32, 64), seeds=4, n_inputs=5, input_dim=4,
                            flax_max_width=32)  # fmt: skip
    store = InMemoryStore()
    measured = Measured(config, XS, store, seed_mesh(), {}, None)
    plan = [(16, "flax"), (32, "flax"), (64, "conditional"), (32, "conditional")]
    seeds = dict.fromkeys(plan, 4)
    for seed in range(4):  # width 16 is done: nothing to compile for it
        store.save(f"w16_s{seed}", nngp=np.eye(5), ntk=np.eye(5))
    tasks = measured.compile_tasks(plan, seeds)
    assert list(tasks) == plan[1:]


def test_compile_ahead_runs_tasks_in_order_and_forgets_failures():
    order, gate = [], threading.Event()

    def task(name, fail=False):
        def run():
            gate.wait(5)
            order.append(name)
            if fail:
                raise RuntimeError("compilation failed")

        return run

    with CompileAhead(
        {"a": task("a"), "b": task("b", fail=True), "c": task("c")}, workers=1
    ) as ahead:
        gate.set()
        ahead.wait("a")
        ahead.wait("b")  # the failure is not raised here
        ahead.wait("c")
        ahead.wait("never asked")
    assert order == ["a", "b", "c"]
    idle = CompileAhead({"a": task("a")}, workers=0)
    idle.wait("a")
    assert order == ["a", "b", "c"]


@pytest.mark.parametrize("workers", [1, 3])
def test_leaving_drops_the_compilations_not_started(workers):
    started, gate = [], threading.Event()

    def task(name):
        def run():
            started.append(name)
            gate.wait(5)

        return run

    tasks = {name: task(name) for name in "abcdefgh"}
    with CompileAhead(tasks, workers=workers):
        for _ in range(500):  # the first task alone has started
            if started:
                break
            time.sleep(0.01)
        assert started == ["a"]
    gate.set()
    time.sleep(0.1)
    assert started == ["a"]
