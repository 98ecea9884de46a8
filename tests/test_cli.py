"""The command line: exit codes, messages, run folders, Ctrl-C and bit-exact --resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nnlearn as nl
from nnlearn.cli import main


def run_cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "nnlearn", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_version_and_help(capsys):
    assert main(["--version"]) == 0
    assert nl.__version__ in capsys.readouterr().out
    assert main(["--help"]) == 0
    assert "train" in capsys.readouterr().out
    assert main([]) == 0


def test_usage_errors_exit_2(capsys):
    assert main(["train", "--iters", "0"]) == 2
    assert "--iters: iters must be a positive integer, got 0" in capsys.readouterr().err
    assert main(["train", "--sampling", "random"]) == 2
    assert main(["no-such-command"]) == 2


def test_train_small_run_leaves_complete_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--iters", "400", "--hidden", "20", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "mnist-mini: 8,000 train / 2,000 test" in text and "recipe" in text and str(out) in text
    assert "train acc" in text and "test acc" in text and "done: 400 iterations" in text
    for name in ("weights.npz", "checkpoint.npz", "history.csv", "history.json", "config.json"):
        assert (out / name).is_file(), name
    with np.load(out / "weights.npz", allow_pickle=False) as z:
        meta = json.loads(z["meta"].item())
        assert z["W1"].shape == (784, 20) and z["W1"].dtype == np.float32
    assert meta["dataset"] == "mnist-mini" and meta["seed"] == 0 and meta["nnlearn"] == nl.__version__
    assert len((out / "history.csv").read_text().splitlines()) == 1 + 5
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    # the same folder again is refused; a resume of a finished run is refused
    assert main(["train", "--iters", "400", "--out", str(out)]) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "--resume", str(out)]) == 1
    assert "finished run" in capsys.readouterr().err


def test_evaluate_json_matches_api(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "--iters", "300", "--hidden", "16", "--out", str(out), "--quiet"])
    capsys.readouterr()
    assert main(["evaluate", str(out / "weights.npz"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    params, _ = nl.load_weights(out / "weights.npz")
    _, (x, t) = nl.load_mnist(dataset="mnist-mini")
    acc, loss = nl.evaluate(params, x, t)
    assert report["n"] == 2000
    assert report["accuracy"] == pytest.approx(acc, abs=1e-12)
    assert report["loss"] == pytest.approx(loss, rel=1e-6)


def test_predict_png_npy_and_idx(tmp_path, capsys):
    from nnlearn.inference import PRETRAINED
    weights = Path(nl.__file__).parent / "resources" / PRETRAINED
    _, (x, t) = nl.load_mnist(normalize=False, dataset="mnist-mini")
    digit = x[0].reshape(28, 28)
    # a larger image with a white background and dark ink, as someone would draw it
    big = Image.fromarray(255 - digit).resize((112, 112), Image.Resampling.NEAREST)
    big.save(tmp_path / "digit.png")
    np.save(tmp_path / "digits.npy", x[:3].reshape(3, 28, 28))
    nl.write_idx(tmp_path / "digits.idx", x[:2].reshape(2, 28, 28))
    assert main(["predict", str(weights), str(tmp_path / "digit.png"), str(tmp_path / "digits.npy"),
                 str(tmp_path / "digits.idx")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 3 + 2
    assert lines[0].startswith(f"{tmp_path / 'digit.png'}: {t[0]} (")
    assert lines[1].startswith(f"{tmp_path / 'digits.npy'}[0]: {t[0]} (")
    assert main(["predict", str(weights), str(tmp_path / "missing.png")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_runtime_errors_exit_1_without_traceback(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "none.npz")]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    assert main(["train", "--resume", str(tmp_path)]) == 1
    assert "not a run folder" in capsys.readouterr().err
    assert main(["train", "--dataset", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 1
    assert "unknown dataset" in capsys.readouterr().err


def test_datasets_lists_all(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "mnist-mini" in out and "embedded (offline)" in out and "fashion-mnist" in out


def test_demo_prints_book_values(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert out.count("0.510825457099338") == 2 and "[-6.11110793e-10  8.14814391e-10]" in out


def test_make_large_command(tmp_path, capsys):
    assert main(["data", "make-large", "--samples", "1500", "--out", str(tmp_path / "big")]) == 0
    assert "1,500 training images" in capsys.readouterr().out
    (x, _), _ = nl.load_mnist(normalize=False, dataset=str(tmp_path / "big"))
    assert x.shape == (1500, 784)


def test_ctrl_c_then_resume_is_bit_exact(tmp_path):
    """SIGINT at an arbitrary moment, then --resume: the same final weights as a run never interrupted."""
    args = ["train", "--iters", "6000", "--hidden", "30", "--sampling", "shuffle", "--seed", "7", "--no-chapter"]
    straight = run_cli(*args, "--out", str(tmp_path / "straight"), "--quiet")
    assert straight.returncode == 0, straight.stderr
    out = tmp_path / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "nnlearn", *args, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (out / "checkpoint.npz").exists() and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.3 + np.random.default_rng().random() * 0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the run finished before the interrupt arrived on this machine")
    assert proc.returncode == 130, stderr
    assert f"nnlearn train --resume {out}" in stderr
    _, meta, _ = nl.train.read_checkpoint(out / "checkpoint.npz")
    assert 0 < meta["iteration"] < 6000
    resumed = run_cli("train", "--resume", str(out), "--no-chapter")
    assert resumed.returncode == 0, resumed.stderr
    a, _ = nl.load_weights(tmp_path / "straight" / "weights.npz")
    b, _ = nl.load_weights(out / "weights.npz")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 6000 and history["epoch"] == list(range(1, 76))


def test_resume_corrupted_checkpoint_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--iters", "300", "--hidden", "10", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    data = (out / "checkpoint.npz").read_bytes()
    (out / "checkpoint.npz").write_bytes(data[: len(data) // 2])
    assert main(["train", "--resume", str(out)]) == 1
    err = capsys.readouterr().err
    assert "cannot resume" in err and "corrupt" in err and "Traceback" not in err


def test_progress_bar_on_a_terminal(tmp_path):
    """On a terminal (here a pty that reports no size), train shows a tqdm bar with the rate and the loss."""
    import pty

    chunks = []

    def read(fd):
        data = os.read(fd, 65536)
        chunks.append(data)
        return data

    pty.spawn([sys.executable, "-m", "nnlearn", "train", "--iters", "400", "--hidden", "10",
               "--out", str(tmp_path / "run")], read)
    screen = b"".join(chunks).decode(errors="replace").replace("\r", "\n")
    bar = [line for line in screen.splitlines() if line.startswith("training:")]
    assert bar and "400/400" in bar[-1] and "it/s" in bar[-1] and "loss" in bar[-1]


def test_figures_writes_the_chapters_figures_whole_and_no_temporary_files(tmp_path, capsys):
    out = tmp_path / "figs"
    assert main(["figures", "--out", str(out), "--iters", "200"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["derivative_error.png", "descent_paths.png", "gradient_field.png", "learning_rate_sweep.png",
                     "loss_vs_accuracy.png", "minibatch_estimate.png", "tangent.png"]
    for name in names:
        with Image.open(out / name) as image:
            image.verify()
    assert "wrote" in capsys.readouterr().out
