"""Stage 1, before anything is written: check the config, load the data, build the stack and the
samplers. Every user mistake surfaces here as :class:`pipeline.UserError`.

:func:`prepare` is the one function that runs every check of a run, in this order (the order in
which a user meets the messages):

1. :meth:`TrainConfig.validate` — values that need no data (ranges, canvas, device, --init-from);
2. :func:`start_process` — torch threads, and torch.distributed under ``torchrun`` (no check, but
   the rank seeds of step 6 depend on it);
3. :func:`load_resume_state` — ``--resume``: the run directory's checkpoint;
4. :func:`load_data` — the data set (``imagedata.DataError`` → UserError);
5. :func:`build_stack` — the layer specs, and the stack on the data's image shape (or the
   ``--init-from`` checkpoint, which must match them);
6. :func:`sampler_options` and :func:`preflight_samplers` — each layer's sampler is built and
   draws once, so options a backend refuses fail here.

The run directory is created only after :func:`prepare` returned (``pipeline.create_run_dir``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import dataparallel
from pipeline.config import TrainConfig
from pipeline.errors import UserError
from rundir import RunState

__all__ = ["Setup", "build_stack", "load_data", "load_resume_state", "prepare", "preflight_samplers",
           "resolve_device", "sampler_options", "start_process"]


@dataclass
class Setup:
    """What :func:`prepare` hands to the later stages.

    ``data``: an ``imagedata.Dataset``; ``stack``: the ``rbm.RBMStack`` (random init seeded by
    ``config.seed``, or the ``--init-from`` layers); ``specs``: its ``rbm.LayerSpec`` list;
    ``sampler_options``: keyword options of ``sampling.make_sampler`` for this process (rank
    seed, this rank's share of the chains); ``resume_state``: the ``--resume`` checkpoint or None;
    ``samplers``: the QPU samplers the preflight connected and embedded, by layer (training uses
    them, so the embedding is searched once).
    """

    data: Any
    stack: Any
    specs: list[Any]
    sampler_options: dict[str, Any]
    resume_state: dict[str, Any] | None = None
    samplers: dict[int, Any] = field(default_factory=dict)


def prepare(config: TrainConfig) -> Setup:
    """Every check of a run, in order, before anything is written (see the module docstring)."""
    config.validate()
    start_process(config)
    state = load_resume_state(config.resume) if config.resume else None
    data = load_data(config)
    check_canvas_fits(config, data)
    specs, stack = build_stack(config, data)
    options = sampler_options(config)
    samplers = preflight_samplers(config, options, stack, data.x_train[:2]) if config.pretrains else {}
    return Setup(data=data, stack=stack, specs=specs, sampler_options=options, resume_state=state,
                 samplers=samplers)


def start_process(config: TrainConfig) -> None:
    """Set torch's CPU threads; under torchrun, join the process group (only rank 0 logs INFO)."""
    torch.set_num_threads(config.threads)
    if dataparallel.init_from_env(config.device) is not None and not dataparallel.is_main():
        logging.getLogger().setLevel(logging.WARNING)  # rank 0 reports progress


def load_resume_state(run_dir: str) -> dict[str, Any]:
    """The resumable state of the run in ``run_dir`` (``checkpoints/state.pt``)."""
    state_file = RunState(Path(run_dir))
    if not state_file.exists():
        raise UserError(f"--resume {run_dir}: no checkpoints/state.pt there (not a run directory, "
                        "or it stopped before its first epoch)")
    try:
        state = state_file.load()
    except ValueError as exc:
        raise UserError(f"--resume {run_dir}: {exc}") from None
    if state.get("stage") == "done":
        raise UserError(f"--resume {run_dir}: that run has already finished")
    return state


def load_data(config: TrainConfig) -> Any:
    """The data set of ``config`` (``imagedata.Dataset``: float32 (N, 1, H, W) images in [0, 1])."""
    import imagedata

    try:
        return imagedata.load_dataset(config.dataset, binarize=config.binarize, threshold=config.threshold,
                                      label_fraction=config.label_fraction, resize=config.resize,
                                      seed=config.seed)
    except imagedata.DataError as exc:
        raise UserError(str(exc)) from None


def build_stack(config: TrainConfig, data: Any) -> tuple[list[Any], Any]:
    """``(specs, stack)``: ``--layers`` parsed, and the RBM stack for ``data``'s images — randomly
    initialised after ``torch.manual_seed(config.seed)``, or loaded from ``--init-from``."""
    from rbm import build_stack as build
    from rbm import load_stack, parse_layers

    torch.manual_seed(config.seed)  # the layers' random initialisation (and what follows it)
    input_shape = data.image_shape
    try:
        specs = parse_layers(config.layers)
    except ValueError as exc:
        raise UserError(f"--layers {config.layers}: {exc}") from None
    if config.init_from:
        try:
            stack = load_stack(Path(config.init_from) / "checkpoints" / "stack.pt")
        except ValueError as exc:
            raise UserError(f"--init-from {config.init_from}: {exc}") from None
        if list(stack.specs) != list(specs) or tuple(stack.input_shape) != input_shape:
            raise UserError(
                f"--init-from {config.init_from}: checkpoint is for layers "
                f"{','.join(map(str, stack.specs))} on {tuple(stack.input_shape)} images, "
                f"but this run has {config.layers} on {input_shape}"
            )
        return specs, stack
    try:
        return specs, build(specs, input_shape)
    except ValueError as exc:
        raise UserError(f"--layers {config.layers} on {input_shape} images: {exc}") from None


def sampler_options(config: TrainConfig) -> dict[str, Any]:
    """Keyword options of ``sampling.make_sampler`` for this process: β, the rank's seed, sweeps,
    schedule and persistence (annealers), this rank's share of ``--num-chains``, --sampler-option."""
    options: dict[str, Any] = {"beta": config.beta, "seed": dataparallel.rank_seed(config.seed)}
    if config.sweeps is not None:
        options["num_sweeps"] = config.sweeps
    if config.sampler in ("annealed", "sa", "neal"):
        options["schedule"] = config.schedule
        options["persistent"] = config.persistent
    if config.num_chains is not None:
        options["num_chains"] = dataparallel.share(config.num_chains)  # this rank's part of the global count
    options.update(config.extra_sampler_options())
    return options


def check_canvas_fits(config: TrainConfig, data: Any) -> None:
    """``--canvas`` no larger than the images (deeper layers clip it to their smaller maps)."""
    canvas = config.canvas_hw()
    shape = tuple(data.image_shape)
    if canvas is not None and len(shape) == 3 and (canvas[0] > shape[1] or canvas[1] > shape[2]):
        raise UserError(f"--canvas {canvas[0]}x{canvas[1]} is larger than the {shape[1]}x{shape[2]} images; "
                        f"the largest canvas is {shape[1]}x{shape[2]} (--canvas {shape[1]}x{shape[2]})")


def preflight_samplers(config: TrainConfig, options: dict[str, Any], stack: Any, x: torch.Tensor) -> dict[int, Any]:
    """Build each layer's sampler and draw once from a copy, so that options the sampler refuses
    (e.g. a model too large for ``exact``, a canvas that does not fit) fail before any output.

    A QPU sampler is not drawn from (that costs QPU time): it connects (token, Leap, solver) and
    finds the embedding of the layer's problem, and is returned by layer index for training to
    use, so that the embedding is searched once; it has drawn nothing, so results are the same."""
    from sampling import LayerSamplerError, layer_sampler

    canvas = config.canvas_hw()
    ready: dict[int, Any] = {}
    for i, layer in enumerate(stack.layers):
        try:
            sampler = layer_sampler(config.sampler, options, stack, i, canvas)
        except LayerSamplerError as exc:
            raise UserError(f"--sampler {exc.sampler}: {exc}") from None
        if config.sampler == "qpu" and config.dry_run:
            continue  # no token needed: pipeline.plan embeds on a full-yield graph instead
        if config.sampler in ("qpu", "mock-qpu"):
            _preflight_qpu(config, sampler, layer, stack.input_shape_of(i), i)
            ready[i] = sampler
            continue
        try:
            with torch.no_grad():
                sampler.sample(layer, stack.transform(x, upto=i))
        except ValueError as exc:
            raise UserError(f"--sampler {config.sampler} on layer {i}: {exc}") from None
    return ready


def _preflight_qpu(config: TrainConfig, sampler: Any, layer: Any, data_shape: tuple[int, ...], i: int) -> None:
    """Connect ``sampler``'s QPU backend and embed layer ``i``'s problem, or raise UserError."""
    from sampling.base import check_canvas
    from sampling.qpu.embedding import EmbeddingError
    from sampling.qpu.errors import QPUUnavailableError
    from sampling.qpu.ising import LogicalIsing

    canvas = tuple(sampler.canvas or data_shape)
    try:
        check_canvas(layer, canvas, data_shape)
        sampler.backend.embedding_for(LogicalIsing.from_spec(layer.to_qm(canvas)))
    except QPUUnavailableError as exc:
        raise UserError(f"--sampler {config.sampler}: {exc}") from None
    except ValueError as exc:
        raise UserError(f"--sampler {config.sampler} on layer {i}: {exc}") from None
    except EmbeddingError:
        backend = sampler.backend
        edges = np.asarray(backend.sampler.edgelist, dtype=np.int64).reshape(-1, 2)
        raise does_not_embed(config.sampler, i, layer, canvas, edges, backend.options, backend.solver_name) from None


def does_not_embed(sampler: str, i: int, layer: Any, canvas: tuple[int, ...], edges: Any, options: Any,
                   where: str) -> UserError:
    """The UserError of layer ``i`` whose ``options.tiles`` copies on ``canvas`` do not embed in the
    graph of ``edges``, naming the largest tile count or canvas that does."""
    from sampling.qpu.cost import fit_hint

    hint = fit_hint(layer, canvas, edges, options.tiles, seed=options.embedding_seed,
                    tries=min(2, options.embedding_tries), timeout=options.embedding_timeout)
    return UserError(f"--sampler {sampler} on layer {i}: {options.tiles} tile(s) of the canvas "
                     f"{'x'.join(map(str, canvas))} do not embed on {where}; {hint}")


def resolve_device(name: str) -> torch.device:
    """``--device`` as a torch device (``auto``: CUDA when available); under torchrun, this
    process's GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return dataparallel.local_device(torch.device(name))
