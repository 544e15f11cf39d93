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
``SGD``'s loop over batches     :func:`sgd_epoch`: one epoch over a permutation (a wide
                               first layer in blocks of pixels: :func:`blocked_pixels`)
(the same, on threads)          :func:`sgd_epoch_parallel`
(the same, inputs as bytes)     :func:`sgd_epoch_bytes`, :func:`feedforward_csr_bytes`:
                               each mini-batch decoded, then :func:`_step`
=============================  ===========================================================

Only Numba functions live here, and the thin Python entry points that allocate their
scratch buffers and call them (allocating inside a kernel costs no time when it runs,
but seconds of compilation the first time: Numba compiles ``np.zeros``, ``np.arange``
and the like afresh for every caller). The kernels take arrays and scalars, never
Python objects, and write into caller-allocated buffers; validation, allocation of
outputs, randomness and the epoch loop belong to :mod:`fastnn.network`. The kernels
take these bundles:

``net = (params, layers)``
    The flat parameter buffer and its layer table (:mod:`fastnn._layout`).
``inputs = (data, indices, indptr, Y)``
    The inputs ``X`` as :func:`csr` (built once per data set) and the targets ``Y`` of
    shape ``(n_samples, n_out)``.
``scratch = (act, delta)``
    :func:`workspace`: per-sample rows of activations and errors, layers ``1..L`` back
    to back at the table's ``A_OFF``. Beside it ``wscale``, :func:`weight_scales`.
``objective = (cost_id, decay)``
    What the training kernels minimise: the cost (:data:`QUADRATIC`, Chapter 1's Eq. 6,
    or :data:`CROSS_ENTROPY`, Chapter 3's Eq. 63) and the weight decay factor
    ``1 - eta * lmbda / n`` of L2 regularisation (Chapter 3, Eq. 93; 1.0 without it).
    ``(QUADRATIC, 1.0)`` is Chapter 1, computed exactly as before these options existed.

The row operations each layer is made of are :mod:`fastnn.kernels.rows` (the plain
loops, their specification) or their vector code in :mod:`fastnn.kernels._llvm`
(``FASTNN_ROW_KERNELS`` picks).
"""

import numpy as np
from numba import prange

from fastnn import _config, _layout
from fastnn._config import jit
from fastnn._layout import A_OFF, B_OFF, LD, N_IN, N_OUT, W_OFF
from fastnn.kernels._cpu import flush_denormals, prefetch, set_mxcsr
from fastnn.kernels._llvm import float64_from_bits

if _config.JIT_DISABLED or _config.ROW_KERNELS == "loops":
    from fastnn.kernels.rows import dot_rows, gemv_dense, gemv_sparse, ger_dense, ger_sparse
else:
    from fastnn.kernels._llvm import dot_rows, gemv_dense, gemv_sparse, ger_dense, ger_sparse

__all__ = [
    "QUADRATIC", "CROSS_ENTROPY", "COST_IDS", "softplus", "total_cost", "total_cost_csr",
    "exp_nonpositive", "sigmoid_inplace", "sigmoid", "sigmoid_prime", "csr", "workspace", "weight_scales",
    "feedforward", "feedforward_csr", "feedforward_parallel", "backprop", "update_mini_batch",
    "sgd_epoch", "sgd_epoch_parallel", "block", "n_blocks", "sgd_epoch_bytes", "feedforward_csr_bytes",
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


@jit(inline="always")
def _copy(src, i0, dst, j0, n):
    """``dst[j0 : j0 + n] = src[i0 : i0 + n]`` (1-D), as a loop: a slice copy compiles Numba's
    shape-mismatch error and its string formatting, seconds per kernel (docs/performance.md)."""
    for k in range(n):
        dst[j0 + k] = src[i0 + k]


@jit
def sigmoid(z, out):
    """``out[k] = sigmoid(z[k])`` for 1-D arrays of one dtype and length."""
    _copy(z, 0, out, 0, out.shape[0])
    sigmoid_inplace(out)


@jit
def sigmoid_prime(z, out):
    """``out[k] = sigmoid'(z[k]) = sigmoid(z) * (1 - sigmoid(z))`` (Chapter 1, Eq. 3)."""
    one = z.dtype.type(1)
    _copy(z, 0, out, 0, out.shape[0])
    sigmoid_inplace(out)
    for k in range(out.shape[0]):
        out[k] = out[k] * (one - out[k])


# The cross-entropy cost (Chapter 3, Eq. 63)
# ------------------------------------------

#: Codes of the costs in the kernels' ``objective``: Chapter 1's quadratic cost (Eq. 6) and
#: Chapter 3's cross-entropy (Eq. 63).
QUADRATIC, CROSS_ENTROPY = 0, 1
#: The codes by the names :class:`fastnn.Network` takes (``cost="cross-entropy"``).
COST_IDS = {"quadratic": QUADRATIC, "cross-entropy": CROSS_ENTROPY}


@jit(inline="always")
def _log1p_unit(e):
    """``ln(1 + e)`` in float64 for ``0 <= e <= 1``, in straight-line arithmetic.

    ``ln(1 + e) = 2 atanh(u)`` with ``u = e / (2 + e)`` in [0, 1/3], summed as
    ``2u (1 + u^2/3 + ... + u^32/33)``: the next term is below ``(1/9)^17 / 35 < 2e-18``
    relative, and no ``1 + e`` is ever rounded, so tiny ``e`` keeps its precision. No
    calls, so loops over it run on vectors.
    """
    u = e / (2.0 + e)
    u2 = u * u
    p = 1.0 / 33.0
    p = p * u2 + 1.0 / 31.0
    p = p * u2 + 1.0 / 29.0
    p = p * u2 + 1.0 / 27.0
    p = p * u2 + 1.0 / 25.0
    p = p * u2 + 1.0 / 23.0
    p = p * u2 + 1.0 / 21.0
    p = p * u2 + 1.0 / 19.0
    p = p * u2 + 1.0 / 17.0
    p = p * u2 + 1.0 / 15.0
    p = p * u2 + 1.0 / 13.0
    p = p * u2 + 1.0 / 11.0
    p = p * u2 + 1.0 / 9.0
    p = p * u2 + 1.0 / 7.0
    p = p * u2 + 1.0 / 5.0
    p = p * u2 + 1.0 / 3.0
    p = p * u2 + 1.0
    return 2.0 * u * p


@jit(fastmath={"contract"}, error_model="numpy")
def softplus(z, out):
    """``out[k] = ln(1 + e^z[k])``, exact and overflow-free for any float (1-D, one dtype).

    ``ln(1 + e^z) = max(z, 0) + ln(1 + e^-|z|)``: the exponential is of a non-positive
    number (:func:`exp_nonpositive`) and its logarithm :func:`_log1p_unit`, in float64;
    ``z = 1000`` gives 1000, ``z = -1000`` gives 0, NaN stays NaN. The per-output cost of
    :func:`_cross_entropy_row`, on its own for tests.
    """
    for j in range(z.shape[0]):
        v = np.float64(z[j])
        out[j] = (v if v > 0 else 0.0) + _log1p_unit(exp_nonpositive(-np.abs(v)))


@jit(fastmath={"contract"}, error_model="numpy")
def _cross_entropy_row(z, y, d):
    """One sample's output layer under the cross-entropy cost; returns its C_x.

    ``z`` holds the output layer's weighted inputs and is overwritten with the
    activations ``a = sigmoid(z)`` (the expression of :func:`sigmoid_inplace`, so the
    same numbers); ``d`` receives the output error ``a - y`` (Chapter 3, Eq. 66: no
    sigma'(z) factor, so a saturated wrong output still learns). C_x = -sum_j [y ln a +
    (1 - y) ln(1 - a)] (Eq. 63) is computed as sum_j [ln(1 + e^z) - y z], from z: exact
    where ``a`` rounds to 0 or 1, where network2's logarithms give infinities (it patches
    them with ``np.nan_to_num``). ``e^-|z|`` is computed once for the sigmoid and the
    logarithm, in float64; the per-output terms pass through ``d`` in its dtype and are
    summed in order, in float64. One call per sample, like the sigmoid it replaces; the
    first loop runs on vectors (fused multiply-adds only: ``reassoc`` would undo the
    exponential's range reduction, and without fusion this loop was 4x slower here).
    """
    one = z.dtype.type(1)
    n = y.shape[0]
    for j in range(n):
        v = z[j]
        v64 = np.float64(v)
        e64 = exp_nonpositive(-np.abs(v64))
        e = z.dtype.type(e64)
        z[j] = (one if v >= 0 else e) / (one + e)
        d[j] = (v64 if v64 > 0 else 0.0) + _log1p_unit(e64) - np.float64(y[j]) * v64
    cost = 0.0
    for j in range(n):
        cost += d[j]
    for j in range(n):
        d[j] = z[j] - y[j]
    return cost


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


def workspace(layers, m, dtype):
    """The scratch bundle ``(act, delta)`` for batches of up to ``m`` samples (Python).

    Both zeros of shape ``(m, width)`` and ``dtype``, width the sum of the layers' padded
    outputs (:func:`fastnn._layout.scratch_width`), starting on a cache line; the padding
    of ``delta`` is never written and stays 0.
    """
    width = _layout.scratch_width(layers)
    return _layout.aligned_zeros((m, width), dtype), _layout.aligned_zeros((m, width), dtype)


def weight_scales(layers):
    """``wscale``, float64 of shape ``(2, n_layers)``, all 1 (Python): see :func:`_step`.

    Row 0 holds each weight layer's current scale ``s`` (its weights are ``s`` times the
    stored ones), row 1 the next one, after a step's weight decay.
    """
    return np.ones((2, layers.shape[0]))


def _frozen(net):
    """``net`` with its layer table read-only, the one form the compiled kernels are given.

    Numba compiles a kernel once per argument types, and a writable and a read-only table
    are two types (``Network.layers`` is read-only): without this, a test or a caller
    passing either doubled the compile time.
    """
    params, layers = net
    if layers.flags.writeable:
        layers = layers.view()
        layers.flags.writeable = False
    return params, layers


def _chunk_buffers(layers, dtype):
    """``(scratch, wscale, rows)`` of the one-off kernels, which go :data:`_CHUNK` samples at a time."""
    return workspace(layers, _CHUNK, dtype), weight_scales(layers), np.empty(_CHUNK, np.int64)


@jit(inline="always")
def _chunk(rows, first, stop):
    """``rows[:n] = first, first + 1, ...``, up to :data:`_CHUNK` samples before ``stop``; returns that view."""
    n = min(rows.shape[0], stop - first)
    for s in range(n):
        rows[s] = first + s
    return rows[:n]


# Feedforward (Eq. 4)
# -------------------

@jit(inline="always")
def _start_z(params, b_off, c0, n, wscale_l, act, s, o0):
    """``z = b`` for units ``[c0, c0 + n)`` before the weighted sum; 0 if the weights are scaled."""
    if wscale_l == 1.0:
        for j in range(n):
            act[s, o0 + j] = params[b_off + c0 + j]
    else:
        for j in range(n):
            act[s, o0 + j] = 0


@jit(inline="always")
def _finish_z(params, b_off, c0, n, wscale_l, act, s, o0):
    """``z = b + s (V^T a)`` for a layer whose weights are stored as ``W = s V`` (:func:`_step`)."""
    if wscale_l != 1.0:
        sl = act.dtype.type(wscale_l)
        for j in range(n):
            act[s, o0 + j] = params[b_off + c0 + j] + sl * act[s, o0 + j]


@jit(inline="always")
def _forward(params, layers, data, indices, indptr, rows, act, wscale):
    """Feedforward (Eq. 4) of the samples ``rows``: ``act[s]`` gets layers 1..L of sample s.

    Layer by layer, each sample in turn; the inputs are the CSR rows of :func:`csr`.
    Weight layer ``l`` is ``wscale[l]`` times its stored weights (1 but inside an epoch
    with weight decay, see :func:`_step`). The output layer is left as its weighted
    inputs z: the cost makes its activations from them (:func:`_output_error`), and
    inference with :func:`_activate_output`. Inlined: as a function of its own, called
    once per mini-batch, it made online learning (m = 1) 4-12 % slower here.
    """
    width = act.shape[1]
    n_layers = layers.shape[0]
    for l in range(n_layers):
        w_off, b_off, ld, o0 = layers[l, W_OFF], layers[l, B_OFF], layers[l, LD], layers[l, A_OFF]
        for s in range(rows.shape[0]):
            _start_z(params, b_off, 0, ld, wscale[l], act, s, o0)
            if l == 0:
                r = rows[s]
                gemv_sparse(params, w_off, ld, ld, data, indices, indptr[r], indptr[r + 1], act, s * width + o0)
            else:
                x_off = s * width + layers[l - 1, A_OFF]
                gemv_dense(params, w_off, ld, ld, act, x_off, 0, layers[l, N_IN], act, s * width + o0)
            _finish_z(params, b_off, 0, ld, wscale[l], act, s, o0)
            if l < n_layers - 1:
                sigmoid_inplace(act[s, o0 : o0 + ld])  # the padding too: whole vectors, never read


@jit(inline="always")
def _forward_dense(params, layers, n, act, wscale):
    """:func:`_forward` of the first ``n`` rows of ``act`` after their first layer's z.

    The first layer's activations, then the dense layers after it, layer by layer: the
    blocked epochs' forward pass (:func:`_first_layer_blocks` makes the first layer's z).
    :func:`_forward` keeps its own copy of these lines: calling this from it, one inlined
    function inside another, made the first ``fastnn train``'s compile up to 3-4 s longer
    (docs/performance.md, "The first layer in pixel blocks").
    """
    width = act.shape[1]
    n_layers = layers.shape[0]
    for l in range(n_layers):
        w_off, b_off, ld, o0 = layers[l, W_OFF], layers[l, B_OFF], layers[l, LD], layers[l, A_OFF]
        for s in range(n):
            if l > 0:
                _start_z(params, b_off, 0, ld, wscale[l], act, s, o0)
                x_off = s * width + layers[l - 1, A_OFF]
                gemv_dense(params, w_off, ld, ld, act, x_off, 0, layers[l, N_IN], act, s * width + o0)
                _finish_z(params, b_off, 0, ld, wscale[l], act, s, o0)
            if l < n_layers - 1:
                sigmoid_inplace(act[s, o0 : o0 + ld])  # the padding too: whole vectors, never read


@jit(inline="always")
def _activate_output(layers, n, act):
    """``a = sigmoid(z)`` (Eq. 3) of the output layer for the first ``n`` rows of ``act``."""
    o0, ld = layers[-1, A_OFF], layers[-1, LD]
    for s in range(n):
        sigmoid_inplace(act[s, o0 : o0 + ld])


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
def _output_error(layers, Y, rows, act, delta, cost_id):
    """BP1: the output layer's errors of the samples ``rows``; returns their sum of C_x.

    The output layer arrives as its weighted inputs z (:func:`_forward`) and leaves as
    its activations. Quadratic cost (``cost_id`` :data:`QUADRATIC`): ``a = sigmoid(z)``,
    ``delta = (a - y) a (1 - a)``, C_x = |a - y|^2 / 2 (Eq. 6). Cross-entropy
    (:data:`CROSS_ENTROPY`): :func:`_cross_entropy_row` makes the activations, the
    errors ``a - y`` and C_x.
    """
    one = act.dtype.type(1)
    o0, n_out = layers[-1, A_OFF], layers[-1, N_OUT]
    cost = 0.0
    if cost_id == CROSS_ENTROPY:
        for s in range(rows.shape[0]):
            cost += _cross_entropy_row(act[s, o0 : o0 + n_out], Y[rows[s]], delta[s, o0 : o0 + n_out])
        return cost
    _activate_output(layers, rows.shape[0], act)
    for s in range(rows.shape[0]):
        y = Y[rows[s]]
        cost += _squared_error(act[s, o0 : o0 + n_out], y)
        for j in range(n_out):
            a = act[s, o0 + j]
            delta[s, o0 + j] = (a - y[j]) * a * (one - a)
    return 0.5 * cost


@jit(inline="always")
def _hidden_error(params, layers, l, r0, r1, rows, act, delta, wscale_l):
    """BP2 for the units ``[r0, r1)`` of hidden layer ``l``: ``(w.T delta') * a (1 - a)``.

    ``w.T`` is weight layer ``l``'s (``wscale_l`` times its stored rows), whose rows
    ``[r0, r1)`` leave those units, and ``delta'`` the errors of layer ``l + 1``.
    """
    one = act.dtype.type(1)
    width = act.shape[1]
    w_off, ld = layers[l, W_OFF], layers[l, LD]
    cur = layers[l - 1, A_OFF]
    for s in range(rows.shape[0]):
        dot_rows(params, w_off + r0 * ld, ld, r1 - r0, delta, s * width + layers[l, A_OFF], delta, s * width + cur + r0)
        if wscale_l != 1.0:
            sl = act.dtype.type(wscale_l)
            for i in range(cur + r0, cur + r1):
                delta[s, i] = sl * delta[s, i]
        for i in range(cur + r0, cur + r1):
            a = act[s, i]
            delta[s, i] = delta[s, i] * a * (one - a)


@jit(inline="always")
def _backward(params, layers, Y, rows, act, delta, wscale, cost_id):
    """Errors of the cost ``cost_id`` (BP1, BP2) for the samples ``rows``; returns sum of C_x.

    ``delta[s]`` receives dC_x/dz for layers 1..L, with sigma'(z) = a (1 - a); its
    padding entries are never written (they stay 0).
    """
    cost = _output_error(layers, Y, rows, act, delta, cost_id)
    for l in range(layers.shape[0] - 1, 0, -1):
        _hidden_error(params, layers, l, 0, layers[l, N_IN], rows, act, delta, wscale[l])
    return cost


@jit(inline="always")
def _weight_step(buf, step, wscale_l):
    """``step / s`` in ``buf``'s dtype: the factor of the weight gradient for weights ``W = s V``."""
    return buf.dtype.type(step) if wscale_l == 1.0 else buf.dtype.type(step / wscale_l)


@jit(inline="always")
def _accumulate(buf, layers, data, indices, indptr, rows, act, delta, step, wscale, first_weights):
    """``buf += step * sum_s (dC_x/db, dC_x/dw)`` over the samples ``rows`` (BP3, BP4).

    With ``buf = params`` and ``step = -eta/m`` (a float64) this is the mini-batch update,
    Eq. (20)-(21); with a zeroed gradient buffer and ``step = 1`` it sums gradients.
    First-layer terms are formed for the non-zero inputs only, and left out with
    ``first_weights=False`` (:func:`_sgd_epoch_blocked` adds them). The weights of layer
    ``l`` receive ``step / wscale[l]`` times theirs: they are stored as ``W = s V``
    (:func:`_step`).
    """
    width = act.shape[1]
    scale = buf.dtype.type(step)
    for l in range(layers.shape[0]):
        w_off, b_off, ld, d0 = layers[l, W_OFF], layers[l, B_OFF], layers[l, LD], layers[l, A_OFF]
        wstep = _weight_step(buf, step, wscale[l])
        for s in range(rows.shape[0]):
            if l == 0:
                if first_weights:
                    r = rows[s]
                    ger_sparse(buf, w_off, ld, ld, data, indices, indptr[r], indptr[r + 1], wstep, delta,
                               s * width + d0)
            else:
                x_off = s * width + layers[l - 1, A_OFF]
                ger_dense(buf, w_off, ld, ld, act, x_off, 0, layers[l, N_IN], wstep, delta, s * width + d0)
            for j in range(ld):
                buf[b_off + j] += scale * delta[s, d0 + j]


def backprop(net, X, Y, grad, cost_id):
    """Sum over the rows of ``X`` of the gradient of C_x (the cost ``cost_id``) into ``grad``.

    ``grad`` (overwritten) has the layout of ``params``. Returns the summed cost.
    """
    params, layers = net = _frozen(net)
    return _backprop(net, csr(X), Y, grad, cost_id, *_chunk_buffers(layers, params.dtype))


@jit
def _backprop(net, x_csr, Y, grad, cost_id, scratch, wscale, chunk):
    params, layers = net
    data, indices, indptr = x_csr
    act, delta = scratch
    n = indptr.shape[0] - 1
    for k in range(grad.shape[0]):
        grad[k] = 0
    cost = 0.0
    for start in range(0, n, _CHUNK):
        rows = _chunk(chunk, start, n)
        _forward(params, layers, data, indices, indptr, rows, act, wscale[0])
        cost += _backward(params, layers, Y, rows, act, delta, wscale[0], cost_id)
        _accumulate(grad, layers, data, indices, indptr, rows, act, delta, 1.0, wscale[1], True)
    return cost


def total_cost(net, X, Y, cost_id):
    """Sum over the rows of ``X`` of C_x, the cost ``cost_id`` (Eq. 6 or Eq. 63), serially."""
    return total_cost_csr(net, csr(X), Y, cost_id)


def total_cost_csr(net, x_csr, Y, cost_id):
    """:func:`total_cost` of the CSR inputs ``x_csr = (data, indices, indptr)``."""
    params, layers = net = _frozen(net)
    return _total_cost_csr(net, x_csr, Y, cost_id, *_chunk_buffers(layers, params.dtype))


@jit
def _total_cost_csr(net, x_csr, Y, cost_id, scratch, wscale, chunk):
    params, layers = net
    data, indices, indptr = x_csr
    act, delta = scratch
    n = indptr.shape[0] - 1
    cost = 0.0
    for start in range(0, n, _CHUNK):
        rows = _chunk(chunk, start, n)
        _forward(params, layers, data, indices, indptr, rows, act, wscale[0])
        cost += _output_error(layers, Y, rows, act, delta, cost_id)
    return cost


# The mini-batch step (Eq. 20-21)
# -------------------------------

# Weight decay (L2 regularisation, Chapter 3, Eq. 93) without a pass over the weights:
# each weight layer is kept as W = s V, its scale s in ``wscale``. The decay multiplies s;
# the forward and backward passes multiply by s (once per unit and sample); the gradient
# reaches V divided by s. Decaying W itself would be a dense pass over every weight per
# mini-batch, where the update touches only the first layer's rows of non-zero inputs.

#: A layer's scale is folded back into its weights (:func:`_rescale`) before it drops
#: below this: one dense pass per ``ln(1024) / (eta lmbda / n)`` steps, about 140,000 for
#: the book's eta = 0.5, lmbda = 5, n = 50,000 (more than an epoch at m = 1).
_RESCALE_BELOW = 1.0 / 1024.0


@jit(inline="always")
def _next_scales(wscale):
    """``wscale[0] = wscale[1]``: the scales after a step become the current ones."""
    for l in range(wscale.shape[1]):
        wscale[0, l] = wscale[1, l]


@jit(inline="always")
def _rescale(params, layers, wscale, l):
    """Fold layer ``l``'s scale into its stored weights: ``V <- s V``, ``s <- 1``.

    Its padding entries are 0 and stay 0.
    """
    if wscale[l] != 1.0:
        sl = params.dtype.type(wscale[l])
        for k in range(layers[l, W_OFF], layers[l, B_OFF]):
            params[k] = sl * params[k]
        wscale[l] = 1.0


@jit(inline="always")
def _rescale_all(params, layers, wscale):
    """Fold every layer's scale into its weights: ``params`` holds W again."""
    for l in range(layers.shape[0]):
        _rescale(params, layers, wscale[0], l)


@jit(inline="always")
def _decay(params, layers, wscale, decay):
    """One step's weight decay ``W <- decay * W``, into the next scales ``wscale[1]``.

    A scale about to drop below :data:`_RESCALE_BELOW` is folded into its weights first.
    With ``decay = 1`` every scale stays exactly 1.
    """
    for l in range(layers.shape[0]):
        if decay != 1.0 and wscale[0, l] * decay < _RESCALE_BELOW:
            _rescale(params, layers, wscale[0], l)
        wscale[1, l] = wscale[0, l] * decay


@jit
def _step(params, layers, inputs, rows, eta, scratch, objective, wscale):
    """One mini-batch update, Eq. (20)-(21), on the samples ``rows`` of ``inputs``.

    Every sample's forward and backward pass uses the parameters as they were at the
    start of the batch; only then are the gradient terms, scaled by ``-eta / len(rows)``,
    added into ``params``. Returns the sum of C_x over the batch. With the objective's
    ``decay`` (L2 regularisation) the step is network2's ``w <- decay * w - (eta/m)
    nabla_w`` (biases are not decayed): the weights of layer ``l`` are stored as
    ``wscale[0, l]`` times ``params``' (see the note above), and the decay changes only
    that scale, to ``wscale[1, l]``, which the gradient is divided by.
    """
    data, indices, indptr, Y = inputs
    act, delta = scratch
    cost_id, decay = objective
    step = -eta / rows.shape[0]
    _decay(params, layers, wscale, decay)
    _forward(params, layers, data, indices, indptr, rows, act, wscale[0])
    cost = _backward(params, layers, Y, rows, act, delta, wscale[0], cost_id)
    _accumulate(params, layers, data, indices, indptr, rows, act, delta, step, wscale[1], True)
    _next_scales(wscale)
    return cost


def update_mini_batch(net, inputs, rows, eta, objective):
    """One mini-batch step on the samples ``rows``; returns the batch's summed cost.

    An epoch whose one mini-batch is ``rows`` (:func:`sgd_epoch`): the same operations,
    and no kernel of its own to compile.
    """
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    return sgd_epoch(net, inputs, rows, max(rows.shape[0], 1), eta, objective)


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


def sgd_epoch(net, inputs, perm, mini_batch_size, eta, objective, pixels_per_block=None):
    """One epoch of stochastic gradient descent over the samples ``perm`` (Eq. 20-21).

    Mini-batches are ``perm[k*m : (k+1)*m]``; the last, shorter one is averaged over its
    own size. Nothing is copied or shuffled in memory. Returns the sum over the epoch of
    each sample's C_x (the objective's cost, without the L2 term), evaluated by the
    forward pass that trained on it. The weights' scales are folded back in at the end,
    so ``params`` holds the weights between epochs. A wide first layer is walked in
    blocks of pixels (:func:`blocked_pixels`; ``pixels_per_block`` overrides it, 0
    for never), with the same result to the bit.
    """
    params, layers = net = _frozen(net)
    m = min(mini_batch_size, perm.shape[0])
    pb = _pixels_per_block(layers, params.dtype, objective, pixels_per_block)
    if pb and m:
        scratch, scratch_next, wscale, cursors = _blocked_buffers(layers, m, params.dtype)
        return _sgd_epoch_blocked(net, inputs, perm, mini_batch_size, eta, objective, scratch, scratch_next, wscale,
                                  cursors, pb)
    scratch = workspace(layers, m, params.dtype)
    return _sgd_epoch(net, inputs, perm, mini_batch_size, eta, objective, scratch, weight_scales(layers))


@jit
def _sgd_epoch(net, inputs, perm, mini_batch_size, eta, objective, scratch, wscale):
    params, layers = net
    n = perm.shape[0]
    m = min(mini_batch_size, n)
    mxcsr = flush_denormals()
    cost = 0.0
    for start in range(0, n, m):
        stop = min(start + m, n)
        _prefetch_ahead(inputs, perm, stop, m)
        cost += _step(params, layers, inputs, perm[start:stop], eta, scratch, objective, wscale)
    _rescale_all(params, layers, wscale)
    set_mxcsr(mxcsr)
    return cost


# The first layer in pixel blocks
# --------------------------------
# A first layer much larger than a core's L2 cache (784-1000-10: 6.3 MB of float64 w.T
# rows) has every row that a sample's non-zero pixels touch come from L3, twice per
# step: the forward pass reads it, the update reads and writes it. For such layers the
# epoch walks the first layer in blocks of pixels instead, one block's rows
# (:data:`_BLOCK_BYTES`) fitting in L2: per block, batch k's weight updates, sample
# after sample, then batch k+1's forward pass, sample after sample. Each row a block's
# samples touch comes from L3 once per batch, not twice per touching sample. Every
# weight receives the same additions in the same order as in :func:`_sgd_epoch` (batch
# k's samples in turn, before batch k+1 reads it) and every z sums its pixels in
# ascending order, so the parameters are the same to the bit. Only without weight
# decay: a scale folded into the weights (:func:`_decay`) would fall between one
# batch's update and the next one's forward pass. Small layers stay with
# :func:`_sgd_epoch`: walking pixel blocks costs them more than their rows' fetches
# from L2 (docs/performance.md, "The first layer in pixel blocks").

#: From this many bytes of the first layer's w.T on, the epoch walks it in pixel blocks.
BLOCKED_FROM = 2 << 20
#: About the bytes of one pixel block's rows.
_BLOCK_BYTES = 256 << 10


def blocked_pixels(layers, dtype, objective):
    """Pixels per block of the first layer for :func:`sgd_epoch` (Python); 0: not blocked.

    Blocks for a first layer of :data:`BLOCKED_FROM` bytes or more without weight decay,
    each of about :data:`_BLOCK_BYTES` of rows.
    """
    row = int(layers[0, LD]) * np.dtype(dtype).itemsize
    if objective[1] != 1.0 or int(layers[0, N_IN]) * row < BLOCKED_FROM:
        return 0
    return max(1, _BLOCK_BYTES // row)


def _pixels_per_block(layers, dtype, objective, pixels_per_block):
    """:func:`blocked_pixels`, or the caller's ``pixels_per_block`` (0: row by row).

    Raises ValueError for blocks with weight decay, which the blocked epochs do not apply.
    """
    if pixels_per_block is None:
        return blocked_pixels(layers, dtype, objective)
    if pixels_per_block and objective[1] != 1.0:
        raise ValueError(f"pixels_per_block={pixels_per_block} needs no weight decay, got decay {objective[1]}")
    return pixels_per_block


def _blocked_buffers(layers, m, dtype):
    """``(scratch, scratch_next, wscale, cursors)`` of the blocked epochs (Python)."""
    return workspace(layers, m, dtype), workspace(layers, m, dtype), weight_scales(layers), np.zeros((2, m), np.int64)


@jit(inline="always")
def _first_layer_blocks(params, layers, pb, upd, u_rows, wstep, delta, fwd, f_rows, act, cursors):
    """The first layer's weight updates of batch ``u_rows`` (BP4, Eq. 20), then the
    weighted inputs z of batch ``f_rows`` (Eq. 4), ``pb`` pixels at a time.

    ``upd`` and ``fwd`` start with the CSR ``(data, indices, indptr)`` their rows index;
    ``delta`` holds batch ``u_rows``' errors, ``wstep`` its ``-eta/m``; ``act`` receives
    batch ``f_rows``' z. Either batch may be empty. ``cursors`` (int64, ``(2, m)``) keeps
    each sample's place in its CSR row.
    """
    u_data, u_indices, u_indptr = upd[0], upd[1], upd[2]
    f_data, f_indices, f_indptr = fwd[0], fwd[1], fwd[2]
    w_off, b_off, ld, n_in, o0 = layers[0, W_OFF], layers[0, B_OFF], layers[0, LD], layers[0, N_IN], layers[0, A_OFF]
    width = act.shape[1]
    for s in range(u_rows.shape[0]):
        cursors[0, s] = u_indptr[u_rows[s]]
    for s in range(f_rows.shape[0]):
        cursors[1, s] = f_indptr[f_rows[s]]
        _start_z(params, b_off, 0, ld, 1.0, act, s, o0)
    for p0 in range(0, n_in, pb):
        p1 = p0 + pb
        for s in range(u_rows.shape[0]):
            k0, k1 = _entries_below(u_indices, u_indptr, u_rows, cursors[0], s, p1)
            if k1 > k0:
                ger_sparse(params, w_off, ld, ld, u_data, u_indices, k0, k1, wstep, delta, s * width + o0)
        for s in range(f_rows.shape[0]):
            k0, k1 = _entries_below(f_indices, f_indptr, f_rows, cursors[1], s, p1)
            if k1 > k0:
                gemv_sparse(params, w_off, ld, ld, f_data, f_indices, k0, k1, act, s * width + o0)


@jit(inline="always")
def _entries_below(indices, indptr, rows, cursor, s, p1):
    """``(k0, k1)``: sample ``s``'s CSR entries from ``cursor[s]`` on whose pixel is below
    ``p1``; ``cursor[s]`` moves past them."""
    k0 = k1 = cursor[s]
    end = indptr[rows[s] + 1]
    while k1 < end and indices[k1] < p1:
        k1 += 1
    cursor[s] = k1
    return k0, k1


@jit
def _sgd_epoch_blocked(net, inputs, perm, mini_batch_size, eta, objective, scratch, scratch_next, wscale, cursors, pb):
    """:func:`_sgd_epoch` with the first layer in pixel blocks (the note above)."""
    params, layers = net
    data, indices, indptr, Y = inputs
    x = (data, indices, indptr)
    cost_id = objective[0]
    n = perm.shape[0]
    m = min(mini_batch_size, n)
    act, delta = scratch
    act_next, delta_next = scratch_next
    mxcsr = flush_denormals()
    _first_layer_blocks(params, layers, pb, x, perm[0:0], params.dtype.type(0), delta, x, perm[0:m], act, cursors)
    cost = 0.0
    for start in range(0, n, m):
        stop = min(start + m, n)
        _prefetch_ahead(inputs, perm, min(stop + m, n), m)
        rows = perm[start:stop]
        step = -eta / rows.shape[0]
        _forward_dense(params, layers, rows.shape[0], act, wscale[0])
        cost += _backward(params, layers, Y, rows, act, delta, wscale[0], cost_id)
        _accumulate(params, layers, data, indices, indptr, rows, act, delta, step, wscale[1], False)
        wstep = _weight_step(params, step, wscale[1, 0])
        nxt = perm[stop : min(stop + m, n)]
        _first_layer_blocks(params, layers, pb, x, rows, wstep, delta, x, nxt, act_next, cursors)
        act, act_next = act_next, act
        delta, delta_next = delta_next, delta
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
def _forward_block(params, layers, l, c0, c1, data, indices, indptr, rows, act, wscale_l, raw):
    """Layer ``l + 1``'s units ``[c0, c1)`` of :func:`_forward`, for every sample ``rows``."""
    mxcsr = flush_denormals()  # MXCSR is per thread
    w_off, b_off, ld = layers[l, W_OFF], layers[l, B_OFF], layers[l, LD]
    width = act.shape[1]
    o0 = layers[l, A_OFF] + c0
    n = c1 - c0
    for s in range(rows.shape[0]):
        _start_z(params, b_off, c0, n, wscale_l, act, s, o0)
        if l == 0:
            r = rows[s]
            gemv_sparse(params, w_off + c0, ld, n, data, indices, indptr[r], indptr[r + 1], act, s * width + o0)
        else:
            x_off = s * width + layers[l - 1, A_OFF]
            gemv_dense(params, w_off + c0, ld, n, act, x_off, 0, layers[l, N_IN], act, s * width + o0)
        _finish_z(params, b_off, c0, n, wscale_l, act, s, o0)
        if not raw:
            sigmoid_inplace(act[s, o0 : o0 + n])
    set_mxcsr(mxcsr)


@jit(inline="always")
def _update_columns(params, layers, l, c0, c1, data, indices, indptr, rows, delta, scale, wstep):
    """BP3 for the biases ``[c0, c1)`` of weight layer ``l``; for ``l = 0``, BP4 for those columns of ``w.T``.

    ``scale`` multiplies the bias gradients, ``wstep`` the weight gradients (see :func:`_accumulate`).
    """
    width = delta.shape[1]
    w_off, b_off, ld = layers[l, W_OFF], layers[l, B_OFF], layers[l, LD]
    d0 = layers[l, A_OFF] + c0
    n = c1 - c0
    for s in range(rows.shape[0]):
        if l == 0:
            r = rows[s]
            ger_sparse(params, w_off + c0, ld, n, data, indices, indptr[r], indptr[r + 1], wstep, delta, s * width + d0)
        for j in range(n):
            params[b_off + c0 + j] += scale * delta[s, d0 + j]


@jit
def _backward_block(params, layers, l, c0, c1, data, indices, indptr, rows, act, delta, step, wscale):
    """Units ``[c0, c1)`` of hidden layer ``l`` (BP2), and the updates that belong to them.

    These are the units' biases, the rows of ``w.T`` of weight layer ``l`` that leave them
    (BP4, with the errors of layer ``l + 1``), and for ``l = 1`` the columns of the first
    layer's ``w.T`` that enter them.
    """
    mxcsr = flush_denormals()
    width = act.shape[1]
    w_off, ld, n_in = layers[l, W_OFF], layers[l, LD], layers[l, N_IN]
    r0, r1 = min(c0, n_in), min(c1, n_in)
    _hidden_error(params, layers, l, r0, r1, rows, act, delta, wscale[0, l])
    wstep = _weight_step(params, step, wscale[1, l])
    for s in range(rows.shape[0]):
        x_off = s * width + layers[l - 1, A_OFF]
        ger_dense(params, w_off, ld, ld, act, x_off, r0, r1, wstep, delta, s * width + layers[l, A_OFF])
    _update_columns(params, layers, l - 1, c0, c1, data, indices, indptr, rows, delta, params.dtype.type(step),
                    _weight_step(params, step, wscale[1, l - 1]))
    set_mxcsr(mxcsr)


def sgd_epoch_parallel(net, inputs, perm, mini_batch_size, eta, objective, n_threads, min_block):
    """:func:`sgd_epoch` with each layer's units split over ``n_threads`` threads.

    Returns the same parameters and cost as the serial kernel, bit for bit: see the note
    above :func:`block`. A layer narrower than ``2 * min_block`` columns (padded) runs on
    one thread. Which networks are worth it (and the default ``min_block``) is decided
    outside, in :mod:`fastnn.parallel` (``splits``, ``MIN_BLOCK``): with nothing split,
    this computes what :func:`sgd_epoch` does, only slower.
    """
    params, layers = net = _frozen(net)
    scratch = workspace(layers, min(mini_batch_size, perm.shape[0]), params.dtype)
    return _sgd_epoch_parallel(net, inputs, perm, mini_batch_size, eta, objective, n_threads, min_block, scratch,
                               weight_scales(layers))


@jit(parallel=True)
def _sgd_epoch_parallel(net, inputs, perm, mini_batch_size, eta, objective, n_threads, min_block, scratch, wscale):
    params, layers = net
    data, indices, indptr, Y = inputs
    n_layers = layers.shape[0]
    n = perm.shape[0]
    m = min(mini_batch_size, n)
    act, delta = scratch
    cost_id, decay = objective
    out_ld = layers[n_layers - 1, LD]
    mxcsr = flush_denormals()
    cost = 0.0
    for start in range(0, n, m):
        stop = min(start + m, n)
        rows = perm[start:stop]
        _prefetch_ahead(inputs, perm, stop, m)
        step = -eta / rows.shape[0]
        _decay(params, layers, wscale, decay)
        for l in range(n_layers):
            ld = layers[l, LD]
            nb = n_blocks(ld, n_threads, min_block)
            raw = l == n_layers - 1  # the output layer as z, see _forward
            if nb == 1:
                c0, c1 = block(ld, 1, 0)  # (0, ld), as integers: a literal 0 would compile a second _forward_block
                _forward_block(params, layers, l, c0, c1, data, indices, indptr, rows, act, wscale[0, l], raw)
            else:
                for b in prange(nb):
                    c0, c1 = block(ld, nb, b)
                    _forward_block(params, layers, l, c0, c1, data, indices, indptr, rows, act, wscale[0, l], raw)
        cost += _output_error(layers, Y, rows, act, delta, cost_id)
        _update_columns(params, layers, n_layers - 1, 0, out_ld, data, indices, indptr, rows, delta,
                        params.dtype.type(step), _weight_step(params, step, wscale[1, n_layers - 1]))
        for l in range(n_layers - 1, 0, -1):
            ld = layers[l - 1, LD]  # layer l's units, padded
            nb = n_blocks(ld, n_threads, min_block)
            if nb == 1:
                c0, c1 = block(ld, 1, 0)
                _backward_block(params, layers, l, c0, c1, data, indices, indptr, rows, act, delta, step, wscale)
            else:
                for b in prange(nb):
                    c0, c1 = block(ld, nb, b)
                    _backward_block(params, layers, l, c0, c1, data, indices, indptr, rows, act, delta, step, wscale)
        _next_scales(wscale)
    _rescale_all(params, layers, wscale)
    set_mxcsr(mxcsr)
    return cost


# Inference
# ---------

_CHUNK = 64  # rows per pass of the one-off kernels: scratch stays in cache


@jit
def _feedforward_rows(params, layers, data, indices, indptr, out, start, stop, act, wscale, chunk):
    """``out[r] = a^L(x_r)`` for the rows ``[start, stop)``, :data:`_CHUNK` at a time."""
    o0 = layers[-1, A_OFF]
    n_out = layers[-1, N_OUT]
    for first in range(start, stop, _CHUNK):
        rows = _chunk(chunk, first, stop)
        _forward(params, layers, data, indices, indptr, rows, act, wscale[0])
        _activate_output(layers, rows.shape[0], act)
        for s in range(rows.shape[0]):
            for j in range(n_out):
                out[rows[s], j] = act[s, o0 + j]


def feedforward_csr(net, x_csr, out):
    """``out[r] = a^L(x_r)`` for every row of the CSR inputs ``x_csr`` (Eq. 4), see :func:`csr`."""
    params, layers = _frozen(net)
    data, indices, indptr = x_csr
    (act, _), wscale, rows = _chunk_buffers(layers, params.dtype)
    _feedforward_rows(params, layers, data, indices, indptr, out, 0, indptr.shape[0] - 1, act, wscale, rows)


def feedforward(net, X, out):
    """``out[r] = a^L(X[r])`` for every row (Eq. 4), serially."""
    feedforward_csr(net, csr(X), out)


def feedforward_parallel(net, X, out, n_chunks):
    """As :func:`feedforward`, rows split into ``n_chunks`` chunks run on Numba's threads.

    Each row is computed exactly as in the serial kernel, so results do not depend on
    the number of threads.
    """
    params, layers = net = _frozen(net)
    act = _layout.aligned_zeros((n_chunks, _CHUNK, _layout.scratch_width(layers)), params.dtype)
    _feedforward_parallel(net, csr(X), out, act, weight_scales(layers), np.empty((n_chunks, _CHUNK), np.int64))


@jit(parallel=True)
def _feedforward_parallel(net, x_csr, out, act, wscale, chunks):
    params, layers = net
    data, indices, indptr = x_csr
    n = indptr.shape[0] - 1
    n_chunks = chunks.shape[0]
    for c in prange(n_chunks):
        _feedforward_rows(params, layers, data, indices, indptr, out, c * n // n_chunks, (c + 1) * n // n_chunks,
                          act[c], wscale, chunks[c])


# Inputs stored as bytes
# ----------------------
# A fastnn.Dataset of uint8 images keeps its CSR values as the bytes themselves, and
# ``table[b]`` is the value of byte ``b`` in the network's dtype (b / 255, exactly as
# NumPy divides). Each mini-batch's inputs are decoded into a small batch-local CSR, its
# targets copied beside them, and the very step of the float kernels runs on that bundle:
# the same operations in the same order, so the parameters equal those of float inputs
# ``X / 255`` bit for bit, while the data set stays a byte (and a uint16 column) per
# non-zero pixel.

def _batch_buffers(layers, m, dtype):
    """``(batch, rows)``: an inputs bundle for up to ``m`` decoded samples, and ``0..m-1`` (Python)."""
    n_in, n_out = int(layers[0, N_IN]), int(layers[-1, N_OUT])
    batch = (
        np.empty(m * n_in + 1, dtype),
        np.empty(m * n_in + 1, np.int32),
        np.zeros(m + 1, np.int64),
        np.zeros((m, n_out), dtype),
    )
    return batch, np.arange(m, dtype=np.int64)


@jit(inline="always")
def _decode_inputs(codes, indices, indptr, table, rows, batch):
    """The inputs of the samples ``rows`` into ``batch``'s CSR arrays, as rows ``0..len-1``."""
    b_data, b_indices, b_indptr, _ = batch
    k = 0
    for s in range(rows.shape[0]):
        r = rows[s]
        for j in range(indptr[r], indptr[r + 1]):
            b_data[k] = table[codes[j]]
            b_indices[k] = indices[j]
            k += 1
        b_indptr[s + 1] = k


@jit(inline="always")
def _decode_batch(inputs, table, rows, batch):
    """:func:`_decode_inputs` of the samples ``rows``, and their targets into ``batch[3]``."""
    codes, indices, indptr, Y = inputs
    _decode_inputs(codes, indices, indptr, table, rows, batch)
    b_Y = batch[3]
    for s in range(rows.shape[0]):
        for j in range(b_Y.shape[1]):
            b_Y[s, j] = Y[rows[s], j]


def sgd_epoch_bytes(net, inputs, table, perm, mini_batch_size, eta, objective, pixels_per_block=None):
    """:func:`sgd_epoch` on ``inputs`` whose values are byte codes of ``table``; the same result.

    ``inputs = (codes, indices, indptr, Y)``: uint8 codes, columns of any integer type;
    ``objective`` and ``pixels_per_block`` as for :func:`sgd_epoch`.
    """
    params, layers = net = _frozen(net)
    m = min(mini_batch_size, perm.shape[0])
    pb = _pixels_per_block(layers, params.dtype, objective, pixels_per_block)
    batch, local = _batch_buffers(layers, m, params.dtype)
    if pb and m:
        scratch, scratch_next, wscale, cursors = _blocked_buffers(layers, m, params.dtype)
        return _sgd_epoch_bytes_blocked(net, inputs, table, perm, mini_batch_size, eta, objective, scratch,
                                        scratch_next, wscale, batch, _batch_buffers(layers, m, params.dtype)[0],
                                        local, cursors, pb)
    return _sgd_epoch_bytes(net, inputs, table, perm, mini_batch_size, eta, objective,
                            workspace(layers, m, params.dtype), weight_scales(layers), batch, local)


@jit
def _sgd_epoch_bytes(net, inputs, table, perm, mini_batch_size, eta, objective, scratch, wscale, batch, local):
    params, layers = net
    codes, indices, indptr, Y = inputs
    n = perm.shape[0]
    m = min(mini_batch_size, n)
    b_Y = batch[3]
    mxcsr = flush_denormals()
    cost = 0.0
    for start in range(0, n, m):
        stop = min(start + m, n)
        _prefetch_ahead(inputs, perm, stop, m)
        rows = perm[start:stop]
        _decode_inputs(codes, indices, indptr, table, rows, batch)
        for s in range(rows.shape[0]):
            for j in range(b_Y.shape[1]):
                b_Y[s, j] = Y[rows[s], j]
        cost += _step(params, layers, batch, local[: stop - start], eta, scratch, objective, wscale)
    _rescale_all(params, layers, wscale)
    set_mxcsr(mxcsr)
    return cost


@jit
def _sgd_epoch_bytes_blocked(net, inputs, table, perm, mini_batch_size, eta, objective, scratch, scratch_next,
                             wscale, batch, batch_next, local, cursors, pb):
    """:func:`_sgd_epoch_blocked` of inputs as byte codes: each batch decoded before its first layer."""
    params, layers = net
    cost_id = objective[0]
    n = perm.shape[0]
    m = min(mini_batch_size, n)
    act, delta = scratch
    act_next, delta_next = scratch_next
    mxcsr = flush_denormals()
    _decode_batch(inputs, table, perm[0:m], batch)
    _first_layer_blocks(params, layers, pb, batch, local[0:0], params.dtype.type(0), delta, batch, local[:m], act,
                        cursors)
    cost = 0.0
    for start in range(0, n, m):
        stop = min(start + m, n)
        _prefetch_ahead(inputs, perm, min(stop + m, n), m)
        rows = local[: stop - start]
        step = -eta / rows.shape[0]
        _forward_dense(params, layers, rows.shape[0], act, wscale[0])
        cost += _backward(params, layers, batch[3], rows, act, delta, wscale[0], cost_id)
        _accumulate(params, layers, batch[0], batch[1], batch[2], rows, act, delta, step, wscale[1], False)
        wstep = _weight_step(params, step, wscale[1, 0])
        nxt = perm[stop : min(stop + m, n)]
        _decode_batch(inputs, table, nxt, batch_next)
        _first_layer_blocks(params, layers, pb, batch, rows, wstep, delta, batch_next, local[: nxt.shape[0]],
                            act_next, cursors)
        act, act_next = act_next, act
        delta, delta_next = delta_next, delta
        batch, batch_next = batch_next, batch
    set_mxcsr(mxcsr)
    return cost


def feedforward_csr_bytes(net, x_csr, table, out):
    """:func:`feedforward_csr` of inputs whose values are byte codes of ``table``."""
    params, layers = net = _frozen(net)
    batch, local = _batch_buffers(layers, _CHUNK, params.dtype)
    (act, _), wscale, rows = _chunk_buffers(layers, params.dtype)
    _feedforward_csr_bytes(net, x_csr, table, out, act, wscale, rows, batch, local)


@jit
def _feedforward_csr_bytes(net, x_csr, table, out, act, wscale, chunk, batch, local):
    params, layers = net
    codes, indices, indptr = x_csr
    o0 = layers[-1, A_OFF]
    n_out = layers[-1, N_OUT]
    n = indptr.shape[0] - 1
    for first in range(0, n, _CHUNK):
        rows = _chunk(chunk, first, n)
        _decode_inputs(codes, indices, indptr, table, rows, batch)
        _forward(params, layers, batch[0], batch[1], batch[2], local[: rows.shape[0]], act, wscale[0])
        _activate_output(layers, rows.shape[0], act)
        for s in range(rows.shape[0]):
            for j in range(n_out):
                out[rows[s], j] = act[s, o0 + j]
