"""Statistical tests: every negative-phase backend samples exp(-β E) of small RBMs.

For each model the exact marginal of both sides (v and h) is enumerated
(:func:`sampling.exact.exact_marginal`) and the empirical distribution of N = 20 000 samples must be
within 2× the i.i.d. noise floor in KL and in total variation
(:func:`sampling.diagnostics.compare_to_exact`, :func:`~sampling.diagnostics.within_noise_floor`).

Weakly coupled random RBMs (weights N(0, 0.1²), N(0, 0.5²)) cannot fail such a check (docs/design.md §3), so
the suite also has a strongly coupled dense RBM (std 2), a conv RBM (std 2) and a pooled conv RBM
(std 1.5), and β ≠ 1; :func:`test_checks_have_power` shows that the same check rejects each backend
run at a β 15 % off, and an annealer with a single sweep from noise.

The chains run on the compiled kernels when numba is there (:mod:`sampling.kernels`);
:func:`test_pure_torch_path_matches_exact` runs the Gibbs backends once more on the pure-torch path.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rbm import BernoulliRBM, ConvRBM
from sampling import kernels, make_sampler
from sampling.diagnostics import compare_to_exact, state_index, within_noise_floor
from sampling.exact import exact_marginal

pytestmark = pytest.mark.slow

N = 20_000




def dense(std: float, seed: int) -> BernoulliRBM:
    gen = torch.Generator().manual_seed(seed)
    model = BernoulliRBM(10, 6)
    with torch.no_grad():
        model.weight.copy_(std * torch.randn(10, 6, generator=gen))
        model.visible_bias.copy_(0.5 * torch.randn(10, generator=gen))
        model.hidden_bias.copy_(0.5 * torch.randn(6, generator=gen))
    return model


def conv(std: float, seed: int, pool: int | None) -> ConvRBM:
    """1×3×3 canvas, 2 filters 2×2: 9 visible (512 states), 8 hidden (256, or 25 valid pooled)."""
    gen = torch.Generator().manual_seed(seed)
    model = ConvRBM(1, 2, 2, pool_size=pool)
    with torch.no_grad():
        model.weight.copy_(std * torch.randn(2, 1, 2, 2, generator=gen))
        model.visible_bias.copy_(0.5 * torch.randn(1, generator=gen))
        model.hidden_bias.copy_(0.5 * torch.randn(2, generator=gen))
    return model


# name: (model factory, canvas, beta, difficulty)
CASES = {
    "dense-w0.1": (lambda: dense(0.1, 1), (10,), 1.0, "weak"),
    "dense-w0.5": (lambda: dense(0.5, 2), (10,), 1.0, "weak"),
    "dense-w2.0": (lambda: dense(2.0, 4), (10,), 1.0, "strong"),
    "dense-w0.5-beta2.5": (lambda: dense(0.5, 2), (10,), 2.5, "strong"),
    "conv-w2.0": (lambda: conv(2.0, 6, None), (1, 3, 3), 1.0, "conv"),
    "conv-pool-w1.5": (lambda: conv(1.5, 6, 2), (1, 3, 3), 1.0, "conv"),
    "conv-pool-w1.5-beta0.7": (lambda: conv(1.5, 6, 2), (1, 3, 3), 0.7, "conv"),
}

# backend: difficulty: (options, extra calls before the measured one)
CONFIGS = {
    "exact": {"weak": ({}, 0), "strong": ({}, 0), "conv": ({}, 0)},
    "cd": {"weak": ({"k": 1}, 0), "strong": ({"k": 1}, 0), "conv": ({"k": 1}, 0)},
    "pcd": {
        "weak": ({"k": 5, "init": "random"}, 3),
        "strong": ({"k": 20, "init": "random"}, 9),
        "conv": ({"k": 10, "init": "random"}, 4),
    },
    "annealed": {
        "weak": ({"schedule": "quench"}, 0),
        "strong": ({"schedule": "linear", "num_sweeps": 200}, 0),
        "conv": ({"schedule": "linear", "num_sweeps": 50}, 0),
    },
    "sa": {
        "weak": ({"schedule": "linear", "num_sweeps": 50}, 0),
        "strong": ({"schedule": "fixed", "num_sweeps": 200}, 0),
        "conv": ({"schedule": "fixed", "num_sweeps": 100}, 0),
    },
}


def exact_probs(model, side: str, canvas, beta: float) -> np.ndarray:
    """Exact marginal of ``side`` over all 2ⁿ states, indexed as ``state_index``."""
    states, probs, _ = exact_marginal(model, side, canvas, beta)
    flat = states.reshape(len(states), -1).numpy()
    out = np.zeros(1 << flat.shape[1])
    out[state_index(flat)] = probs.numpy()
    return out


def compare(model, canvas, beta: float, v: torch.Tensor, h: torch.Tensor) -> dict[str, dict]:
    """``compare_to_exact`` reports of the v and h marginals against exact at ``beta``."""
    reports = {}
    for side, x in (("visible", v), ("hidden", h)):
        samples = x.reshape(x.shape[0], -1).numpy().astype(np.int8)
        reports[side] = compare_to_exact(samples, exact_probs(model, side, canvas, beta))
    return reports


def describe(reports: dict[str, dict]) -> str:
    return " | ".join(
        f"{side[0]}: KL {r['kl']:.4f} / floor {r['kl_floor']:.4f} ({r['kl'] / r['kl_floor']:.2f}x),"
        f" TV {r['tv']:.4f} / {r['tv_floor']:.4f} ({r['tv'] / r['tv_floor']:.2f}x)"
        for side, r in reports.items()
    )


def draw(backend: str, model, canvas, beta: float, difficulty: str, seed: int = 1):
    """N samples from ``backend`` (not ``cd``) at ``beta``, after the configured burn-in calls."""
    options, burn = CONFIGS[backend][difficulty]
    sampler = make_sampler(backend, beta=beta, num_chains=N, canvas=canvas, seed=seed, **options)
    data = torch.zeros(1, *canvas)  # only its shape matters: chains start from noise
    for _ in range(burn):
        sampler.sample(model, data)
    return sampler.sample(model, data)


@pytest.mark.parametrize("backend", list(CONFIGS))
@pytest.mark.parametrize("case", list(CASES))
def test_backend_matches_exact(backend, case):
    factory, canvas, beta, difficulty = CASES[case]
    model = factory()
    if backend == "cd":
        # CD-k keeps exact samples exact: its data are N exact samples at β.
        options, _ = CONFIGS["cd"][difficulty]
        data, _ = make_sampler("exact", beta=beta, num_chains=N, seed=101).sample(
            model, torch.zeros(1, *canvas)
        )
        sampler = make_sampler("cd", beta=beta, num_chains=N, seed=1, **options)
        v, h = sampler.sample(model, data)
    else:
        v, h = draw(backend, model, canvas, beta, difficulty)
    reports = compare(model, canvas, beta, v, h)
    print(f"\n{case:24s} {backend:9s} {describe(reports)}")
    for side, report in reports.items():
        assert within_noise_floor(report), f"{backend} on {case}, {side}: {describe(reports)}"


@pytest.fixture
def pure_torch():
    previous = kernels.set_enabled(False)
    yield
    kernels.set_enabled(previous)


@pytest.mark.parametrize("backend", ["annealed", "pcd"])
@pytest.mark.parametrize("case", ["dense-w2.0", "conv-w2.0", "conv-pool-w1.5"])
def test_pure_torch_path_matches_exact(backend, case, pure_torch):
    factory, canvas, beta, difficulty = CASES[case]
    model = factory()
    v, h = draw(backend, model, canvas, beta, difficulty)
    reports = compare(model, canvas, beta, v, h)
    print(f"\n{case:24s} {backend:9s} torch {describe(reports)}")
    for side, report in reports.items():
        assert within_noise_floor(report), f"{backend} on {case}, {side}: {describe(reports)}"


@pytest.mark.parametrize("backend", list(CONFIGS) + ["annealed-1-sweep"])
def test_checks_have_power(backend):
    """The check of ``test_backend_matches_exact`` rejects samples at β × 1.15, or too short."""
    factory, canvas, beta, difficulty = CASES["dense-w2.0"]
    model = factory()
    if backend == "annealed-1-sweep":
        sampler = make_sampler(
            "annealed", schedule="fixed", num_sweeps=1, beta=beta, num_chains=N, seed=1
        )
        v, h = sampler.sample(model, torch.zeros(1, *canvas))
    elif backend == "cd":
        data, _ = make_sampler("exact", beta=beta, num_chains=N, seed=101).sample(
            model, torch.zeros(1, *canvas)
        )
        v, h = make_sampler("cd", k=1, beta=1.15 * beta, num_chains=N, seed=1).sample(model, data)
    else:
        v, h = draw(backend, model, canvas, 1.15 * beta, difficulty)
    reports = compare(model, canvas, beta, v, h)
    print(f"\npower dense-w2.0 {backend:17s} {describe(reports)}")
    assert not all(within_noise_floor(r) for r in reports.values())


@pytest.mark.parametrize("case", ["conv-w2.0", "conv-pool-w1.5"])
def test_conv_checks_have_power(case):
    """Exact samples at β × 1.15 fail the conv checks."""
    factory, canvas, beta, _ = CASES[case]
    model = factory()
    v, h = make_sampler("exact", beta=1.15 * beta, num_chains=N, seed=1).sample(
        model, torch.zeros(1, *canvas)
    )
    reports = compare(model, canvas, beta, v, h)
    print(f"\npower {case:16s} exact×1.15 {describe(reports)}")
    assert not all(within_noise_floor(r) for r in reports.values())
