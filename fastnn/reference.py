"""The NumPy baseline: the book's algorithm in the book's own names.

Everything here is plain NumPy, written to be read beside Nielsen's ``network.py``
(*Neural Networks and Deep Learning*, Chapter 1) and ``network2.py`` (Chapter 3). It is
the independent implementation the Numba kernels are tested against, and the baseline
they are benchmarked against. It comes in two forms:

* the book's **per-sample** algorithm: :func:`backprop` on one ``(x, y)`` at a time,
  its gradients summed by :func:`update_mini_batch`;
* the **matrix** form: :func:`backprop_matrix` handles a whole mini-batch with one
  matrix product per layer, as the book suggests at the end of Chapter 2.

``weights`` is a list of arrays of shape ``(n_out, n_in)`` and ``biases`` a list of
shape ``(n_out,)``; vectors are 1-D (the book uses ``(n, 1)`` columns; the arithmetic is
the same). Update functions modify ``weights`` and ``biases`` in place, so they can be
handed the views :attr:`fastnn.Network.weights` and :attr:`fastnn.Network.biases`.

Chapter 3's improvements (``network2.py``) are keyword options with Chapter 1 as the
default: ``cost=CrossEntropyCost`` (or :class:`QuadraticCost`, the default) chooses the
output error (:meth:`CrossEntropyCost.delta` has no sigma'(z)) and the cost that
:func:`total_cost` reports; ``lmbda`` with ``n`` (the training set's size) adds L2
regularisation, network2's update ``w <- (1 - eta*(lmbda/n)) w - (eta/m) nabla_w``
(biases are not decayed) and the term ``0.5*(lmbda/len(data)) * sum ||w||^2`` of
:func:`total_cost`.
"""

import numpy as np

__all__ = [
    "sigmoid",
    "sigmoid_prime",
    "feedforward",
    "backprop",
    "backprop_matrix",
    "update_mini_batch",
    "update_mini_batch_matrix",
    "sgd_epoch",
    "evaluate",
    "total_cost",
    "cost_derivative",
    "QuadraticCost",
    "CrossEntropyCost",
    "COSTS",
]


def sigmoid(z):
    """The sigmoid function 1 / (1 + exp(-z)), Eq. (3)-(4).

    Exact and free of overflow warnings for any float: ``exp`` is only taken of
    ``-|z|``, so ``sigmoid(-1000) == 0.0`` and ``sigmoid(1000) == 1.0``. The dtype of a
    floating ``z`` is kept.

    Parameters
    ----------
    z : array_like

    Returns
    -------
    ndarray of the shape of ``z``
    """
    z = np.asarray(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_prime(z):
    """Derivative of the sigmoid, sigmoid(z) * (1 - sigmoid(z))."""
    s = sigmoid(z)
    return s * (1 - s)


def cost_derivative(output_activations, y):
    """Partial derivatives dC_x/da of the quadratic cost C_x = |y - a|^2 / 2 (Eq. 6)."""
    return output_activations - y


class QuadraticCost:
    """The quadratic cost C_x = |y - a|^2 / 2 (Chapter 1, Eq. 6), network2's ``QuadraticCost``."""

    name = "quadratic"

    @staticmethod
    def fn(a, y):
        """The cost of outputs ``a`` for targets ``y``, summed over every entry (all samples)."""
        return 0.5 * np.linalg.norm(a - y) ** 2

    @staticmethod
    def delta(z, a, y):
        """The output error dC_x/dz^L = (a - y) * sigma'(z), BP1 (Chapter 2, Eq. BP1)."""
        return (a - y) * sigmoid_prime(z)


class CrossEntropyCost:
    """The cross-entropy cost C_x = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)] (Chapter 3, Eq. 63).

    network2's ``CrossEntropyCost``: its output error has no sigma'(z) (Chapter 3,
    Eq. 66), so a saturated output neuron that is wrong still learns quickly.
    """

    name = "cross-entropy"

    @staticmethod
    def fn(a, y):
        """The cost of outputs ``a`` for targets ``y``, summed over every entry.

        As network2 computes it, with ``np.nan_to_num``: ``a = y = 1`` gives ``0 * -inf =
        nan``, turned into the correct 0. A saturated wrong output (``a = 1``, ``y = 0``)
        gives ``inf``, turned into the largest float; :func:`fn_from_z` is exact there.
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a)))

    @staticmethod
    def fn_from_z(z, y):
        """The same cost from the weighted inputs ``z`` of the output layer (``a = sigmoid(z)``).

        ``-y ln a - (1 - y) ln(1 - a) = ln(1 + e^z) - y z`` exactly (``ln a = -ln(1 + e^-z)``,
        ``ln(1 - a) = -ln(1 + e^z)``), here as ``np.logaddexp(0, z) - y * z``: finite for
        every finite ``z``, e.g. 1000 for ``z = 1000, y = 0`` where ``a`` rounds to 1.
        """
        return np.sum(np.logaddexp(0, z) - y * z)

    @staticmethod
    def delta(z, a, y):
        """The output error dC_x/dz^L = a - y (Chapter 3, Eq. 66); ``z`` is unused, as in network2."""
        return a - y


#: The costs by the names :class:`fastnn.Network` takes (``cost="quadratic"``, ...).
COSTS = {QuadraticCost.name: QuadraticCost, CrossEntropyCost.name: CrossEntropyCost}


def feedforward(weights, biases, a):
    """Output of the network for input ``a``: ``a <- sigmoid(w a + b)`` per layer, Eq. (4).

    Parameters
    ----------
    weights, biases : list of ndarray
        Shapes ``(n_out, n_in)`` and ``(n_out,)`` per layer.
    a : ndarray of shape (n_in,) or (n_samples, n_in)
        One input, or one per row.

    Returns
    -------
    ndarray of shape (n_out,) or (n_samples, n_out)
    """
    for b, w in zip(biases, weights):
        a = sigmoid(a @ w.T + b)
    return a


def backprop(weights, biases, x, y, *, cost=QuadraticCost):
    """Gradient of C_x for one sample, the book's ``backprop`` (BP1-BP4 of Chapter 2).

    Parameters
    ----------
    x : ndarray of shape (n_in,)
    y : ndarray of shape (n_out,)
        Target output (one-hot for a digit label).
    cost : QuadraticCost or CrossEntropyCost, default QuadraticCost
        Whose output error ``cost.delta(z, a, y)`` starts the backward pass (network2).

    Returns
    -------
    nabla_b, nabla_w : list of ndarray
        Shaped like ``biases`` and ``weights``.
    """
    nabla_b = [None] * len(biases)
    nabla_w = [None] * len(weights)
    activation = x
    activations = [x]
    zs = []
    for b, w in zip(biases, weights):
        z = w @ activation + b
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    if cost is QuadraticCost:
        delta = cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
    else:
        delta = cost.delta(zs[-1], activations[-1], y)
    nabla_b[-1] = delta
    nabla_w[-1] = np.outer(delta, activations[-2])
    for l in range(2, len(weights) + 1):
        sp = sigmoid_prime(zs[-l])
        delta = (weights[-l + 1].T @ delta) * sp
        nabla_b[-l] = delta
        nabla_w[-l] = np.outer(delta, activations[-l - 1])
    return nabla_b, nabla_w


def backprop_matrix(weights, biases, X, Y, *, cost=QuadraticCost):
    """Summed gradient of C_x over the rows of ``X``: all samples in one matrix pass.

    Parameters
    ----------
    X : ndarray of shape (m, n_in)
    Y : ndarray of shape (m, n_out)
    cost : QuadraticCost or CrossEntropyCost, default QuadraticCost

    Returns
    -------
    nabla_b, nabla_w : list of ndarray
        Sums over the ``m`` samples, shaped like ``biases`` and ``weights``.
    """
    activations = [X]
    for b, w in zip(biases, weights):
        z = activations[-1] @ w.T + b
        activations.append(sigmoid(z))
    a = activations[-1]
    if cost is QuadraticCost:
        delta = cost_derivative(a, Y) * a * (1 - a)
    else:
        delta = cost.delta(z, a, Y)
    nabla_b = [None] * len(biases)
    nabla_w = [None] * len(weights)
    for l in range(1, len(weights) + 1):
        if l > 1:
            a = activations[-l]
            delta = (delta @ weights[-l + 1]) * a * (1 - a)
        nabla_b[-l] = delta.sum(axis=0)
        nabla_w[-l] = delta.T @ activations[-l - 1]
    return nabla_b, nabla_w


def _apply(weights, biases, nabla_b, nabla_w, eta, m, lmbda=0.0, n=None):
    if lmbda:
        if n is None:
            raise ValueError("n (the size of the training set) is needed with lmbda != 0")
        for w, nw in zip(weights, nabla_w):
            w[...] = (1 - eta * (lmbda / n)) * w - (eta / m) * nw  # network2's update
        for b, nb in zip(biases, nabla_b):
            b -= (eta / m) * nb
        return
    for w, nw in zip(weights, nabla_w):
        w -= (eta / m) * nw
    for b, nb in zip(biases, nabla_b):
        b -= (eta / m) * nb


def update_mini_batch(weights, biases, X, Y, eta, *, lmbda=0.0, n=None, cost=QuadraticCost):
    """One gradient-descent step on a mini-batch, the book's per-sample loop, Eq. (20)-(21).

    ``w <- w - (eta/m) sum_x dC_x/dw`` and likewise for ``b``, with ``m = len(X)``;
    ``weights`` and ``biases`` are updated in place. With ``lmbda`` (network2's L2
    regularisation, Chapter 3, Eq. 93) the weights are first scaled:
    ``w <- (1 - eta*(lmbda/n)) w - (eta/m) sum_x dC_x/dw``, ``n`` the size of the whole
    training set (required then); biases are not decayed. ``cost`` as in :func:`backprop`.
    """
    nabla_b = [np.zeros_like(b) for b in biases]
    nabla_w = [np.zeros_like(w) for w in weights]
    for x, y in zip(X, Y):
        delta_nabla_b, delta_nabla_w = backprop(weights, biases, x, y, cost=cost)
        nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
        nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
    _apply(weights, biases, nabla_b, nabla_w, eta, len(X), lmbda, n)


def update_mini_batch_matrix(weights, biases, X, Y, eta, *, lmbda=0.0, n=None, cost=QuadraticCost):
    """As :func:`update_mini_batch`, with the batch's gradient from :func:`backprop_matrix`."""
    nabla_b, nabla_w = backprop_matrix(weights, biases, X, Y, cost=cost)
    _apply(weights, biases, nabla_b, nabla_w, eta, len(X), lmbda, n)


def sgd_epoch(weights, biases, X, Y, perm, mini_batch_size, eta, *, matrix=True, lmbda=0.0,
              cost=QuadraticCost):
    """One epoch of SGD: mini-batches ``perm[k*m:(k+1)*m]`` of ``(X, Y)``, in order.

    The last, shorter batch is averaged over its own size. ``matrix`` selects
    :func:`update_mini_batch_matrix` (default) or the book's per-sample
    :func:`update_mini_batch`. ``lmbda`` and ``cost`` as in :func:`update_mini_batch`,
    with ``n = len(X)``: the training set is ``X``, as network2's
    ``len(training_data)``.
    """
    update = update_mini_batch_matrix if matrix else update_mini_batch
    for k in range(0, len(perm), mini_batch_size):
        rows = perm[k : k + mini_batch_size]
        update(weights, biases, X[rows], Y[rows], eta, lmbda=lmbda, n=len(X), cost=cost)


def evaluate(weights, biases, X, y):
    """Number of rows of ``X`` whose output's argmax equals the integer label in ``y``."""
    return int(np.sum(np.argmax(feedforward(weights, biases, X), axis=1) == y))


def total_cost(weights, biases, X, Y, *, lmbda=0.0, cost=QuadraticCost):
    """The mean cost over the rows of ``X``, network2's ``total_cost``.

    Quadratic by default, C = 1/(2n) sum_x |y(x) - a|^2 (Eq. 6); ``cost=CrossEntropyCost``
    gives C = -(1/n) sum_x sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)] (Eq. 63, through
    ``cost.fn`` with network2's ``nan_to_num``). ``lmbda`` adds the L2 term
    ``0.5*(lmbda/n) * sum_w ||w||^2`` (Eq. 85-87), ``n = len(X)`` as in network2.
    """
    a = feedforward(weights, biases, X)
    if cost is QuadraticCost:
        c = float(0.5 * np.sum((Y - a) ** 2) / len(X))
    else:
        c = float(cost.fn(a, Y) / len(X))
    if lmbda:
        c += 0.5 * (lmbda / len(X)) * sum(float(np.linalg.norm(w) ** 2) for w in weights)
    return c
