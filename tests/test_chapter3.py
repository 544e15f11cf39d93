"""fastnn reproduce chapter3 and ``fastnn bench --cost``: network2's options end to end.

The quick run is tiny (a few epochs on 1,000 images); it checks the rows' shape, the book's
values beside ours and that cross-entropy networks learn, not the full run's numbers.
"""

import importlib.util
import json
from pathlib import Path

import pytest

from fastnn import cli
from fastnn.book.reproduce import CHAPTER3_BOOK as BOOK
from fastnn.book.reproduce import CHAPTER3_EXPERIMENTS as EXPERIMENTS
from fastnn.book.reproduce import Chapter3Results, register_cli, reproduce_chapter3

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick(mnist_dir):
    return reproduce_chapter3(mnist_dir, quick=True, verbose=False)


def test_quick_run_has_every_experiment_beside_the_book(quick):
    keys = [r.key for r in quick.rows]
    assert keys == [key for exp in EXPERIMENTS.values() for key, _ in exp["rows"]]
    for row in quick.rows:
        assert row.book == BOOK[row.key][0] and row.book_source
        assert row.seeds == [0] and len(row.ours) == 1 and 0 <= row.ours[0] <= 100
    assert quick.quick and quick.settings["cost"] == "cross-entropy"


def test_quick_networks_learn(quick):
    # 2 epochs on 1,000 images: well above 10 % chance, far below the full run's 97 %.
    assert quick.row("net100_peak").ours[0] > 50
    assert quick.row("ce30_l2_peak").ours[0] > 40
    # The scaled initialisation starts faster than N(0, 1) (the book's weight_initialization figure).
    assert quick.row("init100_scaled_epoch0").ours[0] > quick.row("init100_normal_epoch0").ours[0]


def test_json_round_trip_and_table(quick, tmp_path):
    path = tmp_path / "r.json"
    quick.to_json(path)
    back = Chapter3Results.from_json(path)
    assert [r.ours for r in back.rows] == [r.ours for r in quick.rows]
    assert json.loads(path.read_text())["rows"][0]["max"] == quick.rows[0].max
    table = back.to_markdown()
    assert "| Experiment | Measure | Book (%) | fastnn (%) |" in table
    assert "| 97.92 |" in table  # the book's 784-100-10 network2 result beside ours


def test_bad_arguments():
    with pytest.raises(ValueError, match="seeds must be a non-empty sequence"):
        reproduce_chapter3(quick=True, seeds=[], data=((None, None),) * 3)
    with pytest.raises(ValueError, match="experiments must name entries"):
        reproduce_chapter3(quick=True, experiments=["chapter9"], data=((None, None),) * 3)


def test_cli_accepts_chapter3():
    import argparse

    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["reproduce", "chapter3", "--quick", "--json", "x.json"])
    assert (args.experiment, args.quick) == ("chapter3", True)


def test_readme_tool(mnist_dir, quick, tmp_path):
    spec = importlib.util.spec_from_file_location("update_readme_chapter3",
                                                  REPO / "tools" / "update_readme_chapter3.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    results_json = tmp_path / "r.json"
    quick.to_json(results_json)
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- BEGIN chapter3 -->\nstale\n<!-- END chapter3 -->\nafter\n")
    argv = [str(results_json), "--readme", str(readme)]
    assert tool.main(argv + ["--check"]) == 1
    assert tool.main(argv) == 0
    text = readme.read_text()
    assert "stale" not in text and text.endswith("<!-- END chapter3 -->\nafter\n")
    assert "Quick run" in text and "| 97.92 |" in text
    assert tool.main(argv + ["--check"]) == 0


# -- fastnn bench --cost ------------------------------------------------------------------------
@pytest.mark.parametrize(("flag", "message"), [
    ("softmax", "--cost must be comma-separated quadratic or cross-entropy"),
    ("cross-entropy:x", "LAMBDA must be a number"),
    ("cross-entropy:-1", "LAMBDA must be a finite number >= 0"),
])
def test_bench_bad_cost_is_refused(capsys, flag, message):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--cost", flag])
    assert message in capsys.readouterr().err


def test_bench_cost_rows_side_by_side(mnist_dir, tmp_path, capsys):
    path = tmp_path / "bench.json"
    rc = cli.main(["bench", "--sizes", "784,8,10", "--n-train", "500", "--repeat", "2", "--impl", "numba,numpy-matrix",
                   "--mini-batch-size", "10", "--dtype", "float64", "--cost", "quadratic,cross-entropy:5",
                   "--data-dir", str(mnist_dir), "--json", str(path)])
    out = capsys.readouterr().out
    assert rc == 0
    report = json.loads(path.read_text())
    rows = {(r["impl"], r["cost"], r["lmbda"]): r for r in report["rows"]}
    costs = (("quadratic", 0.0), ("cross-entropy", 5.0))
    assert set(rows) == {(i, c, lam) for i in ("numba", "numpy-matrix") for c, lam in costs}
    for (impl, _cost, _lmbda), row in rows.items():
        quad = rows[(impl, "quadratic", 0.0)]
        ratios = sorted(e / q for e, q in zip(row["epoch_s"], quad["epoch_s"]))
        assert row["vs_quadratic"] == pytest.approx(sum(ratios) / 2)  # the median of two
    assert rows[("numba", "quadratic", 0.0)]["vs_quadratic"] == 1.0
    assert "--cost quadratic,cross-entropy:5" in report["command"]
    assert "numba [cross-entropy, λ=5]" in out and "vs quadratic" in out
