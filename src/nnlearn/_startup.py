"""What the ``nnlearn`` command does before it imports anything heavy (kept apart so that it is instant)."""

import os


def interrupted_while_starting(signum, frame):
    """Ctrl-C before the command has done anything (Python is still importing NumPy): just stop, quietly.
    NumPy turns an interrupt inside its import into a misleading ImportError, and there is nothing to save."""
    os.write(2, b"\ninterrupted\n")
    os._exit(130)
