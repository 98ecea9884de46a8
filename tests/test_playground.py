"""nnlearn playground: the JSON API end to end against a real server on 127.0.0.1, and the page in a real
browser (Playwright driving Debian's chromium; skipped with a reason where either is missing)."""

from __future__ import annotations

import base64
import importlib.util
import json
import math
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from nnlearn import TwoLayerNet, fit
from nnlearn.cli import main
from nnlearn.data.datasets import open_dataset
from nnlearn.inference import init_network, predict
from nnlearn.io import load_weights
from nnlearn.playground import start
from nnlearn.playground.drawing import mnist_like
from nnlearn.report import write_report


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start(0, runs_dir=tmp_path_factory.mktemp("playground-runs"))
    yield srv
    srv.close()


def call(server, method, path, body=None, headers=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    head = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(server.url + path.lstrip("/"), data=data, method=method,
                                     headers={k: v for k, v in head.items() if v is not None})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for(server, run_id, predicate, timeout=40.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, history = call(server, "GET", f"/api/runs/{run_id}/history")
        if predicate(history):
            return history
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not get there in {timeout} s: {history['state']} at "
                         f"iteration {history['iteration']}")


def drawing_of(digit: np.ndarray, scale: int = 6, offset=(30, 55), size=(260, 240)) -> dict:
    """A 28x28 digit enlarged and placed off-centre on a bigger canvas, as a mouse drawing would be."""
    canvas = np.zeros(size, np.uint8)
    big = np.kron(digit.reshape(28, 28), np.ones((scale, scale), np.uint8))
    canvas[offset[0]:offset[0] + big.shape[0], offset[1]:offset[1] + big.shape[1]] = big[:size[0] - offset[0],
                                                                                         :size[1] - offset[1]]
    return {"width": size[1], "height": size[0], "pixels": base64.b64encode(canvas.tobytes()).decode()}


# --- the JSON API ----------------------------------------------------------------------------------------
def test_a_run_trains_through_fit_and_saves_a_run_folder_that_report_reads(server):
    settings = {"lr": 0.5, "iters": 200, "batch_size": 100, "seed": 3, "hidden": [30]}
    status, summary = call(server, "POST", "/api/runs", settings)
    assert status == 201 and summary["state"] in ("running", "finished")
    history = wait_for(server, summary["id"], lambda h: h["state"] == "finished")

    # the same settings through nnlearn's fit give the same losses: the playground adds no training loop
    ds = open_dataset("mnist-mini")
    net = TwoLayerNet(784, 30, 10, 0.01, seed=3, dtype=np.float32)
    expected = fit(net, ds.x_train, ds.t_train, x_test=ds.x_test, t_test=ds.t_test, iters=200, batch_size=100,
                   lr=0.5, seed=3)
    assert history["loss"] == pytest.approx(expected.loss, rel=1e-6)
    assert abs(history["loss"][0] - math.log(10)) < 0.05  # tiny initial weights: every class ~ 1/10
    assert [e["epoch_iteration"] for e in history["epochs"]] == [80, 160, 200]  # 8,000 images / 100 per batch
    assert history["epochs"][-1]["test_acc"] == pytest.approx(expected.test_acc[-1])

    status, images = call(server, "GET", f"/api/runs/{summary['id']}/images")
    assert status == 200 and len(images["weights"]) == 24
    confusion = np.array(images["confusion"])
    assert confusion.sum() == 2000 and np.trace(confusion) / 2000 == pytest.approx(expected.test_acc[-1])
    for item in images["misclassified"]:
        assert item["top3"][0]["class"] != item["label"]
    w1 = net.params["W1"][:, 0]
    pixels = np.frombuffer(base64.b64decode(images["weights"][0]), np.uint8)
    assert np.argmax(pixels) == np.argmax(w1) and np.argmin(pixels) == np.argmin(w1)

    digit = ds.x_test[np.flatnonzero(np.argmax(net.predict(ds.x_test / 255), axis=1) == ds.t_test)[0]]
    status, answer = call(server, "POST", "/api/predict", {**drawing_of(digit), "run": summary["id"]})
    assert status == 200 and answer["network"] == f"run {summary['id']} at iteration 200"
    assert len(answer["probabilities"]) == 10 and answer["top3"][0]["probability"] == max(answer["probabilities"])

    status, saved = call(server, "POST", f"/api/runs/{summary['id']}/save")
    assert status == 200
    folder = Path(saved["path"])
    assert folder.parent == server.playground.registry.runs_dir
    assert write_report(folder).is_file()
    config = json.loads((folder / "config.json").read_text())
    assert config["settings"]["hidden"] == [30] and config["settings"]["lr"] == 0.5


def test_chapter_6_networks_and_optimizers_train_and_save(server):
    settings = {"hidden": "40,20", "activation": "relu", "init": "he", "optimizer": "adam", "iters": 100}
    status, summary = call(server, "POST", "/api/runs", settings)
    assert status == 201
    assert summary["settings"]["lr"] == 0.001  # Adam's default, as nnlearn train would choose
    assert summary["settings"]["hidden"] == [40, 20]
    history = wait_for(server, summary["id"], lambda h: h["state"] == "finished")
    assert history["epochs"][-1]["test_acc"] > 0.5
    status, saved = call(server, "POST", f"/api/runs/{summary['id']}/save")
    assert status == 200 and write_report(saved["path"]).is_file()
    params, meta = load_weights(Path(saved["path"]) / "weights.npz")
    assert meta["architecture"]["sizes"] == [784, 40, 20, 10] and meta["architecture"]["activation"] == "relu"


def test_pause_step_and_stop(server):
    status, summary = call(server, "POST", "/api/runs", {"iters": 5000, "paused": True})
    assert status == 201 and summary["state"] == "paused"
    run = summary["id"]
    wait_for(server, run, lambda h: h["iteration"] == 1)
    for expected in (2, 3, 4):
        assert call(server, "POST", f"/api/runs/{run}/step")[0] == 200
        wait_for(server, run, lambda h, n=expected: h["iteration"] == n)
    time.sleep(0.3)
    assert call(server, "GET", f"/api/runs/{run}")[1]["iteration"] == 4  # paused means paused
    status, body = call(server, "POST", f"/api/runs/{run}/save")
    assert status == 409 and "has not finished an epoch yet (80 iterations)" in body["error"]
    call(server, "POST", f"/api/runs/{run}/resume")
    wait_for(server, run, lambda h: h["iteration"] > 20)
    status, body = call(server, "POST", f"/api/runs/{run}/step")
    assert status == 409 and "pause it" in body["error"]
    call(server, "POST", f"/api/runs/{run}/stop")
    history = wait_for(server, run, lambda h: h["state"] == "stopped")
    assert len(history["loss"]) == history["iteration"] < 5000
    assert call(server, "DELETE", f"/api/runs/{run}")[0] == 200
    assert call(server, "GET", f"/api/runs/{run}")[0] == 404


def test_at_most_three_runs_train_at_once(server):
    ids = [call(server, "POST", "/api/runs", {"iters": 5000, "paused": True})[1]["id"] for _ in range(3)]
    status, body = call(server, "POST", "/api/runs", {"iters": 10})
    assert status == 429 and "limit is 3" in body["error"]
    for run in ids:
        call(server, "DELETE", f"/api/runs/{run}")
    assert call(server, "POST", "/api/runs", {"iters": 10})[0] == 201


@pytest.mark.parametrize("body, words", [
    ({"lr": -1}, "lr must be a positive"),
    ({"lr": "fast"}, "lr must be a positive"),
    ({"iters": 0}, "iters must be a positive integer"),
    ({"iters": 10**7}, "cap of 100,000"),
    ({"batch_size": 2.5}, "batch_size must be a positive integer"),
    ({"batch_size": 1000, "dataset": "mnist-mini"}, None),
    ({"hidden": [5000]}, "cap of 1,000"),
    ({"hidden": []}, "hidden must name at least one hidden layer size"),
    ({"hidden": "50,x"}, "hidden must be a positive integer, got 'x'"),
    ({"hidden": [50] * 6}, "cap of 5"),
    ({"activation": "tanh"}, "activation must be one of sigmoid, relu"),
    ({"optimizer": "lbfgs"}, "optimizer must be one of sgd, momentum"),
    ({"init": "big"}, "init must be a standard deviation or one of he"),
    ({"sampling": "random"}, "sampling must be one of choice, shuffle, blocks"),
    ({"gradient": "magic"}, "gradient must be one of backprop, numerical"),
    ({"dataset": "/etc"}, "dataset must be one of"),
    ({"dataset": "."}, "dataset must be one of"),
    ({"seed": -1}, "seed must be a whole number"),
    ({"learning_rate": 0.1}, "unknown setting 'learning_rate'"),
    ({"gradient": "numerical", "activation": "relu"}, "numerical gradient is fast here only for the book's"),
    ({"gradient": "numerical", "hidden": [500]}, "cap of 200"),
    ({"gradient": "numerical", "iters": 1}, None),
    ({"paused": "yes"}, "paused must be true or false"),
])
def test_bad_settings_get_a_one_line_message(server, body, words):
    status, answer = call(server, "POST", "/api/runs", {"iters": 1, **body})
    if words is None:
        assert status == 201
        return
    assert status == 400 and words in answer["error"] and "\n" not in answer["error"]


def test_bad_requests_get_messages_not_tracebacks(server):
    assert call(server, "POST", "/api/runs", raw=b"{not json")[1]["error"] == "the request body is not valid JSON"
    assert call(server, "GET", "/api/runs/99")[0] == 404
    assert call(server, "GET", "/api/nothing")[0] == 404
    assert call(server, "GET", "/../../etc/passwd")[0] == 404
    status, body = call(server, "POST", "/api/predict", {"width": 10, "height": 10, "pixels": "AAAA"})
    assert status == 400 and "width x height is 100" in body["error"]
    status, body = call(server, "POST", "/api/predict", {"width": 1000, "height": 10, "pixels": ""})
    assert status == 400 and "cap of 280" in body["error"]
    status, body = call(server, "POST", "/api/runs", raw=b"x" * 10, headers={"Content-Length": str(1 << 24)})
    assert status == 413
    status, body = call(server, "GET", "/api/chapter4/descent?lr=0")
    assert status == 400 and "lr must be a positive" in body["error"]


def test_foreign_host_and_origin_are_refused(server):
    port = server.server_address[1]
    assert call(server, "GET", "/api/runs", headers={"Host": "attacker.example"})[0] == 403  # DNS rebinding
    assert call(server, "GET", "/", headers={"Host": f"attacker.example:{port}"})[0] == 403
    status, body = call(server, "POST", "/api/runs", {"iters": 1}, headers={"Origin": "http://attacker.example"})
    assert status == 403 and "refused" in body["error"]
    assert call(server, "POST", "/api/runs", {"iters": 1}, headers={"Sec-Fetch-Site": "cross-site"})[0] == 403
    assert call(server, "POST", "/api/runs", raw=b"{}", headers={"Content-Type": "text/plain"})[0] == 403
    assert call(server, "GET", "/api/runs", headers={"Origin": f"http://127.0.0.1:{port}",
                                                     "Host": f"localhost:{port}"})[0] == 200


def test_a_drawn_digit_is_prepared_like_mnist_and_classified(server):
    ds = open_dataset("mnist-mini")
    params = init_network()
    x = ds.x_test[:40].astype(np.float32) / 255
    right = np.flatnonzero(np.argmax(predict(params, x), axis=1) == ds.t_test[:40])
    for i in right[:5]:
        status, answer = call(server, "POST", "/api/predict", drawing_of(ds.x_test[i]))
        assert status == 200 and answer["top3"][0]["class"] == ds.t_test[i]
        assert sum(answer["probabilities"]) == pytest.approx(1.0, abs=1e-5)
        assert "pretrained" in answer["network"]
    status, answer = call(server, "POST", "/api/predict", {**drawing_of(ds.x_test[0]), "run": 12345})
    assert status == 404


def test_mnist_like_scales_into_a_20_box_and_centres_the_mass():
    ink = np.zeros((200, 120), np.uint8)
    ink[20:170, 80:100] = 255  # a tall bar, far off-centre
    image = mnist_like(ink)
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    assert rows[-1] - rows[0] + 1 == 20 and cols[-1] - cols[0] + 1 <= 4
    ys, xs = np.indices(image.shape)
    assert abs((ys * image).sum() / image.sum() - 14) <= 0.5 and abs((xs * image).sum() / image.sum() - 14) <= 0.5
    assert not mnist_like(np.zeros((50, 50), np.uint8)).any()


def test_chapter4_paths_follow_the_closed_form(server):
    # on x0² + x1², one step multiplies x by (1 − 2 lr)
    _, d = call(server, "GET", "/api/chapter4/descent?function=bowl&x0=-3&x1=4&lr=0.1&steps=10")
    expected = np.array([-3.0, 4.0]) * 0.8 ** np.arange(11)[:, None]
    assert np.allclose(d["path"], expected, atol=1e-6) and not d["diverged"]
    _, big = call(server, "GET", "/api/chapter4/descent?function=bowl&x0=-3&x1=4&lr=10&steps=100")
    assert big["diverged"]
    _, tiny = call(server, "GET", "/api/chapter4/descent?function=elongated&x0=-3&x1=4&lr=1e-10&steps=100")
    assert np.allclose(tiny["path"][-1], [-3, 4], atol=1e-6)
    _, t = call(server, "GET", "/api/chapter4/tangent?x=5&h=0.01")
    assert t["forward"] - t["exact"] == pytest.approx(0.01 * 0.01, rel=1e-3)  # forward bias: f''/2 · h
    assert abs(t["central"] - t["exact"]) < 1e-10
    _, s = call(server, "GET", "/api/chapter4/surface?function=elongated")
    x0, x1, g0, g1 = s["arrows"][0]
    assert (g0, g1) == pytest.approx((-x0 / 10, -2 * x1), abs=1e-6)


def test_the_event_stream_carries_new_losses(server):
    status, summary = call(server, "POST", "/api/runs", {"iters": 50})
    request = urllib.request.Request(server.url + "api/events")
    seen = 0
    with urllib.request.urlopen(request, timeout=30) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = stream.readline().decode()
            if line.startswith("data: "):
                for run in json.loads(line[6:])["runs"]:
                    if run["id"] == summary["id"]:
                        assert run["loss_from"] == seen
                        seen += len(run["loss"])
                        if run["state"] == "finished" and seen == 50:
                            return
    raise AssertionError(f"the stream carried {seen} of 50 losses")


def test_closing_the_server_stops_its_runs(tmp_path):
    srv = start(0, runs_dir=tmp_path)
    status, summary = call(srv, "POST", "/api/runs", {"iters": 100_000})
    run = srv.playground.registry.get(summary["id"])
    wait_for(srv, summary["id"], lambda h: h["iteration"] > 0)
    srv.close()
    assert not run._thread.is_alive() and run.state == "stopped"


def test_cli_refuses_a_bad_port(server, tmp_path, capsys):
    assert main(["playground", "--port", "70000", "--no-browser"]) == 2
    assert "--port must be in 0..65535" in capsys.readouterr().err
    taken = str(server.server_address[1])
    assert main(["playground", "--port", taken, "--no-browser", "--runs-dir", str(tmp_path)]) == 1
    assert f"cannot listen on 127.0.0.1:{taken}" in capsys.readouterr().err


# --- the page in a real browser -----------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def until(page, expression: str, timeout: float = 20.0) -> None:
    """Poll a JavaScript expression until it is true (page.wait_for_function would eval inside the page,
    which the playground's Content-Security-Policy rightly forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.05)


@pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                    reason="playwright is not installed (pip install '.[dev]')")
@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="no chromium browser (apt-get install chromium)")
def test_the_page_in_a_real_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    srv = start(0, runs_dir=tmp_path)
    errors, foreign = [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_FLAGS)
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: foreign.append(r.url)
                    if not r.url.startswith((srv.url, "data:")) else None)
            page.goto(srv.url + "?lr=0.5&iters=20000&hidden=20")
            assert page.locator("input[name=hidden]").input_value() == "20"  # settings come from the URL

            # Train: the loss chart grows and the weight images change while the run trains
            page.click("#start")
            until(page, "Number(document.getElementById('loss-chart').dataset.points || 0) > 5")
            points = int(page.get_attribute("#loss-chart", "data-points"))
            until(page, "document.getElementById('weights').dataset.signature")
            weights = page.get_attribute("#weights", "data-signature")
            until(page, f"Number(document.getElementById('loss-chart').dataset.points) > {points}")
            until(page, f"document.getElementById('weights').dataset.signature !== {weights!r}")
            assert page.locator("#weights canvas").count() == 20  # one per hidden unit, at most 24
            until(page, "document.querySelectorAll('#confusion td').length === 100")
            page.fill("input[name=lr]", "-3")
            page.click("#start")
            until(page, "document.getElementById('message').textContent.includes('lr must be')")
            errors[:] = [e for e in errors if "status of 400" not in e]  # the refused start, shown in the page
            assert page.locator("#legend li").count() == 1

            # Chapter 4: moving the lr slider changes the descent path
            page.click("#tab-chapter4")
            until(page, "document.getElementById('c4-canvas').dataset.path")
            page.locator("#c4-lr").fill("-2")
            until(page, "document.getElementById('c4-lr-value').textContent === '0.0100'")
            until(page, "JSON.parse(document.getElementById('c4-canvas').dataset.path).length === 21")
            slow = page.get_attribute("#c4-canvas", "data-path")
            page.locator("#c4-lr").fill("-0.5")
            until(page, f"document.getElementById('c4-canvas').dataset.path !== {slow!r} && "
                                   "JSON.parse(document.getElementById('c4-canvas').dataset.path).length === 21")
            fast = json.loads(page.get_attribute("#c4-canvas", "data-path"))
            assert np.linalg.norm(fast[-1]) < np.linalg.norm(json.loads(slow)[-1])  # a larger lr gets closer

            # Draw: a stroke gets three probabilities
            page.click("#tab-draw")
            box = page.locator("#draw-canvas").bounding_box()
            page.mouse.move(box["x"] + 140, box["y"] + 40)
            page.mouse.down()
            page.mouse.move(box["x"] + 135, box["y"] + 240, steps=10)
            page.mouse.up()
            until(page, "document.querySelectorAll('#draw-top3 li').length === 3")
            assert "%" in page.inner_text("#draw-top3")
            browser.close()
    finally:
        srv.close()
    assert not foreign, f"requests left 127.0.0.1: {foreign}"
    assert not errors, errors
