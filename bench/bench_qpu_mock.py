"""How close ``mock-qpu`` samples are to the exact distribution, per model and device: a table.

Rows: pooled conv RBMs (1x4x4 canvas, 2 filters 3x3, 2x2 pooling; post-selection) and dense
10x6 RBMs, weights N(0, σ²), on the ideal mock and on the non-ideal one
(:data:`sampling.qpu.mock.REALISTIC_NOISE`) with and without spin-reversal gauges. Each row: 4-6
calibration calls of 1000 samples from a wrong guess (β_hw = 1, hidden 3), then N samples at
β = 1, compared with exact enumeration: KL / its i.i.d. noise floor for the visible and hidden
marginals (≤ 2 is "within the floor"), and what the backend reports.

    OMP_NUM_THREADS=1 python bench/bench_qpu_mock.py            # the table of docs/qpu.md
    OMP_NUM_THREADS=1 python bench/bench_qpu_mock.py --quick    # fewer rows
    OMP_NUM_THREADS=1 python bench/bench_qpu_mock.py --envelope # the default layer 0's envelope

``--envelope``: which weights of the pipeline's first layer (16x5p2 on a 6x6 canvas of mnist5k,
the largest canvas that embeds on an Advantage-sized graph; and smaller layers) a QPU can sample
at β = 1. An Advantage-sized mock (Pegasus P16) at two hidden hardware temperatures; filters as
the random baseline makes them (zero-mean, L2 norm g, hidden biases that leave 2 % of the logits
positive: ``cnn.features.set_sparse_filters``) for growing g, and layers pretrained with today's
recipe (centered gradients, 2 epochs on 2,000 images; CD-1, or the default annealer on the 6x6
canvas). Per row: 4 draws of 64 chains from the
guess β_hw = 1 (calibrating), then what the 4th draw reports: the β the samples are at
(``beta_implied``: below 1, the backend had to weaken the problem to keep its chains intact),
the chains broken, the pooling acceptance, the seconds per draw, or the refusal.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rbm import BernoulliRBM, ConvRBM  # noqa: E402
from sampling.bqm import spec_to_bqm  # noqa: E402
from sampling.diagnostics import compare_to_exact  # noqa: E402
from sampling.enumeration import exact_distribution  # noqa: E402
from sampling.errors import SamplingError  # noqa: E402
from sampling.exact import marginal_table  # noqa: E402
from sampling.qpu import MockQPUSampler  # noqa: E402
from sampling.qpu.mock import REALISTIC_NOISE  # noqa: E402

CANVAS = (1, 4, 4)
FAST = dict(num_sweeps_hold=100, num_sweeps_anneal=50)


def init(model, std, seed, bias):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.weight.copy_(std * torch.randn(model.weight.shape, generator=g))
        model.visible_bias.copy_(bias * torch.randn(model.visible_bias.shape, generator=g))
        model.hidden_bias.copy_(bias * torch.randn(model.hidden_bias.shape, generator=g))
    return model


def ratio(report):
    return report["kl"] / report["kl_floor"]


def pooled_row(std, n, tiles, noise, gauges):
    model = init(ConvRBM(1, 2, 3, pool_size=2), std, 0, 0.3)
    sampler = MockQPUSampler(beta=1.0, tiles=tiles, hardware_beta=3.0, seed=0, canvas=CANVAS,
                             spin_reversal_transforms=gauges, **noise, **FAST)
    for _ in range(4):
        sampler.num_chains = 1000
        sampler.sample(model, torch.zeros(1, *CANVAS))
    sampler.num_chains = n
    v, h = sampler.sample(model, torch.zeros(1, *CANVAS))
    rv = compare_to_exact(v.reshape(n, -1).numpy().astype(np.int8),
                          marginal_table(model, "visible", CANVAS))
    rh = compare_to_exact(h.reshape(n, -1).numpy().astype(np.int8),
                          marginal_table(model, "hidden", CANVAS))
    return sampler, ratio(rv), ratio(rh)


def dense_row(std, n, tiles, noise, gauges):
    model = init(BernoulliRBM(10, 6), std, 0, 0.5)
    sampler = MockQPUSampler(beta=1.0, tiles=tiles, hardware_beta=3.0, seed=0,
                             spin_reversal_transforms=gauges, **noise, **FAST)
    for _ in range(6):
        sampler.num_chains = 1000
        sampler.sample(model, torch.zeros(1, 10))
    sampler.num_chains = n
    v, h = sampler.sample(model, torch.zeros(1, 10))
    _, p = exact_distribution(spec_to_bqm(model.to_qm()), beta=1.0)
    x = torch.cat([v, h], 1).numpy().astype(np.int8)
    rv = compare_to_exact(x[:, :10], p.reshape(-1, 64).sum(1))
    rh = compare_to_exact(x[:, 10:], p.reshape(1024, 64).sum(0))
    return sampler, ratio(rv), ratio(rh)


#: The centered recipe of ``python train.py`` (rbm.pretrain.PretrainConfig fields), 2 epochs.
ENVELOPE_RECIPE = dict(epochs=2, batch_size=16, lr=0.5, momentum=0.9, weight_decay=1e-4,
                       init_filter_norm=10.0, hidden_bias_init=-3.0, sparsity_target=0.02,
                       sparsity_rate=5.0, centering=True, seed=0)


def envelope_layer(x: torch.Tensor, spec: str, gain: float | None = None,
                   sampler: str = "cd") -> tuple[str, ConvRBM]:
    """A layer of ``spec`` with random sparse filters of norm ``gain``, or pretrained on ``x``
    with :data:`ENVELOPE_RECIPE` and ``sampler`` (``cd``: CD-1; ``annealed``: train.py's default,
    on the same 6x6 canvas)."""
    from cnn.features import set_sparse_filters
    from rbm import build_stack
    from rbm.pretrain import PretrainConfig, make_optimizer, pretrain_layer
    from sampling import make_sampler

    torch.manual_seed(0)
    layer = build_stack(spec, tuple(x.shape[1:])).layers[0]
    layer.init_visible_bias(x)
    if gain is not None:
        gen = torch.Generator().manual_seed(0)
        set_sparse_filters(layer, torch.randn(layer.weight.shape[0], layer.weight[0].numel(),
                                              generator=gen), x[:500], 0.02, gain)
        return f"{spec} random, norm {gain:g}", layer
    config = PretrainConfig(**ENVELOPE_RECIPE)
    options = {"k": 1} if sampler == "cd" else {"num_sweeps": 10, "canvas": (1, 6, 6)}
    pretrain_layer(layer, x, make_sampler(sampler, seed=0, **options), config,
                   optimizer=make_optimizer(layer, config))
    norm = float(layer.weight.detach().flatten(1).norm(dim=1).mean())
    return f"{spec} pretrained, {sampler} (mean norm {norm:.1f})", layer


def envelope(out: str | None = None) -> None:
    import warnings

    import imagedata

    x = imagedata.load_dataset("mnist5k").x_train[:2000]
    load = os.getloadavg()
    rows = [(hw, ("16x5p2", g, "cd")) for hw in (3.0, 6.0) for g in (0.5, 1.0, 2.0, 4.0)]
    rows += [(hw, ("16x5p2", None, "cd")) for hw in (3.0, 6.0)]
    rows += [(3.0, (spec, None, sampler)) for spec, sampler in
             (("16x5p2", "annealed"), ("8x5p2", "annealed"), ("4x5p2", "annealed"),
              ("8x3p2", "annealed"))]
    lines = []

    def emit(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    emit("| hidden β_hw | layer 0 | max abs W | hidden bias | β_hw est. | beta_implied"
         " | chains broken | pooling acceptance | s per draw |")
    emit("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    layers: dict[tuple, tuple[str, ConvRBM]] = {}
    for hw, key in rows:
        if key not in layers:
            layers[key] = envelope_layer(x, *key)
        name, layer = layers[key]
        sampler = MockQPUSampler(beta=1.0, hardware_beta=hw, shape=16, seed=0,
                                 canvas=(1, 6, 6), num_chains=64)
        with torch.no_grad():
            head = (f"| {hw:g} | {name} | {float(layer.weight.abs().max()):.2f} |"
                    f" {float(layer.hidden_bias.mean()):.1f} |")
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for _ in range(4):
                    sampler.sample(layer, x[:64])
        except SamplingError as exc:  # a refused draw is a result too
            emit(f"{head} refused: {str(exc).split(':')[0][:90]} | | | | |")
            continue
        i = sampler.last_info
        emit(f"{head} {sampler.backend.calibrator.beta_hw:.2f} | {i['beta_implied']:.3g} |"
             f" {100 * i['chain_break_fraction']:.1f} % | {i['pooling_acceptance']:.2f} |"
             f" {(time.perf_counter() - t0) / 4:.1f} |")
    if out:
        end = os.getloadavg()
        header = ("# Conv RBM layers (6x6 canvas of mnist5k) on an Advantage-sized mock at beta = 1\n\n"
                  "`OMP_NUM_THREADS=1 python bench/bench_qpu_mock.py --envelope`; load average "
                  f"{load[0]:.1f} -> {end[0]:.1f} on {os.cpu_count()} cores\n\n")
        Path(out).write_text(header + "\n".join(lines) + "\n")
        print(f"wrote {out}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows")
    parser.add_argument("--envelope", action="store_true",
                        help="what the default layer 0's weights need on an Advantage-sized mock")
    parser.add_argument("--log-level", default="ERROR", choices=("ERROR", "WARNING", "INFO"),
                        help="of the sampling package: INFO shows every redraw and its reason")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("sampling").setLevel(args.log_level)
    if args.envelope:
        envelope(out=str(Path(__file__).resolve().parent / "results" / "qpu_envelope.md"))
        return
    rows = [("pooled", s, 10000, 4, "ideal", 0) for s in (0.5, 1.0, 1.5)]
    rows += [("dense", s, 20000, 8, "ideal", 0) for s in (0.1, 1.5)]
    rows += [("dense", 1.5, 20000, 8, "realistic", g) for g in (0, 8)]
    rows += [("pooled", 1.0, 10000, 4, "realistic", g) for g in (0, 8)]
    if args.quick:
        rows = rows[1:2] + rows[3:4]
    print("model   sigma  noise      gauges  beta_hw  beta_eff  chains_broken  range   accept"
          "  V kl/floor  H kl/floor  consistency_z  seconds")
    for kind, std, n, tiles, noise, gauges in rows:
        t0 = time.perf_counter()
        fn = pooled_row if kind == "pooled" else dense_row
        try:
            sampler, v, h = fn(std, n, tiles, REALISTIC_NOISE if noise == "realistic" else {},
                               gauges)
        except SamplingError as exc:  # a refused draw is a result too
            print(f"{kind:7} {std:5}  {noise:9}  {gauges:6}  refused: {exc}")
            continue
        i = sampler.last_info
        print(f"{kind:7} {std:5}  {noise:9}  {gauges:6}  {sampler.backend.calibrator.beta_hw:7.3f}"
              f"  {i['beta_eff']:8.3f}  {i['chain_break_fraction']:13.4f}  {i['range_action']:6}"
              f"  {i.get('pooling_acceptance', float('nan')):6.2f}  {v:10.2f}  {h:10.2f}"
              f"  {i['consistency_z']:13.1f}  {time.perf_counter() - t0:7.1f}", flush=True)


if __name__ == "__main__":
    main()
