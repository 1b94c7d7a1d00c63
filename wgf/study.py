"""The paper's study for varying N (docs/theory.md §7.8 and §9).

The paper's swap problem (2x2 sigmoid units, G = C2 acting by swapping rows and
columns, E^G = {[[a, b], [b, a]]}) is trained by noisy SGD for every

    start in (si, wi) x teacher in (arbitrary, wi, si) x scheme in (vanilla, da, fa, ea),

N on a list and a number of seeds, to MF time t_end with eps = alpha / N.  At the
end of training each run gives

    si_rmd2 = RMD^2(nu, P_E#nu)   (distance to E^G: 0 iff nu is SI),
    wi_rmd2 = RMD^2(nu, nu^G)     (distance to the symmetrization: 0 iff nu is WI).

SI starts use projected noise (P_E xi, the setting of Thm 5); WI starts use full
noise (N(0, I) is WI).  The seed's prediction (docs/theory.md §7.8): from an SI start, vanilla
SGD with the arbitrary teacher leaves E^G at every N while DA, FA and EA stay in it;
with an equivariant teacher, vanilla stays closer to E^G as N grows.  ``verdicts``
turns these into measured statements.

The study is a named sweep (``wgf.sweep``): the paper's config (``StudyPlan.config_text``)
varied over training.init (with training.noise), data.teacher and training.scheme, with N
from its [particles] list. Its file is a sweep file: /sweep/<quantity> on dimensions
(N, init, teacher, scheme, seed).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from wgf.registry import Registry
from wgf.schema import STUDY_DIMS, STUDY_NAME, STUDY_QUANTITIES, SWEEP

if TYPE_CHECKING:
    import h5py
    from distributed import Client

    from wgf._typing import PathLike
    from wgf.problem import Problem
    from wgf.sweep import Sweep

__all__ = ["StudyPlan", "SCHEMES", "TEACHERS", "STARTS", "paper_problem", "paper_sweep", "run_paper_study",
           "read_study", "study_table", "verdicts", "draw_study", "is_study", "NAMED_SWEEPS"]

log = logging.getLogger("wgf")

SCHEMES = ("vanilla", "da", "fa", "ea")
TEACHERS = ("arbitrary", "wi", "si")
STARTS = ("si", "wi")

# docs/theory.md §9: the five 2x2 teacher matrices (row-major) times 0.5
PAPER_TEACHER = 0.5 * np.array([
    [-1.0, 0.0, 0.0, 0.5],
    [0.5, 1.0, 0.0, 1.0],
    [-0.5, 0.3, 1.0, 0.0],
    [0.0, -1.0, -0.5, 1.0],
    [0.7, -0.7, 0.5, 0.7],
])


# the SO(2) study's teacher particles (2x2 gated units, row-major)
ROTATION_TEACHER = np.array([[0.8, -0.3, 0.5, 0.2], [-0.4, 0.6, 0.1, 0.9], [0.3, 0.7, -0.6, 0.4]])
# the groups the study has a setup for (names of wgf.groups.GROUPS); factory (quick) -> StudyPlan
STUDY_GROUPS = Registry("study group", "the groups of the paper study; factory (quick: bool) -> StudyPlan")


@dataclass(frozen=True)
class StudyPlan:
    """What the study runs: the grid of (start, teacher, scheme), N, seeds and SGD constants (docs/theory.md §9)."""

    n: tuple = (5, 10, 50, 100, 500, 1000)
    seeds: int = 10
    t_end: float = 1000.0
    alpha: float = 50.0
    batch: int = 20
    tau: float = 1e-4
    beta: float = 1e-6
    init_std: float = 0.25
    x_std: float = 4.0
    starts: tuple = STARTS
    teachers: tuple = TEACHERS
    schemes: tuple = SCHEMES
    group: str = "swap"
    haar_points: int = 8

    @classmethod
    def quick(cls, **changes) -> "StudyPlan":
        """N in {10, 100, 1000}, 3 seeds (the rest as the full study)."""
        return cls(**{"n": (10, 100, 1000), "seeds": 3, **changes})

    @classmethod
    def rotation(cls, **changes) -> "StudyPlan":
        """The study under SO(2) (``group = "rotation"``): 2x2 gated units s(|W x|^2) W x, E^G = {a I + b J},
        an 8-point Haar quadrature (exact on E^G; nu^G of N particles has 8 N points, whose exact OT to nu
        dominates the cost), x ~ N(0, 1.5^2 I); N in {10, 100, 1000}, 3 seeds, MF time 20."""
        return cls(**{"n": (10, 100, 1000), "seeds": 3, "t_end": 20.0, "alpha": 20.0, "beta": 1e-4,
                      "x_std": 1.5, "group": "rotation", **changes})

    def __post_init__(self):
        for name, allowed in (("starts", STARTS), ("teachers", TEACHERS), ("schemes", SCHEMES)):
            bad = [v for v in getattr(self, name) if v not in allowed]
            if bad or not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty subset of {allowed}, got {getattr(self, name)}")
        if not self.n or any(int(n) < 1 for n in self.n) or self.seeds < 1:
            raise ValueError(f"need N >= 1 and seeds >= 1, got n = {self.n}, seeds = {self.seeds}")
        if not (self.t_end > 0 and self.alpha > 0 and self.batch >= 1):
            raise ValueError("need t_end > 0, alpha > 0 and batch >= 1")
        if self.group not in STUDY_GROUPS:
            raise ValueError(f"group must be one of {', '.join(STUDY_GROUPS)}, got {self.group!r}")

    def to_json(self) -> str:
        """Canonical text of the plan (stored in the results file; a resume must match it)."""
        return json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()},
                          sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "StudyPlan":
        """The plan ``to_json`` wrote."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(text).items()})

    def combinations(self) -> list[tuple[str, str, str]]:
        return [(s, t, c) for s in self.starts for t in self.teachers for c in self.schemes]

    def config_text(self) -> str:
        """The study's base config (TOML); the sweep varies its init, noise, teacher and scheme."""
        rotation = self.group == "rotation"
        teacher = ROTATION_TEACHER if rotation else PAPER_TEACHER
        rows = ",\n".join("    [" + ", ".join(repr(float(v)) for v in row) + "]" for row in teacher)
        model = ('unit = "gated_matrix"\ndim_x = 2\ndim_y = 2\n' if rotation
                 else 'unit = "sigmoid_matrix"\ndim_x = 2\ndim_y = 2\n')
        group = f'name = "rotation"\nhaar_points = {self.haar_points}\n' if rotation else 'name = "swap"\n'
        return (f'title = "Paper study ({self.group} group): RMD^2 to E^G at the end of training, for varying N"\n'
                f"\n[model]\n{model}\n[group]\n{group}\n[data]\nx_std = {self.x_std!r}\n"
                f'teacher = "{self.teachers[0]}"\nteacher_particles = [\n{rows},\n]\n'
                f'\n[training]\nscheme = "{self.schemes[0]}"\ntau = {self.tau!r}\nbeta = {self.beta!r}\n'
                f'init = "si"\nnoise = "projected"\ninit_std = {self.init_std!r}\nt_end = {self.t_end!r}\n'
                f"snapshots = 2\n"
                f"\n[particles]\nn = [{', '.join(str(int(n)) for n in self.n)}]\nseeds = {self.seeds}\n"
                f"alpha = {self.alpha!r}\nbatch = {self.batch}\n")


STUDY_GROUPS.add("swap", lambda quick=False: StudyPlan.quick() if quick else StudyPlan(),
                 doc="the paper's problem: 2x2 sigmoid matrix units under the swap of coordinates")
STUDY_GROUPS.add("rotation", lambda quick=False: StudyPlan.rotation(),
                 doc="2x2 gated units under SO(2), N in {10, 100, 1000}, 3 seeds (``StudyPlan.rotation``)")


def _noise(start: str) -> str:
    return "projected" if start == "si" else "full"


def paper_sweep(plan: StudyPlan = StudyPlan()) -> Sweep:
    """The study as a ``wgf.sweep.Sweep``: ``plan.config_text()`` over (init with its noise) x teacher x scheme,
    N from its [particles] list; SI starts use projected noise (Thm 5), WI starts full noise."""
    from wgf.sweep import Sweep

    varies = ["training.init+training.noise=" + ",".join(f"{s}+{_noise(s)}" for s in plan.starts),
              "data.teacher=" + ",".join(plan.teachers), "training.scheme=" + ",".join(plan.schemes)]
    return Sweep.build(plan.config_text(), varies, name=STUDY_NAME, meta={"plan": plan.to_json()})


# the built-in sweeps, by name (``wgf sweep NAME``)
NAMED_SWEEPS = {
    "paper": lambda: paper_sweep(StudyPlan()),
    "paper-quick": lambda: paper_sweep(StudyPlan.quick()),
    "paper-rotation": lambda: paper_sweep(StudyPlan.rotation()),
}


def paper_problem(start: str, teacher: str, scheme: str, plan: StudyPlan = StudyPlan()) -> Problem:
    """The study's problem for one (start, teacher, scheme): SI starts with projected noise, WI with full
    (the paper's swap problem, or 2x2 gated units under SO(2) for ``plan.group == "rotation"``)."""
    from wgf.config import apply_overrides, parse_config

    return parse_config(apply_overrides(plan.config_text(), [f"training.init={start}", f"training.noise={_noise(start)}",
                                                            f"data.teacher={teacher}", f"training.scheme={scheme}"])
                        ).problem


def run_paper_study(plan: StudyPlan, out_path: PathLike, *, workers: int = 1, dask: str | Client | None = None,
                    resume: bool = False, progress: bool = True, retries: int | None = None) -> Path:
    """Run every job of ``plan`` (its ``paper_sweep``) and write ``out_path`` (``wgf.sweep.run_sweep``:
    atomically on completion, resumable, the same file on every executor)."""
    from wgf.sweep import run_sweep

    return run_sweep(paper_sweep(plan), out_path, workers=workers, dask=dask, resume=resume, progress=progress,
                     retries=retries)


def is_study(f: h5py.Group) -> bool:
    """Whether the open h5py file ``f`` is a paper-study file."""
    return SWEEP in f and f[SWEEP].attrs.get("name") == STUDY_NAME


QUANTITIES = STUDY_QUANTITIES  # what the study reads of its sweep file (wgf.schema)


def read_study(path: PathLike) -> tuple:
    """(plan, N (K,), {(start, teacher, scheme): {quantity: (K, S)}}) from a paper-study file, quantities
    si_rmd2 (to E^G), wi_rmd2 (to nu^G) and risk; a run without values (blown up) is NaN."""
    import h5py

    from wgf.sweep import Sweep, read_sweep

    with h5py.File(path, "r") as f:
        if not is_study(f):
            raise ValueError(f"'{path}' is not a paper-study file (no /sweep of the paper study)")
        plan = StudyPlan.from_json(Sweep.from_json(f.attrs["config"]).meta["plan"])
    ds = read_sweep(path)
    dims = STUDY_DIMS
    if ds["si_rmd2"].dims != dims:
        raise ValueError(f"'{path}' is not a paper-study file (dimensions {ds['si_rmd2'].dims}, not {dims})")
    values = {}
    for combo in plan.combinations():
        at = dict(zip(("init", "teacher", "scheme"), combo))
        values[combo] = {q: ds[q].sel(at).values for q in QUANTITIES}
    return plan, ds["N"].values.astype(int), values


def study_table(path: PathLike) -> str:
    """The mean over seeds of si_rmd2 (and wi_rmd2 for WI starts) per N, one row per combination."""
    plan, ns, values = read_study(path)
    lines = [f"RMD^2 at MF time {plan.t_end:g}, mean over {plan.seeds} seeds (docs/theory.md §9)",
             f"{'start':<6}{'teacher':<10}{'scheme':<8}{'quantity':<11}" + "".join(f"{'N=' + str(n):>10}" for n in ns)]
    for combo in plan.combinations():
        for q in ("si_rmd2",) + (("wi_rmd2",) if combo[0] == "wi" else ()):
            row = values[combo][q].mean(axis=1)
            lines.append(f"{combo[0]:<6}{combo[1]:<10}{combo[2]:<8}{q:<11}" + "".join(f"{v:10.2e}" for v in row))
    return "\n".join(lines)


# "stays in E^G": DA/FA/EA from an SI start with projected noise keep the particles in E^G in exact
# arithmetic; in floating point the transverse round-off (RMD^2 ~ 1e-32) is all that is left, except
# that large steps can amplify it: at N = 5 (eps = alpha / N = 10) FA grew it to 5e-10 over the 100
# steps of the full study.  1e-8 separates that from vanilla's departures (9e-2 with the arbitrary
# teacher at every N; 1e-6 to 3e-2 with an equivariant one, N = 1000 .. 5).
STAYS_IN_FIXED_SUBSPACE = 1e-8


def verdicts(path: PathLike) -> list:
    """The seed's predictions (docs/theory.md §7.8) as measured statements: [(statement, value, holds)]."""
    plan, ns, values = read_study(path)
    out = []
    if "si" in plan.starts:
        if "arbitrary" in plan.teachers and "vanilla" in plan.schemes:
            v = values[("si", "arbitrary", "vanilla")]["si_rmd2"].mean(axis=1)
            out.append(("SI start, arbitrary teacher: vanilla leaves E^G at every N (min over N of mean RMD^2)",
                        float(v.min()), bool(v.min() > 1e-4)))
        for scheme in [s for s in plan.schemes if s != "vanilla"]:
            worst = max(float(values[("si", t, scheme)]["si_rmd2"].max()) for t in plan.teachers)
            out.append((f"SI start: {scheme} stays in E^G for every teacher (max RMD^2)", worst,
                        worst <= STAYS_IN_FIXED_SUBSPACE))
    if "vanilla" in plan.schemes and len(ns) >= 2:
        for start, q, what in (("si", "si_rmd2", "E^G"), ("wi", "wi_rmd2", "nu^G")):
            for teacher in [t for t in plan.teachers if t != "arbitrary"] if start in plan.starts else ():
                v = values[(start, teacher, "vanilla")][q].mean(axis=1)
                slope = float(np.polyfit(np.log(ns), np.log(np.maximum(v, 1e-300)), 1)[0])
                out.append((f"{start.upper()} start, {teacher} teacher: vanilla closer to {what} as N grows "
                            f"(slope of log RMD^2 on log N)", slope, slope < 0))
    return out


def draw_study(path: PathLike, folder: PathLike) -> list:
    """Figure ``paper_study`` (PNG and PDF): RMD^2 to E^G vs N, one panel per (start, teacher), one
    color and marker per scheme, geometric mean over seeds with the 95% interval of the mean of
    log RMD^2; dashed: RMD^2 to nu^G (WI starts). A mean at round-off (``wgf.plot.rmd2_round_off``,
    2.2e-13: a scheme that keeps E^G) is a mark in the grey round-off band, not a value."""
    from matplotlib.figure import Figure
    from scipy import stats

    from wgf.labels import display_name
    from wgf.plot import ROUND_OFF_MARK, rmd2_round_off, save

    plan, ns, values = read_study(path)
    folder = Path(folder)
    colors = {"vanilla": "C0", "da": "C1", "fa": "C2", "ea": "C3"}
    markers = {"vanilla": "o", "da": "s", "fa": "^", "ea": "v"}
    fig = Figure(figsize=(4.2 * len(plan.teachers), 3.4 * len(plan.starts)))
    axes = fig.subplots(len(plan.starts), len(plan.teachers), squeeze=False, sharex=True)
    floor = rmd2_round_off()  # below it: round-off, drawn in the band
    for r, start in enumerate(plan.starts):
        for c, teacher in enumerate(plan.teachers):
            ax = axes[r, c]
            for k, scheme in enumerate(plan.schemes):
                x = ns * 1.08 ** (k - (len(plan.schemes) - 1) / 2)  # side by side where schemes coincide
                for q, style in (("si_rmd2", "-"), ("wi_rmd2", "--")):
                    if q == "wi_rmd2" and start != "wi":
                        continue
                    logs = np.log10(np.maximum(values[(start, teacher, scheme)][q], floor))  # round-off: at floor
                    mean = logs.mean(axis=1)
                    half = (stats.t.ppf(0.975, logs.shape[1] - 1) * logs.std(axis=1, ddof=1) / np.sqrt(logs.shape[1])
                            if logs.shape[1] > 1 else np.zeros_like(mean))
                    centre = 10.0 ** mean
                    if (low := centre <= floor * (1 + 1e-9)).any():  # every seed at round-off: a mark in the band
                        ax.plot(x[low], np.full(low.sum(), ROUND_OFF_MARK * floor), markers[scheme],
                                mfc="none", color=colors[scheme], ms=4)
                        mean, half = np.where(low, np.nan, mean), np.where(low, 0.0, half)
                        centre = 10.0 ** mean
                    ax.errorbar(x, centre, yerr=[centre - 10.0 ** (mean - half), 10.0 ** (mean + half) - centre],
                                fmt=markers[scheme] + style, color=colors[scheme], ms=4, capsize=2, lw=1.2,
                                label=scheme if q == "si_rmd2" else None)
            ax.axhspan(floor * 1e-2, floor, color="0.85", linewidth=0, zorder=0,
                       label=f"at round-off (< {floor:.1e})" if (r, c) == (0, 0) else None)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{start.upper()} start, {teacher} teacher", fontsize=10)
            if r == len(plan.starts) - 1:
                ax.set_xlabel(display_name("N"))
            if c == 0:
                ax.set_ylabel("RMD$^2$ at the end of training")
            ax.grid(True, which="major", alpha=0.3)
    axes[0, 0].legend(title="scheme", fontsize=8)
    fig.suptitle(f"Distance to $E^G$ (solid) and to $\\nu^G$ (dashed, WI starts) at MF time {plan.t_end:g}: "
                 f"geometric mean and 95% interval over {plan.seeds} seeds; grey band: round-off", fontsize=9)
    fig.tight_layout()
    return save(fig, folder / "paper_study")  # PNG and PDF, TrueType fonts
