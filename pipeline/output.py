"""Stage 4's start: the run directory, created only after every check (``pipeline.prepare``).

Only rank 0 of a data-parallel run creates and writes it; the other ranks learn its path (or rank
0's error) by a broadcast. The files inside are written by ``pipeline.run`` through ``rundir``.
"""

from __future__ import annotations

import time
from pathlib import Path

import dataparallel
from pipeline.config import TrainConfig, config_record
from pipeline.errors import UserError

__all__ = ["create_run_dir", "prepare_out_dir", "write_config"]


def create_run_dir(config: TrainConfig) -> Path:
    """The new run directory (``--out``, default ``runs/<date-time>``), created by rank 0."""
    if dataparallel.world_size() == 1:
        return prepare_out_dir(config)
    result: tuple[str, str] = ("", "")
    if dataparallel.is_main():
        try:
            result = (str(prepare_out_dir(config)), "")
        except UserError as exc:
            result = ("", str(exc))
    path, error = dataparallel.broadcast_object(result)
    if error:
        raise UserError(error)
    return Path(path)


def prepare_out_dir(config: TrainConfig) -> Path:
    """Create the run directory; refuse a non-empty one and report an unwritable one."""
    out = Path(config.out) if config.out else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
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


def write_config(out: Path, config: TrainConfig) -> None:
    """``config.toml``: everything needed to reproduce the run (``--config`` reads it back)."""
    import tomli_w

    (out / "config.toml").write_text(tomli_w.dumps(config_record(config)))
