"""``fastnn bench --calls``: what a call of ``SGD`` costs beyond its epochs.

A user who adds per-epoch logic (checkpoints, schedules, early stopping) calls
``net.SGD(data, epochs=1)`` in a loop. Each call on raw arrays checks them and builds
their CSR index again; a :class:`fastnn.Dataset` did that once. Measured in one process,
the cases interleaved round by round so that a shared machine's drift hits all alike,
on ``n`` MNIST training images, 784-30-10 (``--sizes``), mini-batches of ``m``:

``loop_dataset``
    ``epochs`` calls of ``SGD(ds, epochs=1)`` on the Dataset ``load_mnist`` returns;
``one_call``
    one ``SGD(ds, epochs=epochs)``;
``loop_raw``
    ``epochs`` calls of ``SGD((X, y), epochs=1)`` on float64 arrays (writable, C order);
``build_bytes``, ``build_floats``
    ``Dataset(X, y)`` from the uint8 images and from the float64 ``X``.

Each case's ``kernel_s`` is the sum of the epochs' ``seconds`` of its histories (the
shuffle and the training kernel); ``overhead_per_call_s`` the median over the rounds of
(wall - kernel_s) / calls, which the machine's load changes least. The ratios: ``loop_dataset / one_call`` (wall),
``loop_dataset / its kernel_s``, ``loop_raw / its kernel_s``, and each build over one
epoch's kernel time (``one_call``'s ``kernel_s / epochs``).
"""

import statistics
import time

import numpy as np

from fastnn import datasets
from fastnn.data import Dataset
from fastnn.network import Network, compile_kernels

__all__ = ["measure_calls", "format_calls"]

#: The targets of issue 11, as ``(ratio, limit)``.
TARGETS = {
    "loop_dataset/one_call": 1.15,
    "loop_raw/kernel": 1.6,
    "build_bytes/epoch": 0.5,
    "build_floats/epoch": 1.0,
}


def _mnist_bytes(data_dir, n):
    """The first ``n`` training images as uint8 ``(n, 784)`` and their labels."""
    arrays = datasets._fetch_arrays("mnist", data_dir)
    images = np.ascontiguousarray(arrays[datasets._TRAIN_IMAGES][:n].reshape(n, -1))
    return images.copy(), arrays[datasets._TRAIN_LABELS][:n].astype(np.int64)


def _sgd_calls(data, sizes, seed, calls, epochs, m, eta):
    """Wall seconds of ``calls`` calls of ``SGD(data, epochs)`` on a fresh network, and
    the summed ``seconds`` of their histories."""
    net = Network(sizes, seed=seed)
    kernel = 0.0
    t0 = time.perf_counter()
    for _ in range(calls):
        kernel += sum(r.seconds for r in net.SGD(data, epochs, m, eta, verbose=False))
    return time.perf_counter() - t0, kernel


def measure_calls(data_dir=None, *, sizes=(784, 30, 10), n=50_000, m=10, epochs=5, eta=3.0, repeat=3,
                  seed=0, log=None):
    """Time the cases of the module docstring; return their medians and the ratios.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        MNIST's directory (as :func:`fastnn.load_mnist` finds it by default).
    sizes : sequence of int, default (784, 30, 10)
    n : int, default 50000
        Training images (the first ``n`` of the training split).
    m : int, default 10
        Mini-batch size.
    epochs : int, default 5
        Calls of the loops, epochs of the single call.
    eta : float, default 3.0
    repeat : int, default 3
        Rounds; every case runs once per round, in turn. A first, untimed round
        compiles and warms.
    seed : int, default 0
        Seed of every network (so every case trains the same networks).
    log : callable, optional
        Called with a line of progress.

    Returns
    -------
    dict
        ``settings``; ``cases``: per case the median ``wall_s`` and ``kernel_s`` (and
        every round's); ``ratios``: the four ratios and their ``targets``.
    """
    log = log or (lambda line: None)
    sizes = list(sizes)
    U, y = _mnist_bytes(data_dir, n)
    X = U / 255.0  # what load_mnist returned before it returned Datasets
    ds = Dataset(U, y)
    compile_kernels("float64")
    cases = {
        "loop_dataset": lambda: _sgd_calls(ds, sizes, seed, epochs, 1, m, eta),
        "one_call": lambda: _sgd_calls(ds, sizes, seed, 1, epochs, m, eta),
        "loop_raw": lambda: _sgd_calls((X, y), sizes, seed, epochs, 1, m, eta),
        "build_bytes": lambda: (_timed(lambda: Dataset(U, y)), 0.0),
        "build_floats": lambda: (_timed(lambda: Dataset(X, y)), 0.0),
    }
    rounds = {name: [] for name in cases}
    for r in range(repeat + 1):
        for name, case in cases.items():
            wall, kernel = case()
            if r:
                rounds[name].append((wall, kernel))
        if r:
            log(f"round {r}: " + ", ".join(f"{k} {v[-1][0]:.3f} s" for k, v in rounds.items()))
    out = {}
    for name, values in rounds.items():
        walls, kernels = [w for w, _ in values], [k for _, k in values]
        out[name] = {"wall_s": statistics.median(walls), "kernel_s": statistics.median(kernels),
                     "wall_rounds": walls, "kernel_rounds": kernels}
    epoch = out["one_call"]["kernel_s"] / epochs
    for name, calls in (("loop_dataset", epochs), ("one_call", 1), ("loop_raw", epochs)):
        # Robust to the load of a shared machine: each round's own wall minus its own epochs.
        per_round = [(w - k) / calls for w, k in zip(out[name]["wall_rounds"], out[name]["kernel_rounds"])]
        out[name]["overhead_per_call_s"] = statistics.median(per_round)
    ratios = {
        "loop_dataset/one_call": out["loop_dataset"]["wall_s"] / out["one_call"]["wall_s"],
        "loop_dataset/kernel": out["loop_dataset"]["wall_s"] / out["loop_dataset"]["kernel_s"],
        "loop_raw/kernel": out["loop_raw"]["wall_s"] / out["loop_raw"]["kernel_s"],
        "build_bytes/epoch": out["build_bytes"]["wall_s"] / epoch,
        "build_floats/epoch": out["build_floats"]["wall_s"] / epoch,
    }
    settings = {"sizes": sizes, "n": n, "m": m, "epochs": epochs, "eta": eta, "repeat": repeat, "seed": seed,
                "dtype": "float64", "dataset_nbytes": ds.nbytes, "X_float64_nbytes": X.nbytes}
    return {"settings": settings, "cases": out, "epoch_kernel_s": epoch, "ratios": ratios, "targets": TARGETS}


def _timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def format_calls(report):
    """The report of :func:`measure_calls` as text."""
    s = report["settings"]
    lines = [
        f"Call costs: {'-'.join(map(str, s['sizes']))}, {s['n']:,} MNIST images, m = {s['m']}, float64, "
        f"median of {s['repeat']} rounds (one kernel epoch: {report['epoch_kernel_s']:.3f} s)",
        f"  Dataset: {s['dataset_nbytes'] / 1e6:.1f} MB (the float64 X: {s['X_float64_nbytes'] / 1e6:.1f} MB)",
        "",
        f"  {'case':<14}{'wall s':>9}{'kernel s':>10}{'beyond the epochs, per call':>30}",
    ]
    for name, c in report["cases"].items():
        kernel = f"{c['kernel_s']:10.3f}" if c["kernel_s"] else f"{'':10}"
        extra = f"{1e3 * c['overhead_per_call_s']:27.1f} ms" if "overhead_per_call_s" in c else ""
        lines.append(f"  {name:<14}{c['wall_s']:9.3f}{kernel}{extra}")
    lines += ["", f"  {'ratio':<24}{'value':>7}{'target':>9}"]
    for name, value in report["ratios"].items():
        target = report["targets"].get(name)
        mark = "" if target is None else f"{'<=':>4} {target:<4}" + (" ok" if value <= target else " MISSED")
        lines.append(f"  {name:<24}{value:7.2f}{mark}")
    return "\n".join(lines)
