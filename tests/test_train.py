"""fit(): it learns, it is the book's step exactly, it stops on NaN, it resumes bit for bit."""

import json

import numpy as np
import pytest
from book_reference import backprop

import nnlearn as nl
from nnlearn.train import CheckpointError, read_checkpoint


def blobs(n=600, seed=0):
    """Three Gaussian clusters in 4-D: a problem a two-layer net must solve almost perfectly."""
    rng = np.random.default_rng(seed)
    centres = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], dtype=float)
    t = rng.integers(0, 3, n)
    return centres[t] + rng.normal(size=(n, 4)), t


def test_fit_learns_blobs():
    x, t = blobs()
    xt, tt = blobs(300, seed=1)
    net = nl.TwoLayerNet(4, 10, 3, weight_init_std=0.5, seed=0)
    history = nl.fit(net, x, t, x_test=xt, t_test=tt, iters=1500, batch_size=32, lr=0.5)
    assert history.test_acc[-1] >= 0.95
    assert np.mean(history.loss[-100:]) < np.mean(history.loss[:100]) / 3
    assert len(history.loss) == 1500
    assert history.epoch_iteration[:3] == [18, 36, 54]  # 600 // 32 = 18 iterations an epoch
    assert history.train_acc_list is history.train_acc


def test_default_recipe_on_mnist_mini():
    (x, t), (xt, tt) = nl.load_mnist(normalize=False, dataset="mnist-mini")
    net = nl.TwoLayerNet(784, 50, 10, seed=0, dtype=np.float32)
    history = nl.fit(net, x, t, x_test=xt, t_test=tt, iters=10000, seed=0)
    assert history.test_acc[-1] >= 0.92
    assert len(history.epoch) == 10000 // 80


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sampling", ["choice", "shuffle"])
def test_fast_step_equals_reference_step(dtype, sampling):
    """The fused training step computes exactly what backprop + 'W -= lr * grad' computes."""
    (x, t), _ = nl.load_mnist(normalize=False, dataset="mnist-mini")
    net = nl.TwoLayerNet(784, 30, 10, seed=1, dtype=dtype)
    ref = nl.TwoLayerNet.from_params(net.params)
    history = nl.fit(net, x, t, iters=7, batch_size=50, lr=0.3, seed=4, sampling=sampling, eval_every=None)
    sampler = nl.BatchSampler(8000, 50, sampling, seed=4)
    x_float = x / np.float32(255)
    losses = []
    for _ in range(7):
        batch_mask = next(sampler)
        xb, tb = x_float[batch_mask].astype(dtype), t[batch_mask].astype(np.intp)
        losses.append(ref.loss(xb, tb))
        grads = backprop(ref.params, xb, tb)
        for key in grads:
            ref.params[key] -= 0.3 * grads[key]
    for key in ref.params:
        np.testing.assert_array_equal(net.params[key], ref.params[key])
    np.testing.assert_allclose(history.loss, losses, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_numerical_gradient_training_matches_backprop_training():
    x, t = blobs(200)
    a = nl.TwoLayerNet(4, 6, 3, weight_init_std=0.5, seed=0)
    b = nl.TwoLayerNet(4, 6, 3, weight_init_std=0.5, seed=0)
    nl.fit(a, x, t, iters=20, batch_size=20, lr=0.5, eval_every=None)
    nl.fit(b, x, t, iters=20, batch_size=20, lr=0.5, gradient="numerical", eval_every=None)
    for key in a.params:
        np.testing.assert_allclose(a.params[key], b.params[key], atol=1e-6)


def test_nan_stops_with_iteration_and_advice():
    x, t = blobs()
    net = nl.TwoLayerNet(4, 10, 3, weight_init_std=0.5, seed=0)
    net.params["W2"][0, 0] = 1e308
    with pytest.raises(nl.TrainingDivergedError) as err:
        nl.fit(net, x, t, iters=50, batch_size=10, lr=1e6)
    message = str(err.value)
    assert "at iteration" in message and "try lr=" in message
    assert err.value.history.loss and not np.isfinite(err.value.history.loss[-1])


def test_callbacks_receive_records_and_can_stop():
    x, t = blobs()
    seen = []

    def stop_after_two(record):
        seen.append(record)
        return len(seen) == 2

    history = nl.fit(nl.TwoLayerNet(4, 5, 3, seed=0), x, t, iters=1000, batch_size=60, callbacks=[stop_after_two])
    assert len(seen) == 2 and seen[1]["epoch"] == 2 and seen[1]["epoch_iteration"] == 20
    assert len(history.loss) == 20 and seen[0]["history"] is history


def test_resume_in_process_is_bit_exact(tmp_path):
    x, t = blobs()
    full = nl.TwoLayerNet(4, 8, 3, weight_init_std=0.3, seed=2)
    nl.fit(full, x, t, iters=100, batch_size=30, sampling="shuffle", seed=3)
    part = nl.TwoLayerNet(4, 8, 3, weight_init_std=0.3, seed=2)
    ckpt = tmp_path / "ckpt.npz"
    nl.fit(part, x, t, iters=100, batch_size=30, sampling="shuffle", seed=3, checkpoint=ckpt,
           callbacks=[lambda r: r["epoch"] == 3])
    resumed = nl.TwoLayerNet(4, 8, 3, weight_init_std=0.3, seed=99)
    history = nl.fit(resumed, x, t, iters=100, batch_size=30, sampling="shuffle", seed=3, resume=ckpt)
    for key in full.params:
        np.testing.assert_array_equal(resumed.params[key], full.params[key])
    assert len(history.loss) == 100 and history.epoch[0] == 1


def test_resume_errors(tmp_path):
    x, t = blobs()
    net = nl.TwoLayerNet(4, 8, 3, seed=0)
    ckpt = tmp_path / "c.npz"
    nl.fit(net, x, t, iters=40, batch_size=30, checkpoint=ckpt)
    with pytest.raises(CheckpointError, match="finished run"):
        nl.fit(nl.TwoLayerNet(4, 8, 3, seed=0), x, t, iters=40, batch_size=30, resume=ckpt)
    with pytest.raises(CheckpointError, match="lr=0.1 \\(now 0.2\\)"):
        nl.fit(nl.TwoLayerNet(4, 8, 3, seed=0), x, t, iters=80, batch_size=30, lr=0.2, resume=ckpt)
    nl.save_weights(tmp_path / "w.npz", net.params)
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        read_checkpoint(tmp_path / "w.npz")
    (tmp_path / "bad.npz").write_bytes(ckpt.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        read_checkpoint(tmp_path / "bad.npz")


def test_history_csv_and_json(tmp_path):
    x, t = blobs()
    history = nl.fit(nl.TwoLayerNet(4, 5, 3, seed=0), x, t, iters=40, batch_size=60)
    csv_text = history.to_csv(tmp_path / "h.csv")
    assert csv_text.splitlines()[0] == "epoch,epoch_iteration,train_loss,train_acc,test_loss,test_acc,elapsed"
    assert len(csv_text.splitlines()) == 1 + 4
    history.to_json(tmp_path / "h.json")
    again = nl.History.from_dict(json.loads((tmp_path / "h.json").read_text()))
    assert again.loss == history.loss and again.train_acc == history.train_acc


def test_evaluate_in_chunks_equals_whole():
    (x, t), (xt, tt) = nl.load_mnist(dataset="mnist-mini")
    net = nl.TwoLayerNet(784, 20, 10, seed=0)
    nl.fit(net, x, t, iters=200, eval_every=None)
    acc, loss = nl.evaluate(net, xt, tt, chunk=300)
    assert acc == pytest.approx(net.accuracy(xt, tt), abs=1e-12)
    assert loss == pytest.approx(net.loss(xt, tt), rel=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"iters": 0}, "iters must be a positive integer"),
        ({"lr": -1}, "lr must be a positive"),
        ({"sampling": "random"}, "sampling must be"),
        ({"gradient": "magic"}, "gradient must be"),
        ({"x_test": np.zeros((2, 4))}, "pass both x_test and t_test"),
    ],
)
def test_fit_bad_arguments(kwargs, message):
    x, t = blobs(50)
    with pytest.raises(ValueError, match=message):
        nl.fit(nl.TwoLayerNet(4, 5, 3, seed=0), x, t, **kwargs)


def test_fit_bad_data():
    x, t = blobs(50)
    with pytest.raises(ValueError, match="x_train has shape \\(50, 3\\) but the network takes 4 inputs"):
        nl.fit(nl.TwoLayerNet(4, 5, 3), x[:, :3], t)
    with pytest.raises(ValueError, match="t_train has 49 labels but the output has 50 rows"):
        nl.fit(nl.TwoLayerNet(4, 5, 3), x, t[:49])


def test_integer_labels_are_used_as_they_are():
    """uint8 labels (as IDX files hold them) are not copied to int64: 20 million stay 20 MB."""
    from nnlearn._checks import labels_from_target
    t = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    assert np.shares_memory(labels_from_target(t, 5, 10, compact=True), t)
    assert labels_from_target(t, 5, 10).dtype == np.intp
    assert labels_from_target(t.astype(np.float64), 5, 10, compact=True).dtype == np.intp
    (x, t8), _ = nl.load_mnist(normalize=False, dataset="mnist-mini")
    a, b = nl.TwoLayerNet(784, 20, 10, seed=0), nl.TwoLayerNet(784, 20, 10, seed=0)
    ha = nl.fit(a, x, t8.astype(np.uint8), iters=30, eval_every=10)
    hb = nl.fit(b, x, t8.astype(np.int64), iters=30, eval_every=10)
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])
    assert ha.loss == hb.loss and ha.train_acc == hb.train_acc


@pytest.mark.parametrize("options", [
    {"optimizer": "adam", "lr": 0.01},
    {"optimizer": "momentum", "lr": 0.05},
    {"optimizer": "adam", "lr": 0.01, "augment": "shift", "sampling": "shuffle"},
])
def test_resume_is_bit_exact_with_optimizer_state_dropout_and_batchnorm(tmp_path, options):
    (x, t), _ = nl.load_mnist(normalize=False, dataset="mnist-mini")
    x, t = x[:600], t[:600]

    def net():
        return nl.MultiLayerNet(784, [20, 10], 10, seed=3, use_dropout=True, dropout_ratio=0.2, use_batchnorm=True,
                                dtype=np.float32)

    full = net()
    nl.fit(full, x, t, iters=60, batch_size=30, seed=3, **options)
    part, ckpt = net(), tmp_path / "c.npz"
    nl.fit(part, x, t, iters=60, batch_size=30, seed=3, checkpoint=ckpt,
           callbacks=[lambda r: r["epoch_iteration"] == 40], **options)
    resumed = net()
    history = nl.fit(resumed, x, t, iters=60, batch_size=30, seed=3, resume=ckpt, **options)
    for key in full.params:
        np.testing.assert_array_equal(resumed.params[key], full.params[key])
    for key in full.state:
        np.testing.assert_array_equal(resumed.state[key], full.state[key])
    assert len(history.loss) == 60


def test_epochs_setting_counts_whole_epochs():
    x, t = blobs(300)
    history = nl.fit(nl.TwoLayerNet(4, 5, 3, seed=0), x, t, epochs=3, batch_size=50)
    assert history.iters == 18 and history.epoch == [1, 2, 3]


def test_unknown_setting_is_named():
    x, t = blobs(50)
    with pytest.raises(ValueError, match="unexpected settings learning_rate"):
        nl.fit(nl.TwoLayerNet(4, 5, 3, seed=0), x, t, learning_rate=0.1)


def test_best_preset_learns_quickly():
    """A short run of the preset's recipe (the full run is in the benchmark): ≥ 0.95 on mnist-mini's test split."""
    from nnlearn.runs import build_network
    from nnlearn.settings import preset

    settings = preset("best").replace(epochs=10)
    (x, t), (xt, tt) = nl.load_mnist(normalize=False, dataset="mnist-mini")
    net = build_network(settings, 784, 10)
    history = nl.fit(net, x, t, x_test=xt, t_test=tt, **settings.scope("fit"))
    assert history.test_acc[-1] >= 0.95


# --- hostile data, checkpoints and settings -----------------------------------------------------------


@pytest.mark.parametrize("where", ["x_train", "x_test"])
def test_nan_in_the_data_is_named_at_the_boundary(where):
    x, t = blobs()
    bad = x.copy()
    bad[17, 2] = np.nan
    data = {"x_train": bad if where == "x_train" else x, "x_test": bad if where == "x_test" else x}
    with pytest.raises(nl.InputError, match=rf"{where} contains NaN or infinity \(first in row 17\)") as err:
        nl.fit(nl.TwoLayerNet(4, 8, 3, seed=0), data["x_train"], t, x_test=data["x_test"], t_test=t, iters=10)
    assert "learning rate" not in str(err.value).replace("not a learning-rate problem", "")
    with pytest.raises(nl.InputError, match=r"x contains NaN or infinity \(first in row 17\)"):
        nl.evaluate(nl.TwoLayerNet(4, 8, 3, seed=0), bad, t)


def test_a_run_that_does_not_learn_warns_naming_lr():
    """The issue's example, --lr 100: saturated sigmoids, the loss far above ln 10, accuracy at chance."""
    (x, t), _ = nl.load_mnist(normalize=False, dataset="mnist-mini")
    with pytest.warns(nl.train.NotLearningWarning, match=r"did not learn.*≥ ln 10.*lr=100: try lr=10$"):
        nl.fit(nl.TwoLayerNet(784, 20, 10, seed=0), x[:1000], t[:1000], iters=60, batch_size=50, lr=100)
    history = nl.fit(nl.TwoLayerNet(784, 20, 10, seed=0), x[:1000], t[:1000], iters=60, batch_size=50, lr=0.5)
    assert history.not_learning(10) is None  # learning slowly is learning


def test_extending_a_finished_run_is_bit_exact(tmp_path):
    x, t = blobs()
    full = nl.TwoLayerNet(4, 8, 3, weight_init_std=0.3, seed=2)
    nl.fit(full, x, t, iters=100, batch_size=30, sampling="shuffle", seed=3)
    first = nl.TwoLayerNet(4, 8, 3, weight_init_std=0.3, seed=2)
    ckpt = tmp_path / "ckpt.npz"
    nl.fit(first, x, t, iters=60, batch_size=30, sampling="shuffle", seed=3, checkpoint=ckpt)
    extended = nl.TwoLayerNet(4, 8, 3, weight_init_std=0.3, seed=99)
    history = nl.fit(extended, x, t, iters=100, batch_size=30, sampling="shuffle", seed=3, resume=ckpt)
    for key in full.params:
        np.testing.assert_array_equal(extended.params[key], full.params[key])
    assert len(history.loss) == 100 and history.iters == 100


def _edit_checkpoint(path, edit):
    params, meta, extra = read_checkpoint(path)
    edit(params, meta, extra)
    nl.save_weights(path, params, meta, extra_arrays=extra)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda p, m, e: m.update(iteration=-5), "iteration -5 is not a whole number >= 0"),
    (lambda p, m, e: m.update(iteration=20.5), "iteration 20.5 is not a whole number >= 0"),
    (lambda p, m, e: m.pop("recipe"), "recipe is missing"),
    (lambda p, m, e: m.pop("sampler"), "sampler is missing"),
    (lambda p, m, e: m.update(history=[1, 2]), "history is not a JSON object"),
    (lambda p, m, e: m.update(elapsed="soon"), "elapsed 'soon' is not a number of seconds"),
    (lambda p, m, e: e.update(loss=e["loss"][:3]), "it records 3 losses for 20 iterations"),
    (lambda p, m, e: p.update(W1=np.zeros((1, 8))), "W1 has shape (1, 8) but the metadata's layer sizes give (4, 8)"),
])
def test_inconsistent_checkpoint_metadata_is_one_line(tmp_path, edit, message):
    x, t = blobs()
    ckpt = tmp_path / "c.npz"
    nl.fit(nl.TwoLayerNet(4, 8, 3, seed=0), x, t, iters=20, batch_size=30, checkpoint=ckpt)
    _edit_checkpoint(ckpt, edit)
    with pytest.raises(CheckpointError) as err:
        nl.fit(nl.TwoLayerNet(4, 8, 3, seed=0), x, t, iters=40, batch_size=30, resume=ckpt)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_sizes_beyond_the_machine_name_the_memory_needed():
    with pytest.raises(nl.ResourceLimitError, match=r"^hidden \[100000000\] \(a 784-100000000-10 network of "
                                                    r"79,500,000,010 parameters\) would need [\d.]+ TiB of memory"):
        nl.TwoLayerNet(784, 100_000_000, 10)
    x, t = blobs()
    with pytest.raises(nl.ResourceLimitError, match=r"^batch_size 10,000,000,000 .* would need [\d.]+ TiB"):
        nl.fit(nl.TwoLayerNet(4, 8, 3, seed=0), x, t, iters=1, batch_size=10_000_000_000)


CHANGE_DURING_FIT = """
import json, os, sys
import numpy as np
import nnlearn as nl
from nnlearn.data.idx import write_idx
folder, ckpt = sys.argv[1], sys.argv[2]
ds = nl.open_dataset(folder)
net = nl.TwoLayerNet(784, 8, 10, seed=0)

def truncate_after_first_epoch(record):
    os.truncate(os.path.join(folder, "train-images-idx3-ubyte"), 100)

try:
    nl.fit(net, ds.x_train, ds.t_train, iters=200, batch_size=50, checkpoint=ckpt,
           callbacks=[truncate_after_first_epoch])
except nl.DatasetChangedError as exc:
    print("stopped:", exc)
"""


def test_dataset_file_truncated_during_fit_stops_after_a_checkpoint(tmp_path):
    import subprocess
    import sys

    from nnlearn.data.datasets import STANDARD_NAMES

    rng = np.random.default_rng(0)
    for part, n in (("train", 500), ("test", 100)):
        nl.write_idx(tmp_path / STANDARD_NAMES[f"{part}_images"], rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        nl.write_idx(tmp_path / STANDARD_NAMES[f"{part}_labels"], rng.integers(0, 10, n, dtype=np.uint8))
    ckpt = tmp_path / "ckpt.npz"
    result = subprocess.run([sys.executable, "-c", CHANGE_DURING_FIT, str(tmp_path), str(ckpt)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-1500:]}"
    assert "stopped: the dataset file" in result.stdout and "was truncated to 100 bytes" in result.stdout
    _, meta, _ = read_checkpoint(ckpt)
    assert meta["iteration"] == 20  # written when the change was found, at the second evaluation
