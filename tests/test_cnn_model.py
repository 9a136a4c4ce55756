"""cnn.CNN: shapes, exact copies from an RBM stack, pre-activations = RBM hidden logits, I/O."""

import pytest
import torch

import rbm
from cnn import CNN, ArchitectureMismatchError, Layer, load_cnn, save_cnn


def _randomise(stack: rbm.RBMStack, seed: int = 0) -> rbm.RBMStack:
    """Give every RBM non-trivial weights and negative hidden biases (as pretraining does)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in stack.layers:
            layer.weight.copy_(0.3 * torch.randn(layer.weight.shape, generator=g))
            layer.hidden_bias.copy_(-1.0 + 0.2 * torch.randn(layer.hidden_bias.shape, generator=g))
    return stack


def _images(n: int, shape, seed: int = 1) -> torch.Tensor:
    return torch.rand((n, *shape), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    ("layers", "input_shape", "expected"),
    [
        ("16x5p2,32x5p2", (1, 28, 28), [(16, 12, 12), (32, 4, 4)]),
        ("8x3", (1, 8, 8), [(8, 6, 6)]),
        ("8x3p2,fc20", (1, 8, 8), [(8, 3, 3), (20,)]),
    ],
)
def test_shapes_match_the_rbm_stack(layers, input_shape, expected):
    specs = rbm.parse_layers(layers)
    net = CNN(specs, input_shape, 10)
    stack = rbm.build_stack(specs, input_shape)
    assert net.feature_shapes() == expected
    assert expected == [stack.output_shape_of(i) for i in range(len(stack))]
    x = _images(3, input_shape)
    assert net(x).shape == (3, 10)
    preacts, outputs = net.layer_outputs(x)
    for i, (z, layer) in enumerate(zip(preacts, stack.layers, strict=True)):
        assert z.shape[1:] == layer.hidden_shape(stack.input_shape_of(i))
        assert outputs[i].shape[1:] == expected[i]


def test_from_stack_copies_weights_exactly():
    stack = _randomise(rbm.build_stack("6x3p2,fc12", (1, 8, 8)))
    net = CNN.from_stack(stack, 10, bias_init="copy", weight_scale=None, head_units=0)
    conv, dense = net.layers
    assert torch.equal(conv.weight, stack.layers[0].weight)
    assert torch.equal(conv.bias, stack.layers[0].hidden_bias)
    assert torch.equal(dense.weight, stack.layers[1].weight.t())
    assert torch.equal(dense.bias, stack.layers[1].hidden_bias)
    assert [str(s) for s in net.layer_specs] == ["6x3p2", "fc12"]
    # the copy is independent of the stack
    with torch.no_grad():
        stack.layers[0].weight.add_(1.0)
    assert not torch.equal(conv.weight, stack.layers[0].weight)


def test_preactivations_equal_rbm_hidden_logits():
    """Layer 1 on data; deeper layers on the CNN's own outputs. With sigmoid activation and
    log-sum-exp pooling those outputs are the stack's transform (probabilistic max-pooling), so
    the CNN's pre-activations are the hidden logits of the greedy stack on the same image."""
    stack = _randomise(rbm.build_stack("5x3p2,4x2,fc7", (1, 10, 10)))
    x = _images(4, (1, 10, 10))
    net = CNN.from_stack(stack, 3, bias_init="copy", weight_scale=None, activation="sigmoid",
                         pooling="logsumexp")
    preacts, outputs = net.layer_outputs(x)
    with torch.no_grad():
        for i, layer in enumerate(stack.layers):
            v = stack.transform(x, upto=i)
            torch.testing.assert_close(preacts[i], layer.hidden_logits(v))
            torch.testing.assert_close(outputs[i], layer.transform(v))


def test_relu_preactivations_equal_hidden_logits_of_the_cnn_input():
    """With ReLU and max-pooling the filters are the RBM's, the features are not: each layer's
    pre-activation is the RBM's hidden logits of whatever the CNN feeds it (values outside
    [0, 1] allowed, so the RBM's value check is switched off for the comparison)."""
    stack = _randomise(rbm.build_stack("4x3p2,3x2", (1, 10, 10)))
    x = _images(2, (1, 10, 10))
    net = CNN.from_stack(stack, 10, bias_init="copy", weight_scale=None, activation="relu")
    preacts, outputs = net.layer_outputs(x)
    previous = rbm.set_validate_values(False)
    try:
        with torch.no_grad():
            torch.testing.assert_close(preacts[0], stack.layers[0].hidden_logits(x))
            torch.testing.assert_close(preacts[1], stack.layers[1].hidden_logits(outputs[0]))
    finally:
        rbm.set_validate_values(previous)
    assert torch.equal(outputs[0], torch.nn.functional.max_pool2d(preacts[0].relu(), 2))


def test_bias_init_policies():
    stack = _randomise(rbm.build_stack("6x3p2,5x2", (1, 10, 10)))
    x = _images(50, (1, 10, 10))
    zero = CNN.from_stack(stack, 10, bias_init="zero", weight_scale=None)
    assert all(torch.count_nonzero(layer.bias) == 0 for layer in zero.layers)
    shifted = CNN.from_stack(stack, 10, bias_init="shift", weight_scale=None, data=x)
    preacts, _ = shifted.layer_outputs(x)
    for z in preacts:
        mean = z.mean(dim=(0, 2, 3))
        torch.testing.assert_close(mean, torch.zeros_like(mean), atol=1e-5, rtol=0)
    assert torch.equal(shifted.layers[0].weight, stack.layers[0].weight)
    scaled = CNN.from_stack(stack, 10, weight_scale=0.5, data=x)  # default bias_init: shift
    preacts, _ = scaled.layer_outputs(x)
    for z, layer, rbm_layer in zip(preacts, scaled.layers, stack.layers, strict=True):
        mean = z.mean(dim=(0, 2, 3))
        torch.testing.assert_close(mean, torch.zeros_like(mean), atol=1e-5, rtol=0)
        assert z.std().item() == pytest.approx(0.5, rel=1e-4)
        ratio = layer.weight / rbm_layer.weight  # one factor per layer: filter shapes are kept
        torch.testing.assert_close(ratio, torch.full_like(ratio, ratio.flatten()[0].item()))
    with pytest.raises(ValueError, match="need data"):
        CNN.from_stack(stack, 10, bias_init="shift", weight_scale=None)
    with pytest.raises(ValueError, match="need data"):
        CNN.from_stack(stack, 10, bias_init="zero")  # default weight_scale=1 calibrates
    with pytest.raises(ValueError, match="bias_init"):
        CNN.from_stack(stack, 10, bias_init="keep")


def test_input_validation_names_shapes():
    net = CNN([Layer("conv", 4, 3)], (1, 8, 8), 10)
    with pytest.raises(ValueError, match=r"\(N, 1, 8, 8\).*\(5, 8, 8\)"):
        net(torch.zeros(5, 8, 8))
    with pytest.raises(ValueError, match="pool 2 does not divide"):
        CNN([Layer("conv", 4, 2, 2)], (1, 8, 8), 10)
    with pytest.raises(ValueError, match="activation"):
        CNN([Layer("conv", 4, 3)], (1, 8, 8), 10, activation="tanh")


def test_config_save_load_roundtrip(tmp_path):
    net = CNN(rbm.parse_layers("4x3p2,fc8"), (1, 8, 8), 5, activation="sigmoid", head_units=6,
              dropout=0.1)
    rebuilt = CNN(**net.config())
    assert rebuilt.config() == net.config()
    save_cnn(net, tmp_path / "cnn.pt", epoch=3)
    loaded = load_cnn(tmp_path / "cnn.pt")
    x = _images(3, (1, 8, 8))
    net.eval()
    torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=0)


def test_loading_another_architecture_names_expected_and_actual_shapes(tmp_path):
    small = CNN(rbm.parse_layers("4x3"), (1, 8, 8), 10, head_units=0)
    big = CNN(rbm.parse_layers("6x3"), (1, 8, 8), 10, head_units=0)
    with pytest.raises(ArchitectureMismatchError) as err:
        big.load_state_dict(small.state_dict())
    message = str(err.value)
    assert "layers.0.weight: expected (6, 1, 3, 3), got (4, 1, 3, 3)" in message
    assert "6x3" in message
    with_head = CNN(rbm.parse_layers("4x3"), (1, 8, 8), 10, head_units=16)
    with pytest.raises(ArchitectureMismatchError, match="head.weight: missing"):
        with_head.load_state_dict(small.state_dict())
