"""Mini-batch sampling and loading: seeded, complete per epoch, restorable, bounded, memmap-friendly."""

import os

import numpy as np
import pytest

import nnlearn as nl
from nnlearn import write_idx
from nnlearn.data import blockio
from nnlearn.data.largedata import make_large, shifted
from nnlearn.data.pixels import pixels_to_float


def draw(sampler, k):
    return [next(sampler).copy() for _ in range(k)]


@pytest.mark.parametrize("sampling", ["choice", "shuffle"])
def test_same_seed_same_batches(sampling):
    a = draw(nl.BatchSampler(1000, 32, sampling, seed=5), 50)
    b = draw(nl.BatchSampler(1000, 32, sampling, rng=np.random.default_rng(5)), 50)
    c = draw(nl.BatchSampler(1000, 32, sampling, seed=6), 50)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_choice_is_the_books_rng_choice():
    sampler = nl.BatchSampler(60000, 100, "choice", seed=0)
    expected = np.random.default_rng(0).choice(60000, 100)
    np.testing.assert_array_equal(next(sampler), expected)


def test_shuffle_covers_every_index_once_per_epoch():
    sampler = nl.BatchSampler(100, 10, "shuffle", seed=1)
    for _ in range(3):
        epoch = np.concatenate(draw(sampler, 10))
        np.testing.assert_array_equal(np.sort(epoch), np.arange(100))
    # with a remainder, the leftover samples wait for the next permutation
    sampler = nl.BatchSampler(105, 10, "shuffle", seed=1)
    epoch = np.concatenate(draw(sampler, 10))
    assert len(np.unique(epoch)) == 100


@pytest.mark.parametrize("sampling", ["choice", "shuffle", "blocks"])
@pytest.mark.parametrize("stop_at", [0, 3, 10, 17])
def test_state_restore_continues_identically(sampling, stop_at):
    ref = draw(nl.BatchSampler(95, 10, sampling, seed=2, block_rows=20), 30)
    first = nl.BatchSampler(95, 10, sampling, seed=2, block_rows=20)
    draw(first, stop_at)
    import json
    state = json.loads(json.dumps(first.state()))  # a checkpoint stores it as JSON
    second = nl.BatchSampler(95, 10, sampling, seed=999, block_rows=20)
    second.restore(state)
    rest = draw(second, 30 - stop_at)
    assert all(np.array_equal(a, b) for a, b in zip(ref[stop_at:], rest, strict=True))


def test_sampler_bad_arguments():
    with pytest.raises(ValueError, match="sampling must be .choice., .shuffle. or .blocks."):
        nl.BatchSampler(10, 2, "random")
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        nl.BatchSampler(10, 0)
    with pytest.raises(ValueError, match="larger than the 10 samples"):
        nl.BatchSampler(10, 20, "shuffle")


def test_loader_converts_uint8_per_batch_and_reuses_buffer():
    x = np.arange(5 * 4, dtype=np.uint8).reshape(5, 4) * 10
    t = np.arange(5, dtype=np.uint8)
    loader = nl.BatchLoader(x, t, 3, np.float32)
    xb, tb = loader(np.array([4, 0, 4]))
    assert xb.dtype == np.float32
    np.testing.assert_array_equal(xb, x[[4, 0, 4]] / np.float32(255))
    assert tb.tolist() == [4, 0, 4]
    xb2, _ = loader(np.array([1, 1, 1]))
    assert np.shares_memory(xb, xb2)
    floats = np.random.default_rng(0).random((5, 4))
    np.testing.assert_array_equal(nl.BatchLoader(floats, t, 2)(np.array([2, 3]))[0], floats[[2, 3]])


def test_loader_on_memmap_releases_pages(tmp_path, monkeypatch):
    monkeypatch.setattr(blockio, "RELEASE_ABOVE_BYTES", 0)  # as if the file were large
    images = np.random.default_rng(0).integers(0, 256, (2000, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "x", images)
    mm = nl.read_idx(tmp_path / "x", mmap=True)
    loader = nl.BatchLoader(mm, np.zeros(2000), 100, release_rows=250)
    rng = np.random.default_rng(1)
    for _ in range(20):
        idx = rng.integers(0, 2000, 100)
        np.testing.assert_array_equal(loader(idx)[0], images[idx].reshape(100, -1) / np.float32(255))
    assert loader._mapping is not None and 0 < loader._rows_since_release < 250  # 2000 rows: 8 releases


def test_iter_chunks_cover_dataset():
    x = np.arange(25, dtype=np.uint8).reshape(25, 1)
    chunks = [(a.copy(), b.copy()) for a, b in nl.iter_chunks(x, np.arange(25), chunk=10)]
    assert [len(b) for _, b in chunks] == [10, 10, 5]
    np.testing.assert_allclose(np.concatenate([a for a, _ in chunks])[:, 0], np.arange(25) / 255)


def test_iter_chunks_of_floats_in_memory_are_views_not_copies():
    x = np.random.default_rng(0).random((25, 3))
    chunks = list(nl.iter_chunks(x, np.arange(25), chunk=10, dtype=np.float64))
    assert all(np.shares_memory(c, x) for c, _ in chunks)
    np.testing.assert_array_equal(np.concatenate([c for c, _ in chunks]), x)


def test_shifted_moves_pixels():
    img = np.zeros((1, 28, 28), np.uint8)
    img[0, 10, 10] = 200
    out = shifted(img, np.array([2]), np.array([-1]))
    assert out[0, 12, 9] == 200 and out.sum() == 200


def test_make_large_streams_real_digits(tmp_path):
    out = make_large(tmp_path / "big", 2500, seed=3, chunk=1000)
    (x, t), (xt, tt) = nl.load_mnist(normalize=False, dataset=str(out))
    assert x.shape == (2500, 784) and isinstance(x, np.memmap) and xt.shape == (2000, 784)
    (mx, mt), _ = nl.load_mnist(normalize=False, dataset="mnist-mini")
    # every image is a mini training digit moved by at most 2 pixels: its total ink is preserved unless cut off
    assert set(np.unique(t)) <= set(range(10))
    ink = x.astype(np.int64).sum(axis=1)
    assert np.isin(ink, mx.astype(np.int64).sum(axis=1)).mean() > 0.9
    again = make_large(tmp_path / "again", 2500, seed=3, chunk=700)
    assert (again / "train-images-idx3-ubyte").read_bytes() != b""
    x2 = nl.read_idx(again / "train-images-idx3-ubyte")
    assert x2.shape == (2500, 28, 28)


def test_make_large_is_reproducible(tmp_path):
    a = make_large(tmp_path / "a", 300, seed=1)
    b = make_large(tmp_path / "b", 300, seed=1)
    assert (a / "train-images-idx3-ubyte").read_bytes() == (b / "train-images-idx3-ubyte").read_bytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loader_matches_load_mnist_normalization_bitwise(dtype):
    (xf, _), _ = nl.load_mnist(dataset="mnist-mini")
    (xu, t), _ = nl.load_mnist(normalize=False, dataset="mnist-mini")
    idx = np.arange(0, 8000, 37)
    xb, _ = nl.BatchLoader(xu, t, len(idx), dtype)(idx)
    np.testing.assert_array_equal(xb, xf[idx].astype(dtype))


def test_pixels_to_float_is_float32_division_by_255_for_every_pixel_value():
    v = np.arange(256, dtype=np.uint8)
    by_ufunc = np.divide(v, np.float32(255), dtype=np.float32)  # numpy's own cast-and-divide
    for got in (pixels_to_float(v), pixels_to_float(v, out=np.empty(256, np.float32))):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, by_ufunc)
    np.testing.assert_allclose(pixels_to_float(v), np.arange(256) / 255, rtol=1e-7)
    x = v.reshape(16, 16)
    pixels_to_float(x)
    np.testing.assert_array_equal(x, v.reshape(16, 16))  # the input is left alone


def test_blocks_sampling_covers_every_index_in_block_runs():
    sampler = nl.BatchSampler(1000, 10, "blocks", seed=3, block_rows=128)
    for _ in range(2):
        epoch = np.concatenate(draw(sampler, 100))
        np.testing.assert_array_equal(np.sort(epoch), np.arange(1000))
        # consecutive samples come from the same block except at the 8 block boundaries
        assert np.count_nonzero(np.diff(epoch // 128)) == 7


def test_blocks_reader_matches_plain_indexing(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (1000, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "x", images)
    mm = nl.read_idx(tmp_path / "x", mmap=True).reshape(1000, -1)
    sampler = nl.BatchSampler(1000, 30, "blocks", seed=1, block_rows=128)
    loader = nl.BatchLoader(mm, np.arange(1000), 30, np.float32, sampler=sampler)
    assert loader._blocks is not None
    for _ in range(80):  # more than two epochs, batches straddling blocks included
        idx = next(sampler)
        xb, tb = loader(idx)
        np.testing.assert_array_equal(xb, images.reshape(1000, -1)[idx] / np.float32(255))
        np.testing.assert_array_equal(tb, idx)


def test_blocks_training_equals_in_memory_training(tmp_path):
    """Reading blocks from disk changes where bytes come from, not the result."""
    out = make_large(tmp_path / "big", 3000, seed=0)
    (x_disk, t), _ = nl.load_mnist(normalize=False, dataset=str(out))
    a = nl.TwoLayerNet(784, 10, 10, seed=0)
    b = nl.TwoLayerNet(784, 10, 10, seed=0)
    nl.fit(a, x_disk, t, iters=120, sampling="blocks", eval_every=None)
    nl.fit(b, np.array(x_disk), np.array(t), iters=120, sampling="blocks", eval_every=None)
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])


def _blocks_loader(tmp_path, n=1000, block_rows=128, batch=30):
    images = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "x", images)
    mm = nl.read_idx(tmp_path / "x", mmap=True).reshape(n, -1)
    sampler = nl.BatchSampler(n, batch, "blocks", seed=1, block_rows=block_rows)
    return images.reshape(n, -1), sampler, nl.BatchLoader(mm, np.arange(n), batch, np.float32, sampler=sampler)


def _check_batches(images, sampler, loader, count=80):
    for _ in range(count):
        idx = next(sampler)
        xb, _ = loader(idx)
        np.testing.assert_array_equal(xb, images[idx] / np.float32(255))


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="no O_DIRECT on this system")
def test_blocks_reader_uses_o_direct_where_the_filesystem_allows(tmp_path):
    images, sampler, loader = _blocks_loader(tmp_path)
    reader = loader._blocks.file
    if reader.direct_fd is None:
        pytest.skip(f"{tmp_path} refuses O_DIRECT")
    _check_batches(images, sampler, loader)
    assert reader.direct  # every read went through O_DIRECT, the 16-byte IDX header notwithstanding


def test_blocks_reader_falls_back_when_o_direct_is_refused(tmp_path, monkeypatch):
    images, sampler, loader = _blocks_loader(tmp_path)
    reader = loader._blocks.file
    real = os.preadv

    def refuse_direct(fd, buffers, offset):
        if fd == reader.direct_fd:
            raise OSError(22, "Invalid argument")
        return real(fd, buffers, offset)

    if reader.direct_fd is None:
        pytest.skip("no O_DIRECT here: the buffered path is the only one")
    monkeypatch.setattr(os, "preadv", refuse_direct)
    _check_batches(images, sampler, loader)
    assert not reader.direct


def test_blocks_reader_reads_ahead_at_most_depth_blocks(tmp_path):
    images, sampler, loader = _blocks_loader(tmp_path, n=2000, block_rows=100, batch=25)
    reader = loader._blocks
    for _ in range(30):
        loader(next(sampler))
        assert len(reader.pending) <= 2
        assert len(reader.pending) + len(reader.free) + 1 == 3  # three buffers, none lost
    _check_batches(images, sampler, loader)


def test_dropping_a_blocks_loader_mid_read_ahead_closes_cleanly(tmp_path, monkeypatch):
    import gc
    import sys
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    fds_before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for _ in range(20):
        _, sampler, loader = _blocks_loader(tmp_path, n=2000, block_rows=100, batch=25)
        loader(next(sampler))  # leaves two reads queued on the read-ahead thread
        del loader, sampler
        gc.collect()
    assert unraisable == []
    if fds_before is not None:
        assert len(os.listdir("/proc/self/fd")) == fds_before


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_iter_chunks_reads_a_large_file_in_chunks(tmp_path, monkeypatch, dtype):
    """Above RELEASE_ABOVE_BYTES a memory-mapped file is read chunk by chunk (set to 0 here to test it)."""
    images = np.random.default_rng(5).integers(0, 256, (1000, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "x", images)
    mm = nl.read_idx(tmp_path / "x", mmap=True)
    t = np.arange(1000) % 10
    monkeypatch.setattr(blockio, "RELEASE_ABOVE_BYTES", 0)
    seen = 0
    for xb, tb in nl.iter_chunks(mm, t, chunk=128, dtype=dtype):  # 7 full chunks and one of 104
        np.testing.assert_array_equal(xb, (images.reshape(1000, -1)[seen:seen + len(xb)] / np.float32(255))
                                      .astype(dtype))
        np.testing.assert_array_equal(tb, t[seen:seen + len(xb)])
        seen += len(xb)
    assert seen == 1000
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    chunks = nl.iter_chunks(mm, t, chunk=128, dtype=dtype)
    next(chunks)
    chunks.close()  # abandoned after one chunk, with the next read in flight
    if fds is not None:
        assert len(os.listdir("/proc/self/fd")) == fds


def test_file_reads_of_a_sliced_memmap_start_where_the_slice_does(tmp_path, monkeypatch):
    """numpy keeps the parent's ``offset`` on ``mm[100:]``; reading the file must not trust it."""
    images = np.random.default_rng(6).integers(0, 256, (1000, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "x", images)
    part = nl.read_idx(tmp_path / "x", mmap=True).reshape(1000, -1)[100:]
    flat = images.reshape(1000, -1)[100:]
    monkeypatch.setattr(blockio, "RELEASE_ABOVE_BYTES", 0)
    xb, _ = next(nl.iter_chunks(part, np.arange(900), chunk=50, dtype=np.float32))
    np.testing.assert_array_equal(xb, flat[:50] / np.float32(255))
    sampler = nl.BatchSampler(900, 30, "blocks", seed=1, block_rows=128)
    loader = nl.BatchLoader(part, np.arange(900), 30, np.float32, sampler=sampler)
    assert loader._blocks is not None
    _check_batches(flat, sampler, loader, count=40)


def test_block_after_the_last_is_the_next_epochs_first():
    """Read-ahead crosses epochs: the peek at the next epoch's order neither changes nor misses it."""
    sampler = nl.BatchSampler(1000, 10, "blocks", seed=4, block_rows=128)
    reference = nl.BatchSampler(1000, 10, "blocks", seed=4, block_rows=128)
    for _ in range(3):
        next(sampler)
        last = int(sampler.block_order[-1])
        peeked = sampler.block_after(last)
        for _ in range(99):  # to the end of the epoch
            next(sampler)
        next(sampler)  # the next epoch begins
        assert peeked == int(sampler.block_order[0]) or (peeked is None and sampler.block_order[0] == last)
    np.testing.assert_array_equal(np.concatenate(draw(sampler, 10)), np.concatenate(
        [next(reference) for _ in range(313)][-10:]))  # 3 x 101 batches drawn above, then 10
    one_block = nl.BatchSampler(100, 10, "blocks", seed=0, block_rows=128)
    next(one_block)
    assert one_block.block_after(0) is None  # the only block: already in hand


# --- a mapped file that changes underfoot --------------------------------------------------------------

TRUNCATE_CHILD = """
import json, os, sys
import numpy as np
import nnlearn as nl
from nnlearn.data import blockio
from nnlearn.data.pixels import pixels_to_float
path, large, how = json.loads(sys.argv[1])
if large:
    blockio.RELEASE_ABOVE_BYTES = 0  # as if the file were larger than memory: batches read through the mapping
mm = nl.read_idx(path, mmap=True).reshape(3000, -1)
loader = nl.BatchLoader(mm, np.zeros(3000, np.uint8), 100, np.float32)
loader(np.arange(100))
if how == "truncate":
    os.truncate(path, 1000)
else:  # what `cp other path` does: the same file, emptied and written again
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[::-1])
for call in (lambda: loader(np.arange(2900, 3000)), lambda: list(nl.iter_chunks(mm, np.zeros(3000), 500))):
    try:
        call()
        print("read")
    except nl.NnlearnError as exc:
        print(type(exc).__name__, exc)
"""


@pytest.mark.parametrize("large", [False, True])
@pytest.mark.parametrize("how", ["truncate", "rewrite"])
def test_mapped_file_changed_underfoot_is_an_error_not_sigbus(tmp_path, large, how):
    import json
    import subprocess
    import sys

    path = tmp_path / "train-images-idx3-ubyte"
    write_idx(path, np.random.default_rng(0).integers(0, 256, (3000, 28, 28), dtype=np.uint8))
    result = subprocess.run([sys.executable, "-c", TRUNCATE_CHILD, json.dumps([str(path), large, how])],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-1500:]}"
    lines = result.stdout.splitlines()
    # training batches come from memory when the file is small (nothing to notice); never from a changed file
    assert lines[0] == "read" if not large else lines[0].startswith("DatasetChangedError")
    assert lines[1].startswith("DatasetChangedError") and str(path) in lines[1]
    assert isinstance(nl.DatasetChangedError("x"), OSError)
