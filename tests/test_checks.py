"""Validation at the boundary: finite data named by row, and allocations measured against free memory."""

import numpy as np
import pytest

import nnlearn as nl
from nnlearn._checks import check_finite_data, format_bytes


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_data_names_the_data_and_row(bad):
    x = np.zeros((1000, 7), np.float32)
    x[613, 2] = bad
    with pytest.raises(nl.InputError, match=r"x_train contains NaN or infinity \(first in row 613\)") as err:
        check_finite_data("x_train", x, chunk_bytes=1000)  # many chunks: the row is found across them
    assert "not a learning-rate problem" in str(err.value)
    check_finite_data("x_train", np.full((3, 3), 255, np.uint8))  # integers cannot be NaN


def test_check_memory_under_a_ulimit():
    from hostile import run_capped

    result = run_capped("from nnlearn._checks import check_memory\n"
                        "check_memory(10 << 20, 'a small buffer')\n"
                        "try:\n"
                        "    check_memory(3 << 30, '--hidden 1000000')\n"
                        "except ValueError as exc:\n"
                        "    print(type(exc).__name__, exc)\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ResourceLimitError --hidden 1000000 would need 3.0 GiB of memory but only ")


def test_format_bytes():
    assert [format_bytes(n) for n in (5, 2048, 3 << 30)] == ["5 bytes", "2.0 KiB", "3.0 GiB"]
