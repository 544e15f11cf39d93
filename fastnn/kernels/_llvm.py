"""The row operations as explicit vector code: LLVM IR emitted through Numba intrinsics.

The inner loops of every layer walk rows of a transposed weight matrix: ``a += x_i *
w.T[i]`` (feedforward), ``w.T[i] += c_i * delta`` (the update) and ``w.T[i] . delta``
(backpropagation). :mod:`fastnn.kernels.rows` states what each computes, as plain loops.
Written as Numba loops, each row paid ~65 instructions of index fix-ups, alias checks
and loop set-up whatever its width (docs/performance.md). These intrinsics emit the
loops as LLVM IR over explicit vector types instead: a block of columns is held in
registers while the kernel walks all the rows, so each row costs its loads, fused
multiply-adds and (for the update) stores. Per element the arithmetic is the loop's, in
the same order: ``llvm.fmuladd`` is the fusion that the ``contract`` flag allows.

The signatures and meanings are those of :mod:`fastnn.kernels.rows`; an intrinsic can
only run compiled, so under ``NUMBA_DISABLE_JIT`` (and with ``FASTNN_ROW_KERNELS=loops``)
:mod:`fastnn.kernels.sgd` uses :mod:`fastnn.kernels.rows` instead (uncompiled, its NumPy
slices).
"""

import numpy as np
from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from fastnn import _config

__all__ = [
    "gemv_sparse", "gemv_dense", "ger_sparse", "ger_dense", "dot_rows", "float64_from_bits",
    "I32", "I64", "data_pointer", "widened", "integers",
]

I32, I64 = ir.IntType(32), ir.IntType(64)
_I32, _I64 = I32, I64


def _host_has_avx512():
    try:
        return "+avx512f" in binding.get_host_cpu_features().flatten().split(",")
    except Exception:  # any failure: assume the smaller register file
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
    zeros = ir.Constant(ir.VectorType(_I32, lanes), [0] * lanes)
    return builder.shuffle_vector(v, ir.Constant(vt, ir.Undefined), zeros)


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
    return [
        context.cast(builder, v, t, types.int64) if isinstance(t, types.Integer) else v
        for v, t in zip(args, signature.args)
    ]


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
            operands = _row_kernel_operands(context, builder, signature, args, sparse, 8)
            (_w, _w_off, ld, n, _p, _q, k0, k1, _a, _a_off), scalar, align, wp, ap, row = operands

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
            operands = _row_kernel_operands(context, builder, signature, args, sparse, 9)
            (_w, _w_off, ld, n, _p, _q, k0, k1, scale, _d, _d_off), scalar, align, wp, dp, row = operands

            def block(c, n_vectors, lanes):
                vt = _vector_type(scalar, lanes)
                offsets = [builder.add(c, ir.Constant(_I64, u * lanes)) for u in range(n_vectors)]
                dv = [_load(builder, dp, offset, vt, align) for offset in offsets]
                with cgutils.for_range_slice(builder, k0, k1, ir.Constant(_I64, 1)) as (k, _):
                    i, x = row(k)
                    x = _broadcast(builder, builder.fmul(scale, x), lanes)
                    base = builder.add(builder.mul(i, ld), c)
                    for u in range(n_vectors):
                        offset = builder.add(base, ir.Constant(_I64, u * lanes))
                        updated = _fmuladd(builder, x, dv[u], _load(builder, wp, offset, vt, align))
                        _store(builder, updated, wp, offset, align)

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



#: Public names of the helpers :mod:`fastnn.kernels._cpu` builds its intrinsics from.
data_pointer, widened, integers = _data, _widened, _integers

if not _config.JIT_DISABLED:
    gemv_sparse = _intrinsic_gemv(sparse=True)
    gemv_dense = _intrinsic_gemv(sparse=False)
    ger_sparse = _intrinsic_ger(sparse=True)
    ger_dense = _intrinsic_ger(sparse=False)
    dot_rows = intrinsic(_dot_rows_intrinsic)

    @intrinsic
    def float64_from_bits(typingctx, bits):
        """The float64 whose IEEE 754 bit pattern is the int64 ``bits``."""
        if bits != types.int64:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.DoubleType())

        return types.float64(types.int64), codegen

else:
    gemv_sparse = gemv_dense = ger_sparse = ger_dense = dot_rows = None  # the loops stand in

    def float64_from_bits(bits):
        """The float64 whose IEEE 754 bit pattern is the int64 ``bits``."""
        return float(np.int64(bits).view(np.float64))
