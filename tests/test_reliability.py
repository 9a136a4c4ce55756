"""Reliability of train.py: SIGKILL + --resume gives the same weights as an uninterrupted run,
sampler faults are retried / fall back / stop cleanly, NaN stops the run without overwriting the
last good checkpoint, and Ctrl-C says how to resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import train
from sampling import make_sampler, register_sampler
from sampling.registry import _REGISTRY
from tests.chance import digits_chance

ROOT = Path(__file__).resolve().parents[1]
BASE = ["--dataset", "digits", "--layers", "4x3p2", "--batch-size", "256", "--pretrain-batch-size", "256", "--sampler", "pcd",
        "--no-progress", "--no-plots"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _run(args, **kw):
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300, **kw)


def _lines(out: Path) -> int:
    path = out / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _interrupt_after(args, out: Path, lines: int, sig) -> subprocess.CompletedProcess:
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    state = out / "checkpoints" / "state.pt"  # written right after the epoch's metrics line
    while (_lines(out) < lines or not state.exists()) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "checkpoints" / "cnn.pt", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run (subprocess, one thread, like the interrupted ones)."""
    out = tmp_path_factory.mktemp("ref") / "run"
    result = _run([*BASE, "--pretrain-epochs", "2", "--finetune-epochs", "3", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("kill_after", [1, 3], ids=["during-pretraining", "during-fine-tuning"])
def test_sigkill_then_resume_gives_the_same_final_weights(tmp_path, reference, kill_after):
    out = tmp_path / "run"
    args = [*BASE, "--pretrain-epochs", "2", "--finetune-epochs", "3", "--out", str(out)]
    killed = _interrupt_after(args, out, kill_after, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (out / "summary.json").exists()
    resumed = _run(["--resume", str(out)])
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    ref, got = _weights(reference), _weights(out)
    assert ref.keys() == got.keys()
    for key in ref:
        assert torch.equal(ref[key], got[key]), key
    # the metrics log has each epoch exactly once, as in the uninterrupted run
    strip = lambda p: [{k: v for k, v in json.loads(line).items() if "seconds" not in k}  # noqa: E731
                       for line in (p / "metrics.jsonl").read_text().splitlines()]
    assert strip(out) == strip(reference)


def test_ctrl_c_keeps_the_last_epoch_and_says_how_to_resume(tmp_path):
    out = tmp_path / "run"
    # 20 fine-tuning epochs (~0.1 s each): enough left after the second epoch that the signal
    # lands mid-run even when a loaded machine starves this polling loop for a second or two
    args = [*BASE, "--pretrain-epochs", "1", "--finetune-epochs", "20", "--out", str(out)]
    stopped = _interrupt_after(args, out, 2, signal.SIGINT)
    assert stopped.returncode == 130, stopped.stderr
    assert "error: interrupted" in stopped.stderr
    assert f"python train.py --resume {out}" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    resumed = _run(["--resume", str(out)])
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "summary.json").read_text())["finetune_epochs"] == 20


class FaultyAnnealer:
    """The real torch annealer whose transport fails on chosen calls (an injected QPU fault), or
    whose answer is corrupted with NaN (an injected bad read)."""

    fail_calls: set[int] = set()
    nan_calls: set[int] = set()

    def __init__(self, **options):
        self.inner = make_sampler("annealed", **options)
        self.beta, self.calls = self.inner.beta, 0

    @property
    def last_info(self):
        return self.inner.last_info

    def sample(self, model, v):
        self.calls += 1
        if self.calls in self.fail_calls:
            raise TimeoutError(f"injected solver timeout on call {self.calls}")
        v_neg, h_neg = self.inner.sample(model, v)
        if self.calls in self.nan_calls:
            v_neg = v_neg.clone()
            v_neg[0] = float("nan")
        return v_neg, h_neg

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state):
        self.inner.load_state_dict(state)


@pytest.fixture
def faulty(monkeypatch):
    register_sampler("faulty-annealed", FaultyAnnealer, replace=True)
    yield FaultyAnnealer
    FaultyAnnealer.fail_calls, FaultyAnnealer.nan_calls = set(), set()
    _REGISTRY.pop("faulty-annealed", None)


# digits train set: 1437 images / batch 128 → 12 batches per epoch; the preflight makes call 1
FAULTY = ["--dataset", "digits", "--layers", "4x3p2", "--batch-size", "128", "--pretrain-batch-size", "128",
          "--sampler", "faulty-annealed",
          "--pretrain-epochs", "2", "--finetune-epochs", "1", "--no-progress", "--no-plots",
          "--sampler-retries", "2", "--sampler-backoff", "0"]


def test_transient_fault_is_retried(tmp_path, faulty):
    faulty.fail_calls = {5, 6}  # preflight sampler is call 1 of its own instance; these hit layer 0
    out = tmp_path / "run"
    assert train.main([*FAULTY, "--out", str(out)]) == 0
    pre = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][0]
    assert pre["retries"] > 0 and pre["fallback"] == 0


def test_persistent_fault_falls_back_and_is_recorded(tmp_path, faulty, caplog):
    faulty.fail_calls = set(range(15, 19))  # layer 0, epoch 2: four failures in a row
    out = tmp_path / "run"
    with caplog.at_level("WARNING"):
        assert train.main([*FAULTY, "--fallback-sampler", "cd", "--out", str(out)]) == 0
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epoch1, epoch2 = metrics[0], metrics[1]
    assert epoch1["fallback"] == 0 and epoch2["fallback"] > 0
    assert "using fallback GibbsSampler" in caplog.text


def test_persistent_fault_without_fallback_stops_cleanly_and_resumes(tmp_path, faulty, capsys):
    faulty.fail_calls = set(range(15, 30))  # every call of layer 0's second epoch
    out = tmp_path / "run"
    assert train.main([*FAULTY, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "error: sampler failed" in err and "injected solver timeout" in err
    assert f"python train.py --resume {out}" in err
    state = torch.load(out / "checkpoints" / "state.pt", weights_only=True)
    assert (state["stage"], state["layer"], state["epoch"]) == ("pretrain", 0, 1)
    faulty.fail_calls = set()  # the solver is back
    assert train.main(["--resume", str(out)]) == 0
    accuracy = json.loads((out / "summary.json").read_text())["test_accuracy"]
    assert accuracy > digits_chance(), accuracy


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, faulty, capsys):
    faulty.nan_calls = {16}  # layer 0, epoch 2
    out = tmp_path / "run"
    assert train.main([*FAULTY, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "error: diverged: layer 0, epoch 2" in err and "--lr-pretrain" in err
    state = torch.load(out / "checkpoints" / "state.pt", weights_only=True)
    assert (state["stage"], state["layer"], state["epoch"]) == ("pretrain", 0, 1)
    assert all(torch.isfinite(v).all() for v in state["stack"].values())
    from rbm import load_stack

    stack = load_stack(out / "checkpoints" / "stack.pt")
    assert torch.equal(stack.layers[0].weight, state["stack"]["layers.0.weight"])
