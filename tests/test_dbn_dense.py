"""Dense-layer stacks through the whole pipeline (issue 11: Adachi & Henderson's deep belief net).

``train.main`` pretrains a DBN of dense RBM layers (``fc16,fc16``) and a conv+dense stack
(``4x3p2,fc16``) and fine-tunes them; the CNN built from a pretrained dense stack carries the RBM
weights (transposed) and hidden biases exactly; ``--resize`` coarse-graining keeps labels aligned
and values in [0, 1] on train.py's data path; bad dense specs are one ``error:`` line, exit code 2
and no output directory. (The conv-after-dense case ``fc8,4x3`` itself is in test_train_e2e.py.)
"""

from __future__ import annotations

import json
import math

import pytest
import tomllib
import torch
import torch.nn.functional as F

import pipeline
import train
from tests.chance import digits_chance

# 5 fine-tuning epochs (0.1 s each): 1 leaves these stacks at chance (10-17 % measured)
TINY = ["--dataset", "digits", "--pretrain-epochs", "1", "--finetune-epochs", "5",
        "--batch-size", "128", "--pretrain-batch-size", "128", "--no-progress", "--no-plots"]




@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``runs(layers, *extra)`` → run directory of a finished train.py run (cached per module)."""
    cache: dict[tuple, object] = {}
    root = tmp_path_factory.mktemp("dbn")

    def get(layers: str, *extra: str):
        key = (layers, *extra)
        if key not in cache:
            out = root / f"run{len(cache)}"
            code = train.main([*TINY, "--layers", layers, "--out", str(out), *extra])
            assert code == 0, f"train.main exited {code} for --layers {layers} {' '.join(extra)}"
            cache[key] = out
        return cache[key]

    return get


def read_metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    "layers,sampler,shapes",
    [
        # Job & Adachi's two-sweep SA quench on the paper's all-dense DBN
        ("fc16,fc16", ["--sampler", "sa", "--schedule", "quench"], [(64, 16), (16, 16)]),
        # conv RBM (4 filters 3x3, 2x2 pooling: 4x3x3 = 36 features) under a dense RBM
        ("4x3p2,fc16", ["--sampler", "cd", "--sweeps", "1"], [(4, 1, 3, 3), (36, 16)]),
    ],
)
def test_dense_stack_pretrains_and_finetunes_end_to_end(runs, layers, sampler, shapes):
    out = runs(layers, *sampler)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["layers"] == layers and summary["sampler"] == sampler[1]
    assert summary["test_accuracy"] > digits_chance(), summary["test_accuracy"]
    assert tomllib.loads((out / "config.toml").read_text())["layers"] == layers
    metrics = read_metrics(out)
    pre = [m for m in metrics if m["stage"] == "pretrain"]
    assert [m["layer"] for m in pre] == [0, 1]  # greedy: one epoch per layer, bottom up
    assert all(math.isfinite(m["loss"]) and m["sampler_seconds"] > 0 for m in pre)
    if layers == "fc16,fc16":  # 16 hidden units: the exact log-likelihood is tracked per layer
        assert all(m["test_log_likelihood"] < 0 for m in pre)
    assert [m["epoch"] for m in metrics if m["stage"] == "finetune"] == [1, 2, 3, 4, 5]

    from rbm import BernoulliRBM, load_stack

    stack = load_stack(out / "checkpoints" / "stack.pt")
    assert [tuple(layer.weight.shape) for layer in stack.layers] == shapes
    assert isinstance(stack.layers[-1], BernoulliRBM)


def test_cnn_linear_layers_carry_the_pretrained_rbm_weights_exactly(runs):
    from cnn import CNN
    from rbm import load_stack

    stack = load_stack(runs("fc16,fc16", "--sampler", "sa", "--schedule", "quench")
                       / "checkpoints" / "stack.pt")
    assert all(layer.weight.abs().max() > 0.02 for layer in stack.layers)  # pretraining moved them
    # weight_scale=None: from_stack's default (1.0) rescales each layer to unit pre-activation std
    net = CNN.from_stack(stack, 10, bias_init="copy", weight_scale=None)
    assert [type(m).__name__ for m in net.layers] == ["Linear", "Linear"]
    for linear, rbm in zip(net.layers, stack.layers, strict=True):
        assert torch.equal(linear.weight, rbm.weight.t())
        assert torch.equal(linear.bias, rbm.hidden_bias)
    # so the pre-activations are the RBMs' hidden logits (layer 0 on the flattened image)
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    preacts, _ = net.layer_outputs(x)
    with torch.no_grad():
        torch.testing.assert_close(preacts[0], stack.layers[0].hidden_logits(x.flatten(1)))


def test_resize_through_train_py_keeps_labels_aligned_and_values_in_range(runs):
    import imagedata

    full = imagedata.load_dataset("digits")
    data = pipeline.prepare(train.parse_args([*TINY, "--resize", "4x4", "--layers", "fc8"])).data
    for small, big, y_small, y_big in ((data.x_train, full.x_train, data.y_train, full.y_train),
                                       (data.x_test, full.x_test, data.y_test, full.y_test)):
        assert small.shape == (big.shape[0], 1, 4, 4)
        assert torch.equal(y_small, y_big)  # same examples, same order, same labels
        torch.testing.assert_close(small, F.avg_pool2d(big, 2))  # 8x8 → 4x4 block means
        assert small.min() >= 0.0 and small.max() <= 1.0
    # per class, the coarse-grained class mean is the block average of the full-size class mean
    for c in range(10):
        torch.testing.assert_close(data.x_train[data.y_train == c].mean(0),
                                   F.avg_pool2d(full.x_train[full.y_train == c].mean(0), 2))
    # and the pipeline runs on it: a 16-visible dense RBM, fine-tuned on 4x4 inputs
    out = runs("fc8", "--resize", "4x4", "--sampler", "cd")
    from cnn import load_cnn
    from rbm import load_stack

    assert load_stack(out / "checkpoints" / "stack.pt").input_shape == (1, 4, 4)
    assert load_cnn(out / "checkpoints" / "cnn.pt").input_shape == (1, 4, 4)
    accuracy = json.loads((out / "summary.json").read_text())["test_accuracy"]
    assert accuracy > digits_chance(), accuracy


@pytest.mark.parametrize(
    "layers,needle",
    [
        ("fc0", "layer 1 'fc0'"),
        ("fcx", "layer 1 'fcx'"),
        ("fc16,fc8,4x3", "layer 3 '4x3': a conv layer cannot follow a dense layer"),
    ],
)
def test_bad_dense_specs_are_one_error_line_and_exit_2(tmp_path, capsys, layers, needle):
    out = tmp_path / "out"
    code = train.main([*TINY, "--layers", layers, "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len([line for line in err if "error:" in line]) == 1
    assert err[-1].startswith("error:") and needle in err[-1] and "--layers" in err[-1]
    assert "Traceback" not in "\n".join(err)
    assert not out.exists()
