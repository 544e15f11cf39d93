"""Root conftest: what both ``tests/`` and ``benchmarks/`` need (the MNIST fixture, options).

(Fixtures live in ``tests/conftest.py`` and in the benchmark module; helpers the test
modules import live in ``tests/helpers.py``, never in a conftest.)
"""

import importlib.util
import os
from pathlib import Path

import pytest

#: Modules of fastnn/ that pytest's --doctest-modules must not import: ``__main__`` runs the
#: command line on import.
collect_ignore = ["fastnn/__main__.py"]

#: Modules that import an optional dependency (an extra) at the top: their doctests are
#: collected only where it is installed, so a missing extra never breaks collection.
OPTIONAL_MODULES = {
    "fastnn/plot.py": "matplotlib",
    "fastnn/sklearn.py": "sklearn",
    "fastnn/sweep.py": "distributed",
    "fastnn/onnx.py": "onnx",
    "fastnn/images.py": "PIL",
}
collect_ignore += [path for path, module in OPTIONAL_MODULES.items() if importlib.util.find_spec(module) is None]

SHARED_MNIST = Path(__file__).resolve().parent.parent / "shared" / "data" / "mnist"


def _mnist_dir():
    env = os.environ.get("FASTNN_DATA")
    for candidate in (env, SHARED_MNIST):
        if candidate and (Path(candidate) / "train-images-idx3-ubyte.gz").exists():
            return Path(candidate).resolve()  # FASTNN_DATA may be relative; tests link to it
    return None


@pytest.fixture(scope="session")
def mnist_dir():
    """Directory holding the four real MNIST IDX files (``$FASTNN_DATA`` or ``../shared``).

    In CI (``CI`` set) a missing directory is an error, never a skip: the tests and
    benchmark smoke runs that need real data must run there.
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


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """``--benchmark-only`` times the benchmarks despite ``--benchmark-disable`` in addopts.

    pyproject.toml's ``addopts`` disables timing so that the normal test run smoke-runs
    each benchmark body once; asking for ``--benchmark-only`` is asking for timings, so it
    enables them (pytest-benchmark would otherwise refuse the two options together).
    """
    if config.getoption("benchmark_only", False):
        config.option.benchmark_enable = True
