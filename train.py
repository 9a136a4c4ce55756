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

import dataparallel
from rundir import MetricsLog, RunState, atomic_write, write_json_atomic

log = logging.getLogger("train")

DEFAULTS: dict[str, Any] = {}  # filled by build_parser(); the keys a --config file may use


class UserError(Exception):
    """A mistake in the user's input: reported as one line, exit code 2."""


# --------------------------------------------------------------------------------------------
# Command line and config file


def build_parser() -> argparse.ArgumentParser:
    from sampling import available_samplers

    samplers = available_samplers()  # built-ins plus any backend registered with register_sampler
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
                   help="threshold images (see --threshold) instead of using intensities as probabilities")
    g.add_argument("--threshold", type=float, default=0.5,
                   help="--binarize: a pixel is 1 when strictly above this value, in [0, 1) (default: %(default)s)")
    g.add_argument("--resize", default=None, metavar="HxW", help="coarse-grain images by block averaging, e.g. 8x8")
    g.add_argument("--label-fraction", type=float, default=1.0,
                   help="fraction of training labels used for fine-tuning, in (0, 1]; pretraining uses all images")

    g = p.add_argument_group("model")
    g.add_argument("--layers", default="16x5p2,32x5p2",
                   help="layer specs: FILTERSxKERNEL[pPOOL] conv layers, then fcUNITS dense layers (default: %(default)s)")

    g = p.add_argument_group("negative-phase sampler")
    g.add_argument("--sampler", default="annealed", choices=samplers,
                   help="annealed: torch block-Gibbs annealer; sa/neal: dwave-samplers SA; qpu: D-Wave; "
                        "mock-qpu: offline QPU stand-in; cd/pcd: Gibbs baselines; exact: tiny models (default: %(default)s)")
    g.add_argument("--beta", type=float, default=1.0, help="target inverse temperature of the negative phase")
    g.add_argument("--sweeps", type=int, default=None,
                   help="Gibbs steps (cd/pcd: k) or annealing sweeps (annealed/sa); default: the sampler's own")
    g.add_argument("--schedule", default="linear",
                   help="beta schedule ending at --beta: fixed | linear | geometric | quench (default: %(default)s)")
    g.add_argument("--num-chains", type=int, default=None, help="negative-phase chains per batch (default: batch size)")
    g.add_argument("--canvas", default=None, metavar="HxW",
                   help="negative-phase canvas of conv layers, at most the layer's data size "
                        "(default: the data size; smaller is cheaper, see docs/sampling.md)")
    g.add_argument("--persistent", action=argparse.BooleanOptionalAction, default=True,
                   help="keep annealer chains between batches (annealed/sa)")
    g.add_argument("--fallback-sampler", default=None, choices=samplers,
                   help="sampler for a batch on which --sampler kept failing (logged, recorded in metrics)")
    g.add_argument("--sampler-retries", type=int, default=3,
                   help="retries of a failing sampler call, with exponential backoff (default: %(default)s)")
    g.add_argument("--sampler-backoff", type=float, default=1.0,
                   help="seconds before the first retry; doubles each time (default: %(default)s)")
    g.add_argument("--sampler-option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra sampler option, repeatable (e.g. tiles=4, solver=Advantage_system4.1)")

    g = p.add_argument_group("pretraining")
    g.add_argument("--pretrain-epochs", type=int, default=2, help="epochs per RBM layer (default: %(default)s)")
    g.add_argument("--lr-pretrain", type=float, default=0.5, help="per-position learning rate (default: %(default)s)")
    g.add_argument("--momentum-pretrain", type=float, default=0.9)
    g.add_argument("--weight-decay-pretrain", type=float, default=1e-4)
    g.add_argument("--sparsity-target", type=float, default=None, help="target mean hidden activation, e.g. 0.05")
    g.add_argument("--sparsity-cost", type=float, default=0.0)

    g = p.add_argument_group("fine-tuning")
    g.add_argument("--finetune-epochs", type=int, default=20, help="SGD epochs of the whole CNN (default: %(default)s)")
    g.add_argument("--lr-finetune", type=float, default=0.05, help="(default: %(default)s)")
    g.add_argument("--batch-size", type=int, default=64, help="batch size of both stages (default: %(default)s)")
    g.add_argument("--augment", type=int, default=None, metavar="PIXELS",
                   help="fine-tuning augmentation: random shifts of up to this many pixels "
                        "(default: 2 for images at least 20 pixels wide, else 0: a 2-pixel shift of an "
                        "8x8 image destroys it)")
    g.add_argument("--finetune-sa", action="store_true",
                   help="Rere et al. 2015: after SGD minibatches, refine the classifier layer by simulated "
                        "annealing (Metropolis on the minibatch loss; a search over real weights, not sampling)")
    g.add_argument("--sa-sigma", type=float, default=5e-4, help="SA Gaussian step size (default: %(default)s, the paper's)")
    g.add_argument("--sa-temperature", type=float, default=1e-4,
                   help="SA initial temperature in units of the minibatch cross-entropy (default: %(default)s)")
    g.add_argument("--sa-cooling", type=float, default=0.5, help="geometric cooling factor (default: %(default)s: halving)")
    g.add_argument("--sa-moves", type=int, default=20, help="moves per temperature (default: %(default)s)")
    g.add_argument("--sa-levels", type=int, default=3, help="temperatures per refinement (default: %(default)s)")
    g.add_argument("--sa-every", type=int, default=1, help="refine after every N-th minibatch (default: %(default)s)")

    g = p.add_argument_group("run")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: %(default)s)")
    g.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (default: %(default)s: these small convolutions gain little from "
                        "more, and several threads collapse when another process is busy)")
    g.add_argument("--out", default=None, metavar="RUN_DIR", help="run directory (default: runs/<date-time>)")
    g.add_argument("--config", default=None, metavar="FILE", help="TOML file with any of these options")
    mode = g.add_mutually_exclusive_group()
    mode.add_argument("--pretrain-only", action="store_true", help="pretrain, save the RBM layers, stop")
    mode.add_argument("--init-from", default=None, metavar="RUN_DIR", help="fine-tune from the layers saved in RUN_DIR")
    mode.add_argument("--no-pretrain", action="store_true", help="random-init baseline: skip pretraining")
    g.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue a stopped run from its last completed epoch (same config, same result)")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: on when stderr is a terminal)")
    g.add_argument("--plots", action=argparse.BooleanOptionalAction, default=True, help="write PNG plots")
    DEFAULTS.clear()
    DEFAULTS.update({a.dest: a.default for a in p._actions if a.dest not in ("help", "config", "resume")})
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse flags, merging a ``--config`` TOML file under them (flags win)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    resume = _find_option(argv, "--resume")
    if resume is not None:
        if not (Path(resume) / "config.toml").is_file():
            raise UserError(f"--resume {resume}: not a run directory (no config.toml there)")
        if _find_option(argv, "--config") is not None:
            raise UserError("--resume takes the run's own config.toml; do not pass --config with it")
        argv = ["--config", str(Path(resume) / "config.toml"), *argv]
    config_path = _find_option(argv, "--config")
    if config_path is not None:
        parser.set_defaults(**load_config(config_path))
    args = parser.parse_args(argv)
    args.config = config_path
    return args


def _find_option(argv: list[str], flag: str) -> str | None:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument(flag, default=None)
    known, _ = pre.parse_known_args(argv)
    return getattr(known, flag.lstrip("-").replace("-", "_"))


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
        (args.augment is None or args.augment >= 0, f"--augment must be >= 0 pixels, got {args.augment}"),
        (args.threads >= 1, f"--threads must be >= 1, got {args.threads}"),
        (args.lr_pretrain > 0, f"--lr-pretrain must be > 0, got {args.lr_pretrain}"),
        (args.lr_finetune > 0, f"--lr-finetune must be > 0, got {args.lr_finetune}"),
        (math.isfinite(args.beta) and args.beta > 0, f"--beta must be a positive number, got {args.beta}"),
        (0 < args.label_fraction <= 1, f"--label-fraction must be in (0, 1], got {args.label_fraction}"),
        (args.sweeps is None or args.sweeps >= 1, f"--sweeps must be >= 1, got {args.sweeps}"),
        (args.num_chains is None or args.num_chains >= 1, f"--num-chains must be >= 1, got {args.num_chains}"),
        (args.sampler_retries >= 0, f"--sampler-retries must be >= 0, got {args.sampler_retries}"),
        (args.sampler_backoff >= 0, f"--sampler-backoff must be >= 0, got {args.sampler_backoff}"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)
    sa_refine_config(args)
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


def sa_refine_config(args: argparse.Namespace):
    """The --finetune-sa settings (Rere et al. 2015) as a cnn.SARefineConfig, or None."""
    if not args.finetune_sa:
        return None
    from cnn import SARefineConfig

    try:
        return SARefineConfig(sigma=args.sa_sigma, initial_temperature=args.sa_temperature,
                              cooling=args.sa_cooling, moves_per_temperature=args.sa_moves,
                              n_temperatures=args.sa_levels, every=args.sa_every, seed=args.seed)
    except ValueError as exc:
        raise UserError(f"--finetune-sa: {exc}") from None


def augment_pixels(args: argparse.Namespace, image_shape: tuple[int, ...]) -> int:
    """--augment, or its default: ±2-pixel shifts for images at least 20 pixels wide, none below."""
    if args.augment is not None:
        return args.augment
    return 2 if min(image_shape[-2:]) >= 20 else 0


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return dataparallel.local_device(torch.device(name))  # under torchrun: this process's GPU


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
    skip = {"out", "progress"}  # where and how a run shows itself do not change its result
    return {k: v for k, v in vars(args).items() if k in DEFAULTS and k not in skip and v is not None}


# --------------------------------------------------------------------------------------------
# The pipeline


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 run stopped, 2 user error, 130 Ctrl-C)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    out: Path | None = None
    created = False
    try:
        try:
            args = parse_args(argv)
        except SystemExit as exc:  # argparse has printed usage + "error: ..." (or --help)
            return int(exc.code or 0)
        validate(args)
        torch.set_num_threads(args.threads)
        if dataparallel.init_from_env(args.device) is not None and not dataparallel.is_main():
            logging.getLogger().setLevel(logging.WARNING)  # rank 0 reports progress
        state = load_resume_state(args) if args.resume else None
        setup = prepare(args)
        if state is None:
            out = _out_dir_of_main_rank(args)
            created = dataparallel.is_main()
            args.out = str(out)
        else:
            out = Path(args.resume)
            print(f"resuming {out} at stage {state['stage']}"
                  + (f", layer {state['layer']}" if state["stage"] == "pretrain" else "")
                  + f", after epoch {state['epoch']}", file=sys.stderr)
        summary = run(args, setup, out, state)
    except UserError as exc:
        lines = str(exc).strip().splitlines() or ["(no message)"]
        print(f"error: {lines[0]}", file=sys.stderr)  # one line, even when a library said more
        if created and out is not None:
            shutil.rmtree(out, ignore_errors=True)
        return 2
    except KeyboardInterrupt:
        return _stopped(out, "interrupted", 130)
    except Exception as exc:
        kind = _stop_kind(exc)
        if kind is None or out is None:
            raise
        return _stopped(out, f"{kind}: {exc}", 2 if kind == "QPU unavailable" else 1)
    finally:
        main_rank = dataparallel.is_main()
        dataparallel.shutdown()
    if main_rank:
        print_summary(summary)
    return 0


def _out_dir_of_main_rank(args: argparse.Namespace) -> Path:
    """Rank 0 creates the run directory; the other ranks of a multi-process run only learn its
    path (or rank 0's error). Only rank 0 ever writes there."""
    if dataparallel.world_size() == 1:
        return prepare_out_dir(args)
    result: tuple[str, str] = ("", "")
    if dataparallel.is_main():
        try:
            result = (str(prepare_out_dir(args)), "")
        except UserError as exc:
            result = ("", str(exc))
    path, error = dataparallel.broadcast_object(result)
    if error:
        raise UserError(error)
    return Path(path)


def _stop_kind(exc: Exception) -> str | None:
    """Failures that end a run cleanly (no traceback; the last good checkpoint is kept)."""
    from rbm import DivergenceError
    from sampling import QPUUnavailableError, SamplerFailure

    if isinstance(exc, DivergenceError):
        return "diverged"
    if isinstance(exc, SamplerFailure):
        return "sampler failed"
    if isinstance(exc, QPUUnavailableError):
        return "QPU unavailable"
    return None


def _stopped(out: Path | None, message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    if out is not None and RunState(out).exists():
        print(f"the last completed epoch is saved in {out}/checkpoints; continue with:\n"
              f"  python train.py --resume {out}", file=sys.stderr)
    elif out is not None:
        print(f"no epoch was completed; partial output is in {out}", file=sys.stderr)
    return code


def load_resume_state(args: argparse.Namespace) -> dict[str, Any]:
    state_file = RunState(Path(args.resume))
    if not state_file.exists():
        raise UserError(f"--resume {args.resume}: no checkpoints/state.pt there (not a run directory, "
                        "or it stopped before its first epoch)")
    try:
        state = state_file.load()
    except ValueError as exc:
        raise UserError(f"--resume {args.resume}: {exc}") from None
    if state.get("stage") == "done":
        raise UserError(f"--resume {args.resume}: that run has already finished")
    return state


def prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Load data, build the stack and the sampler: every user mistake surfaces here, before output."""
    import imagedata
    from rbm import build_stack, load_stack, parse_layers

    torch.manual_seed(args.seed)  # the layers' random initialisation below
    try:
        data = imagedata.load_dataset(
            args.dataset,
            binarize=args.binarize,
            threshold=args.threshold,
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
    options: dict[str, Any] = {"beta": args.beta, "seed": dataparallel.rank_seed(args.seed)}
    if args.sweeps is not None:
        options["num_sweeps"] = args.sweeps
    if args.sampler in ("annealed", "sa", "neal"):
        options["schedule"] = args.schedule
        options["persistent"] = args.persistent
    if args.num_chains is not None:
        options["num_chains"] = dataparallel.share(args.num_chains)  # this rank's part of the global count
    options.update(_parse_sampler_options(args.sampler_option))
    return options


def make_layer_sampler(name: str, options: dict[str, Any], stack: Any, layer: int, canvas=None):
    import sampling

    options = dict(options, seed=options.get("seed", 0) + 7919 * layer)
    if canvas is not None and len(stack.input_shape_of(layer)) == 3:
        channels, height, width = stack.input_shape_of(layer)
        options["canvas"] = (channels, min(canvas[0], height), min(canvas[1], width))
    try:
        return sampling.make_sampler(name, **options)
    except (TypeError, ValueError) as exc:
        raise UserError(f"--sampler {name}: {exc}") from None


def make_resilient_sampler(args: argparse.Namespace, options: dict[str, Any], stack: Any, layer: int, canvas=None):
    """The layer's sampler behind bounded retries and the optional --fallback-sampler."""
    from sampling import ResilientSampler

    primary = make_layer_sampler(args.sampler, options, stack, layer, canvas)
    fallback = None
    if args.fallback_sampler:
        fallback_options = {k: v for k, v in options.items() if k in ("beta", "seed", "num_chains")}
        fallback = make_layer_sampler(args.fallback_sampler, fallback_options, stack, layer, canvas)
    return ResilientSampler(primary, fallback, retries=args.sampler_retries, backoff=args.sampler_backoff)


def run(args: argparse.Namespace, setup: dict[str, Any], out: Path, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """Pretrain (unless skipped), then fine-tune; checkpoint after every epoch; resume from ``state``."""
    device = resolve_device(args.device)
    stack = setup["stack"].to(device)
    main_rank = dataparallel.is_main()  # only rank 0 writes the run directory
    if state is None:
        if main_rank:
            _write_config(out, args)
            (out / "checkpoints").mkdir(exist_ok=True)
    else:
        stack.load_state_dict(state["stack"])
        torch.set_rng_state(state["torch_rng"])
    run_state = RunState(out) if main_rank else dataparallel.Discard()
    metrics = (MetricsLog(out / "metrics.jsonl", keep_lines=None if state is None else state["metrics_lines"])
               if main_rank else dataparallel.Discard())
    timings: dict[str, float] = dict(state["timings"]) if state else {}
    summary: dict[str, Any] = {"out": str(out), "dataset": args.dataset, "layers": args.layers,
                               "sampler": None if args.no_pretrain or args.init_from else args.sampler}
    context = {"args": args, "setup": setup, "out": out, "stack": stack, "device": device,
               "metrics": metrics, "run_state": run_state, "timings": timings,
               "progress": _progress_factory(args) if main_rank else None,
               "dist": dataparallel.context()}
    history = list(state.get("pretrain_history", [])) if state else []
    if not args.no_pretrain and not args.init_from and args.pretrain_epochs > 0:
        resume = state if state and state["stage"] == "pretrain" else None
        if state is None or resume is not None:
            history = pretrain_stage(context, history, resume)
        summary["pretrain"] = [h for h in history if h["epoch"] == args.pretrain_epochs]
    if args.pretrain_only:
        timings["total"] = sum(v for k, v in timings.items() if k != "total")
        summary["seconds"] = timings
        run_state.save({**_base_state(context, history), "stage": "done"})
        if main_rank:
            write_json_atomic(out / "summary.json", summary)
        return summary
    resume = state if state and state["stage"] == "finetune" else None
    summary.update(finetune_stage(context, history, resume))
    timings["total"] = sum(v for k, v in timings.items() if k != "total")
    summary["seconds"] = timings
    if main_rank:
        write_json_atomic(out / "summary.json", summary)
    return summary


def _base_state(context: dict[str, Any], pretrain_history: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "stack": context["stack"].state_dict(),
        "torch_rng": torch.get_rng_state(),
        "timings": dict(context["timings"]),
        "metrics_lines": context["metrics"].lines,
        "pretrain_history": list(pretrain_history),
    }


def pretrain_stage(context: dict[str, Any], history: list[dict[str, Any]], resume: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Greedy layer-wise pretraining; a checkpoint after every epoch of every layer."""
    from rbm import save_stack
    from rbm.pretrain import PretrainConfig, make_optimizer, pretrain_layer

    args, setup, out, stack, device = (context[k] for k in ("args", "setup", "out", "stack", "device"))
    data = setup["data"]
    canvas = _parse_hw(args.canvas, "--canvas")
    x_train, x_test = data.x_train.to(device), data.x_test.to(device)
    timings = context["timings"]
    first = resume["layer"] if resume else 0
    for i in range(first, len(stack.layers)):
        layer = stack.layers[i]
        with torch.no_grad():
            layer_train = stack.transform(x_train, upto=i)
            layer_test = stack.transform(x_test, upto=i)
        layer_resume = resume if resume and resume["layer"] == i else None
        if layer_resume is None:
            layer.init_visible_bias(layer_train)
        sampler = make_resilient_sampler(args, setup["sampler_options"], stack, i, canvas)
        config = PretrainConfig(
            epochs=args.pretrain_epochs, batch_size=args.batch_size, lr=args.lr_pretrain,
            momentum=args.momentum_pretrain, weight_decay=args.weight_decay_pretrain,
            sparsity_target=args.sparsity_target, sparsity_cost=args.sparsity_cost, seed=args.seed,
        )
        optimizer = make_optimizer(layer, config)
        generator = torch.Generator().manual_seed(args.seed + 1009 * i)
        start_epoch = 0
        if layer_resume is not None:
            optimizer.load_state_dict(layer_resume["optimizer"])
            sampler_state = _rank_sampler_state(layer_resume)
            if sampler_state is not None:
                sampler.load_state_dict(sampler_state)
            generator.set_state(layer_resume["generator"])
            start_epoch = layer_resume["epoch"]
        clock = [time.perf_counter()]

        def on_epoch(record: dict[str, Any], i: int = i, sampler: Any = sampler, optimizer: Any = optimizer,
                     generator: torch.Generator = generator, clock: list[float] = clock) -> None:
            now = time.perf_counter()
            timings["pretrain"] = timings.get("pretrain", 0.0) + now - clock[0]
            clock[0] = now
            context["metrics"](record)
            history.append(record)
            sampler_state = sampler.state_dict()
            ranks = {} if context["dist"] is None else {"sampler_ranks": context["dist"].gather(sampler_state)}
            if not dataparallel.is_main():
                return
            atomic_write(out / "checkpoints" / "stack.pt", lambda tmp: save_stack(stack, tmp))
            context["run_state"].save({
                **_base_state(context, history), "stage": "pretrain", "layer": i, "epoch": record["epoch"],
                "optimizer": optimizer.state_dict(), "sampler": sampler_state, **ranks,
                "generator": generator.get_state(),
            })

        pretrain_layer(layer, layer_train, sampler, config, held_out=layer_test, optimizer=optimizer,
                       layer=i, start_epoch=start_epoch, generator=generator, callback=on_epoch,
                       progress=context["progress"], dist=context["dist"])
        if args.plots and dataparallel.is_main():
            _plot_layer(out, stack, i, sampler, layer_train)
    if args.plots and history and dataparallel.is_main():
        _plot_pretrain_curves(out, history)
    return history


def _rank_sampler_state(layer_resume: dict[str, Any]) -> dict[str, Any] | None:
    """This rank's sampler state from a checkpoint: its own when the checkpoint comes from a run
    with as many ranks, else rank 0's (a single-process checkpoint, or another rank count: then
    the other ranks' samplers restart from their seeds)."""
    ranks = layer_resume.get("sampler_ranks")
    if ranks is not None and len(ranks) == dataparallel.world_size():
        return ranks[dataparallel.rank()]
    if dataparallel.world_size() > 1:
        log.warning("resuming with %d processes from a checkpoint of %s: samplers other than "
                    "rank 0's restart from their seeds", dataparallel.world_size(),
                    "one process" if ranks is None else f"{len(ranks)} processes")
    if dataparallel.is_main():
        return layer_resume["sampler"]
    return None


def finetune_stage(context: dict[str, Any], pretrain_history: list[dict[str, Any]], resume: dict[str, Any] | None) -> dict[str, Any]:
    """Build the CNN (from the stack unless --no-pretrain) and fine-tune it; a checkpoint per epoch."""
    from cnn import CNN, finetune, save_cnn

    args, setup, out, stack, device = (context[k] for k in ("args", "setup", "out", "stack", "device"))
    data, timings = setup["data"], context["timings"]
    n_classes = int(data.num_classes)
    if args.no_pretrain:
        model = CNN(setup["specs"], data.image_shape, n_classes)
    else:
        model = CNN.from_stack(stack, n_classes, data=data.x_train[:512].to(device))
    model = model.to(device)
    x_lab, y_lab = data.labeled()
    sa_refine = sa_refine_config(args)
    history: list[dict[str, Any]] = list(resume["finetune_history"]) if resume else []
    clock = [time.perf_counter()]

    def on_epoch(epoch: int, record: dict[str, Any]) -> None:
        now = time.perf_counter()
        timings["finetune"] = timings.get("finetune", 0.0) + now - clock[0]
        clock[0] = now
        record = {"stage": "finetune", **record}
        context["metrics"](record)
        history.append(record)

    def on_state(train_state: dict[str, Any]) -> None:
        context["run_state"].save({
            **_base_state(context, pretrain_history), "stage": "finetune",
            "epoch": train_state["epoch"], "finetune": train_state, "finetune_history": list(history),
        })

    finetune(
        model, train=(x_lab, y_lab), test=(data.x_test, data.y_test), epochs=args.finetune_epochs,
        lr=args.lr_finetune, batch_size=args.batch_size, seed=args.seed, device=device,
        augment=augment_pixels(args, data.image_shape),
        callback=on_epoch, progress=context["progress"] is not None,
        checkpoint=on_state, resume=resume["finetune"] if resume else None, dist=context["dist"],
        sa_refine=sa_refine,
    )
    if dataparallel.is_main():
        atomic_write(out / "checkpoints" / "cnn.pt", lambda tmp: save_cnn(model, tmp))
    context["run_state"].save({**_base_state(context, pretrain_history), "stage": "done",
                               "finetune_history": list(history)})
    if args.plots and history and dataparallel.is_main():
        _plot_finetune(out, model, history, data, device)
    final = history[-1] if history else {}
    return {
        "test_accuracy": final.get("test_accuracy"),
        "best_test_accuracy": max((h["test_accuracy"] for h in history), default=None),
        "finetune_epochs": len(history),
        "labeled_examples": int(len(y_lab)),
    }


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
                 out / "negative_samples_layer0.png", title=f"layer 0 negative-phase samples ({type(getattr(sampler, 'primary', sampler)).__name__})")


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
