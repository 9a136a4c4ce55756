"""Pretrain a CNN's conv layers as RBMs with annealer-drawn negative phases, then fine-tune it.

    python train.py                                  # full pipeline on mnist5k, sensible defaults
    python train.py --dataset digits --layers 8x3 --pretrain-epochs 2 --finetune-epochs 5
    python train.py --sampler sa --schedule quench   # dwave-samplers SA, two-sweep quench
    python train.py --pretrain-only --out runs/rbm   # save reusable RBM checkpoints
    python train.py --init-from runs/rbm             # fine-tune from saved layers
    python train.py --no-pretrain                    # random-init baseline

Every flag can also be given in a TOML file (``--config FILE``) under the same name (dashes or
underscores); flags on the command line win over the file. The run directory (``--out``) receives
``config.toml`` (everything needed to reproduce the run), ``metrics.jsonl`` (one JSON object per
epoch), ``summary.json``, ``checkpoints/`` and PNG plots.

User mistakes (bad flags, config values, data files, checkpoints) print one ``error:`` line and exit
with code 2 before anything is written; internal bugs show a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger("train")

SAMPLERS = ("cd", "pcd", "annealed", "sa", "neal", "qpu", "mock-qpu", "exact")
DEFAULTS: dict[str, Any] = {}  # filled by build_parser(); the keys a --config file may use


class UserError(Exception):
    """A mistake in the user's input: reported as one line, exit code 2."""


# --------------------------------------------------------------------------------------------
# Command line and config file


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train.py",
        description=(
            "Greedy RBM pretraining of a CNN's layers with an annealer negative phase "
            "(torch annealer, dwave-samplers SA, D-Wave QPU, or CD/PCD baselines), then SGD fine-tuning."
        ),
        epilog=(
            "examples:\n"
            "  python train.py\n"
            "  python train.py --dataset digits --layers 8x3 --sampler sa --schedule quench\n"
            "  python train.py --pretrain-only --out runs/rbm && python train.py --init-from runs/rbm\n"
            "  python train.py --config experiment.toml --seed 3\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="mnist5k",
                   help="digits | mnist5k | idx:DIR (MNIST/Fashion-MNIST IDX files) | npz:FILE (default: %(default)s)")
    g.add_argument("--binarize", action=argparse.BooleanOptionalAction, default=False,
                   help="threshold images at 0.5 instead of using intensities as probabilities")
    g.add_argument("--resize", default=None, metavar="HxW", help="coarse-grain images by block averaging, e.g. 8x8")
    g.add_argument("--label-fraction", type=float, default=1.0,
                   help="fraction of training labels used for fine-tuning, in (0, 1]; pretraining uses all images")

    g = p.add_argument_group("model")
    g.add_argument("--layers", default="16x5p2,32x5p2",
                   help="layer specs: FILTERSxKERNEL[pPOOL] conv layers, then fcUNITS dense layers (default: %(default)s)")

    g = p.add_argument_group("negative-phase sampler")
    g.add_argument("--sampler", default="annealed", choices=SAMPLERS,
                   help="annealed: torch block-Gibbs annealer; sa/neal: dwave-samplers SA; qpu: D-Wave; "
                        "mock-qpu: offline QPU stand-in; cd/pcd: Gibbs baselines; exact: tiny models (default: %(default)s)")
    g.add_argument("--beta", type=float, default=1.0, help="target inverse temperature of the negative phase")
    g.add_argument("--sweeps", type=int, default=None,
                   help="Gibbs steps (cd/pcd: k) or annealing sweeps (annealed/sa); default: the sampler's own")
    g.add_argument("--schedule", default="geometric",
                   help="beta schedule ending at --beta: fixed | linear | geometric | quench (default: %(default)s)")
    g.add_argument("--num-chains", type=int, default=None, help="negative-phase chains per batch (default: batch size)")
    g.add_argument("--canvas", default=None, metavar="HxW",
                   help="negative-phase canvas of conv layers (default: the layer's data size)")
    g.add_argument("--persistent", action=argparse.BooleanOptionalAction, default=True,
                   help="keep annealer chains between batches (annealed/sa)")
    g.add_argument("--sampler-option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra sampler option, repeatable (e.g. tiles=4, solver=Advantage_system4.1)")

    g = p.add_argument_group("pretraining")
    g.add_argument("--pretrain-epochs", type=int, default=2, help="epochs per RBM layer (default: %(default)s)")
    g.add_argument("--lr-pretrain", type=float, default=0.05, help="per-position learning rate (default: %(default)s)")
    g.add_argument("--momentum-pretrain", type=float, default=0.9)
    g.add_argument("--weight-decay-pretrain", type=float, default=1e-4)
    g.add_argument("--sparsity-target", type=float, default=None, help="target mean hidden activation, e.g. 0.05")
    g.add_argument("--sparsity-cost", type=float, default=0.0)

    g = p.add_argument_group("fine-tuning")
    g.add_argument("--finetune-epochs", type=int, default=15, help="SGD epochs of the whole CNN (default: %(default)s)")
    g.add_argument("--lr-finetune", type=float, default=0.05, help="(default: %(default)s)")
    g.add_argument("--batch-size", type=int, default=64, help="batch size of both stages (default: %(default)s)")

    g = p.add_argument_group("run")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: %(default)s)")
    g.add_argument("--out", default=None, metavar="RUN_DIR", help="run directory (default: runs/<date-time>)")
    g.add_argument("--config", default=None, metavar="FILE", help="TOML file with any of these options")
    mode = g.add_mutually_exclusive_group()
    mode.add_argument("--pretrain-only", action="store_true", help="pretrain, save the RBM layers, stop")
    mode.add_argument("--init-from", default=None, metavar="RUN_DIR", help="fine-tune from the layers saved in RUN_DIR")
    mode.add_argument("--no-pretrain", action="store_true", help="random-init baseline: skip pretraining")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: on when stderr is a terminal)")
    g.add_argument("--plots", action=argparse.BooleanOptionalAction, default=True, help="write PNG plots")
    DEFAULTS.clear()
    DEFAULTS.update({a.dest: a.default for a in p._actions if a.dest not in ("help", "config")})
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse flags, merging a ``--config`` TOML file under them (flags win)."""
    parser = build_parser()
    config_path = _find_config(argv)
    if config_path is not None:
        parser.set_defaults(**load_config(config_path))
    args = parser.parse_args(argv)
    args.config = config_path
    return args


def _find_config(argv: list[str] | None) -> str | None:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, _ = pre.parse_known_args(argv)
    return known.config


def load_config(path: str) -> dict[str, Any]:
    """Read a TOML config; keys are flag names (dashes or underscores). Unknown keys are errors."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"config file {path}: no such file")
    try:
        raw = tomllib.loads(file.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"config file {path}: not valid TOML ({exc})") from None
    values: dict[str, Any] = {}
    for key, value in raw.items():
        dest = key.replace("-", "_")
        if dest not in DEFAULTS:
            raise UserError(f"config file {path}: unknown key {key!r}")
        default = DEFAULTS[dest]
        if isinstance(default, bool) and not isinstance(value, bool):
            raise UserError(f"config file {path}: {key} must be true or false, got {value!r}")
        if isinstance(default, (int, float)) and not isinstance(default, bool) and isinstance(value, bool):
            raise UserError(f"config file {path}: {key} must be a number, got {value!r}")
        values[dest] = value
    return values


def _parse_hw(text: str | None, flag: str) -> tuple[int, int] | None:
    if text is None:
        return None
    parts = str(text).lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise UserError(f"{flag} must look like HxW with positive integers (e.g. 12x12), got {text!r}")
    return int(parts[0]), int(parts[1])


def _parse_sampler_options(items: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--sampler-option must look like KEY=VALUE, got {item!r}")
        options[key.strip().replace("-", "_")] = _coerce(value.strip())
    return options


def _coerce(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


def validate(args: argparse.Namespace) -> None:
    """Check every value that can be checked without loading data; raise UserError."""
    checks = [
        (args.pretrain_epochs >= 0, f"--pretrain-epochs must be >= 0, got {args.pretrain_epochs}"),
        (args.finetune_epochs >= 0, f"--finetune-epochs must be >= 0, got {args.finetune_epochs}"),
        (args.batch_size >= 1, f"--batch-size must be >= 1, got {args.batch_size}"),
        (args.lr_pretrain > 0, f"--lr-pretrain must be > 0, got {args.lr_pretrain}"),
        (args.lr_finetune > 0, f"--lr-finetune must be > 0, got {args.lr_finetune}"),
        (math.isfinite(args.beta) and args.beta > 0, f"--beta must be a positive number, got {args.beta}"),
        (0 < args.label_fraction <= 1, f"--label-fraction must be in (0, 1], got {args.label_fraction}"),
        (args.sweeps is None or args.sweeps >= 1, f"--sweeps must be >= 1, got {args.sweeps}"),
        (args.num_chains is None or args.num_chains >= 1, f"--num-chains must be >= 1, got {args.num_chains}"),
        (args.sampler in SAMPLERS, f"unknown sampler {args.sampler!r}; expected one of {', '.join(SAMPLERS)}"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)
    if args.pretrain_only and args.pretrain_epochs == 0:
        raise UserError("--pretrain-only with --pretrain-epochs 0 would train nothing")
    if args.init_from is not None and not (Path(args.init_from) / "checkpoints" / "stack.pt").is_file():
        raise UserError(f"--init-from {args.init_from}: no checkpoints/stack.pt there (run with --pretrain-only first)")
    _parse_hw(args.canvas, "--canvas")
    _parse_sampler_options(args.sampler_option)
    if args.device != "auto":
        try:
            device = torch.device(args.device)
        except RuntimeError:
            raise UserError(f"--device: unknown device {args.device!r}; expected auto, cpu, cuda or cuda:N") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"--device {args.device}: CUDA is not available on this machine; use --device cpu")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# --------------------------------------------------------------------------------------------
# Run directory


def prepare_out_dir(args: argparse.Namespace) -> Path:
    """Create the run directory; refuse a non-empty one and report an unwritable one."""
    out = Path(args.out) if args.out else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out}: already exists and is not an empty directory; choose another")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    return out


def config_record(args: argparse.Namespace) -> dict[str, Any]:
    """Everything needed to reproduce the run, as TOML-able values (None omitted)."""
    record = {k: v for k, v in vars(args).items() if k in DEFAULTS and v is not None}
    record["seed"] = args.seed
    return record


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")
    os.replace(tmp, path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


class MetricsLog:
    """Appends one JSON object per line to metrics.jsonl (flushed every epoch)."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, record: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with self.path.open("a") as f:
            f.write(json.dumps(clean, default=_json_default) + "\n")


# --------------------------------------------------------------------------------------------
# The pipeline


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    out: Path | None = None
    created = False
    try:
        try:
            args = parse_args(argv)
        except SystemExit as exc:  # argparse has printed usage + "error: ..." (or --help)
            return int(exc.code or 0)
        validate(args)
        setup = prepare(args)
        out = prepare_out_dir(args)
        created = True
        summary = run(args, setup, out)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if created and out is not None:
            shutil.rmtree(out, ignore_errors=True)
        return 2
    print_summary(summary)
    return 0


def prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Load data, build the stack and the sampler: every user mistake surfaces here, before output."""
    import imagedata
    from rbm import build_stack, load_stack, parse_layers

    torch.manual_seed(args.seed)  # the layers' random initialisation below
    try:
        data = imagedata.load_dataset(
            args.dataset,
            binarize=args.binarize,
            label_fraction=args.label_fraction,
            resize=args.resize,
            seed=args.seed,
        )
    except imagedata.DataError as exc:
        raise UserError(str(exc)) from None
    input_shape = data.image_shape
    try:
        specs = parse_layers(args.layers)
    except ValueError as exc:
        raise UserError(f"--layers {args.layers}: {exc}") from None
    if args.init_from:
        try:
            stack = load_stack(Path(args.init_from) / "checkpoints" / "stack.pt")
        except ValueError as exc:
            raise UserError(f"--init-from {args.init_from}: {exc}") from None
        if list(stack.specs) != list(specs) or tuple(stack.input_shape) != input_shape:
            raise UserError(
                f"--init-from {args.init_from}: checkpoint is for layers "
                f"{','.join(map(str, stack.specs))} on {tuple(stack.input_shape)} images, "
                f"but this run has {args.layers} on {input_shape}"
            )
    else:
        try:
            stack = build_stack(specs, input_shape)
        except ValueError as exc:
            raise UserError(f"--layers {args.layers} on {input_shape} images: {exc}") from None
    sampler_options = _sampler_options(args)
    if not (args.no_pretrain or args.init_from) and args.pretrain_epochs > 0:
        _preflight(args, sampler_options, stack, data.x_train[:2])
    return {"data": data, "stack": stack, "specs": specs, "sampler_options": sampler_options}


def _preflight(args: argparse.Namespace, options: dict[str, Any], stack: Any, x: torch.Tensor) -> None:
    """Build each layer's sampler and draw once from a copy, so that options the sampler refuses
    (e.g. a model too large for ``exact``, a canvas that does not fit) fail before any output.
    QPU backends are only built: a draw there costs QPU time or an embedding."""
    canvas = _parse_hw(args.canvas, "--canvas")
    for i, layer in enumerate(stack.layers):
        sampler = make_layer_sampler(args.sampler, options, stack, i, canvas)
        if args.sampler in ("qpu", "mock-qpu"):
            continue
        try:
            with torch.no_grad():
                sampler.sample(layer, stack.transform(x, upto=i))
        except ValueError as exc:
            raise UserError(f"--sampler {args.sampler} on layer {i}: {exc}") from None


def _sampler_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"beta": args.beta, "seed": args.seed}
    if args.sweeps is not None:
        options["num_sweeps"] = args.sweeps
    if args.sampler in ("annealed", "sa", "neal"):
        options["schedule"] = args.schedule
        options["persistent"] = args.persistent
    if args.num_chains is not None:
        options["num_chains"] = args.num_chains
    options.update(_parse_sampler_options(args.sampler_option))
    return options


def make_layer_sampler(name: str, options: dict[str, Any], stack: Any, layer: int, canvas=None):
    import sampling

    options = dict(options, seed=options.get("seed", 0) + 7919 * layer)
    if canvas is not None and len(stack.input_shape_of(layer)) == 3:
        channels = stack.input_shape_of(layer)[0]
        options["canvas"] = (channels, *canvas)
    try:
        return sampling.make_sampler(name, **options)
    except (TypeError, ValueError) as exc:
        raise UserError(f"--sampler {name}: {exc}") from None


def run(args: argparse.Namespace, setup: dict[str, Any], out: Path) -> dict[str, Any]:
    from cnn import CNN, finetune, save_cnn
    from rbm import save_stack
    from rbm.pretrain import PretrainConfig, pretrain_layer

    device = resolve_device(args.device)
    data, stack = setup["data"], setup["stack"].to(device)
    _write_config(out, args)
    metrics = MetricsLog(out / "metrics.jsonl")
    progress = _progress_factory(args)
    timings: dict[str, float] = {}
    summary: dict[str, Any] = {"out": str(out), "dataset": args.dataset, "layers": args.layers,
                               "sampler": None if args.no_pretrain or args.init_from else args.sampler}
    (out / "checkpoints").mkdir()

    pretrain_history: list[dict[str, Any]] = []
    if not args.no_pretrain and not args.init_from and args.pretrain_epochs > 0:
        started = time.perf_counter()
        canvas = _parse_hw(args.canvas, "--canvas")
        x_train, x_test = data.x_train.to(device), data.x_test.to(device)
        for i, layer in enumerate(stack.layers):
            with torch.no_grad():
                layer_train = stack.transform(x_train, upto=i)
                layer_test = stack.transform(x_test, upto=i)
            layer.init_visible_bias(layer_train)
            sampler = make_layer_sampler(args.sampler, setup["sampler_options"], stack, i, canvas)
            config = PretrainConfig(
                epochs=args.pretrain_epochs, batch_size=args.batch_size, lr=args.lr_pretrain,
                momentum=args.momentum_pretrain, weight_decay=args.weight_decay_pretrain,
                sparsity_target=args.sparsity_target, sparsity_cost=args.sparsity_cost, seed=args.seed,
            )
            history = pretrain_layer(layer, layer_train, sampler, config, held_out=layer_test, layer=i,
                                     callback=metrics, progress=progress)
            pretrain_history.extend(history)
            save_stack(stack, out / "checkpoints" / "stack.pt")
            if args.plots:
                _plot_layer(out, stack, i, sampler, layer_train)
        timings["pretrain"] = time.perf_counter() - started
        summary["pretrain"] = pretrain_history[-len(stack.layers):] if pretrain_history else []
        if args.plots:
            _plot_pretrain_curves(out, pretrain_history)
    if args.pretrain_only:
        summary["seconds"] = timings
        write_json_atomic(out / "summary.json", summary)
        return summary

    started = time.perf_counter()
    n_classes = int(data.num_classes)
    if args.no_pretrain:
        model = CNN(setup["specs"], tuple(data.x_train.shape[1:]), n_classes)
    else:
        model = CNN.from_stack(stack, n_classes, data=data.x_train[:512].to(device))
    model = model.to(device)
    x_lab, y_lab = data.labeled()

    def on_epoch(epoch: int, record: dict[str, Any]) -> None:
        metrics({"stage": "finetune", **record})

    history = finetune(
        model, train=(x_lab, y_lab), test=(data.x_test, data.y_test), epochs=args.finetune_epochs,
        lr=args.lr_finetune, batch_size=args.batch_size, seed=args.seed, device=device,
        callback=on_epoch, progress=progress is not None,
    )
    timings["finetune"] = time.perf_counter() - started
    save_cnn(model, out / "checkpoints" / "cnn.pt")
    final = history[-1] if history else {}
    summary.update({
        "test_accuracy": final.get("test_accuracy"),
        "best_test_accuracy": max((h["test_accuracy"] for h in history), default=None),
        "finetune_epochs": len(history),
        "labeled_examples": int(len(y_lab)),
        "seconds": timings,
    })
    if args.plots and history:
        _plot_finetune(out, model, history, data, device)
    summary["seconds"]["total"] = sum(timings.values())
    write_json_atomic(out / "summary.json", summary)
    return summary


def _write_config(out: Path, args: argparse.Namespace) -> None:
    import tomli_w

    (out / "config.toml").write_text(tomli_w.dumps(config_record(args)))


def _progress_factory(args: argparse.Namespace):
    enabled = args.progress if args.progress is not None else sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm


def _plot_layer(out: Path, stack: Any, i: int, sampler: Any, layer_data: torch.Tensor) -> None:
    from cnn.plots import plot_filters
    from rbm.plots import plot_samples

    layer, shape = stack.layers[i], stack.input_shape_of(i)
    weight = layer.weight.detach().cpu()
    if weight.dim() == 2:  # dense: one filter per hidden unit, drawn in the input's image shape
        if len(shape) != 3:
            return
        weight = weight.T.reshape(-1, *shape)
    plot_filters(weight, out / f"filters_layer{i}.png", title=f"layer {i} filters")
    if i > 0 or len(shape) != 3:
        return  # deeper layers' visible units are feature maps, not images
    with torch.no_grad():
        v_neg, _ = sampler.sample(layer, layer_data[: min(64, len(layer_data))])
    plot_samples(v_neg.reshape(len(v_neg), -1, *v_neg.shape[-2:]) if v_neg.dim() == 4 else v_neg.reshape(-1, *shape),
                 out / "negative_samples_layer0.png", title=f"layer 0 negative-phase samples ({sampler.__class__.__name__})")


def _plot_pretrain_curves(out: Path, history: list[dict[str, Any]]) -> None:
    from rbm.plots import plot_pretrain_curves

    plot_pretrain_curves(history, out / "pretrain_curves.png")


def _plot_finetune(out: Path, model: Any, history: list[dict[str, Any]], data: Any, device: torch.device) -> None:
    from cnn import confusion_matrix, evaluate
    from cnn.plots import plot_confusion_matrix, plot_learning_curves

    plot_learning_curves({"this run": history}, out / "finetune_curves.png")
    _, _, predictions = evaluate(model, data.x_test.to(device), data.y_test.to(device))
    matrix = confusion_matrix(data.y_test.cpu(), predictions.cpu(), int(data.num_classes))
    plot_confusion_matrix(matrix, out / "confusion_matrix.png")


def print_summary(summary: dict[str, Any]) -> None:
    seconds = summary.get("seconds", {})
    rows = [("stage", "seconds", "result")]
    if "pretrain" in seconds:
        last = summary.get("pretrain") or [{}]
        rows.append(("pretrain", f"{seconds['pretrain']:.1f}",
                     f"{summary['sampler']} negative phase, recon. error {last[-1].get('reconstruction_error', float('nan')):.4f}"))
    if "finetune" in seconds:
        rows.append(("finetune", f"{seconds['finetune']:.1f}",
                     f"test accuracy {100 * summary['test_accuracy']:.2f} % after {summary['finetune_epochs']} epochs"))
    if "total" in seconds:
        rows.append(("total", f"{seconds['total']:.1f}", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for n, row in enumerate(rows):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print(f"run directory: {summary['out']}")


if __name__ == "__main__":
    sys.exit(main())
