"""The CNN built from layer specs or from a pretrained RBM stack.

Each RBM layer becomes one CNN layer with the *same* linear map, so the CNN's pre-activations are
the RBM's hidden logits (``docs/design.md`` §1):

* ``ConvRBM`` (weight ``(K, C, w, w)``, hidden bias ``(K,)``) → ``nn.Conv2d(C, K, w)`` with no
  padding ("valid"). The RBM's ``hidden_logits(v) = conv2d(v, W) + b`` is a cross-correlation,
  exactly like ``nn.Conv2d``, so the weight is copied as is (no flip).
* ``BernoulliRBM`` (weight ``(n_visible, n_hidden)``) → ``nn.Linear(n_visible, n_hidden)`` with
  the weight transposed; a dense layer after a conv layer sees the C-order flattened maps, which is
  how the RBM stack flattens them too.

After each layer: the activation (``"relu"`` or ``"sigmoid"``) and, where the spec has a pool size
c, c×c pooling. ``pooling="max"`` is ordinary max-pooling of the activations;
``pooling="logsumexp"`` pools the *pre-activations* with log-sum-exp and then applies the
activation. With ``activation="sigmoid"`` the latter is exactly the RBM's probabilistic max-pooling:
P(some unit of the block is on) = Σ exp(z) / (1 + Σ exp(z)) = σ(logsumexp(z)). So a CNN with
``activation="sigmoid"`` (and ``pooling="logsumexp"`` where layers pool) computes, layer by layer,
the stack's ``transform``; with ReLU the filters are the same but the features are not.

Pretrained weights need care when they enter a ReLU network (``docs/design.md`` §3). Two things go
wrong when they are copied as they are: RBM hidden biases are usually negative (sparsity), which
silences most ReLUs; and RBM filters are spatially coherent blobs whose responses to images are
far larger than those of random filters (measured on a 2-epoch CD-1 ``16x5p2,32x5p2`` stack on
mnist5k: pre-activation std 1.6 and 12.7 in layers 1 and 2, vs 0.26 and 0.19 for PyTorch's default
init), so SGD at a normal learning rate diverges. :meth:`CNN.from_stack` therefore has two knobs:

``bias_init`` (what a pretrained layer's bias becomes):

* ``"copy"``: the RBM's hidden bias as is.
* ``"zero"``: zero.
* ``"shift"``: the RBM's bias, then shifted per unit so that the mean pre-activation over the
  given ``data`` (and all positions) is 0: about half of the ReLUs fire on typical inputs.

``weight_scale`` (default 1.0): then one factor per layer so that the pre-activation std over
``data`` is ``weight_scale`` (data-dependent scaling as in LSUV, Mishkin & Matas 2016). Layers are
calibrated bottom-up, each on the output of the calibrated layers below it.

The defaults are ReLU, ``shift``, ``weight_scale=1``. Without the scaling a pretrained stack
diverges or stalls under SGD; with it, it does no better than a *random* network given the same
calibration (:meth:`CNN.calibrate`): compare pretrained CNNs with calibrated random ones, or the
"gain" of pretraining is the gain of a better scale. The measurements are in docs/RESULTS.md
(section 3: "Earlier measurements behind the defaults of cnn/", and the fine-tuning tables).

The head: flatten, an optional hidden fully connected layer (``head_units``, same activation,
random init), dropout, and the linear ``classifier``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rbm import LayerSpec

from .errors import CNNError

__all__ = [
    "ACTIVATIONS",
    "BIAS_INITS",
    "CNN",
    "POOLINGS",
    "ArchitectureMismatchError",
    "Layer",
    "load_cnn",
    "save_cnn",
]

ACTIVATIONS = ("relu", "sigmoid")
BIAS_INITS = ("copy", "zero", "shift")
POOLINGS = ("max", "logsumexp")


class ArchitectureMismatchError(CNNError, ValueError):
    """A state dict does not fit the architecture it is loaded into."""


#: The layer-spec type of the CNN is the stack's, :class:`rbm.LayerSpec` (kind, size, kernel, pool;
#: ``str()`` gives the ``rbm.parse_layers`` token back). ``cnn.Layer`` is the same class, kept as a name.
Layer = LayerSpec

_SPEC_FIELDS = ("kind", "size", "kernel", "pool")


def _as_layer(spec: Any) -> LayerSpec:
    """A :class:`rbm.LayerSpec` from a spec, a dict or any object with the four fields.

    Sizes are made ints, a pool of 0 or 1 means none and a dense layer's kernel is dropped;
    ``LayerSpec`` then checks the values (``ValueError`` naming the layer).
    """
    if isinstance(spec, dict):
        unknown = set(spec) - set(_SPEC_FIELDS)
        if unknown or "kind" not in spec or "size" not in spec:
            raise TypeError(f"a layer spec needs the keys kind, size (kernel, pool); got {spec!r}")
        fields = [spec.get(name) for name in _SPEC_FIELDS]
    else:
        try:
            fields = [spec.kind, spec.size, getattr(spec, "kernel", None), getattr(spec, "pool", None)]
        except AttributeError as err:
            raise TypeError(
                f"a layer spec needs the attributes kind, size, kernel, pool; got {spec!r}"
            ) from err
    kind, size, kernel, pool = fields
    kernel = None if kernel is None or kind == "dense" else int(kernel)
    pool = None if pool in (None, 0, 1) else int(pool)
    return LayerSpec(kind, int(size), kernel, pool)


def _shift_bias(preact: Tensor, bias: Tensor) -> Tensor:
    """The bias that makes the mean of ``preact`` over batch (and positions) zero per unit."""
    dims = [d for d in range(preact.dim()) if d != 1]
    return bias - preact.mean(dim=dims)


class CNN(nn.Module):
    """A convolutional network whose layers mirror an RBM stack.

    Args:
        layers: layer specs (``rbm.LayerSpec``, alias :data:`Layer`, or dicts with kind, size, kernel,
            pool).
            Conv layers are valid (no padding) with stride 1; dense layers flatten their input.
        input_shape: ``(C, H, W)`` of one image.
        n_classes: number of classes of the classifier.
        activation: ``"relu"`` or ``"sigmoid"``, after every layer (and the head's hidden layer).
        pooling: ``"max"`` (max-pool the activations) or ``"logsumexp"`` (log-sum-exp pool the
            pre-activations, then activate: the RBM's probabilistic max-pooling for sigmoid).
        head_units: width of an extra randomly initialised hidden layer before the classifier;
            0 or ``None`` for none.
        dropout: dropout probability before the classifier (and before the head's hidden layer).

    Shapes: ``forward(x)`` takes ``(B, C, H, W)`` and returns logits ``(B, n_classes)``.

    Examples:
        >>> net = CNN([Layer("conv", 8, 3)], (1, 8, 8), 10, head_units=0)
        >>> net(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
        >>> net.feature_shapes()
        [(8, 6, 6)]
    """

    def __init__(
        self,
        layers: Sequence[Any],
        input_shape: Sequence[int],
        n_classes: int,
        activation: str = "relu",
        pooling: str = "max",
        head_units: int | None = 128,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}; got {pooling!r}")
        input_shape = tuple(int(s) for s in input_shape)
        if len(input_shape) != 3 or min(input_shape) < 1:
            raise ValueError(f"input_shape must be (C, H, W); got {input_shape}")
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2; got {n_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout}")
        self.layer_specs: list[LayerSpec] = [_as_layer(s) for s in layers]
        self.input_shape = input_shape
        self.n_classes = int(n_classes)
        self.activation = activation
        self.pooling = pooling
        self.head_units = int(head_units or 0)
        self.dropout = float(dropout)

        self.layers = nn.ModuleList()
        self._out_shapes: list[tuple[int, ...]] = []
        shape: tuple[int, ...] = input_shape
        for i, spec in enumerate(self.layer_specs):
            if spec.kind == "conv":
                if len(shape) != 3:
                    raise ValueError(
                        f"layer {i} ({spec}) is a conv layer after a dense layer; "
                        "conv layers must come first"
                    )
                c, h, w = shape
                k = spec.kernel
                if k > h or k > w:
                    raise ValueError(
                        f"layer {i} ({spec}): kernel {k} does not fit its input {shape}"
                    )
                self.layers.append(nn.Conv2d(c, spec.size, k))
                h, w = h - k + 1, w - k + 1
                if spec.pool:
                    if h % spec.pool or w % spec.pool:
                        raise ValueError(
                            f"layer {i} ({spec}): pool {spec.pool} does not divide the "
                            f"hidden map {h}x{w}"
                        )
                    h, w = h // spec.pool, w // spec.pool
                shape = (spec.size, h, w)
            else:
                self.layers.append(nn.Linear(math.prod(shape), spec.size))
                shape = (spec.size,)
            self._out_shapes.append(shape)
        n_features = math.prod(shape)
        self.head = nn.Linear(n_features, self.head_units) if self.head_units else None
        self.drop = nn.Dropout(self.dropout)
        self.classifier = nn.Linear(self.head_units or n_features, self.n_classes)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_stack(
        cls,
        stack: Any,
        n_classes: int,
        bias_init: str = "shift",
        weight_scale: float | None = 1.0,
        data: Tensor | None = None,
        **kwargs: Any,
    ) -> CNN:
        """A CNN whose feature layers start from a pretrained RBM stack.

        Args:
            stack: an ``rbm.RBMStack`` (``layers``, ``input_shape``, and ``specs``), or a
                sequence of RBM layers with ``input_shape=`` in kwargs.
            n_classes: classes of the classifier (the head is randomly initialised).
            bias_init: ``"copy"``, ``"zero"`` or ``"shift"`` (see the module docstring).
            weight_scale: if not None, each layer's weight and bias are then multiplied by one
                factor per layer so that the standard deviation of its pre-activation over
                ``data`` is ``weight_scale`` (the filters' shapes and relative sizes are kept).
                ``None`` keeps the RBM's scale (measured to diverge under default fine-tuning).
            data: images ``(N, C, H, W)`` for ``"shift"`` and ``weight_scale`` (a few hundred
                training images suffice; labels are not used).
            **kwargs: passed to :class:`CNN` (``activation``, ``pooling``, ``head_units``,
                ``dropout``; ``layers`` and ``input_shape`` are taken from the stack).

        The CNN is created on the stack's device (``data`` is moved there for calibration).
        """
        if bias_init not in BIAS_INITS:
            raise ValueError(f"bias_init must be one of {BIAS_INITS}; got {bias_init!r}")
        rbms = list(getattr(stack, "layers", stack))
        input_shape = kwargs.pop("input_shape", getattr(stack, "input_shape", None))
        if input_shape is None:
            raise ValueError("from_stack needs the stack's input_shape")
        specs = kwargs.pop("layers", None)
        if specs is None:
            specs = getattr(stack, "specs", None) or [_spec_of_rbm(m) for m in rbms]
        net = cls(specs, input_shape, n_classes, **kwargs)
        if rbms:
            net.to(_rbm_weight_bias(rbms[0])[0].device)
        if len(rbms) != len(net.layers):
            raise ValueError(f"stack has {len(rbms)} RBM layers but {len(net.layers)} specs")
        if data is None and (bias_init == "shift" or weight_scale is not None):
            raise ValueError(
                "bias_init='shift' and weight_scale need data=(N, C, H, W) images to calibrate on "
                "(or pass bias_init='copy'/'zero' with weight_scale=None to copy the RBM as is)"
            )
        for i, (rbm, layer) in enumerate(zip(rbms, net.layers, strict=True)):
            weight, bias = _rbm_weight_bias(rbm)
            if isinstance(layer, nn.Conv2d):
                expected = tuple(layer.weight.shape)
            else:
                expected = (layer.in_features, layer.out_features)
            if tuple(weight.shape) != expected:
                raise ArchitectureMismatchError(
                    f"RBM layer {i} ({type(rbm).__name__}) has weight {tuple(weight.shape)}; "
                    f"the CNN's layer {i} ({net.layer_specs[i]}) needs {expected}"
                )
            with torch.no_grad():
                layer.weight.copy_(weight if isinstance(layer, nn.Conv2d) else weight.t())
                layer.bias.copy_(bias if bias_init == "copy" else torch.zeros_like(bias))
        if data is not None:
            net.calibrate(data, center=bias_init == "shift", target_std=weight_scale)
        return net

    @torch.no_grad()
    def calibrate(
        self,
        data: Tensor,
        center: bool = True,
        target_std: float | None = None,
        upto: int | None = None,
    ) -> None:
        """Data-dependent re-initialisation of the feature layers, bottom-up.

        For each layer in turn (fed by the already calibrated layers below it), with z its
        pre-activation over ``data`` ``(N, C, H, W)``: ``center`` shifts each unit's bias so that
        its mean z over data and positions is 0; ``target_std`` then multiplies the layer's weight
        and bias by ``target_std / std(z)`` (one factor per layer). ``upto`` limits it to the
        first ``upto`` layers.
        """
        x = self._check_input(data)
        p = next(self.parameters(), None)
        if p is not None:
            x = x.to(p.device, p.dtype)
        if target_std is not None and not target_std > 0:
            raise ValueError(f"target_std must be > 0; got {target_std}")
        was_training = self.training
        self.eval()
        n = len(self.layers) if upto is None else upto
        for i, layer in enumerate(self.layers[:n]):
            if center:
                layer.bias.copy_(_shift_bias(self._linear(i, x), layer.bias))
            if target_std is not None:
                std = self._linear(i, x).std().item()
                factor = target_std / std if std > 0 else 1.0
                layer.weight.mul_(factor)
                layer.bias.mul_(factor)
            x = self._activate_pool(i, self._linear(i, x))
        self.train(was_training)

    # ------------------------------------------------------------------ forward
    def _check_input(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"CNN expects a torch.Tensor; got {type(x).__name__}")
        if x.dim() != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"CNN expects images of shape (N, {', '.join(map(str, self.input_shape))}); "
                f"got {tuple(x.shape)}"
            )
        return x

    def _linear(self, i: int, x: Tensor) -> Tensor:
        layer = self.layers[i]
        if isinstance(layer, nn.Linear):
            x = x.flatten(1)
        return layer(x)

    def _act(self, z: Tensor) -> Tensor:
        return F.relu(z) if self.activation == "relu" else torch.sigmoid(z)

    def _activate_pool(self, i: int, z: Tensor) -> Tensor:
        pool = self.layer_specs[i].pool
        if not pool:
            return self._act(z)
        if self.pooling == "max":
            return F.max_pool2d(self._act(z), pool)
        # log-sum-exp pooling of the pre-activations over each pool×pool block
        b, k, h, w = z.shape
        return self._act(torch.logsumexp(z.reshape(b, k, h // pool, pool, w // pool, pool), (3, 5)))

    def layer_outputs(self, x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Pre-activations and outputs of every feature layer.

        Returns ``(preacts, outputs)``: ``preacts[i]`` has the RBM's hidden shape
        ``(B, K, H-w+1, W-w+1)`` (conv) or ``(B, units)`` (dense); ``outputs[i]`` is after
        activation and pooling (the input of layer i+1).
        """
        x = self._check_input(x)
        preacts, outputs = [], []
        for i in range(len(self.layers)):
            z = self._linear(i, x)
            x = self._activate_pool(i, z)
            preacts.append(z)
            outputs.append(x)
        return preacts, outputs

    def features(self, x: Tensor) -> Tensor:
        """The input of the classifier (after the head's hidden layer), ``(B, n_features)``.

        Dropout is not applied here; :meth:`forward` applies it between this and the classifier.
        """
        x = self._check_input(x)
        for i in range(len(self.layers)):
            x = self._activate_pool(i, self._linear(i, x))
        x = x.flatten(1)
        if self.head is not None:
            x = self._act(self.head(self.drop(x)))
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.drop(self.features(x)))

    def feature_shapes(self) -> list[tuple[int, ...]]:
        """Output shape (without batch) of every feature layer, after pooling."""
        return list(self._out_shapes)

    # ------------------------------------------------------------------ persistence
    def config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable: ``CNN(**net.config())`` rebuilds it."""
        return {
            "layers": [s.as_dict() for s in self.layer_specs],
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
            "activation": self.activation,
            "pooling": self.pooling,
            "head_units": self.head_units,
            "dropout": self.dropout,
        }

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """``nn.Module.load_state_dict`` with an error naming expected vs actual shapes."""
        own = self.state_dict()
        problems = []
        for key in sorted(set(own) | set(state_dict)):
            if key not in state_dict:
                if strict:
                    problems.append(f"{key}: missing (expected {tuple(own[key].shape)})")
            elif key not in own:
                if strict:
                    problems.append(f"{key}: unexpected (shape {tuple(state_dict[key].shape)})")
            elif tuple(own[key].shape) != tuple(state_dict[key].shape):
                problems.append(
                    f"{key}: expected {tuple(own[key].shape)}, got {tuple(state_dict[key].shape)}"
                )
        if problems:
            raise ArchitectureMismatchError(
                "checkpoint does not fit this CNN "
                f"({_describe(self.layer_specs)}, input {self.input_shape}, "
                f"head {self.head_units}, classes {self.n_classes}): " + "; ".join(problems)
            )
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def _describe(specs: Iterable[LayerSpec]) -> str:
    return ",".join(str(s) for s in specs) or "no feature layers"


def _rbm_weight_bias(rbm: Any) -> tuple[Tensor, Tensor]:
    """(weight, hidden bias) of an RBM layer, detached."""
    weight = getattr(rbm, "weight", None)
    if weight is None:
        weight = rbm.W
    bias = None
    for name in ("hidden_bias", "h_bias", "b_h", "bias_h"):
        bias = getattr(rbm, name, None)
        if bias is not None:
            break
    if bias is None:
        raise TypeError(f"cannot find the hidden bias of {type(rbm).__name__}")
    return weight.detach(), bias.detach()


def _spec_of_rbm(rbm: Any) -> LayerSpec:
    weight, _ = _rbm_weight_bias(rbm)
    if weight.dim() == 4:
        return LayerSpec("conv", weight.shape[0], weight.shape[-1], getattr(rbm, "pool_size", None))
    return LayerSpec("dense", weight.shape[1])


def save_cnn(model: CNN, path: Any, **extra: Any) -> None:
    """Save ``{"config", "state_dict", **extra}`` with ``torch.save``."""
    torch.save({"config": model.config(), "state_dict": model.state_dict(), **extra}, path)


def load_cnn(path: Any, map_location: Any = "cpu") -> CNN:
    """Rebuild a CNN saved by :func:`save_cnn`, in eval mode."""
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or "config" not in ckpt or "state_dict" not in ckpt:
        raise ValueError(f"{path}: not a CNN checkpoint (needs 'config' and 'state_dict')")
    model = CNN(**ckpt["config"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()
