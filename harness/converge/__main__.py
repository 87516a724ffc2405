"""``python -m harness.converge``: see :mod:`harness.converge._cli`."""

from harness.converge._cli import main
from harness.runs import run_cli

run_cli(main)
