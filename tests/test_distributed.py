"""Data-parallel training (``dataparallel.py``): two CPU processes with gloo on digits.

One ``torchrun`` launch (this file is also the worker script, see ``_worker``) runs, in the same
process group:

1. ``train.py --no-pretrain`` fine-tuning: each rank takes its half of every global minibatch, with
   the random shifts and dropout masks of the global batch, so the run must equal a single-process
   run with the same global batch up to float summation order (batch 64 on 1437 images: the last
   batch of 29 splits 14/15, so the weighting by each rank's share is exercised too);
2. ``train.py`` pretraining + fine-tuning with the torch annealer and per-rank sampler seeds, with
   the default run directory: exactly one directory must appear;
3. ``rbm.pretrain.pretrain_layer`` with a deterministic (mean-field) negative phase: again the same
   computation as one process.

Loopback only: ``--master-addr 127.0.0.1`` and gloo bound to ``lo``. Children run one thread each.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # when torchrun runs this file as the worker script
    sys.path.insert(0, str(ROOT))

import dataparallel  # noqa: E402
import pipeline  # noqa: E402
import train  # noqa: E402
from cnn.finetune import random_shift  # noqa: E402
from tests.chance import digits_chance  # noqa: E402

COMMON = ["--dataset", "digits", "--layers", "4x3p2", "--no-progress", "--no-plots"]
FINETUNE = [*COMMON, "--no-pretrain", "--finetune-epochs", "2", "--batch-size", "64"]
PRETRAIN = [*COMMON, "--pretrain-epochs", "1", "--finetune-epochs", "1", "--batch-size", "128", "--pretrain-batch-size", "128",
            "--sampler", "annealed", "--sweeps", "2", "--num-chains", "10", "--seed", "3"]


# ------------------------------------------------------------------------------ the worker
class MeanField:
    """A deterministic negative phase: v ← p(v | p(h | v_data)). Each row depends on its own data
    row only, so sharding a batch cannot change the computation."""

    beta = 1.0
    last_info: dict = {}

    def sample(self, model, v):
        with torch.no_grad():
            v_neg = model.p_v_given_h(model.p_h_given_v(v))
            return v_neg, model.p_h_given_v(v_neg)


def pretrain_mean_field(dist=None):
    """Pretrain a pooled conv RBM for one epoch on digits with the mean-field negative phase, in
    float64: the bias gradients are small differences of large sums, so float32 summation-order
    noise would be amplified (to ~1e-3 relative); float64 lets the comparison be tight."""
    import imagedata
    from rbm import ConvRBM
    from rbm.pretrain import PretrainConfig, pretrain_layer

    data = imagedata.load_dataset("digits").x_train.double()
    torch.manual_seed(0)
    model = ConvRBM(1, 4, 3, pool_size=2).double()
    model.init_visible_bias(data)
    # centered gradients: their hidden offset follows the global batch's activity on every rank
    config = PretrainConfig(epochs=1, batch_size=64, lr=0.05, weight_decay=1e-3, centering=True, seed=0)
    history = pretrain_layer(model, data, MeanField(), config, dist=dist)
    return model, history


def _worker(tmp: Path) -> int:
    torch.set_num_threads(1)
    os.chdir(tmp / "cwd")  # runs without --out land in ./runs/<date-time>
    dp = dataparallel.init_from_env("cpu")
    assert dp is not None and dp.world_size == 2 and dp.backend == "gloo", dp
    dataparallel._owned = False  # keep this process group across the train.main calls below
    codes = [train.main([*FINETUNE, "--out", str(tmp / "finetune")])]
    seeds = dp.gather(pipeline.sampler_options(train.parse_args(PRETRAIN))["seed"])
    codes.append(train.main(PRETRAIN))
    model, history = pretrain_mean_field(dp)
    if dp.rank == 0:
        torch.save(model.state_dict(), tmp / "mean_field.pt")
        (tmp / "worker.json").write_text(json.dumps({"codes": codes, "seeds": seeds,
                                                      "mean_field_history": history}))
    dataparallel.barrier()
    return 0 if codes == [0, 0] else 1


# ------------------------------------------------------------------------------ the tests
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """One ``torchrun --nproc-per-node 2`` launch of ``_worker`` (gloo, loopback, 1 thread each)."""
    tmp = tmp_path_factory.mktemp("dist")
    (tmp / "cwd").mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
               "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
               str(Path(__file__).resolve()), str(tmp)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return tmp, json.loads((tmp / "worker.json").read_text())


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_two_rank_finetuning_equals_one_process(launched, tmp_path, one_thread):
    tmp, worker = launched
    assert worker["codes"] == [0, 0]
    single = tmp_path / "single"
    assert train.main([*FINETUNE, "--out", str(single)]) == 0
    multi = tmp / "finetune"
    a, b = _metrics(single), _metrics(multi)
    assert [m["epoch"] for m in b] == [1, 2]  # one writer: no duplicated lines
    for x, y in zip(a, b, strict=True):
        for key in ("train_loss", "test_loss"):
            assert y[key] == pytest.approx(x[key], rel=1e-5, abs=1e-6), key
        for key in ("train_accuracy", "test_accuracy"):  # a borderline example may flip
            assert y[key] == pytest.approx(x[key], abs=1.5 / 360), key
    w1 = torch.load(single / "checkpoints" / "cnn.pt", weights_only=True)["state_dict"]
    w2 = torch.load(multi / "checkpoints" / "cnn.pt", weights_only=True)["state_dict"]
    for key in w1:
        torch.testing.assert_close(w2[key], w1[key], rtol=1e-4, atol=1e-5, msg=key)
    assert sorted(p.name for p in multi.iterdir()) == sorted(p.name for p in single.iterdir())


def test_two_rank_pretraining_uses_per_rank_seeds_and_writes_one_run_directory(launched):
    tmp, worker = launched
    assert worker["seeds"] == [3, 3 + dataparallel.RANK_SEED_STRIDE]
    runs = list((tmp / "cwd" / "runs").iterdir())
    assert len(runs) == 1, runs  # rank 1 created nothing (it would have its own time stamp)
    out = runs[0]
    metrics = _metrics(out)
    assert [(m["stage"], m["epoch"]) for m in metrics] == [("pretrain", 1), ("finetune", 1)]
    assert math.isfinite(metrics[0]["loss"]) and metrics[0]["sampler_seconds"] > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_accuracy"] > digits_chance(), summary["test_accuracy"]
    assert summary["sampler"] == "annealed"
    state = torch.load(out / "checkpoints" / "state.pt", weights_only=True)
    assert state["stage"] == "done"
    assert (out / "checkpoints" / "stack.pt").is_file() and (out / "config.toml").is_file()
    # nothing else appeared in the launch directory
    assert sorted(p.name for p in tmp.iterdir()) == ["cwd", "finetune", "mean_field.pt", "worker.json"]


def test_two_rank_pretrain_layer_equals_one_process(launched, one_thread):
    tmp, worker = launched
    model, history = pretrain_mean_field()
    multi = torch.load(tmp / "mean_field.pt", weights_only=True)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(multi[key], value, rtol=1e-9, atol=1e-12, msg=key)
    (h1,), (h2,) = history, worker["mean_field_history"]
    for key in ("loss", "reconstruction_error"):
        assert h2[key] == pytest.approx(h1[key], rel=1e-9, abs=1e-12), key


# ------------------------------------------------------------------------------ no processes
def _context(rank: int, world_size: int) -> dataparallel.DataParallel:
    dp = object.__new__(dataparallel.DataParallel)  # the row logic needs no process group
    dp.group, dp.rank, dp.world_size, dp.backend = None, rank, world_size, "gloo"
    return dp


@pytest.mark.parametrize("total,world", [(64, 2), (29, 2), (29, 4), (3, 4), (1, 2)])
def test_rows_tile_the_global_batch(total, world):
    parts = [_context(r, world).rows(total) for r in range(world)]
    real = [(rows, w) for rows, w in parts if w > 0]
    assert [i for (lo, hi, _), _ in real for i in range(lo, hi)] == list(range(total))
    assert sum(w for _, w in parts) == pytest.approx(1.0)
    sizes = [hi - lo for (lo, hi, _), _ in real]
    assert max(sizes) - min(sizes) <= 1
    assert all(rows == (0, 1, total) for rows, w in parts if w == 0)  # a stand-in row


def test_shifts_and_dropout_of_a_slice_are_those_of_the_global_batch():
    from cnn import CNN, Layer

    x = torch.rand(10, 1, 8, 8)
    full = random_shift(x, 2, torch.Generator().manual_seed(1))
    part = random_shift(x[4:10], 2, torch.Generator().manual_seed(1), batch_rows=(4, 10, 10))
    assert torch.equal(part, full[4:10])

    net = CNN([Layer("conv", 4, 3)], (1, 8, 8), 10).train()
    torch.manual_seed(5)
    expected = net(x)
    with _context(1, 2).global_batch_dropout(net) as set_rows:
        set_rows((4, 10, 10))
        torch.manual_seed(5)
        got = net(x[4:10])
    torch.testing.assert_close(got, expected[4:10])
    assert "forward" not in net.drop.__dict__  # the model is restored


if __name__ == "__main__":
    sys.exit(_worker(Path(sys.argv[1])))
