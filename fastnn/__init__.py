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
from fastnn.gradient_descent import gradient_descent
from fastnn.images import read_digits, to_mnist
from fastnn.network import (
    DataRangeWarning,
    EpochResult,
    ModelFileError,
    Network,
    compile_kernels,
    load,
    train_many,
)
from fastnn.reproduce import Chapter1Results, reproduce_chapter1

__all__ = [
    "Network",
    "EpochResult",
    "load",
    "train_many",
    "compile_kernels",
    "DataRangeWarning",
    "ModelFileError",
    "load_mnist",
    "load_fashion_mnist",
    "load_mnist_pickle",
    "read_idx",
    "DataError",
    "DataNotFoundError",
    "gradient_descent",
    "to_mnist",
    "read_digits",
    "reproduce_chapter1",
    "Chapter1Results",
    "__version__",
]
