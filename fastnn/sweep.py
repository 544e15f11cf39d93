"""Hyperparameter sweeps: every configuration of a grid, on this machine or a Dask cluster.

A sweep is the natural distributed workload for Chapter 1's networks: each network is
small (an epoch of 784-30-10 is a fraction of a second), so many configurations side by
side use the cores, where splitting one network across machines would spend more on
communication than on arithmetic. :func:`sweep` trains every combination of a grid and
returns a :class:`SweepResult`.

Without a client the configurations run on this machine's cores, one network per thread
(the kernels release the GIL), as :func:`fastnn.train_many`. With the user's
``distributed.Client`` (fastnn never starts a cluster) the data are scattered once to
every worker -- as uint8 when the inputs are exactly ``k / 255``, as MNIST's are, and
rescaled on the worker to the same bits -- the kernels are compiled on every worker
before the configurations start, and small configurations are grouped into tasks. The
trained parameters are bit-identical to the local run's (same seeds, same kernels; on
workers of another CPU kind the compiled kernels, and so the low bits, may differ).

``fastnn.sweep`` is the function (the package re-exports it); this module's other names
are imported from it by name: ``from fastnn.sweep import SweepResult, configurations``.
"""

import argparse
import csv
import io
import itertools
import json
import sys
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numba
import numpy as np
from tqdm.auto import tqdm

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None

from fastnn import datasets, validation
from fastnn._io import atomic_write
from fastnn.network import Network, compile_kernels
from fastnn.parallel import train_many, usable_cores

__all__ = ["sweep", "SweepResult", "configurations", "KEYS"]

#: The grid's keys, in the order configurations are enumerated (the last varies fastest).
KEYS = ("sizes", "eta", "mini_batch_size", "epochs", "seed", "dtype")
#: Values of the keys a grid leaves out: the book's run, seed 0.
DEFAULTS = {"eta": 3.0, "mini_batch_size": 10, "epochs": 30, "seed": 0, "dtype": "float64"}
_CHECKS = {
    "sizes": validation.check_sizes,
    "eta": validation.check_eta,
    "mini_batch_size": lambda v: validation.check_int(v, "mini_batch_size", 1),
    "epochs": lambda v: validation.check_int(v, "epochs", 1),
    "seed": validation.check_seed,
    "dtype": lambda v: validation.check_dtype(v).name,
}


def configurations(grid):
    """Every combination of ``grid``'s values, as a list of dicts over :data:`KEYS`.

    Parameters
    ----------
    grid : dict
        Keys among :data:`KEYS` (``sizes`` required), each a list of values; a single
        value stands for a list of one (``"sizes": [784, 30, 10]`` is one architecture).
        Keys left out take :data:`DEFAULTS`.

    Returns
    -------
    list of dict
        In :func:`itertools.product` order over :data:`KEYS` (``dtype`` fastest).

    Raises
    ------
    TypeError, ValueError
        Not a dict, an unknown key, an empty list, or an invalid value (named as
        ``grid['eta'][1]``).
    """
    if not isinstance(grid, dict):
        raise TypeError(f"grid must be a dict of lists over {', '.join(KEYS)}, got {type(grid).__name__}")
    unknown = sorted(set(grid) - set(KEYS), key=str)
    if unknown:
        raise ValueError(f"grid has unknown key {unknown[0]!r}; the keys are {', '.join(KEYS)}")
    if "sizes" not in grid:
        raise ValueError("grid must give 'sizes', e.g. {'sizes': [[784, 30, 10]]}")
    axes = []
    for key in KEYS:
        values = grid.get(key, DEFAULTS.get(key))
        if key == "sizes":
            one = isinstance(values, (list, tuple)) and values and all(isinstance(n, (int, np.integer)) for n in values)
            values = [values] if one else values
        elif isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, range, np.ndarray)):
            values = [values]
        values = list(values)
        if not values:
            raise ValueError(f"grid[{key!r}] is empty: give at least one value")
        checked = []
        for i, value in enumerate(values):
            try:
                checked.append(_CHECKS[key](value))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"grid[{key!r}][{i}]: {exc}") from None
        axes.append(checked)
    return [dict(zip(KEYS, combo)) for combo in itertools.product(*axes)]


# --------------------------------------------------------------------------- the data


def _as_arrays(data, name):
    """``(X, y)`` as arrays, from a pair or the book's list of ``(x, y)`` samples."""
    if validation.is_xy_pair(data):
        X, y = (np.asarray(a) for a in data)
    else:
        if isinstance(data, np.ndarray) or not hasattr(data, "__iter__"):
            raise TypeError(f"{name} must be a pair (X, y) of arrays or the book's list of (x, y) samples")
        samples = list(data)
        if not samples:
            raise ValueError(f"{name} is empty")
        X = np.stack([np.asarray(x).reshape(-1) for x, _ in samples])
        ys = [np.asarray(y) for _, y in samples]
        y = (
            np.array([v.reshape(()) for v in ys])
            if all(v.size == 1 for v in ys)
            else np.stack([v.reshape(-1) for v in ys])
        )
    if X.ndim != 2:
        raise ValueError(f"{name} X must have shape (n_samples, n_features), got shape {X.shape}")
    if len(y) != len(X):
        raise ValueError(f"{name}: X and y must have the same length, got {len(X)} and {len(y)}")
    return X, y


def _check_data_fits(configs, train, test):
    for data, name in ((train, "training_data"), (test, "test_data")):
        if data is None:
            continue
        X, y = data
        for sizes in {c["sizes"] for c in configs}:
            if X.shape[1] != sizes[0]:
                raise ValueError(f"{name} X has {X.shape[1]} features, grid sizes {list(sizes)} expect {sizes[0]}")
            if y.ndim == 2 and y.shape[1] != sizes[-1]:
                raise ValueError(
                    f"{name} y has {y.shape[1]} columns, grid sizes {list(sizes)} have {sizes[-1]} outputs"
                )
            if y.ndim == 1 and np.issubdtype(y.dtype, np.number) and y.size and y.max() >= sizes[-1]:
                raise ValueError(
                    f"{name} y holds label {y.max()}, more than grid sizes {list(sizes)} "
                    f"with {sizes[-1]} outputs can encode"
                )


def _compact(X):
    """``(uint8 codes, dtype)`` when ``X == codes / 255`` exactly in X's float dtype, else None."""
    if X.dtype.kind != "f" or X.dtype.itemsize not in (4, 8) or not X.size:
        return None
    codes = np.rint(X * 255)
    if codes.min() < 0 or codes.max() > 255:
        return None
    codes = codes.astype(np.uint8)
    if not np.array_equal(np.divide(codes, X.dtype.type(255), dtype=X.dtype), X):
        return None
    return codes, X.dtype


class _Data:
    """The sweep's data as shipped: inputs as uint8 codes when exact, decoded once per process."""

    def __init__(self, train, test, compact):
        self.parts = []
        for part in (train, test):
            if part is None:
                self.parts.append(None)
                continue
            X, y = part
            packed = _compact(X) if compact else None
            self.parts.append((("codes", *packed) if packed else ("array", X, None), y))

    @property
    def nbytes(self):
        return sum(p[0][1].nbytes + p[1].nbytes for p in self.parts if p is not None)

    @property
    def compact(self):
        return any(p is not None and p[0][0] == "codes" for p in self.parts)

    def arrays(self):
        """``(training_data, test_data)`` as ``(X, y)`` pairs, decoded to the original bits."""
        with _decoded_lock:
            out = _decoded.get(self)
            if out is None:
                out = tuple(None if p is None else (_decode(*p[0]), p[1]) for p in self.parts)
                _decoded[self] = out
            return out


def _decode(kind, values, dtype):
    return np.divide(values, dtype.type(255), dtype=dtype) if kind == "codes" else values


_decoded = weakref.WeakKeyDictionary()  # per process: a worker decodes each scattered data set once
_decoded_lock = threading.Lock()


# --------------------------------------------------------------------------- the work


def _result(config, history, error=None):
    accuracies = [r.accuracy for r in history]
    best = None
    if accuracies and accuracies[0] is not None:
        best = max(range(len(history)), key=lambda j: (accuracies[j], -j))
    return {
        **config,
        "history": history,
        "best_epoch": best,
        "best_accuracy": None if best is None else accuracies[best],
        "seconds": sum(r.seconds + r.eval_seconds for r in history),
        "error": error,
    }


def _run_task(data, items, return_networks):
    """Train ``items`` (pairs of index and configuration); the body of one task.

    Each network trains with the serial kernel on the calling thread, and Numba's
    threads for anything parallel launched from it are capped at 1 (the setting is per
    thread): a Dask worker with k threads trains k networks at once, never more.
    """
    numba.set_num_threads(1)
    train, test = data.arrays() if isinstance(data, _Data) else data
    out = []
    groups = {}
    for index, config in items:
        groups.setdefault((config["dtype"], config["epochs"], config["mini_batch_size"], config["eta"]), []).append(
            (index, config)
        )
    for (dtype, epochs, m, eta), group in groups.items():
        nets = [Network(c["sizes"], seed=c["seed"], dtype=dtype) for _, c in group]
        try:
            histories = train_many(nets, train, epochs, m, eta, test_data=test, n_jobs=1)
            errors = [None] * len(nets)
        except FloatingPointError:
            # One network diverged; train each alone (same seeds, so the same numbers) to
            # keep the others' histories and name the ones that diverged.
            histories, errors = [], []
            for i, (_, c) in enumerate(group):
                nets[i] = Network(c["sizes"], seed=c["seed"], dtype=dtype)
                try:
                    histories.append(nets[i].SGD(train, epochs, m, eta, test_data=test, verbose=False))
                    errors.append(None)
                except FloatingPointError as exc:
                    histories.append([])
                    errors.append(str(exc))
        for (index, config), net, history, error in zip(group, nets, histories, errors):
            result = _result(config, history, error)
            if return_networks:
                result["network"] = net
            out.append((index, result))
    return out


def _cost(config, n_samples):
    sizes = config["sizes"]
    return config["epochs"] * n_samples * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def _tasks(configs, n_samples, n_threads, group):
    """Chunks of ``(index, config)``: configurations that share their training settings,
    about ``2 * n_threads`` tasks in all (or ``group`` configurations each)."""
    keyed = {}
    for i, c in enumerate(configs):
        keyed.setdefault((c["dtype"], c["epochs"], c["mini_batch_size"], c["eta"]), []).append((i, c))
    if group is not None:
        return [items[k : k + group] for items in keyed.values() for k in range(0, len(items), group)]
    target = sum(_cost(c, n_samples) for c in configs) / max(1, min(len(configs), 2 * n_threads))
    chunks = []
    for items in keyed.values():
        chunk, cost = [], 0
        for item in items:
            chunk.append(item)
            cost += _cost(item[1], n_samples)
            if cost >= target * (1 - 1e-9):
                chunks.append(chunk)
                chunk, cost = [], 0
        if chunk:
            chunks.append(chunk)
    return chunks


def _prepare_worker(dtypes):
    """On a worker: compile the kernels (or load them from Numba's cache); the seconds."""
    t0 = time.perf_counter()
    for dtype in dtypes:
        compile_kernels(dtype)
    return time.perf_counter() - t0


class SweepResult(list):
    """The results of :func:`sweep`: a list of dicts, one per configuration, in grid order.

    Each dict holds the configuration (``sizes``, ``eta``, ``mini_batch_size``,
    ``epochs``, ``seed``, ``dtype``) and ``history`` (list of :class:`fastnn.EpochResult`),
    ``best_epoch`` and ``best_accuracy`` (in [0, 1]; None without test data),
    ``seconds`` (the configuration's training and evaluation time from its history) and
    ``error`` (None, or the message of a run that diverged); ``network`` too with
    ``return_networks=True``.

    Attributes
    ----------
    timings : dict
        ``wall_seconds`` (the whole sweep), ``ship_seconds`` and ``ship_bytes`` (sending
        the data to the workers; 0 locally), ``compile_seconds`` (per worker, or
        ``"local"``), ``compact`` (whether the inputs travelled as uint8), ``n_tasks``
        and ``where`` (``"local"`` or the scheduler's address).
    """

    def __init__(self, results=(), timings=None):
        super().__init__(results)
        self.timings = dict(timings or {})

    def best(self):
        """The result with the highest ``best_accuracy`` (the first of equals)."""
        scored = [r for r in self if r["best_accuracy"] is not None]
        if not scored:
            raise ValueError("no configuration has a test accuracy (no test_data, or every run diverged)")
        return max(scored, key=lambda r: r["best_accuracy"])

    def records(self):
        """Plain JSON-ready dicts: sizes as lists, histories as dicts, no networks."""
        out = []
        for r in self:
            rec = {k: v for k, v in r.items() if k != "network"}
            rec["sizes"] = list(r["sizes"])
            rec["history"] = [h.as_dict() for h in r["history"]]
            out.append(rec)
        return out

    def to_pandas(self):
        """A ``pandas.DataFrame``, one row per configuration (``history`` as a column of lists).

        Raises
        ------
        ImportError
            pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(f"SweepResult.to_pandas needs pandas ({exc}): pip install pandas") from exc
        frame = pd.DataFrame(self.records())
        frame["sizes"] = ["-".join(map(str, s)) for s in frame["sizes"]]
        return frame

    def to_json(self, path):
        """Write ``{"timings": ..., "results": records()}`` to ``path`` atomically.

        Returns
        -------
        pathlib.Path
        """
        path = Path(path)
        text = json.dumps({"timings": self.timings, "results": self.records()}, indent=1)
        with atomic_write(path) as (f, _):
            f.write(text.encode())
        return path

    def to_csv(self, path):
        """Write one row per configuration to ``path`` atomically (histories: JSON only).

        Columns: the :data:`KEYS` (``sizes`` as ``784-30-10``), ``best_epoch``,
        ``best_accuracy``, ``seconds``, ``error``.

        Returns
        -------
        pathlib.Path
        """
        path = Path(path)
        columns = [*KEYS, "best_epoch", "best_accuracy", "seconds", "error"]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for r in self:
            row = {**r, "sizes": "-".join(map(str, r["sizes"]))}
            writer.writerow(["" if row[c] is None else row[c] for c in columns])
        with atomic_write(path) as (f, _):
            f.write(buf.getvalue().encode())
        return path

    def summary(self, top=10):
        """A text table of the ``top`` configurations by ``best_accuracy``, best first."""
        rows = sorted(self, key=lambda r: -1 if r["best_accuracy"] is None else r["best_accuracy"], reverse=True)
        head = (
            f"{'sizes':<16} {'eta':>7} {'m':>4} {'epochs':>6} {'seed':>6} {'dtype':<8} "
            f"{'best %':>7} {'epoch':>5} {'s':>7}"
        )
        lines = [head, "-" * len(head)]
        for r in rows[:top]:
            acc = (
                "diverged" if r["error"] else ("-" if r["best_accuracy"] is None else f"{100 * r['best_accuracy']:.2f}")
            )
            lines.append(
                f"{'-'.join(map(str, r['sizes'])):<16} {r['eta']:>7g} {r['mini_batch_size']:>4} {r['epochs']:>6} "
                f"{r['seed']!s:>6} {r['dtype']:<8} {acc:>7} {'-' if r['best_epoch'] is None else r['best_epoch']:>5} "
                f"{r['seconds']:>7.2f}"
            )
        if len(rows) > top:
            lines.append(f"... {len(rows) - top} more")
        return "\n".join(lines)

    def plot(self, path=None, *, top=10):
        """Test accuracy per epoch of the ``top`` configurations (matplotlib).

        Parameters
        ----------
        path : str or os.PathLike, optional
            Write the figure there (PNG by suffix), atomically.
        top : int, default 10

        Returns
        -------
        matplotlib.figure.Figure
        """
        try:
            from matplotlib.figure import Figure
        except ImportError as exc:
            raise ImportError(f'SweepResult.plot needs matplotlib ({exc}): pip install "fastnn[plot]"') from exc
        rows = [r for r in self if r["best_accuracy"] is not None]
        rows = sorted(rows, key=lambda r: r["best_accuracy"], reverse=True)[:top]
        fig = Figure(figsize=(9, 4.2), layout="constrained")
        ax = fig.add_subplot()
        for r in rows:
            label = f"{'-'.join(map(str, r['sizes']))} η={r['eta']:g} m={r['mini_batch_size']} seed={r['seed']}"
            ax.plot([h.epoch for h in r["history"]], [100 * h.accuracy for h in r["history"]], marker=".", label=label)
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (%)")
        shown = f"the {len(rows)} best of {len(self)}" if len(rows) < len(self) else f"all {len(self)}"
        ax.set_title(f"sweep: {shown} configurations")
        ax.grid(alpha=0.3)
        if rows:
            ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
        if path is not None:
            path = Path(path)
            with atomic_write(path) as (f, _):
                fig.savefig(f, format=path.suffix.lstrip(".") or "png", dpi=120)
        return fig


def sweep(
    grid,
    training_data,
    test_data=None,
    *,
    client=None,
    n_jobs=-1,
    group=None,
    progress=False,
    return_networks=False,
    on_result=None,
):
    """Train every configuration of ``grid`` on ``training_data``.

    Each configuration is ``Network(sizes, seed=seed, dtype=dtype).SGD(training_data,
    epochs, mini_batch_size, eta, test_data)``, the same numbers as that call alone.

    Parameters
    ----------
    grid : dict
        Lists of values over ``sizes``, ``eta``, ``mini_batch_size``, ``epochs``,
        ``seed``, ``dtype`` (see :func:`configurations`); every combination is trained.
    training_data : (X, y) or the book's list of (x, y)
        As for :meth:`fastnn.Network.SGD`.
    test_data : (X, y), optional
        Evaluated after every epoch: gives ``best_accuracy``.
    client : distributed.Client, optional
        The user's Dask client: the sweep runs on its workers (fastnn never starts a
        cluster). The data are scattered once to every worker (uint8 when the inputs
        are exactly k/255), each worker compiles the kernels before any configuration
        starts, each task trains on one thread (Numba's threads capped at 1 per task,
        so a worker runs as many networks at once as it has Dask threads), and a worker
        lost mid-sweep costs only its tasks, which Dask runs again elsewhere.
    n_jobs : int, default -1
        Without a client: threads, one network each (-1: every core this process may
        use). Ignored with a client (its workers' threads decide).
    group : int, optional
        Configurations per task; default: about two tasks per thread, configurations
        that share ``dtype``, ``epochs``, ``mini_batch_size`` and ``eta`` together (a
        task converts the data once for all of its configurations).
    progress : bool, default False
        A tqdm progress bar over configurations.
    return_networks : bool, default False
        Keep each trained :class:`fastnn.Network` in its result (``"network"``).
    on_result : callable, optional
        Called with each result dict as it arrives, in the calling thread.

    Returns
    -------
    SweepResult
        One dict per configuration in grid order; ``timings`` says where the time went.

    Raises
    ------
    TypeError, ValueError
        A bad grid, data that do not fit its sizes, or a client that is not a
        ``distributed.Client``, before any training.
    ImportError
        A client given without ``distributed`` installed.

    Notes
    -----
    A run that diverges (a parameter no longer finite) does not stop the sweep: its
    result has ``error`` set and an empty ``history``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastnn
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((200, 4)); y = (X[:, 0] > X[:, 1]).astype(int)
    >>> result = fastnn.sweep({"sizes": [[4, 8, 2]], "eta": [0.5, 3.0], "seed": [0, 1], "epochs": 3},
    ...                       (X, y), (X, y))
    >>> len(result), sorted(result[0])[:4]
    (4, ['best_accuracy', 'best_epoch', 'dtype', 'epochs'])
    """
    configs = configurations(grid)
    train = _as_arrays(training_data, "training_data")
    test = None if test_data is None else _as_arrays(test_data, "test_data")
    _check_data_fits(configs, train, test)
    if group is not None:
        group = validation.check_int(group, "group", 1)
    if on_result is not None and not callable(on_result):
        raise TypeError(f"on_result must be callable, got {type(on_result).__name__}")
    dtypes = sorted({c["dtype"] for c in configs})
    t_start = time.perf_counter()
    if client is None:
        n_jobs = validation.check_n_jobs(n_jobs, usable_cores(), "the cores this process may use")
        compile_seconds = 0.0
        for dt in dtypes:
            compile_seconds += compile_kernels(dt)
        chunks = _tasks(configs, len(train[0]), n_jobs, group)
        timings = {
            "where": "local",
            "n_threads": n_jobs,
            "ship_seconds": 0.0,
            "ship_bytes": 0,
            "compile_seconds": {"local": compile_seconds},
            "compact": False,
            "n_tasks": len(chunks),
        }
        results = _run_local(chunks, (train, test), n_jobs, return_networks, progress, on_result, len(configs))
    else:
        results, timings = _run_dask(client, configs, dtypes, train, test, group, return_networks, progress, on_result)
    timings["wall_seconds"] = time.perf_counter() - t_start
    return SweepResult([results[i] for i in range(len(configs))], timings)


def _progress_bar(total, enabled):
    return tqdm(total=total, disable=not enabled, desc="sweep", unit="net", smoothing=0)


def _collect(pairs, results, bar, on_result):
    for index, result in pairs:
        results[index] = result
        if on_result is not None:
            on_result(result)
    bar.update(len(pairs))


def _run_local(chunks, data, n_jobs, return_networks, progress, on_result, total):
    results = {}
    with (
        _progress_bar(total, progress) as bar,
        ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="fastnn-sweep") as pool,
    ):
        futures = [pool.submit(_run_task, data, chunk, return_networks) for chunk in chunks]
        for future in as_completed(futures):
            _collect(future.result(), results, bar, on_result)
    return results


def _run_dask(client, configs, dtypes, train, test, group, return_networks, progress, on_result):
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            f'sweep(client=...) needs Dask distributed ({exc}): pip install "fastnn[distributed]"'
        ) from exc
    if not isinstance(client, distributed.Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
    nthreads = client.nthreads()
    if not nthreads:
        raise ValueError(f"the Dask cluster at {client.scheduler.address} has no workers")
    # Every worker imports fastnn and compiles the kernels (or loads them from its cache)
    # before the data arrive and any configuration starts, so neither is timed as training.
    compile_seconds = client.run(_prepare_worker, dtypes)
    data = _Data(train, test, compact=True)
    t0 = time.perf_counter()
    [remote] = client.scatter([data], broadcast=True, hash=False)
    ship = time.perf_counter() - t0
    chunks = _tasks(configs, len(train[0]), sum(nthreads.values()), group)
    futures = [client.submit(_run_task, remote, chunk, return_networks, pure=False) for chunk in chunks]
    results = {}
    try:
        with _progress_bar(len(configs), progress) as bar:
            for future in distributed.as_completed(futures):
                _collect(future.result(), results, bar, on_result)
    finally:
        client.cancel([*futures, remote])
    timings = {
        "where": client.scheduler.address,
        "n_threads": sum(nthreads.values()),
        "ship_seconds": ship,
        "ship_bytes": data.nbytes,
        "compile_seconds": compile_seconds,
        "compact": data.compact,
        "n_tasks": len(chunks),
    }
    return results, timings


# --------------------------------------------------------------------------- the command


def _sizes_arg(text):
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes must be comma-separated integers such as 784,30,10, got {text!r}"
        ) from None


def _read_grid(path):
    path = Path(path)
    if path.suffix == ".toml":
        if tomllib is None:
            raise ValueError(f"--grid {path}: TOML files need Python 3.11+ (tomllib); give a .json file")
        with open(path, "rb") as f:
            grid = tomllib.load(f)
    elif path.suffix == ".json":
        with open(path) as f:
            grid = json.load(f)
    else:
        raise ValueError(f"--grid {path}: give a .toml or .json file")
    if isinstance(grid, dict) and "grid" in grid and isinstance(grid["grid"], dict):
        grid = grid["grid"]  # a [grid] table
    return grid


def _cmd_sweep(args):
    grid = _read_grid(args.grid) if args.grid else {}
    for key in KEYS:
        value = getattr(args, key)
        if value is not None:
            grid[key] = value
    grid.setdefault("sizes", [[784, 30, 10]])
    grid.setdefault("epochs", 5)
    configs = configurations(grid)  # fail on a bad grid before loading anything
    for flag, path in (("--output", args.output), ("--plot", args.plot)):
        if path is not None and not Path(path).parent.is_dir():
            raise ValueError(f"{flag} {path}: directory {Path(path).parent} does not exist")
    if args.output is not None and Path(args.output).suffix not in (".json", ".csv"):
        raise ValueError(f"--output {args.output}: give a .json or .csv file")
    loader = {"mnist": datasets.load_mnist, "fashion-mnist": datasets.load_fashion_mnist}[args.dataset]
    dtype = "float32" if all(c["dtype"] == "float32" for c in configs) else "float64"
    train, _validation, test = loader(args.data_dir, dtype=dtype)
    if args.train_size is not None:
        n = validation.check_int(args.train_size, "--train-size", 1)
        train = (train[0][:n], train[1][:n])
    client = None
    if args.scheduler:
        try:
            import distributed
        except ImportError as exc:
            raise ImportError(f'--scheduler needs Dask distributed ({exc}): pip install "fastnn[distributed]"') from exc
        client = distributed.Client(args.scheduler)
    where = (
        f"the Dask cluster at {args.scheduler}"
        if client
        else f"{args.n_jobs if args.n_jobs != -1 else usable_cores()} local threads"
    )
    print(f"Sweep: {len(configs)} configurations on {len(train[0]):,} {args.dataset} images, on {where}")
    try:
        result = sweep(
            grid, train, test, client=client, n_jobs=args.n_jobs, group=args.group, progress=not args.no_progress
        )
    finally:
        if client is not None:
            client.close()
    t = result.timings
    compile_s = max(t["compile_seconds"].values()) if t["compile_seconds"] else 0.0
    shipped = (
        f"data shipped in {t['ship_seconds']:.2f} s "
        f"({t['ship_bytes'] / 1e6:.1f} MB{', uint8' if t['compact'] else ''}); "
        if client is not None
        else ""
    )
    print(f"{t['wall_seconds']:.2f} s in all: {t['n_tasks']} tasks; {shipped}compiling {compile_s:.2f} s")
    print(result.summary(args.top))
    if args.output:
        path = result.to_json(args.output) if Path(args.output).suffix == ".json" else result.to_csv(args.output)
        print(f"Wrote {path}")
    if args.plot:
        try:
            result.plot(args.plot)
            print(f"Wrote {args.plot}")
        except ImportError as exc:
            print(f"fastnn sweep: no plot: {exc}", file=sys.stderr)
    return 0


def register_cli(sub):
    """Add ``fastnn sweep`` to the ``fastnn`` command's subparsers."""
    p = sub.add_parser(
        "sweep",
        help="train every configuration of a grid (locally, or on a Dask cluster with --scheduler)",
        description="Train every combination of the values given (each option takes several) on MNIST "
        "and print the best. Options override keys of --grid.",
    )
    p.add_argument("--grid", metavar="FILE", help="a .toml or .json file of lists over " + ", ".join(KEYS))
    p.add_argument(
        "--sizes", type=_sizes_arg, nargs="+", help="architectures, e.g. 784,30,10 784,100,10 (default: 784,30,10)"
    )
    p.add_argument("--eta", type=float, nargs="+", help="learning rates (default: 3.0)")
    p.add_argument(
        "--mini-batch-size", dest="mini_batch_size", type=int, nargs="+", help="mini-batch sizes (default: 10)"
    )
    p.add_argument("--epochs", type=int, nargs="+", help="epochs (default: 5)")
    p.add_argument("--seed", type=int, nargs="+", help="seeds (default: 0)")
    p.add_argument("--dtype", choices=["float64", "float32"], nargs="+", help="default: float64")
    p.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist")
    p.add_argument(
        "--data-dir", default=None, help="directory of the IDX files (default: $FASTNN_DATA, the cache, a download)"
    )
    p.add_argument(
        "--train-size", type=int, default=None, help="train on the first N training images (default: all 50,000)"
    )
    p.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--n-jobs", type=int, default=-1, help="local threads, one network each (default: -1, every core)")
    p.add_argument(
        "--group", type=int, default=None, help="configurations per task (default: about two tasks per thread)"
    )
    p.add_argument("--output", metavar="PATH", help="write the results (.json with histories, or .csv)")
    p.add_argument("--plot", metavar="PATH", help="write a figure of the best runs' accuracy per epoch (.png)")
    p.add_argument("--top", type=int, default=10, help="rows of the summary table (default: 10)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sweep)
