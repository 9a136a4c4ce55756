"""Throughput of the negative-phase samplers, next to raw dwave-samplers SA (not a test).

For each model (a dense 784×128 RBM, a conv RBM on 12×12 with 8 filters 5×5 and one on 28×28 with
16 filters 5×5, each conv one also with probabilistic max-pooling 2×2: the 28×28 one is the
default layer 0, ``16x5p2``; on request ``conv12c16p2``, the default layer 1: 32 filters 5×5
with pooling on 16×12×12) and each backend, one call draws ``--chains`` samples with ``--sweeps`` sweeps; the
table gives samples/s and spin-updates/s (chains × sweeps × (n_visible + n_hidden) / seconds, the
same count for block Gibbs and for single-spin SA) and the ratio to **raw SA**: dwave-samplers'
``SimulatedAnnealingSampler.sample`` on the same, pre-built BQM with the same schedule, the same
number of sweeps, the same number of samples and the same MCMC settings as the ``sa`` backend
(Gibbs acceptance, random order). ``raw SA (Metropolis, seq.)`` is the library's faster
optimiser-style update order, for reference. ``annealed`` runs on the compiled kernels where numba
imports (:mod:`sampling.kernels`, the default); backend ``annealed-torch`` is the same sampler on
its pure-torch path, and ``--kl`` checks both.

Every call is timed twice: wall clock, and the CPU time of the calling thread
(``time.thread_time``). Both torch (``--threads 1``) and dwave-samplers run on that one thread,
so the CPU-time ratio is the fairer one on a machine shared with other jobs, where being
descheduled inflates wall clock (the "× raw SA (CPU)" column); both are reported.

``--num-chains 100,1000,4000`` repeats the measurement for several chain counts (the torch
annealer amortises its per-call and per-operation costs over the chains; SA's cost per sample
is flat) and adds a summary table. ``--kl`` checks sample quality at the same sweeps: on the
strongly coupled 10×6 RBM of ``tests/test_samplers_statistics.py`` (weights N(0, 2²),
enumerable), N samples of ``annealed`` and of raw SA with the benchmark's schedule, KL and TV of
both marginals against the exact ones, next to the i.i.d. noise floor. ``--breakdown`` times each
step of a sweep (thread CPU time) next to the floor that torch's generator, sigmoid and the
core's sgemm peak imply; ``--profile`` prints torch.profiler's table of one ``annealed`` call.

Issue 4 targets: ``annealed`` ≥ 50× raw SA's samples/s at equal sweeps on CPU; ``sa`` within 1.2×
of raw SA's time. Issue 19 targets (1,000 chains, one thread): ``annealed`` ≥ 15× raw SA on conv
28×28, ≥ 10× on conv 12×12 and on pooled conv 28×28 (:data:`TARGETS`).

Usage:
    python bench/bench_samplers.py --quick            # ~1 min on one core
    python bench/bench_samplers.py --quick --num-chains 100,1000,4000 --backends annealed,raw-sa
    python bench/bench_samplers.py --quick --kl --models dense --backends annealed,raw-sa
    python bench/bench_samplers.py --quick --chains 1000 --backends "" --breakdown --profile
    python bench/bench_samplers.py --threads 2 --chains 500 --sweeps 50
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from dwave.samplers import SimulatedAnnealingSampler  # noqa: E402

from rbm import BernoulliRBM, ConvRBM  # noqa: E402
from sampling import kernels, make_sampler  # noqa: E402
from sampling.bqm import spec_to_bqm  # noqa: E402
from sampling.schedules import beta_schedule, sa_parameters  # noqa: E402

RAW = "raw SA (Gibbs, random order)"
RAW_DEFAULT = "raw SA (Metropolis, seq.)"
TORCH_PATH = "annealed (pure torch)"
#: Issue 19's targets for ``annealed`` / raw SA samples/s at 1,000 chains, one thread.
TARGETS = {"conv 12x12, 8 filters 5x5": 10, "conv 28x28, 16 filters 5x5": 15,
           "pooled conv 28x28, 16 filters 5x5, pool 2": 10}


def make_models(seed: int = 0) -> dict[str, tuple[torch.nn.Module, tuple[int, ...]]]:
    """The six benchmark models with small random weights (N(0, 0.05²)), visible bias -1."""
    torch.manual_seed(seed)
    models = {
        "dense 784x128": (BernoulliRBM(784, 128), (784,)),
        "conv 12x12, 8 filters 5x5": (ConvRBM(1, 8, 5), (1, 12, 12)),
        "conv 28x28, 16 filters 5x5": (ConvRBM(1, 16, 5), (1, 28, 28)),
        "pooled conv 12x12, 8 filters 5x5, pool 2": (ConvRBM(1, 8, 5, pool_size=2), (1, 12, 12)),
        "pooled conv 28x28, 16 filters 5x5, pool 2": (ConvRBM(1, 16, 5, pool_size=2), (1, 28, 28)),
        "pooled conv 16x12x12, 32 filters 5x5, pool 2": (ConvRBM(16, 32, 5, pool_size=2),
                                                         (16, 12, 12)),
    }
    with torch.no_grad():
        for model, _ in models.values():
            model.weight.normal_(0.0, 0.05)
            model.visible_bias.fill_(-1.0)
    return models


def interleaved(
    runs: dict[str, Callable[[], object]],
    repeat: int,
    warmups: dict[str, Callable[[], object]] | None = None,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and thread-CPU times of ``repeat`` rounds, each calling every run once in a rotated
    order; ``warmups`` (default: the runs themselves) are called once first.

    Interleaving spreads the drift of a shared, loaded machine over all backends alike.
    """
    warmups = warmups or {}
    for label, fn in runs.items():
        warmups.get(label, fn)()
    labels = list(runs)
    wall: dict[str, list[float]] = {label: [] for label in labels}
    cpu: dict[str, list[float]] = {label: [] for label in labels}
    for r in range(repeat):
        for label in labels[r % len(labels):] + labels[: r % len(labels)]:
            start, start_cpu = time.perf_counter(), time.thread_time()
            runs[label]()
            cpu[label].append(time.thread_time() - start_cpu)
            wall[label].append(time.perf_counter() - start)
    return wall, cpu


def without_kernels(fn, *args):
    """``fn(*args)`` on the pure-torch path (:func:`sampling.kernels.set_enabled`)."""
    previous = kernels.set_enabled(False)
    try:
        return fn(*args)
    finally:
        kernels.set_enabled(previous)


def bench_model(name, model, canvas, chains, sweeps, repeat, backends) -> list[dict]:
    rows = []
    hidden = model.hidden_shape(canvas)
    units = math.prod(canvas) + math.prod(hidden)
    data = (torch.rand(chains, *canvas, generator=torch.Generator().manual_seed(1)) < 0.2).float()
    betas = beta_schedule("linear", 1.0, sweeps)

    start = time.perf_counter()
    bqm = spec_to_bqm(model.to_qm(canvas))
    build_s = time.perf_counter() - start
    raw = SimulatedAnnealingSampler()
    seeds = iter(range(10**6))
    warm_reads = min(chains, 10)  # SA's cost per read is flat: warm it up cheaply

    def raw_sa(reads: int = chains) -> object:
        return raw.sample(bqm, num_reads=reads, seed=next(seeds), **sa_parameters(betas))

    def raw_sa_default(reads: int = chains) -> object:
        return raw.sample(bqm, num_reads=reads, seed=next(seeds), beta_schedule_type="custom",
                          beta_schedule=betas)

    runs: dict[str, Callable[[], object]] = {}
    warmups: dict[str, Callable[[], object]] = {}
    samplers = {}
    for backend in backends:
        if backend == "raw-sa":
            runs[RAW] = raw_sa
            warmups[RAW] = lambda: raw_sa(warm_reads)
        elif backend == "raw-sa-default":
            runs[RAW_DEFAULT] = raw_sa_default
            warmups[RAW_DEFAULT] = lambda: raw_sa_default(warm_reads)
        elif backend == "annealed-torch":  # the annealer on its pure-torch path
            sampler = make_sampler("annealed", num_chains=chains, seed=0, num_sweeps=sweeps,
                                   schedule="linear")
            runs[TORCH_PATH] = lambda s=sampler: without_kernels(s.sample, model, data)
        else:
            options = {"k": sweeps} if backend in ("cd", "pcd") else {
                "num_sweeps": sweeps, "schedule": "linear"}
            sampler = make_sampler(backend, num_chains=chains, seed=0, **options)
            samplers[backend] = sampler
            runs[backend] = lambda s=sampler: s.sample(model, data)
    wall, cpu = interleaved(runs, repeat, warmups)
    reference = statistics.median(wall[RAW]) if RAW in wall else None
    reference_cpu = statistics.median(cpu[RAW]) if RAW in cpu else None
    for label, values in wall.items():
        sec = statistics.median(values)
        cpu_sec = statistics.median(cpu[label])
        row = {
            "model": name, "backend": label, "chains": chains, "sweeps": sweeps,
            "n_vars": units, "seconds": sec, "cpu_seconds": cpu_sec,
            "samples_per_s": chains / sec, "updates_per_s": chains * sweeps * units / sec,
            "us_per_chain_sweep_cpu": 1e6 * cpu_sec / (chains * sweeps),
            "vs_raw": None if reference is None else reference / sec,
            "vs_raw_cpu": None if reference_cpu is None else reference_cpu / cpu_sec,
            "bqm_build_s": build_s,
        }
        if label == "sa" and RAW in wall:  # paired per round: robust to load drift
            row["paired_time_ratio"] = statistics.median(
                a / b for a, b in zip(values, wall[RAW], strict=True))
            info = samplers["sa"].last_info
            row["outside_sa_s"] = info["seconds"] - info["sa_seconds"]
        rows.append(row)
    return rows


def kl_check(sweeps: int, num_samples: int, seed: int = 0) -> list[dict]:
    """KL / TV of ``annealed`` and raw SA against the exact marginals at equal sweeps.

    The model is the strongly coupled dense 10×6 RBM of the statistical tests (weights
    N(0, 2²), biases N(0, 0.5²), seed 4), at β = 1 with the benchmark's linear schedule.
    """
    from sampling.bqm import sampleset_to_array
    from sampling.diagnostics import compare_to_exact, state_index
    from sampling.exact import exact_marginal

    gen = torch.Generator().manual_seed(4)
    model = BernoulliRBM(10, 6)
    with torch.no_grad():
        model.weight.copy_(2.0 * torch.randn(10, 6, generator=gen))
        model.visible_bias.copy_(0.5 * torch.randn(10, generator=gen))
        model.hidden_bias.copy_(0.5 * torch.randn(6, generator=gen))
    canvas = (10,)
    betas = beta_schedule("linear", 1.0, sweeps)
    exact = {}
    for side in ("visible", "hidden"):
        states, probs, _ = exact_marginal(model, side, canvas, 1.0)
        flat = states.reshape(len(states), -1).numpy()
        exact[side] = np.zeros(1 << flat.shape[1])
        exact[side][state_index(flat)] = probs.numpy()

    sampler = make_sampler("annealed", num_sweeps=sweeps, schedule="linear",
                           num_chains=num_samples, seed=seed)
    v, h = sampler.sample(model, torch.zeros(1, *canvas))
    tv_, th_ = without_kernels(make_sampler("annealed", num_sweeps=sweeps, schedule="linear",
                                            num_chains=num_samples, seed=seed).sample,
                               model, torch.zeros(1, *canvas))
    spec = model.to_qm(canvas)
    sampleset = SimulatedAnnealingSampler().sample(
        spec_to_bqm(spec), num_reads=num_samples, seed=seed, **sa_parameters(betas))
    sv, sh = spec.split(sampleset_to_array(sampleset, spec.num_variables))
    rows = []
    for label, (xv, xh) in (("annealed", (v.numpy(), h.numpy())),
                            (TORCH_PATH, (tv_.numpy(), th_.numpy())), (RAW, (sv, sh))):
        row = {"backend": label, "sweeps": sweeps, "n": num_samples}
        for side, x in (("visible", xv), ("hidden", xh)):
            x = np.asarray(x).reshape(len(x), -1).astype(np.int8)
            row[side] = compare_to_exact(x, exact[side])
        rows.append(row)
    return rows


def _median_cpu(fn: Callable[[], object], reps: int = 15, inner: int = 3) -> float:
    fn()
    times = []
    for _ in range(reps):
        start = time.thread_time()
        for _ in range(inner):
            fn()
        times.append((time.thread_time() - start) / inner)
    return statistics.median(times)


def breakdown(name: str, model, canvas, chains: int, sweeps: int) -> str:
    """Thread-CPU time of each step of a sweep, per chain, next to a floor and raw SA.

    The floor is what no torch implementation of a block-Gibbs sweep on this thread can beat:
    one generator draw of 32 random bits and one sigmoid per unit, plus the multiply-adds of the
    two products (dense: 2·n_v·n_h each; conv: 2·K·H'·W'·w², C = 1) at the thread's sgemm peak.
    Uses the models' internal sampling steps (``_scaled_*_logits``, ``rbm.base._bernoulli_``).
    """
    from rbm.base import _bernoulli_
    from sampling.gibbs import block_gibbs, chunk_size, random_visible

    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    peak = 2 * 2048**3 / _median_cpu(lambda: a @ b, reps=5, inner=1)
    bits = torch.empty(1 << 18, dtype=torch.int64)
    bit_ns = 1e9 * _median_cpu(lambda: bits.random_(-(2**63), None, generator=gen)) / (2 << 18)
    x = torch.rand(1 << 19)
    sig_ns = 1e9 * _median_cpu(lambda: x.sigmoid_()) / x.numel()

    hidden = model.hidden_shape(canvas)
    nv, nh = math.prod(canvas), math.prod(hidden)
    batch = chunk_size(chains, nv + nh, torch.device("cpu"))
    v = (torch.rand(batch, *canvas, generator=gen) < 0.3).float()
    h = model.sample_h_given_v(v)
    flops = 2 * nv * nh if len(canvas) == 1 else 2 * nh * math.prod(model.weight.shape[1:])
    h_logits = _median_cpu(lambda: model._scaled_hidden_logits(v, 0.5))
    v_logits = _median_cpu(lambda: model._scaled_visible_logits(h, 0.5))
    steps = {
        "h logits": h_logits,
        "h sigmoid + sample": _median_cpu(
            lambda: _bernoulli_(model._scaled_hidden_logits(v, 0.5).sigmoid_(), gen)) - h_logits,
        "v logits": v_logits,
        "v sigmoid + sample": _median_cpu(
            lambda: _bernoulli_(model._scaled_visible_logits(h, 0.5).sigmoid_(), gen)) - v_logits,
    }
    betas = beta_schedule("linear", 1.0, sweeps).tolist()
    whole = _median_cpu(lambda: block_gibbs(
        model, random_visible((chains, *canvas), gen, torch.float32, torch.device("cpu")),
        betas, gen), reps=3, inner=1) / (chains * sweeps)
    bqm = spec_to_bqm(model.to_qm(canvas))
    reads = min(chains, 200)  # SA has a per-call cost too: too few reads would inflate it
    sa = _median_cpu(lambda: SimulatedAnnealingSampler().sample(
        bqm, num_reads=reads, seed=1, **sa_parameters(betas)), reps=3, inner=1) / (reads * sweeps)
    units = nv + nh
    floor_bits, floor_sig, floor_flops = units * bit_ns / 1e3, units * sig_ns / 1e3, 2 * flops / peak * 1e6
    floor = floor_bits + floor_sig + floor_flops
    lines = [f"{name}: {nv} + {nh} units, chunks of {batch} chains; µs of thread CPU time per "
             f"chain-sweep (median); sgemm 2048^3 {peak / 1e9:.0f} GFLOP/s, 32 random bits "
             f"{bit_ns:.2f} ns, sigmoid {sig_ns:.2f} ns"]
    for label, t in steps.items():
        rate = f"  ({flops / (t / batch) / 1e9:.0f} GFLOP/s on {flops / 1e3:.0f} kFLOP)" \
            if label.endswith("logits") else ""
        lines.append(f"  {label:22s} {1e6 * t / batch:8.2f}{rate}")
    lines.append(f"  {'whole block_gibbs':22s} {1e6 * whole:8.2f}  ({chains} chains, {sweeps} sweeps)")
    lines.append(f"  floor: bits {floor_bits:.2f} + sigmoid {floor_sig:.2f} + FLOPs at peak "
                 f"{floor_flops:.2f} = {floor:.2f}")
    lines.append(f"  raw SA {1e6 * sa:.1f} per chain-sweep: achieved {sa / whole:.1f}x, ceiling "
                 f"{1e6 * sa / floor:.1f}x; 50x needs {1e6 * sa / 50:.2f}")
    return "\n".join(lines)


def profile(name: str, model, canvas, chains: int, sweeps: int) -> str:
    """torch.profiler table (self CPU time per op) of one ``annealed`` call."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    sampler = make_sampler("annealed", num_sweeps=sweeps, schedule="linear", num_chains=chains,
                           seed=0)
    data = torch.zeros(1, *canvas)
    sampler.sample(model, data)
    with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        sampler.sample(model, data)
    table = prof.key_averages(group_by_input_shape=True).table(
        sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=28,
        max_shapes_column_width=50)
    return f"{name}, one annealed call ({chains} chains x {sweeps} sweeps):\n{table}"


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | backend | chains × sweeps | seconds | CPU s | samples/s | spin-updates/s "
        "| × raw SA | × raw SA (CPU) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        ratio = "" if r["vs_raw"] is None else f"{r['vs_raw']:.2f}"
        ratio_cpu = "" if r["vs_raw_cpu"] is None else f"{r['vs_raw_cpu']:.2f}"
        lines.append(
            f"| {r['model']} ({r['n_vars']} vars) | {r['backend']} | {r['chains']} × {r['sweeps']} "
            f"| {r['seconds']:.3f} | {r['cpu_seconds']:.3f} | {r['samples_per_s']:,.0f} "
            f"| {r['updates_per_s']:.3g} | {ratio} | {ratio_cpu} |"
        )
    return "\n".join(lines)


def chains_table(rows: list[dict]) -> str:
    """``annealed`` against raw SA for every (model, chain count) measured."""
    by = {(r["model"], r["chains"], r["backend"]): r for r in rows}
    lines = [
        "| model | chains | annealed samples/s | raw SA samples/s | µs / chain-sweep (CPU): "
        "annealed | raw SA | × raw SA | × raw SA (CPU) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (model, chains, backend), r in by.items():
        if backend != "annealed" or (model, chains, RAW) not in by:
            continue
        sa = by[(model, chains, RAW)]
        lines.append(
            f"| {model} | {chains} | {r['samples_per_s']:,.0f} | {sa['samples_per_s']:,.0f} "
            f"| {r['us_per_chain_sweep_cpu']:.1f} | {sa['us_per_chain_sweep_cpu']:.1f} "
            f"| {r['vs_raw']:.1f} | {r['vs_raw_cpu']:.1f} |"
        )
    return "\n".join(lines)


def kl_markdown(rows: list[dict]) -> str:
    lines = [
        "| backend | sweeps | N | v: KL / floor | v: TV / floor | h: KL / floor | h: TV / floor |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        cells = []
        for side in ("visible", "hidden"):
            rep = r[side]
            cells += [f"{rep['kl']:.4f} / {rep['kl_floor']:.4f} ({rep['kl'] / rep['kl_floor']:.2f}×)",
                      f"{rep['tv']:.4f} / {rep['tv_floor']:.4f} ({rep['tv'] / rep['tv_floor']:.2f}×)"]
        lines.append(f"| {r['backend']} | {r['sweeps']} | {r['n']:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 chains × 10 sweeps, 1 repeat")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--chains", type=int, default=None, help="samples per call (default 500)")
    parser.add_argument("--num-chains", default=None,
                        help="comma-separated chain counts to sweep (overrides --chains)")
    parser.add_argument("--sweeps", type=int, default=None, help="sweeps per call (default 20)")
    parser.add_argument("--repeat", type=int, default=None, help="timed calls per row (median)")
    parser.add_argument(
        "--backends", default="cd,pcd,annealed,sa,raw-sa,raw-sa-default",
        help="comma-separated: cd, pcd, annealed, annealed-torch (its pure-torch path), sa, "
             "raw-sa, raw-sa-default",
    )
    parser.add_argument("--models", default="dense,conv12,conv28,conv12p2,conv28p2",
                        help="dense, conv12, conv28, conv12p2, conv28p2 (pooled, the default "
                             "layer 0 16x5p2 on 28x28), conv12c16p2 (the default layer 1, "
                             "32x5p2 on 16x12x12; not in the default list); empty: none")
    parser.add_argument("--kl", action="store_true",
                        help="also check KL/TV of annealed (compiled and pure torch) and raw SA at the same "
                             "sweeps")
    parser.add_argument("--kl-samples", type=int, default=20_000, help="samples of --kl")
    parser.add_argument("--breakdown", action="store_true",
                        help="per-step CPU time of a sweep, the floor it implies, raw SA")
    parser.add_argument("--profile", action="store_true",
                        help="torch.profiler table of one annealed call per model")
    args = parser.parse_args(argv)
    sweeps = args.sweeps or (10 if args.quick else 20)
    repeat = args.repeat or (1 if args.quick else 3)
    if args.num_chains:
        chain_counts = [int(c) for c in args.num_chains.split(",") if c.strip()]
    else:
        chain_counts = [args.chains or (100 if args.quick else 500)]

    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    print(f"torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}, "
          f"{os.cpu_count()} CPUs ({platform.machine()}), load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    given = sys.argv[1:] if argv is None else argv
    print(f"command: python bench/bench_samplers.py {' '.join(given)}")
    keys = {"dense": "dense 784x128", "conv12": "conv 12x12, 8 filters 5x5",
            "conv28": "conv 28x28, 16 filters 5x5",
            "conv12p2": "pooled conv 12x12, 8 filters 5x5, pool 2",
            "conv28p2": "pooled conv 28x28, 16 filters 5x5, pool 2",
            "conv12c16p2": "pooled conv 16x12x12, 32 filters 5x5, pool 2"}
    chosen = [k.strip() for k in args.models.split(",") if k.strip()]
    unknown = sorted(set(chosen) - set(keys))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(keys)}")
    models = make_models()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    known = {"cd", "pcd", "annealed", "annealed-torch", "sa", "raw-sa", "raw-sa-default"}
    if sorted(set(backends) - known):
        parser.error(f"unknown backend(s) {', '.join(sorted(set(backends) - known))}; choose "
                     f"from {', '.join(sorted(known))}")
    rows = []
    for key in chosen:
        name = keys[key]
        model, canvas = models[name]
        for chains in chain_counts if backends else []:
            rows += bench_model(name, model, canvas, chains, sweeps, repeat, backends)
            build_ms = 1e3 * rows[-1]["bqm_build_s"]
            print(f"{name}, {chains} chains: BQM build (to_qm + from_numpy_vectors) "
                  f"{build_ms:.1f} ms; load average {os.getloadavg()[0]:.2f}", flush=True)
    if rows:
        print()
        print(markdown(rows))
    if len(chain_counts) > 1:
        print()
        print(chains_table(rows))
    by = {(r["model"], r["chains"], r["backend"]): r for r in rows}
    print()
    for name, chains in {(r["model"], r["chains"]): None for r in rows}:
        if (name, chains, RAW) not in by:
            continue
        parts = []
        if (name, chains, "annealed") in by:
            ann = by[(name, chains, "annealed")]
            parts.append(f"annealed/raw SA samples/s = {ann['vs_raw']:.1f}x wall, "
                         f"{ann['vs_raw_cpu']:.1f}x CPU time (issue 19 target >= "
                         f"{TARGETS.get(name, '-')})")
        if (name, chains, "sa") in by:
            sa = by[(name, chains, "sa")]
            parts.append(f"sa/raw SA time = {sa['paired_time_ratio']:.3f} (median of paired "
                         f"rounds; target <= 1.2), sa time outside dwave-samplers "
                         f"{1e3 * sa['outside_sa_s']:.0f} ms of {1e3 * sa['seconds']:.0f} ms")
        print(f"{name}, {chains} chains: " + "; ".join(parts))
    for key in [k.strip() for k in args.models.split(",") if k.strip()]:
        model, canvas = models[keys[key]]
        if args.breakdown:
            print()
            print(breakdown(keys[key], model, canvas, max(chain_counts), sweeps))
        if args.profile:
            print()
            print(profile(keys[key], model, canvas, max(chain_counts), sweeps))
    if args.kl:
        print()
        print(f"KL at equal sweeps: dense 10x6 RBM, weights N(0, 2^2), beta 1, linear schedule "
              f"0.1 -> 1, {sweeps} sweeps, {args.kl_samples} samples each")
        print(kl_markdown(kl_check(sweeps, args.kl_samples)))
    print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
