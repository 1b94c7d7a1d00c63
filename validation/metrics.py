"""Sample-based distances between weighted point clouds in Z (docs/theory.md §6).

A cloud is x (n, D) with weights a (n,), nonnegative, normalised to sum to 1
(uniform 1/n when omitted); mu = sum_i a_i delta_{x_i}.  Likewise y (m, D), b (m,).

- ``mmd``: Gaussian-kernel maximum mean discrepancy (a distance, not its square)::

      MMD^2(mu, nu) = sum_ij a_i a_j k(x_i, x_j) + sum_ij b_i b_j k(y_i, y_j)
                      - 2 sum_ij a_i b_j k(x_i, y_j),
      k(p, q) = exp(-|p - q|^2 / (2 h^2)),  h = bandwidth.

- ``energy``: energy distance (distance form)::

      E(mu, nu)^2 = 2 E|X - Y| - E|X - X'| - E|Y - Y'|,  X, X' ~ mu,  Y, Y' ~ nu iid.

- ``sliced_w2``: sliced 2-Wasserstein distance over L seeded random unit directions::

      SW2(mu, nu)^2 = (1/L) sum_l W2^2(<theta_l, .>#mu, <theta_l, .>#nu),

  each 1D W2 exact from the weighted quantile functions::

      W2^2 = int_0^1 |F^-1(t) - G^-1(t)|^2 dt.

- ``moments``: mean and covariance errors.

``mmd`` and ``energy`` have fast paths for large clouds (``method="auto"`` picks them
beyond ``EXACT_MAX_PAIRS`` pair evaluations): MMD by linear binning and separable Gaussian
convolution (``wgf.validation.binning``), energy by its exact slicing identity over random
orthonormal frames (see ``energy``).  Their exact paths are O((n + m)^2) double sums evaluated by numba
kernels that never form an n x m matrix (rows in chunks of ``_ROWS``, columns in
blocks of ``_COLS``).  Reduction is deterministic: each row chunk is summed by one
thread in a fixed order, then the chunk sums are added in chunk order, so the
result does not depend on the number of numba threads.  The self terms use the
same cross kernel as the cross term (no symmetry shortcut), so identical inputs
give exactly 0.

The Gaussian kernel uses the vectorisable exp of ``wgf.vector_math`` (a few ulp)
with the argument clamped at -708, i.e. kernel values below exp(-708) ~ 3e-308 are
replaced by exp(-708).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numba import prange
from scipy.special import gammaln

from wgf.jit import jit as njit
from wgf.registry import Registry
from wgf.vector_math import fast_exp

from wgf.validation.measures import CellMeasure, as_cloud

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike

__all__ = ["mmd", "energy", "sliced_w2", "sliced_directions", "frame_directions", "moments", "EXACT_MAX_PAIRS",
           "METRICS"]

_ROWS = 64  # rows of x per parallel task (fixed: the reduction order depends on it)
_COLS = 512  # columns of y per vectorised block (per-thread buffers of this length)

# reassociation lets LLVM vectorise the block sums; the compiled order is fixed,
# hence thread-count independent
_FASTMATH = {"nsz", "contract", "arcp", "reassoc"}


@njit(cache=True, parallel=True, fastmath=_FASTMATH)
def _cross_sum(x, a, yT, b, kind, scale):  # pragma: no cover - compiled
    """sum_ij a_i b_j k(x_i, y_j); x (n, D), yT (D, m) contiguous.

    kind 0: k = exp(-scale |p - q|^2);  kind 1: k = |p - q|.
    """
    n, dim = x.shape
    m = yT.shape[1]
    nch = (n + _ROWS - 1) // _ROWS
    part = np.zeros(nch)
    for c in prange(nch):
        r2 = np.empty(_COLS)
        total = 0.0
        for i in range(c * _ROWS, min(n, (c + 1) * _ROWS)):
            row = 0.0
            for j0 in range(0, m, _COLS):
                length = min(m, j0 + _COLS) - j0
                for j in range(length):
                    r2[j] = 0.0
                for d in range(dim):
                    xd = x[i, d]
                    for j in range(length):
                        t = xd - yT[d, j0 + j]
                        r2[j] += t * t
                s = 0.0
                if kind == 0:
                    for j in range(length):
                        s += b[j0 + j] * fast_exp(-scale * r2[j])
                else:
                    for j in range(length):
                        s += b[j0 + j] * np.sqrt(r2[j])
                row += s
            total += a[i] * row
        part[c] = total
    result = 0.0
    for c in range(nch):
        result += part[c]
    return result


def _typed(mus, nu):
    """(mus, nu) with arrays of one type for the compiled kernels (C-contiguous, writable float64, so
    each kernel compiles once), after checking that they live in one space."""
    for mu in mus:
        if mu.dim != nu.dim:
            raise ValueError(f"clouds live in different dimensions: {mu.dim} and {nu.dim}")

    def typed(m):
        return CellMeasure(*(np.require(v, dtype=np.float64, requirements=["C", "W"])
                             for v in (m.points, m.weights, m.cell)))

    return [typed(mu) for mu in mus], typed(nu)


def _measures(x, y, x_weights, y_weights):
    """(mu, nu) as CellMeasures with arrays of one type (``_typed``)."""
    (mu,), nu = _typed([as_cloud(x, x_weights)], as_cloud(y, y_weights))
    return mu, nu


def _pair(x, y, x_weights, y_weights):
    """(x, a, y, b): the atoms and weights (cell centres for a CellMeasure) of two measures."""
    mu, nu = _measures(x, y, x_weights, y_weights)
    return mu.points, mu.weights, nu.points, nu.weights


def _double_sum(x, a, y, b, kind, scale=0.0):
    return _cross_sum(x, a, np.ascontiguousarray(y.T), b, kind, float(scale))


def _sqrt_clamped(sq: float) -> float:
    return float(np.sqrt(sq)) if sq > 0.0 else 0.0


EXACT_MAX_PAIRS = 100_000_000  # method="auto": exact double sums up to this many pair evaluations


def _pairs(n: int, m: int) -> int:
    return n * n + m * m + n * m


def mmd(x: ArrayLike | CellMeasure, y: ArrayLike | CellMeasure, *, bandwidth: float,
        x_weights: ArrayLike | None = None, y_weights: ArrayLike | None = None, method: str = "auto",
        bins_per_bandwidth: float = 16.0) -> float:
    """Gaussian-kernel MMD between weighted clouds x (n, D) and y (m, D) (or ``CellMeasure`` objects).

    MMD^2 = sum_ij a_i a_j k(x_i, x_j) + sum_ij b_i b_j k(y_i, y_j) - 2 sum_ij a_i b_j k(x_i, y_j),
    k(p, q) = exp(-|p - q|^2 / (2 bandwidth^2)).  Returns MMD = sqrt(max(MMD^2, 0)).

    method:
      ``"exact"``: the double sums, O((n + m)^2) kernel evaluations, O(1) memory per thread.  For
      identical inputs the result is exactly 0; otherwise the absolute round-off is about
      sqrt(1e-16) = 1e-8 (the square is a difference of O(1) sums).
      ``"binned"``: linear binning of mu - nu on a lattice of spacing bandwidth / bins_per_bandwidth
      (aligned with the principal axes of the clouds) and a separable Gaussian convolution,
      O(n + m + lattice); relative error about D / (6 bins_per_bandwidth^2) on MMD^2 (0.07 % per
      axis at the default 16), see ``wgf.validation.binning``.  Raises ValueError if the lattice
      exceeds ``binning.MAX_LATTICE_NODES``.
      ``"auto"`` (default): exact up to ``EXACT_MAX_PAIRS`` pair evaluations, binned beyond when the
      lattice fits, exact otherwise.

    A ``CellMeasure`` enters through its cell centres (the midpoint rule: relative error about
    sum_k h_k^2 / (24 bandwidth^2) on the kernel means, see ``wgf.validation.measures``).
    """
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth}")
    if method not in ("auto", "exact", "binned"):
        raise ValueError(f"method must be 'auto', 'exact' or 'binned', got {method!r}")
    if not bins_per_bandwidth > 0:
        raise ValueError(f"bins_per_bandwidth must be positive, got {bins_per_bandwidth}")
    x, a, y, b = _pair(x, y, x_weights, y_weights)
    if method == "binned" or (method == "auto" and _pairs(len(x), len(y)) > EXACT_MAX_PAIRS):
        from wgf.validation.binning import binned_mmd2

        try:
            return _sqrt_clamped(binned_mmd2(x, a, y, b, bandwidth, bins_per_bandwidth))
        except ValueError:
            if method == "binned":
                raise
    scale = 1.0 / (2.0 * float(bandwidth) ** 2)
    kxx = _double_sum(x, a, x, a, 0, scale)
    kyy = _double_sum(y, b, y, b, 0, scale)
    kxy = _double_sum(x, a, y, b, 0, scale)
    return _sqrt_clamped(kxx + kyy - 2.0 * kxy)


def energy(x: ArrayLike | CellMeasure | Sequence[ArrayLike | CellMeasure], y: ArrayLike | CellMeasure, *,
           x_weights: ArrayLike | Sequence[ArrayLike | None] | None = None, y_weights: ArrayLike | None = None,
           method: str = "auto", n_directions: int | None = None, seed: int = 0) -> float | np.ndarray:
    """Energy distance between weighted clouds x (n, D) and y (m, D), or ``CellMeasure`` objects.

    E^2 = 2 sum_ij a_i b_j |x_i - y_j| - sum_ij a_i a_j |x_i - x_j| - sum_ij b_i b_j |y_i - y_j|;
    returns E = sqrt(max(E^2, 0)).  Two Diracs: E(delta_p, delta_q) = sqrt(2 |p - q|).

    method:
      ``"exact"``: the double sums, O((n + m)^2) evaluations, O(1) memory per thread.
      ``"sliced"``: since E_theta |<theta, z>| = kappa_D |z| for theta uniform on S^(D-1),
      kappa_D = Gamma(D/2) / (sqrt(pi) Gamma((D+1)/2)), and the 1D energy distance is
      2 int (F - G)^2 dt,

          E^2 = (2 / kappa_D) E_theta int_R (F_theta(t) - G_theta(t))^2 dt,

      F_theta, G_theta the CDFs of the projections <theta, x>, <theta, y>.  The average over
      theta uses L = ``n_directions`` directions from ``frame_directions`` (seeded, stratified:
      evenly spaced angles in 2D, whole random orthonormal frames above), each 1D integral
      exact from the sorted projections: O(L (n + m) log(n + m)).  Default L: 128 in 2D (a
      periodic quadrature: relative error about 1e-6), 512 otherwise (Monte Carlo, unbiased
      for E^2: a few 0.1 % on E for smooth clouds in 3 and 4 dimensions); exact in 1D.
      ``"auto"`` (default): exact up to ``EXACT_MAX_PAIRS`` pair evaluations, sliced beyond, and
      always sliced when a measure has cells: each cell's projection is a uniform law
      (``wgf.validation.measures``), F is piecewise linear and int (F - G)^2 is still exact.
      ``"exact"`` refuses a measure with cells (its double sum would treat cells as points).

    ``x`` may be a list of clouds (``x_weights`` then a list or None): the result is an array, each
    entry what a single call gives; the sliced ones share y's projections, computed once per direction.
    """
    if method not in ("auto", "exact", "sliced"):
        raise ValueError(f"method must be 'auto', 'exact' or 'sliced', got {method!r}")
    mus, many = _batch(x, x_weights)
    mus, nu = _typed(mus, as_cloud(y, y_weights))
    out = np.zeros(len(mus))
    sliced = []
    for k, mu in enumerate(mus):
        cells = mu.cell.shape[1] + nu.cell.shape[1] > 0
        if method == "exact" and cells:
            raise ValueError("the exact energy distance needs point clouds: use method 'sliced' for a CellMeasure")
        if method == "sliced" or cells or (method == "auto" and _pairs(len(mu.weights), len(nu.weights)) > EXACT_MAX_PAIRS):
            sliced.append(k)
        else:
            x, a, y, b = mu.points, mu.weights, nu.points, nu.weights
            out[k] = 2.0 * _double_sum(x, a, y, b, 1) - _double_sum(x, a, x, a, 1) - _double_sum(y, b, y, b, 1)
    if sliced:
        dim = nu.dim
        if n_directions is None:
            n_directions = 128 if dim == 2 else 512
        theta = frame_directions(int(n_directions), dim, seed)
        kappa = np.exp(gammaln(dim / 2) - gammaln((dim + 1) / 2)) / np.sqrt(np.pi)
        out[sliced] = 2.0 * _sliced([mus[k] for k in sliced], nu, theta, SLICE_CDF_L2) / kappa
    values = np.sqrt(np.maximum(out, 0.0))
    return values if many else float(values[0])


# ----------------------------------------------------------------------------- sliced W2


def sliced_directions(n_directions: int, dim: int, seed: int = 0) -> np.ndarray:
    """The unit directions theta (n_directions, dim) used by ``sliced_w2``: normalised standard
    Gaussians from ``np.random.default_rng(seed)`` (uniform on the sphere S^(dim-1))."""
    if n_directions < 1 or dim < 1:
        raise ValueError(f"need n_directions >= 1 and dim >= 1, got {n_directions}, {dim}")
    theta = np.random.default_rng(seed).normal(size=(n_directions, dim))
    norms = np.linalg.norm(theta, axis=1)
    # a zero draw has probability 0; replace it by e_1 rather than divide by 0
    theta[norms == 0.0] = np.eye(dim)[0]
    norms[norms == 0.0] = 1.0
    return theta / norms[:, None]


@njit(cache=True)
def _cdf_knots(x, w, theta, width):  # pragma: no cover - compiled
    """Knots (t, F) (2n each, t nondecreasing) of the piecewise-linear CDF of the projection on theta
    of sum_i w_i Unif(x_i + cell cube): sum_i w_i Unif(<theta, x_i> -+ width / 2), steps when width = 0.
    Between knots F is linear; F = 0 before the first knot and 1 after the last."""
    n, dim = x.shape
    p = np.empty(n)
    for i in range(n):
        s = 0.0
        for d in range(dim):
            s += x[i, d] * theta[d]
        p[i] = s
    order = np.argsort(p, kind="mergesort")  # stable; fast on the runs a grid's projection has
    ps = np.empty(n)
    ws = np.empty(n)
    for k in range(n):
        ps[k] = p[order[k]]
        ws[k] = w[order[k]]
    t = np.empty(2 * n)
    f = np.empty(2 * n)
    if width == 0.0:  # a jump of w_i at each point: knots just before and just after it
        acc = 0.0
        for k in range(n):
            t[2 * k] = ps[k]
            f[2 * k] = acc
            acc += ws[k]
            t[2 * k + 1] = ps[k]
            f[2 * k + 1] = acc
    else:  # slope sum_{open i} w_i / width: merge the sorted left ends and right ends
        half = 0.5 * width
        inv = 1.0 / width
        lo = 0
        hi = 0
        slope = 0.0
        acc = 0.0
        t_prev = ps[0] - half
        for k in range(2 * n):
            if lo < n and ps[lo] - half <= ps[hi] + half:
                tk = ps[lo] - half
                acc += slope * (tk - t_prev)
                slope += ws[lo] * inv
                lo += 1
            else:
                tk = ps[hi] + half
                acc += slope * (tk - t_prev)
                slope -= ws[hi] * inv
                hi += 1
            t[k] = tk
            f[k] = acc
            t_prev = tk
    f[0] = 0.0
    for k in range(1, 2 * n):  # the weights sum to 1: remove round-off, keep F monotone in [0, 1]
        f[k] = min(max(f[k], f[k - 1]), 1.0)
    f[2 * n - 1] = 1.0
    return t, f


@njit(cache=True)
def _piece(a, u, i, s, e):  # pragma: no cover - compiled
    """(right limit at s, left limit at e) of the piecewise-linear function through the knots (a, u), for
    an interval inside its piece i: linear between knots i - 1 and i (a[i - 1] <= s < e <= a[i]),
    constant before the first knot (i = 0) and after the last (i = len(a))."""
    n = a.shape[0]
    if i == 0:
        return u[0], u[0]
    if i == n:
        return u[n - 1], u[n - 1]
    span = a[i] - a[i - 1]
    return (u[i - 1] + (u[i] - u[i - 1]) * ((s - a[i - 1]) / span),
            u[i - 1] + (u[i] - u[i - 1]) * ((e - a[i - 1]) / span))


@njit(cache=True)
def _piecewise_linear_l2(a, u, b, v):  # pragma: no cover - compiled
    """int (f - g)^2 over the union of the abscissa ranges, f and g piecewise linear through the knots
    (a_i, u_i) and (b_j, v_j) (a, b nondecreasing; a repeated abscissa is a jump), constant beyond
    their end knots.  Exact: on each interval between merged knots both are linear, and
    int_0^L (p + (q - p) s / L)^2 ds = L (p^2 + p q + q^2) / 3."""
    n = a.shape[0]
    m = b.shape[0]
    i = 0
    j = 0
    s = min(a[0], b[0])
    total = 0.0
    while True:
        while i < n and a[i] <= s:
            i += 1
        while j < m and b[j] <= s:
            j += 1
        if i >= n and j >= m:
            break
        e = a[i] if j >= m or (i < n and a[i] <= b[j]) else b[j]
        fs, fe = _piece(a, u, i, s, e)
        gs, ge = _piece(b, v, j, s, e)
        p = fs - gs
        q = fe - ge
        total += (e - s) * (p * p + p * q + q * q) / 3.0
        s = e
    return total


def frame_directions(n_directions: int, dim: int, seed: int = 0) -> np.ndarray:
    """Stratified unit directions (L, dim), L = n_directions, uniform on S^(dim-1) marginally.

    dim = 2: the angles phi_0 + pi k / L, k < L, with one uniform offset phi_0 (a periodic
    quadrature of the half circle, which is all a projection-symmetric integrand needs);
    otherwise ceil(L / dim) Haar-random orthonormal frames, stacked and cut to L rows.
    Seeded by ``np.random.default_rng(seed)``.
    """
    if n_directions < 1 or dim < 1:
        raise ValueError(f"need n_directions >= 1 and dim >= 1, got {n_directions}, {dim}")
    rng = np.random.default_rng(seed)
    if dim == 2:
        phi = rng.uniform(0.0, np.pi / n_directions) + np.pi * np.arange(n_directions) / n_directions
        return np.stack([np.cos(phi), np.sin(phi)], axis=1)
    frames = []
    for _ in range(-(-n_directions // dim)):
        q, r = np.linalg.qr(rng.normal(size=(dim, dim)))
        frames.append((q * np.sign(np.diag(r))).T)
    return np.concatenate(frames)[:n_directions]


SLICE_W2 = 0  # per direction: int_0^1 |F^-1 - G^-1|^2
SLICE_CDF_L2 = 1  # per direction: int_R (F - G)^2


@njit(cache=True, parallel=True)
def _sliced_means(x, a, starts, x_width, y, b, y_width, theta, what):  # pragma: no cover - compiled
    """Mean over the directions theta_l of a 1D quantity ``what`` between the projections of each
    measure k (atoms x[starts[k]:starts[k + 1]], widths x_width[k, l]) and of nu (y, b, y_width[l]),
    (K,). Their CDFs are piecewise linear (``_cdf_knots``), the quantile functions too, through the
    same knots with the axes swapped. nu's knots are built once per direction; parallel over
    directions, summed in direction order (independent of the thread count)."""
    nd = theta.shape[0]
    nk = starts.shape[0] - 1
    per = np.zeros((nk, nd))
    for l in prange(nd):
        ty, fy = _cdf_knots(y, b, theta[l], y_width[l])
        for k in range(nk):
            tx, fx = _cdf_knots(x[starts[k]:starts[k + 1]], a[starts[k]:starts[k + 1]], theta[l], x_width[k, l])
            if what == SLICE_W2:
                per[k, l] = _piecewise_linear_l2(fx, tx, fy, ty)
            else:
                per[k, l] = _piecewise_linear_l2(tx, fx, ty, fy)
    out = np.zeros(nk)
    for k in range(nk):
        total = 0.0
        for l in range(nd):
            total += per[k, l]
        out[k] = total / nd
    return out


def _sliced(mus, nu, theta, what) -> np.ndarray:
    """The mean over theta of ``what`` between each measure of the list ``mus`` and nu, (K,)."""
    theta = np.ascontiguousarray(theta, dtype=np.float64)
    starts = np.cumsum([0] + [len(m.weights) for m in mus]).astype(np.int64)
    x = np.ascontiguousarray(np.concatenate([m.points for m in mus]))
    a = np.ascontiguousarray(np.concatenate([m.weights for m in mus]))
    widths = np.ascontiguousarray(np.stack([m.widths(theta) for m in mus]))
    return _sliced_means(x, a, starts, widths, nu.points, nu.weights, np.ascontiguousarray(nu.widths(theta)),
                         theta, what)


def _batch(x, x_weights):
    """(list of measures, whether x was a list): a cloud or CellMeasure, or a list of them."""
    if isinstance(x, (list, tuple)):
        weights = [None] * len(x) if x_weights is None else list(x_weights)
        if len(weights) != len(x) or not x:
            raise ValueError("a list of clouds needs a list of as many weights (or None)")
        return [as_cloud(c, w) for c, w in zip(x, weights)], True
    return [as_cloud(x, x_weights)], False


def sliced_w2(x: ArrayLike | CellMeasure | Sequence[ArrayLike | CellMeasure], y: ArrayLike | CellMeasure, *,
              n_directions: int = 256, seed: int = 0, x_weights: ArrayLike | Sequence[ArrayLike | None] | None = None,
              y_weights: ArrayLike | None = None) -> float | np.ndarray:
    """Sliced W2 between weighted clouds x (n, D) and y (m, D), or ``CellMeasure`` objects.

    SW2^2 = (1/L) sum_l W2^2(<theta_l, x>, <theta_l, y>) over L = n_directions unit directions
    ``sliced_directions(L, D, seed)``.  Each 1D W2^2 = int_0^1 |F^-1(t) - G^-1(t)|^2 dt is exact:
    the projections are sorted and the two cumulative weight sequences merged (n + m intervals,
    no sampling).  Cost O(L (n log n + m log m)), parallel over directions, deterministic.
    SW2 <= W2 (projections are 1-Lipschitz); in 1D, SW2 = W2 for every L.
    A ``CellMeasure`` projects to a piecewise-linear CDF (``wgf.validation.measures``); its quantile
    function is piecewise linear too and the 1D integral stays exact.

    ``x`` may be a list of clouds (``x_weights`` then a list or None): the result is an array, each
    entry what a single call gives, with y's projections computed once per direction.
    """
    mus, many = _batch(x, x_weights)
    nu = as_cloud(y, y_weights)
    mus, nu = _typed(mus, nu)
    theta = sliced_directions(int(n_directions), nu.dim, seed)
    values = np.sqrt(np.maximum(_sliced(mus, nu, theta, SLICE_W2), 0.0))
    return values if many else float(values[0])


# ----------------------------------------------------------------------------- moments


def moments(x: ArrayLike | CellMeasure, y: ArrayLike | CellMeasure, *, x_weights: ArrayLike | None = None,
            y_weights: ArrayLike | None = None) -> dict:
    """Mean and covariance errors between weighted clouds x (n, D) and y (m, D), or ``CellMeasure`` objects.

    mean_error = |m_x - m_y| (Euclidean), m_x = sum_i a_i x_i;
    cov_error  = ||C_x - C_y||_F, C_x = sum_i a_i (x_i - m_x)(x_i - m_x)^T (the covariance of the
    measure, no n/(n-1) correction; for a CellMeasure that of the density whose cell averages it
    holds, ``CellMeasure.covariance``).  Returns {"mean_error": float, "cov_error": float}.
    """
    mu, nu = _measures(x, y, x_weights, y_weights)
    mx, cx = mu.mean(), mu.covariance()
    my, cy = nu.mean(), nu.covariance()
    return {"mean_error": float(np.linalg.norm(mx - my)), "cov_error": float(np.linalg.norm(cx - cy, "fro"))}


# ------------------------------------------------------------------ the registry of comparison metrics
METRICS = Registry("metric", "distances between particle clouds and the PDE density; factory (problem, bandwidth) "
                             "-> {entry: f(clouds, nu) -> (K,)}")


def _each(metric):
    """f(clouds, nu) -> (K,): ``metric`` between each cloud of the list and nu."""
    return lambda clouds, nu: np.array([metric(x, nu) for x in clouds])


@METRICS.register("mmd", doc="Gaussian-kernel MMD, bandwidth h (default: the problem's init_std)", needs_problem=False,
                  exact_ot=False, writes=("mmd",))
def _mmd_metric(problem, bandwidth):
    return {"mmd": _each(lambda x, y: mmd(x, y, bandwidth=bandwidth))}


@METRICS.register("energy", doc="energy distance (2 E|X - Y| - E|X - X'| - E|Y - Y'|)^(1/2)", needs_problem=False,
                  exact_ot=False, writes=("energy",))
def _energy_metric(problem, bandwidth):
    return {"energy": lambda clouds, nu: energy(list(clouds), nu)}


@METRICS.register("w2", doc="exact 2-Wasserstein distance by optimal transport (POT)", needs_problem=False,
                  exact_ot=True, writes=("w2",))
def _w2_metric(problem, bandwidth):
    from wgf.validation.distances import w2

    return {"w2": _each(w2)}


@METRICS.register("sliced_w2", doc="sliced 2-Wasserstein distance over seeded random directions",
                  needs_problem=False, exact_ot=False, writes=("sliced_w2",))
def _sliced_w2_metric(problem, bandwidth):
    return {"sliced_w2": lambda clouds, nu: sliced_w2(list(clouds), nu)}


@METRICS.register("output_l2", doc="|| Phi_mu - Phi_nu ||_L2(pi_X), the distance of the networks' outputs",
                  needs_problem=True, exact_ot=False, writes=("output_l2",))
def _output_l2_metric(problem, bandwidth):
    from wgf.validation.distances import output_l2

    return {"output_l2": _each(lambda x, y: output_l2(problem, x, y))}


@METRICS.register("risk_gap", doc="|R(mu) - R(nu)|, the gap of the risks", needs_problem=True, exact_ot=False,
                  writes=("risk_gap",))
def _risk_gap_metric(problem, bandwidth):
    from wgf.validation.distances import risk_gap

    return {"risk_gap": _each(lambda x, y: risk_gap(problem, x, y))}


@METRICS.register("moments", doc="errors of the mean and of the covariance", needs_problem=False, exact_ot=False,
                  writes=("moments_mean_error", "moments_cov_error"))
def _moments_metric(problem, bandwidth):
    return {"moments_mean_error": _each(lambda x, y: moments(x, y)["mean_error"]),
            "moments_cov_error": _each(lambda x, y: moments(x, y)["cov_error"])}
