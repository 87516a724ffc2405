"""JAX's persistent compilation cache for the jobs, and the compile-time log.

Truths: the folder rules of the module docstring (XDG Base Directory
Specification: ``$XDG_CACHE_HOME``, else ``~/.cache``); a program compiled once
is read back from the cache by a fresh compilation (JAX's own hit counter); the
log's seconds are those JAX reports, and add up.
"""

import os

import jax
import jax.numpy as jnp
import pytest

from harness.runs import CompileLog
from harness.runs import compilation_cache_in_use
from harness.runs import configure_compilation_cache
from harness.runs._compilation import compilation_cache_folder


@pytest.fixture
def restore_cache():
    enabled = jax.config.jax_enable_compilation_cache
    folder = jax.config.jax_compilation_cache_dir
    yield
    jax.config.update("jax_enable_compilation_cache", enabled)
    jax.config.update("jax_compilation_cache_dir", folder)


def test_cache_folder_follows_the_environment(tmp_path):
    home = os.path.expanduser("~")
    assert str(compilation_cache_folder({})) == f"{home}/.cache/rmlp-kernel-harness/jax"
    xdg = {"XDG_CACHE_HOME": str(tmp_path)}
    assert compilation_cache_folder(xdg) == tmp_path / "rmlp-kernel-harness" / "jax"
    own = {"HARNESS_COMPILATION_CACHE": str(tmp_path / "mine"), **xdg}
    assert compilation_cache_folder(own) == tmp_path / "mine"
    for off in ("off", "OFF", "0", "false", "no", " none "):
        assert compilation_cache_folder({"HARNESS_COMPILATION_CACHE": off}) is None


def test_a_program_compiled_once_is_read_back_from_the_cache(tmp_path, restore_cache):
    folder = configure_compilation_cache(environ={"HARNESS_COMPILATION_CACHE": str(tmp_path)})
    assert folder == tmp_path
    assert compilation_cache_in_use() == str(tmp_path)

    @jax.jit
    def cubic(x):
        return jnp.tanh(x) @ x.T + x.sum() ** 3

    x = jnp.ones((8, 8))
    with CompileLog() as first:
        cubic(x).block_until_ready()
    assert first.cache_hits == 0
    assert any(tmp_path.iterdir())  # written
    jax.clear_caches()
    with CompileLog() as second:
        cubic(x).block_until_ready()
    assert second.cache_hits >= 1
    record = second.to_json()
    slowest = {p["program"]: p for p in record["slowest"]}
    assert "cubic" in slowest
    cubic_record = slowest["cubic"]
    total = cubic_record["trace_s"] + cubic_record["lower_s"] + cubic_record["compile_s"]
    assert cubic_record["seconds"] == pytest.approx(total)
    assert record["seconds"] >= cubic_record["seconds"] > 0


def test_turned_off_the_cache_is_not_used(tmp_path, restore_cache):
    assert configure_compilation_cache(enabled=False) is None
    assert compilation_cache_in_use() is None
    environ = {"HARNESS_COMPILATION_CACHE": "off"}
    assert configure_compilation_cache(environ=environ) is None


def test_a_folder_that_cannot_be_written_leaves_the_cache_off(tmp_path, restore_cache, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    environ = {"HARNESS_COMPILATION_CACHE": str(blocker / "cache")}
    assert configure_compilation_cache(environ=environ) is None
    err = capsys.readouterr().err
    assert err.startswith("warning: compilation cache off: cannot use ")
    assert err.count("\n") == 1
    assert compilation_cache_in_use() is None
