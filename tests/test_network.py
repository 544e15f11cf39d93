"""The public API: shapes, validation at the boundary, determinism, learning, persistence."""

import os
import zipfile

import numba
import numpy as np
import pytest
from helpers import small_problem

import fastnn
from fastnn import kernels, reference, validation
from fastnn._layout import aligned_copy
from fastnn.validation import one_hot


@pytest.fixture
def small():
    """A small learnable problem: 200 samples of 6 features in [0, 1], 3 classes."""
    return small_problem()


# -- construction --------------------------------------------------------------------------
def test_layout_views_and_book_initialisation():
    net = fastnn.Network([784, 30, 10], seed=0)
    assert [w.shape for w in net.weights] == [(30, 784), (10, 30)]
    assert [b.shape for b in net.biases] == [(30,), (10,)]
    for a in net.weights + net.biases:
        assert np.shares_memory(a, net.params)
    assert net.params.flags.c_contiguous and net.params.dtype == np.float64
    # The book's draw: all biases, then all weights, from N(0, 1).
    rng = np.random.default_rng(0)
    expected_b = [rng.standard_normal(n) for n in (30, 10)]
    expected_w = [rng.standard_normal(s) for s in ((30, 784), (10, 30))]
    for got, want in zip(net.biases + net.weights, expected_b + expected_w):
        np.testing.assert_array_equal(got, want)
    # Padding (rows of 30 stored as 32) holds zeros only.
    n_real = sum(w.size + b.size for w, b in zip(net.weights, net.biases))
    assert np.count_nonzero(net.params) == n_real


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("sizes", [[784, 30, 10], [784, 100, 10], [3, 1]])
def test_params_start_on_a_cache_line(sizes, dtype):
    net = fastnn.Network(sizes, dtype=dtype)
    assert net.params.ctypes.data % 64 == 0
    copy = aligned_copy(net.params[1:])  # an unaligned source
    assert copy.ctypes.data % 64 == 0 and copy.dtype == net.params.dtype
    np.testing.assert_array_equal(copy, net.params[1:])
    assert not np.shares_memory(copy, net.params)


def test_float32_network_rounds_the_float64_draw():
    n64 = fastnn.Network([5, 4, 3], seed=7)
    n32 = fastnn.Network([5, 4, 3], seed=7, dtype="float32")
    assert n32.params.dtype == np.float32
    np.testing.assert_array_equal(n32.params, n64.params.astype(np.float32))


def test_writing_a_view_changes_the_network():
    net = fastnn.Network([2, 2, 1], seed=0)
    net.weights[0][:] = 0
    net.biases[0][:] = 0
    net.weights[1][:] = 0
    net.biases[1][:] = 0
    np.testing.assert_array_equal(net.feedforward(np.array([0.3, 0.9])), [0.5])


@pytest.mark.parametrize(
    "sizes, error, fragment",
    [
        ([784], ValueError, "at least two layers"),
        ([], ValueError, "at least two layers"),
        ([784, 0, 10], ValueError, "sizes[1] must be >= 1, got 0"),
        ([784, -3, 10], ValueError, "sizes[1] must be >= 1, got -3"),
        ([784, 30.5, 10], TypeError, "sizes[1] must be an integer"),
        ([784, True, 10], TypeError, "sizes[1] must be an integer"),
        ("784,30,10", TypeError, "sizes must be a sequence"),
        (784, TypeError, "sizes must be a sequence"),
    ],
)
def test_invalid_sizes(sizes, error, fragment):
    with pytest.raises(error, match=None) as info:
        fastnn.Network(sizes)
    assert fragment in str(info.value)


# One rule with load_mnist's (fastnn.validation.check_dtype): every refused dtype, None and
# unknown names included, is a ValueError.
@pytest.mark.parametrize("dtype, error", [("float16", ValueError), ("int64", ValueError), ("nonsense", ValueError),
                                          (None, ValueError)])
def test_invalid_dtype(dtype, error):
    with pytest.raises(error, match="dtype must be 'float32' or 'float64'"):
        fastnn.Network([2, 1], dtype=dtype)


# -- feedforward ---------------------------------------------------------------------------
def test_feedforward_shapes_match_the_reference():
    net = fastnn.Network([2, 3, 3], seed=1)
    out = net.feedforward(np.array([0.2, 0.7]))
    assert out.shape == (3,)  # not the book's 3x3 from broadcasting a (2,) input
    np.testing.assert_allclose(out, reference.feedforward(net.weights, net.biases, np.array([0.2, 0.7])), rtol=1e-14)
    batch = net.feedforward(np.array([[0.2, 0.7], [0.0, 1.0]]))
    assert batch.shape == (2, 3)
    np.testing.assert_allclose(batch[0], out, rtol=1e-15)


def test_feedforward_accepts_nested_lists_and_other_dtypes():
    net = fastnn.Network([3, 2], seed=1)
    want = net.feedforward(np.array([[0.0, 1.0, 0.5]]))
    np.testing.assert_allclose(net.feedforward([[0.0, 1.0, 0.5]]), want)
    np.testing.assert_allclose(net.feedforward(np.array([[0.0, 1.0, 0.5]], dtype=np.float32)), want)
    net32 = fastnn.Network([3, 2], seed=1, dtype="float32")
    assert net32.feedforward(np.array([0.0, 1.0, 0.5])).dtype == np.float32
    u8 = np.array([[0, 1, 0]], dtype=np.uint8)
    np.testing.assert_allclose(net.feedforward(u8), net.feedforward(u8.astype(float)))


@pytest.mark.parametrize(
    "a, error, fragment",
    [
        (np.zeros((4, 780)), ValueError, "X has 780 features, the network expects 784"),
        (np.zeros(780), ValueError, "has 780 features"),
        (np.zeros((2, 3, 784)), ValueError, "must have shape"),
        ([[0.0] * 784, [0.0] * 783], ValueError, "rectangular"),
        (np.array(["a"] * 784), TypeError, "must hold numbers"),
        (np.full((1, 784), np.nan), ValueError, "must be finite"),
        (np.zeros((1, 784), dtype=complex), TypeError, "must be real"),
    ],
)
def test_feedforward_rejects_bad_input(a, error, fragment):
    net = fastnn.Network([784, 30, 10], seed=0)
    with pytest.raises(error) as info:
        validation.check_inputs(a, net.sizes[0], net.dtype)
    assert fragment in str(info.value)


def test_unscaled_pixels_warn():
    net = fastnn.Network([4, 2], seed=0)
    with pytest.warns(fastnn.DataRangeWarning, match="divide by 255"):
        net.feedforward(np.array([0.0, 128.0, 255.0, 3.0]))


# -- SGD -----------------------------------------------------------------------------------
def test_sgd_learns_and_reports_history(small, capsys):
    X, y = small
    net = fastnn.Network([6, 8, 3], seed=0)
    before = net.evaluate((X, y))
    history = net.SGD((X, y), 20, 10, 3.0, test_data=(X, y))
    assert len(history) == 20
    assert [r.epoch for r in history] == list(range(20))
    assert history[-1].test_correct == net.evaluate((X, y)) > max(before, 150)
    assert history[-1].train_cost < history[0].train_cost
    for r in history:
        assert r.n_test == 200 and r.seconds > 0 and r.samples_per_second == pytest.approx(200 / r.seconds)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"Epoch 0: {history[0].test_correct} / 200")
    assert "samples/s" in lines[0]


def test_sgd_without_test_data_prints_complete(small, capsys):
    X, y = small
    history = fastnn.Network([6, 3], seed=0).SGD((X, y), 2, 10, 1.0)
    assert capsys.readouterr().out.splitlines()[1].startswith("Epoch 1 complete")
    assert history[0].test_correct is None and history[0].accuracy is None


def test_same_seed_gives_bit_identical_weights(mnist):
    (X, y), _, _ = mnist
    runs = []
    for _ in range(2):
        net = fastnn.Network([784, 30, 10], seed=123)
        net.SGD((X[:5000], y[:5000]), 2, 10, 3.0, verbose=False)
        runs.append(net.params.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    other = fastnn.Network([784, 30, 10], seed=124)
    other.SGD((X[:5000], y[:5000]), 2, 10, 3.0, verbose=False)
    assert not np.array_equal(other.params, runs[0])


def test_every_epoch_visits_each_sample_exactly_once(small, monkeypatch):
    X, y = small
    seen = []
    real = kernels.sgd_epoch

    def spy(net, inputs, perm, m, eta, objective):
        seen.append(perm.copy())
        return real(net, inputs, perm, m, eta, objective)

    monkeypatch.setattr(kernels, "sgd_epoch", spy)
    fastnn.Network([6, 3], seed=0).SGD((X, y), 3, 7, 1.0, verbose=False)
    assert len(seen) == 3
    for perm in seen:
        np.testing.assert_array_equal(np.sort(perm), np.arange(len(X)))
    assert not np.array_equal(seen[0], seen[1])  # reshuffled every epoch


def test_sgd_matches_reference_with_the_same_shuffles(small):
    """SGD = reference epochs over the permutations drawn from the same generator."""
    X, y = small
    net = fastnn.Network([6, 5, 3], seed=4)
    weights = [np.array(w) for w in net.weights]
    biases = [np.array(b) for b in net.biases]
    rng = np.random.default_rng(4)
    for n in (5, 3):  # replay the initial draws
        rng.standard_normal(n)
    for shape in ((5, 6), (3, 5)):
        rng.standard_normal(shape)
    net.SGD((X, y), 3, 16, 2.0, verbose=False)
    for _ in range(3):
        reference.sgd_epoch(weights, biases, X, one_hot(y, 3), rng.permutation(len(X)), 16, 2.0)
    for got, want in zip(net.weights + net.biases, weights + biases):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)


def test_mini_batch_larger_than_n_is_one_batch(small):
    X, y = small
    net = fastnn.Network([6, 3], seed=0)
    weights = [np.array(w) for w in net.weights]
    biases = [np.array(b) for b in net.biases]
    net.SGD((X, y), 1, 10_000, 1.0, verbose=False)
    reference.update_mini_batch_matrix(weights, biases, X, one_hot(y, 3), 1.0)  # order is irrelevant for one batch
    for got, want in zip(net.weights + net.biases, weights + biases):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_zero_epochs_changes_nothing(small):
    X, y = small
    net = fastnn.Network([6, 3], seed=0)
    before = net.params.copy()
    assert net.SGD((X, y), 0, 10, 1.0) == []
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        (dict(eta=0.0), ValueError, "eta must be a finite number > 0, got 0.0"),
        (dict(eta=-1.0), ValueError, "eta must be a finite number > 0, got -1.0"),
        (dict(eta=float("nan")), ValueError, "eta must be a finite number > 0, got nan"),
        (dict(eta=float("inf")), ValueError, "eta must be a finite number > 0, got inf"),
        (dict(eta="3"), TypeError, "eta must be a real number"),
        (dict(mini_batch_size=0), ValueError, "mini_batch_size must be >= 1, got 0"),
        (dict(mini_batch_size=2.5), TypeError, "mini_batch_size must be an integer"),
        (dict(epochs=-1), ValueError, "epochs must be >= 0, got -1"),
        (dict(epochs=1.0), TypeError, "epochs must be an integer"),
    ],
)
def test_invalid_hyperparameters(small, kwargs, error, fragment):
    X, y = small
    args = dict(epochs=1, mini_batch_size=10, eta=1.0) | kwargs
    with pytest.raises(error) as info:
        fastnn.Network([6, 3]).SGD((X, y), **args)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "data, error, fragment",
    [
        ((np.zeros((0, 6)), np.zeros(0, dtype=int)), ValueError, "training_data is empty"),
        ((np.zeros((5, 6)), np.zeros(4, dtype=int)), ValueError, "must have the same length, got 5 and 4"),
        ((np.zeros((5, 6)), np.array([0, 1, 2, 3, 0])), ValueError,
         "y[3] = 3 is not a label of a network with 3 outputs"),
        ((np.zeros((5, 6)), np.array([0, 1, -1, 0, 0])), ValueError, "y[2] = -1"),
        ((np.zeros((5, 6)), np.array([0, 1, 0.5, 0, 0])), TypeError, "y[2] = 0.5"),
        ((np.zeros((5, 6)), np.zeros((5, 4))), ValueError, "targets of shape (5, 3)"),
        ((np.full((5, 6), np.nan), np.zeros(5, dtype=int)), ValueError, "must be finite"),
        ((np.zeros((5, 7)), np.zeros(5, dtype=int)), ValueError, "has 7 features, the network expects 6"),
        (np.zeros((5, 6)), TypeError, "must be a pair (X, y)"),
    ],
)
def test_invalid_training_data(data, error, fragment):
    net = fastnn.Network([6, 3])
    with pytest.raises(error) as info:
        net.SGD(data, 1, 10, 1.0)
    assert fragment in str(info.value)


def test_labels_as_floats_and_one_hot_are_converted(small):
    X, y = small
    nets = [fastnn.Network([6, 3], seed=0) for _ in range(3)]
    nets[0].SGD((X, y), 1, 10, 1.0, verbose=False)
    nets[1].SGD((X, y.astype(float)), 1, 10, 1.0, verbose=False)
    nets[2].SGD((X, one_hot(y, 3)), 1, 10, 1.0, verbose=False)
    for other in nets[1:]:
        np.testing.assert_array_equal(other.params, nets[0].params)
    assert nets[0].evaluate((X, one_hot(y, 3))) == nets[0].evaluate((X, y))


def test_the_books_data_format_and_one_shot_iterators(small):
    """The book's lists of (x (n, 1), one-hot y (n_out, 1)) pairs, and zip objects."""
    X, y = small
    training = [(x.reshape(6, 1), one_hot([label], 3)[0].reshape(3, 1)) for x, label in zip(X, y)]
    test_zip = zip(list(X), list(y))  # one-shot: must be evaluated in full every epoch
    net = fastnn.Network([6, 3], seed=0)
    history = net.SGD(training, 3, 10, 1.0, test_data=test_zip, verbose=False)
    assert all(r.n_test == 200 for r in history)
    assert history[-1].test_correct == net.evaluate((X, y)) > 0
    twin = fastnn.Network([6, 3], seed=0)
    twin.SGD((X, y), 3, 10, 1.0, verbose=False)
    np.testing.assert_array_equal(twin.params, net.params)
    gen = ((x, label) for x, label in zip(X, y))
    assert net.evaluate(gen) == history[-1].test_correct


def test_divergence_stops_with_a_clear_error_and_restores(monkeypatch, small):
    X, y = small
    net = fastnn.Network([6, 3], seed=0)
    net.SGD((X, y), 1, 10, 1.0, verbose=False)
    good = net.params.copy()
    real = kernels.sgd_epoch

    def poison(net, *args):
        out = real(net, *args)
        net[0][3] = np.nan  # what a diverging run leaves behind
        return out

    monkeypatch.setattr(kernels, "sgd_epoch", poison)
    with pytest.raises(FloatingPointError, match=r"diverged in epoch 0: .*eta=1000.0"):
        net.SGD((X, y), 2, 10, 1000.0, verbose=False)
    np.testing.assert_array_equal(net.params, good)


def test_huge_eta_on_unscaled_data_warns_and_never_returns_garbage():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (100, 4)).astype(float)
    y = rng.integers(0, 2, 100)
    net = fastnn.Network([4, 3, 2], seed=0)
    with pytest.warns(fastnn.DataRangeWarning):
        try:
            net.SGD((X, y), 3, 1, 1e300, verbose=False)
        except FloatingPointError as exc:
            assert "eta=1e+300" in str(exc)
    assert np.isfinite(net.params).all()


def test_update_mini_batch_returns_the_cost(small):
    X, y = small
    net = fastnn.Network([6, 3], seed=0)
    expected = reference.total_cost(net.weights, net.biases, X[:10], one_hot(y[:10], 3))
    assert net.update_mini_batch(X[:10], y[:10], 0.5) == pytest.approx(expected, rel=1e-12)


# -- learning on real MNIST ----------------------------------------------------------------
def test_learns_mnist_in_three_epochs(mnist):
    train, _, test = mnist
    net = fastnn.Network([784, 30, 10], seed=1)
    history = net.SGD(train, 3, 10, 3.0, test_data=test, verbose=False)
    assert history[-1].test_correct >= 9200  # the book: 9129, 9295, 9348 after epochs 0-2
    assert history[-1].train_cost < history[0].train_cost


@pytest.mark.slow
def test_book_run_784_30_10_reaches_95_percent(mnist):
    """The book's run (30 epochs, m = 10, eta = 3): the median peak of three seeds >= 95 %.

    The book reports one run, peaking at 95.42 %. Peaks vary with the seed (seeds 0-9
    gave 94.71 % to 95.47 %, 8 of 10 at or above 95.0 %), so the median of seeds 0, 1, 2
    is asserted.
    """
    train, _, test = mnist
    peaks = []
    for seed in (0, 1, 2):
        net = fastnn.Network([784, 30, 10], seed=seed)
        history = net.SGD(train, 30, 10, 3.0, test_data=test, verbose=False)
        peaks.append(max(r.test_correct for r in history))
    assert sorted(peaks)[1] >= 9500, peaks


@pytest.mark.slow
def test_book_run_784_100_10_can_reach_96_percent(mnist):
    """784-100-10, 30 epochs, m = 10, eta = 3 (the book: 96.59 %, "quite some variation").

    With the book's N(0, 1) initialisation many of the 100 hidden neurons start saturated,
    and runs differ widely: seeds 0-4 peaked at 96.71, 66.93, 96.67, 77.82 and 88.06 %.
    This checks that the algorithm reaches the book's level on seed 2; the spread over
    seeds is reported by ``fastnn reproduce chapter1``.
    """
    train, _, test = mnist
    net = fastnn.Network([784, 100, 10], seed=2)
    history = net.SGD(train, 30, 10, 3.0, test_data=test, verbose=False)
    assert max(r.test_correct for r in history) >= 9600


def test_online_learning_m1_learns(mnist):
    (X, y), _, test = mnist
    net = fastnn.Network([784, 30, 10], seed=2)
    history = net.SGD((X[:10000], y[:10000]), 1, 1, 0.5, test_data=test, verbose=False)
    assert history[0].test_correct >= 8000  # random guessing: 1000


# -- persistence ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_save_load_round_trip(tmp_path, dtype):
    net = fastnn.Network([5, 4, 3], seed=0, dtype=dtype)
    path = net.save(tmp_path / "model.npz")
    other = fastnn.load(path)
    assert other.sizes == net.sizes and other.dtype == net.dtype
    np.testing.assert_array_equal(other.params, net.params)
    assert os.listdir(tmp_path) == ["model.npz"]
    with np.load(path, allow_pickle=False) as npz:
        assert int(npz["format_version"]) == 2
        assert (str(npz["cost"]), str(npz["init"])) == ("quadratic", "normal")
        np.testing.assert_array_equal(npz["weights_0"], net.weights[0])


def test_save_uses_the_path_as_given(tmp_path):
    path = fastnn.Network([2, 1], seed=0).save(tmp_path / "model")
    assert path.name == "model" and path.exists()
    assert fastnn.load(path).sizes == (2, 1)


def test_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    old = fastnn.Network([2, 1], seed=0)
    old.save(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        fastnn.Network([2, 1], seed=1).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


@pytest.mark.parametrize(
    "content",
    [b"", b"\n\n", b"not a zip file at all", b"PK\x03\x04truncated"],
    ids=["empty", "newlines", "text", "torn-zip"],
)
def test_load_rejects_garbage(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(fastnn.ModelFileError, match=r"bad.npz"):
        fastnn.load(path)


def test_load_rejects_truncated_model(tmp_path):
    path = fastnn.Network([30, 20, 10], seed=0).save(tmp_path / "m.npz")
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 5):
        path.write_bytes(data[:cut])
        with pytest.raises(fastnn.ModelFileError):
            fastnn.load(path)


def test_load_rejects_foreign_and_object_npz(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(fastnn.ModelFileError, match="no 'format_version'"):
        fastnn.load(tmp_path / "other.npz")
    np.savez(tmp_path / "obj.npz", format_version=np.array(1), sizes=np.array([2, 1]),
             dtype=np.array("float64"), weights_0=np.array([None, 1], dtype=object))
    with pytest.raises(fastnn.ModelFileError, match=r"obj.npz"):
        fastnn.load(tmp_path / "obj.npz")
    path = fastnn.Network([2, 1], seed=0).save(tmp_path / "wrong.npz")
    with zipfile.ZipFile(path, "a") as z:  # an extra entry is refused, never inflated
        z.writestr("extra.npy", b"")
    unknown = r"unknown entries \['extra.npy'\] in a fastnn model file; not read"
    with pytest.raises(fastnn.ModelFileError, match=unknown):
        fastnn.load(path)


def test_load_rejects_wrong_shapes_and_versions(tmp_path):
    good = dict(format_version=np.array(1), sizes=np.array([2, 1]), dtype=np.array("float64"),
                weights_0=np.zeros((1, 2)), biases_0=np.zeros(1))
    cases = {
        "version": (dict(format_version=np.array(99)), "format version 99"),
        "shape": (dict(weights_0=np.zeros((2, 2))), "weights_0"),
        "missing": (dict(biases_0=None), "biases_0"),
        "nan": (dict(biases_0=np.array([np.nan])), "non-finite"),
        "sizes": (dict(sizes=np.array([2])), "at least two layers"),
    }
    for name, (change, fragment) in cases.items():
        arrays = {k: v for k, v in (good | change).items() if v is not None}
        np.savez(tmp_path / f"{name}.npz", **arrays)
        with pytest.raises(fastnn.ModelFileError, match=fragment):
            fastnn.load(tmp_path / f"{name}.npz")


def test_load_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastnn.load(tmp_path / "nope.npz")


# -- properties ----------------------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_MODEL_BYTES = None


def _model_bytes(tmp_path_factory):
    global _MODEL_BYTES
    if _MODEL_BYTES is None:
        path = tmp_path_factory.mktemp("model") / "m.npz"
        fastnn.Network([6, 4, 3], seed=0).save(path)
        _MODEL_BYTES = path.read_bytes()
    return _MODEL_BYTES


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_load_never_raises_anything_but_model_file_error(tmp_path_factory, data):
    """Random bytes, truncations and single-byte corruptions of a model file."""
    good = _model_bytes(tmp_path_factory)
    kind = data.draw(st.sampled_from(["random", "prefix", "flip"]))
    if kind == "random":
        content = data.draw(st.binary(max_size=2000))
    elif kind == "prefix":
        content = good[: data.draw(st.integers(0, len(good) - 1))]
    else:
        pos = data.draw(st.integers(0, len(good) - 1))
        content = good[:pos] + bytes([good[pos] ^ data.draw(st.integers(1, 255))]) + good[pos + 1 :]
    path = tmp_path_factory.mktemp("bad") / "m.npz"
    path.write_bytes(content)
    try:
        net = fastnn.load(path)
    except fastnn.ModelFileError:
        return
    # A corruption that leaves a valid model (e.g. in zip padding) must still be a sane network.
    assert net.sizes == (6, 4, 3) and np.isfinite(net.params).all()


def test_float32_network_trains_on_float64_and_uint8_data(small):
    X, y = small
    net = fastnn.Network([6, 3], seed=0, dtype="float32")
    net.SGD((X, y), 2, 10, 1.0, test_data=(X, y), verbose=False)
    assert net.params.dtype == np.float32
    net.evaluate(((X > 0.5).astype(np.uint8), y))


def test_parallel_feedforward_is_independent_of_thread_count(mnist):
    import numba

    (X, _), _, _ = mnist
    net = fastnn.Network([784, 30, 10], seed=2)
    outs = []
    default = numba.get_num_threads()
    try:
        for threads in sorted({1, default}):
            numba.set_num_threads(threads)
            out = np.empty((2000, 10))
            kernels.feedforward_parallel((net.params, net.layers), X[:2000], out, 8)
            outs.append(out)
    finally:
        numba.set_num_threads(default)
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


def test_docstring_examples():
    import doctest

    from fastnn import network

    result = doctest.testmod(network, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# -- found by a new user's trial -----------------------------------------------------------
def test_assigning_weights_copies_into_the_network():
    net = fastnn.Network([3, 2, 1], seed=0)
    net.weights = [np.zeros((2, 3)), np.ones((1, 2))]
    net.biases = [np.zeros((2, 1)), np.zeros(1)]  # the book's bias columns are accepted
    np.testing.assert_array_equal(net.feedforward(np.array([0.3, 0.1, 0.9])), [1 / (1 + np.exp(-1.0))])
    with pytest.raises(TypeError):
        net.weights[0] = np.zeros((2, 3))  # silently lost if allowed: refuse it
    with pytest.raises(ValueError, match=r"weights\[1\] must have shape \(1, 2\), got \(2, 1\)"):
        net.weights = [np.zeros((2, 3)), np.zeros((2, 1))]
    with pytest.raises(ValueError, match="biases must hold 2 arrays"):
        net.biases = [np.zeros(2)]


@pytest.mark.parametrize("seed, error, fragment", [
    (-1, ValueError, "seed must be >= 0, got -1"),
    (1.5, TypeError, "seed must be None, a non-negative integer"),
    ("7", TypeError, "seed must be None"),
])
def test_invalid_seed(seed, error, fragment):
    with pytest.raises(error) as info:
        fastnn.Network([2, 1], seed=seed)
    assert fragment in str(info.value)


def test_generator_seed_is_accepted():
    a = fastnn.Network([2, 1], seed=np.random.default_rng(3))
    b = fastnn.Network([2, 1], seed=3)
    np.testing.assert_array_equal(a.params, b.params)


def test_boolean_labels_are_rejected(small):
    X, y = small
    with pytest.raises(TypeError, match="got booleans"):
        fastnn.Network([6, 3]).evaluate((X, y > 1))


def test_feedforward_takes_the_books_column_vector():
    net = fastnn.Network([4, 3, 2], seed=0)
    x = np.array([0.1, 0.2, 0.3, 0.4])
    out = net.feedforward(x.reshape(4, 1))
    assert out.shape == (2, 1)
    np.testing.assert_array_equal(out[:, 0], net.feedforward(x))


def test_book_samples_of_the_wrong_shape_are_named(small):
    X, y = small
    bad = [(x.reshape(2, 3), label) for x, label in zip(X, y)]
    with pytest.raises(ValueError, match=r"training_data\[0\]: x must have shape \(6,\)"):
        fastnn.Network([6, 3]).SGD(bad, 1, 10, 1.0)


def test_saved_file_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = fastnn.Network([2, 1], seed=0).save(tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_save_to_a_missing_directory_or_a_directory_is_clear(tmp_path):
    net = fastnn.Network([2, 1], seed=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        net.save(tmp_path / "nope" / "m.npz")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        net.save(tmp_path)
    assert os.listdir(tmp_path) == []


def test_load_rejects_npy_and_explains_pickles(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(3))
    with pytest.raises(fastnn.ModelFileError, match=r"single .npy array"):
        fastnn.load(tmp_path / "a.npy")
    np.save(tmp_path / "o.npy", np.array([None]), allow_pickle=True)
    (tmp_path / "o.npz").write_bytes((tmp_path / "o.npy").read_bytes())
    with pytest.raises(fastnn.ModelFileError, match=r"never loads|single .npy"):
        fastnn.load(tmp_path / "o.npz")


def test_compile_kernels_can_warm_the_parallel_kernel():
    fastnn.compile_kernels("float64", parallel=True)
    assert fastnn.compile_kernels("float64", parallel=True) == 0.0
    assert fastnn.compile_kernels("float64") == 0.0


def test_compile_kernels_compiles_only_what_the_inputs_need(monkeypatch):
    import fastnn.network as network_module

    ran = []
    for name in ("sgd_epoch", "feedforward_csr", "sgd_epoch_bytes", "feedforward_csr_bytes"):
        def run(*args, name=name, pixels_per_block=None):
            ran.append(name if not pixels_per_block else f"{name} in pixel blocks")

        monkeypatch.setattr(kernels, name, run)
    monkeypatch.setattr(network_module, "_compiled", set())
    fastnn.compile_kernels("float64", inputs="bytes")  # what `fastnn train` needs
    assert ran == ["sgd_epoch_bytes", "feedforward_csr_bytes"]
    assert fastnn.compile_kernels("float64", inputs="bytes") == 0.0 and len(ran) == 2
    fastnn.compile_kernels("float64")  # both: only the values' kernels are left
    assert ran[2:] == ["sgd_epoch", "feedforward_csr"]
    assert fastnn.compile_kernels("float64", inputs="values") == 0.0 and len(ran) == 4
    fastnn.compile_kernels("float64", inputs="bytes", blocked=True)  # a wide first layer's epoch
    assert ran[4:] == ["sgd_epoch_bytes in pixel blocks"]
    assert fastnn.compile_kernels("float64", inputs="bytes", blocked=True) == 0.0 and len(ran) == 5


def test_sgd_compiles_the_kernels_of_its_data(monkeypatch):
    import fastnn.network as network_module

    asked = []
    real = network_module.compile_kernels
    monkeypatch.setattr(network_module, "compile_kernels", lambda *a, **k: asked.append(k["inputs"]) or real(*a, **k))
    X, y = small_problem()
    net = fastnn.Network([X.shape[1], 5, 3], seed=0)
    net.SGD((X, y), 1, 10, 1.0, verbose=False)
    images = fastnn.Dataset((X * 255).astype(np.uint8), y)
    net.SGD(images, 1, 10, 1.0, verbose=False)
    net.SGD(images, 1, 10, 1.0, test_data=(X, y), verbose=False)
    assert asked == ["values", "bytes", "both"]


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads to split a layer")
def test_sgd_compiles_the_pixel_block_epoch_only_when_it_will_run(monkeypatch):
    import fastnn.network as network_module

    asked = []
    real = network_module.compile_kernels
    monkeypatch.setattr(network_module, "compile_kernels", lambda *a, **k: asked.append(k["blocked"]) or real(*a, **k))
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(30, 784), dtype=np.uint8)
    data = fastnn.Dataset(pixels, rng.integers(0, 10, 30))
    wide = fastnn.Network([784, 700, 10], seed=0)  # 4.4 MB of float64 w.T: blocked when serial
    wide.SGD(data, 1, 10, 0.5, verbose=False)
    wide.SGD(data, 1, 10, 0.5, verbose=False, n_jobs=2)  # the layer is split: the split epoch runs instead
    wide.SGD(data, 1, 10, 0.5, verbose=False, lmbda=1.0)  # weight decay: row by row
    assert asked == [True, False, False]


def test_compile_kernels_refuses_unknown_inputs():
    with pytest.raises(ValueError, match=r"inputs must be one of \['both', 'bytes', 'values'\], got 'pixels'"):
        fastnn.compile_kernels("float64", inputs="pixels")


def test_params_assignment_copies_into_the_one_buffer():
    a, b = fastnn.Network([5, 4, 3], seed=0), fastnn.Network([5, 4, 3], seed=1)
    buffer = b.params
    b.params = a.params
    assert b.params is buffer and not np.shares_memory(a.params, b.params)
    np.testing.assert_array_equal(b.params, a.params)
    assert np.shares_memory(b.weights[0], b.params)
    with pytest.raises(ValueError, match=r"params must have shape \(\d+,\) .*got \(10,\)"):
        b.params = np.zeros(10)
    with pytest.raises(ValueError, match="params must be finite"):
        b.params = np.full(a.params.shape, np.nan)
    np.testing.assert_array_equal(b.params, a.params)
