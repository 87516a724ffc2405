"""``python -m harness.correction`` end to end: outputs, resume, the notebook API, refusals.

Truths: the results' own definitions (the ``B`` check and the intervals are recomputed
from the stored per-width moments), the ReLU network's exact diagonal (``A_ii = 0``:
the measurement must not reject it at the reported 5% family-wise level), the same
numbers from ``harness.judge(correction=...)`` as from the command line (same seeds),
and chunks on disk that a rerun with more networks reads instead of drawing again.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import harness
from harness.converge._cli import main as converge_main
from harness.correction._cli import main
from harness.stats import WidthMoments
from harness.stats import finite_width_correction

TINY = ["--widths", "8,16,32", "--seeds", "1024", "--chunk", "512", "--n-inputs", "4",
        "--blocks", "2", "--w-std", "1.2", "--b-std", "0.4"]  # fmt: skip

CANDIDATES = """
import analytic

def doubled(xs, arch):
    return 2.0 * analytic.rmlp_nngp_correction(xs, **arch.kwargs())

def with_ntk(xs, arch):
    a = analytic.rmlp_nngp_correction(xs, **arch.kwargs())
    return a, a
"""


@pytest.fixture(scope="module")
def candidates_module(tmp_path_factory):
    folder = tmp_path_factory.mktemp("candidates")
    (folder / "my_corrections.py").write_text(CANDIDATES)
    sys.path.insert(0, str(folder))
    yield "my_corrections"
    sys.path.remove(str(folder))


@pytest.fixture(scope="module")
def run(tmp_path_factory, candidates_module):
    out = tmp_path_factory.mktemp("correction") / "run"
    argv = [*TINY, "--out", str(out), "--quiet", "--candidate", f"{candidates_module}:doubled",
            "--candidate", f"{candidates_module}:with_ntk"]  # fmt: skip
    assert main(argv) == 0
    return out, json.loads((out / "results.json").read_text())


def _moments(out) -> dict[int, WidthMoments]:
    per_width: dict[int, WidthMoments] = {}
    for path in sorted((out / "units").glob("n*.npz")):
        width = int(path.name[1:].split("_")[0])
        with np.load(path) as unit:
            chunk = WidthMoments(int(unit["count"]), unit["mean"], unit["scatter"])
        per_width[width] = per_width[width].merged(chunk) if width in per_width else chunk
    return per_width


def test_outputs_hold_the_documented_fields_and_recompute_from_the_stored_chunks(run):
    out, results = run
    assert (out / "report.md").read_text().startswith("# The finite-width correction")
    correction = results["kernels"]["nngp"]["correction"]
    assert correction["widths"] == [8, 16, 32]
    assert correction["seeds"] == [1024, 1024, 1024]
    coefficient = np.asarray(correction["coefficient"])
    assert coefficient.shape == (4, 4)
    low, high = (np.asarray(a) for a in correction["ci95"])
    assert np.all(low <= coefficient)
    assert np.all(coefficient <= high)
    assert correction["curvature"]["matters"] in (True, False)
    assert correction["limit_known"] is True
    # The stored chunks are the whole measurement: the fit from them is the reported one.
    again = finite_width_correction(_moments(out), limit=np.asarray(results["limit"]))
    np.testing.assert_allclose(again.coefficient, coefficient, rtol=1e-12, atol=1e-12)
    # ReLU: the diagonal of A is exactly 0, and the measurement does not reject that.
    assert correction["diagonal"]["zero"], correction["diagonal"]
    ours = correction["ours"]
    assert ours["test"]["outcome"] in ("consistent", "inconclusive")
    assert np.allclose(np.diag(ours["coefficient"]), 0.0)
    doubled = results["correction_candidates"]["doubled"]["nngp"]
    assert set(doubled) >= {"outcome", "formula_error_ci95", "detectable_error"}
    assert results["correction_candidates"]["with_ntk"]["ntk"] is None  # NNGP only here


def test_a_rerun_with_more_networks_reads_the_stored_chunks(run, tmp_path):
    out, _ = run
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "units").glob("*.npz")}
    more = [a if a != "1024" else "1536" for a in TINY]
    assert main([*more, "--out", str(out), "--quiet"]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in (out / "units").glob("*.npz")}
    assert all(after[name] == stamp for name, stamp in stamps.items())  # none redrawn
    assert len(after) == len(stamps) + 3  # one new chunk of 512 per width
    results = json.loads((out / "results.json").read_text())
    assert results["kernels"]["nngp"]["correction"]["seeds"] == [1536] * 3


def test_judge_gives_the_command_lines_numbers(run, candidates_module):
    _, results = run
    module = __import__(candidates_module)
    verdict = harness.judge(
        correction=module.doubled,
        widths=(8, 16, 32),
        seeds=1024,
        chunk=512,
        n_inputs=4,
        num_res_blocks=2,
        W_std=1.2,
        b_std=0.4,
    )
    cli = results["correction_candidates"]["doubled"]["nngp"]
    assert verdict.nngp.formula_error == pytest.approx(cli["formula_error"], rel=1e-12)
    assert verdict.nngp.outcome == cli["outcome"]
    assert verdict.analytic["nngp"].outcome == results["kernels"]["nngp"]["correction"]["outcome"]
    assert "NNGP correction A: measured" in repr(verdict)


@pytest.mark.bad_arguments("correction")
def test_bad_input_exits_2_with_one_line(argv, message, cli_exit, tmp_path):
    code, line = cli_exit(main, [*TINY, "--out", str(tmp_path / "o"), *argv])
    assert code == 2
    assert message in line
    assert not (tmp_path / "o" / "units").exists()


def test_converge_correction_is_the_same_job(cli_exit, tmp_path):
    code, line = cli_exit(converge_main, ["--correction", *TINY, "--seeds", "1"])
    assert code == 2
    assert "--seeds" in line
