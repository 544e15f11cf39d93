"""Gradient descent on functions with known minima (Eq. 7-15), and its input validation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn.book.gradient_descent import (
    gradient_descent,
    numerical_gradient,
    valley,
    valley_gradient,
)


def test_valley_values():
    assert valley([3.0, 4.0]) == 25.0
    np.testing.assert_array_equal(valley_gradient([3.0, -4.0]), [6.0, -8.0])


def test_valley_step_by_step_matches_closed_form():
    # C = v1^2 + v2^2, grad C = 2 v, so v' = v - eta 2 v = (1 - 2 eta) v: with eta = 0.1,
    # v_k = 0.8^k v_0 and C_k = 0.64^k C_0.
    v0 = np.array([1.0, -0.5])
    path = gradient_descent(valley, v0, grad=valley_gradient, eta=0.1, steps=50)
    k = np.arange(51)
    np.testing.assert_allclose(path.v, 0.8 ** k[:, None] * v0, rtol=1e-12)
    np.testing.assert_allclose(path.cost, 1.25 * 0.64**k, rtol=1e-12)
    np.testing.assert_allclose(path.grad_norm, 2 * np.sqrt(1.25) * 0.8**k, rtol=1e-12)
    assert path.n_steps == 50 and path.eta.tolist() == [0.1] * 50
    assert not path.converged
    assert np.all(np.diff(path.cost) < 0)  # Eq. (11): Delta C = -eta |grad C|^2 < 0


def test_predicted_change_is_eq_11_and_first_order():
    path = gradient_descent(valley, [1.0, 2.0], grad=valley_gradient, eta=1e-4, steps=5)
    # Eq. (11): predicted Delta C = -eta |grad C|^2.
    np.testing.assert_allclose(path.predicted_change, -1e-4 * path.grad_norm[:-1] ** 2)
    # The true change -eta |g|^2 (1 - eta) differs by eta^2 |g|^2: relative error eta.
    actual = np.diff(path.cost)
    np.testing.assert_allclose(actual, path.predicted_change, rtol=2e-4)


def test_descent_reaches_minimum_of_convex_quadratic():
    # C(v) = 1/2 v^T A v - b^T v with A positive definite: minimum at A^-1 b. Converges for
    # eta < 2 / lambda_max; A's eigenvalues are (5 -+ sqrt 5) / 2 = 1.38, 3.62, so eta = 0.2.
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, -1.0])
    minimum = np.linalg.solve(A, b)  # (0.6, -0.8)

    def cost(v):
        return 0.5 * v @ A @ v - b @ v

    path = gradient_descent(cost, [5.0, 5.0], grad=lambda v: A @ v - b, eta=0.2, steps=500,
                            tol=1e-10)
    assert path.converged and path.n_steps < 500
    np.testing.assert_allclose(path.v_final, minimum, atol=1e-9)
    np.testing.assert_allclose(minimum, [0.6, -0.8])


def test_numerical_gradient_descent_matches_analytic():
    exact = gradient_descent(valley, [1.0, -2.0, 0.5], grad=valley_gradient, eta=0.05, steps=40)
    numeric = gradient_descent(valley, [1.0, -2.0, 0.5], eta=0.05, steps=40)
    np.testing.assert_allclose(numeric.v, exact.v, rtol=1e-8, atol=1e-12)


def test_numerical_gradient_accuracy_on_rosenbrock():
    def rosen(v):
        return (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2

    v = np.array([-1.2, 1.0])
    exact = np.array([-2 * (1 - v[0]) - 400 * v[0] * (v[1] - v[0] ** 2), 200 * (v[1] - v[0] ** 2)])
    np.testing.assert_allclose(numerical_gradient(rosen, v), exact, rtol=1e-7)
    np.testing.assert_allclose(exact, [-215.6, -88.0])


@settings(max_examples=40, deadline=None)
@given(
    v0=st.lists(st.floats(-100, 100), min_size=1, max_size=6),
    eta=st.floats(0.01, 0.49),
)
def test_valley_descent_contracts_for_any_start(v0, eta):
    # For 0 < eta < 1/2 every step multiplies v by 0 < 1 - 2 eta < 1.
    path = gradient_descent(valley, v0, grad=valley_gradient, eta=eta, steps=10)
    np.testing.assert_allclose(path.v[-1], (1 - 2 * eta) ** 10 * np.array(v0), rtol=1e-9,
                               atol=1e-300)
    assert np.all(np.diff(path.cost) <= 0)


def test_fixed_step_size_moves_exactly_epsilon():
    # eta = epsilon / |grad C|: every step has length epsilon. From distance 1 toward the
    # valley floor with epsilon = 0.3 the distance goes 1, 0.7, 0.4, 0.1, then overshoots to
    # |0.1 - 0.3| = 0.2 on the other side, back to 0.1, ... (a fixed step cannot settle).
    direction = np.array([0.6, 0.8])
    path = gradient_descent(valley, direction, grad=valley_gradient, epsilon=0.3, steps=7)
    step_lengths = np.linalg.norm(np.diff(path.v, axis=0), axis=1)
    np.testing.assert_allclose(step_lengths, 0.3, rtol=1e-12)
    signed = path.v @ direction
    np.testing.assert_allclose(signed, [1, 0.7, 0.4, 0.1, -0.2, 0.1, -0.2, 0.1], atol=1e-12)
    np.testing.assert_allclose(path.eta, 0.3 / path.grad_norm[:-1])


def test_stops_at_zero_gradient():
    path = gradient_descent(valley, [0.0, 0.0], grad=valley_gradient, eta=0.1, steps=10)
    assert path.converged and path.n_steps == 0 and path.v.shape == (1, 2)
    path = gradient_descent(valley, [1.0], grad=valley_gradient, epsilon=0.5, steps=10)
    assert path.converged and path.n_steps == 2 and path.v_final.tolist() == [0.0]


def test_tiny_gradient_is_not_mistaken_for_zero():
    # |grad C| = 2e-280: squaring it underflows, which once stopped the run at step 0.
    path = gradient_descent(valley, [1e-280], grad=valley_gradient, eta=0.25, steps=10)
    assert not path.converged and path.n_steps == 10
    assert path.grad_norm[0] == 2e-280
    np.testing.assert_allclose(path.v_final, [1e-280 * 0.5**10], rtol=1e-12)


def test_zero_steps_returns_the_start():
    path = gradient_descent(valley, [1.0, 2.0], grad=valley_gradient, eta=0.1, steps=0)
    assert path.v.tolist() == [[1.0, 2.0]] and path.cost.tolist() == [5.0]
    assert path.grad_norm.shape == (1,) and path.eta.shape == (0,)


def test_too_large_eta_oscillates_or_diverges():
    # eta = 1/2 jumps to the minimum in one step; eta = 1 flips v -> -v forever; eta > 1
    # grows |v| by |1 - 2 eta| per step until it overflows (reported, not warned).
    assert gradient_descent(valley, [3.0], grad=valley_gradient, eta=0.5, steps=5).converged
    flip = gradient_descent(valley, [3.0], grad=valley_gradient, eta=1.0, steps=4)
    assert flip.v[:, 0].tolist() == [3.0, -3.0, 3.0, -3.0, 3.0]
    with pytest.raises(FloatingPointError, match=r"diverged at step \d+.*eta=10.0"):
        gradient_descent(valley, [3.0], grad=valley_gradient, eta=10.0, steps=10_000)


# --- validation: one test per bad argument -------------------------------------------------


def test_eta_or_epsilon_exactly_one():
    with pytest.raises(ValueError, match=r"exactly one of eta .* or epsilon"):
        gradient_descent(valley, [1.0])
    with pytest.raises(ValueError, match=r"exactly one of eta .* or epsilon"):
        gradient_descent(valley, [1.0], eta=0.1, epsilon=0.1)


@pytest.mark.parametrize("bad", [0.0, -0.1, np.inf, np.nan])
def test_eta_must_be_positive_and_finite(bad):
    with pytest.raises(ValueError, match=f"eta must be > 0 and finite, got {bad}"):
        gradient_descent(valley, [1.0], eta=bad)
    with pytest.raises(ValueError, match=f"epsilon must be > 0 and finite, got {bad}"):
        gradient_descent(valley, [1.0], epsilon=bad)


@pytest.mark.parametrize("bad", ["0.1", True, [0.1]])
def test_eta_must_be_a_number(bad):
    with pytest.raises(TypeError, match="eta must be a real number"):
        gradient_descent(valley, [1.0], eta=bad)


def test_steps_rules():
    with pytest.raises(ValueError, match="steps must be >= 0, got -1"):
        gradient_descent(valley, [1.0], eta=0.1, steps=-1)
    with pytest.raises(TypeError, match=r"steps must be an integer, got 2.5 \(float\)"):
        gradient_descent(valley, [1.0], eta=0.1, steps=2.5)
    with pytest.raises(TypeError, match="steps must be an integer, got True"):
        gradient_descent(valley, [1.0], eta=0.1, steps=True)
    assert gradient_descent(valley, [1.0], eta=0.1, steps=np.int64(3)).n_steps == 3


def test_tol_and_h_rules():
    with pytest.raises(ValueError, match=r"tol must be >= 0 and finite, got -1.0"):
        gradient_descent(valley, [1.0], eta=0.1, tol=-1.0)
    with pytest.raises(ValueError, match=r"h must be > 0 and finite, got 0.0"):
        gradient_descent(valley, [1.0], eta=0.1, h=0.0)
    with pytest.raises(ValueError, match="h must be > 0"):
        numerical_gradient(valley, [1.0], h=-1e-6)


@pytest.mark.parametrize(
    "v0, exc, message",
    [
        (1.0, ValueError, r"v0 must be 1-D .*got shape \(\); write \[v\]"),
        ([[1.0, 2.0]], ValueError, r"v0 must be 1-D .*got shape \(1, 2\)"),
        ([], ValueError, r"v0 must have at least one variable"),
        ([1.0, np.nan], ValueError, r"v0 must be finite, got \[1.0, nan\]"),
        ([1.0, np.inf], ValueError, r"v0 must be finite"),
        (["a", "b"], TypeError, r"v0 must be a 1-D array of real numbers, got dtype <U1"),
        ([True, False], TypeError, r"got dtype bool"),
        ([1 + 2j], TypeError, r"got dtype complex128"),
        ([[1.0], [1.0, 2.0]], ValueError, r"v0 must be a 1-D array of real numbers"),
    ],
)
def test_v0_rules(v0, exc, message):
    with pytest.raises(exc, match=message):
        gradient_descent(valley, v0, eta=0.1)


def test_cost_and_grad_must_be_callable_and_well_behaved():
    with pytest.raises(TypeError, match="cost must be callable, got float"):
        gradient_descent(1.0, [1.0], eta=0.1)
    with pytest.raises(TypeError, match="grad must be callable or None, got list"):
        gradient_descent(valley, [1.0], grad=[2.0], eta=0.1)
    with pytest.raises(TypeError, match=r"cost\(v\) must return a real scalar, got an array"):
        gradient_descent(lambda v: v**2, [1.0, 2.0], eta=0.1)
    with pytest.raises(ValueError, match=r"grad\(v\) must return shape \(2,\) like v, got \(3,\)"):
        gradient_descent(valley, [1.0, 2.0], grad=lambda v: np.zeros(3), eta=0.1)
    with pytest.raises(ValueError, match=r"cost\(v0\) must be finite, got inf"):
        gradient_descent(lambda v: np.inf, [1.0], eta=0.1)
    with pytest.raises(FloatingPointError, match="grad C is not finite after 0 steps"):
        gradient_descent(valley, [1.0], grad=lambda v: np.array([np.nan]), eta=0.1)


def test_user_function_may_modify_its_argument():
    def cost(v):
        v *= 0  # mischief: must not corrupt the trajectory
        return 1.0

    path = gradient_descent(cost, [1.0, 2.0], grad=lambda v: np.ones(2), eta=0.5, steps=2)
    np.testing.assert_array_equal(path.v, [[1.0, 2.0], [0.5, 1.5], [0.0, 1.0]])
