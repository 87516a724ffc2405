"""Inputs files (harness.runs._inputs): which dtypes are numbers, and identity by values."""

import re

import numpy as np
import pytest

from harness.converge import ConvergeConfig
from harness.runs import UsageError
from harness.runs import inputs_sha256
from harness.runs import load_inputs_file
from harness.train._cli import build_parser
from harness.train._cli import config_from_args

VALUES = np.random.default_rng(5).standard_normal((6, 3))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.arange(6).reshape(3, 2).astype("m8[s]"), "(its dtype is timedelta64[s])"),
        (np.arange(6).reshape(3, 2).astype("M8[D]"), "(its dtype is datetime64[D])"),
        (np.ones((3, 2), bool), "(its dtype is bool)"),
        (np.array([["1", "2"], ["3", "4"]]), "(its dtype is <U1)"),
        (np.ones((3, 2), complex), "holds complex numbers"),
        (np.array([[1, None]], dtype=object), "holds Python objects (pickled), not numbers"),
    ],
    ids=["timedelta64", "datetime64", "bool", "str", "complex", "object"],
)
def test_only_real_numbers_are_inputs(tmp_path, values, message):
    path = tmp_path / "x.npy"
    np.save(path, values, allow_pickle=True)
    with pytest.raises(UsageError, match=re.escape(message)):
        load_inputs_file(path)


@pytest.mark.parametrize("dtype", ["i1", "u2", ">i8", "f2", "f4", ">f8"])
def test_integers_and_floats_are_read_as_float64(tmp_path, dtype):
    values = np.arange(6).reshape(3, 2).astype(dtype)
    np.save(tmp_path / "x.npy", values)
    xs = load_inputs_file(tmp_path / "x.npy")
    assert xs.dtype == np.float64
    np.testing.assert_array_equal(xs, np.arange(6).reshape(3, 2))


def test_inputs_are_identified_by_their_values_not_the_file_bytes(tmp_path):
    np.save(tmp_path / "c.npy", VALUES)
    np.save(tmp_path / "fortran.npy", np.asfortranarray(VALUES))
    np.save(tmp_path / "big_endian.npy", VALUES.astype(">f8"))
    assert (tmp_path / "c.npy").read_bytes() != (tmp_path / "fortran.npy").read_bytes()
    same = {inputs_sha256(tmp_path / name) for name in ("c.npy", "fortran.npy", "big_endian.npy")}
    assert same == {inputs_sha256(VALUES)}
    # Equal values of another dtype are the same inputs (the networks see the same numbers).
    halves = np.round(VALUES * 4) / 4
    assert inputs_sha256(halves.astype(np.float32)) == inputs_sha256(halves)
    assert inputs_sha256(np.zeros((2, 2))) == inputs_sha256(-np.zeros((2, 2)))
    # Any changed value, or the same values in another shape, are other inputs.
    nudged = VALUES.copy()
    nudged[5, 2] = np.nextafter(nudged[5, 2], np.inf)
    assert inputs_sha256(nudged) != inputs_sha256(VALUES)
    assert inputs_sha256(VALUES.reshape(3, 6)) != inputs_sha256(VALUES)
    assert len(inputs_sha256(VALUES)) == 64


def test_a_fortran_ordered_copy_resumes_a_converge_run(tmp_path):
    np.save(tmp_path / "c.npy", VALUES)
    np.save(tmp_path / "fortran.npy", np.asfortranarray(VALUES))
    config = ConvergeConfig(widths=(8, 16), seeds=2)
    c, fortran = (config.with_inputs_file(tmp_path / n) for n in ("c.npy", "fortran.npy"))
    assert c.fingerprint() == fortran.fingerprint()


def test_a_fortran_ordered_copy_resumes_a_training_run(tmp_path):
    np.save(tmp_path / "c.npy", VALUES)
    np.save(tmp_path / "fortran.npy", np.asfortranarray(VALUES))
    parser = build_parser()
    configs = [
        config_from_args(parser.parse_args(["--n-train", "3", "--n-test", "3", "--inputs", p]))
        for p in (str(tmp_path / "c.npy"), str(tmp_path / "fortran.npy"))
    ]
    assert configs[0].inputs_sha256 == configs[1].inputs_sha256 == inputs_sha256(VALUES)
