"""``nnlearn demo``: chapter 4's examples in the book's order, each result beside what the book prints."""

from __future__ import annotations

import numpy as np

from .data.datasets import load_mnist
from .functions import cross_entropy_error, sum_squared_error
from .gradient import gradient_descent, numerical_diff, numerical_gradient
from .inference import init_network, predict
from .network import SimpleNet

T = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
Y_GOOD = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
Y_BAD = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])
BOOK_W = np.array([[0.47355232, 0.9977393, 0.84668094], [0.85557411, 0.03563661, 0.69422093]])


def function_1(x):
    return 0.01 * x**2 + 0.1 * x


def function_2(x):
    return x[0] ** 2 + x[1] ** 2


def examples():
    """(section, expression, our result, the book's printed result) in the book's order."""
    yield "4.2.1", "sum_squared_error(y, t)  # 0.6 on the correct '2'", sum_squared_error(Y_GOOD, T), "0.0975"
    yield "4.2.1", "sum_squared_error(y, t)  # 0.6 on a wrong '7'", sum_squared_error(Y_BAD, T), "0.5975"
    yield "4.2.2", "cross_entropy_error(y, t)  # 0.6 on '2'", cross_entropy_error(Y_GOOD, T), "0.510825457099338"
    yield "4.2.2", "cross_entropy_error(y, t)  # 0.6 on '7'", cross_entropy_error(Y_BAD, T), "2.302584092994546"
    (x_train, t_train), _ = load_mnist(one_hot_label=True, dataset="mnist-mini")
    batch_mask = np.random.default_rng(0).choice(x_train.shape[0], 100)
    y = predict(init_network(), x_train[batch_mask])
    yield ("4.2.4", "cross_entropy_error(predict(init_network(), x_batch), t_batch)  # 100 random training digits",
           cross_entropy_error(y, t_train[batch_mask]), "≈0.2 (depends on the batch and weights)")
    yield "4.3.3", "numerical_diff(function_1, 5)", numerical_diff(function_1, 5), "0.1999999999990898"
    yield "4.3.3", "numerical_diff(function_1, 10)", numerical_diff(function_1, 10), "0.2999999999986347"
    for point, book in (((3.0, 4.0), "[6. 8.]"), ((0.0, 2.0), "[0. 4.]"), ((3.0, 0.0), "[6. 0.]")):
        yield ("4.4", f"numerical_gradient(function_2, np.array({list(point)}))",
               numerical_gradient(function_2, np.array(point)), book)
    yield ("4.4.1", "gradient_descent(function_2, init_x=[-3.0, 4.0], lr=0.1, step_num=100)",
           gradient_descent(function_2, np.array([-3.0, 4.0]), lr=0.1, step_num=100),
           "[-6.11110793e-10  8.14814391e-10]")
    net = SimpleNet()
    net.W = BOOK_W.copy()
    x = np.array([0.6, 0.9])
    yield "4.4.2", "net.predict(x)  # simpleNet with the book's W", net.predict(x), "[1.05414809 0.63071653 1.1328074 ]"
    dW = numerical_gradient(lambda _w: net.loss(x, np.array([0, 0, 1])), net.W)
    yield ("4.4.2", "numerical_gradient(lambda W: net.loss(x, t), net.W)", dW,
           "[[ 0.21924763  0.14356247 -0.36281009]\n [ 0.32887144  0.2153437  -0.54421514]]"
           "  (the book's numbers omit the 1e-7 inside the log; ours keep it, a 1e-7 difference)")


def run_demo(write=print) -> None:
    with np.printoptions(precision=8, suppress=False):
        for section, expression, ours, book in examples():
            write(f"[{section}] {expression}")
            write(f"    nnlearn: {_indent(repr(ours) if isinstance(ours, float) else str(ours))}")
            write(f"    book:    {_indent(book)}")
            write("")
    write("Next: nnlearn train   (section 4.5: the two-layer network learns mnist-mini)")


def _indent(text: str) -> str:
    return text.replace("\n", "\n             ")
