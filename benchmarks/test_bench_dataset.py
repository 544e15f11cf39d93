"""pytest-benchmark: what a call of ``SGD`` costs beyond its epochs, and building a Dataset.

Groups (784-30-10, m = 10, float64, the first 50,000 MNIST training images):

``sgd_calls|784-30-10|m=10|float64``
    ``loop_dataset``: five ``SGD(ds, epochs=1)`` calls on a :class:`fastnn.Dataset`;
    ``one_call``: one ``SGD(ds, epochs=5)``; ``loop_raw``: five ``SGD((X, y), epochs=1)``
    on float64 arrays. Each round trains a fresh network of the same seed;
    ``extra_info["kernel_s"]`` holds the round's summed epoch ``seconds`` (the history's),
    so ``wall / kernel_s`` is what the calls cost beyond their epochs.
``dataset_build|784|float64``
    ``Dataset(X, y)`` from the uint8 images and from the float64 ``X``.

``fastnn bench --calls`` measures the same cases interleaved in one process and prints
the ratios against issue 11's targets (docs/performance.md). Run:
``python -m pytest benchmarks/test_bench_dataset.py --benchmark-only``. In the normal test
run (``--benchmark-disable``) each body runs once on 300 images.
"""

import numpy as np
import pytest

import fastnn
from fastnn.bench.bench import limit_threads
from fastnn.bench.calls import _mnist_bytes, _sgd_calls

SIZES, M, ETA, CALLS = [784, 30, 10], 10, 3.0, 5
N_TRAIN, SMOKE_N = 50_000, 300


@pytest.fixture(scope="module")
def mnist_bytes(mnist_dir):
    """The first 50,000 training images as uint8 (n, 784), their labels, their float64 X."""
    U, y = _mnist_bytes(mnist_dir, N_TRAIN)
    return U, y, U / 255.0


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    with limit_threads(1):
        yield


def _subset(benchmark, mnist_bytes):
    U, y, X = mnist_bytes
    n = SMOKE_N if benchmark.disabled else N_TRAIN
    return U[:n], y[:n], X[:n]


@pytest.mark.parametrize("case", ["loop_dataset", "one_call", "loop_raw"])
def test_sgd_calls(benchmark, mnist_bytes, case):
    U, y, X = _subset(benchmark, mnist_bytes)
    data = (X, y) if case == "loop_raw" else fastnn.Dataset(U, y)
    calls, epochs = (1, CALLS) if case == "one_call" else (CALLS, 1)
    benchmark.group = f"sgd_calls|{'-'.join(map(str, SIZES))}|m={M}|float64"
    fastnn.compile_kernels("float64")
    _sgd_calls(data, SIZES, 0, 1, 1, M, ETA)  # untimed: compiles the prepare kernels too
    kernel = []

    def run():
        kernel.append(_sgd_calls(data, SIZES, 0, calls, epochs, M, ETA)[1])

    benchmark.pedantic(run, rounds=5, warmup_rounds=0)
    benchmark.extra_info.update(case=case, calls=calls, epochs=epochs, n=len(y),
                                kernel_s=float(np.median(kernel)))


@pytest.mark.parametrize("source", ["uint8", "float64"])
def test_dataset_build(benchmark, mnist_bytes, source):
    U, y, X = _subset(benchmark, mnist_bytes)
    X = U if source == "uint8" else X
    benchmark.group = "dataset_build|784|float64"
    fastnn.Dataset(X[:100], y[:100])  # untimed: compiles (or loads) the prepare kernels
    ds = benchmark.pedantic(fastnn.Dataset, args=(X, y), rounds=5, warmup_rounds=0)
    benchmark.extra_info.update(source=source, n=len(y), nbytes=ds.nbytes, X_nbytes=X.nbytes)
