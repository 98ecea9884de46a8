"""Hostile inputs for the tests: gzip and zip bombs built cheaply, and a Python child with a memory cap."""

import json
import os
import struct
import subprocess
import sys
import zlib

MEMORY_CAP = 1 << 30
"""Address space of the capped child: the issue's bound on peak memory."""


def deflate_zeros(total: int, block: int = 16 << 20) -> bytes:
    """A raw deflate stream of ``total`` zero bytes (a multiple of ``block``) without the final block.

    After a full flush the compressor starts afresh, so every block compresses to the same bytes: a
    2 GiB bomb costs one compression of 16 MiB.
    """
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(bytes(block)) + c.flush(zlib.Z_FULL_FLUSH)
    repeat = c.compress(bytes(block)) + c.flush(zlib.Z_FULL_FLUSH)
    return first + repeat * (total // block - 1)


def gzip_bomb(prefix: bytes, inflated: int) -> bytes:
    """A gzip member that inflates to ``prefix`` followed by ``inflated`` zero bytes (and never ends)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + head + deflate_zeros(inflated)


def deflated(data: bytes) -> tuple:
    """``(raw deflate stream, size, CRC-32)`` of ``data``: a member for ``zip_with_members``."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(), len(data), zlib.crc32(data)


def zip_with_members(path, members: dict) -> None:
    """A zip of ``{name: (deflate stream, declared size, CRC-32)}``: the stream is stored as it is, and the
    declared size written as its uncompressed size in the headers, whatever the stream holds."""
    local, central, offset = b"", b"", 0
    for name, (data, declared, crc) in members.items():
        raw_name = name.encode()
        header = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), declared,
                             len(raw_name), 0) + raw_name
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(data), declared,
                               len(raw_name), 0, 0, 0, 0, 0, offset) + raw_name
        local += header + data
        offset += len(header) + len(data)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), offset, 0)
    with open(path, "wb") as f:
        f.write(local + central + end)


def run_capped(code: str, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a child Python whose address space is capped at ``MEMORY_CAP``; ``args`` are
    passed as JSON in ``sys.argv[1]``."""
    prelude = ("import json, resource, sys\n"
               f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_CAP}, {MEMORY_CAP}))\n"
               "ARGS = json.loads(sys.argv[1])\n")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", prelude + code, json.dumps(list(args))], capture_output=True,
                          text=True, timeout=timeout, env=env)
