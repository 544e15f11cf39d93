"""Copies, pickles and saved files of a Network continue training exactly as the original."""

import copy
import json
import pickle

import joblib
import numpy as np
import pytest

import fastnn

_ALIGN = 64


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    X = rng.random((120, 6))
    y = (X[:, 0] + X[:, 1] > X[:, 2] + 0.5).astype(int) + (X[:, 3] > 0.7)
    return X, y


def trained(dtype="float64"):
    net = fastnn.Network([6, 5, 3], seed=3, dtype=dtype)
    return net


def assert_views_into_params(net):
    assert net.params.ctypes.data % _ALIGN == 0
    for w, b in zip(net.weights, net.biases):
        assert np.shares_memory(w, net.params)
        assert np.shares_memory(b, net.params)
    # Writing through a view changes params, and training changes the views.
    before = net.params.copy()
    net.weights[0][0, 0] += 1.0
    assert np.count_nonzero(net.params != before) == 1
    net.weights[0][0, 0] -= 1.0


def pickle_round_trip(protocol):
    return lambda net: pickle.loads(pickle.dumps(net, protocol=protocol))


def joblib_round_trip(tmp_path):
    def round_trip(net):
        path = tmp_path / "net.joblib"
        joblib.dump(net, path)
        return joblib.load(path)

    return round_trip


COPIES = {"copy": copy.copy, "deepcopy": copy.deepcopy} | {
    f"pickle-{p}": pickle_round_trip(p) for p in range(pickle.HIGHEST_PROTOCOL + 1)
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("how", [*COPIES, "joblib"])
def test_a_copy_trains_bit_identically_to_its_original(data, tmp_path, how, dtype):
    make_copy = joblib_round_trip(tmp_path) if how == "joblib" else COPIES[how]
    net = trained(dtype)
    net.SGD(data, 1, 10, 3.0, verbose=False)  # mid-training: the generator has moved on
    twin = make_copy(net)
    assert twin is not net and twin.sizes == net.sizes and twin.dtype == net.dtype
    assert not np.shares_memory(twin.params, net.params)
    np.testing.assert_array_equal(twin.params, net.params)
    assert_views_into_params(twin)
    net.SGD(data, 2, 10, 3.0, verbose=False)
    twin.SGD(data, 2, 10, 3.0, verbose=False)
    np.testing.assert_array_equal(twin.params, net.params)
    for w, w_twin in zip(net.weights, twin.weights):
        np.testing.assert_array_equal(w_twin, w)  # the views followed the training


def test_copies_are_independent(data):
    net = trained()
    twin = copy.copy(net)
    twin.SGD(data, 1, 10, 3.0, verbose=False)
    assert not np.array_equal(twin.params, net.params)
    # The original's generator did not move when the copy's did.
    np.testing.assert_array_equal(
        net._rng.bit_generator.state["state"]["state"], trained()._rng.bit_generator.state["state"]["state"]
    )


def test_deepcopy_keeps_shared_references_shared():
    net = trained()
    pair = copy.deepcopy([net, net])
    assert pair[0] is pair[1]


def test_save_load_continues_exactly_as_the_original(data, tmp_path):
    net = trained()
    net.SGD(data, 1, 10, 3.0, verbose=False)
    loaded = fastnn.load(net.save(tmp_path / "net.npz"))
    assert_views_into_params(loaded)
    net.SGD(data, 2, 10, 3.0, verbose=False)
    loaded.SGD(data, 2, 10, 3.0, verbose=False)
    np.testing.assert_array_equal(loaded.params, net.params)


def test_the_saved_generator_state_is_json_text(tmp_path):
    net = trained()
    with np.load(net.save(tmp_path / "net.npz"), allow_pickle=False) as npz:
        state = json.loads(str(npz["rng_state"]))
    assert state == net._rng.bit_generator.state


def test_files_without_a_generator_state_still_load(data, tmp_path):
    net = trained()
    path = net.save(tmp_path / "net.npz")
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "rng_state"}
    np.savez(tmp_path / "old.npz", **arrays)
    old = fastnn.load(tmp_path / "old.npz")
    np.testing.assert_array_equal(old.params, net.params)
    old.SGD(data, 1, 10, 3.0, verbose=False)  # trains, with a fresh generator


@pytest.mark.parametrize(
    "entry, fragment",
    [
        (np.array("not json"), "JSONDecodeError"),
        (np.array(json.dumps({"bit_generator": "os.system", "state": {}})), "unknown bit generator"),
        (np.array(json.dumps({"bit_generator": "PCG64", "state": {"state": "x"}})), "rng_state"),
        (np.arange(3), "expected one string"),
    ],
)
def test_a_bad_generator_state_is_a_model_file_error(tmp_path, entry, fragment):
    path = trained().save(tmp_path / "net.npz")
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["rng_state"] = entry
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(fastnn.ModelFileError, match=fragment):
        fastnn.load(tmp_path / "bad.npz")
