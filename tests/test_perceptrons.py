"""Perceptrons, sigmoid neurons, NAND circuits and the two exercises, with the book's values.

Every truth table below is worked by hand from Eq. (1)-(2); the comments give the weighted
inputs so a wrong weight, bias or comparison (>= instead of >) fails a test.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn.book.perceptrons import (
    Perceptron,
    PerceptronCircuit,
    SigmoidNeuron,
    Unit,
    cheese_festival,
    nand_perceptron,
    two_bit_adder,
)

BITS3 = list(itertools.product((0, 1), repeat=3))
BITS2 = [(0, 0), (0, 1), (1, 0), (1, 1)]


# --- Eq. (1)-(2): the perceptron -----------------------------------------------------------


def test_threshold_and_bias_forms_agree():
    p = Perceptron([6, 2, 2], threshold=5)
    q = Perceptron([6, 2, 2], bias=-5)
    assert p == q
    assert p.bias == -5.0 and p.threshold == 5.0
    for x in BITS3:
        assert p(x) == q(x)


def test_cheese_festival_threshold_5_goes_exactly_when_weather_is_good():
    # w . x = 6 x1 + 2 x2 + 2 x3: without good weather at most 4 <= 5 -> 0; with it >= 6 > 5.
    p = cheese_festival(5)
    for x in BITS3:
        assert p(x) == x[0], x


def test_cheese_festival_threshold_3():
    # Threshold 3: partner (2) + transit (2) = 4 > 3 suffices; one of them alone (2) does not.
    p = cheese_festival(3)
    expected = {x: int(x[0] == 1 or (x[1] == 1 and x[2] == 1)) for x in BITS3}
    for x in BITS3:
        assert p(x) == expected[x], x
    assert p([0, 1, 1]) == 1 and cheese_festival(5)([0, 1, 1]) == 0


def test_output_is_zero_at_the_threshold():
    # Eq. (1): output 0 if w . x <= threshold. AND-like: weights 1, 1, threshold 1.
    p = Perceptron([1, 1], threshold=1)
    assert p.weighted_input([1, 0]) == 0.0
    assert p([1, 0]) == 0 and p([1, 1]) == 1


def test_nand_truth_table():
    # z = -2 x1 - 2 x2 + 3: 3, 1, 1, -1 -> 1, 1, 1, 0.
    p = nand_perceptron()
    assert [p.weighted_input(x) for x in BITS2] == [3.0, 1.0, 1.0, -1.0]
    assert [p(x) for x in BITS2] == [1, 1, 1, 0]


def test_batched_inputs_match_single_inputs():
    p = cheese_festival(3)
    X = np.array(BITS3)
    out = p(X)
    assert out.dtype == np.int64 and out.shape == (8,)
    assert out.tolist() == [p(x) for x in BITS3]


# --- Networks of perceptrons: the adder -----------------------------------------------------


@pytest.mark.parametrize("merged", [False, True])
def test_two_bit_adder_sum_and_carry(merged):
    adder = two_bit_adder(merged=merged)
    x, y = adder.truth_table()
    assert x.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    # sum = x1 XOR x2, carry = x1 AND x2: 0+0=00, 0+1=10, 1+0=10, 1+1=01 (sum, carry).
    assert y.tolist() == [[0, 0], [1, 0], [1, 0], [0, 1]]


def test_adder_internal_gates_by_hand():
    # x = (1, 1): g1 = NAND(1,1) = 0; g2 = NAND(1,0) = 1; g3 = NAND(0,1) = 1;
    # sum = NAND(1,1) = 0 (z = -1); carry: z = -2*0 - 2*0 + 3 = 3 -> 1.
    z = two_bit_adder().weighted_inputs([1, 1])
    assert z == {"g1": -1.0, "g2": 1.0, "g3": 1.0, "sum": -1.0, "carry": 3.0}
    # x = (1, 0): g1 = 1, so carry's z = -2 - 2 + 3 = -1 with two links, -4 + 3 with one.
    assert two_bit_adder().weighted_inputs([1, 0])["carry"] == -1.0
    assert two_bit_adder(merged=True).weighted_inputs([1, 0])["carry"] == -1.0


def test_merged_connection_is_one_link_of_weight_minus_4():
    separate = {u.name: u for u in two_bit_adder().units}["carry"]
    merged = {u.name: u for u in two_bit_adder(merged=True).units}["carry"]
    assert separate.connections == (("g1", -2.0), ("g1", -2.0))
    assert merged.connections == (("g1", -4.0),)


def test_inputs_are_sources_not_perceptrons():
    adder = two_bit_adder()
    assert adder.inputs == ("x1", "x2")
    assert "x1" not in [u.name for u in adder.units]
    # A "perceptron with no inputs" would output a constant (1 if b > 0), not x1: refused.
    with pytest.raises(ValueError, match="plain source"):
        Perceptron([], bias=1.0)
    with pytest.raises(ValueError, match="plain sources"):
        Unit("x1", (), 1.0)


def test_circuit_validation():
    nand = (("a", -2), ("b", -2))
    with pytest.raises(ValueError, match=r"'c'.*not an input or an earlier unit"):
        PerceptronCircuit(("a", "b"), [Unit("u", (("c", 1.0),), 0.0)], ("u",))
    with pytest.raises(ValueError, match="'a' is used twice"):
        PerceptronCircuit(("a", "b"), [Unit("a", nand, 3)], ("a",))
    with pytest.raises(ValueError, match="output 'v'"):
        PerceptronCircuit(("a", "b"), [Unit("u", nand, 3)], ("v",))
    with pytest.raises(TypeError, match="Unit instances"):
        PerceptronCircuit(("a", "b"), [("u", nand, 3)], ("u",))
    with pytest.raises(ValueError, match=r"x must have shape \(2,\)"):
        two_bit_adder()([1, 0, 1])


# --- Exercise 1: scaling a perceptron network by c > 0 changes nothing ---------------------


@pytest.mark.parametrize("c", [2.0**-20, 0.5, 3.0, 1e6])
def test_scaling_the_adder_changes_nothing(c):
    adder = two_bit_adder()
    scaled = adder.scaled(c)
    assert scaled.units[0].connections == (("x1", -2.0 * c), ("x2", -2.0 * c))
    assert scaled.units[0].bias == 3.0 * c
    np.testing.assert_array_equal(scaled.truth_table()[1], adder.truth_table()[1])


@settings(max_examples=60, deadline=None)
@given(
    w=st.lists(st.integers(-5, 5), min_size=1, max_size=4),
    b=st.integers(-6, 6),
    k=st.one_of(st.integers(-10, 10).map(lambda e: 2.0**e), st.integers(1, 1000).map(float)),
)
def test_scaling_any_perceptron_changes_nothing(w, b, k):
    # Integer weights and power-of-two or integer c keep every product exact, so this tests
    # the rule step(c z) = step(z), not rounding luck; z = 0 cases are included.
    p = Perceptron(w, bias=b)
    X = np.array(list(itertools.product((0, 1), repeat=len(w))))
    np.testing.assert_array_equal(p.scaled(k)(X), p(X))


@pytest.mark.parametrize("c", [0.0, -1.0, np.inf, np.nan])
def test_scale_must_be_positive_and_finite(c):
    with pytest.raises(ValueError, match="c must be"):
        two_bit_adder().scaled(c)
    with pytest.raises(ValueError, match="c must be"):
        two_bit_adder().run_sigmoid([0, 1], c=c)


# --- Eq. (3)-(5): sigmoid neurons ----------------------------------------------------------


def test_sigmoid_neuron_values():
    n = SigmoidNeuron([-2, -2], bias=3)
    # sigma(3), sigma(1), sigma(-1) by hand: 1/(1+e^-3) = 0.952574..., 0.731058..., 0.268941...
    np.testing.assert_allclose(
        n(np.array(BITS2)), [0.9525741268224334, 0.7310585786300049, 0.7310585786300049,
                             0.2689414213699951], rtol=1e-15)
    assert n([0.5, 0.75]) == pytest.approx(1 / (1 + np.exp(-0.5)))  # z = -1 - 1.5 + 3
    assert SigmoidNeuron([1.0], bias=0.0)([0.0]) == 0.5


def test_sigmoid_neuron_saturates_without_warnings():
    # pytest turns warnings into errors, so an overflow in exp would fail this test.
    assert SigmoidNeuron([1.0], bias=0.0)([1000.0]) == 1.0
    assert SigmoidNeuron([1.0], bias=0.0)([-1000.0]) == 0.0


def test_output_change_is_first_order_eq5():
    n = SigmoidNeuron([0.3, -0.7, 1.1], bias=0.2)
    x = np.array([1.0, 0.5, 0.25])
    dw, db = np.array([1e-4, -2e-4, 3e-4]), -1e-4
    estimate = n.output_change(x, dw, db)
    true = SigmoidNeuron(n.weights + dw, bias=n.bias + db)(x) - n(x)
    # z = 0.3 - 0.35 + 0.275 + 0.2 = 0.425; x . dw + db = 1e-4 - 1e-4 + 0.75e-4 - 1e-4
    # = -2.5e-5; Eq. (5): sigma'(0.425) * -2.5e-5 with sigma' = s (1 - s).
    s = 1 / (1 + np.exp(-0.425))
    assert estimate == pytest.approx(s * (1 - s) * -2.5e-5, rel=1e-12)
    # The true change differs by ~ sigma''/2 (Delta z)^2 < 1e-10, far below |estimate| ~ 6e-6.
    assert abs(true - estimate) < 1e-10
    # Halving the change halves the estimate exactly (it is linear).
    assert n.output_change(x, dw / 2, db / 2) == pytest.approx(estimate / 2, rel=1e-12)


# --- Exercise 2: sigmoid neurons with c -> infinity ---------------------------------------


@pytest.mark.parametrize("circuit", [two_bit_adder(), two_bit_adder(merged=True)])
def test_large_c_reproduces_the_adder_exactly(circuit):
    x, y = circuit.truth_table()
    # No unit of the adder has z = 0 on any binary input (all z are odd: +-1, +-3).
    zs = circuit.weighted_inputs(x)
    assert all(np.all(z != 0) for z in zs.values())
    # c |z| >= 1000 > 745: every sigmoid is exactly 0.0 or 1.0 in float64.
    np.testing.assert_array_equal(circuit.run_sigmoid(x, c=1000.0), y.astype(float))
    np.testing.assert_array_equal(circuit.sigmoid_limit(x), y.astype(float))


def test_sigmoid_circuit_converges_as_c_grows():
    adder = two_bit_adder()
    x, y = adder.truth_table()
    errors = [np.max(np.abs(adder.run_sigmoid(x, c=c) - y)) for c in (1, 2, 5, 10, 20)]
    assert errors[0] > 0.3  # c = 1 is far from the perceptrons
    assert all(a > b for a, b in zip(errors, errors[1:]))
    assert errors[-1] < 1e-7


def test_single_neuron_error_bound():
    # |sigma(c z) - step(z)| = sigma(-c |z|) < exp(-c |z|) for z != 0.
    p = cheese_festival(5)
    X = np.array(BITS3)
    z = p.weighted_input(X)
    for c in (0.5, 1, 3, 10):
        err = np.abs(p.as_sigmoid(c)(X) - p(X))
        assert np.all(err <= np.exp(-c * np.abs(z)))  # equal in float64 when tiny


def test_limit_fails_where_z_is_zero():
    # Cheese festival with threshold 4: partner + transit gives z = 2 + 2 - 4 = 0.
    p = cheese_festival(4)
    assert p.weighted_input([0, 1, 1]) == 0.0
    assert p([0, 1, 1]) == 0  # the perceptron says no
    for c in (1.0, 1e3, 1e12):  # the sigmoid neuron says 0.5, whatever c
        assert p.as_sigmoid(c)([0, 1, 1]) == 0.5
    # Elsewhere z is never 0 and the limit agrees with the perceptron.
    for x in BITS3:
        if x != (0, 1, 1):
            assert p.as_sigmoid(1e3)(x) == p(x)


def test_limit_in_a_network_propagates_one_half():
    # AND-like unit u = step(x1 + x2 - 1) has z = 0 at (1, 0); the next unit v reads u.
    circuit = PerceptronCircuit(
        ("x1", "x2"),
        [Unit("u", (("x1", 1), ("x2", 1)), -1), Unit("v", (("u", 2),), -0.5)],
        ("u", "v"),
    )
    x, y = circuit.truth_table()
    # perceptrons: (0,0) z_u = -1; (0,1), (1,0) z_u = 0 -> 0; (1,1) z_u = 1 -> u = 1, v = 1.
    assert y.tolist() == [[0, 0], [0, 0], [0, 0], [1, 1]]
    # c -> infinity: u = 0.5 where z_u = 0, so v sees z_v = 2 * 0.5 - 0.5 = 0.5 > 0 -> 1.
    limit = circuit.sigmoid_limit(x)
    assert limit.tolist() == [[0, 0], [0.5, 1], [0.5, 1], [1, 1]]
    np.testing.assert_array_equal(circuit.run_sigmoid(x, c=1e4), limit)


# --- Validation -----------------------------------------------------------------------------


def test_bias_or_threshold_exactly_one():
    with pytest.raises(TypeError, match="exactly one of bias or threshold"):
        Perceptron([1, 1])
    with pytest.raises(TypeError, match="exactly one of bias or threshold"):
        Perceptron([1, 1], bias=1, threshold=1)


def test_bad_weights_and_inputs():
    with pytest.raises(ValueError, match=r"weights must be 1-D.*\(2, 2\)"):
        Perceptron([[1, 2], [3, 4]], bias=0)
    with pytest.raises(ValueError, match="weights must be finite"):
        Perceptron([1, np.nan], bias=0)
    with pytest.raises(TypeError, match="weights must hold real numbers"):
        Perceptron(["a", "b"], bias=0)
    with pytest.raises(TypeError, match="bias must be a real number"):
        Perceptron([1.0], bias="3")
    with pytest.raises(ValueError, match="threshold must be finite, got inf"):
        Perceptron([1.0], threshold=np.inf)
    with pytest.raises(ValueError, match=r"x must have shape \(3,\) or \(n_samples, 3\), got \(2,\)"):
        cheese_festival()([1, 0])
    with pytest.raises(ValueError, match="x must be finite"):
        nand_perceptron()([np.nan, 1])
