"""Data-parallel training over MPI: P processes ("ranks") train one network as one process would.

The recipe of Horovod and PyTorch's DDP, on mpi4py: every rank holds the same network and the same seeded
sampler, takes its own part of each global batch (``nnlearn.data.batches``), computes the gradient of that
part, and one allreduce turns the parts into the gradient of the global batch,

    ∂L/∂θ = (1/B) Σ_r n_r · ∂L_r/∂θ      (n_r rows on rank r, B = Σ_r n_r),

so every rank applies the identical update.  Rank 0's initial weights are broadcast, and the ranks compare
a hash of their weights at every evaluation: they must agree bit for bit.  Whole-dataset evaluation is
split into P contiguous shards whose hit counts and loss sums are added.

This is the only module that imports mpi4py, and only when a communicator is in use (``world()`` under
``mpirun``, or a ``comm`` passed to ``fit``); ``Ranks(None)`` is one process and does nothing.

Nothing here waits forever: every collective is non-blocking and polled with a deadline (``TIMEOUT``
seconds, ``NNLEARN_MPI_TIMEOUT`` to change it), and a rank that fails, or finds a peer silent past the
deadline, prints why and aborts the whole job (``MPI_Abort``).  ``mpirun`` itself ends the job when a rank
is killed.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import time

import numpy as np

SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")
RANK_VARIABLES = ("PMIX_RANK", "PMI_RANK")
"""Set in each process by ``mpirun``/``mpiexec``: Open MPI (OMPI_*, PMIx), MPICH and Intel MPI (PMI_*)."""
TIMEOUT = float(os.environ.get("NNLEARN_MPI_TIMEOUT", 120))
"""Seconds a rank waits in a collective for the others before it declares the job broken and aborts it.
Rank 0 alone writes the run folder and the report between steps, so this is generous."""

SPIN_SECONDS, YIELD_SECONDS = 2e-4, 0.05
"""A collective is polled without pause for SPIN_SECONDS (on an idle machine the wait for the slowest rank of
a step), then yielding the core between polls (a busy machine: 3× faster steps than spinning, measured), and
past YIELD_SECONDS (rank 0 writing files) every millisecond."""


def launched_by_mpirun() -> bool:
    """True in a process started by ``mpirun``/``mpiexec`` (of any common MPI) with more than one process."""
    sizes = [os.environ[name] for name in SIZE_VARIABLES if name in os.environ]
    if sizes:
        return any(size.strip() not in ("", "1") for size in sizes)
    return any(name in os.environ for name in RANK_VARIABLES)


def world():
    """``MPI.COMM_WORLD`` when this process was started by ``mpirun`` with more than one rank, else None."""
    if not launched_by_mpirun():
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        raise RuntimeError("nnlearn was started by mpirun but mpi4py is not installed, so every process would "
                           "train alone; install it with: pip install 'nnlearn[mpi]'") from None
    comm = MPI.COMM_WORLD
    return comm if comm.Get_size() > 1 else None


class GlobalDraws:
    """Stands in for a rank's ``numpy.random.Generator`` in dropout and augmentation: every draw is made for
    the whole global batch of ``batch`` rows and this rank keeps its ``rows``, so its masks and shifts are
    those one process draws for the same samples (and the ranks' draws are not copies of one another)."""

    def __init__(self, rng, batch: int, rows: slice):
        self.rng, self.batch, self.rows = rng, batch, rows
        self.bit_generator = rng.bit_generator

    def random(self, size):  # Dropout's mask: (rows, units)
        return self.rng.random((self.batch, *size[1:]))[self.rows]

    def integers(self, low, high, size):  # RandomShift's offsets: (2, rows)
        return self.rng.integers(low, high, size=(*size[:-1], self.batch))[..., self.rows]


def abort_job(code: int = 1) -> None:
    """End every rank of a running MPI job (a no-op in one process): the others may be waiting for us in a
    collective, and a rank that merely exits would leave them there (and itself hang in MPI_Finalize)."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized() and mpi.COMM_WORLD.Get_size() > 1:
        sys.stderr.flush()
        mpi.COMM_WORLD.Abort(code)


class Ranks:
    """The processes of a communicator as training sees them; ``Ranks(None)`` (or one rank) is one process,
    for which every method is the identity.  Rank 0 is the root: it alone writes files and prints."""

    def __init__(self, comm=None, timeout: float = TIMEOUT):
        self.comm = comm if comm is not None and comm.Get_size() > 1 else None
        self.rank = 0 if self.comm is None else self.comm.Get_rank()
        self.size = 1 if self.comm is None else self.comm.Get_size()
        self.timeout = timeout
        self.parallel = self.comm is not None
        """More than one process (asked between every two training steps, so a plain attribute)."""
        self._buffer = None
        if self.comm is not None:
            from mpi4py import MPI

            self._MPI = MPI

    @property
    def root(self) -> bool:
        return self.rank == 0

    def __repr__(self) -> str:
        return "Ranks(one process)" if self.comm is None else f"Ranks(rank {self.rank} of {self.size})"

    # --- training -------------------------------------------------------------------------------------
    def broadcast(self, params: dict) -> None:
        """Overwrite every rank's ``params`` with rank 0's, in place."""
        if self.comm is None:
            return
        for name in sorted(params):
            self._wait(self.comm.Ibcast(params[name], root=0), "broadcasting the initial weights")

    def mean_gradient(self, grads: dict, loss: float, rows: int, stop: bool) -> tuple[float, bool]:
        """Turn this rank's mean gradient of its ``rows`` samples into the global batch's, in place, and
        return the global batch's mean loss and whether any rank asked to stop (Ctrl-C).  One allreduce of
        [n_r ∂L_r/∂θ…, n_r L_r, n_r, stop] in the gradients' dtype (float64 for the counts when that is float32
        would round above 2^24 rows, far beyond any batch)."""
        names = sorted(grads)
        sizes = [grads[k].size for k in names]
        total = sum(sizes)
        if self._buffer is None or len(self._buffer) != total + 3:
            self._buffer = np.empty(total + 3, grads[names[0]].dtype)
        buf, at = self._buffer, 0
        for name, size in zip(names, sizes, strict=True):
            np.multiply(grads[name].reshape(-1), rows, out=buf[at:at + size])
            at += size
        buf[at:] = (loss * rows, rows, float(stop))
        self._wait(self.comm.Iallreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM), "adding the gradients")
        count = float(buf[total + 1])
        at = 0
        for name, size in zip(names, sizes, strict=True):
            np.divide(buf[at:at + size].reshape(grads[name].shape), count, out=grads[name])
            at += size
        return float(buf[total]) / count, bool(buf[total + 2])

    def check_agree(self, params: dict, iteration: int) -> None:
        """Stop with a message unless every rank holds bit for bit the same weights."""
        if self.comm is None:
            return
        digest = hashlib.blake2b(digest_size=16)
        for name in sorted(params):
            digest.update(np.ascontiguousarray(params[name]).data)
        mine = np.frombuffer(digest.digest(), np.uint8).copy()
        every = np.empty((self.size, mine.size), np.uint8)
        self._wait(self.comm.Iallgather(mine, every), "comparing the weights")
        differ = [r for r in range(self.size) if not np.array_equal(every[r], every[0])]
        if differ:
            raise RuntimeError(f"the weights of rank(s) {', '.join(map(str, differ))} drifted from rank 0's at "
                               f"iteration {iteration}; the ranks must run the same nnlearn, NumPy and BLAS "
                               "(and the same data): check the installations, then resume from the checkpoint")

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is set on any rank (e.g. a Ctrl-C), known to every rank."""
        if self.comm is None:
            return bool(flag)
        value = np.array([bool(flag)], np.uint8)
        self._wait(self.comm.Iallreduce(self._MPI.IN_PLACE, value, op=self._MPI.MAX), "sharing a stop request")
        return bool(value[0])

    def agree(self, flag: bool) -> bool:
        """Rank 0's decision (e.g. a callback's "stop"), known to every rank."""
        if self.comm is None:
            return bool(flag)
        value = np.array([bool(flag)], np.uint8)
        self._wait(self.comm.Ibcast(value, root=0), "sharing rank 0's decision")
        return bool(value[0])

    def from_root(self, read):
        """``read()`` run on rank 0 only (e.g. a checkpoint on its disk), its result sent to every rank;
        an exception raised there is raised on every rank.  The result must be picklable (it travels in
        memory between our own processes, never through a file)."""
        if self.comm is None:
            return read()
        result, error = None, None
        if self.root:
            try:
                result = read()
            except Exception as exc:  # raised again below, on every rank
                error = exc
        payload = pickle.dumps((result, error)) if self.root else b""
        size = np.array([len(payload)], np.int64)
        self._wait(self.comm.Ibcast(size, root=0), "receiving rank 0's data")
        data = np.frombuffer(payload, np.uint8).copy() if self.root else np.empty(int(size[0]), np.uint8)
        self._wait(self.comm.Ibcast(data, root=0), "receiving rank 0's data")
        result, error = pickle.loads(data.tobytes())
        if error is not None:
            raise error
        return result

    # --- evaluation -----------------------------------------------------------------------------------
    def shard(self, n: int) -> slice:
        """This rank's contiguous share of ``n`` rows: ⌊rn/P⌋ to ⌊(r+1)n/P⌋ (any n, also n < P)."""
        return slice(self.rank * n // self.size, (self.rank + 1) * n // self.size)

    def evaluate(self, accuracy_and_loss, x, t) -> tuple[float, float]:
        """(accuracy, mean loss) over all of ``x, t``, each rank evaluating its shard with
        ``accuracy_and_loss(x_part, t_part) -> (accuracy, mean loss, rows)``.  The hit counts are exact;
        the loss sums are added in float64, so the mean differs from one process's by rounding only."""
        if self.comm is None:
            accuracy, loss, _ = accuracy_and_loss(x, t)
            return accuracy, loss
        part = self.shard(len(t))
        hits, loss_sum, rows = 0, 0.0, part.stop - part.start
        if rows:
            accuracy, loss, rows = accuracy_and_loss(x[part], t[part])
            hits, loss_sum = round(accuracy * rows), loss * rows
        counts = np.array([hits, rows], np.int64)
        self._wait(self.comm.Iallreduce(self._MPI.IN_PLACE, counts, op=self._MPI.SUM), "adding the evaluation")
        total = np.array([loss_sum])
        self._wait(self.comm.Iallreduce(self._MPI.IN_PLACE, total, op=self._MPI.SUM), "adding the evaluation")
        return int(counts[0]) / int(counts[1]), float(total[0]) / int(counts[1])

    # --- the chapter's numerical gradient, its parameters split across the ranks ------------------------
    def entries(self, params: dict) -> dict:
        """{name: index tuples} of this rank's share of the parameters: entries ⌊rM/P⌋ to ⌊(r+1)M/P⌋ of the M
        parameters, taken in the order of ``sorted(params)``, each array flattened."""
        mine, at, entries = self.shard(sum(v.size for v in params.values())), 0, {}
        for name in sorted(params):
            size = params[name].size
            lo, hi = max(mine.start - at, 0), min(mine.stop - at, size)
            flat = range(lo, hi) if lo < hi else range(0)
            entries[name] = list(zip(*np.unravel_index(list(flat), params[name].shape), strict=True)) if flat else []
            at += size
        return entries

    def join(self, grads: dict) -> dict:
        """The whole gradient from every rank's piece (zero outside its ``entries``): an allreduce of the
        sum, exact since each entry is non-zero on one rank only."""
        names = sorted(grads)
        flat = np.concatenate([grads[k].astype(np.float64).reshape(-1) for k in names])
        self._wait(self.comm.Iallreduce(self._MPI.IN_PLACE, flat, op=self._MPI.SUM), "joining the gradient")
        joined, at = {}, 0
        for name in names:
            joined[name] = flat[at:at + grads[name].size].reshape(grads[name].shape)
            at += grads[name].size
        return joined

    # --- never a hang ---------------------------------------------------------------------------------
    def _wait(self, request, doing: str) -> None:
        """Complete a non-blocking collective, or abort the job if the other ranks stay silent too long."""
        start = time.monotonic()
        while not request.Test():
            now = time.monotonic()
            if now > start + SPIN_SECONDS:
                time.sleep(0.001 if now > start + YIELD_SECONDS else 0)
            if now > start + self.timeout:
                self.abort(f"no answer from the other ranks for {self.timeout:g} s while {doing}: a rank has died "
                           "or hangs; stopping all ranks (set NNLEARN_MPI_TIMEOUT to wait longer)")

    def abort(self, message: str, code: int = 1) -> None:
        """Print ``message`` and end every rank of the job now."""
        print(f"nnlearn (rank {self.rank} of {self.size}): {message}", file=sys.stderr, flush=True)
        self.comm.Abort(code)
