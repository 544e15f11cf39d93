"""The parameters after one epoch, pinned bit for bit (sha256 of the parameter buffer).

Refactoring the kernels must not change a single bit of what they compute: these
hashes were taken before the kernels moved into ``fastnn/kernels/`` and must keep
matching, for the serial kernel and for the parallel kernel with its layers split over
two threads (which equals the serial kernel bit for bit by design). The data are small
and synthetic (seeded, 81 % zeros like MNIST) so the 32 epochs take well under a second.

The hashes hold for the default compile settings on x86-64 with FMA; other settings
(``FASTNN_FASTMATH``, ``FASTNN_FLUSH_DENORMALS``, ``FASTNN_ROW_ALIGN``, the row loops,
``NUMBA_DISABLE_JIT``) compute other, equally valid, low bits, and skip.
"""

import hashlib
import os
import platform

import numpy as np
import pytest

import fastnn
from fastnn import kernels
from fastnn.bench.implementations import IMPLEMENTATIONS

SIZES = {
    "20-30-10": [20, 30, 10], "20-100-10": [20, 100, 10], "20-250-10": [20, 250, 10], "20-60-30-10": [20, 60, 30, 10],
}

# Taken on the code of commit d659bd4 (fastnn/_kernels.py, before the kernels/ package).
PINNED = {
    ("20-30-10", 1, "float64"): "0db3731617ff9d13ef2d8dfed56ff7caeba03acc033280e8fa7a1d37470f156c",
    ("20-30-10", 1, "float32"): "8247e4192db7a621162cf41583369b8378eff34d99a645d2412d4f54a3a5f62d",
    ("20-30-10", 10, "float64"): "c7001dbc7aea5f703c6719d623e1a08b922b156d2a43214e2bcbaa2c5d685f99",
    ("20-30-10", 10, "float32"): "c6b46b448e46911d1abac6e378e11dc632cc90260d4ae8b6cd387b1dbdc7cf63",
    ("20-100-10", 1, "float64"): "a6cfa3ab79793419a954a597d525b41c294a4453ef8edc122166a2df09c9fe73",
    ("20-100-10", 1, "float32"): "2e2c0db32bfd7f20f9ecf66db72798a5e81d7c53abccafcc69a3e3e4674cb19a",
    ("20-100-10", 10, "float64"): "f2322a90298fc94ee0bbbe574ee15352a3c6ec1b1be8ded885f16d3f90b6dd13",
    ("20-100-10", 10, "float32"): "141800a93c6471623055e7b3994a78e39f682da736c226affc6e4888322fca9f",
    ("20-250-10", 1, "float64"): "2eb2fe8915ccf09ad1c513b6dd7f53842e4076149f21d938103fc29222956d1a",
    ("20-250-10", 1, "float32"): "60ee02010a3ebcded531384b479745fb2bdc43429dc3be376c305c71efd5d747",
    ("20-250-10", 10, "float64"): "a6580c3b0c9ed132c1636b74c25013084f2bb0b8f0749d811df42ff91bc17872",
    ("20-250-10", 10, "float32"): "251e6021bc04b85d0c2ceaa7780f5a5e9b9bcc171fdfc45d2a351096c1e45472",
    ("20-60-30-10", 1, "float64"): "20e29f93cf360a5ff02702f758bf1fe7ad3cef925d1a368b0ee4d79a6b1b7bd2",
    ("20-60-30-10", 1, "float32"): "1c0728863c4902cf2edc7b9190a9caef424c50d2bccfd203909e4d990e6ffbe2",
    ("20-60-30-10", 10, "float64"): "3114d88a49ef1365e7281b9215175ac9bbd742582a986834bf4f3f1493109ba2",
    ("20-60-30-10", 10, "float32"): "ac0aea52b718a2ae49f9868e280bd7d9914ab1205f0dbef011aaf6a9e4aa1038",
}

_SETTINGS = ("FASTNN_FASTMATH", "FASTNN_FLUSH_DENORMALS", "FASTNN_ROW_ALIGN", "FASTNN_ROW_KERNELS", "NUMBA_DISABLE_JIT")
pytestmark = pytest.mark.skipif(
    any(os.environ.get(name) for name in _SETTINGS) or platform.machine().lower() not in {"x86_64", "amd64"},
    reason="the pinned bits are those of the default settings on x86-64",
)


def problem(n_in, n_out, dtype, n=300, seed=1234):
    """``(X, Y, perm)``: uint8-like pixels / 255, about 80 % zeros, one-hot targets."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(1, 256, size=(n, n_in))
    pixels[rng.random((n, n_in)) < 0.8] = 0
    X = (pixels / 255.0).astype(dtype)
    Y = np.zeros((n, n_out), dtype=dtype)
    Y[np.arange(n), rng.integers(0, n_out, n)] = 1
    return X, Y, rng.permutation(n)


def epoch_hash(impl, name, m, dtype):
    sizes = SIZES[name]
    X, Y, perm = problem(sizes[0], sizes[-1], dtype)
    net = fastnn.Network(sizes, seed=7, dtype=dtype)
    run = impl(net)
    run.epoch(X, Y, perm, m, 3.0)
    assert not np.array_equal(run.params, net.params)  # the epoch did train
    return hashlib.sha256(np.ascontiguousarray(run.params).tobytes()).hexdigest()


CASES = [(name, m, dtype) for name in SIZES for m in (1, 10) for dtype in ("float64", "float32")]


@pytest.mark.parametrize(("name", "m", "dtype"), CASES)
def test_serial_epoch_is_bit_for_bit_pinned(name, m, dtype):
    assert epoch_hash(IMPLEMENTATIONS["numba"], name, m, dtype) == PINNED[name, m, dtype]


@pytest.mark.parametrize(("name", "m", "dtype"), CASES)
def test_split_parallel_epoch_is_bit_for_bit_pinned(name, m, dtype):
    """Two threads, blocks of 16 columns: every hidden layer here is split."""

    def split(net):
        return IMPLEMENTATIONS["numba-parallel"](net, n_threads=2, min_block=16)

    assert epoch_hash(split, name, m, dtype) == PINNED[name, m, dtype]


# float32's blocked epoch is one more kernel to compile (10 s): run with the slow tests.
BLOCKED_CASES = [pytest.param(*case, marks=pytest.mark.slow) if case[2] == "float32" else case for case in CASES]


@pytest.mark.parametrize("pixels_per_block", [1, 3, 64])
@pytest.mark.parametrize(("name", "m", "dtype"), BLOCKED_CASES)
def test_first_layer_in_pixel_blocks_is_bit_for_bit_pinned(name, m, dtype, pixels_per_block):
    """The epoch of wide first layers (kernels.sgd.blocked_pixels), forced on these small ones:
    blocks of 1 and 3 of the 20 pixels, and one block of all of them."""
    sizes = SIZES[name]
    X, Y, perm = problem(sizes[0], sizes[-1], dtype)
    net = fastnn.Network(sizes, seed=7, dtype=dtype)
    params = net.params.copy()
    kernels.sgd_epoch((params, net.layers), (*kernels.csr(X), Y), perm, m, 3.0, (kernels.QUADRATIC, 1.0),
                      pixels_per_block=pixels_per_block)
    assert hashlib.sha256(params.tobytes()).hexdigest() == PINNED[name, m, dtype]
