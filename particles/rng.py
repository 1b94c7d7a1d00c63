"""Counter-based random numbers for numba kernels (Philox4x32-10).

Every number produced here is a *pure function* of its arguments
``(seed, stream, i, j)``: there is no generator state, no global mutable
state, and nothing depends on which thread evaluates it or in which order.
A particle kernel run under ``numba.prange`` therefore yields bitwise the
same trajectory for any number of threads.

The bit generator is Philox4x32 with 10 rounds (Salmon, Moraes, Dror, Shaw,
"Parallel random numbers: as easy as 1, 2, 3", SC'11; the Random123 library),
with the standard constants M0=0xD2511F53, M1=0xCD9E8D57, W0=0x9E3779B9,
W1=0xBB67AE85.  :func:`philox4x32` reproduces the Random123 known-answer
vectors (``tests/kat_vectors``, lines ``philox4x32 10 ...``).

Key and counter layout
----------------------
For ``uniform_pair(seed, stream, i, j)`` (and everything built on it) one
Philox block is evaluated with::

    key     = (k0, k1) = (seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF)
    counter = (c0, c1, c2, c3) = (i & 0xFFFFFFFF,        # i, low word
                                  (i >> 32) & 0xFFFFFFFF, # i, high word
                                  j & 0xFFFFFFFF,
                                  stream & 0xFFFFFFFF)

* ``seed`` is a nonnegative int64; both its words enter the key.
* ``i`` may be any int64 (its full 64 bits are in the counter), typically the
  iteration / time-step number.
* ``j`` and ``stream`` are taken modulo 2**32.

Hence for a fixed seed, distinct triples ``(stream, i, j)`` with
``0 <= stream < 2**32``, ``0 <= j < 2**32`` and any int64 ``i`` give distinct
counters, and since Philox is a bijection of the counter for a fixed key,
distinct 128-bit outputs.  Values of ``stream`` or ``j`` outside
``[0, 2**32)`` are silently reduced modulo 2**32 and *do* collide with their
residues; callers must keep them in range (no check is done in the hot path).

``uniform_pair``, ``normal_pair`` and ``random_index`` evaluated at the same
``(seed, stream, i, j)`` use the *same* Philox block, so they are not
independent of each other: use a different ``stream`` for every distinct
purpose (e.g. stream 0 = noise on particle positions, stream 1 = minibatch
indices, ...).

Conversion to floats
--------------------
From the four output words ``(x0, x1, x2, x3)`` two 53-bit integers are formed,
``k = (a >> 5) * 2**26 + (b >> 6)`` with ``(a, b) = (x0, x1)`` for the first
uniform and ``(x2, x3)`` for the second (the same construction as numpy's
``random_standard_uniform``), and mapped to ``u = k * 2**-53``, except that
``k = 0`` maps to ``2**-54``.  So ``u`` is exactly uniform on the grid
``{1, ..., 2**53 - 1} * 2**-53`` plus the point ``2**-54`` (probability
``2**-53``), and always lies in the open interval ``(0, 1)``:
``2**-54 <= u <= 1 - 2**-53``.

Normals use Box-Muller on the two uniforms of one block, with the branch-free
``fast_log`` and ``cos_sin_turn`` of ``wgf.vector_math`` (a few ulp) and
``math.sqrt``, so that a loop drawing normals for many particles compiles to
SIMD code.

Compilation
-----------
The scalar pieces (the Philox block, the conversions, Box-Muller) are inlined
(numba IR) into this module's functions only. Every public function is compiled
once, with the flags ``FLAGS``, and called (not inlined) by the kernels: a
Philox block inlined at every call site made up most of a step loop's compile
time. A kernel that draws a normal per lane calls ``normal_lanes``, whose loop
compiles to SIMD code. So every normal is bitwise the same whoever draws it
(``normal_pair``, ``fill_normal_at``, ``normal_lanes``), for any number of threads.
"""

import math

import numpy as np
from wgf.jit import KERNEL_OPTIONS, jit as njit
from wgf.vector_math import cos_sin_turn, fast_log

__all__ = [
    "philox4x32",
    "uniform_pair",
    "normal_pair",
    "fill_normal",
    "fill_uniform",
    "random_index",
    "normal_lanes",
    "FLAGS",
]

# the flags of every public function (and so of every number drawn): one set, whoever calls them
FLAGS = dict(cache=True, **KERNEL_OPTIONS)
_INLINE = dict(cache=True, inline="always")

# All arithmetic is done on uint64 with explicit uint64 constants: in numba,
# mixing uint64 with int64 promotes to float64, which would silently break
# the integer arithmetic.
_MASK32 = np.uint64(0xFFFFFFFF)
_SH32 = np.uint64(32)
_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)

_SH5 = np.uint64(5)
_SH6 = np.uint64(6)
_TWO26 = np.uint64(67108864)  # 2**26
_TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53
_TWO_M27 = 1.0 / 134217728.0  # 2**-27
_TWO_M54 = 0.5 * _TWO_M53  # 2**-54
_TWO_PI = 2.0 * math.pi


@njit(**_INLINE)
def _philox_u64(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 on uint64-held 32-bit words; returns four uint64 < 2**32."""
    c0 = np.uint64(c0) & _MASK32
    c1 = np.uint64(c1) & _MASK32
    c2 = np.uint64(c2) & _MASK32
    c3 = np.uint64(c3) & _MASK32
    k0 = np.uint64(k0) & _MASK32
    k1 = np.uint64(k1) & _MASK32
    for r in range(10):
        if r > 0:  # key bump between rounds (9 bumps for 10 rounds)
            k0 = (k0 + _W0) & _MASK32
            k1 = (k1 + _W1) & _MASK32
        p0 = _M0 * c0  # < 2**64, exact
        p1 = _M1 * c2
        n0 = (p1 >> _SH32) ^ c1 ^ k0
        n1 = p1 & _MASK32
        n2 = (p0 >> _SH32) ^ c3 ^ k1
        n3 = p0 & _MASK32
        c0, c1, c2, c3 = n0, n1, n2, n3
    return c0, c1, c2, c3


@njit(**FLAGS)
def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 block function (Random123 ``philox4x32_R(10, ctr, key)``).

    Parameters are the four 32-bit counter words ``c0..c3`` and the two
    32-bit key words ``k0, k1`` (any integers; only their low 32 bits are
    used).  Returns the tuple of the four 32-bit output words as
    ``numpy.uint32``.

    Each round maps ``(c0, c1, c2, c3)`` to
    ``(hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1, lo(M0*c0))``
    and the key is bumped by ``(W0, W1)`` (mod 2**32) between rounds.
    """
    x0, x1, x2, x3 = _philox_u64(c0, c1, c2, c3, k0, k1)
    return np.uint32(x0), np.uint32(x1), np.uint32(x2), np.uint32(x3)


@njit(**_INLINE)
def _words_to_u01(a, b):
    """Two 32-bit words -> float in (0, 1) from 53 bits (see module doc)."""
    # u = (hi 2**26 + lo) 2**-53 with hi < 2**27, lo < 2**26, converted as int32 (a SIMD instruction on AVX2):
    # both terms and their sum are exact
    hi = np.int32(np.uint64(a) >> _SH5)
    lo = np.int32(np.uint64(b) >> _SH6)
    u = np.float64(hi) * _TWO_M27 + np.float64(lo) * _TWO_M53
    return _TWO_M54 if u == 0.0 else u


@njit(**_INLINE)
def _block(seed, stream, i, j):
    """Philox output for (seed, stream, i, j) with the module's layout."""
    s = np.uint64(seed)
    ii = np.uint64(i)  # two's complement bits of an int64 i
    return _philox_u64(
        ii & _MASK32,
        (ii >> _SH32) & _MASK32,
        np.uint64(j) & _MASK32,
        np.uint64(stream) & _MASK32,
        s & _MASK32,
        (s >> _SH32) & _MASK32,
    )


@njit(**_INLINE)
def _uniform_pair(seed, stream, i, j):
    """Two independent uniforms in the open interval (0, 1).

    One Philox4x32-10 block with key ``(seed lo32, seed hi32)`` and counter
    ``(i lo32, i hi32, j, stream)``; the first uniform is built from output
    words ``(x0, x1)``, the second from ``(x2, x3)``, 53 bits each:
    ``u = ((a >> 5) * 2**26 + (b >> 6)) * 2**-53``, with 0 replaced by
    ``2**-54``.  Requires ``seed >= 0``, ``0 <= stream, j < 2**32``.
    """
    x0, x1, x2, x3 = _block(seed, stream, i, j)
    return _words_to_u01(x0, x1), _words_to_u01(x2, x3)


@njit(**_INLINE)
def _normal_pair(seed, stream, i, j):
    """Two independent standard normals from one Philox block.

    Box-Muller on ``(u1, u2) = uniform_pair(seed, stream, i, j)``:
    ``r = sqrt(-2 log u1)``, ``z1 = r cos(2 pi u2)``, ``z2 = r sin(2 pi u2)`` (log, cos and sin
    from ``wgf.vector_math``).
    Since ``u1 >= 2**-54``, ``|z| <= sqrt(108 log 2) ~ 8.65``.
    """
    u1, u2 = _uniform_pair(seed, stream, i, j)
    r = math.sqrt(-2.0 * fast_log(u1))
    c, s = cos_sin_turn(u2)
    return r * c, r * s


@njit(**FLAGS)
def uniform_pair(seed, stream, i, j):
    """Two independent uniforms in (0, 1) from the Philox block of (seed, stream, i, j) (module docstring)."""
    return _uniform_pair(seed, stream, i, j)


@njit(**FLAGS)
def normal_pair(seed, stream, i, j):
    """Two independent standard normals from the Philox block of (seed, stream, i, j): Box-Muller on
    ``uniform_pair`` (module docstring). Since ``u1 >= 2**-54``, ``|z| <= sqrt(108 log 2) ~ 8.65``."""
    return _normal_pair(seed, stream, i, j)


@njit(**FLAGS)
def normal_lanes(seed, stream, i, j0, stride, m, z1, z2):
    """``z1[l], z2[l] = normal_pair(seed, stream, i, j0 + l stride)`` for the lanes l < m, in place
    (z1, z2: 1D arrays of length >= m; a kernel's loop over particles, compiled to SIMD code)."""
    for lane in range(m):
        a, b = _normal_pair(seed, stream, i, j0 + lane * stride)
        z1[lane] = a
        z2[lane] = b


@njit(**FLAGS)
def fill_normal_at(seed, stream, i, j0, out):
    """Fill ``out`` with standard normals from the pairs ``j0, j0 + 1, ...``, in place.

    ``out[2p]`` and ``out[2p + 1]`` are the two members of
    ``normal_pair(seed, stream, i, j0 + p)``; if ``len(out)`` is odd the last
    entry is the first member of the pair ``j0 + len(out) // 2``.  So ``out[m]``
    is a pure function of ``(seed, stream, i, j0, m)`` and does not depend on
    ``len(out)`` (a longer array extends a shorter one).  Returns nothing.
    """
    n = out.shape[0]
    npairs = n // 2
    for p in range(npairs):
        z1, z2 = _normal_pair(seed, stream, i, j0 + p)
        out[2 * p] = z1
        out[2 * p + 1] = z2
    if n % 2 == 1:
        z1, z2 = _normal_pair(seed, stream, i, j0 + npairs)
        out[n - 1] = z1


@njit(**FLAGS)
def fill_normal(seed, stream, i, out):
    """``fill_normal_at(seed, stream, i, 0, out)``: ``out[m]`` depends on ``(seed, stream, i, m)`` only."""
    fill_normal_at(seed, stream, i, 0, out)


@njit(**FLAGS)
def fill_uniform(seed, stream, i, out):
    """Fill the 1D float64 array ``out`` with uniforms in (0, 1), in place.

    Same layout as :func:`fill_normal`: ``out[2p], out[2p + 1] =
    uniform_pair(seed, stream, i, p)``, odd tail from the first member of
    pair ``len(out) // 2``.  Returns nothing.
    """
    n = out.shape[0]
    npairs = n // 2
    for p in range(npairs):
        u1, u2 = _uniform_pair(seed, stream, i, p)
        out[2 * p] = u1
        out[2 * p + 1] = u2
    if n % 2 == 1:
        u1, u2 = _uniform_pair(seed, stream, i, npairs)
        out[n - 1] = u1


@njit(**FLAGS)
def random_index(seed, stream, i, j, n):
    """Integer in ``[0, n)``: ``min(floor(u * n), n - 1)``.

    ``u`` is the first member of ``uniform_pair(seed, stream, i, j)`` (53
    bits).  Each index has probability within ``2**-53`` of ``1/n``
    (relative bias at most ``n * 2**-53``; negligible for ``n`` far below
    ``2**53``).  The clamp only guards against floating-point rounding of
    ``u * n``.  Raises ``ValueError`` if ``n < 1``.
    """
    if n < 1:
        raise ValueError("random_index: n must be >= 1")
    u1, u2 = _uniform_pair(seed, stream, i, j)
    k = np.int64(math.floor(u1 * n))
    if k > n - 1:
        k = n - 1
    return k
