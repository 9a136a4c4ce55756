"""Frozen features of conv RBM stacks: the pretraining-recipe sweep and the sampler benchmark
(issue 16 parts 1-2).

Every number here is the error of a standardised multinomial logistic regression on the frozen
pooled outputs of layer 0 (and of layers 0..1, concatenated) of a stack pretrained on mnist5k,
beside raw pixels and random filters of the same shape drawn in the same run (``cnn.features``).

Two modes:

``sweep``  choose the recipe on a VALIDATION split: the 4,000 mnist5k training images are split
           (stratified, fixed) into 3,000 to pretrain and draw labels from, 1,000 to measure on;
           the test set is never read. One line per recipe goes to
           ``bench/results/features_sweep.jsonl`` (appended, so a sweep can be resumed) with the
           errors, the per-layer hidden activity and filter diversity, and the pretraining seconds.
``final``  the chosen recipe for every negative-phase sampler, ``--seeds`` pretraining seeds (each
           seed also draws the label subsets and the random filters), pretrained on the 4,000
           training images and measured ONCE on the 1,000 test images: a markdown table of mean ±
           95 % CI, a JSON file, and a PNG of the learned filters.

``merge``  one table (markdown) from several ``final`` JSON files, e.g. samplers run in parallel.

Recipes are named in :data:`RECIPES` (a dict of :class:`rbm.pretrain.PretrainConfig` fields plus
the sampler's options); ``--recipe`` takes a comma-separated list of names or ad-hoc recipes
``key=value/key=value`` on top of ``default``; ``--set KEY=VALUE`` overrides fields of all.

    # a screening run: layer 0 only, CD-1, 2,000 images, the random baseline beside it
    python bench/bench_features.py sweep --depth 1 --n-pretrain 2000 --random-baseline \
        --recipe "default,init_filter_norm=10/lr=0.1/sparsity_target=0.02/sparsity_rate=5/hidden_bias_init=-3" \
        --set sampler=cd --set num_sweeps=1 --probe-seeds 2 --plot
    # today's recipe (centered gradients) beside k-means and Gabor filter banks at the random scale
    python bench/bench_features.py sweep --recipe centered --depth 2 --n-pretrain 2000 --probe-seeds 2 \
        --label-counts 1000 --set sampler=cd --set num_sweeps=1 --random-baseline --filter-banks
    python bench/bench_features.py sweep --recipe "centered/batch_size=64" ...   # a named recipe + changes
    # the first benchmark (docs/RESULTS.md section 6, the sparse recipe), three processes, then one
    # table; the centered one is the same with --recipe centered, plus
    #   final --recipe centered --samplers "" --no-baselines --filter-banks --tag features_centered_filter_banks
    python bench/bench_features.py final --recipe sparse --seeds 5 --n-pretrain 2000 \
        --samplers cd,pcd --tag features_final_cd_pcd
    python bench/bench_features.py final --recipe sparse --seeds 5 --n-pretrain 2000 \
        --samplers annealed --no-baselines --tag features_final_annealed
    python bench/bench_features.py final --recipe sparse --seeds 5 --n-pretrain 2000 --samplers sa \
        --sampler-option sa:canvas_hw=8 --sampler-option sa:num_chains=32 --no-baselines \
        --tag features_final_sa
    python bench/bench_features.py merge bench/results/features_final_*.json --tag features_final

Torch runs on 1 thread (``--threads``). Does not import ``train.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import DEFAULT_OUT, machine_info, set_threads, write_json  # noqa: E402

import imagedata  # noqa: E402
import sampling  # noqa: E402
from cnn.features import (  # noqa: E402
    feature_sets,
    format_report,
    linear_probe,
    random_filter_stack,
    set_sparse_filters,
    stack_features,
    stratified_subset,
)
from rbm import ais_log_likelihood, build_stack, filter_diversity, hidden_activity  # noqa: E402
from rbm.pretrain import PretrainConfig, make_optimizer, pretrain_layer  # noqa: E402

log = logging.getLogger("bench_features")

#: The PretrainConfig fields a recipe may set; every other key is a sampler option or one of
#: ``layers``, ``sampler``.
_CONFIG_FIELDS = set(PretrainConfig.__dataclass_fields__)

#: Named recipes. ``default`` is the first ``python train.py`` pretraining.
RECIPES: dict[str, dict[str, Any]] = {
    "default": dict(layers="16x5p2,32x5p2", sampler="annealed", persistent=True, num_sweeps=10,
                    epochs=2, lr=0.5, momentum=0.9, weight_decay=1e-4, batch_size=64),
}
#: The sweep's choice (bench/results/features_sweep.jsonl, docs/RESULTS.md): restart every filter
#: as Gaussian noise of norm 10 (the scale at which random filters make good sparse features),
#: Lee et al.'s sparsity step toward 2 % detection activity from a hidden bias of -3, lr 0.1.
RECIPES["sparse"] = dict(RECIPES["default"], lr=0.1, init_filter_norm=10.0, hidden_bias_init=-3.0,
                         sparsity_target=0.02, sparsity_rate=5.0)
#: The second sweep's choice (docs/RESULTS.md §6), today's ``python train.py`` pretraining: the
#: ``sparse`` start with centered gradients (``rbm.centering``), which let the filters learn at
#: lr 0.5 in minibatches of 16 instead of drifting toward one blob.
RECIPES["centered"] = dict(RECIPES["sparse"], lr=0.5, batch_size=16, centering=True)


def _parse_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"none": None, "true": True, "false": False}.get(text.lower(), text)


def recipe_from(name: str, overrides: list[str]) -> dict[str, Any]:
    """``RECIPES[name]`` (or ``default`` + ``name`` parsed as ``k=v/k=v``, or a named recipe +
    ``name/k=v/...``) with overrides."""
    if name in RECIPES:
        recipe = dict(RECIPES[name])
    else:  # an ad-hoc recipe: "lr=0.1/sparsity_target=0.05" on top of default, or "centered/lr=1"
        items = [item for item in name.split("/") if item]
        base = items.pop(0) if items and "=" not in items[0] else "default"
        if base not in RECIPES:
            raise SystemExit(f"error: unknown recipe {base!r}; named recipes: {', '.join(RECIPES)}")
        recipe = dict(RECIPES[base])
        for item in items:
            key, _, value = item.partition("=")
            recipe[key] = _parse_value(value)
    for item in overrides:
        key, _, value = item.partition("=")
        recipe[key] = _parse_value(value)
    return recipe


def split_recipe(recipe: dict[str, Any]) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    config = {k: v for k, v in recipe.items() if k in _CONFIG_FIELDS}
    sampler_options = {k: v for k, v in recipe.items() if k not in _CONFIG_FIELDS
                       and k not in ("layers", "sampler")}
    return recipe["layers"], recipe["sampler"], config, sampler_options


def make_negative_sampler(name: str, options: dict[str, Any], seed: int, layer: int,
                          data_shape: tuple[int, ...]) -> Any:
    """The layer's sampler; option ``canvas_hw=N`` gives a conv layer an N x N negative-phase
    canvas (at most its data size) with the data's channels, as train.py's ``--canvas``."""
    options = dict(options)
    hw = options.pop("canvas_hw", None)
    if hw is not None and len(data_shape) == 3:
        options["canvas"] = (data_shape[0], min(int(hw), data_shape[1]), min(int(hw), data_shape[2]))
    if name in ("cd", "pcd"):
        options.pop("persistent", None)
        if "num_sweeps" in options:
            options["k"] = options.pop("num_sweeps")
    if name in ("mock-qpu", "qpu"):  # an annealer's read is one independent draw: no chains
        options.pop("persistent", None)
        options.pop("num_sweeps", None)
    return sampling.make_sampler(name, seed=seed + 7919 * layer, **options)


def pretrain_stack(recipe: dict[str, Any], x: torch.Tensor, seed: int, depth: int,
                   sampler_name: str | None = None) -> tuple[Any, list[dict[str, Any]], list[float]]:
    """Greedy pretraining of ``depth`` layers of the recipe's stack on ``x``; returns
    ``(stack, history, seconds per layer)``."""
    layers, name, config_fields, sampler_options = split_recipe(recipe)
    name = sampler_name or name
    torch.manual_seed(seed)
    stack = build_stack(layers, tuple(x.shape[1:]))
    history: list[dict[str, Any]] = []
    seconds = []
    for i in range(depth):
        layer = stack.layers[i]
        with torch.no_grad():
            data = stack.transform(x, upto=i)
        layer.init_visible_bias(data)
        config = PretrainConfig(**{**config_fields, "seed": seed})
        sampler = make_negative_sampler(name, sampler_options, seed, i, tuple(data.shape[1:]))
        t0 = time.perf_counter()
        history += pretrain_layer(layer, data, sampler, config, optimizer=make_optimizer(layer, config),
                                  layer=i)
        seconds.append(time.perf_counter() - t0)
    return stack, history, seconds


def validation_split(ds: Any, n_val: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Fixed stratified split of the training set: (fit indices, validation indices)."""
    y = ds.y_train.numpy()
    val = np.sort(stratified_subset(y, n_val, seed=12345))
    fit = np.setdiff1d(np.arange(len(y)), val)
    return fit, val


def layer_health(stack: Any, x: torch.Tensor, depth: int) -> list[dict[str, float]]:
    out = []
    with torch.no_grad():
        for i in range(depth):
            data = stack.transform(x[:1000], upto=i)
            act = hidden_activity(stack.layers[i], data)
            out.append({"detection": act["detection"], "pooled": act["pooled"],
                        "mean_abs_cos": filter_diversity(stack.layers[i].weight),
                        "hidden_bias_mean": float(stack.layers[i].hidden_bias.mean())})
    return out


def probe_stack(stack: Any, depth: int, xp, yp, xe, ye, counts, seeds, C) -> dict[str, dict]:
    errors = {}
    for name, d in feature_sets(stack)[:depth]:
        errors[name] = linear_probe(stack_features(stack, xp, d), yp, stack_features(stack, xe, d),
                                    ye, counts, seeds, C)
    return errors


@torch.no_grad()
def with_filters_like_random(like: Any, directions: torch.Tensor, x: torch.Tensor, target: float,
                             gain: float, seed: int = 0) -> Any:
    """A stack like ``like`` whose layer 0 has the filter ``directions`` (one row per filter)
    at the random baseline's scale: each made zero-mean with norm ``gain``, its bias putting a
    fraction ``target`` of its logits above 0 (layers above: the random baseline's of ``seed``)."""
    out = random_filter_stack(like, x, target, gain, seed=seed)
    set_sparse_filters(out.layers[0], directions.detach().flatten(1).to(torch.float32), x[:500],
                       target, gain)
    return out


def renormed_like_random(stack: Any, x: torch.Tensor, target: float, gain: float) -> Any:
    """Layer 0 of ``stack`` with its learned filter *directions* but the random baseline's scale.
    Separates "the learned directions are poor" from "the scale is too soft"."""
    return with_filters_like_random(stack, stack.layers[0].weight, x, target, gain)


def classical_filter_banks(like: Any, x: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """Layer-0 filter directions from two classical recipes, as a reference for what filter
    *directions* alone can buy in this probe (single-channel layer 0 only):

    * ``k-means``: Coates & Ng (2011): k-means centroids of 100,000 random w×w patches of ``x``,
      each patch brightness- and contrast-normalised (patches with std < 0.05 dropped);
    * ``Gabor``: oriented Gabor filters, 8 orientations × 2 phases × 2 wavelengths (4, 6 px),
      envelope σ = w / 3.5, cycled to the filter count.
    """
    from sklearn.cluster import KMeans

    k, c, w, _ = like.layers[0].weight.shape
    if c != 1:
        raise ValueError("classical_filter_banks: layer 0 must have one input channel")
    rng = np.random.default_rng(seed)
    images = x[:2000, 0].numpy()
    patches = np.lib.stride_tricks.sliding_window_view(images, (w, w), axis=(1, 2)).reshape(-1, w * w)
    patches = patches[rng.choice(len(patches), min(100_000, len(patches)), replace=False)]
    patches = patches[patches.std(1) > 0.05]
    patches = patches - patches.mean(1, keepdims=True)
    patches = patches / (patches.std(1, keepdims=True) + 0.1)
    centroids = KMeans(k, n_init=3, random_state=seed).fit(patches).cluster_centers_
    yy, xx = np.mgrid[:w, :w] - (w - 1) / 2
    gabor = []
    for i in range(k):
        theta, phase = np.pi * (i % 8) / 8, (i // 8) % 2 * np.pi / 2
        wavelength = 4.0 + 2.0 * ((i // 16) % 2)
        u = xx * np.cos(theta) + yy * np.sin(theta)
        envelope = np.exp(-(xx ** 2 + yy ** 2) / (2 * (w / 3.5) ** 2))
        gabor.append(envelope * np.cos(2 * np.pi * u / wavelength + phase))
    return {"k-means": torch.tensor(centroids), "Gabor": torch.tensor(np.array(gabor))}


def probe_random(stack: Any, depth: int, xp, yp, xe, ye, counts, seeds, C, target, gain) -> dict:
    errors: dict[str, dict[int, list[float]]] = {}
    for seed in seeds:
        rand = random_filter_stack(stack, xp, target, gain, seed=seed)
        for name, d in feature_sets(stack)[:depth]:
            got = linear_probe(stack_features(rand, xp, d), yp, stack_features(rand, xe, d), ye,
                               counts, [seed], C)
            slot = errors.setdefault(f"random {name}", {n: [] for n in counts})
            for n in counts:
                slot[n] += got[n]
    return errors


def _mean_pct(errs: dict[int, list[float]]) -> dict[int, float]:
    return {n: round(100 * float(np.mean(v)), 2) for n, v in errs.items()}


def cmd_sweep(args: argparse.Namespace) -> None:
    ds = imagedata.load_dataset("mnist5k")
    fit, val = validation_split(ds)
    x_fit, y_fit = ds.x_train[fit], ds.y_train[fit].numpy()
    x_val, y_val = ds.x_train[val], ds.y_train[val].numpy()
    x_pre = x_fit[: args.n_pretrain or len(x_fit)]
    counts, seeds = args.label_counts, list(range(args.probe_seeds))
    out = Path(args.out) / f"{args.tag}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.random_baseline:
        for target in args.random_targets:
            for gain in args.random_gains:
                # the shape of the first recipe (with --set), so "random" matches what is compared
                stack = build_stack(recipe_from(args.recipe[0], args.set)["layers"], (1, 28, 28))
                errs = probe_random(stack, args.depth, x_fit, y_fit, x_val, y_val, counts, seeds,
                                    args.C, target, gain)
                row = {"recipe": f"random target={target} gain={gain}", "C": args.C,
                       "errors": {k: _mean_pct(v) for k, v in errs.items()}}
                print(json.dumps(row), flush=True)
                with out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    for name in args.recipe:
        recipe = recipe_from(name, args.set)
        stack, history, seconds = pretrain_stack(recipe, x_pre, args.seed, args.depth)
        errs = probe_stack(stack, args.depth, x_fit, y_fit, x_val, y_val, counts, seeds, args.C)
        if args.filter_banks:
            for bank, directions in classical_filter_banks(stack, x_pre, args.seed).items():
                banked = with_filters_like_random(stack, directions, x_fit, args.random_targets[0],
                                                  args.random_gains[0])
                for key, e in probe_stack(banked, args.depth, x_fit, y_fit, x_val, y_val, counts,
                                          seeds, args.C).items():
                    errs[f"{bank} {key}"] = e
        if args.renormed:
            renormed = renormed_like_random(stack, x_fit, args.random_targets[0], args.random_gains[0])
            errs["layer 0 renormed like random"] = probe_stack(
                renormed, 1, x_fit, y_fit, x_val, y_val, counts, seeds, args.C)["layer 0"]
        row = {"recipe": name, "settings": recipe, "n_pretrain": len(x_pre), "seed": args.seed,
               "C": args.C, "errors": {k: _mean_pct(v) for k, v in errs.items()},
               "health": layer_health(stack, x_fit, args.depth),
               "pretrain_seconds": [round(s, 1) for s in seconds],
               "last_epoch": [{k: v for k, v in h.items() if isinstance(v, (int, float))}
                              for h in history if h["epoch"] == recipe["epochs"]]}
        print(json.dumps(row), flush=True)
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if args.plot:
            plot_filters(stack, Path(args.out) / f"{args.tag}_{_slug(name)}_filters.png", name)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80]


def plot_filters(stack: Any, path: Path, title: str = "") -> Path:
    """Layer-0 filters, each normalised to its own range (``cnn.plots.plot_filters``)."""
    from cnn.plots import plot_filters as plot_grid

    return plot_grid(stack.layers[0].weight, path, ncols=8, title=title[:70])


def cmd_final(args: argparse.Namespace) -> None:
    ds = imagedata.load_dataset("mnist5k")
    x_tr, y_tr = ds.x_train, ds.y_train.numpy()
    x_te, y_te = ds.x_test, ds.y_test.numpy()
    counts, seeds = args.label_counts, list(range(args.seeds))
    recipe = recipe_from(args.recipe[0], args.set)
    depth = len(recipe["layers"].split(","))
    results: dict[str, Any] = {"recipe": recipe, "label_counts": counts, "seeds": seeds,
                               "C": args.C, "machine": machine_info(), "samplers": {}}
    report_errors: dict[str, dict[int, list[float]]] = {}
    stack = build_stack(recipe["layers"], (1, 28, 28))
    if args.baselines:
        raw = linear_probe(x_tr.flatten(1), y_tr, x_te.flatten(1), y_te, counts, seeds, args.C)
        report_errors["raw pixels"] = raw
        rand = probe_random(stack, depth, x_tr, y_tr, x_te, y_te, counts, seeds, args.C,
                            args.random_targets[0], args.random_gains[0])
        report_errors.update(rand)
        results["baselines"] = dict(report_errors, random_target=args.random_targets[0],
                                    random_gain=args.random_gains[0])
    if args.filter_banks:  # classical filter directions at the random scale: what directions buy
        banks: dict[str, dict[int, list[float]]] = {}
        for seed in seeds:
            for bank, directions in classical_filter_banks(stack, x_tr, seed).items():
                banked = with_filters_like_random(stack, directions, x_tr, args.random_targets[0],
                                                  args.random_gains[0], seed=seed)
                for key, e in probe_stack(banked, depth, x_tr, y_tr, x_te, y_te, counts, [seed],
                                          args.C).items():
                    slot = banks.setdefault(f"{bank}: {key}", {n: [] for n in counts})
                    for n in counts:
                        slot[n] += e[n]
        report_errors.update(banks)
        results.setdefault("baselines", {}).update(banks)
    refused: dict[str, list[dict[str, Any]]] = {}
    for name in args.samplers:
        per: dict[str, dict[int, list[float]]] = {}
        health, secs = [], []
        for seed in seeds:
            options = dict(recipe)
            if name in ("cd", "pcd"):
                options["num_sweeps"] = 1  # CD-1 and PCD-1 unless --sampler-option says otherwise
            options.update(args.sampler_set.get(name, {}))
            t0 = time.perf_counter()
            try:
                stack, history, seconds = pretrain_stack(options, x_tr[: args.n_pretrain], seed,
                                                         depth, sampler_name=name)
            except sampling.SamplingError as exc:  # e.g. a QPU's refused samples: a result too
                if isinstance(exc, sampling.SamplerArgumentError):
                    raise
                refusal = {"seed": seed, "after_seconds": round(time.perf_counter() - t0, 1),
                           "error": f"{type(exc).__name__}: {exc}"}
                refused.setdefault(name, []).append(refusal)
                print(f"{name} seed {seed}: pretraining stopped: {refusal}", flush=True)
                continue
            errs = probe_stack(stack, depth, x_tr, y_tr, x_te, y_te, counts, [seed], args.C)
            for key, e in errs.items():
                slot = per.setdefault(key, {n: [] for n in counts})
                for n in counts:
                    slot[n] += e[n]
            health.append(layer_health(stack, x_tr, depth))
            secs.append(seconds)
            if seed == 0:
                plot_filters(stack, Path(args.out) / f"{args.tag}_filters_{name}.png",
                             f"{name}: {args.recipe[0]} (seed 0)")
                ll, err = ais_log_likelihood(stack.layers[0], x_te[:500], num_chains=50,
                                             num_betas=500, runs=2, data=x_tr,
                                             generator=torch.Generator().manual_seed(0))
                results.setdefault("ais_layer0_test_ll", {})[args.label + name] = {"mean": ll,
                                                                                   "std": err}
                print(f"{name} seed 0: layer-0 AIS test log-likelihood {ll:.2f} ± {err:.2f} nats",
                      flush=True)
            print(f"{name} seed {seed}: " + json.dumps({k: _mean_pct(v) for k, v in errs.items()})
                  + f" seconds {[round(s, 1) for s in seconds]}", flush=True)
        results["samplers"][args.label + name] = {"errors": per, "health": health, "pretrain_seconds": secs,
                                                  "refused": refused.get(name, [])}
        for key, e in per.items():
            report_errors[f"{name}: {key}"] = e
        write_json(Path(args.out) / f"{args.tag}.json", results)
    results["table"] = format_report({"errors": report_errors, "label_counts": counts}) + "".join(
        f"\n{name}, seed {r['seed']}: no features, pretraining stopped after {r['after_seconds']} s"
        f" ({r['error'][:300]})" for name, rs in refused.items() for r in rs)
    results["command"] = " ".join(sys.argv)
    write_json(Path(args.out) / f"{args.tag}.json", results)
    print(results["table"])


def _int_keys(errs: dict) -> dict[int, list[float]]:
    return {int(n): v for n, v in errs.items()}


def cmd_merge(args: argparse.Namespace) -> None:
    """One table from several ``final`` JSON files (e.g. samplers run in parallel processes)."""
    errors: dict[str, dict[int, list[float]]] = {}
    health, seconds, ais, commands, recipe, counts = {}, {}, {}, [], None, None
    for path in args.inputs:
        r = json.loads(Path(path).read_text())
        recipe, counts = r["recipe"], r["label_counts"]
        commands.append(r.get("command", ""))
        for key, errs in r.get("baselines", {}).items():
            if isinstance(errs, dict):
                errors[key] = _int_keys(errs)
        for name, got in r["samplers"].items():
            for key, errs in got["errors"].items():
                errors[f"{name}: {key}"] = _int_keys(errs)
            health[name], seconds[name] = got["health"], got["pretrain_seconds"]
        ais.update(r.get("ais_layer0_test_ll", {}))
    table = format_report({"errors": errors, "label_counts": counts})
    paired: dict[str, dict[int, list[float]]] = {}  # same seed = same label subsets
    for key, errs in errors.items():
        sampler, _, depth = key.partition(": ")
        base = errors.get(f"random {depth}")
        if depth and base is not None:
            paired[f"{sampler}: {depth} − random {depth}"] = {
                n: [a - b for a, b in zip(errs[n], base[n], strict=True)] for n in counts}
    diff_table = format_report({"errors": paired, "label_counts": counts}) if paired else ""
    lines = ["| sampler | layer-0 detection / pooled activity | layer-0 mean abs cos | "
             "layer-1 mean abs cos | pretraining s (layer 0, 1) | layer-0 AIS test LL (nats) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name in health:
        h0 = [h[0] for h in health[name]]
        h1 = [h[1] for h in health[name] if len(h) > 1]
        secs = np.mean(np.asarray(seconds[name]), axis=0)
        ll = ais.get(name)
        lines.append(
            f"| {name} | {np.mean([h['detection'] for h in h0]):.3f} / "
            f"{np.mean([h['pooled'] for h in h0]):.3f} | {np.mean([h['mean_abs_cos'] for h in h0]):.2f}"
            f" | {np.mean([h['mean_abs_cos'] for h in h1]):.2f} | "
            + ", ".join(f"{s:.0f}" for s in secs)
            + " | " + ("–" if ll is None else f"{ll['mean']:.1f} ± {ll['std']:.1f}") + " |")
    text = (f"# Frozen features on the mnist5k test set\n\nError %, mean ± 95 % CI over seeds "
            f"(each seed: pretraining, label subsets, random filters).\n\nRecipe: "
            f"`{json.dumps(recipe)}`\n\nCommands:\n\n" + "\n".join(f"    {c}" for c in commands)
            + f"\n\n{table}\n\nPaired differences (points; negative: better than random filters "
            f"of the same shape, same seed and label subsets):\n\n{diff_table}\n\n"
            "Layer health and cost (mean over seeds):\n\n" + "\n".join(lines) + "\n")
    out = Path(args.out) / f"{args.tag}.md"
    out.write_text(text)
    print(text)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=("sweep", "final", "merge"))
    p.add_argument("inputs", nargs="*", help="merge: final JSON files")
    p.add_argument("--recipe", default="default", type=lambda s: [t for t in s.split(",") if t])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe field (PretrainConfig field or sampler option)")
    p.add_argument("--depth", type=int, default=2, help="sweep: layers to pretrain and probe")
    p.add_argument("--n-pretrain", type=int, default=None,
                   help="pretraining images (default: sweep 3000 = the fit split, final 4000)")
    p.add_argument("--seed", type=int, default=0, help="sweep: pretraining seed")
    p.add_argument("--probe-seeds", type=int, default=3, help="sweep: label subsets per count")
    p.add_argument("--seeds", type=int, default=5, help="final: seeds (pretraining + labels)")
    p.add_argument("--label-counts", default=None,
                   type=lambda s: [int(t) for t in s.split(",")])
    p.add_argument("--C", type=float, default=0.1, help="inverse L2 strength of the probe")
    p.add_argument("--random-baseline", action="store_true", help="sweep: also probe random filters")
    p.add_argument("--random-targets", default=[0.02], type=lambda s: [float(t) for t in s.split(",")])
    p.add_argument("--random-gains", default=[12.0], type=lambda s: [float(t) for t in s.split(",")])
    p.add_argument("--samplers", default="cd,pcd,annealed,sa", type=lambda s: [t for t in s.split(",") if t],
                   help="final: negative-phase samplers ('' for none, e.g. with --filter-banks only)")
    p.add_argument("--sampler-option", action="append", default=[], metavar="SAMPLER:KEY=VALUE",
                   help="final: a recipe override for one sampler, e.g. sa:num_chains=16")
    p.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=True,
                   help="final: also measure raw pixels and random filters")
    p.add_argument("--label", default="", help="final: prefix of the sampler names in the table")
    p.add_argument("--tag", default=None, help="output file stem (default features_<mode>)")
    p.add_argument("--filter-banks", action="store_true",
                   help="also probe k-means and Gabor filters at the random baseline's scale "
                        "(final: paired with the random filters of each seed)")
    p.add_argument("--renormed", action="store_true",
                   help="sweep: also probe the learned layer-0 directions at the random scale")
    p.add_argument("--plot", action="store_true", help="sweep: PNG of each recipe's filters")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(DEFAULT_OUT))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    set_threads(args.threads)
    args.tag = args.tag or f"features_{args.mode}"
    if args.label_counts is None:
        args.label_counts = [1000] if args.mode == "sweep" else [40, 100, 400, 1000, 4000]
    args.sampler_set = {}
    for item in args.sampler_option:
        sampler, _, kv = item.partition(":")
        key, _, value = kv.partition("=")
        args.sampler_set.setdefault(sampler, {})[key] = _parse_value(value)
    torch.manual_seed(0)
    {"sweep": cmd_sweep, "final": cmd_final, "merge": cmd_merge}[args.mode](args)


if __name__ == "__main__":
    main()
