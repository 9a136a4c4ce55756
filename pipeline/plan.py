"""What a run will do and, on a QPU, what it will cost: ``train.py --dry-run`` and the estimate a
``--sampler qpu`` run prints before its first call.

:func:`plan` describes the run after :func:`pipeline.prepare`: the data, minibatches per epoch,
each layer's negative-phase problem (canvas, variables, couplings) and, for ``qpu`` /
``mock-qpu``, :func:`sampling.qpu.cost.estimate_qpu_run`: the embedding (qubits, chain lengths,
tiles per call), QPU calls per epoch and the estimated QPU access time per epoch and in total.
The embedding is the preflight's (the connected solver's or the mock's, so a real run searches it
once); a ``--dry-run`` of ``qpu`` has no token and embeds on a full-yield Advantage graph (Pegasus
P16) with the Advantage timing model instead. A layer that does not embed is a :class:`UserError`
naming the largest tile count or canvas that does. :func:`format_plan` prints it.
"""

from __future__ import annotations

import math
from typing import Any

from pipeline.config import TrainConfig
from pipeline.preparation import does_not_embed

__all__ = ["QPU_SAMPLERS", "format_plan", "plan"]

QPU_SAMPLERS = ("qpu", "mock-qpu")


def plan(config: TrainConfig, setup: Any) -> dict[str, Any]:
    """The run of ``config`` as ``setup`` (:func:`pipeline.prepare`'s) will do it; see the module
    docstring. Keys: ``dataset``, ``train_images``, ``image_shape``, ``batches_per_epoch``,
    ``pretrain_epochs``, ``sampler`` (None without pretraining), ``layers`` (``layer``, ``spec``,
    ``canvas``, ``variables``, ``couplings``), ``qpu`` (the estimate, or None)."""
    from sampling import layer_canvas
    from sampling.qpu.ising import LogicalIsing

    stack, data = setup.stack, setup.data
    batches = math.ceil(len(data.x_train) / config.pretrain_batch_size)
    layers, problems = [], []
    for i, (spec, layer) in enumerate(zip(setup.specs, stack.layers, strict=True)):
        canvas = layer_canvas(stack, i, config.canvas_hw())
        problem = layer.to_qm(canvas)
        ising = LogicalIsing.from_spec(problem)
        problems.append(problem)
        layers.append({"layer": i, "spec": str(spec), "canvas": list(canvas), "variables": ising.n,
                       "couplings": len(ising.rows)})
    out: dict[str, Any] = {
        "dataset": config.dataset, "train_images": len(data.x_train), "image_shape": list(data.image_shape),
        "batches_per_epoch": batches, "pretrain_epochs": config.pretrain_epochs,
        "sampler": config.sampler if config.pretrains else None, "layers": layers, "qpu": None,
    }
    if config.pretrains and config.sampler in QPU_SAMPLERS:
        out["qpu"] = _qpu_estimate(config, setup, problems, batches)
    return out


def _qpu_estimate(config: TrainConfig, setup: Any, problems: list[Any], batches: int) -> dict[str, Any]:
    from sampling import layer_canvas
    from sampling.qpu.cost import ADVANTAGE, estimate_qpu_run, target_edges_of
    from sampling.qpu.embedding import EmbeddedProblem, EmbeddingError, search_embedding, tile_edges
    from sampling.qpu.ising import LogicalIsing
    from sampling.qpu.options import QPUOptions, split_options

    stack = setup.stack
    if setup.samplers:  # the preflight's samplers: connected (or the mock) and embedded
        backends = [setup.samplers[i].backend for i in range(len(problems))]
        options = backends[0].options
        solver = dict(backends[0].sampler.properties)
        embeddings = [b.embedding_for(LogicalIsing.from_spec(p))[0] for b, p in zip(backends, problems, strict=True)]
        topo = solver.get("topology") or {}
        where = (f"{backends[0].solver_name} ({topo.get('type', '?')} {list(topo.get('shape', []))}, "
                 f"{len(backends[0].sampler.nodelist)} qubits)")
    else:  # --dry-run of --sampler qpu: no token, a full-yield Advantage graph
        (options,), _ = split_options(setup.sampler_options, QPUOptions)
        solver, where = dict(ADVANTAGE), "a full-yield Advantage graph (Pegasus P16; no token: offline estimate)"
        edges = target_edges_of(ADVANTAGE["topology"], ADVANTAGE["shape"])
        embeddings = []
        for i, problem in enumerate(problems):
            ising = LogicalIsing.from_spec(problem)
            n_all = ising.n * options.tiles
            rows, cols = tile_edges(ising.rows, ising.cols, ising.n, options.tiles)
            try:
                chains = search_embedding(n_all, rows, cols, edges, seed=options.embedding_seed,
                                          tries=options.embedding_tries, timeout=options.embedding_timeout)
            except EmbeddingError:
                canvas = layer_canvas(stack, i, config.canvas_hw())
                raise does_not_embed("qpu", i, stack.layers[i], canvas, edges, options, where) from None
            embeddings.append(EmbeddedProblem(n_all, rows, cols, chains, edges))
    if options.num_reads is not None:  # a lower reads limit than the solver's: more calls
        solver["max_reads"] = int(options.num_reads)
    estimate = estimate_qpu_run(
        problems, num_chains=config.num_chains or config.pretrain_batch_size, batches_per_epoch=batches,
        epochs=config.pretrain_epochs, tiles=options.tiles, spin_reversal_transforms=options.spin_reversal_transforms,
        calibration_calls=0,  # the negative-phase samplers calibrate on their own draws
        annealing_time=options.annealing_time, solver=solver, embeddings=embeddings,
    )
    estimate["solver"] = where
    estimate["pooled_layers"] = [i for i, layer in enumerate(stack.layers) if getattr(layer, "pool_size", None)]
    return estimate


def format_plan(p: dict[str, Any]) -> str:
    """:func:`plan` as text (what ``train.py --dry-run`` prints)."""
    shape = "x".join(map(str, p["image_shape"]))
    lines = [f"data: {p['dataset']}, {p['train_images']} training images of {shape}, "
             f"{p['batches_per_epoch']} minibatches per epoch"]
    if p["sampler"] is None:
        lines.append("pretraining: none (--init torch / calibrated, or --init-from)")
    else:
        lines.append(f"pretraining: {p['pretrain_epochs']} epochs per layer, negative phase from --sampler {p['sampler']}")
    for layer in p["layers"]:
        lines.append(f"  layer {layer['layer']} {layer['spec']}: canvas {'x'.join(map(str, layer['canvas']))}, "
                     f"{layer['variables']} variables, {layer['couplings']} couplings")
    q = p["qpu"]
    if q is not None:
        from sampling.qpu.cost import format_qpu_estimate

        lines.append(f"QPU: embedded on {q['solver']}")
        lines.append(format_qpu_estimate(q))
        if q["pooled_layers"]:
            lines.append(f"pooled layers {q['pooled_layers']}: post-selection draws 1/acceptance more reads than "
                         "this (the run reports pooling_acceptance per epoch)")
    elif p["sampler"] is not None:
        lines.append(f"QPU: none (--sampler {p['sampler']} runs on this machine)")
    return "\n".join(lines)
