"""Shared fixtures: where the real MNIST files are, and whether they must be there."""

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


def _mnist_dir():
    env = os.environ.get("FASTNN_DATA")
    for candidate in (env, SHARED_MNIST):
        if candidate and (Path(candidate) / "train-images-idx3-ubyte.gz").exists():
            return Path(candidate).resolve()  # FASTNN_DATA may be relative; tests link to it
    return None


@pytest.fixture(scope="session")
def mnist_dir():
    """Directory holding the four real MNIST IDX files.

    In CI (``CI`` set) a missing directory is an error, never a skip: the tests that
    need real data must run there.
    """
    found = _mnist_dir()
    if found is None:
        msg = (
            "real MNIST not found: set FASTNN_DATA to a directory holding the four "
            f"IDX files, or place them at {SHARED_MNIST}"
        )
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return found


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    """``(train, validation, test)`` of real MNIST in float64, loaded once per session."""
    from fastnn.datasets import load_mnist

    return load_mnist(mnist_dir)


def one_hot(labels, n_out=10, dtype="float64"):
    Y = np.zeros((len(labels), n_out), dtype=dtype)
    Y[np.arange(len(labels)), labels] = 1
    return Y
