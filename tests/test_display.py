"""Display: short reprs, HTML tables, figures that render inline in a plain Jupyter kernel, the live view."""

import pickle

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import nnlearn as nl
from nnlearn import display, plots
from nnlearn.history import History


def long_history(iters=10_000, per_epoch=80):
    h = History(iters=iters, iter_per_epoch=per_epoch)
    h.loss = list(np.linspace(2.3, 0.1, iters))
    for i in range(per_epoch, iters + 1, per_epoch):
        h.append({"epoch": i // per_epoch, "epoch_iteration": i, "train_loss": 1 / i, "train_acc": 0.9,
                  "test_loss": 1 / i, "test_acc": 0.89, "elapsed": i / 1000})
    return h


def test_history_repr_is_short_and_says_the_final_figures():
    h = long_history()
    text = repr(h)
    assert len(text) < 1000
    assert "10,000 of 10,000 iterations" in text and "125 evaluations" in text and "test acc 0.8900" in text
    assert repr(History()) == "History(0 of 0 iterations, no evaluation yet)"


def test_history_html_has_a_few_rows_and_a_sparkline():
    page = long_history()._repr_html_()
    assert page.count("<tr>") == 1 + 9  # header, 4 first, an ellipsis row, 4 last
    assert "<svg" in page and "<polyline" in page and "an epoch = 80 iterations" in page
    assert len(page) < 10_000


def test_sparkline_bins_long_series_and_skips_short_ones():
    svg = display.sparkline_svg(np.arange(10_000.0), points=50)
    assert svg.count(",") == 50
    assert display.sparkline_svg([1.0]) == ""


def test_evaluate_is_named_and_still_unpacks():
    net = nl.TwoLayerNet(6, 4, 3, seed=0)
    x, t = np.random.default_rng(0).random((7, 6)), np.array([0, 1, 2, 0, 1, 2, 0])
    result = nl.evaluate(net, x, t)
    accuracy, loss = result
    assert (result.accuracy, result.loss, result.n) == (accuracy, loss, 7)
    assert loss == pytest.approx(net.loss(x, t))
    assert "Evaluation(accuracy=" in repr(result) and "<table" in result._repr_html_()
    assert pickle.loads(pickle.dumps(result)).n == 7


def test_gradient_check_and_network_tables():
    net = nl.TwoLayerNet(6, 4, 3, seed=0)
    report = nl.gradient_check(net, np.random.default_rng(0).random((5, 6)), np.array([0, 1, 2, 0, 1]))
    page = display.gradient_check_html(report)
    assert page.count("PASS") == 5 and "W1" in page
    assert repr(net) == "TwoLayerNet(6-4-3, sigmoid, float64, 43 parameters)"
    assert "43 parameters" in net._repr_html_() and "4×3" in net._repr_html_()
    deep = nl.MultiLayerNet(6, [5, 4], 3, activation="relu", seed=0)
    assert "relu" in deep._repr_html_() and "W3" in deep._repr_html_()


def test_notebook_figure_renders_png_and_show_saves_without_a_window(tmp_path, capsys):
    fig = plots.tangent_figure()
    assert fig._repr_png_().startswith(b"\x89PNG")
    path = plots.show(fig, tmp_path / "f.png")
    assert path == str(tmp_path / "f.png") and (tmp_path / "f.png").read_bytes().startswith(b"\x89PNG")
    assert "saved the figure to" in capsys.readouterr().out


def run_notebook(cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    return nb


def test_a_figure_as_the_last_expression_shows_inline_without_magic():
    nb = run_notebook(["from nnlearn import plots\nplots.tangent_figure()",
                       "import sys\nprint('matplotlib.pyplot' in sys.modules)"])
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["execute_result"]
    assert "image/png" in outputs[0].data
    assert nb.cells[1].outputs[0].text.strip() == "False"  # no pyplot was needed


def test_fit_live_updates_one_figure_in_a_notebook():
    nb = run_notebook(["import numpy as np, nnlearn as nl\n"
                       "x = np.random.default_rng(0).random((200, 6)); t = (x[:, 0] > 0.5).astype(int)\n"
                       "net = nl.TwoLayerNet(6, 4, 2, seed=0)\n"
                       "h = nl.fit(net, x, t, x_test=x, t_test=t, iters=40, batch_size=20, lr=1.0, live=True)",
                       "h"])
    shown = [o for o in nb.cells[0].outputs if o.output_type in ("display_data", "update_display_data")]
    figures = [o for o in shown if "image/png" in o.data]
    assert figures and figures[0].output_type == "display_data"
    assert len({o.metadata.get("transient", {}).get("display_id") for o in figures} - {None}) <= 1
    assert "text/html" in nb.cells[1].outputs[0].data


def test_live_outside_a_notebook_is_the_progress_bar():
    assert display.live_settings(False, ()) == (True, ())
