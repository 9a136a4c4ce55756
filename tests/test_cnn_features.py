"""Frozen-feature linear probes: stratified label subsets, the probe itself, random-filter
baselines, stack features and the report table."""

import math

import numpy as np
import pytest
import torch

from cnn.features import (
    format_report,
    frozen_feature_report,
    linear_probe,
    mean_ci95,
    random_filter_stack,
    stack_features,
    stratified_subset,
)
from rbm import build_stack


def blobs(n_per_class, n_classes=3, dim=20, shift=4.0, seed=0):
    """Gaussian classes N(shift·e_y, I): means √2·shift apart, so each pairwise Bayes error is
    Φ(-shift/√2) (0.2 % for shift 4) and the 3-class one below 0.5 %."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = rng.normal(size=(len(y), dim))
    x[np.arange(len(y)), y] += shift
    return x.astype(np.float32), y


def test_stratified_subset_is_balanced_and_seeded():
    y = np.repeat(np.arange(10), [50, 60, 70, 80, 90, 100, 110, 120, 130, 140])
    idx = stratified_subset(y, 40, seed=0)
    assert len(idx) == 40 and len(set(idx)) == 40
    assert np.bincount(y[idx], minlength=10).tolist() == [4] * 10
    counts = np.bincount(y[stratified_subset(y, 105, seed=1)], minlength=10)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 105
    assert np.array_equal(stratified_subset(y, 40, 0), idx)
    assert not np.array_equal(np.sort(stratified_subset(y, 40, 1)), np.sort(idx))
    assert sorted(stratified_subset(y, 5000, 0)) == list(range(len(y)))
    with pytest.raises(ValueError, match="label count"):
        stratified_subset(y, 0, 0)


def test_probe_beats_chance_on_separable_data_and_not_on_shuffled_labels():
    x_pool, y_pool = blobs(200, seed=0)
    x_eval, y_eval = blobs(200, seed=1)
    errs = linear_probe(x_pool, y_pool, x_eval, y_eval, label_counts=(30, 300), seeds=(0, 1), C=1.0)
    assert set(errs) == {30, 300} and all(len(v) == 2 for v in errs.values())
    assert max(errs[300]) < 0.03, errs  # Bayes error < 0.5 %
    assert max(errs[30]) < 0.15, errs
    # labels carry no information: error near 2/3; 600 eval items give sd ≈ 0.019 per fit
    shuffled = np.random.default_rng(2).permutation(y_pool)
    chance = linear_probe(x_pool, shuffled, x_eval, y_eval, label_counts=(300,), seeds=(0, 1, 2))
    assert min(chance[300]) > 0.55, chance


def test_probe_rejects_mismatched_lengths():
    x, y = blobs(10)
    with pytest.raises(ValueError, match="as many features as labels"):
        linear_probe(x, y[:-1], x, y, label_counts=(10,))


def test_random_filter_stack_has_zero_mean_unit_norm_sparse_filters():
    torch.manual_seed(0)
    x = torch.rand(200, 1, 12, 12)
    like = build_stack("6x3p2,4x3", (1, 12, 12))
    rand = random_filter_stack(like, x, target=0.1, gain=2.0, seed=5)
    assert [str(s) for s in rand.specs] == ["6x3p2", "4x3"]
    for layer in rand.layers:
        w = layer.weight.detach().reshape(layer.weight.shape[0], -1)
        assert torch.allclose(w.mean(1), torch.zeros(len(w)), atol=1e-6)
        assert torch.allclose(w.norm(dim=1), torch.full((len(w),), 2.0), atol=1e-5)
    with torch.no_grad():
        logits0 = rand.layers[0].hidden_logits(x)
        logits1 = rand.layers[1].hidden_logits(rand.transform(x, upto=1))
    for logits in (logits0, logits1):  # a fraction `target` of each filter's positions is > 0
        frac = (logits > 0).float().transpose(0, 1).reshape(logits.shape[1], -1).mean(1)
        assert torch.allclose(frac, torch.full_like(frac, 0.1), atol=0.01), frac
    other = random_filter_stack(like, x, seed=6)
    assert not torch.equal(other.layers[0].weight, rand.layers[0].weight)
    with pytest.raises(ValueError, match="target"):
        random_filter_stack(like, x, target=0.0)


def test_stack_features_concatenate_the_pooled_outputs():
    torch.manual_seed(0)
    stack = build_stack("4x3p2,5x2", (1, 8, 8))
    x = torch.rand(7, 1, 8, 8)
    f1 = stack_features(stack, x, depth=1, batch_size=3)
    f2 = stack_features(stack, x, depth=2)
    assert f1.shape == (7, 4 * 3 * 3) and f2.shape == (7, 36 + 5 * 2 * 2)
    assert torch.allclose(f2[:, :36], f1)
    with torch.no_grad():
        assert torch.allclose(f2[:, 36:], stack.transform(x).flatten(1))
    with pytest.raises(ValueError, match="depth"):
        stack_features(stack, x, depth=3)


def test_report_rows_and_table():
    torch.manual_seed(0)
    x = torch.rand(90, 1, 8, 8)
    y = torch.arange(90) % 3
    stack = build_stack("4x3p2,3x2", (1, 8, 8))
    report = frozen_feature_report(stack, x[:60], y[:60], x[60:], y[60:], label_counts=(9, 60),
                                   seeds=(0, 1, 2))
    assert set(report["errors"]) == {"raw pixels", "layer 0", "layers 0..1", "random layer 0",
                                     "random layers 0..1"}
    for errs in report["errors"].values():
        assert set(errs) == {9, 60} and all(len(v) == 3 and all(0 <= e <= 1 for e in v)
                                            for v in errs.values())
    table = format_report(report)
    lines = table.splitlines()
    assert lines[0] == "| features | 9 labels | 60 labels |" and len(lines) == 2 + 5
    assert " ± " in lines[2]


def test_mean_ci95():
    m, h = mean_ci95([1.0, 2.0, 3.0])
    assert m == 2.0 and h == pytest.approx(4.302653 * 1.0 / math.sqrt(3), rel=1e-5)
    assert math.isnan(mean_ci95([1.0])[1])
