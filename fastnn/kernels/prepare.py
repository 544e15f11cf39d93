"""Preparing a data set in one pass: the checks and the CSR build of :class:`fastnn.Dataset`.

Only Numba functions live here. They read every row of ``X`` once from memory and write
its non-zeros into the CSR arrays the training kernels read: ``data`` (the values),
``indices`` (int32 columns, ascending) and ``indptr`` (int64, row ``r`` is
``data[indptr[r] : indptr[r + 1]]``), the format of :func:`fastnn.kernels.sgd.csr`.
They replace the five NumPy passes over X of the per-call checks (cast, ``isfinite``,
``min``, ``max``) and the two of the plain CSR build.

The caller allocates the arrays, with NumPy: NumPy asks Linux for huge pages for large
arrays, Numba's allocator does not, and the page faults of 90 MB of fresh small pages
took longer than filling them on this project's machine (166 ms against 32 ms).

The stores are branch-free: every entry is written at the next free slot and the slot
is kept only when the entry is not zero, so a row needs ``n_in + 1`` free slots
whatever its count.
"""

import numpy as np

from fastnn._config import jit

__all__ = ["count_bytes", "fill_bytes", "fill_values", "decode"]


@jit(inline="always")
def _any8(X, r, j):
    return X[r, j] | X[r, j + 1] | X[r, j + 2] | X[r, j + 3] | X[r, j + 4] | X[r, j + 5] | X[r, j + 6] | X[r, j + 7]


@jit
def count_bytes(X, indptr):
    """``indptr`` (shape (n + 1,), zeroed) of the bytes ``X`` (uint8, shape (n, n_in)).

    Runs of eight zero bytes, most of an MNIST image's border, are skipped with one test.
    """
    n, n_in = X.shape
    full = n_in - n_in % 8
    for r in range(n):
        c = 0
        for j in range(0, full, 8):
            if _any8(X, r, j):
                for i in range(j, j + 8):
                    c += X[r, i] != 0
        for i in range(full, n_in):
            c += X[r, i] != 0
        indptr[r + 1] = indptr[r] + c


@jit
def fill_bytes(X, data, indices):
    """The non-zero bytes of ``X`` and their columns, row by row (see :func:`count_bytes`).

    ``data`` (uint8) and ``indices`` need one slot more than the non-zeros.
    """
    n, n_in = X.shape
    full = n_in - n_in % 8
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
    return k


@jit
def fill_values(X, data, indices, indptr, r0):
    """The CSR form of rows ``r0..`` of ``X`` cast to ``data``'s dtype, checked on the way.

    Parameters
    ----------
    X : 2-D array of shape (n, n_in), float32 or float64
    data : 1-D array of float32 or float64
        ``X`` is cast to its dtype; an entry zero after the cast is dropped.
    indices : 1-D int32 array of ``data``'s length
    indptr : int64 array of shape (n + 1,)
        Rows before ``r0`` are filled already (``indptr[r0]`` is where row ``r0`` starts).
    r0 : int

    Returns
    -------
    stop : int
        The rows ``r0..stop-1`` are written; ``stop < n`` when the arrays are full (fewer
        than ``n_in + 1`` free slots): grow them and call again from ``stop``.
    bad : int
        ``r * n_in + i`` of the first entry not finite after the cast, or -1. The build
        stops before its row.
    outside : int
        Entries outside [0, 1] in the rows written.
    """
    n, n_in = X.shape
    cast = data.dtype.type
    zero = cast(0)
    cap = data.shape[0]
    k = indptr[r0]
    outside = 0
    for r in range(r0, n):
        if k + n_in + 1 > cap:
            return r, -1, outside
        nonfinite = zero  # 0 * v is NaN exactly when v is not finite
        out = 0
        k1 = k
        for i in range(n_in):  # the checks ride along the stores' dependency chain on k
            v = cast(X[r, i])
            data[k1] = v
            indices[k1] = i
            k1 += v != 0
            nonfinite += zero * v
            out += (v < 0) | (v > 1)
        if nonfinite != zero:
            for i in range(n_in):
                if not np.isfinite(cast(X[r, i])):
                    return r, r * n_in + i, outside
        outside += out
        k = k1
        indptr[r + 1] = k
    return n, -1, outside


@jit
def decode(codes, table, out):
    """``out[k] = table[codes[k]]``: bytes to the values the kernels read."""
    for k in range(codes.shape[0]):
        out[k] = table[codes[k]]
