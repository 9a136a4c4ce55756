"""Does annealer pretraining help fine-tuning? (issue 7 part 3, issue 10's Rere et al. rows)

On mnist5k (4000 train / 1000 test), with full labels and with 10 % of the labels (pretraining
always sees all 4000 training images), this fine-tunes the ``16x5p2,32x5p2`` CNN of ``train.py``
from several initialisations under *identical* fine-tuning settings and reports test accuracy per
epoch over several seeds:

* ``random``      PyTorch's default init (``CNN(specs, ...)``);
* ``random-cal``  the same random network given the calibration that ``CNN.from_stack`` gives a
  pretrained one (bias shift to zero-mean pre-activations, per-layer scale to std
  ``weight_scale``; ``CNN.calibrate``) — the fair baseline for pretraining;
* ``cd``, ``pcd``  RBM stacks pretrained with CD-1 / PCD-1;
* ``annealed``    pretrained with the torch block-Gibbs annealer (β = 1, train.py's schedule);
* ``sa-quench``   pretrained with dwave-samplers SA, Job & Adachi's two-sweep ``quench``
  (``--full`` only: ≈ 3× the annealer's pretraining time, 10× CD-1's).

Every stack is pretrained ONCE per (sampler, seed) and reused for both label fractions. All
pretraining and fine-tuning settings are the defaults of ``pipeline.TrainConfig`` (``train.py``'s
flags) at run time (and printed), except the number of fine-tuning epochs (10 here, 20 with
``--full``; train.py's default is 20). Each run is a ``TrainConfig`` run through the pipeline's
own stages (``pipeline.build_stack``, ``pretrain``, ``build_cnn``, ``finetune``), the functions
``train.py`` calls, without a run directory.

Rere, Fanany & Arymurthy 2015 (issue 10): plain SGD vs SGD + simulated-annealing refinement of
the classifier after every minibatch (``finetune(..., sa_refine=SARefineConfig())``: σ = 5e-4,
halving cooling, 20 moves per temperature), from ``random`` and ``annealed`` init, same seeds;
the plain-SGD rows are the runs of the main grid (same settings, so the same runs).

Every random stream is seeded per seed: the CNN is built after ``torch.manual_seed(seed)``, so
``random``, ``random-cal`` and the pretrained CNNs of one seed share their (random) head, and all
of them see the same minibatch order, augmentation and dropout masks (``finetune`` seeds those):
differences are paired by seed.

    python bench/bench_finetune.py            # 10 epochs, 42 runs: 6.7 min (load 1.4), 19.5 min (load 8)
    python bench/bench_finetune.py --full     # 20 epochs, + sa-quench, 48 runs: 25.7 min (load 3-5)
    python bench/bench_finetune.py --quick    # smoke test: < 1 min (load 1), ~2 min (load 8)
    python bench/bench_finetune.py --full --from-json bench/results/finetune_full.json  # report only

(times on 2 shared AMD EPYC cores, one torch thread; docs/RESULTS.md sections 3 and 5.)

Outputs (``--out-dir``, default ``bench/results``; suffix ``_quick``/``_full`` by mode):
``finetune{sfx}.md`` (the tables), ``finetune{sfx}.json`` (raw per-epoch histories, settings,
machine), ``finetune_curves{sfx}.png``, ``finetune_diff{sfx}.png``, ``rere{sfx}.png``; a
``finetune{sfx}.partial.json`` is updated after every run and ``--resume`` continues from it.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import inspect
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import pipeline  # noqa: E402
from pipeline import TrainConfig  # noqa: E402

PRETRAINED = ("cd", "pcd", "annealed", "sa-quench")
INITS = ("random", "random-cal", *PRETRAINED)
LABELS = {
    "random": "random (PyTorch default)",
    "random-cal": "random + calibration",
    "cd": "CD-1 pretrained",
    "pcd": "PCD-1 pretrained",
    "annealed": "annealer pretrained (torch, β=1)",
    "sa-quench": "SA-quench pretrained (dwave-samplers)",
}
COLORS = {"random": "tab:gray", "random-cal": "black", "cd": "tab:blue", "pcd": "tab:cyan",
          "annealed": "tab:red", "sa-quench": "tab:orange"}


# --------------------------------------------------------------------------------------------
# Settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="smoke test: 1000 training images, 1 pretraining epoch, 3 fine-tuning epochs, 2 seeds")
    mode.add_argument("--full", action="store_true",
                      help="the complete grid: 20 fine-tuning epochs and the sa-quench init")
    p.add_argument("--seeds", default=None, help="comma list, or N for 0..N-1 (default 0,1,2; quick: 0,1)")
    p.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default 10; --full 20; --quick 3)")
    p.add_argument("--inits", default=None,
                   help=f"comma list from {','.join(INITS)} (default: all but sa-quench; --full: all)")
    p.add_argument("--fractions", default="1.0,0.1", help="label fractions (default: %(default)s)")
    p.add_argument("--no-rere", action="store_true", help="skip the SGD+SA (Rere et al.) runs")
    p.add_argument("--rere-inits", default="random,annealed", help="inits of the SGD+SA runs (default: %(default)s)")
    p.add_argument("--lr-pretrain", type=float, default=None,
                   help="override train.py's --lr-pretrain default (the output suffix then names it)")
    p.add_argument("--schedule", default=None,
                   help="override train.py's --schedule default for the annealed sampler (output suffix names it)")
    p.add_argument("--from-json", default=None, metavar="FILE",
                   help="write the tables and plots of an earlier run's JSON (no runs); with --suffix")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    p.add_argument("--out-dir", default=str(ROOT / "bench" / "results"))
    p.add_argument("--suffix", default=None, help="output name suffix (default by mode: _quick, '', _full)")
    p.add_argument("--resume", action="store_true", help="skip runs already in the .partial.json")
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> dict[str, Any]:
    from cnn import CNN, FinetuneConfig, augment_pixels

    d = dataclasses.asdict(TrainConfig())  # train.py's defaults
    sig = inspect.signature(CNN.from_stack).parameters
    ft = FinetuneConfig()
    epochs = args.epochs or (3 if args.quick else 20 if args.full else 10)
    seeds = _parse_seeds(args.seeds) if args.seeds else ([0, 1] if args.quick else [0, 1, 2])
    if args.inits:
        inits = [s.strip() for s in args.inits.split(",") if s.strip()]
    else:
        inits = list(INITS) if args.full else [i for i in INITS if i != "sa-quench"]
    unknown = sorted(set(inits) - set(INITS))
    if unknown:
        raise SystemExit(f"error: unknown init(s) {unknown}; choose from {INITS}")
    rere_inits = [] if args.no_rere else [s.strip() for s in args.rere_inits.split(",") if s.strip()]
    rere_inits = [i for i in rere_inits if i in inits]
    shape = pipeline.load_data(TrainConfig()).image_shape
    augment = augment_pixels(d["augment"], shape)  # train.py's rule: ±2 px shifts for images >= 20 px wide
    sa_refine = {k: v for k, v in vars(TrainConfig(finetune_sa=True).sa_refine()).items() if k != "seed"}
    return {
        "dataset": d["dataset"],
        "binarize": d["binarize"],
        "resize": d["resize"],
        "layers": d["layers"],
        "fractions": [float(f) for f in args.fractions.split(",")],
        "seeds": seeds,
        "inits": inits,
        "rere_inits": rere_inits,
        "train_subset": 1000 if args.quick else None,
        "pretrain": {
            "epochs": 1 if args.quick else d["pretrain_epochs"],
            "lr": args.lr_pretrain if args.lr_pretrain is not None else d["lr_pretrain"],
            "momentum": d["momentum_pretrain"],
            "weight_decay": d["weight_decay_pretrain"],
            "sparsity_target": d["sparsity_target"],
            "sparsity_cost": d["sparsity_cost"],
            "batch_size": d["batch_size"],
        },
        "sampler": {
            "beta": d["beta"],
            "sweeps": d["sweeps"],
            "schedule": args.schedule if args.schedule is not None else d["schedule"],
            "persistent": d["persistent"],
            "num_chains": d["num_chains"],
            "canvas": d["canvas"],
        },
        "sa_quench_schedule": "quench",
        "calibration": {
            "bias_init": sig["bias_init"].default,
            "weight_scale": sig["weight_scale"].default,
            "calibration_images": pipeline.CALIBRATION_IMAGES,  # CNN.from_stack(stack, n, data=x_train[:512])
        },
        "finetune": {
            "epochs": epochs,
            "lr": d["lr_finetune"],
            "batch_size": d["batch_size"],
            "momentum": ft.momentum,
            "weight_decay": ft.weight_decay,
            "schedule": ft.schedule,
            "warmup_epochs": ft.warmup_epochs,
            "augment": augment,
            "train_py_default_epochs": d["finetune_epochs"],
        },
        "sa_refine": sa_refine,
    }


def _parse_seeds(text: str) -> list[int]:
    text = text.strip()
    if "," in text:
        return [int(s) for s in text.split(",") if s.strip()]
    return list(range(int(text)))


def run_config(s: dict[str, Any], seed: int, init: str = "random", fraction: float = 1.0,
               sa: bool = False) -> TrainConfig:
    """The ``TrainConfig`` of one run of the grid: ``init`` names the pretraining sampler
    (``sa-quench``: ``sa`` with the ``quench`` schedule; ``random*``: no pretraining)."""
    p, sampler, f = s["pretrain"], s["sampler"], s["finetune"]
    sa_keys = {"sigma": "sa_sigma", "initial_temperature": "sa_temperature", "cooling": "sa_cooling",
               "moves_per_temperature": "sa_moves", "n_temperatures": "sa_levels", "every": "sa_every"}
    return TrainConfig(
        dataset=s["dataset"], binarize=s["binarize"], resize=s["resize"], label_fraction=fraction,
        layers=s["layers"], sampler="sa" if init == "sa-quench" else init if init in PRETRAINED else "annealed",
        beta=sampler["beta"], sweeps=sampler["sweeps"], num_chains=sampler["num_chains"], canvas=sampler["canvas"],
        schedule=s["sa_quench_schedule"] if init == "sa-quench" else sampler["schedule"],
        persistent=sampler["persistent"], pretrain_epochs=p["epochs"], lr_pretrain=p["lr"],
        momentum_pretrain=p["momentum"], weight_decay_pretrain=p["weight_decay"],
        sparsity_target=p["sparsity_target"], sparsity_cost=p["sparsity_cost"], batch_size=p["batch_size"],
        init="pretrained" if init in PRETRAINED else "calibrated" if init == "random-cal" else "torch",
        finetune_epochs=f["epochs"], lr_finetune=f["lr"],
        augment=f["augment"], finetune_sa=sa, seed=seed, device="cpu",
        **{flag: s["sa_refine"][key] for key, flag in sa_keys.items()},
    )


# --------------------------------------------------------------------------------------------
# Machine


def machine_info(threads: int) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": sys.version.split()[0], "platform": platform.platform(), "cpu_count": os.cpu_count(),
        "torch": torch.__version__, "torch_threads": threads, "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu_model"] = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), None)
    except OSError:
        pass
    try:
        git = ["git", "-C", str(ROOT)]
        info["git_commit"] = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True,
                                            text=True, timeout=10).stdout.strip()
        status = subprocess.run(git + ["status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                text=True, timeout=10).stdout.splitlines()
        info["git_modified_tracked_files"] = [line[3:] for line in status]
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def load_avg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


# --------------------------------------------------------------------------------------------
# The runs


def load_data(s: dict[str, Any], fraction: float, seed: int):
    data = pipeline.load_data(run_config(s, seed, fraction=fraction))
    if s["train_subset"]:
        n = s["train_subset"]
        data = dataclasses.replace(data, x_train=data.x_train[:n], y_train=data.y_train[:n],
                                   labeled_mask=data.labeled_mask[:n])
    return data


def pretrain_stack(name: str, s: dict[str, Any], data, seed: int) -> tuple[Any, dict[str, Any]]:
    """Greedy pretraining by the pipeline's stages (train.py's, without checkpoints)."""
    config = run_config(s, seed, init=name)
    info: dict[str, Any] = {"sampler": config.sampler, "options": pipeline.sampler_options(config), "layers": []}
    t_start = time.perf_counter()
    _, stack = pipeline.build_stack(config, data)  # seeds torch with the run's seed, as train.py
    history = pipeline.pretrain(config, stack, data, device=torch.device("cpu"))
    for i, layer in enumerate(stack.layers):
        last = [h for h in history if h["layer"] == i][-1]
        info["layers"].append({k: last.get(k) for k in ("loss", "reconstruction_error", "free_energy_gap",
                                                        "sampler_seconds", "seconds")})
        with torch.no_grad():
            w = layer.weight
            flat = torch.nn.functional.normalize(w.reshape(w.shape[0], -1) if w.dim() == 4 else w.T, dim=1)
            cos = (flat @ flat.T).abs()
            off = (cos.sum() - cos.diagonal().sum()) / max(1, cos.numel() - len(cos))
            info["layers"][-1].update(weight_std=float(w.std()), hidden_bias_mean=float(layer.hidden_bias.mean()),
                                      filter_mean_abs_cos=float(off))
    info["seconds"] = time.perf_counter() - t_start
    return stack, info


def build_cnn(init: str, s: dict[str, Any], data, seed: int, stack: Any | None):
    """The pipeline's CNN of ``init`` (``random-cal`` is ``train.py --init calibrated``: the
    random one, given the calibration that ``CNN.from_stack`` gives a pretrained one)."""
    torch.manual_seed(seed)  # same random conv init (random, random-cal) and head (all) per seed
    return pipeline.build_cnn(run_config(s, seed, init=init), stack, data, torch.device("cpu"))


def finetune_run(net, s: dict[str, Any], data, seed: int, sa: bool) -> dict[str, Any]:
    x_lab, _ = data.labeled()
    t0 = time.perf_counter()
    history = pipeline.finetune(run_config(s, seed, sa=sa), net, data, device=torch.device("cpu"))
    return {"history": history, "seconds": time.perf_counter() - t0, "labeled": int(len(x_lab)),
            "load_after": load_avg()}


def run_key(init: str, fraction: float, seed: int, sa: bool) -> str:
    return f"{init}|{fraction:g}|{seed}|{'sgd+sa' if sa else 'sgd'}"


def _warm_up(s: dict[str, Any]) -> None:
    """One tiny fine-tuning run first, so that one-off start-up costs do not land on the first
    timed run (its result is discarded; every timed run reseeds everything it uses)."""
    from cnn import CNN, finetune
    from rbm import parse_layers

    data = load_data(s, 1.0, 0)
    net = CNN(parse_layers(s["layers"]), data.image_shape, int(data.num_classes))
    finetune(net, train=(data.x_train[:128], data.y_train[:128]), epochs=1, device="cpu")


def run_grid(s: dict[str, Any], partial_path: Path, resume: bool) -> dict[str, Any]:
    state: dict[str, Any] = {"runs": {}, "pretrain": {}}
    if resume and partial_path.exists():
        state = json.loads(partial_path.read_text())
        if state.get("settings") != s:
            raise SystemExit(f"error: {partial_path} was written with other settings; drop --resume")
        print(f"resuming: {len(state['runs'])} runs already done", flush=True)
    state["settings"] = s

    def save() -> None:
        tmp = partial_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, default=float))
        tmp.replace(partial_path)

    jobs = []  # (init, fraction, sa)
    for init in s["inits"]:
        for fraction in s["fractions"]:
            jobs.append((init, fraction, False))
            if init in s["rere_inits"]:
                jobs.append((init, fraction, True))
    total = len(jobs) * len(s["seeds"])
    done = 0
    _warm_up(s)
    for seed in s["seeds"]:
        datasets = {fr: load_data(s, fr, seed) for fr in s["fractions"]}
        any_data = datasets[s["fractions"][0]]
        for init in s["inits"]:
            todo = [j for j in jobs if j[0] == init and run_key(init, j[1], seed, j[2]) not in state["runs"]]
            done += sum(1 for j in jobs if j[0] == init) - len(todo)
            if not todo:
                continue
            stack = None
            if init in PRETRAINED:
                print(f"[seed {seed}] pretraining {init} ...", flush=True)
                try:
                    stack, info = pretrain_stack(init, s, any_data, seed)
                except Exception as exc:  # e.g. rbm.pretrain.DivergenceError: report, go on
                    state.setdefault("failures", {})[f"{init}|{seed}"] = f"{type(exc).__name__}: {exc}"
                    print(f"[seed {seed}] pretraining {init} FAILED: {type(exc).__name__}: {exc}", flush=True)
                    save()
                    continue
                info["load_after"] = load_avg()
                state["pretrain"][f"{init}|{seed}"] = info
                print(f"[seed {seed}] pretrained {init} in {info['seconds']:.0f} s "
                      f"(recon. errors {[round(x['reconstruction_error'], 4) for x in info['layers']]}, "
                      f"load {load_avg()})", flush=True)
                save()
            for _init, fraction, sa in todo:
                data = datasets[fraction]
                net = build_cnn(init, s, data, seed, None if stack is None else copy.deepcopy(stack))
                run = finetune_run(net, s, data, seed, sa)
                state["runs"][run_key(init, fraction, seed, sa)] = run
                done += 1
                acc = [h["test_accuracy"] for h in run["history"]]
                print(f"[{done}/{total}] {init:10s} labels {fraction:4.0%} seed {seed} "
                      f"{'SGD+SA' if sa else 'SGD   '}: acc@1 {100 * acc[0]:.1f} % final {100 * acc[-1]:.2f} % "
                      f"({run['seconds']:.0f} s, load {run['load_after']})", flush=True)
                save()
    return state


# --------------------------------------------------------------------------------------------
# Tables and plots


def mean_std(values: list[float]) -> tuple[float, float]:
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def pm(values: list[float], scale: float = 100.0, decimals: int = 1, sign: bool = False) -> str:
    m, sd = mean_std([scale * v for v in values])
    if math.isnan(m):
        return "–"
    return f"{m:+.{decimals}f} ± {sd:.{decimals}f}" if sign else f"{m:.{decimals}f} ± {sd:.{decimals}f}"


def report_epochs(epochs: int) -> list[int]:
    return sorted({e for e in (1, 5, 10, 20) if e <= epochs} | {epochs})


def acc_curve(run: dict[str, Any]) -> list[float]:
    return [h["test_accuracy"] for h in run["history"]]


def runs_of(state: dict[str, Any], init: str, fraction: float, sa: bool = False) -> dict[int, dict[str, Any]]:
    return {seed: state["runs"][k] for seed in state["settings"]["seeds"]
            if (k := run_key(init, fraction, seed, sa)) in state["runs"]}


def wins(diffs: list[float]) -> str:
    return f"{sum(d > 0 for d in diffs)}/{len(diffs)}"


def tables(state: dict[str, Any]) -> str:
    s = state["settings"]
    E = s["finetune"]["epochs"]
    eps = report_epochs(E)
    out: list[str] = []
    for fraction in s["fractions"]:
        base = runs_of(state, "random", fraction)
        n_lab = next(iter(base.values()))["labeled"] if base else "?"
        out.append(f"#### Test accuracy (%), {fraction:.0%} labels ({n_lab} labelled images), "
                   f"mean ± std over {len(s['seeds'])} seeds\n")
        head = ["init", *[f"epoch {e}" for e in eps], "best epoch", "pretrain s", "fine-tune s",
                "layer-0 filters: mean \\|cos\\|"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "|".join(" --- " for _ in head) + "|")
        for init in s["inits"]:
            runs = runs_of(state, init, fraction)
            if not runs:
                continue
            cells = [LABELS[init]]
            for e in eps:
                cells.append(pm([acc_curve(r)[e - 1] for r in runs.values()], decimals=2))
            cells.append(pm([max(acc_curve(r)) for r in runs.values()], decimals=2))
            pre = [state["pretrain"][f"{init}|{sd}"]["seconds"] for sd in runs if f"{init}|{sd}" in state["pretrain"]]
            cells.append(f"{statistics.fmean(pre):.0f}" if pre else "–")
            cells.append(f"{statistics.fmean(r['seconds'] for r in runs.values()):.0f}")
            cos = [state["pretrain"][f"{init}|{sd}"]["layers"][0].get("filter_mean_abs_cos") for sd in runs
                   if f"{init}|{sd}" in state["pretrain"]]
            cos = [c for c in cos if c is not None]
            cells.append(f"{statistics.fmean(cos):.2f}" if cos else "–")
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        for ref in ("random", "random-cal"):
            refs = runs_of(state, ref, fraction)
            if not refs:
                continue
            out.append(f"#### Paired difference vs {LABELS[ref]} (percentage points, same seed), "
                       f"{fraction:.0%} labels: mean ± std (seeds better)\n")
            head = ["init", *[f"epoch {e}" for e in eps]]
            out.append("| " + " | ".join(head) + " |")
            out.append("|" + "|".join(" --- " for _ in head) + "|")
            for init in s["inits"]:
                if init == ref or (ref == "random-cal" and init == "random"):
                    continue
                runs = runs_of(state, init, fraction)
                seeds = [sd for sd in runs if sd in refs]
                if not seeds:
                    continue
                cells = [LABELS[init]]
                for e in eps:
                    d = [acc_curve(runs[sd])[e - 1] - acc_curve(refs[sd])[e - 1] for sd in seeds]
                    cells.append(f"{pm(d, sign=True, decimals=2)} ({wins(d)})")
                out.append("| " + " | ".join(cells) + " |")
            out.append("")
    return "\n".join(out)


def rere_table(state: dict[str, Any]) -> str:
    s = state["settings"]
    if not s["rere_inits"]:
        return ""
    eps = report_epochs(s["finetune"]["epochs"])
    out = [f"#### Plain SGD vs SGD + SA refinement of the classifier (Rere et al. 2015), test accuracy (%), "
           f"mean ± std over {len(s['seeds'])} seeds; Δ = SA − SGD paired by seed (seeds better)\n"]
    head = ["labels", "init", "method", *[f"epoch {e}" for e in eps], "s / epoch", "SA s / epoch",
            "SA acceptance"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join(" --- " for _ in head) + "|")
    for fraction in s["fractions"]:
        for init in s["rere_inits"]:
            sgd, sa = runs_of(state, init, fraction), runs_of(state, init, fraction, sa=True)
            for name, runs in (("SGD", sgd), ("SGD+SA", sa)):
                if not runs:
                    continue
                cells = [f"{fraction:.0%}", LABELS[init], name]
                cells += [pm([acc_curve(r)[e - 1] for r in runs.values()], decimals=2) for e in eps]
                cells.append(f"{statistics.fmean(statistics.fmean(h['seconds'] for h in r['history']) for r in runs.values()):.2f}")
                if name == "SGD+SA":
                    cells.append(f"{statistics.fmean(statistics.fmean(h['sa_seconds'] for h in r['history']) for r in runs.values()):.2f}")
                    cells.append(f"{statistics.fmean(statistics.fmean(h['sa_acceptance'] for h in r['history']) for r in runs.values()):.3f}")
                else:
                    cells += ["–", "–"]
                out.append("| " + " | ".join(cells) + " |")
            seeds = [sd for sd in sa if sd in sgd]
            if seeds:
                cells = [f"{fraction:.0%}", LABELS[init], "**Δ SA − SGD** (pp)"]
                for e in eps:
                    d = [acc_curve(sa[sd])[e - 1] - acc_curve(sgd[sd])[e - 1] for sd in seeds]
                    cells.append(f"{pm(d, sign=True, decimals=2)} ({wins(d)})")
                ratio = [sum(h["seconds"] for h in sa[sd]["history"]) / sum(h["seconds"] for h in sgd[sd]["history"])
                         for sd in seeds]
                cells += [f"×{statistics.fmean(ratio):.2f} wall", "", ""]
                out.append("| " + " | ".join(cells) + " |")
    out.append("")
    return "\n".join(out)


def _band(ax, runs: list[dict[str, Any]], color: str, label: str, scale: float = 100.0, ref=None, ls="-"):
    import numpy as np

    curves = np.array([acc_curve(r) for r in runs]) * scale
    if ref is not None:
        curves = curves - np.array([acc_curve(r) for r in ref]) * scale
    x = np.arange(1, curves.shape[1] + 1)
    m = curves.mean(0)
    sd = curves.std(0, ddof=1) if len(curves) > 1 else np.zeros_like(m)
    ax.plot(x, m, color=color, label=label, lw=1.6, ls=ls)
    ax.fill_between(x, m - sd, m + sd, color=color, alpha=0.15, lw=0)


def plots(state: dict[str, Any], out_dir: Path, sfx: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = state["settings"]
    fr = s["fractions"]
    E = s["finetune"]["epochs"]
    n_seeds = len(s["seeds"])
    paths = []

    fig, axes = plt.subplots(2, len(fr), figsize=(6 * len(fr), 8.5), squeeze=False)
    for j, fraction in enumerate(fr):
        for row in range(2):
            ax = axes[row][j]
            for init in s["inits"]:
                runs = runs_of(state, init, fraction)
                if runs:
                    _band(ax, list(runs.values()), COLORS[init], LABELS[init],
                          ls="--" if init.startswith("random") else "-")
            ax.set_xlabel("fine-tuning epoch")
            ax.set_ylabel("test accuracy (%)")
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(f"{fraction:.0%} labels: mean ± std over {n_seeds} seeds")
            else:
                start = max(1, E // 3)
                ax.set_xlim(start, E)
                vals = [100 * acc_curve(r)[e - 1] for init in s["inits"]
                        for r in runs_of(state, init, fraction).values() for e in range(start, E + 1)]
                if vals:
                    ax.set_ylim(min(vals) - 0.3, max(vals) + 0.3)
                ax.set_title(f"{fraction:.0%} labels, zoom on epochs {start}–{E}")
        axes[0][j].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    p = out_dir / f"finetune_curves{sfx}.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)

    fig, axes = plt.subplots(1, len(fr), figsize=(6 * len(fr), 4.3), squeeze=False)
    for j, fraction in enumerate(fr):
        ax = axes[0][j]
        refs = runs_of(state, "random-cal", fraction) or runs_of(state, "random", fraction)
        ref_name = "random-cal" if runs_of(state, "random-cal", fraction) else "random"
        for init in s["inits"]:
            if init == ref_name:
                continue
            runs = runs_of(state, init, fraction)
            seeds = [sd for sd in runs if sd in refs]
            if seeds:
                _band(ax, [runs[sd] for sd in seeds], COLORS[init], LABELS[init],
                      ref=[refs[sd] for sd in seeds], ls="--" if init.startswith("random") else "-")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xlabel("fine-tuning epoch")
        ax.set_ylabel(f"accuracy − {LABELS[ref_name]} (pp)")
        ax.set_title(f"{fraction:.0%} labels: paired difference, mean ± std")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    p = out_dir / f"finetune_diff{sfx}.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)

    if s["rere_inits"]:
        fig, axes = plt.subplots(1, len(fr), figsize=(6 * len(fr), 4.3), squeeze=False)
        for j, fraction in enumerate(fr):
            ax = axes[0][j]
            for init in s["rere_inits"]:
                for sa, ls in ((False, "-"), (True, ":")):
                    runs = runs_of(state, init, fraction, sa)
                    if runs:
                        _band(ax, list(runs.values()), COLORS[init],
                              f"{LABELS[init]}, {'SGD+SA' if sa else 'SGD'}", ls=ls)
            ax.set_xlabel("fine-tuning epoch")
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(f"Rere et al.: SGD vs SGD+SA, {fraction:.0%} labels ({n_seeds} seeds)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        p = out_dir / f"rere{sfx}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def settings_text(s: dict[str, Any]) -> str:
    p, sm, f, c = s["pretrain"], s["sampler"], s["finetune"], s["calibration"]
    return "\n".join([
        f"- data: {s['dataset']} (binarize={s['binarize']}, resize={s['resize']}), label fractions "
        f"{s['fractions']}, pretraining on all training images"
        + (f" (first {s['train_subset']} only: --quick)" if s["train_subset"] else ""),
        f"- layers {s['layers']}, CNN head fc128 + dropout 0.25 (cnn.CNN defaults), ReLU, max-pool",
        f"- pretraining (train.py defaults): {p['epochs']} epochs/layer, lr {p['lr']} (per position), momentum "
        f"{p['momentum']}, weight decay {p['weight_decay']}, sparsity {p['sparsity_target']}/{p['sparsity_cost']}, "
        f"batch {p['batch_size']}",
        f"- negative phase (train.py defaults): β = {sm['beta']}, sweeps {sm['sweeps'] or 'sampler default'} "
        f"(cd/pcd: k = 1; annealed: 10), schedule {sm['schedule']} (sa-quench: {s['sa_quench_schedule']}), "
        f"persistent {sm['persistent']} (annealers), chains = batch, canvas = data",
        f"- calibration of pretrained and random-cal CNNs: bias {c['bias_init']}, weight_scale {c['weight_scale']}, "
        f"on the first {c['calibration_images']} training images",
        f"- fine-tuning (identical for every init): {f['epochs']} epochs (train.py default: "
        f"{f['train_py_default_epochs']}), SGD lr {f['lr']} {f['schedule']}, Nesterov momentum {f['momentum']}, "
        f"weight decay {f['weight_decay']}, batch {f['batch_size']}, ±{f['augment']} px shifts, warm-up "
        f"{f['warmup_epochs']}",
        f"- SA refinement (Rere et al.): {s['sa_refine']}",
        f"- seeds {s['seeds']}",
    ])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch.get_num_threads() = {torch.get_num_threads()}", flush=True)
    import logging

    logging.basicConfig(level=logging.WARNING)
    s = settings_from(args)
    sfx = args.suffix if args.suffix is not None else ("_quick" if args.quick else "_full" if args.full else "")
    if args.lr_pretrain is not None and args.suffix is None:
        sfx += f"_lrpre{args.lr_pretrain:g}"
    if args.schedule is not None and args.suffix is None:
        sfx += f"_{args.schedule}"
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.from_json:
        state = json.loads(Path(args.from_json).read_text())
        write_report(state, out_dir, sfx)
        return 0
    # import every module a run uses now, so that the code measured is the commit recorded below
    # even if someone edits the working tree during the run (sampler modules load lazily otherwise)
    import cnn  # noqa: F401
    import rbm.pretrain  # noqa: F401
    import sampling.annealed  # noqa: F401
    import sampling.gibbs  # noqa: F401
    import sampling.sa  # noqa: F401

    print("settings:\n" + settings_text(s), flush=True)
    machine = machine_info(torch.get_num_threads())
    machine["load_before"] = load_avg()
    print(f"machine: {machine}", flush=True)
    t0 = time.perf_counter()
    partial = out_dir / f"finetune{sfx}.partial.json"
    state = run_grid(s, partial, args.resume)
    machine["load_after"] = load_avg()
    machine["wall_seconds"] = time.perf_counter() - t0
    state["machine"] = machine
    state["command"] = " ".join(["python bench/bench_finetune.py", *(sys.argv[1:] if argv is None else argv)])
    (out_dir / f"finetune{sfx}.json").write_text(json.dumps(state, indent=1, default=float) + "\n")
    write_report(state, out_dir, sfx)
    partial.unlink(missing_ok=True)
    print(f"total {machine['wall_seconds']:.0f} s", flush=True)
    return 0


def write_report(state: dict[str, Any], out_dir: Path, sfx: str) -> None:
    """finetune{sfx}.md and the plots, from a finished run's state (also ``--from-json``)."""
    s, machine = state["settings"], state["machine"]
    paths = plots(state, out_dir, sfx)
    md = "\n".join([
        f"### bench_finetune{sfx}\n",
        f"Command: `{state['command'].strip()}`; wall time {machine['wall_seconds'] / 60:.1f} min on "
        f"{machine.get('cpu_model')} ({machine['cpu_count']} cores, torch threads {machine['torch_threads']}, "
        f"load average before/after {machine['load_before']} / {machine['load_after']}), commit "
        f"{machine.get('git_commit')} + modified {machine.get('git_modified_tracked_files')}.\n",
        settings_text(s), "",
        tables(state),
        rere_table(state),
        *([f"Failures (runs left out): {state['failures']}", ""] if state.get("failures") else []),
        "Plots: " + ", ".join(f"[{p.name}]({p.name})" for p in paths), "",
    ])
    (out_dir / f"finetune{sfx}.md").write_text(md)
    print(md, flush=True)


if __name__ == "__main__":
    sys.exit(main())
