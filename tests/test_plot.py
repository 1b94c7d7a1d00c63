"""wgf.plot: every figure type drawn from tiny arrays or one tiny results file, checked on what it draws."""

import subprocess
import sys

import h5py
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

import wgf  # noqa: E402
from _common import SWAP_PROBLEM  # noqa: E402
from wgf import plot  # noqa: E402

TINY = 'title = "plot test"\n' + SWAP_PROBLEM + """[training]
beta = 1e-3
init = "si"
noise = "projected"
t_end = 1.0
snapshots = 3
[pde]
space = "fixed"
cells = 16
half_width = 2.0
[particles]
n = [10, 20, 40]
seeds = 2
alpha = 4.0
batch = 5
[compare]
metrics = ["mmd", "energy"]
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """One tiny results file (PDE on E^G, particles, distances) shared by the tests."""
    from wgf.runner import run_experiment

    out = tmp_path_factory.mktemp("plot") / "tiny.h5"
    return run_experiment(wgf.parse_config(TINY), out, quiet=True)


@pytest.fixture(scope="module")
def tree(results):
    return wgf.open_results(results)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _gauss(x, y=None):
    r2 = x**2 if y is None else np.add.outer(x**2, y**2)
    return np.exp(-r2 / 0.5)


def test_density_2d_mesh_contours_colorbar_and_thinned_particles(tree, results):
    snap = plot.read_snapshot(tree)  # the final time, the largest N (40), seed 0
    fig, ax = plt.subplots()
    assert plot.density(**snap, ax=ax, max_points=15) is ax
    kinds = [type(c).__name__ for c in ax.collections]
    assert kinds == ["QuadMesh", "QuadContourSet", "PathCollection"]
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "PDE density"  # the colour bar, labelled
    with h5py.File(results) as f:
        z = f["particles/N40/positions"][0, -1]
        basis = f["pde/basis"][()]
        np.testing.assert_array_equal(ax.collections[0].get_array().reshape(16, 16), f["pde/density"][-1].T)
    expected = (z @ basis)[::3]  # every ceil(40 / 15) = 3rd particle, at u = z @ B
    np.testing.assert_allclose(ax.collections[2].get_offsets(), expected, rtol=0, atol=1e-15)
    assert "14 drawn" in ax.get_legend().get_texts()[0].get_text()


def test_density_1d_line_and_histogram_and_3d_marginal_pairs():
    x = -1.9 + 0.2 * (np.arange(20) + 0.5)  # cells of 0.2 on [-1.9, 2.1]
    rho = _gauss(x)
    rho /= rho.sum() * 0.2
    u = np.random.default_rng(0).normal(scale=0.5, size=(300, 1))
    ax = plot.density(rho, [x], particles=u)
    assert len(ax.lines) == 1 and len(ax.patches) == 20  # one bar per cell
    heights = np.array([p.get_height() for p in ax.patches])
    assert heights.sum() * 0.2 == pytest.approx(np.mean(np.abs(u[:, 0] - 0.1) <= 2.0))  # mass inside the box

    g = np.linspace(-1, 1, 6)
    rho3 = np.einsum("i,j,k->ijk", _gauss(g), np.ones(6), _gauss(g) + 1)
    ax = plot.density(rho3, [g, g, g], dims=(0, 2))
    np.testing.assert_allclose(ax.collections[0].get_array().reshape(6, 6), (rho3.sum(axis=1) * 0.4).T)
    assert ax.get_xlabel() == "$u_0$" and ax.get_ylabel() == "$u_2$"


def test_density_snapshots_share_one_colour_scale(tree):
    axes = plot.density_snapshots(**plot.read_snapshots(tree, [0, -1]))
    assert len(axes) == 2 and len(axes[0].figure.axes) == 3  # two panels and one colour bar
    assert axes[0].collections[0].get_clim() == axes[1].collections[0].get_clim()
    assert [a.get_title() for a in axes] == ["$t = 0$", "$t = 1$"]


def test_marginals_are_the_summed_density_against_the_histograms():
    x, y = np.linspace(-1.5, 1.5, 12), np.linspace(-1, 1, 8)
    rho = _gauss(x, y)
    rho /= rho.sum() * (x[1] - x[0]) * (y[1] - y[0])
    pts = np.random.default_rng(1).normal(scale=0.4, size=(500, 2))
    axes = plot.marginals(rho, [x, y], particles=pts)
    assert len(axes) == 2
    assert all(a.get_legend() is None for a in axes) and len(axes[0].figure.legends) == 1  # one, below
    assert [t.get_text() for t in axes[0].figure.legends[0].get_texts()] == ["PDE", "particles ($N = 500$)"]
    for k, ax in enumerate(axes):
        line = ax.lines[0].get_ydata()
        h = [x, y][k][1] - [x, y][k][0]
        assert line.sum() * h == pytest.approx(1.0)  # a marginal density
        assert len(ax.patches) == [x, y][k].size


def test_off_subspace_measures_the_component_off_e_g(tree):
    proj = np.diag([1.0, 1.0, 0.0, 0.0])  # E = the first two coordinates
    rng = np.random.default_rng(2)
    pos = rng.normal(size=(2, 3, 50, 4))
    pos[:, 0, :, 2:] = 0.0  # in E at t = 0
    ax_t, ax_h = plot.off_subspace([0.0, 1.0, 2.0], {50: pos}, proj)
    expected = (pos[..., 2:] ** 2).sum(-1).mean(-1).mean(0)
    y = ax_t.lines[0].get_ydata()
    assert np.isnan(y[0]) and np.allclose(y[1:], expected[1:])  # 0 is round-off: not a value on the line
    level2 = plot.round_off(np.abs(pos).max(), squared=True)
    np.testing.assert_allclose(ax_t.lines[1].get_xydata(), [[0.0, 0.1 * level2]])  # a mark in the band instead
    assert ax_t.get_yscale() == "log" and ax_h.get_xscale() == "log" and len(ax_h.patches) == 1
    # a run that never leaves E is named as such
    ax_t, _ = plot.off_subspace([0.0, 1.0], {5: np.zeros((2, 5, 4))}, proj)
    assert ax_t.get_legend().get_texts()[1].get_text() == "$N = 5$: at round-off"
    # from the results file: P_E = B B^T of the grid on E^G, one line per N
    data = plot.read_off_subspace(tree)
    basis = np.asarray(tree["pde"]["basis"])
    np.testing.assert_allclose(data["projector"], basis @ basis.T)
    ax_t, _ = plot.off_subspace(**data)
    assert _labels(ax_t) == ["$N = 10$", "$N = 20$", "$N = 40$"]


def test_distance_vs_time_mean_over_seeds_and_floor(tree):
    data = plot.read_distances(tree, "energy")
    assert sorted(data["values_by_n"]) == [10, 20, 40] and data["values_by_n"][10].shape == (2, 3)
    ax = plot.distance_vs_time(**data)
    assert len(ax.lines) == 4 and ax.get_ylabel() == "energy distance"  # one per N and the floor
    # the geometric mean over seeds (the scale of the rate fit)
    np.testing.assert_allclose(ax.lines[2].get_ydata(), 10 ** np.log10(data["values_by_n"][40]).mean(axis=0))
    assert ax.lines[3].get_ydata()[0] == pytest.approx(data["floor"])
    assert len(ax.collections) == 3  # the t-interval bands
    # the same from a Comparison in memory
    from wgf.validation import Comparison

    values = np.stack(list(data["values_by_n"].values()))
    comparison = Comparison(np.array([10, 20, 40]), data["times"], {"energy": values}, floor={"energy": data["floor"]})
    again = plot.read_distances(comparison, "energy")
    assert again["floor"] == data["floor"] and again["values_by_n"].keys() == data["values_by_n"].keys()
    np.testing.assert_array_equal(again["values_by_n"][20], data["values_by_n"][20])


def test_training_draws_the_fine_trace(tree, results):
    data = plot.read_training(tree)
    with h5py.File(results) as f:
        g = f["particles/N20"]
        if "trace" in g:  # the fine trace, more times than the snapshots
            np.testing.assert_array_equal(data["runs"][20]["time"], g["trace/trace_time"][()])
        else:
            np.testing.assert_array_equal(data["runs"][20]["time"], g["time"][()])
    ax_i, ax_r = plot.training(**data)
    assert len(_labels(ax_i)) == 6  # SI and WI per N (and unlabelled marks on the round-off band)
    right = [a for a in ax_r.figure.axes if a is not ax_i]  # a signed free energy: on a twin axis
    assert sum(len(_labels(a)) for a in right) == 5  # risk per N, the PDE's risk and free energy
    np.testing.assert_allclose(ax_r.lines[1].get_ydata(), data["runs"][20]["risk"].mean(axis=0))


def test_training_falls_back_to_the_snapshots_without_a_trace(tmp_path):
    path = tmp_path / "snapshots.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("particles/N8")
        g["time"] = [0.0, 1.0, 2.0]
        g["risk"] = [[0.3, 0.2, 0.1], [0.5, 0.2, 0.1]]
        g["si_rmd2"] = [[0.0, 1e-3, 2e-3]] * 2
        g.attrs["wi_rmd2_skipped"] = "too large"
    with h5py.File(path) as f:
        data = plot.read_training(f)
    assert data["pde"] is None and data["runs"][8]["wi_rmd2"] is None
    ax_i, ax_r = plot.training(**data)
    assert _labels(ax_i) == ["SI, $N = 8$"] and len(ax_r.lines) == 1
    np.testing.assert_allclose(ax_r.lines[0].get_ydata(), [0.4, 0.2, 0.1])


def _discovery():
    from wgf.discovery import DiscoveryRound

    v0, v1 = np.array([1.0, 0, 0, 1]) / np.sqrt(2), np.array([0, 1.0, 1, 0]) / np.sqrt(2)
    rounds = [DiscoveryRound(0, 0.5, 1e-10, v0), DiscoveryRound(1, 2e-5, 1e-10, v1, principal=True),
              DiscoveryRound(2, 1e-31, 1e-10)]
    return wgf.Discovery(np.stack([v0, v1], axis=1), rounds, settings={"gradient": "exact"})


def test_discovery_rounds_from_memory_and_from_a_file(tmp_path):
    from wgf.io import ResultsFile
    from wgf.report import draw_figures

    disc = _discovery()
    ax_r, ax_d = plot.discovery_rounds(**plot.read_discovery(disc, reference=disc.basis))
    assert ax_r.get_yscale() == "log" and len(ax_r.lines) == 5  # residuals, mean / principal, delta, round-off
    np.testing.assert_allclose(ax_r.lines[0].get_ydata(), [0.5, 2e-5, np.nan])  # 1e-31 is round-off:
    np.testing.assert_allclose(ax_r.lines[3].get_xydata(), [[2, 0.1 * plot.rmd2_round_off()]])  # in the band
    assert [p.get_label() for p in ax_r.patches] == ["at round-off (< 2.2e-13)"]
    image = ax_d.images[0].get_array()
    np.testing.assert_allclose(image[:2], disc.basis.T)
    assert image.mask[2].all()  # no direction in the last round

    out = tmp_path / "disc.h5"
    with ResultsFile(out, "") as f:
        disc.write(f, disc.basis)
    read = plot.read_discovery(out)
    np.testing.assert_allclose(read["rmd2"], [0.5, 2e-5, 1e-31])
    assert read["principal_angles"].shape == (2,)
    pngs = draw_figures(out, tmp_path / "figs")
    assert [p.name for p in pngs] == ["discovery.png"]


def test_animate_writes_one_frame_per_snapshot(tmp_path):
    from wgf.grids import Grid, History
    from wgf.particles import Trajectory

    grid = Grid([(-1.0, 1.0)] * 2, 8)
    x = grid.axes[0]
    dens = np.stack([_gauss(x * s, x) for s in (1.0, 1.5, 2.0, 2.5)])
    history = History(grid, np.arange(4.0), dens / (dens.sum(axis=(1, 2), keepdims=True) * grid.cell_volume))
    traj = Trajectory(np.arange(4.0), np.random.default_rng(3).normal(scale=0.3, size=(4, 30, 2)), 30, 0, 0.1)
    gif = plot.animate(history, tmp_path / "a.gif", trajectory=traj)
    with Image.open(gif) as im:
        assert im.n_frames == 4
        assert im.size == (1100, 920)  # 5.5 x 4.6 inches at 200 dpi: publication resolution
    assert gif.stat().st_size < 2_000_000


def test_save_embeds_truetype_fonts_only(tmp_path):
    ax = plot.distance_vs_time([0.0, 1.0], {10: [[0.1, 0.2], [0.2, 0.3]]})
    before = matplotlib.rcParams["pdf.fonttype"]
    (pdf,) = plot.save(ax.figure, tmp_path / "d", formats=("pdf",))
    data = pdf.read_bytes()
    assert b"/FontFile2" in data and b"/Type3" not in data
    assert matplotlib.rcParams["pdf.fonttype"] == before  # set for the save only


def test_import_does_not_load_matplotlib():
    code = "import sys, wgf.plot; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _tree_of(folder):
    """{relative path: bytes} of every file under ``folder``, hidden ones included."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_report_figures_are_all_or_nothing(results, tmp_path, monkeypatch):
    """A file refused after a figure is drawn (the first snapshot of its density damaged: the final density
    is drawn, the snapshots figure refuses it) leaves the folder as it was: an earlier report's figures
    untouched, no new file, no temporary folder left."""
    import shutil

    from wgf.report import ReportError, draw_figures

    damaged = tmp_path / "damaged.h5"
    shutil.copyfile(results, damaged)
    with h5py.File(damaged, "r+") as f:  # valid HDF5 and checksums, a value the PDE's solver never writes
        f["pde/density"][0, 3, 4] = np.nan
    figs = tmp_path / "figs"
    figs.mkdir()
    before = {"density.png": b"an earlier report", "density.pdf": b"its pdf", "notes.txt": b"the user's"}
    for name, data in before.items():
        (figs / name).write_bytes(data)
    saved = []
    real_save = plot.save
    monkeypatch.setattr(plot, "save", lambda fig, path, **kw: saved.extend(real_save(fig, path, **kw)) or saved)
    with pytest.raises(ReportError, match=r"damaged or not a complete wgf results file \(rho has 1 non-finite "
                                          r"entries \(NaN or inf\) of 768\)"):
        draw_figures(damaged, figs)
    assert [p.name for p in saved] == ["density.png", "density.pdf"]  # drawn before the refusal...
    assert saved[0].parent.parent == figs and saved[0].parent.name.startswith(".wgf-figures-")  # ...aside
    assert {p.name: p.read_bytes() for p in figs.iterdir()} == before


# ------------------------------------------------------------------ figures that do not mislead
def _labels(ax):
    return [line.get_label() for line in ax.lines if not line.get_label().startswith("_")]


def test_every_metric_and_quantity_has_a_display_name_that_mathtext_reads():
    from matplotlib.mathtext import MathTextParser

    from wgf.labels import DISPLAY_NAMES, display_name
    from wgf.sweep import SWEEP_QUANTITIES
    from wgf.validation.metrics import METRICS

    written = [name for _, entry in METRICS.items() for name in entry.writes]
    assert "moments_cov_error" in written
    keys = written + list(SWEEP_QUANTITIES) + ["free_energy", "N", "time"]
    assert [k for k in keys if k not in DISPLAY_NAMES] == []
    parser = MathTextParser("path")
    for key in keys:  # every label parses: no raw identifier, no broken TeX
        assert "_" not in display_name(key).replace("$", " $").split("$")[0]
        for k, part in enumerate(display_name(key).split("$")):
            if k % 2:
                parser.parse(f"${part}$")
    assert display_name("moments_cov_error") == r"covariance error $\|C_\mu - C_\nu\|_F$"
    assert display_name("my_metric") == "my metric" and display_name("$u_0$ [m]") == "$u_0$ [m]"


def test_distance_vs_n_clips_intervals_to_the_log_axis_with_tex_labels():
    n = np.array([10, 100, 1000])
    values = np.array([[0.3, 0.25, 0.28], [0.1, 0.001, 0.2], [0.02, 0.03, 0.025]])  # N = 100: interval < 0
    ax = plot.distance_vs_n(n, values, floor=1e-3, rate=(-0.5, -0.7, -0.3, 3), ylabel="moments_cov_error")
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_ylabel() == r"covariance error $\|C_\mu - C_\nu\|_F$"
    assert ax.get_xlabel() == "number of particles $N$"
    assert ax.get_title() == "slope $-0.50$  $[-0.70, -0.30]$"
    assert _labels(ax)[:2] == ["interval reaches 0 (clipped)", "$N^{-1/2}$"]
    bottom = ax.get_ylim()[0]
    assert bottom == pytest.approx(1e-3 / 3)  # a third of the smallest positive value drawn (the floor)
    segments = np.concatenate([s for c in ax.collections[:1] for s in c.get_segments()])
    assert segments[:, 1].min() == pytest.approx(bottom)  # the bar reaching 0 ends at the axis bottom
    np.testing.assert_allclose(ax.lines[0].get_ydata(), values.mean(axis=1))  # the mean is drawn
    (mark,) = [line for line in ax.lines if line.get_label() == "interval reaches 0 (clipped)"]
    np.testing.assert_allclose(mark.get_xydata(), [[100, bottom]])  # and the clipped end marked


def test_off_subspace_at_round_off_is_a_band_and_a_statement_not_data():
    proj = np.diag([1.0, 1.0, 0.0, 0.0])
    pos = np.random.default_rng(4).normal(size=(1, 3, 20, 4))
    pos[..., 2:] = 1e-17  # off E only by round-off: |v|^2 = 2e-34
    ax_t, ax_h = plot.off_subspace([0.0, 1.0, 2.0], {20: pos}, proj)
    level2 = plot.round_off(np.abs(pos).max(), squared=True)
    assert 1e-27 < level2 < 1e-24
    band = [p for p in ax_t.patches if p.get_label().startswith("at round-off")]
    assert len(band) == 1 and band[0].get_label() == f"at round-off (< {level2:.1e})"
    assert ax_t.get_ylim()[0] < level2 and [np.isfinite(line.get_ydata()).all() for line in ax_t.lines] == [True]
    assert _labels(ax_t) == ["$N = 20$: at round-off"] and np.all(ax_t.lines[0].get_ydata() == 0.1 * level2)
    assert not ax_h.axison and not ax_h.lines and not ax_h.patches  # the right panel is the statement
    assert "every particle is in $E^G$" in ax_h.texts[0].get_text()


def test_training_draws_a_signed_free_energy_on_a_linear_axis():
    runs = {8: {"time": [0.0, 1.0, 2.0], "risk": [[0.3, 0.2, 0.1]], "si_rmd2": [[0.0, 1e-3, 2e-3]], "wi_rmd2": None}}
    pde = {"time": [0.0, 1.0, 2.0], "risk": [0.3, 0.2, 0.1], "free_energy": [2.5e-5, 0.0, -1e-4]}
    ax_i, ax_r = plot.training(runs, pde=pde)
    assert ax_r.get_yscale() == "log"  # the risk stays on log
    (twin,) = [a for a in ax_r.figure.axes if a not in (ax_i, ax_r)]
    assert twin.get_yscale() == "linear" and twin.get_ylabel() == "free energy $F$ (linear)"
    np.testing.assert_allclose(twin.lines[-1].get_ydata(), [2.5e-5, 0.0, -1e-4])
    assert all(a.get_yscale() != "symlog" for a in ax_r.figure.axes)
    labels = [t.get_text() for t in ax_r.get_legend().get_texts()]
    assert labels[-1] == r"PDE free energy $F(\mu_t)$ (right axis, from -0.0001 to 2.5e-05)"
    # the SI at t = 0 is at round-off: a mark in the band, the line from t = 1
    assert _labels(ax_i) == ["SI, $N = 8$"] and np.isnan(ax_i.lines[0].get_ydata()[0])
    np.testing.assert_allclose(ax_i.lines[1].get_xydata(), [[0.0, 0.1 * plot.rmd2_round_off()]])
    assert [p.get_label() for p in ax_i.patches] == ["at round-off (< 2.2e-13)"]
    # a risk that is not positive: the panel is linear, its range in the title
    ax_i, ax_r = plot.training({}, pde={"time": [0.0, 1.0], "risk": [0.1, -0.2]})
    assert ax_r.get_yscale() == "linear" and ax_r.get_title() == "training (risk from -0.2 to 0.1)"
    assert not ax_i.axison and ax_i.texts[0].get_text() == "no particle runs"


def test_a_legend_on_data_is_moved_outside_and_a_free_corner_is_kept(tmp_path):
    fig, (full, free) = plt.subplots(1, 2, layout="constrained")
    x = np.linspace(0, 1, 50)
    for k in range(12):  # lines across the whole panel: no place inside is free
        full.plot(x, np.full_like(x, k), label=f"line {k}" if k < 3 else None)
    free.plot(x, x**4, label="x^4")  # the upper left corner is free
    full.legend(), free.legend()
    assert plot.place_legends(fig) == [full]
    fig.draw_without_rendering()
    assert full.get_legend().get_window_extent().x0 > full.bbox.x1  # outside, right of the axes
    box = free.get_legend().get_window_extent()
    assert free.bbox.x0 < box.x0 < box.x1 < free.bbox.x1  # inside, where "best" put it
    assert not plot._legend_overlaps(free, free.get_legend())


def test_sweep_puts_n_on_a_log_axis_with_display_names():
    import xarray as xr

    da = xr.DataArray([[0.1, 0.2], [0.05, 0.06]], dims=("N", "seed"), coords={"N": [10, 100]}, name="m2")
    ax = plot.sweep_quantity(da, "N")
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "number of particles $N$"
    assert ax.get_ylabel() == r"second moment $\frac{1}{N}\sum_i |z_i|^2$"


def test_report_rates_figure_has_one_legend_below_the_panels(results, tmp_path):
    from matplotlib.figure import Figure

    from wgf.report import _rates_figure

    with h5py.File(results) as f:
        fig = _rates_figure(Figure, plot, f)
    panels = [a for a in fig.axes if a.axison]
    assert [a.get_ylabel() for a in panels] == ["energy distance", r"$\mathrm{MMD}$"]
    assert all(a.get_legend() is None for a in panels) and len(fig.legends) == 1
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "$N^{-1/2}$" in labels and len(labels) == len(set(labels))
    fig.draw_without_rendering()
    assert fig.legends[0].get_window_extent().y1 <= min(a.get_tightbbox().y0 for a in panels) + 1


def test_report_draws_no_off_subspace_figure_when_e_g_is_the_whole_space(results, tmp_path, monkeypatch):
    """E^G = Z (a group acting on labels only, examples/logistic_huber.toml): every particle is in E^G by
    definition, so the report draws no off-E^G figure instead of an empty one."""
    from wgf.report import draw_figures

    names = []
    monkeypatch.setattr(plot, "save", lambda fig, path, **kw: names.append(path.name) or [])
    monkeypatch.setattr(plot, "animate", lambda *a, **kw: None)
    whole = plot.read_off_subspace(results)  # drawn for this file (tests/test_cli.py), E^G a plane of R^4
    monkeypatch.setattr(plot, "read_off_subspace", lambda f: {**whole, "projector": np.eye(4)})
    draw_figures(results, tmp_path)
    assert names == ["density", "snapshots", "marginals", "distances", "distances_time", "training"]
