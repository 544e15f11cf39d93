"""Atomic file writes, shared by model saving and data downloads."""

import contextlib
import os
import tempfile
from pathlib import Path


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
