"""The one configuration of a training run: :class:`TrainConfig`, every option's default and check.

Each field is one ``train.py`` flag (``--num-chains`` is ``num_chains``) and one key of a TOML
config file; its metadata holds what the command line shows (``group``, ``help``, ``metavar``,
``choices``, the argparse ``action``), so that the flags, the file keys and the defaults cannot
drift apart. :meth:`TrainConfig.validate` checks every value that can be checked without loading
data and raises :class:`pipeline.UserError` with the message ``train.py`` prints after ``error:``.

Examples:
    >>> config = TrainConfig(dataset="digits", layers="8x3", canvas="6x6", sampler_option=["tiles=4"])
    >>> config.canvas_hw(), config.extra_sampler_options(), config.pretrains
    ((6, 6), {'tiles': 4}, True)
    >>> TrainConfig(batch_size=0).validate()
    Traceback (most recent call last):
    ...
    pipeline.errors.UserError: --batch-size must be >= 1, got 0
    >>> record = config_record(config)  # what config.toml holds: no None values, no --out
    >>> record["canvas"], "augment" in record, "out" in record
    ('6x6', False, False)
"""

from __future__ import annotations

import argparse
import math
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib

from pipeline.errors import UserError

__all__ = ["INITS", "NOT_IN_FILES", "TrainConfig", "config_record", "file_defaults", "option_default",
           "parse_hw", "read_config_file"]

#: The values of ``--init``: the ways the CNN's feature layers can start.
INITS = ("pretrained", "torch", "calibrated")
NOT_IN_FILES = ("config", "resume")  # options about where a config comes from, not of the run
NOT_RECORDED = ("out", "progress")  # where and how a run shows itself do not change its result


def _sampler_names() -> list[str]:
    from sampling import available_samplers

    return available_samplers()  # built-ins plus any backend registered with register_sampler


def option(default: Any = None, help: str | None = None, *, group: str, type: Any = None,
           action: Any = None, choices: Any = None, metavar: str | None = None,
           exclusive: str | None = None, factory: Any = None) -> Any:
    """A :class:`TrainConfig` field with the metadata of its ``--flag`` (``choices`` may be a
    callable, asked when the parser is built; ``exclusive`` names a mutually exclusive group)."""
    metadata = {"group": group, "help": help, "type": type, "action": action, "choices": choices,
                "metavar": metavar, "exclusive": exclusive}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


_BOOL = argparse.BooleanOptionalAction


@dataclass
class TrainConfig:
    """Every option of a run (pretraining + fine-tuning), with ``train.py``'s defaults."""

    # data
    dataset: str = option("mnist5k", "digits | mnist5k | idx:DIR (MNIST/Fashion-MNIST IDX files) | npz:FILE (default: %(default)s)", group="data")
    binarize: bool = option(False, "threshold images (see --threshold) instead of using intensities as probabilities", group="data", action=_BOOL)
    threshold: float = option(0.5, "--binarize: a pixel is 1 when strictly above this value, in [0, 1) (default: %(default)s)", group="data", type=float)
    resize: str | None = option(None, "coarse-grain images by block averaging, e.g. 8x8", group="data", metavar="HxW")
    label_fraction: float = option(1.0, "fraction of training labels used for fine-tuning, in (0, 1]; pretraining uses all images", group="data", type=float)
    # model
    layers: str = option("16x5p2,32x5p2", "layer specs: FILTERSxKERNEL[pPOOL] conv layers, then fcUNITS dense layers (default: %(default)s)", group="model")
    # negative-phase sampler
    sampler: str = option("annealed", "annealed: torch block-Gibbs annealer; sa/neal: dwave-samplers SA; qpu: D-Wave; "
                          "mock-qpu: offline QPU stand-in; cd/pcd: Gibbs baselines; exact: tiny models (default: %(default)s)",
                          group="negative-phase sampler", choices=_sampler_names)
    beta: float = option(1.0, "target inverse temperature of the negative phase", group="negative-phase sampler", type=float)
    sweeps: int | None = option(None, "Gibbs steps (cd/pcd: k) or annealing sweeps (annealed/sa); default: the sampler's own", group="negative-phase sampler", type=int)
    schedule: str = option("linear", "beta schedule ending at --beta: fixed | linear | geometric | quench (default: %(default)s)", group="negative-phase sampler")
    num_chains: int | None = option(None, "negative-phase chains per batch (default: the pretraining batch size)", group="negative-phase sampler", type=int)
    canvas: str | None = option(None, "negative-phase canvas of conv layers, at most the layer's data size "
                                "(default: the data size; smaller is cheaper, see docs/sampling.md)", group="negative-phase sampler", metavar="HxW")
    persistent: bool = option(True, "keep annealer chains between batches (annealed/sa)", group="negative-phase sampler", action=_BOOL)
    fallback_sampler: str | None = option(None, "sampler for a batch on which --sampler kept failing (logged, recorded in metrics)", group="negative-phase sampler", choices=_sampler_names)
    sampler_retries: int = option(3, "retries of a failing sampler call, with exponential backoff (default: %(default)s)", group="negative-phase sampler", type=int)
    sampler_backoff: float = option(1.0, "seconds before the first retry; doubles each time (default: %(default)s)", group="negative-phase sampler", type=float)
    sampler_option: list[str] = option(help="extra sampler option, repeatable (e.g. tiles=4, solver=Advantage_system4.1)", group="negative-phase sampler", action="append", metavar="KEY=VALUE", factory=list)
    # pretraining
    pretrain_epochs: int = option(2, "epochs per RBM layer (default: %(default)s)", group="pretraining", type=int)
    lr_pretrain: float = option(0.5, "per-position learning rate (default: %(default)s)", group="pretraining", type=float)
    pretrain_batch_size: int = option(16, "minibatch of the pretraining (and negative-phase chains per batch unless "
                                      "--num-chains; default: %(default)s)", group="pretraining", type=int)
    centering: bool = option(True, "centered gradients (offsets: data mean of the visible units, running mean of the "
                             "hidden ones), which stop every filter drifting toward one mean blob", group="pretraining", action=_BOOL)
    momentum_pretrain: float = option(0.9, group="pretraining", type=float)
    weight_decay_pretrain: float = option(1e-4, group="pretraining", type=float)
    sparsity_target: float | None = option(0.02, "target mean activation of the detection units, in (0, 1), e.g. 0.02 "
                                           "(used by --sparsity-rate and --sparsity-cost; default: %(default)s)", group="pretraining", type=float)
    sparsity_cost: float = option(0.0, "weight of the sparsity penalty in the loss, >= 0 (default: %(default)s)", group="pretraining", type=float)
    sparsity_rate: float = option(5.0, "Lee et al.'s sparsity step: after every update each hidden bias moves by this rate x "
                                  "(target - mean activation), >= 0; needs --sparsity-target (default: %(default)s)",
                                  group="pretraining", type=float)
    init_filter_norm: float = option(10.0, "before pretraining, redraw every filter as Gaussian noise of this L2 norm; "
                                     "0: keep the model's N(0, 0.01^2) filters (default: %(default)s)", group="pretraining", type=float)
    hidden_bias_init: float = option(-3.0, "hidden bias of every filter before pretraining (default: %(default)s)", group="pretraining", type=float)
    lr_pretrain_final: float | None = option(None, "decay the pretraining learning rate linearly to this value over the epochs (default: no decay)",
                                             group="pretraining", type=float)
    zero_mean_filters: bool = option(False, "project every filter to zero mean after each update", group="pretraining", action=_BOOL)
    max_filter_norm: float | None = option(None, "max-norm constraint on every filter after each update (default: none)",
                                           group="pretraining", type=float)
    # fine-tuning
    finetune_epochs: int = option(20, "SGD epochs of the whole CNN (default: %(default)s)", group="fine-tuning", type=int)
    lr_finetune: float = option(0.05, "(default: %(default)s)", group="fine-tuning", type=float)
    batch_size: int = option(64, "fine-tuning minibatch (default: %(default)s)", group="fine-tuning", type=int)
    augment: int | None = option(None, "fine-tuning augmentation: random shifts of up to this many pixels "
                                 "(default: 2 for images at least 20 pixels wide, else 0: a 2-pixel shift of an "
                                 "8x8 image destroys it)", group="fine-tuning", type=int, metavar="PIXELS")
    finetune_sa: bool = option(False, "Rere et al. 2015: after SGD minibatches, refine the classifier layer by simulated "
                               "annealing (Metropolis on the minibatch loss; a search over real weights, not sampling)", group="fine-tuning", action="store_true")
    sa_sigma: float = option(5e-4, "SA Gaussian step size (default: %(default)s, the paper's)", group="fine-tuning", type=float)
    sa_temperature: float = option(1e-4, "SA initial temperature in units of the minibatch cross-entropy (default: %(default)s)", group="fine-tuning", type=float)
    sa_cooling: float = option(0.5, "geometric cooling factor (default: %(default)s: halving)", group="fine-tuning", type=float)
    sa_moves: int = option(20, "moves per temperature (default: %(default)s)", group="fine-tuning", type=int)
    sa_levels: int = option(3, "temperatures per refinement (default: %(default)s)", group="fine-tuning", type=int)
    sa_every: int = option(1, "refine after every N-th minibatch (default: %(default)s)", group="fine-tuning", type=int)
    # run
    seed: int = option(0, group="run", type=int)
    device: str = option("auto", "auto | cpu | cuda | cuda:N (default: %(default)s)", group="run")
    threads: int = option(1, "CPU threads for torch (default: %(default)s: these small convolutions gain little from "
                          "more, and several threads collapse when another process is busy)", group="run", type=int)
    out: str | None = option(None, "run directory (default: runs/<date-time>)", group="run", metavar="RUN_DIR")
    config: str | None = option(None, "TOML file with any of these options", group="run", metavar="FILE")
    pretrain_only: bool = option(False, "pretrain, save the RBM layers, stop", group="run", action="store_true", exclusive="mode")
    init_from: str | None = option(None, "fine-tune from the layers saved in RUN_DIR", group="run", metavar="RUN_DIR", exclusive="mode")
    no_pretrain: bool = option(False, "random-init baseline: skip pretraining (the same as --init torch)", group="run", action="store_true", exclusive="mode")
    init: str = option("pretrained", "how the CNN's layers start: pretrained (the RBM stack pretrained here, or --init-from) | "
                       "torch (PyTorch's default init, no pretraining) | calibrated (that random init given the per-layer "
                       "calibration pretrained layers get: the fair baseline) (default: %(default)s)",
                       group="run", choices=INITS)
    resume: str | None = option(None, "continue a stopped run from its last completed epoch (same config, same result)", group="run", metavar="RUN_DIR")
    dry_run: bool = option(False, "check everything, print the plan (layers, canvases, batches; with qpu / mock-qpu the "
                           "embedding, QPU calls and estimated QPU access time per epoch and in total) and stop: "
                           "nothing is trained, no run directory is written, no QPU token is needed", group="run", action="store_true")
    progress: bool | None = option(None, "progress bars (default: on when stderr is a terminal)", group="run", action=_BOOL)
    plots: bool = option(True, "write PNG plots", group="run", action=_BOOL)
    feature_report: bool = option(False, "after pretraining (or --init-from), probe the frozen features with a linear "
                                  "classifier at several label counts beside raw pixels and random filters "
                                  "(features.md, features.json in the run directory)", group="run", action=_BOOL)

    @property
    def cnn_init(self) -> str:
        """How the CNN starts (one of :data:`INITS`): ``--init``, where ``--no-pretrain`` turns the
        default ``pretrained`` into ``torch``."""
        return "torch" if self.no_pretrain and self.init == "pretrained" else self.init

    @property
    def pretrains(self) -> bool:
        """Whether this run pretrains RBM layers (``--init pretrained`` without ``--init-from``, and
        at least one epoch)."""
        return self.cnn_init == "pretrained" and not self.init_from and self.pretrain_epochs > 0

    def canvas_hw(self) -> tuple[int, int] | None:
        """``--canvas`` as ``(H, W)``, or None."""
        return parse_hw(self.canvas, "--canvas")

    def extra_sampler_options(self) -> dict[str, Any]:
        """``--sampler-option KEY=VALUE`` items as a dict (values read as int, float, bool or str)."""
        options: dict[str, Any] = {}
        for item in self.sampler_option:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise UserError(f"--sampler-option must look like KEY=VALUE, got {item!r}")
            options[key.strip().replace("-", "_")] = _coerce(value.strip())
        return options

    def sa_refine(self) -> Any:
        """The --finetune-sa settings (Rere et al. 2015) as a cnn.SARefineConfig, or None."""
        if not self.finetune_sa:
            return None
        from cnn import SARefineConfig

        try:
            return SARefineConfig(sigma=self.sa_sigma, initial_temperature=self.sa_temperature,
                                  cooling=self.sa_cooling, moves_per_temperature=self.sa_moves,
                                  n_temperatures=self.sa_levels, every=self.sa_every, seed=self.seed)
        except ValueError as exc:
            raise UserError(f"--finetune-sa: {exc}") from None

    def validate(self) -> None:
        """Check every value that can be checked without loading data; raise UserError."""
        checks = [
            (self.pretrain_epochs >= 0, f"--pretrain-epochs must be >= 0, got {self.pretrain_epochs}"),
            (self.finetune_epochs >= 0, f"--finetune-epochs must be >= 0, got {self.finetune_epochs}"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (self.pretrain_batch_size >= 1, f"--pretrain-batch-size must be >= 1, got {self.pretrain_batch_size}"),
            (self.augment is None or self.augment >= 0, f"--augment must be >= 0 pixels, got {self.augment}"),
            (self.threads >= 1, f"--threads must be >= 1, got {self.threads}"),
            (self.lr_pretrain > 0, f"--lr-pretrain must be > 0, got {self.lr_pretrain}"),
            (self.lr_finetune > 0, f"--lr-finetune must be > 0, got {self.lr_finetune}"),
            (math.isfinite(self.beta) and self.beta > 0, f"--beta must be a positive number, got {self.beta}"),
            (0 < self.label_fraction <= 1, f"--label-fraction must be in (0, 1], got {self.label_fraction}"),
            (self.sweeps is None or self.sweeps >= 1, f"--sweeps must be >= 1, got {self.sweeps}"),
            (self.num_chains is None or self.num_chains >= 1, f"--num-chains must be >= 1, got {self.num_chains}"),
            (self.sampler_retries >= 0, f"--sampler-retries must be >= 0, got {self.sampler_retries}"),
            (self.sampler_backoff >= 0, f"--sampler-backoff must be >= 0, got {self.sampler_backoff}"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)
        if self.init not in INITS:
            raise UserError(f"--init must be one of {', '.join(INITS)}, got {self.init!r}")
        if self.sparsity_target is not None and not (math.isfinite(self.sparsity_target) and 0 < self.sparsity_target < 1):
            raise UserError(f"--sparsity-target must be in (0, 1), got {self.sparsity_target}")
        for flag, value in (("--sparsity-cost", self.sparsity_cost), ("--sparsity-rate", self.sparsity_rate),
                            ("--init-filter-norm", self.init_filter_norm), ("--lr-pretrain-final", self.lr_pretrain_final)):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise UserError(f"{flag} must be a finite number >= 0, got {value}")
        if self.max_filter_norm is not None and not (math.isfinite(self.max_filter_norm) and self.max_filter_norm > 0):
            raise UserError(f"--max-filter-norm must be > 0, got {self.max_filter_norm}")
        if not math.isfinite(self.hidden_bias_init):
            raise UserError(f"--hidden-bias-init must be a finite number, got {self.hidden_bias_init}")
        if self.pretrains and (self.sparsity_rate or self.sparsity_cost) and self.sparsity_target is None:
            raise UserError("--sparsity-rate and --sparsity-cost need a --sparsity-target in (0, 1)")
        if self.cnn_init != "pretrained" and (self.init_from or self.pretrain_only):
            flag = "--init-from" if self.init_from else "--pretrain-only"
            raise UserError(f"{flag} needs pretrained layers; it cannot be combined with --init {self.cnn_init}")
        self.sa_refine()
        if self.pretrain_only and self.pretrain_epochs == 0:
            raise UserError("--pretrain-only with --pretrain-epochs 0 would train nothing")
        if self.init_from is not None and not (Path(self.init_from) / "checkpoints" / "stack.pt").is_file():
            raise UserError(f"--init-from {self.init_from}: no checkpoints/stack.pt there (run with --pretrain-only first)")
        self.canvas_hw()
        self.extra_sampler_options()
        if self.device != "auto":
            import torch

            try:
                device = torch.device(self.device)
            except RuntimeError:
                raise UserError(f"--device: unknown device {self.device!r}; expected auto, cpu, cuda or cuda:N") from None
            if device.type == "cuda" and not torch.cuda.is_available():
                raise UserError(f"--device {self.device}: CUDA is not available on this machine; use --device cpu")


def option_default(f: Field) -> Any:
    """A field's default value (a fresh one for list fields)."""
    return f.default_factory() if f.default is MISSING else f.default


def file_defaults() -> dict[str, Any]:
    """The keys a config file may hold, with their defaults."""
    return {f.name: option_default(f) for f in fields(TrainConfig) if f.name not in NOT_IN_FILES}


def read_config_file(path: str) -> dict[str, Any]:
    """Read a TOML config; keys are flag names (dashes or underscores). Unknown keys are errors."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"config file {path}: no such file")
    try:
        raw = tomllib.loads(file.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"config file {path}: not valid TOML ({exc})") from None
    defaults = file_defaults()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        dest = key.replace("-", "_")
        if dest not in defaults:
            raise UserError(f"config file {path}: unknown key {key!r}")
        default = defaults[dest]
        if isinstance(default, bool) and not isinstance(value, bool):
            raise UserError(f"config file {path}: {key} must be true or false, got {value!r}")
        if isinstance(default, (int, float)) and not isinstance(default, bool) and isinstance(value, bool):
            raise UserError(f"config file {path}: {key} must be a number, got {value!r}")
        values[dest] = value
    return values


#: Options added after runs were recorded whose defaults do not reproduce those runs: for a
#: ``config.toml`` without the key, the value the run had (``--resume`` promises the same result).
ADDED_SINCE: dict[str, Any] = {
    "centering": lambda record: False,  # issue 16: centered gradients became the default
    "pretrain_batch_size": lambda record: record.get("batch_size", 64),  # was --batch-size
}


def complete_run_record(values: dict[str, Any]) -> dict[str, Any]:
    """A run's recorded config (:func:`read_config_file` of its ``config.toml``) with the keys of
    :data:`ADDED_SINCE` it predates filled in as that run had them."""
    return {**{key: fill(values) for key, fill in ADDED_SINCE.items() if key not in values}, **values}


def config_record(config: TrainConfig) -> dict[str, Any]:
    """Everything needed to reproduce the run, as TOML-able values (None omitted)."""
    return {f.name: getattr(config, f.name) for f in fields(config)
            if f.name not in NOT_IN_FILES and f.name not in NOT_RECORDED and getattr(config, f.name) is not None}


def parse_hw(text: str | None, flag: str) -> tuple[int, int] | None:
    """``"HxW"`` → ``(H, W)`` (positive integers), None → None; else UserError naming ``flag``."""
    if text is None:
        return None
    parts = str(text).lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise UserError(f"{flag} must look like HxW with positive integers (e.g. 12x12), got {text!r}")
    return int(parts[0]), int(parts[1])


def _coerce(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)
