"""Helpers shared by the quality benchmarks (bench_sampler_quality.py, bench_generative.py).

Thread pinning and the machine description (docs/design.md §3: report the thread count), markdown tables,
mean ± std formatting, JSON output that survives numpy/torch scalars, and matplotlib on the Agg
backend (no display needed). Nothing here imports the project's packages, so a benchmark can set
threads before anything heavy is loaded.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "results"

__all__ = [
    "DEFAULT_OUT",
    "ROOT",
    "Timer",
    "fmt",
    "fmt_mean_std",
    "machine_info",
    "markdown_table",
    "mean_std",
    "parse_seeds",
    "plt",
    "set_threads",
    "write_json",
]


def set_threads(n: int = 1) -> int:
    """Pin torch to ``n`` intra-op threads (and 1 inter-op thread); print and return it."""
    torch.set_num_threads(int(n))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set (interop threads can only be set once per process)
        pass
    print(f"torch.get_num_threads() = {torch.get_num_threads()}", flush=True)
    return torch.get_num_threads()


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPU, load, versions, threads."""
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    try:
        info["load_average_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import subprocess

    try:  # which code was measured: the commit, and files modified on top of it
        git = ["git", "-C", str(ROOT)]
        info["git_commit"] = subprocess.run(git + ["rev-parse", "--short", "HEAD"],
                                            capture_output=True, text=True, timeout=10).stdout.strip()
        status = subprocess.run(git + ["status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10).stdout.splitlines()
        info["git_modified"] = [line[3:] for line in status if line[3:].startswith(("rbm/", "sampling/"))]
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("numpy", "dimod", "dwave-samplers", "dwave-system", "dwave-pytorch-plugin"):
        try:
            info[pkg] = version(pkg)
        except PackageNotFoundError:
            info[pkg] = None
    return info


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` or ``"3"`` (meaning 0, 1, 2) → list of ints."""
    text = text.strip()
    if "," in text:
        return [int(s) for s in text.split(",") if s.strip()]
    if "-" in text[1:]:
        lo, hi = text.split("-", 1)
        return list(range(int(lo), int(hi) + 1))
    return list(range(int(text)))


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value; NaNs dropped)."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return float("nan"), float("nan")
    if len(vals) == 1:
        return vals[0], 0.0
    if not all(math.isfinite(v) for v in vals):  # e.g. KL = inf for a state exact gives p = 0
        return statistics.fmean(vals), float("nan")
    return statistics.fmean(vals), statistics.stdev(vals)


def fmt(value: Any, digits: int = 3) -> str:
    """Compact number formatting for tables (``inf``, ``nan`` and ``None`` spelled out)."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    v = float(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v != 0 and (abs(v) >= 10 ** (digits + 2) or abs(v) < 10 ** (-digits)):
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}" if abs(v) >= 1 else f"{v:.{digits}f}".rstrip("0").rstrip(".") or "0"


def fmt_mean_std(values: Sequence[float], decimals: int = 2) -> str:
    m, s = mean_std(values)
    if math.isnan(m):
        return "–"
    return f"{m:.{decimals}f} ± {s:.{decimals}f}"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub markdown table; cells are formatted with :func:`fmt` unless already strings."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(c if isinstance(c, str) else fmt(c) for c in row) + " |")
    return "\n".join(lines)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return _jsonable(obj.tolist())
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if hasattr(obj, "tolist"):
        return _jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)  # JSON has no inf/nan; keep them readable
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(obj), indent=1) + "\n")
    return path


class Timer:
    """``with Timer() as t: ...; t.seconds``."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.seconds = float("nan")
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
