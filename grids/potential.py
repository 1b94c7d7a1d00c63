r"""The mean-field potential :math:`U(\mu, z) = \frac{\delta R}{\delta \mu}(\mu, z) + \tau |z|^2` on the
cells of a grid.

For a cell density :math:`\rho` (:math:`\sum_c \rho_c |\mathrm{cell}| = 1`), with the problem's scheme
unit :math:`\sigma` and quadrature :math:`(x_q, y_q, w_q)`, cells :math:`z_c = B u_c`:

.. math::

    \Phi(x_q) &= \sum_c \rho_c\, |\mathrm{cell}|\, \sigma(x_q, z_c), \\
    U_c &= \sum_q w_q \big\langle \nabla_1 \ell(\Phi(x_q), y_q),\, \sigma(x_q, z_c) \big\rangle + \tau |z_c|^2 .

Three evaluation paths, equal up to round-off:

- ``table``: :math:`\sigma(x_q, z_c)` stored once as a (Q dy, C) matrix (when its C Q dy doubles fit the
  memory budget: a quarter of the memory available when the potential is built, at least 512 MB); each
  evaluation is then two BLAS matrix-vector products.
- ``direct``: :math:`\sigma` recomputed in chunks by the unit's compiled sums at every evaluation.
- ``separable``: for units additively separable over parameter blocks,
  :math:`\sigma(x, z) = \sum_k f_k(x, z_k)`, on a full-space grid whose axes are the
  parameters: :math:`U(z) = \sum_k U_k(z_k) + \tau |z|^2` needs only the block marginals of
  :math:`\rho`, so a 4D grid costs a few 2D evaluations. With
  :math:`g_k(x, z_k) = \sigma(x, z_k \text{ embedded with zeros elsewhere}) - \sigma(x, 0)`,
  :math:`\Phi = \sigma(\cdot, 0) + \sum_k \int g_k\, d\mu_k` and
  :math:`U_k = \sum_q w_q \langle r_q, g_k(x_q, \cdot) \rangle`
  (:math:`U` is determined up to a constant, which the flux never sees).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from wgf.grids.grid import Grid

if TYPE_CHECKING:
    from wgf.problem import Problem

__all__ = ["MeanFieldPotential", "DEFAULT_MEMORY_BUDGET", "TABLE_MEMORY_SHARE", "table_budget", "table_bytes",
           "potential_bytes", "auto_path"]

DEFAULT_MEMORY_BUDGET = 512 * 2**20  # bytes a stored unit table may always take
TABLE_MEMORY_SHARE = 0.25  # of the available memory, where that is more
TABLE_BLOCK = 4096  # cells per block while the table is built


def table_budget(free_memory: float | None = None) -> float:
    """Bytes the ``table`` path may store: the larger of DEFAULT_MEMORY_BUDGET and TABLE_MEMORY_SHARE of the
    memory available now (``wgf.resources.available_memory``, or ``free_memory``)."""
    from wgf.resources import available_memory

    free = available_memory() if free_memory is None else free_memory
    return max(float(DEFAULT_MEMORY_BUDGET), TABLE_MEMORY_SHARE * float(free))


def table_bytes(cells: float, nodes: int, dim_y: int) -> float:
    """Memory of the unit table sigma(x_q, z_c): C Q dy float64."""
    return 8.0 * float(cells) * nodes * dim_y


def auto_path(separable: bool, table: float, budget: float | None = None) -> str:
    """The path ``MeanFieldPotential(path="auto")`` takes: "separable" for a unit additively separable over
    blocks of the grid's axes, else "table" where its ``table`` bytes fit ``budget`` (``table_budget()`` by
    default), else "direct"."""
    if separable:
        return "separable"
    return "table" if table <= (table_budget() if budget is None else budget) else "direct"


def potential_bytes(problem: Problem, cells: float, space: str) -> float:
    """Memory ``MeanFieldPotential(path="auto")`` stores on a grid of ``cells`` cells of ``space`` ("full" or
    "fixed"): the table if ``auto_path`` takes it, else none. A unit with blocks counts as separable on the
    full space only (on E^G the table is counted, an upper bound); its block tables are small."""
    table = table_bytes(cells, len(problem.quadrature.weights), problem.base_unit.dim_y)
    separable = space == "full" and getattr(problem.unit, "blocks", None) is not None
    return table if auto_path(separable, table) == "table" else 0.0


class MeanFieldPotential:
    r""":math:`U(\mu, \cdot)` on the cells of ``grid`` for ``problem``; call it with a cell density.

    ``path`` is "auto" (separable when possible, else table within ``memory_budget`` bytes, by default
    ``table_budget()``, else direct), or one of "separable", "table", "direct".
    After a call, ``last_output`` holds :math:`\Phi` at the quadrature nodes (Q, dy).
    """

    def __init__(self, problem: Problem, grid: Grid, *, path: str = "auto",
                 memory_budget: float | None = None) -> None:
        self.problem, self.grid = problem, grid
        q = problem.quadrature
        self.x = np.ascontiguousarray(q.x)
        self.y, self.qw = q.y, q.weights
        self.unit = problem.unit  # the scheme's unit
        self.z = np.ascontiguousarray(grid.embed(grid.points))  # (C, D)
        self.penalty = (problem.tau * np.einsum("cd,cd->c", self.z, self.z)).reshape(grid.shape)
        dy = problem.base_unit.dim_y
        blocks = self._separable_blocks()
        if path == "auto":
            path = auto_path(blocks is not None, table_bytes(grid.size, len(self.x), dy), memory_budget)
        if path == "separable" and blocks is None:
            raise ValueError("the separable path needs a unit additively separable over blocks of grid axes")
        self.path = path
        self.last_output = None
        if path == "table":  # (Q dy, C), for BLAS products on either side; built in blocks of cells
            table = np.empty((len(self.x), dy, grid.size))
            base = getattr(self.unit, "base", self.unit)
            if self.unit is base or (self.unit.n_maps == 0 and self.unit.projector is None):  # sigma = sigma_*
                base.sums.values(self.x, np.ascontiguousarray(self.z.T), table)
            else:
                for c0 in range(0, grid.size, TABLE_BLOCK):
                    block = self.unit.value(self.x, self.z[c0 : c0 + TABLE_BLOCK])  # (Q, cells, dy)
                    table[:, :, c0 : c0 + TABLE_BLOCK] = block.transpose(0, 2, 1)
            self.table = table.reshape(len(self.x) * dy, grid.size)
        elif path == "separable":
            self._setup_separable(blocks)
        elif path != "direct":
            raise ValueError(f"unknown potential path {path!r}")

    # ---------------------------------------------------------------- setup
    def _unit_table(self, z):
        """sigma(x_q, z_c), (C, Q, dy)."""
        return np.ascontiguousarray(self.unit.value(self.x, z).transpose(1, 0, 2))

    def _separable_blocks(self):
        blocks = getattr(self.problem.unit, "blocks", None)
        if blocks is None or self.grid.ndim != self.problem.dim:
            return None
        if not np.array_equal(self.grid.basis, np.eye(self.problem.dim)):
            return None
        return [np.sort(np.asarray(b)) for b in blocks]

    def _setup_separable(self, blocks):
        grid, dim = self.grid, self.problem.dim
        self.blocks = blocks
        self.offset = self._unit_table(np.zeros((1, dim)))[0]  # sigma(x_q, 0), (Q, dy)
        self.block_tables, self.block_shapes = [], []
        for b in blocks:
            axes = [grid.axes[k] for k in b]
            pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(b))
            z = np.zeros((pts.shape[0], dim))
            z[:, b] = pts
            self.block_tables.append(self._unit_table(z) - self.offset[None])
            self.block_shapes.append(tuple(len(a) for a in axes))

    @property
    def seconds(self) -> float:
        """Nominal cost of one call (for ``method="auto"``, ``wgf.grids.cost``): about 1 ns per
        (cell, node, output) with a table, 6.5 ns recomputing the unit, and for the separable path
        10 ns per cell (the block marginals) plus 1 ns per (block cell, node, output)."""
        nodes_out = len(self.x) * self.problem.base_unit.dim_y
        if self.path == "table":
            return 1e-9 * self.grid.size * nodes_out
        if self.path == "direct":
            return 6.5e-9 * self.grid.size * nodes_out
        return 1e-8 * self.grid.size + 1e-9 * sum(int(np.prod(s)) for s in self.block_shapes) * nodes_out

    # ----------------------------------------------------------- evaluation
    def output(self, rho: np.ndarray) -> np.ndarray:
        r""":math:`\Phi` at the quadrature nodes, (Q, dy), for the cell density rho (grid shape)."""
        vol = self.grid.cell_volume
        if self.path == "table":
            return (self.table @ rho.ravel()).reshape(len(self.x), -1) * vol
        if self.path == "direct":
            return self.unit.output(self.x, self.z, np.ascontiguousarray(rho.ravel() * vol))
        phi = self.offset.copy()
        for b, table in zip(self.blocks, self.block_tables):
            others = tuple(k for k in range(self.grid.ndim) if k not in set(b.tolist()))
            marginal = rho.sum(axis=others) * vol  # masses of the block cells
            phi += np.einsum("c,cqa->qa", marginal.ravel(), table)
        return phi

    def __call__(self, rho: np.ndarray) -> np.ndarray:
        r""":math:`U(\mu, z_c)` on the cells (grid shape)."""
        phi = self.output(rho)
        self.last_output = phi
        return self.of_output(phi)

    def of_output(self, phi: np.ndarray) -> np.ndarray:
        r""":math:`U` on the cells (grid shape) from the model's outputs :math:`\Phi` (Q, dy) at the quadrature
        nodes: :math:`U` depends on :math:`\mu` only through them."""
        return self.dual(self.problem.loss.grad(phi, self.y) * self.qw[:, None]) + self.penalty

    def dual(self, r: np.ndarray) -> np.ndarray:
        r""":math:`\sum_q \langle r_q, \sigma(x_q, z_c) \rangle` on the cells (grid shape) for r (Q, dy): the
        transpose of ``output``."""
        if self.path == "table":
            v = (np.ascontiguousarray(r).ravel() @ self.table).reshape(self.grid.shape)
        elif self.path == "direct":
            v = self.unit.dual(self.x, r, self.z).reshape(self.grid.shape)
        else:
            v = np.zeros(self.grid.shape)
            for b, table, shape in zip(self.blocks, self.block_tables, self.block_shapes):
                vk = np.einsum("cqa,qa->c", table, r).reshape(shape)
                # broadcast U_k(z_k) over the other axes
                expand = [1] * self.grid.ndim
                for j, k in enumerate(b):
                    expand[k] = shape[j]
                order = np.argsort(b)
                v = v + np.transpose(vk, order).reshape(expand)
        return v

    def free_energy(self, rho: np.ndarray) -> tuple[float, float]:
        r"""(:math:`F_h(\rho)`, :math:`R(\rho)`) of the cell density rho: the discrete free energy

        .. math::

            F_h(\rho) = R(\Phi_\rho) + |\mathrm{cell}| \sum_c \rho_c\, \tau |z_c|^2
                + \beta\, |\mathrm{cell}| \sum_c \rho_c \log \rho_c ,

        whose gradient in :math:`\rho` is :math:`|\mathrm{cell}|\,(U + \beta (\log \rho + 1))`: the flow's
        trackers and the minimizer (``wgf.grids.minimize_free_energy``) use this one definition. Sets
        ``last_output``."""
        phi = self.output(rho)
        self.last_output = phi
        risk = self.risk(phi)
        vol = self.grid.cell_volume
        pos = rho[rho > 0]
        neg_entropy = float(np.sum(pos * np.log(pos)) * vol)
        return risk + float(np.sum(rho * self.penalty) * vol) + self.problem.beta * neg_entropy, risk

    def risk(self, phi: np.ndarray | None = None) -> float:
        r""":math:`R(\mu) = \sum_q w_q\, \ell(\Phi(x_q), y_q)` (+ noise variance), from the last (or given)
        :math:`\Phi`."""
        from wgf.functionals import quadrature_risk

        return quadrature_risk(self.problem, self.last_output if phi is None else phi)
