"""The chapter's exercise: an extra layer turning the 10 digit outputs into 4 binary digits.

The exercise assumes the correct digit's output neuron has activation at least 0.99 and the
other nine at most 0.01, and asks for weights and biases of a new output layer of four sigmoid
neurons (Eq. 3-4) giving the digit in binary. Our answer: output neuron ``j`` (``j = 0`` the
8s bit, ``j = 3`` the 1s bit, so the outputs read left to right as the binary numeral) takes
weight ``+s`` from every digit whose bit ``j`` is 1 and ``-s`` from every digit whose bit is
0, with bias 0.

Why it works, in the worst case the exercise allows: if the digit's bit ``j`` is 1 its own
activation contributes at least ``0.99 s``, and the at most eight digits with bit ``j`` = 0
take away at most ``8 * 0.01 s``, so ``z >= 0.91 s``; if the bit is 0, ``z <= -0.99 s +
5 * 0.01 s = -0.94 s``. With ``s = 10`` every output is above ``sigmoid(9.1) = 0.9998`` or
below ``sigmoid(-9.4) = 0.0001``: binary, with the same kind of margin as its inputs.

Examples
--------
>>> import numpy as np
>>> from fastnn.book.binary_output import apply_binary_layer, binary_output_layer, bits_to_digits
>>> weights, biases = binary_output_layer()
>>> a = np.full(10, 0.01); a[6] = 0.99               # the network says "6"
>>> bits = apply_binary_layer(a)
>>> (bits > 0.5).astype(int)                          # 6 = 0110
array([0, 1, 1, 0])
>>> bool(bits.min() < 1e-4 and bits.max() > 0.9999)
True
>>> int(bits_to_digits(apply_binary_layer(a)))
6
"""

from __future__ import annotations

import numbers

import numpy as np

from fastnn.network import Network
from fastnn.reference import sigmoid

__all__ = [
    "binary_output_layer",
    "apply_binary_layer",
    "digit_bits",
    "bits_to_digits",
    "worst_case_outputs",
    "binary_readout",
    "with_binary_output",
]

N_DIGITS = 10
N_BITS = 4
_PLACE = np.array([8, 4, 2, 1], dtype=np.int64)  # output neuron j is the bit of value 2**(3-j)


def digit_bits(digits):
    """The 4-bit binary representation of digits 0-9, most significant bit first.

    Parameters
    ----------
    digits : int or array_like of int, values in 0..9

    Returns
    -------
    ndarray of int64, shape ``np.shape(digits) + (4,)``

    Raises
    ------
    ValueError
        If a value is outside 0..9.
    TypeError
        If `digits` are not integers.

    Examples
    --------
    >>> digit_bits([5, 9]).tolist()
    [[0, 1, 0, 1], [1, 0, 0, 1]]
    """
    d = np.asarray(digits)
    if not np.issubdtype(d.dtype, np.integer) or d.dtype == np.bool_:
        raise TypeError(f"digits must be integers, got dtype {d.dtype}")
    if np.any((d < 0) | (d > 9)):
        raise ValueError(f"digits must be in 0..9, got {np.unique(d[(d < 0) | (d > 9)]).tolist()}")
    return ((d[..., None] & _PLACE) > 0).astype(np.int64)


def bits_to_digits(bits, threshold=0.5):
    """Read binary outputs back as integers: ``sum_j [bits_j > threshold] 2**(3 - j)``.

    Parameters
    ----------
    bits : array_like of shape (4,) or (n_samples, 4)
        Activations of the four binary output neurons, most significant first.
    threshold : float, default 0.5

    Returns
    -------
    int64 or ndarray of int64, shape (n_samples,)
        Values 0..15; 10..15 mean the outputs did not spell a digit.

    Raises
    ------
    ValueError
        If the last axis of `bits` is not 4.
    """
    b = np.asarray(bits, dtype=np.float64)
    if b.ndim not in (1, 2) or b.shape[-1] != N_BITS:
        raise ValueError(f"bits must have shape (4,) or (n_samples, 4), got {b.shape}")
    return (b > threshold).astype(np.int64) @ _PLACE


def binary_output_layer(scale=10.0):
    """Weights and biases of the binary output layer (the exercise after Eq. 4).

    Parameters
    ----------
    scale : float, default 10.0
        The weight magnitude ``s``; every output is binary to within
        ``sigmoid(-0.91 s)`` when the inputs satisfy the exercise's bounds. Must be > 0.

    Returns
    -------
    weights : ndarray of shape (4, 10), float64
        ``weights[j, d] = +s`` if bit ``j`` (most significant first) of digit ``d`` is 1,
        else ``-s``. Laid out as ``Network.weights[l]``: (n_out, n_in).
    biases : ndarray of shape (4,), float64
        Zeros.

    Raises
    ------
    ValueError
        If `scale` is not > 0 and finite.
    TypeError
        If `scale` is not a real number.
    """
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, numbers.Real):
        raise TypeError(f"scale must be a real number, got {scale!r}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be > 0 and finite, got {scale}")
    bits = digit_bits(np.arange(N_DIGITS))  # (10, 4)
    weights = float(scale) * np.where(bits.T == 1, 1.0, -1.0)
    return weights, np.zeros(N_BITS)


def apply_binary_layer(a, weights=None, biases=None):
    """Activations of the binary layer, ``sigmoid(W a + b)`` (Eq. 3-4).

    Parameters
    ----------
    a : array_like of shape (10,) or (n_samples, 10)
        The digit network's output activations.
    weights, biases : ndarray of shape (4, 10) and (4,), optional
        Default: :func:`binary_output_layer` with its default scale.

    Returns
    -------
    ndarray of shape (4,) or (n_samples, 4), float64

    Raises
    ------
    ValueError
        If `a` does not have 10 entries on its last axis.
    """
    if weights is None or biases is None:
        weights, biases = binary_output_layer()
    a = np.asarray(a, dtype=np.float64)
    if a.ndim not in (1, 2) or a.shape[-1] != N_DIGITS:
        raise ValueError(f"a must have shape (10,) or (n_samples, 10), got {a.shape}")
    return sigmoid(a @ np.asarray(weights).T + biases)


def worst_case_outputs(weights=None, biases=None, *, low=0.01, high=0.99):
    """The binary layer's outputs on the adversarial inputs the exercise allows.

    For each digit ``d`` and bit ``j`` the input ``a`` with ``a_d`` in ``[high, 1]`` and every
    other entry in ``[0, low]`` that pushes output ``j`` hardest toward the wrong value: as
    ``z_j`` is linear in ``a``, that is a corner of this box, chosen by the signs of
    ``weights[j]``.

    Parameters
    ----------
    weights, biases : ndarray of shape (4, 10) and (4,), optional
        Default: :func:`binary_output_layer`.
    low, high : float, default 0.01 and 0.99
        The exercise's bounds; ``0 <= low < high <= 1``.

    Returns
    -------
    inputs : ndarray of shape (10, 4, 10)
        ``inputs[d, j]`` is the worst activation vector for digit ``d``, bit ``j``.
    outputs : ndarray of shape (10, 4)
        ``outputs[d, j]``: output ``j`` on ``inputs[d, j]``. The layer is correct for every
        allowed input iff ``outputs[d, j] > 0.5`` exactly where ``digit_bits(d)[j] == 1``.

    Raises
    ------
    ValueError
        If the bounds are not ``0 <= low < high <= 1``.
    """
    if not (0.0 <= low < high <= 1.0):
        raise ValueError(f"need 0 <= low < high <= 1, got low={low}, high={high}")
    if weights is None or biases is None:
        weights, biases = binary_output_layer()
    weights = np.asarray(weights, dtype=np.float64)
    target = digit_bits(np.arange(N_DIGITS))  # (10, 4)
    inputs = np.empty((N_DIGITS, N_BITS, N_DIGITS))
    outputs = np.empty((N_DIGITS, N_BITS))
    for d in range(N_DIGITS):
        for j in range(N_BITS):
            # Push z_j down if the bit should be 1, up if it should be 0.
            sign = -1.0 if target[d, j] == 1 else 1.0
            toward = sign * weights[j] > 0  # raising a_k moves z_j the wrong way
            a = np.where(toward, low, 0.0)
            a[d] = 1.0 if toward[d] else high
            inputs[d, j] = a
            outputs[d, j] = sigmoid(a @ weights[j] + biases[j])
    return inputs, outputs


def _check_digit_network(net):
    sizes = tuple(getattr(net, "sizes", ()))
    if not sizes or not hasattr(net, "feedforward"):
        raise TypeError(f"net must be a fastnn.Network, got {type(net).__name__}")
    if sizes[-1] != N_DIGITS:
        raise ValueError(
            f"net must end in 10 outputs (one per digit), got sizes {sizes}"
        )
    return sizes


def binary_readout(net, X, *, scale=10.0):
    """Feed `X` through a trained digit network and the binary layer.

    Parameters
    ----------
    net : fastnn.Network
        A trained network with 10 outputs, e.g. 784-30-10.
    X : array_like of shape (n_inputs,) or (n_samples, n_inputs)
        Inputs, as for ``net.feedforward``.
    scale : float, default 10.0
        Weight magnitude of the binary layer (:func:`binary_output_layer`).

    Returns
    -------
    ndarray of shape (4,) or (n_samples, 4), float64
        The four binary activations, most significant bit first; decode with
        :func:`bits_to_digits`. A trained network's outputs need not meet the exercise's
        0.99 / 0.01 bounds, so the decoded digit can differ from ``argmax`` on ambiguous
        images (and can be 10-15).

    Raises
    ------
    ValueError
        If `net` does not have 10 outputs.
    """
    _check_digit_network(net)
    weights, biases = binary_output_layer(scale)
    return apply_binary_layer(net.feedforward(X), weights, biases)


def with_binary_output(net, *, scale=10.0):
    """A new network ``sizes + (4,)``: a copy of `net` with the binary layer appended.

    Parameters
    ----------
    net : fastnn.Network
        A network ending in 10 outputs; it is not modified.
    scale : float, default 10.0
        Weight magnitude of the binary layer.

    Returns
    -------
    fastnn.Network
        Same dtype as `net`; its ``feedforward`` returns the four binary activations.

    Raises
    ------
    ValueError
        If `net` does not have 10 outputs.
    """
    sizes = _check_digit_network(net)
    new = Network(list(sizes) + [N_BITS], seed=0, dtype=net.dtype)
    for l in range(len(sizes) - 1):
        new.weights[l][...] = net.weights[l]
        new.biases[l][...] = net.biases[l]
    weights, biases = binary_output_layer(scale)
    new.weights[-1][...] = weights
    new.biases[-1][...] = biases
    return new
