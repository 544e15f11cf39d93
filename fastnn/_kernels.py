"""Compiled kernels: feedforward, backpropagation and SGD for sigmoid networks.

Only Numba functions live here. They take arrays and scalars, never Python objects,
and write into caller-allocated buffers; validation, allocation of outputs, randomness
and the epoch loop belong to :mod:`fastnn.network`. All kernels live in this one module
so that Numba's on-disk cache, which is keyed by this file, never serves a kernel
compiled against an older version of a helper.

Parameter layout
----------------
A network with ``sizes = (n_0, ..., n_L)`` keeps every parameter in one C-contiguous
1-D buffer ``params``. For weight layer ``l`` (``0 <= l < L``):

* ``params[offsets[2*l] : offsets[2*l+1]]`` is the weight matrix stored transposed,
  row-major of shape ``(n_l, n_{l+1})``: row ``i`` holds the weights leaving input
  ``i``. The book's ``w[j, i]`` (shape ``(n_out, n_in)``) is ``params[offsets[2*l] +
  i*n_out + j]``;
* ``params[offsets[2*l+1] : offsets[2*l+2]]`` is the bias vector, shape ``(n_{l+1},)``.

Storing ``w.T`` makes the work of the first layer proportional to the number of
non-zero inputs: a zero pixel (81 % of MNIST) skips a whole row in the forward pass
and in the weight update. Gradients use the same layout.

Per-sample scratch rows ``act`` and ``delta`` hold the activations and errors of layers
``1..L`` back to back: layer ``l`` occupies ``[aoff[l-1], aoff[l])`` where ``aoff`` is
:func:`_activation_offsets`.

Numbers follow Nielsen, *Neural Networks and Deep Learning*, Chapter 1 (Eq. 3-4:
sigmoid neurons; Eq. 6: quadratic cost; Eq. 20-21: the mini-batch update) and
Chapter 2 (BP1-BP4: backpropagation).
"""

import numpy as np
from numba import prange

from fastnn._config import jit


@jit
def _sigmoid_inplace(z):
    """Overwrite ``z`` with sigmoid(z) (Eq. 3), exact and overflow-free for any float.

    ``exp`` is only ever taken of a non-positive number, so it cannot overflow:
    z = 1000 gives exactly 1 and z = -1000 exactly 0; NaN stays NaN.
    """
    one = z.dtype.type(1)
    for j in range(z.shape[0]):
        v = z[j]
        if v >= 0:
            z[j] = one / (one + np.exp(-v))
        else:
            e = np.exp(v)
            z[j] = e / (one + e)


@jit
def _sigmoid(z, out):
    """``out[k] = sigmoid(z[k])`` for 1-D arrays of one dtype."""
    out[:] = z
    _sigmoid_inplace(out)


@jit
def _sigmoid_prime(z, out):
    """``out[k] = sigmoid'(z[k]) = sigmoid(z) * (1 - sigmoid(z))`` (Chapter 1, Eq. 3)."""
    one = z.dtype.type(1)
    out[:] = z
    _sigmoid_inplace(out)
    for k in range(out.shape[0]):
        out[k] = out[k] * (one - out[k])


@jit
def _activation_offsets(sizes, offsets):
    """Start of each layer's block in a scratch row: layer l is ``[aoff[l-1], aoff[l])``.

    Each block is as long as the padded row of the weight layer that produces it.
    """
    aoff = np.zeros(sizes.shape[0], np.int64)
    for l in range(1, sizes.shape[0]):
        aoff[l] = aoff[l - 1] + (offsets[2 * l - 1] - offsets[2 * l - 2]) // sizes[l - 1]
    return aoff


@jit
def _nonzero_index(X):
    """Positions of the non-zero entries of each row of ``X``, in CSR form.

    Returns ``(indptr, indices)``: row ``r``'s non-zero columns are
    ``indices[indptr[r]:indptr[r+1]]``, ascending. Built once per data set, it spares
    every epoch a scan of the (81 % zero) MNIST pixels; ``X`` itself is not copied.
    """
    n, n_in = X.shape
    indptr = np.zeros(n + 1, np.int64)
    for r in range(n):
        count = 0
        for i in range(n_in):
            count += X[r, i] != 0
        indptr[r + 1] = indptr[r] + count
    indices = np.empty(indptr[n], np.int32)
    for r in range(n):
        k = indptr[r]
        for i in range(n_in):
            if X[r, i] != 0:
                indices[k] = i
                k += 1
    return indptr, indices


@jit
def _layer(buf, sizes, offsets, l):
    """Views of weight layer ``l`` in ``buf``: ``w.T`` of shape (n_in, ld) and ``b`` (ld,).

    ``ld >= n_out`` is the padded row length; padding entries are zero.
    """
    n_in = sizes[l]
    ld = (offsets[2 * l + 1] - offsets[2 * l]) // n_in
    wt = buf[offsets[2 * l] : offsets[2 * l + 1]].reshape((n_in, ld))
    return wt, buf[offsets[2 * l + 1] : offsets[2 * l + 2]]


@jit
def _forward(params, sizes, offsets, aoff, x, idx, act):
    """Feedforward of one sample (Eq. 4): fill ``act`` with the activations of layers 1..L.

    Only the inputs ``x[idx]`` (the non-zero ones) are read.
    """
    n_layers = sizes.shape[0] - 1
    for l in range(n_layers):
        wt, b = _layer(params, sizes, offsets, l)
        n_out = wt.shape[1]
        a = act[aoff[l] : aoff[l] + n_out]
        a[:] = b
        if l == 0:
            for k in range(idx.shape[0]):
                i = idx[k]
                xi = x[i]
                for j in range(n_out):
                    a[j] += xi * wt[i, j]
        else:
            prev = act[aoff[l - 1] : aoff[l]]
            for i in range(wt.shape[0]):
                ai = prev[i]
                for j in range(n_out):
                    a[j] += ai * wt[i, j]
        _sigmoid_inplace(a[: sizes[l + 1]])


@jit
def _backward(params, sizes, offsets, aoff, act, y, delta):
    """Errors of one sample for the quadratic cost (BP1, BP2); returns C_x = |y - a|^2 / 2.

    ``delta`` receives dC_x/dz for layers 1..L, with sigma'(z) = a (1 - a).
    """
    one = act.dtype.type(1)
    n_layers = sizes.shape[0] - 1
    o0 = aoff[n_layers - 1]
    cost = 0.0
    for j in range(sizes[n_layers]):
        a = act[o0 + j]
        diff = a - y[j]
        cost += diff * diff
        delta[o0 + j] = diff * a * (one - a)
    for l in range(n_layers - 1, 0, -1):
        wt, _ = _layer(params, sizes, offsets, l)
        n_out = wt.shape[1]
        d_next = delta[aoff[l] : aoff[l] + n_out]
        cur = aoff[l - 1]
        for i in range(wt.shape[0]):
            s = act.dtype.type(0)
            for j in range(n_out):
                s += wt[i, j] * d_next[j]
            a = act[cur + i]
            delta[cur + i] = s * a * (one - a)
    return 0.5 * cost


@jit
def _accumulate(buf, sizes, offsets, aoff, x, idx, act, delta, scale):
    """``buf += scale * (dC_x/db, dC_x/dw)`` for one sample (BP3, BP4), in the parameter layout.

    With ``buf = params`` and ``scale = -eta/m`` this is one sample's share of the
    mini-batch update, Eq. (20)-(21); with a zeroed gradient buffer and ``scale = 1`` it
    sums gradients. First-layer terms are formed for the inputs ``x[idx]`` only.
    """
    n_layers = sizes.shape[0] - 1
    for l in range(n_layers):
        wt, b = _layer(buf, sizes, offsets, l)
        n_out = wt.shape[1]
        d = delta[aoff[l] : aoff[l] + n_out]
        if l == 0:
            for k in range(idx.shape[0]):
                i = idx[k]
                c = scale * x[i]
                for j in range(n_out):
                    wt[i, j] += c * d[j]
        else:
            prev = act[aoff[l - 1] : aoff[l]]
            for i in range(wt.shape[0]):
                c = scale * prev[i]
                for j in range(n_out):
                    wt[i, j] += c * d[j]
        for j in range(n_out):
            b[j] += scale * d[j]


@jit
def _step(params, sizes, offsets, aoff, X, indptr, indices, Y, rows, eta, act, delta):
    """One mini-batch update, Eq. (20)-(21), on the samples ``X[rows]``, ``Y[rows]``.

    Every sample's forward and backward pass uses the parameters as they were at the
    start of the batch; only then are the ``len(rows)`` gradient terms, each scaled by
    ``-eta / len(rows)``, added into ``params``. Returns the sum of C_x over the batch.
    """
    m = rows.shape[0]
    scale = np.empty(1, params.dtype)
    scale[0] = -eta / m
    cost = 0.0
    for s in range(m):
        r = rows[s]
        idx = indices[indptr[r] : indptr[r + 1]]
        _forward(params, sizes, offsets, aoff, X[r], idx, act[s])
        cost += _backward(params, sizes, offsets, aoff, act[s], Y[r], delta[s])
    for s in range(m):
        r = rows[s]
        idx = indices[indptr[r] : indptr[r + 1]]
        _accumulate(params, sizes, offsets, aoff, X[r], idx, act[s], delta[s], scale[0])
    return cost


@jit
def _workspace(sizes, offsets, m, dtype_like):
    """Scratch for ``m`` samples: (aoff, act, delta); delta's padding stays 0."""
    aoff = _activation_offsets(sizes, offsets)
    act = np.empty((m, aoff[-1]), dtype_like.dtype)
    delta = np.zeros((m, aoff[-1]), dtype_like.dtype)
    return aoff, act, delta


@jit
def _update_mini_batch(params, sizes, offsets, X, indptr, indices, Y, rows, eta):
    """One mini-batch step on ``X[rows]``; returns the batch's summed cost."""
    aoff, act, delta = _workspace(sizes, offsets, rows.shape[0], params)
    return _step(params, sizes, offsets, aoff, X, indptr, indices, Y, rows, eta, act, delta)


@jit
def _sgd_epoch(params, sizes, offsets, X, indptr, indices, Y, perm, mini_batch_size, eta):
    """One epoch of stochastic gradient descent over ``X[perm]`` (Chapter 1, Eq. 20-21).

    ``(indptr, indices)`` is :func:`_nonzero_index` of ``X``. Mini-batches are
    ``perm[k*m : (k+1)*m]``; the last, shorter one is averaged over its own size. ``X``
    is never copied. Returns the sum over the epoch of each sample's C_x, evaluated by
    the forward pass that trained on it.
    """
    n = perm.shape[0]
    m = min(mini_batch_size, n)
    aoff, act, delta = _workspace(sizes, offsets, m, params)
    cost = 0.0
    for start in range(0, n, m):
        stop = min(start + m, n)
        cost += _step(
            params, sizes, offsets, aoff, X, indptr, indices, Y, perm[start:stop], eta, act, delta
        )
    return cost


@jit
def _backprop(params, sizes, offsets, X, Y, grad):
    """Sum over the rows of ``X`` of the gradient of C_x into ``grad`` (overwritten).

    Returns the summed cost. ``grad`` has the layout of ``params``.
    """
    indptr, indices = _nonzero_index(X)
    aoff, act, delta = _workspace(sizes, offsets, 1, params)
    grad[:] = 0
    one = np.ones(1, params.dtype)
    cost = 0.0
    for r in range(X.shape[0]):
        idx = indices[indptr[r] : indptr[r + 1]]
        _forward(params, sizes, offsets, aoff, X[r], idx, act[0])
        cost += _backward(params, sizes, offsets, aoff, act[0], Y[r], delta[0])
        _accumulate(grad, sizes, offsets, aoff, X[r], idx, act[0], delta[0], one[0])
    return cost


@jit
def _feedforward_rows(params, sizes, offsets, X, indptr, indices, out, start, stop):
    aoff, act, delta = _workspace(sizes, offsets, 1, params)
    n_layers = sizes.shape[0] - 1
    o0 = aoff[n_layers - 1]
    for r in range(start, stop):
        _forward(params, sizes, offsets, aoff, X[r], indices[indptr[r] : indptr[r + 1]], act[0])
        out[r, :] = act[0, o0 : o0 + sizes[n_layers]]


@jit
def _feedforward_indexed(params, sizes, offsets, X, indptr, indices, out):
    """``out[r] = a^L(X[r])`` for every row (Eq. 4), given :func:`_nonzero_index` of ``X``."""
    _feedforward_rows(params, sizes, offsets, X, indptr, indices, out, 0, X.shape[0])


@jit
def _feedforward(params, sizes, offsets, X, out):
    """``out[r] = a^L(X[r])`` for every row (Eq. 4), serially."""
    indptr, indices = _nonzero_index(X)
    _feedforward_rows(params, sizes, offsets, X, indptr, indices, out, 0, X.shape[0])


@jit(parallel=True)
def _feedforward_parallel(params, sizes, offsets, X, out, n_chunks):
    """As :func:`_feedforward`, rows split into ``n_chunks`` chunks run on Numba's threads.

    Each row is computed exactly as in the serial kernel, so results do not depend on
    the number of threads.
    """
    indptr, indices = _nonzero_index(X)
    n = X.shape[0]
    for c in prange(n_chunks):
        _feedforward_rows(
            params, sizes, offsets, X, indptr, indices, out, c * n // n_chunks, (c + 1) * n // n_chunks
        )
