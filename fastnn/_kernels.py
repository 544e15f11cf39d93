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


# Row kernels
# -----------
# The inner loops of every layer walk rows of a transposed weight matrix: ``a += x_i *
# w.T[i]`` (feedforward), ``w.T[i] += c_i * delta`` (the update) and ``w.T[i] . delta``
# (backpropagation). Written as Numba loops, each row paid ~65 instructions of index
# fix-ups, alias checks and loop set-up whatever its width (docs/performance.md). These
# intrinsics emit the loops as LLVM IR over explicit vector types instead: a block of
# columns is held in registers while the kernel walks all the rows, so each row costs
# its loads, fused multiply-adds and (for the update) stores. Per element the arithmetic
# is the Numba loop's, in the same order: llvm.fmuladd is the fusion that the
# ``contract`` flag allows. Under NUMBA_DISABLE_JIT the plain loops below stand in.

_I32, _I64 = ir.IntType(32), ir.IntType(64)


def _host_has_avx512():
    try:
        from llvmlite import binding

        return "+avx512f" in binding.get_host_cpu_features().flatten().split(",")
    except Exception:  # noqa: BLE001 - any failure: assume the smaller register file
        return False


#: Most vectors a row kernel keeps in registers in one pass over the rows: 8 of AVX-512's
#: 32 registers, 4 of AVX2's 16 (LLVM splits each 512-bit vector in two there).
_MAX_VECTORS = 8 if _host_has_avx512() else 4


def _column_stages(dtype):
    """``(lanes per vector, sub-vector lanes)`` of a row kernel for ``dtype``.

    A 512-bit vector holds 8 doubles or 16 floats. Columns go in passes of up to
    :data:`_MAX_VECTORS` vectors; what is left goes in one more pass with exactly as many
    vectors as it fills, then (float32) one 8-lane vector, then scalars.
    """
    return (8, ()) if dtype == types.float64 else (16, (8,))


def _vector_type(scalar, lanes):
    return scalar if lanes == 1 else ir.VectorType(scalar, lanes)


def _broadcast(builder, x, lanes):
    if lanes == 1:
        return x
    vt = ir.VectorType(x.type, lanes)
    v = builder.insert_element(ir.Constant(vt, ir.Undefined), x, ir.Constant(_I32, 0))
    return builder.shuffle_vector(v, ir.Constant(vt, ir.Undefined), ir.Constant(ir.VectorType(_I32, lanes), [0] * lanes))


def _load(builder, ptr, offset, vt, align):
    ptr = builder.bitcast(builder.gep(ptr, [offset]), vt.as_pointer())
    return builder.load(ptr, align=align, typ=vt)


def _store(builder, value, ptr, offset, align):
    builder.store(value, builder.bitcast(builder.gep(ptr, [offset]), value.type.as_pointer()), align=align)


def _fmuladd(builder, a, b, c):
    """``a * b + c``, fused where the target has FMA (``llvm.fmuladd``)."""
    ty = a.type
    scalar = ty.element if isinstance(ty, ir.VectorType) else ty
    name = "f64" if scalar == ir.DoubleType() else "f32"
    if isinstance(ty, ir.VectorType):
        name = f"v{ty.count}{name}"
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty] * 3), f"llvm.fmuladd.{name}")
    return builder.call(fn, [a, b, c])


def _data(context, builder, arrty, arr, offset=None):
    ptr = context.make_array(arrty)(context, builder, arr).data
    return ptr if offset is None else builder.gep(ptr, [offset])


def _each_block(builder, dtype, n, body):
    """``body(c, n_vectors, lanes)`` for column blocks covering the first ``n`` columns of a row.

    Each call is one pass over the rows, so ``n`` columns cost as few passes as the
    registers allow: a pass's cost is mostly the latency of its chain of fused
    multiply-adds per row, nearly the same for 1 vector as for 8.
    """
    lanes, narrow = _column_stages(dtype)
    full = ir.Constant(_I64, _MAX_VECTORS * lanes)
    n_full = builder.udiv(n, full)
    with cgutils.for_range(builder, n_full) as loop:
        body(builder.mul(loop.index, full), _MAX_VECTORS, lanes)
    start = builder.mul(n_full, full)
    rest = builder.udiv(builder.sub(n, start), ir.Constant(_I64, lanes))  # < _MAX_VECTORS
    for k in range(1, _MAX_VECTORS):
        with builder.if_then(builder.icmp_unsigned("==", rest, ir.Constant(_I64, k))):
            body(start, k, lanes)
    start = builder.add(start, builder.mul(rest, ir.Constant(_I64, lanes)))
    for width in narrow:
        with builder.if_then(builder.icmp_unsigned(">=", builder.sub(n, start), ir.Constant(_I64, width))):
            body(start, 1, width)
        taken = builder.icmp_unsigned(">=", builder.sub(n, start), ir.Constant(_I64, width))
        start = builder.select(taken, builder.add(start, ir.Constant(_I64, width)), start)
    with cgutils.for_range_slice(builder, start, n, ir.Constant(_I64, 1)) as (c, _):
        body(c, 1, 1)


def _widened(context, builder, signature, args):
    """An intrinsic's arguments, every integer cast to int64 (offsets and lengths)."""
    return [context.cast(builder, v, t, types.int64) if isinstance(t, types.Integer) else v for v, t in zip(args, signature.args)]


def _contiguous(*arrays):
    return all(isinstance(a, types.Array) and a.layout == "C" for a in arrays)


def _integers(*values):
    return all(isinstance(v, types.Integer) for v in values)


def _rows(context, builder, sparse, tys, args):
    """A ``row(k) -> (i, x_k)`` reader: CSR ``(data, indices)`` or dense ``x`` from ``x_off``."""
    if sparse:
        data = _data(context, builder, tys[0], args[0])
        indices = _data(context, builder, tys[1], args[1])

        def row(k):
            return builder.sext(builder.load(builder.gep(indices, [k])), _I64), builder.load(builder.gep(data, [k]))

    else:
        x = _data(context, builder, tys[0], args[0], args[1])

        def row(k):
            return k, builder.load(builder.gep(x, [k]))

    return row


def _row_operands(sparse, w, p, q, v, *integers):
    """Whether a row kernel accepts these types: C-contiguous arrays of one float dtype
    (weights ``w``, inputs ``p``, the vector ``v``), integer offsets, and for CSR inputs
    ``q`` the int32 column indices, else ``q`` an integer offset into ``p``."""
    if not (_contiguous(w, p, v) and _integers(*integers) and p.dtype == w.dtype == v.dtype):
        return False
    return _contiguous(q) and q.dtype == types.int32 if sparse else _integers(q)


def _row_kernel_operands(context, builder, signature, args, sparse, v):
    """What a gemv/ger codegen starts from: the widened arguments, the scalar type and its
    alignment, pointers to ``w[w_off]`` and to the vector ``args[v][args[v + 1]]``, and the
    row reader of :func:`_rows` over arguments 4 and 5."""
    tys = signature.args
    values = _widened(context, builder, signature, args)
    scalar = context.get_value_type(tys[0].dtype)
    align = tys[0].dtype.bitwidth // 8
    wp = _data(context, builder, tys[0], values[0], values[1])
    vp = _data(context, builder, tys[v], values[v], values[v + 1])
    row = _rows(context, builder, sparse, (tys[4], tys[5]), (values[4], values[5]))
    return values, scalar, align, wp, vp, row


def _intrinsic_gemv(sparse):
    def gemv(typingctx, w, w_off, ld, n, p, q, k0, k1, a, a_off):
        if not _row_operands(sparse, w, p, q, a, w_off, ld, n, k0, k1, a_off):
            return None
        sig = types.void(w, w_off, ld, n, p, q, k0, k1, a, a_off)

        def codegen(context, builder, signature, args):
            (w, w_off, ld, n, p, q, k0, k1, a, a_off), scalar, align, wp, ap, row = _row_kernel_operands(
                context, builder, signature, args, sparse, 8
            )

            def block(c, n_vectors, lanes):
                vt = _vector_type(scalar, lanes)
                acc = [cgutils.alloca_once(builder, vt) for _ in range(n_vectors)]
                for u in range(n_vectors):
                    builder.store(_load(builder, ap, builder.add(c, ir.Constant(_I64, u * lanes)), vt, align), acc[u])
                with cgutils.for_range_slice(builder, k0, k1, ir.Constant(_I64, 1)) as (k, _):
                    i, x = row(k)
                    x = _broadcast(builder, x, lanes)
                    base = builder.add(builder.mul(i, ld), c)
                    for u in range(n_vectors):
                        wv = _load(builder, wp, builder.add(base, ir.Constant(_I64, u * lanes)), vt, align)
                        builder.store(_fmuladd(builder, x, wv, builder.load(acc[u])), acc[u])
                for u in range(n_vectors):
                    _store(builder, builder.load(acc[u]), ap, builder.add(c, ir.Constant(_I64, u * lanes)), align)

            _each_block(builder, signature.args[0].dtype, n, block)
            return context.get_dummy_value()

        return sig, codegen

    return intrinsic(gemv)


def _intrinsic_ger(sparse):
    def ger(typingctx, w, w_off, ld, n, p, q, k0, k1, scale, d, d_off):
        if not (_row_operands(sparse, w, p, q, d, w_off, ld, n, k0, k1, d_off) and scale == w.dtype):
            return None
        sig = types.void(w, w_off, ld, n, p, q, k0, k1, scale, d, d_off)

        def codegen(context, builder, signature, args):
            (w, w_off, ld, n, p, q, k0, k1, scale, d, d_off), scalar, align, wp, dp, row = _row_kernel_operands(
                context, builder, signature, args, sparse, 9
            )

            def block(c, n_vectors, lanes):
                vt = _vector_type(scalar, lanes)
                dv = [_load(builder, dp, builder.add(c, ir.Constant(_I64, u * lanes)), vt, align) for u in range(n_vectors)]
                with cgutils.for_range_slice(builder, k0, k1, ir.Constant(_I64, 1)) as (k, _):
                    i, x = row(k)
                    x = _broadcast(builder, builder.fmul(scale, x), lanes)
                    base = builder.add(builder.mul(i, ld), c)
                    for u in range(n_vectors):
                        offset = builder.add(base, ir.Constant(_I64, u * lanes))
                        _store(builder, _fmuladd(builder, x, dv[u], _load(builder, wp, offset, vt, align)), wp, offset, align)

            _each_block(builder, signature.args[0].dtype, n, block)
            return context.get_dummy_value()

        return sig, codegen

    return intrinsic(ger)


def _reduce_add(builder, v):
    """Sum of the lanes of ``v``, pairwise (the ``reassoc`` flag allows any order)."""
    n = v.type.count
    while n > 1:
        n //= 2
        lo = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, n), list(range(n))))
        hi = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, n), list(range(n, 2 * n))))
        v = builder.fadd(lo, hi)
    return builder.extract_element(v, ir.Constant(_I32, 0))


def _dot_rows_intrinsic(typingctx, w, w_off, ld, n, d, d_off, out, out_off):
    """``out[out_off + i] = w[w_off + i*ld : ... + ld] . d[d_off : d_off + ld]`` for ``i < n``."""
    if not (_contiguous(w, d, out) and _integers(w_off, ld, n, d_off, out_off) and w.dtype == d.dtype == out.dtype):
        return None
    sig = types.void(w, w_off, ld, n, d, d_off, out, out_off)

    def codegen(context, builder, signature, args):
        tys = signature.args
        w, w_off, ld, n, d, d_off, out, out_off = _widened(context, builder, signature, args)
        scalar = context.get_value_type(tys[0].dtype)
        align = tys[0].dtype.bitwidth // 8
        wp = _data(context, builder, tys[0], w, w_off)
        dp = _data(context, builder, tys[4], d, d_off)
        op = _data(context, builder, tys[6], out, out_off)
        lanes = 8
        vt = ir.VectorType(scalar, lanes)
        n_vec = builder.udiv(ld, ir.Constant(_I64, lanes))
        tail = builder.mul(n_vec, ir.Constant(_I64, lanes))
        vacc = cgutils.alloca_once(builder, vt)
        acc = cgutils.alloca_once(builder, scalar)
        with cgutils.for_range(builder, n) as rows:
            base = builder.mul(rows.index, ld)
            builder.store(ir.Constant(vt, [0.0] * lanes), vacc)
            with cgutils.for_range(builder, n_vec) as cols:
                j = builder.mul(cols.index, ir.Constant(_I64, lanes))
                wv = _load(builder, wp, builder.add(base, j), vt, align)
                builder.store(_fmuladd(builder, wv, _load(builder, dp, j, vt, align), builder.load(vacc)), vacc)
            builder.store(_reduce_add(builder, builder.load(vacc)), acc)
            with cgutils.for_range_slice(builder, tail, ld, ir.Constant(_I64, 1)) as (j, _):
                wj = builder.load(builder.gep(wp, [builder.add(base, j)]))
                builder.store(_fmuladd(builder, wj, builder.load(builder.gep(dp, [j])), builder.load(acc)), acc)
            builder.store(builder.load(acc), builder.gep(op, [rows.index]))
        return context.get_dummy_value()

    return sig, codegen



if not _config.JIT_DISABLED:
    _gemv_sparse = _intrinsic_gemv(sparse=True)
    _gemv_dense = _intrinsic_gemv(sparse=False)
    _ger_sparse = _intrinsic_ger(sparse=True)
    _ger_dense = _intrinsic_ger(sparse=False)
    _dot_rows = intrinsic(_dot_rows_intrinsic)

else:  # the same loops in Python, for NUMBA_DISABLE_JIT (an intrinsic cannot run uncompiled)

    def _gemv_sparse(w, w_off, ld, n, data, indices, k0, k1, a, a_off):
        """``a[a_off:a_off+n] += sum_k data[k] * w[w_off + indices[k]*ld :][:n]`` for ``k0 <= k < k1``.

        ``ld`` is the row stride of ``w``; ``n <= ld`` columns are computed.
        """
        for k in range(k0, k1):
            base = w_off + indices[k] * ld
            a.ravel()[a_off : a_off + n] += data[k] * w.ravel()[base : base + n]

    def _gemv_dense(w, w_off, ld, n, x, x_off, k0, k1, a, a_off):
        """As :func:`_gemv_sparse` with rows ``k`` and values ``x[x_off + k]``."""
        for k in range(k0, k1):
            base = w_off + k * ld
            a.ravel()[a_off : a_off + n] += x.ravel()[x_off + k] * w.ravel()[base : base + n]

    def _ger_sparse(w, w_off, ld, n, data, indices, k0, k1, scale, d, d_off):
        """``w[w_off + indices[k]*ld :][:n] += (scale * data[k]) * d[d_off:d_off+n]``."""
        for k in range(k0, k1):
            base = w_off + indices[k] * ld
            w.ravel()[base : base + n] += (scale * data[k]) * d.ravel()[d_off : d_off + n]

    def _ger_dense(w, w_off, ld, n, x, x_off, k0, k1, scale, d, d_off):
        """As :func:`_ger_sparse` with rows ``k`` and values ``x[x_off + k]``."""
        for k in range(k0, k1):
            base = w_off + k * ld
            w.ravel()[base : base + n] += (scale * x.ravel()[x_off + k]) * d.ravel()[d_off : d_off + n]

    def _dot_rows(w, w_off, ld, n, d, d_off, out, out_off):
        """``out[out_off + i] = w[w_off + i*ld :][:ld] . d[d_off:d_off+ld]`` for ``i < n``."""
        for i in range(n):
            base = w_off + i * ld
            out.ravel()[out_off + i] = w.ravel()[base : base + ld] @ d.ravel()[d_off : d_off + ld]



if not _config.JIT_DISABLED:

    @intrinsic
    def _prefetch(typingctx, arr, index):
        """Hint the CPU to fetch the cache line of ``arr.ravel()[index]`` (``llvm.prefetch``)."""
        if not (isinstance(arr, types.Array) and _integers(index)):
            return None

        def codegen(context, builder, signature, args):
            arrty = signature.args[0]
            index = _widened(context, builder, signature, args)[1]
            ptr = builder.bitcast(_data(context, builder, arrty, args[0], index), ir.PointerType(ir.IntType(8)))
            fnty = ir.FunctionType(ir.VoidType(), [ptr.type, _I32, _I32, _I32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            # read, keep in all cache levels, data cache
            builder.call(fn, [ptr, ir.Constant(_I32, 0), ir.Constant(_I32, 3), ir.Constant(_I32, 1)])
            return context.get_dummy_value()

        return types.void(arr, index), codegen

else:

    def _prefetch(arr, index):
        """A no-op without the JIT."""


@jit(inline="always")
def _flush_denormals():
    """Set FTZ/DAZ (see ``_config.FLUSH_DENORMALS``); returns the state to restore."""
    old = _get_mxcsr()
    _set_mxcsr(old | _FTZ_DAZ)
    return old


if not _config.JIT_DISABLED:

    @intrinsic
    def _float64_from_bits(typingctx, bits):
        """The float64 whose IEEE 754 bit pattern is the int64 ``bits``."""
        if bits != types.int64:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.DoubleType())

        return types.float64(types.int64), codegen

else:

    def _float64_from_bits(bits):
        """The float64 whose IEEE 754 bit pattern is the int64 ``bits``."""
        return float(np.int64(bits).view(np.float64))


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 to 32 bits: k * _LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI


@jit(inline="always")
def _exp_nonpositive(x):
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
    return p * _float64_from_bits((half + 1023) << 52) * _float64_from_bits((ki - half + 1023) << 52)


@jit(fastmath=False, error_model="numpy")
def _sigmoid_inplace(z):
    """Overwrite ``z`` with sigmoid(z) (Eq. 3), exact and overflow-free for any float.

    With ``e = exp(-|z|)``, sigmoid(z) is ``1 / (1 + e)`` for z >= 0 and ``e / (1 + e)``
    below: ``exp`` is only ever taken of a non-positive number, so it cannot overflow;
    z = 1000 gives exactly 1 and z = -1000 exactly 0; NaN stays NaN. ``e`` comes from
    :func:`_exp_nonpositive` in float64 (rounded to float32 for float32 ``z``), so the
    loop runs on vectors; a call to libm's ``exp`` per element was a fifth of an epoch.
    (NumPy's error model: Python's check for division by zero, never true for
    ``1 + e``, would keep the loop scalar.)
    """
    one = z.dtype.type(1)
    for j in range(z.shape[0]):
        v = z[j]
        e = z.dtype.type(_exp_nonpositive(-np.abs(np.float64(v))))
        z[j] = (one if v >= 0 else e) / (one + e)


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
    width = act.shape[1]
    for l in range(n_layers):
        w_off, b_off = offsets[2 * l], offsets[2 * l + 1]
        ld = (b_off - w_off) // sizes[l]
        o0 = aoff[l]
        for s in range(rows.shape[0]):
            act[s, o0 : o0 + ld] = params[b_off : b_off + ld]
            if l == 0:
                r = rows[s]
                _gemv_sparse(params, w_off, ld, ld, data, indices, indptr[r], indptr[r + 1], act, s * width + o0)
            else:
                _gemv_dense(params, w_off, ld, ld, act, s * width + aoff[l - 1], 0, sizes[l], act, s * width + o0)
            _sigmoid_inplace(act[s, o0 : o0 + ld])  # the padding too: whole vectors, never read


@jit(inline="always")
def _output_error(sizes, aoff, Y, rows, act, delta):
    """BP1: the output layer's errors of the samples ``rows``; returns their sum of C_x."""
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
    return 0.5 * cost


@jit(inline="always")
def _backward(params, sizes, offsets, aoff, Y, rows, act, delta):
    """Errors of the quadratic cost (BP1, BP2) for the samples ``rows``; returns sum of C_x.

    ``delta[s]`` receives dC_x/dz for layers 1..L, with sigma'(z) = a (1 - a); its
    padding entries are never written (they stay 0).
    """
    cost = _output_error(sizes, aoff, Y, rows, act, delta)
    for l in range(sizes.shape[0] - 2, 0, -1):
        _hidden_error(params, sizes, offsets, aoff, l, 0, sizes[l], rows, act, delta)
    return cost


@jit(inline="always")
def _hidden_error(params, sizes, offsets, aoff, l, r0, r1, rows, act, delta):
    """BP2 for the units ``[r0, r1)`` of hidden layer ``l``: ``(w.T delta') * a (1 - a)``.

    ``w.T`` is weight layer ``l``'s, whose rows ``[r0, r1)`` leave those units, and
    ``delta'`` the errors of layer ``l + 1``.
    """
    one = act.dtype.type(1)
    width = act.shape[1]
    w_off, b_off = offsets[2 * l], offsets[2 * l + 1]
    ld = (b_off - w_off) // sizes[l]
    cur = aoff[l - 1]
    for s in range(rows.shape[0]):
        _dot_rows(params, w_off + r0 * ld, ld, r1 - r0, delta, s * width + aoff[l], delta, s * width + cur + r0)
        for i in range(cur + r0, cur + r1):
            a = act[s, i]
            delta[s, i] = delta[s, i] * a * (one - a)


@jit(inline="always")
def _accumulate(buf, sizes, offsets, aoff, data, indices, indptr, rows, act, delta, scale):
    """``buf += scale * sum_s (dC_x/db, dC_x/dw)`` over the samples ``rows`` (BP3, BP4).

    With ``buf = params`` and ``scale = -eta/m`` this is the mini-batch update,
    Eq. (20)-(21); with a zeroed gradient buffer and ``scale = 1`` it sums gradients.
    First-layer terms are formed for the non-zero inputs only.
    """
    n_layers = sizes.shape[0] - 1
    width = act.shape[1]
    for l in range(n_layers):
        w_off, b_off = offsets[2 * l], offsets[2 * l + 1]
        ld = (b_off - w_off) // sizes[l]
        d0 = aoff[l]
        for s in range(rows.shape[0]):
            if l == 0:
                r = rows[s]
                _ger_sparse(buf, w_off, ld, ld, data, indices, indptr[r], indptr[r + 1], scale, delta, s * width + d0)
            else:
                _ger_dense(buf, w_off, ld, ld, act, s * width + aoff[l - 1], 0, sizes[l], scale, delta, s * width + d0)
            for j in range(ld):
                buf[b_off + j] += scale * delta[s, d0 + j]


@jit
def _step(params, sizes, offsets, data, indices, indptr, Y, rows, eta, ws):
    """One mini-batch update, Eq. (20)-(21), on the samples ``rows`` of (CSR inputs, ``Y``).

    Every sample's forward and backward pass uses the parameters as they were at the
    start of the batch; only then are the gradient terms, scaled by ``-eta / len(rows)``,
    added into ``params``. ``ws`` is :func:`_workspace`. Returns the sum of C_x over the
    batch.
    """
    aoff, act, delta = ws
    scale = params.dtype.type(-eta / rows.shape[0])
    _forward(params, sizes, offsets, aoff, data, indices, indptr, rows, act)
    cost = _backward(params, sizes, offsets, aoff, Y, rows, act, delta)
    _accumulate(params, sizes, offsets, aoff, data, indices, indptr, rows, act, delta, scale)
    return cost


_ALIGN = 64  # bytes: one cache line, one 512-bit vector


@jit
def _zeros_aligned(rows, cols, dtype_like):
    """Zeros of shape ``(rows, cols)`` whose first element starts a cache line.

    Numba aligns arrays to 32 bytes; a 64-byte vector load from a 32-byte boundary
    touches two cache lines.
    """
    pad = _ALIGN // dtype_like.itemsize
    buf = np.zeros(rows * cols + pad, dtype_like.dtype)
    start = (-buf.ctypes.data) % _ALIGN // dtype_like.itemsize
    return buf[start : start + rows * cols].reshape((rows, cols))


@jit
def _workspace(sizes, offsets, m, dtype_like):
    """Scratch for batches of up to ``m`` samples: ``(aoff, act, delta)``; delta's padding stays 0."""
    aoff = _activation_offsets(sizes, offsets)
    act = _zeros_aligned(m, aoff[-1], dtype_like)
    delta = _zeros_aligned(m, aoff[-1], dtype_like)
    return aoff, act, delta


@jit
def _update_mini_batch(params, sizes, offsets, data, indices, indptr, Y, rows, eta):
    """One mini-batch step on the samples ``rows``; returns the batch's summed cost."""
    ws = _workspace(sizes, offsets, rows.shape[0], params)
    mxcsr = _flush_denormals()
    cost = _step(params, sizes, offsets, data, indices, indptr, Y, rows, eta, ws)
    _set_mxcsr(mxcsr)
    return cost


@jit(inline="always")
def _prefetch_inputs(data, indices, indptr, Y, rows):
    """Prefetch the CSR inputs and targets of the samples ``rows``.

    An epoch visits the samples in a random order, so each one's inputs start with a
    cache miss to memory; fetched one mini-batch ahead, they wait in cache instead.
    """
    step = 64 // data.itemsize
    for s in range(rows.shape[0]):
        r = rows[s]
        k0, k1 = indptr[r], indptr[r + 1]
        for k in range(k0, k1, step):
            _prefetch(data, k)
        for k in range(k0, k1, 16):
            _prefetch(indices, k)
        _prefetch(Y, r * Y.shape[1])


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
        for s in range(min(stop + m, n), min(stop + 2 * m, n)):
            _prefetch(indptr, perm[s])
        _prefetch_inputs(data, indices, indptr, Y, perm[stop : min(stop + m, n)])
        cost += _step(params, sizes, offsets, data, indices, indptr, Y, perm[start:stop], eta, ws)
    _set_mxcsr(mxcsr)
    return cost


# Inputs stored as bytes (a fastnn.Dataset of uint8 images): the CSR values are byte codes
# and ``table[b]`` the value of byte ``b`` (b / 255, exactly as NumPy divides). Each
# mini-batch's inputs are decoded into a small batch-local CSR, its targets copied beside
# them, and the very step of the float kernels runs on that: the same operations in the
# same order, so the parameters equal those of float inputs bit for bit.

@jit
def _batch_buffers(m, n_in, n_out, dtype_like):
    """``(data, indices, indptr, Y, rows)`` for the decoded inputs of up to ``m`` samples."""
    data = np.empty(m * n_in + 1, dtype_like.dtype)
    indices = np.empty(m * n_in + 1, np.int32)
    indptr = np.zeros(m + 1, np.int64)
    Y = np.zeros((m, n_out), dtype_like.dtype)
    return data, indices, indptr, Y, np.arange(m)


@jit(inline="always")
def _decode_batch(codes, indices, indptr, table, rows, batch):
    """Decode the inputs of the samples ``rows`` into ``batch``; returns its rows ``0..len-1``."""
    b_data, b_indices, b_indptr, _, local = batch
    k = 0
    for s in range(rows.shape[0]):
        r = rows[s]
        for j in range(indptr[r], indptr[r + 1]):
            b_data[k] = table[codes[j]]
            b_indices[k] = indices[j]
            k += 1
        b_indptr[s + 1] = k
    return local[: rows.shape[0]]


@jit
def _sgd_epoch_bytes(params, sizes, offsets, codes, indices, indptr, table, Y, perm, mini_batch_size, eta):
    """:func:`_sgd_epoch` on inputs stored as byte codes (see above); the same result."""
    n = perm.shape[0]
    m = min(mini_batch_size, n)
    ws = _workspace(sizes, offsets, m, params)
    batch = _batch_buffers(m, sizes[0], sizes[sizes.shape[0] - 1], params)
    b_data, b_indices, b_indptr, b_Y, _ = batch
    mxcsr = _flush_denormals()
    cost = 0.0
    for start in range(0, n, m):
        stop = min(start + m, n)
        for s in range(min(stop + m, n), min(stop + 2 * m, n)):
            _prefetch(indptr, perm[s])
        _prefetch_inputs(codes, indices, indptr, Y, perm[stop : min(stop + m, n)])
        rows = perm[start:stop]
        local = _decode_batch(codes, indices, indptr, table, rows, batch)
        for s in range(rows.shape[0]):
            b_Y[s] = Y[rows[s]]
        cost += _step(params, sizes, offsets, b_data, b_indices, b_indptr, b_Y, local, eta, ws)
    _set_mxcsr(mxcsr)
    return cost


# Parallel training. Each layer's units are split into column blocks, one per thread; a
# thread computes its units' activations for every sample of the batch, then their
# errors, and updates the weights and biases that belong to them: the columns of the
# first layer's w.T, the rows of the next layer's w.T (the weights leaving its units)
# and their biases. No thread ever adds into another's numbers, so nothing is reduced
# across threads: every parameter receives the same operations in the same order as in
# :func:`_sgd_epoch`, and the results equal the serial kernel's bit for bit, whatever the
# number of threads. The price is one fork-join per hidden layer and direction per
# mini-batch (about 2.5 us each with two OpenMP threads here), and the output layer,
# which reads every hidden unit, runs on one thread.

#: Fewest columns a thread gets by default, by dtype: layers under 512 units (float64) or
#: 768 (float32) run on one thread. On this project's machine, at m = 10, splitting
#: 784-400-10 made a float64 epoch slower (0.30 s against 0.25 s) and 784-600-10 faster
#: (0.35 s against 0.39 s); in float32 784-600-10 was slower (0.38 s against 0.26 s),
#: 784-800-10 faster (0.33 s against 0.36 s), 784-1000-10 1.2x (docs/performance.md).
_MIN_BLOCK = 256
_MIN_BLOCK_FLOAT32 = 384


def _min_block(itemsize):
    """The default ``min_block`` of :func:`_sgd_epoch_parallel` for ``itemsize``-byte floats."""
    return _MIN_BLOCK if itemsize == 8 else _MIN_BLOCK_FLOAT32


@jit(inline="always")
def _block(ld, n_blocks, b):
    """Columns ``[c0, c1)`` of block ``b`` of ``n_blocks`` over ``ld``, cut at multiples of 16.

    16 columns are whole 512-bit vectors in either dtype and two 64-byte cache lines
    in float64, so no two threads write into one line of an aligned row.
    """
    c0 = ld * b // n_blocks // 16 * 16
    c1 = ld if b == n_blocks - 1 else ld * (b + 1) // n_blocks // 16 * 16
    return c0, c1


@jit(inline="always")
def _n_blocks(ld, n_threads, min_block):
    """Blocks for a layer of ``ld`` columns: one per thread, each at least ``min_block`` wide."""
    return max(1, min(n_threads, ld // min_block))


@jit
def _forward_block(params, sizes, offsets, aoff, l, c0, c1, data, indices, indptr, rows, act):
    """Layer ``l + 1``'s units ``[c0, c1)`` of :func:`_forward`, for every sample ``rows``."""
    mxcsr = _flush_denormals()  # MXCSR is per thread
    w_off, b_off = offsets[2 * l], offsets[2 * l + 1]
    ld = (b_off - w_off) // sizes[l]
    width = act.shape[1]
    o0 = aoff[l] + c0
    n = c1 - c0
    for s in range(rows.shape[0]):
        act[s, o0 : o0 + n] = params[b_off + c0 : b_off + c1]
        if l == 0:
            r = rows[s]
            _gemv_sparse(params, w_off + c0, ld, n, data, indices, indptr[r], indptr[r + 1], act, s * width + o0)
        else:
            _gemv_dense(params, w_off + c0, ld, n, act, s * width + aoff[l - 1], 0, sizes[l], act, s * width + o0)
        _sigmoid_inplace(act[s, o0 : o0 + n])
    _set_mxcsr(mxcsr)


@jit(inline="always")
def _update_columns(params, sizes, offsets, aoff, l, c0, c1, data, indices, indptr, rows, act, delta, scale):
    """BP3 for the biases ``[c0, c1)`` of weight layer ``l``; for ``l = 0``, BP4 for those columns of ``w.T``."""
    width = act.shape[1]
    w_off, b_off = offsets[2 * l], offsets[2 * l + 1]
    ld = (b_off - w_off) // sizes[l]
    d0 = aoff[l] + c0
    n = c1 - c0
    for s in range(rows.shape[0]):
        if l == 0:
            r = rows[s]
            _ger_sparse(params, w_off + c0, ld, n, data, indices, indptr[r], indptr[r + 1], scale, delta, s * width + d0)
        for j in range(n):
            params[b_off + c0 + j] += scale * delta[s, d0 + j]


@jit
def _backward_block(params, sizes, offsets, aoff, l, c0, c1, data, indices, indptr, rows, act, delta, scale):
    """Units ``[c0, c1)`` of hidden layer ``l`` (BP2), and the updates that belong to them.

    These are the units' biases, the rows of ``w.T`` of weight layer ``l`` that leave them
    (BP4, with the errors of layer ``l + 1``), and for ``l = 1`` the columns of the first
    layer's ``w.T`` that enter them.
    """
    mxcsr = _flush_denormals()
    width = act.shape[1]
    w_off, b_off = offsets[2 * l], offsets[2 * l + 1]
    ld = (b_off - w_off) // sizes[l]
    r0, r1 = min(c0, sizes[l]), min(c1, sizes[l])
    _hidden_error(params, sizes, offsets, aoff, l, r0, r1, rows, act, delta)
    for s in range(rows.shape[0]):
        _ger_dense(params, w_off, ld, ld, act, s * width + aoff[l - 1], r0, r1, scale, delta, s * width + aoff[l])
    _update_columns(params, sizes, offsets, aoff, l - 1, c0, c1, data, indices, indptr, rows, act, delta, scale)
    _set_mxcsr(mxcsr)


@jit(parallel=True)
def _sgd_epoch_parallel(params, sizes, offsets, data, indices, indptr, Y, perm, mini_batch_size, eta, n_threads, min_block):
    """:func:`_sgd_epoch` with each layer's units split over ``n_threads`` threads.

    Returns the same parameters and cost as the serial kernel, bit for bit: see the note
    above :func:`_block`. A layer narrower than ``2 * min_block`` columns (padded) runs on
    one thread. Which networks are worth it (and the default ``min_block``) is decided
    outside, in :meth:`fastnn.Network._splits`: with nothing split, this computes what
    :func:`_sgd_epoch` does, only slower.
    """
    n_layers = sizes.shape[0] - 1
    n = perm.shape[0]
    m = min(mini_batch_size, n)
    aoff, act, delta = _workspace(sizes, offsets, m, params)
    out_ld = (offsets[2 * n_layers - 1] - offsets[2 * n_layers - 2]) // sizes[n_layers - 1]
    mxcsr = _flush_denormals()
    cost = 0.0
    for start in range(0, n, m):
        stop = min(start + m, n)
        rows = perm[start:stop]
        for s in range(min(stop + m, n), min(stop + 2 * m, n)):
            _prefetch(indptr, perm[s])
        _prefetch_inputs(data, indices, indptr, Y, perm[stop : min(stop + m, n)])
        scale = params.dtype.type(-eta / rows.shape[0])
        for l in range(n_layers):
            ld = (offsets[2 * l + 1] - offsets[2 * l]) // sizes[l]
            nb = _n_blocks(ld, n_threads, min_block)
            if nb == 1:
                _forward_block(params, sizes, offsets, aoff, l, 0, ld, data, indices, indptr, rows, act)
            else:
                for b in prange(nb):
                    c0, c1 = _block(ld, nb, b)
                    _forward_block(params, sizes, offsets, aoff, l, c0, c1, data, indices, indptr, rows, act)
        cost += _output_error(sizes, aoff, Y, rows, act, delta)
        _update_columns(params, sizes, offsets, aoff, n_layers - 1, 0, out_ld, data, indices, indptr, rows, act, delta, scale)
        for l in range(n_layers - 1, 0, -1):
            ld = (offsets[2 * l - 1] - offsets[2 * l - 2]) // sizes[l - 1]  # layer l's units, padded
            nb = _n_blocks(ld, n_threads, min_block)
            if nb == 1:
                _backward_block(params, sizes, offsets, aoff, l, 0, ld, data, indices, indptr, rows, act, delta, scale)
            else:
                for b in prange(nb):
                    c0, c1 = _block(ld, nb, b)
                    _backward_block(params, sizes, offsets, aoff, l, c0, c1, data, indices, indptr, rows, act, delta, scale)
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
def _feedforward_csr_bytes(params, sizes, offsets, codes, indices, indptr, table, out):
    """:func:`_feedforward_csr` of inputs stored as byte codes (see :func:`_sgd_epoch_bytes`)."""
    aoff, act, _ = _workspace(sizes, offsets, _CHUNK, params)
    batch = _batch_buffers(_CHUNK, sizes[0], 1, params)
    o0 = aoff[sizes.shape[0] - 2]
    n_out = sizes[sizes.shape[0] - 1]
    n = indptr.shape[0] - 1
    for first in range(0, n, _CHUNK):
        rows = np.arange(first, min(first + _CHUNK, n))
        local = _decode_batch(codes, indices, indptr, table, rows, batch)
        _forward(params, sizes, offsets, aoff, batch[0], batch[1], batch[2], local, act)
        for s in range(rows.shape[0]):
            out[rows[s], :] = act[s, o0 : o0 + n_out]


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
