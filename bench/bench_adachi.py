"""Adachi & Henderson's annealer-trained deep belief net, as published, on coarse-grained MNIST
(issue 11).

Adachi & Henderson (arXiv:1510.06356) pretrained a deep belief net of *dense* RBM layers on a
coarse-grained MNIST, drawing the negative phase of every RBM from a D-Wave (RBMs small enough to
embed on the chip, broken chains resolved by majority vote, samples rescaled by a calibrated
effective temperature), then fine-tuned the net as a classifier with backpropagation. Headline:
comparable or better accuracy with significantly fewer generative iterations than CD. Job & Adachi
(arXiv:2009.00134) reproduced it on newer hardware and found CD-k with more steps and another
optimizer still behind, but simulated annealing with a two-sweep quench (one hot sweep, one at the
target β) matching the annealer.

The protocol here (every number is a flag; defaults in parentheses). The papers' full texts were
not reachable (only their abstracts), so layer sizes, learning rates and iteration counts are ours:

* data: ``mnist5k`` (4,000 train / 1,000 test real MNIST digits), coarse-grained by block
  averaging to 8×8 (``--resize``) and binarised at 0.3 (``--threshold``; 19.5 % of pixels on,
  a logistic regression on them reaches 80 %; at 0.5 it is 69 %, 6×6 at 0.3 67 %). Grey
  intensities used as probabilities do not work for coarse-grained images: a grey pixel's
  variance is far below the p(1 - p) of the binary negative samples, and the RBM weights stayed
  at their N(0, 0.01²) init over 1000 CD-1 updates (measured on 6×6);
* DBN ``fc32,fc32`` (``--layers``): dense RBMs 64×32 and 32×32 (32×32: what the paper fitted on
  its chip; the 64×32 bottom RBM embeds on a Pegasus P16 mock, chains of up to 6 qubits);
* greedy pretraining: layer 0 on the images, layer 1 on layer 0's hidden probabilities, each for
  N minibatch updates (batch 64, SGD lr 0.1 as in Hinton's practical guide for binary RBMs,
  momentum 0.9, weight decay 1e-4), N in ``--iters`` (10, 30, 100, 300, 1000 per layer).
  "Generative iterations" are updates *per layer* (the DBN as a whole gets 2N). Layer 0 is
  trained once up to max N and snapshotted at every checkpoint; for each checkpoint, layer 1 is
  trained from the same initial weights for N updates on the snapshot's features, so every
  checkpoint is an honest N-update greedy DBN. Within a seed every sampler sees the same initial
  weights and the same minibatches;
* negative phase, one sampler per layer (fresh for each layer-1 run), all aimed at β = 1:
  ``cd1``, ``cd10`` (block Gibbs from the data), ``pcd`` (PCD-1, 64 persistent chains), ``sa``
  (dwave-samplers SA, 10 sweeps, linear β schedule 0.1 → 1: Boltzmann-correct), ``sa-quench``
  (Job & Adachi's two sweeps, β = 0.1 then 1, through the library's ``sa`` sampler, which
  scans every unit once per sweep: ``sampling.schedules.sa_parameters``), ``gibbs-quench`` (the
  same two-sweep schedule as block Gibbs from uniform noise, the library's ``annealed`` sampler:
  every unit updated once per sweep as well), ``mock-qpu`` (Pegasus P16
  ``MockDWaveSampler`` whose substitute samples ``exp(-3 · E_programmed)``: a hidden hardware
  temperature factor ``hardware_beta=3``; initial guess ``beta_hw=1`` and ``calibrate=True``, so
  the backend learns β_hw from the samples by maximum pseudo-likelihood; majority-vote
  unembedding; embeddings cached in a temporary directory for the run). mock-qpu costs
  0.2-0.35 s per call, so it stops at N = 300 (``--mock-iters``); ``mock-qpu-noisy`` is the
  same mock with a real annealer's non-idealities (``sampling.qpu.mock.REALISTIC_NOISE``: control
  errors on h and J, per-qubit offsets, a drifting β) and ``mock-qpu-gauges`` adds 8 random
  spin-reversal transforms per call, the way Adachi & Henderson averaged the hardware's biases;
* fine-tuning, identical for every sampler and the no-pretraining baseline: the DBN becomes a
  sigmoid MLP (``CNN.from_stack(stack, 10, bias_init="copy", weight_scale=None,
  activation="sigmoid", head_units=0, dropout=0)``: the RBM weights and hidden biases as they
  are, a random softmax layer on top drawn from the same seed for every sampler: the classic
  DBN → classifier step); SGD (cnn.finetune: Nesterov momentum 0.9, cosine schedule, weight decay
  5e-4) for ``--finetune-epochs`` (10) at ``--lr-finetune`` (0.3), no augmentation. This short
  fine-tune is the regime where pretraining can matter (at lr 1, 20 epochs, all end near 85 %).
  The baseline is the same MLP with PyTorch's default initialisation.

A negative-phase check closes the run: on the layer-0 RBM after max N CD-1 updates, the mean
free energy of every sampler's samples against a 1000-sweep SA reference (``sample_quality``).

Reported: test accuracy vs N and vs the wall time of pretraining (sampler + updates, both layers;
its CPU time too, which a loaded machine does not inflate), mean ± std over ``--seeds`` (3). Outputs in ``--out`` (bench/results/): ``adachi.json`` (raw
results: every seed, sampler, checkpoint, fine-tuning curve, mock-qpu calibration trace, machine),
``adachi.md`` (the table) and ``adachi.png``; ``--quick`` writes ``adachi_quick.*``.

Usage:

    python bench/bench_adachi.py            # the full run: 7.6 CPU-min on 1 thread (16 min wall
                                            # on 2 shared cores at load average 5-6)
    python bench/bench_adachi.py --quick    # smoke run, 2 seeds, N = 10, 30 (1.5-2.5 min)
    python bench/bench_adachi.py --samplers cd1,mock-qpu,mock-qpu-noisy,mock-qpu-gauges \
        --iters 10,30,100,300 --tag adachi_gauges   # the annealer's non-idealities and gauges
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from common import write_json  # noqa: E402

from sampling.qpu.mock import REALISTIC_NOISE  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: name → (make_sampler name, options). Every annealer aims at β = 1 (the default).
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "cd1": ("cd", {"k": 1}),
    "cd10": ("cd", {"k": 10}),
    "pcd": ("pcd", {"k": 1}),
    "sa": ("sa", {"num_sweeps": 10, "schedule": "linear"}),
    "sa-quench": ("sa", {"schedule": "quench"}),
    "gibbs-quench": ("annealed", {"schedule": "quench"}),
    "mock-qpu": ("mock-qpu", {"hardware_beta": 3.0, "beta_hw": 1.0, "calibrate": True,
                              "shape": (16,)}),
}
#: The same mock with a real annealer's non-idealities (sampling.qpu.mock.REALISTIC_NOISE:
#: control errors on h and J, per-qubit offsets, a drifting β), without and with spin-reversal
#: gauges (8 per call, reads split over them), as Adachi & Henderson averaged over gauges.
SAMPLERS["mock-qpu-noisy"] = ("mock-qpu", dict(SAMPLERS["mock-qpu"][1], **REALISTIC_NOISE))
SAMPLERS["mock-qpu-gauges"] = ("mock-qpu", dict(SAMPLERS["mock-qpu-noisy"][1],
                                                spin_reversal_transforms=8))
MOCKS = ("mock-qpu", "mock-qpu-noisy", "mock-qpu-gauges")
LABELS = {
    "none": "no pretraining",
    "cd1": "CD-1",
    "cd10": "CD-10",
    "pcd": "PCD-1",
    "sa": "SA, 10 sweeps linear β 0.1→1",
    "sa-quench": "SA quench (2 full sweeps, dwave-samplers)",
    "gibbs-quench": "block-Gibbs quench (2 full sweeps)",
    "mock-qpu": "mock QPU (β_hw=3 hidden, calibrated)",
    "mock-qpu-noisy": "mock QPU, non-ideal (control errors, offsets, drift)",
    "mock-qpu-gauges": "mock QPU, non-ideal, 8 gauges per call",
}
COLORS = {"none": "black", "cd1": "tab:blue", "cd10": "tab:cyan", "pcd": "tab:purple",
          "sa": "tab:green", "sa-quench": "tab:olive", "gibbs-quench": "tab:orange", "mock-qpu": "tab:red",
          "mock-qpu-noisy": "tab:brown", "mock-qpu-gauges": "tab:pink"}


# ------------------------------------------------------------------------------------ helpers


def mean_std(values) -> tuple[float, float]:
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def pm(values, scale: float = 100.0, decimals: int = 1) -> str:
    m, s = mean_std(values)
    if math.isnan(m):
        return "–"
    return f"{scale * m:.{decimals}f} ± {scale * s:.{decimals}f}"


def machine_info(threads: int) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": threads,
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu_model"] = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    except OSError:
        pass
    return info


# ------------------------------------------------------------------------------ pretraining


class BatchStream:
    """Endless minibatch indices: one fresh random permutation per epoch, seeded."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size = n, batch_size
        self.gen = torch.Generator().manual_seed(seed)
        self.queue: list[torch.Tensor] = []

    def __next__(self) -> torch.Tensor:
        if not self.queue:
            self.queue = list(torch.randperm(self.n, generator=self.gen).split(self.batch_size))
            if len(self.queue) > 1 and len(self.queue[-1]) < self.batch_size:
                self.queue.pop()  # equal batch sizes: persistent chains keep their count
        return self.queue.pop(0)


def make_layer_sampler(name: str, layer_index: int, seed: int, cache_dir: str | None):
    from sampling import layer_sampler

    backend, options = SAMPLERS[name]
    options = dict(options, seed=seed * 100 + 1)  # layer i adds 7919·i (sampling.layer_sampler)
    if backend == "mock-qpu" and cache_dir:
        options["cache_dir"] = cache_dir  # embeddings found once per shape for all seeds
    return layer_sampler(backend, options, None, layer_index)


def train_layer(layer, data, sampler, iters: list[int], config, stream_seed: int,
                on_checkpoint=None, trace: list | None = None) -> tuple[float, float]:
    """``max(iters)`` minibatch updates of one RBM (the loop of rbm.pretrain.pretrain_layer,
    counted in updates instead of epochs); ``on_checkpoint(n, seconds, cpu_seconds)`` at every n
    in ``iters``. Returns the wall and the CPU time (this process) of sampling + updates."""
    from rbm.pretrain import DivergenceError, layer_loss, make_optimizer

    optimizer = make_optimizer(layer, config)
    stream = BatchStream(len(data), config.batch_size, stream_seed)
    seconds = cpu = 0.0
    wanted = set(iters)
    for it in range(1, max(iters) + 1):
        v_data = data[next(stream)]
        t0, c0 = time.perf_counter(), time.process_time()
        v_neg, _ = sampler.sample(layer, v_data)
        loss = layer_loss(layer, v_data, v_neg, config)
        if not torch.isfinite(loss):
            raise DivergenceError(f"loss became {loss.item()} at update {it}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seconds += time.perf_counter() - t0
        cpu += time.process_time() - c0
        if trace is not None:
            info = getattr(sampler, "last_info", {})
            trace.append({k: info.get(k) for k in ("beta_eff", "beta_hw", "beta_hw_calibrated",
                                                    "scale", "chain_break_fraction")})
        if it in wanted and on_checkpoint is not None:
            on_checkpoint(it, seconds, cpu)
    return seconds, cpu


def finetune_net(net, data, args, seed: int) -> list[dict[str, Any]]:
    from cnn import finetune

    return finetune(net, train=(data.x_train, data.y_train), test=(data.x_test, data.y_test),
                    epochs=args.finetune_epochs, lr=args.lr_finetune, batch_size=args.batch_size,
                    augment=0, seed=seed)


def dbn_classifier(stack, seed: int):
    from cnn import CNN

    # weight_scale=None: copy the RBM exactly (from_stack's default rescales each layer); the
    # random softmax layer is drawn from the same seed for every sampler
    torch.manual_seed(seed + 104729)
    return CNN.from_stack(stack, 10, bias_init="copy", weight_scale=None, activation="sigmoid",
                          head_units=0, dropout=0.0)


def run_sampler(name: str, seed: int, data, args, iters: list[int], cache_dir: str | None):
    """Greedy DBN pretraining with one sampler, fine-tuned at every checkpoint."""
    from rbm import build_stack
    from rbm.pretrain import PretrainConfig

    torch.manual_seed(seed)
    stack = build_stack(args.layers, tuple(data.x_train.shape[1:]))
    init = copy.deepcopy(stack.state_dict())  # identical initial weights for every sampler
    config = PretrainConfig(epochs=1, batch_size=args.batch_size, lr=args.lr_pretrain,
                            momentum=0.9, weight_decay=1e-4, seed=seed)
    x = data.x_train
    layer0 = stack.layers[0]
    layer0.init_visible_bias(x)
    snapshots: dict[int, tuple[dict, float]] = {}

    def keep(n, seconds, cpu):
        snapshots[n] = (copy.deepcopy(layer0.state_dict()), seconds, cpu)

    trace0: list = []
    sampler0 = make_layer_sampler(name, 0, seed, cache_dir)
    train_layer(layer0, x, sampler0, iters, config, stream_seed=seed * 31 + 0, on_checkpoint=keep,
                trace=trace0 if name in MOCKS else None)

    results = []
    for n in iters:
        stack.load_state_dict(init)
        stack.layers[0].load_state_dict(snapshots[n][0])
        seconds, cpu = snapshots[n][1], snapshots[n][2]
        traces = {"layer0": trace0[:n]} if name in MOCKS else {}
        for i in range(1, len(stack)):
            with torch.no_grad():
                xi = stack.transform(x, upto=i)
            layer = stack.layers[i]
            layer.init_visible_bias(xi)
            trace: list = []
            sampler = make_layer_sampler(name, i, seed, cache_dir)
            wall_i, cpu_i = train_layer(layer, xi, sampler, [n], config, stream_seed=seed * 31 + i,
                                        trace=trace if name in MOCKS else None)
            seconds, cpu = seconds + wall_i, cpu + cpu_i
            if name in MOCKS:
                traces[f"layer{i}"] = trace
        t0 = time.perf_counter()
        history = finetune_net(dbn_classifier(stack, seed), data, args, seed)
        results.append({
            "sampler": name, "seed": seed, "iters_per_layer": n, "pretrain_seconds": seconds,
            "pretrain_cpu_seconds": cpu,
            "finetune_seconds": time.perf_counter() - t0,
            "test_accuracy": history[-1]["test_accuracy"],
            "curve": [h["test_accuracy"] for h in history],
            **({"calibration": traces} if traces else {}),
        })
        print(f"  seed {seed} {name:9s} N={n:4d}: acc {100 * results[-1]['test_accuracy']:.2f} %, "
              f"pretrain {seconds:.1f} s", flush=True)
    return results


def run_baseline(seed: int, data, args) -> dict[str, Any]:
    from cnn import CNN
    from rbm import parse_layers

    torch.manual_seed(seed)
    net = CNN(parse_layers(args.layers), tuple(data.x_train.shape[1:]), 10, activation="sigmoid",
              head_units=0, dropout=0.0)
    t0 = time.perf_counter()
    history = finetune_net(net, data, args, seed)
    result = {"sampler": "none", "seed": seed, "iters_per_layer": 0, "pretrain_seconds": 0.0,
              "pretrain_cpu_seconds": 0.0,
              "finetune_seconds": time.perf_counter() - t0,
              "test_accuracy": history[-1]["test_accuracy"],
              "curve": [h["test_accuracy"] for h in history]}
    print(f"  seed {seed} none      N=   0: acc {100 * result['test_accuracy']:.2f} %", flush=True)
    return result


def sample_quality(data, args, samplers, cache_dir, calls: int = 10, keep: int = 5):
    """How close each negative phase is to the model it serves: on layer 0 after max N CD-1
    updates (seed 0), the mean free energy F(v) of each sampler's v_neg (64 chains, the last
    ``keep`` of ``calls`` calls, so persistent chains and the QPU calibration have warmed up),
    beside the data's and a long SA run's (1000 sweeps, linear β 0.1 → 1: the equilibrium
    reference). A sampler at β = 1 should match the reference; far above it means the
    negative phase is much hotter than the model (the gradient then keeps growing the weights)."""
    import sampling
    from rbm import build_stack
    from rbm.pretrain import PretrainConfig

    torch.manual_seed(0)
    layer = build_stack(args.layers, tuple(data.x_train.shape[1:])).layers[0]
    layer.init_visible_bias(data.x_train)
    config = PretrainConfig(epochs=1, batch_size=args.batch_size, lr=args.lr_pretrain,
                            momentum=0.9, weight_decay=1e-4, seed=0)
    n = max(int(s) for s in args.iters.split(","))
    train_layer(layer, data.x_train, make_layer_sampler("cd1", 0, 0, None), [n], config, 0)
    torch.manual_seed(0)
    v_data = data.x_train[: args.batch_size]
    out: dict[str, Any] = {"model": f"layer 0 after {n} CD-1 updates (seed 0)"}
    with torch.no_grad():
        out["data"] = float(layer.free_energy(data.x_train[:1000]).mean())
        ref = sampling.make_sampler("sa", num_sweeps=1000, schedule="linear", seed=12345)
        out["reference_sa_1000"] = statistics.fmean(
            float(layer.free_energy(ref.sample(layer, v_data)[0]).mean()) for _ in range(keep))
        for name in samplers:
            sampler = make_layer_sampler(name, 0, 0, cache_dir)
            values, seconds, beta_eff = [], [], []
            for call in range(calls):
                v_neg, _ = sampler.sample(layer, v_data)
                if call >= calls - keep:
                    values.append(float(layer.free_energy(v_neg).mean()))
                    seconds.append(float(sampler.last_info.get("seconds", float("nan"))))
                    beta_eff.append(float(sampler.last_info.get("beta_eff", float("nan"))))
            out[name] = {"mean_free_energy": statistics.fmean(values),
                         "seconds_per_call": statistics.fmean(seconds),
                         **({"beta_eff": statistics.fmean(beta_eff)} if name in MOCKS else {})}
    return out


def quality_markdown(q: dict[str, Any], samplers) -> str:
    lines = [f"Negative-phase check on {q['model']}: mean free energy F(v) per sample "
             "(lower = more probable under the model).", "",
             "| negative phase | mean F(v_neg) | minus equilibrium reference | s per call (64 chains) |",
             "| --- | --- | --- | --- |",
             f"| data (1000 training images) | {q['data']:.2f} | {q['data'] - q['reference_sa_1000']:+.2f} | – |",
             f"| reference: SA 1000 sweeps, linear β 0.1→1 | {q['reference_sa_1000']:.2f} | 0 | – |"]
    for name in samplers:
        r = q[name]
        extra = f" (β_eff {r['beta_eff']:.2f})" if "beta_eff" in r else ""
        lines.append(f"| {LABELS[name]}{extra} | {r['mean_free_energy']:.2f} | "
                     f"{r['mean_free_energy'] - q['reference_sa_1000']:+.2f} | {r['seconds_per_call']:.4f} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------- report


def summarise(results, samplers, iters) -> dict[str, dict[int, dict[str, Any]]]:
    table: dict[str, dict[int, dict[str, Any]]] = {}
    for name in ["none", *samplers]:
        rows = [r for r in results if r["sampler"] == name]
        table[name] = {}
        for n in ([0] if name == "none" else iters):
            sel = [r for r in rows if r["iters_per_layer"] == n]
            if not sel:
                continue
            table[name][n] = {
                "acc": [r["test_accuracy"] for r in sel],
                "seconds": [r["pretrain_seconds"] for r in sel],
                "cpu": [r["pretrain_cpu_seconds"] for r in sel],
            }
    return table


#: Paired comparisons the table reports when both sides ran: (sampler, against).
PAIRS = (("mock-qpu-noisy", "mock-qpu"), ("mock-qpu-gauges", "mock-qpu-noisy"),
         ("mock-qpu-gauges", "mock-qpu"))


def paired_markdown(results, samplers, iters) -> str:
    """Per-seed paired accuracy differences (points), mean [95 % t interval], against CD-1 and
    for :data:`PAIRS`; empty when fewer than 2 seeds or nothing to pair."""
    from cnn.features import mean_ci95

    acc = {(r["sampler"], r["iters_per_layer"], r["seed"]): 100.0 * r["test_accuracy"]
           for r in results}
    pairs = [(s, "cd1") for s in samplers if s != "cd1" and "cd1" in samplers]
    pairs += [(a, b) for a, b in PAIRS if a in samplers and b in samplers]
    rows = []
    for a, b in pairs:
        cells = []
        for n in iters:
            seeds = sorted(s for (name, m, s) in acc if name == a and m == n and (b, n, s) in acc)
            if len(seeds) < 2:
                cells.append("–")
                continue
            mean, half = mean_ci95([acc[(a, n, s)] - acc[(b, n, s)] for s in seeds])
            bold = "**" if abs(mean) > half else ""
            cells.append(f"{bold}{mean:+.2f} [{mean - half:+.2f}, {mean + half:+.2f}]{bold}")
        rows.append(f"| {LABELS[a]} − {LABELS[b]} | " + " | ".join(cells) + " |")
    if not rows:
        return ""
    head = "| paired difference (points) | " + " | ".join(f"N = {n}" for n in iters) + " |"
    return ("Paired by seed (same initial weights, minibatches and fine-tuning), mean [95 % t "
            "interval]; bold: the interval excludes 0.\n\n" + head + "\n|" + " --- |" * (len(iters) + 1)
            + "\n" + "\n".join(rows) + "\n")


def markdown(table, samplers, iters, mock_iters) -> str:
    headers = (["pretraining"] + [f"N = {n}" for n in iters]
               + ["pretrain wall s at max N", "pretrain CPU s at max N"])
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    base = table["none"][0]["acc"]
    lines.append("| " + " | ".join([LABELS["none"]] + [pm(base)] * len(iters) + ["0", "0"]) + " |")
    for name in samplers:
        cells = [LABELS[name]]
        for n in iters:
            cells.append(pm(table[name][n]["acc"]) if n in table[name] else "not run")
        top = max(table[name])
        m, s = mean_std(table[name][top]["seconds"])
        cells.append(f"{m:.1f} ± {s:.1f}" + (f" (N = {top})" if top != max(iters) else ""))
        m, s = mean_std(table[name][top]["cpu"])
        cells.append(f"{m:.1f} ± {s:.1f}" + (f" (N = {top})" if top != max(iters) else ""))
        lines.append("| " + " | ".join(cells) + " |")
    note = (f"\nTest accuracy (%) after fine-tuning, mean ± std over seeds; N = RBM updates per layer "
            f"(the DBN gets 2N). mock-qpu stops at N = {mock_iters}." if mock_iters < max(iters)
            else "\nTest accuracy (%) after fine-tuning, mean ± std over seeds; N = RBM updates per "
                 "layer (the DBN gets 2N).")
    return "\n".join(lines) + "\n" + note + "\n"


def plot(table, results, samplers, path: Path, title: str) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(17, 5))
    ax_n, ax_t, ax_cal = axes
    m0, s0 = mean_std(table["none"][0]["acc"])
    for ax in (ax_n, ax_t):
        ax.axhline(100 * m0, color=COLORS["none"], ls="--", lw=1, label=LABELS["none"])
        ax.axhspan(100 * (m0 - s0), 100 * (m0 + s0), color=COLORS["none"], alpha=0.08)
    for name in samplers:
        ns = sorted(table[name])
        acc = [mean_std(table[name][n]["acc"]) for n in ns]
        sec = [mean_std(table[name][n]["seconds"])[0] for n in ns]
        mean = [100 * a[0] for a in acc]
        std = [100 * a[1] for a in acc]
        kw = dict(color=COLORS[name], marker="o", ms=4, capsize=3, label=LABELS[name])
        ax_n.errorbar(ns, mean, yerr=std, **kw)
        ax_t.errorbar(sec, mean, yerr=std, **kw)
    ax_n.set_xscale("log")
    ax_n.set_xlabel("generative iterations N (RBM minibatch updates per layer)")
    ax_t.set_xscale("log")
    ax_t.set_xlabel("pretraining wall time, both layers (s, 1 thread, shared machine)")
    for ax in (ax_n, ax_t):
        ax.set_ylabel("test accuracy after fine-tuning (%)")
        ax.grid(alpha=0.3, which="both")
    ax_n.legend(fontsize=8, loc="lower right")
    ax_n.set_title("accuracy vs generative iterations")
    ax_t.set_title("accuracy vs pretraining wall time")
    # the mock QPU's temperature calibration, layer 0 of the longest run of each seed
    present = [m for m in MOCKS if any(r["sampler"] == m for r in results)]
    mock = [r for r in results if present and r["sampler"] == present[0] and "calibration" in r]
    if mock:
        longest = {}
        for r in mock:
            if r["seed"] not in longest or r["iters_per_layer"] > longest[r["seed"]]["iters_per_layer"]:
                longest[r["seed"]] = r
        for seed, r in sorted(longest.items()):
            trace = r["calibration"]["layer0"]
            calls = range(1, len(trace) + 1)
            ax_cal.plot(calls, [t["beta_eff"] for t in trace], color="tab:red", alpha=0.6, lw=1,
                        label="β_eff of the samples (MPL)" if seed == min(longest) else None)
            ax_cal.plot(calls, [t["beta_hw_calibrated"] for t in trace], color="tab:blue", alpha=0.6,
                        lw=1, label="calibrated β_hw estimate" if seed == min(longest) else None)
        ax_cal.axhline(1.0, color="tab:red", ls=":", lw=1, label="target β = 1")
        ax_cal.axhline(3.0, color="tab:blue", ls=":", lw=1, label="hidden hardware β = 3 (physical qubits)")
        ax_cal.set_xscale("log")
        ax_cal.set_xlabel("mock-QPU call (layer 0; one line per seed)")
        ax_cal.set_ylabel("inverse temperature")
        ax_cal.set_title(f"temperature calibration ({present[0]})")
        ax_cal.legend(fontsize=8)
        ax_cal.grid(alpha=0.3, which="both")
    else:
        ax_cal.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------- main


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="≤ 3 min smoke run: 2 seeds, N = 10, 30")
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--resize", default="8x8", help="coarse-graining by block averaging (default 8x8)")
    p.add_argument("--threshold", type=float, default=0.3,
                   help="binarise the coarse-grained images at this value; negative: keep intensities")
    p.add_argument("--layers", default="fc32,fc32", help="dense DBN layers (default fc32,fc32)")
    p.add_argument("--samplers", default=",".join(SAMPLERS), help="comma list of " + ", ".join(SAMPLERS))
    p.add_argument("--iters", default=None,
                   help="checkpoints N per layer (default 10,30,100,300,1000; quick: 10,30)")
    p.add_argument("--mock-iters", type=int, default=None,
                   help="largest N for mock-qpu, the slow one (default 300; quick: 30)")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr-pretrain", type=float, default=0.1)
    p.add_argument("--finetune-epochs", type=int, default=10)
    p.add_argument("--lr-finetune", type=float, default=0.3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    p.add_argument("--tag", default="adachi", help="output file stem (default adachi; --quick adds _quick)")
    p.add_argument("--from-json", default=None, metavar="FILE",
                   help="rewrite the .md and .png of an earlier run's JSON (nothing is run)")
    args = p.parse_args(argv)
    args.iters = args.iters or ("10,30" if args.quick else "10,30,100,300,1000")
    if args.mock_iters is None:
        args.mock_iters = 30 if args.quick else 300
    args.seeds = args.seeds or (2 if args.quick else 3)
    return args


def rerender(path: Path) -> int:
    """The markdown table (with its paired differences) and the plot of an earlier run."""
    import json

    try:
        record = json.loads(path.read_text())
        a, results = record["args"], record["results"]
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: --from-json {path}: not a bench_adachi results file ({exc})", file=sys.stderr)
        return 2
    samplers, iters = record["samplers"], record["iters"]
    table = summarise(results, samplers, iters)
    md = markdown(table, samplers, iters, record["mock_iters"]) + "\n" + paired_markdown(
        results, samplers, iters)
    m = record["machine"]
    header = (f"Adachi & Henderson DBN on {a['dataset']} {a['resize']} ({a['layers']}), "
              f"{a['seeds']} seeds, fine-tune {a['finetune_epochs']} epochs; total "
              f"{record['total_seconds'] / 60:.1f} min, torch threads {a['threads']}, load average "
              f"{m['load_average_start'][0]:.1f} → {m['load_average_end'][0]:.1f} on {os.cpu_count()} cores")
    qmd = quality_markdown(record["sample_quality"], samplers)
    path.with_suffix(".md").write_text(f"{header}\n\n`{record['command']}`\n\n{md}\n{qmd}")
    plot(table, results, samplers, path.with_suffix(".png"),
         f"DBN {a['layers']} on {a['dataset']} coarse-grained to {a['resize']}; mean ± std over "
         f"{a['seeds']} seeds; identical fine-tuning ({a['finetune_epochs']} epochs SGD, sigmoid)")
    print(f"{header}\n\n{md}\n{qmd}\nwrote {path.with_suffix('.md')}, .png")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.from_json:
        return rerender(Path(args.from_json))
    torch.set_num_threads(args.threads)
    print(f"torch.get_num_threads() = {torch.get_num_threads()}", flush=True)
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores",
          flush=True)
    import logging

    logging.getLogger("sampling").setLevel(logging.ERROR)  # range clipping warnings of the mock

    import imagedata

    data = imagedata.load_dataset(args.dataset, resize=args.resize, binarize=args.threshold >= 0,
                                  threshold=max(args.threshold, 0.0))
    iters = sorted({int(s) for s in args.iters.split(",")})
    samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]
    unknown = [s for s in samplers if s not in SAMPLERS]
    if unknown:
        print(f"error: unknown sampler(s) {unknown}; expected {list(SAMPLERS)}", file=sys.stderr)
        return 2
    mock_iters = min(args.mock_iters, max(iters))
    cache_dir = tempfile.mkdtemp(prefix="adachi-embeddings-")
    print(f"data {args.dataset} resized to {tuple(data.x_train.shape[1:])}: "
          f"{len(data.x_train)} train / {len(data.x_test)} test; layers {args.layers}; "
          f"N per layer {iters}; seeds {args.seeds}", flush=True)

    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    wall: dict[str, float] = {}
    for seed in range(args.seeds):
        results.append(run_baseline(seed, data, args))
        for name in samplers:
            its = [n for n in iters if n <= mock_iters] if name in MOCKS else iters
            t0 = time.perf_counter()
            results.extend(run_sampler(name, seed, data, args, its, cache_dir))
            wall[name] = wall.get(name, 0.0) + time.perf_counter() - t0
    quality = sample_quality(data, args, samplers, cache_dir)
    total = time.perf_counter() - started
    load_end = os.getloadavg()

    table = summarise(results, samplers, iters)
    suffix = "_quick" if args.quick else ""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python bench/bench_adachi.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    record = {
        "command": command, "args": vars(args), "iters": iters, "samplers": samplers,
        "sampler_options": {k: SAMPLERS[k] for k in samplers}, "mock_iters": mock_iters,
        "total_seconds": total, "wall_seconds_per_sampler": wall,
        "machine": {**machine_info(args.threads), "load_average_start": list(load),
                    "load_average_end": list(load_end)},
        "summary": {name: {str(n): {"acc_mean": mean_std(v["acc"])[0], "acc_std": mean_std(v["acc"])[1],
                                    "pretrain_seconds_mean": mean_std(v["seconds"])[0],
                                    "pretrain_cpu_seconds_mean": mean_std(v["cpu"])[0]}
                           for n, v in rows.items()} for name, rows in table.items()},
        "sample_quality": quality,
        "results": results,
    }
    path = out / f"{args.tag}{suffix}.json"
    write_json(path, record)
    print()
    rerender(path)  # the table, its paired differences and the plot, from what was just written
    print("wall time per sampler (all seeds, incl. fine-tuning): "
          + ", ".join(f"{k} {v:.0f} s" for k, v in wall.items()))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
