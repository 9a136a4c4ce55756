"""cnn.finetune / evaluate / confusion_matrix / plots on 8x8 digits (tiny, CPU, seeded)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from cnn import (
    CNN,
    FinetuneConfig,
    Layer,
    confusion_matrix,
    evaluate,
    finetune,
    random_shift,
)
from cnn.plots import filter_grid, plot_confusion_matrix, plot_filters, plot_learning_curves


@pytest.fixture(scope="module")
def digits():
    """600 train / 300 test 8x8 digits in [0, 1], shape (N, 1, 8, 8)."""
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(y, dtype=torch.int64)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    return (x[:600], y[:600]), (x[600:900], y[600:900])


def _net(seed=0, **kw):
    torch.manual_seed(seed)
    kw.setdefault("head_units", 0)
    return CNN([Layer("conv", 8, 3)], (1, 8, 8), 10, **kw)


FAST = dict(epochs=4, lr=0.1, batch_size=32, augment=0)


def test_finetune_learns_and_reports_every_epoch(digits):
    train, test = digits
    net = _net()
    seen = []
    history = finetune(net, train, test, callback=lambda e, m: seen.append(e), **FAST)
    assert seen == [1, 2, 3, 4]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    for h in history:
        assert set(h) >= {"epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
                          "seconds", "lr"}
    assert history[-1]["test_accuracy"] > 0.85  # chance is 0.1
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[0]["lr"] == pytest.approx(0.1)
    assert history[-1]["lr"] < history[0]["lr"]  # cosine decays
    loss, acc, pred = evaluate(net, *test)
    assert acc == pytest.approx(history[-1]["test_accuracy"])
    assert loss == pytest.approx(history[-1]["test_loss"])
    assert pred.shape == (300,) and pred.dtype == torch.int64


def test_finetune_is_deterministic_and_leaves_global_rng_alone(digits):
    train, test = digits
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        before = torch.rand(1)
        torch.manual_seed(123)
        net = _net(dropout=0.3, head_units=16)
        torch.manual_seed(123)
        history = finetune(net, train, test, seed=7, **dict(FAST, augment=1))
        after = torch.rand(1)
        assert torch.equal(before, after)  # fork_rng restored the caller's global RNG
        runs.append((history, net.state_dict()))
    (h1, s1), (h2, s2) = runs
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(h1) == strip(h2)
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    # another seed gives another run
    other = finetune(_net(dropout=0.3, head_units=16), train, test, seed=8, **dict(FAST, augment=1))
    assert strip(other) != strip(h1)


def test_defaults_live_in_finetune_config():
    import inspect

    params = inspect.signature(finetune).parameters
    for name, value in FinetuneConfig().as_kwargs().items():
        assert params[name].default == value, name


def test_finetune_rejects_bad_input(digits):
    (x, y), _ = digits
    net = _net()
    with pytest.raises(ValueError, match=r"expects \(N, 1, 8, 8\)"):
        finetune(net, (x[:, :, :7], y), epochs=1)
    with pytest.raises(ValueError, match="labels"):
        finetune(net, (x, y[:-1]), epochs=1)
    with pytest.raises(ValueError, match="schedule"):
        finetune(net, (x, y), epochs=1, schedule="linear")


def test_schedules_and_no_test_set(digits):
    train, _ = digits
    h = finetune(_net(), train, None, epochs=4, schedule="step", batch_size=100, augment=0)
    assert [r["lr"] for r in h] == pytest.approx([0.05, 0.05, 0.005, 0.0005])
    assert np.isnan(h[0]["test_accuracy"])
    h = finetune(_net(), train, None, epochs=2, schedule="none", batch_size=100, lr=0.01)
    assert [r["lr"] for r in h] == [0.01, 0.01]


def test_random_shift_moves_images_by_at_most_max_shift():
    x = torch.zeros(200, 2, 9, 9)
    x[:, :, 4, 4] = 1.0  # one bright pixel in the centre
    g = torch.Generator().manual_seed(0)
    y = random_shift(x, 2, g)
    assert y.shape == x.shape
    assert torch.equal(y.sum(dim=(2, 3)), x.sum(dim=(2, 3)))  # nothing falls off
    pos = y[:, 0].flatten(1).argmax(1)
    rows, cols = pos // 9, pos % 9
    assert rows.min() == 2 and rows.max() == 6 and cols.min() == 2 and cols.max() == 6
    assert torch.equal(y[:, 0], y[:, 1])  # channels move together
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) == 25  # all offsets used
    assert torch.equal(random_shift(x, 0, g), x)


def test_confusion_matrix():
    m = confusion_matrix(torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([0, 1, 1, 2, 0, 2]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert m.sum() == 6
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(torch.tensor([3]), torch.tensor([0]), 3)


def test_plots_are_written(tmp_path, digits):
    train, test = digits
    net = _net()
    h1 = finetune(net, train, test, epochs=2, batch_size=100, augment=0)
    h2 = [dict(r, test_accuracy=r["test_accuracy"] - 0.05) for r in h1]
    assert plot_learning_curves({"random": h1, "pretrained": h2}, tmp_path / "a" / "curves.png")
    _, _, pred = evaluate(net, *test)
    plot_confusion_matrix(confusion_matrix(test[1], pred, 10), tmp_path / "cm.png")
    plot_filters(net.layers[0].weight, tmp_path / "filters.png")
    plot_filters(torch.randn(6, 3, 5, 5), tmp_path / "rgb.png")
    for name in ("a/curves.png", "cm.png", "filters.png", "rgb.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_filter_grid_normalises_each_filter():
    w = torch.stack([torch.arange(9.0).reshape(1, 3, 3), 100 * torch.ones(1, 3, 3)])
    w[1, 0, 0, 0] = -100
    grid = filter_grid(w, ncols=2)
    assert grid.shape == (3, 7)
    assert np.nanmin(grid[:, :3]) == 0 and np.nanmax(grid[:, :3]) == 1
    assert np.nanmin(grid[:, 4:]) == 0 and np.nanmax(grid[:, 4:]) == 1
    assert np.isnan(grid[:, 3]).all()
    many = filter_grid(torch.randn(2, 4, 3, 3))  # one row per filter, one tile per channel
    assert many.shape == (7, 15)


def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(digits):
    """Stop after 2 of 4 epochs, rebuild the model, resume: same history and weights."""
    import copy

    train, test = digits
    kw = dict(FAST, augment=1, seed=3)
    full = finetune(_net(dropout=0.3, head_units=16), train, test, **kw)
    states = []
    first = _net(dropout=0.3, head_units=16)
    finetune(first, train, test, checkpoint=lambda s: states.append(copy.deepcopy(s)),
             **dict(kw, epochs=4), callback=lambda e, m: None)
    assert [s["epoch"] for s in states] == [1, 2, 3, 4]
    torch.manual_seed(999)  # the global RNG state must not matter: it is restored
    resumed_net = _net(dropout=0.3, head_units=16, seed=5)  # other initial weights: overwritten
    resumed = finetune(resumed_net, train, test, resume=states[1], **kw)
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(resumed) == strip(full)
    for key, value in resumed_net.state_dict().items():
        assert torch.equal(value, first.state_dict()[key]), key
    with pytest.raises(ValueError, match="epochs: checkpoint 4, now 6"):
        finetune(_net(), train, test, resume=states[1], **dict(kw, epochs=6))
