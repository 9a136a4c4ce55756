"""End to end: ``train.py`` on tiny digits runs for every sampler backend, round-trips
pretrain-only → init-from, and turns user mistakes into one error line and exit code 2."""

from __future__ import annotations

import json
import math

import pytest
import tomllib
import torch

import train
from cnn import augment_pixels
from tests.chance import digits_chance

TINY = ["--dataset", "digits", "--layers", "4x3p2", "--pretrain-epochs", "1", "--finetune-epochs", "2",
        "--batch-size", "128", "--pretrain-batch-size", "128", "--no-progress", "--no-plots"]


def run(tmp_path, *extra, name="run"):
    out = tmp_path / name
    code = train.main([*TINY, "--out", str(out), *extra])
    return code, out


def read_metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    "sampler_args",
    [
        ["--sampler", "cd", "--sweeps", "1"],
        ["--sampler", "pcd"],
        ["--sampler", "annealed", "--sweeps", "3"],
        ["--sampler", "sa", "--schedule", "quench"],
        ["--sampler", "neal", "--sweeps", "4", "--canvas", "6x6"],
        ["--sampler", "mock-qpu", "--num-chains", "8", "--canvas", "4x4"],
    ],
    ids=lambda a: " ".join(a),
)
def test_pipeline_runs_for_every_sampler(tmp_path, sampler_args):
    code, out = run(tmp_path, *sampler_args)
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_accuracy"] > digits_chance(), summary["test_accuracy"]
    assert set(summary["seconds"]) >= {"pretrain", "finetune", "total"}
    metrics = read_metrics(out)
    pre = [m for m in metrics if m["stage"] == "pretrain"]
    fine = [m for m in metrics if m["stage"] == "finetune"]
    assert [m["epoch"] for m in pre] == [1] and pre[0]["layer"] == 0
    assert math.isfinite(pre[0]["loss"]) and pre[0]["sampler_seconds"] > 0
    assert [m["epoch"] for m in fine] == [1, 2]
    assert fine[-1]["test_accuracy"] == summary["test_accuracy"]
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["sampler"] == sampler_args[1] and config["layers"] == "4x3p2"
    assert (out / "checkpoints" / "stack.pt").is_file() and (out / "checkpoints" / "cnn.pt").is_file()
    if sampler_args[1] == "mock-qpu":  # the QPU time charged (the mock's timing model), per epoch and in all
        assert pre[0]["qpu_calls_total"] >= math.ceil(1437 / 128) and pre[0]["qpu_access_time_total"] > 0
        assert summary["qpu_access_time_s"] == pytest.approx(pre[0]["qpu_access_time_total"] * 1e-6)
        assert summary["qpu_calls"] == pre[0]["qpu_calls_total"]
    else:
        assert "qpu_access_time_s" not in summary


def test_exact_sampler_on_a_tiny_coarse_grained_layer(tmp_path):
    code, out = run(tmp_path, "--sampler", "exact", "--resize", "4x4", "--layers", "2x3")
    assert code == 0
    pre = [m for m in read_metrics(out) if m["stage"] == "pretrain"]
    # 16 visible units: small enough for the exact log-likelihood every epoch
    assert pre[0]["test_log_likelihood"] < 0


def test_default_pipeline_shape_and_plots(tmp_path):
    out = tmp_path / "plots"
    code = train.main(["--dataset", "digits", "--layers", "4x3p2,fc16", "--pretrain-epochs", "1",
                       "--finetune-epochs", "1", "--no-progress", "--out", str(out)])
    assert code == 0
    for name in ("filters_layer0.png", "filters_layer1.png", "negative_samples_layer0.png",
                 "pretrain_curves.png", "finetune_curves.png", "confusion_matrix.png"):
        assert (out / name).stat().st_size > 1000, name


def test_pretrain_only_then_init_from_round_trip(tmp_path):
    code, pre = run(tmp_path, "--pretrain-only", "--sampler", "annealed", name="pre")
    assert code == 0
    assert not (pre / "checkpoints" / "cnn.pt").exists()
    assert all(m["stage"] == "pretrain" for m in read_metrics(pre))
    stack = torch.load(pre / "checkpoints" / "stack.pt", weights_only=True)
    code, fine = run(tmp_path, "--init-from", str(pre), name="fine")
    assert code == 0
    assert all(m["stage"] == "finetune" for m in read_metrics(fine))
    from cnn import load_cnn
    from rbm import load_stack

    loaded = load_stack(pre / "checkpoints" / "stack.pt")
    assert torch.equal(loaded.layers[0].weight, stack["layers"][0]["state_dict"]["weight"])
    # the fine-tuned CNN started from those filters (and moved away from them)
    cnn = load_cnn(fine / "checkpoints" / "cnn.pt")
    assert cnn.layers[0].weight.shape == loaded.layers[0].weight.shape
    assert not torch.equal(cnn.layers[0].weight, loaded.layers[0].weight)


def test_same_seed_same_result(tmp_path):
    _, a = run(tmp_path, "--sampler", "sa", "--sweeps", "2", name="a")
    _, b = run(tmp_path, "--sampler", "sa", "--sweeps", "2", name="b")
    ma, mb = read_metrics(a), read_metrics(b)
    strip = lambda ms: [{k: v for k, v in m.items() if "seconds" not in k} for m in ms]  # noqa: E731
    assert strip(ma) == strip(mb)


def test_config_file_supplies_flags_and_command_line_wins(tmp_path):
    config = tmp_path / "exp.toml"
    config.write_text('sampler = "cd"\nsweeps = 2\nlr_finetune = 0.02\nfinetune-epochs = 5\n')
    code, out = run(tmp_path, "--config", str(config), "--sweeps", "3")
    assert code == 0
    recorded = tomllib.loads((out / "config.toml").read_text())
    assert (recorded["sampler"], recorded["sweeps"], recorded["lr_finetune"]) == ("cd", 3, 0.02)
    assert recorded["finetune_epochs"] == 2  # TINY's flag wins over the file's 5
    # config.toml reproduces the run when passed back
    code, again = run(tmp_path, "--config", str(out / "config.toml"), name="again")
    assert code == 0
    assert tomllib.loads((again / "config.toml").read_text())["sweeps"] == 3


BAD_INPUTS = [
    (["--sampler", "gibbs"], "invalid choice"),
    (["--dataset", "cifar"], "unknown data set"),
    (["--layers", "4x9"], "kernel"),
    (["--layers", "fc8,4x3"], "conv"),
    (["--label-fraction", "0"], "--label-fraction"),
    (["--label-fraction", "1.5"], "--label-fraction"),
    (["--beta", "-1"], "--beta"),
    (["--batch-size", "0"], "--batch-size"),
    (["--canvas", "2x"], "--canvas"),
    (["--sampler", "exact"], "exact"),
    (["--sampler-option", "tiles"], "KEY=VALUE"),
    (["--sampler", "annealed", "--sampler-option", "warp=9"], "warp"),
    (["--device", "tpu"], "--device"),
    (["--dataset", "idx:/nonexistent/dir"], "/nonexistent/dir"),
]


@pytest.mark.parametrize("extra,needle", BAD_INPUTS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, extra, needle):
    out = tmp_path / "out"
    code = train.main([*TINY, "--out", str(out), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith(("error:", "train.py: error:")) and needle.lower() in err[-1].lower()
    assert "Traceback" not in "\n".join(err)
    assert not out.exists()


def test_checkpoint_from_another_architecture_is_refused(tmp_path, capsys):
    code, pre = run(tmp_path, "--pretrain-only", name="pre")
    assert code == 0
    out = tmp_path / "other"
    code = train.main([*TINY[:2], "--layers", "6x3p2", "--init-from", str(pre), "--out", str(out), "--no-progress"])
    assert code == 2
    assert "checkpoint is for layers 4x3p2" in capsys.readouterr().err
    assert not out.exists()


def test_existing_output_directory_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    assert train.main([*TINY, "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_help_teaches(capsys):
    assert train.main(["--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--dataset", "--layers", "--sampler", "--pretrain-only", "--init-from", "--no-pretrain", "examples:"):
        assert flag in text


def test_finetune_sa_records_acceptance_and_time(tmp_path):
    code, out = run(tmp_path, "--no-pretrain", "--finetune-sa", "--sa-every", "4", "--sa-moves", "5")
    assert code == 0
    fine = [m for m in read_metrics(out) if m["stage"] == "finetune"]
    assert all(0.0 <= m["sa_acceptance"] <= 1.0 and m["sa_seconds"] > 0 for m in fine)


def test_finetune_sa_bad_value_is_a_user_error(tmp_path, capsys):
    code, out = run(tmp_path, "--finetune-sa", "--sa-cooling", "1.5")
    assert code == 2 and "--finetune-sa: cooling must be in (0, 1]" in capsys.readouterr().err
    assert not out.exists()


def test_small_images_are_not_shift_augmented_by_default(tmp_path):
    """A ±2-pixel shift wrecks an 8x8 digit: the default augments only images ≥ 20 px wide."""
    code, out = run(tmp_path, "--no-pretrain", "--finetune-epochs", "4", "--batch-size", "64")
    assert code == 0
    assert json.loads((out / "summary.json").read_text())["test_accuracy"] > 0.6
    assert augment_pixels(train.parse_args(["--augment", "3"]).augment, (1, 8, 8)) == 3
    assert augment_pixels(train.parse_args([]).augment, (1, 28, 28)) == 2


def test_init_choices_build_the_cnns_they_name():
    """--init torch is --no-pretrain; --init calibrated is that random CNN given the calibration
    of pretrained layers (every conv unit's mean pre-activation 0, the layer's std 1 on the
    calibration images); neither pretrains."""
    import pipeline

    data = pipeline.load_data(pipeline.TrainConfig(dataset="digits"))
    cal = data.x_train[: pipeline.CALIBRATION_IMAGES]
    nets = {}
    for init in ("torch", "calibrated"):
        config = pipeline.TrainConfig(dataset="digits", layers="4x3p2", init=init)
        assert not config.pretrains and config.cnn_init == init
        torch.manual_seed(0)
        nets[init] = pipeline.build_cnn(config, None, data, torch.device("cpu"))
    assert pipeline.TrainConfig(no_pretrain=True).cnn_init == "torch"
    with torch.no_grad():
        z = {k: net.layers[0](cal) for k, net in nets.items()}
    calibrated = z["calibrated"]
    assert abs(float(calibrated.std()) - 1.0) < 1e-3
    assert float(calibrated.mean(dim=(0, 2, 3)).abs().max()) < 1e-4
    assert abs(float(z["torch"].std()) - 1.0) > 0.05  # PyTorch's init is not already calibrated
    # same random filters, only rescaled: the calibration keeps their shapes
    w_t, w_c = (nets[k].layers[0].weight.detach().flatten() for k in ("torch", "calibrated"))
    assert float(torch.nn.functional.cosine_similarity(w_t, w_c, dim=0)) > 0.9999


def test_feature_report_probes_the_run_stack_with_its_labels_only(tmp_path):
    """--feature-report writes features.md/.json for the stack: every depth, raw pixels and random
    filters, at the label counts the labelled images can fill (--label-fraction 0.1 of digits'
    1437: 144 labels, so 40 and 100), each far better than chance on the test set."""
    out = tmp_path / "run"
    code = train.main(["--dataset", "digits", "--layers", "4x3p2,4x3", "--pretrain-epochs", "1",
                       "--pretrain-only", "--label-fraction", "0.1", "--feature-report",
                       "--no-plots", "--no-progress", "--out", str(out)])
    assert code == 0
    report = json.loads((out / "features.json").read_text())
    assert report["label_counts"] == [40, 100]
    assert set(report["errors"]) == {"layer 0", "layers 0..1", "random layer 0", "random layers 0..1", "raw pixels"}
    for name, errs in report["errors"].items():
        assert set(errs) == {"40", "100"} and all(len(v) == 5 for v in errs.values())
        assert sum(errs["100"]) / 5 < 1 - digits_chance(), name
    assert "| layers 0..1 |" in (out / "features.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["features"]["layer 0"]["100"] == pytest.approx(sum(report["errors"]["layer 0"]["100"]) / 5)
