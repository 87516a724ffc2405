"""A fast, representative part of the adversarial sweep (``tests/adversarial/sweep.py``).

The whole sweep (``make sweep``) takes minutes; these cases, picked from its table by
name, take seconds: refused options (exit 2, one line) of each job, signals while the
modules load (130 / 143, one line) and files that shadow a package (exit 2, the file
named). Runs that go to the end under a fault (a closed or full stderr, ASCII-only
streams) take longer and are in ``tests/runs/test_entry_points.py``. Each case is
judged by the sweep's own rules, so a case here fails exactly when the sweep would
count it as a traceback, a hang, a silent wrong result or lost work.
"""

import concurrent.futures
import importlib.util
import sys
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "adversarial_sweep", Path(__file__).with_name("sweep.py")
)
sweep = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = sweep  # its dataclasses look their module up by name
_SPEC.loader.exec_module(sweep)

#: Case name → (exit status, text of the one line) for refusals, or ``None`` for cases
#: judged by their outputs (a fault, a completed run).
SELECTION = {
    "converge --seeds '0'": (2, "--seeds"),
    "train --w-std 'nan'": (2, "--w-std"),
    "bench --json <x>.md": (2, "is where the Markdown report goes"),
    "calibrate --configs ','": (2, "is not a list of config names"),
    "converge SIGINT at start-up": None,
    "train SIGTERM at start-up": None,
    "converge ./models.py": None,
    "converge ./harness.py": None,
    "calibrate ./analytic.py": None,
}


@pytest.fixture(scope="module")
def outcomes():
    cases = {case.name: case for group in sweep.all_cases().values() for case in group}
    missing = sorted(set(SELECTION) - set(cases))
    assert not missing, f"not in the sweep's table: {missing}"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {name: pool.submit(sweep.run_case, cases[name], 120.0) for name in SELECTION}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", list(SELECTION))
def test_sweep_case_is_clean(outcomes, name):
    outcome = outcomes[name]
    assert outcome.kind == "clean", f"{outcome.kind}: {outcome.detail}"
    expected = SELECTION[name]
    if expected is not None:
        status, text = expected
        assert outcome.rc == status, outcome.detail
        assert outcome.detail.startswith("error: "), outcome.detail
        assert text in outcome.detail
