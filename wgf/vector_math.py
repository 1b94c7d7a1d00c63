"""A vectorisable exp for numba loops (no SVML needed).

``fast_exp(u)`` is exp(u) with the argument clamped to [-708, 709]:

    exp(u) = 2^k exp(r),  k = round(u / ln 2),  r = u - k ln 2 (Cody-Waite, two-part ln 2),
    |r| <= ln(2) / 2,  exp(r) by its degree-12 Taylor polynomial,

and 2^k built from its IEEE bits (an LLVM bitcast).  It is inlined and has no calls
and no branches, so LLVM vectorises the loops that use it (AVX2 / AVX-512) where
libm's scalar exp would not be (numba has no SVML here).  Accuracy: a few ulp
(relative error below 1e-15 over the range, tested against numpy; under fast-math
reassociation the two parts of ln 2 may merge, and the error grows to |k| ulp(ln 2), 1e-13 at
|u| = 700).  Below the
range the result is exp(-708) ~ 3e-308 instead of a subnormal or 0; above it,
exp(709) ~ 8e307 instead of inf.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from wgf.jit import jit

__all__ = ["fast_exp", "fast_log", "fast_log1p", "cos_sin_turn", "EXP_MIN", "EXP_MAX"]

LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
EXP_MIN = -708.0
EXP_MAX = 709.0


@intrinsic
def _bits_from_double(typingctx, x):
    """The int64 holding the IEEE-754 bits of the float64 ``x`` (an LLVM bitcast)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


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
_bits_from_double._set_uuid("wgf-intrinsic-bits-from-double-v1")

SQRT2 = 1.4142135623730951
# for an integer-valued float k with |k| < 2^51, bits(k + 1.5 2^52) = ROUND_SHIFT_BITS + k: the integer k
# without cvttsd2si, which AVX2 cannot vectorise (and exact under any fast-math flags: one addition)
ROUND_SHIFT = 6755399441055744.0
ROUND_SHIFT_BITS = 0x4338000000000000
# the float64 2^52 + e for the biased exponent e in the low bits: bits(2^52) = EXP_SHIFT_BITS
EXP_SHIFT = 4503599627370496.0
EXP_SHIFT_BITS = 0x4330000000000000
TWO_PI_HI = 6.28318530717958623200e+00
TWO_PI_LO = 2.44929359829470635445e-16


@jit(inline="always")
def fast_exp(u):
    """exp(clip(u, EXP_MIN, EXP_MAX)) (module docstring); a scalar that vectorises inside loops."""
    v = min(max(u, EXP_MIN), EXP_MAX)
    kf = np.floor(v * LOG2E + 0.5)  # k = round(v / ln 2)
    r = v - kf * LN2_HI - kf * LN2_LO
    # degree-12 Taylor polynomial of exp(r) by Estrin's scheme (short dependency chains)
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    p01 = 1.0 + r
    p23 = 1.0 / 2 + r * (1.0 / 6)
    p45 = 1.0 / 24 + r * (1.0 / 120)
    p67 = 1.0 / 720 + r * (1.0 / 5040)
    p89 = 1.0 / 40320 + r * (1.0 / 362880)
    pab = 1.0 / 3628800 + r * (1.0 / 39916800)
    p = (p01 + r2 * p23) + r4 * (p45 + r2 * p67) + r8 * ((p89 + r2 * pab) + r4 * (1.0 / 479001600))
    return p * _double_from_bits((_bits_from_double(kf + ROUND_SHIFT) - ROUND_SHIFT_BITS + 1023) << 52)


@jit(inline="always")
def fast_log(x):
    """log(x) for a normal, finite x > 0 (a few ulp); vectorises like ``fast_exp``.

    x = 2^e m with m in [sqrt(2)/2, sqrt(2)) from the IEEE bits, f = m - 1, s = f / (2 + f),
    log(m) = 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ... + s^22/23) (|s| <= 0.172, so the
    truncation is below 1e-18), log(x) = e ln 2 + log(m) with ln 2 in two parts.
    """
    bits = _bits_from_double(x)
    ef = _double_from_bits(EXP_SHIFT_BITS | (bits >> 52)) - (EXP_SHIFT + 1023.0)  # the exponent e as a float
    m = _double_from_bits((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = m > SQRT2
    m = 0.5 * m if big else m
    ef = ef + 1.0 if big else ef
    f = m - 1.0
    s = f / (2.0 + f)
    t = s * s
    p = 1.0 + t * (1.0 / 3 + t * (1.0 / 5 + t * (1.0 / 7 + t * (1.0 / 9 + t * (1.0 / 11 + t * (
        1.0 / 13 + t * (1.0 / 15 + t * (1.0 / 17 + t * (1.0 / 19 + t * (1.0 / 21 + t * (1.0 / 23)))))))))))
    return ef * LN2_HI + (2.0 * s * p + ef * LN2_LO)


@jit(inline="always")
def fast_log1p(x):
    """log(1 + x) for x >= 0 (a few ulp, also for tiny x); vectorises like ``fast_exp``.

    With w = fl(1 + x): log1p(x) = log(w) x / (w - 1), which cancels the rounding of
    1 + x (Goldberg's formula); x itself when w = 1.
    """
    w = 1.0 + x
    d = w - 1.0
    return x if d == 0.0 else fast_log(w) * (x / d)


@jit(inline="always")
def cos_sin_turn(u):
    """(cos 2 pi u, sin 2 pi u) for 0 <= u <= 1 (a few ulp); vectorises like ``fast_exp``.

    The quarter turn q = round(4 u) is split off exactly (v = u - q/4 in [-1/8, 1/8]),
    r = 2 pi v in [-pi/4, pi/4] with 2 pi in two parts, and sin r, cos r are their
    Taylor polynomials to degree 21 and 22 (truncation below 1e-19); the quadrant
    q mod 4 rotates the pair.
    """
    qf = np.floor(4.0 * u + 0.5)
    v = u - 0.25 * qf
    r = v * TWO_PI_HI + v * TWO_PI_LO
    t = r * r
    sn = r * (1.0 - t / 6 * (1.0 - t / 20 * (1.0 - t / 42 * (1.0 - t / 72 * (1.0 - t / 110 * (1.0 - t / 156 * (
        1.0 - t / 210 * (1.0 - t / 272 * (1.0 - t / 342 * (1.0 - t / 420))))))))))
    cs = 1.0 - t / 2 * (1.0 - t / 12 * (1.0 - t / 30 * (1.0 - t / 56 * (1.0 - t / 90 * (1.0 - t / 132 * (
        1.0 - t / 182 * (1.0 - t / 240 * (1.0 - t / 306 * (1.0 - t / 380 * (1.0 - t / 462))))))))))
    # rotate (cs, sn) by the quadrant q = round(4 u) mod 4 with bit operations (no branches):
    # q odd swaps the pair; the cosine is negated for q = 1, 2 and the sine for q = 2, 3
    q = _bits_from_double(qf + ROUND_SHIFT)
    swap = -(q & 1)  # all ones if q is odd
    bc, bs = _bits_from_double(cs), _bits_from_double(sn)
    c = _double_from_bits(((bc & ~swap) | (bs & swap)) ^ ((((q + 1) >> 1) & 1) << 63))
    s = _double_from_bits(((bs & ~swap) | (bc & swap)) ^ (((q >> 1) & 1) << 63))
    return c, s
