"""Atomic file writes, checks of output paths before long work, rescue of outputs.

Shared by model saving, the command line and data downloads."""

import contextlib
import math
import os
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_directory(directory):
    """Make a rename in ``directory`` durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path):
    """Write ``path`` all at once or not at all.

    Yields ``(file, temporary_path)``: a binary file opened on a temporary file in the
    same directory (so the final rename cannot cross file systems). On a normal exit the
    file is flushed to disk and renamed over ``path``; on any exception, a
    ``KeyboardInterrupt`` included, the temporary file is removed and ``path`` is left as
    it was. A reader never sees a torn file, and two concurrent writers leave one
    complete file. A symbolic link is followed (its target is written, the link kept);
    an existing path that is not a regular file (a device such as ``/dev/null``, a FIFO,
    a socket) is refused: the rename would replace it.

    Raises
    ------
    IsADirectoryError
        ``path`` is a directory.
    FileExistsError
        ``path`` exists and is not a regular file.
    FileNotFoundError
        Its directory does not exist.
    """
    path = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name")
    if path.exists() and not path.is_file():
        raise FileExistsError(f"{path} exists and is not a regular file (a device, FIFO or socket); not replaced")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent} does not exist: cannot write {path.name} there")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        with os.fdopen(fd, "wb") as f:
            yield f, tmp
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_directory(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class OutputPathError(ValueError):
    """An output file cannot be written: raised before the work that would produce it.

    The message names the option (e.g. ``--save``), the path and the reason.
    """


def _probe_directory(directory):
    """Raise OSError unless a file can be created in ``directory`` (and remove it)."""
    fd, probe = tempfile.mkstemp(prefix=".fastnn-probe-", dir=directory)
    os.close(fd)
    os.unlink(probe)


def check_outputs(outputs):
    """Check, before long work, that every output can be written where it is asked.

    Parameters
    ----------
    outputs : iterable of (label, path)
        ``label`` names the output in messages (a command-line flag such as
        ``"--save"``); ``path`` is a str, os.PathLike or None (no such output).

    Returns
    -------
    dict of label to pathlib.Path
        The outputs given, without the Nones.

    Raises
    ------
    OutputPathError
        If a path is an existing directory, its directory does not exist or is not
        a directory, a file cannot be created there (read-only, no permission: tried
        by creating and removing a temporary file, which answers for read-only file
        systems and ACLs as ``os.access`` does not), an existing path is not a regular
        file (``/dev/null``, a FIFO: writing would replace it), or two outputs name the same file
        (the same path twice, or two spellings of it: symbolic links and ``..`` are
        resolved, existing files compared by inode).
    """
    checked = {}
    seen = {}
    for label, path in outputs:
        if path is None:
            continue
        path = Path(os.fspath(path))
        if path.is_dir():
            raise OutputPathError(f"{label} {path} is a directory; give a file name")
        if path.exists() and not path.is_file():
            raise OutputPathError(f"{label} {path} exists and is not a regular file (a device, FIFO or socket)")
        if os.path.islink(path):
            path = Path(os.path.realpath(path))  # atomic_write writes the link's target
        parent = path.parent
        if not parent.exists():
            raise OutputPathError(f"{label} {path}: directory {parent} does not exist")
        if not parent.is_dir():
            raise OutputPathError(f"{label} {path}: {parent} is not a directory")
        try:
            _probe_directory(parent)
        except OSError as exc:
            raise OutputPathError(
                f"{label} {path}: cannot create a file in {parent} ({exc.strerror or exc})"
            ) from exc
        key = os.path.realpath(path)
        for other_label, (other_key, other_path) in seen.items():
            same = key == other_key or (
                path.exists() and other_path.exists() and os.path.samefile(path, other_path)
            )
            if same:
                raise OutputPathError(
                    f"{other_label} and {label} both name {path}: give each output its own file"
                )
        seen[label] = (key, path)
        checked[label] = path
    return checked


def rescue_candidates(path):
    """Where an output that could not be written to ``path`` goes instead, in order.

    The current directory, then the system's temporary directory, each with a name
    that says what it is and cannot overwrite anything: ``fastnn-rescue-<name>-<pid>-
    <time>`` keeping the original suffix.
    """
    path = Path(path)
    name = f"fastnn-rescue-{path.stem}-{os.getpid()}-{int(time.time())}{path.suffix}"
    return [Path.cwd() / name, Path(tempfile.gettempdir()) / name]


def write_or_rescue(write, path):
    """Call ``write(path)``; if it fails with OSError, write to a rescue path instead.

    For outputs that took long to make (a trained network): a full disk or a
    directory removed during training must not lose them.

    Parameters
    ----------
    write : callable
        ``write(path)`` writes the output (atomically, see :func:`atomic_write`).
    path : str or os.PathLike
        Where the output was asked for.

    Returns
    -------
    written : pathlib.Path or None
        ``path`` on success; else the rescue path written (see
        :func:`rescue_candidates`), or None if every one failed too.
    error : OSError or None
        None on success; else the error that writing ``path`` raised.
    """
    try:
        write(path)
    except OSError as exc:
        for candidate in rescue_candidates(path):
            try:
                write(candidate)
            except OSError:
                continue
            return candidate, exc
        return None, exc
    return Path(path), None


# --------------------------------------------------------------------------- bounded .npz reading

#: Kinds of array an untrusted ``.npz`` member may hold: booleans, integers, floats and
#: fixed-width strings (never objects: those would be unpickled).
_NPY_KINDS = frozenset("biufU")


class NpzMember:
    """What one ``.npy`` member of an ``.npz`` archive declares, read from headers only.

    Attributes: ``name`` (without ``.npy``), ``shape``, ``dtype``, ``fortran_order``,
    ``nbytes`` (of the data, from the shape and dtype) and ``info`` (the zip entry).
    """

    def __init__(self, name, shape, dtype, fortran_order, info):
        self.name, self.shape, self.dtype = name, shape, dtype
        self.fortran_order, self.info = fortran_order, info
        self.nbytes = math.prod(shape) * dtype.itemsize

    def __repr__(self):
        return f"NpzMember({self.name!r}, shape={self.shape}, dtype={self.dtype})"


class NpzReader:
    """Read an untrusted ``.npz`` archive at a cost bounded by what it really holds.

    Opening reads the zip directory and each member's ``.npy`` header, nothing more,
    and refuses (``error``, a ValueError subclass, with the path in the message):

    - a member that is not ``<name>.npy`` (members ``allowed`` refuses are listed in
      :attr:`unknown` and never inflated);
    - a compression other than stored or deflate, or a member whose declared size
      (``zipfile.ZipInfo.file_size``) is above ``max_member_bytes``, more than its
      compressed bytes can hold (equal for stored members, 1032x for deflate) or more
      than the file is long;
    - a ``.npy`` header that does not parse (``numpy.lib.format.read_magic`` and
      ``read_array_header_1_0``/``2_0``), declares an object or structured dtype, or a
      shape whose data would not be exactly the member's declared size.

    So a 2 KB file cannot make :meth:`read` allocate 12 GiB: every array it returns was
    checked against the member's size, which was checked against the file's. Use as a
    context manager; :attr:`members` maps names to :class:`NpzMember`.

    Notes
    -----
    Formats: the ``.npy`` format (NEP 1, ``numpy.lib.format``); ``.npz`` is a zip of
    ``.npy`` files (``numpy.savez``; PKWARE APPNOTE for the zip entries).
    """

    def __init__(self, path, *, allowed=None, max_member_bytes=1 << 30, error=ValueError):
        self.path, self._error, self._np = Path(path), error, np
        self._file = open(self.path, "rb")  # closed by close()
        try:
            self.file_size = os.fstat(self._file.fileno()).st_size
            if self._file.read(6) == b"\x93NUMPY":
                raise self._fail("a single .npy array, not an .npz archive (a fastnn model is an .npz)")
            self._file.seek(0)
            try:
                self._zip = zipfile.ZipFile(self._file)
                infos = self._zip.infolist()
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
                raise self._fail(f"not a readable .npz (zip) archive ({type(exc).__name__}: {exc})") from exc
            self.members, self.unknown, self._seen = {}, [], set()
            known = [info for info in infos if self._check_entry(info, allowed, max_member_bytes, zipfile)]
            for info in known:
                member = self._header(info)
                self.members[member.name] = member
        except BaseException:
            self._file.close()
            raise

    def _fail(self, cause):
        return self._error(f"{self.path}: {cause}")

    def _check_entry(self, info, allowed, max_member_bytes, zipfile):
        name = info.filename
        if not name.endswith(".npy") or "/" in name:
            raise self._fail(f"unexpected member {name!r} (a model file holds only <name>.npy members); not read")
        key = name[: -len(".npy")]
        if allowed is not None and not allowed(key):
            self.unknown.append(name)  # listed, never inflated
            return False
        if key in self._seen:
            raise self._fail(f"member {name!r} appears twice")
        self._seen.add(key)
        if info.compress_type == zipfile.ZIP_STORED:
            capacity = info.compress_size
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            capacity = info.compress_size * 1032  # deflate's largest expansion
        else:
            raise self._fail(
                f"member {name!r} uses compression method {info.compress_type}; only stored and deflate are read"
            )
        if info.file_size > max_member_bytes:
            raise self._fail(
                f"member {name!r} declares {info.file_size} bytes, more than the limit of {max_member_bytes}; not read"
            )
        if info.file_size > capacity or info.compress_size > self.file_size:
            raise self._fail(
                f"member {name!r} declares {info.file_size} bytes in {info.compress_size} compressed bytes "
                f"of a {self.file_size}-byte file: more than it can hold; not read"
            )
        return True

    def _header(self, info):
        np = self._np
        name = info.filename
        try:
            with self._zip.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(f)
                elif version in ((2, 0), (3, 0)):
                    shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise ValueError(f"unsupported .npy format version {version}")
                header_bytes = f.tell()
        except Exception as exc:  # zipfile, zlib and numpy raise many kinds
            raise self._fail(f"member {name!r} has no valid .npy header ({type(exc).__name__}: {exc})") from exc
        if dtype.hasobject or dtype.fields is not None or dtype.kind not in _NPY_KINDS:
            raise self._fail(f"member {name!r} holds dtype {dtype}, which fastnn never loads (no objects, no records)")
        member = NpzMember(name[: -len(".npy")], shape, dtype, fortran_order, info)
        if header_bytes + member.nbytes != info.file_size:
            raise self._fail(
                f"member {name!r} declares shape {shape} of {dtype} ({member.nbytes} bytes of data) but holds "
                f"{info.file_size - header_bytes} bytes; not read"
            )
        return member

    def read(self, name):
        """The array of member ``name`` (fresh, writable), read within its checked size."""
        np = self._np
        member = self.members[name]
        try:
            with self._zip.open(member.info) as f:
                array = np.lib.format.read_array(f, allow_pickle=False)
        except Exception as exc:  # CRC errors, truncation, zlib errors, ...
            raise self._fail(f"member {member.info.filename!r} cannot be read ({type(exc).__name__}: {exc})") from exc
        if array.shape != member.shape or array.dtype != member.dtype:  # pragma: no cover (checked above)
            raise self._fail(f"member {member.info.filename!r} changed while being read")
        return array

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
