"""The exceptions nnlearn raises on purpose, in one small hierarchy.

Catch ``NnlearnError`` to handle every one of them.  Each also derives from the built-in exception a caller
would expect for that kind of failure, so ``except ValueError`` keeps working for bad arguments and bad
files, ``except OSError`` for the file system, and ``except RuntimeError`` for a run that went wrong::

    NnlearnError
    ├── InputError (ValueError)           a bad argument, or a file whose contents nnlearn cannot use
    │   ├── CheckpointError               a checkpoint that cannot be resumed from
    │   └── ResourceLimitError            input that would need more memory or bytes than allowed
    ├── DatasetUnavailableError (RuntimeError)   a dataset could not be found locally or downloaded
    ├── DatasetChangedError (OSError)            a dataset file was truncated or replaced while in use
    ├── FolderBusyError (OSError)                another process holds the run folder
    └── TrainingDivergedError (RuntimeError)     the loss became NaN or infinite

Every message is one line that names the problem and what to do about it.
"""

from __future__ import annotations


class NnlearnError(Exception):
    """Base class of every exception nnlearn raises on purpose."""


class InputError(NnlearnError, ValueError):
    """An argument, or the contents of a file, that nnlearn cannot use."""


class CheckpointError(InputError):
    """A checkpoint that cannot be resumed from."""


class ResourceLimitError(InputError):
    """Input that would take more memory (or more bytes decompressed) than nnlearn allows for it,
    e.g. a gzip or zip bomb, or a layer size the machine has no room for."""


class DatasetUnavailableError(NnlearnError, RuntimeError):
    """A dataset could not be found locally or downloaded."""


class DatasetChangedError(NnlearnError, OSError):
    """A memory-mapped dataset file was truncated, rewritten or replaced while nnlearn was reading it."""


class FolderBusyError(NnlearnError, OSError):
    """Another process holds the lock of a run folder: two runs never write into one folder."""


class TrainingDivergedError(NnlearnError, RuntimeError):
    """The loss became NaN or infinite; ``history`` holds what was recorded until then."""

    def __init__(self, message, history):
        super().__init__(message)
        self.history = history
