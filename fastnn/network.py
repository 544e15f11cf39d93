"""The public model: a feedforward network of sigmoid neurons trained by SGD.

This is the thin layer over :mod:`fastnn.kernels`: it checks and converts inputs once, at
the boundary (with :mod:`fastnn.validation`), owns the random generator, allocates, runs
the epoch loop and keeps the history. Saving is :mod:`fastnn.persistence`'s, the threading
policy :mod:`fastnn.parallel`'s, the parameter layout :mod:`fastnn._layout`'s. Everything
follows Chapter 1 of Nielsen, *Neural Networks and Deep Learning*.
"""

import contextlib
import copy
import threading
import time
from pathlib import Path

import numba
import numpy as np

from fastnn import _config, _layout, kernels, onnx, parallel, persistence, training, validation
from fastnn._layout import LD
from fastnn.data import Dataset, prepare_arrays
from fastnn.training import EpochResult, History, TrainingInterrupted
from fastnn.validation import (
    check_choice,
    check_decay,
    check_dtype,
    check_eta,
    check_int,
    check_lmbda,
    check_n_jobs,
    check_seed,
    check_sizes,
)

__all__ = ["EpochResult", "History", "Network", "TrainingInterrupted", "compile_kernels", "load"]


aligned_copy = _layout.aligned_copy  # kept importable from here

#: The costs ``Network(cost=...)`` takes: Chapter 1's quadratic cost (Eq. 6) and Chapter 3's
#: cross-entropy (Eq. 63), network2's ``QuadraticCost`` and ``CrossEntropyCost``.
COSTS = tuple(kernels.COST_IDS)
#: The initialisations ``Network(init=...)`` takes: Chapter 1's N(0, 1) weights (network2's
#: ``large_weight_initializer``) or N(0, 1/n_in) (its ``default_weight_initializer``);
#: biases N(0, 1) in both.
INITS = ("normal", "scaled")
#: network2.py's JSON ``cost`` (its class name) for each of our costs, and back.
_NETWORK2_COST = {"quadratic": "QuadraticCost", "cross-entropy": "CrossEntropyCost"}
_COST_OF_NETWORK2 = {v: k for k, v in _NETWORK2_COST.items()}


def _check_training(epochs, mini_batch_size, eta, n_jobs):
    return (
        check_int(epochs, "epochs", 0),
        check_int(mini_batch_size, "mini_batch_size", 1),
        check_eta(eta),
        check_n_jobs(n_jobs, numba.config.NUMBA_NUM_THREADS, "NUMBA_NUM_THREADS"),
    )


class _InUse:
    """Who is using a :class:`Network`: readers (feedforward, evaluate, save, ...) share it,
    a trainer (SGD, update_mini_batch) owns it.

    The kernels release the GIL, so two threads really run at once: training while another
    thread reads or trains would mix old and new parameters without any error. Each
    conflict raises RuntimeError at once instead (nothing blocks, so nothing deadlocks);
    the training thread itself may read and write between its steps (callbacks, the
    restore after a divergence).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._readers = 0
        self._trainer = None  # thread ident

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self.__init__()

    @contextlib.contextmanager
    def reading(self, what):
        me = threading.get_ident()
        with self._lock:
            if self._trainer is not None and self._trainer != me:
                raise RuntimeError(
                    f"{what}: the network is being trained in another thread, so its "
                    "parameters are changing; wait for that training to return (or train a "
                    "separate network)"
                )
            counted = self._trainer is None  # the trainer's own reads (callbacks) need no count
            if counted:
                self._readers += 1
        try:
            yield
        finally:
            if counted:
                with self._lock:
                    self._readers -= 1

    @contextlib.contextmanager
    def training(self, what):
        me = threading.get_ident()
        with self._lock:
            if self._trainer is not None and self._trainer != me:
                raise RuntimeError(
                    f"{what}: the network is being trained in another thread; one network trains in one "
                    "thread at a time"
                )
            nested = self._trainer == me  # the trainer itself (a callback restoring parameters)
            if not nested and self._readers:
                raise RuntimeError(
                    f"{what}: the network is being read (feedforward, evaluate, save, ...) in another thread; "
                    "training now would change its parameters under that reader"
                )
            self._trainer = me
        try:
            yield
        finally:
            if not nested:
                with self._lock:
                    self._trainer = None


class Network:
    """A feedforward network of sigmoid neurons, trained by stochastic gradient descent.

    The model of Chapter 1 of Nielsen, *Neural Networks and Deep Learning*: layer
    ``l + 1`` computes ``a' = sigmoid(w a + b)`` (Eq. 4), trained on the quadratic cost
    C = 1/(2n) sum_x |y(x) - a|^2 (Eq. 6) by mini-batch SGD (Eq. 20-21). The hot loops
    are Numba kernels (:mod:`fastnn.kernels`); :mod:`fastnn.reference` is the same
    algorithm in NumPy. Chapter 3's improvements (the book's ``network2.py``) are
    options of the same kernels: ``cost="cross-entropy"``, ``init="scaled"`` and
    ``SGD(..., lmbda=...)``; the defaults are Chapter 1, computed exactly as before.

    Parameters
    ----------
    sizes : sequence of int
        Neurons per layer, input first: ``[784, 30, 10]`` is the book's digit classifier.
        At least two layers, each >= 1.
    cost : {'quadratic', 'cross-entropy'}, default 'quadratic'
        What training minimises and :meth:`cost` reports: the quadratic cost (Eq. 6), or
        the cross-entropy C = -(1/n) sum_x sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)]
        (Chapter 3, Eq. 63), whose output error ``a - y`` has no sigma'(z) (Eq. 66), so
        saturated output neurons still learn.
    init : {'normal', 'scaled'}, default 'normal'
        Initial weights from N(0, 1) (Chapter 1) or from N(0, 1/n_in), ``n_in`` the
        layer's inputs (Chapter 3; network2's default). Biases are N(0, 1) in both.
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
    cost_name : str
        The ``cost`` option (``cost`` itself is the method :meth:`cost`).
    init : str
        The ``init`` option.
    params : ndarray of shape (n_params_padded,)
        Every weight and bias in one C-contiguous buffer, starting on a 64-byte cache
        line (see :func:`fastnn._layout.aligned_copy`). Weight layer ``l`` is stored
        transposed, row ``i`` holding the weights out of input ``i``, each row padded with
        zeros to a multiple of a SIMD-friendly length; see :mod:`fastnn._layout`.
    layers : ndarray of shape (len(sizes) - 1, 6), int64
        Where each layer lives in ``params`` (:func:`fastnn._layout.layer_table`).
    weights : tuple of ndarray
        ``weights[l]`` is a writable view of shape ``(sizes[l+1], sizes[l])`` into
        ``params`` (not contiguous): ``weights[l][j, k]`` is the book's ``w^{l+1}_{jk}``.
        Assigning a whole list (``net.weights = [...]``) copies it in, shapes checked.
    biases : tuple of ndarray
        ``biases[l]`` is a writable view of shape ``(sizes[l+1],)``; likewise.

    Raises
    ------
    TypeError
        ``sizes`` is not a sequence of integers, ``dtype`` is not a dtype, or ``cost`` or
        ``init`` is not a string.
    ValueError
        Fewer than two layers, a size < 1, a dtype other than float32/float64, or an
        unknown ``cost`` or ``init``.

    Notes
    -----
    Initial weights and biases are drawn from N(0, 1), as in the book: all biases,
    layer by layer, then all weights, in float64, then rounded to ``dtype``. With
    ``init="scaled"`` the same draws of the weights are divided by ``sqrt(n_in)``
    (network2's ``np.random.randn(y, x) / np.sqrt(x)``).

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
        self.sizes = check_sizes(sizes)
        self.dtype = check_dtype(dtype)
        self.cost_name = check_choice(cost, "cost", COSTS)
        self.init = check_choice(init, "init", INITS)
        self._rng = np.random.default_rng(check_seed(seed))
        self._sizes = np.array(self.sizes, dtype=np.int64)
        self._layers = _layout.layer_table(self.sizes, _config.ROW_ALIGN)
        n_params = _layout.n_params(self._layers)
        try:
            self._params = _layout.aligned_copy(np.zeros(n_params, dtype=self.dtype))
        except MemoryError:
            raise MemoryError(
                f"sizes {list(self.sizes)} need {n_params:,} {self.dtype.name} parameters "
                f"({n_params * self.dtype.itemsize / 2**30:,.1f} GiB, twice that while they are "
                "set up): more memory than this process can have"
            ) from None
        weights, biases = self._views(self._params)
        self._weights, self._biases = tuple(weights), tuple(biases)
        self._in_use = _InUse()
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
        with self._in_use.training("assigning params"):
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
        with self._in_use.training(f"assigning {name}"):
            for view, value in zip(views, arrays):
                view[...] = value

    # -- layout ------------------------------------------------------------------------
    @property
    def num_layers(self):
        """Number of layers, the input layer included (the book's ``num_layers``)."""
        return len(self.sizes)

    @property
    def layers(self):
        """The layer table of :attr:`params` (:func:`fastnn._layout.layer_table`), read-only."""
        view = self._layers.view()
        view.flags.writeable = False
        return view

    def _views(self, buf):
        return _layout.views(buf, self._layers)

    def _bundle(self, params=None):
        """The kernels' network bundle ``(params, layers)``."""
        return (self._params if params is None else params), self._layers

    def _objective(self, eta=1.0, lmbda=0.0, n=1):
        """The kernels' ``objective`` bundle ``(cost_id, decay)``; ``decay = 1 - eta*lmbda/n``."""
        return kernels.COST_IDS[self.cost_name], (1.0 if not lmbda else check_decay(eta, lmbda, n))

    def _blocked(self, eta=1.0, lmbda=0.0, n=1):
        """Whether the serial epoch walks the first layer in pixel blocks (:func:`compile_kernels`)."""
        return kernels.blocked_pixels(self._layers, self.dtype, self._objective(eta, lmbda, n)) > 0

    def __repr__(self):
        extra = "" if self.cost_name == "quadratic" else f", cost='{self.cost_name}'"
        extra += "" if self.init == "normal" else f", init='{self.init}'"
        return f"Network(sizes={list(self.sizes)}{extra}, dtype='{self.dtype.name}')"

    # -- copies and pickles --------------------------------------------------------------
    # ``weights``/``biases`` are views into ``params``; pickle (and so ``copy``, joblib,
    # Dask) would store them as separate arrays and restore them detached from the buffer,
    # which would then lose its 64-byte alignment. So the views are dropped from the state
    # and rebuilt, into a fresh aligned buffer, on the way back. The generator travels with
    # the state, so a copy continues exactly as its original would.
    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_weights"], state["_biases"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._in_use = _InUse()  # a copy is a new network: nobody trains or reads it yet
        self._params = aligned_copy(self._params)
        weights, biases = self._views(self._params)
        self._weights, self._biases = tuple(weights), tuple(biases)

    def __copy__(self):
        # A shallow copy would share the parameter buffer and the generator: training one
        # network would change the other. A copy of a Network is always a whole new one.
        return self.__deepcopy__({})

    def __deepcopy__(self, memo):
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        new.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return new

    # -- input conversion (the rules are fastnn.validation's) -------------------------------
    def _inputs(self, X, name="X"):
        """``X`` as a C-contiguous, writable 2-D array of the network's dtype, checked."""
        return validation.check_inputs(X, self.sizes[0], self.dtype, name, stacklevel=4)

    def _targets(self, y, n, name="y"):
        """``(Y, labels)`` of :func:`fastnn.validation.check_targets` for this network."""
        return validation.check_targets(y, n, self.sizes[-1], self.dtype, name)

    def _data(self, data, name):
        """``(X, Y, labels)`` of :func:`fastnn.validation.check_data` for this network
        (a :class:`fastnn.Dataset`'s dense ``X``; the kernels' paths use :meth:`_prepared`)."""
        if isinstance(data, Dataset):
            _, Y, labels = data._kernel_data(self.sizes[0], self.sizes[-1], self.dtype, name)
            return np.asarray(data.X, dtype=self.dtype), Y, labels
        return validation.check_data(data, self.sizes[0], self.sizes[-1], self.dtype, name)

    def _prepared(self, data, name, bytes_ok=True):
        """``(x_csr, Y, labels)`` of ``data`` for this network: a :class:`fastnn.Dataset`'s own
        (checked and converted once per network shape and dtype), or raw data's, checked
        and converted now by :func:`fastnn.data.prepare_arrays`.

        ``x_csr`` is ``(data, indices, indptr)``, or ``(codes, indices, indptr, table)`` for
        a Dataset of bytes when ``bytes_ok`` (the kernels read ``table[codes]``).
        """
        if isinstance(data, Dataset):
            return data._kernel_data(self.sizes[0], self.sizes[-1], self.dtype, name, bytes_ok)
        return prepare_arrays(data, self.sizes[0], self.sizes[-1], self.dtype, name, stacklevel=4)

    def _feedforward_inputs(self, x_csr, out):
        """``out[r] = a^L(x_r)`` for every row of ``x_csr`` (as :meth:`_prepared` gives it)."""
        if len(x_csr) == 4:
            kernels.feedforward_csr_bytes(self._bundle(), x_csr[:3], x_csr[3], out)
        else:
            kernels.feedforward_csr(self._bundle(), x_csr, out)

    # -- the book's methods ------------------------------------------------------------
    def feedforward(self, a):
        """Output of the network for input ``a`` (Eq. 4).

        Parameters
        ----------
        a : array_like of shape (n_in,), (n_samples, n_in) or the book's (n_in, 1), or Dataset
            Cast to the network's dtype. A :class:`fastnn.Dataset` gives the outputs of
            all its samples, shape (n_samples, n_out).

        Returns
        -------
        ndarray of shape (n_out,), (n_samples, n_out) or (n_out, 1), the network's dtype

        Raises
        ------
        ValueError
            Wrong shape or number of features, non-finite values; or parameters of the
            network that are not finite (set through the writable views), named by layer
            and index.
        TypeError
            Non-numeric input.
        RuntimeError
            The network is being trained in another thread.

        Warns
        -----
        DataRangeWarning
            Inputs outside [0, 1].
        """
        if isinstance(a, Dataset):
            x_csr, _, _ = self._prepared(a, "a")
            out = np.empty((len(a), self.sizes[-1]), dtype=self.dtype)
            self._feedforward_inputs(x_csr, out)
            return out
        shape = np.shape(a)
        column = len(shape) == 2 and shape == (self.sizes[0], 1) and self.sizes[0] != 1
        X = self._inputs(np.reshape(a, (1, -1)) if column else a, "a")
        out = np.empty((X.shape[0], self.sizes[-1]), dtype=self.dtype)
        with self._in_use.reading("feedforward"):
            self.check_params("feedforward")
            kernels.feedforward(self._bundle(), X, out)
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
        with self._in_use.reading("backprop"):
            self.check_params("backprop")
            kernels.backprop(self._bundle(), X, Y, grad, kernels.COST_IDS[self.cost_name])
        nabla_w, nabla_b = self._views(grad)
        return [b.copy() for b in nabla_b], [w.copy() for w in nabla_w]

    def update_mini_batch(self, X, y, eta, lmbda=0.0, n=None):
        """One gradient-descent step on the mini-batch ``(X, y)``, Eq. (20)-(21).

        ``w <- w - (eta/m) sum_x dC_x/dw``, likewise for ``b``, with ``m = len(X)``. With
        ``lmbda``, network2's ``update_mini_batch(mini_batch, eta, lmbda, n)``:
        ``w <- (1 - eta*lmbda/n) w - (eta/m) sum_x dC_x/dw`` (Chapter 3, Eq. 93); biases
        are not decayed.

        Parameters
        ----------
        X : array_like of shape (m, n_in)
        y : array_like of shape (m,) (int labels) or (m, n_out) (targets)
        eta : float
            Learning rate, > 0.
        lmbda : float, default 0.0
            L2 regularisation parameter, >= 0.
        n : int, optional
            Size of the whole training set (the L2 term is ``lmbda / (2n) sum ||w||^2``);
            default ``m``, the batch being the training set. At least ``m``.

        Returns
        -------
        float
            Mean cost C_x of the batch before the step (without the L2 term).

        Raises
        ------
        TypeError, ValueError
            Invalid arguments; also ``eta * lmbda / n >= 1``.
        """
        eta = check_eta(eta)
        lmbda = check_lmbda(lmbda)
        X, Y, _ = self._data((X, y), "mini-batch")
        n = X.shape[0] if n is None else check_int(n, "n", X.shape[0])
        objective = self._objective(eta, lmbda, n)
        rows = np.arange(X.shape[0], dtype=np.int64)
        data, indices, indptr = kernels.csr(X)
        with self._in_use.training("update_mini_batch"):
            self.check_params("update_mini_batch")
            cost = kernels.update_mini_batch(self._bundle(), (data, indices, indptr, Y), rows, eta, objective)
            self._check_finite(f"update_mini_batch (eta={eta})")
        return cost / X.shape[0]

    def SGD(self, training_data, epochs, mini_batch_size, eta, test_data=None, *, lmbda=0.0, evaluation_data=None,
            monitor=(), callbacks=None, verbose=True, n_jobs=None):
        """Train by mini-batch stochastic gradient descent, the book's ``SGD``.

        Each epoch shuffles the training samples with the network's generator, walks
        them in mini-batches of ``mini_batch_size`` (the last, shorter batch is averaged
        over its own size; 1 is online learning) and applies Eq. (20)-(21) per batch.
        After each epoch the history records what was measured (see ``monitor``) and
        the callbacks run.

        Parameters
        ----------
        training_data : Dataset, (X, y) or iterable of (x, y)
            A :class:`fastnn.Dataset` is checked and converted once, when it is made, so
            the call starts training at once; raw data are checked and converted on
            every call.
            ``X`` of shape (n, n_in); ``y`` int labels (n,) or targets (n, n_out). The
            book's list of ``(x, y)`` pairs (x of shape (n_in, 1), y one-hot (n_out, 1))
            and one-shot iterators such as ``zip`` are accepted and converted once.
        epochs : int
            Number of passes over the training data, >= 0.
        mini_batch_size : int
            Samples per mini-batch ``m``, >= 1; larger than n gives one batch.
        eta : float
            Learning rate, finite and > 0.
        test_data : Dataset, (X, y) or iterable of (x, y), optional
            Its accuracy is measured after every epoch (the book's ``Epoch j: k / n``);
            ``y`` int labels or one-hot rows.
        lmbda : float, default 0.0
            L2 regularisation (network2's ``lmbda``, Chapter 3, Eq. 85-93): before each
            step the weights (not the biases) are scaled by ``1 - eta * lmbda / n``, ``n``
            the number of training samples, which must leave a factor > 0. Inside the
            kernels the scaling is a per-layer factor, not a pass over the weights. The
            monitored costs include the L2 term, as network2's ``total_cost(data, lmbda)``.
        evaluation_data : Dataset, (X, y) or iterable of (x, y), optional
            Held-out data to watch during training (network2's name), e.g. MNIST's
            10,000 validation images; its accuracy is measured after every epoch. Use it,
            not ``test_data``, for early stopping and choosing hyper-parameters.
        monitor : tuple of str, default ()
            What else to measure after each epoch, from
            :data:`fastnn.training.MONITORS`: ``"training_accuracy"``,
            ``"training_cost"``, ``"evaluation_cost"``, ``"test_cost"`` (and the
            accuracies, measured anyway when their data are given). network2's
            ``monitor_evaluation_cost=True`` is ``monitor=("evaluation_cost",)``. Each
            is one pass of the compiled feedforward over data converted once per call;
            ``training_*`` passes over all the training data every epoch.
        callbacks : list of Callback or callable, optional
            Called around every epoch, in order: :class:`fastnn.EarlyStopping`,
            :class:`fastnn.ModelCheckpoint`, :class:`fastnn.ReduceEtaOnPlateau`, or
            functions ``f(net, result)`` whose true return value stops training. A
            callback's ``monitor`` is measured even if ``monitor`` does not list it.
        verbose : bool or {"lines", "bar"}, default True
            True prints one line per epoch (``Epoch j: k / n``, then the monitors, its
            seconds and samples per second) and, when stderr is a terminal, a tqdm
            progress bar over the samples of all epochs under it. ``"lines"``: only
            the lines (for logs); ``"bar"``: only the bar, even if not a terminal;
            False: nothing.
        n_jobs : int, optional
            Threads for each epoch: None or 1 (default) runs the serial kernel; ``n``
            splits every layer of at least 512 units (768 in float32; padded widths)
            over ``n`` of Numba's threads, -1 over all of them
            (``numba.config.NUMBA_NUM_THREADS``); narrower layers, and online learning
            (``mini_batch_size=1``), run on one thread (the rule:
            :func:`fastnn.parallel.splits`; ask :meth:`splits`). The parameters and
            costs are those of ``n_jobs=1`` bit for bit: each thread owns whole units, so
            no sum is split between threads. It pays off only for wide layers on idle
            cores (measurements: docs/performance.md, "Two cores"). To use the cores on
            small networks, train several at once with :func:`fastnn.train_many`. The
            first call that splits a layer compiles the parallel kernel (seconds; cached
            on disk).

        Returns
        -------
        History
            A list of :class:`EpochResult`, one per epoch run (fewer than ``epochs`` if
            a callback stopped training; ``history.stopped_by`` says why).

        Raises
        ------
        TypeError, ValueError
            Invalid arguments, named in the message, before any kernel runs; also a
            monitor (or a callback's) whose data were not given.
        FloatingPointError
            Training diverged (a parameter stopped being finite). The network is restored
            to its parameters from before that epoch.
        TrainingInterrupted
            Ctrl-C: training stops at the next chunk of at most
            :data:`fastnn.training.CHUNK_SAMPLES` samples; an epoch cut short is undone
            (parameters and generator), so the network is at its last whole epoch, and
            the exception's ``history`` holds the epochs done. A ``KeyboardInterrupt``;
            a second Ctrl-C raises one at once.
        ValueError
            Also when the network's parameters are not finite before training (set
            through the writable views); the message names the layer and index.
        RuntimeError
            The network is already being trained, or read, in another thread.

        Notes
        -----
        Threads: one network trains in one thread at a time; training it while another
        thread trains or reads it (``feedforward``, ``evaluate``, ``save``) raises
        RuntimeError at once instead of mixing old and new parameters (the kernels
        release the GIL). Different networks train in parallel freely
        (:func:`fastnn.train_many`). Numba's threading layers have two known hazards for
        ``n_jobs > 1``, both handled by running the serial kernel instead, whose numbers
        are the same bit for bit, with a warning (:func:`fastnn.parallel.parallel_region`):
        GNU OpenMP (the ``omp`` layer built with GCC) kills a process forked after it ran
        a parallel region, and the ``workqueue`` layer aborts when two threads run
        parallel kernels at once.

        The data forms: a ``tuple`` of two is a pair ``(X, y)``; a list (or any other
        iterable) holds the book's ``(x, y)`` samples. A tuple of two 2-element tuples
        or lists could be either; it is read the way that fits the network's shapes,
        and refused (ValueError) when both do (:func:`fastnn.validation.is_xy_pair`).

        Examples
        --------
        >>> import numpy as np
        >>> import fastnn
        >>> rng = np.random.default_rng(0)
        >>> X = rng.random((300, 4)); y = (X[:, 0] > X[:, 1]).astype(int)
        >>> net = fastnn.Network([4, 8, 2], seed=0)
        >>> history = net.SGD((X[:200], y[:200]), 3, 10, 3.0, evaluation_data=(X[200:], y[200:]),
        ...                   monitor=("evaluation_cost",), verbose=False)
        >>> sorted(history.measured())
        ['evaluation_accuracy', 'evaluation_cost']
        """
        epochs, mini_batch_size, eta, n_jobs = _check_training(epochs, mini_batch_size, eta, n_jobs)
        lmbda = check_lmbda(lmbda)
        callbacks = training._callbacks(callbacks)
        training.check_verbose(verbose)
        splits = self.splits(n_jobs, mini_batch_size)  # the split kernel reads values, not bytes
        data = self._training_arrays(training_data, test_data, evaluation_data, monitor, callbacks, not splits)
        self.check_params("SGD")
        check_decay(eta, lmbda, data.n)
        blocked = not splits and self._blocked(eta, lmbda, data.n)  # the split epoch is not blocked
        compile_kernels(self.dtype, parallel=splits, inputs=data.input_kinds(), blocked=blocked)
        stop = threading.Event()
        progress = training.Progress(verbose, epochs * data.n, desc="SGD", epochs=epochs)
        try:
            with training.catch_interrupts(stop):
                history = self.train_arrays(
                    data, epochs, mini_batch_size, eta, callbacks, progress, stop, n_jobs, caller="SGD", lmbda=lmbda
                )
        finally:
            progress.close()
        if history.interrupted:
            raise TrainingInterrupted([history])
        return history

    def _training_arrays(self, training_data, test_data, evaluation_data=None, monitor=(), callbacks=(),
                         bytes_ok=True):
        """The checked data in this network's dtype, each set's CSR form built once: by a
        :class:`fastnn.Dataset` when it was made, for raw data here (see :meth:`_prepared`)."""
        x_csr, Y, labels = self._prepared(training_data, "training_data", bytes_ok)
        sets = {"training": (None, Y, labels, x_csr)}  # each epoch reads the CSR in a new order
        for which, given in (("evaluation", evaluation_data), ("test", test_data)):
            if given is not None:
                x_csr_s, Y_s, labels_s = self._prepared(given, f"{which}_data")
                if labels_s is None:
                    raise ValueError(f"{which}_data y must be integer labels or one-hot rows to be evaluated")
                sets[which] = (None, Y_s, labels_s, x_csr_s)
        wanted = training.check_monitor(monitor, callbacks, "evaluation" in sets, "test" in sets)
        if wanted.get("training", (False,))[0] and labels is None:
            raise ValueError("monitor 'training_accuracy' needs training_data y as integer labels or one-hot rows")
        return _Prepared(Y.shape[0], sets, wanted)

    def _measure(self, prepared, which, accuracy, cost, lmbda=0.0):
        """``(correct, n, cost)`` of the network on a prepared set (None for what is not asked).

        The cost is the network's, with the L2 term of ``lmbda`` (:meth:`cost`).
        """
        _X, Y, labels, x_csr = prepared.sets[which]
        out = np.empty(Y.shape, dtype=self.dtype)
        self._feedforward_inputs(x_csr, out)
        correct = int(np.count_nonzero(np.argmax(out, axis=1) == labels)) if accuracy else None
        if not cost:
            return correct, Y.shape[0], None
        return correct, Y.shape[0], self._cost_of(x_csr, Y, out) + self._l2_term(lmbda, Y.shape[0])

    def _cost_of(self, x_csr, Y, out):
        """The network's mean cost on the prepared inputs ``x_csr`` (:meth:`_prepared`), whose
        outputs are ``out``: the quadratic from the outputs (Eq. 6, as before the cost
        option), the cross-entropy (Eq. 63) by the kernel that works from z."""
        if self.cost_name == "quadratic":
            return _quadratic_cost(out, Y)
        if len(x_csr) == 4:  # bytes: their values (and int32 columns) for the kernel
            codes, indices, indptr, table = x_csr
            x_csr = (table[codes], indices.astype(np.int32), indptr)
        return float(kernels.total_cost_csr(self._bundle(), x_csr, Y, kernels.COST_IDS[self.cost_name]) / Y.shape[0])

    def _l2_term(self, lmbda, n):
        """network2's ``0.5*(lmbda/n)*sum(||w||^2)`` (Chapter 3, Eq. 85), 0.0 without ``lmbda``."""
        if not lmbda:
            return 0.0
        return 0.5 * (lmbda / n) * sum(float(np.sum(np.square(w, dtype=np.float64))) for w in self.weights)

    def splits(self, n_jobs, mini_batch_size):
        """Whether ``SGD(..., mini_batch_size, n_jobs=n_jobs)`` splits a layer over threads.

        Parameters
        ----------
        n_jobs : int
            Threads, >= 1 (-1 and None are resolved by :meth:`SGD` first).
        mini_batch_size : int

        Returns
        -------
        bool
            The rule of :func:`fastnn.parallel.splits` on this network's padded widths.
        """
        return parallel.splits(self._layers[:, LD], n_jobs, mini_batch_size, self.dtype)

    def run_epoch(self, inputs, perm, mini_batch_size, eta, n_jobs, params=None, objective=None):
        """One epoch on ``params`` (default: this network's) with the kernel ``n_jobs`` picks.

        For package use (the benchmarks' table, ``tools/threads_report.py``): no checks.
        ``inputs`` is the kernels' bundle ``(data, indices, indptr, Y)`` (from
        :meth:`prepare`), or ``(codes, indices, indptr, Y, table)`` for a Dataset of bytes
        (serial only: :meth:`SGD` asks for values when it splits), ``perm`` the int64
        order of the samples, ``n_jobs`` resolved (>= 1), ``objective`` the kernels'
        ``(cost_id, decay)`` (default: this network's cost, no weight decay). Returns the
        summed training cost.
        """
        net = self._bundle(params)
        objective = self._objective() if objective is None else objective
        if len(inputs) == 5:
            return kernels.sgd_epoch_bytes(net, inputs[:4], inputs[4], perm, mini_batch_size, eta, objective)
        if not self.splits(n_jobs, mini_batch_size):
            return kernels.sgd_epoch(net, inputs, perm, mini_batch_size, eta, objective)
        with parallel.parallel_region() as parallel_ok:
            if not parallel_ok:  # the serial kernel's numbers are the parallel one's, bit for bit
                return kernels.sgd_epoch(net, inputs, perm, mini_batch_size, eta, objective)
            previous = numba.get_num_threads()
            numba.set_num_threads(n_jobs)
            try:
                return kernels.sgd_epoch_parallel(
                    net, inputs, perm, mini_batch_size, eta, objective, n_jobs, parallel.min_block(self.dtype)
                )
            finally:
                numba.set_num_threads(previous)

    def prepare(self, training_data, test_data=None, evaluation_data=None, monitor=(), callbacks=()):
        """The checked data of :meth:`SGD`, each set's CSR form built once, with the serial
        kernels compiled.

        For package use (:func:`fastnn.train_many` converts the data once for many
        networks of this dtype and these input and output sizes; ``tools/threads_report.py``
        times :meth:`run_epoch` on ``.inputs``); pass the result to :meth:`train_arrays`.
        """
        data = self._training_arrays(training_data, test_data, evaluation_data, monitor, callbacks)
        compile_kernels(self.dtype, inputs=data.input_kinds(), blocked=self._blocked())
        return data

    def train_arrays(
        self, data, epochs, mini_batch_size, eta, callbacks, progress, stop, n_jobs=1, prefix="", caller="train_arrays",
        lmbda=0.0,
    ):
        """:meth:`SGD`'s epoch loop on data from :meth:`prepare`, arguments already checked.

        For package use: :func:`fastnn.training.run_epochs` with this network's kernel,
        generator and monitors; ``progress`` a :class:`fastnn.training.Progress`, ``stop``
        the ``threading.Event`` that Ctrl-C sets; ``prefix`` starts each printed line and
        each error message; ``caller`` names the public call in the RuntimeError raised
        when another thread trains or reads this network (callbacks in this thread may
        read it). Returns the :class:`History`.
        """
        inputs = data.inputs
        with self._in_use.training(caller):
            self.check_params(caller)
            return self._run_epochs(
                data, inputs, epochs, mini_batch_size, eta, callbacks, progress, stop, n_jobs, prefix, lmbda
            )

    def _run_epochs(
        self, data, inputs, epochs, mini_batch_size, eta, callbacks, progress, stop, n_jobs, prefix, lmbda
    ):
        return training.run_epochs(
            self, self._rng, n_samples=data.n, epochs=epochs, mini_batch_size=mini_batch_size, eta=eta,
            train_chunk=lambda perm, eta: self.run_epoch(inputs, perm, mini_batch_size, eta, n_jobs,
                                                         objective=self._objective(eta, lmbda, data.n)),
            measure=lambda which, acc, cost: self._measure(data, which, acc, cost, lmbda),
            sets=data.monitors, callbacks=callbacks, progress=progress, stop=stop, prefix=prefix,
        )

    def count_correct(self, X, labels, x_csr=None):
        """Inputs of the checked ``X`` (or its CSR form ``x_csr``) whose argmax is ``labels``.

        For package use: :meth:`evaluate` without the checks. ``x_csr`` as
        :meth:`_prepared` gives it (``X`` is then unused).
        """
        out = np.empty((len(labels), self.sizes[-1]), dtype=self.dtype)
        if x_csr is None:
            kernels.feedforward(self._bundle(), X, out)
        else:
            self._feedforward_inputs(x_csr, out)
        return int(np.count_nonzero(np.argmax(out, axis=1) == labels))

    def evaluate(self, test_data):
        """Number of test inputs whose output's argmax equals the label.

        Parameters
        ----------
        test_data : Dataset, (X, y) or iterable of (x, y)
            ``y`` int labels of shape (n,) or one-hot rows of shape (n, n_out).

        Returns
        -------
        int
        """
        x_csr, _, labels = self._prepared(test_data, "test_data")
        if labels is None:
            raise ValueError("test_data y must be integer labels or one-hot rows to be evaluated")
        with self._in_use.reading("evaluate"):
            self.check_params("evaluate")
            return self.count_correct(None, labels, x_csr)

    def cost(self, data, lmbda=0.0):
        """The network's cost over ``data``, network2's ``total_cost``.

        Quadratic (``cost="quadratic"``): C = 1/(2n) sum_x |y(x) - a|^2, Eq. (6).
        Cross-entropy: C = -(1/n) sum_x sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)],
        Eq. (63), computed from the output layer's weighted inputs z, so it stays finite
        (and exact) where an output rounds to 0 or 1. ``lmbda`` adds the L2 term
        ``0.5*(lmbda/n) * sum_w ||w||^2`` (Eq. 85-87), ``n`` the number of samples in
        ``data``, as network2 does.

        Parameters
        ----------
        data : Dataset, (X, y) or iterable of (x, y)
        lmbda : float, default 0.0
            Regularisation parameter, >= 0.

        Returns
        -------
        float
        """
        lmbda = check_lmbda(lmbda)
        x_csr, Y, _ = self._prepared(data, "data")
        out = np.empty(Y.shape, dtype=self.dtype)
        with self._in_use.reading("cost"):
            self.check_params("cost")
            self._feedforward_inputs(x_csr, out)
            cost = self._cost_of(x_csr, Y, out)
        return cost + self._l2_term(lmbda, Y.shape[0])

    def predict(self, X):
        """Class labels: the index of the most active output neuron, as :meth:`evaluate` counts.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_in) or (n_in,)

        Returns
        -------
        ndarray of shape (n_samples,), int64, or an int64 scalar for one sample of shape
        (n_in,)
            ``argmax(feedforward(X), axis=1)``; with a single output neuron, 1 where its
            activation is >= 0.5 and 0 elsewhere.

        Raises
        ------
        TypeError, ValueError, RuntimeError
            As :meth:`feedforward` (non-finite parameters, training in another thread).
        """
        out = self._outputs(X, "predict")
        if self.sizes[-1] == 1:
            labels = (out[:, 0] >= 0.5).astype(np.int64)
        else:
            labels = np.argmax(out, axis=1).astype(np.int64)
        return labels[0] if not isinstance(X, Dataset) and np.ndim(X) == 1 else labels

    def predict_proba(self, X):
        """The output activations normalised to sum to 1 per sample.

        These are not calibrated probabilities: the network was trained on the
        quadratic cost (Eq. 6) with independent sigmoid outputs, not on a likelihood,
        so the numbers rank the classes as :meth:`predict` does but are not the
        frequencies with which the predictions are right. With a single output neuron
        ``a``, the columns are ``1 - a`` and ``a``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_in) or (n_in,)

        Returns
        -------
        ndarray of shape (n_samples, n_classes) or (n_classes,), the network's dtype
            Rows sum to 1 (up to rounding); ``n_classes`` is ``sizes[-1]``, or 2 for one
            output neuron.
        """
        out = self._outputs(X, "predict_proba")
        if self.sizes[-1] == 1:
            out = np.concatenate([1 - out, out], axis=1)
        total = out.sum(axis=1, keepdims=True)
        proba = np.divide(out, total, out=np.full_like(out, 1 / out.shape[1]), where=total > 0)
        return proba[0] if not isinstance(X, Dataset) and np.ndim(X) == 1 else proba

    def _outputs(self, X, what):
        if isinstance(X, Dataset):
            with self._in_use.reading(what):
                self.check_params(what)
                return self.feedforward(X)
        X = self._inputs(X, "X")
        out = np.empty((X.shape[0], self.sizes[-1]), dtype=self.dtype)
        with self._in_use.reading(what):
            self.check_params(what)
            kernels.feedforward(self._bundle(), X, out)
        return out

    def _check_finite(self, where):
        if not np.isfinite(self.params).all():
            raise FloatingPointError(f"the parameters are no longer finite after {where}")

    def check_params(self, where):
        """Raise ValueError naming the first non-finite parameter (layer and index), if any.

        For package use: every public method that runs a kernel or writes a file calls it
        first, ``where`` naming that method in the message. Non-finite parameters come
        only from writes through the views (:attr:`weights`, :attr:`biases`,
        :attr:`params`): a diverged :meth:`SGD` restores the network.
        """
        if np.isfinite(self._params).all():
            return
        for l, (w, b) in enumerate(zip(self._weights, self._biases)):
            for label, arr in ((f"weights[{l}]", w), (f"biases[{l}]", b)):
                bad = np.argwhere(~np.isfinite(arr))
                if bad.size:
                    index = tuple(int(i) for i in bad[0])
                    raise ValueError(
                        f"{where}: the network's parameters are not finite: {label}"
                        f"[{', '.join(map(str, index))}] = {arr[index]} (layer {l}; {len(bad)} "
                        f"non-finite value(s) in {label}). Set finite values through net.weights "
                        "and net.biases, or load a saved network."
                    )
        i = int(np.flatnonzero(~np.isfinite(self._params))[0])
        raise ValueError(
            f"{where}: the network's parameters are not finite: net.params[{i}] = {self._params[i]}, "
            "in the zero padding between rows, which must stay 0"
        )

    # -- persistence -------------------------------------------------------------------
    def save(self, path):
        """Write the network to ``path`` as an ``.npz`` file, atomically.

        The file (format: :mod:`fastnn.persistence`) holds ``format_version``, ``sizes``,
        ``dtype``, ``cost``, ``init``, ``weights_<l>`` / ``biases_<l>`` in the book's shapes and
        ``rng_state``, the generator's state as JSON text, so that the loaded network
        shuffles its next epochs exactly as this one would have; it is read by
        :func:`fastnn.load` without pickle. It is written to a temporary file in the same
        directory, flushed to disk and renamed over ``path``, so a crash or a concurrent
        save never leaves a torn file. ``path`` is used as given (no suffix is added).

        A path ending in ``.json`` is written in network2.py's JSON format instead
        (``sizes``, ``weights``, ``biases`` as column vectors, ``cost``: ``CrossEntropyCost`` for
        ``cost='cross-entropy'``; the book's
        Chapter 3 code reads it with ``network2.load``): values as float64, exactly; no
        dtype and no generator state.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        pathlib.Path

        Raises
        ------
        ValueError
            The parameters are not finite (:func:`fastnn.load` would refuse the file); the
            message names the layer and index. Nothing is written.
        OSError
            The file cannot be written (the old one, if any, is left as it was).
        RuntimeError
            The network is being trained in another thread.
        """
        with self._in_use.reading("save"):
            self.check_params("save")  # load refuses non-finite parameters: never write them
            if Path(path).suffix.lower() == ".json":
                return persistence.save_json(path, self.sizes, self.weights, self.biases,
                                             cost=_NETWORK2_COST[self.cost_name])
            return persistence.save(self, path, generator=self._rng)

    def to_onnx(self, path=None, *, dtype="float32"):
        """Export to ONNX (Gemm + Sigmoid per layer, opset 13); see :func:`fastnn.onnx.to_onnx`.

        Needs ``pip install "fastnn[onnx]"``.

        Returns
        -------
        onnx.ModelProto
        """
        return onnx.to_onnx(self, path, dtype=dtype)


class _Prepared:
    """Data converted once per training call: ``sets[name] = (X, Y, labels, x_csr)`` for
    ``"training"``, ``"evaluation"``, ``"test"``; ``monitors`` from
    :func:`fastnn.training.check_monitor`; ``n`` training samples; ``inputs`` the kernels'
    bundle ``(data, indices, indptr, Y)`` of the training data, or ``(codes, indices,
    indptr, Y, table)`` for a Dataset of bytes. ``X`` is None: the kernels read ``x_csr``
    (:meth:`Network._prepared`)."""

    def __init__(self, n, sets, monitors):
        self.n, self.sets, self.monitors = n, sets, monitors
        _X, Y, _labels, x_csr = sets["training"]
        self.inputs = (*x_csr[:3], Y, *x_csr[3:])

    def input_kinds(self):
        """``'bytes'``, ``'values'`` or ``'both'``: what the sets' kernels read (:func:`compile_kernels`)."""
        kinds = {"bytes" if len(x_csr) == 4 else "values" for _X, _Y, _labels, x_csr in self.sets.values()}
        return kinds.pop() if len(kinds) == 1 else "both"


def _quadratic_cost(out, Y):
    """C = 1/(2n) sum_x |y(x) - a|^2 (Eq. 6), summed in float64."""
    return float(0.5 * np.sum((Y - out) ** 2, dtype=np.float64) / Y.shape[0])


def load(path):
    """Read a network written by :meth:`Network.save`, or a network2.py JSON file.

    Parameters
    ----------
    path : str or os.PathLike
        An ``.npz`` written by :meth:`Network.save`, or (by the suffix ``.json``) a
        model saved by the book's ``network2.py`` (``{"sizes", "weights", "biases",
        "cost"}``, biases as column vectors), read as a float64 network with a fresh
        generator. The JSON file's size is checked before it is parsed and its declared
        ``sizes`` against every array before a network is allocated.

    Returns
    -------
    Network
        With the saved generator state, so that training continues exactly as the saved
        network's would have. Files written before fastnn saved it (no ``rng_state``
        entry) load with a fresh, unseeded generator.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    fastnn.persistence.ModelFileError
        The file is truncated, corrupt, not an ``.npz``, holds object arrays (pickle is
        never used), unknown members, shapes that disagree with ``sizes`` or with its
        bytes, non-finite parameters, or is not a fastnn model of a known format
        version (its cost is bounded by the file: see :func:`fastnn.persistence.read_model`); for JSON: too
        large, not JSON, or not network2's layout (the message names the entry).

    Notes
    -----
    A network2 file's ``cost`` gives the network's: ``CrossEntropyCost`` loads as
    ``cost="cross-entropy"``, ``QuadraticCost`` as ``"quadratic"``.
    """
    if Path(path).suffix.lower() == ".json":
        sizes, weights, biases, cost = persistence.read_json(path)
        net = Network(sizes, cost=_COST_OF_NETWORK2[cost])
        net.weights, net.biases = weights, biases
        return net
    model = persistence.read_model(path)
    net = Network(model.sizes, dtype=model.dtype, **model.options)
    net.weights, net.biases = model.weights, model.biases
    if model.generator is not None:
        net._rng = model.generator
    return net


_compiled = set()


def compile_kernels(dtype="float64", *, parallel=False, inputs="both", blocked=False):
    """Compile (or load from Numba's cache) the training kernels for ``dtype``.

    Runs each kernel :meth:`Network.SGD` uses once on a tiny network (building the
    inputs' index, the epoch, the feedforward of the evaluation), so a later call does
    not pay for compilation; :meth:`Network.feedforward` on raw arrays, :meth:`Network.cost`
    and :meth:`Network.backprop` compile theirs on first use. Cheap after the first call
    in a process. :meth:`Network.SGD` calls it with what its data needs.

    Parameters
    ----------
    dtype : {'float64', 'float32'}
    parallel : bool, default False
        Also the parallel epoch kernel of ``Network.SGD(n_jobs > 1)`` (seconds more the
        first time; :meth:`Network.SGD` asks for it when it will split a layer). It reads
        values: ``inputs='bytes'`` compiles the values' kernels too when it is set.
    inputs : {'both', 'bytes', 'values'}, default 'both'
        The kernels of which data: ``'bytes'`` for a :class:`fastnn.Dataset` of uint8
        images (what :func:`fastnn.load_mnist` returns, so all that ``fastnn train``
        needs), ``'values'`` for float data (raw arrays, a Dataset of floats), or both.
    blocked : bool, default False
        Also the serial epoch of those inputs for a wide first layer, walked in blocks of
        pixels (:func:`fastnn.kernels.sgd.blocked_pixels`; :meth:`Network.SGD` asks for it
        when its network has one).

    Returns
    -------
    float
        Seconds spent, 0.0 if already compiled in this process.

    Raises
    ------
    ValueError
        For an unknown ``dtype`` or ``inputs``.
    """
    dt = check_dtype(dtype)
    if inputs not in _INPUT_KINDS:
        raise ValueError(f"inputs must be one of {sorted(_INPUT_KINDS)}, got {inputs!r}")
    wanted = _INPUT_KINDS[inputs] | ({"values", "parallel"} if parallel else set())
    if blocked:
        wanted |= {f"{kind}-blocked" for kind in _INPUT_KINDS[inputs]}
    if all((dt, kind) in _compiled for kind in wanted):
        return 0.0
    with _compile_lock:  # one thread compiles; the others then find the kernels ready
        return _compile_kernels(dt, wanted)


_INPUT_KINDS = {"both": {"bytes", "values"}, "bytes": {"bytes"}, "values": {"values"}}
_compile_lock = threading.Lock()


def _compile_kernels(dt, wanted):
    kinds = ("bytes", "values", "parallel", "bytes-blocked", "values-blocked")
    wanted = [kind for kind in kinds if kind in wanted and (dt, kind) not in _compiled]
    t0 = time.perf_counter()
    net = Network([3, 2, 2], seed=0, dtype=dt)
    Y = np.zeros((2, 2), dtype=dt)
    perm = np.arange(2, dtype=np.int64)
    # Two samples without non-zero inputs, in the arrays' types the data sets hold (built here:
    # the kernels that build them compile when a data set is made, for its arrays' layout).
    indptr = np.zeros(3, np.int64)
    values = (np.zeros(0, dt), np.zeros(0, np.int32), indptr, Y)
    codes, table = (np.zeros(0, np.uint8), np.zeros(0, np.uint16), indptr, Y), np.zeros(256, dt)
    for kind in wanted:
        source, _, blocked = kind.partition("-")  # "bytes", "values-blocked", ...
        pixels_per_block = 1 if blocked else 0  # 1: the blocked epoch whatever the layer's size
        if source == "bytes":
            kernels.sgd_epoch_bytes(net._bundle(), codes, table, perm, 1, 0.1, net._objective(),
                                    pixels_per_block=pixels_per_block)
            if not blocked:
                kernels.feedforward_csr_bytes(net._bundle(), codes[:3], table, Y)
        elif source == "values":
            kernels.sgd_epoch(net._bundle(), values, perm, 1, 0.1, net._objective(), pixels_per_block=pixels_per_block)
            if not blocked:
                kernels.feedforward_csr(net._bundle(), values[:3], Y)
        else:
            with parallel.parallel_region() as parallel_ok:
                if not parallel_ok:  # the serial kernel runs instead (see parallel.parallel_region)
                    continue
                kernels.sgd_epoch_parallel(net._bundle(), values, perm, 2, 0.1, net._objective(), 2, 1)
        _compiled.add((dt, kind))
    return time.perf_counter() - t0
