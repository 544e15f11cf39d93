"""Shared set-up of the asv benchmarks: real MNIST once per process, one thread, warm JIT."""

import functools
import os
from pathlib import Path

from . import THREAD_ENV  # noqa: F401  (sets the one-thread environment first)

#: Where MNIST is looked for: $FASTNN_DATA, else ../shared/data/mnist beside the
#: repository (the project's machines), else fastnn's own search (cache, download).
_SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"

N_TRAIN = 50_000
#: The book's per-sample code takes seconds per epoch: it is timed on this many images.
PER_SAMPLE_N = 5_000
ETA = 3.0
SEED = 0


def mnist_dir():
    """Directory holding the four MNIST IDX files, or None to let fastnn search."""
    env = os.environ.get("FASTNN_DATA")
    for candidate in (env, _SHARED):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@functools.cache
def mnist(dtype):
    """``(X, Y, X_test, y_test)``: the 50,000 training images with one-hot targets and the
    10,000 test images with labels, in ``dtype``."""
    from fastnn.datasets import load_mnist
    from fastnn.validation import one_hot

    (X, y), _validation, (X_test, y_test) = load_mnist(mnist_dir(), dtype=dtype)
    return X, one_hot(y, 10, dtype), X_test, y_test


def one_thread():
    """Limit Numba and BLAS to one thread in this process (in case numpy came first)."""
    import numba

    numba.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1)
