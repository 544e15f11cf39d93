"""fastnn: Chapter 1 of Nielsen's *Neural Networks and Deep Learning*, made fast.

Feedforward networks of sigmoid neurons, trained by stochastic gradient descent on the
quadratic cost, with the hot loops compiled by Numba. :mod:`fastnn.reference` holds the
same algorithm in NumPy.
"""

__version__ = "0.1.0"

from fastnn.datasets import (
    DataError,
    DataNotFoundError,
    load_fashion_mnist,
    load_mnist,
    load_mnist_pickle,
    read_idx,
)
from fastnn.network import (
    DataRangeWarning,
    EpochResult,
    ModelFileError,
    Network,
    compile_kernels,
    load,
)

__all__ = [
    "Network",
    "EpochResult",
    "load",
    "compile_kernels",
    "DataRangeWarning",
    "ModelFileError",
    "load_mnist",
    "load_fashion_mnist",
    "load_mnist_pickle",
    "read_idx",
    "DataError",
    "DataNotFoundError",
    "__version__",
]
