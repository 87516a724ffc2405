"""End-to-end and bad-input tests of ``python -m harness.converge``."""

import csv
import json
import textwrap

import jax
import numpy as np
import pytest

import analytic
import harness
from analytic import Architecture
from harness.converge import main
from harness.converge._candidates import evaluate_candidate
from harness.converge._candidates import load_candidate
from harness.converge._candidates import parse_candidates
from harness.kernels import empirical_nngp
from harness.kernels import empirical_ntk
from harness.runs import UsageError
from harness.runs import gaussian_inputs
from harness.runs import strict_json
from harness.runs._compilation import compilation_cache_folder
from models import ResidualMLP
from models import draw_parameters

TINY = ["--widths", "16,32", "--seeds", "2", "--n-inputs", "5", "--input-dim", "3", "--quiet"]
# The tiny run's architecture, at full float32 matmuls on every backend ("highest": the
# default is TF32 on NVIDIA GPUs, whose ~5e-4 rounding would swamp the 1e-4
# recomputation check below).
TINY_ARCH = ["--blocks", "2", "--w-std", "1.5", "--b-std", "0.5", "--precision", "highest"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, figures_on):
    out = tmp_path_factory.mktemp("converge") / "run"
    with figures_on():
        assert main([*TINY, *TINY_ARCH, "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_outputs_exist_and_have_the_documented_keys(tiny_run):
    for name in ("results.json", "results.csv", "report.md", "run.json"):
        assert (tiny_run / name).is_file()
    for stem in ("convergence", "heatmaps", "error_distributions"):
        assert (tiny_run / f"{stem}.png").stat().st_size > 1000
        assert (tiny_run / f"{stem}.svg").read_text().lstrip().startswith("<?xml")
    results = json.loads((tiny_run / "results.json").read_text())
    assert results["status"] == "complete"
    timing = results["timing"]
    # From the process's start (the test session's) to the first stored network.
    assert timing["first_network_s"] > 0
    cache = compilation_cache_folder()  # the session's folder, or None when turned off
    assert timing["compilation_cache"] == (None if cache is None else str(cache))
    compiled = timing["compilation"]
    assert compiled["programs"] >= 1
    assert compiled["compilations"] >= compiled["programs"]
    assert 0 < compiled["slowest"][0]["seconds"] <= compiled["seconds"]
    assert results["config"]["widths"] == [16, 32]
    assert results["environment"]["backend"] == jax.default_backend()
    for kernel in ("nngp", "ntk"):
        entry = results["kernels"][kernel]
        for key in ("widths", "rel_err_mean", "rel_err_std", "rel_err_of_seed_mean", "slope"):
            assert key in entry
        assert len(entry["slope_ci95"]) == 2
    # Two independent float64 implementations of the same recursion. neural-tangents
    # takes arccos of correlations, which near the diagonal (angle ~0) loses up to
    # ~5e-9 per ReLU in the NTK (derivation in test_analytic_neural_tangents.py);
    # 2 blocks have L + 1 = 3 ReLUs on every path.
    assert results["analytic_vs_neural_tangents"]["nngp"] < 1e-10
    assert results["analytic_vs_neural_tangents"]["ntk"] < 3 * 5e-9 + 1e-10
    assert set(results["candidates"]["notebook"]) >= {"spec", "nngp", "ntk"}
    for key in ("measure", "worst_entries", "z_matrix", "entry_detectable_error", "size"):
        assert key in results["kernels"]["ntk"]["formula_test"]
    assert results["stopped"]["reason"] == "fixed seeds"
    report = (tiny_run / "report.md").read_text()
    assert "![Convergence" in report
    assert "candidate `notebook`" in report
    assert "### Worst entries" in report


@pytest.mark.slow
def test_csv_errors_match_an_independent_recomputation(tiny_run):
    # Independent truth: rebuild network (width 32, seed 1) from fold_in(PRNGKey(1), 32)
    # with models.draw_parameters (the documented seed → network map of the run),
    # take its literal Jacobian NTK (J Jᵀ, not the factored estimator the run used)
    # and the analytic kernels, and recompute the relative Frobenius errors.
    rows = list(csv.DictReader((tiny_run / "results.csv").open()))
    # 2 widths × 2 seeds × 2 kernels × (analytic, neural_tangents, seed candidate)
    assert len(rows) == 2 * 2 * 2 * 3
    xs = gaussian_inputs(5, 3, seed=0)
    model = ResidualMLP(32, 2, 1.5, 0.5)
    variables = draw_parameters(model, jax.random.fold_in(jax.random.PRNGKey(1), 32), 3)
    reference = analytic.rmlp_kernels(xs, num_res_blocks=2, W_std=1.5, b_std=0.5)
    ntk = empirical_ntk(model, variables, xs, method="jacobian", precision="highest")
    ntk = np.asarray(ntk, np.float64)
    nngp = np.asarray(empirical_nngp(model, variables, xs, precision="highest"), np.float64)
    expected = {
        "ntk": np.linalg.norm(ntk - reference.ntk) / np.linalg.norm(reference.ntk),
        "nngp": np.linalg.norm(nngp - reference.nngp) / np.linalg.norm(reference.nngp),
    }
    for row in rows:
        if row["width"] == "32" and row["seed"] == "1" and row["reference"] == "analytic":
            # float32 networks: factored vs Jacobian NTK agree to ~1e-6 relative.
            assert float(row["rel_err"]) == pytest.approx(expected[row["kernel"]], rel=1e-4)


@pytest.mark.slow
def test_rerun_of_same_config_resumes_with_identical_numbers(tiny_run):
    before = json.loads((tiny_run / "results.json").read_text())
    args = [*TINY, *TINY_ARCH, "--out", str(tiny_run)]
    assert main(args) == 0
    after = json.loads((tiny_run / "results.json").read_text())
    assert after["timing"]["networks_computed"] == 0
    assert after["timing"]["first_network_s"] is None  # every network was on disk
    for key in ("kernels", "candidates", "analytic_vs_neural_tangents", "config"):
        assert after[key] == before[key]


@pytest.mark.bad_arguments("converge")
def test_bad_input_exits_2_with_one_line(argv, message, cli_exit, tmp_path):
    code, line = cli_exit(main, [*TINY, "--out", str(tmp_path / "o"), *argv])
    assert code == 2
    assert message in line
    assert not (tmp_path / "o" / "units").exists()  # nothing computed


def test_bad_inputs_file(tmp_path, cli_exit):
    good = tmp_path / "good.npy"
    np.save(good, np.ones((4, 3)))
    for name, array, message in (
        ("nan.npy", np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN or Inf (first in row 0)"),
        ("flat.npy", np.ones(5), "expected (N, d)"),
        ("one.npy", np.ones((1, 3)), "expected (N, d)"),
        ("text.npy", np.array([["a", "b"], ["c", "d"]]), "numeric"),
    ):
        np.save(tmp_path / name, array)
        code, line = cli_exit(main, [*TINY[:-5], "--inputs", str(tmp_path / name)])
        assert (code, message in line) == (2, True), line
    code, line = cli_exit(main, ["--inputs", str(tmp_path / "missing.npy")])
    assert code == 2
    assert "no such file" in line
    (tmp_path / "junk.npy").write_text("not numpy")
    code, line = cli_exit(main, ["--inputs", str(tmp_path / "junk.npy")])
    assert code == 2
    assert "cannot read" in line
    code, line = cli_exit(main, ["--inputs", str(good), "--n-inputs", "4"])
    assert code == 2
    assert "do not combine" in line


@pytest.mark.slow
def test_different_config_in_existing_out_is_refused_then_forced(tiny_run, cli_exit, tmp_path):
    code, line = cli_exit(main, [*TINY, "--blocks", "1", "--out", str(tiny_run)])
    assert code == 2
    assert "different config" in line
    assert "--force" in line


def test_candidate_contract(tmp_path, monkeypatch):

    (tmp_path / "my_formulas.py").write_text(
        textwrap.dedent(
            """
            import analytic

            def ntk_only(xs, num_res_blocks, W_std, b_std):
                return analytic.rmlp_ntk(xs, num_res_blocks, W_std, b_std)

            def both(xs, num_res_blocks, W_std, b_std):
                return analytic.rmlp_kernels(
                    xs, num_res_blocks=num_res_blocks, W_std=W_std, b_std=b_std)

            def pair(xs, num_res_blocks, W_std, b_std):
                k = both(xs, num_res_blocks, W_std, b_std)
                return (k.nngp, k.ntk)

            def wrong_shape(xs, num_res_blocks, W_std, b_std):
                return xs
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    xs = gaussian_inputs(4, 3)
    arch = Architecture(2, 1.2, 0.3)
    truth = analytic.rmlp_kernels(xs, **arch.kwargs())
    out = evaluate_candidate(load_candidate("my_formulas:ntk_only"), xs, arch)
    assert set(out) == {"ntk"}
    np.testing.assert_array_equal(out["ntk"], truth.ntk)
    for name in ("both", "pair"):
        out = evaluate_candidate(load_candidate(f"my_formulas:{name}"), xs, arch)
        np.testing.assert_array_equal(out["nngp"], truth.nngp)
        np.testing.assert_array_equal(out["ntk"], truth.ntk)
    with pytest.raises(UsageError, match=r"shape \(4, 3\); expected \(4, 4\)"):
        evaluate_candidate(load_candidate("my_formulas:wrong_shape"), xs, arch)


def test_notebook_candidate_answers_to_its_old_name_seed():
    xs = gaussian_inputs(4, 3, seed=0)
    arch = Architecture(2, 1.5, 0.5)
    notebook, seed = load_candidate("notebook"), load_candidate("seed")
    # Reported under the name it was given by, so results of `--candidate seed` keep their key.
    assert (notebook.name, seed.name) == ("notebook", "seed")
    ntk = evaluate_candidate(seed, xs, arch)["ntk"]
    np.testing.assert_array_equal(ntk, analytic.notebook_rmlp_ntk(xs, 2, 1.5, 0.5))
    np.testing.assert_array_equal(ntk, evaluate_candidate(notebook, xs, arch)["ntk"])
    assert [c.name for c in parse_candidates(["seed", "none"])] == ["seed"]
    with pytest.raises(UsageError, match="given twice"):
        parse_candidates(["notebook", "seed"])


def test_real_command_line_exit_status_and_no_traceback(tmp_path, run_python):
    process = run_python(
        "-m", "harness.converge", "--widths", "512..64", "--out", tmp_path, timeout=120
    )
    assert process.returncode == 2
    assert process.stderr.strip().splitlines() == [
        "error: --widths: range 512..64 is reversed (write 64..512)"
    ]


@pytest.mark.slow
def test_own_inputs_and_own_candidate_end_to_end(tmp_path, monkeypatch):
    # A user's module with an NTK-only formula: ours scaled by 1.5, wrong by
    # construction. For each network, ‖Θ̂‖ ≤ (1 + e)‖Θ‖ with e its error against
    # ours, so its error against 1.5Θ is at least (1.5 − 1 − e)/1.5 (triangle inequality).
    (tmp_path / "scaled_formula.py").write_text(
        "import analytic\n\n"
        "def scaled_ntk(xs, num_res_blocks, W_std, b_std):\n"
        "    return 1.5 * analytic.rmlp_ntk(xs, num_res_blocks, W_std, b_std)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    # 4 inputs in d = 2 at widths 8, 16: the networks of tests/converge/test_hostile.py's
    # tiny runs, which so reuse these compiled programs.
    xs = gaussian_inputs(4, 2, seed=7)
    np.save(tmp_path / "mine.npy", xs)
    out = tmp_path / "run"
    argv = [
        "--inputs",
        str(tmp_path / "mine.npy"),
        "--widths",
        "8,16",
        "--seeds",
        "2",
        "--blocks",
        "1",
        "--candidate",
        "scaled_formula:scaled_ntk",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["n_inputs"] == 4
    assert results["config"]["input_dim"] == 2
    assert len(results["config"]["inputs_sha256"]) == 64
    candidate = results["candidates"]["scaled_ntk"]
    assert candidate["spec"] == "scaled_formula:scaled_ntk"
    assert candidate["kernels_provided"] == ["ntk"]
    assert "nngp" not in candidate
    ours = np.asarray(results["kernels"]["ntk"]["rel_err_per_seed"])
    theirs = np.asarray(candidate["ntk"]["rel_err_per_seed"])
    assert np.all(theirs >= (0.5 - ours) / 1.5 - 1e-12)
    # Changing the file's contents changes the config: the old folder is refused.
    np.save(tmp_path / "mine.npy", xs + 1.0)
    with pytest.raises(UsageError, match="different config"):
        main(argv)


def test_results_are_strict_json():
    # One seed has no spread and a two-width fit no CI: written as null, not NaN.

    value = {"std": [float("nan"), 0.5], "ci": (float("-inf"), float("inf")), "n": 3}
    assert strict_json(value) == {"std": [None, 0.5], "ci": [None, None], "n": 3}
    json.dumps(strict_json(value), allow_nan=False)


_WITHOUT_NT = """
import sys

sys.modules["neural_tangents"] = None  # as if not installed: importing it fails
from harness.converge import main
from harness.runs import run_cli

run_cli(main, sys.argv[1:])
"""


@pytest.mark.slow
def test_runs_without_neural_tangents_and_says_so(tmp_path, run_python):
    # Truth: neural-tangents is optional at run time (its metadata requires TensorFlow).
    # The tiny run's networks (TINY_ARCH): their programs are in the session's cache.
    out = tmp_path / "run"
    done = run_python("-c", _WITHOUT_NT, *TINY[:-1], *TINY_ARCH, "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "neural-tangents reference skipped" in done.stdout
    # The first line names the device, the JAX version and the dtype.
    first = done.stdout.splitlines()[0]
    device = jax.devices()[0]
    name = device.platform if device.platform == "cpu" else device.device_kind
    assert first.startswith(f"converge: {jax.device_count()} × {name}")
    assert f"JAX {jax.__version__}, float32" in first
    results = json.loads((out / "results.json").read_text())
    for kernel in ("nngp", "ntk"):
        assert results["kernels"][kernel]["references"]["neural_tangents"]["installed"] is False
        assert results["kernels"][kernel]["outcome"] in ("consistent", "inconclusive")
    assert results["analytic_vs_neural_tangents"] is None
    assert "neural-tangents reference: not installed" in (out / "report.md").read_text()


def test_activation_and_branch_scale_end_to_end(tmp_path, monkeypatch, cli_exit):
    """``--activation erf --branch-scale 0.5``: the config, the references and candidates see it.

    A candidate written ``f(xs, arch)`` returns the analytic kernels of ``arch`` (so it
    equals ours exactly); a four-argument candidate is refused for a non-ReLU network.
    """
    (tmp_path / "arch_formulas.py").write_text(
        "import analytic\n\n"
        "seen = []\n\n"
        "def mine(xs, arch):\n"
        "    seen.append(arch)\n"
        "    return analytic.rmlp_kernels(xs, **arch.kwargs())\n\n"
        "def old_style(xs, num_res_blocks, W_std, b_std):\n"
        "    return analytic.rmlp_ntk(xs, num_res_blocks, W_std, b_std)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "run"
    shape = ["--activation", "ERF", "--branch-scale", "0.5"]
    argv = [*TINY, *TINY_ARCH, *shape, "--candidate", "arch_formulas:mine", "--out", str(out)]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["activation"] == "erf"
    assert results["config"]["branch_scale"] == 0.5
    assert results["control_variates"]["available"] is False
    import arch_formulas

    assert arch_formulas.seen == [Architecture(2, 1.5, 0.5, "erf", 0.5)]
    ours = results["kernels"]["ntk"]["formula_test"]["formula_error"]
    assert results["candidates"]["mine"]["ntk"]["formula_test"]["formula_error"] == ours
    # No figures in the suite (HARNESS_PLOTS=off), and the report says so.
    assert not list(out.glob("*.png"))
    assert "Not drawn (HARNESS_PLOTS=off)." in (out / "report.md").read_text()
    # harness.judge with the same settings gives the command line's numbers.
    verdict = harness.judge(
        arch_formulas.mine,
        widths=(16, 32),
        seeds=2,
        n_inputs=5,
        input_dim=3,
        num_res_blocks=2,
        W_std=1.5,
        b_std=0.5,
        precision="highest",
        activation="erf",
        branch_scale=0.5,
    )
    assert verdict.results["config"] == results["config"] | {"candidates": []}
    for kernel in ("nngp", "ntk"):
        cli = results["candidates"]["mine"][kernel]
        mine = getattr(verdict, kernel)
        assert (mine.outcome, mine.formula_error, mine.detectable_error) == (
            cli["outcome"],
            cli["formula_error"],
            cli["detectable_error"],
        )
        assert list(mine.formula_error_ci95) == cli["formula_error_ci95"]
        assert (
            verdict.results["kernels"][kernel]["formula_test"]
            == (results["kernels"][kernel]["formula_test"])
        )
    code, line = cli_exit(
        main, [*TINY, *shape, "--candidate", "arch_formulas:old_style", "--out", str(out)]
    )
    assert code == 2
    assert "cannot see the activation (erf)" in line
