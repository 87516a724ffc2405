"""``python -m harness.calibrate``: see :mod:`harness.calibrate._cli`."""

from harness.calibrate._cli import main
from harness.runs import run_cli

run_cli(main)
