"""Preparing a data set in one pass: the checks and the CSR build of :class:`fastnn.Dataset`.

Only Numba functions live here. Each reads every row of ``X`` once from memory and
writes its non-zeros into the CSR arrays the training kernels read: ``data`` (the
values), ``indices`` (int32 columns, ascending) and ``indptr`` (int64, row ``r`` is
``data[indptr[r] : indptr[r + 1]]``), the format of :func:`fastnn.kernels.sgd.csr`.
They replace the five NumPy passes over X of the per-call checks (cast, ``isfinite``,
``min``, ``max``) and the two of the plain CSR build.

The stores are branch-free: every entry is written at the next free slot and the slot
is kept only when the entry is not zero. For values (float ``X``, 8 bytes an entry in
float64) the arrays start at the size the first rows' density predicts, 1/32 more,
with room for one more row (``n_in + 1`` slots), and grow by half when that is short;
a result using less than 15/16 of its arrays is copied to its exact size. Bytes are
counted first (a second read of a byte per entry is cheaper than the copies).
"""

import numpy as np

from fastnn._config import jit

__all__ = ["prepare_bytes", "prepare_values", "decode"]

_HEAD = 256  # rows counted first to size the arrays


@jit(inline="always")
def _grow(a, size):
    out = np.empty(size, a.dtype)
    out[: a.shape[0]] = a
    return out


@jit(inline="always")
def _capacity(X, cast):
    """Slots for the non-zeros of ``X``: the first rows' density, 1/32 more, and a row."""
    n, n_in = X.shape
    head = min(n, _HEAD)
    count = 0
    for r in range(head):
        for i in range(n_in):
            count += cast(X[r, i]) != 0
    return n_in + 1 + (count * n + count * n // 32) // max(head, 1)


@jit(inline="always")
def _trimmed(data, indices, k):
    if data.shape[0] - k > k // 16 + 1:
        return data[:k].copy(), indices[:k].copy()
    return data[:k], indices[:k]


@jit(inline="always")
def _any8(X, r, j):
    return X[r, j] | X[r, j + 1] | X[r, j + 2] | X[r, j + 3] | X[r, j + 4] | X[r, j + 5] | X[r, j + 6] | X[r, j + 7]


@jit
def prepare_bytes(X):
    """The CSR form of the bytes ``X`` (uint8, shape (n, n_in)): ``(data, indices, indptr)``.

    ``data`` holds the bytes themselves (uint8). A first pass counts each row's
    non-zeros (X is small: a byte per entry), so the arrays are allocated at their exact
    size once; both passes skip runs of eight zero bytes, most of an MNIST image's
    border, with one test.
    """
    n, n_in = X.shape
    full = n_in - n_in % 8
    indptr = np.zeros(n + 1, np.int64)
    for r in range(n):
        c = 0
        for j in range(0, full, 8):
            if _any8(X, r, j):
                for i in range(j, j + 8):
                    c += X[r, i] != 0
        for i in range(full, n_in):
            c += X[r, i] != 0
        indptr[r + 1] = indptr[r] + c
    data = np.empty(indptr[n] + 1, np.uint8)  # + 1: the branch-free stores' spare slot
    indices = np.empty(indptr[n] + 1, np.int32)
    k = 0
    for r in range(n):
        for j in range(0, full, 8):
            if _any8(X, r, j):
                for i in range(j, j + 8):
                    v = X[r, i]
                    data[k] = v
                    indices[k] = i
                    k += v != 0
        for i in range(full, n_in):
            v = X[r, i]
            data[k] = v
            indices[k] = i
            k += v != 0
    return data[:k], indices[:k], indptr


@jit
def prepare_values(X, like):
    """The CSR form of ``X`` cast to ``like``'s dtype, checked on the way.

    Parameters
    ----------
    X : 2-D array of shape (n, n_in), any real dtype
    like : array of float32 or float64
        Its dtype is ``data``'s; ``X`` is cast as :func:`numpy.asarray` would, and an
        entry zero after the cast is dropped.

    Returns
    -------
    data, indices, indptr
        The CSR arrays (see the module docstring).
    bad : int
        ``r * n_in + i`` of the first entry that is not finite after the cast, or -1.
        The build stops at its row, so the arrays are then incomplete.
    outside : int
        Entries outside [0, 1].
    """
    n, n_in = X.shape
    cast = like.dtype.type
    zero = cast(0)
    cap = _capacity(X, cast)
    data = np.empty(cap, like.dtype)
    indices = np.empty(cap, np.int32)
    indptr = np.zeros(n + 1, np.int64)
    outside = 0
    k = 0
    for r in range(n):
        nonfinite = zero  # 0 * v is NaN exactly when v is not finite
        out = 0
        for i in range(n_in):
            v = cast(X[r, i])
            nonfinite += zero * v
            out += (v < 0) | (v > 1)
        if nonfinite != zero:
            for i in range(n_in):
                if not np.isfinite(cast(X[r, i])):
                    return data[:0], indices[:0], indptr, r * n_in + i, outside
        outside += out
        if k + n_in + 1 > cap:
            cap = max(k + n_in + 1, cap + cap // 2)
            data = _grow(data, cap)
            indices = _grow(indices, cap)
        for i in range(n_in):
            v = cast(X[r, i])
            data[k] = v
            indices[k] = i
            k += v != 0
        indptr[r + 1] = k
    data, indices = _trimmed(data, indices, k)
    return data, indices, indptr, -1, outside


@jit
def decode(codes, table, out):
    """``out[k] = table[codes[k]]``: bytes to the values the kernels read."""
    for k in range(codes.shape[0]):
        out[k] = table[codes[k]]
