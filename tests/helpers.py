"""Helpers shared by the test modules (imported as ``from helpers import ...``; fixtures
stay in ``conftest.py``, which nothing imports)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

#: The repository's root (the parent of ``fastnn/`` and ``tests/``).
REPO = Path(__file__).resolve().parents[1]


def run_python(code, **env):
    """Run ``code`` in a fresh interpreter with this checkout first on ``sys.path``."""
    environ = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, cwd=REPO)


def small_problem():
    """A small learnable problem: 200 samples of 6 features in [0, 1], 3 classes."""
    rng = np.random.default_rng(0)
    X = rng.random((200, 6))
    y = np.argmax(X[:, :3], axis=1)
    return X, y


def wide_problem():
    """120 samples of 40 sparse features and 4 classes, for networks wide enough to split."""
    rng = np.random.default_rng(1)
    X = rng.random((120, 40))
    X[X < 0.5] = 0
    return X, (X[:, :4].argmax(axis=1))
