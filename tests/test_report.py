"""The run report: self-contained, embeds every figure, and renders in a real browser."""

import base64
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnlearn.cli import main
from nnlearn.report import CHAPTER_FIGURES, FIGURES, REPORT

ALL = {**FIGURES, **CHAPTER_FIGURES}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    assert main(["train", "--iters", "800", "--hidden", "20", "--out", str(out), "--quiet"]) == 0
    return out


def test_train_writes_pngs_and_report(run_dir):
    for name in ALL:
        png = (run_dir / name).read_bytes()
        assert png.startswith(b"\x89PNG")
    page = (run_dir / REPORT).read_text()
    assert "test accuracy" in page.lower() and "Recipe" in page and "numpy" in page


def test_report_explains_itself(run_dir):
    page = (run_dir / REPORT).read_text()
    # the recipe spelled out: mnist-mini has 8,000 training images, so an epoch is 80 iterations of 100
    assert "8,000 ÷ 100 = <b>80 iterations</b>" in page and "800 iterations are 10 epochs" in page
    assert "np.random.choice" in page  # what "choice" means
    captions = re.findall(r"<figcaption><b>[^<]+</b>([^<]*)</figcaption>", page)
    assert len(captions) == len(ALL) and all(len(c) > 60 for c in captions)  # a sentence under every figure
    assert '<a href="history.csv">' in page and '<a href="weights.npz">' in page
    assert page.index('id="run"') < page.index('id="chapter"')
    assert "not overfitting" in page or "overfitting" in page


def test_partial_last_epoch_is_plotted_at_its_fraction(tmp_path):
    import json

    from nnlearn.data.datasets import open_dataset
    from nnlearn.history import History
    from nnlearn.io import load_weights
    from nnlearn.network import network_from_weights
    from nnlearn.report import training_figures

    run = tmp_path / "partial"
    assert main(["train", "--iters", "100", "--hidden", "10", "--out", str(run), "--quiet"]) == 0
    history = History.from_dict(json.loads((run / "history.json").read_text()))
    assert history.epoch == [1, 1]  # 80 iterations, then the last 20: both called "epoch 1" in the history

    net = network_from_weights(*load_weights(run / "weights.npz"))
    figures = training_figures(history, net, open_dataset("mnist-mini"))
    line = figures["accuracy.png"].axes[0].lines[0]
    assert list(line.get_xdata()) == [1.0, 1.25]


def test_report_is_self_contained(run_dir):
    page = (run_dir / REPORT).read_text()
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page)
    assert "http://" not in page and "https://" not in page
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(embedded) == len(ALL)
    pngs = {base64.b64decode(e) for e in embedded}
    assert pngs == {(run_dir / name).read_bytes() for name in ALL}
    assert 'http-equiv="refresh"' not in page  # only while training


def test_report_command_rebuilds(run_dir, capsys):
    (run_dir / REPORT).unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / REPORT).is_file()


def test_report_without_history_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 1
    assert "not a run folder" in capsys.readouterr().err
    (tmp_path / "config.json").write_text('{"settings": {}}')
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no history.json or checkpoint.npz" in err and "Traceback" not in err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package 'chromium'); "
                                             ".ci/run installs it when it can")
def test_report_renders_in_chromium(run_dir, tmp_path):
    url = (run_dir / REPORT).resolve().as_uri()
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run([CHROMIUM, *FLAGS, *profile, "--dump-dom", url], capture_output=True, text=True,
                         timeout=120).stdout
    loaded = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert loaded, "the page's load handler did not run"
    assert loaded.group(1) == loaded.group(2) == str(len(ALL)), "some images did not load"
    shot = tmp_path / "shot.png"
    height = 9000  # the whole page: the run's figures and then the chapter's
    subprocess.run([CHROMIUM, *FLAGS, *profile, f"--window-size=1280,{height}", f"--screenshot={shot}", url],
                   capture_output=True, timeout=180)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (height, 1280)
    assert pixels.std() > 20, "the screenshot is blank"
    top = pixels[:1500]
    assert (top < 128).mean() > 0.01, "no dark content (text, plots) in the first screen"
    # where the chapter's section starts, per the page's own layout: it must hold figures too
    rows = np.flatnonzero((pixels < 250).any(axis=1))
    assert rows[-1] > 5000, "the page ends before the chapter's figures"
    lower = pixels[4000:rows[-1]]
    assert (lower < 128).mean() > 0.005 and lower.std() > 20, "no figures in the lower half of the page"
    Path(shot).replace(run_dir / "screenshot.png")  # kept for a person to look at when debugging


def test_no_chapter_leaves_the_chapters_figures_out(tmp_path):
    run = tmp_path / "quick"
    assert main(["train", "--iters", "80", "--hidden", "10", "--out", str(run), "--quiet", "--no-chapter"]) == 0
    page = (run / REPORT).read_text()
    assert not any((run / name).exists() for name in CHAPTER_FIGURES)
    assert "nnlearn report</code> on this folder adds them" in page
    assert len(re.findall(r'src="data:image/png', page)) == len(FIGURES)
