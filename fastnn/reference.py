"""The NumPy baseline: Chapter 1's algorithm in the book's own names.

Everything here is plain NumPy, written to be read beside Nielsen's ``network.py``
(*Neural Networks and Deep Learning*, Chapter 1). It is the independent implementation
the Numba kernels are tested against, and the baseline they are benchmarked against.
It comes in two forms:

* the book's **per-sample** algorithm: :func:`backprop` on one ``(x, y)`` at a time,
  its gradients summed by :func:`update_mini_batch`;
* the **matrix** form: :func:`backprop_matrix` handles a whole mini-batch with one
  matrix product per layer, as the book suggests at the end of Chapter 2.

``weights`` is a list of arrays of shape ``(n_out, n_in)`` and ``biases`` a list of
shape ``(n_out,)``; vectors are 1-D (the book uses ``(n, 1)`` columns; the arithmetic is
the same). Update functions modify ``weights`` and ``biases`` in place, so they can be
handed the views :attr:`fastnn.Network.weights` and :attr:`fastnn.Network.biases`.
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


def backprop(weights, biases, x, y):
    """Gradient of C_x for one sample, the book's ``backprop`` (BP1-BP4 of Chapter 2).

    Parameters
    ----------
    x : ndarray of shape (n_in,)
    y : ndarray of shape (n_out,)
        Target output (one-hot for a digit label).

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
    delta = cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
    nabla_b[-1] = delta
    nabla_w[-1] = np.outer(delta, activations[-2])
    for l in range(2, len(weights) + 1):
        sp = sigmoid_prime(zs[-l])
        delta = (weights[-l + 1].T @ delta) * sp
        nabla_b[-l] = delta
        nabla_w[-l] = np.outer(delta, activations[-l - 1])
    return nabla_b, nabla_w


def backprop_matrix(weights, biases, X, Y):
    """Summed gradient of C_x over the rows of ``X``: all samples in one matrix pass.

    Parameters
    ----------
    X : ndarray of shape (m, n_in)
    Y : ndarray of shape (m, n_out)

    Returns
    -------
    nabla_b, nabla_w : list of ndarray
        Sums over the ``m`` samples, shaped like ``biases`` and ``weights``.
    """
    activations = [X]
    for b, w in zip(biases, weights):
        activations.append(sigmoid(activations[-1] @ w.T + b))
    a = activations[-1]
    delta = cost_derivative(a, Y) * a * (1 - a)
    nabla_b = [None] * len(biases)
    nabla_w = [None] * len(weights)
    for l in range(1, len(weights) + 1):
        if l > 1:
            a = activations[-l]
            delta = (delta @ weights[-l + 1]) * a * (1 - a)
        nabla_b[-l] = delta.sum(axis=0)
        nabla_w[-l] = delta.T @ activations[-l - 1]
    return nabla_b, nabla_w


def _apply(weights, biases, nabla_b, nabla_w, eta, m):
    for w, nw in zip(weights, nabla_w):
        w -= (eta / m) * nw
    for b, nb in zip(biases, nabla_b):
        b -= (eta / m) * nb


def update_mini_batch(weights, biases, X, Y, eta):
    """One gradient-descent step on a mini-batch, the book's per-sample loop, Eq. (20)-(21).

    ``w <- w - (eta/m) sum_x dC_x/dw`` and likewise for ``b``, with ``m = len(X)``;
    ``weights`` and ``biases`` are updated in place.
    """
    nabla_b = [np.zeros_like(b) for b in biases]
    nabla_w = [np.zeros_like(w) for w in weights]
    for x, y in zip(X, Y):
        delta_nabla_b, delta_nabla_w = backprop(weights, biases, x, y)
        nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
        nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
    _apply(weights, biases, nabla_b, nabla_w, eta, len(X))


def update_mini_batch_matrix(weights, biases, X, Y, eta):
    """As :func:`update_mini_batch`, with the batch's gradient from :func:`backprop_matrix`."""
    nabla_b, nabla_w = backprop_matrix(weights, biases, X, Y)
    _apply(weights, biases, nabla_b, nabla_w, eta, len(X))


def sgd_epoch(weights, biases, X, Y, perm, mini_batch_size, eta, *, matrix=True):
    """One epoch of SGD: mini-batches ``perm[k*m:(k+1)*m]`` of ``(X, Y)``, in order.

    The last, shorter batch is averaged over its own size. ``matrix`` selects
    :func:`update_mini_batch_matrix` (default) or the book's per-sample
    :func:`update_mini_batch`.
    """
    update = update_mini_batch_matrix if matrix else update_mini_batch
    for k in range(0, len(perm), mini_batch_size):
        rows = perm[k : k + mini_batch_size]
        update(weights, biases, X[rows], Y[rows], eta)


def evaluate(weights, biases, X, y):
    """Number of rows of ``X`` whose output's argmax equals the integer label in ``y``."""
    return int(np.sum(np.argmax(feedforward(weights, biases, X), axis=1) == y))


def total_cost(weights, biases, X, Y):
    """The quadratic cost C = 1/(2n) sum_x |y(x) - a|^2 over the rows of ``X``, Eq. (6)."""
    a = feedforward(weights, biases, X)
    return float(0.5 * np.sum((Y - a) ** 2) / len(X))
