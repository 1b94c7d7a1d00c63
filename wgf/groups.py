r"""Finite and compact groups acting orthogonally on features and labels.

A finite group :math:`G` is stored as the list of its elements, each a pair of
orthogonal matrices :math:`(\rho_g, \hat\rho_g)` acting on :math:`\mathcal X = \mathbb R^{d_x}` and on
:math:`\mathcal Y = \mathbb R^{d_y}`.
Element 0 is the identity. The Haar measure is uniform over the elements.

A compact group (``CompactGroup``: SO(2), O(2), SO(3)) keeps its structure: a
basis of its Lie algebra, one element per connected component and a Haar
sampler. Its ``rho_x``/``rho_y`` are a *Haar quadrature*: a finite subgroup whose
uniform measure integrates what the schemes average (docs/groups.md).

Built-in groups act on X by permuting coordinates, by a sign or by their
matrices; on Y they act the same way when dy == dx and trivially when dy == 1
(invariant labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import permutations
from math import cos, factorial, pi, sin
from typing import TYPE_CHECKING

import numpy as np

from wgf.registry import Registry

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self

    from numpy.typing import ArrayLike

__all__ = [
    "FiniteGroup",
    "ACTION_CLASSES",
    "action_class",
    "trivial_group",
    "swap_group",
    "cyclic_group",
    "permutation_group",
    "sign_group",
    "CompactGroup",
    "rotation_group",
    "orthogonal_group",
    "rotation3_group",
    "rotation_matrix",
    "group_from_name",
    "GROUPS",
    "GROUP_NAMES",
    "COMPACT_GROUPS",
    "DEFAULT_HAAR_POINTS",
]

_ATOL = 1e-10


def _probe(dim: int, which: int) -> np.ndarray:
    """A fixed generic vector of R^dim (seeded): g -> (rho_g v, rhohat_g w) separates the elements of a group."""
    return np.random.default_rng(12345 + which).normal(size=dim)


def _signatures(rx: np.ndarray, ry: np.ndarray) -> np.ndarray:
    """s_g = (rho_g v, rhohat_g w) (..., dx + dy) for the fixed generic vectors v, w of ``_probe``.

    Two elements with equal signatures are equal: (rho_a - rho_b) v = 0 for a generic v forces
    rho_a = rho_b. A product needs only s_ab = (rho_a (rho_b v), rhohat_a (rhohat_b w)): d^2 work
    instead of d^3 for the matrices."""
    return np.concatenate([rx @ _probe(rx.shape[-1], 0), ry @ _probe(ry.shape[-1], 1)], axis=-1)


def _signature_key(s: np.ndarray) -> bytes:
    """A hashable key of a signature (rounded to 8 decimals, -0 as 0)."""
    return (np.round(s, 8) + 0.0).tobytes()


# classes of orthogonal actions, each contained in the next; a loss names the largest class of label
# actions it is invariant under (wgf.losses, docs/groups.md "Which losses are invariant")
ACTION_CLASSES = ("trivial", "permutation", "signed_permutation", "orthogonal")


def _signed_permutations(mats: np.ndarray, signed: bool = True) -> np.ndarray:
    """(n,) bool: which of the matrices (n, d, d) are (signed) permutation matrices, entries 0 and +-1 (0 and 1
    if not ``signed``), one nonzero per row and column."""
    out = np.empty(len(mats), dtype=bool)
    for start in range(0, len(mats), 16):  # in blocks: temporaries of 16 matrices, not of the whole group
        block = mats[start:start + 16]
        one = np.abs((np.abs(block) if signed else block) - 1.0) <= _ATOL
        ok = np.all(one | (np.abs(block) <= _ATOL), axis=(1, 2))
        out[start:start + 16] = ok & np.all(one.sum(axis=1) == 1, axis=1) & np.all(one.sum(axis=2) == 1, axis=1)
    return out


def action_class(mats: ArrayLike) -> str:
    """The smallest of ``ACTION_CLASSES`` holding every orthogonal matrix of ``mats`` (n, d, d)."""
    mats = np.asarray(mats, dtype=float)
    if np.allclose(mats, np.eye(mats.shape[-1]), atol=_ATOL):
        return "trivial"
    if _signed_permutations(mats, signed=False).all():
        return "permutation"
    return "signed_permutation" if _signed_permutations(mats).all() else "orthogonal"


@dataclass(frozen=True)
class FiniteGroup:
    r"""A finite group as its elements' representation matrices.

    Parameters
    ----------
    rho_x : array (|G|, dx, dx)
        Orthogonal matrices :math:`\rho_g` acting on features.
    rho_y : array (|G|, dy, dy)
        Orthogonal matrices :math:`\hat\rho_g` acting on labels.
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
            other = ~_signed_permutations(mats)  # orthogonal as they are; the others by their Gram matrices
            if other.any() and not np.allclose(np.matmul(mats[other].transpose(0, 2, 1), mats[other]), eye,
                                               atol=_ATOL):
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
        r""":math:`|G|`, the number of elements."""
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
        """table[a, b] = index of ab, found by its signature s_ab (``_signatures``): O(|G|^2 (dx^2 + dy^2))."""
        n, dx = self.order, self.dim_x
        sig = _signatures(self.rho_x, self.rho_y)
        row = np.dtype((np.void, sig.itemsize * sig.shape[1]))  # a rounded signature as one sortable key

        def keys(s):
            return np.ascontiguousarray(np.round(s, 8) + 0.0).view(row).ravel()

        order = np.argsort(keys(sig), kind="stable")
        known = keys(sig)[order]
        table = np.empty((n, n), dtype=np.int64)
        sx, sy = np.ascontiguousarray(sig[:, :dx].T), np.ascontiguousarray(sig[:, dx:].T)
        for a in range(n):
            prods = np.concatenate([_left_multiplier(self.rho_x[a])(sx), _left_multiplier(self.rho_y[a])(sy)]).T
            k = keys(prods)
            pos = np.minimum(np.searchsorted(known, k), n - 1)
            table[a] = order[pos]
            for b in np.flatnonzero(known[pos] != k):  # near a rounding boundary: the nearest one, within a tolerance
                dist = np.abs(sig - prods[b]).max(axis=1)
                hit = int(dist.argmin())
                if dist[hit] > 1e-8 * max(1.0, float(np.abs(prods[b]).max())):
                    raise ValueError(f"group '{self.name}' is not closed under products (elements {a} and {b})")
                table[a, b] = hit
        return table

    @property
    def inverse(self) -> np.ndarray:
        r"""``inverse[g]`` = index of :math:`g^{-1}`."""
        return np.argmax(self.table == 0, axis=1)

    @property
    def continuous(self) -> bool:
        """Whether G is a continuous (compact Lie) group; a finite group is not."""
        return False

    @property
    def label_action(self) -> str:
        r"""How :math:`G` acts on the labels: the smallest of ``ACTION_CLASSES`` holding every :math:`\hat\rho_g`."""
        return action_class(self.rho_y)

    @property
    def is_trivial_on_y(self) -> bool:
        return bool(np.allclose(self.rho_y, np.eye(self.dim_y), atol=_ATOL))

    # ---------------------------------------------------------- construction
    @classmethod
    def from_generators(cls, generators_x: Sequence[ArrayLike], generators_y: Sequence[ArrayLike],
                        name: str = "custom", max_order: int = 100_000) -> Self:
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
            with np.errstate(all="ignore"):
                orthogonal = np.allclose(g.T @ g, np.eye(dx), atol=1e-9)
            if not orthogonal:
                raise ValueError("generators_x must be orthogonal matrices")
        for g in gy:
            if g.shape != (dy, dy):
                raise ValueError(f"generators_y must all be ({dy}, {dy}) matrices")
            if not np.allclose(g.T @ g, np.eye(dy), atol=1e-9):
                raise ValueError("generators_y must be orthogonal matrices")

        mult = [(_left_multiplier(sx), _left_multiplier(sy)) for sx, sy in zip(gx, gy)]
        elements = [(np.eye(dx), np.eye(dy))]
        sigs = [_signatures(*elements[0])]
        seen = {_signature_key(sigs[0])}
        frontier = [0]
        while frontier:  # breadth first; a candidate's signature (d^2) before its matrix (d^3, d^2 for permutations)
            nxt = []
            for i in frontier:
                for (sx, sy), (mx, my) in zip(zip(gx, gy), mult):
                    sig = np.concatenate([sx @ sigs[i][:dx], sy @ sigs[i][dx:]])
                    k = _signature_key(sig)
                    if k not in seen:
                        seen.add(k)
                        elements.append((mx(elements[i][0]), my(elements[i][1])))
                        sigs.append(sig)
                        nxt.append(len(elements) - 1)
                        if len(elements) > max_order:
                            raise ValueError(f"generators produce more than {max_order} elements (not a finite group?)")
            frontier = nxt
        rx, ry = np.empty((len(elements), dx, dx)), np.empty((len(elements), dy, dy))
        for i in range(len(elements)):  # one element at a time: no temporaries of the size of the group
            (a, b), elements[i] = elements[i], None
            for out, m in ((rx[i], a), (ry[i], b)):
                r = np.round(m)  # round exact permutation / sign entries to kill accumulated round-off
                np.copyto(out, np.where(np.abs(m - r) < 1e-12, r, m))
        return cls(rx, ry, name=name)


def _left_multiplier(s: np.ndarray):
    """a -> s @ a; by row indexing (d^2 work) when s is a signed permutation matrix, else a matrix product."""
    rows, cols = np.nonzero(s)
    if rows.size == s.shape[0] and np.array_equal(rows, np.arange(s.shape[0])) and np.all(np.abs(s[rows, cols]) == 1):
        signs = s[rows, cols][:, None]
        return lambda a: signs * a[cols]
    return lambda a: s @ a


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


# ---------------------------------------------------------------- compact groups
def rotation_matrix(theta: float) -> np.ndarray:
    """R(theta) = [[cos, -sin], [sin, cos]], (2, 2)."""
    c, s = cos(theta), sin(theta)
    return np.array([[c, -s], [s, c]])


_J = np.array([[0.0, -1.0], [1.0, 0.0]])  # generator of so(2): R(theta) = exp(theta J)
_FLIP = np.diag([1.0, -1.0])  # a reflection: O(2) = SO(2) u SO(2) F


@dataclass(frozen=True)
class CompactGroup(FiniteGroup):
    """A compact Lie group acting on X by its matrices, with its structure kept.

    ``rho_x``, ``rho_y`` (M, ., .) are its Haar quadrature: a finite subgroup whose uniform measure
    replaces the Haar measure where the schemes average over G (DA orbit, FA; docs/groups.md).

    lie_x (L, dx, dx), lie_y (L, dy, dy) : a basis of the Lie algebra (skew matrices), acting on X and Y
    components_x (C, dx, dx), components_y (C, dy, dy) : one element per connected component, identity first
    kind : the Haar sampler, "so2" (angle), "o2" (angle and a fair reflection) or "so3" (unit quaternion)
    """

    lie_x: np.ndarray = None
    lie_y: np.ndarray = None
    components_x: np.ndarray = None
    components_y: np.ndarray = None
    kind: str = "so2"

    def _multiplication_table(self) -> np.ndarray:
        if self.order > MAX_HAAR_POINTS:
            raise ValueError(f"group '{self.name}': at most {MAX_HAAR_POINTS} Haar points, got {self.order}")
        return super()._multiplication_table()

    @property
    def continuous(self) -> bool:
        return True

    @property
    def label_action(self) -> str:
        """How G (not only its quadrature) acts on labels: orthogonal if its Lie algebra moves them (a
        continuum of rotations is no set of signed permutations), else the class of its components."""
        if self.lie_y is not None and np.abs(self.lie_y).max(initial=0.0) > _ATOL:
            return "orthogonal"
        extra = [] if self.components_y is None else [self.components_y]
        return action_class(np.concatenate([self.rho_y, *extra]))

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n independent Haar-distributed elements: (rho_x (n, dx, dx), rho_y (n, dy, dy))."""
        return haar_elements(self.kind, rng.random((n, 4)) if self.kind != "so3" else rng.normal(size=(n, 4)),
                             self.dim_x, self.dim_y)


def reference_rule(kind: str, points: int, dim_x: int, dim_y: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""A finer quadrature of the Haar measure than the ``points``-point rule of a compact group, to estimate the
    latter's error: (weights (K,), rho_x (K, dx, dx), rho_y (K, dy, dy)).

    so2: the :math:`K = \max(4M, 64) + 1` rotations by :math:`2 \pi k / K` (an odd K: the M-point rule's points
    are no subset of it, so an integrand of period :math:`\pi` cannot make both agree by aliasing); o2: the
    dihedral group with as many rotations; so3: the ZYZ Euler product rule, :math:`\alpha` and :math:`\gamma` on
    12 equispaced angles and :math:`\cos \beta` on 6 Gauss-Legendre nodes (864 rotations, exact for polynomials
    of degree 11 in the entries of R; the polyhedral rules are exact to degree 5 at most)."""
    if kind in ("so2", "o2"):
        count = max(4 * points, 64) + 1
        rots = np.stack([rotation_matrix(2 * pi * k / count) for k in range(count)])
        rx = rots if kind == "so2" else np.concatenate([rots, rots @ _FLIP])
        w = np.full(len(rx), 1.0 / len(rx))
    elif kind == "so3":
        n = 12
        nodes, gl = np.polynomial.legendre.leggauss(n // 2)
        za = [_axis_rotation((0, 0, 1), 2 * pi * k / n) for k in range(n)]
        yb = [_axis_rotation((0, 1, 0), np.arccos(c)) for c in nodes]
        rx = np.stack([a @ b @ c for a in za for b in yb for c in za])
        w = np.array([wb / (2 * n * n) for _ in za for wb in gl for _ in za])
    else:
        raise ValueError(f"unknown Haar sampler '{kind}' (choose from {', '.join(HAAR_KINDS)})")
    ry = rx if dim_y == dim_x else np.broadcast_to(np.eye(dim_y), (len(rx), dim_y, dim_y)).copy()
    return w, rx, ry


def haar_elements(kind: str, draws: np.ndarray, dim_x: int, dim_y: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Group elements from random draws (n, 4): for so2 and o2, :math:`\theta = 2 \pi u_0` and (o2) a
    reflection if :math:`u_1 < 1/2`; for so3 the rotation of the unit quaternion
    :math:`q = \mathrm{draws} / |\mathrm{draws}|` (draws normal).
    The label action is the same matrix (dim_y = dim_x) or trivial (dim_y = 1)."""
    n = draws.shape[0]
    if kind in ("so2", "o2"):
        theta = 2 * pi * draws[:, 0]
        c, s = np.cos(theta), np.sin(theta)
        rx = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
        if kind == "o2":
            rx = np.where((draws[:, 1] < 0.5)[:, None, None], rx @ _FLIP, rx)
    elif kind == "so3":
        w, x, y, z = (draws / np.linalg.norm(draws, axis=1, keepdims=True)).T
        rx = np.stack([
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ], -2)
    else:
        raise ValueError(f"unknown Haar sampler '{kind}' (choose from {', '.join(HAAR_KINDS)})")
    ry = rx if dim_y == dim_x else np.broadcast_to(np.eye(dim_y), (n, dim_y, dim_y)).copy()
    return rx, ry


# the largest Haar quadrature (the schemes' cost grows with it: FA evaluates the unit M times per sample)
MAX_HAAR_POINTS = 256
SO3_RULES = {12: "tetrahedral", 24: "octahedral", 60: "icosahedral"}
# the default Haar quadrature of each compact group


def _compact_labels(name, dim_x, dim_y, mats):
    if dim_y == dim_x:
        return mats
    if dim_y == 1:
        return np.broadcast_to(np.eye(1), (len(mats), 1, 1)).copy()
    raise ValueError(f"group '{name}': dim_y must equal dim_x ({dim_x}) or be 1, got {dim_y}")


def _compact(name, dim_x, dim_y, rx, lie, comps, kind):
    ry = _compact_labels(name, dim_x, dim_y, rx)
    lie_y = lie if dim_y == dim_x else np.zeros((len(lie), dim_y, dim_y))
    comps_y = _compact_labels(name, dim_x, dim_y, comps)
    return CompactGroup(rx, ry, name=name, lie_x=lie, lie_y=lie_y, components_x=comps, components_y=comps_y,
                        kind=kind)


def _check_points(name, points, low):
    if not isinstance(points, (int, np.integer)) or not low <= points <= MAX_HAAR_POINTS:
        raise ValueError(f"group '{name}': haar_points must be an integer in [{low}, {MAX_HAAR_POINTS}], "
                         f"got {points!r}")


def rotation_group(dim_x: int, dim_y: int, haar_points: int | None = None) -> CompactGroup:
    r"""SO(2) acting on :math:`\mathbb R^2` by rotations; Haar quadrature: the M = ``haar_points`` rotations by
    :math:`2 \pi k / M`."""
    if dim_x != 2:
        raise ValueError(f"group 'rotation' (SO(2)) acts on R^2: dim_x must be 2, got {dim_x}")
    haar_points = GROUPS["rotation"].haar_points if haar_points is None else haar_points
    _check_points("rotation", haar_points, 1)
    rx = np.stack([rotation_matrix(2 * pi * k / haar_points) for k in range(haar_points)])
    return _compact("rotation", dim_x, dim_y, rx, _J[None], np.eye(2)[None], "so2")


def orthogonal_group(dim_x: int, dim_y: int, haar_points: int | None = None) -> CompactGroup:
    r"""O(2) acting on :math:`\mathbb R^2`; Haar quadrature: the dihedral group of M = ``haar_points`` elements
    (M / 2 rotations by :math:`4 \pi k / M` and as many reflections)."""
    if dim_x != 2:
        raise ValueError(f"group 'orthogonal' (O(2)) acts on R^2: dim_x must be 2, got {dim_x}")
    haar_points = GROUPS["orthogonal"].haar_points if haar_points is None else haar_points
    _check_points("orthogonal", haar_points, 2)
    if haar_points % 2:
        raise ValueError(f"group 'orthogonal': haar_points must be even (rotations and reflections), got {haar_points}")
    half = haar_points // 2
    rots = [rotation_matrix(2 * pi * k / half) for k in range(half)]
    rx = np.stack(rots + [r @ _FLIP for r in rots])
    return _compact("orthogonal", dim_x, dim_y, rx, _J[None], np.stack([np.eye(2), _FLIP]), "o2")


def _axis_rotation(axis, angle) -> np.ndarray:
    a = np.asarray(axis, dtype=float)
    a = a / np.linalg.norm(a)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def rotation3_group(dim_x: int, dim_y: int, haar_points: int | None = None) -> CompactGroup:
    r"""SO(3) acting on :math:`\mathbb R^3` by rotations; Haar quadrature: the rotation group of the tetrahedron (12),
    octahedron (24) or icosahedron (60 = default), exact for polynomials in the entries of R of degree
    2, 3 and 5 respectively (docs/groups.md)."""
    if dim_x != 3:
        raise ValueError(f"group 'rotation3' (SO(3)) acts on R^3: dim_x must be 3, got {dim_x}")
    haar_points = GROUPS["rotation3"].haar_points if haar_points is None else haar_points
    if haar_points not in SO3_RULES:
        raise ValueError(f"group 'rotation3': haar_points must be 12, 24 or 60 (the tetrahedral, octahedral or "
                         f"icosahedral rotations), got {haar_points!r}")
    phi = (1 + 5 ** 0.5) / 2
    three = _axis_rotation((1, 1, 1), 2 * pi / 3)
    second = {12: _axis_rotation((0, 0, 1), pi), 24: _axis_rotation((0, 0, 1), pi / 2),
              60: _axis_rotation((0, 1, phi), 2 * pi / 5)}[haar_points]
    rx = FiniteGroup.from_generators([three, second], [three, second]).rho_x
    lie = np.stack([np.array([[0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]), np.array([[0, 0, 1.0], [0, 0, 0], [-1.0, 0, 0]]),
                    np.array([[0, -1.0, 0], [1.0, 0, 0], [0, 0, 0]])])
    return _compact("rotation3", dim_x, dim_y, rx, lie, np.eye(3)[None], "so3")


GROUPS = Registry("group", "built-in groups acting on X = R^dx and Y = R^dy; factory (dim_x, dim_y[, haar_points])")


def _finite(name, factory, doc, order):
    GROUPS.add(name, factory, doc=doc, order=order, compact=False, haar_points=None, haar_kind=None, haar_code=0)


def _compact_entry(name, factory, doc, haar_points, kind, code):
    GROUPS.add(name, factory, doc=doc, order=lambda dim_x, haar_points=None: haar_points or GROUPS[name].haar_points,
               compact=True, haar_points=haar_points, haar_kind=kind, haar_code=code)


_finite("trivial", trivial_group, "G = {e}", lambda dim_x, haar_points=None: 1)
_finite("swap", swap_group, "C2 exchanging coordinates 0 and 1 (the paper's group)", lambda dim_x, haar_points=None: 2)
_finite("cyclic", cyclic_group, "C_n, n = dim_x: cyclic shifts of the coordinates",
        lambda dim_x, haar_points=None: dim_x)
_finite("permutation", permutation_group, "S_n, n = dim_x: all permutations of the coordinates (dim_x <= 7)",
        lambda dim_x, haar_points=None: factorial(min(dim_x, 30)))
_finite("sign", sign_group, "{+1, -1} acting by x -> -x and y -> -y", lambda dim_x, haar_points=None: 2)
# the Haar samplers' codes are the particle engine's (particles.kernels: HAAR_NONE = 0)
_compact_entry("rotation", rotation_group, "SO(2) on R^2; Haar quadrature: M rotations by 2 pi k / M", 16, "so2", 1)
_compact_entry("orthogonal", orthogonal_group, "O(2) on R^2; Haar quadrature: the dihedral group of M elements", 16,
               "o2", 2)
_compact_entry("rotation3", rotation3_group, "SO(3) on R^3; Haar quadrature: a polyhedral rotation group (12, 24, 60)",
               60, "so3", 3)

# views of GROUPS
GROUP_NAMES = GROUPS
COMPACT_GROUPS = GROUPS.where(compact=True)
DEFAULT_HAAR_POINTS = {name: GROUPS[name].haar_points for name in COMPACT_GROUPS}
HAAR_KINDS = tuple(GROUPS[name].haar_kind for name in COMPACT_GROUPS)


def group_from_name(name: str, dim_x: int, dim_y: int, haar_points: int | None = None) -> FiniteGroup:
    """Built-in group by name (see ``GROUPS``); ``haar_points`` sets the quadrature of a compact group."""
    entry = GROUPS[name]
    if haar_points is not None:
        if not entry.compact:
            raise ValueError(f"haar_points: only used by the compact groups ({', '.join(GROUPS.where(compact=True))}), "
                             f"not by '{name}'")
        return entry(dim_x, dim_y, haar_points)
    return entry(dim_x, dim_y)
