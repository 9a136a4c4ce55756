"""Stage 4: a whole run into its run directory — pretraining and fine-tuning (the stages of
:mod:`pipeline.stages`) with an atomic checkpoint after every epoch, ``metrics.jsonl``, plots and
``summary.json``; a run continues from ``setup.resume_state`` to the same result.

A run directory holds ``config.toml``, ``metrics.jsonl``, ``summary.json``,
``checkpoints/{stack,cnn,state}.pt`` and PNG plots (see ``rundir`` for the files' formats). In a
data-parallel run only rank 0 writes; every rank computes.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import dataparallel
from pipeline import plots
from pipeline.config import TrainConfig
from pipeline.output import write_config
from pipeline.preparation import Setup, resolve_device
from pipeline.stages import build_cnn, feature_report, finetune, layer_samplers, pretrain
from rundir import MetricsLog, RunState, atomic_write, write_json_atomic

__all__ = ["run"]

log = logging.getLogger(__name__)


@dataclass
class _Run:
    """What the stages of one run share: where it writes, what it has measured so far."""

    config: TrainConfig
    setup: Setup
    out: Path
    device: torch.device
    metrics: Any  # rundir.MetricsLog (rank 0) or dataparallel.Discard
    run_state: Any  # rundir.RunState (rank 0) or dataparallel.Discard
    timings: dict[str, float]
    progress: Any
    dist: Any

    def base_state(self, pretrain_history: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "stack": self.setup.stack.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "timings": dict(self.timings),
            "metrics_lines": self.metrics.lines,
            "pretrain_history": list(pretrain_history),
        }


def run(config: TrainConfig, setup: Setup, out: Path) -> dict[str, Any]:
    """Pretrain (unless skipped), then fine-tune; checkpoint after every epoch; resume from
    ``setup.resume_state``. Returns the summary (also written to ``summary.json``)."""
    state = setup.resume_state
    device = resolve_device(config.device)
    stack = setup.stack.to(device)
    main_rank = dataparallel.is_main()  # only rank 0 writes the run directory
    if state is None:
        if main_rank:
            write_config(out, config)
            (out / "checkpoints").mkdir(exist_ok=True)
    else:
        stack.load_state_dict(state["stack"])
        torch.set_rng_state(state["torch_rng"])
    context = _Run(
        config=config, setup=setup, out=out, device=device,
        metrics=(MetricsLog(out / "metrics.jsonl", keep_lines=None if state is None else state["metrics_lines"])
                 if main_rank else dataparallel.Discard()),
        run_state=RunState(out) if main_rank else dataparallel.Discard(),
        timings=dict(state["timings"]) if state else {},
        progress=_progress_factory(config) if main_rank else None,
        dist=dataparallel.context(),
    )
    timings = context.timings
    summary: dict[str, Any] = {"out": str(out), "dataset": config.dataset, "layers": config.layers,
                               "sampler": config.sampler if config.pretrains else None,
                               "init": config.cnn_init}
    history = list(state.get("pretrain_history", [])) if state else []
    if config.pretrains:
        resume = state if state and state["stage"] == "pretrain" else None
        if state is None or resume is not None:
            history = _pretrain_stage(context, history, resume)
        summary["pretrain"] = [h for h in history if h["epoch"] == config.pretrain_epochs]
        charged = [h["qpu_access_time_total"] for h in history if "qpu_access_time_total" in h]
        if charged:  # what the QPU (or the mock's timing model) reported, every epoch of every layer
            summary["qpu_access_time_s"] = sum(charged) * 1e-6
            summary["qpu_calls"] = int(sum(h.get("qpu_calls_total", 0) for h in history))
    if config.feature_report and config.cnn_init == "pretrained" and main_rank:
        summary["features"] = _feature_report_stage(context)
    if config.pretrain_only:
        timings["total"] = sum(v for k, v in timings.items() if k != "total")
        summary["seconds"] = timings
        context.run_state.save({**context.base_state(history), "stage": "done"})
        if main_rank:
            write_json_atomic(out / "summary.json", summary)
        return summary
    resume = state if state and state["stage"] == "finetune" else None
    summary.update(_finetune_stage(context, history, resume))
    timings["total"] = sum(v for k, v in timings.items() if k != "total")
    summary["seconds"] = timings
    if main_rank:
        write_json_atomic(out / "summary.json", summary)
    return summary


def _feature_report_stage(context: _Run) -> dict[str, dict[str, float]]:
    """Write ``features.md`` and ``features.json`` (once: a resumed run keeps them) and return
    the mean error per feature set and label count."""
    from cnn.features import format_report

    md, js = context.out / "features.md", context.out / "features.json"
    if js.exists():  # a resumed run: JSON made the label counts strings
        report = json.loads(js.read_text())
        report["errors"] = {k: {int(n): v for n, v in errs.items()} for k, errs in report["errors"].items()}
    else:
        t0 = time.perf_counter()
        report = feature_report(context.config, context.setup.stack, context.setup.data)
        report["seconds"] = time.perf_counter() - t0
        write_json_atomic(js, report)
        atomic_write(md, lambda tmp: Path(tmp).write_text(
            "# Frozen features of this run's stack (test-set error, %)\n\n" + format_report(report) + "\n"))
        context.setup.stack.to(context.device)
    log.info("frozen-feature linear probe (test error %%, mean ± 95 %% CI over seeds):\n%s", format_report(report))
    return {name: {str(n): float(sum(v) / len(v)) for n, v in errs.items()} for name, errs in report["errors"].items()}


def _pretrain_stage(context: _Run, history: list[dict[str, Any]], resume: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Greedy layer-wise pretraining; a checkpoint after every epoch of every layer."""
    from rbm import LayerEpoch, save_stack

    config, out, stack, timings = context.config, context.out, context.setup.stack, context.timings
    clock = [time.perf_counter()]

    def on_epoch(step: LayerEpoch) -> None:
        now = time.perf_counter()
        timings["pretrain"] = timings.get("pretrain", 0.0) + now - clock[0]
        clock[0] = now
        context.metrics(step.record)
        history.append(step.record)
        sampler_state = step.sampler.state_dict()
        ranks = {} if context.dist is None else {"sampler_ranks": context.dist.gather(sampler_state)}
        if not dataparallel.is_main():
            return
        atomic_write(out / "checkpoints" / "stack.pt", lambda tmp: save_stack(stack, tmp))
        context.run_state.save({
            **context.base_state(history), "stage": "pretrain", "layer": step.layer,
            "epoch": step.record["epoch"], "optimizer": step.optimizer.state_dict(),
            "sampler": sampler_state, **ranks, "generator": step.generator.get_state(),
            "centering": None if step.centering is None else step.centering.state_dict(),
        })

    def on_layer_start(i: int) -> None:
        clock[0] = time.perf_counter()  # a layer's seconds leave out its set-up

    def on_layer_end(i: int, sampler: Any, layer_data: torch.Tensor) -> None:
        if config.plots and dataparallel.is_main():
            plots.plot_layer(out, stack, i, sampler, layer_data)

    layer_resume = None if resume is None else {**resume, "sampler": _rank_sampler_state(resume)}
    pretrain(config, stack, context.setup.data, device=context.device,
             make_sampler=layer_samplers(config, stack, context.setup.sampler_options,
                                          context.setup.samplers),
             resume=layer_resume, callback=on_epoch, on_layer_start=on_layer_start, on_layer_end=on_layer_end,
             progress=context.progress, dist=context.dist)
    if config.plots and history and dataparallel.is_main():
        plots.plot_pretrain_curves(out, history)
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


def _finetune_stage(context: _Run, pretrain_history: list[dict[str, Any]], resume: dict[str, Any] | None) -> dict[str, Any]:
    """Build the CNN (from the stack unless --no-pretrain) and fine-tune it; a checkpoint per epoch."""
    from cnn import save_cnn

    config, out, data, timings = context.config, context.out, context.setup.data, context.timings
    model = build_cnn(config, context.setup.stack, data, context.device)
    history: list[dict[str, Any]] = list(resume["finetune_history"]) if resume else []
    clock = [time.perf_counter()]

    def on_epoch(epoch: int, record: dict[str, Any]) -> None:
        now = time.perf_counter()
        timings["finetune"] = timings.get("finetune", 0.0) + now - clock[0]
        clock[0] = now
        record = {"stage": "finetune", **record}
        context.metrics(record)
        history.append(record)

    def on_state(train_state: dict[str, Any]) -> None:
        context.run_state.save({
            **context.base_state(pretrain_history), "stage": "finetune",
            "epoch": train_state["epoch"], "finetune": train_state, "finetune_history": list(history),
        })

    finetune(config, model, data, device=context.device, callback=on_epoch,
             progress=context.progress is not None, checkpoint=on_state,
             resume=resume["finetune"] if resume else None, dist=context.dist)
    if dataparallel.is_main():
        atomic_write(out / "checkpoints" / "cnn.pt", lambda tmp: save_cnn(model, tmp))
    context.run_state.save({**context.base_state(pretrain_history), "stage": "done",
                            "finetune_history": list(history)})
    if config.plots and history and dataparallel.is_main():
        plots.plot_finetune(out, model, history, data, context.device)
    final = history[-1] if history else {}
    return {
        "test_accuracy": final.get("test_accuracy"),
        "best_test_accuracy": max((h["test_accuracy"] for h in history), default=None),
        "finetune_epochs": len(history),
        "labeled_examples": int(len(data.labeled()[1])),
    }


def _progress_factory(config: TrainConfig) -> Any:
    enabled = config.progress if config.progress is not None else sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm
