"""The benchmark's book-style baseline must train the same network nnlearn trains, or its ratios mean nothing."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import nnlearn as nl

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("nnlearn_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("lean", [False, True])
def test_book_loop_takes_the_same_steps_as_fit(bench, lean):
    x, t, _, _ = bench.digits()
    x64 = (x / np.float32(255)).astype(np.float64)
    run = bench.book_loop(x64, np.eye(10)[t], np.float64, steps=20, lean=lean)
    run()
    net = nl.TwoLayerNet(784, 50, 10, seed=0)
    nl.fit(net, x, t, iters=20, eval_every="never")  # same seed: the same batches as rng.choice
    for name in ("W1", "b1", "W2", "b2"):
        np.testing.assert_allclose(run.params[name], net.params[name], rtol=1e-10, atol=1e-13)
    if not lean:  # the book records network.loss on each batch after its update
        rng = np.random.default_rng(0)
        last = [rng.choice(len(t), 100) for _ in range(20)][-1]
        assert len(run.losses) == 20
        assert run.losses[-1] == pytest.approx(net.loss(x64[last], t[last]), rel=1e-10)


def test_a_partial_run_keeps_the_sections_it_did_not_measure(bench, tmp_path):
    results = tmp_path / "RESULTS.md"
    earlier = {"quick": False, "measured": "2000-01-01 00:00", "blas": "BLAS: x",
               "evaluation": [{"n": 60_000, "bytes": 47_040_000, "seconds": 0.5, "per_second": 120_000}],
               "numerical": [{"what": "loop", "note": "n", "ms": 9.0, "ratio": 1.0}]}
    bench.write_results(earlier, results)
    now = {"quick": True, "measured": "2000-01-02 00:00", "blas": "BLAS: y",
           "numerical": [{"what": "loop", "note": "n", "ms": 7.0, "ratio": 1.0}]}
    text = bench.write_results(now, results)
    assert "| 60,000 | 0.05 GB | 0.50 s | 120,000 |" in text and "2000-01-01" in text  # kept, with its date
    assert "7.0 ms" in text and "9.0 ms" not in text                                   # replaced
    assert text.count("<!-- section: numerical -->") == 1
    assert text.index("section: numerical") < text.index("section: evaluation")
