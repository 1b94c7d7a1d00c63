"""Config parsing: the paper example, and one clear error naming the key for each bad value."""

from pathlib import Path

import numpy as np
import pytest

import wgf
from wgf.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "examples" / "paper_c2.toml"

BASE = """
[model]
unit = "sigmoid_matrix"
dim_x = 2
dim_y = 2
[group]
name = "swap"
[data]
teacher_particles = [[-0.5, 0.0, 0.0, 0.25], [0.25, 0.5, 0.0, 0.5]]
[training]
beta = 1e-3
"""


def test_paper_example_matches_spec_section_9():
    assert wgf.load_config is load_config and wgf.ConfigError is ConfigError
    exp = wgf.load_config(PAPER)
    p = exp.problem
    teacher = 0.5 * np.array(
        [[-1, 0, 0, 0.5], [0.5, 1, 0, 1], [-0.5, 0.3, 1, 0], [0, -1, -0.5, 1], [0.7, -0.7, 0.5, 0.7]]
    )
    np.testing.assert_array_equal(p.data.teacher, teacher)
    assert p.data.x_std == 4.0 and p.tau == 1e-4 and p.beta == 1e-6 and p.init_std == 0.25
    assert p.t_end == 1000.0 and p.group.name == "swap" and p.base_unit.name == "sigmoid_matrix"
    assert exp.particles.n == (5, 10, 50, 100, 500, 1000)
    assert exp.particles.seeds == 10 and exp.particles.alpha == 50.0 and exp.particles.batch == 20
    # N * 20 steps reach MF time 1000 with eps = 50 / N
    assert p.t_end / (exp.particles.alpha / 1000) == 20 * 1000
    assert exp.text == PAPER.read_text()


def test_defaults_and_teacher_kinds():
    exp = parse_config(BASE)
    p = exp.problem
    assert (p.scheme, p.da_mode, p.init, p.noise, p.snapshots) == ("vanilla", "orbit", "wi", "full", 11)
    assert exp.particles is None and exp.pde is None
    wi = parse_config(BASE.replace("[data]", '[data]\nteacher = "wi"')).problem
    assert wi.data.teacher.shape == (4, 4) and wi.data.is_equivariant
    si = parse_config(BASE.replace("[data]", '[data]\nteacher = "si"')).problem
    np.testing.assert_allclose(si.data.teacher, si.symmetry.project(si.data.teacher), atol=0)


def _error(text):
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(
    "old, new, needle",
    [
        ("beta = 1e-3", "beta = -1.0", "[training] beta"),
        ("beta = 1e-3", "beta = nan", "[training] beta"),
        ("beta = 1e-3", "beta = inf", "[training] beta"),
        ("beta = 1e-3", 'beta = "hot"', "[training] beta"),
        ("beta = 1e-3", "bta = 1e-3", "[training] unknown key 'bta'"),
        ("beta = 1e-3", 'scheme = "magic"', "[training] scheme"),
        ("beta = 1e-3", 'da_mode = "orbit"', "[training] da_mode"),
        ("beta = 1e-3", "snapshots = 1", "[training] snapshots"),
        ("beta = 1e-3", "t_end = 0.0", "[training] t_end"),
        ("dim_x = 2", "dim_x = 0", "[model] dim_x"),
        ("dim_x = 2", "dim_x = 2.5", "[model] dim_x"),
        ('unit = "sigmoid_matrix"', 'unit = "relu"', "[model] unit"),
        ('unit = "sigmoid_matrix"', 'unit = "two_layer"', "[model] hidden"),
        ('name = "swap"', 'name = "sign"', "[group] name"),
        ('name = "swap"', 'name = "dihedral"', "[group] name"),
        ("[0.25, 0.5, 0.0, 0.5]", "[0.25, 0.5, 0.0]", "[data] teacher_particles"),
        ("[0.25, 0.5, 0.0, 0.5]", "[0.25, 0.5, 0.0, nan]", "[data] teacher_particles"),
        ("[data]", "[data]\nx_std = -4.0", "[data] x_std"),
        ("[data]", '[data]\nteacher = "best"', "[data] teacher"),
        ("[data]", "[data]\nquadrature_points = 0", "[data] quadrature_points"),
        ("[group]", "[grop]", "unknown section [grop]"),
        ("[model]", 'titel = "x"\n[model]', "unknown top-level key 'titel'"),
    ],
)
def test_bad_values_name_the_key(old, new, needle):
    assert old in BASE
    assert needle in _error(BASE.replace(old, new))


@pytest.mark.parametrize(
    "section, needle",
    [
        ("[particles]\nn = [0, 10]", "[particles] n"),
        ("[particles]\nn = []", "[particles] n"),
        ("[particles]\nseeds = 0", "[particles] seeds"),
        ("[particles]\nalpha = 1.0\nstep = 0.1", "[particles] step"),
        ("[particles]\nbatch = -3", "[particles] batch"),
        ("[particles]\nwarp = 9", "[particles] unknown key 'warp'"),
        ('[compare]\nmetrics = ["mmd", "kl"]', "[compare] metrics"),
        ('[pde]\nspace = "fixed"', "[pde] space"),  # vanilla, arbitrary teacher, full noise
        ("[pde]\ncells = [8, 8, 8]", "[pde] cells"),
        ("[pde]\nhalf_width = 1.0\nbounds = [[-1, 1]]", "[pde] bounds"),
        ("[pde]\nbounds = [[1, -1]]", "[pde] bounds"),
    ],
)
def test_bad_optional_sections(section, needle):
    assert needle in _error(BASE + section)


def test_fixed_space_grid_accepted_only_where_the_flow_stays():
    good = BASE.replace("beta = 1e-3", 'beta = 1e-3\nscheme = "fa"\ninit = "si"\nnoise = "projected"')
    assert parse_config(good + '[pde]\nspace = "fixed"').pde.space == "fixed"
    assert "[pde] space" in _error(good.replace('init = "si"', 'init = "wi"') + '[pde]\nspace = "fixed"')
    assert "SI start" in _error(good + '[pde]\nspace = "full"')


def test_explicit_generators_and_dataset(tmp_path):
    swap = "[[0.0, 1.0], [1.0, 0.0]]"
    text = BASE.replace('name = "swap"', f"generators_x = [{swap}]\ngenerators_y = [{swap}]")
    p = parse_config(text).problem
    assert p.group.order == 2 and p.symmetry.dim_fixed == 2
    bad = BASE.replace('name = "swap"', "generators_x = [[[1.0, 1.0], [0.0, 1.0]]]\ngenerators_y = [[[1.0, 0.0], [0.0, 1.0]]]")
    assert "[group] generators_x" in _error(bad)

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(30, 2)), y=rng.normal(size=(30, 2)))
    cfg = tmp_path / "c.toml"
    data_section = '[data]\ndataset = "d.npz"\n'
    cfg.write_text(BASE.split("[data]")[0] + data_section + "[training]\nbeta = 1e-3\n")
    p = load_config(cfg).problem
    assert isinstance(p.data, wgf.EmpiricalData) and p.quadrature.weights.shape == (30,)
    cfg.write_text(BASE.split("[data]")[0] + '[data]\ndataset = "missing.npz"\n')
    with pytest.raises(ConfigError, match=r"\[data\] dataset"):
        load_config(cfg)


def test_missing_file_and_invalid_toml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.toml")
    assert "not valid TOML" in _error("[model\nunit = 1")


def test_demo_config_is_a_complete_experiment():
    from wgf.demo import DEMO_CONFIG
    from wgf.grids import make_grid

    exp = parse_config(DEMO_CONFIG)
    assert exp.pde.space == "fixed" and exp.particles.n == (100, 1000, 10000) and exp.compare is not None
    p = exp.problem
    assert p.stays_in_fixed_subspace and p.init == "si" and p.data.is_equivariant
    grid = make_grid(p, "fixed", exp.pde.cells, exp.pde.half_width)
    assert grid.shape == (96, 96) and grid.basis.shape == (4, 2)


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.toml")), ids=lambda p: p.name)
def test_every_example_is_a_valid_config_with_a_header(path):
    text = path.read_text()
    assert text.startswith("#"), "examples start with a comment saying what they show"
    exp = load_config(path)
    assert exp.title and (exp.pde is not None or exp.particles is not None or exp.discover is not None)


def test_set_overrides_config_values_and_keeps_the_rest():
    from wgf.config import apply_overrides, load_config, parse_config

    path = ROOT / "examples" / "fixed_subspace_pde.toml"
    base = load_config(path)
    exp = load_config(path, ["training.beta=1e-2", "particles.n=[100, 200]", "training.scheme=fa",
                             'title="swept"', "pde.cells=32"])
    assert (exp.problem.beta, exp.particles.n, exp.problem.scheme, exp.title) == (1e-2, (100, 200), "fa", "swept")
    assert exp.pde.cells == (32,)
    # everything else is the original config, and the merged text parses to the same experiment
    assert exp.problem.tau == base.problem.tau and exp.problem.data.x_std == base.problem.data.x_std
    again = parse_config(exp.text)
    assert (again.problem.beta, again.particles.n, again.problem.scheme) == (1e-2, (100, 200), "fa")
    assert apply_overrides(base.text, []) == base.text  # no override: the text is untouched
    for bad, message in (("training", "expected section.key=value"), ("a.b.c=1", "'a.b.c' is not a config key"),
                         ("title.x=1", "unknown section 'title'"),
                         ("training.betta=1", r"\[training\] betta: unknown key")):
        with pytest.raises(ConfigError, match=message):
            load_config(path, [bad])


def test_cli_set_errors_are_one_line_exit_2(tmp_path, capsys):
    from wgf.cli import main

    path = str(ROOT / "examples" / "fixed_subspace_pde.toml")
    assert main(["run", path, "--set", "training.beta=-1", "-o", str(tmp_path / "x.h5")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "beta" in err[0]
    assert not (tmp_path / "x.h5").exists() and not (tmp_path / "x.h5.partial").exists()


@pytest.mark.parametrize("override,message", [
    ("training. beta=1e-3", "'training. beta' is not a config key"),
    ("particles .n=30", "'particles .n' is not a config key"),
    ("training.be ta=1e-3", "'training.be ta' is not a config key"),
    ("training={beta=1e-3}", "'training' is a section: its keys are training.scheme"),
    ("training.beta={x=1}", r"\[training\] beta: unexpected sub-table"),
    ('title="a"\n[model]\ndim_x=3', r"--set title: .* is not one value \(a newline or a \[table\] follows it\)"),
    ("training.beta=1e-3\ntraining.tau=1", "is not one value"),
    ("training.scheme=fa\n[model]", "is not one TOML value"),
    ("training.beta=" + "1" * 5000, r"--set \[training\] beta: an integer of more than 4300 digits"),
    ("training.beta=", r"--set \[training\] beta: no value given"),
])
def test_set_takes_one_declared_key_and_one_value(override, message):
    from wgf.config import apply_overrides

    with pytest.raises(ConfigError, match=message) as e:
        parse_config(apply_overrides(BASE, [override]))
    assert "\n" not in str(e.value)


def test_set_merges_into_a_section_and_sets_a_key_once():
    from wgf.config import apply_overrides

    text = apply_overrides(BASE, [" training.tau = 0.5 ", "title=my run, v2"])  # spaces around key and value
    exp = parse_config(text)
    assert (exp.problem.tau, exp.problem.beta, exp.title) == (0.5, 1e-3, "my run, v2")
    with pytest.raises(ConfigError, match=r"--set \[training\] tau: given twice"):
        apply_overrides(BASE, ["training.tau=0.5", "training.tau=1"])


def test_an_integer_too_long_to_read_names_its_key():
    with pytest.raises(ConfigError, match=r"^\[particles\] seeds: an integer of 5000 digits is out of range"):
        parse_config(BASE + "[particles]\nseeds = " + "1" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"^title: an integer of 4400 digits"):
        parse_config("title = " + "9" * 4400 + "\n" + BASE)
    with pytest.raises(ConfigError, match=r"^\[particles\] n: an integer of 4301 digits"):  # a multi-line array
        parse_config(BASE + "[particles] # N\nn = [\n  10,\n  " + "1" * 4301 + ",\n]\nseeds = 2\n")


def test_cli_refuses_a_5000_digit_integer_naming_its_key(tmp_path, capsys):
    from wgf.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text(BASE + "[particles]\nn = " + "1" * 5000 + "\n")
    assert main(["run", str(cfg), "--dry-run", "-o", str(tmp_path / "x.h5")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "[particles] n: an integer of 5000 digits" in err[0]


def test_the_gauss_hermite_rule_has_any_number_of_axes():
    from wgf.data import gauss_hermite

    t, _ = np.polynomial.hermite_e.hermegauss(3)
    nodes, weights = gauss_hermite(3, 3, 2.0)  # the tensor rule, the last axis fastest (as numpy's meshgrid)
    grid = np.meshgrid(t, t, t, indexing="ij")
    np.testing.assert_array_equal(nodes, 2.0 * np.stack([g.ravel() for g in grid], axis=1))
    assert weights.shape == (27,) and abs(weights.sum() - 1) < 1e-15
    # beyond numpy's 32 array axes: a Gaussian teacher on R^33 builds its quadrature
    text = BASE.replace('unit = "sigmoid_matrix"\ndim_x = 2\ndim_y = 2', 'unit = "linear"\ndim_x = 33\ndim_y = 1')
    text = text.replace("[[-0.5, 0.0, 0.0, 0.25], [0.25, 0.5, 0.0, 0.5]]", str([[0.1] * 33]))
    text = text.replace('name = "swap"', 'name = "trivial"').replace("[data]", "[data]\nquadrature_points = 1")
    q = parse_config(text).problem.quadrature
    assert q.x.shape == (1, 33) and q.y.shape == (1, 1)
