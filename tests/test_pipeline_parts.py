"""The pieces the pipeline is made of (issue 15): the stack pretraining loop (rbm), the per-layer
sampler factory (sampling), the default augmentation (cnn), and the examples of the pipeline's
config and stages."""

from __future__ import annotations

import copy
import doctest
import importlib

import pytest
import torch

from rbm import LayerEpoch, build_stack, parse_layers, pretrain_stack
from rbm.pretrain import PretrainConfig
from sampling import (
    LayerSamplerError,
    layer_sampler,
    layer_sampler_factory,
    resilient_layer_sampler,
)


@pytest.mark.parametrize("module", ["rbm.stack_training", "sampling.layer_factory", "cnn.augment",
                                    "pipeline.config", "pipeline.stages"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module),
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def _stack_and_data():
    torch.manual_seed(0)
    stack = build_stack(parse_layers("3x3p2,fc5"), (1, 8, 8))
    x = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    return stack, x


class _Stop(Exception):
    pass


def test_pretrain_stack_resumed_from_a_callback_checkpoint_ends_with_the_same_weights():
    """PCD chains, momentum and the minibatch order all live in the checkpointed objects."""
    config = PretrainConfig(epochs=2, batch_size=16, lr=0.1, seed=4)
    make = layer_sampler_factory("pcd", {"seed": 2, "beta": 1.0}, None)

    stack, x = _stack_and_data()
    full = pretrain_stack(stack, x, make, config, held_out=x[:8])
    expected = copy.deepcopy(stack.state_dict())
    assert [(h["layer"], h["epoch"]) for h in full] == [(0, 1), (0, 2), (1, 1), (1, 2)]

    for stop_at in [(0, 1), (0, 2), (1, 1)]:
        stack, x = _stack_and_data()
        saved = {}

        def checkpoint(step: LayerEpoch, stop_at=stop_at, stack=stack, saved=saved) -> None:
            if (step.layer, step.record["epoch"]) == stop_at:
                saved.update(stack=copy.deepcopy(stack.state_dict()), layer=step.layer,
                             epoch=step.record["epoch"], sampler=copy.deepcopy(step.sampler.state_dict()),
                             optimizer=copy.deepcopy(step.optimizer.state_dict()),
                             generator=step.generator.get_state())
                raise _Stop

        with pytest.raises(_Stop):
            pretrain_stack(stack, x, make, config, held_out=x[:8], callback=checkpoint)
        fresh, _ = _stack_and_data()
        fresh.load_state_dict(saved.pop("stack"))
        rest = pretrain_stack(fresh, x, make, config, held_out=x[:8], resume=saved)
        assert [(h["layer"], h["epoch"]) for h in rest] == [p for p in [(0, 1), (0, 2), (1, 1), (1, 2)] if p > stop_at]
        for key, value in expected.items():
            torch.testing.assert_close(fresh.state_dict()[key], value, rtol=0, atol=0, msg=f"{stop_at}: {key}")


def test_layer_hooks_see_each_layer_in_order_with_its_sampler_and_data():
    stack, x = _stack_and_data()
    seen = []
    pretrain_stack(stack, x, layer_sampler_factory("cd", {"seed": 0}, stack), PretrainConfig(epochs=1),
                   callback=lambda step: seen.append(("epoch", step.layer)),
                   on_layer_start=lambda i: seen.append(("start", i)),
                   on_layer_end=lambda i, sampler, data: seen.append((i, type(sampler.primary).__name__,
                                                                       tuple(data.shape[1:]))))
    assert seen == [("start", 0), ("epoch", 0), (0, "GibbsSampler", (1, 8, 8)),
                    ("start", 1), ("epoch", 1), (1, "GibbsSampler", (3, 3, 3))]


def test_layer_samplers_get_strided_seeds_and_the_fallback_only_the_portable_options():
    stack, _ = _stack_and_data()
    sampler = resilient_layer_sampler("annealed", {"beta": 2.0, "seed": 1, "num_sweeps": 3, "schedule": "quench"},
                                      stack, 1, (5, 5), fallback="cd", retries=1, backoff=0.0)
    assert sampler.primary.seed == 1 + 7919 and sampler.fallback.seed == 1 + 7919
    assert sampler.fallback.beta == 2.0 and (sampler.retries, sampler.backoff) == (1, 0.0)
    assert sampler.primary.canvas == (3, 3, 3)  # (5, 5) clipped to layer 1's 3x3 maps


def test_a_refused_option_names_the_sampler():
    stack, _ = _stack_and_data()
    with pytest.raises(LayerSamplerError, match="schedule") as info:
        layer_sampler("cd", {"schedule": "linear"}, stack, 0)
    assert info.value.sampler == "cd" and isinstance(info.value, ValueError)
    with pytest.raises(LayerSamplerError) as info:
        resilient_layer_sampler("cd", {"seed": 0}, stack, 0, fallback="nosuch")
    assert info.value.sampler == "nosuch" and "unknown sampler" in str(info.value)
