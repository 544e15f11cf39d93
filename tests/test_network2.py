"""Chapter 3's improvements (network2): cross-entropy, scaled initialisation, L2 regularisation.

The reference (:mod:`fastnn.reference`, network2's algorithm in NumPy) is checked against
hand-worked values and central differences; the kernels are checked against the reference.
"""

import numpy as np
import pytest

from fastnn import reference
from fastnn.reference import CrossEntropyCost, QuadraticCost


def tiny_params():
    """The 2-2-1 net of tests/test_kernels.py: every z = 0 for x = (1, 1)."""
    weights = [np.array([[0.5, -0.5], [1.0, -1.0]]), np.array([[1.0, -1.0]])]
    biases = [np.array([0.0, 0.0]), np.array([0.0])]
    return weights, biases


# Cross-entropy, x = (1, 1), y = 1, eta = 2, m = 1.
#   z1 = W1 x + b1 = (0.5 - 0.5, 1 - 1) = (0, 0)         a1 = sigmoid(0) = (0.5, 0.5)
#   z2 = W2 a1 + b2 = 0.5 - 0.5 = 0                       a2 = 0.5
#   C_x = -[y ln a2 + (1 - y) ln(1 - a2)] = -ln(1/2) = ln 2                    (Eq. 63)
#   delta2 = a2 - y = 0.5 - 1 = -0.5: no sigma'(z2) = 0.25 factor, the quadratic
#            cost's -0.125 is four times smaller                                (Eq. 66)
#   nabla_b2 = -0.5; nabla_W2 = delta2 a1^T = (-0.25, -0.25)                    (BP3, BP4)
#   delta1 = (W2^T delta2) * sigmoid'(z1) = (1 * -0.5, -1 * -0.5) * 0.25
#          = (-0.125, 0.125)                                                    (BP2)
#   nabla_b1 = (-0.125, 0.125); nabla_W1 = delta1 x^T = [[-0.125, -0.125], [0.125, 0.125]]
#   Step with eta/m = 2 (Eq. 20-21): W2 = (1, -1) - 2 (-0.25, -0.25) = (1.5, -0.5);
#   b2 = 0 - 2 (-0.5) = 1;  W1 = [[0.5 + 0.25, -0.5 + 0.25], [1 - 0.25, -1 - 0.25]]
#   = [[0.75, -0.25], [0.75, -1.25]];  b1 = (0 + 0.25, 0 - 0.25) = (0.25, -0.25).
CE_STEP = dict(
    X=[[1.0, 1.0]], Y=[[1.0]], eta=2.0, lmbda=0.0, n=1,
    W1=[[0.75, -0.25], [0.75, -1.25]], b1=[0.25, -0.25], W2=[[1.5, -0.5]], b2=[1.0],
)
# The same step with L2 regularisation, lmbda = 1, n = 4: eta * lmbda / n = 2 / 4, so the
# weights are first scaled by 1 - 1/2 = 1/2 (Eq. 93); the biases are not.
#   W2 = 0.5 (1, -1) - 2 (-0.25, -0.25) = (0.5 + 0.5, -0.5 + 0.5) = (1, 0)
#   W1 = 0.5 [[0.5, -0.5], [1, -1]] - 2 nabla_W1 = [[0.25 + 0.25, -0.25 + 0.25],
#        [0.5 - 0.25, -0.5 - 0.25]] = [[0.5, 0], [0.25, -0.75]]
#   b1 = (0.25, -0.25), b2 = 1, as without L2. Binary fractions throughout: exact.
CE_L2_STEP = dict(
    CE_STEP, lmbda=1.0, n=4, W1=[[0.5, 0.0], [0.25, -0.75]], W2=[[1.0, 0.0]],
)


@pytest.mark.parametrize("case", [CE_STEP, CE_L2_STEP], ids=["cross-entropy", "cross-entropy+L2"])
@pytest.mark.parametrize("matrix", [False, True], ids=["per-sample", "matrix"])
def test_reference_hand_worked_cross_entropy_step(case, matrix):
    weights, biases = tiny_params()
    X, Y = np.array(case["X"]), np.array(case["Y"])
    assert reference.total_cost(weights, biases, X, Y, cost=CrossEntropyCost) == pytest.approx(np.log(2), rel=1e-15)
    update = reference.update_mini_batch_matrix if matrix else reference.update_mini_batch
    update(weights, biases, X, Y, case["eta"], lmbda=case["lmbda"], n=case["n"], cost=CrossEntropyCost)
    np.testing.assert_array_equal(weights[0], case["W1"])
    np.testing.assert_array_equal(biases[0], case["b1"])
    np.testing.assert_array_equal(weights[1], case["W2"])
    np.testing.assert_array_equal(biases[1], case["b2"])


def test_reference_hand_worked_cross_entropy_gradient():
    weights, biases = tiny_params()
    nabla_b, nabla_w = reference.backprop(weights, biases, np.array([1.0, 1.0]), np.array([1.0]),
                                          cost=CrossEntropyCost)
    np.testing.assert_array_equal(nabla_b[1], [-0.5])
    np.testing.assert_array_equal(nabla_w[1], [[-0.25, -0.25]])
    np.testing.assert_array_equal(nabla_b[0], [-0.125, 0.125])
    np.testing.assert_array_equal(nabla_w[0], [[-0.125, -0.125], [0.125, 0.125]])


def _random_params(sizes, rng):
    weights = [rng.standard_normal((n_out, n_in)) / np.sqrt(n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [rng.standard_normal(n_out) for n_out in sizes[1:]]
    return weights, biases


def _central_differences(f, arrays, h=1e-5):
    grads = []
    for p in arrays:
        g = np.zeros(p.shape)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + h
            c_plus = f()
            p[idx] = old - h
            c_minus = f()
            p[idx] = old
            g[idx] = (c_plus - c_minus) / (2 * h)
        grads.append(g)
    return grads


@pytest.mark.parametrize("sizes", [[5, 4, 3], [6, 5, 4, 3], [3, 1]])
@pytest.mark.parametrize("lmbda", [0.0, 0.7])
@pytest.mark.parametrize("cost", [CrossEntropyCost, QuadraticCost], ids=["cross-entropy", "quadratic"])
def test_reference_gradient_of_total_cost_matches_central_differences(sizes, lmbda, cost):
    """d/dp of network2's total_cost (the mean C_x plus the L2 term) by central differences.

    Analytic: the mean over the samples of backprop's gradient, plus (lmbda / n) w for the
    weights (the derivative of 0.5 (lmbda / n) sum ||w||^2, Eq. 86-87); nothing for biases.
    With h = 1e-5 the truncation error is O(h^2) ~ 1e-10 relative and the rounding error
    O(eps / h) ~ 1e-11, below the asserted 1e-7.
    """
    rng = np.random.default_rng(sum(sizes) + int(10 * lmbda))
    weights, biases = _random_params(sizes, rng)
    n = 7
    X = rng.random((n, sizes[0]))
    Y = rng.random((n, sizes[-1]))  # soft targets: cross-entropy is defined for y in [0, 1]
    nabla_b, nabla_w = reference.backprop_matrix(weights, biases, X, Y, cost=cost)
    analytic = [nw / n + (lmbda / n) * w for nw, w in zip(nabla_w, weights)] + [nb / n for nb in nabla_b]
    numeric = _central_differences(
        lambda: reference.total_cost(weights, biases, X, Y, lmbda=lmbda, cost=cost), weights + biases
    )
    for a, num in zip(analytic, numeric):
        err = np.linalg.norm(a - num) / max(np.linalg.norm(num), 1e-300)
        assert err < 1e-7, err


def test_reference_per_sample_and_matrix_agree_with_cross_entropy_and_l2():
    rng = np.random.default_rng(3)
    sizes = [8, 6, 4]
    start = _random_params(sizes, rng)
    X = rng.random((23, 8))
    Y = np.eye(4)[rng.integers(0, 4, 23)]
    perm = rng.permutation(23)
    out = []
    for matrix in (False, True):
        weights = [w.copy() for w in start[0]]
        biases = [b.copy() for b in start[1]]
        reference.sgd_epoch(weights, biases, X, Y, perm, 5, 0.5, matrix=matrix, lmbda=2.0, cost=CrossEntropyCost)
        out.append(weights + biases)
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_reference_cross_entropy_cost_from_z_is_exact_where_a_saturates():
    """network2's fn turns log(0) into the largest float; from z the cost stays exact."""
    z = np.array([1000.0, -1000.0, 0.0, 40.0])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    a = reference.sigmoid(z)  # (1, 0, 0.5, 1 - 4e-18 -> 1.0)
    # ln(1 + e^1000) - 0 = 1000 (to 1e-434); ln(1 + e^-1000) = e^-1000 = 0 in float64;
    # ln 2 - 0; ln(1 + e^40) - 40 = ln(1 + e^-40) = 4.25e-18.
    want = 1000.0 + 0.0 + np.log(2) + np.log1p(np.exp(-40.0))
    assert CrossEntropyCost.fn_from_z(z, y) == pytest.approx(want, rel=1e-15)
    assert CrossEntropyCost.fn(a, y) > 1e300  # the book's nan_to_num(inf)
    # Where nothing saturates the two agree.
    z = np.linspace(-5, 5, 11)
    y = np.linspace(0, 1, 11)
    assert CrossEntropyCost.fn(reference.sigmoid(z), y) == pytest.approx(CrossEntropyCost.fn_from_z(z, y), rel=1e-13)


def test_reference_l2_needs_the_training_set_size():
    weights, biases = tiny_params()
    with pytest.raises(ValueError, match="n"):
        reference.update_mini_batch(weights, biases, np.ones((1, 2)), np.ones((1, 1)), 1.0, lmbda=1.0)


def test_reference_quadratic_default_is_chapter_1():
    """The default path is Chapter 1's, bit for bit: network2's QuadraticCost gives the same."""
    rng = np.random.default_rng(5)
    sizes = [6, 5, 3]
    start = _random_params(sizes, rng)
    X = rng.random((12, 6))
    Y = np.eye(3)[rng.integers(0, 3, 12)]
    plain = [a.copy() for a in start[0] + start[1]]
    explicit = [a.copy() for a in start[0] + start[1]]
    reference.sgd_epoch(plain[:2], plain[2:], X, Y, np.arange(12), 4, 3.0)
    reference.sgd_epoch(explicit[:2], explicit[2:], X, Y, np.arange(12), 4, 3.0, lmbda=0.0, cost=QuadraticCost)
    for a, b in zip(plain, explicit):
        np.testing.assert_array_equal(a, b)
    a = reference.feedforward(start[0], start[1], X)
    assert reference.total_cost(start[0], start[1], X, Y) == pytest.approx(QuadraticCost.fn(a, Y) / 12, rel=1e-14)
