"""Numba's on-disk cache of fastnn's kernels: where it is, what it holds, and its guard.

The only module that knows how Numba caches. Numba keys a cached kernel by its
signature and by the source of the file that defines it; it does not notice an edited
helper in another file (a cached kernel kept serving the old helper's result), nor a
change of compile options (``fastmath``, the row kernels, denormal flushing). So fastnn
puts its kernels' cache where it can guard it:

* a locator (:class:`KernelCacheLocator`, first in Numba's list) sends every function
  defined in ``fastnn/kernels/`` to ``<root>/fastnn-kernels/<settings>/``, where
  ``<settings>`` is a hash of the compile settings (``_config.COMPILE_SETTINGS``) and
  Numba's version: each combination of settings has a cache of its own;
* a guard file there holds a hash of every kernel source file (this package plus
  ``_config.py`` and ``_layout.py``, whose constants are compiled in). When it differs
  from the sources on disk, the directory's cache entries are deleted before anything
  is loaded (:func:`guard`, run when :mod:`fastnn.kernels` is imported).

``<root>`` is ``$NUMBA_CACHE_DIR`` when set, else ``fastnn/kernels/__pycache__`` when
writable, else the per-user cache directory Numba uses. When none is writable the
kernels are compiled in memory (see :func:`fastnn._config.jit`).
"""

import hashlib
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numba
from numba.core import caching
from numba.core.caching import _CacheLocator
from numba.misc.appdirs import AppDirs

from fastnn import _config

__all__ = [
    "KERNELS_DIR", "SOURCES", "settings_hash", "sources_hash", "directory", "cache_dir", "cache_files", "guard",
    "guard_dispatcher", "counts",
]

#: Where the kernels are defined: the functions this cache holds.
KERNELS_DIR = Path(__file__).resolve().parent

#: Every file whose text is compiled into a kernel.
SOURCES = (*sorted(KERNELS_DIR.glob("*.py")), KERNELS_DIR.parent / "_config.py", KERNELS_DIR.parent / "_layout.py")

_GUARD = "fastnn-sources.sha256"


def settings_hash(settings=None):
    """12 hex digits naming the compile ``settings`` (default: this process's) and Numba's version."""
    settings = _config.COMPILE_SETTINGS if settings is None else settings
    key = json.dumps({**settings, "numba": numba.__version__}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def sources_hash():
    """sha256 (hex) of the text of every file in :data:`SOURCES`, names included."""
    h = hashlib.sha256()
    for path in SOURCES:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _writable(path):
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _roots():
    if numba.config.CACHE_DIR:
        yield Path(numba.config.CACHE_DIR)
    yield KERNELS_DIR / "__pycache__"
    yield Path(AppDirs(appname="numba", appauthor=False).user_cache_dir)


_directory = []


def directory():
    """The first writable cache directory for the current settings, or None."""
    if not _directory:
        for root in _roots():
            path = root / "fastnn-kernels" / settings_hash()
            if _writable(path):
                _directory.append(path)
                break
        else:
            _directory.append(None)
    return _directory[0]


class KernelCacheLocator(_CacheLocator):
    """Numba cache locator for the functions of ``fastnn/kernels/``: see the module docstring."""

    def __init__(self, py_func, py_file, path):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(path)

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        st = os.stat(self._py_file)
        return caching._hash_source_file(self._py_file, st.st_mtime, st.st_size)

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        try:
            if Path(py_file).resolve().parent != KERNELS_DIR:
                return None
        except OSError:
            return None
        path = directory()
        if path is None:  # no other locator may take it: there the guard would not hold
            raise RuntimeError(f"cannot cache function {py_func.__qualname__!r}: no writable cache directory")
        return cls(py_func, py_file, path)


def _install():
    for impl in (caching.CacheImpl, caching.CompileResultCacheImpl, caching.CodeLibraryCacheImpl):
        if KernelCacheLocator not in impl._locator_classes:
            impl._locator_classes.insert(0, KernelCacheLocator)


def cache_dir():
    """Directory where Numba caches fastnn's compiled kernels, or None if not cached."""
    if _config.JIT_DISABLED or not _config.CACHE or not _config.cache_in_use:
        return None
    return directory()


def cache_files(path=None):
    """The cache files (``*.nbi`` index, ``*.nbc`` code) in ``path`` (default :func:`cache_dir`)."""
    path = cache_dir() if path is None else Path(path)
    if path is None or not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.suffix in {".nbi", ".nbc"})


#: The first fault of the on-disk cache in this process (then the warning was given).
cache_fault = None


class _GuardedCache:
    """A dispatcher's Numba cache whose faults never escape.

    Numba reads a cache entry with ``pickle`` and writes it at the end of a compile: a
    truncated or corrupt ``.nbi``/``.nbc`` file raises from the unpickler, and a full
    disk, a read-only or vanished cache directory raises ``OSError``, each time as a
    traceback out of the kernel call. Here a failed load counts as a miss (the kernel is
    compiled in memory; its save then overwrites a corrupt entry) and a failed save is
    skipped; the first fault warns once, naming the directory and ``fastnn cache clear``.
    Everything else is the wrapped cache's.
    """

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def load_overload(self, sig, target_context):
        try:
            return self._inner.load_overload(sig, target_context)
        except Exception as exc:
            _cache_failed(self._inner, "read", exc)
            return None

    def save_overload(self, sig, data):
        try:
            self._inner.save_overload(sig, data)
        except Exception as exc:
            _cache_failed(self._inner, "written", exc)


def _cache_failed(cache, action, exc):
    global cache_fault
    if cache_fault is not None:
        return
    cache_fault = exc
    directory = getattr(cache, "cache_path", "?")
    warnings.warn(
        f"fastnn: Numba's kernel cache in {directory} could not be {action} "
        f"({type(exc).__name__}: {exc}); compiling the kernels in memory instead. "
        "Run `fastnn cache clear` to reset the cache.",
        RuntimeWarning,
        stacklevel=2,
    )


def guard_dispatcher(dispatcher):
    """Give ``dispatcher`` a :class:`_GuardedCache` (once); returns it."""
    cache = getattr(dispatcher, "_cache", None)
    if cache is not None and not isinstance(cache, _GuardedCache):
        dispatcher._cache = _GuardedCache(cache)
    return dispatcher


def guard():
    """Drop the cache entries compiled from other sources than today's; returns how many.

    Runs before any kernel is loaded. Writes the guard file atomically.
    """
    if _config.JIT_DISABLED or not _config.CACHE:
        return 0
    path = directory()
    if path is None:
        return 0
    want = sources_hash()
    stamp = path / _GUARD
    try:
        have = stamp.read_text().strip()
    except OSError:
        have = None
    if have == want:
        return 0
    stale = cache_files(path)
    try:
        for f in stale:
            f.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path, prefix=_GUARD)
        with os.fdopen(fd, "w") as f:
            f.write(want + "\n")
        os.replace(tmp, stamp)
    except OSError as exc:  # a full disk, a directory made read-only: stale entries may remain
        _directory[:] = [None]  # so nothing is loaded from it: the kernels compile in memory
        _config.cache_in_use = False
        warnings.warn(
            f"fastnn: Numba's kernel cache in {path} could not be refreshed ({type(exc).__name__}: "
            f"{exc}); compiling the kernels in memory instead. Run `fastnn cache clear` to reset "
            "the cache.",
            RuntimeWarning,
            stacklevel=2,
        )
        return 0
    return len(stale)


def counts():
    """Numba's ``(cache hits, cache misses)`` in this process, summed over fastnn's kernels."""
    hits = misses = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith("fastnn.kernels.") or module is None:
            continue
        for obj in vars(module).values():
            stats = getattr(obj, "stats", None)
            py_func = getattr(obj, "py_func", None)
            if not hasattr(stats, "cache_hits") or getattr(py_func, "__module__", None) != name:
                continue  # not a dispatcher, or one imported from another module
            hits += sum(stats.cache_hits.values())
            misses += sum(stats.cache_misses.values())
    return hits, misses


if not _config.JIT_DISABLED and _config.CACHE:
    _install()
    _config.cached_dispatcher_hooks.append(guard_dispatcher)
