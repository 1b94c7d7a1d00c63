"""Every example holds the claim its header states: each file of examples/ is run as a user runs it
(``load_config`` with ``--set``-style overrides, ``run_experiment``) at the reduced size its header names
("in the tests: ..."), and the numbers of its claim are asserted: fitted slopes whose 95% interval
contains -1/2, a PDE floor below a third of the particle error at the largest N, invariance defects at
round-off, a closed form.

The table EXAMPLES holds, per example, the overrides and the bars, so header and test read side by side.
The discovery examples are run by tests/test_discovery.py (swap and C3 with their dimensions and principal
angles); here only their headers are checked against what that file asserts.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

from wgf import load_config
from wgf.runner import run_experiment

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = ROOT / "examples"


@dataclass(frozen=True)
class Claim:
    """What an example's header claims, as bars on its results file.

    rate: metrics whose fitted slope's 95% interval contains -1/2 and whose PDE floor is below a third of
    the mean particle error at the largest N; si_max / wi_max: the particles' largest final RMD^2 to E^G
    (SI) or to its G-orbit (WI); si_min: the smallest (vanilla leaving E^G); pde_wi_max / pde_si_max: the PDE
    trackers' largest value; risk_drop: the particles' final mean risk below this fraction of the initial;
    si_falls: the mean final SI RMD^2 at the largest N below this fraction of the one at the smallest."""

    sets: tuple = ()
    rate: tuple = ()
    si_max: float | None = None
    si_min: float | None = None
    wi_max: float | None = None
    pde_wi_max: float | None = None
    pde_si_max: float | None = None
    risk_drop: float | None = None
    si_falls: float | None = None


# each example's test inputs and bars; its header states the same ("in the tests: ...")
EXAMPLES = {
    "linear_gaussian": Claim(sets=("particles.n=[100, 300, 1000]", 'compare.metrics=["energy", "mmd"]'),
                             rate=("energy", "mmd")),
    "inverse_time": Claim(sets=("particles.n=[100, 300, 1000]", 'compare.metrics=["energy"]'), rate=("energy",)),
    "linear_swap_1d": Claim(sets=("particles.n=[100, 300, 1000]", "training.t_end=2.0", "training.snapshots=3",
                                  'compare.metrics=["energy", "mmd", "sliced_w2"]'),
                            rate=("energy", "mmd", "sliced_w2"), si_max=1e-28),
    "fixed_subspace_pde": Claim(sets=("particles.n=[100, 1000]", "training.snapshots=3",
                                      'compare.metrics=["mmd", "energy", "sliced_w2"]'),
                                rate=("mmd", "energy", "sliced_w2")),
    "rotation_gated": Claim(sets=("particles.n=[250, 1000]",), rate=("mmd", "energy", "sliced_w2"), si_max=1e-26),
    "relu_matrix": Claim(sets=("training.t_end=2.0", "training.snapshots=3"), si_min=1e-4, si_falls=0.2),
    "two_layer_permutation": Claim(sets=("training.t_end=0.5", "training.snapshots=2", "particles.n=[100]",
                                         "particles.seeds=1"), si_max=1e-26, pde_si_max=1e-28),
    "rotation3_gated": Claim(sets=("training.t_end=0.2", "training.snapshots=2", "particles.n=[100]",
                                   "particles.seeds=1", "pde.cells=[64]"), si_max=1e-26, pde_si_max=1e-28),
    "finite_dataset": Claim(sets=("training.t_end=1.0", "training.snapshots=2", "particles.n=[100]",
                                  "particles.seeds=1", "pde.cells=32"), si_max=1e-26, pde_wi_max=1e-12),
    "wi_full_space_4d": Claim(sets=("training.t_end=1.0", "training.snapshots=3"), pde_wi_max=1e-12),
    "paper_c2": Claim(sets=("training.t_end=50.0", "training.snapshots=2", "particles.n=[10, 100]",
                            "particles.seeds=2"), si_min=0.05),
    "logistic_huber": Claim(sets=("training.t_end=2.0", "training.snapshots=2", "particles.n=[100]",
                                  "particles.seeds=1"), risk_drop=0.8),
    # N = 1e5 and 512^2 cells take 15 minutes: the tests fit the rate on the same problem at N <= 1000
    "rate_to_1e5": Claim(sets=("pde.cells=128", "particles.n=[100, 1000]", 'compare.metrics=["mmd", "energy"]'),
                         rate=("mmd", "energy")),
}


# run as `wgf run` in a process of their own: after the other examples in one process, rotation_gated's mmd
# slope comes out -0.14 [-0.47, +0.19] (alone: inside its interval), a state shared between compiled kernels
OWN_PROCESS = {"rotation_gated"}


def run(stem: str, claim: Claim, tmp_path) -> Path:
    """The example's results file, written with the overrides ``claim.sets``: by ``run_experiment`` in this
    process, or by ``wgf run --set ...`` in a process of its own for OWN_PROCESS."""
    out = tmp_path / f"{stem}.h5"
    if stem in OWN_PROCESS:
        import subprocess
        import sys

        sets = [arg for s in claim.sets for arg in ("--set", s)]
        done = subprocess.run([sys.executable, "-m", "wgf", "run", str(EXAMPLES_DIR / f"{stem}.toml"), *sets,
                               "-o", str(out), "--quiet"], capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr
        return out
    exp = load_config(EXAMPLES_DIR / f"{stem}.toml", claim.sets)
    return run_experiment(exp, out, quiet=True)


def final(f, name):
    """{N: (S,) final values of /particles/N<N>/<name>}."""
    return {int(k[1:]): g[name][()][:, -1] for k, g in f["particles"].items() if name in g}


def check(path: Path, claim: Claim) -> None:
    with h5py.File(path, "r") as f:
        for metric in claim.rate:
            ds = f["compare"][metric]
            a = ds.attrs
            err = ds[()][-1, :, -1].mean()  # the largest N, every seed, the final time
            assert a["slope_low"] <= -0.5 <= a["slope_high"], (metric, a["slope"], a["slope_low"], a["slope_high"])
            assert a["floor"] < err / 3, (metric, a["floor"], err)
        if claim.si_max is not None:
            assert max(v.max() for v in final(f, "si_rmd2").values()) < claim.si_max
        if claim.si_min is not None:
            assert min(v.min() for v in final(f, "si_rmd2").values()) > claim.si_min
        if claim.wi_max is not None:
            assert max(v.max() for v in final(f, "wi_rmd2").values()) < claim.wi_max
        if claim.pde_wi_max is not None:
            assert f["pde"]["wi_defect"][()].max() < claim.pde_wi_max
        if claim.pde_si_max is not None:
            assert f["pde"]["si_defect"][()].max() < claim.pde_si_max
        if claim.si_falls is not None:
            si = final(f, "si_rmd2")
            assert si[max(si)].mean() < claim.si_falls * si[min(si)].mean(), si
        if claim.risk_drop is not None:
            for n, g in f["particles"].items():
                risk = g["risk"][()].mean(axis=0)
                assert risk[-1] < claim.risk_drop * risk[0], (n, risk)


def gaussian_moments(path: Path) -> None:
    """linear_gaussian: the PDE's mean and variance against the closed form of the Ornstein-Uhlenbeck flow,
    m(t) = m* + (m0 - m*) exp(-2 (s^2 + tau) t), m* = s^2 w* / (s^2 + tau), and
    v(t) = v* + (v0 - v*) exp(-4 tau t), v* = beta / (2 tau), within 5e-4 at every snapshot (measured: 3e-4)."""
    path_toml = EXAMPLES_DIR / "linear_gaussian.toml"
    p = load_config(path_toml).problem
    (w_star,), = tomllib.loads(path_toml.read_text())["data"]["teacher_particles"]  # the teacher's one particle
    s2, tau, beta = p.data.x_std ** 2, p.tau, p.beta
    with h5py.File(path, "r") as f:
        rho, u, t = f["pde"]["density"][()], f["pde"]["u0"][()], f["pde"]["time"][()]
    rho = rho / rho.sum(axis=1, keepdims=True)
    mean = rho @ u
    var = np.einsum("tj,tj->t", rho, (u[None, :] - mean[:, None]) ** 2)
    m_star, v_star = s2 * w_star / (s2 + tau), beta / (2 * tau)
    np.testing.assert_allclose(mean, m_star * (1 - np.exp(-2 * (s2 + tau) * t)), atol=5e-4)
    np.testing.assert_allclose(var, v_star + (p.init_std ** 2 - v_star) * np.exp(-4 * tau * t), atol=5e-4)
    # the minimizer: the Gaussian N(m*, v*) (cell averages), and the flow's distance to it decays between the
    # OU rates of the variance, 4 tau = 2, and of the mean, 2 (s^2 + tau) = 3 (measured -2.6 [-3.0, -2.3])
    from scipy.stats import norm

    with h5py.File(path, "r") as f:
        best, a = f["minimizer"]["density"][()], dict(f["minimizer"]["pde_distance"].attrs)
    edges = np.concatenate([u - (u[1] - u[0]) / 2, [u[-1] + (u[1] - u[0]) / 2]])
    exact = np.diff(norm.cdf(edges, m_star, np.sqrt(v_star))) / (u[1] - u[0])
    assert np.abs(best - exact).sum() * (u[1] - u[0]) <= 1e-3
    assert -2 * (s2 + tau) - 0.1 <= a["decay_rate"] <= -4 * tau + 0.1, a


def test_discover_rotation_finds_the_so2_subspace(tmp_path):
    """discover_rotation: `wgf discover` as shipped keeps {a I + b J} (dim 2) of SO(2), found without the
    group. A process of its own: in a process that has trained linear units, this discovery keeps a 1D
    subspace instead (RMD^2 3e-31 at round 1) and the linear examples' errors stop falling after it, a
    state shared between compiled particle kernels (reproduced outside the tests)."""
    import subprocess
    import sys

    out = tmp_path / "disc.h5"
    done = subprocess.run([sys.executable, "-m", "wgf", "discover", str(EXAMPLES_DIR / "discover_rotation.toml"),
                           "-o", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "discovered dim E_* = 2" in done.stdout
    with h5py.File(out, "r") as f:
        g = f["discovery"]
        assert g["dims"][()].tolist() == [0, 1, 2] and g["rmd2"][2] < 1e-20 < 1e-6 < g["rmd2"][1]
        assert g["principal_angles"][()].max() < 1e-8


# examples whose claim is a closed form, checked on the same results file
EXACT = {"linear_gaussian": gaussian_moments}


@pytest.mark.parametrize("stem", sorted(EXAMPLES))
def test_example_holds_its_claim(stem, tmp_path):
    path = run(stem, EXAMPLES[stem], tmp_path)
    check(path, EXAMPLES[stem])
    if stem in EXACT:
        EXACT[stem](path)


def test_every_example_is_tested_here_or_in_test_discovery():
    """A new example needs a row in EXAMPLES (or a discovery test): its header's claim is then asserted."""
    stems = {p.stem for p in EXAMPLES_DIR.glob("*.toml")}
    discovery = {s for s in stems if s.startswith("discover_")}
    assert stems - discovery == set(EXAMPLES)


def test_discovery_headers_state_what_test_discovery_asserts():
    """tests/test_discovery.py recovers E^G of dim 2 (swap) and 3 (C3, circulant); the headers say so."""
    assert "E^G = {[[a, b], [b, a]]} (dim 2)" in (EXAMPLES_DIR / "discover_swap.toml").read_text()
    assert "E^G of dimension 3" in (EXAMPLES_DIR / "discover_c3.toml").read_text()

