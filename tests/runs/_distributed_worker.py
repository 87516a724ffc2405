"""One process of a real multi-process run (started by ``test_sharding.py``).

``python _distributed_worker.py OUT.npz`` with ``JAX_COORDINATOR_ADDRESS``,
``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` set: joins the run through
:func:`harness.runs.initialize_distributed`, computes its shard of the seeds on the
global ``"seeds"`` mesh, gathers every seed's kernels and (process 0 only) saves them.
"""

import sys

import jax
import numpy as np

from harness.kernels import per_seed_kernels
from harness.kernels import seed_keys
from harness.runs import gather_to_host
from harness.runs import initialize_distributed
from harness.runs import is_writer
from harness.runs import replicate
from harness.runs import run_cli
from harness.runs import seed_mesh
from harness.runs import shard_keys
from models import ResidualMLP

MODEL = ResidualMLP(24, 2, 1.4, 0.3)
SEEDS = [0, 1, 2, 3]
XS = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)


def kernels(mesh):
    """``(nngp, ntk)`` of :data:`SEEDS` on ``mesh``, gathered to the host."""
    compute = jax.jit(lambda keys, xs: per_seed_kernels(MODEL, keys, xs))
    keys = shard_keys(np.asarray(seed_keys(SEEDS)), mesh)
    nngp, ntk = compute(keys, replicate(XS, mesh))
    return gather_to_host(nngp), gather_to_host(ntk)


def main(argv=None) -> int:
    """Join the run, compute and gather; process 0 saves to ``argv[0]``."""
    argv = sys.argv[1:] if argv is None else argv
    assert initialize_distributed()
    mesh = seed_mesh()
    local = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
    nngp, ntk = kernels(mesh)
    if is_writer():
        np.savez(
            argv[0],
            nngp=nngp,
            ntk=ntk,
            processes=jax.process_count(),
            devices=mesh.size,
            local=len(local),
        )
    return 0


if __name__ == "__main__":
    run_cli(main)
