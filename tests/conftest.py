"""Shared test fixtures; ``mnist_dir`` (where real MNIST is) lives in the root conftest.

Helpers that test modules import are in ``tests/helpers.py``; one-hot targets come from
:func:`fastnn.validation.one_hot`.
"""

import pytest

from fastnn.datasets import load_mnist


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    """``(train, validation, test)`` of real MNIST in float64, loaded once per session."""
    return load_mnist(mnist_dir)
