"""Prepared data sets: checked once, kept in the form the kernels read.

A call of :meth:`fastnn.Network.SGD` on raw arrays checks them and builds the CSR index
of their non-zero inputs every time. A :class:`Dataset` does that once, in one compiled
pass over ``X`` (:mod:`fastnn.kernels.prepare`), and keeps the result: every later
``SGD``, ``evaluate``, ``cost`` or ``feedforward`` on it starts the kernels at once.
Images of bytes stay bytes (uint8, 1/8 of float64), in memory and in a pickle.
"""

import numbers
import warnings

import numpy as np

from fastnn import validation
from fastnn.kernels import prepare as _prepare

__all__ = ["Dataset", "prepare_arrays", "bytes_csr", "float_csr"]

_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))
_STATE_VERSION = 1


_HEAD = 256  # rows counted first, to size the arrays of a float X


def _column_type(n_features):
    """Columns of a Dataset of bytes: uint16 when they fit (half of int32; the kernels
    widen them as they decode each mini-batch)."""
    return np.dtype(np.uint16) if n_features <= 1 << 16 else np.dtype(np.int32)


def bytes_csr(X, index_dtype=np.int32):
    """``(data, indices, indptr)`` of the uint8 2-D ``X``, ``data`` the bytes themselves.

    Counted first (a byte per entry: the second read is cheap), so the arrays are
    allocated once, at their size. ``indices`` are of ``index_dtype`` (int32 or uint16).
    """
    X = np.ascontiguousarray(X)
    indptr = np.zeros(X.shape[0] + 1, np.int64)
    _prepare.count_bytes(X, indptr)
    data = np.empty(indptr[-1] + 1, np.uint8)  # + 1: the branch-free stores' spare slot
    indices = np.empty(indptr[-1] + 1, index_dtype)
    _prepare.fill_bytes(X, data, indices)
    return data[:-1], indices[:-1], indptr


def float_csr(X, dtype):
    """``(data, indices, indptr, bad, outside)`` of the float 2-D ``X`` cast to ``dtype``.

    One pass over ``X`` (:func:`fastnn.kernels.prepare.fill_values`): the arrays start
    at the size the first rows' density predicts, 1/32 more and a row, grow by half when
    that is short (rare: MNIST's first 256 images hold 1.7 % fewer non-zeros per image
    than the 50,000), and are copied to their size when more than 1/16 is unused.
    ``bad`` is the flat index of the first non-finite value (the arrays are then
    incomplete) or -1; ``outside`` counts the values outside [0, 1].
    """
    n, n_in = X.shape
    head = np.count_nonzero(X[:_HEAD])
    cap = n_in + 1 + (head * n + head * n // 32) // max(min(n, _HEAD), 1)
    data, indices = np.empty(cap, dtype), np.empty(cap, np.int32)
    indptr = np.zeros(n + 1, np.int64)
    r, outside = 0, 0
    while True:
        r, bad, more = _prepare.fill_values(X, data, indices, indptr, r)
        outside += more
        if bad >= 0 or r == n:
            break
        cap = max(indptr[r] + n_in + 1, cap + cap // 2)
        data, indices = np.resize(data, cap), np.resize(indices, cap)
    k = indptr[r]
    if bad < 0 and cap - k > k // 16 + n_in + 1:
        return data[:k].copy(), indices[:k].copy(), indptr, bad, outside
    return data[:k], indices[:k], indptr, bad, outside


def _values_csr(arr, dtype, name, stacklevel):
    """The CSR arrays of the real 2-D ``arr`` cast to ``dtype``, checked in the same pass.

    Raises the errors and warns the warning of ``check_inputs`` (finite values; [0, 1]).
    """
    if arr.dtype not in _FLOATS:  # ints, bools, float16: converted, as check_inputs does
        arr = arr.astype(dtype)
    elif not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    data, indices, indptr, bad, outside = float_csr(arr, dtype)
    if bad >= 0:
        r, c = divmod(int(bad), arr.shape[1])
        with np.errstate(over="ignore"):  # float64 beyond float32's range: inf, reported here
            value = dtype.type(arr[r, c])
        raise validation.nonfinite_error(name, value, r, c)
    if outside:
        validation.warn_range(name, float(dtype.type(arr.min())), float(dtype.type(arr.max())), stacklevel + 1)
    return data, indices, indptr


def prepare_arrays(data, n_in, n_out, dtype, name, stacklevel=3):
    """``(csr, Y, labels)`` of raw training or test data, checked as the network checks it.

    The per-call path of :meth:`fastnn.Network.SGD` and friends for ``(X, y)`` pairs and
    the book's lists of ``(x, y)`` samples: the rules and messages are
    ``fastnn.validation.check_data``'s, the finite and range checks and the CSR build one
    compiled pass. ``csr`` is ``(data, indices, indptr)`` in ``dtype``.
    """
    X_raw, y_raw = validation.data_arrays(data, n_in, n_out, name)
    arr = validation.input_array(X_raw, n_in, f"{name} X")
    csr = _values_csr(arr, dtype, f"{name} X", stacklevel + 1)
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: it must hold at least one sample")
    Y, labels = validation.check_targets(y_raw, arr.shape[0], n_out, dtype, f"{name} y")
    return csr, Y, labels


def _readonly(a):
    a.flags.writeable = False
    return a


def _value_table(dtype):
    """``table[b] = b / 255`` in ``dtype``: exactly the value of ``X / 255`` for a byte b."""
    return np.arange(256, dtype=dtype) / dtype.type(255)


class Dataset:
    """Training, test or evaluation data, checked once and kept in the form the kernels read.

    Pass it wherever :class:`fastnn.Network` takes data (``SGD``'s ``training_data`` and
    ``test_data``, ``evaluate``, ``cost``, ``feedforward``, :func:`fastnn.train_many`),
    for networks of either dtype. It holds the non-zero inputs in compressed sparse row
    form (values, columns, row starts), built and checked in one compiled pass, so
    a call on it does no conversion: a loop of ``SGD(ds, epochs=1)`` costs what its
    epochs cost. It unpacks as ``X, y = ds`` like the book's pairs.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        ``uint8``: pixel intensities 0..255, read as ``X / 255`` (the value of each byte
        is exactly ``numpy.float64(b) / 255``, or float32's) and stored as bytes, 1/8 of
        float64. Any other real dtype: the values as given, which must be finite; stored
        in ``dtype`` (by default float32 and float64 keep theirs, the rest become
        float64).
    y : array_like of shape (n_samples,) or (n_samples, n_outputs)
        Integer class labels >= 0 (integral floats are accepted), or target rows of
        finite numbers. Checked against a network's outputs when it first uses the data
        set (labels ``0..n_out-1``, ``n_out`` target columns).
    dtype : {None, 'float32', 'float64'}, default None
        Float type of the values (and of :attr:`X`). None: ``X``'s own float type, or
        float64. A network of the other dtype converts the values once, on first use,
        and keeps them here.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features), read-only
        The inputs as the network reads them (``X / 255`` for bytes), in :attr:`dtype`;
        made from the sparse form on first access and kept (for MNIST's 50,000 images,
        314 MB in float64: unpack only when you need the dense array).
    y : ndarray, read-only
        The labels (int64, shape (n_samples,)) or targets as given.
    labels : ndarray of int64, shape (n_samples,), or None
        Class labels: ``y``, or the argmax of one-hot target rows; None for other targets.
    targets : ndarray of shape (n_samples, n_outputs)
        Target rows: ``y``, or the one-hot rows of the labels (``max(labels) + 1``
        columns), in :attr:`dtype`.
    dtype : numpy.dtype
    n_features : int
    is_bytes : bool
        True when ``X`` was uint8 (stored as bytes, read as ``X / 255``).
    nbytes : int
        Bytes held by the sparse form and ``y`` (not the caches of :attr:`X` or other
        dtypes).

    Raises
    ------
    TypeError
        ``X`` or ``y`` do not hold real numbers, labels that are booleans or not
        integral.
    ValueError
        ``X`` not 2-D, ragged, without features or not finite; ``y`` of another length, a negative
        label, non-finite targets, a dtype other than float32/float64.

    Warns
    -----
    DataRangeWarning
        Values outside [0, 1] (pixels left in 0..255), or uint8 ``X`` holding only 0 and
        1 (read as 0 and 1/255: pass 0/1 features as floats).

    Notes
    -----
    ``ds[0]`` and ``ds[1]`` are ``X`` and ``y``, as in the pair a Dataset replaces;
    :meth:`take` selects rows (``ds.take(slice(0, 1000))``).

    Memory: a value (float32 or float64) and an int32 column per non-zero entry, or for
    bytes a byte and a uint16 column (up to 65,536 features), plus 8 bytes a row. The
    50,000 MNIST training images (19 % non-zero) take 23 MB as bytes, against 314 MB as
    a float64 ``X``; the training kernels decode each mini-batch's bytes as they go. A
    pickle holds the same arrays, so it is as small.

    Examples
    --------
    >>> import numpy as np
    >>> import fastnn
    >>> X = np.array([[0, 255, 0], [51, 0, 0]], dtype=np.uint8)
    >>> ds = fastnn.Dataset(X, [1, 0])
    >>> len(ds), ds.n_features, ds.is_bytes
    (2, 3, True)
    >>> X, y = ds
    >>> X
    array([[0. , 1. , 0. ],
           [0.2, 0. , 0. ]])
    >>> net = fastnn.Network([3, 4, 2], seed=0)
    >>> history = net.SGD(ds, 2, 2, 3.0, test_data=ds, verbose=False)
    >>> len(history)
    2
    """

    def __init__(self, X, y, *, dtype=None):
        arr = validation.numeric_array(X, "X")
        if arr.ndim != 2:
            raise ValueError(f"X must have shape (n_samples, n_features), got shape {arr.shape}")
        if arr.shape[1] == 0:
            raise ValueError(f"X must have at least one feature, got shape {arr.shape}")
        if dtype is None:
            dtype = arr.dtype if arr.dtype in _FLOATS else np.dtype(np.float64)
        self._dtype = validation.check_dtype(dtype)
        self._shape = arr.shape
        self._is_bytes = arr.dtype == np.uint8
        if self._is_bytes:
            data, indices, indptr = bytes_csr(arr, _column_type(arr.shape[1]))
            if data.size and data.max() <= 1:
                warnings.warn(
                    "X is uint8 holding only 0 and 1: a Dataset reads uint8 as pixel "
                    "intensities, X / 255, so these are 0 and 1/255. Pass 0/1 features as "
                    "floats (X.astype(np.float32)).",
                    validation.DataRangeWarning,
                    stacklevel=2,
                )
        else:
            data, indices, indptr = _values_csr(arr, self._dtype, "X", stacklevel=2)
        self._y = _readonly(self._check_y(y))
        self._set_csr(data, indices, indptr)

    def _set_csr(self, data, indices, indptr):
        # Private, so left writable: Numba compiles a kernel again for read-only arrays.
        self._data, self._indices, self._indptr = data, indices, indptr
        self._values = {}  # dtype -> (data, indices, indptr) the kernels read
        if not self._is_bytes:
            self._values[self._data.dtype] = (self._data, self._indices, self._indptr)
        self._targets = {}  # (dtype, n_out) -> (Y, labels)
        self._dense = None

    def _check_y(self, y):
        """``y`` as int64 labels (n,) or float targets (n, k), checked without a network."""
        n = self._shape[0]
        arr = validation.numeric_array(y, "y")
        if arr.ndim not in (1, 2):
            raise ValueError(
                f"y must be integer labels of shape ({n},) or targets of shape ({n}, n_outputs), "
                f"got shape {arr.shape}"
            )
        if len(arr) != n:
            raise ValueError(f"X and y must have the same length, got {n} and {len(arr)}")
        if arr.ndim == 2:
            arr = np.array(arr, dtype=self._dtype)
            if not np.isfinite(arr).all():
                i = int(np.argwhere(~np.isfinite(arr))[0][0])
                raise ValueError(f"y must be finite, got a non-finite target at y[{i}]")
            return arr
        if arr.dtype == np.bool_:
            raise TypeError("y must hold integer class labels, got booleans (dtype bool)")
        if not np.issubdtype(arr.dtype, np.integer):
            ok = np.isfinite(arr) & (arr == np.round(arr))
            if not ok.all():
                bad = int(np.flatnonzero(~ok)[0])
                raise TypeError(
                    f"y of shape ({n},) must hold integer class labels, got y[{bad}] = {arr[bad]} "
                    f"(dtype {arr.dtype}); pass targets of shape ({n}, n_outputs) for real-valued outputs"
                )
        bad = np.flatnonzero(arr < 0)
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"y[{i}] = {arr[i]} is not a class label: labels must be integers >= 0")
        return np.array(arr, dtype=np.int64)

    # -- what users see --------------------------------------------------------------------
    def __len__(self):
        return self._shape[0]

    @property
    def n_features(self):
        """Inputs per sample (``X.shape[1]``)."""
        return self._shape[1]

    @property
    def dtype(self):
        """Float type of the values and of :attr:`X`."""
        return self._dtype

    @property
    def is_bytes(self):
        """True when ``X`` is stored as bytes (uint8, read as ``X / 255``)."""
        return self._is_bytes

    @property
    def nbytes(self):
        """Bytes of the sparse form and of ``y``."""
        return self._data.nbytes + self._indices.nbytes + self._indptr.nbytes + self._y.nbytes

    @property
    def X(self):
        """The dense inputs, read-only, in :attr:`dtype` (made once, on first access)."""
        if self._dense is None:
            data, indices, indptr = self._csr(self._dtype)
            dense = np.zeros(self._shape, dtype=self._dtype)
            rows = np.repeat(np.arange(self._shape[0]), np.diff(indptr))
            dense[rows, indices] = data
            self._dense = _readonly(dense)
        return self._dense

    @property
    def y(self):
        """Labels (int64, shape (n_samples,)) or targets, as checked; read-only."""
        return self._y

    @property
    def labels(self):
        """int64 class labels of shape (n_samples,), or None for targets that are not one-hot."""
        if self._y.ndim == 1:
            return self._y
        Y = self._y
        if ((Y == 0) | (Y == 1)).all() and (Y.sum(axis=1) == 1).all():
            return _readonly(np.argmax(Y, axis=1).astype(np.int64))
        return None

    @property
    def targets(self):
        """Target rows of shape (n_samples, n_outputs): ``y``, or the labels one-hot."""
        if self._y.ndim == 2:
            return self._y
        Y = np.zeros((len(self), int(self._y.max(initial=-1)) + 1), dtype=self._dtype)
        Y[np.arange(len(self)), self._y] = 1
        return _readonly(Y)

    def __iter__(self):
        """``X, y = ds``: the book's pair (see :attr:`X`)."""
        yield self.X
        yield self.y

    def __getitem__(self, key):
        """``ds[0]`` is :attr:`X` and ``ds[1]`` is :attr:`y`, as in the ``(X, y)`` pair it replaces."""
        if isinstance(key, numbers.Integral) and not isinstance(key, bool) and -2 <= key <= 1:
            return self.X if key % 2 == 0 else self.y
        raise TypeError(
            f"a Dataset indexes like its (X, y) pair: ds[0] is X and ds[1] is y, got {key!r}; "
            "select rows with ds.take(rows)"
        )

    def take(self, rows):
        """The Dataset of the rows ``rows``, in that order, without checking them again.

        Parameters
        ----------
        rows : slice, array_like of int or array_like of bool
            A slice (``ds.take(slice(0, 1000))``), row numbers, or a mask of ``len(ds)``.

        Returns
        -------
        Dataset
            Of the same dtype; its arrays are copies.

        Raises
        ------
        IndexError
            A row number out of range, or a mask of another length.
        TypeError
            ``rows`` is not a slice or a 1-D array of integers or booleans.
        """
        rows_array = np.arange(len(self))[rows if isinstance(rows, slice) else np.asarray(rows)]
        if rows_array.ndim != 1:
            raise TypeError(f"rows must be a slice or a 1-D array of row numbers or booleans, got {rows!r}")
        rows = rows_array
        starts, counts = self._indptr[rows], np.diff(self._indptr)[rows]
        indptr = np.zeros(rows.size + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        take = np.repeat(starts - indptr[:-1], counts) + np.arange(indptr[-1])
        out = object.__new__(Dataset)
        out._dtype, out._is_bytes, out._shape = self._dtype, self._is_bytes, (rows.size, self._shape[1])
        out._y = _readonly(self._y[rows])
        out._set_csr(self._data[take], self._indices[take], indptr)
        return out

    def __repr__(self):
        n, f = self._shape
        kind = "uint8 read as X / 255" if self._is_bytes else self._data.dtype.name
        y = "labels" if self._y.ndim == 1 else f"targets of {self._y.shape[1]} columns"
        return (
            f"Dataset(n_samples={n}, n_features={f}, X {kind}, y {y}, dtype='{self._dtype.name}', "
            f"{self.nbytes / 1e6:.1f} MB)"
        )

    # -- pickling: the sparse form as stored, columns as uint16 when they fit ----------------
    def __getstate__(self):
        indices = self._indices
        if self._shape[1] <= 1 << 16:
            indices = indices.astype(np.uint16, copy=False)
        return {
            "version": _STATE_VERSION,
            "shape": self._shape,
            "dtype": self._dtype.name,
            "is_bytes": self._is_bytes,
            "data": self._data,
            "indices": indices,
            "indptr": self._indptr,
            "y": self._y,
        }

    def __setstate__(self, state):
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"cannot unpickle a Dataset of state version {state.get('version')!r}")
        self._dtype = np.dtype(state["dtype"])
        self._shape = tuple(state["shape"])
        self._is_bytes = bool(state["is_bytes"])
        self._y = _readonly(np.array(state["y"]))
        columns = _column_type(self._shape[1]) if self._is_bytes else np.dtype(np.int32)
        self._set_csr(np.array(state["data"]), np.array(state["indices"], dtype=columns), np.array(state["indptr"]))

    # -- what the network reads ---------------------------------------------------------------
    def _csr(self, dtype):
        """``(data, indices, indptr)`` with ``data`` in ``dtype``: made once per dtype."""
        if dtype not in self._values:
            if self._is_bytes:
                data = np.empty(self._data.shape, dtype)
                _prepare.decode(self._data, _value_table(dtype), data)
            else:
                with np.errstate(over="ignore"):  # reported below, with its place
                    data = self._data.astype(dtype)
                if not np.isfinite(data).all():  # float64 beyond float32's range
                    k = int(np.flatnonzero(~np.isfinite(data))[0])
                    r = int(np.searchsorted(self._indptr, k, side="right")) - 1
                    raise ValueError(
                        f"X must be finite in {dtype.name}, got {data[k]} at X[{r}, {self._indices[k]}] "
                        f"(from {self._data[k]} in {self._data.dtype.name})"
                    )
            self._values[dtype] = (data, self._indices.astype(np.int32, copy=False), self._indptr)
        return self._values[dtype]

    def _kernel_data(self, n_in, n_out, dtype, name, bytes_ok=True):
        """``(csr, Y, labels)`` for a network of ``n_in`` inputs, ``n_out`` outputs and ``dtype``.

        Checked as raw data would be (the features, the labels or targets against the
        outputs, with the messages of ``fastnn.validation``), once per network shape.
        ``csr`` is ``(data, indices, indptr)`` with ``data`` in ``dtype``; for bytes, when
        ``bytes_ok``, ``(codes, indices, indptr, table)``: the kernels read
        ``table[codes]`` (b / 255 in ``dtype``) and no float copy is made.
        """
        if not len(self):
            raise ValueError(f"{name} is empty: it must hold at least one sample")
        if self._shape[1] != n_in:
            raise ValueError(
                f"{name} X has {self._shape[1]} features, the network expects {n_in} (sizes[0]); "
                f"got a Dataset of shape {self._shape}"
            )
        key = (dtype, n_out)
        if key not in self._targets:
            Y, labels = validation.check_targets(self._y, len(self), n_out, dtype, f"{name} y")
            self._targets[key] = (Y, labels)
        if self._is_bytes and bytes_ok:
            if ("table", dtype) not in self._values:
                self._values["table", dtype] = _value_table(dtype)
            csr = (self._data, self._indices, self._indptr, self._values["table", dtype])
        else:
            csr = self._csr(dtype)
        return (csr, *self._targets[key])
