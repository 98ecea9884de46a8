"""The ``nnlearn`` command, also run as ``python -m nnlearn``.

Ctrl-C is made quiet first, before the command's slowest part, importing NumPy and the rest of nnlearn.
"""

import signal

from ._startup import interrupted_while_starting


def main() -> None:
    signal.signal(signal.SIGINT, interrupted_while_starting)
    from .cli import run

    run()


if __name__ == "__main__":
    main()
