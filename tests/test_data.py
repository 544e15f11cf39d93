"""fastnn.Dataset: prepared once, read by the kernels as raw arrays would be, bit for bit."""

import pickle
import re
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import DataRangeWarning, Dataset, Network
from fastnn.data import bytes_csr, float_csr


def images(n=300, n_features=20, seed=0):
    """Sparse uint8 'images' (about 70 % zeros, bytes 1..255) and labels of 3 classes."""
    rng = np.random.default_rng(seed)
    U = ((rng.random((n, n_features)) < 0.3) * rng.integers(1, 256, (n, n_features))).astype(np.uint8)
    return U, U[:, :3].argmax(axis=1)


def trained(data, dtype="float64", test_data=None, epochs=2, m=7, sizes=(20, 8, 3)):
    net = Network(list(sizes), seed=3, dtype=dtype)
    history = net.SGD(data, epochs, m, 3.0, test_data=test_data, verbose=False)
    return net, history


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dataset_of_bytes_trains_bit_identically_to_float_arrays(dtype):
    # load_mnist used to divide the bytes by 255 in the network's dtype: a Dataset of the
    # bytes must train exactly as those floats did (its values are b / 255 exactly).
    U, y = images()
    X = U / np.dtype(dtype).type(255)
    ds = Dataset(U, y, dtype=dtype)
    a, ha = trained(ds, dtype, test_data=ds)
    b, hb = trained((X, y), dtype, test_data=(X, y))
    assert np.array_equal(a.params, b.params)
    assert [r.test_correct for r in ha] == [r.test_correct for r in hb]
    assert [r.train_cost for r in ha] == [r.train_cost for r in hb]
    assert a.evaluate(ds) == a.evaluate((X, y))
    assert a.cost(ds) == a.cost((X, y))
    assert np.array_equal(a.feedforward(ds), a.feedforward(X))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dataset_of_floats_trains_bit_identically_to_the_arrays(dtype):
    X, y = images()
    X = X / 255.0
    X[0, 0] = -0.25  # a negative value: legal, kept (and warned about)
    with pytest.warns(DataRangeWarning, match=r"X has values in \[-0.25, 1\]"):
        ds = Dataset(X, y)
    with pytest.warns(DataRangeWarning, match=r"training_data X has values in \[-0.25, 1\]"):
        b, _ = trained((X, y), dtype)
    a, _ = trained(ds, dtype)  # checked once, when made: no second warning here
    assert np.array_equal(a.params, b.params)


def test_targets_one_hot_rows_and_labels_train_alike():
    U, y = images()
    Y = np.eye(3)[y]
    a, _ = trained(Dataset(U, y))
    b, _ = trained(Dataset(U, Y))
    assert np.array_equal(a.params, b.params)
    assert np.array_equal(Dataset(U, Y).labels, y)


def test_train_many_and_a_dtype_other_than_the_datasets():
    U, y = images()
    ds = Dataset(U, y, dtype="float64")
    nets = [Network([20, 8, 3], seed=s, dtype="float32") for s in (0, 1)]
    fastnn.train_many(nets, ds, 2, 5, 3.0, test_data=ds, n_jobs=2)
    for s, net in enumerate(nets):
        alone = Network([20, 8, 3], seed=s, dtype="float32")
        alone.SGD((U / np.float32(255), y), 2, 5, 3.0, verbose=False)
        assert np.array_equal(net.params, alone.params)


def test_the_arrays_it_unpacks_to():
    U, y = images(n=50)
    ds = Dataset(U, y, dtype="float32")
    X, labels = ds
    assert X.dtype == np.float32 and np.array_equal(X, U / np.float32(255))
    assert np.array_equal(labels, y) and labels.dtype == np.int64
    assert ds[0] is X and ds[1] is labels and ds[-1] is labels
    assert not X.flags.writeable and not labels.flags.writeable  # so they cannot drift from it
    assert len(ds) == 50 and ds.n_features == 20 and ds.is_bytes and ds.dtype == np.float32
    assert np.array_equal(ds.targets, np.eye(3, dtype=np.float32)[y])
    with pytest.raises(TypeError, match=r"ds\[0\] is X and ds\[1\] is y, got 2; select rows with ds.take"):
        ds[2]
    assert "n_samples=50, n_features=20, X uint8 read as X / 255" in repr(ds)


def test_take_selects_rows():
    U, y = images()
    ds = Dataset(U, y)
    rows = np.array([5, 0, 299, 5])
    for key, expected in [(rows, rows), (slice(10, 20), np.arange(10, 20)), (y == 1, np.flatnonzero(y == 1))]:
        part = ds.take(key)
        assert np.array_equal(part.X, U[expected] / 255.0) and np.array_equal(part.y, y[expected])
        a, _ = trained(part)
        b, _ = trained((U[expected] / 255.0, y[expected]))
        assert np.array_equal(a.params, b.params)
    with pytest.raises(IndexError):
        ds.take([300])


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickles_compactly_and_round_trips(protocol):
    U, y = images(n=2000, n_features=64)
    ds = Dataset(U, y)
    blob = pickle.dumps(ds, protocol=protocol)
    if protocol >= 3:  # 0-2 write bytes as text, up to twice as long
        # The non-zero bytes, 2-byte columns and the row starts: far below the float64 X.
        nnz = np.count_nonzero(U)
        assert len(blob) < 3 * nnz + 8 * len(U) + 8 * len(y) + 2000 < U.size * 8 / 4
    back = pickle.loads(blob)
    assert back.is_bytes and back.dtype == ds.dtype and len(back) == len(ds)
    assert np.array_equal(back.X, ds.X) and np.array_equal(back.y, ds.y)
    a, _ = trained(ds, sizes=(64, 8, 3))
    b, _ = trained(back, sizes=(64, 8, 3))
    assert np.array_equal(a.params, b.params)


# -- the same errors as raw arrays -------------------------------------------------------------

BAD_X = {
    "nan": np.where(np.eye(4, 20) > 0, np.nan, 0.5),
    "inf": np.full((4, 20), np.inf),
    "strings": np.full((4, 20), "a"),
    "complex": np.zeros((4, 20), complex),
    "ragged": [[0.0] * 20, [0.0] * 19, [0.0] * 20, [0.0] * 20],
}


def _raw_error(X, y, dtype="float64"):
    with pytest.raises((TypeError, ValueError)) as info:
        Network([20, 8, 3], dtype=dtype).SGD((X, y), 1, 2, 3.0, verbose=False)
    return info


@pytest.mark.parametrize("kind", sorted(BAD_X))
def test_bad_inputs_get_the_raw_arrays_errors(kind):
    X, y = BAD_X[kind], [0, 1, 2, 0]
    raw = _raw_error(X, y)
    with pytest.raises(raw.type) as info:
        Dataset(X, y)
    assert str(info.value) == str(raw.value).replace("training_data X", "X")


def test_bad_inputs_float32_overflow():
    # 1e39 is finite in float64, inf in float32: refused in the dtype it is kept in.
    X = np.full((4, 20), 0.5)
    X[2, 7] = 1e39
    raw = _raw_error(X, [0, 1, 2, 0], "float32")
    with pytest.raises(ValueError) as info:
        Dataset(X, [0, 1, 2, 0], dtype="float32")
    assert str(info.value) == str(raw.value).replace("training_data X", "X") == "X must be finite, got inf at X[2, 7]"
    with pytest.warns(DataRangeWarning):
        ds = Dataset(X, [0, 1, 2, 0])  # float64: finite, until a float32 network reads it
    with pytest.raises(ValueError, match=r"X must be finite in float32, got inf at X\[2, 7\] \(from 1e\+39"):
        Network([20, 8, 3], dtype="float32").SGD(ds, 1, 2, 3.0, verbose=False)


@pytest.mark.parametrize(
    "y, network",
    [
        ([0, 1, 3, 0], "label out of range for the network"),
        ([0, 1, 2], "length"),
        ([0, 1.5, 2, 0], "not integral"),
        ([True, False, True, True], "booleans"),
        (np.ones((4, 2)), "targets of the wrong width"),
    ],
)
def test_bad_labels_get_the_raw_arrays_errors(y, network):
    X = np.full((4, 20), 0.5)
    raw = _raw_error(X, y)
    with pytest.raises(raw.type) as info:
        Network([20, 8, 3]).SGD(Dataset(X, y), 1, 2, 3.0, verbose=False)
    # Kinds and lengths are refused when the Dataset is made ("y ...", not knowing the
    # network's outputs yet), ranges and widths when a network reads it ("training_data
    # y ..."), both in the raw arrays' words.
    expected = str(raw.value).replace("training_data y", "y")
    if not str(info.value).startswith("training_data"):
        expected = expected.replace("(4, 3)", "(4, n_outputs)")
    assert str(info.value).replace("training_data y", "y") == expected


def test_features_and_emptiness_are_checked_against_the_network():
    ds = Dataset(np.full((4, 19), 0.5), [0, 1, 2, 0])
    with pytest.raises(ValueError, match=re.escape("test_data X has 19 features, the network expects 20 (sizes[0])")):
        Network([20, 8, 3]).SGD(Dataset(np.full((4, 20), 0.5), [0, 1, 2, 0]), 1, 2, 3.0, test_data=ds, verbose=False)
    empty = Dataset(np.zeros((0, 20)), np.zeros(0, int))
    with pytest.raises(ValueError, match=r"^training_data is empty: it must hold at least one sample$"):
        Network([20, 8, 3]).SGD(empty, 1, 2, 3.0, verbose=False)
    with pytest.raises(ValueError, match=r"y\[1\] = -1 is not a class label: labels must be integers >= 0"):
        Dataset(np.zeros((2, 20)), [0, -1])
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, n_features\), got shape \(20,\)"):
        Dataset(np.zeros(20), [0])


def test_bytes_of_zeros_and_ones_warn():
    with pytest.warns(DataRangeWarning, match="uint8 holding only 0 and 1"):
        Dataset(np.eye(4, 20, dtype=np.uint8), [0, 1, 2, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Dataset(np.eye(4, 20, dtype=np.uint8) * 255, [0, 1, 2, 0])  # pixels: no warning


# -- the one-pass kernels ---------------------------------------------------------------------


def scipy_like_csr(X):
    """The reference CSR: non-zeros row by row, columns ascending, with NumPy."""
    rows, cols = np.nonzero(X)
    return X[rows, cols], cols.astype(np.int32), np.concatenate([[0], np.cumsum(np.count_nonzero(X, axis=1))])


@pytest.mark.parametrize(
    "layout",
    ["random", "empty first rows (the estimate is short: grow)", "dense first rows (trim)", "9 features"],
)
def test_prepare_builds_the_csr(layout):
    rng = np.random.default_rng(4)
    n_features = 9 if layout == "9 features" else 24
    U = ((rng.random((700, n_features)) < 0.2) * rng.integers(1, 256, (700, n_features))).astype(np.uint8)
    if layout.startswith("empty"):
        U[:300] = 0
    if layout.startswith("dense"):
        U[:300] = 7
    X = U / 255.0
    X[U == 3] = -2.0  # negatives count as values too
    for got, want in [
        (bytes_csr(U), scipy_like_csr(U)),
        (float_csr(X, np.dtype(np.float64))[:3], scipy_like_csr(X)),
        (float_csr(X, np.dtype(np.float32))[:3], scipy_like_csr(X.astype(np.float32))),
    ]:
        for a, b in zip(got, want):
            assert a.dtype == b.dtype if a.dtype != np.int64 else True
            assert np.array_equal(a, b)
    data, indices, indptr, bad, outside = float_csr(X, np.dtype(np.float64))
    assert bad == -1 and outside == np.count_nonzero(U == 3)


def test_prepare_finds_the_first_non_finite_value():
    X = np.zeros((50, 30))
    X[17, 4] = np.inf
    X[17, 9] = np.nan
    X[30, 0] = np.nan
    assert float_csr(X, np.dtype(np.float64))[3] == 17 * 30 + 4
    assert float_csr(np.full((3, 4), 1e39), np.dtype(np.float32))[3] == 0


def test_split_layers_read_the_bytes_as_values():
    # The parallel epoch (n_jobs=2 on a 520-unit layer) reads float values: SGD asks the
    # Dataset of bytes for them, and the numbers are the serial ones, bit for bit.
    U, y = images(n=120, n_features=40)
    ds = Dataset(U, y)
    assert Network([40, 520, 4]).splits(2, 7)
    a = Network([40, 520, 4], seed=3)
    a.SGD(ds, 1, 7, 3.0, test_data=ds, verbose=False, n_jobs=2)
    b = Network([40, 520, 4], seed=3)
    b.SGD((U / 255.0, y), 1, 7, 3.0, verbose=False)
    assert np.array_equal(a.params, b.params)


def test_monitors_and_predictions_read_a_dataset_as_the_arrays():
    U, y = images()
    X = U / 255.0
    ds, part = Dataset(U, y), Dataset(U[:100], y[:100])
    monitor = ("evaluation_cost", "evaluation_accuracy", "training_cost", "training_accuracy")
    a = Network([20, 8, 3], seed=3)
    ha = a.SGD(ds, 2, 7, 3.0, evaluation_data=part, test_data=part, monitor=monitor, verbose=False)
    b = Network([20, 8, 3], seed=3)
    hb = b.SGD((X, y), 2, 7, 3.0, evaluation_data=(X[:100], y[:100]), test_data=(X[:100], y[:100]),
               monitor=monitor, verbose=False)
    assert np.array_equal(a.params, b.params)
    for name in ha.measured():
        assert np.array_equal(ha.column(name), hb.column(name)), name
    assert np.array_equal(a.predict(ds), a.predict(X))
    assert np.array_equal(a.predict_proba(ds), a.predict_proba(X))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("m", [1, 7])
def test_network2_options_on_a_dataset_of_bytes_train_as_the_float_arrays(dtype, m):
    # The bytes kernel runs the same step as the values kernel: the cross-entropy cost and
    # L2 weight decay (network2) must reach it, bit for bit, and cost() must read it alike.
    U, y = images()
    X = U / np.dtype(dtype).type(255)
    ds = Dataset(U, y, dtype=dtype)
    nets = []
    for data in (ds, (X, y)):
        net = Network([20, 8, 3], seed=3, dtype=dtype, cost="cross-entropy", init="scaled")
        history = net.SGD(data, 2, m, 0.5, lmbda=5.0, evaluation_data=data,
                          monitor=("evaluation_cost", "training_cost"), verbose=False)
        nets.append((net, history))
    (a, ha), (b, hb) = nets
    assert np.array_equal(a.params, b.params)
    assert [r.evaluation_cost for r in ha] == [r.evaluation_cost for r in hb]
    assert a.cost(ds, lmbda=5.0) == a.cost((X, y), lmbda=5.0)
    quadratic = Network([20, 8, 3], seed=3, dtype=dtype)
    quadratic.SGD(ds, 2, m, 0.5, lmbda=5.0, verbose=False)
    assert not np.array_equal(quadratic.params, a.params)  # the option changed the training
