"""``fastnn bench``: epoch throughput of every implementation, measured side by side.

One process, one data set, every configuration (implementation x mini-batch size ``m`` x
dtype) timed in turn within each repeat (round-robin), so that drift in a shared
machine's load hits all of them alike. Every implementation comes from
:data:`fastnn.bench.implementations.IMPLEMENTATIONS`, the table the tests check, so what is
measured is what is tested.

For each configuration it reports seconds per epoch (median, min and max over the
repeats), samples per second, its bound and the fraction of it reached (the bound of
the algorithm that implementation runs, measured on the spot at the same thread count:
for the Numba kernels the sparse algorithm's, :mod:`fastnn.bench.roofline`; for the
dense implementations their FLOPs at the matmul peak of :func:`measure_peak_gflops`),
the speed-up over the NumPy matrix reference (``numpy-matrix``) at the same ``m`` and
dtype, and, as a secondary column, dense-equivalent GFLOP/s (:func:`flops_per_epoch`);
and where an epoch's time goes: the shuffle, the training kernel, the evaluation on the
10,000 test images, and the one-off compilation of the Numba kernels.

The book's per-sample code (``numpy-per-sample``) takes seconds per epoch, so it is
timed on a subset (``--per-sample-subset``, default 5,000 images) and its times are
scaled to the full epoch; its rows say so.

``--cost quadratic,cross-entropy:5`` adds Chapter 3's network2 options (the
cross-entropy cost, scaled initialisation, L2 regularisation with lambda = 5) as more
configurations of the same run, each with its time relative to the quadratic cost's at
the same implementation, ``m`` and dtype.
"""

import argparse
import contextlib
import datetime
import gc
import json
import math
import os
import platform
import re
import statistics
import sys
import time
import warnings
from pathlib import Path

import numba
import numpy as np
from tqdm import tqdm

from fastnn import _config, datasets, reference
from fastnn._io import atomic_write
from fastnn._version import __version__
from fastnn.bench import roofline
from fastnn.bench.calls import format_calls, measure_calls
from fastnn.bench.implementations import IMPLEMENTATIONS
from fastnn.kernels import cache
from fastnn.network import Network, compile_kernels
from fastnn.validation import one_hot

__all__ = [
    "flops_per_sample",
    "flops_per_batch",
    "flops_per_epoch",
    "measure_peak_gflops",
    "machine_info",
    "run",
    "format_report",
    "plot_report",
    "register_cli",
]

#: The implementations of the table, in the order they are measured.
DEFAULT_IMPLS = ("numba", "numpy-matrix", "numpy-per-sample")
#: The reference every row's speed-up is measured against (same m and dtype).
BASELINE = "numpy-matrix"
#: Timed on a subset, its times scaled to the full epoch.
PER_SAMPLE = "numpy-per-sample"
#: MNIST's training split (the book's: 60,000 minus 10,000 for validation).
MNIST_TRAIN = 50_000
#: Samples of the untimed warm-up epoch of each configuration.
WARMUP_SAMPLES = 1_000
#: Side of the square matrices of the peak probe.
PEAK_PROBE_N = 1024

FLOP_FORMULA = (
    "dense FLOPs per epoch = n * per_sample + ceil(n/m) * per_batch, where "
    "per_sample = 4*S + 2*S' + 8*N + n_L and per_batch = 2*(S + N); S = sum of n_in*n_out "
    "over the weight layers, S' = the same sum without the first layer, N = sum of the "
    "layer sizes after the input, n_L = outputs (784-30-10: 96,210 + 47,720/m per sample)"
)


# -- arithmetic -----------------------------------------------------------------------
def flops_per_sample(sizes):
    """Dense floating-point operations of one sample's forward and backward pass.

    Counted as the matrix form of Chapter 1's algorithm computes them, with no credit for
    zero inputs: per weight layer of ``n_in`` inputs and ``n_out`` outputs,

    * ``2 n_in n_out`` for ``z = w a + b`` (Eq. 4; a multiply and an add per weight);
    * ``2 n_in n_out`` for the weight gradient ``delta a^T`` summed over the batch (BP4);
    * ``2 n_in n_out`` for ``w^T delta`` (BP2), for every layer but the first (the
      inputs need no error);
    * ``8 n_out`` element-wise: bias add 1, sigmoid 3 (exp, add, divide), sigma' = a(1-a)
      2, the product with sigma' 1, the bias gradient's sum 1;

    plus ``n_L`` for the cost derivative ``a - y`` (Eq. 6). For 784-30-10 that is
    4 x 23,820 + 2 x 300 + 8 x 40 + 10 = 96,210.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes, input first.

    Returns
    -------
    int
    """
    pairs = list(zip(sizes[:-1], sizes[1:]))
    weights = sum(n_in * n_out for n_in, n_out in pairs)
    back = sum(n_in * n_out for n_in, n_out in pairs[1:])
    neurons = sum(sizes[1:])
    return 4 * weights + 2 * back + 8 * neurons + sizes[-1]


def flops_per_batch(sizes):
    """Dense FLOPs of one mini-batch update, Eq. (20)-(21): ``w -= (eta/m) nabla_w``.

    A multiply and a subtract per parameter: ``2 (S + N)`` with ``S`` weights and ``N``
    biases; 2 x (23,820 + 40) = 47,720 for 784-30-10.
    """
    params = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    return 2 * params


def flops_per_epoch(sizes, n_samples, mini_batch_size):
    """Dense FLOPs of one SGD epoch of ``n_samples`` in mini-batches of ``mini_batch_size``.

    ``n_samples * flops_per_sample(sizes) + ceil(n_samples / m) * flops_per_batch(sizes)``:
    about 5.05e9 for 784-30-10, 50,000 samples, m = 10.

    Returns
    -------
    int
    """
    batches = -(-n_samples // mini_batch_size)
    return n_samples * flops_per_sample(sizes) + batches * flops_per_batch(sizes)


# -- the machine ----------------------------------------------------------------------
def measure_peak_gflops(dtype, n=PEAK_PROBE_N, repeat=5):
    """This machine's attainable GFLOP/s for ``dtype``: the best of ``repeat`` matmuls.

    Times ``numpy.matmul`` of two ``n x n`` matrices (2 n^3 FLOPs) under whatever BLAS
    thread limit is in force, after one untimed call. The best run is the estimate: on a
    shared machine, every other run was slowed by someone else.

    Returns
    -------
    float
        GFLOP/s.
    """
    rng = np.random.default_rng(0)
    a = rng.random((n, n)).astype(dtype)
    b = rng.random((n, n)).astype(dtype)
    c = np.empty((n, n), dtype=dtype)
    np.matmul(a, b, out=c)
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    return [
        {k: info.get(k) for k in ("internal_api", "version", "architecture", "threading_layer", "num_threads")}
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]


def machine_info(threads):
    """What the numbers were measured on: CPU, cores, thread settings, library versions."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        affinity = os.cpu_count()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "cpus_available": affinity,
        "threads": threads,
        "numba_threads": numba.get_num_threads(),
        "blas": _blas_info(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
        "load_average_start": load,
    }


@contextlib.contextmanager
def limit_threads(threads):
    """Run the block with ``threads`` Numba threads and at most ``threads`` BLAS threads.

    BLAS is limited through ``threadpoolctl`` (it cannot be done after NumPy is loaded
    otherwise); without ``threadpoolctl`` BLAS keeps its own count, and the report says
    so. Yields a note for the report. Everything is restored on exit.
    """
    if threads > numba.config.NUMBA_NUM_THREADS:
        raise ValueError(
            f"--threads {threads} exceeds NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}; "
            "set NUMBA_NUM_THREADS in the environment before starting fastnn"
        )
    with contextlib.ExitStack() as stack:
        previous = numba.get_num_threads()
        numba.set_num_threads(threads)
        stack.callback(numba.set_num_threads, previous)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            note = f"{threads} Numba thread(s); BLAS threads not limited (threadpoolctl is not installed)"
        else:
            stack.enter_context(threadpool_limits(limits=threads))
            note = f"{threads} (Numba threads and BLAS threads via threadpoolctl)"
        yield note


# -- what is timed --------------------------------------------------------------------
class _TableRunner:
    """An entry of IMPLEMENTATIONS on one data set, with an evaluator on the test set."""

    def __init__(self, name, net, X, Y, m, eta, lmbda=0.0):
        self.name, self.net, self.X, self.Y, self.m, self.eta, self.lmbda = name, net, X, Y, m, eta, lmbda
        self.impl = IMPLEMENTATIONS[name](net)

    def epoch(self, perm):
        self.impl.epoch(self.X, self.Y, perm, self.m, self.eta, lmbda=self.lmbda)

    def evaluator(self):
        """A function ``(X, labels) -> correct`` over the current parameters (untimed set-up).

        The Numba implementation is evaluated by the Numba feedforward (as
        :meth:`fastnn.Network.evaluate` does), the NumPy ones by
        :func:`fastnn.reference.evaluate` (a matrix pass).
        """
        weights, biases = self.impl.weights_biases()
        if self.name.startswith("numba"):
            net = Network(self.net.sizes, cost=self.net.cost_name, dtype=self.net.dtype)
            for target, value in zip(net.weights + net.biases, weights + biases):
                target[...] = value
            return net.count_correct
        return lambda X, labels: reference.evaluate(weights, biases, X, labels)


class _TorchRunner:
    """PyTorch: Linear+Sigmoid layers holding the network's initial weights, plain SGD.

    The loss is ``0.5 * sum((a - y)**2) / len(batch)`` with ``lr = eta``, so each step is
    the book's Eq. (20)-(21).
    """

    def __init__(self, net, X, Y, m, eta):
        import torch

        dtype = {"float64": torch.float64, "float32": torch.float32}[net.dtype.name]
        layers = []
        for w, b in zip(net.weights, net.biases):
            linear = torch.nn.Linear(w.shape[1], w.shape[0], dtype=dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
                linear.bias.copy_(torch.from_numpy(np.array(b)))
            layers += [linear, torch.nn.Sigmoid()]
        self.torch = torch
        self.model = torch.nn.Sequential(*layers)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=eta)
        self.X, self.Y, self.m = torch.from_numpy(X), torch.from_numpy(Y), m

    def epoch(self, perm):
        idx = self.torch.from_numpy(perm)
        model, optimizer, X, Y = self.model, self.optimizer, self.X, self.Y
        for k in range(0, len(idx), self.m):
            rows = idx[k : k + self.m]
            a = model(X[rows])
            loss = 0.5 * ((a - Y[rows]) ** 2).sum() / len(rows)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def evaluator(self):
        torch = self.torch

        def correct(X, labels):
            with torch.no_grad():
                out = self.model(torch.from_numpy(X))
            return int(np.count_nonzero(out.argmax(dim=1).numpy() == labels))

        return correct


class _SklearnRunner:
    """scikit-learn's MLPClassifier, plain SGD (no momentum, no L2), one epoch per call.

    It starts from the network's weights but trains a softmax output on the log-loss,
    not the book's sigmoid output and quadratic cost, and shuffles inside its epoch.
    """

    def __init__(self, net, X, labels, m, eta, seed):
        from sklearn.neural_network import MLPClassifier

        self.clf = MLPClassifier(
            hidden_layer_sizes=tuple(net.sizes[1:-1]),
            activation="logistic",
            solver="sgd",
            alpha=0.0,
            batch_size=m,
            learning_rate="constant",
            learning_rate_init=eta,
            momentum=0.0,
            nesterovs_momentum=False,
            shuffle=True,
            random_state=seed,
        )
        self.X, self.labels = X, labels
        self.clf.partial_fit(X[:m], labels[:m], classes=np.arange(net.sizes[-1]))
        for l, (w, b) in enumerate(zip(net.weights, net.biases)):
            self.clf.coefs_[l][...] = w.T
            self.clf.intercepts_[l][...] = b

    def epoch(self, perm):
        self.clf.partial_fit(self.X, self.labels)

    def evaluator(self):
        return lambda X, labels: int(np.count_nonzero(self.clf.predict(X) == labels))


class _Case:
    """One configuration: implementation x m x dtype, on ``n`` samples scaled by ``scale``."""

    def __init__(self, impl, m, dtype, n, n_train, make, note="", cost=("quadratic", 0.0)):
        self.impl, self.m, self.dtype, self.n, self.make, self.note = impl, m, dtype, n, make, note
        self.cost, self.lmbda = cost
        self.scale = n_train / n
        self.label = impl if n == n_train else f"{impl} [{n:,} imgs x{self.scale:g}]"
        if cost != ("quadratic", 0.0):
            self.label += f" [{_cost_label(cost)}]"
        self.runner, self.first_call = None, None
        self.shuffle, self.kernel, self.eval, self.correct = [], [], [], []


def _peer_versions():
    versions = {}
    for name, module in (("torch", "torch"), ("scikit-learn", "sklearn")):
        try:
            versions[name] = __import__(module).__version__
        except ImportError:
            versions[name] = "not installed"
    return versions


def _cache_counts():
    """Numba's (cache hits, cache misses), summed over fastnn's compiled kernels."""
    return cache.counts()


def _compile(dtype, blocked=False):
    """Compile (or load from Numba's cache) the kernels for ``dtype``: ``(seconds, source)``.

    ``blocked``: also the epoch of a wide first layer (:func:`fastnn.compile_kernels`).
    """
    if _config.JIT_DISABLED:
        return compile_kernels(dtype, blocked=blocked), "not compiled (NUMBA_DISABLE_JIT=1)"
    hits, misses = _cache_counts()
    seconds = compile_kernels(dtype, blocked=blocked)
    if seconds == 0.0:
        return 0.0, "already compiled in this process"
    new_hits, new_misses = _cache_counts()
    if new_misses > misses or not _config.cache_in_use:
        return seconds, "compiled"
    if new_hits > hits:
        return seconds, "loaded from Numba's cache"
    return seconds, "compiled"


def _load(data_dir, dtype, n_train):
    (X, y), _validation, (X_test, y_test) = datasets.load_mnist(data_dir, dtype=dtype)
    if n_train > len(X):
        raise ValueError(f"--n-train must be <= {len(X):,} (the MNIST training split), got {n_train:,}")
    X, y = X[:n_train], y[:n_train]
    return X, one_hot(y, 10, dtype), y, X_test, y_test


def _cost_label(cost):
    name, lmbda = cost
    return name if not lmbda else f"{name}, λ={lmbda:g}"


def _make_cases(options, dtype, data):
    """The configurations of one dtype, each with a factory of fresh runners."""
    X, Y, y, _X_test, _y_test = data
    sizes, n_train, eta = options.sizes, options.n_train, options.eta
    costs = getattr(options, "cost", None) or [("quadratic", 0.0)]
    nets = {
        name: Network(sizes, cost=name, init="normal" if name == "quadratic" else "scaled", seed=options.seed,
                      dtype=dtype)
        for name in dict.fromkeys(c for c, _ in costs)
    }
    net = Network(sizes, seed=options.seed, dtype=dtype)
    cases = []
    for impl in options.impl:
        n = min(n_train, options.per_sample_subset) if impl == PER_SAMPLE else n_train
        cases.extend(
            _Case(impl, m, dtype, n, n_train,
                  lambda impl=impl, n=n, m=m, cost=cost: _TableRunner(
                      impl, nets[cost[0]], X[:n], Y[:n], m, eta, cost[1]),
                  cost=cost)
            for m in options.mini_batch_size
            for cost in costs
        )
    if options.peers:
        versions = _peer_versions()
        for m in options.mini_batch_size:
            if versions["torch"] != "not installed":
                cases.append(_Case("torch", m, dtype, n_train, n_train,
                                   lambda m=m: _TorchRunner(net, X, Y, m, eta)))
            if versions["scikit-learn"] != "not installed":
                cases.append(_Case("sklearn-mlp", m, dtype, n_train, n_train,
                                   lambda m=m: _SklearnRunner(net, X, y, m, eta, options.seed),
                                   note="softmax output + log-loss, not the book's cost; shuffles inside its epoch"))
    return cases


@contextlib.contextmanager
def _quiet_peers(peers):
    """Silence scikit-learn's ConvergenceWarning for one-epoch fits (expected there)."""
    with warnings.catch_warnings():
        if peers:
            try:
                from sklearn.exceptions import ConvergenceWarning
            except ImportError:
                pass
            else:
                warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _timed_epoch(case, runner, perm_rng, X_test, y_test):
    gc.collect()
    t0 = time.perf_counter()
    perm = perm_rng.permutation(case.n)
    t1 = time.perf_counter()
    runner.epoch(perm)
    t2 = time.perf_counter()
    evaluate = runner.evaluator()
    t3 = time.perf_counter()
    correct = evaluate(X_test, y_test)
    t4 = time.perf_counter()
    return t1 - t0, t2 - t1, t4 - t3, correct


def run(options, log=None):
    """Measure every configuration of ``options``; return the report (what ``--json`` writes).

    Parameters
    ----------
    options : argparse.Namespace
        The parsed flags of ``fastnn bench`` (see :func:`register_cli`).
    log : callable, optional
        Called with one line of progress at a time (default: print to stderr).

    Returns
    -------
    dict
        ``settings``, ``machine``, ``peak_gflops``, ``compile``, ``peers`` and ``rows``
        (one per configuration; times in seconds, rates per second).
    """
    if log is None:
        def log(line):
            print(line, file=sys.stderr, flush=True)

    threads = options.threads
    with limit_threads(threads) as thread_note, _quiet_peers(options.peers):
        torch_threads = None
        if options.peers and _peer_versions()["torch"] != "not installed":
            import torch

            torch_threads = torch.get_num_threads()
            torch.set_num_threads(threads)
        try:
            report = _run(options, log, thread_note)
        finally:
            if torch_threads is not None:
                torch.set_num_threads(torch_threads)
    return report


def _run(options, log, thread_note):
    machine = machine_info(options.threads)
    machine["thread_note"] = thread_note
    data, cases, compiled, peak_start = {}, [], {}, {}
    for dtype in options.dtype:
        t0 = time.perf_counter()
        data[dtype] = _load(options.data_dir, dtype, options.n_train)
        log(f"loaded MNIST ({dtype}) in {time.perf_counter() - t0:.2f} s")
        if "numba" in options.impl:
            seconds, source = _compile(dtype, Network(options.sizes, seed=0, dtype=dtype)._blocked())
            compiled[dtype] = {"seconds": seconds, "source": source}
            log(f"numba kernels ({dtype}): {seconds:.2f} s, {source}")
        peak_start[dtype] = measure_peak_gflops(dtype)
        cases += _make_cases(options, dtype, data[dtype])
    limits = _measure_limits(options, data, log)

    # Each configuration keeps one runner, as one training run would: the warm-up (its
    # first call) pays for one-off work per data set (e.g. the Numba implementation's
    # index of non-zero pixels, built once as Network.SGD builds it); the timed repeats
    # are the next epochs of that run.
    log(f"warming up {len(cases)} configurations on {WARMUP_SAMPLES:,} samples each")
    for case in cases:
        case.runner = case.make()
        t0 = time.perf_counter()
        case.runner.epoch(np.arange(min(case.n, WARMUP_SAMPLES), dtype=np.int64))
        case.first_call = time.perf_counter() - t0
        X_test, y_test = data[case.dtype][3:]
        case.runner.evaluator()(X_test[:WARMUP_SAMPLES], y_test[:WARMUP_SAMPLES])

    # A bar on a terminal only (tqdm's disable=None), cleared at the end: the report follows.
    bar = tqdm(total=options.repeat * len(cases), desc="fastnn bench", unit="epoch", disable=None,
               file=sys.stderr, leave=False, dynamic_ncols=True)
    for r in range(options.repeat):
        t_repeat = time.perf_counter()
        for case in cases:  # round-robin: every configuration once per repeat
            bar.set_postfix_str(f"repeat {r + 1}/{options.repeat}: {case.impl} m={case.m} {case.dtype}")
            perm_rng = np.random.default_rng([options.seed, r])
            X_test, y_test = data[case.dtype][3:]
            shuffle, kernel, evaluation, correct = _timed_epoch(case, case.runner, perm_rng, X_test, y_test)
            case.shuffle.append(shuffle * case.scale)
            case.kernel.append(kernel * case.scale)
            case.eval.append(evaluation)
            case.correct.append(correct)
            bar.update()
        with tqdm.external_write_mode(file=sys.stderr):
            log(f"repeat {r + 1}/{options.repeat}: {time.perf_counter() - t_repeat:.1f} s")
    bar.close()

    peak = {}
    for dtype in options.dtype:
        end = measure_peak_gflops(dtype)
        peak[dtype] = max(peak_start[dtype], end)
    try:
        machine["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        machine["load_average_end"] = None

    for dtype in options.dtype:
        limits[dtype]["bound"] = roofline.bound(limits[dtype]["work"], limits[dtype]["stream_bytes_per_s"],
                                                peak[dtype], limits[dtype]["row_ops_s"])
    rows = [_row(case, options, peak, compiled, len(data[case.dtype][4]), limits) for case in cases]
    base = {(row["m"], row["dtype"], row["cost"], row["lmbda"]): row["epoch_s_median"]
            for row in rows if row["impl"] == BASELINE}
    quadratic = {(row["impl"], row["m"], row["dtype"]): row["epoch_s"] for row in rows
                 if (row["cost"], row["lmbda"]) == ("quadratic", 0.0)}
    for row in rows:
        b = base.get((row["m"], row["dtype"], row["cost"], row["lmbda"]))
        row["speedup_vs_numpy_matrix"] = None if b is None else b / row["epoch_s_median"]
        q = quadratic.get((row["impl"], row["m"], row["dtype"]))
        # Median over the repeats of the ratio to the quadratic epoch of the same repeat: the
        # two ran back to back, so a change in the machine's load hits both.
        row["vs_quadratic"] = None if q is None else statistics.median(
            e / qe for e, qe in zip(row["epoch_s"], q))

    return {
        "schema": "fastnn-bench/1",
        "command": command_line(options),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "fastnn_version": __version__,
        "settings": {
            "sizes": list(options.sizes),
            "impl": list(options.impl),
            "mini_batch_size": list(options.mini_batch_size),
            "dtype": list(options.dtype),
            "repeat": options.repeat,
            "n_train": options.n_train,
            "per_sample_subset": options.per_sample_subset,
            "n_test": len(next(iter(data.values()))[4]),
            "eta": options.eta,
            "cost": [list(c) for c in (getattr(options, "cost", None) or [("quadratic", 0.0)])],
            "seed": options.seed,
            "threads": options.threads,
            "peers": options.peers,
        },
        "machine": machine,
        "peak_gflops": peak,
        "peak_probe": f"numpy.matmul of {PEAK_PROBE_N}x{PEAK_PROBE_N} matrices, best of 5 "
        f"at the start and 5 at the end, {options.threads} thread(s)",
        "flop_formula": FLOP_FORMULA,
        "roofline": {"model": roofline.MODEL, **{
            dtype: {"work": lim["work"], "stream_gb_per_s": lim["stream_bytes_per_s"] / 1e9,
                    "row_ops_s": lim["row_ops_s"], **lim["bound"]}
            for dtype, lim in limits.items()}},
        "compile": compiled,
        "peers": _peer_versions() if options.peers else None,
        "rows": rows,
    }


def _measure_limits(options, data, log):
    """Per dtype: the sparse algorithm's work for this data and this core's limits for it."""
    limits = {}
    for dtype in options.dtype:
        t0 = time.perf_counter()
        x_csr = roofline.csr(data[dtype][0])
        counts = roofline.work(options.sizes, dtype, int(x_csr[2][-1]), options.n_train)
        limits[dtype] = {
            "work": counts,
            "stream_bytes_per_s": roofline.measure_stream(counts["w1_bytes"], dtype),
            "row_ops_s": roofline.measure_row_ops(x_csr, options.sizes, dtype, options.n_train),
        }
        log(f"limits ({dtype}): stream {limits[dtype]['stream_bytes_per_s'] / 1e9:.0f} GB/s over "
            f"{counts['w1_bytes'] / 1e3:.0f} KB, row ops alone {limits[dtype]['row_ops_s']:.3f} s "
            f"({time.perf_counter() - t0:.1f} s)")
    return limits


def _bound_s(case, options, peak, limits):
    """Seconds per epoch of the bound of the algorithm ``case`` runs, and its name."""
    if case.impl.startswith("numba"):
        return limits[case.dtype]["bound"]["bound_s"], "sparse"
    return flops_per_epoch(options.sizes, options.n_train, case.m) / (peak[case.dtype] * 1e9), "dense"


def _row(case, options, peak, compiled, n_test, limits):
    epochs = [s + k for s, k in zip(case.shuffle, case.kernel)]
    median = statistics.median(epochs)
    flop = flops_per_epoch(options.sizes, options.n_train, case.m)
    gflops = flop / median / 1e9
    bound_s, bound_kind = _bound_s(case, options, peak, limits)
    return {
        "impl": case.impl,
        "label": case.label,
        "cost": case.cost,
        "lmbda": case.lmbda,
        "m": case.m,
        "dtype": case.dtype,
        "sizes": list(options.sizes),
        "n_train": options.n_train,
        "n_timed": case.n,
        "scale": case.scale,
        "repeat": options.repeat,
        "epoch_s_median": median,
        "epoch_s_min": min(epochs),
        "epoch_s_max": max(epochs),
        "epoch_s": epochs,
        "samples_per_s": options.n_train / median,
        "gflop_per_epoch": flop / 1e9,
        "gflops": gflops,
        "peak_fraction": gflops / peak[case.dtype],
        "bound_s": bound_s,
        "bound_kind": bound_kind,
        "bound_fraction": bound_s / median,
        "shuffle_s": statistics.median(case.shuffle),
        "kernel_s": statistics.median(case.kernel),
        "eval_s": statistics.median(case.eval),
        "compile_s": compiled[case.dtype]["seconds"] if case.impl == "numba" else None,
        "first_call_s": case.first_call,
        "test_accuracy": case.correct[-1] / n_test,
        "note": case.note,
    }


# -- output ---------------------------------------------------------------------------
def command_line(options):
    """The ``fastnn bench`` command that reproduces ``options`` (every setting explicit)."""
    parts = [
        "fastnn", "bench",
        "--sizes", ",".join(map(str, options.sizes)),
        "--impl", ",".join(options.impl),
        "--mini-batch-size", ",".join(map(str, options.mini_batch_size)),
        "--dtype", ",".join(options.dtype),
        "--repeat", str(options.repeat),
        "--n-train", str(options.n_train),
        "--threads", str(options.threads),
    ]
    if PER_SAMPLE in options.impl:
        parts += ["--per-sample-subset", str(options.per_sample_subset)]
    if options.eta != 3.0:
        parts += ["--eta", repr(options.eta)]
    costs = getattr(options, "cost", None) or [("quadratic", 0.0)]
    if costs != [("quadratic", 0.0)]:
        parts += ["--cost", ",".join(name if not lmbda else f"{name}:{lmbda:g}" for name, lmbda in costs)]
    if options.seed != 0:
        parts += ["--seed", str(options.seed)]
    if options.peers:
        parts.append("--peers")
    return " ".join(parts)


def _fmt_speedup(value):
    return "-" if value is None else f"{value:.2f}x"


def format_report(report):
    """The tables ``fastnn bench`` prints, as one string."""
    s, mach = report["settings"], report["machine"]
    sizes = "-".join(map(str, s["sizes"]))
    blas = mach["blas"]
    if isinstance(blas, list):
        blas = ", ".join(f"{b['internal_api']} {b['version']} ({b['architecture']})" for b in blas) or "none found"
    lines = [
        f"fastnn bench: {sizes}, one SGD epoch of {s['n_train']:,} MNIST images, eta {s['eta']}, "
        f"{s['repeat']} repeats, configurations interleaved",
        f"Command: {report['command']}",
        f"Machine: {mach['cpu']}, {mach['logical_cpus']} logical CPUs ({mach['cpus_available']} available); "
        f"load average {mach['load_average_start']} at start, {mach['load_average_end']} at end",
        f"Threads: {mach['thread_note']}",
        f"Python {mach['python']}, numpy {mach['numpy']}, numba {mach['numba']}, BLAS {blas}",
        "Peak: " + ", ".join(f"{dt} {g:.1f} GFLOP/s" for dt, g in report["peak_gflops"].items())
        + f" ({report['peak_probe']})",
    ]
    if report["peers"] is not None:
        lines.append("Peers: " + ", ".join(f"{k} {v}" for k, v in report["peers"].items()))
        if "not installed" in report["peers"].values():
            lines.append("  (CPU PyTorch: pip install torch==2.13.0; scikit-learn: pip install scikit-learn)")
    lines.append("")
    several_costs = len({(r.get("cost", "quadratic"), r.get("lmbda", 0.0)) for r in report["rows"]}) > 1
    header = ("implementation", "m", "dtype", "s/epoch", "min", "max", "samples/s", "bound s", "% of bound",
              "vs numpy-matrix", "dense-eq. GFLOP/s") + (("vs quadratic",) if several_costs else ())
    body = [
        (
            r["label"], str(r["m"]), r["dtype"], f"{r['epoch_s_median']:.3f}", f"{r['epoch_s_min']:.3f}",
            f"{r['epoch_s_max']:.3f}", f"{r['samples_per_s']:,.0f}", f"{r['bound_s']:.4f} {r['bound_kind']}",
            f"{100 * r['bound_fraction']:.1f}", _fmt_speedup(r["speedup_vs_numpy_matrix"]), f"{r['gflops']:.2f}",
        ) + ((_fmt_speedup(r.get("vs_quadratic")),) if several_costs else ())
        for r in report["rows"]
    ]
    lines += _table(header, body)
    lines.append("")
    lines += roofline_lines(report)
    lines.append("")
    lines.append("Where an epoch's time goes (medians, seconds):")
    header = ("implementation", "m", "dtype", "shuffle", "kernel", f"eval ({s['n_test']:,} test)",
              "compile (once)", f"first call ({WARMUP_SAMPLES:,})", "test acc.")
    body = [
        (
            r["label"], str(r["m"]), r["dtype"], f"{r['shuffle_s']:.4f}", f"{r['kernel_s']:.3f}",
            f"{r['eval_s']:.4f}", "-" if r["compile_s"] is None else f"{r['compile_s']:.2f}",
            f"{r['first_call_s']:.3f}", f"{100 * r['test_accuracy']:.1f} %",
        )
        for r in report["rows"]
    ]
    lines += _table(header, body)
    lines.append("")
    for dtype, c in report["compile"].items():
        lines.append(f"Compile ({dtype}): {c['seconds']:.2f} s, {c['source']} (first call, before warm-up).")
    notes = [
        "s/epoch is the shuffle plus the training kernel; evaluation is reported apart. Each "
        "configuration is one training run: an untimed first call on "
        f"{WARMUP_SAMPLES:,} images (it pays one-off work per data set, such as an index of the "
        "non-zero pixels), then the timed epochs; test acc. is after the last of them.",
        "bound s: sparse = the roofline of the algorithm the numba kernels run (above); dense = "
        "the dense FLOPs at the matmul peak. % of bound = bound / s/epoch (100 is the bound).",
        f"dense-eq. GFLOP/s (secondary) counts dense FLOPs: {FLOP_FORMULA}. The numba kernel skips "
        "zero pixels (81 % of MNIST), so its dense-equivalent rate can exceed the peak.",
    ]
    if several_costs:
        notes.append(
            "[cross-entropy, λ=L]: Chapter 3's network2 options (cross-entropy cost, N(0, 1/n_in) "
            "weights, L2 regularisation lambda = L with n = the training images); vs quadratic is the "
            "median over the repeats of its epoch time over the quadratic-cost epoch of the same "
            "implementation, m and dtype in the same repeat."
        )
    if any(r["scale"] != 1 for r in report["rows"]):
        notes.append(
            f"[N imgs xK]: timed on the first N training images and scaled by K to the full "
            f"{s['n_train']:,}-image epoch; its test accuracy is after training on those N images only."
        )
    notes += [f"{r['impl']}: {r['note']}." for r in report["rows"] if r["note"]]
    lines += [f"* {n}" for n in dict.fromkeys(notes)]
    return "\n".join(lines)


def roofline_lines(report):
    """The lines of the report that state the sparse bound's parts, per dtype."""
    roof = report.get("roofline")
    if not roof:
        return []
    lines = [f"Sparse bound ({roof['model']}):"]
    for dtype, b in roof.items():
        if dtype == "model":
            continue
        w = b["work"]
        lines.append(
            f"  {dtype}: {w['row_ops'] / 1e6:.1f} M row ops of width {w['ld']} "
            f"({w['row_bytes'] / 1e9:.2f} GB through L1, {w['row_flops'] / 1e9:.2f} GFLOP), dense layers "
            f"{w['dense_flops'] / 1e9:.2f} GFLOP; stream {b['stream_gb_per_s']:.0f} GB/s over "
            f"{w['w1_bytes'] / 1e3:.0f} KB -> {b['stream_s']:.4f} s, FMA {b['fma_s']:.4f} s, dense "
            f"{b['dense_s']:.4f} s: bound {b['bound_s']:.4f} s ({b['wall']} binds); the row ops "
            f"alone with fastnn's primitives: {b['row_ops_s']:.4f} s"
        )
    return lines


def plot_report(report, path):
    """Draw s/epoch per implementation x m x dtype on a log scale, each bar beside its bound.

    One group of bars per (dtype, m); a bar per implementation, and on it a black mark at
    the bound of the algorithm it runs (``bound_s``); the fraction reached is written
    above each bar. Written atomically to ``path`` (PNG, 150 dpi).

    Raises
    ------
    ImportError
        matplotlib is not installed (``pip install "fastnn[plot]"``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError('fastnn bench --plot needs matplotlib: pip install "fastnn[plot]"') from exc

    rows = report["rows"]
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    groups = list(dict.fromkeys((r["dtype"], r["m"]) for r in rows))
    width = 0.8 / len(impls)
    colors = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(groups) * len(impls) * 0.6 + 2), 4.6))
    for k, impl in enumerate(impls):
        for g, key in enumerate(groups):
            found = [r for r in rows if r["impl"] == impl and (r["dtype"], r["m"]) == key]
            if not found:
                continue
            r = found[0]
            x = g + (k - (len(impls) - 1) / 2) * width
            ax.bar(x, r["epoch_s_median"], width * 0.9, color=colors(k), label=impl if g == 0 else None)
            ax.errorbar(x, r["epoch_s_median"], yerr=[[r["epoch_s_median"] - r["epoch_s_min"]],
                        [r["epoch_s_max"] - r["epoch_s_median"]]], color="0.3", capsize=2, lw=0.8)
            ax.hlines(r["bound_s"], x - width * 0.45, x + width * 0.45, colors="black", lw=2.2,
                      label="bound" if (k, g) == (0, 0) else None)
            ax.annotate(f"{100 * r['bound_fraction']:.0f}%", (x, r["epoch_s_max"]), textcoords="offset points",
                        xytext=(0, 3), ha="center", fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(range(len(groups)), [f"{dt}\nm = {m}" for dt, m in groups])
    ax.set_ylabel("seconds per epoch (log)")
    s, mach = report["settings"], report["machine"]
    ax.set_title(f"fastnn bench: {'-'.join(map(str, s['sizes']))}, one epoch of {s['n_train']:,} MNIST images, "
                 f"{s['threads']} thread(s)\nbars: s/epoch (median, min-max); black: the bound of each "
                 "implementation's algorithm; %: bound / s/epoch", fontsize=9)
    ax.legend(fontsize=8, ncol=len(impls) + 1, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.text(0.01, 0.01, f"{mach['cpu']}; load {mach['load_average_start']} -> {mach['load_average_end']}; "
             f"{report['date']}", fontsize=6, color="0.4")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    with atomic_write(path) as (f, _tmp):
        fig.savefig(f, format="png", dpi=150)
    plt.close(fig)


def _table(header, body):
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]
    def fmt(row):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
    return [fmt(header), "  ".join("-" * w for w in widths)] + [fmt(row) for row in body]


# -- the command line -------------------------------------------------------------------
def _int_list(flag, minimum):
    def parse(text):
        values = []
        for part in text.split(","):
            try:
                value = int(part)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{flag} must be comma-separated integers, got {text!r}"
                ) from None
            if value < minimum:
                raise argparse.ArgumentTypeError(f"{flag} values must be >= {minimum}, got {value} in {text!r}")
            values.append(value)
        return list(dict.fromkeys(values))
    return parse


def _bench_sizes(text):
    try:
        sizes = [int(part) for part in text.split(",")]  # repeats are legal: 784,30,30,10
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes must be comma-separated integers such as 784,30,10, got {text!r}"
        ) from None
    if len(sizes) < 2:
        raise argparse.ArgumentTypeError(f"--sizes must name at least two layers, got {text!r}")
    if min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--sizes must be >= 1 each, got {text!r}")
    if sizes[0] != 784 or sizes[-1] != 10:
        raise argparse.ArgumentTypeError(
            f"--sizes must start with 784 (MNIST pixels) and end with 10 (digits), got {text!r}"
        )
    return sizes


def _positive_int(flag, maximum=None):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be an integer, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{flag} must be >= 1, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{flag} must be <= {maximum:,}, got {value:,}")
        return value
    return parse


def _impls(text):
    if text.strip() == "all":
        return list(DEFAULT_IMPLS)
    names = [part.strip() for part in text.split(",")]
    for name in names:
        if name not in IMPLEMENTATIONS:
            hint = " (PyTorch and scikit-learn are added by --peers)" if name in {"torch", "sklearn"} else ""
            raise argparse.ArgumentTypeError(
                f"unknown implementation {name!r}; choose from {', '.join(IMPLEMENTATIONS)} or all{hint}"
            )
    return list(dict.fromkeys(names))


def _dtypes(text):
    names = [part.strip() for part in text.split(",")]
    for name in names:
        if name not in ("float64", "float32"):
            raise argparse.ArgumentTypeError(f"--dtype must be float64 and/or float32, got {name!r}")
    return list(dict.fromkeys(names))


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--eta must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"--eta must be a finite number > 0, got {text}")
    return value


def _costs(text):
    """``quadratic,cross-entropy:5`` -> [("quadratic", 0.0), ("cross-entropy", 5.0)]."""
    costs = []
    for part in text.split(","):
        name, _, lmbda = part.strip().partition(":")
        if name not in ("quadratic", "cross-entropy"):
            raise argparse.ArgumentTypeError(
                f"--cost must be comma-separated quadratic or cross-entropy, each with an optional "
                f":LAMBDA (L2 regularisation), got {part!r} in {text!r}"
            )
        try:
            value = float(lmbda) if lmbda else 0.0
        except ValueError:
            raise argparse.ArgumentTypeError(f"--cost: LAMBDA must be a number, got {lmbda!r} in {text!r}") from None
        if not math.isfinite(value) or value < 0:
            raise argparse.ArgumentTypeError(f"--cost: LAMBDA must be a finite number >= 0, got {lmbda!r}")
        costs.append((name, value))
    return list(dict.fromkeys(costs))


def _cmd_bench(args):
    for flag, value in (("--json", args.json), ("--plot", args.plot)):
        if value is not None:
            parent = Path(value).resolve().parent
            if not parent.is_dir():
                raise ValueError(f"{flag} {value}: directory {parent} does not exist")
    if args.plot is not None:
        if args.calls:
            raise ValueError("--plot draws the epoch table: it does not go with --calls")
        try:
            import matplotlib  # noqa: F401  (before minutes of measuring, not after)
        except ImportError:
            raise ImportError('fastnn bench --plot needs matplotlib: pip install "fastnn[plot]"') from None
    if args.calls:
        m = args.mini_batch_size[0] if len(args.mini_batch_size) == 1 else 10
        with limit_threads(args.threads):
            report = measure_calls(args.data_dir, sizes=args.sizes, n=args.n_train, m=m, eta=args.eta,
                                   repeat=args.repeat, seed=args.seed,
                                   log=lambda line: print(line, file=sys.stderr, flush=True))
        print(format_calls(report))
    else:
        report = run(args)
        print(format_report(report))
    if args.json is not None:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        print(f"\nWrote the report to {args.json}")
    if args.plot is not None:
        plot_report(report, args.plot)
        print(f"Wrote the figure to {args.plot}")
    return 0


def register_cli(subparsers):
    """Add the ``bench`` command to the ``fastnn`` command's subparsers."""
    p = subparsers.add_parser(
        "bench",
        help="epoch throughput of every implementation, side by side (s/epoch, GFLOP/s, speed-up)",
        description=re.sub(r":\w+:`([^`]*)`|``([^`]*)``", lambda m: m.group(1) or m.group(2),
                           __doc__.split("\n\n")[1].replace("\n", " ")),
    )
    p.add_argument("--sizes", type=_bench_sizes, default=[784, 30, 10],
                   help="layer sizes, 784 first and 10 last (default: 784,30,10)")
    p.add_argument("--impl", type=_impls, default=list(DEFAULT_IMPLS),
                   help=f"comma-separated implementations, or all (default: {','.join(DEFAULT_IMPLS)})")
    p.add_argument("--mini-batch-size", type=_int_list("--mini-batch-size", 1), default=[1, 10, 100],
                   help="comma-separated mini-batch sizes m; 1 is online learning (default: 1,10,100)")
    p.add_argument("--dtype", type=_dtypes, default=["float64", "float32"],
                   help="comma-separated dtypes (default: float64,float32)")
    p.add_argument("--repeat", type=_positive_int("--repeat"), default=5,
                   help="timed epochs per configuration (default: 5)")
    p.add_argument("--n-train", type=_positive_int("--n-train", MNIST_TRAIN), default=MNIST_TRAIN,
                   help=f"training images per epoch (default: {MNIST_TRAIN:,})")
    p.add_argument("--per-sample-subset", type=_positive_int("--per-sample-subset"), default=5000,
                   help="images the per-sample reference is timed on, scaled to --n-train (default: 5000)")
    p.add_argument("--eta", type=_positive_float, default=3.0, help="learning rate (default: 3.0)")
    p.add_argument("--cost", type=_costs, default=[("quadratic", 0.0)],
                   help="comma-separated costs, each quadratic or cross-entropy with an optional :LAMBDA "
                   "(L2 regularisation; cross-entropy also uses network2's scaled initialisation), e.g. "
                   "quadratic,cross-entropy:5 (default: quadratic)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and shuffles (default: 0)")
    p.add_argument("--threads", type=_positive_int("--threads"), default=1,
                   help="Numba and BLAS (and PyTorch) threads (default: 1)")
    p.add_argument("--peers", action="store_true",
                   help="add PyTorch and scikit-learn where installed (pip install torch==2.13.0 scikit-learn)")
    p.add_argument("--data-dir", default=None,
                   help="directory holding the four MNIST IDX files (default: $FASTNN_DATA, then the cache)")
    p.add_argument("--json", metavar="PATH", default=None,
                   help="also write the rows, settings and machine information to PATH")
    p.add_argument("--calls", action="store_true",
                   help="instead, what a call of SGD costs beyond its epochs: 5 calls of SGD(epochs=1) on "
                        "a Dataset against one SGD(epochs=5) and on raw float64 arrays, and building a Dataset "
                        "(float64; m = 10 unless one --mini-batch-size is given)")
    p.add_argument("--plot", metavar="PNG", default=None,
                   help="also draw s/epoch beside each bound, log scale, into PNG (needs matplotlib)")
    p.set_defaults(func=_cmd_bench)
    return p
