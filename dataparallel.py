"""Data-parallel training with ``torch.distributed``: the plumbing ``train.py`` hands to the loops.

Launch with ``torchrun --nproc-per-node N train.py ...`` (one node) or add ``--nnodes M
--rdzv-endpoint HOST:PORT`` (several): torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``, and :func:`init_from_env` joins the process group (gloo on
CPU, nccl on GPU, one GPU per process: ``cuda:LOCAL_RANK``). Without those variables (``python
train.py``) nothing here does anything: a single process runs exactly as before.

The design, chosen so that a data-parallel run is the *same computation* as a single process with
the same global batch (up to the summation order of the all-reduce):

- Every rank holds the whole data set, draws the same global permutation from the shared seed and
  takes its contiguous slice of every global minibatch (:meth:`DataParallel.rows`; slice sizes
  differ by at most one, so a last batch that does not split evenly is still exact).
- Gradients: an explicit all-reduce of ``.grad`` after ``backward()``, each rank's gradient
  weighted by its share ``n_r / N`` of the global batch, then summed
  (:meth:`DataParallel.all_reduce_grads`, one flat buffer, one collective per step). That is
  exactly the gradient of the global-batch mean loss even for uneven slices, where
  ``DistributedDataParallel`` would average with 1/W; and the RBM loss is not a ``forward()``
  call, so DDP's hooks would not fit it anyway. The models are small: DDP's bucketed overlap of
  communication with the backward pass would buy little here.
- Randomness that a single process draws per batch for the whole batch (fine-tuning's random
  shifts and dropout masks) is drawn for the whole global batch on every rank, from identically
  seeded generators, and sliced (:meth:`DataParallel.global_batch_dropout`): fine-tuning in N
  processes equals fine-tuning in one on the CPU. Negative samples are each rank's own: every
  rank's sampler has its own seed (``seed + RANK_SEED_STRIDE * rank``), so ranks never draw the
  same chains.
- Only rank 0 writes the run directory; the other ranks get :class:`Discard` in place of the
  metrics log and the run state. Epoch metrics are reduced across ranks (sums of losses and
  correct counts; the sampler's seconds are the slowest rank's).

``rbm/`` and ``cnn/`` never import this module: their loops take a ``dist`` argument, any object
with the methods of :class:`DataParallel` (``None``: a single process).
"""

from __future__ import annotations

import contextlib
import os
import types
from collections.abc import Iterable, Iterator
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "RANK_SEED_STRIDE",
    "DataParallel",
    "Discard",
    "barrier",
    "broadcast_object",
    "context",
    "init_from_env",
    "is_main",
    "launched",
    "local_device",
    "rank",
    "rank_seed",
    "share",
    "shutdown",
    "world_size",
]

#: Seed offset between ranks' samplers (a prime, so that it never lines up with per-layer offsets).
RANK_SEED_STRIDE = 100003

_owned = False  # whether init_from_env created the process group (then shutdown() ends it)


def launched() -> bool:
    """True when a launcher (torchrun) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's global rank (0 without a process group)."""
    return dist.get_rank() if _active() else 0


def world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if _active() else 1


def is_main() -> bool:
    """True on the rank that writes the run directory (rank 0), and in a single process."""
    return rank() == 0


def barrier() -> None:
    if _active():
        dist.barrier()


def _wants_cuda(device: str) -> bool:
    name = str(device)
    return name.startswith("cuda") or (name == "auto" and torch.cuda.is_available())


def local_device(device: torch.device) -> torch.device:
    """``cuda`` without an index becomes ``cuda:LOCAL_RANK`` in a multi-process run (one GPU per
    process); every other device is returned as it is."""
    if device.type == "cuda" and device.index is None and _active():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def init_from_env(device: str = "auto") -> DataParallel | None:
    """Join the process group that torchrun described in the environment.

    Returns ``None`` in a single process (no ``WORLD_SIZE > 1``), else the :class:`DataParallel`
    context of this rank. The backend is nccl when this run uses CUDA (``device`` is ``cuda...``,
    or ``auto`` on a machine with a GPU), gloo otherwise. A process group that the caller created
    already is used as it is (and :func:`shutdown` leaves it alone).
    """
    global _owned
    if not launched():
        return None
    if not dist.is_available():
        raise RuntimeError("this torch build has no torch.distributed; run a single process")
    if not dist.is_initialized():
        use_cuda = _wants_cuda(device)
        if use_cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        _owned = True
    return DataParallel()


def context() -> DataParallel | None:
    """The :class:`DataParallel` of the running process group, or ``None`` in a single process."""
    return DataParallel() if _active() and dist.get_world_size() > 1 else None


def shutdown() -> None:
    """Leave the process group if :func:`init_from_env` created it; safe to call more than once."""
    global _owned
    if _owned and _active():
        dist.destroy_process_group()
    _owned = False


def rank_seed(seed: int) -> int:
    """The seed of this rank's random streams that must differ between ranks (samplers)."""
    return int(seed) + RANK_SEED_STRIDE * rank()


def share(total: int) -> int:
    """This rank's part of ``total`` items split like a global batch (at least 1)."""
    if world_size() == 1:
        return int(total)
    lo, hi = _bounds(int(total), rank(), world_size())
    return max(1, hi - lo)


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (the object itself in a single process)."""
    if not _active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def _bounds(total: int, r: int, w: int) -> tuple[int, int]:
    base, extra = divmod(total, w)
    lo = r * base + min(r, extra)
    return lo, lo + base + (1 if r < extra else 0)


class Discard:
    """Stands in for the run directory's writers (metrics log, run state) on ranks other than 0."""

    lines = 0

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        return None

    def save(self, *args: Any, **kwargs: Any) -> None:
        return None

    def exists(self) -> bool:
        return False


class DataParallel:
    """What the training loops need from the process group (``dist`` of ``rbm.pretrain`` /
    ``cnn.finetune``): the rows of a global minibatch that this rank computes, gradient and metric
    reductions, parameter broadcast and global-batch dropout.

    Args:
        group: the process group (default: the world).
    """

    def __init__(self, group: Any = None) -> None:
        self.group = group
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)
        self.backend = dist.get_backend(group)

    def __repr__(self) -> str:
        return f"DataParallel(rank={self.rank}, world_size={self.world_size}, backend={self.backend!r})"

    # ------------------------------------------------------------------ batches
    def rows(self, total: int) -> tuple[tuple[int, int, int], float]:
        """This rank's rows of a global minibatch of ``total`` rows.

        Returns ``((lo, hi, total), weight)``: the contiguous slice ``[lo, hi)`` and its share
        ``(hi - lo) / total`` of the batch (the weight of this rank's gradient). Slice sizes differ
        by at most one. A rank whose slice would be empty (a last batch with fewer rows than
        ranks) gets row 0 with weight 0, so that every rank runs the same steps and collectives.
        """
        lo, hi = _bounds(int(total), self.rank, self.world_size)
        if hi == lo:
            return (0, 1, int(total)), 0.0
        return (lo, hi, int(total)), (hi - lo) / total

    # ------------------------------------------------------------------ reductions
    def _device(self, fallback: torch.device) -> torch.device:
        if self.backend == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return fallback

    def all_reduce_grads(self, params: Iterable[nn.Parameter], weight: float) -> None:
        """``grad <- sum over ranks of weight_r * grad_r`` for every parameter that requires grad.

        One flat buffer, one all-reduce. A missing gradient counts as zeros (and is created), so
        every rank contributes the same buffer layout.
        """
        params = [p for p in params if p.requires_grad]
        if not params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1).to(grads[0].dtype) for g in grads])
        if weight != 1.0:
            flat.mul_(weight)
        dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=self.group)
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset:offset + n].view_as(p).to(p.dtype)
            offset += n

    def sum(self, values: Iterable[float]) -> list[float]:
        """Element-wise sum over ranks of a few numbers (float64)."""
        t = torch.tensor(list(values), dtype=torch.float64, device=self._device(torch.device("cpu")))
        dist.all_reduce(t, op=dist.ReduceOp.SUM, group=self.group)
        return t.tolist()

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's (picklable) ``obj``, in rank order, on every rank."""
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj, group=self.group)
        return out

    def broadcast_parameters(self, module: nn.Module, src: int = 0) -> None:
        """Copy rank ``src``'s parameters and buffers to every rank (in place)."""
        with torch.no_grad():
            for t in [*module.parameters(), *module.buffers()]:
                dist.broadcast(t.data, src=src, group=self.group)

    # ------------------------------------------------------------------ randomness
    @contextlib.contextmanager
    def global_batch_dropout(self, model: nn.Module) -> Iterator[Any]:
        """Make every ``nn.Dropout`` of ``model`` draw its mask for the whole global batch and keep
        this rank's rows, for the duration of the ``with`` block.

        Yields ``set_rows(rows)``: call it with the ``(lo, hi, total)`` of :meth:`rows` before each
        forward pass. The mask is ``bernoulli_(1 - p)`` of shape ``(total, *features)`` from
        torch's global generator, exactly what ``F.dropout`` draws on the CPU for a batch of
        ``total`` rows, so the rows of a single-process run get the same masks here (on CUDA
        ``F.dropout`` uses a fused kernel with other random numbers: still a correct dropout,
        identical on all ranks, but not bit-equal to a single-process CUDA run). Seed the global
        generator identically on all ranks (``cnn.finetune`` does).
        """
        current: list[tuple[int, int, int] | None] = [None]

        def forward(module: nn.Dropout, x: Tensor) -> Tensor:
            rows = current[0]
            if rows is None or not module.training or module.p == 0.0 or module.p == 1.0:
                return F.dropout(x, module.p, module.training, module.inplace)
            lo, hi, total = rows
            keep = 1.0 - module.p
            noise = torch.empty((total, *x.shape[1:]), dtype=x.dtype, device=x.device)
            noise = noise.bernoulli_(keep)[lo:hi].div_(keep)
            return x * noise

        patched = [m for m in model.modules() if type(m) is nn.Dropout]
        saved = [m.__dict__.get("forward") for m in patched]
        for m in patched:
            m.forward = types.MethodType(forward, m)

        def set_rows(rows: tuple[int, int, int] | None) -> None:
            current[0] = rows

        try:
            yield set_rows
        finally:
            for m, old in zip(patched, saved, strict=True):
                if old is None:
                    del m.forward
                else:
                    m.forward = old
