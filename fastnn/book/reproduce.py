"""Reproduce Chapter 1's published results on real MNIST, each beside the book's number.

:func:`reproduce_chapter1` runs the chapter's experiments: the 784-30-10 and 784-100-10
networks (30 epochs, mini-batch 10, eta = 3.0), the two bad learning rates (eta = 0.001 on
784-100-10, eta = 100 on 784-30-10), random guessing, the average-darkness baseline and a
support vector machine (scikit-learn's ``SVC``, skipped with a note when scikit-learn is not
installed). Network experiments run for several seeds and report the mean, min and max over
seeds: the book's 95.42 % is the best of three runs, and its 96.59 % comes with a warning of
large run-to-run variance. ``quick=True`` runs a small version in well under a minute, for CI.

The result is a :class:`Chapter1Results`, saveable as JSON (:meth:`Chapter1Results.to_json`)
and printable as a markdown table (:func:`markdown_table`); ``tools/update_readme_chapter1.py``
writes that table into the README from a saved JSON file.

Chapter 3: :func:`reproduce_chapter3` runs the experiments of Chapter 3 of Nielsen's *Neural Networks
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
for CI. The result is a :class:`Chapter3Results` (the JSON and markdown of Chapter 1's);
``tools/update_readme_chapter3.py`` writes its table into the README.

From the command line::

    fastnn reproduce chapter1 [--quick] [--seeds 0 1 2] [--data-dir DIR] [--json PATH]
    fastnn reproduce chapter3 [--quick] [--seeds 0 1 2 3 4] [--data-dir DIR] [--json PATH]
    python -m fastnn.book.reproduce chapter1 --quick
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

import numba
import numpy as np

from fastnn import plot
from fastnn._io import atomic_write
from fastnn._version import __version__
from fastnn.book import segmentation
from fastnn.datasets import load_mnist
from fastnn.network import Network, compile_kernels
from fastnn.parallel import train_many
from fastnn.training import TrainingInterrupted
from fastnn.validation import check_output_path

__all__ = [
    "BOOK",
    "CHAPTER3_BOOK",
    "CHAPTER3_EXPERIMENTS",
    "Chapter1Results",
    "Chapter3Results",
    "ResultRow",
    "average_darkness_baseline",
    "markdown_table",
    "random_guessing_baseline",
    "register_cli",
    "reproduce_chapter1",
    "reproduce_chapter3",
    "svm_baseline",
]

#: The book's Chapter 1 numbers, in percent of the 10,000 test images, with where they come from.
BOOK = {
    "net30_epoch0": (91.29, "Epoch 0: 9129 / 10000"),
    "net30_peak": (95.42, "epoch 28 of the best of three runs, so compare with our max"),
    "net100_peak": (96.59, "one run; the book warns of large run-to-run variance"),
    "eta_small_epoch0": (11.39, "784-100-10, Epoch 0: 1139 / 10000"),
    "eta_small_final": (21.42, "784-100-10, Epoch 29: 2142 / 10000"),
    "eta_large_epoch0": (10.09, "784-30-10, Epoch 0: 1009 / 10000"),
    "eta_large_final": (9.82, "784-30-10, Epoch 29: 982 / 10000"),
    "random": (10.0, "\"about ten percent\""),
    "darkness": (22.25, "2,225 / 10,000 (mnist_average_darkness.py)"),
    "svm": (94.35, "9,435 / 10,000, SVC() defaults of 2015"),
}

#: Full and quick settings. Quick: fewer epochs and seeds, and the SVM on a small subset.
FULL = {"epochs": 30, "seeds": (0, 1, 2, 3, 4), "svm_train": None, "svm_test": None,
        "svm_gammas": ("scale", "auto")}
QUICK = {"epochs": 3, "seeds": (0,), "svm_train": 2000, "svm_test": 1000,
         "svm_gammas": ("scale",)}

MINI_BATCH_SIZE = 10


@dataclass
class ResultRow:
    """One line of the comparison: one measure of one experiment, ours beside the book's.

    Attributes
    ----------
    key : str
        Stable identifier, e.g. ``"net30_peak"``.
    experiment : str
        What ran, e.g. ``"784-30-10, eta = 3.0"``.
    measure : str
        What is compared, e.g. ``"peak test accuracy over 30 epochs"``.
    book : float or None
        The book's value, percent of the 10,000 test images.
    book_source : str
        Where the book's value comes from.
    ours : list of float
        Our value for each seed, percent; empty when the experiment was skipped.
    seeds : list of int
        The seeds, one per entry of `ours` (empty for deterministic experiments).
    note : str
        Anything needed to read the row (settings that differ from the book's, skips).
    seconds : float
        Wall time of the experiment behind this row (shared by rows of one experiment;
        its seeds train at once, see `n_jobs`).
    history : list of list of int
        Per seed, test images correct after each epoch (network experiments only).
    n_test : int or None
        Number of test images behind `history` (None for other rows).
    """

    key: str
    experiment: str
    measure: str
    book: float | None
    book_source: str
    ours: list = field(default_factory=list)
    seeds: list = field(default_factory=list)
    note: str = ""
    seconds: float = 0.0
    history: list = field(default_factory=list)
    n_test: int | None = None

    @property
    def mean(self):
        """float or None: mean of `ours` over seeds."""
        return float(np.mean(self.ours)) if self.ours else None

    @property
    def min(self):
        """float or None: smallest of `ours`."""
        return float(np.min(self.ours)) if self.ours else None

    @property
    def max(self):
        """float or None: largest of `ours`."""
        return float(np.max(self.ours)) if self.ours else None


@dataclass
class Chapter1Results:
    """Everything :func:`reproduce_chapter1` measured, and how.

    Attributes
    ----------
    rows : list of ResultRow
    quick : bool
        Whether this was the quick (CI) version.
    settings : dict
        Epochs, seeds, mini-batch size, SVM subset sizes used.
    command : str
        The command or call that produced the results.
    date : str
        ISO 8601 time the run started (UTC).
    seconds : float
        Total wall time.
    environment : dict
        Versions of Python, NumPy, Numba, scikit-learn and fastnn; platform; CPU count.
    interrupted : bool
        True when Ctrl-C stopped the run: `rows` hold the experiments done, the last one
        with the epochs it had finished.
    """

    rows: list
    quick: bool
    settings: dict
    command: str
    date: str
    seconds: float
    environment: dict
    interrupted: bool = False

    def row(self, key):
        """The row with this `key`; raises KeyError if there is none."""
        for r in self.rows:
            if r.key == key:
                return r
        raise KeyError(key)

    def to_dict(self):
        """A JSON-ready dict (rows as dicts, with mean/min/max added for readers)."""
        d = dataclasses.asdict(self)
        for row_dict, row in zip(d["rows"], self.rows):
            row_dict.update(mean=row.mean, min=row.min, max=row.max)
        return d

    def to_json(self, path=None):
        """Serialise as JSON; write it to `path` if given. Returns the JSON text."""
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        if path is not None:
            with atomic_write(Path(path)) as (f, _):
                f.write(text.encode())
        return text

    @classmethod
    def from_json(cls, source):
        """Load results saved by :meth:`to_json`, from a path or a JSON string."""
        if isinstance(source, (str, os.PathLike)) and not str(source).lstrip().startswith("{"):
            source = Path(source).read_text()
        d = json.loads(source)
        names = {f.name for f in dataclasses.fields(ResultRow)}
        rows = [ResultRow(**{k: v for k, v in r.items() if k in names}) for r in d.pop("rows")]
        return cls(rows=rows, **d)

    def to_markdown(self):
        """The comparison table in markdown; see :func:`markdown_table`."""
        return markdown_table(self)


def _fmt(x):
    return "—" if x is None else f"{x:.2f}"


def markdown_table(results):
    """Format results as a markdown table, our numbers beside the book's.

    Parameters
    ----------
    results : Chapter1Results

    Returns
    -------
    str
        One row per measure: experiment, measure, the book's percent, ours (the mean over
        seeds, with min-max when there are several), the seeds, and a note.
    """
    lines = [
        "| Experiment | Measure | Book (%) | fastnn (%) | Seeds | Note |",
        "| --- | --- | ---: | ---: | --- | --- |",
    ]
    for r in results.rows:
        if len(r.ours) > 1:
            ours = f"{r.mean:.2f} ({r.min:.2f}–{r.max:.2f})"
        else:
            ours = _fmt(r.mean)
        seeds = ", ".join(str(s) for s in r.seeds) if r.seeds else "—"
        note = "; ".join(x for x in (r.note, f"book: {r.book_source}") if x)
        lines.append(
            f"| {r.experiment} | {r.measure} | {_fmt(r.book)} | {ours} | {seeds} | {note} |"
        )
    return "\n".join(lines) + "\n"


# --- baselines --------------------------------------------------------------------------------


def average_darkness_baseline(training_data, test_data):
    """The book's average-darkness classifier (``mnist_average_darkness.py``).

    The darkness of an image is the sum of its pixels. Training computes each digit's mean
    darkness over `training_data`; a test image is classified as the digit whose mean is
    closest (ties to the smaller digit, as the book's ``min`` over keys 0-9 does).

    Parameters
    ----------
    training_data, test_data : tuple (X, y)
        ``X`` of shape (n_samples, 784) with pixels in [0, 1], ``y`` int labels (n_samples,).
        The book trains on the 50,000 training images and tests on the 10,000 test images.

    Returns
    -------
    int
        Number of test images classified correctly (the book: 2,225 of 10,000).
    """
    X, y = training_data
    darkness = np.asarray(X).sum(axis=1, dtype=np.float64)
    counts = np.bincount(np.asarray(y), minlength=10)
    sums = np.bincount(np.asarray(y), weights=darkness, minlength=10)
    # A digit absent from the training data is never guessed (the book's dict lacks it).
    averages = np.full(counts.shape, np.inf)
    np.divide(sums, counts, out=averages, where=counts > 0)
    X_test, y_test = test_data
    test_darkness = np.asarray(X_test).sum(axis=1, dtype=np.float64)
    guesses = np.abs(test_darkness[:, None] - averages[None, :]).argmin(axis=1)
    return int(np.sum(guesses == np.asarray(y_test)))


def random_guessing_baseline(test_data, seed=None):
    """Guess a digit uniformly at random for each test image.

    Parameters
    ----------
    test_data : tuple (X, y)
    seed : int or None
        Seed of the ``numpy.random.Generator`` that draws the guesses.

    Returns
    -------
    int
        Number correct; about 10 % of the images.
    """
    _, y = test_data
    y = np.asarray(y)
    guesses = np.random.default_rng(seed).integers(0, 10, size=y.shape[0])
    return int(np.sum(guesses == y))


def svm_baseline(training_data, test_data, *, gamma="scale"):
    """scikit-learn's ``SVC`` with default settings except `gamma` (``mnist_svm.py``).

    Parameters
    ----------
    training_data, test_data : tuple (X, y)
    gamma : {"scale", "auto"}, default "scale"
        ``"scale"`` is today's default. ``"auto"`` (``1 / n_features``) was the default when
        the book was written, so it is the setting behind the book's 94.35 %.

    Returns
    -------
    int
        Number of test images classified correctly.

    Raises
    ------
    ImportError
        If scikit-learn is not installed (``pip install scikit-learn``, or fastnn's
        ``peers`` extra).
    """
    from sklearn.svm import SVC

    clf = SVC(gamma=gamma)
    clf.fit(training_data[0], training_data[1])
    return int(np.sum(clf.predict(test_data[0]) == np.asarray(test_data[1])))


def _sklearn_version():
    try:
        import sklearn
    except ImportError:
        return None
    return sklearn.__version__


# --- the experiments -------------------------------------------------------------------------


def _network_rows(sizes, eta, measures, settings, data, dtype, log, progress=False):
    """Train `sizes` for every seed; one row per (measure key, label, function of history).

    The seeds' networks train at once, ``settings["n_jobs"]`` at a time
    (:func:`fastnn.train_many`); each is trained exactly as alone. Returns ``(rows,
    interrupted)``: after Ctrl-C, the rows of the epochs every seed finished.
    """
    training_data, test_data = data
    nets = [Network(sizes, seed=seed, dtype=dtype) for seed in settings["seeds"]]
    t0 = time.perf_counter()
    interrupted = False
    try:
        records = train_many(nets, training_data, settings["epochs"], MINI_BATCH_SIZE, eta,
                             test_data=test_data, n_jobs=settings["n_jobs"], verbose="bar" if progress else False)
    except TrainingInterrupted as exc:
        records, interrupted = exc.histories, True
    seconds = time.perf_counter() - t0
    done = min(len(h) for h in records)
    if done == 0:
        return [], interrupted
    histories = [[int(r.test_correct) for r in history[:done]] for history in records]
    n_test = len(test_data[1])
    name = "-".join(map(str, sizes))
    for seed, history, correct in zip(settings["seeds"], records, histories):
        took = sum(r.seconds + r.eval_seconds for r in history)
        log(f"  {name} eta={eta:g} seed={seed}: " + " ".join(map(str, correct))
            + f" / {n_test}  ({took:.1f} s)")
    note = _epoch_note(settings) if not interrupted else f"interrupted after {done} epochs"
    rows = []
    for row_key, measure, pick in measures:
        book, source = BOOK[row_key]
        ours = [100.0 * pick(h) / n_test for h in histories]
        rows.append(ResultRow(
            key=row_key, experiment=f"{name}, η = {eta}", measure=measure, book=book,
            book_source=source, ours=ours, seeds=list(settings["seeds"]),
            note=note, seconds=seconds, history=histories, n_test=n_test,
        ))
    return rows, interrupted


def _epoch_note(settings):
    e = settings["epochs"]
    return "" if e == 30 else f"{e} epochs, not 30"


def _check_seeds(seeds):
    """``seeds`` as a tuple of ints; ValueError unless a non-empty sequence of integers."""
    seeds = tuple(seeds)
    if not seeds or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in seeds):
        raise ValueError(f"seeds must be a non-empty sequence of integers, got {seeds!r}")
    return tuple(int(s) for s in seeds)


def reproduce_chapter1(data_dir=None, *, quick=False, seeds=None, svm=True, data=None,
                       dtype="float64", verbose=True, command=None, n_jobs=-1):
    """Run Chapter 1's experiments on real MNIST and compare with the book's numbers.

    Parameters
    ----------
    data_dir : str or Path, optional
        Directory with the four MNIST IDX files, passed to ``fastnn.datasets.load_mnist``.
    quick : bool, default False
        The CI version: 3 epochs instead of 30, seed 0 only, the SVM on 2,000 training and
        1,000 test images with today's defaults only. Well under a minute on two cores.
    seeds : sequence of int, optional
        Seeds for the network experiments (weights and shuffling) and for random guessing.
        Default ``(0, 1, 2, 3, 4)``, or ``(0,)`` when `quick`. Five seeds, because single
        runs of the book's N(0, 1) initialisation differ widely: of seeds 0-4, 784-100-10
        peaks anywhere from about 67 % to 96.5 %, and eta = 0.001 stays near 10 % for some
        seeds and climbs to the book's 21 % for others.
    svm : bool, default True
        Run the SVM baselines (if scikit-learn is installed). The full SVM runs twice, with
        today's defaults and with ``gamma="auto"`` (the book's defaults): 4 and 8 minutes
        here (scikit-learn 1.9, one core), two thirds of the full run's 19 minutes.
    data : tuple (train, validation, test), optional
        Already-loaded MNIST as returned by ``load_mnist`` (Datasets, or ``(X, y)``
        pairs); `data_dir` is then unused.
    dtype : {"float64", "float32"}, default "float64"
        Floating type of the data and networks.
    verbose : bool, default True
        Print progress to stderr.
    command : str, optional
        Recorded in the results; default: the Python call.
    n_jobs : int, default -1
        The seeds of one experiment train at once on this many threads
        (:func:`fastnn.train_many`; -1: every core). The results do not depend on it.

    Returns
    -------
    Chapter1Results
        Percent of the 10,000 test images, per seed, for each measure.

    Raises
    ------
    ValueError
        If `seeds` is empty or holds non-integers.
    FileNotFoundError
        If MNIST is not found (from ``load_mnist``).

    Notes
    -----
    Training uses the first 50,000 of the 60,000 MNIST training images, as the book's
    ``mnist.pkl.gz`` does; the remaining 10,000 (validation) are unused. All accuracies are
    on the 10,000 test images, measured after each epoch, as in the book.
    """
    settings = dict(QUICK if quick else FULL)
    if seeds is not None:
        settings["seeds"] = _check_seeds(seeds)
    settings["mini_batch_size"] = MINI_BATCH_SIZE
    settings["dtype"] = dtype
    settings["n_jobs"] = n_jobs
    if command is None:
        command = f"reproduce_chapter1(quick={quick!r}, seeds={list(settings['seeds'])!r})"

    def log(msg):
        if verbose:
            print(msg, file=sys.stderr, flush=True)

    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    t_start = time.perf_counter()
    if data is None:
        data = load_mnist(data_dir, dtype=dtype)
    training_data, _validation, test_data = data
    nets = (training_data, test_data)
    log(f"kernels for {dtype}: compiled or loaded from cache in "
        f"{compile_kernels(dtype):.1f} s")
    _, y_test = test_data  # a Dataset (load_mnist's) or an (X, y) pair
    n_test = len(y_test)
    e = settings["epochs"]
    first, final = itemgetter(0), itemgetter(-1)
    rows = []
    experiments = [
        (f"784-30-10, eta = 3.0, {e} epochs, mini-batch {MINI_BATCH_SIZE}", (784, 30, 10), 3.0, [
            ("net30_epoch0", "accuracy after epoch 0", first),
            ("net30_peak", f"peak accuracy over {e} epochs", max),
        ]),
        ("784-100-10, eta = 3.0", (784, 100, 10), 3.0, [
            ("net100_peak", f"peak accuracy over {e} epochs", max),
        ]),
        ("784-100-10, eta = 0.001 (too small)", (784, 100, 10), 0.001, [
            ("eta_small_epoch0", "accuracy after epoch 0", first),
            ("eta_small_final", f"accuracy after epoch {e - 1}", final),
        ]),
        ("784-30-10, eta = 100 (too large)", (784, 30, 10), 100.0, [
            ("eta_large_epoch0", "accuracy after epoch 0", first),
            ("eta_large_final", f"accuracy after epoch {e - 1}", final),
        ]),
    ]
    progress = verbose and sys.stderr.isatty()
    for title, sizes, eta, measures in experiments:
        log(title)
        new, interrupted = _network_rows(sizes, eta, measures, settings, nets, dtype, log, progress)
        rows += new
        if interrupted:
            log("interrupted: the baselines are skipped")
            return Chapter1Results(
                rows=rows, quick=bool(quick),
                settings={k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
                command=command, date=started.isoformat(), seconds=time.perf_counter() - t_start,
                environment=_environment(), interrupted=True,
            )

    t0 = time.perf_counter()
    guesses = [random_guessing_baseline(test_data, seed) for seed in settings["seeds"]]
    rows.append(ResultRow(
        key="random", experiment="random guessing", measure="accuracy",
        book=BOOK["random"][0], book_source=BOOK["random"][1],
        ours=[100.0 * g / n_test for g in guesses], seeds=list(settings["seeds"]),
        note="uniform guesses", seconds=time.perf_counter() - t0,
    ))

    t0 = time.perf_counter()
    dark = average_darkness_baseline(training_data, test_data)
    log(f"average darkness: {dark} / {n_test}")
    rows.append(ResultRow(
        key="darkness", experiment="average darkness", measure="accuracy",
        book=BOOK["darkness"][0], book_source=BOOK["darkness"][1],
        ours=[100.0 * dark / n_test], note="deterministic",
        seconds=time.perf_counter() - t0,
    ))

    rows += _svm_rows(settings, training_data, test_data, svm, log)

    return Chapter1Results(
        rows=rows,
        quick=bool(quick),
        settings={k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
        command=command,
        date=started.isoformat(),
        seconds=time.perf_counter() - t_start,
        environment=_environment(),
    )


def _svm_rows(settings, training_data, test_data, svm, log):
    book, source = BOOK["svm"]
    labels = {"scale": "SVC(), today's defaults (gamma='scale')",
              "auto": "SVC(gamma='auto'), the book's defaults"}
    version = _sklearn_version()
    if not svm or version is None:
        why = ("skipped: scikit-learn is not installed (pip install scikit-learn)"
               if version is None else "skipped (svm=False)")
        return [ResultRow(key="svm_scale", experiment="SVM", measure="accuracy", book=book,
                          book_source=source, note=why)]
    n_train, n_test = settings["svm_train"], settings["svm_test"]
    (X, y), (X_test, y_test) = training_data, test_data
    train = (X[:n_train], y[:n_train])
    test = (X_test[:n_test], y_test[:n_test])
    size_note = (
        "" if n_train is None else f"trained on {len(train[1]):,}, tested on {len(test[1]):,}"
    )
    rows = []
    for gamma in settings["svm_gammas"]:
        log(f"SVM gamma={gamma!r} on {len(train[1]):,} / {len(test[1]):,} images")
        t0 = time.perf_counter()
        correct = svm_baseline(train, test, gamma=gamma)
        seconds = time.perf_counter() - t0
        log(f"  {correct} / {len(test[1])}  ({seconds:.1f} s)")
        rows.append(ResultRow(
            key=f"svm_{gamma}", experiment=labels[gamma], measure="accuracy", book=book,
            book_source=source, ours=[100.0 * correct / len(test[1])],
            note="; ".join(x for x in (size_note, f"scikit-learn {version}") if x),
            seconds=seconds,
        ))
    return rows


def _environment():
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "scikit-learn": _sklearn_version(),
        "fastnn": __version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
    }




# --- Chapter 3: network2 ----------------------------------------------------------------------
# Reproduce Chapter 3's network2 results on real MNIST, each beside the book's number.

#: The book's numbers, percent, with where they come from (fig/ is the book's repository's).
CHAPTER3_BOOK = {
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
CHAPTER3_EXPERIMENTS = {
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

#: Chapter 3's full and quick settings. Quick: a few epochs on small subsets, one seed.
_CHAPTER3_FULL = {"seeds": (0, 1, 2, 3, 4), "epochs": None, "n_train": None, "n_eval": None}
_CHAPTER3_QUICK = {"seeds": (0,), "epochs": 2, "n_train": 1000, "n_eval": 1000, "overfit_train": 200,
         "overfit_epochs": 5}


_MEASURES = {
    "peak": "peak accuracy over {epochs} epochs",
    "epoch0": "accuracy after epoch 0",
    "train": "training accuracy after epoch {last}",
}


class Chapter3Results(Chapter1Results):
    """Everything :func:`reproduce_chapter3` measured, and how (the fields of :class:`Chapter1Results`)."""


def _settings_of(name, quick):
    """The experiment ``name``'s settings, shrunk for ``quick``."""
    exp = dict(CHAPTER3_EXPERIMENTS[name])
    if quick:
        small = exp["n_train"] is not None
        exp["epochs"] = _CHAPTER3_QUICK["overfit_epochs"] if small else _CHAPTER3_QUICK["epochs"]
        exp["n_train"] = _CHAPTER3_QUICK["overfit_train"] if small else _CHAPTER3_QUICK["n_train"]
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
        book, source = CHAPTER3_BOOK[key]
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
        Names of :data:`CHAPTER3_EXPERIMENTS` to run, in that order; default all.

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
    settings = dict(_CHAPTER3_QUICK if quick else _CHAPTER3_FULL)
    if seeds is not None:
        settings["seeds"] = _check_seeds(seeds)
    names = list(CHAPTER3_EXPERIMENTS) if experiments is None else list(experiments)
    for name in names:
        if name not in CHAPTER3_EXPERIMENTS:
            raise ValueError(f"experiments must name entries of {list(CHAPTER3_EXPERIMENTS)}, got {name!r}")
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


# --- command line ----------------------------------------------------------------------------


def register_cli(subparsers):
    """Add the ``reproduce`` subcommand to an argparse subparsers object.

    ``reproduce chapter1 [--quick] [--seeds S ...] [--data-dir DIR] [--json PATH] [--no-svm]``;
    sets ``func`` to a handler taking the parsed arguments and returning an exit code.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The new subparser.
    """
    p = subparsers.add_parser(
        "reproduce",
        help="run a chapter's experiments on MNIST and compare with the book",
        description="Run the chapter's experiments on real MNIST and print each result "
        "beside the book's.",
    )
    p.add_argument("experiment", choices=["chapter1", "chapter3", "segmentation"],
                   help="chapter1: the chapter's experiments; chapter3: network2's (cross-entropy, L2, "
                   "scaled init); segmentation: reading lines of digits")
    p.add_argument("--quick", action="store_true",
                   help="small version for CI: chapter1 3 epochs, one seed, SVM on a subset (< 1 min); "
                   "chapter3 a few epochs on 1,000 images (seconds)")
    p.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                   help="seed values for the network runs (default: 0 1 2 3 4; quick: 0)")
    p.add_argument("--data-dir", type=Path, metavar="DIR",
                   help="directory with the four MNIST IDX files")
    p.add_argument("--json", type=Path, metavar="PATH", help="also save the results as JSON")
    p.add_argument("--no-svm", action="store_true",
                   help="skip the SVM baselines (the slowest part of chapter1's full run)")
    p.add_argument("--plot", type=Path, metavar="DIR",
                   help="draw each experiment's accuracy per epoch into DIR/chapter1.png (needs matplotlib)")
    segmentation.add_arguments(p)
    p.set_defaults(func=_run_cli)
    return p


def _run_cli(args):
    if args.experiment == "segmentation":
        return segmentation.run_cli(args)
    check_output_path(args.json, "--json")  # before, not after, minutes of training
    if args.plot is not None:
        if args.plot.exists() and not args.plot.is_dir():
            raise ValueError(f"--plot {args.plot} is not a directory")
        if not args.plot.parent.is_dir():
            raise ValueError(f"--plot {args.plot}: directory {args.plot.parent} does not exist")
        plot._figure()  # matplotlib missing: say so now, not after the run
    for seed in args.seeds or ():
        if seed < 0:
            raise ValueError(f"--seeds must be non-negative integers, got {seed}")
    if args.experiment == "chapter3":
        results = reproduce_chapter3(args.data_dir, quick=args.quick, seeds=args.seeds,
                                     command=_command_from_args(args))
    else:
        results = reproduce_chapter1(
            args.data_dir, quick=args.quick, seeds=args.seeds, svm=not args.no_svm,
            command=_command_from_args(args),
        )
    print(markdown_table(results), end="")
    print(f"\n{results.seconds:.1f} s in all" + (" (interrupted)" if results.interrupted else ""), file=sys.stderr)
    if args.json is not None:
        results.to_json(args.json)
        print(f"saved {args.json}", file=sys.stderr)
    if args.plot is not None and args.experiment == "chapter1" and any(r.history for r in results.rows):
        args.plot.mkdir(exist_ok=True)
        plot.chapter1(results, path=args.plot / "chapter1.png")
        print(f"saved {args.plot / 'chapter1.png'}", file=sys.stderr)
    return 130 if results.interrupted else 0


def _command_from_args(args):
    parts = ["fastnn reproduce", args.experiment]
    if args.quick:
        parts.append("--quick")
    if args.seeds:
        parts.append("--seeds " + " ".join(map(str, args.seeds)))
    if args.data_dir:
        parts.append(f"--data-dir {args.data_dir}")
    if args.json:
        parts.append(f"--json {args.json}")
    if args.no_svm:
        parts.append("--no-svm")
    if args.plot:
        parts.append(f"--plot {args.plot}")
    return " ".join(parts)


def main(argv=None):
    """``python -m fastnn.book.reproduce chapter1 ...`` (or ``chapter3``): the ``reproduce`` subcommand on its own."""
    parser = argparse.ArgumentParser(prog="python -m fastnn")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["reproduce", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError) as exc:  # as fastnn.cli.main does
        print(f"fastnn reproduce: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
