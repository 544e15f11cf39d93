"""The parameter layout: one table of every layer's place in the flat buffers.

A network with ``sizes = (n_0, ..., n_L)`` keeps every weight and bias in one
C-contiguous 1-D buffer ``params`` (its gradients use the same layout). Weight layer
``l`` (``0 <= l < L``) is row ``l`` of the int64 table :func:`layer_table`:

``W_OFF``
    Start of the layer's weight matrix, stored transposed: row-major of shape
    ``(n_in, ld)``, row ``i`` holding the weights leaving input ``i``. The book's
    ``w[j, i]`` (shape ``(n_out, n_in)``) is ``params[w_off + i*ld + j]``.
``B_OFF``
    Start of the bias vector, ``ld`` entries of which the first ``n_out`` are used.
``N_IN``, ``N_OUT``
    ``sizes[l]`` and ``sizes[l + 1]``.
``LD``
    The row stride: ``n_out`` rounded up to a multiple of ``row_align`` elements, so the
    kernels' inner loops over a layer's outputs run whole SIMD vectors (30 outputs are
    stored as 32). Padding entries are zero and stay zero.
``A_OFF``
    Start of the layer's outputs in a scratch row: a kernel's per-sample rows of
    activations and errors hold layers ``1..L`` back to back, layer ``l + 1`` in
    ``[a_off, a_off + ld)``; the layer's inputs (for ``l > 0``) are the previous
    layer's block.

Storing ``w.T`` makes the work of the first layer proportional to the number of
non-zero inputs: a zero pixel (81 % of MNIST) skips a whole row in the forward pass and
in the weight update. The same table is read by the kernels, by
:class:`fastnn.Network` (its ``weights`` and ``biases`` are views built from it), by the
benchmarks' implementations and by the tests.
"""

import numpy as np

__all__ = [
    "ALIGN", "W_OFF", "B_OFF", "N_IN", "N_OUT", "LD", "A_OFF",
    "layer_table", "n_params", "scratch_width", "views", "aligned_copy", "aligned_zeros",
]

#: Bytes: one cache line, one 512-bit vector. Parameter buffers and the kernels' scratch
#: rows start on such a boundary.
ALIGN = 64

#: Columns of :func:`layer_table`.
W_OFF, B_OFF, N_IN, N_OUT, LD, A_OFF = range(6)


def layer_table(sizes, row_align):
    """The layer table of a network, shape ``(len(sizes) - 1, 6)``, int64.

    Parameters
    ----------
    sizes : sequence of int
        Units per layer, the input layer first (the book's ``sizes``).
    row_align : int
        Rows are padded to a multiple of this many elements (``FASTNN_ROW_ALIGN``).

    Examples
    --------
    >>> layer_table([784, 30, 10], 8)
    array([[    0, 25088,   784,    30,    32,     0],
           [25120, 25600,    30,    10,    16,    32]])

    The first layer's 30 outputs take rows of 32; the second layer reads the first 30 of
    them (its ``w.T`` has 30 rows of 16) and writes its outputs from column 32 on.
    """
    n_layers = len(sizes) - 1
    table = np.zeros((n_layers, 6), dtype=np.int64)
    w_off = a_off = 0
    for l in range(n_layers):
        n_in, n_out = int(sizes[l]), int(sizes[l + 1])
        ld = -(-n_out // row_align) * row_align
        table[l] = (w_off, w_off + n_in * ld, n_in, n_out, ld, a_off)
        w_off += n_in * ld + ld
        a_off += ld
    return table


def n_params(layers):
    """Length of the parameter buffer of the table ``layers`` (padding included)."""
    return int(layers[-1, B_OFF] + layers[-1, LD])


def scratch_width(layers):
    """Length of a scratch row: every layer's padded outputs, back to back."""
    return int(layers[-1, A_OFF] + layers[-1, LD])


def views(buf, layers):
    """``(weights, biases)`` of ``buf`` in the book's shapes, as views.

    ``weights[l]`` has shape ``(n_out, n_in)`` (a transposed view of the stored rows),
    ``biases[l]`` shape ``(n_out,)``.
    """
    weights, biases = [], []
    for w_off, b_off, n_in, n_out, ld, _ in layers.tolist():
        weights.append(buf[w_off:b_off].reshape(n_in, ld)[:, :n_out].T)
        biases.append(buf[b_off : b_off + n_out])
    return weights, biases


def aligned_copy(a):
    """A 1-D copy of ``a`` whose first element starts a 64-byte cache line.

    The kernels load whole 512-bit vectors from the parameter buffer; NumPy aligns to
    16 bytes only, and an unaligned buffer made an epoch 12-38 % slower on this
    project's machine (each vector load touched two cache lines).
    """
    a = np.asarray(a)
    out = aligned_zeros(a.size, a.dtype)
    out[:] = a.reshape(-1)
    return out


def aligned_zeros(shape, dtype):
    """Zeros of ``shape`` and ``dtype``, C-contiguous, whose first element starts a cache line.

    The kernels' scratch rows, and the buffer of :func:`aligned_copy`.
    """
    dtype = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64))
    pad = ALIGN // dtype.itemsize
    buf = np.zeros(size + pad, dtype)
    start = (-buf.ctypes.data) % ALIGN // dtype.itemsize
    return buf[start : start + size].reshape(shape)
