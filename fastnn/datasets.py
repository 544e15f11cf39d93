"""Loading MNIST and Fashion-MNIST: IDX parsing, lookup, verified download.

The public loaders return the split used in Chapter 1 of Nielsen's *Neural
Networks and Deep Learning*: ``(train, validation, test)``, each a pair
``(X, y)`` with ``X`` of shape ``(n_samples, 784)`` holding pixels scaled to
[0, 1] and ``y`` the int64 labels 0-9.

Every file is checked twice: its IDX header must agree with its length, and the
SHA-256 of its decompressed content must equal the published one (the
constants :data:`MNIST_SHA256` and :data:`FASHION_MNIST_SHA256`), so a wrong,
truncated or corrupt file is never used silently.

Where the files are looked for, in order (the first directory holding a file
wins, per file):

1. ``data_dir``, when given -- and then nowhere else;
2. ``$FASTNN_DATA`` (MNIST: the directory itself or its ``mnist/`` subdirectory;
   Fashion-MNIST: its ``fashion-mnist/`` subdirectory);
3. the cache, ``$FASTNN_DATA_CACHE/<dataset>`` or, when that is unset,
   ``platformdirs.user_cache_dir("fastnn")/<dataset>``;
4. Fashion-MNIST only: Debian's ``/usr/share/datasets/fashion-mnist``
   (package ``dataset-fashion-mnist``);
5. a download into the cache from the mirrors (:data:`MNIST_MIRRORS`,
   :data:`FASHION_MNIST_MIRRORS`, or ``$FASTNN_MIRRORS``).

Each file may be stored gzip-compressed (``train-images-idx3-ubyte.gz``) or not
(``train-images-idx3-ubyte``); compression is recognised by the gzip header
bytes, not by the name.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import math
import os
import pickle
import struct
import sys
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import platformdirs
from tqdm import tqdm

from fastnn._config import setting
from fastnn._io import atomic_write
from fastnn.data import Dataset
from fastnn.validation import check_dtype

__all__ = [
    "DataError",
    "DataNotFoundError",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist_pickle",
    "read_idx",
]

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- constants

#: SHA-256 of the *decompressed* MNIST IDX files (stable across re-compression;
#: from ``data/mnist/SHA256SUMS``).
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: SHA-256 of the *decompressed* Fashion-MNIST IDX files (upstream and Debian
#: differ only in the gzip header).
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

#: Base URLs serving the canonical MNIST ``*.gz`` files: the bucket torchvision
#: uses, then the one TensorFlow Datasets uses (LeCun's own site answers 403).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: Base URL serving the Fashion-MNIST ``*.gz`` files (Zalando's bucket).
FASHION_MNIST_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

#: Where Debian's ``dataset-fashion-mnist`` package installs the files.
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


_TRAIN_IMAGES = "train-images-idx3-ubyte"
_TRAIN_LABELS = "train-labels-idx1-ubyte"
_TEST_IMAGES = "t10k-images-idx3-ubyte"
_TEST_LABELS = "t10k-labels-idx1-ubyte"
_FILES = (_TRAIN_IMAGES, _TRAIN_LABELS, _TEST_IMAGES, _TEST_LABELS)
_NDIM = {_TRAIN_IMAGES: 3, _TRAIN_LABELS: 1, _TEST_IMAGES: 3, _TEST_LABELS: 1}

_DATASETS = {
    "mnist": {
        "title": "MNIST",
        "sha256": MNIST_SHA256,
        "mirrors": MNIST_MIRRORS,
        "debian": None,
        "env_subdirs": ("", "mnist"),
    },
    "fashion-mnist": {
        "title": "Fashion-MNIST",
        "sha256": FASHION_MNIST_SHA256,
        "mirrors": FASHION_MNIST_MIRRORS,
        "debian": DEBIAN_FASHION_MNIST_DIR,
        "env_subdirs": ("fashion-mnist",),
    },
}

_N_TRAIN_FILE = 60000  # images in the training file, split into training + validation
_GZIP_MAGIC = b"\x1f\x8b"
# IDX type codes (LeCun's MNIST page), to name what a rejected file holds.
_IDX_TYPES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "short (2 bytes)",
    0x0C: "int (4 bytes)",
    0x0D: "float (4 bytes)",
    0x0E: "double (8 bytes)",
}
_CHUNK = 1 << 20

#: The largest IDX data :func:`read_idx` reads by default, in bytes (1 GiB; MNIST's
#: largest file holds 47,040,000). Declared dimensions beyond it are refused before
#: anything is allocated or inflated.
MAX_IDX_BYTES = 1 << 30

#: The most content the book's pickle may decompress to, in bytes (it holds about 220 MB).
MAX_PICKLE_BYTES = 1 << 30

# Deflate's largest expansion: one 258-byte match coded in about 2 bits (zlib's
# technical notes, "Maximum compression factor": 1032:1). A gzip file of n bytes
# cannot hold more than 1032 n bytes of content, whatever its header claims.
_DEFLATE_MAX_RATIO = 1032

# Data bytes of each file (the same for MNIST and Fashion-MNIST): the dimensions
# 60000 x 28 x 28, 60000, 10000 x 28 x 28 and 10000. A header declaring more is refused
# before the file is inflated, a download serving more is cut off.
_DATA_BYTES = {
    "train-images-idx3-ubyte": 60000 * 28 * 28,
    "train-labels-idx1-ubyte": 60000,
    "t10k-images-idx3-ubyte": 10000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 10000,
}


# --------------------------------------------------------------------------- exceptions


class DataError(ValueError):
    """A data file is missing, unreadable, malformed or not the expected file.

    Raised by every function of :mod:`fastnn.datasets` for any problem with a
    data file; the message names the file (or URL) and the cause. Subclass of
    :class:`ValueError`.
    """


class DataNotFoundError(DataError, FileNotFoundError):
    """A data file could not be found or downloaded.

    The message lists every place looked, each mirror tried with its error, and
    how to supply the files by hand. Subclass of both :class:`DataError` and
    :class:`FileNotFoundError`, so either ``except`` clause catches it.
    """


def _fail(path, cause, exc_type=DataError):
    return exc_type(f"{os.fspath(path)}: {cause}")


# --------------------------------------------------------------------------- IDX parsing


def _magic(ndim):
    return 0x00000800 | ndim


def _describe_magic(value):
    return f"0x{value:08X} ({value})"


def _open(path, where):
    try:
        f = open(path, "rb")  # closed by _Reader.__exit__
        size = os.fstat(f.fileno()).st_size
    except FileNotFoundError as exc:
        raise _fail(where, "no such file", DataNotFoundError) from exc
    except OSError as exc:
        raise _fail(where, f"cannot read the file: {exc.strerror or exc}") from exc
    return f, size


class _Reader:
    """Reads a file's content, decompressing it if it starts with the gzip magic 1f 8b.

    Never more than asked: a gzip stream is inflated only as far as ``read(n)`` goes,
    so a decompression bomb costs what the caller decided to read, not what it inflates to.
    """

    def __init__(self, path, where):
        self.where = where
        self.file, self.file_size = _open(path, where)
        try:
            self.gzipped = self.file.read(2) == _GZIP_MAGIC
            self.file.seek(0)
        except OSError as exc:
            self.file.close()
            raise _fail(where, f"cannot read the file: {exc.strerror or exc}") from exc
        self.stream = gzip.GzipFile(fileobj=self.file, mode="rb") if self.gzipped else self.file

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.file.close()

    @property
    def capacity(self):
        """The most content this file can hold: its size, or deflate's 1032:1 times it."""
        return self.file_size * (_DEFLATE_MAX_RATIO if self.gzipped else 1)

    def readinto(self, view):
        """Fill ``view`` as far as the content goes; return the number of bytes read."""
        n = 0
        try:
            while n < len(view):
                chunk = self.stream.read(min(_CHUNK, len(view) - n))
                if not chunk:
                    break
                view[n : n + len(chunk)] = chunk
                n += len(chunk)
        except EOFError as exc:
            raise _fail(self.where, f"truncated gzip data ({exc})") from exc
        except (OSError, zlib.error, struct.error) as exc:
            if not self.gzipped:
                raise _fail(self.where, f"cannot read the file: {exc}") from exc
            raise _fail(self.where, f"corrupt gzip data ({exc})") from exc
        return n

    def read(self, n):
        buf = bytearray(n)
        return bytes(buf[: self.readinto(memoryview(buf))])


def _read_content(path, where, max_bytes):
    """The content of ``path`` (decompressed if gzip), refused if over ``max_bytes``."""
    chunks, n = [], 0
    with _Reader(path, where) as reader:
        while n <= max_bytes:
            chunk = reader.read(min(_CHUNK, max_bytes + 1 - n))
            if not chunk:
                break
            chunks.append(chunk)
            n += len(chunk)
    content = b"".join(chunks)
    if n > max_bytes:
        raise _fail(
            where,
            f"content exceeds the limit of {max_bytes} bytes; decompression stopped there "
            "(a decompression bomb, or a file too large for this loader)",
        )
    return content


def _read_idx_view(path, expected_sha256=None, ndim=None, name=None, max_bytes=None):
    """Parse and verify an IDX file; return a read-only uint8 view of its data.

    Error messages start with ``name`` (default: ``path``). The declared dimensions are
    checked against ``max_bytes`` (default :data:`MAX_IDX_BYTES`) and against what the
    file can hold before anything of their size is allocated or inflated.
    """
    where = path if name is None else name
    max_bytes = MAX_IDX_BYTES if max_bytes is None else max_bytes
    with _Reader(path, where) as reader:
        head = reader.read(4)
        if not head:
            raise _fail(where, "empty file (or empty gzip content); expected an IDX file")
        if len(head) < 4:
            raise _fail(where, f"file too short ({len(head)} bytes) for the 4-byte IDX magic number")

        (magic,) = struct.unpack(">I", head)
        allowed = (_magic(1), _magic(3)) if ndim is None else (_magic(ndim),)
        if magic not in allowed:
            expected = " or ".join(_describe_magic(m) for m in allowed)
            hint = ""
            if head[:2] == b"\0\0" and head[2] != 0x08 and head[2] in _IDX_TYPES:
                hint = (
                    f" (an IDX file of type {_IDX_TYPES[head[2]]}; "
                    "only unsigned byte, 0x08, is supported)"
                )
            elif head[:2] == b"\0\0" and head[2] == 0x08:
                hint = f" (an IDX file with {head[3]} dimensions)"
            raise _fail(
                where, f"bad magic number: expected {expected}, found {_describe_magic(magic)}{hint}"
            )

        ndim_found = head[3]
        header = 4 + 4 * ndim_found
        dims_bytes = reader.read(4 * ndim_found)
        if len(dims_bytes) < 4 * ndim_found:
            raise _fail(
                where,
                f"truncated header: {ndim_found} dimension(s) need {header} header bytes, "
                f"found {4 + len(dims_bytes)}",
            )
        dims = struct.unpack(f">{ndim_found}I", dims_bytes)
        size = math.prod(dims)
        shape = " x ".join(map(str, dims))
        need = f"the {size} bytes of data that the header's dimensions {shape} need"

        # Refuse what cannot be (or must not be) there before allocating its size.
        if size > max_bytes:
            raise _fail(
                where,
                f"the header's dimensions {shape} declare {size} bytes of data, more than "
                f"the limit of {max_bytes} bytes (max_bytes); refusing to read it",
            )
        if not reader.gzipped and reader.file_size != header + size:
            data_bytes = reader.file_size - header
            if data_bytes < size:
                raise _fail(
                    where,
                    f"truncated data: the header's dimensions {shape} need {size} bytes of "
                    f"data, found {data_bytes}",
                )
            raise _fail(where, f"{data_bytes - size} unexpected bytes after {need}")
        if reader.gzipped and header + size > reader.capacity:
            raise _fail(
                where,
                f"the header's dimensions {shape} declare {size} bytes of data, more than "
                f"a gzip file of {reader.file_size} bytes can hold (deflate inflates at most "
                f"{_DEFLATE_MAX_RATIO}:1): a corrupt header",
            )

        content = bytearray(header + size)
        content[:4] = head
        content[4:header] = dims_bytes
        found = reader.readinto(memoryview(content)[header:])
        if found < size:
            raise _fail(
                where,
                f"truncated data: the header's dimensions {shape} need {size} bytes of data, "
                f"found {found}",
            )
        # One byte more: reaches the end of the gzip member (so its CRC is checked) and
        # tells a bomb, or trailing junk, from a file that ends where its header says.
        if reader.read(1):
            raise _fail(
                where,
                f"unexpected bytes after {need}; decompression stopped there "
                "(a corrupt file, or a decompression bomb)",
            )

    if expected_sha256 is not None:
        digest = hashlib.sha256(content).hexdigest()
        if digest != expected_sha256.lower():
            raise _fail(
                where,
                f"SHA-256 mismatch of the decompressed content: expected {expected_sha256}, "
                f"found {digest} (a corrupt, partial or different file)",
            )

    view = np.frombuffer(content, dtype=np.uint8, count=size, offset=header).reshape(dims)
    view.flags.writeable = False
    return view


def read_idx(path, *, expected_sha256=None, ndim=None, max_bytes=MAX_IDX_BYTES):
    """Read an IDX file (the MNIST file format) into a uint8 array.

    Parameters
    ----------
    path : str or os.PathLike
        The file, gzip-compressed or not. Compression is detected from the gzip
        header bytes (``1f 8b``), not from the file name.
    expected_sha256 : str, optional
        Hex SHA-256 of the *decompressed* content. When given, the file is
        rejected unless its digest matches.
    ndim : int, optional
        Number of dimensions the file must have: 1 for labels (magic number
        ``0x00000801``), 3 for images (``0x00000803``). By default either is
        accepted.
    max_bytes : int, default :data:`MAX_IDX_BYTES` (1 GiB)
        The most data the header may declare (the product of its dimensions).

    Returns
    -------
    ndarray of dtype uint8 and shape given by the header
        A fresh, writable, C-contiguous array, e.g. of shape (60000, 28, 28)
        for ``train-images-idx3-ubyte`` and (60000,) for ``train-labels-idx1-ubyte``.

    Raises
    ------
    DataError
        For every problem, with a message naming ``path`` and the cause: the
        file cannot be read (:class:`DataNotFoundError` if it does not exist),
        corrupt or truncated gzip data, an empty file, a bad magic number (the
        data type byte must be 0x08, unsigned byte), fewer or more data bytes
        than the header's dimensions declare, dimensions declaring more than
        ``max_bytes`` or more than the file can hold, or a SHA-256 mismatch.
        No other exception escapes and no partly filled array is returned.

    Notes
    -----
    The IDX format, from LeCun's MNIST page
    (http://yann.lecun.com/exdb/mnist/, "File formats for the MNIST
    database"): a 4-byte big-endian magic number -- two zero bytes, a data
    type byte (0x08 for unsigned byte) and the number of dimensions -- then one
    4-byte big-endian unsigned size per dimension, then the data in C order.

    The cost is bounded by the header, checked before anything of its size is
    allocated: an uncompressed file must be exactly as long as its dimensions
    declare; a gzip file is inflated only up to the declared size plus one byte
    (so a decompression bomb is refused, not inflated), and a declared size
    above what deflate can expand the file to (1032 times its length) is refused
    without inflating anything.

    Examples
    --------
    A file of three labels, written and read back (magic 0x00000801: unsigned
    bytes, one dimension; size 3; the data):

    >>> import struct, tempfile, pathlib
    >>> from fastnn.datasets import read_idx
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "labels-idx1-ubyte"
    ...     _ = path.write_bytes(struct.pack(">BBBBI", 0, 0, 0x08, 1, 3) + bytes([5, 0, 4]))
    ...     read_idx(path)
    array([5, 0, 4], dtype=uint8)
    >>> read_idx("train-labels-idx1-ubyte.gz")[:6]  # doctest: +SKIP
    array([5, 0, 4, 1, 9, 2], dtype=uint8)
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 0:
        raise ValueError(f"max_bytes must be an integer >= 0, got {max_bytes!r}")
    return _read_idx_view(path, expected_sha256, ndim, max_bytes=int(max_bytes)).copy()


# --------------------------------------------------------------------------- validation


def _check_validation_size(validation_size):
    if isinstance(validation_size, bool) or not isinstance(
        validation_size, (int, np.integer)
    ):
        raise TypeError(
            f"validation_size must be an integer in 0..{_N_TRAIN_FILE}, "
            f"got {validation_size!r} of type {type(validation_size).__name__}"
        )
    if not 0 <= validation_size <= _N_TRAIN_FILE:
        raise ValueError(
            f"validation_size must be in 0..{_N_TRAIN_FILE}, got {validation_size!r}"
        )
    return int(validation_size)


def _dataset(images, labels, dtype):
    """uint8 images (n, 28, 28) and their labels as a Dataset of bytes (read as X / 255)."""
    flat = images.reshape(images.shape[0], images.shape[1] * images.shape[2])
    return Dataset(flat, labels.astype(np.int64), dtype=dtype)


# --------------------------------------------------------------------------- lookup


#: Environment variable naming the directory downloads are cached in (the old name
#: ``FASTNN_CACHE_DIR`` is still read when this one is unset).
DATA_CACHE_ENV = "FASTNN_DATA_CACHE"
_OLD_DATA_CACHE_ENV = "FASTNN_CACHE_DIR"


def _data_cache_env():
    """``(name, path)`` of the data-cache variable in effect, or ``(None, None)``.

    Both names are validated (:func:`fastnn._config.setting`): a file is refused.
    """
    for name in (DATA_CACHE_ENV, _OLD_DATA_CACHE_ENV):
        value = setting(name)
        if value is not None:
            return name, value
    return None, None


def _cache_root():
    _, env = _data_cache_env()
    if env is not None:
        return env
    return Path(platformdirs.user_cache_dir("fastnn"))


def _mirrors_from_env():
    return setting("FASTNN_MIRRORS")


def _find(directory, name):
    """The file ``name.gz`` or ``name`` in ``directory``, or None."""
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _search_dirs(spec, name):
    """[(directory, label, is_cache)] in lookup order when no data_dir is given."""
    dirs = []
    env = setting("FASTNN_DATA")
    if env is not None:
        for sub in spec["env_subdirs"]:
            dirs.append((env / sub if sub else env, "FASTNN_DATA", False))
    cache = _cache_root() / name
    env_name, _ = _data_cache_env()
    cache_label = f"cache, {env_name}" if env_name else "cache"
    dirs.append((cache, cache_label, True))
    if spec["debian"]:
        dirs.append((Path(spec["debian"]), "Debian package dataset-fashion-mnist", False))
    return dirs


def _manual_help(spec, name, cache):
    files = ", ".join(f"{f}.gz" for f in _FILES)
    env_dir = "$FASTNN_DATA" if name == "mnist" else f"$FASTNN_DATA/{name}"
    return (
        f"To supply the {spec['title']} files by hand, download {files} "
        f"(gzip-compressed or not, with or without the .gz) and put them in {cache}, "
        f"or in a directory {env_dir} (set the FASTNN_DATA environment variable), "
        "or pass data_dir= to the loader (--data-dir to the fastnn command)."
    )


def _fetch_arrays(
    name, data_dir=None, *, mirrors=None, progress=None, timeout=None
):
    """Find (or download), parse and verify the four files of dataset ``name``.

    Returns a dict mapping each base file name to a read-only uint8 view.
    ``mirrors`` overrides ``$FASTNN_MIRRORS`` and the dataset's default mirrors.
    """
    spec = _DATASETS[name]
    sha = spec["sha256"]

    if data_dir is not None:
        directory = Path(os.fspath(data_dir))
        if not directory.is_dir():
            raise DataNotFoundError(
                f"{directory}: data_dir is not a directory. "
                + _manual_help(spec, name, _cache_root() / name)
            )
        paths = {f: _find(directory, f) for f in _FILES}
        missing = [f for f, p in paths.items() if p is None]
        if missing:
            raise DataNotFoundError(
                f"{directory}: data_dir lacks the {spec['title']} file(s) "
                + ", ".join(f"{f}.gz (or {f})" for f in missing)
                + ". Nothing else is searched when data_dir is given; omit it to search "
                "FASTNN_DATA and the cache and to download."
            )
        return {f: _read_idx_view(p, sha[f], _NDIM[f], max_bytes=_DATA_BYTES[f]) for f, p in paths.items()}

    dirs = _search_dirs(spec, name)
    cache = next(d for d, _, is_cache in dirs if is_cache)
    arrays = {}
    for f in _FILES:
        for directory, _label, is_cache in dirs:
            path = _find(directory, f)
            if path is None:
                continue
            try:
                arrays[f] = _read_idx_view(path, sha[f], _NDIM[f], max_bytes=_DATA_BYTES[f])
            except DataError as exc:
                if not is_cache:
                    raise
                logger.warning("%s; removing it from the cache and downloading it again", exc)
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
                except OSError as unlink_exc:
                    raise _fail(
                        path, f"corrupt cached file cannot be removed: {unlink_exc}"
                    ) from exc
                continue  # look further, then download it
            break
        if f in arrays:
            continue
        chosen = mirrors
        if chosen is None:
            chosen = _mirrors_from_env()
        if chosen is None:
            chosen = spec["mirrors"]
        arrays[f] = _download(f, sha[f], cache, spec, name, dirs, chosen, progress, timeout)
    return arrays


# --------------------------------------------------------------------------- download

#: A mirror must deliver this many bytes within each read timeout, or it is stalled.
_STALL_BYTES = 64 * 1024


class _Stalled(OSError):
    """A mirror sent too little within the read timeout (a trickle, not silence)."""


def _timeouts(timeout):
    """``(connect, read)`` seconds from ``timeout`` (a number, a pair, or None: the setting)."""
    if timeout is None:
        return setting("FASTNN_DOWNLOAD_TIMEOUT")
    pair = tuple(timeout) if isinstance(timeout, (tuple, list)) else (timeout, timeout)
    if len(pair) != 2 or not all(
        isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and t > 0
        for t in pair
    ):
        raise ValueError(
            f"timeout must be seconds > 0, or a pair (connect, read) of them, got {timeout!r}"
        )
    return float(pair[0]), float(pair[1])


def _with_read_timeout(connection_class, read_timeout):
    """``connection_class`` whose socket waits ``read_timeout`` once connected.

    ``urlopen(timeout=...)`` gives one timeout to connecting and to every read; this
    keeps that one for the connection (and TLS handshake) and sets another for reads.
    """

    class Connection(connection_class):
        def connect(self):
            super().connect()
            self.sock.settimeout(read_timeout)

    return Connection


def _opener(read_timeout):
    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(_with_read_timeout(http.client.HTTPConnection, read_timeout), req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(
                _with_read_timeout(http.client.HTTPSConnection, read_timeout), req,
                context=self._context,
            )

    return urllib.request.build_opener(HTTPHandler, HTTPSHandler)


def _progress_wanted(progress):
    if progress is None:  # default: a bar when someone watches stderr
        isatty = getattr(sys.stderr, "isatty", None)
        return bool(isatty and isatty())
    return bool(progress)


def _copy(response, out, total, desc, progress, limit, read_timeout, url):
    """Copy the HTTP body to ``out``; return the number of bytes copied.

    Gives up (:class:`_Stalled`) when fewer than ``_STALL_BYTES`` arrive in
    ``read_timeout`` seconds, and (:class:`DataError`) past ``limit`` bytes.
    """
    bar = None
    if progress:
        bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, leave=False)
    copied = 0
    window_start, window_bytes = time.monotonic(), 0
    try:
        while True:
            chunk = response.read1(_CHUNK)
            if not chunk:
                break
            copied += len(chunk)
            if copied > limit:
                raise DataError(
                    f"{url}: the mirror sent more than {limit} bytes, more than the file can "
                    "be; download stopped there"
                )
            out.write(chunk)
            if bar is not None:
                bar.update(len(chunk))
            window_bytes += len(chunk)
            now = time.monotonic()
            if window_bytes >= _STALL_BYTES:
                window_start, window_bytes = now, 0
            elif now - window_start > read_timeout:
                raise _Stalled(
                    f"stalled: {window_bytes} bytes in the last {now - window_start:.1f} s "
                    f"(less than {_STALL_BYTES // 1024} KiB within the read timeout of "
                    f"{read_timeout:g} s), {copied} bytes received in all"
                )
    finally:
        if bar is not None:
            bar.close()
    return copied


def _download_one(url, target, expected_sha256, f, timeout, progress):
    """Download ``url`` to ``target`` atomically; return the verified uint8 view."""
    connect_timeout, read_timeout = timeout
    # A gzip file is at most a little larger than its content (stored blocks: 5 bytes
    # per 64 KiB, plus the header and trailer); nothing longer can be the file.
    raw_bytes = 4 + 4 * _NDIM[f] + _DATA_BYTES[f]
    limit = raw_bytes + raw_bytes // 1000 + 4096
    with atomic_write(target) as (out, tmp):
        with _opener(read_timeout).open(url, timeout=connect_timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > limit:
                raise DataError(
                    f"{url}: the mirror announces {total} bytes (Content-Length), more than "
                    f"the file can be ({limit}); not downloaded"
                )
            copied = _copy(response, out, total, target.name, progress, limit, read_timeout, url)
        if total is not None and copied != total:
            raise DataError(f"{url}: truncated download: received {copied} of {total} bytes")
        out.flush()
        view = _read_idx_view(tmp, expected_sha256, _NDIM[f], name=url, max_bytes=_DATA_BYTES[f])
    return view


def _download(f, expected_sha256, cache, spec, name, dirs, mirrors, progress, timeout):
    filename = f"{f}.gz"
    target = cache / filename
    errors = []
    timeout = _timeouts(timeout)
    progress = _progress_wanted(progress)
    if mirrors:
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            errors.append(f"cannot create the cache directory {cache}: {exc}")
            mirrors = ()
    timed_out = False
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        logger.info("downloading %s to %s", url, target)
        try:
            return _download_one(url, target, expected_sha256, f, timeout, progress)
        except DataError as exc:  # truncated body, or the file fails verification
            errors.append(str(exc))
        except urllib.error.HTTPError as exc:
            exc.close()
            errors.append(f"{url}: HTTP error {exc.code} {exc.reason}")
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                timed_out = True
                errors.append(f"{url}: no connection within {timeout[0]:g} s (connect timeout)")
            else:
                errors.append(f"{url}: {exc.reason}")
        except _Stalled as exc:
            timed_out = True
            errors.append(f"{url}: {exc}")
        except TimeoutError:
            timed_out = True
            errors.append(f"{url}: timed out: no data for {timeout[1]:g} s (read timeout)")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # OSError: connection resets; ValueError: malformed URLs.
            errors.append(f"{url}: {type(exc).__name__}: {exc}")

    looked = "\n".join(f"  - {d} ({label})" for d, label, _ in dirs)
    if errors:
        tried = "\n".join(f"  - {e}" for e in errors)
    else:
        env = os.environ.get("FASTNN_MIRRORS")
        tried = (
            "  (none: downloading is disabled, the mirror list is empty; "
            f"FASTNN_MIRRORS={env!r})"
        )
    next_step = ""
    if errors:
        next_step = (
            "Next: try again later, or list a mirror that works in FASTNN_MIRRORS"
            + (
                f", or allow a slow mirror more time with FASTNN_DOWNLOAD_TIMEOUT "
                f"(now {timeout[0]:g},{timeout[1]:g} seconds to connect,read)"
                if timed_out
                else ""
            )
            + ".\n"
        )
    raise DataNotFoundError(
        f"{spec['title']} file {f}.gz (or {f}) not found and could not be downloaded.\n"
        f"Looked in:\n{looked}\n"
        f"Mirrors tried:\n{tried}\n"
        + next_step
        + _manual_help(spec, name, cache)
    )


# --------------------------------------------------------------------------- loaders


def _split(arrays, dtype, validation_size):
    n_train = _N_TRAIN_FILE - validation_size
    images, labels = arrays[_TRAIN_IMAGES], arrays[_TRAIN_LABELS]
    train = _dataset(images[:n_train], labels[:n_train], dtype)
    validation = _dataset(images[n_train:], labels[n_train:], dtype)
    test = _dataset(arrays[_TEST_IMAGES], arrays[_TEST_LABELS], dtype)
    return train, validation, test


def _load(name, data_dir, dtype, validation_size, progress, mirrors=None):
    dtype = check_dtype(dtype)
    validation_size = _check_validation_size(validation_size)
    arrays = _fetch_arrays(name, data_dir, mirrors=mirrors, progress=progress)
    return _split(arrays, dtype, validation_size)


_LOADER_DOC = """\
    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Directory holding the four files ``train-images-idx3-ubyte.gz``,
        ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
        ``t10k-labels-idx1-ubyte.gz`` (each may also be stored uncompressed,
        without the ``.gz``). When given, nothing else is searched and nothing
        is downloaded. By default each file is looked for in:

        1. {env};
        2. the cache, ``$FASTNN_DATA_CACHE/{name}``, by default
           ``platformdirs.user_cache_dir("fastnn")/{name}``;{debian}
        then downloaded into the cache from the mirrors: ``$FASTNN_MIRRORS``
        (base URLs separated by spaces or commas; empty forbids downloading)
        or, when unset, ``{mirrors}``.
    dtype : {{"float64", "float32"}}, default "float64"
        Floating-point type of the images as the network reads them (the
        :attr:`fastnn.Dataset.dtype`).
    validation_size : int, default 10000
        Number of images, from the end of the 60,000-image training file, held
        out as the validation set; 0 to 60000.
    progress : bool or None, default None
        Show a tqdm progress bar on stderr while downloading; None shows it
        when stderr is a terminal.

    Returns
    -------
    train, validation, test : Dataset
        Each a :class:`fastnn.Dataset` holding the images as bytes (50,000
        images: 23 MB, against 314 MB as float64), ready for
        :meth:`fastnn.Network.SGD`; it unpacks as ``X, y = train``:
        ``X`` : ndarray of shape (n_samples, 784) and the given dtype,
        read-only and C-contiguous (made on first access); pixels scaled to
        [0, 1] (divided by 255), each row a 28x28 image in row-major order.
        ``y`` : ndarray of shape (n_samples,), int64 labels 0-9.
        ``n_samples`` is ``60000 - validation_size``, ``validation_size`` and
        10000. The split is the book's: the first images of the training file
        for training, the last ``validation_size`` for validation, the t10k
        file for testing.

    Raises
    ------
    ValueError
        If ``dtype`` is not float32 or float64, or ``validation_size`` is out
        of range.
    TypeError
        If ``validation_size`` is not an integer.
    DataNotFoundError
        If a file is in none of the places searched and cannot be downloaded
        (or is missing from ``data_dir``); the message lists every place looked,
        every mirror tried with its error, and how to supply the files by hand.
    DataError
        If a file found is malformed or its decompressed SHA-256 differs from
        the published one ({sha}). A bad file in the cache is removed and
        downloaded again instead; elsewhere it is never replaced.
"""


def load_mnist(data_dir=None, *, dtype="float64", validation_size=10000, progress=None):
    """Load MNIST, split as in Nielsen's Chapter 1.

{doc}
    Notes
    -----
    The data are the four IDX files of LeCun, Cortes and Burges
    (http://yann.lecun.com/exdb/mnist/), read with :func:`read_idx`. The book's
    ``mnist.pkl.gz`` holds the same split; see :func:`load_mnist_pickle`.

    Examples
    --------
    >>> import fastnn
    >>> train, validation, test = fastnn.load_mnist()  # doctest: +SKIP
    >>> train  # doctest: +SKIP
    Dataset(n_samples=50000, n_features=784, X uint8 read as X / 255, y labels, dtype='float64', 23.3 MB)
    >>> net = fastnn.Network([784, 30, 10], seed=0)  # doctest: +SKIP
    >>> history = net.SGD(train, 1, 10, 3.0, test_data=test)  # doctest: +SKIP
    >>> (X, y), (X_val, y_val), (X_test, y_test) = fastnn.load_mnist()  # doctest: +SKIP
    >>> X.shape, X.dtype, y[:6]  # doctest: +SKIP
    ((50000, 784), dtype('float64'), array([5, 0, 4, 1, 9, 2]))
    """
    return _load("mnist", data_dir, dtype, validation_size, progress)


def load_fashion_mnist(
    data_dir=None, *, dtype="float64", validation_size=10000, progress=None
):
    """Load Fashion-MNIST, split like MNIST.

{doc}
    Notes
    -----
    Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017,
    https://github.com/zalandoresearch/fashion-mnist) uses MNIST's IDX format
    and sizes; labels are clothing classes 0-9 (0 T-shirt/top, 1 Trouser,
    2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag,
    9 Ankle boot).

    Examples
    --------
    >>> from fastnn.datasets import load_fashion_mnist
    >>> train, validation, test = load_fashion_mnist(dtype="float32")  # doctest: +SKIP
    """
    return _load("fashion-mnist", data_dir, dtype, validation_size, progress)


if load_mnist.__doc__:  # None under python -OO
    load_mnist.__doc__ = load_mnist.__doc__.format(
        doc=_LOADER_DOC.format(
            name="mnist",
            env="``$FASTNN_DATA``, then ``$FASTNN_DATA/mnist``",
            debian="",
            mirrors="MNIST_MIRRORS",
            sha="``MNIST_SHA256``",
        )
    )
if load_fashion_mnist.__doc__:
    load_fashion_mnist.__doc__ = load_fashion_mnist.__doc__.format(
        doc=_LOADER_DOC.format(
            name="fashion-mnist",
            env="``$FASTNN_DATA/fashion-mnist``",
            debian="\n        3. Debian's ``/usr/share/datasets/fashion-mnist``;",
            mirrors="FASHION_MNIST_MIRRORS",
            sha="``FASHION_MNIST_SHA256``",
        )
    )


# --------------------------------------------------------------------------- the book's pickle


def _check_pickle_split(path, data, dtype):
    if not (isinstance(data, (tuple, list)) and len(data) == 3):
        raise _fail(path, "expected a pickled tuple (train, validation, test)")
    out = []
    for part_name, part in zip(("train", "validation", "test"), data):
        if not (isinstance(part, (tuple, list)) and len(part) == 2):
            raise _fail(path, f"the {part_name} part is not a pair (X, y)")
        X, y = (np.asarray(a) for a in part)
        if X.ndim != 2 or X.shape[1] != 784 or y.shape != (X.shape[0],):
            raise _fail(
                path,
                f"the {part_name} part has X of shape {X.shape} and y of shape {y.shape}; "
                "expected (n, 784) and (n,)",
            )
        if not (np.issubdtype(X.dtype, np.number) and np.issubdtype(y.dtype, np.integer)):
            raise _fail(
                path,
                f"the {part_name} part has X of dtype {X.dtype} and y of dtype {y.dtype}; "
                "expected floats and integers",
            )
        out.append((np.array(X, dtype=dtype, order="C"), np.array(y, dtype=np.int64)))
    return tuple(out)


def load_mnist_pickle(path, *, trust=False, dtype="float64"):
    """Load the book's ``mnist.pkl.gz`` (only when you trust the file).

    Parameters
    ----------
    path : str or os.PathLike
        The pickle, gzip-compressed or not (detected from its header bytes): a
        Python 2 pickle of ``((X_train, y_train), (X_val, y_val), (X_test,
        y_test))`` with float32 images of shape (n, 784) in [0, 1] and int64
        labels, as shipped in the repository of Nielsen's book
        (``data/mnist.pkl.gz``: 50,000 / 10,000 / 10,000 images).
    trust : bool, default False
        Must be True: unpickling can execute arbitrary code, so a pickle is
        read only when the caller vouches for it.
    dtype : {"float64", "float32"}, default "float64"
        Floating-point type of the returned images.

    Returns
    -------
    train, validation, test : tuple of (X, y)
        As :func:`load_mnist`: ``X`` of shape (n_samples, 784) in ``dtype``,
        fresh, writable and C-contiguous; ``y`` int64 of shape (n_samples,).
        The split is the pickle's own.

    Raises
    ------
    ValueError
        If ``trust`` is not True (before the file is opened), or ``dtype`` is
        not float32 or float64.
    DataError
        If the file cannot be read or unpickled or does not hold the structure
        above (:class:`DataNotFoundError` if it does not exist).

    Notes
    -----
    The pickle was written by Python 2, so it is read with
    ``encoding="latin1"`` (Python 2 byte strings, NumPy's array buffers
    among them, decode to the same bytes).
    """
    if trust is not True:
        raise ValueError(
            f"refusing to unpickle {os.fspath(path)!r}: loading a pickle can execute "
            "arbitrary code, so load_mnist_pickle reads one only with trust=True, for a "
            "file you trust. fastnn.datasets.load_mnist() reads the same data from the "
            "IDX files (train-images-idx3-ubyte.gz etc.) without pickle and verifies "
            "their checksums."
        )
    dtype = check_dtype(dtype)
    raw = _read_content(path, path, MAX_PICKLE_BYTES)
    try:
        data = pickle.loads(raw, encoding="latin1")
    except Exception as exc:  # unpickling can fail in arbitrary ways
        raise _fail(path, f"cannot unpickle: {type(exc).__name__}: {exc}") from exc
    return _check_pickle_split(path, data, dtype)
