"""One SGD epoch of real MNIST per implementation x mini-batch size x dtype.

Implementations come from :data:`fastnn.bench.implementations.IMPLEMENTATIONS`, the table the
tests check. ``numpy-per-sample-5k-subset`` is the book's per-sample code timed on the
first 5,000 images only (its epoch on 50,000 takes seconds), so its ``time_epoch`` is a
tenth of an epoch: compare ``track_epoch_seconds`` (every implementation scaled to the
full 50,000-image epoch) or ``track_samples_per_second`` across implementations.
"""

import time

import numpy as np

from .common import ETA, N_TRAIN, PER_SAMPLE_N, SEED, mnist, one_thread

#: asv parameter value -> (name in IMPLEMENTATIONS, images per epoch)
IMPLS = {
    "numba": ("numba", N_TRAIN),
    "numpy-matrix": ("numpy-matrix", N_TRAIN),
    "numpy-per-sample-5k-subset": ("numpy-per-sample", PER_SAMPLE_N),
}


class SGDEpoch:
    """784-30-10, eta = 3: time, peak memory, throughput and accuracy of one epoch."""

    params = (list(IMPLS), [1, 10, 100], ["float64", "float32"])
    param_names = ["implementation", "mini_batch_size", "dtype"]
    timeout = 600
    number = 1  # one epoch per sample
    repeat = (1, 5, 30.0)  # at least 1, at most 5 samples, stop after 30 s
    warmup_time = 0.0
    sizes = (784, 30, 10)

    def setup(self, impl, m, dtype):
        import fastnn
        from fastnn.bench.implementations import IMPLEMENTATIONS

        one_thread()
        name, n = IMPLS[impl]
        X, Y, self.X_test, self.y_test = mnist(dtype)
        self.X, self.Y, self.n, self.m = X[:n], Y[:n], n, m
        self.cls = IMPLEMENTATIONS[name]
        self.net = fastnn.Network(self.sizes, seed=SEED, dtype=dtype)
        self.perm = np.random.default_rng(SEED).permutation(n)
        fastnn.compile_kernels(dtype)  # the JIT is warm before anything is timed
        # One runner, as in one training run: its first call (untimed, here) pays the
        # one-off work per data set, e.g. the Numba implementation's index of non-zero
        # pixels; the timed calls are the next epochs.
        self.runner = self.cls(self.net)
        self.runner.epoch(self.X, self.Y, self.perm[:1000], m, ETA)

    def time_epoch(self, impl, m, dtype):
        """Seconds per call: an epoch, except a tenth of one for the 5k subset (see
        ``track_epoch_seconds``)."""
        self.runner.epoch(self.X, self.Y, self.perm, self.m, ETA)

    def peakmem_train(self, impl, m, dtype):
        """Peak resident memory of a process that loaded MNIST and trained one epoch."""
        self.runner.epoch(self.X, self.Y, self.perm, self.m, ETA)

    def track_epoch_seconds(self, impl, m, dtype):
        """Seconds per 50,000-image epoch: one timed epoch, scaled by 50,000 / images timed."""
        t0 = time.perf_counter()
        self.runner.epoch(self.X, self.Y, self.perm, self.m, ETA)
        return (time.perf_counter() - t0) * N_TRAIN / self.n

    track_epoch_seconds.unit = "s/epoch (50,000 images)"

    def track_samples_per_second(self, impl, m, dtype):
        """Training samples per second over one epoch."""
        t0 = time.perf_counter()
        self.runner.epoch(self.X, self.Y, self.perm, self.m, ETA)
        return self.n / (time.perf_counter() - t0)

    track_samples_per_second.unit = "samples/s"

    def track_test_accuracy(self, impl, m, dtype):
        """Percent of the 10,000 test images classified correctly after one epoch from the
        seed-0 weights."""
        from fastnn import reference

        runner = self.cls(self.net)
        runner.epoch(self.X, self.Y, self.perm, self.m, ETA)
        weights, biases = runner.weights_biases()
        return 100 * reference.evaluate(weights, biases, self.X_test, self.y_test) / len(self.y_test)

    track_test_accuracy.unit = "%"
