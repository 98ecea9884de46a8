"""Pictures for ``nnlearn predict``: any format Pillow reads, each change reported, bombs refused."""

import numpy as np
import pytest
from PIL import Image

import nnlearn as nl
from nnlearn.data.images import MAX_IMAGE_PIXELS, load_images


def digit(size=28, ink=255, paper=0):
    """A vertical bar, like a 1, of ``ink`` on ``paper``."""
    a = np.full((size, size), paper, np.uint8)
    a[size // 5: -size // 5, size // 2 - size // 14: size // 2 + size // 14] = ink
    return a


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".gif", ".tiff", ".webp"])
def test_any_pillow_format_is_read(tmp_path, suffix):
    path = tmp_path / f"one{suffix}"
    Image.fromarray(digit()).save(path)
    notes = []
    rows = load_images(path, notes=notes)
    assert rows.shape == (1, 784) and rows.dtype == np.float32
    # JPEG and WebP are lossy: the bar is still there, bright on dark
    assert rows.reshape(28, 28)[14, 14] > 0.8 and rows.reshape(28, 28)[2, 2] < 0.2
    assert notes == []


def test_changes_are_reported(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.fromarray(np.stack([digit(280, ink=20, paper=240)] * 3, axis=-1)).save(path)
    notes = []
    rows = load_images(path, notes=notes).reshape(28, 28)
    assert notes == ["resized 280x280 to 28x28",
                     "inverted (dark ink on a light background; MNIST digits are white on black)"]
    assert rows[14, 14] > 0.8 and rows[2, 2] < 0.1


def test_transparent_background_is_paper(tmp_path):
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = 255 - digit(paper=255, ink=0)  # black ink, transparent elsewhere
    Image.fromarray(rgba, "RGBA").save(tmp_path / "ink.png")
    notes = []
    rows = load_images(tmp_path / "ink.png", notes=notes).reshape(28, 28)
    assert "transparent areas made white" in notes and rows[14, 14] > 0.9 and rows[2, 2] < 0.1


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    side = int(MAX_IMAGE_PIXELS ** 0.5) + 100
    path = tmp_path / "bomb.png"
    Image.new("1", (side, side)).save(path)  # a few kB on disk
    assert path.stat().st_size < 200_000
    with pytest.raises(nl.ResourceLimitError, match=f"{side}x{side} picture .* may be a decompression bomb"):
        load_images(path)


@pytest.mark.parametrize(("content", "message"), [
    (b"GIF89a\x00\x00", "not a picture nnlearn can read|truncated or corrupt picture"),
    (b"hello, world", "not a picture nnlearn can read"),
])
def test_unreadable_pictures_are_one_line(tmp_path, content, message):
    (tmp_path / "bad").write_bytes(content)
    with pytest.raises(nl.InputError, match=message) as err:
        load_images(tmp_path / "bad")
    assert "\n" not in str(err.value)


def test_truncated_png_is_one_line(tmp_path):
    Image.fromarray(digit(280)).save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:len(data) // 2])
    with pytest.raises(nl.InputError, match="truncated or corrupt picture"):
        load_images(tmp_path / "cut.png")


def test_arrays_with_nan_are_refused(tmp_path):
    a = np.zeros((2, 784))
    a[1, 3] = np.nan
    np.save(tmp_path / "x.npy", a)
    with pytest.raises(nl.InputError, match="NaN"):
        load_images(tmp_path / "x.npy")
