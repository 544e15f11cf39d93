"""The public model: a feedforward network of sigmoid neurons trained by SGD.

This is the thin layer over :mod:`fastnn.kernels`: it checks and converts inputs once, at
the boundary (with :mod:`fastnn.validation`), owns the random generator, allocates, runs
the epoch loop and keeps the history. Saving is :mod:`fastnn.persistence`'s, the threading
policy :mod:`fastnn.parallel`'s, the parameter layout :mod:`fastnn._layout`'s. Everything
follows Chapter 1 of Nielsen, *Neural Networks and Deep Learning*.
"""

import dataclasses
import time

import numba
import numpy as np

from fastnn import _config, _layout, kernels, parallel, persistence, validation
from fastnn._layout import LD
from fastnn.validation import check_dtype, check_eta, check_int, check_n_jobs, check_seed, check_sizes

__all__ = ["EpochResult", "Network", "compile_kernels", "load"]


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


aligned_copy = _layout.aligned_copy  # kept importable from here


def _check_training(epochs, mini_batch_size, eta, n_jobs):
    return (
        check_int(epochs, "epochs", 0),
        check_int(mini_batch_size, "mini_batch_size", 1),
        check_eta(eta),
        check_n_jobs(n_jobs, numba.config.NUMBA_NUM_THREADS, "NUMBA_NUM_THREADS"),
    )


class Network:
    """A feedforward network of sigmoid neurons, trained by stochastic gradient descent.

    The model of Chapter 1 of Nielsen, *Neural Networks and Deep Learning*: layer
    ``l + 1`` computes ``a' = sigmoid(w a + b)`` (Eq. 4), trained on the quadratic cost
    C = 1/(2n) sum_x |y(x) - a|^2 (Eq. 6) by mini-batch SGD (Eq. 20-21). The hot loops
    are Numba kernels (:mod:`fastnn.kernels`); :mod:`fastnn.reference` is the same
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

    def __init__(self, sizes, *, seed=None, dtype="float64"):
        self.sizes = check_sizes(sizes)
        self.dtype = check_dtype(dtype)
        self._rng = np.random.default_rng(check_seed(seed))
        self._sizes = np.array(self.sizes, dtype=np.int64)
        self._layers = _layout.layer_table(self.sizes, _config.ROW_ALIGN)
        self._params = _layout.aligned_copy(np.zeros(_layout.n_params(self._layers), dtype=self.dtype))
        weights, biases = self._views(self._params)
        self._weights, self._biases = tuple(weights), tuple(biases)
        for b in self.biases:
            b[:] = self._rng.standard_normal(b.shape)
        for w in self.weights:
            w[:] = self._rng.standard_normal(w.shape)

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

    def __repr__(self):
        return f"Network(sizes={list(self.sizes)}, dtype='{self.dtype.name}')"

    # -- input conversion (the rules are fastnn.validation's) -------------------------------
    def _inputs(self, X, name="X"):
        """``X`` as a C-contiguous, writable 2-D array of the network's dtype, checked."""
        return validation.check_inputs(X, self.sizes[0], self.dtype, name, stacklevel=4)

    def _targets(self, y, n, name="y"):
        """``(Y, labels)`` of :func:`fastnn.validation.check_targets` for this network."""
        return validation.check_targets(y, n, self.sizes[-1], self.dtype, name)

    def _data(self, data, name):
        """``(X, Y, labels)`` of :func:`fastnn.validation.check_data` for this network."""
        return validation.check_data(data, self.sizes[0], self.sizes[-1], self.dtype, name)

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
        kernels.backprop(self._bundle(), X, Y, grad)
        nabla_w, nabla_b = self._views(grad)
        return [b.copy() for b in nabla_b], [w.copy() for w in nabla_w]

    def update_mini_batch(self, X, y, eta):
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
        eta = check_eta(eta)
        X, Y, _ = self._data((X, y), "mini-batch")
        rows = np.arange(X.shape[0], dtype=np.int64)
        data, indices, indptr = kernels.csr(X)
        cost = kernels.update_mini_batch(self._bundle(), (data, indices, indptr, Y), rows, eta)
        self._check_finite(f"update_mini_batch (eta={eta})")
        return cost / X.shape[0]

    def SGD(self, training_data, epochs, mini_batch_size, eta, test_data=None, *, verbose=True, n_jobs=None):
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
        data = self._training_arrays(training_data, test_data)
        compile_kernels(self.dtype, parallel=self.splits(n_jobs, mini_batch_size))
        return self.train_arrays(data, epochs, mini_batch_size, eta, verbose, n_jobs)

    def _training_arrays(self, training_data, test_data):
        """``(X, Y, inputs, test)``: the checked data in this network's dtype, and the kernels'
        bundle ``inputs = (data, indices, indptr, Y)`` (the CSR form of ``X``, then ``Y``)."""
        X, Y, _ = self._data(training_data, "training_data")
        test = None
        if test_data is not None:
            X_test, _, labels = self._data(test_data, "test_data")
            if labels is None:
                raise ValueError("test_data y must be integer labels or one-hot rows to be evaluated")
            test = (X_test, labels, kernels.csr(X_test))
        data, indices, indptr = kernels.csr(X)  # once per call: each epoch reads it in a new order
        return X, Y, (data, indices, indptr, Y), test

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

    def run_epoch(self, inputs, perm, mini_batch_size, eta, n_jobs, params=None):
        """One epoch on ``params`` (default: this network's) with the kernel ``n_jobs`` picks.

        For package use (the benchmarks' table, ``tools/threads_report.py``): no checks.
        ``inputs`` is the kernels' bundle ``(data, indices, indptr, Y)`` (from
        :meth:`prepare`), ``perm`` the int64 order of the samples, ``n_jobs`` resolved
        (>= 1). Returns the summed training cost.
        """
        net = self._bundle(params)
        if not self.splits(n_jobs, mini_batch_size):
            return kernels.sgd_epoch(net, inputs, perm, mini_batch_size, eta)
        previous = numba.get_num_threads()
        numba.set_num_threads(n_jobs)
        try:
            return kernels.sgd_epoch_parallel(
                net, inputs, perm, mini_batch_size, eta, n_jobs, parallel.min_block(self.dtype)
            )
        finally:
            numba.set_num_threads(previous)

    def prepare(self, training_data, test_data=None):
        """The checked training (and test) data of :meth:`SGD`, with the serial kernels compiled.

        For package use (:func:`fastnn.train_many` converts the data once for many
        networks of this dtype and these input and output sizes); pass the result to
        :meth:`train_arrays`.
        """
        data = self._training_arrays(training_data, test_data)
        compile_kernels(self.dtype)
        return data

    def train_arrays(self, data, epochs, mini_batch_size, eta, verbose, n_jobs=1, prefix=""):
        """:meth:`SGD`'s epoch loop on data from :meth:`prepare`, arguments already checked.

        For package use; ``prefix`` starts each printed line and each error message.
        Returns the list of :class:`EpochResult`.
        """
        X, _, inputs, test = data
        n = X.shape[0]
        history = []
        for j in range(epochs):
            before = self.params.copy()
            t0 = time.perf_counter()
            perm = self._rng.permutation(n)
            cost = self.run_epoch(inputs, perm, mini_batch_size, eta, n_jobs)
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
            correct = self.count_correct(*test) if test is not None else None
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

    def count_correct(self, X, labels, x_csr=None):
        """Inputs of the checked ``X`` (or its CSR form ``x_csr``) whose argmax is ``labels``.

        For package use: :meth:`evaluate` without the checks.
        """
        out = np.empty((X.shape[0], self.sizes[-1]), dtype=self.dtype)
        if x_csr is None:
            kernels.feedforward(self._bundle(), X, out)
        else:
            kernels.feedforward_csr(self._bundle(), x_csr, out)
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
        return self.count_correct(X, labels)

    def cost(self, data):
        """The quadratic cost C = 1/(2n) sum_x |y(x) - a|^2 over ``data``, Eq. (6).

        Parameters
        ----------
        data : (X, y) or iterable of (x, y)

        Returns
        -------
        float
        """
        X, Y, _ = self._data(data, "data")
        out = np.empty_like(Y)
        kernels.feedforward(self._bundle(), X, out)
        return float(0.5 * np.sum((Y - out) ** 2, dtype=np.float64) / X.shape[0])

    def _check_finite(self, where):
        if not np.isfinite(self.params).all():
            raise FloatingPointError(f"the parameters are no longer finite after {where}")

    # -- persistence -------------------------------------------------------------------
    def save(self, path):
        """Write the network to ``path`` as an ``.npz`` file, atomically.

        The file (format: :mod:`fastnn.persistence`) holds ``format_version``, ``sizes``,
        ``dtype`` and ``weights_<l>`` / ``biases_<l>`` in the book's shapes; it is read by
        :func:`fastnn.load` without pickle. It is written to a temporary file in the same directory, flushed to disk
        and renamed over ``path``, so a crash or a concurrent save never leaves a torn
        file. ``path`` is used as given (no suffix is added).

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        pathlib.Path
        """
        return persistence.save(self, path)


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
    fastnn.persistence.ModelFileError
        The file is truncated, corrupt, not an ``.npz``, holds object arrays (pickle is
        never used), or is not a fastnn model of a known format version.
    """
    sizes, dtype, weights, biases = persistence.read(path)
    net = Network(sizes, dtype=dtype)
    net.weights, net.biases = weights, biases
    return net


_compiled = set()


def compile_kernels(dtype="float64", *, parallel=False):
    """Compile (or load from Numba's cache) the training kernels for ``dtype``.

    Runs each kernel :meth:`Network.SGD` uses once on a tiny network (the CSR
    conversion, the epoch, the feedforward of the evaluation), so a later call does not
    pay for compilation; :meth:`Network.feedforward` and :meth:`Network.cost` compile
    theirs on first use. Cheap after the first call in a process.

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
    dt = check_dtype(dtype)
    wanted = [(dt, "serial")] + ([(dt, "parallel")] if parallel else [])
    if all(key in _compiled for key in wanted):
        return 0.0
    t0 = time.perf_counter()
    net = Network([3, 2, 2], seed=0, dtype=dt)
    X = np.zeros((2, 3), dtype=dt)
    Y = np.zeros((2, 2), dtype=dt)
    perm = np.arange(2, dtype=np.int64)
    data, indices, indptr = kernels.csr(X)
    inputs = (data, indices, indptr, Y)
    if (dt, "serial") not in _compiled:
        kernels.sgd_epoch(net._bundle(), inputs, perm, 1, 0.1)
        kernels.feedforward_csr(net._bundle(), (data, indices, indptr), Y)  # the evaluation's
        _compiled.add((dt, "serial"))
    if parallel and (dt, "parallel") not in _compiled:
        kernels.sgd_epoch_parallel(net._bundle(), inputs, perm, 2, 0.1, 2, 1)
        _compiled.add((dt, "parallel"))
    return time.perf_counter() - t0
