"""Exact W2 and the paper's RMD^2 between weighted point clouds."""

import numpy as np
import pytest

from wgf.validation import EXACT_OT_MAX_PAIRS, TooLargeForExactOT, rmd2, second_moment, w2


@pytest.mark.parametrize("n,dim", [(1, 2), (7, 3), (40, 4)])
def test_w2_of_a_shift_is_the_shift_norm(n, dim):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, dim))
    v = rng.normal(size=dim)
    y = x + v
    # translation: the identity coupling is optimal and costs |v|^2
    assert w2(x, y) == pytest.approx(np.linalg.norm(v), rel=1e-10)
    # also with the target shuffled and with (matching) nonuniform weights
    perm = rng.permutation(n)
    a = rng.uniform(0.1, 1.0, size=n)
    assert w2(x, y[perm], x_weights=a, y_weights=a[perm]) == pytest.approx(np.linalg.norm(v), rel=1e-10)
    assert w2(x, x[perm]) == pytest.approx(0.0, abs=1e-7)


def test_w2_between_opposite_diracs():
    z = np.array([[0.3, -1.2, 2.0, 0.5]])
    assert w2(z, -z) == pytest.approx(2 * np.linalg.norm(z), rel=1e-12)
    assert rmd2(z, -z) == pytest.approx(1.0, rel=1e-12)
    assert rmd2(z, z) == pytest.approx(0.0, abs=1e-12)
    assert rmd2(np.zeros((1, 3)), np.zeros((2, 3))) == 0.0


def test_w2_known_value_and_symmetry():
    # mu = (delta_0 + delta_2)/2, nu = delta_1 on the line: every unit of mass moves by 1
    assert w2(np.array([[0.0], [2.0]]), np.array([[1.0]])) == pytest.approx(1.0, rel=1e-12)
    # mu = 1/4 delta_0 + 3/4 delta_1, nu = delta_0: W2^2 = 3/4
    assert w2(np.array([[0.0], [1.0]]), np.array([[0.0]]), x_weights=[0.25, 0.75]) == pytest.approx(
        np.sqrt(0.75), rel=1e-12
    )
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(9, 2)), rng.normal(size=(13, 2))
    assert w2(x, y) == pytest.approx(w2(y, x), rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_rmd2_in_unit_interval_and_formula(seed):
    rng = np.random.default_rng(seed)
    n, m, dim = rng.integers(1, 30, size=2).tolist() + [int(rng.integers(1, 5))]
    x = rng.normal(loc=rng.normal(size=dim), size=(n, dim))
    y = rng.normal(scale=2.0, size=(m, dim))
    b = rng.uniform(0.1, 1.0, size=m)
    r = rmd2(x, y, y_weights=b)
    assert 0.0 <= r <= 1.0
    # the value is W2^2 / (2 (m2(mu) + m2(nu))), not a clamp
    d = w2(x, y, y_weights=b)
    expected = d * d / (2 * (second_moment(x) + second_moment(y, b)))
    assert expected <= 1.0
    assert r == pytest.approx(expected, rel=1e-12)
    assert second_moment(y, b) == pytest.approx(np.dot(b / b.sum(), np.sum(y**2, axis=1)), rel=1e-14)


def test_size_guard_names_the_sizes():
    x, y = np.zeros((30, 2)), np.ones((40, 2))
    with pytest.raises(TooLargeForExactOT, match=r"30 and 40 points") as info:
        w2(x, y, max_pairs=1000)
    assert "30 x 40" in str(info.value) and "1000" in str(info.value)
    with pytest.raises(TooLargeForExactOT, match="30"):
        rmd2(x, y, max_pairs=1000)
    assert issubclass(TooLargeForExactOT, ValueError)
    # at the limit it is allowed
    assert w2(x, y, max_pairs=1200) == pytest.approx(np.sqrt(2.0), rel=1e-12)
    # the default guard: 5001 x 5001 > 2.5e7 is refused before any cost matrix is built
    big = np.zeros((5001, 1))
    assert 5001 * 5001 > EXACT_OT_MAX_PAIRS
    with pytest.raises(TooLargeForExactOT, match="5001 and 5001"):
        w2(big, big)


def test_bad_input_raises():
    with pytest.raises(ValueError):
        w2(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError):
        w2(np.zeros((3, 2)), np.zeros((3, 2)), x_weights=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError):
        w2(np.zeros((3, 2)), np.zeros((3, 2)), y_weights=[1.0, 1.0])


def test_w2_of_a_positive_definite_affine_image_is_the_map_cost():
    """T(x) = A x + b with A symmetric positive definite is the gradient of a convex function,
    hence the optimal map (Brenier): W2^2(mu, T#mu) = mean |x - T x|^2 exactly, also for Gaussian samples."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(120, 3))
    m = rng.normal(size=(3, 3))
    a = m @ m.T + 0.5 * np.eye(3)
    b = np.array([0.3, -1.0, 0.2])
    y = x @ a.T + b
    expected = np.sqrt(np.mean(np.sum((x - y) ** 2, axis=1)))
    assert w2(x, y[rng.permutation(120)]) == pytest.approx(expected, rel=1e-10)
    # a rotation is not such a map: its cost overestimates W2 strictly
    c, s = np.cos(1.0), np.sin(1.0)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    assert w2(x, x @ rot.T) < np.sqrt(np.mean(np.sum((x - x @ rot.T) ** 2, axis=1))) - 1e-3
