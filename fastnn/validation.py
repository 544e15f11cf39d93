"""The one validation vocabulary of fastnn: checks and coercions at the public boundary.

:class:`fastnn.Network`, the data loaders, the chapter's perceptrons and the command line
check their arguments with these functions, so a rule is written, and worded, once.
Every check runs before any kernel, names the argument, the value and the rule, and
follows one convention:

- ``TypeError`` when the *kind* is wrong (a float where an integer is needed, strings
  where numbers are needed);
- ``ValueError`` when the kind is right but the *value* is not allowed (a negative size,
  ``eta = 0``, a shape that does not fit, a non-finite number);
- :class:`DataRangeWarning` for legal but doubtful inputs (pixels left in 0..255).

``dtype`` is an option from a closed set, so every refused dtype is a ``ValueError``,
``None`` included (``numpy.dtype(None)`` would silently mean float64).

Examples
--------
>>> from fastnn import validation
>>> validation.check_dtype("float32")
dtype('float32')
>>> validation.check_int(3, "epochs", 0)
3
>>> validation.one_hot([2, 0], 3)
array([[0., 0., 1.],
       [1., 0., 0.]])
>>> validation.check_eta(0)
Traceback (most recent call last):
...
ValueError: eta must be a finite number > 0, got 0.0
"""

import numbers
import warnings

import numpy as np

from fastnn._io import check_outputs

__all__ = [
    "DTYPES",
    "DataRangeWarning",
    "check_data",
    "check_dtype",
    "check_eta",
    "check_inputs",
    "check_int",
    "check_n_jobs",
    "check_output_path",
    "check_real",
    "check_real_array",
    "check_seed",
    "check_sizes",
    "check_targets",
    "is_xy_pair",
    "one_hot",
]

#: The floating types fastnn computes in.
DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


class DataRangeWarning(UserWarning):
    """Inputs outside [0, 1]: legal, but usually pixels left unscaled (0..255)."""


# -- scalars -------------------------------------------------------------------------------
def check_dtype(dtype, name="dtype"):
    """``dtype`` as a :class:`numpy.dtype`, float32 or float64.

    Parameters
    ----------
    dtype : str, type or numpy.dtype
        Anything :func:`numpy.dtype` reads as float32 or float64. ``None`` is refused.
    name : str, default 'dtype'
        The argument's name, for the message.

    Returns
    -------
    numpy.dtype

    Raises
    ------
    ValueError
        Any other value, ``None`` and unknown names included.

    Examples
    --------
    >>> check_dtype(np.float64)
    dtype('float64')
    >>> check_dtype(None)
    Traceback (most recent call last):
    ...
    ValueError: dtype must be 'float32' or 'float64', got None
    """
    try:
        resolved = None if dtype is None else np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or not any(resolved == dt for dt in DTYPES):  # `None in DTYPES` is True: dtype(None)
        raise ValueError(f"{name} must be 'float32' or 'float64', got {dtype!r}")
    return resolved


def check_int(value, name, minimum):
    """``value`` as an ``int`` >= ``minimum`` (bools are refused).

    Raises
    ------
    TypeError
        Not an integer.
    ValueError
        Less than ``minimum``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_real(value, name):
    """``value`` as a finite ``float`` (bools are refused).

    Raises
    ------
    TypeError
        Not a real number.
    ValueError
        Not finite.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_eta(eta, name="eta"):
    """The learning rate as a finite ``float`` > 0.

    Raises
    ------
    TypeError
        Not a real number.
    ValueError
        Not finite, or <= 0.
    """
    if isinstance(eta, (bool, np.bool_)) or not isinstance(eta, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {eta!r} of type {type(eta).__name__}")
    eta = float(eta)
    if not np.isfinite(eta) or eta <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {eta}")
    return eta


def check_seed(seed):
    """``seed`` for :func:`numpy.random.default_rng`: None, an int >= 0, a SeedSequence or Generator.

    Raises
    ------
    TypeError
        Any other kind.
    ValueError
        A negative integer.
    """
    if seed is None or isinstance(seed, (np.random.SeedSequence, np.random.Generator)):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"seed must be None, a non-negative integer, a numpy SeedSequence or Generator, "
            f"got {seed!r} of type {type(seed).__name__}"
        )
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return int(seed)


def check_sizes(sizes):
    """Layer sizes as a tuple of ints: at least two layers, each >= 1.

    Raises
    ------
    TypeError
        Not a sequence, or an entry that is not an integer.
    ValueError
        Fewer than two layers, or a size < 1.

    Examples
    --------
    >>> check_sizes([784, 30, 10])
    (784, 30, 10)
    """
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"sizes must be a sequence of layer sizes such as [784, 30, 10], got {sizes!r}")
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes must name at least two layers (input and output), got {sizes}")
    for l, n in enumerate(sizes):
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
            raise TypeError(f"sizes[{l}] must be an integer, got {n!r} in sizes={sizes}")
        if n < 1:
            raise ValueError(f"sizes[{l}] must be >= 1, got {n} in sizes={sizes}")
    return tuple(int(n) for n in sizes)


def check_n_jobs(n_jobs, limit, what, name="n_jobs"):
    """``n_jobs`` as a thread count in ``1..limit``: None is 1, -1 is ``limit``.

    Parameters
    ----------
    n_jobs : int or None
    limit : int
        The most threads allowed.
    what : str
        Where ``limit`` comes from, for the message (e.g. ``"NUMBA_NUM_THREADS"``).
    name : str, default 'n_jobs'

    Raises
    ------
    TypeError
        Not None or an integer.
    ValueError
        Not -1 and outside ``1..limit``.

    Examples
    --------
    >>> check_n_jobs(None, 2, "cores"), check_n_jobs(-1, 2, "cores")
    (1, 2)
    """
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, (bool, np.bool_)) or not isinstance(n_jobs, numbers.Integral):
        raise TypeError(f"{name} must be None or an integer, got {n_jobs!r} of type {type(n_jobs).__name__}")
    if n_jobs == -1:
        return limit
    if not 1 <= n_jobs <= limit:
        raise ValueError(f"{name} must be -1 or between 1 and {limit} ({what}), got {n_jobs}")
    return int(n_jobs)


def check_output_path(path, flag):
    """Fail before any work if ``path`` cannot be written; see :func:`fastnn._io.check_outputs`.

    ``None`` (no output asked for) passes. ``flag`` names the option in the message.

    Raises
    ------
    fastnn._io.OutputPathError (a ValueError)
        ``path`` is a directory, its directory does not exist or takes no new file.
    """
    check_outputs([(flag, path)])


# -- arrays --------------------------------------------------------------------------------
def check_real_array(value, name):
    """``value`` as a float64 array of finite real numbers (any shape; bools refused).

    Raises
    ------
    TypeError
        Not integers or floats.
    ValueError
        Not finite.
    """
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    return arr


def one_hot(labels, n_out=10, dtype="float64"):
    """Rows ``e_y``: the book's ``vectorized_result`` for many labels at once.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
        Class labels in ``0..n_out-1`` (not checked: validate with :func:`check_targets`).
    n_out : int, default 10
    dtype : dtype, default 'float64'

    Returns
    -------
    ndarray of shape (n, n_out)
        ``Y[i, labels[i]] = 1``, zeros elsewhere.

    Examples
    --------
    >>> one_hot(np.array([1]), 2, "float32")
    array([[0., 1.]], dtype=float32)
    """
    labels = np.asarray(labels)
    Y = np.zeros((len(labels), n_out), dtype=dtype)
    Y[np.arange(len(labels)), labels] = 1
    return Y


def _is_numeric(arr):
    return arr.dtype != object and (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_)


def check_inputs(X, n_in, dtype, name="X", stacklevel=3):
    """``X`` as a C-contiguous, writable 2-D array of shape (n_samples, n_in) and ``dtype``.

    A 1-D ``X`` is one sample. Read-only or non-contiguous input is copied once.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_in) or (n_in,)
    n_in : int
        Features the network expects (``sizes[0]``).
    dtype : numpy.dtype
        float32 or float64 (see :func:`check_dtype`).
    name : str, default 'X'
    stacklevel : int, default 3
        Of the :class:`DataRangeWarning`.

    Returns
    -------
    ndarray of shape (n_samples, n_in)

    Raises
    ------
    TypeError
        Not numbers, or complex.
    ValueError
        Ragged, the wrong shape or number of features, or not finite.

    Warns
    -----
    DataRangeWarning
        Values outside [0, 1].
    """
    try:
        arr = np.asarray(X)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array: {exc}") from None
    if not _is_numeric(arr):
        raise TypeError(f"{name} must hold numbers, got an array of dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[np.newaxis, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n_samples, {n_in}) or ({n_in},), got shape {np.shape(X)}")
    if arr.shape[1] != n_in:
        raise ValueError(
            f"{name} has {arr.shape[1]} features, the network expects {n_in} (sizes[0]); got shape {np.shape(X)}"
        )
    arr = np.require(arr, dtype=dtype, requirements=["C", "W"])
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
                stacklevel=stacklevel,
            )
    return arr


def check_targets(y, n, n_out, dtype, name="y"):
    """``(Y, labels)``: targets of shape (n, n_out) in ``dtype``, and int64 labels or None.

    Parameters
    ----------
    y : array_like
        Integer labels of shape (n,) (one-hot encoded here; integral floats are accepted)
        or targets of shape (n, n_out).
    n : int
        Samples (the length of ``X``).
    n_out : int
        Outputs of the network (``sizes[-1]``).
    dtype : numpy.dtype
    name : str, default 'y'

    Returns
    -------
    Y : ndarray of shape (n, n_out)
    labels : ndarray of int64, shape (n,), or None
        None for targets that are not one-hot rows.

    Raises
    ------
    TypeError
        Not numbers; booleans or non-integral floats of shape (n,).
    ValueError
        A length other than ``n``, a label outside ``0..n_out-1``, non-finite targets, a
        shape that is neither (n,) nor (n, n_out).

    Examples
    --------
    >>> Y, labels = check_targets([1, 0], 2, 2, np.dtype("float64"))
    >>> Y.tolist(), labels.tolist()
    ([[0.0, 1.0], [1.0, 0.0]], [1, 0])
    """
    arr = np.asarray(y)
    if not _is_numeric(arr):
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
        return one_hot(labels, n_out, dtype), labels
    if arr.ndim == 2 and arr.shape[1] == n_out:
        Y = np.require(arr, dtype=dtype, requirements=["C", "W"])
        if not np.isfinite(Y).all():
            i = int(np.argwhere(~np.isfinite(Y))[0][0])
            raise ValueError(f"{name} must be finite, got a non-finite target at {name}[{i}]")
        is_one_hot = np.all((Y == 0) | (Y == 1), axis=1) & (Y.sum(axis=1) == 1)
        labels = np.argmax(Y, axis=1).astype(np.int64) if is_one_hot.all() else None
        return Y, labels
    raise ValueError(
        f"{name} must be integer labels of shape ({n},) or targets of shape ({n}, {n_out}), got shape {np.shape(y)}"
    )


def _two(obj):
    return isinstance(obj, (tuple, list)) and len(obj) == 2


def _fits_sample(sample, n_in, n_out):
    """Whether ``sample`` reads as one ``(x, y)`` of a network with ``n_in`` inputs, ``n_out`` outputs."""
    try:
        x, y = np.asarray(sample[0]), np.asarray(sample[1])
    except ValueError:  # ragged
        return False
    numeric = all(a.dtype != object and (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_) for a in (x, y))
    return numeric and x.shape in {(n_in,), (n_in, 1), (1, n_in)} and y.size in {1, n_out}


def _fits_pair(X, y, n_in, n_out):
    """Whether ``(X, y)`` reads as a pair of 2 samples for such a network."""
    try:
        X, y = np.asarray(X), np.asarray(y)
    except ValueError:
        return False
    if X.dtype == object or y.dtype == object or X.shape != (2, n_in):
        return False
    return y.shape in {(2,), (2, 1), (2, n_out)}


def is_xy_pair(data, sizes=None, name="data"):
    """True for ``(X, y)``; False for the book's sequence of ``(x, y)`` samples.

    Parameters
    ----------
    data : object
        What was passed as ``training_data``, ``test_data``, ...
    sizes : sequence of int, optional
        The network's layer sizes (only the first and last are read); without them a tuple of two 2-element sequences is
        read by the container rule alone (samples if its first item is a tuple).
    name : str
        The argument's name, for the message.

    Raises
    ------
    ValueError
        ``data`` is ambiguous for ``sizes`` (see the rule).

    Notes
    -----
    The rule (also in :meth:`fastnn.Network.SGD`):

    1. a list, or any iterable that is not a tuple, holds the book's ``(x, y)`` samples;
    2. a tuple of two is a pair ``(X, y)``, unless both its items are 2-element tuples
       or lists -- then it could be two samples ``((x0, y0), (x1, y1))`` as well as a
       pair of two rows and two labels, and it is read the way that fits the network's
       shapes; when both fit, it is refused as ambiguous (ValueError); when neither
       does, it is read as samples if its first item is a tuple (the book's style).
    """
    if not isinstance(data, tuple) or len(data) != 2:
        return False
    first, second = data
    if not (_two(first) and _two(second)):
        return True
    if sizes is None:
        return not isinstance(first, tuple)
    n_in, n_out = sizes[0], sizes[-1]
    as_samples = _fits_sample(first, n_in, n_out) and _fits_sample(second, n_in, n_out)
    as_pair = _fits_pair(first, second, n_in, n_out)
    if as_samples and as_pair:
        raise ValueError(
            f"{name} is ambiguous for a network of {n_in} inputs and {n_out} outputs: a tuple of two 2-element "
            "sequences reads both as a pair (X, y) of two samples and as two (x, y) samples. "
            "Pass a pair as arrays, (np.asarray(X), np.asarray(y)), or the samples as a list, "
            f"list({name})."
        )
    if as_pair:
        return True
    if as_samples:
        return False
    return not isinstance(first, tuple)


def check_data(data, n_in, n_out, dtype, name):
    """``(X, Y, labels)`` from ``(X, y)`` or from the book's iterable of ``(x, y)`` samples.

    One-shot iterators (``zip``, generators) are materialised once, here. ``x`` may be
    the book's column of shape (n_in, 1), ``y`` a label or a target column.

    Parameters
    ----------
    data : (X, y) or iterable of (x, y)
    n_in, n_out : int
        The network's ``sizes[0]`` and ``sizes[-1]``.
    dtype : numpy.dtype
    name : str
        The argument's name, for the messages (``"training_data"``).

    Returns
    -------
    X : ndarray of shape (n, n_in)
        As :func:`check_inputs` returns it.
    Y, labels
        As :func:`check_targets` returns them.

    Raises
    ------
    TypeError, ValueError
        As :func:`check_inputs` and :func:`check_targets`; also an empty ``data``,
        samples that are not ``(x, y)`` pairs, or a tuple that reads both as a pair and
        as samples (:func:`is_xy_pair`).
    """
    if is_xy_pair(data, (n_in, n_out), name):
        X_raw, y_raw = data
    else:
        if isinstance(data, np.ndarray) or not hasattr(data, "__iter__"):
            raise TypeError(
                f"{name} must be a pair (X, y) of arrays or an iterable of (x, y) samples, got {type(data).__name__}"
            )
        samples = list(data)
        for i, sample in enumerate(samples):
            if not (isinstance(sample, (tuple, list)) and len(sample) == 2):
                raise TypeError(f"{name}[{i}] must be an (x, y) pair, got {type(sample).__name__}")
        xs = []
        for i, (x, _) in enumerate(samples):
            x = np.asarray(x)
            if x.shape not in {(n_in,), (n_in, 1), (1, n_in)}:
                raise ValueError(f"{name}[{i}]: x must have shape ({n_in},) or the book's ({n_in}, 1), got {x.shape}")
            xs.append(x.reshape(-1))
        X_raw = np.array(xs).reshape(len(xs), n_in)
        ys = [np.asarray(y) for _, y in samples]
        if n_out != 1 and all(y.size == 1 for y in ys):  # int labels
            y_raw = np.array([y.reshape(()) for y in ys])
        else:  # one-hot or target vectors, e.g. of shape (n_out, 1)
            y_raw = np.array([y.reshape(-1) for y in ys]).reshape(len(ys), -1)
    X = check_inputs(X_raw, n_in, dtype, f"{name} X", stacklevel=4)
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it must hold at least one sample")
    Y, labels = check_targets(y_raw, X.shape[0], n_out, dtype, f"{name} y")
    return X, Y, labels
