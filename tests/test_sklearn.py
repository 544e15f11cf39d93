"""fastnn.sklearn: scikit-learn's own checks, the estimators in its tools, and the network inside."""

import pickle

import joblib
import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", minversion="1.6", reason="fastnn[sklearn] needs scikit-learn >= 1.6")

from sklearn.base import clone  # noqa: E402
from sklearn.compose import TransformedTargetRegressor  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks  # noqa: E402

import fastnn  # noqa: E402
from fastnn.datasets import read_idx  # noqa: E402
from fastnn.sklearn import SigmoidMLPClassifier, SigmoidMLPRegressor, expected_failed_checks  # noqa: E402


def _min_max_target(regressor):
    return TransformedTargetRegressor(regressor, transformer=MinMaxScaler(clip=True))


# The checks' data (blobs, standard normals, integers) lie outside [0, 1] on purpose: the
# network's DataRangeWarning is right to fire and is not what the checks test.
@pytest.mark.filterwarnings("ignore::fastnn.DataRangeWarning")
@parametrize_with_checks(
    [
        SigmoidMLPClassifier(),
        SigmoidMLPRegressor(),
        # Every regressor check, with targets mapped into [0, 1] (random_state set inside:
        # the checks seed only the outer estimator).
        _min_max_target(SigmoidMLPRegressor(random_state=0)),
    ],
    expected_failed_checks=lambda est: expected_failed_checks(est) if isinstance(est, SigmoidMLPRegressor) else {},
    xfail_strict=True,
)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


@pytest.mark.filterwarnings("ignore::fastnn.DataRangeWarning")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_the_regressor_fails_only_the_listed_checks_and_only_for_targets_outside_0_1():
    results = check_estimator(SigmoidMLPRegressor(), on_fail=None)
    failed = {r["check_name"]: r["exception"] for r in results if r["status"] == "failed"}
    assert set(failed) == set(expected_failed_checks(SigmoidMLPRegressor()))
    for name, exc in failed.items():
        chain = []
        while exc is not None:
            chain.append(str(exc))
            exc = exc.__cause__ or exc.__context__
        assert any("outside [0, 1]" in text for text in chain), (name, chain)
    assert expected_failed_checks(SigmoidMLPClassifier()) == {}


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0.2, 0.2, 0.8], [0.8, 0.3, 0.2], [0.4, 0.9, 0.5]])
    labels = rng.integers(0, 3, 300)
    X = np.clip(centres[labels] + 0.08 * rng.standard_normal((300, 3)), 0, 1)
    return X, labels


@pytest.fixture(scope="module")
def mnist_5000(mnist_dir):
    images = read_idx(mnist_dir / "train-images-idx3-ubyte.gz")[:5000]
    labels = read_idx(mnist_dir / "train-labels-idx1-ubyte.gz")[:5000]
    return images.reshape(5000, 784), labels.astype(np.int64)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fit_trains_exactly_the_network_sgd_trains(blobs, dtype):
    X, labels = blobs
    names = np.array(["cat", "dog", "emu"])
    clf = SigmoidMLPClassifier((7,), eta=2.0, mini_batch_size=8, epochs=3, dtype=dtype, random_state=4)
    clf.fit(X, names[labels])
    net = fastnn.Network([3, 7, 3], seed=4, dtype=dtype)
    history = net.SGD((X, labels), 3, 8, 2.0, verbose=False)
    np.testing.assert_array_equal(clf.network_.params, net.params)
    assert clf.n_iter_ == 3 and clf.loss_curve_ == [r.train_cost for r in history]
    np.testing.assert_array_equal(clf.predict(X), names[np.argmax(net.feedforward(X), axis=1)])
    assert list(clf.classes_) == ["cat", "dog", "emu"] and clf.n_features_in_ == 3


@pytest.mark.parametrize("Estimator", [SigmoidMLPClassifier, SigmoidMLPRegressor])
def test_network2_options_train_exactly_what_the_network_trains(blobs, Estimator):
    X, labels = blobs
    y = labels if Estimator is SigmoidMLPClassifier else labels / 2.0
    est = Estimator((7,), eta=0.5, mini_batch_size=8, epochs=3, random_state=4, cost="cross-entropy",
                    init="scaled", lmbda=5.0).fit(X, y)
    n_out = 3 if Estimator is SigmoidMLPClassifier else 1
    net = fastnn.Network([3, 7, n_out], seed=4, cost="cross-entropy", init="scaled")
    net.SGD((X, labels if n_out == 3 else y.reshape(-1, 1)), 3, 8, 0.5, lmbda=5.0, verbose=False)
    np.testing.assert_array_equal(est.network_.params, net.params)
    assert est.network_.cost_name == "cross-entropy"
    with pytest.raises(ValueError, match=r"cost='quadratic'.* must .*'cross-entropy'"):
        est.set_params(cost="quadratic", warm_start=True).fit(X, y)


def test_string_labels_probabilities_and_score(blobs):
    X, labels = blobs
    y = np.array(["b", "a", "c"])[labels]
    clf = SigmoidMLPClassifier((10,), epochs=20, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (300, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(clf.classes_[np.argmax(proba, axis=1)], clf.predict(X))
    assert clf.score(X, y) > 0.95


def test_partial_fit_is_one_epoch_and_continues_like_fit(blobs):
    X, labels = blobs
    fitted = SigmoidMLPClassifier((5,), epochs=3, random_state=1).fit(X, labels)
    incremental = SigmoidMLPClassifier((5,), random_state=1)
    for _ in range(3):
        incremental.partial_fit(X, labels, classes=[0, 1, 2])
    np.testing.assert_array_equal(incremental.network_.params, fitted.network_.params)
    assert incremental.n_iter_ == 3


def test_partial_fit_classes_rules(blobs):
    X, labels = blobs
    clf = SigmoidMLPClassifier((5,), random_state=1)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, labels)
    clf.partial_fit(X[labels < 2], labels[labels < 2], classes=[0, 1, 2, 3])  # 3 not seen yet: fine
    assert clf.network_.sizes == (3, 5, 4)
    with pytest.raises(ValueError, match="not one of the classes"):
        clf.partial_fit(X[:3], [0, 1, 7])
    with pytest.raises(ValueError, match="classes must equal classes_"):
        clf.partial_fit(X, labels, classes=[0, 1])


def test_warm_start_continues_the_network(blobs):
    X, labels = blobs
    two = SigmoidMLPClassifier((5,), epochs=2, random_state=3).fit(X, labels)
    warm = SigmoidMLPClassifier((5,), epochs=1, random_state=3, warm_start=True).fit(X, labels)
    warm.fit(X, labels)
    np.testing.assert_array_equal(warm.network_.params, two.network_.params)
    cold = SigmoidMLPClassifier((5,), epochs=1, random_state=3).fit(X, labels).fit(X, labels)
    assert cold.n_iter_ == 1
    with pytest.raises(ValueError, match="must hold the classes of the previous fit"):
        warm.fit(X[labels < 2], labels[labels < 2])
    with pytest.raises(ValueError, match="must match the fitted network"):
        warm.set_params(hidden_layer_sizes=(6,)).fit(X, labels)


@pytest.mark.parametrize(
    "params, error, fragment",
    [
        ({"hidden_layer_sizes": (30, 0)}, ValueError, r"hidden_layer_sizes\[1\] must be >= 1"),
        ({"hidden_layer_sizes": "30"}, TypeError, "hidden_layer_sizes must be an integer or a sequence"),
        ({"hidden_layer_sizes": (2.5,)}, TypeError, r"hidden_layer_sizes\[0\] must be an integer"),
        ({"eta": 0.0}, ValueError, "eta must be a finite number > 0"),
        ({"epochs": 0}, ValueError, "epochs must be >= 1"),
        ({"mini_batch_size": 1.5}, TypeError, "mini_batch_size must be an integer"),
        ({"dtype": "float16"}, ValueError, "dtype must be 'float32' or 'float64'"),
        ({"cost": "hinge"}, ValueError, "cost must be one of"),
        ({"init": "zeros"}, ValueError, "init must be one of"),
        ({"lmbda": -1.0}, ValueError, "lmbda"),
    ],
)
def test_invalid_hyperparameters_are_named(blobs, params, error, fragment):
    with pytest.raises(error, match=fragment):
        SigmoidMLPClassifier(**params).fit(*blobs)


def test_feature_names_from_a_dataframe(blobs):
    pd = pytest.importorskip("pandas")
    X, labels = blobs
    frame = pd.DataFrame(X, columns=["red", "green", "blue"])
    clf = SigmoidMLPClassifier((4,), epochs=1, random_state=0).fit(frame, labels)
    assert list(clf.feature_names_in_) == ["red", "green", "blue"]
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame[["blue", "green", "red"]])


def test_pipeline_grid_search_on_5000_mnist_images(mnist_5000):
    X, y = mnist_5000
    X_train, y_train, X_test, y_test = X[:4000], y[:4000], X[4000:], y[4000:]
    # clip=True: pixels a training fold never lit are scaled by 1, not into [0, 1], on unseen data.
    pipe = make_pipeline(MinMaxScaler(clip=True), SigmoidMLPClassifier(epochs=3, random_state=0))
    grid = {"sigmoidmlpclassifier__hidden_layer_sizes": [(10,), (30,)], "sigmoidmlpclassifier__eta": [0.3, 3.0]}
    search = GridSearchCV(pipe, grid, cv=2).fit(X_train, y_train)
    assert search.cv_results_["mean_test_score"].shape == (4,)
    assert search.best_params_["sigmoidmlpclassifier__eta"] == 3.0  # 0.3 is far too slow for 3 epochs
    # Chance is 0.1; the book's net after 3 epochs on 4,000 images: about 0.8 here.
    assert search.score(X_test, y_test) > 0.7
    scores = cross_val_score(search.best_estimator_, X_train, y_train, cv=2)
    assert scores.shape == (2,) and scores.min() > 0.6


def test_clone_pickle_and_joblib_keep_predictions(blobs, tmp_path):
    X, labels = blobs
    clf = SigmoidMLPClassifier((6,), epochs=4, random_state=2).fit(X, labels)
    again = clone(clf).fit(X, labels)
    np.testing.assert_array_equal(again.network_.params, clf.network_.params)
    joblib.dump(clf, tmp_path / "clf.joblib")
    for copy in (pickle.loads(pickle.dumps(clf)), joblib.load(tmp_path / "clf.joblib")):
        np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
        copy.partial_fit(X, labels)
        clf_next = pickle.loads(pickle.dumps(clf)).partial_fit(X, labels)
        np.testing.assert_array_equal(copy.network_.params, clf_next.network_.params)


def test_regressor_fits_targets_in_0_1_and_multi_output():
    rng = np.random.default_rng(0)
    X = rng.random((400, 2))
    Y = np.column_stack([(X[:, 0] + X[:, 1]) / 2, X[:, 0] * X[:, 1]])
    reg = SigmoidMLPRegressor((10,), eta=1.0, epochs=30, random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (400, 2) and reg.n_outputs_ == 2
    assert reg.score(X, Y) > 0.9
    one = SigmoidMLPRegressor((10,), eta=1.0, epochs=30, random_state=0).fit(X, Y[:, 0])
    assert one.predict(X).shape == (400,)
    net = fastnn.Network([2, 10, 1], seed=0)
    net.SGD((X, Y[:, :1]), 30, 10, 1.0, verbose=False)
    np.testing.assert_array_equal(one.network_.params, net.params)


def test_regressor_refuses_targets_outside_0_1_and_the_wrapper_fits_them():
    rng = np.random.default_rng(1)
    X = rng.random((300, 2))
    y = 40 * X[:, 0] - 7
    with pytest.raises(ValueError, match=r"y\[\d+\] = .* is outside \[0, 1\].*TransformedTargetRegressor"):
        SigmoidMLPRegressor().fit(X, y)
    wrapped = _min_max_target(SigmoidMLPRegressor((10,), eta=1.0, random_state=0)).fit(X, y)
    assert wrapped.score(X, y) > 0.95


def test_unscaled_inputs_warn_as_the_network_does(blobs):
    X, labels = blobs
    with pytest.warns(fastnn.DataRangeWarning, match="outside"):
        SigmoidMLPClassifier((4,), epochs=1, random_state=0).fit(255 * X, labels)


def test_early_stopping_trains_what_sgd_with_early_stopping_trains(blobs):
    from sklearn.model_selection import train_test_split

    X, labels = blobs
    clf = SigmoidMLPClassifier((5,), eta=3.0, epochs=200, early_stopping=True, n_iter_no_change=3, random_state=0)
    clf.fit(X, labels)
    X_train, X_val, y_train, y_val = train_test_split(X, labels, test_size=0.1, random_state=0, stratify=labels)
    net = fastnn.Network([3, 5, 3], seed=0)
    stop = fastnn.EarlyStopping("evaluation_accuracy", patience=3)
    history = net.SGD((X_train, y_train), 200, 10, 3.0, evaluation_data=(X_val, y_val), callbacks=[stop], verbose=False)
    assert clf.n_iter_ == len(history) < 200
    np.testing.assert_array_equal(clf.network_.params, net.params)  # the best epoch's, restored
    assert clf.best_epoch_ == stop.best_epoch and clf.best_validation_score_ == stop.best
    assert clf.validation_scores_ == [r.evaluation_accuracy for r in history]


@pytest.mark.parametrize(
    "params, error, fragment",
    [
        ({"validation_fraction": 1.0}, ValueError, r"validation_fraction must be in \(0, 1\)"),
        ({"validation_fraction": "0.1"}, TypeError, "validation_fraction must be a real number"),
        ({"n_iter_no_change": 0}, ValueError, "n_iter_no_change must be >= 1"),
    ],
)
def test_invalid_early_stopping_settings(blobs, params, error, fragment):
    with pytest.raises(error, match=fragment):
        SigmoidMLPClassifier(early_stopping=True, **params).fit(*blobs)
