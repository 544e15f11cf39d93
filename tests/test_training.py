"""The training loop: monitors, callbacks, early stopping, progress, predictions, Ctrl-C."""

import os
import re
import signal
import threading

import numpy as np
import pytest

import fastnn
from fastnn import training
from fastnn.training import EpochResult


@pytest.fixture(autouse=True)
def default_sigint():
    """Python's own SIGINT handler for every test here, as in a terminal: a runner started
    in the background (``cmd &``, nohup) inherits SIGINT ignored, and fastnn leaves an
    ignored or custom SIGINT alone."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def problem():
    """A small learnable problem split three ways: 300 / 100 / 100 samples of 6 features, 3 classes."""
    rng = np.random.default_rng(0)
    X = rng.random((500, 6))
    y = np.argmax(X[:, :3] + 0.3 * X[:, 3:], axis=1)
    return (X[:300], y[:300]), (X[300:400], y[300:400]), (X[400:], y[400:])


def _result(epoch, test_correct=None, n_test=None, **values):
    return EpochResult(epoch=epoch, test_correct=test_correct, n_test=n_test, train_cost=1.0, seconds=1.0,
                       samples_per_second=1.0, eval_seconds=0.0, **values)


def _scripted(callback, net, values, name="evaluation_accuracy"):
    """Drive ``callback`` as SGD would over epochs whose ``name`` takes ``values``; the
    network's parameters are set to a distinct random state before each epoch's result.

    Returns the epochs run (the stopping one included) and every epoch's parameters."""
    history = training.History()
    callback.on_train_begin(net, history)
    params = []
    for epoch, value in enumerate(values):
        net.params = np.random.default_rng(epoch).standard_normal(net.params.shape) * (net.params != 0)
        params.append(net.params.copy())
        history.append(_result(epoch, **{name: value}))
        if callback.on_epoch_end(net, history[-1]):
            break
    callback.on_train_end(net, history)
    return len(history), params


# -- early stopping -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "values, patience, min_delta, mode, name, stop_epoch, best_epoch",
    [
        # best 0.65 at epoch 3; epochs 4, 5 (equal is no improvement), 6 do not improve: stop after 6
        ([0.5, 0.6, 0.6, 0.65, 0.64, 0.65, 0.63, 0.62, 0.7], 3, 0.0, "auto", "evaluation_accuracy", 6, 3),
        # patience 0 stops at the first epoch that does not improve
        ([0.5, 0.6, 0.55, 0.9], 0, 0.0, "auto", "evaluation_accuracy", 2, 1),
        # min_delta = 1/16: epoch 1's +1/32 is no improvement, epoch 2's +1/8 over epoch 0 is
        ([0.5, 0.53125, 0.625, 0.65625, 0.6875, 0.5], 2, 0.0625, "auto", "evaluation_accuracy", 4, 2),
        # a cost: lower is better
        ([0.9, 0.5, 0.4, 0.45, 0.41, 0.39], 2, 0.0, "auto", "evaluation_cost", 4, 2),
        # never stops: the best is restored at the end anyway
        ([0.5, 0.7, 0.6], 5, 0.0, "max", "training_accuracy", None, 1),
    ],
)
def test_early_stopping_on_a_scripted_history(values, patience, min_delta, mode, name, stop_epoch, best_epoch):
    net = fastnn.Network([4, 3, 2], seed=0)
    stop = fastnn.EarlyStopping(monitor=name, patience=patience, min_delta=min_delta, mode=mode)
    n_run, params = _scripted(stop, net, values, name)
    assert n_run == (len(values) if stop_epoch is None else stop_epoch + 1)
    assert stop.stopped_epoch == stop_epoch
    assert stop.best_epoch == best_epoch and stop.best == values[best_epoch]
    np.testing.assert_array_equal(net.params, params[best_epoch])  # bit for bit
    assert stop.restored == (best_epoch != n_run - 1)


def test_early_stopping_without_restore_keeps_the_last_parameters():
    net = fastnn.Network([4, 3, 2], seed=0)
    stop = fastnn.EarlyStopping(patience=1, restore_best=False)
    n_run, params = _scripted(stop, net, [0.5, 0.7, 0.6, 0.9])
    assert n_run == 3
    np.testing.assert_array_equal(net.params, params[-1])


def test_early_stopping_in_sgd_stops_where_the_full_history_says(problem):
    train, validation, _ = problem
    epochs, patience = 60, 3
    full_net = fastnn.Network([6, 5, 3], seed=3)
    trajectory = []
    full = full_net.SGD(train, epochs, 10, 0.5, evaluation_data=validation, verbose=False,
                        callbacks=[lambda net, result: trajectory.append(net.params.copy())])
    acc = [r.evaluation_accuracy for r in full]
    best, best_epoch, expected = -1.0, None, None
    for epoch, a in enumerate(acc):  # the rule, restated independently
        if a > best:
            best, best_epoch = a, epoch
        elif epoch - best_epoch >= patience:
            expected = epoch
            break
    assert expected is not None, "the scripted run must plateau for this test to mean anything"

    net = fastnn.Network([6, 5, 3], seed=3)
    stop = fastnn.EarlyStopping("evaluation_accuracy", patience=patience)
    history = net.SGD(train, epochs, 10, 0.5, evaluation_data=validation, callbacks=[stop], verbose=False)
    assert len(history) == expected + 1 and stop.stopped_epoch == expected
    assert history.stopped_by.startswith("EarlyStopping: evaluation_accuracy did not improve")
    assert [r.evaluation_accuracy for r in history] == acc[: expected + 1]
    np.testing.assert_array_equal(net.params, trajectory[best_epoch])


def test_early_stopping_needs_its_data(problem):
    train, _, test = problem
    net = fastnn.Network([6, 5, 3], seed=0)
    with pytest.raises(ValueError, match=r"EarlyStopping\(monitor='evaluation_accuracy'.* no evaluation_data"):
        net.SGD(train, 2, 10, 1.0, test_data=test, callbacks=[fastnn.EarlyStopping()], verbose=False)


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"monitor": "accuracy"}, ValueError, "monitor must be one of"),
        ({"patience": -1}, ValueError, "patience must be >= 0, got -1"),
        ({"patience": 1.5}, TypeError, "patience must be an integer"),
        ({"min_delta": -0.1}, ValueError, "min_delta must be a finite number >= 0"),
        ({"mode": "up"}, ValueError, "mode must be 'auto', 'min' or 'max'"),
    ],
)
def test_early_stopping_rejects_bad_arguments(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        fastnn.EarlyStopping(**kwargs)


# -- callbacks ----------------------------------------------------------------------------
class Recorder(fastnn.Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, net, history):
        self.calls.append(("begin", len(history)))

    def on_epoch_begin(self, net, epoch, eta):
        self.calls.append(("epoch_begin", epoch, eta))

    def on_epoch_end(self, net, result):
        self.calls.append(("epoch_end", result))

    def on_train_end(self, net, history):
        self.calls.append(("end", len(history)))


def test_callbacks_see_every_epoch_in_order(problem):
    train, validation, _ = problem
    recorder, seen = Recorder(), []
    net = fastnn.Network([6, 5, 3], seed=0)
    history = net.SGD(train, 4, 10, 1.0, evaluation_data=validation, verbose=False,
                      callbacks=[recorder, lambda net_, result: seen.append((net_, result))])
    assert recorder.calls[0] == ("begin", 0) and recorder.calls[-1] == ("end", 4)
    middle = recorder.calls[1:-1]
    assert [c[0] for c in middle] == ["epoch_begin", "epoch_end"] * 4
    assert [c[1] for c in middle[::2]] == [0, 1, 2, 3] and all(c[2] == 1.0 for c in middle[::2])
    assert [c[1] for c in middle[1::2]] == list(history)
    assert [r for _, r in seen] == list(history) and all(n is net for n, _ in seen)


def test_a_callback_returning_true_stops_training(problem):
    train, _, _ = problem
    net = fastnn.Network([6, 5, 3], seed=0)
    history = net.SGD(train, 10, 10, 1.0, verbose=False, callbacks=[lambda net, r: r.epoch == 2])
    assert len(history) == 3 and "from a callback" in history.stopped_by
    twin = fastnn.Network([6, 5, 3], seed=0)
    twin.SGD(train, 3, 10, 1.0, verbose=False)
    np.testing.assert_array_equal(net.params, twin.params)


def test_callbacks_must_be_callbacks(problem):
    net = fastnn.Network([6, 5, 3], seed=0)
    with pytest.raises(TypeError, match=r"callbacks\[1\] must be a fastnn.Callback or a function"):
        net.SGD(problem[0], 1, 10, 1.0, callbacks=[lambda n, r: None, 3], verbose=False)


def test_model_checkpoint_saves_the_best_network(problem, tmp_path):
    train, validation, _ = problem
    path = tmp_path / "best.npz"
    trajectory = []
    checkpoint = fastnn.ModelCheckpoint(path, monitor="evaluation_accuracy")
    net = fastnn.Network([6, 5, 3], seed=1)
    history = net.SGD(train, 12, 10, 0.5, evaluation_data=validation, verbose=False,
                      callbacks=[lambda n, r: trajectory.append(n.params.copy()), checkpoint])
    acc = [r.evaluation_accuracy for r in history]
    best = int(np.argmax(acc))  # the first epoch reaching the maximum
    assert checkpoint.best_epoch == best and checkpoint.saved_epochs[-1] == best
    assert checkpoint.saved_epochs == [e for e in range(len(acc)) if acc[e] > max(acc[:e], default=-1)]
    np.testing.assert_array_equal(fastnn.load(path).params, trajectory[best])
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left behind


def test_reduce_eta_on_plateau_halves_eta_and_stops_at_min_eta():
    net = fastnn.Network([4, 3, 2], seed=0)
    schedule = fastnn.ReduceEtaOnPlateau(factor=0.5, patience=2, min_eta=0.5)
    history = training.History()
    schedule.on_train_begin(net, history)
    etas, values = [], [0.5, 0.6, 0.6, 0.6, 0.7, 0.7, 0.7, 0.7, 0.7]
    for epoch, value in enumerate(values):
        etas.append(schedule.on_epoch_begin(net, epoch, 2.0))
        if schedule.on_epoch_end(net, _result(epoch, evaluation_accuracy=value)):
            break
    # plateau after epoch 3 (epochs 2, 3 no better than 1): eta 2 -> 1; after epoch 6: 1 -> 0.5;
    # after epoch 8 it would fall to 0.25 < min_eta: stop.
    assert etas == [2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 0.5, 0.5]
    assert schedule.reductions == [(3, 1.0), (6, 0.5)] and epoch == 8


def test_reduce_eta_in_sgd_records_eta(problem):
    train, validation, _ = problem
    net = fastnn.Network([6, 5, 3], seed=0)
    schedule = fastnn.ReduceEtaOnPlateau(patience=1, factor=0.5)
    history = net.SGD(train, 15, 10, 4.0, evaluation_data=validation, callbacks=[schedule], verbose=False)
    etas = [r.eta for r in history]
    assert etas[0] == 4.0
    reductions = [(epoch, eta) for epoch, eta in schedule.reductions if epoch + 1 < len(history)]
    assert reductions, "the run must plateau for this test to mean anything"
    expected = [4.0 * 0.5 ** sum(e < epoch for e, _ in reductions) for epoch in range(len(history))]
    assert etas == expected


# -- monitors -----------------------------------------------------------------------------
def test_monitored_numbers_equal_evaluate_and_cost(problem):
    train, validation, test = problem
    checks = []

    def check(net, r):
        checks.append(r.epoch)
        assert r.training_accuracy == net.evaluate(train) / len(train[1])
        assert r.evaluation_accuracy == net.evaluate(validation) / len(validation[1])
        assert r.test_correct == net.evaluate(test) and r.test_accuracy == r.test_correct / len(test[1])
        assert r.training_cost == net.cost(train)
        assert r.evaluation_cost == net.cost(validation)
        assert r.test_cost == net.cost(test)

    net = fastnn.Network([6, 5, 3], seed=0)
    history = net.SGD(train, 3, 10, 1.0, test_data=test, evaluation_data=validation, verbose=False,
                      monitor=training.MONITORS, callbacks=[check])
    assert checks == [0, 1, 2]
    assert set(history.measured()) == set(training.MONITORS)
    columns = history.to_dict()
    assert columns["epoch"] == [0, 1, 2] and columns["evaluation_cost"] == [r.evaluation_cost for r in history]
    np.testing.assert_array_equal(history.column("test_accuracy"), [r.test_accuracy for r in history])


def test_only_what_is_asked_is_measured(problem):
    train, validation, _ = problem
    net = fastnn.Network([6, 5, 3], seed=0)
    history = net.SGD(train, 2, 10, 1.0, evaluation_data=validation, monitor=("training_cost",), verbose=False)
    assert history.measured() == ("training_cost", "evaluation_accuracy")
    assert np.isnan(history.column("test_accuracy")).all()
    assert history[0].test_correct is None and history[0].evaluation_cost is None


@pytest.mark.parametrize(
    "monitor, error, fragment",
    [
        (("evaluation_cost",), ValueError, "monitor asks for 'evaluation_cost', but SGD was given no evaluation_data"),
        (("test_accuracy",), ValueError, "no test_data"),
        (("validation_accuracy",), ValueError, "monitor entries must be names from training_accuracy"),
        (3, TypeError, "monitor must be a tuple of names"),
    ],
)
def test_bad_monitors_fail_before_training(problem, monitor, error, fragment):
    net = fastnn.Network([6, 5, 3], seed=0)
    before = net.params.copy()
    with pytest.raises(error, match=fragment):
        net.SGD(problem[0], 1, 10, 1.0, monitor=monitor, verbose=False)
    np.testing.assert_array_equal(net.params, before)


def test_training_accuracy_needs_labels(problem):
    X, _y = problem[0]
    net = fastnn.Network([6, 5, 3], seed=0)
    with pytest.raises(ValueError, match="training_accuracy' needs training_data y as integer labels"):
        net.SGD((X, np.full((len(X), 3), 0.5)), 1, 10, 1.0, monitor=("training_accuracy",), verbose=False)


# -- chunks within an epoch ---------------------------------------------------------------
@pytest.mark.parametrize("mini_batch_size, chunk", [(1, 7), (10, 25), (7, 7), (10, 10**9)])
def test_chunked_epochs_equal_one_kernel_call(problem, monkeypatch, mini_batch_size, chunk):
    train, _, _ = problem
    runs = {}
    for samples in (10**9, chunk):  # one call per epoch, then chunks of whole mini-batches
        monkeypatch.setattr(training, "CHUNK_SAMPLES", samples)
        net = fastnn.Network([6, 5, 3], seed=0)
        runs[samples] = net.params, net.SGD(train, 3, mini_batch_size, 1.0, verbose=False)
    (one, h_one), (chunked, h_chunked) = runs[10**9], runs[chunk]
    np.testing.assert_array_equal(chunked, one)
    assert [r.train_cost for r in h_chunked] == pytest.approx([r.train_cost for r in h_one], rel=1e-14)


# -- predictions --------------------------------------------------------------------------
def test_predict_is_argmax_of_feedforward(problem):
    X, _ = problem[0]
    net = fastnn.Network([6, 5, 3], seed=0)
    net.SGD(problem[0], 2, 10, 1.0, verbose=False)
    out = net.feedforward(X)
    labels = net.predict(X)
    np.testing.assert_array_equal(labels, np.argmax(out, axis=1))
    assert labels.dtype == np.int64 and net.predict(X[3]) == labels[3]
    proba = net.predict_proba(X)
    np.testing.assert_allclose(proba, out / out.sum(axis=1, keepdims=True), rtol=1e-15)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_array_equal(np.argmax(proba, axis=1), labels)
    np.testing.assert_array_equal(net.predict_proba(X[3]), proba[3])
    assert net.evaluate(problem[0]) == np.count_nonzero(labels == problem[0][1])


def test_predict_with_one_output_thresholds_at_one_half():
    net = fastnn.Network([2, 1], seed=0)
    X = np.random.default_rng(1).random((50, 2))
    a = net.feedforward(X)[:, 0]
    np.testing.assert_array_equal(net.predict(X), (a >= 0.5).astype(int))
    np.testing.assert_allclose(net.predict_proba(X), np.column_stack([1 - a, a]), rtol=1e-15)


def test_predict_validates_its_input():
    net = fastnn.Network([6, 5, 3], seed=0)
    with pytest.raises(ValueError, match="X has 5 features, the network expects 6"):
        net.predict(np.zeros((2, 5)))


# -- progress -----------------------------------------------------------------------------
def test_lines_of_threads_never_run_together(problem, capsys):
    train, validation, _ = problem
    nets = [fastnn.Network([6, 5, 3], seed=s) for s in range(4)]
    fastnn.train_many(nets, train, 5, 1, 1.0, evaluation_data=validation, verbose="lines", n_jobs=2)
    lines = capsys.readouterr().out.splitlines()
    pattern = re.compile(r"\[network [0-3]\] Epoch [0-4] complete, evaluation accuracy \d+\.\d\d %  "
                         r"\(\d+\.\d{3} s, [\d,]+ samples/s\)")
    assert len(lines) == 20 and all(pattern.fullmatch(line) for line in lines), lines


def test_verbose_modes(problem, capsys):
    train, _, test = problem
    net = fastnn.Network([6, 5, 3], seed=0)
    net.SGD(train, 2, 10, 1.0, test_data=test, verbose="bar")
    out, err = capsys.readouterr()
    assert out == "" and "SGD: 100%" in err and "600/600 samples" in err and "epoch 2/2" in err
    net.SGD(train, 2, 10, 1.0, test_data=test)  # True, not a terminal: lines only
    out, err = capsys.readouterr()
    assert re.match(r"Epoch 0: \d+ / 100  \(", out) and len(out.splitlines()) == 2 and err == ""
    net.SGD(train, 2, 10, 1.0, verbose=False)
    assert capsys.readouterr() == ("", "")
    with pytest.raises(ValueError, match="verbose must be True, False, 'lines' or 'bar', got 'loud'"):
        net.SGD(train, 2, 10, 1.0, verbose="loud")


# -- Ctrl-C -------------------------------------------------------------------------------
def _replay(sizes, seed, data, epochs, mini_batch_size, eta):
    net = fastnn.Network(sizes, seed=seed)
    net.SGD(data, epochs, mini_batch_size, eta, verbose=False)
    return net


def test_ctrl_c_in_sgd_stops_after_the_epoch_and_keeps_the_history(problem):
    train, _, test = problem

    def interrupt(net, result):
        if result.epoch == 2:
            os.kill(os.getpid(), signal.SIGINT)

    net = fastnn.Network([6, 5, 3], seed=0)
    with pytest.raises(fastnn.TrainingInterrupted) as info:
        net.SGD(train, 50, 10, 1.0, test_data=test, callbacks=[interrupt], verbose=False)
    history = info.value.history
    assert isinstance(info.value, KeyboardInterrupt)
    assert len(history) == 3 and history.interrupted and history.stopped_by == "interrupted"
    np.testing.assert_array_equal(net.params, _replay([6, 5, 3], 0, train, 3, 10, 1.0).params)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler put back
    # The generator is where three epochs leave it: two more epochs continue the same run.
    net.SGD(train, 2, 10, 1.0, verbose=False)
    np.testing.assert_array_equal(net.params, _replay([6, 5, 3], 0, train, 5, 10, 1.0).params)


def test_ctrl_c_stops_train_many_at_whole_epochs(problem, monkeypatch):
    """SIGINT from another thread while four networks train: each stops within its epoch
    (chunks of 5 samples here, so most are caught mid-epoch and put back), finite, at
    exactly the parameters of its number of whole epochs."""
    train, _, _ = problem
    monkeypatch.setattr(training, "CHUNK_SAMPLES", 5)
    started = threading.Event()
    real = training.Progress.epoch_done

    def epoch_done(self, *args, **kwargs):
        started.set()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(training.Progress, "epoch_done", epoch_done)

    def send():
        started.wait()
        os.kill(os.getpid(), signal.SIGINT)

    sender = threading.Thread(target=send)
    sender.start()
    epochs = 100_000  # hours: only the interrupt ends this test
    specs = [([6, 5, 3], 0), ([6, 8, 3], 1), ([6, 3], 2), ([6, 5, 4, 3], 3)]
    nets = [fastnn.Network(sizes, seed=seed) for sizes, seed in specs]
    with pytest.raises(fastnn.TrainingInterrupted) as info:
        fastnn.train_many(nets, train, epochs, 1, 0.5, n_jobs=2)
    sender.join()
    histories = info.value.histories
    assert info.value.history is None and len(histories) == 4
    for (sizes, seed), net, history in zip(specs, nets, histories):
        assert history.interrupted and len(history) < epochs
        assert np.isfinite(net.params).all()
        np.testing.assert_array_equal(net.params, _replay(sizes, seed, train, len(history), 1, 0.5).params)


# -- command line -------------------------------------------------------------------------
def test_cli_train_with_validation_early_stopping_and_plot(mnist_dir, tmp_path, capsys):
    import json

    from matplotlib.image import imread

    from fastnn import cli

    plot, history_file = tmp_path / "curves.png", tmp_path / "h.json"
    code = cli.main(["train", "--sizes", "784,10,10", "--epochs", "2", "--seed", "1", "--data-dir", str(mnist_dir),
                     "--validation", "--early-stopping", "5", "--monitor", "training_cost",
                     "--plot", str(plot), "--json", str(history_file)])
    out = capsys.readouterr().out
    assert code == 0
    assert "50,000 training, 10,000 validation and 10,000 test images" in out
    assert re.search(r"Epoch 0: \d+ / 10000, training cost 0\.\d{4}, evaluation accuracy \d+\.\d\d %", out)
    assert f"Wrote the learning curves to {plot}" in out
    assert imread(plot).shape[1] > 500
    saved = json.loads(history_file.read_text())
    assert len(saved["history"]) == 2 and saved["interrupted"] is False
    assert all(r["evaluation_accuracy"] is not None and r["training_cost"] is not None for r in saved["history"])


def test_cli_train_interrupted_still_saves(mnist_dir, mnist, tmp_path, capsys, monkeypatch):
    from fastnn import cli

    real = training.Progress.epoch_done

    def epoch_done(self, result, *args, **kwargs):
        real(self, result, *args, **kwargs)
        if result.epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C during the third epoch's start

    monkeypatch.setattr(training.Progress, "epoch_done", epoch_done)
    model = tmp_path / "net.npz"
    code = cli.main(["train", "--sizes", "784,10,10", "--epochs", "30", "--seed", "2", "--data-dir", str(mnist_dir),
                     "--save", str(model)])
    out = capsys.readouterr().out
    assert code == 130
    assert "Interrupted after 2 whole epochs" in out and f"Saved the network to {model}" in out
    train, _, _ = mnist
    np.testing.assert_array_equal(fastnn.load(model).params, _replay([784, 10, 10], 2, train, 2, 10, 3.0).params)


def test_reproduce_interrupted_keeps_the_epochs_done(monkeypatch, capsys, tmp_path):
    """Ctrl-C in the first experiment: its rows hold the epochs every seed finished, the
    rest is skipped, the table is still printed and the plot still drawn (exit 130)."""
    import argparse

    from fastnn.book import reproduce

    def interrupted_train_many(nets, *args, **kwargs):
        histories = [training.History(_result(e, test_correct=9000 + e + s, n_test=10_000) for e in range(k))
                     for s, k in enumerate((3, 2))]
        raise fastnn.TrainingInterrupted(histories, single=False)

    monkeypatch.setattr(reproduce, "train_many", interrupted_train_many)
    monkeypatch.setattr(reproduce, "compile_kernels", lambda dtype: 0.0)
    monkeypatch.setattr(reproduce, "_environment", dict)  # (it imports scikit-learn: seconds)
    fake = ((np.zeros((2, 784)), np.zeros(2, int)), None, (np.zeros((10_000, 784)), np.zeros(10_000, int)))
    monkeypatch.setattr(reproduce, "load_mnist", lambda *a, **k: fake)
    parser = argparse.ArgumentParser()
    reproduce.register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["reproduce", "chapter1", "--seeds", "0", "1", "--plot", str(tmp_path / "figs")])
    assert args.func(args) == 130
    out = capsys.readouterr().out
    assert "| accuracy after epoch 0 | 91.29 | 90.00 (90.00–90.01) | 0, 1 | interrupted after 2 epochs;" in out
    assert re.search(r"peak accuracy over 30 epochs \| 95.42 \| 90.0\d \(90.01–90.02\) \| 0, 1 \| interrupted", out)
    assert "average darkness" not in out
    assert (tmp_path / "figs" / "chapter1.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "--early-stopping", "3"], "--early-stopping watches the validation accuracy: add --validation"),
        (["train", "--validation", "--early-stopping", "-1"], "--early-stopping must be >= 0, got -1"),
        (["train", "--plot", "/nonexistent-dir/c.png"], "--plot /nonexistent-dir/c.png: directory /nonexistent-dir"),
    ],
)
def test_cli_train_checks_the_new_flags_before_loading_data(argv, fragment, capsys, monkeypatch):
    from fastnn import cli

    monkeypatch.setattr(cli, "_load", lambda *a: pytest.fail("data loaded before the flags were checked"))
    assert cli.main(argv) == 2
    assert fragment in capsys.readouterr().err


def test_cli_monitor_names_are_checked_by_argparse(capsys):
    from fastnn import cli

    with pytest.raises(SystemExit):
        cli.main(["train", "--monitor", "training_cost,validation_cost"])
    assert "--monitor names must be among training_accuracy" in capsys.readouterr().err
