"""nnlearn's benchmarks: one command, one table, every ratio measured in the same run.

    python benchmarks/bench.py            # everything, about 15 minutes (the 20M-sample file takes 16 GB)
    python benchmarks/bench.py --quick    # fewer repeats, data sizes up to 1M

Sections: the numerical gradient (the book's loop vs the structured one), the training step (book-style
NumPy loops, nnlearn's fit, PyTorch eager when installed, and the two matrix products alone), per-batch
cost and peak memory for datasets of 10k to 20M samples (each size in its own process), whole-dataset
evaluation throughput.  Times are medians of repeats.  Writes benchmarks/RESULTS.md.
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


def torch_loop(x_uint8, t, steps):
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    x = torch.from_numpy(x_uint8 / np.float32(255))
    labels = torch.from_numpy(t.astype(np.int64))
    model = torch.nn.Sequential(torch.nn.Linear(784, 50), torch.nn.Sigmoid(), torch.nn.Linear(50, 10))
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
    return run, torch.__version__


def torch_in_child(steps: int):
    """PyTorch's step timed in a process of its own: its OpenMP threads keep spinning after each call and
    would slow every NumPy case measured after it in the same process."""
    out = subprocess.run([sys.executable, __file__, "_torch", str(steps)], capture_output=True, text=True)
    result = json.loads(out.stdout) if out.returncode == 0 else None
    return result if result and "seconds" in result else None


def time_torch(steps: int) -> dict:
    x, t, _, _ = digits()
    case = torch_loop(x, t, steps)
    if case is None:
        return {"missing": True}
    run, version = case
    run()  # warm-up
    start = time.perf_counter()
    run()
    return {"seconds": (time.perf_counter() - start) / steps, "version": version}


def bench_training_step(repeats: int, steps: int = 1000) -> list[dict]:
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
    timings = {name: [] for name, _ in cases}
    torch_name, torch_times = None, []
    for _ in range(repeats):  # interleaved, so machine noise falls on every case alike
        for name, fn in cases:
            start = time.perf_counter()
            fn()
            timings[name].append((time.perf_counter() - start) / steps)
        child = torch_in_child(steps)
        if child is not None:
            torch_name = f"PyTorch {child['version']} eager, float32 (Linear/Sigmoid/Linear, SGD; own process)"
            torch_times.append(child["seconds"])
    if torch_name is not None:
        timings[torch_name] = torch_times
    base = statistics.median(timings[cases[0][0]])
    lean = statistics.median(timings[cases[2][0]])
    rows = []
    for name, times in timings.items():
        us = statistics.median(times) * 1e6
        rows.append({"what": name, "us": us, "ratio": base * 1e6 / us, "ratio_lean": lean * 1e6 / us})
    if torch_name is None:
        rows.append({"what": "PyTorch eager: not installed (pip install '.[bench]')", "us": None, "ratio": None,
                     "ratio_lean": None})
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
    blas = [f"{i['internal_api']} {i.get('version')} ({i.get('architecture')} kernel, {i['num_threads']} threads)"
            for i in threadpool_info() if i["user_api"] == "blas"]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    return (f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, NumPy {np.__version__}; "
            f"BLAS: {'; '.join(blas) or 'unknown'}; {env or 'OPENBLAS_CORETYPE not set'}")


def table(results: dict) -> str:
    lines = [f"Machine: {machine()}", f"Measured: {time.strftime('%Y-%m-%d %H:%M')} "
             f"({'quick' if results['quick'] else 'full'} run, medians of {results['repeats']} repeats)", ""]
    lines += ["### Numerical gradient", "", "| what | time | speed-up |", "|---|---:|---:|"]
    for r in results["numerical"]:
        lines.append(f"| {r['what']} ({r['note']}) | {r['ms']:.1f} ms | {r['ratio']:.0f}× |")
    lines += ["", f"### Training step (784-50-10, batch 100, lr 0.1; medians of {results['step_repeats']} repeats)", "",
              "*The book's loop* is ch04's train_neuralnet.py step for step: a batch by `choice`, "
              "`TwoLayerNet.gradient` (backprop; its `sigmoid_grad` evaluates the sigmoid twice more), "
              "`W -= lr * grad`, then `network.loss` on the batch for the loss list. *The lean loop* drops the "
              "loss and the extra sigmoids. nnlearn's `fit` records the loss of every step too (from the forward "
              "pass it already made) and draws uint8 pixels, converting each batch.", "",
              "| what | µs per step | speed vs the book's loop | vs the lean loop |",
              "|---|---:|---:|---:|"]
    for r in results["step"]:
        if r["us"] is None:
            lines.append(f"| {r['what']} | – | – | – |")
        else:
            lines.append(f"| {r['what']} | {r['us']:.0f} | {r['ratio']:.2f}× | {r['ratio_lean']:.2f}× |")
    lines += ["", "### Mini-batches from IDX files on disk (batch 100, float32)", "",
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
    lines += ["", "### Whole-dataset evaluation (`evaluate`, chunks of 10,000, float32; the data section's files)", "",
              "| images | file | time | images/s |", "|---:|---:|---:|---:|"]
    for ev in results["evaluation"]:
        lines.append(f"| {ev['n']:,} | {ev['bytes'] / 1e9:.2f} GB | {ev['seconds']:.2f} s | "
                     f"{ev['per_second']:,.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats; data sizes up to 1M")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 7
    sizes = (10_000, 60_000, 1_000_000) if args.quick else (10_000, 60_000, 1_000_000, 20_000_000)
    results = {"quick": args.quick, "repeats": repeats}
    print("numerical gradient ...", flush=True)
    results["numerical"] = bench_numerical_gradient(repeats)
    print("training step ...", flush=True)
    results["step_repeats"] = 5 if args.quick else 11  # the noisiest section: more repeats
    results["step"] = bench_training_step(results["step_repeats"])
    print("data ...", flush=True)
    results["data"] = bench_data(sizes, repeats=3, rounds=1 if args.quick else 3)
    results["evaluation"] = bench_evaluation(repeats)
    text = table(results)
    print()
    print(text)
    (HERE / "RESULTS.md").write_text("# Benchmark results\n\nProduced by `python benchmarks/bench.py`"
                                     f"{' --quick' if args.quick else ''}.\n\n{text}\n")
    (HERE / "results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_torch":
        print(json.dumps(time_torch(int(sys.argv[2]))))
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "_batches":
        print(json.dumps(measure_batches(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))))
        sys.exit(0)
    sys.exit(main())
