"""Reliability of ``run_convergence``: resume after interruption (also ``kill -9``), NaN, OOM.

Determinism is checked bit for bit: a run interrupted in-process and resumed,
and a run in a separate process killed with SIGKILL and resumed, must both end
with exactly the numbers (and stored kernels) of one uninterrupted run.
"""

import dataclasses
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import harness.converge._run as converge_run
from harness.converge import NonFiniteKernelError
from harness.converge import run_convergence
from harness.converge._cli import build_parser
from harness.converge._cli import config_from_args
from harness.kernels import per_seed_kernels
from harness.runs import UsageError

ARGS = shlex.split(
    "--widths 16..64 --blocks 1 --w-std 1.3 --b-std 0.4 --n-inputs 5 "
    "--input-dim 3 --seeds 3 --candidate none --precision highest --quiet"
)
# The same run in Python; "highest": full float32 matmuls on every backend (a batch of
# one network is another XLA program, equal only to float32 rounding, which TF32, the GPU
# default, would exceed).
CONFIG = config_from_args(build_parser().parse_args(ARGS))
NUMBERS = ("kernels", "candidates", "analytic_vs_neural_tangents", "config")


def _units(folder):
    return {p.name: dict(np.load(p)) for p in sorted((folder / "units").glob("*.npz"))}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    out = tmp_path_factory.mktemp("baseline")
    return out, run_convergence(CONFIG, out, quiet=True)


@pytest.mark.slow
def test_resume_after_interrupt_reproduces_the_uninterrupted_run(baseline, tmp_path, monkeypatch):
    _out, results = baseline
    real = converge_run.measure_batch
    calls = []

    def interrupted(*args, **kwargs):  # the second batch never finishes
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(converge_run, "measure_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_convergence(CONFIG, tmp_path, quiet=True)
    assert len(_units(tmp_path)) == 3  # width 16 finished and kept
    assert json.loads((tmp_path / "results.json").read_text())["status"] == "partial"
    monkeypatch.setattr(converge_run, "measure_batch", real)
    resumed = run_convergence(CONFIG, tmp_path, quiet=True)
    assert resumed["timing"]["networks_computed"] == 6
    for key in NUMBERS:
        assert resumed[key] == results[key]


@pytest.mark.slow
def test_resume_after_kill_9_reproduces_the_uninterrupted_run(baseline, tmp_path):
    out, results = baseline
    command = [sys.executable, "-m", "harness.converge", *ARGS, "--out", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    done = 0
    while time.monotonic() < deadline and process.poll() is None:
        done = len(list((tmp_path / "units").glob("*.npz"))) if (tmp_path / "units").exists() else 0
        if done >= 3:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert 3 <= len(_units(tmp_path)) < 9
    resumed = run_convergence(CONFIG, tmp_path, quiet=True)
    for key in NUMBERS:
        assert resumed[key] == results[key]
    baseline_units, resumed_units = _units(out), _units(tmp_path)
    assert baseline_units.keys() == resumed_units.keys()
    for name, arrays in baseline_units.items():
        for kernel in ("nngp", "ntk"):
            np.testing.assert_array_equal(resumed_units[name][kernel], arrays[kernel])


def poisoned_kernels(model, keys, xs, **options):
    """``per_seed_kernels`` with NaN in every kernel of seed 1 (key ``fold_in(PRNGKey(1), n)``)."""
    nngp, *rest = per_seed_kernels(model, keys, xs, **options)
    seed_1 = jax.random.fold_in(jax.random.PRNGKey(1), model.width)
    poison = jnp.where(jnp.all(keys == seed_1, axis=1), jnp.nan, 1.0)[:, None, None]
    return nngp * poison, *rest


def test_nan_names_width_and_seed_and_keeps_finished_networks(tmp_path):
    with pytest.raises(NonFiniteKernelError, match="NNGP at width 16, seed 1"):
        run_convergence(CONFIG, tmp_path, quiet=True, kernels_fn=poisoned_kernels)
    assert sorted(_units(tmp_path)) == ["w16_s0.npz", "w16_s2.npz"]


def exhausting_kernels(model, keys, xs, **options):
    """``per_seed_kernels`` that runs out of memory for more than one network per batch."""
    if keys.shape[0] > 1:
        raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate (fake)")
    return per_seed_kernels(model, keys, xs, **options)


@pytest.mark.slow
def test_out_of_memory_halves_the_batch_and_loses_nothing(baseline, tmp_path):
    _out, results = baseline
    resumed = run_convergence(CONFIG, tmp_path, quiet=True, kernels_fn=exhausting_kernels)
    assert resumed["timing"]["networks_computed"] == 9
    # One network per call instead of three: a different XLA program, so equal up
    # to float32 rounding of the kernels (~1e-7 relative), not bit for bit.
    for kernel in ("nngp", "ntk"):
        np.testing.assert_allclose(
            resumed["kernels"][kernel]["rel_err_mean"],
            results["kernels"][kernel]["rel_err_mean"],
            rtol=1e-4,
        )


# -- issue 17: what a resumed folder may reuse, and what it must not show ----------------------


def _copy_of(baseline, tmp_path):
    out, _results = baseline
    return shutil.copytree(out, tmp_path / "run", ignore=shutil.ignore_patterns(".lock"))


@pytest.mark.slow
def test_more_seeds_another_width_and_a_candidate_reuse_every_stored_network(baseline, tmp_path):
    # Units are keyed by width, seed and sampler: none of these options changes one.
    folder = _copy_of(baseline, tmp_path)
    more = dataclasses.replace(CONFIG, seeds=4, widths=(16, 32, 64, 128), candidates=("seed",))
    results = run_convergence(more, folder, quiet=True)
    assert results["timing"]["networks_computed"] == 3 + 4  # seed 3 of each width, width 128
    fewer = dataclasses.replace(CONFIG, candidates=())
    assert run_convergence(fewer, folder, quiet=True)["timing"]["networks_computed"] == 0


def test_fingerprint_holds_only_what_determines_a_network():
    changed = dataclasses.replace(
        CONFIG, seeds=7, widths=(8, 128), candidates=("seed",), sampler="conditional",
        flax_max_width=8, tolerance=0.05, budget=None,
    )  # fmt: skip
    assert changed.fingerprint() == CONFIG.fingerprint()
    for field, value in (("W_std", 1.0), ("num_res_blocks", 2), ("precision", "default")):
        assert dataclasses.replace(CONFIG, **{field: value}).fingerprint() != CONFIG.fingerprint()


@pytest.mark.slow
def test_mismatch_names_the_option_that_differs(baseline, tmp_path):
    folder = _copy_of(baseline, tmp_path)
    with pytest.raises(UsageError, match=r"different config \(--w-std: stored 1.3, now 1.0\)"):
        run_convergence(dataclasses.replace(CONFIG, W_std=1.0), folder, quiet=True)


@pytest.mark.slow
def test_unit_copied_over_another_seed_is_computed_again(baseline, tmp_path, capsys):
    _out, results = baseline
    folder = _copy_of(baseline, tmp_path)
    units = folder / "units"
    (units / "w32_s1.npz").write_bytes((units / "w32_s0.npz").read_bytes())
    capsys.readouterr()
    resumed = run_convergence(CONFIG, folder, quiet=True)
    assert "it is unit w32_s0 (width 32, seed 0, sampler flax), not w32_s1" in (
        capsys.readouterr().err
    )
    assert resumed["timing"]["networks_computed"] == 1
    for key in NUMBERS:
        assert resumed[key] == results[key]


@pytest.mark.slow
@pytest.mark.parametrize("change", ["force", "tolerance"])
def test_killed_run_leaves_no_stale_results_beside_it(baseline, tmp_path, monkeypatch, change):
    # --force into another config, killed before its first network; or a rerun that only
    # re-summarises (another tolerance), killed while it writes its outputs.
    folder = _copy_of(baseline, tmp_path)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    if change == "force":
        config, force = dataclasses.replace(CONFIG, W_std=1.0), True
        monkeypatch.setattr(converge_run, "measure_batch", killed)
    else:
        config, force = dataclasses.replace(CONFIG, tolerance=0.05), False
        monkeypatch.setattr(converge_run, "write_outputs", killed)
    with pytest.raises(KeyboardInterrupt):
        run_convergence(config, folder, quiet=True, force=force)
    for name in ("report.md", "results.csv"):  # the suite draws no figures (HARNESS_PLOTS)
        assert not (folder / name).exists()
        assert (folder / "previous" / name).exists()
    if change == "force":
        assert not (folder / "results.json").exists()
    else:  # this run's own partial results only
        current = json.loads((folder / "results.json").read_text())
        assert (current["status"], current["config"]["tolerance"]) == ("partial", 0.05)
    assert json.loads((folder / "previous" / "results.json").read_text())["status"] == "complete"
