"""The run directory of ``train.py``: atomic files, the metrics log and the resumable state.

Layout::

    RUN_DIR/config.toml            everything needed to reproduce the run (``--config`` takes it back)
    RUN_DIR/metrics.jsonl          one JSON object per epoch (stage, layer, epoch, …)
    RUN_DIR/summary.json           final numbers and seconds per stage
    RUN_DIR/checkpoints/stack.pt   the RBM layers (``rbm.load_stack``), reusable by ``--init-from``
    RUN_DIR/checkpoints/cnn.pt     the fine-tuned CNN (``cnn.load_cnn``)
    RUN_DIR/checkpoints/state.pt   the resumable state after the last completed epoch

Every file is written to a temporary name and renamed into place, so a crash or SIGKILL at any
moment leaves either the previous complete file or the new one, never half of one.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from rbm.io import load_torch_file

__all__ = ["MetricsLog", "RunState", "atomic_write", "write_json_atomic"]


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj: Any) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl`` and counts the lines written, so a
    resumed run can cut the log back to its checkpoint (no duplicated epochs)."""

    def __init__(self, path: Path, keep_lines: int | None = None):
        self.path = Path(path)
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        if keep_lines is not None and len(lines) != keep_lines:
            lines = lines[:keep_lines]
            atomic_write(self.path, lambda tmp: tmp.write_text("".join(f"{line}\n" for line in lines)))
        self.lines = len(lines)

    def __call__(self, record: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with self.path.open("a") as f:
            f.write(json.dumps(clean, default=_json_default) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.lines += 1


class RunState:
    """The resumable state (``checkpoints/state.pt``): a dict saved atomically after every epoch.

    Keys: ``stage`` ("pretrain" | "finetune" | "done"), ``layer``, ``epoch`` (epochs completed in
    this stage/layer), ``stack`` (state_dict), ``optimizer``, ``sampler``, ``generator``,
    ``torch_rng``, ``history``, ``timings``, ``metrics_lines`` and stage-specific entries.
    """

    def __init__(self, out: Path):
        self.path = Path(out) / "checkpoints" / "state.pt"

    def exists(self) -> bool:
        return self.path.is_file()

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, lambda tmp: torch.save(state, tmp))

    def load(self) -> dict[str, Any]:
        """The saved state; ValueError for a missing, corrupt or unsafe file.

        Read by :func:`rbm.io.load_torch_file` (``weights_only=True``): only tensors and plain
        containers are rebuilt, so a crafted file cannot run code.
        """
        try:
            state = load_torch_file(self.path, map_location="cpu")
        except ValueError as exc:
            raise ValueError(f"cannot read the run state: {exc}") from None
        if not isinstance(state, dict):
            raise ValueError(f"{self.path}: not a run state (a {type(state).__name__}, expected a dict)")
        return state
