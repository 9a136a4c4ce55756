"""cnn.sa_refine: the Metropolis rule, greedy (T = 0) never worsens, end-to-end on digits."""

import math

import pytest
import torch
from sklearn.datasets import load_digits

from cnn import CNN, Layer, SARefineConfig, anneal, finetune, refine_classifier


@pytest.mark.parametrize(("delta", "temperature"), [(0.5, 1.0), (1.0, 0.5), (0.1, 1.0)])
def test_acceptance_follows_the_metropolis_rule(delta, temperature):
    """Every move raises the energy by exactly delta, so each is accepted with probability
    p = exp(-delta/T); the count of n moves is Binomial(n, p): check within 4 sigma."""
    n = 4000
    g = torch.Generator().manual_seed(0)
    r = anneal(lambda s: delta * s, 0, [temperature], n, lambda s, g: s + 1, g)
    p = math.exp(-delta / temperature)
    assert r.moves == n
    assert abs(r.accepted - n * p) < 4 * math.sqrt(n * p * (1 - p))
    assert r.state == r.accepted  # the state counts accepted moves
    # improvements are always accepted, at any temperature
    down = anneal(lambda s: -delta * s, 0, [temperature, 0.0], 50, lambda s, g: s + 1, g)
    assert down.accepted == down.moves == 100


def test_zero_temperature_accepts_no_worse_move():
    g = torch.Generator().manual_seed(1)
    r = anneal(lambda s: 0.3 * s, 0, [0.0], 200, lambda s, g: s + 1, g)
    assert r.accepted == 0 and r.energy == 0


def test_anneal_is_seeded():
    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return anneal(lambda s: (s - 2.0) ** 2, 0.0, [0.5, 0.25, 0.125], 20,
                      lambda s, g: s + 0.3 * torch.randn((), generator=g).item(), g)

    assert run(3).state == run(3).state
    assert run(3).state != run(4).state


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(y, dtype=torch.int64)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    return (x[:600], y[:600]), (x[600:900], y[600:900])


def _net(**kw):
    torch.manual_seed(0)
    return CNN([Layer("conv", 8, 3)], (1, 8, 8), 10, head_units=16, dropout=0.2, **kw)


def test_greedy_refinement_never_worsens_the_minibatch_loss(digits):
    (x, y), _ = digits
    net = _net()
    g = torch.Generator().manual_seed(0)
    cfg = SARefineConfig(sigma=0.05, initial_temperature=0.0, moves_per_temperature=30)
    for i in range(5):
        xb, yb = x[64 * i: 64 * (i + 1)], y[64 * i: 64 * (i + 1)]
        net.eval()
        before = torch.nn.functional.cross_entropy(net(xb), yb).item()
        r = refine_classifier(net, xb, yb, cfg, g)
        net.eval()
        after = torch.nn.functional.cross_entropy(net(xb), yb).item()
        assert r.initial_energy == pytest.approx(before, abs=1e-6)
        assert after == pytest.approx(r.energy, abs=1e-6)
        assert after <= before + 1e-6
        assert r.accepted > 0  # a random net is easy to improve: some moves were taken


def test_refinement_only_touches_the_classifier(digits):
    (x, y), _ = digits
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    refine_classifier(net, x[:64], y[:64], SARefineConfig(sigma=0.01, initial_temperature=1.0),
                      torch.Generator().manual_seed(0))
    after = net.state_dict()
    for key in before:
        same = torch.equal(before[key], after[key])
        assert same == (not key.startswith("classifier.")), key


def test_finetune_with_sa_refine_end_to_end(digits):
    train, test = digits
    cfg = SARefineConfig(sigma=5e-3, initial_temperature=1e-3, moves_per_temperature=10,
                         n_temperatures=2, every=2, seed=5)
    kw = dict(epochs=3, lr=0.1, batch_size=32, augment=0, seed=1)
    h1 = finetune(_net(), train, test, sa_refine=cfg, **kw)
    h2 = finetune(_net(), train, test, sa_refine=cfg, **kw)
    assert h1[-1]["test_accuracy"] > 0.8
    for r in h1:
        assert 0.0 < r["sa_acceptance"] <= 1.0
        assert r["sa_seconds"] > 0.0
    strip = lambda h: [{k: v for k, v in r.items() if "seconds" not in k} for r in h]  # noqa: E731
    assert strip(h1) == strip(h2)  # deterministic on CPU
    with pytest.raises(TypeError, match="classifier"):
        finetune(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)), train,
                 epochs=1, sa_refine=cfg)


def test_resume_with_sa_refine_continues_the_same_random_stream(digits):
    import copy

    train, test = digits
    cfg = SARefineConfig(sigma=5e-3, initial_temperature=1e-3, moves_per_temperature=5,
                         n_temperatures=2, every=3, seed=2)
    kw = dict(epochs=3, lr=0.1, batch_size=64, augment=0, seed=1, sa_refine=cfg)
    states = []
    full = finetune(_net(), train, test, checkpoint=lambda s: states.append(copy.deepcopy(s)), **kw)
    resumed = finetune(_net(), train, test, resume=states[0], **kw)
    strip = lambda h: [{k: v for k, v in r.items() if "seconds" not in k} for r in h]  # noqa: E731
    assert strip(resumed) == strip(full)
