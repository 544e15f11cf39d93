"""Regenerate the README's Chapter 1 results section from a saved reproduce JSON.

Replaces everything between ``<!-- BEGIN chapter1 -->`` and ``<!-- END chapter1 -->`` with a
line saying when, how and where the numbers were measured, and the table of our results beside
the book's. The numbers are never typed by hand: rerun this after
``fastnn reproduce chapter1 --json docs/chapter1_results.json``.

Usage::

    python tools/update_readme_chapter1.py [RESULTS_JSON] [--readme README.md] [--check]

``--check`` changes nothing and exits 1 if the README is out of date (for CI).
"""

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from readme_results import Chapter, run  # noqa: E402

from fastnn.book.reproduce import Chapter1Results  # noqa: E402

CHAPTER = Chapter(
    name="chapter1",
    title="Chapter 1",
    results=Chapter1Results,
    versions=(("Python", "python"), ("NumPy", "numpy"), ("Numba", "numba"), ("scikit-learn", "scikit-learn")),
    quick_note="fewer epochs and seeds; not comparable with the book",
    about=(
        "Accuracy in percent of the 10,000 MNIST test images; with several seeds, "
        "mean (min–max). The book reports single runs (for 784-30-10 the best of three); "
        "with its N(0, 1) initialisation runs differ widely, so compare its numbers with "
        "our range."
    ),
)


def main(argv=None):
    return run(CHAPTER, argv)


if __name__ == "__main__":
    sys.exit(main())
