"""Saving and loading networks: fastnn's ``.npz`` model format.

A model file is a NumPy ``.npz`` archive (no pickle) holding

``format_version``
    int64 scalar, :data:`FORMAT_VERSION`;
``sizes``
    int64 array, the layer sizes, input first;
``dtype``
    string scalar, ``'float64'`` or ``'float32'``;
``weights_<l>``, ``biases_<l>``
    for each layer ``l``, the book's shapes ``(sizes[l+1], sizes[l])`` and ``(sizes[l+1],)``;
``rng_state`` (optional)
    string scalar: the network generator's ``bit_generator.state`` as JSON text, so a
    loaded network shuffles its next epochs exactly as the saved one would have. Files
    written before it existed load with a fresh generator (the format version is the same:
    older readers ignore the entry).

:meth:`fastnn.Network.save` writes it with :func:`save`; :func:`fastnn.load` reads it with
:func:`read_model` and builds the network. Files are written atomically
(:func:`fastnn._io.atomic_write`).

network2.py's JSON format
-------------------------
The book's Chapter 3 code (``src/network2.py``) saves networks as JSON, and
:func:`save_json` / :func:`read_json` write and read the same layout::

    {"sizes": [784, 30, 10],
     "weights": [w.tolist() for w in self.weights],   # w of shape (sizes[l+1], sizes[l])
     "biases": [b.tolist() for b in self.biases],     # b a column, shape (sizes[l+1], 1)
     "cost": "CrossEntropyCost"}                       # or "QuadraticCost": the class name

JSON floats are written with ``repr``, the shortest text that reads back to the same
float64, so a round trip is exact. Reading is bounded for untrusted files: the size is
checked before parsing (:data:`MAX_JSON_BYTES`) and the declared ``sizes`` against every
array before anything is allocated from them.

Examples
--------
>>> import tempfile, pathlib
>>> import numpy as np
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = save_arrays(pathlib.Path(tmp) / "net.npz", (2, 1), "float64", [np.ones((1, 2))], [np.zeros(1)])
...     sizes, dtype, weights, biases = read(path)
>>> sizes, dtype.name, weights[0].tolist()
((2, 1), 'float64', [[1.0, 1.0]])
"""

import collections
import json
import math
import os
from pathlib import Path

import numpy as np

from fastnn import validation
from fastnn._io import NpzReader, atomic_write

__all__ = [
    "FORMAT_VERSION",
    "MAX_MODEL_BYTES",
    "ModelFileError",
    "CostWarning",
    "Model",
    "read",
    "read_model",
    "save",
    "save_arrays",
    "generator_from_state",
    "COSTS",
    "MAX_JSON_BYTES",
    "read_json",
    "save_json",
]

#: Version of the ``.npz`` layout written by :func:`save`.
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file that :func:`fastnn.load` cannot read: truncated, corrupt or not fastnn's."""


class CostWarning(UserWarning):
    """A network2 file trained with a cost other than the one fastnn's SGD trains."""


#: What :func:`read_model` returns; ``generator`` is None for files without ``rng_state``.
Model = collections.namedtuple("Model", ["sizes", "dtype", "weights", "biases", "generator"])


def save_arrays(path, sizes, dtype, weights, biases, rng_state=None):
    """Write a model file from its parts, atomically; see the module docstring for the format.

    Parameters
    ----------
    path : str or os.PathLike
        Used as given (no suffix is added).
    sizes : sequence of int
    dtype : {'float64', 'float32'}
    weights, biases : sequence of ndarray
        The book's shapes, one per layer.
    rng_state : dict, optional
        A ``bit_generator.state``, stored as JSON text in ``rng_state``.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    arrays = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "sizes": np.array(sizes, dtype=np.int64),
        "dtype": np.array(np.dtype(dtype).name),
    }
    if rng_state is not None:
        arrays["rng_state"] = np.array(json.dumps(rng_state))
    for l, (w, b) in enumerate(zip(weights, biases, strict=True)):
        arrays[f"weights_{l}"] = np.ascontiguousarray(w)
        arrays[f"biases_{l}"] = np.ascontiguousarray(b)
    with atomic_write(path) as (f, _):
        np.savez(f, **arrays)
    return path


def save(net, path, generator=None):
    """Write ``net`` (a :class:`fastnn.Network`) to ``path``; see :meth:`fastnn.Network.save`.

    ``generator`` (the network's ``numpy.random.Generator``) is saved as ``rng_state``.
    """
    state = None if generator is None else generator.bit_generator.state
    return save_arrays(path, net.sizes, net.dtype, net.weights, net.biases, state)


#: The bit generators whose state :func:`generator_from_state` restores: NumPy's own, by
#: name; no other class is ever looked up from a file.
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def generator_from_state(text, path="<state>"):
    """A ``numpy.random.Generator`` from the JSON text of a ``bit_generator.state``.

    Raises
    ------
    ModelFileError
        Not JSON, not a state, or a bit generator other than NumPy's (named in the message).
    """
    try:
        state = json.loads(text)
        name = state["bit_generator"]
        if name not in _BIT_GENERATORS:
            raise ValueError(f"unknown bit generator {name!r} (known: {', '.join(_BIT_GENERATORS)})")
        bit_generator = getattr(np.random, name)()
        bit_generator.state = state
    except Exception as exc:  # json, KeyError, TypeError, ValueError from the state setter
        raise ModelFileError(
            f"{path}: entry 'rng_state' is not a generator state ({type(exc).__name__}: {exc})"
        ) from exc
    return np.random.Generator(bit_generator)


def read(path):
    """Read and check a model file: ``(sizes, dtype, weights, biases)``; see :func:`read_model`."""
    return tuple(read_model(path)[:4])


#: The largest model :func:`read_model` accepts: 2**31 bytes of parameters (268 million float64s).
MAX_MODEL_BYTES = 1 << 31

_HEADER_MEMBERS = ("format_version", "sizes", "dtype")
_RNG_STATE_BYTES = 1 << 16  # a generator state as JSON text: a few hundred characters
_HEADER_MEMBER_BYTES = 4096  # each header member is a scalar or a short vector


def _model_member(name):
    if name in _HEADER_MEMBERS or name == "rng_state":
        return True
    kind, _, index = name.partition("_")
    return kind in ("weights", "biases") and index.isdigit() and len(index) <= 6


def read_model(path):
    """Read and check a model file: a :data:`Model` ``(sizes, dtype, weights, biases, generator)``.

    The file is untrusted input, read at a cost bounded by what it holds: its zip
    directory and ``.npy`` headers are checked first (:class:`fastnn._io.NpzReader`) --
    only the members a model has, each declaring no more bytes than its compressed data
    can hold and the file is long, each shape the one ``sizes`` implies, at most
    :data:`MAX_MODEL_BYTES` in all -- and only then is any array read. A 2 KB file
    cannot ask for 12 GiB, and no member is inflated before it has passed those checks.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    sizes : tuple of int
    dtype : numpy.dtype
    weights, biases : list of ndarray
        Finite floating arrays of the book's shapes for ``sizes``.
    generator : numpy.random.Generator or None
        From ``rng_state``; None for files written without it.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        The file is truncated, corrupt, not an ``.npz``, holds object arrays (pickle is
        never used), unknown members, shapes that disagree with ``sizes`` or with the
        bytes present, non-finite parameters (named by layer and index), or is not a
        fastnn model of a known format version.
    """
    path = Path(path)
    with NpzReader(path, allowed=_model_member, max_member_bytes=MAX_MODEL_BYTES, error=ModelFileError) as npz:
        members = npz.members
        if "format_version" not in members:
            raise ModelFileError(f"{path}: not a fastnn model file (no 'format_version' entry)")
        if npz.unknown:
            raise ModelFileError(f"{path}: unknown entries {npz.unknown} in a fastnn model file; not read")
        for key in _HEADER_MEMBERS:
            if key not in members:
                raise ModelFileError(f"{path}: missing entry {key!r}")
            if members[key].nbytes > _HEADER_MEMBER_BYTES:
                raise ModelFileError(
                    f"{path}: entry {key!r} of shape {members[key].shape} is too large for a header entry"
                )
        try:
            version = int(npz.read("format_version"))
            sizes_array = npz.read("sizes")
            if sizes_array.ndim != 1 or sizes_array.dtype.kind not in "iu":
                raise ValueError(
                    f"'sizes' must be a vector of integers, got shape {sizes_array.shape} of {sizes_array.dtype}"
                )
            sizes = [int(n) for n in sizes_array]
            dtype = str(npz.read("dtype"))
        except ModelFileError:
            raise
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: malformed fastnn model file ({exc})") from exc
        if version != FORMAT_VERSION:
            raise ModelFileError(
                f"{path}: format version {version} is not supported (this fastnn reads {FORMAT_VERSION})"
            )
        try:
            sizes = validation.check_sizes(sizes)
            dtype = validation.check_dtype(dtype)
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: invalid model header: {exc}") from exc
        # Every member's shape against sizes, before any is read or the network allocated.
        expected = {}
        for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            expected[f"weights_{l}"] = (n_out, n_in)
            expected[f"biases_{l}"] = (n_out,)
        for key, shape in expected.items():
            if key not in members:
                raise ModelFileError(f"{path}: missing entry {key!r}")
            member = members[key]
            if member.shape != shape or member.dtype.kind != "f":
                raise ModelFileError(
                    f"{path}: entry {key!r} has shape {member.shape} and dtype {member.dtype}, "
                    f"expected shape {shape} floating"
                )
        extra = sorted(set(members) - set(expected) - set(_HEADER_MEMBERS) - {"rng_state"})
        if extra:
            raise ModelFileError(f"{path}: entries {extra} do not belong to a network of sizes {list(sizes)}; not read")
        n_params = sum(math.prod(shape) for shape in expected.values())
        if n_params * dtype.itemsize > MAX_MODEL_BYTES:
            raise ModelFileError(
                f"{path}: sizes {list(sizes)} hold {n_params} parameters, more than the limit of "
                f"{MAX_MODEL_BYTES} bytes (MAX_MODEL_BYTES)"
            )
        weights, biases = [], []
        for l in range(len(sizes) - 1):
            for key, out in ((f"weights_{l}", weights), (f"biases_{l}", biases)):
                value = npz.read(key)
                bad = ~np.isfinite(value)
                if bad.any():
                    index = tuple(int(i) for i in np.argwhere(bad)[0])
                    raise ModelFileError(
                        f"{path}: entry {key!r} holds non-finite values (layer {l}, first at index "
                        f"{index}: {value[index]})"
                    )
                out.append(value)
        generator = None
        if "rng_state" in members:
            entry = members["rng_state"]
            if entry.shape != () or entry.dtype.kind != "U" or entry.nbytes > _RNG_STATE_BYTES:
                raise ModelFileError(
                    f"{path}: entry 'rng_state' is not a generator state (expected one string, got an "
                    f"array of shape {entry.shape} and dtype {entry.dtype})"
                )
            generator = generator_from_state(str(npz.read("rng_state")), path)
    return Model(sizes, dtype, weights, biases, generator)


# --------------------------------------------------------------------------- network2 JSON

#: The costs network2.py names, by class name.
COSTS = ("QuadraticCost", "CrossEntropyCost")
#: Largest JSON model file :func:`read_json` parses (bytes), checked before parsing: an
#: untrusted file cannot make the parser hold more. A 784-100-10 network2 file is ~1.6 MB.
MAX_JSON_BYTES = 256 * 2**20


def save_json(path, sizes, weights, biases, cost="QuadraticCost"):
    """Write network2.py's JSON layout (see the module docstring), atomically.

    Parameters
    ----------
    path : str or os.PathLike
    sizes : sequence of int
    weights, biases : sequence of ndarray
        The book's shapes; biases are written as network2's column vectors, values as float64.
    cost : {'QuadraticCost', 'CrossEntropyCost'}, default 'QuadraticCost'

    Returns
    -------
    pathlib.Path
    """
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {', '.join(COSTS)}, got {cost!r}")
    data = {
        "sizes": [int(n) for n in sizes],
        "weights": [np.asarray(w, dtype=np.float64).tolist() for w in weights],
        "biases": [np.asarray(b, dtype=np.float64).reshape(-1, 1).tolist() for b in biases],
        "cost": cost,
    }
    path = Path(path)
    text = json.dumps(data)
    with atomic_write(path) as (f, _):
        f.write(text.encode())
    return path


def _json_array(value, what, shape, path):
    try:
        arr = np.array(value)
    except (ValueError, TypeError) as exc:  # ragged lists
        raise ModelFileError(f"{path}: {what} is not a rectangular array of numbers ({exc})") from None
    if arr.dtype.kind not in "iuf":
        raise ModelFileError(f"{path}: {what} must hold numbers, got {arr.dtype.kind!r} values ({arr.dtype})")
    if arr.shape != shape:
        raise ModelFileError(f"{path}: {what} has shape {arr.shape}, sizes declare {shape}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ModelFileError(f"{path}: {what} holds non-finite values")
    return arr


def read_json(path):
    """Read network2.py's JSON model file: ``(sizes, weights, biases, cost)``.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    sizes : tuple of int
    weights, biases : list of ndarray
        float64, the book's shapes (biases flattened to ``(sizes[l+1],)``).
    cost : str
        ``'QuadraticCost'`` or ``'CrossEntropyCost'`` (``'QuadraticCost'`` when absent).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        Larger than :data:`MAX_JSON_BYTES`, not UTF-8 JSON, too deeply nested, or not
        network2's layout; the message names the entry and the rule.
    """
    path = Path(path)
    size = os.stat(path).st_size
    if size > MAX_JSON_BYTES:
        raise ModelFileError(
            f"{path}: {size:,} bytes is more than the {MAX_JSON_BYTES:,} a network2 JSON model file "
            "may have here (fastnn.persistence.MAX_JSON_BYTES)"
        )
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"{path}: not a readable network2 JSON file ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: a network2 JSON file holds an object, got {type(data).__name__}")
    missing = [key for key in ("sizes", "weights", "biases") if key not in data]
    if missing:
        raise ModelFileError(f"{path}: not a network2 model file (no {', '.join(repr(k) for k in missing)})")
    sizes, weights, biases = data["sizes"], data["weights"], data["biases"]
    if not (isinstance(sizes, list) and len(sizes) >= 2 and all(type(n) is int and n >= 1 for n in sizes)):
        raise ModelFileError(f"{path}: 'sizes' must be a list of at least two integers >= 1, got {str(sizes)[:100]}")
    cost = data.get("cost", "QuadraticCost")
    if cost not in COSTS:
        raise ModelFileError(f"{path}: 'cost' must be one of {', '.join(COSTS)}, got {str(cost)[:100]!r}")
    for key, value in (("weights", weights), ("biases", biases)):
        if not isinstance(value, list) or len(value) != len(sizes) - 1:
            raise ModelFileError(
                f"{path}: {key!r} must be a list of {len(sizes) - 1} arrays, one per layer of sizes {sizes}"
            )
    weights_out, biases_out = [], []
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        weights_out.append(_json_array(weights[l], f"weights[{l}]", (n_out, n_in), path))
        b = biases[l]
        shape = (n_out,) if isinstance(b, list) and b and not isinstance(b[0], list) else (n_out, 1)
        biases_out.append(_json_array(b, f"biases[{l}]", shape, path).reshape(-1))
    return tuple(sizes), weights_out, biases_out, cost
