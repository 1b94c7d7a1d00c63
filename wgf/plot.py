"""Figures of the mean-field flow and its particle approximation, one figure type per function.

Every drawing function takes arrays (shapes in its docstring), draws on ``ax=`` (or ``axes=`` for the
multi-panel ones; a new figure when None) and returns the axes. The ``read_*`` functions turn a results
file (a path, the ``xarray.DataTree`` of ``wgf.open_results`` or an open ``h5py.File``) or in-memory
objects (``wgf.grids.History``, ``wgf.particles.Trajectory``, ``wgf.validation.Comparison``,
``wgf.Discovery``) into the keyword arguments of a drawing function::

    import wgf

    tree = wgf.open_results("results.h5")
    wgf.plot.density(**wgf.plot.read_snapshot(tree, -1))
    ax_i, ax_r = wgf.plot.training(**wgf.plot.read_training(tree))
    wgf.plot.save(ax_i.figure, "figures/training")          # PNG and PDF, TrueType fonts

``wgf report --figures`` and ``wgf demo`` draw their figures with these functions (docs/outputs.md).
Every function checks its arguments before it draws or writes anything: a bad one is one TypeError or
ValueError naming it (docs/outputs.md, "Figures"); a density with a NaN or negative cell is refused.
Grid coordinates are u = B^T z, B = /pde/basis (D, m) with orthonormal columns: a particle z (D,) is
drawn at u = z @ B. Matplotlib is imported only when a function draws.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from wgf.labels import N_RATE, display_name
from wgf.schema import (COMPARE, COMPARE_COORDINATES, DISCOVERY, FLUCTUATION_GROUP, MINIMIZER, PDE, particle_counts,
                        particles_path, read_diagnostics)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import h5py
    import xarray as xr
    from matplotlib.axes import Axes
    from numpy.typing import DTypeLike
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike

    from wgf._typing import PathLike
    from wgf.discovery import Discovery
    from wgf.grids import History
    from wgf.particles import Trajectory
    from wgf.validation import Comparison

    # a results file: its path, the DataTree of ``wgf.open_results`` or an open h5py File (Group)
    ResultsSource = PathLike | xr.DataTree | h5py.Group

__all__ = [
    "density", "density_snapshots", "marginals", "off_subspace", "distance_vs_n", "distance_vs_time", "training",
    "minimizer_convergence", "read_minimizer", "fluctuations", "read_fluctuations",
    "discovery_rounds", "sweep_quantity", "animate", "save", "legend_below", "place_legends", "round_off",
    "read_snapshot", "read_snapshots", "read_training", "read_distances", "read_off_subspace", "read_discovery",
]

MAX_POINTS = 2000  # particles drawn over a density at most (every k-th one)
TIME = display_name("time")
ROUND_OFF_FACTOR = 1e3  # a length below ROUND_OFF_FACTOR * eps * (its scale) is round-off (``round_off``)
ROUND_OFF_MARK = 0.1  # a value at round-off is marked at this fraction of the level, inside the band
GIF_DPI = 200  # the animation's resolution: 1100 x 920 pixels, 10-point type about 28 pixels high
PDF_FONTS = {"pdf.fonttype": 42, "ps.fonttype": 42}  # TrueType fonts embedded, not Type 3


# ------------------------------------------------------------------ arguments
# Every function checks its arguments with these before it draws or writes anything: a bad one is one line,
# TypeError for the wrong kind of object, ValueError for the wrong shape, size or value, naming the argument
# and what it must be.
def _kind(x) -> str:
    return type(x).__name__


def _show(x, limit: int = 60) -> str:
    """``repr(x)`` on one line, cut at ``limit`` characters."""
    text = " ".join(repr(x).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _as_text(name: str, x) -> str | None:
    """A label: a string or None."""
    if x is not None and not isinstance(x, str):
        raise TypeError(f"{name} must be a string or None, got {_kind(x)} {_show(x)}")
    return x


def _as_array(name: str, x, doc: str, *, ndim: int | tuple[int, ...] | None = None, nan: bool = False,
              empty: bool = False) -> np.ndarray:
    """``x`` as a float array of ``ndim`` axes (``doc`` its expected shape, for the message): TypeError for
    a string, mapping, None or entries that are not real numbers; ValueError for a ragged list, the
    wrong number of axes, no entries (unless ``empty``) and entries that are not finite (NaN allowed with
    ``nan``, infinities never)."""
    if x is None or isinstance(x, (str, bytes, Mapping)):
        raise TypeError(f"{name} must be an array {doc}, got {_kind(x)}")
    try:
        a = np.asarray(x)
    except (ValueError, TypeError):  # a ragged nested list
        raise ValueError(f"{name} must be a rectangular array {doc} (rows of different lengths)") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array {doc} of real numbers, got dtype {a.dtype}")
    a = a.astype(float)
    wanted = (ndim,) if isinstance(ndim, int) else ndim
    if wanted is not None and a.ndim not in wanted:
        raise ValueError(f"{name} must be {doc}, got shape {a.shape}")
    if a.size == 0 and not empty:
        raise ValueError(f"{name} is empty (shape {a.shape}): expected {doc}")
    bad = np.isinf(a) if nan else ~np.isfinite(a)
    if bad.any():
        raise ValueError(f"{name} has {int(bad.sum())} non-finite entries ({'inf' if nan else 'NaN or inf'}) "
                         f"of {a.size}")
    return a


def _as_length(name: str, a: np.ndarray, axis: int, size: int, of: str) -> None:
    """ValueError unless ``a`` has ``size`` entries along ``axis`` (``of``: what the size is)."""
    if a.shape[axis] != size:
        raise ValueError(f"{name} has {a.shape[axis]} entries along axis {axis} (shape {a.shape}) but {of} "
                         f"has {size}")


def _as_int(name: str, x, *, low: int = 1) -> int:
    """``x`` as an integer >= ``low`` (an integral float is accepted; a bool is not)."""
    import numbers

    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be an integer >= {low}, got {_kind(x)} {_show(x)}")
    integral = isinstance(x, numbers.Integral) or (np.isfinite(x) and float(x) == int(x))
    if not integral or int(x) < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {_show(x)}")
    return int(x)


def _as_floor(floor) -> float:
    """A PDE floor: a finite number >= 0, or +inf where it could not be estimated (the Richardson grids do
    not converge, ``wgf.validation.richardson_floor``): then no value lies above it and none is fitted."""
    if isinstance(floor, (float, np.floating)) and floor == np.inf:
        return np.inf
    return _as_real("floor", floor)


def _as_real(name: str, x, *, low: float = 0.0) -> float:
    """``x`` as a finite number >= ``low``."""
    import numbers

    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a number >= {low:g}, got {_kind(x)} {_show(x)}")
    if not (np.isfinite(x) and x >= low):
        raise ValueError(f"{name} must be a finite number >= {low:g}, got {_show(x)}")
    return float(x)


def _as_index(name: str, i, count: int, what: str) -> int:
    """``i`` as an index into ``count`` ``what`` (negative from the end)."""
    i = _as_int(name, i, low=-count)
    if i >= count:
        raise ValueError(f"{name} = {i} is out of range for {count} {what} (-{count} to {count - 1})")
    return i % count


def _as_counts(name: str, x) -> np.ndarray:
    """Particle counts N (K,): positive integers."""
    n = _as_array(name, x, "(K,) of particle counts N", ndim=1)
    bad = (n < 1) | (n != np.round(n))
    if bad.any():
        raise ValueError(f"{name} must be positive integer particle counts N, got {n[bad][0]:g}")
    return n


def _as_by_n(name: str, x, what: str) -> dict:
    """A nonempty mapping {N: ``what``} with positive integer keys N."""
    if not isinstance(x, Mapping):
        raise TypeError(f"{name} must be a mapping {{N: {what}}}, got {_kind(x)}")
    if not x:
        raise ValueError(f"{name} is empty: expected a mapping {{N: {what}}} with at least one N")
    return {_as_int(f"a key N of {name}", n): v for n, v in x.items()}


def _as_axes_u(axes_u, shape: tuple[int, ...]) -> list[np.ndarray]:
    """The grid's cell centres: one increasing, equally spaced array (n_k,) of at least 2 centres per axis
    of a density of ``shape``."""
    if axes_u is None or isinstance(axes_u, (str, bytes, Mapping)) or not hasattr(axes_u, "__len__"):
        raise TypeError(f"axes_u must be a sequence of {len(shape)} arrays of cell centres, got {_kind(axes_u)}")
    if len(axes_u) != len(shape):
        raise ValueError(f"rho has {len(shape)} grid axes {shape} but axes_u gives {len(axes_u)} arrays")
    out = []
    for k, (axis, n) in enumerate(zip(axes_u, shape)):
        a = _as_array(f"axes_u[{k}]", axis, "(n_k,) of cell centres", ndim=1)
        if a.size != n:
            raise ValueError(f"axes_u[{k}] has {a.size} cell centres but rho has {n} cells on axis {k}")
        if a.size < 2:
            raise ValueError(f"axes_u[{k}] has 1 cell centre: a grid axis needs at least 2 (its cell width)")
        h = np.diff(a)
        if not (h[0] > 0 and np.all(np.abs(h - h[0]) <= 1e-6 * h[0])):
            raise ValueError(f"axes_u[{k}] must be increasing, equally spaced cell centres")
        out.append(a)
    return out


def _as_density(rho, axes_u, *, name: str = "rho", stacked: bool = False) -> tuple[np.ndarray, list]:
    """Cell averages of a density rho (n_0, ..., n_{m-1}) (``stacked``: (T, n_0, ..., n_{m-1})) and its
    axes_u: finite and nonnegative (the PDE's solver keeps every cell >= 0, so a NaN or negative cell is a
    damaged or foreign array and is refused, naming how many cells), axes as ``_as_axes_u``."""
    doc = "(T, n_0, ..., n_{m-1}) of snapshots" if stacked else "(n_0, ..., n_{m-1}) of cell averages"
    rho = _as_array(name, rho, doc, ndim=tuple(range(1 + stacked, 33)))
    negative = rho < 0
    if negative.any():
        raise ValueError(f"{name} has {int(negative.sum())} negative cells of {rho.size} (min {rho.min():.3g}): "
                         "a density is nonnegative")
    return rho, _as_axes_u(axes_u, rho.shape[stacked:])


def _as_basis(basis, m: int) -> np.ndarray:
    """The grid's basis B (D, m): u = z @ B."""
    b = _as_array("basis", basis, f"(D, {m}) with orthonormal columns", ndim=2)
    if b.shape[1] != m:
        raise ValueError(f"basis must be (D, {m}) for a density on {m} grid axes, got shape {b.shape}")
    return b


def _as_points(name: str, particles, basis, m: int) -> np.ndarray:
    """Particles (N, D) as grid coordinates u = z @ basis (N, m) (basis (D, m)); with basis None they
    already are (N, m). Finite, at least one."""
    p = _as_array(name, particles, "(N, D) of positions or (N, m) of grid coordinates", ndim=2)
    if basis is not None:
        b = _as_basis(basis, m)
        if b.shape[0] != p.shape[1]:
            raise ValueError(f"{name} have D = {p.shape[1]} coordinates but basis has {b.shape[0]} rows")
        return p @ b
    if p.shape[1] != m:
        raise ValueError(f"{name} must be (N, {m}) grid coordinates or (N, D) with basis (D, {m}), "
                         f"got shape {p.shape}")
    return p


def _as_dims(dims, m: int) -> tuple[int, int]:
    """Two different grid axes of m >= 2 (ignored for m = 1)."""
    if m < 2:
        return (0, 0)
    if isinstance(dims, (str, bytes)) or not hasattr(dims, "__len__") or len(dims) != 2:
        raise TypeError(f"dims must be two grid axes (i, j), got {_show(dims)}")
    i, j = (_as_int("dims", d, low=0) for d in dims)
    if i == j or max(i, j) >= m:
        raise ValueError(f"dims must be two different grid axes in 0..{m - 1}, got ({i}, {j})")
    return i, j


def _as_ax(ax):
    """A matplotlib Axes to draw on, or None."""
    if ax is not None:
        from matplotlib.axes import Axes

        if not isinstance(ax, Axes):
            raise TypeError(f"ax must be a matplotlib Axes or None, got {_kind(ax)}")
    return ax


def _as_panels(axes, count: int):
    """``count`` matplotlib Axes (any nesting) or None."""
    if axes is None:
        return None
    from matplotlib.axes import Axes

    flat = np.asarray(axes, dtype=object).ravel()
    if flat.size != count:
        raise ValueError(f"axes must be {count} matplotlib Axes (one per panel), got {flat.size}")
    if not all(isinstance(a, Axes) for a in flat):
        raise TypeError(f"axes must be {count} matplotlib Axes, got {', '.join(_kind(a) for a in flat)}")
    return flat


def _as_style(cmap, norm, colorbar) -> None:
    """A colour map (a name matplotlib knows or a Colormap), a Normalize or None, a bool."""
    from matplotlib import colormaps
    from matplotlib.colors import Colormap, Normalize

    if not isinstance(cmap, Colormap) and not (isinstance(cmap, str) and cmap in colormaps):
        raise (ValueError if isinstance(cmap, str) else TypeError)(
            f"cmap must be a matplotlib colour map or its name such as 'Blues', got {_show(cmap)}")
    if norm is not None and not isinstance(norm, Normalize):
        raise TypeError(f"norm must be a matplotlib.colors.Normalize or None, got {_kind(norm)}")
    if not isinstance(colorbar, (bool, np.bool_)):
        raise TypeError(f"colorbar must be True or False, got {_kind(colorbar)} {_show(colorbar)}")


def _as_figure(fig):
    """A matplotlib Figure."""
    if not hasattr(fig, "savefig") or not hasattr(fig, "canvas"):
        raise TypeError(f"fig must be a matplotlib Figure, got {_kind(fig)}")
    return fig


def _as_max_points(max_points) -> int | None:
    return None if max_points is None else _as_int("max_points", max_points)


# ------------------------------------------------------------------ helpers
def round_off(scale: float, *, squared: bool = False, dtype: "DTypeLike" = np.float64) -> float:
    """The level below which a length computed in ``dtype`` from coordinates of size ``scale`` is
    round-off: r = ROUND_OFF_FACTOR * eps * scale (eps the machine epsilon of ``dtype``, 2.2e-16 for
    float64), r^2 for a squared length (``squared``). Computing z - P_E z in floating point leaves a few
    eps |z| per coordinate; the factor 1000 leaves room for D coordinates and the accumulated error of
    many SGD steps of a flow that keeps E^G exactly (for |z| ~ 1: r^2 = 4.9e-26). Figures draw values
    below it as a band "at round-off", not as data."""
    scale = _as_real("scale", scale)
    if not isinstance(squared, (bool, np.bool_)):
        raise TypeError(f"squared must be True or False, got {_kind(squared)} {_show(squared)}")
    try:
        eps = float(np.finfo(dtype).eps)
    except (TypeError, ValueError):
        raise TypeError(f"dtype must be a floating-point dtype such as numpy.float64, got {_show(dtype)}") from None
    r = ROUND_OFF_FACTOR * eps * (scale if scale > 0 else 1.0)  # all zeros: the round-off of numbers of size 1
    return r * r if squared else r


def rmd2_round_off() -> float:
    """The round-off level of an RMD^2 = W_2^2 / (2 (m_2(mu) + m_2(nu))), a ratio: ``round_off(1)`` =
    1000 eps = 2.2e-13. The weak-invariance one is an exact OT on the cost |x|^2 + |y|^2 - 2 x.y, which
    loses eps m_2 to cancellation (an SI start measures 1e-17 where the exact value is 0), so an RMD^2
    below it, SI or WI, is drawn as round-off."""
    return round_off(1.0)


def _round_off_level(name) -> float:
    """The round-off level of the quantity ``name``: ``rmd2_round_off`` for an RMD^2, else the squared
    ``round_off(1, squared=True)`` (risks and second moments: sums of squares of numbers of size 1)."""
    return rmd2_round_off() if "rmd2" in str(name) else round_off(1.0, squared=True)


def _round_off_band(ax, level: float, label: str = "at round-off") -> None:
    """The band [level / 100, ``level``] at the bottom of a log axis, labelled "at round-off (< level)":
    values below ``level`` are drawn as this band (a mark at ``ROUND_OFF_MARK`` * level), not as data."""
    ax.axhspan(level * 1e-2, level, color="0.85", linewidth=0, zorder=0,
               label=f"{label} (< {level:.1e})")


def _above_round_off(ax, t, values, level: float, label: str, **style) -> bool:
    """``values`` (T,) against ``t`` on a log axis: a line through the values above ``level``, a
    downward triangle on the round-off band (``_round_off_band``) at the times where they are not.
    Returns whether every value is at round-off; then the label says so (no line is drawn under it)."""
    values = np.asarray(values, dtype=float)
    high, low = values > level, ~(values > level)
    color = style.pop("color", None)
    if low.all():
        ax.plot(t, np.full(values.size, ROUND_OFF_MARK * level), "v", ms=4, color=color,
                label=f"{label}: at round-off")
        return True
    ax.plot(t, np.where(high, values, np.nan), color=color, label=label, **style)
    if low.any():
        ax.plot(np.asarray(t)[low], np.full(low.sum(), ROUND_OFF_MARK * level), "v", ms=4, color=color)
    return False


def _legend_overlaps(ax, legend) -> bool:
    """Whether ``legend`` covers data of any axes of its figure, in display coordinates: a vertex of a
    line or a point along its segments, a vertex of a collection's paths (bands, error bars, contours)
    or one of its points (scatter), a vertex of a patch (bars, spans). Colour meshes (a density's
    background) are not counted."""
    from matplotlib.collections import PathCollection, QuadMesh

    box = legend.get_window_extent()

    def along(xy):  # points along each segment: a line crossing the legend covers it
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        if len(xy) < 2:
            return xy
        f = np.linspace(0, 1, 16)[:, None, None]
        return xy[:-1] + f * (xy[1:] - xy[:-1])

    def covered(xy, clip):
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        xy = xy[np.isfinite(xy).all(axis=1)]
        xy = xy[(xy[:, 0] >= clip.x0) & (xy[:, 0] <= clip.x1) & (xy[:, 1] >= clip.y0) & (xy[:, 1] <= clip.y1)]
        return bool(np.any((xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)))

    for a in ax.figure.axes:
        clip = a.bbox
        for line in a.lines:
            if covered(along(line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))), clip):
                return True
        for c in a.collections:
            if isinstance(c, QuadMesh):
                continue
            if isinstance(c, PathCollection):  # scatter: markers at the offsets
                if covered(c.get_offset_transform().transform(np.asarray(c.get_offsets(), dtype=float)), clip):
                    return True
                continue
            if any(covered(along(c.get_transform().transform(p.vertices)), clip) for p in c.get_paths()
                   if len(p.vertices)):
                return True
        if any(covered(along(p.get_transform().transform(p.get_path().vertices)), clip) for p in a.patches):
            return True
    return False


def _legend(ax, **kw):
    """The legend of ``ax`` at matplotlib's "best" place inside the axes; ``place_legends`` moves it
    outside, to the right, when it still covers data once the figure is laid out."""
    kw.setdefault("fontsize", 7)
    return ax.legend(loc="best", **kw)


def legend_below(fig: Figure, axes: Sequence[Axes]) -> None:
    """One legend for the panels ``axes`` of ``fig`` below them (their entries, each label once), in
    place of a legend per panel: the panels keep their width and no legend sits on data."""
    _as_figure(fig)
    axes = list(np.asarray(axes, dtype=object).ravel()) if hasattr(axes, "__len__") and not isinstance(
        axes, (str, bytes, Mapping)) else axes
    if not isinstance(axes, list) or not all(hasattr(a, "get_legend_handles_labels") for a in axes):
        raise TypeError("axes must be matplotlib Axes, got "
                        + (", ".join(_kind(a) for a in axes) if isinstance(axes, list) else _kind(axes)))
    entries = {}
    for a in axes:
        for handle, label in zip(*a.get_legend_handles_labels()):
            entries.setdefault(label, handle)
        if a.get_legend() is not None:
            a.get_legend().remove()
    if entries:
        fig.legend(list(entries.values()), list(entries), loc="outside lower center", ncols=min(4, len(entries)),
                   fontsize=8, frameon=False)


def place_legends(fig: Figure) -> list:
    """Move every legend of ``fig`` that covers data (``_legend_overlaps``: a line, band, bar or point
    under it) outside its axes, upper left of the right edge; returns the axes whose legend moved.
    ``save`` calls it before it writes."""
    _as_figure(fig)
    legends = [(a, a.get_legend()) for a in fig.axes if a.get_legend() is not None]
    if not legends:
        return []
    fig.draw_without_rendering()
    moved = []
    for a, legend in legends:
        if getattr(legend, "_bbox_to_anchor", None) is not None:
            continue  # placed by its caller
        if _legend_overlaps(a, legend):
            if hasattr(legend, "set_loc"):  # matplotlib >= 3.8
                legend.set_loc("upper left")
            else:
                legend._loc = 2  # "upper left" in matplotlib 3.7
            legend.set_bbox_to_anchor((1.02, 1.0), transform=a.transAxes)
            moved.append(a)
    return moved


def _axes(ax, figsize=(4.2, 3.5)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _panels(axes, count: int, size=(4.2, 3.5)):
    """``count`` axes: the given ones (checked by ``_as_panels``) or a new row of panels."""
    axes = _as_panels(axes, count)
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, count, figsize=(size[0] * count, size[1]), squeeze=False, layout="constrained")
    return np.asarray(axes, dtype=object).ravel()


def _colors(ns) -> dict:
    """One viridis colour per particle count."""
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    ns = list(ns)
    return {n: cmap(i / max(1, len(ns) - 1) * 0.85) for i, n in enumerate(ns)}


def _thin(points, max_points):
    """Every k-th row, k = ceil(N / max_points): at most ``max_points`` rows (all when None)."""
    if max_points is None:
        return points
    step = max(1, -(-len(points) // int(max_points)))
    return points[::step]


def _spacing(axis) -> float:
    axis = np.asarray(axis, dtype=float)
    return float(axis[1] - axis[0]) if axis.size > 1 else 1.0


def _edges(axis):
    axis = np.asarray(axis, dtype=float)
    h = _spacing(axis)
    return np.append(axis - h / 2, axis[-1] + h / 2)


def _marginal(rho, axes_u, keep):
    """The marginal density of grid axes ``keep`` (in that order): rho summed over the other axes times
    their cell widths."""
    rho = np.asarray(rho, dtype=float)
    others = tuple(k for k in range(rho.ndim) if k not in keep)
    marg = rho.sum(axis=others) * float(np.prod([_spacing(axes_u[k]) for k in others])) if others else rho
    order = sorted(keep)
    return np.transpose(marg, [order.index(k) for k in keep])


def _positive(values):
    """values with nonpositive entries masked (drawn on log axes)."""
    values = np.asarray(values, dtype=float)
    return np.where(values > 0, values, np.nan)


def _log_band(ax, x, values, color):
    """The centre over seeds of ``values`` (S, T) and its 95% t-interval as a band, on a log axis. When
    every value is positive, centre and interval are those of log10 of the values (the geometric mean,
    the scale the rates are fitted on; with few seeds an arithmetic interval would reach 0); otherwise
    the arithmetic mean, an interval reaching 0 extending below the axis (whose bottom is set by the
    positive means). Returns (centre (T,), the smallest positive centre or inf)."""
    from wgf.validation import mean_interval

    values = np.asarray(values, dtype=float)
    if np.all(values > 0):
        m, half = mean_interval(np.log10(values).T)
        mean, low, high = 10.0 ** m, 10.0 ** (m - half), 10.0 ** (m + half)
    else:
        mean, half = mean_interval(values.T)
        low, high = mean - half, mean + half
    pos = mean[mean > 0]
    bottom = pos.min() if pos.size else np.inf
    if np.shape(values)[0] > 1 and pos.size:
        ax.fill_between(x, np.where(low > 0, low, bottom * 1e-3), _positive(high), color=color, alpha=0.2,
                        linewidth=0)
    return mean, bottom


def _set_log_bottom(ax, bottom):
    if np.isfinite(bottom):
        ax.set_ylim(bottom=bottom / 3)


def save(fig: Figure, path: PathLike, *, formats: Iterable[str] = ("png", "pdf"), dpi: int = 150) -> list[Path]:
    """Write ``fig`` as ``path`` with each suffix of ``formats`` (the suffix of ``path`` is replaced);
    returns the paths. PDF and PS files embed TrueType fonts (``pdf.fonttype = 42``: editable text, no
    Type 3 fonts), set for this call only. A figure without a layout engine is cropped to its content
    (``bbox_inches="tight"``). A legend that covers data is moved outside its axes first
    (``place_legends``)."""
    import matplotlib

    _as_figure(fig)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path, got {_kind(path)}")
    formats = [formats] if isinstance(formats, str) else list(formats) if hasattr(formats, "__iter__") else formats
    if not isinstance(formats, list) or not all(isinstance(e, str) for e in formats):
        raise TypeError(f"formats must be file suffixes such as ('png', 'pdf'), got {formats!r}")
    if not formats:
        raise ValueError("formats is empty: give at least one file suffix such as 'png'")
    known = fig.canvas.get_supported_filetypes()
    if unknown := [e for e in formats if e.lower() not in known]:
        raise ValueError(f"formats: '{unknown[0]}' is not a format matplotlib writes "
                         f"(one of {', '.join(sorted(known))})")
    dpi = _as_real("dpi", dpi, low=1.0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    place_legends(fig)
    with matplotlib.rc_context(PDF_FONTS):
        for ext in formats:
            target = path.with_suffix(f".{ext}")
            fig.savefig(target, dpi=dpi, bbox_inches=None if fig.get_layout_engine() else "tight")
            written.append(target)
    return written


# ------------------------------------------------------------------ densities
def density(rho: ArrayLike, axes_u: Sequence[ArrayLike], *, particles: ArrayLike | None = None,
            basis: ArrayLike | None = None, dims: tuple[int, int] = (0, 1), ax: Axes | None = None,
            cmap: str = "Blues", levels: int = 6, norm: Normalize | None = None, colorbar: bool = True,
            max_points: int | None = MAX_POINTS, label: str | None = None, title: str | None = None) -> Axes:
    """One density snapshot of the PDE, with the particles over it.

    rho (n_0, ..., n_{m-1}) the cell averages of the density on the grid (``History.density[j]``,
    ``/pde/density[j]``); axes_u m arrays (n_k,) of cell centres (``Grid.axes``, ``/pde/u<k>``).
    particles (N, D) positions in Z with basis (D, m) (``/pde/basis``, ``Grid.basis``), drawn at
    u = z @ basis, or (N, m) grid coordinates when basis is None.

    m = 1: the density as a line and the particles as a histogram on the grid's cells (counts / (N h):
    particles outside the box are not drawn). m >= 2: the marginal density of the axes ``dims`` (the
    density summed over the other axes) as a colour mesh with its colour bar (``norm`` a shared
    ``matplotlib.colors.Normalize``; ``colorbar=False`` leaves it out) and ``levels`` contour lines, the
    particles as translucent dots (smaller and lighter the more there are); more than ``max_points``
    particles are thinned to every k-th one, k = ceil(N / max_points).

    rho must be finite and nonnegative (a NaN or negative cell is refused with a ValueError naming how many
    cells: the PDE's solver never writes one), axes_u increasing, equally spaced, at least 2 centres each.
    """
    rho, axes_u = _as_density(rho, axes_u)
    m = rho.ndim
    points = None if particles is None else _as_points("particles", particles, basis, m)
    if particles is None and basis is not None:
        _as_basis(basis, m)
    i, j = _as_dims(dims, m)
    if not isinstance(levels, (int, np.integer)) or isinstance(levels, bool):
        levels = _as_array("levels", levels, "(L,) of increasing contour levels or a count", ndim=1)
        if np.any(np.diff(levels) <= 0):
            raise ValueError(f"levels must be increasing contour levels, got {_show(levels.tolist())}")
    else:
        levels = _as_int("levels", levels)
    label, title = _as_text("label", label), _as_text("title", title)
    _as_style(cmap, norm, colorbar)
    max_points = _as_max_points(max_points)
    ax = _axes(_as_ax(ax))
    if m == 1:
        x = axes_u[0]
        ax.plot(x, rho, color="k", label="PDE density")
        if points is not None:
            h = _spacing(x)
            ax.hist(points[:, 0], bins=_edges(x), weights=np.full(len(points), 1.0 / (len(points) * h)),
                    color="tab:red", alpha=0.4, label=label or f"particles ($N = {len(points)}$)")
        ax.set_xlabel("$u_0$")
        ax.set_ylabel("density")
        ax.legend(fontsize=7)
    else:
        marg = _marginal(rho, axes_u, (i, j))
        x, y = axes_u[i], axes_u[j]
        mesh = ax.pcolormesh(x, y, marg.T, shading="nearest", cmap=cmap, norm=norm,
                             vmin=None if norm is not None else 0.0, rasterized=True)
        if marg.max() > marg.min():
            ax.contour(x, y, marg.T, levels=levels, colors="k", linewidths=0.5, alpha=0.6)
        if colorbar:
            what = "PDE density" if m == 2 else f"PDE marginal density of $(u_{i}, u_{j})$"
            ax.figure.colorbar(mesh, ax=ax, label=what, shrink=0.9)
        if points is not None:
            shown = _thin(points, max_points)
            size, alpha = (8.0, 0.8) if len(shown) <= 200 else (4.0, 0.5) if len(shown) <= 1000 else (2.0, 0.35)
            ax.scatter(shown[:, i], shown[:, j], s=size, c="tab:red", alpha=alpha, linewidths=0, rasterized=True,
                       label=(label or f"particles ($N = {len(points)}$)")
                       + (f", {len(shown)} drawn" if len(shown) < len(points) else ""))
            ax.legend(fontsize=7, loc="upper right", markerscale=3)
        ax.set_xlim(x[0] - _spacing(x) / 2, x[-1] + _spacing(x) / 2)
        ax.set_ylim(y[0] - _spacing(y) / 2, y[-1] + _spacing(y) / 2)
        ax.set_xlabel(f"$u_{i}$")
        ax.set_ylabel(f"$u_{j}$")
        ax.set_aspect("equal", adjustable="box")
    if title is not None:
        ax.set_title(title, fontsize=9)
    return ax


def density_snapshots(times: ArrayLike, rho: ArrayLike, axes_u: Sequence[ArrayLike], *,
                      particles: Sequence[ArrayLike] | np.ndarray | None = None, basis: ArrayLike | None = None,
                      dims: tuple[int, int] = (0, 1), axes: Sequence[Axes] | np.ndarray | None = None,
                      cmap: str = "Blues", max_points: int | None = MAX_POINTS,
                      label: str | None = None) -> np.ndarray:
    """A row of density snapshots (``density`` per panel) on one colour scale.

    times (T,); rho (T, n_0, ..., n_{m-1}); axes_u m arrays (n_k,); particles (T, N, D) with basis
    (D, m), or (T, N, m) grid coordinates, or None. One panel per time, one colour bar for the row
    (2D and more); returns the T axes. Arguments are checked as in ``density``, every snapshot before the
    first is drawn.
    """
    import matplotlib.colors as mcolors

    times = _as_array("times", times, "(T,) of snapshot times", ndim=1)
    rho, axes_u = _as_density(rho, axes_u, stacked=True)
    _as_length("rho", rho, 0, times.size, "times")
    m = rho.ndim - 1
    if particles is not None:
        if isinstance(particles, (str, bytes, Mapping)) or not hasattr(particles, "__len__"):
            raise TypeError(f"particles must be (T, N, D) or a sequence of T arrays (N, D), got {_kind(particles)}")
        if len(particles) != times.size:
            raise ValueError(f"particles has {len(particles)} snapshots but times has {times.size}")
        particles = [_as_points(f"particles[{k}]", p, basis, m) for k, p in enumerate(particles)]
        basis = None  # now grid coordinates
    dims = _as_dims(dims, m)
    max_points = _as_max_points(max_points)
    label = _as_text("label", label)
    _as_style(cmap, None, True)
    axes = _panels(axes, len(times), (3.4, 3.2))
    norm = None
    if m >= 2:
        top = max(float(_marginal(r, axes_u, dims).max()) for r in rho)
        norm = mcolors.Normalize(0.0, top if top > 0 else 1.0)
    for k, ax in enumerate(axes):
        density(rho[k], axes_u, particles=None if particles is None else particles[k], basis=basis, dims=dims,
                ax=ax, cmap=cmap, norm=norm, colorbar=False, max_points=max_points, label=label,
                title=f"$t = {times[k]:g}$")
    if m >= 2:
        import matplotlib.cm as cm

        fig = axes[0].figure
        what = "PDE density" if m == 2 else f"PDE marginal density of $(u_{dims[0]}, u_{dims[1]})$"
        fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), label=what, shrink=0.9)
    else:
        top = max(a.get_ylim()[1] for a in axes)
        for a in axes:
            a.set_ylim(0, top)
    return axes


def marginals(rho: ArrayLike, axes_u: Sequence[ArrayLike], *, particles: ArrayLike | None = None,
              basis: ArrayLike | None = None, axes: Sequence[Axes] | np.ndarray | None = None,
              label: str | None = None, title: str | None = None) -> np.ndarray:
    """The 1D marginals of the PDE density against the particles' histograms, one panel per grid axis.

    rho (n_0, ..., n_{m-1}); axes_u m arrays (n_k,); particles (N, D) with basis (D, m), or (N, m) grid
    coordinates, or None. Panel k: the marginal density of u_k (rho summed over the other axes times
    their cell widths) as a step line, and the histogram of the particles' u_k on the same cells
    (counts / (N h), so particles outside the box are not drawn); one legend below the panels
    (``legend_below``). Returns the m axes.
    """
    rho, axes_u = _as_density(rho, axes_u)
    m = rho.ndim
    points = None if particles is None else _as_points("particles", particles, basis, m)
    label, title = _as_text("label", label), _as_text("title", title)
    axes = _panels(axes, m, (3.4, 2.8))
    for k, ax in enumerate(axes):
        x = axes_u[k]
        ax.plot(x, _marginal(rho, axes_u, (k,)), color="k", drawstyle="steps-mid", label="PDE")
        if points is not None:
            ax.hist(points[:, k], bins=_edges(x), weights=np.full(len(points), 1.0 / (len(points) * _spacing(x))),
                    color="tab:red", alpha=0.4, label=label or f"particles ($N = {len(points)}$)")
        ax.set_xlabel(f"$u_{k}$")
        ax.set_ylabel(f"marginal density of $u_{k}$")
        if title is not None:
            ax.set_title(title, fontsize=9)
    legend_below(axes[0].figure, axes)
    return axes


# ------------------------------------------------------------------ leaving E^G
def off_subspace(times: ArrayLike | Mapping[int, ArrayLike],
                 positions_by_n: Mapping[int, np.ndarray | h5py.Dataset | xr.DataArray], projector: ArrayLike, *,
                 index: int = -1, axes: Sequence[Axes] | np.ndarray | None = None) -> tuple[Axes, Axes]:
    """How far the particles are from the subspace E^G: v = z - P_E z for every particle z.

    times (T,), or {N: (T,)} when the runs have their own snapshot times; positions_by_n {N: (S, T, N, D)
    or (T, N, D)} (numpy arrays or lazy ones, h5py datasets or xarray variables, read one (seed, time)
    at a time); projector (D, D) P_E (``problem.symmetry.projector``; B B^T for a grid on E^G).
    Left: the mean of |v|^2 over the particles per N against time (mean over seeds, the band from the
    smallest to the largest seed), log scale. Right: the histogram of |v| over the particles of all
    seeds at the snapshot ``index``, per N, on log-spaced bins. Values at round-off (``round_off`` of the
    largest coordinate: |v| < 1000 eps max|z|, 2.2e-13 for |z| ~ 1, squared 4.9e-26) are not data: they
    are drawn as a grey band "at round-off (< level)" at the bottom of the left panel, a run that
    stays below it throughout is named in a note, and when no particle is above it the right panel is
    that statement (no empty axes). Returns the two axes.
    """
    positions_by_n = _as_by_n("positions_by_n", positions_by_n, "positions (S, T, N, D) or (T, N, D)")
    proj = _as_array("projector", projector, "(D, D) the projector P_E", ndim=2)
    if proj.shape[0] != proj.shape[1]:
        raise ValueError(f"projector must be (D, D) the projector P_E, got shape {proj.shape}")
    if isinstance(times, Mapping):
        times = _as_by_n("times", times, "(T,) snapshot times")
    else:
        times = dict.fromkeys(positions_by_n, times)
    sq_by_n, norms, picked = {}, {}, {}
    level = 0.0  # |v| below it is round-off (``round_off`` of the largest coordinate drawn)
    for n, pos in positions_by_n.items():  # every position read and checked before anything is drawn
        where = f"positions_by_n[{n}]"
        if not hasattr(pos, "shape") or not hasattr(pos, "__getitem__"):
            pos = _as_array(where, pos, "(S, T, N, D) or (T, N, D)", ndim=(3, 4))
        shape = tuple(pos.shape)
        if len(shape) not in (3, 4) or 0 in shape:
            raise ValueError(f"{where} must be (S, T, N, D) or (T, N, D) positions, got shape {shape}")
        if shape[-2] != n:
            raise ValueError(f"{where} holds {shape[-2]} particles (shape {shape}), not N = {n}")
        if shape[-1] != proj.shape[0]:
            raise ValueError(f"{where} has D = {shape[-1]} coordinates but projector is {proj.shape}")
        if n not in times:
            raise ValueError(f"times has no entry for N = {n}")
        t = _as_array("times" + (f"[{n}]" if len(times) > 1 else ""), times[n], "(T,) snapshot times", ndim=1)
        if t.size != shape[-3]:
            raise ValueError(f"times has {t.size} entries but {where} has {shape[-3]} snapshots (shape {shape})")
        pick = _as_index("index", index, t.size, "snapshots")
        seeded = len(shape) == 4
        seeds = shape[0] if seeded else 1
        sq = np.zeros((seeds, t.size))
        last = []
        scale = 0.0
        for s in range(seeds):
            for j in range(t.size):
                z = np.asarray(pos[s, j] if seeded else pos[j], dtype=float)
                if not np.isfinite(z).all():
                    raise ValueError(f"{where} has non-finite positions at seed {s}, snapshot {j}")
                v2 = np.sum((z - z @ proj.T) ** 2, axis=1)
                scale = max(scale, float(np.abs(z).max(initial=0.0)))
                sq[s, j] = v2.mean()
                if j == pick:
                    last.append(np.sqrt(v2))
        sq_by_n[n], norms[n], picked[n] = sq, np.concatenate(last), (t, t[pick])
        level = max(level, round_off(scale))
    ax_t, ax_h = _panels(axes, 2)
    colors = _colors(positions_by_n)
    level = level if level > 0 else round_off(1.0)
    level2 = level * level
    _round_off_band(ax_t, level2)
    top = level2
    at_round_off = []
    for n, sq in sq_by_n.items():
        t, t_pick = picked[n]
        mean = sq.mean(axis=0)
        if _above_round_off(ax_t, t, mean, level2, f"$N = {n}$", color=colors[n], marker="o", ms=3):
            at_round_off.append(n)
            continue
        top = max(top, float(mean.max()))
        if sq.shape[0] > 1:
            ax_t.fill_between(t, np.maximum(sq.min(axis=0), level2), np.maximum(sq.max(axis=0), level2),
                              where=mean > level2, color=colors[n], alpha=0.2, linewidth=0)
    ax_t.set_yscale("log")
    ax_t.set_ylim(level2 * 1e-2, top * 10)
    ax_t.set_xlabel(TIME)
    ax_t.set_ylabel(r"mean $|z - P_E z|^2$ over particles")
    ax_t.set_title("distance to $E^G$", fontsize=9)
    if at_round_off:
        ns = ", ".join(map(str, at_round_off))
        ax_t.text(0.5, 0.5, f"$N = {ns}$: every $|z - P_E z|^2$ at round-off\n(in $E^G$ up to floating point)",
                  ha="center", va="center", fontsize=8, transform=ax_t.transAxes)
    _legend(ax_t)
    pooled = np.concatenate([v[v > level] for v in norms.values()] + [np.zeros(0)])
    ax_h.set_title(f"off-$E^G$ component at $t = {t_pick:g}$", fontsize=9)
    if pooled.size:
        lo, hi = pooled.min(), pooled.max()
        bins = np.geomspace(lo, hi * (1 + 1e-9), 40) if hi > lo else np.geomspace(lo / 2, lo * 2, 3)
        for n, v in norms.items():
            if (v > level).any():
                ax_h.hist(v[v > level], bins=bins, weights=np.full((v > level).sum(), 1.0 / v.size),
                          histtype="step", color=colors[n], label=f"$N = {n}$")
        ax_h.set_xscale("log")
        ax_h.set_xlabel(r"$|z - P_E z|$ (above round-off, " + f"{level:.1e})")
        ax_h.set_ylabel("fraction of particles")
        _legend(ax_h)
    else:  # nothing above round-off: a statement, no empty axes
        ax_h.set_axis_off()
        ax_h.text(0.5, 0.5, f"every particle is in $E^G$:\n$|z - P_E z| < {level:.1e}$ (round-off)",
                  ha="center", va="center", fontsize=9, transform=ax_h.transAxes)
    return ax_t, ax_h


# ------------------------------------------------------------------ distances
def distance_vs_n(n: ArrayLike, values: ArrayLike, *, floor: float = 0.0, rate: Sequence[float] | None = None,
                  ax: Axes | None = None, ylabel: str = "distance",
                  floor_label: str = "PDE floor (Richardson)") -> Axes:
    """One metric between particles and the PDE against N, on log-log axes.

    n (K,) particle counts; values (K, S) the metric per N and seed at one time; floor the PDE's own
    error (``wgf.validation.richardson_floor``; +inf where it could not be estimated: nothing is above it,
    the title says why there is no rate); rate a RateFit (slope, low, high, n_points) or None;
    ylabel a key of ``wgf.labels.DISPLAY_NAMES`` (shown by its display name) or a label; floor_label the floor
    line's legend entry. Draws the mean over seeds (markers) with its 95% t-interval (``mean_interval``) as error bars,
    points at or below the floor as open markers (they are not fitted), the fitted rate with its
    interval as a band and in the title, the floor, and an :math:`N^{-1/2}` guide through the largest N. An
    interval reaching 0 or below is not on a log axis: its bar is clipped at the axis bottom (a third of
    the smallest positive mean, lower bound or floor) and marked there with a downward triangle.
    """
    from wgf.validation import mean_interval

    n = _as_counts("n", n)
    values = _as_array("values", values, "(K, S) the metric per N and seed", ndim=2)
    _as_length("values", values, 0, n.size, "n")
    floor = _as_floor(floor)
    if rate is not None:
        rate = _as_array("rate", rate, "(slope, low, high, ...) a RateFit (NaN: not fitted)", ndim=1, nan=True)
        if rate.size < 3:
            raise ValueError(f"rate must be (slope, low, high, ...) a RateFit, got {rate.size} numbers")
    ylabel = display_name(_as_text("ylabel", ylabel) or "")
    floor_label = _as_text("floor_label", floor_label)
    ax = _axes(_as_ax(ax))
    mean, half = mean_interval(values)
    half = np.nan_to_num(half)  # one seed: no interval
    low, high = mean - half, mean + half
    shown = np.concatenate([mean[mean > 0], low[low > 0], [floor] if 0 < floor < np.inf else []])
    bottom = shown.min() / 3 if shown.size else 1e-12
    clipped = (low <= 0) & (mean > 0)
    low = np.where(low > 0, low, bottom)
    above = mean > floor
    for mask, face, label in ((above, "k", f"mean, 95% t-interval ({values.shape[1]} seeds)"),
                              (~above, "none", "at or below the floor (not fitted)")):
        if mask.any():
            ax.errorbar(n[mask], _positive(mean[mask]), yerr=[(mean - low)[mask], (high - mean)[mask]], fmt="o",
                        mfc=face, color="k", capsize=3, label=label)
    if clipped.any():
        ax.plot(n[clipped], np.full(clipped.sum(), bottom), "v", color="k", ms=5, clip_on=False,
                label="interval reaches 0 (clipped)")
    pos = mean > 0
    nn = np.geomspace(n.min(), n.max(), 50)
    if pos.any():
        ref = np.flatnonzero(pos)[-1]
        ax.plot(nn, mean[ref] * (nn / n[ref]) ** -0.5, color="tab:gray", ls=":", label=N_RATE)
    title = None
    if rate is not None and np.isfinite(rate[0]) and pos.any():
        slope, lo, hi = rate[0], rate[1], rate[2]
        n_mid = np.exp(np.mean(np.log(n[pos])))
        y_mid = np.exp(np.mean(np.log(mean[pos])))
        title = f"slope ${slope:+.2f}$  $[{lo:+.2f}, {hi:+.2f}]$"
        ax.plot(nn, y_mid * (nn / n_mid) ** slope, color="tab:blue", label="fitted rate, 95% interval")
        band = np.stack([y_mid * (nn / n_mid) ** lo, y_mid * (nn / n_mid) ** hi])
        ax.fill_between(nn, band.min(axis=0), band.max(axis=0), color="tab:blue", alpha=0.15, linewidth=0)
    if 0 < floor < np.inf:
        ax.axhline(floor, color="tab:gray", ls="--", label=floor_label)
    elif floor == np.inf and title is None:
        title = "no rate: the PDE floor's grids do not converge"
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(bottom=bottom)
    ax.set_xlabel(display_name("N"))
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    _legend(ax)
    return ax


def distance_vs_time(times: ArrayLike, values_by_n: Mapping[int, ArrayLike], *, floor: float | None = None,
                     ax: Axes | None = None, ylabel: str = "distance") -> Axes:
    """One metric between particles and the PDE against time, one line per N.

    times (T,) the PDE's snapshot times; values_by_n {N: (S, T)} the metric per seed and time
    (``/compare/<metric>[k]``, ``Comparison.values[metric][k]``). Draws the geometric mean over seeds
    with the 95% t-interval of log10 of the values (``wgf.validation.mean_interval``) as a band, on a
    log scale (with a zero among them: the arithmetic mean, zeros not drawn),
    and the PDE's own error at the final time (``floor``) as a dashed line; ylabel a key of
    ``wgf.labels.DISPLAY_NAMES`` (shown by its display name) or a label. Returns the axes.
    """
    times = _as_array("times", times, "(T,) snapshot times", ndim=1)
    values_by_n = _as_by_n("values_by_n", values_by_n, "(S, T) the metric per seed and time")
    for n, values in values_by_n.items():
        values_by_n[n] = _as_array(f"values_by_n[{n}]", values, "(S, T) the metric per seed and time", ndim=2)
        _as_length(f"values_by_n[{n}]", values_by_n[n], 1, times.size, "times")
    floor = None if floor is None else _as_floor(floor)
    ylabel = display_name(_as_text("ylabel", ylabel) or "")
    ax = _axes(_as_ax(ax))
    colors = _colors(values_by_n)
    bottom = np.inf
    for n, values in values_by_n.items():
        mean, low = _log_band(ax, times, values, colors[n])
        bottom = min(bottom, low)
        ax.plot(times, _positive(mean), "o-", ms=3, color=colors[n], label=f"$N = {n}$ ({values.shape[0]} seeds)")
    if floor is not None and 0 < floor < np.inf:
        ax.axhline(floor, color="tab:gray", ls="--", label="PDE floor (final time)")
        bottom = min(bottom, floor)
    ax.set_yscale("log")
    _set_log_bottom(ax, bottom)
    ax.set_xlabel(TIME)
    ax.set_ylabel(ylabel)
    _legend(ax)
    return ax


def _rate_text(rate) -> str:
    """", rate $-2.59$ $[-2.98, -2.21]$" of a RateFit-like (slope, low, high, ...); "" without a finite slope."""
    if rate is None or not np.isfinite(rate[0]):
        return ""
    return f", rate ${rate[0]:+.2f}$ $[{rate[1]:+.2f}, {rate[2]:+.2f}]$"


def minimizer_convergence(times: ArrayLike, free_energy_gap: ArrayLike, distance: ArrayLike, *,
                          gap_rate: Sequence[float] | None = None, distance_rate: Sequence[float] | None = None,
                          free_energy: float = 0.0, residual: float = 0.0, ax: Axes | None = None) -> Axes:
    r"""The PDE's approach to the minimizer :math:`\rho^*` of F over time, on a log scale.

    times (T,) the PDE's snapshot times; free_energy_gap (T,) :math:`F_h(\rho_t) - F_h(\rho^*)`
    (/minimizer/pde_free_energy_gap); distance (T,) :math:`\|\rho_t - \rho^*\|_{L^1}` (pde_distance);
    gap_rate, distance_rate their exponential rates (slope, low, high, ...) per unit time
    (``wgf.validation.fit_decay``, the attributes decay_rate*; NaN or None: not fitted), stated in the legend;
    free_energy :math:`F_h(\rho^*)`, whose size sets the round-off of the gap; residual the minimizer's
    :math:`\|G(\rho^*) - \rho^*\|_1`, stated in the title and drawn as a dotted line when within two decades of
    the values (a distance below it is within the solve's accuracy).
    Values at round-off (``round_off``: 1000 eps max(1, |F*|) for the gap, 1000 eps for the distance of two
    densities of mass 1; a gap below it, or negative, is F at round-off) are triangles in the grey band, not data.
    Returns the axes.
    """
    times = _as_array("times", times, "(T,) snapshot times", ndim=1)
    gap = _as_array("free_energy_gap", free_energy_gap, "(T,) F(rho_t) - F(rho*)", ndim=1)
    dist = _as_array("distance", distance, "(T,) ||rho_t - rho*||_1", ndim=1)
    _as_length("free_energy_gap", gap, 0, times.size, "times")
    _as_length("distance", dist, 0, times.size, "times")
    rates = []
    for name, rate in (("gap_rate", gap_rate), ("distance_rate", distance_rate)):
        if rate is not None:
            rate = _as_array(name, rate, "(slope, low, high, ...) a RateFit (NaN: not fitted)", ndim=1, nan=True)
            if rate.size < 3:
                raise ValueError(f"{name} must be (slope, low, high, ...) a RateFit, got {rate.size} numbers")
        rates.append(rate)
    scale = _as_real("|free_energy|", abs(free_energy) if isinstance(free_energy, (int, float, np.number))
                     and not isinstance(free_energy, (bool, np.bool_)) else free_energy)
    residual = _as_real("residual", residual)
    ax = _axes(_as_ax(ax), (5.0, 3.8))
    levels = {"gap": round_off(max(1.0, scale)), "dist": round_off(1.0)}
    level = max(levels.values())
    _above_round_off(ax, times, gap, levels["gap"], display_name("pde_free_energy_gap") + _rate_text(rates[0]),
                     color="k", marker="o", ms=3)
    _above_round_off(ax, times, dist, levels["dist"], display_name("pde_distance") + _rate_text(rates[1]),
                     color="tab:blue", marker="s", ms=3, ls="--")
    low = bool((gap <= levels["gap"]).any() or (dist <= levels["dist"]).any())
    if low:
        _round_off_band(ax, level)
    shown = np.concatenate([gap[gap > levels["gap"]], dist[dist > levels["dist"]]])
    if residual > (level if low else 0.0) and (not shown.size or residual >= 1e-2 * shown.min()):
        ax.axhline(residual, color="tab:blue", ls=":", lw=1, label=r"residual of $\rho^*$")
        shown = np.append(shown, residual)
    ax.set_yscale("log")
    if low:
        ax.set_ylim(level * 1e-2, max(shown.max(initial=level), level) * 10)
    elif shown.size:
        _set_log_bottom(ax, shown.min())
    ax.set_xlabel(TIME)
    ax.set_ylabel(r"distance to the minimizer $\rho^*$")
    ax.set_title("the PDE's density to the minimizer of $F$\n" + r"(residual $\|G(\rho^*) - \rho^*\|_1$ = "
                 + f"{residual:.1e})", fontsize=9)
    _legend(ax)
    return ax


def fluctuations(times: ArrayLike, n_var_by_n: Mapping[int, ArrayLike], *,
                 interval_by_n: Mapping[int, ArrayLike] | None = None, limit: ArrayLike | None = None,
                 limit_label: str = "fluctuation_limit", ax: Axes | None = None, ylabel: str = "n_var",
                 title: str | None = None) -> Axes:
    r"""The particles' fluctuations :math:`N\, \mathrm{Var}_{\mathrm{seeds}} \langle f, \nu^N_t \rangle` of one
    component of a test function against time, one line per N with its interval as a band, and the predicted limit
    as a dashed line: the curves collapse onto it as N grows.

    times (T,) the snapshot times; n_var_by_n {N: (T,)} (/fluctuations/<f>); interval_by_n {N: (2, T)} the low and
    high ends of each interval (<f>_low, <f>_high; None: no bands); limit (T,) the predicted limit (<f>_limit) or
    None; limit_label, ylabel keys of ``wgf.labels.DISPLAY_NAMES`` (shown by their display names) or labels; title
    above the axes. The y axis is linear from 0 (a variance). Returns the axes.
    """
    times = _as_array("times", times, "(T,) snapshot times", ndim=1)
    n_var_by_n = _as_by_n("n_var_by_n", n_var_by_n, "(T,) N Var per time")
    for n, values in n_var_by_n.items():
        n_var_by_n[n] = _as_array(f"n_var_by_n[{n}]", values, "(T,) N Var per time", ndim=1, nan=True)
        _as_length(f"n_var_by_n[{n}]", n_var_by_n[n], 0, times.size, "times")
    if interval_by_n is not None:
        interval_by_n = _as_by_n("interval_by_n", interval_by_n, "(2, T) the interval's ends per time")
        if set(interval_by_n) != set(n_var_by_n):
            raise ValueError(f"interval_by_n has the N {sorted(interval_by_n)} but n_var_by_n {sorted(n_var_by_n)}")
        for n, band in interval_by_n.items():
            interval_by_n[n] = _as_array(f"interval_by_n[{n}]", band, "(2, T) the interval's ends per time", ndim=2,
                                         nan=True)
            _as_length(f"interval_by_n[{n}]", interval_by_n[n], 0, 2, "(low, high)")
            _as_length(f"interval_by_n[{n}]", interval_by_n[n], 1, times.size, "times")
    if limit is not None:
        limit = _as_array("limit", limit, "(T,) the predicted limit per time", ndim=1)
        _as_length("limit", limit, 0, times.size, "times")
    limit_label = display_name(_as_text("limit_label", limit_label) or "fluctuation_limit")
    ylabel = display_name(_as_text("ylabel", ylabel) or "n_var")
    title = _as_text("title", title)
    ax = _axes(_as_ax(ax))
    colors = _colors(sorted(n_var_by_n))
    for n in sorted(n_var_by_n):
        if interval_by_n is not None:
            low, high = interval_by_n[n]
            ax.fill_between(times, low, high, color=colors[n], alpha=0.2, linewidth=0)
        ax.plot(times, n_var_by_n[n], "o-", ms=3, color=colors[n], label=f"$N = {n}$")
    if limit is not None:
        ax.plot(times, limit, "--", color="k", lw=1.2, label=limit_label)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel(TIME)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    _legend(ax)
    return ax


# ------------------------------------------------------------------ training
def training(runs: Mapping[int, Mapping[str, ArrayLike | None]], *,
             pde: Mapping[str, ArrayLike] | History | None = None,
             axes: Sequence[Axes] | np.ndarray | None = None) -> tuple[Axes, Axes]:
    """Invariance and risk of the particles over time, with the PDE's risk and free energy.

    runs {N: {"time": (R,), "risk": (S, R), "si_rmd2": (S, R), "wi_rmd2": (S, R) or None}}: the
    diagnostics of S seeds at R times (the fine trace of a run, or its snapshots; with "wi_time" (R',),
    wi_rmd2 is (S, R') at those times, drawn with marks: the snapshots' values); pde None or
    {"time": (T,), "risk": (T,), "free_energy": (T,)} (or a ``wgf.grids.History``: its times and
    trackers). Left: RMD^2(nu, P_E#nu) (SI, solid) and RMD^2(nu, nu^G) (WI, dotted) per N, mean over
    seeds, log scale; values at round-off (``rmd2_round_off``, 2.2e-13) are marks in the grey
    band, not data. Right: the risk per N (mean over seeds) and the PDE's risk and free energy (black)
    on a log scale. Never a symmetric log: a free energy that is not positive (the entropy term
    beta int mu log mu is signed) is drawn on a linear right-hand axis of its own, its range in the
    legend; a risk that is not positive puts the panel on a linear axis, its range in the title. Every
    time of ``runs`` is drawn (runs may be empty when ``pde`` is given). Returns the two axes.
    """
    if not isinstance(runs, Mapping):
        raise TypeError(f"runs must be a mapping {{N: diagnostics}}, got {_kind(runs)}")
    runs = _as_by_n("runs", runs, "diagnostics") if runs or pde is None else {}
    checked = {}
    for n, run in runs.items():
        if not isinstance(run, Mapping):
            raise TypeError(f"runs[{n}] must be a mapping with time, risk, si_rmd2 (and wi_rmd2), got {_kind(run)}")
        if missing := [k for k in ("time", "risk", "si_rmd2") if k not in run]:
            raise ValueError(f"runs[{n}] has no '{missing[0]}' (expected time, risk, si_rmd2 and wi_rmd2 or None)")
        t = _as_array(f"runs[{n}]['time']", run["time"], "(R,) times", ndim=1)
        checked[n] = {"time": t}
        wi_t = t
        if run.get("wi_time") is not None:
            wi_t = checked[n]["wi_time"] = _as_array(f"runs[{n}]['wi_time']", run["wi_time"], "(R',) times", ndim=1)
        for key in ("risk", "si_rmd2", "wi_rmd2"):
            if key == "wi_rmd2" and run.get(key) is None:
                continue
            checked[n][key] = _as_array(f"runs[{n}]['{key}']", run[key], "(S, R) per seed and time", ndim=2)
            if key == "wi_rmd2" and wi_t is not t:
                _as_length(f"runs[{n}]['{key}']", checked[n][key], 1, wi_t.size, f"runs[{n}]['wi_time']")
            else:
                _as_length(f"runs[{n}]['{key}']", checked[n][key], 1, t.size, f"runs[{n}]['time']")
    if pde is not None:
        if hasattr(pde, "trackers") and hasattr(pde, "times"):
            pde = {"time": pde.times, **pde.trackers}
        if not isinstance(pde, Mapping):
            raise TypeError(f"pde must be a mapping with time, risk (and free_energy), a History or None, "
                            f"got {_kind(pde)}")
        if missing := [k for k in ("time", "risk") if k not in pde]:
            raise ValueError(f"pde has no '{missing[0]}' (expected time, risk and free_energy)")
        t = _as_array("pde['time']", pde["time"], "(T,) times", ndim=1)
        pde = {k: _as_array(f"pde['{k}']", pde[k], "(T,) per time", ndim=1)
               for k in ("time", "risk", "free_energy") if k in pde}
        for k, v in pde.items():
            _as_length(f"pde['{k}']", v, 0, t.size, "pde['time']")
    ax_i, ax_r = _panels(axes, 2, (5.0, 3.8))
    colors = _colors(checked)
    level = rmd2_round_off()
    low_rmd2 = False
    for n, run in checked.items():
        for key, ls, what in (("si_rmd2", "-", "SI"), ("wi_rmd2", ":", "WI")):
            if key in run:
                mean = np.mean(run[key], axis=0)
                low_rmd2 |= bool(np.any(mean <= level))
                times = run.get("wi_time", run["time"]) if key == "wi_rmd2" else run["time"]
                _above_round_off(ax_i, times, mean, level, f"{what}, $N = {n}$", color=colors[n], ls=ls,
                                 **({"marker": "o", "ms": 3} if times is not run["time"] else {}))
    if low_rmd2:
        _round_off_band(ax_i, level)
    risks = [(t, run["risk"].mean(axis=0), colors[n], f"particles, $N = {n}$")
             for n, run in checked.items() for t in [run["time"]]]
    if pde is not None:
        risks.append((pde["time"], pde["risk"], "k", r"PDE risk $R(\mu_t)$"))
    signed = any(np.any(r <= 0) for _, r, _, _ in risks)
    for t, r, c, label in risks:
        ax_r.plot(t, r, color=c, lw=2 if c == "k" else 1.5, label=label)
    energy = None if pde is None else pde.get("free_energy")
    ax_f = ax_r
    if energy is not None:
        label = r"PDE free energy $F(\mu_t)$"
        if np.any(energy <= 0) and not signed:  # a signed F on its own linear axis, the risk stays on log
            ax_f = ax_r.twinx()
            label += f" (right axis, from {energy.min():.2g} to {energy.max():.2g})"
            ax_f.set_ylabel(display_name("free_energy") + " (linear)")
            ax_f.axhline(0.0, color="0.6", lw=0.5)
        ax_f.plot(pde["time"], energy, color="k", ls="--", label=label)
    ax_i.set_yscale("log")
    ax_i.set_xlabel(TIME)
    ax_i.set_ylabel(r"$\mathrm{RMD}^2$ (mean over seeds)")
    ax_i.set_title("invariance of the particles (SI: to $P_E\\#\\nu$, WI: to $\\nu^G$)", fontsize=9)
    if checked:
        _legend(ax_i)
    else:
        ax_i.set_axis_off()
        ax_i.text(0.5, 0.5, "no particle runs", ha="center", va="center", transform=ax_i.transAxes)
    if signed:  # a risk that is not positive: linear, with its range
        lo = min(float(np.min(r)) for _, r, _, _ in risks)
        hi = max(float(np.max(r)) for _, r, _, _ in risks)
        ax_r.axhline(0.0, color="0.6", lw=0.5)
        ax_r.set_title(f"training (risk from {lo:.2g} to {hi:.2g})", fontsize=9)
    else:
        ax_r.set_yscale("log")
        ax_r.set_title("training", fontsize=9)
    ax_r.set_xlabel(TIME)
    ax_r.set_ylabel(display_name("risk") + (" / " + display_name("free_energy") if ax_f is ax_r and energy is not None
                                             else ""))
    handles, labels = ax_r.get_legend_handles_labels()
    if ax_f is not ax_r:
        more = ax_f.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    ax_r.legend(handles, labels, fontsize=7)
    return ax_i, ax_r


# ------------------------------------------------------------------ discovery
def discovery_rounds(rmd2: ArrayLike, *, threshold: ArrayLike | None = None, dims: ArrayLike | None = None,
                     directions: ArrayLike | None = None, principal: ArrayLike | None = None,
                     principal_angles: ArrayLike | None = None,
                     axes: Sequence[Axes] | np.ndarray | None = None) -> tuple[Axes, Axes]:
    """The rounds of an architecture discovery (``wgf discover``, docs/theory.md §8).

    rmd2 (J,) the residual RMD^2(nu, P_j#nu) of each round; threshold (J,) or a number, delta; dims (J,)
    dim E_j (default 0, 1, ...); directions (J, D) the direction v_j each round added (NaN rows: none);
    principal (J,) 1 where v_j is the top principal direction of the residuals rather than their mean;
    principal_angles the angles (rad) between the subspace found and E^G. Left: the residual per round on
    a log scale against the threshold (open squares: principal directions), the angles in the title; a
    residual at round-off (``rmd2_round_off``, 2.2e-13: the round that trains in E^G) is a triangle in
    the grey round-off band, not a value.
    Right: the directions as a (round, coordinate) map with a colour bar. Returns the two axes.
    """
    rmd2 = _as_array("rmd2", rmd2, "(J,) the residual of each round", ndim=1)
    count = rmd2.size
    j = np.arange(count) if dims is None else _as_array("dims", dims, "(J,) dim E_j per round", ndim=1)
    pc = np.zeros(count, bool) if principal is None else _as_array("principal", principal, "(J,) of 0 or 1",
                                                                     ndim=1) > 0
    if threshold is not None:
        threshold = _as_array("threshold", threshold, "a number or (J,) per round", ndim=(0, 1))
        if np.any(threshold < 0):
            raise ValueError(f"threshold must be >= 0, got {_show(threshold.tolist())}")
        if threshold.ndim:
            _as_length("threshold", threshold, 0, count, "rmd2")
    for name, a in (("dims", j), ("principal", pc)):
        _as_length(name, a, 0, count, "rmd2")
    if directions is not None:
        directions = _as_array("directions", directions, "(J, D) the direction of each round (NaN rows: none)",
                               ndim=(1, 2), nan=True, empty=True)
        if directions.size:  # empty: no directions to draw
            if directions.ndim != 2:
                raise ValueError(f"directions must be (J, D) the direction of each round, got shape {directions.shape}")
            _as_length("directions", directions, 0, count, "rmd2")
    if principal_angles is not None:
        principal_angles = _as_array("principal_angles", principal_angles, "(k,) angles in radians", ndim=(0, 1),
                                     empty=True)
        if np.any((principal_angles < 0) | (principal_angles > np.pi / 2 + 1e-12)):
            raise ValueError(f"principal_angles must be in [0, pi/2], got {_show(principal_angles.tolist())}")
    ax_r, ax_d = _panels(axes, 2, (4.4, 3.6))
    level = rmd2_round_off()
    shown = np.where(rmd2 > level, rmd2, np.nan)  # at round-off: a mark in the band, not a value
    ax_r.plot(j, shown, color="k", lw=1)
    ax_r.plot(j[~pc], shown[~pc], "o", color="k", label="mean residual")
    if pc.any():
        ax_r.plot(j[pc], shown[pc], "s", mfc="none", color="k", label="principal direction")
    if (rmd2 <= level).any():
        ax_r.plot(j[rmd2 <= level], np.full((rmd2 <= level).sum(), ROUND_OFF_MARK * level), "v", color="k")
        _round_off_band(ax_r, level)
    if threshold is not None:
        thr = np.broadcast_to(threshold, rmd2.shape)
        ax_r.plot(j, thr, "--", color="tab:red", drawstyle="steps-mid", label=r"threshold $\delta$")
    ax_r.set_yscale("log")
    ax_r.set_xticks(j)
    ax_r.set_xlabel("round j (dim $E_j$)")
    ax_r.set_ylabel(r"residual RMD$^2(\nu, P_j\#\nu)$")
    title = "discovery rounds"
    if principal_angles is not None and np.size(principal_angles):
        title += "\nangles to $E^G$: " + ", ".join(f"{a:.1e}" for a in principal_angles.ravel())
    ax_r.set_title(title, fontsize=9)
    ax_r.legend(fontsize=7)
    if directions is not None and directions.size:
        d = directions
        from matplotlib import colormaps

        image = ax_d.imshow(np.ma.masked_invalid(d), cmap=colormaps["RdBu_r"].with_extremes(bad="0.8"), vmin=-1,
                            vmax=1, aspect="auto", interpolation="nearest")
        ax_d.figure.colorbar(image, ax=ax_d, label="component of $v_j$")
        ax_d.set_yticks(np.arange(d.shape[0]), [f"$v_{{{int(k)}}}$" for k in j])
        ax_d.set_xticks(np.arange(d.shape[1]))
        ax_d.set_xlabel("coordinate of z")
        ax_d.set_title("directions added (grey: none)", fontsize=9)
    else:
        ax_d.axis("off")
    return ax_r, ax_d


# ------------------------------------------------------------------ sweeps
def sweep_quantity(values: xr.DataArray, x: str, *, ax: Axes | None = None, ylabel: str | None = None,
                   max_legend: int = 12) -> Axes:
    """A quantity of a sweep (``wgf sweep``) against one of its varied keys, one line per combination of
    the other keys.

    values an ``xarray.DataArray`` with dimension ``x``, ``seed`` and the other varied keys
    (``wgf.sweep.read_sweep(path)[quantity]``; runs without values are NaN and left out). Draws the
    mean over seeds with its 95% t-interval (``wgf.validation.mean_interval``); when the values are
    nonnegative and the positive ones span more than two decades (RMD^2 from round-off to O(1)), the
    axis is logarithmic and the mean and interval are those of log10 of the positive values (a geometric
    mean; exact zeros are left out), and a mean at round-off (``rmd2_round_off``, 2.2e-13, for an RMD^2
    such as that of a scheme that keeps E^G; else ``round_off(1, squared=True)``, 4.9e-26) is a mark in
    the round-off band, not a value. A
    numeric ``x`` is
    drawn at its values (log axis when positive over more than a decade), a categorical one at its
    positions with the values as tick labels. The particle count N is always on a log axis (when
    positive), another numeric key when it spans a decade or more; labels are display names
    (``wgf.labels.display_name``: ylabel or the quantity's name, and the key). Returns the axes. When no
    run has a value the axes say so.
    """
    from wgf.validation import mean_interval

    if not (hasattr(values, "dims") and hasattr(values, "transpose") and hasattr(values, "sizes")):
        raise TypeError(f"values must be an xarray.DataArray (wgf.sweep.read_sweep(path)[quantity]), "
                        f"got {_kind(values)}")
    dims = ", ".join(map(str, values.dims))
    if "seed" not in values.dims:
        raise ValueError(f"values has no seed dimension (dims: {dims})")
    if not isinstance(x, str) or x not in values.dims or x == "seed":
        raise ValueError(f"x = {_show(x)} is not a varied key of values (dims: {dims})")
    if empty := [d for d, k in values.sizes.items() if k == 0]:
        raise ValueError(f"values is empty along {empty[0]} (sizes {dict(values.sizes)})")
    max_legend = _as_int("max_legend", max_legend, low=0)
    ylabel = _as_text("ylabel", ylabel)
    others = [d for d in values.dims if d not in (x, "seed")]
    xs = np.asarray(values[x].values) if x in values.coords else np.arange(values.sizes[x])
    numeric = np.issubdtype(xs.dtype, np.number) and bool(np.all(np.isfinite(xs.astype(float))))
    pos = xs.astype(float) if numeric else np.arange(xs.size, dtype=float)
    data = _as_array("values", values.transpose(*others, x, "seed").values,
                     "of numbers (NaN: a run without a value)", nan=True)  # (*others, len(x), S)
    ax = _axes(_as_ax(ax), (5.0, 3.8))
    finite = data[np.isfinite(data)]
    if not finite.size:
        ax.text(0.5, 0.5, "no run has a value", ha="center", va="center", transform=ax.transAxes)
    positive = finite[finite > 0]
    log = bool(positive.size and np.all(finite >= 0) and positive.max() > 100 * positive.min())
    level, rounded = _round_off_level(ylabel or values.name), False
    for k, combo in enumerate(np.ndindex(*data.shape[:-2])):
        centre, low, high = (np.full(xs.size, np.nan) for _ in range(3))
        for i, row in enumerate(data[combo]):
            row = row[np.isfinite(row) & ((row > 0) if log else True)]
            if row.size:
                m, h = mean_interval((np.log10(row) if log else row)[None, :])
                m, h = m[0], np.nan_to_num(h[0])
                centre[i], low[i], high[i] = (10.0 ** np.array([m, m - h, m + h]) if log else (m, m - h, m + h))
        label = ", ".join(f"{d}={values[d].values[j] if d in values.coords else j}"
                          for d, j in zip(others, combo)) or None
        if log and (tiny := centre <= level).any():  # at round-off: a mark in the band, not a value
            rounded = True
            ax.plot(pos[tiny], np.full(tiny.sum(), ROUND_OFF_MARK * level), "v", ms=5, color=f"C{k % 10}")
            centre, low, high = (np.where(tiny, np.nan, a) for a in (centre, low, high))
        ax.errorbar(pos, centre, yerr=[centre - low, high - centre], fmt="o-", ms=4, capsize=2, color=f"C{k % 10}",
                    label=label)
    if numeric and np.all(pos > 0) and (x == "N" or pos.max() >= 10 * pos.min()):
        ax.set_xscale("log")
    if log:
        ax.set_yscale("log")
        if rounded:
            _round_off_band(ax, level)
    if not numeric:
        ax.set_xticks(pos, [str(v) for v in xs])
        ax.set_xlim(-0.5, xs.size - 0.5)
    key = values[x].attrs.get("config_key", x) if x in values.coords else x
    ax.set_xlabel(display_name(x) + ("" if x == "N" or key == x else f" ({key})"))
    ax.set_ylabel(display_name(ylabel or str(values.name or values.attrs.get("long_name", ""))))
    what = "geometric mean" if log else "mean"
    ax.set_title(f"{what} over {values.sizes['seed']} seeds, 95% t-interval", fontsize=9)
    if others and data[..., 0, 0].size <= max_legend:
        _legend(ax)
    return ax


# ------------------------------------------------------------------ animation
def animate(source: ResultsSource | History, out_gif: PathLike, *, n: int | None = None, seed: int = 0,
            trajectory: Trajectory | None = None, dims: tuple[int, int] = (0, 1), fps: float = 2, dpi: int = GIF_DPI,
            max_points: int | None = MAX_POINTS) -> Path:
    """A GIF of the density and the particles over the snapshot times; returns its path.

    source: a results file (path, DataTree, h5py.File; particles of N = ``n``, default the largest, and
    ``seed``) or a ``wgf.grids.History`` (particles from ``trajectory``, a ``wgf.particles.Trajectory``).
    One frame per PDE snapshot (``density`` on one colour scale), written by matplotlib's PillowWriter;
    a 5.5 x 4.6 inch figure at ``dpi`` (default ``GIF_DPI`` = 200: 1100 x 920 pixels, a 10-point label
    about 28 pixels high).
    """
    import matplotlib.cm as cm
    import matplotlib.colors as mcolors
    from matplotlib.animation import PillowWriter
    from matplotlib.figure import Figure

    fps = _as_real("fps", fps, low=1e-3)
    dpi = _as_int("dpi", dpi)
    if not isinstance(out_gif, (str, os.PathLike)):
        raise TypeError(f"out_gif must be a file path, got {_kind(out_gif)}")
    data = _snapshots(source, None, n, seed, trajectory, max_points)
    rho, axes_u = _as_density(data["rho"], data["axes_u"], stacked=True)  # every frame checked before the first
    times = data["times"]
    m = rho.ndim - 1
    dims = _as_dims(dims, m)
    particles = data["particles"]
    if particles is not None:
        particles = [_as_points(f"the particles at t = {t:g}", p, data["basis"], m) for t, p in zip(times, particles)]
    fig = Figure(figsize=(5.5, 4.6) if m >= 2 else (5.5, 3.9), layout="constrained")
    ax = fig.add_subplot()
    norm = None
    if m >= 2:
        top = max(float(_marginal(r, axes_u, dims).max()) for r in rho)
        norm = mcolors.Normalize(0.0, top if top > 0 else 1.0)
        fig.colorbar(cm.ScalarMappable(norm=norm, cmap="Blues"), ax=ax, label="PDE density", shrink=0.9)
    else:
        top = 1.1 * float(rho.max())
    out_gif = Path(out_gif)
    out_gif.parent.mkdir(parents=True, exist_ok=True)
    writer = PillowWriter(fps=fps)
    with writer.saving(fig, os.fspath(out_gif), dpi):
        for k, t in enumerate(times):
            ax.clear()
            density(rho[k], axes_u, particles=None if particles is None else particles[k], dims=dims, ax=ax, norm=norm,
                    colorbar=False, max_points=max_points, label=data["label"], title=f"$t = {t:g}$")
            if m < 2:
                ax.set_ylim(0, top)
            writer.grab_frame()
    return out_gif


# ------------------------------------------------------------------ reading
def _node(source):
    """A results file as a mapping of groups: a path is opened (lazily) with ``wgf.open_results``; an
    xarray DataTree or an h5py File/Group is used as it is."""
    if isinstance(source, (str, os.PathLike)):
        from wgf.io import open_results

        return open_results(source)
    if not (hasattr(source, "keys") and hasattr(source, "__getitem__") and hasattr(source, "attrs")):
        raise TypeError("source must be a results file: a path, the DataTree of wgf.open_results or an open "
                        f"h5py File, got {_kind(source)}")
    return source


def _array(x) -> np.ndarray:
    return np.asarray(x, dtype=float)  # h5py datasets, xarray variables, arrays


def _particle_counts(source) -> list[int]:
    """The N of every /particles/N<N> group of a results file, ascending."""
    return particle_counts(_node(source))


def _is_history(x) -> bool:
    return hasattr(x, "grid") and hasattr(x, "density") and hasattr(x, "times")


def _snapshots(source, indices, n, seed, trajectory, max_points) -> dict:
    """The snapshots ``indices`` (None: all) of a results file or a History: times (T,), rho (T, ...),
    axes_u, basis, particles (T, N', D) or None, label."""
    if _is_history(source):
        all_times = np.asarray(source.times, dtype=float)
        density, axes_u, basis = source.density, list(source.grid.axes), np.asarray(source.grid.basis, dtype=float)
    else:
        node = _node(source)
        if PDE not in node:
            raise ValueError("the results have no /pde group (no density to draw)")
        p = node[PDE]
        basis = _array(p["basis"])
        axes_u = [_array(p[f"u{k}"]) for k in range(basis.shape[1])]
        all_times, density = _array(p["time"]), p["density"]
    count = len(all_times)
    if indices is not None and (isinstance(indices, (str, bytes)) or not hasattr(indices, "__iter__")):
        raise TypeError(f"indices must be a sequence of snapshot indices, got {_kind(indices)}")
    idx = list(range(count)) if indices is None else [_as_index("index", i, count, "snapshots") for i in indices]
    if not idx:
        raise ValueError("indices is empty: give at least one snapshot index")
    max_points = _as_max_points(max_points)
    times = all_times[idx]
    parts, label = None, None
    if _is_history(source):
        if trajectory is not None:
            held = np.asarray(trajectory.times, dtype=float)[-len(trajectory.positions):]  # the stored snapshots
            parts = [_thin(np.asarray(trajectory.positions[int(np.argmin(np.abs(held - t)))]), max_points)
                     for t in times]
            label = f"particles, $N = {trajectory.n}$"
    elif ns := _particle_counts(node):
        n = ns[-1] if n is None else _as_int("n", n)
        if n not in ns:
            raise ValueError(f"no particles with N = {n} (the file has N = {', '.join(map(str, ns))})")
        g = node[particles_path(n)]
        held, pos = _array(g["time"]), g["positions"]
        seed = _as_index("seed", seed, pos.shape[0], "seeds")
        step = 1 if max_points is None else max(1, -(-n // int(max_points)))
        parts = [np.asarray(pos[seed, int(np.argmin(np.abs(held - t))), ::step], dtype=float) for t in times]
        label = f"particles, $N = {n}$ (seed {seed})"
    return {"times": times, "rho": np.stack([np.asarray(density[i], dtype=float) for i in idx]), "axes_u": axes_u,
            "basis": basis, "particles": None if parts is None else np.stack(parts), "label": label}


def read_snapshot(source: ResultsSource | History, index: int = -1, *, n: int | None = None, seed: int = 0,
                  trajectory: Trajectory | None = None, max_points: int | None = None) -> dict:
    """The keyword arguments of ``density`` and ``marginals`` for the snapshot ``index``: rho, axes_u,
    particles (N, D) or None, basis, label, title.

    source: a results file (path, DataTree, h5py.File; particles of N = ``n``, default the largest,
    seed ``seed``, at their snapshot nearest the PDE's) or a ``wgf.grids.History`` with the particles of
    ``trajectory`` (a ``wgf.particles.Trajectory``). ``max_points`` keeps every k-th particle only
    (k = ceil(N / max_points)).
    """
    data = _snapshots(source, [index], n, seed, trajectory, max_points)
    return {"rho": data["rho"][0], "axes_u": data["axes_u"], "basis": data["basis"],
            "particles": None if data["particles"] is None else data["particles"][0], "label": data["label"],
            "title": f"$t = {data['times'][0]:g}$"}


def read_snapshots(source: ResultsSource | History, indices: Sequence[int] | None = None, *, n: int | None = None,
                   seed: int = 0, trajectory: Trajectory | None = None, max_points: int | None = None) -> dict:
    """The keyword arguments of ``density_snapshots``: times (T,), rho (T, ...), axes_u, particles
    (T, N, D) or None, basis, label, at the snapshot ``indices`` (default all). Sources as for
    ``read_snapshot``."""
    return _snapshots(source, indices, n, seed, trajectory, max_points)


def read_training(source: ResultsSource) -> dict:
    """The keyword arguments of ``training`` from a results file: runs (per N the fine trace
    /particles/N<N>/trace on ``trace_time`` when the file has one, its snapshots on ``time``
    otherwise; wi_rmd2 from the snapshots, on ``wi_time``, where the trace's budget left it out, None where it
    was skipped) and pde (/pde time, risk, free_energy, or None)."""
    node = _node(source)
    runs = {}
    for n in _particle_counts(node):
        g = read_diagnostics(node, n)  # the trace when the file has one, else the snapshots
        runs[n] = {k: g[k] for k in ("time", "risk", "si_rmd2", "wi_rmd2")}
        if g["wi_rmd2"] is None:  # not along the trace (its budget): the snapshots' exact values
            snap = read_diagnostics(node, n, trace=False)
            if snap["wi_rmd2"] is not None:
                runs[n].update(wi_rmd2=snap["wi_rmd2"], wi_time=snap["time"])
    pde = None
    if PDE in node:
        p = node[PDE]
        pde = {k: _array(p[k]) for k in ("time", "risk", "free_energy") if k in p}
    return {"runs": runs, "pde": pde}


def read_distances(source: ResultsSource | Comparison, metric: str) -> dict:
    """The keyword arguments of ``distance_vs_time`` for one metric: times, values_by_n {N: (S, T)},
    floor, ylabel; from a results file (/compare) or a ``wgf.validation.Comparison``."""
    if hasattr(source, "values") and hasattr(source, "floor") and isinstance(source.values, dict):
        if metric not in source.values:
            raise ValueError(f"no metric {metric!r} in the comparison (it has: {', '.join(source.values)})")
        values, ns, times, floor = source.values[metric], source.n, source.times, source.floor.get(metric)
    else:
        node = _node(source)
        if COMPARE not in node:
            raise ValueError("the results have no /compare group (no distances to draw)")
        c = node[COMPARE]
        metrics = [k for k in c if k not in COMPARE_COORDINATES and len(c[k].shape) == 3]  # not <metric>_sup
        if metric not in metrics:
            raise ValueError(f"no metric {metric!r} in /compare (it has: {', '.join(metrics)})")
        d = c[metric]
        values, ns, times, floor = _array(d), _array(c["N"]), _array(c["time"]), d.attrs.get("floor")
    values = np.asarray(values, dtype=float)
    return {"times": np.asarray(times, dtype=float), "values_by_n": {int(n): values[k] for k, n in enumerate(ns)},
            "floor": None if floor is None else float(floor), "ylabel": metric}


def read_minimizer(source: ResultsSource) -> dict:
    """The keyword arguments of ``minimizer_convergence`` from a results file (/minimizer, written with [pde]):
    times, free_energy_gap, distance, gap_rate, distance_rate (decay_rate, decay_rate_low, decay_rate_high,
    decay_points of each), free_energy and residual."""
    node = _node(source)
    if MINIMIZER not in node or "pde_distance" not in node[MINIMIZER]:
        raise ValueError("the results have no /minimizer group with the PDE's distance to it (no [minimizer] and "
                         "[pde])")
    m = node[MINIMIZER]

    def rate(key):
        a = m[key].attrs
        return np.array([a.get(k, np.nan) for k in ("decay_rate", "decay_rate_low", "decay_rate_high",
                                                     "decay_points")], dtype=float)

    return {"times": _array(m["time"]), "free_energy_gap": _array(m["pde_free_energy_gap"]),
            "distance": _array(m["pde_distance"]), "gap_rate": rate("pde_free_energy_gap"),
            "distance_rate": rate("pde_distance"), "free_energy": float(_array(m["free_energy"])),
            "residual": float(_array(m["residual"]))}


def read_fluctuations(source: ResultsSource | xr.Dataset, name: str, component: int | str = 0) -> dict:
    """The keyword arguments of ``fluctuations`` for one component (an index or a name of <name>_component) of the
    test function ``name``: times, n_var_by_n, interval_by_n, limit (None where /fluctuations has no <name>_limit),
    limit_label (its source), ylabel and title; from a results file (/fluctuations) or the ``xarray.Dataset`` of
    ``wgf.validation.fluctuation_dataset``."""
    if hasattr(source, "data_vars"):
        g = source
    else:
        node = _node(source)
        if FLUCTUATION_GROUP not in node:
            raise ValueError("the results have no /fluctuations group (no [compare] fluctuations)")
        g = node[FLUCTUATION_GROUP]
    if name not in g or f"{name}_component" not in g:
        keys = g.variables if hasattr(g, "variables") else g  # a DataTree node or a Dataset, an h5py group
        have = [str(k)[: -len("_component")] for k in keys if str(k).endswith("_component")]
        raise ValueError(f"no test function {name!r} in /fluctuations (it has: {', '.join(have)})")
    components = [c.decode() if isinstance(c, bytes) else str(c) for c in np.asarray(g[f"{name}_component"])]
    k = components.index(component) if isinstance(component, str) and component in components else component
    if isinstance(k, str):
        raise ValueError(f"no component {component!r} of {name} (it has: {', '.join(components)})")
    k = _as_index("component", k, len(components), f"components of {name}")
    ns = np.asarray(g["N"]).astype(int)
    values, low, high = (_array(g[key]) for key in (name, f"{name}_low", f"{name}_high"))
    limit, label = None, "fluctuation_limit"
    if f"{name}_limit" in g:
        d = g[f"{name}_limit"]
        limit = _array(d)[:, k]
        kind = d.attrs.get("source", "")
        label = {"linear_ode": "predicted limit (linear ODE)",
                 "grid": "predicted limit (grid " + "x".join(str(int(c)) for c in np.atleast_1d(d.attrs.get(
                     "cells", []))) + ")"}.get(kind, "predicted limit")
    return {"times": _array(g["time"]), "n_var_by_n": {int(n): values[i, :, k] for i, n in enumerate(ns)},
            "interval_by_n": {int(n): np.stack([low[i, :, k], high[i, :, k]]) for i, n in enumerate(ns)},
            "limit": limit, "limit_label": label, "ylabel": "n_var", "title": f"{name}: {components[k]}"}


def read_off_subspace(source: ResultsSource, *, projector: ArrayLike | None = None) -> dict:
    """The keyword arguments of ``off_subspace`` from a results file: times {N: (T,)}, positions_by_n
    {N: (S, T, N, D)} (lazy: read as they are drawn) and the projector P_E: the one given, else
    B B^T of a grid on E^G (/pde attribute space = "fixed"), else the symmetry of the config the file
    records. ValueError when there are no particles or no projector can be had."""
    node = _node(source)
    ns = _particle_counts(node)
    if not ns:
        raise ValueError("the results have no particles")
    if projector is None:
        if PDE in node and node[PDE].attrs.get("space") == "fixed":
            b = _array(node[PDE]["basis"])
            projector = b @ b.T
        elif "config" in node.attrs:
            from wgf.config import parse_config

            projector = parse_config(str(node.attrs["config"])).problem.symmetry.projector
        else:
            raise ValueError("no projector: give projector=problem.symmetry.projector")
    groups = {n: node[particles_path(n)] for n in ns}
    return {"times": {n: _array(g["time"]) for n, g in groups.items()},
            "positions_by_n": {n: g["positions"] for n, g in groups.items()},
            "projector": np.asarray(projector, dtype=float)}


def read_discovery(source: ResultsSource | Discovery, reference: ArrayLike | None = None) -> dict:
    """The keyword arguments of ``discovery_rounds``: rmd2, threshold, dims, directions, principal,
    principal_angles; from a results file (/discovery) or a ``wgf.Discovery`` (angles to the basis
    ``reference`` (D, m) when given)."""
    if hasattr(source, "rounds") and hasattr(source, "basis"):
        rounds = source.rounds
        dirs = np.full((len(rounds), source.basis.shape[0]), np.nan)
        for i, r in enumerate(rounds):
            if r.direction is not None:
                dirs[i] = r.direction
        return {"rmd2": np.array([r.rmd2 for r in rounds]), "threshold": np.array([r.threshold for r in rounds]),
                "dims": np.array([r.dim for r in rounds]), "directions": dirs,
                "principal": np.array([float(r.principal) for r in rounds]),
                "principal_angles": None if reference is None else source.principal_angles(reference)}
    node = _node(source)
    if DISCOVERY not in node:
        raise ValueError("the results have no /discovery group (no discovery to draw)")
    d = node[DISCOVERY]
    get = {k: (_array(d[k]) if k in d else None)
           for k in ("rmd2", "threshold", "dims", "directions", "principal", "principal_angles")}
    return get
