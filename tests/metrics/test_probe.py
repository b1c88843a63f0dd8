"""Linear probes: independent of their features' scale, honest about degenerate features, fast enough."""

import warnings

import numpy as np
import pytest

from keras_gpos.metrics.probe import MAX_FEATURES, VIEWS, linear_probe, order_free_view

pytestmark = pytest.mark.backend_agnostic

CELLS = 9


def _position_features(images=60, channels=32, seed=0):
    """Pooled features of images in every cell: channel c carries cell c % 9, plus noise and a value spread."""
    rng = np.random.default_rng(seed)
    cells = np.tile(np.arange(CELLS), images)
    image = np.repeat(np.arange(images), CELLS)
    strength = rng.uniform(0.5, 1.5, size=images)[image]
    features = np.abs(rng.normal(0.0, 0.4, size=(images * CELLS, channels)))
    features[np.arange(len(cells)), cells] += 1.5 * strength  # the cell's own channel lights up
    features[:, 10] = 3.0 * strength  # an order-free cue of the image, not of the cell
    return features, cells, image


def _split(features, cells, image, view):
    x = order_free_view(features, view)
    train = image % 2 == 0
    return x[train], cells[train], x[~train], cells[~train]


@pytest.mark.adversarial
@pytest.mark.parametrize("scale", [1e-12, 1e6])
def test_scaling_the_features_leaves_every_probe_unchanged(scale):
    # Before the fix an absolute 1e-12 threshold left 1e-12-scale features
    # unstandardised: 95% fell to 37%, and JAX's tiny MobileNetV2 activations
    # scored exactly chance.
    features, cells, image = _position_features()
    for view in VIEWS:
        plain = linear_probe(*_split(features, cells, image, view), num_classes=CELLS)
        scaled = linear_probe(*_split(features * scale, cells, image, view), num_classes=CELLS)
        assert scaled.accuracy == plain.accuracy and scaled.train_accuracy == plain.train_accuracy, view
        np.testing.assert_array_equal(scaled.test_correct, plain.test_correct)
    assert linear_probe(*_split(features, cells, image, "ordered"), num_classes=CELLS).accuracy > 0.9


def test_chance_is_the_held_out_majority_rate_and_one_over_classes_is_beside_it():
    x = np.array([[0.0], [0.1], [1.0], [1.1], [1.2]])
    result = linear_probe(x, [0, 0, 1, 1, 1], x, [0, 0, 1, 1, 1])
    assert result.chance == pytest.approx(0.6) and result.uniform_chance == pytest.approx(0.5)
    assert result.test_correct.tolist() == [True] * 5 and "test_correct" not in result.to_dict()


def test_a_constant_channel_is_judged_against_the_layers_largest_spread():
    features, cells, image = _position_features()
    train_x, train_y, test_x, test_y = _split(features, cells, image, "ordered")
    plain = linear_probe(train_x, train_y, test_x, test_y, num_classes=CELLS)
    # A channel 1e9 times larger than the others but constant on the training
    # part, and one whose spread is 1e-8 of the largest: both carry nothing.
    extra_train = np.column_stack([train_x, np.full(len(train_x), 5e8), 1e-8 * train_x[:, 0]])
    extra_test = np.column_stack([test_x, np.full(len(test_x), 7e8), 1e-8 * test_x[:, 0]])
    padded = linear_probe(extra_train, train_y, extra_test, test_y, num_classes=CELLS)
    assert padded.constant_features == 2 and not padded.degenerate
    assert padded.accuracy == plain.accuracy


def test_degenerate_features_say_so_and_warn():
    x = np.full((18, 4), 0.25)
    with pytest.warns(UserWarning, match="degenerate"):
        result = linear_probe(x, np.arange(18) % 9, x, np.arange(18) % 9)
    assert result.degenerate and result.constant_features == 4 and result.accuracy <= result.chance
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert linear_probe(x, np.arange(18) % 9, x, np.arange(18) % 9, warn=False).degenerate


def test_the_feature_cap_keeps_the_probe_as_accurate():
    # 300 channels, the cell spread over all of them through a random mixing:
    # the top 128 principal directions (found by randomized subspace
    # iteration above 256 features) carry it as well as all 300.
    rng = np.random.default_rng(1)
    features, cells, image = _position_features(images=60, channels=48)
    mixed = np.maximum(features @ rng.normal(size=(48, 300)) / 7.0, 0.0)
    split = _split(mixed, cells, image, "ordered")
    capped = linear_probe(*split, num_classes=CELLS)
    full = linear_probe(*split, num_classes=CELLS, max_features=None)
    assert capped.directions == MAX_FEATURES and full.directions > MAX_FEATURES
    assert capped.accuracy > 0.9 and abs(capped.accuracy - full.accuracy) <= 0.02, (capped, full)


def test_principal_coordinates_fit_the_same_probe_as_the_features_themselves():
    # Below the cap the probe reads every principal direction, scaled: the same
    # objective in other coordinates, so the same optimum as a plain fit.
    from keras_gpos.metrics import probe

    features, cells, image = _position_features()
    train_x, train_y, test_x, test_y = _split(features, cells, image, "ordered")
    result = linear_probe(train_x, train_y, test_x, test_y, num_classes=CELLS)
    train_s, test_s, _, _ = probe._standardise(train_x, test_x)
    weights, bias, _ = probe._fit(train_s, train_y, CELLS, probe.DEFAULT_L2, 2000)
    np.testing.assert_array_equal(result.test_correct, np.argmax(test_s @ weights + bias, axis=1) == test_y)
    assert result.directions == 32
    with pytest.raises(ValueError, match="max_features must be a positive int"):
        linear_probe(train_x, train_y, test_x, test_y, max_features=0)
