"""network2.py's JSON model files: written by hand in its layout, round trips, bad files."""

import json
import math

import numpy as np
import pytest

import fastnn
from fastnn import persistence


class QuadraticCost:  # stand-ins for network2.py's classes: it stores the class name
    pass


class CrossEntropyCost:
    pass


def network2_save(sizes, weights, biases, cost, filename):
    """network2.py's ``Network.save``, line for line (weights/biases are its column-vector arrays)."""
    data = {
        "sizes": sizes,
        "weights": [w.tolist() for w in weights],
        "biases": [b.tolist() for b in biases],
        "cost": str(cost.__name__),
    }
    f = open(filename, "w")
    json.dump(data, f)
    f.close()


def test_a_file_written_by_network2_loads_with_hand_worked_output(tmp_path):
    path = tmp_path / "book.json"
    # sizes [2, 1]: w = [[1, -2]], b = [[0.5]] (a column, as network2 keeps biases).
    network2_save([2, 1], [np.array([[1.0, -2.0]])], [np.array([[0.5]])], QuadraticCost, path)
    net = fastnn.load(path)
    assert net.sizes == (2, 1) and net.dtype == np.float64
    # z = 1 * 1 + (-2) * 0.25 + 0.5 = 1, a = sigmoid(1) = 1 / (1 + e^-1)
    np.testing.assert_allclose(net.feedforward(np.array([1.0, 0.25])), [1 / (1 + math.exp(-1))], rtol=1e-15)


def test_network2_layout_of_a_deeper_network_and_its_cost(tmp_path):
    rng = np.random.default_rng(0)
    sizes = [4, 3, 2]
    weights = [rng.standard_normal((y, x)) / np.sqrt(x) for x, y in zip(sizes[:-1], sizes[1:])]
    biases = [rng.standard_normal((y, 1)) for y in sizes[1:]]
    network2_save(sizes, weights, biases, CrossEntropyCost, tmp_path / "ce.json")
    with pytest.warns(persistence.CostWarning, match="CrossEntropyCost"):
        net = fastnn.load(tmp_path / "ce.json")
    for w, b, w_net, b_net in zip(weights, biases, net.weights, net.biases):
        np.testing.assert_array_equal(w_net, w)
        np.testing.assert_array_equal(b_net, b[:, 0])
    a = np.array([0.1, 0.9, 0.3, 0.5]).reshape(-1, 1)  # network2's feedforward, in its own shapes
    for w, b in zip(weights, biases):
        a = 1 / (1 + np.exp(-(w @ a + b)))
    np.testing.assert_allclose(net.feedforward(np.array([0.1, 0.9, 0.3, 0.5])), a[:, 0], rtol=1e-14)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_save_json_round_trip_is_exact_and_network2_can_read_it(tmp_path, dtype):
    net = fastnn.Network([5, 4, 3], seed=0, dtype=dtype)
    path = net.save(tmp_path / "net.json")
    data = json.loads(path.read_text())
    assert sorted(data) == ["biases", "cost", "sizes", "weights"] and data["cost"] == "QuadraticCost"
    # network2.load: np.array of each list gives its shapes back.
    assert [np.array(w).shape for w in data["weights"]] == [(4, 5), (3, 4)]
    assert [np.array(b).shape for b in data["biases"]] == [(4, 1), (3, 1)]
    loaded = fastnn.load(path)
    assert loaded.dtype == np.float64  # JSON has no dtype; float32 values are float64-exact
    for w, w2 in zip(net.weights, loaded.weights):
        np.testing.assert_array_equal(w2, w.astype(np.float64))
    for b, b2 in zip(net.biases, loaded.biases):
        np.testing.assert_array_equal(b2, b.astype(np.float64))


def test_evaluate_takes_a_json_model(tmp_path, mnist_dir, capsys):
    from fastnn.cli import main

    rng = np.random.default_rng(0)
    sizes = [784, 10, 10]
    weights = [rng.standard_normal((y, x)) for x, y in zip(sizes[:-1], sizes[1:])]
    biases = [rng.standard_normal((y, 1)) for y in sizes[1:]]
    network2_save(sizes, weights, biases, QuadraticCost, tmp_path / "book.json")
    assert main(["evaluate", str(tmp_path / "book.json"), "--data-dir", str(mnist_dir)]) == 0
    expected = fastnn.load(tmp_path / "book.json").evaluate(fastnn.load_mnist(mnist_dir)[2])
    assert f"{expected} / 10000" in capsys.readouterr().out


GOOD = {"sizes": [2, 1], "weights": [[[1.0, 2.0]]], "biases": [[[0.5]]], "cost": "QuadraticCost"}


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"\xff\xfe not text", "not a readable network2 JSON file"),
        (b'{"sizes": [2, 1], ', "not a readable network2 JSON file"),
        (b"[1, 2]", "holds an object, got list"),
        (b"[" * 100000 + b"]" * 100000, "not a readable network2 JSON file"),
        ({**GOOD, "weights": None}, "'weights' must be a list of 1 arrays"),
        ({k: v for k, v in GOOD.items() if k != "biases"}, "no 'biases'"),
        ({**GOOD, "sizes": [2, True]}, "'sizes' must be a list of at least two integers"),
        ({**GOOD, "sizes": [3, 1]}, r"weights\[0\] has shape \(1, 2\), sizes declare \(1, 3\)"),
        ({**GOOD, "sizes": [2, 10**12]}, r"sizes declare \(1000000000000, 2\)"),
        ({**GOOD, "weights": [[[1.0, 2.0], [3.0]]]}, r"weights\[0\] is not a rectangular array"),
        ({**GOOD, "weights": [[["1.0", "2.0"]]]}, r"weights\[0\] must hold numbers"),
        ({**GOOD, "biases": [[[float("nan")]]]}, r"biases\[0\] holds non-finite values"),
        ({**GOOD, "cost": "os.system"}, "'cost' must be one of QuadraticCost, CrossEntropyCost"),
    ],
)
def test_bad_json_files_are_model_file_errors(tmp_path, content, fragment):
    path = tmp_path / "bad.json"
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    with pytest.raises(fastnn.ModelFileError, match=fragment):
        fastnn.load(path)


def test_the_size_is_checked_before_parsing(tmp_path, monkeypatch):
    path = tmp_path / "big.json"
    path.write_text(json.dumps(GOOD))
    monkeypatch.setattr(persistence, "MAX_JSON_BYTES", 10)
    monkeypatch.setattr(json, "loads", lambda *a, **k: pytest.fail("parsed a file over the limit"))
    with pytest.raises(fastnn.ModelFileError, match="bytes is more than the 10"):
        fastnn.load(path)


def test_a_missing_json_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastnn.load(tmp_path / "none.json")
