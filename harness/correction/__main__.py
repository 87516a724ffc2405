"""``python -m harness.correction``: see :mod:`harness.correction._cli`."""

from harness.correction._cli import main
from harness.runs import run_cli

run_cli(main)
