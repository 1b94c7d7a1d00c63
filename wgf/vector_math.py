"""A vectorisable exp for numba loops (no SVML needed).

``exp_inplace(u, length, kbuf, sbuf, sbits)`` replaces u[:length] by exp(u[:length])
with the argument clamped to [-708, 709]:

    exp(u) = 2^k exp(r),  k = round(u / ln 2),  r = u - k ln 2 (Cody-Waite, two-part ln 2),
    |r| <= ln(2) / 2,  exp(r) by its degree-12 Taylor polynomial,

and 2^k built from its IEEE bits (``sbits`` is an int64 view of ``sbuf``).  The loops
have no calls and no branches, so LLVM vectorises them (AVX2 / AVX-512) where libm's
scalar exp would not be.  Accuracy: a few ulp (relative error below 1e-15 over the
range, tested against numpy).  Below the range the result is exp(-708) ~ 3e-308 instead
of a subnormal or 0; above it, exp(709) ~ 8e307 instead of inf.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["exp_inplace", "exp_buffers", "EXP_MIN", "EXP_MAX"]

LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
EXP_MIN = -708.0
EXP_MAX = 709.0


@njit(cache=True)
def exp_buffers(length):
    """Work buffers (kbuf, sbuf, sbits) for ``exp_inplace`` on up to ``length`` values."""
    kbuf = np.empty(length)
    sbuf = np.empty(length)
    return kbuf, sbuf, sbuf.view(np.int64)


@njit(cache=True, inline="always")
def exp_inplace(u, length, kbuf, sbuf, sbits):
    """u[:length] <- exp(clip(u[:length], EXP_MIN, EXP_MAX)), vectorisable (module docstring)."""
    for j in range(length):
        v = min(max(u[j], EXP_MIN), EXP_MAX)
        u[j] = v
        kf = np.floor(v * LOG2E + 0.5)
        kbuf[j] = kf
        sbits[j] = (np.int64(kf) + 1023) << 52
    for j in range(length):
        kf = kbuf[j]
        r = u[j] - kf * LN2_HI - kf * LN2_LO
        p = 1.0 + r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (
            1.0 / 120 + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (
                1.0 / 362880 + r * (1.0 / 3628800 + r * (1.0 / 39916800 + r * (
                    1.0 / 479001600))))))))))))
        u[j] = p * sbuf[j]
