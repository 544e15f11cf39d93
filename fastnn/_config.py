"""fastnn's settings from the environment, in one place.

Every ``FASTNN_*`` variable is declared here with what it accepts, and every one that
is set is validated when fastnn is imported: a bad value stops the import with a
``ValueError`` naming the variable, the value and the accepted values; an unknown
``FASTNN_*`` name warns (``RuntimeWarning``) with the closest known one. An empty
value means "unset" (except ``FASTNN_MIRRORS``, where empty disables downloads).
This module imports nothing from fastnn.

Compile settings, read once at import:

``FASTNN_FASTMATH``
    Comma-separated LLVM fast-math flags, ``"0"``/``"off"`` for none, default
    ``"reassoc,contract,nsz"``. ``reassoc`` lets reductions vectorise (what it is worth:
    docs/performance.md, "Settings"); ``contract`` allows fused
    multiply-add; ``nsz`` ignores the sign of zero. Never ``nnan``/``ninf`` (a NaN check
    inside such a kernel is optimised away, so divergence could go unseen) nor ``arcp``
    (division becomes a reciprocal estimate: with ``fastmath=True`` the float32 sigmoid
    returned NaN once ``exp`` overflowed). fastnn checks finiteness in Python, outside
    the kernels, so the check holds whatever is set here; flags that drop NaN/inf
    semantics are refused, and so is any flag outside that subset.
``FASTNN_KERNEL_CACHE``
    ``1``/``true``/``yes``/``on`` (default) caches compiled kernels on disk (Numba
    ``cache=True``: cold compile takes seconds, a warm cache well under one);
    ``0``/``false``/``no``/``off`` disables it. Each combination
    of compile settings has a cache directory of its own, guarded against stale
    entries (:mod:`fastnn.kernels.cache`). When no cache directory is writable, fastnn
    compiles in memory, so ``import fastnn`` works from a read-only install; a corrupt
    entry or a full disk later is absorbed the same way (a warning, once). The old
    name ``FASTNN_CACHE`` is still read when the new one is unset.
``FASTNN_ROW_KERNELS``
    ``"intrinsics"`` (default) compiles the row operations of every layer as explicit
    vector code (:mod:`fastnn.kernels._llvm`); ``"loops"`` compiles the plain loops of
    :mod:`fastnn.kernels.rows`, their specification, instead (the A/B of
    docs/performance.md).
``FASTNN_ROW_ALIGN``
    Integer 1-64, default 8: weight rows are padded to a multiple of this many elements.
``FASTNN_FLUSH_DENORMALS``
    Boolean as ``FASTNN_KERNEL_CACHE``, default on: flush denormals to zero in the kernels.

Data settings, read at each use (:mod:`fastnn.datasets`), through :func:`setting`:

``FASTNN_DATA``
    A directory searched first for the data files (it need not exist; a file is refused).
``FASTNN_DATA_CACHE``
    The directory downloads are cached in (default: the per-user cache directory); the
    old name ``FASTNN_CACHE_DIR`` is still read when this one is unset.
``FASTNN_MIRRORS``
    Base URLs (``http://``, ``https://`` or ``file://``) separated by spaces or commas;
    empty disables downloading.
``FASTNN_DOWNLOAD_TIMEOUT``
    Seconds: ``"T"`` for both or ``"CONNECT,READ"``; default ``"10,60"``. The read
    timeout bounds each wait for data and the time a mirror may take to send 64 KiB
    (a trickling mirror is given up like a silent one).

Numba's own variables (``NUMBA_CACHE_DIR``, ``NUMBA_NUM_THREADS``,
``NUMBA_DISABLE_JIT``, ...) keep their usual meaning.
"""

import difflib
import math
import os
import warnings
from pathlib import Path

import numba

# --------------------------------------------------------------------------- FASTNN_* variables
#
# Every FASTNN_* variable fastnn reads is declared here, once, with its parser, what it
# accepts and its default. All that are set are validated when fastnn is imported (a
# bad value stops the import with a ValueError naming the variable, the value and what
# is accepted); an unknown FASTNN_* name warns, with the closest known one. The
# compile settings below are read once, at import; the data settings (FASTNN_DATA, ...)
# are read through `setting()` at each use, so a program may change them.


class _Variable:
    def __init__(self, name, parse, accepted, default, doc):
        self.name, self.parse, self.accepted, self.default, self.doc = name, parse, accepted, default, doc


_VARIABLES = {}


def _declare(name, parse, accepted, default, doc):
    _VARIABLES[name] = _Variable(name, parse, accepted, default, doc)


def _invalid(name, value, accepted, why=None):
    because = f" ({why})" if why else ""
    return ValueError(f"environment variable {name}={value!r} is not valid{because}; accepted: {accepted}")


def setting(name, environ=None):
    """The parsed value of the FASTNN_* variable ``name`` (its default when unset or empty).

    Raises
    ------
    ValueError
        If the value is not one the variable accepts; the message names the variable,
        the value and the accepted values.
    """
    var = _VARIABLES[name]
    raw = (os.environ if environ is None else environ).get(name)
    if raw is None or (raw.strip() == "" and name != "FASTNN_MIRRORS"):
        return var.default
    try:
        return var.parse(raw)
    except ValueError as exc:
        raise _invalid(name, raw, var.accepted, str(exc) or None) from None


def validate_environment(environ=None):
    """Validate every FASTNN_* variable set in ``environ`` (default ``os.environ``).

    Raises ValueError for the first invalid value; warns (RuntimeWarning) for each
    FASTNN_* name fastnn does not know, naming the closest known one.
    """
    environ = os.environ if environ is None else environ
    for name in sorted(environ):
        if not name.startswith("FASTNN_"):
            continue
        if name in _VARIABLES:
            setting(name, environ)
            continue
        close = difflib.get_close_matches(name, _VARIABLES, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        warnings.warn(
            f"unknown environment variable {name}={environ[name]!r} is ignored{hint} "
            f"fastnn reads {', '.join(sorted(_VARIABLES))}",
            RuntimeWarning,
            stacklevel=2,
        )


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_BOOL_ACCEPTED = "1, true, yes, on (enable) or 0, false, no, off (disable)"


def _parse_bool(text):
    text = text.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError()


_DEFAULT_FASTMATH = "reassoc,contract,nsz"
_ALLOWED_FLAGS = {"reassoc", "contract", "nsz"}
_FORBIDDEN_FLAGS = {"nnan", "ninf", "arcp", "fast"}
_FASTMATH_ACCEPTED = (
    f"a comma-separated subset of {_DEFAULT_FASTMATH!r}, or 0/off/false/none for no flags"
)


def _parse_fastmath(text):
    text = text.strip().lower()
    if text in {"", "0", "off", "false", "none"}:
        return False
    flags = {flag.strip() for flag in text.split(",") if flag.strip()}
    bad = flags & _FORBIDDEN_FLAGS
    if bad:
        raise ValueError(
            f"FASTNN_FASTMATH must not contain {sorted(bad)} (got {text!r}): those flags "
            "drop NaN/inf semantics or approximate division, which hides divergence; "
            f"use a subset of {_DEFAULT_FASTMATH!r}"
        )
    unknown = flags - _ALLOWED_FLAGS
    if unknown:
        raise ValueError(f"unknown flag(s) {sorted(unknown)}")  # the caller says what is accepted
    return flags


def _fastmath_setting(text):
    # Its own messages already name the variable and the accepted values.
    return _parse_fastmath(text)


def _parse_row_align(text):
    text = text.strip()
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise ValueError()
    return int(text)


def _parse_directory(text):
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError("it is a file, not a directory")
    return path


_MIRROR_SCHEMES = ("http://", "https://", "file://")


def _parse_mirrors(text):
    mirrors = tuple(m for m in text.replace(",", " ").split() if m)
    for m in mirrors:
        if not m.lower().startswith(_MIRROR_SCHEMES):
            raise ValueError(f"{m!r} is not an http://, https:// or file:// URL")
    return mirrors


def _parse_timeout(text):
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (1, 2):
        raise ValueError()
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError() from None
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError("seconds must be finite and > 0")
    return (values[0], values[-1])


def _parse_row_kernels(text):
    value = text.strip().lower()
    if value not in {"intrinsics", "loops"}:
        raise ValueError()
    return value


_declare("FASTNN_FASTMATH", _fastmath_setting, _FASTMATH_ACCEPTED, _parse_fastmath(_DEFAULT_FASTMATH),
         "LLVM fast-math flags of the kernels")
_declare("FASTNN_KERNEL_CACHE", _parse_bool, _BOOL_ACCEPTED, None, "cache compiled kernels on disk")
_declare("FASTNN_CACHE", _parse_bool, _BOOL_ACCEPTED + " (old name of FASTNN_KERNEL_CACHE)", None,
         "old name of FASTNN_KERNEL_CACHE")
_declare("FASTNN_ROW_KERNELS", _parse_row_kernels, "'intrinsics' or 'loops'", "intrinsics",
         "how the row operations are compiled")
_declare("FASTNN_ROW_ALIGN", _parse_row_align, "an integer from 1 to 64", 8,
         "pad weight rows to a multiple of this many elements")
_declare("FASTNN_FLUSH_DENORMALS", _parse_bool, _BOOL_ACCEPTED, True,
         "flush denormal floats to zero inside the training kernels")
_declare("FASTNN_DATA", _parse_directory, "a directory (holding the data files)", None,
         "where the MNIST files are looked for first")
_declare("FASTNN_DATA_CACHE", _parse_directory, "a directory (created when needed)", None,
         "where downloaded data are cached")
_declare("FASTNN_CACHE_DIR", _parse_directory, "a directory (old name of FASTNN_DATA_CACHE)", None,
         "old name of FASTNN_DATA_CACHE")
_declare("FASTNN_MIRRORS", _parse_mirrors,
         "base URLs (http://, https:// or file://) separated by spaces or commas; empty to "
         "disable downloads", None, "where data files are downloaded from")
_declare("FASTNN_DOWNLOAD_TIMEOUT", _parse_timeout,
         "seconds > 0: one number for both, or CONNECT,READ (e.g. '10,60')", (10.0, 60.0),
         "connect and read timeouts of a download")

validate_environment()

FASTMATH = setting("FASTNN_FASTMATH")

_kernel_cache = setting("FASTNN_KERNEL_CACHE")
CACHE = _kernel_cache if _kernel_cache is not None else (setting("FASTNN_CACHE") is not False)

ROW_KERNELS = setting("FASTNN_ROW_KERNELS")

#: Weight rows (and activation blocks) are padded with zeros to a multiple of this many
#: elements, so the kernels' inner loops over a layer's outputs run whole SIMD vectors
#: (30 outputs are stored as 32). Override with ``FASTNN_ROW_ALIGN``; 1 disables padding.
ROW_ALIGN = setting("FASTNN_ROW_ALIGN")

#: Flush denormal floats to zero inside the training kernels (x86-64 only: the FTZ and
#: DAZ bits of MXCSR are set on entry and restored on exit, like PyTorch's
#: ``torch.set_flush_denormal(True)``). Online float32 training with eta = 3 drives many
#: sigmoid outputs and errors below 1.2e-38, where every operation takes a slow
#: microcode path (docs/performance.md, "Settings"). Values that small cannot change a weight.
#: ``FASTNN_FLUSH_DENORMALS=0`` keeps IEEE gradual underflow.
FLUSH_DENORMALS = setting("FASTNN_FLUSH_DENORMALS")


def compile_settings(environ=None):
    """Everything that changes the kernels' compiled code without changing their source.

    Read from ``environ`` (default ``os.environ``) as at import, validated as there;
    :mod:`fastnn.kernels.cache` keys the on-disk cache by it.
    """
    fastmath = setting("FASTNN_FASTMATH", environ)
    return {
        "fastmath": sorted(fastmath) if fastmath else False,
        "flush_denormals": setting("FASTNN_FLUSH_DENORMALS", environ),
        "row_kernels": setting("FASTNN_ROW_KERNELS", environ),
    }


COMPILE_SETTINGS = compile_settings()

#: True when the kernels run as plain Python (``NUMBA_DISABLE_JIT=1``).
JIT_DISABLED = bool(numba.config.DISABLE_JIT)

#: Whether the last decoration could use the on-disk cache (False after a fallback).
cache_in_use = CACHE

#: Called with each dispatcher :func:`jit` makes with the on-disk cache on;
#: :mod:`fastnn.kernels.cache` registers its guard against cache faults here (this
#: module imports nothing from fastnn).
cached_dispatcher_hooks = []


def jit(func=None, **options):
    """``numba.njit`` with fastnn's settings; falls back to no cache if none is writable.

    Faults of the cache later (a corrupt entry, a full disk) are absorbed by the hooks
    of :data:`cached_dispatcher_hooks` (:func:`fastnn.kernels.cache.guard_dispatcher`).
    """
    global cache_in_use

    def decorate(f):
        global cache_in_use
        kwargs = {"fastmath": FASTMATH, "cache": CACHE, "nogil": True, **options}
        try:
            dispatcher = numba.njit(**kwargs)(f)
        except RuntimeError as exc:  # "cannot cache function ...: no locator available"
            if not kwargs["cache"] or "cache" not in str(exc):
                raise
            if cache_in_use:
                warnings.warn(
                    f"fastnn: no writable Numba cache directory ({exc}); kernels are "
                    "compiled in memory on each run. Set NUMBA_CACHE_DIR to a writable "
                    "directory to cache them.",
                    RuntimeWarning,
                    stacklevel=3,
                )
            cache_in_use = False
            kwargs["cache"] = False
            return numba.njit(**kwargs)(f)
        if kwargs["cache"]:
            for hook in cached_dispatcher_hooks:
                dispatcher = hook(dispatcher)
        return dispatcher

    if func is not None:
        return decorate(func)
    return decorate
