"""fastnn's asv benchmarks (``asv.conf.json`` at the repository root).

Kept apart from ``benchmarks/`` (the pytest-benchmark suite), which asv must not import.

Thread counts are fixed to one here, before anything imports numpy or numba: asv's
``matrix.env`` sets them for the environments it builds, but ``asv run -E existing:same``
ignores the matrix. A value already in the environment is kept.
"""

import os

THREAD_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
for _key, _value in THREAD_ENV.items():
    os.environ.setdefault(_key, _value)
