"""Saving and loading networks: fastnn's ``.npz`` model format.

A model file is a NumPy ``.npz`` archive (no pickle) holding

``format_version``
    int64 scalar, :data:`FORMAT_VERSION`;
``sizes``
    int64 array, the layer sizes, input first;
``dtype``
    string scalar, ``'float64'`` or ``'float32'``;
``weights_<l>``, ``biases_<l>``
    for each layer ``l``, the book's shapes ``(sizes[l+1], sizes[l])`` and ``(sizes[l+1],)``.

:meth:`fastnn.Network.save` writes it with :func:`save`; :func:`fastnn.load` reads it with
:func:`read` and builds the network. Files are written atomically
(:func:`fastnn._io.atomic_write`).

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

import math
from pathlib import Path

import numpy as np

from fastnn import validation
from fastnn._io import NpzReader, atomic_write

__all__ = ["FORMAT_VERSION", "MAX_MODEL_BYTES", "ModelFileError", "read", "save", "save_arrays"]

#: Version of the ``.npz`` layout written by :func:`save`.
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file that :func:`fastnn.load` cannot read: truncated, corrupt or not fastnn's."""


def save_arrays(path, sizes, dtype, weights, biases):
    """Write a model file from its parts, atomically; see the module docstring for the format.

    Parameters
    ----------
    path : str or os.PathLike
        Used as given (no suffix is added).
    sizes : sequence of int
    dtype : {'float64', 'float32'}
    weights, biases : sequence of ndarray
        The book's shapes, one per layer.

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
    for l, (w, b) in enumerate(zip(weights, biases, strict=True)):
        arrays[f"weights_{l}"] = np.ascontiguousarray(w)
        arrays[f"biases_{l}"] = np.ascontiguousarray(b)
    with atomic_write(path) as (f, _):
        np.savez(f, **arrays)
    return path


def save(net, path):
    """Write ``net`` (a :class:`fastnn.Network`) to ``path``; see :meth:`fastnn.Network.save`."""
    return save_arrays(path, net.sizes, net.dtype, net.weights, net.biases)


#: The largest model :func:`read` accepts: 2**31 bytes of parameters (268 million float64s).
MAX_MODEL_BYTES = 1 << 31

_HEADER_MEMBERS = ("format_version", "sizes", "dtype")
_HEADER_MEMBER_BYTES = 4096  # each header member is a scalar or a short vector


def _model_member(name):
    if name in _HEADER_MEMBERS:
        return True
    kind, _, index = name.partition("_")
    return kind in ("weights", "biases") and index.isdigit() and len(index) <= 6


def read(path):
    """Read and check a model file: ``(sizes, dtype, weights, biases)``.

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
        extra = sorted(set(members) - set(expected) - set(_HEADER_MEMBERS))
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
    return sizes, dtype, weights, biases
