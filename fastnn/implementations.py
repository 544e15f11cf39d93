"""One table of interchangeable implementations of an SGD epoch.

The tests check every entry against the others, and the benchmarks (pytest-benchmark,
asv, ``fastnn bench``) time every entry on the same data, so what is tested is what is
measured. Each implementation starts from a :class:`fastnn.Network`'s parameters, keeps
its own state in its natural layout, and runs one epoch over a given permutation.
"""

import numba
import numpy as np

from fastnn import _kernels, reference
from fastnn.network import aligned_copy

__all__ = ["IMPLEMENTATIONS", "NumbaEpoch", "NumbaParallelEpoch", "NumpyMatrixEpoch", "NumpyPerSampleEpoch"]


class NumbaEpoch:
    """The compiled kernel :func:`fastnn._kernels._sgd_epoch`, on a copy of the network."""

    name = "numba"

    def __init__(self, net):
        self.net = net
        self.params = aligned_copy(net.params)  # a copy, on a cache line as the network's
        self._indexed = (None, None)

    def epoch(self, X, Y, perm, mini_batch_size, eta, lmbda=0.0):
        """One epoch over ``X[perm]``; returns the summed training cost.

        The CSR form of ``X`` (:func:`fastnn._kernels._csr`) is built on the first call
        with a given ``X`` and reused, as :meth:`fastnn.Network.SGD` builds it once per
        training run. The network's cost; ``lmbda`` as in :meth:`fastnn.Network.SGD`
        (``n = len(X)``).
        """
        net = self.net
        if self._indexed[0] is not X:
            self._indexed = (X, _kernels._csr(X))
        return _kernels._sgd_epoch(
            self.params, net._sizes, net._offsets, *self._indexed[1], Y, perm, mini_batch_size, eta,
            net._cost_id, 1 - eta * (lmbda / X.shape[0]),
        )

    def weights_biases(self):
        """``(weights, biases)`` in the book's shapes, as copies."""
        weights, biases = self.net._views(self.params)
        return [w.copy() for w in weights], [b.copy() for b in biases]


class NumbaParallelEpoch(NumbaEpoch):
    """``Network.SGD(..., n_jobs=numba.get_num_threads())``'s epoch, on a copy of the network.

    Wide layers are split over the threads (:func:`fastnn._kernels._sgd_epoch_parallel`)
    with the serial kernel's results bit for bit; other networks run the serial kernel.
    """

    name = "numba-parallel"

    def epoch(self, X, Y, perm, mini_batch_size, eta, lmbda=0.0):
        """One epoch over ``X[perm]`` on ``numba.get_num_threads()`` threads."""
        if self._indexed[0] is not X:
            self._indexed = (X, _kernels._csr(X))
        return self.net._epoch(
            self._indexed[1], Y, perm, mini_batch_size, eta, numba.get_num_threads(), params=self.params,
            decay=1 - eta * (lmbda / X.shape[0]),
        )


class NumpyMatrixEpoch:
    """:func:`fastnn.reference.sgd_epoch` with whole mini-batches as matrices."""

    name = "numpy-matrix"
    matrix = True

    def __init__(self, net):
        self.weights = [np.array(w, order="C") for w in net.weights]  # copies, never views
        self.biases = [np.array(b) for b in net.biases]
        self.cost = reference.COSTS[net.cost_name]

    def epoch(self, X, Y, perm, mini_batch_size, eta, lmbda=0.0):
        """One epoch over ``X[perm]`` with the network's cost and L2 regularisation ``lmbda``."""
        reference.sgd_epoch(self.weights, self.biases, X, Y, perm, mini_batch_size, eta, matrix=self.matrix,
                            lmbda=lmbda, cost=self.cost)

    def weights_biases(self):
        """``(weights, biases)`` in the book's shapes, as copies."""
        return [w.copy() for w in self.weights], [b.copy() for b in self.biases]


class NumpyPerSampleEpoch(NumpyMatrixEpoch):
    """The book's algorithm: :func:`fastnn.reference.backprop` one sample at a time."""

    name = "numpy-per-sample"
    matrix = False


#: name -> class; each class is built from a Network and has ``epoch`` and ``weights_biases``.
IMPLEMENTATIONS = {cls.name: cls for cls in (NumbaEpoch, NumbaParallelEpoch, NumpyMatrixEpoch, NumpyPerSampleEpoch)}
