"""Seeds sharded over devices: a 2-device run agrees with a 1-device run; multi-host set-up."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import harness.runs._sharding as sharding
from harness.converge import ConvergeConfig
from harness.converge import run_convergence

ARGS = [
    "--widths",
    "24",
    "--blocks",
    "2",
    "--w-std",
    "1.4",
    "--b-std",
    "0.3",
    "--n-inputs",
    "6",
    "--input-dim",
    "4",
    "--seeds",
    "4",
    "--candidate",
    "none",
    "--quiet",
]
CONFIG = ConvergeConfig(
    widths=(24,),
    num_res_blocks=2,
    W_std=1.4,
    b_std=0.3,
    n_inputs=6,
    input_dim=4,
    seeds=4,
    candidates=(),
)


@pytest.mark.slow
def test_two_devices_agree_with_one(tmp_path):
    assert jax.device_count() == 1
    one = run_convergence(CONFIG, tmp_path / "one", quiet=True)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    process = subprocess.run(
        [sys.executable, "-m", "harness.converge", *ARGS, "--out", str(tmp_path / "two")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert two["environment"]["device_count"] == 2
    assert two["timing"]["devices"] == 2
    assert one["environment"]["device_count"] == 1
    assert two["config"] == one["config"]
    # Each network is the same program on whichever device holds it: the kernels
    # agree to float32 rounding (the issue asks for <= 1e-5 relative).
    for seed in range(4):
        for width in (24,):
            a = np.load(tmp_path / "one" / "units" / f"w{width}_s{seed}.npz")
            b = np.load(tmp_path / "two" / "units" / f"w{width}_s{seed}.npz")
            for kernel in ("nngp", "ntk"):
                difference = np.linalg.norm(a[kernel] - b[kernel]) / np.linalg.norm(a[kernel])
                assert difference <= 1e-5
    for kernel in ("nngp", "ntk"):
        np.testing.assert_allclose(
            two["kernels"][kernel]["rel_err_per_seed"],
            one["kernels"][kernel]["rel_err_per_seed"],
            rtol=1e-4,  # errors ~0.1-1 of kernels equal to ~1e-7: relative change <~1e-6
        )


def test_distributed_initialisation_only_when_configured(monkeypatch):
    calls = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kw: calls.append(kw))
    monkeypatch.setattr(sharding, "_initialized", False)
    assert sharding.initialize_distributed({}) is False
    assert calls == []
    environ = {
        "JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234",
        "JAX_NUM_PROCESSES": "4",
        "JAX_PROCESS_ID": "2",
    }
    assert sharding.initialize_distributed(environ) is True
    assert calls == [{"coordinator_address": "10.0.0.1:1234", "num_processes": 4, "process_id": 2}]
    assert sharding.initialize_distributed(environ) is True  # once only
    assert len(calls) == 1
    monkeypatch.setattr(sharding, "_initialized", False)
    assert sharding.initialize_distributed({"JAX_DISTRIBUTED_AUTO": "1"}) is True
    assert calls[-1] == {}


def test_keys_are_laid_out_along_the_seed_axis():
    mesh = sharding.seed_mesh()
    keys = np.arange(8, dtype=np.uint32).reshape(4, 2)
    placed = sharding.shard_keys(keys, mesh)
    assert placed.sharding.spec == jax.sharding.PartitionSpec("seeds")
    np.testing.assert_array_equal(sharding.gather_to_host(placed), keys)
