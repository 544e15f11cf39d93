"""fastnn's version, in one place (``fastnn.__version__``, ``fastnn --version``, reports)."""

__version__ = "0.1.0"
