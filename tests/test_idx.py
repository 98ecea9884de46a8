"""IDX files: byte-exact round trips of every type, and a clear error for every kind of corruption."""

import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from nnlearn import read_idx, write_idx

TYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(TYPES).flatmap(
    lambda dt: arrays(dt, array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))),
    st.booleans())
def test_round_trip_every_type(tmp_path_factory, arr, compressed):
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if compressed else "a.idx")
    write_idx(path, arr)
    back = read_idx(path)
    assert back.dtype == arr.dtype.newbyteorder("=") and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_write_is_standard_idx_bytes(tmp_path):
    """The header and big-endian payload, written out by hand from the format's definition."""
    arr = np.array([[1, -2, 3], [4, 5, -6]], dtype=np.int16)
    write_idx(tmp_path / "a", arr)
    expected = bytes([0, 0, 0x0B, 2]) + struct.pack(">II", 2, 3) + struct.pack(">6h", 1, -2, 3, 4, 5, -6)
    assert (tmp_path / "a").read_bytes() == expected
    write_idx(tmp_path / "a.gz", arr)
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == expected


def test_gzip_detected_by_content_not_name(tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "x.gz", arr)
    (tmp_path / "x.gz").rename(tmp_path / "no-suffix")
    np.testing.assert_array_equal(read_idx(tmp_path / "no-suffix"), arr)


def test_mmap_returns_readonly_memmap_without_reading(tmp_path, monkeypatch):
    arr = np.arange(6 * 784, dtype=np.uint8).reshape(6, 28, 28)
    write_idx(tmp_path / "a", arr)
    import pathlib
    monkeypatch.setattr(pathlib.Path, "read_bytes", lambda self: pytest.fail("payload was read"))
    mm = read_idx(tmp_path / "a", mmap=True)
    assert isinstance(mm, np.memmap) and not mm.flags.writeable
    np.testing.assert_array_equal(mm, arr)


def test_mmap_of_gzip_explains(tmp_path):
    write_idx(tmp_path / "a.gz", np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="gzip-compressed and cannot be memory-mapped; decompress it first"):
        read_idx(tmp_path / "a.gz", mmap=True)


GOOD = bytes([0, 0, 8, 1]) + struct.pack(">I", 3) + b"\x01\x02\x03"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\x00\x00", "too short"),
        (b"\x01\x02\x08\x01" + b"\x00" * 8, "bad magic number"),
        (b"<html><body>404 Not Found</body></html>", "looks like a text file"),
        (bytes([0, 0, 0x0A, 1]) + b"\x00" * 8, "unknown IDX type code 0x0a"),
        (bytes([0, 0, 8, 0]), "zero dimensions"),
        (bytes([0, 0, 8, 3]) + b"\x00\x00\x00\x01", "header is short"),
        (GOOD[:-1], "truncated"),
        (bytes([0, 0, 8, 1]) + struct.pack(">I", 4_000_000_000) + b"\x01", "declares shape (4000000000,)"),
        (GOOD + b"\x00\x00", "2 trailing bytes"),
        (gzip.compress(GOOD)[:-6], "truncated or corrupt gzip"),
    ],
)
def test_corrupt_files_name_the_file_and_problem(tmp_path, content, message):
    path = tmp_path / "bad-file"
    path.write_bytes(content)
    for mmap in (False, True):
        if mmap and content[:2] == b"\x1f\x8b":
            continue
        with pytest.raises(ValueError) as err:
            read_idx(path, mmap=mmap)
        assert message in str(err.value) and "bad-file" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="cannot open IDX file"):
        read_idx(tmp_path / "nope")


def test_write_rejects_unstorable(tmp_path):
    with pytest.raises(ValueError, match="IDX cannot store dtype complex128"):
        write_idx(tmp_path / "a", np.zeros(2, complex))
    with pytest.raises(ValueError, match="1 to 255 dimensions"):
        write_idx(tmp_path / "a", np.float32(1.0))
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


# --- hostile gzip files --------------------------------------------------------------------------------


def test_gzip_bomb_is_refused_in_bounded_memory(tmp_path):
    """A header that declares 60,000 images followed by 2 GiB of zeros: refused one byte past the
    declared 47 MB, in a process that may not use more than 1 GiB."""
    from hostile import gzip_bomb, run_capped

    header = bytes([0, 0, 8, 3]) + struct.pack(">III", 60000, 28, 28)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip_bomb(header, 2 << 30))
    result = run_capped("import nnlearn\n"
                        "try:\n"
                        "    nnlearn.read_idx(ARGS[0])\n"
                        "except nnlearn.ResourceLimitError as exc:\n"
                        "    print('refused:', exc)\n", str(path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused:" in result.stdout and "more than the 47,040,016 bytes its IDX header declares" in result.stdout


def test_gzip_declaring_more_than_the_limit_is_refused_before_reading(tmp_path):
    from nnlearn.data.idx import GUNZIP_LIMIT

    path = tmp_path / "huge.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">III", 4_000_000_000, 28, 28)))
    with pytest.raises(ValueError, match=f"more than the {GUNZIP_LIMIT:,} nnlearn decompresses") as err:
        read_idx(path)
    assert "gunzip -k huge.gz" in str(err.value)


def test_gzip_shorter_than_its_header_is_truncated(tmp_path):
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + bytes(4)))
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)
