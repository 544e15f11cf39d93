"""``fastnn bench`` and ``tools/perf_table.py``: parsing, a tiny real run, the FLOP count.

Nothing here asserts a speed: the machine is shared and timings are noise. The run is
tiny (500 images, a 784-8-10 network, one repeat) and checks the shape and the internal
consistency of what is reported.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fastnn import cli
from fastnn.bench import roofline
from fastnn.bench.bench import flops_per_batch, flops_per_epoch, flops_per_sample

REPO = Path(__file__).resolve().parents[1]
PERF_TABLE = REPO / "tools" / "perf_table.py"

ROW_KEYS = {
    "impl", "label", "m", "dtype", "sizes", "n_train", "n_timed", "scale", "repeat",
    "epoch_s_median", "epoch_s_min", "epoch_s_max", "epoch_s", "samples_per_s",
    "gflop_per_epoch", "gflops", "peak_fraction", "speedup_vs_numpy_matrix",
    "shuffle_s", "kernel_s", "eval_s", "compile_s", "first_call_s", "test_accuracy", "note",
    "cost", "lmbda", "vs_quadratic", "bound_s", "bound_kind", "bound_fraction",
}


# -- the FLOP count, by hand ------------------------------------------------------------
def test_flops_of_a_tiny_net_by_hand():
    # sizes 2-3-1: S = 2*3 + 3*1 = 9 weights; S' (layers after the first) = 3; N = 3 + 1 = 4.
    # Per sample: forward w a (2 per weight) 18, weight gradient (2 per weight) 18,
    # w^T delta into the hidden layer (2 per weight of layer 2) 6, element-wise 8 per
    # neuron (bias add 1, sigmoid 3, a(1-a) 2, times sigma' 1, bias-gradient sum 1) 32,
    # a - y for the output 1: 18 + 18 + 6 + 32 + 1 = 75.
    assert flops_per_sample([2, 3, 1]) == 75
    # Per batch: w -= (eta/m) nabla_w and b likewise, 2 per parameter: 2 * (9 + 4) = 26.
    assert flops_per_batch([2, 3, 1]) == 26
    # 7 samples in batches of 3 -> 3 batches (3, 3, 1): 7 * 75 + 3 * 26 = 603.
    assert flops_per_epoch([2, 3, 1], 7, 3) == 603


def test_flops_match_the_field_notes_for_784_30_10():
    # FIELD_NOTES: "Dense FLOPs per sample: about 96,210 + 47,720/m; 5.05 GFLOP per epoch at m = 10".
    assert flops_per_sample([784, 30, 10]) == 96_210
    assert flops_per_batch([784, 30, 10]) == 47_720
    assert flops_per_epoch([784, 30, 10], 50_000, 10) == 50_000 * 96_210 + 5_000 * 47_720
    assert round(flops_per_epoch([784, 30, 10], 50_000, 10) / 1e9, 2) == 5.05


# -- the sparse algorithm's work, by hand ---------------------------------------------------
def test_sparse_work_of_784_30_10_by_hand():
    # float64: a 64-byte line holds 8, so 30 outputs pad to ld = 32, 10 to 16.
    # 1,000 non-zeros over 7 samples: 2,000 row ops (forward; update) of 32 columns;
    # FLOPs 2 per element: 2 * 2 * 1,000 * 32 = 128,000; bytes: a row read forward, read
    # and written in the update, 3 * 1,000 * 32 * 8 = 768,000. Dense layer 2: w a,
    # w.T delta and its update, 3 passes of 30 x 16, 2 FLOPs each: 2 * 3 * 480 * 7 = 20,160.
    # The working set is w.T of the first layer: 784 x 32 x 8 = 200,704 bytes.
    w = roofline.work([784, 30, 10], "float64", 1000, 7)
    assert w == {"ld": 32, "row_ops": 2000, "row_flops": 128_000, "row_bytes": 768_000,
                 "dense_flops": 20_160, "w1_bytes": 200_704}
    # float32: 16 to a line, so 30 -> 32 and 10 -> 16 as well; bytes halve.
    w32 = roofline.work([784, 30, 10], "float32", 1000, 7)
    assert w32["row_bytes"] == 384_000 and w32["w1_bytes"] == 100_352 and w32["dense_flops"] == 20_160


def test_bound_adds_the_dense_layers_to_the_binding_row_limit():
    counts = {"row_bytes": 6e9, "row_flops": 1e9, "dense_flops": 2e8}
    # stream: 6e9 B / 100 GB/s = 0.06 s; FMA: 1e9 / 50 GFLOP/s = 0.02 s; dense 2e8 / 50e9 = 0.004 s.
    b = roofline.bound(counts, 100e9, 50.0, row_ops_s=0.5)
    assert b["bound_s"] == pytest.approx(0.064) and b["wall"] == "stream" and b["row_ops_s"] == 0.5
    b = roofline.bound(counts, 1e12, 50.0)  # 0.006 s of streaming: the FMAs bind
    assert b["bound_s"] == pytest.approx(0.024) and b["wall"] == "fma"


# -- flag validation ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--sizes", "784,0,10"], "--sizes must be >= 1"),
        (["--sizes", "784,30"], "end with 10"),
        (["--sizes", "780,30,10"], "start with 784"),
        (["--sizes", "784"], "at least two layers"),
        (["--sizes", "784,a,10"], "comma-separated integers"),
        (["--mini-batch-size", "0"], "--mini-batch-size values must be >= 1, got 0"),
        (["--mini-batch-size", "10,-1"], "got -1"),
        (["--impl", "numba,cuda"], "unknown implementation 'cuda'"),
        (["--impl", "torch"], "added by --peers"),
        (["--dtype", "float16"], "float64 and/or float32, got 'float16'"),
        (["--repeat", "0"], "--repeat must be >= 1, got 0"),
        (["--n-train", "50001"], "--n-train must be <= 50,000"),
        (["--threads", "0"], "--threads must be >= 1"),
        (["--eta", "0"], "--eta must be a finite number > 0"),
    ],
)
def test_bad_flags_are_refused_with_the_rule(capsys, flags, message):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", *flags])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_too_many_threads_and_a_missing_json_directory_are_refused(capsys, tmp_path):
    assert cli.main(["bench", "--threads", "4096"]) == 2
    assert "exceeds NUMBA_NUM_THREADS" in capsys.readouterr().err
    assert cli.main(["bench", "--json", str(tmp_path / "no" / "such" / "dir" / "x.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_defaults():
    args = cli.build_parser().parse_args(["bench"])
    assert args.sizes == [784, 30, 10]
    assert args.impl == ["numba", "numpy-matrix", "numpy-per-sample"]
    assert args.mini_batch_size == [1, 10, 100]
    assert args.dtype == ["float64", "float32"]
    assert (args.repeat, args.n_train, args.threads, args.peers) == (5, 50_000, 1, False)


# -- a tiny real run ------------------------------------------------------------------------
TINY = [
    "--sizes", "784,8,10", "--n-train", "500", "--repeat", "1", "--impl", "numba,numpy-matrix",
    "--mini-batch-size", "10", "--dtype", "float64",
]


@pytest.fixture(scope="module")
def tiny_run(mnist_dir, tmp_path_factory):
    """``(report, stdout)`` of one tiny ``fastnn bench --json`` run on real MNIST."""
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    capture = pytest.MonkeyPatch()
    out = tmp_path_factory.mktemp("out") / "stdout.txt"
    with open(out, "w") as f:
        capture.setattr(sys, "stdout", f)
        capture.setattr(sys, "stderr", f)
        try:
            rc = cli.main(["bench", *TINY, "--data-dir", str(mnist_dir), "--json", str(path),
                           "--plot", str(path.with_suffix(".png"))])
        finally:
            capture.undo()
    assert rc == 0, out.read_text()
    return json.loads(path.read_text()), out.read_text(), path.with_suffix(".png")


@pytest.mark.slow
def test_tiny_run_reports_sane_rows(tiny_run):
    report, _stdout, _png = tiny_run
    rows = {row["impl"]: row for row in report["rows"]}
    assert set(rows) == {"numba", "numpy-matrix"}
    # 784-8-10 by hand: S = 784*8 + 8*10 = 6,352, S' = 80, N = 18, 10 outputs;
    # per sample 4*6,352 + 2*80 + 8*18 + 10 = 25,722; per batch 2*(6,352 + 18) = 12,740;
    # 500 samples in 50 batches: 500*25,722 + 50*12,740 = 13,498,000 FLOPs.
    for row in rows.values():
        assert ROW_KEYS <= set(row)
        assert (row["m"], row["dtype"], row["sizes"], row["n_train"]) == (10, "float64", [784, 8, 10], 500)
        assert row["gflop_per_epoch"] == pytest.approx(13_498_000 / 1e9)
        assert row["epoch_s_min"] <= row["epoch_s_median"] <= row["epoch_s_max"]
        assert row["epoch_s_median"] > 0 and len(row["epoch_s"]) == 1
        assert row["samples_per_s"] == pytest.approx(500 / row["epoch_s_median"])
        assert row["gflops"] == pytest.approx(row["gflop_per_epoch"] / row["epoch_s_median"])
        assert row["peak_fraction"] == pytest.approx(row["gflops"] / report["peak_gflops"]["float64"])
        assert row["shuffle_s"] + row["kernel_s"] == pytest.approx(row["epoch_s_median"])
        assert row["bound_fraction"] == pytest.approx(row["bound_s"] / row["epoch_s_median"])
        assert row["eval_s"] > 0 and 0 <= row["test_accuracy"] <= 1
    assert rows["numpy-matrix"]["speedup_vs_numpy_matrix"] == 1.0
    assert rows["numba"]["speedup_vs_numpy_matrix"] == pytest.approx(
        rows["numpy-matrix"]["epoch_s_median"] / rows["numba"]["epoch_s_median"]
    )
    assert rows["numba"]["compile_s"] is not None and rows["numpy-matrix"]["compile_s"] is None
    # Each row's own bound: the sparse roofline for numba, the dense FLOPs at the peak for NumPy.
    roof = report["roofline"]["float64"]
    assert rows["numba"]["bound_kind"] == "sparse" and rows["numba"]["bound_s"] == roof["bound_s"]
    assert rows["numpy-matrix"]["bound_kind"] == "dense"
    assert rows["numpy-matrix"]["bound_s"] == pytest.approx(13_498_000 / (report["peak_gflops"]["float64"] * 1e9))
    # Same initial weights and shuffle, m = 10: the two implementations train alike (up to
    # rounding, which may flip a borderline test image or two).
    assert rows["numba"]["test_accuracy"] == pytest.approx(rows["numpy-matrix"]["test_accuracy"], abs=2e-3)


@pytest.mark.slow
def test_tiny_run_counts_the_real_non_zeros(tiny_run, mnist_dir):
    import numpy as np

    from fastnn.datasets import load_mnist

    report, _stdout, _png = tiny_run
    (X, _y), _, _ = load_mnist(mnist_dir, dtype="float64")
    nnz = int(np.count_nonzero(X[:500]))  # independent of the kernels' CSR
    roof = report["roofline"]["float64"]
    assert roof["work"] == roofline.work([784, 8, 10], "float64", nnz, 500)
    assert roof["stream_gb_per_s"] > 0 and roof["row_ops_s"] > 0
    assert roof["bound_s"] == pytest.approx(max(roof["stream_s"], roof["fma_s"]) + roof["dense_s"])


@pytest.mark.slow
def test_tiny_run_draws_the_figure(tiny_run):
    from PIL import Image

    _report, stdout, png = tiny_run
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size[0] > 600 and image.size[1] > 400
    assert f"Wrote the figure to {png}" in stdout


@pytest.mark.slow
def test_tiny_run_records_the_machine_and_command(tiny_run):
    report, stdout, _png = tiny_run
    machine = report["machine"]
    for key in ("cpu", "logical_cpus", "threads", "numpy", "numba", "blas", "python"):
        assert machine[key] not in (None, "")
    assert machine["threads"] == 1 and report["settings"]["threads"] == 1
    assert set(report["peak_gflops"]) == {"float64"} and report["peak_gflops"]["float64"] > 0
    assert report["command"].startswith("fastnn bench --sizes 784,8,10 --impl numba,numpy-matrix ")
    # The command reproduces the settings.
    args = cli.build_parser().parse_args(report["command"].split()[1:])
    assert (args.sizes, args.impl, args.mini_batch_size, args.n_train) == ([784, 8, 10], ["numba", "numpy-matrix"], [10], 500)
    assert "s/epoch" in stdout and "Threads: 1" in stdout and "Where an epoch's time goes" in stdout


# -- tools/perf_table.py ---------------------------------------------------------------------
def _perf_table(*args):
    return subprocess.run([sys.executable, str(PERF_TABLE), *map(str, args)], capture_output=True, text=True)


@pytest.mark.slow
def test_perf_table_rewrites_only_the_marked_section(tiny_run, tmp_path):
    report, _, _png = tiny_run
    bench_json = tmp_path / "bench.json"
    bench_json.write_text(json.dumps(report))
    readme = tmp_path / "README.md"
    head, tail = "# fastnn\n\nIntro.\n\n", "\n\n## Tests\n\nRun them.\n"
    readme.write_text(f"{head}<!-- BEGIN perf -->\nstale table\n<!-- END perf -->{tail}")
    done = _perf_table(bench_json, "--readme", readme, "--fallback", tmp_path / "fallback.md")
    assert done.returncode == 0, done.stderr
    text = readme.read_text()
    assert text.startswith(head + "<!-- BEGIN perf -->\n") and text.endswith("<!-- END perf -->" + tail)
    assert "stale table" not in text
    section = text[len(head):-len(tail)]
    assert "| numba | 10 | float64 |" in section and "| numpy-matrix | 10 | float64 |" in section and "1.00×" in section
    assert report["machine"]["cpu"] in section and "**Threads:** 1" in section
    assert f"`{report['command']}`" in section and report["date"] in section
    assert not (tmp_path / "fallback.md").exists()
    # Idempotent: a second run changes nothing.
    assert _perf_table(bench_json, "--readme", readme).returncode == 0
    assert readme.read_text() == text


@pytest.mark.slow
def test_perf_table_falls_back_without_markers(tiny_run, tmp_path):
    report, _, _png = tiny_run
    bench_json = tmp_path / "bench.json"
    bench_json.write_text(json.dumps(report))
    readme = tmp_path / "README.md"
    readme.write_text("# fastnn\n")
    fallback = tmp_path / "docs" / "performance.md"
    done = _perf_table(bench_json, "--readme", readme, "--fallback", fallback)
    assert done.returncode == 0 and "no <!-- BEGIN perf -->" in done.stderr
    assert readme.read_text() == "# fastnn\n"
    assert "| numba | 10 | float64 |" in fallback.read_text()
    # A fallback without markers gets a marked section appended, then rewritten in place.
    fallback.write_text("# Performance\n\nProse.\n")
    for _ in range(2):
        assert _perf_table(bench_json, "--readme", readme, "--fallback", fallback).returncode == 0
    text = fallback.read_text()
    assert text.startswith("# Performance\n\nProse.\n\n") and text.count("<!-- BEGIN perf -->") == 1
    assert "| numba | 10 | float64 |" in text


def test_perf_table_refuses_other_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": []}')
    done = _perf_table(bad, "--readme", tmp_path / "README.md", "--fallback", tmp_path / "p.md")
    assert done.returncode == 2 and "fastnn bench --json" in done.stderr
    assert not (tmp_path / "p.md").exists()


# -- tools/threads_report.py -----------------------------------------------------------------
THREADS_REPORT = REPO / "tools" / "threads_report.py"


@pytest.mark.slow
@pytest.mark.skipif(__import__("numba").config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")
def test_threads_report_measures_and_rewrites_only_its_section(mnist_dir, tmp_path):
    """A tiny real run: one unsplit and one split network, and two networks at once."""
    target = tmp_path / "performance.md"
    head, tail = "# Performance\n\n", "\n\nMore prose.\n"
    target.write_text(f"{head}<!-- BEGIN threads -->\nstale\n<!-- END threads -->{tail}")
    out = tmp_path / "threads.json"
    done = subprocess.run(
        [sys.executable, str(THREADS_REPORT), "--data-dir", str(mnist_dir), "--sizes", "784,30,10", "784,520,10",
         "--n-train", "200", "--repeat", "1", "--epochs", "1", "--networks-sizes", "1",
         "--json", str(out), "--target", str(target)],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert [(r["sizes"], r["split"]) for r in report["one_network"]] == [([784, 30, 10], False), ([784, 520, 10], True)]
    assert [r["sizes"] for r in report["several_networks"]] == [[784, 30, 10]]
    text = target.read_text()
    assert text.startswith(head + "<!-- BEGIN threads -->\n") and text.endswith("<!-- END threads -->" + tail)
    assert "stale" not in text and "| 784-520-10 | 10 | float64 |" in text and "| 2 × 784-30-10 | 10 |" in text
    assert f"`{report['command']}`" in text and "1 timed round after" in text
    # Re-rendering the saved report gives the same section; a target without markers is refused.
    again = subprocess.run([sys.executable, str(THREADS_REPORT), "--from-json", str(out), "--target", str(target)],
                           capture_output=True, text=True)
    assert again.returncode == 0 and target.read_text() == text
    target.write_text("# no markers\n")
    refused = subprocess.run([sys.executable, str(THREADS_REPORT), "--from-json", str(out), "--target", str(target)],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "<!-- BEGIN threads -->" in refused.stderr
    assert target.read_text() == "# no markers\n"
