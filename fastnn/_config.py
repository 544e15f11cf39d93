"""Numba settings for every fastnn kernel, in one place.

Each setting can be overridden by an environment variable read once, at import:

``FASTNN_FASTMATH``
    Comma-separated LLVM fast-math flags, ``"0"``/``"off"`` for none, default
    ``"reassoc,contract,nsz"``. ``reassoc`` lets reductions vectorise (what it is worth:
    docs/performance.md, "Settings"); ``contract`` allows fused
    multiply-add; ``nsz`` ignores the sign of zero. Never ``nnan``/``ninf`` (a NaN check
    inside such a kernel is optimised away, so divergence could go unseen) nor ``arcp``
    (division becomes a reciprocal estimate: with ``fastmath=True`` the float32 sigmoid
    returned NaN once ``exp`` overflowed). fastnn checks finiteness in Python, outside
    the kernels, so the check holds whatever is set here; flags that drop NaN/inf
    semantics are refused.
``FASTNN_KERNEL_CACHE``
    ``"1"`` (default) caches compiled kernels on disk (Numba ``cache=True``: cold compile
    takes seconds, a warm cache well under one). ``"0"`` disables it. Each combination
    of compile settings has a cache directory of its own, guarded against stale
    entries (:mod:`fastnn.kernels.cache`). When no cache directory is writable, fastnn
    compiles in memory, so ``import fastnn`` works from a read-only install. The old
    name ``FASTNN_CACHE`` is still read when the new one is unset.
``FASTNN_ROW_KERNELS``
    ``"intrinsics"`` (default) compiles the row operations of every layer as explicit
    vector code (:mod:`fastnn.kernels._llvm`); ``"loops"`` compiles the plain loops of
    :mod:`fastnn.kernels.rows`, their specification, instead (the A/B of
    docs/performance.md).

Numba's own variables (``NUMBA_CACHE_DIR``, ``NUMBA_NUM_THREADS``,
``NUMBA_DISABLE_JIT``, ...) keep their usual meaning.
"""

import os
import warnings

import numba

_DEFAULT_FASTMATH = "reassoc,contract,nsz"
_FORBIDDEN_FLAGS = {"nnan", "ninf", "arcp", "fast"}


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
    return flags


FASTMATH = _parse_fastmath(os.environ.get("FASTNN_FASTMATH", _DEFAULT_FASTMATH))


def _on(text):
    return text.strip().lower() not in {"0", "off", "false", "no"}


CACHE = _on(os.environ.get("FASTNN_KERNEL_CACHE", os.environ.get("FASTNN_CACHE", "1")))


def _row_kernels(text):
    value = text.strip().lower()
    if value not in {"intrinsics", "loops"}:
        raise ValueError(f"FASTNN_ROW_KERNELS must be 'intrinsics' or 'loops', got {text!r}")
    return value


ROW_KERNELS = _row_kernels(os.environ.get("FASTNN_ROW_KERNELS", "intrinsics"))

#: Weight rows (and activation blocks) are padded with zeros to a multiple of this many
#: elements, so the kernels' inner loops over a layer's outputs run whole SIMD vectors
#: (30 outputs are stored as 32). Override with ``FASTNN_ROW_ALIGN``; 1 disables padding.
_row_align = os.environ.get("FASTNN_ROW_ALIGN", "8")
if not _row_align.strip().isdigit() or int(_row_align) < 1:
    raise ValueError(f"FASTNN_ROW_ALIGN must be an integer >= 1, got {_row_align!r}")
ROW_ALIGN = int(_row_align)

#: Flush denormal floats to zero inside the training kernels (x86-64 only: the FTZ and
#: DAZ bits of MXCSR are set on entry and restored on exit, like PyTorch's
#: ``torch.set_flush_denormal(True)``). Online float32 training with eta = 3 drives many
#: sigmoid outputs and errors below 1.2e-38, where every operation takes a slow
#: microcode path (docs/performance.md, "Settings"). Values that small cannot change a weight.
#: ``FASTNN_FLUSH_DENORMALS=0`` keeps IEEE gradual underflow.
FLUSH_DENORMALS = _on(os.environ.get("FASTNN_FLUSH_DENORMALS", "1"))


def compile_settings(environ=None):
    """Everything that changes the kernels' compiled code without changing their source.

    Read from ``environ`` (default ``os.environ``) as at import; :mod:`fastnn.kernels.cache`
    keys the on-disk cache by it.
    """
    environ = os.environ if environ is None else environ
    fastmath = _parse_fastmath(environ.get("FASTNN_FASTMATH", _DEFAULT_FASTMATH))
    return {
        "fastmath": sorted(fastmath) if fastmath else False,
        "flush_denormals": _on(environ.get("FASTNN_FLUSH_DENORMALS", "1")),
        "row_kernels": _row_kernels(environ.get("FASTNN_ROW_KERNELS", "intrinsics")),
    }


COMPILE_SETTINGS = compile_settings()

#: True when the kernels run as plain Python (``NUMBA_DISABLE_JIT=1``).
JIT_DISABLED = bool(numba.config.DISABLE_JIT)

#: Whether the last decoration could use the on-disk cache (False after a fallback).
cache_in_use = CACHE


def jit(func=None, **options):
    """``numba.njit`` with fastnn's settings; falls back to no cache if none is writable."""
    global cache_in_use

    def decorate(f):
        global cache_in_use
        kwargs = {"fastmath": FASTMATH, "cache": CACHE, "nogil": True, **options}
        try:
            return numba.njit(**kwargs)(f)
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

    if func is not None:
        return decorate(func)
    return decorate

