"""The negative-phase sampler interface and the plumbing every backend shares.

A negative-phase sampler draws ``(v_neg, h_neg)`` from an RBM's Boltzmann distribution
p(v, h) ∝ exp(-β E(v, h)) for the pretraining loop (``docs/interfaces.md``). It works through the
model protocol only (``hidden_shape``, ``sample_h_given_v``, ``sample_v_given_h``, ``energy``,
``hidden_logits``, ``visible_logits``, ``to_qm``), so it never needs to know the model's class; and
it owns β: models never hold a temperature.

:class:`NegativeSampler` implements the public half of the protocol once: option validation, the
negative-phase *canvas* (the visible shape the chains live on), the chain count, the torch random
generator on the model's device, persistent chains keyed by shape, ``last_info`` timing and
``state_dict`` / ``load_state_dict``. A backend implements :meth:`NegativeSampler._draw` only.

Examples:
    A complete backend in a few lines (one Gibbs sweep from uniform noise, at the sampler's β):

    >>> import torch
    >>> class OneSweep(NegativeSampler):
    ...     name = "one-sweep"
    ...     def _draw(self, model, v_data, canvas, num_chains):
    ...         g = self._generator(self._device)
    ...         v = torch.randint(0, 2, (num_chains, *canvas), generator=g).float()
    ...         h = model.sample_h_given_v(v, beta=self.beta, generator=g)
    ...         v = model.sample_v_given_h(h, beta=self.beta, generator=g)
    ...         return v, model.sample_h_given_v(v, beta=self.beta, generator=g), {"sweeps": 1}
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from torch import Tensor

from sampling.checks import check_beta, check_positive_int  # noqa: F401  (re-exported)

__all__ = ["NegativeSampler", "check_beta", "check_canvas", "model_device", "model_dtype"]


def model_device(model: torch.nn.Module) -> torch.device:
    """Device of the model's first parameter or buffer (CPU for a model with neither)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def model_dtype(model: torch.nn.Module) -> torch.dtype:
    """Floating dtype of the model's first parameter (float32 for a model with none)."""
    for tensor in model.parameters():
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[-1])
    return int(value), int(value)


def check_canvas(
    model: torch.nn.Module, canvas: tuple[int, ...], data_shape: tuple[int, ...]
) -> tuple[int, ...]:
    """Validate a negative-phase canvas for ``model``; return the hidden shape it gives.

    Args:
        model: a model of the protocol in ``docs/interfaces.md``.
        canvas: visible shape of the chains without the batch dimension: ``(n_visible,)`` for a
            dense RBM, ``(C, H, W)`` for a convolutional one.
        data_shape: shape of one data example (``v_data.shape[1:]``).

    Raises:
        ValueError: wrong rank or channel count, a canvas smaller than the kernel, a hidden map that
            the pooling size does not divide, or any shape the model itself rejects.
    """
    canvas = tuple(int(c) for c in canvas)
    if len(canvas) != len(data_shape):
        raise ValueError(
            f"canvas {canvas} must have the rank of one data example {tuple(data_shape)} "
            "(dense: (n_visible,), convolutional: (C, H, W))"
        )
    if any(c < 1 for c in canvas):
        raise ValueError(f"canvas {canvas} must have positive sizes")
    if len(canvas) == 1:
        n_visible = getattr(model, "n_visible", None)
        if n_visible is not None and canvas[0] != int(n_visible):
            raise ValueError(
                f"a dense RBM's canvas is its visible layer: expected ({n_visible},), got {canvas}"
            )
    elif len(canvas) == 3:
        channels, height, width = canvas
        if channels != data_shape[0]:
            raise ValueError(
                f"canvas {canvas} has {channels} channels but the data has {data_shape[0]}"
            )
        kernel = getattr(model, "kernel_size", None)
        if kernel is not None:
            kh, kw = _pair(kernel)
            if height < kh or width < kw:
                raise ValueError(
                    f"canvas {height}x{width} is smaller than the model's {kh}x{kw} kernel"
                )
            pool = getattr(model, "pool_size", None)
            if pool:
                ph, pw = _pair(pool)
                hh, hw = height - kh + 1, width - kw + 1
                if hh % ph or hw % pw:
                    raise ValueError(
                        f"canvas {height}x{width} gives a {hh}x{hw} hidden map that the {ph}x{pw} "
                        f"pooling does not divide: choose H, W with (H - {kh} + 1) divisible by "
                        f"{ph} and (W - {kw} + 1) divisible by {pw}"
                    )
    try:
        hidden = tuple(int(s) for s in model.hidden_shape(canvas))
    except (ValueError, RuntimeError, TypeError) as err:
        raise ValueError(f"canvas {canvas} does not fit the model: {err}") from err
    return hidden


class NegativeSampler:
    """Base of every negative-phase sampler (the protocol of ``docs/interfaces.md``).

    Args:
        beta: target inverse temperature β > 0 (default 1.0). A public attribute; it may be changed
            between calls (it is re-validated by every call).
        num_chains: number of samples N returned per call; default the batch size B of ``v_data``
            (for persistent chains: B of the first call, kept afterwards).
        canvas: visible shape the chains live on, without the batch dimension; default the data
            shape. For a conv RBM a canvas smaller than the images is cheaper (see
            ``docs/sampling.md``).
        persistent: keep the chains between calls (re-initialised whenever the canvas or the
            model's hidden shape changes).
        seed: seed of the sampler's random generator(s); ``None`` draws a fresh one.
        device: where the chains and the generator live; default (``None``) the model's device.
            If given, the model must live there too.

    Attributes:
        beta: the target inverse temperature.
        last_info: metrics of the last call: ``seconds`` (wall time), ``num_samples``, ``sweeps``
            (full v→h→v sweeps per chain), ``spin_updates`` (unit updates in total), ``beta``,
            ``sampler`` and backend-specific entries.
    """

    #: Registry name of the backend (informational; :func:`sampling.make_sampler` owns the names).
    name = "base"

    def __init__(
        self,
        *,
        beta: float = 1.0,
        num_chains: int | None = None,
        canvas: tuple[int, ...] | None = None,
        persistent: bool = False,
        seed: int | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        self.beta = check_beta(beta)
        if num_chains is not None:
            num_chains = check_positive_int(num_chains, "num_chains")
        self.num_chains = num_chains
        if canvas is not None:
            canvas = tuple(int(c) for c in canvas)
            if not canvas or any(c < 1 for c in canvas):
                raise ValueError(
                    f"canvas must be a non-empty shape of positive sizes, got {canvas}"
                )
        self.canvas = canvas
        self.persistent = bool(persistent)
        if seed is not None:
            seed = int(seed)
            if seed < 0:
                raise ValueError(f"seed must be a non-negative integer or None, got {seed}")
        self.seed = seed
        self.device = None if device is None else torch.device(device)
        self.last_info: dict[str, Any] = {}
        self._gen: torch.Generator | None = None
        self._pending_rng: tuple[str, Tensor] | None = None
        self._chains: Tensor | None = None
        self._chain_key: tuple | None = None
        self._key: tuple | None = None  # (canvas, hidden_shape) of the call in progress
        self._device = torch.device("cpu")

    # ------------------------------------------------------------------ public protocol
    def sample(self, model: torch.nn.Module, v_data: Tensor) -> tuple[Tensor, Tensor]:
        """Draw the negative phase for one batch.

        Args:
            model: an RBM of the protocol in ``docs/interfaces.md``.
            v_data: the positive batch, shape (B, *data_shape) (dense: (B, n_visible),
                convolutional: (B, C, H, W)).

        Returns:
            ``(v_neg, h_neg)``: shapes (N, *canvas) and (N, *model.hidden_shape(canvas)), binary
            {0, 1} in the model's dtype, on the model's device.
        """
        start = time.perf_counter()
        self.beta = check_beta(self.beta)
        self._device = self._resolve_device(model)
        v_data = self._check_data(model, v_data)
        data_shape = tuple(v_data.shape[1:])
        canvas = self.canvas if self.canvas is not None else data_shape
        hidden_shape = check_canvas(model, canvas, data_shape)
        num_chains = self.num_chains
        if num_chains is None:
            chains = self._persistent_chains(canvas, hidden_shape) if self.persistent else None
            num_chains = chains.shape[0] if chains is not None else int(v_data.shape[0])
        self._key = (tuple(canvas), hidden_shape)
        with torch.no_grad():
            v, h, info = self._draw(model, v_data, tuple(canvas), num_chains)
        v = v.reshape(v.shape[0], *canvas)  # a dense model given images returns flat v
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
        sweeps = int(info.get("sweeps", 0))
        units = math.prod(canvas) + math.prod(hidden_shape)
        self.last_info = {
            "sampler": self.name,
            "beta": self.beta,
            "num_samples": int(v.shape[0]),
            "sweeps": sweeps,
            "spin_updates": int(v.shape[0]) * sweeps * units,
            "canvas": tuple(canvas),
            **info,
            "seconds": time.perf_counter() - start,
        }
        return v, h

    def state_dict(self) -> dict[str, Any]:
        """Persistent chains and random-generator state, as a dict of plain values and tensors."""
        state: dict[str, Any] = {
            "sampler": self.name,
            "chains": None if self._chains is None else self._chains.detach().cpu().clone(),
            "chain_key": self._chain_key,
            "rng_device": None,
            "rng_state": None,
        }
        if self._gen is not None:
            state["rng_device"] = str(self._gen.device)
            state["rng_state"] = self._gen.get_state()
        elif self._pending_rng is not None:
            state["rng_device"], state["rng_state"] = self._pending_rng
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (chains move to the model's device on use).

        Raises:
            ValueError: ``state`` misses a key or comes from another backend.
        """
        missing = {"chains", "chain_key", "rng_device", "rng_state"} - set(state)
        if missing:
            raise ValueError(f"sampler state misses {sorted(missing)}")
        if state.get("sampler", self.name) != self.name:
            raise ValueError(
                f"sampler state comes from {state['sampler']!r}, not from {self.name!r}"
            )
        self._chains = state["chains"]
        key = state["chain_key"]
        self._chain_key = None if key is None else (tuple(key[0]), tuple(key[1]))
        self._gen = None
        self._pending_rng = None
        if state["rng_state"] is not None:
            self._pending_rng = (state["rng_device"], state["rng_state"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(beta={self.beta}, {self._describe()})"

    # ------------------------------------------------------------------ for subclasses
    def _draw(
        self, model: torch.nn.Module, v_data: Tensor, canvas: tuple[int, ...], num_chains: int
    ) -> tuple[Tensor, Tensor, dict[str, Any]]:
        """Backend hook: return ``(v, h, info)``; ``info`` holds at least ``sweeps``.

        Called under ``torch.no_grad()`` with ``self.beta`` validated, ``v_data`` on
        ``self._device`` and ``canvas`` checked against the model.
        """
        raise NotImplementedError

    def _describe(self) -> str:
        return f"persistent={self.persistent}, num_chains={self.num_chains}, canvas={self.canvas}"

    def _generator(self, device: torch.device) -> torch.Generator:
        """The sampler's torch generator on ``device`` (created, restored or moved on demand)."""
        gen = self._gen
        if gen is not None and gen.device == device:
            return gen
        new = torch.Generator(device=device)
        if gen is not None:  # the model moved: continue deterministically from the old stream
            new.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device)))
        elif self._pending_rng is not None:
            rng_device, rng_state = self._pending_rng
            if torch.device(rng_device) == device:
                new.set_state(rng_state)
            else:  # restored onto another device: derive a seed from the saved state
                new.manual_seed(int(torch.as_tensor(rng_state).long().sum()) % 2**62)
            self._pending_rng = None
        elif self.seed is None:
            new.seed()
        else:
            new.manual_seed(self.seed)
        self._gen = new
        return new

    def _persistent_chains(
        self, canvas: tuple[int, ...] | None = None, hidden_shape: tuple[int, ...] | None = None
    ) -> Tensor | None:
        """The stored chains if they were made for this canvas and hidden shape, else ``None``."""
        key = self._key if canvas is None else (tuple(canvas), tuple(hidden_shape))
        if self._chains is None or self._chain_key != key:
            return None
        return self._chains

    def _store_chains(self, chains: Tensor) -> None:
        self._chains = chains
        self._chain_key = self._key

    # ------------------------------------------------------------------ internals
    def _resolve_device(self, model: torch.nn.Module) -> torch.device:
        device = model_device(model)
        if self.device is not None and _device_key(self.device) != _device_key(device):
            raise ValueError(
                f"sampler device is {self.device} but the model lives on {device}: move the model "
                f"with model.to({str(self.device)!r}) or build the sampler with device=None"
            )
        return device

    def _check_data(self, model: torch.nn.Module, v_data: Tensor) -> Tensor:
        if not isinstance(v_data, Tensor):
            raise ValueError(f"v_data must be a torch.Tensor, got {type(v_data).__name__}")
        conv = getattr(model, "kernel_size", None) is not None
        if conv and v_data.dim() != 4:
            raise ValueError(
                f"a convolutional RBM needs v_data of shape (B, C, H, W), got {tuple(v_data.shape)}"
            )
        if not conv and v_data.dim() < 2:
            raise ValueError(
                f"a dense RBM needs v_data of shape (B, n_visible), got {tuple(v_data.shape)}"
            )
        if v_data.shape[0] < 1:
            raise ValueError("v_data is an empty batch")
        return v_data.to(device=self._device, dtype=model_dtype(model))


def _device_key(device: torch.device) -> tuple[str, int]:
    index = device.index
    if device.type == "cuda" and index is None:
        index = torch.cuda.current_device() if torch.cuda.is_available() else 0
    return device.type, 0 if index is None else index
