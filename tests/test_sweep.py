"""fastnn.sweep: grids, local threads, a Dask cluster (bit for bit, and surviving a dead worker)."""

import csv
import json
import logging
import os
import signal

import numpy as np
import pytest

import fastnn
from fastnn.datasets import read_idx
from fastnn.sweep import SweepResult, _compact, configurations


@pytest.fixture(scope="module")
def digits(mnist_dir):
    """1,000 training and 300 test MNIST images, exactly k/255 as fastnn loads them."""
    images = read_idx(mnist_dir / "train-images-idx3-ubyte.gz")[:1300].reshape(1300, 784)
    labels = read_idx(mnist_dir / "train-labels-idx1-ubyte.gz")[:1300].astype(np.int64)
    X = np.divide(images, np.float64(255))
    return (X[:1000], labels[:1000]), (X[1000:], labels[1000:])


GRID = {"sizes": [[784, 10, 10], [784, 20, 10]], "eta": [1.0, 3.0], "seed": [0, 1], "epochs": 2}


def alone(config, train, test):
    net = fastnn.Network(config["sizes"], seed=config["seed"], dtype=config["dtype"])
    history = net.SGD(train, config["epochs"], config["mini_batch_size"], config["eta"], test_data=test, verbose=False)
    return net, history


def test_configurations_enumerate_the_grid_with_the_books_defaults():
    configs = configurations({"sizes": [784, 30, 10], "eta": [0.5, 3], "seed": range(2)})
    assert [(c["eta"], c["seed"]) for c in configs] == [(0.5, 0), (0.5, 1), (3.0, 0), (3.0, 1)]
    assert all(c["sizes"] == (784, 30, 10) and c["mini_batch_size"] == 10 and c["epochs"] == 30 for c in configs)
    assert configs[0]["dtype"] == "float64"


@pytest.mark.parametrize(
    "grid, error, fragment",
    [
        ([1, 2], TypeError, "grid must be a dict"),
        ({"eta": [3.0]}, ValueError, "grid must give 'sizes'"),
        ({"sizes": [2, 2], "lr": [1]}, ValueError, "unknown key 'lr'"),
        ({"sizes": [2, 2], "eta": []}, ValueError, r"grid\['eta'\] is empty"),
        ({"sizes": [2, 2], "eta": [1.0, -1.0]}, ValueError, r"grid\['eta'\]\[1\]: eta must be a finite number > 0"),
        ({"sizes": [[2, 0]]}, ValueError, r"grid\['sizes'\]\[0\]: sizes\[1\] must be >= 1"),
        ({"sizes": [2, 2], "dtype": ["float16"]}, ValueError, r"grid\['dtype'\]\[0\]"),
    ],
)
def test_bad_grids_are_named(grid, error, fragment):
    with pytest.raises(error, match=fragment):
        configurations(grid)


def test_data_that_do_not_fit_the_sizes_fail_before_training(digits):
    train, test = digits
    with pytest.raises(ValueError, match=r"training_data X has 784 features, grid sizes .* expect 100"):
        fastnn.sweep({"sizes": [[100, 10]]}, train)
    with pytest.raises(ValueError, match="test_data y holds label 9"):
        fastnn.sweep({"sizes": [[784, 5]]}, (train[0], train[1] % 5), test)


def test_local_sweep_equals_each_configuration_alone(digits):
    train, test = digits
    seen = []
    result = fastnn.sweep(GRID, train, test, n_jobs=2, return_networks=True, on_result=seen.append)
    assert isinstance(result, SweepResult) and len(result) == 8 and len(seen) == 8
    assert [r["sizes"] for r in result] == [c["sizes"] for c in configurations(GRID)]
    for r in result:
        net, history = alone(r, train, test)
        np.testing.assert_array_equal(r["network"].params, net.params)
        accuracies = [h.accuracy for h in history]
        assert [h.accuracy for h in r["history"]] == accuracies
        assert r["best_accuracy"] == max(accuracies) and accuracies[r["best_epoch"]] == max(accuracies)
        assert r["error"] is None and r["seconds"] > 0
    assert result.best()["best_accuracy"] == max(r["best_accuracy"] for r in result)
    assert result.timings["where"] == "local" and result.timings["n_tasks"] >= 2


@pytest.mark.filterwarnings("ignore::fastnn.DataRangeWarning")
def test_a_diverging_configuration_does_not_stop_the_sweep():
    rng = np.random.default_rng(0)
    data = (1e300 * rng.random((100, 4)), rng.integers(0, 2, 100))  # eta=1e10 overflows the weights
    grid = {"sizes": [[4, 3, 2]], "eta": [1.0, 1e10], "seed": [0, 1], "epochs": 2}
    result = fastnn.sweep(grid, data, data, n_jobs=1, group=2)
    assert [r["error"] is None for r in result] == [True, True, False, False]
    assert "diverged" in result[2]["error"] and result[2]["history"] == [] and result[2]["best_accuracy"] is None
    _, history = alone(result[1], data, data)
    assert [h.accuracy for h in result[1]["history"]] == [h.accuracy for h in history]


def test_inputs_travel_as_uint8_only_when_exact():
    codes = np.arange(256, dtype=np.uint8).reshape(16, 16)
    for dtype in (np.float64, np.float32):
        X = np.divide(codes, dtype(255), dtype=dtype)
        packed, dt = _compact(X)
        np.testing.assert_array_equal(packed, codes)
        assert dt == dtype
    assert _compact(np.divide(codes, 255.0) + 1e-12) is None  # not k/255: shipped as floats
    assert _compact(np.divide(codes, 255.0).astype(np.float32).astype(np.float64)) is None
    assert _compact(np.full((2, 2), 2.0)) is None


def test_writers(digits, tmp_path):
    train, test = digits
    result = fastnn.sweep({"sizes": [[784, 10, 10]], "seed": [0, 1], "epochs": 2}, train, test, n_jobs=1)
    saved = json.loads(result.to_json(tmp_path / "sweep.json").read_text())
    assert saved["results"][1]["history"][1]["test_correct"] == result[1]["history"][1].test_correct
    assert saved["results"][0]["sizes"] == [784, 10, 10] and "timings" in saved
    with open(result.to_csv(tmp_path / "sweep.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[1]["sizes"] == "784-10-10" and float(rows[1]["best_accuracy"]) == result[1]["best_accuracy"]
    pd = pytest.importorskip("pandas")
    frame = result.to_pandas()
    assert isinstance(frame, pd.DataFrame) and list(frame["seed"]) == [0, 1]
    table = result.summary()
    assert "784-10-10" in table and f"{100 * result.best()['best_accuracy']:.2f}" in table.splitlines()[2]
    pytest.importorskip("matplotlib")
    result.plot(tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_sweep_command(digits, mnist_dir, tmp_path, capsys):
    from fastnn.cli import main

    (tmp_path / "grid.toml").write_text("[grid]\nsizes = [[784, 10, 10]]\neta = [1.0, 3.0]\n")
    out = tmp_path / "sweep.json"
    code = main(
        [
            "sweep",
            "--grid",
            str(tmp_path / "grid.toml"),
            "--seed",
            "0",
            "1",
            "--epochs",
            "1",
            "--train-size",
            "1000",
            "--data-dir",
            str(mnist_dir),
            "--output",
            str(out),
            "--no-progress",
            "--n-jobs",
            "1",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "Sweep: 4 configurations on 1,000 mnist images" in printed and "784-10-10" in printed
    assert len(json.loads(out.read_text())["results"]) == 4
    assert main(["sweep", "--eta", "0", "--data-dir", str(mnist_dir)]) == 2
    assert "eta must be a finite number > 0" in capsys.readouterr().err


# --------------------------------------------------------------------------- on Dask

distributed = pytest.importorskip(
    "distributed", reason='fastnn[distributed] is not installed: pip install "fastnn[distributed]"'
)


@pytest.fixture(scope="module")
def client():
    """One two-process cluster for the module (fastnn itself never starts one)."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_a_dask_sweep_equals_the_local_sweep_bit_for_bit(client, digits):
    train, test = digits
    local = fastnn.sweep(GRID, train, test, n_jobs=2, return_networks=True)
    remote = fastnn.sweep(GRID, train, test, client=client, return_networks=True)
    for a, b in zip(local, remote):
        np.testing.assert_array_equal(b["network"].params, a["network"].params)
        assert [h.test_correct for h in b["history"]] == [h.test_correct for h in a["history"]]
        assert {k: v for k, v in b.items() if k not in ("network", "history", "seconds")} == {
            k: v for k, v in a.items() if k not in ("network", "history", "seconds")
        }
    t = remote.timings
    assert t["compact"] and t["ship_bytes"] < train[0].size * 2  # uint8 pixels, not float64
    assert set(t["compile_seconds"]) == set(client.nthreads())


def test_a_worker_killed_mid_sweep_loses_no_result(client, digits):
    train, test = digits
    grid = {**GRID, "epochs": 3}
    local = fastnn.sweep(grid, train, test, n_jobs=2, return_networks=True)
    killed = []

    def kill_a_busy_worker(_result):
        if killed:
            return
        busy = [address for address, keys in client.processing().items() if keys]
        assert busy, "no task in flight to kill"
        pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    remote = fastnn.sweep(grid, train, test, client=client, group=1, return_networks=True, on_result=kill_a_busy_worker)
    assert killed and len(remote) == len(local) == 8
    for a, b in zip(local, remote):
        np.testing.assert_array_equal(b["network"].params, a["network"].params)


def test_grid_search_on_dask_through_joblib(client, digits):
    joblib = pytest.importorskip("joblib")
    pytest.importorskip("sklearn", minversion="1.6")
    from sklearn.model_selection import GridSearchCV

    from fastnn.sklearn import SigmoidMLPClassifier

    (X, y), _ = digits
    grid = {"hidden_layer_sizes": [(10,), (20,)], "eta": [1.0, 3.0]}
    search = GridSearchCV(SigmoidMLPClassifier(epochs=2, random_state=0), grid, cv=2, n_jobs=-1)
    with joblib.parallel_config(backend="dask"):
        on_dask = search.fit(X, y).cv_results_["mean_test_score"]
    local = GridSearchCV(SigmoidMLPClassifier(epochs=2, random_state=0), grid, cv=2).fit(X, y)
    np.testing.assert_array_equal(on_dask, local.cv_results_["mean_test_score"])
