#!/usr/bin/env python3
"""Measure what a second core buys in training, and write the tables into docs/performance.md.

Usage::

    python tools/threads_report.py --data-dir ../shared/data/mnist --json docs/threads_results.json
    python tools/threads_report.py --from-json docs/threads_results.json   # re-render only

Two measurements on real MNIST, each interleaved in one process (the host is shared and
noisy, so only ratios measured side by side are reported):

1. **One network, its layers split over threads.** One SGD epoch of ``--n-train`` images:
   the serial kernel (``Network.SGD(n_jobs=1)``) against the parallel one
   (``n_jobs=--threads``), from the same parameters over the same permutation, for each
   of ``--sizes``. Both give the same parameters bit for bit; the script checks that too.
2. **Several networks at once.** ``--threads`` networks of the same sizes and different
   seeds, ``--epochs`` epochs each through :func:`fastnn.train_many`, with ``n_jobs=1``
   (one after the other) against ``n_jobs=--threads``: the whole call, the data's
   conversion (once either way) included.

Everything between ``<!-- BEGIN threads -->`` and ``<!-- END threads -->`` in
``--target`` (default docs/performance.md) is replaced by the two tables, the machine
and the exact command; the rest of the file is left byte for byte. Numbers are never
typed by hand: rerun this script to refresh them.
"""

import argparse
import functools
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/: readme_section

from readme_section import replace_section  # noqa: E402

DEFAULT_SIZES = ["784,30,10", "784,100,10", "784,400,10", "784,1000,10"]


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def one_network(sizes, m, dtype, data, threads, repeat, log):
    """Serial and parallel epochs of one network, interleaved; returns a result row."""
    import fastnn

    X, y = data
    net = fastnn.Network(sizes, seed=0, dtype=dtype)
    start = net.params.copy()
    data = net.prepare((X, y))
    n, inputs = data.n, data.inputs
    times = {1: [], threads: []}
    results = {}
    for r in range(repeat + 1):  # the first round compiles and warms; it is not timed
        perm = np.random.default_rng(r).permutation(n)
        for n_jobs in times:
            net.params[:] = start
            seconds = _timed(functools.partial(net.run_epoch, inputs, perm, m, 3.0, n_jobs))
            results[n_jobs] = net.params.copy()
            if r:
                times[n_jobs].append(seconds)
        if not np.array_equal(results[1], results[threads]):
            raise AssertionError(f"{sizes} m={m} {dtype}: parallel and serial parameters differ")
    serial, parallel = statistics.median(times[1]), statistics.median(times[threads])
    log(f"  {'-'.join(map(str, sizes))} m={m} {dtype}: 1 thread {serial:.3f} s, {threads} threads {parallel:.3f} s")
    return {
        "sizes": sizes, "m": m, "dtype": dtype, "n_train": len(X), "threads": threads,
        "split": net.splits(threads, m),
        "serial_s": times[1], "parallel_s": times[threads],
        "serial_median_s": serial, "parallel_median_s": parallel, "speedup": serial / parallel,
    }


def several_networks(sizes, m, dtype, data, threads, repeat, epochs, log):
    """``threads`` networks, ``epochs`` epochs each, by train_many with 1 and ``threads`` jobs."""
    import fastnn

    times = {1: [], threads: []}
    finals = {}
    for r in range(repeat + 1):
        for n_jobs in times:
            nets = [fastnn.Network(sizes, seed=s, dtype=dtype) for s in range(threads)]
            seconds = _timed(functools.partial(fastnn.train_many, nets, data, epochs, m, 3.0, n_jobs=n_jobs))
            finals[n_jobs] = [net.params for net in nets]
            if r:
                times[n_jobs].append(seconds)
        if not all(np.array_equal(a, b) for a, b in zip(finals[1], finals[threads])):
            raise AssertionError(f"{sizes}: train_many results depend on n_jobs")
    one, many = statistics.median(times[1]), statistics.median(times[threads])
    log(f"  {threads} x {'-'.join(map(str, sizes))} m={m} {dtype}, {epochs} epochs: one after the other "
        f"{one:.3f} s, at once {many:.3f} s")
    return {
        "sizes": sizes, "m": m, "dtype": dtype, "n_train": len(data[0]), "networks": threads, "epochs": epochs,
        "sequential_s": times[1], "at_once_s": times[threads],
        "sequential_median_s": one, "at_once_median_s": many, "speedup": one / many,
    }


def measure(options, log=print):
    import numba

    from fastnn.bench.bench import limit_threads, machine_info
    from fastnn.datasets import load_mnist

    report = {"command": command_line(options), "date": time.strftime("%Y-%m-%d"),
              "machine": machine_info(options.threads), "one_network": [], "several_networks": []}
    data = {}
    for dtype in options.dtype:
        (X, y), _, _ = load_mnist(options.data_dir, dtype=dtype)
        data[dtype] = (X[: options.n_train], y[: options.n_train])
    with limit_threads(options.threads):
        report["machine"]["numba_threads"] = numba.get_num_threads()
        log("one network, layers split over threads:")
        for dtype in options.dtype:
            for sizes in options.sizes:
                for m in options.mini_batch_size:
                    report["one_network"].append(
                        one_network(sizes, m, dtype, data[dtype], options.threads, options.repeat, log))
        log("several networks at once:")
        for dtype in options.dtype:
            for sizes in options.sizes[: options.networks_sizes]:
                report["several_networks"].append(
                    several_networks(sizes, options.mini_batch_size[0], dtype, data[dtype],
                                     options.threads, options.repeat, options.epochs, log))
    return report


def _rounds(n):
    return f"{n} timed round" + ("" if n == 1 else "s")


def render(report):
    """The markdown between the markers, from a report."""
    machine = report["machine"]
    lines = [
        "<!-- Generated by tools/threads_report.py; do not edit by hand. -->",
        "",
        "**One network, its hidden layers split over threads** (`Network.SGD(n_jobs=2)`, "
        "same parameters bit for bit as `n_jobs=1`):",
        "",
        "| network | m | dtype | 1 thread s/epoch | 2 threads s/epoch | speed-up | hidden layer split? |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["one_network"]:
        split = "yes" if row["split"] else "no: both serial, the ratio is noise"
        lines.append(
            f"| {'-'.join(map(str, row['sizes']))} | {row['m']} | {row['dtype']} | "
            f"{row['serial_median_s']:.3f} | {row['parallel_median_s']:.3f} | {row['speedup']:.2f}× | {split} |"
        )
    several = report["several_networks"]
    lines += [
        "",
        f"**Several networks at once** (`fastnn.train_many` of {several[0]['networks'] if several else 2} "
        f"networks of different seeds, {several[0]['epochs'] if several else 1} "
        "epochs each; the whole call, data conversion included):",
        "",
        "| networks | m | dtype | one after the other (n_jobs=1) | at once (n_jobs=2) | speed-up |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["several_networks"]:
        lines.append(
            f"| {row['networks']} × {'-'.join(map(str, row['sizes']))} | {row['m']} | {row['dtype']} | "
            f"{row['sequential_median_s']:.3f} s | {row['at_once_median_s']:.3f} s | {row['speedup']:.2f}× |"
        )
    first = (report["one_network"] or report["several_networks"])[0]
    n_train = first["n_train"]
    lines += [
        "",
        f"Medians of {_rounds(len(first.get('serial_s') or first['sequential_s']))} after one untimed "
        f"round (a round: one epoch of one network, or one `train_many` call) on {n_train:,} MNIST "
        f"training images, eta 3.0; measured "
        f"{report['date']} on {machine['cpu']}, {machine['cpus_available']} CPUs available, "
        f"Numba {machine['numba']} ({machine['numba_threads']} threads), Python {machine['python']}.",
        f"Command: `{report['command']}`",
    ]
    return "\n".join(lines)


def command_line(options):
    parts = ["python tools/threads_report.py", "--sizes", " ".join(",".join(map(str, s)) for s in options.sizes),
             "--mini-batch-size", ",".join(map(str, options.mini_batch_size)),
             "--dtype", ",".join(options.dtype), "--threads", str(options.threads),
             "--repeat", str(options.repeat), "--n-train", str(options.n_train),
             "--epochs", str(options.epochs), "--networks-sizes", str(options.networks_sizes)]
    return " ".join(parts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None, help="MNIST directory (default: $FASTNN_DATA, then the cache)")
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, help="networks, e.g. 784,100,10")
    parser.add_argument("--mini-batch-size", default="10", help="comma-separated m (default: 10)")
    parser.add_argument("--dtype", default="float64", help="comma-separated dtypes (default: float64)")
    parser.add_argument("--threads", type=int, default=2, help="threads to compare with one (default: 2)")
    parser.add_argument("--repeat", type=int, default=3, help="timed epochs per case (default: 3)")
    parser.add_argument("--n-train", type=int, default=50_000, help="images per epoch (default: 50,000)")
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs per network when training several at once (default: 3)")
    parser.add_argument("--networks-sizes", type=int, default=2,
                        help="the second measurement (several networks at once) runs for the first N "
                             "of --sizes; 0 skips it (default: 2)")
    parser.add_argument("--json", default=None, help="write the measurements to this file")
    parser.add_argument("--from-json", default=None, help="render a saved report instead of measuring")
    parser.add_argument("--target", default=str(ROOT / "docs" / "performance.md"),
                        help="file with the markers (default: docs/performance.md)")
    args = parser.parse_args(argv)
    target = Path(args.target)
    try:
        replace_section(target.read_text(), "threads", "")  # before minutes of measuring
    except (OSError, ValueError) as exc:
        parser.error(f"{target}: {exc}")
    if args.from_json:
        report = json.loads(Path(args.from_json).read_text())
    else:
        args.sizes = [[int(n) for n in s.split(",")] for s in args.sizes]
        args.mini_batch_size = [int(m) for m in args.mini_batch_size.split(",")]
        args.dtype = args.dtype.split(",")
        if args.threads < 2 or min(args.repeat, args.n_train, args.epochs) < 1:
            parser.error("--threads must be >= 2; --repeat, --n-train and --epochs >= 1")
        report = measure(args, log=lambda msg: print(msg, flush=True))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    try:
        target.write_text(replace_section(target.read_text(), "threads", render(report)))
    except (OSError, ValueError) as exc:
        parser.error(f"{target}: {exc}")
    print(f"wrote the threads section of {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
