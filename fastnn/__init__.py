"""fastnn: Chapter 1 of Nielsen's *Neural Networks and Deep Learning*, made fast.

Feedforward networks of sigmoid neurons, trained by stochastic gradient descent on the
quadratic cost, with the hot loops compiled by Numba. :mod:`fastnn.reference` holds the
same algorithm in NumPy; :mod:`fastnn.book` the rest of the chapter, :mod:`fastnn.bench`
the benchmark tooling.
"""

from fastnn._version import __version__
from fastnn.book.gradient_descent import gradient_descent
from fastnn.book.reproduce import Chapter1Results, reproduce_chapter1
from fastnn.datasets import (
    DataError,
    DataNotFoundError,
    load_fashion_mnist,
    load_mnist,
    load_mnist_pickle,
    read_idx,
)
from fastnn.images import read_digits, to_mnist
from fastnn.network import EpochResult, Network, compile_kernels, load
from fastnn.parallel import train_many
from fastnn.persistence import ModelFileError
from fastnn.sweep import SweepResult, sweep
from fastnn.training import (
    Callback,
    EarlyStopping,
    History,
    ModelCheckpoint,
    ReduceEtaOnPlateau,
    TrainingInterrupted,
)
from fastnn.validation import DataRangeWarning

__all__ = [
    "Callback",
    "Chapter1Results",
    "DataError",
    "DataNotFoundError",
    "DataRangeWarning",
    "EarlyStopping",
    "EpochResult",
    "History",
    "ModelCheckpoint",
    "ModelFileError",
    "Network",
    "ReduceEtaOnPlateau",
    "SweepResult",
    "TrainingInterrupted",
    "__version__",
    "compile_kernels",
    "gradient_descent",
    "load",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist_pickle",
    "read_digits",
    "read_idx",
    "reproduce_chapter1",
    "sweep",
    "to_mnist",
    "train_many",
]
