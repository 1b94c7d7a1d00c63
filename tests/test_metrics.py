"""MMD, energy distance, sliced W2 and moment errors between weighted clouds (docs/theory.md §6)."""

import numba
import numpy as np
import pytest
from scipy.spatial.distance import cdist

from wgf.validation import energy, mmd, moments, sliced_directions, sliced_w2, w2
from wgf.validation.metrics import _double_sum


def _cloud(seed, n, dim, shift=0.0, weighted=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)) + shift
    w = rng.uniform(0.1, 1.0, size=n) if weighted else None
    return x, (None if w is None else w / w.sum())


def _uniform(n):
    return np.full(n, 1.0 / n)


# ---------------------------------------------------------------- direct NumPy references


def _mmd_numpy(x, y, h, a, b):
    k = lambda p, q: np.exp(-cdist(p, q, "sqeuclidean") / (2 * h * h))  # noqa: E731
    sq = a @ k(x, x) @ a + b @ k(y, y) @ b - 2 * a @ k(x, y) @ b
    return np.sqrt(max(sq, 0.0))


def _energy_numpy(x, y, a, b):
    sq = 2 * a @ cdist(x, y) @ b - a @ cdist(x, x) @ a - b @ cdist(y, y) @ b
    return np.sqrt(max(sq, 0.0))


def _w2sq_1d_numpy(p, a, q, b):
    """int_0^1 |F^-1 - G^-1|^2 through searchsorted on the union of breakpoints."""
    ip, iq = np.argsort(p, kind="stable"), np.argsort(q, kind="stable")
    p, a, q, b = p[ip], a[ip], q[iq], b[iq]
    ca, cb = np.cumsum(a), np.cumsum(b)
    ca[-1] = cb[-1] = 1.0
    t = np.union1d(ca, cb)
    dt = np.diff(np.concatenate([[0.0], t]))
    mid = t - dt / 2
    fp = p[np.minimum(np.searchsorted(ca, mid), len(p) - 1)]
    fq = q[np.minimum(np.searchsorted(cb, mid), len(q) - 1)]
    return float(np.sum(dt * (fp - fq) ** 2))


# ---------------------------------------------------------------- MMD and energy


@pytest.mark.parametrize("weighted", [False, True])
def test_mmd_and_energy_of_a_cloud_with_itself_vanish(weighted):
    x, a = _cloud(0, 300, 3, weighted=weighted)
    assert mmd(x, x, bandwidth=0.7, x_weights=a, y_weights=a) == pytest.approx(0.0, abs=1e-12)
    assert energy(x, x, x_weights=a, y_weights=a) == pytest.approx(0.0, abs=1e-12)


def test_mmd_and_energy_are_symmetric_and_positive():
    x, a = _cloud(1, 150, 2, weighted=True)
    y, b = _cloud(2, 90, 2, shift=0.4)
    d = mmd(x, y, bandwidth=1.3, x_weights=a, y_weights=b)
    assert d > 0.05
    assert mmd(y, x, bandwidth=1.3, x_weights=b, y_weights=a) == pytest.approx(d, abs=1e-12)
    e = energy(x, y, x_weights=a)
    assert e > 0.05
    assert energy(y, x, y_weights=a) == pytest.approx(e, abs=1e-12)


@pytest.mark.parametrize("h", [0.3, 1.0, 4.0])
def test_two_diracs_closed_forms(h):
    p, q = np.array([[0.2, -1.0, 0.5]]), np.array([[1.1, 0.3, -0.4]])
    r2 = float(np.sum((p - q) ** 2))
    # MMD(delta_p, delta_q)^2 = k(p,p) + k(q,q) - 2 k(p,q) = 2 - 2 exp(-|p-q|^2 / (2 h^2))
    assert mmd(p, q, bandwidth=h) ** 2 == pytest.approx(2 - 2 * np.exp(-r2 / (2 * h * h)), rel=1e-13)
    # E(delta_p, delta_q)^2 = 2 |p - q|
    assert energy(p, q) == pytest.approx(np.sqrt(2 * np.sqrt(r2)), rel=1e-13)
    # a Dirac given as repeated points is the same measure
    assert mmd(np.repeat(p, 5, 0), q, bandwidth=h) == pytest.approx(mmd(p, q, bandwidth=h), rel=1e-12)


def test_weighted_clouds_equal_clouds_with_duplicated_points():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(30, 2)) + 0.5
    cx, cy = rng.integers(1, 5, size=40), rng.integers(1, 5, size=30)
    a, b = cx / cx.sum(), cy / cy.sum()
    xd, yd = np.repeat(x, cx, 0), np.repeat(y, cy, 0)
    assert mmd(x, y, bandwidth=0.8, x_weights=a, y_weights=b) == pytest.approx(mmd(xd, yd, bandwidth=0.8), abs=1e-12)
    assert energy(x, y, x_weights=a, y_weights=b) == pytest.approx(energy(xd, yd), abs=1e-12)
    assert sliced_w2(x, y, x_weights=a, y_weights=b) == pytest.approx(sliced_w2(xd, yd), abs=1e-12)
    mw, md = moments(x, y, x_weights=a, y_weights=b), moments(xd, yd)
    assert mw["mean_error"] == pytest.approx(md["mean_error"], abs=1e-12)
    assert mw["cov_error"] == pytest.approx(md["cov_error"], abs=1e-12)


@pytest.mark.parametrize("n,m,dim", [(1, 1, 1), (70, 600, 2), (257, 129, 5)])
def test_blocked_numba_sums_equal_direct_numpy(n, m, dim):
    # sizes straddle the row chunk (64) and the column block (512)
    x, a = _cloud(4, n, dim, weighted=True)
    y, b = _cloud(5, m, dim, shift=0.3, weighted=True)
    a = _uniform(n) if a is None else a
    for h in (0.05, 0.9, 10.0):  # 0.05: many kernel values underflow towards exp(-708)
        s = 1 / (2 * h * h)
        assert _double_sum(x, a, y, b, 0, s) == pytest.approx(a @ np.exp(-s * cdist(x, y, "sqeuclidean")) @ b,
                                                             rel=1e-12, abs=1e-300)
        assert mmd(x, y, bandwidth=h, x_weights=a, y_weights=b) == pytest.approx(_mmd_numpy(x, y, h, a, b), abs=1e-12)
    assert _double_sum(x, a, y, b, 1) == pytest.approx(a @ cdist(x, y) @ b, rel=1e-12)
    assert energy(x, y, x_weights=a, y_weights=b) == pytest.approx(_energy_numpy(x, y, a, b), abs=1e-12)


def test_results_do_not_depend_on_the_thread_count():
    x, a = _cloud(6, 1000, 2, weighted=True)
    y, b = _cloud(7, 700, 2, shift=0.2)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            results.append((mmd(x, y, bandwidth=0.5, x_weights=a), energy(x, y, x_weights=a),
                            sliced_w2(x, y, n_directions=64, x_weights=a)))
    finally:
        numba.set_num_threads(before)
    assert results[0] == results[1]  # bitwise


# ---------------------------------------------------------------- sliced W2


@pytest.mark.parametrize("seed", range(4))
def test_sliced_w2_is_below_w2(seed):
    x, a = _cloud(seed, 60, 3, weighted=True)
    y, _ = _cloud(seed + 10, 45, 3, shift=[0.5, 0.0, -1.0])
    sw = sliced_w2(x, y, x_weights=a, n_directions=128, seed=seed)
    assert 0.1 < sw <= w2(x, y, x_weights=a) + 1e-12


def test_sliced_w2_of_1d_clouds_is_exact_w2():
    for seed in range(3):
        x, a = _cloud(seed, 37, 1, weighted=True)
        y, b = _cloud(seed + 20, 53, 1, shift=0.7, weighted=True)
        assert sliced_w2(x, y, x_weights=a, y_weights=b, n_directions=3) == pytest.approx(
            w2(x, y, x_weights=a, y_weights=b), abs=1e-10)


def test_sliced_w2_per_direction_equals_a_searchsorted_numpy_quantile_merge():
    x, a = _cloud(8, 120, 3, weighted=True)
    y, b = _cloud(9, 77, 3, shift=0.3, weighted=True)
    theta = sliced_directions(16, 3, seed=5)
    ref = np.mean([_w2sq_1d_numpy(x @ t, a, y @ t, b) for t in theta])
    assert sliced_w2(x, y, x_weights=a, y_weights=b, n_directions=16, seed=5) == pytest.approx(np.sqrt(ref), rel=1e-12)


def test_sliced_w2_of_a_shift():
    dim, n_dir = 3, 4096
    x, a = _cloud(11, 200, dim, weighted=True)
    v = np.array([0.6, -1.2, 0.9])
    # per direction W2 of the 1D projections is |<theta, v>|: exact for the drawn directions
    theta = sliced_directions(n_dir, dim, seed=2)
    cos2 = (theta @ v / np.linalg.norm(v)) ** 2
    sw = sliced_w2(x, x + v, x_weights=a, y_weights=a, n_directions=n_dir, seed=2)
    assert sw == pytest.approx(np.linalg.norm(v) * np.sqrt(cos2.mean()), rel=1e-10)
    # and mean cos^2 -> 1/D: for theta uniform on S^(D-1), Var cos^2 = 2 (D-1) / (D^2 (D+2)), so with
    # L directions the mean is 1/D within 5 standard deviations sqrt(Var / L) (= 0.023 for D=3, L=4096)
    tol = 5 * np.sqrt(2 * (dim - 1) / (dim**2 * (dim + 2)) / n_dir)
    assert abs(sw**2 / np.sum(v**2) - 1 / dim) < tol


# ---------------------------------------------------------------- moments


def test_moments_on_a_hand_example():
    x = np.array([[0.0, 0.0], [2.0, 0.0]])  # mean (1, 0), covariance diag(1, 0)
    y = np.array([[0.0, 1.0], [0.0, 3.0]])  # weights (1/4, 3/4): mean (0, 2.5), covariance diag(0, 3/4)
    m = moments(x, y, y_weights=[0.25, 0.75])
    assert m["mean_error"] == pytest.approx(np.sqrt(1 + 2.5**2), rel=1e-14)
    assert m["cov_error"] == pytest.approx(np.sqrt(1 + 0.75**2), rel=1e-14)
    assert moments(x, x) == {"mean_error": 0.0, "cov_error": 0.0}


def test_bad_input_is_refused():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="bandwidth"):
        mmd(x, x, bandwidth=0.0)
    with pytest.raises(ValueError, match="dimensions"):
        energy(x, np.zeros((3, 3)))


# ---------------------------------------------------------------- convergence rate


def _gaussian_grid(h_cells=49, half_width=6.0):
    """N(0, I_2) as a weighted 49^2 grid on [-6, 6]^2 (trapezoid-like, spectrally accurate here)."""
    g = np.linspace(-half_width, half_width, h_cells)
    z = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    w = np.exp(-0.5 * np.sum(z**2, 1))
    return z, w / w.sum()


def test_grid_reference_matches_the_closed_form_gaussian_mmd():
    # MMD^2(nu, N(0, I_D)) = E k(X, X') - 2 (h^2/(h^2+1))^(D/2) E exp(-|X|^2 / (2 (h^2+1))) + (h^2/(h^2+2))^(D/2)
    grid, wg = _gaussian_grid()
    x, _ = _cloud(12, 500, 2)
    h = 1.0
    closed = np.sqrt(np.exp(-cdist(x, x, "sqeuclidean") / (2 * h * h)).mean()
                     - 2 * h * h / (h * h + 1) * np.exp(-np.sum(x**2, 1) / (2 * (h * h + 1))).mean()
                     + h * h / (h * h + 2))
    assert mmd(x, grid, bandwidth=h, y_weights=wg) == pytest.approx(closed, abs=1e-8)


def test_mmd_of_iid_samples_decays_like_n_to_minus_half():
    # E MMD^2 = (1 - (h^2/(h^2+2))^(D/2)) / N for iid samples.  Measured over 200 seeds: a single-seed
    # slope has mean -0.495, sd 0.077; the mean of 8 seeds has sd 0.029 (range -0.55..-0.44 over
    # 25 groups), so [-0.65, -0.35] is about +-5 sd.  Seeds 0..7 give -0.499.
    grid, wg = _gaussian_grid()
    sizes = np.array([100, 400, 1600, 6400])
    slopes = []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        d = [mmd(rng.normal(size=(n, 2)), grid, bandwidth=1.0, y_weights=wg) for n in sizes]
        slopes.append(np.polyfit(np.log(sizes), np.log(d), 1)[0])
    assert -0.65 < np.mean(slopes) < -0.35


# ---------------------------------------------------------------- fast paths for large clouds


def _near_plane(seed, n, spread=0.01):
    """4D cloud near a random plane, and a weighted 48^2 grid measure exactly on it."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(4, 2)))[0]
    x = rng.normal(size=(n, 2)) @ basis.T + spread * rng.normal(size=(n, 4))
    grid, wg = _gaussian_grid(half_width=3.0, h_cells=48)
    return x, grid @ basis.T, wg


@pytest.mark.parametrize("dim,h", [(1, 0.25), (1, 1.0), (2, 0.25), (2, 1.0), (3, 1.0)])
def test_binned_mmd_matches_the_exact_sum_within_the_documented_error(dim, h):
    x, a = _cloud(20 + dim, 3000, dim, shift=0.2, weighted=True)
    y, b = _cloud(30 + dim, 2000, dim, weighted=True)
    exact = mmd(x, y, bandwidth=h, x_weights=a, y_weights=b, method="exact")
    binned = mmd(x, y, bandwidth=h, x_weights=a, y_weights=b, method="binned")
    assert exact > 0.02
    assert binned == pytest.approx(exact, rel=5e-3)


@pytest.mark.parametrize("h", [0.25, 1.0])
def test_binned_mmd_of_a_4d_cloud_near_a_plane_against_a_grid_on_it(h):
    # the lattice follows the principal axes: two nodes across the plane's thin directions
    x, y, wg = _near_plane(3, 4000)
    exact = mmd(x, y, bandwidth=h, y_weights=wg, method="exact")
    assert exact < 0.03  # small distance: the test is on the 1/N self terms the binning smooths
    assert mmd(x, y, bandwidth=h, y_weights=wg, method="binned") == pytest.approx(exact, rel=5e-3)


def test_binned_mmd_error_falls_like_spacing_squared():
    x, a = _cloud(5, 2000, 2, shift=0.3)
    y, b = _cloud(6, 2000, 2)
    exact = mmd(x, y, bandwidth=0.5, method="exact") ** 2
    err = [abs(mmd(x, y, bandwidth=0.5, method="binned", bins_per_bandwidth=k) ** 2 - exact) for k in (2, 4)]
    assert 2.5 < err[0] / err[1] < 6.5  # second order: 4 expected


def test_binned_mmd_of_a_cloud_with_itself_is_round_off():
    x, a = _cloud(7, 5000, 2, weighted=True)
    assert mmd(x, x, bandwidth=0.3, x_weights=a, y_weights=a, method="binned") < 1e-7


def test_binned_mmd_refuses_an_oversized_lattice_and_auto_falls_back():
    x, _ = _cloud(8, 200, 4)
    y, _ = _cloud(9, 200, 4)
    with pytest.raises(ValueError, match="lattice of .* nodes"):
        mmd(x, y, bandwidth=0.05, method="binned")
    exact = mmd(x, y, bandwidth=0.05, method="exact")
    import wgf.validation.metrics as metrics

    old = metrics.EXACT_MAX_PAIRS
    try:
        metrics.EXACT_MAX_PAIRS = 10  # force the fast path; its lattice does not fit: exact is used
        assert mmd(x, y, bandwidth=0.05) == exact
        assert energy(x, y) == pytest.approx(energy(x, y, method="sliced"), abs=0)
    finally:
        metrics.EXACT_MAX_PAIRS = old


def test_unknown_method_is_refused():
    x, _ = _cloud(1, 10, 2)
    with pytest.raises(ValueError, match="method"):
        mmd(x, x, bandwidth=1.0, method="fft")
    with pytest.raises(ValueError, match="method"):
        energy(x, x, method="binned")


def test_linear_binning_keeps_mass_and_mean():
    from hypothesis import assume, given, settings
    from hypothesis import strategies as st

    from wgf.validation.binning import lattice_for, linear_binning

    @settings(max_examples=40, deadline=None)
    @given(st.integers(1, 4), st.integers(1, 50), st.integers(0, 10_000), st.floats(0.05, 2.0))
    def check(dim, n, seed, spacing):
        rng = np.random.default_rng(seed)
        p = rng.normal(size=(n, dim)) * 3
        w = rng.uniform(0.1, 1.0, size=n)
        origin, shape = lattice_for(p, spacing)
        assume(np.prod(shape) <= 200_000)  # the check below builds every node's coordinates
        lat = linear_binning(p, w, origin, spacing, shape)
        nodes = np.stack(np.meshgrid(*[origin[d] + spacing * np.arange(shape[d]) for d in range(dim)],
                                     indexing="ij"), -1)
        assert lat.min() >= 0
        assert lat.sum() == pytest.approx(w.sum(), rel=1e-12)
        np.testing.assert_allclose(np.tensordot(lat, nodes, axes=dim), w @ p, rtol=1e-10, atol=1e-10)

    check()


def test_linear_binning_refuses_a_lattice_too_large_before_allocating():
    from wgf.validation.binning import linear_binning

    p = np.array([[0.0, 0.0, 0.0, 0.0], [20.0, 20.0, 20.0, 20.0]])
    with pytest.raises(ValueError, match=r"401 x 401 x 401 x 401 = 2.59e\+10 nodes exceeds the limit"):
        linear_binning(p, np.ones(2), np.zeros(4), 0.05, [401] * 4)


def test_sliced_energy_is_exact_in_one_dimension():
    x, a = _cloud(11, 700, 1, shift=0.4, weighted=True)
    y, b = _cloud(12, 500, 1)
    exact = energy(x, y, x_weights=a, method="exact")
    for L in (1, 8):
        assert energy(x, y, x_weights=a, method="sliced", n_directions=L) == pytest.approx(exact, rel=1e-10)


@pytest.mark.parametrize("dim,rel", [(2, 1e-4), (3, 1e-2), (4, 1e-2)])
def test_sliced_energy_matches_the_exact_sum(dim, rel):
    # 2D: 128 evenly spaced angles, a periodic quadrature (measured 2e-6 relative); 3D/4D: 512 directions
    # in random orthonormal frames, Monte Carlo (measured 0.02 % to 0.9 % over seeds)
    x, a = _cloud(13, 2000, dim, weighted=True)
    y, b = _cloud(14, 1500, dim, shift=0.1)
    exact = energy(x, y, x_weights=a, method="exact")
    assert energy(x, y, x_weights=a, method="sliced") == pytest.approx(exact, rel=rel)


def test_sliced_energy_of_a_cloud_with_itself_is_zero_and_two_diracs_are_closed_form():
    x, a = _cloud(15, 300, 3, weighted=True)
    assert energy(x, x, x_weights=a, y_weights=a, method="sliced") == 0.0
    p, q = np.array([[0.0, 0.0, 0.0]]), np.array([[1.0, 2.0, -2.0]])
    # E_theta |<theta, q - p>| is estimated, so only a Monte Carlo tolerance
    assert energy(p, q, method="sliced", n_directions=4096) == pytest.approx(np.sqrt(2 * 3.0), rel=1e-2)


def test_frame_directions_are_unit_and_stratified():
    from wgf.validation import frame_directions

    theta = frame_directions(12, 4, seed=3)
    assert theta.shape == (12, 4)
    np.testing.assert_allclose(theta[:4] @ theta[:4].T, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(theta, axis=1), 1.0, rtol=1e-12)
    phi = np.arctan2(*frame_directions(8, 2, seed=1).T[::-1])
    np.testing.assert_allclose(np.diff(phi), np.pi / 8, rtol=1e-12)
