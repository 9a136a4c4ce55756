"""Does pretraining help fine-tuning? The question asked with a validation split (issue 16 part 3).

On mnist5k the 4,000 training images are split once into a **validation set of 500** (stratified,
fixed) and a **pool of 3,500**; the 1,000 test images are read once, at the very end, for the runs
the validation set chose. Everything else follows from that split:

* **Pretraining** (train.py's defaults: ``pipeline.TrainConfig``; ``finetune_study.json`` was made
  with the defaults of its day, the ``sparse`` recipe, and ``finetune_centered/`` with today's
  centered one, docs/RESULTS.md §3) sees the pool's 3,500 images
  without labels, held-out monitoring on the validation images; one stack per (sampler, seed),
  reused for every label budget.
* **Label budgets** 40, 100, 400, 1,000 and 3,500 (= the whole pool: with 500 images held out for
  validation, the 4,000 of the issue are not available), a stratified draw from the pool per seed.
* **Equal updates**: at one budget every initialisation gets the same number of SGD updates
  (``UPDATES``: 300, 300, 500, 800, 1,100 — the last is train.py's 20 epochs of the pool), batch
  64, train.py's SGD (Nesterov momentum 0.9, weight decay 5e-4, cosine schedule, ±2 px shifts).
  The model kept is the one with the lowest validation error among ~12 evaluations along the run
  (early stopping chosen on validation, never on test).
* **The fine-tuning learning rate of every initialisation and budget** is chosen from ``LRS``
  (0.02, 0.05, 0.1, 0.2; train.py's default is 0.05) by mean validation error over the first two
  seeds, which run all four;
  the other seeds run the chosen one only.
* **Equal wall time**: ``calibrated+time`` is the calibrated random init given, on top of the
  budget's updates, as many more as the median pretraining time of train.py's default sampler
  (``annealed``) buys at that budget's measured cost per update (its lr: calibrated's choice).
* **Seeds**: 10 at budgets <= 400 and 5 above; ``sa`` (dwave-samplers SA, ~6x the annealer's
  pretraining time) has 5 seeds at every budget. Seed s fixes the labelled draw, the CNN's random
  init and head, the minibatch order, the shifts and the dropout masks, for every init alike:
  differences are paired by seed.
* **The strongest baseline** at each budget is the one of ``torch``, ``calibrated`` and
  ``calibrated+time`` with the lowest mean *validation* error; every pretrained init is reported
  as the paired test-error difference against it, with a 95 % t interval over seeds.

Initialisations: ``torch`` (PyTorch default, ``train.py --init torch``), ``calibrated``
(``--init calibrated``), ``calibrated+time``, and stacks pretrained with ``cd`` (CD-1), ``pcd``,
``annealed`` (train.py's default) and ``sa``. ``mock-qpu`` is not in this grid: the default
16x5p2 layer on a 28x28 canvas has no embedding on the mock's Pegasus graph (issue 17).

    python bench/bench_finetune_study.py --jobs 2          # the study: ~75 min on 2 cores
    python bench/bench_finetune_study.py --quick --jobs 2  # smoke test: ~2 min
    python bench/bench_finetune_study.py --from-json bench/results/finetune_study.json

Outputs (``--out-dir``, default ``bench/results``; ``_quick`` suffix with --quick):
``finetune_study{sfx}.md`` (tables), ``finetune_study{sfx}.json`` (every run: validation curve,
chosen model's test error, times, settings, machine), ``finetune_study{sfx}.png`` (test error and
paired differences vs label budget). ``finetune_study{sfx}.partial.json`` is written after every
job and ``--resume`` continues from it; chosen models and stacks are cached under
``{out-dir}/cache_finetune_study{sfx}/`` (safe to delete after the run).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import dataclasses
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT, ROOT / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from common import DEFAULT_OUT, machine_info, markdown_table, plt, set_threads, write_json  # noqa: E402

SAMPLERS = ("cd", "pcd", "annealed", "sa")
BASELINES = ("torch", "calibrated", "calibrated+time")
INITS = (*BASELINES, *SAMPLERS)
LABELS = {"torch": "torch (PyTorch default)", "calibrated": "calibrated random",
          "calibrated+time": "calibrated random, + pretraining time as updates",
          "cd": "CD-1 pretrained", "pcd": "PCD-1 pretrained", "annealed": "annealer pretrained (default)",
          "sa": "SA pretrained (dwave-samplers)"}
COLORS = {"torch": "tab:gray", "calibrated": "black", "calibrated+time": "tab:brown", "cd": "tab:blue",
          "pcd": "tab:cyan", "annealed": "tab:red", "sa": "tab:orange"}
BUDGETS = (40, 100, 400, 1000, 3500)
UPDATES = {40: 300, 100: 300, 400: 500, 1000: 800, 3500: 1100}
LRS = (0.02, 0.05, 0.1, 0.2)
VALIDATION = 500
SPLIT_SEED = 2026
EVALS = 12  # validation evaluations per run (early stopping points)


# --------------------------------------------------------------------------------------------
# Settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1,000-image pool, 1 pretraining epoch, budgets 40 and 400, "
                        "2 seeds, lrs 0.05 and 0.1, a tenth of the updates, no sa")
    p.add_argument("--jobs", type=int, default=1, help="worker processes, one torch thread each (default: %(default)s)")
    p.add_argument("--seeds", type=int, default=10, help="seeds at budgets <= 400 (default: %(default)s)")
    p.add_argument("--seeds-large", type=int, default=5, help="seeds at budgets > 400 (default: %(default)s)")
    p.add_argument("--sa-seeds", type=int, default=5, help="seeds of the sa init (default: %(default)s)")
    p.add_argument("--selection-seeds", type=int, default=2,
                   help="seeds that run every lr; the lr is chosen on their validation error (default: %(default)s)")
    p.add_argument("--inits", default=",".join(INITS), help="comma list (default: %(default)s)")
    p.add_argument("--budgets", default=",".join(map(str, BUDGETS)), help="label budgets (default: %(default)s)")
    p.add_argument("--from-json", default=None, metavar="FILE", help="tables and plot of an earlier run (no runs)")
    p.add_argument("--out-dir", default=str(DEFAULT_OUT))
    p.add_argument("--resume", action="store_true", help="skip jobs already in the .partial.json")
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> dict[str, Any]:
    from pipeline import TrainConfig

    d = dataclasses.asdict(TrainConfig())
    inits = [s.strip() for s in args.inits.split(",") if s.strip()]
    unknown = sorted(set(inits) - set(INITS))
    if unknown:
        raise SystemExit(f"error: unknown init(s) {unknown}; choose from {', '.join(INITS)}")
    budgets = [int(b) for b in args.budgets.split(",") if b.strip()]
    s: dict[str, Any] = {
        "dataset": d["dataset"], "layers": d["layers"], "validation": VALIDATION, "split_seed": SPLIT_SEED,
        "pool": None, "pretrain_epochs": d["pretrain_epochs"], "inits": inits, "budgets": budgets,
        "updates": {str(b): UPDATES.get(b, 500) for b in budgets}, "lrs": list(LRS),
        "seeds": args.seeds, "seeds_large": args.seeds_large, "sa_seeds": args.sa_seeds,
        "selection_seeds": args.selection_seeds, "batch_size": d["batch_size"], "evals": EVALS,
        "time_matched_to": "annealed",
    }
    if args.quick:
        s.update(pool=1000, pretrain_epochs=1, budgets=[40, 400], updates={"40": 30, "400": 50},
                 lrs=[0.05, 0.1], seeds=2, seeds_large=2, sa_seeds=2, selection_seeds=1,
                 inits=[i for i in inits if i != "sa"])
    if "calibrated+time" in s["inits"] and ("calibrated" not in s["inits"] or "annealed" not in s["inits"]):
        raise SystemExit("error: calibrated+time needs the calibrated and annealed inits")
    return s


def seeds_of(s: dict[str, Any], init: str, budget: int) -> list[int]:
    n = s["seeds"] if budget <= 400 else s["seeds_large"]
    return list(range(min(n, s["sa_seeds"]) if init == "sa" else n))


# --------------------------------------------------------------------------------------------
# Data and the jobs (run in worker processes)

_DATA: dict[str, Any] = {}


def split_data(s: dict[str, Any]) -> dict[str, Any]:
    """``pool`` / ``val`` / ``test`` tensors of the study's one fixed split (cached per process)."""
    if "split" not in _DATA:
        import torch

        import pipeline
        from cnn.features import stratified_subset
        from pipeline import TrainConfig

        data = pipeline.load_data(TrainConfig(dataset=s["dataset"]))
        order = stratified_subset(data.y_train.numpy(), len(data.y_train), s["split_seed"])
        val, pool = torch.as_tensor(order[: s["validation"]]), torch.as_tensor(order[s["validation"]:])
        if s["pool"]:
            pool = pool[: s["pool"]]
        _DATA["split"] = {"data": data, "pool": (data.x_train[pool], data.y_train[pool]),
                          "val": (data.x_train[val], data.y_train[val]), "test": (data.x_test, data.y_test)}
    return _DATA["split"]


def _dataset(s: dict[str, Any], x_train, y_train) -> Any:
    """An ``imagedata.Dataset`` whose training images are ``x_train`` and whose "test" images are
    the validation set (what pretraining monitors and the calibration never sees)."""
    import torch

    split = split_data(s)
    xv, yv = split["val"]
    return dataclasses.replace(split["data"], x_train=x_train, y_train=y_train,
                               labeled_mask=torch.ones(len(y_train), dtype=torch.bool), x_test=xv, y_test=yv)


def _config(s: dict[str, Any], init: str, seed: int):
    from pipeline import TrainConfig

    pretrained = init in SAMPLERS
    return TrainConfig(dataset=s["dataset"], layers=s["layers"], sampler=init if pretrained else "annealed",
                       pretrain_epochs=s["pretrain_epochs"], seed=seed, device="cpu",
                       init="pretrained" if pretrained else "torch" if init == "torch" else "calibrated")


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


def pretrain_job(s: dict[str, Any], sampler: str, seed: int, path: str) -> dict[str, Any]:
    import torch

    import pipeline
    from rbm import save_stack
    from rbm.activity import filter_diversity

    config = _config(s, sampler, seed)
    x_pool, y_pool = split_data(s)["pool"]
    data = _dataset(s, x_pool, y_pool)
    t0 = time.perf_counter()
    _, stack = pipeline.build_stack(config, data)
    history = pipeline.pretrain(config, stack, data, device=torch.device("cpu"))
    seconds = time.perf_counter() - t0
    save_stack(stack, path)
    layers = []
    for i, layer in enumerate(stack.layers):
        last = [h for h in history if h["layer"] == i][-1]
        layers.append({"reconstruction_error": last.get("reconstruction_error"),
                       "filter_mean_abs_cos": float(filter_diversity(layer.weight))})
    return {"seconds": seconds, "layers": layers}


def finetune_job(s: dict[str, Any], init: str, budget: int, lr: float, seed: int, updates: int,
                 stack_path: str | None, model_path: str) -> dict[str, Any]:
    """One fine-tuning run; the model with the lowest validation error is saved to ``model_path``."""
    import copy

    import torch

    import pipeline
    from cnn import evaluate, finetune
    from cnn.features import stratified_subset
    from rbm import load_stack

    split = split_data(s)
    x_pool, y_pool = split["pool"]
    x_val, y_val = split["val"]
    stack = load_stack(stack_path) if stack_path else None
    torch.manual_seed(seed)  # the random conv init (torch, calibrated) and the head (all), per seed
    net = pipeline.build_cnn(_config(s, init, seed), stack, _dataset(s, x_pool, y_pool), torch.device("cpu"))
    idx = torch.as_tensor(stratified_subset(y_pool.numpy(), budget, seed))
    x_lab, y_lab = x_pool[idx], y_pool[idx]
    steps_per_epoch = math.ceil(len(idx) / s["batch_size"])
    epochs = max(1, round(updates / steps_per_epoch))
    every = max(1, epochs // s["evals"])
    curve: list[tuple[int, float]] = []
    best: dict[str, Any] = {"error": math.inf}

    def on_epoch(epoch: int, _metrics: dict[str, Any]) -> None:
        if epoch % every and epoch != epochs:
            return
        _, acc, _ = evaluate(net, x_val, y_val)
        err = 1.0 - acc
        curve.append((epoch * steps_per_epoch, err))
        if err < best["error"]:
            best.update(error=err, update=epoch * steps_per_epoch, state=copy.deepcopy(net.state_dict()))
        net.train()

    t0 = time.perf_counter()
    finetune(net, (x_lab, y_lab), None, epochs=epochs, lr=lr, batch_size=s["batch_size"], seed=seed,
             augment=2, device="cpu", callback=on_epoch)
    seconds = time.perf_counter() - t0
    torch.save(best.pop("state"), model_path)
    return {"val_error": best["error"], "best_update": best["update"], "updates": epochs * steps_per_epoch,
            "seconds": seconds, "val_curve": curve, "labeled": int(len(idx))}


def test_job(s: dict[str, Any], init: str, seed: int, model_path: str) -> float:
    """Test error of a chosen run's saved model: the only place the test images are read."""
    import torch

    import pipeline
    from cnn import evaluate

    split = split_data(s)
    x_pool, y_pool = split["pool"]
    torch.manual_seed(seed)
    net = pipeline.build_cnn(_config(s, "torch", seed), None, _dataset(s, x_pool, y_pool), torch.device("cpu"))
    net.load_state_dict(torch.load(model_path, weights_only=True))
    _, acc, _ = evaluate(net, *split["test"])
    return 1.0 - acc


# --------------------------------------------------------------------------------------------
# The study (main process)


def run_key(init: str, budget: int, lr: float, seed: int) -> str:
    return f"{init}|{budget}|{lr:g}|{seed}"


class Study:
    def __init__(self, s: dict[str, Any], out: Path, suffix: str, resume: bool, jobs: int):
        self.s, self.jobs = s, jobs
        self.partial = out / f"finetune_study{suffix}.partial.json"
        self.cache = out / f"cache_finetune_study{suffix}"
        self.cache.mkdir(parents=True, exist_ok=True)
        self.state: dict[str, Any] = {"pretrain": {}, "runs": {}, "chosen_lr": {}, "test": {}}
        if resume and self.partial.exists():
            state = json.loads(self.partial.read_text())
            if state.get("settings") != s:
                raise SystemExit(f"error: {self.partial} was written with other settings; drop --resume")
            self.state = state
            print(f"resuming: {len(state['pretrain'])} stacks, {len(state['runs'])} runs, "
                  f"{len(state['test'])} test errors already done", flush=True)
        self.state["settings"] = s

    def save(self) -> None:
        tmp = self.partial.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1))
        tmp.replace(self.partial)

    def stack_path(self, sampler: str, seed: int) -> str:
        return str(self.cache / f"stack_{sampler}_{seed}.pt")

    def model_path(self, key: str) -> str:
        return str(self.cache / ("model_" + key.replace("|", "_").replace("+", "p") + ".pt"))

    def _pool(self, jobs: list[tuple[str, Any, tuple]], store: str, describe) -> None:
        """Run ``jobs`` (key, function, args) in the worker pool; results go to state[store]."""
        jobs = [j for j in jobs if j[0] not in self.state[store]]
        if not jobs:
            return
        t0, done = time.perf_counter(), 0
        with cf.ProcessPoolExecutor(self.jobs, initializer=_worker_init) as pool:
            futures = {pool.submit(fn, *args): key for key, fn, args in jobs}
            for fut in cf.as_completed(futures):
                key = futures[fut]
                self.state[store][key] = fut.result()
                done += 1
                self.save()
                eta = (time.perf_counter() - t0) / done * (len(jobs) - done)
                print(f"[{store} {done}/{len(jobs)}, ~{eta / 60:.0f} min left] {describe(key, self.state[store][key])}",
                      flush=True)

    def pretrain(self) -> None:
        s = self.s
        jobs = []
        for sampler in sorted((i for i in s["inits"] if i in SAMPLERS), key=lambda x: x != "sa"):  # long ones first
            n = max(seeds_of(s, sampler, b)[-1] for b in s["budgets"]) + 1
            jobs += [(f"{sampler}|{seed}", pretrain_job, (s, sampler, seed, self.stack_path(sampler, seed)))
                     for seed in range(n)]
        self._pool(jobs, "pretrain", lambda k, r: f"pretrained {k} in {r['seconds']:.0f} s")

    def _ft(self, init: str, budget: int, lr: float, seed: int, updates: int) -> tuple[str, Any, tuple]:
        key = run_key(init, budget, lr, seed)
        stack = self.stack_path(init, seed) if init in SAMPLERS else None
        return key, finetune_job, (self.s, init, budget, lr, seed, updates, stack, self.model_path(key))

    def _describe(self, key: str, r: dict[str, Any]) -> str:
        return (f"{key}: val error {100 * r['val_error']:.1f} % at update {r['best_update']}/{r['updates']} "
                f"({r['seconds']:.0f} s)")

    def select(self) -> None:
        s = self.s
        inits = [i for i in s["inits"] if i != "calibrated+time"]
        sel = range(s["selection_seeds"])
        self._pool([self._ft(i, b, lr, seed, s["updates"][str(b)]) for b in s["budgets"] for i in inits
                    for lr in s["lrs"] for seed in sel], "runs", self._describe)
        for b in s["budgets"]:
            for i in inits:
                val = {lr: statistics.fmean(self.state["runs"][run_key(i, b, lr, seed)]["val_error"] for seed in sel)
                       for lr in s["lrs"]}
                self.state["chosen_lr"][f"{i}|{b}"] = min(s["lrs"], key=lambda lr: (val[lr], lr))
        self.save()

    def time_matched_updates(self, budget: int) -> int:
        s = self.s
        pre = statistics.median(r["seconds"] for k, r in self.state["pretrain"].items()
                                if k.startswith(s["time_matched_to"] + "|"))
        runs = [r for k, r in self.state["runs"].items() if k.startswith(f"calibrated|{budget}|")]
        per_update = statistics.median(r["seconds"] / r["updates"] for r in runs)
        return s["updates"][str(budget)] + round(pre / per_update)

    def final(self) -> None:
        s, jobs = self.s, []
        for b in s["budgets"]:
            for i in s["inits"]:
                lr = self.state["chosen_lr"][f"calibrated|{b}" if i == "calibrated+time" else f"{i}|{b}"]
                updates = self.time_matched_updates(b) if i == "calibrated+time" else s["updates"][str(b)]
                jobs += [self._ft(i, b, lr, seed, updates) for seed in seeds_of(s, i, b)]
        self._pool(jobs, "runs", self._describe)

    def chosen(self, init: str, budget: int) -> dict[int, str]:
        lr = self.state["chosen_lr"][f"calibrated|{budget}" if init == "calibrated+time" else f"{init}|{budget}"]
        return {seed: run_key(init, budget, lr, seed) for seed in seeds_of(self.s, init, budget)}

    def test(self) -> None:
        jobs = [(key, test_job, (self.s, init, seed, self.model_path(key)))
                for b in self.s["budgets"] for init in self.s["inits"] for seed, key in self.chosen(init, b).items()]
        self._pool(jobs, "test", lambda k, r: f"{k}: test error {100 * r:.2f} %")

    def run(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        self.pretrain()
        self.select()
        self.final()
        self.test()
        self.state["wall_seconds"] = self.state.get("wall_seconds", 0.0) + time.perf_counter() - t0
        return self.state


# --------------------------------------------------------------------------------------------
# Tables and plot


def t_interval(diffs: list[float]) -> tuple[float, float, float]:
    """Mean and 95 % t interval of paired differences."""
    from scipy import stats

    m = statistics.fmean(diffs)
    if len(diffs) < 2:
        return m, math.nan, math.nan
    half = stats.t.ppf(0.975, len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
    return m, m - half, m + half


def summarise(state: dict[str, Any]) -> dict[str, Any]:
    """Per budget: each init's chosen lr, errors by seed, the strongest baseline (by validation)
    and every init's paired test difference against it and against ``calibrated``."""
    s = state["settings"]
    lr_of = state["chosen_lr"]
    out: dict[str, Any] = {}
    for b in s["budgets"]:
        rows: dict[str, Any] = {}
        for init in s["inits"]:
            lr = lr_of[f"calibrated|{b}" if init == "calibrated+time" else f"{init}|{b}"]
            keys = {seed: run_key(init, b, lr, seed) for seed in seeds_of(s, init, b)}
            keys = {seed: k for seed, k in keys.items() if k in state["test"]}
            if not keys:
                continue
            runs = {seed: state["runs"][k] for seed, k in keys.items()}
            rows[init] = {"lr": lr, "test": {seed: state["test"][k] for seed, k in keys.items()},
                          "val": {seed: r["val_error"] for seed, r in runs.items()},
                          "updates": statistics.median(r["updates"] for r in runs.values()),
                          "finetune_s": statistics.median(r["seconds"] for r in runs.values()),
                          "pretrain_s": (statistics.median(state["pretrain"][f"{init}|{seed}"]["seconds"]
                                                           for seed in keys) if init in SAMPLERS else 0.0)}
        base = [i for i in BASELINES if i in rows]
        strongest = min(base, key=lambda i: statistics.fmean(rows[i]["val"].values())) if base else None
        for ref_name, ref in (("vs_strongest", strongest), ("vs_calibrated", "calibrated" if "calibrated" in rows else None)):
            for init, row in rows.items():
                if ref is None or init == ref:
                    continue
                seeds = sorted(set(row["test"]) & set(rows[ref]["test"]))
                diffs = [row["test"][k] - rows[ref]["test"][k] for k in seeds]
                row[ref_name] = {"ref": ref, "n": len(diffs), "ci": t_interval(diffs),
                                 "better": sum(d < 0 for d in diffs)}
        out[str(b)] = {"rows": rows, "strongest": strongest}
    return out


def _pct(x: float, sign: bool = False) -> str:
    return "–" if x is None or math.isnan(x) else (f"{100 * x:+.2f}" if sign else f"{100 * x:.2f}")


def _ci(c: dict[str, Any] | None) -> str:
    if not c:
        return "–"
    m, lo, hi = c["ci"]
    star = "**" if (lo > 0 or hi < 0) else ""
    return f"{star}{_pct(m, True)} [{_pct(lo, True)}, {_pct(hi, True)}]{star} ({c['better']}/{c['n']} better)"


def tables(state: dict[str, Any]) -> str:
    s, summary = state["settings"], summarise(state)
    out = []
    for b in s["budgets"]:
        block = summary[str(b)]
        rows = []
        for init, r in block["rows"].items():
            test, val = list(r["test"].values()), list(r["val"].values())
            sd = statistics.stdev(test) if len(test) > 1 else math.nan
            rows.append([LABELS[init], f"{r['lr']:g}", f"{r['updates']:.0f}", str(len(test)),
                         _pct(statistics.fmean(val)), f"{_pct(statistics.fmean(test))} ± {_pct(sd)}",
                         "(strongest)" if init == block["strongest"] else _ci(r.get("vs_strongest")),
                         _ci(r.get("vs_calibrated")) if init != "calibrated" else "–",
                         f"{r['pretrain_s']:.0f}", f"{r['finetune_s']:.1f}"])
        n = {k: v["labeled"] for k, v in state["runs"].items() if k.split("|")[1] == str(b)}
        labelled = next(iter(n.values()), b)
        out.append(f"#### {labelled} labels: test error (%), chosen on validation; paired difference "
                   f"(points, 95 % CI; bold: excludes 0) against the strongest baseline "
                   f"({LABELS.get(block['strongest'], '–')}) and against calibrated random\n")
        out.append(markdown_table(["init", "lr", "updates", "seeds", "val error", "test error",
                                   "Δ vs strongest", "Δ vs calibrated", "pretrain s", "fine-tune s"], rows))
        out.append("")
    lr_rows = [[LABELS[i], *[f"{state['chosen_lr'].get(f'{i}|{b}', '–')}" for b in s["budgets"]]]
               for i in s["inits"] if i != "calibrated+time"]
    out.append("#### Learning rate chosen on validation (mean of the selection seeds)\n")
    out.append(markdown_table(["init", *[f"{b} labels" for b in s["budgets"]]], lr_rows))
    pre_rows = []
    for sampler in [i for i in s["inits"] if i in SAMPLERS]:
        recs = [r for k, r in state["pretrain"].items() if k.startswith(sampler + "|")]
        if not recs:
            continue
        cos = [statistics.fmean(r["layers"][0]["filter_mean_abs_cos"] for r in recs)]
        pre_rows.append([LABELS[sampler], str(len(recs)), f"{statistics.median(r['seconds'] for r in recs):.0f}",
                         f"{cos[0]:.2f}"])
    out.append("\n#### Pretraining (pool of training images, train.py's defaults)\n")
    out.append(markdown_table(["sampler", "stacks", "median s", "layer-0 mean |cos|"], pre_rows))
    return "\n".join(out) + "\n"


def plot(state: dict[str, Any], path: Path) -> None:
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    s, summary = state["settings"], summarise(state)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    budgets = s["budgets"]
    for init in s["inits"]:
        xs, ms, ds, lo, hi = [], [], [], [], []
        for b in budgets:
            r = summary[str(b)]["rows"].get(init)
            if r is None:
                continue
            xs.append(b)
            ms.append(100 * statistics.fmean(r["test"].values()))
            c = r.get("vs_calibrated")
            ds.append(100 * c["ci"][0] if c else 0.0)
            lo.append(100 * (c["ci"][0] - c["ci"][1]) if c else 0.0)
            hi.append(100 * (c["ci"][2] - c["ci"][0]) if c else 0.0)
        ax1.plot(xs, ms, "o-", color=COLORS[init], label=LABELS[init])
        if init != "calibrated":
            ax2.errorbar(xs, ds, yerr=[lo, hi], fmt="o-", color=COLORS[init], capsize=3, label=LABELS[init])
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("labelled training images")
        ax.grid(alpha=0.3)
    ax1.set_yscale("log")
    ax1.yaxis.set_major_formatter(ScalarFormatter())
    ax1.yaxis.set_minor_formatter(NullFormatter())
    ax1.set_yticks([1, 2, 5, 10, 20])
    ax1.legend(fontsize=7)
    ax1.set_ylabel("test error (%), mean over seeds (log scale)")
    ax1.set_title("Fine-tuned CNN, lr and stopping point chosen on validation")
    ax2.axhline(0, color="black", lw=0.8)
    ax2.set_ylabel("test error − calibrated random (points)")
    ax2.set_title("Paired difference, 95 % t interval (below 0: better)")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if args.quick else ""
    if args.from_json:
        state = json.loads(Path(args.from_json).read_text())
    else:
        set_threads(1)
        s = settings_from(args)
        print(json.dumps(s), flush=True)
        state = Study(s, out, suffix, args.resume, args.jobs).run()
        state["machine"] = machine_info()
        write_json(out / f"finetune_study{suffix}.json", state)
    text = tables(state)
    (out / f"finetune_study{suffix}.md").write_text(text)
    plot(state, out / f"finetune_study{suffix}.png")
    print(text)
    print(f"wrote {out / f'finetune_study{suffix}.md'} and .png", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
