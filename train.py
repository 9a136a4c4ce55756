"""Pretrain a CNN's conv layers as RBMs with annealer-drawn negative phases, then fine-tune it.

    python train.py                                  # full pipeline on mnist5k, sensible defaults
    python train.py --dataset digits --layers 8x3 --pretrain-epochs 2 --finetune-epochs 5
    python train.py --sampler sa --schedule quench   # dwave-samplers SA, two-sweep quench
    python train.py --pretrain-only --out runs/rbm   # save reusable RBM checkpoints
    python train.py --init-from runs/rbm             # fine-tune from saved layers
    python train.py --no-pretrain                    # random-init baseline
    python train.py --sampler qpu --canvas 6x6 --dry-run   # QPU embedding and access time, no token

Every flag can also be given in a TOML file (``--config FILE``) under the same name (dashes or
underscores); flags on the command line win over the file. The run directory (``--out``) receives
``config.toml`` (everything needed to reproduce the run), ``metrics.jsonl`` (one JSON object per
epoch), ``summary.json``, ``checkpoints/`` and PNG plots.

User mistakes (bad flags, config values, data files, checkpoints) print one ``error:`` line and exit
with code 2 before anything is written; internal bugs show a traceback.

This file is only the command line: the flags are the fields of ``pipeline.TrainConfig`` (their
defaults, help and checks live there), and the run is ``pipeline.prepare`` (every check) →
``pipeline.create_run_dir`` → ``pipeline.run``; see the README's "Python API" for the same
stages from Python.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import dataparallel
import pipeline
from pipeline import TrainConfig, UserError
from pipeline.plan import QPU_SAMPLERS, format_plan, plan
from rundir import RunState

__all__ = ["build_parser", "main", "parse_args"]


# --------------------------------------------------------------------------------------------
# Command line and config file


def build_parser() -> argparse.ArgumentParser:
    """The flags of :class:`pipeline.TrainConfig`: one per field, in field order, with the help,
    group, metavar, choices and action of the field's metadata."""
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
    groups: dict[str, Any] = {}
    for f in dataclasses.fields(TrainConfig):
        meta = f.metadata
        group = groups.get(meta["group"]) or groups.setdefault(meta["group"], p.add_argument_group(meta["group"]))
        if meta["exclusive"]:
            key = (meta["group"], meta["exclusive"])
            group = groups.get(key) or groups.setdefault(key, group.add_mutually_exclusive_group())
        kwargs: dict[str, Any] = {"default": pipeline.config.option_default(f)}
        for name in ("type", "action", "metavar", "help"):
            if meta[name] is not None:
                kwargs[name] = meta[name]
        if meta["choices"] is not None:
            kwargs["choices"] = meta["choices"]() if callable(meta["choices"]) else meta["choices"]
        group.add_argument("--" + f.name.replace("_", "-"), **kwargs)
    return p


def parse_args(argv: list[str] | None = None) -> TrainConfig:
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
        values = pipeline.read_config_file(config_path)
        if resume is not None:  # a run recorded before some options existed continues as it ran
            values = pipeline.complete_run_record(values)
        parser.set_defaults(**values)
    args = parser.parse_args(argv)
    args.config = config_path
    return TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})


def _find_option(argv: list[str], flag: str) -> str | None:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument(flag, default=None)
    known, _ = pre.parse_known_args(argv)
    return getattr(known, flag.lstrip("-").replace("-", "_"))


# --------------------------------------------------------------------------------------------
# The run and its reports


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 run stopped, 2 user error, 130 Ctrl-C)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    out: Path | None = None
    created = False
    try:
        try:
            config = parse_args(argv)
        except SystemExit as exc:  # argparse has printed usage + "error: ..." (or --help)
            return int(exc.code or 0)
        setup = pipeline.prepare(config)  # every check, before anything is written
        if config.dry_run or (config.pretrains and config.sampler in QPU_SAMPLERS and dataparallel.is_main()):
            print(format_plan(plan(config, setup)), file=sys.stdout if config.dry_run else sys.stderr)
        if config.dry_run:
            print("dry run: nothing was trained, no run directory was written", file=sys.stderr)
            return 0
        state = setup.resume_state
        if state is None:
            out = pipeline.create_run_dir(config)
            created = dataparallel.is_main()
        else:
            out = Path(config.resume)
            print(f"resuming {out} at stage {state['stage']}"
                  + (f", layer {state['layer']}" if state["stage"] == "pretrain" else "")
                  + f", after epoch {state['epoch']}", file=sys.stderr)
        summary = pipeline.run(config, setup, out)
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


def print_summary(summary: dict[str, Any]) -> None:
    seconds = summary.get("seconds", {})
    rows = [("stage", "seconds", "result")]
    if "pretrain" in seconds:
        last = summary.get("pretrain") or [{}]
        rows.append(("pretrain", f"{seconds['pretrain']:.1f}",
                     f"{summary['sampler']} negative phase, recon. error {last[-1].get('reconstruction_error', float('nan')):.4f}"
                     + (f", {summary['qpu_access_time_s']:.3f} s QPU access time in {summary['qpu_calls']} calls"
                        if "qpu_access_time_s" in summary else "")))
    if "finetune" in seconds:
        rows.append(("finetune", f"{seconds['finetune']:.1f}",
                     f"test accuracy {100 * summary['test_accuracy']:.2f} % after {summary['finetune_epochs']} epochs"))
    if "total" in seconds:
        rows.append(("total", f"{seconds['total']:.1f}", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for n, row in enumerate(rows):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print(f"run directory: {summary['out']}")


if __name__ == "__main__":
    sys.exit(main())
