"""One table of interchangeable implementations of an SGD epoch.

The tests check every entry against the others, and the benchmarks (pytest-benchmark,
asv, ``fastnn bench``) time every entry on the same data, so what is tested is what is
measured. Each implementation starts from a :class:`fastnn.Network`'s parameters, keeps
its own state in its natural layout, and runs one epoch over a given permutation.
"""

import numba
import numpy as np

from fastnn import _layout, kernels, reference

__all__ = ["IMPLEMENTATIONS", "NumbaEpoch", "NumbaParallelEpoch", "NumpyMatrixEpoch", "NumpyPerSampleEpoch"]


class NumbaEpoch:
    """The compiled kernel :func:`fastnn.kernels.sgd_epoch`, on a copy of the network."""

    name = "numba"

    def __init__(self, net):
        self.net = net
        self.params = _layout.aligned_copy(net.params)  # a copy, on a cache line as the network's
        self.layers = net.layers  # the kernels take it read-only, whoever passes it
        self._indexed = (None, None, None)

    def _inputs(self, X, Y):
        """The kernels' inputs bundle for ``(X, Y)``: the CSR form of ``X`` is built once per ``X``."""
        if self._indexed[0] is not X:
            self._indexed = (X, kernels.csr(X), None)
        if self._indexed[2] is not Y:
            self._indexed = (X, self._indexed[1], Y)
        data, indices, indptr = self._indexed[1]
        return data, indices, indptr, Y

    def epoch(self, X, Y, perm, mini_batch_size, eta, lmbda=0.0):
        """One epoch over ``X[perm]``; returns the summed training cost.

        The CSR form of ``X`` (:func:`fastnn.kernels.csr`) is built on the first call
        with a given ``X`` and reused, as :meth:`fastnn.Network.SGD` builds it once per
        training run. The network's cost; ``lmbda`` as in :meth:`fastnn.Network.SGD`
        (``n = len(X)``).
        """
        return kernels.sgd_epoch((self.params, self.layers), self._inputs(X, Y), perm, mini_batch_size, eta,
                                 self._objective(X, eta, lmbda))

    def _objective(self, X, eta, lmbda):
        """The kernels' ``objective`` bundle: the network's cost, the decay ``1 - eta lmbda / n``."""
        return kernels.COST_IDS[self.net.cost_name], 1 - eta * (lmbda / X.shape[0])

    def weights_biases(self):
        """``(weights, biases)`` in the book's shapes, as copies."""
        weights, biases = _layout.views(self.params, self.layers)
        return [w.copy() for w in weights], [b.copy() for b in biases]


class NumbaParallelEpoch(NumbaEpoch):
    """``Network.SGD(..., n_jobs=numba.get_num_threads())``'s epoch, on a copy of the network.

    Wide layers are split over the threads (:func:`fastnn.kernels.sgd_epoch_parallel`)
    with the serial kernel's results bit for bit; other networks run the serial kernel.
    """

    name = "numba-parallel"

    def __init__(self, net, *, n_threads=None, min_block=None):
        super().__init__(net)
        self.n_threads = n_threads
        self.min_block = min_block

    def epoch(self, X, Y, perm, mini_batch_size, eta, lmbda=0.0):
        """One epoch over ``X[perm]`` on ``numba.get_num_threads()`` threads.

        With ``min_block`` given, the parallel kernel runs whatever the network, its
        layers split into blocks of at least ``min_block`` columns over ``n_threads``
        (default ``numba.get_num_threads()``): how the tests split small layers.
        """
        inputs = self._inputs(X, Y)
        n_threads = numba.get_num_threads() if self.n_threads is None else self.n_threads
        objective = self._objective(X, eta, lmbda)
        if self.min_block is None:
            return self.net.run_epoch(inputs, perm, mini_batch_size, eta, n_threads, params=self.params,
                                      objective=objective)
        return kernels.sgd_epoch_parallel(
            (self.params, self.layers), inputs, perm, mini_batch_size, eta, objective, n_threads, self.min_block
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
