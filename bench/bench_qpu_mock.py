"""How close ``mock-qpu`` samples are to the exact distribution, per model and device: a table.

Rows: pooled conv RBMs (1x4x4 canvas, 2 filters 3x3, 2x2 pooling; post-selection) and dense
10x6 RBMs, weights N(0, σ²), on the ideal mock and on the non-ideal one
(:data:`sampling.qpu.mock.REALISTIC_NOISE`) with and without spin-reversal gauges. Each row: 4-6
calibration calls of 1000 samples from a wrong guess (β_hw = 1, hidden 3), then N samples at
β = 1, compared with exact enumeration: KL / its i.i.d. noise floor for the visible and hidden
marginals (≤ 2 is "within the floor"), and what the backend reports.

    OMP_NUM_THREADS=1 python bench/bench_qpu_mock.py            # the table of docs/qpu.md
    OMP_NUM_THREADS=1 python bench/bench_qpu_mock.py --quick    # fewer rows
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rbm import BernoulliRBM, ConvRBM  # noqa: E402
from sampling.bqm import spec_to_bqm  # noqa: E402
from sampling.diagnostics import compare_to_exact  # noqa: E402
from sampling.enumeration import exact_distribution  # noqa: E402
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.ERROR)
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
        except Exception as exc:  # a refused draw is a result too
            print(f"{kind:7} {std:5}  {noise:9}  {gauges:6}  refused: {exc}")
            continue
        i = sampler.last_info
        print(f"{kind:7} {std:5}  {noise:9}  {gauges:6}  {sampler.backend.calibrator.beta_hw:7.3f}"
              f"  {i['beta_eff']:8.3f}  {i['chain_break_fraction']:13.4f}  {i['range_action']:6}"
              f"  {i.get('pooling_acceptance', float('nan')):6.2f}  {v:10.2f}  {h:10.2f}"
              f"  {i['consistency_z']:13.1f}  {time.perf_counter() - t0:7.1f}", flush=True)


if __name__ == "__main__":
    main()
