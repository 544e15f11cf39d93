"""network2 JSON model files from an untrusted source: only ModelFileError, bounded memory.

The property test draws JSON documents that look like network2.py's ``save`` output but lie:
``sizes`` declaring huge layers beside small arrays, ragged or mis-shaped lists, strings and
booleans where numbers belong, missing keys, unknown costs. Loading must either give a
network equal to the arrays in the file or raise :class:`fastnn.ModelFileError` naming the
file, and the peak allocation (tracemalloc) must stay a multiple of the file's size: a
declared size never makes fastnn allocate what the file does not hold.
"""

import json
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastnn
from fastnn.persistence import ModelFileError

huge = st.sampled_from([10**5, 10**7, 2**31 - 1, 2**40])
numbers = st.one_of(st.floats(-4, 4), st.integers(-3, 3))
bad_values = st.one_of(st.text(max_size=3), st.booleans(), st.none(), st.just(float("nan")))


def matrix(rows, cols, value):
    return [[value for _ in range(cols)] for _ in range(rows)]


@st.composite
def network2_documents(draw):
    real = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4))
    value = draw(numbers)
    doc = {
        "sizes": list(real),
        "weights": [matrix(n_out, n_in, value) for n_in, n_out in zip(real[:-1], real[1:])],
        "biases": [matrix(n_out, 1, value) for n_out in real[1:]],
        "cost": draw(st.sampled_from(["QuadraticCost", "CrossEntropyCost"])),
    }
    for _ in range(draw(st.integers(0, 3))):  # lies
        lie = draw(st.sampled_from(["huge size", "ragged", "bad value", "drop key", "bad cost", "extra layer"]))
        if lie == "huge size" and "sizes" in doc:
            doc["sizes"][draw(st.integers(0, len(real) - 1))] = draw(huge)
        elif lie == "ragged" and doc.get("weights") and doc["weights"][0]:
            doc["weights"][0][0] = doc["weights"][0][0] + [value]
        elif lie == "bad value" and doc.get("biases"):
            doc["biases"][-1][0] = [draw(bad_values)]
        elif lie == "drop key":
            doc.pop(draw(st.sampled_from(sorted(doc))), None)
        elif lie == "bad cost":
            doc["cost"] = draw(st.one_of(st.text(max_size=5), st.integers()))
        elif lie == "extra layer" and "sizes" in doc:
            doc["sizes"] = [*doc["sizes"], draw(st.one_of(st.integers(1, 3), huge))]
    return json.dumps(doc, allow_nan=True)


# network2's CrossEntropyCost is read with a warning until fastnn trains that cost itself.
@pytest.mark.filterwarnings("ignore:.*CrossEntropyCost")
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=network2_documents())
def test_json_of_random_headers_raises_only_model_file_error_within_a_memory_bound(text, tmp_path):
    path = tmp_path / "net.json"
    path.write_text(text)
    # json's Python lists of floats (~32 bytes a number) and a small network: a few MiB
    # fixed plus a multiple of the file's size, never anything a declared size asks for.
    bound = (4 << 20) + 64 * len(text)
    tracemalloc.start()
    try:
        net = fastnn.load(path)
    except ModelFileError as exc:
        assert str(exc).startswith(f"{path}: ")
        net = None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak <= bound, f"load allocated {peak} bytes, bound {bound}"
    if net is not None:
        doc = json.loads(text)
        assert list(net.sizes) == doc["sizes"]
        for w, b, w_doc, b_doc in zip(net.weights, net.biases, doc["weights"], doc["biases"]):
            np.testing.assert_array_equal(w, np.asarray(w_doc, dtype=net.dtype))
            np.testing.assert_array_equal(b, np.asarray(b_doc, dtype=net.dtype).reshape(-1))
