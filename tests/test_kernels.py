"""The kernels against hand-worked values, finite differences and the NumPy reference."""

import numba
import numpy as np
import pytest

import fastnn
from fastnn import _layout, kernels, parallel, reference
from fastnn.bench.implementations import IMPLEMENTATIONS
from fastnn.kernels import _cpu, _llvm, rows, sgd
from fastnn.validation import one_hot

#: The kernels' ``objective`` bundle of Chapter 1: the quadratic cost, no weight decay.
CHAPTER_1 = (kernels.QUADRATIC, 1.0)


def tiny_net(dtype="float64"):
    """The 2-2-1 net of the hand-worked examples, with every z = 0 for x = (1, 1) and (0, 0)."""
    net = fastnn.Network([2, 2, 1], dtype=dtype)
    net.weights[0][:] = [[0.5, -0.5], [1.0, -1.0]]
    net.biases[0][:] = [0.0, 0.0]
    net.weights[1][:] = [[1.0, -1.0]]
    net.biases[1][:] = [0.0]
    return net


def reference_step(net, X, Y, eta, matrix):
    weights = [np.ascontiguousarray(w) for w in net.weights]
    biases = [b.copy() for b in net.biases]
    update = reference.update_mini_batch_matrix if matrix else reference.update_mini_batch
    update(weights, biases, np.asarray(X, float), np.asarray(Y, float), eta)
    return weights, biases


def kernel_step(net, X, Y, eta):
    net.update_mini_batch(np.asarray(X, net.dtype), np.asarray(Y, net.dtype), eta)
    return net.weights, net.biases


# x = (1, 1), y = 1, eta = 2, m = 1.
#   z1 = W1 x + b1 = (0.5 - 0.5, 1 - 1) = (0, 0)        a1 = sigmoid(0) = (0.5, 0.5)
#   z2 = W2 a1 + b2 = 0.5 - 0.5 = 0                      a2 = 0.5
#   C_x = (0.5 - 1)^2 / 2 = 0.125
#   delta2 = (a2 - y) sigmoid'(0) = (-0.5)(0.25) = -0.125                     (BP1)
#   nabla_b2 = -0.125; nabla_W2 = delta2 a1^T = (-0.0625, -0.0625)            (BP3, BP4)
#   delta1 = (W2^T delta2) * sigmoid'(z1) = (-0.125, 0.125) * 0.25
#          = (-0.03125, 0.03125)                                              (BP2)
#   nabla_b1 = (-0.03125, 0.03125); nabla_W1 = delta1 x^T = [[-0.03125, -0.03125],
#                                                            [ 0.03125,  0.03125]]
#   Step with eta/m = 2 (Eq. 20-21): W2 = (1, -1) - 2 (-0.0625, -0.0625) = (1.125, -0.875)
#   b2 = 0 - 2 (-0.125) = 0.25;  W1 = [[0.5625, -0.4375], [0.9375, -1.0625]];
#   b1 = (0.0625, -0.0625). Every value is a binary fraction: the results are exact.
ONE_SAMPLE = dict(
    X=[[1.0, 1.0]], Y=[[1.0]], eta=2.0,
    W1=[[0.5625, -0.4375], [0.9375, -1.0625]], b1=[0.0625, -0.0625], W2=[[1.125, -0.875]], b2=[0.25],
)
# Add x = (0, 0), y = 0 (a zero input: the kernels skip its first-layer terms), m = 2:
#   z1 = b1 = (0, 0), a1 = (0.5, 0.5), a2 = 0.5, delta2 = (0.5 - 0)(0.25) = 0.125
#   nabla_b2 = 0.125, nabla_W2 = (0.0625, 0.0625); delta1 = (0.125, -0.125) * 0.25
#   = (0.03125, -0.03125); nabla_W1 = 0 (x = 0), nabla_b1 = (0.03125, -0.03125).
#   Sums with the first sample: nabla_W2 = 0, nabla_b2 = 0, nabla_b1 = 0,
#   nabla_W1 = [[-0.03125, -0.03125], [0.03125, 0.03125]].
#   Step with eta/m = 2/2 = 1: W2, b2, b1 unchanged;
#   W1 = [[0.53125, -0.46875], [0.96875, -1.03125]].
TWO_SAMPLES = dict(
    X=[[1.0, 1.0], [0.0, 0.0]], Y=[[1.0], [0.0]], eta=2.0,
    W1=[[0.53125, -0.46875], [0.96875, -1.03125]], b1=[0.0, 0.0], W2=[[1.0, -1.0]], b2=[0.0],
)


@pytest.mark.parametrize("case", [ONE_SAMPLE, TWO_SAMPLES], ids=["m=1", "m=2"])
@pytest.mark.parametrize("impl", ["kernel", "reference-per-sample", "reference-matrix"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_hand_worked_sgd_step(case, impl, dtype):
    net = tiny_net(dtype)
    if impl == "kernel":
        weights, biases = kernel_step(net, case["X"], case["Y"], case["eta"])
    else:
        weights, biases = reference_step(net, case["X"], case["Y"], case["eta"], impl.endswith("matrix"))
    np.testing.assert_array_equal(weights[0], case["W1"])
    np.testing.assert_array_equal(biases[0], case["b1"])
    np.testing.assert_array_equal(weights[1], case["W2"])
    np.testing.assert_array_equal(biases[1], case["b2"])


def test_hand_worked_backprop_and_cost():
    net = tiny_net()
    nabla_b, nabla_w = net.backprop(np.array([1.0, 1.0]), np.array([1.0]))
    np.testing.assert_array_equal(nabla_b[1], [-0.125])
    np.testing.assert_array_equal(nabla_w[1], [[-0.0625, -0.0625]])
    np.testing.assert_array_equal(nabla_b[0], [-0.03125, 0.03125])
    np.testing.assert_array_equal(nabla_w[0], [[-0.03125, -0.03125], [0.03125, 0.03125]])
    assert net.cost((np.array([[1.0, 1.0]]), np.array([[1.0]]))) == 0.125


@pytest.mark.parametrize("sizes", [[5, 4, 3], [6, 5, 4, 3], [3, 1], [7, 9, 2]])
def test_gradient_matches_central_differences(sizes):
    """Every entry of backprop's gradient against (C(p + h) - C(p - h)) / 2h.

    The cost is computed by the NumPy reference, independently of the kernels. With
    h = 1e-5 the truncation error is O(h^2 C''') ~ 1e-10 relative and the rounding error
    O(eps / h) ~ 1e-11, well below the asserted 1e-7.
    """
    rng = np.random.default_rng(42)
    net = fastnn.Network(sizes, seed=1)
    x = rng.random(sizes[0])
    x[0] = 0.0  # a zero input: its weights' gradient must be exactly zero
    y = rng.random(sizes[-1])
    nabla_b, nabla_w = net.backprop(x, y)

    def cost():
        a = reference.feedforward(net.weights, net.biases, x)
        return 0.5 * np.sum((y - a) ** 2)

    h = 1e-5
    for analytic, params in zip(nabla_w + nabla_b, net.weights + net.biases):
        numeric = np.zeros(params.shape)
        for idx in np.ndindex(params.shape):
            old = params[idx]
            params[idx] = old + h
            c_plus = cost()
            params[idx] = old - h
            c_minus = cost()
            params[idx] = old
            numeric[idx] = (c_plus - c_minus) / (2 * h)
        err = np.linalg.norm(analytic - numeric) / max(np.linalg.norm(numeric), 1e-300)
        assert err < 1e-7, (sizes, err)
    assert np.all(nabla_w[0][:, 0] == 0)


@pytest.mark.parametrize("n, m", [(3000, 10), (3003, 10), (100, 1), (500, 500), (257, 64)])
def test_numba_epoch_matches_numpy_reference_on_mnist(mnist, n, m):
    """Same start, same permutation, float64: weights agree to 1e-10 relative.

    Online learning (m = 1) with eta = 3 is chaotic: rounding differences of 1e-16 grow to
    order 1 within about 1,000 steps, so m = 1 is compared over 100 steps.
    """
    (X, y), _, _ = mnist
    X, Y = X[:n], one_hot(y[:n])
    net = fastnn.Network([784, 30, 10], seed=3)
    perm = np.random.default_rng(0).permutation(n)
    results = {}
    names = ["numba", "numpy-matrix"] + (["numpy-per-sample"] if n <= 500 else [])
    for name in names:
        impl = IMPLEMENTATIONS[name](net)
        impl.epoch(X, Y, perm, m, 3.0)
        results[name] = impl.weights_biases()
    ref_w, ref_b = results["numpy-matrix"]
    for name in names:
        w, b = results[name]
        for got, want in zip(w + b, ref_w + ref_b):
            rel = np.max(np.abs(got - want)) / np.max(np.abs(want))
            assert rel <= 1e-10, (name, rel)
    start_w = net.weights[0]
    assert np.max(np.abs(results["numba"][0][0] - start_w)) > 1e-3  # training did move the weights


def test_float32_within_1e4_of_float64_after_one_mini_batch(mnist):
    (X, y), _, _ = mnist
    out = {}
    for dtype in ("float64", "float32"):
        net = fastnn.Network([784, 30, 10], seed=5, dtype=dtype)
        net.update_mini_batch(X[:10], y[:10], 3.0)
        out[dtype] = net
    for w64, w32 in zip(out["float64"].weights + out["float64"].biases,
                        out["float32"].weights + out["float32"].biases):
        assert w32.dtype == np.float32
        np.testing.assert_allclose(w32, w64, rtol=0, atol=1e-4)


def test_epoch_cost_is_the_cost_before_each_update(mnist):
    """The kernel's returned cost equals the reference cost at the batch's starting weights."""
    (X, y), _, _ = mnist
    net = fastnn.Network([784, 30, 10], seed=9)
    X, Y = X[:20], one_hot(y[:20])
    expected = 20 * reference.total_cost(net.weights, net.biases, X, Y)
    params = net.params.copy()
    got = kernels.sgd_epoch((params, net.layers), (*kernels.csr(X), Y), np.arange(20), 20, 3.0, CHAPTER_1)
    assert got == pytest.approx(expected, rel=1e-12)


class TestSigmoid:
    def ref_and_kernel(self, z):
        z = np.asarray(z)
        out = np.empty_like(z)
        prime = np.empty_like(z)
        kernels.sigmoid(z, out)
        kernels.sigmoid_prime(z, prime)
        return reference.sigmoid(z), reference.sigmoid_prime(z), out, prime

    @pytest.mark.parametrize("dtype", ["float64", "float32"])
    def test_saturates_exactly_without_warnings(self, dtype):
        z = np.array([-1000.0, 0.0, 1000.0], dtype=dtype)
        ref, ref_prime, out, prime = self.ref_and_kernel(z)
        for got in (ref, out):
            assert got.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(got, [0.0, 0.5, 1.0])
        for got in (ref_prime, prime):
            np.testing.assert_array_equal(got, [0.0, 0.25, 0.0])

    def test_float32_extremes_and_middle(self):
        z = np.array([-1662.7, -100.0, -88.0, 0.0, -0.5, 88.0, 3212.5], dtype=np.float32)
        ref, ref_prime, out, prime = self.ref_and_kernel(z)
        for got, got_prime in ((ref, ref_prime), (out, prime)):
            assert np.all(np.isfinite(got)) and np.all(np.isfinite(got_prime))
            assert got[0] == 0.0 and got[-1] == 1.0 and got[3] == 0.5
            assert got[4] == pytest.approx(0.377541, abs=1e-6)
            assert got_prime[4] == pytest.approx(0.235004, abs=1e-6)
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6)
        np.testing.assert_allclose(prime, ref_prime, rtol=0, atol=1e-6)

    def test_nan_propagates(self):
        _, _, out, _ = self.ref_and_kernel(np.array([np.nan, 1.0]))
        assert np.isnan(out[0]) and out[1] == pytest.approx(1 / (1 + np.exp(-1.0)), rel=1e-15)

    @pytest.mark.parametrize("dtype", ["float64", "float32"])
    def test_matches_reference_over_the_range(self, dtype):
        z = np.linspace(-800, 800, 20001).astype(dtype)
        ref, ref_prime, out, prime = self.ref_and_kernel(z)
        tol = 1e-15 if dtype == "float64" else 1e-6
        np.testing.assert_allclose(out, ref, rtol=0, atol=tol)
        np.testing.assert_allclose(prime, ref_prime, rtol=0, atol=tol)


def test_feedforward_parallel_matches_serial(mnist):
    (X, _), _, _ = mnist
    net = fastnn.Network([784, 30, 10], seed=2)
    X = X[: 101 if fastnn._config.JIT_DISABLED else 1001]  # uncompiled (coverage), fewer rows
    serial = np.empty((len(X), 10))
    parallel = np.empty((len(X), 10))
    kernels.feedforward((net.params, net.layers), X, serial)
    for chunks in (1, 3, 8):
        kernels.feedforward_parallel((net.params, net.layers), X, parallel, chunks)
        np.testing.assert_array_equal(parallel, serial)


SPLIT_SMALL = 16  # min_block that splits these small layers (the default waits for 512 units)


def _wide_problem(sizes, dtype, n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, sizes[0])).astype(dtype)
    X[X < 0.6] = 0  # sparse, like MNIST
    Y = one_hot(rng.integers(0, sizes[-1], n), sizes[-1], dtype)
    return X, Y, rng.permutation(n)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "sizes",
    [[30, 200, 10], [20, 300, 150, 10], [40, 130], [784, 30, 10], [20, 24, 10]],
    ids=["one-wide-hidden", "two-wide-hidden", "no-hidden", "hidden-32", "too-narrow-to-split"],
)
@pytest.mark.parametrize("m", [1, 2, 7])
def test_parallel_epoch_equals_serial_bit_for_bit(sizes, dtype, m):
    """Threads own whole units, so 1, 2 or 3 blocks give the serial kernel's numbers exactly.

    Two blocks on Numba's threads run at the same time where the machine has two cores;
    three blocks on two threads give one thread two blocks.
    """
    X, Y, perm = _wide_problem(sizes, dtype)
    net = fastnn.Network(sizes, seed=1, dtype=dtype)
    data, indices, indptr = kernels.csr(X)
    inputs = (data, indices, indptr, Y)
    want = net.params.copy()
    want_cost = kernels.sgd_epoch((want, net.layers), inputs, perm, m, 3.0, CHAPTER_1)
    assert not np.array_equal(want, net.params)
    for n_threads in (1, 2, 3):
        got = net.params.copy()
        cost = kernels.sgd_epoch_parallel((got, net.layers), inputs, perm, m, 3.0, CHAPTER_1, n_threads, SPLIT_SMALL)
        np.testing.assert_array_equal(got, want, err_msg=f"{n_threads} threads")
        assert cost == want_cost


@pytest.mark.parametrize("dtype", ["float64", pytest.param("float32", marks=pytest.mark.slow)])  # slow: 2 compiles
@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy"])
@pytest.mark.parametrize("m", [1, 3, 10, 50])
def test_first_layer_in_pixel_blocks_equals_the_epoch_bit_for_bit(dtype, cost, m):
    """Values and byte codes, blocks of 1, 5 and all 30 pixels, a last batch shorter than m
    (47 samples), and an m beyond the samples: the same parameters and cost as row by row."""
    sizes = [30, 40, 9, 10]
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, size=(47, sizes[0]), dtype=np.uint8)
    pixels[rng.random(pixels.shape) < 0.7] = 0
    labels = rng.integers(0, 10, 47)
    perm = rng.permutation(47)
    net = fastnn.Network(sizes, seed=2, dtype=dtype, cost=cost)
    objective = net._objective()
    as_bytes = net.prepare(fastnn.Dataset(pixels, labels)).inputs
    as_values = net.prepare((pixels / np.float64(255), labels)).inputs
    for inputs in (as_bytes, as_values):
        def epoch(pb, inputs=inputs):
            params = net.params.copy()
            if len(inputs) == 5:
                cost_sum = kernels.sgd_epoch_bytes((params, net.layers), inputs[:4], inputs[4], perm, m, 0.5, objective,
                                                   pixels_per_block=pb)
            else:
                cost_sum = kernels.sgd_epoch((params, net.layers), inputs, perm, m, 0.5, objective, pixels_per_block=pb)
            return params, cost_sum

        want, want_cost = epoch(0)
        assert not np.array_equal(want, net.params)
        for pb in (1, 5, 30):
            got, got_cost = epoch(pb)
            np.testing.assert_array_equal(got, want, err_msg=f"{len(inputs)}-bundle, {pb} pixels per block")
            assert got_cost == want_cost


def test_wide_first_layers_are_walked_in_pixel_blocks():
    """kernels.sgd.blocked_pixels: from BLOCKED_FROM bytes of w.T, without weight decay only."""
    wide, narrow = fastnn.Network([784, 1000, 10]), fastnn.Network([784, 30, 10], dtype="float32")
    assert kernels.blocked_pixels(wide.layers, wide.dtype, CHAPTER_1) == 256 * 1024 // (1000 * 8)
    assert kernels.blocked_pixels(wide.layers, "float32", CHAPTER_1) == 256 * 1024 // (1008 * 4)
    assert kernels.blocked_pixels(wide.layers, wide.dtype, (kernels.QUADRATIC, 0.999)) == 0  # L2
    assert kernels.blocked_pixels(narrow.layers, narrow.dtype, CHAPTER_1) == 0
    assert wide._blocked() and not wide._blocked(eta=0.5, lmbda=5.0, n=50_000) and not narrow._blocked()
    X, Y, perm = _wide_problem([784, 30, 10], "float32")
    with pytest.raises(ValueError, match=r"pixels_per_block=8 needs no weight decay, got decay 0\.99"):
        kernels.sgd_epoch((narrow.params.copy(), narrow.layers), (*kernels.csr(X), Y), perm, 10, 0.5,
                          (kernels.QUADRATIC, 0.99), pixels_per_block=8)


def test_sgd_of_a_wide_network_trains_as_row_by_row(monkeypatch):
    """Network.SGD picks the blocked epoch by itself (784-700-10: 4.4 MB of float64 w.T)."""
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, size=(60, 784), dtype=np.uint8)
    pixels[rng.random(pixels.shape) < 0.8] = 0
    data = fastnn.Dataset(pixels, rng.integers(0, 10, 60))
    calls = []
    real = sgd._sgd_epoch_bytes_blocked

    def spy(*args):
        calls.append(args[-1])
        return real(*args)

    monkeypatch.setattr(sgd, "_sgd_epoch_bytes_blocked", spy)
    blocked = fastnn.Network([784, 700, 10], seed=4)
    blocked.SGD(data, 2, 7, 0.5, verbose=False)
    assert calls[-2:] == [256 * 1024 // (704 * 8)] * 2  # the two epochs (after compile_kernels' call, if any)
    n_calls = len(calls)
    monkeypatch.setattr(sgd, "BLOCKED_FROM", 1 << 40)  # row by row
    row_by_row = fastnn.Network([784, 700, 10], seed=4)
    row_by_row.SGD(data, 2, 7, 0.5, verbose=False)
    assert len(calls) == n_calls
    np.testing.assert_array_equal(blocked.params, row_by_row.params)


@pytest.mark.parametrize("min_block", [16, 64, parallel.MIN_BLOCK[8]])
def test_parallel_blocks_partition_each_layer(min_block):
    """Blocks tile [0, ld) in order, cut at multiples of 16, and narrow layers stay whole."""
    for ld in (8, 32, 104, 128, 200, 512, 1000, 1008):
        for n_threads in (1, 2, 3, 4, 16):
            nb = kernels.n_blocks(ld, n_threads, min_block)
            assert 1 <= nb <= n_threads and (nb == 1 or ld // nb >= min_block)
            assert nb > 1 or n_threads == 1 or ld < 2 * min_block
            cuts = [kernels.block(ld, nb, b) for b in range(nb)]
            assert cuts[0][0] == 0 and cuts[-1][1] == ld
            assert all(c1 == next_c0 for (_, c1), (next_c0, _) in zip(cuts, cuts[1:]))
            assert all(c0 % 16 == 0 and c1 > c0 for c0, c1 in cuts)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_workspace_rows_start_on_cache_lines(dtype):
    net = fastnn.Network([784, 30, 10], dtype=dtype)
    for m in (1, 3, 10):
        act, delta = kernels.workspace(net.layers, m, net.dtype)
        for a in (act, delta):
            assert a.shape == (m, _layout.scratch_width(net.layers)) and a.flags.c_contiguous and not a.any()
            assert a.ctypes.data % 64 == 0 and a.strides[0] % 64 == 0


def test_csr():
    X = np.array([[0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, -0.0]])
    data, indices, indptr = kernels.csr(X)
    np.testing.assert_array_equal(data, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(indices, [1, 3, 0])
    np.testing.assert_array_equal(indptr, [0, 2, 2, 3])


def test_denormal_flushing_is_scoped_to_the_kernel():
    """FTZ/DAZ is set inside the training kernels and the caller's MXCSR restored after."""
    from fastnn import _config

    probe = _config.jit(lambda: _cpu.get_mxcsr())
    before = probe()
    net = fastnn.Network([4, 3, 2], seed=0, dtype="float32")
    X = np.full((4, 4), 0.5, dtype=np.float32)
    Y = np.zeros((4, 2), dtype=np.float32)
    net.SGD((X, Y), 1, 1, 3.0, verbose=False)
    assert probe() == before
    assert np.float32(1e-30) * np.float32(1e-10) > 0  # gradual underflow still on out here


class TestExp:
    """The vectorisable exp of the sigmoid against libm's (through NumPy) and IEEE edge cases."""

    @staticmethod
    def exp(x):
        return _exp_loop(x)

    def test_within_one_ulp_of_numpy_over_the_range(self):
        rng = np.random.default_rng(0)
        n = 10_000 if fastnn._config.JIT_DISABLED else 100_000  # uncompiled (coverage), fewer points
        x = -np.concatenate([rng.uniform(0, 746, 2 * n), rng.uniform(0, 1, n), 10.0 ** rng.uniform(-300, 0, 1000)])
        got, want = self.exp(x), np.exp(x)
        ulps = np.abs(got - want) / np.spacing(np.maximum(want, 5e-324))
        assert ulps.max() <= 1.0

    def test_edges(self):
        x = np.array([0.0, -0.0, -1e-300, -708.0, -745.0, -745.2, -746.0, -1000.0, -np.inf, np.nan])
        got = self.exp(x)
        assert got[0] == got[1] == got[2] == 1.0
        assert abs(got[3] - np.exp(-708.0)) <= np.spacing(np.exp(-708.0))  # near the smallest normal
        assert got[4] == np.exp(-745.0) == 5e-324  # the smallest subnormal
        assert got[5] == np.exp(-745.2) and np.all(got[6:9] == 0.0)
        assert np.isnan(got[9])


def _exp_loop(x):
    @numba.njit
    def run(x, out):
        for i in range(x.shape[0]):
            out[i] = sgd.exp_nonpositive(x[i])

    out = np.empty_like(x)
    run(x, out)
    return out


def _row_wrappers(ops):
    """Compiled callers of the row operations ``ops`` (an intrinsic runs only when compiled)."""

    @numba.njit
    def gemv_sparse(w, w_off, ld, n, data, indices, k0, k1, a, a_off):
        ops.gemv_sparse(w, w_off, ld, n, data, indices, k0, k1, a, a_off)

    @numba.njit
    def gemv_dense(w, w_off, ld, n, x, x_off, k0, k1, a, a_off):
        ops.gemv_dense(w, w_off, ld, n, x, x_off, k0, k1, a, a_off)

    @numba.njit
    def ger_sparse(w, w_off, ld, n, data, indices, k0, k1, scale, d, d_off):
        ops.ger_sparse(w, w_off, ld, n, data, indices, k0, k1, scale, d, d_off)

    @numba.njit
    def ger_dense(w, w_off, ld, n, x, x_off, k0, k1, scale, d, d_off):
        ops.ger_dense(w, w_off, ld, n, x, x_off, k0, k1, scale, d, d_off)

    @numba.njit
    def dot_rows(w, w_off, ld, n, d, d_off, out, out_off):
        ops.dot_rows(w, w_off, ld, n, d, d_off, out, out_off)

    return gemv_sparse, gemv_dense, ger_sparse, ger_dense, dot_rows


#: The row operations the training kernels were compiled with (FASTNN_ROW_KERNELS).
_gemv_sparse, _gemv_dense, _ger_sparse, _ger_dense, _dot_rows = _row_wrappers(sgd)


class TestRowKernels:
    """The vector row kernels against NumPy, on row lengths that use every column block.

    Each call works at offsets inside larger buffers, as the training kernels do, and
    must leave everything outside its target untouched.
    """

    LDS = [1, 7, 8, 13, 16, 32, 40, 56, 64, 72, 104, 136, 184, 250]  # every remainder pass

    def setup(self, dtype, ld, n_in=20, seed=0):
        rng = np.random.default_rng(seed)
        w = rng.standard_normal(5 + n_in * ld).astype(dtype)  # w.T starts at offset 5
        x = rng.standard_normal((n_in, 3)).astype(dtype)
        x[rng.random(x.shape) < 0.5] = 0
        data, indices, indptr = kernels.csr(np.ascontiguousarray(x.T))
        return rng, w, x, (data, indices, indptr)

    @staticmethod
    def tol(dtype):
        return {"rtol": 1e-12, "atol": 1e-12} if dtype == "float64" else {"rtol": 2e-5, "atol": 2e-5}

    @pytest.mark.parametrize("dtype", ["float64", "float32"])
    @pytest.mark.parametrize("ld", LDS)
    def test_gemv(self, dtype, ld):
        rng, w, x, (data, indices, indptr) = self.setup(dtype, ld)
        wt = w[5:].reshape(-1, ld)
        a = rng.standard_normal((2, 3 + ld + 4)).astype(dtype)  # target: a[1, 3:3+ld]
        for sample in range(3):
            want = a.copy()
            want[1, 3 : 3 + ld] += x[:, sample] @ wt
            got = a.copy()
            _gemv_sparse(w, 5, ld, ld, data, indices, indptr[sample], indptr[sample + 1], got, got.shape[1] + 3)
            np.testing.assert_allclose(got, want, **self.tol(dtype))
            outside = np.arange(3, 3 + ld) + a.shape[1]  # every element but the target's
            np.testing.assert_array_equal(np.delete(got.ravel(), outside), np.delete(a.ravel(), outside))
            got = a.copy()
            xs = np.concatenate([[9.0], x[:, sample]]).astype(dtype)  # x starts at offset 1
            _gemv_dense(w, 5, ld, ld, xs, 1, 0, x.shape[0], got, got.shape[1] + 3)
            np.testing.assert_allclose(got, want, **self.tol(dtype))

    @pytest.mark.parametrize("dtype", ["float64", "float32"])
    @pytest.mark.parametrize("ld", LDS)
    def test_ger(self, dtype, ld):
        rng, w, x, (data, indices, indptr) = self.setup(dtype, ld)
        d = rng.standard_normal(2 + ld).astype(dtype)  # delta at offset 2
        scale = np.dtype(dtype).type(-0.375)
        for sample in range(3):
            want = w.copy()
            want[5:].reshape(-1, ld)[...] += scale * np.outer(x[:, sample], d[2:])
            got = w.copy()
            _ger_sparse(got, 5, ld, ld, data, indices, indptr[sample], indptr[sample + 1], scale, d, 2)
            np.testing.assert_allclose(got, want, **self.tol(dtype))
            assert np.array_equal(got[:5], w[:5])
            untouched = x[:, sample] == 0  # zero inputs skip their rows: bit for bit unchanged
            assert np.array_equal(got[5:].reshape(-1, ld)[untouched], w[5:].reshape(-1, ld)[untouched])
            got = w.copy()
            _ger_dense(got, 5, ld, ld, np.ascontiguousarray(x[:, sample]), 0, 0, x.shape[0], scale, d, 2)
            np.testing.assert_allclose(got, want, **self.tol(dtype))

    @pytest.mark.parametrize("dtype", ["float64", "float32"])
    @pytest.mark.parametrize("ld", [40, 104, 200, 264])
    def test_column_blocks_equal_the_whole_row_bit_for_bit(self, dtype, ld):
        """Columns [0, c) and [c, ld) computed apart equal the whole row computed at once:
        each column's arithmetic is its own, as the parallel epoch relies on."""
        rng, w, x, (data, indices, indptr) = self.setup(dtype, ld)
        d = rng.standard_normal(ld).astype(dtype)
        scale = np.dtype(dtype).type(-0.375)
        k0, k1 = indptr[1], indptr[2]
        for c in (16, ld // 2 // 8 * 8, ld - 8):
            whole = np.zeros((1, ld), dtype)
            _gemv_sparse(w, 5, ld, ld, data, indices, k0, k1, whole, 0)
            parts = np.zeros((1, ld), dtype)
            _gemv_sparse(w, 5, ld, c, data, indices, k0, k1, parts, 0)
            _gemv_sparse(w, 5 + c, ld, ld - c, data, indices, k0, k1, parts, c)
            np.testing.assert_array_equal(parts, whole)
            whole, parts = w.copy(), w.copy()
            _ger_sparse(whole, 5, ld, ld, data, indices, k0, k1, scale, d, 0)
            _ger_sparse(parts, 5, ld, c, data, indices, k0, k1, scale, d, 0)
            _ger_sparse(parts, 5 + c, ld, ld - c, data, indices, k0, k1, scale, d, c)
            np.testing.assert_array_equal(parts, whole)
            xs = np.ascontiguousarray(x[:, 1])
            whole, parts = w.copy(), w.copy()
            _ger_dense(whole, 5, ld, ld, xs, 0, 3, 11, scale, d, 0)
            _ger_dense(parts, 5, ld, c, xs, 0, 3, 11, scale, d, 0)
            _ger_dense(parts, 5 + c, ld, ld - c, xs, 0, 3, 11, scale, d, c)
            np.testing.assert_array_equal(parts, whole)

    @pytest.mark.parametrize("dtype", ["float64", "float32"])
    @pytest.mark.parametrize("ld", LDS)
    def test_dot_rows(self, dtype, ld):
        rng, w, _, _ = self.setup(dtype, ld)
        d = rng.standard_normal(ld + 1).astype(dtype)  # delta at offset 1
        out = np.full(30, 7.0, dtype)
        _dot_rows(w, 5, ld, 20, d, 1, out, 4)
        want = out.copy()
        want[4:24] = w[5:].reshape(-1, ld) @ d[1:]
        np.testing.assert_allclose(out, want, **self.tol(dtype))


@pytest.fixture(scope="module")
def row_ops():
    """``(fast, loops)``: the row operations the kernels run and the loops of rows, once per module.

    Compiled, the fast ones are the vector code of _llvm; under NUMBA_DISABLE_JIT, the
    NumPy slices that rows puts in the loops' place. (A module-level fixture: pytest 9
    deprecates class-scoped fixtures written as methods.)
    """
    if fastnn._config.JIT_DISABLED:
        return _row_wrappers(rows), _row_wrappers(rows.loops)
    return _row_wrappers(_llvm), _row_wrappers(rows)


class TestRowKernelsAgreeWithTheirLoops:
    """The vector code of fastnn.kernels._llvm (compiled) or the NumPy slices of
    fastnn.kernels.rows (NUMBA_DISABLE_JIT) against their specification, the loops of
    fastnn.kernels.rows, on the same operands (whichever FASTNN_ROW_KERNELS the training
    kernels use). The slices do each element's sum in the loops' order: bit for bit."""

    LDS = TestRowKernels.LDS

    @pytest.mark.parametrize("dtype", ["float64", "float32"])
    @pytest.mark.parametrize("ld", LDS)
    def test_every_operation(self, row_ops, dtype, ld):
        fast, loops = row_ops
        rng, w, x, (data, indices, indptr) = TestRowKernels().setup(dtype, ld, seed=ld)
        tol = TestRowKernels.tol(dtype)
        d = rng.standard_normal(2 + ld).astype(dtype)
        scale = np.dtype(dtype).type(-0.375)
        xs = np.ascontiguousarray(x[:, 1])
        k0, k1 = indptr[1], indptr[2]
        n = max(1, ld - 3)  # a column block short of the row
        results = []
        for gemv_sparse, gemv_dense, ger_sparse, ger_dense, dot_rows in (fast, loops):
            a = np.zeros((2, ld + 3), dtype)
            gemv_sparse(w, 5, ld, ld, data, indices, k0, k1, a, 1)
            gemv_dense(w, 5 + 1, ld, n, xs, 0, 2, 9, a, ld + 3)
            w1 = w.copy()
            ger_sparse(w1, 5, ld, ld, data, indices, k0, k1, scale, d, 2)
            ger_dense(w1, 5 + 2, ld, n, xs, 0, 0, 12, scale, d, 1)
            out = np.full(23, 7.0, dtype)
            dot_rows(w, 5, ld, 20, d, 2, out, 3)
            results.append((a, w1, out))
        for got, want in zip(*results):
            if fastnn._config.JIT_DISABLED:
                np.testing.assert_array_equal(got, want)
            else:
                np.testing.assert_allclose(got, want, **tol)
        assert np.array_equal(results[0][1][:5], w[:5]) and np.array_equal(results[1][1][:5], w[:5])
