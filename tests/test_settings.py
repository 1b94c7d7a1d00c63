"""Typed settings (wgf.settings, docs/config.md): every key declared once, listed by ``wgf config``,
resolved into the results file, documented from the declarations, and ``--dry-run`` writes nothing."""

import json
import re
import tomllib
from pathlib import Path

import pytest

from _common import SWAP_PROBLEM
from wgf.cli import _parser, main
from wgf.config import ConfigError, apply_overrides, parse_config, read_section, resolved_config
from wgf.settings import (
    SECTIONS,
    CompareSettings,
    DiscoverSettings,
    PdeSettings,
    all_keys,
    config_block,
    config_docs,
    find_key,
    readme_with_config_block,
)

ROOT = Path(__file__).resolve().parents[1]

# the shared swap problem with a config that gives little else: every other key takes its published default
MINIMAL = SWAP_PROBLEM + """[training]
init = "si"
noise = "projected"
t_end = 1.0
snapshots = 3
[pde]
space = "fixed"
cells = 16
[minimizer]
[particles]
n = [100, 200]
seeds = 2
[compare]
[discover]
"""


def _normal(v):
    return [_normal(x) for x in v] if isinstance(v, (list, tuple)) else v


def test_config_json_lists_every_key_with_its_doc(capsys):
    assert main(["config", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    declared = [(f"{cls.section}.{name}" if cls.section else name) for cls, name, _ in all_keys()]
    assert [i["key"] for i in items] == declared and len(declared) == len(set(declared)) > 50
    for item in items:
        assert set(item) == {"key", "type", "default", "choices", "doc"}
        assert item["doc"] and "\n" not in item["doc"] and item["type"]
        assert item["choices"] is None or (isinstance(item["choices"], list) and item["choices"])
        if item["choices"] and item["default"] is not None and isinstance(item["default"], str):
            assert item["default"] in item["choices"]
    required = {i["key"] for i in items if i["default"] is None and "required" in i["doc"]}
    assert {"model.unit", "model.dim_x", "model.dim_y"} <= {i["key"] for i in items if i["default"] is None}
    assert "model.hidden" in required  # required by two_layer only, said in its doc


def test_config_one_key_and_unknown_keys(capsys):
    assert main(["config", "pde.cells"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("pde.cells") and "[64]" in line and "\n" not in line
    assert main(["config", "training.loss", "--json"]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert item["default"] == "squared" and item["choices"][:3] == ["squared", "logistic", "huber"]
    assert main(["config", "pde.nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "[pde] nope" in err and "cells" in err
    assert main(["config", "nosection.key"]) == 2
    assert "unknown section 'nosection'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unknown key"):
        find_key("particles.alpah")


def test_resolved_config_holds_the_published_default_of_every_key_left_out():
    exp = parse_config(MINIMAL)
    resolved = tomllib.loads(resolved_config(exp))
    given = tomllib.loads(MINIMAL)
    checked = 0
    for cls, name, _ in all_keys():
        table_given = given if not cls.section else given.get(cls.section, {})
        table = resolved if not cls.section else resolved[cls.section]
        default = cls.default(name)
        if name in table_given or default is None:
            continue
        if cls.section == "training" and name == "da_mode":  # applies to data augmentation only
            assert name not in table
            continue
        assert _normal(table[name]) == _normal(default), f"{cls.section}.{name}"
        checked += 1
    assert checked >= 18
    # the defaults that depend on other keys, as their docs say
    assert resolved["compare"]["bandwidth"] == exp.problem.init_std == 0.25
    d = resolved["discover"]
    assert d["replicas"] == 1 and d["alpha"] == 50.0 and d["round_time"] == 10.0 and d["max_dim"] == 4
    assert d["delta"] == 1e-10 and "batch" not in d and "step" not in d
    assert resolved["group"] == {"name": "swap"} and resolved["pde"]["cells"] == [16]
    assert "record_every" not in resolved["particles"]  # its default depends on N


def test_resolved_config_parses_to_the_same_experiment():
    exp = parse_config(MINIMAL)
    again = parse_config(resolved_config(exp))
    assert resolved_config(again) == resolved_config(exp)
    for name in SECTIONS:  # the values used are the same, now all written out
        if name:
            assert getattr(again, name).resolved(again.problem) == getattr(exp, name).resolved(exp.problem), name
    assert again.problem.tau == exp.problem.tau and again.problem.loss.name == exp.problem.loss.name
    # data augmentation and huber: da_mode and huber_delta apply and are written
    text = MINIMAL.replace('noise = "projected"', 'noise = "projected"\nscheme = "da"\nloss = "huber"')
    r = tomllib.loads(resolved_config(parse_config(text)))["training"]
    assert r["da_mode"] == "orbit" and r["huber_delta"] == 1.0


def test_sections_are_typed_and_frozen():
    exp = parse_config(MINIMAL)
    assert isinstance(exp.pde, PdeSettings) and isinstance(exp.compare, CompareSettings)
    assert isinstance(exp.discover, DiscoverSettings)
    assert exp.pde.cells_per_axis(exp.problem) == (16, 16) and exp.pde.box(exp.problem) == ((-2.0, 2.0),) * 2
    with pytest.raises(AttributeError):
        exp.pde.cells = (8,)
    assert exp.particles.eps(100) == 0.5


def test_docs_and_readme_are_generated_from_the_settings():
    """docs/config.md and the README's config block equal what ``python -m wgf.settings`` writes."""
    assert (ROOT / "docs" / "config.md").read_text() == config_docs()
    readme = (ROOT / "README.md").read_text()
    assert readme_with_config_block(readme) == readme
    block = config_block()
    for cls, name, key in all_keys():
        assert re.search(rf"^#? ?{name} = ", block, re.M), name
        for choice in key.choices or ():
            assert f"`{choice}`" in config_docs(), (name, choice)


def _help(command):
    sub = next(a for a in _parser()._actions if a.dest == "command")
    return sub.choices[command].format_help()


def _help_sets(command):
    text = " ".join(_help(command).split())
    return re.findall(r"--set ([a-z_]+\.[a-z_]+=[^\s)]+)", text)


@pytest.mark.parametrize("command", ["run", "sweep", "discover"])
def test_every_set_example_of_the_help_is_accepted_by_dry_run(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.toml"
    # a sweep trains particles only: its combinations (wi + full noise) need no grid on E^G
    config.write_text(MINIMAL if command != "sweep" else MINIMAL.split("[pde]")[0] + "[particles]\nn = [100, 200]\n")
    examples = _help_sets(command)
    assert examples, command
    for example in examples:
        args = [command, str(config), "--set", example, "--dry-run", "-o", str(tmp_path / "x.h5")]
        if command == "sweep":
            args[-1] = str(tmp_path / "out")
        assert main(args) == 0, example
        out = capsys.readouterr().out
        assert "dry run: nothing written" in out
    if command == "sweep":
        text = " ".join(_help("sweep").split())
        for vary in re.findall(r"--vary ([a-z_.+]+=[^\s)]+)", text):
            assert main(["sweep", str(config), "--vary", vary, "--dry-run"]) == 0, vary
            assert "runs" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]  # nothing written


def test_dry_run_prints_the_plan_and_refuses_bad_input(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text(MINIMAL)
    assert main(["run", str(config), "--dry-run", "-o", str(tmp_path / "r.h5")]) == 0
    out = capsys.readouterr().out
    assert "16 x 16 = 256 cells" in out and "N = 100, 200 x 2 seeds = 4 runs" in out and "memory" in out
    assert not (tmp_path / "r.h5").exists() and not list(tmp_path.glob("*.partial"))
    assert main(["run", str(config), "--dry-run", "--set", "pde.cells=1"]) == 2
    assert "[pde] half_width" in capsys.readouterr().err
    # a dry run refuses what the run would, and writes nothing either way
    (tmp_path / "afile").write_text("")
    for args, message in ((["-o", str(tmp_path / "afile" / "x.h5")], "not a folder"),
                          (["-o", str(config)], "the config itself"),
                          (["-o", str(tmp_path / "nodir" / "x.h5")], "does not exist"),
                          (["-o", str(tmp_path / "r.h5"), "--figures", str(tmp_path / "afile")], "is a file")):
        assert main(["run", str(config), "--dry-run", *args]) == 2, args
        assert message in capsys.readouterr().err
    assert main(["sweep", str(config), "--dry-run", "-o", str(tmp_path / "afile")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "c.toml"]


def test_hostile_keys_and_values_get_one_line(capsys):
    for key in ("", ".", "pde.", ".title", "a.b.c"):
        assert main(["config", key]) == 2, key
        assert "expected section.key" in capsys.readouterr().err
    assert main(["config", "pde"]) == 2
    assert "is a section: its keys are pde.space" in capsys.readouterr().err
    huge = "1" + "0" * 400
    for override, key in ((f"training.t_end={huge}", "[training] t_end"),
                          (f"data.teacher_particles=[[{huge}, 0, 0, 0]]", "[data] teacher_particles"),
                          ("group.generators_x=[[[true, false], [false, true]]]", "[group] generators_x"),
                          ('group.generators_x=[[["0", "1"], ["1", "0"]]]', "[group] generators_x")):
        with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
            parse_config(apply_overrides(MINIMAL, [override]))
    with pytest.raises(ConfigError, match="dates and times"):
        apply_overrides(MINIMAL, ["training.t_end=1970-01-01"])
    with pytest.raises(ConfigError, match="unknown section"):
        read_section(MINIMAL, "nope")
    with pytest.raises(ConfigError, match=r"\[pde\]: expected a table"):
        read_section("pde = 3", "pde")


def test_text_beyond_the_basic_plane_survives_overrides_and_the_resolved_config():
    text = 'title = "swap \U0001F600 test"\n' + MINIMAL
    merged = apply_overrides(text, ["training.beta=0.01"])
    exp = parse_config(merged)
    assert exp.title == "swap \U0001F600 test" and exp.problem.beta == 0.01
    assert parse_config(resolved_config(exp)).title == exp.title


def test_resolved_config_names_the_activation_used_and_is_absent_for_experiments_built_in_python():
    from dataclasses import replace

    exp = parse_config(MINIMAL.replace('unit = "sigmoid_matrix"', 'unit = "matrix"'))
    assert tomllib.loads(resolved_config(exp))["model"]["activation"] == "sigmoid"
    assert resolved_config(replace(exp, title="changed")) is None


def test_a_group_given_by_generators_is_refused_as_soon_as_it_exceeds_the_tabulated_order():
    import math

    c, s = math.cos(2 * math.pi / 50000), math.sin(2 * math.pi / 50000)
    text = f"""
[model]
unit = "linear"
dim_x = 2
dim_y = 1
[group]
generators_x = [[[{c!r}, {-s!r}], [{s!r}, {c!r}]]]
generators_y = [[[1.0]]]
[data]
teacher_particles = [[0.5, 0.5]]
"""
    # refused at 1000 elements (wgf tabulates no more), not after closing all 50000
    with pytest.raises(ConfigError, match=r"\[group\] generators_x: .*more than 1000 elements"):
        parse_config(text)
