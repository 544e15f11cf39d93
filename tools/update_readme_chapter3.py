"""Regenerate the README's Chapter 3 (network2) results section from a saved reproduce JSON.

Replaces everything between ``<!-- BEGIN chapter3 -->`` and ``<!-- END chapter3 -->`` with a
line saying when, how and where the numbers were measured, and the table of our results beside
the book's. The numbers are never typed by hand: rerun this after
``fastnn reproduce chapter3 --json docs/chapter3_results.json``.

Usage::

    python tools/update_readme_chapter3.py [RESULTS_JSON] [--readme README.md] [--check]

``--check`` changes nothing and exits 1 if the README is out of date (for CI).
"""

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from readme_results import Chapter, run  # noqa: E402

from fastnn.book.reproduce import Chapter3Results  # noqa: E402

CHAPTER = Chapter(
    name="chapter3",
    title="Chapter 3",
    results=Chapter3Results,
    versions=(("Python", "python"), ("NumPy", "numpy"), ("Numba", "numba")),
    quick_note="few epochs on small subsets; not comparable with the book",
    about=(
        "Accuracy in percent (of the images the note names); with several seeds, mean "
        "(min–max). Every network uses the cross-entropy cost and mini-batches of 10. The "
        "book's numbers are single runs (`np.random.seed(12345678)`), from the figure data of "
        "its repository (`fig/*.json`) or its text."
    ),
)


def main(argv=None):
    return run(CHAPTER, argv)


if __name__ == "__main__":
    sys.exit(main())
