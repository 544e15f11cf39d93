"""The ``fastnn`` command: ``train``, ``evaluate``, ``bench``, ``reproduce``, ``cache``.

``fastnn train`` with no flags is the book's run: a 784-30-10 network, 30 epochs of SGD
with mini-batches of 10 and eta = 3.0 on the 50,000 MNIST training images, evaluated on
the 10,000 test images after every epoch.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numba
import numpy as np

from fastnn import _config, datasets, images, plot, validation
from fastnn._io import atomic_write, check_outputs, write_or_rescue
from fastnn._version import __version__
from fastnn.bench import bench
from fastnn.book import reproduce
from fastnn.kernels import cache
from fastnn.network import Network, compile_kernels, load
from fastnn.persistence import ModelFileError
from fastnn.sweep import register_cli as register_sweep_cli
from fastnn.training import MONITORS, EarlyStopping, TrainingInterrupted


def _sizes(text):
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes must be comma-separated integers such as 784,30,10, got {text!r}"
        ) from None
    return sizes


def _monitors(text):
    names = [part.strip() for part in text.split(",") if part.strip()]
    for name in names:
        if name not in MONITORS:
            raise argparse.ArgumentTypeError(f"--monitor names must be among {', '.join(MONITORS)}, got {name!r}")
    return names


def _load(dataset, data_dir, dtype):
    loader = {"mnist": datasets.load_mnist, "fashion-mnist": datasets.load_fashion_mnist}[dataset]
    return loader(data_dir, dtype=dtype, progress=None)  # a download shows a bar on a terminal


def _add_data_args(parser):
    parser.add_argument(
        "--dataset",
        choices=["mnist", "fashion-mnist"],
        default="mnist",
        help="data set (default: mnist)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="directory holding the four IDX files (default: $FASTNN_DATA, the user cache, "
        "then a download)",
    )


def _check_outputs(outputs):
    """Fail before any work unless every output ``(flag, path)`` can be written.

    Each path must not be a directory, its directory must exist and take a new file
    (tried), and no two outputs may name the same file: see
    :func:`fastnn._io.check_outputs`. Raises ``OutputPathError`` (a ValueError).
    """
    return check_outputs(outputs)


def _write_output(write, path, flag, what):
    """Write an output that took long to make; on failure, to a rescue path the message names.

    Returns True if ``path`` was written.
    """
    written, error = write_or_rescue(write, path)
    if error is None:
        return True
    cause = error.strerror or str(error)
    if written is not None:
        print(f"fastnn train: error: cannot write {flag} {path} ({cause}); {what} was written to "
              f"{written} instead", file=sys.stderr)
    else:
        print(f"fastnn train: error: cannot write {flag} {path} ({cause}), nor a rescue copy in the "
              f"current or the temporary directory; {what} is lost", file=sys.stderr)
    return False


def _cmd_train(args):
    # Everything that can be checked is checked before the data are read or kernels compiled.
    if args.seed is None:
        args.seed = int(np.random.SeedSequence().entropy % 2**32)
    validation.check_int(args.seed, "--seed", 0)
    validation.check_eta(args.eta, "--eta")
    validation.check_int(args.epochs, "--epochs", 0)
    validation.check_int(args.mini_batch_size, "--mini-batch-size", 1)
    n_jobs = validation.check_n_jobs(args.n_jobs, numba.config.NUMBA_NUM_THREADS, "NUMBA_NUM_THREADS", "--n-jobs")
    if args.sizes[0] != 784 or args.sizes[-1] != 10:
        raise ValueError(f"--sizes must start with 784 (the pixels) and end with 10 (the digits), got {args.sizes}")
    if min(args.sizes) < 1:
        raise ValueError(f"--sizes must be layer sizes >= 1, got {','.join(map(str, args.sizes))}")
    # Every output, before minutes of training: a typo in a path must not cost the run.
    _check_outputs([("--save", args.save), ("--json", args.json), ("--plot", args.plot)])
    if args.plot:
        plot.check_path(args.plot, "--plot")  # matplotlib missing or a format it lacks: now, not after training
    if args.early_stopping is not None and not args.validation:
        raise ValueError("--early-stopping watches the validation accuracy: add --validation")
    unmeasurable = [name for name in args.monitor or () if name.startswith("evaluation_") and not args.validation]
    if unmeasurable:
        raise ValueError(f"--monitor {','.join(unmeasurable)} is measured on the validation images: add --validation")
    if args.early_stopping is not None:
        validation.check_int(args.early_stopping, "--early-stopping", 0)
    net = Network(args.sizes, seed=args.seed, dtype=args.dtype)
    t0 = time.perf_counter()
    train, _validation, test = _load(args.dataset, args.data_dir, args.dtype)
    held_out = f", {len(_validation[0]):,} validation" if args.validation else ""
    print(
        f"Loaded {args.dataset}: {len(train):,} training{held_out} and {len(test):,} test images "
        f"in {time.perf_counter() - t0:.2f} s"
    )
    print(
        f"Network {'-'.join(map(str, net.sizes))}, {args.dtype}, seed {args.seed}: "
        f"{args.epochs} epoch{'s' if args.epochs != 1 else ''}, mini-batch size {args.mini_batch_size}, "
        f"eta {args.eta}"
    )
    if args.mini_batch_size > len(train):
        print(f"Note: --mini-batch-size {args.mini_batch_size} is more than the {len(train):,} training images: "
              f"each epoch is one step of gradient descent on all of them")
    if args.epochs == 0:
        print("--epochs 0: nothing is trained; the network stays as initialised")
    t0 = time.perf_counter()
    splits = net.splits(n_jobs, args.mini_batch_size)  # the split epoch reads values, the evaluation bytes
    compile_kernels(args.dtype, parallel=splits, inputs="both" if splits else "bytes",
                    blocked=not splits and net._blocked())  # the split epoch is not blocked
    where = "cached on disk after the first run" if _config.cache_in_use else "compiled in memory: no disk cache"
    print(f"Compiling kernels ({args.dtype}; {where}): {time.perf_counter() - t0:.2f} s")
    monitor = tuple(args.monitor or ())
    callbacks = []
    if args.early_stopping is not None:
        callbacks.append(EarlyStopping("evaluation_accuracy", patience=args.early_stopping))
    t0 = time.perf_counter()
    interrupted = False
    try:
        history = net.SGD(train, args.epochs, args.mini_batch_size, args.eta, test_data=test,
                          evaluation_data=_validation if args.validation else None, monitor=monitor,
                          callbacks=callbacks, n_jobs=args.n_jobs)
    except FloatingPointError as exc:
        print(f"fastnn train: error: {exc}", file=sys.stderr)
        if args.save:
            print(f"fastnn train: {args.save} was not written", file=sys.stderr)
        return 1
    except TrainingInterrupted as exc:
        history, interrupted = exc.history, True
        print(f"Interrupted after {len(history)} whole epoch{'s' if len(history) != 1 else ''}")
    wall = time.perf_counter() - t0
    if history.stopped_by and not interrupted:
        print(history.stopped_by)
    if callbacks and callbacks[0].restored:
        kept = history[callbacks[0].best_epoch]
        print(f"Kept the network of epoch {kept.epoch}: validation {100 * kept.evaluation_accuracy:.2f} %, "
              f"test {kept.test_correct} / {kept.n_test}")
    if history:
        best = max(history, key=lambda r: r.test_correct)
        train_s = sum(r.seconds for r in history)
        print(
            f"Best: {best.test_correct} / {best.n_test} ({100 * best.accuracy:.2f} %) at epoch "
            f"{best.epoch}; training {train_s:.2f} s ({train_s / len(history):.3f} s/epoch), "
            f"{wall:.2f} s with evaluation"
        )
    status = 0
    if args.save:
        if _write_output(net.save, args.save, "--save", "the trained network"):
            print(f"Saved the network to {args.save}")
        else:
            status = 1
    if args.json:
        text = json.dumps(
            {"args": {k: v for k, v in vars(args).items() if k != "func"},
             "interrupted": interrupted, "stopped_by": history.stopped_by,
             "history": [r.as_dict() for r in history]},
            indent=2,
        )

        def write_json(path):
            with atomic_write(Path(path)) as (f, _):
                f.write(text.encode())

        if not _write_output(write_json, args.json, "--json", "the history"):
            status = 1
    if args.plot:
        if history:
            title = f"fastnn train: {'-'.join(map(str, net.sizes))}, seed {args.seed}"
            if _write_output(lambda path: plot.learning_curves(history, title=title, path=path), args.plot,
                             "--plot", "the learning curves"):
                print(f"Wrote the learning curves to {args.plot}")
            else:
                status = 1
        else:
            print(f"fastnn train: no epoch ran: {args.plot} was not written", file=sys.stderr)
    if status:
        return status
    return 130 if interrupted else 0


def _cmd_evaluate(args):
    try:
        net = load(args.model)
    except (OSError, ModelFileError) as exc:
        print(f"fastnn evaluate: error: {exc}", file=sys.stderr)
        return 2
    _train, _validation, test = _load(args.dataset, args.data_dir, net.dtype.name)
    correct = net.evaluate(test)
    n = len(test)
    print(f"{args.model}: {correct} / {n} ({100 * correct / n:.2f} %) of the {args.dataset} test images")
    return 0


def _cmd_cache(args):
    directory = cache.cache_dir()
    if directory is None:
        print("Kernels are not cached on disk (FASTNN_KERNEL_CACHE=0, NUMBA_DISABLE_JIT=1, or no writable directory).")
        return 0
    files = cache.cache_files()
    if args.action == "info":
        size = sum(f.stat().st_size for f in files)
        print(f"{directory}: {len(files)} cached kernel files, {size / 1e6:.1f} MB")
    else:
        for f in files:
            f.unlink(missing_ok=True)
        print(f"Removed {len(files)} cached kernel files from {directory}")
    return 0


def build_parser():
    """The ``argparse`` parser of the ``fastnn`` command."""
    parser = argparse.ArgumentParser(
        prog="fastnn",
        description="Train, evaluate and benchmark Chapter 1's sigmoid networks on MNIST.",
    )
    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a network by SGD (default: the book's 784-30-10 run on MNIST)")
    p.add_argument("--sizes", type=_sizes, default=[784, 30, 10], help="layer sizes (default: 784,30,10)")
    p.add_argument("--epochs", type=int, default=30, help="epochs (default: 30)")
    p.add_argument("--mini-batch-size", type=int, default=10,
                   help="mini-batch size m; 1 is online learning (default: 10)")
    p.add_argument("--eta", type=float, default=3.0, help="learning rate (default: 3.0)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: drawn and printed)")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64", help="default: float64")
    p.add_argument("--n-jobs", type=int, default=1,
                   help="threads per epoch: layers of 512+ units (768+ in float32) are split over them, with the same "
                        "results; -1 for all of Numba's threads (default: 1)")
    _add_data_args(p)
    p.add_argument("--save", metavar="PATH", default=None, help="write the trained network to PATH (.npz)")
    p.add_argument("--json", metavar="PATH", default=None, help="write the per-epoch history to PATH")
    p.add_argument("--validation", action="store_true",
                   help="also measure the 10,000 validation images after each epoch (evaluation_data)")
    p.add_argument("--monitor", type=_monitors, default=None, metavar="NAMES",
                   help="more to measure after each epoch, comma-separated: " + ", ".join(MONITORS))
    p.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE",
                   help="stop when the validation accuracy has not improved for PATIENCE epochs and keep the "
                        "best epoch's network (needs --validation)")
    p.add_argument("--plot", metavar="PATH", default=None,
                   help="draw the learning curves into PATH (.png, .svg, .pdf; needs matplotlib)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="test accuracy of a saved network")
    p.add_argument("model", help="a file written by fastnn train --save or Network.save")
    _add_data_args(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("cache", help="show or clear Numba's on-disk cache of fastnn's kernels")
    p.add_argument("action", choices=["info", "clear"])
    p.set_defaults(func=_cmd_cache)

    for module in (bench, reproduce, images):
        module.register_cli(sub)
    register_sweep_cli(sub)
    return parser


def main(argv=None):
    """Entry point of the ``fastnn`` console script and of ``python -m fastnn``."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError, ImportError) as exc:  # ImportError: an optional extra is missing
        print(f"fastnn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fastnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except MemoryError as exc:
        print(f"fastnn {args.command}: error: out of memory ({exc}); use smaller --sizes", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
