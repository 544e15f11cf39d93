"""The threading policy: when ``SGD(n_jobs=...)`` splits a layer, and :func:`train_many`.

Two ways to use more than one core:

- **inside one network** (``Network.SGD(n_jobs=n)``): the parallel epoch kernel gives each
  thread whole units of a wide layer, so its numbers equal the serial kernel's bit for
  bit. It pays off only for wide layers, because every mini-batch costs a fork-join per
  hidden layer and direction. :data:`MIN_BLOCK` and :func:`splits` are the rule, stated
  here once; the kernels receive ``min_block`` as an argument.
- **across networks** (:func:`train_many`): one network per thread, each trained exactly
  as it would be alone. The kernels release the GIL.

Numba's threading layers have two known hazards, handled in :func:`parallel_region`: a
process forked after it ran a GNU OpenMP parallel region, and two threads in parallel
kernels at once under the ``workqueue`` layer. Either would end the process; fastnn
runs the serial kernel instead (the same numbers) and warns.

What was measured to choose these numbers is in docs/performance.md ("Two cores").

Examples
--------
>>> from fastnn import parallel
>>> parallel.min_block("float64"), parallel.min_block("float32")
(256, 384)
>>> parallel.splits([512], n_jobs=2, mini_batch_size=10, dtype="float64")
True
>>> parallel.splits([504], n_jobs=2, mini_batch_size=10, dtype="float64")
False
"""

import contextlib
import os
import sys
import threading
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait

import numba

from fastnn import training, validation

__all__ = ["MIN_BLOCK", "min_block", "n_blocks", "parallel_region", "splits", "train_many", "usable_cores"]

#: Fewest (padded) columns of a layer one thread gets, by item size in bytes: a layer is
#: split over two threads from 512 units in float64 and 768 in float32; narrower layers
#: ran slower split than on one thread (docs/performance.md, "Two cores").
MIN_BLOCK = {8: 256, 4: 384}


# Numba's threading layers (numba docs, "The Threading Layers"): ``workqueue`` is not
# thread-safe -- two threads in parallel kernels at once abort the process ("Terminating:
# Concurrent access has been detected") -- and GNU OpenMP is not fork-safe: a process
# forked after its parent ran a parallel region is killed by SIGTERM when it runs one.
_parallel_lock = threading.Lock()
_parallel_active = 0
_parallel_pid = None  # the process that last ran a parallel kernel
_hazards_warned = set()


def _threading_layer():
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run in this process yet
        return None


def _openmp_vendor():
    # Numba loaded its omppool module when it chose the omp layer (importing it here
    # would load an OpenMP runtime into processes that never use one).
    omppool = sys.modules.get("numba.np.ufunc.omppool")
    return getattr(omppool, "openmp_vendor", "unknown")


def _parallel_hazard():
    """Why a parallel kernel must not run now (a message), or None."""
    layer = _threading_layer()
    if layer == "omp" and _parallel_pid not in (None, os.getpid()) and _openmp_vendor() == "GNU":
        return (
            "this process was forked after its parent ran a GNU OpenMP parallel region, which "
            "GNU OpenMP does not survive (Numba would end the process with SIGTERM); start worker "
            "processes with the 'spawn' or 'forkserver' method, or use NUMBA_THREADING_LAYER=tbb"
        )
    if _parallel_active and layer in (None, "workqueue"):
        return (
            "another thread is running a parallel kernel and Numba's 'workqueue' threading layer "
            "cannot run two at once (it would abort the process); install tbb or use the 'omp' "
            "layer (NUMBA_THREADING_LAYER) to run both in parallel"
        )
    return None


@contextlib.contextmanager
def parallel_region():
    """Yields True if a parallel kernel may run now, else False after a warning (once per kind).

    Every call of a parallel kernel goes through it (:meth:`fastnn.Network.run_epoch`,
    :func:`fastnn.compile_kernels`). When it yields False the caller runs the serial
    kernel, whose numbers are the parallel kernel's bit for bit.
    """
    global _parallel_active, _parallel_pid
    with _parallel_lock:
        hazard = _parallel_hazard()
        if hazard is None:
            _parallel_active += 1
    if hazard is not None:
        kind = hazard.split(" ", 1)[0]
        if kind not in _hazards_warned:
            _hazards_warned.add(kind)
            warnings.warn(
                f"fastnn: n_jobs > 1 runs the serial kernel instead (the same numbers, on one "
                f"thread): {hazard}",
                RuntimeWarning,
                stacklevel=4,
            )
        yield False
        return
    _parallel_pid = os.getpid()
    try:
        yield True
    finally:
        with _parallel_lock:
            _parallel_active -= 1


def _after_fork_in_child():
    global _parallel_lock, _parallel_active
    _parallel_lock = threading.Lock()  # a thread of the parent may have held it
    _parallel_active = 0  # the parent's threads are not here


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def min_block(dtype):
    """The ``min_block`` the parallel epoch kernel receives for ``dtype`` (see :data:`MIN_BLOCK`)."""
    return MIN_BLOCK[validation.check_dtype(dtype).itemsize]


def n_blocks(ld, n_threads, min_block):
    """Blocks a layer of ``ld`` (padded) columns is cut into: one per thread, each >= ``min_block`` wide.

    The same rule as the kernels' block count, so :func:`splits` predicts what they do.

    Examples
    --------
    >>> n_blocks(1024, 2, 256), n_blocks(504, 2, 256), n_blocks(32, 8, 16)
    (2, 1, 2)
    """
    return max(1, min(n_threads, ld // min_block))


def splits(widths, n_jobs, mini_batch_size, dtype):
    """Whether ``SGD(n_jobs=n_jobs)`` runs the parallel epoch kernel: the one place this is decided.

    It does when ``n_jobs > 1``, ``mini_batch_size > 1`` and some layer is cut into at
    least two blocks (:func:`n_blocks` with :func:`min_block`). Online learning stays on
    one thread: two fork-joins per sample cost what the second core saves
    (docs/performance.md, "Two cores").

    Parameters
    ----------
    widths : sequence of int
        Each layer's padded output width (its row stride ``ld`` in the parameter buffer).
    n_jobs : int
        Threads, already resolved (see :func:`fastnn.validation.check_n_jobs`).
    mini_batch_size : int
    dtype : {'float64', 'float32'}

    Returns
    -------
    bool
    """
    if n_jobs == 1 or mini_batch_size == 1:
        return False
    block = min_block(dtype)
    return any(n_blocks(int(ld), n_jobs, block) > 1 for ld in widths)


def usable_cores():
    """Cores this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` elsewhere)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _is_network(obj):
    # A fastnn.Network, recognised by the package-level methods train_many uses: this module
    # sits below fastnn.network (which imports the policy above), so it cannot import the class.
    return callable(getattr(type(obj), "train_arrays", None)) and callable(getattr(type(obj), "prepare", None))


def train_many(networks, training_data, epochs, mini_batch_size, eta, test_data=None, *, evaluation_data=None,
               monitor=(), n_jobs=-1, verbose=False):
    """Train several networks at once on one data set, one network per thread.

    Each network is trained exactly as ``net.SGD(training_data, epochs,
    mini_batch_size, eta, test_data)`` alone would train it, with its own generator,
    so the results do not depend on ``n_jobs`` or on which thread ran which network
    (nothing is shared between them but the read-only data). The kernels release the
    GIL; the data are converted once for all. Use it for seeds, learning rates or layer
    sizes side by side; how much faster it is on one machine is in docs/performance.md
    ("Two cores").

    Parameters
    ----------
    networks : sequence of Network
        Distinct networks of one dtype, one input size and one output size; any
        hidden layers. Trained in place.
    training_data, epochs, mini_batch_size, eta, test_data, evaluation_data, monitor
        As in :meth:`fastnn.Network.SGD`.
    n_jobs : int or None, default -1
        Threads: -1 is every core this process may use (:func:`usable_cores`), None is
        1, else 1 up to that number. Never more threads than networks.
    verbose : bool or {"lines", "bar"}, default False
        As in :meth:`fastnn.Network.SGD`, for all the networks together: one progress bar
        over every network's samples, and each epoch's line prefixed with ``[network i]``
        (whole lines: two threads' lines never run together).

    Returns
    -------
    list of History
        ``histories[i]`` is ``networks[i]``'s, one result per epoch.

    Raises
    ------
    TypeError, ValueError
        Invalid arguments (the networks included), named in the message, before any
        training starts.
    FloatingPointError
        A network diverged: it is restored to its parameters from before that epoch
        (see :meth:`fastnn.Network.SGD`); the others finish their epochs first. The error
        of the first such network in ``networks`` is raised, naming it.
    TrainingInterrupted
        Ctrl-C: every network stops at its next chunk of mini-batches (within one
        epoch), an epoch cut short is undone, and the exception's ``histories`` hold
        each network's epochs so far (see :meth:`fastnn.Network.SGD`).
    RuntimeError
        A network is being trained or read in another thread (see the Notes of
        :meth:`fastnn.Network.SGD`).

    Notes
    -----
    Each network is trained by the serial kernel in its own thread, so none of Numba's
    threading-layer hazards applies (no parallel region runs). A network must not be
    used elsewhere while it trains: another thread's ``feedforward``, ``evaluate``,
    ``save`` or ``SGD`` on it raises RuntimeError instead of reading parameters that
    are changing. Non-finite parameters (set through the writable views) are refused
    before any network trains (ValueError naming the network, layer and index).

    Examples
    --------
    >>> import numpy as np
    >>> import fastnn
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((100, 4)); y = (X[:, 0] > X[:, 1]).astype(int)
    >>> nets = [fastnn.Network([4, 8, 2], seed=s) for s in range(3)]
    >>> histories = fastnn.train_many(nets, (X, y), 2, 10, 3.0, test_data=(X, y))
    >>> [len(h) for h in histories]
    [2, 2, 2]
    """
    if _is_network(networks) or not isinstance(networks, Iterable):
        raise TypeError(
            f"networks must be a sequence of fastnn.Network, got {type(networks).__name__}"
            + (" (wrap one network in a list)" if _is_network(networks) else "")
        )
    networks = list(networks)
    if not networks:
        raise ValueError("networks must hold at least one Network")
    for i, net in enumerate(networks):
        if not _is_network(net):
            raise TypeError(f"networks[{i}] must be a fastnn.Network, got {type(net).__name__}")
    if len({id(net) for net in networks}) != len(networks):
        raise ValueError("networks must not hold one Network twice: two threads would update one buffer")
    first = networks[0]
    for i, net in enumerate(networks):
        if (net.dtype, net.sizes[0], net.sizes[-1]) != (first.dtype, first.sizes[0], first.sizes[-1]):
            raise ValueError(
                f"networks[{i}] has dtype {net.dtype.name} and sizes {list(net.sizes)}; every network "
                f"must share networks[0]'s dtype ({first.dtype.name}), input size ({first.sizes[0]}) "
                f"and output size ({first.sizes[-1]}) to train on one data set"
            )
    epochs = validation.check_int(epochs, "epochs", 0)
    mini_batch_size = validation.check_int(mini_batch_size, "mini_batch_size", 1)
    eta = validation.check_eta(eta)
    n_jobs = validation.check_n_jobs(n_jobs, usable_cores(), "the cores this process may use")
    training.check_verbose(verbose)
    for i, net in enumerate(networks):
        net.check_params(f"train_many: networks[{i}]")
    data = first.prepare(training_data, test_data, evaluation_data, monitor)
    stop = threading.Event()  # set by Ctrl-C: every thread stops at its next chunk
    progress = training.Progress(verbose, epochs * data.n * len(networks), desc="train_many", epochs=epochs,
                                 n_networks=len(networks))

    def train(i):
        return networks[i].train_arrays(data, epochs, mini_batch_size, eta, [], progress, stop,
                                        prefix=f"[network {i}] ", caller=f"train_many: networks[{i}]")

    try:
        with training.catch_interrupts(stop), ThreadPoolExecutor(
            max_workers=min(n_jobs, len(networks)), thread_name_prefix="fastnn"
        ) as pool:
            futures = [pool.submit(train, i) for i in range(len(networks))]
            try:
                wait(futures)
            except KeyboardInterrupt:  # a second Ctrl-C: the threads still stop at their next chunk
                stop.set()
                wait(futures)
                raise
    finally:
        progress.close()
    for future in futures:
        if future.exception() is not None:
            raise future.exception()
    histories = [future.result() for future in futures]
    if any(h.interrupted for h in histories):
        raise training.TrainingInterrupted(histories, single=False)
    return histories
