"""Layer specs, stacks, save/load, and the runnable Examples of rbm/."""

import doctest
import importlib

import pytest
import torch

from rbm import (
    BernoulliRBM,
    ConvRBM,
    LayerSpec,
    build_stack,
    load_model,
    load_stack,
    parse_layers,
    save_model,
    save_stack,
)


# ---------------------------------------------------------------- parse_layers
def test_parse_layers():
    assert parse_layers("16x5p2,32x5,fc64") == [
        LayerSpec("conv", 16, 5, 2), LayerSpec("conv", 32, 5, None), LayerSpec("dense", 64)]
    assert parse_layers(" fc10 ") == [LayerSpec("dense", 10)]
    assert [str(s) for s in parse_layers("8x3p1,fc2,fc3")] == ["8x3p1", "fc2", "fc3"]


@pytest.mark.parametrize("text,match", [
    ("", "expected layers"),
    ("   ", "expected layers"),
    ("fc0", "layer 1 'fc0'"),
    ("16x5,fcx", "layer 2 'fcx'"),
    ("0x5", "layer 1 '0x5'"),
    ("16x0", "layer 1 '16x0'"),
    ("16x5p0", "layer 1 '16x5p0'"),
    ("fc64,16x5", "layer 2 '16x5': a conv layer cannot follow a dense layer"),
    ("16x5,,fc3", "layer 2 is empty"),
    ("16x5x3", "layer 1 '16x5x3'"),
    ("-1x5", "layer 1 '-1x5'"),
])
def test_parse_layers_errors_name_the_bad_token(text, match):
    with pytest.raises(ValueError, match=match):
        parse_layers(text)


def test_layer_spec_validation():
    with pytest.raises(ValueError, match="kernel"):
        LayerSpec("conv", 3)
    with pytest.raises(ValueError, match="kind"):
        LayerSpec("pool", 3)


# ---------------------------------------------------------------- build_stack
def test_stack_shapes_conv_pool():
    stack = build_stack("16x5p2,32x5p2", (1, 28, 28))
    assert len(stack) == 2
    assert stack.input_shape_of(0) == (1, 28, 28) and stack.output_shape_of(0) == (16, 12, 12)
    assert stack.input_shape_of(1) == (16, 12, 12) and stack.output_shape_of(1) == (32, 4, 4)
    first, second = stack.layers
    assert isinstance(first, ConvRBM) and first.pool_size == 2 and first.visible_shape == (1, 28, 28)
    assert second.in_channels == 16 and second.visible_shape == (16, 12, 12)
    x = torch.rand(3, 1, 28, 28)
    assert stack.transform(x, upto=0) is x
    assert stack.transform(x, upto=1).shape == (3, 16, 12, 12)
    assert stack.transform(x).shape == (3, 32, 4, 4)
    torch.testing.assert_close(stack.transform(x, upto=2),
                               second.transform(first.transform(x)))
    assert second.to_qm().visible_shape == (16, 12, 12)


def test_stack_shapes_conv_then_dense():
    stack = build_stack(parse_layers("4x3,6x2p3,fc10,fc5"), (2, 9, 9))
    assert [stack.output_shape_of(i) for i in range(4)] == [(4, 7, 7), (6, 2, 2), (10,), (5,)]
    assert isinstance(stack.layers[2], BernoulliRBM) and stack.layers[2].n_visible == 24
    assert stack.input_shape_of(3) == (10,)
    assert stack.transform(torch.rand(2, 2, 9, 9)).shape == (2, 5)
    assert build_stack("fc7", (1, 8, 8)).transform(torch.rand(4, 1, 8, 8)).shape == (4, 7)


@pytest.mark.parametrize("specs,shape,match", [
    ("16x5p2,32x5p2", (1, 12, 12), r"layer 1 \(32x5p2\): kernel 5x5 is larger than its input 4x4"),
    ("16x5p2", (1, 28, 27), r"layer 0 \(16x5p2\): hidden map 24x23 .* not divisible by pool size 2"),
    ("8x3,4x2p4", (1, 9, 9), r"layer 1 \(4x2p4\): hidden map 6x6"),
    ("8x3", (28, 28), r"expected input_shape \(C, H, W\), got \(28, 28\)"),
])
def test_stack_shape_errors(specs, shape, match):
    with pytest.raises(ValueError, match=match):
        build_stack(specs, shape)


def test_stack_transform_checks_input_shape():
    stack = build_stack("4x5p2", (1, 28, 28))
    with pytest.raises(ValueError, match=r"expected x of shape \(N, 1, 28, 28\), got \(64, 28, 28\)"):
        stack.transform(torch.zeros(64, 28, 28))
    with pytest.raises(IndexError):
        stack.transform(torch.zeros(1, 1, 28, 28), upto=2)


# ---------------------------------------------------------------- save / load
def test_save_load_model_round_trip(tmp_path):
    for model in (BernoulliRBM(6, 4),
                  ConvRBM(2, 3, 3, pool_size=2, pool_penalty=7.5, visible_shape=(2, 6, 8))):
        with torch.no_grad():
            model.visible_bias.uniform_(-1, 1)
        path = tmp_path / f"{type(model).__name__}.pt"
        save_model(model, path)
        again = load_model(path)
        assert type(again) is type(model) and again.config() == model.config()
        for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
            assert torch.equal(a, b), k
        assert not any(p.grad is not None for p in again.parameters())


def test_save_load_stack_round_trip(tmp_path):
    stack = build_stack("4x3p2,fc5", (1, 8, 8))
    with torch.no_grad():
        stack.layers[1].weight.add_(1.0)
    save_stack(stack, tmp_path / "s.pt")
    again = load_stack(tmp_path / "s.pt")
    assert again.config() == stack.config() == {"specs": "4x3p2,fc5", "input_shape": (1, 8, 8)}
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(again.transform(x), stack.transform(x))


def test_load_errors(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        load_model(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a readable torch file"):
        load_model(bad)
    other = tmp_path / "other.pt"
    torch.save({"format": "rbm.model/1", "class": "GaussianRBM", "config": {}, "state_dict": {}}, other)
    with pytest.raises(ValueError, match="unknown model class 'GaussianRBM'"):
        load_model(other)
    torch.save({"format": "rbm.model/1", "class": "BernoulliRBM", "config": {"n_visible": 3,
                "n_hidden": 2}, "state_dict": {}}, other)
    with pytest.raises(ValueError, match="cannot rebuild BernoulliRBM"):
        load_model(other)
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="expected a 'rbm.model/1' file"):
        load_model(other)
    save_stack(build_stack("fc3", (1, 2, 2)), other)
    with pytest.raises(ValueError, match="use load_stack"):
        load_model(other)


# ---------------------------------------------------------------- Examples in docstrings run
@pytest.mark.parametrize("module", ["base", "qm", "dense", "conv", "specs", "stack", "io", "evaluate"])
def test_docstring_examples(module):
    mod = importlib.import_module(f"rbm.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
