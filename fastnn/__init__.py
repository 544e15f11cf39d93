"""fastnn: Chapter 1 of Nielsen's *Neural Networks and Deep Learning*, made fast."""

__version__ = "0.1.0"
