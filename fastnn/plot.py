"""Figures of training and of trained networks, with matplotlib (the ``plot`` extra).

- :func:`learning_curves`: accuracy and cost per epoch from a :class:`fastnn.History`
  (training / evaluation / test), for one run or several side by side.
- :func:`first_layer_weights`: what each hidden neuron of the first layer looks for, its
  784 incoming weights drawn as a 28x28 image.
- :func:`confusion_matrix`: which digits the network takes for which.
- :func:`misclassified`: the digits it gets wrong, with the true and predicted labels.
- :func:`chapter1`: the curves of Chapter 1's experiments from
  :func:`fastnn.reproduce_chapter1`, beside the book's numbers.

Each function returns a ``matplotlib.figure.Figure`` (made without ``pyplot``, so nothing
is left open and any backend works; in Jupyter the returned figure displays itself) and,
given ``path``, also writes it there atomically, in the format of the file's suffix
(``.png``, ``.svg``, ``.pdf``, ...). matplotlib is imported when a function is called,
so ``import fastnn.plot`` works without it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from fastnn._io import atomic_write
from fastnn.training import EpochResult, History

__all__ = ["chapter1", "check_path", "confusion_matrix", "first_layer_weights", "learning_curves", "misclassified"]

_SETS = ("training", "evaluation", "test")
_BOOK_LAST_EPOCH = 29  # the book's Chapter 1 runs are 30 epochs long
_COLORS = {"training": "tab:blue", "evaluation": "tab:orange", "test": "tab:green"}


def _figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            'fastnn.plot needs matplotlib, which is not installed: pip install "fastnn[plot]"'
        ) from exc
    return Figure(layout="constrained", **kwargs)


def check_path(path, name="path"):
    """Raise ValueError unless matplotlib can write ``path``'s format (its suffix; none is PNG).

    For callers that write a figure after long work (``fastnn train --plot``): they check
    first, so that a typo in the suffix does not cost the run.
    """
    fig = _figure()
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(f"{name} {path}: matplotlib cannot write .{fmt} files; use one of "
                         f"{', '.join('.' + f for f in sorted(supported))}")
    return Path(path)


def _save(fig, path, dpi):
    if path is None:
        return
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_write(path) as (f, _):
        fig.savefig(f, format=fmt, dpi=dpi)


def _histories(history, labels):
    """``[(label, History)]`` from one history (a list of EpochResult) or a list of them."""
    if isinstance(history, (list, tuple)) and history and all(isinstance(r, EpochResult) for r in history):
        runs = [history]
    elif isinstance(history, (list, tuple)) and history and all(isinstance(h, (list, tuple)) for h in history):
        runs = list(history)
    elif isinstance(history, (list, tuple)) and not history:
        raise ValueError("history is empty: nothing to plot")
    else:
        raise TypeError(
            f"history must be a History (a list of EpochResult) or a list of them, got {type(history).__name__}"
        )
    for i, run in enumerate(runs):
        if not run or not all(isinstance(r, EpochResult) for r in run):
            raise ValueError(f"history[{i}] must be a non-empty list of EpochResult")
    if labels is None:
        labels = [None] if len(runs) == 1 else [f"network {i}" for i in range(len(runs))]
    labels = list(labels)
    if len(labels) != len(runs):
        raise ValueError(f"labels must hold one label per history ({len(runs)}), got {len(labels)}")
    return [(label, run if isinstance(run, History) else History(run)) for label, run in zip(labels, runs)]


def learning_curves(history, *, labels=None, title=None, mark_epoch=None, path=None, dpi=150):
    """Accuracy and cost per epoch: the learning curves of one or more training runs.

    Parameters
    ----------
    history : History, list of EpochResult, or list of them
        What :meth:`Network.SGD` (or :func:`fastnn.train_many`) returned. Everything
        measured is drawn: accuracy on the training, evaluation and test data (percent,
        left panel; only when some accuracy was measured) and their costs (right panel),
        with ``train_cost`` (the running cost during each epoch, always recorded) dotted.
    labels : list of str, optional
        One per history when several are given (default ``network i``).
    title : str, optional
    mark_epoch : int, optional
        Draw a vertical line at this epoch, e.g. ``EarlyStopping.best_epoch``, the epoch
        whose parameters were kept.
    path : str or os.PathLike, optional
        Also write the figure there (format from the suffix), atomically.
    dpi : int, default 150
        Resolution of a raster file.

    Returns
    -------
    matplotlib.figure.Figure
        One or two axes: accuracy (if measured), cost.

    Raises
    ------
    TypeError, ValueError
        ``history`` is not a history, or is empty.
    ImportError
        matplotlib is not installed (the ``plot`` extra).
    """
    runs = _histories(history, labels)
    has_acc = any(any(getattr(r, f"{s}_accuracy") is not None for r in h) for _, h in runs for s in _SETS)
    fig = _figure(figsize=(11 if has_acc else 6, 4.2))
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    styles = ["-", "--", "-.", ":"]
    for k, (label, h) in enumerate(runs):
        epochs = h.column("epoch")
        style = styles[k % len(styles)] if len(runs) > 1 else "-"
        name = f"{label}: " if label else ""
        if has_acc:
            for s in _SETS:
                acc = h.column(f"{s}_accuracy")
                if np.isfinite(acc).any():
                    axes[0].plot(epochs, 100 * acc, style, color=_COLORS[s], marker="o", markersize=3,
                                 label=f"{name}{s}")
        ax = axes[-1]
        for s in _SETS:
            cost = h.column(f"{s}_cost")
            if np.isfinite(cost).any():
                ax.plot(epochs, cost, style, color=_COLORS[s], marker="o", markersize=3, label=f"{name}{s}")
        ax.plot(epochs, h.column("train_cost"), style if len(runs) > 1 else ":", color="0.45",
                label=f"{name}training, during the epoch")
    if has_acc:
        axes[0].set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
        axes[0].grid(alpha=0.3)
        axes[0].legend(fontsize="small")
    axes[-1].set(xlabel="epoch", ylabel="cost (Eq. 6)", title="Cost")
    axes[-1].grid(alpha=0.3)
    axes[-1].legend(fontsize="small")
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
        if mark_epoch is not None:
            ax.axvline(mark_epoch, color="0.3", ls="--", lw=1, label=f"kept: epoch {mark_epoch}")
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    _save(fig, path, dpi)
    return fig


def _image_shape(n_in, shape):
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if math.prod(shape) != n_in:
            raise ValueError(f"shape {shape} does not hold the network's {n_in} inputs")
        return shape
    side = math.isqrt(n_in)
    if side * side != n_in:
        raise ValueError(f"the network's {n_in} inputs are not a square image; pass shape=(rows, cols)")
    return side, side


def _grid(n, max_cols=10):
    cols = min(n, max_cols, max(1, math.ceil(math.sqrt(n))))
    return math.ceil(n / cols), cols


def first_layer_weights(net, *, units=None, shape=None, path=None, dpi=150):
    """The first layer's weights, one image per hidden neuron (what it responds to).

    Neuron ``j``'s incoming weights ``net.weights[0][j]`` are drawn in the shape of the
    input image, red for positive and blue for negative, each neuron scaled to its own
    largest absolute weight (the colours compare pixels within a neuron, not across).

    Parameters
    ----------
    net : Network
    units : int or sequence of int, optional
        Which hidden neurons (default: all; an int ``n`` is the first ``n``).
    shape : (int, int), optional
        Image shape of the inputs (default: square, 28x28 for MNIST).
    path : str or os.PathLike, optional
    dpi : int, default 150

    Returns
    -------
    matplotlib.figure.Figure
        One axes per neuron, titled with its index.

    Raises
    ------
    ValueError
        The inputs are not a square image and no ``shape`` is given; a unit out of range.
    """
    w = np.asarray(net.weights[0])
    n_hidden = w.shape[0]
    if units is None:
        units = range(n_hidden)
    elif isinstance(units, (int, np.integer)) and not isinstance(units, bool):
        units = range(min(int(units), n_hidden))
    units = [int(j) for j in units]
    if not units or any(not 0 <= j < n_hidden for j in units):
        raise ValueError(f"units must name neurons 0..{n_hidden - 1} of the first layer, got {units}")
    img_shape = _image_shape(w.shape[1], shape)
    rows, cols = _grid(len(units))
    fig = _figure(figsize=(1.3 * cols, 1.4 * rows + 0.4))
    for k, j in enumerate(units):
        ax = fig.add_subplot(rows, cols, k + 1)
        image = w[j].reshape(img_shape)
        scale = float(np.max(np.abs(image))) or 1.0
        ax.imshow(image, cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
        ax.set_title(f"{j}", fontsize=8, pad=2)
        ax.set_axis_off()
    fig.suptitle(f"First-layer weights of {'-'.join(map(str, net.sizes))} (red +, blue -)", fontsize=10)
    _save(fig, path, dpi)
    return fig


def _labelled(net, data, name="data"):
    """``(X, labels, predicted)`` from ``(X, y)`` with integer labels or one-hot rows."""
    if not (isinstance(data, tuple) and len(data) == 2):
        raise TypeError(f"{name} must be a pair (X, y), got {type(data).__name__}")
    X, y = data
    predicted = net.predict(X)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == net.sizes[-1]:
        y = np.argmax(y, axis=1)
    if y.shape != predicted.shape:
        raise ValueError(f"{name} y must hold one label per sample ({predicted.shape[0]}), got shape {y.shape}")
    return np.asarray(X), y.astype(np.int64), predicted


def confusion_matrix(net, data, *, normalize=False, path=None, dpi=150):
    """How often each true class is predicted as each class, on ``data``.

    Parameters
    ----------
    net : Network
    data : (X, y)
        ``y`` integer labels or one-hot rows.
    normalize : bool, default False
        Show each row as percent of that true class instead of counts.
    path : str or os.PathLike, optional
    dpi : int, default 150

    Returns
    -------
    matplotlib.figure.Figure
        One axes: the matrix (rows true class, columns predicted), each cell annotated,
        the accuracy in the title.
    """
    _X, y, predicted = _labelled(net, data)
    n_classes = max(net.sizes[-1], 2)
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (y, predicted), 1)
    shown = counts.astype(float)
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        shown = np.divide(100.0 * counts, totals, out=np.zeros_like(shown), where=totals > 0)
    fig = _figure(figsize=(0.55 * n_classes + 2.2, 0.55 * n_classes + 1.6))
    ax = fig.add_subplot()
    ax.imshow(shown, cmap="Blues", interpolation="nearest")
    top = shown.max() or 1.0
    for i in range(n_classes):
        for j in range(n_classes):
            text = f"{shown[i, j]:.0f}" if normalize else f"{counts[i, j]}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7 if n_classes > 6 else 9,
                    color="white" if shown[i, j] > 0.6 * top else "black")
    ax.set_xticks(range(n_classes))
    ax.set_yticks(range(n_classes))
    ax.set(xlabel="predicted", ylabel="true")
    correct = int(np.trace(counts))
    ax.set_title(f"{correct} / {len(y)} correct ({100 * correct / len(y):.2f} %)"
                 + (", row percent" if normalize else ""), fontsize=10)
    _save(fig, path, dpi)
    return fig


def misclassified(net, data, *, n=24, shape=None, path=None, dpi=150):
    """The first ``n`` samples of ``data`` the network gets wrong, as images.

    Parameters
    ----------
    net : Network
    data : (X, y)
        Images as rows of ``X`` (e.g. MNIST's 784 pixels), ``y`` labels or one-hot rows.
    n : int, default 24
        At most this many, in the order of ``data``.
    shape : (int, int), optional
        Image shape (default: square).
    path : str or os.PathLike, optional
    dpi : int, default 150

    Returns
    -------
    matplotlib.figure.Figure
        One axes per digit shown, titled ``true -> predicted`` with the sample's index.
        With no mistake at all, one axes saying so.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    X, y, predicted = _labelled(net, data)
    wrong = np.flatnonzero(predicted != y)
    img_shape = _image_shape(X.shape[1], shape)
    show = wrong[:n]
    if show.size == 0:
        fig = _figure(figsize=(4, 1.5))
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, f"no mistakes on these {len(y)} samples", ha="center", va="center")
        ax.set_axis_off()
        _save(fig, path, dpi)
        return fig
    rows, cols = _grid(show.size, max_cols=8)
    fig = _figure(figsize=(1.25 * cols, 1.45 * rows + 0.4))
    for k, i in enumerate(show):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(X[i].reshape(img_shape), cmap="gray_r", vmin=0, vmax=max(1.0, float(X[i].max())),
                  interpolation="nearest")
        ax.set_title(f"{y[i]} → {predicted[i]}  #{i}", fontsize=8, pad=2, color="tab:red")
        ax.set_axis_off()
    fig.suptitle(f"{wrong.size} of {len(y)} misclassified (true → predicted); the first {show.size}", fontsize=10)
    _save(fig, path, dpi)
    return fig


def chapter1(results, *, path=None, dpi=150):
    """Test accuracy per epoch of each Chapter 1 network experiment, beside the book's numbers.

    Parameters
    ----------
    results : Chapter1Results
        From :func:`fastnn.reproduce_chapter1` (or ``Chapter1Results.from_json``). Each
        network experiment's rows hold every seed's test images correct after each
        epoch.
    path : str or os.PathLike, optional
    dpi : int, default 150

    Returns
    -------
    matplotlib.figure.Figure
        One axes per network experiment (four in the full run): one line per seed, the
        book's numbers as black markers (epoch 0, and epoch 29 when the run is 30 epochs
        long) and dashed lines (peaks over 30 epochs).

    Raises
    ------
    ValueError
        ``results`` holds no network experiment with a per-epoch history.
    """
    experiments = {}
    for row in results.rows:
        if row.history:
            experiments.setdefault(row.experiment, []).append(row)
    if not experiments:
        raise ValueError("results hold no network experiment with a per-epoch history")
    n = len(experiments)
    cols = 2 if n > 1 else 1
    rows_n = math.ceil(n / cols)
    fig = _figure(figsize=(5.2 * cols, 3.6 * rows_n))
    for k, (experiment, rows) in enumerate(experiments.items()):
        ax = fig.add_subplot(rows_n, cols, k + 1)
        first = rows[0]
        n_test = getattr(first, "n_test", None) or 10_000
        for seed, correct in zip(first.seeds, first.history):
            ax.plot(np.arange(len(correct)), 100 * np.asarray(correct) / n_test, lw=1.2, label=f"seed {seed}")
        last = max(len(h) for h in first.history) - 1
        for row in rows:
            if row.book is None:
                continue
            if row.key.endswith("_peak"):
                ax.axhline(row.book, color="black", ls="--", lw=1, label=f"book's peak {row.book:.2f} %")
            elif row.key.endswith("_epoch0"):
                ax.plot([0], [row.book], "kD", markersize=6, label=f"book, epoch 0: {row.book:.2f} %")
            elif row.key.endswith("_final") and last == _BOOK_LAST_EPOCH:  # a shorter run cannot compare
                ax.plot([last], [row.book], "ks", markersize=6, label=f"book, epoch {last}: {row.book:.2f} %")
        ax.set(title=experiment, xlabel="epoch", ylabel="test accuracy (%)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small", ncol=2, framealpha=0.85)
    fig.suptitle(f"Chapter 1 reproduced ({'quick run' if results.quick else 'full run'}; "
                 f"mini-batch {results.settings.get('mini_batch_size', 10)})", fontsize=11)
    _save(fig, path, dpi)
    return fig
