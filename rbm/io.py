"""Save and load models and stacks as single torch files (configuration + parameters only)."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .conv import ConvRBM
from .dense import BernoulliRBM
from .stack import RBMStack, build_stack

__all__ = ["save_model", "load_model", "save_stack", "load_stack", "load_torch_file"]

_MODEL_FORMAT = "rbm.model/1"
_STACK_FORMAT = "rbm.stack/1"
_CLASSES: dict[str, type[nn.Module]] = {"BernoulliRBM": BernoulliRBM, "ConvRBM": ConvRBM}


def _payload(model: nn.Module) -> dict:
    name = type(model).__name__
    if _CLASSES.get(name) is not type(model):
        raise ValueError(f"cannot save a {name}; known model classes: {', '.join(_CLASSES)}")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {"class": name, "config": model.config(), "state_dict": state}


def _build(payload: dict, where: str) -> nn.Module:
    if not isinstance(payload, dict) or not {"class", "config", "state_dict"} <= payload.keys():
        raise ValueError(f"{where}: not an rbm model record (needs class, config, state_dict)")
    cls = _CLASSES.get(payload["class"])
    if cls is None:
        raise ValueError(
            f"{where}: unknown model class {payload['class']!r}; known: {', '.join(_CLASSES)}"
        )
    try:
        model = cls(**payload["config"])
        model.load_state_dict(payload["state_dict"])
    except (TypeError, RuntimeError, ValueError) as err:
        raise ValueError(f"{where}: cannot rebuild {payload['class']}: {err}") from err
    return model


def load_torch_file(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with one-line ``ValueError`` messages.

    Only tensors and plain containers (dict, list, tuple, str, numbers, None) are rebuilt: a file
    whose pickle names any other class or function (which could run code when unpickled) is
    refused before anything in it runs. Every checkpoint of this project (run state, RBM models
    and stacks, CNNs) holds nothing else.

    Raises:
        ValueError: missing file, corrupt file, or a file holding other objects.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if found is None:  # not a pickle at all (garbage, a truncated file)
            detail = re.search(r"Unsupported operand \S+|invalid load key[^.\n]*", str(err))
            reason = detail.group(0) if detail else str(err).strip().splitlines()[0]
            raise ValueError(f"{path}: not a readable torch file (UnpicklingError: {reason})") from None
        raise ValueError(
            f"{path}: refusing to load: it holds objects other than tensors and plain "
            f"containers ({found.group(1)}), which could run code; it was not written by this "
            f"project's code, or has been tampered with"
        ) from None
    except Exception as err:  # torch raises many kinds for a corrupt file
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ValueError(f"{path}: not a readable torch file ({type(err).__name__}: {first})") from None


def _read(path, map_location, fmt: str) -> dict:
    data = load_torch_file(path, map_location)
    if not isinstance(data, dict) or data.get("format") != fmt:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        hint = " (use load_stack)" if found == _STACK_FORMAT else (
            " (use load_model)" if found == _MODEL_FORMAT else "")
        raise ValueError(f"{path}: expected a {fmt!r} file, found {found!r}{hint}")
    return data


def save_model(model: nn.Module, path: str | os.PathLike) -> None:
    """Write ``model`` (a :class:`BernoulliRBM` or :class:`ConvRBM`) to ``path``: class name,
    ``config()`` and ``state_dict`` (on CPU), nothing of any training state.

    Examples:
        >>> import tempfile, torch
        >>> model = BernoulliRBM(4, 2)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     save_model(model, d + "/m.pt")
        ...     again = load_model(d + "/m.pt")
        >>> torch.equal(again.weight, model.weight)
        True
    """
    data = {"format": _MODEL_FORMAT, **_payload(model)}
    torch.save(data, Path(path))


def load_model(path: str | os.PathLike, map_location="cpu") -> nn.Module:
    """Rebuild a model written by :func:`save_model`.

    Raises:
        ValueError: missing or corrupt file, a file of another kind, an unknown class.
    """
    model = _build(_read(path, map_location, _MODEL_FORMAT), str(path))
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    return model


def save_stack(stack: RBMStack, path: str | os.PathLike) -> None:
    """Write a whole :class:`RBMStack` (layer specs, input shape, every layer) to ``path``."""
    data = {
        "format": _STACK_FORMAT,
        "specs": stack.config()["specs"],
        "input_shape": stack.input_shape,
        "layers": [_payload(layer) for layer in stack.layers],
    }
    torch.save(data, Path(path))


def load_stack(path: str | os.PathLike, map_location="cpu") -> RBMStack:
    """Rebuild a stack written by :func:`save_stack` (ValueError on a missing/corrupt file)."""
    data = _read(path, map_location, _STACK_FORMAT)
    try:
        stack = build_stack(data["specs"], tuple(data["input_shape"]))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: cannot rebuild the stack: {err}") from err
    records = data.get("layers", [])
    if len(records) != len(stack):
        raise ValueError(f"{path}: {len(records)} layer records for {len(stack)} layer specs")
    for i, record in enumerate(records):
        layer = _build(record, f"{path} layer {i}")
        if layer.config() != stack.layers[i].config():
            raise ValueError(f"{path} layer {i}: config {layer.config()} does not match its spec")
        stack.layers[i] = layer
    if isinstance(map_location, (str, torch.device)):
        stack.to(map_location)
    return stack
