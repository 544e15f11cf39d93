"""The binary output layer exercise: all 10 digits, worst cases, and on a trained network."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn.book.binary_output import (
    apply_binary_layer,
    binary_output_layer,
    binary_readout,
    bits_to_digits,
    digit_bits,
    with_binary_output,
    worst_case_outputs,
)

# Hand-written binary numerals, most significant bit first.
BINARY = ["0000", "0001", "0010", "0011", "0100", "0101", "0110", "0111", "1000", "1001"]


def test_digit_bits_by_hand():
    assert ["".join(map(str, b)) for b in digit_bits(np.arange(10))] == BINARY
    assert bits_to_digits(digit_bits(np.arange(10))).tolist() == list(range(10))


def test_weights_by_hand():
    w, b = binary_output_layer(scale=1.0)
    # Row 0 (the 8s bit) is +1 for digits 8 and 9 only; row 3 (the 1s bit) for odd digits.
    assert w[0].tolist() == [-1] * 8 + [1, 1]
    assert w[3].tolist() == [-1, 1] * 5
    assert w[1].tolist() == [-1, -1, -1, -1, 1, 1, 1, 1, -1, -1]
    assert b.tolist() == [0, 0, 0, 0]
    assert binary_output_layer(10.0)[0].tolist() == (10 * w).tolist()


@pytest.mark.parametrize("digit", range(10))
def test_each_digit_ideal_outputs(digit):
    # Correct neuron 0.99, the rest 0.01: each bit within 1e-3 of its target.
    a = np.full(10, 0.01)
    a[digit] = 0.99
    out = apply_binary_layer(a)
    np.testing.assert_allclose(out, [int(c) for c in BINARY[digit]], atol=1e-3)
    assert bits_to_digits(out) == digit


def test_worst_cases_analytic_margin():
    _, out = worst_case_outputs()
    target = digit_bits(np.arange(10))
    # Analysis in the module docstring: z >= 0.91 s for bits that should be 1 and
    # z <= -0.94 s for bits that should be 0; s = 10.
    assert out[target == 1].min() == pytest.approx(1 / (1 + np.exp(-9.1)))
    assert out[target == 0].max() == pytest.approx(1 / (1 + np.exp(9.4)))
    assert out[target == 1].min() > 0.9998 and out[target == 0].max() < 1e-4


def test_worst_cases_against_brute_force_over_all_corners():
    # z_j is linear in a, so its extremes over the box {a_d in [0.99, 1], a_k in [0, 0.01]}
    # are at corners: enumerate all 2**10 corners per digit, independently of
    # worst_case_outputs, and check every bit of every digit.
    w, b = binary_output_layer()
    _, worst = worst_case_outputs()
    for d in range(10):
        corners = np.array(list(itertools.product((0, 1), repeat=10)), dtype=float)
        a = np.where(corners == 1, 0.01, 0.0)
        a[:, d] = np.where(corners[:, d] == 1, 1.0, 0.99)
        out = apply_binary_layer(a, w, b)
        target = digit_bits(d)
        assert np.all(bits_to_digits(out) == d)
        for j in range(4):
            extreme = out[:, j].min() if target[j] else out[:, j].max()
            assert extreme == pytest.approx(worst[d, j], rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    digit=st.integers(0, 9),
    correct=st.floats(0.99, 1.0),
    others=st.lists(st.floats(0.0, 0.01), min_size=9, max_size=9),
)
def test_any_allowed_activation_reads_as_its_digit(digit, correct, others):
    a = np.insert(np.array(others), digit, correct)
    out = apply_binary_layer(a)
    assert bits_to_digits(out) == digit
    assert np.all((out > 0.9998) | (out < 1e-4))


def test_too_small_scale_loses_the_binary_margin():
    # The layer's outputs are binary only for a large enough scale: at s = 1 the worst
    # case is sigmoid(0.91) = 0.71, still the right bit but far from 0.99.
    _, out = worst_case_outputs(*binary_output_layer(1.0))
    target = digit_bits(np.arange(10))
    assert out[target == 1].min() == pytest.approx(1 / (1 + np.exp(-0.91)))
    assert out[target == 1].min() < 0.99


def test_a_wrong_layer_is_caught_by_the_worst_case():
    # A plausible mistake: weights s for set bits and 0 (not -s) otherwise, bias 0. Then
    # z >= 0 for every input, so bits that should be 0 read 0.5 or more: worst_case_outputs
    # must show it.
    w, b = binary_output_layer(10.0)
    _, out = worst_case_outputs(np.where(w > 0, w, 0.0), b)
    target = digit_bits(np.arange(10))
    assert np.all(out[target == 0] >= 0.5)


def test_batched_and_validation():
    a = np.full((3, 10), 0.0)
    a[[0, 1, 2], [3, 7, 9]] = 1.0
    assert bits_to_digits(apply_binary_layer(a)).tolist() == [3, 7, 9]
    with pytest.raises(ValueError, match=r"a must have shape \(10,\) or \(n_samples, 10\), got \(9,\)"):
        apply_binary_layer(np.zeros(9))
    with pytest.raises(ValueError, match=r"bits must have shape \(4,\)"):
        bits_to_digits(np.zeros(3))
    with pytest.raises(ValueError, match=r"digits must be in 0..9, got \[10\]"):
        digit_bits([1, 10])
    with pytest.raises(TypeError, match="digits must be integers"):
        digit_bits([1.5])
    with pytest.raises(ValueError, match="scale must be > 0 and finite, got 0"):
        binary_output_layer(0)
    with pytest.raises(ValueError, match="need 0 <= low < high <= 1"):
        worst_case_outputs(low=0.5, high=0.4)


# --- appended to a fastnn.Network ------------------------------------------------------------


def _network_saying(digit, n_in=3, dtype="float64"):
    """A 3-10 network whose output is sigma(10) = 0.99995 for `digit` and
    sigma(-10) = 4.5e-5 for the rest, whatever the input (zero weights)."""
    from fastnn import Network

    net = Network([n_in, 10], seed=0, dtype=dtype)
    net.weights[0][...] = 0.0
    net.biases[0][...] = -10.0
    net.biases[0][digit] = 10.0
    return net


@pytest.mark.parametrize("digit", range(10))
def test_binary_readout_of_a_network(digit):
    net = _network_saying(digit)
    X = np.array([[0.0, 0.5, 1.0], [1.0, 1.0, 1.0]])
    bits = binary_readout(net, X)
    assert bits.shape == (2, 4)
    assert bits_to_digits(bits).tolist() == [digit, digit]
    np.testing.assert_allclose(bits[0], digit_bits(digit), atol=1e-3)
    assert binary_readout(net, X[0]).shape == (4,)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_with_binary_output_builds_the_appended_network(dtype):
    net = _network_saying(6, dtype=dtype)
    before = [w.copy() for w in net.weights]
    big = with_binary_output(net)
    assert big.sizes == (3, 10, 4) and big.dtype == net.dtype
    np.testing.assert_array_equal(big.weights[0], net.weights[0])
    np.testing.assert_array_equal(big.biases[0], net.biases[0])
    w, b = binary_output_layer()
    np.testing.assert_array_equal(big.weights[1], w)
    np.testing.assert_array_equal(big.biases[1], b)
    X = np.random.default_rng(0).random((5, 3))
    np.testing.assert_allclose(big.feedforward(X), binary_readout(net, X), rtol=1e-5, atol=1e-6)
    assert bits_to_digits(big.feedforward(X)).tolist() == [6] * 5
    np.testing.assert_array_equal(net.weights[0], before[0])  # the original is untouched


def test_network_must_have_ten_outputs():
    from fastnn import Network

    with pytest.raises(ValueError, match=r"net must end in 10 outputs .*got sizes \(3, 4, 5\)"):
        binary_readout(Network([3, 4, 5], seed=0), np.zeros(3))
    with pytest.raises(ValueError, match="net must end in 10 outputs"):
        with_binary_output(Network([3, 9], seed=0))
    with pytest.raises(TypeError, match=r"net must be a fastnn.Network, got list"):
        binary_readout([1, 2], np.zeros(3))


def test_binary_readout_of_a_network_trained_on_mnist(mnist_dir):
    import fastnn

    train, _, (X_test, y_test) = fastnn.load_mnist(mnist_dir)
    net = fastnn.Network([784, 30, 10], seed=1)
    net.SGD(train, 2, 10, 3.0, verbose=False)
    a = net.feedforward(X_test)
    digits = bits_to_digits(binary_readout(net, X_test))
    # Where the trained outputs meet the exercise's bounds the binary layer must spell
    # exactly the argmax digit; there are about 1,800 such test images after 2 epochs.
    top2 = np.sort(a, axis=1)[:, -2:]
    confident = (top2[:, 1] >= 0.99) & (top2[:, 0] <= 0.01)
    assert confident.sum() > 500
    np.testing.assert_array_equal(digits[confident], a[confident].argmax(axis=1))
    # Elsewhere it can differ on ambiguous outputs, rarely (measured: 99.1 % agree).
    assert np.mean(digits == a.argmax(axis=1)) > 0.97
    assert np.mean(digits == y_test) > 0.90
