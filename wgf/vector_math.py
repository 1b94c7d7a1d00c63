"""A vectorisable exp for numba loops (no SVML needed).

``fast_exp(u)`` is exp(u) with the argument clamped to [-708, 709]:

    exp(u) = 2^k exp(r),  k = round(u / ln 2),  r = u - k ln 2 (Cody-Waite, two-part ln 2),
    |r| <= ln(2) / 2,  exp(r) by its degree-12 Taylor polynomial,

and 2^k built from its IEEE bits (an LLVM bitcast).  It is inlined and has no calls
and no branches, so LLVM vectorises the loops that use it (AVX2 / AVX-512) where
libm's scalar exp would not be (numba has no SVML here).  Accuracy: a few ulp
(relative error below 1e-15 over the range, tested against numpy).  Below the
range the result is exp(-708) ~ 3e-308 instead of a subnormal or 0; above it,
exp(709) ~ 8e307 instead of inf.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .jit import jit

__all__ = ["fast_exp", "EXP_MIN", "EXP_MAX"]

LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
EXP_MIN = -708.0
EXP_MAX = 709.0


@intrinsic
def _double_from_bits(typingctx, bits):
    """The float64 whose IEEE-754 bits are the int64 ``bits`` (an LLVM bitcast)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


# a code-derived identity, so that kernels that use fast_exp have stable cache keys (wgf.jit)
_double_from_bits._set_uuid("wgf-intrinsic-double-from-bits-v1")


@jit(inline="always")
def fast_exp(u):
    """exp(clip(u, EXP_MIN, EXP_MAX)) (module docstring); a scalar that vectorises inside loops."""
    v = min(max(u, EXP_MIN), EXP_MAX)
    kf = np.floor(v * LOG2E + 0.5)
    r = v - kf * LN2_HI - kf * LN2_LO
    p = 1.0 + r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (
        1.0 / 120 + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (
            1.0 / 362880 + r * (1.0 / 3628800 + r * (1.0 / 39916800 + r * (
                1.0 / 479001600))))))))))))
    return p * _double_from_bits((np.int64(kf) + 1023) << 52)
