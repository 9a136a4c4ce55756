"""Generative quality of RBMs trained with each negative-phase sampler (issue 7, part 2).

Exact held-out log-likelihood (nats per image) of RBMs trained on binarised 8×8 digits
(``imagedata.load_dataset("digits", binarize=True)``: 1437 train / 360 test images) with
``rbm.pretrain.pretrain_layer`` (SGD, momentum 0.9, batch 64, weight decay 1e-4, visible bias
initialised from the data), against epochs and against training time (CPU seconds of the single-threaded process,
evaluation excluded; wall seconds are recorded too: on a shared machine CPU time is the fairer
clock):

* **dense 64×16** ``BernoulliRBM``: log Z by enumerating the 2¹⁶ hidden states
  (``rbm.evaluate.exact_log_likelihood``).
* **conv**: ``ConvRBM(1, 4, 5, pool_size=4)`` on the 8×8 images: 4 filters 5×5, detection maps
  4×4, one 4×4 probabilistic max-pooling block per filter (each filter is on at ≤ 1 position), so
  the hidden side has 17⁴ = 83 521 valid states and log Z is exact. The library's
  ``exact_log_likelihood`` takes ~2 s per call here (``conv_transpose2d`` on 65 536 tiny maps), so
  the curves use an equivalent evaluator (the same enumeration with the transposed convolution
  unrolled into a 64×64 matrix, ~0.1 s), checked against ``exact_log_likelihood`` at the end of
  every run (|difference| must be < 1e-3 nats).

Samplers (negative phase, β = 1): CD-1, CD-10, PCD-1, ``annealed`` (torch annealer, linear
schedule, 20 sweeps from noise), ``sa`` (dwave-samplers SA, linear, 20 sweeps), ``sa quench``
(two sweeps, Job & Adachi 2020) and ``mock-qpu`` (dense only: the offline QPU stand-in, Pegasus
P6, substitute schedule 20 + 50 sweeps; ~1.5 s per epoch, so it gets fewer epochs). Every sampler
runs at its own tuned learning rate: a sweep over ``--lrs`` / ``--conv-lrs`` on one seed (one more
step when the best value is at an edge of the grid), trained on 80 % of the
training images and scored by exact log-likelihood on the other 20 % (never on the test set), picks
it. Then each sampler trains on the full training set for ``--seeds`` seeds.

Usage (one command regenerates the tables, plots and JSON):

    python bench/bench_generative.py            # ~25 min on one core
    python bench/bench_generative.py --quick    # ~2 min: 1 seed, few epochs, 2 lrs
Outputs in --out (default bench/results/): generative.json, generative.md, generative_dense.png,
generative_conv.png, generative_lr_sweep.png.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import fmt_mean_std, markdown_table, mean_std, plt  # noqa: E402

#: label → (registry name, options). mock-qpu: a short substitute schedule keeps it ~1.5 s/epoch.
SAMPLERS: dict[str, tuple[str, dict]] = {
    "CD-1": ("cd", {"k": 1}),
    "CD-10": ("cd", {"k": 10}),
    "PCD-1": ("pcd", {"k": 1}),
    "annealed": ("annealed", {"schedule": "linear", "num_sweeps": 20}),
    "sa": ("sa", {"schedule": "linear", "num_sweeps": 20}),
    "sa quench": ("sa", {"schedule": "quench"}),
    "mock-qpu": ("mock-qpu", {"num_sweeps_hold": 50, "num_sweeps_anneal": 20}),
}
#: The conv model's max-pooling penalty exceeds the mock's j_range once scaled (clipped) and its
#: chains break (45 % on Pegasus P8; no embedding on P6): no faithful mock-qpu run for it.
CONV_SKIP = {"mock-qpu"}


# --------------------------------------------------------------------------------------- models


def make_model(kind: str, seed: int):
    from rbm import BernoulliRBM, ConvRBM

    torch.manual_seed(seed)
    if kind == "dense":
        return BernoulliRBM(64, 16)
    return ConvRBM(1, 4, 5, pool_size=4, visible_shape=(1, 8, 8))


def prepare(kind: str, x: torch.Tensor) -> torch.Tensor:
    return x.reshape(len(x), -1) if kind == "dense" else x


class ConvExactLL:
    """Exact mean log-likelihood of a pooled ConvRBM by enumerating its valid hidden states.

    Same sum as ``rbm.evaluate.exact_log_partition(side="hidden")``:
    log Z = logsumexp_h [ b_h·h + Σ_i softplus((b_v + W h)_i) ] over every valid pooled h, but
    with W h as a matmul against the unrolled transposed convolution (built once per call from
    ``model.visible_logits`` of the unit vectors) instead of ``conv_transpose2d`` per state.
    """

    def __init__(self, canvas=(1, 8, 8), kernel=5, pool=4, filters=4):
        hh = canvas[1] - kernel + 1
        wh = canvas[2] - kernel + 1
        self.canvas, self.hidden_shape = canvas, (filters, hh, wh)
        # blocks: (filter, block-row, block-col) → flat detection indices
        idx = torch.arange(filters * hh * wh).reshape(filters, hh // pool, pool, wh // pool, pool)
        blocks = idx.permute(0, 1, 3, 2, 4).reshape(-1, pool * pool)  # (n_blocks, c²)
        n_blocks, size = blocks.shape
        total = (size + 1) ** n_blocks
        digits = torch.arange(total).unsqueeze(1) // (size + 1) ** torch.arange(n_blocks) % (size + 1)
        h = torch.zeros(total, filters * hh * wh)
        on = digits < size  # digit == size: block off
        rows = torch.arange(total).unsqueeze(1).expand_as(digits)
        h[rows[on], blocks.expand(total, -1, -1)[on, digits[on]]] = 1.0
        self.h = h
        self.num_states = total

    @torch.no_grad()
    def __call__(self, model, v: torch.Tensor) -> float:
        n_h = self.h.shape[1]
        basis = torch.eye(n_h).reshape(n_h, *self.hidden_shape)
        bias = model.visible_logits(torch.zeros(1, *self.hidden_shape)).reshape(1, -1)
        unrolled = model.visible_logits(basis).reshape(n_h, -1) - bias  # (n_h, n_v)
        b_h = model.hidden_bias.repeat_interleave(n_h // model.hidden_bias.numel())
        logw = self.h @ b_h + torch.nn.functional.softplus(self.h @ unrolled + bias).sum(1)
        log_z = torch.logsumexp(logw.double(), 0)
        return float(-model.free_energy(v).double().mean() - log_z)


# --------------------------------------------------------------------------------------- training


def train_run(kind: str, label: str, lr: float, epochs: int, seed: int, train_x, eval_x,
              conv_ll: ConvExactLL | None, eval_epochs: set[int]) -> dict:
    """Train one model; return the curve [(epoch, train seconds so far, eval LL)] and metadata."""
    from rbm.evaluate import exact_log_likelihood
    from rbm.pretrain import DivergenceError, PretrainConfig, pretrain_layer
    from sampling import make_sampler

    name, options = SAMPLERS[label]
    model = make_model(kind, seed)
    with torch.no_grad():
        model.init_visible_bias(train_x)
    sampler = make_sampler(name, seed=seed, **options)
    config = PretrainConfig(epochs=epochs, lr=lr, seed=seed, exact_ll_max_units=0)

    def evaluate() -> float:
        if conv_ll is not None:
            return conv_ll(model, eval_x)
        with torch.no_grad():
            return float(exact_log_likelihood(model, eval_x))

    curve = [(0, 0.0, evaluate(), 0.0)]  # (epoch, train wall s, LL, train CPU s)
    clock = {"train": 0.0, "sampler": 0.0, "eval": 0.0, "eval_cpu": 0.0,
             "cpu0": time.process_time()}
    extras: dict[str, list] = {}

    def callback(metrics: dict) -> None:
        clock["train"] += metrics["seconds"]
        clock["sampler"] += metrics["sampler_seconds"]
        cpu = time.process_time() - clock["cpu0"] - clock["eval_cpu"]
        for key in ("beta_eff", "chain_break_fraction", "pool_violations"):
            if key in metrics:
                extras.setdefault(key, []).append(metrics[key])
        if metrics["epoch"] in eval_epochs:
            t0, c0 = time.perf_counter(), time.process_time()
            ll = evaluate()
            clock["eval"] += time.perf_counter() - t0
            clock["eval_cpu"] += time.process_time() - c0
            curve.append((metrics["epoch"], clock["train"], ll, cpu))

    diverged = None
    try:
        pretrain_layer(model, train_x, sampler, config, callback=callback)
    except DivergenceError as exc:
        diverged = str(exc)
    final_ll = curve[-1][2]
    check = None
    if conv_ll is not None and diverged is None:
        with torch.no_grad():
            ref = float(exact_log_likelihood(model, eval_x))
        check = ref - final_ll
        if abs(check) > 1e-3:
            raise AssertionError(f"fast conv LL {final_ll} != rbm.evaluate {ref} ({label}, seed {seed})")
    if diverged is None and not math.isfinite(final_ll):
        diverged = f"log-likelihood became {final_ll}"
    return {"kind": kind, "sampler": label, "lr": lr, "epochs": epochs, "seed": seed,
            "curve": curve, "train_seconds": clock["train"], "sampler_seconds": clock["sampler"],
            "train_cpu_seconds": curve[-1][3],
            "extras_per_epoch": {k: [float(x) for x in v] for k, v in extras.items()},
            "eval_seconds": clock["eval"], "diverged": diverged, "conv_check": check,
            "extras": {k: float(np.mean(v)) for k, v in extras.items()}}


def eval_schedule(epochs: int) -> set[int]:
    """Every epoch up to 10, then every 5th (and the last)."""
    return {e for e in range(1, epochs + 1) if e <= 10 or e % 5 == 0 or e == epochs}


# --------------------------------------------------------------------------------------- summaries


def ll_at_epoch(run: dict, epoch: int) -> float:
    pts = [p[2] for p in run["curve"] if p[0] <= epoch]
    return pts[-1] if pts else float("nan")


def ll_at_time(run: dict, seconds: float) -> float:
    """LL of the last evaluated epoch finished within ``seconds`` of training CPU time."""
    pts = [p[2] for p in run["curve"] if p[3] <= seconds + 1e-9]
    return pts[-1] if pts else float("nan")


def summary_table(runs: list[dict], kind: str, mid_epoch: int) -> tuple[str, float]:
    rs = [r for r in runs if r["kind"] == kind]
    labels = list(dict.fromkeys(r["sampler"] for r in rs))
    complete = [r for r in rs if not r["diverged"]]
    t_equal = min(mean_std([r["train_cpu_seconds"] for r in complete if r["sampler"] == lab])[0]
                  for lab in labels if any(r["sampler"] == lab for r in complete))
    body = []
    for lab in labels:
        group = [r for r in rs if r["sampler"] == lab]
        div = sum(1 for r in group if r["diverged"])
        ok = [r for r in group if not r["diverged"]]
        body.append([
            lab, f"{group[0]['lr']:g}", str(group[0]["epochs"]), f"{len(ok)}/{len(group)}",
            fmt_mean_std([ll_at_epoch(r, mid_epoch) for r in ok]),
            fmt_mean_std([r["curve"][-1][2] for r in ok]),
            fmt_mean_std([ll_at_time(r, t_equal) for r in ok]),
            f"{mean_std([r['train_cpu_seconds'] for r in ok])[0]:.1f}",
            f"{mean_std([r['train_seconds'] for r in ok])[0]:.1f}",
            f"{1e3 * mean_std([r['train_cpu_seconds'] / r['epochs'] for r in ok])[0]:.0f}",
        ] + ([f"{div} diverged"] if div else []))
    headers = ["sampler", "lr", "epochs", "runs", f"test LL @ epoch {mid_epoch}",
               "test LL @ final epoch", f"test LL @ {t_equal:.1f} CPU s", "train CPU s",
               "train wall s", "CPU ms / epoch"]
    if any(len(b) > len(headers) for b in body):
        headers.append("note")
        body = [b + [""] * (len(headers) - len(b)) for b in body]
    return markdown_table(headers, body), t_equal


def sweep_table(sweep: list[dict]) -> str:
    out = []
    for kind in dict.fromkeys(r["kind"] for r in sweep):
        rs = [r for r in sweep if r["kind"] == kind]
        lrs = sorted({r["lr"] for r in rs})
        body = []
        for lab in dict.fromkeys(r["sampler"] for r in rs):
            vals = {r["lr"]: (r["curve"][-1][2] if not r["diverged"] else float("nan"))
                    for r in rs if r["sampler"] == lab}
            best = max((v for v in vals.values() if math.isfinite(v)), default=float("nan"))
            cells = []
            for lr in lrs:
                v = vals.get(lr)
                if v is None:
                    cells.append("–")
                elif not math.isfinite(v):
                    cells.append("diverged")
                else:
                    cells.append(f"**{v:.2f}**" if v == best else f"{v:.2f}")
            body.append([lab, str(next(r["epochs"] for r in rs if r["sampler"] == lab)), *cells])
        out.append(f"{kind}: validation LL (nats) after the sweep's epochs, seed 0; bold = chosen\n")
        out.append(markdown_table(["sampler", "epochs", *(f"lr {lr:g}" for lr in lrs)], body))
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------------------- plots

COLORS = {"CD-1": "C0", "CD-10": "C1", "PCD-1": "C2", "annealed": "C3", "sa": "C4",
          "sa quench": "C5", "mock-qpu": "C6"}


def curve_plot(runs: list[dict], kind: str, title: str, path: Path, ylim=None) -> None:
    rs = [r for r in runs if r["kind"] == kind and not r["diverged"]]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    if ylim is None and rs:  # from the best curve down to CD-1's first epoch (outliers go off-scale)
        top = max(p[2] for r in rs for p in r["curve"])
        ref = [r["curve"][1][2] for r in rs if r["sampler"] == "CD-1" and len(r["curve"]) > 1]
        bottom = (min(ref) if ref else min(p[2] for r in rs for p in r["curve"][1:])) - 2
        ylim = (bottom, top + 0.5)
    for lab in dict.fromkeys(r["sampler"] for r in rs):
        group = [r for r in rs if r["sampler"] == lab]
        epochs = [p[0] for p in group[0]["curve"]]
        ll = np.array([[p[2] for p in r["curve"]] for r in group])
        secs = np.array([[p[3] for p in r["curve"]] for r in group]).mean(0)
        m, s = ll.mean(0), ll.std(0)
        color = COLORS.get(lab)
        name = f"{lab} (lr {group[0]['lr']:g})"
        if ylim and m[-1] < ylim[0]:
            name += f": ends off-scale at {m[-1]:.1f}"
        for ax, x in ((axes[0], epochs), (axes[1], secs)):
            ax.plot(x[1:], m[1:], color=color, label=name, lw=1.4)
            ax.fill_between(x[1:], (m - s)[1:], (m + s)[1:], color=color, alpha=0.2, lw=0)
    axes[0].set_xlabel("epoch")
    axes[1].set_xlabel("training CPU time (s, 1 thread; evaluation excluded)")
    axes[1].set_xscale("log")
    for ax in axes:
        ax.set_ylabel("exact test log-likelihood (nats / image)")
        ax.grid(alpha=0.3)
        if ylim:
            ax.set_ylim(*ylim)
    axes[0].legend(fontsize=8, loc="lower right")
    n = len({r["seed"] for r in rs})
    fig.suptitle(f"{title}: mean ± std over {n} seed(s)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sweep_plot(sweep: list[dict], path: Path) -> None:
    kinds = list(dict.fromkeys(r["kind"] for r in sweep))
    fig, axes = plt.subplots(1, len(kinds), figsize=(5 * len(kinds), 3.8), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        rs = [r for r in sweep if r["kind"] == kind]
        finite = [r["curve"][-1][2] for r in rs if not r["diverged"] and math.isfinite(r["curve"][-1][2])]
        top = max(finite) + 0.5
        bottom = top - 12  # samplers far below go off-scale (named in the legend)
        for lab in dict.fromkeys(r["sampler"] for r in rs):
            pts = sorted((r["lr"], r["curve"][-1][2] if not r["diverged"] else np.nan)
                         for r in rs if r["sampler"] == lab)
            ep = next(r["epochs"] for r in rs if r["sampler"] == lab)
            name = lab if ep == rs[0]["epochs"] else f"{lab} ({ep} epochs)"
            best = np.nanmax([p[1] for p in pts])
            if best < bottom:
                name += f": off-scale, best {best:.1f}"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=COLORS.get(lab), label=name)
        ax.set_ylim(bottom, top)
        ax.legend(fontsize=7, loc="lower left")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("validation log-likelihood (nats)")
        ax.set_title(f"{kind}: lr sweep (seed 0, {rs[0]['epochs']} epochs)", fontsize=10)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 seed, few epochs, 2 lrs (~2 min)")
    p.add_argument("--seeds", default=None, help="'3' (= 0,1,2) or '0,5,9'; default 3 (quick 1)")
    p.add_argument("--out", default=str(common.DEFAULT_OUT))
    p.add_argument("--epochs", type=int, default=None, help="dense epochs (200; quick 15)")
    p.add_argument("--conv-epochs", type=int, default=None, help="conv epochs (30; quick 3)")
    p.add_argument("--mock-epochs", type=int, default=None, help="mock-qpu dense epochs (50; quick 3)")
    p.add_argument("--lrs", default=None, help="dense lr sweep (default 0.01,0.03,0.1,0.3)")
    p.add_argument("--conv-lrs", default=None, help="conv lr sweep (default 0.1,0.3,1,3): the "
                   "loss is averaged over the 16 hidden positions, so conv wants larger steps")
    p.add_argument("--sweep-epochs", type=int, default=None, help="dense sweep epochs (50; quick 5)")
    p.add_argument("--conv-sweep-epochs", type=int, default=None, help="conv sweep epochs (10; quick 2)")
    p.add_argument("--samplers", default=",".join(SAMPLERS), help="comma-separated labels")
    p.add_argument("--models", default="dense,conv")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--from-json", default=None,
                   help="rebuild the tables and plots from a saved generative*.json, no training")
    args = p.parse_args(argv)
    q = args.quick
    seeds = common.parse_seeds(args.seeds or ("1" if q else "3"))
    epochs = {"dense": args.epochs or (15 if q else 200), "conv": args.conv_epochs or (3 if q else 30)}
    mock_epochs = args.mock_epochs or (3 if q else 50)
    sweep_epochs = {"dense": args.sweep_epochs or (5 if q else 50),
                    "conv": args.conv_sweep_epochs or (2 if q else 10)}
    grids = {"dense": [float(x) for x in (args.lrs or ("0.03,0.1" if q else "0.01,0.03,0.1,0.3")).split(",")],
             "conv": [float(x) for x in (args.conv_lrs or ("0.3,1" if q else "0.1,0.3,1,3")).split(",")]}
    labels = [s.strip() for s in args.samplers.split(",") if s.strip()]
    for lab in labels:
        if lab not in SAMPLERS:
            p.error(f"unknown sampler {lab!r}; choose from {', '.join(SAMPLERS)}")
    kinds = [k.strip() for k in args.models.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if q else ""
    if args.from_json:
        import json

        result = json.loads(Path(args.from_json).read_text())
        for r in result["sweep"] + result["runs"]:
            r["curve"] = [(p[0], float(p[1]), float(p[2]), float(p[3])) for p in r["curve"]]
        suffix = "_quick" if result["args"].get("quick") else ""
        report(result, out, suffix, result["args"].get("command") or "bench/bench_generative.py")
        return 0
    args.command = " ".join(sys.argv)
    common.set_threads(args.threads)
    import logging

    logging.getLogger("sampling.qpu").setLevel(logging.ERROR)

    import imagedata

    started = time.perf_counter()
    ds = imagedata.load_dataset("digits", binarize=True)
    perm = torch.randperm(len(ds.x_train), generator=torch.Generator().manual_seed(12345))
    n_val = len(perm) // 5
    conv_ll_fn = ConvExactLL() if "conv" in kinds else None
    result: dict = {"machine": common.machine_info(), "args": vars(args), "seeds": seeds,
                    "samplers": {k: SAMPLERS[k] for k in labels}, "sweep": [], "runs": []}

    def mk_epochs(kind, lab, base):
        return min(base, mock_epochs) if lab == "mock-qpu" else base

    # ---- 1. learning-rate sweep on seed 0 (train 80 %, score on the held-out 20 % of train)
    best_lr: dict[tuple[str, str], float] = {}
    for kind in kinds:
        x_all = prepare(kind, ds.x_train)
        x_fit, x_val = x_all[perm[n_val:]], x_all[perm[:n_val]]
        for lab in labels:
            if kind == "conv" and lab in CONV_SKIP:
                continue
            ep = mk_epochs(kind, lab, sweep_epochs[kind])
            if lab == "mock-qpu":
                ep = max(2, ep * 2 // 5)  # its sweep is shorter still (per-step cost): 20 epochs
            lrs = grids[kind]
            scores: dict[float, float] = {}
            todo, extended = list(lrs), q
            while todo:
                lr = todo.pop(0)
                r = train_run(kind, lab, lr, ep, seeds[0], x_fit, x_val,
                              conv_ll_fn if kind == "conv" else None, {ep})
                result["sweep"].append(r)
                scores[lr] = r["curve"][-1][2] if not r["diverged"] else float("-inf")
                print(f"sweep {kind} {lab} lr {lr:g}: val LL {scores[lr]:.3f} "
                      f"({r['train_seconds']:.1f} s){' DIVERGED' if r['diverged'] else ''}", flush=True)
                if not todo and not extended:  # optimum at an edge of the grid: one step further
                    extended = True
                    best = max(scores, key=scores.__getitem__)
                    if best == min(lrs):
                        todo.append(best / 3)
                    elif best == max(lrs):
                        todo.append(best * 3)
            best_lr[(kind, lab)] = max(scores, key=scores.__getitem__)
    result["best_lr"] = {f"{k}/{lab}": v for (k, lab), v in best_lr.items()}
    print("\n" + sweep_table(result["sweep"]), flush=True)

    # ---- 2. main runs: full training set, test set, every seed, tuned lr
    for kind in kinds:
        x_train, x_test = prepare(kind, ds.x_train), prepare(kind, ds.x_test)
        for lab in labels:
            if (kind, lab) not in best_lr:
                continue
            ep = mk_epochs(kind, lab, epochs[kind])
            for seed in seeds:
                r = train_run(kind, lab, best_lr[(kind, lab)], ep, seed, x_train, x_test,
                              conv_ll_fn if kind == "conv" else None, eval_schedule(ep))
                result["runs"].append(r)
                common.write_json(out / f"generative{suffix}.partial.json", result)
                print(f"{kind} {lab} seed {seed} lr {r['lr']:g}: test LL {r['curve'][-1][2]:.3f} after "
                      f"{ep} epochs, {r['train_seconds']:.1f} s train + {r['eval_seconds']:.1f} s eval"
                      f"{' DIVERGED: ' + r['diverged'] if r['diverged'] else ''}", flush=True)

    result["total_seconds"] = time.perf_counter() - started
    common.write_json(out / f"generative{suffix}.json", result)  # raw data first
    report(result, out, suffix, args.command)
    common.write_json(out / f"generative{suffix}.json", result)  # with the table summary
    (out / f"generative{suffix}.partial.json").unlink(missing_ok=True)
    print(f"\ntotal {result['total_seconds']:.0f} s; wrote {out}", flush=True)
    return 0


def report(result: dict, out: Path, suffix: str, command: str) -> None:
    """Tables (stdout + generative*.md) and plots from a result dict (fresh or loaded)."""
    kinds = list(dict.fromkeys(r["kind"] for r in result["runs"]))
    seeds = result["seeds"]
    sweep_md = sweep_table(result["sweep"])
    sweep_plot(result["sweep"], out / f"generative_lr_sweep{suffix}.png")
    md = [f"# Generative quality (bench/bench_generative.py)\n\nCommand: `{command}`\n",
          "## Learning-rate sweep\n", sweep_md]
    titles = {"dense": "dense RBM 64×16 on binarised 8×8 digits",
              "conv": "conv RBM, 4 filters 5×5, 4×4 max-pooling, on binarised 8×8 digits"}
    result["tables"] = {}
    for kind in kinds:
        full = max(r["epochs"] for r in result["runs"] if r["kind"] == kind)
        shortest = min(r["epochs"] for r in result["runs"] if r["kind"] == kind)
        mid = shortest if shortest < full else max(1, full // 2)
        table, t_eq = summary_table(result["runs"], kind, mid)
        result["tables"][kind] = {"equal_time_seconds": t_eq, "mid_epoch": mid}
        print(f"\n{titles[kind]} ({len(seeds)} seeds):\n\n{table}", flush=True)
        md += [f"\n## {titles[kind]}\n", table]
        curve_plot(result["runs"], kind, titles[kind], out / f"generative_{kind}{suffix}.png")
    m = result["machine"]
    md.append(f"\nMachine: {m.get('cpu_model')}, torch {m['torch']}, threads {m['torch_threads']}, "
              f"load {m.get('load_average_1_5_15')}; total {float(result['total_seconds']):.0f} s.")
    (out / f"generative{suffix}.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    sys.exit(main())
