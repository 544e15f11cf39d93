"""The algorithm: feedforward, backpropagation and SGD for sigmoid networks, compiled.

Read top-down, it is Chapter 1 of Nielsen's *Neural Networks and Deep Learning* in the
book's order (Chapter 2 for backpropagation's equations BP1-BP4):

=============================  ===========================================================
The book (``network.py``)      Here
=============================  ===========================================================
``sigmoid``, ``sigmoid_prime``  :func:`sigmoid`, :func:`sigmoid_prime` (Eq. 3), built on
                               :func:`sigmoid_inplace`
``feedforward``                 :func:`feedforward`, :func:`feedforward_csr`,
                               :func:`feedforward_parallel` (Eq. 4): inference, on
                               :func:`_forward`
``backprop``                    :func:`backprop`: :func:`_forward` then :func:`_backward`
                               (BP1 :func:`_output_error`, BP2 :func:`_hidden_error`) and
                               :func:`_accumulate` (BP3, BP4)
``update_mini_batch``           :func:`update_mini_batch`, on :func:`_step` (Eq. 20-21)
``SGD``'s loop over batches     :func:`sgd_epoch`: one epoch over a permutation
(the same, on threads)          :func:`sgd_epoch_parallel`
=============================  ===========================================================

Only Numba functions live here. They take arrays and scalars, never Python objects, and
write into caller-allocated buffers; validation, allocation of outputs, randomness and
the epoch loop belong to :mod:`fastnn.network`. The kernels take three bundles:

``net = (params, layers)``
    The flat parameter buffer and its layer table (:mod:`fastnn._layout`).
``inputs = (data, indices, indptr, Y)``
    The inputs ``X`` as :func:`csr` (built once per data set) and the targets ``Y`` of
    shape ``(n_samples, n_out)``.
``scratch = (act, delta)``
    :func:`workspace`: per-sample rows of activations and errors, layers ``1..L`` back
    to back at the table's ``A_OFF``.

The row operations each layer is made of are :mod:`fastnn.kernels.rows` (the plain
loops, their specification) or their vector code in :mod:`fastnn.kernels._llvm`
(``FASTNN_ROW_KERNELS`` picks).
"""

import numpy as np
from numba import prange

from fastnn import _config
from fastnn._config import jit
from fastnn._layout import A_OFF, ALIGN, B_OFF, LD, N_IN, N_OUT, W_OFF
from fastnn.kernels._cpu import flush_denormals, prefetch, set_mxcsr
from fastnn.kernels._llvm import float64_from_bits

if _config.JIT_DISABLED or _config.ROW_KERNELS == "loops":
    from fastnn.kernels.rows import dot_rows, gemv_dense, gemv_sparse, ger_dense, ger_sparse
else:
    from fastnn.kernels._llvm import dot_rows, gemv_dense, gemv_sparse, ger_dense, ger_sparse

__all__ = [
    "exp_nonpositive", "sigmoid_inplace", "sigmoid", "sigmoid_prime", "csr", "workspace",
    "feedforward", "feedforward_csr", "feedforward_parallel", "backprop", "update_mini_batch",
    "sgd_epoch", "sgd_epoch_parallel", "block", "n_blocks",
]


# The sigmoid neuron (Eq. 3)
# --------------------------

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 to 32 bits: k * _LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI


@jit(inline="always")
def exp_nonpositive(x):
    """``exp(x)`` in float64 for ``x <= 0`` (or NaN), in straight-line arithmetic.

    Cody and Waite's reduction ``x = k ln 2 + r`` with ``|r| <= ln(2)/2`` (ln 2 split in
    two so that ``k * _LN2_HI`` is exact), then exp(r) by its Taylor series to r^13 (the
    truncation error is below 4e-18, relative), then the scaling by ``2**k`` in two
    exact halves so that subnormal results round once. Within 1 ulp of the correctly
    rounded value; exp(-746) and below give 0. No calls, so loops over it run on
    vectors. Compile callers without the ``reassoc`` flag: it would undo the reduction.
    """
    x = -746.0 if x < -746.0 else x  # NaN passes through
    k = np.floor(x * _LOG2E + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    ki = np.int64(0) if np.isnan(k) else np.int64(k)  # int(NaN) is undefined
    half = ki >> 1
    return p * float64_from_bits((half + 1023) << 52) * float64_from_bits((ki - half + 1023) << 52)


@jit(fastmath=False, error_model="numpy")
def sigmoid_inplace(z):
    """Overwrite ``z`` with sigmoid(z) (Eq. 3), exact and overflow-free for any float.

    With ``e = exp(-|z|)``, sigmoid(z) is ``1 / (1 + e)`` for z >= 0 and ``e / (1 + e)``
    below: ``exp`` is only ever taken of a non-positive number, so it cannot overflow;
    z = 1000 gives exactly 1 and z = -1000 exactly 0; NaN stays NaN. ``e`` comes from
    :func:`exp_nonpositive` in float64 (rounded to float32 for float32 ``z``), so the
    loop runs on vectors; a call to libm's ``exp`` per element was a fifth of an epoch.
    (NumPy's error model: Python's check for division by zero, never true for
    ``1 + e``, would keep the loop scalar.)
    """
    one = z.dtype.type(1)
    for j in range(z.shape[0]):
        v = z[j]
        e = z.dtype.type(exp_nonpositive(-np.abs(np.float64(v))))
        z[j] = (one if v >= 0 else e) / (one + e)


@jit
def sigmoid(z, out):
    """``out[k] = sigmoid(z[k])`` for 1-D arrays of one dtype (of one length)."""
    for k in range(out.shape[0]):
        out[k] = z[k]
    sigmoid_inplace(out)


@jit
def sigmoid_prime(z, out):
    """``out[k] = sigmoid'(z[k]) = sigmoid(z) * (1 - sigmoid(z))`` (Chapter 1, Eq. 3)."""
    one = z.dtype.type(1)
    for k in range(out.shape[0]):
        out[k] = z[k]
    sigmoid_inplace(out)
    for k in range(out.shape[0]):
        out[k] = out[k] * (one - out[k])


# The data the kernels read and write
# -----------------------------------

@jit
def csr(X):
    """The non-zero entries of ``X``, row by row, in compressed sparse row form.

    Returns ``(data, indices, indptr)``: row ``r``'s non-zeros are ``data[k]`` at columns
    ``indices[k]`` for ``indptr[r] <= k < indptr[r+1]``, columns ascending. Built once
    per data set (MNIST's pixels are 81 % zeros: 19 % of X's size plus int32 indices),
    it lets every epoch read each sample's inputs as one short contiguous run instead
    of scanning, and fetching from memory, the whole 784-pixel row.
    """
    n, n_in = X.shape
    indptr = np.zeros(n + 1, np.int64)
    for r in range(n):
        count = 0
        for i in range(n_in):
            count += X[r, i] != 0
        indptr[r + 1] = indptr[r] + count
    data = np.empty(indptr[n], X.dtype)
    indices = np.empty(indptr[n], np.int32)
    for r in range(n):
        k = indptr[r]
        for i in range(n_in):
            if X[r, i] != 0:
                data[k] = X[r, i]
                indices[k] = i
                k += 1
    return data, indices, indptr


@jit
def _zeros_aligned(rows, cols, dtype_like):
    """Zeros of shape ``(rows, cols)`` whose first element starts a cache line.

    Numba aligns arrays to 32 bytes; a 64-byte vector load from a 32-byte boundary
    touches two cache lines.
    """
    pad = ALIGN // dtype_like.itemsize
    buf = np.zeros(rows * cols + pad, dtype_like.dtype)
    start = (-buf.ctypes.data) % ALIGN // dtype_like.itemsize
    return buf[start : start + rows * cols].reshape((rows, cols))


@jit
def workspace(layers, m, dtype_like):
    """The scratch bundle ``(act, delta)`` for batches of up to ``m`` samples.

    Both of shape ``(m, width)``, width the sum of the layers' padded outputs; the
    padding of ``delta`` is never written and stays 0.
    """
    width = layers[-1, A_OFF] + layers[-1, LD]
    return _zeros_aligned(m, width, dtype_like), _zeros_aligned(m, width, dtype_like)


# Feedforward (Eq. 4)
# -------------------
# _copy_note: rows are copied with loops, never ``a[i:j] = b[k:l]``. A slice assignment
# compiles Numba's shape-mismatch error, whose message formatting pulls in its string
# machinery: 4-5 s of the first compile of an epoch kernel (docs/performance.md, "Cold
# start").

@jit(inline="always")
def _forward(params, layers, data, indices, indptr, rows, act):
    """Feedforward (Eq. 4) of the samples ``rows``: ``act[s]`` gets layers 1..L of sample s.

    Layer by layer, each sample in turn; the inputs are the CSR rows of :func:`csr`.
    """
    width = act.shape[1]
    for l in range(layers.shape[0]):
        w_off, b_off, ld, o0 = layers[l, W_OFF], layers[l, B_OFF], layers[l, LD], layers[l, A_OFF]
        for s in range(rows.shape[0]):
            for j in range(ld):  # a loop, not a slice copy: see _copy_note
                act[s, o0 + j] = params[b_off + j]
            if l == 0:
                r = rows[s]
                gemv_sparse(params, w_off, ld, ld, data, indices, indptr[r], indptr[r + 1], act, s * width + o0)
            else:
                x_off = s * width + layers[l - 1, A_OFF]
                gemv_dense(params, w_off, ld, ld, act, x_off, 0, layers[l, N_IN], act, s * width + o0)
            sigmoid_inplace(act[s, o0 : o0 + ld])  # the padding too: whole vectors, never read


# Backpropagation (BP1-BP4)
# -------------------------

@jit(fastmath=False)
def _squared_error(a, y):
    """``sum_j (a[j] - y[j])**2`` in float64, summed in order.

    Strict arithmetic (no fast-math), so the serial and the parallel epoch, whose
    surroundings the compiler vectorises differently, return the same cost to the bit.
    """
    total = 0.0
    for j in range(y.shape[0]):
        diff = a[j] - y[j]
        total += diff * diff
    return total


@jit(inline="always")
def _output_error(layers, Y, rows, act, delta):
    """BP1: the output layer's errors of the samples ``rows``; returns their sum of C_x."""
    one = act.dtype.type(1)
    o0, n_out = layers[-1, A_OFF], layers[-1, N_OUT]
    cost = 0.0
    for s in range(rows.shape[0]):
        y = Y[rows[s]]
        cost += _squared_error(act[s, o0 : o0 + n_out], y)
        for j in range(n_out):
            a = act[s, o0 + j]
            delta[s, o0 + j] = (a - y[j]) * a * (one - a)
    return 0.5 * cost


@jit(inline="always")
def _hidden_error(params, layers, l, r0, r1, rows, act, delta):
    """BP2 for the units ``[r0, r1)`` of hidden layer ``l``: ``(w.T delta') * a (1 - a)``.

    ``w.T`` is weight layer ``l``'s, whose rows ``[r0, r1)`` leave those units, and
    ``delta'`` the errors of layer ``l + 1``.
    """
    one = act.dtype.type(1)
    width = act.shape[1]
    w_off, ld = layers[l, W_OFF], layers[l, LD]
    cur = layers[l - 1, A_OFF]
    for s in range(rows.shape[0]):
        dot_rows(params, w_off + r0 * ld, ld, r1 - r0, delta, s * width + layers[l, A_OFF], delta, s * width + cur + r0)
        for i in range(cur + r0, cur + r1):
            a = act[s, i]
            delta[s, i] = delta[s, i] * a * (one - a)


@jit(inline="always")
def _backward(params, layers, Y, rows, act, delta):
    """Errors of the quadratic cost (BP1, BP2) for the samples ``rows``; returns sum of C_x.

    ``delta[s]`` receives dC_x/dz for layers 1..L, with sigma'(z) = a (1 - a); its
    padding entries are never written (they stay 0).
    """
    cost = _output_error(layers, Y, rows, act, delta)
    for l in range(layers.shape[0] - 1, 0, -1):
        _hidden_error(params, layers, l, 0, layers[l, N_IN], rows, act, delta)
    return cost


@jit(inline="always")
def _accumulate(buf, layers, data, indices, indptr, rows, act, delta, scale):
    """``buf += scale * sum_s (dC_x/db, dC_x/dw)`` over the samples ``rows`` (BP3, BP4).

    With ``buf = params`` and ``scale = -eta/m`` this is the mini-batch update,
    Eq. (20)-(21); with a zeroed gradient buffer and ``scale = 1`` it sums gradients.
    First-layer terms are formed for the non-zero inputs only.
    """
    width = act.shape[1]
    for l in range(layers.shape[0]):
        w_off, b_off, ld, d0 = layers[l, W_OFF], layers[l, B_OFF], layers[l, LD], layers[l, A_OFF]
        for s in range(rows.shape[0]):
            if l == 0:
                r = rows[s]
                ger_sparse(buf, w_off, ld, ld, data, indices, indptr[r], indptr[r + 1], scale, delta, s * width + d0)
            else:
                x_off = s * width + layers[l - 1, A_OFF]
                ger_dense(buf, w_off, ld, ld, act, x_off, 0, layers[l, N_IN], scale, delta, s * width + d0)
            for j in range(ld):
                buf[b_off + j] += scale * delta[s, d0 + j]


@jit
def backprop(net, X, Y, grad):
    """Sum over the rows of ``X`` of the gradient of C_x into ``grad`` (overwritten).

    Returns the summed cost. ``grad`` has the layout of ``params``.
    """
    params, layers = net
    data, indices, indptr = csr(X)
    act, delta = workspace(layers, _CHUNK, params)
    grad[:] = 0
    one = np.ones(1, params.dtype)
    cost = 0.0
    for start in range(0, X.shape[0], _CHUNK):
        rows = np.arange(start, min(start + _CHUNK, X.shape[0]))
        _forward(params, layers, data, indices, indptr, rows, act)
        cost += _backward(params, layers, Y, rows, act, delta)
        _accumulate(grad, layers, data, indices, indptr, rows, act, delta, one[0])
    return cost


# The mini-batch step (Eq. 20-21)
# -------------------------------

@jit(inline="always")
def _step(params, layers, inputs, rows, eta, scratch):
    """One mini-batch update, Eq. (20)-(21), on the samples ``rows`` of ``inputs``.

    Every sample's forward and backward pass uses the parameters as they were at the
    start of the batch; only then are the gradient terms, scaled by ``-eta / len(rows)``,
    added into ``params``. Returns the sum of C_x over the batch. Inlined into its
    callers: a separate function was compiled, then optimised again inside
    :func:`sgd_epoch` (docs/performance.md, "Cold start").
    """
    data, indices, indptr, Y = inputs
    act, delta = scratch
    scale = params.dtype.type(-eta / rows.shape[0])
    _forward(params, layers, data, indices, indptr, rows, act)
    cost = _backward(params, layers, Y, rows, act, delta)
    _accumulate(params, layers, data, indices, indptr, rows, act, delta, scale)
    return cost


@jit
def update_mini_batch(net, inputs, rows, eta):
    """One mini-batch step on the samples ``rows``; returns the batch's summed cost."""
    params, layers = net
    scratch = workspace(layers, rows.shape[0], params)
    mxcsr = flush_denormals()
    cost = _step(params, layers, inputs, rows, eta, scratch)
    set_mxcsr(mxcsr)
    return cost


# The epoch
# ---------

@jit(inline="always")
def _prefetch_inputs(inputs, rows):
    """Prefetch the CSR inputs and targets of the samples ``rows``.

    An epoch visits the samples in a random order, so each one's inputs start with a
    cache miss to memory; fetched one mini-batch ahead, they wait in cache instead.
    """
    data, indices, indptr, Y = inputs
    step = 64 // data.itemsize
    for s in range(rows.shape[0]):
        r = rows[s]
        k0, k1 = indptr[r], indptr[r + 1]
        for k in range(k0, k1, step):
            prefetch(data, k)
        for k in range(k0, k1, 16):
            prefetch(indices, k)
        prefetch(Y, r * Y.shape[1])


@jit(inline="always")
def _prefetch_ahead(inputs, perm, stop, m):
    """Prefetch for the batch after the one ending at ``stop``, and its successor's ``indptr``."""
    n = perm.shape[0]
    indptr = inputs[2]
    for s in range(min(stop + m, n), min(stop + 2 * m, n)):
        prefetch(indptr, perm[s])
    _prefetch_inputs(inputs, perm[stop : min(stop + m, n)])


@jit
def sgd_epoch(net, inputs, perm, mini_batch_size, eta):
    """One epoch of stochastic gradient descent over the samples ``perm`` (Eq. 20-21).

    Mini-batches are ``perm[k*m : (k+1)*m]``; the last, shorter one is averaged over its
    own size. Nothing is copied or shuffled in memory. Returns the sum over the epoch of
    each sample's C_x, evaluated by the forward pass that trained on it.
    """
    params, layers = net
    n = perm.shape[0]
    m = min(mini_batch_size, n)
    scratch = workspace(layers, m, params)
    mxcsr = flush_denormals()
    cost = 0.0
    for start in range(0, n, m):
        stop = min(start + m, n)
        _prefetch_ahead(inputs, perm, stop, m)
        cost += _step(params, layers, inputs, perm[start:stop], eta, scratch)
    set_mxcsr(mxcsr)
    return cost


# The parallel epoch
# ------------------
# Each layer's units are split into column blocks, one per thread; a thread computes its
# units' activations for every sample of the batch, then their errors, and updates the
# weights and biases that belong to them: the columns of the first layer's w.T, the rows
# of the next layer's w.T (the weights leaving its units) and their biases. No thread
# ever adds into another's numbers, so nothing is reduced across threads: every
# parameter receives the same operations in the same order as in :func:`sgd_epoch`, and
# the results equal the serial kernel's bit for bit, whatever the number of threads. The
# price is one fork-join per hidden layer and direction per mini-batch (about 2.5 us each
# with two OpenMP threads here), and the output layer, which reads every hidden unit,
# runs on one thread.


@jit(inline="always")
def block(ld, n_blocks, b):
    """Columns ``[c0, c1)`` of block ``b`` of ``n_blocks`` over ``ld``, cut at multiples of 16.

    16 columns are whole 512-bit vectors in either dtype and two 64-byte cache lines
    in float64, so no two threads write into one line of an aligned row.
    """
    c0 = ld * b // n_blocks // 16 * 16
    c1 = ld if b == n_blocks - 1 else ld * (b + 1) // n_blocks // 16 * 16
    return c0, c1


@jit(inline="always")
def n_blocks(ld, n_threads, min_block):
    """Blocks for a layer of ``ld`` columns: one per thread, each at least ``min_block`` wide."""
    return max(1, min(n_threads, ld // min_block))


@jit
def _forward_block(params, layers, l, c0, c1, data, indices, indptr, rows, act):
    """Layer ``l + 1``'s units ``[c0, c1)`` of :func:`_forward`, for every sample ``rows``."""
    mxcsr = flush_denormals()  # MXCSR is per thread
    w_off, b_off, ld = layers[l, W_OFF], layers[l, B_OFF], layers[l, LD]
    width = act.shape[1]
    o0 = layers[l, A_OFF] + c0
    n = c1 - c0
    for s in range(rows.shape[0]):
        for j in range(n):
            act[s, o0 + j] = params[b_off + c0 + j]
        if l == 0:
            r = rows[s]
            gemv_sparse(params, w_off + c0, ld, n, data, indices, indptr[r], indptr[r + 1], act, s * width + o0)
        else:
            x_off = s * width + layers[l - 1, A_OFF]
            gemv_dense(params, w_off + c0, ld, n, act, x_off, 0, layers[l, N_IN], act, s * width + o0)
        sigmoid_inplace(act[s, o0 : o0 + n])
    set_mxcsr(mxcsr)


@jit(inline="always")
def _update_columns(params, layers, l, c0, c1, data, indices, indptr, rows, delta, scale):
    """BP3 for the biases ``[c0, c1)`` of weight layer ``l``; for ``l = 0``, BP4 for those columns of ``w.T``."""
    width = delta.shape[1]
    w_off, b_off, ld = layers[l, W_OFF], layers[l, B_OFF], layers[l, LD]
    d0 = layers[l, A_OFF] + c0
    n = c1 - c0
    for s in range(rows.shape[0]):
        if l == 0:
            r = rows[s]
            ger_sparse(params, w_off + c0, ld, n, data, indices, indptr[r], indptr[r + 1], scale, delta, s * width + d0)
        for j in range(n):
            params[b_off + c0 + j] += scale * delta[s, d0 + j]


@jit
def _backward_block(params, layers, l, c0, c1, data, indices, indptr, rows, act, delta, scale):
    """Units ``[c0, c1)`` of hidden layer ``l`` (BP2), and the updates that belong to them.

    These are the units' biases, the rows of ``w.T`` of weight layer ``l`` that leave them
    (BP4, with the errors of layer ``l + 1``), and for ``l = 1`` the columns of the first
    layer's ``w.T`` that enter them.
    """
    mxcsr = flush_denormals()
    width = act.shape[1]
    w_off, ld, n_in = layers[l, W_OFF], layers[l, LD], layers[l, N_IN]
    r0, r1 = min(c0, n_in), min(c1, n_in)
    _hidden_error(params, layers, l, r0, r1, rows, act, delta)
    for s in range(rows.shape[0]):
        x_off = s * width + layers[l - 1, A_OFF]
        ger_dense(params, w_off, ld, ld, act, x_off, r0, r1, scale, delta, s * width + layers[l, A_OFF])
    _update_columns(params, layers, l - 1, c0, c1, data, indices, indptr, rows, delta, scale)
    set_mxcsr(mxcsr)


@jit(parallel=True)
def sgd_epoch_parallel(net, inputs, perm, mini_batch_size, eta, n_threads, min_block):
    """:func:`sgd_epoch` with each layer's units split over ``n_threads`` threads.

    Returns the same parameters and cost as the serial kernel, bit for bit: see the note
    above :func:`block`. A layer narrower than ``2 * min_block`` columns (padded) runs on
    one thread. Which networks are worth it (and the default ``min_block``) is decided
    outside, in :mod:`fastnn.parallel` (``splits``, ``MIN_BLOCK``): with nothing split,
    this computes what :func:`sgd_epoch` does, only slower.
    """
    params, layers = net
    data, indices, indptr, Y = inputs
    n_layers = layers.shape[0]
    n = perm.shape[0]
    m = min(mini_batch_size, n)
    act, delta = workspace(layers, m, params)
    out_ld = layers[n_layers - 1, LD]
    mxcsr = flush_denormals()
    cost = 0.0
    for start in range(0, n, m):
        stop = min(start + m, n)
        rows = perm[start:stop]
        _prefetch_ahead(inputs, perm, stop, m)
        scale = params.dtype.type(-eta / rows.shape[0])
        for l in range(n_layers):
            ld = layers[l, LD]
            nb = n_blocks(ld, n_threads, min_block)
            if nb == 1:
                _forward_block(params, layers, l, 0, ld, data, indices, indptr, rows, act)
            else:
                for b in prange(nb):
                    c0, c1 = block(ld, nb, b)
                    _forward_block(params, layers, l, c0, c1, data, indices, indptr, rows, act)
        cost += _output_error(layers, Y, rows, act, delta)
        _update_columns(params, layers, n_layers - 1, 0, out_ld, data, indices, indptr, rows, delta, scale)
        for l in range(n_layers - 1, 0, -1):
            ld = layers[l - 1, LD]  # layer l's units, padded
            nb = n_blocks(ld, n_threads, min_block)
            if nb == 1:
                _backward_block(params, layers, l, 0, ld, data, indices, indptr, rows, act, delta, scale)
            else:
                for b in prange(nb):
                    c0, c1 = block(ld, nb, b)
                    _backward_block(params, layers, l, c0, c1, data, indices, indptr, rows, act, delta, scale)
    set_mxcsr(mxcsr)
    return cost


# Inference
# ---------

_CHUNK = 64  # rows per pass of the one-off kernels: scratch stays in cache


@jit(inline="always")  # as _step: compiled once, inside each caller
def _feedforward_rows(params, layers, data, indices, indptr, out, start, stop):
    act, _ = workspace(layers, _CHUNK, params)
    o0 = layers[-1, A_OFF]
    n_out = layers[-1, N_OUT]
    for first in range(start, stop, _CHUNK):
        rows = np.arange(first, min(first + _CHUNK, stop))
        _forward(params, layers, data, indices, indptr, rows, act)
        for s in range(rows.shape[0]):
            for j in range(n_out):
                out[rows[s], j] = act[s, o0 + j]


@jit
def feedforward_csr(net, x_csr, out):
    """``out[r] = a^L(x_r)`` for every row of the CSR inputs ``x_csr`` (Eq. 4), see :func:`csr`."""
    params, layers = net
    data, indices, indptr = x_csr
    _feedforward_rows(params, layers, data, indices, indptr, out, 0, indptr.shape[0] - 1)


@jit
def feedforward(net, X, out):
    """``out[r] = a^L(X[r])`` for every row (Eq. 4), serially."""
    params, layers = net
    data, indices, indptr = csr(X)
    _feedforward_rows(params, layers, data, indices, indptr, out, 0, X.shape[0])


@jit(parallel=True)
def feedforward_parallel(net, X, out, n_chunks):
    """As :func:`feedforward`, rows split into ``n_chunks`` chunks run on Numba's threads.

    Each row is computed exactly as in the serial kernel, so results do not depend on
    the number of threads.
    """
    params, layers = net
    data, indices, indptr = csr(X)
    n = X.shape[0]
    for c in prange(n_chunks):
        _feedforward_rows(params, layers, data, indices, indptr, out, c * n // n_chunks, (c + 1) * n // n_chunks)
