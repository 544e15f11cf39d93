"""fastnn reproduce chapter1: the quick run on real MNIST, JSON, the table, the CLI and README tool.

The quick run (3 epochs, one seed, SVM on a subset) is checked against what the book's
numbers imply for it: not equal to the 30-epoch values, but plausible beside them.
"""

import argparse
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pytest

import fastnn.book.reproduce as reproduce
from fastnn.book.reproduce import (
    BOOK,
    Chapter1Results,
    ResultRow,
    average_darkness_baseline,
    markdown_table,
    random_guessing_baseline,
    register_cli,
    reproduce_chapter1,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick(mnist_dir):
    t0 = time.perf_counter()
    results = reproduce_chapter1(mnist_dir, quick=True, verbose=False)
    return results, time.perf_counter() - t0


def test_quick_run_settings(quick):
    results, _seconds = quick
    assert results.quick and results.settings["epochs"] == 3 and results.settings["seeds"] == [0]


def test_quick_784_30_10_learns(quick):
    results, _ = quick
    peak = results.row("net30_peak")
    # 3 epochs of the book's 784-30-10: the book is at 93.48 % after its third epoch.
    assert peak.mean >= 90.0, peak
    assert len(peak.history) == 1 and len(peak.history[0]) == 3
    assert peak.mean == pytest.approx(max(peak.history[0]) / 100)  # percent of 10,000


def test_quick_eta_100_is_stuck_near_ten_percent(quick):
    results, _ = quick
    # The book: 1009 / 10000 from epoch 0 on, 982 at the end. Saturated networks guess one
    # or a few classes (the test set's class frequencies are 8.92 % to 11.35 %) and stay
    # there: no epoch moves the accuracy by more than 0.5 points.
    history = np.array(results.row("eta_large_final").history[0]) / 100
    assert np.all((5.0 <= history) & (history <= 15.0)), history
    assert history.max() - history.min() <= 0.5, history


def test_quick_eta_0_001_learns_almost_nothing(quick):
    results, _ = quick
    small, good = results.row("eta_small_final"), results.row("net30_peak")
    # The book: 11.39 % after one epoch, 21.42 % after 30. After 3 it is far below eta = 3.
    assert small.mean < 40.0 < good.mean


def test_average_darkness_is_the_books_2225(quick):
    results, _ = quick
    assert results.row("darkness").ours == [22.25]  # deterministic: exactly the book's


def test_random_guessing_about_ten_percent(quick):
    results, _ = quick
    assert 9.0 <= results.row("random").mean <= 11.0  # 10 % +- 3.3 standard deviations


def test_svm_row(quick):
    results, _ = quick
    row = results.row("svm_scale")
    if reproduce._sklearn_version() is None:
        assert row.ours == [] and "scikit-learn is not installed" in row.note
    else:  # 2,000 training images: below the full 94.35 %, far above darkness
        assert 85.0 <= row.mean <= 97.0 and "trained on 2,000" in row.note


def test_every_row_has_the_books_value(quick):
    results, _ = quick
    for row in results.rows:
        key = "svm" if row.key.startswith("svm") else row.key
        assert row.book == BOOK[key][0]
    assert [r.key for r in results.rows][:4] == [
        "net30_epoch0", "net30_peak", "net100_peak", "eta_small_epoch0"]


def test_json_round_trip(quick, tmp_path):
    results, _ = quick
    path = tmp_path / "r.json"
    text = results.to_json(path)
    loaded = Chapter1Results.from_json(path)
    assert loaded == results
    assert Chapter1Results.from_json(text) == results
    d = json.loads(path.read_text())
    assert d["rows"][1]["mean"] == results.row("net30_peak").mean
    assert d["environment"]["numpy"] == np.__version__


# --- pieces that need no MNIST --------------------------------------------------------------


def _canned():
    rows = [
        ResultRow("net30_peak", "784-30-10, η = 3.0", "peak accuracy over 30 epochs", 95.42,
                  "peak", ours=[95.0, 95.5, 94.9], seeds=[0, 1, 2]),
        ResultRow("darkness", "average darkness", "accuracy", 22.25, "2,225", ours=[22.25]),
        ResultRow("svm_scale", "SVM", "accuracy", 94.35, "9,435", note="skipped"),
    ]
    return Chapter1Results(rows=rows, quick=False, settings={"epochs": 30},
                           command="fastnn reproduce chapter1", date="2026-01-02T03:04:05+00:00",
                           seconds=125.0, environment={"numpy": "2.4", "cpu_count": 2,
                                                       "platform": "Linux"})


def test_markdown_table_puts_ours_beside_the_books():
    table = markdown_table(_canned()).splitlines()
    assert table[0].startswith("| Experiment | Measure | Book (%) | fastnn (%) |")
    # mean (min–max) over three seeds: (95.0 + 95.5 + 94.9) / 3 = 95.133...
    assert "| 95.42 | 95.13 (94.90–95.50) | 0, 1, 2 |" in table[2]
    assert "| 22.25 | 22.25 | — |" in table[3]
    assert "| 94.35 | — | — | skipped; book: 9,435 |" in table[4]


def test_darkness_baseline_by_hand():
    # Digit 0 images have darkness 10 and 12 (mean 11), digit 1 images 2 and 4 (mean 3);
    # digits 2-9 are absent and never guessed. Test darknesses 9 -> 0, 6 -> 1, 7 -> tie
    # (|7 - 11| = |7 - 3| = 4) -> the smaller digit, 0.
    def images(darknesses):
        return np.array([[d / 2, d / 2] for d in darknesses])

    train = (images([10, 12, 2, 4]), np.array([0, 0, 1, 1]))
    assert average_darkness_baseline(train, (images([9, 6, 7]), np.array([0, 1, 0]))) == 3
    assert average_darkness_baseline(train, (images([9, 6, 7]), np.array([1, 0, 1]))) == 0


def test_random_guessing_is_seeded():
    test = (None, np.arange(10_000) % 10)
    a = random_guessing_baseline(test, seed=3)
    assert a == random_guessing_baseline(test, seed=3)
    assert 900 <= a <= 1100


def test_svm_skipped_without_scikit_learn(monkeypatch):
    monkeypatch.setattr(reproduce, "_sklearn_version", lambda: None)
    rows = reproduce._svm_rows(reproduce.QUICK, None, None, True, lambda m: None)
    assert len(rows) == 1 and rows[0].ours == [] and rows[0].book == 94.35
    assert "skipped: scikit-learn is not installed" in rows[0].note


def test_seeds_validation():
    with pytest.raises(ValueError, match=r"seeds must be a non-empty sequence of integers, got \(\)"):
        reproduce_chapter1(quick=True, seeds=[], data=((), (), ()))
    with pytest.raises(ValueError, match="seeds must be"):
        reproduce_chapter1(quick=True, seeds=[0.5], data=((), (), ()))


def _parser():
    parser = argparse.ArgumentParser(prog="fastnn")
    register_cli(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_arguments():
    args = _parser().parse_args(
        ["reproduce", "chapter1", "--quick", "--seeds", "4", "5", "--data-dir", "d",
         "--json", "out.json", "--no-svm"])
    assert (args.experiment, args.quick, args.seeds, args.data_dir, args.json, args.no_svm) == (
        "chapter1", True, [4, 5], Path("d"), Path("out.json"), True)
    assert callable(args.func)
    with pytest.raises(SystemExit):
        _parser().parse_args(["reproduce", "chapter2"])


def test_cli_handler_runs_prints_and_saves(monkeypatch, tmp_path, capsys):
    calls = {}

    def fake(data_dir, **kwargs):
        calls.update(kwargs, data_dir=data_dir)
        return _canned()

    monkeypatch.setattr(reproduce, "reproduce_chapter1", fake)
    out = tmp_path / "r.json"
    args = _parser().parse_args(["reproduce", "chapter1", "--quick", "--json", str(out)])
    assert args.func(args) == 0
    assert calls["quick"] is True and calls["svm"] is True and calls["seeds"] is None
    assert calls["command"] == f"fastnn reproduce chapter1 --quick --json {out}"
    assert "| 95.42 | 95.13 (94.90–95.50) |" in capsys.readouterr().out
    assert Chapter1Results.from_json(out) == _canned()


def test_cli_missing_data_is_a_clean_error(monkeypatch, capsys):
    def missing(*args, **kwargs):
        raise FileNotFoundError("no MNIST in /nowhere")

    monkeypatch.setattr(reproduce, "reproduce_chapter1", missing)
    assert reproduce.main(["chapter1", "--quick"]) == 2
    assert "fastnn reproduce: error: no MNIST in /nowhere" in capsys.readouterr().err


# --- tools/readme_section.py: the one rule every README tool replaces its section by -------------


@pytest.fixture
def sections():
    spec = importlib.util.spec_from_file_location("readme_section", REPO / "tools" / "readme_section.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_replace_section_keeps_everything_outside_the_markers(sections):
    text = "head\n<!-- BEGIN x -->\nold\nlines\n<!-- END x -->\ntail <!-- BEGIN y -->\n"
    want = "head\n<!-- BEGIN x -->\nnew\n<!-- END x -->\ntail <!-- BEGIN y -->\n"
    assert sections.replace_section(text, "x", "new") == want
    assert sections.replace_section(text, "x", "new\n") == sections.replace_section(text, "x", "new")
    assert sections.replace_section(text, "x", "") == "head\n<!-- BEGIN x -->\n<!-- END x -->\ntail <!-- BEGIN y -->\n"
    assert sections.has_section(text, "y") and not sections.has_section(text, "z")


@pytest.mark.parametrize("text", [
    "no markers",
    "<!-- BEGIN x -->\n",  # no end
    "<!-- END x -->\n<!-- BEGIN x -->\n",  # out of order
    "<!-- BEGIN x -->\n<!-- END x -->\n<!-- BEGIN x -->\n<!-- END x -->\n",  # twice
])
def test_replace_section_refuses_malformed_markers(sections, text):
    with pytest.raises(ValueError, match="expected one <!-- BEGIN x --> line followed by one <!-- END x --> line"):
        sections.replace_section(text, "x", "new")


# --- tools/update_readme_chapter1.py ---------------------------------------------------------


@pytest.fixture
def readme_tool():
    spec = importlib.util.spec_from_file_location(
        "update_readme_chapter1", REPO / "tools" / "update_readme_chapter1.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_tool_replaces_only_the_marked_section(readme_tool, tmp_path):
    results_json = tmp_path / "r.json"
    _canned().to_json(results_json)
    readme = tmp_path / "README.md"
    readme.write_text("# fastnn\n\n<!-- BEGIN chapter1 -->\nstale\n<!-- END chapter1 -->\nafter\n")
    argv = [str(results_json), "--readme", str(readme)]
    assert readme_tool.main(argv + ["--check"]) == 1  # stale
    assert readme_tool.main(argv) == 0
    text = readme.read_text()
    assert text.startswith("# fastnn\n\n<!-- BEGIN chapter1 -->\n<!-- generated by")
    assert text.endswith("<!-- END chapter1 -->\nafter\n") and "stale" not in text
    assert "Measured on 2026-01-02 with `fastnn reproduce chapter1` in 2.1 min" in text
    assert "| 95.42 | 95.13 (94.90–95.50) |" in text
    assert readme_tool.main(argv + ["--check"]) == 0  # now up to date
    assert readme_tool.main(argv) == 0 and readme.read_text() == text  # idempotent


def test_readme_tool_needs_the_markers(readme_tool, tmp_path, capsys):
    results_json = tmp_path / "r.json"
    _canned().to_json(results_json)
    readme = tmp_path / "README.md"
    readme.write_text("# fastnn\nno markers\n")
    assert readme_tool.main([str(results_json), "--readme", str(readme)]) == 2
    assert "<!-- BEGIN chapter1 -->" in capsys.readouterr().err
    assert readme.read_text() == "# fastnn\nno markers\n"
