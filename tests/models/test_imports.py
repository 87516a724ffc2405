"""The packages import without neural-tangents, and the compatibility shim only adds names.

Truth: the GPU image has JAX, Flax and optax but no neural-tangents, frozendict
or mpmath, so ``import harness, models, analytic`` (and the CLI modules) must
not need them; and ``models._neural_tangents`` must never replace an
attribute JAX already has.
"""

import subprocess
import sys

import jax
import jax.core
import jax.interpreters.ad

from models import load_neural_tangents

_BLOCKED_IMPORT = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('neural_tangents', 'frozendict', 'mpmath', 'tensorflow'):
            raise ImportError('blocked ' + name)

sys.meta_path.insert(0, Block())
import analytic, models, harness
import harness.bench._cli, harness.converge._cli, harness.kernels._ntk, harness.train._cli
print(sorted(k for k in sys.modules if k.startswith(('neural_tangents', 'tensorflow'))))
"""


def test_packages_import_without_neural_tangents():
    done = subprocess.run(
        [sys.executable, "-c", _BLOCKED_IMPORT], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_shim_keeps_existing_jax_attributes_and_skips_tensorflow():
    before_core = dict(vars(jax.core))
    before_ad = dict(vars(jax.interpreters.ad))
    nt = load_neural_tangents()
    assert nt.__version__ == "0.6.5"
    for name, value in before_core.items():
        assert vars(jax.core)[name] is value, name
    for name, value in before_ad.items():
        assert vars(jax.interpreters.ad)[name] is value, name
    assert "tensorflow" not in sys.modules
