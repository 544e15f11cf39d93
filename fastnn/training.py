"""The training loop around the kernels: history, monitors, callbacks, progress, Ctrl-C.

:meth:`fastnn.Network.SGD` and :func:`fastnn.train_many` hand their epochs to
:func:`run_epochs`, which owns everything that happens between two kernel calls:

- **History.** Each epoch gives an :class:`EpochResult`; :class:`History` is the list of
  them, with :meth:`History.to_dict` (one column per field) for plotting.
- **Monitors.** After each epoch the accuracy on ``test_data`` and ``evaluation_data`` (when
  given) is recorded, and whatever ``monitor`` asks for besides (network2's
  ``monitor_evaluation_cost`` etc., as a tuple of names, see :data:`MONITORS`).
- **Callbacks.** A :class:`Callback` (or a plain function ``f(net, result)``) sees the
  network and each epoch's result and can stop training: :class:`EarlyStopping`,
  :class:`ModelCheckpoint`, :class:`ReduceEtaOnPlateau` (the book's Chapter 3 schedule).
- **Progress.** tqdm bars (epochs x samples, with samples/s and the latest accuracy) and
  one line per epoch for logs; lines from several threads never run together.
- **Ctrl-C.** An interrupt stops training at the next chunk of mini-batches; a network
  caught in the middle of an epoch is put back to where that epoch started, so every
  network is left at a whole epoch, and :class:`TrainingInterrupted` carries the history.

This module knows nothing of kernels or of :class:`fastnn.Network`'s insides: it drives
callables the network passes in (``train_chunk``, ``measure``) and uses only public
attributes of the network (``params``, ``save``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

__all__ = [
    "MONITORS",
    "Callback",
    "EarlyStopping",
    "EpochResult",
    "History",
    "ModelCheckpoint",
    "ReduceEtaOnPlateau",
    "TrainingInterrupted",
]

#: What ``SGD(monitor=...)`` can record after each epoch, by name: the accuracy (fraction
#: in [0, 1] of the samples whose output's argmax is the label) and the cost (the
#: network's cost, Eq. 6, of the network as it is after the epoch) on the training data,
#: ``evaluation_data`` and ``test_data``.
MONITORS = (
    "training_accuracy",
    "training_cost",
    "evaluation_accuracy",
    "evaluation_cost",
    "test_accuracy",
    "test_cost",
)

#: Samples per kernel call within an epoch (rounded down to whole mini-batches, at least
#: one): between two calls the loop updates the progress bar and looks for Ctrl-C. The
#: kernel walks the epoch's permutation in order, so the parameters after the chunks are
#: those of one call, bit for bit; only the sum of the per-sample costs (``train_cost``)
#: is added up in another order (differences in the last bits).
CHUNK_SAMPLES = 8192


@dataclasses.dataclass(frozen=True)
class EpochResult:
    """What one epoch of :meth:`Network.SGD` did, and what was measured after it.

    Attributes
    ----------
    epoch : int
        Zero-based epoch number, as the book prints it.
    test_correct : int or None
        Test inputs classified correctly after the epoch (None without ``test_data``).
    n_test : int or None
        Number of test inputs.
    train_cost : float
        Mean quadratic cost C_x = |y - a|^2 / 2 (Eq. 6) over the epoch's training samples,
        each evaluated by the forward pass that trained on it: free, but a mix of the
        network's states during the epoch (``training_cost`` is the cost after it).
    seconds : float
        Wall time of the training pass (shuffle and kernel), in seconds.
    samples_per_second : float
        Training samples per second of ``seconds``.
    eval_seconds : float
        Wall time of the measurements after the epoch (every monitor), in seconds.
    eta : float or None
        The learning rate used in this epoch (it changes under :class:`ReduceEtaOnPlateau`).
    training_accuracy, evaluation_accuracy, test_accuracy : float or None
        Fraction in [0, 1] of the training / evaluation / test samples classified
        correctly after the epoch; None when not measured (see :data:`MONITORS`).
    training_cost, evaluation_cost, test_cost : float or None
        The cost (Eq. 6) of the network after the epoch on those samples; None when not
        measured.
    """

    epoch: int
    test_correct: int | None
    n_test: int | None
    train_cost: float
    seconds: float
    samples_per_second: float
    eval_seconds: float
    eta: float | None = None
    training_accuracy: float | None = None
    training_cost: float | None = None
    evaluation_accuracy: float | None = None
    evaluation_cost: float | None = None
    test_accuracy: float | None = None
    test_cost: float | None = None

    @property
    def accuracy(self):
        """Test accuracy in [0, 1], or None without test data."""
        if not self.n_test:
            return None
        return self.test_correct / self.n_test

    def as_dict(self):
        """The fields as a plain ``dict`` (for JSON)."""
        return dataclasses.asdict(self)


class History(list):
    """The :class:`EpochResult` of every epoch of one training run, in order.

    A ``list``, so ``history[-1]``, ``len(history)`` and iteration work as before, with
    columns for plotting and a record of why training stopped.

    Attributes
    ----------
    interrupted : bool
        True when Ctrl-C (or SIGINT) stopped training.
    stopped_by : str or None
        Why training stopped before ``epochs``: the message of the callback that stopped
        it, or ``"interrupted"``; None when every epoch ran.
    """

    def __init__(self, results=()):
        super().__init__(results)
        self.interrupted = False
        self.stopped_by = None

    def column(self, name):
        """One field over the epochs as a float array (NaN where it was not measured).

        Parameters
        ----------
        name : str
            A field of :class:`EpochResult`, e.g. ``"evaluation_accuracy"``.

        Returns
        -------
        ndarray of shape (len(self),), float64
        """
        if name not in _FIELDS:
            raise ValueError(f"name must be a field of EpochResult ({', '.join(_FIELDS)}), got {name!r}")
        return np.array([np.nan if getattr(r, name) is None else getattr(r, name) for r in self], dtype=float)

    def to_dict(self):
        """Columns: ``{field: [value per epoch]}`` (None where not measured), for JSON or pandas."""
        return {name: [getattr(r, name) for r in self] for name in _FIELDS}

    def measured(self):
        """Names of the monitors (see :data:`MONITORS`) measured in at least one epoch."""
        return tuple(name for name in MONITORS if any(getattr(r, name) is not None for r in self))

    def __repr__(self):
        note = f", stopped_by={self.stopped_by!r}" if self.stopped_by else ""
        return f"History({len(self)} epochs{note})"


_FIELDS = tuple(f.name for f in dataclasses.fields(EpochResult))


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training; the networks are at whole epochs and the history is kept.

    A ``KeyboardInterrupt``, so a script still stops unless it catches it.

    Attributes
    ----------
    history : History or None
        :meth:`Network.SGD`'s history so far (None from :func:`train_many`).
    histories : list of History
        Every network's history so far (``[history]`` from :meth:`Network.SGD`).
    """

    def __init__(self, histories, single=True):
        self.histories = list(histories)
        self.history = self.histories[0] if single else None
        done = ", ".join(str(len(h)) for h in self.histories)
        super().__init__(f"training interrupted after {done} epoch(s); every network is at a whole epoch")


# -- callbacks -------------------------------------------------------------------------


class Callback:
    """Base class of the hooks :meth:`Network.SGD` calls during training.

    Override any of the methods; each receives the network being trained. A plain
    function ``f(net, result)`` passed in ``callbacks`` is called as
    :meth:`on_epoch_end`.

    Attributes
    ----------
    monitor : str or None
        A field of :class:`EpochResult` the callback reads. ``SGD`` measures it even if
        ``monitor=`` does not ask for it, and refuses to start if it cannot (for example
        ``"evaluation_accuracy"`` without ``evaluation_data``).
    """

    monitor = None

    def on_train_begin(self, net, history):
        """Called once before the first epoch, with the (empty) :class:`History`."""

    def on_epoch_begin(self, net, epoch, eta):
        """Called before each epoch; return a new learning rate, or None to keep ``eta``."""

    def on_epoch_end(self, net, result):
        """Called after each epoch with its :class:`EpochResult`.

        Returns
        -------
        bool or str or None
            Anything true stops training after this epoch (a string says why).
        """

    def on_train_end(self, net, history):
        """Called once after the last epoch, also when a callback or Ctrl-C stopped training."""


class _FunctionCallback(Callback):
    def __init__(self, function):
        self.function = function

    def on_epoch_end(self, net, result):
        return self.function(net, result)

    def __repr__(self):
        return f"callback {getattr(self.function, '__name__', self.function)!r}"


def _callbacks(callbacks):
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or callable(callbacks):
        callbacks = [callbacks]
    try:
        items = list(callbacks)
    except TypeError:
        raise TypeError(
            f"callbacks must be a list of fastnn callbacks or functions, got {type(callbacks).__name__}"
        ) from None
    out = []
    for i, cb in enumerate(items):
        if isinstance(cb, Callback):
            out.append(cb)
        elif callable(cb):
            out.append(_FunctionCallback(cb))
        else:
            raise TypeError(
                f"callbacks[{i}] must be a fastnn.Callback or a function f(net, result), got {type(cb).__name__}"
            )
    return out


def _mode(monitor, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    if monitor.endswith("accuracy") or monitor == "test_correct":
        return "max"
    if monitor.endswith("cost"):
        return "min"
    raise ValueError(f"mode='auto' cannot tell whether {monitor!r} should rise or fall; pass mode='min' or 'max'")


def _check_monitor_name(monitor):
    allowed = MONITORS + ("train_cost", "test_correct")
    if monitor not in allowed:
        raise ValueError(f"monitor must be one of {', '.join(allowed)}, got {monitor!r}")
    return monitor


def _check_patience(patience):
    if isinstance(patience, bool) or not isinstance(patience, numbers.Integral):
        raise TypeError(f"patience must be an integer, got {patience!r}")
    if patience < 0:
        raise ValueError(f"patience must be >= 0, got {patience}")
    return int(patience)


def _check_min_delta(min_delta):
    if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real):
        raise TypeError(f"min_delta must be a real number, got {min_delta!r}")
    if not math.isfinite(min_delta) or min_delta < 0:
        raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta}")
    return float(min_delta)


class _Plateau(Callback):
    """Tracks the best value of ``monitor`` and the epochs since it last improved."""

    def __init__(self, monitor, patience, min_delta, mode):
        self.monitor = _check_monitor_name(monitor)
        self.patience = _check_patience(patience)
        self.min_delta = _check_min_delta(min_delta)
        self.mode = _mode(self.monitor, mode)
        self._reset()

    def _reset(self):
        self.best = None
        self.best_epoch = None
        self.wait = 0

    def _improved(self, result):
        """Update the state with ``result``; True if it is a new best."""
        value = getattr(result, self.monitor)
        if value is None or not math.isfinite(value):
            self.wait += 1
            return False
        better = self.best is None or (
            value > self.best + self.min_delta if self.mode == "max" else value < self.best - self.min_delta
        )
        if better:
            self.best, self.best_epoch, self.wait = float(value), result.epoch, 0
        else:
            self.wait += 1
        return better


class EarlyStopping(_Plateau):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    The book's Chapter 3 rule "no improvement in n epochs" (with n = 10) and Keras'
    ``EarlyStopping`` (``restore_best_weights``). An epoch improves when its value beats
    the best so far by more than ``min_delta`` (higher accuracy, lower cost). Training
    stops after the epoch that makes ``patience`` epochs in a row without improvement.

    Parameters
    ----------
    monitor : str, default "evaluation_accuracy"
        A name of :data:`MONITORS`, or ``"train_cost"``. Monitor the evaluation
        (validation) data, not the test data, so the test accuracy stays an honest estimate.
    patience : int, default 10
        Epochs without improvement to wait, >= 0 (0 stops at the first epoch that does
        not improve).
    min_delta : float, default 0.0
        Smallest change that counts as an improvement, in the monitor's units (accuracy is
        a fraction: 0.001 is a tenth of a percent).
    restore_best : bool, default True
        At the end of training (stopped early or not) put the network back to its
        parameters after the best epoch, bit for bit. Unlike Keras, which restores
        only when it stopped training itself.
    mode : {"auto", "max", "min"}, default "auto"
        Whether higher is better; "auto" reads it from the name (accuracy up, cost down).

    Attributes
    ----------
    best : float or None
        Best value seen.
    best_epoch : int or None
        Epoch of ``best``.
    stopped_epoch : int or None
        Epoch after which it stopped training (None if it did not).
    restored : bool
        Whether the best parameters were put back at the end.

    Examples
    --------
    >>> import numpy as np
    >>> import fastnn
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((200, 4)); y = (X[:, 0] > X[:, 1]).astype(int)
    >>> net = fastnn.Network([4, 8, 2], seed=0)
    >>> stop = fastnn.EarlyStopping(patience=3)
    >>> history = net.SGD((X[:150], y[:150]), 100, 10, 3.0, evaluation_data=(X[150:], y[150:]),
    ...                   callbacks=[stop], verbose=False)
    >>> len(history) < 100, stop.best_epoch == len(history) - 4
    (True, True)
    """

    def __init__(self, monitor="evaluation_accuracy", patience=10, min_delta=0.0, restore_best=True, mode="auto"):
        super().__init__(monitor, patience, min_delta, mode)
        self.restore_best = bool(restore_best)

    def _reset(self):
        super()._reset()
        self.stopped_epoch = None
        self.restored = False
        self._best_params = None

    def on_train_begin(self, net, history):
        self._reset()

    def on_epoch_end(self, net, result):
        if self._improved(result):
            if self.restore_best:
                self._best_params = net.params.copy()
            return None
        if self.wait >= max(self.patience, 1):
            self.stopped_epoch = result.epoch
            by = f" by more than {self.min_delta:g}" if self.min_delta else ""
            return (
                f"EarlyStopping: {self.monitor} did not improve{by} for {self.wait} "
                f"epoch{'s' if self.wait != 1 else ''} (best {self.best:.6g} at epoch {self.best_epoch})"
            )
        return None

    def on_train_end(self, net, history):
        if self.restore_best and self._best_params is not None and history and history[-1].epoch != self.best_epoch:
            net.params = self._best_params
            self.restored = True
        self._best_params = None

    def __repr__(self):
        return (
            f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
            f"min_delta={self.min_delta}, restore_best={self.restore_best})"
        )


class ModelCheckpoint(_Plateau):
    """Save the network to ``path`` after every epoch that improves ``monitor``.

    Uses :meth:`Network.save`, which writes atomically: the file always holds a whole
    network, the best so far, even if training is killed while saving.

    Parameters
    ----------
    path : str or os.PathLike
        Where to save (an ``.npz`` file; its directory must exist).
    monitor : str, default "evaluation_accuracy"
        As in :class:`EarlyStopping`.
    min_delta : float, default 0.0
    mode : {"auto", "max", "min"}, default "auto"
    save_best_only : bool, default True
        False saves after every epoch.

    Attributes
    ----------
    best, best_epoch : as in :class:`EarlyStopping`.
    saved_epochs : list of int
        Epochs after which the file was written.
    """

    def __init__(self, path, monitor="evaluation_accuracy", min_delta=0.0, mode="auto", save_best_only=True):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise ValueError(f"path {self.path}: directory {self.path.parent} does not exist")
        super().__init__(monitor, 0, min_delta, mode)
        self.save_best_only = bool(save_best_only)
        self.saved_epochs = []

    def on_train_begin(self, net, history):
        self._reset()
        self.saved_epochs = []

    def on_epoch_end(self, net, result):
        if self._improved(result) or not self.save_best_only:
            net.save(self.path)
            self.saved_epochs.append(result.epoch)

    def __repr__(self):
        return f"ModelCheckpoint({str(self.path)!r}, monitor={self.monitor!r})"


class ReduceEtaOnPlateau(_Plateau):
    """Multiply the learning rate by ``factor`` when ``monitor`` stalls for ``patience`` epochs.

    The learning-rate schedule of the book's Chapter 3 ("How to choose a neural
    network's hyper-parameters?"): halve eta each time the validation accuracy shows no
    improvement in ten epochs, and stop when eta has fallen to 1/128 of its first value
    (``ReduceEtaOnPlateau(factor=0.5, patience=10, min_eta=eta / 128)``).

    Parameters
    ----------
    monitor : str, default "evaluation_accuracy"
    factor : float, default 0.5
        In (0, 1).
    patience : int, default 10
    min_delta : float, default 0.0
    min_eta : float or None, default None
        Stop training instead of going below this learning rate.
    mode : {"auto", "max", "min"}, default "auto"

    Attributes
    ----------
    eta : float or None
        The learning rate of the next epoch.
    reductions : list of (int, float)
        ``(epoch, new eta)`` for each reduction, the epoch being the one it follows.
    """

    def __init__(self, monitor="evaluation_accuracy", factor=0.5, patience=10, min_delta=0.0, min_eta=None,
                 mode="auto"):
        super().__init__(monitor, patience, min_delta, mode)
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real):
            raise TypeError(f"factor must be a real number, got {factor!r}")
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        bad_eta = isinstance(min_eta, bool) or not isinstance(min_eta, numbers.Real) or not min_eta > 0
        if min_eta is not None and bad_eta:
            raise ValueError(f"min_eta must be None or a number > 0, got {min_eta!r}")
        self.factor = float(factor)
        self.min_eta = None if min_eta is None else float(min_eta)

    def on_train_begin(self, net, history):
        self._reset()
        self.eta = None
        self.reductions = []

    def on_epoch_begin(self, net, epoch, eta):
        if self.eta is None:
            self.eta = eta
        return self.eta

    def on_epoch_end(self, net, result):
        if self._improved(result) or self.wait < max(self.patience, 1):
            return None
        new = self.eta * self.factor
        if self.min_eta is not None and new < self.min_eta * (1 - 1e-12):
            return f"ReduceEtaOnPlateau: eta would fall below min_eta={self.min_eta:g}"
        self.eta = new
        self.wait = 0
        self.reductions.append((result.epoch, new))
        return None

    def __repr__(self):
        return f"ReduceEtaOnPlateau(monitor={self.monitor!r}, factor={self.factor}, patience={self.patience})"


# -- monitors --------------------------------------------------------------------------


def check_monitor(monitor, callbacks, has_evaluation, has_test):
    """The monitors to measure: ``monitor``'s, those the callbacks read, and the accuracy
    of every data set given. Raises before training when one cannot be measured.

    Returns
    -------
    dict
        ``{"training" | "evaluation" | "test": (accuracy?, cost?)}``, only the sets used.
    """
    if monitor is None:
        names = []
    elif isinstance(monitor, str):
        names = [monitor]
    else:
        try:
            names = list(monitor)
        except TypeError:
            raise TypeError(f"monitor must be a tuple of names from {', '.join(MONITORS)}, got {monitor!r}") from None
    for name in names:
        if name not in MONITORS:
            raise ValueError(f"monitor entries must be names from {', '.join(MONITORS)}, got {name!r}")
    for cb in callbacks:
        wanted = getattr(cb, "monitor", None)
        if wanted in MONITORS:
            names.append(wanted)
        elif wanted == "test_correct":
            names.append("test_accuracy")
    if has_evaluation:
        names.append("evaluation_accuracy")
    if has_test:
        names.append("test_accuracy")
    given = {"training": True, "evaluation": has_evaluation, "test": has_test}
    sets = {}
    for name in names:
        which, _, what = name.partition("_")
        if not given[which]:
            who = next((repr(cb) for cb in callbacks if getattr(cb, "monitor", None) == name), None)
            asked = f"{who} monitors" if who else "monitor asks for"
            raise ValueError(f"{asked} {name!r}, but SGD was given no {which}_data")
        acc, cost = sets.get(which, (False, False))
        sets[which] = (acc or what == "accuracy", cost or what == "cost")
    return sets


# -- progress --------------------------------------------------------------------------

_write_lock = threading.Lock()


def check_verbose(verbose):
    """``verbose`` as ``(lines, bar)``: True -> lines, plus a bar when stderr is a terminal."""
    if verbose is True or verbose is None:
        return True, None
    if verbose is False:
        return False, False
    if verbose == "lines":
        return True, False
    if verbose == "bar":
        return False, True
    raise ValueError(f"verbose must be True, False, 'lines' or 'bar', got {verbose!r}")


def format_epoch(result, prefix=""):
    """The line ``SGD`` prints after an epoch (the book's ``Epoch j: k / n``, then the rest)."""
    if result.test_correct is None:
        head = f"Epoch {result.epoch} complete"
    else:
        head = f"Epoch {result.epoch}: {result.test_correct} / {result.n_test}"
    extra = []
    for name in MONITORS:
        value = getattr(result, name)
        if value is None or name == "test_accuracy":
            continue
        which, _, what = name.partition("_")
        extra.append(f"{which} {what} {100 * value:.2f} %" if what == "accuracy" else f"{which} {what} {value:.4f}")
    body = (", " + ", ".join(extra)) if extra else ""
    return f"{prefix}{head}{body}  ({result.seconds:.3f} s, {result.samples_per_second:,.0f} samples/s)"


def write_line(line, file=None):
    """Write one whole line, never interleaved with another thread's or torn by a tqdm bar."""
    with _write_lock:
        tqdm.write(line, file=sys.stdout if file is None else file)
        (sys.stdout if file is None else file).flush()


class Progress:
    """One tqdm bar over every training sample of a run (all epochs, all networks),
    plus the per-epoch lines; shared by the threads of :func:`train_many`.

    Parameters
    ----------
    verbose : bool or {"lines", "bar"}
        See :meth:`Network.SGD`.
    total : int
        Samples to train in all (epochs x samples x networks).
    desc : str
        The bar's label.
    epochs : int
        Epochs per network (for the postfix).
    n_networks : int, default 1
    """

    def __init__(self, verbose, total, desc="SGD", epochs=0, n_networks=1):
        self.lines, bar = check_verbose(verbose)
        self.epochs = epochs
        self.n_networks = n_networks
        self.done_epochs = 0
        self.latest = {}
        self._lock = threading.Lock()
        self.bar = None
        if bar is not False and total > 0:
            self.bar = tqdm(
                total=total, desc=desc, unit="sample", unit_scale=True, dynamic_ncols=True,
                disable=None if bar is None else False, file=sys.stderr, leave=True, smoothing=0.1,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} samples "
                "[{elapsed}<{remaining}{postfix}]",
            )
            if self.bar.disable:
                self.bar = None

    def advance(self, samples):
        if self.bar is not None:
            with self._lock:
                self.bar.update(samples)

    def epoch_done(self, result, label=None, prefix=""):
        if self.lines:
            write_line(format_epoch(result, prefix))
        if self.bar is None:
            return
        with self._lock:
            self.done_epochs += 1
            acc = next(
                (getattr(result, n) for n in ("evaluation_accuracy", "test_accuracy", "training_accuracy")
                 if getattr(result, n) is not None),
                None,
            )
            self.latest[label] = acc
            if self.n_networks == 1:
                post = f"epoch {result.epoch + 1}/{self.epochs}, {result.samples_per_second:,.0f} samples/s"
                if acc is not None:
                    post += f", {_acc_name(result)} {100 * acc:.2f} %"
            else:
                post = f"epochs {self.done_epochs}/{self.epochs * self.n_networks}"
                accs = [a for a in self.latest.values() if a is not None]
                if accs:
                    post += f", {_acc_name(result)} {100 * min(accs):.1f}-{100 * max(accs):.1f} %"
            self.bar.set_postfix_str(post, refresh=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _acc_name(result):
    for name in ("evaluation_accuracy", "test_accuracy", "training_accuracy"):
        if getattr(result, name) is not None:
            return name.split("_")[0]
    return ""


# -- Ctrl-C ----------------------------------------------------------------------------


@contextlib.contextmanager
def catch_interrupts(stop):
    """While active, Ctrl-C (SIGINT) sets the event ``stop`` instead of raising, so the loop
    stops at its next check, between two kernel calls. A second Ctrl-C raises
    ``KeyboardInterrupt`` at once. Only in the main thread, and only when SIGINT has
    Python's default handler (otherwise the loop's ``except KeyboardInterrupt`` applies).
    """
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# -- the loop --------------------------------------------------------------------------


def run_epochs(net, rng, *, n_samples, epochs, mini_batch_size, eta, train_chunk, measure, sets,
               callbacks, progress, stop, prefix=""):
    """Train ``net`` for ``epochs`` epochs, measuring, calling back and reporting after each.

    Parameters
    ----------
    net : Network
        Trained in place through ``train_chunk``; read through ``net.params``.
    rng : numpy.random.Generator
        The network's generator: draws each epoch's permutation.
    n_samples, epochs, mini_batch_size : int
    eta : float
        The learning rate (callbacks may change it between epochs).
    train_chunk : callable ``(perm, eta) -> float``
        Runs the kernel on the mini-batches ``perm[k*m:(k+1)*m]`` and returns the sum of
        the samples' costs. Called on consecutive whole-mini-batch slices of one
        permutation, which gives the same parameters as one call on all of it.
    measure : callable ``(which, accuracy, cost) -> (correct or None, n, cost or None)``
        Measures the network on the prepared data set ``which``.
    sets : dict
        From :func:`check_monitor`.
    callbacks : list of Callback
    progress : Progress
    stop : threading.Event
        Set by Ctrl-C (or by :func:`train_many`'s main thread): stop at the next chunk.
    prefix : str
        Start of every message (``"[network 2] "``).

    Returns
    -------
    History
        Also when interrupted: then ``history.interrupted`` is True and the network is
        back at its state after the last whole epoch (the generator too), as if the
        interrupted epoch had never started.

    Raises
    ------
    FloatingPointError
        A parameter stopped being finite: the network is restored to its parameters from
        before that epoch.
    """
    history = History()
    m = mini_batch_size
    step = max(1, CHUNK_SAMPLES // m) * m
    for cb in callbacks:
        cb.on_train_begin(net, history)
    try:
        for j in range(epochs):
            if stop.is_set():
                history.interrupted = True
                break
            for cb in callbacks:
                new = cb.on_epoch_begin(net, j, eta)
                if new is not None:
                    eta = float(new)
            before = net.params.copy()
            state = rng.bit_generator.state
            completed = False
            try:
                t0 = time.perf_counter()
                perm = rng.permutation(n_samples)
                cost = 0.0
                for start in range(0, n_samples, step):
                    if start and stop.is_set():
                        break
                    cost += train_chunk(perm[start : start + step], eta)
                    progress.advance(min(step, n_samples - start))
                else:
                    completed = True
                seconds = time.perf_counter() - t0
            finally:
                if not completed:  # Ctrl-C (flag or KeyboardInterrupt) in the middle of the epoch
                    net.params = before
                    rng.bit_generator.state = state
            if not completed:
                history.interrupted = True
                break
            if not np.isfinite(net.params).all():
                net.params = before
                raise FloatingPointError(
                    f"{prefix}training diverged in epoch {j}: the parameters are no longer finite with "
                    f"eta={eta}, mini_batch_size={m}. The network was restored to "
                    "its parameters from before that epoch. Lower eta, and check that X is "
                    "scaled to [0, 1]."
                )
            t1 = time.perf_counter()
            values = {}
            test_correct = n_test = None
            for which, (want_acc, want_cost) in sets.items():
                correct, n, c = measure(which, want_acc, want_cost)
                if want_acc:
                    values[f"{which}_accuracy"] = correct / n
                if want_cost:
                    values[f"{which}_cost"] = c
                if which == "test":
                    test_correct, n_test = correct, n
            result = EpochResult(
                epoch=j,
                test_correct=test_correct,
                n_test=n_test,
                train_cost=cost / n_samples,
                seconds=seconds,
                samples_per_second=n_samples / seconds if seconds > 0 else float("inf"),
                eval_seconds=time.perf_counter() - t1,
                eta=eta,
                **values,
            )
            history.append(result)
            progress.epoch_done(result, label=prefix, prefix=prefix)
            reasons = [cb.on_epoch_end(net, result) for cb in callbacks]
            why = next((r for r in reasons if r), None)
            if why:
                history.stopped_by = why if isinstance(why, str) else f"{why!r} from a callback"
                break
    except KeyboardInterrupt:  # no handler of ours (not the main thread's default SIGINT)
        history.interrupted = True
    finally:
        if history.interrupted:
            history.stopped_by = "interrupted"
        for cb in callbacks:
            cb.on_train_end(net, history)
    return history
