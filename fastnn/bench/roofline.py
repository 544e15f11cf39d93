"""The bound of the sparse algorithm: the work the kernels do, and this core's limits for it.

:func:`fastnn.kernels.sgd_epoch` does not do the dense matrix products that a FLOP count
assumes. Its first layer stores ``w.T`` (:mod:`fastnn._layout`), so a sample costs one
*row operation* per non-zero pixel and pass, each over the layer's padded width ``ld``:

* forward (Eq. 4): ``a += x_i * w.T[i]``, a row read;
* update (BP4 with Eq. 20-21): ``w.T[i] += (-eta/m) x_i * delta``, a row read and written.

The layers after the first are small dense products (``w a``, ``w.T delta`` and the
update: three ``n_in x ld`` passes per sample). :func:`work` counts all of this for an
epoch. The limits are measured on the spot, in the same process, by small Numba kernels
here (not the library's):

* :func:`measure_row_ops`: the first layer's row operations alone, for the epoch's real
  non-zeros in a random order (the next sample's prefetched, as the epoch prefetches the
  next mini-batch's), with the library's row primitives (the sparse
  ``gemv``/``ger`` of :mod:`fastnn.kernels`) and nothing else: no sigmoid, no other
  layer, no bookkeeping: what the sparse algorithm cannot avoid with these primitives
  (the forward pass keeps one chain of fused multiply-adds per column, the order that
  keeps results bit-identical, so it waits on that chain's latency);
* :func:`measure_stream`: ``a += c * b`` over a working set the size of the first layer's
  ``w.T``: the bandwidth of the cache level that holds the weights (L2 for 784-30-10 and
  784-100-10, beyond it for 784-1000-10);
* arithmetic at the matmul peak (:func:`fastnn.bench.bench.measure_peak_gflops`), for
  the rows' FLOPs and the dense layers'.

The bound of a configuration is ``max(row bytes / stream bandwidth, row FLOPs / peak) +
dense FLOPs / peak`` (:func:`bound`); a measured epoch is reported as ``bound /
measured`` (100 % is the bound). The row operations timed alone are reported beside it:
when they take most of the epoch, the wall is the row primitives, not the rest of the
kernel. The same bound holds for every ``m``: the kernel updates per sample at any
``m``.
"""

import math
import time

import numba
import numpy as np

from fastnn import _config, _layout, kernels
from fastnn._layout import LD, N_IN
from fastnn.kernels._cpu import prefetch

if _config.JIT_DISABLED or _config.ROW_KERNELS == "loops":
    from fastnn.kernels.rows import gemv_sparse, ger_sparse
else:
    from fastnn.kernels._llvm import gemv_sparse, ger_sparse

__all__ = ["work", "measure_row_ops", "measure_stream", "bound", "MODEL"]

MODEL = (
    "bound = max(row bytes / stream bandwidth, row FLOPs / peak) + dense FLOPs / peak, where "
    "the rows are the first layer's: 2 per non-zero pixel (forward; update), each of the padded "
    "width; row bytes = 3 x nnz x width x itemsize; stream = a += c*b over a working set the size "
    "of that layer's w.T; dense = the other layers, 3 passes of n_in x width, 2 FLOPs each; "
    "peak = numpy.matmul's"
)


def work(sizes, dtype, nnz, n_samples):
    """What one epoch of :func:`fastnn.kernels.sgd_epoch` computes and moves.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes, input first.
    dtype : {'float64', 'float32'}
    nnz : int
        Non-zero inputs over the epoch's samples (the CSR's ``indptr[-1]``).
    n_samples : int

    Returns
    -------
    dict
        ``ld`` (the first layer's padded width), ``row_ops`` (2 per non-zero: forward and
        update), ``row_flops`` (2 per element per row op), ``row_bytes`` (bytes of ``w.T``
        moved through L1: a row read forward, read and written in the update),
        ``dense_flops`` (layers after the first, 3 passes of ``n_in x ld``, 2 FLOPs per
        element) and ``w1_bytes`` (the first layer's ``w.T``, the working set).
    """
    item = np.dtype(dtype).itemsize
    layers = _layout.layer_table(list(sizes), _layout.ALIGN // item)
    ld = int(layers[0, LD])
    dense = sum(int(layers[l, N_IN]) * int(layers[l, LD]) for l in range(1, len(layers)))
    return {
        "ld": ld,
        "row_ops": 2 * nnz,
        "row_flops": 2 * 2 * nnz * ld,
        "row_bytes": 3 * nnz * ld * item,
        "dense_flops": 2 * 3 * dense * n_samples,
        "w1_bytes": int(layers[0, N_IN]) * ld * item,
    }


@numba.njit(cache=False, nogil=True, fastmath=_config.FASTMATH)
def _row_ops(w, ld, data, indices, indptr, perm, a, d, scale):
    """The first layer's row operations of an epoch, alone: forward then update per sample.

    The next sample's inputs are prefetched, as the epoch kernel prefetches the next
    mini-batch's: without it, this measured the misses of the random order as much as
    the rows (0.117-0.120 s against 0.075 s in order, float64, here).
    """
    n = perm.shape[0]
    for s in range(n):
        if s + 1 < n:
            q = perm[s + 1]
            for k in range(indptr[q], indptr[q + 1], 64 // data.itemsize):
                prefetch(data, k)
            for k in range(indptr[q], indptr[q + 1], 16):
                prefetch(indices, k)
        r = perm[s]
        for j in range(ld):
            a[j] = 0
        gemv_sparse(w, 0, ld, ld, data, indices, indptr[r], indptr[r + 1], a, 0)
        ger_sparse(w, 0, ld, ld, data, indices, indptr[r], indptr[r + 1], scale, d, 0)


@numba.njit(cache=False, nogil=True, fastmath=_config.FASTMATH)
def _stream(a, b, c, passes):
    for _ in range(passes):
        for i in range(a.shape[0]):
            a[i] += c * b[i]


def measure_row_ops(X_csr, sizes, dtype, n_samples, repeat=3, seed=0):
    """Seconds of the first layer's row operations for one epoch, best of ``repeat``.

    Parameters
    ----------
    X_csr : (data, indices, indptr)
        The training inputs as :func:`fastnn.kernels.csr`, in ``dtype``.
    sizes, dtype : as :func:`work`
    n_samples : int
        Samples of the epoch (the first ``n_samples`` rows, in a random order).

    Returns
    -------
    float
        Seconds.
    """
    data, indices, indptr = X_csr
    ld = work(sizes, dtype, 0, 0)["ld"]
    dt = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    w = _layout.aligned_copy((0.01 * rng.standard_normal(sizes[0] * ld)).astype(dt))
    a = _layout.aligned_copy(np.zeros(ld, dt))
    d = _layout.aligned_copy((1e-3 * rng.standard_normal(ld)).astype(dt))
    perm = rng.permutation(n_samples)
    scale = dt.type(-0.3)
    _row_ops(w, ld, data, indices, indptr, perm[:10], a, d, scale)  # compile
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        _row_ops(w, ld, data, indices, indptr, perm, a, d, scale)
        best = min(best, time.perf_counter() - t0)
    return best


def measure_stream(n_bytes, dtype, repeat=5, min_bytes=2e9):
    """Bytes per second of ``a += c * b`` over a working set of ``n_bytes`` (a and b), best of ``repeat``.

    Counts 3 accesses per element (read ``a`` and ``b``, write ``a``), the update's
    pattern; passes are repeated until about ``min_bytes`` have moved per timing.

    Returns
    -------
    float
        Bytes per second.
    """
    dt = np.dtype(dtype)
    n = max(64, int(n_bytes) // (2 * dt.itemsize))
    a = _layout.aligned_copy(np.zeros(n, dt))
    b = _layout.aligned_copy(np.full(n, 1e-3, dt))
    passes = max(1, int(min_bytes // (3 * n * dt.itemsize)))
    _stream(a, b, dt.type(0.5), 1)
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        _stream(a, b, dt.type(0.5), passes)
        best = min(best, time.perf_counter() - t0)
    return 3 * n * dt.itemsize * passes / best


def bound(counts, stream_bytes_per_s, peak_gflops, row_ops_s=None):
    """Seconds per epoch of the roofline, and its parts.

    ``bound_s = max(row bytes / stream bandwidth, row FLOPs / peak) + dense FLOPs / peak``:
    what this core's measured bandwidth and arithmetic allow for the work of
    :func:`work`. ``row_ops_s`` (from :func:`measure_row_ops`, optional) is reported
    beside it: the same rows done with the library's primitives alone.

    Returns
    -------
    dict
        ``bound_s``, ``stream_s``, ``fma_s``, ``dense_s``, ``row_ops_s`` and ``wall``
        (``'stream'`` or ``'fma'``: which of the first two binds).
    """
    stream_s = counts["row_bytes"] / stream_bytes_per_s
    fma_s = counts["row_flops"] / (peak_gflops * 1e9)
    dense_s = counts["dense_flops"] / (peak_gflops * 1e9)
    return {
        "bound_s": max(stream_s, fma_s) + dense_s,
        "stream_s": stream_s,
        "fma_s": fma_s,
        "dense_s": dense_s,
        "row_ops_s": row_ops_s,
        "wall": "stream" if stream_s >= fma_s else "fma",
    }


def csr(X):
    """:func:`fastnn.kernels.csr` of ``X`` (for callers of this module)."""
    return kernels.csr(X)
