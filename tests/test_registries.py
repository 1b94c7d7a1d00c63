"""Registries: one definition per named concept. Every entry has a one-line doc and the metadata it
promises; the metadata agrees with the objects built; a name registered in one place is accepted by the
factories and the config."""

import json

import numpy as np
import pytest

from wgf.activations import ACTIVATIONS
from wgf.config import ConfigError, _check_structure, parse_config
from wgf.data import TEACHERS
from wgf.discovery import GRADIENTS
from wgf.groups import COMPACT_GROUPS, DEFAULT_HAAR_POINTS, GROUP_NAMES, GROUPS, FiniteGroup, group_from_name
from wgf.losses import LOSSES, Loss, make_loss
from wgf.problem import INITS, NOISES
from wgf.registry import Registry, UnknownNameError
from wgf.schedules import SCHEDULES, make_schedule
from wgf.schemes import DA_MODES, SCHEMES
from wgf.units import UNIT_ALIASES, UNITS, make_unit
from wgf.validation import METRICS
from wgf.validation.comparison import DEFAULT_METRICS

# (registry, the metadata every entry promises)
PROMISES = [
    (UNITS, ("dim", "activation", "hidden")),
    (ACTIVATIONS, ("value", "slope")),
    (LOSSES, ("labels", "componentwise", "param", "additive_noise")),
    (SCHEDULES, ("param",)),
    (GROUPS, ("order", "compact", "haar_points", "haar_kind", "haar_code")),
    (SCHEMES, ("augments", "feature_maps", "invariant_risk")),
    (DA_MODES, ("code",)),
    (TEACHERS, ("equivariant",)),
    (INITS, ("projected",)),
    (NOISES, ("projected",)),
    (METRICS, ("needs_problem", "exact_ot", "writes")),
    (GRADIENTS, ("replicas", "batched")),
]


@pytest.mark.parametrize("registry,promised", PROMISES, ids=[r.kind for r, _ in PROMISES])
def test_entries_have_one_line_docs_and_their_metadata(registry, promised):
    assert isinstance(registry, Registry) and len(registry) >= 2
    for name, entry in registry.items():
        assert entry.name == name and entry.doc.strip() and "\n" not in entry.doc
        missing = [key for key in promised if key not in entry.meta]
        assert not missing, f"{registry.kind} {name!r} lacks {missing}"
    assert registry.table().count("\n") == len(registry) + 1


def test_unknown_names_are_refused_by_the_registry_with_the_choices():
    with pytest.raises(UnknownNameError, match=r"unknown loss 'x' \(choose from squared, logistic, huber\)"):
        make_loss("x")
    for call, kind in ((lambda: make_unit("x", 2, 2), "unit"), (lambda: group_from_name("x", 2, 2), "group"),
                       (lambda: make_schedule("x"), "schedule")):
        with pytest.raises(ValueError, match=f"unknown {kind} 'x' \\(choose from "):
            call()
    assert isinstance(UnknownNameError("m"), KeyError) and str(UnknownNameError("m")) == "m"


def test_views_of_the_registries_keep_their_old_shapes():
    assert COMPACT_GROUPS == ("rotation", "orthogonal", "rotation3") == GROUPS.where(compact=True)
    assert DEFAULT_HAAR_POINTS == {"rotation": 16, "orthogonal": 16, "rotation3": 60}
    assert UNIT_ALIASES == {"linear": "identity", "sigmoid_matrix": "sigmoid", "tanh_matrix": "tanh"}
    assert GROUP_NAMES["swap"](2, 1).order == 2  # a factory, as the dict of factories it was
    assert ", ".join(LOSSES) == "squared, logistic, huber" and tuple(SCHEMES) == ("vanilla", "da", "fa", "ea")
    assert ACTIVATIONS["sigmoid"](np.array([0.0]))[0] == 0.5 and ACTIVATIONS["sigmoid"].derivative(0.0) == 0.25
    assert set(DEFAULT_METRICS) <= set(METRICS)
    assert METRICS["moments"].writes == ("moments_mean_error", "moments_cov_error")


@pytest.mark.parametrize("name,dim_x,haar_points", [
    ("trivial", 3, None), ("swap", 2, None), ("swap", 4, None), ("cyclic", 3, None), ("cyclic", 5, None),
    ("permutation", 3, None), ("permutation", 4, None), ("sign", 2, None), ("rotation", 2, None),
    ("rotation", 2, 7), ("orthogonal", 2, None), ("orthogonal", 2, 6), ("rotation3", 3, None), ("rotation3", 3, 12),
])
def test_group_order_metadata_is_the_order_of_the_group_built(name, dim_x, haar_points):
    entry = GROUPS[name]
    group = group_from_name(name, dim_x, 1, haar_points)
    assert entry.order(dim_x, haar_points) == group.order
    assert entry.compact == group.continuous
    if entry.compact:
        assert group.kind == entry.haar_kind and entry.haar_code > 0
        assert entry.haar_points == DEFAULT_HAAR_POINTS[name]


def test_haar_codes_of_the_engine_are_the_groups():
    from wgf.particles.kernels import DA_ORBIT, DA_SAMPLE, HAAR_CODES, HAAR_NONE

    assert HAAR_CODES == {GROUPS[n].haar_kind: GROUPS[n].haar_code for n in COMPACT_GROUPS}
    assert HAAR_NONE not in HAAR_CODES.values() and len(set(HAAR_CODES.values())) == len(HAAR_CODES)
    assert (DA_ORBIT, DA_SAMPLE) == (DA_MODES["orbit"].code, DA_MODES["sample"].code)


@pytest.mark.parametrize("name,dim_x,dim_y,hidden", [
    ("matrix", 3, 2, None), ("two_layer", 3, 2, 4), ("gated_matrix", 2, 2, None), ("linear", 2, 3, None),
    ("sigmoid_matrix", 2, 2, None), ("tanh_matrix", 1, 2, None),
])
def test_unit_dim_metadata_is_the_dim_of_the_unit_built(name, dim_x, dim_y, hidden):
    entry = UNITS[name]
    unit = make_unit(name, dim_x, dim_y, hidden)
    assert entry.dim(dim_x, dim_y, hidden) == unit.dim
    assert entry.hidden == (hidden is not None)
    if entry.activation is not None:  # an alias: a matrix unit with its fixed activation
        assert unit.description.endswith(f"s = {entry.activation}")
        with pytest.raises(ValueError, match=f"has the {entry.activation} activation"):
            make_unit(name, dim_x, dim_y, activation="relu" if entry.activation != "relu" else "tanh")


def test_label_conventions_replace_the_loss_names():
    assert [n for n, e in LOSSES.items() if e.labels == "sign"] == ["logistic"]
    for name, entry in LOSSES.items():
        loss = make_loss(name)
        assert loss.sign_labels == (entry.labels == "sign") and loss.convention == entry.labels
        f = np.array([[-0.5, 0.0, 2.0]])
        np.testing.assert_array_equal(loss.labels(f), [[-1.0, 1.0, 1.0]] if loss.sign_labels else f)
    assert make_loss("huber", 0.5).param == 0.5 and make_loss("squared", 0.5).param == 0.0


def test_schedules_are_their_entries_functions():
    t = np.array([0.0, 1.0, 3.0])
    const, inv = make_schedule(), make_schedule("inverse_time", 2.0)
    assert const.is_constant and not inv.is_constant
    np.testing.assert_allclose(inv.rate(t), 1 / (1 + t / 2)) and np.testing.assert_allclose(const.elapsed(t), t)
    np.testing.assert_allclose(inv.elapsed(t), 2 * np.log1p(t / 2))
    assert SCHEDULES["inverse_time"].param == "schedule_t0" and SCHEDULES["constant"].param is None


CONFIG = """
[model]
unit = "matrix"
dim_x = 2
dim_y = 2
[group]
name = "{group}"
[data]
teacher_particles = [[1.0, 0.0, 0.0, 1.0]]
[training]
loss = "{loss}"
"""


@pytest.fixture
def scaled_squared():
    """A loss registered in one place, (yhat - y)^2 / 2, built from the squared loss's kernels."""
    from wgf.losses import _squared, _squared_grad  # noqa: PLC2701 - compiled kernels, reused (no new compilation)

    LOSSES.add("half_squared", lambda: Loss("half_squared", _squared, _squared_grad), doc="(yhat - y)^2, again",
               labels="real", componentwise=True, param=None, additive_noise=True)
    yield "half_squared"
    LOSSES.unregister("half_squared")


def test_a_loss_registered_in_one_place_is_built_and_accepted_by_the_config(scaled_squared):
    loss = make_loss(scaled_squared)
    assert isinstance(loss, Loss) and loss.name == scaled_squared and not loss.sign_labels
    exp = parse_config(CONFIG.format(group="swap", loss=scaled_squared))
    assert exp.problem.loss.name == scaled_squared
    np.testing.assert_allclose(loss(np.ones((1, 2)), np.zeros((1, 2))), [2.0])
    LOSSES.unregister(scaled_squared)
    with pytest.raises(ConfigError, match="loss"):
        parse_config(CONFIG.format(group="swap", loss=scaled_squared))


def _klein_four(dim_x, dim_y):
    """Z2 x Z2 acting by the signs of the two coordinates (labels: the same, or trivial when dim_y = 1)."""
    gx = [np.diag([-1.0, 1.0]), np.diag([1.0, -1.0])]
    gy = gx if dim_y == dim_x else [np.eye(1)] * 2
    return FiniteGroup.from_generators(gx, gy, name="klein")


@pytest.fixture
def klein():
    GROUPS.add("klein", _klein_four, doc="Z2 x Z2: the signs of two coordinates", order=lambda dim_x, haar_points=None: 4,
               compact=False, haar_points=None, haar_kind=None, haar_code=0)
    yield "klein"
    GROUPS.unregister("klein")


def test_a_finite_group_registered_in_one_place_is_built_and_sized(klein):
    group = group_from_name(klein, 2, 2)
    assert group.order == GROUPS[klein].order(2) == 4
    _check_structure({"dim_x": 2, "dim_y": 2, "unit": "matrix"}, {"name": klein})  # sized from the registry


def test_a_finite_group_registered_in_one_place_is_accepted_by_the_config(klein, capsys):
    # sign flips of x and y: tanh matrix units are equivariant (tanh is odd), W -> D W D'
    text = CONFIG.format(group=klein, loss="squared").replace('unit = "matrix"', 'unit = "tanh_matrix"')
    exp = parse_config(text)
    assert exp.problem.group.order == 4 and exp.problem.symmetry.dim_fixed == 2  # the diagonal matrices
    from wgf.cli import main

    assert main(["config", "group.name", "--json"]) == 0  # listed by wgf config as it is registered
    assert "klein" in json.loads(capsys.readouterr().out)[0]["choices"]
