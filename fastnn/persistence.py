"""Saving and loading networks: fastnn's ``.npz`` model format.

A model file is a NumPy ``.npz`` archive (no pickle) holding

``format_version``
    int64 scalar, :data:`FORMAT_VERSION`;
``sizes``
    int64 array, the layer sizes, input first;
``dtype``
    string scalar, ``'float64'`` or ``'float32'``;
``cost``, ``init``
    string scalars, the network's options (``'quadratic'`` or ``'cross-entropy'``;
    ``'normal'`` or ``'scaled'``); since version 2. Version 1 files (without them) are
    read as Chapter 1's ``'quadratic'`` and ``'normal'``;
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

from pathlib import Path

import numpy as np

from fastnn import validation
from fastnn._io import atomic_write

__all__ = ["FORMAT_VERSION", "ModelFileError", "read", "read_network", "save", "save_arrays"]

#: Version of the ``.npz`` layout written by :func:`save` (2: ``cost`` and ``init`` added).
FORMAT_VERSION = 2
#: Versions :func:`read` accepts.
READABLE_VERSIONS = (1, 2)
#: Chapter 1's options, those of a version 1 file.
DEFAULT_OPTIONS = {"cost": "quadratic", "init": "normal"}


class ModelFileError(ValueError):
    """A model file that :func:`fastnn.load` cannot read: truncated, corrupt or not fastnn's."""


def save_arrays(path, sizes, dtype, weights, biases, *, cost="quadratic", init="normal"):
    """Write a model file from its parts, atomically; see the module docstring for the format.

    Parameters
    ----------
    path : str or os.PathLike
        Used as given (no suffix is added).
    sizes : sequence of int
    dtype : {'float64', 'float32'}
    weights, biases : sequence of ndarray
        The book's shapes, one per layer.
    cost, init : str, default 'quadratic', 'normal'
        The network's options (:class:`fastnn.Network`).

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    arrays = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "sizes": np.array(sizes, dtype=np.int64),
        "dtype": np.array(np.dtype(dtype).name),
        "cost": np.array(str(cost)),
        "init": np.array(str(init)),
    }
    for l, (w, b) in enumerate(zip(weights, biases, strict=True)):
        arrays[f"weights_{l}"] = np.ascontiguousarray(w)
        arrays[f"biases_{l}"] = np.ascontiguousarray(b)
    with atomic_write(path) as (f, _):
        np.savez(f, **arrays)
    return path


def save(net, path):
    """Write ``net`` (a :class:`fastnn.Network`) to ``path``; see :meth:`fastnn.Network.save`."""
    return save_arrays(path, net.sizes, net.dtype, net.weights, net.biases, cost=net.cost_name, init=net.init)


def read(path):
    """Read and check a model file: ``(sizes, dtype, weights, biases)``; see :func:`read_network`."""
    return read_network(path)[:4]


def read_network(path):
    """Read and check a model file: ``(sizes, dtype, weights, biases, options)``.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    sizes : tuple of int
    dtype : numpy.dtype
    weights, biases : list of ndarray
        Finite floating arrays of the book's shapes for ``sizes``.
    options : dict
        ``{"cost": ..., "init": ...}``, keyword arguments of :class:`fastnn.Network`.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        The file is truncated, corrupt, not an ``.npz``, holds object arrays (pickle is
        never used), or is not a fastnn model of a known format version.
    """
    path = Path(path)
    with open(path, "rb") as f:  # our handle: np.load leaks its own when parsing fails
        try:
            npz = np.load(f, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ModelFileError(f"{path}: a single .npy array, not a fastnn model (.npz archive)")
            with npz:
                arrays = {key: npz[key] for key in npz.files}
        except ModelFileError:
            raise
        except Exception as exc:  # zipfile, zlib and numpy raise many kinds on corrupt input
            cause = f"{type(exc).__name__}: {exc}"
            if "pickle" in str(exc):
                cause = "it holds pickled Python objects, which fastnn never loads"
            raise ModelFileError(f"{path}: not a readable fastnn model file ({cause})") from exc
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):
            raise ModelFileError(f"{path}: entry {key!r} is not a NumPy array")
    if "format_version" not in arrays:
        raise ModelFileError(f"{path}: not a fastnn model file (no 'format_version' entry)")
    try:
        version = int(arrays["format_version"])
        sizes = [int(n) for n in np.asarray(arrays["sizes"]).reshape(-1)]
        dtype = str(arrays["dtype"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: malformed fastnn model file ({exc})") from exc
    if version not in READABLE_VERSIONS:
        raise ModelFileError(
            f"{path}: format version {version} is not supported (this fastnn reads "
            f"{', '.join(map(str, READABLE_VERSIONS))})"
        )
    options = dict(DEFAULT_OPTIONS)
    if version >= 2:
        for key, choices in (("cost", ("quadratic", "cross-entropy")), ("init", ("normal", "scaled"))):
            if key not in arrays:
                raise ModelFileError(f"{path}: missing entry {key!r}")
            value = str(arrays[key])
            if value not in choices:
                raise ModelFileError(f"{path}: invalid model header: {key} must be one of {list(choices)}, got {value!r}")
            options[key] = value
    try:
        sizes = validation.check_sizes(sizes)
        dtype = validation.check_dtype(dtype)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: invalid model header: {exc}") from exc
    weights, biases = [], []
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        for key, shape, out in ((f"weights_{l}", (n_out, n_in), weights), (f"biases_{l}", (n_out,), biases)):
            if key not in arrays:
                raise ModelFileError(f"{path}: missing entry {key!r}")
            value = arrays[key]
            if value.shape != shape or not np.issubdtype(value.dtype, np.floating):
                raise ModelFileError(
                    f"{path}: entry {key!r} has shape {value.shape} and dtype {value.dtype}, "
                    f"expected shape {shape} floating"
                )
            if not np.isfinite(value).all():
                raise ModelFileError(f"{path}: entry {key!r} holds non-finite values")
            out.append(value)
    return sizes, dtype, weights, biases, options
