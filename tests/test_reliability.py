"""Reliability of Network: non-finite parameters, threads, ambiguous data forms.

Each kind of fault asserts the exact exception type and a message fragment. The
threading-layer hazards of Numba (GNU OpenMP after fork, the workqueue layer with two
parallel kernels at once) kill or abort the process they happen in, so those run in
child processes.
"""

import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastnn


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.random((40, 4))
    return X, (X[:, 0] > X[:, 1]).astype(int)


# --------------------------------------------------------------------------- non-finite parameters


@pytest.mark.parametrize("where, value", [("weights", np.nan), ("biases", np.inf)])
def test_non_finite_parameters_are_named_by_layer_and_index(where, value, data, tmp_path):
    X, y = data
    net = fastnn.Network([4, 3, 2], seed=0)
    getattr(net, where)[1][1, ...] = value if where == "biases" else 0  # a finite change first
    getattr(net, where)[1][(1, 2) if where == "weights" else (1,)] = value
    label = "weights[1][1, 2]" if where == "weights" else "biases[1][1]"
    fragment = f"the network's parameters are not finite: {label} = {value} (layer 1; 1 non-finite value(s)"
    calls = {
        "feedforward": lambda: net.feedforward(X[0]),
        "evaluate": lambda: net.evaluate((X, y)),
        "cost": lambda: net.cost((X, y)),
        "backprop": lambda: net.backprop(X[0], y[0]),
        "save": lambda: net.save(tmp_path / "net.npz"),
        "SGD": lambda: net.SGD((X, y), 1, 10, 1.0, verbose=False),
        "update_mini_batch": lambda: net.update_mini_batch(X[:5], y[:5], 1.0),
        "train_many: networks[1]": lambda: fastnn.train_many([fastnn.Network([4, 2]), net], (X, y), 1, 10, 1.0),
    }
    before = net.params.copy()
    for name, call in calls.items():
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value).startswith(f"{name}: {fragment}"), str(info.value)
    np.testing.assert_array_equal(net.params, before)  # nothing ran
    assert not (tmp_path / "net.npz").exists()  # save wrote nothing that load would refuse


def test_non_finite_in_the_padding(data):
    net = fastnn.Network([4, 3, 2], seed=0)  # rows of 3 outputs padded to 8
    net.weights = [np.ones(w.shape) for w in net.weights]
    net.biases = [np.ones(b.shape) for b in net.biases]
    padding = np.flatnonzero(net.params == 0)
    assert padding.size
    net.params[padding[0]] = np.nan
    with pytest.raises(ValueError, match=rf"net.params\[{padding[0]}\] = nan, in the zero padding"):
        net.feedforward(data[0][0])


def test_save_and_load_agree_on_what_a_valid_network_is(tmp_path):
    net = fastnn.Network([3, 2], seed=0)
    path = net.save(tmp_path / "ok.npz")
    assert fastnn.load(path).sizes == (3, 2)
    with np.load(path) as npz:
        arrays = dict(npz)
    arrays["weights_0"][0, 1] = np.nan
    np.savez(tmp_path / "bad.npz", **arrays)  # a file fastnn would not have written
    with pytest.raises(fastnn.ModelFileError, match=r"entry 'weights_0' holds non-finite values \(layer 0, "
                                                   r"first at index \(0, 1\): nan\)"):
        fastnn.load(tmp_path / "bad.npz")
    net.weights[0][0, 1] = np.nan
    with pytest.raises(ValueError, match=r"save: the network's parameters are not finite: weights\[0\]\[0, 1\]"):
        net.save(tmp_path / "bad2.npz")


# --------------------------------------------------------------------------- threads


def _blocking_epochs(net, started, release):
    """Make ``net``'s epochs wait for ``release`` (once ``started`` is set) -- a seam for timing."""
    original = net.run_epoch

    def epoch(*args, **kwargs):
        started.set()
        assert release.wait(30)
        return original(*args, **kwargs)

    net.run_epoch = epoch


def test_reading_or_training_a_network_that_trains_in_another_thread(data, tmp_path):
    X, y = data
    fastnn.compile_kernels("float64")  # no compile inside the timed waits below
    net = fastnn.Network([4, 3, 2], seed=0)
    started, release = threading.Event(), threading.Event()
    _blocking_epochs(net, started, release)
    errors = []
    trainer = threading.Thread(target=lambda: errors.append(net.SGD((X, y), 1, 10, 1.0, verbose=False)))
    trainer.start()
    try:
        assert started.wait(30)
        reads = {
            "feedforward": lambda: net.feedforward(X[0]),
            "evaluate": lambda: net.evaluate((X, y)),
            "save": lambda: net.save(tmp_path / "n.npz"),
            "cost": lambda: net.cost((X, y)),
        }
        for name, call in reads.items():
            with pytest.raises(RuntimeError, match=f"^{name}: the network is being trained in another thread"):
                call()
        for name, call in {"SGD": lambda: net.SGD((X, y), 1, 10, 1.0, verbose=False),
                           "update_mini_batch": lambda: net.update_mini_batch(X, y, 1.0),
                           "assigning params": lambda: setattr(net, "params", net.params),
                           "train_many: networks[0]": lambda: fastnn.train_many([net], (X, y), 1, 10, 1.0)}.items():
            busy = "^" + re.escape(f"{name}: the network is being trained in another thread")
            with pytest.raises(RuntimeError, match=busy):
                call()
    finally:
        release.set()
        trainer.join()
    assert len(errors[0]) == 1  # the training itself finished
    net.SGD((X, y), 1, 10, 1.0, verbose=False)  # and the network is free again
    assert not (tmp_path / "n.npz").exists()


def test_training_while_another_thread_reads_is_refused(data, monkeypatch):
    X, y = data
    fastnn.compile_kernels("float64")
    net = fastnn.Network([4, 3, 2], seed=0)
    inside, leave = threading.Event(), threading.Event()
    from fastnn import network

    original = network.kernels.feedforward

    def slow_feedforward(*args):
        inside.set()
        assert leave.wait(30)
        return original(*args)

    monkeypatch.setattr(network.kernels, "feedforward", slow_feedforward)
    reader = threading.Thread(target=net.feedforward, args=(X,))
    reader.start()
    try:
        assert inside.wait(30)
        with net._in_use.reading("a second reader"):  # readers share the network
            pass
        with pytest.raises(RuntimeError, match=r"^SGD: the network is being read .* in another thread"):
            net.SGD((X, y), 1, 10, 1.0, verbose=False)
    finally:
        leave.set()
        reader.join()


def test_concurrent_readers_and_separate_networks_work(data):
    X, y = data
    net = fastnn.Network([4, 3, 2], seed=0)
    expected = net.feedforward(X)
    results = []
    threads = [threading.Thread(target=lambda: results.append(net.feedforward(X))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(np.array_equal(r, expected) for r in results)
    # Two networks trained in two threads at once: each as if alone.
    nets = [fastnn.Network([4, 3, 2], seed=s) for s in (1, 2)]
    alone = [fastnn.Network([4, 3, 2], seed=s) for s in (1, 2)]
    for a in alone:
        a.SGD((X, y), 3, 5, 2.0, verbose=False)
    threads = [threading.Thread(target=n.SGD, args=((X, y), 3, 5, 2.0), kwargs={"verbose": False}) for n in nets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n, a in zip(nets, alone):
        np.testing.assert_array_equal(n.params, a.params)


def test_a_network_survives_copy_and_pickle():
    import copy
    import pickle

    net = fastnn.Network([3, 2], seed=0)
    for other in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        np.testing.assert_array_equal(other.feedforward(np.ones(3)), net.feedforward(np.ones(3)))


_HAZARD_CHILD = r"""
import os, sys, threading, warnings
import numpy as np
import fastnn

case = sys.argv[1]
rng = np.random.default_rng(1)
X = rng.random((60, 40)); X[X < 0.5] = 0
y = X[:, :4].argmax(axis=1)
sizes = [40, 520, 4]  # wide enough to be split over threads

def train(n_jobs, seed=3):
    net = fastnn.Network(sizes, seed=seed)
    net.SGD((X, y), 2, 7, 3.0, verbose=False, n_jobs=n_jobs)
    return net.params

serial = train(1)
if case == "fork":
    train(2)  # the parent runs a parallel region ...
    pid = os.fork()
    if pid == 0:  # ... and its forked child asks for one
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            params = train(2)
        ok = np.array_equal(params, serial) and len(caught) == 1
        print("child:", str(caught[0].message) if caught else "no warning", flush=True)
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    print("child status", status)
else:  # workqueue: two threads in parallel kernels at once
    results = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        threads = [threading.Thread(target=lambda s=s: results.update({s: train(2, 3)})) for s in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
    import numba
    print("layer", numba.threading_layer())
    print("equal", all(np.array_equal(r, serial) for r in results.values()), len(results))
    print("warnings", [str(w.message) for w in caught][:1])
"""


def _run_hazard(case, **env):
    env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", _HAZARD_CHILD, case], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_gnu_openmp_after_fork_runs_the_serial_kernel():
    from numba.np.ufunc import omppool

    if omppool.openmp_vendor != "GNU":
        pytest.skip(f"OpenMP from {omppool.openmp_vendor}, not GNU")
    result = _run_hazard("fork", NUMBA_THREADING_LAYER="omp")
    assert result.returncode == 0, result.stderr
    assert "child status 0" in result.stdout, result.stdout + result.stderr
    assert ("child: fastnn: n_jobs > 1 runs the serial kernel instead (the same numbers, on one thread): "
            "this process was forked after its parent ran a GNU OpenMP parallel region") in result.stdout


def test_workqueue_layer_with_concurrent_parallel_kernels_runs_them_serially():
    result = _run_hazard("workqueue", NUMBA_THREADING_LAYER="workqueue")
    assert result.returncode == 0, result.stderr
    assert "Concurrent access" not in result.stderr
    assert "layer workqueue" in result.stdout and "equal True 4" in result.stdout, result.stdout
    # Whether two threads met in a parallel kernel depends on timing; when they did, the warning says so.
    if "warnings []" not in result.stdout:
        assert "another thread is running a parallel kernel and Numba's 'workqueue' threading layer" in result.stdout


# --------------------------------------------------------------------------- ambiguous data forms


def test_tuple_of_two_samples_and_pair_of_two_rows_are_told_apart():
    net = fastnn.Network([3, 4, 2], seed=0)
    rows, labels = ((0.1, 0.2, 0.3), (0.4, 0.5, 0.6)), (0, 1)
    # A pair of two rows and two labels: only the pair reading fits.
    assert net.evaluate((rows, labels)) == net.evaluate((np.array(rows), np.array(labels)))
    # Two (x, y) samples in a tuple, the book's style: only the samples reading fits.
    samples = ((np.array(rows[0]), 0), (np.array(rows[1]), 1))
    assert net.evaluate(samples) == net.evaluate((np.array(rows), np.array(labels)))


def test_ambiguous_tuple_is_refused():
    # 2 inputs, 2 outputs: ((r0, r1), (t0, t1)) is two rows with two one-hot targets,
    # and also the samples (x=r0, y=r1), (x=t0, y=t1). Once read as samples silently.
    net = fastnn.Network([2, 3, 2], seed=0)
    X, Y = ((0.0, 1.0), (1.0, 0.0)), ((1, 0), (0, 1))
    for call in (lambda d: net.SGD(d, 1, 2, 1.0, verbose=False), net.evaluate, net.cost):
        with pytest.raises(ValueError, match=r"is ambiguous for a network of 2 inputs and 2 outputs: a tuple of two "
                                             r"2-element sequences reads both as a pair \(X, y\) of two samples"):
            call((X, Y))
    before = net.params.copy()
    net.SGD((np.array(X), np.array(Y)), 1, 2, 1.0, verbose=False)  # arrays: a pair
    as_pair = net.params.copy()
    net.params = before
    net.SGD([(np.array(X[0]), np.array(X[1])), (np.array(Y[0]), np.array(Y[1]))], 1, 2, 1.0, verbose=False)
    assert not np.array_equal(net.params, as_pair)  # a list: samples, a different problem
