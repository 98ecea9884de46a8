"""The exception hierarchy: one base class, and the built-in class a caller would expect for each kind."""

import gzip

import numpy as np
import pytest

import nnlearn as nl
from nnlearn import errors


def test_hierarchy():
    assert issubclass(errors.InputError, (errors.NnlearnError, ValueError))
    assert issubclass(errors.CheckpointError, errors.InputError)
    assert issubclass(errors.ResourceLimitError, errors.InputError)
    assert issubclass(errors.DatasetUnavailableError, (errors.NnlearnError, RuntimeError))
    assert issubclass(errors.TrainingDivergedError, (errors.NnlearnError, RuntimeError))
    # the names they had before are the same classes
    from nnlearn import train
    from nnlearn.data import datasets

    assert train.CheckpointError is nl.CheckpointError and train.TrainingDivergedError is nl.TrainingDivergedError
    assert datasets.DatasetUnavailableError is nl.DatasetUnavailableError


@pytest.mark.parametrize("call", [
    lambda tmp: nl.sigmoid(np.array(["a"])),
    lambda tmp: nl.cross_entropy_error(np.array([[0.5, 0.5]]), [2]),
    lambda tmp: nl.numerical_gradient(3, np.ones(2)),
    lambda tmp: nl.load_weights(tmp / "missing.npz"),
    lambda tmp: nl.read_idx(tmp / "missing.idx"),
    lambda tmp: (tmp / "x.gz").write_bytes(gzip.compress(b"junk")) and nl.read_idx(tmp / "x.gz"),
    lambda tmp: nl.open_dataset("no-such-dataset"),
    lambda tmp: nl.BatchSampler(10, 20, "shuffle"),
    lambda tmp: nl.BatchSampler(0, 20),
])
def test_library_errors_are_nnlearn_errors(tmp_path, call):
    with pytest.raises(nl.NnlearnError) as err:
        call(tmp_path)
    assert isinstance(err.value, ValueError) and "\n" not in str(err.value)
