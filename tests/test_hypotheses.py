"""The hypotheses wgf states (Problem.hypotheses): invariance of the risk decided from the loss and the group's
label action, logistic labels that data augmentation would move off +-1 refused, Haar quadratures that do not
fix E^G refused, FA's quadrature error off E^G estimated; and groups on large spaces built in time."""

import numpy as np
import pytest
from _common import GATED

from wgf.config import ConfigError, parse_config
from wgf.groups import ACTION_CLASSES, action_class, cyclic_group, group_from_name, rotation_matrix
from wgf.losses import LOSSES, make_loss
from wgf.validation.checks import base_problem, rotation_problem

# ------------------------------------------------------------------ which label actions a loss is invariant under
def _signed_permutation(rng, d):
    return np.eye(d)[rng.permutation(d)] * rng.choice([-1.0, 1.0], size=d)[:, None]


@pytest.mark.parametrize("name", list(LOSSES))
def test_each_loss_is_invariant_exactly_under_the_label_actions_it_names(name):
    """l(Q yhat, Q y) = l(yhat, y) for every Q of the class the registry names, and not for a rotation by
    22.5 degrees where the class stops below the orthogonal matrices."""
    loss, rng = make_loss(name), np.random.default_rng(0)
    yhat = rng.normal(size=(200, 2)) * 2.0
    y = np.sign(rng.normal(size=(200, 2))) if loss.sign_labels else rng.normal(size=(200, 2)) * 2.0
    for _ in range(4):
        q = _signed_permutation(rng, 2)
        assert np.abs(loss(yhat @ q.T, y @ q.T) - loss(yhat, y)).max() < 1e-12
    r = rotation_matrix(np.pi / 8)
    gap = np.abs(loss(yhat @ r.T, y @ r.T) - loss(yhat, y)).max()
    assert loss.invariant_under("signed_permutation")
    if LOSSES[name].label_invariance == "orthogonal":
        assert gap < 1e-12 and loss.invariant_under("orthogonal")
    else:
        assert gap > 1e-2 and not loss.invariant_under("orthogonal")


def test_label_actions_are_classified_from_the_matrices():
    assert ACTION_CLASSES == ("trivial", "permutation", "signed_permutation", "orthogonal")
    cases = {("swap", 2, 2): "permutation", ("swap", 2, 1): "trivial", ("cyclic", 3, 3): "permutation",
             ("sign", 2, 2): "signed_permutation", ("rotation", 2, 2): "orthogonal", ("rotation", 2, 1): "trivial",
             ("orthogonal", 2, 2): "orthogonal", ("rotation3", 3, 3): "orthogonal"}
    assert {k: group_from_name(*k).label_action for k in cases} == cases
    # a 4-point rotation quadrature holds only signed permutations; SO(2) itself does not
    assert action_class(group_from_name("rotation", 2, 2, 4).rho_y) == "signed_permutation"
    assert group_from_name("rotation", 2, 2, 4).label_action == "orthogonal"


# ------------------------------------------------------------------ the bars of the issue
def test_da_with_componentwise_losses_under_rotation_is_not_called_invariant():
    huber = rotation_problem(scheme="da", loss=make_loss("huber"), noise="projected")
    assert not huber.risk_is_invariant and not huber.stays_in_fixed_subspace
    assert huber.hypotheses()[:2] == (
        "risk invariant: NO, the huber loss is invariant only under signed permutation label actions and "
        "'rotation' acts on the labels by orthogonal matrices (Thms 3-4 do not apply)",
        "E^G kept from an SI start: NO, the risk is not G-invariant: the huber loss is invariant only under signed "
        "permutation label actions and 'rotation' acts on the labels by orthogonal matrices (Thms 5-6 do not apply)",
    )
    # its particles may leave E^G, so DA orbit's quadrature error off E^G is estimated
    assert huber.hypotheses()[2].startswith("DA quadrature accurate off E^G: yes, the 16-point Haar rule")
    squared = rotation_problem(scheme="da", noise="projected")
    assert squared.risk_is_invariant and squared.stays_in_fixed_subspace
    assert squared.hypotheses()[0] == ("risk invariant: yes, pi^G is G-equivariant and the squared loss is invariant "
                                       "under the orthogonal label action of 'rotation' (Thms 3-4 apply)")
    for loss in ("huber", "logistic"):
        assert base_problem(scheme="da", loss=make_loss(loss)).risk_is_invariant  # swap: a permutation
        assert rotation_problem(scheme="fa", loss=make_loss(loss)).risk_is_invariant  # FA: any loss
    # vanilla: an equivariant pi and an invariant loss
    assert rotation_problem("wi", scheme="vanilla").risk_is_invariant
    assert not rotation_problem("wi", scheme="vanilla", loss=make_loss("huber")).risk_is_invariant
    assert rotation_problem(scheme="vanilla").hypotheses()[0] == (
        "risk invariant: NO, vanilla training on data not known to be G-equivariant (teacher 'arbitrary') "
        "(Thms 3-4 do not apply)")


def test_logistic_labels_rotated_off_signs_by_data_augmentation_are_refused():
    with pytest.raises(ValueError, match=r"^loss: 'logistic' trains on labels \+-1, and scheme = 'da' would move "
                                         r"them off \+-1 by the orthogonal label action of group 'rotation'; "):
        rotation_problem(scheme="da", loss=make_loss("logistic"))
    text = GATED.replace("[training]\n", '[training]\nscheme = "da"\nloss = "logistic"\n')
    with pytest.raises(ConfigError, match=r"^\[training\] loss: 'logistic' trains on labels \+-1"):
        parse_config(text)
    # labels that stay +-1: a trivial label action (dim_y = 1) or a permutation
    assert base_problem(scheme="da", loss=make_loss("logistic")).risk_is_invariant


def test_a_grid_on_the_fixed_subspace_is_refused_with_the_reason():
    text = GATED.replace("[training]\n", '[training]\nscheme = "da"\nloss = "huber"\n') + \
        '[pde]\nspace = "fixed"\ncells = 16\n'
    with pytest.raises(ConfigError, match=r"^\[pde\] space: the flow is not known to stay in E\^G \(the risk is not "
                                          r"G-invariant: the huber loss is invariant only under signed permutation"):
        parse_config(text)


# ------------------------------------------------------------------ FA's quadrature off E^G
def test_fa_quadrature_error_is_estimated_where_the_particles_leave_the_fixed_subspace():
    si = parse_config(GATED.replace("[training]\n", '[training]\nscheme = "fa"\n')).problem
    assert si.haar_quadrature_error is None and len(si.hypotheses()) == 2  # FA is exact on E^G
    wi_text = GATED.replace("[training]\n", '[training]\nscheme = "fa"\n').replace('init = "si"', 'init = "wi"')
    wi = parse_config(wi_text).problem
    assert 1e-3 < wi.haar_quadrature_error < 1e-2
    assert wi.hypotheses()[2].startswith("FA quadrature accurate off E^G: yes, the 16-point Haar rule of 'rotation' "
                                         "is off the average over G by 0.00")
    coarse = parse_config(wi_text.replace("haar_points = 16", "haar_points = 8")).problem
    assert 1e-2 < coarse.haar_quadrature_error < 5e-2
    assert "FA quadrature accurate off E^G: NO" in coarse.hypotheses()[2]
    with pytest.raises(ConfigError, match=r"^\[group\] haar_points: the 4-point Haar quadrature of 'rotation' is off "
                                          r"FA's average over G by 0\.094 \(relative\) .* above 0\.05"):
        parse_config(wi_text.replace("haar_points = 16", "haar_points = 4").replace("beta", "init_std = 0.1\nbeta"))


def test_da_orbit_quadrature_error_is_estimated_and_da_sample_has_none():
    """DA orbit averages the first variation over the M rotations: estimated against the finer rule where the
    particles leave E^G; DA sample draws from the Haar measure itself."""
    text = GATED.replace("[training]\n", '[training]\nscheme = "da"\n').replace('init = "si"', 'init = "wi"')
    orbit = parse_config(text.replace("haar_points = 16", "haar_points = 8")).problem
    assert 1e-3 < orbit.haar_quadrature_error < 1e-2
    assert orbit.hypotheses()[2].startswith("DA quadrature accurate off E^G: yes, the 8-point Haar rule of 'rotation' "
                                            "is off the average over G by 0.00")
    sample = parse_config(text.replace("[training]\n", '[training]\nda_mode = "sample"\n')).problem
    assert sample.haar_quadrature_error is None and len(sample.hypotheses()) == 2


# ------------------------------------------------------------------ groups on large spaces
def test_a_cyclic_group_on_a_large_space_is_built_by_signatures():
    """C_150 on R^150: 150 elements of 150 x 150 matrices; the table is addition mod 150 (element k = shift^k)."""
    g = cyclic_group(150, 1)
    n = np.arange(150)
    assert g.order == 150 and np.array_equal(g.table, (n[:, None] + n[None, :]) % 150)
    assert np.array_equal(g.inverse, (-n) % 150) and g.label_action == "trivial"


def test_a_quadrature_on_a_large_space_is_sized_without_overflow():
    """16 Gauss-Hermite points per axis on R^300 are 16^300 nodes: more than a float holds, refused as such."""
    from wgf.resources import ResourceError, check_bytes, human_bytes, quadrature_bytes

    assert quadrature_bytes(16, 300, 1) == float("inf") and human_bytes(float("inf")) == "> 1e308 B"
    with pytest.raises(ResourceError, match=r"^\[data\] quadrature_points = 16 needs about > 1e308 B of memory"):
        check_bytes("[data] quadrature_points = 16", quadrature_bytes(16, 300, 1))
