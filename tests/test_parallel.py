"""The threading policy: which networks ``SGD(n_jobs=...)`` splits, ``n_jobs`` checks, and
``train_many`` (:mod:`fastnn.parallel`)."""

import os

import numba
import numpy as np
import pytest
from helpers import small_problem, wide_problem

import fastnn
from fastnn import kernels, parallel


def test_the_rule_is_the_kernels_block_count():
    # parallel.n_blocks predicts how the kernel cuts a layer; it must be the kernel's own rule.
    for ld in (16, 32, 255, 256, 511, 512, 520, 1024, 4000):
        for n_threads in (1, 2, 3, 8):
            for block in (16, 64, *parallel.MIN_BLOCK.values()):
                assert parallel.n_blocks(ld, n_threads, block) == kernels.n_blocks(ld, n_threads, block)


def test_min_block_by_dtype():
    assert parallel.min_block("float64") == parallel.MIN_BLOCK[8] == 256
    assert parallel.min_block(np.float32) == parallel.MIN_BLOCK[4] == 384
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        parallel.min_block("int32")


def test_usable_cores_is_a_positive_count():
    assert 1 <= parallel.usable_cores() <= (os.cpu_count() or 1)


@pytest.fixture
def wide():
    """Data for a network with a hidden layer wide enough to be split over threads."""
    return wide_problem()


@pytest.fixture
def small():
    return small_problem()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sgd_n_jobs_gives_the_serial_numbers_bit_for_bit(wide, dtype):
    X, y = wide
    runs = {}
    sizes = [40, 520, 4] if dtype == "float64" else [40, 800, 4]  # wide enough to be split
    assert fastnn.Network(sizes, dtype=dtype).splits(2, 7)
    for n_jobs in sorted({None, 1, 2, numba.config.NUMBA_NUM_THREADS, -1}, key=str):
        net = fastnn.Network(sizes, seed=3, dtype=dtype)
        history = net.SGD((X, y), 2, 7, 3.0, test_data=(X, y), verbose=False, n_jobs=n_jobs)
        runs[n_jobs] = net.params, [(r.train_cost, r.test_correct) for r in history]
    params, history = runs[None]
    assert not np.array_equal(params, fastnn.Network(sizes, seed=3, dtype=dtype).params)  # trained
    for n_jobs, (got, got_history) in runs.items():
        np.testing.assert_array_equal(got, params, err_msg=f"n_jobs={n_jobs}")
        assert got_history == history
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS  # restored


@pytest.mark.parametrize(
    "sizes, dtype, n_jobs, m, split",
    [
        ([784, 30, 10], "float64", 2, 10, False),  # 32 columns: too narrow
        ([784, 504, 10], "float64", 2, 10, False),  # two blocks of 252 < 256 columns
        ([784, 512, 10], "float64", 2, 10, True),
        ([784, 520, 10], "float64", 2, 10, True),
        ([784, 520, 10], "float64", 1, 10, False),  # one thread
        ([784, 520, 10], "float64", 2, 1, False),  # online learning stays serial
        ([784, 520, 10], "float32", 2, 10, False),  # float32 waits for 768 units
        ([784, 800, 10], "float32", 2, 10, True),
        ([20, 30, 600, 10], "float64", 2, 10, True),  # any layer
    ],
)
def test_which_networks_n_jobs_splits(sizes, dtype, n_jobs, m, split):
    assert fastnn.Network(sizes, dtype=dtype).splits(n_jobs, m) is split


@pytest.mark.parametrize(
    "n_jobs, error, fragment",
    [(0, ValueError, "n_jobs must be -1 or between 1 and"), (-2, ValueError, "got -2"),
     (10**6, ValueError, "NUMBA_NUM_THREADS"), (1.5, TypeError, "n_jobs must be None or an integer"),
     (True, TypeError, "n_jobs")],
)
def test_sgd_rejects_bad_n_jobs(small, n_jobs, error, fragment):
    net = fastnn.Network([6, 3], seed=0)
    before = net.params.copy()
    with pytest.raises(error, match=fragment):
        net.SGD(small, 1, 10, 1.0, verbose=False, n_jobs=n_jobs)
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("n_jobs", [1, 2, -1])
def test_train_many_equals_training_each_alone(wide, n_jobs):
    X, y = wide
    specs = [([40, 30, 4], 0), ([40, 30, 4], 1), ([40, 200, 4], 2), ([40, 4], 3)]
    nets = [fastnn.Network(sizes, seed=seed) for sizes, seed in specs]
    histories = fastnn.train_many(nets, (X, y), 3, 10, 3.0, test_data=(X, y), n_jobs=n_jobs)
    assert len(histories) == len(nets)
    for (sizes, seed), net, history in zip(specs, nets, histories):
        alone = fastnn.Network(sizes, seed=seed)
        want = alone.SGD((X, y), 3, 10, 3.0, test_data=(X, y), verbose=False)
        np.testing.assert_array_equal(net.params, alone.params)
        assert [(r.train_cost, r.test_correct) for r in history] == [(r.train_cost, r.test_correct) for r in want]


def test_train_many_converts_one_shot_data_once(wide, capsys):
    X, y = wide
    nets = [fastnn.Network([40, 8, 4], seed=s) for s in range(2)]
    histories = fastnn.train_many(nets, zip(list(X), list(y)), 1, 10, 3.0, test_data=zip(list(X), list(y)),
                                  verbose=True)
    assert [h[0].n_test for h in histories] == [120, 120]
    out = capsys.readouterr().out
    assert "[network 0] Epoch 0: " in out and "[network 1] Epoch 0: " in out


@pytest.mark.parametrize(
    "networks, kwargs, error, fragment",
    [
        ("empty", {}, ValueError, "at least one Network"),
        ("one-network", {}, TypeError, r"got Network \(wrap one network in a list\)"),
        ("none", {}, TypeError, "networks must be a sequence of fastnn.Network, got NoneType"),
        ("not-a-network", {}, TypeError, r"networks\[1\] must be a fastnn.Network, got str"),
        ("twice", {}, ValueError, "one Network twice"),
        ("mixed-dtype", {}, ValueError, r"networks\[1\] has dtype float32"),
        ("mixed-outputs", {}, ValueError, r"output size \(4\)"),
        ("ok", {"n_jobs": 0}, ValueError, "n_jobs must be -1 or between 1 and"),
        ("ok", {"n_jobs": 10**6}, ValueError, "cores this process may use"),
        ("ok", {"eta": -1.0}, ValueError, "eta must be a finite number > 0"),
        ("ok", {"epochs": 1.5}, TypeError, "epochs must be an integer"),
    ],
)
def test_train_many_rejects_bad_input_before_training(wide, networks, kwargs, error, fragment):
    X, y = wide
    net = fastnn.Network([40, 8, 4], seed=0)
    before = net.params.copy()
    networks = {
        "twice": [net, net],
        "mixed-dtype": [net, fastnn.Network([40, 8, 4], dtype="float32")],
        "mixed-outputs": [net, fastnn.Network([40, 8, 3])],
        "ok": [net],
        "empty": [],
        "not-a-network": [net, "net"],
        "one-network": net,
        "none": None,
    }[networks]
    args = {"epochs": 1, "eta": 3.0, **kwargs}
    with pytest.raises(error, match=fragment):
        n_jobs = {k: v for k, v in kwargs.items() if k == "n_jobs"}
        fastnn.train_many(networks, (X, y), args["epochs"], 10, args["eta"], **n_jobs)
    np.testing.assert_array_equal(net.params, before)


def test_train_many_reports_the_diverging_network_and_finishes_the_others(wide, monkeypatch):
    X, y = wide
    nets = [fastnn.Network([40, 8, 4], seed=s) for s in range(3)]
    real = kernels.sgd_epoch
    poisoned = nets[1].params

    def poison(net, *args):
        out = real(net, *args)
        if net[0] is poisoned:
            net[0][0] = np.inf
        return out

    monkeypatch.setattr(kernels, "sgd_epoch", poison)
    start = nets[1].params.copy()
    with pytest.raises(FloatingPointError, match=r"\[network 1\] training diverged in epoch 0"):
        fastnn.train_many(nets, (X, y), 2, 10, 3.0, n_jobs=2)
    np.testing.assert_array_equal(nets[1].params, start)  # restored
    for s in (0, 2):
        alone = fastnn.Network([40, 8, 4], seed=s)
        alone.SGD((X, y), 2, 10, 3.0, verbose=False)
        np.testing.assert_array_equal(nets[s].params, alone.params)  # trained in full
