"""The packages import without neural-tangents, and the compatibility shim only adds names.

Truth: the GPU image has JAX, Flax and optax but no neural-tangents, frozendict
or mpmath, so ``import harness, models, analytic`` (and the CLI modules) must
not need them; and ``models._neural_tangents`` must never replace an
attribute JAX already has.
"""

import importlib
import subprocess
import sys

import jax
import jax.core
import jax.interpreters.ad
import pytest

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


def test_jax_still_has_what_the_shim_relies_on():
    # The shim's one private import and its public sources: if a JAX release moves them,
    # this fails with the name to look for, before neural-tangents breaks in a user's run.
    import jax.extend.core
    from jax._src import ad_util

    for name in ("Jaxpr", "JaxprEqn", "Literal", "Var", "Primitive", "ClosedJaxpr"):
        assert hasattr(jax.extend.core, name), f"jax.extend.core.{name} is gone"
    for name in ("zeros_like_p", "add_jaxvals_p"):
        assert hasattr(ad_util, name), f"jax._src.ad_util.{name} is gone"
    nt = load_neural_tangents()
    rules = importlib.import_module("neural_tangents._src.utils.rules")
    # neural-tangents keys its rules on JAX's own primitive objects, not copies.
    assert ad_util.add_jaxvals_p in rules.JACOBIAN_RULES
    assert ad_util.zeros_like_p in rules.JACOBIAN_RULES
    assert nt.__version__ == "0.6.5"


def test_shim_safe_map_and_zip_are_strict():
    import jax.util

    load_neural_tangents()
    assert jax.util.safe_map(lambda a, b: a + b, [1, 2], [3, 4]) == [4, 6]
    assert jax.util.safe_zip([1, 2], "ab") == [(1, "a"), (2, "b")]
    with pytest.raises(ValueError, match=r"shorter|longer"):
        jax.util.safe_zip([1, 2], [1])


def test_importing_the_packages_does_not_import_matplotlib():
    # Matplotlib is imported only when a report is drawn (it costs about a second).
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, harness, models, analytic; print('matplotlib' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
