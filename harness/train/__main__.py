"""``python -m harness.train``: see :mod:`harness.train._cli`."""

from harness.runs import run_cli
from harness.train._cli import main

run_cli(main)
