"""Finite groups acting orthogonally on features and labels.

A finite group G is stored as the list of its elements, each a pair of
orthogonal matrices (rho_g, rhohat_g) acting on X = R^dx and on Y = R^dy.
Element 0 is the identity. The Haar measure is uniform over the elements.

Built-in groups act on X by permuting coordinates (or by a sign); on Y they act
the same way when dy == dx and trivially when dy == 1 (invariant labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import permutations

import numpy as np

__all__ = [
    "FiniteGroup",
    "trivial_group",
    "swap_group",
    "cyclic_group",
    "permutation_group",
    "sign_group",
    "group_from_name",
    "GROUP_NAMES",
]

_ATOL = 1e-10


@dataclass(frozen=True)
class FiniteGroup:
    """A finite group as its elements' representation matrices.

    Parameters
    ----------
    rho_x : array (|G|, dx, dx)
        Orthogonal matrices rho_g acting on features.
    rho_y : array (|G|, dy, dy)
        Orthogonal matrices rhohat_g acting on labels.
    name : str
        A label for reports.

    The constructor checks orthogonality, that element 0 is the identity and
    that the set is closed under products and inverses.
    """

    rho_x: np.ndarray
    rho_y: np.ndarray
    name: str = "custom"
    table: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        rx = np.ascontiguousarray(self.rho_x, dtype=float)
        ry = np.ascontiguousarray(self.rho_y, dtype=float)
        if rx.ndim != 3 or rx.shape[1] != rx.shape[2]:
            raise ValueError(f"rho_x must have shape (|G|, dx, dx), got {rx.shape}")
        if ry.ndim != 3 or ry.shape[1] != ry.shape[2] or ry.shape[0] != rx.shape[0]:
            raise ValueError(f"rho_y must have shape ({rx.shape[0]}, dy, dy), got {ry.shape}")
        for mats, which in ((rx, "rho_x"), (ry, "rho_y")):
            eye = np.eye(mats.shape[1])
            gram = np.einsum("gji,gjk->gik", mats, mats)
            if not np.allclose(gram, eye, atol=_ATOL):
                raise ValueError(f"{which}: group elements must be orthogonal matrices")
            if not np.allclose(mats[0], eye, atol=_ATOL):
                raise ValueError(f"{which}: element 0 must be the identity")
        rx.setflags(write=False)
        ry.setflags(write=False)
        object.__setattr__(self, "rho_x", rx)
        object.__setattr__(self, "rho_y", ry)
        object.__setattr__(self, "table", self._multiplication_table())

    # ------------------------------------------------------------------ algebra
    @property
    def order(self) -> int:
        """|G|, the number of elements."""
        return self.rho_x.shape[0]

    @property
    def dim_x(self) -> int:
        return self.rho_x.shape[1]

    @property
    def dim_y(self) -> int:
        return self.rho_y.shape[1]

    def __len__(self) -> int:
        return self.order

    def index(self, rx: np.ndarray, ry: np.ndarray) -> int:
        """Index of the element (rx, ry); KeyError if it is not in the group."""
        dx = np.abs(self.rho_x - rx).reshape(self.order, -1).max(axis=1)
        dy = np.abs(self.rho_y - ry).reshape(self.order, -1).max(axis=1)
        hit = np.flatnonzero((dx < 1e-8) & (dy < 1e-8))
        if hit.size == 0:
            raise KeyError("matrix pair is not an element of the group")
        return int(hit[0])

    def _multiplication_table(self) -> np.ndarray:
        n = self.order
        table = np.empty((n, n), dtype=np.int64)
        for a in range(n):
            for b in range(n):
                try:
                    table[a, b] = self.index(self.rho_x[a] @ self.rho_x[b], self.rho_y[a] @ self.rho_y[b])
                except KeyError:
                    raise ValueError(
                        f"group '{self.name}' is not closed under products (elements {a} and {b})"
                    ) from None
        return table

    @property
    def inverse(self) -> np.ndarray:
        """inverse[g] = index of g^{-1}."""
        return np.argmax(self.table == 0, axis=1)

    @property
    def is_trivial_on_y(self) -> bool:
        return bool(np.allclose(self.rho_y, np.eye(self.dim_y), atol=_ATOL))

    # ---------------------------------------------------------- construction
    @classmethod
    def from_generators(cls, generators_x, generators_y, name: str = "custom", max_order: int = 100_000):
        """Close a set of generator pairs (rho, rhohat) under products.

        generators_x : sequence of (dx, dx) orthogonal matrices
        generators_y : sequence of (dy, dy) orthogonal matrices, same length
        """
        gx = [np.asarray(g, dtype=float) for g in generators_x]
        gy = [np.asarray(g, dtype=float) for g in generators_y]
        if len(gx) != len(gy):
            raise ValueError("generators_x and generators_y must have the same length")
        if not gx:
            raise ValueError("at least one generator is needed")
        dx, dy = gx[0].shape[0], gy[0].shape[0]
        for g in gx:
            if g.shape != (dx, dx):
                raise ValueError(f"generators_x must all be ({dx}, {dx}) matrices")
            if not np.allclose(g.T @ g, np.eye(dx), atol=1e-9):
                raise ValueError("generators_x must be orthogonal matrices")
        for g in gy:
            if g.shape != (dy, dy):
                raise ValueError(f"generators_y must all be ({dy}, {dy}) matrices")
            if not np.allclose(g.T @ g, np.eye(dy), atol=1e-9):
                raise ValueError("generators_y must be orthogonal matrices")

        def key(a, b):
            return tuple(np.round(np.concatenate([a.ravel(), b.ravel()]), 8) + 0.0)

        elements = [(np.eye(dx), np.eye(dy))]
        seen = {key(*elements[0])}
        frontier = list(elements)
        while frontier:
            nxt = []
            for a, b in frontier:
                for sx, sy in zip(gx, gy):
                    c, d = sx @ a, sy @ b
                    k = key(c, d)
                    if k not in seen:
                        seen.add(k)
                        elements.append((c, d))
                        nxt.append((c, d))
                        if len(elements) > max_order:
                            raise ValueError(f"generators produce more than {max_order} elements (not a finite group?)")
            frontier = nxt
        rx = np.stack([e[0] for e in elements])
        ry = np.stack([e[1] for e in elements])
        # round exact permutation / sign entries to kill accumulated round-off
        rx = np.where(np.abs(rx - np.round(rx)) < 1e-12, np.round(rx), rx)
        ry = np.where(np.abs(ry - np.round(ry)) < 1e-12, np.round(ry), ry)
        return cls(rx, ry, name=name)


# ---------------------------------------------------------------- built-ins
def _perm_matrix(perm) -> np.ndarray:
    n = len(perm)
    p = np.zeros((n, n))
    p[np.arange(n), perm] = 1.0  # (P x)_i = x_{perm[i]}
    return p


def _label_action(perm_mats: list[np.ndarray], dim_x: int, dim_y: int, name: str) -> list[np.ndarray]:
    if dim_y == dim_x:
        return perm_mats
    if dim_y == 1:
        return [np.eye(1) for _ in perm_mats]
    raise ValueError(
        f"group '{name}': dim_y must equal dim_x ({dim_x}) or be 1 for a built-in "
        f"permutation action, got {dim_y}; give generators_x/generators_y instead"
    )


def trivial_group(dim_x: int, dim_y: int) -> FiniteGroup:
    """G = {e}."""
    return FiniteGroup(np.eye(dim_x)[None], np.eye(dim_y)[None], name="trivial")


def swap_group(dim_x: int, dim_y: int) -> FiniteGroup:
    """C2 exchanging coordinates 0 and 1 (the paper's group)."""
    if dim_x < 2:
        raise ValueError("group 'swap' needs dim_x >= 2")
    perm = list(range(dim_x))
    perm[0], perm[1] = 1, 0
    gx = [_perm_matrix(perm)]
    return FiniteGroup.from_generators(gx, _label_action(gx, dim_x, dim_y, "swap"), name="swap")


def cyclic_group(dim_x: int, dim_y: int) -> FiniteGroup:
    """C_n, n = dim_x, generated by the cyclic shift of coordinates."""
    gx = [_perm_matrix(np.roll(np.arange(dim_x), 1))]
    return FiniteGroup.from_generators(gx, _label_action(gx, dim_x, dim_y, "cyclic"), name="cyclic")


def permutation_group(dim_x: int, dim_y: int) -> FiniteGroup:
    """S_n, n = dim_x, all coordinate permutations."""
    if dim_x > 7:
        raise ValueError("group 'permutation' is limited to dim_x <= 7 (|S_n| = n!)")
    gx = [_perm_matrix(p) for p in permutations(range(dim_x))]
    gy = _label_action(gx, dim_x, dim_y, "permutation")
    return FiniteGroup(np.stack(gx), np.stack(gy), name="permutation")


def sign_group(dim_x: int, dim_y: int) -> FiniteGroup:
    """{+1, -1} acting by x -> -x and y -> -y."""
    return FiniteGroup(
        np.stack([np.eye(dim_x), -np.eye(dim_x)]),
        np.stack([np.eye(dim_y), -np.eye(dim_y)]),
        name="sign",
    )


GROUP_NAMES = {
    "trivial": trivial_group,
    "swap": swap_group,
    "cyclic": cyclic_group,
    "permutation": permutation_group,
    "sign": sign_group,
}


def group_from_name(name: str, dim_x: int, dim_y: int) -> FiniteGroup:
    """Built-in group by name (see GROUP_NAMES)."""
    try:
        make = GROUP_NAMES[name]
    except KeyError:
        raise ValueError(f"unknown group '{name}' (choose from {', '.join(GROUP_NAMES)})") from None
    return make(dim_x, dim_y)
