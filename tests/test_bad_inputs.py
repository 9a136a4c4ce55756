"""One consistent error path for user mistakes, across both command lines: every bad flag,
config value, data file, checkpoint and BQM file gives exactly one ``error:`` line on stderr, exit
code 2, no traceback, and leaves no partial output behind."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest

import train
from sampling import cli as sampling_cli

TINY = ["--dataset", "digits", "--layers", "4x3p2", "--pretrain-epochs", "1", "--finetune-epochs", "1",
        "--no-progress", "--no-plots"]


def _idx_dir(tmp: Path, *, magic=2051, n_labels=10, truncate=False) -> Path:
    d = tmp / "idx"
    d.mkdir()
    images = np.zeros((10, 28, 28), np.uint8)
    for split in ("train", "t10k"):
        header = struct.pack(">IIII", magic, 10, 28, 28)
        body = images.tobytes()[: 100 if truncate else None]
        (d / f"{split}-images-idx3-ubyte").write_bytes(header + body)
        (d / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n_labels) + bytes(range(n_labels)))
    return d


def _file(tmp: Path, name: str, content: bytes | str) -> Path:
    path = tmp / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


# (id, builder(tmp) -> argv for train.py, expected text in the error line)
TRAIN_CASES = [
    ("unknown sampler", lambda t: ["--sampler", "quantum"], "invalid choice"),
    ("unknown fallback", lambda t: ["--fallback-sampler", "x"], "invalid choice"),
    ("unknown data set", lambda t: ["--dataset", "cifar10"], "unknown data set"),
    ("missing idx dir", lambda t: ["--dataset", f"idx:{t}/none"], "none"),
    ("idx wrong magic", lambda t: ["--dataset", f"idx:{_idx_dir(t, magic=1234)}"], "magic"),
    ("idx truncated", lambda t: ["--dataset", f"idx:{_idx_dir(t, truncate=True)}"], "truncated"),
    ("idx count mismatch", lambda t: ["--dataset", f"idx:{_idx_dir(t, n_labels=9)}"], "9"),
    ("npz missing", lambda t: ["--dataset", f"npz:{t}/nope.npz"], "nope.npz"),
    ("npz not a zip", lambda t: ["--dataset", f"npz:{_file(t, 'bad.npz', b'junk')}"], "bad.npz"),
    ("npz wrong keys", lambda t: ["--dataset", f"npz:{_npz(t, x=np.zeros((2, 8, 8)))}"], "x_train"),
    ("kernel larger than image", lambda t: ["--layers", "4x9"], "kernel"),
    ("pool does not divide", lambda t: ["--layers", "4x4p2"], "pool"),
    ("dense then conv", lambda t: ["--layers", "fc8,4x3"], "conv"),
    ("fc0", lambda t: ["--layers", "fc0"], "fc0"),
    ("garbage layers", lambda t: ["--layers", "fcx"], "fcx"),
    ("label fraction 0", lambda t: ["--label-fraction", "0"], "--label-fraction"),
    ("label fraction > 1", lambda t: ["--label-fraction", "2"], "--label-fraction"),
    ("sparsity target 0", lambda t: ["--sparsity-target", "0"], "--sparsity-target"),
    ("sparsity target 1.5", lambda t: ["--sparsity-target", "1.5"], "--sparsity-target"),
    ("negative sparsity cost", lambda t: ["--sparsity-cost", "-1"], "--sparsity-cost"),
    ("unknown init", lambda t: ["--init", "xavier"], "invalid choice"),
    ("init torch with pretrain-only", lambda t: ["--init", "torch", "--pretrain-only"], "--init torch"),
    ("negative beta", lambda t: ["--beta", "-0.5"], "--beta"),
    ("nan beta", lambda t: ["--beta", "nan"], "--beta"),
    ("zero batch", lambda t: ["--batch-size", "0"], "--batch-size"),
    ("zero pretraining batch", lambda t: ["--pretrain-batch-size", "0"], "--pretrain-batch-size"),
    ("negative epochs", lambda t: ["--finetune-epochs", "-1"], "--finetune-epochs"),
    ("zero lr", lambda t: ["--lr-pretrain", "0"], "--lr-pretrain"),
    ("non-integer sweeps", lambda t: ["--sweeps", "many"], "invalid int"),
    ("zero sweeps", lambda t: ["--sweeps", "0"], "--sweeps"),
    ("bad canvas", lambda t: ["--canvas", "12by12"], "--canvas"),
    ("canvas smaller than kernel", lambda t: ["--canvas", "2x2"], "canvas"),
    ("exact on a big layer", lambda t: ["--sampler", "exact"], "exact"),
    ("bad schedule", lambda t: ["--sampler", "annealed", "--schedule", "cosine"], "schedule"),
    ("unknown sampler option", lambda t: ["--sampler-option", "warp=9"], "warp"),
    ("malformed sampler option", lambda t: ["--sampler-option", "tiles"], "KEY=VALUE"),
    ("negative retries", lambda t: ["--sampler-retries", "-1"], "--sampler-retries"),
    ("cuda absent or bad device", lambda t: ["--device", "tpu:0"], "--device"),
    ("config missing", lambda t: ["--config", f"{t}/none.toml"], "none.toml"),
    ("config not toml", lambda t: ["--config", str(_file(t, "c.toml", "sampler = [unclosed"))], "not valid TOML"),
    ("config unknown key", lambda t: ["--config", str(_file(t, "c.toml", "learning_rate = 1\n"))], "learning_rate"),
    ("config wrong type", lambda t: ["--config", str(_file(t, "c.toml", "binarize = 3\n"))], "binarize"),
    ("config bad value", lambda t: ["--config", str(_file(t, "c.toml", "beta = -2.0\n"))], "--beta"),
    ("init-from not a run", lambda t: ["--init-from", str(t)], "stack.pt"),
    ("init-from corrupt checkpoint", lambda t: ["--init-from", str(_corrupt_run(t))], "stack.pt"),
    ("resume not a run", lambda t: ["--resume", str(t)], "not a run directory"),
    ("resume with config", lambda t: ["--resume", str(_file(t, "config.toml", "").parent), "--config", "x.toml"], "--config"),
    ("resume before first epoch", lambda t: ["--resume", str(_file(t, "config.toml", "").parent)], "state.pt"),
    ("pretrain-only without epochs", lambda t: ["--pretrain-only", "--pretrain-epochs", "0"], "train nothing"),
    ("unwritable out", lambda t: ["--out", "/proc/forbidden/run"], "cannot write"),
]


def _npz(tmp: Path, **arrays) -> Path:
    path = tmp / "data.npz"
    np.savez(path, **arrays)
    return path


def _corrupt_run(tmp: Path) -> Path:
    run = tmp / "oldrun"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "stack.pt").write_bytes(b"not a torch file")
    return run


@pytest.mark.parametrize("build,needle", [c[1:] for c in TRAIN_CASES], ids=[c[0] for c in TRAIN_CASES])
def test_train_cli_user_errors(tmp_path, capsys, build, needle):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    argv = [*TINY, "--out", str(tmp_path / "out"), *build(inputs)]
    before = sorted(p.name for p in inputs.rglob("*"))
    code = train.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err, "no message"
    assert "error:" in err[-1] and needle.lower() in err[-1].lower(), err[-1]
    assert not any("Traceback" in line for line in err)
    assert not (tmp_path / "out").exists(), "partial output left behind"
    assert sorted(p.name for p in inputs.rglob("*")) == before, "inputs were modified"


def _bqm_json(tmp: Path) -> Path:
    import dimod

    bqm = dimod.BinaryQuadraticModel({0: 0.5, 1: -0.2}, {(0, 1): 1.0}, 0.0, "SPIN")
    path = tmp / "p.json"
    import json

    path.write_text(json.dumps(bqm.to_serializable()))
    return path


# (id, builder(tmp) -> argv for python -m sampling, expected text)
SAMPLING_CASES = [
    ("missing problem", lambda t: ["sample", f"{t}/none.json"], "none.json"),
    ("malformed coo line", lambda t: ["sample", str(_file(t, "p.txt", "0 1 x\n"))], "line 1"),
    ("coo too many fields", lambda t: ["sample", str(_file(t, "p.txt", "0 1 2 3\n"))], "line 1"),
    ("json not a bqm", lambda t: ["sample", str(_file(t, "p.json", "{\"a\": 1}"))], "p.json"),
    ("binary garbage", lambda t: ["sample", str(_file(t, "p.json", gzip.compress(b"x")))], "p.json"),
    ("negative beta", lambda t: ["sample", str(_bqm_json(t)), "--beta", "-1"], "beta"),
    ("zero reads", lambda t: ["sample", str(_bqm_json(t)), "--num-reads", "0"], "num"),
    ("unknown method", lambda t: ["sample", str(_bqm_json(t)), "--method", "magic"], "magic"),
    ("bad output extension", lambda t: ["sample", str(_bqm_json(t)), "--out", f"{t}/s.xlsx"], "xlsx"),
    ("unwritable output", lambda t: ["sample", str(_bqm_json(t)), "--out", "/proc/forbidden/s.npz"], "forbidden"),
    ("exact too large", lambda t: ["sample", str(_file(t, "big.txt", "".join(f"{i} {i + 1} 1.0\n" for i in range(40)))),
                                   "--method", "exact"], "exact"),
]


@pytest.mark.parametrize("build,needle", [c[1:] for c in SAMPLING_CASES], ids=[c[0] for c in SAMPLING_CASES])
def test_sampling_cli_user_errors(tmp_path, capsys, build, needle):
    argv = [*build(tmp_path), "--beta", "1"]
    if "--beta" in argv[:-2]:
        argv = argv[:-2]
    before = sorted(p.name for p in tmp_path.iterdir())
    try:
        code = sampling_cli.main(argv)
    except SystemExit as exc:  # argparse's own errors (bad choices, bad numbers)
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert "error:" in err[-1] and needle.lower() in err[-1].lower(), err[-1]
    assert not any("Traceback" in line for line in err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "partial output left behind"


class _Payload:
    """Unpickling this runs code: it writes ``marker`` (what a crafted checkpoint would do)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('the payload ran')",))


def _crafted_run(tmp: Path, file: str, marker: Path) -> Path:
    """A run directory whose checkpoints/<file> would execute a payload when unpickled."""
    import torch

    run = tmp / "crafted"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.toml").write_text('dataset = "digits"\nlayers = "4x3p2"\n')
    record = {"stage": "pretrain", "layer": 0, "epoch": 1, "format": "rbm.stack/1", "x": _Payload(marker)}
    torch.save(record, run / "checkpoints" / file)
    return run


@pytest.mark.parametrize("flag,file", [("--resume", "state.pt"), ("--init-from", "stack.pt")])
def test_a_checkpoint_that_would_run_code_is_refused_and_never_runs(tmp_path, flag, file):
    import os
    import subprocess
    import sys

    marker = tmp_path / "payload-ran"
    run = _crafted_run(tmp_path, file, marker)
    root = Path(__file__).resolve().parents[1]
    argv = [sys.executable, str(root / "train.py"), flag, str(run)]
    if flag == "--init-from":
        argv += [*TINY, "--out", str(tmp_path / "out")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert result.returncode == 2, result.stderr
    assert len(errors) == 1 and "refusing to load" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists(), "the checkpoint's payload ran"
    assert not (tmp_path / "out").exists()


def test_load_cnn_refuses_a_checkpoint_that_would_run_code(tmp_path):
    import pickle

    import torch

    from cnn import load_cnn

    marker = tmp_path / "payload-ran"
    torch.save({"config": {}, "state_dict": {}, "x": _Payload(marker)}, tmp_path / "cnn.pt")
    with pytest.raises(pickle.UnpicklingError):
        load_cnn(tmp_path / "cnn.pt")
    assert not marker.exists()


def _train_subprocess(tmp: Path, *args: str, **env_changes: str):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWAVE_")}
    env.update({"OMP_NUM_THREADS": "1", "PYTHONPATH": str(root), **env_changes})
    return subprocess.run([sys.executable, str(root / "train.py"), *args], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=300)


def test_qpu_without_a_token_fails_before_writing_the_run_directory(tmp_path):
    empty = tmp_path / "dwave.conf"  # no token in the environment nor in a config file
    empty.write_text("")
    out = tmp_path / "run"
    result = _train_subprocess(tmp_path, *TINY, "--sampler", "qpu", "--out", str(out),
                               DWAVE_CONFIG_FILE=str(empty), HOME=str(tmp_path))
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert result.returncode == 2, result.stderr
    assert len(errors) == 1 and "no D-Wave API token" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))


@pytest.mark.slow
def test_an_embedding_that_does_not_fit_fails_before_writing_the_run_directory(tmp_path):
    out = tmp_path / "run"  # 4x3p2 on the full 8x8 canvas: 208 variables, too many for the mock
    result = _train_subprocess(tmp_path, *TINY, "--sampler", "mock-qpu", "--out", str(out),
                               "--sampler-option", "embedding_tries=1", "--sampler-option", "embedding_timeout=2")
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert result.returncode == 2, result.stderr
    assert len(errors) == 1 and "1 tile(s) of the canvas 1x8x8 do not embed" in errors[0], result.stderr
    assert re.search(r"the largest canvas that embeds is (\d)x\1 \(--canvas \1x\1\)$", errors[0]), errors[0]
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))
