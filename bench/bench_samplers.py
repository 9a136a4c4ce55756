"""Throughput of the negative-phase samplers, next to raw dwave-samplers SA (not a test).

For each model (a dense 784×128 RBM, a conv RBM on 12×12 with 8 filters 5×5 and one on 28×28 with
16 filters 5×5) and each backend, one call draws ``--chains`` samples with ``--sweeps`` sweeps; the
table gives samples/s and spin-updates/s (chains × sweeps × (n_visible + n_hidden) / seconds, the
same count for block Gibbs and for single-spin SA) and the ratio to **raw SA**: dwave-samplers'
``SimulatedAnnealingSampler.sample`` on the same, pre-built BQM with the same schedule, the same
number of sweeps and the same MCMC settings as the ``sa`` backend (Gibbs acceptance, random order).
``raw SA (Metropolis, seq.)`` is the library's faster optimiser-style update order, for reference.

Issue 4 targets: ``annealed`` ≥ 50× raw SA's samples/s at equal sweeps on CPU; ``sa`` within 1.2×
of raw SA's time.

Usage:
    python bench/bench_samplers.py --quick            # ~1 min on one core
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

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from dwave.samplers import SimulatedAnnealingSampler  # noqa: E402

from rbm import BernoulliRBM, ConvRBM  # noqa: E402
from sampling import make_sampler  # noqa: E402
from sampling.bqm import spec_to_bqm  # noqa: E402
from sampling.sa import sa_parameters  # noqa: E402
from sampling.schedules import beta_schedule  # noqa: E402


RAW = "raw SA (Gibbs, random order)"


def make_models(seed: int = 0) -> dict[str, tuple[torch.nn.Module, tuple[int, ...]]]:
    """The three benchmark models with small random weights (N(0, 0.05²)), visible bias -1."""
    torch.manual_seed(seed)
    models = {
        "dense 784x128": (BernoulliRBM(784, 128), (784,)),
        "conv 12x12, 8 filters 5x5": (ConvRBM(1, 8, 5), (1, 12, 12)),
        "conv 28x28, 16 filters 5x5": (ConvRBM(1, 16, 5), (1, 28, 28)),
    }
    with torch.no_grad():
        for model, _ in models.values():
            model.weight.normal_(0.0, 0.05)
            model.visible_bias.fill_(-1.0)
    return models


def interleaved(runs: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    """Wall times of ``repeat`` rounds, each calling every run once in a rotated order.

    Interleaving spreads the drift of a shared, loaded machine over all backends alike.
    """
    for fn in runs.values():
        fn()  # warm-up
    labels = list(runs)
    times: dict[str, list[float]] = {label: [] for label in labels}
    for r in range(repeat):
        for label in labels[r % len(labels):] + labels[: r % len(labels)]:
            start = time.perf_counter()
            runs[label]()
            times[label].append(time.perf_counter() - start)
    return times


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

    def raw_sa() -> object:
        return raw.sample(bqm, num_reads=chains, seed=next(seeds), **sa_parameters(betas))

    def raw_sa_default() -> object:
        return raw.sample(bqm, num_reads=chains, seed=next(seeds), beta_schedule_type="custom",
                          beta_schedule=betas)

    runs: dict[str, Callable[[], object]] = {}
    samplers = {}
    for backend in backends:
        if backend == "raw-sa":
            runs[RAW] = raw_sa
        elif backend == "raw-sa-default":
            runs["raw SA (Metropolis, seq.)"] = raw_sa_default
        else:
            options = {"k": sweeps} if backend in ("cd", "pcd") else {
                "num_sweeps": sweeps, "schedule": "linear"}
            sampler = make_sampler(backend, num_chains=chains, seed=0, **options)
            samplers[backend] = sampler
            runs[backend] = lambda s=sampler: s.sample(model, data)
    times = interleaved(runs, repeat)
    reference = statistics.median(times[RAW]) if RAW in times else None
    for label, values in times.items():
        sec = statistics.median(values)
        row = {
            "model": name, "backend": label, "chains": chains, "sweeps": sweeps,
            "n_vars": units, "seconds": sec, "samples_per_s": chains / sec,
            "updates_per_s": chains * sweeps * units / sec,
            "vs_raw": None if reference is None else reference / sec,
            "bqm_build_s": build_s,
        }
        if label == "sa" and RAW in times:  # paired per round: robust to load drift
            row["paired_time_ratio"] = statistics.median(
                a / b for a, b in zip(values, times[RAW], strict=True))
            info = samplers["sa"].last_info
            row["outside_sa_s"] = info["seconds"] - info["sa_seconds"]
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | backend | chains × sweeps | seconds | samples/s | spin-updates/s | × raw SA |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        ratio = "" if r["vs_raw"] is None else f"{r['vs_raw']:.2f}"
        lines.append(
            f"| {r['model']} ({r['n_vars']} vars) | {r['backend']} | {r['chains']} × {r['sweeps']} "
            f"| {r['seconds']:.3f} | {r['samples_per_s']:,.0f} | {r['updates_per_s']:.3g} | {ratio} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 chains × 10 sweeps, 1 repeat")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--chains", type=int, default=None, help="samples per call (default 500)")
    parser.add_argument("--sweeps", type=int, default=None, help="sweeps per call (default 20)")
    parser.add_argument("--repeat", type=int, default=None, help="timed calls per row (median)")
    parser.add_argument(
        "--backends", default="cd,pcd,annealed,sa,raw-sa,raw-sa-default",
        help="comma-separated: cd, pcd, annealed, sa, raw-sa, raw-sa-default",
    )
    parser.add_argument("--models", default="dense,conv12,conv28", help="dense, conv12, conv28")
    args = parser.parse_args(argv)
    chains = args.chains or (100 if args.quick else 500)
    sweeps = args.sweeps or (10 if args.quick else 20)
    repeat = args.repeat or (1 if args.quick else 3)

    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    print(f"torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}, "
          f"{os.cpu_count()} CPUs ({platform.machine()}), load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    given = sys.argv[1:] if argv is None else argv
    print(f"command: python bench/bench_samplers.py {' '.join(given)}")
    keys = {"dense": "dense 784x128", "conv12": "conv 12x12, 8 filters 5x5",
            "conv28": "conv 28x28, 16 filters 5x5"}
    models = make_models()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    rows = []
    for key in args.models.split(","):
        name = keys[key.strip()]
        model, canvas = models[name]
        rows += bench_model(name, model, canvas, chains, sweeps, repeat, backends)
        build_ms = 1e3 * rows[-1]["bqm_build_s"]
        print(f"{name}: BQM build (to_qm + from_numpy_vectors) {build_ms:.1f} ms", flush=True)
    print()
    print(markdown(rows))
    by = {(r["model"], r["backend"]): r for r in rows}
    print()
    for name in {r["model"]: None for r in rows}:
        if (name, RAW) not in by:
            continue
        parts = []
        if (name, "annealed") in by:
            parts.append(f"annealed/raw SA samples/s = {by[(name, 'annealed')]['vs_raw']:.1f}x "
                         "(target >= 50)")
        if (name, "sa") in by:
            sa = by[(name, "sa")]
            parts.append(f"sa/raw SA time = {sa['paired_time_ratio']:.3f} (median of paired "
                         f"rounds; target <= 1.2), sa time outside dwave-samplers "
                         f"{1e3 * sa['outside_sa_s']:.0f} ms of {1e3 * sa['seconds']:.0f} ms")
        print(f"{name}: " + "; ".join(parts))


if __name__ == "__main__":
    main()
