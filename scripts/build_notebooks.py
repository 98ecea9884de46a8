"""Write and execute the chapter-4 tutorial notebooks, examples/chapter4.ipynb and examples/chapter4_ja.ipynb.

Both notebooks share their code cells; only the prose differs.  Run from the repository root:

    python scripts/build_notebooks.py            # write and execute both (needs the dev extra)
    python scripts/build_notebooks.py --no-run   # write them unexecuted
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# (kind, English, Japanese): code cells have one text for both.
CELLS = [
    ("md", """# Chapter 4: how a neural network learns, with nnlearn

This notebook follows chapter 4 of *Deep Learning from Scratch* (「ゼロから作るDeep Learning」, Koki Saitō)
section by section. Each code cell runs the book's example with nnlearn and prints the book's number beside
ours; the figures measure the chapter's claims on real digits. Everything runs offline on **mnist-mini**
(10,000 real MNIST digits shipped with nnlearn) in a minute or two.

Figures show themselves when they are the last line of a cell: no `%matplotlib inline`, no pyplot.""",
     """# 第4章 ニューラルネットワークの学習 — nnlearn で動かす

『ゼロから作るDeep Learning』（斎藤康毅）第4章を、節ごとに nnlearn で実行するノートブックです。
各コードセルは本の例をそのまま動かし、本に印刷された値を横に並べています。図は、章の主張を本物の手書き数字で
測ったものです。すべて nnlearn に同梱の **mnist-mini**（MNIST の実データ 10,000 枚）でオフラインに動き、
1〜2 分で終わります。

図はセルの最後の式にすれば表示されます（`%matplotlib inline` も pyplot も不要）。図中の文字は、
日本語フォントがなくても文字化けしないよう英語にしています。"""),
    ("code", """import numpy as np

import nnlearn as nl
from nnlearn import experiments, plots"""),
    ("md", """## 4.1 Learning from data

The network learns its weights from examples instead of rules written by hand. The data: 28×28 grey images
of digits with their labels, split into training data (to learn from) and test data (to check that what was
learned generalises to images the network never saw).""",
     """## 4.1 データから学習する

ニューラルネットワークは、人が書いた規則ではなく例（データ）から重みを学習します。データは 28×28 の手書き数字画像と
そのラベルで、学習に使う訓練データと、学習したことが未知の画像にも通用するか（汎化）を確かめるテストデータに分けます。"""),
    ("code", """(x_train, t_train), (x_test, t_test) = nl.load_mnist(normalize=True, one_hot_label=True,
                                                     dataset="mnist-mini")
print(x_train.shape, t_train.shape, x_test.shape, t_test.shape)"""),
    ("code", """plots.digits_figure(x_train, t_train)"""),
    ("md", """## 4.2 Loss functions

### 4.2.1 Sum of squared errors and 4.2.2 cross-entropy error
The book's example: the correct digit is "2"; `y` gives it 0.6 (good) or gives 0.6 to "7" (bad).""",
     """## 4.2 損失関数

### 4.2.1 2 乗和誤差 と 4.2.2 交差エントロピー誤差
本の例です。正解は「2」で、`y` は「2」に 0.6 を与える（良い）場合と「7」に 0.6 を与える（悪い）場合です。"""),
    ("code", """t = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
y_good = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
y_bad = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])
print(nl.sum_squared_error(y_good, t), "  book: 0.0975")
print(nl.sum_squared_error(y_bad, t), "  book: 0.5975")
print(nl.cross_entropy_error(y_good, t), "  book: 0.510825457099338")
print(nl.cross_entropy_error(y_bad, t), "  book: 2.302584092994546")"""),
    ("md", """### 4.2.3 Mini-batch learning
Computing the loss over all the data at every step is too slow when there are millions of images, so the book
takes a random **mini-batch** of 100 and uses its loss as an estimate, "like TV ratings" estimate what a
whole country watches from a few households. The book draws the batch with `np.random.choice`:""",
     """### 4.2.3 ミニバッチ学習
データが何百万枚もあると、毎回すべてのデータで損失を計算するのは遅すぎます。そこで本は、ランダムに選んだ 100 枚の
**ミニバッチ**の損失で全体を近似します。「テレビの視聴率」が一部の世帯から全体を推定するのと同じ考え方です。
本と同じく `np.random.choice` で選びます。"""),
    ("code", """train_size = x_train.shape[0]
batch_mask = np.random.default_rng(0).choice(train_size, 10)
print(batch_mask)
x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
print(x_batch.shape, t_batch.shape)"""),
    ("md", """How good is that estimate? Below, 100 random batches of each size B for two networks: one untrained and one
trained for 1,000 iterations (section 4.5 explains the `fit` line). Left: the mini-batch losses around the loss on
all 8,000 training images (the red line). Middle: the cosine between the mini-batch gradient and the full-data
gradient (1 would be the same direction). Right: the spread of the estimate, on log axes; it falls as 1/√B, so
a batch 100 times larger is only 10 times more precise. **Look for** the boxes narrowing around the red line, and
the blue line following the dashed 1/√B line.""",
     """この近似はどのくらい正確でしょうか。以下は、学習前のネットワークと 1,000 回学習したネットワーク（`fit` の行は 4.5 節で
説明します）について、各バッチサイズ B でランダムなミニバッチを 100 個作った結果です。左：ミニバッチの損失と、訓練データ
8,000 枚全体の損失（赤線）。中央：ミニバッチの勾配と全データの勾配のコサイン（1 なら同じ向き）。右：推定のばらつき
（両対数）。ばらつきは 1/√B で減るので、バッチを 100 倍にしても精度は 10 倍にしかなりません。**見るところ**：箱が赤線の
まわりに縮んでいくこと、青い線が点線の 1/√B に沿うこと。"""),
    ("code", """untrained = nl.TwoLayerNet(784, 50, 10, seed=0, dtype=np.float32)
trained = nl.TwoLayerNet(784, 50, 10, seed=0, dtype=np.float32)
nl.fit(trained, x_train, t_train, iters=1000, lr=0.1, eval_every=None)
estimates = {name: experiments.minibatch_estimate(net, x_train, t_train, draws=100)
             for name, net in (("untrained", untrained), ("trained", trained))}
for name, est in estimates.items():
    print(f"{name}: spread at B=10 / spread at B=1000 = {est.spread[1] / est.spread[3]:.1f}  (1/√B predicts 10)")
plots.minibatch_estimate_figure(estimates)"""),
    ("md", """### 4.2.5 Why a loss function?
We want accuracy, so why not minimise the error rate directly? Because accuracy hardly ever changes when a weight
changes a little: its derivative is 0 almost everywhere, and gradient descent would not know where to go. The
loss changes smoothly. Below, the trained network's parameters move along a random direction (left) and along
one weight (right). **Look for** the accuracy's flat steps against the loss's smooth curve.""",
     """### 4.2.5 なぜ損失関数を設定するのか？
欲しいのは認識精度なのに、なぜ精度を直接最大化しないのでしょうか。重みを少し動かしても精度はほとんど変わらず、微分が
ほぼどこでも 0 になるため、勾配降下法はどちらへ進めばよいか分からなくなるからです。損失関数はなめらかに変化します。
以下は学習済みネットワークのパラメータをランダムな方向（左）と 1 つの重み（右）に沿って動かしたものです。
**見るところ**：精度は階段状に平らな区間があり、損失はなめらかな曲線になること。"""),
    ("code", """x_check, t_check = x_test[:1000], t_test[:1000]
paths = [experiments.loss_vs_accuracy(trained, x_check, t_check),
         experiments.loss_vs_accuracy(trained, x_check, t_check, direction=("W2", (0, 3)),
                                      alphas=np.linspace(-3, 3, 201))]
plots.loss_vs_accuracy_figure(paths)"""),
    ("md", """## 4.3 Numerical differentiation

### 4.3.1 Derivatives
The book's "bad example" uses h = 1e-50, which float32 rounds to 0:""",
     """## 4.3 数値微分

### 4.3.1 微分
本の「悪い実装例」は h = 1e-50 を使いますが、float32 では 0 に丸められてしまいます。"""),
    ("code", """print(np.float32(1e-50), "  book: 0.0")"""),
    ("md", """So the book uses h = 1e-4 and the **central difference** (f(x+h) − f(x−h)) / 2h. Why those two choices?
The figure measures the error of the derivative of the sigmoid at 0.5 against its exact value for h from 1e-12
to 1. Too small an h and rounding error dominates (left arm of the V); too large and the approximation itself is
wrong (truncation error, right arm). **Look for** the bottom of each V: the central difference's error is far
smaller than the forward difference's, and near h = 1e-4 it is close to its minimum in float64. In float32 the
errors are thousands of times larger, which is why nnlearn computes numerical gradients in float64.""",
     """そこで本は h = 1e-4 と**中心差分** (f(x+h) − f(x−h)) / 2h を使います。なぜこの 2 つなのか、図で確かめます。
シグモイド関数の x = 0.5 での微分を、h を 1e-12 から 1 まで変えて真の値と比べた誤差です。h が小さすぎると丸め誤差が
支配し（V 字の左側）、大きすぎると近似そのものが粗くなります（打ち切り誤差、右側）。**見るところ**：V 字の底。中心差分の
誤差は前方差分よりずっと小さく、float64 では h = 1e-4 付近が最小に近いこと。float32 では誤差が何千倍も大きく、nnlearn が
数値勾配を float64 で計算するのはこのためです。"""),
    ("code", """error = experiments.derivative_error()
for method in ("forward", "central"):
    print(f"{method} difference at h=1e-4, float64: {error.at(method, 'float64', 1e-4):.2e}")
plots.derivative_error_figure(error)"""),
    ("md", """### 4.3.2 An example of numerical differentiation
y = 0.01x² + 0.1x, differentiated at x = 5 and x = 10 (exact values 0.2 and 0.3):""",
     """### 4.3.2 数値微分の例
y = 0.01x² + 0.1x を x = 5 と x = 10 で微分します（真の値は 0.2 と 0.3）。"""),
    ("code", """print(nl.numerical_diff(plots.function_1, 5), "  book: 0.1999999999990898")
print(nl.numerical_diff(plots.function_1, 10), "  book: 0.2999999999986347")
plots.tangent_figure()"""),
    ("md", """### 4.3.3 Partial derivatives
f(x0, x1) = x0² + x1²: ∂f/∂x0 at (3, 4), and ∂f/∂x1 at (3, 4):""",
     """### 4.3.3 偏微分
f(x0, x1) = x0² + x1² の (3, 4) における ∂f/∂x0 と ∂f/∂x1 です。"""),
    ("code", """print(nl.numerical_diff(lambda x0: x0 * x0 + 4.0**2.0, 3.0), "  book: 6.00000000000378")
print(nl.numerical_diff(lambda x1: 3.0**2.0 + x1 * x1, 4.0), "  book: 7.999999999999119")"""),
    ("md", """## 4.4 Gradients
The gradient collects all partial derivatives into one vector. −∇f points to where f falls fastest:""",
     """## 4.4 勾配
すべての変数の偏微分をまとめたベクトルが勾配です。−∇f は f が最も速く減る向きを指します。"""),
    ("code", """for point, book in (([3.0, 4.0], "[6. 8.]"), ([0.0, 2.0], "[0. 4.]"), ([3.0, 0.0], "[6. 0.]")):
    print(nl.numerical_gradient(plots.function_2, np.array(point)), "  book:", book)
plots.gradient_field_figure()"""),
    ("md", """### 4.4.1 Gradient descent
x ← x − η ∇f(x), with the learning rate η (`lr`). The book starts at (−3, 4) and takes 100 steps:""",
     """### 4.4.1 勾配法
x ← x − η ∇f(x)。η（`lr`）が学習率です。本と同じく (−3, 4) から 100 ステップ進めます。"""),
    ("code", """init_x = np.array([-3.0, 4.0])
for lr, book in ((0.1, "[-6.11110793e-10  8.14814391e-10]"), (10.0, "[-2.58983747e+13 -1.29524862e+12]"),
                 (1e-10, "[-2.99999994  3.99999992]")):
    print(f"lr={lr:g}:", nl.gradient_descent(plots.function_2, init_x, lr=lr, step_num=100), "  book:", book)"""),
    ("md", """Each arrow below is one step. **Look for** lr = 0.9: every step jumps across the minimum and back (a zigzag)
yet still arrives; lr = 1.1 jumps further each time and diverges.""",
     """下の図の矢印が 1 ステップです。**見るところ**：lr = 0.9 では毎回最小値を飛び越えて戻りながら（ジグザグ）それでも
到達し、lr = 1.1 では飛び越えるたびに遠ざかって発散すること。"""),
    ("code", """plots.descent_paths_figure()"""),
    ("code_ja", """# 図の中の文字を日本語にするには日本語フォントが必要です（pip install '.[ja]' で matplotlib-fontja が入ります）
if plots.use_japanese_font():
    fig = plots.descent_paths_figure()
    fig.suptitle("x0² + x1² に対する勾配法（■：出発点、＋：最小値）")
    for ax, lr in zip(fig.axes, (0.001, 0.1, 0.9, 1.1), strict=True):
        ax.set_title(f"学習率 {lr:g}")
else:
    fig = "日本語フォントがないので、図の文字は英語のままにします"
fig"""),
    ("md", """The learning rate on the real network: a fresh network trained for the same 200 iterations at each lr.
Too small and it barely moves from the starting loss of 2.30; too large and it thrashes (the loss climbs and the
accuracy drops to chance). Bottom left, the book's lr = 10 and 1e-10; bottom right, an elongated bowl where a large
lr zigzags across the narrow direction. **Look for** how narrow the window is: of seven decades, only lr near 1
learns much in 200 iterations.""",
     """本物のネットワークでの学習率です。各 lr で新しいネットワークを同じ 200 回だけ学習させました。小さすぎると初期の損失
2.30 からほとんど動かず、大きすぎると暴れます（損失が上がり、精度は当てずっぽう並みに落ちる）。左下は本の lr = 10 と
1e-10、右下は細長いお椀型の関数で、大きな lr が狭い方向にジグザグする様子です。**見るところ**：うまくいく lr の範囲の
狭さ。試した 7 桁のうち、200 回で十分に学習できるのは lr = 1 の近くだけです。"""),
    ("code", """sweep = experiments.learning_rate_sweep(lambda: nl.TwoLayerNet(784, 50, 10, seed=0, dtype=np.float32),
                                       x_train, t_train, x_test, t_test, lrs=10.0 ** np.arange(-4, 3.0), iters=200)
plots.learning_rate_sweep_figure(sweep, experiments.book_learning_rates(plots.function_2))"""),
    ("md", """### 4.4.2 Gradients of a neural network
`simpleNet` with the book's weights `W`:""",
     """### 4.4.2 ニューラルネットワークに対する勾配
本と同じ重み `W` を持つ `simpleNet` です。"""),
    ("code", """net = nl.simpleNet()
net.W = np.array([[0.47355232, 0.9977393, 0.84668094], [0.85557411, 0.03563661, 0.69422093]])
x = np.array([0.6, 0.9])
p = net.predict(x)
print(p, "  book: [1.05414809 0.63071653 1.1328074 ]")
print(np.argmax(p), "  book: 2")
t = np.array([0, 0, 1])
print(net.loss(x, t), "  book: 0.92806853663411326  (the book leaves out the 1e-7 inside the log)")
dW = nl.numerical_gradient(lambda W: net.loss(x, t), net.W)
print(dW)
print("book: [[ 0.21924763  0.14356247 -0.36281009]\\n       [ 0.32887144  0.2153437  -0.54421514]]")"""),
    ("md", """## 4.5 Implementing the learning algorithm

### 4.5.1 A two-layer network
784 inputs (pixels), 50 hidden sigmoid units, 10 outputs (softmax probabilities):""",
     """## 4.5 学習アルゴリズムの実装

### 4.5.1 2 層ニューラルネットワークのクラス
入力 784（画素）、隠れ層 50（シグモイド）、出力 10（ソフトマックスの確率）です。"""),
    ("code", """net = nl.TwoLayerNet(input_size=784, hidden_size=50, output_size=10, seed=0)
net"""),
    ("md", """### 4.5.2 Mini-batch training and 4.5.3 evaluation with test data
The four steps: (1) draw a mini-batch, (2) compute the gradient, (3) update the weights, (4) repeat. Every
**epoch** (one pass's worth of iterations: 8,000 training images / batch 100 = 80 iterations) the accuracy on
all training and test images is recorded. With `live=True` the figure below is redrawn as training runs. The book
runs 10,000 iterations on 60,000 images; here 2,000 iterations (25 epochs) on mnist-mini, and backpropagation
(chapter 5) for the gradient, which gives the same numbers as the numerical gradient, only thousands of times
faster. **Look for** train and test accuracy rising together: when they stay close, the network is not
overfitting.""",
     """### 4.5.2 ミニバッチ学習の実装 と 4.5.3 テストデータで評価
4 つの手順：(1) ミニバッチを選ぶ、(2) 勾配を計算する、(3) 重みを更新する、(4) 繰り返す。**エポック**ごと
（訓練データ 8,000 枚 ÷ バッチ 100 = 80 回の反復）に、訓練データとテストデータ全体の認識精度を記録します。
`live=True` にすると、学習中に下の図が描き直されます。本は 60,000 枚で 10,000 回反復しますが、ここでは mnist-mini で
2,000 回（25 エポック）です。勾配には誤差逆伝播法（第 5 章）を使います。数値微分と同じ値を、何千倍も速く計算できます。
**見るところ**：訓練とテストの精度が一緒に上がること。両者が近いままなら過学習していません。"""),
    ("code", """history = nl.fit(net, x_train, t_train, x_test=x_test, t_test=t_test,
                 iters=2000, batch_size=100, lr=0.1, live=True)"""),
    ("code", """history"""),
    ("code", """history.plot()"""),
    ("code", """nl.evaluate(net, x_test, t_test)"""),
    ("md", """Backpropagation against the numerical gradient of section 4.5.1 on three test images (the gradient
check of section 5.7.3): the two agree to about 1e-8, far below the tolerance.""",
     """誤差逆伝播法による勾配と 4.5.1 節の数値微分による勾配を、テスト画像 3 枚で比べます（5.7.3 節の勾配確認）。
両者はおよそ 1e-8 の精度で一致し、許容誤差を大きく下回ります。"""),
    ("code", """nl.gradient_check(net, x_test[:3], t_test[:3])"""),
]


def notebook(lang: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in CELLS:
        if cell[0] == "code" or cell[0] == f"code_{lang}":
            nb.cells.append(nbformat.v4.new_code_cell(cell[1]))
        elif cell[0].startswith("code_"):
            continue
        else:
            nb.cells.append(nbformat.v4.new_markdown_cell(cell[1] if lang == "en" else cell[2]))
    return nb


def execute(nb: nbformat.NotebookNode, timeout: int = 600) -> nbformat.NotebookNode:
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    return nb


def main(argv) -> int:
    EXAMPLES.mkdir(exist_ok=True)
    for lang, name in (("en", "chapter4.ipynb"), ("ja", "chapter4_ja.ipynb")):
        nb = notebook(lang)
        if "--no-run" not in argv:
            execute(nb)
        nbformat.write(nb, EXAMPLES / name)
        print(f"wrote {EXAMPLES / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
