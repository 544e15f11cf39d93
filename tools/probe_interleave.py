#!/usr/bin/env python3
"""Probe (issue 16): two samples' first-layer forward rows interleaved, against one after the other.

The forward row primitive (``gemv_sparse``) adds each non-zero pixel's row of ``w.T`` into
one accumulator per column block: a chain of dependent FMAs per sample. Walking two
samples' rows in one loop gives two independent chains, with each sample's sums formed in
the same order (the script checks that the results are bit-identical). float64, width 32
(784-30-10), the first 20,000 MNIST training images' non-zeros in a random order; the two
variants alternate in one process. Not used by the library: docs/performance.md records
the result.

Usage: FASTNN_DATA=/path/to/mnist python tools/probe_interleave.py
"""
import os
import time

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from fastnn import _config, _layout, datasets, kernels
from fastnn.kernels._llvm import _broadcast, _data, _fmuladd, _load, _store, _widened, gemv_sparse

I64 = ir.IntType(64)
LANES, N_VECTORS = 8, 4  # float64, 32 columns


@intrinsic
def gemv2(typingctx, w, ld, data, indices, ka0, ka1, kb0, kb1, a, a_off, b_off):
    """``a[a_off:][:32] += rows of sample A``, ``a[b_off:][:32] += rows of sample B``, walked together."""
    sig = types.void(w, ld, data, indices, ka0, ka1, kb0, kb1, a, a_off, b_off)

    def codegen(context, builder, signature, args):
        tys = signature.args
        w, ld, data, indices, ka0, ka1, kb0, kb1, a, a_off, b_off = _widened(context, builder, signature, args)
        scalar = context.get_value_type(tys[0].dtype)
        wp = _data(context, builder, tys[0], w)
        dp = _data(context, builder, tys[2], data)
        ip = _data(context, builder, tys[3], indices)
        vt = ir.VectorType(scalar, LANES)
        accs = []
        for p in (_data(context, builder, tys[8], a, a_off), _data(context, builder, tys[8], a, b_off)):
            acc = [cgutils.alloca_once(builder, vt) for _ in range(N_VECTORS)]
            for u in range(N_VECTORS):
                builder.store(_load(builder, p, ir.Constant(I64, u * LANES), vt, 8), acc[u])
            accs.append((p, acc))

        def row(k, acc):
            i = builder.sext(builder.load(builder.gep(ip, [k])), I64)
            x = _broadcast(builder, builder.load(builder.gep(dp, [k])), LANES)
            base = builder.mul(i, ld)
            for u in range(N_VECTORS):
                wv = _load(builder, wp, builder.add(base, ir.Constant(I64, u * LANES)), vt, 8)
                builder.store(_fmuladd(builder, x, wv, builder.load(acc[u])), acc[u])

        na, nb = builder.sub(ka1, ka0), builder.sub(kb1, kb0)
        common = builder.select(builder.icmp_signed("<", na, nb), na, nb)
        with cgutils.for_range(builder, common) as loop:
            row(builder.add(ka0, loop.index), accs[0][1])
            row(builder.add(kb0, loop.index), accs[1][1])
        for (k0, k1), (_p, acc) in zip(((ka0, ka1), (kb0, kb1)), accs):
            with cgutils.for_range_slice(builder, builder.add(k0, common), k1, ir.Constant(I64, 1)) as (k, _):
                row(k, acc)
        for p, acc in accs:
            for u in range(N_VECTORS):
                _store(builder, builder.load(acc[u]), p, ir.Constant(I64, u * LANES), 8)
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(fastmath=_config.FASTMATH)
def one(w, ld, data, indices, indptr, perm, A):
    for s in range(perm.shape[0]):
        r = perm[s]
        o = (s % 2) * ld
        for j in range(ld):
            A[o + j] = 0
        gemv_sparse(w, 0, ld, ld, data, indices, indptr[r], indptr[r + 1], A, o)


@numba.njit(fastmath=_config.FASTMATH)
def two(w, ld, data, indices, indptr, perm, A):
    for s in range(0, perm.shape[0] - 1, 2):
        r, q = perm[s], perm[s + 1]
        for j in range(2 * ld):
            A[j] = 0
        gemv2(w, ld, data, indices, indptr[r], indptr[r + 1], indptr[q], indptr[q + 1], A, 0, ld)


def main():
    (X, _y), _, _ = datasets.load_mnist(os.environ.get("FASTNN_DATA"), dtype="float64")
    data, indices, indptr = kernels.csr(X[:20000])
    nnz = indptr[-1]
    perm = np.random.default_rng(0).permutation(20000)
    ld = 32
    w = _layout.aligned_copy(np.random.default_rng(0).standard_normal(784 * ld) * 0.01)
    A1, A2 = _layout.aligned_copy(np.zeros(2 * ld)), _layout.aligned_copy(np.zeros(2 * ld))
    res = {"one": [], "two": []}
    for _ in range(9):
        for name, f, A in (("one", one, A1), ("two", two, A2)):
            t0 = time.perf_counter()
            f(w, ld, data, indices, indptr, perm, A)
            res[name].append(time.perf_counter() - t0)
    print("bit-identical (the last pair of samples):", np.array_equal(A1, A2))
    for name, ts in res.items():
        print(f"{name}: min {min(ts) / nnz * 1e9:.2f}, median {np.median(ts) / nnz * 1e9:.2f} ns per row")
    ratio = np.median(res["two"]) / np.median(res["one"])
    print(f"two / one: {ratio:.3f} (medians), {min(res['two']) / min(res['one']):.3f} (minima)")


if __name__ == "__main__":
    main()
