"""The generated sections of the README and docs: one rule for finding and replacing them.

A section is everything between a line ``<!-- BEGIN name -->`` and a line
``<!-- END name -->``. Every tool that writes part of a document (``update_readme_*.py``,
``readme_examples.py``, ``readme_plots.py``, ``perf_table.py``, ``threads_report.py``)
replaces its sections through :func:`replace_section` and touches nothing else.
"""


def markers(name):
    """``(begin, end)``: the two marker lines of section ``name``, without newlines."""
    return f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"


def has_section(text, name):
    """Whether ``text`` holds either marker of section ``name``."""
    return any(marker in text for marker in markers(name))


def replace_section(text, name, body):
    """``text`` with section ``name``'s lines replaced by ``body``.

    ``body`` starts on the line after the begin marker; the end marker follows it on a
    line of its own (a newline is added to a non-empty ``body`` that lacks one).

    Raises
    ------
    ValueError
        Unless ``text`` holds each marker exactly once, the begin marker first.
    """
    begin, end = markers(name)
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"expected one {begin} line followed by one {end} line")
    head, rest = text.split(begin, 1)
    _old, tail = rest.split(end, 1)
    if body and not body.endswith("\n"):
        body += "\n"
    return f"{head}{begin}\n{body}{end}{tail}"
