"""network2.py's JSON model files, read and written (moves into persistence.py with the layout).

The format, as the book's ``src/network2.py`` writes it in ``Network.save``::

    {"sizes": [784, 30, 10],
     "weights": [w.tolist() for w in self.weights],   # w of shape (sizes[l+1], sizes[l])
     "biases": [b.tolist() for b in self.biases],     # b a column, shape (sizes[l+1], 1)
     "cost": "CrossEntropyCost"}                       # or "QuadraticCost": the class name

and ``network2.load`` reads it back. JSON floats are written with ``repr``, the shortest
text that reads back to the same float64, so a round trip is exact.
"""

import json
import os
import warnings
from pathlib import Path

import numpy as np

from fastnn._io import atomic_write

#: The costs network2.py names, by class name.
COSTS = ("QuadraticCost", "CrossEntropyCost")
#: Largest JSON model file read (bytes): checked before parsing, so an untrusted file cannot
#: make the parser hold more. A 784-100-10 network2 file is about 1.6 MB.
MAX_JSON_BYTES = 256 * 2**20


class CostWarning(UserWarning):
    """A network2 file trained with a cost this network does not train with."""


def write_json(net, path):
    """Write ``net`` in network2.py's JSON format, atomically. See :meth:`Network.save`."""
    cost = getattr(net, "cost_name", "QuadraticCost")  # Chapter 1's cost unless the network says otherwise
    data = {
        "sizes": [int(n) for n in net.sizes],
        "weights": [np.asarray(w, dtype=np.float64).tolist() for w in net.weights],
        "biases": [np.asarray(b, dtype=np.float64).reshape(-1, 1).tolist() for b in net.biases],
        "cost": cost,
    }
    text = json.dumps(data)
    with atomic_write(path) as (f, _):
        f.write(text.encode())
    return Path(path)


def _array(value, what, shape, path, error):
    try:
        arr = np.array(value)
    except (ValueError, TypeError) as exc:  # ragged lists
        raise error(f"{path}: {what} is not a rectangular array of numbers ({exc})") from None
    if arr.dtype.kind not in "iuf":
        raise error(f"{path}: {what} must hold numbers, got {arr.dtype.kind!r} values ({arr.dtype})")
    if arr.shape != shape:
        raise error(f"{path}: {what} has shape {arr.shape}, sizes declare {shape}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise error(f"{path}: {what} holds non-finite values")
    return arr


def read_json(path, network_class, error):
    """A network from network2.py's JSON file; ``error`` is the exception class to raise.

    Files are size-checked before parsing (:data:`MAX_JSON_BYTES`), then the declared
    ``sizes`` are checked against every array's shape before a network is allocated.
    """
    path = Path(path)
    size = os.stat(path).st_size  # FileNotFoundError as for .npz files
    if size > MAX_JSON_BYTES:
        raise error(
            f"{path}: {size:,} bytes is more than the {MAX_JSON_BYTES:,} a network2 JSON model file "
            "may have here (fastnn._network2.MAX_JSON_BYTES)"
        )
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise error(f"{path}: not a readable network2 JSON file ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: a network2 JSON file holds an object, got {type(data).__name__}")
    missing = [key for key in ("sizes", "weights", "biases") if key not in data]
    if missing:
        raise error(f"{path}: not a network2 model file (no {', '.join(repr(k) for k in missing)})")
    sizes, weights, biases = data["sizes"], data["weights"], data["biases"]
    if not (isinstance(sizes, list) and len(sizes) >= 2 and all(type(n) is int and n >= 1 for n in sizes)):
        raise error(f"{path}: 'sizes' must be a list of at least two integers >= 1, got {str(sizes)[:100]}")
    cost = data.get("cost", "QuadraticCost")
    if cost not in COSTS:
        raise error(f"{path}: 'cost' must be one of {', '.join(COSTS)}, got {str(cost)[:100]!r}")
    for key, value in (("weights", weights), ("biases", biases)):
        if not isinstance(value, list) or len(value) != len(sizes) - 1:
            raise error(f"{path}: {key!r} must be a list of {len(sizes) - 1} arrays, one per layer of sizes {sizes}")
    arrays = []
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = _array(weights[l], f"weights[{l}]", (n_out, n_in), path, error)
        b = biases[l]
        shape = (n_out,) if isinstance(b, list) and b and not isinstance(b[0], list) else (n_out, 1)
        b = _array(b, f"biases[{l}]", shape, path, error).reshape(-1)
        arrays.append((w, b))
    net = network_class(sizes, dtype="float64")
    for (w, b), w_view, b_view in zip(arrays, net.weights, net.biases):
        w_view[...] = w
        b_view[...] = b
    if cost != "QuadraticCost":
        warnings.warn(
            f"{path} was trained by network2.py with its {cost}; fastnn trains Chapter 1's quadratic "
            "cost, so feedforward and evaluate are exact but further SGD follows the quadratic cost",
            CostWarning,
            stacklevel=3,
        )
    return net
