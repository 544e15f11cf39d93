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

import platform

import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from fastnn import _config
from fastnn._config import jit

_FTZ_DAZ = np.uint32(0x8040)  # MXCSR bits: flush-to-zero (15) and denormals-are-zero (6)


def _mxcsr_intrinsic(name, sig):
    """An intrinsic calling ``llvm.x86.sse.{st,ld}mxcsr`` through a stack slot."""

    def codegen(context, builder, signature, args):
        slot = cgutils.alloca_once(builder, ir.IntType(32))
        if args:
            builder.store(args[0], slot)
        fnty = ir.FunctionType(ir.VoidType(), [ir.PointerType(ir.IntType(8))])
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        builder.call(fn, [builder.bitcast(slot, ir.PointerType(ir.IntType(8)))])
        return builder.load(slot) if not args else context.get_dummy_value()

    return sig, codegen


if _config.FLUSH_DENORMALS and not _config.JIT_DISABLED and platform.machine().lower() in {"x86_64", "amd64"}:

    @intrinsic
    def _get_mxcsr(typingctx):
        return _mxcsr_intrinsic("llvm.x86.sse.stmxcsr", types.uint32())

    @intrinsic
    def _set_mxcsr(typingctx, value):
        return _mxcsr_intrinsic("llvm.x86.sse.ldmxcsr", types.void(types.uint32))

else:

    @jit
    def _get_mxcsr():
        return np.uint32(0)

    @jit
    def _set_mxcsr(value):
        pass


@jit(inline="always")
def _flush_denormals():
    """Set FTZ/DAZ (see ``_config.FLUSH_DENORMALS``); returns the state to restore."""
    old = _get_mxcsr()
    _set_mxcsr(old | _FTZ_DAZ)
    return old


@jit(inline="always")
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
def _csr(X):
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


@jit(inline="always")
def _layer(buf, sizes, offsets, l):
    """Views of weight layer ``l`` in ``buf``: ``w.T`` of shape (n_in, ld) and ``b`` (ld,).

    ``ld >= n_out`` is the padded row length; padding entries are zero.
    """
    n_in = sizes[l]
    ld = (offsets[2 * l + 1] - offsets[2 * l]) // n_in
    wt = buf[offsets[2 * l] : offsets[2 * l + 1]].reshape((n_in, ld))
    return wt, buf[offsets[2 * l + 1] : offsets[2 * l + 2]]


@jit(inline="always")
def _forward(params, sizes, offsets, aoff, data, indices, indptr, rows, act):
    """Feedforward (Eq. 4) of the samples ``rows``: ``act[s]`` gets layers 1..L of sample s.

    Layer by layer, each sample in turn; the inputs are the CSR rows of :func:`_csr`.
    """
    n_layers = sizes.shape[0] - 1
    for l in range(n_layers):
        wt, b = _layer(params, sizes, offsets, l)
        ld = wt.shape[1]
        o0 = aoff[l]
        for s in range(rows.shape[0]):
            a = act[s, o0 : o0 + ld]
            a[:] = b
            if l == 0:
                r = rows[s]
                for k in range(indptr[r], indptr[r + 1]):
                    i = indices[k]
                    xi = data[k]
                    for j in range(ld):
                        a[j] += xi * wt[i, j]
            else:
                prev = act[s, aoff[l - 1] : o0]
                for i in range(wt.shape[0]):
                    ai = prev[i]
                    for j in range(ld):
                        a[j] += ai * wt[i, j]
            _sigmoid_inplace(a[: sizes[l + 1]])


@jit(inline="always")
def _backward(params, sizes, offsets, aoff, Y, rows, act, delta):
    """Errors of the quadratic cost (BP1, BP2) for the samples ``rows``; returns sum of C_x.

    ``delta[s]`` receives dC_x/dz for layers 1..L, with sigma'(z) = a (1 - a); its
    padding entries are never written (they stay 0).
    """
    one = act.dtype.type(1)
    n_layers = sizes.shape[0] - 1
    o0 = aoff[n_layers - 1]
    cost = 0.0
    for s in range(rows.shape[0]):
        y = Y[rows[s]]
        for j in range(sizes[n_layers]):
            a = act[s, o0 + j]
            diff = a - y[j]
            cost += diff * diff
            delta[s, o0 + j] = diff * a * (one - a)
    for l in range(n_layers - 1, 0, -1):
        wt, _ = _layer(params, sizes, offsets, l)
        ld = wt.shape[1]
        cur = aoff[l - 1]
        for s in range(rows.shape[0]):
            d_next = delta[s, aoff[l] : aoff[l] + ld]
            for i in range(wt.shape[0]):
                acc = act.dtype.type(0)
                for j in range(ld):
                    acc += wt[i, j] * d_next[j]
                a = act[s, cur + i]
                delta[s, cur + i] = acc * a * (one - a)
    return 0.5 * cost


@jit(inline="always")
def _accumulate(buf, sizes, offsets, aoff, data, indices, indptr, rows, act, delta, scale):
    """``buf += scale * sum_s (dC_x/db, dC_x/dw)`` over the samples ``rows`` (BP3, BP4).

    With ``buf = params`` and ``scale = -eta/m`` this is the mini-batch update,
    Eq. (20)-(21); with a zeroed gradient buffer and ``scale = 1`` it sums gradients.
    First-layer terms are formed for the non-zero inputs only.
    """
    n_layers = sizes.shape[0] - 1
    for l in range(n_layers):
        wt, b = _layer(buf, sizes, offsets, l)
        ld = wt.shape[1]
        for s in range(rows.shape[0]):
            d = delta[s, aoff[l] : aoff[l] + ld]
            if l == 0:
                r = rows[s]
                for k in range(indptr[r], indptr[r + 1]):
                    i = indices[k]
                    c = scale * data[k]
                    for j in range(ld):
                        wt[i, j] += c * d[j]
            else:
                prev = act[s, aoff[l - 1] : aoff[l]]
                for i in range(wt.shape[0]):
                    c = scale * prev[i]
                    for j in range(ld):
                        wt[i, j] += c * d[j]
            for j in range(ld):
                b[j] += scale * d[j]


@jit
def _step(params, sizes, offsets, data, indices, indptr, Y, rows, eta, ws):
    """One mini-batch update, Eq. (20)-(21), on the samples ``rows`` of (CSR inputs, ``Y``).

    Every sample's forward and backward pass uses the parameters as they were at the
    start of the batch; only then are the gradient terms, scaled by ``-eta / len(rows)``,
    added into ``params``. ``ws`` is :func:`_workspace`. Returns the sum of C_x over the
    batch.
    """
    aoff, act, delta = ws
    scale = np.empty(1, params.dtype)
    scale[0] = -eta / rows.shape[0]
    _forward(params, sizes, offsets, aoff, data, indices, indptr, rows, act)
    cost = _backward(params, sizes, offsets, aoff, Y, rows, act, delta)
    _accumulate(params, sizes, offsets, aoff, data, indices, indptr, rows, act, delta, scale[0])
    return cost


@jit
def _workspace(sizes, offsets, m, dtype_like):
    """Scratch for batches of up to ``m`` samples: ``(aoff, act, delta)``; delta's padding stays 0."""
    aoff = _activation_offsets(sizes, offsets)
    act = np.empty((m, aoff[-1]), dtype_like.dtype)
    delta = np.zeros((m, aoff[-1]), dtype_like.dtype)
    return aoff, act, delta


@jit
def _update_mini_batch(params, sizes, offsets, data, indices, indptr, Y, rows, eta):
    """One mini-batch step on the samples ``rows``; returns the batch's summed cost."""
    ws = _workspace(sizes, offsets, rows.shape[0], params)
    mxcsr = _flush_denormals()
    cost = _step(params, sizes, offsets, data, indices, indptr, Y, rows, eta, ws)
    _set_mxcsr(mxcsr)
    return cost


@jit
def _sgd_epoch(params, sizes, offsets, data, indices, indptr, Y, perm, mini_batch_size, eta):
    """One epoch of stochastic gradient descent over the samples ``perm`` (Eq. 20-21).

    ``(data, indices, indptr)`` is :func:`_csr` of the inputs ``X``, built once per data
    set; ``Y`` the targets. Mini-batches are ``perm[k*m : (k+1)*m]``; the last, shorter
    one is averaged over its own size. Nothing is copied or shuffled in memory. Returns
    the sum over the epoch of each sample's C_x, evaluated by the forward pass that
    trained on it.
    """
    n = perm.shape[0]
    m = min(mini_batch_size, n)
    ws = _workspace(sizes, offsets, m, params)
    mxcsr = _flush_denormals()
    cost = 0.0
    for start in range(0, n, m):
        stop = min(start + m, n)
        cost += _step(params, sizes, offsets, data, indices, indptr, Y, perm[start:stop], eta, ws)
    _set_mxcsr(mxcsr)
    return cost


_CHUNK = 64  # rows per pass of the one-off kernels below: scratch stays in cache


@jit
def _backprop(params, sizes, offsets, X, Y, grad):
    """Sum over the rows of ``X`` of the gradient of C_x into ``grad`` (overwritten).

    Returns the summed cost. ``grad`` has the layout of ``params``.
    """
    data, indices, indptr = _csr(X)
    aoff, act, delta = _workspace(sizes, offsets, _CHUNK, params)
    grad[:] = 0
    one = np.ones(1, params.dtype)
    cost = 0.0
    for start in range(0, X.shape[0], _CHUNK):
        rows = np.arange(start, min(start + _CHUNK, X.shape[0]))
        _forward(params, sizes, offsets, aoff, data, indices, indptr, rows, act)
        cost += _backward(params, sizes, offsets, aoff, Y, rows, act, delta)
        _accumulate(grad, sizes, offsets, aoff, data, indices, indptr, rows, act, delta, one[0])
    return cost


@jit
def _feedforward_rows(params, sizes, offsets, data, indices, indptr, out, start, stop):
    aoff, act, _ = _workspace(sizes, offsets, _CHUNK, params)
    o0 = aoff[sizes.shape[0] - 2]
    n_out = sizes[sizes.shape[0] - 1]
    for first in range(start, stop, _CHUNK):
        rows = np.arange(first, min(first + _CHUNK, stop))
        _forward(params, sizes, offsets, aoff, data, indices, indptr, rows, act)
        for s in range(rows.shape[0]):
            out[rows[s], :] = act[s, o0 : o0 + n_out]


@jit
def _feedforward_csr(params, sizes, offsets, data, indices, indptr, out):
    """``out[r] = a^L(x_r)`` for every row of the CSR inputs (Eq. 4), see :func:`_csr`."""
    _feedforward_rows(params, sizes, offsets, data, indices, indptr, out, 0, indptr.shape[0] - 1)


@jit
def _feedforward(params, sizes, offsets, X, out):
    """``out[r] = a^L(X[r])`` for every row (Eq. 4), serially."""
    data, indices, indptr = _csr(X)
    _feedforward_rows(params, sizes, offsets, data, indices, indptr, out, 0, X.shape[0])


@jit(parallel=True)
def _feedforward_parallel(params, sizes, offsets, X, out, n_chunks):
    """As :func:`_feedforward`, rows split into ``n_chunks`` chunks run on Numba's threads.

    Each row is computed exactly as in the serial kernel, so results do not depend on
    the number of threads.
    """
    data, indices, indptr = _csr(X)
    n = X.shape[0]
    for c in prange(n_chunks):
        _feedforward_rows(
            params, sizes, offsets, data, indices, indptr, out, c * n // n_chunks, (c + 1) * n // n_chunks
        )
