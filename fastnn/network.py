"""The public model: a feedforward network of sigmoid neurons trained by SGD.

This is the thin layer over :mod:`fastnn._kernels`: it validates and converts inputs once,
at the boundary, owns the random generator, allocates, runs the epoch loop and keeps the
history. Everything follows Chapter 1 of Nielsen, *Neural Networks and Deep Learning*.
"""

import dataclasses
import numbers
import os
import time
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import numba
import numpy as np

from fastnn import _config, _kernels
from fastnn._io import atomic_write

__all__ = ["Network", "EpochResult", "load", "train_many", "compile_kernels", "DataRangeWarning", "ModelFileError"]

#: Version of the ``.npz`` layout written by :meth:`Network.save`.
FORMAT_VERSION = 1
_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


class DataRangeWarning(UserWarning):
    """Inputs outside [0, 1]: legal, but usually pixels left unscaled (0..255)."""


class ModelFileError(ValueError):
    """A model file that :func:`load` cannot read: truncated, corrupt or not fastnn's."""


@dataclasses.dataclass(frozen=True)
class EpochResult:
    """What one epoch of :meth:`Network.SGD` did.

    Attributes
    ----------
    epoch : int
        Zero-based epoch number, as the book prints it.
    test_correct : int or None
        Test inputs classified correctly after the epoch (None without ``test_data``).
    n_test : int or None
        Number of test inputs.
    train_cost : float
        Mean quadratic cost C_x = |y - a|^2 / 2 (Eq. 6) over the epoch's training samples,
        each evaluated by the forward pass that trained on it.
    seconds : float
        Wall time of the training pass (shuffle and kernel), in seconds.
    samples_per_second : float
        Training samples per second of ``seconds``.
    eval_seconds : float
        Wall time of the evaluation on ``test_data``, in seconds (0 without it).
    """

    epoch: int
    test_correct: int | None
    n_test: int | None
    train_cost: float
    seconds: float
    samples_per_second: float
    eval_seconds: float

    @property
    def accuracy(self):
        """Test accuracy in [0, 1], or None without test data."""
        if not self.n_test:
            return None
        return self.test_correct / self.n_test

    def as_dict(self):
        """The fields as a plain ``dict`` (for JSON)."""
        return dataclasses.asdict(self)


def _layout(sizes, align):
    """Offsets of each layer's (padded, transposed) weights and biases in the flat buffer."""
    offsets = [0]
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        ld = -(-n_out // align) * align
        offsets.append(offsets[-1] + n_in * ld)
        offsets.append(offsets[-1] + ld)
    return np.array(offsets, dtype=np.int64)


def aligned_copy(a):
    """A 1-D copy of ``a`` whose first element starts a 64-byte cache line.

    The kernels load whole 512-bit vectors from the parameter buffer; NumPy aligns to
    16 bytes only, and an unaligned buffer made an epoch 12-38 % slower on this
    project's machine (each vector load touched two cache lines).
    """
    a = np.asarray(a)
    align = _kernels._ALIGN // a.itemsize
    buf = np.empty(a.size + align, a.dtype)
    start = (-buf.ctypes.data) % _kernels._ALIGN // a.itemsize
    out = buf[start : start + a.size]
    out[:] = a.reshape(-1)
    return out


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_n_jobs(n_jobs, limit, what, name="n_jobs"):
    """``n_jobs`` as a thread count in ``1..limit``: None is 1, -1 is ``limit``."""
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral):
        raise TypeError(f"{name} must be None or an integer, got {n_jobs!r} of type {type(n_jobs).__name__}")
    if n_jobs == -1:
        return limit
    if not 1 <= n_jobs <= limit:
        raise ValueError(f"{name} must be -1 or between 1 and {limit} ({what}), got {n_jobs}")
    return int(n_jobs)


def _check_training(epochs, mini_batch_size, eta, n_jobs):
    return (
        _check_int(epochs, "epochs", 0),
        _check_int(mini_batch_size, "mini_batch_size", 1),
        _check_eta(eta),
        _check_n_jobs(n_jobs, numba.config.NUMBA_NUM_THREADS, "NUMBA_NUM_THREADS"),
    )


def _check_eta(eta):
    if isinstance(eta, bool) or not isinstance(eta, numbers.Real):
        raise TypeError(f"eta must be a real number, got {eta!r} of type {type(eta).__name__}")
    eta = float(eta)
    if not np.isfinite(eta) or eta <= 0:
        raise ValueError(f"eta must be a finite number > 0, got {eta}")
    return eta


#: The costs ``Network(cost=...)`` takes, and their codes in the kernels.
COSTS = {"quadratic": _kernels.QUADRATIC, "cross-entropy": _kernels.CROSS_ENTROPY}
#: The initialisations ``Network(init=...)`` takes: Chapter 1's N(0, 1) weights, or
#: network2's N(0, 1/n_in) (its ``default_weight_initializer``); biases N(0, 1) in both.
INITS = ("normal", "scaled")


def _check_choice(value, name, choices):
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {list(choices)}, got {value!r} of type {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def _check_lmbda(lmbda):
    if isinstance(lmbda, bool) or not isinstance(lmbda, numbers.Real):
        raise TypeError(f"lmbda must be a real number, got {lmbda!r} of type {type(lmbda).__name__}")
    lmbda = float(lmbda)
    if not np.isfinite(lmbda) or lmbda < 0:
        raise ValueError(f"lmbda must be a finite number >= 0, got {lmbda}")
    return lmbda


def _decay(eta, lmbda, n):
    """network2's weight decay factor ``1 - eta * (lmbda / n)``; must be > 0."""
    decay = 1 - eta * (lmbda / n)
    if not decay > 0:
        raise ValueError(
            f"eta * lmbda / n must be < 1 (the weights are scaled by 1 - eta*lmbda/n each step), "
            f"got eta={eta}, lmbda={lmbda}, n={n} training samples"
        )
    return decay


def _check_seed(seed):
    if seed is None or isinstance(seed, (np.random.SeedSequence, np.random.Generator)):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"seed must be None, a non-negative integer, a numpy SeedSequence or Generator, "
            f"got {seed!r} of type {type(seed).__name__}"
        )
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return int(seed)


def _check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from exc
    if dt not in _DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dt.name!r}")
    return dt


def _check_sizes(sizes):
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"sizes must be a sequence of layer sizes such as [784, 30, 10], got {sizes!r}")
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes must name at least two layers (input and output), got {sizes}")
    for l, n in enumerate(sizes):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError(f"sizes[{l}] must be an integer, got {n!r} in sizes={sizes}")
        if n < 1:
            raise ValueError(f"sizes[{l}] must be >= 1, got {n} in sizes={sizes}")
    return tuple(int(n) for n in sizes)


def _is_xy_pair(data):
    """True for ``(X, y)``; False for the book's sequence of ``(x, y)`` samples."""
    if not isinstance(data, tuple) or len(data) != 2:
        return False
    first = data[0]
    return not (isinstance(first, tuple) and len(first) == 2)


class Network:
    """A feedforward network of sigmoid neurons, trained by stochastic gradient descent.

    The model of Chapter 1 of Nielsen, *Neural Networks and Deep Learning*: layer
    ``l + 1`` computes ``a' = sigmoid(w a + b)`` (Eq. 4), trained on the quadratic cost
    C = 1/(2n) sum_x |y(x) - a|^2 (Eq. 6) by mini-batch SGD (Eq. 20-21). The hot loops
    are Numba kernels (:mod:`fastnn._kernels`); :mod:`fastnn.reference` is the same
    algorithm in NumPy.

    Parameters
    ----------
    sizes : sequence of int
        Neurons per layer, input first: ``[784, 30, 10]`` is the book's digit classifier.
        At least two layers, each >= 1.
    seed : int, numpy.random.SeedSequence or None, default None
        Seeds the network's ``numpy.random.Generator``, which draws the initial
        parameters and every epoch's shuffle. The same seed gives bit-identical
        parameters after training.
    dtype : {'float64', 'float32'}, default 'float64'
        Floating type of the parameters and of the arithmetic.

    Attributes
    ----------
    sizes : tuple of int
    dtype : numpy.dtype
    params : ndarray of shape (n_params_padded,)
        Every weight and bias in one C-contiguous buffer, starting on a 64-byte cache
        line (see :func:`aligned_copy`). Weight layer ``l`` is stored
        transposed, row ``i`` holding the weights out of input ``i``, each row padded with
        zeros to a multiple of a SIMD-friendly length; see :mod:`fastnn._kernels`.
    weights : tuple of ndarray
        ``weights[l]`` is a writable view of shape ``(sizes[l+1], sizes[l])`` into
        ``params`` (not contiguous): ``weights[l][j, k]`` is the book's ``w^{l+1}_{jk}``.
        Assigning a whole list (``net.weights = [...]``) copies it in, shapes checked.
    biases : tuple of ndarray
        ``biases[l]`` is a writable view of shape ``(sizes[l+1],)``; likewise.

    Raises
    ------
    TypeError
        ``sizes`` is not a sequence of integers, or ``dtype`` is not a dtype.
    ValueError
        Fewer than two layers, a size < 1, or a dtype other than float32/float64.

    Notes
    -----
    Initial weights and biases are drawn from N(0, 1), as in the book: all biases,
    layer by layer, then all weights, in float64, then rounded to ``dtype``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastnn
    >>> net = fastnn.Network([2, 3, 1], seed=0)
    >>> net.weights[0].shape, net.biases[1].shape
    ((3, 2), (1,))
    >>> net.feedforward(np.array([0.5, 0.25])).shape
    (1,)
    """

    def __init__(self, sizes, *, cost="quadratic", init="normal", seed=None, dtype="float64"):
        self.sizes = _check_sizes(sizes)
        self.dtype = _check_dtype(dtype)
        self.cost_name = _check_choice(cost, "cost", COSTS)
        self.init = _check_choice(init, "init", INITS)
        self._cost_id = COSTS[self.cost_name]
        self._rng = np.random.default_rng(_check_seed(seed))
        self._sizes = np.array(self.sizes, dtype=np.int64)
        self._offsets = _layout(self.sizes, _config.ROW_ALIGN)
        self._params = aligned_copy(np.zeros(self._offsets[-1], dtype=self.dtype))
        weights, biases = self._views(self._params)
        self._weights, self._biases = tuple(weights), tuple(biases)
        for b in self.biases:
            b[:] = self._rng.standard_normal(b.shape)
        for w in self.weights:
            w[:] = self._rng.standard_normal(w.shape)
            if self.init == "scaled":
                w /= np.sqrt(w.shape[1])  # network2: np.random.randn(y, x) / np.sqrt(x)

    @property
    def params(self):
        """The parameter buffer (see the class docstring); assigning copies values into it."""
        return self._params

    @params.setter
    def params(self, values):
        values = np.asarray(values)
        if values.shape != self._params.shape:
            raise ValueError(
                f"params must have shape {self._params.shape} (this network's padded layout), "
                f"got {values.shape}"
            )
        if not np.isfinite(values).all():
            raise ValueError("params must be finite")
        self._params[...] = values  # one buffer for ever: weights and biases stay views of it

    @property
    def weights(self):
        """Tuple of writable views ``weights[l]`` of shape ``(sizes[l+1], sizes[l])``.

        Write into a view (``net.weights[0][...] = w``) or assign a whole sequence
        (``net.weights = [w0, w1]``, copied into :attr:`params` after its shapes are
        checked); the tuple itself cannot be changed item by item.
        """
        return self._weights

    @weights.setter
    def weights(self, values):
        self._assign(self._weights, values, "weights")

    @property
    def biases(self):
        """Tuple of writable views ``biases[l]`` of shape ``(sizes[l+1],)``; see :attr:`weights`."""
        return self._biases

    @biases.setter
    def biases(self, values):
        self._assign(self._biases, values, "biases")

    def _assign(self, views, values, name):
        values = list(values)
        if len(values) != len(views):
            raise ValueError(f"{name} must hold {len(views)} arrays, one per layer, got {len(values)}")
        arrays = []
        for l, (view, value) in enumerate(zip(views, values)):
            value = np.asarray(value, dtype=float)
            if view.ndim == 1 and value.shape == (view.shape[0], 1):
                value = value[:, 0]  # the book's (n, 1) bias columns
            if value.shape != view.shape:
                raise ValueError(f"{name}[{l}] must have shape {view.shape}, got {value.shape}")
            if not np.isfinite(value).all():
                raise ValueError(f"{name}[{l}] must be finite")
            arrays.append(value)
        for view, value in zip(views, arrays):
            view[...] = value

    # -- layout ------------------------------------------------------------------------
    @property
    def num_layers(self):
        """Number of layers, the input layer included (the book's ``num_layers``)."""
        return len(self.sizes)

    def _views(self, buf):
        weights, biases = [], []
        for l, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            w0, b0, end = self._offsets[2 * l : 2 * l + 3]
            ld = (b0 - w0) // n_in
            weights.append(buf[w0:b0].reshape(n_in, ld)[:, :n_out].T)
            biases.append(buf[b0 : b0 + n_out])
        return weights, biases

    def __repr__(self):
        extra = "" if self.cost_name == "quadratic" else f", cost='{self.cost_name}'"
        extra += "" if self.init == "normal" else f", init='{self.init}'"
        return f"Network(sizes={list(self.sizes)}{extra}, dtype='{self.dtype.name}')"

    # -- input conversion --------------------------------------------------------------
    def _inputs(self, X, name="X"):
        """``X`` as a C-contiguous, writable 2-D array of the network's dtype, checked."""
        try:
            arr = np.asarray(X)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(f"{name} must be a rectangular array: {exc}") from None
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
        ):
            raise TypeError(f"{name} must hold numbers, got an array of dtype {arr.dtype}")
        if np.issubdtype(arr.dtype, np.complexfloating):
            raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
        if arr.ndim == 1:
            arr = arr[np.newaxis, :]
        if arr.ndim != 2:
            raise ValueError(
                f"{name} must have shape (n_samples, {self.sizes[0]}) or ({self.sizes[0]},), "
                f"got shape {np.shape(X)}"
            )
        if arr.shape[1] != self.sizes[0]:
            raise ValueError(
                f"{name} has {arr.shape[1]} features, the network expects {self.sizes[0]} "
                f"(sizes[0]); got shape {np.shape(X)}"
            )
        arr = np.require(arr, dtype=self.dtype, requirements=["C", "W"])
        if not np.isfinite(arr).all():
            bad = np.argwhere(~np.isfinite(arr))[0]
            raise ValueError(f"{name} must be finite, got {arr[tuple(bad)]} at {name}[{bad[0]}, {bad[1]}]")
        if arr.size:
            lo, hi = float(arr.min()), float(arr.max())
            if lo < 0 or hi > 1:
                warnings.warn(
                    f"{name} has values in [{lo:g}, {hi:g}], outside [0, 1]. If these are "
                    "pixel intensities left in 0..255, divide by 255: unscaled inputs drive "
                    "the sigmoid neurons into saturation and SGD stalls.",
                    DataRangeWarning,
                    stacklevel=3,
                )
        return arr

    def _targets(self, y, n, name="y"):
        """``(Y, labels)``: targets of shape (n, n_out) in the network's dtype, and int labels.

        ``y`` may be integer labels of shape (n,) (one-hot encoded here) or targets of
        shape (n, n_out). ``labels`` is None for targets that are not one-hot.
        """
        n_out = self.sizes[-1]
        arr = np.asarray(y)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise TypeError(f"{name} must hold numbers, got an array of dtype {arr.dtype}")
        if arr.ndim == 2 and arr.shape[1] == 1 and n_out != 1:
            arr = arr[:, 0]
        if len(arr) != n:
            raise ValueError(f"X and {name} must have the same length, got {n} and {len(arr)}")
        if arr.ndim == 1:
            if arr.dtype == np.bool_:
                raise TypeError(f"{name} must hold integer class labels, got booleans (dtype bool)")
            if not np.issubdtype(arr.dtype, np.integer):
                if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
                    arr = arr.astype(np.int64)
                else:
                    bad = int(np.flatnonzero(~np.isfinite(arr) | (arr != np.round(arr)))[0]) if arr.size else 0
                    raise TypeError(
                        f"{name} of shape ({n},) must hold integer class labels, got "
                        f"{name}[{bad}] = {arr[bad]} (dtype {arr.dtype}); pass targets of "
                        f"shape ({n}, {n_out}) for real-valued outputs"
                    )
            bad = np.flatnonzero((arr < 0) | (arr >= n_out))
            if bad.size:
                i = int(bad[0])
                raise ValueError(
                    f"{name}[{i}] = {arr[i]} is not a label of a network with {n_out} outputs: "
                    f"labels must be integers in 0..{n_out - 1}"
                )
            labels = arr.astype(np.int64)
            Y = np.zeros((n, n_out), dtype=self.dtype)
            Y[np.arange(n), labels] = 1
            return Y, labels
        if arr.ndim == 2 and arr.shape[1] == n_out:
            Y = np.require(arr, dtype=self.dtype, requirements=["C", "W"])
            if not np.isfinite(Y).all():
                i = int(np.argwhere(~np.isfinite(Y))[0][0])
                raise ValueError(f"{name} must be finite, got a non-finite target at {name}[{i}]")
            one_hot = np.all((Y == 0) | (Y == 1), axis=1) & (Y.sum(axis=1) == 1)
            labels = np.argmax(Y, axis=1).astype(np.int64) if one_hot.all() else None
            return Y, labels
        raise ValueError(
            f"{name} must be integer labels of shape ({n},) or targets of shape ({n}, {n_out}), "
            f"got shape {np.shape(y)}"
        )

    def _data(self, data, name):
        """``(X, Y, labels)`` from ``(X, y)`` or from the book's iterable of ``(x, y)`` samples.

        One-shot iterators (``zip``, generators) are materialised once, here.
        """
        if _is_xy_pair(data):
            X_raw, y_raw = data
        else:
            if isinstance(data, np.ndarray) or not hasattr(data, "__iter__"):
                raise TypeError(
                    f"{name} must be a pair (X, y) of arrays or an iterable of (x, y) samples, "
                    f"got {type(data).__name__}"
                )
            samples = list(data)
            for i, sample in enumerate(samples):
                if not (isinstance(sample, (tuple, list)) and len(sample) == 2):
                    raise TypeError(f"{name}[{i}] must be an (x, y) pair, got {type(sample).__name__}")
            n_in = self.sizes[0]
            xs = []
            for i, (x, _) in enumerate(samples):
                x = np.asarray(x)
                if x.shape not in {(n_in,), (n_in, 1), (1, n_in)}:
                    raise ValueError(
                        f"{name}[{i}]: x must have shape ({n_in},) or the book's ({n_in}, 1), "
                        f"got {x.shape}"
                    )
                xs.append(x.reshape(-1))
            X_raw = np.array(xs).reshape(len(xs), self.sizes[0])
            ys = [np.asarray(y) for _, y in samples]
            if self.sizes[-1] != 1 and all(y.size == 1 for y in ys):  # int labels
                y_raw = np.array([y.reshape(()) for y in ys])
            else:  # one-hot or target vectors, e.g. of shape (n_out, 1)
                y_raw = np.array([y.reshape(-1) for y in ys]).reshape(len(ys), -1)
        X = self._inputs(X_raw, f"{name} X")
        if X.shape[0] == 0:
            raise ValueError(f"{name} is empty: it must hold at least one sample")
        Y, labels = self._targets(y_raw, X.shape[0], f"{name} y")
        return X, Y, labels

    # -- the book's methods ------------------------------------------------------------
    def feedforward(self, a):
        """Output of the network for input ``a`` (Eq. 4).

        Parameters
        ----------
        a : array_like of shape (n_in,), (n_samples, n_in) or the book's (n_in, 1)
            Cast to the network's dtype.

        Returns
        -------
        ndarray of shape (n_out,), (n_samples, n_out) or (n_out, 1), the network's dtype

        Raises
        ------
        ValueError
            Wrong shape or number of features, non-finite values.
        TypeError
            Non-numeric input.

        Warns
        -----
        DataRangeWarning
            Inputs outside [0, 1].
        """
        shape = np.shape(a)
        column = len(shape) == 2 and shape == (self.sizes[0], 1) and self.sizes[0] != 1
        X = self._inputs(np.reshape(a, (1, -1)) if column else a, "a")
        out = np.empty((X.shape[0], self.sizes[-1]), dtype=self.dtype)
        _kernels._feedforward(self.params, self._sizes, self._offsets, X, out)
        if column:
            return out.reshape(-1, 1)  # the book's column vector in, column vector out
        return out[0] if len(shape) == 1 else out

    def backprop(self, x, y):
        """Gradient of the cost C_x = |y - a|^2 / 2 (Eq. 6) for one sample.

        Parameters
        ----------
        x : array_like of shape (n_in,)
        y : int or array_like of shape (n_out,)
            A class label or the target output.

        Returns
        -------
        nabla_b : list of ndarray
            dC_x/db, shaped like :attr:`biases`.
        nabla_w : list of ndarray
            dC_x/dw, shaped like :attr:`weights`.
        """
        x = np.asarray(x)
        if x.ndim == 2 and x.shape[1] == 1:  # the book's column vector
            x = x[:, 0]
        if x.ndim != 1:
            raise ValueError(f"x must have shape ({self.sizes[0]},) for one sample, got shape {x.shape}")
        y = np.asarray(y)
        y = y.reshape(1) if y.size == 1 and self.sizes[-1] != 1 else y.reshape(1, -1)
        X = self._inputs(x, "x")
        Y, _ = self._targets(y, 1, "y")
        grad = np.empty_like(self.params)
        _kernels._backprop(self.params, self._sizes, self._offsets, X, Y, grad, self._cost_id)
        nabla_w, nabla_b = self._views(grad)
        return [b.copy() for b in nabla_b], [w.copy() for w in nabla_w]

    def update_mini_batch(self, X, y, eta, lmbda=0.0, n=None):
        """One gradient-descent step on the mini-batch ``(X, y)``, Eq. (20)-(21).

        ``w <- w - (eta/m) sum_x dC_x/dw``, likewise for ``b``, with ``m = len(X)``.

        Parameters
        ----------
        X : array_like of shape (m, n_in)
        y : array_like of shape (m,) (int labels) or (m, n_out) (targets)
        eta : float
            Learning rate, > 0.

        Returns
        -------
        float
            Mean cost C_x of the batch before the step.
        """
        eta = _check_eta(eta)
        lmbda = _check_lmbda(lmbda)
        X, Y, _ = self._data((X, y), "mini-batch")
        n = X.shape[0] if n is None else _check_int(n, "n", X.shape[0])
        decay = _decay(eta, lmbda, n)
        rows = np.arange(X.shape[0], dtype=np.int64)
        cost = _kernels._update_mini_batch(
            self.params, self._sizes, self._offsets, *_kernels._csr(X), Y, rows, eta, self._cost_id, decay
        )
        self._check_finite(f"update_mini_batch (eta={eta})")
        return cost / X.shape[0]

    def SGD(self, training_data, epochs, mini_batch_size, eta, test_data=None, *, lmbda=0.0, verbose=True, n_jobs=None):
        """Train by mini-batch stochastic gradient descent, the book's ``SGD``.

        Each epoch shuffles the training samples with the network's generator, walks
        them in mini-batches of ``mini_batch_size`` (the last, shorter batch is averaged
        over its own size; 1 is online learning) and applies Eq. (20)-(21) per batch.

        Parameters
        ----------
        training_data : (X, y) or iterable of (x, y)
            ``X`` of shape (n, n_in); ``y`` int labels (n,) or targets (n, n_out). The
            book's list of ``(x, y)`` pairs (x of shape (n_in, 1), y one-hot (n_out, 1))
            and one-shot iterators such as ``zip`` are accepted and converted once.
        epochs : int
            Number of passes over the training data, >= 0.
        mini_batch_size : int
            Samples per mini-batch ``m``, >= 1; larger than n gives one batch.
        eta : float
            Learning rate, finite and > 0.
        test_data : (X, y) or iterable of (x, y), optional
            Evaluated after every epoch; ``y`` int labels or one-hot rows.
        verbose : bool, default True
            Print ``Epoch j: k / n`` (or ``Epoch j complete``) after each epoch, with
            its seconds and samples per second.
        n_jobs : int, optional
            Threads for each epoch: None or 1 (default) runs the serial kernel; ``n``
            splits every layer of at least 512 units (768 in float32; padded widths)
            over ``n`` of Numba's threads, -1 over all of them
            (``numba.config.NUMBA_NUM_THREADS``); narrower layers, and online learning
            (``mini_batch_size=1``), run on one thread. The parameters and costs are
            those of ``n_jobs=1`` bit for bit: each thread owns whole units, so no sum
            is split between threads. Pays off only for wide layers and idle cores (on
            this project's two-core machine an epoch of 784-1000-10 at m = 10 ran 1.8x
            faster, 784-600-10 1.3x; narrower layers ran slower; with another busy
            process on the machine, OpenMP's spinning threads made epochs many times
            slower: see docs/performance.md). To use the cores on small networks, train
            several at once with :func:`train_many`. The first call that splits a
            layer compiles the parallel kernel (seconds; cached on disk).

        Returns
        -------
        list of EpochResult
            One per epoch.

        Raises
        ------
        TypeError, ValueError
            Invalid arguments, named in the message, before any kernel runs.
        FloatingPointError
            Training diverged (a parameter stopped being finite). The network is restored
            to its parameters from before that epoch.
        """
        epochs, mini_batch_size, eta, n_jobs = _check_training(epochs, mini_batch_size, eta, n_jobs)
        lmbda = _check_lmbda(lmbda)
        data = self._training_arrays(training_data, test_data)
        decay = _decay(eta, lmbda, data[0].shape[0])
        compile_kernels(self.dtype, parallel=self._splits(n_jobs, mini_batch_size))
        return self._train(data, epochs, mini_batch_size, eta, verbose, n_jobs, decay=decay)

    def _training_arrays(self, training_data, test_data):
        """``(X, Y, csr, test)``: the checked data in this network's dtype, and its CSR form."""
        X, Y, _ = self._data(training_data, "training_data")
        test = None
        if test_data is not None:
            X_test, _, labels = self._data(test_data, "test_data")
            if labels is None:
                raise ValueError("test_data y must be integer labels or one-hot rows to be evaluated")
            test = (X_test, labels, _kernels._csr(X_test))
        return X, Y, _kernels._csr(X), test  # the CSR once per call: each epoch reads it in a new order

    def _splits(self, n_jobs, mini_batch_size):
        """Whether ``SGD(n_jobs=n_jobs)`` splits a layer over threads: m > 1 and a layer of at
        least ``2 * _kernels._min_block(itemsize)`` (padded) units.

        The one place this is decided. At m = 1 two fork-joins per sample cost what the
        second core saved here: 784-1000-10 took 3.98 s on two threads against 4.01 s on
        one, 784-600-10 2.78 s against 2.13 s (docs/performance.md).
        """
        if n_jobs == 1 or mini_batch_size == 1:
            return False
        min_block = _kernels._min_block(self.dtype.itemsize)
        return any(
            _kernels._n_blocks((self._offsets[2 * l + 1] - self._offsets[2 * l]) // n_in, n_jobs, min_block) > 1
            for l, n_in in enumerate(self.sizes[:-1])
        )

    def _epoch(self, csr, Y, perm, mini_batch_size, eta, n_jobs, params=None, decay=1.0):
        """One epoch on ``params`` (default: this network's) with the kernel ``n_jobs`` picks."""
        params = self._params if params is None else params
        if not self._splits(n_jobs, mini_batch_size):
            return _kernels._sgd_epoch(
                params, self._sizes, self._offsets, *csr, Y, perm, mini_batch_size, eta, self._cost_id, decay
            )
        previous = numba.get_num_threads()
        numba.set_num_threads(n_jobs)
        try:
            return _kernels._sgd_epoch_parallel(
                params, self._sizes, self._offsets, *csr, Y, perm, mini_batch_size, eta, self._cost_id, decay,
                n_jobs, _kernels._min_block(self.dtype.itemsize),
            )
        finally:
            numba.set_num_threads(previous)

    def _train(self, data, epochs, mini_batch_size, eta, verbose, n_jobs=1, prefix="", decay=1.0):
        X, Y, csr, test = data
        n = X.shape[0]
        history = []
        for j in range(epochs):
            before = self.params.copy()
            t0 = time.perf_counter()
            perm = self._rng.permutation(n)
            cost = self._epoch(csr, Y, perm, mini_batch_size, eta, n_jobs, decay=decay)
            seconds = time.perf_counter() - t0
            if not np.isfinite(self.params).all():
                self.params[:] = before
                raise FloatingPointError(
                    f"{prefix}training diverged in epoch {j}: the parameters are no longer finite with "
                    f"eta={eta}, mini_batch_size={mini_batch_size}. The network was restored to "
                    "its parameters from before that epoch. Lower eta, and check that X is "
                    "scaled to [0, 1]."
                )
            t1 = time.perf_counter()
            correct = self._count_correct(*test) if test is not None else None
            eval_seconds = time.perf_counter() - t1
            result = EpochResult(
                epoch=j,
                test_correct=correct,
                n_test=None if test is None else len(test[1]),
                train_cost=cost / n,
                seconds=seconds,
                samples_per_second=n / seconds if seconds > 0 else float("inf"),
                eval_seconds=eval_seconds,
            )
            history.append(result)
            if verbose:
                print(prefix + _format_epoch(result), flush=True)
        return history

    def _count_correct(self, X, labels, csr=None):
        out = np.empty((X.shape[0], self.sizes[-1]), dtype=self.dtype)
        if csr is None:
            _kernels._feedforward(self.params, self._sizes, self._offsets, X, out)
        else:
            _kernels._feedforward_csr(self.params, self._sizes, self._offsets, *csr, out)
        return int(np.count_nonzero(np.argmax(out, axis=1) == labels))

    def evaluate(self, test_data):
        """Number of test inputs whose output's argmax equals the label.

        Parameters
        ----------
        test_data : (X, y) or iterable of (x, y)
            ``y`` int labels of shape (n,) or one-hot rows of shape (n, n_out).

        Returns
        -------
        int
        """
        X, _, labels = self._data(test_data, "test_data")
        if labels is None:
            raise ValueError("test_data y must be integer labels or one-hot rows to be evaluated")
        return self._count_correct(X, labels)

    def cost(self, data, lmbda=0.0):
        """The network's cost over ``data``, network2's ``total_cost``.

        Quadratic (``cost="quadratic"``): C = 1/(2n) sum_x |y(x) - a|^2, Eq. (6).
        Cross-entropy: C = -(1/n) sum_x sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)], Eq. (63),
        computed from the output layer's weighted inputs z, so it stays finite (and exact)
        where an output rounds to 0 or 1. ``lmbda`` adds the L2 term ``0.5*(lmbda/n) *
        sum_w ||w||^2`` (Eq. 85-87), with ``n`` the number of samples in ``data`` as in
        network2.

        Parameters
        ----------
        data : (X, y) or iterable of (x, y)
        lmbda : float, default 0.0
            Regularisation parameter, >= 0.

        Returns
        -------
        float
        """
        lmbda = _check_lmbda(lmbda)
        X, Y, _ = self._data(data, "data")
        if self._cost_id == _kernels.QUADRATIC:  # Chapter 1's expression, as before the option
            out = np.empty_like(Y)
            _kernels._feedforward(self.params, self._sizes, self._offsets, X, out)
            cost = float(0.5 * np.sum((Y - out) ** 2, dtype=np.float64) / X.shape[0])
        else:
            cost = float(_kernels._total_cost(self.params, self._sizes, self._offsets, X, Y, self._cost_id) / X.shape[0])
        if lmbda:
            cost += 0.5 * (lmbda / X.shape[0]) * sum(float(np.sum(np.square(w, dtype=np.float64))) for w in self.weights)
        return cost

    def _check_finite(self, where):
        if not np.isfinite(self.params).all():
            raise FloatingPointError(f"the parameters are no longer finite after {where}")

    # -- persistence -------------------------------------------------------------------
    def save(self, path):
        """Write the network to ``path`` as an ``.npz`` file, atomically.

        The file holds ``format_version``, ``sizes``, ``dtype`` and ``weights_<l>`` /
        ``biases_<l>`` in the book's shapes; it is read by :func:`fastnn.load` without
        pickle. It is written to a temporary file in the same directory, flushed to disk
        and renamed over ``path``, so a crash or a concurrent save never leaves a torn
        file. ``path`` is used as given (no suffix is added).

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        pathlib.Path
        """
        path = Path(path)
        arrays = {
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "sizes": self._sizes.copy(),
            "dtype": np.array(self.dtype.name),
        }
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            arrays[f"weights_{l}"] = np.ascontiguousarray(w)
            arrays[f"biases_{l}"] = np.ascontiguousarray(b)
        with atomic_write(path) as (f, _):
            np.savez(f, **arrays)
        return path


def _format_epoch(result):
    if result.test_correct is None:
        head = f"Epoch {result.epoch} complete"
    else:
        head = f"Epoch {result.epoch}: {result.test_correct} / {result.n_test}"
    return f"{head}  ({result.seconds:.3f} s, {result.samples_per_second:,.0f} samples/s)"


def load(path):
    """Read a network written by :meth:`Network.save`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Network

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        The file is truncated, corrupt, not an ``.npz``, holds object arrays (pickle is
        never used), or is not a fastnn model of a known format version.
    """
    path = Path(path)
    with open(path, "rb") as f:  # our handle: np.load leaks its own when parsing fails
        try:
            npz = np.load(f, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ModelFileError(f"{path}: a single .npy array, not a fastnn model (.npz archive)")
            with npz:
                arrays = {key: npz[key] for key in npz.files}
        except ModelFileError:
            raise
        except Exception as exc:  # zipfile, zlib and numpy raise many kinds on corrupt input
            cause = f"{type(exc).__name__}: {exc}"
            if "pickle" in str(exc):
                cause = "it holds pickled Python objects, which fastnn never loads"
            raise ModelFileError(f"{path}: not a readable fastnn model file ({cause})") from exc
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):
            raise ModelFileError(f"{path}: entry {key!r} is not a NumPy array")
    if "format_version" not in arrays:
        raise ModelFileError(f"{path}: not a fastnn model file (no 'format_version' entry)")
    try:
        version = int(arrays["format_version"])
        sizes = [int(n) for n in np.asarray(arrays["sizes"]).reshape(-1)]
        dtype = str(arrays["dtype"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: malformed fastnn model file ({exc})") from exc
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {version} is not supported (this fastnn reads {FORMAT_VERSION})")
    try:
        net = Network(sizes, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: invalid model header: {exc}") from exc
    for l, (w, b) in enumerate(zip(net.weights, net.biases)):
        for key, target in ((f"weights_{l}", w), (f"biases_{l}", b)):
            if key not in arrays:
                raise ModelFileError(f"{path}: missing entry {key!r}")
            value = arrays[key]
            if value.shape != target.shape or not np.issubdtype(value.dtype, np.floating):
                raise ModelFileError(
                    f"{path}: entry {key!r} has shape {value.shape} and dtype {value.dtype}, "
                    f"expected shape {target.shape} floating"
                )
            if not np.isfinite(value).all():
                raise ModelFileError(f"{path}: entry {key!r} holds non-finite values")
            target[...] = value
    return net


def _usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def train_many(networks, training_data, epochs, mini_batch_size, eta, test_data=None, *, lmbda=0.0, n_jobs=-1,
               verbose=False):
    """Train several networks at once on one data set, one network per thread.

    Each network is trained exactly as ``net.SGD(training_data, epochs,
    mini_batch_size, eta, test_data)`` alone would train it, with its own generator,
    so the results do not depend on ``n_jobs`` or on which thread ran which network
    (nothing is shared between them but the read-only data). The kernels release the
    GIL; the data are converted once for all. Use it for seeds, learning rates or layer
    sizes side by side: on this project's two-core machine two 784-100-10 networks
    trained 1.7x faster at once than one after the other, two 784-30-10 networks 1.4x
    (docs/performance.md).

    Parameters
    ----------
    networks : sequence of Network
        Distinct networks of one dtype, one input size and one output size; any
        hidden layers, costs and initialisations. Trained in place.
    training_data, epochs, mini_batch_size, eta, test_data, lmbda
        As in :meth:`Network.SGD`.
    n_jobs : int or None, default -1
        Threads: -1 is every core this process may use (``os.sched_getaffinity``),
        None is 1, else 1 up to that number. Never more threads than networks.
    verbose : bool, default False
        Print each epoch's line as :meth:`Network.SGD` does, prefixed with
        ``[network i]``.

    Returns
    -------
    list of list of EpochResult
        ``histories[i]`` is ``networks[i]``'s, one result per epoch.

    Raises
    ------
    TypeError, ValueError
        Invalid arguments (the networks included), named in the message, before any
        training starts.
    FloatingPointError
        A network diverged: it is restored to its parameters from before that epoch
        (see :meth:`Network.SGD`); the others finish their epochs first. The error of
        the first such network in ``networks`` is raised, naming it.

    Examples
    --------
    >>> import numpy as np
    >>> import fastnn
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((100, 4)); y = (X[:, 0] > X[:, 1]).astype(int)
    >>> nets = [fastnn.Network([4, 8, 2], seed=s) for s in range(3)]
    >>> histories = fastnn.train_many(nets, (X, y), 2, 10, 3.0, test_data=(X, y))
    >>> [len(h) for h in histories]
    [2, 2, 2]
    """
    if isinstance(networks, Network) or not isinstance(networks, Iterable):
        raise TypeError(
            f"networks must be a sequence of fastnn.Network, got {type(networks).__name__}"
            + (" (wrap one network in a list)" if isinstance(networks, Network) else "")
        )
    networks = list(networks)
    if not networks:
        raise ValueError("networks must hold at least one Network")
    for i, net in enumerate(networks):
        if not isinstance(net, Network):
            raise TypeError(f"networks[{i}] must be a fastnn.Network, got {type(net).__name__}")
    if len({id(net) for net in networks}) != len(networks):
        raise ValueError("networks must not hold one Network twice: two threads would update one buffer")
    first = networks[0]
    for i, net in enumerate(networks):
        if (net.dtype, net.sizes[0], net.sizes[-1]) != (first.dtype, first.sizes[0], first.sizes[-1]):
            raise ValueError(
                f"networks[{i}] has dtype {net.dtype.name} and sizes {list(net.sizes)}; every network "
                f"must share networks[0]'s dtype ({first.dtype.name}), input size ({first.sizes[0]}) "
                f"and output size ({first.sizes[-1]}) to train on one data set"
            )
    epochs, mini_batch_size, eta, _ = _check_training(epochs, mini_batch_size, eta, None)
    lmbda = _check_lmbda(lmbda)
    n_jobs = _check_n_jobs(n_jobs, _usable_cores(), "the cores this process may use")
    data = first._training_arrays(training_data, test_data)
    decay = _decay(eta, lmbda, data[0].shape[0])
    compile_kernels(first.dtype)

    def train(i):
        return networks[i]._train(data, epochs, mini_batch_size, eta, verbose, prefix=f"[network {i}] ", decay=decay)

    with ThreadPoolExecutor(max_workers=min(n_jobs, len(networks)), thread_name_prefix="fastnn") as pool:
        futures = [pool.submit(train, i) for i in range(len(networks))]
        wait(futures)
    for future in futures:
        if future.exception() is not None:
            raise future.exception()
    return [future.result() for future in futures]


_compiled = set()


def compile_kernels(dtype="float64", *, parallel=False):
    """Compile (or load from Numba's cache) the training kernels for ``dtype``.

    Runs each kernel once on a tiny network, so a later call does not pay for
    compilation. Cheap after the first call in a process.

    Parameters
    ----------
    dtype : {'float64', 'float32'}
    parallel : bool, default False
        Also the parallel epoch kernel of ``Network.SGD(n_jobs > 1)`` (seconds more the
        first time; :meth:`Network.SGD` asks for it when it will split a layer).

    Returns
    -------
    float
        Seconds spent, 0.0 if already compiled in this process.
    """
    dt = _check_dtype(dtype)
    wanted = [(dt, "serial")] + ([(dt, "parallel")] if parallel else [])
    if all(key in _compiled for key in wanted):
        return 0.0
    t0 = time.perf_counter()
    net = Network([3, 2, 2], seed=0, dtype=dt)
    X = np.zeros((2, 3), dtype=dt)
    Y = np.zeros((2, 2), dtype=dt)
    perm = np.arange(2, dtype=np.int64)
    csr = _kernels._csr(X)
    if (dt, "serial") not in _compiled:
        _kernels._sgd_epoch(net.params, net._sizes, net._offsets, *csr, Y, perm, 1, 0.1, _kernels.QUADRATIC, 1.0)
        _kernels._feedforward_csr(net.params, net._sizes, net._offsets, *csr, Y)
        _kernels._feedforward(net.params, net._sizes, net._offsets, X, Y)
        _compiled.add((dt, "serial"))
    if parallel and (dt, "parallel") not in _compiled:
        _kernels._sgd_epoch_parallel(net.params, net._sizes, net._offsets, *csr, Y, perm, 2, 0.1, _kernels.QUADRATIC, 1.0,
                                     2, 1)
        _compiled.add((dt, "parallel"))
    return time.perf_counter() - t0
