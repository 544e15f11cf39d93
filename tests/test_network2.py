"""Chapter 3's improvements (network2): cross-entropy, scaled initialisation, L2 regularisation.

The reference (:mod:`fastnn.reference`, network2's algorithm in NumPy) is checked against
hand-worked values and central differences; the kernels are checked against the reference.
"""

import numpy as np
import pytest

import fastnn
from fastnn import kernels, reference
from fastnn.bench.implementations import IMPLEMENTATIONS
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


# -- the kernels against the reference ------------------------------------------------------


def tiny_net(dtype="float64", cost="cross-entropy"):
    net = fastnn.Network([2, 2, 1], cost=cost, dtype=dtype)
    net.weights, net.biases = tiny_params()
    return net


@pytest.mark.parametrize("case", [CE_STEP, CE_L2_STEP], ids=["cross-entropy", "cross-entropy+L2"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_hand_worked_cross_entropy_step(case, dtype):
    """The step worked out above, by the kernels; the L2 case exercises the weight scale s.

    With decay 1/2 the kernel keeps W = s V with s = 1/2 and adds (-eta/m)/s = -4 times
    the gradient to V = W: V1 = [[0.5, -0.5], [1, -1]] + 4 [[0.125, 0.125], [-0.125, -0.125]]
    = [[1, 0], [0.5, -1.5]], and folds s back in: W1 = [[0.5, 0], [0.25, -0.75]]. Exact.
    """
    net = tiny_net(dtype)
    cost = net.update_mini_batch(np.array(case["X"]), np.array(case["Y"]), case["eta"],
                                 lmbda=case["lmbda"], n=case["n"])
    assert cost == pytest.approx(np.log(2), rel=1e-6 if dtype == "float32" else 1e-15)
    np.testing.assert_array_equal(net.weights[0], case["W1"])
    np.testing.assert_array_equal(net.biases[0], case["b1"])
    np.testing.assert_array_equal(net.weights[1], case["W2"])
    np.testing.assert_array_equal(net.biases[1], case["b2"])


def test_kernel_hand_worked_cross_entropy_backprop_and_cost():
    net = tiny_net()
    nabla_b, nabla_w = net.backprop(np.array([1.0, 1.0]), np.array([1.0]))
    np.testing.assert_array_equal(nabla_b[1], [-0.5])
    np.testing.assert_array_equal(nabla_w[1], [[-0.25, -0.25]])
    np.testing.assert_array_equal(nabla_b[0], [-0.125, 0.125])
    np.testing.assert_array_equal(nabla_w[0], [[-0.125, -0.125], [0.125, 0.125]])
    data = (np.array([[1.0, 1.0]]), np.array([[1.0]]))
    assert net.cost(data) == pytest.approx(np.log(2), rel=1e-15)
    # L2 term: 0.5 * (lmbda / n) * sum ||w||^2 = 0.5 * (2 / 1) * (0.25 + 0.25 + 1 + 1 + 1 + 1) = 4.5
    assert net.cost(data, lmbda=2.0) == pytest.approx(np.log(2) + 4.5, rel=1e-15)


@pytest.mark.parametrize("sizes", [[5, 4, 3], [6, 5, 4, 3], [3, 1]])
def test_kernel_cross_entropy_gradient_matches_central_differences(sizes):
    """net.backprop of the cross-entropy against central differences of the reference cost."""
    rng = np.random.default_rng(len(sizes))
    net = fastnn.Network(sizes, cost="cross-entropy", init="scaled", seed=2)
    x = rng.random(sizes[0])
    x[0] = 0.0
    y = rng.random(sizes[-1])
    nabla_b, nabla_w = net.backprop(x, y)
    numeric = _central_differences(
        lambda: CrossEntropyCost.fn(reference.feedforward(net.weights, net.biases, x), y),
        list(net.weights) + list(net.biases),
    )
    for a, num in zip(nabla_w + nabla_b, numeric):
        err = np.linalg.norm(a - num) / max(np.linalg.norm(num), 1e-300)
        assert err < 1e-7, err
    assert np.all(nabla_w[0][:, 0] == 0)


@pytest.mark.parametrize("cost", ["cross-entropy", "quadratic"])
def test_kernel_l2_step_is_gradient_descent_on_the_regularised_cost(cost):
    """One step on the whole set is p - eta * d/dp [mean C_x + (lmbda / 2n) sum ||w||^2].

    The derivative by central differences of the reference's total_cost with lmbda, so
    the weight decay (and that biases are not decayed) is checked independently of the
    reference's update rule.
    """
    rng = np.random.default_rng(11)
    sizes = [6, 5, 3]
    X = rng.random((9, 6))
    Y = np.eye(3)[rng.integers(0, 3, 9)]
    net = fastnn.Network(sizes, cost=cost, init="scaled", seed=3)
    weights = [np.array(w) for w in net.weights]
    biases = [np.array(b) for b in net.biases]
    eta, lmbda = 0.5, 3.0
    grads = _central_differences(
        lambda: reference.total_cost(weights, biases, X, Y, lmbda=lmbda, cost=reference.COSTS[cost]),
        weights + biases,
    )
    net.update_mini_batch(X, Y, eta, lmbda=lmbda)  # n = len(X): the batch is the training set
    for got, p, g in zip(list(net.weights) + list(net.biases), weights + biases, grads):
        np.testing.assert_allclose(got, p - eta * g, rtol=1e-8, atol=1e-9)


EPOCH_CASES = [  # (n, m, lmbda): m = 1 over 100 steps only (online SGD is chaotic, FIELD_NOTES)
    (3000, 10, 5.0), (3003, 10, 0.0), (100, 1, 5.0), (257, 64, 50.0), (500, 500, 5.0),
]


@pytest.mark.parametrize("cost", ["cross-entropy", "quadratic"])
@pytest.mark.parametrize("n, m, lmbda", EPOCH_CASES)
def test_kernel_epoch_matches_reference_on_mnist(mnist, cost, n, m, lmbda):
    """Same start, same permutation, float64: parameters agree to 1e-10 relative."""
    (X, y), _, _ = mnist
    X, Y = X[:n], np.eye(10)[y[:n]]
    net = fastnn.Network([784, 30, 10], cost=cost, init="scaled", seed=3)
    perm = np.random.default_rng(0).permutation(n)
    results, costs = {}, {}
    for name in ("numba", "numpy-matrix"):
        impl = IMPLEMENTATIONS[name](net)
        costs[name] = impl.epoch(X, Y, perm, m, 0.5, lmbda=lmbda)
        results[name] = impl.weights_biases()
    (w, b), (ref_w, ref_b) = results["numba"], results["numpy-matrix"]
    for got, want in zip(w + b, ref_w + ref_b):
        rel = np.max(np.abs(got - want)) / np.max(np.abs(want))
        assert rel <= 1e-10, rel
    assert np.max(np.abs(w[0] - net.weights[0])) > 1e-3  # training did move the weights


@pytest.mark.parametrize("cost", ["cross-entropy", "quadratic"])
def test_kernel_epoch_cost_is_the_cost_before_each_update(mnist, cost):
    (X, y), _, _ = mnist
    net = fastnn.Network([784, 30, 10], cost=cost, seed=9)
    X, Y = X[:20], np.eye(10)[y[:20]]
    expected = 20 * reference.total_cost(net.weights, net.biases, X, Y, cost=reference.COSTS[cost])
    params = net.params.copy()
    got = kernels.sgd_epoch((params, net.layers), (*kernels.csr(X), Y), np.arange(20), 20, 3.0,
                            (kernels.COST_IDS[cost], 1 - 3.0 * 5.0 / 20))
    assert got == pytest.approx(expected, rel=1e-12)
    assert net.cost((X, Y)) == pytest.approx(expected / 20, rel=1e-12)
    assert net.cost((X, Y), lmbda=5.0) == pytest.approx(
        reference.total_cost(net.weights, net.biases, X, Y, lmbda=5.0, cost=reference.COSTS[cost]), rel=1e-12)


def test_kernel_float32_cross_entropy_l2_close_to_float64(mnist):
    (X, y), _, _ = mnist
    out = {}
    for dtype in ("float64", "float32"):
        net = fastnn.Network([784, 30, 10], cost="cross-entropy", init="scaled", seed=5, dtype=dtype)
        net.SGD((X[:1000], y[:1000]), 1, 10, 0.5, lmbda=5.0, verbose=False)
        out[dtype] = net
    for w64, w32 in zip(out["float64"].weights + out["float64"].biases,
                        out["float32"].weights + out["float32"].biases):
        np.testing.assert_allclose(w32, w64, rtol=0, atol=2e-4)


def _wide_problem(sizes, dtype, n=40):
    rng = np.random.default_rng(sum(sizes))
    X = rng.random((n, sizes[0])).astype(dtype)
    X[X < 0.5] = 0  # sparse, as MNIST
    Y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], n)]
    return X, Y, rng.permutation(n)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("sizes", [[30, 200, 10], [20, 300, 150, 10], [40, 130]],
                         ids=["one-wide-hidden", "two-wide-hidden", "no-hidden"])
@pytest.mark.parametrize("m", [1, 7])
def test_kernel_parallel_equals_serial_with_cross_entropy_and_l2(sizes, dtype, m):
    """The weight scale and the cross-entropy keep the parallel kernel's bit-identity.

    A large decay (eta lmbda / n = 0.06 per step) forces the scale through several
    rescalings (below 1/1024 after 115 steps) within the epoch.
    """
    X, Y, perm = _wide_problem(sizes, dtype)
    net = fastnn.Network(sizes, cost="cross-entropy", init="scaled", seed=1, dtype=dtype)
    inputs = (*kernels.csr(X), Y)
    objective = (kernels.CROSS_ENTROPY, 1 - 0.5 * 4.8 / 40)
    want = net.params.copy()
    want_cost = kernels.sgd_epoch((want, net.layers), inputs, perm, m, 0.5, objective)
    assert not np.array_equal(want, net.params)
    for n_threads in (1, 2, 3):
        got = net.params.copy()
        cost = kernels.sgd_epoch_parallel((got, net.layers), inputs, perm, m, 0.5, objective, n_threads, 16)
        np.testing.assert_array_equal(got, want, err_msg=f"{n_threads} threads")
        assert cost == want_cost


def test_kernel_rescaling_many_times_matches_reference():
    """An epoch whose weight scale is folded back many times (decay 0.8 per step)."""
    rng = np.random.default_rng(4)
    X = rng.random((60, 8))
    X[X < 0.4] = 0
    Y = np.eye(3)[rng.integers(0, 3, 60)]
    net = fastnn.Network([8, 6, 3], cost="cross-entropy", seed=0)
    perm = rng.permutation(60)
    numba_impl, ref = IMPLEMENTATIONS["numba"](net), IMPLEMENTATIONS["numpy-matrix"](net)
    for impl in (numba_impl, ref):
        impl.epoch(X, Y, perm, 1, 0.5, lmbda=24.0)  # 1 - 0.5 * 24 / 60 = 0.8: s < 1/1024 every 31 steps
    (w, b), (ref_w, ref_b) = numba_impl.weights_biases(), ref.weights_biases()
    for got, want in zip(w + b, ref_w + ref_b):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


class TestSoftplus:
    def test_matches_numpy_over_the_range(self):
        z = np.concatenate([np.linspace(-50, 50, 20001), [-745.0, -1000.0, 1000.0, 0.0, 1e-300, -1e-300]])
        for dtype in ("float64", "float32"):
            zz = z.astype(dtype)
            out = np.empty_like(zz)
            kernels.softplus(zz, out)
            want = np.logaddexp(0, zz.astype(np.float64))
            np.testing.assert_allclose(out.astype(np.float64), want, rtol=1e-15 if dtype == "float64" else 1e-7,
                                       atol=1e-300)

    def test_nan_propagates(self):
        out = np.empty(1)
        kernels.softplus(np.array([np.nan]), out)
        assert np.isnan(out[0])


def test_cross_entropy_cost_is_finite_where_outputs_saturate():
    """a rounds to 1 for z = 40 (float64) or 17 (float32); network2's logarithms would give inf."""
    for dtype in ("float64", "float32"):
        net = fastnn.Network([1, 1], cost="cross-entropy", dtype=dtype)
        net.weights = [[[0.0]]]
        net.biases = [[60.0]]
        # z = 60, y = 0: C = ln(1 + e^60) = 60 + ln(1 + e^-60) = 60.
        assert net.cost((np.array([[0.5]]), np.array([[0.0]]))) == pytest.approx(60.0, rel=1e-7)
        assert net.feedforward(np.array([0.5]))[0] == 1.0


# -- options and their validation -------------------------------------------------------------
def test_scaled_init_is_the_normal_draw_over_sqrt_n_in():
    normal = fastnn.Network([784, 30, 10], seed=0)
    scaled = fastnn.Network([784, 30, 10], init="scaled", seed=0)
    for wn, ws in zip(normal.weights, scaled.weights):
        np.testing.assert_array_equal(ws, wn / np.sqrt(wn.shape[1]))
    for bn, bs in zip(normal.biases, scaled.biases):
        np.testing.assert_array_equal(bs, bn)
    assert abs(np.std(scaled.weights[0]) * np.sqrt(784) - 1) < 0.02


def test_defaults_are_chapter_1():
    net = fastnn.Network([3, 2], seed=0)
    assert (net.cost_name, net.init) == ("quadratic", "normal")
    assert repr(net) == "Network(sizes=[3, 2], dtype='float64')"
    assert "cross-entropy" in repr(fastnn.Network([3, 2], cost="cross-entropy", init="scaled"))


@pytest.mark.parametrize("kwargs, error, fragment", [
    (dict(cost="log-likelihood"), ValueError,
     "cost must be one of ['quadratic', 'cross-entropy'], got 'log-likelihood'"),
    (dict(cost=None), TypeError, "cost must be a string"),
    (dict(init="large"), ValueError, "init must be one of ['normal', 'scaled'], got 'large'"),
    (dict(init=1), TypeError, "init must be a string"),
])
def test_bad_options_are_named(kwargs, error, fragment):
    with pytest.raises(error) as info:
        fastnn.Network([3, 2], **kwargs)
    assert fragment in str(info.value)


@pytest.mark.parametrize("lmbda, error, fragment", [
    (-1.0, ValueError, "lmbda must be a finite number >= 0, got -1.0"),
    (float("nan"), ValueError, "lmbda must be a finite number >= 0"),
    ("5", TypeError, "lmbda must be a real number"),
    (True, TypeError, "lmbda must be a real number"),
    (1e6, ValueError, "eta * lmbda / n must be < 1"),
])
def test_bad_lmbda_is_named_before_training(lmbda, error, fragment):
    net = fastnn.Network([3, 2], seed=0)
    before = net.params.copy()
    X, y = np.random.default_rng(0).random((10, 3)), np.arange(10) % 2
    with pytest.raises(error) as info:
        net.SGD((X, y), 1, 5, 0.5, lmbda=lmbda, verbose=False)
    assert fragment in str(info.value)
    np.testing.assert_array_equal(net.params, before)
    with pytest.raises(error):
        fastnn.train_many([net], (X, y), 1, 5, 0.5, lmbda=lmbda)


def test_cross_entropy_l2_learns_mnist(mnist):
    (X, y), _, (X_test, y_test) = mnist
    net = fastnn.Network([784, 30, 10], cost="cross-entropy", init="scaled", seed=0)
    history = net.SGD((X[:5000], y[:5000]), 2, 10, 0.5, (X_test[:2000], y_test[:2000]), lmbda=5.0, verbose=False)
    assert history[-1].accuracy > 0.85
    assert history[-1].train_cost < history[0].train_cost


# -- persistence ---------------------------------------------------------------------------
def test_save_load_carries_cost_and_init(tmp_path):
    net = fastnn.Network([5, 4, 3], cost="cross-entropy", init="scaled", seed=0, dtype="float32")
    back = fastnn.load(net.save(tmp_path / "m.npz"))
    assert (back.cost_name, back.init, back.dtype) == ("cross-entropy", "scaled", np.dtype("float32"))
    np.testing.assert_array_equal(back.params, net.params)


def test_version_1_files_load_as_chapter_1(tmp_path):
    """Files written before the options (format version 1) have Chapter 1's cost and init."""
    net = fastnn.Network([2, 1], seed=0)
    path = tmp_path / "v1.npz"
    np.savez(path, format_version=np.array(1), sizes=np.array([2, 1]), dtype=np.array("float64"),
             weights_0=np.array(net.weights[0]), biases_0=np.array(net.biases[0]))
    back = fastnn.load(path)
    assert (back.cost_name, back.init) == ("quadratic", "normal")
    np.testing.assert_array_equal(back.params, net.params)


@pytest.mark.parametrize("entries, fragment", [
    (dict(cost=np.array("log-likelihood")), "cost must be one of ['quadratic', 'cross-entropy'], got 'log-likelihood'"),
    (dict(init=np.array("large")), "init must be one of ['normal', 'scaled'], got 'large'"),
    (dict(cost=None), "missing entry 'cost'"),
])
def test_bad_cost_or_init_in_a_file_is_a_model_file_error(tmp_path, entries, fragment):
    good = dict(format_version=np.array(2), sizes=np.array([2, 1]), dtype=np.array("float64"),
                cost=np.array("quadratic"), init=np.array("normal"), weights_0=np.ones((1, 2)), biases_0=np.zeros(1))
    good.update(entries)
    path = tmp_path / "bad.npz"
    np.savez(path, **{k: v for k, v in good.items() if v is not None})
    with pytest.raises(fastnn.ModelFileError) as info:
        fastnn.load(path)
    assert fragment in str(info.value)
