"""ONNX export of a :class:`fastnn.Network`: one Gemm and one Sigmoid per layer.

The graph computes the book's feedforward, ``a' = sigmoid(w a + b)`` (Nielsen Chapter 1,
Eq. 4), on a batch: input ``X`` of shape ``(n_samples, sizes[0])``, output ``output`` of
shape ``(n_samples, sizes[-1])``. Layer ``l`` is ``Gemm(a, W_l, b_l, transB=1)`` with
``W_l`` the book's ``(sizes[l+1], sizes[l])`` weights, then ``Sigmoid``. Operator set
:data:`OPSET` of the default ONNX domain (Gemm-13, Sigmoid-13), IR version
:data:`IR_VERSION`, so runtimes back to onnxruntime 1.8 read it.

Needs ``onnx``: ``pip install "fastnn[onnx]"`` (which also installs onnxruntime to run it).
"""

from pathlib import Path

import numpy as np

from fastnn import validation
from fastnn._io import atomic_write
from fastnn._version import __version__

__all__ = ["to_onnx", "OPSET", "IR_VERSION"]

#: The ONNX operator set the graph is written for (Gemm and Sigmoid as of opset 13).
OPSET = 13
#: The ONNX IR version written (7 is the lowest that carries opset 13).
IR_VERSION = 7
_ELEM = {np.dtype(np.float32): "FLOAT", np.dtype(np.float64): "DOUBLE"}


def _onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(f'ONNX export needs the onnx package ({exc}): pip install "fastnn[onnx]"') from exc
    return onnx


def to_onnx(net, path=None, *, dtype="float32"):
    """The network as an ONNX model, written to ``path`` if given.

    Parameters
    ----------
    net : fastnn.Network
    path : str or os.PathLike, optional
        Where to write the model (conventionally ``.onnx``), atomically.
    dtype : {'float32', 'float64'}, default 'float32'
        Element type of the graph's input, parameters and output. float32 is what most
        runtimes and accelerators serve; its outputs equal ``net.feedforward`` to float32
        rounding. 'float64' keeps a float64 network's parameters exactly.

    Returns
    -------
    onnx.ModelProto
        Checked by ``onnx.checker.check_model``.

    Raises
    ------
    TypeError
        ``net`` is not a Network.
    ValueError
        ``dtype`` is not float32 or float64.
    ImportError
        onnx is not installed.

    Examples
    --------
    >>> import fastnn
    >>> net = fastnn.Network([784, 30, 10], seed=0)
    >>> model = net.to_onnx("digits.onnx")  # doctest: +SKIP
    >>> [node.op_type for node in fastnn.onnx.to_onnx(net).graph.node]
    ['Gemm', 'Sigmoid', 'Gemm', 'Sigmoid']
    """
    # Duck-typed: fastnn.network imports this module for Network.to_onnx.
    if not all(hasattr(net, name) for name in ("sizes", "weights", "biases", "dtype", "num_layers")):
        raise TypeError(f"net must be a fastnn.Network, got {type(net).__name__}")
    dt = validation.check_dtype(dtype)
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    elem = getattr(TensorProto, _ELEM[dt])
    nodes, initializers = [], []
    a = "X"
    for l, (w, b) in enumerate(zip(net.weights, net.biases)):
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(w, dtype=dt), name=f"weights_{l}"))
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(b, dtype=dt), name=f"biases_{l}"))
        z, out = f"z_{l}", ("output" if l == net.num_layers - 2 else f"a_{l + 1}")
        nodes.append(
            helper.make_node("Gemm", [a, f"weights_{l}", f"biases_{l}"], [z], name=f"layer_{l}_gemm", transB=1)
        )
        nodes.append(helper.make_node("Sigmoid", [z], [out], name=f"layer_{l}_sigmoid"))
        a = out
    sizes = "-".join(map(str, net.sizes))
    graph = helper.make_graph(
        nodes,
        f"fastnn_{sizes.replace('-', '_')}",
        [helper.make_tensor_value_info("X", elem, ["n_samples", net.sizes[0]])],
        [helper.make_tensor_value_info("output", elem, ["n_samples", net.sizes[-1]])],
        initializer=initializers,
        doc_string=f"A {sizes} network of sigmoid neurons (Nielsen, Neural Networks and Deep Learning, ch. 1)",
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="fastnn",
        producer_version=__version__,
    )
    helper.set_model_props(model, {"sizes": sizes, "source_dtype": net.dtype.name})
    onnx.checker.check_model(model)
    if path is not None:
        with atomic_write(Path(path)) as (f, _):
            f.write(model.SerializeToString())
    return model
