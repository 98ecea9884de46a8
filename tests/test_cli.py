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
    assert "--iters: must be a positive integer, got 0" in capsys.readouterr().err
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
    err = capsys.readouterr().err
    assert "--dataset: '" in err and "is unknown" in err and not (tmp_path / "r").exists()


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


# --- hostile command lines, folders, pipes and signals ---------------------------------------------------


@pytest.mark.parametrize(("argv", "message"), [
    (["train", "--seed", "-5"], "nnlearn train: error: --seed: must be a whole number >= 0, got -5"),
    (["train", "--seed", "x"], "nnlearn train: error: --seed: expected a whole number, got 'x'"),
    (["train", "--lr", "abc"], "nnlearn train: error: --lr: expected a number, got 'abc'"),
    (["train", "--hidden", "0"], "nnlearn train: error: --hidden: expected positive sizes"),
    (["train", "--batch-size", "0"], "nnlearn train: error: --batch-size: must be a positive integer, got 0"),
    (["train", "--sampling", "random"], "nnlearn train: error: --sampling: invalid choice: 'random'"),
    (["train", "--no-such-option"], "nnlearn: error: unrecognized arguments: --no-such-option"),
])
def test_usage_errors_are_one_line_naming_the_option(argv, message):
    result = run_cli(*argv)
    assert result.returncode == 2
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr


def test_failed_start_leaves_no_folder_and_an_unfinished_start_can_be_redone(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(tmp_path / "nowhere"), "--out", str(out)]) == 1
    assert not out.exists()
    # what a run killed before its first checkpoint leaves: its config, and a temporary file of a dead process
    out.mkdir()
    (out / "config.json").write_text("{}")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / f".checkpoint.npz.{int(dead.stdout)}.0123abcd.tmp").write_bytes(b"half")
    assert main(["train", "--resume", str(out)]) == 1
    assert f"start it again with --out {out}" in capsys.readouterr().err
    assert main(["train", "--iters", "100", "--hidden", "5", "--out", str(out), "--quiet"]) == 0
    assert (out / "weights.npz").is_file()
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_two_runs_never_share_a_folder(tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "nnlearn", "train", "--iters", "1000000", "--hidden", "5",
                              "--out", str(out), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not (out / "checkpoint.npz").exists() and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.1)
        assert (out / "checkpoint.npz").exists(), first.stderr.read() if first.poll() is not None else "slow"
        for argv in (["--resume", str(out)], ["--out", str(out)]):
            second = run_cli("train", *argv)
            assert second.returncode == 1
            assert f"{out} is in use by another nnlearn train (process {first.pid})" in second.stderr
            assert second.stderr.count("\n") == 1
    finally:
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=120)
    assert first.returncode == 130 and "Traceback" not in err
    from nnlearn.runs import RunFolder

    with RunFolder.resumed(out):  # free again once the first run has ended
        pass


def test_resume_extends_with_iters_and_refuses_other_options(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--iters", "80", "--hidden", "5", "--out", str(out), "--quiet"]) == 0
    assert main(["train", "--resume", str(out), "--lr", "0.5", "--hidden", "7"]) == 2
    err = capsys.readouterr().err
    assert "--resume: --hidden, --lr cannot change a run being resumed" in err and err.count("\n") == 1
    assert main(["train", "--resume", str(out), "--iters", "160", "--quiet"]) == 0
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 160 and history["epoch_iteration"][-1] == 160
    capsys.readouterr()
    # the same 160 iterations in one go give the same weights
    assert main(["train", "--iters", "160", "--hidden", "5", "--out", str(tmp_path / "once"), "--quiet"]) == 0
    with np.load(out / "weights.npz") as a, np.load(tmp_path / "once" / "weights.npz") as b:
        np.testing.assert_array_equal(a["W1"], b["W1"])


def test_evaluate_and_predict_take_a_run_folder_and_report_picture_changes(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--iters", "80", "--hidden", "5", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 2000
    photo = np.full((100, 80, 3), 230, np.uint8)
    photo[20:80, 35:45] = 10
    Image.fromarray(photo).save(tmp_path / "one.jpg")
    Image.fromarray(photo[:, :, 0]).save(tmp_path / "one.bmp")
    assert main(["predict", str(out), str(tmp_path / "one.jpg"), str(tmp_path / "one.bmp")]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("one.") == 2
    assert f"{tmp_path / 'one.jpg'}: resized 80x100 to 28x28; inverted" in captured.err
    Image.new("1", (9000, 9000)).save(tmp_path / "bomb.png")
    assert main(["predict", str(out), str(tmp_path / "bomb.png")]) == 1
    err = capsys.readouterr().err
    assert "9000x9000 picture" in err and "decompression bomb" in err and err.count("\n") == 1


def test_weights_with_non_finite_outputs_fail_evaluate(tmp_path, capsys):
    net = nl.TwoLayerNet(784, 5, 10, seed=0, dtype=np.float32)
    net.params["W2"][:] = 3e38
    nl.save_weights(tmp_path / "w.npz", net.params, {"architecture": net.architecture, "dataset": "mnist-mini"})
    assert main(["evaluate", str(tmp_path / "w.npz")]) == 1
    err = capsys.readouterr().err
    assert "NaN or infinite outputs" in err and err.count("\n") == 1


def test_a_run_that_does_not_learn_ends_with_a_warning_and_exit_3(tmp_path):
    result = run_cli("train", "--lr", "100", "--iters", "160", "--hidden", "10", "--out", str(tmp_path / "r"))
    assert result.returncode == 3, result.stderr
    assert "nnlearn train: warning: the network did not learn" in result.stderr and "lr=100" in result.stderr
    assert "done: 160 iterations" in result.stdout


def test_memory_beyond_the_machine_is_one_line(tmp_path):
    result = run_cli("train", "--hidden", "100000000", "--out", str(tmp_path / "r"))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "--hidden: [100000000] (a 784-100000000-10 network of 79,500,000,010 parameters) would need" in \
        result.stderr and "TiB of memory" in result.stderr
    assert not (tmp_path / "r").exists()


def test_closed_pipe_does_not_stop_training(tmp_path):
    out = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-m", "nnlearn", "train", "--iters", "400", "--hidden", "5",
                              "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = [child.stdout.readline() for _ in range(3)]  # like `| head -3`
    child.stdout.close()
    err = child.stderr.read().decode()
    child.wait(timeout=300)
    assert all(lines) and child.returncode == 0, err
    assert "Broken pipe" not in err and "Exception ignored" not in err and "Traceback" not in err
    assert (out / "weights.npz").is_file() and (out / "report.html").is_file()


@pytest.mark.parametrize("delay", [0.3, 0.6, 1.0, 2.0])
def test_ctrl_c_during_start_up_is_quiet(tmp_path, delay):
    """From the moment nnlearn's code runs (Python's own start-up, a few milliseconds, is beyond its reach)."""
    out = tmp_path / "run"
    script = Path(sys.executable).parent / "nnlearn"  # the console script a user runs
    command = [str(script)] if script.exists() else [sys.executable, "-m", "nnlearn"]
    child = subprocess.Popen([*command, "train", "--iters", "100000", "--out", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    assert "Traceback" not in err and "Error" not in err and "Exception" not in err, err
    assert "interrupted" in err
    assert not out.exists() or (out / "checkpoint.npz").exists()  # a start cut short leaves no folder behind


def test_second_ctrl_c_while_stopping_prints_nothing_strange(tmp_path):
    out = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-m", "nnlearn", "train", "--iters", "100000", "--hidden", "5",
                              "--out", str(out), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (out / "checkpoint.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    for _ in range(3):
        child.send_signal(signal.SIGINT)
        time.sleep(0.02)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert "interrupted" in err
    nl.io.load_weights(out / "checkpoint.npz")  # whatever moment it hit, the checkpoint is whole
