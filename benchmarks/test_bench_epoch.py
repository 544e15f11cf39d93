"""pytest-benchmark suite: one SGD epoch of 50,000 real MNIST images, per implementation.

Every implementation of one configuration lands in one table: the group is
``sgd_epoch|784-<hidden>-10|m=<m>|<dtype>``. Implementations come from
:data:`fastnn.bench.implementations.IMPLEMENTATIONS`, the table the tests check.

* ``numba`` and ``numpy-matrix`` run the full 50,000-image epoch;
* ``numpy-per-sample`` (the book's code, seconds per epoch) runs on the first 5,000
  images, in a group of its own, ``sgd_epoch_5k_subset|...``, so that its times (a tenth
  of an epoch) are never shown beside full epochs; its test id says ``5k-subset-x10`` and
  ``extra_info["epoch_s_scaled"]`` holds the median scaled x10 to the full epoch, the
  number to compare (every row has it).

The JIT is warmed (``fastnn.compile_kernels``) and each implementation makes one untimed
call on 1,000 images before timing (one-off work per data set, such as the Numba
implementation's index of non-zero pixels, happens there); the rounds are the following
epochs of that one training run.
``test_compile_time`` times import + compiling what the first ``fastnn train`` runs, in a
fresh interpreter, with a cold Numba cache (a new empty ``NUMBA_CACHE_DIR``) and a warm one.
``test_sgd_epoch_threads`` times one network on one thread against two
(``Network.SGD(n_jobs=2)``), and ``test_train_many_two_networks`` two networks one after
the other against at once (``fastnn.train_many``); both need two Numba threads.

Run: ``python -m pytest benchmarks/ --benchmark-only`` (minutes; one thread is set for
BLAS and Numba through threadpoolctl). In the normal test run (``--benchmark-disable``)
each body runs once, untimed, on a few hundred images, so the suite cannot rot.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn.bench.bench import flops_per_epoch, limit_threads
from fastnn.bench.implementations import IMPLEMENTATIONS
from fastnn.validation import one_hot

REPO = Path(__file__).resolve().parents[1]
N_TRAIN = 50_000
PER_SAMPLE_N = 5_000
SMOKE_N = 300  # images per body in the untimed smoke run
WARMUP_N = 1_000
ETA = 3.0
ROUNDS = 5
SLOW_ROUNDS = 3  # numpy-matrix at m = 1 takes seconds per epoch

IMPLS = [
    pytest.param(name, id=name if name != "numpy-per-sample" else "numpy-per-sample-5k-subset-x10")
    for name in IMPLEMENTATIONS
]


@pytest.fixture(scope="module")
def mnist_by_dtype(mnist_dir):
    """``get(dtype) -> (X, Y, X_test, y_test)`` of real MNIST, each dtype loaded once.

    MNIST is found by the root conftest's ``mnist_dir`` fixture.
    """
    from fastnn.datasets import load_mnist

    directory = mnist_dir
    cache = {}

    def get(dtype):
        if dtype not in cache:
            (X, y), _validation, (X_test, y_test) = load_mnist(directory, dtype=dtype)
            cache[dtype] = X, one_hot(y, 10, dtype), X_test, y_test
        return cache[dtype]

    return get


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Numba and BLAS limited to one thread for the whole module."""
    with limit_threads(1):
        yield


@pytest.mark.parametrize("hidden", [30, 100])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("m", [1, 10, 100])
@pytest.mark.parametrize("impl", IMPLS)
def test_sgd_epoch(benchmark, mnist_by_dtype, impl, m, dtype, hidden):
    sizes = [784, hidden, 10]
    X, Y, _X_test, _y_test = mnist_by_dtype(dtype)
    if benchmark.disabled:
        n = SMOKE_N
    else:
        n = PER_SAMPLE_N if impl == "numpy-per-sample" else N_TRAIN
    X, Y = X[:n], Y[:n]
    subset = "" if n == N_TRAIN or benchmark.disabled else f"_{n // 1000}k_subset"
    benchmark.group = f"sgd_epoch{subset}|{'-'.join(map(str, sizes))}|m={m}|{dtype}"
    fastnn.compile_kernels(dtype)
    # One runner for all rounds, as in one training run: its untimed first call pays the
    # one-off work per data set (the Numba implementation indexes the non-zero pixels
    # of X once, as Network.SGD does); the rounds are the next epochs.
    runner = IMPLEMENTATIONS[impl](fastnn.Network(sizes, seed=0, dtype=dtype))
    runner.epoch(X, Y, np.arange(min(n, WARMUP_N)), m, ETA)
    rng = np.random.default_rng(0)

    def setup():  # untimed: a fresh shuffle for every round
        return (X, Y, rng.permutation(n), m, ETA), {}

    rounds = SLOW_ROUNDS if (impl, m) == ("numpy-matrix", 1) else ROUNDS
    benchmark.pedantic(runner.epoch, setup=setup, rounds=rounds, warmup_rounds=0)

    scale = N_TRAIN / n
    benchmark.extra_info.update(
        impl=impl, sizes=sizes, m=m, dtype=dtype, n_timed=n, scale_to_epoch=scale,
        gflop_per_epoch=flops_per_epoch(sizes, N_TRAIN, m) / 1e9,
    )
    if benchmark.stats is not None:  # timed (not --benchmark-disable)
        median = benchmark.stats.stats.median
        benchmark.extra_info.update(
            samples_per_s=n / median,
            epoch_s_scaled=median * scale,
            gflops=flops_per_epoch(sizes, n, m) / median / 1e9,
        )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("m", [1, 10])
@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy+L2"])
def test_sgd_epoch_cost(benchmark, mnist_by_dtype, cost, m, dtype):
    """Chapter 3's options (cross-entropy, scaled init, lambda = 5) against Chapter 1's cost.

    The numba kernel on 784-30-10; both costs land in one group, so the table compares them
    (``fastnn bench --cost quadratic,cross-entropy:5`` interleaves them within each repeat).
    """
    sizes = [784, 30, 10]
    X, Y, _X_test, _y_test = mnist_by_dtype(dtype)
    n = SMOKE_N if benchmark.disabled else N_TRAIN
    X, Y = X[:n], Y[:n]
    network2 = cost != "quadratic"
    lmbda = 5.0 if network2 else 0.0
    benchmark.group = f"sgd_epoch_cost|{'-'.join(map(str, sizes))}|m={m}|{dtype}"
    fastnn.compile_kernels(dtype)
    net = fastnn.Network(sizes, cost="cross-entropy" if network2 else "quadratic",
                         init="scaled" if network2 else "normal", seed=0, dtype=dtype)
    runner = IMPLEMENTATIONS["numba"](net)
    runner.epoch(X, Y, np.arange(min(n, WARMUP_N)), m, ETA, lmbda=lmbda)
    rng = np.random.default_rng(0)

    def setup():
        return (X, Y, rng.permutation(n), m, ETA), {"lmbda": lmbda}

    benchmark.pedantic(runner.epoch, setup=setup, rounds=ROUNDS, warmup_rounds=0)
    benchmark.extra_info.update(impl="numba", cost=cost, lmbda=lmbda, sizes=sizes, m=m, dtype=dtype, n_timed=n)


needs_two_threads = pytest.mark.skipif(
    __import__("numba").config.NUMBA_NUM_THREADS < 2, reason="needs NUMBA_NUM_THREADS >= 2"
)


@needs_two_threads
@pytest.mark.parametrize("hidden", [100, 1000])
@pytest.mark.parametrize("threads", [1, 2])
def test_sgd_epoch_threads(benchmark, mnist_by_dtype, threads, hidden):
    """One network on one thread (``n_jobs=1``) against two (``n_jobs=2``), float64, m = 10.

    784-1000-10's hidden layer is split over the two threads; 784-100-10's is too narrow
    (under 512 units), so there both rows run the serial kernel.
    """
    sizes, m, dtype = [784, hidden, 10], 10, "float64"
    X, Y, _X_test, _y_test = mnist_by_dtype(dtype)
    n = SMOKE_N if benchmark.disabled else N_TRAIN
    X, Y = X[:n], Y[:n]
    benchmark.group = f"sgd_epoch_threads|{'-'.join(map(str, sizes))}|m={m}|{dtype}"
    fastnn.compile_kernels(dtype)
    runner = IMPLEMENTATIONS["numba-parallel"](fastnn.Network(sizes, seed=0, dtype=dtype))
    rng = np.random.default_rng(0)

    def setup():
        return (X, Y, rng.permutation(n), m, ETA), {}

    with limit_threads(threads):
        runner.epoch(X, Y, np.arange(min(n, WARMUP_N)), m, ETA)  # compiles the parallel kernel
        benchmark.pedantic(runner.epoch, setup=setup, rounds=SLOW_ROUNDS if hidden >= 1000 else ROUNDS)
    benchmark.extra_info.update(impl="numba-parallel", threads=threads, sizes=sizes, m=m, dtype=dtype, n_timed=n)


@needs_two_threads
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_train_many_two_networks(benchmark, mnist_by_dtype, n_jobs):
    """Two 784-30-10 networks, one epoch each, by ``fastnn.train_many``: one after the
    other (``n_jobs=1``) against at once (``n_jobs=2``); data converted once either way."""
    sizes, m, dtype = [784, 30, 10], 10, "float64"
    X, Y, _X_test, _y_test = mnist_by_dtype(dtype)
    n = SMOKE_N if benchmark.disabled else N_TRAIN
    data = (X[:n], Y[:n])
    benchmark.group = f"train_many|2x{'-'.join(map(str, sizes))}|m={m}|{dtype}"
    fastnn.compile_kernels(dtype)

    def setup():  # untimed: fresh networks for every round
        return ([fastnn.Network(sizes, seed=s, dtype=dtype) for s in range(2)], data, 1, m, ETA), {"n_jobs": n_jobs}

    with limit_threads(2):
        benchmark.pedantic(fastnn.train_many, setup=setup, rounds=ROUNDS, warmup_rounds=1)
    benchmark.extra_info.update(networks=2, n_jobs=n_jobs, sizes=sizes, m=m, dtype=dtype, n_timed=n)


_COMPILE_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import fastnn
from fastnn import _config
t1 = time.perf_counter()
fastnn.Dataset(np.zeros((2, 784), np.uint8), np.array([0, 1]))  # the index kernels of load_mnist's Datasets
fastnn.compile_kernels(sys.argv[1], inputs="bytes")  # the epoch and the evaluation of `fastnn train`
print(json.dumps({"import_s": t1 - t0, "compile_s": time.perf_counter() - t1, "cache": _config.cache_in_use}))
"""


def _compile_in_child(dtype, cache_dir, smoke):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), FASTNN_CACHE="1")
    if smoke:  # the harness only: compiling for real takes 10-20 s
        env["NUMBA_DISABLE_JIT"] = "1"
    out = subprocess.run(
        [sys.executable, "-c", _COMPILE_SCRIPT, dtype],
        cwd=REPO, env=env, capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cache", ["cold", "cached"])
def test_compile_time(benchmark, tmp_path_factory, cache, dtype):
    """Wall time of a fresh interpreter's ``import fastnn`` and of compiling what the first
    ``fastnn train`` runs: the index of a Dataset of bytes, ``compile_kernels(dtype,
    inputs="bytes")`` (its epoch and its evaluation). ``extra_info`` splits the two.

    cold: each round gets a new, empty ``NUMBA_CACHE_DIR``, so everything compiles.
    cached: one untimed run fills a cache directory; the timed rounds load from it.
    In the smoke run (``--benchmark-disable``) the child runs with ``NUMBA_DISABLE_JIT=1``.
    """
    benchmark.group = f"compile|{dtype}"
    smoke = benchmark.disabled
    results = []
    shared_dir = tmp_path_factory.mktemp(f"numba-cache-{dtype}")
    if cache == "cached":
        _compile_in_child(dtype, shared_dir, smoke)

    def setup():
        directory = tmp_path_factory.mktemp(f"numba-cold-{dtype}") if cache == "cold" else shared_dir
        return (directory,), {}

    def run(directory):
        results.append(_compile_in_child(dtype, directory, smoke))

    benchmark.pedantic(run, setup=setup, rounds=3 if cache == "cold" else 5)
    last = results[-1]
    assert last["cache"] in (True, False)
    benchmark.extra_info.update(
        cache=cache,
        import_s=float(np.median([r["import_s"] for r in results])),
        compile_s=float(np.median([r["compile_s"] for r in results])),
        numba_cache_in_use=last["cache"],
    )
