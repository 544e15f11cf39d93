"""fastnn.plot: every figure rendered to PNG with Agg, and the files checked."""

import sys

import numpy as np
import pytest

import fastnn
from fastnn import plot
from fastnn.book.reproduce import Chapter1Results, ResultRow

pytest.importorskip("matplotlib")
from matplotlib.image import imread


@pytest.fixture(scope="module")
def digits():
    """Fake 28x28 'digits': class k lights up the k-th band of rows; a 784-6-10 network
    trained two epochs on them (well enough to get most, not all, right)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 400)
    X = rng.random((400, 28, 28)) * 0.3
    for i, k in enumerate(y):
        X[i, 2 * k + 4 : 2 * k + 7, 4:24] = 1.0
    X = X.reshape(400, 784)
    net = fastnn.Network([784, 6, 10], seed=0)
    history = net.SGD((X[:300], y[:300]), 4, 10, 3.0, test_data=(X[300:], y[300:]),
                      evaluation_data=(X[200:300], y[200:300]), monitor=("training_cost", "evaluation_cost"),
                      verbose=False)
    return net, history, (X[300:], y[300:])


def _check_png(path, min_bytes=5_000):
    """The file is a PNG of reasonable size whose pixels are not all one colour."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > min_bytes
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert image[..., :3].std() > 0.02  # not blank
    assert (image[..., :3] < 0.5).mean() > 0.001  # something dark was drawn
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # written atomically, no leftovers


def test_learning_curves(digits, tmp_path):
    _net, history, _test = digits
    path = tmp_path / "curves.png"
    fig = plot.learning_curves(history, title="fake digits", path=path, dpi=80)
    _check_png(path)
    assert len(fig.axes) == 2
    acc, cost = fig.axes
    assert [line.get_label() for line in acc.lines] == ["evaluation", "test"]
    assert [line.get_label() for line in cost.lines] == ["training", "evaluation", "training, during the epoch"]
    np.testing.assert_allclose(acc.lines[1].get_ydata(), [100 * r.test_accuracy for r in history])
    marked = plot.learning_curves(history, mark_epoch=2)
    assert all(ax.lines[-1].get_label() == "kept: epoch 2" and list(ax.lines[-1].get_xdata()) == [2, 2]
               for ax in marked.axes)


def test_learning_curves_of_several_runs_and_cost_only(digits, tmp_path):
    _net, history, _test = digits
    fig = plot.learning_curves([history, history[:2]], labels=["a", "b"], path=tmp_path / "two.svg", dpi=80)
    assert (tmp_path / "two.svg").read_text().lstrip().startswith("<?xml")
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 4
    net = fastnn.Network([4, 2], seed=0)
    X = np.random.default_rng(0).random((20, 4))
    only_cost = net.SGD((X, X[:, :2]), 2, 5, 1.0, verbose=False)  # nothing but train_cost
    assert len(plot.learning_curves(only_cost).axes) == 1


def test_learning_curves_rejects_what_is_not_a_history():
    with pytest.raises(ValueError, match="history is empty"):
        plot.learning_curves([])
    with pytest.raises(TypeError, match="history must be a History"):
        plot.learning_curves({"epoch": [0]})


def test_first_layer_weights(digits, tmp_path):
    net, _history, _test = digits
    path = tmp_path / "weights.png"
    fig = plot.first_layer_weights(net, path=path, dpi=80)
    _check_png(path)
    assert len(fig.axes) == 6
    image = fig.axes[2].images[0].get_array()
    np.testing.assert_array_equal(image, net.weights[0][2].reshape(28, 28))
    assert len(plot.first_layer_weights(net, units=[5, 0]).axes) == 2
    with pytest.raises(ValueError, match="are not a square image; pass shape"):
        plot.first_layer_weights(fastnn.Network([10, 3, 2]))
    assert len(plot.first_layer_weights(fastnn.Network([10, 3, 2]), shape=(2, 5)).axes) == 3
    with pytest.raises(ValueError, match=r"units must name neurons 0..5"):
        plot.first_layer_weights(net, units=[6])


def test_confusion_matrix(digits, tmp_path):
    net, _history, test = digits
    path = tmp_path / "confusion.png"
    fig = plot.confusion_matrix(net, test, path=path, dpi=80)
    _check_png(path)
    assert len(fig.axes) == 1
    shown = fig.axes[0].images[0].get_array()
    predicted = net.predict(test[0])
    for i in range(10):
        for j in range(10):
            assert shown[i, j] == np.count_nonzero((test[1] == i) & (predicted == j))
    correct = net.evaluate(test)
    assert fig.axes[0].get_title().startswith(f"{correct} / 100 correct")
    rows = plot.confusion_matrix(net, test, normalize=True).axes[0].images[0].get_array()
    np.testing.assert_allclose(rows.sum(axis=1)[np.bincount(test[1], minlength=10) > 0], 100)


def test_misclassified(digits, tmp_path):
    net, _history, test = digits
    X, y = test
    wrong = np.flatnonzero(net.predict(X) != y)
    assert 0 < wrong.size, "the fixture must make mistakes for this test to mean anything"
    path = tmp_path / "wrong.png"
    fig = plot.misclassified(net, test, n=5, path=path, dpi=80)
    _check_png(path)
    assert len(fig.axes) == min(5, wrong.size)
    first = wrong[0]
    assert fig.axes[0].get_title() == f"{y[first]} → {net.predict(X[first])}  #{first}"
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), X[first].reshape(28, 28))
    right = np.flatnonzero(net.predict(X) == y)
    none = plot.misclassified(net, (X[right], y[right]))
    assert len(none.axes) == 1 and "no mistakes" in none.axes[0].texts[0].get_text()


def test_chapter1_curves(tmp_path):
    rows = [
        ResultRow("net30_epoch0", "784-30-10, η = 3.0", "epoch 0", 91.29, "", [90.0, 91.0], [0, 1],
                  history=[[9000, 9300, 9400], [9100, 9350, 9420]], n_test=10_000),
        ResultRow("net30_peak", "784-30-10, η = 3.0", "peak", 95.42, "", [94.0, 94.2], [0, 1],
                  history=[[9000, 9300, 9400], [9100, 9350, 9420]], n_test=10_000),
        ResultRow("eta_small_final", "784-100-10, η = 0.001", "final", 21.42, "", [11.0, 12.0], [0, 1],
                  history=[[1000, 1050, 1100], [1100, 1150, 1200]], n_test=10_000),
        ResultRow("darkness", "average darkness", "accuracy", 22.25, "", [22.25]),
    ]
    results = Chapter1Results(rows=rows, quick=True, settings={"mini_batch_size": 10}, command="test",
                              date="2026-12-01", seconds=1.0, environment={})
    path = tmp_path / "chapter1.png"
    fig = plot.chapter1(results, path=path, dpi=80)
    _check_png(path)
    assert len(fig.axes) == 2  # two network experiments; the baseline has no curve
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), [91.0, 93.5, 94.2])
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["seed 0", "seed 1", "book, epoch 0: 91.29 %", "book's peak 95.42 %"]
    assert len(fig.axes[1].lines) == 2  # the book's epoch-29 value is not drawn on a 3-epoch run
    rows[2].history = [list(range(1000, 1030)), list(range(1100, 1130))]
    final = plot.chapter1(results).axes[1].lines[-1]
    assert final.get_label() == "book, epoch 29: 21.42 %" and list(final.get_xdata()) == [29]
    with pytest.raises(ValueError, match="no network experiment"):
        plot.chapter1(Chapter1Results(rows=rows[3:], quick=True, settings={}, command="", date="",
                                      seconds=0.0, environment={}))


def test_a_clear_message_without_matplotlib(digits, monkeypatch):
    _net, history, _test = digits
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r'fastnn.plot needs matplotlib.*pip install "fastnn\[plot\]"'):
        plot.learning_curves(history)
