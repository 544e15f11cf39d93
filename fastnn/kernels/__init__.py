"""fastnn's compiled kernels (Numba only), read top-down in the book's order.

:mod:`~fastnn.kernels.sgd`
    The algorithm: feedforward, backprop (forward + BP1-BP4), the mini-batch step, the
    epoch, the parallel epoch, inference.
:mod:`~fastnn.kernels.rows`
    The row operations as plain loops: their specification.
:mod:`~fastnn.kernels._llvm`
    The same row operations as vector code (Numba intrinsics emitting LLVM IR).
:mod:`~fastnn.kernels._cpu`
    MXCSR (denormal flushing) and prefetches.
:mod:`~fastnn.kernels.cache`
    Numba's on-disk cache of these kernels and its guard against stale entries.

The parameter layout they read is :mod:`fastnn._layout`.
"""

from fastnn.kernels import cache

cache.guard()  # before any kernel is defined or loaded

from fastnn.kernels.sgd import (  # noqa: E402
    COST_IDS,
    CROSS_ENTROPY,
    QUADRATIC,
    backprop,
    block,
    blocked_pixels,
    csr,
    feedforward,
    feedforward_csr,
    feedforward_csr_bytes,
    feedforward_parallel,
    n_blocks,
    sgd_epoch,
    sgd_epoch_bytes,
    sgd_epoch_parallel,
    sigmoid,
    sigmoid_prime,
    softplus,
    total_cost,
    total_cost_csr,
    update_mini_batch,
    weight_scales,
    workspace,
)

__all__ = [
    "COST_IDS", "CROSS_ENTROPY", "QUADRATIC", "softplus", "total_cost", "total_cost_csr",
    "backprop", "block", "blocked_pixels", "cache", "csr", "feedforward", "feedforward_csr",
    "feedforward_csr_bytes", "feedforward_parallel", "n_blocks", "sgd_epoch", "sgd_epoch_bytes",
    "sgd_epoch_parallel", "sigmoid",
    "sigmoid_prime", "update_mini_batch", "weight_scales", "workspace",
]
