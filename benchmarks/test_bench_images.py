"""pytest-benchmark: ``fastnn.read_digits`` on a line of 30 digits, from a PNG file.

The line is composed from MNIST test digits as the segmentation evaluation composes its
separated lines (with every third gap closed to make touching pairs), written once; each
round reads the file through the public path (decode, preparation, components, cuts,
every trial segment classified in one batch, the dynamic programme). The network's
kernel is warmed by one untimed call. Time is reported, never asserted.

Run: ``python -m pytest benchmarks/test_bench_images.py --benchmark-only``.
"""

import numpy as np
import pytest

pytest.importorskip("PIL")
pytest.importorskip("scipy")

import fastnn
from fastnn import images
from fastnn.book import segmentation as segmentation_eval


@pytest.fixture(scope="module")
def line_png(mnist_dir, tmp_path_factory):
    _, _, (X, y) = fastnn.load_mnist(mnist_dir, dtype="float32")
    rng = np.random.default_rng(0)
    idx = rng.choice(len(y), size=30, replace=False)
    gaps = rng.integers(4, 17, size=29)
    gaps[::3] = -2  # some pairs close enough to touch
    ink, _ = segmentation_eval.compose_line([X[i] for i in idx], gaps, rng)
    path = tmp_path_factory.mktemp("line") / "line30.png"
    segmentation_eval.save_page(ink, path)
    return path, "".join(str(y[i]) for i in idx)


def test_read_30_digits(benchmark, line_png):
    path, truth = line_png
    net = images.default_model()
    fastnn.read_digits(path, net)  # warm the kernel and the imports
    benchmark.group = "read_digits|30 digits"
    result = benchmark(fastnn.read_digits, path, net)
    benchmark.extra_info["truth"] = truth
    benchmark.extra_info["read"] = result.text
    assert len(result.text) > 0
