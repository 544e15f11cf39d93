"""Shared test fixtures; ``mnist_dir`` (where real MNIST is) lives in the root conftest."""


import numpy as np
import pytest


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    """``(train, validation, test)`` of real MNIST in float64, loaded once per session."""
    from fastnn.datasets import load_mnist

    return load_mnist(mnist_dir)


def one_hot(labels, n_out=10, dtype="float64"):
    Y = np.zeros((len(labels), n_out), dtype=dtype)
    Y[np.arange(len(labels)), labels] = 1
    return Y
