"""Reproduce Chapter 3's network2 results on real MNIST, each beside the book's number.

:func:`reproduce_chapter3` runs the experiments of Chapter 3 of Nielsen's *Neural Networks
and Deep Learning* that its ``network2.py`` improvements are about, with the numbers of the
book's repository's figure data (``fig/*.json``, produced by the scripts beside them) or of
its text:

* the cross-entropy cost on 784-30-10 (eta = 0.5, 30 epochs, mini-batch 10, Chapter 1's
  N(0, 1) initialisation as in ``fig/overfitting.py``), without and with L2 regularisation
  (lambda = 5.0): ``fig/overfitting_full.json`` and ``fig/regularized_full.json``;
* 784-100-10 with lambda = 5.0 under both initialisations (``fig/weight_initialization.py``:
  eta = 0.1, accuracy on the validation data): ``fig/weight_initialization_100.json``;
* 784-100-10, cross-entropy, scaled initialisation, lambda = 5.0, eta = 0.5: the book's best
  network2 result in the chapter (97.92 % on the validation data, in the text), here on the
  test images;
* overfitting: 784-30-10 trained on 1,000 images for 400 epochs, without and with L2
  (lambda = 0.1): ``fig/overfitting.json`` and ``fig/regularized.json``.

Every network experiment runs for several seeds side by side (:func:`fastnn.train_many`);
rows report the mean, min and max over seeds. ``quick=True`` runs a tiny version in seconds,
for CI. The result is a :class:`Chapter3Results` (the JSON and markdown of
:mod:`fastnn.reproduce`); ``tools/update_readme_chapter3.py`` writes its table into the
README.

From the command line::

    fastnn reproduce chapter3 [--quick] [--seeds 0 1 2 3 4] [--data-dir DIR] [--json PATH]
"""

from __future__ import annotations

import datetime
import sys
import time
from operator import itemgetter

import numpy as np

from fastnn.datasets import load_mnist
from fastnn.network import Network, compile_kernels, train_many
from fastnn.reproduce import Chapter1Results, ResultRow, _environment

__all__ = ["BOOK", "Chapter3Results", "EXPERIMENTS", "reproduce_chapter3"]

#: The book's numbers, percent, with where they come from (fig/ is the book's repository's).
BOOK = {
    "ce30_peak": (95.33, "fig/overfitting_full.json: peak 9533 / 10000 (epoch 24)"),
    "ce30_l2_peak": (96.49, "fig/regularized_full.json: peak 9649 / 10000 (epoch 28)"),
    "init100_scaled_epoch0": (92.95, "fig/weight_initialization_100.json, validation: 9295 / 10000"),
    "init100_scaled_peak": (97.81, "fig/weight_initialization_100.json, validation: peak 9781 / 10000"),
    "init100_normal_epoch0": (89.94, "fig/weight_initialization_100.json, validation: 8994 / 10000"),
    "init100_normal_peak": (97.55, "fig/weight_initialization_100.json, validation: peak 9755 / 10000"),
    "net100_peak": (97.92, "Chapter 3 text, one run, on the validation data"),
    "overfit_peak": (82.27, "fig/overfitting.json: peak 8227 / 10000 (epoch 374)"),
    "overfit_train": (100.0, "fig/overfitting.json: 1000 / 1000 after epoch 399"),
    "overfit_l2_peak": (87.10, "fig/regularized.json: peak 8710 / 10000 (epoch 383)"),
    "overfit_l2_train": (100.0, "fig/regularized.json: 1000 / 1000 after epoch 399"),
}

#: name -> settings of each experiment: network, options, data and the rows it reports.
#: ``n_train`` None is the 50,000 training images; ``evaluate`` the data of the accuracies.
EXPERIMENTS = {
    "ce30": dict(sizes=(784, 30, 10), init="normal", eta=0.5, lmbda=0.0, epochs=30, n_train=None,
                 evaluate="test", rows=[("ce30_peak", "peak")]),
    "ce30_l2": dict(sizes=(784, 30, 10), init="normal", eta=0.5, lmbda=5.0, epochs=30, n_train=None,
                    evaluate="test", rows=[("ce30_l2_peak", "peak")]),
    "init100_scaled": dict(sizes=(784, 100, 10), init="scaled", eta=0.1, lmbda=5.0, epochs=30, n_train=None,
                           evaluate="validation", rows=[("init100_scaled_epoch0", "epoch0"),
                                                        ("init100_scaled_peak", "peak")]),
    "init100_normal": dict(sizes=(784, 100, 10), init="normal", eta=0.1, lmbda=5.0, epochs=30, n_train=None,
                           evaluate="validation", rows=[("init100_normal_epoch0", "epoch0"),
                                                        ("init100_normal_peak", "peak")]),
    "net100": dict(sizes=(784, 100, 10), init="scaled", eta=0.5, lmbda=5.0, epochs=30, n_train=None,
                   evaluate="test", rows=[("net100_peak", "peak")]),
    "overfit": dict(sizes=(784, 30, 10), init="normal", eta=0.5, lmbda=0.0, epochs=400, n_train=1000,
                    evaluate="test", rows=[("overfit_peak", "peak"), ("overfit_train", "train")]),
    "overfit_l2": dict(sizes=(784, 30, 10), init="normal", eta=0.5, lmbda=0.1, epochs=400, n_train=1000,
                       evaluate="test", rows=[("overfit_l2_peak", "peak"), ("overfit_l2_train", "train")]),
}

#: Full and quick settings. Quick: a few epochs on small subsets, one seed.
FULL = {"seeds": (0, 1, 2, 3, 4), "epochs": None, "n_train": None, "n_eval": None}
QUICK = {"seeds": (0,), "epochs": 2, "n_train": 1000, "n_eval": 1000, "overfit_train": 200,
         "overfit_epochs": 5}

MINI_BATCH_SIZE = 10

_MEASURES = {
    "peak": "peak accuracy over {epochs} epochs",
    "epoch0": "accuracy after epoch 0",
    "train": "training accuracy after epoch {last}",
}


class Chapter3Results(Chapter1Results):
    """Everything :func:`reproduce_chapter3` measured, and how (fields of :class:`Chapter1Results`)."""


def _settings_of(name, quick):
    """The experiment ``name``'s settings, shrunk for ``quick``."""
    exp = dict(EXPERIMENTS[name])
    if quick:
        small = exp["n_train"] is not None
        exp["epochs"] = QUICK["overfit_epochs"] if small else QUICK["epochs"]
        exp["n_train"] = QUICK["overfit_train"] if small else QUICK["n_train"]
    return exp


def _experiment(name, exp, seeds, data, n_eval, dtype, n_jobs, log):
    """Train experiment ``name`` for every seed at once; its rows."""
    training_data, validation_data, test_data = data
    X, y = training_data
    if exp["n_train"] is not None:
        X, y = X[: exp["n_train"]], y[: exp["n_train"]]
    X_eval, y_eval = validation_data if exp["evaluate"] == "validation" else test_data
    if n_eval is not None:
        X_eval, y_eval = X_eval[:n_eval], y_eval[:n_eval]
    nets = [Network(exp["sizes"], cost="cross-entropy", init=exp["init"], seed=s, dtype=dtype) for s in seeds]
    t0 = time.perf_counter()
    records = train_many(nets, (X, y), exp["epochs"], MINI_BATCH_SIZE, exp["eta"], test_data=(X_eval, y_eval),
                         lmbda=exp["lmbda"], n_jobs=n_jobs)
    train_correct = [net.evaluate((X, y)) for net in nets]
    seconds = time.perf_counter() - t0
    histories = [[int(r.test_correct) for r in history] for history in records]
    n_eval = len(y_eval)
    label = "-".join(map(str, exp["sizes"]))
    for seed, correct, tc in zip(seeds, histories, train_correct):
        log(f"  {name} seed={seed}: peak {max(correct)} / {n_eval} at epoch {int(np.argmax(correct))}, "
            f"last {correct[-1]}; training {tc} / {len(y)}")
    experiment = (f"{label}, cross-entropy, {exp['init']} init, η = {exp['eta']}, λ = {exp['lmbda']}"
                  + ("" if exp["n_train"] is None else f", {len(y):,} training images"))
    note = f"accuracy on the {n_eval:,} {exp['evaluate']} images"
    picks = {"peak": max, "epoch0": itemgetter(0)}
    rows = []
    for key, kind in exp["rows"]:
        book, source = BOOK[key]
        if kind == "train":
            ours = [100.0 * tc / len(y) for tc in train_correct]
            row_note = f"on its {len(y):,} training images"
        else:
            ours = [100.0 * picks[kind](h) / n_eval for h in histories]
            row_note = note
        rows.append(ResultRow(
            key=key, experiment=experiment,
            measure=_MEASURES[kind].format(epochs=exp["epochs"], last=exp["epochs"] - 1),
            book=book, book_source=source, ours=ours, seeds=list(seeds), note=row_note,
            seconds=seconds, history=histories,
        ))
    return rows


def reproduce_chapter3(data_dir=None, *, quick=False, seeds=None, data=None, dtype="float64", verbose=True,
                       command=None, n_jobs=-1, experiments=None):
    """Run Chapter 3's network2 experiments on real MNIST and compare with the book's numbers.

    Parameters
    ----------
    data_dir : str or Path, optional
        Directory with the four MNIST IDX files, passed to ``fastnn.datasets.load_mnist``.
    quick : bool, default False
        The CI version: 2 epochs on 1,000 training images (5 epochs on 200 for the
        overfitting runs), accuracies on 1,000 images, seed 0. Seconds.
    seeds : sequence of int, optional
        Seeds of the networks (initial weights and shuffles). Default ``(0, 1, 2, 3, 4)``,
        or ``(0,)`` when `quick`.
    data : tuple (train, validation, test), optional
        Already-loaded MNIST as returned by ``load_mnist``; `data_dir` is then unused.
    dtype : {"float64", "float32"}, default "float64"
    verbose : bool, default True
        Print progress to stderr.
    command : str, optional
        Recorded in the results; default: the Python call.
    n_jobs : int, default -1
        The seeds of one experiment train at once on this many threads
        (:func:`fastnn.train_many`); the results do not depend on it.
    experiments : sequence of str, optional
        Names of :data:`EXPERIMENTS` to run, in that order; default all.

    Returns
    -------
    Chapter3Results
        Percent of the evaluation images (or of the training images, for the training
        accuracies), per seed, for each measure.

    Raises
    ------
    ValueError
        If `seeds` is empty or holds non-integers, or an experiment name is unknown.
    FileNotFoundError
        If MNIST is not found (from ``load_mnist``).

    Notes
    -----
    Training uses the first 50,000 of the 60,000 MNIST training images (the first 1,000 for
    the overfitting runs), as the book's ``mnist.pkl.gz`` does; the validation images are
    the other 10,000. The book trained one network per experiment, with
    ``np.random.seed(12345678)``; its numbers are single runs.
    """
    settings = dict(QUICK if quick else FULL)
    if seeds is not None:
        seeds = tuple(seeds)
        if not seeds or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in seeds):
            raise ValueError(f"seeds must be a non-empty sequence of integers, got {seeds!r}")
        settings["seeds"] = tuple(int(s) for s in seeds)
    names = list(EXPERIMENTS) if experiments is None else list(experiments)
    for name in names:
        if name not in EXPERIMENTS:
            raise ValueError(f"experiments must name entries of {list(EXPERIMENTS)}, got {name!r}")
    settings.update(mini_batch_size=MINI_BATCH_SIZE, dtype=dtype, n_jobs=n_jobs, experiments=names,
                    cost="cross-entropy")
    if command is None:
        command = f"reproduce_chapter3(quick={quick!r}, seeds={list(settings['seeds'])!r})"

    def log(msg):
        if verbose:
            print(msg, file=sys.stderr, flush=True)

    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    t_start = time.perf_counter()
    if data is None:
        data = load_mnist(data_dir, dtype=dtype)
    log(f"kernels for {dtype}: compiled or loaded from cache in {compile_kernels(dtype):.1f} s")
    rows = []
    for name in names:
        exp = _settings_of(name, quick)
        log(f"{name}: {'-'.join(map(str, exp['sizes']))}, cross-entropy, {exp['init']} init, eta = {exp['eta']}, "
            f"lmbda = {exp['lmbda']}, {exp['epochs']} epochs")
        rows += _experiment(name, exp, settings["seeds"], data, settings["n_eval"], dtype, n_jobs, log)
    return Chapter3Results(
        rows=rows,
        quick=bool(quick),
        settings={k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
        command=command,
        date=started.isoformat(),
        seconds=time.perf_counter() - t_start,
        environment=_environment(),
    )
