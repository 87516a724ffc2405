"""``python -m harness.bench``: a tiny end-to-end run, and bad input exiting with status 2."""

import json

import jax
import pytest

from harness.bench import main
from harness.bench._cli import parse_args
from harness.runs import compilation_cache_in_use


@pytest.mark.slow
def test_tiny_end_to_end_run(tmp_path, capsys):
    path = tmp_path / "bench.json"
    argv = ["--widths", "32", "--n-inputs", "3", "--seeds", "2", "--blocks", "1"]
    argv += ["--repeats", "1", "--analytic-n", "8", "--json", str(path)]
    argv += ["--activation", "erf", "--branch-scale", "0.5", "--prng", "rbg"]
    assert main(argv) == 0
    assert compilation_cache_in_use() is None  # the benchmark's cold times include compiling
    result = json.loads(path.read_text())
    device = jax.devices()[0]
    assert result["device"].startswith("cpu" if device.platform == "cpu" else device.device_kind)
    assert result["precision"] == "default"
    assert [row["width"] for row in result["rows"]] == [32]
    assert (result["config"]["activation"], result["config"]["branch_scale"]) == ("erf", 0.5)
    assert result["config"]["prng"] == "rbg"  # both sides' Monte Carlo networks
    for row in result["rows"]:
        assert row["precision"] == "default"
        for key in ("ntk_factored_s", "ntk_jacobian_s", "ntk_nt1_s", "ntk_nt2_s"):
            assert row[key] > 0
        assert row["mc_prng"] == "rbg"
        for key in ("mc_ours_cold_s", "mc_nt_cold_s", "mc_ours_warm_s", "mc_nt_warm_s"):
            assert row[key] > 0
        assert row["ntk_speedup_vs_nt"] == pytest.approx(
            min(row["ntk_nt1_s"], row["ntk_nt2_s"]) / row["ntk_factored_s"]
        )
        assert row["mc_speedup_vs_nt"] == pytest.approx(row["mc_nt_cold_s"] / row["mc_ours_cold_s"])
        # The part of a cold call spent tracing, lowering and compiling (JAX's own events).
        for who in ("ours", "nt"):
            assert 0 < row[f"mc_{who}_compile_s"] < row[f"mc_{who}_cold_s"]
        # Same network, same inputs: the methods agree at the default matmul precision:
        # float32 on a CPU; on a GPU TF32, whose 10-bit mantissa rounds at 2^-11 ≈ 4.9e-4.
        agree = 1e-4 if device.platform == "cpu" else 5e-3
        assert row["ntk_nt1_rel_diff"] < agree
        assert row["ntk_jacobian_rel_diff"] < agree
        # The conditional sampler, erf and relu side by side.
        assert row["conditional_cost_vs_relu"] == pytest.approx(
            row["conditional_s"] / row["conditional_relu_s"]
        )
    # Our float64 analytic erf kernels against neural-tangents' float64 kernel_fn (its Erf).
    assert result["analytic"]["analytic_nt_float64_rel_diff"] < 1e-6
    assert "| 32 |" in capsys.readouterr().out
    assert path.with_suffix(".md").read_text().startswith(f"# Benchmark: {result['device']}")


def test_parse_args_defaults_and_widths():
    config, path = parse_args(["--widths", "512..2048"])
    assert config.widths == (512, 1024, 2048)
    assert (config.n_inputs, config.seeds, config.analytic_n) == (32, 8, 4096)
    assert config.num_res_blocks == 3
    assert parse_args(["--blocks", "2"])[0].num_res_blocks == 2
    assert config.precision is None
    assert config.prng == "threefry"
    assert path is None


@pytest.fixture
def no_measuring(monkeypatch):
    """Measuring fails the test: bad input must be refused before any measurement."""
    import harness.bench._cli as bench_cli

    monkeypatch.setattr(bench_cli, "run_bench", lambda *a, **k: pytest.fail("measured"))


@pytest.mark.bad_arguments("bench")
def test_bad_input_and_impossible_sizes_exit_2_before_measuring(
    argv, message, cli_exit, no_measuring
):
    code, line = cli_exit(main, argv)
    assert code == 2
    assert message in line


def test_bad_input_from_the_shell_exits_2_without_traceback(run_python):
    proc = run_python("-m", "harness.bench", "--seeds", "0", timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == "error: argument --seeds: 0 is not >= 1\n"


def test_unwritable_json_path_exits_2_before_measuring(tmp_path, cli_exit, no_measuring):
    (tmp_path / "file").write_text("mine")
    (tmp_path / "folder").mkdir()
    for json_path, message in (
        (tmp_path / "file" / "out.json", "--json: " + str(tmp_path / "file") + " is a file"),
        (tmp_path / "folder", "is a folder, not a file"),
    ):
        code, line = cli_exit(main, ["--widths", "8", "--json", str(json_path)])
        assert code == 2
        assert message in line
    assert (tmp_path / "file").read_text() == "mine"
