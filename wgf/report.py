"""Summary tables and figures drawn from a results file alone.

``summary(path)`` returns the printed report; ``draw_figures(path, folder)``
writes PNG and PDF figures: the density with the particle cloud, distances
against N with the fitted rate, invariance defects and risk over time.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

__all__ = ["summary", "draw_figures", "figure_folder", "ReportError"]


class ReportError(ValueError):
    """The file is missing or is not a wgf results file."""


# what reading a damaged or foreign HDF5 file can raise (h5py, numpy, missing keys or attributes)
_READ_ERRORS = (KeyError, OSError, ValueError, TypeError, IndexError, AttributeError, RuntimeError)


def _verify(f, path):
    """Read every numeric dataset chunk by chunk: HDF5 checks each chunk's Fletcher-32 checksum."""
    damaged = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiub" and obj.size:
            try:
                for sel in (obj.iter_chunks() if obj.chunks else [()]):
                    obj[sel]
            except OSError:
                damaged.append(name)

    f.visititems(visit)
    if damaged:
        raise ReportError(f"'{path}' is damaged: /{damaged[0]} fails its checksum"
                          + (f" (and {len(damaged) - 1} more datasets)" if len(damaged) > 1 else ""))


@contextmanager
def _reading(path):
    """The open, verified results file; any failure to read it becomes one ReportError."""
    f = _open(path)
    try:
        _verify(f, path)
        yield f
    except ReportError:
        raise
    except _READ_ERRORS as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ReportError(f"'{path}' is damaged or not a complete wgf results file ({reason})") from None
    finally:
        f.close()


def figure_folder(folder) -> Path:
    """``folder`` created if needed; ReportError (one line) if it is a file or cannot be written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ReportError(f"--figures '{folder}' is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReportError(f"--figures '{folder}' cannot be created: {e.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ReportError(f"--figures '{folder}' is not writable")
    return folder


def _open(path) -> h5py.File:
    path = Path(path)
    if not path.exists():
        raise ReportError(f"no such results file: '{path}'")
    if path.is_dir():
        raise ReportError(f"'{path}' is a folder, not a results file")
    if not path.is_file():
        raise ReportError(f"'{path}' is not a regular file")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise ReportError(f"'{path}' is not an HDF5 file (or it is damaged)") from None
    if "wgf_version" not in f.attrs:
        f.close()
        raise ReportError(f"'{path}' is not a wgf results file (no wgf_version attribute)")
    return f


def _particle_ns(f) -> list[int]:
    return sorted(int(k[1:]) for k in f["particles"]) if "particles" in f else []


def summary(path) -> str:
    """The report of a results file as text (PDE trackers, particles per N, distances and rates).

    Raises ReportError (one line) for a missing, foreign or damaged file (every dataset's checksum is
    checked)."""
    try:
        return _summary(path)
    except ReportError:
        raise
    except _READ_ERRORS as e:
        raise ReportError(f"'{path}' is damaged or not a complete wgf results file ({e})") from None


def _summary(path) -> str:
    lines = []
    with _reading(path) as f:
        lines.append(f"wgf {f.attrs['wgf_version']}  {f.attrs.get('title', '')}".rstrip())
        if "pde" in f:
            p = f["pde"]
            t = p["time"][()]
            lines.append(f"\nPDE on a {'x'.join(str(n) for n in p['density'].shape[1:])} grid "
                         f"({p.attrs.get('space', '')} space), t = {t[0]:g} .. {t[-1]:g}, {p.attrs.get('steps', '?')} steps")
            lines.append("  mass error      %.2e   (|mass - 1|, max over snapshots)" % np.abs(p["mass"][()] - 1).max())
            lines.append("  risk            %.4e -> %.4e" % (p["risk"][0], p["risk"][-1]))
            lines.append("  free energy     %.4e -> %.4e   (nonincreasing: %s)" % (
                p["free_energy"][0], p["free_energy"][-1], bool(np.all(np.diff(p["free_energy"][()]) <= 1e-12))))
            if "wi_defect" in p:
                lines.append("  WI defect       %.2e   (max_g ||rho o M_g - rho||_1; 0 = weakly invariant)" % p["wi_defect"][()].max())
            lines.append("  SI defect       %.2e   (int |z - P_E z|^2 drho; 0 = on E^G)" % p["si_defect"][()].max())
            lines.append("  boundary mass   %.2e   (mass in the outer cell layer; large = box too small)" % p["boundary_mass"][()].max())
        ns = _particle_ns(f)
        if ns:
            lines.append("\nParticles at the final time (mean over seeds):")
            lines.append("  %8s %6s %12s %12s %12s" % ("N", "seeds", "risk", "WI RMD^2", "SI RMD^2"))
            for n in ns:
                g = f[f"particles/N{n}"]
                wi = "%12.3e" % g["wi_rmd2"][:, -1].mean() if "wi_rmd2" in g else "%12s" % "skipped"
                lines.append("  %8d %6d %12.4e %s %12.3e" % (n, g["risk"].shape[0], g["risk"][:, -1].mean(), wi,
                                                         g["si_rmd2"][:, -1].mean()))
            lines.append("  (RMD^2 to the symmetrization nu^G and to the projection P_E#nu: 0 = invariant)")
        if "compare" in f:
            c = f["compare"]
            cn = c["N"][()].astype(int)
            lines.append("\nParticles vs PDE density at the final time (mean over seeds):")
            lines.append("  %-20s" % "metric" + "".join("%11s" % f"N={n}" for n in cn) + "   slope [95%]          floor")
            for name in sorted(k for k in c if c[k].ndim == 3):
                d = c[name]
                vals = d[()][:, :, -1].mean(axis=1)
                lines.append("  %-20s" % name + "".join("%11.3e" % v for v in vals)
                             + "   %+.2f [%+.2f, %+.2f]   %.2e" % (d.attrs.get("slope", np.nan),
                                                                   d.attrs.get("slope_low", np.nan),
                                                                   d.attrs.get("slope_high", np.nan), d.attrs["floor"]))
            lines.append("  (the mean-field limit predicts a slope of -1/2 for mmd, energy and output_l2;"
                         " values below the floor are the PDE's own error and are not fitted)")
        if "discovery" in f:
            d = f["discovery"]
            rmd2 = d["rmd2"][()] if "rmd2" in d else []
            lines.append(f"\nDiscovered subspace: dimension {d['basis'].shape[1]} of {d['basis'].shape[0]} "
                         f"after {len(rmd2)} rounds (residual RMD^2 per round: "
                         + ", ".join("%.2e" % v for v in rmd2) + ")")
            if "principal_angles" in d and d["principal_angles"].size:
                lines.append("  principal angles to E^G (rad): "
                             + ", ".join("%.2e" % v for v in d["principal_angles"][()]))
        has_study = "study" in f
    if has_study:
        from .study import study_table, verdicts

        lines.append("\n" + study_table(path))
        for statement, value, holds in verdicts(path):
            lines.append(f"{'holds' if holds else 'FAILS':<6} {statement}: {value:.3g}")
    return "\n".join(lines)


# ------------------------------------------------------------------- figures
def _save(fig, folder: Path, name: str):
    folder.mkdir(parents=True, exist_ok=True)
    for ext in ("png", "pdf"):
        fig.savefig(folder / f"{name}.{ext}", dpi=150, bbox_inches="tight")


def _colors(ns):
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("viridis")
    return {n: cmap(i / max(1, len(ns) - 1) * 0.85) for i, n in enumerate(ns)}


def draw_figures(path, folder) -> list[Path]:
    """Draw every figure the file supports into ``folder``; returns the PNG paths.

    Raises ReportError (one line) for a damaged or foreign file and a folder that is a file or not
    writable."""
    figure_folder(folder)
    try:
        return _draw_figures(path, folder)
    except ReportError:
        raise
    except _READ_ERRORS as e:
        raise ReportError(f"'{path}' is damaged or not a complete wgf results file ({e})") from None


def _draw_figures(path, folder) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    written = []
    with _reading(path) as f:
        ns = _particle_ns(f)
        colors = _colors(ns)
        if "pde" in f:
            fig = _density_figure(plt, f, ns)
            _save(fig, folder, "density")
            written.append(folder / "density.png")
            plt.close(fig)
        if "compare" in f:
            fig = _rates_figure(plt, f)
            _save(fig, folder, "distances")
            written.append(folder / "distances.png")
            plt.close(fig)
        if ns or "pde" in f:
            fig = _time_figure(plt, f, ns, colors)
            _save(fig, folder, "training")
            written.append(folder / "training.png")
            plt.close(fig)
        has_study = "study" in f
    if has_study:
        from .study import draw_study

        written.append(draw_study(path, folder)[0])
    return written


def _density_figure(plt, f, ns):
    p = f["pde"]
    dens = p["density"][-1]
    basis = p["basis"][()]
    axes = [p[f"u{k}"][()] for k in range(dens.ndim)]
    m = dens.ndim
    cloud = None
    if ns:
        cloud = f[f"particles/N{ns[-1]}/positions"][0, -1] @ basis  # grid coordinates u = B^T z
    t = p["time"][-1]
    if m == 1:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(axes[0], dens, color="k", label="PDE density")
        if cloud is not None:
            ax.hist(cloud[:, 0], bins=axes[0].size, range=(axes[0][0], axes[0][-1]), density=True, alpha=0.4,
                    label=f"particles, N = {ns[-1]}")
        ax.set_xlabel("$u_0$")
        ax.set_ylabel("density")
        ax.legend()
        ax.set_title(f"t = {t:g}")
        return fig
    size = 4.5 if m == 2 else 3.0 * (m - 1)
    fig, grid_axes = plt.subplots(m - 1, m - 1, figsize=(size + 0.5, size), squeeze=False)
    for i in range(1, m):
        for j in range(m - 1):
            ax = grid_axes[i - 1, j]
            if j >= i:
                ax.axis("off")
                continue
            others = tuple(k for k in range(m) if k not in (i, j))
            marg = dens.sum(axis=others) if others else dens  # axes (j, i), j < i
            ax.pcolormesh(axes[j], axes[i], marg.T, shading="nearest", cmap="Blues")
            if cloud is not None:
                ax.scatter(cloud[:, j], cloud[:, i], s=2, c="tab:red", alpha=0.35, linewidths=0)
            ax.set_xlabel(f"$u_{j}$")
            ax.set_ylabel(f"$u_{i}$")
            ax.set_aspect("equal")
    title = f"PDE density (blue) at t = {t:g}"
    if cloud is not None:
        title += f", particles N = {ns[-1]} (red)"
    fig.suptitle(title + "\ncoordinates u = B^T z on the grid's subspace", fontsize=10)
    fig.tight_layout()
    return fig


def _rates_figure(plt, f):
    from .plot import distance_vs_n

    c = f["compare"]
    n = c["N"][()]
    names = sorted(k for k in c if c[k].ndim == 3)
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axs = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.5 * rows), squeeze=False)
    for ax, name in zip(axs.ravel(), names):
        d = c[name]
        rate = tuple(d.attrs.get(k, np.nan) for k in ("slope", "slope_low", "slope_high"))
        distance_vs_n(n, d[()][:, :, -1], floor=d.attrs["floor"], rate=rate, ax=ax, ylabel=name)
    for ax in axs.ravel()[len(names):]:
        ax.axis("off")
    fig.suptitle(f"particles vs PDE at t = {d.attrs['time']:g}")
    fig.tight_layout()
    return fig


def _time_figure(plt, f, ns, colors):
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for n in ns:
        g = f[f"particles/N{n}"]
        t = g["time"][()]
        a1.plot(t, g["si_rmd2"][()].mean(axis=0), color=colors[n], label=f"SI, N = {n}")
        if "wi_rmd2" in g:
            a1.plot(t, g["wi_rmd2"][()].mean(axis=0), color=colors[n], ls=":", label=f"WI, N = {n}")
        a2.plot(t, g["risk"][()].mean(axis=0), color=colors[n], label=f"particles, N = {n}")
    if "pde" in f:
        p = f["pde"]
        a2.plot(p["time"][()], p["risk"][()], color="k", lw=2, label="PDE risk")
        a2.plot(p["time"][()], p["free_energy"][()], color="k", ls="--", label="PDE free energy")
    a1.set_xlabel("mean-field time t")
    a1.set_ylabel("RMD$^2$ (mean over seeds)")
    a1.set_yscale("symlog", linthresh=1e-8)
    a1.set_title("invariance defects of the particles")
    a1.legend(fontsize=7)
    a2.set_xlabel("mean-field time t")
    a2.set_ylabel("risk R / free energy F")
    a2.set_yscale("symlog", linthresh=1e-6)
    a2.set_title("training")
    a2.legend(fontsize=7)
    fig.tight_layout()
    return fig
