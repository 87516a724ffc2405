"""``python -m harness.bench``: see :mod:`harness.bench._cli`."""

from harness.bench._cli import main
from harness.runs import run_cli

run_cli(main)
