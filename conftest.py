"""Root conftest: only what both ``tests/`` and ``benchmarks/`` need from pytest itself.

(Fixtures live in ``tests/conftest.py`` and in the benchmark module: a second
``conftest.py`` under ``benchmarks/`` would replace ``tests/conftest.py`` as the module
``conftest`` that the tests import ``one_hot`` from.)
"""

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """``--benchmark-only`` times the benchmarks despite ``--benchmark-disable`` in addopts.

    pyproject.toml's ``addopts`` disables timing so that the normal test run smoke-runs
    each benchmark body once; asking for ``--benchmark-only`` is asking for timings, so it
    enables them (pytest-benchmark would otherwise refuse the two options together).
    """
    if config.getoption("benchmark_only", False):
        config.option.benchmark_enable = True
