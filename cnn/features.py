"""Frozen-feature linear probes: what a pretrained RBM stack learned, measured without fine-tuning.

The honest test of unsupervised features (Lee et al., ICML 2009: frozen CDBN features and a linear
classifier): pass the images through the frozen stack, take the pooled probabilities of layer 0
(or of layers 0..k, concatenated), standardise them and fit a multinomial logistic regression on a
few labelled images. Beside them, always measure the two baselines a learned stack must beat:

- raw pixels;
- random filters of the same shape (:func:`random_filter_stack`): zero-mean, unit-norm filters with
  a hidden bias that makes each filter's sigmoid sparse (a fixed fraction of positions with a
  positive logit) and the same probabilistic max-pooling, layer by layer.

Label subsets are stratified and drawn per seed (:func:`stratified_subset`), the same for every
feature set of one seed (paired comparisons); random filters are redrawn per seed. Standardisation
statistics come from the whole (unlabelled) pool, not only the labelled images.

Examples:
    >>> import torch
    >>> from rbm import build_stack
    >>> _ = torch.manual_seed(0)
    >>> x = torch.rand(60, 1, 8, 8)
    >>> y = torch.arange(60) % 3
    >>> stack = build_stack("4x3p2", (1, 8, 8))
    >>> stack_features(stack, x, depth=1).shape  # 4 filters x 3 x 3 pooled units
    torch.Size([60, 36])
    >>> report = frozen_feature_report(stack, x, y, x, y, label_counts=(6, 30), seeds=(0, 1))
    >>> sorted(report["errors"])
    ['layer 0', 'random layer 0', 'raw pixels']
    >>> len(report["errors"]["layer 0"][30])
    2
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rbm import ConvRBM, RBMStack, build_stack

__all__ = [
    "LABEL_COUNTS",
    "feature_sets",
    "format_report",
    "frozen_feature_report",
    "linear_probe",
    "mean_ci95",
    "random_filter_stack",
    "set_sparse_filters",
    "stack_features",
    "stratified_subset",
]

log = logging.getLogger(__name__)

#: The label budgets of issue 16's benchmark.
LABEL_COUNTS = (40, 100, 400, 1000, 4000)


@torch.no_grad()
def stack_features(stack: RBMStack, x: Tensor, depth: int = 1, batch_size: int = 500) -> Tensor:
    """Frozen features of ``x`` ``(N, *stack.input_shape)``: the flattened outputs (``transform``,
    pooled probabilities with pooling) of layers ``0..depth-1``, concatenated, shape ``(N, D)``.

    ``depth=1``: layer 0 alone; ``depth=2``: layer 0's and layer 1's outputs side by side.
    Computed in batches of ``batch_size`` on the stack's device; returned on the CPU, float32.
    """
    if not 1 <= depth <= len(stack):
        raise ValueError(f"depth must be in [1, {len(stack)}] for this stack, got {depth}")
    device = next(stack.parameters()).device
    out = []
    for chunk in x.split(batch_size):
        h = chunk.to(device=device, dtype=next(stack.parameters()).dtype)
        parts = []
        for layer in stack.layers[:depth]:
            h = layer.transform(h)
            parts.append(h.flatten(1))
        out.append(torch.cat(parts, 1).float().cpu())
    return torch.cat(out, 0)


@torch.no_grad()
def random_filter_stack(
    like: RBMStack,
    x: Tensor,
    target: float = 0.1,
    gain: float = 1.0,
    seed: int = 0,
    max_items: int = 500,
) -> RBMStack:
    """A stack of the same specs as ``like`` with random filters and sparse hidden biases.

    Layer by layer (each fed by the random layers below it, on ``x[:max_items]``): weights
    N(0, 1), made zero-mean and unit-norm per filter (over channels and taps; dense: per hidden
    unit), times ``gain``; the hidden bias of filter k is minus the ``1 − target`` quantile of its
    logits on the data, so a fraction ``target`` of its positions has a positive logit.

    Args:
        like: the stack whose shape is copied (its parameters are not read).
        x: images ``(N, *like.input_shape)`` to set the biases on.
        target: fraction of positive logits per filter, in (0, 1).
        gain: filter norm (the sigmoid's steepness), > 0.
        seed: seeds the filters.
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must be in (0, 1), got {target!r}")
    if not (gain > 0 and math.isfinite(gain)):
        raise ValueError(f"gain must be positive, got {gain!r}")
    stack = build_stack(like.specs, like.input_shape)
    gen = torch.Generator().manual_seed(int(seed))
    h = x[:max_items].to(torch.float32)
    for layer in stack.layers:
        w = torch.randn(layer.weight.shape, generator=gen)
        # one row per filter (conv) or hidden unit (dense weight is (n_visible, n_hidden))
        set_sparse_filters(layer, w.reshape(w.shape[0], -1) if isinstance(layer, ConvRBM) else w.t(),
                           h, target, gain)
        h = layer.transform(h if isinstance(layer, ConvRBM) else h.flatten(1))
    return stack


@torch.no_grad()
def set_sparse_filters(layer: Any, directions: Tensor, x: Tensor, target: float, gain: float) -> None:
    """Give ``layer`` the filter ``directions`` (one row per filter / hidden unit), each made
    zero-mean with L2 norm ``gain``, and hidden biases that put a fraction ``target`` of each
    filter's logits on ``x`` above 0: the scale and sparsity of :func:`random_filter_stack`, for
    any directions (e.g. learned or classical filters probed at the random baseline's scale)."""
    conv = isinstance(layer, ConvRBM)
    flat = directions.reshape(directions.shape[0], -1).to(layer.weight.dtype)
    flat = flat - flat.mean(1, keepdim=True)
    flat = gain * flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12)
    layer.weight.copy_(flat.reshape(layer.weight.shape) if conv else flat.t())
    layer.hidden_bias.zero_()
    logits = layer.hidden_logits(x if conv else x.flatten(1))
    per_unit = logits.transpose(0, 1).reshape(logits.shape[1], -1)
    layer.hidden_bias.copy_(-torch.quantile(per_unit, 1.0 - target, dim=1))


def stratified_subset(y: Any, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` items of ``y`` with the classes as balanced as possible (±1), drawn with
    ``seed``; all indices (shuffled) if ``n >= len(y)``. Classes with too few items give all
    they have and the rest is filled from the others."""
    y = np.asarray(y)
    if n < 1:
        raise ValueError(f"label count must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    rank = np.empty(len(y), dtype=np.float64)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rank[rng.permutation(idx)] = np.arange(len(idx))
    key = rank + rng.random(len(y))  # within one rank, a random class order
    return np.argsort(key, kind="stable")[: min(n, len(y))]


def linear_probe(
    f_pool: Tensor | np.ndarray,
    y_pool: Any,
    f_eval: Tensor | np.ndarray,
    y_eval: Any,
    label_counts: Iterable[int] = LABEL_COUNTS,
    seeds: Iterable[int] = (0,),
    C: float = 0.1,
    max_iter: int = 500,
) -> dict[int, list[float]]:
    """Test error of a standardised multinomial logistic regression on frozen features.

    Args:
        f_pool: features of the pool of training items ``(N, D)``; the scaler is fitted on all
            of them (no labels needed), the classifier on a stratified subset per count and seed.
        y_pool: labels ``(N,)``. f_eval, y_eval: the items to measure the error on.
        label_counts: labelled items per fit (counts above N use the whole pool).
        seeds: one label subset per seed.
        C: inverse L2 strength of ``sklearn.linear_model.LogisticRegression``.

    Returns:
        ``{count: [error per seed]}`` (fractions in [0, 1]).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    f_pool, f_eval = _numpy(f_pool), _numpy(f_eval)
    y_pool, y_eval = np.asarray(y_pool), np.asarray(y_eval)
    if len(f_pool) != len(y_pool) or len(f_eval) != len(y_eval):
        raise ValueError(f"expected as many features as labels, got {len(f_pool)} / {len(y_pool)}"
                         f" (pool) and {len(f_eval)} / {len(y_eval)} (eval)")
    scaler = StandardScaler().fit(f_pool)
    z_pool, z_eval = scaler.transform(f_pool), scaler.transform(f_eval)
    out: dict[int, list[float]] = {}
    for n in label_counts:
        out[int(n)] = []
        for seed in seeds:
            idx = stratified_subset(y_pool, int(n), seed)
            clf = LogisticRegression(C=C, max_iter=max_iter)
            clf.fit(z_pool[idx], y_pool[idx])
            out[int(n)].append(float(np.mean(clf.predict(z_eval) != y_eval)))
    return out


def _numpy(f: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(f, Tensor):
        f = f.detach().cpu().numpy()
    return np.asarray(f, dtype=np.float64).reshape(len(f), -1)


def feature_sets(stack: RBMStack) -> list[tuple[str, int]]:
    """Names and depths of the feature sets of a stack: ``("layer 0", 1)``, ``("layers 0..1", 2)``…"""
    return [("layer 0" if d == 1 else f"layers 0..{d - 1}", d) for d in range(1, len(stack) + 1)]


def frozen_feature_report(
    stack: RBMStack,
    x_pool: Tensor,
    y_pool: Any,
    x_eval: Tensor,
    y_eval: Any,
    label_counts: Sequence[int] = LABEL_COUNTS,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    C: float = 0.1,
    random_target: float = 0.02,
    random_gain: float = 12.0,
    raw: bool = True,
    random: bool = True,
) -> dict[str, Any]:
    """Linear-probe errors of the stack's features (every depth), raw pixels and random filters.

    Args:
        stack: a (pretrained) stack; x_pool ``(N, *stack.input_shape)`` with labels y_pool: the
            training pool (scaler statistics and labelled subsets); x_eval, y_eval: where the
            error is measured (a validation split while choosing, the test set once at the end).
        label_counts, seeds, C: as :func:`linear_probe`.
        random_target, random_gain: of :func:`random_filter_stack` (redrawn per seed); the
            defaults were the best of a grid (target 0.02-0.4, gain 1-32) on a validation split
            of mnist5k (``bench/bench_features.py``): 7.1-7.9 % error at 1,000 labels against
            13.4 % at gain 1, where the sigmoid is nearly linear.
        raw, random: include the raw-pixel and random-filter baselines.

    Returns:
        ``{"errors": {feature set: {count: [error per seed]}}, "label_counts", "seeds", "C"}``;
        feature sets ``"layer 0"``, ``"layers 0..1"``…, ``"random layer 0"``…, ``"raw pixels"``.
    """
    errors: dict[str, dict[int, list[float]]] = {}
    label_counts = [int(n) for n in label_counts]
    seeds = [int(s) for s in seeds]

    def probe(f_pool, f_eval, these_seeds=seeds):
        return linear_probe(f_pool, y_pool, f_eval, y_eval, label_counts, these_seeds, C)

    if raw:
        errors["raw pixels"] = probe(x_pool.flatten(1), x_eval.flatten(1))
    for name, depth in feature_sets(stack):
        errors[name] = probe(stack_features(stack, x_pool, depth), stack_features(stack, x_eval, depth))
        log.info("frozen features %s: %s", name, _summary(errors[name]))
    if random:
        for name, depth in feature_sets(stack):
            per_seed: dict[int, list[float]] = {n: [] for n in label_counts}
            for seed in seeds:
                rand = random_filter_stack(stack, x_pool, random_target, random_gain, seed=seed)
                got = probe(stack_features(rand, x_pool, depth), stack_features(rand, x_eval, depth),
                            [seed])
                for n in label_counts:
                    per_seed[n] += got[n]
            errors[f"random {name}"] = per_seed
    return {"errors": errors, "label_counts": label_counts, "seeds": seeds, "C": C}


def _summary(errs: dict[int, list[float]]) -> str:
    return ", ".join(f"{n}: {100 * np.mean(v):.1f} %" for n, v in errs.items())


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % Student-t confidence interval (NaN for one value)."""
    v = np.asarray([float(x) for x in values], dtype=np.float64)
    if len(v) == 0:
        return float("nan"), float("nan")
    if len(v) == 1:
        return float(v[0]), float("nan")
    from scipy.stats import t

    return float(v.mean()), float(t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def format_report(report: dict[str, Any], percent: bool = True) -> str:
    """A markdown table: one row per feature set, one column per label count, cells
    ``mean ± 95 % CI`` (in % with ``percent``)."""
    counts = report["label_counts"]
    scale = 100.0 if percent else 1.0
    lines = ["| features | " + " | ".join(f"{n} labels" for n in counts) + " |",
             "| --- |" + " ---: |" * len(counts)]
    for name, errs in report["errors"].items():
        cells = []
        for n in counts:
            m, h = mean_ci95(errs[n])
            cells.append(f"{scale * m:.2f}" + ("" if math.isnan(h) else f" ± {scale * h:.2f}"))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
