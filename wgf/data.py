"""The data distribution pi, its teachers and its quadrature.

Two kinds of data:

- ``GaussianTeacherData``: X ~ N(0, s_x^2 I_dx), Y = f_*(X) + eta, eta ~ N(0, s_eta^2 I_dy),
  with the teacher f_* = Phi of teacher particles (f_*(x) = (1/M) sum_m sigma_*(x, t_m)).
- ``EmpiricalData``: a finite data set (x_n, y_n), pi = (1/n) sum_n delta_(x_n, y_n).

Expectations over pi in the PDE and in the functionals use a ``Quadrature``
(x_q, y_q, w_q): tensor Gauss-Hermite nodes for the Gaussian, the data set itself
for empirical data. Label noise enters the risk only through the constant
E|eta|^2 = dy s_eta^2 (``Quadrature.noise_variance``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from wgf.groups import FiniteGroup
from wgf.registry import Registry
from wgf.symmetry import Symmetry
from wgf.units import Unit

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from wgf._typing import PathLike

__all__ = [
    "Quadrature",
    "GaussianTeacherData",
    "EmpiricalData",
    "make_teacher",
    "gauss_hermite",
    "load_dataset",
    "TEACHERS",
    "TEACHER_KINDS",
]



@dataclass(frozen=True)
class Quadrature:
    """Weighted nodes for E_pi[f(X, Y)] ~ sum_q w_q f(x_q, y_q).

    x (Q, dx), y (Q, dy), weights (Q,) summing to 1; noise_variance = E|Y - E[Y|X]|^2.
    """

    x: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    noise_variance: float = 0.0

    def __len__(self):
        return self.weights.shape[0]

    def augment(self, group: FiniteGroup) -> "Quadrature":
        """Orbit augmentation (pi^G): every node (x_q, y_q) becomes (rho_g x_q, rhohat_g y_q), weight w_q / |G|."""
        x = np.einsum("gab,qb->gqa", group.rho_x, self.x).reshape(-1, self.x.shape[1])
        y = np.einsum("gab,qb->gqa", group.rho_y, self.y).reshape(-1, self.y.shape[1])
        w = np.tile(self.weights / group.order, group.order)
        return Quadrature(x, y, w, self.noise_variance)


def gauss_hermite(dim: int, points: int, std: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Tensor Gauss-Hermite rule for N(0, std^2 I_dim): nodes (points^dim, dim), weights summing to 1.

    Exact for polynomials of degree <= 2 points - 1 in each coordinate.
    """
    t, w = np.polynomial.hermite_e.hermegauss(points)
    w = w / w.sum()
    # node q = (t_{i_1}, ..., t_{i_dim}) with q = sum_j i_j points^(dim - 1 - j) (the last axis fastest); built
    # column by column, so any dim works (numpy's meshgrid stops at 32 axes)
    nodes = np.empty((points**dim, dim))
    for j in range(dim):
        nodes[:, j] = np.tile(np.repeat(t, points ** (dim - 1 - j)), points**j)
    nodes *= std
    weights = np.ones(1)
    for _ in range(dim):
        weights = np.outer(weights, w).ravel()
    return nodes, weights


TEACHERS = Registry("teacher", "teacher particles from given ones; factory (particles (M, D), symmetry) -> (M', D)")
TEACHERS.add("arbitrary", lambda particles, symmetry: particles.copy(), doc="the particles as given", equivariant=False)
TEACHERS.add("wi", lambda particles, symmetry: symmetry.symmetrize(particles),
             doc="the particles and all their G-images (f_* equivariant)", equivariant=True)
TEACHERS.add("si", lambda particles, symmetry: symmetry.project(particles),
             doc="the particles projected onto E^G (f_* equivariant)", equivariant=True)
TEACHER_KINDS = TEACHERS


def make_teacher(kind: str, particles: ArrayLike, symmetry: Symmetry) -> np.ndarray:
    """Teacher particles (M, D) of the given kind (see ``TEACHERS``).

    ``arbitrary``: as given; ``wi``: the particles and all their G-images (f_* equivariant);
    ``si``: the particles projected onto E^G (f_* equivariant).
    """
    entry = TEACHERS[kind]
    return entry(np.atleast_2d(np.asarray(particles, dtype=float)), symmetry)


@dataclass(frozen=True)
class GaussianTeacherData:
    """X ~ N(0, x_std^2 I), Y = f_*(X) + N(0, label_noise^2 I), f_* = mean_m sigma_*(., teacher_m)."""

    unit: Unit
    teacher: np.ndarray
    x_std: float = 4.0
    label_noise: float = 0.0
    teacher_kind: str = "arbitrary"

    @property
    def dim_x(self) -> int:
        return self.unit.dim_x

    @property
    def dim_y(self) -> int:
        return self.unit.dim_y

    @property
    def is_equivariant(self) -> bool:
        """pi is G-invariant: isotropic X and an equivariant teacher (wi or si)."""
        return self.teacher_kind in TEACHERS and bool(TEACHERS[self.teacher_kind].equivariant)

    def labels(self, x: ArrayLike) -> np.ndarray:
        """f_*(x), x (B, dx) -> (B, dy)."""
        return self.unit.output(x, self.teacher)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n iid samples (x (n, dx), y (n, dy)) of pi."""
        x = rng.normal(scale=self.x_std, size=(n, self.dim_x))
        y = self.labels(x)
        if self.label_noise > 0:
            y = y + rng.normal(scale=self.label_noise, size=y.shape)
        return x, y

    def quadrature(self, points: int = 16) -> Quadrature:
        """Tensor Gauss-Hermite quadrature of pi with ``points`` nodes per feature axis."""
        x, w = gauss_hermite(self.dim_x, points, self.x_std)
        return Quadrature(x, self.labels(x), w, self.dim_y * self.label_noise**2)


@dataclass(frozen=True)
class EmpiricalData:
    """A finite data set x (n, dx), y (n, dy) with uniform weights."""

    x: np.ndarray
    y: np.ndarray
    is_equivariant: bool = False

    @property
    def dim_x(self) -> int:
        return self.x.shape[1]

    @property
    def dim_y(self) -> int:
        return self.y.shape[1]

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        idx = rng.integers(0, self.x.shape[0], size=n)
        return self.x[idx], self.y[idx]

    def quadrature(self, points: int | None = None) -> Quadrature:
        """The data set itself, weights 1/n (``points`` is ignored)."""
        n = self.x.shape[0]
        return Quadrature(self.x, self.y, np.full(n, 1.0 / n))


def load_dataset(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ``x`` (n, dx) and ``y`` (n, dy) from a .npz or .h5/.hdf5 file.

    Each must be a real numeric array with 1 or 2 axes (1 axis: one column); its size is
    checked against the available memory before it is read. ValueError (one line) otherwise.
    """
    from wgf.resources import ResourceError, check_bytes

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"dataset '{path}': not a regular file")

    def checked(name, arr):
        dtype, shape = arr.dtype, arr.shape
        if dtype.kind not in "fiub" or dtype.fields is not None:
            raise ValueError(f"dataset '{path}': '{name}' must be a real numeric array, got dtype {dtype}")
        if len(shape) not in (1, 2):
            raise ValueError(f"dataset '{path}': '{name}' must have 1 or 2 axes (n or n x d), got shape {shape}")
        try:
            check_bytes(f"dataset '{path}': '{name}' of shape {shape}", float(np.prod(shape, dtype=float)) * 8)
        except ResourceError as e:
            raise ValueError(str(e)) from None
        return np.asarray(arr[()], dtype=float)

    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x", "y") if k not in f.files]
            if missing:
                raise ValueError(f"dataset '{path}': no array '{missing[0]}' (need x and y)")
            for k in ("x", "y"):  # the unpacked size, before reading
                try:
                    check_bytes(f"dataset '{path}': '{k}'", f.zip.getinfo(f"{k}.npy").file_size)
                except ResourceError as e:
                    raise ValueError(str(e)) from None
            x, y = checked("x", f["x"]), checked("y", f["y"])
    elif path.suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as f:
            for k in ("x", "y"):
                if not isinstance(f.get(k), h5py.Dataset):
                    raise ValueError(f"dataset '{path}': no array '{k}' (need datasets x and y)")
            x, y = checked("x", f["x"]), checked("y", f["y"])
    else:
        raise ValueError(f"dataset '{path}': expected a .npz or .h5 file")
    if x.ndim == 1:
        x = x[:, None]
    if y.ndim == 1:
        y = y[:, None]
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"dataset '{path}': x and y must have the same nonzero number of rows")
    if x.shape[1] == 0 or y.shape[1] == 0:
        raise ValueError(f"dataset '{path}': x and y need at least one column")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError(f"dataset '{path}': x and y must be finite")
    return np.ascontiguousarray(x), np.ascontiguousarray(y)
