"""nnlearn's benchmarks: one command, one table, every ratio measured in the same run.

    python benchmarks/bench.py                      # everything, about 20 minutes (the 20M-sample file takes 16 GB)
    python benchmarks/bench.py --quick              # fewer repeats and steps, data sizes up to 1M: a smoke test
    python benchmarks/bench.py --only step,preset   # some sections; RESULTS.md keeps the others as they were

Sections: the numerical gradient (the book's loop vs the structured one); the training step (book-style
NumPy loops, nnlearn's fit, the two matrix products alone, and where installed JAX (jit per step, and a
whole run as one lax.scan) and PyTorch eager, each in a process of its own); the ``--preset best`` recipe
per step and end to end (time to 0.96 test accuracy); per-batch cost and peak memory for datasets of 10k to
20M samples (each size in its own process); whole-dataset evaluation throughput.  Times are medians of
repeats, the cases of a section interleaved.  Writes benchmarks/RESULTS.md (and results.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

import nnlearn as nl
from nnlearn.data.largedata import make_large
from nnlearn.optimizers import SGD

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("NNLEARN_BENCH_DIR", "/tmp/nnlearn-bench"))


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def digits():
    (x, t), (xt, tt) = nl.load_mnist(normalize=False, dataset="mnist-mini")
    return x, t, xt, tt


# --- numerical gradient --------------------------------------------------------------------------------
def bench_numerical_gradient(repeats: int) -> list[dict]:
    x, t, _, _ = digits()
    xb, tb = x[:100] / np.float32(255), t[:100]
    net = nl.TwoLayerNet(784, 50, 10, seed=0)
    nl.fit(net, x, t, iters=500, eval_every=None)  # trained a little, so the gradient is not trivial
    loop = structured = None

    def run_loop():
        nonlocal loop
        loop = net.numerical_gradient(xb, tb, method="loop")

    def run_structured():
        nonlocal structured
        structured = net.numerical_gradient(xb, tb)

    t_loop = median_time(run_loop, max(1, repeats // 2))
    t_fast = median_time(run_structured, repeats * 3)
    diff = max(float(np.abs(loop[k] - structured[k]).max()) for k in loop)
    return [
        {"what": "numerical gradient, book's loop (784-50-10, batch 100, float64)", "ms": t_loop * 1e3,
         "ratio": 1.0, "note": "2 full forward passes per parameter"},
        {"what": "numerical gradient, nnlearn structured", "ms": t_fast * 1e3, "ratio": t_loop / t_fast,
         "note": f"max |difference| {diff:.1e}"},
    ]


# --- training step --------------------------------------------------------------------------------------
def _book_sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _book_softmax(a):  # the book's 2-D softmax works on the transpose
    a = a.T - np.max(a.T, axis=0)
    return (np.exp(a) / np.sum(np.exp(a), axis=0)).T


def _book_loss(p, x, t):  # TwoLayerNet.loss: predict, then cross_entropy_error (one-hot rows -> labels)
    y = _book_softmax(np.dot(_book_sigmoid(np.dot(x, p["W1"]) + p["b1"]), p["W2"]) + p["b2"])
    labels = t.argmax(axis=1)
    return -np.sum(np.log(y[np.arange(len(y)), labels] + 1e-7)) / len(y)


def book_loop(x_train, t_onehot, dtype, steps, seed=0, lean=False):
    """The book's ch04 train_neuralnet.py loop: a batch by choice and fancy indexing, TwoLayerNet.gradient
    (backprop; its sigmoid_grad evaluates the sigmoid twice more), W -= lr * grad, then network.loss on the
    batch (a second forward pass) for the loss list.  lean=True: the sigmoid once, no loss recorded."""
    rng = np.random.default_rng(seed)
    p = nl.TwoLayerNet(784, 50, 10, seed=seed, dtype=dtype).params
    n = x_train.shape[0]
    losses = []

    def run():
        for _ in range(steps):
            batch_mask = rng.choice(n, 100)
            x_batch, t_batch = x_train[batch_mask], t_onehot[batch_mask]
            W1, b1, W2, b2 = p["W1"], p["b1"], p["W2"], p["b2"]
            a1 = np.dot(x_batch, W1) + b1
            z1 = _book_sigmoid(a1)
            y = _book_softmax(np.dot(z1, W2) + b2)
            dy = (y - t_batch) / 100
            grads = {"W2": np.dot(z1.T, dy), "b2": np.sum(dy, axis=0)}
            da1 = np.dot(dy, W2.T)
            sigmoid_grad = (1 - z1) * z1 if lean else (1.0 - _book_sigmoid(a1)) * _book_sigmoid(a1)
            dz1 = sigmoid_grad * da1
            grads["W1"], grads["b1"] = np.dot(x_batch.T, dz1), np.sum(dz1, axis=0)
            for key in ("W1", "b1", "W2", "b2"):
                p[key] -= 0.1 * grads[key]
            if not lean:
                losses.append(_book_loss(p, x_batch, t_batch))
    run.params, run.losses = p, losses  # for tests/test_benchmarks.py
    return run


def nnlearn_loop(x_uint8, t, dtype, steps):
    def run():
        net = nl.TwoLayerNet(784, 50, 10, seed=0, dtype=dtype)
        nl.fit(net, x_uint8, t, iters=steps, eval_every="never")
    return run


def floor_loop(dtype, steps):
    rng = np.random.default_rng(0)
    x = rng.random((100, 784)).astype(dtype)
    W = rng.random((784, 50)).astype(dtype)
    d = rng.random((100, 50)).astype(dtype)
    a, g = np.empty((100, 50), dtype), np.empty((784, 50), dtype)

    def run():
        for _ in range(steps):
            np.matmul(x, W, out=a)
            np.matmul(x.T, d, out=g)
    return run


def blas_threads() -> int:
    """The BLAS threads NumPy uses here; the frameworks' children are given as many."""
    return next((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"), os.cpu_count() or 1)


def torch_loop(x_uint8, t, steps, threads):
    """The book's recipe in PyTorch eager: Linear/Sigmoid/Linear from TwoLayerNet's initial weights,
    cross-entropy, SGD lr 0.1, batch 100 drawn with replacement, float32."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    x = torch.from_numpy(x_uint8 / np.float32(255))
    labels = torch.from_numpy(t.astype(np.int64))
    model = torch.nn.Sequential(torch.nn.Linear(784, 50), torch.nn.Sigmoid(), torch.nn.Linear(50, 10))
    p = nl.TwoLayerNet(784, 50, 10, seed=0, dtype=np.float32).params  # the same initial weights
    with torch.no_grad():
        for layer, i in ((model[0], 1), (model[2], 2)):
            layer.weight.copy_(torch.from_numpy(p[f"W{i}"].T.copy()))
            layer.bias.copy_(torch.from_numpy(p[f"b{i}"]))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(0)

    def run():
        for _ in range(steps):
            idx = torch.randint(0, x.shape[0], (100,), generator=gen)
            loss = loss_fn(model(x[idx]), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return float(loss.detach())
    return run, f"PyTorch {torch.__version__}"


def jax_loop(x_uint8, t, steps, threads, mode):
    """The book's recipe in JAX, float32: TwoLayerNet's initial weights, sigmoid, softmax, the book's loss
    −Σ t log(y + 1e-7) / N (one-hot t) differentiated by jax.value_and_grad, SGD lr 0.1, batch 100 drawn
    with replacement by jax.random inside the step.  mode "jit": one jitted step per Python iteration (the
    losses stay on the device; one wait at the end); mode "scan": the whole run one jitted lax.scan."""
    if threads == 1:  # must be set before jax is imported; otherwise XLA uses every core
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    x = jnp.asarray(x_uint8 / np.float32(255))
    labels = jnp.asarray(t.astype(np.int32))
    params = {k: jnp.asarray(v) for k, v in nl.TwoLayerNet(784, 50, 10, seed=0, dtype=np.float32).params.items()}
    n = x.shape[0]

    def loss_fn(p, xb, tb):  # the book's cross_entropy_error with one-hot rows
        y = jax.nn.softmax(jax.nn.sigmoid(xb @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"], axis=1)
        return -jnp.sum(jax.nn.one_hot(tb, 10, dtype=y.dtype) * jnp.log(y + 1e-7)) / xb.shape[0]

    def step(carry, x, labels):
        p, key = carry
        key, sub = jax.random.split(key)
        idx = jax.random.randint(sub, (100,), 0, n)
        loss, grads = jax.value_and_grad(loss_fn)(p, x[idx], labels[idx])
        return (jax.tree.map(lambda w, g: w - 0.1 * g, p, grads), key), loss

    state = {"carry": (params, jax.random.key(0))}
    if mode == "jit":
        jitted = jax.jit(step)

        def run():
            carry, losses = state["carry"], []
            for _ in range(steps):
                carry, loss = jitted(carry, x, labels)
                losses.append(loss)
            jax.block_until_ready(carry)
            state["carry"] = carry
            return float(losses[-1])
    else:
        whole = jax.jit(lambda carry, x, labels: jax.lax.scan(lambda c, _: step(c, x, labels), carry, None,
                                                              length=steps))

        def run():
            carry, losses = whole(state["carry"], x, labels)
            jax.block_until_ready(carry)
            state["carry"] = carry
            return float(losses[-1])
    return run, f"JAX {jax.__version__}"


FRAMEWORKS = {
    "torch": ("{version} eager, float32 (Linear/Sigmoid/Linear, SGD; own process)", "PyTorch eager"),
    "jax-jit": ("{version}, float32, jax.jit per step (own process)", "JAX jit per step"),
    "jax-scan": ("{version}, float32, the whole run one jitted lax.scan (own process)", "JAX lax.scan"),
}


def framework_in_child(which: str, steps: int, threads: int):
    """A framework's step timed in a process of its own: PyTorch's OpenMP threads keep spinning after each
    call and would slow every NumPy case measured after it in the same process, and XLA keeps a thread pool."""
    out = subprocess.run([sys.executable, __file__, "_framework", which, str(steps), str(threads)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["no message"])[-1]}
    return json.loads(out.stdout)


def time_framework(which: str, steps: int, threads: int) -> dict:
    x, t, _, _ = digits()
    case = torch_loop(x, t, steps, threads) if which == "torch" else jax_loop(x, t, steps, threads, which[4:])
    if case is None:
        return {"missing": True}
    run, version = case
    start = time.perf_counter()
    run()  # warm-up: compiles the jitted functions
    first = time.perf_counter() - start
    start = time.perf_counter()
    loss = run()
    return {"seconds": (time.perf_counter() - start) / steps, "first_run_s": first, "version": version,
            "last_loss": loss}


BEFORE = "4c95523"
"""The last commit before issue 11 put the network into chapter 5's layers: its fit is the "before" row."""

SOURCE_CHILD = """
import json, sys, time
import numpy as np
import nnlearn as nl
steps = int(sys.argv[1])
(x, t), _ = nl.load_mnist(normalize=False, dataset="mnist-mini")
def run():
    nl.fit(nl.TwoLayerNet(784, 50, 10, seed=0, dtype=np.float32), x, t, iters=steps, eval_every="never")
run()
start = time.perf_counter()
run()
print(json.dumps({"seconds": (time.perf_counter() - start) / steps, "file": nl.__file__}))
"""
"""The book recipe's float32 fit, timed in a process of its own with nnlearn imported from PYTHONPATH (only
the API every version has)."""


def export_source(ref: str) -> Path | None:
    """This repository's ``src`` at commit ``ref``, exported to a temporary folder; None without git or ref."""
    import tempfile

    root = HERE.parent
    folder = Path(tempfile.mkdtemp(prefix=f"nnlearn-{ref}-"))
    try:
        archive = subprocess.run(["git", "-C", str(root), "archive", ref, "src"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return folder / "src"


def source_in_child(src: Path, steps: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-c", SOURCE_CHILD, str(steps)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["no message"])[-1]}
    result = json.loads(out.stdout)
    if not result["file"].startswith(str(src)):
        return {"error": f"imported nnlearn from {result['file']}, not {src}"}
    return result


def bench_training_step(repeats: int, steps: int = 1000, before: str | None = BEFORE) -> list[dict]:
    x, t, _, _ = digits()
    x32 = x / np.float32(255)        # what the book's load_mnist(normalize=True) gives
    onehot = np.eye(10)[t]           # the book's one-hot labels are float64
    cases = [
        ("book's ch04 loop as printed: float64 weights, float32 images, loss by a second forward pass",
         book_loop(x32, onehot, np.float64, steps)),
        ("book's ch04 loop, everything float64", book_loop(x32.astype(np.float64), onehot, np.float64, steps)),
        ("lean book loop: sigmoid once, no loss recorded (float64 weights, float32 images)",
         book_loop(x32, onehot, np.float64, steps, lean=True)),
        ("lean book loop, everything float32", book_loop(x32, onehot.astype(np.float32), np.float32, steps,
                                                         lean=True)),
        ("nnlearn fit, float64", nnlearn_loop(x, t, np.float64, steps)),
        ("nnlearn fit, float32", nnlearn_loop(x, t, np.float32, steps)),
        ("floor: the two large matrix products alone, float32", floor_loop(np.float32, steps)),
        ("floor: the two large matrix products alone, float64", floor_loop(np.float64, steps)),
    ]
    for _, fn in cases:  # warm up every case once
        fn()
    threads = blas_threads()
    timings = {name: [] for name, _ in cases}
    children = {which: [] for which in FRAMEWORKS}
    sources = {"this checkout": HERE.parent / "src"}
    if before:
        sources[before] = export_source(before)
    in_children = {label: [] for label in sources}
    for _ in range(repeats):  # interleaved, so machine noise falls on every case alike
        for name, fn in cases:
            start = time.perf_counter()
            fn()
            timings[name].append((time.perf_counter() - start) / steps)
        for label, src in sources.items():
            in_children[label].append(source_in_child(src, steps) if src else {"error": "git archive failed"})
        for which in FRAMEWORKS:
            children[which].append(framework_in_child(which, steps, threads))
    base = statistics.median(timings[cases[0][0]])
    lean = statistics.median(timings[cases[2][0]])
    rows = []
    for name, times in timings.items():
        us = statistics.median(times) * 1e6
        rows.append({"what": name, "us": us, "ratio": base * 1e6 / us, "ratio_lean": lean * 1e6 / us})
    pairs = []
    for label, measured in in_children.items():
        what = (f"nnlearn fit, float32, {label} (own process)" if label == "this checkout" else
                f"nnlearn fit, float32, at {label}, before issue 11 (own process)")
        runs = [m for m in measured if "seconds" in m]
        if not runs:
            rows.append({"what": f"{what}: {measured[0]['error']}", "us": None, "ratio": None, "ratio_lean": None})
            continue
        us = statistics.median(r["seconds"] for r in runs) * 1e6
        rows.append({"what": what, "us": us, "ratio": base * 1e6 / us, "ratio_lean": lean * 1e6 / us})
        pairs.append([m.get("seconds") for m in measured])
    if len(pairs) == 2:  # each repeat's two children ran one after the other: the ratio of each pair, then the median
        ratios = [old / new for new, old in zip(*pairs, strict=True) if new and old]
        rows[-1]["before_over_now"] = statistics.median(ratios)
        rows[-1]["what"] += f"; this checkout's step is {statistics.median(ratios):.3f}× as fast (median of pairs)"
    for which, measured in children.items():
        label, short = FRAMEWORKS[which]
        runs = [m for m in measured if "seconds" in m]
        if not runs:
            problem = next((f"failed: {m['error']}" for m in measured if "error" in m),
                           "not installed (pip install '.[bench]')")
            rows.append({"what": f"{short}: {problem}", "us": None, "ratio": None, "ratio_lean": None})
            continue
        us = statistics.median(r["seconds"] for r in runs) * 1e6
        rows.append({"what": label.format(version=runs[0]["version"]) + f"; its first {steps:,} steps (warm-up, "
                     f"compilation) {statistics.median(r['first_run_s'] for r in runs):.1f} s", "us": us,
                     "ratio": base * 1e6 / us, "ratio_lean": lean * 1e6 / us, "runs": runs})
    return rows


# --- the --preset best recipe ----------------------------------------------------------------------------
def preset_fit(settings, x, t, xt=None, tt=None, *, steps=None, callbacks=()):
    """A fresh network for ``settings`` trained by ``nnlearn.fit`` as ``nnlearn train`` does: ``steps``
    iterations without evaluation, or the recipe's whole run evaluated every epoch."""
    from nnlearn.runs import build_network

    net = build_network(settings, x.shape[1], 10)
    fit_settings = settings.scope("fit")
    if steps is not None:
        fit_settings.update(epochs=None, iters=steps, eval_every="never")
    return nl.fit(net, x, t, x_test=xt, t_test=tt, callbacks=callbacks, **fit_settings)


def bench_preset_step(repeats: int, steps: int) -> list[dict]:
    """µs per step of --preset best, and of it without one of its parts, against the book's recipe."""
    from nnlearn.settings import preset

    x, t, _, _ = digits()
    best = preset("best")
    cases = [(f"the book's recipe: {preset('book').recipe()}", preset("book")),
             (f"--preset best: {best.recipe()}", best),
             ("--preset best without the shifted digits", best.replace(augment="none")),
             ("--preset best without dropout", best.replace(dropout=0.0)),
             ("--preset best with SGD lr 0.1 instead of Adam", best.replace(optimizer="sgd", lr=0.1))]
    for _, settings in cases:
        preset_fit(settings, x, t, steps=steps)
    timings = {name: [] for name, _ in cases}
    for _ in range(repeats):
        for name, settings in cases:
            start = time.perf_counter()
            preset_fit(settings, x, t, steps=steps)
            timings[name].append((time.perf_counter() - start) / steps)
    base = statistics.median(timings[cases[0][0]])
    return [{"what": name, "us": statistics.median(times) * 1e6, "per_book_step": statistics.median(times) / base}
            for name, times in timings.items()]


def bench_preset_run(repeats: int, epochs: int | None, target: float = 0.96) -> list[dict]:
    """Whole runs through ``nnlearn.fit`` with the test accuracy evaluated every epoch: the seconds until it
    first reaches ``target`` and the accuracy after the last epoch (the book's recipe alongside)."""
    from nnlearn.settings import preset

    x, t, xt, tt = digits()
    book, best = preset("book"), preset("best")
    cases = [(f"the book's recipe: {book.iters:,} iterations of batch {book.batch_size}", book),
             (f"--preset best: {best.epochs} epochs of batch {best.batch_size}", best)]
    if epochs is not None:  # a quick run: fewer epochs
        cases = [(f"{name.split(':')[0]}: {epochs} epochs (quick run)", s.replace(epochs=epochs))
                 for name, s in cases]
    runs = {name: [] for name, _ in cases}
    for _ in range(repeats):
        for name, settings in cases:
            reached = []
            start = time.perf_counter()

            def note(record, start=start, reached=reached):
                if not reached and record["test_acc"] >= target:
                    reached.append((time.perf_counter() - start, record["epoch"]))

            history = preset_fit(settings, x, t, xt, tt, callbacks=[note])
            runs[name].append({"seconds": time.perf_counter() - start, "test_acc": history.test_acc[-1],
                               "best_test_acc": max(history.test_acc), "iters": history.iters,
                               "to_target_s": reached[0][0] if reached else None,
                               "to_target_epoch": reached[0][1] if reached else None})
    rows = []
    for name, measured in runs.items():
        hits = [m["to_target_s"] for m in measured if m["to_target_s"] is not None]
        rows.append({"what": name, "seconds": statistics.median(m["seconds"] for m in measured),
                     "to_target_s": statistics.median(hits) if len(hits) == len(measured) else None,
                     "to_target_epoch": measured[0]["to_target_epoch"], "test_acc": measured[0]["test_acc"],
                     "test_accs": sorted({m["test_acc"] for m in measured}), "iters": measured[0]["iters"],
                     "target": target, "runs": measured})
    return rows


# --- data: per-batch cost at growing sizes, each in its own process ----------------------------------------
def measure_batches(directory: str, sampling: str, batches: int, repeats: int) -> dict:
    """Run in a child process: per-batch (draw + convert) time, per training step time, and peak RSS."""
    (x, t), _ = nl.load_mnist(normalize=False, dataset=directory)
    sampler = nl.BatchSampler(len(t), 100, sampling, seed=0)
    load = nl.BatchLoader(x, t, 100, np.float32, sampler=sampler)

    def run():
        for _ in range(batches):
            load(next(sampler))

    run()
    per_batch = median_time(run, repeats) / batches
    # the training step: what fit runs each iteration, timed in steady state on the same sampler and loader;
    # fit's fixed start-up (label check, the first epoch's order, the first block read) is reported apart
    net = nl.TwoLayerNet(784, 50, 10, seed=0, dtype=np.float32)
    optimizer = SGD(0.1)

    def train():
        with net.reusing_buffers():
            for _ in range(batches):
                x_batch, t_batch = load(next(sampler))
                _, grads = net.loss_and_gradient(x_batch, t_batch)
                optimizer.update(net.params, grads)

    train()
    per_step = median_time(train, repeats) / batches
    startup = median_time(lambda: nl.fit(net, x, t, iters=1, sampling=sampling, eval_every="never"),
                          repeats) - per_step
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
    return {"n": len(t), "bytes": int(x.nbytes), "sampling": sampling, "us": per_batch * 1e6,
            "step_us": per_step * 1e6, "startup_s": startup, "rss_mb": hwm / 1024}


def bench_data(sizes, repeats: int, rounds: int) -> list[dict]:
    """Every (size, sampling) in its own process, all of them once per round; each figure is the median over
    rounds (peak RSS the maximum), so a noisy minute of the machine does not land on one size only."""
    for n in sizes:
        directory = DATA / f"large-{n}"
        if not (directory / "train-images-idx3-ubyte").is_file():
            print(f"  making {n:,} samples in {directory} ...", flush=True)
            make_large(directory, n, seed=0)
    runs = {}
    for _ in range(rounds):
        for n in sizes:
            for sampling in ("blocks", "choice"):
                out = subprocess.run([sys.executable, __file__, "_batches", str(DATA / f"large-{n}"), sampling,
                                      "3000", str(repeats)], capture_output=True, text=True, check=True)
                runs.setdefault((n, sampling), []).append(json.loads(out.stdout))
    rows = []
    for measured in runs.values():
        row = dict(measured[0])
        for key in ("us", "step_us", "startup_s"):
            row[key] = statistics.median(m[key] for m in measured)
        row["rss_mb"] = max(m["rss_mb"] for m in measured)
        row["rounds"] = measured  # each round's figures, kept in results.json
        rows.append(row)
    for r in rows:
        base = next(b for b in rows if b["n"] == 60_000 and b["sampling"] == r["sampling"])
        r["ratio_to_60k"] = r["us"] / base["us"]
        r["step_ratio_to_60k"] = r["step_us"] / base["step_us"]
    return rows


def bench_evaluation(repeats: int) -> list[dict]:
    """evaluate() over the 60k file (small: memory-mapped, in the page cache) and the 1M one (0.78 GB: read
    in chunks from disk)."""
    rows = []
    net = nl.TwoLayerNet(784, 50, 10, seed=0, dtype=np.float32)
    for n in (60_000, 1_000_000):
        (x, t), _ = nl.load_mnist(normalize=False, dataset=str(DATA / f"large-{n}"))
        seconds = median_time(lambda: nl.evaluate(net, x, t), repeats)  # noqa: B023 (called at once)
        rows.append({"n": len(t), "bytes": int(x.nbytes), "seconds": seconds, "per_second": len(t) / seconds})
    return rows


# --- the table ----------------------------------------------------------------------------------------------
def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, NumPy {np.__version__}"


def blas() -> str:
    libs = [f"{i['internal_api']} {i.get('version')} ({i.get('architecture')} kernel, {i['num_threads']} threads)"
            for i in threadpool_info() if i["user_api"] == "blas"]
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    return f"BLAS: {'; '.join(libs) or 'unknown'}; {env or 'OPENBLAS_CORETYPE not set'}"


def section_numerical(results: dict) -> list[str]:
    lines = ["### Numerical gradient", "", "| what | time | speed-up |", "|---|---:|---:|"]
    for r in results["numerical"]:
        lines.append(f"| {r['what']} ({r['note']}) | {r['ms']:.1f} ms | {r['ratio']:.0f}× |")
    return lines


def section_step(results: dict) -> list[str]:
    lines = [f"### Training step (784-50-10, batch 100, lr 0.1; medians of {results['step_repeats']} repeats)", "",
             "*The book's loop* is ch04's train_neuralnet.py step for step: a batch by `choice`, "
             "`TwoLayerNet.gradient` (backprop; its `sigmoid_grad` evaluates the sigmoid twice more), "
             "`W -= lr * grad`, then `network.loss` on the batch for the loss list. *The lean loop* drops the "
             "loss and the extra sigmoids. nnlearn's `fit` records the loss of every step too (from the forward "
             "pass it already made) and draws uint8 pixels, converting each batch; its step is "
             "`net.loss_and_gradient` through chapter 5's layers, then `optimizer.update`. The rows *(own process)* "
             "run each repeat in a fresh "
             "process, timed after a first run of as many steps: nnlearn's fit from this checkout and from the "
             "commit before issue 11 (its hand-fused step), one after the other, and the frameworks, which "
             "train the same network on the same 8,000 digits with as many threads as BLAS has here.", "",
             "| what | µs per step | speed vs the book's loop | vs the lean loop |",
             "|---|---:|---:|---:|"]
    for r in results["step"]:
        if r["us"] is None:
            lines.append(f"| {r['what']} | – | – | – |")
        else:
            lines.append(f"| {r['what']} | {r['us']:.0f} | {r['ratio']:.2f}× | {r['ratio_lean']:.2f}× |")
    return lines


def section_preset(results: dict) -> list[str]:
    lines = ["### `--preset best` (mnist-mini: 8,000 training digits, 2,000 test; float32)", "",
             f"Per step: `nnlearn.fit` without evaluation, {results['preset_steps']:,} steps per repeat, medians "
             f"of {results['preset_repeats']} interleaved repeats; the last three rows take one of the preset's "
             "parts away.", "",
             "| recipe | µs per step | vs the book's step |", "|---|---:|---:|"]
    for r in results["preset_step"]:
        lines.append(f"| {r['what']} | {r['us']:.0f} | {r['per_book_step']:.1f}× |")
    target = results["preset_run"][0]["target"]
    lines += ["", f"End to end: whole runs of `nnlearn.fit` with the training and test accuracy evaluated every "
              f"epoch, as `nnlearn train` runs them (without its report and files); medians of "
              f"{results['preset_run_repeats']} run(s), each with the same seed.", "",
              f"| run | wall time | time to ≥ {target:g} test accuracy | test accuracy after the last epoch |",
              "|---|---:|---:|---:|"]
    for r in results["preset_run"]:
        reached = (f"{r['to_target_s']:.1f} s (epoch {r['to_target_epoch']})" if r["to_target_s"] is not None
                   else "not reached")
        lines.append(f"| {r['what']} ({r['iters']:,} iterations) | {r['seconds']:.1f} s | {reached} | "
                     f"{' / '.join(f'{a:.4f}' for a in r['test_accs'])} |")
    return lines


def section_data(results: dict) -> list[str]:
    lines = ["### Mini-batches from IDX files on disk (batch 100, float32)", "",
             "Each size in its own process, all sizes once per round; medians over rounds (peak RSS: the "
             "maximum). *draw + convert*: indices and a float batch, nothing else; "
             "*training step*: the step `fit` runs (draw, convert, gradient, update), timed over 3,000 steps "
             "after as many for warm-up; *start-up*: the rest of a one-step `fit` call (checking the labels, the "
             "first epoch's order, the first block read).", "",
             "| samples | file | sampling | draw + convert, µs | vs 60k | training step, µs | vs 60k | start-up | "
             "peak RSS |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in results["data"]:
        lines.append(f"| {r['n']:,} | {r['bytes'] / 1e9:.2f} GB | {r['sampling']} | {r['us']:.1f} | "
                     f"{r['ratio_to_60k']:.2f}× | {r['step_us']:.0f} | {r['step_ratio_to_60k']:.2f}× | "
                     f"{r['startup_s']:.2f} s | {r['rss_mb']:.0f} MiB |")
    return lines


def section_evaluation(results: dict) -> list[str]:
    lines = ["### Whole-dataset evaluation (`evaluate`, chunks of 10,000, float32; the data section's files)", "",
             "| images | file | time | images/s |", "|---:|---:|---:|---:|"]
    for ev in results["evaluation"]:
        lines.append(f"| {ev['n']:,} | {ev['bytes'] / 1e9:.2f} GB | {ev['seconds']:.2f} s | "
                     f"{ev['per_second']:,.0f} |")
    return lines


SECTIONS = {"numerical": section_numerical, "step": section_step, "preset": section_preset, "data": section_data,
            "evaluation": section_evaluation}
MARK = "<!-- section: {} -->"


def section_text(name: str, results: dict) -> str:
    stamp = (f"*Measured {results['measured']} ({'quick' if results['quick'] else 'full'} run); "
             f"{results['blas']}.*")
    heading, *body = SECTIONS[name](results)
    return "\n".join([MARK.format(name), heading, "", stamp, *body])


def write_results(results: dict, path: Path) -> str:
    """RESULTS.md with the sections measured now; a section not measured in this run keeps its earlier text
    (and the date it was measured)."""
    earlier = {}
    if path.is_file():
        text = path.read_text()
        for name in SECTIONS:
            mark = MARK.format(name)
            if mark in text:
                body = text.split(mark, 1)[1]
                ends = [body.index(m) for m in (MARK.format(n) for n in SECTIONS) if m in body]
                earlier[name] = (mark + body[:min(ends, default=len(body))]).rstrip()
    parts = [section_text(name, results) if name in results else earlier.get(name) for name in SECTIONS]
    command = "python benchmarks/bench.py" + (" --quick" if results["quick"] else "")
    text = (f"# Benchmark results\n\nProduced by `{command}` (a section's line says when it was measured).\n\n"
            f"Machine: {machine()}\n\n" + "\n\n".join(p for p in parts if p) + "\n")
    path.write_text(text)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and steps; data sizes up to 1M")
    parser.add_argument("--only", type=lambda v: v.split(","), default=list(SECTIONS), metavar="SECTION[,...]",
                        help=f"measure only these sections ({', '.join(SECTIONS)}); RESULTS.md keeps the others")
    parser.add_argument("--before", default=BEFORE, metavar="COMMIT",
                        help=f"the training-step table's 'before' row: fit at this commit (default {BEFORE}, the "
                             "last before issue 11; '' for none)")
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"--only: unknown sections {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    repeats = 3 if args.quick else 7
    sizes = (10_000, 60_000, 1_000_000) if args.quick else (10_000, 60_000, 1_000_000, 20_000_000)
    results = {"quick": args.quick, "repeats": repeats, "measured": time.strftime("%Y-%m-%d %H:%M %Z"),
               "blas": blas()}
    print(f"{machine()}; {results['blas']}", flush=True)
    if "numerical" in args.only:
        print("numerical gradient ...", flush=True)
        results["numerical"] = bench_numerical_gradient(repeats)
    if "step" in args.only:
        print("training step ...", flush=True)
        results["step_repeats"] = 5 if args.quick else 11  # the noisiest section: more repeats
        results["step"] = bench_training_step(results["step_repeats"], before=args.before or None)
    if "preset" in args.only:
        print("--preset best ...", flush=True)
        results["preset_repeats"], results["preset_steps"] = (3, 50) if args.quick else (7, 300)
        results["preset_step"] = bench_preset_step(results["preset_repeats"], results["preset_steps"])
        results["preset_run_repeats"] = 1 if args.quick else 3
        results["preset_run"] = bench_preset_run(results["preset_run_repeats"], 2 if args.quick else None)
        results["preset"] = True
    if "data" in args.only:
        print("data ...", flush=True)
        results["data"] = bench_data(sizes, repeats=3, rounds=1 if args.quick else 3)
    if "evaluation" in args.only:
        results["evaluation"] = bench_evaluation(repeats)
    text = write_results(results, HERE / "RESULTS.md")
    print()
    print(text)
    (HERE / "results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_framework":
        print(json.dumps(time_framework(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "_batches":
        print(json.dumps(measure_batches(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))))
        sys.exit(0)
    sys.exit(main())
