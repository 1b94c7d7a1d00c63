"""A user-defined unit from Python: sigma_*(x, W) = softsign(W x), trained under the swap group.

Shows wgf.custom_unit (per-particle value and VJP, compiled by numba), its use in
the particle engine and in the mean-field PDE on E^G, and the check that the
unit is jointly equivariant. Run: python examples/custom_unit.py
"""

import numpy as np

import wgf
from wgf.grids import solve
from wgf.grids.mean_field import make_grid
from wgf.particles import simulate


def value(x, z, out):
    dx = x.shape[0]
    for a in range(out.shape[0]):
        u = 0.0
        for j in range(dx):
            u += z[a * dx + j] * x[j]
        out[a] = u / (1.0 + abs(u))


def vjp(x, z, c, g):
    dx = x.shape[0]
    for a in range(c.shape[0]):
        u = 0.0
        for j in range(dx):
            u += z[a * dx + j] * x[j]
        d = c[a] / (1.0 + abs(u)) ** 2
        for j in range(dx):
            g[a * dx + j] += d * x[j]


unit = wgf.custom_unit("softsign_matrix", 2, 2, 4, value, vjp, action=lambda rx, ry: np.kron(ry, rx))
symmetry = wgf.Symmetry(unit, wgf.group_from_name("swap", 2, 2))
teacher = wgf.make_teacher("wi", [[-0.5, 0.0, 0.0, 0.25], [0.25, 0.5, 0.0, 0.5]], symmetry)
data = wgf.GaussianTeacherData(unit, teacher, x_std=2.0, teacher_kind="wi")
problem = wgf.Problem(symmetry, data, scheme="fa", beta=1e-3, init="si", noise="projected", t_end=5.0, snapshots=3)

traj = simulate(problem, 500, seed=0)
print(f"particles: risk {wgf.risk(problem, traj.final):.4g}, SI defect {symmetry.si_defect(traj.final):.2e}")
history = solve(problem, make_grid(problem, space="fixed", cells=48, half_width=1.5))
print(f"PDE on E^G: risk {history.trackers['risk'][-1]:.4g}, mass {history.trackers['mass'][-1]:.12f}")
