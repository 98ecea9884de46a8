"""Data-parallel training on MPI: step time, samples/s and the allreduce's share at P = 1 and 2, and the
ring-allreduce model of P = 8…64 machines built from those measurements.

    python benchmarks/mpi_bench.py                  # about 3 minutes on 2 cores
    python benchmarks/mpi_bench.py --quick          # a tenth of the steps: checks it runs
    python benchmarks/mpi_bench.py --large DIR      # also sampling="blocks" on a dataset made by
                                                    #   nnlearn data make-large (P = 1 and 2)

Every rank runs one BLAS thread (OMP_NUM_THREADS=1), so P = 2 uses both cores of a 2-core machine; P = 1 is
also timed with 2 BLAS threads, the fair single-process baseline.  Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

NETWORKS = {"784-50-10 sigmoid, SGD": ((50,), "sigmoid", "sgd"),
            "784-256-128-10 ReLU, Adam": ((256, 128), "relu", "adam")}
"""The book's network (39,760 parameters) and ``--preset best``'s (235,146; here without its dropout and
shifted images, which cost the same on any number of ranks)."""
BATCHES = (100, 1000)
STEPS = {100: 600, 1000: 120}
ROOT = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


# --- inside mpirun ----------------------------------------------------------------------------------------
def worker(args) -> None:
    import nnlearn as nl
    from nnlearn.parallel import Ranks, world

    comm = world()
    ranks = Ranks(comm)
    if args.large:
        ds = nl.open_dataset(args.large)
        x, t = ds.x_train, ds.t_train
    else:
        (x, t), _ = nl.load_mnist(normalize=False, dataset="mnist-mini")
    rows = []
    reduce_time = [0.0]
    original = Ranks.mean_gradient

    def timed(self, *a):  # the time fit spends in the allreduce, including the wait for the slower rank
        start = time.perf_counter()
        result = original(self, *a)
        reduce_time[0] += time.perf_counter() - start
        return result

    Ranks.mean_gradient = timed
    for name, (hidden, activation, optimizer) in NETWORKS.items():
        if args.large and hidden != (50,):
            continue
        for batch in BATCHES:
            steps = max(STEPS[batch] // (3 if hidden[0] > 100 else 1) // (10 if args.quick else 1), 5)
            timings = []
            for _ in range(3):
                net = nl.MultiLayerNet(784, hidden, 10, activation=activation, weight_init_std=0.01, seed=0,
                                       dtype=np.float32)
                reduce_time[0] = 0.0
                if comm is not None:
                    comm.Barrier()
                start = time.perf_counter()
                nl.fit(net, x, t, iters=steps, batch_size=batch, optimizer=optimizer,
                       sampling=args.sampling if not args.large else "blocks", eval_every="never", comm=comm)
                timings.append(((time.perf_counter() - start) / steps, reduce_time[0] / steps))
            step, reduce = sorted(timings)[1]
            alone = _allreduce_alone(ranks, net.params) if ranks.parallel else 0.0
            rows.append({"network": name, "params": int(sum(v.size for v in net.params.values())), "batch": batch,
                         "step_ms": step * 1e3, "samples_s": batch / step, "reduce_ms": reduce * 1e3,
                         "reduce_alone_ms": alone * 1e3})
    if ranks.root:
        print("ROWS " + json.dumps(rows), flush=True)


def _allreduce_alone(ranks, params, repeats=200) -> float:
    """The allreduce of one step's gradient with every rank already waiting: the communication itself."""
    grads = {k: np.ones_like(v) for k, v in params.items()}
    times = []
    for _ in range(repeats):
        ranks.comm.Barrier()
        start = time.perf_counter()
        ranks.mean_gradient(grads, 1.0, 1, False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- the launcher ----------------------------------------------------------------------------------------
def launch(processes: int, threads: int, args) -> list[dict]:
    mpirun = Path(sys.executable).parent / "mpirun"
    command = [str(mpirun if mpirun.exists() else "mpirun"), "-n", str(processes), "--oversubscribe",
               "-x", f"OMP_NUM_THREADS={threads}", "-x", f"OPENBLAS_NUM_THREADS={threads}",
               sys.executable, __file__, "--worker", "--sampling", args.sampling] + (["--quick"] if args.quick else [])
    if args.large:
        command += ["--large", args.large]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **ROOT}, check=False)
    if done.returncode != 0:
        sys.exit(f"mpirun -n {processes} failed:\n{done.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("ROWS "))
    return json.loads(line[5:])


def model(rows: dict, bandwidths=((1.25e9, 50e-6, "10 Gb/s Ethernet"), (12.5e9, 2e-6, "100 Gb/s InfiniBand"))):
    """Ring allreduce: T_ar(P) = 2(P−1)/P · bytes / bandwidth + 2(P−1) · latency; a step on P machines
    takes B/P · t_sample + T_ar(P).  t_sample is measured at P = 1 (one thread, the largest batch)."""
    lines = ["", "| network | link | P | T_allreduce | speed-up at B=100 | B=1000 | B=10000 | "
             "pays off from B (speed-up > 1) | B for 50 % efficiency |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, per_sample in rows.items():
        params = per_sample["params"]
        grad_bytes = 4 * params
        for bandwidth, latency, link in bandwidths:
            for p in (8, 16, 32, 64):
                t_ar = 2 * (p - 1) / p * grad_bytes / bandwidth + 2 * (p - 1) * latency
                t_s = per_sample["t_sample"]
                speedups = [b * t_s / (b * t_s / p + t_ar) for b in (100, 1000, 10000)]
                pays = t_ar / (t_s * (1 - 1 / p))
                half = p * t_ar / t_s
                lines.append(f"| {name} ({params:,}) | {link} | {p} | {t_ar * 1e3:.3f} ms | "
                             + " | ".join(f"{s:.1f}×" for s in speedups) + f" | {pays:,.0f} | {half:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sampling", default="shuffle")
    parser.add_argument("--quick", action="store_true", help="a tenth of the steps: a smoke test, not figures")
    parser.add_argument("--large", help="a dataset directory (nnlearn data make-large) to train with blocks")
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    runs = [("P=1, 1 thread", launch(1, 1, args)), ("P=1, 2 threads", launch(1, 2, args)),
            ("P=2, 1 thread each", launch(2, 1, args))]
    print(f"sampling {args.sampling if not args.large else 'blocks on ' + args.large}, float32, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end\n")
    print("| network | batch | processes | step | samples/s | vs P=1 (1 thread) | allreduce (incl. wait) | "
          "allreduce alone |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    base = {(r["network"], r["batch"]): r for r in runs[0][1]}
    for label, rows in runs:
        for r in rows:
            b = base[(r["network"], r["batch"])]
            share = f"{r['reduce_ms']:.3f} ms ({r['reduce_ms'] / r['step_ms']:.0%})" if r["reduce_ms"] else "–"
            alone = f"{r['reduce_alone_ms']:.3f} ms" if r["reduce_alone_ms"] else "–"
            print(f"| {r['network']} | {r['batch']} | {label} | {r['step_ms']:.2f} ms | {r['samples_s']:,.0f} | "
                  f"{b['step_ms'] / r['step_ms']:.2f}× | {share} | {alone} |")
    if not args.large:
        per_sample = {}
        for r in runs[0][1]:
            if r["batch"] == max(BATCHES):
                per_sample[r["network"]] = {"params": r["params"], "t_sample": r["step_ms"] / 1e3 / r["batch"]}
        print("\ncompute per sample (P=1, 1 thread, batch 1000): " + ", ".join(
            f"{k} {v['t_sample'] * 1e6:.2f} µs" for k, v in per_sample.items()))
        print(model(per_sample))


if __name__ == "__main__":
    main()
