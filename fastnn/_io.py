"""Atomic file writes, shared by model saving and data downloads."""

import contextlib
import os
import tempfile
from pathlib import Path


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f, tmp
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
