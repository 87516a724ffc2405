"""Tests of the resumable result folder (harness.runs._store)."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.converge import ConvergeConfig
from harness.converge._measure import networks_per_device
from harness.converge._measure import seed_batches
from harness.kernels import estimate_network_bytes
from harness.runs import ConfigMismatchError
from harness.runs import FolderBusyError
from harness.runs import FolderKindError
from harness.runs import RunStore
from harness.runs import UsageError
from harness.runs import atomic_write_json
from harness.runs import check_out_folder
from harness.runs import claim_folder
from harness.runs import unit_key
from harness.runs._store import config_fingerprint


def test_units_round_trip_and_resume(tmp_path):
    config = {"widths": [64, 128], "seeds": 2}
    store = RunStore(tmp_path / "out", config, kind="converge")
    kernel = np.arange(4.0).reshape(2, 2)
    store.save("w64_s0", ntk=kernel)
    assert store.has("w64_s0")
    assert not store.has("w64_s1")
    again = RunStore(tmp_path / "out", dict(reversed(config.items())), kind="converge")
    np.testing.assert_array_equal(again.load("w64_s0")["ntk"], kernel)
    assert not list((tmp_path / "out" / "units").glob(".*tmp"))  # no temporary files left
    (tmp_path / "out" / "units" / ".w64_s1.npz.abc.tmp").write_bytes(b"torn")  # kill -9
    RunStore(tmp_path / "out", config, kind="converge")
    assert not list((tmp_path / "out" / "units").glob(".*tmp"))


def test_unit_keys_are_the_names_stored_folders_hold():
    # Folders written before these keys had one home must still resume.
    assert unit_key(64, 3) == unit_key(64, 3, "flax") == "w64_s3"
    assert unit_key(64, 3, "conditional") == "c64_s3"


def test_different_config_is_refused_unless_forced(tmp_path):
    RunStore(tmp_path, {"seeds": 2}, kind="converge").save("w64_s0", ntk=np.eye(2))
    with pytest.raises(ConfigMismatchError, match="different config"):
        RunStore(tmp_path, {"seeds": 3}, kind="converge")
    assert issubclass(ConfigMismatchError, UsageError)
    with pytest.raises(ConfigMismatchError):
        RunStore(tmp_path, {"seeds": 2}, kind="dynamics")
    forced = RunStore(tmp_path, {"seeds": 3}, kind="converge", force=True)
    assert not forced.has("w64_s0")
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["config"] == {"seeds": 3}


def test_units_of_another_format_are_refused_unless_forced(tmp_path):
    """A folder from a version that stored other arrays: refused by name, never half-reused."""
    old = {"nngp": (2, 2), "ntk": (2, 2)}
    RunStore(tmp_path, {"seeds": 2}, kind="converge", unit_schema=old).save(
        "w64_s0", nngp=np.eye(2), ntk=np.eye(2)
    )
    new = {**old, "nngp_control": (2, 2), "ntk_control": (2, 2)}
    with pytest.raises(ConfigMismatchError, match="its units hold nngp, ntk; this version stores"):
        RunStore(tmp_path, {"seeds": 2}, kind="converge", unit_schema=new)
    assert (tmp_path / "units" / "w64_s0.npz").exists()  # nothing lost by the refusal
    forced = RunStore(tmp_path, {"seeds": 2}, kind="converge", unit_schema=new, force=True)
    assert not forced.has("w64_s0")


def test_non_empty_foreign_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigMismatchError, match="not empty"):
        RunStore(tmp_path, {"seeds": 2}, kind="converge")


def test_non_writer_writes_nothing_but_reads_back_what_it_saved(tmp_path):
    store = RunStore(tmp_path / "out", {"a": 1}, kind="converge", writer=False)
    store.save("w1_s1", x=np.ones(1))
    store.write_json("results.json", {})
    assert not (tmp_path / "out").exists()
    # Process 0 may not have written it yet: this process still has its own copy.
    np.testing.assert_array_equal(store.load("w1_s1")["x"], np.ones(1))


def test_fingerprint_is_order_independent_and_json_handles_numpy(tmp_path):
    assert config_fingerprint({"a": 1, "b": [1, 2]}) == config_fingerprint({"b": [1, 2], "a": 1})
    assert config_fingerprint({"a": 1}) != config_fingerprint({"a": 2})
    atomic_write_json(tmp_path / "x.json", {"v": np.float32(0.5), "a": np.arange(2)})
    assert json.loads((tmp_path / "x.json").read_text()) == {"v": 0.5, "a": [0, 1]}


def test_seed_batches_fit_the_memory_budget_and_are_even():

    config = ConvergeConfig(widths=(512,), seeds=16, num_res_blocks=3, n_inputs=32)
    one = estimate_network_bytes(512, 3, 10, 32)
    # Room for 10 networks: 16 seeds need two batches, filled evenly (8 + 8).
    assert networks_per_device(config, 512, 1, budget_bytes=10 * one) == 8
    assert networks_per_device(config, 512, 1, budget_bytes=one) == 1
    assert networks_per_device(config, 512, 1, budget_bytes=100 * one) == 16
    assert seed_batches(5, 2) == [[0, 1], [2, 3], [4]]


def test_second_process_is_refused_naming_the_holder(tmp_path, held_store):

    with held_store(tmp_path / "out", {"seeds": 2}) as holder:
        with pytest.raises(FolderBusyError, match=rf"in use by pid {holder.pid} on ") as info:
            RunStore(tmp_path / "out", {"seeds": 2}, kind="converge", force=True)
        assert "started 20" in str(info.value)
        assert issubclass(FolderBusyError, UsageError)
    # Released when the holder ends: the folder opens (and the same process may reopen it).
    first = RunStore(tmp_path / "out", {"seeds": 2}, kind="converge")
    again = RunStore(tmp_path / "out", {"seeds": 2}, kind="converge")
    again.close()
    first.save("w1_s0", ntk=np.eye(2))
    first.close()
    assert json.loads((tmp_path / "out" / ".lock").read_text() or "{}") == {}
    assert os.listdir(tmp_path / "out" / "units") == ["w1_s0.npz"]


def test_temporary_names_are_unique_per_process(tmp_path, monkeypatch):

    seen = []
    real = os.replace

    def spy(source, target):
        seen.append(Path(source).name)
        return real(source, target)

    monkeypatch.setattr(os, "replace", spy)
    atomic_write_json(tmp_path / "a.json", {})
    atomic_write_json(tmp_path / "a.json", {})
    assert len(set(seen)) == 2
    assert all(name.startswith(f".a.json.{os.getpid()}.") for name in seen)


def test_inputs_file_counts_by_content_not_path(tmp_path):
    config = {"inputs_file": "data/x.npy", "inputs_sha256": "ab" * 32, "seeds": 2}
    RunStore(tmp_path, config, kind="train").save("w1_s0", x=np.ones(2))
    moved = {**config, "inputs_file": str(tmp_path / "elsewhere" / "x.npy")}
    assert RunStore(tmp_path, moved, kind="train").has("w1_s0")
    changed = {**moved, "inputs_sha256": "cd" * 32}
    with pytest.raises(ConfigMismatchError, match="different config"):
        RunStore(tmp_path, changed, kind="train")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:100]), "does not load"),
        (lambda p: np.savez(p, nngp=np.eye(3)), "has no array 'ntk'"),
        (
            lambda p: np.savez(p, nngp=np.eye(3), ntk=np.eye(4)),
            "'ntk' has shape (4, 4), not (3, 3)",
        ),
        (lambda p: np.savez(p, nngp=np.eye(3), ntk=np.full((3, 3), np.nan)), "NaN or Inf"),
        (lambda p: p.write_bytes(b""), "does not load"),
    ],
)
def test_damaged_unit_is_set_aside_and_counts_as_missing(tmp_path, capsys, damage, reason):
    store = RunStore(tmp_path, {"seeds": 2}, kind="converge")
    for key in ("w4_s0", "w4_s1"):
        store.save(key, nngp=np.eye(3), ntk=2 * np.eye(3))
    store.close()
    damage(tmp_path / "units" / "w4_s1.npz")
    again = RunStore(tmp_path, {"seeds": 2}, kind="converge")
    assert again.has("w4_s0")
    assert not again.has("w4_s1")
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"warning: {tmp_path / 'units' / 'w4_s1.npz'} is damaged (")
    assert reason in err
    assert "computing it again" in err
    set_aside = list((tmp_path / "units" / "bad").glob("w4_s1.*.npz"))
    assert len(set_aside) == 1  # kept for inspection, out of the way
    again.save("w4_s1", nngp=np.eye(3), ntk=2 * np.eye(3))
    assert again.has("w4_s1")


def test_units_without_identity_are_set_aside(tmp_path, capsys):
    """A unit file that does not say which unit of which run it is is never used."""
    (tmp_path / "units").mkdir()
    for seed in range(2):
        np.savez(tmp_path / "units" / f"w4_s{seed}.npz", nngp=np.eye(3), ntk=np.eye(3))
    fingerprint = config_fingerprint({"kind": "converge", "config": {"seeds": 2}})
    (tmp_path / "run.json").write_text(
        json.dumps({"kind": "converge", "fingerprint": fingerprint, "config": {"seeds": 2}})
    )
    store = RunStore(tmp_path, {"seeds": 2}, kind="converge")
    assert [store.has(f"w4_s{seed}") for seed in range(2)] == [False, False]
    assert "carries no identity" in capsys.readouterr().err
    bad = sorted(p.name.split(".")[0] for p in (tmp_path / "units" / "bad").iterdir())
    assert bad == ["w4_s0", "w4_s1"]


@pytest.mark.parametrize("content", ["[]", '"hello"', '{"kind": "conv', "", "{}"])
def test_damaged_manifest(tmp_path, content):
    (tmp_path / "run.json").write_text(content)
    # No finished units: nothing to lose, the folder is taken over.
    store = RunStore(tmp_path, {"seeds": 2}, kind="converge")
    store.save("w1_s0", ntk=np.eye(2))
    store.close()
    (tmp_path / "run.json").write_text(content)
    with pytest.raises(ConfigMismatchError, match=r"run.json is damaged, so the 1 finished units"):
        RunStore(tmp_path, {"seeds": 2}, kind="converge")
    forced = RunStore(tmp_path, {"seeds": 2}, kind="converge", force=True)
    assert not forced.has("w1_s0")


def test_failed_run_without_units_does_not_block_another_config(tmp_path):
    RunStore(tmp_path, {"seeds": 2}, kind="train").close()  # failed before its first unit
    store = RunStore(tmp_path, {"seeds": 3}, kind="train")
    assert json.loads((tmp_path / "run.json").read_text())["config"] == {"seeds": 3}
    store.close()


def test_unusable_out_folders_are_usage_errors(tmp_path, monkeypatch):

    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        check_out_folder(tmp_path / "file")
    with pytest.raises(UsageError, match=r"is a file, so .* cannot be created"):
        check_out_folder(tmp_path / "file" / "out")
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked)
    with pytest.raises(UsageError, match=r"cannot write in .*locked"):
        RunStore(locked / "out", {"seeds": 2}, kind="converge")
    monkeypatch.undo()

    class Full:
        f_bavail, f_frsize = 10, 4096

    monkeypatch.setattr(os, "statvfs", lambda path: Full)
    with pytest.raises(UsageError, match="no space left on the file system"):
        check_out_folder(tmp_path / "new")
    assert not (tmp_path / "new").exists()


# -- issue 17: what a folder holds, and who may take it ----------------------------------------


def test_force_clears_units_behind_a_link(tmp_path):
    # out/units is a link to scratch storage: --force must empty what it points to.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "units").symlink_to(scratch)
    old = RunStore(tmp_path / "out", {"W_std": 1.5}, kind="converge")
    old.save("w4_s0", ntk=np.eye(2))
    old.save("w4_s1", ntk=np.eye(2))
    old.close()
    (scratch / "notes.txt").write_text("not a unit")
    forced = RunStore(tmp_path / "out", {"W_std": 1.0}, kind="converge", force=True)
    assert not list(scratch.glob("*.npz"))
    assert not forced.has("w4_s0")
    assert (tmp_path / "out" / "units").is_symlink()  # still on scratch storage
    assert (scratch / "notes.txt").exists()  # only units are the run's
    forced.save("w4_s0", ntk=2 * np.eye(2))
    assert (scratch / "w4_s0.npz").exists()


def test_units_that_cannot_be_deleted_are_an_error(tmp_path, monkeypatch):
    old = RunStore(tmp_path, {"W_std": 1.5}, kind="converge")
    old.save("w4_s0", ntk=np.eye(2))
    old.close()

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "units" / "w4_s0.npz"))

    monkeypatch.setattr(Path, "unlink", refuse)
    monkeypatch.setattr(os, "unlink", refuse)
    with pytest.raises(UsageError, match=r"cannot delete the old units .*Permission denied"):
        RunStore(tmp_path, {"W_std": 1.0}, kind="converge", force=True)
    monkeypatch.undo()
    assert (tmp_path / "units" / "w4_s0.npz").exists()
    assert json.loads((tmp_path / "run.json").read_text())["config"] == {"W_std": 1.5}


@pytest.mark.parametrize(
    ("source", "target", "reason"),
    [
        ("w4_s0", "w4_s1", "it is unit w4_s0 (width 4, seed 0, sampler flax), not w4_s1"),
        ("w8_s1", "w4_s1", "it is unit w8_s1 (width 8, seed 1, sampler flax), not w4_s1"),
        ("c4_s1", "w4_s1", "it is unit c4_s1 (width 4, seed 1, sampler conditional), not w4_s1"),
    ],
)
def test_unit_copied_over_another_is_set_aside(tmp_path, capsys, source, target, reason):
    store = RunStore(tmp_path, {"W_std": 1.5}, kind="converge")
    for number, key in enumerate(("w4_s0", "w4_s1", "w8_s1", "c4_s1")):
        store.save(key, nngp=number * np.eye(3), ntk=np.eye(3))
    store.close()
    units = tmp_path / "units"
    (units / f"{target}.npz").write_bytes((units / f"{source}.npz").read_bytes())
    again = RunStore(tmp_path, {"W_std": 1.5}, kind="converge")
    assert again.load(source) is not None
    assert again.load(target) is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert reason in err
    assert len(list((units / "bad").glob(f"{target}.*.npz"))) == 1


def test_unit_of_another_config_is_set_aside(tmp_path, capsys):
    other = RunStore(tmp_path / "other", {"W_std": 1.0, "seeds": 2}, kind="converge")
    other.save("w4_s0", nngp=np.eye(3), ntk=np.eye(3))
    mine = RunStore(tmp_path / "mine", {"W_std": 1.5, "seeds": 2}, kind="converge")
    mine.save("w4_s0", nngp=np.eye(3), ntk=2 * np.eye(3))
    mine.close()
    copied = (tmp_path / "other" / "units" / "w4_s0.npz").read_bytes()
    (tmp_path / "mine" / "units" / "w4_s0.npz").write_bytes(copied)
    again = RunStore(tmp_path / "mine", {"W_std": 1.5, "seeds": 2}, kind="converge")
    assert not again.has("w4_s0")
    assert "belongs to a run of another config (--w-std: stored 1.0, now 1.5)" in (
        capsys.readouterr().err
    )


def test_unit_without_identity_counts_only_in_older_folders(tmp_path, capsys):
    store = RunStore(tmp_path, {"seeds": 2}, kind="converge")
    store.save("w4_s0", nngp=np.eye(3), ntk=np.eye(3))
    store.close()
    np.savez(tmp_path / "units" / "w4_s1.npz", nngp=np.eye(3), ntk=np.eye(3))
    again = RunStore(tmp_path, {"seeds": 2}, kind="converge")
    assert again.has("w4_s0")
    assert not again.has("w4_s1")
    assert "it carries no identity" in capsys.readouterr().err


def test_results_of_another_config_are_never_replaced_without_force(tmp_path):
    # A committed report: run.json and results, no units/ (they are not committed).
    first = RunStore(tmp_path, {"W_std": 1.5, "n_inputs": 16}, kind="converge")
    first.write_json("results.json", {"status": "complete"})
    first.write_text("report.md", "# the committed answer\n")
    first.close()
    shutil.rmtree(tmp_path / "units")
    with pytest.raises(
        ConfigMismatchError, match=r"different config \(--n-inputs: stored 16, now 4"
    ):
        RunStore(tmp_path, {"W_std": 1.5, "n_inputs": 4}, kind="converge")
    assert (tmp_path / "report.md").read_text() == "# the committed answer\n"
    assert json.loads((tmp_path / "run.json").read_text())["config"]["n_inputs"] == 16


def test_mismatch_names_every_option_that_differs(tmp_path):
    config = {"W_std": 1.5, "b_std": 0.5, "num_res_blocks": 3, "inputs_sha256": "ab" * 32}
    RunStore(tmp_path, config, kind="converge").save("w4_s0", ntk=np.eye(2))
    changed = {**config, "W_std": 1.0, "num_res_blocks": 2, "inputs_sha256": "cd" * 32}
    with pytest.raises(ConfigMismatchError) as info:
        RunStore(tmp_path, changed, kind="converge")
    message = str(info.value)
    assert "--w-std: stored 1.5, now 1.0" in message
    assert "--blocks: stored 3, now 2" in message
    assert "--inputs: stored abababababab…, now cdcdcdcdcdcd…" in message
    # A field only the stored config has is one the current code no longer counts.
    assert RunStore(tmp_path, {**config, "b_std": 0.5}, kind="converge").has("w4_s0")
    del config["b_std"]
    assert RunStore(tmp_path, config, kind="converge").has("w4_s0")


def _finished_run(folder, config, kind="converge"):
    store = RunStore(folder, config, kind=kind)
    store.save("w4_s0", ntk=np.eye(2))
    for name in ("results.json", "results.csv", "report.md", "convergence.png"):
        store.write_text(name, f"{config}")
    store.close()


@pytest.mark.parametrize("force", [True, False])
def test_a_new_run_moves_the_results_it_finds_to_previous(tmp_path, force):
    # --force into another config, or a rerun that only re-summarises (another tolerance):
    # killed right after it took the folder, it must not leave the old results beside it.
    _finished_run(tmp_path, {"W_std": 1.5})
    RunStore(tmp_path, {"W_std": 1.0 if force else 1.5}, kind="converge", force=force).close()
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {".lock", "run.json", "units", "previous"}
    moved = {p.name for p in (tmp_path / "previous").iterdir()}
    assert moved == {"results.json", "results.csv", "report.md", "convergence.png"}
    assert (tmp_path / "previous" / "report.md").read_text() == "{'W_std': 1.5}"
    # The next run replaces previous/ with what it finds (only when it finds results).
    _finished_run(tmp_path, {"W_std": 2.0} if force else {"W_std": 1.5})
    assert (tmp_path / "previous" / "report.md").read_text() == "{'W_std': 1.5}"
    RunStore(tmp_path, {"W_std": 3.0 if force else 1.5}, kind="converge", force=force).close()
    expected = "{'W_std': 2.0}" if force else "{'W_std': 1.5}"
    assert (tmp_path / "previous" / "report.md").read_text() == expected


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize(
    ("found", "files"),
    [
        ("train", {"run.json": '{"kind": "train", "fingerprint": "x", "config": {}}'}),
        ("calibrate", {"records.csv.gz": "", "results.json": "{}", "report.md": ""}),
        ("bench", {"cpu_w8.json": "{}", "cpu_w8.md": ""}),
    ],
)
def test_a_job_never_writes_into_another_jobs_folder(tmp_path, force, found, files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "results.json").write_text('{"mine": true}')
    with pytest.raises(FolderKindError, match=rf"is a {found} folder .* a converge run writes"):
        RunStore(tmp_path, {"seeds": 2}, kind="converge", force=force)
    assert json.loads((tmp_path / "results.json").read_text()) == {"mine": True}
    assert not (tmp_path / "previous").exists()
    other = "calibrate" if found != "calibrate" else "train"
    with pytest.raises(FolderKindError), claim_folder(tmp_path, kind=other):
        pass


def test_claim_folder_takes_its_own_kind_and_empty_folders(tmp_path):
    with claim_folder(tmp_path / "new", kind="calibrate") as folder:
        (folder / "results.json").write_text("1")
    with claim_folder(tmp_path / "new", kind="calibrate"):
        assert (tmp_path / "new" / "previous" / "results.json").read_text() == "1"
        assert not (tmp_path / "new" / "results.json").exists()
    assert json.loads((tmp_path / "new" / "run.json").read_text()) == {"kind": "calibrate"}
    with pytest.raises(FolderKindError, match="is a calibrate folder"):
        RunStore(tmp_path / "new", {"seeds": 2}, kind="converge", force=True)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    refused = pytest.raises(ConfigMismatchError, match="not empty and holds no run")
    with refused, claim_folder(tmp_path / "mine", kind="calibrate"):
        pass
    assert (tmp_path / "mine" / "thesis.tex").exists()
