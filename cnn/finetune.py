"""SGD fine-tuning and evaluation of a CNN.

:func:`finetune` trains any classifier ``nn.Module`` (usually a :class:`cnn.CNN`, random or built
from a pretrained stack) with SGD + momentum, a learning-rate schedule and cheap random-shift
augmentation, and returns one metrics dict per epoch. :class:`FinetuneConfig` holds the defaults,
tuned on mnist5k (4000/1000) with a randomly initialised ``16x5p2,32x5p2`` CNN and the default
head of :class:`cnn.CNN` (fc128 + dropout 0.25); the accuracies and times they give are in
docs/RESULTS.md (section 3: "Earlier measurements behind the defaults of cnn/").

Determinism: shuffling and augmentation draw from a ``torch.Generator`` seeded with ``seed``;
dropout draws from torch's global generator, which :func:`finetune` seeds inside
``torch.random.fork_rng`` (the caller's global RNG state is restored afterwards). On CPU with a
fixed thread count two runs with the same seed give identical histories and weights.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "SCHEDULES",
    "FinetuneConfig",
    "confusion_matrix",
    "evaluate",
    "finetune",
    "random_shift",
]

log = logging.getLogger(__name__)

SCHEDULES = ("cosine", "step", "none")


@dataclass
class FinetuneConfig:
    """Fine-tuning hyper-parameters; ``finetune(model, train, test, **asdict(cfg))``.

    Attributes:
        epochs: passes over the training set.
        lr: initial (peak) learning rate of SGD.
        momentum: SGD momentum (Nesterov).
        weight_decay: L2 penalty on every parameter.
        batch_size: minibatch size.
        schedule: ``"cosine"`` (per step, to 0 at the end), ``"step"`` (×0.1 at 50 % and 75 % of
            the epochs) or ``"none"``.
        warmup_epochs: linear warm-up from 0 over this many epochs (fractions allowed).
        augment: maximal random shift in pixels (each image moved by an integer offset in
            [-augment, augment]² with zero fill); 0 disables augmentation.
        seed: seeds shuffling, augmentation and dropout.
    """

    epochs: int = 20
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 64
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    augment: int = 2
    seed: int = 0

    def as_kwargs(self) -> dict[str, Any]:
        return asdict(self)


_DEFAULT = FinetuneConfig()


def random_shift(
    x: Tensor,
    max_shift: int,
    generator: torch.Generator | None = None,
    batch_rows: tuple[int, int, int] | None = None,
) -> Tensor:
    """Shift every image of ``x`` ``(B, C, H, W)`` by its own random integer offset.

    Offsets are uniform in ``[-max_shift, max_shift]`` along both axes; pixels shifted in are 0.
    One padded copy and one gather, no Python loop over images. The offsets are drawn on the CPU
    from ``generator`` (so results do not depend on the device). ``batch_rows=(lo, hi, total)``:
    ``x`` is rows ``lo:hi`` of a batch of ``total`` images (data-parallel training); the offsets
    of the whole batch are drawn, as one process would, and rows ``lo:hi`` of them used.
    """
    if max_shift <= 0:
        return x
    b, c, h, w = x.shape
    s = int(max_shift)
    total = b if batch_rows is None else batch_rows[2]
    offsets = torch.randint(0, 2 * s + 1, (2, total), generator=generator)
    if batch_rows is not None:
        offsets = offsets[:, batch_rows[0] : batch_rows[1]]
    offsets = offsets.to(x.device)
    padded = F.pad(x, (s, s, s, s))
    rows = offsets[0][:, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = offsets[1][:, None] + torch.arange(w, device=x.device)  # (B, W)
    bi = torch.arange(b, device=x.device)[:, None, None, None]
    ci = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


def _check_xy(name: str, xy: Any, model: nn.Module | None = None) -> tuple[Tensor, Tensor]:
    try:
        x, y = xy
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a pair (x, y); got {type(xy).__name__}") from err
    x = torch.as_tensor(x, dtype=torch.float32)
    y = torch.as_tensor(y)
    if x.dim() != 4:
        raise ValueError(f"{name} images must be (N, C, H, W); got {tuple(x.shape)}")
    if y.dim() != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"{name} labels must be ({x.shape[0]},) to match the images; got {tuple(y.shape)}"
        )
    if y.is_floating_point():
        raise ValueError(f"{name} labels must be integers; got dtype {y.dtype}")
    shape = getattr(model, "input_shape", None)
    if shape is not None and tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(
            f"{name} images have shape {tuple(x.shape)}; "
            f"the model expects (N, {', '.join(map(str, shape))})"
        )
    return x, y.long()


@torch.no_grad()
def evaluate(
    model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 500, device: Any = None
) -> tuple[float, float, Tensor]:
    """Mean cross-entropy, accuracy in [0, 1] and predicted labels ``(N,)`` (CPU, int64).

    The model is put in eval mode for the call and restored afterwards.
    """
    x, y = _check_xy("evaluate", (x, y), model)
    device = torch.device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    total_loss, preds = 0.0, []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size].to(device)
        yb = y[i : i + batch_size].to(device)
        logits = model(xb)
        total_loss += F.cross_entropy(logits, yb, reduction="sum").item()
        preds.append(logits.argmax(1).cpu())
    model.train(was_training)
    pred = torch.cat(preds) if preds else torch.empty(0, dtype=torch.long)
    n = max(int(x.shape[0]), 1)
    accuracy = (pred == y.cpu()).float().mean().item() if len(y) else 0.0
    return total_loss / n, accuracy, pred


def confusion_matrix(y_true: Tensor, y_pred: Tensor, n_classes: int) -> Tensor:
    """Counts ``(n_classes, n_classes)`` int64: row = true class, column = predicted class."""
    y_true = torch.as_tensor(y_true).long().flatten().cpu()
    y_pred = torch.as_tensor(y_pred).long().flatten().cpu()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {tuple(y_true.shape)} and y_pred {tuple(y_pred.shape)} differ")
    for name, t in (("y_true", y_true), ("y_pred", y_pred)):
        if len(t) and (t.min() < 0 or t.max() >= n_classes):
            raise ValueError(f"{name} has labels outside [0, {n_classes})")
    return torch.bincount(y_true * n_classes + y_pred, minlength=n_classes**2).view(
        n_classes, n_classes
    )


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _lr_factor(schedule: str, step: int, total: int, warmup: int) -> float:
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "none":
        return 1.0
    if schedule == "cosine":
        t = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))
    # step: ×0.1 at 50 % and 75 % of training
    t = step / max(total, 1)
    return 0.01 if t >= 0.75 else 0.1 if t >= 0.5 else 1.0


def finetune(
    model: nn.Module,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor] | None = None,
    *,
    epochs: int = _DEFAULT.epochs,
    lr: float = _DEFAULT.lr,
    momentum: float = _DEFAULT.momentum,
    weight_decay: float = _DEFAULT.weight_decay,
    batch_size: int = _DEFAULT.batch_size,
    schedule: str = _DEFAULT.schedule,
    warmup_epochs: float = _DEFAULT.warmup_epochs,
    augment: int = _DEFAULT.augment,
    seed: int = _DEFAULT.seed,
    device: Any = None,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
    progress: bool = False,
    sa_refine: Any = None,
    eval_batch_size: int = 500,
    checkpoint: Callable[[dict[str, Any]], None] | None = None,
    resume: dict[str, Any] | None = None,
    dist: Any = None,
) -> list[dict[str, Any]]:
    """Fine-tune ``model`` with SGD on ``train`` and evaluate on ``test`` after every epoch.

    Args:
        model: a classifier mapping ``(B, C, H, W)`` to logits ``(B, n_classes)``; trained in
            place (moved to ``device`` if given).
        train, test: ``(x, y)`` with x float ``(N, C, H, W)`` and y int64 ``(N,)``; ``test`` may
            be ``None`` (test metrics are then NaN).
        epochs, lr, momentum, weight_decay, batch_size, schedule, warmup_epochs, augment, seed:
            see :class:`FinetuneConfig` (whose values are these defaults).
        device: where to train (default: the model's device). Data are moved there once.
        callback: ``callback(epoch, metrics)`` after every epoch (epoch counts from 1).
        progress: show a tqdm bar over epochs.
        sa_refine: a :class:`cnn.sa_refine.SARefineConfig` to refine the classifier layer by
            simulated annealing after SGD minibatches (Rere et al. 2015); ``None`` disables it.
            The model must have ``features`` and ``classifier`` (as :class:`cnn.CNN` has).
        eval_batch_size: batch size of the per-epoch evaluation.
        checkpoint: ``checkpoint(train_state)`` after every epoch (after ``callback``) with
            everything needed to resume: ``epoch``, ``step``, ``model`` and ``optimizer``
            state dicts, the ``generator`` and ``torch_rng`` (and ``cuda_rng``) states, the
            ``history`` so far, the SA refiner's state (``sa``) and the ``settings`` it ran with.
            The tensors are live views: save or deep-copy the dict before returning.
        resume: a ``train_state`` given to ``checkpoint`` by an earlier call with the same
            settings: the model, optimizer and random streams are restored and training goes on
            from the next epoch, so that the result equals an uninterrupted run. A state
            recorded with other settings raises ``ValueError`` naming them.
        dist: data-parallel context (``dataparallel.DataParallel``; ``None``: one process). Each
            rank computes its rows of every global minibatch (same permutation, random shifts and
            dropout masks as one process), gradients are all-reduced weighted by each rank's
            share, and the epoch's train loss / accuracy are summed over ranks: on the CPU the
            result equals a single-process run up to float summation order. Every rank evaluates
            the full test set. Not combinable with ``sa_refine``.

    Returns:
        one dict per epoch (including resumed ones): ``epoch``, ``train_loss`` (mean minibatch
        loss during the epoch, with augmentation and dropout), ``train_accuracy`` (ditto),
        ``test_loss``, ``test_accuracy``, ``seconds`` (wall time of the epoch's training and
        evaluation), ``lr`` (at the epoch's start) and, with ``sa_refine``, ``sa_acceptance`` and
        ``sa_seconds`` (and ``sa_loss_gain``, see :class:`cnn.sa_refine.SARefiner`).

    Examples:
        >>> from cnn import CNN, Layer
        >>> net = CNN([Layer("conv", 4, 3)], (1, 8, 8), 10, head_units=0)
        >>> x, y = torch.rand(64, 1, 8, 8), torch.randint(0, 10, (64,))
        >>> history = finetune(net, (x, y), epochs=2, batch_size=32, lr=0.1)
        >>> [(h["epoch"], h["lr"]) for h in history]  # cosine: lr at each epoch's start
        [(1, 0.1), (2, 0.05)]
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}; got {schedule!r}")
    if epochs < 0 or batch_size < 1 or lr <= 0:
        raise ValueError(
            f"need epochs >= 0, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}"
        )
    if dist is not None and sa_refine is not None:
        raise ValueError("sa_refine is not supported in data-parallel fine-tuning (dist)")
    x_train, y_train = _check_xy("train", train, model)
    if test is not None:
        x_test, y_test = _check_xy("test", test, model)
    device = torch.device(device) if device is not None else _model_device(model)
    model.to(device)
    x_train, y_train = x_train.to(device), y_train.to(device)

    refiner = None
    if sa_refine is not None:
        from .sa_refine import SARefiner

        refiner = SARefiner(model, sa_refine)

    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.dim() <= 1 else decay).append(p)
    optimizer = torch.optim.SGD(
        [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=lr,
        momentum=momentum,
        nesterov=momentum > 0,
    )
    n = x_train.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    total = steps_per_epoch * epochs
    warmup = int(round(warmup_epochs * steps_per_epoch))
    generator = torch.Generator().manual_seed(seed)
    settings = {
        "epochs": epochs, "lr": lr, "momentum": momentum, "weight_decay": weight_decay,
        "batch_size": batch_size, "schedule": schedule, "warmup_epochs": warmup_epochs,
        "augment": augment, "seed": seed, "n_train": int(n), "sa_refine": sa_refine is not None,
    }
    history: list[dict[str, Any]] = []
    step, start = 0, 0
    cuda_index = (device.index or 0) if device.type == "cuda" else None
    if resume is not None:
        _check_resume(resume, settings)
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        generator.set_state(resume["generator"])
        if refiner is not None:
            refiner.load_state_dict(resume["sa"])
        history = [dict(r) for r in resume.get("history", [])]
        step, start = int(resume["step"]), int(resume["epoch"])
    if dist is not None:
        dist.broadcast_parameters(model)

    epoch_iter: Any = range(start + 1, epochs + 1)
    if progress:
        from tqdm.auto import tqdm

        epoch_iter = tqdm(epoch_iter, desc="fine-tune", unit="epoch", initial=start, total=epochs)

    global_dropout = (
        contextlib.nullcontext() if dist is None else dist.global_batch_dropout(model)
    )
    with (
        torch.random.fork_rng(devices=[] if cuda_index is None else [cuda_index]),
        global_dropout as set_rows,
    ):
        torch.manual_seed(seed)
        if resume is not None:
            torch.set_rng_state(resume["torch_rng"])
            if cuda_index is not None and resume.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(resume["cuda_rng"], cuda_index)
        for epoch in epoch_iter:
            t0 = time.perf_counter()
            model.train()
            epoch_lr = lr * _lr_factor(schedule, step, total, warmup)
            perm = torch.randperm(n, generator=generator).to(device)
            loss_sum, correct = 0.0, 0
            if refiner is not None:
                refiner.start_epoch()
            for b in range(steps_per_epoch):
                for group in optimizer.param_groups:
                    group["lr"] = lr * _lr_factor(schedule, step, total, warmup)
                idx = perm[b * batch_size : (b + 1) * batch_size]
                rows, weight = None, 1.0
                if dist is not None:  # this rank's rows of the global batch
                    rows, weight = dist.rows(len(idx))
                    idx = idx[rows[0] : rows[1]]
                    set_rows(rows)
                xb, yb = x_train[idx], y_train[idx]
                xb = random_shift(xb, augment, generator, rows)
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if dist is not None:
                    dist.all_reduce_grads(model.parameters(), weight)
                optimizer.step()
                step += 1
                if weight:  # weight 0: a stand-in row of a rank with no rows in this batch
                    loss_sum += loss.item() * len(idx)
                    correct += (logits.argmax(1) == yb).sum().item()
                if refiner is not None:
                    refiner.after_step(xb, yb)
            if dist is not None:
                loss_sum, correct = dist.sum([loss_sum, correct])
            metrics: dict[str, Any] = {
                "epoch": epoch,
                "train_loss": loss_sum / n,
                "train_accuracy": correct / n,
            }
            if test is not None:
                test_loss, test_acc, _ = evaluate(model, x_test, y_test, eval_batch_size, device)
            else:
                test_loss, test_acc = float("nan"), float("nan")
            metrics.update(test_loss=test_loss, test_accuracy=test_acc)
            metrics["seconds"] = time.perf_counter() - t0
            metrics["lr"] = epoch_lr
            if refiner is not None:
                metrics.update(refiner.epoch_metrics())
            history.append(metrics)
            log.info(
                "epoch %d: train loss %.4f acc %.4f, test loss %.4f acc %.4f, %.1f s",
                epoch, metrics["train_loss"], metrics["train_accuracy"], test_loss, test_acc,
                metrics["seconds"],
            )
            if progress:
                epoch_iter.set_postfix(
                    test_acc=f"{test_acc:.4f}", loss=f"{metrics['train_loss']:.3f}"
                )
            if callback is not None:
                callback(epoch, metrics)
            if checkpoint is not None:
                checkpoint({
                    "epoch": epoch,
                    "step": step,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "generator": generator.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": (
                        None if cuda_index is None else torch.cuda.get_rng_state(cuda_index)
                    ),
                    "sa": None if refiner is None else refiner.state_dict(),
                    "history": [dict(r) for r in history],
                    "settings": dict(settings),
                })
    model.eval()
    return history


def _check_resume(state: dict[str, Any], settings: dict[str, Any]) -> None:
    missing = [k for k in ("epoch", "step", "model", "optimizer", "generator", "torch_rng")
               if k not in state]
    if missing:
        raise ValueError(f"resume state lacks {', '.join(missing)}: not a finetune checkpoint")
    saved = state.get("settings", {})
    differ = [f"{k}: checkpoint {saved[k]!r}, now {v!r}" for k, v in settings.items()
              if k in saved and saved[k] != v]
    if differ:
        raise ValueError(
            "cannot resume fine-tuning with other settings (" + "; ".join(differ) + ")"
        )

