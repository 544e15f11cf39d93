"""CPU control inside the kernels: the MXCSR register (denormals) and cache prefetches."""

import platform

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from fastnn import _config
from fastnn._config import jit
from fastnn.kernels._llvm import I32, data_pointer, integers, widened

__all__ = ["get_mxcsr", "set_mxcsr", "flush_denormals", "prefetch"]

_FTZ_DAZ = np.uint32(0x8040)  # MXCSR bits: flush-to-zero (15) and denormals-are-zero (6)


def _mxcsr_intrinsic(name, sig):
    """An intrinsic calling ``llvm.x86.sse.{st,ld}mxcsr`` through a stack slot."""

    def codegen(context, builder, signature, args):
        slot = cgutils.alloca_once(builder, ir.IntType(32))
        if args:
            builder.store(args[0], slot)
        fnty = ir.FunctionType(ir.VoidType(), [ir.PointerType(ir.IntType(8))])
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        builder.call(fn, [builder.bitcast(slot, ir.PointerType(ir.IntType(8)))])
        return builder.load(slot) if not args else context.get_dummy_value()

    return sig, codegen


if _config.FLUSH_DENORMALS and not _config.JIT_DISABLED and platform.machine().lower() in {"x86_64", "amd64"}:

    @intrinsic
    def get_mxcsr(typingctx):
        """The MXCSR register (x86-64 SSE control and status), as uint32."""
        return _mxcsr_intrinsic("llvm.x86.sse.stmxcsr", types.uint32())

    @intrinsic
    def set_mxcsr(typingctx, value):
        """Load ``value`` (uint32) into MXCSR."""
        return _mxcsr_intrinsic("llvm.x86.sse.ldmxcsr", types.void(types.uint32))

else:

    @jit
    def get_mxcsr():
        """0: MXCSR is left alone (denormal flushing off, not x86-64, or no JIT)."""
        return np.uint32(0)

    @jit
    def set_mxcsr(value):
        """A no-op: see :func:`get_mxcsr`."""


@jit(inline="always")
def flush_denormals():
    """Set FTZ/DAZ (see ``_config.FLUSH_DENORMALS``); returns the state to restore.

    MXCSR is per thread: every kernel that runs on a thread sets and restores it.
    """
    old = get_mxcsr()
    set_mxcsr(old | _FTZ_DAZ)
    return old


if not _config.JIT_DISABLED:

    @intrinsic
    def prefetch(typingctx, arr, index):
        """Hint the CPU to fetch the cache line of ``arr.ravel()[index]`` (``llvm.prefetch``)."""
        if not (isinstance(arr, types.Array) and integers(index)):
            return None

        def codegen(context, builder, signature, args):
            arrty = signature.args[0]
            index = widened(context, builder, signature, args)[1]
            ptr = builder.bitcast(data_pointer(context, builder, arrty, args[0], index), ir.PointerType(ir.IntType(8)))
            fnty = ir.FunctionType(ir.VoidType(), [ptr.type, I32, I32, I32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            # read, keep in all cache levels, data cache
            builder.call(fn, [ptr, ir.Constant(I32, 0), ir.Constant(I32, 3), ir.Constant(I32, 1)])
            return context.get_dummy_value()

        return types.void(arr, index), codegen

else:

    def prefetch(arr, index):
        """A no-op without the JIT."""
