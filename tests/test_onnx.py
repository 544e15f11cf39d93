"""ONNX export, checked by onnxruntime against feedforward."""

import numpy as np
import pytest

import fastnn

onnx = pytest.importorskip("onnx", reason='fastnn[onnx] is not installed: pip install "fastnn[onnx]"')
ort = pytest.importorskip("onnxruntime", reason='fastnn[onnx] is not installed: pip install "fastnn[onnx]"')

from fastnn.onnx import OPSET, to_onnx  # noqa: E402


def run(path_or_model, X):
    source = path_or_model if isinstance(path_or_model, str) else path_or_model.SerializeToString()
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    [out] = session.run(["output"], {"X": X})
    return out


@pytest.mark.parametrize("net_dtype", ["float64", "float32"])
@pytest.mark.parametrize("sizes", [[784, 30, 10], [5, 1], [3, 8, 6, 2]])
def test_onnxruntime_equals_feedforward_to_float32_rounding(tmp_path, sizes, net_dtype):
    net = fastnn.Network(sizes, seed=1, dtype=net_dtype)
    rng = np.random.default_rng(0)
    net.SGD((rng.random((60, sizes[0])), rng.integers(0, sizes[-1], 60)), 1, 10, 3.0, verbose=False)
    X = rng.random((50, sizes[0]))
    path = tmp_path / "net.onnx"
    model = net.to_onnx(path)
    assert path.read_bytes() == model.SerializeToString()
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
    assert [n.op_type for n in model.graph.node] == ["Gemm", "Sigmoid"] * (len(sizes) - 1)
    out = run(str(path), X.astype(np.float32))
    assert out.dtype == np.float32 and out.shape == (50, sizes[-1])
    # float32 rounding of parameters, inputs and each layer's arithmetic: a few ulps of 1.
    np.testing.assert_allclose(out, net.feedforward(X), rtol=0, atol=2e-6)


def test_float64_export_is_exact_to_float64_rounding():
    net = fastnn.Network([20, 7, 3], seed=2)
    X = np.random.default_rng(1).random((40, 20))
    out = run(to_onnx(net, dtype="float64"), X)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, net.feedforward(X), rtol=1e-13, atol=0)


def test_metadata_and_names():
    model = to_onnx(fastnn.Network([4, 3, 2], seed=0, dtype="float32"))
    props = {p.key: p.value for p in model.metadata_props}
    assert props == {"sizes": "4-3-2", "source_dtype": "float32"}
    assert model.producer_name == "fastnn"
    assert [i.name for i in model.graph.input] == ["X"] and [o.name for o in model.graph.output] == ["output"]


def test_bad_arguments():
    with pytest.raises(TypeError, match=r"net must be a fastnn\.Network"):
        to_onnx("not a network")
    with pytest.raises(ValueError, match="dtype must be"):
        to_onnx(fastnn.Network([2, 2]), dtype="float16")
