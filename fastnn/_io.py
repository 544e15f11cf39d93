"""Atomic file writes, checks of output paths before long work, rescue of outputs.

Shared by model saving, the command line and data downloads."""

import contextlib
import os
import tempfile
import time
from pathlib import Path


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
    complete file.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name")
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
        systems and ACLs as ``os.access`` does not), or two outputs name the same file
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
        parent = path.parent
        if not parent.exists():
            raise OutputPathError(f"{label} {path}: the directory {parent} does not exist")
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
