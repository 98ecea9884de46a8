"""Weights files: no pickle, validated names, shapes and dtypes, atomic writes."""

import json
import zipfile

import numpy as np
import pytest

import nnlearn as nl
from nnlearn.inference import init_network, predict


def params(seed=0):
    return nl.TwoLayerNet(6, 4, 3, weight_init_std=1.0, seed=seed).params


def test_round_trip_and_plain_numpy_load(tmp_path):
    path = nl.save_weights(tmp_path / "w.npz", params(), {"dataset": "mnist-mini", "sizes": [6, 4, 3]})
    loaded, meta = nl.load_weights(path)
    for key, value in params().items():
        np.testing.assert_array_equal(loaded[key], value)
    assert meta == {"dataset": "mnist-mini", "sizes": [6, 4, 3]}
    with np.load(path, allow_pickle=False) as z:
        assert json.loads(z["meta"].item())["dataset"] == "mnist-mini"
        assert set(z.files) == {"W1", "b1", "W2", "b2", "meta"}


def test_pickled_object_arrays_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, W1=np.array([object()], dtype=object), b1=np.zeros(1))
    with pytest.raises(ValueError, match="not a readable .npz weights file"):
        nl.load_weights(path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.pop("b2"), "no gaps"),
        (lambda p: p.update(W2=np.zeros((5, 3))), "W2 takes 5 inputs but layer 1 has 4 units"),
        (lambda p: p.update(b1=np.zeros(7)), "W1 (6, 4) and b1 (7,) do not fit"),
        (lambda p: p.update(W1=np.zeros((6, 4), dtype=np.int32)), "W1 has dtype int32"),
        (lambda p: p.update(extra=np.zeros(3)), "unexpected entries ['extra']"),
        (lambda p: p["W1"].__setitem__((0, 0), np.nan), "W1 contains NaN"),
    ],
)
def test_bad_params_are_named(tmp_path, mutate, message):
    p = params()
    mutate(p)
    arrays = {k: v for k, v in p.items()}
    np.savez(tmp_path / "w.npz", **arrays)
    with pytest.raises(ValueError) as err:
        nl.load_weights(tmp_path / "w.npz")
    assert message in str(err.value)
    with pytest.raises(ValueError):
        nl.save_weights(tmp_path / "out.npz", p)
    assert not (tmp_path / "out.npz").exists()


def test_corrupt_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        nl.load_weights(tmp_path / "nope.npz")
    good = nl.save_weights(tmp_path / "w.npz", params())
    (tmp_path / "cut.npz").write_bytes(good.read_bytes()[:-40])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        nl.load_weights(tmp_path / "cut.npz")
    with zipfile.ZipFile(tmp_path / "meta.npz", "w") as z:
        z.writestr("W1.npy", b"")
    with pytest.raises(ValueError):
        nl.load_weights(tmp_path / "meta.npz")


def test_save_is_atomic_when_interrupted(tmp_path, monkeypatch):
    path = nl.save_weights(tmp_path / "w.npz", params(0))
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        nl.save_weights(path, params(1))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]


def test_init_network_is_chapter_3s_network():
    network = init_network()
    assert [network[k].shape for k in ("W1", "b1", "W2", "b2", "W3", "b3")] == [
        (784, 50), (50,), (50, 100), (100,), (100, 10), (10,)]
    _, (x, t) = nl.load_mnist(dataset="mnist-mini")
    accuracy = np.mean(predict(network, x).argmax(axis=1) == t)
    assert accuracy >= 0.93  # the README states 0.9345; the book's sample_weight.pkl gets 0.9352 on MNIST
    y = predict(network, x[:3])
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-6)
    with pytest.raises(ValueError, match="x has 100 features but W1 takes 784"):
        predict(network, np.zeros((1, 100)))


# --- hostile archives -----------------------------------------------------------------------------------


def npy_bytes(array) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_header(shape, descr="<f8") -> bytes:
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def zip_bomb(path, meta, shape):
    """W1 of ``shape`` in float64 (about 1.9 GB of zeros, declared consistently in the zip and .npy
    headers, 2 MB on disk) beside a valid b1 and metadata."""
    from hostile import deflate_zeros, deflated, zip_with_members

    header = npy_header(shape)
    c = __import__("zlib").compressobj(9, 8, -15)
    stream = c.compress(header) + c.flush(2) + deflate_zeros(2 << 30)  # 2 = Z_SYNC_FLUSH
    declared = len(header) + int(np.prod(shape)) * 8
    members = {"W1.npy": (stream, declared, 0), "b1.npy": deflated(npy_bytes(np.zeros(shape[1])))}
    if meta is not None:
        members["meta.npy"] = deflated(npy_bytes(np.array(json.dumps(meta))))
    zip_with_members(path, members)


@pytest.mark.parametrize(("meta", "message"), [
    ({"sizes": [784, 10]}, "W1 has shape (784, 300000) but the metadata's layer sizes give (784, 10)"),
    ({"architecture": {"input_size": 784, "hidden_size_list": [], "output_size": 10}}, "give (784, 10)"),
    (None, "declares more than 1,073,741,824 bytes of arrays"),
])
def test_zip_bomb_is_refused_before_inflating(tmp_path, meta, message):
    from hostile import run_capped

    path = tmp_path / "bomb.npz"
    zip_bomb(path, meta, (784, 300000))
    result = run_capped("import nnlearn\n"
                        "try:\n"
                        "    nnlearn.load_weights(ARGS[0])\n"
                        "except nnlearn.InputError as exc:\n"
                        "    print('refused:', exc)\n", str(path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused:" in result.stdout and message in result.stdout


def test_npy_header_that_disagrees_with_the_zip_is_refused(tmp_path):
    """A .npy header declaring 8 TB in a 100-byte member: numpy would allocate what the header says."""
    from hostile import deflated, zip_with_members

    zip_with_members(tmp_path / "w.npz", {"W1.npy": deflated(npy_header((1_000_000, 1_000_000)) + bytes(16)),
                                          "b1.npy": deflated(npy_bytes(np.zeros(3)))})
    with pytest.raises(nl.ResourceLimitError, match=r"declares shape \(1000000, 1000000\) of float64"):
        nl.load_weights(tmp_path / "w.npz")


def test_entry_the_metadata_does_not_name_is_refused(tmp_path):
    p = params()
    nl.save_weights(tmp_path / "w.npz", p, {"sizes": [6, 4]})
    with pytest.raises(nl.InputError, match="entry 'W2' that its metadata's layer sizes do not name"):
        nl.load_weights(tmp_path / "w.npz")
