"""Each job's ``--out`` against folders it must not take (issue 17), end to end.

The committed reports are the folders at stake: ``reports/converge-default-cpu`` and
``reports/train-cpu`` hold ``run.json`` and results but no ``units/`` (units are not
committed), ``reports/calibration`` a calibration written before it had ``run.json``.
Each test works on a copy and checks that a refused run changed nothing in it.
"""

import shutil
from pathlib import Path

import pytest

import harness.calibrate._cli as calibrate_cli
from harness.converge import main as converge_main
from harness.train import main as train_main

REPORTS = Path(__file__).resolve().parents[2] / "reports"
CONVERGE = ["--widths", "32,64", "--seeds", "2", "--sampler", "conditional", "--n-inputs", "4",
            "--quiet"]  # fmt: skip
TRAIN = ["--widths", "16,32", "--seeds", "2", "--blocks", "1", "--n-train", "4", "--n-test", "3",
         "--records", "4", "--input-dim", "3", "--quiet"]  # fmt: skip


def _copy(name: str, tmp_path: Path) -> tuple[Path, dict]:
    folder = shutil.copytree(REPORTS / name, tmp_path / name)
    return folder, _snapshot(folder)


def _snapshot(folder: Path) -> dict:
    """Every file's bytes, but the lock's (a refused run may leave an empty ``.lock``)."""
    files = (p for p in folder.rglob("*") if p.is_file() and p.name != ".lock")
    return {p.relative_to(folder): p.read_bytes() for p in files}


def _refused(cli_exit, main, argv) -> str:
    code, line = cli_exit(main, argv, warnings=True)
    assert code == 2, line
    return line


def test_another_config_into_a_committed_converge_report_is_refused(tmp_path, cli_exit):
    folder, before = _copy("converge-default-cpu", tmp_path)
    line = _refused(cli_exit, converge_main, [*CONVERGE, "--out", str(folder)])
    assert "holds a run of a different config (" in line
    assert "--n-inputs: stored 16, now 4" in line
    assert "--force" in line
    assert _snapshot(folder) == before


def test_another_config_into_a_committed_train_report_is_refused(tmp_path, cli_exit):
    folder, before = _copy("train-cpu", tmp_path)
    line = _refused(cli_exit, train_main, [*TRAIN, "--out", str(folder)])
    assert "different config (--widths: stored [128, 256, 512, 1024], now [16, 32];" in line
    assert _snapshot(folder) == before


def test_calibrate_never_writes_into_a_converge_folder(tmp_path, cli_exit, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the calibration ran before the folder was checked")

    monkeypatch.setattr(calibrate_cli, "run_calibration", must_not_run)
    folder, before = _copy("converge-default-cpu", tmp_path)
    line = _refused(cli_exit, calibrate_cli.main, ["--quick", "--quiet", "--out", str(folder)])
    assert "is a converge folder" in line
    assert _snapshot(folder) == before


@pytest.mark.parametrize(
    ("main", "argv", "report", "kind"),
    [
        (converge_main, CONVERGE, "train-cpu", "train"),
        (converge_main, CONVERGE, "calibration", "calibrate"),
        (converge_main, CONVERGE, "bench", "bench"),
        (train_main, TRAIN, "converge-default-cpu", "converge"),
        (train_main, TRAIN, "calibration", "calibrate"),
    ],
)
def test_force_does_not_take_another_jobs_folder(tmp_path, cli_exit, main, argv, report, kind):
    folder, before = _copy(report, tmp_path)
    line = _refused(cli_exit, main, [*argv, "--force", "--out", str(folder)])
    assert f"is a {kind} folder" in line
    assert _snapshot(folder) == before
