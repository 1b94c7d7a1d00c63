"""Tests for wgf.particles.rng (counter-based Philox4x32-10 generator)."""

import math
import time

import numba
import numpy as np
import pytest
from scipy import stats

from wgf.particles.rng import (
    fill_normal,
    fill_uniform,
    normal_pair,
    philox4x32,
    random_index,
    uniform_pair,
)
from wgf.particles.rng import _words_to_u01

N_DRAWS = 10**6
SEED = 20240917


# ---------------------------------------------------------------------------
# Known-answer tests
# ---------------------------------------------------------------------------

# Random123 tests/kat_vectors, the three "philox4x32 10" lines
# (fields: CTR[4] KEY[2]   EXPECTED[4], hex):
#   philox4x32 10 00000000 00000000 00000000 00000000 00000000 00000000   6627e8d5 e169c58d bc57ac4c 9b00dbd8
#   philox4x32 10 ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff   408f276d 41c83b0e a20bc7c6 6d5451fd
#   philox4x32 10 243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0   d16cfe09 94fdcceb 5001e420 24126ea1
KAT_PHILOX4X32_10 = [
    (
        (0x00000000, 0x00000000, 0x00000000, 0x00000000),
        (0x00000000, 0x00000000),
        (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8),
    ),
    (
        (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF),
        (0xFFFFFFFF, 0xFFFFFFFF),
        (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD),
    ),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize("ctr,key,expected", KAT_PHILOX4X32_10)
def test_philox4x32_known_answers(ctr, key, expected):
    out = philox4x32(*ctr, *key)
    assert len(out) == 4
    assert tuple(int(x) for x in out) == expected


def _philox_reference(ctr, key, rounds=10):
    """Independent pure-Python Philox4x32 (exact integers)."""
    m = 0xFFFFFFFF
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0 = (k0 + 0x9E3779B9) & m
            k1 = (k1 + 0xBB67AE85) & m
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & m, (p0 >> 32) ^ c3 ^ k1, p0 & m
    return c0, c1, c2, c3


def test_reference_implementation_matches_kats():
    # guards the reference used below
    for ctr, key, expected in KAT_PHILOX4X32_10:
        assert _philox_reference(ctr, key) == expected


def test_philox4x32_matches_reference_on_random_inputs():
    rs = np.random.default_rng(1)
    words = rs.integers(0, 2**32, size=(200, 6), dtype=np.uint64)
    for w in words:
        w = [int(x) for x in w]
        got = tuple(int(x) for x in philox4x32(*w))
        assert got == _philox_reference(tuple(w[:4]), tuple(w[4:]))


def _u01_reference(a, b):
    k = (a >> 5) * 2**26 + (b >> 6)
    return k * 2.0**-53 if k else 2.0**-54


@pytest.mark.parametrize(
    "seed,stream,i,j",
    [(0, 0, 0, 0), (SEED, 3, 17, 5), (2**40 + 7, 2**32 - 1, 2**33 + 1, 2**32 - 1), (5, 1, -1, 0)],
)
def test_uniform_pair_counter_layout(seed, stream, i, j):
    """Pins the documented layout: key=(seed lo, seed hi), ctr=(i lo, i hi, j, stream)."""
    m = 0xFFFFFFFF
    ctr = (i & m, (i >> 32) & m, j & m, stream & m)
    key = (seed & m, (seed >> 32) & m)
    x = _philox_reference(ctr, key)
    expected = (_u01_reference(x[0], x[1]), _u01_reference(x[2], x[3]))
    assert uniform_pair(seed, stream, i, j) == expected


def test_word_to_float_conversion_endpoints():
    assert _words_to_u01(0, 0) == 2.0**-54
    assert _words_to_u01(0, 0x3F) == 2.0**-54  # low 6 bits of b are dropped
    assert _words_to_u01(0, 0x40) == 2.0**-53
    assert _words_to_u01(0xFFFFFFFF, 0xFFFFFFFF) == 1.0 - 2.0**-53
    assert 0.0 < _words_to_u01(0, 0) < _words_to_u01(0xFFFFFFFF, 0xFFFFFFFF) < 1.0


# ---------------------------------------------------------------------------
# Determinism and distinctness
# ---------------------------------------------------------------------------


def test_same_inputs_same_outputs():
    assert uniform_pair(SEED, 1, 2, 3) == uniform_pair(SEED, 1, 2, 3)
    assert normal_pair(SEED, 1, 2, 3) == normal_pair(SEED, 1, 2, 3)
    assert random_index(SEED, 1, 2, 3, 1000) == random_index(SEED, 1, 2, 3, 1000)
    a = np.empty(1001)
    b = np.empty(1001)
    fill_normal(SEED, 4, 9, a)
    fill_normal(SEED, 4, 9, b)
    assert np.array_equal(a, b)
    fill_uniform(SEED, 4, 9, a)
    fill_uniform(SEED, 4, 9, b)
    assert np.array_equal(a, b)


def test_different_inputs_different_outputs():
    base = uniform_pair(SEED, 1, 2, 3)
    for args in [
        (SEED + 1, 1, 2, 3),
        (SEED + 2**32, 1, 2, 3),  # high word of the seed matters
        (SEED, 0, 2, 3),
        (SEED, 1, 1, 3),
        (SEED, 1, 2 + 2**32, 3),  # high word of i matters
        (SEED, 1, 2, 4),
    ]:
        other = uniform_pair(*args)
        assert other[0] != base[0] and other[1] != base[1], args


def test_no_collisions_between_streams_i_j():
    vals = set()
    grid_i = [0, 1, 2, 2**32 - 1, 2**32, 2**32 + 1, 2**62]
    grid = [0, 1, 2, 3, 2**31, 2**32 - 1]
    count = 0
    for s in grid:
        for i in grid_i:
            for j in grid:
                vals.add(uniform_pair(SEED, s, i, j))
                count += 1
    assert len(vals) == count


def test_fill_matches_pairs_and_is_prefix_stable():
    n = 11
    z = np.empty(n)
    fill_normal(SEED, 2, 5, z)
    for p in range(n // 2):
        assert (z[2 * p], z[2 * p + 1]) == normal_pair(SEED, 2, 5, p)
    assert z[n - 1] == normal_pair(SEED, 2, 5, n // 2)[0]
    longer = np.empty(n + 1)
    fill_normal(SEED, 2, 5, longer)
    assert np.array_equal(longer[:n], z)

    u = np.empty(n)
    fill_uniform(SEED, 2, 5, u)
    for p in range(n // 2):
        assert (u[2 * p], u[2 * p + 1]) == uniform_pair(SEED, 2, 5, p)
    assert u[n - 1] == uniform_pair(SEED, 2, 5, n // 2)[0]

    empty = np.empty(0)
    fill_normal(SEED, 2, 5, empty)
    fill_uniform(SEED, 2, 5, empty)


@numba.njit(parallel=True)
def _parallel_noise(seed, stream, i, n_particles, dim):
    out = np.empty((n_particles, dim))
    for p in numba.prange(n_particles):
        for d in range(dim):
            z1, z2 = normal_pair(seed, stream, i, p * dim + d)
            out[p, d] = z1 + random_index(seed, stream + 1, i, p * dim + d, 7)
    return out


def test_independent_of_thread_count():
    max_threads = numba.config.NUMBA_NUM_THREADS
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        ref = _parallel_noise(SEED, 0, 3, 1000, 5)
        numba.set_num_threads(max_threads)
        par = _parallel_noise(SEED, 0, 3, 1000, 5)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(ref, par)


# ---------------------------------------------------------------------------
# Statistical sanity (fixed seeds: deterministic, tolerances of 5 sigma)
# ---------------------------------------------------------------------------


def _check_standard_normal(z):
    n = z.size
    mean = z.mean()
    var = z.var(ddof=1)
    se_mean = 1.0 / math.sqrt(n)
    se_var = math.sqrt(2.0 / (n - 1))  # exact sd of the sample variance for N(0,1)
    assert abs(mean) < 5 * se_mean, (mean, se_mean)
    assert abs(var - 1.0) < 5 * se_var, (var, se_var)
    p = stats.kstest(z, "norm").pvalue
    assert p > 1e-4, p


def _check_standard_uniform(u):
    n = u.size
    assert u.min() > 0.0 and u.max() < 1.0
    mean = u.mean()
    var = u.var(ddof=1)
    se_mean = math.sqrt(1.0 / 12.0 / n)
    se_var = math.sqrt((1.0 / 80.0 - 1.0 / 144.0) / n)  # (mu4 - sigma^4) / n
    assert abs(mean - 0.5) < 5 * se_mean, (mean, se_mean)
    assert abs(var - 1.0 / 12.0) < 5 * se_var, (var, se_var)
    p = stats.kstest(u, "uniform").pvalue
    assert p > 1e-4, p


def _check_uncorrelated(x, y):
    r = np.corrcoef(x, y)[0, 1]
    assert abs(r) < 5.0 / math.sqrt(x.size), r


@pytest.fixture(scope="module")
def normals():
    z = np.empty(N_DRAWS)
    fill_normal(SEED, 0, 0, z)
    return z


@pytest.fixture(scope="module")
def uniforms():
    u = np.empty(N_DRAWS)
    fill_uniform(SEED, 0, 0, u)
    return u


def test_normal_moments_and_ks(normals):
    _check_standard_normal(normals)


def test_uniform_range_moments_and_ks(uniforms):
    _check_standard_uniform(uniforms)


def test_pair_members_independent(normals, uniforms):
    _check_uncorrelated(normals[0::2], normals[1::2])
    _check_uncorrelated(uniforms[0::2], uniforms[1::2])
    # also squares (Box-Muller members share the radius): corr(z1^2, z2^2) = 0
    _check_uncorrelated(normals[0::2] ** 2, normals[1::2] ** 2)
    # neighbouring counters j, j+1
    _check_uncorrelated(normals[0:-2:2], normals[2::2])


def test_streams_and_steps_uncorrelated(normals):
    z_stream = np.empty(N_DRAWS)
    fill_normal(SEED, 1, 0, z_stream)
    z_step = np.empty(N_DRAWS)
    fill_normal(SEED, 0, 1, z_step)
    z_seed = np.empty(N_DRAWS)
    fill_normal(SEED + 1, 0, 0, z_seed)
    for other in (z_stream, z_step, z_seed):
        _check_standard_normal(other)
        _check_uncorrelated(normals, other)


def test_normals_across_steps_first_coordinate():
    # one draw per step i (as a particle kernel would use it)
    z = np.array([normal_pair(SEED, 7, i, 0)[0] for i in range(20000)])
    _check_standard_normal(z)


@pytest.mark.parametrize(
    "bad",
    [
        lambda z: z + 0.01,  # biased mean: 10 standard errors at n = 1e6
        lambda z: 1.01 * z,  # inflated variance: ~14 standard errors
        lambda z: np.sign(z) * np.abs(z) ** 1.02,  # wrong shape
    ],
)
def test_normal_checks_have_power(normals, bad):
    with pytest.raises(AssertionError):
        _check_standard_normal(bad(normals))


def test_uniform_and_correlation_checks_have_power(uniforms):
    with pytest.raises(AssertionError):
        _check_standard_uniform(uniforms**1.01)
    x = uniforms[0::2]
    with pytest.raises(AssertionError):
        _check_uncorrelated(x, x + 3.0 * uniforms[1::2])


# ---------------------------------------------------------------------------
# random_index
# ---------------------------------------------------------------------------


@numba.njit
def _many_indices(seed, stream, i, m, n):
    out = np.empty(m, dtype=np.int64)
    for j in range(m):
        out[j] = random_index(seed, stream, i, j, n)
    return out


@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_random_index_range_and_coverage(n):
    m = 200_000
    idx = _many_indices(SEED, 5, 0, m, n)
    assert idx.min() >= 0 and idx.max() < n
    counts = np.bincount(idx, minlength=n)
    assert counts.size == n and np.all(counts > 0)
    if n > 1:
        p = stats.chisquare(counts).pvalue
        assert p > 1e-4, p


def test_random_index_large_n_in_range():
    n = 2**52 + 3
    idx = _many_indices(SEED, 6, 0, 10_000, n)
    assert idx.min() >= 0 and idx.max() < n
    assert np.unique(idx).size == idx.size


def test_random_index_rejects_empty_range():
    with pytest.raises(ValueError):
        random_index(SEED, 0, 0, 0, 0)


# ---------------------------------------------------------------------------
# Throughput (printed, not asserted; run with -s to see)
# ---------------------------------------------------------------------------


def test_print_throughput():
    n = 10**6
    out = np.empty(n)
    fill_normal(SEED, 0, 0, out)  # warm-up / JIT
    gen = np.random.default_rng(0)
    gen.standard_normal(n)

    def best(f, reps=5):
        t = []
        for _ in range(reps):
            t0 = time.perf_counter()
            f()
            t.append(time.perf_counter() - t0)
        return min(t)

    t_philox = best(lambda: fill_normal(SEED, 0, 0, out))
    t_numpy = best(lambda: gen.standard_normal(n))
    print(
        f"\nfill_normal (Philox4x32-10 + Box-Muller): {n / t_philox / 1e6:.1f} M normals/s"
        f"\nnumpy default_rng().standard_normal:      {n / t_numpy / 1e6:.1f} M normals/s"
    )
