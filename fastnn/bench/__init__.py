"""Benchmark tooling: what ``fastnn bench``, pytest-benchmark and asv time.

- :mod:`fastnn.bench.implementations`: the one table of interchangeable SGD epochs the
  tests check and every benchmark times;
- :mod:`fastnn.bench.bench`: ``fastnn bench``, a report of every configuration.
"""
