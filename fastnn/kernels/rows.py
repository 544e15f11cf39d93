"""The row operations of every layer, as plain loops: their specification.

Each layer's work is a handful of operations on rows of its transposed weight matrix
``w.T`` (see :mod:`fastnn._layout`), all addressed in flat 1-D buffers:

* the forward pass adds ``x_i * w.T[i]`` over the layer's inputs ``i`` (:func:`gemv_sparse`
  for the first layer's CSR inputs, :func:`gemv_dense` for the activations of the layer
  before);
* the update adds ``scale * x_i * delta`` into each row ``w.T[i]`` (:func:`ger_sparse`,
  :func:`ger_dense`: BP4 with Eq. 20);
* backpropagation takes ``w.T[i] . delta`` for each row (:func:`dot_rows`: BP2).

The arguments mean the same in every one of them:

``w`` : 1-D float array
    A parameter (or gradient) buffer, C-contiguous.
``w_off`` : int
    Flat index in ``w`` of element ``(0, 0)`` of the rows operated on: a layer's
    ``w_off`` plus the first column ``c0`` of a column block.
``ld`` : int
    The row stride of ``w.T`` (the layer's padded ``n_out``): row ``i`` starts at
    ``w_off + i * ld``.
``n`` : int
    Columns operated on in each row, ``n <= ld`` (``ld`` for a whole row; fewer for a
    thread's column block or the padding left out).
``k0, k1`` : int
    The rows taken are those of the entries ``k0 <= k < k1``: for CSR inputs
    ``(data, indices)`` the entries of one sample (``indptr[r]``, ``indptr[r + 1]``),
    row ``indices[k]`` with value ``data[k]``; for dense inputs ``x`` the rows ``k``
    themselves, with values ``x[x_off + k]``.
``a, a_off`` / ``d, d_off`` / ``out, out_off``
    A float array (any shape, C-contiguous, the dtype of ``w``) and the flat index in
    it of the first of the ``n`` (``ld`` for ``d`` in :func:`dot_rows`) elements read or
    written.

Nothing outside the stated elements is read or written. These loops are what is compiled
with ``FASTNN_ROW_KERNELS=loops``; by default the vector code of
:mod:`fastnn.kernels._llvm`, which computes the same sums in the same order per element,
runs in their place. Under ``NUMBA_DISABLE_JIT`` the names of this module are NumPy
slices over the same elements, again in the same order per element (see "Without the
JIT" below), and the loops are :data:`loops`. The tests check each against the loops.
"""

from types import SimpleNamespace

import numpy as np

from fastnn import _config
from fastnn._config import jit

__all__ = ["gemv_sparse", "gemv_dense", "ger_sparse", "ger_dense", "dot_rows"]


@jit(inline="always")
def gemv_sparse(w, w_off, ld, n, data, indices, k0, k1, a, a_off):
    """``a[a_off + j] += sum_k data[k] * w[w_off + indices[k]*ld + j]`` for ``j < n``, ``k0 <= k < k1``.

    The forward pass of the first layer for one sample: its non-zero inputs only.
    """
    a = a.reshape(-1)
    for k in range(k0, k1):
        x = data[k]
        base = w_off + indices[k] * ld
        for j in range(n):
            a[a_off + j] += x * w[base + j]


@jit(inline="always")
def gemv_dense(w, w_off, ld, n, x, x_off, k0, k1, a, a_off):
    """``a[a_off + j] += sum_k x[x_off + k] * w[w_off + k*ld + j]`` for ``j < n``, ``k0 <= k < k1``."""
    a = a.reshape(-1)
    x = x.reshape(-1)
    for k in range(k0, k1):
        xk = x[x_off + k]
        base = w_off + k * ld
        for j in range(n):
            a[a_off + j] += xk * w[base + j]


@jit(inline="always")
def ger_sparse(w, w_off, ld, n, data, indices, k0, k1, scale, d, d_off):
    """``w[w_off + indices[k]*ld + j] += (scale * data[k]) * d[d_off + j]`` for ``j < n``, ``k0 <= k < k1``.

    The first layer's weight update for one sample: rows of zero inputs are untouched.
    """
    d = d.reshape(-1)
    for k in range(k0, k1):
        c = scale * data[k]
        base = w_off + indices[k] * ld
        for j in range(n):
            w[base + j] += c * d[d_off + j]


@jit(inline="always")
def ger_dense(w, w_off, ld, n, x, x_off, k0, k1, scale, d, d_off):
    """``w[w_off + k*ld + j] += (scale * x[x_off + k]) * d[d_off + j]`` for ``j < n``, ``k0 <= k < k1``."""
    x = x.reshape(-1)
    d = d.reshape(-1)
    for k in range(k0, k1):
        c = scale * x[x_off + k]
        base = w_off + k * ld
        for j in range(n):
            w[base + j] += c * d[d_off + j]


@jit(inline="always")
def dot_rows(w, w_off, ld, n, d, d_off, out, out_off):
    """``out[out_off + i] = sum_j w[w_off + i*ld + j] * d[d_off + j]`` for ``i < n``, ``j < ld``."""
    d = d.reshape(-1)
    out = out.reshape(-1)
    for i in range(n):
        base = w_off + i * ld
        acc = w.dtype.type(0)
        for j in range(ld):
            acc += w[base + j] * d[d_off + j]
        out[out_off + i] = acc


#: The loops above, whatever runs under this module's names (the specification the tests
#: compare against).
loops = SimpleNamespace(
    gemv_sparse=gemv_sparse, gemv_dense=gemv_dense, ger_sparse=ger_sparse, ger_dense=ger_dense, dot_rows=dot_rows
)


# Without the JIT
# ---------------
# Interpreted, the loops above take one Python step per element, and the kernels of
# fastnn.kernels.sgd (run uncompiled so that coverage sees their bodies) spent minutes in
# them. Under NUMBA_DISABLE_JIT this module's names are these instead: one NumPy
# operation per row (per column for dot_rows), the same elements, and per element the same
# products summed in the same order as the loops, so the results are the loops' bit for bit.


def _gemv_sparse_slices(w, w_off, ld, n, data, indices, k0, k1, a, a_off):
    a = a.reshape(-1)[a_off : a_off + n]
    for k in range(k0, k1):
        base = w_off + indices[k] * ld
        a += data[k] * w[base : base + n]


def _gemv_dense_slices(w, w_off, ld, n, x, x_off, k0, k1, a, a_off):
    a = a.reshape(-1)[a_off : a_off + n]
    x = x.reshape(-1)
    for k in range(k0, k1):
        base = w_off + k * ld
        a += x[x_off + k] * w[base : base + n]


def _ger_sparse_slices(w, w_off, ld, n, data, indices, k0, k1, scale, d, d_off):
    d = d.reshape(-1)[d_off : d_off + n]
    for k in range(k0, k1):
        base = w_off + indices[k] * ld
        w[base : base + n] += (scale * data[k]) * d


def _ger_dense_slices(w, w_off, ld, n, x, x_off, k0, k1, scale, d, d_off):
    x = x.reshape(-1)
    d = d.reshape(-1)[d_off : d_off + n]
    for k in range(k0, k1):
        base = w_off + k * ld
        w[base : base + n] += (scale * x[x_off + k]) * d


def _dot_rows_slices(w, w_off, ld, n, d, d_off, out, out_off):
    rows = w[w_off : w_off + n * ld].reshape(n, ld)
    d = d.reshape(-1)
    acc = np.zeros(n, w.dtype)
    for j in range(ld):  # column by column: each row's sum in the loop's order
        acc += rows[:, j] * d[d_off + j]
    out.reshape(-1)[out_off : out_off + n] = acc


if _config.JIT_DISABLED:
    gemv_sparse, gemv_dense = _gemv_sparse_slices, _gemv_dense_slices
    ger_sparse, ger_dense, dot_rows = _ger_sparse_slices, _ger_dense_slices, _dot_rows_slices
