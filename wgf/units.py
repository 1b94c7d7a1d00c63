"""Units sigma_*(x, z): the building block of a shallow model.

A shallow model of a measure mu on Z = R^D is Phi_mu(x) = int sigma_*(x, z) dmu(z).
Each unit gives, vectorized in NumPy,

- ``value(x, z)``: sigma_*(x_b, z_i), x (B, dx), z (N, D) -> (B, N, dy)
- ``vjp(x, z, c)``: sum_b J_z sigma_*(x_b, z_i)^T c_b, c (B, dy) or (B, N, dy) -> (N, D)
- ``action(rho_x, rho_y)``: the intertwining matrix M_g (D, D) of a group element,

and the numba kernels of ``wgf.unit_kernels`` through ``kernel_args``.

Parameter layouts (row-major, the flattening of z):

- ``linear``, ``sigmoid_matrix``, ``tanh_matrix``: z = vec(W), W (dy, dx);
  M_g z = vec(rhohat_g W rho_g^T) = (rhohat_g kron rho_g) z.
- ``two_layer`` (hidden width h): z = (vec W, vec A, b), W (dy, h), A (dx, h), b (h,),
  sigma_*(x, z) = W s(A^T x + b); M_g (W, A, b) = (rhohat_g W, rho_g A, b).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from . import unit_kernels as uk

__all__ = ["Unit", "MatrixUnit", "TwoLayerUnit", "make_unit", "UNIT_NAMES"]


class Unit:
    """Common interface of units (base units and scheme transforms)."""

    name: str
    kind: int
    dim_x: int
    dim_y: int
    dim: int

    def value(self, x, z):  # pragma: no cover - interface
        raise NotImplementedError

    def vjp(self, x, z, c):  # pragma: no cover - interface
        raise NotImplementedError

    def kernel_args(self):
        """(variant, kind, Rin (K, dx, dx), Rout (K, dy, dy), P (D, D) or (0, 0)) for the numba kernels."""
        return (
            uk.PLAIN,
            self.kind,
            np.zeros((0, self.dim_x, self.dim_x)),
            np.zeros((0, self.dim_y, self.dim_y)),
            np.zeros((0, 0)),
        )

    def output(self, x, z, weights=None):
        """Phi(x_b) = sum_i w_i sigma(x_b, z_i) (w_i = 1/N by default), x (B, dx), z (N, D) -> (B, dy).

        Evaluated with the numba kernel, without a (B, N, dy) intermediate.
        """
        # the numba kernel does not bounds-check: validate shapes here (mismatches read out of bounds)
        x, z = self._check(x, z)
        x, z = np.ascontiguousarray(x), np.ascontiguousarray(z)
        if weights is None:
            weights = np.full(z.shape[0], 1.0 / z.shape[0])
        weights = np.ascontiguousarray(weights, dtype=float)
        if weights.shape != (z.shape[0],):
            raise ValueError(f"{self.name}: weights must have shape ({z.shape[0]},), got {weights.shape}")
        out = np.empty((x.shape[0], self.dim_y))
        uk.model_output(*self.kernel_args(), x, z, weights, out)
        return out

    def _check(self, x, z):
        x = np.atleast_2d(np.asarray(x, dtype=float))
        z = np.atleast_2d(np.asarray(z, dtype=float))
        if x.shape[-1] != self.dim_x:
            raise ValueError(f"{self.name}: x must have last axis {self.dim_x}, got {x.shape}")
        if z.shape[-1] != self.dim:
            raise ValueError(f"{self.name}: z must have last axis {self.dim}, got {z.shape}")
        return x, z

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r}, dim_x={self.dim_x}, dim_y={self.dim_y}, D={self.dim})"


_ACTIVATIONS = {
    "linear": (uk.LINEAR, lambda u: u, lambda a: np.ones_like(a)),
    "sigmoid_matrix": (uk.SIGMOID_MATRIX, expit, lambda a: a * (1.0 - a)),
    "tanh_matrix": (uk.TANH_MATRIX, np.tanh, lambda a: 1.0 - a * a),
}


class MatrixUnit(Unit):
    """sigma_*(x, W) = s(W x) elementwise, W (dy, dx), s = identity, logistic or tanh.

    ``blocks`` (one per row of W) make it additively separable:
    sigma_*(x, z)_i depends on row i only, so sigma_* = sum_i e_i s(W_i . x).
    """

    def __init__(self, name: str, dim_x: int, dim_y: int):
        self.name = name
        self.kind, self._act, self._slope = _ACTIVATIONS[name]
        self.dim_x, self.dim_y = int(dim_x), int(dim_y)
        self.dim = self.dim_x * self.dim_y

    @property
    def blocks(self):
        """Index arrays of the parameter blocks the unit is additively separable over (rows of W)."""
        return [np.arange(i * self.dim_x, (i + 1) * self.dim_x) for i in range(self.dim_y)]

    def matrices(self, z):
        """z (N, D) -> W (N, dy, dx)."""
        return np.asarray(z).reshape(-1, self.dim_y, self.dim_x)

    def value(self, x, z):
        x, z = self._check(x, z)
        return self._act(np.einsum("bj,nij->bni", x, self.matrices(z)))

    def vjp(self, x, z, c):
        x, z = self._check(x, z)
        a = self._act(np.einsum("bj,nij->bni", x, self.matrices(z)))
        c = np.asarray(c, dtype=float)
        d = self._slope(a) * (c[:, None, :] if c.ndim == 2 else c)
        return np.einsum("bni,bj->nij", d, x).reshape(z.shape[0], self.dim)

    def action(self, rho_x, rho_y):
        return np.kron(rho_y, rho_x)


class TwoLayerUnit(Unit):
    """sigma_*(x, (W, A, b)) = W s(A^T x + b), W (dy, h), A (dx, h), b (h,), s logistic."""

    def __init__(self, dim_x: int, dim_y: int, hidden: int):
        self.name = "two_layer"
        self.kind = uk.TWO_LAYER
        self.dim_x, self.dim_y, self.hidden = int(dim_x), int(dim_y), int(hidden)
        self.dim = self.hidden * (self.dim_x + self.dim_y + 1)

    def split(self, z):
        """z (N, D) -> W (N, dy, h), A (N, dx, h), b (N, h)."""
        z = np.asarray(z)
        h, dx, dy = self.hidden, self.dim_x, self.dim_y
        w = z[:, : dy * h].reshape(-1, dy, h)
        a = z[:, dy * h : (dy + dx) * h].reshape(-1, dx, h)
        return w, a, z[:, (dy + dx) * h :]

    @property
    def blocks(self):
        """Hidden neuron k owns (W[:, k], A[:, k], b[k]): the unit is a sum over these blocks."""
        h, dx, dy = self.hidden, self.dim_x, self.dim_y
        return [
            np.concatenate([np.arange(dy) * h + k, dy * h + np.arange(dx) * h + k, [(dy + dx) * h + k]])
            for k in range(h)
        ]

    def _hidden(self, x, a, b):
        return expit(np.einsum("bj,njk->bnk", x, a) + b[None])

    def value(self, x, z):
        x, z = self._check(x, z)
        w, a, b = self.split(z)
        return np.einsum("nik,bnk->bni", w, self._hidden(x, a, b))

    def vjp(self, x, z, c):
        x, z = self._check(x, z)
        w, a, b = self.split(z)
        hid = self._hidden(x, a, b)
        c = np.asarray(c, dtype=float)
        c = np.broadcast_to(c[:, None, :] if c.ndim == 2 else c, (x.shape[0], z.shape[0], self.dim_y))
        g_w = np.einsum("bni,bnk->nik", c, hid)
        back = np.einsum("nik,bni->bnk", w, c) * hid * (1.0 - hid)
        g_a = np.einsum("bj,bnk->njk", x, back)
        g_b = back.sum(axis=0)
        n = z.shape[0]
        return np.concatenate([g_w.reshape(n, -1), g_a.reshape(n, -1), g_b], axis=1)

    def action(self, rho_x, rho_y):
        h = self.hidden
        m = np.zeros((self.dim, self.dim))
        dy, dx = self.dim_y, self.dim_x
        m[: dy * h, : dy * h] = np.kron(rho_y, np.eye(h))
        m[dy * h : (dy + dx) * h, dy * h : (dy + dx) * h] = np.kron(rho_x, np.eye(h))
        m[(dy + dx) * h :, (dy + dx) * h :] = np.eye(h)
        return m


UNIT_NAMES = ("linear", "sigmoid_matrix", "tanh_matrix", "two_layer")


def make_unit(name: str, dim_x: int, dim_y: int, hidden: int | None = None) -> Unit:
    """Built-in unit by name (see ``UNIT_NAMES``); ``hidden`` is required for two_layer only."""
    if name not in UNIT_NAMES:
        raise ValueError(f"unknown unit '{name}' (choose from {', '.join(UNIT_NAMES)})")
    if dim_x < 1 or dim_y < 1:
        raise ValueError("dim_x and dim_y must be >= 1")
    if name == "two_layer":
        if hidden is None or hidden < 1:
            raise ValueError("two_layer needs hidden >= 1")
        return TwoLayerUnit(dim_x, dim_y, hidden)
    return MatrixUnit(name, dim_x, dim_y)
